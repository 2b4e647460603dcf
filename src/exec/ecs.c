/*
 * ecs.c - the "ecs" executor: runs as AWS ECS tasks (Fargate by default).
 *
 * start sends RunTask (the automation's task definition, the run's argv,
 * environment, CPU and memory as container overrides, the run's tags, and
 * the run id as clientToken so that a repeated RunTask never starts a second
 * task) and returns "ecs:<taskArn>".  A poller thread (ecs_poll.c) follows
 * every watched task with batched DescribeTasks calls, copies its output
 * from CloudWatch Logs into the run's log file, enforces runcell's timeout
 * with StopTask, and reports RUNNING and the final state.  stop sends
 * StopTask; the final state arrives through the poller.  attach re-adopts a
 * task after a restart from its handle, or, without one, from the sidecar
 * file next to the log or the task's runcell:run-id tag.
 *
 * Settings come from executors.ecs in the configuration; an automation's
 * executor_options may name its own task_definition, container_name,
 * log_group and log_stream_prefix.  See docs/engines/ecs.md.
 */
#include "ecs.h"
#include "../log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FIELD "executors.ecs"

/* --- settings --- */

static void settings_clear(struct ecs_settings *s)
{
	free(s->region);
	free(s->cluster);
	free(s->endpoint);
	free(s->logs_endpoint);
	strv_free(s->subnets);
	strv_free(s->security_groups);
	free(s->task_definition);
	free(s->container_name);
	free(s->log_group);
	free(s->log_stream_prefix);
	free(s->launch_type);
	memset(s, 0, sizeof(*s));
}

/* A string setting: 0 and *out (or NULL when absent and optional). */
static int opt_str(json_t *o, const char *where, const char *key, bool required,
		   char **out, struct rc_err *err)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return rc_err_field(err, key, "%s.%s is required",
					    where, key);
		return 0;
	}
	if (!json_is_string(v) || !*json_string_value(v))
		return rc_err_field(err, key,
				    "%s.%s must be a non-empty string", where,
				    key);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int opt_strv(json_t *o, const char *key, bool required, char ***out,
		    struct rc_err *err)
{
	json_t *v = json_object_get(o, key), *it;
	size_t i;

	*out = xcalloc(1, sizeof(char *));
	if (!v || json_is_null(v)) {
		if (required)
			return rc_err_field(err, key,
					    FIELD ".%s is required: a list of "
						  "ids",
					    key);
		return 0;
	}
	if (!json_is_array(v) || (required && !json_array_size(v)))
		return rc_err_field(err, key,
				    FIELD ".%s must be a %slist of strings",
				    key, required ? "non-empty " : "");
	free(*out);
	*out = xcalloc(json_array_size(v) + 1, sizeof(char *));
	json_array_foreach(v, i, it) {
		if (!json_is_string(it) || !*json_string_value(it))
			return rc_err_field(err, key,
					    FIELD ".%s[%zu] must be a "
						  "non-empty string",
					    key, i);
		(*out)[i] = xstrdup(json_string_value(it));
	}
	return 0;
}

static const char *const setting_keys[] = {
	"region",
	"cluster",
	"endpoint",
	"logs_endpoint",
	"subnets",
	"security_groups",
	"assign_public_ip",
	"task_definition",
	"container_name",
	"log_group",
	"log_stream_prefix",
	"poll_interval",
	"poll_max_interval",
	"missing_grace",
	"request_timeout",
	"max_attempts",
	"retry_base",
	"launch_type",
	NULL,
};

static const char *const option_keys[] = {
	"task_definition",
	"container_name",
	"log_group",
	"log_stream_prefix",
	NULL,
};

static bool key_known(const char *key, const char *const *keys)
{
	for (size_t i = 0; keys[i]; i++)
		if (!strcmp(key, keys[i]))
			return true;
	return false;
}

static int settings_load(const struct config *cfg, struct ecs_settings *s,
			 struct rc_err *err)
{
	json_t *o = cfg->executors ? json_object_get(cfg->executors, "ecs") :
				     NULL;
	json_t *v;
	const char *key;
	int64_t n;

	memset(s, 0, sizeof(*s));
	if (!o || !json_is_object(o))
		return rc_err_field(err, FIELD,
				    FIELD
				    " is missing: set at least region, "
				    "cluster, subnets and task_definition");
	json_object_foreach(o, key, v) {
		if (!key_known(key, setting_keys))
			return rc_err_field(err, key,
					    FIELD ".%s is not a setting of the "
						  "ecs executor (see "
						  "docs/engines/ecs.md)",
					    key);
	}
	if (opt_str(o, FIELD, "region", false, &s->region, err) < 0)
		return -1;
	if (!s->region) {
		const char *r = getenv("AWS_REGION");

		if (!r || !*r)
			r = getenv("AWS_DEFAULT_REGION");
		if (!r || !*r)
			return rc_err_field(err, "region",
					    FIELD ".region is required (or set "
						  "AWS_REGION)");
		s->region = xstrdup(r);
	}
	if (opt_str(o, FIELD, "cluster", true, &s->cluster, err) < 0 ||
	    opt_str(o, FIELD, "endpoint", false, &s->endpoint, err) < 0 ||
	    opt_str(o, FIELD, "logs_endpoint", false, &s->logs_endpoint, err) <
		    0 ||
	    opt_str(o, FIELD, "task_definition", true, &s->task_definition,
		    err) < 0 ||
	    opt_str(o, FIELD, "container_name", false, &s->container_name,
		    err) < 0 ||
	    opt_str(o, FIELD, "log_group", false, &s->log_group, err) < 0 ||
	    opt_str(o, FIELD, "log_stream_prefix", false, &s->log_stream_prefix,
		    err) < 0 ||
	    opt_str(o, FIELD, "launch_type", false, &s->launch_type, err) < 0)
		return -1;
	if (!s->launch_type)
		s->launch_type = xstrdup("FARGATE");
	if (strcmp(s->launch_type, "FARGATE") &&
	    strcmp(s->launch_type, "EC2") && strcmp(s->launch_type, "EXTERNAL"))
		return rc_err_field(err, "launch_type",
				    FIELD ".launch_type must be FARGATE, EC2 "
					  "or EXTERNAL");
	if (opt_strv(o, "subnets", !strcmp(s->launch_type, "FARGATE"),
		     &s->subnets, err) < 0 ||
	    opt_strv(o, "security_groups", false, &s->security_groups, err) < 0)
		return -1;
	v = json_object_get(o, "assign_public_ip");
	if (v && !json_is_boolean(v))
		return rc_err_field(err, "assign_public_ip",
				    FIELD ".assign_public_ip must be true or "
					  "false");
	s->assign_public_ip = v && json_is_true(v);
	if (s->log_group && !s->log_stream_prefix)
		return rc_err_field(err, "log_stream_prefix",
				    FIELD
				    ".log_stream_prefix is required with "
				    "log_group: the awslogs-stream-prefix of "
				    "the task definition");
	if (exec_setting_duration(o, FIELD, "poll_interval", 5000, 10,
				  &s->poll_ms, err) < 0 ||
	    exec_setting_duration(o, FIELD, "poll_max_interval", 30000, 10,
				  &s->poll_max_ms, err) < 0 ||
	    exec_setting_duration(o, FIELD, "missing_grace", 30000, 0,
				  &s->missing_grace_ms, err) < 0 ||
	    exec_setting_duration(o, FIELD, "request_timeout", 30000, 100,
				  &s->request_timeout_ms, err) < 0 ||
	    exec_setting_duration(o, FIELD, "retry_base", 100, 1,
				  &s->retry_base_ms, err) < 0)
		return -1;
	if (s->poll_max_ms < s->poll_ms)
		s->poll_max_ms = s->poll_ms;
	s->max_attempts = 5;
	v = json_object_get(o, "max_attempts");
	if (v) {
		n = json_is_integer(v) ? json_integer_value(v) : 0;
		if (n < 1 || n > 20)
			return rc_err_field(err, "max_attempts",
					    FIELD ".max_attempts must be a "
						  "whole number from 1 to 20");
		s->max_attempts = (int)n;
	}
	return 0;
}

/* Check executor_options of the automations that run on ecs. */
static int options_check(const struct config *cfg, struct rc_err *err)
{
	for (size_t i = 0; i < cfg->n_autos; i++) {
		const struct automation *a = &cfg->autos[i];
		const char *exe = a->executor ? a->executor :
						cfg->server.executor;
		json_t *v;
		const char *key;
		char where[256];

		if (!exe || strcmp(exe, "ecs") || !a->executor_options)
			continue;
		snprintf(where, sizeof(where),
			 "automation %s: executor_options", a->id);
		if (!json_is_object(a->executor_options))
			return rc_err_field(err, "executor_options",
					    "%s must be a mapping", where);
		json_object_foreach(a->executor_options, key, v) {
			char *tmp;

			if (!key_known(key, option_keys))
				return rc_err_field(
					err, key,
					"%s.%s is not an ecs option: use "
					"task_definition, container_name, "
					"log_group or log_stream_prefix",
					where, key);
			if (opt_str(a->executor_options, where, key, false,
				    &tmp, err) < 0)
				return -1;
			free(tmp);
		}
	}
	return 0;
}

/* --- targets --- */

/* "arn:aws:ecs:r:a:task-definition/worker:3" or "worker:3" -> "worker". */
static char *family_of(const char *td)
{
	const char *s = strrchr(td, '/');
	const char *colon;

	s = s ? s + 1 : td;
	colon = strchr(s, ':');
	return colon ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
}

static const char *option(const struct automation *a, const char *key)
{
	json_t *v;

	if (!a || !a->executor_options || !json_is_object(a->executor_options))
		return NULL;
	v = json_object_get(a->executor_options, key);
	return json_is_string(v) && *json_string_value(v) ?
		       json_string_value(v) :
		       NULL;
}

void ecs_target_for(const struct ecs *e, const char *automation_id,
		    struct ecs_target *t)
{
	const struct automation *a =
		automation_id ? config_automation(e->ex->cfg, automation_id) :
				NULL;
	const struct ecs_settings *s = &e->set;
	const char *td = option(a, "task_definition");
	const char *cn = option(a, "container_name");
	const char *lg = option(a, "log_group");
	const char *lp = option(a, "log_stream_prefix");

	memset(t, 0, sizeof(*t));
	t->task_definition = xstrdup(td ? td : s->task_definition);
	if (cn)
		t->container = xstrdup(cn);
	else if (s->container_name)
		t->container = xstrdup(s->container_name);
	else
		t->container = family_of(t->task_definition);
	t->log_group = xstrdup(lg ? lg : s->log_group);
	t->log_prefix = xstrdup(lp ? lp : s->log_stream_prefix);
	if (t->log_group && !t->log_prefix)
		t->log_prefix = xstrdup("runcell");
	t->timeout_ms = a ? a->res.timeout_ms : 0;
}

void ecs_target_clear(struct ecs_target *t)
{
	free(t->task_definition);
	free(t->container);
	free(t->log_group);
	free(t->log_prefix);
	memset(t, 0, sizeof(*t));
}

const char *ecs_task_id(const char *arn)
{
	const char *s = strrchr(arn, '/');

	return s ? s + 1 : arn;
}

/* --- requests --- */

/* A JSON string of s, or an error if s is not UTF-8 (ECS takes only that). */
static json_t *jstr(const char *s, const char *what, struct rc_err *err)
{
	json_t *j = json_string(s);

	if (!j)
		rc_err_set(err, EINVAL,
			   "%s is not valid UTF-8, which ECS requires", what);
	return j;
}

/* Tag values allow letters, digits, spaces and _.:/=+-@ (256 at most). */
static json_t *tag(const char *key, const char *value)
{
	char v[257];
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)value;
	     *p && n < sizeof(v) - 1; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') ||
			  (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || strchr(" _.:/=+-@", *p);

		v[n++] = ok ? (char)*p : '_';
	}
	v[n] = '\0';
	return json_pack("{s:s, s:s}", "key", key, "value", v);
}

static json_t *strv_json(char *const *v)
{
	json_t *a = json_array();

	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *runtask_body(const struct ecs *e, const struct exec_spec *spec,
			    const struct ecs_target *t, struct rc_err *err)
{
	const struct ecs_settings *s = &e->set;
	json_t *cmd = json_array(), *env = json_array(), *co, *tags, *body;
	json_t *vpc;
	char what[64];

	for (size_t i = 0; spec->argv && spec->argv[i]; i++) {
		json_t *a;

		snprintf(what, sizeof(what), "argument %zu", i);
		if (!(a = jstr(spec->argv[i], what, err)))
			goto fail;
		json_array_append_new(cmd, a);
	}
	for (size_t i = 0; spec->env && spec->env[i]; i++) {
		const char *eq = strchr(spec->env[i], '=');
		char *name;
		json_t *n, *v;

		if (!eq || eq == spec->env[i])
			continue;
		name = xstrndup(spec->env[i], (size_t)(eq - spec->env[i]));
		snprintf(what, sizeof(what), "environment variable %.40s",
			 name);
		n = jstr(name, what, err);
		v = n ? jstr(eq + 1, what, err) : NULL;
		free(name);
		if (!v) {
			json_decref(n);
			goto fail;
		}
		json_array_append_new(env, json_pack("{s:o, s:o}", "name", n,
						     "value", v));
	}
	co = json_pack("{s:s, s:o, s:o}", "name", t->container, "command", cmd,
		       "environment", env);
	cmd = env = NULL;
	if (spec->res && spec->res->cpu > 0)
		json_object_set_new(
			co, "cpu",
			json_integer(
				(json_int_t)(spec->res->cpu * 1024 + 0.5)));
	if (spec->res && spec->res->memory > 0)
		json_object_set_new(
			co, "memory",
			json_integer((spec->res->memory + (1 << 20) - 1) >>
				     20));
	tags = json_array();
	json_array_append_new(tags, tag("runcell:run-id", spec->run_id));
	if (spec->automation_id)
		json_array_append_new(tags, tag("runcell:automation",
						spec->automation_id));
	if (spec->user)
		json_array_append_new(tags, tag("runcell:user", spec->user));
	body = json_pack("{s:s, s:s, s:s, s:{s:[o]}, s:o, s:s, s:s, s:i}",
			 "cluster", s->cluster, "taskDefinition",
			 t->task_definition, "launchType", s->launch_type,
			 "overrides", "containerOverrides", co, "tags", tags,
			 "clientToken", spec->run_id, "startedBy", "runcell",
			 "count", 1);
	if (s->subnets && s->subnets[0]) {
		vpc = json_pack("{s:o, s:s}", "subnets", strv_json(s->subnets),
				"assignPublicIp",
				s->assign_public_ip ? "ENABLED" : "DISABLED");
		if (s->security_groups && s->security_groups[0])
			json_object_set_new(vpc, "securityGroups",
					    strv_json(s->security_groups));
		json_object_set_new(body, "networkConfiguration",
				    json_pack("{s:o}", "awsvpcConfiguration",
					      vpc));
	}
	return body;
fail:
	json_decref(cmd);
	json_decref(env);
	return NULL;
}

/* "failures":[{"arn","reason","detail"}] in a 200 answer, as one message.
 * Returns true if there was one. */
static bool failures_say(json_t *answer, char *out, size_t n)
{
	json_t *f = json_object_get(answer, "failures"), *it;
	size_t i, len = 0;

	out[0] = '\0';
	if (!json_is_array(f) || !json_array_size(f))
		return false;
	json_array_foreach(f, i, it) {
		const char *r =
			json_string_value(json_object_get(it, "reason"));
		const char *d =
			json_string_value(json_object_get(it, "detail"));
		const char *a = json_string_value(json_object_get(it, "arn"));
		int w;

		if (len >= n - 1)
			break;
		w = snprintf(out + len, n - len, "%s%s%s%s%s%s%s",
			     i ? "; " : "", r ? r : "unknown reason",
			     d ? " (" : "", d ? d : "", d ? ")" : "",
			     a ? " for " : "", a ? a : "");
		if (w < 0)
			break;
		len += (size_t)w;
	}
	return true;
}

int ecs_stop_task(struct ecs *e, const char *arn, const char *reason,
		  struct rc_err *err)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "cluster", e->set.cluster,
				 "task", arn, "reason", reason);
	json_t *answer = NULL;
	int r;

	r = aws_call(e->aws, AWS_ECS, "StopTask", body, &answer, NULL, err);
	json_decref(body);
	json_decref(answer);
	return r;
}

/* --- executor operations --- */

static int ecs_start(struct executor *ex, const struct exec_spec *spec,
		     char **handle, struct rc_err *err)
{
	struct ecs *e = ex->priv;
	struct ecs_target t;
	struct ecs_run *r;
	json_t *body = NULL, *answer = NULL, *task;
	const char *arn, *status;
	char why[512];
	int fd, ret = -1;

	if (!spec->run_id || !spec->argv || !spec->argv[0] || !spec->log_path)
		return rc_err_set(err, EINVAL,
				  "ecs: a run needs an id, a command and a log "
				  "path");
	ecs_target_for(e, spec->automation_id, &t);
	body = runtask_body(e, spec, &t, err);
	if (!body) {
		rc_err_wrap(err, "ecs: run %s", spec->run_id);
		goto out;
	}
	if (aws_call(e->aws, AWS_ECS, "RunTask", body, &answer, NULL, err) < 0)
		goto out;
	if (failures_say(answer, why, sizeof(why))) {
		rc_err_set(err, EIO,
			   "ecs RunTask: ECS did not start the task: "
			   "%s",
			   why);
		goto out;
	}
	task = json_array_get(json_object_get(answer, "tasks"), 0);
	arn = json_string_value(json_object_get(task, "taskArn"));
	if (!arn || !*arn) {
		rc_err_set(err, EPROTO,
			   "ecs RunTask: the answer names no task");
		goto out;
	}
	status = json_string_value(json_object_get(task, "lastStatus"));
	fd = open(spec->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		  0640);
	if (fd >= 0)
		close(fd);
	else
		log_msg(LOG_WARN, spec->run_id, "ecs: cannot create %s: %s",
			spec->log_path, strerror(errno));
	r = ecs_run_new(e, spec->run_id, arn, NULL, spec->log_path,
			spec->log_max_bytes);
	ecs_target_clear(&r->t);
	r->t = t;
	memset(&t, 0, sizeof(t));
	r->t.timeout_ms = spec->res ? spec->res->timeout_ms : 0;
	r->target_known = true;
	r->started_wall = time_now_ms();
	ecs_run_set_stream(r);
	ecs_log_resume(r);
	r->ran = status && !strcmp(status, "RUNNING");
	ecs_sidecar_save(r);
	*handle = xasprintf("ecs:%s", arn);
	ecs_watch(e, r);
	ret = 0;
out:
	ecs_target_clear(&t);
	json_decref(body);
	json_decref(answer);
	return ret;
}

/* Whether task carries the tag runcell:run-id = run_id. */
static bool task_has_run_id(json_t *task, const char *run_id)
{
	json_t *t;
	size_t i;

	json_array_foreach(json_object_get(task, "tags"), i, t) {
		const char *k = json_string_value(json_object_get(t, "key"));
		const char *v = json_string_value(json_object_get(t, "value"));

		if (k && v && !strcmp(k, "runcell:run-id") &&
		    !strcmp(v, run_id))
			return true;
	}
	return false;
}

/* DescribeTasks (with tags) for arns[from, from+100); 0 and *arn if one of
 * them is run_id's, 1 if none, -1 on error. */
static int describe_find(struct ecs *e, json_t *arns, size_t from,
			 const char *run_id, char **arn, struct rc_err *err)
{
	json_t *part = json_array(), *body, *answer = NULL, *task;
	size_t i;
	int ret = 1;

	for (i = from;
	     i < json_array_size(arns) && i < from + ECS_DESCRIBE_BATCH; i++)
		json_array_append(part, json_array_get(arns, i));
	body = json_pack("{s:s, s:o, s:[s]}", "cluster", e->set.cluster,
			 "tasks", part, "include", "TAGS");
	if (aws_call(e->aws, AWS_ECS, "DescribeTasks", body, &answer, NULL,
		     err) < 0) {
		ret = -1;
		goto out;
	}
	json_array_foreach(json_object_get(answer, "tasks"), i, task) {
		const char *a =
			json_string_value(json_object_get(task, "taskArn"));

		if (a && task_has_run_id(task, run_id)) {
			*arn = xstrdup(a);
			ret = 0;
			break;
		}
	}
out:
	json_decref(body);
	json_decref(answer);
	return ret;
}

/* Find the task of run_id among the cluster's tasks started by runcell
 * (running, then stopped), by its runcell:run-id tag.  0 and *arn, 1 if
 * none, -1 on error. */
static int find_by_tag(struct ecs *e, const char *run_id, char **arn,
		       struct rc_err *err)
{
	static const char *const desired[] = { "RUNNING", "STOPPED" };
	char *next = NULL;
	int ret = 1;

	*arn = NULL;
	for (size_t d = 0; d < 2 && ret == 1; d++) {
		do {
			json_t *body, *answer = NULL, *arns;

			body = json_pack("{s:s, s:s, s:s}", "cluster",
					 e->set.cluster, "startedBy", "runcell",
					 "desiredStatus", desired[d]);
			if (next)
				json_object_set_new(body, "nextToken",
						    json_string(next));
			free(next);
			next = NULL;
			if (aws_call(e->aws, AWS_ECS, "ListTasks", body,
				     &answer, NULL, err) < 0)
				ret = -1;
			json_decref(body);
			arns = json_object_get(answer, "taskArns");
			for (size_t i = 0;
			     ret == 1 && i < json_array_size(arns);
			     i += ECS_DESCRIBE_BATCH)
				ret = describe_find(e, arns, i, run_id, arn,
						    err);
			if (ret == 1)
				next = xstrdup(json_string_value(
					json_object_get(answer, "nextToken")));
			json_decref(answer);
		} while (next && ret == 1);
	}
	free(next);
	return ret;
}

static int ecs_attach(struct executor *ex, const char *run_id,
		      const char *handle, const char *log_path,
		      struct rc_err *err)
{
	struct ecs *e = ex->priv;
	struct ecs_sidecar sc = { 0 };
	struct ecs_run *r;
	char *arn = NULL;
	int64_t cap = ex->cfg ? ex->cfg->server.log_max_bytes : 0;
	bool have_sc = false;
	int ret = -1, f;

	if (handle && !str_has_prefix(handle, "ecs:"))
		return rc_err_set(err, EINVAL,
				  "ecs: run %s has the handle \"%s\", which is "
				  "not an ECS task",
				  run_id, handle);
	if (log_path)
		have_sc = ecs_sidecar_load(log_path, &sc) == 0;
	if (have_sc && handle && strcmp(sc.arn, handle + 4)) {
		/* a sidecar of some other task: not ours to resume */
		ecs_sidecar_clear(&sc);
		have_sc = false;
	}
	if (handle) {
		arn = xstrdup(handle + 4);
	} else if (have_sc) {
		arn = xstrdup(sc.arn);
	} else {
		f = find_by_tag(e, run_id, &arn, err);
		if (f < 0) {
			rc_err_wrap(err, "ecs: looking for the task of run %s",
				    run_id);
			goto out;
		}
		if (f == 1) {
			ret = 1;
			goto out;
		}
	}
	if (have_sc && sc.log_max > 0)
		cap = sc.log_max;
	r = ecs_run_new(e, run_id, arn, NULL, log_path ? log_path : "/dev/null",
			cap);
	if (have_sc) {
		r->token = sc.token;
		sc.token = NULL;
		r->started_wall = sc.started_at;
	}
	ecs_log_resume(r);
	ecs_watch(e, r);
	ret = 0;
out:
	free(arn);
	ecs_sidecar_clear(&sc);
	return ret;
}

static int ecs_stop(struct executor *ex, const char *run_id, const char *handle,
		    struct rc_err *err)
{
	struct ecs *e = ex->priv;
	struct ecs_run *r, *mine = NULL;
	char *arn = NULL;
	int ret;

	pthread_mutex_lock(&e->lock);
	for (r = e->runs; r; r = r->next) {
		if (strcmp(r->run_id, run_id) || r->done)
			continue;
		if (handle && str_has_prefix(handle, "ecs:") &&
		    strcmp(handle + 4, r->arn))
			continue;
		if (!arn)
			arn = xstrdup(r->arn);
		if (r->stop == ECS_STOP_NONE) {
			r->stop = ECS_STOP_USER;
			mine = r;
		}
		break;
	}
	pthread_mutex_unlock(&e->lock);
	if (!arn && handle && str_has_prefix(handle, "ecs:"))
		arn = xstrdup(handle + 4);
	if (!arn)
		return rc_err_set(err, EINVAL,
				  "ecs: run %s has no ECS task to stop",
				  run_id);
	ret = ecs_stop_task(e, arn, ECS_STOP_REASON, err);
	pthread_mutex_lock(&e->lock);
	if (ret < 0 && mine) {
		for (r = e->runs; r; r = r->next)
			if (r == mine && r->stop == ECS_STOP_USER)
				r->stop = ECS_STOP_NONE;
	}
	e->kick = true;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	free(arn);
	return ret;
}

static void ecs_close(struct executor *ex)
{
	struct ecs *e = ex->priv;

	if (!e)
		return;
	ecs_poller_stop(e);
	while (e->runs) {
		struct ecs_run *r = e->runs;

		e->runs = r->next;
		ecs_run_free(r);
	}
	aws_client_free(e->aws);
	settings_clear(&e->set);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->cond);
	free(e);
	ex->priv = NULL;
}

static const struct executor_ops ecs_ops = {
	.name = "ecs",
	.start = ecs_start,
	.attach = ecs_attach,
	.stop = ecs_stop,
	.close = ecs_close,
};

int exec_ecs_open(struct executor *ex, struct rc_err *err)
{
	struct ecs *e = xcalloc(1, sizeof(*e));
	struct aws_client_opts o = { 0 };
	pthread_condattr_t ca;

	e->ex = ex;
	if (!ex->cfg) {
		free(e);
		return rc_err_set(err, EINVAL, "ecs: no configuration");
	}
	if (settings_load(ex->cfg, &e->set, err) < 0 ||
	    options_check(ex->cfg, err) < 0) {
		settings_clear(&e->set);
		free(e);
		return -1;
	}
	o.region = e->set.region;
	o.ecs_endpoint = e->set.endpoint;
	o.logs_endpoint = e->set.logs_endpoint;
	o.request_timeout_ms = e->set.request_timeout_ms;
	o.max_attempts = e->set.max_attempts;
	o.retry_base_ms = e->set.retry_base_ms;
	if (aws_client_new(&o, &e->aws, err) < 0) {
		settings_clear(&e->set);
		free(e);
		return rc_err_wrap(err, "ecs");
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);
	e->interval_ms = e->set.poll_ms;
	ex->ops = &ecs_ops;
	ex->priv = e;
	if (ecs_poller_start(e, err) < 0) {
		ecs_close(ex);
		ex->ops = NULL;
		return -1;
	}
	return 0;
}
