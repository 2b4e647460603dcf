/*
 * runs.h - the life of a run: accept (validate, record as queued), start
 * when limits allow, follow the executor's events into the store, stop, and
 * re-adopt active runs after a restart.
 *
 * Thread model: runs_submit/runs_stop are called from HTTP threads; one
 * scheduler thread starts queued runs; executor backends deliver events
 * from their own threads.  Every transition goes through
 * store_run_transition (the one guard of the state machine) before anyone
 * hears of it; listeners are told afterwards.
 */
#ifndef RUNCELL_RUNS_H
#define RUNCELL_RUNS_H

#include <jansson.h>

#include "config.h"
#include "store.h"
#include "util.h"

struct runs;

/* Error numbers runs_* put in err->errnum, which the HTTP layer maps to
 * statuses: ENOENT 404, EINVAL 422, EACCES 403, EALREADY 409, EAGAIN 429,
 * anything else 500. */

/*
 * Open the run manager: open every executor the configuration uses (this
 * forks the local launchers, so call it before any thread exists), and
 * re-adopt the runs the store says are active.  Nothing is started until
 * runs_start().  cfg and st are borrowed and must outlive the manager.
 * A run that ends in a state its automation's `retries.on` lists is run
 * again as a new record (attempt n+1, retry_of = the first attempt's id)
 * after backoff * 2^(n-1), +-20% jitter.
 */
int runs_open(const struct config *cfg, struct store *st, struct runs **out,
	      struct rc_err *err);

/* Start the scheduler thread. */
int runs_start(struct runs *rs, struct rc_err *err);

/* Stop the scheduler and close executors.  Runs on local supervisors and
 * remote engines keep going; a later runs_open re-adopts them. */
void runs_close(struct runs *rs);

/*
 * Accept a run of automation_id with params (JSON object or NULL) for user.
 * role is checked against the automation's allow list.  On success the run
 * is in the store as queued and *out is filled (clear with
 * store_run_clear).  Errors: ENOENT unknown automation, EACCES role not
 * allowed, EINVAL invalid parameters (err->field names the parameter),
 * EAGAIN server.max_queued_runs runs are already queued.  A run over a
 * concurrency limit is never refused: it waits in the queue.
 */
int runs_submit(struct runs *rs, const char *automation_id, json_t *params,
		const char *user, const char *role, struct run *out,
		struct rc_err *err);

/* Ask a run to stop.  A queued run becomes cancelled at once; a starting or
 * running one is stopped through its executor.  Errors: ENOENT no such run,
 * EALREADY already finished. */
int runs_stop(struct runs *rs, const char *id, const char *actor,
	      struct rc_err *err);

/* Where a run's log and work folder live. Caller frees. */
char *runs_log_path(const struct runs *rs, const char *id);
char *runs_work_path(const struct runs *rs, const char *id);

/* Called after every state change of any run (after the store write).
 * Listeners are registered before runs_start and never removed. */
typedef void (*runs_listener_fn)(void *ctx, const struct run *r);
void runs_add_listener(struct runs *rs, runs_listener_fn fn, void *ctx);

/* Secret values runs receive in their environment (each automation's
 * `secrets:`).  Set before runs_start; sec is borrowed. */
struct secrets;
void runs_set_secrets(struct runs *rs, const struct secrets *sec);

/* Counts for health and metrics (active = starting or running). */
void runs_counts(struct runs *rs, int *queued, int *active);

/* Run id's 1-based place in the queue (oldest first), or 0 when it is not
 * queued. */
int runs_queue_position(struct runs *rs, const char *id);

/*
 * The current configuration: the one given to runs_open, or the last one
 * runs_reload accepted.  Every config stays alive until runs_close, so the
 * pointer may be kept for the length of a request or a scheduling pass;
 * read it again for the next one to see a reload.  Borrowed.
 */
const struct config *runs_config(struct runs *rs);

/*
 * Make cfg (just loaded) the current configuration for new runs, for the
 * limits and for the API.  On success the manager owns cfg (freed by
 * runs_close).  Refused (-1, EINVAL, cfg untouched and still the caller's)
 * when server.data_dir or server.store changed, or when an automation
 * names a local executor (process, sandbox) that was not opened at start:
 * those fork a launcher, which is only safe before threads exist.  A
 * remote executor not yet in use is opened here.  Runs already started
 * keep the executor and settings they started with.
 */
int runs_reload(struct runs *rs, struct config *cfg, struct rc_err *err);

/* Start no more queued runs (for serve --drain); they stay queued in the
 * store for the next start. */
void runs_pause(struct runs *rs);

/* Block until run id is terminal or timeout_ms passes (for tests/CLI-free
 * internal use).  Returns 0 when terminal, 1 on timeout. */
int runs_wait(struct runs *rs, const char *id, int64_t timeout_ms);

#endif
