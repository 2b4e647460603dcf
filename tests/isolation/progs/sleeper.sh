#!/bin/sh
# --seconds N --marker M: sleep with a recognisable command line, so that
# another run can look for it.
secs=5 marker=none
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) secs="$2"; shift 2 ;;
	--marker) marker="$2"; shift 2 ;;
	*) shift ;;
	esac
done
echo "sleeping as $marker"
i=0
while [ "$i" -lt "$secs" ]; do
	sleep 1
	i=$((i + 1))
done
