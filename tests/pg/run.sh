#!/bin/sh
# run.sh - a PostgreSQL suite in one step: bring the test server up (unless
# it already is) with an empty database, run COMMAND against it, and stop
# the server again if this script started it.  Exits with COMMAND's status.
#
#	sh tests/pg/run.sh [--store] COMMAND ARGS...
#
# COMMAND sees RUNCELL_TEST_PG_URL (the store URL), RUNCELL_TEST_PG_UP (this
# folder's up.sh, which the reconnect test calls with --restart) and, with
# --store, RUNCELL_TEST_STORE (which tests/blackbox/harness.py puts under
# server.store in the configurations it writes).
cd "$(dirname "$0")/../.." || exit 1
DIR=${RUNCELL_PG_DIR:-/tmp/runcell-pg}
store=no
if [ "${1:-}" = "--store" ]; then
	store=yes
	shift
fi
[ $# -gt 0 ] || { echo "usage: run.sh [--store] COMMAND ARGS..." >&2; exit 2; }

was_up=no
if [ -f "$DIR/data/postmaster.pid" ] &&
	runuser -u postgres -- "${RUNCELL_PG_BIN:-/usr/lib/postgresql/15/bin}/pg_ctl" \
		-D "$DIR/data" status >/dev/null 2>&1; then
	was_up=yes
fi
url=$(sh tests/pg/up.sh --fresh | tail -n 1) || {
	echo "postgresql suite: server did not come up" >&2
	exit 1
}
RUNCELL_TEST_PG_URL=$url
RUNCELL_TEST_PG_UP=tests/pg/up.sh
export RUNCELL_TEST_PG_URL RUNCELL_TEST_PG_UP RUNCELL_PG_DIR="$DIR"
if [ "$store" = yes ]; then
	RUNCELL_TEST_STORE=$url
	export RUNCELL_TEST_STORE
fi

"$@"
rc=$?
[ "$was_up" = yes ] || sh tests/pg/down.sh
exit $rc
