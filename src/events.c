/*
 * events.c - fan-out of run state changes and log bytes to followers.
 *
 * One mutex guards everything here; nobody holds it across a system call
 * that may block (reads of log files happen outside it, into the tailer's
 * own buffer).  Followers of one run wait on that run's tail condition,
 * followers of all runs on the events-wide one; the state listener signals
 * both, the tailer only the tail that grew.
 *
 * Tails are reference counted: events_tail_get takes a reference, the
 * tailer takes one while it reads a tail outside the lock, and whoever
 * drops the last one unlinks and frees the tail.
 */
#include "events.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "log.h"

#define READ_CHUNK (64 * 1024)
#define READ_MAX_PER_TICK (4 * 1024 * 1024)

struct state_rec {
	uint64_t seq;
	char run_id[RUN_ID_LEN + 1];
	bool terminal;
	int rank;
	char *json;
};

struct events_tail {
	struct events *ev;
	struct events_tail *next;
	char run_id[RUN_ID_LEN + 1];
	char *path;
	int fd; /* -1 until the log file exists */
	int refs;
	pthread_cond_t cond; /* log grew or this run changed state */
	char *ring;	     /* EVENTS_LOG_RING bytes */
	int64_t end;	     /* file offset just past the ring's data */
};

struct events {
	struct runs *rs;
	const struct secrets *sec;
	pthread_mutex_t mu;
	pthread_cond_t cond; /* any state change, or shutdown */
	pthread_cond_t tailer_cond;
	struct state_rec ring[EVENTS_STATE_RING];
	uint64_t head; /* seq of the newest record */
	struct events_tail *tails;
	bool stopping;
	bool thread_started;
	pthread_t thread;
};

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

static struct events_tail *tail_find(struct events *ev, const char *id)
{
	for (struct events_tail *t = ev->tails; t; t = t->next)
		if (!strcmp(t->run_id, id))
			return t;
	return NULL;
}

/* How far along a state is: listeners may be told of changes out of order
 * (each re-reads the store from its own thread), and a follower must never
 * see a run go back. */
static int state_rank(enum run_state st)
{
	if (run_state_terminal(st))
		return 3;
	return st == RUN_RUNNING ? 2 : st == RUN_STARTING ? 1 : 0;
}

/* Whether a change of run id to rank arrives after one further along
 * (mu held). */
static bool is_stale(struct events *ev, const char *id, int rank)
{
	uint64_t oldest = ev->head > EVENTS_STATE_RING ?
				  ev->head - EVENTS_STATE_RING + 1 :
				  1;

	for (uint64_t q = ev->head; q >= oldest && q > 0; q--) {
		const struct state_rec *rec = &ev->ring[q % EVENTS_STATE_RING];

		if (!strcmp(rec->run_id, id))
			return rec->rank > rank;
	}
	return false;
}

/* The runs listener: record the change, wake its followers. */
static void on_run(void *ctx, const struct run *r)
{
	struct events *ev = ctx;
	json_t *j = api_run_json(r);
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	char *masked = secrets_mask_str(ev->sec, text ? text : "{}");
	struct state_rec *rec;
	struct events_tail *t;

	json_decref(j);
	free(text);
	pthread_mutex_lock(&ev->mu);
	if (is_stale(ev, r->id, state_rank(r->state))) {
		pthread_mutex_unlock(&ev->mu);
		free(masked);
		return;
	}
	ev->head++;
	rec = &ev->ring[ev->head % EVENTS_STATE_RING];
	free(rec->json);
	rec->seq = ev->head;
	memcpy(rec->run_id, r->id, sizeof(rec->run_id));
	rec->terminal = run_state_terminal(r->state);
	rec->rank = state_rank(r->state);
	rec->json = masked;
	pthread_cond_broadcast(&ev->cond);
	t = tail_find(ev, r->id);
	if (t)
		pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&ev->mu);
}

/* Drop a reference (mu held).  Returns the tail to free, unlinked, when it
 * was the last one. */
static struct events_tail *tail_unref_locked(struct events_tail *t)
{
	if (--t->refs > 0)
		return NULL;
	for (struct events_tail **p = &t->ev->tails; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	return t;
}

static void tail_free(struct events_tail *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	pthread_cond_destroy(&t->cond);
	free(t->ring);
	free(t->path);
	free(t);
}

/* Read what t's file gained since the last tick into its ring.  Called by
 * the tailer without the lock, holding a reference to t.  Returns whether
 * anything was added. */
static bool tail_poll(struct events *ev, struct events_tail *t, char *buf)
{
	size_t total = 0;
	int fd;

	pthread_mutex_lock(&ev->mu);
	fd = t->fd;
	pthread_mutex_unlock(&ev->mu);
	if (fd < 0) {
		fd = open(t->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		pthread_mutex_lock(&ev->mu);
		t->fd = fd; /* only the tailer sets it */
		pthread_mutex_unlock(&ev->mu);
	}
	while (total < READ_MAX_PER_TICK) {
		ssize_t n = read(fd, buf, READ_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		pthread_mutex_lock(&ev->mu);
		for (ssize_t done = 0; done < n;) {
			size_t pos = (size_t)(t->end % EVENTS_LOG_RING);
			size_t k = EVENTS_LOG_RING - pos;

			if (k > (size_t)(n - done))
				k = (size_t)(n - done);
			memcpy(t->ring + pos, buf + done, k);
			done += (ssize_t)k;
			t->end += (int64_t)k;
		}
		pthread_cond_broadcast(&t->cond);
		pthread_mutex_unlock(&ev->mu);
		total += (size_t)n;
	}
	return total > 0;
}

static void *tailer_main(void *arg)
{
	struct events *ev = arg;
	char *buf = xmalloc(READ_CHUNK);
	struct events_tail **list = NULL;
	size_t cap = 0;

	pthread_mutex_lock(&ev->mu);
	while (!ev->stopping) {
		size_t n = 0;
		struct timespec ts;

		if (!ev->tails) {
			pthread_cond_wait(&ev->tailer_cond, &ev->mu);
			continue;
		}
		for (struct events_tail *t = ev->tails; t; t = t->next) {
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				list = xrealloc(list, cap * sizeof(*list));
			}
			t->refs++;
			list[n++] = t;
		}
		pthread_mutex_unlock(&ev->mu);
		for (size_t i = 0; i < n; i++)
			tail_poll(ev, list[i], buf);
		pthread_mutex_lock(&ev->mu);
		for (size_t i = 0; i < n; i++) {
			struct events_tail *dead = tail_unref_locked(list[i]);

			if (dead) {
				pthread_mutex_unlock(&ev->mu);
				tail_free(dead);
				pthread_mutex_lock(&ev->mu);
			}
		}
		deadline_after(&ts, EVENTS_POLL_MS);
		pthread_cond_timedwait(&ev->tailer_cond, &ev->mu, &ts);
	}
	pthread_mutex_unlock(&ev->mu);
	free(list);
	free(buf);
	return NULL;
}

int events_open(struct runs *rs, const struct secrets *sec, struct events **out,
		struct rc_err *err)
{
	struct events *ev = xcalloc(1, sizeof(*ev));
	int r;

	ev->rs = rs;
	ev->sec = sec;
	pthread_mutex_init(&ev->mu, NULL);
	cond_init_mono(&ev->cond);
	cond_init_mono(&ev->tailer_cond);
	r = pthread_create(&ev->thread, NULL, tailer_main, ev);
	if (r != 0) {
		events_close(ev);
		return rc_err_set(err, r, "starting the log tailer: %s",
				  strerror(r));
	}
	ev->thread_started = true;
	runs_add_listener(rs, on_run, ev);
	*out = ev;
	return 0;
}

void events_shutdown(struct events *ev)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->mu);
	ev->stopping = true;
	pthread_cond_broadcast(&ev->cond);
	pthread_cond_broadcast(&ev->tailer_cond);
	for (struct events_tail *t = ev->tails; t; t = t->next)
		pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&ev->mu);
}

void events_close(struct events *ev)
{
	if (!ev)
		return;
	events_shutdown(ev);
	if (ev->thread_started)
		pthread_join(ev->thread, NULL);
	while (ev->tails) {
		struct events_tail *t = ev->tails;

		ev->tails = t->next;
		tail_free(t);
	}
	for (size_t i = 0; i < EVENTS_STATE_RING; i++)
		free(ev->ring[i].json);
	pthread_cond_destroy(&ev->cond);
	pthread_cond_destroy(&ev->tailer_cond);
	pthread_mutex_destroy(&ev->mu);
	free(ev);
}

bool events_stopping(struct events *ev)
{
	bool s;

	pthread_mutex_lock(&ev->mu);
	s = ev->stopping;
	pthread_mutex_unlock(&ev->mu);
	return s;
}

uint64_t events_state_head(struct events *ev)
{
	uint64_t h;

	pthread_mutex_lock(&ev->mu);
	h = ev->head;
	pthread_mutex_unlock(&ev->mu);
	return h;
}

int events_state_next(struct events *ev, uint64_t *after, const char *run_id,
		      char **json, bool *terminal,
		      char run_id_out[RUN_ID_LEN + 1])
{
	uint64_t oldest;
	int ret = 0;

	pthread_mutex_lock(&ev->mu);
	oldest = ev->head > EVENTS_STATE_RING ?
			 ev->head - EVENTS_STATE_RING + 1 :
			 1;
	if (*after + 1 < oldest) {
		*after = oldest - 1;
		ret = -1;
		goto out;
	}
	if (*after > ev->head)
		*after = ev->head; /* a resume id from before a restart */
	while (*after < ev->head) {
		const struct state_rec *rec =
			&ev->ring[(*after + 1) % EVENTS_STATE_RING];

		*after = rec->seq;
		if (run_id && strcmp(rec->run_id, run_id))
			continue;
		*json = xstrdup(rec->json);
		*terminal = rec->terminal;
		if (run_id_out)
			memcpy(run_id_out, rec->run_id, RUN_ID_LEN + 1);
		ret = 1;
		break;
	}
out:
	pthread_mutex_unlock(&ev->mu);
	return ret;
}

bool events_wait(struct events *ev, struct events_tail *t, uint64_t after,
		 int64_t offset, int timeout_ms)
{
	struct timespec ts;
	bool woke = true;

	deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(&ev->mu);
	while (!ev->stopping && ev->head <= after && !(t && t->end > offset)) {
		if (pthread_cond_timedwait(t ? &t->cond : &ev->cond, &ev->mu,
					   &ts) == ETIMEDOUT) {
			woke = false;
			break;
		}
	}
	pthread_mutex_unlock(&ev->mu);
	return woke;
}

struct events_tail *events_tail_get(struct events *ev, const char *run_id)
{
	struct events_tail *t;

	pthread_mutex_lock(&ev->mu);
	t = tail_find(ev, run_id);
	if (!t) {
		t = xcalloc(1, sizeof(*t));
		t->ev = ev;
		snprintf(t->run_id, sizeof(t->run_id), "%s", run_id);
		t->path = runs_log_path(ev->rs, run_id);
		t->fd = -1;
		t->ring = xmalloc(EVENTS_LOG_RING);
		cond_init_mono(&t->cond);
		t->next = ev->tails;
		ev->tails = t;
		pthread_cond_signal(&ev->tailer_cond);
	}
	t->refs++;
	pthread_mutex_unlock(&ev->mu);
	return t;
}

void events_tail_put(struct events_tail *t)
{
	struct events_tail *dead;

	if (!t)
		return;
	pthread_mutex_lock(&t->ev->mu);
	dead = tail_unref_locked(t);
	pthread_mutex_unlock(&t->ev->mu);
	tail_free(dead);
}

ssize_t events_tail_read(struct events_tail *t, int64_t offset, char *buf,
			 size_t max, bool direct)
{
	struct events *ev = t->ev;
	int64_t start;
	ssize_t n = 0;
	bool own = false;
	int fd;

	pthread_mutex_lock(&ev->mu);
	start = t->end > EVENTS_LOG_RING ? t->end - EVENTS_LOG_RING : 0;
	fd = t->fd;
	if (offset >= start && offset < t->end) {
		size_t pos = (size_t)(offset % EVENTS_LOG_RING);
		size_t k = (size_t)(t->end - offset), first;

		if (k > max)
			k = max;
		first = k < EVENTS_LOG_RING - pos ? k : EVENTS_LOG_RING - pos;
		memcpy(buf, t->ring + pos, first);
		memcpy(buf + first, t->ring, k - first); /* wrapped part */
		pthread_mutex_unlock(&ev->mu);
		return (ssize_t)k;
	}
	pthread_mutex_unlock(&ev->mu);
	if (offset >= start && !direct)
		return 0; /* not written yet: wait for the tailer */
	if (fd < 0) {
		/* The tailer has not opened the file yet: read it with an fd
		 * of our own (the tail's fd, once set, lives as long as the
		 * tail, which our reference keeps). */
		fd = open(t->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return 0;
		own = true;
	}
	do {
		n = pread(fd, buf, max, offset);
	} while (n < 0 && errno == EINTR);
	if (own)
		close(fd);
	return n;
}

int64_t events_tail_size(struct events_tail *t)
{
	struct stat st;

	if (stat(t->path, &st) < 0)
		return 0;
	return st.st_size;
}
