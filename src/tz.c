/*
 * tz.c - reading tz database zones (TZif files, RFC 8536) and answering
 * "what is the offset at instant t" and "when does it next change",
 * thread-safely and without the process-wide TZ variable.
 *
 * A TZif file holds a table of transition instants, each naming a local
 * time type (an offset from UTC), and, from version 2 on, a footer with a
 * POSIX TZ rule such as "CET-1CEST,M3.5.0,M10.5.0/3" that applies after the
 * last transition.  Debian ships "fat" files (transitions up to 2037) and
 * upstream ships "slim" ones (rules only); both work.  Leap-second tables
 * are skipped: schedules use POSIX time.
 */
#include "tz.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define TZIF_MAX_BYTES (1024 * 1024)
#define DEFAULT_TZDIR "/usr/share/zoneinfo"

/* One end of a DST period in a POSIX TZ rule. */
struct tz_rule_date {
	char kind;    /* 'J' Julian 1..365 without Feb 29, 'N' 0..365, 'M' */
	int n;	      /* day for J and N */
	int m, w, d;  /* month, week 1..5 (5 = last), weekday 0..6 */
	int32_t time; /* seconds after local midnight, may be < 0 */
};

struct tz {
	char *name;
	int64_t *trans;	     /* transition instants, ascending */
	uint8_t *trans_type; /* index into utoff per transition */
	size_t n_trans;
	int32_t *utoff; /* per local time type, seconds east */
	size_t n_types;
	bool has_rule; /* a POSIX footer applies after the table */
	int32_t std_off, dst_off;
	bool has_dst;
	struct tz_rule_date start, end;
};

/* --- calendar --- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Howard Hinnant's days_from_civil. */
int64_t tz_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool leap_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int tz_month_days(int64_t y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31 };

	if (m == 2 && leap_year(y))
		return 29;
	return days[(m - 1) % 12];
}

/* --- the POSIX TZ rule in the footer --- */

/* [+-]hh[:mm[:ss]] with hours up to max_hours; returns seconds. */
static int parse_hms(const char **sp, int max_hours, int32_t *out)
{
	const char *s = *sp;
	int sign = 1, part[3] = { 0, 0, 0 }, i;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	for (i = 0; i < 3; i++) {
		int digits = 0, v = 0;

		if (i > 0) {
			if (*s != ':')
				break;
			s++;
		}
		while (*s >= '0' && *s <= '9' && digits < 3) {
			v = v * 10 + (*s++ - '0');
			digits++;
		}
		if (!digits)
			return -1;
		part[i] = v;
	}
	if (part[0] > max_hours || part[1] > 59 || part[2] > 59)
		return -1;
	*out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
	*sp = s;
	return 0;
}

static int parse_abbr(const char **sp)
{
	const char *s = *sp;

	if (*s == '<') {
		s = strchr(s, '>');
		if (!s)
			return -1;
		*sp = s + 1;
		return 0;
	}
	while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
		s++;
	if (s - *sp < 3)
		return -1;
	*sp = s;
	return 0;
}

static int parse_num(const char **sp, int min, int max, int *out)
{
	const char *s = *sp;
	int v = 0, digits = 0;

	while (*s >= '0' && *s <= '9' && digits < 4) {
		v = v * 10 + (*s++ - '0');
		digits++;
	}
	if (!digits || v < min || v > max)
		return -1;
	*out = v;
	*sp = s;
	return 0;
}

static int parse_rule_date(const char **sp, struct tz_rule_date *r)
{
	const char *s = *sp;

	if (*s == 'M') {
		s++;
		r->kind = 'M';
		if (parse_num(&s, 1, 12, &r->m) < 0 || *s++ != '.' ||
		    parse_num(&s, 1, 5, &r->w) < 0 || *s++ != '.' ||
		    parse_num(&s, 0, 6, &r->d) < 0)
			return -1;
	} else if (*s == 'J') {
		s++;
		r->kind = 'J';
		if (parse_num(&s, 1, 365, &r->n) < 0)
			return -1;
	} else {
		r->kind = 'N';
		if (parse_num(&s, 0, 365, &r->n) < 0)
			return -1;
	}
	r->time = 2 * 3600;
	if (*s == '/') {
		s++;
		if (parse_hms(&s, 167, &r->time) < 0)
			return -1;
	}
	*sp = s;
	return 0;
}

/* "std offset [dst [offset] [,start[/time],end[/time]]]"; an empty
 * string means no rule. */
static int parse_posix_tz(struct tz *tz, const char *s)
{
	int32_t off;

	if (!*s)
		return 0;
	if (parse_abbr(&s) < 0 || parse_hms(&s, 24, &off) < 0)
		return -1;
	tz->has_rule = true;
	tz->std_off = -off;
	if (!*s)
		return 0;
	if (parse_abbr(&s) < 0)
		return -1;
	tz->has_dst = true;
	tz->dst_off = tz->std_off + 3600;
	if (*s && *s != ',') {
		if (parse_hms(&s, 24, &off) < 0)
			return -1;
		tz->dst_off = -off;
	}
	if (!*s) {
		/* The POSIX default: the US rules. */
		tz->start = (struct tz_rule_date){ 'M', 0, 3, 2, 0, 7200 };
		tz->end = (struct tz_rule_date){ 'M', 0, 11, 1, 0, 7200 };
		return 0;
	}
	if (*s++ != ',' || parse_rule_date(&s, &tz->start) < 0 || *s++ != ',' ||
	    parse_rule_date(&s, &tz->end) < 0 || *s)
		return -1;
	return 0;
}

/* Days since the epoch of rule date r in year y. */
static int64_t rule_day(const struct tz_rule_date *r, int64_t y)
{
	int64_t jan1 = tz_days_from_civil(y, 1, 1), first;
	int dow1, day;

	switch (r->kind) {
	case 'J':
		return jan1 + r->n - 1 + (leap_year(y) && r->n >= 60);
	case 'N':
		return jan1 + r->n;
	default:
		first = tz_days_from_civil(y, r->m, 1);
		dow1 = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01: Thu */
		day = 1 + (r->d - dow1 + 7) % 7 + (r->w - 1) * 7;
		while (day > tz_month_days(y, r->m))
			day -= 7;
		return first + day - 1;
	}
}

/* The instant of a rule date in year y; off is the offset in force just
 * before it (the rule's time is wall time of that offset). */
static int64_t rule_instant(const struct tz_rule_date *r, int64_t y,
			    int32_t off)
{
	return rule_day(r, y) * 86400 + r->time - off;
}

static int64_t year_of(int64_t t)
{
	int64_t y;
	int m, d;

	tz_civil_from_days(floor_div(t, 86400), &y, &m, &d);
	return y;
}

static int rule_offset(const struct tz *tz, int64_t t)
{
	int64_t y, s, e;
	bool dst;

	if (!tz->has_dst)
		return tz->std_off;
	y = year_of(t + tz->std_off);
	s = rule_instant(&tz->start, y, tz->std_off);
	e = rule_instant(&tz->end, y, tz->dst_off);
	if (s < e)
		dst = t >= s && t < e;
	else
		dst = !(t >= e && t < s);
	return dst ? tz->dst_off : tz->std_off;
}

static int64_t rule_next(const struct tz *tz, int64_t t)
{
	int64_t best = INT64_MAX, y = year_of(t);

	if (!tz->has_dst)
		return INT64_MAX;
	for (int64_t yy = y - 1; yy <= y + 1; yy++) {
		int64_t s = rule_instant(&tz->start, yy, tz->std_off);
		int64_t e = rule_instant(&tz->end, yy, tz->dst_off);

		if (s > t && s < best)
			best = s;
		if (e > t && e < best)
			best = e;
	}
	return best;
}

/* --- TZif --- */

struct reader {
	const unsigned char *p, *end;
};

static bool take(struct reader *r, size_t n, const unsigned char **out)
{
	if ((size_t)(r->end - r->p) < n)
		return false;
	*out = r->p;
	r->p += n;
	return true;
}

static int64_t be(const unsigned char *p, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	if (bytes == 4)
		return (int32_t)(uint32_t)v;
	return (int64_t)v;
}

struct tzif_counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

static bool read_header(struct reader *r, char *version, struct tzif_counts *c)
{
	const unsigned char *h;

	if (!take(r, 44, &h) || memcmp(h, "TZif", 4) != 0)
		return false;
	*version = (char)h[4];
	c->isut = (uint32_t)be(h + 20, 4);
	c->isstd = (uint32_t)be(h + 24, 4);
	c->leap = (uint32_t)be(h + 28, 4);
	c->time = (uint32_t)be(h + 32, 4);
	c->type = (uint32_t)be(h + 36, 4);
	c->chars = (uint32_t)be(h + 40, 4);
	return c->type > 0 && c->type <= 256 && c->time <= 100000 &&
	       c->leap <= 10000;
}

/* Read one data block (tsize 4 for v1, 8 for v2+) into tz. */
static bool read_block(struct reader *r, const struct tzif_counts *c, int tsize,
		       struct tz *tz)
{
	const unsigned char *times, *idx, *types, *skip;

	if (!take(r, (size_t)c->time * tsize, &times) ||
	    !take(r, c->time, &idx) || !take(r, (size_t)c->type * 6, &types) ||
	    !take(r, c->chars, &skip) ||
	    !take(r, (size_t)c->leap * (tsize + 4), &skip) ||
	    !take(r, c->isstd, &skip) || !take(r, c->isut, &skip))
		return false;
	tz->trans = xcalloc(c->time + 1, sizeof(*tz->trans));
	tz->trans_type = xcalloc(c->time + 1, 1);
	tz->utoff = xcalloc(c->type, sizeof(*tz->utoff));
	tz->n_trans = c->time;
	tz->n_types = c->type;
	for (uint32_t i = 0; i < c->time; i++) {
		tz->trans[i] = be(times + (size_t)i * tsize, tsize);
		tz->trans_type[i] = idx[i];
		if (idx[i] >= c->type ||
		    (i > 0 && tz->trans[i] <= tz->trans[i - 1]))
			return false;
	}
	for (uint32_t i = 0; i < c->type; i++) {
		int64_t off = be(types + (size_t)i * 6, 4);

		if (off < -25 * 3600 || off > 26 * 3600)
			return false;
		tz->utoff[i] = (int32_t)off;
	}
	return true;
}

static int parse_tzif(struct tz *tz, const unsigned char *data, size_t len)
{
	struct reader r = { data, data + len };
	struct tzif_counts c;
	const unsigned char *nl;
	char version;
	char *footer;
	int ret;

	if (!read_header(&r, &version, &c))
		return -1;
	if (version == '\0')
		return read_block(&r, &c, 4, tz) ? 0 : -1;
	/* Version 2+: skip the 32-bit block, read the 64-bit one. */
	if (!take(&r,
		  (size_t)c.time * 5 + (size_t)c.type * 6 + c.chars +
			  (size_t)c.leap * 8 + c.isstd + c.isut,
		  &nl) ||
	    !read_header(&r, &version, &c) || !read_block(&r, &c, 8, tz))
		return -1;
	if (r.p >= r.end || *r.p != '\n')
		return -1;
	r.p++;
	nl = memchr(r.p, '\n', (size_t)(r.end - r.p));
	if (!nl)
		return -1;
	footer = xstrndup((const char *)r.p, (size_t)(nl - r.p));
	ret = parse_posix_tz(tz, footer);
	free(footer);
	return ret;
}

static bool valid_zone_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 200 || s[0] == '/' || s[0] == '.' || strstr(s, "..") ||
	    strstr(s, "//"))
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789/_+-") == n;
}

/*
 * Load zone name; see tz.h.  The file is read whole (at most 1 MiB) and
 * checked; a zone that has no transitions and no rule gets its single
 * local time type.
 */
int tz_load(const char *name, struct tz **out, struct rc_err *err)
{
	struct tz *tz = NULL;
	const char *dir = getenv("TZDIR");
	char *path = NULL, *data = NULL;
	size_t len = 0;
	struct rc_err rerr;
	int ret = -1;

	*out = NULL;
	if (!name || !valid_zone_name(name)) {
		rc_err_set(err, EINVAL,
			   "time zone \"%s\" is not a tz database "
			   "name; use one like UTC, Europe/Berlin or "
			   "America/New_York",
			   name ? name : "");
		goto out;
	}
	tz = xcalloc(1, sizeof(*tz));
	tz->name = xstrdup(name);
	path = xasprintf("%s/%s", dir && *dir ? dir : DEFAULT_TZDIR, name);
	if (read_file(path, TZIF_MAX_BYTES, &data, &len, &rerr) < 0) {
		if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC")) {
			tz->utoff = xcalloc(1, sizeof(*tz->utoff));
			tz->n_types = 1;
			goto done;
		}
		rc_err_set(err, ENOENT,
			   "unknown time zone \"%s\" (%s not "
			   "readable); use a tz database name such as "
			   "Europe/Berlin",
			   name, path);
		goto out;
	}
	if (parse_tzif(tz, (const unsigned char *)data, len) < 0) {
		rc_err_set(err, EINVAL,
			   "time zone file %s is damaged or not "
			   "a TZif file; reinstall tzdata",
			   path);
		goto out;
	}
done:
	*out = tz;
	tz = NULL;
	ret = 0;
out:
	tz_free(tz);
	free(path);
	free(data);
	return ret;
}

void tz_free(struct tz *tz)
{
	if (!tz)
		return;
	free(tz->name);
	free(tz->trans);
	free(tz->trans_type);
	free(tz->utoff);
	free(tz);
}

const char *tz_name(const struct tz *tz)
{
	return tz->name;
}

/* Index of the last transition at or before t, or -1. */
static ssize_t last_at_or_before(const struct tz *tz, int64_t t)
{
	size_t lo = 0, hi = tz->n_trans;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (tz->trans[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ssize_t)lo - 1;
}

/* Table lookup, then the footer rule after the last transition (RFC 8536
 * section 3.2); before the first transition, local time type 0. */
int tz_offset(const struct tz *tz, int64_t t)
{
	ssize_t i;

	if (tz->n_trans == 0)
		return tz->has_rule ? rule_offset(tz, t) : tz->utoff[0];
	i = last_at_or_before(tz, t);
	if (i < 0)
		return tz->utoff[0];
	if ((size_t)i == tz->n_trans - 1 && tz->has_rule)
		return rule_offset(tz, t);
	return tz->utoff[tz->trans_type[i]];
}

int64_t tz_next_transition(const struct tz *tz, int64_t t)
{
	ssize_t i = last_at_or_before(tz, t);

	if ((size_t)(i + 1) < tz->n_trans)
		return tz->trans[i + 1];
	return tz->has_rule ? rule_next(tz, t) : INT64_MAX;
}
