"""Fill /tmp (and /dev/shm) until the file system refuses, and write past
the file-size limit in the work folder (a sparse write: no disk is used).

--mb N   stop after N megabytes per file system (a limit that does not
         hold shows up as "ok")."""
import os
import resource

from common import args, err_name, result

a = args()
cap = int(a.get("mb", 200))
out = {"fsize_limit": resource.getrlimit(resource.RLIMIT_FSIZE)[0]}
chunk = b"\xa5" * (1 << 20)
for d in ("/tmp", "/dev/shm"):
    p = os.path.join(d, "fill")
    n = 0
    try:
        with open(p, "wb", buffering=0) as f:
            for _ in range(cap):
                f.write(chunk)
                n += 1
        out[d] = {"mb": n, "result": "ok"}
    except OSError as e:
        out[d] = {"mb": n, "result": err_name(e)}
    try:
        os.unlink(p)
    except OSError:
        pass
# Past RLIMIT_FSIZE: Python ignores SIGXFSZ, so the write fails with EFBIG.
lim = out["fsize_limit"]
try:
    fd = os.open("big", os.O_WRONLY | os.O_CREAT, 0o644)
    os.lseek(fd, (lim if lim > 0 else 1 << 40) - 1, os.SEEK_SET)
    os.write(fd, b"ab")
    os.write(fd, b"cd")
    out["past_fsize"] = "ok"
except OSError as e:
    out["past_fsize"] = err_name(e)
try:
    os.unlink("big")
except OSError:
    pass
result(out)
