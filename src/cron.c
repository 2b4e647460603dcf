/*
 * cron.c - parsing cron expressions and computing their fire times.
 *
 * A parsed expression is five bit sets.  The next fire time is found by
 * walking UTC instants minute by minute, converting each to wall time in
 * the zone (tz.h, no TZ switching) and skipping whole months, days and
 * hours that cannot match.  Every jump stops at the zone's next offset
 * change, so the walk never steps over a daylight saving change: there the
 * rules of cron.h apply (skipped wall times of fixed-time jobs fire at the
 * first instant after a spring-forward jump; repeated ones fire once).
 * Walking UTC instead of wall time is what lets "every 15 minutes" run in
 * both passes of a repeated hour while "at 02:30" runs in the first only.
 */
#include "cron.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SEARCH_YEARS 10
#define DAY 86400
#define MINUTE 60

struct cron {
	uint64_t minute;	 /* bits 0..59 */
	uint32_t hour;		 /* bits 0..23 */
	uint32_t dom;		 /* bits 1..31 */
	uint32_t month;		 /* bits 1..12 */
	uint32_t dow;		 /* bits 0..6, Sunday = 0 */
	bool dom_star, dow_star; /* field starts with '*' (Vixie's rule) */
	bool fixed_time;	 /* neither minute nor hour starts with '*' */
};

struct field_spec {
	const char *name;
	int min, max;
	const char *const *names; /* value names starting at min, or NULL */
};

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may",
					   "jun", "jul", "aug", "sep", "oct",
					   "nov", "dec", NULL };
static const char *const dow_names[] = { "sun", "mon", "tue", "wed",
					 "thu", "fri", "sat", NULL };

static const struct field_spec fields[5] = {
	{ "minute", 0, 59, NULL },	    { "hour", 0, 23, NULL },
	{ "day-of-month", 1, 31, NULL },    { "month", 1, 12, month_names },
	{ "day-of-week", 0, 7, dow_names },
};

static const struct {
	const char *name;
	const char *expr;
} shorthands[] = {
	{ "@yearly", "0 0 1 1 *" },  { "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" }, { "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },   { "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

/* --- parsing --- */

/* A number or (if the field has names) a three-letter name at *sp. */
static int parse_value(const struct field_spec *f, const char **sp, int *out,
		       struct rc_err *err, const char *item)
{
	const char *s = *sp;
	int64_t v = 0;
	int digits = 0;

	if (f->names &&
	    ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) {
		for (int i = 0; f->names[i]; i++) {
			if (strncasecmp(s, f->names[i], 3) == 0 &&
			    !((s[3] >= 'a' && s[3] <= 'z') ||
			      (s[3] >= 'A' && s[3] <= 'Z'))) {
				*out = f->min + i;
				*sp = s + 3;
				return 0;
			}
		}
		return rc_err_set(err, EINVAL,
				  "%s field \"%s\": unknown name; "
				  "use %s",
				  f->name, item,
				  f->names == month_names ? "jan..dec" :
							    "sun..sat");
	}
	while (*s >= '0' && *s <= '9') {
		if (++digits > 4)
			break;
		v = v * 10 + (*s++ - '0');
	}
	if (!digits)
		return rc_err_set(err, EINVAL,
				  "%s field \"%s\": expected a "
				  "number%s, \"*\", a range N-M or a step /N",
				  f->name, item, f->names ? " or a name" : "");
	if (v < f->min || v > f->max)
		return rc_err_set(err, EINVAL,
				  "%s field \"%s\": %lld is out "
				  "of range %d-%d",
				  f->name, item, (long long)v, f->min, f->max);
	*out = (int)v;
	*sp = s;
	return 0;
}

/* One comma-separated item: "*", "N", "N-M", each with optional "/S". */
static int parse_item(const struct field_spec *f, const char *item,
		      uint64_t *bits, struct rc_err *err)
{
	const char *s = item;
	int lo, hi, step = 1;

	if (*s == '*') {
		lo = f->min;
		hi = f->max == 7 ? 6 : f->max;
		s++;
	} else {
		if (parse_value(f, &s, &lo, err, item) < 0)
			return -1;
		hi = lo;
		if (*s == '-') {
			s++;
			if (parse_value(f, &s, &hi, err, item) < 0)
				return -1;
			if (hi < lo)
				return rc_err_set(err, EINVAL,
						  "%s field "
						  "\"%s\": the range runs "
						  "backwards; write it as two "
						  "ranges, e.g. 22-23,0-2",
						  f->name, item);
		} else if (*s == '/') {
			hi = f->max == 7 ? 6 : f->max;
		}
	}
	if (*s == '/') {
		int64_t v = 0;
		int digits = 0;

		for (s++; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
			v = v * 10 + (*s - '0');
		if (!digits || v < 1 || v > f->max)
			return rc_err_set(err, EINVAL,
					  "%s field \"%s\": the "
					  "step must be a number from 1 to %d",
					  f->name, item, f->max);
		step = (int)v;
	}
	if (*s)
		return rc_err_set(err, EINVAL,
				  "%s field \"%s\": unexpected "
				  "\"%s\"; use numbers, names, \"*\", \"-\", "
				  "\"/\" and \",\"",
				  f->name, item, s);
	for (int v = lo; v <= hi; v += step)
		*bits |= 1ull << (f->max == 7 && v == 7 ? 0 : v);
	return 0;
}

static int parse_field(const struct field_spec *f, const char *text,
		       uint64_t *bits, struct rc_err *err)
{
	char *copy = xstrdup(text), *item = copy, *comma;
	int ret = -1;

	*bits = 0;
	for (;;) {
		comma = strchr(item, ',');
		if (comma)
			*comma = '\0';
		if (!*item) {
			rc_err_set(err, EINVAL,
				   "%s field \"%s\": empty list "
				   "entry; remove the extra comma",
				   f->name, text);
			goto out;
		}
		if (parse_item(f, item, bits, err) < 0)
			goto out;
		if (!comma)
			break;
		item = comma + 1;
	}
	ret = 0;
out:
	free(copy);
	return ret;
}

/* Whether some (day, month) pair in the sets exists in some year. */
static bool some_day_exists(const struct cron *c)
{
	for (int m = 1; m <= 12; m++) {
		if (!(c->month & (1u << m)))
			continue;
		for (int d = 1; d <= tz_month_days(2000, m); d++)
			if (c->dom & (1u << d))
				return true;
	}
	return false;
}

/*
 * Parse expr into *out; see cron.h.  Fields are separated by spaces or
 * tabs; the error names the field and says what to change.
 */
int cron_parse(const char *expr, struct cron **out, struct rc_err *err)
{
	struct cron *c = NULL;
	char *copy = NULL, *f[6], *s;
	uint64_t bits[5];
	int n = 0, ret = -1;

	*out = NULL;
	if (!expr) {
		rc_err_set(err, EINVAL, "no cron expression given");
		goto out;
	}
	while (*expr == ' ' || *expr == '\t')
		expr++;
	if (*expr == '@') {
		size_t len = strcspn(expr, " \t");

		for (size_t i = 0;
		     i < sizeof(shorthands) / sizeof(shorthands[0]); i++)
			if (strlen(shorthands[i].name) == len &&
			    strncasecmp(expr, shorthands[i].name, len) == 0 &&
			    expr[len + strspn(expr + len, " \t")] == '\0')
				return cron_parse(shorthands[i].expr, out, err);
		rc_err_set(err, EINVAL,
			   "cron expression \"%s\": unknown "
			   "shorthand; use @yearly, @annually, @monthly, "
			   "@weekly, @daily, @midnight or @hourly",
			   expr);
		goto out;
	}
	copy = xstrdup(expr);
	for (s = copy; *s;) {
		s += strspn(s, " \t");
		if (!*s)
			break;
		if (n == 6)
			break;
		f[n++] = s;
		s += strcspn(s, " \t");
		if (*s)
			*s++ = '\0';
	}
	if (n != 5) {
		rc_err_set(err, EINVAL,
			   "cron expression \"%s\" has %s%d "
			   "fields; it needs 5: minute hour day-of-month month "
			   "day-of-week, e.g. \"*/15 * * * *\"",
			   expr, n == 6 ? "more than " : "", n == 6 ? 5 : n);
		goto out;
	}
	for (int i = 0; i < 5; i++)
		if (parse_field(&fields[i], f[i], &bits[i], err) < 0) {
			rc_err_wrap(err, "cron expression \"%s\"", expr);
			goto out;
		}
	c = xcalloc(1, sizeof(*c));
	c->minute = bits[0];
	c->hour = (uint32_t)bits[1];
	c->dom = (uint32_t)bits[2];
	c->month = (uint32_t)bits[3];
	c->dow = (uint32_t)bits[4];
	c->dom_star = f[2][0] == '*';
	c->dow_star = f[4][0] == '*';
	c->fixed_time = f[0][0] != '*' && f[1][0] != '*';
	if ((c->dow_star || c->dom_star) && !some_day_exists(c)) {
		rc_err_set(err, EINVAL,
			   "cron expression \"%s\" never fires: "
			   "no month it names has that day; fix the "
			   "day-of-month or month field",
			   expr);
		goto out;
	}
	*out = c;
	c = NULL;
	ret = 0;
out:
	free(c);
	free(copy);
	return ret;
}

void cron_free(struct cron *c)
{
	free(c);
}

bool cron_is_fixed_time(const struct cron *c)
{
	return c->fixed_time;
}

/* --- matching --- */

struct wall {
	int64_t y;
	int mon, mday, hour, min, wday;
	int64_t days; /* days since the epoch */
};

static void wall_split(int64_t w, struct wall *t)
{
	int64_t secs;

	t->days = w >= 0 ? w / DAY : -((-w + DAY - 1) / DAY);
	secs = w - t->days * DAY;
	tz_civil_from_days(t->days, &t->y, &t->mon, &t->mday);
	t->hour = (int)(secs / 3600);
	t->min = (int)(secs % 3600 / 60);
	t->wday = (int)(((t->days % 7) + 7 + 4) % 7);
}

static bool day_matches(const struct cron *c, const struct wall *t)
{
	bool dom = c->dom & (1u << t->mday), dow = c->dow & (1u << t->wday);

	if (c->dom_star || c->dow_star)
		return dom && dow;
	return dom || dow;
}

static bool wall_matches(const struct cron *c, int64_t w)
{
	struct wall t;

	wall_split(w, &t);
	return (c->month & (1u << t.mon)) && day_matches(c, &t) &&
	       (c->hour & (1u << t.hour)) && (c->minute & (1ull << t.min));
}

static int64_t floor_minute(int64_t t)
{
	return t >= 0 ? t - t % MINUTE : t - (MINUTE + t % MINUTE) % MINUTE;
}

/* Move from u by d seconds of wall time, but never past the zone's next
 * offset change: stop there so that it is looked at. */
static int64_t advance(const struct tz *tz, int64_t u, int64_t d)
{
	int64_t t = tz_next_transition(tz, u);

	if (t <= u + d) {
		t = floor_minute(t + MINUTE - 1);
		return t > u ? t : u + MINUTE;
	}
	return u + d;
}

/* Whether the wall time w shown at u was already shown at an earlier
 * instant (the repeated hour of a fall-back change).  Assumes at most one
 * offset change within a day, as in every tz database zone. */
static bool repeated(const struct tz *tz, int64_t u, int64_t w, int off)
{
	int before = tz_offset(tz, u - DAY);
	int64_t earlier;

	if (before <= off)
		return false;
	earlier = w - before;
	return earlier < u && tz_offset(tz, earlier) == before;
}

/*
 * The first fire instant after `after`; see cron.h.  Each step looks at
 * UTC instant u with wall time w: first the spring-forward rule (fixed
 * jobs whose wall time was skipped just before u fire at u), then each
 * field from the month down; a mismatch jumps to the start of the next
 * month, day, hour or matching minute.
 */
int cron_next(const struct cron *c, const struct tz *tz, int64_t after,
	      int64_t *next, struct rc_err *err)
{
	int64_t u = floor_minute(after) + MINUTE;
	int64_t limit = u + (int64_t)SEARCH_YEARS * 366 * DAY;

	while (u < limit) {
		int off = tz_offset(tz, u);
		int64_t w = floor_minute(u + off), target;
		struct wall t;

		if (c->fixed_time) {
			int64_t wp = floor_minute(u - MINUTE +
						  tz_offset(tz, u - MINUTE)) +
				     MINUTE;

			for (int64_t m = wp; m < w; m += MINUTE)
				if (wall_matches(c, m)) {
					*next = u;
					return 0;
				}
		}
		wall_split(w, &t);
		if (!(c->month & (1u << t.mon))) {
			int64_t y = t.y + (t.mon == 12), m = t.mon % 12 + 1;

			target = tz_days_from_civil(y, (int)m, 1) * DAY;
		} else if (!day_matches(c, &t)) {
			target = (t.days + 1) * DAY;
		} else if (!(c->hour & (1u << t.hour))) {
			target = t.days * DAY + (t.hour + 1) * 3600;
		} else if (!(c->minute & (1ull << t.min))) {
			int m = t.min + 1;

			while (m < 60 && !(c->minute & (1ull << m)))
				m++;
			target = t.days * DAY + t.hour * 3600 + m * MINUTE;
		} else if (c->fixed_time && repeated(tz, u, w, off)) {
			target = w + MINUTE;
		} else {
			*next = u;
			return 0;
		}
		u = advance(tz, u, target - w);
	}
	return rc_err_set(err, ERANGE,
			  "the schedule does not fire within %d "
			  "years",
			  SEARCH_YEARS);
}

/*
 * The latest fire instant in (lo, hi]; see cron.h.  Looks back over
 * growing windows (an hour, a day, a week, a month, a year, nine years) so
 * that a frequent schedule is found without walking every tick since lo.
 */
int cron_last_in(const struct cron *c, const struct tz *tz, int64_t lo,
		 int64_t hi, int64_t *out, struct rc_err *err)
{
	static const int64_t spans[] = { 3600,	   DAY,	      7 * DAY,
					 32 * DAY, 367 * DAY, 9 * 366 * DAY };
	struct rc_err ignored;

	if (hi <= lo)
		return 1;
	for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		int64_t from = hi - spans[i] > lo ? hi - spans[i] : lo;
		int64_t t, at = from, found = 0;
		bool any = false;

		while (cron_next(c, tz, at, &t, &ignored) == 0 && t <= hi) {
			found = t;
			any = true;
			at = t;
		}
		if (any) {
			*out = found;
			return 0;
		}
		if (from == lo)
			break;
	}
	(void)err;
	return 1;
}
