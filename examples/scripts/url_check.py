#!/usr/bin/env python3
"""Fetch a URL and check its HTTP status.

Redirects are followed; the status that counts is the final one.  Prints
the status, the time taken and the final address.  Exit status: 0 if the
status is the expected one, 1 if it is not or the address cannot be
reached, 2 on bad arguments.
"""
import argparse
import socket
import sys
import time
import urllib.error
import urllib.request


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--timeout_seconds", type=int, default=10)
    ap.add_argument("--expect_status", type=int, default=200)
    args = ap.parse_args()
    if not args.url.startswith(("http://", "https://")):
        ap.error("--url must start with http:// or https://")
    if args.timeout_seconds < 1:
        ap.error("--timeout_seconds must be at least 1")

    print(f"GET {args.url} (timeout {args.timeout_seconds}s, expecting "
          f"{args.expect_status})", flush=True)
    req = urllib.request.Request(
        args.url, headers={"User-Agent": "runcell-url-check/1"})
    start = time.monotonic()
    final_url = args.url
    try:
        with urllib.request.urlopen(req, timeout=args.timeout_seconds) as r:
            status = r.status
            final_url = r.geturl()
            r.read(65536)
    except urllib.error.HTTPError as e:
        status = e.code
        final_url = e.geturl() or args.url
    except (urllib.error.URLError, socket.timeout, OSError) as e:
        reason = getattr(e, "reason", e)
        elapsed = time.monotonic() - start
        print(f"FAIL: cannot reach {args.url} after {elapsed:.2f}s: "
              f"{reason}", flush=True)
        return 1
    elapsed = time.monotonic() - start

    if final_url != args.url:
        print(f"redirected to {final_url}")
    verdict = "OK" if status == args.expect_status else "FAIL"
    print(f"{verdict}: status {status} (expected {args.expect_status}) "
          f"in {elapsed:.2f}s", flush=True)
    return 0 if status == args.expect_status else 1


if __name__ == "__main__":
    sys.exit(main())
