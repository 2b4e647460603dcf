/*
 * log.c - JSON-lines service log, one {"time","level","message","run_id"?}
 * object per line.  Each line is built whole and written with one write(2)
 * so lines from different threads never interleave.
 */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static enum log_level min_level = LOG_INFO;

void log_set_level(enum log_level min)
{
	min_level = min;
}

static const char *level_name(enum log_level l)
{
	switch (l) {
	case LOG_DEBUG:
		return "debug";
	case LOG_INFO:
		return "info";
	case LOG_WARN:
		return "warn";
	default:
		return "error";
	}
}

void log_msg(enum log_level lvl, const char *run_id, const char *fmt, ...)
{
	char msg[2048], ts[32];
	json_t *o;
	char *line;
	va_list ap;

	if (lvl < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	time_rfc3339(time_now_ms(), ts);
	o = json_pack("{s:s, s:s, s:s}", "time", ts, "level", level_name(lvl),
		      "message", msg);
	if (!o)
		return;
	if (run_id)
		json_object_set_new(o, "run_id", json_string(run_id));
	line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (!line)
		return;
	{
		size_t n = strlen(line);

		line = xrealloc(line, n + 2);
		line[n] = '\n';
		line[n + 1] = '\0';
		write_all(STDERR_FILENO, line, n + 1);
	}
	free(line);
}
