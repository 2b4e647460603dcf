/*
 * jsontime.h - times in JSON answers: RFC 3339 UTC strings, null when
 * unset.
 */
#ifndef RUNCELL_JSONTIME_H
#define RUNCELL_JSONTIME_H

#include <stdint.h>

#include <jansson.h>

/* ms since the epoch as an RFC 3339 string, or JSON null when ms <= 0.
 * Returns a new reference. */
json_t *json_time(int64_t ms);

#endif
