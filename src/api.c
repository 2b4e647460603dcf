/*
 * api.c - the HTTP API's routes: automations, runs, logs, tokens, users,
 * audit, health, and the original system's /api/run and /api/task/... routes
 * with their original fields.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "catalog.h"
#include "jsontime.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "schedule.h"
#include "secrets.h"
#include "web.h"
#include "webhook.h"

#define LOG_CHUNK_MAX (4 * 1024 * 1024)

static void set_time(json_t *o, const char *key, int64_t ms)
{
	json_object_set_new(o, key, json_time(ms));
}

json_t *api_run_json(const struct run *r)
{
	json_t *o = json_object();
	json_t *params = r->parameters ? json_loads(r->parameters, 0, NULL) :
					 NULL;
	json_t *argv = r->argv ? json_loads(r->argv, 0, NULL) : NULL;

	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "automation", json_string(r->automation));
	json_object_set_new(o, "user", json_string(r->user));
	json_object_set_new(o, "parameters", params ? params : json_object());
	json_object_set_new(o, "command", argv ? argv : json_array());
	json_object_set_new(o, "state", json_string(run_state_name(r->state)));
	json_object_set_new(o, "exit_code",
			    r->has_exit_code ? json_integer(r->exit_code) :
					       json_null());
	json_object_set_new(o, "reason",
			    r->reason ? json_string(r->reason) : json_null());
	json_object_set_new(o, "executor", json_string(r->executor));
	set_time(o, "created_at", r->created_at);
	set_time(o, "started_at", r->started_at);
	set_time(o, "finished_at", r->finished_at);
	if (r->started_at && r->finished_at)
		json_object_set_new(
			o, "duration_seconds",
			json_real((double)(r->finished_at - r->started_at) /
				  1000.0));
	else
		json_object_set_new(o, "duration_seconds", json_null());
	if (r->has_usage)
		json_object_set_new(o, "usage",
				    json_pack("{s:f, s:I}", "cpu_seconds",
					      (double)r->cpu_usec / 1e6,
					      "peak_memory_bytes",
					      (json_int_t)r->peak_memory));
	else
		json_object_set_new(o, "usage", json_null());
	json_object_set_new(o, "stop_requested",
			    json_boolean(r->stop_requested));
	json_object_set_new(o, "attempt",
			    json_integer(r->attempt > 0 ? r->attempt : 1));
	json_object_set_new(o, "retry_of",
			    r->retry_of[0] ? json_string(r->retry_of) :
					     json_null());
	set_time(o, "not_before", r->not_before);
	json_object_set_new(o, "queue_position", json_null());
	return o;
}

/* api_run_json plus the run's place in the queue while it is queued. */
static json_t *run_json(struct http_req *req, const struct run *r)
{
	json_t *o = api_run_json(r);
	int pos = r->state == RUN_QUEUED ?
			  runs_queue_position(req->app->runs, r->id) :
			  0;

	if (pos > 0)
		json_object_set_new(o, "queue_position", json_integer(pos));
	return o;
}

static void audit(struct http_req *req, const char *action, const char *target,
		  json_t *detail)
{
	struct rc_err err;
	char *raw = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	char *text = secrets_mask_str(req->app->secrets, raw);

	if (store_audit_add(req->app->store, req->user, action, target, text,
			    &err) < 0)
		log_error("audit %s %s: %s", action, target, err.msg);
	free(raw);
	free(text);
	json_decref(detail);
}

/* --- health --- */

static void h_healthz(struct http_req *req)
{
	int q, a;

	runs_counts(req->app->runs, &q, &a);
	http_json(req, 200,
		  json_pack("{s:s, s:i, s:i}", "status", "ok", "queued", q,
			    "active", a));
}

/* GET /metrics: Prometheus text; a viewer token is needed unless
 * server.metrics_public. */
static void h_metrics(struct http_req *req)
{
	static const char *const ct = "text/plain; version=0.0.4; "
				      "charset=utf-8";
	char *text;
	size_t len;
	int q, a;

	if (!runs_config(req->app->runs)->server.metrics_public &&
	    !http_require_role(req, ROLE_VIEWER))
		return;
	runs_counts(req->app->runs, &q, &a);
	text = metrics_render(req->app->metrics, q, a, &len);
	http_bytes(req, 200, ct, text, len, NULL);
	free(text);
}

/* --- automations --- */

static void h_automations(struct http_req *req)
{
	const struct config *cfg = runs_config(req->app->runs);
	json_t *arr = json_array();

	for (size_t i = 0; i < cfg->n_autos; i++) {
		json_t *a = catalog_automation_json(&cfg->autos[i]);

		json_object_set_new(
			a, "can_run",
			json_boolean(config_role_may_run(
				&cfg->autos[i], role_name(req->role))));
		json_array_append_new(arr, a);
	}
	http_json(req, 200, json_pack("{s:o}", "automations", arr));
}

static void h_automation(struct http_req *req)
{
	const struct automation *a =
		config_automation(runs_config(req->app->runs), req->params[0]);
	json_t *o;

	if (!a) {
		http_error(req, 404, "not_found", "no automation \"%s\"",
			   req->params[0]);
		return;
	}
	o = catalog_automation_json(a);
	json_object_set_new(
		o, "can_run",
		json_boolean(config_role_may_run(a, role_name(req->role))));
	http_json(req, 200, o);
}

/* --- runs --- */

/* Start a run for req's user; on failure the error response is queued. */
static int submit(struct http_req *req, const char *automation, json_t *params,
		  struct run *out)
{
	struct rc_err err;

	rc_err_clear(&err);
	if (runs_submit(req->app->runs, automation, params, req->user,
			role_name(req->role), out, &err) < 0) {
		http_error_from(req, &err);
		return -1;
	}
	audit(req, "run.start", out->id,
	      json_pack("{s:s, s:O?}", "automation", automation, "parameters",
			params));
	log_msg(LOG_INFO, out->id, "run of %s accepted for %s", automation,
		req->user);
	return 0;
}

static void h_run_create(struct http_req *req)
{
	json_t *body = http_body_json(req), *aut, *params, *value_unused;
	const char *key;
	struct run r;

	if (!body)
		return;
	memset(&r, 0, sizeof(r));
	aut = json_object_get(body, "automation");
	params = json_object_get(body, "parameters");
	if (!json_is_string(aut)) {
		http_error(req, 422, "invalid",
			   "give the automation's id as \"automation\" (a "
			   "string)");
		goto out;
	}
	json_object_foreach(body, key, value_unused) {
		(void)value_unused;
		if (strcmp(key, "automation") && strcmp(key, "parameters")) {
			http_error(req, 422, "invalid",
				   "unknown field \"%s\": a run takes "
				   "\"automation\" and \"parameters\"",
				   key);
			goto out;
		}
	}
	if (params && json_is_null(params))
		params = NULL;
	if (submit(req, json_string_value(aut), params, &r) < 0)
		goto out;
	http_json(req, 202, run_json(req, &r));
	store_run_clear(&r);
out:
	json_decref(body);
}

static bool may_see(struct http_req *req, const struct run *r)
{
	(void)req;
	(void)r;
	return true; /* viewers see all runs; roles gate actions */
}

/* Load the run named by the route's {id}; queues 404 when missing. */
static int load_run(struct http_req *req, struct run *r)
{
	struct rc_err err;
	int g;

	memset(r, 0, sizeof(*r));
	g = store_run_get(req->app->store, req->params[0], r, &err);
	if (g < 0) {
		http_error(req, 500, "internal", "reading run: %s", err.msg);
		return -1;
	}
	if (g == 1 || !may_see(req, r)) {
		store_run_clear(r);
		http_error(req, 404, "not_found", "no run \"%s\"",
			   req->params[0]);
		return -1;
	}
	return 0;
}

static void h_run_get(struct http_req *req)
{
	struct run r;

	if (load_run(req, &r) < 0)
		return;
	http_json(req, 200, run_json(req, &r));
	store_run_clear(&r);
}

static void h_runs_list(struct http_req *req)
{
	struct run_filter f = { .state = -1, .limit = 50 };
	const char *v;
	struct run *list = NULL;
	size_t n = 0;
	struct rc_err err;
	json_t *arr;
	int64_t num;

	f.automation = http_query(req, "automation");
	f.user = http_query(req, "user");
	if ((v = http_query(req, "state"))) {
		f.state = run_state_parse(v);
		if (f.state < 0) {
			http_error(req, 400, "bad_request",
				   "unknown state \"%.40s\": use queued, "
				   "starting, running, succeeded, failed, "
				   "timed_out, cancelled or lost",
				   v);
			return;
		}
	}
	if ((v = http_query(req, "limit"))) {
		if (parse_int64(v, 1, 1000, &num) < 0) {
			http_error(req, 400, "bad_request",
				   "limit must be a whole number from 1 to "
				   "1000");
			return;
		}
		f.limit = (int)num;
	}
	if ((v = http_query(req, "cursor"))) {
		if (parse_int64(v, 1, INT64_MAX, &num) < 0) {
			http_error(req, 400, "bad_request",
				   "cursor must be the next_cursor value of "
				   "a previous page");
			return;
		}
		f.before_seq = num;
	}
	if (store_run_list(req->app->store, &f, &list, &n, &err) < 0) {
		http_error(req, 500, "internal", "listing runs: %s", err.msg);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, run_json(req, &list[i]));
	if (n == (size_t)f.limit) {
		char cur[24];

		snprintf(cur, sizeof(cur), "%" PRId64, list[n - 1].seq);
		http_json(req, 200,
			  json_pack("{s:o, s:s}", "runs", arr, "next_cursor",
				    cur));
	} else {
		http_json(req, 200,
			  json_pack("{s:o, s:n}", "runs", arr, "next_cursor"));
	}
	store_runs_free(list, n);
}

static int do_stop(struct http_req *req, const char *id)
{
	struct rc_err err;

	rc_err_clear(&err);
	if (runs_stop(req->app->runs, id, req->user, &err) < 0) {
		http_error_from(req, &err);
		return -1;
	}
	audit(req, "run.stop", id, NULL);
	log_msg(LOG_INFO, id, "stop asked by %s", req->user);
	return 0;
}

static void h_run_stop(struct http_req *req)
{
	struct run r;

	if (do_stop(req, req->params[0]) < 0)
		return;
	if (load_run(req, &r) < 0)
		return;
	http_json(req, 202, run_json(req, &r));
	store_run_clear(&r);
}

static void h_run_log(struct http_req *req)
{
	struct run r;
	const char *v = http_query(req, "offset");
	int64_t offset = 0, size = 0;
	char *path, *data = NULL;
	char hsize[24], hoff[24], hnext[24];
	size_t len = 0, masked_len = 0;
	int fd;

	if (load_run(req, &r) < 0)
		return;
	if (v && parse_int64(v, 0, INT64_MAX, &offset) < 0) {
		http_error(req, 400, "bad_request",
			   "offset must be a whole number of bytes >= 0");
		goto out;
	}
	path = runs_log_path(req->app->runs, r.id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd >= 0) {
		struct stat st;

		if (fstat(fd, &st) == 0)
			size = st.st_size;
		if (offset < size) {
			size_t want = (size_t)(size - offset);
			ssize_t got;

			if (want > LOG_CHUNK_MAX)
				want = LOG_CHUNK_MAX;
			data = xmalloc(want);
			got = pread(fd, data, want, offset);
			len = got > 0 ? (size_t)got : 0;
		}
		if (len && req->app->secrets) {
			/* Mask secrets; an unfinished tail that may start one
			 * is left for the next request (X-Log-Next-Offset). */
			struct buf m;
			bool final = run_state_terminal(r.state) &&
				     offset + (int64_t)len >= size;

			buf_init(&m, 0);
			len = secrets_mask(req->app->secrets, data, len, final,
					   &m);
			masked_len = m.len;
			free(data);
			data = buf_take(&m, NULL);
		} else {
			masked_len = len;
		}
		close(fd);
	}
	snprintf(hsize, sizeof(hsize), "%" PRId64, size);
	snprintf(hoff, sizeof(hoff), "%" PRId64, offset);
	snprintf(hnext, sizeof(hnext), "%" PRId64, offset + (int64_t)len);
	{
		const char *headers[] = {
			"X-Log-Size",
			hsize,
			"X-Log-Offset",
			hoff,
			"X-Log-Next-Offset",
			hnext,
			"X-Run-State",
			run_state_name(r.state),
			"X-Run-Finished",
			run_state_terminal(r.state) ? "true" : "false",
			NULL,
		};
		http_bytes(req, 200, "text/plain; charset=utf-8",
			   data ? data : "", masked_len, headers);
	}
	free(data);
out:
	store_run_clear(&r);
}

/* --- the original system's routes --- */

static const char *ecs_status(enum run_state st)
{
	switch (st) {
	case RUN_QUEUED:
		return "PROVISIONING";
	case RUN_STARTING:
		return "PENDING";
	case RUN_RUNNING:
		return "RUNNING";
	default:
		return "STOPPED";
	}
}

static void h_legacy_run(struct http_req *req)
{
	json_t *body = http_body_json(req), *aut, *params;
	struct run r;
	char *msg;

	if (!body)
		return;
	memset(&r, 0, sizeof(r));
	aut = json_object_get(body, "automation_id");
	params = json_object_get(body, "parameters");
	if (!json_is_string(aut)) {
		http_error(req, 400, "bad_request",
			   "give the automation's id as \"automation_id\"");
		goto out;
	}
	if (params && json_is_null(params))
		params = NULL;
	if (submit(req, json_string_value(aut), params, &r) < 0)
		goto out;
	msg = xasprintf("Automation %s started", r.automation);
	http_json(req, 200,
		  json_pack("{s:b, s:s, s:s, s:s, s:s, s:s}", "success", 1,
			    "message", msg, "task_arn", r.id, "status",
			    ecs_status(r.state), "execution_mode", r.executor,
			    "run_id", r.id));
	free(msg);
	store_run_clear(&r);
out:
	json_decref(body);
}

static void h_legacy_status(struct http_req *req)
{
	struct run r;
	json_t *o;

	if (load_run(req, &r) < 0)
		return;
	o = json_object();
	json_object_set_new(o, "status", json_string(ecs_status(r.state)));
	set_time(o, "started_at", r.started_at);
	set_time(o, "stopped_at", r.finished_at);
	json_object_set_new(o, "exit_code",
			    r.has_exit_code ? json_integer(r.exit_code) :
					      json_null());
	json_object_set_new(o, "state", json_string(run_state_name(r.state)));
	json_object_set_new(o, "reason",
			    r.reason ? json_string(r.reason) : json_null());
	http_json(req, 200, o);
	store_run_clear(&r);
}

static void h_legacy_stop(struct http_req *req)
{
	if (do_stop(req, req->params[0]) < 0)
		return;
	http_json(req, 200,
		  json_pack("{s:b, s:s}", "success", 1, "message",
			    "Task stop requested"));
}

/* --- users, tokens, audit --- */

static void h_users_list(struct http_req *req)
{
	struct user *u = NULL;
	size_t n = 0;
	struct rc_err err;
	json_t *arr = json_array();

	if (store_user_list(req->app->store, &u, &n, &err) < 0) {
		json_decref(arr);
		http_error(req, 500, "internal", "%s", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:s, s:s, s:b}", "name", u[i].name,
				      "role", role_name(u[i].role), "disabled",
				      u[i].disabled);

		set_time(o, "created_at", u[i].created_at);
		json_array_append_new(arr, o);
		store_user_clear(&u[i]);
	}
	free(u);
	http_json(req, 200, json_pack("{s:o}", "users", arr));
}

static bool valid_user_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && !strchr("._@-", s[i]))
			return false;
	return true;
}

static void h_user_put(struct http_req *req)
{
	json_t *body = http_body_json(req);
	const char *name, *role;
	struct rc_err err;
	int r;

	if (!body)
		return;
	name = json_string_value(json_object_get(body, "name"));
	role = json_string_value(json_object_get(body, "role"));
	if (!name || !valid_user_name(name)) {
		http_error(req, 422, "invalid",
			   "\"name\" must be 1-64 letters, digits or ._@-");
		goto out;
	}
	r = role ? role_parse(role) : -1;
	if (r < 0) {
		http_error(req, 422, "invalid",
			   "\"role\" must be viewer, operator or admin");
		goto out;
	}
	if (store_user_put(req->app->store, name, (enum role)r, &err) < 0) {
		http_error(req, 500, "internal", "%s", err.msg);
		goto out;
	}
	audit(req, "user.put", name, json_pack("{s:s}", "role", role));
	http_json(req, 200,
		  json_pack("{s:s, s:s}", "name", name, "role", role));
out:
	json_decref(body);
}

static void h_tokens_list(struct http_req *req)
{
	struct token_info *t = NULL;
	size_t n = 0;
	struct rc_err err;
	json_t *arr = json_array();

	if (store_token_list(req->app->store, &t, &n, &err) < 0) {
		json_decref(arr);
		http_error(req, 500, "internal", "%s", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:I, s:s, s:s, s:s?, s:b}", "id",
				      (json_int_t)t[i].id, "user", t[i].user,
				      "role", role_name(t[i].role), "label",
				      t[i].label, "revoked", t[i].revoked);

		set_time(o, "created_at", t[i].created_at);
		set_time(o, "last_used_at", t[i].last_used_at);
		json_array_append_new(arr, o);
		store_token_clear(&t[i]);
	}
	free(t);
	http_json(req, 200, json_pack("{s:o}", "tokens", arr));
}

static void h_token_create(struct http_req *req)
{
	json_t *body = http_body_json(req);
	const char *user, *label, *role;
	struct rc_err err;
	char *secret = NULL;
	int64_t id;
	int r = -1;

	if (!body)
		return;
	user = json_string_value(json_object_get(body, "user"));
	label = json_string_value(json_object_get(body, "label"));
	role = json_string_value(json_object_get(body, "role"));
	if (!user || !valid_user_name(user)) {
		http_error(req, 422, "invalid",
			   "\"user\" must be 1-64 letters, digits or ._@-");
		goto out;
	}
	if (role && (r = role_parse(role)) < 0) {
		http_error(req, 422, "invalid",
			   "\"role\" must be viewer, operator or admin");
		goto out;
	}
	if (r >= 0 &&
	    store_user_put(req->app->store, user, (enum role)r, &err) < 0) {
		http_error(req, 500, "internal", "%s", err.msg);
		goto out;
	}
	if (store_token_create(req->app->store, user, label, &secret, &id,
			       &err) < 0) {
		http_error(req, 422, "invalid", "%s", err.msg);
		goto out;
	}
	audit(req, "token.create", user,
	      json_pack("{s:I, s:s?}", "token_id", (json_int_t)id, "label",
			label));
	http_json(req, 201,
		  json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "user",
			    user, "token", secret));
out:
	free(secret);
	json_decref(body);
}

static void h_token_revoke(struct http_req *req)
{
	struct rc_err err;
	int64_t id;
	int r;

	if (parse_int64(req->params[0], 1, INT64_MAX, &id) < 0) {
		http_error(req, 404, "not_found", "no token \"%s\"",
			   req->params[0]);
		return;
	}
	r = store_token_revoke(req->app->store, id, &err);
	if (r < 0) {
		http_error(req, 500, "internal", "%s", err.msg);
		return;
	}
	if (r == 1) {
		http_error(req, 404, "not_found", "no token %s",
			   req->params[0]);
		return;
	}
	audit(req, "token.revoke", req->params[0], NULL);
	http_json(req, 200,
		  json_pack("{s:I, s:b}", "id", (json_int_t)id, "revoked", 1));
}

static void h_audit(struct http_req *req)
{
	struct audit_entry *a = NULL;
	size_t n = 0;
	struct rc_err err;
	int64_t before = 0, limit = 100;
	const char *v;
	json_t *arr;

	if ((v = http_query(req, "cursor")) &&
	    parse_int64(v, 1, INT64_MAX, &before) < 0) {
		http_error(req, 400, "bad_request",
			   "cursor must be a next_cursor value");
		return;
	}
	if ((v = http_query(req, "limit")) &&
	    parse_int64(v, 1, 1000, &limit) < 0) {
		http_error(req, 400, "bad_request",
			   "limit must be a whole number from 1 to 1000");
		return;
	}
	if (store_audit_list(req->app->store, before, (int)limit, &a, &n,
			     &err) < 0) {
		http_error(req, 500, "internal", "%s", err.msg);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *d = a[i].detail ? json_loads(a[i].detail, 0, NULL) :
					  NULL;
		json_t *o = json_pack("{s:I, s:s, s:s, s:s?, s:o}", "id",
				      (json_int_t)a[i].id, "actor",
				      a[i].actor ? a[i].actor : "", "action",
				      a[i].action, "target", a[i].target,
				      "detail", d ? d : json_null());

		set_time(o, "at", a[i].at);
		json_array_append_new(arr, o);
	}
	if (n == (size_t)limit) {
		char cur[24];

		snprintf(cur, sizeof(cur), "%" PRId64, a[n - 1].id);
		http_json(req, 200,
			  json_pack("{s:o, s:s}", "entries", arr, "next_cursor",
				    cur));
	} else {
		http_json(req, 200,
			  json_pack("{s:o, s:n}", "entries", arr,
				    "next_cursor"));
	}
	store_audit_free(a, n);
}

static void h_whoami(struct http_req *req)
{
	http_json(req, 200,
		  json_pack("{s:s, s:s}", "user", req->user, "role",
			    role_name(req->role)));
}

/* --- schedules and notifications (schedule.c, notify.c) --- */

static void h_schedules(struct http_req *req)
{
	http_json(req, 200,
		  json_pack("{s:o}", "schedules",
			    sched_list_json(runs_config(req->app->runs),
					    req->app->store)));
}

static void h_run_notifications(struct http_req *req)
{
	struct rc_err err;
	struct run r;
	json_t *arr;

	if (load_run(req, &r) < 0)
		return;
	arr = notify_list_json(req->app->store, r.id, &err);
	store_run_clear(&r);
	if (!arr) {
		http_error(req, 500, "internal", "%s", err.msg);
		return;
	}
	http_json(req, 200, json_pack("{s:o}", "notifications", arr));
}

#define NOAUTH (-1)

const struct http_route api_routes[] = {
	{ "GET", "/healthz", NOAUTH, h_healthz },
	{ "GET", "/metrics", NOAUTH, h_metrics },
	{ "GET", "/api/v1/whoami", ROLE_VIEWER, h_whoami },
	{ "GET", "/api/v1/automations", ROLE_VIEWER, h_automations },
	{ "GET", "/api/v1/automations/{id}", ROLE_VIEWER, h_automation },
	{ "POST", "/api/v1/runs", ROLE_OPERATOR, h_run_create },
	{ "GET", "/api/v1/runs", ROLE_VIEWER, h_runs_list },
	{ "GET", "/api/v1/runs/events", ROLE_VIEWER, sse_h_all_events },
	{ "GET", "/api/v1/runs/{id}", ROLE_VIEWER, h_run_get },
	{ "POST", "/api/v1/runs/{id}/stop", ROLE_OPERATOR, h_run_stop },
	{ "GET", "/api/v1/runs/{id}/log", ROLE_VIEWER, h_run_log },
	{ "GET", "/api/v1/users", ROLE_ADMIN, h_users_list },
	{ "POST", "/api/v1/users", ROLE_ADMIN, h_user_put },
	{ "GET", "/api/v1/tokens", ROLE_ADMIN, h_tokens_list },
	{ "POST", "/api/v1/tokens", ROLE_ADMIN, h_token_create },
	{ "DELETE", "/api/v1/tokens/{id}", ROLE_ADMIN, h_token_revoke },
	{ "GET", "/api/v1/audit", ROLE_ADMIN, h_audit },
	{ "GET", "/api/v1/schedules", ROLE_VIEWER, h_schedules },
	{ "GET", "/api/v1/runs/{id}/notifications", ROLE_VIEWER,
	  h_run_notifications },
	{ "POST", "/api/v1/hooks/{automation}", NOAUTH, webhook_handle },
	/* Live output, sign-in and the web UI (sse.c, web.c). */
	{ "GET", "/api/v1/runs/{id}/events", ROLE_VIEWER, sse_h_run_events },
	{ "POST", "/api/v1/session", NOAUTH, web_h_login },
	{ "GET", "/api/v1/session", ROLE_VIEWER, web_h_session },
	{ "DELETE", "/api/v1/session", ROLE_VIEWER, web_h_logout },
	{ "POST", "/api/v1/users/{name}/password", ROLE_VIEWER,
	  web_h_user_password },
	{ "POST", "/api/v1/users/{name}/disabled", ROLE_ADMIN,
	  web_h_user_disable },
	{ "GET", "/", NOAUTH, web_h_index },
	{ "GET", "/ui/{file}", NOAUTH, web_h_file },
	{ "POST", "/api/run", ROLE_OPERATOR, h_legacy_run },
	{ "GET", "/api/task/{id}/status", ROLE_VIEWER, h_legacy_status },
	{ "POST", "/api/task/{id}/stop", ROLE_OPERATOR, h_legacy_stop },
	{ NULL, NULL, 0, NULL },
};
