"""Load and fault test of runcell (`make loadtest`, see docs/loadtest.md).

Starts the real server on a free loopback port, drives it with wrk and a
submitter, injects faults, and prints one table.  Exits non-zero if any
check fails.  Only the Python standard library (and wrk) are used.

Rounds:
  load (per executor)  wrk against GET /api/v1/runs/{id} and GET /healthz
                       while runs are submitted continuously; requests/s,
                       p50/p99, errors, RSS/fds/threads before and after.
  fault (a) disk full  data_dir on an 8 MB tmpfs filled by a run's output.
  fault (b) db locked  another process holds BEGIN EXCLUSIVE on the store
                       longer than the busy timeout.
  fault (c) stdout     scripts that close their stdout (and stderr) early.
  fault (d) clients    disconnects mid-request and mid-stream, many times.

Knobs (environment): LOADTEST_EXECUTORS ("process sandbox"),
LOADTEST_SECONDS (30, per wrk target), LOADTEST_RATE (runs/s, 25),
LOADTEST_CONNECTIONS (50), LOADTEST_FAULTS (1; 0 skips the fault rounds).
"""
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "blackbox"))
from harness import Server  # noqa: E402

EXECUTORS = os.environ.get("LOADTEST_EXECUTORS", "process sandbox").split()
SECONDS = int(os.environ.get("LOADTEST_SECONDS", "30"))
RATE = float(os.environ.get("LOADTEST_RATE", "25"))
CONNECTIONS = int(os.environ.get("LOADTEST_CONNECTIONS", "50"))
FAULTS = os.environ.get("LOADTEST_FAULTS", "1") != "0"

# Bounds the load round asserts (stated in docs/loadtest.md).
RSS_GROWTH_MAX_KB = 20 * 1024
FD_SLACK = 5
THREAD_SLACK = 5
TERMINAL = ("succeeded", "failed", "timed_out", "cancelled", "lost")

CONFIG = """
server:
  listen: 127.0.0.1:8080
  data_dir: @DIR@/data
  executor: @EXECUTOR@
  max_concurrent_runs: 16
  log_max_bytes: 64M
  max_body_bytes: 64K
  stop_grace: 1s
automations:
  - id: noop
    command: [/bin/sh, -c, "echo ok"]
  - id: sleeper
    command: [/bin/sh, "@SCRIPTS@/sleeper.sh"]
    resources: {timeout: 60s}
    parameters:
      - {name: seconds, type: integer, min: 0, max: 60, default: 1}
  - id: flood
    command: [/bin/sh, "@SCRIPTS@/flood.sh"]
    parameters:
      - {name: bytes, type: integer, min: 0, max: 100000000, default: 1000}
  - id: closeout
    command: [/bin/sh, "@LOADTEST@/scripts/closeout.sh"]
    parameters:
      - {name: mode, type: choice, required: true,
         choices: [stdout-then-run, both-then-run, both-then-fail]}
""".replace("@LOADTEST@", HERE)

RESULTS = []      # rows of the load table
CHECKS = []       # (round, check, ok, detail)


def check(rnd, what, ok, detail="", info=False):
    """Record a check; info=True records an observation that does not
    fail the test (shown as "note")."""
    CHECKS.append((rnd, what, True if info else bool(ok),
                   ("note: " if info else "") + detail))
    print("  %-4s %-10s %s%s" % ("note" if info else "ok" if ok else "FAIL",
                                 rnd, what,
                                 (": " + detail) if detail else ""),
          flush=True)
    return ok


# ---- the service's process ----

def proc_stat(pid):
    """(VmRSS kB, open fds, threads) of pid."""
    rss = threads = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, len(os.listdir("/proc/%d/fd" % pid)), threads


def full_log(s):
    try:
        with open(os.path.join(s.dir, "server.log"), "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def alive(s):
    return s.proc.poll() is None


def settle_fds(s, base_fds, base_threads, timeout):
    """Wait until the fd and thread counts are back near the baseline."""
    deadline = time.time() + timeout
    t0 = time.time()
    while True:
        st = proc_stat(s.proc.pid)
        if (abs(st[1] - base_fds) <= FD_SLACK and
                st[2] <= base_threads + THREAD_SLACK) or \
                time.time() > deadline:
            return st, time.time() - t0
        time.sleep(0.5)


def new_server(executor, keep_dir=None, before_start=None):
    d = keep_dir or tempfile.mkdtemp(prefix="runcell-lt-")
    os.chmod(d, 0o755)
    s = Server(CONFIG, executor, keep_dir=d)
    if before_start:
        before_start(s)
    s.start()
    # Drain the server's stdout so that it never blocks writing to it.
    threading.Thread(target=lambda: [None for _ in s.proc.stdout],
                     daemon=True).start()
    return s


def cleanup(s, unmount=None):
    """Stop the server, then every process still using its folder (the
    supervisors of runs it left), by pid."""
    try:
        s.stop()
    except Exception:
        s.kill()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if s.dir.encode() in cmd:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    time.sleep(0.2)
    if unmount:
        subprocess.run(["umount", "-l", unmount], check=False)
    shutil.rmtree(s.dir, ignore_errors=True)


# ---- HTTP helpers (a fresh connection per request, like most clients) ----

def req(s, method, path, body=None, token=None, timeout=30):
    try:
        return s.request(method, path, body=body, token=token,
                         timeout=timeout)
    except (OSError, http.client.HTTPException) as e:
        return e


def submit(s, automation, params=None, token=None):
    return req(s, "POST", "/api/v1/runs",
               {"automation": automation, "parameters": params or {}},
               token=token)


def err_message(r):
    try:
        return r.json()["error"]["message"]
    except Exception:
        return repr(r)


def wait_terminal(s, ids, timeout):
    """Poll each run until terminal; returns ({id: run json}, [not done])."""
    deadline = time.time() + timeout
    done = {}
    pending = list(ids)
    while pending and time.time() < deadline:
        nxt = []
        for rid in pending:
            r = req(s, "GET", "/api/v1/runs/" + rid)
            if isinstance(r, Exception) or r.status != 200:
                nxt.append(rid)
                continue
            j = r.json()
            if j["state"] in TERMINAL:
                done[rid] = j
            else:
                nxt.append(rid)
        pending = nxt
        if pending:
            time.sleep(0.3)
    return done, pending


def states_summary(done):
    out = {}
    for j in done.values():
        out[j["state"]] = out.get(j["state"], 0) + 1
    return ",".join("%s=%d" % kv for kv in sorted(out.items()))


class Submitter:
    """Starts runs of `automation` at `rate` per second from a few threads
    until stopped; records accepted ids and every other answer."""

    def __init__(self, s, rate, automation="noop", params=None, threads=4):
        self.s, self.rate, self.automation = s, rate, automation
        self.params = params
        self.accepted, self.rejected = [], []
        self.slowest = 0.0
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self.loop, args=(threads,),
                                         daemon=True)
                        for _ in range(threads)]

    def loop(self, n):
        period = n / self.rate
        nxt = time.time()
        while not self.stop_ev.is_set():
            t0 = time.time()
            r = submit(self.s, self.automation, self.params)
            with self.lock:
                self.slowest = max(self.slowest, time.time() - t0)
                if not isinstance(r, Exception) and r.status == 202:
                    self.accepted.append(r.json()["id"])
                else:
                    st = r if isinstance(r, Exception) else r.status
                    self.rejected.append((st, err_message(r)))
            nxt += period
            delay = nxt - time.time()
            if delay > 0:
                self.stop_ev.wait(delay)
            else:
                nxt = time.time()

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(60)


# ---- wrk ----

def wrk(s, script, seconds, args=(), connections=CONNECTIONS):
    cmd = ["wrk", "-t2", "-c%d" % connections, "-d%ds" % seconds,
           "--timeout", "5s", "--latency", "-s", os.path.join(HERE, script),
           "http://127.0.0.1:%d" % s.port]
    if args:
        cmd += ["--"] + list(args)
    p = subprocess.run(cmd, capture_output=True, timeout=seconds + 60)
    out = p.stdout.decode(errors="replace")
    for line in out.splitlines():
        if line.startswith("LOADTEST "):
            j = json.loads(line[len("LOADTEST "):])
            j["rps"] = j["requests"] / (j["duration_us"] / 1e6)
            j["errors"] = sum(j[k] for k in ("connect", "read", "write",
                                             "status", "timeout"))
            return j
    raise RuntimeError("wrk gave no result (rc %d): %s %s" % (
        p.returncode, out, p.stderr.decode(errors="replace")))


# ---- the load round ----

def load_round(executor):
    rnd = "load/" + executor[:4]
    print("== load round, %s executor: wrk %d s per target, %d "
          "connections, %.0f runs/s submitted" % (executor, SECONDS,
                                                  CONNECTIONS, RATE),
          flush=True)
    s = new_server(executor)
    try:
        viewer = s.token("lt-viewer", "viewer")
        # Seed runs for wrk to read: finished ones and a few that change
        # state while the load runs.
        seed = [s.run("noop")["id"] for _ in range(16)]
        seed += [s.run("sleeper", {"seconds": 10})["id"] for _ in range(4)]
        wait_terminal(s, seed[:16], 60)
        # Warm up (threads, caches, SQLite pages), then take the baseline.
        wrk(s, "get_run.lua", 3, (viewer, ",".join(seed)))
        wrk(s, "healthz.lua", 2)
        warm = [s.run("noop")["id"] for _ in range(20)]
        wait_terminal(s, warm, 60)
        time.sleep(2)
        before = proc_stat(s.proc.pid)

        sub = Submitter(s, RATE).start()
        t0 = time.time()
        w_run = wrk(s, "get_run.lua", SECONDS, (viewer, ",".join(seed)))
        w_health = wrk(s, "healthz.lua", SECONDS)
        sub.stop()
        elapsed = time.time() - t0
        done, pending = wait_terminal(s, sub.accepted + seed, 120)
        time.sleep(5)
        after, _ = settle_fds(s, before[1], before[2], 20)

        for name, w in (("GET /api/v1/runs/{id}", w_run),
                        ("GET /healthz", w_health)):
            RESULTS.append({
                "executor": executor, "target": name, "rps": w["rps"],
                "p50_ms": w["p50_us"] / 1000, "p99_ms": w["p99_us"] / 1000,
                "errors": w["errors"], "requests": w["requests"]})
            check(rnd, "%s: 0 errors" % name, w["errors"] == 0,
                  "%d requests, %.0f/s, p99 %.1f ms, errors %s" % (
                      w["requests"], w["rps"], w["p99_us"] / 1000,
                      {k: w[k] for k in ("connect", "read", "write",
                                         "status", "timeout") if w[k]}))
        n_acc = len(sub.accepted)
        check(rnd, "submitter: every POST accepted", not sub.rejected,
              "%d accepted in %.0f s (%.1f/s), %d refused %s" % (
                  n_acc, elapsed, n_acc / elapsed, len(sub.rejected),
                  sub.rejected[:3]))
        not_ok = {i: j["state"] for i, j in done.items()
                  if j["state"] != "succeeded"}
        check(rnd, "every accepted run reached a terminal state",
              not pending, "%d runs: %s; not terminal: %s" % (
                  len(done), states_summary(done), pending[:5]))
        check(rnd, "every run succeeded", not not_ok,
              "%s" % list(not_ok.items())[:5])
        RESULTS[-1].update(runs=n_acc)
        RESULTS[-2].update(runs=n_acc)
        for row in RESULTS[-2:]:
            row.update(rss0=before[0], rss1=after[0], fd0=before[1],
                       fd1=after[1], thr0=before[2], thr1=after[2])
        check(rnd, "RSS growth < %d MB" % (RSS_GROWTH_MAX_KB // 1024),
              after[0] - before[0] < RSS_GROWTH_MAX_KB,
              "%d kB -> %d kB" % (before[0], after[0]))
        check(rnd, "fds back to baseline +- %d" % FD_SLACK,
              abs(after[1] - before[1]) <= FD_SLACK,
              "%d -> %d" % (before[1], after[1]))
        check(rnd, "threads back to baseline", after[2] <= before[2] +
              THREAD_SLACK, "%d -> %d" % (before[2], after[2]))
        check(rnd, "service up", alive(s) and
              req(s, "GET", "/healthz", token="").status == 200)
    except Exception as e:
        check(rnd, "round ran", False, "%s: %s\n%s" % (
            type(e).__name__, e, s.server_log()[-1500:]))
    finally:
        cleanup(s)


# ---- fault (a): the disk under data_dir fills up ----

def fault_disk_full(executor):
    rnd = "a/disk"
    print("== fault (a): data_dir on an 8 MB tmpfs, filled by a run's "
          "output", flush=True)
    d = tempfile.mkdtemp(prefix="runcell-lt-")
    data = os.path.join(d, "data")
    os.makedirs(data)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs",
                       data]).returncode != 0:
        check(rnd, "tmpfs mounted (needs root)", False)
        return
    s = None
    try:
        s = new_server(executor, keep_dir=d)
        accepted = []
        flood = s.run("flood", {"bytes": 20 * 1000 * 1000})["id"]
        accepted.append(flood)
        # Submissions while the disk fills and once it is full.
        answers = []
        for i in range(30):
            r = submit(s, "noop")
            answers.append(r)
            if not isinstance(r, Exception) and r.status == 202:
                accepted.append(r.json()["id"])
            time.sleep(0.1)
        st = os.statvfs(data)
        free_kb = st.f_bavail * st.f_frsize // 1024
        check(rnd, "the disk filled up", free_kb < 64, "%d kB free" %
              free_kb)
        bad = [r for r in answers if isinstance(r, Exception) or
               (r.status != 202 and r.status < 500)]
        refused = [r for r in answers if not isinstance(r, Exception) and
                   r.status >= 500]
        check(rnd, "submissions: 202 or 5xx, nothing else", not bad,
              "%d accepted, %d refused, other: %s" % (
                  len(accepted) - 1, len(refused), bad[:3]))
        full_words = ("full", "no space", "enospc")
        unclear = [err_message(r) for r in refused
                   if not any(w in err_message(r).lower()
                              for w in full_words)]
        check(rnd, "every 5xx says the disk is full", not unclear,
              (err_message(refused[0]) if refused else "no 5xx") +
              ("; unclear: %s" % unclear[:2] if unclear else ""))
        check(rnd, "service up while full", alive(s) and req(
            s, "GET", "/healthz", token="").status == 200 and req(
            s, "GET", "/api/v1/runs/" + flood).status == 200)
        done, pending = wait_terminal(s, accepted, 10)
        check(rnd, "accepted runs terminal while the disk is full",
              not pending, "%d runs: %s; not yet: %s" % (
                  len(accepted), states_summary(done),
                  [(i, req(s, "GET", "/api/v1/runs/" + i).json()["state"])
                   for i in pending[:3]]), info=True)
        check(rnd, "the server log says what failed", any(
            w in s.server_log().lower() for w in full_words),
            str([ln[:200] for ln in s.server_log().splitlines()
             if "full" in ln][:1]), info=True)
        # The operator makes room: the service goes on by itself.
        subprocess.run(["mount", "-o", "remount,size=64m", data],
                       check=False)
        more = []
        for i in range(5):
            r = submit(s, "noop")
            if not isinstance(r, Exception) and r.status == 202:
                more.append(r.json()["id"])
        check(rnd, "after making room, new runs are accepted",
              len(more) == 5, "%d of 5" % len(more))
        done, pending = wait_terminal(s, accepted + more, 30)
        check(rnd, "after making room, every accepted run is terminal "
              "in the store", not pending and all_in_store(s, accepted +
                                                          more),
              "%d runs: %s; stuck: %s" % (len(accepted + more),
                                          states_summary(done), pending[:3]))
        fl = done.get(flood) or req(s, "GET", "/api/v1/runs/" +
                                    flood).json()
        log = req(s, "GET", "/api/v1/runs/%s/log?offset=%d" % (
            flood, max(0, int(req(s, "GET", "/api/v1/runs/%s/log" % flood)
                              .headers.get("X-Log-Size", "0")) - 300)))
        said = " ".join([str(fl.get("reason")), log.body.decode(
            errors="replace")[-300:] if hasattr(log, "body") else ""])
        check(rnd, "the flood run's record or log says the disk is full",
              any(w in said.lower() for w in full_words),
              "state %s, reason %r" % (fl.get("state"), fl.get("reason")))
        check(rnd, "service up", alive(s))
    except Exception as e:
        check(rnd, "round ran", False, "%s: %s\n%s" % (
            type(e).__name__, e, s.server_log()[-1500:] if s else ""))
    finally:
        if s:
            cleanup(s, unmount=data)
        else:
            subprocess.run(["umount", "-l", data], check=False)
            shutil.rmtree(d, ignore_errors=True)


def all_in_store(s, ids):
    """Read the store file directly: every id is there, terminal."""
    db = sqlite3.connect("file:%s/data/runcell.db?mode=ro" % s.dir,
                         uri=True, timeout=10)
    try:
        q = "SELECT id, state FROM runs WHERE id IN (%s)" % ",".join(
            "?" * len(ids))
        rows = dict(db.execute(q, ids).fetchall())
    finally:
        db.close()
    return len(rows) == len(ids) and all(v in TERMINAL
                                          for v in rows.values())


# ---- fault (b): the database locked by another process ----

def fault_db_locked(s):
    rnd = "b/lock"
    hold = 12.0
    print("== fault (b): another process holds BEGIN EXCLUSIVE on the "
          "store for %.1f s (busy timeout 5 s; a submission may wait "
          "twice: token and insert)" % hold, flush=True)
    accepted = [s.run("sleeper", {"seconds": 2})["id"] for _ in range(3)]
    accepted += [s.run("noop")["id"] for _ in range(3)]
    db = sqlite3.connect(os.path.join(s.dir, "data", "runcell.db"),
                         timeout=10, isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    t_locked = time.time()
    sub = Submitter(s, 4, threads=8).start()
    health = []
    while time.time() - t_locked < hold:
        r = req(s, "GET", "/healthz", token="", timeout=10)
        health.append(getattr(r, "status", r))
        time.sleep(0.5)
    db.execute("COMMIT")
    db.close()
    time.sleep(1)
    sub.stop()
    accepted += sub.accepted
    check(rnd, "/healthz 200 throughout the lock",
          all(h == 200 for h in health), "%s" % health)
    odd = [x for x in sub.rejected if not isinstance(x[0], int) or
           x[0] < 500]
    unclear = [x for x in sub.rejected if "lock" not in x[1].lower() and
               "busy" not in x[1].lower()]
    locked_lines = [ln for ln in full_log(s).splitlines()
                    if "locked" in ln]
    check(rnd, "submissions: 202, or 5xx saying the database is locked",
          not odd and not unclear,
          "%d accepted (slowest %.1f s), %d refused (%s)%s" % (
              len(sub.accepted), sub.slowest, len(sub.rejected),
              sub.rejected[0][1] if sub.rejected else "-",
              "; other: %s" % (odd + unclear)[:3] if odd or unclear else ""))
    check(rnd, "the server log says the store was locked",
          locked_lines, "%d lines, e.g. %s" % (
              len(locked_lines), locked_lines[0][:220] if locked_lines
              else "-"), info=True)
    done, pending = wait_terminal(s, accepted, 30)
    check(rnd, "every accepted run reached a terminal state",
          not pending and all_in_store(s, accepted),
          "%d runs: %s; stuck: %s" % (
              len(accepted), states_summary(done),
              [(i, req(s, "GET", "/api/v1/runs/" + i).json()["state"])
               for i in pending[:3]]))
    r = submit(s, "noop")
    check(rnd, "after the lock, runs are accepted again",
          getattr(r, "status", 0) == 202, repr(r))
    if getattr(r, "status", 0) == 202:
        wait_terminal(s, [r.json()["id"]], 10)
    check(rnd, "service up", alive(s))


# ---- fault (c): a script closes its stdout early ----

def fault_closed_stdout(s):
    rnd = "c/stdout"
    print("== fault (c): scripts that close stdout early", flush=True)
    want = {
        "stdout-then-run": ("succeeded", 0, 1.0,
                            ["before close", "on stderr after closing",
                             "still on stderr"]),
        "both-then-run": ("succeeded", 0, 1.0, ["before close"]),
        "both-then-fail": ("failed", 3, 0.0, ["before close"]),
    }
    ids = {m: s.run("closeout", {"mode": m})["id"] for m in want}
    done, pending = wait_terminal(s, ids.values(), 30)
    for mode, (state, code, min_dur, lines) in want.items():
        j = done.get(ids[mode])
        if not j:
            check(rnd, mode, False, "not terminal")
            continue
        log = s.log_text(ids[mode])
        ok = (j["state"] == state and j["exit_code"] == code and
              (j["duration_seconds"] or 0) >= min_dur and
              all(x in log for x in lines))
        check(rnd, "%s: %s, exit %d, ran %.1f s+, log complete" % (
            mode, state, code, min_dur), ok,
            "got %s exit %s after %.2f s, log %r" % (
                j["state"], j["exit_code"], j["duration_seconds"] or 0,
                log[:120]))


# ---- fault (d): clients that disconnect mid-request and mid-stream ----

def raw_conn(s, rst):
    c = socket.create_connection(("127.0.0.1", s.port), timeout=3)
    if rst:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
    return c


def hangup(s, request, read_bytes, rst):
    """Send request (bytes), read up to read_bytes, close."""
    c = raw_conn(s, rst)
    try:
        c.sendall(request)
        got = 0
        while got < read_bytes:
            try:
                b = c.recv(min(65536, read_bytes - got))
            except socket.timeout:
                break  # a quiet stream: hang up anyway
            if not b:
                break
            got += len(b)
        return got
    finally:
        c.close()


def fault_disconnects(s):
    rnd = "d/hangup"
    n = 300
    print("== fault (d): %d clients each of 5 kinds disconnect mid-request "
          "or mid-stream" % n, flush=True)
    tok = s.admin
    big = s.run("flood", {"bytes": 2 * 1000 * 1000})["id"]
    live = s.run("sleeper", {"seconds": 30})["id"]
    wait_terminal(s, [big], 30)
    # Every kind once properly, so that the baseline has warm caches.
    s.get("/api/v1/runs/%s/log" % big)
    hangup(s, b"GET /api/v1/runs/%s/events HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer %s\r\n\r\n" % (big.encode(),
                                                  tok.encode()), 1 << 30,
           False)
    time.sleep(2)
    before = proc_stat(s.proc.pid)
    runs_before = len(s.get("/api/v1/runs?limit=1000").json()["runs"])
    auth = b"Authorization: Bearer " + tok.encode() + b"\r\n"
    kinds = {
        "half-sent body": (
            b"POST /api/v1/runs HTTP/1.1\r\nHost: x\r\n" + auth +
            b"Content-Type: application/json\r\nContent-Length: 400\r\n"
            b"\r\n{\"automation\": \"noop\", \"param", 0),
        "half-sent headers": (
            b"GET /api/v1/runs/" + live.encode() + b" HTTP/1.1\r\nHost: x"
            b"\r\nAuthoriz", 0),
        "run events stream": (
            b"GET /api/v1/runs/" + live.encode() + b"/events HTTP/1.1\r\n"
            b"Host: x\r\n" + auth + b"\r\n", 600),
        "all events stream": (
            b"GET /api/v1/runs/events HTTP/1.1\r\nHost: x\r\n" + auth +
            b"\r\n", 100),
        "log download": (
            b"GET /api/v1/runs/" + big.encode() + b"/log HTTP/1.1\r\n"
            b"Host: x\r\n" + auth + b"\r\n", 4096),
    }
    failures = []

    def worker(kind, request, nread, k):
        for i in range(k):
            try:
                hangup(s, request, nread, rst=(i % 2 == 0))
            except OSError as e:
                failures.append((kind, repr(e)))

    ths = [threading.Thread(target=worker, args=(k, rq, nr, n // 3))
           for k, (rq, nr) in kinds.items() for _ in range(3)]
    t0 = time.time()
    for t in ths:
        t.start()
    for t in ths:
        t.join(120)
    elapsed = time.time() - t0
    check(rnd, "every client connected and was answered", not failures,
          "%d hang-ups in %.1f s; %s" % (len(ths) * (n // 3), elapsed,
                                         failures[:3]))
    # Wake the quiet all-runs streams so that they find their peers gone.
    woke = [s.run("noop")["id"] for _ in range(2)]
    wait_terminal(s, woke + [live], 40)
    after, took = settle_fds(s, before[1], before[2], 40)
    check(rnd, "fds back to baseline +- %d" % FD_SLACK,
          abs(after[1] - before[1]) <= FD_SLACK,
          "%d -> %d (settled in %.0f s)" % (before[1], after[1], took))
    check(rnd, "threads back to baseline", after[2] <= before[2] +
          THREAD_SLACK, "%d -> %d" % (before[2], after[2]))
    runs_after = len(s.get("/api/v1/runs?limit=1000").json()["runs"])
    check(rnd, "no run created from a half-sent body",
          runs_after == runs_before + len(woke),
          "%d runs before, %d after (+%d expected)" % (
              runs_before, runs_after, len(woke)))
    check(rnd, "service up", alive(s) and req(
        s, "GET", "/healthz", token="").status == 200)
    RESULTS.append({"executor": s.executor, "target": "fault (d) hang-ups",
                    "rps": len(ths) * (n // 3) / elapsed, "p50_ms": None,
                    "p99_ms": None, "errors": len(failures),
                    "requests": len(ths) * (n // 3), "runs": len(woke),
                    "rss0": before[0], "rss1": after[0], "fd0": before[1],
                    "fd1": after[1], "thr0": before[2], "thr1": after[2]})


def fault_rounds(executor):
    fault_disk_full(executor)
    s = new_server(executor)
    s.executor = executor
    try:
        for fn in (fault_db_locked, fault_closed_stdout, fault_disconnects):
            try:
                fn(s)
            except Exception as e:
                check(fn.__name__, "round ran", False, "%s: %s" % (
                    type(e).__name__, e))
            if not alive(s):
                check(fn.__name__, "service up", False,
                      s.server_log()[-1500:])
                break
    finally:
        cleanup(s)


# ---- the table ----

def table():
    lines = []
    hdr = ("| executor | target | requests | req/s | p50 ms | p99 ms | "
           "errors | runs | RSS before → after (kB) | fds before → after "
           "| threads before → after |")
    lines += [hdr, "|---" * (hdr.count("|") - 1) + "|"]
    for r in RESULTS:
        lines.append("| %s | %s | %d | %.0f | %s | %s | %d | %s | %s → %s "
                     "| %s → %s | %s → %s |" % (
                         r["executor"], r["target"], r["requests"], r["rps"],
                         "%.2f" % r["p50_ms"] if r["p50_ms"] is not None
                         else "-",
                         "%.2f" % r["p99_ms"] if r["p99_ms"] is not None
                         else "-", r["errors"], r.get("runs", "-"),
                         r.get("rss0", "-"), r.get("rss1", "-"),
                         r.get("fd0", "-"), r.get("fd1", "-"),
                         r.get("thr0", "-"), r.get("thr1", "-")))
    lines.append("")
    lines.append("| round | check | result | detail |")
    lines.append("|---|---|---|---|")
    for rnd, what, ok, detail in CHECKS:
        lines.append("| %s | %s | %s | %s |" % (
            rnd, what, "ok" if ok else "**FAIL**",
            detail.replace("|", "/").replace("\n", " ")[:160]))
    return "\n".join(lines)


def main():
    t0 = time.time()
    for ex in EXECUTORS:
        load_round(ex)
    if FAULTS:
        fault_rounds(EXECUTORS[0] if EXECUTORS else "process")
    text = table()
    out = os.path.join(ROOT, "build", "loadtest-results.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    failed = sum(1 for c in CHECKS if not c[2])
    with open(out, "w") as f:
        f.write("runcell load and fault test, %s, %.0f s\n\n%s\n" % (
            time.strftime("%Y-%m-%d %H:%M:%S"), time.time() - t0, text))
    print()
    print(text)
    print()
    print("loadtest: %d checks, %d failed, %.0f s (table also in %s)" % (
        len(CHECKS), failed, time.time() - t0, os.path.relpath(out, ROOT)))
    return 1 if failed or not CHECKS else 0


if __name__ == "__main__":
    sys.exit(main())
