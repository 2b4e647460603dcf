/*
 * backend.h - the interface between store.c and one storage backend.
 *
 * store.c owns the public functions of store.h: it checks arguments, applies
 * the policy (which fields a transition writes, list limits, how tokens are
 * made and hashed, when a token's last use is recorded) and then calls the
 * backend through a struct store_ops.  A backend only reads and writes rows;
 * it never sees a token's secret, only its hash.  src/store/sqlite.c and
 * src/store/postgres.c each fill in a struct store_ops.
 *
 * A backend allocates its own handle with a struct store as its FIRST member
 * and hands back a pointer to that member; every op receives it again.
 * Every op must be safe to call from several threads at once.
 *
 * Return values follow store.h: 0 done, 1 "no such row" / "refused" where
 * the public function documents it, -1 with *err filled.
 */
#ifndef RUNCELL_STORE_BACKEND_H
#define RUNCELL_STORE_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "../store.h"

/* The common head of every backend's handle. */
struct store {
	const struct store_ops *ops;
};

/*
 * One state change, already reduced by store.c to the columns it writes.
 * The backend applies it in a single statement, and only to a row whose
 * current state's bit is set in allowed_mask (terminal states are never in
 * it).
 */
struct store_transition {
	enum run_state to;
	unsigned allowed_mask;	 /* from_mask minus the terminal states */
	int64_t set_started_at;	 /* > 0: write started_at */
	int64_t fill_started_at; /* > 0: write started_at if it is NULL */
	const char *handle;	 /* non-NULL: write handle */
	bool finish;		 /* write the end-of-run fields below */
	int64_t finished_at;
	bool has_exit_code; /* false: exit_code becomes NULL */
	int exit_code;
	const char *reason; /* NULL: reason becomes NULL */
	bool has_usage;	    /* false: usage columns left as they are */
	int64_t cpu_usec;
	int64_t peak_memory;
};

/* A token row as the backend finds it by hash; store.c decides validity. */
struct store_token_row {
	struct token_info info;
	bool user_disabled;
};

struct store_ops {
	const char *name;

	/* target is the backend-specific part of the store URL (a file path
	 * for SQLite).  Creates the schema if missing. */
	int (*open)(const char *target, struct store **out, struct rc_err *err);
	void (*close)(struct store *s);

	/* Runs.  run_insert writes r->seq back.  run_list receives a filter
	 * whose limit is already clamped and whose before_seq is 0 or > 0. */
	int (*run_insert)(struct store *s, struct run *r, struct rc_err *err);
	int (*run_get)(struct store *s, const char *id, struct run *r,
		       struct rc_err *err);
	int (*run_transition)(struct store *s, const char *id,
			      const struct store_transition *t,
			      struct rc_err *err);
	int (*run_set_handle)(struct store *s, const char *id,
			      const char *handle, struct rc_err *err);
	int (*run_set_stop_requested)(struct store *s, const char *id,
				      struct rc_err *err);
	int (*run_list)(struct store *s, const struct run_filter *f,
			struct run **out, size_t *n, struct rc_err *err);
	/* Retention: see store_run_list_expired and store_run_delete. */
	int (*run_list_expired)(struct store *s, int64_t finished_before,
				int64_t keep_per_automation, int limit,
				struct run **out, size_t *n,
				struct rc_err *err);
	int (*run_delete)(struct store *s, const char *id, struct rc_err *err);

	/* Users. */
	int (*user_put)(struct store *s, const char *name, enum role role,
			int64_t now, struct rc_err *err);
	int (*user_get)(struct store *s, const char *name, struct user *u,
			struct rc_err *err);
	int (*user_list)(struct store *s, struct user **out, size_t *n,
			 struct rc_err *err);
	int (*user_count)(struct store *s, int64_t *n, struct rc_err *err);
	int (*user_set_disabled)(struct store *s, const char *name,
				 bool disabled, struct rc_err *err);
	/* Password hashes (argon2id strings made by the caller).  Both
	 * return 1 when the user does not exist; get sets *hash to NULL
	 * when the user has no password. */
	int (*user_set_password)(struct store *s, const char *name,
				 const char *hash, struct rc_err *err);
	int (*user_get_password)(struct store *s, const char *name, char **hash,
				 struct rc_err *err);

	/* Tokens, by the hex SHA-256 of their secret.  token_insert returns 1
	 * when the user does not exist.  token_find returns 1 when no token
	 * has that hash (or its user is gone). */
	int (*token_insert)(struct store *s, const char *user,
			    const char *label, const char *hash, int64_t now,
			    int64_t *id_out, struct rc_err *err);
	int (*token_find)(struct store *s, const char *hash,
			  struct store_token_row *row, struct rc_err *err);
	int (*token_touch)(struct store *s, int64_t id, int64_t now,
			   struct rc_err *err);
	int (*token_revoke)(struct store *s, int64_t id, struct rc_err *err);
	int (*token_list)(struct store *s, struct token_info **out, size_t *n,
			  struct rc_err *err);

	/* Audit.  limit is already clamped; before_id is 0 or > 0. */
	int (*audit_add)(struct store *s, int64_t at, const char *actor,
			 const char *action, const char *target,
			 const char *detail_json, struct rc_err *err);
	int (*audit_list)(struct store *s, int64_t before_id, int limit,
			  struct audit_entry **out, size_t *n,
			  struct rc_err *err);

	/* Schedule ticks and notifications (see store.h).  tick_claim
	 * returns 1 when the tick is already claimed; notification_add
	 * returns 1 when (run_id, url) exists; notification_list with a NULL
	 * run_id lists pending notifications of every run. */
	int (*tick_claim)(struct store *s, const char *automation,
			  int64_t fire_time, int64_t now, struct rc_err *err);
	int (*tick_finish)(struct store *s, const char *automation,
			   int64_t fire_time, const char *run_id,
			   const char *error, struct rc_err *err);
	int (*tick_last)(struct store *s, const char *automation,
			 int64_t *fire_time, struct rc_err *err);
	int (*notification_add)(struct store *s, const char *run_id,
				const char *url, int64_t now, int64_t *id_out,
				struct rc_err *err);
	int (*notification_update)(struct store *s,
				   const struct notification *nt, int64_t now,
				   struct rc_err *err);
	int (*notification_list)(struct store *s, const char *run_id,
				 struct notification **out, size_t *n,
				 struct rc_err *err);
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_postgres_ops;

#endif
