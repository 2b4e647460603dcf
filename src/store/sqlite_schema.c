/*
 * sqlite_schema.c - the SQLite database file: created mode 0600, opened
 * with WAL, synchronous=FULL and a busy timeout, its schema brought to
 * the current version, and closed again.
 *
 * The schema is versioned with PRAGMA user_version: migrations[i] moves a
 * database from version i to i + 1, run inside one IMMEDIATE transaction.
 */
#include "sqlite_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

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
		ret = rc_err_set(err, EINVAL, "%s is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) && fchmod(fd, st.st_mode & 0700) < 0)
		ret = rc_err_set(err, errno, "cannot make %s private: %s", path,
				 strerror(errno));
out:
	close(fd);
	return ret;
}

static int exec_sql(struct sqlite_store *b, const char *sql, const char *what,
		    struct rc_err *err)
{
	int rc = sqlite3_exec(b->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sq_db_fail(b, rc, what, err);
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
		ret = sq_db_fail(b, rc, "reading the schema version", err);
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
	ret = exec_sql(b, "BEGIN IMMEDIATE", "starting the schema update", err);
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
		ret = rc_err_set(err, EPROTO,
				 "the database has schema "
				 "version %d, newer than this runcell knows "
				 "(%d); use a newer runcell",
				 version, SCHEMA_VERSION);
	return ret;
}

void sqlite_close(struct store *s)
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

int sqlite_open(const char *target, struct store **out, struct rc_err *err)
{
	struct sqlite_store *b;
	const char *sync = "NORMAL", *q = strchr(target, '?');
	char *path;
	int rc, ret;

	*out = NULL;
	if (!sqlite3_threadsafe())
		return rc_err_set(err, ENOTSUP,
				  "this SQLite library was "
				  "built without thread support");
	/* "PATH?sync=full": fsync every commit (survives power loss too);
	 * the default, NORMAL in WAL mode, survives any crash of the
	 * service but may lose the last commits on a power loss. */
	if (q) {
		if (!strcmp(q, "?sync=full"))
			sync = "FULL";
		else if (strcmp(q, "?sync=normal") != 0)
			return rc_err_set(err, EINVAL,
					  "unknown SQLite store "
					  "option \"%s\": use "
					  "?sync=full or ?sync=normal",
					  q);
	}
	path = q ? xstrndup(target, (size_t)(q - target)) : xstrdup(target);
	target = path;
	ret = file_prepare(target, err);
	if (ret < 0) {
		free(path);
		return ret;
	}

	b = xcalloc(1, sizeof(*b));
	b->path = xstrdup(target);
	pthread_mutex_init(&b->lock, NULL);
	rc = sqlite3_open_v2(target, &b->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (b->db)
			ret = sq_db_fail(b, rc, "opening the database", err);
		else
			ret = rc_err_set(err, ENOMEM,
					 "opening the database: "
					 "out of memory");
		goto out;
	}
	sqlite3_extended_result_codes(b->db, 1);
	sqlite3_busy_timeout(b->db, BUSY_TIMEOUT_MS);

	ret = exec_sql(b, "PRAGMA journal_mode = WAL", "enabling WAL", err);
	if (ret == 0)
		ret = exec_sql(b,
			       strcmp(sync, "FULL") ?
				       "PRAGMA synchronous = "
				       "NORMAL" :
				       "PRAGMA synchronous = FULL",
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
	free(path);
	return ret;
}
