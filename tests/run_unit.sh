#!/bin/sh
# Run the given cmocka unit-test binaries and print the total.
. "$(dirname "$0")/lib.sh"
for t in "$@"; do
	run_suite "unit $(basename "$t")" "$t"
done
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" = 0 ]
