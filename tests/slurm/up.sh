#!/bin/sh
# up.sh - bring up a real single-node Slurm cluster for runcell's tests.
#
# Installs the Debian packages if they are missing, starts munged, writes
# slurm.conf and cgroup.conf into a test folder (default /tmp/runcell-slurm,
# or $RUNCELL_SLURM_DIR), starts slurmctld and slurmd in the foreground
# mode (-D) in the background with pid files, and waits until the node is
# idle.  Idempotent: when the cluster is already up it only prints the line
# below.  The last line printed is
#
#	RUNCELL_SLURM_CONF=/tmp/runcell-slurm/slurm.conf
#
# which callers export (as RUNCELL_SLURM_CONF, and SLURM_CONF for the Slurm
# client tools).  Stop everything with down.sh.  Needs root.
set -eu

DIR=${RUNCELL_SLURM_DIR:-/tmp/runcell-slurm}
CONF=$DIR/slurm.conf
HERE=$(cd "$(dirname "$0")" && pwd)
WAIT_S=${RUNCELL_SLURM_WAIT:-30}

say() { echo "slurm up: $*" >&2; }
die() { say "$*"; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_state() { SLURM_CONF=$CONF sinfo -h -N -o %T 2>/dev/null | head -n 1; }

# Already up?  Both daemons alive and the node not down.
if alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid"; then
	case "$(node_state)" in
	idle* | mix* | alloc* | comp*)
		say "already up ($CONF)"
		echo "RUNCELL_SLURM_CONF=$CONF"
		exit 0
		;;
	esac
fi

[ "$(id -u)" = 0 ] || die "must run as root (starts slurmd, munged)"

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 ||
	! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
	say "installing slurmctld slurmd slurm-client munge"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y slurmctld slurmd slurm-client munge >&2 ||
		{ apt-get update >&2 && apt-get install -y slurmctld slurmd slurm-client munge >&2; } ||
		die "apt-get install failed"
fi

# munge: the package creates /etc/munge/munge.key; munged daemonizes.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
	if [ ! -s /etc/munge/munge.key ]; then
		say "creating /etc/munge/munge.key"
		mungekey --create >&2 2>/dev/null ||
			dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
		chown munge:munge /etc/munge/munge.key
		chmod 0400 /etc/munge/munge.key
	fi
	mkdir -p /run/munge /var/log/munge /var/lib/munge
	chown munge:munge /run/munge /var/log/munge /var/lib/munge
	chmod 0755 /run/munge
	runuser -u munge -- /usr/sbin/munged >&2
	i=0
	until munge -n 2>/dev/null | unmunge >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 50 ] || die "munged did not come up (see /var/log/munge/munged.log)"
		sleep 0.1
	done
	mkdir -p "$DIR"
	cp /run/munge/munged.pid "$DIR/munged.pid" 2>/dev/null || true
fi

# Stop half-started leftovers before writing a new configuration.
for d in slurmd slurmctld; do
	if alive "$DIR/$d.pid"; then
		kill "$(cat "$DIR/$d.pid")" 2>/dev/null || true
		sleep 1
	fi
done

mkdir -p "$DIR/state" "$DIR/spool" "$DIR/jobs"
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ { m = int($2 / 1024) - 1024; if (m < 512) m = 512; print m }' /proc/meminfo)
if [ -d /sys/fs/cgroup/memory ]; then
	CGROUP_PLUGIN=cgroup/v1
else
	CGROUP_PLUGIN=cgroup/v2
fi
sed -e "s|@DIR@|$DIR|g" -e "s|@HOST@|$HOST|g" -e "s|@CPUS@|$CPUS|g" \
	-e "s|@MEM_MB@|$MEM_MB|g" \
	-e "s|@CTLD_PORT@|${RUNCELL_SLURM_CTLD_PORT:-6817}|g" \
	-e "s|@SLURMD_PORT@|${RUNCELL_SLURM_SLURMD_PORT:-6818}|g" \
	"$HERE/slurm.conf.in" >"$CONF"
sed -e "s|@CGROUP_PLUGIN@|$CGROUP_PLUGIN|g" "$HERE/cgroup.conf.in" >"$DIR/cgroup.conf"

# Both daemons in the foreground (-D) in the background of this script, in
# their own session so that the caller's signals do not reach them.
say "starting slurmctld and slurmd ($CONF)"
setsid slurmctld -D -i -f "$CONF" >>"$DIR/slurmctld.out" 2>&1 </dev/null &
echo $! >"$DIR/slurmctld.pid"
setsid slurmd -D -f "$CONF" >>"$DIR/slurmd.out" 2>&1 </dev/null &
echo $! >"$DIR/slurmd.pid"

i=0
while :; do
	st=$(node_state)
	case "$st" in
	idle* | mix* | alloc* | comp*) break ;; # jobs may be running after a restart
	esac
	i=$((i + 1))
	if [ $i -gt $((WAIT_S * 5)) ]; then
		say "node did not become ready within ${WAIT_S}s (state: ${st:-none})"
		tail -n 20 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2 2>/dev/null || true
		exit 1
	fi
	alive "$DIR/slurmctld.pid" || die "slurmctld exited; see $DIR/slurmctld.log and $DIR/slurmctld.out"
	alive "$DIR/slurmd.pid" || die "slurmd exited; see $DIR/slurmd.log and $DIR/slurmd.out"
	sleep 0.2
done
say "up: node $HOST $st after $((i / 5)).$((i % 5 * 2))s"
echo "RUNCELL_SLURM_CONF=$CONF"
