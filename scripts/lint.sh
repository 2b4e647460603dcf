#!/bin/sh
# Static analysis of the given C files: cppcheck (suppressions, each with
# its reason, in .cppcheck-suppressions) and clang-tidy (.clang-tidy).
# LINT_CFLAGS gives the include flags (make lint passes the Makefile's).
# Prints "cppcheck: clean" / "clang-tidy: clean" or the findings; exits
# non-zero on any finding.  LINT_ONLY=cppcheck|clang-tidy runs one.
cd "$(dirname "$0")/.." || exit 1
[ $# -gt 0 ] || set -- src/*.c src/exec/*.c src/store/*.c
incs=$(printf '%s\n' $LINT_CFLAGS | grep -E '^-(I|D)' | tr '\n' ' ')
jobs=$(nproc 2>/dev/null || echo 2)
rc=0

if [ "${LINT_ONLY:-cppcheck}" = cppcheck ] || [ -z "$LINT_ONLY" ]; then
	out=$(cppcheck --quiet --std=c11 --language=c -D_GNU_SOURCE -Isrc \
		--enable=warning,style,performance,portability \
		--suppressions-list=.cppcheck-suppressions --inline-suppr \
		--error-exitcode=3 -j "$jobs" \
		--template='{file}:{line}: {severity} [{id}] {message}' \
		"$@" 2>&1)
	r=$?
	if [ $r != 0 ] || [ -n "$out" ]; then
		printf '%s\n' "$out"
		echo "cppcheck: findings (fix them, or suppress a false positive"
		echo "  in .cppcheck-suppressions with its reason)"
		rc=1
	else
		echo "cppcheck: clean ($# files)"
	fi
fi

if [ "${LINT_ONLY:-clang-tidy}" = clang-tidy ] || [ -z "$LINT_ONLY" ]; then
	tmp=$(mktemp -d)
	# One file per process, $jobs at a time; each writes its own report.
	printf '%s\n' "$@" | xargs -P "$jobs" -I{} sh -c \
		'clang-tidy --quiet "$1" -- -std=c11 $2 >"$3/$(echo "$1" |
		 tr / _).log" 2>&1 || echo "$1" >>"$3/failed"' _ {} \
		"-D_GNU_SOURCE -Isrc $incs" "$tmp"
	if [ -s "$tmp/failed" ]; then
		for f in $(cat "$tmp/failed"); do
			grep -v '^[0-9]* warnings\? generated' \
				"$tmp/$(echo "$f" | tr / _).log"
		done
		echo "clang-tidy: findings in $(wc -l <"$tmp/failed") files"
		rc=1
	else
		echo "clang-tidy: clean ($# files)"
	fi
	rm -rf "$tmp"
fi
exit $rc
