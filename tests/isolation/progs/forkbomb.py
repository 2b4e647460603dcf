"""A fork bomb that keeps what it gets: every process forks for ever, and
when the kernel refuses, waits a moment and tries again.  Only the cell's
pids limit (and then its timeout) can stop it."""
import os
import time

print("fork bomb starting", flush=True)
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.05)
