"""Black-box tests of the core: every route, every role, the original
system's routes, bad input of every kind, timeouts and stops killing the
whole tree, the CLI, and nothing lost across a kill -9 of the server.

Usage: python3 tests/blackbox/test_api.py [EXECUTOR]   (default: process)
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, run_tests, BIN  # noqa: E402

EXECUTOR = sys.argv[1] if len(sys.argv) > 1 else "process"
CONFIG = open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "config.yaml")).read()


class Ctx:
    pass


def setup():
    os.environ["RUNCELL_TEST_CANARY"] = "must-not-leak"
    s = Server(CONFIG, EXECUTOR)
    os.makedirs(os.path.join(s.dir, "files"), mode=0o777, exist_ok=True)
    os.chmod(os.path.join(s.dir, "files"), 0o777)
    os.chmod(s.dir, 0o755)
    s.start()
    s.viewer = s.token("vera", "viewer")
    s.operator = s.token("otto", "operator")
    return s


def teardown(s):
    s.cleanup()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def read_pid(path, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as f:
                t = f.read().strip()
            if t:
                return int(t)
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError("no pid written to " + path)


# ---- health, auth ----

def test_healthz_needs_no_token(s):
    r = s.get("/healthz", token="")
    assert r.status == 200 and r.json()["status"] == "ok", r


def test_missing_and_bad_token_401(s):
    r = s.get("/api/v1/runs", token="")
    assert r.status == 401 and r.json()["error"]["code"] == "unauthenticated", r
    r = s.get("/api/v1/runs", token="rct_" + "0" * 48)
    assert r.status == 401, r
    r = s.get("/api/v1/runs", token="", headers={"Authorization": "Basic Zm9v"})
    assert r.status == 401, r


def test_first_start_printed_admin_token(s):
    assert s.admin and s.admin.startswith("rct_"), s.output
    assert s.get("/api/v1/whoami").json() == {"user": "admin", "role": "admin"}


# ---- automations ----

def test_automations_list_and_get(s):
    r = s.get("/api/v1/automations", token=s.viewer)
    assert r.status == 200, r
    ids = [a["id"] for a in r.json()["automations"]]
    assert "echo" in ids and "sleeper" in ids, ids
    a = s.get("/api/v1/automations/echo", token=s.viewer).json()
    names = [p["name"] for p in a["parameters"]]
    assert names == ["message", "count", "loud", "color", "ratio", "folder", "code"], names
    p = {p["name"]: p for p in a["parameters"]}
    assert p["color"]["choices"] == ["red", "green"]
    assert p["count"]["min"] == 1 and p["count"]["max"] == 5
    assert a["can_run"] is False  # viewer
    r = s.get("/api/v1/automations/nope", token=s.viewer)
    assert r.status == 404 and "nope" in r.json()["error"]["message"], r


# ---- runs ----

def test_run_argv_exact_and_no_shell(s):
    msg = "a b; touch /tmp/runcell-pwned $(id) `id` | cat"
    run = s.run("echo", {"message": msg, "count": 2, "loud": True, "color": "green",
                         "ratio": 0.5})
    assert run["state"] == "queued" and run["automation"] == "echo", run
    j = s.wait(run["id"])
    assert j["state"] == "succeeded" and j["exit_code"] == 0, j
    log = s.log_text(run["id"])
    lines = log.split("--- env")[0].splitlines()
    assert lines == ["[--message]", "[%s]" % msg, "[--count]", "[2]", "[--loud]",
                     "[--color]", "[green]", "[--ratio]", "[0.5]"], lines
    assert not os.path.exists("/tmp/runcell-pwned")
    assert j["command"][-9:] == ["--message", msg, "--count", "2", "--loud",
                                 "--color", "green", "--ratio", "0.5"], j["command"]
    for k in ("id", "automation", "user", "parameters", "state", "exit_code",
              "reason", "executor", "created_at", "started_at", "finished_at"):
        assert k in j, k
    assert j["executor"] == EXECUTOR
    assert j["created_at"].endswith("Z") and "T" in j["started_at"], j


def test_false_boolean_and_defaults(s):
    run = s.run("echo", {"message": "x", "loud": False})
    j = s.wait(run["id"])
    assert j["parameters"] == {"message": "x", "count": 1, "loud": False, "color": "red"}, j
    log = s.log_text(run["id"])
    assert "[--loud]" not in log and "[--count]\n[1]" in log, log


def test_clean_environment(s):
    run = s.run("echo", {"message": "env"})
    s.wait(run["id"])
    log = s.log_text(run["id"])
    env = log.split("--- env\n")[1].split("--- cwd")[0].splitlines()
    names = sorted(set(l.split("=", 1)[0] for l in env))
    allowed = {"PATH", "HOME", "LANG", "RUNCELL_RUN_ID", "RUNCELL_AUTOMATION_ID",
               "RUNCELL_USER", "GREETING", "PWD", "SHLVL", "_", "OLDPWD"}
    assert set(names) <= allowed, names
    assert "RUNCELL_RUN_ID=%s" % run["id"] in env
    assert "RUNCELL_USER=admin" in env and "GREETING=hello there" in env
    assert "must-not-leak" not in log


def test_exit_code_recorded(s):
    run = s.run("exit", {"code": 7})
    j = s.wait(run["id"])
    assert j["state"] == "failed" and j["exit_code"] == 7, j
    assert "exiting with 7" in s.log_text(run["id"])


def test_missing_program_fails_clearly(s):
    run = s.run("missing-program")
    j = s.wait(run["id"])
    assert j["state"] == "failed", j
    assert "/nonexistent/program" in (j["reason"] or ""), j


def test_timeout_kills_whole_tree(s):
    pidfile = os.path.join(s.dir, "files", "tree-timeout.pid")
    run = s.run("short-timeout", {"pidfile": pidfile})
    j = s.wait(run["id"], timeout=20)
    assert j["state"] == "timed_out", j
    assert "timed out" in j["reason"], j
    if EXECUTOR == "process":
        pid = read_pid(pidfile)
        deadline = time.time() + 3
        while pid_alive(pid) and time.time() < deadline:
            time.sleep(0.05)
        assert not pid_alive(pid), "grandchild %d survived the timeout" % pid


def test_stop_kills_whole_tree_and_conflicts(s):
    pidfile = os.path.join(s.dir, "files", "tree-stop.pid")
    run = s.run("sleeper", {"seconds": 60, "pidfile": pidfile})
    s.wait(run["id"], states=("running",))
    time.sleep(0.3)
    r = s.post("/api/v1/runs/%s/stop" % run["id"], {}, token=s.operator)
    assert r.status == 202, r
    j = s.wait(run["id"], timeout=15)
    assert j["state"] == "cancelled", j
    if EXECUTOR == "process":
        pid = read_pid(pidfile)
        time.sleep(0.2)
        assert not pid_alive(pid), "grandchild survived stop"
    r = s.post("/api/v1/runs/%s/stop" % run["id"], {})
    assert r.status == 409 and r.json()["error"]["code"] == "conflict", r
    r = s.post("/api/v1/runs/rdoesnotexist0000/stop", {})
    assert r.status == 404, r


def test_stop_escalates_to_sigkill(s):
    run = s.run("sleeper", {"seconds": 60, "ignore_term": True})
    s.wait(run["id"], states=("running",))
    t0 = time.time()
    assert s.post("/api/v1/runs/%s/stop" % run["id"], {}).status == 202
    j = s.wait(run["id"], timeout=15)
    assert j["state"] == "cancelled", j
    assert time.time() - t0 < 8, "SIGKILL after the 1s grace took too long"


def test_log_offsets_and_headers(s):
    run = s.run("exit", {"code": 0})
    s.wait(run["id"])
    r = s.get("/api/v1/runs/%s/log" % run["id"])
    assert r.status == 200 and r.headers["X-Run-Finished"] == "true", r.headers
    size = int(r.headers["X-Log-Size"])
    assert size == len(r.body) and size > 0
    r2 = s.get("/api/v1/runs/%s/log?offset=3" % run["id"])
    assert r2.body == r.body[3:]
    assert int(r2.headers["X-Log-Next-Offset"]) == size
    r3 = s.get("/api/v1/runs/%s/log?offset=%d" % (run["id"], size + 10))
    assert r3.status == 200 and r3.body == b""
    r4 = s.get("/api/v1/runs/%s/log?offset=-1" % run["id"])
    assert r4.status == 400, r4


def test_log_cap_marker(s):
    run = s.run("flood", {"bytes": 1000000})
    j = s.wait(run["id"], timeout=30)
    assert j["state"] == "succeeded", j
    log = s.log_text(run["id"])
    assert "log truncated" in log, log[-200:]
    assert len(log) < 70 * 1024, len(log)


def test_list_filters_and_paging(s):
    ids = [s.run("exit", {"code": 0})["id"] for _ in range(5)]
    for i in ids:
        s.wait(i)
    r = s.get("/api/v1/runs?automation=exit&limit=2", token=s.viewer).json()
    assert len(r["runs"]) == 2 and r["next_cursor"], r
    assert r["runs"][0]["id"] == ids[-1] and r["runs"][1]["id"] == ids[-2]
    r2 = s.get("/api/v1/runs?automation=exit&limit=2&cursor=" + r["next_cursor"]).json()
    assert r2["runs"][0]["id"] == ids[-3], r2
    r3 = s.get("/api/v1/runs?state=failed").json()
    assert all(x["state"] == "failed" for x in r3["runs"])
    r4 = s.get("/api/v1/runs?user=otto").json()
    assert all(x["user"] == "otto" for x in r4["runs"])
    for bad in ("state=bogus", "limit=0", "limit=abc", "cursor=-4"):
        assert s.get("/api/v1/runs?" + bad).status == 400, bad


# ---- validation ----

def expect_422(s, params, field, words, automation="echo"):
    r = s.post("/api/v1/runs", {"automation": automation, "parameters": params})
    assert r.status == 422, (params, r)
    e = r.json()["error"]
    assert e.get("field") == field, (params, e)
    for w in words:
        assert w in e["message"], (w, e)


def test_validation_errors_name_the_parameter(s):
    os.makedirs(os.path.join(s.dir, "files", "sub"), exist_ok=True)
    expect_422(s, {}, "message", ["required"])
    expect_422(s, {"message": "x", "bogus": 1}, "bogus", ["unknown"])
    expect_422(s, {"message": "x", "count": "many"}, "count", ["integer"])
    expect_422(s, {"message": "x", "count": 9}, "count", ["5"])
    expect_422(s, {"message": "x", "count": 1.5}, "count", ["integer"])
    expect_422(s, {"message": "x", "color": "blue"}, "color", ["red", "green"])
    expect_422(s, {"message": "x", "ratio": 2}, "ratio", [])
    expect_422(s, {"message": "x", "loud": "maybe"}, "loud", [])
    expect_422(s, {"message": "x" * 101}, "message", ["100"])
    expect_422(s, {"message": "x", "code": "ab-1"}, "code", [])
    expect_422(s, {"message": "x", "code": "ABC-1x"}, "code", [])
    expect_422(s, {"message": "x", "folder": "/etc"}, "folder", [])
    expect_422(s, {"message": "x", "folder": s.dir + "/files/../data"}, "folder", [])
    link = os.path.join(s.dir, "files", "escape")
    if not os.path.islink(link):
        os.symlink("/etc", link)
    expect_422(s, {"message": "x", "folder": link}, "folder", [])
    # Good values of every type pass, strings coerced.
    r = s.post("/api/v1/runs", {"automation": "echo", "parameters": {
        "message": "ok", "count": "3", "loud": "true", "ratio": "0.25",
        "folder": s.dir + "/files/sub", "code": "ABC-42"}})
    assert r.status == 202, r
    assert r.json()["parameters"]["count"] == 3


def test_bad_requests_get_clear_errors(s):
    r = s.request("POST", "/api/v1/runs", raw=b"{not json",
                  headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.json()["error"]["code"] == "bad_json", r
    r = s.request("POST", "/api/v1/runs", raw=b"automation=echo",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 415, r
    r = s.request("POST", "/api/v1/runs", raw=b"[1,2]",
                  headers={"Content-Type": "application/json"})
    assert r.status == 400, r
    r = s.post("/api/v1/runs", {"automation": 5})
    assert r.status == 422, r
    r = s.post("/api/v1/runs", {"automation": "echo", "parameters": [1]})
    assert r.status == 422, r
    r = s.post("/api/v1/runs", {"automation": "nope"})
    assert r.status == 404, r
    r = s.post("/api/v1/runs", {"automation": "echo", "extra": 1})
    assert r.status == 422, r
    big = b'{"automation":"echo","parameters":{"message":"' + b"x" * 100000 + b'"}}'
    r = s.request("POST", "/api/v1/runs", raw=big,
                  headers={"Content-Type": "application/json"})
    assert r.status == 413 and r.json()["error"]["code"] == "too_large", r
    r = s.get("/api/v1/nothing-here")
    assert r.status == 404 and "no such route" in r.json()["error"]["message"], r
    r = s.request("DELETE", "/api/v1/runs")
    assert r.status == 405, r
    r = s.post("/api/v1/runs", {"automation": "echo", "parameters": {"message": "a\u0000b"}})
    assert r.status in (400, 422), r
    assert s.get("/healthz").status == 200


def test_hostile_connections_do_not_crash(s):
    # A huge header, garbage bytes, a half-sent body, an early disconnect.
    r = s.get("/api/v1/runs", headers={"X-Big": "y" * 200000})
    assert r.status in (400, 413, 431), r
    for payload in (b"\x00\xff\x13garbage\r\n\r\n", b"GET / HTTP/1.1\r\nHost",
                    b"POST /api/v1/runs HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"a\":"):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        c.sendall(payload)
        c.close()
    assert s.get("/healthz").status == 200


# ---- roles ----

def test_roles(s):
    assert s.post("/api/v1/runs", {"automation": "exit"}, token=s.viewer).status == 403
    assert s.get("/api/v1/runs", token=s.viewer).status == 200
    r = s.post("/api/v1/runs", {"automation": "exit"}, token=s.operator)
    assert r.status == 202 and r.json()["user"] == "otto", r
    assert s.post("/api/v1/runs", {"automation": "admin-only"}, token=s.operator).status == 403
    assert s.post("/api/v1/runs", {"automation": "admin-only"}).status == 202
    for path in ("/api/v1/tokens", "/api/v1/users", "/api/v1/audit"):
        assert s.get(path, token=s.operator).status == 403, path
        assert s.get(path, token=s.viewer).status == 403, path
        assert s.get(path).status == 200, path
    run = s.run("sleeper", {"seconds": 30})
    assert s.post("/api/v1/runs/%s/stop" % run["id"], {}, token=s.viewer).status == 403
    assert s.post("/api/v1/runs/%s/stop" % run["id"], {}, token=s.operator).status == 202
    s.wait(run["id"])


def test_tokens_api_and_revoke(s):
    r = s.post("/api/v1/tokens", {"user": "tess", "role": "operator", "label": "ci"})
    assert r.status == 201, r
    tok, tid = r.json()["token"], r.json()["id"]
    assert s.get("/api/v1/whoami", token=tok).json()["user"] == "tess"
    lst = s.get("/api/v1/tokens").json()["tokens"]
    assert any(t["id"] == tid and t["label"] == "ci" for t in lst)
    assert all("token" not in t and "hash" not in t for t in lst)
    assert s.request("DELETE", "/api/v1/tokens/%d" % tid).status == 200
    assert s.get("/api/v1/whoami", token=tok).status == 401
    assert s.request("DELETE", "/api/v1/tokens/999999").status == 404
    assert s.post("/api/v1/tokens", {"user": "bad name!"}).status == 422
    assert s.post("/api/v1/users", {"name": "uma", "role": "superuser"}).status == 422
    assert s.post("/api/v1/users", {"name": "uma", "role": "viewer"}).status == 200


def test_audit_records_actions(s):
    run = s.run("sleeper", {"seconds": 30}, token=s.operator)
    s.post("/api/v1/runs/%s/stop" % run["id"], {}, token=s.operator)
    s.wait(run["id"])
    entries = s.get("/api/v1/audit?limit=50").json()["entries"]
    acts = [(e["actor"], e["action"], e["target"]) for e in entries]
    assert ("otto", "run.start", run["id"]) in acts, acts[:5]
    assert ("otto", "run.stop", run["id"]) in acts, acts[:5]


# ---- the original system's routes ----

def test_legacy_routes(s):
    r = s.post("/api/run", {"automation_id": "sleeper", "parameters": {"seconds": "30"}})
    assert r.status == 200, r
    j = r.json()
    assert j["success"] is True and j["task_arn"] and j["execution_mode"] == EXECUTOR, j
    assert j["status"] in ("PROVISIONING", "PENDING", "RUNNING"), j
    for k in ("success", "message", "task_arn", "status", "execution_mode"):
        assert k in j
    tid = j["task_arn"]
    s.wait(tid, states=("running",))
    st = s.get("/api/task/%s/status" % tid).json()
    assert st["status"] == "RUNNING" and st["started_at"] and st["stopped_at"] is None, st
    assert set(["status", "started_at", "stopped_at", "exit_code"]) <= set(st)
    r = s.post("/api/task/%s/stop" % tid, {})
    assert r.status == 200 and r.json()["success"] is True, r
    s.wait(tid)
    st = s.get("/api/task/%s/status" % tid).json()
    assert st["status"] == "STOPPED" and st["stopped_at"], st
    r = s.post("/api/run", {"automation_id": "nope"})
    assert r.status == 404 and r.json()["success"] is False and r.json()["message"], r
    r = s.post("/api/run", {"automation_id": "echo", "parameters": {}})
    assert r.status == 422 and r.json()["success"] is False, r
    assert s.get("/api/task/nope/status").status == 404


# ---- CLI ----

def test_cli(s):
    r = s.cli("run", "exit", "--code", "3", "--wait")
    assert r.returncode == 3, r
    assert b"failed" in r.stdout, r.stdout
    r = s.cli("run", "echo", "--message", "hi there", "--loud", "--follow")
    assert r.returncode == 0, r
    assert b"[hi there]" in r.stdout and b"[--loud]" in r.stdout, r.stdout
    r = s.cli("run", "echo", "--message=x")
    assert r.returncode == 0 and r.stdout.strip().startswith(b"r"), r
    rid = r.stdout.decode().strip()
    time.sleep(0.5)
    r = s.cli("status", rid)
    assert r.returncode == 0 and rid.encode() in r.stdout, r
    r = s.cli("logs", "-f", rid)
    assert r.returncode == 0 and b"[x]" in r.stdout, r
    r = s.cli("ls", "--automation", "echo", "--limit", "3")
    assert r.returncode == 0 and rid.encode() in r.stdout, r
    r = s.cli("run", "echo", "--bogus", "1")
    assert r.returncode != 0 and b"bogus" in r.stderr, r
    r = s.cli("run", "sleeper", "--seconds", "30")
    rid = r.stdout.decode().strip()
    r = s.cli("stop", rid)
    assert r.returncode == 0, r
    assert s.wait(rid)["state"] == "cancelled"
    r = s.cli("ls", token="rct_bad")
    assert r.returncode != 0 and b"token" in r.stderr, r
    r = s.cli("status", "rnope")
    assert r.returncode != 0 and b"no run" in r.stderr, r


def test_check_config_reports_file_line(s):
    bad = os.path.join(s.dir, "bad.yaml")
    with open(bad, "w") as f:
        f.write("server:\n  listen: 127.0.0.1:1\n  bogus_key: 1\nautomations: []\n")
    r = subprocess.run([BIN, "check-config", bad], capture_output=True)
    assert r.returncode == 1 and b"bad.yaml:3" in r.stderr, r
    r = subprocess.run([BIN, "check-config", s.config_path], capture_output=True)
    assert r.returncode == 0 and b"OK" in r.stdout, r


# ---- nothing lost ----

def test_burst_of_runs_all_recorded(s):
    ids = []
    errors = []

    def submit(n):
        for _ in range(n):
            try:
                ids.append(s.run("exit", {"code": 0}, token=s.operator)["id"])
            except Exception as e:  # noqa: BLE001
                errors.append(e)
    threads = [threading.Thread(target=submit, args=(10,)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(ids) == 50
    for i in ids:
        assert s.wait(i, timeout=60)["state"] == "succeeded", i


def test_kill9_restart_loses_nothing(s):
    runs = [s.run("sleeper", {"seconds": 2}) for _ in range(3)]
    for r in runs:
        s.wait(r["id"], states=("running",))
    queued = s.run("exit", {"code": 5})
    s.kill(signal.SIGKILL)
    time.sleep(0.5)
    s.start()
    for r in runs:
        j = s.wait(r["id"], timeout=30)
        assert j["state"] == "succeeded", j
        log = s.log_text(r["id"])
        assert log.startswith("started\n") and log.endswith("done\n"), log[-100:]
        assert log.count("tick ") == 20, log.count("tick ")
    assert s.wait(queued["id"])["exit_code"] == 5


if __name__ == "__main__":
    sys.exit(run_tests(globals(), setup, teardown))
