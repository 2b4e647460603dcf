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
 */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#define BUSY_TIMEOUT_MS 5000

static const char *const migrations[] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE runs ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" id TEXT NOT NULL UNIQUE,"
	" automation TEXT NOT NULL,"
	" user TEXT NOT NULL,"
	" parameters TEXT,"
	" argv TEXT,"
	" executor TEXT NOT NULL,"
	" handle TEXT,"
	" state TEXT NOT NULL,"
	" exit_code INTEGER,"
	" reason TEXT,"
	" created_at INTEGER,"
	" started_at INTEGER,"
	" finished_at INTEGER,"
	" cpu_usec INTEGER,"
	" peak_memory INTEGER,"
	" stop_requested INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX runs_automation_seq ON runs (automation, seq);"
	"CREATE INDEX runs_state ON runs (state);"
	"CREATE INDEX runs_user_seq ON runs (user, seq);"
	"CREATE TABLE users ("
	" name TEXT PRIMARY KEY,"
	" role TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" disabled INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE tokens ("
	" id INTEGER PRIMARY KEY,"
	" user TEXT NOT NULL,"
	" label TEXT NOT NULL DEFAULT '',"
	" hash TEXT NOT NULL UNIQUE,"
	" created_at INTEGER NOT NULL,"
	" last_used_at INTEGER,"
	" revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX tokens_user ON tokens (user);"
	"CREATE TABLE audit ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" at INTEGER NOT NULL,"
	" actor TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" target TEXT,"
	" detail TEXT);"
	"PRAGMA user_version = 1;",
	/* 1 -> 2: web sign-in passwords (argon2id strings, never plain). */
	"ALTER TABLE users ADD COLUMN password_hash TEXT;"
	"PRAGMA user_version = 2;",
	/* 2 -> 3: retries (attempt, retry_of) and backoff (not_before). */
	"ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;"
	"ALTER TABLE runs ADD COLUMN retry_of TEXT;"
	"ALTER TABLE runs ADD COLUMN not_before INTEGER;"
	"CREATE INDEX runs_finished_at ON runs (finished_at);"
	"PRAGMA user_version = 3;",
	/* 3 -> 4: schedule ticks (each claimed once, across restarts and
	 * replicas) and webhook notification outcomes. */
	"CREATE TABLE schedule_ticks ("
	" automation TEXT NOT NULL,"
	" fire_time INTEGER NOT NULL,"
	" claimed_at INTEGER NOT NULL,"
	" run_id TEXT,"
	" error TEXT,"
	" UNIQUE (automation, fire_time));"
	"CREATE TABLE notifications ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" run_id TEXT NOT NULL,"
	" url TEXT NOT NULL,"
	" status TEXT NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" last_error TEXT,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER,"
	" delivered_at INTEGER,"
	" UNIQUE (run_id, url));"
	"CREATE INDEX notifications_status ON notifications (status);"
	"CREATE TRIGGER runs_delete_notifications AFTER DELETE ON runs"
	" BEGIN DELETE FROM notifications WHERE run_id = old.id; END;"
	"PRAGMA user_version = 4;",
};

#define SCHEMA_VERSION \
	((int)(sizeof(migrations) / sizeof(migrations[0])))

#define RUN_COLS \
	"seq, id, automation, user, parameters, argv, executor, handle," \
	" state, exit_code, reason, created_at, started_at, finished_at," \
	" cpu_usec, peak_memory, stop_requested, attempt, retry_of," \
	" not_before"

#define TERMINAL_STATES_SQL \
	"('succeeded', 'failed', 'timed_out', 'cancelled', 'lost')"

/*
 * The bit of a row's state in a run_state mask.  The names must match
 * run_state_name(); test_transition_every_state checks each of them.  An
 * unknown name maps to a bit no mask has, so such a row never changes;
 * terminal rows never change because store.c leaves their bits out of the
 * mask.
 */
#define STATE_BIT_SQL \
	"CASE state WHEN 'queued' THEN 0 WHEN 'starting' THEN 1" \
	" WHEN 'running' THEN 2 WHEN 'succeeded' THEN 3" \
	" WHEN 'failed' THEN 4 WHEN 'timed_out' THEN 5" \
	" WHEN 'cancelled' THEN 6 WHEN 'lost' THEN 7 ELSE 62 END"

#define NOTE_COLS \
	"id, run_id, url, status, attempts, last_error, created_at," \
	" updated_at, delivered_at"

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
	[ST_RUN_SET_STOP] =
		"UPDATE runs SET stop_requested = 1 WHERE id = ?1",
	[ST_USER_PUT] =
		"INSERT INTO users (name, role, created_at, disabled)"
		" VALUES (?1, ?2, ?3, 0)"
		" ON CONFLICT (name) DO UPDATE SET role = excluded.role",
	[ST_USER_GET] =
		"SELECT name, role, created_at, disabled FROM users"
		" WHERE name = ?1",
	[ST_USER_LIST] =
		"SELECT name, role, created_at, disabled FROM users"
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
	[ST_TOKEN_FIND] =
		"SELECT t.id, t.user, u.role, t.label, t.created_at,"
		" t.last_used_at, t.revoked, u.disabled"
		" FROM tokens t JOIN users u ON u.name = t.user"
		" WHERE t.hash = ?1",
	[ST_TOKEN_TOUCH] =
		"UPDATE tokens SET last_used_at = ?2 WHERE id = ?1"
		" AND (last_used_at IS NULL OR last_used_at < ?2)",
	[ST_TOKEN_REVOKE] = "UPDATE tokens SET revoked = 1 WHERE id = ?1",
	[ST_TOKEN_LIST] =
		"SELECT t.id, t.user, u.role, t.label, t.created_at,"
		" t.last_used_at, t.revoked, u.disabled"
		" FROM tokens t LEFT JOIN users u ON u.name = t.user"
		" ORDER BY t.id",
	[ST_AUDIT_ADD] =
		"INSERT INTO audit (at, actor, action, target, detail)"
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
		"DELETE FROM runs WHERE id = ?1 AND state IN "
		TERMINAL_STATES_SQL,
	[ST_TICK_CLAIM] =
		"INSERT INTO schedule_ticks (automation, fire_time, claimed_at)"
		" VALUES (?1, ?2, ?3)"
		" ON CONFLICT (automation, fire_time) DO NOTHING",
	[ST_TICK_FINISH] =
		"UPDATE schedule_ticks SET run_id = ?3, error = ?4"
		" WHERE automation = ?1 AND fire_time = ?2",
	[ST_TICK_LAST] =
		"SELECT max(fire_time) FROM schedule_ticks"
		" WHERE automation = ?1",
	[ST_NOTE_ADD] =
		"INSERT INTO notifications (run_id, url, status, attempts,"
		" created_at) VALUES (?1, ?2, 'pending', 0, ?3)"
		" ON CONFLICT (run_id, url) DO NOTHING",
	[ST_NOTE_UPDATE] =
		"UPDATE notifications SET status = ?2, attempts = ?3,"
		" last_error = ?4, delivered_at = ?5, updated_at = ?6"
		" WHERE id = ?1",
	[ST_NOTE_LIST] =
		"SELECT " NOTE_COLS " FROM notifications WHERE run_id = ?1"
		" ORDER BY id",
	[ST_NOTE_PENDING] =
		"SELECT " NOTE_COLS " FROM notifications"
		" WHERE status = 'pending' ORDER BY id LIMIT 1000",
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
	struct store base;       /* must stay first */
	sqlite3 *db;
	char *path;
	pthread_mutex_t lock;
	sqlite3_stmt *stmts[ST_COUNT];
	sqlite3_stmt *list_stmts[LF_COUNT];
};

static struct sqlite_store *sq(struct store *s)
{
	return (struct sqlite_store *)s;
}

/* --- small helpers --- */

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
static int db_fail(struct sqlite_store *b, int rc, const char *what,
		   struct rc_err *err)
{
	return rc_err_set(err, errno_of(rc), "%s: %s", what,
			  sqlite3_errmsg(b->db));
}

/* The prepared statement for id, prepared on first use.  Caller holds the
 * lock.  NULL with *err filled on failure. */
static sqlite3_stmt *stmt_get(struct sqlite_store *b, enum stmt_id id,
			      struct rc_err *err)
{
	int rc;

	if (!b->stmts[id]) {
		rc = sqlite3_prepare_v3(b->db, stmt_sql[id], -1,
					SQLITE_PREPARE_PERSISTENT,
					&b->stmts[id], NULL);
		if (rc != SQLITE_OK) {
			db_fail(b, rc, "preparing a statement", err);
			b->stmts[id] = NULL;
			return NULL;
		}
	}
	return b->stmts[id];
}

/* Make a used statement ready again.  NULL is fine. */
static void stmt_done(sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

/* Binders return true on failure so that they can be or-ed together.
 * Values are bound SQLITE_STATIC: every op resets its statement before the
 * caller's strings can go away. */
static bool bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (!v)
		return sqlite3_bind_null(st, i) != SQLITE_OK;
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) != SQLITE_OK;
}

static bool bind_i64(sqlite3_stmt *st, int i, int64_t v)
{
	return sqlite3_bind_int64(st, i, v) != SQLITE_OK;
}

/* A time, or NULL for 0. */
static bool bind_time(sqlite3_stmt *st, int i, int64_t v)
{
	if (v <= 0)
		return sqlite3_bind_null(st, i) != SQLITE_OK;
	return bind_i64(st, i, v);
}

static char *col_text(sqlite3_stmt *st, int i)
{
	return xstrdup((const char *)sqlite3_column_text(st, i));
}

static bool col_null(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL;
}

/* Run a statement that returns no row, whose values were just bound (bad:
 * a bind failed).  Returns the number of rows it changed, or -1. */
static int step_write(struct sqlite_store *b, sqlite3_stmt *st, bool bad,
		      const char *what, struct rc_err *err)
{
	int rc;

	if (bad)
		return rc_err_set(err, EINVAL, "%s: cannot bind a value", what);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return db_fail(b, rc, what, err);
	return sqlite3_changes(b->db);
}

/* Step a statement that returns at most one row: 0 a row is ready to be
 * read, 1 there is none, -1 error. */
static int step_one(struct sqlite_store *b, sqlite3_stmt *st, bool bad,
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
	return db_fail(b, rc, what, err);
}

/* Reads one row into one element of a result array, and frees one. */
typedef int (*row_fill_fn)(sqlite3_stmt *st, void *elem, struct rc_err *err);
typedef void (*row_clear_fn)(void *elem);

/*
 * Step a statement to its end, filling an array of elements of size bytes,
 * one per row.  On success *out (NULL when there are no rows, else freed by
 * the caller) holds *n elements; on failure nothing is left allocated.
 * out must point to a void * (callers convert it to their element type).
 */
static int step_all(struct sqlite_store *b, sqlite3_stmt *st, bool bad,
		    size_t size, row_fill_fn fill, row_clear_fn clear,
		    void **out, size_t *n, const char *what,
		    struct rc_err *err)
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
		ret = db_fail(b, rc, what, err);
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

static int parse_role(const char *name)
{
	int r = name ? role_parse(name) : -1;

	/* A role this build does not know grants the least. */
	return r < 0 ? ROLE_VIEWER : r;
}

/* --- open, schema, close --- */

/* Create path mode 0600 if missing and take group/other access away from
 * an existing file. */
static int file_prepare(const char *path, struct rc_err *err)
{
	struct stat st;
	int fd, ret = 0;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return rc_err_set(err, errno, "cannot create %s: %s", path,
				  strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = rc_err_set(err, errno, "stat %s: %s", path,
				 strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = rc_err_set(err, EINVAL, "%s is not a regular file",
				 path);
		goto out;
	}
	if ((st.st_mode & 077) && fchmod(fd, st.st_mode & 0700) < 0)
		ret = rc_err_set(err, errno, "cannot make %s private: %s",
				 path, strerror(errno));
out:
	close(fd);
	return ret;
}

static int exec_sql(struct sqlite_store *b, const char *sql,
		    const char *what, struct rc_err *err)
{
	int rc = sqlite3_exec(b->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return db_fail(b, rc, what, err);
	return 0;
}

static int schema_version(struct sqlite_store *b, int *version,
			  struct rc_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, ret = 0;

	rc = sqlite3_prepare_v2(b->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		ret = db_fail(b, rc, "reading the schema version", err);
		goto out;
	}
	*version = sqlite3_column_int(st, 0);
out:
	sqlite3_finalize(st);
	return ret;
}

/* Bring the schema to SCHEMA_VERSION.  Another process may be doing the
 * same: the version is read again inside the write transaction. */
static int schema_migrate(struct sqlite_store *b, struct rc_err *err)
{
	int version, ret;

	ret = schema_version(b, &version, err);
	if (ret < 0 || version == SCHEMA_VERSION)
		goto check;
	ret = exec_sql(b, "BEGIN IMMEDIATE", "starting the schema update",
		       err);
	if (ret < 0)
		return ret;
	ret = schema_version(b, &version, err);
	while (ret == 0 && version >= 0 && version < SCHEMA_VERSION) {
		ret = exec_sql(b, migrations[version], "updating the schema",
			       err);
		version++;
	}
	if (ret == 0)
		ret = exec_sql(b, "COMMIT", "committing the schema update",
			       err);
	if (ret < 0) {
		sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
		return ret;
	}
check:
	if (ret == 0 && version > SCHEMA_VERSION)
		ret = rc_err_set(err, EPROTO, "the database has schema "
				 "version %d, newer than this runcell knows "
				 "(%d); use a newer runcell", version,
				 SCHEMA_VERSION);
	return ret;
}

static void sqlite_close(struct store *s)
{
	struct sqlite_store *b = sq(s);
	int i;

	if (!b)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(b->stmts[i]);
	for (i = 0; i < LF_COUNT; i++)
		sqlite3_finalize(b->list_stmts[i]);
	sqlite3_close(b->db);
	pthread_mutex_destroy(&b->lock);
	free(b->path);
	free(b);
}

static int sqlite_open(const char *target, struct store **out,
		       struct rc_err *err)
{
	struct sqlite_store *b;
	int rc, ret;

	*out = NULL;
	if (!sqlite3_threadsafe())
		return rc_err_set(err, ENOTSUP, "this SQLite library was "
				  "built without thread support");
	ret = file_prepare(target, err);
	if (ret < 0)
		return ret;

	b = xcalloc(1, sizeof(*b));
	b->path = xstrdup(target);
	pthread_mutex_init(&b->lock, NULL);
	rc = sqlite3_open_v2(target, &b->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (b->db)
			ret = db_fail(b, rc, "opening the database", err);
		else
			ret = rc_err_set(err, ENOMEM, "opening the database: "
					 "out of memory");
		goto out;
	}
	sqlite3_extended_result_codes(b->db, 1);
	sqlite3_busy_timeout(b->db, BUSY_TIMEOUT_MS);

	ret = exec_sql(b, "PRAGMA journal_mode = WAL", "enabling WAL", err);
	if (ret == 0)
		ret = exec_sql(b, "PRAGMA synchronous = FULL",
			       "setting synchronous mode", err);
	if (ret == 0)
		ret = schema_migrate(b, err);
	if (ret < 0)
		goto out;
	*out = &b->base;
	b = NULL;
out:
	if (b)
		sqlite_close(&b->base);
	return ret;
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
		return rc_err_set(err, EPROTO, "run %s has an unknown state "
				  "\"%s\"", id ? id : "?",
				  state ? state : "");
	r->seq = sqlite3_column_int64(st, 0);
	snprintf(r->id, sizeof(r->id), "%s", id ? id : "");
	r->automation = col_text(st, 2);
	r->user = col_text(st, 3);
	r->parameters = col_text(st, 4);
	r->argv = col_text(st, 5);
	r->executor = col_text(st, 6);
	r->handle = col_text(st, 7);
	r->state = (enum run_state)sv;
	r->has_exit_code = !col_null(st, 9);
	r->exit_code = sqlite3_column_int(st, 9);
	r->reason = col_text(st, 10);
	r->created_at = sqlite3_column_int64(st, 11);
	r->started_at = sqlite3_column_int64(st, 12);
	r->finished_at = sqlite3_column_int64(st, 13);
	r->has_usage = !col_null(st, 14);
	r->cpu_usec = sqlite3_column_int64(st, 14);
	r->peak_memory = sqlite3_column_int64(st, 15);
	r->stop_requested = sqlite3_column_int(st, 16) != 0;
	r->attempt = col_null(st, 17) ? 1 : sqlite3_column_int(st, 17);
	snprintf(r->retry_of, sizeof(r->retry_of), "%s",
		 col_null(st, 18) ? "" :
				    (const char *)sqlite3_column_text(st, 18));
	r->not_before = sqlite3_column_int64(st, 19);
	return 0;
}

static void run_clear(void *elem)
{
	store_run_clear(elem);
}

static int sqlite_run_insert(struct store *s, struct run *r,
			     struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int rc, ret = -1;

	pthread_mutex_lock(&b->lock);
	st = stmt_get(b, ST_RUN_INSERT, err);
	if (!st)
		goto out;
	bad = bind_text(st, 1, r->id);
	bad |= bind_text(st, 2, r->automation);
	bad |= bind_text(st, 3, r->user);
	bad |= bind_text(st, 4, r->parameters);
	bad |= bind_text(st, 5, r->argv);
	bad |= bind_text(st, 6, r->executor);
	bad |= bind_text(st, 7, r->handle);
	bad |= bind_text(st, 8, run_state_name(r->state));
	if (r->has_exit_code)
		bad |= bind_i64(st, 9, r->exit_code);
	bad |= bind_text(st, 10, r->reason);
	bad |= bind_i64(st, 11, r->created_at);
	bad |= bind_time(st, 12, r->started_at);
	bad |= bind_time(st, 13, r->finished_at);
	if (r->has_usage) {
		bad |= bind_i64(st, 14, r->cpu_usec);
		bad |= bind_i64(st, 15, r->peak_memory);
	}
	bad |= bind_i64(st, 16, r->stop_requested ? 1 : 0);
	bad |= bind_i64(st, 17, r->attempt > 0 ? r->attempt : 1);
	bad |= bind_text(st, 18, r->retry_of[0] ? r->retry_of : NULL);
	bad |= bind_time(st, 19, r->not_before);
	ret = step_write(b, st, bad, "inserting a run", err);
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
	stmt_done(st);
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
	st = stmt_get(b, ST_RUN_GET, err);
	if (!st)
		goto out;
	ret = step_one(b, st, bind_text(st, 1, id), "reading a run", err);
	if (ret == 0)
		ret = run_from_row(st, r, err);
out:
	stmt_done(st);
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
	st = stmt_get(b, ST_RUN_TRANSITION, err);
	if (!st)
		goto out;
	bad = bind_text(st, 1, id);
	bad |= bind_text(st, 2, run_state_name(t->to));
	bad |= bind_text(st, 3, t->handle);
	bad |= bind_time(st, 4, t->set_started_at);
	bad |= bind_time(st, 5, t->fill_started_at);
	bad |= bind_i64(st, 6, t->finish ? 1 : 0);
	bad |= bind_time(st, 7, t->finished_at);
	if (t->has_exit_code)
		bad |= bind_i64(st, 8, t->exit_code);
	bad |= bind_text(st, 9, t->reason);
	bad |= bind_i64(st, 10, t->has_usage ? 1 : 0);
	bad |= bind_i64(st, 11, t->cpu_usec);
	bad |= bind_i64(st, 12, t->peak_memory);
	bad |= bind_i64(st, 13, (int64_t)t->allowed_mask);
	ret = step_write(b, st, bad, "writing a run state", err);
	if (ret >= 0)
		ret = ret == 0 ? 1 : 0;
out:
	stmt_done(st);
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
	st = stmt_get(b, sid, err);
	if (!st)
		goto out;
	bad = key ? bind_text(st, 1, key) : bind_i64(st, 1, id);
	if (text)
		bad |= bind_text(st, 2, text);
	else if (num >= 0)
		bad |= bind_i64(st, 2, num);
	ret = step_write(b, st, bad, what, err);
	if (ret >= 0)
		ret = ret == 0 ? 1 : 0;
out:
	stmt_done(st);
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
	rc = sqlite3_prepare_v3(b->db, sql.data, -1,
				SQLITE_PREPARE_PERSISTENT,
				&b->list_stmts[key], NULL);
	buf_free(&sql);
	if (rc != SQLITE_OK) {
		db_fail(b, rc, "preparing the run list", err);
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
	bad = bind_i64(st, 1, f->before_seq > 0 ? f->before_seq : INT64_MAX);
	bad |= bind_i64(st, 2, f->limit);
	if (key & LF_AUTOMATION)
		bad |= bind_text(st, 3, f->automation);
	if (key & LF_USER)
		bad |= bind_text(st, 4, f->user);
	if (key & LF_STATE)
		bad |= bind_text(st, 5, run_state_name(f->state));
	if (key & LF_ACTIVE) {
		bad |= bind_text(st, 6, run_state_name(RUN_QUEUED));
		bad |= bind_text(st, 7, run_state_name(RUN_STARTING));
		bad |= bind_text(st, 8, run_state_name(RUN_RUNNING));
	}
	ret = step_all(b, st, bad, sizeof(**out), run_from_row, run_clear,
		       &arr, n, "listing runs", err);
	*out = arr;
out:
	stmt_done(st);
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
	r->automation = col_text(st, 2);
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
	st = stmt_get(b, ST_RUN_EXPIRED, err);
	if (!st)
		goto out;
	bad = bind_i64(st, 1, finished_before);
	bad |= bind_i64(st, 2, keep_per_automation);
	bad |= bind_i64(st, 3, limit);
	ret = step_all(b, st, bad, sizeof(**out), expired_from_row, run_clear,
		       &arr, n, "listing expired runs", err);
	*out = arr;
out:
	stmt_done(st);
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
	st = stmt_get(b, ST_USER_PUT, err);
	if (!st)
		goto out;
	bad = bind_text(st, 1, name);
	bad |= bind_text(st, 2, role_name(role));
	bad |= bind_i64(st, 3, now);
	ret = step_write(b, st, bad, "writing a user", err);
	if (ret > 0)
		ret = 0;
out:
	stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* Columns: name, role, created_at, disabled. */
static int user_from_row(sqlite3_stmt *st, void *elem, struct rc_err *err)
{
	struct user *u = elem;

	u->name = col_text(st, 0);
	u->role = (enum role)parse_role(
		(const char *)sqlite3_column_text(st, 1));
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
	st = stmt_get(b, ST_USER_GET, err);
	if (!st)
		goto out;
	ret = step_one(b, st, bind_text(st, 1, name), "reading a user", err);
	if (ret == 0)
		ret = user_from_row(st, u, err);
out:
	stmt_done(st);
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
	st = stmt_get(b, ST_USER_LIST, err);
	if (st) {
		ret = step_all(b, st, false, sizeof(**out), user_from_row,
			       user_clear, &arr, n, "listing users",
			       err);
		*out = arr;
	}
	stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static int sqlite_user_count(struct store *s, int64_t *n, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = stmt_get(b, ST_USER_COUNT, err);
	if (!st)
		goto out;
	ret = step_one(b, st, false, "counting users", err);
	if (ret == 0)
		*n = sqlite3_column_int64(st, 0);
	else if (ret == 1)
		ret = rc_err_set(err, EIO, "counting users: no result");
out:
	stmt_done(st);
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
	st = stmt_get(b, ST_USER_SET_PASSWORD, err);
	if (!st)
		goto out;
	bad = bind_text(st, 1, name);
	bad |= bind_text(st, 2, hash);
	ret = step_write(b, st, bad, "writing a password", err);
	if (ret >= 0)
		ret = ret == 0 ? 1 : 0;
out:
	stmt_done(st);
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
	st = stmt_get(b, ST_USER_GET_PASSWORD, err);
	if (!st)
		goto out;
	ret = step_one(b, st, bind_text(st, 1, name), "reading a password",
		       err);
	if (ret == 0)
		*hash = col_null(st, 0) ? NULL : col_text(st, 0);
out:
	stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* --- tokens --- */

static int sqlite_token_insert(struct store *s, const char *user,
			       const char *label, const char *hash,
			       int64_t now, int64_t *id_out,
			       struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = stmt_get(b, ST_TOKEN_INSERT, err);
	if (!st)
		goto out;
	bad = bind_text(st, 1, user);
	bad |= bind_text(st, 2, label);
	bad |= bind_text(st, 3, hash);
	bad |= bind_i64(st, 4, now);
	ret = step_write(b, st, bad, "writing a token", err);
	if (ret < 0)
		goto out;
	if (ret == 0) {
		ret = 1;        /* no such user */
		goto out;
	}
	*id_out = sqlite3_last_insert_rowid(b->db);
	ret = 0;
out:
	stmt_done(st);
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
	t->user = col_text(st, 1);
	t->role = (enum role)parse_role(
		(const char *)sqlite3_column_text(st, 2));
	t->label = col_text(st, 3);
	t->created_at = sqlite3_column_int64(st, 4);
	t->last_used_at = sqlite3_column_int64(st, 5);
	t->revoked = sqlite3_column_int(st, 6) != 0;
	row->user_disabled = sqlite3_column_int(st, 7) != 0;
	return 0;
}

static int token_info_from_row(sqlite3_stmt *st, void *elem,
			       struct rc_err *err)
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
	st = stmt_get(b, ST_TOKEN_FIND, err);
	if (!st)
		goto out;
	ret = step_one(b, st, bind_text(st, 1, hash), "looking up a token",
		       err);
	if (ret == 0)
		ret = token_from_row(st, row, err);
out:
	stmt_done(st);
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

static int sqlite_token_revoke(struct store *s, int64_t id,
			       struct rc_err *err)
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
	st = stmt_get(b, ST_TOKEN_LIST, err);
	if (st) {
		ret = step_all(b, st, false, sizeof(**out),
			       token_info_from_row, token_clear, &arr,
			       n, "listing tokens", err);
		*out = arr;
	}
	stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* --- audit --- */

static int sqlite_audit_add(struct store *s, int64_t at, const char *actor,
			    const char *action, const char *target,
			    const char *detail_json, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = stmt_get(b, ST_AUDIT_ADD, err);
	if (!st)
		goto out;
	bad = bind_i64(st, 1, at);
	bad |= bind_text(st, 2, actor);
	bad |= bind_text(st, 3, action);
	bad |= bind_text(st, 4, target);
	bad |= bind_text(st, 5, detail_json);
	ret = step_write(b, st, bad, "writing an audit entry", err);
	if (ret > 0)
		ret = 0;
out:
	stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* Columns: id, at, actor, action, target, detail. */
static int audit_from_row(sqlite3_stmt *st, void *elem, struct rc_err *err)
{
	struct audit_entry *a = elem;

	a->id = sqlite3_column_int64(st, 0);
	a->at = sqlite3_column_int64(st, 1);
	a->actor = col_text(st, 2);
	a->action = col_text(st, 3);
	a->target = col_text(st, 4);
	a->detail = col_text(st, 5);
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

static int sqlite_audit_list(struct store *s, int64_t before_id, int limit,
			     struct audit_entry **out, size_t *n,
			     struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	void *arr = NULL;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = stmt_get(b, ST_AUDIT_LIST, err);
	if (!st)
		goto out;
	bad = bind_i64(st, 1, before_id > 0 ? before_id : INT64_MAX);
	bad |= bind_i64(st, 2, limit);
	ret = step_all(b, st, bad, sizeof(**out), audit_from_row, audit_clear,
		       &arr, n, "listing audit entries", err);
	*out = arr;
out:
	stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* --- schedule ticks --- */

static int sqlite_tick_claim(struct store *s, const char *automation,
			     int64_t fire_time, int64_t now,
			     struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = stmt_get(b, ST_TICK_CLAIM, err);
	if (!st)
		goto out;
	bad = bind_text(st, 1, automation);
	bad |= bind_i64(st, 2, fire_time);
	bad |= bind_i64(st, 3, now);
	ret = step_write(b, st, bad, "claiming a schedule tick", err);
	if (ret >= 0)
		ret = ret == 1 ? 0 : 1;
out:
	stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static int sqlite_tick_finish(struct store *s, const char *automation,
			      int64_t fire_time, const char *run_id,
			      const char *error, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = stmt_get(b, ST_TICK_FINISH, err);
	if (!st)
		goto out;
	bad = bind_text(st, 1, automation);
	bad |= bind_i64(st, 2, fire_time);
	bad |= bind_text(st, 3, run_id);
	bad |= bind_text(st, 4, error);
	ret = step_write(b, st, bad, "recording a schedule tick", err);
	if (ret >= 0)
		ret = ret == 0 ? 1 : 0;
out:
	stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static int sqlite_tick_last(struct store *s, const char *automation,
			    int64_t *fire_time, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = stmt_get(b, ST_TICK_LAST, err);
	if (!st)
		goto out;
	ret = step_one(b, st, bind_text(st, 1, automation),
		       "reading the last schedule tick", err);
	if (ret == 0 && col_null(st, 0))
		ret = 1;
	else if (ret == 0)
		*fire_time = sqlite3_column_int64(st, 0);
out:
	stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* --- notifications --- */

static int sqlite_notification_add(struct store *s, const char *run_id,
				   const char *url, int64_t now,
				   int64_t *id_out, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = stmt_get(b, ST_NOTE_ADD, err);
	if (!st)
		goto out;
	bad = bind_text(st, 1, run_id);
	bad |= bind_text(st, 2, url);
	bad |= bind_i64(st, 3, now);
	ret = step_write(b, st, bad, "recording a notification", err);
	if (ret == 1) {
		*id_out = sqlite3_last_insert_rowid(b->db);
		ret = 0;
	} else if (ret == 0) {
		ret = 1;
	}
out:
	stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static int sqlite_notification_update(struct store *s,
				      const struct notification *nt,
				      int64_t now, struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	bool bad;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = stmt_get(b, ST_NOTE_UPDATE, err);
	if (!st)
		goto out;
	bad = bind_i64(st, 1, nt->id);
	bad |= bind_text(st, 2, nt->status);
	bad |= bind_i64(st, 3, nt->attempts);
	bad |= bind_text(st, 4, nt->last_error);
	bad |= bind_time(st, 5, nt->delivered_at);
	bad |= bind_i64(st, 6, now);
	ret = step_write(b, st, bad, "recording a notification", err);
	if (ret >= 0)
		ret = ret == 0 ? 1 : 0;
out:
	stmt_done(st);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

/* Columns: NOTE_COLS. */
static int note_from_row(sqlite3_stmt *st, void *elem, struct rc_err *err)
{
	struct notification *nt = elem;

	nt->id = sqlite3_column_int64(st, 0);
	nt->run_id = col_text(st, 1);
	nt->url = col_text(st, 2);
	nt->status = col_text(st, 3);
	nt->attempts = sqlite3_column_int(st, 4);
	nt->last_error = col_null(st, 5) ? NULL : col_text(st, 5);
	nt->created_at = sqlite3_column_int64(st, 6);
	nt->updated_at = sqlite3_column_int64(st, 7);
	nt->delivered_at = sqlite3_column_int64(st, 8);
	return 0;
}

static void note_clear(void *elem)
{
	store_notification_clear(elem);
}

static int sqlite_notification_list(struct store *s, const char *run_id,
				    struct notification **out, size_t *n,
				    struct rc_err *err)
{
	struct sqlite_store *b = sq(s);
	sqlite3_stmt *st;
	void *arr = NULL;
	bool bad = false;
	int ret = -1;

	pthread_mutex_lock(&b->lock);
	st = stmt_get(b, run_id ? ST_NOTE_LIST : ST_NOTE_PENDING, err);
	if (!st)
		goto out;
	if (run_id)
		bad = bind_text(st, 1, run_id);
	ret = step_all(b, st, bad, sizeof(**out), note_from_row, note_clear,
		       &arr, n, "listing notifications", err);
	*out = arr;
out:
	stmt_done(st);
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
