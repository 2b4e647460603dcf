#!/bin/sh
# --ms N: print a line, sleep N milliseconds, print another; --code N: then
# exit with status N.
ms=50 code=0
while [ $# -gt 0 ]; do
	case "$1" in
	--ms) ms="$2"; shift 2 ;;
	--code) code="$2"; shift 2 ;;
	*) shift ;;
	esac
done
echo "nap $ms"
sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
echo "woke"
exit "$code"
