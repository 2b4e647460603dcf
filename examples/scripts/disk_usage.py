#!/usr/bin/env python3
"""List the biggest entries directly under a folder, like `du -x -d1 | sort`.

Sizes are disk usage (allocated blocks), counted once per hard-linked file,
without following symbolic links or crossing into other filesystems (so
/proc and other mounts under / are skipped).  Folders that cannot be read
are counted as far as possible and reported at the end.
"""
import argparse
import os
import stat
import sys


class Walker:
    def __init__(self, dev: int):
        self.dev = dev
        self.seen = set()
        self.errors = 0
        self.first_error = None

    def usage(self, path: str, st: os.stat_result) -> int:
        """Disk usage of path (already lstat'ed as st), recursively."""
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in self.seen:
                return 0
            self.seen.add(key)
        total = st.st_blocks * 512
        if not stat.S_ISDIR(st.st_mode) or st.st_dev != self.dev:
            return total
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except OSError as e:
            self.note(e)
            return total
        for entry in entries:
            try:
                est = entry.stat(follow_symlinks=False)
            except OSError as e:
                self.note(e)
                continue
            if est.st_dev != self.dev:
                continue
            total += self.usage(entry.path, est)
        return total

    def note(self, e: OSError) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = str(e)


def human(n: float) -> str:
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}T"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--path", default="/")
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()
    if args.top < 1:
        ap.error("--top must be at least 1")

    try:
        root_st = os.lstat(args.path)
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not stat.S_ISDIR(root_st.st_mode):
        print(f"error: {args.path} is not a folder", file=sys.stderr)
        return 2

    w = Walker(root_st.st_dev)
    sizes = []
    try:
        with os.scandir(args.path) as it:
            entries = list(it)
    except OSError as e:
        print(f"error: cannot list {args.path}: {e}", file=sys.stderr)
        return 2
    print(f"Measuring {len(entries)} entries under {args.path} ...",
          flush=True)
    for entry in entries:
        try:
            est = entry.stat(follow_symlinks=False)
        except OSError as e:
            w.note(e)
            continue
        if est.st_dev != w.dev:
            continue  # another filesystem (e.g. /proc)
        suffix = "/" if stat.S_ISDIR(est.st_mode) else ""
        sizes.append((w.usage(entry.path, est), entry.name + suffix))

    sizes.sort(key=lambda s: (-s[0], s[1]))
    total = sum(s[0] for s in sizes) + root_st.st_blocks * 512
    print(f"Top {min(args.top, len(sizes))} of {len(sizes)} entries in "
          f"{args.path} (total {human(total)}):")
    for size, name in sizes[:args.top]:
        share = 100.0 * size / total if total else 0.0
        print(f"{human(size):>9}  {share:5.1f}%  {name}")
    if w.errors:
        print(f"note: {w.errors} item(s) could not be read "
              f"(first: {w.first_error})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
