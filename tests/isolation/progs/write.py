"""--paths JSON: try to create a file in each folder; report "ok" or the
errno name per folder."""
import json
import os

from common import args, err_name, result

out = {}
for d in json.loads(args().get("paths", "[]")):
    p = os.path.join(d, "runcell-isolation-write-%d" % os.getpid())
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, b"written from a cell\n")
        os.close(fd)
        out[d] = "ok"
    except OSError as e:
        out[d] = err_name(e)
result(out)
