#!/bin/sh
# --delay S --lines N: wait S seconds, then print N numbered lines of 25
# bytes as fast as possible (followers can connect before the burst).
d=0.5 n=1000
while [ $# -gt 0 ]; do
	case "$1" in
	--delay) d="$2"; shift 2 ;;
	--lines) n="$2"; shift 2 ;;
	*) shift ;;
	esac
done
sleep "$d"
seq -f "line %08g of output" 1 "$n"
