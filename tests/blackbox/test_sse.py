"""Black-box tests of live output (Server-Sent Events), secrets masking and
web sign-in: resume with Last-Event-ID over 10 MB loses and repeats
nothing, 200 concurrent followers of one run get identical bytes, a
stalled follower does not slow the run, output reaches a follower fast
(the latency is printed), secrets never come back out, and the session
cookie and CSRF rules hold.

Usage: python3 tests/blackbox/test_sse.py [EXECUTOR]   (default: process)
"""
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, run_tests, BIN  # noqa: E402

EXECUTOR = sys.argv[1] if len(sys.argv) > 1 else "process"
SECRET_FILE_VALUE = "sk-live-7f3a9c2e5b1d"
SECRET_ENV_VALUE = "env-secret-Quoll-42"
PASSWORD = "sse test password"

CONFIG = """
server:
  data_dir: @DIR@/data
  executor: @EXECUTOR@
  max_concurrent_runs: 32
  log_max_bytes: 32M
  stop_grace: 1s
  secrets_file: @DIR@/secrets.env
automations:
  - id: lines
    command: [/bin/sh, "@SCRIPTS@/lines.sh"]
    parameters:
      - {name: lines, type: integer, min: 0, max: 900000, default: 1000}
  - id: burst
    command: [/bin/sh, "@SCRIPTS@/burst.sh"]
    parameters:
      - {name: delay, type: string, default: "0.5"}
      - {name: lines, type: integer, min: 0, max: 900000, default: 1000}
  - id: flood
    command: [/bin/sh, "@SCRIPTS@/flood.sh"]
    parameters:
      - {name: bytes, type: integer, min: 0, max: 100000000, default: 1000}
  - id: sleeper
    command: [/bin/sh, "@SCRIPTS@/sleeper.sh"]
    parameters:
      - {name: seconds, type: integer, min: 0, max: 600, default: 1}
  - id: ticker
    command: [/bin/sh, "@SCRIPTS@/ticker.sh"]
    parameters:
      - {name: count, type: integer, min: 1, max: 1000, default: 50}
      - {name: interval, type: string, default: "0.02"}
  - id: secret-echo
    command: [/bin/sh, "@SCRIPTS@/echo.sh"]
    secrets: [API_KEY, RUNCELL_TEST_ENV_SECRET]
    parameters:
      - {name: message, type: string, max_length: 100}
  - id: exit
    command: [/bin/sh, "@SCRIPTS@/exit.sh"]
    parameters:
      - {name: code, type: integer, min: 0, max: 255, default: 0}
"""


def expected_lines(n):
    return "".join("line %08d of output\n" % i for i in range(1, n + 1))


class SSE:
    """A minimal SSE client over a raw HTTP/1.1 connection."""

    def __init__(self, s, path, last_id=None, token=None, headers=None,
                 timeout=60):
        self.conn = http.client.HTTPConnection("127.0.0.1", s.port,
                                               timeout=timeout)
        h = {"Accept": "text/event-stream"}
        tok = s.admin if token is None else token
        if tok:
            h["Authorization"] = "Bearer " + tok
        if last_id is not None:
            h["Last-Event-ID"] = str(last_id)
        if headers:
            h.update(headers)
        self.conn.request("GET", path, headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status

    def events(self):
        """Yield (event, id, data) until the stream ends."""
        ev, eid, data = "message", None, []
        while True:
            line = self.resp.readline()
            if not line:
                return
            line = line.decode("utf-8", errors="replace")
            if line.endswith("\n"):
                line = line[:-1]
            if line.endswith("\r"):
                line = line[:-1]
            if line == "":
                if data:
                    yield ev, eid, "\n".join(data)
                ev, eid, data = "message", None, []
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                ev = value
            elif field == "id":
                eid = value
            elif field == "data":
                data.append(value)

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def follow_all(s, run_id, token=None):
    """Follow a run to its end: (log text, final run JSON, events)."""
    c = SSE(s, "/api/v1/runs/%s/events" % run_id, token=token)
    assert c.status == 200, c.status
    text, final, evs = [], None, []
    for ev, eid, data in c.events():
        evs.append(ev)
        if ev == "log":
            text.append(data)
        elif ev == "end":
            final = json.loads(data)
    c.close()
    return "".join(text), final, evs


def full_log(s, run_id):
    out, off = [], 0
    while True:
        r = s.get("/api/v1/runs/%s/log?offset=%d" % (run_id, off))
        assert r.status == 200, r
        out.append(r.body)
        nxt = int(r.headers["X-Log-Next-Offset"])
        if nxt >= int(r.headers["X-Log-Size"]) or not r.body:
            return b"".join(out).decode()
        off = nxt


class Ctx:
    pass


def setup():
    os.environ["RUNCELL_TEST_ENV_SECRET"] = SECRET_ENV_VALUE
    s = Server(CONFIG, EXECUTOR)
    path = os.path.join(s.dir, "secrets.env")
    with open(path, "w") as f:
        f.write("# test secrets\nAPI_KEY=%s\nUNUSED=zzz\n" % SECRET_FILE_VALUE)
    os.chmod(path, 0o600)
    os.chmod(s.dir, 0o755)
    s.start()
    for name, role in (("olga", "operator"), ("vic", "viewer")):
        r = subprocess.run([BIN, "user", "add", "--config", s.config_path,
                            "--name", name, "--role", role],
                           input=(PASSWORD + "\n").encode(),
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
    return s


def teardown(s):
    s.cleanup()


# ---- live output ----

def test_finished_run_replays_then_ends(s):
    run = s.run("lines", {"lines": 100})
    s.wait(run["id"])
    text, final, evs = follow_all(s, run["id"])
    assert text == expected_lines(100), text[:200]
    assert final["state"] == "succeeded" and final["exit_code"] == 0, final
    assert evs[0] == "state" and evs[-1] == "end", evs


def test_live_run_states_then_end(s):
    run = s.run("sleeper", {"seconds": 1})
    text, final, evs = follow_all(s, run["id"])
    assert "tick 9" in text and text.endswith("done\n"), text
    assert final["state"] == "succeeded", final
    assert "log" in evs and evs[-1] == "end"
    assert text == full_log(s, run["id"])


def test_unknown_run_404_and_bad_resume_400(s):
    c = SSE(s, "/api/v1/runs/r0000000000000000/events")
    assert c.status == 404, c.status
    c.close()
    run = s.run("exit", {})
    c = SSE(s, "/api/v1/runs/%s/events" % run["id"], last_id="abc")
    assert c.status == 400, c.status
    c.close()
    c = SSE(s, "/api/v1/runs/%s/events" % run["id"], token="")
    assert c.status == 401, c.status
    c.close()


def test_resume_10mb_loses_and_repeats_nothing(s):
    n = 420000  # 10.5 MB of numbered lines
    run = s.run("lines", {"lines": n})
    rid = run["id"]
    parts, last, reconnects = [], None, 0
    rnd = random.Random(4)
    done = False
    while not done:
        c = SSE(s, "/api/v1/runs/%s/events" % rid, last_id=last)
        assert c.status == 200, c.status
        budget = rnd.randint(1, 60)  # log events before we drop it
        for ev, eid, data in c.events():
            if ev == "log":
                start = int(last or 0)
                assert int(eid) - start == len(data.encode()), \
                    "chunk length %d vs ids %s..%s" % (len(data), last, eid)
                parts.append(data)
                last = eid
                budget -= 1
                if budget == 0:
                    break
            elif ev == "end":
                done = True
                break
        c.close()
        reconnects += 1
        assert reconnects < 5000
    got = "".join(parts)
    want = expected_lines(n)
    assert len(got) == len(want), (len(got), len(want))
    assert got == want
    print("    10.5 MB resumed across %d connections" % reconnects)


def test_200_followers_get_identical_bytes(s):
    run = s.run("sleeper", {"seconds": 3})
    rid = run["id"]
    results = [None] * 200
    errors = []

    def follower(i):
        try:
            text, final, _ = follow_all(s, rid)
            results[i] = (text, final["state"])
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=follower, args=(i,))
               for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    want = full_log(s, rid)
    assert "done" in want
    for i, r in enumerate(results):
        assert r is not None, "follower %d did not finish" % i
        assert r[0] == want, "follower %d differs" % i
        assert r[1] == "succeeded"


def stalled_follower(s, rid):
    """Connect, ask for the stream, and never read."""
    sk = socket.create_connection(("127.0.0.1", s.port))
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sk.sendall(("GET /api/v1/runs/%s/events HTTP/1.1\r\nHost: x\r\n"
                "Authorization: Bearer %s\r\n\r\n" % (rid, s.admin)).encode())
    return sk


def test_stalled_follower_does_not_slow_the_run(s):
    n = 800000  # 20 MB, written after a 0.5 s pause
    base = s.run("burst", {"lines": n})
    b = s.wait(base["id"], timeout=60)
    run = s.run("burst", {"lines": n})
    # Five followers that never read are connected before the output.
    stalled = [stalled_follower(s, run["id"]) for _ in range(5)]
    # A normal follower alongside gets everything.
    text, final, _ = follow_all(s, run["id"])
    r = s.wait(run["id"], timeout=60)
    assert final["state"] == "succeeded"
    assert text == expected_lines(n)
    print("    20 MB burst: run took %.3fs alone, %.3fs with 5 stalled "
          "followers" % (b["duration_seconds"], r["duration_seconds"]))
    assert r["duration_seconds"] < 2 * b["duration_seconds"] + 0.5, (b, r)
    # The server still answers at once while they hang on.
    t0 = time.time()
    assert s.get("/healthz", token="").status == 200
    assert time.time() - t0 < 1.0
    for sk in stalled:
        sk.close()


def test_output_latency_under_50ms(s):
    run = s.run("ticker", {"count": 60, "interval": "0.05"})
    c = SSE(s, "/api/v1/runs/%s/events" % run["id"])
    lat = []
    for ev, eid, data in c.events():
        now = time.time()
        if ev == "log":
            for line in data.split("\n"):
                if line.startswith("t "):
                    lat.append((now - float(line[2:])) * 1000.0)
        elif ev == "end":
            break
    c.close()
    lat = lat[3:]  # the first lines may predate the connection
    lat.sort()
    p50 = statistics.median(lat)
    p95 = lat[int(len(lat) * 0.95) - 1]
    print("    output -> follower latency over %d lines: p50 %.1f ms, "
          "p95 %.1f ms, max %.1f ms" % (len(lat), p50, p95, lat[-1]))
    assert p95 < 50.0, lat


def test_all_runs_stream(s):
    c = SSE(s, "/api/v1/runs/events", timeout=20)
    assert c.status == 200
    it = c.events()
    ev, eid, data = next(it)
    assert ev == "hello", ev
    run = s.run("exit", {"code": 3})
    states = []
    for ev, eid, data in it:
        if ev != "run":
            continue
        j = json.loads(data)
        if j["id"] == run["id"]:
            states.append(j["state"])
            if j["state"] == "failed":
                break
    c.close()
    # States only move forward (the run manager may report them from
    # several threads; the stream never goes back).
    rank = {"queued": 0, "starting": 1, "running": 2, "failed": 3}
    assert [rank[x] for x in states] == sorted(rank[x] for x in states), \
        states
    assert states[-1] == "failed" and "running" in states, states
    # Resuming from an id replays what followed it.
    c = SSE(s, "/api/v1/runs/events", last_id=int(eid) - 1, timeout=20)
    it = c.events()
    next(it)
    ev, eid2, data = next(it)
    c.close()
    assert ev == "run" and eid2 == eid, (ev, eid2, eid)


def test_cli_logs_follow_exits_with_code(s):
    run = s.run("exit", {"code": 7})
    r = s.cli("logs", "-f", run["id"])
    assert r.returncode == 7, (r.returncode, r.stdout, r.stderr)
    assert b"exiting with 7" in r.stdout


def test_cli_follow_prints_exact_output(s):
    run = s.run("burst", {"delay": "0.3", "lines": 20000})
    r = s.cli("logs", "-f", run["id"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == expected_lines(20000)
    r = s.cli("run", "sleeper", "--seconds", "1", "--follow")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.decode().endswith("tick 9\ndone\n"), r.stdout[-100:]


# ---- secrets ----

def test_secrets_reach_the_run_and_are_masked(s):
    run = s.run("secret-echo", {"message": "x " + SECRET_FILE_VALUE})
    rid = run["id"]
    assert SECRET_FILE_VALUE not in json.dumps(run), run
    s.wait(rid)
    log = s.log_text(rid)
    assert "API_KEY=****" in log, log
    assert "RUNCELL_TEST_ENV_SECRET=****" in log, log
    assert SECRET_FILE_VALUE not in log and SECRET_ENV_VALUE not in log
    assert "UNUSED" not in log  # only declared secrets are passed
    text, final, _ = follow_all(s, rid)
    assert "API_KEY=****" in text
    assert SECRET_FILE_VALUE not in text and SECRET_ENV_VALUE not in text
    r = s.get("/api/v1/runs/" + rid)
    assert SECRET_FILE_VALUE not in r.body.decode()
    r = s.get("/api/v1/audit?limit=1000")
    body = r.body.decode()
    assert r.status == 200 and rid in body
    assert SECRET_FILE_VALUE not in body and SECRET_ENV_VALUE not in body
    # The audit table itself never holds the value.
    db = os.path.join(s.dir, "data", "runcell.db")
    r = subprocess.run(["sqlite3", db, "SELECT detail FROM audit"],
                       capture_output=True)
    if r.returncode == 0:
        assert SECRET_FILE_VALUE.encode() not in r.stdout


def test_secret_split_across_chunks_is_masked(s):
    # Many copies of the secret in a long output: some straddle the
    # boundaries of reads and of resumed streams.
    run = s.run("secret-echo", {})
    s.wait(run["id"])
    text, _, _ = follow_all(s, run["id"])
    assert SECRET_FILE_VALUE not in text
    for off in range(0, 40):
        r = s.get("/api/v1/runs/%s/log?offset=%d" % (run["id"], off))
        assert SECRET_FILE_VALUE.encode() not in r.body


def test_secrets_file_must_be_private(s):
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="runcell-bb-")
    try:
        cfg = os.path.join(d, "runcell.yaml")
        with open(s.config_path) as f:
            text = f.read().replace(s.dir, d)
        with open(cfg, "w") as f:
            f.write(text)
        with open(os.path.join(d, "secrets.env"), "w") as f:
            f.write("API_KEY=abcdefgh\n")
        os.chmod(os.path.join(d, "secrets.env"), 0o644)
        r = subprocess.run([BIN, "serve", "--config", cfg, "--listen",
                            "127.0.0.1:0"], capture_output=True, timeout=30)
        assert r.returncode != 0
        assert b"chmod 600" in r.stderr, r.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- sign-in, sessions, CSRF ----

def login(s, user, password=PASSWORD):
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    conn.request("POST", "/api/v1/session",
                 body=json.dumps({"username": user, "password": password}),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    cookie = r.getheader("Set-Cookie")
    conn.close()
    return r.status, cookie, (json.loads(body) if body else None)


def test_login_wrong_password_401(s):
    st, cookie, body = login(s, "olga", "not the password")
    assert st == 401 and not cookie, (st, cookie)
    st, cookie, body = login(s, "nobody", "whatever pw")
    assert st == 401 and body["error"]["message"] == \
        "wrong username or password"


def test_session_cookie_and_csrf(s):
    st, cookie, body = login(s, "olga")
    assert st == 200, body
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
    sid = cookie.split(";")[0]
    csrf = body["csrf_token"]
    assert body["role"] == "operator"
    h = {"Cookie": sid}
    r = s.get("/api/v1/session", token="", headers=h)
    assert r.status == 200 and r.json()["csrf_token"] == csrf, r
    r = s.get("/api/v1/runs", token="", headers=h)
    assert r.status == 200, r
    # A state change with the cookie needs the CSRF token.
    r = s.post("/api/v1/runs", {"automation": "exit", "parameters": {}},
               token="", headers=h)
    assert r.status == 403 and r.json()["error"]["code"] == "csrf", r
    r = s.post("/api/v1/runs", {"automation": "exit", "parameters": {}},
               token="", headers=dict(h, **{"X-CSRF-Token": "0" * 64}))
    assert r.status == 403, r
    r = s.post("/api/v1/runs", {"automation": "exit", "parameters": {}},
               token="", headers=dict(h, **{"X-CSRF-Token": csrf}))
    assert r.status == 202, r
    # The SSE stream works with the cookie (EventSource sends it).
    c = SSE(s, "/api/v1/runs/%s/events" % r.json()["id"], token="",
            headers=h)
    assert c.status == 200
    c.close()
    # Sign out: the cookie stops working.
    r = s.request("DELETE", "/api/v1/session", token="",
                  headers=dict(h, **{"X-CSRF-Token": csrf}))
    assert r.status == 200 and "Max-Age=0" in r.headers["Set-Cookie"], r
    r = s.get("/api/v1/runs", token="", headers=h)
    assert r.status == 401, r


def test_viewer_session_cannot_run(s):
    st, cookie, body = login(s, "vic")
    assert st == 200
    h = {"Cookie": cookie.split(";")[0], "X-CSRF-Token": body["csrf_token"]}
    r = s.post("/api/v1/runs", {"automation": "exit", "parameters": {}},
               token="", headers=h)
    assert r.status == 403 and r.json()["error"]["code"] == "forbidden", r


def test_password_change_and_disable(s):
    r = s.post("/api/v1/users/olga/password", {"password": "short"})
    assert r.status == 422 and r.json()["error"]["field"] == "password", r
    r = s.post("/api/v1/users/olga/password", {"password": "new password 1"})
    assert r.status == 200, r
    st, _, _ = login(s, "olga")
    assert st == 401
    st, cookie, body = login(s, "olga", "new password 1")
    assert st == 200
    r = s.post("/api/v1/users/olga/disabled", {"disabled": True})
    assert r.status == 200, r
    r = s.get("/api/v1/runs", token="",
              headers={"Cookie": cookie.split(";")[0]})
    assert r.status == 401, r
    st, _, _ = login(s, "olga", "new password 1")
    assert st == 401
    s.post("/api/v1/users/olga/disabled", {"disabled": False})
    s.post("/api/v1/users/olga/password", {"password": PASSWORD})
    r = s.get("/api/v1/audit?limit=100").body.decode()
    assert "new password 1" not in r and "user.password" in r


def test_ui_is_served_with_csp(s):
    r = s.get("/", token="")
    assert r.status == 200 and b"<title>runcell</title>" in r.body
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    r = s.get("/ui/app.js", token="")
    assert r.status == 200 and "javascript" in r.headers["Content-Type"]
    r = s.get("/ui/nope.js", token="")
    assert r.status == 404


if __name__ == "__main__":
    sys.exit(run_tests(globals(), setup, teardown))
