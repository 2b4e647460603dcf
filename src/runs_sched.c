/*
 * runs_sched.c - the scheduler of the run manager: the FIFO of queued runs
 * and the set of active ones, the limits a queued run must pass to start,
 * and the scheduler thread that starts runs and writes again the ends the
 * store refused.
 *
 * Limits: a queued run starts when the global limit
 * (server.max_concurrent_runs), its automation's `concurrency` (per value
 * of `concurrency_key` when one is set), its user's limit and its retry
 * backoff (not_before) all allow.  The queue is scanned oldest first and
 * the first run that may start is started, so a run held back by one
 * limit never holds back runs that limit does not concern.  A slot counts
 * against the limits from the moment it leaves the queue.
 */
#include "runs_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog.h"
#include "exec.h"
#include "log.h"
#include "secrets.h"

#define RUN_PATH_ENV "/usr/local/bin:/usr/bin:/bin"

void runs_slot_free(struct runs_slot *s)
{
	if (!s)
		return;
	free(s->automation);
	free(s->user);
	json_decref(s->params);
	free(s->handle);
	free(s);
}

struct runs_slot *runs_slot_new(const struct run *r)
{
	struct runs_slot *s = xcalloc(1, sizeof(*s));

	memcpy(s->id, r->id, sizeof(s->id));
	s->automation = xstrdup(r->automation);
	s->user = xstrdup(r->user);
	s->handle = xstrdup(r->handle);
	s->params = r->parameters ? json_loads(r->parameters, 0, NULL) : NULL;
	if (!s->params)
		s->params = json_object();
	s->not_before = r->not_before;
	return s;
}

/* Remove id from the active list (mu held).  Returns the slot or NULL. */
static struct runs_slot *active_take(struct runs *rs, const char *id)
{
	for (struct runs_slot **p = &rs->active; *p; p = &(*p)->next) {
		if (strcmp((*p)->id, id) == 0) {
			struct runs_slot *s = *p;

			*p = s->next;
			s->next = NULL;
			rs->n_active--;
			return s;
		}
	}
	return NULL;
}

struct runs_slot *runs_active_find(struct runs *rs, const char *id)
{
	for (struct runs_slot *s = rs->active; s; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

void runs_active_push(struct runs *rs, struct runs_slot *s)
{
	s->next = rs->active;
	rs->active = s;
	rs->n_active++;
}

/* Drop id's slot from the active set and wake the scheduler. */
void runs_active_drop(struct runs *rs, const char *id)
{
	pthread_mutex_lock(&rs->mu);
	runs_slot_free(active_take(rs, id));
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->mu);
}

void runs_queue_push(struct runs *rs, struct runs_slot *s)
{
	s->next = NULL;
	if (rs->queue_tail)
		rs->queue_tail->next = s;
	else
		rs->queue_head = s;
	rs->queue_tail = s;
	rs->n_queued++;
}

struct runs_slot *runs_queue_remove(struct runs *rs, const char *id)
{
	struct runs_slot *prev = NULL;

	for (struct runs_slot *s = rs->queue_head; s; prev = s, s = s->next) {
		if (strcmp(s->id, id) != 0)
			continue;
		if (prev)
			prev->next = s->next;
		else
			rs->queue_head = s->next;
		if (rs->queue_tail == s)
			rs->queue_tail = prev;
		s->next = NULL;
		rs->n_queued--;
		return s;
	}
	return NULL;
}

/* Whether two runs share a concurrency key value (both absent counts as
 * the same value). */
static bool same_key(json_t *a, json_t *b)
{
	if (!a || !b)
		return !a && !b;
	return json_equal(a, b);
}

/* Whether queued slot s may start now under every limit (mu held). */
static bool may_start(struct runs *rs, const struct config *cfg,
		      const struct runs_slot *s)
{
	const struct automation *a = config_automation(cfg, s->automation);
	int64_t gmax = cfg->server.max_concurrent_runs;
	int64_t umax = config_user_max_runs(cfg, s->user);
	const char *key = a ? a->concurrency_key : NULL;
	json_t *kv = key ? json_object_get(s->params, key) : NULL;
	int64_t n_auto = 0, n_key = 0, n_user = 0;

	if (gmax > 0 && rs->n_active >= gmax)
		return false;
	for (const struct runs_slot *t = rs->active; t; t = t->next) {
		if (!strcmp(t->automation, s->automation)) {
			n_auto++;
			if (key &&
			    same_key(kv, json_object_get(t->params, key)))
				n_key++;
		}
		if (!strcmp(t->user, s->user))
			n_user++;
	}
	if (a && a->concurrency > 0 && (key ? n_key : n_auto) >= a->concurrency)
		return false;
	return umax <= 0 || n_user < umax;
}

static char **build_env(const struct runs *rs, const struct automation *a,
			const struct run *r, const char *home)
{
	size_t n_extra = a ? strv_len(a->env) + strv_len(a->secrets) : 0;
	char **env = xcalloc(7 + n_extra, sizeof(char *));
	size_t i = 0;

	env[i++] = xstrdup("PATH=" RUN_PATH_ENV);
	env[i++] = xasprintf("HOME=%s", home);
	env[i++] = xstrdup("LANG=C.UTF-8");
	env[i++] = xasprintf("RUNCELL_RUN_ID=%s", r->id);
	env[i++] = xasprintf("RUNCELL_AUTOMATION_ID=%s", r->automation);
	env[i++] = xasprintf("RUNCELL_USER=%s", r->user);
	for (char **e = a ? a->env : NULL; e && *e; e++)
		env[i++] = xstrdup(*e);
	for (char **n = a ? a->secrets : NULL; n && *n; n++) {
		const char *v = secrets_get(rs->secrets, *n);

		if (v)
			env[i++] = xasprintf("%s=%s", *n, v);
	}
	return env;
}

static char **argv_from_json(const char *text)
{
	json_t *arr = json_loads(text, 0, NULL);
	char **argv;
	size_t n;

	if (!json_is_array(arr)) {
		json_decref(arr);
		return NULL;
	}
	n = json_array_size(arr);
	argv = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(arr, i));

		argv[i] = xstrdup(s ? s : "");
	}
	json_decref(arr);
	return argv;
}

/* Whether a stop was asked for id while it was leaving the queue. */
static bool stop_pending(struct runs *rs, const char *id)
{
	struct runs_slot *s;
	bool p;

	pthread_mutex_lock(&rs->mu);
	s = runs_active_find(rs, id);
	p = s && s->stop_pending;
	pthread_mutex_unlock(&rs->mu);
	return p;
}

/* Start run id, whose slot the scheduler just moved from the queue to the
 * active set (mu not held).  Every failure drops the slot again. */
/* The run's work folder: one mkdir in the common case (its parent exists
 * since runs_open), the whole path only if something removed it. */
static int make_work_dir(const char *path, struct rc_err *err)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	return mkdir_p(path, 0755, err);
}

static void start_one(struct runs *rs, const char *id)
{
	const struct config *cfg = runs_config(rs);
	struct run r;
	struct rc_err err;
	struct exec_spec spec;
	const struct automation *a;
	struct executor *ex;
	struct runs_slot *s;
	char **argv = NULL, **env = NULL;
	char *log = NULL, *work = NULL, *handle = NULL;
	bool stop_now;
	int tr;

	memset(&r, 0, sizeof(r));
	tr = store_run_transition(rs->st, id, RUN_MASK(RUN_QUEUED),
				  RUN_STARTING, NULL, &err);
	if (tr < 0) {
		/* The store refused (locked, disk full): the run is still
		 * queued there, so keep it queued here and try again. */
		log_msg(LOG_ERROR, id, "cannot start: %s; retrying in %d ms",
			err.msg, STORE_RETRY_MS);
		pthread_mutex_lock(&rs->mu);
		s = active_take(rs, id);
		if (s) {
			s->not_before = time_now_ms() + STORE_RETRY_MS;
			runs_queue_push(rs, s);
		}
		pthread_mutex_unlock(&rs->mu);
		goto out;
	}
	if (tr != 0) {
		runs_active_drop(rs, id); /* cancelled meanwhile */
		goto out;
	}
	runs_notify(rs, id, RUN_STARTING);
	if (stop_pending(rs, id)) {
		runs_active_drop(rs, id);
		runs_finish_now(rs, id, RUN_CANCELLED,
				"stopped before it started");
		goto out;
	}
	if (store_run_get(rs->st, id, &r, &err) != 0) {
		runs_active_drop(rs, id);
		runs_finish_now(rs, id, RUN_FAILED,
				"cannot read the run record");
		goto out;
	}
	a = config_automation(cfg, r.automation);
	ex = runs_find_backend(rs, r.executor);
	argv = argv_from_json(r.argv);
	work = runs_work_path(rs, r.id);
	log = runs_log_path(rs, r.id);
	if (!a || !ex || !argv || !argv[0] || make_work_dir(work, &err) < 0) {
		runs_active_drop(rs, id);
		runs_finish_now(rs, r.id, RUN_FAILED,
				!a  ? "automation no longer exists in the "
				      "configuration" :
				!ex ? "executor not available" :
				      "cannot prepare the run");
		goto out;
	}
	env = build_env(rs, a, &r, work);
	memset(&spec, 0, sizeof(spec));
	spec.run_id = r.id;
	spec.automation_id = r.automation;
	spec.user = r.user;
	spec.argv = argv;
	spec.env = env;
	spec.res = &a->res;
	spec.iso = &a->iso;
	spec.log_path = log;
	spec.log_max_bytes = cfg->server.log_max_bytes * LOG_SPOOL_FACTOR;
	spec.stop_grace_ms = cfg->server.stop_grace_ms;
	spec.work_dir = work;

	pthread_mutex_lock(&rs->mu);
	s = runs_active_find(rs, id);
	if (s)
		s->ex = ex;
	pthread_mutex_unlock(&rs->mu);

	/* Events may arrive before start() even returns. */
	if (ex->ops->start(ex, &spec, &handle, &err) < 0) {
		char *why = xasprintf("cannot start: %s", err.msg);

		runs_active_drop(rs, id);
		runs_finish_now(rs, r.id, RUN_FAILED, why);
		free(why);
		goto out;
	}
	if (store_run_set_handle(rs->st, r.id, handle, &err) < 0)
		log_msg(LOG_ERROR, r.id, "storing handle: %s", err.msg);
	pthread_mutex_lock(&rs->mu);
	stop_now = false;
	s = runs_active_find(rs, id); /* may be gone if it already ended */
	if (s) {
		free(s->handle);
		s->handle = xstrdup(handle);
		s->started = true;
		stop_now = s->stop_pending;
	}
	pthread_mutex_unlock(&rs->mu);
	if (stop_now)
		ex->ops->stop(ex, r.id, handle, &err);
out:
	strv_free(argv);
	strv_free(env);
	free(log);
	free(work);
	free(handle);
	store_run_clear(&r);
}

/* The oldest queued run that may start now, or NULL; *wake_at gets the
 * earliest future not_before seen (0 if none).  mu held. */
static struct runs_slot *pick(struct runs *rs, int64_t *wake_at)
{
	const struct config *cfg = runs_config(rs);
	int64_t now = time_now_ms(), gmax = cfg->server.max_concurrent_runs;

	*wake_at = 0;
	if (rs->paused || (gmax > 0 && rs->n_active >= gmax))
		return NULL;
	for (struct runs_slot *s = rs->queue_head; s; s = s->next) {
		if (s->not_before > now) {
			if (!*wake_at || s->not_before < *wake_at)
				*wake_at = s->not_before;
			continue;
		}
		if (may_start(rs, cfg, s))
			return s;
	}
	return NULL;
}

static void *scheduler_main(void *arg)
{
	struct runs *rs = arg;
	char id[RUN_ID_LEN + 1];

	pthread_mutex_lock(&rs->mu);
	while (!rs->stopping) {
		int64_t wake_at;
		struct runs_slot *s;

		if (rs->ends && time_now_ms() >= rs->ends_at) {
			struct runs_pending_end *list = rs->ends;

			rs->ends = NULL;
			pthread_mutex_unlock(&rs->mu);
			runs_retry_ends(rs, list);
			pthread_mutex_lock(&rs->mu);
			continue;
		}
		s = pick(rs, &wake_at);
		if (!s) {
			struct timespec ts;

			if (rs->ends && (!wake_at || rs->ends_at < wake_at))
				wake_at = rs->ends_at;
			if (!wake_at) {
				pthread_cond_wait(&rs->cond, &rs->mu);
				continue;
			}
			ts.tv_sec = wake_at / 1000;
			ts.tv_nsec = (wake_at % 1000) * 1000000;
			pthread_cond_timedwait(&rs->cond, &rs->mu, &ts);
			continue;
		}
		runs_queue_remove(rs, s->id);
		runs_active_push(rs, s);
		memcpy(id, s->id, sizeof(id));
		pthread_mutex_unlock(&rs->mu);
		start_one(rs, id);
		pthread_mutex_lock(&rs->mu);
	}
	pthread_mutex_unlock(&rs->mu);
	return NULL;
}

int runs_start(struct runs *rs, struct rc_err *err)
{
	for (int i = 0; i < RUNS_STARTERS; i++) {
		int e = pthread_create(&rs->threads[i], NULL, scheduler_main,
				       rs);

		if (e)
			return rc_err_set(err, e,
					  "cannot start the scheduler: "
					  "%s",
					  strerror(e));
		rs->n_threads++;
	}
	return 0;
}

void runs_counts(struct runs *rs, int *queued, int *active)
{
	pthread_mutex_lock(&rs->mu);
	*queued = rs->n_queued;
	*active = rs->n_active;
	pthread_mutex_unlock(&rs->mu);
}

int runs_queue_position(struct runs *rs, const char *id)
{
	int pos = 0, i = 1;

	pthread_mutex_lock(&rs->mu);
	for (struct runs_slot *s = rs->queue_head; s && !pos; s = s->next, i++)
		if (!strcmp(s->id, id))
			pos = i;
	pthread_mutex_unlock(&rs->mu);
	return pos;
}

void runs_pause(struct runs *rs)
{
	pthread_mutex_lock(&rs->mu);
	rs->paused = true;
	pthread_mutex_unlock(&rs->mu);
}
