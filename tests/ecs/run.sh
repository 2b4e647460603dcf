#!/bin/sh
# run.sh - the ECS suite in one step: start moto_server (tests/ecs/moto-up.sh),
# run build/test_ecs against it and the recorded answers, stop moto again.
# Exits with the test's status.
#
#	sh tests/ecs/run.sh [path/to/test_ecs]
#
# Without moto_server on the machine the recorded-answer tests still run and
# the moto tests are skipped (reported as such).
cd "$(dirname "$0")/../.." || exit 1
TEST=${1:-build/test_ecs}
DIR=${RUNCELL_ECS_DIR:-build/ecs-moto}

up=no
if sh tests/ecs/moto-up.sh "$DIR" >/dev/null; then
	up=yes
	set -a
	. "$DIR/env"
	set +a
else
	echo "ecs suite: moto_server did not come up; the moto tests are skipped" >&2
fi
RUNCELL_ECS_RECORDED=tests/ecs/recorded "$TEST"
rc=$?
[ "$up" = yes ] && sh tests/ecs/moto-down.sh "$DIR"
exit $rc
