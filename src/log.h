/*
 * log.h - the service's own log: one JSON object per line on stderr
 * ({"time","level","message","run_id"?}).  Never pass secrets to it.
 */
#ifndef RUNCELL_LOG_H
#define RUNCELL_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Messages below min are dropped (default LOG_INFO). */
void log_set_level(enum log_level min);

/* Log a message; run_id may be NULL.  Thread-safe (one write per line). */
void log_msg(enum log_level lvl, const char *run_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_info(...) log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, NULL, __VA_ARGS__)

#endif
