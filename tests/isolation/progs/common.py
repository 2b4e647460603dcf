"""Shared by the abuse scripts: argument parsing and the result line.

Each script prints one line "RESULT <json>" that the test parses."""
import errno
import json
import sys


def args():
    """--name value pairs (and bare --flag) into a dict."""
    out, a = {}, sys.argv[1:]
    i = 0
    while i < len(a):
        k = a[i].lstrip("-")
        if i + 1 < len(a) and not a[i + 1].startswith("--"):
            out[k] = a[i + 1]
            i += 2
        else:
            out[k] = True
            i += 1
    return out


def err_name(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else str(e)


def result(obj):
    print("RESULT " + json.dumps(obj, sort_keys=True), flush=True)
