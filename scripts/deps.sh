#!/bin/sh
# Install the Debian packages runcell builds and tests with, if missing.
set -e
PKGS="build-essential pkg-config libmicrohttpd-dev libjansson-dev libyaml-dev
libsqlite3-dev libcmocka-dev libseccomp-dev libsodium-dev libcurl4-openssl-dev
python3 curl"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: run as root (or install:$missing)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $missing >/dev/null
