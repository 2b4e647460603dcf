#!/bin/sh
# --lines N: print N numbered lines of 25 bytes as fast as possible.
n=1000
while [ $# -gt 0 ]; do
	case "$1" in
	--lines) n="$2"; shift 2 ;;
	*) shift ;;
	esac
done
seq -f "line %08g of output" 1 "$n"
