#!/bin/sh
# The launch benchmark: `make bench` (which builds build/runcell first).
# Builds the trivial program (static) and the timing driver, then runs
# bench/bench.py, which prints the table and writes bench/RESULTS.md.
# Knobs: see the top of bench/bench.py (BENCH_* environment variables).
set -eu
cd "$(dirname "$0")/.."
CC=${CC:-cc}
mkdir -p build/bench
# The program must be readable inside a cell: cells see the host root
# read-only but not /tmp, so it lives under the repository.
$CC -O2 -static -o build/bench/stamp bench/stamp.c
$CC -O2 -std=c11 -Wall -Wextra -o build/bench/launch bench/launch.c -lpthread
[ -x build/runcell ] || { echo "bench: build/runcell is missing: run make" >&2; exit 1; }
command -v bwrap >/dev/null 2>&1 || echo "bench: bwrap not installed (apt-get install bubblewrap): its baseline is skipped" >&2
command -v crun >/dev/null 2>&1 || echo "bench: crun not installed (apt-get install crun): its baseline is skipped" >&2
# bench.py cleans up its servers and runs on exit, SIGINT, SIGTERM and SIGHUP.
exec python3 bench/bench.py "$@"
