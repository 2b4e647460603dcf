#!/bin/sh
# --seconds N [--pidfile F] [--ignore_term]: print a tick every 0.1 s for N
# seconds.  With --pidfile, first start a double-forked background sleeper
# (which outlives this script unless the run's whole tree is killed) and
# write its pid to F.
secs=1 pidfile="" ignore=""
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) secs="$2"; shift 2 ;;
	--pidfile) pidfile="$2"; shift 2 ;;
	--ignore_term) ignore=1; shift ;;
	*) shift ;;
	esac
done
[ -n "$ignore" ] && trap '' TERM
if [ -n "$pidfile" ]; then
	( sleep 1000 >/dev/null 2>&1 & echo $! > "$pidfile" ) &
	wait
fi
echo "started"
i=0
n=$((secs * 10))
while [ $i -lt $n ]; do
	echo "tick $i"
	sleep 0.1
	i=$((i + 1))
done
echo "done"
