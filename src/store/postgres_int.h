/*
 * postgres_int.h - what the two halves of the PostgreSQL backend share:
 * postgres_conn.c (the connection pool, running a statement with
 * reconnection, reading results, errors, the schema and its migrations)
 * and postgres.c (the store ops, one SQL statement each).  Nothing outside src/store/postgres*.c
 * includes this file.
 */
#ifndef RUNCELL_STORE_POSTGRES_INT_H
#define RUNCELL_STORE_POSTGRES_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "backend.h"

/* Connections per store handle; a thread waits for a free one. */
#define PG_POOL_SIZE 4
/* The most parameters one statement takes. */
#define PG_MAX_PARAMS 20

struct pg_store {
	struct store base;    /* must stay first */
	char *url;	      /* with its password: wiped on close */
	char *where;	      /* "user@host:port/db", for messages */
	pthread_mutex_t lock; /* guards busy[] and down_at */
	pthread_cond_t freed; /* signalled when a connection is put back */
	bool busy[PG_POOL_SIZE];
	int64_t down_at;	     /* monotonic ms a reconnect last gave up */
	PGconn *conns[PG_POOL_SIZE]; /* NULL until first used */
};

/*
 * The parameters of one statement, all sent as text (times and counts in
 * decimal, booleans as "t"/"f").  The pg_param_* functions append one and
 * return its number ($n) for statements that are built piece by piece.
 */
struct pg_params {
	int n;
	const char *values[PG_MAX_PARAMS];
	char nums[PG_MAX_PARAMS][24];
};

int pg_param_text(struct pg_params *p, const char *v); /* NULL: NULL */
int pg_param_i64(struct pg_params *p, int64_t v);
int pg_param_time(struct pg_params *p, int64_t v); /* 0: NULL */
int pg_param_bool(struct pg_params *p, bool v);

/* Whether a statement may be sent again when the connection broke while
 * it was in flight: only if running it twice has the effect (and answer)
 * of running it once. */
enum pg_retry { PG_ONCE, PG_IDEMPOTENT };

/*
 * Run one statement on a connection from the pool, reconnecting first if
 * the connection was lost while idle (the server restarted).  Returns the
 * result (PGRES_COMMAND_OK or PGRES_TUPLES_OK; the caller PQclear()s it)
 * or NULL with *err filled, naming what ("reading a run").
 */
PGresult *pg_exec(struct pg_store *b, const char *sql,
		  const struct pg_params *p, enum pg_retry retry,
		  const char *what, struct rc_err *err);

/* The rows a write changed, from its result. */
int64_t pg_changed(PGresult *res);

/* pg_exec for a write: 0 when it changed a row, 1 when none, -1 error. */
int pg_write(struct pg_store *b, const char *sql, const struct pg_params *p,
	     enum pg_retry retry, const char *what, struct rc_err *err);

/* Columns of row row: SQL NULL reads as NULL (text), 0 and false.  Text
 * is a copy the caller frees. */
bool pg_col_null(const PGresult *res, int row, int col);
char *pg_col_text(const PGresult *res, int row, int col);
int64_t pg_col_i64(const PGresult *res, int row, int col);
bool pg_col_bool(const PGresult *res, int row, int col);

/* Reads one row into one (zeroed) element of a result array; frees one. */
typedef int (*pg_row_fill_fn)(const PGresult *res, int row, void *elem,
			      struct rc_err *err);
typedef void (*pg_row_clear_fn)(void *elem);

/*
 * Turn every row of res into an array of elements of size bytes, and
 * PQclear res.  On success *out (NULL when there are no rows, else the
 * caller's to free, elements included) holds *n elements; on failure
 * nothing is left allocated.
 */
int pg_rows_all(PGresult *res, size_t size, pg_row_fill_fn fill,
		pg_row_clear_fn clear, void **out, size_t *n,
		struct rc_err *err);

/* Parse the URL, connect once, and bring the schema up to date (several
 * replicas may do this at once).  Fills b->where. */
int pg_connect_first(struct pg_store *b, struct rc_err *err);

/* Close every pooled connection. */
void pg_pool_close(struct pg_store *b);

#endif
