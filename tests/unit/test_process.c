/*
 * test_process.c - the "process" executor with real processes: its
 * launcher, per-run supervisors and monitor thread (src/exec/supervisor.h).
 *
 * Each test opens the backend on a fresh data folder from mkdtemp, runs
 * small /bin/sh programs and waits for the events the backend reports.
 * The start latency (start() to the running event) is measured over 200
 * runs of /bin/true and printed; it is not asserted.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "exec.h"
#include "exec/supervisor.h"

#define MAX_EVENTS 4096

/* One event as the backend reported it (strings copied). */
struct rec_event {
	char run_id[RUN_ID_LEN + 1];
	enum run_state state;
	int64_t at;
	bool has_exit_code;
	int exit_code;
	bool has_reason;
	char reason[256];
	bool has_usage;
	int64_t cpu_usec;
	int64_t peak_memory;
	int64_t mono_us; /* when the callback ran */
};

struct recorder {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rec_event ev[MAX_EVENTS];
	size_t n;
};

struct fixture {
	char dir[64];
	struct config cfg;
	struct recorder rec;
	struct executor *ex;
};

static void on_event(void *ctx, const struct exec_event *ev)
{
	struct recorder *r = ctx;
	struct rec_event *e;

	pthread_mutex_lock(&r->mu);
	if (r->n < MAX_EVENTS) {
		e = &r->ev[r->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->run_id, sizeof(e->run_id), "%s", ev->run_id);
		e->state = ev->state;
		e->at = ev->at;
		e->has_exit_code = ev->has_exit_code;
		e->exit_code = ev->exit_code;
		e->has_reason = ev->reason != NULL;
		snprintf(e->reason, sizeof(e->reason), "%s",
			 ev->reason ? ev->reason : "");
		e->has_usage = ev->has_usage;
		e->cpu_usec = ev->cpu_usec;
		e->peak_memory = ev->peak_memory;
		e->mono_us = time_mono_us();
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* Wait up to timeout_ms for run_id's running event (terminal false) or its
 * terminal event (terminal true); copy it to *out. */
static bool wait_event(struct recorder *r, const char *run_id, bool terminal,
		       int timeout_ms, struct rec_event *out)
{
	struct timespec ts;
	bool found = false;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&r->mu);
	while (!found) {
		for (size_t i = 0; i < r->n; i++) {
			bool term = r->ev[i].state != RUN_RUNNING;

			if (!strcmp(r->ev[i].run_id, run_id) &&
			    term == terminal) {
				*out = r->ev[i];
				found = true;
				break;
			}
		}
		if (found || pthread_cond_timedwait(&r->cv, &r->mu, &ts))
			break;
	}
	pthread_mutex_unlock(&r->mu);
	return found;
}

static size_t count_events(struct recorder *r, const char *run_id)
{
	size_t n = 0;

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n; i++)
		n += !strcmp(r->ev[i].run_id, run_id);
	pthread_mutex_unlock(&r->mu);
	return n;
}

static void open_backend(struct fixture *f)
{
	struct rc_err err;
	int r;

	rc_err_clear(&err);
	r = exec_open("process", &f->cfg, on_event, &f->rec, &f->ex, &err);
	if (r < 0)
		fail_msg("exec_open: %s", err.msg);
	assert_string_equal(f->ex->ops->name, "process");
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	/* TMPDIR=/dev/shm shows the start latency without the disk. */
	snprintf(f->dir, sizeof(f->dir), "%s/rc-proc-XXXXXX",
		 tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	f->cfg.server.data_dir = f->dir;
	pthread_mutex_init(&f->rec.mu, NULL);
	pthread_cond_init(&f->rec.cv, NULL);
	open_backend(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	exec_close(f->ex);
	rm_rf(f->dir);
	pthread_mutex_destroy(&f->rec.mu);
	pthread_cond_destroy(&f->rec.cv);
	free(f);
	return 0;
}

/* A run's spec and the strings it points at. */
struct run_req {
	char id[RUN_ID_LEN + 1];
	char *argv[8];
	char *env[8];
	struct resources res;
	struct isolation iso;
	char *log_path;
	char *work_dir;
	struct exec_spec spec;
	char *handle;
};

static void req_init(struct fixture *f, struct run_req *q, int64_t timeout_ms,
		     const char *arg0, ...)
{
	struct rc_err err;
	va_list ap;
	const char *a;
	int i = 0;

	memset(q, 0, sizeof(*q));
	q->id[0] = 'r';
	random_hex(q->id + 1, 8);
	va_start(ap, arg0);
	for (a = arg0; a && i < 7; a = va_arg(ap, const char *))
		q->argv[i++] = (char *)a;
	va_end(ap);
	q->env[0] = "PATH=/usr/bin:/bin";
	q->env[1] = "RUNCELL_TEST=yes";
	q->res.timeout_ms = timeout_ms;
	q->log_path = xasprintf("%s/logs/%s.log", f->dir, q->id);
	q->work_dir = xasprintf("%s/work/%s", f->dir, q->id);
	assert_int_equal(mkdir_p(q->work_dir, 0755, &err), 0);
	q->spec.run_id = q->id;
	q->spec.automation_id = "test";
	q->spec.user = "tester";
	q->spec.argv = q->argv;
	q->spec.env = q->env;
	q->spec.res = &q->res;
	q->spec.iso = &q->iso;
	q->spec.log_path = q->log_path;
	q->spec.log_max_bytes = 1 << 20;
	q->spec.stop_grace_ms = 300;
	q->spec.work_dir = q->work_dir;
}

static void req_free(struct run_req *q)
{
	free(q->log_path);
	free(q->work_dir);
	free(q->handle);
}

static void start(struct fixture *f, struct run_req *q)
{
	struct rc_err err;

	rc_err_clear(&err);
	if (f->ex->ops->start(f->ex, &q->spec, &q->handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	assert_true(str_has_prefix(q->handle, "local:"));
}

static pid_t handle_pid(const char *handle)
{
	int64_t v = 0;

	assert_int_equal(parse_int64(handle + 6, 1, INT32_MAX, &v), 0);
	return (pid_t)v;
}

static struct rec_event finish_of(struct fixture *f, struct run_req *q,
				  int timeout_ms)
{
	struct rec_event e;

	if (!wait_event(&f->rec, q->id, true, timeout_ms, &e))
		fail_msg("run %s did not finish within %d ms", q->id,
			 timeout_ms);
	return e;
}

static char *slurp(const char *path)
{
	struct rc_err err;
	char *text = NULL;
	size_t len;

	if (read_file(path, 64 << 20, &text, &len, &err) < 0)
		fail_msg("%s", err.msg);
	return text;
}

/* Whether pid is gone (or a zombie nobody reaped yet), waiting up to
 * timeout_ms for it. */
static bool proc_gone(pid_t pid, int timeout_ms)
{
	int64_t deadline = time_mono_ms() + timeout_ms;

	for (;;) {
		char path[64], *stat = NULL, *p;
		struct rc_err err;
		size_t len;
		bool zombie = false;

		if (kill(pid, 0) < 0 && errno == ESRCH)
			return true;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		if (read_file(path, 4096, &stat, &len, &err) == 0) {
			p = strrchr(stat, ')');
			zombie = p && p[1] == ' ' && p[2] == 'Z';
			free(stat);
		}
		if (zombie)
			return true;
		if (time_mono_ms() > deadline)
			return false;
		usleep(10000);
	}
}

/* Wait until the log file contains needle. */
static void wait_log(const char *path, const char *needle, int timeout_ms)
{
	int64_t deadline = time_mono_ms() + timeout_ms;

	for (;;) {
		struct rc_err err;
		char *text = NULL;
		size_t len;
		bool found = false;

		if (read_file(path, 1 << 20, &text, &len, &err) == 0) {
			found = strstr(text, needle) != NULL;
			free(text);
		}
		if (found)
			return;
		if (time_mono_ms() > deadline)
			fail_msg("\"%s\" never appeared in %s", needle, path);
		usleep(5000);
	}
}

static void reopen(struct fixture *f)
{
	exec_close(f->ex);
	f->ex = NULL;
	open_backend(f);
}

/* ---- Tests ---- */

static void test_success(void **state)
{
	struct fixture *f = *state;
	struct rec_event run, end;
	struct run_req q;
	char *log;

	req_init(f, &q, 0, "/bin/sh", "-c", "echo hello; echo oops >&2", NULL);
	start(f, &q);
	assert_true(wait_event(&f->rec, q.id, false, 5000, &run));
	end = finish_of(f, &q, 5000);
	assert_int_equal(end.state, RUN_SUCCEEDED);
	assert_true(end.has_exit_code);
	assert_int_equal(end.exit_code, 0);
	assert_false(end.has_reason);
	assert_true(end.has_usage);
	assert_true(end.peak_memory > 0);
	assert_true(end.at >= run.at);
	log = slurp(q.log_path);
	assert_string_equal(log, "hello\noops\n");
	free(log);
	req_free(&q);
}

static void test_exit_code(void **state)
{
	struct fixture *f = *state;
	struct rec_event end;
	struct run_req q;

	req_init(f, &q, 0, "sh", "-c", "exit 3", NULL);
	start(f, &q);
	end = finish_of(f, &q, 5000);
	assert_int_equal(end.state, RUN_FAILED);
	assert_true(end.has_exit_code);
	assert_int_equal(end.exit_code, 3);
	req_free(&q);
}

static void test_killed_by_signal(void **state)
{
	struct fixture *f = *state;
	struct rec_event end;
	struct run_req q;

	req_init(f, &q, 0, "sh", "-c", "kill -SEGV $$", NULL);
	start(f, &q);
	end = finish_of(f, &q, 5000);
	assert_int_equal(end.state, RUN_FAILED);
	assert_int_equal(end.exit_code, 128 + SIGSEGV);
	assert_string_equal(end.reason, "killed by signal 11 (SIGSEGV)");
	req_free(&q);
}

static void test_missing_program(void **state)
{
	struct fixture *f = *state;
	struct rec_event end;
	struct run_req q, q2;
	char *log;

	req_init(f, &q, 0, "no-such-program-xyz", NULL);
	start(f, &q);
	end = finish_of(f, &q, 5000);
	assert_int_equal(end.state, RUN_FAILED);
	assert_int_equal(end.exit_code, 127);
	assert_string_equal(end.reason, "cannot execute no-such-program-xyz: "
					"No such file or directory");
	log = slurp(q.log_path);
	assert_non_null(strstr(log, "cannot execute no-such-program-xyz"));
	free(log);
	/* Found on no PATH entry: the run's PATH is used, not ours. */
	req_init(f, &q2, 0, "true", NULL);
	q2.env[0] = "PATH=/nonexistent";
	start(f, &q2);
	end = finish_of(f, &q2, 5000);
	assert_int_equal(end.state, RUN_FAILED);
	assert_int_equal(end.exit_code, 127);
	req_free(&q2);
	req_free(&q);
}

static void test_environment(void **state)
{
	struct fixture *f = *state;
	struct rec_event end;
	struct run_req q;
	char *log;

	req_init(f, &q, 0, "env", NULL);
	q.env[1] = "FOO=bar baz";
	q.env[2] = "EMPTY=";
	start(f, &q);
	end = finish_of(f, &q, 5000);
	assert_int_equal(end.state, RUN_SUCCEEDED);
	log = slurp(q.log_path);
	assert_string_equal(log, "PATH=/usr/bin:/bin\nFOO=bar baz\nEMPTY=\n");
	free(log);
	req_free(&q);
}

static void test_work_dir(void **state)
{
	struct fixture *f = *state;
	struct rec_event end;
	struct run_req q;
	char *log, *want;

	req_init(f, &q, 0, "pwd", NULL);
	start(f, &q);
	end = finish_of(f, &q, 5000);
	assert_int_equal(end.state, RUN_SUCCEEDED);
	log = slurp(q.log_path);
	want = xasprintf("%s\n", q.work_dir);
	assert_string_equal(log, want);
	free(want);
	free(log);
	req_free(&q);
}

static void test_timeout_kills_group(void **state)
{
	struct fixture *f = *state;
	struct rec_event end;
	struct run_req q;
	char *path, *text;
	int64_t t0, gc;

	/* The subshell forks a sleep and exits: the sleep is orphaned (a
	 * double fork) but stays in the run's process group. */
	req_init(f, &q, 300, "sh", "-c",
		 "(sleep 100 & echo $! > gc.pid); sleep 100", NULL);
	t0 = time_mono_ms();
	start(f, &q);
	end = finish_of(f, &q, 5000);
	assert_int_equal(end.state, RUN_TIMED_OUT);
	assert_string_equal(end.reason, "timed out after 0.3s");
	assert_int_equal(end.exit_code, 128 + SIGTERM);
	assert_true(time_mono_ms() - t0 >= 300);
	path = xasprintf("%s/gc.pid", q.work_dir);
	text = slurp(path);
	text[strcspn(text, "\n")] = '\0';
	assert_int_equal(parse_int64(text, 1, INT32_MAX, &gc), 0);
	assert_true(proc_gone((pid_t)gc, 2000));
	free(text);
	free(path);
	req_free(&q);
}

static void test_stop(void **state)
{
	struct fixture *f = *state;
	struct rec_event run, end;
	struct rc_err err;
	struct run_req q;

	req_init(f, &q, 0, "sleep", "100", NULL);
	start(f, &q);
	assert_true(wait_event(&f->rec, q.id, false, 5000, &run));
	assert_int_equal(f->ex->ops->stop(f->ex, q.id, q.handle, &err), 0);
	end = finish_of(f, &q, 5000);
	assert_int_equal(end.state, RUN_CANCELLED);
	assert_string_equal(end.reason, "stopped");
	assert_int_equal(end.exit_code, 128 + SIGTERM);
	/* Its supervisor is gone after it lingered: stopping again fails. */
	assert_true(proc_gone(handle_pid(q.handle), 3000));
	assert_int_equal(f->ex->ops->stop(f->ex, q.id, q.handle, &err), -1);
	assert_non_null(strstr(err.msg, "already finished"));
	req_free(&q);
}

static void test_stop_at_once(void **state)
{
	struct fixture *f = *state;
	struct rec_event end;
	struct rc_err err;
	struct run_req q;

	/* Right after start the supervisor may not listen yet: the stop goes
	 * through the event channel. */
	req_init(f, &q, 0, "sleep", "100", NULL);
	start(f, &q);
	assert_int_equal(f->ex->ops->stop(f->ex, q.id, q.handle, &err), 0);
	end = finish_of(f, &q, 5000);
	assert_int_equal(end.state, RUN_CANCELLED);
	req_free(&q);
}

static void test_stop_through_socket(void **state)
{
	struct fixture *f = *state;
	struct rec_event run, end;
	struct rc_err err;
	struct run_req q;

	req_init(f, &q, 0, "sleep", "100", NULL);
	start(f, &q);
	assert_true(wait_event(&f->rec, q.id, false, 5000, &run));
	/* A new backend has no channel to the run: it uses the socket. */
	reopen(f);
	assert_int_equal(
		f->ex->ops->attach(f->ex, q.id, q.handle, q.log_path, &err), 0);
	assert_int_equal(f->ex->ops->stop(f->ex, q.id, NULL, &err), 0);
	end = finish_of(f, &q, 5000);
	assert_int_equal(end.state, RUN_CANCELLED);
	req_free(&q);
}

static void test_sigterm_ignored(void **state)
{
	struct fixture *f = *state;
	struct rec_event end;
	struct rc_err err;
	struct run_req q;
	int64_t t0;

	req_init(f, &q, 0, "sh", "-c", "trap '' TERM; echo ready; sleep 100",
		 NULL);
	q.spec.stop_grace_ms = 400;
	start(f, &q);
	wait_log(q.log_path, "ready", 5000);
	t0 = time_mono_ms();
	assert_int_equal(f->ex->ops->stop(f->ex, q.id, q.handle, &err), 0);
	end = finish_of(f, &q, 5000);
	assert_true(time_mono_ms() - t0 >= 400);
	assert_int_equal(end.state, RUN_CANCELLED);
	assert_int_equal(end.exit_code, 128 + SIGKILL);
	req_free(&q);
}

static void test_supervisor_sigterm(void **state)
{
	struct fixture *f = *state;
	struct rec_event run, end;
	struct run_req q;

	req_init(f, &q, 0, "sleep", "100", NULL);
	start(f, &q);
	assert_true(wait_event(&f->rec, q.id, false, 5000, &run));
	assert_int_equal(kill(handle_pid(q.handle), SIGTERM), 0);
	end = finish_of(f, &q, 5000);
	assert_int_equal(end.state, RUN_CANCELLED);
	req_free(&q);
}

static void test_log_cap(void **state)
{
	static const char marker[] = "\n[runcell: log truncated at 100000 "
				     "bytes; further output discarded]\n";
	struct fixture *f = *state;
	struct rec_event end;
	struct run_req q;
	struct stat st;
	char *log;

	req_init(f, &q, 20000, "sh", "-c", "yes | head -c 5000000; echo done",
		 NULL);
	q.spec.log_max_bytes = 100000;
	start(f, &q);
	end = finish_of(f, &q, 25000);
	assert_int_equal(end.state, RUN_SUCCEEDED);
	assert_int_equal(stat(q.log_path, &st), 0);
	assert_int_equal(st.st_size, 100000 + strlen(marker));
	log = slurp(q.log_path);
	assert_memory_equal(log + 100000, marker, strlen(marker));
	assert_memory_equal(log, "y\ny\n", 4);
	free(log);
	req_free(&q);
}

static void test_reattach(void **state)
{
	struct fixture *f = *state;
	struct rec_event run, end;
	struct rc_err err;
	struct run_req a, b;

	/* a is running across the restart; b finishes while nobody
	 * listens. */
	req_init(f, &a, 0, "sh", "-c", "sleep 0.6; echo late; exit 7", NULL);
	req_init(f, &b, 0, "sh", "-c", "exit 5", NULL);
	start(f, &a);
	assert_true(wait_event(&f->rec, a.id, false, 5000, &run));
	exec_close(f->ex);
	f->ex = NULL;
	open_backend(f);
	start(f, &b);
	exec_close(f->ex);
	f->ex = NULL;
	assert_true(proc_gone(handle_pid(b.handle), 5000));
	assert_false(proc_gone(handle_pid(a.handle), 0));
	open_backend(f);

	assert_int_equal(
		f->ex->ops->attach(f->ex, a.id, a.handle, a.log_path, &err), 0);
	assert_int_equal(
		f->ex->ops->attach(f->ex, b.id, NULL, b.log_path, &err), 0);
	end = finish_of(f, &a, 5000);
	assert_int_equal(end.state, RUN_FAILED);
	assert_true(end.has_exit_code);
	assert_int_equal(end.exit_code, 7);
	assert_true(end.has_usage);
	wait_log(a.log_path, "late\n", 100);
	end = finish_of(f, &b, 5000);
	assert_int_equal(end.state, RUN_FAILED);
	assert_int_equal(end.exit_code, 5);
	/* A run never recorded, without a handle: never started. */
	assert_int_equal(f->ex->ops->attach(f->ex, "r0000000000000000", NULL,
					    "/dev/null", &err),
			 1);
	req_free(&a);
	req_free(&b);
}

static void test_supervisor_killed(void **state)
{
	struct fixture *f = *state;
	struct rec_event run, end;
	struct rc_err err;
	struct run_req a, b;
	char *path, *text;
	pid_t prog = 0;
	json_t *st;
	size_t len;

	/* Killed while the backend watches: reported lost at once. */
	req_init(f, &a, 0, "sleep", "100", NULL);
	start(f, &a);
	assert_true(wait_event(&f->rec, a.id, false, 5000, &run));
	/* The running record follows the running event closely. */
	path = xasprintf("%s/cells/%s/status.json", f->dir, a.id);
	for (int i = 0; i < 500; i++) {
		text = NULL;
		if (read_file(path, 65536, &text, &len, &err) == 0) {
			st = json_loads(text, 0, NULL);
			prog = (pid_t)json_integer_value(
				json_object_get(st, "pid"));
			json_decref(st);
			free(text);
		}
		if (prog > 0)
			break;
		usleep(2000);
	}
	assert_true(prog > 0);
	free(path);
	assert_int_equal(kill(handle_pid(a.handle), SIGKILL), 0);
	end = finish_of(f, &a, 5000);
	assert_int_equal(end.state, RUN_LOST);
	assert_non_null(strstr(end.reason, "supervisor died"));
	/* The program does not run on unsupervised. */
	assert_true(proc_gone(prog, 2000));

	/* Killed while no backend is open: attach reports lost. */
	req_init(f, &b, 0, "sleep", "100", NULL);
	start(f, &b);
	assert_true(wait_event(&f->rec, b.id, false, 5000, &run));
	exec_close(f->ex);
	f->ex = NULL;
	assert_int_equal(kill(handle_pid(b.handle), SIGKILL), 0);
	assert_true(proc_gone(handle_pid(b.handle), 2000));
	open_backend(f);
	assert_int_equal(
		f->ex->ops->attach(f->ex, b.id, b.handle, b.log_path, &err), 0);
	end = finish_of(f, &b, 5000);
	assert_int_equal(end.state, RUN_LOST);
	assert_non_null(strstr(end.reason, "supervisor died"));
	req_free(&a);
	req_free(&b);
}

static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct run_req q[20];
	struct rec_event end;

	for (int i = 0; i < 20; i++) {
		req_init(f, &q[i], 0, "sh", "-c", "sleep 0.2; echo ok", NULL);
		start(f, &q[i]);
	}
	for (int i = 0; i < 20; i++) {
		end = finish_of(f, &q[i], 10000);
		assert_int_equal(end.state, RUN_SUCCEEDED);
		assert_int_equal(count_events(&f->rec, q[i].id), 2);
		req_free(&q[i]);
	}
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	struct config cfg;
	struct executor *ex = NULL;
	struct rec_event end;
	struct rc_err err;
	struct run_req q;
	char longdir[200], *path;

	/* Stop of a run that does not exist. */
	assert_int_equal(
		f->ex->ops->stop(f->ex, "r0000000000000000", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "cannot be stopped"));
	/* A log file that cannot be created: the run fails to start. */
	req_init(f, &q, 0, "/bin/true", NULL);
	free(q.log_path);
	q.log_path = xasprintf("%s/not-a-folder/x.log", f->dir);
	q.spec.log_path = q.log_path;
	path = xasprintf("%s/not-a-folder", f->dir);
	assert_int_equal(write_file_atomic(path, "", 0, &err), 0);
	free(path);
	start(f, &q);
	end = finish_of(f, &q, 5000);
	assert_int_equal(end.state, RUN_FAILED);
	assert_false(end.has_exit_code);
	assert_non_null(strstr(end.reason, "cannot open the log file"));
	req_free(&q);
	/* A handle that is not ours. */
	assert_int_equal(f->ex->ops->attach(f->ex, "r0000000000000000",
					    "slurm:12", "/dev/null", &err),
			 -1);
	/* A data folder so deep that the socket path cannot fit. */
	memset(&cfg, 0, sizeof(cfg));
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	cfg.server.data_dir = longdir;
	assert_int_equal(
		exec_open("process", &cfg, on_event, &f->rec, &ex, &err), -1);
	assert_non_null(strstr(err.msg, "choose a shorter server.data_dir"));
}

/* The pid of our child named comm ("runcell-launch"), or 0. */
static pid_t child_named(const char *comm)
{
	char path[64], *list = NULL, *name = NULL, *p, *end;
	struct rc_err err;
	pid_t found = 0;
	size_t len;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children",
		 (int)getpid());
	if (read_file(path, 65536, &list, &len, &err) < 0)
		return 0;
	for (p = list; *p && !found; p = end) {
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
		if (read_file(path, 256, &name, &len, &err) == 0) {
			if (!strncmp(name, comm, strlen(comm)))
				found = (pid_t)pid;
			free(name);
		}
	}
	free(list);
	return found;
}

static void test_launcher_gone(void **state)
{
	struct fixture *f = *state;
	struct rc_err err;
	struct run_req q;
	pid_t launcher = child_named("runcell-launch");

	assert_true(launcher > 0);
	assert_int_equal(kill(launcher, SIGKILL), 0);
	usleep(50000);
	req_init(f, &q, 0, "/bin/true", NULL);
	assert_int_equal(f->ex->ops->start(f->ex, &q.spec, &q.handle, &err),
			 -1);
	assert_non_null(strstr(err.msg, "launcher process has exited"));
	req_free(&q);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_start_latency(void **state)
{
	struct fixture *f = *state;
	enum { N = 200 };
	int64_t lat[N];
	struct rec_event run, end;
	struct run_req q;

	for (int i = 0; i < N; i++) {
		int64_t t0;

		req_init(f, &q, 0, "/bin/true", NULL);
		t0 = time_mono_us();
		start(f, &q);
		assert_true(wait_event(&f->rec, q.id, false, 5000, &run));
		lat[i] = run.mono_us - t0;
		end = finish_of(f, &q, 5000);
		assert_int_equal(end.state, RUN_SUCCEEDED);
		req_free(&q);
	}
	qsort(lat, N, sizeof(lat[0]), cmp_i64);
	printf("start() -> running event over %d runs of /bin/true: "
	       "p50 %.2f ms, p90 %.2f ms, p99 %.2f ms\n",
	       N, lat[N / 2] / 1000.0, lat[N * 9 / 10] / 1000.0,
	       lat[N * 99 / 100] / 1000.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_code, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_killed_by_signal, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_program, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_environment, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_work_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_kills_group, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop_through_socket, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_ignored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_supervisor_sigterm, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_log_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reattach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_supervisor_killed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launcher_gone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_start_latency, setup,
						teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
