"""Black-box tests of the run lifecycle: the queue and its limits (global,
per automation, per concurrency-key value, per user), FIFO order, the
queue bound (429), queue positions, stopping a queued run, retries with
backoff, retention, /metrics checked with a small Prometheus text parser,
SIGHUP reload, SIGTERM with re-adoption, and serve --drain.

Each test starts its own server with the configuration it needs.

Usage: python3 tests/blackbox/test_lifecycle.py [EXECUTOR]   (default: process)
"""
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, run_tests  # noqa: E402

EXECUTOR = sys.argv[1] if len(sys.argv) > 1 else "process"
TERMINAL = ("succeeded", "failed", "timed_out", "cancelled", "lost")

BASE = """
server:
  data_dir: @DIR@/data
  executor: @EXECUTOR@
  stop_grace: 1s
%s
automations:
%s
"""

NAP = """
  - id: %s
    command: [/bin/sh, "@SCRIPTS@/nap.sh"]
%s
    parameters:
      - {name: ms, type: integer, min: 0, max: 60000, default: 20}
      - {name: code, type: integer, min: 0, max: 255, default: 0}
      - {name: folder, type: choice, choices: [a, b, c], default: a}
"""


def nap(aid, extra=""):
    return NAP % (aid, extra)


def server(server_extra, autos, start=True, args=()):
    s = Server(BASE % (server_extra, "".join(autos)), EXECUTOR)
    if start:
        s.start(args=args)
    return s


def with_server(server_extra, autos):
    """Decorator: run the test with a fresh server, cleaned up after."""
    def wrap(fn):
        def run():
            s = server(server_extra, autos)
            try:
                fn(s)
            except Exception:
                print("--- server log tail ---\n" + s.server_log())
                raise
            finally:
                s.cleanup()
        run.__name__ = fn.__name__
        return run
    return wrap


def ts(text):
    """RFC 3339 with milliseconds (UTC) -> seconds since the epoch."""
    m = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z", text)
    y, mo, d, h, mi, sec, ms = (int(x) for x in m.groups())
    import calendar
    return calendar.timegm((y, mo, d, h, mi, sec)) + ms / 1000.0


def all_runs(s, **filters):
    out, cursor = [], None
    while True:
        q = "&".join("%s=%s" % kv for kv in filters.items())
        path = "/api/v1/runs?limit=1000" + ("&" + q if q else "")
        if cursor:
            path += "&cursor=" + cursor
        j = s.get(path).json()
        out += j["runs"]
        cursor = j["next_cursor"]
        if not cursor:
            return out


def wait_all(s, ids, timeout=60.0):
    deadline = time.time() + timeout
    pending = set(ids)
    runs = {}
    while pending and time.time() < deadline:
        for r in all_runs(s):
            if r["id"] in pending and r["state"] in TERMINAL:
                pending.discard(r["id"])
                runs[r["id"]] = r
        if pending:
            time.sleep(0.05)
    assert not pending, "%d runs did not finish" % len(pending)
    return runs


def max_overlap(intervals):
    """Most intervals [start, end) open at one instant."""
    ev = []
    for a, b in intervals:
        ev.append((a, 1))
        ev.append((b, -1))
    ev.sort(key=lambda e: (e[0], e[1]))  # ends before starts at a tie
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best


def interval(r):
    return (ts(r["started_at"]), ts(r["finished_at"]))


# ---- a small Prometheus text-format (0.0.4) parser ----

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse_prometheus(text):
    """{name: {frozenset(labels): value}}, and {name: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "bad sample line %r" % line
        name, _, ltext, value = m.groups()
        labels = {}
        pos = 0
        ltext = ltext or ""
        while pos < len(ltext):
            lm = LABEL.match(ltext, pos)
            assert lm, "bad labels in %r" % line
            labels[lm.group(1)] = unescape(lm.group(2))
            pos = lm.end()
        v = float(value.replace("+Inf", "inf"))
        samples.setdefault(name, {})[frozenset(labels.items())] = v
    return samples, types


def metric(samples, name, **labels):
    return samples.get(name, {}).get(frozenset(labels.items()), 0.0)


def check_histogram(samples, types, name):
    assert types.get(name) == "histogram", (name, types.get(name))
    buckets = sorted(((float(dict(k)["le"].replace("+Inf", "inf")), v)
                      for k, v in samples[name + "_bucket"].items()))
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), (name, buckets)
    assert buckets[-1][0] == float("inf")
    assert buckets[-1][1] == metric(samples, name + "_count"), name
    return buckets[-1][1]


# ---- queue and limits ----

LIMITS_SERVER = """
  max_concurrent_runs: 6
  user_limits:
    lim: {max_concurrent_runs: 2}
"""


@with_server(LIMITS_SERVER, [nap("capped", "    concurrency: 3"),
                             nap("keyed", "    concurrency_key: folder"),
                             nap("free")])
def test_limits_never_exceeded_under_500_submissions(s):
    ops = [s.token("op%d" % i, "operator") for i in range(3)]
    lim = s.token("lim", "operator")
    ids, errors = [], []
    lock = threading.Lock()
    samples = []
    done = threading.Event()

    def sampler():
        while not done.is_set():
            text = s.get("/metrics").body.decode()
            sm, _ = parse_prometheus(text)
            samples.append(metric(sm, "runcell_runs_running"))
            time.sleep(0.01)

    def client(n):
        for i in range(25):
            k = n * 25 + i
            aut = ("capped", "keyed", "free")[k % 3]
            tok = lim if k % 5 == 0 else ops[k % 3]
            params = {"ms": 20 + (k % 4) * 10,
                      "folder": "abc"[(k // 3) % 3]}
            r = s.post("/api/v1/runs", {"automation": aut,
                                        "parameters": params}, token=tok)
            with lock:
                if r.status == 202:
                    ids.append(r.json()["id"])
                else:
                    errors.append(r)

    t = threading.Thread(target=sampler)
    t.start()
    clients = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    assert not errors, errors[:3]
    assert len(ids) == 500
    runs = wait_all(s, ids, timeout=120)
    done.set()
    t.join()
    assert samples and max(samples) <= 6, max(samples)
    assert all(r["state"] == "succeeded" for r in runs.values()), \
        [r for r in runs.values() if r["state"] != "succeeded"][:2]
    rs = list(runs.values())
    assert max_overlap(interval(r) for r in rs) <= 6
    assert max_overlap(interval(r) for r in rs
                       if r["automation"] == "capped") <= 3
    for f in "abc":
        assert max_overlap(interval(r) for r in rs
                           if r["automation"] == "keyed" and
                           r["parameters"]["folder"] == f) <= 1, f
    assert max_overlap(interval(r) for r in rs if r["user"] == "lim") <= 2
    # The limits were reached, not just respected.
    assert max_overlap(interval(r) for r in rs) >= 4


@with_server("  max_concurrent_runs: 4", [nap("one", "    concurrency: 1"),
                                          nap("other")])
def test_fifo_per_limit_and_no_head_of_line_blocking(s):
    blocker = s.run("one", {"ms": 400})
    s.wait(blocker["id"], states=("running",))
    ids = [s.run("one", {"ms": 10})["id"] for _ in range(8)]
    other = s.run("other", {"ms": 10})
    o = s.wait(other["id"])
    assert o["state"] == "succeeded"
    runs = wait_all(s, ids + [blocker["id"]])
    starts = [ts(runs[i]["started_at"]) for i in ids]
    assert starts == sorted(starts), "not FIFO: %r" % starts
    # The other automation's run did not wait behind the queued ones.
    assert ts(o["started_at"]) < starts[0], (o["started_at"], starts[0])


@with_server("  max_concurrent_runs: 1\n  max_queued_runs: 3",
             [nap("nap")])
def test_queue_full_429_positions_and_stop_queued(s):
    blocker = s.run("nap", {"ms": 10000})
    s.wait(blocker["id"], states=("running",))
    q = [s.run("nap", {"ms": 10}) for _ in range(3)]
    assert [r["queue_position"] for r in q] == [1, 2, 3], q
    r = s.post("/api/v1/runs", {"automation": "nap", "parameters": {}})
    assert r.status == 429, r
    err = r.json()["error"]
    assert "3 runs" in err["message"] and "retry later" in err["message"], err
    # A queued run can be stopped: cancelled at once, never started.
    r = s.post("/api/v1/runs/%s/stop" % q[0]["id"])
    assert r.status == 202, r
    j = s.get("/api/v1/runs/" + q[0]["id"]).json()
    assert j["state"] == "cancelled" and j["started_at"] is None, j
    assert j["queue_position"] is None
    assert s.get("/api/v1/runs/" + q[1]["id"]).json()["queue_position"] == 1
    assert s.get("/api/v1/runs/" + q[2]["id"]).json()["queue_position"] == 2
    # There is room again.
    extra = s.run("nap", {"ms": 10})
    assert extra["queue_position"] == 3
    s.post("/api/v1/runs/%s/stop" % blocker["id"])
    runs = wait_all(s, [r["id"] for r in q[1:]] + [extra["id"]])
    assert all(r["state"] == "succeeded" for r in runs.values())


# ---- retries ----

RETRY_AUTOS = [
    nap("flaky", "    retries: {max: 2, backoff: 200ms, on: [failed]}"),
    nap("slowflaky", "    retries: {max: 3, backoff: 100ms}"),
]


@with_server("", RETRY_AUTOS)
def test_retries_recorded_with_backoff(s):
    first = s.run("flaky", {"code": 3, "ms": 0})
    deadline = time.time() + 20
    while time.time() < deadline:
        runs = all_runs(s, automation="flaky")
        if len(runs) == 3 and all(r["state"] in TERMINAL for r in runs):
            break
        time.sleep(0.05)
    runs.sort(key=lambda r: r["attempt"])
    assert [r["attempt"] for r in runs] == [1, 2, 3], runs
    assert runs[0]["id"] == first["id"] and runs[0]["retry_of"] is None
    assert all(r["retry_of"] == first["id"] for r in runs[1:]), runs
    assert all(r["state"] == "failed" and r["exit_code"] == 3 for r in runs)
    assert all(r["parameters"] == runs[0]["parameters"] for r in runs)
    # backoff * 2^(n-1), with at most 20% jitter.
    gap1 = ts(runs[1]["started_at"]) - ts(runs[0]["finished_at"])
    gap2 = ts(runs[2]["started_at"]) - ts(runs[1]["finished_at"])
    assert 0.16 <= gap1 < 2.0, gap1
    assert 0.32 <= gap2 < 2.0, gap2
    time.sleep(0.6)
    assert len(all_runs(s, automation="flaky")) == 3, "retried past max"
    # A success is not retried.
    ok = s.wait(s.run("flaky", {"code": 0, "ms": 0})["id"])
    assert ok["state"] == "succeeded"
    time.sleep(0.3)
    assert len(all_runs(s, automation="flaky")) == 4


@with_server("", RETRY_AUTOS)
def test_cancelled_run_never_retried(s):
    r = s.run("slowflaky", {"ms": 5000, "code": 1})
    s.wait(r["id"], states=("running",))
    s.post("/api/v1/runs/%s/stop" % r["id"])
    j = s.wait(r["id"])
    assert j["state"] == "cancelled", j
    time.sleep(0.5)
    assert len(all_runs(s, automation="slowflaky")) == 1


# ---- metrics ----

@with_server("", [nap("good"), nap("bad"), nap("other")])
def test_metrics_counters_match_runs(s):
    viewer = s.token("vic", "viewer")
    r = s.get("/metrics", token="")
    assert r.status == 401, r
    good = [s.run("good", {"ms": 0})["id"] for _ in range(5)]
    bad = [s.run("bad", {"ms": 0, "code": 2})["id"] for _ in range(3)]
    wait_all(s, good + bad)
    s.post("/api/v1/runs", {"automation": "nope"})
    r = s.get("/metrics", token=viewer)
    assert r.status == 200, r
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    sm, types = parse_prometheus(r.body.decode())
    assert types["runcell_runs_started_total"] == "counter"
    assert metric(sm, "runcell_runs_started_total", automation="good") == 5
    assert metric(sm, "runcell_runs_started_total", automation="bad") == 3
    assert metric(sm, "runcell_runs_finished_total", automation="good",
                  state="succeeded") == 5
    assert metric(sm, "runcell_runs_finished_total", automation="bad",
                  state="failed") == 3
    assert metric(sm, "runcell_runs_finished_total", automation="bad",
                  state="succeeded") == 0
    assert metric(sm, "runcell_runs_running") == 0
    assert metric(sm, "runcell_runs_queued") == 0
    assert check_histogram(sm, types, "runcell_queue_wait_seconds") == 8
    assert check_histogram(sm, types, "runcell_run_duration_seconds") == 8
    assert check_histogram(sm, types,
                           "runcell_request_to_start_seconds") == 8
    assert metric(sm, "runcell_run_cpu_seconds_total", automation="good") >= 0
    assert types["runcell_run_peak_memory_bytes"] == "gauge"
    assert metric(sm, "runcell_http_requests_total",
                  route="/api/v1/runs", status="202") == 8
    assert metric(sm, "runcell_http_requests_total",
                  route="/api/v1/runs", status="404") == 1
    assert metric(sm, "runcell_http_requests_total",
                  route="/metrics", status="401") == 1
    # Counting goes on.
    s.wait(s.run("good", {"ms": 0})["id"])
    sm, _ = parse_prometheus(s.get("/metrics", token=viewer).body.decode())
    assert metric(sm, "runcell_runs_started_total", automation="good") == 6


def test_prometheus_parser_and_escaping():
    text = ('# TYPE x counter\nx{a="q\\"uote",b="back\\\\slash",'
            'c="new\\nline"} 3\ny 1.5e3\n')
    sm, types = parse_prometheus(text)
    assert metric(sm, "x", a='q"uote', b="back\\slash", c="new\nline") == 3
    assert metric(sm, "y") == 1500


# ---- retention ----

RETENTION_SERVER = """
  metrics_public: true
  retention: {max_age: 2s, max_runs_per_automation: 2, interval: 200ms}
"""


@with_server(RETENTION_SERVER, [nap("keep"), nap("side")])
def test_retention_removes_what_it_should_and_nothing_else(s):
    data = os.path.join(s.dir, "data")
    long_run = s.run("keep", {"ms": 2500})
    s.wait(long_run["id"], states=("running",))
    quick = []
    for _ in range(5):
        rid = s.run("keep", {"ms": 0})["id"]
        s.wait(rid)
        # Checked now, while it is the newest finished run of its
        # automation and so cannot be expired yet: once two more have
        # finished, a pass (every 200ms) may remove it at any moment.
        assert os.path.exists(os.path.join(data, "logs", rid + ".log")), rid
        quick.append(rid)
    side = s.wait(s.run("side", {"ms": 0})["id"])

    def removed(rid):
        return (s.get("/api/v1/runs/" + rid).status == 404 and
                not os.path.exists(os.path.join(data, "logs", rid + ".log"))
                and not os.path.exists(os.path.join(data, "work", rid)))

    # Wait for a pass to remove them (the record goes first, then the
    # files), for at most a few intervals.
    deadline = time.time() + 2
    while (time.time() < deadline and
           not all(removed(rid) for rid in quick[:3])):
        time.sleep(0.05)
    for rid in quick[:3]:
        assert s.get("/api/v1/runs/" + rid).status == 404, rid
        assert not os.path.exists(os.path.join(data, "logs", rid + ".log"))
        assert not os.path.exists(os.path.join(data, "work", rid))
    for rid in quick[3:] + [side["id"]]:
        assert s.get("/api/v1/runs/" + rid).status == 200, rid
        assert os.path.exists(os.path.join(data, "logs", rid + ".log"))
    # The active run is never touched.
    j = s.get("/api/v1/runs/" + long_run["id"]).json()
    assert j["state"] == "running", j
    done = s.wait(long_run["id"])
    assert done["state"] == "succeeded"
    # Still there right after it finished; gone once older than max_age.
    assert s.get("/api/v1/runs/" + long_run["id"]).status == 200
    deadline = time.time() + 6
    while time.time() < deadline:
        if s.get("/api/v1/runs/" + long_run["id"]).status == 404:
            break
        time.sleep(0.1)
    gone_at = time.time()
    assert s.get("/api/v1/runs/" + long_run["id"]).status == 404
    assert gone_at - ts(done["finished_at"]) >= 1.9
    assert all_runs(s) == []


@with_server("  log_max_bytes: 10K", [
    """
  - id: flood
    command: [/bin/sh, "@SCRIPTS@/flood.sh"]
    parameters:
      - {name: bytes, type: integer, min: 0, max: 100000000, default: 1000}
"""])
def test_big_log_keeps_head_and_tail(s):
    j = s.wait(s.run("flood", {"bytes": 25000})["id"])
    assert j["state"] == "succeeded", j
    log = s.log_text(j["id"])
    assert len(log) < 10 * 1024 + 100, len(log)
    assert log.startswith("xxxx")
    m = re.search(r"\[runcell: (\d+) bytes cut\]", log)
    assert m, log[4900:5300]
    assert log.rstrip().endswith("flood done"), log[-100:]
    assert int(m.group(1)) == 25000 + len("\nflood done\n") - 10 * 1024
    small = s.wait(s.run("flood", {"bytes": 100})["id"])
    assert "bytes cut" not in s.log_text(small["id"])


# ---- signals ----

@with_server("", [nap("nap")])
def test_sighup_bad_file_kept_good_file_applied(s):
    good = open(s.config_path).read()
    auts = lambda: [a["id"] for a in
                    s.get("/api/v1/automations").json()["automations"]]
    assert auts() == ["nap"]
    with open(s.config_path, "w") as f:
        f.write(good + "  - id: broken\n    commandd: [/bin/true]\n")
    os.kill(s.proc.pid, signal.SIGHUP)
    deadline = time.time() + 5
    while "not reloaded" not in s.server_log() and time.time() < deadline:
        time.sleep(0.02)
    log = s.server_log()
    assert "not reloaded" in log and "runcell.yaml:" in log, log[-1000:]
    assert "commandd" in log
    assert auts() == ["nap"]
    assert s.wait(s.run("nap")["id"])["state"] == "succeeded"
    # A good edit: a new automation appears and runs; limits apply.
    with open(s.config_path, "w") as f:
        f.write(good + nap("added", "    concurrency: 1"))
    os.kill(s.proc.pid, signal.SIGHUP)
    deadline = time.time() + 5
    while "added" not in auts() and time.time() < deadline:
        time.sleep(0.02)
    assert auts() == ["nap", "added"]
    a = s.run("added", {"ms": 300})
    b = s.run("added", {"ms": 0})
    runs = wait_all(s, [a["id"], b["id"]])
    assert ts(runs[b["id"]]["started_at"]) >= ts(runs[a["id"]]["finished_at"])
    assert s.proc.poll() is None


@with_server("", [nap("nap")])
def test_sigterm_leaves_runs_running_and_restart_adopts_them(s):
    r = s.run("nap", {"ms": 1500})
    s.wait(r["id"], states=("running",))
    t0 = time.time()
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(timeout=10) == 0
    assert time.time() - t0 < 1.0, "SIGTERM waited for the run"
    refused = False
    try:
        s.get("/healthz", timeout=2)
    except OSError:
        refused = True
    assert refused, "still accepting after SIGTERM"
    s.start()
    j = s.wait(r["id"], timeout=15)
    assert j["state"] == "succeeded", j
    assert "woke" in s.log_text(r["id"])


def test_drain_waits_for_active_runs():
    s = server("  max_concurrent_runs: 1", [nap("nap")], start=False)
    try:
        s.start(args=["--drain"])
        r = s.run("nap", {"ms": 1200})
        s.wait(r["id"], states=("running",))
        queued = s.run("nap", {"ms": 0})
        t0 = time.time()
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.4)
        assert s.proc.poll() is None, "did not wait for the active run"
        assert s.proc.wait(timeout=10) == 0
        assert time.time() - t0 >= 0.7
        s.start()
        j = s.get("/api/v1/runs/" + r["id"]).json()
        assert j["state"] == "succeeded", j
        # The queued run was not started by the draining server; it runs
        # now.
        assert s.wait(queued["id"])["state"] == "succeeded"
    except Exception:
        print("--- server log tail ---\n" + s.server_log())
        raise
    finally:
        s.cleanup()


def test_config_checks_for_limits_and_retries():
    import subprocess
    from harness import BIN
    cases = [
        (nap("k", "    concurrency_key: nosuch"), "`concurrency_key` \"nosuch\""),
        (nap("k", "    retries: {max: 2, on: [cancelled]}"), "`on` entry \"cancelled\""),
        (nap("k", "    retries: {max: 2, tries: 3}"), "unknown key `tries`"),
        (nap("k", "    concurrency: -1"), "`concurrency` must be"),
    ]
    for autos, want in cases:
        s = server("  retention: {max_age: 30d}", [autos], start=False)
        try:
            r = subprocess.run([BIN, "check-config", s.config_path],
                               capture_output=True, timeout=10)
            err = r.stderr.decode()
            assert r.returncode == 1 and want in err, (want, err)
            assert re.search(r"runcell\.yaml:\d+: ", err), err
        finally:
            s.cleanup()
    s = server("  retention: {max_age: 2d, hourly: 3}", [nap("k")],
               start=False)
    try:
        r = subprocess.run([BIN, "check-config", s.config_path],
                           capture_output=True, timeout=10)
        assert r.returncode == 1 and b"unknown key `hourly`" in r.stderr
    finally:
        s.cleanup()


@with_server("", [nap("nap")])
def test_service_log_is_json_lines(s):
    import json
    s.wait(s.run("nap", {"ms": 0})["id"])
    lines = [l for l in s.server_log().splitlines() if l.startswith("{")]
    assert lines
    objs = [json.loads(l) for l in lines]
    assert all({"time", "level", "message"} <= set(o) for o in objs)
    assert any("run_id" in o for o in objs)


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
