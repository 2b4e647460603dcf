#!/bin/sh
# run.sh - the Slurm suite in one step: bring the test cluster up (unless it
# already is), run build/test_slurm against it, and stop the cluster again
# if this script started it.  Exits with the test's status.
#
#	sh tests/slurm/run.sh [path/to/test_slurm | COMMAND ARGS...]
#
# RUNCELL_SLURM_SLOW=1 adds the 60-90 s test of Slurm's own time limit.
cd "$(dirname "$0")/../.." || exit 1
TEST=${1:-build/test_slurm}
[ $# -gt 0 ] && shift
DIR=${RUNCELL_SLURM_DIR:-/tmp/runcell-slurm}

was_up=no
if [ -f "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
	was_up=yes
fi
line=$(sh tests/slurm/up.sh | tail -n 1) || {
	echo "slurm suite: cluster did not come up" >&2
	exit 1
}
RUNCELL_SLURM_CONF=${line#RUNCELL_SLURM_CONF=}
SLURM_CONF=$RUNCELL_SLURM_CONF
RUNCELL_SLURM_UP=tests/slurm/up.sh
export RUNCELL_SLURM_CONF SLURM_CONF RUNCELL_SLURM_UP RUNCELL_SLURM_DIR="$DIR"

"$TEST" "$@"
rc=$?
[ "$was_up" = yes ] || sh tests/slurm/down.sh
exit $rc
