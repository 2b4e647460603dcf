#!/usr/bin/env python3
"""replay.py - serve recorded Kubernetes API exchanges on loopback.

No API server can run on this project's machines, so the kubernetes
executor is tested against answers shaped like a real API server's
(batch/v1 Job, v1 Pod, watch events, Status objects), kept as files under
tests/k8s/exchanges/.  This server plays them back, one scenario at a time,
and records every request so that a test can check what the client sent.

    python3 tests/k8s/replay.py --port 0 [--tls]

prints one JSON line {"port": N, "tls_dir": DIR|null} on stdout once it
listens on 127.0.0.1, then serves until killed.  With --tls it serves HTTPS
with a certificate made at start by `openssl req` (server.crt/server.key in
DIR) and checks a client certificate when one is presented (client.crt/
client.key in DIR, also made then; the record names its CN).

Control endpoints (same server, never part of the Kubernetes API):
    POST /_replay/load      {"scenario": NAME, "vars": {"RUN_ID": ...}}
                            load exchanges/NAME.json; forget old requests
    GET  /_replay/requests  the requests recorded since the last load
    POST /_replay/state     {"set": FLAG} set a scenario flag

A scenario file is {"description": ..., "exchanges": [...]}; each exchange:
    method, path            exact (after $VAR substitution)
    query                   {key: value} that must match; "*" = present,
                            null = absent; other keys are ignored
    when / unless           a flag that must be set / not set
    times                   serve it at most this many times
    sets                    a flag set when it is served
    status, headers         the answer's status and extra headers
    body | text             a JSON answer, or a plain-text one
    stream                  a chunked answer: a list of items, each with
                            optional delay (s), wait (flag), sets (flag),
                            and event ({"type", "object"}: one JSON line),
                            or text (raw bytes), split (send in 2 chunks)
    end                     after the stream: "close" (default), or
                            "hold" (keep it open until flag "until" is set
                            or hold seconds pass)
Anywhere in a JSON value, {"$file": "objects/x.json", "$vars": {...}}
is replaced by that file (with its own $VAR substitutions).  $VARs are
replaced in the text of every file before it is parsed: the variables
given at load, the exchange's own "vars", NS (default "default") and NOW
(the time of the load, RFC 3339).
Requests that match no exchange get a 404 Status and are marked
"unmatched" in the record.
"""
import argparse
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
EXCHANGES = os.path.join(HERE, "exchanges")

lock = threading.Condition()
scenario = {"exchanges": []}
flags = set()
used = {}
requests_seen = []
variables = {}


def subst(text, vars_):
    def repl(m):
        name = m.group(1)
        return str(vars_[name]) if name in vars_ else m.group(0)
    return re.sub(r"\$([A-Z][A-Z0-9_]*)", repl, text)


def load_json_file(rel, vars_):
    with open(os.path.join(EXCHANGES, rel)) as f:
        text = f.read()
    return resolve(json.loads(subst(text, vars_)), vars_)


def resolve(v, vars_):
    if isinstance(v, dict):
        if "$file" in v:
            inner = dict(vars_)
            inner.update({k: subst(str(x), vars_)
                          for k, x in v.get("$vars", {}).items()})
            return load_json_file(v["$file"], inner)
        return {k: resolve(x, vars_) for k, x in v.items()}
    if isinstance(v, list):
        return [resolve(x, vars_) for x in v]
    return v


def status_body(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason,
            "code": code}


def load_scenario(name, vars_):
    global scenario, variables
    v = {"NS": "default",
         "NOW": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    v.update(vars_)
    sc = load_json_file(name + ".json", v)
    for ex in sc["exchanges"]:
        ev = dict(v)
        ev.update(ex.get("vars", {}))
        ex["path"] = subst(ex["path"], ev)
    with lock:
        scenario = sc
        variables = v
        flags.clear()
        used.clear()
        requests_seen.clear()
        lock.notify_all()


def set_flag(flag):
    with lock:
        flags.add(flag)
        lock.notify_all()


def wait_flag(flag, timeout):
    end = time.monotonic() + timeout
    with lock:
        while flag not in flags:
            left = end - time.monotonic()
            if left <= 0:
                return False
            lock.wait(left)
    return True


def query_matches(want, got):
    for k, v in want.items():
        if v is None:
            if k in got:
                return False
        elif v == "*":
            if k not in got:
                return False
        elif got.get(k) != str(v):
            return False
    return True


def find_exchange(method, path, query):
    with lock:
        for i, ex in enumerate(scenario["exchanges"]):
            if ex.get("method", "GET") != method or ex["path"] != path:
                continue
            if not query_matches(ex.get("query", {}), query):
                continue
            if ex.get("when") and ex["when"] not in flags:
                continue
            if ex.get("unless") and ex["unless"] in flags:
                continue
            if "times" in ex and used.get(i, 0) >= ex["times"]:
                continue
            used[i] = used.get(i, 0) + 1
            if ex.get("sets"):
                flags.add(ex["sets"])
                lock.notify_all()
            return ex
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if os.environ.get("REPLAY_VERBOSE"):
            sys.stderr.write("replay: " + fmt % args + "\n")

    def send_json(self, code, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        if not data:
            return
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def handle_any(self, method):
        u = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(u.query,
                                              keep_blank_values=True).items()}
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if u.path.startswith("/_replay/"):
            return self.control(method, u.path, raw)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        rec = {"method": method, "path": u.path, "query": query,
               "raw_query": u.query,
               "headers": {k.lower(): v for k, v in self.headers.items()
                           if k.lower() in ("authorization", "content-type",
                                            "accept", "user-agent")},
               "body": body}
        cert = self.connection.getpeercert() \
            if isinstance(self.connection, ssl.SSLSocket) else None
        if cert:
            rec["client_cn"] = dict(x[0] for x in cert["subject"]).get(
                "commonName")
        ex = find_exchange(method, u.path, query)
        rec["unmatched"] = ex is None
        with lock:
            requests_seen.append(rec)
        if ex is None:
            return self.send_json(404, status_body(
                404, "NotFound", "the replay server has no answer for %s %s"
                % (method, self.path)))
        status = ex.get("status", 200)
        if "stream" in ex and 200 <= status < 300:
            return self.stream(ex, status)
        if "text" in ex:
            data = ex["text"].encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_json(status, ex.get("body", {}), ex.get("headers"))

    def stream(self, ex, status):
        self.send_response(status)
        self.send_header("Content-Type", ex.get("content_type",
                                                "application/json"))
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            for item in ex["stream"]:
                if item.get("wait") and not wait_flag(item["wait"], 30):
                    break
                time.sleep(item.get("delay", 0))
                if "event" in item:
                    data = json.dumps(item["event"]) + "\n"
                else:
                    data = item.get("text", "")
                if item.get("sets"):
                    set_flag(item["sets"])
                if item.get("split") and len(data) > 2:
                    half = len(data) // 2
                    self.chunk(data[:half])
                    time.sleep(0.05)
                    self.chunk(data[half:])
                else:
                    self.chunk(data)
            if ex.get("end") == "hold":
                wait_flag(ex.get("until", "\0never"), ex.get("hold", 30))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def control(self, method, path, raw):
        try:
            arg = json.loads(raw) if raw else {}
            if path == "/_replay/load" and method == "POST":
                load_scenario(arg["scenario"], arg.get("vars", {}))
                return self.send_json(200, {"loaded": arg["scenario"]})
            if path == "/_replay/requests":
                with lock:
                    return self.send_json(200, list(requests_seen))
            if path == "/_replay/state" and method == "POST":
                set_flag(arg["set"])
                return self.send_json(200, {"set": arg["set"]})
        except (OSError, ValueError, KeyError) as e:
            return self.send_json(400, {"error": str(e)})
        return self.send_json(404, {"error": "no such control endpoint"})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")


def make_certs(d):
    """A self-signed server certificate for 127.0.0.1 and a self-signed
    client certificate, made with Debian's openssl CLI."""
    for name, subj, ext in (("server", "/CN=127.0.0.1",
                             "subjectAltName=IP:127.0.0.1"),
                            ("client", "/CN=runcell-test", None)):
        cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
               "ec_paramgen_curve:prime256v1", "-nodes",
               "-keyout", os.path.join(d, name + ".key"),
               "-out", os.path.join(d, name + ".crt"),
               "-subj", subj, "-days", "2"]
        if ext:
            cmd += ["-addext", ext]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def stop(signum, frame):
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls", action="store_true")
    args = ap.parse_args()

    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    tls_dir = None
    if args.tls:
        tls_dir = tempfile.mkdtemp(prefix="runcell-k8s-tls.")
        make_certs(tls_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(tls_dir, "server.crt"),
                            os.path.join(tls_dir, "server.key"))
        # A client certificate is checked when given (kubeconfig with
        # client-certificate) and not required (token auth, in-cluster).
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(os.path.join(tls_dir, "client.crt"))
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    signal.signal(signal.SIGTERM, stop)
    print(json.dumps({"port": httpd.server_address[1], "tls_dir": tls_dir}),
          flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if tls_dir:
            shutil.rmtree(tls_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
