#!/bin/sh
# Every test suite runcell has, in order; ends with one line
# "N passed, N failed" for all of them and exits non-zero on any failure.
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh

for t in build/test_*; do
	[ -x "$t" ] || continue
	case "$t" in
	*test_slurm|*test_ecs) continue ;; # need their engines: below
	esac
	run_suite "unit $(basename "$t")" "$t"
done

run_suite "blackbox api (process)" python3 tests/blackbox/test_api.py process
run_suite "blackbox api (sandbox)" python3 tests/blackbox/test_api.py sandbox
run_suite "blackbox lifecycle (process)" python3 tests/blackbox/test_lifecycle.py process
run_suite "blackbox lifecycle (sandbox)" python3 tests/blackbox/test_lifecycle.py sandbox
run_suite "blackbox schedules, webhooks, notifications" python3 tests/blackbox/test_schedule.py
run_suite "blackbox live output, secrets, sign-in" python3 tests/blackbox/test_sse.py process
run_suite "browser ui (headless chromium)" node tests/browser/ui.test.mjs

run_suite "blackbox runs (process)" python3 tests/blackbox/test_runs.py process
run_suite "blackbox runs (sandbox)" python3 tests/blackbox/test_runs.py sandbox
run_suite "isolation (sandbox)" python3 tests/isolation/test_escape.py
run_suite "slurm (real single-node cluster)" sh tests/slurm/run.sh build/test_slurm
run_suite "blackbox runs (slurm)" sh tests/slurm/run.sh python3 tests/blackbox/test_runs.py slurm
run_suite "ecs (moto + recorded answers)" sh tests/ecs/run.sh build/test_ecs
run_suite "store (real postgresql 15)" sh tests/pg/run.sh build/test_store
run_suite "blackbox api (process, postgresql store)" sh tests/pg/run.sh --store python3 tests/blackbox/test_api.py process

for s in tests/suites/*.sh; do
	[ -f "$s" ] || continue
	run_suite "$(basename "$s" .sh)" sh "$s"
done

[ -n "$FAILED_SUITES" ] && echo "failed suites:$FAILED_SUITES"
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" = 0 ]
