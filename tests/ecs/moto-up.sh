#!/bin/sh
# moto-up.sh - start moto_server (the AWS emulator) on a free loopback port
# for the ecs executor tests, set it up (IAM user with an allow-all policy
# and an access key, cluster, VPC, subnet, security group, task definitions,
# log group), then switch request-signature checking on.
#
# Usage: tests/ecs/moto-up.sh [DIR]     (DIR defaults to build/ecs-moto)
#
# Prints the port on standard output.  Writes DIR/moto.pid, DIR/moto.log and
# DIR/env: shell assignments for the test (RUNCELL_MOTO_URL, the access key
# in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, and RUNCELL_ECS_* resource
# ids).  Load it with:  set -a; . DIR/env; set +a
# Stop with tests/ecs/moto-down.sh DIR.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-build/ecs-moto}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

moto=${MOTO_SERVER:-}
if [ -z "$moto" ]; then
	if command -v moto_server >/dev/null 2>&1; then
		moto=$(command -v moto_server)
	elif [ -x /root/.pyenv/shims/moto_server ]; then
		moto=/root/.pyenv/shims/moto_server
	else
		echo "moto-up.sh: moto_server not found (pip package moto[server])" >&2
		exit 1
	fi
fi

# The Python that has moto also has boto3 (a dependency of moto).
py=
for cand in "$(dirname "$(readlink -f "$moto")")/python3" \
	/root/.pyenv/versions/3.11.7/bin/python3 python3.11 python3; do
	if "$cand" -c 'import boto3, moto' >/dev/null 2>&1; then
		py=$cand
		break
	fi
done
if [ -z "$py" ]; then
	echo "moto-up.sh: no Python with boto3 and moto found" >&2
	exit 1
fi

if [ -f "$dir/moto.pid" ] && kill -0 "$(cat "$dir/moto.pid")" 2>/dev/null; then
	echo "moto-up.sh: already running (pid $(cat "$dir/moto.pid")); run moto-down.sh $dir first" >&2
	exit 1
fi

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$moto" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
echo $! >"$dir/moto.pid"

i=0
until "$py" -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/data.json', timeout=1)" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$(cat "$dir/moto.pid")" 2>/dev/null; then
		echo "moto-up.sh: moto_server did not come up on port $port; see $dir/moto.log" >&2
		exit 1
	fi
	sleep 0.2
done

"$py" "$here/moto_setup.py" "http://127.0.0.1:$port" >"$dir/env"
echo "$port"
