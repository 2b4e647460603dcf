/*
 * sqlite_records.c - the SQLite store's ops for what the service records
 * besides runs and accounts: the audit log, the schedule's claimed ticks
 * and the notifications to deliver.
 */
#include "sqlite_int.h"

#include <stdlib.h>
#include <string.h>

/* --- audit --- */

int sqlite_audit_add(struct store *s, int64_t at, const char *actor,
		     const char *action, const char *target,
		     const char *detail_json, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_AUDIT_ADD, err);
	if (!st)
		goto out;
	bad = sq_bind_i64(st, 1, at);
	bad |= sq_bind_text(st, 2, actor);
	bad |= sq_bind_text(st, 3, action);
	bad |= sq_bind_text(st, 4, target);
	bad |= sq_bind_text(st, 5, detail_json);
	ret = sq_step_write(b, st, bad, "writing an audit entry", err);
	if (ret > 0)
		ret = 0;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* Columns: id, at, actor, action, target, detail. */
static int audit_from_row(sqlite3_stmt *st, void *elem, struct rc_err *err)
{
	struct audit_entry *a = elem;

	a->id = sqlite3_column_int64(st, 0);
	a->at = sqlite3_column_int64(st, 1);
	a->actor = sq_col_text(st, 2);
	a->action = sq_col_text(st, 3);
	a->target = sq_col_text(st, 4);
	a->detail = sq_col_text(st, 5);
	return 0;
}

static void audit_clear(void *elem)
{
	struct audit_entry *a = elem;

	free(a->actor);
	free(a->action);
	free(a->target);
	free(a->detail);
}

int sqlite_audit_list(struct store *s, int64_t before_id, int limit,
		      struct audit_entry **out, size_t *n, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	void *arr = NULL;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_AUDIT_LIST, err);
	if (!st)
		goto out;
	bad = sq_bind_i64(st, 1, before_id > 0 ? before_id : INT64_MAX);
	bad |= sq_bind_i64(st, 2, limit);
	ret = sq_step_all(b, st, bad, sizeof(**out), audit_from_row,
			  audit_clear, &arr, n, "listing audit entries", err);
	*out = arr;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* --- schedule ticks --- */

int sqlite_tick_claim(struct store *s, const char *automation,
		      int64_t fire_time, int64_t now, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_TICK_CLAIM, err);
	if (!st)
		goto out;
	bad = sq_bind_text(st, 1, automation);
	bad |= sq_bind_i64(st, 2, fire_time);
	bad |= sq_bind_i64(st, 3, now);
	ret = sq_step_write(b, st, bad, "claiming a schedule tick", err);
	if (ret >= 0)
		ret = ret == 1 ? 0 : 1;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int sqlite_tick_finish(struct store *s, const char *automation,
		       int64_t fire_time, const char *run_id, const char *error,
		       struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_TICK_FINISH, err);
	if (!st)
		goto out;
	bad = sq_bind_text(st, 1, automation);
	bad |= sq_bind_i64(st, 2, fire_time);
	bad |= sq_bind_text(st, 3, run_id);
	bad |= sq_bind_text(st, 4, error);
	ret = sq_step_write(b, st, bad, "recording a schedule tick", err);
	if (ret >= 0)
		ret = ret == 0 ? 1 : 0;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int sqlite_tick_last(struct store *s, const char *automation,
		     int64_t *fire_time, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_TICK_LAST, err);
	if (!st)
		goto out;
	ret = sq_step_one(b, st, sq_bind_text(st, 1, automation),
			  "reading the last schedule tick", err);
	if (ret == 0 && sq_col_null(st, 0))
		ret = 1;
	else if (ret == 0)
		*fire_time = sqlite3_column_int64(st, 0);
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* --- notifications --- */

int sqlite_notification_add(struct store *s, const char *run_id,
			    const char *url, int64_t now, int64_t *id_out,
			    struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_NOTE_ADD, err);
	if (!st)
		goto out;
	bad = sq_bind_text(st, 1, run_id);
	bad |= sq_bind_text(st, 2, url);
	bad |= sq_bind_i64(st, 3, now);
	ret = sq_step_write(b, st, bad, "recording a notification", err);
	if (ret == 1) {
		*id_out = sqlite3_last_insert_rowid(b->db);
		ret = 0;
	} else if (ret == 0) {
		ret = 1;
	}
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int sqlite_notification_update(struct store *s, const struct notification *nt,
			       int64_t now, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, ST_NOTE_UPDATE, err);
	if (!st)
		goto out;
	bad = sq_bind_i64(st, 1, nt->id);
	bad |= sq_bind_text(st, 2, nt->status);
	bad |= sq_bind_i64(st, 3, nt->attempts);
	bad |= sq_bind_text(st, 4, nt->last_error);
	bad |= sq_bind_time(st, 5, nt->delivered_at);
	bad |= sq_bind_i64(st, 6, now);
	ret = sq_step_write(b, st, bad, "recording a notification", err);
	if (ret >= 0)
		ret = ret == 0 ? 1 : 0;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* Columns: NOTE_COLS. */
static int note_from_row(sqlite3_stmt *st, void *elem, struct rc_err *err)
{
	struct notification *nt = elem;

	nt->id = sqlite3_column_int64(st, 0);
	nt->run_id = sq_col_text(st, 1);
	nt->url = sq_col_text(st, 2);
	nt->status = sq_col_text(st, 3);
	nt->attempts = sqlite3_column_int(st, 4);
	nt->last_error = sq_col_null(st, 5) ? NULL : sq_col_text(st, 5);
	nt->created_at = sqlite3_column_int64(st, 6);
	nt->updated_at = sqlite3_column_int64(st, 7);
	nt->delivered_at = sqlite3_column_int64(st, 8);
	return 0;
}

static void note_clear(void *elem)
{
	store_notification_clear(elem);
}

int sqlite_notification_list(struct store *s, const char *run_id,
			     struct notification **out, size_t *n,
			     struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	void *arr = NULL;
	bool bad = false;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = sq_stmt_get(b, run_id ? ST_NOTE_LIST : ST_NOTE_PENDING, err);
	if (!st)
		goto out;
	if (run_id)
		bad = sq_bind_text(st, 1, run_id);
	ret = sq_step_all(b, st, bad, sizeof(**out), note_from_row, note_clear,
			  &arr, n, "listing notifications", err);
	*out = arr;
out:
	sq_stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}
