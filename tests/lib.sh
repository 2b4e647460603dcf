# Shared by the test runners: count results of one suite into the totals.
# A suite's output must end with "N passed, N failed" (our runners) or
# contain cmocka's "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)".
TOTAL_PASSED=${TOTAL_PASSED:-0}
TOTAL_FAILED=${TOTAL_FAILED:-0}
FAILED_SUITES=${FAILED_SUITES:-}

# run_suite NAME COMMAND...: run, show output, add up the counts.
run_suite() {
	name=$1
	shift
	out=$(mktemp)
	echo "=== $name"
	start=$(date +%s)
	"$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	p=$(sed -n 's/^\(.*: \)\{0,1\}\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*$/\2/p' "$out" | tail -1)
	f=$(sed -n 's/^\(.*: \)\{0,1\}\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*$/\3/p' "$out" | tail -1)
	if [ -z "$p" ]; then
		p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test.*/\1/p' "$out" | tail -1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test.*/\1/p' "$out" | tail -1)
	fi
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1 # crashed or failed without counting
	fi
	echo "=== $name: $p passed, $f failed ($(($(date +%s) - start))s)"
	TOTAL_PASSED=$((TOTAL_PASSED + p))
	TOTAL_FAILED=$((TOTAL_FAILED + f))
	[ "$f" != 0 ] && FAILED_SUITES="$FAILED_SUITES $name"
	rm -f "$out"
	return 0
}
