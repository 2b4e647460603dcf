/*
 * sqlite_int.h - what the parts of the SQLite store backend share: the
 * store handle, the statement ids, and the helpers that run statements
 * (sqlite_stmt.c).  sqlite_schema.c opens and closes the database and
 * keeps its schema current; sqlite.c holds the run, user and token ops and
 * the ops table; sqlite_records.c the audit, schedule tick and
 * notification ops.  Nothing outside src/store/sqlite*.c includes this
 * file.
 *
 * Every op takes b->lock around all its statements; the helpers below
 * expect the caller to hold it.
 */
#ifndef RUNCELL_STORE_SQLITE_INT_H
#define RUNCELL_STORE_SQLITE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "backend.h"

#define RUN_COLS                                                          \
	"seq, id, automation, user, parameters, argv, executor, handle,"  \
	" state, exit_code, reason, created_at, started_at, finished_at," \
	" cpu_usec, peak_memory, stop_requested, attempt, retry_of,"      \
	" not_before"

/* The statements of the ops; their text is stmt_sql in sqlite_stmt.c. */
enum stmt_id {
	ST_RUN_INSERT,
	ST_RUN_GET,
	ST_RUN_TRANSITION,
	ST_RUN_SET_HANDLE,
	ST_RUN_SET_STOP,
	ST_USER_PUT,
	ST_USER_GET,
	ST_USER_LIST,
	ST_USER_COUNT,
	ST_USER_SET_DISABLED,
	ST_USER_SET_PASSWORD,
	ST_USER_GET_PASSWORD,
	ST_TOKEN_INSERT,
	ST_TOKEN_FIND,
	ST_TOKEN_TOUCH,
	ST_TOKEN_REVOKE,
	ST_TOKEN_LIST,
	ST_AUDIT_ADD,
	ST_AUDIT_LIST,
	ST_RUN_EXPIRED,
	ST_RUN_DELETE,
	ST_TICK_CLAIM,
	ST_TICK_FINISH,
	ST_TICK_LAST,
	ST_NOTE_ADD,
	ST_NOTE_UPDATE,
	ST_NOTE_LIST,
	ST_NOTE_PENDING,
	ST_COUNT
};

/* Run-list statements differ by which filters they hold; one cached
 * statement per combination of these bits. */
enum {
	LF_AUTOMATION = 1,
	LF_USER = 2,
	LF_STATE = 4,
	LF_ACTIVE = 8,
	LF_COUNT = 16
};

struct sqlite_store {
	struct store base; /* must stay first */
	sqlite3 *db;
	char *path;
	pthread_mutex_t lock;
	sqlite3_stmt *stmts[ST_COUNT];
	sqlite3_stmt *list_stmts[LF_COUNT];
};

static inline struct sqlite_store *sq(struct store *s)
{
	return (struct sqlite_store *)s;
}

/* --- sqlite_stmt.c --- */

/* Fill *err from the connection's last error (errno from rc: EBUSY,
 * EEXIST for a constraint, ENOSPC, EACCES, ENOMEM, else EIO); returns
 * -1. */
int sq_db_fail(struct sqlite_store *b, int rc, const char *what,
	       struct rc_err *err);

/* The prepared statement for id, prepared on first use and kept until
 * close.  NULL with *err filled on failure. */
sqlite3_stmt *sq_stmt_get(struct sqlite_store *b, enum stmt_id id,
			  struct rc_err *err);

/* Reset a used statement and clear its bindings.  NULL is fine. */
void sq_stmt_done(sqlite3_stmt *st);

/* Binders return true on failure so that they can be or-ed together.
 * Values are bound SQLITE_STATIC: the statement must be reset (by
 * sq_stmt_done) before the caller's strings go away.  NULL text and a
 * time <= 0 are bound as NULL. */
bool sq_bind_text(sqlite3_stmt *st, int i, const char *v);
bool sq_bind_i64(sqlite3_stmt *st, int i, int64_t v);
bool sq_bind_time(sqlite3_stmt *st, int i, int64_t v);

/* Column i as a new string (xstrdup; NULL for SQL NULL) the caller frees,
 * and whether column i is NULL. */
char *sq_col_text(sqlite3_stmt *st, int i);
bool sq_col_null(sqlite3_stmt *st, int i);

/* Run a statement that returns no row (bad: a bind failed).  Returns the
 * number of rows it changed, or -1. */
int sq_step_write(struct sqlite_store *b, sqlite3_stmt *st, bool bad,
		  const char *what, struct rc_err *err);

/* Step a statement that returns at most one row: 0 a row is ready to be
 * read, 1 there is none, -1 error. */
int sq_step_one(struct sqlite_store *b, sqlite3_stmt *st, bool bad,
		const char *what, struct rc_err *err);

/* Reads one row into one element of a result array, and frees one. */
typedef int (*sq_row_fill_fn)(sqlite3_stmt *st, void *elem, struct rc_err *err);
typedef void (*sq_row_clear_fn)(void *elem);

/* Step a statement to its end, one element of size bytes per row.  On
 * success *out (NULL without rows, else the caller frees it) holds *n
 * elements; on failure nothing is left allocated.  out must point to a
 * void *. */
int sq_step_all(struct sqlite_store *b, sqlite3_stmt *st, bool bad, size_t size,
		sq_row_fill_fn fill, sq_row_clear_fn clear, void **out,
		size_t *n, const char *what, struct rc_err *err);

/* --- sqlite_schema.c: the ops open and close of store_sqlite_ops --- */

int sqlite_open(const char *target, struct store **out, struct rc_err *err);
void sqlite_close(struct store *s);

/* --- sqlite_records.c: ops of store_sqlite_ops (see backend.h) --- */

int sqlite_audit_add(struct store *s, int64_t at, const char *actor,
		     const char *action, const char *target,
		     const char *detail_json, struct rc_err *err);
int sqlite_audit_list(struct store *s, int64_t before_id, int limit,
		      struct audit_entry **out, size_t *n, struct rc_err *err);
int sqlite_tick_claim(struct store *s, const char *automation,
		      int64_t fire_time, int64_t now, struct rc_err *err);
int sqlite_tick_finish(struct store *s, const char *automation,
		       int64_t fire_time, const char *run_id, const char *error,
		       struct rc_err *err);
int sqlite_tick_last(struct store *s, const char *automation,
		     int64_t *fire_time, struct rc_err *err);
int sqlite_notification_add(struct store *s, const char *run_id,
			    const char *url, int64_t now, int64_t *id_out,
			    struct rc_err *err);
int sqlite_notification_update(struct store *s, const struct notification *nt,
			       int64_t now, struct rc_err *err);
int sqlite_notification_list(struct store *s, const char *run_id,
			     struct notification **out, size_t *n,
			     struct rc_err *err);

#endif
