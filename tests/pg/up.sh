#!/bin/sh
# up.sh - bring up a real PostgreSQL 15 server for runcell's tests.
#
# Debian's postgresql-15 (installed by scripts/deps.sh) is initialised into a
# test folder (default /tmp/runcell-pg, or $RUNCELL_PG_DIR) as the postgres
# user, listening only on 127.0.0.1 at a free port and on a unix socket in
# that folder, and started with pg_ctl -w.  A role "runcell" (password
# "runcell", not a superuser) owns a database "runcell".  Idempotent: when
# the server is already up it only prints the line below.  The last line
# printed is the store URL:
#
#	postgres://runcell:runcell@127.0.0.1:PORT/runcell
#
#	up.sh --fresh     also drop and re-create the database (an empty store)
#	up.sh --restart   pg_ctl restart (what the reconnect test does)
#
# Stop it with down.sh.  Needs root (it runs the server as postgres).
set -eu

DIR=${RUNCELL_PG_DIR:-/tmp/runcell-pg}
BIN=${RUNCELL_PG_BIN:-/usr/lib/postgresql/15/bin}
DATA=$DIR/data
SOCK=$DIR/sock
ROLE=runcell
DB=runcell

say() { echo "pg up: $*" >&2; }
die() { say "$*"; exit 1; }

as_pg() { runuser -u postgres -- "$@"; }
pg_ctl_() { as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" "$@" >&2; }
psql_() { as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$(cat "$DIR/port")" -d postgres "$@" >&2; }
running() { [ -f "$DATA/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }
url() { echo "postgres://$ROLE:$ROLE@127.0.0.1:$(cat "$DIR/port")/$DB"; }

[ "$(id -u)" = 0 ] || die "must run as root (runs the server as the postgres user)"
[ -x "$BIN/postgres" ] || die "no PostgreSQL 15 at $BIN; install postgresql-15 (scripts/deps.sh)"

fresh=no
case "${1:-}" in
--fresh) fresh=yes ;;
--restart)
	running || die "not running; start it with up.sh"
	pg_ctl_ restart -w -m fast -t 30
	url
	exit 0
	;;
'') ;;
*) die "usage: up.sh [--fresh | --restart]" ;;
esac

if ! running; then
	if [ ! -f "$DATA/PG_VERSION" ]; then
		say "initdb into $DATA"
		rm -rf "$DIR"
		mkdir -p "$DATA" "$SOCK"
		chown -R postgres:postgres "$DIR"
		chmod 0700 "$DIR"
		pw=$DIR/initdb.pw
		echo postgres >"$pw"
		chown postgres "$pw"
		as_pg "$BIN/initdb" -D "$DATA" -U postgres --pwfile="$pw" \
			--auth-local=peer --auth-host=scram-sha-256 \
			-E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 ||
			{ cat "$DIR/initdb.log" >&2; die "initdb failed"; }
		rm -f "$pw"
	fi
	# A free port on 127.0.0.1, kept across restarts of the same folder.
	if [ ! -s "$DIR/port" ]; then
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$DIR/port"
	fi
	port=$(cat "$DIR/port")
	say "starting on 127.0.0.1:$port and $SOCK"
	pg_ctl_ start -w -t 30 -o "-c listen_addresses=127.0.0.1 -p $port -k $SOCK -c fsync=off -c max_connections=100" ||
		{ tail -n 20 "$DIR/server.log" >&2; die "server did not start (see $DIR/server.log)"; }
fi

# The role and database (once; --fresh re-creates the database).
if [ "$fresh" = yes ]; then
	psql_ -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
fi
exists=$(as_pg "$BIN/psql" -X -tA -h "$SOCK" -p "$(cat "$DIR/port")" -d postgres \
	-c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")
[ "$exists" = 1 ] || psql_ -c "CREATE ROLE $ROLE LOGIN PASSWORD '$ROLE'"
exists=$(as_pg "$BIN/psql" -X -tA -h "$SOCK" -p "$(cat "$DIR/port")" -d postgres \
	-c "SELECT 1 FROM pg_database WHERE datname = '$DB'")
[ "$exists" = 1 ] || psql_ -c "CREATE DATABASE $DB OWNER $ROLE"
url
