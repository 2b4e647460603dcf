"""Black-box test harness: starts the real runcell binary on a free loopback
port with a generated configuration, and talks to it over real HTTP.

Only the Python standard library is used.  Each test is a function named
test_*; the runner prints one line per test and ends with
"N passed, N failed".
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# RUNCELL_BIN runs the suites against another build (the sanitizer one).
BIN = os.environ.get("RUNCELL_BIN", os.path.join(ROOT, "build", "runcell"))
SCRIPTS = os.path.join(ROOT, "tests", "blackbox", "scripts")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def with_test_store(text):
    """With RUNCELL_TEST_STORE set (tests/pg/run.sh --store), the server's
    store is that URL: replace `store:` under `server:`, or add it."""
    url = os.environ.get("RUNCELL_TEST_STORE")
    if not url:
        return text
    lines = text.split("\n")
    try:
        start = lines.index("server:")
    except ValueError:
        return "server:\n  store: %s\n%s" % (url, text)
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or
                                not lines[end].strip()):
        end += 1
    for i in range(start + 1, end):
        if lines[i].lstrip().startswith("store:"):
            lines[i] = lines[i][:len(lines[i]) - len(lines[i].lstrip())] + \
                "store: " + url
            return "\n".join(lines)
    lines.insert(start + 1, "  store: " + url)
    return "\n".join(lines)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode())

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


class Server:
    """A runcell server process with its own data folder."""

    def __init__(self, config_text, executor="process", keep_dir=None):
        self.dir = keep_dir or tempfile.mkdtemp(prefix="runcell-bb-")
        self.port = free_port()
        self.config_path = os.path.join(self.dir, "runcell.yaml")
        text = config_text.replace("@EXECUTOR@", executor)
        text = text.replace("@SCRIPTS@", SCRIPTS).replace("@DIR@", self.dir)
        text = with_test_store(text)
        with open(self.config_path, "w") as f:
            f.write(text)
        self.proc = None
        self.admin = None
        self.output = b""

    def start(self, wait=10.0, args=()):
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--config", self.config_path,
             "--listen", "127.0.0.1:%d" % self.port] + list(args),
            stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
        deadline = time.time() + wait
        lines = []
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if b"admin token" in line:
                self.admin = line.decode().rsplit(" ", 1)[1].strip()
            if b"serving" in line:
                break
        self.output = b"".join(lines)
        if self.proc.poll() is not None or not any(b"serving" in l for l in lines):
            raise RuntimeError("server did not start: %r\n%s" % (
                self.output, self.server_log()))
        # Keep draining stdout so the server never blocks on it.
        return self

    def server_log(self):
        try:
            with open(os.path.join(self.dir, "server.log"), "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL):
        """Kill the server process only (not its runs' supervisors)."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self):
        self.kill(signal.SIGTERM)

    def cleanup(self):
        self.stop()
        # Kill any supervisor left behind by tests that end mid-run.
        subprocess.run(["pkill", "-KILL", "-f", "runcell-bb-.*" +
                        os.path.basename(self.dir)], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args, token=None, env=None, timeout=60):
        e = dict(os.environ)
        e["RUNCELL_URL"] = "http://127.0.0.1:%d" % self.port
        if token or self.admin:
            e["RUNCELL_TOKEN"] = token or self.admin
        if env:
            e.update(env)
        return subprocess.run([BIN] + list(args), capture_output=True,
                              env=e, timeout=timeout)

    def token(self, user, role):
        r = subprocess.run([BIN, "token", "create", "--config", self.config_path,
                            "--user", user, "--role", role],
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.decode().strip()

    def request(self, method, path, body=None, token=None, headers=None,
                raw=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {}
        tok = self.admin if token is None else token
        if tok:
            h["Authorization"] = "Bearer " + tok
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        resp = Response(r.status, dict(r.getheaders()), r.read())
        conn.close()
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def run(self, automation, params=None, token=None):
        r = self.post("/api/v1/runs", {"automation": automation,
                                       "parameters": params or {}}, token=token)
        assert r.status == 202, r
        return r.json()

    def wait(self, run_id, timeout=30.0, states=None):
        deadline = time.time() + timeout
        done = states or ("succeeded", "failed", "timed_out", "cancelled", "lost")
        while time.time() < deadline:
            r = self.get("/api/v1/runs/" + run_id)
            assert r.status == 200, r
            j = r.json()
            if j["state"] in done:
                return j
            time.sleep(0.02)
        raise AssertionError("run %s did not reach %s in %.0fs: %s" % (
            run_id, done, timeout, j))

    def log_text(self, run_id):
        r = self.get("/api/v1/runs/%s/log" % run_id)
        assert r.status == 200, r
        return r.body.decode(errors="replace")


def run_tests(module_globals, setup=None, teardown=None):
    tests = [(n, f) for n, f in module_globals.items()
             if n.startswith("test_") and callable(f)]
    only = os.environ.get("TEST_ONLY")
    passed = failed = 0
    try:
        ctx = setup() if setup else None
    except Exception:
        traceback.print_exc()
        print("setup failed")
        print("0 passed, 1 failed", flush=True)
        return 1
    try:
        for name, fn in tests:
            if only and only not in name:
                continue
            t0 = time.time()
            try:
                fn(ctx) if setup else fn()
                passed += 1
                print("ok   %-50s %.2fs" % (name, time.time() - t0), flush=True)
            except Exception:
                failed += 1
                print("FAIL %-50s %.2fs" % (name, time.time() - t0), flush=True)
                traceback.print_exc()
                if ctx is not None and hasattr(ctx, "server_log"):
                    print("--- server log tail ---\n" + ctx.server_log())
    finally:
        if teardown:
            teardown(ctx)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0
