#!/bin/sh
# down.sh - stop the test cluster that up.sh started: cancel its jobs, stop
# slurmd and slurmctld by their pid files (SIGTERM, then SIGKILL after 10 s)
# and munged if up.sh started it.  "down.sh --clean" also removes the test
# folder.  Safe to run when nothing is up.
set -u

DIR=${RUNCELL_SLURM_DIR:-/tmp/runcell-slurm}
CONF=$DIR/slurm.conf

stop_pid() {
	f=$1
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	rm -f "$f"
	case "$pid" in '' | *[!0-9]*) return 0 ;; esac
	kill -0 "$pid" 2>/dev/null || return 0
	kill "$pid" 2>/dev/null
	i=0
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			kill -KILL "$pid" 2>/dev/null
			break
		fi
		sleep 0.1
	done
}

if [ -f "$DIR/slurmctld.pid" ] && [ -f "$CONF" ] &&
	kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
	SLURM_CONF=$CONF scancel --user="$(id -un)" >/dev/null 2>&1 || true
fi
stop_pid "$DIR/slurmd.pid"
stop_pid "$DIR/slurmctld.pid"
stop_pid "$DIR/munged.pid"
if [ "${1:-}" = "--clean" ]; then
	rm -rf "$DIR"
fi
echo "slurm down: stopped" >&2
