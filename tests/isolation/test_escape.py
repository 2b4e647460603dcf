"""Escape and abuse tests of the sandbox executor.

Each test submits a misbehaving script as an automation to the REAL server
(build/runcell, executor sandbox) and asserts, from the host, that the cell
held and that the server kept answering.  The abuse programs live in
tests/isolation/progs/; build/cellprobe reports what a cell looks like from
the inside.  See tests/isolation/README.md for what each test proves.

Usage: python3 tests/isolation/test_escape.py      (as root, Linux)
       TEST_ONLY=fork python3 tests/isolation/test_escape.py
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "blackbox"))
from harness import Server, run_tests, ROOT  # noqa: E402

PROGS = os.path.join(HERE, "progs")
BUILD = os.path.join(ROOT, "build")
PY = "/usr/bin/python3"           # the system's, readable by the run user
RUN_UID = 64000                   # run_user "runcell" without a passwd entry
MB = 1 << 20


def config_text(name="config.yaml"):
    text = open(os.path.join(HERE, name)).read()
    return (text.replace("@PROGS@", PROGS).replace("@BUILD@", BUILD)
            .replace("@PY@", PY))


def new_server(text):
    # Under /var/tmp (visible in cells, read-only), not /tmp (private in
    # cells): the data folder must be kept out by the cell's hiding, not
    # by accident.  The "runcell-bb-" prefix lets Server.cleanup find
    # leftover supervisors.
    d = tempfile.mkdtemp(prefix="runcell-bb-iso-", dir="/var/tmp")
    os.chmod(d, 0o755)
    return Server(text, "sandbox", keep_dir=d)


class Ctx:
    pass


def setup():
    s = new_server(config_text())
    secrets = os.path.join(s.dir, "secrets.env")
    with open(secrets, "w") as f:
        f.write("ISOLATION_SECRET=rct_%s\n" % ("5e" * 24))
    os.chmod(secrets, 0o600)
    os.makedirs(os.path.join(s.dir, "suid"))
    os.chmod(os.path.join(s.dir, "suid"), 0o777)
    with open(os.path.join(s.dir, "visible.txt"), "w") as f:
        f.write("a file next to the service's, not hidden\n")
    s.start()
    s.operator = s.token("otto", "operator")
    s.cgname = runtime_cgroup(s)
    # Open every permission on the service's own files: only the cell's
    # hiding may keep them out (each layer is tested alone).
    data = os.path.join(s.dir, "data")
    for root, dirs, files in os.walk(data):
        if root == data:
            dirs.remove("cellrt")     # the runtime's own (its hiding file)
        for x in dirs:
            os.chmod(os.path.join(root, x), 0o755)
        for x in files:
            try:
                os.chmod(os.path.join(root, x), 0o644)
            except OSError:
                pass
    os.chmod(data, 0o755)
    os.chmod(s.config_path, 0o644)
    return s


def teardown(s):
    s.cleanup()


# ---- host-side helpers ----

def runtime_cgroup(s):
    """The name of the server's set of cell cgroups (runcell-XXXXXXXX):
    the runtime records "name -> state folder" in /run/runcell."""
    state = os.path.realpath(os.path.join(s.dir, "data", "cellrt"))
    deadline = time.time() + 5
    while time.time() < deadline:
        for n in os.listdir("/run/runcell"):
            try:
                with open(os.path.join("/run/runcell", n)) as f:
                    if f.read().strip() == state:
                        return n
            except OSError:
                pass
        time.sleep(0.05)
    raise AssertionError("no cgroup set registered for " + state)


def cell_procs(s):
    """Host pids of every process in one of this server's cell cgroups."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cgroup" % d) as f:
                cg = f.read()
            with open("/proc/%s/stat" % d) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "/%s/" % s.cgname in cg and state != "Z":
            out.append(int(d))
    return out


def run_user_procs(s):
    """Processes of the run user in this server's cells (other suites may
    run cells of their own on this host at the same time)."""
    out = []
    for pid in cell_procs(s):
        try:
            if os.stat("/proc/%d" % pid).st_uid == RUN_UID:
                out.append(pid)
        except OSError:
            pass
    return out


def slot_procs(s):
    """Pids listed in the cgroup.procs of every slot, every hierarchy."""
    out = {}
    for base in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu",
                 "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        top = os.path.join(base, s.cgname)
        if not os.path.isdir(top):
            continue
        for slot in os.listdir(top):
            p = os.path.join(top, slot, "cgroup.procs")
            if os.path.isfile(p):
                with open(p) as f:
                    pids = f.read().split()
                if pids:
                    out[p] = pids
    return out


def assert_no_leftovers(s, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        left, slots = run_user_procs(s), slot_procs(s)
        if not left and not slots:
            return
        time.sleep(0.05)
    raise AssertionError("processes left after the run: %r, slots %r" % (
        [(p, cmdline(p)) for p in left], slots))


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


def assert_healthy(s, limit=1.0):
    t0 = time.time()
    r = s.get("/healthz", token="", timeout=10)
    dt = time.time() - t0
    assert r.status == 200 and r.json()["status"] == "ok", r
    assert dt < limit, "healthz took %.2fs" % dt
    return dt


def result_of(s, run_id):
    log = s.log_text(run_id)
    for line in log.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError("no RESULT line in the log: %r" % log[-2000:])


def probe_json(s, run_id):
    log = s.log_text(run_id)
    start = log.find("{")
    assert start >= 0, log
    return json.loads(log[start:log.rfind("}") + 1])


def run_ok(s, automation, params=None, timeout=60):
    j = s.wait(s.run(automation, params or {})["id"], timeout=timeout)
    assert j["state"] == "succeeded", (j, s.log_text(j["id"])[-2000:])
    return j


# ---- the setup itself ----

def test_cellprobe_sees_a_proper_cell(s):
    j = run_ok(s, "probe", {"check": "/"})
    p = probe_json(s, j["id"])
    assert p["pid"] == 2 and p["ppid"] == 1, p   # pid 1 is the cell's init
    assert p["procs"] == [1, 2], p["procs"]       # a fresh /proc: only us
    assert (p["uid"], p["euid"], p["gid"]) == (RUN_UID, RUN_UID, RUN_UID), p
    assert p["groups"] == [], p
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(p[k], 16) == 0, (k, p[k])
    assert p["NoNewPrivs"] == 1 and p["Seccomp"] == 2, p
    assert p["hostname"] == "runcell", p
    assert p["interfaces"] == [{"name": "lo", "up": False}], p["interfaces"]
    mounts = {m["dir"]: m for m in p["mounts"]}
    root = mounts["/"]
    assert root["opts"].split(",")[0] == "ro" and "nosuid" in root["opts"], root
    assert mounts["/proc"]["fs"] == "proc", mounts.get("/proc")
    assert mounts["/tmp"]["fs"] == "tmpfs" and mounts["/dev"]["fs"] == "tmpfs"
    assert p["paths"]["/"]["write"] == "EROFS", p["paths"]
    assert p["cwd"] in ("/work", "/run/work"), p["cwd"]
    assert p["limits"] == {"memory": 64 * MB, "pids": 32,
                           "cpu_quota": 50000}, p["limits"]
    assert p["rlimits"]["core"] == 0 and p["rlimits"]["nofile"] == 1024, p
    assert 0 < p["rlimits"]["fsize"] <= 1 << 30, p["rlimits"]
    assert p["envc"] <= 10, p["envc"]
    assert int(p["SigBlk"], 16) == 0 and int(p["SigIgn"], 16) == 0, p
    assert any(s.cgname in c for c in p["cgroups"]), p["cgroups"]


# ---- resources ----

def test_fork_bomb_held_by_pids_limit(s):
    run = s.run("forkbomb")
    s.wait(run["id"], states=("running",))
    peak, worst = 0, 0.0
    deadline = time.time() + 2.5
    while time.time() < deadline:
        peak = max(peak, len(cell_procs(s)))
        worst = max(worst, assert_healthy(s))
        time.sleep(0.1)
    j = s.wait(run["id"], timeout=30)
    assert j["state"] in ("timed_out", "failed"), j
    assert peak > 8, "the bomb never went off (%d processes)" % peak
    assert peak <= 32, "pids limit 32 exceeded: %d processes" % peak
    print("     fork bomb: at most %d processes in the cell; /healthz answered "
          "in %.0f ms at worst meanwhile" % (peak, worst * 1000))
    assert_no_leftovers(s)
    assert_healthy(s)
    # Measured: how many processes a cell may start.
    j = run_ok(s, "probe", {"fork": 100})
    f = probe_json(s, j["id"])["fork"]
    assert 20 <= f["ok"] <= 30 and f["error"] == "EAGAIN", f
    assert_no_leftovers(s)


def test_memory_hog_killed_and_recorded(s):
    j = s.wait(s.run("memhog", {"mb": 500})["id"], timeout=60)
    log = s.log_text(j["id"])
    assert j["state"] == "failed", (j, log[-500:])
    assert j["reason"] == "memory limit exceeded", j
    assert "did not hold" not in log, log[-500:]
    peak = j["usage"]["peak_memory_bytes"]
    assert 32 * MB <= peak <= 64 * MB + MB, peak
    assert_healthy(s)
    assert_no_leftovers(s)


def test_cpu_hog_throttled_to_quota(s):
    j = run_ok(s, "cpuhog")
    spin = probe_json(s, j["id"])["spin"]
    cpu, wall = j["usage"]["cpu_seconds"], spin["wall"]
    ratio = cpu / wall
    print("     cpu hog: %.3f CPU s in %.3f s wall = %.2f of a core "
          "(quota 0.2; the program itself saw %.3f)" % (
              cpu, wall, ratio, spin["cpu"]))
    assert wall >= 1.9, spin
    # At most the quota (with some slack); the lower bound only says it ran
    # (a busy host may give it less than its quota).
    assert 0 < ratio <= 0.3, "CPU share %.2f, quota 0.2" % ratio
    assert abs(spin["cpu"] - cpu) < 0.1, (spin, j["usage"])


def test_fill_tmp_and_file_size_limit(s):
    j = run_ok(s, "fill", {"mb": 200})
    r = result_of(s, j["id"])
    # /tmp and /dev/shm: tmpfs capped at half the 64M memory limit.
    for d in ("/tmp", "/dev/shm"):
        assert r[d]["result"] == "ENOSPC" and r[d]["mb"] <= 32, r
    assert r["fsize_limit"] == 1 << 30, r
    assert r["past_fsize"] == "EFBIG", r
    assert_healthy(s)
    assert_no_leftovers(s)


def test_endless_output_capped_and_stoppable(s):
    cap = 64 * 1024
    run = s.run("stream")
    s.wait(run["id"], states=("running",))
    for _ in range(10):
        assert_healthy(s)
        time.sleep(0.1)
    r = s.post("/api/v1/runs/%s/stop" % run["id"], {}, token=s.operator)
    assert r.status == 202, r
    j = s.wait(run["id"], timeout=15)
    assert j["state"] == "cancelled", j
    log = s.log_text(run["id"])
    assert log.startswith("stream starting\n"), log[:100]
    assert "[runcell:" in log[cap - 200:], log[cap - 200:]
    assert cap <= len(log) <= cap + 200, "log of %d bytes, cap %d" % (len(log), cap)
    # The same stream with a timeout ends by itself.
    j = s.wait(s.run("stream-timeout")["id"], timeout=20)
    assert j["state"] == "timed_out", j
    assert len(s.log_text(j["id"])) <= cap + 200
    assert_healthy(s)
    assert_no_leftovers(s)


def test_double_forked_grandchild_dies_with_cell(s):
    run = s.run("doublefork", {"seconds": 1.5})
    s.wait(run["id"], states=("running",))
    # While the run lasts, the grandchild is there (host side).
    deadline = time.time() + 5
    seen = []
    while time.time() < deadline and not seen:
        seen = [(p, start_time(p)) for p in run_user_procs(s)
                if cmdline(p).startswith("sleep 600")]
        time.sleep(0.05)
    assert seen, "the grandchild never showed up: %r" % [
        (p, cmdline(p)) for p in cell_procs(s)]
    j = s.wait(run["id"], timeout=20)
    assert j["state"] == "succeeded", j
    assert result_of(s, run["id"])["parent_gone"]
    for pid, born in seen:
        deadline = time.time() + 3
        while start_time(pid) == born and time.time() < deadline:
            time.sleep(0.05)
        assert start_time(pid) != born, "grandchild %d outlived its cell" % pid
    assert_no_leftovers(s)


def start_time(pid):
    """The process's start time (to tell a reused pid), None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


# ---- what a cell may read and write ----

def test_service_files_and_tokens_unreadable(s):
    data = os.path.join(s.dir, "data")
    runs = sorted(os.listdir(os.path.join(data, "cells")))
    secret_paths = [
        data, os.path.join(data, "runcell.db"), os.path.join(data, "logs"),
        os.path.join(data, "cells"), s.config_path,
        os.path.join(s.dir, "secrets.env"),
    ]
    if runs:
        secret_paths += [os.path.join(data, "cells", runs[0], "status.json"),
                         os.path.join(data, "logs", runs[0] + ".log")]
    # The paths really are readable by the run user outside a cell (only
    # the hiding stops it), except the 0600 secrets file.
    for p in secret_paths[:5]:
        assert os.stat(p).st_mode & 0o004, p
    control = os.path.join(s.dir, "visible.txt")
    j = run_ok(s, "snoop", {
        "paths": json.dumps(secret_paths + [control]),
        "walk": json.dumps([s.dir, "/etc", "/run", "/tmp", "."]),
        "pid": s.proc.pid})
    r = result_of(s, j["id"])
    assert r["paths"][control] == "ok", r       # the folder is reachable
    for p in secret_paths:
        assert r["paths"][p] in ("ENOENT", "EACCES", "EPERM"), (p, r["paths"][p])
    print("     " + json.dumps({os.path.relpath(p, s.dir): [r["paths"][p], r["sizes"][p]]
                                    for p in secret_paths}))
    # Not even a size shows: files are covered by an empty file, folders
    # by an empty tmpfs.
    for p in secret_paths:
        assert r["sizes"][p] in (0, "ENOENT", "EACCES") or \
            os.path.isdir(p), (p, r["sizes"][p])
    for leaf in ("environ", "cmdline", "mem"):
        assert r["paths"]["/proc/%d/%s" % (s.proc.pid, leaf)] == "ENOENT", r
    assert r["tokens"] == [], r["tokens"]
    assert r["files_read"] > 10, r          # the walk did read things
    assert s.admin not in s.log_text(j["id"])


def test_writes_outside_work_dir_refused(s):
    allowed = [".", "/tmp", "/dev/shm"]
    refused = ["/", "/etc", "/usr", "/usr/local/bin", "/var", "/var/tmp",
               "/root", ROOT, os.path.join(ROOT, "tests"), s.dir,
               "/sys/fs/cgroup", "/run"]
    j = run_ok(s, "write", {"paths": json.dumps(allowed + refused)})
    r = result_of(s, j["id"])
    for d in allowed:
        assert r[d] == "ok", (d, r)
    for d in refused:
        assert r[d] in ("EROFS", "EACCES"), (d, r[d])
    for d in refused:
        left = [f for f in os.listdir(d) if f.startswith("runcell-isolation-write")]
        assert not left, (d, left)
    # The work folder's file is the run's (on the host, in data/work).
    work = os.path.join(s.dir, "data", "work", j["id"])
    if os.path.isdir(work):
        assert any(f.startswith("runcell-isolation-write") for f in os.listdir(work))


# ---- network ----

class Listener:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            c.close()

    def close(self):
        self.sock.close()


def test_network_unreachable_unless_asked(s):
    lis = Listener()
    try:
        hp = "127.0.0.1:%d" % lis.port
        # The listener works (from the host).
        socket.create_connection(("127.0.0.1", lis.port), timeout=5).close()
        time.sleep(0.1)
        assert lis.accepted == 1
        j = run_ok(s, "probe", {"tcp": hp})
        p = probe_json(s, j["id"])
        assert p["tcp"] in ("ENETUNREACH", "EHOSTUNREACH"), p["tcp"]
        assert p["interfaces"] == [{"name": "lo", "up": False}], p["interfaces"]
        time.sleep(0.1)
        assert lis.accepted == 1, "the cell reached the host's listener"
        # With isolation.network: true the same connection goes through.
        j = run_ok(s, "probe-net", {"tcp": hp})
        assert probe_json(s, j["id"])["tcp"] == "ok"
        deadline = time.time() + 3
        while lis.accepted < 2 and time.time() < deadline:
            time.sleep(0.02)
        assert lis.accepted == 2, lis.accepted
    finally:
        lis.close()


# ---- processes ----

def test_host_processes_and_other_runs_invisible(s):
    marker = "iso-marker-%d" % os.getpid()
    other = s.run("sleeper", {"seconds": 20, "marker": marker})
    s.wait(other["id"], states=("running",))
    deadline = time.time() + 5
    while time.time() < deadline and not any(
            marker in cmdline(p) for p in cell_procs(s)):
        time.sleep(0.05)
    assert any(marker in cmdline(p) for p in cell_procs(s)), "other run not up"
    try:
        j = run_ok(s, "procs", {"pid": s.proc.pid, "marker": marker})
        r = result_of(s, j["id"])
        assert sorted(r["procs"]) == ["1", str(r["self"])], r["procs"]
        assert not r["marker_seen"], r
        assert r["kill"] == "ESRCH" and r["kill0"] == "ESRCH", r
        assert s.proc.poll() is None
        assert_healthy(s)
        # The cgroup file system (host /sys, read-only) lists other runs'
        # cgroups, but their pids read as 0: outside our PID namespace.
        for path, pids in r["cgroup_pids"]:
            assert set(pids) <= {"0", "1", str(r["self"])}, (path, pids)
        # The server's memory and environment are out of reach: the cell's
        # init (a copy of the supervisor) is not dumpable.
        for leaf in ("environ", "mem", "maps"):
            assert r["init"][leaf] == "EACCES", r["init"]
    finally:
        s.post("/api/v1/runs/%s/stop" % other["id"], {})
        s.wait(other["id"], timeout=15)
    assert_no_leftovers(s)


# ---- system calls and privileges ----

def test_dangerous_syscalls_refused(s):
    j = run_ok(s, "probe", {"try-syscalls": True})
    sc = probe_json(s, j["id"])["syscalls"]
    for k in ("mount", "umount2", "unshare_user", "unshare_net",
              "clone_newuser", "clone_newns", "setns", "ptrace_attach",
              "process_vm_readv", "bpf", "keyctl", "add_key",
              "perf_event_open", "userfaultfd", "io_uring_setup",
              "open_by_handle_at", "init_module", "kexec_load", "swapon",
              "reboot", "pivot_root", "chroot", "sethostname", "setuid0",
              "personality_aslr"):
        assert sc[k] == "EPERM", (k, sc[k])
    assert sc["clone3"] == "ENOSYS", sc      # glibc falls back to clone
    assert sc["fork"] == "ok" and sc["personality_query"] == "ok", sc
    # The same through libc, from a script.
    j = run_ok(s, "syscalls")
    r = result_of(s, j["id"])
    for k, v in r.items():
        assert v == "EPERM", (k, v)
    # A second system-call table (x32, i386) kills the caller.
    for opt in ("try-x32", "try-i386"):
        j = s.wait(s.run("probe", {opt: True})["id"])
        log = s.log_text(j["id"])
        assert j["state"] == "failed" and "survived" not in log, (opt, j, log[-300:])


def test_setuid_binaries_do_not_give_root(s):
    # A setuid-root program of our own, in a folder the cell may write.
    src = os.path.join(PROGS, "euid.c")
    exe = os.path.join(s.dir, "suid", "euid")
    subprocess.run(["cc", "-O2", "-o", exe, src], check=True)
    os.chown(exe, 0, 0)
    os.chmod(exe, 0o4755)
    real = [p for p in ("/usr/bin/passwd", "/usr/bin/su", "/usr/bin/chfn",
                        "/usr/bin/mount") if os.path.exists(p) and
            os.stat(p).st_mode & 0o4000]
    assert real, "no setuid program on this host to try"
    j = run_ok(s, "suid", {"paths": json.dumps(real + [exe])})
    r = result_of(s, j["id"])
    assert r["euid"] == RUN_UID, r
    for p, v in r["programs"].items():
        assert v["uids"] is not None, (p, v)
        assert v["uids"][:2] == [RUN_UID, RUN_UID], (p, v)  # real, effective
        assert 0 not in v["uids"], (p, v)
    assert r["chown_root"] == "EPERM", r
    # The same check outside a cell proves it can see a setuid effect.
    out = subprocess.run(
        ["setpriv", "--reuid", str(RUN_UID), "--regid", str(RUN_UID),
         "--clear-groups", exe], capture_output=True, text=True)
    if out.returncode == 0:
        assert out.stdout.strip() == "uid %d euid 0" % RUN_UID, out.stdout


# ---- 100 runs survive a SIGKILL of the server ----

RESTART_CONFIG = """
server:
  listen: 127.0.0.1:8080
  data_dir: @DIR@/data
  executor: sandbox
  max_concurrent_runs: 128
  log_max_bytes: 64K
  stop_grace: 1s
automations:
  - id: lines
    command: [/bin/sh, "@PROGS@/lines.sh"]
    resources: {memory: 32M, pids: 16, timeout: 120s}
    parameters:
      - {name: lines, type: integer, min: 1, max: 1000, default: 50}
      - {name: code, type: integer, min: 0, max: 255, default: 0}
"""


def test_sigkill_server_during_100_runs(s):
    n = 100
    srv = new_server(RESTART_CONFIG.replace("@PROGS@", PROGS))
    try:
        srv.start(wait=30)
        srv.cgname = runtime_cgroup(srv)
        # 50, 60 or 70 lines 0.1 s apart; every tenth run exits with 3 (its
        # true final state is failed, exit code 3).
        spec = [(50 + 10 * (i % 3), 3 if i % 10 == 9 else 0) for i in range(n)]
        ids = [srv.run("lines", {"lines": k, "code": c})["id"] for k, c in spec]
        deadline = time.time() + 30
        while True:
            runs = srv.get("/api/v1/runs?limit=1000").json()["runs"]
            states = [r["state"] for r in runs if r["id"] in ids]
            if states.count("running") == n:
                break
            assert time.time() < deadline, "not all running: %r" % {
                x: states.count(x) for x in set(states)}
            time.sleep(0.05)
        t_kill = time.time()
        srv.kill(signal.SIGKILL)
        # Runs go on without the server.
        time.sleep(1.0)
        srv.start(wait=30)
        print("     100 running at %.1fs after submission; server down %.1fs" % (
            t_kill - t0_of(srv, ids), time.time() - t_kill))
        final = {}
        deadline = time.time() + 90
        for rid in ids:
            final[rid] = srv.wait(rid, timeout=max(1, deadline - time.time()))
        bad = []
        for rid, (k, c) in zip(ids, spec):
            j = final[rid]
            want = ("succeeded", 0) if c == 0 else ("failed", c)
            if (j["state"], j["exit_code"]) != want:
                bad.append((rid, j["state"], j["exit_code"], j["reason"]))
                continue
            log = srv.log_text(rid)
            expect = "".join("line %d of %d\n" % (i, k)
                             for i in range(1, k + 1)) + "done\n"
            if log != expect:
                bad.append((rid, "log", log[-200:]))
        assert not bad, "%d of %d runs wrong: %r" % (len(bad), n, bad[:5])
        r = srv.get("/healthz", token="").json()
        assert r["active"] == 0, r
        assert_no_leftovers(srv)
    finally:
        srv.cleanup()


def t0_of(srv, ids):
    from datetime import datetime
    j = srv.get("/api/v1/runs/" + ids[0]).json()
    return datetime.strptime(j["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=__import__("datetime").timezone.utc).timestamp()


if __name__ == "__main__":
    sys.exit(run_tests(globals(), setup, teardown))
