/*
 * sqlite.c - the SQLite store backend (struct store_ops, see backend.h).
 *
 * One connection per store handle, serialized by a mutex held around every
 * op, so that a statement, its error message and a multi-step sequence are
 * never interleaved between threads.  Statements are prepared once and
 * kept; every value is bound, never written into SQL text.
 *
 * Durability and sharing: WAL journal with synchronous=FULL (each commit is
 * on disk before it returns, which is what "every transition is written
 * before it is reported" needs) and a 5 s busy timeout, so another process
 * such as the CLI can write to the same file while the server runs.  The
 * database file is created mode 0600; SQLite gives its -wal and -shm files
 * the same mode.  Its folder is made by the caller.
 *
 * The schema is versioned with PRAGMA user_version: migrations[i] moves a
 * database from version i to i + 1, run inside one IMMEDIATE transaction.
 * Times are ms since the epoch; a time of 0 is stored as NULL.
 *
 * This file holds the run, user and token ops and the ops table.  The
 * rest, shared through sqlite_int.h: sqlite_schema.c (open, close, schema
 * and migrations), sqlite_stmt.c (statement text, binding, stepping,
 * errors) and sqlite_records.c (audit, schedule ticks, notifications).
 */
#include "sqlite_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_role(const char *name)
{
	int r = name ? role_parse(name) : -1;

	/* A role this build does not know grants the least. */
	return r < 0 ? ROLE_VIEWER : r;
}

/* --- runs --- */

static int run_from_row(sqlite3_stmt *st, void *elem, struct rc_err *err)
{
	struct run *r = elem;
	const char *id = (const char *)sqlite3_column_text(st, 1);
	const char *state = (const char *)sqlite3_column_text(st, 8);
	int sv = run_state_parse(state);

	memset(r, 0, sizeof(*r));
	if (sv < 0)
		return rc_err_set(err, EPROTO,
				  "run %s has an unknown state "
				  "\"%s\"",
				  id ? id : "?", state ? state : "");
	r->seq = sqlite3_column_int64(st, 0);
	snprintf(r->id, sizeof(r->id), "%s", id ? id : "");
	r->automation = sq_col_text(st, 2);
	r->user = sq_col_text(st, 3);
	r->parameters = sq_col_text(st, 4);
	r->argv = sq_col_text(st, 5);
	r->executor = sq_col_text(st, 6);
	r->handle = sq_col_text(st, 7);
	r->state = (enum run_state)sv;
	r->has_exit_code = !sq_col_null(st, 9);
	r->exit_code = sqlite3_column_int(st, 9);
	r->reason = sq_col_text(st, 10);
	r->created_at = sqlite3_column_int64(st, 11);
	r->started_at = sqlite3_column_int64(st, 12);
	r->finished_at = sqlite3_column_int64(st, 13);
	r->has_usage = !sq_col_null(st, 14);
	r->cpu_usec = sqlite3_column_int64(st, 14);
	r->peak_memory = sqlite3_column_int64(st, 15);
	r->stop_requested = sqlite3_column_int(st, 16) != 0;
	r->attempt = sq_col_null(st, 17) ? 1 : sqlite3_column_int(st, 17);
	snprintf(r->retry_of, sizeof(r->retry_of), "%s",
		 sq_col_null(st, 18) ?
			 "" :
			 (const char *)sqlite3_column_text(st, 18));
	r->not_before = sqlite3_column_int64(st, 19);
	return 0;
}

static void run_clear(void *elem)
{
	store_run_clear(elem);
}

static int sqlite_run_insert(struct store *s, struct run *r, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int rc, ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_RUN_INSERT, err);
	if (!st)
		goto out;
	bad = sq_bind_text(st, 1, r->id);
	bad |= sq_bind_text(st, 2, r->automation);
	bad |= sq_bind_text(st, 3, r->user);
	bad |= sq_bind_text(st, 4, r->parameters);
	bad |= sq_bind_text(st, 5, r->argv);
	bad |= sq_bind_text(st, 6, r->executor);
	bad |= sq_bind_text(st, 7, r->handle);
	bad |= sq_bind_text(st, 8, run_state_name(r->state));
	if (r->has_exit_code)
		bad |= sq_bind_i64(st, 9, r->exit_code);
	bad |= sq_bind_text(st, 10, r->reason);
	bad |= sq_bind_i64(st, 11, r->created_at);
	bad |= sq_bind_time(st, 12, r->started_at);
	bad |= sq_bind_time(st, 13, r->finished_at);
	if (r->has_usage) {
		bad |= sq_bind_i64(st, 14, r->cpu_usec);
		bad |= sq_bind_i64(st, 15, r->peak_memory);
	}
	bad |= sq_bind_i64(st, 16, r->stop_requested ? 1 : 0);
	bad |= sq_bind_i64(st, 17, r->attempt > 0 ? r->attempt : 1);
	bad |= sq_bind_text(st, 18, r->retry_of[0] ? r->retry_of : NULL);
	bad |= sq_bind_time(st, 19, r->not_before);
	ret = sq_step_write(b, st, bad, "inserting a run", err);
	if (ret < 0) {
		rc = sqlite3_extended_errcode(b->db);
		if (rc == SQLITE_CONSTRAINT_UNIQUE ||
		    rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			rc_err_set(err, EEXIST, "a run with id %s exists",
				   r->id);
		goto out;
	}
	r->seq = sqlite3_last_insert_rowid(b->db);
	ret = 0;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static int sqlite_run_get(struct store *s, const char *id, struct run *r,
			  struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_RUN_GET, err);
	if (!st)
		goto out;
	ret = sq_step_one(b, st, sq_bind_text(st, 1, id), "reading a run", err);
	if (ret == 0)
		ret = run_from_row(st, r, err);
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static int sqlite_run_transition(struct store *s, const char *id,
				 const struct store_transition *t,
				 struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_RUN_TRANSITION, err);
	if (!st)
		goto out;
	bad = sq_bind_text(st, 1, id);
	bad |= sq_bind_text(st, 2, run_state_name(t->to));
	bad |= sq_bind_text(st, 3, t->handle);
	bad |= sq_bind_time(st, 4, t->set_started_at);
	bad |= sq_bind_time(st, 5, t->fill_started_at);
	bad |= sq_bind_i64(st, 6, t->finish ? 1 : 0);
	bad |= sq_bind_time(st, 7, t->finished_at);
	if (t->has_exit_code)
		bad |= sq_bind_i64(st, 8, t->exit_code);
	bad |= sq_bind_text(st, 9, t->reason);
	bad |= sq_bind_i64(st, 10, t->has_usage ? 1 : 0);
	bad |= sq_bind_i64(st, 11, t->cpu_usec);
	bad |= sq_bind_i64(st, 12, t->peak_memory);
	bad |= sq_bind_i64(st, 13, (int64_t)t->allowed_mask);
	ret = sq_step_write(b, st, bad, "writing a run state", err);
	if (ret >= 0)
		ret = ret == 0 ? 1 : 0;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/*
 * Run a one-row UPDATE whose ?1 is key (text) or, when key is NULL, id;
 * ?2 is text when not NULL, else num when num >= 0, else unused.
 * 0 changed, 1 no such row, -1 error.
 */
static int update_one(struct store *s, enum stmt_id sid, const char *key,
		      int64_t id, const char *text, int64_t num,
		      const char *what, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, sid, err);
	if (!st)
		goto out;
	bad = key ? sq_bind_text(st, 1, key) : sq_bind_i64(st, 1, id);
	if (text)
		bad |= sq_bind_text(st, 2, text);
	else if (num >= 0)
		bad |= sq_bind_i64(st, 2, num);
	ret = sq_step_write(b, st, bad, what, err);
	if (ret >= 0)
		ret = ret == 0 ? 1 : 0;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static int sqlite_run_set_handle(struct store *s, const char *id,
				 const char *handle, struct rc_err *err)
{
	return update_one(s, ST_RUN_SET_HANDLE, id, 0, handle, -1,
			  "writing a run handle", err);
}

static int sqlite_run_set_stop_requested(struct store *s, const char *id,
					 struct rc_err *err)
{
	return update_one(s, ST_RUN_SET_STOP, id, 0, NULL, -1,
			  "marking a stop request", err);
}

/* The run-list statement for the filter bits in key, prepared on first
 * use.  Parameters: ?1 before_seq, ?2 limit, ?3 automation, ?4 user,
 * ?5 state, ?6..?8 the active states.  Caller holds the lock. */
static sqlite3_stmt *list_stmt_get(struct sqlite_store *b, unsigned key,
				   struct rc_err *err)
{
	struct buf sql;
	int rc;

	if (b->list_stmts[key])
		return b->list_stmts[key];
	buf_init(&sql, 0);
	buf_appends(&sql, "SELECT " RUN_COLS " FROM runs WHERE seq < ?1");
	if (key & LF_AUTOMATION)
		buf_appends(&sql, " AND automation = ?3");
	if (key & LF_USER)
		buf_appends(&sql, " AND user = ?4");
	if (key & LF_STATE)
		buf_appends(&sql, " AND state = ?5");
	if (key & LF_ACTIVE)
		buf_appends(&sql, " AND state IN (?6, ?7, ?8)");
	buf_appends(&sql, " ORDER BY seq DESC LIMIT ?2");
	rc = sqlite3_prepare_v3(b->db, sql.data, -1, SQLITE_PREPARE_PERSISTENT,
				&b->list_stmts[key], NULL);
	buf_free(&sql);
	if (rc != SQLITE_OK) {
		sq_db_fail(b, rc, "preparing the run list", err);
		b->list_stmts[key] = NULL;
	}
	return b->list_stmts[key];
}

static int sqlite_run_list(struct store *s, const struct run_filter *f,
			   struct run **out, size_t *n, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	void *arr = NULL;
	unsigned key = 0;
	bool bad;
	int ret = -1;

	if (f->automation)
		key |= LF_AUTOMATION;
	if (f->user)
		key |= LF_USER;
	if (f->state >= 0)
		key |= LF_STATE;
	if (f->active_only)
		key |= LF_ACTIVE;

	pthread_mutex_lock(&b->lock);
	st = list_stmt_get(b, key, err);
	if (!st)
		goto out;
	bad = sq_bind_i64(st, 1, f->before_seq > 0 ? f->before_seq : INT64_MAX);
	bad |= sq_bind_i64(st, 2, f->limit);
	if (key & LF_AUTOMATION)
		bad |= sq_bind_text(st, 3, f->automation);
	if (key & LF_USER)
		bad |= sq_bind_text(st, 4, f->user);
	if (key & LF_STATE)
		bad |= sq_bind_text(st, 5, run_state_name(f->state));
	if (key & LF_ACTIVE) {
		bad |= sq_bind_text(st, 6, run_state_name(RUN_QUEUED));
		bad |= sq_bind_text(st, 7, run_state_name(RUN_STARTING));
		bad |= sq_bind_text(st, 8, run_state_name(RUN_RUNNING));
	}
	ret = sq_step_all(b, st, bad, sizeof(**out), run_from_row, run_clear,
			  &arr, n, "listing runs", err);
	*out = arr;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* Columns: seq, id, automation. */
static int expired_from_row(sqlite3_stmt *st, void *elem, struct rc_err *err)
{
	struct run *r = elem;
	const char *id = (const char *)sqlite3_column_text(st, 1);

	(void)err;
	r->seq = sqlite3_column_int64(st, 0);
	snprintf(r->id, sizeof(r->id), "%s", id ? id : "");
	r->automation = sq_col_text(st, 2);
	return 0;
}

static int sqlite_run_list_expired(struct store *s, int64_t finished_before,
				   int64_t keep_per_automation, int limit,
				   struct run **out, size_t *n,
				   struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	void *arr = NULL;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_RUN_EXPIRED, err);
	if (!st)
		goto out;
	bad = sq_bind_i64(st, 1, finished_before);
	bad |= sq_bind_i64(st, 2, keep_per_automation);
	bad |= sq_bind_i64(st, 3, limit);
	ret = sq_step_all(b, st, bad, sizeof(**out), expired_from_row,
			  run_clear, &arr, n, "listing expired runs", err);
	*out = arr;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static int sqlite_run_delete(struct store *s, const char *id,
			     struct rc_err *err)
{
	return update_one(s, ST_RUN_DELETE, id, 0, NULL, -1, "deleting a run",
			  err);
}

/* --- users --- */

static int sqlite_user_put(struct store *s, const char *name, enum role role,
			   int64_t now, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_USER_PUT, err);
	if (!st)
		goto out;
	bad = sq_bind_text(st, 1, name);
	bad |= sq_bind_text(st, 2, role_name(role));
	bad |= sq_bind_i64(st, 3, now);
	ret = sq_step_write(b, st, bad, "writing a user", err);
	if (ret > 0)
		ret = 0;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* Columns: name, role, created_at, disabled. */
static int user_from_row(sqlite3_stmt *st, void *elem, struct rc_err *err)
{
	struct user *u = elem;

	u->name = sq_col_text(st, 0);
	u->role =
		(enum role)parse_role((const char *)sqlite3_column_text(st, 1));
	u->created_at = sqlite3_column_int64(st, 2);
	u->disabled = sqlite3_column_int(st, 3) != 0;
	return 0;
}

static void user_clear(void *elem)
{
	store_user_clear(elem);
}

static int sqlite_user_get(struct store *s, const char *name, struct user *u,
			   struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_USER_GET, err);
	if (!st)
		goto out;
	ret = sq_step_one(b, st, sq_bind_text(st, 1, name), "reading a user",
			  err);
	if (ret == 0)
		ret = user_from_row(st, u, err);
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static int sqlite_user_list(struct store *s, struct user **out, size_t *n,
			    struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	void *arr = NULL;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_USER_LIST, err);
	if (st) {
		ret = sq_step_all(b, st, false, sizeof(**out), user_from_row,
				  user_clear, &arr, n, "listing users", err);
		*out = arr;
	}
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static int sqlite_user_count(struct store *s, int64_t *n, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_USER_COUNT, err);
	if (!st)
		goto out;
	ret = sq_step_one(b, st, false, "counting users", err);
	if (ret == 0)
		*n = sqlite3_column_int64(st, 0);
	else if (ret == 1)
		ret = rc_err_set(err, EIO, "counting users: no result");
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static int sqlite_user_set_disabled(struct store *s, const char *name,
				    bool disabled, struct rc_err *err)
{
	return update_one(s, ST_USER_SET_DISABLED, name, 0, NULL,
			  disabled ? 1 : 0, "writing a user", err);
}

static int sqlite_user_set_password(struct store *s, const char *name,
				    const char *hash, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_USER_SET_PASSWORD, err);
	if (!st)
		goto out;
	bad = sq_bind_text(st, 1, name);
	bad |= sq_bind_text(st, 2, hash);
	ret = sq_step_write(b, st, bad, "writing a password", err);
	if (ret >= 0)
		ret = ret == 0 ? 1 : 0;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static int sqlite_user_get_password(struct store *s, const char *name,
				    char **hash, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_USER_GET_PASSWORD, err);
	if (!st)
		goto out;
	ret = sq_step_one(b, st, sq_bind_text(st, 1, name),
			  "reading a password", err);
	if (ret == 0)
		*hash = sq_col_null(st, 0) ? NULL : sq_col_text(st, 0);
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* --- tokens --- */

static int sqlite_token_insert(struct store *s, const char *user,
			       const char *label, const char *hash, int64_t now,
			       int64_t *id_out, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_TOKEN_INSERT, err);
	if (!st)
		goto out;
	bad = sq_bind_text(st, 1, user);
	bad |= sq_bind_text(st, 2, label);
	bad |= sq_bind_text(st, 3, hash);
	bad |= sq_bind_i64(st, 4, now);
	ret = sq_step_write(b, st, bad, "writing a token", err);
	if (ret < 0)
		goto out;
	if (ret == 0) {
		ret = 1; /* no such user */
		goto out;
	}
	*id_out = sqlite3_last_insert_rowid(b->db);
	ret = 0;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* Columns: id, user, role, label, created_at, last_used_at, revoked,
 * disabled. */
static int token_from_row(sqlite3_stmt *st, void *elem, struct rc_err *err)
{
	struct store_token_row *row = elem;
	struct token_info *t = &row->info;

	t->id = sqlite3_column_int64(st, 0);
	t->user = sq_col_text(st, 1);
	t->role =
		(enum role)parse_role((const char *)sqlite3_column_text(st, 2));
	t->label = sq_col_text(st, 3);
	t->created_at = sqlite3_column_int64(st, 4);
	t->last_used_at = sqlite3_column_int64(st, 5);
	t->revoked = sqlite3_column_int(st, 6) != 0;
	row->user_disabled = sqlite3_column_int(st, 7) != 0;
	return 0;
}

static int token_info_from_row(sqlite3_stmt *st, void *elem, struct rc_err *err)
{
	struct store_token_row row;

	memset(&row, 0, sizeof(row));
	token_from_row(st, &row, err);
	*(struct token_info *)elem = row.info;
	return 0;
}

static void token_clear(void *elem)
{
	store_token_clear(elem);
}

static int sqlite_token_find(struct store *s, const char *hash,
			     struct store_token_row *row, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_TOKEN_FIND, err);
	if (!st)
		goto out;
	ret = sq_step_one(b, st, sq_bind_text(st, 1, hash),
			  "looking up a token", err);
	if (ret == 0)
		ret = token_from_row(st, row, err);
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static int sqlite_token_touch(struct store *s, int64_t id, int64_t now,
			      struct rc_err *err)
{
	int ret = update_one(s, ST_TOKEN_TOUCH, NULL, id, NULL, now,
			     "recording a token's use", err);

	/* 1: another process recorded a later use first; that is fine. */
	return ret < 0 ? ret : 0;
}

static int sqlite_token_revoke(struct store *s, int64_t id, struct rc_err *err)
{
	return update_one(s, ST_TOKEN_REVOKE, NULL, id, NULL, -1,
			  "revoking a token", err);
}

static int sqlite_token_list(struct store *s, struct token_info **out,
			     size_t *n, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	void *arr = NULL;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_TOKEN_LIST, err);
	if (st) {
		ret = sq_step_all(b, st, false, sizeof(**out),
				  token_info_from_row, token_clear, &arr, n,
				  "listing tokens", err);
		*out = arr;
	}
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.run_insert = sqlite_run_insert,
	.run_get = sqlite_run_get,
	.run_transition = sqlite_run_transition,
	.run_set_handle = sqlite_run_set_handle,
	.run_set_stop_requested = sqlite_run_set_stop_requested,
	.run_list = sqlite_run_list,
	.run_list_expired = sqlite_run_list_expired,
	.run_delete = sqlite_run_delete,
	.user_put = sqlite_user_put,
	.user_get = sqlite_user_get,
	.user_list = sqlite_user_list,
	.user_count = sqlite_user_count,
	.user_set_disabled = sqlite_user_set_disabled,
	.user_set_password = sqlite_user_set_password,
	.user_get_password = sqlite_user_get_password,
	.token_insert = sqlite_token_insert,
	.token_find = sqlite_token_find,
	.token_touch = sqlite_token_touch,
	.token_revoke = sqlite_token_revoke,
	.token_list = sqlite_token_list,
	.audit_add = sqlite_audit_add,
	.audit_list = sqlite_audit_list,
	.tick_claim = sqlite_tick_claim,
	.tick_finish = sqlite_tick_finish,
	.tick_last = sqlite_tick_last,
	.notification_add = sqlite_notification_add,
	.notification_update = sqlite_notification_update,
	.notification_list = sqlite_notification_list,
};
