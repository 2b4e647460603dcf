/*
 * notify.h - telling someone when a run ends badly: a JSON POST to the
 * webhook URL of the automation's `notify:` (or server.notify), for the
 * final states it lists (default failed, timed_out, lost).
 *
 * The run lifecycle never waits for a notification: a run listener only
 * puts a message on a bounded in-memory queue (the oldest is dropped, with
 * a log line, when it is full) and one notifier thread delivers them with
 * libcurl, retrying failures (network errors and non-2xx answers) with
 * exponential backoff and jitter: about 1s, 2s, 4s ... up to the
 * configured number of attempts.  Every notification and its outcome is a
 * row of the store's notifications table, one per (run, URL); pending ones
 * are picked up again after a restart.
 *
 * The message: {"event": "run.finished", "run_id", "automation", "state",
 * "exit_code", "reason", "user", "started_at", "finished_at", "url"} where
 * url is the run's API address.
 */
#ifndef RUNCELL_NOTIFY_H
#define RUNCELL_NOTIFY_H

#include <jansson.h>

#include "runs.h"
#include "store.h"
#include "util.h"

struct notifier;

/*
 * Create the notifier and register its run listener.  Call after runs_open
 * and before runs_start (listeners are registered before the scheduler
 * runs); also initializes libcurl, so call it before other threads use
 * curl.  st and rs are borrowed; the configuration is read through
 * runs_config(rs) when a run ends.
 */
int notify_open(struct store *st, struct runs *rs, struct notifier **out,
		struct rc_err *err);

/* Start delivering.  base_url ("http://127.0.0.1:8080") makes each
 * message's run URL.  Pending notifications left by an earlier process are
 * queued again. */
int notify_start(struct notifier *n, const char *base_url, struct rc_err *err);

/* Stop the thread (an attempt in flight finishes first, bounded by its
 * timeout) and free the notifier.  Call after runs_close, since the run
 * listener uses it.  NULL is fine. */
void notify_close(struct notifier *n);

/* The notifications of run_id as JSON for GET /api/v1/runs/{id}/
 * notifications (new reference), or NULL with *err filled. */
json_t *notify_list_json(struct store *st, const char *run_id,
			 struct rc_err *err);

#endif
