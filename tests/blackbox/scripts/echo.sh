#!/bin/sh
# Prints each argument on its own line between brackets, then the
# environment (sorted), so tests can see exactly what the run received.
for a in "$@"; do
	printf '[%s]\n' "$a"
done
echo "--- env"
env | sort
echo "--- cwd $(pwd)"
