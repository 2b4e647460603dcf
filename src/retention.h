/*
 * retention.h - removing old runs, and cutting oversized logs to their
 * head and tail.
 *
 * A background thread wakes every server.retention.interval and deletes
 * terminal runs that finished longer than max_age ago, and terminal runs
 * beyond the newest max_runs_per_automation of their automation: the
 * store record, the log file and the work folder.  Active runs are never
 * touched.  The settings are read from the current configuration at each
 * pass, so a reload applies from the next pass.
 */
#ifndef RUNCELL_RETENTION_H
#define RUNCELL_RETENTION_H

#include <stdint.h>

#include "runs.h"
#include "store.h"
#include "util.h"

struct retention;

/* Start the retention thread over the runs of rs in st.  Both are borrowed
 * and must outlive retention_stop. */
int retention_start(struct runs *rs, struct store *st, struct retention **out,
		    struct rc_err *err);

/* Stop the thread (waits for a pass in progress) and free it; NULL is
 * fine. */
void retention_stop(struct retention *rt);

/* Run one pass now (also used by the thread).  Returns the number of runs
 * deleted, or -1 with *err filled. */
int retention_pass(struct runs *rs, struct store *st, struct rc_err *err);

/*
 * If the file at path is larger than cap bytes, replace it with its first
 * cap/2 bytes, a line "[runcell: N bytes cut]" and its last cap/2 bytes
 * (through a temporary file and a rename, so a reader sees the old or the
 * new file whole).  Returns 1 when cut, 0 when nothing was to do (small or
 * missing file), -1 with *err filled.
 */
int retention_trim_log(const char *path, int64_t cap, struct rc_err *err);

#endif
