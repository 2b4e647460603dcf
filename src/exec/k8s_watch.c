/*
 * k8s_watch.c - the watcher threads of the kubernetes executor.
 *
 * One thread per namespace in use.  It LISTs the namespace's runcell Jobs
 * (label runcell.io/run-id) for a resourceVersion, then WATCHes from it: a
 * chunked stream of newline-delimited JSON events.  An ERROR event (410
 * Gone: the version is too old) or a broken stream means LIST again; a
 * watch the server refuses (403, 405) or that keeps failing while LIST
 * works means polling with LIST every poll_interval.  Each Job seen goes
 * through job_update(): active with a started pod -> RUNNING (once) and a
 * log follower thread; Complete or Failed -> the pod's exit code and
 * reason, a last fetch of the log, the terminal event.  A Job deleted by
 * stop is cancelled, by runcell's timeout timed_out, by anyone else lost.
 *
 * When the API server cannot be reached nothing changes state: the thread
 * retries with backoff and says so once on stderr.
 *
 * The pod log is followed (GET .../log?follow=true) by one small thread
 * per running pod and appended to the run's log file, capped.  A follow
 * stream that restarts (or a restart of runcelld) fetches the log from
 * its start again and skips the bytes already in the local file; the last
 * fetch, without follow, does the same.  The followers are in
 * k8s_logs.c; this file starts and stops them.
 */
#include "k8s_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define K8S_DOWN_BACKOFF_MAX_MS 30000
#define K8S_WATCH_FAILURES_MAX 3 /* then poll */

static const char *str_at(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	return json_string_value(v);
}

static int64_t int_at(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	return json_integer_value(v);
}

/* ---- events -------------------------------------------------------------- */

static void emit(struct kns *n, const struct exec_event *ev)
{
	struct executor *ex = n->k->ex;

	if (ex->on_event)
		ex->on_event(ex->event_ctx, ev);
}

static void report_running(struct kns *n, struct kjob *j)
{
	struct exec_event ev = { 0 };

	if (j->reported_running)
		return;
	j->reported_running = true;
	ev.run_id = j->run_id;
	ev.state = RUN_RUNNING;
	ev.at = time_now_ms();
	emit(n, &ev);
}

/* Report the terminal event of j and stop watching it; j is freed.  ran:
 * the program started (RUNNING is reported first if it was not yet). */
static void finish(struct kns *n, struct kjob *j, enum run_state st, bool ran,
		   bool has_exit, int code, const char *reason)
{
	struct exec_event ev = { 0 };
	struct k8s *k = n->k;

	k8s_log_final(n, j);
	if (ran)
		report_running(n, j);
	pthread_mutex_lock(&k->lock);
	for (struct kjob **pp = &k->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	pthread_mutex_unlock(&k->lock);
	ev.run_id = j->run_id;
	ev.state = st;
	ev.at = time_now_ms();
	ev.has_exit_code = has_exit;
	ev.exit_code = code;
	ev.reason = reason && *reason ? reason : NULL;
	emit(n, &ev);
	k8s_job_free(j);
}

/* ---- pods ---------------------------------------------------------------- */

struct podinfo {
	char name[254];
	bool started; /* running, or ran */
	bool terminated;
	int exit_code;
	char reason[64]; /* terminated.reason */
	char message[200];
	char waiting[96]; /* waiting reason: message */
};

static void pod_read(json_t *pod, struct podinfo *pi)
{
	json_t *cs = json_object_get(json_object_get(pod, "status"),
				     "containerStatuses");
	json_t *c = NULL, *it, *st;
	const char *phase = str_at(pod, "status", "phase");
	size_t i;

	memset(pi, 0, sizeof(*pi));
	snprintf(pi->name, sizeof(pi->name), "%s",
		 str_at(pod, "metadata", "name") ?
			 str_at(pod, "metadata", "name") :
			 "");
	json_array_foreach(cs, i, it) {
		const char *nm = json_string_value(json_object_get(it, "name"));

		if (!c || (nm && !strcmp(nm, K8S_CONTAINER)))
			c = it;
	}
	st = json_object_get(c, "state");
	if (json_object_get(st, "terminated")) {
		json_t *t = json_object_get(st, "terminated");

		pi->started = pi->terminated = true;
		pi->exit_code =
			(int)json_integer_value(json_object_get(t, "exitCode"));
		snprintf(pi->reason, sizeof(pi->reason), "%s",
			 str_at(t, "reason", NULL) ? str_at(t, "reason", NULL) :
						     "");
		snprintf(pi->message, sizeof(pi->message), "%s",
			 str_at(t, "message", NULL) ?
				 str_at(t, "message", NULL) :
				 "");
	} else if (json_object_get(st, "running")) {
		pi->started = true;
	} else if (json_object_get(st, "waiting")) {
		const char *r = str_at(st, "waiting", "reason");
		const char *m = json_string_value(json_object_get(
			json_object_get(st, "waiting"), "message"));

		snprintf(pi->waiting, sizeof(pi->waiting), "%s%s%.60s",
			 r ? r : "waiting", m ? ": " : "", m ? m : "");
	}
	if (phase && (!strcmp(phase, "Running") ||
		      !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")))
		pi->started = true;
}

/* The pod of Job name: 0 and *pi, 1 if there is none, -1 if the API
 * could not be asked.  Pods carry batch.kubernetes.io/job-name since
 * Kubernetes 1.27 and job-name before. */
static int pod_find(struct kns *n, const char *name, struct podinfo *pi)
{
	static const char *const keys[] = { "batch.kubernetes.io/job-name",
					    "job-name" };
	int ret = 1;

	for (size_t k = 0; k < 2 && ret == 1; k++) {
		char *sel = xasprintf("%s=%s", keys[k], name);
		char *esc = k8s_escape(sel);
		char *path = xasprintf("/api/v1/namespaces/%s/pods?"
				       "labelSelector=%s",
				       n->name, esc);
		struct k8s_resp r;
		struct rc_err e;
		json_t *items, *it;
		size_t i;

		if (k8s_request(n->k->client, &n->w, "GET", path, NULL, &r,
				&e) < 0 ||
		    r.status != 200) {
			ret = -1;
		} else {
			items = json_object_get(r.body, "items");
			json_array_foreach(items, i, it) {
				struct podinfo cur;

				pod_read(it, &cur);
				/* Prefer a pod that ran to its end. */
				if (ret == 1 || cur.terminated ||
				    (!pi->terminated && cur.started))
					*pi = cur;
				ret = 0;
			}
		}
		k8s_resp_free(&r);
		free(path);
		free(esc);
		free(sel);
	}
	return ret;
}

/* Whether the pod runs yet; if so, report RUNNING and follow its log. */
static int check_running(struct kns *n, struct kjob *j)
{
	struct podinfo pi;
	int rc;

	j->next_check_mono = time_mono_ms() + n->k->set.poll_ms;
	rc = pod_find(n, j->run_id, &pi);
	if (rc < 0)
		return -1;
	if (rc == 1)
		return 0;
	if (pi.waiting[0])
		snprintf(j->waiting, sizeof(j->waiting), "%s", pi.waiting);
	if (!pi.started)
		return 0;
	if (!j->pod)
		j->pod = xstrdup(pi.name);
	report_running(n, j);
	k8s_follower_start(n, j);
	return 0;
}

/* ---- Job states ---------------------------------------------------------- */

/* Job j is gone from the cluster (deleted, or never there). */
static void job_gone(struct kns *n, struct kjob *j)
{
	bool stop;
	char reason[400];

	pthread_mutex_lock(&n->k->lock);
	stop = j->stop_requested;
	pthread_mutex_unlock(&n->k->lock);
	if (stop) {
		finish(n, j, RUN_CANCELLED, false, false, 0, "stopped");
	} else if (j->timeout_deleted) {
		bool waited = j->waiting[0] && !j->reported_running;

		snprintf(reason, sizeof(reason),
			 "timeout of %lld ms exceeded; Job deleted%s%s%s",
			 (long long)j->timeout_ms,
			 waited ? " (the pod never started: " : "",
			 waited ? j->waiting : "", waited ? ")" : "");
		finish(n, j, RUN_TIMED_OUT, false, false, 0, reason);
	} else {
		snprintf(reason, sizeof(reason),
			 "Job %s/%s no longer exists in the cluster (deleted "
			 "outside runcell, or removed by "
			 "ttlSecondsAfterFinished before runcell saw it end)",
			 n->name, j->run_id);
		finish(n, j, RUN_LOST, false, false, 0, reason);
	}
}

/* The condition of type Complete or Failed that is True, or NULL. */
static json_t *final_condition(json_t *job)
{
	json_t *conds =
		json_object_get(json_object_get(job, "status"), "conditions");
	json_t *c;
	size_t i;

	json_array_foreach(conds, i, c) {
		const char *t = str_at(c, "type", NULL);
		const char *s = str_at(c, "status", NULL);

		if (t && s && !strcmp(s, "True") &&
		    (!strcmp(t, "Complete") || !strcmp(t, "Failed")))
			return c;
	}
	return NULL;
}

/* The annotations runcell wrote at creation (for a run re-adopted after a
 * restart): log base and cap, timeout, creation time. */
static void job_first_sight(struct kjob *j, json_t *job)
{
	json_t *ann = json_object_get(json_object_get(job, "metadata"),
				      "annotations");
	const char *v;
	int64_t x;

	j->synced = true;
	if (j->limits_known)
		ann = NULL;
	if ((v = str_at(ann, K8S_ANN_LOG_BASE, NULL)) &&
	    parse_int64(v, 0, INT64_MAX, &x) == 0)
		j->log_base = x;
	if ((v = str_at(ann, K8S_ANN_LOG_MAX, NULL)) &&
	    parse_int64(v, 0, INT64_MAX, &x) == 0)
		j->log_max = x;
	if ((v = str_at(ann, K8S_ANN_TIMEOUT, NULL)) &&
	    parse_int64(v, 0, INT64_MAX, &x) == 0)
		j->timeout_ms = x;
	x = k8s_parse_time(str_at(job, "metadata", "creationTimestamp"));
	if (x > 0 && (!j->start_ms || x < j->start_ms))
		j->start_ms = x;
	if (!j->start_ms)
		j->start_ms = time_now_ms();
	j->received = j->log_len > j->log_base ? j->log_len - j->log_base : 0;
	if (j->log_max > 0 && j->log_len >= j->log_max)
		j->truncated = true;
}

static void job_failed(struct kns *n, struct kjob *j, json_t *cond,
		       const struct podinfo *pi, bool have_pod)
{
	const char *cr = str_at(cond, "reason", NULL);
	const char *cm = str_at(cond, "message", NULL);
	char reason[400];

	if (cr && !strcmp(cr, "DeadlineExceeded")) {
		snprintf(reason, sizeof(reason),
			 "Kubernetes activeDeadlineSeconds reached "
			 "(DeadlineExceeded)%s%.200s",
			 cm ? ": " : "", cm ? cm : "");
		finish(n, j, RUN_TIMED_OUT, j->reported_running, false, 0,
		       reason);
		return;
	}
	if (have_pod && pi->terminated) {
		if (!strcmp(pi->reason, "OOMKilled"))
			snprintf(reason, sizeof(reason),
				 "memory limit exceeded");
		else if (!pi->reason[0] || !strcmp(pi->reason, "Error") ||
			 !strcmp(pi->reason, "Completed"))
			reason[0] = '\0';
		else
			snprintf(reason, sizeof(reason), "Kubernetes: %s%s%s",
				 pi->reason, pi->message[0] ? ": " : "",
				 pi->message);
		finish(n, j, RUN_FAILED, true, true, pi->exit_code, reason);
		return;
	}
	snprintf(reason, sizeof(reason), "Kubernetes: Job failed (%s)%s%.200s",
		 cr ? cr : "no reason given", cm ? ": " : "", cm ? cm : "");
	finish(n, j, RUN_FAILED, j->reported_running, false, 0, reason);
}

/*
 * Act on a fresh copy of Job j's object.  Returns 1 when j finished (and
 * is freed), 0 otherwise, -1 when the API failed on the way (j is kept
 * and looked at again).
 */
static int job_update(struct kns *n, struct kjob *j, json_t *job)
{
	json_t *cond, *status = json_object_get(job, "status");
	struct podinfo pi;
	int rc;

	pthread_mutex_lock(&n->k->lock);
	j->need_sync = false;
	pthread_mutex_unlock(&n->k->lock);
	if (!j->synced)
		job_first_sight(j, job);
	cond = final_condition(job);
	if (cond) {
		bool complete = !strcmp(str_at(cond, "type", NULL), "Complete");

		rc = pod_find(n, j->run_id, &pi);
		if (rc < 0)
			goto retry;
		if (rc == 0 && !j->pod)
			j->pod = xstrdup(pi.name);
		if (complete)
			/* Complete with backoffLimit 0: the one pod exited
			 * 0, even if it is gone by now. */
			finish(n, j, RUN_SUCCEEDED, true, true,
			       rc == 0 && pi.terminated ? pi.exit_code : 0,
			       NULL);
		else
			job_failed(n, j, cond, &pi, rc == 0);
		return 1;
	}
	if (str_at(job, "metadata", "deletionTimestamp")) {
		bool stop;

		pthread_mutex_lock(&n->k->lock);
		stop = j->stop_requested;
		pthread_mutex_unlock(&n->k->lock);
		if (stop || j->timeout_deleted) {
			job_gone(n, j);
			return 1;
		}
	}
	if (int_at(status, "active", NULL) > 0 ||
	    int_at(status, "ready", NULL) > 0)
		j->seen_active = true;
	if (!j->reported_running && j->seen_active && check_running(n, j) < 0)
		goto retry;
	if (j->reported_running)
		k8s_follower_start(n, j);
	return 0;
retry:
	pthread_mutex_lock(&n->k->lock);
	j->need_sync = true;
	pthread_mutex_unlock(&n->k->lock);
	return -1;
}

/* GET Job j.  As job_update. */
static int job_sync(struct kns *n, struct kjob *j)
{
	char *path = xasprintf("/apis/batch/v1/namespaces/%s/jobs/%s", n->name,
			       j->run_id);
	struct k8s_resp r;
	struct rc_err e;
	int ret = -1;

	if (k8s_request(n->k->client, &n->w, "GET", path, NULL, &r, &e) < 0) {
		if (!n->down && e.errnum != ECANCELED)
			fprintf(stderr,
				"runcell: kubernetes: %s; run states kept, "
				"retrying\n",
				e.msg);
		n->down = e.errnum != ECANCELED;
	} else if (r.status == 404) {
		job_gone(n, j);
		ret = 1;
	} else if (r.status == 200) {
		ret = job_update(n, j, r.body);
	} else {
		fprintf(stderr,
			"runcell: kubernetes: GET %s: HTTP %ld: %.200s; "
			"retrying\n",
			path, r.status, k8s_resp_message(&r));
	}
	if (ret < 0) {
		pthread_mutex_lock(&n->k->lock);
		j->need_sync = true;
		pthread_mutex_unlock(&n->k->lock);
	}
	k8s_resp_free(&r);
	free(path);
	return ret;
}

/* ---- the namespace's round ----------------------------------------------- */

/* The jobs of n, as an array (*len).  Safe to use until this thread
 * frees them. */
static struct kjob **ns_jobs(struct kns *n, size_t *len)
{
	struct kjob **v, *j;
	size_t c = 0;

	pthread_mutex_lock(&n->k->lock);
	for (j = n->k->jobs; j; j = j->next)
		c += j->ns == n;
	v = xcalloc(c + 1, sizeof(*v));
	c = 0;
	for (j = n->k->jobs; j; j = j->next)
		if (j->ns == n)
			v[c++] = j;
	pthread_mutex_unlock(&n->k->lock);
	*len = c;
	return v;
}

static struct kjob *ns_job(struct kns *n, const char *name)
{
	struct kjob *j;

	if (!name)
		return NULL;
	pthread_mutex_lock(&n->k->lock);
	for (j = n->k->jobs; j; j = j->next)
		if (j->ns == n && !strcmp(j->run_id, name))
			break;
	pthread_mutex_unlock(&n->k->lock);
	return j;
}

/* Enforce runcell's own timeout on j (after Kubernetes' own deadline
 * and the grace).  Returns -1 when the API could not be reached. */
static int check_timeout(struct kns *n, struct kjob *j)
{
	struct rc_err e;

	if (j->timeout_ms <= 0 || j->timeout_deleted || !j->start_ms ||
	    time_now_ms() < j->start_ms + j->timeout_ms + n->k->set.grace_ms)
		return 0;
	if (k8s_job_delete(n->k, &n->w, n->name, j->run_id, &e) < 0) {
		fprintf(stderr, "runcell: kubernetes: run %s timed out: %s\n",
			j->run_id, e.msg);
		return -1;
	}
	j->timeout_deleted = true;
	pthread_mutex_lock(&n->k->lock);
	j->need_sync = true; /* a poll sees it gone by a GET */
	pthread_mutex_unlock(&n->k->lock);
	return 0;
}

/* Everything due for the jobs of n.  Returns how many jobs remain, or -1
 * when the API could not be reached. */
static int tick(struct kns *n)
{
	size_t len, i, left = 0;
	struct kjob **v = ns_jobs(n, &len);
	bool trouble = false;

	for (i = 0; i < len && !k8s_ns_quitting(n); i++) {
		struct kjob *j = v[i];
		bool sync;
		int rc = 0;

		if (trouble) {
			/* The API server is failing: try the rest later
			 * rather than wait for each one's retries. */
			left++;
			continue;
		}
		pthread_mutex_lock(&n->k->lock);
		sync = j->need_sync;
		pthread_mutex_unlock(&n->k->lock);
		if (sync || !j->synced) {
			rc = job_sync(n, j);
			if (rc == 1)
				continue;
			if (rc < 0) {
				trouble = true;
				left++;
				continue;
			}
		}
		if (!j->reported_running && j->seen_active &&
		    time_mono_ms() >= j->next_check_mono &&
		    check_running(n, j) < 0)
			trouble = true;
		if (j->reported_running)
			k8s_follower_start(n, j);
		if (check_timeout(n, j) < 0)
			trouble = true;
		left++;
	}
	free(v);
	return trouble ? -1 : (int)left;
}

/* When the watch should end so that tick() runs: the next pod re-check,
 * follower restart or timeout (monotonic ms). */
static int64_t next_deadline(struct kns *n)
{
	size_t len;
	struct kjob **v = ns_jobs(n, &len);
	int64_t now = time_mono_ms(), wall = time_now_ms();
	int64_t d = now + n->k->set.watch_s * 1000;

	for (size_t i = 0; i < len; i++) {
		struct kjob *j = v[i];

		if (!j->reported_running && j->seen_active &&
		    j->next_check_mono < d)
			d = j->next_check_mono;
		if (j->reported_running && !j->follower && !j->log_complete &&
		    !j->truncated && j->follow_next_mono < d)
			d = j->follow_next_mono;
		if (j->timeout_ms > 0 && !j->timeout_deleted && j->start_ms) {
			int64_t t = now + (j->start_ms + j->timeout_ms +
					   n->k->set.grace_ms - wall);

			if (t < d)
				d = t;
		}
	}
	free(v);
	return d > now + 20 ? d : now + 20;
}

static void api_ok(struct kns *n)
{
	if (n->down)
		fprintf(stderr,
			"runcell: kubernetes: namespace %s: the API server "
			"answers again\n",
			n->name);
	n->down = false;
	n->backoff_ms = n->k->set.poll_ms;
}

static void api_trouble(struct kns *n, const char *msg)
{
	if (!n->down && !k8s_ns_quitting(n))
		fprintf(stderr,
			"runcell: kubernetes: namespace %s: %s; run states "
			"kept, retrying\n",
			n->name, msg);
	n->down = true;
}

static void backoff_wait(struct kns *n)
{
	k8s_waker_sleep(&n->w, n->backoff_ms);
	n->backoff_ms = n->backoff_ms * 2 > K8S_DOWN_BACKOFF_MAX_MS ?
				K8S_DOWN_BACKOFF_MAX_MS :
				n->backoff_ms * 2;
}

static char *jobs_query(struct kns *n)
{
	return xasprintf("/apis/batch/v1/namespaces/%s/jobs?labelSelector=%s",
			 n->name, "runcell.io%2Frun-id");
}

/* LIST the namespace's runcell Jobs: update every watched one, keep the
 * resourceVersion.  -1 when the API could not answer. */
static int list(struct kns *n)
{
	char *path = jobs_query(n);
	struct k8s_resp r;
	struct rc_err e;
	size_t len, i;
	struct kjob **v;
	json_t *items, *it;
	const char *rv;
	int ret = -1;

	if (k8s_request(n->k->client, &n->w, "GET", path, NULL, &r, &e) < 0) {
		api_trouble(n, e.msg);
		goto out;
	}
	if (r.status != 200 || !json_is_object(r.body)) {
		char *m = xasprintf("listing Jobs: HTTP %ld: %.200s%s",
				    r.status, k8s_resp_message(&r),
				    r.status == 403 ?
					    " (the service account needs "
					    "list on jobs)" :
					    "");

		api_trouble(n, m);
		free(m);
		goto out;
	}
	api_ok(n);
	free(n->rv);
	rv = str_at(r.body, "metadata", "resourceVersion");
	n->rv = rv && *rv ? xstrdup(rv) : NULL;
	items = json_object_get(r.body, "items");
	/* Watched Jobs missing from the list are looked at one by one. */
	v = ns_jobs(n, &len);
	for (i = 0; i < len; i++) {
		bool found = false;
		size_t x;

		json_array_foreach(items, x, it) {
			const char *nm = str_at(it, "metadata", "name");

			found = found || (nm && !strcmp(v[i]->run_id, nm));
		}
		if (!found) {
			pthread_mutex_lock(&n->k->lock);
			v[i]->need_sync = true;
			pthread_mutex_unlock(&n->k->lock);
		}
	}
	free(v);
	json_array_foreach(items, i, it) {
		struct kjob *j = ns_job(n, str_at(it, "metadata", "name"));

		if (j)
			job_update(n, j, it);
	}
	ret = 0;
out:
	k8s_resp_free(&r);
	free(path);
	return ret;
}

static const char *label_or_empty(json_t *obj)
{
	json_t *labels =
		json_object_get(json_object_get(obj, "metadata"), "labels");
	const char *v =
		json_string_value(json_object_get(labels, K8S_LABEL_RUN));

	return v ? v : "";
}

/* One watch event (a line of the stream). */
static void watch_event(struct kns *n, const char *text, size_t len)
{
	json_error_t je;
	json_t *ev = json_loadb(text, len, 0, &je), *obj;
	const char *type, *rv, *name;
	struct kjob *j;

	if (!ev) {
		n->relist = true;
		goto out;
	}
	type = str_at(ev, "type", NULL);
	obj = json_object_get(ev, "object");
	if (!type || !json_is_object(obj))
		goto out;
	if (!strcmp(type, "ERROR")) {
		int64_t code = int_at(obj, "code", NULL);

		if (code != 410)
			fprintf(stderr,
				"runcell: kubernetes: namespace %s: watch "
				"error %lld: %.200s; listing again\n",
				n->name, (long long)code,
				str_at(obj, "message", NULL) ?
					str_at(obj, "message", NULL) :
					"");
		n->relist = true;
		goto out;
	}
	rv = str_at(obj, "metadata", "resourceVersion");
	if (rv && *rv) {
		free(n->rv);
		n->rv = xstrdup(rv);
	}
	if (!strcmp(type, "BOOKMARK"))
		goto out;
	name = str_at(obj, "metadata", "name");
	j = ns_job(n, name);
	if (!j || strcmp(label_or_empty(obj), j->run_id) != 0)
		goto out;
	if (!strcmp(type, "DELETED"))
		job_gone(n, j);
	else
		job_update(n, j, obj);
out:
	json_decref(ev);
}

static int watch_data(void *ctx, const char *data, size_t len)
{
	struct kns *n = ctx;
	char *nl;

	if (buf_append(&n->line, data, len) < 0) {
		n->relist = true; /* an event larger than any Job: start over */
		return -1;
	}
	while ((nl = memchr(n->line.data, '\n', n->line.len))) {
		size_t used = (size_t)(nl - n->line.data) + 1;

		if (used > 1)
			watch_event(n, n->line.data, used - 1);
		memmove(n->line.data, nl + 1, n->line.len - used);
		n->line.len -= used;
		n->line.data[n->line.len] = '\0';
		if (n->relist || k8s_ns_quitting(n))
			return -1;
	}
	return 0;
}

/* WATCH from n->rv until the stream ends, the next tick is due or the
 * thread is woken.  0 when done (n->rv cleared when a LIST is needed),
 * -1 when the API could not be reached. */
static int watch(struct kns *n)
{
	char *base = jobs_query(n);
	char *rv = k8s_escape(n->rv);
	char *path = xasprintf("/apis/batch/v1/namespaces/%s/jobs?watch=1&"
			       "resourceVersion=%s&labelSelector=%s&"
			       "allowWatchBookmarks=true&timeoutSeconds=%lld",
			       n->name, rv, "runcell.io%2Frun-id",
			       (long long)n->k->set.watch_s);
	struct k8s_resp r;
	struct rc_err e;
	int rc, ret = 0;

	n->line.len = 0;
	n->relist = false;
	rc = k8s_stream(n->k->client, &n->w, path,
			(n->k->set.watch_s + 30) * 1000, next_deadline(n),
			watch_data, n, &r, &e);
	if (rc < 0) {
		if (++n->watch_failures >= K8S_WATCH_FAILURES_MAX) {
			fprintf(stderr,
				"runcell: kubernetes: namespace %s: watching "
				"keeps failing (%s); polling every %lld ms "
				"instead\n",
				n->name, e.msg, (long long)n->k->set.poll_ms);
			n->poll_mode = true;
		}
		n->relist = true;
		ret = 0;
	} else if (rc == 0 && r.status != 200) {
		if (r.status == 410) {
			n->relist = true;
		} else if (r.status == 429 || r.status >= 500) {
			char *m = xasprintf("watch: HTTP %ld: %.200s", r.status,
					    k8s_resp_message(&r));

			api_trouble(n, m);
			free(m);
			ret = -1;
		} else {
			fprintf(stderr,
				"runcell: kubernetes: namespace %s: watch "
				"refused (HTTP %ld: %.200s); polling every "
				"%lld ms instead\n",
				n->name, r.status, k8s_resp_message(&r),
				(long long)n->k->set.poll_ms);
			n->poll_mode = true;
		}
	} else {
		n->watch_failures = 0;
	}
	if (n->relist) {
		free(n->rv);
		n->rv = NULL;
	}
	k8s_resp_free(&r);
	free(path);
	free(rv);
	free(base);
	return ret;
}

static void *ns_main(void *arg)
{
	struct kns *n = arg;
	size_t len;
	struct kjob **v;

	while (!k8s_ns_quitting(n)) {
		int left;

		k8s_waker_take(&n->w);
		left = tick(n);
		if (k8s_ns_quitting(n))
			break;
		if (left < 0) {
			backoff_wait(n);
			continue;
		}
		if (left == 0) {
			free(n->rv);
			n->rv = NULL;
			k8s_waker_sleep(&n->w, 60000);
			continue;
		}
		if (!n->rv || n->poll_mode) {
			if (list(n) < 0) {
				backoff_wait(n);
				continue;
			}
			if (n->poll_mode) {
				k8s_waker_sleep(&n->w, n->k->set.poll_ms);
				continue;
			}
			if (!n->rv)
				continue;
		}
		if (watch(n) < 0)
			backoff_wait(n);
	}
	/* Closing: the Jobs keep running; stop following their logs. */
	v = ns_jobs(n, &len);
	for (size_t i = 0; i < len; i++)
		k8s_follower_stop(n, v[i]);
	free(v);
	return NULL;
}

int k8s_ns_start(struct kns *n, struct rc_err *err)
{
	int rc = pthread_create(&n->thread, NULL, ns_main, n);

	if (rc != 0)
		return rc_err_set(err, rc,
				  "cannot start the kubernetes watcher for "
				  "namespace %s: %s",
				  n->name, strerror(rc));
	n->started = true;
	return 0;
}

void k8s_ns_stop(struct kns *n)
{
	k8s_waker_quit(&n->w);
	if (n->started)
		pthread_join(n->thread, NULL);
	n->started = false;
}
