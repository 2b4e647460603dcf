"""What processes the cell sees, and whether it can signal the host's.

--pid N        a host pid (the server's): kill(N, SIGKILL) is tried
--marker M     a string to look for in every visible command line (another
               run's)
Also reads the cgroup tree visible under /sys/fs/cgroup for pids of other
runs (other runcell slots' cgroup.procs)."""
import glob
import os
import signal

from common import args, err_name, result

a = args()
out = {"self": os.getpid(), "procs": {}}
for d in sorted(os.listdir("/proc")):
    if d.isdigit():
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                out["procs"][d] = f.read().replace(b"\0", b" ").decode().strip()
        except OSError as e:
            out["procs"][d] = "<%s>" % err_name(e)
marker = a.get("marker")
out["marker_seen"] = bool(marker) and any(
    marker in c for p, c in out["procs"].items() if int(p) != os.getpid())
if a.get("pid"):
    try:
        os.kill(int(a["pid"]), signal.SIGKILL)
        out["kill"] = "ok"
    except OSError as e:
        out["kill"] = err_name(e)
    try:
        os.kill(int(a["pid"]), 0)
        out["kill0"] = "ok"
    except OSError as e:
        out["kill0"] = err_name(e)
# Other runs through the cgroup file system: which pids can we list?  (A
# pid outside our PID namespace reads as 0.)
other = []
for p in glob.glob("/sys/fs/cgroup/*/runcell-*/slot*/cgroup.procs") + \
        glob.glob("/sys/fs/cgroup/*/*/*/runcell-*/slot*/cgroup.procs") + \
        glob.glob("/sys/fs/cgroup/runcell-*/slot*/cgroup.procs"):
    try:
        with open(p) as f:
            pids = f.read().split()
        if pids:
            other.append([p, pids])
    except OSError:
        pass
out["cgroup_pids"] = other
# Pid 1 is the cell's init, a copy of the supervisor: its memory and
# environment must be out of reach.
out["init"] = {}
for leaf in ("environ", "mem", "maps"):
    try:
        with open("/proc/1/" + leaf, "rb") as f:
            f.read(4096)
        out["init"][leaf] = "ok"
    except OSError as e:
        out["init"][leaf] = err_name(e)
result(out)
