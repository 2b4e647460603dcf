/*
 * postgres_conn.c - connections, statements, results and the schema of
 * the PostgreSQL store backend (the ops themselves are in postgres.c).
 *
 * Connections: a small pool per store handle (PG_POOL_SIZE).  A thread
 * takes a free connection for one statement and puts it back; libpq allows
 * one thread at a time per connection, and the pool lets four statements
 * run at once (SQLite's single mutex would serialize every request behind
 * a network round trip) while keeping the server's connection count per
 * replica small and fixed, whatever number of threads runcelld has.
 * Connections are opened on first use.
 *
 * Reconnection: before a statement is sent, an idle connection is checked
 * without a round trip.  The server sends nothing to an idle session unless
 * it is closing it (a restart, pg_terminate_backend), so input waiting on
 * the socket, or a connection libpq already knows is bad, means "open a
 * new one".  That makes a server restart invisible to callers.  Opening
 * is retried for up to PG_RECONNECT_MS; if the server stays down the
 * statement fails with a message naming the server and libpq's reason,
 * and for a while after that (PG_RECONNECT_MS) further statements try to
 * connect once instead of waiting again.  When a connection breaks while a
 * statement is in flight, its outcome is unknown: a read or a statement
 * whose repetition changes nothing (PG_IDEMPOTENT) is sent once more on a
 * new connection; any other fails, saying so.
 *
 * Schema: migrations[i] moves a database from version i to i + 1; the
 * version is the one row of table schema_version.  Every replica checks it
 * at open; one that must migrate does it in one transaction holding
 * pg_advisory_xact_lock(PG_SCHEMA_LOCK), and reads the version again once
 * it holds the lock, so replicas starting together migrate once.  DDL is
 * transactional in PostgreSQL: a failed migration leaves nothing behind.
 *
 * Every value is sent as a parameter (PQexecParams), never in SQL text.
 */
#include "postgres_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PG_RECONNECT_MS 2000
#define PG_CONNECT_TIMEOUT_S "5"
/* Key of the advisory lock held while migrating ("rcschema"). */
#define PG_SCHEMA_LOCK "8242532429893988705"

/* Times are BIGINT ms since the epoch (NULL for "not yet"), booleans are
 * BOOLEAN, run states their run_state_name().  "user" is reserved in
 * PostgreSQL: the user columns are user_name. */
static const char *const migrations[] = {
	/* 0 -> 1: the schema of SQLite's version 4. */
	"CREATE TABLE runs ("
	" seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	" id TEXT NOT NULL UNIQUE,"
	" automation TEXT NOT NULL,"
	" user_name TEXT NOT NULL,"
	" parameters TEXT,"
	" argv TEXT,"
	" executor TEXT NOT NULL,"
	" handle TEXT,"
	" state TEXT NOT NULL,"
	" exit_code INTEGER,"
	" reason TEXT,"
	" created_at BIGINT,"
	" started_at BIGINT,"
	" finished_at BIGINT,"
	" cpu_usec BIGINT,"
	" peak_memory BIGINT,"
	" stop_requested BOOLEAN NOT NULL DEFAULT false,"
	" attempt INTEGER NOT NULL DEFAULT 1,"
	" retry_of TEXT,"
	" not_before BIGINT);"
	"CREATE INDEX runs_automation_seq ON runs (automation, seq);"
	"CREATE INDEX runs_state ON runs (state);"
	"CREATE INDEX runs_user_seq ON runs (user_name, seq);"
	"CREATE INDEX runs_finished_at ON runs (finished_at);"
	"CREATE TABLE users ("
	" name TEXT PRIMARY KEY,"
	" role TEXT NOT NULL,"
	" created_at BIGINT NOT NULL,"
	" disabled BOOLEAN NOT NULL DEFAULT false,"
	" password_hash TEXT);"
	"CREATE TABLE tokens ("
	" id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	" user_name TEXT NOT NULL,"
	" label TEXT NOT NULL DEFAULT '',"
	" hash TEXT NOT NULL UNIQUE,"
	" created_at BIGINT NOT NULL,"
	" last_used_at BIGINT,"
	" revoked BOOLEAN NOT NULL DEFAULT false);"
	"CREATE INDEX tokens_user ON tokens (user_name);"
	"CREATE TABLE audit ("
	" id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	" at BIGINT NOT NULL,"
	" actor TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" target TEXT,"
	" detail TEXT);"
	"CREATE TABLE schedule_ticks ("
	" automation TEXT NOT NULL,"
	" fire_time BIGINT NOT NULL,"
	" claimed_at BIGINT NOT NULL,"
	" run_id TEXT,"
	" error TEXT,"
	" UNIQUE (automation, fire_time));"
	"CREATE TABLE notifications ("
	" id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	" run_id TEXT NOT NULL,"
	" url TEXT NOT NULL,"
	" status TEXT NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" last_error TEXT,"
	" created_at BIGINT NOT NULL,"
	" updated_at BIGINT,"
	" delivered_at BIGINT,"
	" UNIQUE (run_id, url));"
	"CREATE INDEX notifications_status ON notifications (status);",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* --- parameters --- */

/* Append v; returns its $ number.  More than PG_MAX_PARAMS is a
 * programming error (every statement is fixed in code): abort. */
static int param_add(struct pg_params *p, const char *v)
{
	if (p->n >= PG_MAX_PARAMS) {
		fprintf(stderr, "runcell: store: too many SQL parameters\n");
		abort();
	}
	p->values[p->n] = v;
	return ++p->n;
}

/* Append a text value (NULL for SQL NULL); returns its $ number. */
int pg_param_text(struct pg_params *p, const char *v)
{
	return param_add(p, v);
}

/* Append a whole number; returns its $ number. */
int pg_param_i64(struct pg_params *p, int64_t v)
{
	char *num;

	if (p->n >= PG_MAX_PARAMS)
		return param_add(p, NULL);
	num = p->nums[p->n];
	snprintf(num, sizeof(p->nums[0]), "%lld", (long long)v);
	return param_add(p, num);
}

/* Append a time: NULL when v is 0 (or less), "not yet". */
int pg_param_time(struct pg_params *p, int64_t v)
{
	if (v <= 0)
		return param_add(p, NULL);
	return pg_param_i64(p, v);
}

/* Append a boolean; returns its $ number. */
int pg_param_bool(struct pg_params *p, bool v)
{
	return param_add(p, v ? "t" : "f");
}

/* --- errors --- */

/* libpq's messages end in a newline and may hold "\n\t" hints: one line. */
static void one_line(const char *in, char *out, size_t size)
{
	size_t i = 0;

	for (; in && *in && i + 1 < size; in++) {
		char c = *in == '\n' || *in == '\t' ? ' ' : *in;

		if (c == ' ' && (i == 0 || out[i - 1] == ' '))
			continue;
		out[i++] = c;
	}
	while (i > 0 && out[i - 1] == ' ')
		i--;
	out[i] = '\0';
}

static int errno_of(const char *sqlstate)
{
	if (!sqlstate)
		return EIO;
	if (!strcmp(sqlstate, "23505")) /* unique_violation */
		return EEXIST;
	if (!strncmp(sqlstate, "23", 2)) /* other integrity errors */
		return EINVAL;
	if (!strcmp(sqlstate, "40001") || !strcmp(sqlstate, "40P01") ||
	    !strcmp(sqlstate, "55P03")) /* serialization, locks */
		return EBUSY;
	if (!strncmp(sqlstate, "53", 2)) /* disk full, no memory */
		return ENOSPC;
	if (!strncmp(sqlstate, "28", 2) || !strcmp(sqlstate, "42501"))
		return EACCES;
	if (!strcmp(sqlstate, "57014")) /* query_canceled */
		return ETIMEDOUT;
	return EIO;
}

/* Fill *err from a failed statement's result (res may be NULL); -1. */
static int result_fail(PGconn *c, const PGresult *res, const char *what,
		       struct rc_err *err)
{
	char msg[RC_ERR_MSG_MAX];
	const char *primary = NULL, *sqlstate = NULL;

	if (res) {
		primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	}
	one_line(primary ? primary : PQerrorMessage(c), msg, sizeof(msg));
	return rc_err_set(err, errno_of(sqlstate), "%s: %s", what,
			  msg[0] ? msg : "unknown PostgreSQL error");
}

/* --- connections --- */

/* The server's notices ("relation already exists, skipping") and its
 * goodbye to an idle session are not for runcell's output. */
static void notice_ignore(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Open one connection to b->url into *out. */
static int conn_open(struct pg_store *b, PGconn **out, struct rc_err *err)
{
	/* Defaults first: the URL's own settings override them. */
	const char *const keys[] = { "connect_timeout",
				     "fallback_application_name", "dbname",
				     NULL };
	const char *const values[] = { PG_CONNECT_TIMEOUT_S, "runcell", b->url,
				       NULL };
	char msg[RC_ERR_MSG_MAX];
	PGconn *c;

	*out = NULL;
	c = PQconnectdbParams(keys, values, 1);
	if (!c)
		return rc_err_set(err, ENOMEM,
				  "connecting to PostgreSQL: out "
				  "of memory");
	if (PQstatus(c) != CONNECTION_OK) {
		one_line(PQerrorMessage(c), msg, sizeof(msg));
		PQfinish(c);
		return rc_err_set(err, ECONNREFUSED,
				  "cannot connect to "
				  "PostgreSQL at %s: %s",
				  b->where, msg);
	}
	PQsetNoticeProcessor(c, notice_ignore, NULL);
	*out = c;
	return 0;
}

/*
 * Whether an idle connection can take a statement, as far as can be told
 * without a round trip: libpq has not seen it break, no transaction is
 * left open, and no input waits (the server writes to an idle session
 * only to say it is closing it).
 */
static bool conn_usable(PGconn *c)
{
	struct pollfd pfd;

	if (!c || PQstatus(c) != CONNECTION_OK ||
	    PQtransactionStatus(c) != PQTRANS_IDLE)
		return false;
	pfd.fd = PQsocket(c);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0)
		return false;
	return poll(&pfd, 1, 0) == 0;
}

/*
 * Make the connection of pool slot i usable: keep it, or open a new one,
 * retrying for up to PG_RECONNECT_MS (just once if the server was found
 * down within that time).  The caller owns slot i.
 */
static int conn_ensure(struct pg_store *b, int i, struct rc_err *err)
{
	int64_t start, down_at;
	int delay_ms = 50, ret, tries = 0;

	if (conn_usable(b->conns[i]))
		return 0;
	PQfinish(b->conns[i]);
	b->conns[i] = NULL;

	pthread_mutex_lock(&b->lock);
	down_at = b->down_at;
	pthread_mutex_unlock(&b->lock);

	start = time_mono_ms();
	for (;;) {
		ret = conn_open(b, &b->conns[i], err);
		tries++;
		if (ret == 0)
			break;
		if (down_at && start - down_at < PG_RECONNECT_MS)
			break;
		if (time_mono_ms() - start + delay_ms > PG_RECONNECT_MS)
			break;
		nanosleep(&(struct timespec){ .tv_sec = 0,
					      .tv_nsec = delay_ms * 1000000L },
			  NULL);
		delay_ms = delay_ms * 2 > 400 ? 400 : delay_ms * 2;
	}

	pthread_mutex_lock(&b->lock);
	if (ret == 0)
		b->down_at = 0;
	else if (!b->down_at)
		b->down_at = time_mono_ms();
	pthread_mutex_unlock(&b->lock);
	if (ret < 0 && tries > 1)
		rc_err_wrap(err, "PostgreSQL did not come back within %d ms",
			    PG_RECONNECT_MS);
	return ret;
}

/* Take a free pool slot, waiting for one; prefer one already connected. */
static int pool_take(struct pg_store *b)
{
	int i, pick;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		pick = -1;
		for (i = 0; i < PG_POOL_SIZE; i++) {
			if (b->busy[i])
				continue;
			if (b->conns[i]) {
				pick = i;
				break;
			}
			if (pick < 0)
				pick = i;
		}
		if (pick >= 0)
			break;
		pthread_cond_wait(&b->freed, &b->lock);
	}
	b->busy[pick] = true;
	pthread_mutex_unlock(&b->lock);
	return pick;
}

static void pool_put(struct pg_store *b, int i)
{
	pthread_mutex_lock(&b->lock);
	b->busy[i] = false;
	pthread_cond_signal(&b->freed);
	pthread_mutex_unlock(&b->lock);
}

/* Close every pooled connection.  No statement may be running. */
void pg_pool_close(struct pg_store *b)
{
	int i;

	for (i = 0; i < PG_POOL_SIZE; i++) {
		PQfinish(b->conns[i]);
		b->conns[i] = NULL;
	}
}

/* --- statements --- */

/*
 * Run sql with the parameters p (may be NULL) on a pooled connection; see
 * postgres_int.h.  The result is the caller's to PQclear; NULL on error.
 */
PGresult *pg_exec(struct pg_store *b, const char *sql,
		  const struct pg_params *p, enum pg_retry retry,
		  const char *what, struct rc_err *err)
{
	char msg[RC_ERR_MSG_MAX];
	ExecStatusType st;
	PGresult *res = NULL;
	PGconn *c;
	int slot, attempt;

	slot = pool_take(b);
	for (attempt = 0;; attempt++) {
		if (conn_ensure(b, slot, err) < 0) {
			rc_err_wrap(err, "%s", what);
			goto out;
		}
		c = b->conns[slot];
		res = PQexecParams(c, sql, p ? p->n : 0, NULL,
				   p ? p->values : NULL, NULL, NULL, 0);
		st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
			goto out;
		if (PQstatus(c) == CONNECTION_OK) {
			result_fail(c, res, what, err);
			goto fail;
		}
		/* The connection broke with the statement in flight. */
		if (retry == PG_IDEMPOTENT && attempt == 0) {
			PQclear(res);
			res = NULL;
			continue;
		}
		one_line(PQerrorMessage(c), msg, sizeof(msg));
		rc_err_set(err, EIO,
			   "%s: the connection to PostgreSQL at %s "
			   "broke during the statement%s: %s",
			   what, b->where,
			   retry == PG_ONCE ? ", which may or may not have "
					      "taken effect" :
					      "",
			   msg);
		goto fail;
	}
fail:
	PQclear(res);
	res = NULL;
out:
	pool_put(b, slot);
	return res;
}

/* The number of rows an INSERT/UPDATE/DELETE changed. */
int64_t pg_changed(PGresult *res)
{
	const char *n = PQcmdTuples(res);

	return n && *n ? strtoll(n, NULL, 10) : 0;
}

/* --- results --- */

/* Whether a column is SQL NULL. */
bool pg_col_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) != 0;
}

/* A copy of a text column, NULL for SQL NULL. */
char *pg_col_text(const PGresult *res, int row, int col)
{
	if (pg_col_null(res, row, col))
		return NULL;
	return xstrdup(PQgetvalue(res, row, col));
}

/* A whole-number column, 0 for SQL NULL. */
int64_t pg_col_i64(const PGresult *res, int row, int col)
{
	if (pg_col_null(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* A BOOLEAN column ("t"/"f"), false for SQL NULL. */
bool pg_col_bool(const PGresult *res, int row, int col)
{
	return !pg_col_null(res, row, col) &&
	       PQgetvalue(res, row, col)[0] == 't';
}

/*
 * Turn every row of res into an array of elements of size bytes.  On
 * success *out (NULL when there are no rows, else the caller's) holds *n
 * elements; on failure nothing is left allocated.  Clears res.
 */
int pg_rows_all(PGresult *res, size_t size, pg_row_fill_fn fill,
		pg_row_clear_fn clear, void **out, size_t *n,
		struct rc_err *err)
{
	size_t count = (size_t)PQntuples(res), i, done = 0;
	char *arr = NULL;
	int ret = 0;

	if (count > 0)
		arr = xcalloc(count, size);
	for (i = 0; i < count; i++, done++) {
		ret = fill(res, (int)i, arr + i * size, err);
		if (ret < 0)
			break;
	}
	if (ret < 0) {
		for (i = 0; i < done; i++)
			clear(arr + i * size);
		free(arr);
		arr = NULL;
		count = 0;
	}
	PQclear(res);
	*out = arr;
	*n = count;
	return ret;
}

/* Run a write; 0 when it changed a row, 1 when none, -1 on error. */
int pg_write(struct pg_store *b, const char *sql, const struct pg_params *p,
	     enum pg_retry retry, const char *what, struct rc_err *err)
{
	PGresult *res = pg_exec(b, sql, p, retry, what, err);
	int ret;

	if (!res)
		return -1;
	ret = pg_changed(res) > 0 ? 0 : 1;
	PQclear(res);
	return ret;
}

/* --- open and the schema --- */

/* Run one statement on c (no pool).  Returns the result or NULL. */
static PGresult *conn_exec(PGconn *c, const char *sql,
			   const struct pg_params *p, const char *what,
			   struct rc_err *err)
{
	PGresult *res;
	ExecStatusType st;

	if (p)
		res = PQexecParams(c, sql, p->n, NULL, p->values, NULL, NULL,
				   0);
	else
		res = PQexec(c, sql); /* no values: may hold several */
	st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	result_fail(c, res, what, err);
	PQclear(res);
	return NULL;
}

/* Read schema_version into *version: -1 when the table is missing (an
 * empty database), 0 when it has no row yet. */
static int version_read(PGconn *c, int *version, struct rc_err *err)
{
	PGresult *res = PQexec(c, "SELECT version FROM schema_version");
	const char *sqlstate;
	int ret = 0;

	*version = 0;
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
		if (PQntuples(res) > 0)
			*version = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
		goto out;
	}
	sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (sqlstate && !strcmp(sqlstate, "42P01")) { /* undefined_table */
		*version = -1;
		goto out;
	}
	ret = result_fail(c, res, "reading the schema version", err);
out:
	PQclear(res);
	return ret;
}

static int version_check(int version, struct rc_err *err)
{
	if (version > SCHEMA_VERSION)
		return rc_err_set(err, EPROTO,
				  "the database has schema "
				  "version %d, newer than this runcell knows "
				  "(%d); use a newer runcell",
				  version, SCHEMA_VERSION);
	return 0;
}

/*
 * Bring the schema to SCHEMA_VERSION on connection c.  Other replicas may
 * be doing the same: the work happens under an advisory lock, and the
 * version is read again once the lock is held.
 */
static int schema_migrate(PGconn *c, struct rc_err *err)
{
	struct pg_params p = { 0 };
	PGresult *res = NULL;
	int version, ret;

	ret = version_read(c, &version, err);
	if (ret < 0 || version == SCHEMA_VERSION)
		return ret;
	if (version_check(version, err) < 0)
		return -1;

	res = conn_exec(c, "BEGIN", NULL, "starting the schema update", err);
	if (!res)
		return -1;
	PQclear(res);
	ret = -1;
	pg_param_text(&p, PG_SCHEMA_LOCK);
	res = conn_exec(c, "SELECT pg_advisory_xact_lock($1::bigint)", &p,
			"waiting for the schema lock", err);
	if (!res)
		goto out;
	PQclear(res);
	res = conn_exec(c,
			"CREATE TABLE IF NOT EXISTS schema_version ("
			" id INTEGER PRIMARY KEY CHECK (id = 1),"
			" version INTEGER NOT NULL)",
			NULL, "creating the schema version", err);
	if (!res)
		goto out;
	PQclear(res);
	res = NULL;
	if (version_read(c, &version, err) < 0 ||
	    version_check(version, err) < 0)
		goto out;
	while (version < SCHEMA_VERSION) {
		res = conn_exec(c, migrations[version], NULL,
				"updating the schema", err);
		if (!res)
			goto out;
		PQclear(res);
		version++;
	}
	p.n = 0;
	pg_param_i64(&p, version);
	res = conn_exec(c,
			"INSERT INTO schema_version (id, version)"
			" VALUES (1, $1) ON CONFLICT (id)"
			" DO UPDATE SET version = excluded.version",
			&p, "recording the schema version", err);
	if (!res)
		goto out;
	PQclear(res);
	res = conn_exec(c, "COMMIT", NULL, "committing the schema update", err);
	if (!res)
		goto out;
	ret = 0;
out:
	PQclear(res);
	if (ret < 0 && PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(PQexec(c, "ROLLBACK"));
	return ret;
}

/* "user@host:port/db" from the URL, without its password. */
static int where_of(const char *url, char **out, struct rc_err *err)
{
	const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
	PQconninfoOption *opts, *o;
	char *errmsg = NULL;
	char msg[RC_ERR_MSG_MAX];

	opts = PQconninfoParse(url, &errmsg);
	if (!opts) {
		one_line(errmsg ? errmsg : "out of memory", msg, sizeof(msg));
		PQfreemem(errmsg);
		return rc_err_set(err, EINVAL,
				  "not a valid PostgreSQL URL: "
				  "%s",
				  msg);
	}
	for (o = opts; o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if ((!strcmp(o->keyword, "host") && !host) ||
		    !strcmp(o->keyword, "hostaddr"))
			host = o->val;
		else if (!strcmp(o->keyword, "port"))
			port = o->val;
		else if (!strcmp(o->keyword, "dbname"))
			db = o->val;
		else if (!strcmp(o->keyword, "user"))
			user = o->val;
	}
	*out = xasprintf("%s%s%s:%s/%s", user ? user : "", user ? "@" : "",
			 host ? host : "(local socket)", port ? port : "5432",
			 db ? db : (user ? user : ""));
	PQconninfoFree(opts);
	return 0;
}

/* Check the URL, open the first pooled connection (once, no waiting: a
 * server that is down at start is reported at once) and migrate. */
int pg_connect_first(struct pg_store *b, struct rc_err *err)
{
	if (where_of(b->url, &b->where, err) < 0)
		return -1;
	if (conn_open(b, &b->conns[0], err) < 0)
		return -1;
	return schema_migrate(b->conns[0], err);
}
