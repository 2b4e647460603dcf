#!/usr/bin/env python3
"""Sort the files at the top of a folder into subfolders.

  --organize_by extension   photo.JPG -> jpg/photo.JPG, README -> no_extension/
  --organize_by date        by month of last modification: 2024-05/
  --organize_by size        tiny (<10 KB), small (<1 MB), medium (<100 MB),
                            large
  --dry_run                 print the plan, move nothing

Only regular files directly inside the folder are moved; subfolders,
symbolic links and hidden files are left alone.  A file is never
overwritten: if the target name is taken, " (1)", " (2)", ... is added.
Exit status: 0 on success, 1 if some files could not be moved, 2 on bad
arguments.
"""
import argparse
import os
import sys
import time

SIZE_BUCKETS = [
    (10 * 1024, "tiny"),
    (1024 * 1024, "small"),
    (100 * 1024 * 1024, "medium"),
]


def group_of(entry: os.DirEntry, organize_by: str) -> str:
    if organize_by == "extension":
        ext = os.path.splitext(entry.name)[1].lower().lstrip(".")
        return ext if ext else "no_extension"
    st = entry.stat(follow_symlinks=False)
    if organize_by == "date":
        return time.strftime("%Y-%m", time.localtime(st.st_mtime))
    for limit, name in SIZE_BUCKETS:
        if st.st_size < limit:
            return name
    return "large"


def free_name(folder: str, name: str) -> str:
    """name, or "stem (n).ext" if name is already taken in folder."""
    if not os.path.lexists(os.path.join(folder, name)):
        return name
    stem, ext = os.path.splitext(name)
    n = 1
    while os.path.lexists(os.path.join(folder, f"{stem} ({n}){ext}")):
        n += 1
    return f"{stem} ({n}){ext}"


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--source_folder", required=True)
    ap.add_argument("--organize_by", choices=["extension", "date", "size"],
                    default="extension")
    ap.add_argument("--dry_run", action="store_true")
    args = ap.parse_args()

    src = args.source_folder
    if not os.path.isdir(src):
        print(f"error: {src} is not a folder", file=sys.stderr)
        return 2

    with os.scandir(src) as it:
        files = sorted((e for e in it
                        if e.is_file(follow_symlinks=False)
                        and not e.name.startswith(".")),
                       key=lambda e: e.name)

    verb = "would move" if args.dry_run else "moving"
    print(f"Organizing {len(files)} file(s) in {src} by {args.organize_by}"
          f"{' (dry run)' if args.dry_run else ''}", flush=True)
    moved, failed, total = 0, 0, 0
    groups = {}
    for entry in files:
        try:
            group = group_of(entry, args.organize_by)
            size = entry.stat(follow_symlinks=False).st_size
            dest_dir = os.path.join(src, group)
            if os.path.lexists(dest_dir) and not os.path.isdir(dest_dir):
                raise OSError(f"{dest_dir} exists and is not a folder")
            target = free_name(dest_dir, entry.name) \
                if os.path.isdir(dest_dir) else entry.name
            print(f"  {verb} {entry.name} -> {group}/{target}", flush=True)
            if not args.dry_run:
                os.makedirs(dest_dir, exist_ok=True)
                os.rename(entry.path, os.path.join(dest_dir, target))
            moved += 1
            total += size
            groups[group] = groups.get(group, 0) + 1
        except OSError as e:
            failed += 1
            print(f"  cannot move {entry.name}: {e}", file=sys.stderr,
                  flush=True)

    print(f"{'Would move' if args.dry_run else 'Moved'} {moved} file(s), "
          f"{human(total)}, into {len(groups)} folder(s)", flush=True)
    for group in sorted(groups):
        print(f"  {group}/: {groups[group]} file(s)")
    if failed:
        print(f"{failed} file(s) could not be moved", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
