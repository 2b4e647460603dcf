/*
 * runs_int.h - what the two halves of the run manager share: runs.c (the
 * lifecycle: submit, stop, executor events into the store, retries,
 * recovery, reload) and runs_sched.c (the queue and the active set, the
 * limits, and the scheduler thread that starts runs).  Not for use
 * outside src/runs*.c.
 *
 * Locking: rs->mu guards the queue, the active set, the counters and the
 * pending ends; rs->be_mu guards the open backends.  Functions below say
 * which they expect held ("mu held") or take themselves.
 */
#ifndef RUNCELL_RUNS_INT_H
#define RUNCELL_RUNS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "runs.h"

#define MAX_BACKENDS 8
/* The supervisor keeps up to this many times the log cap; at the end the
 * log is cut to its head and tail (retention_trim_log). */
#define LOG_SPOOL_FACTOR 4
/* How often the scheduler writes again a state the store refused. */
#define STORE_RETRY_MS 1000

struct runs_backend {
	char *name;
	struct executor *ex;
};

/* A run that is queued or active, as the scheduler sees it. */
struct runs_slot {
	char id[RUN_ID_LEN + 1];
	char *automation;
	char *user;
	json_t *params;	     /* normalized parameters (own reference) */
	int64_t not_before;  /* ms since epoch; 0 = at once */
	struct executor *ex; /* NULL until start_one picks it */
	char *handle;
	bool started;	   /* start() returned */
	bool stop_pending; /* stop asked before start() returned */
	struct runs_slot *next;
};

/* The end of a run that the store could not record when it happened (the
 * database locked by another process, the disk full): the scheduler writes
 * it again every STORE_RETRY_MS until it is taken, so that a run never
 * stays "running" in the store after it ended. */
struct runs_pending_end {
	char id[RUN_ID_LEN + 1];
	enum run_state state;
	int64_t at;
	bool has_exit_code;
	int exit_code;
	char *reason;
	bool has_usage;
	int64_t cpu_usec;
	int64_t peak_memory;
	struct runs_pending_end *next;
};

struct runs_listener {
	runs_listener_fn fn;
	void *ctx;
};

/* Starter threads: each takes the oldest startable run off the queue and
 * starts it.  Starting waits on the store, the file system and the
 * launcher; several starters keep that latency from capping throughput.
 * Limits are checked and the run moved to the active set under mu before
 * a starter lets go of it, so they hold with any number of starters. */
#define RUNS_STARTERS 4

struct runs {
	const struct config *cfg0; /* the first; data_dir comes from it */
	_Atomic(const struct config *) cur;
	struct config **owned; /* reloaded configs, freed at close */
	size_t n_owned;
	struct store *st;
	const struct secrets *secrets; /* borrowed, may be NULL */

	pthread_mutex_t be_mu; /* guards backends */
	struct runs_backend backends[MAX_BACKENDS];
	size_t n_backends;

	pthread_mutex_t mu;
	pthread_cond_t cond; /* queue, limits or active set changed */
	struct runs_slot *queue_head, *queue_tail;
	struct runs_slot *active;
	int n_queued, n_active;
	int n_reserved; /* submissions between check and insert */
	bool stopping;
	bool paused;   /* --drain: start nothing more */
	int n_threads; /* starter threads running */
	pthread_t threads[RUNS_STARTERS];
	struct runs_pending_end *ends; /* ends to write again (mu) */
	int64_t ends_at;	       /* when to try them next */

	struct runs_listener listeners[8];
	int n_listeners;
};

/* --- runs_sched.c: slots, the queue and the active set --- */

/* A new slot for r (queued or active), with its own copies; parameters
 * that do not parse become {}.  Free with runs_slot_free (NULL is fine). */
struct runs_slot *runs_slot_new(const struct run *r);
void runs_slot_free(struct runs_slot *s);

/* Append s to the queue (mu held). */
void runs_queue_push(struct runs *rs, struct runs_slot *s);

/* Take id's slot out of the queue (mu held); NULL if it is not queued.
 * The caller owns the slot. */
struct runs_slot *runs_queue_remove(struct runs *rs, const char *id);

/* Add s to the active set (mu held); the set owns it. */
void runs_active_push(struct runs *rs, struct runs_slot *s);

/* id's slot in the active set, still owned by it, or NULL (mu held). */
struct runs_slot *runs_active_find(struct runs *rs, const char *id);

/* Drop and free id's slot from the active set, if there, and wake the
 * scheduler.  Takes mu. */
void runs_active_drop(struct runs *rs, const char *id);

/* --- runs.c: used by the scheduler --- */

/* The open backend called name, or NULL.  Takes be_mu. */
struct executor *runs_find_backend(struct runs *rs, const char *name);

/* Tell listeners that id just moved to state, with its record as the
 * store has it.  Call without mu. */
void runs_notify(struct runs *rs, const char *id, enum run_state state);

/* Write terminal state st with reason for active run id without an
 * executor event, then tell listeners and retry if asked.  Nothing
 * happens if the run is not active in the store.  Call without mu. */
void runs_finish_now(struct runs *rs, const char *id, enum run_state st,
		     const char *reason);

/* Write the ends the store refused before, and free list; those it
 * refuses again go back on rs->ends.  Call without mu. */
void runs_retry_ends(struct runs *rs, struct runs_pending_end *list);

#endif
