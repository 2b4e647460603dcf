/*
 * test_cron.c - unit tests for cron.c and tz.c: a table of expressions and
 * the fire times they must produce (month ends, leap days, names, lists,
 * ranges, steps, the Vixie day-of-month/day-of-week rule), daylight saving
 * changes in Europe/Berlin and America/New_York in both directions, times
 * past the end of the zone files' transition tables, catch-up look-back,
 * and invalid expressions refused with clear messages.
 *
 * Times in the tables are UTC; the comments give the wall time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cron.h"
#include "tz.h"
#include "util.h"

/* "2024-03-31T01:00" (UTC) to seconds since the epoch. */
static int64_t utc(const char *s)
{
	int y, mo, d, h, mi;

	if (sscanf(s, "%d-%d-%dT%d:%d", &y, &mo, &d, &h, &mi) != 5)
		fail_msg("bad time in test: %s", s);
	return tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static void fmt(int64_t t, char out[32])
{
	int64_t y;
	int m, d;

	tz_civil_from_days(t / 86400, &y, &m, &d);
	snprintf(out, 32, "%04lld-%02d-%02dT%02d:%02d", (long long)y, m, d,
		 (int)(t % 86400 / 3600), (int)(t % 3600 / 60));
}

static struct tz *zone(const char *name)
{
	struct tz *tz;
	struct rc_err err;

	rc_err_clear(&err);
	if (tz_load(name, &tz, &err) < 0)
		fail_msg("tz_load(%s): %s", name, err.msg);
	return tz;
}

struct case_ {
	const char *zone;
	const char *expr;
	const char *after;
	const char *expect[6]; /* successive fire times, NULL-ended */
};

static const struct case_ cases[] = {
	/* Basics, lists, ranges, steps. */
	{ "UTC",
	  "*/15 * * * *",
	  "2024-01-01T00:07",
	  { "2024-01-01T00:15", "2024-01-01T00:30", "2024-01-01T00:45",
	    "2024-01-01T01:00" } },
	{ "UTC",
	  "* * * * *",
	  "2024-12-31T23:59",
	  { "2025-01-01T00:00", "2025-01-01T00:01" } },
	{ "UTC",
	  "5,10,50 * * * *",
	  "2024-01-01T00:07",
	  { "2024-01-01T00:10", "2024-01-01T00:50", "2024-01-01T01:05" } },
	{ "UTC",
	  "0 8-18/5 * * *",
	  "2024-01-01T09:00",
	  { "2024-01-01T13:00", "2024-01-01T18:00", "2024-01-02T08:00" } },
	{ "UTC",
	  "10/20 * * * *",
	  "2024-01-01T00:00",
	  { "2024-01-01T00:10", "2024-01-01T00:30", "2024-01-01T00:50",
	    "2024-01-01T01:10" } },
	{ "UTC",
	  "0 22-23,0-1 * * *",
	  "2024-01-01T02:00",
	  { "2024-01-01T22:00", "2024-01-01T23:00", "2024-01-02T00:00",
	    "2024-01-02T01:00", "2024-01-02T22:00" } },
	/* Month ends: the 31st only in 31-day months. */
	{ "UTC",
	  "0 0 31 * *",
	  "2024-01-31T00:00",
	  { "2024-03-31T00:00", "2024-05-31T00:00", "2024-07-31T00:00",
	    "2024-08-31T00:00", "2024-10-31T00:00" } },
	{ "UTC",
	  "0 12 30 * *",
	  "2024-01-31T00:00",
	  { "2024-03-30T12:00", "2024-04-30T12:00" } },
	/* Leap days: Feb 29 only in leap years; 2100 is not one. */
	{ "UTC",
	  "0 0 29 2 *",
	  "2024-03-01T00:00",
	  { "2028-02-29T00:00", "2032-02-29T00:00" } },
	{ "UTC", "0 0 29 2 *", "2096-03-01T00:00", { "2104-02-29T00:00" } },
	{ "UTC", "0 0 28 2 *", "2023-02-28T00:00", { "2024-02-28T00:00" } },
	/* Names, case-insensitive; 7 and 0 are Sunday. */
	{ "UTC",
	  "30 9 * jan-mar mon-fri",
	  "2024-03-29T10:00",
	  { "2025-01-01T09:30", "2025-01-02T09:30", "2025-01-03T09:30",
	    "2025-01-06T09:30" } },
	{ "UTC",
	  "0 12 * * 7",
	  "2024-01-01T00:00",
	  { "2024-01-07T12:00", "2024-01-14T12:00" } },
	{ "UTC", "0 12 * * SUN", "2024-01-01T00:00", { "2024-01-07T12:00" } },
	{ "UTC",
	  "0 0 * * 5-7",
	  "2024-01-01T00:00",
	  { "2024-01-05T00:00", "2024-01-06T00:00", "2024-01-07T00:00",
	    "2024-01-12T00:00" } },
	{ "UTC",
	  "0 0 1 Jun,DEC *",
	  "2024-01-01T00:00",
	  { "2024-06-01T00:00", "2024-12-01T00:00", "2025-06-01T00:00" } },
	/* Vixie: both day fields restricted -> either matches. */
	{ "UTC",
	  "0 0 13 * fri",
	  "2024-01-01T00:00",
	  { "2024-01-05T00:00", "2024-01-12T00:00", "2024-01-13T00:00",
	    "2024-01-19T00:00" } },
	/* ... but a day field starting with '*' makes it AND. */
	{ "UTC",
	  "0 0 */13 * fri",
	  "2024-01-01T00:00",
	  { "2024-03-01T00:00", "2024-06-14T00:00", "2024-09-27T00:00" } },
	/* Shorthands. */
	{ "UTC", "@hourly", "2024-01-01T00:30", { "2024-01-01T01:00" } },
	{ "UTC", "@daily", "2024-01-01T00:30", { "2024-01-02T00:00" } },
	{ "UTC", "@midnight", "2024-01-01T00:30", { "2024-01-02T00:00" } },
	{ "UTC", "@weekly", "2024-01-01T00:30", { "2024-01-07T00:00" } },
	{ "UTC", "@monthly", "2024-01-01T00:30", { "2024-02-01T00:00" } },
	{ "UTC", "@yearly", "2024-01-01T00:30", { "2025-01-01T00:00" } },
	{ "UTC", "@annually", "2024-01-01T00:30", { "2025-01-01T00:00" } },
	/* Berlin, spring forward 2024-03-31 02:00 CET -> 03:00 CEST
	 * (01:00 UTC).  02:30 does not exist: a fixed-time job runs at
	 * 03:00 CEST, once, then normally the next day. */
	{ "Europe/Berlin",
	  "30 2 * * *",
	  "2024-03-29T12:00",
	  { "2024-03-30T01:30", "2024-03-31T01:00", "2024-04-01T00:30" } },
	/* Several skipped times still fire once. */
	{ "Europe/Berlin",
	  "0,15,30,45 2 * * *",
	  "2024-03-30T23:00",
	  { "2024-03-31T01:00", "2024-04-01T00:00" } },
	/* 03:00 itself exists and fires once. */
	{ "Europe/Berlin",
	  "0 3 * * *",
	  "2024-03-30T12:00",
	  { "2024-03-31T01:00", "2024-04-01T01:00" } },
	/* Wildcard jobs follow elapsed time: nothing in the gap. */
	{ "Europe/Berlin",
	  "*/30 * * * *",
	  "2024-03-31T00:15",
	  { "2024-03-31T00:30", "2024-03-31T01:00", "2024-03-31T01:30" } },
	/* Berlin, fall back 2024-10-27 03:00 CEST -> 02:00 CET (01:00 UTC).
	 * 02:30 happens twice: a fixed-time job runs at the first. */
	{ "Europe/Berlin",
	  "30 2 * * *",
	  "2024-10-26T12:00",
	  { "2024-10-27T00:30", "2024-10-28T01:30" } },
	/* Wildcard jobs run in both passes of the repeated hour. */
	{ "Europe/Berlin",
	  "*/30 * * * *",
	  "2024-10-27T00:15",
	  { "2024-10-27T00:30", "2024-10-27T01:00", "2024-10-27T01:30",
	    "2024-10-27T02:00" } },
	/* After the zone file's table ends (2037): the footer rule.
	 * 2040-03-25 is the last Sunday of March. */
	{ "Europe/Berlin",
	  "30 2 * * *",
	  "2040-03-24T12:00",
	  { "2040-03-25T01:00", "2040-03-26T00:30" } },
	{ "Europe/Berlin",
	  "0 12 1 7 *",
	  "2050-01-01T00:00",
	  { "2050-07-01T10:00" } },
	/* New York, spring forward 2024-03-10 02:00 EST -> 03:00 EDT
	 * (07:00 UTC). */
	{ "America/New_York",
	  "30 2 * * *",
	  "2024-03-09T12:00",
	  { "2024-03-10T07:00", "2024-03-11T06:30" } },
	{ "America/New_York",
	  "0 9 * * mon-fri",
	  "2024-03-08T12:00",
	  { "2024-03-08T14:00", "2024-03-11T13:00" } },
	/* New York, fall back 2024-11-03 02:00 EDT -> 01:00 EST (06:00
	 * UTC): 01:30 happens twice. */
	{ "America/New_York",
	  "30 1 * * *",
	  "2024-11-02T12:00",
	  { "2024-11-03T05:30", "2024-11-04T06:30" } },
	{ "America/New_York",
	  "0 * * * *",
	  "2024-11-03T04:30",
	  { "2024-11-03T05:00", "2024-11-03T06:00", "2024-11-03T07:00" } },
	{ "America/New_York",
	  "0 0 * * *",
	  "2024-07-01T12:00",
	  { "2024-07-02T04:00" } },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct case_ *k = &cases[i];
		struct tz *tz = zone(k->zone);
		struct cron *c;
		struct rc_err err;
		int64_t t = utc(k->after), next;
		char got[32];

		rc_err_clear(&err);
		if (cron_parse(k->expr, &c, &err) < 0)
			fail_msg("parse \"%s\": %s", k->expr, err.msg);
		for (int j = 0; k->expect[j]; j++) {
			if (cron_next(c, tz, t, &next, &err) < 0)
				fail_msg("\"%s\" in %s after %s: %s", k->expr,
					 k->zone, k->after, err.msg);
			fmt(next, got);
			if (next != utc(k->expect[j]))
				fail_msg("\"%s\" in %s after %s: fire %d is "
					 "%s, want %s",
					 k->expr, k->zone, k->after, j + 1, got,
					 k->expect[j]);
			t = next;
		}
		cron_free(c);
		tz_free(tz);
	}
}

/* Every minute over a whole fall-back day in Berlin: each wall time of a
 * fixed-time job fires exactly once. */
static void test_fall_back_fires_once_per_wall_time(void **state)
{
	struct tz *tz = zone("Europe/Berlin");
	struct cron *c;
	struct rc_err err;
	int64_t t = utc("2024-10-26T22:00") - 60;
	int64_t end = utc("2024-10-27T23:00");
	int count = 0;

	(void)state;
	assert_int_equal(cron_parse("*/10 0-23 * * *", &c, &err), 0);
	/* minute starts with '*': wildcard, so 24 + 1 hours of fires */
	while (cron_next(c, tz, t, &t, &err) == 0 && t < end)
		count++;
	assert_int_equal(count, 25 * 6);
	cron_free(c);
	assert_int_equal(cron_parse("0,10,20,30,40,50 0-23 * * *", &c, &err),
			 0);
	t = utc("2024-10-26T22:00") - 60;
	count = 0;
	while (cron_next(c, tz, t, &t, &err) == 0 && t < end)
		count++;
	assert_int_equal(count, 24 * 6);
	cron_free(c);
	tz_free(tz);
}

static void test_last_in(void **state)
{
	struct tz *tz = zone("UTC");
	struct cron *c;
	struct rc_err err;
	int64_t out;

	(void)state;
	assert_int_equal(cron_parse("* * * * *", &c, &err), 0);
	assert_int_equal(cron_last_in(c, tz, utc("2024-01-01T00:00"),
				      utc("2024-01-01T00:05") + 30, &out, &err),
			 0);
	assert_true(out == utc("2024-01-01T00:05"));
	/* lo itself is excluded, hi included. */
	assert_int_equal(cron_last_in(c, tz, utc("2024-01-01T00:05"),
				      utc("2024-01-01T00:05") + 59, &out, &err),
			 1);
	assert_int_equal(cron_last_in(c, tz, utc("2024-01-01T00:04"),
				      utc("2024-01-01T00:05"), &out, &err),
			 0);
	assert_true(out == utc("2024-01-01T00:05"));
	cron_free(c);
	assert_int_equal(cron_parse("0 0 29 2 *", &c, &err), 0);
	assert_int_equal(cron_last_in(c, tz, utc("2017-01-01T00:00"),
				      utc("2024-03-05T00:00"), &out, &err),
			 0);
	assert_true(out == utc("2024-02-29T00:00"));
	assert_int_equal(cron_last_in(c, tz, utc("2024-03-01T00:00"),
				      utc("2027-03-05T00:00"), &out, &err),
			 1);
	cron_free(c);
	tz_free(tz);
}

static const struct {
	const char *expr;
	const char *words;
} bad[] = {
	{ "", "needs 5" },
	{ "* * * *", "has 4 fields" },
	{ "* * * * * *", "more than 5" },
	{ "60 * * * *", "minute field \"60\": 60 is out of range 0-59" },
	{ "* 24 * * *", "hour field \"24\": 24 is out of range 0-23" },
	{ "* * 0 * *", "day-of-month field \"0\": 0 is out of range 1-31" },
	{ "* * 32 * *", "out of range 1-31" },
	{ "* * * 13 *", "month field \"13\": 13 is out of range 1-12" },
	{ "* * * * 8", "day-of-week field \"8\": 8 is out of range 0-7" },
	{ "5-2 * * * *", "runs backwards" },
	{ "*/0 * * * *", "step must be a number from 1 to 59" },
	{ "*/ * * * *", "step must be" },
	{ "a * * * *", "expected a number" },
	{ "* * * foo *", "month field \"foo\": unknown name; use jan..dec" },
	{ "* * * * funday", "unknown name; use sun..sat" },
	{ "1,,2 * * * *", "empty list entry" },
	{ "1-2-3 * * * *", "unexpected \"-3\"" },
	{ "0 0 30 2 *", "never fires" },
	{ "0 0 31 4,6,9,11 *", "never fires" },
	{ "@reboot", "unknown shorthand" },
	{ "@daily extra", "unknown shorthand" },
	{ "1.5 * * * *", "unexpected \".5\"" },
};

static void test_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cron *c = NULL;
		struct rc_err err;

		rc_err_clear(&err);
		if (cron_parse(bad[i].expr, &c, &err) == 0)
			fail_msg("\"%s\" was accepted", bad[i].expr);
		assert_null(c);
		if (!strstr(err.msg, bad[i].words))
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"",
				 bad[i].expr, err.msg, bad[i].words);
	}
}

static void test_valid_corners(void **state)
{
	static const char *const ok[] = {
		"0 0 29 2 *",
		"0 0 31 * *",
		"0 0 30 2 mon",
		" 0  0 * * *\t",
		"0-59/59 0-23/23 1-31/30 1-12/11 0-7/7",
		"*/59 * * * *",
		"0 0 * * 0,7",
		"@HOURLY",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct cron *c;
		struct rc_err err;

		rc_err_clear(&err);
		if (cron_parse(ok[i], &c, &err) < 0)
			fail_msg("\"%s\" refused: %s", ok[i], err.msg);
		cron_free(c);
	}
}

static void test_fixed_time_flag(void **state)
{
	struct cron *c;
	struct rc_err err;

	(void)state;
	assert_int_equal(cron_parse("30 2 * * *", &c, &err), 0);
	assert_true(cron_is_fixed_time(c));
	cron_free(c);
	assert_int_equal(cron_parse("@hourly", &c, &err), 0);
	assert_false(cron_is_fixed_time(c));
	cron_free(c);
	assert_int_equal(cron_parse("*/5 3 * * *", &c, &err), 0);
	assert_false(cron_is_fixed_time(c));
	cron_free(c);
}

static void test_zones(void **state)
{
	struct tz *tz;
	struct rc_err err;

	(void)state;
	tz = zone("Europe/Berlin");
	assert_int_equal(tz_offset(tz, utc("2024-01-15T12:00")), 3600);
	assert_int_equal(tz_offset(tz, utc("2024-07-15T12:00")), 7200);
	assert_int_equal(tz_offset(tz, utc("2060-07-15T12:00")), 7200);
	assert_int_equal(tz_offset(tz, utc("2060-12-15T12:00")), 3600);
	assert_true(tz_next_transition(tz, utc("2024-03-01T00:00")) ==
		    utc("2024-03-31T01:00"));
	assert_true(tz_next_transition(tz, utc("2060-03-01T00:00")) ==
		    utc("2060-03-28T01:00"));
	assert_string_equal(tz_name(tz), "Europe/Berlin");
	tz_free(tz);
	tz = zone("America/New_York");
	assert_int_equal(tz_offset(tz, utc("2024-01-15T12:00")), -5 * 3600);
	assert_int_equal(tz_offset(tz, utc("2024-07-15T12:00")), -4 * 3600);
	tz_free(tz);
	tz = zone("UTC");
	assert_int_equal(tz_offset(tz, utc("2024-07-15T12:00")), 0);
	tz_free(tz);
	rc_err_clear(&err);
	assert_int_equal(tz_load("Mars/Olympus_Mons", &tz, &err), -1);
	assert_non_null(strstr(err.msg, "unknown time zone"));
	assert_int_equal(tz_load("../../etc/passwd", &tz, &err), -1);
	assert_non_null(strstr(err.msg, "not a tz database name"));
	assert_int_equal(tz_load("/etc/localtime", &tz, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_fall_back_fires_once_per_wall_time),
		cmocka_unit_test(test_last_in),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_valid_corners),
		cmocka_unit_test(test_fixed_time_flag),
		cmocka_unit_test(test_zones),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
