/*
 * notify.c - webhook notifications about finished runs (see notify.h).
 *
 * The run listener builds the message and queues a job; it touches no
 * file, socket or database, so runs are never slowed down.  The notifier
 * thread takes the job that is due first, records it in the store the
 * first time (the (run, URL) pair is unique there, which also drops a
 * duplicate event), makes one attempt, writes the outcome, and queues the
 * job again with a later due time when it should be retried.
 */
#include "notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "jsontime.h"
#include "log.h"

#define QUEUE_MAX 256
#define BACKOFF_BASE_MS 1000
#define BACKOFF_MAX_MS (5 * 60 * 1000)
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_ATTEMPTS 5

struct job {
	int64_t id; /* store row, 0 until recorded */
	char run_id[RUN_ID_LEN + 1];
	char *url;
	json_t *msg;  /* the message without its "url" */
	int attempts; /* made so far */
	int max_attempts;
	int64_t timeout_ms;
	int64_t due_ms; /* monotonic */
};

struct notifier {
	struct store *st;
	struct runs *rs;
	char *base_url;

	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct job *queue[QUEUE_MAX]; /* in arrival order */
	int n_queued;
	bool started, stopping;
	pthread_t thread;
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->url);
	json_decref(j->msg);
	free(j);
}

static json_t *message_new(const struct run *r)
{
	return json_pack(
		"{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:o}", "event",
		"run.finished", "run_id", r->id, "automation", r->automation,
		"state", run_state_name(r->state), "exit_code",
		r->has_exit_code ? json_integer(r->exit_code) : json_null(),
		"reason", r->reason ? json_string(r->reason) : json_null(),
		"user", r->user, "started_at", json_time(r->started_at),
		"finished_at", json_time(r->finished_at));
}

/* Queue j (mu held), dropping the oldest job when the queue is full. */
static void enqueue(struct notifier *n, struct job *j)
{
	if (n->n_queued == QUEUE_MAX) {
		struct job *old = n->queue[0];

		log_msg(LOG_WARN, old->run_id,
			"notification queue full (%d): "
			"dropping the notification to %s",
			QUEUE_MAX, old->url);
		job_free(old);
		memmove(&n->queue[0], &n->queue[1],
			(QUEUE_MAX - 1) * sizeof(n->queue[0]));
		n->n_queued--;
	}
	n->queue[n->n_queued++] = j;
	pthread_cond_broadcast(&n->cond);
}

/* The notify settings for automation id under the current config. */
static const struct notify_def *notify_for(struct notifier *n,
					   const char *automation)
{
	const struct config *cfg = runs_config(n->rs);
	const struct automation *a = config_automation(cfg, automation);

	if (a && a->notify)
		return a->notify;
	return cfg->server.notify;
}

static struct job *job_new(const struct run *r, const char *url,
			   const struct notify_def *nd)
{
	struct job *j = xcalloc(1, sizeof(*j));

	memcpy(j->run_id, r->id, sizeof(j->run_id));
	j->url = xstrdup(url);
	j->msg = message_new(r);
	j->max_attempts = nd ? (int)nd->attempts : DEFAULT_ATTEMPTS;
	j->timeout_ms = nd ? nd->timeout_ms : DEFAULT_TIMEOUT_MS;
	j->due_ms = time_mono_ms();
	return j;
}

/* Run listener: called after every state change, from runs' threads. */
static void on_run(void *ctx, const struct run *r)
{
	struct notifier *n = ctx;
	const struct notify_def *nd;

	if (!run_state_terminal(r->state))
		return;
	nd = notify_for(n, r->automation);
	if (!nd || !(nd->on_mask & (1u << r->state)))
		return;
	pthread_mutex_lock(&n->mu);
	if (!n->stopping)
		enqueue(n, job_new(r, nd->url, nd));
	pthread_mutex_unlock(&n->mu);
}

static size_t discard(char *p, size_t size, size_t nmemb, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * nmemb;
}

/* One POST of body to url.  0 on a 2xx answer, else -1 with *why. */
static int post(const char *url, const char *body, int64_t timeout_ms,
		char *why, size_t why_len)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	int ret = -1;

	if (!c) {
		snprintf(why, why_len, "cannot create a curl handle");
		return -1;
	}
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "User-Agent: runcell-notify/1");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		snprintf(why, why_len, "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		snprintf(why, why_len, "the receiver answered HTTP %ld",
			 status);
		goto out;
	}
	ret = 0;
out:
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return ret;
}

/* Exponential backoff with +-20% jitter before attempt number next. */
static int64_t backoff_ms(int done)
{
	int64_t d = BACKOFF_BASE_MS;

	for (int i = 1; i < done && d < BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	return d * 8 / 10 +
	       (int64_t)randombytes_uniform((uint32_t)(d * 4 / 10 + 1));
}

/* One attempt at job j (no lock held).  Returns true when j should be
 * queued again. */
static bool attempt(struct notifier *n, struct job *j)
{
	struct notification nt;
	struct rc_err err;
	char why[512] = "", *body, *run_url;
	int r;

	rc_err_clear(&err);
	if (!j->id) {
		r = store_notification_add(n->st, j->run_id, j->url, &j->id,
					   &err);
		if (r == 1)
			return false; /* a duplicate event: already handled */
		if (r < 0)
			log_msg(LOG_ERROR, j->run_id,
				"recording a "
				"notification: %s",
				err.msg);
	}
	run_url = xasprintf("%s/api/v1/runs/%s", n->base_url ? n->base_url : "",
			    j->run_id);
	json_object_set_new(j->msg, "url", json_string(run_url));
	free(run_url);
	body = json_dumps(j->msg, JSON_COMPACT);
	j->attempts++;
	r = post(j->url, body ? body : "{}", j->timeout_ms, why, sizeof(why));
	free(body);
	memset(&nt, 0, sizeof(nt));
	nt.id = j->id;
	nt.attempts = j->attempts;
	if (r == 0) {
		nt.status = "delivered";
		nt.delivered_at = time_now_ms();
		log_msg(LOG_INFO, j->run_id, "notification delivered to %s",
			j->url);
	} else {
		nt.status = j->attempts < j->max_attempts ? "pending" :
							    "failed";
		nt.last_error = why;
		log_msg(LOG_WARN, j->run_id,
			"notification to %s, attempt "
			"%d of %d: %s",
			j->url, j->attempts, j->max_attempts, why);
	}
	if (j->id && store_notification_update(n->st, &nt, &err) < 0)
		log_msg(LOG_ERROR, j->run_id, "recording a notification: %s",
			err.msg);
	if (r == 0 || j->attempts >= j->max_attempts)
		return false;
	j->due_ms = time_mono_ms() + backoff_ms(j->attempts);
	return true;
}

/* Index of the job due first (mu held, queue not empty). */
static int first_due(struct notifier *n)
{
	int best = 0;

	for (int i = 1; i < n->n_queued; i++)
		if (n->queue[i]->due_ms < n->queue[best]->due_ms)
			best = i;
	return best;
}

static void *notify_main(void *arg)
{
	struct notifier *n = arg;

	pthread_mutex_lock(&n->mu);
	while (!n->stopping) {
		struct job *j;
		int i;
		int64_t now = time_mono_ms();

		if (!n->n_queued) {
			pthread_cond_wait(&n->cond, &n->mu);
			continue;
		}
		i = first_due(n);
		j = n->queue[i];
		if (j->due_ms > now) {
			struct timespec ts;
			int64_t wait = j->due_ms - now, at;

			clock_gettime(CLOCK_REALTIME, &ts);
			at = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
			     wait;
			ts.tv_sec = (time_t)(at / 1000);
			ts.tv_nsec = (long)(at % 1000) * 1000000L;
			pthread_cond_timedwait(&n->cond, &n->mu, &ts);
			continue;
		}
		memmove(&n->queue[i], &n->queue[i + 1],
			(size_t)(n->n_queued - i - 1) * sizeof(n->queue[0]));
		n->n_queued--;
		pthread_mutex_unlock(&n->mu);
		if (attempt(n, j)) {
			pthread_mutex_lock(&n->mu);
			enqueue(n, j);
		} else {
			job_free(j);
			pthread_mutex_lock(&n->mu);
		}
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

int notify_open(struct store *st, struct runs *rs, struct notifier **out,
		struct rc_err *err)
{
	struct notifier *n;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return rc_err_set(err, EIO,
				  "notifications: libcurl failed to "
				  "initialize");
	if (sodium_init() < 0)
		return rc_err_set(err, EIO,
				  "notifications: libsodium failed "
				  "to initialize");
	n = xcalloc(1, sizeof(*n));
	n->st = st;
	n->rs = rs;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cond, NULL);
	runs_add_listener(rs, on_run, n);
	*out = n;
	return 0;
}

/* Queue again what an earlier process left pending. */
static void resume_pending(struct notifier *n)
{
	struct notification *nts = NULL;
	size_t count = 0;
	struct rc_err err;

	if (store_notification_list(n->st, NULL, &nts, &count, &err) < 0) {
		log_error("reading pending notifications: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < count; i++) {
		struct run r;
		struct job *j;

		if (store_run_get(n->st, nts[i].run_id, &r, &err) != 0)
			continue;
		j = job_new(&r, nts[i].url, notify_for(n, r.automation));
		j->id = nts[i].id;
		j->attempts = nts[i].attempts;
		if (j->attempts >= j->max_attempts)
			j->max_attempts = j->attempts + 1;
		pthread_mutex_lock(&n->mu);
		enqueue(n, j);
		pthread_mutex_unlock(&n->mu);
		store_run_clear(&r);
	}
	store_notifications_free(nts, count);
}

int notify_start(struct notifier *n, const char *base_url, struct rc_err *err)
{
	int r;

	n->base_url = xstrdup(base_url);
	resume_pending(n);
	r = pthread_create(&n->thread, NULL, notify_main, n);
	if (r != 0)
		return rc_err_set(err, r, "starting the notifier thread: %s",
				  strerror(r));
	n->started = true;
	return 0;
}

void notify_close(struct notifier *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	n->stopping = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->mu);
	if (n->started)
		pthread_join(n->thread, NULL);
	for (int i = 0; i < n->n_queued; i++)
		job_free(n->queue[i]);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->mu);
	free(n->base_url);
	free(n);
}

json_t *notify_list_json(struct store *st, const char *run_id,
			 struct rc_err *err)
{
	struct notification *nts = NULL;
	size_t count = 0;
	json_t *arr;

	if (store_notification_list(st, run_id, &nts, &count, err) < 0)
		return NULL;
	arr = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(
			arr,
			json_pack("{s:I, s:s, s:s, s:i, s:s?, s:o, s:o, s:o}",
				  "id", (json_int_t)nts[i].id, "url",
				  nts[i].url, "status", nts[i].status,
				  "attempts", nts[i].attempts, "last_error",
				  nts[i].last_error, "created_at",
				  json_time(nts[i].created_at), "updated_at",
				  json_time(nts[i].updated_at), "delivered_at",
				  json_time(nts[i].delivered_at)));
	store_notifications_free(nts, count);
	return arr;
}
