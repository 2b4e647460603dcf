/*
 * store.h - durable state: runs, users, API tokens and the audit trail.
 *
 * One interface, several backends chosen by configuration (like redis ae.c
 * and its ae_epoll.c): src/store/sqlite.c today, PostgreSQL later.  All
 * functions are safe to call from several threads at once; a backend
 * serializes internally as it needs.  Every state transition is written
 * before it is reported to anyone (see DESIGN.md "States").
 *
 * Ownership: structs filled by store_* getters own their strings; release
 * them with store_run_clear() / store_runs_free() etc.
 */
#ifndef RUNCELL_STORE_H
#define RUNCELL_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

enum run_state {
	RUN_QUEUED,
	RUN_STARTING,
	RUN_RUNNING,
	RUN_SUCCEEDED,
	RUN_FAILED,
	RUN_TIMED_OUT,
	RUN_CANCELLED,
	RUN_LOST,
};

#define RUN_ID_LEN 17 /* "r" + 16 hex characters */

struct run {
	int64_t seq; /* store order; the paging cursor */
	char id[RUN_ID_LEN + 1];
	char *automation;
	char *user;
	char *parameters; /* JSON object text, normalized */
	char *argv;	  /* JSON array text */
	char *executor;
	char *handle; /* executor's handle, NULL until started */
	enum run_state state;
	bool has_exit_code;
	int exit_code;
	char *reason;	    /* why it ended as it did, or NULL */
	int64_t created_at; /* ms since epoch; 0 = not yet */
	int64_t started_at;
	int64_t finished_at;
	bool has_usage;
	int64_t cpu_usec;    /* CPU time used by the run */
	int64_t peak_memory; /* bytes */
	bool stop_requested;
	int attempt;		       /* 1 for a first try, n for the nth */
	char retry_of[RUN_ID_LEN + 1]; /* the first try's id, "" if none */
	int64_t not_before; /* ms; a queued run waits until then (0) */
};

/* Filter for store_run_list; NULL/0 fields do not filter. */
struct run_filter {
	const char *automation;
	const char *user;
	int state;	    /* -1 = any */
	bool active_only;   /* queued, starting, running */
	int64_t before_seq; /* 0 = from the newest */
	int limit;	    /* 1..1000 */
};

enum role { ROLE_VIEWER, ROLE_OPERATOR, ROLE_ADMIN };

struct user {
	char *name;
	enum role role;
	int64_t created_at;
	bool disabled;
};

struct token_info {
	int64_t id;
	char *user;
	enum role role; /* the user's role */
	char *label;
	int64_t created_at;
	int64_t last_used_at;
	bool revoked;
};

struct audit_entry {
	int64_t id;
	int64_t at;
	char *actor;
	char *action; /* "run.start", "run.stop", "token.create" ... */
	char *target;
	char *detail; /* JSON text or NULL */
};

struct store;

/* Open the store described by url: "sqlite:/path/to/file.db" or a plain
 * path (SQLite).  Creates the schema if missing. */
int store_open(const char *url, struct store **out, struct rc_err *err);
void store_close(struct store *s);

/* --- runs --- */

/* Insert a new run (state, times and fields as given; seq is assigned and
 * written back).  Fails if the id exists. */
int store_run_insert(struct store *s, struct run *r, struct rc_err *err);

/* Fetch one run by id.  Returns 0 and fills *r, 1 if not found, -1 on
 * error.  Clear *r with store_run_clear. */
int store_run_get(struct store *s, const char *id, struct run *r,
		  struct rc_err *err);

/*
 * Move run id to state to (with the fields of *upd that apply: exit code,
 * reason, times, usage, handle).  The update is refused (returns 1, nothing
 * written) when the run is already in a terminal state or when from_mask
 * does not contain its current state (bit (1 << state)); this is how "a
 * terminal state never changes" is enforced in one place.  Returns 0 when
 * written, -1 on error.
 */
int store_run_transition(struct store *s, const char *id, unsigned from_mask,
			 enum run_state to, const struct run *upd,
			 struct rc_err *err);

/* Record the executor's handle for a run (before its start call returns). */
int store_run_set_handle(struct store *s, const char *id, const char *handle,
			 struct rc_err *err);

/* Mark that a stop was asked for (kept across restarts). */
int store_run_set_stop_requested(struct store *s, const char *id,
				 struct rc_err *err);

/* List runs newest first.  *out is an array of *n runs; free with
 * store_runs_free. */
int store_run_list(struct store *s, const struct run_filter *f,
		   struct run **out, size_t *n, struct rc_err *err);

/* Runs that retention may delete: terminal ones that finished before
 * finished_before (0: none by age), and terminal ones beyond the newest
 * keep_per_automation of their automation (0: no count limit); at most
 * limit, oldest first.  Only the id and automation of each are filled.
 * Free with store_runs_free. */
int store_run_list_expired(struct store *s, int64_t finished_before,
			   int64_t keep_per_automation, int limit,
			   struct run **out, size_t *n, struct rc_err *err);

/* Delete run id, only if it is in a terminal state.  0 deleted, 1 no such
 * terminal run, -1 error. */
int store_run_delete(struct store *s, const char *id, struct rc_err *err);

void store_run_clear(struct run *r);
void store_runs_free(struct run *runs, size_t n);

/* --- users and tokens --- */

/* Create a user (or change the role of an existing one). */
int store_user_put(struct store *s, const char *name, enum role role,
		   struct rc_err *err);
/* 0 found, 1 not found, -1 error. */
int store_user_get(struct store *s, const char *name, struct user *u,
		   struct rc_err *err);
int store_user_list(struct store *s, struct user **out, size_t *n,
		    struct rc_err *err);
void store_user_clear(struct user *u);
int store_user_count(struct store *s, int64_t *n, struct rc_err *err);
/* Disable (or enable again) a user: a disabled user's tokens are refused.
 * 0 done, 1 no such user, -1 error. */
int store_user_set_disabled(struct store *s, const char *name, bool disabled,
			    struct rc_err *err);
/* A user's web sign-in password, as the argon2id string that
 * crypto_pwhash_str made (never the password itself); NULL clears it.
 * 0 done, 1 no such user, -1 error. */
int store_user_set_password(struct store *s, const char *name, const char *hash,
			    struct rc_err *err);
/* Read it back: *hash is the caller's to free, NULL when the user has no
 * password.  0 found, 1 no such user, -1 error. */
int store_user_get_password(struct store *s, const char *name, char **hash,
			    struct rc_err *err);

/* Create a token for user: *token_out receives the secret (shown once,
 * caller frees); only its SHA-256 hash is stored. */
int store_token_create(struct store *s, const char *user, const char *label,
		       char **token_out, int64_t *id_out, struct rc_err *err);
/* Look up a presented token.  0 and *ti filled if valid (not revoked,
 * user not disabled), 1 if unknown, -1 on error. */
int store_token_check(struct store *s, const char *token, struct token_info *ti,
		      struct rc_err *err);
/* 0 revoked, 1 no such token. */
int store_token_revoke(struct store *s, int64_t id, struct rc_err *err);
int store_token_list(struct store *s, struct token_info **out, size_t *n,
		     struct rc_err *err);
void store_token_clear(struct token_info *t);

/* --- audit --- */

int store_audit_add(struct store *s, const char *actor, const char *action,
		    const char *target, const char *detail_json,
		    struct rc_err *err);
/* Newest first; before_id 0 = from the newest. */
int store_audit_list(struct store *s, int64_t before_id, int limit,
		     struct audit_entry **out, size_t *n, struct rc_err *err);
void store_audit_free(struct audit_entry *a, size_t n);

/* --- schedule ticks --- */

/*
 * Claim the tick of automation's schedule at fire_time (ms since the
 * epoch).  The store keeps (automation, fire_time) unique, so exactly one
 * claimer ever wins, across restarts and replicas: 0 claimed (the caller
 * starts the run), 1 already claimed, -1 error.
 */
int store_tick_claim(struct store *s, const char *automation, int64_t fire_time,
		     struct rc_err *err);

/* Record what came of a claimed tick: the run it started, or the error
 * that kept it from starting (either may be NULL).  0 done, 1 no such
 * tick, -1 error. */
int store_tick_finish(struct store *s, const char *automation,
		      int64_t fire_time, const char *run_id, const char *error,
		      struct rc_err *err);

/* The latest claimed fire time of automation into *fire_time: 0 found,
 * 1 never claimed, -1 error. */
int store_tick_last(struct store *s, const char *automation, int64_t *fire_time,
		    struct rc_err *err);

/* --- notifications --- */

/* One webhook notification about a run's end, and how its delivery went.
 * Strings are owned; clear with store_notification_clear. */
struct notification {
	int64_t id;
	char *run_id;
	char *url;
	char *status; /* "pending", "delivered" or "failed" */
	int attempts;
	char *last_error; /* NULL when the last attempt worked */
	int64_t created_at;
	int64_t updated_at;   /* 0 = never attempted */
	int64_t delivered_at; /* 0 = not delivered */
};

/* Record a pending notification of run_id to url; *id_out receives its
 * id.  (run_id, url) is unique: 0 added, 1 it exists already, -1 error. */
int store_notification_add(struct store *s, const char *run_id, const char *url,
			   int64_t *id_out, struct rc_err *err);

/* Write nt's status, attempts, last_error and delivered_at (by nt->id).
 * 0 done, 1 no such notification, -1 error. */
int store_notification_update(struct store *s, const struct notification *nt,
			      struct rc_err *err);

/* The notifications of run_id, oldest first; with run_id NULL, the
 * pending ones of every run (at most 1000).  Free with
 * store_notifications_free. */
int store_notification_list(struct store *s, const char *run_id,
			    struct notification **out, size_t *n,
			    struct rc_err *err);
void store_notification_clear(struct notification *nt);
void store_notifications_free(struct notification *nts, size_t n);

/* --- names --- */

const char *run_state_name(enum run_state st);
/* -1 if unknown. */
int run_state_parse(const char *name);
bool run_state_terminal(enum run_state st);
const char *role_name(enum role r);
int role_parse(const char *name); /* -1 if unknown */

#define RUN_MASK(st) (1u << (st))
#define RUN_MASK_ACTIVE \
	(RUN_MASK(RUN_QUEUED) | RUN_MASK(RUN_STARTING) | RUN_MASK(RUN_RUNNING))

#endif
