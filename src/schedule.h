/*
 * schedule.h - the scheduler: starts runs of automations that declare a
 * `schedule:` at their cron fire times.
 *
 * Each fire time is claimed in the store (store_tick_claim) before its run
 * is submitted, and only the claimer submits; so no tick ever runs twice,
 * across restarts and across replicas sharing one store.  At start-up, the
 * most recent tick missed while the service was down (after the last
 * claimed one) runs once, unless the schedule says catch_up: false.
 * Scheduled runs are submitted as user "scheduler" with role admin and the
 * schedule's parameters (defaults otherwise).
 *
 * The clock is the wall clock plus RUNCELL_TEST_CLOCK_OFFSET_MS (read once,
 * for tests: it lets a test place "now" just before a minute boundary).
 */
#ifndef RUNCELL_SCHEDULE_H
#define RUNCELL_SCHEDULE_H

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "runs.h"
#include "store.h"
#include "util.h"

struct sched;

/*
 * Start the scheduler thread.  st and rs are borrowed and must outlive it;
 * the configuration is read through runs_config(rs) on every pass, so a
 * reload is followed.  Call after runs_start.
 */
int sched_start(struct store *st, struct runs *rs, struct sched **out,
		struct rc_err *err);

/* Stop the thread promptly (it waits on a condition variable) and free
 * the scheduler; NULL is fine.  Call before runs_close. */
void sched_stop(struct sched *s);

/* The scheduler's clock: ms since the epoch, test offset applied. */
int64_t sched_now_ms(void);

/*
 * The schedules of cfg as JSON for GET /api/v1/schedules: an array of
 * {automation, cron, timezone, catch_up, next_fire_at, last_fire_at}
 * (times RFC 3339 UTC, null when none).  New reference.
 */
json_t *sched_list_json(const struct config *cfg, struct store *st);

#endif
