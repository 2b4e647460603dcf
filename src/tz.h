/*
 * tz.h - time zones from the tz database, without touching TZ.
 *
 * Schedules are computed in a named zone ("Europe/Berlin") while other
 * threads run.  Switching the process-wide TZ variable and calling tzset()
 * is not safe then (setenv races every getenv, and localtime_r in other
 * threads would see the switched zone), so this module reads the zone's
 * TZif file (RFC 8536) itself: its table of transitions, and the POSIX TZ
 * rule in its footer for times after the last transition.  A loaded zone is
 * immutable and may be shared by any number of threads.
 *
 * Times are seconds since the epoch (UTC); "wall" times are the same count
 * with the zone's offset added, i.e. the local civil time read as if it
 * were UTC.
 */
#ifndef RUNCELL_TZ_H
#define RUNCELL_TZ_H

#include <stdint.h>

#include "util.h"

struct tz;

/*
 * Load zone name ("UTC", "Europe/Berlin") from $TZDIR or
 * /usr/share/zoneinfo.  "UTC" works without the database.  Names must be
 * relative paths inside the database (no "..", no leading '/').  On success
 * *out is a new zone (free with tz_free); on failure -1 with err->msg
 * saying what to change (errno ENOENT for an unknown zone, EINVAL for a
 * damaged file).
 */
int tz_load(const char *name, struct tz **out, struct rc_err *err);

/* Free a zone; NULL is fine. */
void tz_free(struct tz *tz);

/* The name the zone was loaded under (borrowed). */
const char *tz_name(const struct tz *tz);

/* The zone's offset from UTC at instant t, in seconds east of Greenwich
 * (Berlin in winter: 3600). */
int tz_offset(const struct tz *tz, int64_t t);

/* The first instant after t at which the zone's offset may change, or
 * INT64_MAX if it never does again.  (A transition that only renames the
 * zone counts too; callers just look again from there.) */
int64_t tz_next_transition(const struct tz *tz, int64_t t);

/* Civil calendar arithmetic (proleptic Gregorian): days since 1970-01-01
 * for a date, and back.  m is 1..12, d is 1..31. */
int64_t tz_days_from_civil(int64_t y, int m, int d);
void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* Days in month m (1..12) of year y. */
int tz_month_days(int64_t y, int m);

#endif
