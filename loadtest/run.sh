#!/bin/sh
# The load and fault test: `make loadtest` (which builds build/runcell
# first).  Installs wrk (Debian package) if it is missing, then runs
# loadtest/loadtest.py, which prints the table, writes it to
# build/loadtest-results.md, and exits non-zero if any check fails.
# Needs root (tmpfs mount for the disk-full round).  Knobs: see the top of
# loadtest/loadtest.py (LOADTEST_* environment variables).
set -eu
cd "$(dirname "$0")/.."
[ -x build/runcell ] || { echo "loadtest: build/runcell is missing: run make" >&2; exit 1; }
if ! command -v wrk >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ]; then
		echo "loadtest: wrk is missing (apt-get install wrk, as root)" >&2
		exit 1
	fi
	echo "loadtest: installing wrk"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq wrk >/dev/null
fi
exec python3 loadtest/loadtest.py "$@"
