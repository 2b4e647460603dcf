/*
 * events.h - live fan-out of what runs do: their state changes and the
 * bytes of their logs, to any number of followers (the SSE streams).
 *
 * State changes: every change the run manager reports is kept, as the
 * run's API JSON (secrets masked), in a ring of the most recent
 * EVENTS_STATE_RING changes numbered by a sequence; a follower keeps the
 * number of the last one it saw and asks for the next.
 *
 * Logs: a followed run has one tail, shared by all of its followers.  One
 * tailer thread reads each tail's log file as it grows (every
 * EVENTS_POLL_MS) into a ring of the last EVENTS_LOG_RING bytes and wakes
 * that run's followers.  A follower copies out of the ring; one that has
 * fallen further behind than the ring holds reads the file itself with
 * pread.  Nobody ever waits for a follower: the tailer never blocks on
 * one, and a follower that does not read only stalls its own connection.
 *
 * All functions are thread-safe.
 */
#ifndef RUNCELL_EVENTS_H
#define RUNCELL_EVENTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "runs.h"
#include "secrets.h"
#include "util.h"

#define EVENTS_STATE_RING 4096
#define EVENTS_LOG_RING (1024 * 1024)
#define EVENTS_POLL_MS 10

struct events;
struct events_tail;

/*
 * Create the fan-out for rs (whose log paths it reads) and register it as
 * a listener of rs: call before runs_start.  sec (may be NULL) masks the
 * run JSON.  Starts the tailer thread.  rs and sec are borrowed.
 */
int events_open(struct runs *rs, const struct secrets *sec, struct events **out,
		struct rc_err *err);

/* Make every follower end its stream now (they see events_stopping());
 * call before stopping the HTTP server so that no stream holds it up. */
void events_shutdown(struct events *ev);

/* Stop the tailer and free everything.  No follower may be left (stop the
 * HTTP server first).  NULL is fine. */
void events_close(struct events *ev);

bool events_stopping(struct events *ev);

/* The sequence number of the newest state change (0 before the first). */
uint64_t events_state_head(struct events *ev);

/*
 * The next state change after *after, only of run run_id unless it is
 * NULL.  Returns 1 with *json (the run's JSON text, caller frees) and
 * *terminal filled and *after moved to it; 0 when there is none yet; -1
 * when changes after *after have already left the ring (*after is moved
 * to the oldest one kept: the caller should re-read what it shows).
 * run_id_out (may be NULL) receives the run's id.
 */
int events_state_next(struct events *ev, uint64_t *after, const char *run_id,
		      char **json, bool *terminal,
		      char run_id_out[RUN_ID_LEN + 1]);

/*
 * Wait until something a follower may want has happened: a state change
 * after `after`, or (when t is not NULL) log bytes of t's run past offset,
 * or shutdown; at most timeout_ms.  Returns false on timeout.
 */
bool events_wait(struct events *ev, struct events_tail *t, uint64_t after,
		 int64_t offset, int timeout_ms);

/* Follow run id's log: the run's shared tail, created on first use.
 * Release with events_tail_put. */
struct events_tail *events_tail_get(struct events *ev, const char *run_id);
void events_tail_put(struct events_tail *t);

/*
 * Copy up to max log bytes from file offset `offset` into buf: from the
 * ring when it still holds them, from the file when the follower is
 * behind the ring.  With direct (for a finished run, whose file is
 * complete) bytes the tailer has not reached yet are read from the file
 * too.  Returns the number of bytes (0: none available yet), or -1 on a
 * read error.
 */
ssize_t events_tail_read(struct events_tail *t, int64_t offset, char *buf,
			 size_t max, bool direct);

/* The log file's current size (0 when it does not exist). */
int64_t events_tail_size(struct events_tail *t);

#endif
