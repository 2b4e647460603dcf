#!/bin/sh
# `make run`: start the server with the example configuration.  The data
# (SQLite database, logs) lives under ./var.  The first start prints an
# admin token; later starts reuse the store (create more tokens with
# `build/runcell token create --config examples/runcell.yaml ...`).
cd "$(dirname "$0")/.." || exit 1
mkdir -p var
exec build/runcell serve --config examples/runcell.yaml "$@"
