#!/bin/sh
# moto-down.sh - stop the moto_server started by moto-up.sh.
# Usage: tests/ecs/moto-down.sh [DIR]     (DIR defaults to build/ecs-moto)
set -eu
dir=${1:-build/ecs-moto}
[ -f "$dir/moto.pid" ] || exit 0
pid=$(cat "$dir/moto.pid")
if kill "$pid" 2>/dev/null; then
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$pid" 2>/dev/null || true
fi
rm -f "$dir/moto.pid"
