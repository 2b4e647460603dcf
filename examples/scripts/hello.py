#!/usr/bin/env python3
"""Print a greeting COUNT times, waiting DELAY seconds between them.

A small, predictable automation for demos and tests: its output arrives
line by line (flushed), so live log following can be watched.
"""
import argparse
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--name", default="world", help="who to greet")
    ap.add_argument("--count", type=int, default=3, help="how many greetings")
    ap.add_argument("--delay", type=float, default=0.5,
                    help="seconds between greetings")
    args = ap.parse_args()
    if args.count < 1 or args.delay < 0:
        ap.error("count must be at least 1 and delay not negative")

    for i in range(1, args.count + 1):
        print(f"Hello, {args.name}! ({i}/{args.count})", flush=True)
        if i < args.count and args.delay > 0:
            time.sleep(args.delay)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
