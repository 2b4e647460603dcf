#!/bin/sh
# `make run`: start the server with the example configuration.  The data
# (SQLite database, logs) lives under ./var.  The first start prints an
# admin token; later starts reuse the store (create more tokens with
# `build/runcell token create --config examples/runcell.yaml ...`).
#
# Cells run as an unprivileged user (uid 64000 unless server.run_user says
# otherwise), so a script can change only what that user may change.  For
# the file-organizer demo we prepare /srv/runcell-demo with a few files,
# owned by that user.
cd "$(dirname "$0")/.." || exit 1
mkdir -p var
demo=/srv/runcell-demo
if [ "$(id -u)" = 0 ] && [ ! -e "$demo" ]; then
	mkdir -p "$demo"
	for f in report.pdf notes.txt photo.jpg data.csv script.py; do
		echo "demo file $f" >"$demo/$f"
	done
	chown -R 64000:64000 "$demo"
	echo "runcell: demo folder $demo ready (try: runcell run file-organizer --source_folder $demo)"
fi
exec build/runcell serve --config examples/runcell.yaml "$@"
