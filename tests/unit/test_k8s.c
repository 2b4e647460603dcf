/*
 * test_k8s.c - the kubernetes executor against recorded API exchanges.
 *
 * No API server can run on this project's machines, so the tests start
 * tests/k8s/replay.py (python3, on 127.0.0.1, port chosen by the kernel),
 * which plays back answers shaped like a real API server's from
 * tests/k8s/exchanges/ and records every request.  Each test loads one
 * scenario through the server's control endpoint, drives the executor
 * through exec.h, and checks both the events and the requests the client
 * sent.  A second replay server speaks HTTPS with certificates made by
 * `openssl req` at start, for the client-certificate and in-cluster tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "exec/k8s_api.h"

extern char **environ;

/* ---- events -------------------------------------------------------------- */

#define MAX_EVENTS 256

struct ev_copy {
	char run_id[RUN_ID_LEN + 1];
	enum run_state state;
	bool has_exit_code;
	int exit_code;
	char reason[400];
};

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static struct ev_copy events[MAX_EVENTS];
static size_t n_events;

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
		if (getenv("RUNCELL_K8S_TEST_VERBOSE"))
			fprintf(stderr, "  event %s %s exit=%s%d reason=%s\n",
				c->run_id, run_state_name(c->state),
				c->has_exit_code ? "" : "none/", c->exit_code,
				c->reason);
	}
	pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_lock);
}

/* Wait up to timeout_s for an event of run_id in state want (any terminal
 * state when want is -1); fails the test if none comes. */
static struct ev_copy wait_event(const char *run_id, int want, int timeout_s)
{
	struct timespec ts;
	struct ev_copy found = { 0 };
	bool ok = false;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_s;
	pthread_mutex_lock(&ev_lock);
	for (;;) {
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
			 want < 0 ? "terminal" : run_state_name(want),
			 timeout_s);
	return found;
}

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

/* ---- the replay servers -------------------------------------------------- */

struct replay {
	pid_t pid;
	int port;
	char tls_dir[256];
	char base[64]; /* http(s)://127.0.0.1:PORT */
};

static struct replay plain = { .pid = -1 }, tls = { .pid = -1 };
static char tmp_dir[] = "/tmp/runcell-k8s-test.XXXXXX";

static const char *replay_script(void)
{
	static const char *const cands[] = { "tests/k8s/replay.py",
					     "../tests/k8s/replay.py" };
	const char *env = getenv("RUNCELL_K8S_REPLAY");

	if (env)
		return env;
	for (size_t i = 0; i < 2; i++)
		if (access(cands[i], R_OK) == 0)
			return cands[i];
	return cands[0];
}

/* Start replay.py and read its {"port": N, "tls_dir": ...} line. */
static int replay_start(struct replay *r, bool with_tls)
{
	char *argv[] = { "python3", (char *)replay_script(),   "--port",
			 "0",	    with_tls ? "--tls" : NULL, NULL };
	posix_spawn_file_actions_t fa;
	struct pollfd pfd;
	char line[1024];
	size_t len = 0;
	json_t *j;
	int p[2];

	if (pipe(p) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	if (posix_spawnp(&r->pid, "python3", &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
		ssize_t n;

		if (poll(&pfd, 1, 20000) <= 0)
			break;
		n = read(p[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(p[0]);
	line[len] = '\0';
	j = json_loads(line, 0, NULL);
	if (!j)
		return -1;
	r->port = (int)json_integer_value(json_object_get(j, "port"));
	snprintf(r->tls_dir, sizeof(r->tls_dir), "%s",
		 json_string_value(json_object_get(j, "tls_dir")) ?
			 json_string_value(json_object_get(j, "tls_dir")) :
			 "");
	snprintf(r->base, sizeof(r->base), "%s://127.0.0.1:%d",
		 with_tls ? "https" : "http", r->port);
	json_decref(j);
	return r->port > 0 ? 0 : -1;
}

static void replay_stop(struct replay *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		waitpid(r->pid, NULL, 0);
	}
	r->pid = -1;
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
	buf_append(ud, p, sz * n);
	return sz * n;
}

/* A control request to the plain replay server; the JSON answer. */
static json_t *ctl(const char *method, const char *path, const char *body)
{
	CURL *h = curl_easy_init();
	char *url = xasprintf("http://127.0.0.1:%d%s", plain.port, path);
	struct buf b;
	json_t *j;

	buf_init(&b, 0);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	if (curl_easy_perform(h) != CURLE_OK)
		fail_msg("control request %s failed", path);
	curl_easy_cleanup(h);
	j = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
	buf_free(&b);
	free(url);
	assert_non_null(j);
	return j;
}

/* Load scenario name; vars is a JSON object text (the run ids etc.). */
static void load(const char *name, const char *vars)
{
	char *body =
		xasprintf("{\"scenario\": \"%s\", \"vars\": %s}", name, vars);
	json_t *r = ctl("POST", "/_replay/load", body);

	if (!json_object_get(r, "loaded"))
		fail_msg("loading scenario %s: %s", name,
			 json_dumps(r, JSON_COMPACT));
	json_decref(r);
	free(body);
}

static json_t *recorded(void)
{
	return ctl("GET", "/_replay/requests", NULL);
}

/* How many recorded requests have this method and path, and optionally
 * query key=value. */
static int count_requests(json_t *reqs, const char *method, const char *path,
			  const char *qkey, const char *qval)
{
	json_t *r;
	size_t i;
	int n = 0;

	json_array_foreach(reqs, i, r) {
		const char *q;

		if (strcmp(json_string_value(json_object_get(r, "method")),
			   method) ||
		    strcmp(json_string_value(json_object_get(r, "path")), path))
			continue;
		q = json_string_value(json_object_get(
			json_object_get(r, "query"), qkey ? qkey : ""));
		if (qkey && (!q || (qval && strcmp(q, qval))))
			continue;
		n++;
	}
	return n;
}

static void assert_all_matched(json_t *reqs)
{
	json_t *r;
	size_t i;

	json_array_foreach(reqs, i, r) {
		if (json_is_true(json_object_get(r, "unmatched")))
			fail_msg(
				"unexpected request %s %s?%s",
				json_string_value(json_object_get(r, "method")),
				json_string_value(json_object_get(r, "path")),
				json_string_value(
					json_object_get(r, "raw_query")));
	}
}

/* ---- fixture ------------------------------------------------------------- */

static struct automation autos[2];
static struct config cfg;

static void set_executors(const char *fmt, ...)
{
	char text[4096];
	json_error_t je;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	json_decref(cfg.executors);
	cfg.executors = json_loads(text, 0, &je);
	if (!cfg.executors)
		fail_msg("bad executors JSON: %s", je.text);
}

/* executors: {kubernetes: {api_server: plain, image, namespace} + extra} */
static void set_plain(const char *extra)
{
	set_executors("{\"kubernetes\": {\"api_server\": \"%s\", \"image\": "
		      "\"busybox:1.36\", \"poll_interval\": \"200ms\"%s%s}}",
		      plain.base, extra ? ", " : "", extra ? extra : "");
}

static struct executor *open_backend(void)
{
	struct executor *ex = NULL;
	struct rc_err err = { 0 };

	if (exec_open("kubernetes", &cfg, on_event, NULL, &ex, &err) < 0)
		fail_msg("exec_open: %s", err.msg);
	return ex;
}

static int open_error(char *msg, size_t n)
{
	struct executor *ex = NULL;
	struct rc_err err = { 0 };

	if (exec_open("kubernetes", &cfg, on_event, NULL, &ex, &err) == 0) {
		exec_close(ex);
		return 0;
	}
	snprintf(msg, n, "%s", err.msg);
	return -1;
}

static char *log_file(const char *run_id)
{
	return xasprintf("%s/%s.log", tmp_dir, run_id);
}

static char *read_log(const char *run_id)
{
	char *path = log_file(run_id), *text = NULL;
	size_t len;

	if (read_file(path, 1 << 20, &text, &len, NULL) < 0)
		text = xstrdup("");
	free(path);
	return text;
}

static char *const test_argv[] = {
	"/usr/bin/python3", "-c", "print('hi; $(rm -rf /)')", "two words", NULL,
};
static char *const test_env[] = {
	"PATH=/usr/local/bin:/usr/bin:/bin",
	"HOME=/srv/runcell/work/x",
	"GREETING=hello world",
	NULL,
};
static struct resources test_res = {
	.cpu = 0.25,
	.memory = 64 << 20,
	.pids = 0,
	.timeout_ms = 90500,
};

static int start_run(struct executor *ex, const char *run_id,
		     const struct resources *res, char **handle,
		     struct rc_err *err)
{
	char *log = log_file(run_id);
	struct exec_spec spec = {
		.run_id = run_id,
		.automation_id = "hello",
		.user = "Alice Smith@example.com",
		.argv = test_argv,
		.env = test_env,
		.res = res,
		.log_path = log,
		.log_max_bytes = 1 << 20,
		.stop_grace_ms = 1000,
		.work_dir = tmp_dir,
	};
	int rc;

	*handle = NULL;
	rc = ex->ops->start(ex, &spec, handle, err);
	free(log);
	return rc;
}

static int setup_group(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!mkdtemp(tmp_dir))
		return -1;
	if (replay_start(&plain, false) < 0) {
		fprintf(stderr, "cannot start %s\n", replay_script());
		return -1;
	}
	if (replay_start(&tls, true) < 0)
		fprintf(stderr, "note: no TLS replay server (openssl?); the "
				"TLS tests will fail\n");
	autos[0].id = "hello";
	autos[0].executor = "kubernetes";
	autos[0].executor_options = json_pack("{s:s, s:{s:s}}", "image",
					      "registry.example.com/tools:2",
					      "node_selector", "pool", "batch");
	autos[1].id = "other";
	autos[1].executor = "kubernetes";
	cfg.autos = autos;
	cfg.n_autos = 2;
	cfg.server.executor = "kubernetes";
	cfg.server.log_max_bytes = 1 << 20;
	return 0;
}

static int teardown_group(void **state)
{
	(void)state;
	replay_stop(&plain);
	replay_stop(&tls);
	json_decref(cfg.executors);
	json_decref(autos[0].executor_options);
	rm_rf(tmp_dir);
	return 0;
}

/* ---- settings ------------------------------------------------------------ */

static void expect_open_error(const char *needle)
{
	char msg[RC_ERR_MSG_MAX];

	if (open_error(msg, sizeof(msg)) == 0)
		fail_msg("opening should fail with \"%s\"", needle);
	if (!strstr(msg, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", msg, needle);
}

static void test_settings_errors(void **state)
{
	json_t *saved = autos[0].executor_options;

	(void)state;
	set_plain("\"nmspace\": \"x\"");
	expect_open_error("unknown key \"nmspace\"");
	set_plain("\"namespace\": \"Not_Valid\"");
	expect_open_error("not a valid namespace");
	set_plain("\"poll_interval\": \"soon\"");
	expect_open_error("poll_interval must be a duration");
	set_plain("\"in_cluster\": \"yes\"");
	expect_open_error("in_cluster must be true or false");
	set_plain("\"image_pull_policy\": \"Sometimes\"");
	expect_open_error("Always, IfNotPresent or Never");
	set_plain("\"ttl_seconds_after_finished\": -5");
	expect_open_error("ttl_seconds_after_finished");
	set_executors("{\"kubernetes\": {\"api_server\": \"ftp://x\", "
		      "\"image\": \"i\"}}");
	expect_open_error("http:// or https://");
	set_executors("{\"kubernetes\": {\"api_server\": \"%s\"}}", plain.base);
	expect_open_error("automation other has no container image");
	set_executors("{\"kubernetes\": {\"kubeconfig\": \"%s/nope\", "
		      "\"image\": \"i\"}}",
		      tmp_dir);
	expect_open_error("nope");

	autos[0].executor_options = json_pack("{s:s}", "imag", "x");
	set_plain(NULL);
	expect_open_error("unknown kubernetes executor option \"imag\"");
	json_decref(autos[0].executor_options);
	autos[0].executor_options =
		json_pack("{s:{s:i}}", "node_selector", "pool", 3);
	expect_open_error("node_selector.pool must be a string");
	json_decref(autos[0].executor_options);
	autos[0].executor_options = saved;
}

/* ---- a run from submit to finish ----------------------------------------- */

static json_t *find_request(json_t *reqs, const char *method)
{
	json_t *r;
	size_t i;

	json_array_foreach(reqs, i, r)
		if (!strcmp(json_string_value(json_object_get(r, "method")),
			    method))
			return r;
	return NULL;
}

static void check_create_body(json_t *reqs, const char *run_id)
{
	json_t *post = find_request(reqs, "POST"), *job, *meta, *spec, *pod;
	json_t *c, *cmd, *env, *res, *it;
	size_t i;
	bool saw_home = false, saw_greeting = false;

	assert_non_null(post);
	assert_string_equal(json_string_value(json_object_get(post, "path")),
			    "/apis/batch/v1/namespaces/default/jobs");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(post, "headers"), "content-type")),
		"application/json");
	job = json_object_get(post, "body");
	assert_string_equal(json_string_value(json_object_get(job, "kind")),
			    "Job");
	assert_string_equal(
		json_string_value(json_object_get(job, "apiVersion")),
		"batch/v1");
	meta = json_object_get(job, "metadata");
	assert_string_equal(json_string_value(json_object_get(meta, "name")),
			    run_id);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(meta, "labels"), "runcell.io/run-id")),
		run_id);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(meta, "labels"),
				    "runcell.io/automation")),
			    "hello");
	/* Sanitized for the label, exact in the annotation. */
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(meta, "labels"), "runcell.io/user")),
		"Alice_Smith_example.com");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(meta, "annotations"),
				    "runcell.io/user")),
			    "Alice Smith@example.com");
	spec = json_object_get(job, "spec");
	assert_int_equal(
		json_integer_value(json_object_get(spec, "backoffLimit")), 0);
	assert_int_equal(json_integer_value(json_object_get(
				 spec, "activeDeadlineSeconds")),
			 91); /* 90.5 s rounded up */
	assert_int_equal(json_integer_value(json_object_get(
				 spec, "ttlSecondsAfterFinished")),
			 600);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(
				json_object_get(json_object_get(spec,
								"template"),
						"metadata"),
				"labels"),
			"runcell.io/run-id")),
		run_id);
	pod = json_object_get(json_object_get(spec, "template"), "spec");
	assert_string_equal(
		json_string_value(json_object_get(pod, "restartPolicy")),
		"Never");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(pod, "nodeSelector"), "pool")),
		"batch");
	assert_string_equal(
		json_string_value(json_object_get(pod, "serviceAccountName")),
		"runner");
	assert_int_equal(json_array_size(json_object_get(pod, "containers")),
			 1);
	c = json_array_get(json_object_get(pod, "containers"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "name")),
			    "run");
	assert_string_equal(json_string_value(json_object_get(c, "image")),
			    "registry.example.com/tools:2");
	assert_null(json_object_get(c, "args"));
	cmd = json_object_get(c, "command");
	assert_int_equal(json_array_size(cmd), 4);
	for (i = 0; i < 4; i++)
		assert_string_equal(json_string_value(json_array_get(cmd, i)),
				    test_argv[i]);
	env = json_object_get(c, "env");
	json_array_foreach(env, i, it) {
		const char *n = json_string_value(json_object_get(it, "name"));

		saw_home = saw_home || !strcmp(n, "HOME");
		if (!strcmp(n, "GREETING")) {
			saw_greeting = true;
			assert_string_equal(
				json_string_value(json_object_get(it, "value")),
				"hello world");
		}
	}
	assert_true(saw_greeting);
	assert_false(saw_home);
	res = json_object_get(c, "resources");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(res, "limits"), "cpu")),
			    "250m");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(res, "limits"), "memory")),
			    "67108864");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(res, "requests"), "cpu")),
			    "250m");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(res, "requests"), "memory")),
		"67108864");
}

static void test_create_watch_succeeded(void **state)
{
	const char *run = "r00000000000000a1";
	struct executor *ex;
	struct rc_err err = { 0 };
	struct ev_copy ev;
	char *handle = NULL, *logtext;
	json_t *reqs;

	(void)state;
	load("lifecycle", "{\"RUN_ID\": \"r00000000000000a1\", \"FINAL\": "
			  "\"complete\", \"TERM_PHASE\": \"Succeeded\", "
			  "\"TERM_REASON\": \"Completed\", \"EXIT\": 0, "
			  "\"FINAL_PODS\": \"podlist\"}");
	set_plain("\"ttl_seconds_after_finished\": 600, "
		  "\"service_account\": \"runner\"");
	ex = open_backend();
	if (start_run(ex, run, &test_res, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	assert_string_equal(handle, "k8s:default/r00000000000000a1");
	wait_event(run, RUN_RUNNING, 10);
	ev = wait_event(run, -1, 10);
	assert_int_equal(ev.state, RUN_SUCCEEDED);
	assert_true(ev.has_exit_code);
	assert_int_equal(ev.exit_code, 0);
	assert_int_equal(count_events(run, RUN_RUNNING), 1);
	assert_int_equal(count_events(run, -1), 2);

	/* Followed in two chunks, the rest from the last fetch, once. */
	logtext = read_log(run);
	assert_string_equal(logtext, "line 1\nline 2\nline 3\n");
	free(logtext);

	reqs = recorded();
	check_create_body(reqs, run);
	assert_int_equal(
		count_requests(reqs, "POST",
			       "/apis/batch/v1/namespaces/default/jobs", NULL,
			       NULL),
		1);
	assert_int_equal(
		count_requests(reqs, "GET",
			       "/apis/batch/v1/namespaces/default/jobs",
			       "resourceVersion", "1001"),
		1);
	assert_int_equal(count_requests(reqs, "GET",
					"/api/v1/namespaces/default/pods/"
					"r00000000000000a1-x7k2p/log",
					"follow", "true"),
			 1);
	assert_all_matched(reqs);
	json_decref(reqs);
	free(handle);
	exec_close(ex);
}

/* Run lifecycle.json to the end given by vars; the terminal event. */
static struct ev_copy run_to_end(const char *run, const char *vars)
{
	struct executor *ex;
	struct rc_err err = { 0 };
	struct ev_copy ev;
	char *handle = NULL;
	json_t *reqs;

	load("lifecycle", vars);
	set_plain(NULL);
	ex = open_backend();
	if (start_run(ex, run, &test_res, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	ev = wait_event(run, -1, 10);
	reqs = recorded();
	assert_all_matched(reqs);
	json_decref(reqs);
	free(handle);
	exec_close(ex);
	return ev;
}

static void test_failed_exit_code(void **state)
{
	struct ev_copy ev;

	(void)state;
	ev = run_to_end("r00000000000000a2",
			"{\"RUN_ID\": \"r00000000000000a2\", \"FINAL\": "
			"\"failed\", \"TERM_PHASE\": \"Failed\", "
			"\"TERM_REASON\": \"Error\", \"EXIT\": 3, "
			"\"FINAL_PODS\": \"podlist\"}");
	assert_int_equal(ev.state, RUN_FAILED);
	assert_true(ev.has_exit_code);
	assert_int_equal(ev.exit_code, 3);
	assert_string_equal(ev.reason, "");
	assert_int_equal(count_events("r00000000000000a2", RUN_RUNNING), 1);
}

static void test_oom_killed(void **state)
{
	struct ev_copy ev;

	(void)state;
	ev = run_to_end("r00000000000000a3",
			"{\"RUN_ID\": \"r00000000000000a3\", \"FINAL\": "
			"\"failed\", \"TERM_PHASE\": \"Failed\", "
			"\"TERM_REASON\": \"OOMKilled\", \"EXIT\": 137, "
			"\"FINAL_PODS\": \"podlist\"}");
	assert_int_equal(ev.state, RUN_FAILED);
	assert_true(ev.has_exit_code);
	assert_int_equal(ev.exit_code, 137);
	assert_string_equal(ev.reason, "memory limit exceeded");
}

static void test_deadline_exceeded(void **state)
{
	struct ev_copy ev;

	(void)state;
	ev = run_to_end("r00000000000000a4",
			"{\"RUN_ID\": \"r00000000000000a4\", \"FINAL\": "
			"\"deadline\", \"TERM_PHASE\": \"Failed\", "
			"\"TERM_REASON\": \"Error\", \"EXIT\": 137, "
			"\"FINAL_PODS\": \"podlist-empty\"}");
	assert_int_equal(ev.state, RUN_TIMED_OUT);
	assert_non_null(strstr(ev.reason, "DeadlineExceeded"));
}

/* ---- watch details, 410, 409, polling ------------------------------------ */

static void test_gone_410_relists(void **state)
{
	const char *run = "r00000000000000b1";
	struct executor *ex;
	struct rc_err err = { 0 };
	struct ev_copy ev;
	char *handle = NULL, *logtext;
	json_t *reqs;

	(void)state;
	load("gone410", "{\"RUN_ID\": \"r00000000000000b1\"}");
	set_plain(NULL);
	ex = open_backend();
	if (start_run(ex, run, &test_res, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	ev = wait_event(run, -1, 10);
	assert_int_equal(ev.state, RUN_SUCCEEDED);
	reqs = recorded();
	assert_int_equal(
		count_requests(reqs, "GET",
			       "/apis/batch/v1/namespaces/default/jobs",
			       "watch", NULL),
		2);
	assert_int_equal(
		count_requests(reqs, "GET",
			       "/apis/batch/v1/namespaces/default/jobs",
			       "resourceVersion", "1500"),
		1);
	/* Two LISTs: before the first watch and after the 410. */
	assert_true(count_requests(reqs, "GET",
				   "/apis/batch/v1/namespaces/default/jobs",
				   "labelSelector", "runcell.io/run-id") -
			    count_requests(reqs, "GET",
					   "/apis/batch/v1/namespaces/default/"
					   "jobs",
					   "watch", NULL) ==
		    2);
	assert_all_matched(reqs);
	logtext = read_log(run);
	assert_string_equal(logtext, "after the re-list\n");
	free(logtext);
	json_decref(reqs);
	free(handle);
	exec_close(ex);
}

static void test_conflict_adopts(void **state)
{
	const char *run = "r00000000000000b2";
	struct executor *ex;
	struct rc_err err = { 0 };
	struct ev_copy ev;
	char *handle = NULL;
	json_t *reqs;

	(void)state;
	load("conflict", "{\"RUN_ID\": \"r00000000000000b2\"}");
	set_plain(NULL);
	ex = open_backend();
	if (start_run(ex, run, &test_res, &handle, &err) < 0)
		fail_msg("start after 409: %s", err.msg);
	assert_string_equal(handle, "k8s:default/r00000000000000b2");
	ev = wait_event(run, -1, 10);
	assert_int_equal(ev.state, RUN_SUCCEEDED);
	reqs = recorded();
	assert_int_equal(
		count_requests(reqs, "POST",
			       "/apis/batch/v1/namespaces/default/jobs", NULL,
			       NULL),
		1);
	assert_true(count_requests(reqs, "GET",
				   "/apis/batch/v1/namespaces/default/jobs/"
				   "r00000000000000b2",
				   NULL, NULL) >= 1);
	assert_all_matched(reqs);
	json_decref(reqs);
	free(handle);
	exec_close(ex);
}

static void test_watch_refused_polls(void **state)
{
	const char *run = "r00000000000000b3";
	struct executor *ex;
	struct rc_err err = { 0 };
	struct ev_copy ev;
	char *handle = NULL;
	json_t *reqs;

	(void)state;
	load("pollmode", "{\"RUN_ID\": \"r00000000000000b3\"}");
	set_plain(NULL);
	ex = open_backend();
	if (start_run(ex, run, &test_res, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	wait_event(run, RUN_RUNNING, 10);
	ev = wait_event(run, -1, 10);
	assert_int_equal(ev.state, RUN_SUCCEEDED);
	reqs = recorded();
	assert_int_equal(
		count_requests(reqs, "GET",
			       "/apis/batch/v1/namespaces/default/jobs",
			       "watch", NULL),
		1);
	json_decref(reqs);
	free(handle);
	exec_close(ex);
}

/* ---- stop and runcell's own timeout -------------------------------------- */

static void wait_log(const char *run, const char *want)
{
	for (int i = 0; i < 100; i++) {
		char *t = read_log(run);
		bool ok = !strcmp(t, want);

		free(t);
		if (ok)
			return;
		usleep(50000);
	}
	fail_msg("log of %s never became \"%s\"", run, want);
}

static void test_stop_deletes_background(void **state)
{
	const char *run = "r00000000000000c1";
	struct executor *ex;
	struct rc_err err = { 0 };
	struct ev_copy ev;
	char *handle = NULL;
	json_t *reqs;

	(void)state;
	load("stop", "{\"RUN_ID\": \"r00000000000000c1\"}");
	set_plain(NULL);
	ex = open_backend();
	if (start_run(ex, run, &test_res, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	wait_event(run, RUN_RUNNING, 10);
	wait_log(run, "working\n"); /* streamed while it runs */
	assert_int_equal(count_events(run, -1), 1);
	if (ex->ops->stop(ex, run, handle, &err) < 0)
		fail_msg("stop: %s", err.msg);
	ev = wait_event(run, -1, 10);
	assert_int_equal(ev.state, RUN_CANCELLED);
	reqs = recorded();
	assert_int_equal(
		count_requests(reqs, "DELETE",
			       "/apis/batch/v1/namespaces/default/jobs/"
			       "r00000000000000c1",
			       "propagationPolicy", "Background"),
		1);
	assert_all_matched(reqs);
	json_decref(reqs);
	wait_log(run, "working\n");
	free(handle);
	exec_close(ex);
}

static void test_own_timeout(void **state)
{
	const char *run = "r00000000000000c2";
	struct resources res = test_res;
	struct executor *ex;
	struct rc_err err = { 0 };
	struct ev_copy ev;
	char *handle = NULL;
	json_t *reqs;

	(void)state;
	res.timeout_ms = 1500;
	load("stop", "{\"RUN_ID\": \"r00000000000000c2\"}");
	set_plain("\"timeout_grace\": \"0s\"");
	ex = open_backend();
	if (start_run(ex, run, &res, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	wait_event(run, RUN_RUNNING, 10);
	ev = wait_event(run, -1, 10);
	assert_int_equal(ev.state, RUN_TIMED_OUT);
	assert_non_null(strstr(ev.reason, "timeout of 1500 ms"));
	reqs = recorded();
	assert_int_equal(
		count_requests(reqs, "DELETE",
			       "/apis/batch/v1/namespaces/default/jobs/"
			       "r00000000000000c2",
			       "propagationPolicy", "Background"),
		1);
	json_decref(reqs);
	free(handle);
	exec_close(ex);
}

/* ---- attach after a restart, and an API server that is down -------------- */

static void test_attach(void **state)
{
	const char *run = "r00000000000000d1";
	struct executor *ex;
	struct rc_err err = { 0 };
	struct ev_copy ev;
	char *log = log_file(run), *logtext;
	int rc;

	(void)state;
	load("attach", "{\"RUN_ID\": \"r00000000000000d1\", \"MISSING_ID\": "
		       "\"r00000000000000d2\"}");
	set_plain(NULL);
	assert_int_equal(write_file_atomic(log, "line 1\n", 7, &err), 0);
	ex = open_backend();

	/* Never submitted: no handle and no Job of that name. */
	rc = ex->ops->attach(ex, "r00000000000000d2", NULL,
			     "/nonexistent/x.log", &err);
	assert_int_equal(rc, 1);

	rc = ex->ops->attach(ex, run, "k8s:default/r00000000000000d1", log,
			     &err);
	if (rc != 0)
		fail_msg("attach: %s", err.msg);
	ev = wait_event(run, -1, 10);
	assert_int_equal(ev.state, RUN_SUCCEEDED);
	assert_int_equal(ev.exit_code, 0);
	/* The local log had the first line: only the rest is added. */
	logtext = read_log(run);
	assert_string_equal(logtext, "line 1\nline 2\n");
	free(logtext);
	free(log);
	exec_close(ex);
}

static void test_api_down_keeps_state(void **state)
{
	const char *run = "r00000000000000d3";
	struct executor *ex;
	struct rc_err err = { 0 };
	struct ev_copy ev;
	char *log = log_file(run);
	json_t *r;

	(void)state;
	load("down", "{\"RUN_ID\": \"r00000000000000d3\"}");
	set_plain(NULL);
	ex = open_backend();
	if (ex->ops->attach(ex, run, "k8s:default/r00000000000000d3", log,
			    &err) != 0)
		fail_msg("attach: %s", err.msg);
	sleep(3);
	assert_int_equal(count_events(run, -1), 0);
	r = ctl("POST", "/_replay/state", "{\"set\": \"up\"}");
	json_decref(r);
	ev = wait_event(run, -1, 20);
	assert_int_equal(ev.state, RUN_SUCCEEDED);
	free(log);
	exec_close(ex);
}

/* ---- credentials --------------------------------------------------------- */

static char *write_kubeconfig(const char *name, const char *server,
			      const char *user_yaml, const char *cluster_extra)
{
	char *path = xasprintf("%s/%s", tmp_dir, name);
	char *text = xasprintf("apiVersion: v1\n"
			       "kind: Config\n"
			       "current-context: test\n"
			       "clusters:\n"
			       "- name: other\n"
			       "  cluster:\n"
			       "    server: https://10.255.255.1:6443\n"
			       "- name: replay\n"
			       "  cluster:\n"
			       "    server: %s\n%s"
			       "contexts:\n"
			       "- name: test\n"
			       "  context:\n"
			       "    cluster: replay\n"
			       "    user: tester\n"
			       "users:\n"
			       "- name: tester\n"
			       "  user:\n%s",
			       server, cluster_extra, user_yaml);
	struct rc_err err;

	assert_int_equal(write_file_atomic(path, text, strlen(text), &err), 0);
	free(text);
	return path;
}

static void test_kubeconfig_token(void **state)
{
	const char *run = "r00000000000000e1";
	char *kc = write_kubeconfig("token.yaml", plain.base,
				    "    token: s3cr3t-token-value\n", "");
	char *bad = write_kubeconfig("bad.yaml", "http://127.0.0.1:1",
				     "    token: s3cr3t-token-value\n", "");
	struct executor *ex;
	struct rc_err err = { 0 };
	struct ev_copy ev;
	char *handle = NULL;
	json_t *reqs, *r;
	size_t i;

	(void)state;
	load("lifecycle", "{\"RUN_ID\": \"r00000000000000e1\", \"FINAL\": "
			  "\"complete\", \"TERM_PHASE\": \"Succeeded\", "
			  "\"TERM_REASON\": \"Completed\", \"EXIT\": 0, "
			  "\"FINAL_PODS\": \"podlist\"}");
	set_executors("{\"kubernetes\": {\"kubeconfig\": \"%s\", \"image\": "
		      "\"busybox:1.36\", \"poll_interval\": \"200ms\"}}",
		      kc);
	ex = open_backend();
	if (start_run(ex, run, &test_res, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	ev = wait_event(run, -1, 10);
	assert_int_equal(ev.state, RUN_SUCCEEDED);
	reqs = recorded();
	assert_true(json_array_size(reqs) >= 5);
	json_array_foreach(reqs, i, r)
		assert_string_equal(json_string_value(json_object_get(
					    json_object_get(r, "headers"),
					    "authorization")),
				    "Bearer s3cr3t-token-value");
	json_decref(reqs);
	free(handle);
	exec_close(ex);

	/* An unreachable server: the error says so, without the token. */
	set_executors("{\"kubernetes\": {\"kubeconfig\": \"%s\", \"image\": "
		      "\"busybox:1.36\"}}",
		      bad);
	ex = open_backend();
	assert_int_equal(start_run(ex, "r00000000000000e2", &test_res, &handle,
				   &err),
			 -1);
	assert_non_null(strstr(err.msg, "127.0.0.1:1"));
	assert_null(strstr(err.msg, "s3cr3t"));
	exec_close(ex);
	free(kc);
	free(bad);
}

static char *file_base64(const char *path)
{
	char *data = NULL, *out;
	size_t len, olen;

	assert_int_equal(read_file(path, 1 << 20, &data, &len, NULL), 0);
	olen = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	out = xmalloc(olen);
	sodium_bin2base64(out, olen, (unsigned char *)data, len,
			  sodium_base64_VARIANT_ORIGINAL);
	free(data);
	return out;
}

static json_t *tls_requests(void)
{
	json_t *r;
	/* The control endpoint of the TLS server, over TLS. */
	CURL *h = curl_easy_init();
	char *url =
		xasprintf("https://127.0.0.1:%d/_replay/requests", tls.port);
	char *ca = xasprintf("%s/server.crt", tls.tls_dir);
	struct buf b;

	buf_init(&b, 0);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_cleanup(h);
	r = json_loadb(b.data, b.len, 0, NULL);
	assert_non_null(r);
	buf_free(&b);
	free(url);
	free(ca);
	return r;
}

static void tls_load(const char *body)
{
	CURL *h = curl_easy_init();
	char *url = xasprintf("https://127.0.0.1:%d/_replay/load", tls.port);
	char *ca = xasprintf("%s/server.crt", tls.tls_dir);
	long code = 0;

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	{
		struct buf b;

		buf_init(&b, 0);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
		assert_int_equal(curl_easy_perform(h), CURLE_OK);
		buf_free(&b);
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	assert_int_equal(code, 200);
	curl_easy_cleanup(h);
	free(url);
	free(ca);
}

static void test_kubeconfig_client_cert_tls(void **state)
{
	const char *run = "r00000000000000e3";
	char *crt, *key, *ca, *p, *user, *cluster, *kc;
	struct executor *ex;
	struct rc_err err = { 0 };
	struct ev_copy ev;
	char *handle = NULL;
	json_t *reqs, *r;
	size_t i;

	(void)state;
	if (tls.pid <= 0)
		fail_msg("no TLS replay server");
	p = xasprintf("%s/client.crt", tls.tls_dir);
	crt = file_base64(p);
	free(p);
	p = xasprintf("%s/client.key", tls.tls_dir);
	key = file_base64(p);
	free(p);
	p = xasprintf("%s/server.crt", tls.tls_dir);
	ca = file_base64(p);
	free(p);
	user = xasprintf("    client-certificate-data: %s\n"
			 "    client-key-data: %s\n",
			 crt, key);
	cluster = xasprintf("    certificate-authority-data: %s\n", ca);
	kc = write_kubeconfig("cert.yaml", tls.base, user, cluster);

	tls_load("{\"scenario\": \"lifecycle\", \"vars\": {\"RUN_ID\": "
		 "\"r00000000000000e3\", \"FINAL\": \"complete\", "
		 "\"TERM_PHASE\": \"Succeeded\", \"TERM_REASON\": "
		 "\"Completed\", \"EXIT\": 0, \"FINAL_PODS\": \"podlist\"}}");
	set_executors("{\"kubernetes\": {\"kubeconfig\": \"%s\", \"image\": "
		      "\"busybox:1.36\", \"poll_interval\": \"200ms\"}}",
		      kc);
	ex = open_backend();
	if (start_run(ex, run, &test_res, &handle, &err) < 0)
		fail_msg("start over TLS: %s", err.msg);
	ev = wait_event(run, -1, 10);
	assert_int_equal(ev.state, RUN_SUCCEEDED);
	reqs = tls_requests();
	assert_true(json_array_size(reqs) >= 5);
	json_array_foreach(reqs, i, r) {
		assert_string_equal(
			json_string_value(json_object_get(r, "client_cn")),
			"runcell-test");
		assert_null(json_object_get(json_object_get(r, "headers"),
					    "authorization"));
	}
	json_decref(reqs);
	free(handle);
	exec_close(ex);
	free(crt);
	free(key);
	free(ca);
	free(user);
	free(cluster);
	free(kc);
}

static void test_in_cluster(void **state)
{
	char *sa = xasprintf("%s/sa", tmp_dir), *p, *port;
	struct k8s_conn conn = { 0 };
	struct k8s_client *c = NULL;
	struct k8s_resp r;
	struct rc_err err = { 0 };
	json_t *reqs, *last;
	char *ca_src = xasprintf("%s/server.crt", tls.tls_dir), *ca = NULL;
	size_t len;

	(void)state;
	if (tls.pid <= 0)
		fail_msg("no TLS replay server");
	assert_int_equal(mkdir_p(sa, 0700, &err), 0);
	p = xasprintf("%s/token", sa);
	assert_int_equal(write_file_atomic(p, "in-cluster-token\n", 17, &err),
			 0);
	free(p);
	p = xasprintf("%s/namespace", sa);
	assert_int_equal(write_file_atomic(p, "runcell-jobs", 12, &err), 0);
	free(p);
	assert_int_equal(read_file(ca_src, 1 << 20, &ca, &len, &err), 0);
	p = xasprintf("%s/ca.crt", sa);
	assert_int_equal(write_file_atomic(p, ca, len, &err), 0);
	free(p);

	/* Outside a pod: a clear refusal. */
	unsetenv("KUBERNETES_SERVICE_HOST");
	conn.in_cluster = true;
	conn.sa_dir = sa;
	assert_int_equal(k8s_client_new(&conn, &c, &err), -1);
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST"));

	port = xasprintf("%d", tls.port);
	setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", port, 1);
	if (k8s_client_new(&conn, &c, &err) < 0)
		fail_msg("in-cluster client: %s", err.msg);
	assert_string_equal(k8s_client_server(c), tls.base);
	assert_string_equal(k8s_client_namespace(c), "runcell-jobs");
	assert_int_equal(
		k8s_request(c, NULL, "GET", "/version", NULL, &r, &err), 0);
	assert_int_equal(r.status, 404); /* no recorded answer: a Status */
	assert_string_equal(json_string_value(json_object_get(r.body, "kind")),
			    "Status");
	k8s_resp_free(&r);
	reqs = tls_requests();
	last = json_array_get(reqs, json_array_size(reqs) - 1);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(last, "headers"), "authorization")),
		"Bearer in-cluster-token");
	json_decref(reqs);
	k8s_client_free(c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	free(port);
	free(ca);
	free(ca_src);
	free(sa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings_errors),
		cmocka_unit_test(test_create_watch_succeeded),
		cmocka_unit_test(test_failed_exit_code),
		cmocka_unit_test(test_oom_killed),
		cmocka_unit_test(test_deadline_exceeded),
		cmocka_unit_test(test_gone_410_relists),
		cmocka_unit_test(test_conflict_adopts),
		cmocka_unit_test(test_watch_refused_polls),
		cmocka_unit_test(test_stop_deletes_background),
		cmocka_unit_test(test_own_timeout),
		cmocka_unit_test(test_attach),
		cmocka_unit_test(test_api_down_keeps_state),
		cmocka_unit_test(test_kubeconfig_token),
		cmocka_unit_test(test_kubeconfig_client_cert_tls),
		cmocka_unit_test(test_in_cluster),
	};

	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
