#!/bin/sh
# Hardening suite (run by tests/run_all.sh; docs/hardening.md):
#  (a) the service and unit tests built with ASan+LSan+UBSan (make asan);
#      every unit test, and the black-box API suite against
#      build-asan/runcell, must pass with no sanitizer report from any
#      process (the server, its launcher and supervisors, the CLI);
#  (b) each libFuzzer target replays its regression inputs and fuzzes for
#      HARDEN_FUZZ_TIME seconds (default 30);
#  (c) cppcheck and clang-tidy are clean on src/.
# Each check counts as one test; ends with "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
passed=0
failed=0
fuzz_time=${HARDEN_FUZZ_TIME:-30}
logs=$(mktemp -d /tmp/runcell-hardening-XXXXXX)

pass() {
	echo "ok   $1"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL $1"
	failed=$((failed + 1))
}

# Reports land in $dir/san.PID, one file per process, whatever that
# process did with its stderr.  A warning such as ASan's note about a
# clone()d stack is not a report; errors, leaks and UB are.
san_env() {
	dir=$1
	mkdir -p "$dir"
	ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$dir/san"
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$dir/san"
	LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
	export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
}

san_reports() {
	grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: ' \
		"$1"/san.* 2>/dev/null
}

# run_san NAME COMMAND...: one check under the sanitizers.
run_san() {
	name=$1
	shift
	dir=$logs/$(echo "$name" | tr -c 'a-zA-Z0-9_\n' _)
	(san_env "$dir" && "$@") >"$dir.out" 2>&1
	rc=$?
	reports=$(san_reports "$dir")
	if [ "$rc" = 0 ] && [ -z "$reports" ]; then
		pass "$name"
		return
	fi
	tail -30 "$dir.out"
	for r in $reports; do
		echo "--- $r"
		head -60 "$r"
	done
	fail "$name (exit $rc$([ -n "$reports" ] && echo ", sanitizer report"))"
}

# (a) sanitizers
start=$(date +%s)
if make --no-print-directory -j"$(nproc)" asan >"$logs/asan-build.out" 2>&1
then
	pass "asan build (clang, -fsanitize=address,undefined, -Werror)"
	for t in build-asan/test_*; do
		[ -x "$t" ] || continue
		case "$t" in
		*test_slurm|*test_ecs) continue ;; # need their engines
		esac
		run_san "asan $(basename "$t")" "$t"
	done
	run_san "asan blackbox api (process)" env \
		RUNCELL_BIN=build-asan/runcell \
		python3 tests/blackbox/test_api.py process
else
	tail -40 "$logs/asan-build.out"
	fail "asan build"
fi
echo "(sanitizers: $(($(date +%s) - start))s)"

# (b) fuzzing
start=$(date +%s)
if make --no-print-directory -j"$(nproc)" fuzz-build \
	>"$logs/fuzz-build.out" 2>&1; then
	pass "fuzz build (clang -fsanitize=fuzzer,address,undefined)"
	targets=$(ls fuzz/fuzz_*.c | sed 's|fuzz/\(.*\)\.c|\1|')
	./fuzz/run.sh "$fuzz_time" $targets >"$logs/fuzz.out" 2>&1
	grep -v '^[0-9]* passed, [0-9]* failed' "$logs/fuzz.out"
	passed=$((passed + $(grep -c '^ok ' "$logs/fuzz.out")))
	failed=$((failed + $(grep -c '^FAIL ' "$logs/fuzz.out")))
else
	tail -40 "$logs/fuzz-build.out"
	fail "fuzz build"
fi
echo "(fuzzing: $(($(date +%s) - start))s)"

# (c) static analysis
start=$(date +%s)
for tool in cppcheck clang-tidy; do
	if LINT_ONLY=$tool make --no-print-directory lint \
		>"$logs/$tool.out" 2>&1; then
		pass "$(tail -1 "$logs/$tool.out")"
	else
		tail -60 "$logs/$tool.out"
		fail "$tool"
	fi
done
if make --no-print-directory format-check >"$logs/format.out" 2>&1; then
	pass "$(tail -1 "$logs/format.out")"
else
	head -40 "$logs/format.out"
	fail "clang-format (run: clang-format -i on the files named)"
fi
echo "(static analysis: $(($(date +%s) - start))s)"

rm -rf "$logs"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
