"""Start a grandchild that outlives its parent (the classic daemon double
fork: fork, setsid, fork, parent exits), report its pid, stay a little so
the host can see it, then exit without waiting for it.

--seconds S   how long we stay (the grandchild sleeps 600 s)"""
import os
import time

from common import args, result

stay = float(args().get("seconds", 1.5))
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, b"%d\n" % os.getpid())
        os.close(w)
        for fd in (0, 1, 2):
            os.close(fd)
        os.execv("/bin/sleep", ["sleep", "600"])
    os._exit(0)
os.close(w)
gc = int(os.read(r, 64).decode())
os.wait()
result({"grandchild": gc, "parent_gone": True})
time.sleep(stay)
print("leaving the grandchild behind", flush=True)
