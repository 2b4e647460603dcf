"""Setuid programs must not give root.

--paths JSON   setuid programs to start.  Each is started with its stderr
               and stdout on a pipe that is already full, so the program
               blocks on its first message; meanwhile its /proc status says
               which user it really runs as.
Also tries to make a setuid-root file: chown to root (must fail)."""
import fcntl
import json
import os
import shutil
import time

from common import args, err_name, result


def euid_of(path, argv=()):
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETFL, os.O_NONBLOCK)
    try:
        while True:
            os.write(w, b"x" * 4096)
    except BlockingIOError:
        pass
    fcntl.fcntl(w, fcntl.F_SETFL, 0)
    pid = os.fork()
    if pid == 0:
        os.dup2(w, 1)
        os.dup2(w, 2)
        nul = os.open("/dev/null", os.O_RDONLY)
        os.dup2(nul, 0)
        try:
            os.execv(path, [path] + list(argv))
        except OSError:
            os._exit(127)
    os.close(w)
    uids = None
    for _ in range(150):
        time.sleep(0.02)
        try:
            with open("/proc/%d/status" % pid) as f:
                st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        except OSError:
            break
        if "Uid" in st:
            uids = [int(x) for x in st["Uid"].split()]
        state = st.get("State", "").split()[0:1]
        # Blocked writing (S) after the exec (the name changed), or gone.
        if state and state[0] in ("S", "Z") and \
                st.get("Name", "").strip() != "python3":
            break
    os.close(r)
    _, ws = os.waitpid(pid, 0)
    return {"uids": uids, "status": ws}


a = args()
out = {"programs": {}}
for p in json.loads(a.get("paths", "[]")):
    out["programs"][p] = euid_of(p)
# A setuid-root file of our own: chown to root must fail.
try:
    shutil.copy("/bin/true", "mytrue")
    os.chmod("mytrue", 0o4755)
    os.chown("mytrue", 0, 0)
    out["chown_root"] = "ok"
except OSError as e:
    out["chown_root"] = err_name(e)
out["euid"] = os.geteuid()
result(out)
