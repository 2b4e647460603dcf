#!/bin/sh
# Run libFuzzer targets: fuzz/run.sh SECONDS TARGET...  (make fuzz, and
# tests/suites/hardening.sh with a short time).
#
# For each target (build-fuzz/TARGET): first replay every input kept in
# fuzz/regress/<name>/ (each was a crash once, now fixed), then fuzz for
# SECONDS from the checked-in seeds in fuzz/corpus/<name>/.  New inputs go
# to build-fuzz/corpus/<name>/ (never into the checked-in seeds); a crash
# is written to build-fuzz/artifacts/<name>/: minimize it, fix the bug and
# copy it to fuzz/regress/<name>/.
#
# Prints one line per replay and per run and ends with "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
secs=${1:-60}
shift
passed=0
failed=0
for t in "$@"; do
	name=${t#fuzz_}
	bin=build-fuzz/$t
	log=build-fuzz/$t.log
	mkdir -p "build-fuzz/corpus/$name" "build-fuzz/artifacts/$name"
	if [ ! -x "$bin" ]; then
		echo "FAIL $t: $bin is missing (make fuzz-build)"
		failed=$((failed + 1))
		continue
	fi
	set -- fuzz/regress/"$name"/*
	if [ -e "$1" ]; then
		if "$bin" -runs=1 "$@" >"$log" 2>&1; then
			echo "ok   $t: $# regression inputs replayed"
			passed=$((passed + 1))
		else
			tail -40 "$log"
			echo "FAIL $t: a regression input crashes again"
			failed=$((failed + 1))
		fi
	fi
	if "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 \
		-print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$name/" \
		"build-fuzz/corpus/$name" "fuzz/corpus/$name" >"$log" 2>&1; then
		n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		c=$(sed -n 's/.*DONE *cov: \([0-9]*\).*/\1/p' "$log" | tail -1)
		echo "ok   $t: ${n:-?} executions in ${secs}s, no crash (coverage ${c:-?})"
		passed=$((passed + 1))
	else
		grep -v '^#[0-9]' "$log" | tail -60
		echo "FAIL $t: crash; input in build-fuzz/artifacts/$name/"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
