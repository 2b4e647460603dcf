#!/bin/sh
# down.sh - stop the test PostgreSQL server that up.sh started (pg_ctl stop
# -m fast).  "down.sh --clean" also removes its folder.  Safe to run when
# nothing is up.
set -u

DIR=${RUNCELL_PG_DIR:-/tmp/runcell-pg}
BIN=${RUNCELL_PG_BIN:-/usr/lib/postgresql/15/bin}
DATA=$DIR/data

if [ -f "$DATA/postmaster.pid" ]; then
	runuser -u postgres -- "$BIN/pg_ctl" -D "$DATA" stop -w -m fast -t 30 >&2 ||
		echo "pg down: pg_ctl stop failed" >&2
fi
if [ "${1:-}" = "--clean" ]; then
	rm -rf "$DIR"
fi
echo "pg down: stopped" >&2
