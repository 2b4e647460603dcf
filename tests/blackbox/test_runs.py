"""The run tests every executor must pass unchanged: success with its log,
a failing exit code, runcell's timeout, stop, the log API, and a kill -9 of
runcelld mid-run followed by a restart that records the true final state
with the complete log.

Usage: python3 tests/blackbox/test_runs.py EXECUTOR   (process, sandbox, slurm)
For slurm, run it under tests/slurm/run.sh, which brings a real cluster up.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, run_tests  # noqa: E402

EXECUTOR = sys.argv[1] if len(sys.argv) > 1 else "process"

CONFIG = """
server:
  data_dir: @DIR@/data
  executor: @EXECUTOR@
  max_concurrent_runs: 16
  stop_grace: 1s
executors:
  slurm:
    output_dir: @DIR@/slurm
    poll_interval: 200ms
automations:
  - id: exit
    command: [/bin/sh, "@SCRIPTS@/exit.sh"]
    parameters:
      - {name: code, type: integer, min: 0, max: 255, default: 0}
  - id: sleeper
    command: [/bin/sh, "@SCRIPTS@/sleeper.sh"]
    resources: {timeout: 60s, memory: 128M, cpu: 1}
    parameters:
      - {name: seconds, type: integer, min: 0, max: 600, default: 1}
  - id: slow
    command: [/bin/sh, "@SCRIPTS@/sleeper.sh"]
    resources: {timeout: 3s}
    parameters:
      - {name: seconds, type: integer, default: 60}
"""


def setup():
    s = Server(CONFIG, EXECUTOR)
    os.makedirs(os.path.join(s.dir, "slurm"), exist_ok=True)
    os.chmod(s.dir, 0o755)
    return s.start()


def teardown(s):
    s.cleanup()


def test_success_and_log(s):
    run = s.run("sleeper", {"seconds": 1})
    j = s.wait(run["id"], timeout=60)
    assert j["state"] == "succeeded" and j["exit_code"] == 0, j
    assert j["executor"] == EXECUTOR, j
    log = s.log_text(run["id"])
    assert log.startswith("started\n") and log.endswith("done\n"), log
    assert log.count("tick ") == 10, log


def test_failure_exit_code(s):
    run = s.run("exit", {"code": 4})
    j = s.wait(run["id"], timeout=60)
    assert j["state"] == "failed" and j["exit_code"] == 4, j
    assert "exiting with 4" in s.log_text(run["id"])


def test_timeout(s):
    run = s.run("slow")
    j = s.wait(run["id"], timeout=90)
    assert j["state"] == "timed_out", j
    assert "tick 0" in s.log_text(run["id"])


def test_stop(s):
    run = s.run("sleeper", {"seconds": 120})
    s.wait(run["id"], states=("running",), timeout=60)
    assert s.post("/api/v1/runs/%s/stop" % run["id"], {}).status == 202
    j = s.wait(run["id"], timeout=60)
    assert j["state"] == "cancelled", j


def test_log_offsets(s):
    run = s.run("exit", {"code": 0})
    s.wait(run["id"], timeout=60)
    whole = s.get("/api/v1/runs/%s/log" % run["id"])
    part = s.get("/api/v1/runs/%s/log?offset=4" % run["id"])
    assert part.body == whole.body[4:] and whole.headers["X-Run-Finished"] == "true"


def test_restart_mid_run(s):
    runs = [s.run("sleeper", {"seconds": 3}) for _ in range(2)]
    for r in runs:
        s.wait(r["id"], states=("running",), timeout=60)
    s.kill(signal.SIGKILL)
    time.sleep(0.5)
    s.start()
    for r in runs:
        j = s.wait(r["id"], timeout=90)
        assert j["state"] == "succeeded", j
        log = s.log_text(r["id"])
        assert log.startswith("started\n") and log.endswith("done\n"), log
        assert log.count("tick ") == 30, log.count("tick ")


if __name__ == "__main__":
    sys.exit(run_tests(globals(), setup, teardown))
