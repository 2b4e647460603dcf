#!/bin/sh
# --lines N [--code C]: print "line I of N" every 0.1 s, then "done", then
# exit with C.  Used by the restart test: the log must hold every line once,
# in order.
n=50 code=0
while [ $# -gt 0 ]; do
	case "$1" in
	--lines) n="$2"; shift 2 ;;
	--code) code="$2"; shift 2 ;;
	*) shift ;;
	esac
done
i=1
while [ "$i" -le "$n" ]; do
	echo "line $i of $n"
	sleep 0.1
	i=$((i + 1))
done
echo "done"
exit "$code"
