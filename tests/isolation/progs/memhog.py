"""--mb N: allocate and touch N megabytes, 1 MB at a time, reporting every
50 MB; the memory limit should kill us long before the end."""
import sys

mb = int(sys.argv[sys.argv.index("--mb") + 1]) if "--mb" in sys.argv else 500
chunks = []
for i in range(1, mb + 1):
    chunks.append(bytearray(b"\x01" * (1 << 20)))
    if i % 50 == 0:
        print("allocated %d MB" % i, flush=True)
print("allocated all %d MB: the memory limit did not hold" % mb, flush=True)
