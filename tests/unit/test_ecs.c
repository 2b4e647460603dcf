/*
 * test_ecs.c - the ecs executor (src/exec/ecs.c, ecs_poll.c) and its AWS
 * client (src/exec/aws.c, aws_creds.c).
 *
 * Two kinds of tests:
 *  - against moto_server, the AWS emulator, for the real wire protocol and
 *    SigV4 signing (signature checking on: a wrong secret is refused).
 *    Start it with tests/ecs/moto-up.sh and load DIR/env; these tests are
 *    skipped, saying so, when RUNCELL_MOTO_URL is not set.
 *  - against recorded answers (the JSON files in tests/ecs/recorded) served by a small
 *    HTTP server in this process on 127.0.0.1, for what moto does not model:
 *    non-zero exit codes, OutOfMemory, stopCode, failures[], throttling,
 *    eventual consistency, an engine that is down, credentials endpoints.
 *
 * All traffic goes to 127.0.0.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "config.h"
#include "exec.h"
#include "exec/aws.h"
#include "exec/ecs.h"
#include "util.h"

/* Used when config.c is not linked in (it is the real one otherwise). */
__attribute__((weak)) const struct automation *
config_automation(const struct config *cfg, const char *id)
{
	for (size_t i = 0; cfg && i < cfg->n_autos; i++)
		if (!strcmp(cfg->autos[i].id, id))
			return &cfg->autos[i];
	return NULL;
}

static char tmpdir[256];

static char *env_dup(const char *name)
{
	return xstrdup(getenv(name));
}
static char recorded_dir[512];

/* The credentials moto-up.sh made, saved before tests change the env. */
static char *moto_url, *moto_key, *moto_secret;
static const char *moto_cluster, *moto_subnet, *moto_sg, *moto_log_group,
	*moto_log_prefix;

#define ARN_A                                                   \
	"arn:aws:ecs:us-east-1:123456789012:task/runcell-test/" \
	"0f1e2d3c4b5a69788796a5b4c3d2e1f0"

/* ------------------------------------------------------------------ */
/* A loopback server that answers from recorded exchanges.             */

struct replay {
	int fd;
	int port;
	pthread_t thread;
	atomic_int stop;
	pthread_mutex_t lock;
	json_t *answers;  /* {"Action": [{status, body}, ...]} */
	json_t *used;	  /* {"Action": n} */
	json_t *requests; /* [{target, body, auth, token}] */
	char *creds_body; /* answer to GET /creds */
	int creds_hits;
	char *creds_auth; /* Authorization seen on /creds */
	/* batching: answer RunTask and DescribeTasks from the requests */
	bool dynamic;
	json_t *seen; /* arn -> times described */
	size_t max_batch;
};

static char *header(const char *head, const char *name)
{
	size_t n = strlen(name);
	const char *p = head;

	while ((p = strstr(p, "\r\n"))) {
		p += 2;
		if (!strncasecmp(p, name, n) && p[n] == ':') {
			const char *v = p + n + 1, *e;

			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			return xstrndup(v, e ? (size_t)(e - v) : strlen(v));
		}
	}
	return NULL;
}

static json_t *dynamic_answer(struct replay *rp, const char *action,
			      json_t *req, int *status)
{
	*status = 200;
	if (!strcmp(action, "RunTask")) {
		const char *tok =
			json_string_value(json_object_get(req, "clientToken"));
		char *arn = xasprintf("arn:aws:ecs:us-east-1:123456789012:task/"
				      "runcell-test/t%s",
				      tok ? tok : "x");
		json_t *a = json_pack("{s:[{s:s, s:s}], s:[]}", "tasks",
				      "taskArn", arn, "lastStatus",
				      "PROVISIONING", "failures");

		free(arn);
		return a;
	}
	if (!strcmp(action, "DescribeTasks")) {
		json_t *tasks = json_array(),
		       *arns = json_object_get(req, "tasks");
		json_t *it;
		size_t i;

		if (json_array_size(arns) > rp->max_batch)
			rp->max_batch = json_array_size(arns);
		json_array_foreach(arns, i, it) {
			const char *arn = json_string_value(it);
			json_int_t n = json_integer_value(
				json_object_get(rp->seen, arn));

			json_object_set_new(rp->seen, arn, json_integer(n + 1));
			if (n == 0)
				json_array_append_new(
					tasks,
					json_pack("{s:s, s:s, s:f, s:[{s:s}]}",
						  "taskArn", arn, "lastStatus",
						  "RUNNING", "startedAt",
						  1767225631.5, "containers",
						  "name", "worker"));
			else
				json_array_append_new(
					tasks,
					json_pack("{s:s, s:s, s:s, s:[{s:s, "
						  "s:i}]}",
						  "taskArn", arn, "lastStatus",
						  "STOPPED", "stopCode",
						  "EssentialContainerExited",
						  "containers", "name",
						  "worker", "exitCode", 0));
		}
		return json_pack("{s:o, s:[]}", "tasks", tasks, "failures");
	}
	*status = 400;
	return json_pack("{s:s, s:s}", "__type", "ResourceNotFoundException",
			 "message", "no such stream");
}

static void replay_handle(struct replay *rp, int fd)
{
	struct buf in;
	char chunk[4096], *head_end = NULL, *method_end;
	char *clen = NULL, *target = NULL, *auth = NULL, *tok = NULL;
	char *expect = NULL, *out = NULL, *text = NULL;
	const char *action;
	size_t need = 0, head_len;
	json_t *req = NULL, *ans = NULL;
	int status = 200;
	struct timeval tv = { 5, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	buf_init(&in, 1 << 24);
	for (;;) {
		ssize_t r;

		if (!head_end && in.data &&
		    (head_end = strstr(in.data, "\r\n\r\n"))) {
			head_len = (size_t)(head_end - in.data) + 4;
			clen = header(in.data, "Content-Length");
			expect = header(in.data, "Expect");
			need = head_len + (clen ? strtoul(clen, NULL, 10) : 0);
			if (expect && !strcasecmp(expect, "100-continue"))
				write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n",
					  25);
		}
		if (head_end && in.len >= need)
			break;
		r = read(fd, chunk, sizeof(chunk));
		if (r <= 0)
			goto out;
		buf_append(&in, chunk, (size_t)r);
		if (head_end)
			head_end = in.data + head_len - 4;
	}
	method_end = strchr(in.data, ' ');
	pthread_mutex_lock(&rp->lock);
	if (method_end && !strncmp(in.data, "GET ", 4)) {
		free(rp->creds_auth);
		rp->creds_auth = header(in.data, "Authorization");
		rp->creds_hits++;
		text = xstrdup(rp->creds_body ? rp->creds_body : "{}");
		status = rp->creds_body ? 200 : 404;
		pthread_mutex_unlock(&rp->lock);
		goto answer;
	}
	target = header(in.data, "X-Amz-Target");
	auth = header(in.data, "Authorization");
	tok = header(in.data, "X-Amz-Security-Token");
	action = target && strchr(target, '.') ? strchr(target, '.') + 1 : "";
	req = json_loadb(in.data + head_len, need - head_len, 0, NULL);
	json_array_append_new(rp->requests,
			      json_pack("{s:s, s:O?, s:s?, s:s?}", "target",
					action, "body", req, "auth", auth,
					"token", tok));
	if (rp->dynamic) {
		ans = dynamic_answer(rp, action, req, &status);
		text = json_dumps(ans, JSON_COMPACT);
	} else {
		json_t *list = json_object_get(rp->answers, action), *one;
		json_int_t n =
			json_integer_value(json_object_get(rp->used, action));
		size_t k = json_array_size(list);

		if (!k && !strcmp(action, "GetLogEvents")) {
			/* no recording of output: the stream never appears */
			status = 400;
			text = xstrdup("{\"__type\":\"ResourceNotFoundException"
				       "\",\"message\":\"The specified log "
				       "stream does not exist.\"}");
		} else if (!k) {
			status = 400;
			text = xasprintf(
				"{\"__type\":\"UnknownOperationException"
				"\",\"message\":\"no recorded answer "
				"for %s\"}",
				action);
		} else {
			one = json_array_get(list,
					     (size_t)n < k ? (size_t)n : k - 1);
			json_object_set_new(rp->used, action,
					    json_integer(n + 1));
			if (json_is_integer(json_object_get(one, "status")))
				status = (int)json_integer_value(
					json_object_get(one, "status"));
			if (json_is_string(json_object_get(one, "body")))
				text = xstrdup(json_string_value(
					json_object_get(one, "body")));
			else
				text = json_dumps(json_object_get(one, "body"),
						  JSON_COMPACT);
		}
	}
	pthread_mutex_unlock(&rp->lock);
answer:
	out = xasprintf("HTTP/1.1 %d X\r\nContent-Type: "
			"application/x-amz-json-1.1\r\nContent-Length: %zu\r\n"
			"Connection: close\r\n\r\n%s",
			status, strlen(text ? text : ""), text ? text : "");
	write_all(fd, out, strlen(out));
out:
	json_decref(req);
	json_decref(ans);
	free(out);
	free(text);
	free(clen);
	free(expect);
	free(target);
	free(auth);
	free(tok);
	buf_free(&in);
}

static void *replay_main(void *arg)
{
	struct replay *rp = arg;

	while (!rp->stop) {
		struct pollfd p = { rp->fd, POLLIN, 0 };
		int c;

		if (poll(&p, 1, 50) <= 0)
			continue;
		c = accept(rp->fd, NULL, NULL);
		if (c < 0)
			continue;
		replay_handle(rp, c);
		close(c);
	}
	return NULL;
}

/* Start a replay server answering from the recorded file name (or none). */
static struct replay *replay_start(const char *name)
{
	struct replay *rp = xcalloc(1, sizeof(*rp));
	struct sockaddr_in sa = { 0 };
	socklen_t len = sizeof(sa);

	pthread_mutex_init(&rp->lock, NULL);
	rp->used = json_object();
	rp->requests = json_array();
	rp->seen = json_object();
	if (name) {
		char *path = xasprintf("%s/%s", recorded_dir, name);
		json_error_t je;
		json_t *j = json_load_file(path, 0, &je);

		if (!j)
			fail_msg("cannot load %s: %s", path, je.text);
		rp->answers = json_incref(json_object_get(j, "answers"));
		json_decref(j);
		free(path);
	} else {
		rp->answers = json_object();
	}
	rp->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(rp->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(rp->fd, 64), 0);
	getsockname(rp->fd, (struct sockaddr *)&sa, &len);
	rp->port = ntohs(sa.sin_port);
	pthread_create(&rp->thread, NULL, replay_main, rp);
	return rp;
}

static void replay_stop(struct replay *rp)
{
	rp->stop = 1;
	pthread_join(rp->thread, NULL);
	close(rp->fd);
	json_decref(rp->answers);
	json_decref(rp->used);
	json_decref(rp->requests);
	json_decref(rp->seen);
	free(rp->creds_body);
	free(rp->creds_auth);
	pthread_mutex_destroy(&rp->lock);
	free(rp);
}

/* How many requests for action the server saw; *last = the last body. */
static size_t replay_count(struct replay *rp, const char *action, json_t **last)
{
	json_t *it;
	size_t i, n = 0;

	pthread_mutex_lock(&rp->lock);
	if (last)
		*last = NULL;
	json_array_foreach(rp->requests, i, it) {
		if (strcmp(json_string_value(json_object_get(it, "target")),
			   action))
			continue;
		n++;
		if (last) {
			json_decref(*last);
			*last = json_incref(it);
		}
	}
	pthread_mutex_unlock(&rp->lock);
	return n;
}

static char *replay_url(struct replay *rp)
{
	return xasprintf("http://127.0.0.1:%d", rp->port);
}

/* ------------------------------------------------------------------ */
/* Events                                                              */

struct rec {
	char run_id[40];
	enum run_state state;
	bool has_exit_code;
	int exit_code;
	char reason[512];
	int64_t at;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rec v[2048];
	size_t n;
} evs;

static void on_event(void *ctx, const struct exec_event *ev)
{
	struct rec *r;

	(void)ctx;
	pthread_mutex_lock(&evs.lock);
	if (evs.n < sizeof(evs.v) / sizeof(evs.v[0])) {
		r = &evs.v[evs.n++];
		snprintf(r->run_id, sizeof(r->run_id), "%s", ev->run_id);
		r->state = ev->state;
		r->has_exit_code = ev->has_exit_code;
		r->exit_code = ev->exit_code;
		snprintf(r->reason, sizeof(r->reason), "%s",
			 ev->reason ? ev->reason : "");
		r->at = ev->at;
	}
	pthread_cond_broadcast(&evs.cond);
	pthread_mutex_unlock(&evs.lock);
}

static bool is_terminal(enum run_state s)
{
	return s != RUN_QUEUED && s != RUN_STARTING && s != RUN_RUNNING;
}

/* Wait up to ms for an event of run_id in state want (or any terminal one
 * if want is -1).  Returns true and *out. */
static bool wait_event(const char *run_id, int want, int ms, struct rec *out)
{
	int64_t end = time_mono_ms() + ms;
	bool found = false;

	pthread_mutex_lock(&evs.lock);
	while (!found) {
		struct timespec ts;

		for (size_t i = 0; i < evs.n && !found; i++) {
			struct rec *r = &evs.v[i];

			if (strcmp(r->run_id, run_id))
				continue;
			if ((want < 0 && is_terminal(r->state)) ||
			    (want >= 0 && (int)r->state == want)) {
				if (out)
					*out = *r;
				found = true;
			}
		}
		if (found || time_mono_ms() >= end)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&evs.cond, &evs.lock, &ts);
	}
	pthread_mutex_unlock(&evs.lock);
	return found;
}

static size_t count_events(const char *run_id, int state)
{
	size_t n = 0;

	pthread_mutex_lock(&evs.lock);
	for (size_t i = 0; i < evs.n; i++)
		if (!strcmp(evs.v[i].run_id, run_id) &&
		    (state < 0 || (int)evs.v[i].state == state))
			n++;
	pthread_mutex_unlock(&evs.lock);
	return n;
}

/* ------------------------------------------------------------------ */
/* Configuration, environment, helpers                                 */

struct tconfig {
	struct config cfg;
	struct automation autos[3];
	char *cmd[3];
};

/* A config with executors.ecs from settings (JSON text, owned here) and
 * automations "hello" (default task definition), "heavy" (worker-heavy)
 * and "slow" (timeout 1 s). */
static struct tconfig *tconfig_new(json_t *settings)
{
	struct tconfig *t = xcalloc(1, sizeof(*t));
	static const char *const ids[] = { "hello", "heavy", "slow" };

	t->cfg.executors = json_pack("{s:o}", "ecs", settings);
	t->cfg.server.executor = xstrdup("ecs");
	t->cfg.server.log_max_bytes = 1 << 20;
	t->cmd[0] = xstrdup("/bin/echo");
	for (int i = 0; i < 3; i++) {
		t->autos[i].id = xstrdup(ids[i]);
		t->autos[i].command = t->cmd;
		t->autos[i].executor = xstrdup("ecs");
	}
	t->autos[1].executor_options =
		json_pack("{s:s}", "task_definition", "worker-heavy");
	t->autos[2].res.timeout_ms = 1000;
	t->cfg.autos = t->autos;
	t->cfg.n_autos = 3;
	return t;
}

static void tconfig_free(struct tconfig *t)
{
	json_decref(t->cfg.executors);
	free(t->cfg.server.executor);
	for (int i = 0; i < 3; i++) {
		free(t->autos[i].id);
		free(t->autos[i].executor);
		json_decref(t->autos[i].executor_options);
	}
	free(t->cmd[0]);
	free(t);
}

static json_t *replay_settings(struct replay *rp)
{
	char *url = replay_url(rp);
	json_t *s = json_pack("{s:s, s:s, s:s, s:[s], s:[s], s:s, s:s, s:s, "
			      "s:s, s:s, s:s, s:i}",
			      "region", "us-east-1", "cluster", "runcell-test",
			      "endpoint", url, "subnets", "subnet-1",
			      "security_groups", "sg-1", "task_definition",
			      "worker", "log_group", "/runcell/test",
			      "log_stream_prefix", "runcell", "poll_interval",
			      "30ms", "poll_max_interval", "100ms",
			      "retry_base", "5ms", "max_attempts", 3);

	free(url);
	return s;
}

static struct executor *open_ecs(struct tconfig *t, struct rc_err *err)
{
	struct executor *ex = xcalloc(1, sizeof(*ex));

	ex->cfg = &t->cfg;
	ex->on_event = on_event;
	if (exec_ecs_open(ex, err) < 0) {
		free(ex);
		return NULL;
	}
	return ex;
}

static void close_ecs(struct executor *ex)
{
	if (!ex)
		return;
	ex->ops->close(ex);
	free(ex);
}

static void new_run_id(char out[RUN_ID_LEN + 1])
{
	out[0] = 'r';
	random_hex(out + 1, 8);
}

struct spec_store {
	struct exec_spec spec;
	struct resources res;
	char *argv[5];
	char *env[3];
	char log_path[512];
};

static void make_spec(struct spec_store *s, const char *run_id,
		      const char *automation)
{
	memset(s, 0, sizeof(*s));
	s->argv[0] = "/bin/echo";
	s->argv[1] = "two words";
	s->argv[2] = "$HOME; rm -rf /";
	s->argv[3] = "ünïcode";
	s->env[0] = "GREETING=hello world";
	s->env[1] = "EMPTY=";
	s->res.cpu = 0.5;
	s->res.memory = 256 << 20;
	snprintf(s->log_path, sizeof(s->log_path), "%.255s/%.40s.log", tmpdir,
		 run_id);
	s->spec.run_id = run_id;
	s->spec.automation_id = automation;
	s->spec.user = "alice@example.com";
	s->spec.argv = s->argv;
	s->spec.env = s->env;
	s->spec.res = &s->res;
	s->spec.log_path = s->log_path;
	s->spec.log_max_bytes = 1 << 20;
}

static const char *const cred_vars[] = {
	"AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY",
	"AWS_SESSION_TOKEN",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_SHARED_CREDENTIALS_FILE",
	"AWS_PROFILE",
	NULL,
};

static void creds_env(const char *key, const char *secret, const char *token)
{
	for (size_t i = 0; cred_vars[i]; i++)
		unsetenv(cred_vars[i]);
	if (key)
		setenv("AWS_ACCESS_KEY_ID", key, 1);
	if (secret)
		setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
	if (token)
		setenv("AWS_SESSION_TOKEN", token, 1);
	/* never the user's own ~/.aws/credentials */
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
}

static void replay_creds(void)
{
	creds_env("AKIDREPLAYTEST", "replay-secret-value", NULL);
}

static char *slurp(const char *path)
{
	char *text = NULL;
	size_t len;
	struct rc_err err;

	if (read_file(path, 1 << 24, &text, &len, &err) < 0)
		return xstrdup("");
	return text;
}

/* Wait until the file at path contains needle. */
static bool wait_file_has(const char *path, const char *needle, int ms)
{
	int64_t end = time_mono_ms() + ms;

	for (;;) {
		char *t = slurp(path);
		bool ok = strstr(t, needle) != NULL;

		free(t);
		if (ok)
			return true;
		if (time_mono_ms() > end)
			return false;
		usleep(20000);
	}
}

static json_t *recorded_body(json_t *req)
{
	return json_object_get(req, "body");
}

/* ------------------------------------------------------------------ */
/* Recorded answers                                                    */

/* Run one scenario to its end: start, wait for the terminal event. */
static void run_scenario(const char *file, const char *automation,
			 struct rec *terminal, struct replay **rp_out,
			 char run_id[RUN_ID_LEN + 1])
{
	struct replay *rp = replay_start(file);
	struct tconfig *t = tconfig_new(replay_settings(rp));
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	char *handle = NULL;

	replay_creds();
	ex = open_ecs(t, &err);
	if (!ex)
		fail_msg("open: %s", err.msg);
	new_run_id(run_id);
	make_spec(&s, run_id, automation);
	if (ex->ops->start(ex, &s.spec, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	assert_string_equal(handle, "ecs:" ARN_A);
	if (!wait_event(run_id, -1, 10000, terminal))
		fail_msg("no terminal event for %s", file);
	free(handle);
	close_ecs(ex);
	tconfig_free(t);
	if (rp_out)
		*rp_out = rp;
	else
		replay_stop(rp);
}

static void test_recorded_exit_code(void **state)
{
	struct rec r, run;
	struct replay *rp;
	char id[RUN_ID_LEN + 1];
	json_t *last;
	json_t *co;

	(void)state;
	run_scenario("exit_code.json", "hello", &r, &rp, id);
	assert_int_equal(r.state, RUN_FAILED);
	assert_true(r.has_exit_code);
	assert_int_equal(r.exit_code, 3);
	assert_string_equal(r.reason, "");
	assert_int_equal(r.at, 1767225642250);
	assert_true(wait_event(id, RUN_RUNNING, 0, &run));
	assert_int_equal(run.at, 1767225631500);
	assert_int_equal(count_events(id, RUN_RUNNING), 1);
	assert_int_equal(count_events(id, -1), 2);
	/* The RunTask request: what runcell asked ECS for. */
	assert_int_equal(replay_count(rp, "RunTask", &last), 1);
	co = json_object_get(recorded_body(last), "overrides");
	co = json_array_get(json_object_get(co, "containerOverrides"), 0);
	assert_string_equal(json_string_value(json_object_get(co, "name")),
			    "worker");
	assert_int_equal(json_integer_value(json_object_get(co, "cpu")), 512);
	assert_int_equal(json_integer_value(json_object_get(co, "memory")),
			 256);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(co, "command"), 2)),
			    "$HOME; rm -rf /");
	assert_string_equal(json_string_value(json_object_get(
				    recorded_body(last), "clientToken")),
			    id);
	assert_string_equal(json_string_value(json_object_get(
				    recorded_body(last), "launchType")),
			    "FARGATE");
	json_decref(last);
	replay_stop(rp);
}

static void test_recorded_oom(void **state)
{
	struct rec r;
	char id[RUN_ID_LEN + 1];

	(void)state;
	run_scenario("oom.json", "hello", &r, NULL, id);
	assert_int_equal(r.state, RUN_FAILED);
	assert_string_equal(r.reason, "memory limit exceeded");
	assert_true(r.has_exit_code);
	assert_int_equal(r.exit_code, 137);
}

static void test_recorded_failed_to_start(void **state)
{
	struct rec r;
	char id[RUN_ID_LEN + 1];

	(void)state;
	run_scenario("failed_to_start.json", "hello", &r, NULL, id);
	assert_int_equal(r.state, RUN_FAILED);
	assert_false(r.has_exit_code);
	assert_string_equal(r.reason,
			    "TaskFailedToStart: CannotPullContainerError: pull "
			    "image manifest has been retried 5 time(s)");
	assert_int_equal(count_events(id, RUN_RUNNING), 0);
}

static void test_recorded_runtask_failures(void **state)
{
	struct replay *rp = replay_start("runtask_failures.json");
	struct tconfig *t = tconfig_new(replay_settings(rp));
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	char id[RUN_ID_LEN + 1], *handle = NULL;

	(void)state;
	replay_creds();
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	new_run_id(id);
	make_spec(&s, id, "heavy");
	assert_int_equal(ex->ops->start(ex, &s.spec, &handle, &err), -1);
	assert_null(handle);
	assert_non_null(strstr(err.msg, "ECS did not start the task"));
	assert_non_null(strstr(err.msg, "RESOURCE:MEMORY"));
	/* heavy names its own task definition; container from its family */
	{
		json_t *last, *co;

		assert_int_equal(replay_count(rp, "RunTask", &last), 1);
		assert_string_equal(
			json_string_value(json_object_get(recorded_body(last),
							  "taskDefinition")),
			"worker-heavy");
		co = json_array_get(
			json_object_get(json_object_get(recorded_body(last),
							"overrides"),
					"containerOverrides"),
			0);
		assert_string_equal(
			json_string_value(json_object_get(co, "name")),
			"worker-heavy");
		json_decref(last);
	}
	close_ecs(ex);
	tconfig_free(t);
	replay_stop(rp);
}

static void test_recorded_throttled(void **state)
{
	struct rec r;
	struct replay *rp;
	char id[RUN_ID_LEN + 1];
	json_t *last;

	(void)state;
	run_scenario("throttled.json", "hello", &r, &rp, id);
	assert_int_equal(r.state, RUN_SUCCEEDED);
	assert_int_equal(r.exit_code, 0);
	/* three RunTask attempts, all with the same idempotency token */
	assert_int_equal(replay_count(rp, "RunTask", &last), 3);
	assert_string_equal(json_string_value(json_object_get(
				    recorded_body(last), "clientToken")),
			    id);
	json_decref(last);
	assert_int_equal(replay_count(rp, "DescribeTasks", NULL), 2);
	replay_stop(rp);
}

static void test_recorded_eventual_consistency(void **state)
{
	struct rec r;
	char id[RUN_ID_LEN + 1];

	(void)state;
	run_scenario("eventual_consistency.json", "hello", &r, NULL, id);
	assert_int_equal(r.state, RUN_SUCCEEDED);
	assert_int_equal(count_events(id, RUN_LOST), 0);
	assert_int_equal(count_events(id, RUN_RUNNING), 1);
}

static void test_recorded_lost(void **state)
{
	struct replay *rp = replay_start("lost.json");
	json_t *set = replay_settings(rp);
	struct tconfig *t;
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	struct rec r;
	char id[RUN_ID_LEN + 1], *handle = NULL;
	int64_t t0;

	(void)state;
	json_object_set_new(set, "missing_grace", json_string("300ms"));
	t = tconfig_new(set);
	replay_creds();
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	new_run_id(id);
	make_spec(&s, id, "hello");
	t0 = time_mono_ms();
	assert_int_equal(ex->ops->start(ex, &s.spec, &handle, &err), 0);
	assert_true(wait_event(id, -1, 5000, &r));
	assert_true(time_mono_ms() - t0 >= 300);
	assert_int_equal(r.state, RUN_LOST);
	assert_string_equal(r.reason, "task no longer known to ECS");
	free(handle);
	close_ecs(ex);
	tconfig_free(t);
	replay_stop(rp);
}

static void test_recorded_engine_down(void **state)
{
	struct replay *rp = replay_start("engine_down.json");
	json_t *set = replay_settings(rp);
	struct tconfig *t;
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	struct rec r;
	char id[RUN_ID_LEN + 1], *handle = NULL;

	(void)state;
	json_object_set_new(set, "max_attempts", json_integer(2));
	json_object_set_new(set, "missing_grace", json_string("10ms"));
	t = tconfig_new(set);
	replay_creds();
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	new_run_id(id);
	make_spec(&s, id, "hello");
	assert_int_equal(ex->ops->start(ex, &s.spec, &handle, &err), 0);
	assert_true(wait_event(id, -1, 10000, &r));
	/* 503 and 500 answers never ended the run (not even as lost) */
	assert_int_equal(r.state, RUN_SUCCEEDED);
	assert_int_equal(count_events(id, -1) - count_events(id, RUN_RUNNING),
			 1);
	assert_int_equal(replay_count(rp, "DescribeTasks", NULL), 7);
	free(handle);
	close_ecs(ex);
	tconfig_free(t);

	/* Nobody listening at all: start fails with a clear reason. */
	set = json_pack("{s:s, s:s, s:s, s:[s], s:s, s:i, s:s}", "region",
			"us-east-1", "cluster", "c", "endpoint",
			"http://127.0.0.1:1", "subnets", "subnet-1",
			"task_definition", "worker", "max_attempts", 2,
			"retry_base", "5ms");
	t = tconfig_new(set);
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	assert_int_equal(ex->ops->start(ex, &s.spec, &handle, &err), -1);
	assert_non_null(strstr(err.msg, "engine unreachable"));
	assert_non_null(strstr(err.msg, "gave up after 2 attempts"));
	close_ecs(ex);
	tconfig_free(t);
	replay_stop(rp);
}

static void test_recorded_logs(void **state)
{
	struct replay *rp = replay_start("logs_truncated.json");
	struct tconfig *t = tconfig_new(replay_settings(rp));
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	struct rec r;
	char id[RUN_ID_LEN + 1], *handle = NULL, *text, *side;
	json_t *last;
	struct stat st;

	(void)state;
	replay_creds();
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	new_run_id(id);
	make_spec(&s, id, "hello");
	s.spec.log_max_bytes = 30;
	assert_int_equal(ex->ops->start(ex, &s.spec, &handle, &err), 0);
	side = xasprintf("%s.ecs", s.log_path);
	assert_int_equal(stat(side, &st), 0);
	assert_true(wait_event(id, -1, 10000, &r));
	assert_int_equal(r.state, RUN_SUCCEEDED);
	text = slurp(s.log_path);
	assert_string_equal(text,
			    "line one\nline two\nline three i\n"
			    "[runcell: log truncated at 30 bytes; further "
			    "output discarded]\n");
	free(text);
	/* the stream name and paging */
	assert_true(replay_count(rp, "GetLogEvents", &last) >= 3);
	assert_string_equal(json_string_value(json_object_get(
				    recorded_body(last), "logStreamName")),
			    "runcell/worker/0f1e2d3c4b5a69788796a5b4c3d2e1f0");
	assert_true(json_is_true(
		json_object_get(recorded_body(last), "startFromHead")));
	assert_string_equal(json_string_value(json_object_get(
				    recorded_body(last), "nextToken")),
			    "f/000000000000000000000000000000000000000000000000"
			    "00000001");
	json_decref(last);
	/* finished: the sidecar goes (right after the event is delivered) */
	for (int i = 0; i < 100 && stat(side, &st) == 0; i++)
		usleep(10000);
	assert_int_equal(stat(side, &st), -1);
	free(side);
	free(handle);
	close_ecs(ex);
	tconfig_free(t);
	replay_stop(rp);
}

static void test_recorded_stop(void **state)
{
	struct replay *rp = replay_start("stop_user.json");
	struct tconfig *t = tconfig_new(replay_settings(rp));
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	struct rec r;
	char id[RUN_ID_LEN + 1], *handle = NULL;
	json_t *last;

	(void)state;
	replay_creds();
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	new_run_id(id);
	make_spec(&s, id, "hello");
	assert_int_equal(ex->ops->start(ex, &s.spec, &handle, &err), 0);
	assert_true(wait_event(id, RUN_RUNNING, 5000, NULL));
	assert_int_equal(ex->ops->stop(ex, id, handle, &err), 0);
	assert_true(wait_event(id, -1, 5000, &r));
	assert_int_equal(r.state, RUN_CANCELLED);
	assert_true(r.has_exit_code);
	assert_int_equal(r.exit_code, 143);
	assert_int_equal(replay_count(rp, "StopTask", &last), 1);
	assert_string_equal(json_string_value(json_object_get(
				    recorded_body(last), "reason")),
			    "stopped by runcell");
	assert_string_equal(
		json_string_value(json_object_get(recorded_body(last), "task")),
		ARN_A);
	json_decref(last);
	free(handle);
	close_ecs(ex);
	tconfig_free(t);
	replay_stop(rp);
}

/* Same run id twice: ECS (here, the recording) gives the same task for the
 * same clientToken, and the run is watched and reported once. */
static void test_recorded_idempotent(void **state)
{
	struct replay *rp = replay_start("exit_code.json");
	struct tconfig *t = tconfig_new(replay_settings(rp));
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	char id[RUN_ID_LEN + 1], *h1 = NULL, *h2 = NULL;
	json_t *it;
	size_t i;

	(void)state;
	replay_creds();
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	new_run_id(id);
	make_spec(&s, id, "hello");
	assert_int_equal(ex->ops->start(ex, &s.spec, &h1, &err), 0);
	assert_int_equal(ex->ops->start(ex, &s.spec, &h2, &err), 0);
	assert_string_equal(h1, h2);
	assert_true(wait_event(id, -1, 10000, NULL));
	usleep(200000);
	assert_int_equal(count_events(id, -1), 2); /* RUNNING + FAILED */
	pthread_mutex_lock(&rp->lock);
	json_array_foreach(rp->requests, i, it) {
		json_t *b = json_object_get(it, "body");

		if (!strcmp(json_string_value(json_object_get(it, "target")),
			    "RunTask"))
			assert_string_equal(json_string_value(json_object_get(
						    b, "clientToken")),
					    id);
	}
	pthread_mutex_unlock(&rp->lock);
	free(h1);
	free(h2);
	close_ecs(ex);
	tconfig_free(t);
	replay_stop(rp);
}

static void test_recorded_batching(void **state)
{
	struct replay *rp = replay_start(NULL);
	json_t *set = replay_settings(rp);
	struct tconfig *t;
	struct rc_err err = { 0 };
	struct executor *ex;
	enum { N = 250 };
	static char ids[N][RUN_ID_LEN + 1];
	struct spec_store s;
	size_t calls;

	(void)state;
	rp->dynamic = true;
	json_object_del(set, "log_group");
	json_object_del(set, "log_stream_prefix");
	/* the first round sees one run; the next, 2 s later, all of them */
	json_object_set_new(set, "poll_interval", json_string("2s"));
	json_object_set_new(set, "poll_max_interval", json_string("2s"));
	t = tconfig_new(set);
	replay_creds();
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	for (int i = 0; i < N; i++) {
		char *h = NULL;

		new_run_id(ids[i]);
		make_spec(&s, ids[i], "hello");
		if (ex->ops->start(ex, &s.spec, &h, &err) < 0)
			fail_msg("start %d: %s", i, err.msg);
		free(h);
	}
	for (int i = 0; i < N; i++) {
		struct rec r;

		assert_true(wait_event(ids[i], -1, 10000, &r));
		assert_int_equal(r.state, RUN_SUCCEEDED);
	}
	calls = replay_count(rp, "DescribeTasks", NULL);
	assert_true(rp->max_batch <= 100);
	assert_int_equal(rp->max_batch, 100);
	/* 250 runs, two rounds each: a handful of calls, not 500 */
	assert_true(calls >= 6 && calls <= 12);
	close_ecs(ex);
	tconfig_free(t);
	replay_stop(rp);
}

/* ------------------------------------------------------------------ */
/* Signing headers and credential sources (recorded server)            */

static void test_session_token_signed(void **state)
{
	struct replay *rp = replay_start("exit_code.json");
	struct tconfig *t = tconfig_new(replay_settings(rp));
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	char id[RUN_ID_LEN + 1], *handle = NULL;
	json_t *it;
	size_t i;
	bool logs = false;

	(void)state;
	creds_env("AKIDSESSIONTEST", "session-secret", "session-token-abc");
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	new_run_id(id);
	make_spec(&s, id, "hello");
	assert_int_equal(ex->ops->start(ex, &s.spec, &handle, &err), 0);
	assert_true(wait_event(id, -1, 10000, NULL));
	pthread_mutex_lock(&rp->lock);
	json_array_foreach(rp->requests, i, it) {
		const char *auth =
			json_string_value(json_object_get(it, "auth"));
		const char *tgt =
			json_string_value(json_object_get(it, "target"));

		assert_non_null(auth);
		assert_true(str_has_prefix(auth,
					   "AWS4-HMAC-SHA256 "
					   "Credential=AKIDSESSIONTEST/"));
		assert_non_null(strstr(auth, !strcmp(tgt, "GetLogEvents") ?
						     "/us-east-1/logs/" :
						     "/us-east-1/ecs/"));
		assert_non_null(strstr(auth, "x-amz-security-token"));
		assert_null(strstr(auth, "session-secret"));
		assert_string_equal(
			json_string_value(json_object_get(it, "token")),
			"session-token-abc");
		logs = logs || !strcmp(tgt, "GetLogEvents");
	}
	pthread_mutex_unlock(&rp->lock);
	assert_true(logs);
	free(handle);
	close_ecs(ex);
	tconfig_free(t);
	replay_stop(rp);
}

static void test_container_credentials(void **state)
{
	struct replay *rp = replay_start("exit_code.json");
	struct tconfig *t = tconfig_new(replay_settings(rp));
	struct rc_err err = { 0 };
	struct executor *ex;
	struct aws_client *c = NULL;
	struct aws_client_opts o = { 0 };
	json_t *ans = NULL, *body = json_object(), *last;
	char exp[32], *uri;
	int hits;

	(void)state;
	/* Expires in 2 minutes: inside the refresh window, so every call
	 * fetches again. */
	time_rfc3339(time_now_ms() + 120000, exp);
	rp->creds_body = xasprintf("{\"AccessKeyId\":\"ASIACONTAINER\","
				   "\"SecretAccessKey\":\"container-secret\","
				   "\"Token\":\"container-token\","
				   "\"Expiration\":\"%.19sZ\"}",
				   exp);
	creds_env(NULL, NULL, NULL);
	uri = xasprintf("http://127.0.0.1:%d/creds", rp->port);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth", 1);
	ex = open_ecs(t, &err);
	if (!ex)
		fail_msg("open: %s", err.msg);
	assert_int_equal(rp->creds_hits, 1);
	assert_string_equal(rp->creds_auth, "container-auth");
	close_ecs(ex);

	o.region = "us-east-1";
	o.ecs_endpoint = replay_url(rp);
	assert_int_equal(aws_client_new(&o, &c, &err), 0);
	assert_string_equal(aws_client_creds_source(c), "container endpoint");
	hits = rp->creds_hits;
	assert_int_equal(
		aws_call(c, AWS_ECS, "RunTask", body, &ans, NULL, &err), 0);
	json_decref(ans);
	assert_true(rp->creds_hits > hits); /* refreshed before expiry */
	assert_int_equal(replay_count(rp, "RunTask", &last), 1);
	assert_string_equal(json_string_value(json_object_get(last, "token")),
			    "container-token");
	assert_non_null(strstr(json_string_value(json_object_get(last, "auth")),
			       "Credential=ASIACONTAINER/"));
	json_decref(last);
	aws_client_free(c);
	free((char *)o.ecs_endpoint);

	/* plain http to a non-loopback address is refused */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.1.2.3/creds",
	       1);
	ex = open_ecs(t, &err);
	assert_null(ex);
	assert_non_null(strstr(err.msg, "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
	/* an endpoint that does not answer: a clear error, no secret */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c", 1);
	ex = open_ecs(t, &err);
	assert_null(ex);
	assert_non_null(strstr(err.msg, "container credentials endpoint"));
	assert_null(strstr(err.msg, "container-auth"));
	json_decref(body);
	free(uri);
	tconfig_free(t);
	replay_stop(rp);
}

static void test_shared_credentials_file(void **state)
{
	struct aws_creds cr = { 0 };
	struct rc_err err = { 0 };
	struct aws_client *c = NULL;
	struct aws_client_opts o = { 0 };
	char *path = xasprintf("%s/credentials", tmpdir);
	const char *text = "# comment\n[default]\naws_access_key_id = AKIDDEF\n"
			   "aws_secret_access_key = def-secret\n\n"
			   "[profile ops]\n  aws_access_key_id=AKIDOPS \n"
			   "aws_secret_access_key=ops/secret+x\n"
			   "aws_session_token = ops-token\n"
			   "[broken]\naws_access_key_id = AKIDONLY\n";

	(void)state;
	assert_int_equal(aws_creds_parse_ini(text, "default", "f", &cr, &err),
			 0);
	assert_string_equal(cr.key, "AKIDDEF");
	assert_string_equal(cr.secret, "def-secret");
	assert_null(cr.token);
	assert_int_equal(aws_creds_parse_ini(text, "ops", "f", &cr, &err), 0);
	assert_string_equal(cr.key, "AKIDOPS");
	assert_string_equal(cr.secret, "ops/secret+x");
	assert_string_equal(cr.token, "ops-token");
	assert_int_equal(aws_creds_parse_ini(text, "nope", "f", &cr, &err), 1);
	assert_int_equal(aws_creds_parse_ini(text, "broken", "f", &cr, &err),
			 -1);
	assert_non_null(strstr(err.msg, "aws_secret_access_key"));
	aws_creds_clear(&cr);

	assert_int_equal(write_file_atomic(path, text, strlen(text), &err), 0);
	creds_env(NULL, NULL, NULL);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	setenv("AWS_PROFILE", "ops", 1);
	o.region = "eu-west-1";
	assert_int_equal(aws_client_new(&o, &c, &err), 0);
	assert_string_equal(aws_client_creds_source(c),
			    "shared credentials file");
	aws_client_free(c);
	setenv("AWS_PROFILE", "missing", 1);
	assert_int_equal(aws_client_new(&o, &c, &err), -1);
	assert_non_null(strstr(err.msg, "no such profile"));
	/* a named file that is not there */
	creds_env(NULL, NULL, NULL);
	assert_int_equal(aws_client_new(&o, &c, &err), -1);
	assert_non_null(strstr(err.msg, "AWS_SHARED_CREDENTIALS_FILE names "
					"/nonexistent/credentials"));
	/* nothing at all (HOME without .aws) */
	{
		char *home = env_dup("HOME");

		unsetenv("AWS_SHARED_CREDENTIALS_FILE");
		setenv("HOME", tmpdir, 1);
		assert_int_equal(aws_client_new(&o, &c, &err), -1);
		assert_non_null(strstr(err.msg, "no AWS credentials found"));
		if (home)
			setenv("HOME", home, 1);
		free(home);
	}
	/* half of the environment pair */
	setenv("AWS_ACCESS_KEY_ID", "AKIDHALF", 1);
	assert_int_equal(aws_client_new(&o, &c, &err), -1);
	assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
	free(path);
}

/* ------------------------------------------------------------------ */
/* Settings and outcome rules                                          */

static void expect_open_error(json_t *set, const char *needle)
{
	struct tconfig *t = tconfig_new(set);
	struct rc_err err = { 0 };
	struct executor *ex = open_ecs(t, &err);

	if (ex)
		fail_msg("opened, expected an error with \"%s\"", needle);
	if (!strstr(err.msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
	tconfig_free(t);
}

static void test_settings(void **state)
{
	struct tconfig *t;
	struct rc_err err = { 0 };

	(void)state;
	replay_creds();
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	t = xcalloc(1, sizeof(*t));
	t->cfg.executors = json_object();
	{
		struct executor *ex = open_ecs(t, &err);

		assert_null(ex);
		assert_non_null(strstr(err.msg, "executors.ecs is missing"));
	}
	json_decref(t->cfg.executors);
	free(t);
	expect_open_error(json_pack("{s:s, s:[s], s:s}", "region", "us-east-1",
				    "subnets", "s", "task_definition", "w"),
			  "executors.ecs.cluster is required");
	expect_open_error(json_pack("{s:s, s:s, s:s}", "region", "us-east-1",
				    "cluster", "c", "task_definition", "w"),
			  "executors.ecs.subnets is required");
	expect_open_error(json_pack("{s:s, s:[s], s:s}", "cluster", "c",
				    "subnets", "s", "task_definition", "w"),
			  "region is required");
	expect_open_error(json_pack("{s:s, s:s, s:[s], s:s, s:b}", "region",
				    "us-east-1", "cluster", "c", "subnets", "s",
				    "task_definition", "w", "clsuter", 1),
			  "executors.ecs.clsuter is not a setting");
	expect_open_error(json_pack("{s:s, s:s, s:[s], s:s, s:s}", "region",
				    "us-east-1", "cluster", "c", "subnets", "s",
				    "task_definition", "w", "poll_interval",
				    "often"),
			  "poll_interval must be a duration");
	expect_open_error(json_pack("{s:s, s:s, s:[s], s:s, s:s}", "region",
				    "us-east-1", "cluster", "c", "subnets", "s",
				    "task_definition", "w", "log_group", "/g"),
			  "log_stream_prefix is required");
	expect_open_error(json_pack("{s:s, s:s, s:[s], s:s, s:s}", "region",
				    "us east", "cluster", "c", "subnets", "s",
				    "task_definition", "w", "launch_type",
				    "FARGATE"),
			  "region \"us east\" is not valid");
	/* an automation's unknown option */
	t = tconfig_new(json_pack("{s:s, s:s, s:[s], s:s}", "region",
				  "us-east-1", "cluster", "c", "subnets", "s",
				  "task_definition", "w"));
	t->autos[0].executor_options =
		json_pack("{s:s}", "task_defintion", "x");
	{
		struct executor *ex = open_ecs(t, &err);

		assert_null(ex);
		assert_non_null(strstr(err.msg, "automation hello"));
		assert_non_null(strstr(err.msg, "task_defintion"));
	}
	tconfig_free(t);
}

static json_t *stopped_task(const char *stop_code, const char *reason,
			    int exit_code)
{
	json_t *c = json_pack("{s:s}", "name", "worker");
	json_t *t = json_pack("{s:s, s:[o]}", "lastStatus", "STOPPED",
			      "containers", c);

	if (stop_code)
		json_object_set_new(t, "stopCode", json_string(stop_code));
	if (reason)
		json_object_set_new(t, "stoppedReason", json_string(reason));
	if (exit_code >= 0)
		json_object_set_new(c, "exitCode", json_integer(exit_code));
	return t;
}

static void test_outcome_rules(void **state)
{
	struct ecs_outcome o;
	json_t *t;

	(void)state;
	t = stopped_task("UserInitiated", "stopped by runcell", 143);
	ecs_task_outcome(t, "worker", ECS_STOP_NONE, 0, &o);
	assert_int_equal(o.state, RUN_CANCELLED); /* after a restart */
	ecs_task_outcome(t, "worker", ECS_STOP_USER, 0, &o);
	assert_int_equal(o.state, RUN_CANCELLED);
	assert_int_equal(o.exit_code, 143);
	json_decref(t);

	t = stopped_task("UserInitiated",
			 "stopped by runcell: timeout after "
			 "2s",
			 143);
	ecs_task_outcome(t, "worker", ECS_STOP_NONE, 2000, &o);
	assert_int_equal(o.state, RUN_TIMED_OUT);
	assert_string_equal(o.reason, "timeout after 2s");
	json_decref(t);

	t = stopped_task("UserInitiated", "Scaled down by admin", 0);
	ecs_task_outcome(t, "worker", ECS_STOP_NONE, 0, &o);
	assert_int_equal(o.state, RUN_CANCELLED);
	assert_string_equal(o.reason,
			    "stopped outside runcell: Scaled down by admin");
	json_decref(t);

	/* it finished by itself before our stop landed */
	t = stopped_task("EssentialContainerExited", NULL, 0);
	ecs_task_outcome(t, "worker", ECS_STOP_USER, 0, &o);
	assert_int_equal(o.state, RUN_SUCCEEDED);
	json_decref(t);

	t = stopped_task("SpotInterruption", "Your Spot Task was interrupted.",
			 -1);
	ecs_task_outcome(t, "worker", ECS_STOP_NONE, 0, &o);
	assert_int_equal(o.state, RUN_FAILED);
	assert_false(o.has_exit_code);
	assert_string_equal(o.reason, "SpotInterruption: Your Spot Task was "
				      "interrupted.");
	json_decref(t);

	t = stopped_task(NULL, NULL, -1);
	ecs_task_outcome(t, "worker", ECS_STOP_NONE, 0, &o);
	assert_int_equal(o.state, RUN_FAILED);
	assert_string_equal(o.reason, "the task stopped without an exit code");
	json_decref(t);
}

/* ------------------------------------------------------------------ */
/* moto_server                                                         */

static bool moto_skip(void)
{
	if (moto_url)
		return false;
	print_message("RUNCELL_MOTO_URL is not set: start tests/ecs/moto-up.sh "
		      "and load its env file to run the moto tests\n");
	skip();
	return true;
}

static void moto_creds(void)
{
	creds_env(moto_key, moto_secret, NULL);
}

static json_t *moto_settings(void)
{
	return json_pack("{s:s, s:s, s:s, s:[s], s:[s], s:b, s:s, s:s, s:s, "
			 "s:s, s:s}",
			 "region", "us-east-1", "cluster", moto_cluster,
			 "endpoint", moto_url, "subnets", moto_subnet,
			 "security_groups", moto_sg, "assign_public_ip", 0,
			 "task_definition", "worker", "log_group",
			 moto_log_group, "log_stream_prefix", moto_log_prefix,
			 "poll_interval", "50ms", "poll_max_interval", "200ms");
}

static size_t discard(char *p, size_t s, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return s * n;
}

/* POST to moto's own API (not signed). */
static void moto_api(const char *path, const char *json)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: "
							"application/json");
	char *url = xasprintf("%s%s", moto_url, path);
	long status = 0;

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	assert_true(status < 300);
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	free(url);
}

/* Tasks advance one state every `times` DescribeTasks calls. */
static void moto_transition(int times)
{
	char *b = xasprintf("{\"model_name\":\"ecs::task\",\"transition\":"
			    "{\"progression\":\"manual\",\"times\":%d}}",
			    times);

	moto_api("/moto-api/state-manager/set-transition", b);
	free(b);
}

static struct aws_client *moto_client(void)
{
	struct aws_client_opts o = { 0 };
	struct aws_client *c = NULL;
	struct rc_err err = { 0 };

	o.region = "us-east-1";
	o.ecs_endpoint = moto_url;
	moto_creds();
	if (aws_client_new(&o, &c, &err) < 0)
		fail_msg("aws client: %s", err.msg);
	return c;
}

static json_t *moto_call(struct aws_client *c, enum aws_service svc,
			 const char *action, json_t *body)
{
	struct rc_err err = { 0 };
	json_t *ans = NULL;

	if (aws_call(c, svc, action, body, &ans, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	json_decref(body);
	return ans;
}

static json_t *moto_describe(struct aws_client *c, const char *arn)
{
	json_t *a = moto_call(c, AWS_ECS, "DescribeTasks",
			      json_pack("{s:s, s:[s], s:[s]}", "cluster",
					moto_cluster, "tasks", arn, "include",
					"TAGS"));
	json_t *t = json_incref(json_array_get(json_object_get(a, "tasks"), 0));

	json_decref(a);
	return t;
}

static const char *tag_value(json_t *tags, const char *key)
{
	json_t *t;
	size_t i;

	json_array_foreach(tags, i, t)
		if (!strcmp(json_string_value(json_object_get(t, "key")), key))
			return json_string_value(json_object_get(t, "value"));
	return NULL;
}

static void moto_put_logs(struct aws_client *c, const char *stream,
			  const char *const *lines, bool create)
{
	json_t *evs_ = json_array();
	int64_t now = time_now_ms();

	if (create)
		json_decref(moto_call(c, AWS_LOGS, "CreateLogStream",
				      json_pack("{s:s, s:s}", "logGroupName",
						moto_log_group, "logStreamName",
						stream)));
	for (size_t i = 0; lines[i]; i++)
		json_array_append_new(evs_,
				      json_pack("{s:I, s:s}", "timestamp",
						(json_int_t)(now + (int64_t)i),
						"message", lines[i]));
	json_decref(moto_call(c, AWS_LOGS, "PutLogEvents",
			      json_pack("{s:s, s:s, s:o}", "logGroupName",
					moto_log_group, "logStreamName", stream,
					"logEvents", evs_)));
}

static void test_moto_runtask_signed(void **state)
{
	struct tconfig *t;
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	struct aws_client *c;
	char id[RUN_ID_LEN + 1], *handle = NULL;
	json_t *task, *co, *env, *tags, *ans;

	(void)state;
	if (moto_skip())
		return;
	moto_transition(100000);
	moto_creds();
	t = tconfig_new(moto_settings());
	ex = open_ecs(t, &err);
	if (!ex)
		fail_msg("open: %s", err.msg);
	new_run_id(id);
	make_spec(&s, id, "hello");
	if (ex->ops->start(ex, &s.spec, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	assert_true(str_has_prefix(handle, "ecs:arn:aws:ecs:us-east-1:"));

	c = moto_client();
	task = moto_describe(c, handle + 4);
	assert_non_null(task);
	assert_string_equal(
		json_string_value(json_object_get(task, "startedBy")),
		"runcell");
	assert_string_equal(
		json_string_value(json_object_get(task, "launchType")),
		"FARGATE");
	co = json_array_get(json_object_get(json_object_get(task, "overrides"),
					    "containerOverrides"),
			    0);
	assert_string_equal(json_string_value(json_object_get(co, "name")),
			    "worker");
	for (int i = 0; s.argv[i]; i++)
		assert_string_equal(json_string_value(json_array_get(
					    json_object_get(co, "command"), i)),
				    s.argv[i]);
	assert_int_equal(json_array_size(json_object_get(co, "command")), 4);
	env = json_object_get(co, "environment");
	assert_int_equal(json_array_size(env), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(env, 0), "name")),
			    "GREETING");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(env, 0), "value")),
			    "hello world");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(env, 1), "value")),
			    "");
	assert_int_equal(json_integer_value(json_object_get(co, "cpu")), 512);
	assert_int_equal(json_integer_value(json_object_get(co, "memory")),
			 256);
	tags = json_object_get(task, "tags");
	assert_string_equal(tag_value(tags, "runcell:run-id"), id);
	assert_string_equal(tag_value(tags, "runcell:automation"), "hello");
	assert_string_equal(tag_value(tags, "runcell:user"),
			    "alice@example.com");
	json_decref(task);
	ans = moto_call(c, AWS_ECS, "ListTagsForResource",
			json_pack("{s:s}", "resourceArn", handle + 4));
	assert_string_equal(
		tag_value(json_object_get(ans, "tags"), "runcell:run-id"), id);
	json_decref(ans);

	/* the poller reports RUNNING (moto starts tasks at RUNNING) */
	assert_true(wait_event(id, RUN_RUNNING, 5000, NULL));
	assert_int_equal(ex->ops->stop(ex, id, handle, &err), 0);
	assert_true(wait_event(id, -1, 5000, NULL));
	aws_client_free(c);
	free(handle);
	close_ecs(ex);
	tconfig_free(t);
}

static void test_moto_wrong_secret(void **state)
{
	struct tconfig *t;
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	char id[RUN_ID_LEN + 1], *handle = NULL;

	(void)state;
	if (moto_skip())
		return;
	creds_env(moto_key, "wrong-secret-Xyz", NULL);
	t = tconfig_new(moto_settings());
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	new_run_id(id);
	make_spec(&s, id, "hello");
	assert_int_equal(ex->ops->start(ex, &s.spec, &handle, &err), -1);
	assert_null(handle);
	assert_non_null(strstr(err.msg, "ecs RunTask: HTTP 403 "
					"SignatureDoesNotMatch"));
	assert_non_null(strstr(err.msg, "check the AWS secret access key"));
	assert_null(strstr(err.msg, "wrong-secret-Xyz"));
	close_ecs(ex);
	tconfig_free(t);
}

static void test_moto_progression(void **state)
{
	struct tconfig *t;
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	struct rec r;
	char id[RUN_ID_LEN + 1], *handle = NULL;

	(void)state;
	if (moto_skip())
		return;
	/* RUNNING -> DEACTIVATING -> STOPPING -> DEPROVISIONING -> STOPPED,
	 * one step per DescribeTasks call */
	moto_transition(1);
	moto_creds();
	t = tconfig_new(moto_settings());
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	new_run_id(id);
	make_spec(&s, id, "heavy");
	if (ex->ops->start(ex, &s.spec, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	assert_true(wait_event(id, -1, 10000, &r));
	assert_int_equal(r.state, RUN_SUCCEEDED);
	assert_true(r.has_exit_code);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(count_events(id, RUN_RUNNING), 1);
	assert_int_equal(count_events(id, -1), 2);
	free(handle);
	close_ecs(ex);
	tconfig_free(t);
}

static void test_moto_logs_and_stop(void **state)
{
	struct tconfig *t;
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	struct aws_client *c;
	struct rec r;
	char id[RUN_ID_LEN + 1], *handle = NULL, *stream, *text;
	static const char *const l1[] = { "hello", "world\n", NULL };
	static const char *const l2[] = { "third line", NULL };
	json_t *task;

	(void)state;
	if (moto_skip())
		return;
	moto_transition(100000);
	moto_creds();
	t = tconfig_new(moto_settings());
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	new_run_id(id);
	make_spec(&s, id, "hello");
	if (ex->ops->start(ex, &s.spec, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	assert_true(wait_event(id, RUN_RUNNING, 5000, NULL));
	c = moto_client();
	stream = xasprintf("%s/worker/%s", moto_log_prefix,
			   ecs_task_id(handle + 4));
	moto_put_logs(c, stream, l1, true);
	assert_true(wait_file_has(s.log_path, "hello\nworld\n", 5000));
	moto_put_logs(c, stream, l2, false);
	assert_true(wait_file_has(s.log_path, "third line\n", 5000));

	assert_int_equal(ex->ops->stop(ex, id, handle, &err), 0);
	assert_true(wait_event(id, -1, 5000, &r));
	assert_int_equal(r.state, RUN_CANCELLED);
	text = slurp(s.log_path);
	assert_string_equal(text, "hello\nworld\nthird line\n");
	free(text);
	task = moto_describe(c, handle + 4);
	assert_string_equal(
		json_string_value(json_object_get(task, "stoppedReason")),
		"stopped by runcell");
	json_decref(task);
	free(stream);
	aws_client_free(c);
	free(handle);
	close_ecs(ex);
	tconfig_free(t);
}

static void test_moto_timeout(void **state)
{
	struct tconfig *t;
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	struct rec r;
	char id[RUN_ID_LEN + 1], *handle = NULL;
	int64_t t0;

	(void)state;
	if (moto_skip())
		return;
	moto_transition(100000);
	moto_creds();
	t = tconfig_new(moto_settings());
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	new_run_id(id);
	make_spec(&s, id, "slow");
	s.res.timeout_ms = 1000;
	t0 = time_mono_ms();
	if (ex->ops->start(ex, &s.spec, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	assert_true(wait_event(id, -1, 10000, &r));
	assert_true(time_mono_ms() - t0 >= 1000);
	assert_int_equal(r.state, RUN_TIMED_OUT);
	assert_string_equal(r.reason, "timeout after 1s");
	free(handle);
	close_ecs(ex);
	tconfig_free(t);
}

static void test_moto_reattach(void **state)
{
	struct tconfig *t;
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	struct aws_client *c;
	struct rec r;
	char id[RUN_ID_LEN + 1], other[RUN_ID_LEN + 1];
	char *handle = NULL, *stream, *text, *side;
	static const char *const l1[] = { "before restart", NULL };
	static const char *const l2[] = { "after restart", NULL };
	static const char *const l3[] = { "found by tag", NULL };
	json_t *task;

	(void)state;
	if (moto_skip())
		return;
	moto_transition(100000);
	moto_creds();
	t = tconfig_new(moto_settings());
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	new_run_id(id);
	make_spec(&s, id, "hello");
	if (ex->ops->start(ex, &s.spec, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	c = moto_client();
	stream = xasprintf("%s/worker/%s", moto_log_prefix,
			   ecs_task_id(handle + 4));
	moto_put_logs(c, stream, l1, true);
	assert_true(wait_file_has(s.log_path, "before restart\n", 5000));
	close_ecs(ex);

	/* the task kept running */
	task = moto_describe(c, handle + 4);
	assert_string_equal(
		json_string_value(json_object_get(task, "lastStatus")),
		"RUNNING");
	json_decref(task);
	moto_put_logs(c, stream, l2, false);

	/* a new executor re-adopts it from the handle, resuming the log */
	moto_creds();
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	assert_int_equal(ex->ops->attach(ex, id, handle, s.log_path, &err), 0);
	assert_true(wait_file_has(s.log_path, "after restart\n", 5000));
	text = slurp(s.log_path);
	assert_string_equal(text, "before restart\nafter restart\n");
	free(text);
	close_ecs(ex);

	/* no handle and no sidecar: found by its runcell:run-id tag */
	side = xasprintf("%s.ecs", s.log_path);
	assert_int_equal(unlink(side), 0);
	moto_put_logs(c, stream, l3, false);
	moto_creds();
	ex = open_ecs(t, &err);
	assert_non_null(ex);
	assert_int_equal(ex->ops->attach(ex, id, NULL, s.log_path, &err), 0);
	assert_true(wait_file_has(s.log_path, "found by tag\n", 5000));
	/* a run that never reached ECS: attach says so */
	new_run_id(other);
	assert_int_equal(ex->ops->attach(ex, other, NULL, "/nonexistent/x.log",
					 &err),
			 1);
	/* stop after re-attach: cancelled; the automation came from tags */
	assert_int_equal(ex->ops->stop(ex, id, NULL, &err), 0);
	assert_true(wait_event(id, -1, 5000, &r));
	assert_int_equal(r.state, RUN_CANCELLED);
	assert_int_equal(count_events(id, -1) - count_events(id, RUN_RUNNING),
			 1);
	free(side);
	free(stream);
	aws_client_free(c);
	free(handle);
	close_ecs(ex);
	tconfig_free(t);
}

static void test_moto_container_credentials(void **state)
{
	struct replay *rp;
	struct tconfig *t;
	struct spec_store s;
	struct rc_err err = { 0 };
	struct executor *ex;
	char id[RUN_ID_LEN + 1], *handle = NULL, *uri;

	(void)state;
	if (moto_skip())
		return;
	rp = replay_start(NULL);
	rp->creds_body = xasprintf("{\"AccessKeyId\":\"%s\",\"SecretAccess"
				   "Key\":\"%s\",\"Expiration\":"
				   "\"2099-01-01T00:00:00Z\"}",
				   moto_key, moto_secret);
	creds_env(NULL, NULL, NULL);
	uri = xasprintf("http://127.0.0.1:%d/creds", rp->port);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
	moto_transition(100000);
	t = tconfig_new(moto_settings());
	ex = open_ecs(t, &err);
	if (!ex)
		fail_msg("open: %s", err.msg);
	new_run_id(id);
	make_spec(&s, id, "hello");
	if (ex->ops->start(ex, &s.spec, &handle, &err) < 0)
		fail_msg("start: %s", err.msg);
	assert_int_equal(ex->ops->stop(ex, id, handle, &err), 0);
	assert_true(wait_event(id, -1, 5000, NULL));
	assert_int_equal(rp->creds_hits, 1);
	free(uri);
	free(handle);
	close_ecs(ex);
	tconfig_free(t);
	replay_stop(rp);
}

/* ------------------------------------------------------------------ */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_outcome_rules),
		cmocka_unit_test(test_shared_credentials_file),
		cmocka_unit_test(test_recorded_exit_code),
		cmocka_unit_test(test_recorded_oom),
		cmocka_unit_test(test_recorded_failed_to_start),
		cmocka_unit_test(test_recorded_runtask_failures),
		cmocka_unit_test(test_recorded_throttled),
		cmocka_unit_test(test_recorded_eventual_consistency),
		cmocka_unit_test(test_recorded_lost),
		cmocka_unit_test(test_recorded_engine_down),
		cmocka_unit_test(test_recorded_logs),
		cmocka_unit_test(test_recorded_stop),
		cmocka_unit_test(test_recorded_idempotent),
		cmocka_unit_test(test_recorded_batching),
		cmocka_unit_test(test_session_token_signed),
		cmocka_unit_test(test_container_credentials),
		cmocka_unit_test(test_moto_runtask_signed),
		cmocka_unit_test(test_moto_wrong_secret),
		cmocka_unit_test(test_moto_progression),
		cmocka_unit_test(test_moto_logs_and_stop),
		cmocka_unit_test(test_moto_timeout),
		cmocka_unit_test(test_moto_reattach),
		cmocka_unit_test(test_moto_container_credentials),
	};
	const char *rec = getenv("RUNCELL_ECS_RECORDED");
	int failed;

	snprintf(recorded_dir, sizeof(recorded_dir), "%s",
		 rec ? rec : "tests/ecs/recorded");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/runcell-test-ecs.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	moto_url = env_dup("RUNCELL_MOTO_URL");
	moto_key = env_dup("AWS_ACCESS_KEY_ID");
	moto_secret = env_dup("AWS_SECRET_ACCESS_KEY");
	moto_cluster = getenv("RUNCELL_ECS_CLUSTER");
	moto_subnet = getenv("RUNCELL_ECS_SUBNET");
	moto_sg = getenv("RUNCELL_ECS_SECURITY_GROUP");
	moto_log_group = getenv("RUNCELL_ECS_LOG_GROUP");
	moto_log_prefix = getenv("RUNCELL_ECS_LOG_PREFIX");
	if (moto_url &&
	    (!moto_key || !moto_secret || !moto_cluster || !moto_subnet ||
	     !moto_sg || !moto_log_group || !moto_log_prefix)) {
		fprintf(stderr,
			"test_ecs: RUNCELL_MOTO_URL is set but the rest "
			"of moto-up.sh's env file is not (load it with "
			"set -a; . DIR/env; set +a)\n");
		return 1;
	}
	if (!moto_url)
		fprintf(stderr,
			"test_ecs: RUNCELL_MOTO_URL is not set: the moto "
			"tests are skipped (tests/ecs/moto-up.sh starts "
			"the emulator)\n");
	pthread_mutex_init(&evs.lock, NULL);
	pthread_cond_init(&evs.cond, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	rm_rf(tmpdir);
	free(moto_url);
	free(moto_key);
	free(moto_secret);
	return failed ? 1 : 0;
}
