#!/bin/sh
# Install the Debian packages runcell needs, if missing.
#   deps.sh        what building and running the service needs (make run)
#   deps.sh test   also what the test suites need (make test)
set -e
PKGS="build-essential pkg-config libmicrohttpd-dev libjansson-dev libyaml-dev
libsqlite3-dev libcmocka-dev libseccomp-dev libsodium-dev libcurl4-openssl-dev
libpq-dev python3"
if [ "${1:-}" = test ]; then
	# PostgreSQL for the store suite, Chromium for the browser tests,
	# curl for the CLI checks.  (Slurm's packages are installed by
	# tests/slurm/up.sh, wrk by loadtest/run.sh.)
	PKGS="$PKGS postgresql curl chromium"
	# The hardening suite (docs/hardening.md): clang with its sanitizer
	# and libFuzzer runtimes, and the static analysers.
	PKGS="$PKGS clang libclang-rt-14-dev clang-tidy clang-format cppcheck"
	# Node.js and npm drive the browser tests (tests/browser); take
	# Debian's only where the machine has none.
	command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
	command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
fi
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing$missing"
	if [ "$(id -u)" != 0 ]; then
		echo "deps: run as root (or install:$missing)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq $missing >/dev/null
fi
[ "${1:-}" = test ] || exit 0
# playwright-core for the browser tests, at the version package-lock.json
# pins (it drives Debian's /usr/bin/chromium; it downloads no browser).
cd "$(dirname "$0")/../tests/browser"
if [ ! -f node_modules/playwright-core/package.json ]; then
	echo "deps: npm ci (tests/browser)"
	npm ci --no-audit --no-fund >/dev/null
fi
