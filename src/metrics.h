/*
 * metrics.h - the service's counters for GET /metrics, rendered in the
 * Prometheus text format (version 0.0.4).
 *
 * Counters and histograms live in memory and count from the start of this
 * process: a restart sets them back to zero (Prometheus handles that as a
 * counter reset).  Runs re-adopted after a restart are counted when they
 * finish but not as started.  Everything here is safe to call from any
 * thread.
 */
#ifndef RUNCELL_METRICS_H
#define RUNCELL_METRICS_H

#include <stddef.h>

#include "store.h"

struct metrics;

/* A new, empty set of metrics; free with metrics_free. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/*
 * A runs listener (runs_add_listener(rs, metrics_on_run, m)): counts a run
 * from its record after each state change.  starting: queue wait; running:
 * started, request-to-start latency; terminal: finished by state, duration,
 * CPU time, peak memory.
 */
void metrics_on_run(void *ctx, const struct run *r);

/* Count one answered HTTP request.  route is the matched pattern
 * ("/api/v1/runs/{id}"), or NULL for none ("unmatched"). */
void metrics_http_request(struct metrics *m, const char *route, int status);

/* The whole exposition, with the current queued and running counts as
 * gauges.  Returns a new NUL-terminated string (caller frees); *len (may
 * be NULL) receives its length. */
char *metrics_render(struct metrics *m, int queued, int running, size_t *len);

/* Append value to b as a Prometheus label value (quotes not included):
 * backslash, double quote and newline are escaped. */
void metrics_escape_label(struct buf *b, const char *value);

#endif
