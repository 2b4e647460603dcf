/*
 * runs.c - the run lifecycle: submit, queue, start when the limits allow,
 * follow executor events into the store, retry, stop, recover after a
 * restart, and swap in a reloaded configuration.
 *
 * In memory we keep only what the store cannot answer cheaply: the FIFO of
 * queued runs (oldest first) and the set of active runs (starting or
 * running) with their executor and handle.  Both are rebuilt from the store
 * by runs_open, so a restart loses nothing.
 *
 * Limits: a queued run starts when the global limit
 * (server.max_concurrent_runs), its automation's `concurrency` (per value of
 * `concurrency_key` when one is set), its user's limit
 * (server.user_limits / max_concurrent_runs_per_user) and its retry backoff
 * (not_before) all allow.  The scheduler scans the queue oldest first and
 * starts the first run that may start, so a run held back by one limit
 * never holds back runs that limit does not concern, and within one limit
 * runs start in the order they were queued.  A slot counts against the
 * limits from the moment it leaves the queue.
 *
 * Configuration: the current config is an atomic pointer that
 * runs_reload() swaps.  Every config ever loaded stays alive until
 * runs_close(), so a reader holding an older pointer (an HTTP handler, an
 * executor opened with it) never sees it freed.
 *
 * The queue, the limits and the scheduler thread are in runs_sched.c;
 * runs_int.h has what the two files share.
 */
#include "runs.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog.h"
#include "exec.h"
#include "log.h"
#include "retention.h"
#include "runs_int.h"
#include "secrets.h"

#define RETRY_MAX_SHIFT 20

const struct config *runs_config(struct runs *rs)
{
	return atomic_load(&rs->cur);
}

/* Resolve "auto": ECS where the original system would have used it. */
static const char *resolve_executor_name(const char *name)
{
	const char *use_ecs = getenv("USE_ECS_TASKS");

	if (strcmp(name, "auto") != 0)
		return name;
	if (getenv("ECS_CONTAINER_METADATA_URI") ||
	    (use_ecs && !strcmp(use_ecs, "true")))
		return "ecs";
	return "sandbox";
}

static const char *automation_executor(const struct config *cfg,
				       const struct automation *a)
{
	return resolve_executor_name(a && a->executor ? a->executor :
							cfg->server.executor);
}

struct executor *runs_find_backend(struct runs *rs, const char *name)
{
	struct executor *ex = NULL;

	pthread_mutex_lock(&rs->be_mu);
	for (size_t i = 0; i < rs->n_backends && !ex; i++)
		if (!strcmp(rs->backends[i].name, name))
			ex = rs->backends[i].ex;
	pthread_mutex_unlock(&rs->be_mu);
	return ex;
}

char *runs_log_path(const struct runs *rs, const char *id)
{
	return xasprintf("%s/logs/%s.log", rs->cfg0->server.data_dir, id);
}

char *runs_work_path(const struct runs *rs, const char *id)
{
	return xasprintf("%s/work/%s", rs->cfg0->server.data_dir, id);
}

void runs_add_listener(struct runs *rs, runs_listener_fn fn, void *ctx)
{
	assert(rs->n_listeners <
	       (int)(sizeof(rs->listeners) / sizeof(rs->listeners[0])));
	rs->listeners[rs->n_listeners].fn = fn;
	rs->listeners[rs->n_listeners].ctx = ctx;
	rs->n_listeners++;
}

static void tell_listeners(struct runs *rs, const struct run *r)
{
	for (int i = 0; i < rs->n_listeners; i++)
		rs->listeners[i].fn(rs->listeners[i].ctx, r);
}

/* Tell listeners that id just moved to state: its record is re-read from
 * the store so they see what was written, with the state they are told of
 * (a fast run may already be further along in the store). */
void runs_notify(struct runs *rs, const char *id, enum run_state state)
{
	struct run r;
	struct rc_err err;

	if (rs->n_listeners == 0)
		return;
	if (store_run_get(rs->st, id, &r, &err) != 0)
		return;
	r.state = state;
	tell_listeners(rs, &r);
	store_run_clear(&r);
}

/* A random factor in [0.8, 1.2) for backoff jitter. */
static double jitter(void)
{
	char hex[9];

	random_hex(hex, 4);
	return 0.8 + 0.4 * ((double)strtoul(hex, NULL, 16) / 4294967296.0);
}

/*
 * Record a new queued run of a with normalized parameters norm and put it
 * in the queue.  attempt, retry_of and not_before are for retries.
 * check_cap refuses (EAGAIN) when server.max_queued_runs runs are queued.
 */
static int enqueue(struct runs *rs, const struct config *cfg,
		   const struct automation *a, json_t *norm, const char *user,
		   int attempt, const char *retry_of, int64_t not_before,
		   bool check_cap, struct run *out, struct rc_err *err)
{
	json_t *argv_json = json_array();
	char **argv = catalog_argv(a, norm);
	int64_t cap = cfg->server.max_queued_runs;
	struct run r;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	pthread_mutex_lock(&rs->mu);
	if (check_cap && cap > 0 && rs->n_queued + rs->n_reserved >= cap) {
		int n = rs->n_queued;

		pthread_mutex_unlock(&rs->mu);
		rc_err_set(err, EAGAIN,
			   "the queue is full: %d runs are "
			   "waiting (server.max_queued_runs is %lld); retry "
			   "later",
			   n, (long long)cap);
		goto out;
	}
	rs->n_reserved++;
	pthread_mutex_unlock(&rs->mu);

	for (char **p = argv; *p; p++)
		json_array_append_new(argv_json, json_string(*p));
	r.id[0] = 'r';
	random_hex(r.id + 1, (RUN_ID_LEN - 1) / 2);
	r.automation = xstrdup(a->id);
	r.user = xstrdup(user);
	r.parameters = json_dumps(norm, JSON_COMPACT);
	r.argv = json_dumps(argv_json, JSON_COMPACT);
	r.executor = xstrdup(automation_executor(cfg, a));
	r.state = RUN_QUEUED;
	r.created_at = time_now_ms();
	r.attempt = attempt;
	if (retry_of)
		snprintf(r.retry_of, sizeof(r.retry_of), "%s", retry_of);
	r.not_before = not_before;
	ret = store_run_insert(rs->st, &r, err);
	pthread_mutex_lock(&rs->mu);
	rs->n_reserved--;
	if (ret == 0) {
		runs_queue_push(rs, runs_slot_new(&r));
		pthread_cond_broadcast(&rs->cond);
	}
	pthread_mutex_unlock(&rs->mu);
	if (ret < 0) {
		rc_err_wrap(err, "recording the run");
		/* Busy and full stores keep their errno: clients are told to
		 * retry (503) or that space ran out (507). */
		if (err->errnum != EBUSY && err->errnum != ENOSPC)
			err->errnum = EIO;
		goto out;
	}
	runs_notify(rs, r.id, RUN_QUEUED);
	*out = r;
	memset(&r, 0, sizeof(r));
out:
	json_decref(argv_json);
	strv_free(argv);
	store_run_clear(&r);
	return ret;
}

/* After run r ended: queue its next attempt if its automation asks for
 * one.  A cancelled run, or one whose stop was asked for, is never
 * retried. */
static void maybe_retry(struct runs *rs, const struct run *r)
{
	const struct config *cfg = runs_config(rs);
	const struct automation *a = config_automation(cfg, r->automation);
	json_t *params = NULL, *norm = NULL;
	struct run next;
	struct rc_err err;
	int64_t delay;
	int shift;

	if (!a || r->state == RUN_CANCELLED || r->stop_requested ||
	    !(a->retries.on_mask & RUN_MASK(r->state)) ||
	    r->attempt > a->retries.max)
		return;
	memset(&next, 0, sizeof(next));
	rc_err_clear(&err);
	params = r->parameters ? json_loads(r->parameters, 0, NULL) : NULL;
	if (catalog_validate(a, params, &norm, &err) < 0) {
		log_msg(LOG_WARN, r->id,
			"not retried: its parameters no "
			"longer pass the automation's rules: %s",
			err.msg);
		goto out;
	}
	shift = r->attempt - 1 < RETRY_MAX_SHIFT ? r->attempt - 1 :
						   RETRY_MAX_SHIFT;
	delay = (int64_t)((double)(a->retries.backoff_ms << shift) * jitter());
	if (enqueue(rs, cfg, a, norm, r->user, r->attempt + 1,
		    r->retry_of[0] ? r->retry_of : r->id, time_now_ms() + delay,
		    false, &next, &err) < 0) {
		log_msg(LOG_ERROR, r->id, "cannot queue its retry: %s",
			err.msg);
		goto out;
	}
	log_msg(LOG_INFO, next.id,
		"attempt %d of %s (retry of %s) queued to "
		"start in %lld ms",
		next.attempt, next.automation, next.retry_of, (long long)delay);
out:
	json_decref(params);
	json_decref(norm);
	store_run_clear(&next);
}

/* A terminal state of id was just written: tell listeners and retry. */
static void ended(struct runs *rs, const char *id)
{
	struct run r;
	struct rc_err err;

	if (store_run_get(rs->st, id, &r, &err) != 0)
		return;
	tell_listeners(rs, &r);
	maybe_retry(rs, &r);
	store_run_clear(&r);
}

/* Write the terminal state ev reports: 0 written, 1 refused (the run is
 * terminal already), -1 store error in *err. */
static int write_end(struct runs *rs, const struct exec_event *ev,
		     struct rc_err *err)
{
	struct run upd;

	memset(&upd, 0, sizeof(upd));
	upd.finished_at = ev->at ? ev->at : time_now_ms();
	upd.has_exit_code = ev->has_exit_code;
	upd.exit_code = ev->exit_code;
	upd.reason = (char *)ev->reason;
	upd.has_usage = ev->has_usage;
	upd.cpu_usec = ev->cpu_usec;
	upd.peak_memory = ev->peak_memory;
	return store_run_transition(rs->st, ev->run_id, RUN_MASK_ACTIVE,
				    ev->state, &upd, err);
}

/* Keep ev for the scheduler to write again (see struct runs_pending_end). */
static void end_retry_later(struct runs *rs, const struct exec_event *ev)
{
	struct runs_pending_end *p = xcalloc(1, sizeof(*p));

	snprintf(p->id, sizeof(p->id), "%s", ev->run_id);
	p->state = ev->state;
	p->at = ev->at ? ev->at : time_now_ms();
	p->has_exit_code = ev->has_exit_code;
	p->exit_code = ev->exit_code;
	p->reason = ev->reason ? xstrdup(ev->reason) : NULL;
	p->has_usage = ev->has_usage;
	p->cpu_usec = ev->cpu_usec;
	p->peak_memory = ev->peak_memory;
	pthread_mutex_lock(&rs->mu);
	p->next = rs->ends;
	rs->ends = p;
	rs->ends_at = time_now_ms() + STORE_RETRY_MS;
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->mu);
}

/* Executor event sink: write the transition, then tell everyone. */
static void on_event(void *ctx, const struct exec_event *ev)
{
	struct runs *rs = ctx;
	struct run upd;
	struct rc_err err;
	int r;

	memset(&upd, 0, sizeof(upd));
	if (ev->state == RUN_RUNNING) {
		upd.started_at = ev->at ? ev->at : time_now_ms();
		r = store_run_transition(rs->st, ev->run_id,
					 RUN_MASK(RUN_STARTING), RUN_RUNNING,
					 &upd, &err);
		if (r < 0)
			log_msg(LOG_ERROR, ev->run_id,
				"recording running "
				"failed: %s",
				err.msg);
		if (r == 0)
			runs_notify(rs, ev->run_id, RUN_RUNNING);
		return;
	}
	/* The output is complete: cut an oversized log to head and tail
	 * before anyone can see the run as finished. */
	if (runs_config(rs)->server.log_max_bytes > 0) {
		char *log = runs_log_path(rs, ev->run_id);

		if (retention_trim_log(log,
				       runs_config(rs)->server.log_max_bytes,
				       &err) < 0)
			log_msg(LOG_WARN, ev->run_id, "%s", err.msg);
		free(log);
	}
	r = write_end(rs, ev, &err);
	runs_active_drop(rs, ev->run_id);
	if (r < 0) {
		log_msg(LOG_ERROR, ev->run_id,
			"recording %s failed: %s; "
			"retrying every %d ms",
			run_state_name(ev->state), err.msg, STORE_RETRY_MS);
		end_retry_later(rs, ev);
	}
	if (r == 0) {
		log_msg(LOG_INFO, ev->run_id, "run ended: %s",
			run_state_name(ev->state));
		ended(rs, ev->run_id);
	}
}

/* Write the ends the store refused before; those it refuses again go
 * back on the list.  Called by the scheduler without mu. */
void runs_retry_ends(struct runs *rs, struct runs_pending_end *list)
{
	while (list) {
		struct runs_pending_end *p = list;
		struct exec_event ev = {
			.run_id = p->id,
			.state = p->state,
			.at = p->at,
			.has_exit_code = p->has_exit_code,
			.exit_code = p->exit_code,
			.reason = p->reason,
			.has_usage = p->has_usage,
			.cpu_usec = p->cpu_usec,
			.peak_memory = p->peak_memory,
		};
		struct rc_err err;
		int r = write_end(rs, &ev, &err);

		list = p->next;
		if (r < 0) {
			end_retry_later(rs, &ev);
		} else if (r == 0) {
			log_msg(LOG_INFO, p->id,
				"run ended: %s (recorded "
				"late, the store refused it before)",
				run_state_name(p->state));
			ended(rs, p->id);
		}
		free(p->reason);
		free(p);
	}
}

/* Open backend name unless it is open.  Local backends fork their
 * launcher here: only call this before any thread exists, or for a remote
 * backend. */
static int open_backend(struct runs *rs, const struct config *cfg,
			const char *name, struct rc_err *err)
{
	struct executor *ex;

	if (runs_find_backend(rs, name))
		return 0;
	if (rs->n_backends == MAX_BACKENDS)
		return rc_err_set(err, ENOSPC, "too many executors");
	if (exec_open(name, cfg, on_event, rs, &ex, err) < 0)
		return -1;
	pthread_mutex_lock(&rs->be_mu);
	rs->backends[rs->n_backends].name = xstrdup(name);
	rs->backends[rs->n_backends].ex = ex;
	rs->n_backends++;
	pthread_mutex_unlock(&rs->be_mu);
	return 0;
}

/* Write a terminal state without an executor event (lost, failed to
 * start, cancelled while queued). */
void runs_finish_now(struct runs *rs, const char *id, enum run_state st,
		     const char *reason)
{
	struct run upd;
	struct rc_err err;

	memset(&upd, 0, sizeof(upd));
	upd.finished_at = time_now_ms();
	upd.reason = (char *)reason;
	if (store_run_transition(rs->st, id, RUN_MASK_ACTIVE, st, &upd, &err) ==
	    0)
		ended(rs, id);
}

/* Re-adopt every run the store says is active. */
static int recover(struct runs *rs, struct rc_err *err)
{
	struct run_filter f = { .state = -1,
				.active_only = true,
				.limit = 1000 };
	struct run *list = NULL;
	size_t n = 0;

	/* Collect all active runs, newest first, page by page. */
	for (;;) {
		struct run *page;
		size_t np;

		if (store_run_list(rs->st, &f, &page, &np, err) < 0)
			return rc_err_wrap(err, "listing active runs");
		list = xrealloc(list, (n + np + 1) * sizeof(*list));
		if (np) /* page is NULL when empty */
			memcpy(list + n, page, np * sizeof(*page));
		free(page);
		n += np;
		if (np < (size_t)f.limit)
			break;
		f.before_seq = list[n - 1].seq;
	}
	/* Oldest first, so the queue keeps its order. */
	for (size_t i = n; i-- > 0;) {
		struct run *r = &list[i];
		struct runs_slot *s;
		struct executor *ex;
		struct rc_err aerr;
		char *log;
		int a;

		if (r->state == RUN_QUEUED) {
			runs_queue_push(rs, runs_slot_new(r));
			continue;
		}
		if (!runs_find_backend(rs, r->executor) &&
		    open_backend(rs, rs->cfg0, r->executor, &aerr) < 0) {
			char *why = xasprintf("executor %s is not available "
					      "after restart: %s",
					      r->executor, aerr.msg);
			runs_finish_now(rs, r->id, RUN_LOST, why);
			free(why);
			continue;
		}
		ex = runs_find_backend(rs, r->executor);
		s = runs_slot_new(r);
		s->ex = ex;
		s->started = true;
		pthread_mutex_lock(&rs->mu);
		runs_active_push(rs, s);
		pthread_mutex_unlock(&rs->mu);
		log = runs_log_path(rs, r->id);
		a = ex->ops->attach(ex, r->id, r->handle, log, &aerr);
		free(log);
		if (a == 1) {
			/* Never started: put it back in the queue. */
			runs_active_drop(rs, r->id);
			if (store_run_transition(rs->st, r->id,
						 RUN_MASK(RUN_STARTING),
						 RUN_QUEUED, NULL, &aerr) == 0)
				runs_queue_push(rs, runs_slot_new(r));
		} else if (a < 0) {
			char *why = xasprintf("cannot re-attach after "
					      "restart: %s",
					      aerr.msg);

			runs_active_drop(rs, r->id);
			runs_finish_now(rs, r->id, RUN_LOST, why);
			free(why);
		} else if (r->stop_requested) {
			ex->ops->stop(ex, r->id, r->handle, &aerr);
		}
	}
	store_runs_free(list, n);
	return 0;
}

int runs_open(const struct config *cfg, struct store *st, struct runs **out,
	      struct rc_err *err)
{
	struct runs *rs = xcalloc(1, sizeof(*rs));
	static const char *const subdirs[] = { "logs", "work" };

	rs->cfg0 = cfg;
	atomic_init(&rs->cur, cfg);
	rs->st = st;
	pthread_mutex_init(&rs->be_mu, NULL);
	pthread_mutex_init(&rs->mu, NULL);
	pthread_cond_init(&rs->cond, NULL);
	for (size_t i = 0; i < 2; i++) {
		char *dir =
			xasprintf("%s/%s", cfg->server.data_dir, subdirs[i]);
		int r = mkdir_p(dir, 0700, err);

		free(dir);
		if (r < 0)
			goto fail;
	}
	if (open_backend(rs, cfg, resolve_executor_name(cfg->server.executor),
			 err) < 0)
		goto fail;
	for (size_t i = 0; i < cfg->n_autos; i++)
		if (open_backend(rs, cfg,
				 automation_executor(cfg, &cfg->autos[i]),
				 err) < 0)
			goto fail;
	if (recover(rs, err) < 0)
		goto fail;
	*out = rs;
	return 0;
fail:
	runs_close(rs);
	return -1;
}

void runs_set_secrets(struct runs *rs, const struct secrets *sec)
{
	rs->secrets = sec;
}

void runs_close(struct runs *rs)
{
	if (!rs)
		return;
	pthread_mutex_lock(&rs->mu);
	rs->stopping = true;
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->mu);
	for (int i = 0; i < rs->n_threads; i++)
		pthread_join(rs->threads[i], NULL);
	for (size_t i = 0; i < rs->n_backends; i++) {
		exec_close(rs->backends[i].ex);
		free(rs->backends[i].name);
	}
	while (rs->ends) {
		/* Last try; if the store still refuses, the supervisor's
		 * record decides at the next start (recover). */
		struct runs_pending_end *p = rs->ends;
		struct exec_event ev = {
			.run_id = p->id,
			.state = p->state,
			.at = p->at,
			.has_exit_code = p->has_exit_code,
			.exit_code = p->exit_code,
			.reason = p->reason,
			.has_usage = p->has_usage,
			.cpu_usec = p->cpu_usec,
			.peak_memory = p->peak_memory,
		};
		struct rc_err err;

		rs->ends = p->next;
		if (write_end(rs, &ev, &err) < 0)
			log_msg(LOG_ERROR, p->id,
				"its end (%s) is not "
				"recorded: %s",
				run_state_name(p->state), err.msg);
		free(p->reason);
		free(p);
	}
	while (rs->queue_head) {
		struct runs_slot *s = rs->queue_head;

		rs->queue_head = s->next;
		runs_slot_free(s);
	}
	while (rs->active) {
		struct runs_slot *s = rs->active;

		rs->active = s->next;
		runs_slot_free(s);
	}
	for (size_t i = 0; i < rs->n_owned; i++)
		config_free(rs->owned[i]);
	free(rs->owned);
	pthread_cond_destroy(&rs->cond);
	pthread_mutex_destroy(&rs->mu);
	pthread_mutex_destroy(&rs->be_mu);
	free(rs);
}

int runs_submit(struct runs *rs, const char *automation_id, json_t *params,
		const char *user, const char *role, struct run *out,
		struct rc_err *err)
{
	const struct config *cfg = runs_config(rs);
	const struct automation *a = config_automation(cfg, automation_id);
	json_t *norm = NULL;
	int ret;

	if (!a)
		return rc_err_set(
			err, ENOENT,
			"no automation \"%s\": GET /api/v1/automations "
			"lists the ones you can run",
			automation_id);
	if (!config_role_may_run(a, role))
		return rc_err_set(err, EACCES,
				  "role %s may not run automation \"%s\"", role,
				  automation_id);
	if (params && !json_is_object(params))
		return rc_err_field(err, "parameters",
				    "\"parameters\" must be a JSON object");
	if (catalog_validate(a, params, &norm, err) < 0) {
		err->errnum = EINVAL;
		return -1;
	}
	ret = enqueue(rs, cfg, a, norm, user, 1, NULL, 0, true, out, err);
	json_decref(norm);
	return ret;
}

int runs_stop(struct runs *rs, const char *id, const char *actor,
	      struct rc_err *err)
{
	struct run r;
	struct runs_slot *q, *s;
	struct executor *ex = NULL;
	char *handle = NULL;
	int g, ret = -1;

	(void)actor;
	g = store_run_get(rs->st, id, &r, err);
	if (g < 0)
		return -1;
	if (g == 1)
		return rc_err_set(err, ENOENT, "no run \"%s\"", id);
	if (run_state_terminal(r.state)) {
		rc_err_set(err, EALREADY, "run %s already finished (%s)", id,
			   run_state_name(r.state));
		goto out;
	}
	if (store_run_set_stop_requested(rs->st, id, err) < 0)
		goto out;

	pthread_mutex_lock(&rs->mu);
	q = runs_queue_remove(rs, id);
	s = q ? NULL : runs_active_find(rs, id);
	if (s && s->started && s->handle) {
		ex = s->ex;
		handle = xstrdup(s->handle);
	} else if (s) {
		s->stop_pending = true;
	}
	if (q)
		pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->mu);

	if (q) {
		runs_slot_free(q);
		runs_finish_now(rs, id, RUN_CANCELLED,
				"stopped before it started");
	} else if (ex && ex->ops->stop(ex, id, handle, err) < 0) {
		rc_err_wrap(err, "stopping run %s", id);
		err->errnum = EIO;
		goto out;
	}
	ret = 0;
out:
	free(handle);
	store_run_clear(&r);
	return ret;
}

int runs_wait(struct runs *rs, const char *id, int64_t timeout_ms)
{
	int64_t deadline = time_mono_ms() + timeout_ms;

	for (;;) {
		struct run r;
		struct rc_err err;
		bool done;

		if (store_run_get(rs->st, id, &r, &err) != 0)
			return -1;
		done = run_state_terminal(r.state);
		store_run_clear(&r);
		if (done)
			return 0;
		if (time_mono_ms() >= deadline)
			return 1;
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
}

/* Local backends fork a launcher when opened, which is only safe before
 * threads exist. */
static bool forks_at_open(const char *name)
{
	return !strcmp(name, "process") || !strcmp(name, "sandbox");
}

/* Open (or check) the backend a reloaded config needs. */
static int reload_backend(struct runs *rs, struct config *cfg, const char *name,
			  struct rc_err *err)
{
	if (runs_find_backend(rs, name))
		return 0;
	if (forks_at_open(name))
		return rc_err_set(err, EINVAL,
				  "executor %s was not in use at "
				  "start-up and cannot be added while the "
				  "service runs; restart the service to use "
				  "it",
				  name);
	return open_backend(rs, cfg, name, err);
}

int runs_reload(struct runs *rs, struct config *cfg, struct rc_err *err)
{
	const struct server_config *o = &rs->cfg0->server, *n = &cfg->server;

	if (strcmp(o->data_dir, n->data_dir) ||
	    strcmp(o->store_url, n->store_url))
		return rc_err_set(err, EINVAL,
				  "server.data_dir and "
				  "server.store cannot change while the "
				  "service runs; restart the service to "
				  "change them");
	if (reload_backend(rs, cfg, resolve_executor_name(n->executor), err) <
	    0)
		return -1;
	for (size_t i = 0; i < cfg->n_autos; i++)
		for (char **sn = cfg->autos[i].secrets; sn && *sn; sn++)
			if (!secrets_get(rs->secrets, *sn))
				return rc_err_set(err, EINVAL,
						  "automation "
						  "\"%s\" names secret %s, "
						  "which was not loaded at "
						  "start-up; restart the "
						  "service to add secrets",
						  cfg->autos[i].id, *sn);
	for (size_t i = 0; i < cfg->n_autos; i++)
		if (reload_backend(rs, cfg,
				   automation_executor(cfg, &cfg->autos[i]),
				   err) < 0)
			return rc_err_wrap(err, "automation \"%s\"",
					   cfg->autos[i].id);
	pthread_mutex_lock(&rs->mu);
	rs->owned = xrealloc(rs->owned, (rs->n_owned + 1) * sizeof(*rs->owned));
	rs->owned[rs->n_owned++] = cfg;
	atomic_store(&rs->cur, cfg);
	pthread_cond_broadcast(&rs->cond); /* limits may have changed */
	pthread_mutex_unlock(&rs->mu);
	return 0;
}
