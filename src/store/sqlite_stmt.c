/*
 * sqlite_stmt.c - running statements for the SQLite store: the text of
 * every statement the ops use, each prepared once on first use and kept;
 * binding values (always bound, never written into SQL text); stepping
 * through no, one or many rows; and SQLite result codes as errno values.
 */
#include "sqlite_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TERMINAL_STATES_SQL \
	"('succeeded', 'failed', 'timed_out', 'cancelled', 'lost')"

/*
 * The bit of a row's state in a run_state mask.  The names must match
 * run_state_name(); test_transition_every_state checks each of them.  An
 * unknown name maps to a bit no mask has, so such a row never changes;
 * terminal rows never change because store.c leaves their bits out of the
 * mask.
 */
#define STATE_BIT_SQL                                            \
	"CASE state WHEN 'queued' THEN 0 WHEN 'starting' THEN 1" \
	" WHEN 'running' THEN 2 WHEN 'succeeded' THEN 3"         \
	" WHEN 'failed' THEN 4 WHEN 'timed_out' THEN 5"          \
	" WHEN 'cancelled' THEN 6 WHEN 'lost' THEN 7 ELSE 62 END"

#define NOTE_COLS                                                    \
	"id, run_id, url, status, attempts, last_error, created_at," \
	" updated_at, delivered_at"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_RUN_INSERT] =
		"INSERT INTO runs (id, automation, user, parameters, argv,"
		" executor, handle, state, exit_code, reason, created_at,"
		" started_at, finished_at, cpu_usec, peak_memory,"
		" stop_requested, attempt, retry_of, not_before)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
		" ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
	[ST_RUN_GET] = "SELECT " RUN_COLS " FROM runs WHERE id = ?1",
	[ST_RUN_TRANSITION] =
		"UPDATE runs SET"
		" state = ?2,"
		" handle = COALESCE(?3, handle),"
		" started_at = COALESCE(?4, started_at, ?5),"
		" finished_at = CASE WHEN ?6 THEN ?7 ELSE finished_at END,"
		" exit_code = CASE WHEN ?6 THEN ?8 ELSE exit_code END,"
		" reason = CASE WHEN ?6 THEN ?9 ELSE reason END,"
		" cpu_usec = CASE WHEN ?6 AND ?10 THEN ?11"
		" ELSE cpu_usec END,"
		" peak_memory = CASE WHEN ?6 AND ?10 THEN ?12"
		" ELSE peak_memory END"
		" WHERE id = ?1 AND ((?13 >> (" STATE_BIT_SQL ")) & 1) = 1",
	[ST_RUN_SET_HANDLE] = "UPDATE runs SET handle = ?2 WHERE id = ?1",
	[ST_RUN_SET_STOP] = "UPDATE runs SET stop_requested = 1 WHERE id = ?1",
	[ST_USER_PUT] =
		"INSERT INTO users (name, role, created_at, disabled)"
		" VALUES (?1, ?2, ?3, 0)"
		" ON CONFLICT (name) DO UPDATE SET role = excluded.role",
	[ST_USER_GET] = "SELECT name, role, created_at, disabled FROM users"
			" WHERE name = ?1",
	[ST_USER_LIST] = "SELECT name, role, created_at, disabled FROM users"
			 " ORDER BY name",
	[ST_USER_COUNT] = "SELECT count(*) FROM users",
	[ST_USER_SET_DISABLED] =
		"UPDATE users SET disabled = ?2 WHERE name = ?1",
	[ST_USER_SET_PASSWORD] =
		"UPDATE users SET password_hash = ?2 WHERE name = ?1",
	[ST_USER_GET_PASSWORD] =
		"SELECT password_hash FROM users WHERE name = ?1",
	[ST_TOKEN_INSERT] =
		"INSERT INTO tokens (user, label, hash, created_at, revoked)"
		" SELECT name, ?2, ?3, ?4, 0 FROM users WHERE name = ?1",
	[ST_TOKEN_FIND] = "SELECT t.id, t.user, u.role, t.label, t.created_at,"
			  " t.last_used_at, t.revoked, u.disabled"
			  " FROM tokens t JOIN users u ON u.name = t.user"
			  " WHERE t.hash = ?1",
	[ST_TOKEN_TOUCH] = "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1"
			   " AND (last_used_at IS NULL OR last_used_at < ?2)",
	[ST_TOKEN_REVOKE] = "UPDATE tokens SET revoked = 1 WHERE id = ?1",
	[ST_TOKEN_LIST] = "SELECT t.id, t.user, u.role, t.label, t.created_at,"
			  " t.last_used_at, t.revoked, u.disabled"
			  " FROM tokens t LEFT JOIN users u ON u.name = t.user"
			  " ORDER BY t.id",
	[ST_AUDIT_ADD] = "INSERT INTO audit (at, actor, action, target, detail)"
			 " VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_AUDIT_LIST] =
		"SELECT id, at, actor, action, target, detail FROM audit"
		" WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
	[ST_RUN_EXPIRED] =
		"SELECT seq, id, automation FROM ("
		" SELECT seq, id, automation, finished_at, ROW_NUMBER() OVER"
		" (PARTITION BY automation ORDER BY seq DESC) AS rn"
		" FROM runs WHERE state IN " TERMINAL_STATES_SQL ")"
		" WHERE (?1 > 0 AND finished_at < ?1) OR (?2 > 0 AND rn > ?2)"
		" ORDER BY seq LIMIT ?3",
	[ST_RUN_DELETE] =
		"DELETE FROM runs WHERE id = ?1 AND state IN " TERMINAL_STATES_SQL,
	[ST_TICK_CLAIM] =
		"INSERT INTO schedule_ticks (automation, fire_time, claimed_at)"
		" VALUES (?1, ?2, ?3)"
		" ON CONFLICT (automation, fire_time) DO NOTHING",
	[ST_TICK_FINISH] = "UPDATE schedule_ticks SET run_id = ?3, error = ?4"
			   " WHERE automation = ?1 AND fire_time = ?2",
	[ST_TICK_LAST] = "SELECT max(fire_time) FROM schedule_ticks"
			 " WHERE automation = ?1",
	[ST_NOTE_ADD] =
		"INSERT INTO notifications (run_id, url, status, attempts,"
		" created_at) VALUES (?1, ?2, 'pending', 0, ?3)"
		" ON CONFLICT (run_id, url) DO NOTHING",
	[ST_NOTE_UPDATE] =
		"UPDATE notifications SET status = ?2, attempts = ?3,"
		" last_error = ?4, delivered_at = ?5, updated_at = ?6"
		" WHERE id = ?1",
	[ST_NOTE_LIST] = "SELECT " NOTE_COLS
			 " FROM notifications WHERE run_id = ?1"
			 " ORDER BY id",
	[ST_NOTE_PENDING] = "SELECT " NOTE_COLS " FROM notifications"
			    " WHERE status = 'pending' ORDER BY id LIMIT 1000",
};

static int errno_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return EBUSY;
	case SQLITE_CONSTRAINT:
		return EEXIST;
	case SQLITE_FULL:
		return ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_CANTOPEN:
		return EACCES;
	case SQLITE_NOMEM:
		return ENOMEM;
	default:
		return EIO;
	}
}

/* Fill *err from the connection's last error; returns -1. */
int sq_db_fail(struct sqlite_store *b, int rc, const char *what,
	       struct rc_err *err)
{
	return rc_err_set(err, errno_of(rc), "%s: %s", what,
			  sqlite3_errmsg(b->db));
}

/* The prepared statement for id, prepared on first use.  Caller holds the
 * lock.  NULL with *err filled on failure. */
sqlite3_stmt *sq_stmt_get(struct sqlite_store *b, enum stmt_id id,
			  struct rc_err *err)
{
	int rc;

	if (!b->stmts[id]) {
		rc = sqlite3_prepare_v3(b->db, stmt_sql[id], -1,
					SQLITE_PREPARE_PERSISTENT,
					&b->stmts[id], NULL);
		if (rc != SQLITE_OK) {
			sq_db_fail(b, rc, "preparing a statement", err);
			b->stmts[id] = NULL;
			return NULL;
		}
	}
	return b->stmts[id];
}

/* Make a used statement ready again.  NULL is fine. */
void sq_stmt_done(sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

/* Binders return true on failure so that they can be or-ed together.
 * Values are bound SQLITE_STATIC: every op resets its statement before the
 * caller's strings can go away. */
bool sq_bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (!v)
		return sqlite3_bind_null(st, i) != SQLITE_OK;
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) != SQLITE_OK;
}

bool sq_bind_i64(sqlite3_stmt *st, int i, int64_t v)
{
	return sqlite3_bind_int64(st, i, v) != SQLITE_OK;
}

/* A time, or NULL for 0. */
bool sq_bind_time(sqlite3_stmt *st, int i, int64_t v)
{
	if (v <= 0)
		return sqlite3_bind_null(st, i) != SQLITE_OK;
	return sq_bind_i64(st, i, v);
}

char *sq_col_text(sqlite3_stmt *st, int i)
{
	return xstrdup((const char *)sqlite3_column_text(st, i));
}

bool sq_col_null(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL;
}

/* Run a statement that returns no row, whose values were just bound (bad:
 * a bind failed).  Returns the number of rows it changed, or -1. */
int sq_step_write(struct sqlite_store *b, sqlite3_stmt *st, bool bad,
		  const char *what, struct rc_err *err)
{
	int rc;

	if (bad)
		return rc_err_set(err, EINVAL, "%s: cannot bind a value", what);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return sq_db_fail(b, rc, what, err);
	return sqlite3_changes(b->db);
}

/* Step a statement that returns at most one row: 0 a row is ready to be
 * read, 1 there is none, -1 error. */
int sq_step_one(struct sqlite_store *b, sqlite3_stmt *st, bool bad,
		const char *what, struct rc_err *err)
{
	int rc;

	if (bad)
		return rc_err_set(err, EINVAL, "%s: cannot bind a value", what);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return 1;
	return sq_db_fail(b, rc, what, err);
}

/*
 * Step a statement to its end, filling an array of elements of size bytes,
 * one per row.  On success *out (NULL when there are no rows, else freed by
 * the caller) holds *n elements; on failure nothing is left allocated.
 * out must point to a void * (callers convert it to their element type).
 */
int sq_step_all(struct sqlite_store *b, sqlite3_stmt *st, bool bad, size_t size,
		sq_row_fill_fn fill, sq_row_clear_fn clear, void **out,
		size_t *n, const char *what, struct rc_err *err)
{
	char *arr = NULL;
	size_t count = 0, cap = 0, i;
	int rc, ret = -1;

	if (bad) {
		ret = rc_err_set(err, EINVAL, "%s: cannot bind a value", what);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? 2 * cap : 16;
			arr = xrealloc(arr, cap * size);
		}
		memset(arr + count * size, 0, size);
		if (fill(st, arr + count * size, err) < 0)
			goto out;
		count++;
	}
	if (rc != SQLITE_DONE) {
		ret = sq_db_fail(b, rc, what, err);
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		for (i = 0; i < count; i++)
			clear(arr + i * size);
		free(arr);
		arr = NULL;
		count = 0;
	}
	*out = arr;
	*n = count;
	return ret;
}
