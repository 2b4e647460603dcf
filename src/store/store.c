/*
 * store.c - the public store interface (store.h) on top of a backend.
 *
 * This file picks the backend from the store URL, checks arguments and holds
 * the policy every backend shares: which columns a state transition writes,
 * how list limits are clamped, how API tokens are generated and hashed
 * (only the SHA-256 of a secret ever reaches a backend), and how often a
 * token's last use is recorded.  The backends (src/store/sqlite.c and
 * src/store/postgres.c) only read and write rows; see backend.h.
 */
#include "backend.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define TOKEN_PREFIX "rct_"
#define TOKEN_RANDOM_BYTES 24
#define TOKEN_LEN (sizeof(TOKEN_PREFIX) - 1 + 2 * TOKEN_RANDOM_BYTES)
#define TOKEN_HASH_HEX_LEN (2 * crypto_hash_sha256_BYTES)
#define TOKEN_TOUCH_INTERVAL_MS 60000
#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 1000

#define STATE_COUNT (RUN_LOST + 1)
#define STATE_ALL_MASK ((1u << STATE_COUNT) - 1)
#define ROLE_COUNT (ROLE_ADMIN + 1)

/* --- open and close --- */

/*
 * Open the store named by url.  "sqlite:PATH", "sqlite://PATH" and a plain
 * path select SQLite; "postgres://..." and "postgresql://..." select
 * PostgreSQL, and the whole URL goes to libpq.  On success *out is the
 * handle (close with store_close).  Errors never repeat a PostgreSQL URL,
 * which may hold a password.
 */
int store_open(const char *url, struct store **out, struct rc_err *err)
{
	const struct store_ops *ops = &store_sqlite_ops;
	const char *target = url;
	int ret;

	assert(out);
	*out = NULL;
	if (!url || !*url)
		return rc_err_set(err, EINVAL,
				  "store: no database given; set "
				  "a path or a \"sqlite:/path\" URL");
	if (str_has_prefix(url, "postgres://") ||
	    str_has_prefix(url, "postgresql://"))
		ops = &store_postgres_ops;
	else if (str_has_prefix(url, "sqlite://"))
		target = url + strlen("sqlite://");
	else if (str_has_prefix(url, "sqlite:"))
		target = url + strlen("sqlite:");
	else if (strstr(url, "://"))
		return rc_err_set(err, EINVAL,
				  "store: unknown database URL "
				  "\"%s\"; use \"sqlite:/path\", "
				  "\"postgres://USER@HOST/DB\" or a path",
				  url);
	if (!*target)
		return rc_err_set(err, EINVAL, "store: \"%s\" names no file",
				  url);

	ret = ops->open(target, out, err);
	if (ret < 0)
		return ops == &store_postgres_ops ?
			       rc_err_wrap(err,
					   "opening the PostgreSQL store") :
			       rc_err_wrap(err, "opening store %s", target);
	(*out)->ops = ops;
	return 0;
}

/* Close the store and free the handle.  s may be NULL. */
void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

/* --- runs --- */

static int check_id(const char *id, struct rc_err *err)
{
	if (!id || !*id)
		return rc_err_set(err, EINVAL, "store: empty run id");
	return 0;
}

static int check_state(int st, struct rc_err *err)
{
	if (st < 0 || st >= STATE_COUNT)
		return rc_err_set(err, EINVAL, "store: bad run state %d", st);
	return 0;
}

/* Insert r as a new run; r->seq receives its store order.  -1 (EEXIST)
 * if a run with that id exists. */
int store_run_insert(struct store *s, struct run *r, struct rc_err *err)
{
	assert(s && r);
	if (check_id(r->id, err) < 0 || check_state((int)r->state, err) < 0)
		return -1;
	if (!r->automation || !r->user || !r->executor)
		return rc_err_set(err, EINVAL,
				  "store: run %s lacks "
				  "automation, user or executor",
				  r->id);
	return s->ops->run_insert(s, r, err);
}

/* Fetch run id into *r (which the caller clears with store_run_clear).
 * 0 found, 1 not found, -1 error. */
int store_run_get(struct store *s, const char *id, struct run *r,
		  struct rc_err *err)
{
	assert(s && r);
	memset(r, 0, sizeof(*r));
	if (check_id(id, err) < 0)
		return -1;
	return s->ops->run_get(s, id, r, err);
}

/*
 * Move run id to state to.  What is written depends on to:
 *  - queued, starting: the state only;
 *  - running: started_at = upd->started_at (left as is if 0);
 *  - terminal: finished_at (upd->finished_at, or now if 0), exit_code
 *    (NULL unless upd->has_exit_code), reason (may be NULL), usage if
 *    upd->has_usage, and started_at if it was still unset.
 * upd->handle, if set, is written with any state.  upd may be NULL.
 * 0 written, 1 refused (terminal, state not in from_mask, or no such run),
 * -1 error.
 */
int store_run_transition(struct store *s, const char *id, unsigned from_mask,
			 enum run_state to, const struct run *upd,
			 struct rc_err *err)
{
	struct store_transition t;
	int st;

	assert(s);
	if (check_id(id, err) < 0 || check_state((int)to, err) < 0)
		return -1;

	memset(&t, 0, sizeof(t));
	t.to = to;
	t.allowed_mask = from_mask & STATE_ALL_MASK;
	for (st = 0; st < STATE_COUNT; st++)
		if (run_state_terminal((enum run_state)st))
			t.allowed_mask &= ~RUN_MASK(st);
	if (upd)
		t.handle = upd->handle;

	if (to == RUN_RUNNING && upd) {
		t.set_started_at = upd->started_at;
	} else if (run_state_terminal(to)) {
		t.finish = true;
		t.finished_at = time_now_ms();
		if (upd) {
			if (upd->finished_at > 0)
				t.finished_at = upd->finished_at;
			t.fill_started_at = upd->started_at;
			t.has_exit_code = upd->has_exit_code;
			t.exit_code = upd->exit_code;
			t.reason = upd->reason;
			t.has_usage = upd->has_usage;
			t.cpu_usec = upd->cpu_usec;
			t.peak_memory = upd->peak_memory;
		}
	}
	if (t.allowed_mask == 0)
		return 1;
	return s->ops->run_transition(s, id, &t, err);
}

/* Record the executor's handle of run id.  0 done, 1 no such run. */
int store_run_set_handle(struct store *s, const char *id, const char *handle,
			 struct rc_err *err)
{
	assert(s);
	if (check_id(id, err) < 0)
		return -1;
	if (!handle || !*handle)
		return rc_err_set(err, EINVAL, "store: empty handle for run %s",
				  id);
	return s->ops->run_set_handle(s, id, handle, err);
}

/* Mark that a stop of run id was asked for.  0 done, 1 no such run. */
int store_run_set_stop_requested(struct store *s, const char *id,
				 struct rc_err *err)
{
	assert(s);
	if (check_id(id, err) < 0)
		return -1;
	return s->ops->run_set_stop_requested(s, id, err);
}

static int clamp_limit(int limit)
{
	if (limit <= 0)
		return LIST_LIMIT_DEFAULT;
	if (limit > LIST_LIMIT_MAX)
		return LIST_LIMIT_MAX;
	return limit;
}

/*
 * List runs newest first (by seq).  f may be NULL (every run, 50 at most).
 * A limit of 0 means 50; limits above 1000 are cut to 1000.  *out (an array
 * of *n runs, NULL when empty) is freed with store_runs_free.
 */
int store_run_list(struct store *s, const struct run_filter *f,
		   struct run **out, size_t *n, struct rc_err *err)
{
	struct run_filter fl = { .state = -1 };

	assert(s && out && n);
	*out = NULL;
	*n = 0;
	if (f)
		fl = *f;
	if (fl.state != -1 && check_state(fl.state, err) < 0)
		return -1;
	if (fl.automation && !*fl.automation)
		fl.automation = NULL;
	if (fl.user && !*fl.user)
		fl.user = NULL;
	if (fl.before_seq < 0)
		fl.before_seq = 0;
	fl.limit = clamp_limit(fl.limit);
	return s->ops->run_list(s, &fl, out, n, err);
}

/* Candidates for retention; see store.h.  limit is clamped like lists. */
int store_run_list_expired(struct store *s, int64_t finished_before,
			   int64_t keep_per_automation, int limit,
			   struct run **out, size_t *n, struct rc_err *err)
{
	assert(s && out && n);
	*out = NULL;
	*n = 0;
	if (finished_before <= 0 && keep_per_automation <= 0)
		return 0;
	return s->ops->run_list_expired(s, finished_before, keep_per_automation,
					clamp_limit(limit), out, n, err);
}

/* Delete terminal run id.  0 deleted, 1 none (or not terminal). */
int store_run_delete(struct store *s, const char *id, struct rc_err *err)
{
	assert(s);
	if (check_id(id, err) < 0)
		return -1;
	return s->ops->run_delete(s, id, err);
}

/* Free the strings of *r and zero it.  r may be NULL. */
void store_run_clear(struct run *r)
{
	if (!r)
		return;
	free(r->automation);
	free(r->user);
	free(r->parameters);
	free(r->argv);
	free(r->executor);
	free(r->handle);
	free(r->reason);
	memset(r, 0, sizeof(*r));
}

/* Free an array from store_run_list. */
void store_runs_free(struct run *runs, size_t n)
{
	size_t i;

	for (i = 0; runs && i < n; i++)
		store_run_clear(&runs[i]);
	free(runs);
}

/* --- users --- */

static int check_name(const char *name, struct rc_err *err)
{
	if (!name || !*name)
		return rc_err_set(err, EINVAL, "store: empty user name");
	return 0;
}

/* Create user name with role, or change the role of an existing user. */
int store_user_put(struct store *s, const char *name, enum role role,
		   struct rc_err *err)
{
	assert(s);
	if (check_name(name, err) < 0)
		return -1;
	if ((int)role < 0 || (int)role >= ROLE_COUNT)
		return rc_err_set(err, EINVAL, "store: bad role %d", (int)role);
	return s->ops->user_put(s, name, role, time_now_ms(), err);
}

/* Fetch user name into *u (clear with store_user_clear).  0 found,
 * 1 not found, -1 error. */
int store_user_get(struct store *s, const char *name, struct user *u,
		   struct rc_err *err)
{
	assert(s && u);
	memset(u, 0, sizeof(*u));
	if (check_name(name, err) < 0)
		return -1;
	return s->ops->user_get(s, name, u, err);
}

/* Every user, by name.  Free each with store_user_clear, then the array. */
int store_user_list(struct store *s, struct user **out, size_t *n,
		    struct rc_err *err)
{
	assert(s && out && n);
	*out = NULL;
	*n = 0;
	return s->ops->user_list(s, out, n, err);
}

void store_user_clear(struct user *u)
{
	if (!u)
		return;
	free(u->name);
	memset(u, 0, sizeof(*u));
}

/* The number of users (disabled ones included) into *n. */
int store_user_count(struct store *s, int64_t *n, struct rc_err *err)
{
	assert(s && n);
	*n = 0;
	return s->ops->user_count(s, n, err);
}

/* Disable or re-enable user name.  0 done, 1 no such user, -1 error. */
int store_user_set_disabled(struct store *s, const char *name, bool disabled,
			    struct rc_err *err)
{
	assert(s);
	if (check_name(name, err) < 0)
		return -1;
	return s->ops->user_set_disabled(s, name, disabled, err);
}

/* Set (hash non-NULL) or clear the password hash of user name.  0 done,
 * 1 no such user, -1 error. */
int store_user_set_password(struct store *s, const char *name, const char *hash,
			    struct rc_err *err)
{
	assert(s);
	if (check_name(name, err) < 0)
		return -1;
	return s->ops->user_set_password(s, name, hash, err);
}

/* The password hash of user name into *hash (caller frees; NULL when none
 * is set).  0 found, 1 no such user, -1 error. */
int store_user_get_password(struct store *s, const char *name, char **hash,
			    struct rc_err *err)
{
	assert(s && hash);
	*hash = NULL;
	if (check_name(name, err) < 0)
		return -1;
	return s->ops->user_get_password(s, name, hash, err);
}

/* --- tokens --- */

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status = -1;

static void sodium_setup(void)
{
	sodium_status = sodium_init() < 0 ? -1 : 0;
}

/* Hex SHA-256 of token into out (TOKEN_HASH_HEX_LEN + 1 bytes). */
static int token_hash(const char *token, char *out, struct rc_err *err)
{
	unsigned char digest[crypto_hash_sha256_BYTES];

	pthread_once(&sodium_once, sodium_setup);
	if (sodium_status < 0)
		return rc_err_set(err, EIO,
				  "store: libsodium failed to "
				  "initialize");
	crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
	sodium_bin2hex(out, TOKEN_HASH_HEX_LEN + 1, digest, sizeof(digest));
	sodium_memzero(digest, sizeof(digest));
	return 0;
}

/*
 * Create a token for an existing user.  The secret ("rct_" and 48 hex
 * characters) goes to *token_out, which the caller frees; only its SHA-256
 * is stored.  *id_out (may be NULL) receives the token's id.  Fails (ENOENT)
 * if the user does not exist.
 */
int store_token_create(struct store *s, const char *user, const char *label,
		       char **token_out, int64_t *id_out, struct rc_err *err)
{
	char hash[TOKEN_HASH_HEX_LEN + 1];
	char *token;
	int64_t id = 0;
	int ret;

	assert(s && token_out);
	*token_out = NULL;
	if (check_name(user, err) < 0)
		return -1;

	token = xmalloc(TOKEN_LEN + 1);
	memcpy(token, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
	random_hex(token + sizeof(TOKEN_PREFIX) - 1, TOKEN_RANDOM_BYTES);

	ret = token_hash(token, hash, err);
	if (ret < 0)
		goto out;
	ret = s->ops->token_insert(s, user, label ? label : "", hash,
				   time_now_ms(), &id, err);
	if (ret == 1)
		ret = rc_err_set(err, ENOENT,
				 "no user \"%s\"; create the user "
				 "before giving it a token",
				 user);
	if (ret < 0)
		goto out;
	if (id_out)
		*id_out = id;
	*token_out = token;
	token = NULL;
out:
	if (token) {
		sodium_memzero(token, TOKEN_LEN);
		free(token);
	}
	return ret;
}

/*
 * Check a presented token.  0 with *ti filled (clear with store_token_clear)
 * if it is known, not revoked and its user is not disabled; 1 otherwise
 * (*err then says why, for the log, with errnum EACCES); -1 on error.
 * The lookup is by hash only.  The token's last use is written at most once
 * a minute, and a failure to write it does not refuse the token.
 */
int store_token_check(struct store *s, const char *token, struct token_info *ti,
		      struct rc_err *err)
{
	char hash[TOKEN_HASH_HEX_LEN + 1];
	struct store_token_row row;
	struct rc_err ignored;
	int64_t now;
	int ret;

	assert(s && ti);
	memset(ti, 0, sizeof(*ti));
	memset(&row, 0, sizeof(row));
	if (!token || !*token) {
		rc_err_set(err, EACCES, "no token given");
		return 1;
	}
	ret = token_hash(token, hash, err);
	if (ret < 0)
		return -1;
	ret = s->ops->token_find(s, hash, &row, err);
	if (ret != 0) {
		if (ret == 1)
			rc_err_set(err, EACCES, "unknown token");
		goto out;
	}
	if (row.info.revoked) {
		rc_err_set(err, EACCES, "token %lld is revoked",
			   (long long)row.info.id);
		ret = 1;
		goto out;
	}
	if (row.user_disabled) {
		rc_err_set(err, EACCES, "user \"%s\" is disabled",
			   row.info.user);
		ret = 1;
		goto out;
	}

	now = time_now_ms();
	if (now - row.info.last_used_at >= TOKEN_TOUCH_INTERVAL_MS &&
	    s->ops->token_touch(s, row.info.id, now, &ignored) == 0)
		row.info.last_used_at = now;
	*ti = row.info;
	memset(&row, 0, sizeof(row));
out:
	store_token_clear(&row.info);
	return ret;
}

/* Revoke token id.  0 revoked (or already was), 1 no such token. */
int store_token_revoke(struct store *s, int64_t id, struct rc_err *err)
{
	assert(s);
	if (id <= 0)
		return 1;
	return s->ops->token_revoke(s, id, err);
}

/* Every token (revoked ones included) by id, without secrets.  Free each
 * with store_token_clear, then the array. */
int store_token_list(struct store *s, struct token_info **out, size_t *n,
		     struct rc_err *err)
{
	assert(s && out && n);
	*out = NULL;
	*n = 0;
	return s->ops->token_list(s, out, n, err);
}

void store_token_clear(struct token_info *t)
{
	if (!t)
		return;
	free(t->user);
	free(t->label);
	memset(t, 0, sizeof(*t));
}

/* --- audit --- */

/* Append an audit entry stamped now.  target and detail_json may be NULL;
 * detail_json is stored as given and must be JSON text. */
int store_audit_add(struct store *s, const char *actor, const char *action,
		    const char *target, const char *detail_json,
		    struct rc_err *err)
{
	assert(s);
	if (!actor || !*actor || !action || !*action)
		return rc_err_set(err, EINVAL,
				  "store: an audit entry needs "
				  "an actor and an action");
	return s->ops->audit_add(s, time_now_ms(), actor, action, target,
				 detail_json, err);
}

/* Audit entries newest first, older than before_id (0 = from the newest),
 * limit clamped like store_run_list.  Free with store_audit_free. */
int store_audit_list(struct store *s, int64_t before_id, int limit,
		     struct audit_entry **out, size_t *n, struct rc_err *err)
{
	assert(s && out && n);
	*out = NULL;
	*n = 0;
	if (before_id < 0)
		before_id = 0;
	return s->ops->audit_list(s, before_id, clamp_limit(limit), out, n,
				  err);
}

void store_audit_free(struct audit_entry *a, size_t n)
{
	size_t i;

	for (i = 0; a && i < n; i++) {
		free(a[i].actor);
		free(a[i].action);
		free(a[i].target);
		free(a[i].detail);
	}
	free(a);
}

/* --- schedule ticks --- */

/* Claim a tick; see store.h.  0 claimed, 1 taken before, -1 error. */
int store_tick_claim(struct store *s, const char *automation, int64_t fire_time,
		     struct rc_err *err)
{
	assert(s);
	if (!automation || !*automation)
		return rc_err_set(err, EINVAL,
				  "store: a tick needs an "
				  "automation");
	return s->ops->tick_claim(s, automation, fire_time, time_now_ms(), err);
}

/* Record the run (or error) of a claimed tick.  0 done, 1 no such tick. */
int store_tick_finish(struct store *s, const char *automation,
		      int64_t fire_time, const char *run_id, const char *error,
		      struct rc_err *err)
{
	assert(s && automation);
	return s->ops->tick_finish(s, automation, fire_time, run_id, error,
				   err);
}

/* The latest claimed tick of automation.  0 found, 1 none, -1 error. */
int store_tick_last(struct store *s, const char *automation, int64_t *fire_time,
		    struct rc_err *err)
{
	assert(s && automation && fire_time);
	*fire_time = 0;
	return s->ops->tick_last(s, automation, fire_time, err);
}

/* --- notifications --- */

/* Add a pending notification.  0 added, 1 exists, -1 error. */
int store_notification_add(struct store *s, const char *run_id, const char *url,
			   int64_t *id_out, struct rc_err *err)
{
	int64_t id = 0;
	int ret;

	assert(s);
	if (check_id(run_id, err) < 0)
		return -1;
	if (!url || !*url)
		return rc_err_set(err, EINVAL,
				  "store: a notification needs "
				  "a URL");
	ret = s->ops->notification_add(s, run_id, url, time_now_ms(), &id, err);
	if (ret == 0 && id_out)
		*id_out = id;
	return ret;
}

/* Write a notification's outcome.  0 done, 1 no such row, -1 error. */
int store_notification_update(struct store *s, const struct notification *nt,
			      struct rc_err *err)
{
	assert(s && nt);
	if (!nt->status)
		return rc_err_set(err, EINVAL,
				  "store: a notification needs "
				  "a status");
	return s->ops->notification_update(s, nt, time_now_ms(), err);
}

/* A run's notifications, or (run_id NULL) every pending one. */
int store_notification_list(struct store *s, const char *run_id,
			    struct notification **out, size_t *n,
			    struct rc_err *err)
{
	assert(s && out && n);
	*out = NULL;
	*n = 0;
	return s->ops->notification_list(s, run_id, out, n, err);
}

void store_notification_clear(struct notification *nt)
{
	if (!nt)
		return;
	free(nt->run_id);
	free(nt->url);
	free(nt->status);
	free(nt->last_error);
	memset(nt, 0, sizeof(*nt));
}

void store_notifications_free(struct notification *nts, size_t n)
{
	for (size_t i = 0; nts && i < n; i++)
		store_notification_clear(&nts[i]);
	free(nts);
}
