/*
 * cron.h - cron expressions: parsing the standard five fields and finding
 * when an expression next fires in a time zone.
 *
 * Syntax (as Vixie cron / cronie): "minute hour day-of-month month
 * day-of-week", each field a comma-separated list of "*", N, N-M, with an
 * optional "/step" ("*" + "/15", "1-30/5", and "N/step" meaning N-max/step);
 * month and weekday names (jan-dec, sun-sat, any case) as values and range
 * ends; weekday 7 is Sunday; and the shorthands @yearly @annually @monthly
 * @weekly @daily @midnight @hourly.  When both day fields are restricted
 * (neither starts with "*"), a day matches if EITHER matches.
 *
 * Daylight saving time (the cronie rule): a job whose minute and hour
 * fields are fixed (do not start with "*") fires once per wall-clock
 * match: a time skipped by a spring-forward change fires at the first
 * instant after the jump, and a time repeated by a fall-back change fires
 * only at its first occurrence.  A job whose minute or hour field starts
 * with "*" follows elapsed time: skipped wall times do not fire, repeated
 * ones fire in both passes.
 */
#ifndef RUNCELL_CRON_H
#define RUNCELL_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "tz.h"
#include "util.h"

struct cron;

/*
 * Parse expr.  On success *out is a new expression (free with cron_free).
 * On failure -1 with err->msg naming the field and what to change, e.g.
 * "hour field \"25\": 25 is out of range 0-23".  Expressions that can never
 * fire ("0 0 30 2 *") are refused too.
 */
int cron_parse(const char *expr, struct cron **out, struct rc_err *err);

/* Free an expression; NULL is fine. */
void cron_free(struct cron *c);

/* Whether the minute and hour fields are both fixed (the DST rule above). */
bool cron_is_fixed_time(const struct cron *c);

/*
 * The first fire instant strictly after `after` (seconds since the epoch)
 * in zone tz, into *next.  Returns 0, or -1 (errno ERANGE) if the
 * expression does not fire within the next ten years.
 */
int cron_next(const struct cron *c, const struct tz *tz, int64_t after,
	      int64_t *next, struct rc_err *err);

/*
 * The most recent fire instant t with lo < t <= hi, into *out.  Returns 0,
 * 1 if there is none in that interval, -1 on error.  Used for catch-up
 * after downtime.
 */
int cron_last_in(const struct cron *c, const struct tz *tz, int64_t lo,
		 int64_t hi, int64_t *out, struct rc_err *err);

#endif
