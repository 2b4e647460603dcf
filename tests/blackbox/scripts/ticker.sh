#!/bin/sh
# --count N --interval S: print the wall-clock time (seconds since the
# epoch, with nanoseconds) N times, S seconds apart, to measure how long
# output takes to reach a follower.
n=50 iv=0.02
while [ $# -gt 0 ]; do
	case "$1" in
	--count) n="$2"; shift 2 ;;
	--interval) iv="$2"; shift 2 ;;
	*) shift ;;
	esac
done
i=0
while [ $i -lt "$n" ]; do
	echo "t $(date +%s.%N)"
	sleep "$iv"
	i=$((i + 1))
done
