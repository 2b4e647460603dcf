/*
 * test_slurm.c - the slurm executor against a real single-node Slurm
 * cluster (tests/slurm/up.sh).  The settings checks run everywhere; the
 * cluster tests are skipped, with a message, only when RUNCELL_SLURM_CONF
 * is unset.  RUNCELL_SLURM_SLOW=1 adds the test of Slurm's own time limit
 * (60 to 90 s: slurmctld checks time limits every 30 s).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"

extern char **environ;

/* Until (or unless) the config module is linked in, look automations up
 * here; the real config_automation() takes precedence when present. */
__attribute__((weak)) const struct automation *
config_automation(const struct config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->n_autos; i++)
		if (!strcmp(cfg->autos[i].id, id))
			return &cfg->autos[i];
	return NULL;
}

/* ---- events ----------------------------------------------------------- */

#define MAX_EVENTS 256

struct ev_copy {
	char run_id[RUN_ID_LEN + 1];
	enum run_state state;
	bool has_exit_code;
	int exit_code;
	char reason[256];
	int64_t mono;
};

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static struct ev_copy events[MAX_EVENTS];
static size_t n_events;
static int64_t last_submit_ms; /* for the verbose timings */

static void on_event(void *ctx, const struct exec_event *ev)
{
	struct ev_copy *c;

	(void)ctx;
	pthread_mutex_lock(&ev_lock);
	if (n_events < MAX_EVENTS) {
		c = &events[n_events++];
		snprintf(c->run_id, sizeof(c->run_id), "%s", ev->run_id);
		c->state = ev->state;
		c->has_exit_code = ev->has_exit_code;
		c->exit_code = ev->exit_code;
		snprintf(c->reason, sizeof(c->reason), "%s",
			 ev->reason ? ev->reason : "");
		c->mono = time_mono_ms();
		if (getenv("RUNCELL_SLURM_TEST_VERBOSE"))
			fprintf(stderr,
				"  +%5.2fs event %s %s exit=%s%d reason=%s\n",
				(c->mono - last_submit_ms) / 1000.0, c->run_id,
				run_state_name(c->state),
				c->has_exit_code ? "" : "none/", c->exit_code,
				c->reason);
	}
	pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_lock);
}

/* Wait up to timeout_s for an event of run_id matching want (a terminal
 * state when want is -1).  Returns a copy, or fails the test. */
static struct ev_copy wait_event(const char *run_id, int want, int timeout_s)
{
	struct timespec ts;
	struct ev_copy found = { 0 };
	bool ok = false;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_s;
	pthread_mutex_lock(&ev_lock);
	while (!ok) {
		for (size_t i = 0; i < n_events && !ok; i++) {
			if (strcmp(events[i].run_id, run_id) != 0)
				continue;
			if (want < 0 ? events[i].state >= RUN_SUCCEEDED :
				       (int)events[i].state == want) {
				found = events[i];
				ok = true;
			}
		}
		if (ok || pthread_cond_timedwait(&ev_cond, &ev_lock, &ts) ==
				  ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&ev_lock);
	if (!ok)
		fail_msg("run %s: no %s event within %d s", run_id,
			 want < 0 ? "terminal" : "wanted", timeout_s);
	return found;
}

/* How many events run_id has had. */
static int count_events(const char *run_id, int state)
{
	int n = 0;

	pthread_mutex_lock(&ev_lock);
	for (size_t i = 0; i < n_events; i++)
		if (!strcmp(events[i].run_id, run_id) &&
		    (state < 0 || (int)events[i].state == state))
			n++;
	pthread_mutex_unlock(&ev_lock);
	return n;
}

/* ---- fixture ------------------------------------------------------------ */

static const char *slurm_conf;
static char data_dir[] = "/tmp/runcell-slurm-test.XXXXXX";
static struct automation autos[2];
static struct config cfg;

static void config_setup(const char *executors_json)
{
	json_error_t je;

	json_decref(cfg.executors);
	cfg.executors = json_loads(executors_json, 0, &je);
	assert_non_null(cfg.executors);
}

static struct executor *open_backend(void)
{
	struct executor *ex = NULL;
	struct rc_err err = { 0 };

	if (exec_open("slurm", &cfg, on_event, NULL, &ex, &err) < 0)
		fail_msg("exec_open: %s", err.msg);
	return ex;
}

struct run_args {
	char id[RUN_ID_LEN + 1];
	char log_path[256];
	const char *automation;
	char *const *argv;
	char *const *env;
	struct resources res;
	int64_t log_max;
};

static void run_init(struct run_args *ra, char *const *argv)
{
	char hex[17];

	memset(ra, 0, sizeof(*ra));
	random_hex(hex, 8);
	snprintf(ra->id, sizeof(ra->id), "r%s", hex);
	snprintf(ra->log_path, sizeof(ra->log_path), "%s/%s.log", data_dir,
		 ra->id);
	ra->automation = "plain";
	ra->argv = argv;
	ra->log_max = 1 << 20;
	pthread_mutex_lock(&ev_lock);
	last_submit_ms = time_mono_ms();
	pthread_mutex_unlock(&ev_lock);
}

static int run_start(struct executor *ex, struct run_args *ra, char **handle,
		     struct rc_err *err)
{
	struct exec_spec spec = {
		.run_id = ra->id,
		.automation_id = ra->automation,
		.user = "tester",
		.argv = ra->argv,
		.env = ra->env,
		.res = &ra->res,
		.log_path = ra->log_path,
		.log_max_bytes = ra->log_max,
		.stop_grace_ms = 1000,
	};

	return ex->ops->start(ex, &spec, handle, err);
}

static char *start_ok(struct executor *ex, struct run_args *ra)
{
	struct rc_err err = { 0 };
	char *handle = NULL;

	if (run_start(ex, ra, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	assert_true(str_has_prefix(handle, "slurm:"));
	return handle;
}

static char *read_log(const char *path)
{
	char *text = NULL;
	size_t len;

	if (read_file(path, 1 << 22, &text, &len, NULL) < 0)
		return xstrdup("");
	return text;
}

/* Wait until the log holds needle (the poller copies it while running). */
static void wait_log(const char *path, const char *needle, int timeout_s)
{
	int64_t end = time_mono_ms() + timeout_s * 1000;

	while (time_mono_ms() < end) {
		char *t = read_log(path);
		bool ok = strstr(t, needle) != NULL;

		free(t);
		if (ok)
			return;
		usleep(100 * 1000);
	}
	fail_msg("log %s never showed \"%s\"", path, needle);
}

static int group_setup(void **state)
{
	(void)state;
	if (!mkdtemp(data_dir))
		return -1;
	autos[0].id = "plain";
	autos[1].id = "nopart";
	autos[1].executor_options =
		json_pack("{s:s}", "partition", "no-such-partition");
	cfg.server.data_dir = data_dir;
	cfg.server.log_max_bytes = 1 << 20;
	cfg.autos = autos;
	cfg.n_autos = 2;
	config_setup("{\"slurm\": {\"poll_interval\": \"200ms\", "
		     "\"timeout_grace\": \"1s\"}}");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	json_decref(cfg.executors);
	json_decref(autos[1].executor_options);
	rm_rf(data_dir);
	return 0;
}

#define NEED_CLUSTER()                                                      \
	do {                                                                \
		if (!slurm_conf) {                                          \
			print_message("skipped: RUNCELL_SLURM_CONF is not " \
				      "set (start a cluster with "          \
				      "tests/slurm/up.sh)\n");              \
			skip();                                             \
		}                                                           \
	} while (0)

/* ---- settings (no cluster needed) ------------------------------------- */

static void expect_open_error(const char *json, const char *needle)
{
	struct executor *ex = NULL;
	struct rc_err err = { 0 };

	config_setup(json);
	assert_int_equal(exec_open("slurm", &cfg, on_event, NULL, &ex, &err),
			 -1);
	if (!strstr(err.msg, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err.msg,
			 needle);
}

static void test_settings_errors(void **state)
{
	(void)state;
	expect_open_error("{\"slurm\": {\"partiton\": \"debug\"}}",
			  "unknown key \"partiton\"");
	expect_open_error("{\"slurm\": {\"poll_interval\": \"fast\"}}",
			  "poll_interval");
	expect_open_error("{\"slurm\": {\"poll_interval\": true}}",
			  "poll_interval");
	expect_open_error("{\"slurm\": {\"output_dir\": \"rel/dir\"}}",
			  "absolute path");
	expect_open_error("{\"slurm\": {\"output_dir\": \"/tmp/a b\"}}",
			  "absolute path");
	expect_open_error("{\"slurm\": {\"extra_args\": \"--x\"}}",
			  "extra_args");
	expect_open_error("{\"slurm\": {\"extra_args\": [1]}}", "extra_args");
	expect_open_error("{\"slurm\": {\"sbatch\": \"/nonexistent/sbatch\"}}",
			  "/nonexistent/sbatch not found");
	expect_open_error("{\"slurm\": []}", "mapping");
	config_setup("{\"slurm\": {\"poll_interval\": \"200ms\", "
		     "\"timeout_grace\": \"1s\"}}");
}

/* ---- against the cluster ------------------------------------------------ */

/* Success; the output reaches the local log; the job gets exactly the
 * environment of the spec. */
static void test_success_env_and_log(void **state)
{
	char *argv[] = { "/usr/bin/env", NULL };
	char *env[] = { "A=1", "B=x,y z;$(id)", NULL };
	struct run_args ra;
	struct ev_copy ev;
	char *handle, *log;

	(void)state;
	NEED_CLUSTER();
	struct executor *ex = open_backend();

	run_init(&ra, argv);
	ra.env = env;
	handle = start_ok(ex, &ra);
	ev = wait_event(ra.id, -1, 30);
	assert_int_equal(ev.state, RUN_SUCCEEDED);
	assert_true(ev.has_exit_code);
	assert_int_equal(ev.exit_code, 0);
	assert_int_equal(count_events(ra.id, RUN_RUNNING), 1);
	assert_int_equal(count_events(ra.id, -1), 2);
	log = read_log(ra.log_path);
	assert_string_equal(log, "A=1\nB=x,y z;$(id)\n");
	free(log);
	free(handle);
	exec_close(ex);
}

static void test_exit_code(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "echo failing; exit 4", NULL };
	struct run_args ra;
	struct ev_copy ev;
	char *handle, *log;

	(void)state;
	NEED_CLUSTER();
	struct executor *ex = open_backend();

	run_init(&ra, argv);
	handle = start_ok(ex, &ra);
	ev = wait_event(ra.id, -1, 30);
	assert_int_equal(ev.state, RUN_FAILED);
	assert_true(ev.has_exit_code);
	assert_int_equal(ev.exit_code, 4);
	log = read_log(ra.log_path);
	assert_string_equal(log, "failing\n");
	free(log);
	free(handle);
	exec_close(ex);
}

/* runcell's own timeout (3 s) is far below Slurm's (1 minute): the
 * backend scancels the job and reports timed_out. */
static void test_runcell_timeout(void **state)
{
	char *argv[] = { "/bin/sleep", "120", NULL };
	struct run_args ra;
	struct ev_copy ev;
	char *handle;
	int64_t t0 = time_mono_ms();

	(void)state;
	NEED_CLUSTER();
	struct executor *ex = open_backend();

	run_init(&ra, argv);
	ra.res.timeout_ms = 3000;
	handle = start_ok(ex, &ra);
	ev = wait_event(ra.id, -1, 40);
	assert_int_equal(ev.state, RUN_TIMED_OUT);
	assert_non_null(strstr(ev.reason, "timeout"));
	assert_true(time_mono_ms() - t0 < 20000);
	free(handle);
	exec_close(ex);
}

/* Slurm's own time limit (--time=1): TIMEOUT 60 to 90 s after the start
 * (slurmctld checks time limits every 30 s). */
static void test_slurm_time_limit(void **state)
{
	char *argv[] = { "/bin/sleep", "300", NULL };
	struct run_args ra;
	struct ev_copy ev;
	char *handle;

	(void)state;
	NEED_CLUSTER();
	if (!getenv("RUNCELL_SLURM_SLOW")) {
		print_message("skipped: set RUNCELL_SLURM_SLOW=1 for the "
			      "60-90 s test of Slurm's time limit\n");
		skip();
	}
	/* A long grace so that Slurm's limit, not runcell's, ends it. */
	config_setup("{\"slurm\": {\"poll_interval\": \"200ms\", "
		     "\"timeout_grace\": \"60s\"}}");
	struct executor *ex = open_backend();

	config_setup("{\"slurm\": {\"poll_interval\": \"200ms\", "
		     "\"timeout_grace\": \"1s\"}}");
	run_init(&ra, argv);
	ra.res.timeout_ms = 60000;
	handle = start_ok(ex, &ra);
	ev = wait_event(ra.id, -1, 100);
	assert_int_equal(ev.state, RUN_TIMED_OUT);
	assert_non_null(strstr(ev.reason, "Slurm time limit"));
	free(handle);
	exec_close(ex);
}

static void test_memory_kill(void **state)
{
	char *argv[] = { "/usr/bin/python3", "-c",
			 "import time\n"
			 "b = b'x' * (400 << 20)\n"
			 "time.sleep(5)\n"
			 "print('survived', len(b))\n",
			 NULL };
	struct run_args ra;
	struct ev_copy ev;
	char *handle, *log;

	(void)state;
	NEED_CLUSTER();
	struct executor *ex = open_backend();

	run_init(&ra, argv);
	ra.res.memory = 64 << 20;
	ra.res.cpu = 0.5;
	handle = start_ok(ex, &ra);
	ev = wait_event(ra.id, -1, 60);
	assert_int_equal(ev.state, RUN_FAILED);
	assert_string_equal(ev.reason, "memory limit exceeded");
	log = read_log(ra.log_path);
	assert_null(strstr(log, "survived"));
	free(log);
	free(handle);
	exec_close(ex);
}

static void test_cancel(void **state)
{
	char *argv[] = { "/bin/sleep", "120", NULL };
	struct run_args ra;
	struct ev_copy ev;
	struct rc_err err = { 0 };
	char *handle;
	int64_t t0;

	(void)state;
	NEED_CLUSTER();
	struct executor *ex = open_backend();

	run_init(&ra, argv);
	handle = start_ok(ex, &ra);
	wait_event(ra.id, RUN_RUNNING, 30);
	t0 = time_mono_ms();
	if (ex->ops->stop(ex, ra.id, handle, &err) < 0)
		fail_msg("stop: %s", err.msg);
	ev = wait_event(ra.id, -1, 30);
	assert_int_equal(ev.state, RUN_CANCELLED);
	assert_true(time_mono_ms() - t0 < 15000);
	/* Stopping again after the end is harmless. */
	assert_int_equal(ex->ops->stop(ex, ra.id, handle, &err), 0);
	free(handle);
	exec_close(ex);
}

/* Shell syntax in a parameter is one argv element and is never run; the
 * job script holds none of it. */
static void test_no_shell_interpolation(void **state)
{
	char pwned[128], arg[256], *want, *sh_path, *script, *log;
	char *argv[] = {
		"/usr/bin/python3",
		"-c",
		"import sys, json; print(json.dumps(sys.argv[1:]))",
		arg,
		"`id`",
		"a'b\"c",
		"",
		"two\nlines",
		"*",
		"$HOME",
		NULL,
	};
	struct run_args ra;
	struct ev_copy ev;
	struct stat st;
	size_t len;
	char *handle;

	(void)state;
	NEED_CLUSTER();
	struct executor *ex = open_backend();

	run_init(&ra, argv);
	snprintf(pwned, sizeof(pwned), "/tmp/runcell-pwned-%s", ra.id);
	snprintf(arg, sizeof(arg), "; touch %s $(id)", pwned);
	handle = start_ok(ex, &ra);

	sh_path = xasprintf("%s/slurm/%s.sh", data_dir, ra.id);
	assert_int_equal(read_file(sh_path, 1 << 16, &script, &len, NULL), 0);
	assert_null(strstr(script, "touch"));
	assert_null(strstr(script, "`id`"));
	assert_int_equal(stat(sh_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	free(script);
	free(sh_path);

	ev = wait_event(ra.id, -1, 30);
	assert_int_equal(ev.state, RUN_SUCCEEDED);
	want = xasprintf("[\"; touch %s $(id)\", \"`id`\", \"a'b\\\"c\", "
			 "\"\", \"two\\nlines\", \"*\", \"$HOME\"]\n",
			 pwned);
	log = read_log(ra.log_path);
	assert_string_equal(log, want);
	assert_int_not_equal(access(pwned, F_OK), 0);
	free(want);
	free(log);
	free(handle);
	exec_close(ex);
}

/* The service goes away mid-run (backend closed) and comes back: attach
 * with the stored handle reports the true end, and the log holds each
 * line once. */
static void test_reattach(void **state)
{
	char *argv[] = { "/bin/sh", "-c",
			 "echo before; sleep 4; echo after; exit 3", NULL };
	struct run_args ra;
	struct ev_copy ev;
	struct rc_err err = { 0 };
	char *handle, *log;

	(void)state;
	NEED_CLUSTER();
	struct executor *ex = open_backend();

	run_init(&ra, argv);
	handle = start_ok(ex, &ra);
	wait_event(ra.id, RUN_RUNNING, 30);
	wait_log(ra.log_path, "before", 10);
	exec_close(ex);
	assert_int_equal(count_events(ra.id, -1), 1);

	ex = open_backend();
	if (ex->ops->attach(ex, ra.id, handle, ra.log_path, &err) != 0)
		fail_msg("attach: %s", err.msg);
	ev = wait_event(ra.id, -1, 30);
	assert_int_equal(ev.state, RUN_FAILED);
	assert_true(ev.has_exit_code);
	assert_int_equal(ev.exit_code, 3);
	log = read_log(ra.log_path);
	assert_string_equal(log, "before\nafter\n");
	free(log);
	free(handle);
	exec_close(ex);
}

/* The service died between submitting and storing the handle: attach
 * without a handle finds the job by its name (the run id).  A run that
 * was never submitted is reported as such (1). */
static void test_attach_without_handle(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "sleep 2; echo found", NULL };
	struct run_args ra, never;
	struct ev_copy ev;
	struct rc_err err = { 0 };
	char *handle, *log;

	(void)state;
	NEED_CLUSTER();
	struct executor *ex = open_backend();

	run_init(&ra, argv);
	handle = start_ok(ex, &ra);
	exec_close(ex);

	ex = open_backend();
	if (ex->ops->attach(ex, ra.id, NULL, ra.log_path, &err) != 0)
		fail_msg("attach: %s", err.msg);
	ev = wait_event(ra.id, -1, 30);
	assert_int_equal(ev.state, RUN_SUCCEEDED);
	log = read_log(ra.log_path);
	assert_string_equal(log, "found\n");

	run_init(&never, argv);
	assert_int_equal(
		ex->ops->attach(ex, never.id, NULL, never.log_path, &err), 1);
	free(log);
	free(handle);
	exec_close(ex);
}

/* A handle whose job Slurm does not know: lost, with the reason. */
static void test_lost(void **state)
{
	char *argv[] = { "/bin/true", NULL };
	struct run_args ra;
	struct ev_copy ev;
	struct rc_err err = { 0 };

	(void)state;
	NEED_CLUSTER();
	struct executor *ex = open_backend();

	run_init(&ra, argv);
	assert_int_equal(ex->ops->attach(ex, ra.id, "slurm:987654321",
					 ra.log_path, &err),
			 0);
	ev = wait_event(ra.id, -1, 30);
	assert_int_equal(ev.state, RUN_LOST);
	assert_string_equal(ev.reason,
			    "job 987654321 no longer known to Slurm");
	assert_int_equal(ex->ops->attach(ex, ra.id, "job:1", ra.log_path, &err),
			 -1);
	exec_close(ex);
}

/* The local log is capped; one marker line says so. */
static void test_log_cap(void **state)
{
	char *argv[] = { "/usr/bin/python3", "-c", "print('x' * 5000)", NULL };
	struct run_args ra;
	struct ev_copy ev;
	char *handle, *log;

	(void)state;
	NEED_CLUSTER();
	struct executor *ex = open_backend();

	run_init(&ra, argv);
	ra.log_max = 100;
	handle = start_ok(ex, &ra);
	ev = wait_event(ra.id, -1, 30);
	assert_int_equal(ev.state, RUN_SUCCEEDED);
	log = read_log(ra.log_path);
	assert_int_equal(strspn(log, "x"), 100);
	assert_string_equal(log + 100,
			    "\n[runcell: log truncated at 100 bytes; further "
			    "output discarded]\n");
	free(log);
	free(handle);
	exec_close(ex);
}

/* sbatch refusing the job fails start with sbatch's message; nothing is
 * left behind. */
static void test_sbatch_error(void **state)
{
	char *argv[] = { "/bin/true", NULL };
	struct run_args ra;
	struct rc_err err = { 0 };
	char *handle = NULL, *sh_path;

	(void)state;
	NEED_CLUSTER();
	struct executor *ex = open_backend();

	run_init(&ra, argv);
	ra.automation = "nopart";
	assert_int_equal(run_start(ex, &ra, &handle, &err), -1);
	assert_non_null(strstr(err.msg, "sbatch failed"));
	assert_non_null(strstr(err.msg, "partition"));
	assert_null(handle);
	sh_path = xasprintf("%s/slurm/%s.sh", data_dir, ra.id);
	assert_int_not_equal(access(sh_path, F_OK), 0);
	free(sh_path);
	exec_close(ex);
}

/* Several runs at once: one squeue call covers them all; each gets its
 * own output. */
static void test_many(void **state)
{
	enum { N = 8 };
	char nums[N][16];
	char *argv[N][3];
	struct run_args ra[N];
	char *handles[N];

	(void)state;
	NEED_CLUSTER();
	struct executor *ex = open_backend();

	for (int i = 0; i < N; i++) {
		snprintf(nums[i], sizeof(nums[i]), "n%d", i);
		argv[i][0] = "/bin/echo";
		argv[i][1] = nums[i];
		argv[i][2] = NULL;
		run_init(&ra[i], argv[i]);
		handles[i] = start_ok(ex, &ra[i]);
	}
	for (int i = 0; i < N; i++) {
		struct ev_copy ev = wait_event(ra[i].id, -1, 60);
		char *log = read_log(ra[i].log_path), want[32];

		assert_int_equal(ev.state, RUN_SUCCEEDED);
		snprintf(want, sizeof(want), "%s\n", nums[i]);
		assert_string_equal(log, want);
		free(log);
		free(handles[i]);
	}
	exec_close(ex);
}

/* The controller goes down while a job runs: nothing is reported finished
 * while it is away, and the true end arrives once it is back.  Needs
 * tests/slurm/up.sh (or $RUNCELL_SLURM_UP) to start it again. */
static void test_controller_down(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "echo start; sleep 15; echo end",
			 NULL };
	const char *up = getenv("RUNCELL_SLURM_UP");
	char *conf_copy, *dir, *pid_path, *pid_text = NULL, *up_argv[2];
	struct run_args ra;
	struct ev_copy ev;
	int64_t pid = 0, end;
	size_t len;
	pid_t child;
	int st, during;
	char *handle, *log;

	(void)state;
	NEED_CLUSTER();
	if (!up)
		up = "tests/slurm/up.sh";
	if (access(up, X_OK) != 0) {
		print_message("skipped: %s not found (set RUNCELL_SLURM_UP)\n",
			      up);
		skip();
	}
	conf_copy = xstrdup(slurm_conf);
	dir = dirname(conf_copy);
	pid_path = xasprintf("%s/slurmctld.pid", dir);
	if (read_file(pid_path, 64, &pid_text, &len, NULL) < 0)
		fail_msg("cannot read the controller's pid from %s", pid_path);
	pid_text[strcspn(pid_text, "\n")] = '\0';
	if (parse_int64(pid_text, 2, INT32_MAX, &pid) < 0)
		fail_msg("bad pid \"%s\" in %s", pid_text, pid_path);
	struct executor *ex = open_backend();

	run_init(&ra, argv);
	handle = start_ok(ex, &ra);
	wait_event(ra.id, RUN_RUNNING, 30);
	wait_log(ra.log_path, "start", 10);

	/* Controller away for 6 s while the job keeps running. */
	kill((pid_t)pid, SIGTERM);
	end = time_mono_ms() + 15000;
	while (kill((pid_t)pid, 0) == 0 && time_mono_ms() < end)
		usleep(100 * 1000);
	usleep(6000 * 1000);
	during = count_events(ra.id, -1);

	setenv("RUNCELL_SLURM_DIR", dir, 1);
	up_argv[0] = (char *)up;
	up_argv[1] = NULL;
	assert_int_equal(posix_spawn(&child, up, NULL, NULL, up_argv, environ),
			 0);
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	assert_int_equal(during, 1); /* RUNNING only */
	ev = wait_event(ra.id, -1, 60);
	assert_int_equal(ev.state, RUN_SUCCEEDED);
	log = read_log(ra.log_path);
	assert_string_equal(log, "start\nend\n");
	free(log);
	free(handle);
	free(pid_text);
	free(pid_path);
	free(conf_copy);
	exec_close(ex);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings_errors),
		cmocka_unit_test(test_success_env_and_log),
		cmocka_unit_test(test_exit_code),
		cmocka_unit_test(test_runcell_timeout),
		cmocka_unit_test(test_memory_kill),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_no_shell_interpolation),
		cmocka_unit_test(test_reattach),
		cmocka_unit_test(test_attach_without_handle),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_log_cap),
		cmocka_unit_test(test_sbatch_error),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_controller_down),
		cmocka_unit_test(test_slurm_time_limit),
	};

	slurm_conf = getenv("RUNCELL_SLURM_CONF");
	if (slurm_conf && *slurm_conf)
		setenv("SLURM_CONF", slurm_conf, 1);
	else
		slurm_conf = NULL;
	return cmocka_run_group_tests_name("slurm", tests, group_setup,
					   group_teardown);
}
