/*
 * jsontime.c - RFC 3339 times for JSON answers.
 */
#include "jsontime.h"

#include "util.h"

json_t *json_time(int64_t ms)
{
	char ts[32];

	if (ms <= 0)
		return json_null();
	time_rfc3339(ms, ts);
	return json_string(ts);
}
