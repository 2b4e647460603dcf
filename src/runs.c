/*
 * runs.c - the run lifecycle: submit, schedule, start, follow executor
 * events into the store, stop, recover after a restart.
 *
 * In memory we keep only what the store cannot answer cheaply: the FIFO of
 * queued run ids (oldest first) and the set of active runs with their
 * executor and handle.  Both are rebuilt from the store by runs_open, so a
 * restart loses nothing.
 */
#include "runs.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog.h"
#include "exec.h"

#define RUN_PATH_ENV "/usr/local/bin:/usr/bin:/bin"

struct backend_ref {
	char *name;
	struct executor *ex;
};

/* A run that is queued or active, as the scheduler sees it. */
struct slot {
	char id[RUN_ID_LEN + 1];
	char *automation;
	char *user;
	struct executor *ex;     /* NULL while queued */
	char *handle;
	bool started;            /* start() returned */
	bool stop_pending;       /* stop asked before start() returned */
	struct slot *next;
};

struct listener {
	runs_listener_fn fn;
	void *ctx;
};

struct runs {
	const struct config *cfg;
	struct store *st;
	struct backend_ref *backends;
	size_t n_backends;

	pthread_mutex_t mu;
	pthread_cond_t cond;     /* queue or active set changed */
	struct slot *queue_head, *queue_tail;
	struct slot *active;
	int n_queued, n_active;
	bool stopping;
	bool thread_started;
	pthread_t thread;

	struct listener listeners[8];
	int n_listeners;
};

static void slot_free(struct slot *s)
{
	if (!s)
		return;
	free(s->automation);
	free(s->user);
	free(s->handle);
	free(s);
}

static struct slot *slot_new(const struct run *r)
{
	struct slot *s = xcalloc(1, sizeof(*s));

	memcpy(s->id, r->id, sizeof(s->id));
	s->automation = xstrdup(r->automation);
	s->user = xstrdup(r->user);
	s->handle = xstrdup(r->handle);
	return s;
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

static const char *automation_executor(const struct runs *rs,
				       const struct automation *a)
{
	return resolve_executor_name(a && a->executor ? a->executor :
						       rs->cfg->server.executor);
}

static struct executor *find_backend(struct runs *rs, const char *name)
{
	for (size_t i = 0; i < rs->n_backends; i++)
		if (!strcmp(rs->backends[i].name, name))
			return rs->backends[i].ex;
	return NULL;
}

char *runs_log_path(const struct runs *rs, const char *id)
{
	return xasprintf("%s/logs/%s.log", rs->cfg->server.data_dir, id);
}

static char *work_path(const struct runs *rs, const char *id)
{
	return xasprintf("%s/work/%s", rs->cfg->server.data_dir, id);
}

void runs_add_listener(struct runs *rs, runs_listener_fn fn, void *ctx)
{
	assert(rs->n_listeners <
	       (int)(sizeof(rs->listeners) / sizeof(rs->listeners[0])));
	rs->listeners[rs->n_listeners].fn = fn;
	rs->listeners[rs->n_listeners].ctx = ctx;
	rs->n_listeners++;
}

/* Tell listeners about the run's current record (re-read from the store so
 * they see exactly what was written). */
static void notify(struct runs *rs, const char *id)
{
	struct run r;
	struct rc_err err;

	if (rs->n_listeners == 0)
		return;
	memset(&r, 0, sizeof(r));
	if (store_run_get(rs->st, id, &r, &err) != 0)
		return;
	for (int i = 0; i < rs->n_listeners; i++)
		rs->listeners[i].fn(rs->listeners[i].ctx, &r);
	store_run_clear(&r);
}

/* Remove id from the active list (mu held).  Returns the slot or NULL. */
static struct slot *active_take(struct runs *rs, const char *id)
{
	for (struct slot **p = &rs->active; *p; p = &(*p)->next) {
		if (strcmp((*p)->id, id) == 0) {
			struct slot *s = *p;

			*p = s->next;
			s->next = NULL;
			rs->n_active--;
			return s;
		}
	}
	return NULL;
}

static struct slot *active_find(struct runs *rs, const char *id)
{
	for (struct slot *s = rs->active; s; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
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
	} else {
		upd.finished_at = ev->at ? ev->at : time_now_ms();
		upd.has_exit_code = ev->has_exit_code;
		upd.exit_code = ev->exit_code;
		upd.reason = (char *)ev->reason;
		upd.has_usage = ev->has_usage;
		upd.cpu_usec = ev->cpu_usec;
		upd.peak_memory = ev->peak_memory;
		r = store_run_transition(rs->st, ev->run_id, RUN_MASK_ACTIVE,
					 ev->state, &upd, &err);
		pthread_mutex_lock(&rs->mu);
		slot_free(active_take(rs, ev->run_id));
		pthread_cond_broadcast(&rs->cond);
		pthread_mutex_unlock(&rs->mu);
	}
	if (r < 0)
		fprintf(stderr, "runcell: run %s: recording %s failed: %s\n",
			ev->run_id, run_state_name(ev->state), err.msg);
	if (r == 0)
		notify(rs, ev->run_id);
}

static int open_backend(struct runs *rs, const char *name,
			struct rc_err *err)
{
	struct executor *ex;

	if (find_backend(rs, name))
		return 0;
	if (exec_open(name, rs->cfg, on_event, rs, &ex, err) < 0)
		return -1;
	rs->backends = xrealloc(rs->backends, (rs->n_backends + 1) *
						      sizeof(*rs->backends));
	rs->backends[rs->n_backends].name = xstrdup(name);
	rs->backends[rs->n_backends].ex = ex;
	rs->n_backends++;
	return 0;
}

static void queue_push(struct runs *rs, struct slot *s)
{
	s->next = NULL;
	if (rs->queue_tail)
		rs->queue_tail->next = s;
	else
		rs->queue_head = s;
	rs->queue_tail = s;
	rs->n_queued++;
}

static struct slot *queue_remove(struct runs *rs, const char *id)
{
	struct slot *prev = NULL;

	for (struct slot *s = rs->queue_head; s; prev = s, s = s->next) {
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

/* Mark a run lost (or failed) without an executor event. */
static void finish_now(struct runs *rs, const char *id, enum run_state st,
		       const char *reason)
{
	struct run upd;
	struct rc_err err;

	memset(&upd, 0, sizeof(upd));
	upd.finished_at = time_now_ms();
	upd.reason = (char *)reason;
	if (store_run_transition(rs->st, id, RUN_MASK_ACTIVE, st, &upd,
				 &err) == 0)
		notify(rs, id);
}

/* Re-adopt every run the store says is active. */
static int recover(struct runs *rs, struct rc_err *err)
{
	struct run_filter f = { .state = -1, .active_only = true,
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
		struct slot *s;
		struct executor *ex;
		struct rc_err aerr;
		char *log;
		int a;

		if (r->state == RUN_QUEUED) {
			queue_push(rs, slot_new(r));
			continue;
		}
		ex = find_backend(rs, r->executor);
		if (!ex && open_backend(rs, r->executor, &aerr) < 0) {
			char *why = xasprintf("executor %s is not available "
					      "after restart: %s",
					      r->executor, aerr.msg);
			finish_now(rs, r->id, RUN_LOST, why);
			free(why);
			continue;
		}
		ex = find_backend(rs, r->executor);
		s = slot_new(r);
		s->ex = ex;
		s->started = true;
		s->next = rs->active;
		rs->active = s;
		rs->n_active++;
		log = runs_log_path(rs, r->id);
		a = ex->ops->attach(ex, r->id, r->handle, log, &aerr);
		free(log);
		if (a == 1) {
			/* Never started: put it back in the queue. */
			active_take(rs, r->id);
			slot_free(s);
			if (store_run_transition(rs->st, r->id,
						 RUN_MASK(RUN_STARTING),
						 RUN_QUEUED, NULL, &aerr) == 0)
				queue_push(rs, slot_new(r));
		} else if (a < 0) {
			char *why = xasprintf("cannot re-attach after "
					      "restart: %s", aerr.msg);

			pthread_mutex_lock(&rs->mu);
			slot_free(active_take(rs, r->id));
			pthread_mutex_unlock(&rs->mu);
			finish_now(rs, r->id, RUN_LOST, why);
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

	rs->cfg = cfg;
	rs->st = st;
	pthread_mutex_init(&rs->mu, NULL);
	pthread_cond_init(&rs->cond, NULL);
	for (size_t i = 0; i < 2; i++) {
		char *dir = xasprintf("%s/%s", cfg->server.data_dir,
				      subdirs[i]);
		int r = mkdir_p(dir, 0700, err);

		free(dir);
		if (r < 0)
			goto fail;
	}
	if (open_backend(rs, resolve_executor_name(cfg->server.executor),
			 err) < 0)
		goto fail;
	for (size_t i = 0; i < cfg->n_autos; i++)
		if (open_backend(rs, automation_executor(rs, &cfg->autos[i]),
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

/* Whether one more run may start now (mu held).  Issue-5 limits (per
 * automation, per user) slot in here. */
static bool may_start(struct runs *rs, const struct slot *s)
{
	int64_t max = rs->cfg->server.max_concurrent_runs;

	(void)s;
	return max <= 0 || rs->n_active < max;
}

static char **build_env(const struct runs *rs, const struct automation *a,
			const struct run *r, const char *home)
{
	size_t n_extra = a ? strv_len(a->env) : 0;
	char **env = xcalloc(7 + n_extra, sizeof(char *));
	size_t i = 0;

	env[i++] = xstrdup("PATH=" RUN_PATH_ENV);
	env[i++] = xasprintf("HOME=%s", home);
	env[i++] = xstrdup("LANG=C.UTF-8");
	env[i++] = xasprintf("RUNCELL_RUN_ID=%s", r->id);
	env[i++] = xasprintf("RUNCELL_AUTOMATION_ID=%s", r->automation);
	env[i++] = xasprintf("RUNCELL_USER=%s", r->user);
	for (size_t k = 0; k < n_extra; k++)
		env[i++] = xstrdup(a->env[k]);
	(void)rs;
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

/* Start one run taken off the queue (mu not held). */
static void start_one(struct runs *rs, struct slot *s)
{
	struct run r;
	struct rc_err err;
	struct exec_spec spec;
	const struct automation *a;
	char **argv = NULL, **env = NULL;
	char *log = NULL, *work = NULL, *handle = NULL;
	bool stop_now;

	memset(&r, 0, sizeof(r));
	if (store_run_transition(rs->st, s->id, RUN_MASK(RUN_QUEUED),
				 RUN_STARTING, NULL, &err) != 0)
		goto drop; /* cancelled meanwhile, or store error */
	notify(rs, s->id);
	if (store_run_get(rs->st, s->id, &r, &err) != 0)
		goto drop;
	a = config_automation(rs->cfg, r.automation);
	if (!a) {
		finish_now(rs, r.id, RUN_FAILED,
			   "automation no longer exists in the configuration");
		goto drop;
	}
	s->ex = find_backend(rs, r.executor);
	if (!s->ex) {
		finish_now(rs, r.id, RUN_FAILED, "executor not available");
		goto drop;
	}
	argv = argv_from_json(r.argv);
	work = work_path(rs, r.id);
	log = runs_log_path(rs, r.id);
	if (!argv || !argv[0] || mkdir_p(work, 0755, &err) < 0) {
		finish_now(rs, r.id, RUN_FAILED, "cannot prepare the run");
		goto drop;
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
	spec.log_max_bytes = rs->cfg->server.log_max_bytes;
	spec.stop_grace_ms = rs->cfg->server.stop_grace_ms;
	spec.work_dir = work;

	/* The slot is active from here: events may arrive before start()
	 * even returns. */
	pthread_mutex_lock(&rs->mu);
	s->next = rs->active;
	rs->active = s;
	rs->n_active++;
	pthread_mutex_unlock(&rs->mu);

	if (s->ex->ops->start(s->ex, &spec, &handle, &err) < 0) {
		char *why = xasprintf("cannot start: %s", err.msg);

		pthread_mutex_lock(&rs->mu);
		s = active_take(rs, r.id);
		pthread_cond_broadcast(&rs->cond);
		pthread_mutex_unlock(&rs->mu);
		finish_now(rs, r.id, RUN_FAILED, why);
		free(why);
		goto drop;
	}
	if (store_run_set_handle(rs->st, r.id, handle, &err) < 0)
		fprintf(stderr, "runcell: run %s: storing handle: %s\n", r.id,
			err.msg);
	pthread_mutex_lock(&rs->mu);
	stop_now = false;
	s = active_find(rs, r.id); /* may be gone if it already ended */
	if (s) {
		free(s->handle);
		s->handle = xstrdup(handle);
		s->started = true;
		stop_now = s->stop_pending;
	}
	pthread_mutex_unlock(&rs->mu);
	s = NULL;
	if (stop_now)
		find_backend(rs, r.executor)
			->ops->stop(find_backend(rs, r.executor), r.id, handle,
				    &err);
drop:
	slot_free(s);
	strv_free(argv);
	strv_free(env);
	free(log);
	free(work);
	free(handle);
	store_run_clear(&r);
}

static void *scheduler_main(void *arg)
{
	struct runs *rs = arg;

	pthread_mutex_lock(&rs->mu);
	while (!rs->stopping) {
		struct slot *s = rs->queue_head;

		if (!s || !may_start(rs, s)) {
			pthread_cond_wait(&rs->cond, &rs->mu);
			continue;
		}
		queue_remove(rs, s->id);
		pthread_mutex_unlock(&rs->mu);
		start_one(rs, s);
		pthread_mutex_lock(&rs->mu);
	}
	pthread_mutex_unlock(&rs->mu);
	return NULL;
}

int runs_start(struct runs *rs, struct rc_err *err)
{
	int e = pthread_create(&rs->thread, NULL, scheduler_main, rs);

	if (e)
		return rc_err_set(err, e, "cannot start the scheduler: %s",
				  strerror(e));
	rs->thread_started = true;
	return 0;
}

void runs_close(struct runs *rs)
{
	if (!rs)
		return;
	pthread_mutex_lock(&rs->mu);
	rs->stopping = true;
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->mu);
	if (rs->thread_started)
		pthread_join(rs->thread, NULL);
	for (size_t i = 0; i < rs->n_backends; i++) {
		exec_close(rs->backends[i].ex);
		free(rs->backends[i].name);
	}
	free(rs->backends);
	while (rs->queue_head) {
		struct slot *s = rs->queue_head;

		rs->queue_head = s->next;
		slot_free(s);
	}
	while (rs->active) {
		struct slot *s = rs->active;

		rs->active = s->next;
		slot_free(s);
	}
	pthread_cond_destroy(&rs->cond);
	pthread_mutex_destroy(&rs->mu);
	free(rs);
}

int runs_submit(struct runs *rs, const char *automation_id, json_t *params,
		const char *user, const char *role, struct run *out,
		struct rc_err *err)
{
	const struct automation *a = config_automation(rs->cfg, automation_id);
	json_t *norm = NULL, *argv_json;
	char **argv = NULL;
	struct run r;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	if (!a)
		return rc_err_set(err, ENOENT,
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
	argv = catalog_argv(a, norm);
	argv_json = json_array();
	for (char **p = argv; *p; p++)
		json_array_append_new(argv_json, json_string(*p));

	r.id[0] = 'r';
	random_hex(r.id + 1, (RUN_ID_LEN - 1) / 2);
	r.automation = xstrdup(a->id);
	r.user = xstrdup(user);
	r.parameters = json_dumps(norm, JSON_COMPACT);
	r.argv = json_dumps(argv_json, JSON_COMPACT);
	r.executor = xstrdup(automation_executor(rs, a));
	r.state = RUN_QUEUED;
	r.created_at = time_now_ms();
	json_decref(argv_json);
	if (store_run_insert(rs->st, &r, err) < 0) {
		rc_err_wrap(err, "recording the run");
		err->errnum = EIO;
		goto out;
	}
	pthread_mutex_lock(&rs->mu);
	queue_push(rs, slot_new(&r));
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->mu);
	notify(rs, r.id);
	*out = r;
	memset(&r, 0, sizeof(r));
	ret = 0;
out:
	json_decref(norm);
	strv_free(argv);
	store_run_clear(&r);
	return ret;
}

int runs_stop(struct runs *rs, const char *id, const char *actor,
	      struct rc_err *err)
{
	struct run r;
	struct slot *q, *s;
	struct executor *ex = NULL;
	char *handle = NULL;
	int g, ret = -1;

	(void)actor;
	memset(&r, 0, sizeof(r));
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
	q = queue_remove(rs, id);
	s = q ? NULL : active_find(rs, id);
	if (s && s->started && s->handle) {
		ex = s->ex;
		handle = xstrdup(s->handle);
	} else if (s) {
		s->stop_pending = true;
	}
	pthread_mutex_unlock(&rs->mu);

	if (q) {
		slot_free(q);
		finish_now(rs, id, RUN_CANCELLED, "stopped before it started");
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

void runs_counts(struct runs *rs, int *queued, int *active)
{
	pthread_mutex_lock(&rs->mu);
	*queued = rs->n_queued;
	*active = rs->n_active;
	pthread_mutex_unlock(&rs->mu);
}

int runs_wait(struct runs *rs, const char *id, int64_t timeout_ms)
{
	int64_t deadline = time_mono_ms() + timeout_ms;

	for (;;) {
		struct run r;
		struct rc_err err;
		bool done;

		memset(&r, 0, sizeof(r));
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
