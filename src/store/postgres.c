/*
 * postgres.c - the PostgreSQL store backend (struct store_ops, see
 * backend.h), for several runcelld replicas sharing one database.
 *
 * Each op is one SQL statement run in autocommit mode, so each is atomic
 * on its own and needs no transaction held across round trips.  The rules
 * that make replicas safe live in those statements, as they do in the
 * SQLite backend: a state transition is one UPDATE ... WHERE id = $1 AND
 * state = ANY($allowed), so of two replicas finishing the same run exactly
 * one changes the row (PostgreSQL re-checks the WHERE of a row another
 * transaction changed first); a schedule tick is claimed by an INSERT ...
 * ON CONFLICT DO NOTHING on UNIQUE (automation, fire_time); a token is
 * stored as its hash only (store.c never hands us the secret).  Times are
 * BIGINT ms since the epoch, NULL for 0.  Commits are durable before they
 * return (PostgreSQL's default synchronous_commit = on).
 *
 * The connection pool, reconnection, errors and the schema are in
 * postgres_conn.c.
 */
#include "postgres_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_COLS                                                        \
	"seq, id, automation, user_name, parameters, argv, executor,"   \
	" handle, state, exit_code, reason, created_at, started_at,"    \
	" finished_at, cpu_usec, peak_memory, stop_requested, attempt," \
	" retry_of, not_before"

#define TERMINAL_STATES_SQL \
	"('succeeded', 'failed', 'timed_out', 'cancelled', 'lost')"

#define TOKEN_COLS                                                          \
	"t.id, t.user_name, u.role, t.label, t.created_at, t.last_used_at," \
	" t.revoked, u.disabled"

#define NOTE_COLS                                                    \
	"id, run_id, url, status, attempts, last_error, created_at," \
	" updated_at, delivered_at"

static struct pg_store *pg(struct store *s)
{
	return (struct pg_store *)s;
}

/* --- helpers --- */

static enum role col_role(const PGresult *res, int row, int col)
{
	int r = pg_col_null(res, row, col) ?
			-1 :
			role_parse(PQgetvalue(res, row, col));

	/* A role this build does not know grants the least. */
	return r < 0 ? ROLE_VIEWER : (enum role)r;
}

/* A run_state mask as a text[] literal of state names: "{queued,...}". */
static void states_array(unsigned mask, char *out, size_t size)
{
	size_t len;
	int st;

	snprintf(out, size, "{");
	for (st = RUN_QUEUED; st <= RUN_LOST; st++) {
		if (!(mask & RUN_MASK(st)))
			continue;
		len = strlen(out);
		snprintf(out + len, size - len, "%s%s", len > 1 ? "," : "",
			 run_state_name((enum run_state)st));
	}
	len = strlen(out);
	snprintf(out + len, size - len, "}");
}

/* --- open and close --- */

static void pg_close(struct store *s)
{
	struct pg_store *b = pg(s);

	if (!b)
		return;
	pg_pool_close(b);
	if (b->url) {
		memset(b->url, 0, strlen(b->url));
		free(b->url);
	}
	free(b->where);
	pthread_cond_destroy(&b->freed);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* target is the whole postgres:// or postgresql:// URL (libpq reads it,
 * query parameters such as sslmode included). */
static int pg_open(const char *target, struct store **out, struct rc_err *err)
{
	struct pg_store *b;
	int ret;

	*out = NULL;
	if (!PQisthreadsafe())
		return rc_err_set(err, ENOTSUP,
				  "this libpq was built without "
				  "thread support");
	b = xcalloc(1, sizeof(*b));
	b->url = xstrdup(target);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->freed, NULL);
	ret = pg_connect_first(b, err);
	if (ret < 0)
		goto out;
	*out = &b->base;
	b = NULL;
out:
	if (b)
		pg_close(&b->base);
	return ret;
}

/* --- runs --- */

/* Columns: RUN_COLS. */
static int run_from_row(const PGresult *res, int row, void *elem,
			struct rc_err *err)
{
	struct run *r = elem;
	const char *id = PQgetvalue(res, row, 1);
	const char *state = PQgetvalue(res, row, 8);
	int sv = run_state_parse(state);

	memset(r, 0, sizeof(*r));
	if (sv < 0)
		return rc_err_set(err, EPROTO,
				  "run %s has an unknown state "
				  "\"%s\"",
				  id, state);
	r->seq = pg_col_i64(res, row, 0);
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->automation = pg_col_text(res, row, 2);
	r->user = pg_col_text(res, row, 3);
	r->parameters = pg_col_text(res, row, 4);
	r->argv = pg_col_text(res, row, 5);
	r->executor = pg_col_text(res, row, 6);
	r->handle = pg_col_text(res, row, 7);
	r->state = (enum run_state)sv;
	r->has_exit_code = !pg_col_null(res, row, 9);
	r->exit_code = (int)pg_col_i64(res, row, 9);
	r->reason = pg_col_text(res, row, 10);
	r->created_at = pg_col_i64(res, row, 11);
	r->started_at = pg_col_i64(res, row, 12);
	r->finished_at = pg_col_i64(res, row, 13);
	r->has_usage = !pg_col_null(res, row, 14);
	r->cpu_usec = pg_col_i64(res, row, 14);
	r->peak_memory = pg_col_i64(res, row, 15);
	r->stop_requested = pg_col_bool(res, row, 16);
	r->attempt = pg_col_null(res, row, 17) ? 1 :
						 (int)pg_col_i64(res, row, 17);
	snprintf(r->retry_of, sizeof(r->retry_of), "%s",
		 pg_col_null(res, row, 18) ? "" : PQgetvalue(res, row, 18));
	r->not_before = pg_col_i64(res, row, 19);
	return 0;
}

static void run_clear(void *elem)
{
	store_run_clear(elem);
}

static int pg_run_insert(struct store *s, struct run *r, struct rc_err *err)
{
	struct pg_params p = { 0 };
	PGresult *res;

	pg_param_text(&p, r->id);
	pg_param_text(&p, r->automation);
	pg_param_text(&p, r->user);
	pg_param_text(&p, r->parameters);
	pg_param_text(&p, r->argv);
	pg_param_text(&p, r->executor);
	pg_param_text(&p, r->handle);
	pg_param_text(&p, run_state_name(r->state));
	if (r->has_exit_code)
		pg_param_i64(&p, r->exit_code);
	else
		pg_param_text(&p, NULL);
	pg_param_text(&p, r->reason);
	pg_param_i64(&p, r->created_at);
	pg_param_time(&p, r->started_at);
	pg_param_time(&p, r->finished_at);
	if (r->has_usage) {
		pg_param_i64(&p, r->cpu_usec);
		pg_param_i64(&p, r->peak_memory);
	} else {
		pg_param_text(&p, NULL);
		pg_param_text(&p, NULL);
	}
	pg_param_bool(&p, r->stop_requested);
	pg_param_i64(&p, r->attempt > 0 ? r->attempt : 1);
	pg_param_text(&p, r->retry_of[0] ? r->retry_of : NULL);
	pg_param_time(&p, r->not_before);
	res = pg_exec(pg(s),
		      "INSERT INTO runs (id, automation, user_name, parameters,"
		      " argv, executor, handle, state, exit_code, reason,"
		      " created_at, started_at, finished_at, cpu_usec,"
		      " peak_memory, stop_requested, attempt, retry_of,"
		      " not_before) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
		      " $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
		      " RETURNING seq",
		      &p, PG_ONCE, "inserting a run", err);
	if (!res) {
		if (err && err->errnum == EEXIST)
			rc_err_set(err, EEXIST, "a run with id %s exists",
				   r->id);
		return -1;
	}
	r->seq = pg_col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

static int pg_run_get(struct store *s, const char *id, struct run *r,
		      struct rc_err *err)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int ret = 1;

	pg_param_text(&p, id);
	res = pg_exec(pg(s), "SELECT " RUN_COLS " FROM runs WHERE id = $1", &p,
		      PG_IDEMPOTENT, "reading a run", err);
	if (!res)
		return -1;
	if (PQntuples(res) > 0)
		ret = run_from_row(res, 0, r, err);
	PQclear(res);
	return ret;
}

static int pg_run_transition(struct store *s, const char *id,
			     const struct store_transition *t,
			     struct rc_err *err)
{
	struct pg_params p = { 0 };
	char allowed[128];

	states_array(t->allowed_mask, allowed, sizeof(allowed));
	pg_param_text(&p, id);
	pg_param_text(&p, run_state_name(t->to));
	pg_param_text(&p, t->handle);
	pg_param_time(&p, t->set_started_at);
	pg_param_time(&p, t->fill_started_at);
	pg_param_bool(&p, t->finish);
	pg_param_time(&p, t->finished_at);
	if (t->has_exit_code)
		pg_param_i64(&p, t->exit_code);
	else
		pg_param_text(&p, NULL);
	pg_param_text(&p, t->reason);
	pg_param_bool(&p, t->has_usage);
	pg_param_i64(&p, t->cpu_usec);
	pg_param_i64(&p, t->peak_memory);
	pg_param_text(&p, allowed);
	return pg_write(pg(s),
			"UPDATE runs SET"
			" state = $2,"
			" handle = COALESCE($3::text, handle),"
			" started_at = COALESCE($4::bigint, started_at,"
			" $5::bigint),"
			" finished_at = CASE WHEN $6::boolean THEN $7::bigint"
			" ELSE finished_at END,"
			" exit_code = CASE WHEN $6 THEN $8::integer"
			" ELSE exit_code END,"
			" reason = CASE WHEN $6 THEN $9::text ELSE reason END,"
			" cpu_usec = CASE WHEN $6 AND $10::boolean"
			" THEN $11::bigint ELSE cpu_usec END,"
			" peak_memory = CASE WHEN $6 AND $10"
			" THEN $12::bigint ELSE peak_memory END"
			" WHERE id = $1 AND state = ANY ($13::text[])",
			&p, PG_ONCE, "writing a run state", err);
}

static int pg_run_set_handle(struct store *s, const char *id,
			     const char *handle, struct rc_err *err)
{
	struct pg_params p = { 0 };

	pg_param_text(&p, id);
	pg_param_text(&p, handle);
	return pg_write(pg(s), "UPDATE runs SET handle = $2 WHERE id = $1", &p,
			PG_IDEMPOTENT, "writing a run handle", err);
}

static int pg_run_set_stop_requested(struct store *s, const char *id,
				     struct rc_err *err)
{
	struct pg_params p = { 0 };

	pg_param_text(&p, id);
	return pg_write(pg(s),
			"UPDATE runs SET stop_requested = true"
			" WHERE id = $1",
			&p, PG_IDEMPOTENT, "marking a stop request", err);
}

static int pg_run_list(struct store *s, const struct run_filter *f,
		       struct run **out, size_t *n, struct rc_err *err)
{
	struct pg_params p = { 0 };
	char active[64];
	struct buf sql;
	PGresult *res;
	void *arr = NULL;
	int ret = -1;

	/* Only placeholders go into the text; the values are parameters. */
	buf_init(&sql, 0);
	buf_appendf(&sql, "SELECT " RUN_COLS " FROM runs WHERE seq < $%d",
		    pg_param_i64(&p, f->before_seq > 0 ? f->before_seq :
							 INT64_MAX));
	if (f->automation)
		buf_appendf(&sql, " AND automation = $%d",
			    pg_param_text(&p, f->automation));
	if (f->user)
		buf_appendf(&sql, " AND user_name = $%d",
			    pg_param_text(&p, f->user));
	if (f->state >= 0)
		buf_appendf(&sql, " AND state = $%d",
			    pg_param_text(&p, run_state_name(f->state)));
	if (f->active_only) {
		states_array(RUN_MASK_ACTIVE, active, sizeof(active));
		buf_appendf(&sql, " AND state = ANY ($%d::text[])",
			    pg_param_text(&p, active));
	}
	buf_appendf(&sql, " ORDER BY seq DESC LIMIT $%d",
		    pg_param_i64(&p, f->limit));
	res = pg_exec(pg(s), sql.data, &p, PG_IDEMPOTENT, "listing runs", err);
	if (res) {
		ret = pg_rows_all(res, sizeof(**out), run_from_row, run_clear,
				  &arr, n, err);
		*out = arr;
	}
	buf_free(&sql);
	return ret;
}

/* Columns: seq, id, automation. */
static int expired_from_row(const PGresult *res, int row, void *elem,
			    struct rc_err *err)
{
	struct run *r = elem;

	(void)err;
	r->seq = pg_col_i64(res, row, 0);
	snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, row, 1));
	r->automation = pg_col_text(res, row, 2);
	return 0;
}

static int pg_run_list_expired(struct store *s, int64_t finished_before,
			       int64_t keep_per_automation, int limit,
			       struct run **out, size_t *n, struct rc_err *err)
{
	struct pg_params p = { 0 };
	PGresult *res;
	void *arr = NULL;
	int ret;

	pg_param_i64(&p, finished_before);
	pg_param_i64(&p, keep_per_automation);
	pg_param_i64(&p, limit);
	res = pg_exec(pg(s),
		      "SELECT seq, id, automation FROM ("
		      " SELECT seq, id, automation, finished_at, ROW_NUMBER()"
		      " OVER (PARTITION BY automation ORDER BY seq DESC) AS rn"
		      " FROM runs WHERE state IN " TERMINAL_STATES_SQL ") t"
		      " WHERE ($1::bigint > 0 AND finished_at < $1)"
		      " OR ($2::bigint > 0 AND rn > $2)"
		      " ORDER BY seq LIMIT $3",
		      &p, PG_IDEMPOTENT, "listing expired runs", err);
	if (!res)
		return -1;
	ret = pg_rows_all(res, sizeof(**out), expired_from_row, run_clear, &arr,
			  n, err);
	*out = arr;
	return ret;
}

/* The run and its notifications go in one statement. */
static int pg_run_delete(struct store *s, const char *id, struct rc_err *err)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int ret;

	pg_param_text(&p, id);
	res = pg_exec(
		pg(s),
		"WITH d AS (DELETE FROM runs WHERE id = $1 AND state IN " TERMINAL_STATES_SQL
		" RETURNING id),"
		" n AS (DELETE FROM notifications"
		" WHERE run_id IN (SELECT id FROM d))"
		" SELECT count(*) FROM d",
		&p, PG_ONCE, "deleting a run", err);
	if (!res)
		return -1;
	ret = pg_col_i64(res, 0, 0) > 0 ? 0 : 1;
	PQclear(res);
	return ret;
}

/* --- users --- */

static int pg_user_put(struct store *s, const char *name, enum role role,
		       int64_t now, struct rc_err *err)
{
	struct pg_params p = { 0 };
	int ret;

	pg_param_text(&p, name);
	pg_param_text(&p, role_name(role));
	pg_param_i64(&p, now);
	ret = pg_write(pg(s),
		       "INSERT INTO users (name, role, created_at, disabled)"
		       " VALUES ($1, $2, $3, false) ON CONFLICT (name)"
		       " DO UPDATE SET role = excluded.role",
		       &p, PG_IDEMPOTENT, "writing a user", err);
	return ret < 0 ? ret : 0;
}

/* Columns: name, role, created_at, disabled. */
static int user_from_row(const PGresult *res, int row, void *elem,
			 struct rc_err *err)
{
	struct user *u = elem;

	(void)err;
	u->name = pg_col_text(res, row, 0);
	u->role = col_role(res, row, 1);
	u->created_at = pg_col_i64(res, row, 2);
	u->disabled = pg_col_bool(res, row, 3);
	return 0;
}

static void user_clear(void *elem)
{
	store_user_clear(elem);
}

static int pg_user_get(struct store *s, const char *name, struct user *u,
		       struct rc_err *err)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int ret = 1;

	pg_param_text(&p, name);
	res = pg_exec(pg(s),
		      "SELECT name, role, created_at, disabled"
		      " FROM users WHERE name = $1",
		      &p, PG_IDEMPOTENT, "reading a user", err);
	if (!res)
		return -1;
	if (PQntuples(res) > 0)
		ret = user_from_row(res, 0, u, err);
	PQclear(res);
	return ret;
}

/* Names in byte order, as SQLite sorts them, whatever the locale. */
static int pg_user_list(struct store *s, struct user **out, size_t *n,
			struct rc_err *err)
{
	PGresult *res;
	void *arr = NULL;
	int ret;

	res = pg_exec(pg(s),
		      "SELECT name, role, created_at, disabled"
		      " FROM users ORDER BY name COLLATE \"C\"",
		      NULL, PG_IDEMPOTENT, "listing users", err);
	if (!res)
		return -1;
	ret = pg_rows_all(res, sizeof(**out), user_from_row, user_clear, &arr,
			  n, err);
	*out = arr;
	return ret;
}

static int pg_user_count(struct store *s, int64_t *n, struct rc_err *err)
{
	PGresult *res;

	res = pg_exec(pg(s), "SELECT count(*) FROM users", NULL, PG_IDEMPOTENT,
		      "counting users", err);
	if (!res)
		return -1;
	*n = pg_col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

static int pg_user_set_disabled(struct store *s, const char *name,
				bool disabled, struct rc_err *err)
{
	struct pg_params p = { 0 };

	pg_param_text(&p, name);
	pg_param_bool(&p, disabled);
	return pg_write(pg(s),
			"UPDATE users SET disabled = $2"
			" WHERE name = $1",
			&p, PG_IDEMPOTENT, "writing a user", err);
}

static int pg_user_set_password(struct store *s, const char *name,
				const char *hash, struct rc_err *err)
{
	struct pg_params p = { 0 };

	pg_param_text(&p, name);
	pg_param_text(&p, hash);
	return pg_write(pg(s),
			"UPDATE users SET password_hash = $2"
			" WHERE name = $1",
			&p, PG_IDEMPOTENT, "writing a password", err);
}

static int pg_user_get_password(struct store *s, const char *name, char **hash,
				struct rc_err *err)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int ret = 1;

	pg_param_text(&p, name);
	res = pg_exec(pg(s), "SELECT password_hash FROM users WHERE name = $1",
		      &p, PG_IDEMPOTENT, "reading a password", err);
	if (!res)
		return -1;
	if (PQntuples(res) > 0) {
		*hash = pg_col_text(res, 0, 0);
		ret = 0;
	}
	PQclear(res);
	return ret;
}

/* --- tokens --- */

static int pg_token_insert(struct store *s, const char *user, const char *label,
			   const char *hash, int64_t now, int64_t *id_out,
			   struct rc_err *err)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int ret = 1; /* no such user */

	pg_param_text(&p, user);
	pg_param_text(&p, label);
	pg_param_text(&p, hash);
	pg_param_i64(&p, now);
	res = pg_exec(pg(s),
		      "INSERT INTO tokens (user_name, label, hash, created_at,"
		      " revoked) SELECT name, $2, $3, $4, false FROM users"
		      " WHERE name = $1 RETURNING id",
		      &p, PG_ONCE, "writing a token", err);
	if (!res)
		return -1;
	if (PQntuples(res) > 0) {
		*id_out = pg_col_i64(res, 0, 0);
		ret = 0;
	}
	PQclear(res);
	return ret;
}

/* Columns: TOKEN_COLS. */
static int token_from_row(const PGresult *res, int row, void *elem,
			  struct rc_err *err)
{
	struct store_token_row *tr = elem;
	struct token_info *t = &tr->info;

	(void)err;
	t->id = pg_col_i64(res, row, 0);
	t->user = pg_col_text(res, row, 1);
	t->role = col_role(res, row, 2);
	t->label = pg_col_text(res, row, 3);
	t->created_at = pg_col_i64(res, row, 4);
	t->last_used_at = pg_col_i64(res, row, 5);
	t->revoked = pg_col_bool(res, row, 6);
	tr->user_disabled = pg_col_bool(res, row, 7);
	return 0;
}

static int token_info_from_row(const PGresult *res, int row, void *elem,
			       struct rc_err *err)
{
	struct store_token_row tr;

	memset(&tr, 0, sizeof(tr));
	token_from_row(res, row, &tr, err);
	*(struct token_info *)elem = tr.info;
	return 0;
}

static void token_clear(void *elem)
{
	store_token_clear(elem);
}

static int pg_token_find(struct store *s, const char *hash,
			 struct store_token_row *row, struct rc_err *err)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int ret = 1;

	pg_param_text(&p, hash);
	res = pg_exec(pg(s),
		      "SELECT " TOKEN_COLS " FROM tokens t"
		      " JOIN users u ON u.name = t.user_name WHERE t.hash = $1",
		      &p, PG_IDEMPOTENT, "looking up a token", err);
	if (!res)
		return -1;
	if (PQntuples(res) > 0)
		ret = token_from_row(res, 0, row, err);
	PQclear(res);
	return ret;
}

static int pg_token_touch(struct store *s, int64_t id, int64_t now,
			  struct rc_err *err)
{
	struct pg_params p = { 0 };
	int ret;

	pg_param_i64(&p, id);
	pg_param_i64(&p, now);
	ret = pg_write(pg(s),
		       "UPDATE tokens SET last_used_at = $2"
		       " WHERE id = $1 AND (last_used_at IS NULL"
		       " OR last_used_at < $2)",
		       &p, PG_IDEMPOTENT, "recording a token's use", err);
	/* 1: another replica recorded a later use first; that is fine. */
	return ret < 0 ? ret : 0;
}

static int pg_token_revoke(struct store *s, int64_t id, struct rc_err *err)
{
	struct pg_params p = { 0 };

	pg_param_i64(&p, id);
	return pg_write(pg(s),
			"UPDATE tokens SET revoked = true"
			" WHERE id = $1",
			&p, PG_IDEMPOTENT, "revoking a token", err);
}

static int pg_token_list(struct store *s, struct token_info **out, size_t *n,
			 struct rc_err *err)
{
	PGresult *res;
	void *arr = NULL;
	int ret;

	res = pg_exec(pg(s),
		      "SELECT " TOKEN_COLS " FROM tokens t"
		      " LEFT JOIN users u ON u.name = t.user_name"
		      " ORDER BY t.id",
		      NULL, PG_IDEMPOTENT, "listing tokens", err);
	if (!res)
		return -1;
	ret = pg_rows_all(res, sizeof(**out), token_info_from_row, token_clear,
			  &arr, n, err);
	*out = arr;
	return ret;
}

/* --- audit --- */

static int pg_audit_add(struct store *s, int64_t at, const char *actor,
			const char *action, const char *target,
			const char *detail_json, struct rc_err *err)
{
	struct pg_params p = { 0 };
	int ret;

	pg_param_i64(&p, at);
	pg_param_text(&p, actor);
	pg_param_text(&p, action);
	pg_param_text(&p, target);
	pg_param_text(&p, detail_json);
	ret = pg_write(pg(s),
		       "INSERT INTO audit (at, actor, action, target,"
		       " detail) VALUES ($1, $2, $3, $4, $5)",
		       &p, PG_ONCE, "writing an audit entry", err);
	return ret < 0 ? ret : 0;
}

/* Columns: id, at, actor, action, target, detail. */
static int audit_from_row(const PGresult *res, int row, void *elem,
			  struct rc_err *err)
{
	struct audit_entry *a = elem;

	(void)err;
	a->id = pg_col_i64(res, row, 0);
	a->at = pg_col_i64(res, row, 1);
	a->actor = pg_col_text(res, row, 2);
	a->action = pg_col_text(res, row, 3);
	a->target = pg_col_text(res, row, 4);
	a->detail = pg_col_text(res, row, 5);
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

static int pg_audit_list(struct store *s, int64_t before_id, int limit,
			 struct audit_entry **out, size_t *n,
			 struct rc_err *err)
{
	struct pg_params p = { 0 };
	PGresult *res;
	void *arr = NULL;
	int ret;

	pg_param_i64(&p, before_id > 0 ? before_id : INT64_MAX);
	pg_param_i64(&p, limit);
	res = pg_exec(pg(s),
		      "SELECT id, at, actor, action, target, detail"
		      " FROM audit WHERE id < $1 ORDER BY id DESC LIMIT $2",
		      &p, PG_IDEMPOTENT, "listing audit entries", err);
	if (!res)
		return -1;
	ret = pg_rows_all(res, sizeof(**out), audit_from_row, audit_clear, &arr,
			  n, err);
	*out = arr;
	return ret;
}

/* --- schedule ticks --- */

/* Of several replicas claiming one tick, the INSERT of exactly one adds a
 * row; the others' conflict with UNIQUE (automation, fire_time). */
static int pg_tick_claim(struct store *s, const char *automation,
			 int64_t fire_time, int64_t now, struct rc_err *err)
{
	struct pg_params p = { 0 };

	pg_param_text(&p, automation);
	pg_param_i64(&p, fire_time);
	pg_param_i64(&p, now);
	return pg_write(pg(s),
			"INSERT INTO schedule_ticks (automation,"
			" fire_time, claimed_at) VALUES ($1, $2, $3)"
			" ON CONFLICT (automation, fire_time) DO NOTHING",
			&p, PG_ONCE, "claiming a schedule tick", err);
}

static int pg_tick_finish(struct store *s, const char *automation,
			  int64_t fire_time, const char *run_id,
			  const char *error, struct rc_err *err)
{
	struct pg_params p = { 0 };

	pg_param_text(&p, automation);
	pg_param_i64(&p, fire_time);
	pg_param_text(&p, run_id);
	pg_param_text(&p, error);
	return pg_write(pg(s),
			"UPDATE schedule_ticks SET run_id = $3,"
			" error = $4 WHERE automation = $1"
			" AND fire_time = $2",
			&p, PG_IDEMPOTENT, "recording a schedule tick", err);
}

static int pg_tick_last(struct store *s, const char *automation,
			int64_t *fire_time, struct rc_err *err)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int ret = 1;

	pg_param_text(&p, automation);
	res = pg_exec(pg(s),
		      "SELECT max(fire_time) FROM schedule_ticks"
		      " WHERE automation = $1",
		      &p, PG_IDEMPOTENT, "reading the last schedule tick", err);
	if (!res)
		return -1;
	if (PQntuples(res) > 0 && !pg_col_null(res, 0, 0)) {
		*fire_time = pg_col_i64(res, 0, 0);
		ret = 0;
	}
	PQclear(res);
	return ret;
}

/* --- notifications --- */

static int pg_notification_add(struct store *s, const char *run_id,
			       const char *url, int64_t now, int64_t *id_out,
			       struct rc_err *err)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int ret = 1; /* (run_id, url) exists */

	pg_param_text(&p, run_id);
	pg_param_text(&p, url);
	pg_param_i64(&p, now);
	res = pg_exec(pg(s),
		      "INSERT INTO notifications (run_id, url, status,"
		      " attempts, created_at) VALUES ($1, $2, 'pending', 0, $3)"
		      " ON CONFLICT (run_id, url) DO NOTHING RETURNING id",
		      &p, PG_ONCE, "recording a notification", err);
	if (!res)
		return -1;
	if (PQntuples(res) > 0) {
		*id_out = pg_col_i64(res, 0, 0);
		ret = 0;
	}
	PQclear(res);
	return ret;
}

static int pg_notification_update(struct store *s,
				  const struct notification *nt, int64_t now,
				  struct rc_err *err)
{
	struct pg_params p = { 0 };

	pg_param_i64(&p, nt->id);
	pg_param_text(&p, nt->status);
	pg_param_i64(&p, nt->attempts);
	pg_param_text(&p, nt->last_error);
	pg_param_time(&p, nt->delivered_at);
	pg_param_i64(&p, now);
	return pg_write(pg(s),
			"UPDATE notifications SET status = $2,"
			" attempts = $3, last_error = $4, delivered_at = $5,"
			" updated_at = $6 WHERE id = $1",
			&p, PG_IDEMPOTENT, "recording a notification", err);
}

/* Columns: NOTE_COLS. */
static int note_from_row(const PGresult *res, int row, void *elem,
			 struct rc_err *err)
{
	struct notification *nt = elem;

	(void)err;
	nt->id = pg_col_i64(res, row, 0);
	nt->run_id = pg_col_text(res, row, 1);
	nt->url = pg_col_text(res, row, 2);
	nt->status = pg_col_text(res, row, 3);
	nt->attempts = (int)pg_col_i64(res, row, 4);
	nt->last_error = pg_col_text(res, row, 5);
	nt->created_at = pg_col_i64(res, row, 6);
	nt->updated_at = pg_col_i64(res, row, 7);
	nt->delivered_at = pg_col_i64(res, row, 8);
	return 0;
}

static void note_clear(void *elem)
{
	store_notification_clear(elem);
}

static int pg_notification_list(struct store *s, const char *run_id,
				struct notification **out, size_t *n,
				struct rc_err *err)
{
	struct pg_params p = { 0 };
	PGresult *res;
	void *arr = NULL;
	int ret;

	if (run_id) {
		pg_param_text(&p, run_id);
		res = pg_exec(pg(s),
			      "SELECT " NOTE_COLS " FROM notifications"
			      " WHERE run_id = $1 ORDER BY id",
			      &p, PG_IDEMPOTENT, "listing notifications", err);
	} else {
		res = pg_exec(
			pg(s),
			"SELECT " NOTE_COLS " FROM notifications"
			" WHERE status = 'pending' ORDER BY id LIMIT 1000",
			NULL, PG_IDEMPOTENT, "listing notifications", err);
	}
	if (!res)
		return -1;
	ret = pg_rows_all(res, sizeof(**out), note_from_row, note_clear, &arr,
			  n, err);
	*out = arr;
	return ret;
}

const struct store_ops store_postgres_ops = {
	.name = "postgres",
	.open = pg_open,
	.close = pg_close,
	.run_insert = pg_run_insert,
	.run_get = pg_run_get,
	.run_transition = pg_run_transition,
	.run_set_handle = pg_run_set_handle,
	.run_set_stop_requested = pg_run_set_stop_requested,
	.run_list = pg_run_list,
	.run_list_expired = pg_run_list_expired,
	.run_delete = pg_run_delete,
	.user_put = pg_user_put,
	.user_get = pg_user_get,
	.user_list = pg_user_list,
	.user_count = pg_user_count,
	.user_set_disabled = pg_user_set_disabled,
	.user_set_password = pg_user_set_password,
	.user_get_password = pg_user_get_password,
	.token_insert = pg_token_insert,
	.token_find = pg_token_find,
	.token_touch = pg_token_touch,
	.token_revoke = pg_token_revoke,
	.token_list = pg_token_list,
	.audit_add = pg_audit_add,
	.audit_list = pg_audit_list,
	.tick_claim = pg_tick_claim,
	.tick_finish = pg_tick_finish,
	.tick_last = pg_tick_last,
	.notification_add = pg_notification_add,
	.notification_update = pg_notification_update,
	.notification_list = pg_notification_list,
};
