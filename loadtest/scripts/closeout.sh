#!/bin/sh
# --mode M: close standard output early, then go on (fault round (c)).
#   stdout-then-run   print, close stdout, write to stderr, sleep, exit 0
#   both-then-run     print, close stdout and stderr, sleep 1 s, exit 0
#   both-then-fail    print, close stdout and stderr, exit 3 at once
mode=stdout-then-run
while [ $# -gt 0 ]; do
	case "$1" in
	--mode) mode="$2"; shift 2 ;;
	*) shift ;;
	esac
done
echo "before close ($mode)"
case "$mode" in
stdout-then-run)
	exec >&-
	echo "on stderr after closing stdout" >&2
	sleep 1
	echo "still on stderr" >&2
	exit 0 ;;
both-then-run)
	exec >&- 2>&-
	sleep 1
	exit 0 ;;
both-then-fail)
	exec >&- 2>&-
	exit 3 ;;
esac
