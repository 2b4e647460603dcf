#!/bin/sh
# --bytes N: write N bytes of output as fast as possible.
n=1000000
while [ $# -gt 0 ]; do
	case "$1" in
	--bytes) n="$2"; shift 2 ;;
	*) shift ;;
	esac
done
head -c "$n" /dev/zero | tr '\0' 'x'
echo
echo "flood done"
