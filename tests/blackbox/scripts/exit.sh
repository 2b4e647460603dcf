#!/bin/sh
# --code N: print a line and exit with status N.
code=0
while [ $# -gt 0 ]; do
	case "$1" in
	--code) code="$2"; shift 2 ;;
	*) shift ;;
	esac
done
echo "exiting with $code"
exit "$code"
