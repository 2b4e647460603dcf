"""Black-box tests of schedules, webhook triggers and notifications, against
the real server over real HTTP.

- Schedules: the scheduler's clock is moved with RUNCELL_TEST_CLOCK_OFFSET_MS
  so that a minute boundary comes two seconds after start-up; no test waits
  for a real minute.  A tick runs exactly once, also when the server is
  killed right after it and restarted with its clock set back before it
  (as a second replica or a restart would see it); a tick missed while the
  server was down runs once at start-up, and not at all with
  catch_up: false.
- Webhooks: good signature, wrong signature, missing header, unknown
  automation, automation without a webhook, unset secret, bad parameters.
- Notifications: a receiver on 127.0.0.1 answers 500 to the first delivery
  of each run and 200 afterwards; the retry and its outcome are recorded.
- Configuration errors are reported with FILE:LINE.

Usage: python3 tests/blackbox/test_schedule.py
"""
import calendar
import hashlib
import hmac
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, run_tests, BIN, free_port  # noqa: E402

SECRET = "s3cret-for-tests"

CONFIG = """
server:
  listen: 127.0.0.1:8080
  data_dir: @DIR@/data
  executor: process
  notify: {url: "http://127.0.0.1:@RECEIVER@/flaky", timeout: 2s, attempts: 4}
automations:
  - id: tick
    command: [/bin/sh, "@SCRIPTS@/exit.sh"]
    parameters:
      - {name: code, type: integer, default: 0}
    schedule:
      cron: "* * * * *"
      timezone: Europe/Berlin
      parameters: {code: 0}
  - id: tick-nocatch
    command: [/bin/sh, "@SCRIPTS@/exit.sh"]
    schedule: {cron: "* * * * *", catch_up: false}
  - id: nightly
    command: [/bin/sh, "@SCRIPTS@/exit.sh"]
    schedule: "30 2 * * *"
  - id: hooked
    command: [/bin/sh, "@SCRIPTS@/echo.sh"]
    webhook: {secret_env: RUNCELL_TEST_HOOK_SECRET}
    parameters:
      - {name: message, type: string, required: true, max_length: 50}
  - id: unset-hook
    command: [/bin/sh, "@SCRIPTS@/exit.sh"]
    webhook: {secret_env: RUNCELL_TEST_UNSET_SECRET}
  - id: failing
    command: [/bin/sh, "@SCRIPTS@/exit.sh"]
    parameters:
      - {name: code, type: integer, default: 3}
  - id: on-success
    command: [/bin/sh, "@SCRIPTS@/exit.sh"]
    notify: {url: "http://127.0.0.1:@RECEIVER@/ok", on: [succeeded]}
  - id: unreachable
    command: [/bin/sh, "@SCRIPTS@/exit.sh"]
    parameters:
      - {name: code, type: integer, default: 1}
    notify: {url: "http://127.0.0.1:@CLOSED@/x", attempts: 2, timeout: 1s}
"""


class Receiver:
    """A webhook receiver on 127.0.0.1.  /flaky answers 500 to the first
    request of each run and 200 to later ones; /ok always answers 200."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                msg = json.loads(body)
                with outer.lock:
                    seen = [r for r in outer.requests
                            if r[1].get("run_id") == msg.get("run_id")]
                    outer.requests.append((self.path, msg,
                                           self.headers.get("Content-Type")))
                status = 500 if self.path == "/flaky" and not seen else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def for_run(self, run_id):
        with self.lock:
            return [r for r in self.requests if r[1].get("run_id") == run_id]


class Ctx:
    pass


def make_server(receiver):
    text = CONFIG.replace("@RECEIVER@", str(receiver.port))
    text = text.replace("@CLOSED@", str(free_port()))
    return Server(text, "process")


def setup():
    os.environ["RUNCELL_TEST_HOOK_SECRET"] = SECRET
    os.environ.pop("RUNCELL_TEST_UNSET_SECRET", None)
    os.environ.pop("RUNCELL_TEST_CLOCK_OFFSET_MS", None)
    c = Ctx()
    c.receiver = Receiver()
    c.s = make_server(c.receiver)
    c.s.start()
    c.server_log = c.s.server_log
    return c


def teardown(c):
    c.s.cleanup()
    c.receiver.httpd.shutdown()


def sign(body, secret=SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hook(s, automation, body, signature=None, headers=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = {"Content-Type": "application/json"}
    if signature is not False:
        h["X-Runcell-Signature"] = signature or sign(raw)
    if headers:
        h.update(headers)
    return s.request("POST", "/api/v1/hooks/" + automation, raw=raw,
                     token="", headers=h)


def wait_for(fn, timeout=15.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


# ---- webhooks ----

def test_webhook_good_signature_starts_run(c):
    s = c.s
    r = hook(s, "hooked", {"parameters": {"message": "from the hook"}})
    assert r.status == 202, r
    run = r.json()
    assert run["automation"] == "hooked" and run["user"] == "webhook", run
    done = s.wait(run["id"])
    assert done["state"] == "succeeded", done
    assert "[from the hook]" in s.log_text(run["id"])
    audit = s.get("/api/v1/audit").json()["entries"]
    assert any(e["actor"] == "webhook" and e["action"] == "run.start" and
               e["target"] == run["id"] and
               e["detail"]["trigger"] == "webhook" for e in audit), audit


def test_webhook_refusals(c):
    s = c.s
    body = json.dumps({"parameters": {"message": "x"}}).encode()
    # wrong secret, tampered body, malformed header, missing header
    r = hook(s, "hooked", body, signature=sign(body, "other-secret"))
    assert r.status == 401 and "does not match" in r.json()["error"]["message"], r
    r = hook(s, "hooked", body, signature=sign(body + b" "))
    assert r.status == 401, r
    r = hook(s, "hooked", body, signature="sha256=zz")
    assert r.status == 401, r
    r = hook(s, "hooked", body, signature=sign(body).replace("sha256=", "sha1="))
    assert r.status == 401, r
    r = hook(s, "hooked", body, signature=False)
    assert r.status == 401 and "not signed" in r.json()["error"]["message"], r
    # unknown automation, automation without a webhook
    r = hook(s, "no-such-automation", body)
    assert r.status == 404, r
    r = hook(s, "failing", body)
    assert r.status == 404 and "webhook" in r.json()["error"]["message"], r
    # secret variable not set in the service's environment
    r = hook(s, "unset-hook", b"")
    assert r.status == 503, r
    # a refused request started nothing
    runs = s.get("/api/v1/runs?user=webhook&limit=1000").json()["runs"]
    assert all(x["automation"] == "hooked" for x in runs), runs


def test_webhook_parameters_validated(c):
    s = c.s
    r = hook(s, "hooked", {"parameters": {"message": "x" * 51}})
    assert r.status == 422 and r.json()["error"]["field"] == "message", r
    r = hook(s, "hooked", b"")
    assert r.status == 422 and r.json()["error"]["field"] == "message", r
    r = hook(s, "hooked", {"message": "top-level"})
    assert r.status == 422 and "unknown field" in r.json()["error"]["message"], r
    r = hook(s, "hooked", b"{not json")
    assert r.status == 400, r
    # GET is not a webhook
    r = s.get("/api/v1/hooks/hooked", token="")
    assert r.status == 405, r


# ---- notifications ----

def notifications(s, run_id):
    r = s.get("/api/v1/runs/%s/notifications" % run_id)
    assert r.status == 200, r
    return r.json()["notifications"]


def test_notification_retried_and_recorded(c):
    s = c.s
    run = s.run("failing")
    done = s.wait(run["id"])
    assert done["state"] == "failed" and done["exit_code"] == 3, done
    n = wait_for(lambda: [x for x in notifications(s, run["id"])
                          if x["status"] == "delivered"],
                 what="the notification to be delivered")[0]
    assert n["attempts"] == 2, n
    assert n["url"].endswith("/flaky") and n["last_error"] is None, n
    assert n["delivered_at"], n
    got = c.receiver.for_run(run["id"])
    assert len(got) == 2, got
    path, msg, ctype = got[-1]
    assert ctype == "application/json", ctype
    assert msg["event"] == "run.finished" and msg["state"] == "failed", msg
    assert msg["automation"] == "failing" and msg["exit_code"] == 3, msg
    assert msg["user"] == "admin", msg
    assert msg["started_at"] and msg["finished_at"], msg
    assert msg["url"] == "http://127.0.0.1:%d/api/v1/runs/%s" % (
        s.port, run["id"]), msg


def test_notification_only_for_listed_states(c):
    s = c.s
    ok = s.run("failing", {"code": 0})
    assert s.wait(ok["id"])["state"] == "succeeded"
    on_success = s.run("on-success")
    assert s.wait(on_success["id"])["state"] == "succeeded"
    n = wait_for(lambda: [x for x in notifications(s, on_success["id"])
                          if x["status"] == "delivered"],
                 what="the success notification")[0]
    assert n["attempts"] == 1 and n["url"].endswith("/ok"), n
    time.sleep(0.3)
    assert notifications(s, ok["id"]) == []
    assert c.receiver.for_run(ok["id"]) == []


def test_notification_gives_up_and_records_error(c):
    s = c.s
    run = s.run("unreachable")
    assert s.wait(run["id"])["state"] == "failed"
    n = wait_for(lambda: [x for x in notifications(s, run["id"])
                          if x["status"] == "failed"],
                 what="the notification to give up")[0]
    assert n["attempts"] == 2 and n["last_error"], n
    assert n["delivered_at"] is None, n


def test_notifications_of_unknown_run_404(c):
    r = c.s.get("/api/v1/runs/r0000000000000000/notifications")
    assert r.status == 404, r


# ---- schedules ----

def restart(c, clock_at):
    """Restart the server (kill -9) with its scheduler clock showing
    clock_at (epoch seconds) now."""
    c.s.kill()
    os.environ["RUNCELL_TEST_CLOCK_OFFSET_MS"] = str(
        int((clock_at - time.time()) * 1000))
    try:
        c.s.start()
    finally:
        os.environ.pop("RUNCELL_TEST_CLOCK_OFFSET_MS", None)


def scheduled_runs(s, automation):
    runs = s.get("/api/v1/runs?user=scheduler&limit=1000").json()["runs"]
    return [r for r in runs if r["automation"] == automation]


def schedules(s):
    r = s.get("/api/v1/schedules", token=s.viewer)
    assert r.status == 200, r
    return {x["automation"]: x for x in r.json()["schedules"]}


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def from_iso(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S.000Z"))


def test_schedule_ticks_once_across_restarts(c):
    s = c.s
    s.viewer = s.token("vic", "viewer")
    # The server has been ticking in real time while the other tests ran.
    # B: the minute boundary after its last tick (so that nothing is
    # missed before it), shown two seconds after the restart.
    last = schedules(s)["tick"]["last_fire_at"]
    b = from_iso(last) + 60 if last else (int(time.time()) // 60 + 2) * 60
    restart(c, b - 2)
    n0 = len(scheduled_runs(s, "tick"))
    n0b = len(scheduled_runs(s, "tick-nocatch"))
    runs = wait_for(lambda: len(scheduled_runs(s, "tick")) == n0 + 1 and
                    scheduled_runs(s, "tick"), timeout=10,
                    what="the scheduled run")
    first = runs[0]
    assert s.wait(first["id"])["state"] == "succeeded"
    assert first["parameters"] == {"code": 0}, first
    wait_for(lambda: len(scheduled_runs(s, "tick-nocatch")) == n0b + 1,
             timeout=5, what="the other schedule's run")
    sch = schedules(s)
    assert sch["tick"]["last_fire_at"] == iso(b), sch
    assert sch["tick"]["next_fire_at"] == iso(b + 60), sch
    # Killed right after the tick, back up with the clock before it: the
    # scheduler reaches B again and must not run it twice.
    restart(c, b - 1)
    time.sleep(2.5)
    assert len(scheduled_runs(s, "tick")) == n0 + 1, scheduled_runs(s, "tick")
    assert len(scheduled_runs(s, "tick-nocatch")) == n0b + 1
    # Down for three more ticks: only the latest runs, once, at start-up;
    # the schedule with catch_up: false runs none of them.
    restart(c, b + 3 * 60 + 20)
    runs = wait_for(lambda: len(scheduled_runs(s, "tick")) == n0 + 2 and
                    scheduled_runs(s, "tick"), timeout=10,
                    what="the catch-up run")
    time.sleep(1.0)
    assert len(scheduled_runs(s, "tick")) == n0 + 2, runs
    assert len(scheduled_runs(s, "tick-nocatch")) == n0b + 1
    sch = schedules(s)
    assert sch["tick"]["last_fire_at"] == iso(b + 180), sch
    assert sch["tick"]["next_fire_at"] == iso(b + 240), sch
    assert sch["tick-nocatch"]["last_fire_at"] == iso(b), sch
    audit = s.get("/api/v1/audit").json()["entries"]
    catch = [e for e in audit if e["actor"] == "scheduler" and
             e["detail"] and e["detail"].get("catch_up")]
    assert len(catch) == 1 and catch[0]["target"] == runs[0]["id"], catch


def test_schedules_listed_with_next_fire_time(c):
    s = c.s
    if not hasattr(s, "viewer"):
        s.viewer = s.token("vic", "viewer")
    sch = schedules(s)
    assert set(sch) == {"tick", "tick-nocatch", "nightly"}, sch
    n = sch["nightly"]
    assert n["cron"] == "30 2 * * *" and n["timezone"] == "UTC", n
    assert n["catch_up"] is True and n["last_fire_at"] is None, n
    t = int(time.time())
    want = (t // 86400) * 86400 + 2 * 3600 + 1800
    if want <= t:
        want += 86400
    assert n["next_fire_at"] == iso(want), (n, iso(want))
    assert sch["tick"]["timezone"] == "Europe/Berlin"
    assert sch["tick"]["parameters"] == {"code": 0}
    r = s.get("/api/v1/schedules", token="")
    assert r.status == 401, r


# ---- configuration ----

BAD_CONFIGS = [
    ("schedule: \"61 * * * *\"", 5, "minute field \"61\""),
    ("schedule: {cron: \"0 0 30 2 *\"}", 5, "never fires"),
    ("schedule: {cron: \"* * * *\"}", 5, "needs 5"),
    ("schedule: {cron: \"@daily\", timezone: Mars/Base}", 5,
     "unknown time zone \"Mars/Base\""),
    ("schedule: {cron: \"@daily\", timezone: ../../etc/passwd}", 5,
     "not a tz database name"),
    ("schedule: {timezone: UTC}", 5, "needs `cron`"),
    ("schedule: {cron: \"@daily\", every: 5}", 5, "unknown key `every`"),
    ("schedule: {cron: \"@daily\", parameters: {nope: 1}}", 5,
     "scheduled runs would be refused"),
    ("webhook: {secret_env: lower-case}", 5, "not an environment variable"),
    ("webhook: {}", 5, "needs `secret_env`"),
    ("notify: {url: \"ftp://x\"}", 5, "not an http:// or https:// URL"),
    ("notify: {on: [failed]}", 5, "needs `url`"),
    ("notify: {url: \"http://x\", on: [queued]}", 5, "not a final state"),
]


def test_config_errors_have_file_line(c):
    d = c.s.dir
    for i, (line, lineno, words) in enumerate(BAD_CONFIGS):
        path = os.path.join(d, "bad%d.yaml" % i)
        with open(path, "w") as f:
            f.write("server: {data_dir: %s/bad}\nautomations:\n"
                    "  - id: a\n    command: [/bin/true]\n    %s\n"
                    % (d, line))
        r = subprocess.run([BIN, "check-config", path], capture_output=True,
                           timeout=30)
        err = r.stderr.decode()
        assert r.returncode == 1, (line, err)
        assert "%s:%d:" % (path, lineno) in err, (line, err)
        assert words in err, (line, words, err)


def test_config_good_forms_load(c):
    path = os.path.join(c.s.dir, "good.yaml")
    with open(path, "w") as f:
        f.write("server:\n  data_dir: %s/good\n  notify: {url: \"https://h/x\"}\n"
                "automations:\n"
                "  - id: a\n    command: [/bin/true]\n"
                "    schedule: \"@hourly\"\n"
                "    webhook: {secret_env: A_SECRET}\n"
                "    notify: {on: [failed, lost], timeout: 3s, attempts: 2}\n"
                "  - id: b\n    command: [/bin/true]\n"
                "    schedule: {cron: \"0 9 * * mon-fri\", "
                "timezone: America/New_York, catch_up: false}\n" % c.s.dir)
    r = subprocess.run([BIN, "check-config", path], capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr


if __name__ == "__main__":
    sys.exit(run_tests(globals(), setup, teardown))
