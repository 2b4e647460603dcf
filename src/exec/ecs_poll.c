/*
 * ecs_poll.c - the ecs executor's poller: one thread that follows every
 * watched task and reports what becomes of it.
 *
 * Each round asks DescribeTasks about all watched tasks, up to 100 per call,
 * maps the answers onto runcell states, copies new output from CloudWatch
 * Logs (GetLogEvents, paged with nextForwardToken) into the run's log file,
 * and stops tasks that passed runcell's timeout.  Rounds come every
 * poll_interval while something changes, slow down to poll_max_interval
 * while nothing does, and back off further while ECS cannot be reached; a
 * new run or a stop brings the next round forward.
 *
 * Never a false end: a run ends only on an answer that says so (STOPPED),
 * or as lost when ECS has not known the task for missing_grace since we
 * started watching it (RunTask is eventually consistent: a new task may be
 * MISSING for a while).  When ECS cannot be reached, runs keep their state
 * and one line says why.
 *
 * The log position (the last nextForwardToken) and the task ARN are kept in
 * a sidecar file, log_path + ".ecs", so that a restarted service resumes
 * the output where it was (at least once: lines fetched after the last save
 * may be written again).
 *
 * Events go to ex->on_event from this thread, never with ecs.lock held.
 */
#include "ecs.h"
#include "../log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_PAGES_MAX 100
#define SIDECAR_MAX 65536
#define ERROR_BACKOFF_MAX_MS 60000

/* --- runs --- */

void ecs_run_set_stream(struct ecs_run *r)
{
	free(r->log_stream);
	r->log_stream = NULL;
	if (r->t.log_group)
		r->log_stream = xasprintf("%s/%s/%s", r->t.log_prefix,
					  r->t.container, r->task_id);
}

struct ecs_run *ecs_run_new(struct ecs *e, const char *run_id, const char *arn,
			    const char *automation_id, const char *log_path,
			    int64_t log_max)
{
	struct ecs_run *r = xcalloc(1, sizeof(*r));

	r->run_id = xstrdup(run_id);
	r->arn = xstrdup(arn);
	r->task_id = xstrdup(ecs_task_id(arn));
	ecs_target_for(e, automation_id, &r->t);
	r->target_known = automation_id != NULL;
	ecs_run_set_stream(r);
	r->log_path = xstrdup(log_path);
	r->sidecar = xasprintf("%s.ecs", log_path);
	r->log_max = log_max > 0 ? log_max : 0;
	r->log_ends_nl = true;
	r->watch_mono = time_mono_ms();
	r->started_wall = 0;
	return r;
}

void ecs_run_free(struct ecs_run *r)
{
	if (!r)
		return;
	free(r->run_id);
	free(r->arn);
	free(r->task_id);
	ecs_target_clear(&r->t);
	free(r->log_stream);
	free(r->log_path);
	free(r->sidecar);
	free(r->token);
	free(r);
}

void ecs_watch(struct ecs *e, struct ecs_run *r)
{
	struct ecs_run **pp;

	pthread_mutex_lock(&e->lock);
	for (pp = &e->runs; *pp; pp = &(*pp)->next) {
		struct ecs_run *o = *pp;

		if (!o->done && !strcmp(o->run_id, r->run_id) &&
		    !strcmp(o->arn, r->arn)) {
			pthread_mutex_unlock(&e->lock);
			ecs_run_free(r);
			return;
		}
	}
	*pp = r;
	e->n_runs++;
	e->kick = true;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

/* --- sidecar and local log --- */

void ecs_sidecar_save(const struct ecs_run *r)
{
	json_t *j = json_pack("{s:s, s:s, s:I, s:I}", "run_id", r->run_id,
			      "task_arn", r->arn, "log_max",
			      (json_int_t)r->log_max, "started_at",
			      (json_int_t)r->started_wall);
	struct rc_err err = { 0 };
	char *text;

	if (r->token)
		json_object_set_new(j, "next_token", json_string(r->token));
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		return;
	if (write_file_atomic(r->sidecar, text, strlen(text), &err) < 0)
		log_msg(LOG_WARN, r->run_id, "ecs: %s", err.msg);
	free(text);
}

int ecs_sidecar_load(const char *log_path, struct ecs_sidecar *sc)
{
	char *path = xasprintf("%s.ecs", log_path), *text = NULL;
	struct rc_err err = { 0 };
	json_t *j = NULL;
	size_t len;
	int ret = 1;

	memset(sc, 0, sizeof(*sc));
	if (access(path, F_OK) < 0)
		goto out;
	if (read_file(path, SIDECAR_MAX, &text, &len, &err) < 0 ||
	    !(j = json_loadb(text, len, 0, NULL)) ||
	    !json_string_value(json_object_get(j, "task_arn"))) {
		log_warn("ecs: ignoring unreadable %s", path);
		goto out;
	}
	sc->arn = xstrdup(json_string_value(json_object_get(j, "task_arn")));
	sc->token =
		xstrdup(json_string_value(json_object_get(j, "next_token")));
	sc->log_max = json_integer_value(json_object_get(j, "log_max"));
	sc->started_at = json_integer_value(json_object_get(j, "started_at"));
	ret = 0;
out:
	json_decref(j);
	free(text);
	free(path);
	return ret;
}

void ecs_sidecar_clear(struct ecs_sidecar *sc)
{
	free(sc->arn);
	free(sc->token);
	memset(sc, 0, sizeof(*sc));
}

void ecs_log_resume(struct ecs_run *r)
{
	struct stat st;
	char last;
	int fd;

	if (stat(r->log_path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	r->log_bytes = st.st_size;
	r->log_truncated = r->log_max && r->log_bytes >= r->log_max;
	r->log_ends_nl = true;
	if (!st.st_size)
		return;
	fd = open(r->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (pread(fd, &last, 1, st.st_size - 1) == 1)
		r->log_ends_nl = last == '\n';
	close(fd);
}

/* Append CloudWatch events to the run's log, one line each, up to the cap;
 * at the cap, the marker line and nothing more.  Returns bytes written. */
static int64_t log_append(struct ecs_run *r, json_t *events)
{
	struct buf b;
	json_t *ev;
	size_t i;
	int fd;

	if (!json_array_size(events) || r->log_truncated)
		return 0;
	buf_init(&b, 0);
	json_array_foreach(events, i, ev) {
		const char *m =
			json_string_value(json_object_get(ev, "message"));
		size_t n = m ? strlen(m) : 0;
		bool nl = !n || m[n - 1] != '\n';
		int64_t room;

		if (!m)
			continue;
		room = r->log_max ? r->log_max - r->log_bytes - (int64_t)b.len :
				    INT64_MAX;
		if ((int64_t)(n + nl) > room) {
			if (room > 0)
				buf_append(&b, m, (size_t)room);
			if (b.len ? b.data[b.len - 1] != '\n' : !r->log_ends_nl)
				buf_appends(&b, "\n");
			buf_appendf(&b,
				    "[runcell: log truncated at %lld bytes; "
				    "further output discarded]\n",
				    (long long)r->log_max);
			r->log_truncated = true;
			break;
		}
		buf_append(&b, m, n);
		if (nl)
			buf_appends(&b, "\n");
	}
	if (!b.len) {
		buf_free(&b);
		return 0;
	}
	fd = open(r->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0 || write_all(fd, b.data, b.len) < 0) {
		if (!r->log_error_said)
			log_msg(LOG_WARN, r->run_id, "ecs: cannot write %s: %s",
				r->log_path, strerror(errno));
		r->log_error_said = true;
	} else {
		r->log_bytes += (int64_t)b.len;
		r->log_ends_nl = b.data[b.len - 1] == '\n';
	}
	if (fd >= 0)
		close(fd);
	buf_free(&b);
	return 1;
}

/* Fetch new output of r from CloudWatch Logs.  Returns 1 if some was
 * written, 0 if none (or no stream yet), -1 on error (said once). */
static int logs_fetch(struct ecs *e, struct ecs_run *r)
{
	bool moved = false;
	int wrote = 0;

	if (!r->log_stream || r->log_truncated)
		return 0;
	for (int page = 0; page < LOG_PAGES_MAX && !r->log_truncated; page++) {
		json_t *body, *answer = NULL;
		struct aws_status st;
		struct rc_err err = { 0 };
		const char *next;

		body = json_pack("{s:s, s:s, s:b}", "logGroupName",
				 r->t.log_group, "logStreamName", r->log_stream,
				 "startFromHead", 1);
		if (r->token)
			json_object_set_new(body, "nextToken",
					    json_string(r->token));
		if (aws_call(e->aws, AWS_LOGS, "GetLogEvents", body, &answer,
			     &st, &err) < 0) {
			json_decref(body);
			if (!strcmp(st.code, "ResourceNotFoundException"))
				break; /* no output yet */
			if (!r->log_error_said)
				log_msg(LOG_WARN, r->run_id,
					"ecs: fetching logs from %s %s: %s",
					r->t.log_group, r->log_stream, err.msg);
			r->log_error_said = true;
			wrote = wrote ? wrote : -1;
			break;
		}
		json_decref(body);
		r->log_error_said = false;
		if (log_append(r, json_object_get(answer, "events")))
			wrote = 1;
		next = json_string_value(
			json_object_get(answer, "nextForwardToken"));
		if (!next || (r->token && !strcmp(next, r->token))) {
			json_decref(answer);
			break; /* the end of the stream, for now */
		}
		free(r->token);
		r->token = xstrdup(next);
		moved = true;
		json_decref(answer);
	}
	if (moved)
		ecs_sidecar_save(r);
	return wrote;
}

/* --- what a task's answer means --- */

static const char *jstr_nonempty(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? s : NULL;
}

static bool has_text(const char *s, const char *needle)
{
	return s && strstr(s, needle);
}

static json_t *find_container(json_t *task, const char *name)
{
	json_t *cs = json_object_get(task, "containers"), *c;
	size_t i;

	json_array_foreach(cs, i, c) {
		const char *n = json_string_value(json_object_get(c, "name"));

		if (name && n && !strcmp(n, name))
			return c;
	}
	return json_array_size(cs) == 1 ? json_array_get(cs, 0) : NULL;
}

static void duration_text(int64_t ms, char *out, size_t n)
{
	if (ms % 1000)
		snprintf(out, n, "%lldms", (long long)ms);
	else
		snprintf(out, n, "%llds", (long long)(ms / 1000));
}

/*
 * The final state of a STOPPED task.  In order: a container killed for
 * memory is failed ("memory limit exceeded"); a task we stopped (our stop
 * kind, or our reason text after a restart) with stopCode UserInitiated or
 * none is timed_out or cancelled; one stopped by someone else is cancelled;
 * then the named container's exitCode: 0 succeeded, else failed; without an
 * exit code (it never ran) failed, with stopCode and stoppedReason.
 */
void ecs_task_outcome(json_t *task, const char *container, enum ecs_stop stop,
		      int64_t timeout_ms, struct ecs_outcome *o)
{
	json_t *c = find_container(task, container);
	json_t *code = json_object_get(c, "exitCode");
	const char *stop_code = jstr_nonempty(task, "stopCode");
	const char *sreason = jstr_nonempty(task, "stoppedReason");
	const char *creason = jstr_nonempty(c, "reason");
	bool user_stop = !stop_code || !strcmp(stop_code, "UserInitiated");
	bool ours_timeout =
		stop == ECS_STOP_TIMEOUT ||
		(sreason && str_has_prefix(sreason, ECS_TIMEOUT_REASON));
	bool ours = stop == ECS_STOP_USER ||
		    (sreason && !strcmp(sreason, ECS_STOP_REASON));
	char d[32];

	memset(o, 0, sizeof(*o));
	o->has_exit_code = json_is_integer(code);
	o->exit_code = o->has_exit_code ? (int)json_integer_value(code) : 0;
	if (has_text(creason, "OutOfMemory") ||
	    has_text(sreason, "OutOfMemory")) {
		o->state = RUN_FAILED;
		snprintf(o->reason, sizeof(o->reason), "memory limit exceeded");
	} else if (ours_timeout && user_stop) {
		o->state = RUN_TIMED_OUT;
		duration_text(timeout_ms, d, sizeof(d));
		if (timeout_ms > 0)
			snprintf(o->reason, sizeof(o->reason),
				 "timeout after %s", d);
		else
			snprintf(o->reason, sizeof(o->reason), "timeout");
	} else if (ours && user_stop) {
		o->state = RUN_CANCELLED;
		snprintf(o->reason, sizeof(o->reason), "stopped on request");
	} else if (stop_code && !strcmp(stop_code, "UserInitiated")) {
		o->state = RUN_CANCELLED;
		snprintf(o->reason, sizeof(o->reason),
			 "stopped outside runcell: %s",
			 sreason ? sreason : "no reason given");
	} else if (o->has_exit_code) {
		o->state = o->exit_code == 0 ? RUN_SUCCEEDED : RUN_FAILED;
	} else {
		o->state = RUN_FAILED;
		snprintf(o->reason, sizeof(o->reason), "%s%s%s%s%s%s",
			 stop_code ? stop_code : "",
			 stop_code && sreason ? ": " : "",
			 sreason ? sreason : "",
			 creason && !has_text(sreason, creason) ?
				 (stop_code || sreason ? " (" : "") :
				 "",
			 creason && !has_text(sreason, creason) ? creason : "",
			 creason && !has_text(sreason, creason) &&
					 (stop_code || sreason) ?
				 ")" :
				 "");
		if (!o->reason[0])
			snprintf(o->reason, sizeof(o->reason),
				 "the task stopped without an exit code");
	}
}

/* Seconds since the epoch (a JSON number) to ms, or fallback. */
static int64_t json_time_ms(json_t *o, const char *key, int64_t fallback)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v) || json_number_value(v) <= 0)
		return fallback;
	return (int64_t)(json_number_value(v) * 1000);
}

static void emit(struct ecs *e, struct ecs_run *r, enum run_state st,
		 int64_t at, const struct ecs_outcome *o, const char *reason)
{
	struct exec_event ev = { 0 };

	ev.run_id = r->run_id;
	ev.state = st;
	ev.at = at;
	if (o) {
		ev.has_exit_code = o->has_exit_code;
		ev.exit_code = o->exit_code;
		ev.reason = o->reason[0] ? o->reason : NULL;
	}
	if (reason)
		ev.reason = reason;
	if (e->ex->on_event)
		e->ex->on_event(e->ex->event_ctx, &ev);
}

/* The run has had its terminal event: forget it (done is read by other
 * threads under the lock). */
static void finish(struct ecs *e, struct ecs_run *r)
{
	pthread_mutex_lock(&e->lock);
	r->done = true;
	pthread_mutex_unlock(&e->lock);
	unlink(r->sidecar);
}

/* After attach: learn the automation from the task's tags. */
static void learn_target(struct ecs *e, struct ecs_run *r, json_t *task)
{
	json_t *tags = json_object_get(task, "tags"), *t;
	const char *automation = NULL;
	size_t i;

	json_array_foreach(tags, i, t) {
		const char *k = json_string_value(json_object_get(t, "key"));

		if (k && !strcmp(k, "runcell:automation"))
			automation =
				json_string_value(json_object_get(t, "value"));
	}
	if (automation) {
		ecs_target_clear(&r->t);
		ecs_target_for(e, automation, &r->t);
		ecs_run_set_stream(r);
	}
	r->target_known = true;
}

static enum ecs_stop stop_kind(struct ecs *e, struct ecs_run *r)
{
	enum ecs_stop k;

	pthread_mutex_lock(&e->lock);
	k = r->stop;
	pthread_mutex_unlock(&e->lock);
	return k;
}

/* One DescribeTasks entry for r.  Returns true if something changed. */
static bool process_task(struct ecs *e, struct ecs_run *r, json_t *task)
{
	const char *status =
		json_string_value(json_object_get(task, "lastStatus"));
	bool stopped = status && !strcmp(status, "STOPPED");
	bool changed = false;
	int64_t now = time_now_ms();

	if (!status)
		return false;
	if (!r->target_known)
		learn_target(e, r, task);
	if (!r->started_wall)
		r->started_wall = json_time_ms(task, "createdAt", now);
	if (!strcmp(status, "RUNNING") ||
	    json_is_number(json_object_get(task, "startedAt")))
		r->ran = true;
	if (stopped) {
		json_t *c = find_container(task, r->t.container);

		if (json_is_integer(json_object_get(c, "exitCode")))
			r->ran = true;
	}
	if (r->ran && !r->reported_running) {
		emit(e, r, RUN_RUNNING, json_time_ms(task, "startedAt", now),
		     NULL, NULL);
		r->reported_running = true;
		changed = true;
	}
	if (stopped) {
		struct ecs_outcome o;

		logs_fetch(e, r);
		ecs_task_outcome(task, r->t.container, stop_kind(e, r),
				 r->t.timeout_ms, &o);
		emit(e, r, o.state, json_time_ms(task, "stoppedAt", now), &o,
		     NULL);
		finish(e, r);
		changed = true;
	}
	return changed;
}

/* r was not in the answer, or was in failures[] as MISSING. */
static bool process_missing(struct ecs *e, struct ecs_run *r)
{
	if (time_mono_ms() - r->watch_mono < e->set.missing_grace_ms)
		return false;
	logs_fetch(e, r);
	emit(e, r, RUN_LOST, time_now_ms(), NULL,
	     "task no longer known to ECS");
	finish(e, r);
	return true;
}

/* Stop r if it passed runcell's timeout.  Returns true if stopped now. */
static bool enforce_timeout(struct ecs *e, struct ecs_run *r)
{
	struct rc_err err = { 0 };
	char reason[96], d[32];
	bool send;

	if (r->done || r->t.timeout_ms <= 0 || !r->started_wall ||
	    time_now_ms() < r->started_wall + r->t.timeout_ms)
		return false;
	pthread_mutex_lock(&e->lock);
	if (r->stop == ECS_STOP_NONE)
		r->stop = ECS_STOP_TIMEOUT;
	send = r->stop == ECS_STOP_TIMEOUT && !r->stop_sent;
	pthread_mutex_unlock(&e->lock);
	if (!send)
		return false;
	duration_text(r->t.timeout_ms, d, sizeof(d));
	snprintf(reason, sizeof(reason), "%s after %s", ECS_TIMEOUT_REASON, d);
	if (ecs_stop_task(e, r->arn, reason, &err) < 0) {
		log_msg(LOG_WARN, r->run_id,
			"ecs: the run passed its timeout but could not be "
			"stopped yet: %s",
			err.msg);
		return false;
	}
	pthread_mutex_lock(&e->lock);
	r->stop_sent = true;
	pthread_mutex_unlock(&e->lock);
	return true;
}

static struct ecs_run *match(struct ecs_run **runs, size_t n, const char *arn)
{
	if (!arn)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!runs[i]->done &&
		    (!strcmp(runs[i]->arn, arn) ||
		     !strcmp(runs[i]->task_id, ecs_task_id(arn))))
			return runs[i];
	return NULL;
}

/* One DescribeTasks call for runs[0..n).  Returns 1 if something changed,
 * 0 if not, -1 if ECS did not answer (err filled). */
static int describe_batch(struct ecs *e, struct ecs_run **runs, size_t n,
			  struct rc_err *err)
{
	json_t *arns = json_array(), *body, *answer = NULL, *it;
	bool need_tags = false, changed = false;
	bool seen[ECS_DESCRIBE_BATCH] = { false };
	size_t i;

	for (i = 0; i < n; i++) {
		json_array_append_new(arns, json_string(runs[i]->arn));
		need_tags = need_tags || !runs[i]->target_known;
	}
	body = json_pack("{s:s, s:o}", "cluster", e->set.cluster, "tasks",
			 arns);
	if (need_tags)
		json_object_set_new(body, "include", json_pack("[s]", "TAGS"));
	if (aws_call(e->aws, AWS_ECS, "DescribeTasks", body, &answer, NULL,
		     err) < 0) {
		json_decref(body);
		return -1;
	}
	json_decref(body);
	json_array_foreach(json_object_get(answer, "tasks"), i, it) {
		const char *arn =
			json_string_value(json_object_get(it, "taskArn"));
		struct ecs_run *r = match(runs, n, arn);

		if (!r)
			continue;
		for (size_t k = 0; k < n; k++)
			if (runs[k] == r)
				seen[k] = true;
		changed |= process_task(e, r, it);
	}
	json_array_foreach(json_object_get(answer, "failures"), i, it) {
		const char *arn = json_string_value(json_object_get(it, "arn"));
		const char *why =
			json_string_value(json_object_get(it, "reason"));
		struct ecs_run *r = match(runs, n, arn);

		if (!r)
			continue;
		for (size_t k = 0; k < n; k++)
			if (runs[k] == r)
				seen[k] = true;
		if (why && strcmp(why, "MISSING")) {
			log_msg(LOG_WARN, r->run_id,
				"ecs: DescribeTasks failure %s; the run keeps "
				"its state",
				why);
			continue;
		}
		changed |= process_missing(e, r);
	}
	for (i = 0; i < n; i++)
		if (!seen[i] && !runs[i]->done)
			changed |= process_missing(e, runs[i]);
	json_decref(answer);
	return changed;
}

/* One round over the runs in snap.  Returns as describe_batch. */
static int poll_round(struct ecs *e, struct ecs_run **snap, size_t n)
{
	struct rc_err err = { 0 };
	bool failed = false, changed = false;
	size_t down = 0;

	for (size_t i = 0; i < n; i += ECS_DESCRIBE_BATCH) {
		size_t m = n - i < ECS_DESCRIBE_BATCH ? n - i :
							ECS_DESCRIBE_BATCH;
		struct rc_err e1 = { 0 };
		int r = describe_batch(e, snap + i, m, &e1);

		if (r < 0) {
			if (!failed)
				err = e1;
			failed = true;
			down += m;
		} else if (r > 0) {
			changed = true;
		}
	}
	if (failed && !e->engine_down)
		log_warn("ecs: cannot follow %zu run(s): %s; they keep their "
			 "state until ECS answers again",
			 down, err.msg);
	else if (!failed && e->engine_down)
		log_info("ecs: ECS answers again");
	e->engine_down = failed;
	for (size_t i = 0; i < n; i++) {
		struct ecs_run *r = snap[i];

		if (r->done)
			continue;
		if (enforce_timeout(e, r))
			changed = true;
		if (r->reported_running && logs_fetch(e, r) > 0)
			changed = true;
	}
	return failed ? -1 : changed;
}

static void *poller_main(void *arg)
{
	struct ecs *e = arg;

	pthread_mutex_lock(&e->lock);
	while (!e->closing) {
		struct ecs_run **snap, *r, **pp;
		struct timespec ts;
		int64_t now = time_mono_ms(), due;
		size_t n = 0;
		int res;

		if (!e->runs) {
			pthread_cond_wait(&e->cond, &e->lock);
			continue;
		}
		if (e->kick) {
			e->kick = false;
			e->interval_ms = e->set.poll_ms;
		}
		due = e->last_round_mono + e->interval_ms;
		if (now < due) {
			ts.tv_sec = due / 1000;
			ts.tv_nsec = (due % 1000) * 1000000L;
			pthread_cond_timedwait(&e->cond, &e->lock, &ts);
			continue;
		}
		snap = xcalloc(e->n_runs + 1, sizeof(*snap));
		for (r = e->runs; r; r = r->next)
			if (!r->done)
				snap[n++] = r;
		pthread_mutex_unlock(&e->lock);

		res = poll_round(e, snap, n);
		free(snap);

		pthread_mutex_lock(&e->lock);
		e->last_round_mono = time_mono_ms();
		if (res < 0) {
			e->interval_ms *= 2;
			if (e->interval_ms < e->set.poll_ms)
				e->interval_ms = e->set.poll_ms;
			if (e->interval_ms > ERROR_BACKOFF_MAX_MS)
				e->interval_ms = ERROR_BACKOFF_MAX_MS;
		} else if (res > 0) {
			e->interval_ms = e->set.poll_ms;
		} else {
			e->interval_ms += e->interval_ms / 2;
			if (e->interval_ms > e->set.poll_max_ms)
				e->interval_ms = e->set.poll_max_ms;
		}
		for (pp = &e->runs; *pp;) {
			r = *pp;
			if (r->done) {
				*pp = r->next;
				e->n_runs--;
				ecs_run_free(r);
			} else {
				pp = &r->next;
			}
		}
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

int ecs_poller_start(struct ecs *e, struct rc_err *err)
{
	int r = pthread_create(&e->thread, NULL, poller_main, e);

	if (r)
		return rc_err_set(err, r,
				  "ecs: cannot start the poller "
				  "thread: %s",
				  strerror(r));
	e->thread_started = true;
	return 0;
}

void ecs_poller_stop(struct ecs *e)
{
	if (!e->thread_started)
		return;
	pthread_mutex_lock(&e->lock);
	e->closing = true;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	aws_client_abort(e->aws);
	pthread_join(e->thread, NULL);
	e->thread_started = false;
}
