/*
 * schedule.c - the scheduler thread.
 *
 * One thread keeps, for every scheduled automation of the current
 * configuration, its next fire time, and sleeps on a condition variable
 * until the earliest (at most SCHED_MAX_SLEEP_MS, so a wall-clock jump or
 * a reload is noticed; sched_stop wakes it at once).  A due tick is
 * claimed in the store first; only a successful claim submits the run.
 * If the thread wakes late and several fire times have passed, only the
 * latest of them runs: a tick is never run twice and missed ones are not
 * piled up.  Fire times are whole seconds; the store keeps them in ms.
 */
#include "schedule.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"
#include "jsontime.h"
#include "log.h"

#define SCHED_MAX_SLEEP_MS 30000
#define SCHED_USER "scheduler"
#define SCHED_ROLE "admin"

struct entry {
	const struct automation *a;
	int64_t next; /* seconds; 0 = none (never fires again) */
};

struct sched {
	struct store *st;
	struct runs *rs;
	const struct config *cfg; /* the one entries were built from */
	struct entry *entries;
	size_t n_entries;
	int64_t checked; /* ticks up to here (seconds) are handled */

	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stopping;
	pthread_t thread;
};

static pthread_once_t offset_once = PTHREAD_ONCE_INIT;
static int64_t clock_offset_ms;

static void offset_read(void)
{
	const char *v = getenv("RUNCELL_TEST_CLOCK_OFFSET_MS");

	if (v &&
	    parse_int64(v, -(int64_t)1e13, (int64_t)1e13, &clock_offset_ms) < 0)
		clock_offset_ms = 0;
}

int64_t sched_now_ms(void)
{
	pthread_once(&offset_once, offset_read);
	return time_now_ms() + clock_offset_ms;
}

/* Claim fire time t (seconds) of a and, if the claim is ours, submit its
 * run.  catch_up only changes what is logged and audited. */
static void fire(struct sched *s, const struct automation *a, int64_t t,
		 bool catch_up)
{
	struct rc_err err;
	struct run r;
	char when[32], *detail;
	int c;

	memset(&r, 0, sizeof(r));
	rc_err_clear(&err);
	time_rfc3339(t * 1000, when);
	c = store_tick_claim(s->st, a->id, t * 1000, &err);
	if (c == 1) {
		log_msg(LOG_DEBUG, NULL,
			"schedule of %s: tick %s was already "
			"run",
			a->id, when);
		return;
	}
	if (c < 0) {
		log_error("schedule of %s: cannot claim tick %s, not "
			  "running it: %s",
			  a->id, when, err.msg);
		return;
	}
	if (runs_submit(s->rs, a->id, a->schedule->parameters, SCHED_USER,
			SCHED_ROLE, &r, &err) < 0) {
		log_error("schedule of %s: tick %s: the run was refused: %s",
			  a->id, when, err.msg);
		store_tick_finish(s->st, a->id, t * 1000, NULL, err.msg, &err);
		return;
	}
	log_msg(LOG_INFO, r.id, "scheduled run of %s for %s%s", a->id, when,
		catch_up ? " (missed while the service was down)" : "");
	detail = xasprintf("{\"automation\":\"%s\",\"trigger\":\"schedule\","
			   "\"fire_time\":\"%s\",\"catch_up\":%s}",
			   a->id, when, catch_up ? "true" : "false");
	if (store_tick_finish(s->st, a->id, t * 1000, r.id, NULL, &err) < 0 ||
	    store_audit_add(s->st, SCHED_USER, "run.start", r.id, detail,
			    &err) < 0)
		log_error("schedule of %s: recording tick %s: %s", a->id, when,
			  err.msg);
	free(detail);
	store_run_clear(&r);
}

/* The first fire time of a after now (seconds), or 0 if none. */
static int64_t next_after(const struct automation *a, int64_t now)
{
	struct rc_err err;
	int64_t t;

	if (cron_next(a->schedule->expr, a->schedule->tz, now, &t, &err) < 0)
		return 0;
	return t;
}

/* At start-up: run the latest tick missed since the last claimed one. */
static void catch_up(struct sched *s, const struct automation *a, int64_t now)
{
	struct rc_err err;
	int64_t last, missed;
	int r;

	if (!a->schedule->catch_up)
		return;
	r = store_tick_last(s->st, a->id, &last, &err);
	if (r < 0)
		log_error("schedule of %s: reading its last tick: %s", a->id,
			  err.msg);
	if (r != 0)
		return;
	r = cron_last_in(a->schedule->expr, a->schedule->tz, last / 1000, now,
			 &missed, &err);
	if (r == 0)
		fire(s, a, missed, true);
}

/*
 * Rebuild the entries from cfg (mu held).  At start-up, missed ticks are
 * caught up first (outside the lock: it writes to the store).  After a
 * reload, next fire times count from the last pass, not from now, so that
 * a tick falling between that pass and the reload is not lost.
 */
static void entries_build(struct sched *s, const struct config *cfg,
			  bool startup)
{
	int64_t now = sched_now_ms() / 1000;
	int64_t from = startup || !s->checked ? now : s->checked;
	size_t n = 0;

	free(s->entries);
	s->entries = xcalloc(cfg->n_autos + 1, sizeof(*s->entries));
	s->cfg = cfg;
	for (size_t i = 0; i < cfg->n_autos; i++) {
		const struct automation *a = &cfg->autos[i];

		if (!a->schedule)
			continue;
		if (startup) {
			pthread_mutex_unlock(&s->mu);
			catch_up(s, a, now);
			pthread_mutex_lock(&s->mu);
		}
		s->entries[n].a = a;
		s->entries[n].next = next_after(a, from);
		n++;
	}
	s->n_entries = n;
}

static void *sched_main(void *arg)
{
	struct sched *s = arg;
	bool startup = true;

	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		const struct config *cfg = runs_config(s->rs);
		int64_t now, wake;
		struct timespec ts;

		if (cfg != s->cfg || startup) {
			entries_build(s, cfg, startup);
			startup = false;
			continue;
		}
		now = sched_now_ms();
		wake = now + SCHED_MAX_SLEEP_MS;
		for (size_t i = 0; i < s->n_entries && !s->stopping; i++) {
			struct entry *e = &s->entries[i];
			int64_t due = e->next;
			struct rc_err err;

			if (!e->next)
				continue;
			if (e->next * 1000 > now) {
				if (e->next * 1000 < wake)
					wake = e->next * 1000;
				continue;
			}
			/* Late: run only the latest tick that has passed. */
			cron_last_in(e->a->schedule->expr, e->a->schedule->tz,
				     e->next - 1, now / 1000, &due, &err);
			e->next = next_after(e->a, now / 1000);
			pthread_mutex_unlock(&s->mu);
			fire(s, e->a, due, false);
			pthread_mutex_lock(&s->mu);
			wake = now; /* look again at once */
		}
		s->checked = now / 1000;
		if (wake <= now || s->stopping)
			continue;
		/* Sleep on the real clock until the scheduler clock says
		 * wake. */
		wake += time_now_ms() - sched_now_ms();
		ts.tv_sec = (time_t)(wake / 1000);
		ts.tv_nsec = (long)(wake % 1000) * 1000000L;
		pthread_cond_timedwait(&s->cond, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Start the thread; see schedule.h. */
int sched_start(struct store *st, struct runs *rs, struct sched **out,
		struct rc_err *err)
{
	struct sched *s = xcalloc(1, sizeof(*s));
	int r;

	s->st = st;
	s->rs = rs;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond, NULL);
	r = pthread_create(&s->thread, NULL, sched_main, s);
	if (r != 0) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return rc_err_set(err, r, "starting the scheduler thread: %s",
				  strerror(r));
	}
	*out = s;
	return 0;
}

void sched_stop(struct sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	free(s->entries);
	free(s);
}

/* The API's view of every schedule; see schedule.h. */
json_t *sched_list_json(const struct config *cfg, struct store *st)
{
	json_t *arr = json_array();
	int64_t now = sched_now_ms() / 1000;

	for (size_t i = 0; i < cfg->n_autos; i++) {
		const struct automation *a = &cfg->autos[i];
		struct rc_err err;
		int64_t last = 0, next;

		if (!a->schedule)
			continue;
		next = next_after(a, now);
		if (store_tick_last(st, a->id, &last, &err) != 0)
			last = 0;
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:s, s:b, s:O?, s:o, s:o}",
				       "automation", a->id, "cron",
				       a->schedule->cron, "timezone",
				       a->schedule->timezone, "catch_up",
				       a->schedule->catch_up, "parameters",
				       a->schedule->parameters, "next_fire_at",
				       json_time(next * 1000), "last_fire_at",
				       json_time(last)));
	}
	return arr;
}
