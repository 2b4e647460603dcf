/*
 * test_store.c - the store contract (store.h), proved the same way on each
 * backend: runs and their state machine, users, passwords, tokens, the
 * audit trail, schedule ticks, notifications, retention, and two handles
 * (server and CLI, or two replicas) sharing one database.
 *
 * Without RUNCELL_TEST_PG_URL the suite runs on SQLite, each test in its
 * own folder made with mkdtemp under /tmp.  With it (tests/pg/run.sh sets
 * it) the same tests run on that PostgreSQL database, each on an emptied
 * schema, followed by the tests only a shared server has: replicas
 * migrating at once, racing to finish a run and to claim a tick, and a
 * server restart under an open store (RUNCELL_TEST_PG_UP names up.sh).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <sqlite3.h>

#include "store.h"
#include "util.h"

/* The PostgreSQL URL under test, or NULL: the suite runs on SQLite. */
static const char *pg_url;

struct fixture {
	char dir[64];
	char *path;	 /* SQLite: the database file */
	const char *url; /* what store_open is given */
	struct store *s;
};

static void notice_ignore(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Run one statement on the test database behind the store's back, as
 * another process could; values are parameters.  Returns the first column
 * of the first row as a number, else the count of rows changed. */
static int64_t pg_sql(const char *sql, int n, const char *const *values)
{
	PGconn *c = PQconnectdb(pg_url);
	PGresult *res;
	int64_t v = 0;

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect %s: %s", pg_url, PQerrorMessage(c));
	PQsetNoticeProcessor(c, notice_ignore, NULL);
	res = PQexecParams(c, sql, n, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		if (PQntuples(res) > 0)
			v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	} else if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		v = strtoll(PQcmdTuples(res), NULL, 10);
	} else {
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	}
	PQclear(res);
	PQfinish(c);
	return v;
}

/* An empty schema: what a new database looks like to the store. */
static void pg_reset(void)
{
	pg_sql("DROP SCHEMA IF EXISTS public CASCADE", 0, NULL);
	pg_sql("CREATE SCHEMA public", 0, NULL);
}

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	struct rc_err err = { 0 };

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/runcell-store-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->path = xasprintf("%s/runcell.db", fx->dir);
	fx->url = fx->path;
	if (pg_url) {
		pg_reset();
		fx->url = pg_url;
	}
	if (store_open(fx->url, &fx->s, &err) < 0)
		fail_msg("store_open: %s", err.msg);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	store_close(fx->s);
	rm_rf(fx->dir);
	free(fx->path);
	free(fx);
	return 0;
}

/* Insert a queued run with the given id, automation and user. */
static void add_run(struct store *s, const char *id, const char *automation,
		    const char *user, enum run_state st, struct run *out)
{
	struct run r;
	struct rc_err err = { 0 };

	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "%s", id);
	r.automation = (char *)automation;
	r.user = (char *)user;
	r.parameters = (char *)"{\"n\":1}";
	r.argv = (char *)"[\"/bin/true\"]";
	r.executor = (char *)"sandbox";
	r.state = st;
	r.created_at = 1700000000000;
	if (store_run_insert(s, &r, &err) < 0)
		fail_msg("insert %s: %s", id, err.msg);
	assert_true(r.seq > 0);
	if (out)
		*out = r;
}

static void get_run(struct store *s, const char *id, struct run *r)
{
	struct rc_err err = { 0 };

	if (store_run_get(s, id, r, &err) != 0)
		fail_msg("get %s: %s", id, err.msg);
}

/* Read a whole file into memory (empty if it does not exist). */
static char *slurp(const char *path, size_t *len)
{
	struct rc_err err = { 0 };
	char *data = NULL;

	*len = 0;
	if (access(path, F_OK) != 0)
		return xstrdup("");
	if (read_file(path, 256u << 20, &data, len, &err) < 0)
		fail_msg("read %s: %s", path, err.msg);
	return data;
}

static bool file_contains(const char *path, const char *needle)
{
	size_t len, nlen = strlen(needle);
	char *data = slurp(path, &len);
	bool found = memmem(data, len, needle, nlen) != NULL;

	free(data);
	return found;
}

/* Whether any row of the store's tables holds needle. */
static bool pg_contains(const char *needle)
{
	const char *v[] = { needle };

	return pg_sql("SELECT count(*) FROM ("
		      " SELECT t::text AS row FROM tokens t"
		      " UNION ALL SELECT u::text FROM users u"
		      " UNION ALL SELECT a::text FROM audit a"
		      " UNION ALL SELECT r::text FROM runs r) x"
		      " WHERE strpos(row, $1) > 0",
		      1, v) > 0;
}

/* Backdate a token's last use behind the store's back, as another
 * process could. */
static void set_last_used(struct fixture *fx, int64_t id, int64_t at)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	if (pg_url) {
		char ids[24], ats[24];
		const char *v[] = { ids, ats };

		snprintf(ids, sizeof(ids), "%lld", (long long)id);
		snprintf(ats, sizeof(ats), "%lld", (long long)at);
		assert_int_equal(pg_sql("UPDATE tokens SET last_used_at = $2"
					" WHERE id = $1",
					2, v),
				 1);
		return;
	}
	assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "UPDATE tokens SET "
					    "last_used_at = ?2 WHERE id = ?1",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, at);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* --- names and opening --- */

static void test_names(void **state)
{
	int i;

	(void)state;
	for (i = RUN_QUEUED; i <= RUN_LOST; i++)
		assert_int_equal(run_state_parse(run_state_name(i)), i);
	assert_string_equal(run_state_name(RUN_TIMED_OUT), "timed_out");
	assert_int_equal(run_state_parse("nope"), -1);
	assert_int_equal(run_state_parse(NULL), -1);
	assert_false(run_state_terminal(RUN_RUNNING));
	assert_true(run_state_terminal(RUN_LOST));
	for (i = ROLE_VIEWER; i <= ROLE_ADMIN; i++)
		assert_int_equal(role_parse(role_name(i)), i);
	assert_int_equal(role_parse("root"), -1);
}

static void test_open_urls(void **state)
{
	struct rc_err err = { 0 };
	struct store *s = NULL;

	(void)state;
	/* A PostgreSQL server that is not there: a clear error at once,
	 * which names the server but never the password. */
	assert_int_equal(store_open("postgres://ops:sekrit@127.0.0.1:1/rc", &s,
				    &err),
			 -1);
	assert_null(s);
	assert_non_null(strstr(err.msg, "PostgreSQL"));
	assert_non_null(strstr(err.msg, "ops@127.0.0.1:1/rc"));
	assert_null(strstr(err.msg, "sekrit"));
	assert_int_equal(
		store_open("postgresql://127.0.0.1:1/rc?nope=1", &s, &err), -1);
	assert_null(s);
	assert_int_equal(store_open("mysql://x", &s, &err), -1);
	assert_int_equal(store_open("", &s, &err), -1);
	assert_int_equal(store_open("sqlite:", &s, &err), -1);
	assert_int_equal(store_open("/nonexistent-dir/x/y.db", &s, &err), -1);
}

static void test_open_sqlite_urls(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct store *s = NULL;
	char *url, *wal;
	struct stat st;

	url = xasprintf("sqlite:%s", fx->path);
	if (store_open(url, &s, &err) < 0)
		fail_msg("open %s: %s", url, err.msg);
	store_close(s);
	free(url);

	/* The file and its WAL are private to the service's user. */
	add_run(fx->s, "r0000000000000001", "a", "u", RUN_QUEUED, NULL);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	wal = xasprintf("%s-wal", fx->path);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(wal);
}

static void test_open_tightens_mode(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct store *s = NULL;
	struct stat st;
	char *path = xasprintf("%s/loose.db", fx->dir);

	assert_int_equal(write_file_atomic(path, "", 0, &err), 0);
	assert_int_equal(chmod(path, 0644), 0);
	if (store_open(path, &s, &err) < 0)
		fail_msg("open: %s", err.msg);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	store_close(s);
	free(path);
}

/* --- runs --- */

static void test_run_insert_get(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct run r, got;

	add_run(fx->s, "r00000000000000a1", "backup", "alice", RUN_QUEUED, &r);
	get_run(fx->s, "r00000000000000a1", &got);
	assert_int_equal(got.seq, r.seq);
	assert_string_equal(got.id, "r00000000000000a1");
	assert_string_equal(got.automation, "backup");
	assert_string_equal(got.user, "alice");
	assert_string_equal(got.parameters, "{\"n\":1}");
	assert_string_equal(got.argv, "[\"/bin/true\"]");
	assert_string_equal(got.executor, "sandbox");
	assert_null(got.handle);
	assert_int_equal(got.state, RUN_QUEUED);
	assert_false(got.has_exit_code);
	assert_null(got.reason);
	assert_int_equal(got.created_at, 1700000000000);
	assert_int_equal(got.started_at, 0);
	assert_int_equal(got.finished_at, 0);
	assert_false(got.has_usage);
	assert_false(got.stop_requested);
	store_run_clear(&got);

	/* Same id again: refused, EEXIST. */
	assert_int_equal(store_run_insert(fx->s, &r, &err), -1);
	assert_int_equal(err.errnum, EEXIST);

	assert_int_equal(store_run_get(fx->s, "rnope", &got, &err), 1);
	assert_int_equal(store_run_get(fx->s, "", &got, &err), -1);
}

static void test_run_insert_full(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct run r, got;

	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "r00000000000000f1");
	r.automation = (char *)"a";
	r.user = (char *)"u";
	r.executor = (char *)"process";
	r.handle = (char *)"pid:42";
	r.state = RUN_FAILED;
	r.has_exit_code = true;
	r.exit_code = -9;
	r.reason = (char *)"killed";
	r.created_at = 10;
	r.started_at = 11;
	r.finished_at = 12;
	r.has_usage = true;
	r.cpu_usec = 0;
	r.peak_memory = 4096;
	r.stop_requested = true;
	assert_int_equal(store_run_insert(fx->s, &r, &err), 0);
	get_run(fx->s, r.id, &got);
	assert_null(got.parameters);
	assert_string_equal(got.handle, "pid:42");
	assert_int_equal(got.state, RUN_FAILED);
	assert_true(got.has_exit_code);
	assert_int_equal(got.exit_code, -9);
	assert_string_equal(got.reason, "killed");
	assert_int_equal(got.started_at, 11);
	assert_int_equal(got.finished_at, 12);
	assert_true(got.has_usage);
	assert_int_equal(got.cpu_usec, 0);
	assert_int_equal(got.peak_memory, 4096);
	assert_true(got.stop_requested);
	store_run_clear(&got);
}

static void list_expect(struct store *s, const struct run_filter *f,
			const char *const *ids, size_t nids)
{
	struct rc_err err = { 0 };
	struct run *runs = NULL;
	size_t n = 0, i;

	if (store_run_list(s, f, &runs, &n, &err) < 0)
		fail_msg("list: %s", err.msg);
	if (n != nids) {
		for (i = 0; i < n; i++)
			print_message("got %s\n", runs[i].id);
		fail_msg("list returned %zu runs, expected %zu", n, nids);
	}
	for (i = 0; i < n; i++)
		assert_string_equal(runs[i].id, ids[i]);
	store_runs_free(runs, n);
}

static void test_run_list(void **state)
{
	struct fixture *fx = *state;
	struct run_filter f;
	struct run *runs = NULL;
	struct run r3;
	struct rc_err err = { 0 };
	size_t n = 0;
	int64_t cursor;

	add_run(fx->s, "r1", "backup", "alice", RUN_QUEUED, NULL);
	add_run(fx->s, "r2", "backup", "bob", RUN_RUNNING, NULL);
	add_run(fx->s, "r3", "report", "alice", RUN_SUCCEEDED, &r3);
	add_run(fx->s, "r4", "report", "bob", RUN_STARTING, NULL);
	add_run(fx->s, "r5", "backup", "alice", RUN_FAILED, NULL);

	list_expect(fx->s, NULL,
		    (const char *const[]){ "r5", "r4", "r3", "r2", "r1" }, 5);

	memset(&f, 0, sizeof(f));
	f.state = -1;
	f.automation = "backup";
	list_expect(fx->s, &f, (const char *const[]){ "r5", "r2", "r1" }, 3);

	f.automation = NULL;
	f.user = "alice";
	list_expect(fx->s, &f, (const char *const[]){ "r5", "r3", "r1" }, 3);

	f.automation = "backup";
	list_expect(fx->s, &f, (const char *const[]){ "r5", "r1" }, 2);

	memset(&f, 0, sizeof(f));
	f.state = RUN_SUCCEEDED;
	list_expect(fx->s, &f, (const char *const[]){ "r3" }, 1);
	f.state = RUN_QUEUED;
	list_expect(fx->s, &f, (const char *const[]){ "r1" }, 1);

	f.state = -1;
	f.active_only = true;
	list_expect(fx->s, &f, (const char *const[]){ "r4", "r2", "r1" }, 3);
	f.user = "bob";
	list_expect(fx->s, &f, (const char *const[]){ "r4", "r2" }, 2);
	f.user = "carol";
	list_expect(fx->s, &f, NULL, 0);

	/* Paging: two at a time, continuing below the last seq seen. */
	memset(&f, 0, sizeof(f));
	f.state = -1;
	f.limit = 2;
	list_expect(fx->s, &f, (const char *const[]){ "r5", "r4" }, 2);
	f.before_seq = r3.seq + 1;
	list_expect(fx->s, &f, (const char *const[]){ "r3", "r2" }, 2);
	assert_int_equal(store_run_list(fx->s, &f, &runs, &n, &err), 0);
	cursor = runs[n - 1].seq;
	store_runs_free(runs, n);
	f.before_seq = cursor;
	list_expect(fx->s, &f, (const char *const[]){ "r1" }, 1);
	f.before_seq = 1;
	list_expect(fx->s, &f, NULL, 0);

	/* A bad state is an error, not an empty list. */
	f.before_seq = 0;
	f.state = 99;
	assert_int_equal(store_run_list(fx->s, &f, &runs, &n, &err), -1);
}

static void test_run_list_limits(void **state)
{
	struct fixture *fx = *state;
	struct run_filter f;
	struct run *runs = NULL;
	struct rc_err err = { 0 };
	char id[32];
	size_t n = 0;
	int i;

	for (i = 0; i < 60; i++) {
		snprintf(id, sizeof(id), "r%016d", i);
		add_run(fx->s, id, "a", "u", RUN_QUEUED, NULL);
	}
	memset(&f, 0, sizeof(f));
	f.state = -1;
	assert_int_equal(store_run_list(fx->s, &f, &runs, &n, &err), 0);
	assert_int_equal(n, 50);
	assert_string_equal(runs[0].id, "r0000000000000059");
	store_runs_free(runs, n);

	f.limit = 100000;
	assert_int_equal(store_run_list(fx->s, &f, &runs, &n, &err), 0);
	assert_int_equal(n, 60);
	store_runs_free(runs, n);

	f.limit = 1;
	assert_int_equal(store_run_list(fx->s, &f, &runs, &n, &err), 0);
	assert_int_equal(n, 1);
	store_runs_free(runs, n);
}

static void test_transition_path(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct run upd, got;

	add_run(fx->s, "rt", "a", "u", RUN_QUEUED, NULL);

	assert_int_equal(store_run_transition(fx->s, "rt", RUN_MASK(RUN_QUEUED),
					      RUN_STARTING, NULL, &err),
			 0);
	get_run(fx->s, "rt", &got);
	assert_int_equal(got.state, RUN_STARTING);
	assert_int_equal(got.started_at, 0);
	store_run_clear(&got);

	memset(&upd, 0, sizeof(upd));
	upd.started_at = 5000;
	upd.handle = (char *)"cell-7";
	assert_int_equal(store_run_transition(fx->s, "rt",
					      RUN_MASK(RUN_STARTING),
					      RUN_RUNNING, &upd, &err),
			 0);
	get_run(fx->s, "rt", &got);
	assert_int_equal(got.state, RUN_RUNNING);
	assert_int_equal(got.started_at, 5000);
	assert_string_equal(got.handle, "cell-7");
	assert_int_equal(got.finished_at, 0);
	store_run_clear(&got);

	memset(&upd, 0, sizeof(upd));
	upd.started_at = 9999; /* ignored: already started */
	upd.finished_at = 8000;
	upd.has_exit_code = true;
	upd.exit_code = 0;
	upd.reason = (char *)"exited";
	upd.has_usage = true;
	upd.cpu_usec = 1234;
	upd.peak_memory = 1 << 20;
	assert_int_equal(store_run_transition(fx->s, "rt", RUN_MASK_ACTIVE,
					      RUN_SUCCEEDED, &upd, &err),
			 0);
	get_run(fx->s, "rt", &got);
	assert_int_equal(got.state, RUN_SUCCEEDED);
	assert_int_equal(got.started_at, 5000);
	assert_int_equal(got.finished_at, 8000);
	assert_true(got.has_exit_code);
	assert_int_equal(got.exit_code, 0);
	assert_string_equal(got.reason, "exited");
	assert_true(got.has_usage);
	assert_int_equal(got.cpu_usec, 1234);
	assert_int_equal(got.peak_memory, 1 << 20);
	store_run_clear(&got);

	/* A terminal state never changes, whatever the mask says. */
	memset(&upd, 0, sizeof(upd));
	upd.has_exit_code = true;
	upd.exit_code = 3;
	upd.reason = (char *)"late";
	upd.finished_at = 9000;
	assert_int_equal(store_run_transition(fx->s, "rt", ~0u, RUN_FAILED,
					      &upd, &err),
			 1);
	assert_int_equal(store_run_transition(fx->s, "rt", ~0u, RUN_RUNNING,
					      NULL, &err),
			 1);
	get_run(fx->s, "rt", &got);
	assert_int_equal(got.state, RUN_SUCCEEDED);
	assert_int_equal(got.exit_code, 0);
	assert_string_equal(got.reason, "exited");
	assert_int_equal(got.finished_at, 8000);
	store_run_clear(&got);

	/* Unknown run: refused, not an error. */
	assert_int_equal(store_run_transition(fx->s, "rnone", ~0u, RUN_FAILED,
					      NULL, &err),
			 1);
	assert_int_equal(store_run_transition(fx->s, "rt", 0, 99, NULL, &err),
			 -1);
}

static void test_transition_mask(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct run got;

	add_run(fx->s, "rm", "a", "u", RUN_QUEUED, NULL);
	/* Queued is not in the mask: nothing happens. */
	assert_int_equal(store_run_transition(fx->s, "rm",
					      RUN_MASK(RUN_RUNNING),
					      RUN_SUCCEEDED, NULL, &err),
			 1);
	assert_int_equal(store_run_transition(fx->s, "rm", 0, RUN_STARTING,
					      NULL, &err),
			 1);
	get_run(fx->s, "rm", &got);
	assert_int_equal(got.state, RUN_QUEUED);
	assert_int_equal(got.finished_at, 0);
	store_run_clear(&got);

	/* A cancel of a queued run, with a NULL update: finished now, exit
	 * code and usage NULL, started_at still unset. */
	assert_int_equal(store_run_transition(fx->s, "rm", RUN_MASK_ACTIVE,
					      RUN_CANCELLED, NULL, &err),
			 0);
	get_run(fx->s, "rm", &got);
	assert_int_equal(got.state, RUN_CANCELLED);
	assert_true(got.finished_at > 1700000000000);
	assert_false(got.has_exit_code);
	assert_false(got.has_usage);
	assert_null(got.reason);
	assert_int_equal(got.started_at, 0);
	store_run_clear(&got);
}

/* Every state as a source, every state as a target: this also checks that
 * the backend's idea of each state's name matches run_state_name(). */
static void test_transition_every_state(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct run got;
	char id[32];
	int from, to, want;

	for (from = RUN_QUEUED; from <= RUN_LOST; from++) {
		for (to = RUN_QUEUED; to <= RUN_LOST; to++) {
			snprintf(id, sizeof(id), "r%d-%d", from, to);
			add_run(fx->s, id, "a", "u", from, NULL);
			want = run_state_terminal(from) ? 1 : 0;
			/* The wrong mask is refused... */
			assert_int_equal(store_run_transition(fx->s, id,
							      ~RUN_MASK(from),
							      to, NULL, &err),
					 1);
			/* ...the right one is allowed unless terminal. */
			assert_int_equal(store_run_transition(fx->s, id,
							      RUN_MASK(from),
							      to, NULL, &err),
					 want);
			get_run(fx->s, id, &got);
			assert_int_equal(got.state, want ? from : to);
			store_run_clear(&got);
		}
	}
}

static void test_transition_fields(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct run upd, got;

	/* Terminal with no exit code but a reason, and started_at filled
	 * because the run never recorded one. */
	add_run(fx->s, "rf", "a", "u", RUN_STARTING, NULL);
	memset(&upd, 0, sizeof(upd));
	upd.started_at = 700;
	upd.finished_at = 900;
	upd.reason = (char *)"executor lost the task";
	assert_int_equal(store_run_transition(fx->s, "rf", RUN_MASK_ACTIVE,
					      RUN_LOST, &upd, &err),
			 0);
	get_run(fx->s, "rf", &got);
	assert_int_equal(got.state, RUN_LOST);
	assert_int_equal(got.started_at, 700);
	assert_int_equal(got.finished_at, 900);
	assert_false(got.has_exit_code);
	assert_false(got.has_usage);
	assert_string_equal(got.reason, "executor lost the task");
	store_run_clear(&got);

	/* Negative exit code (signal) and zero usage survive. */
	add_run(fx->s, "rg", "a", "u", RUN_RUNNING, NULL);
	memset(&upd, 0, sizeof(upd));
	upd.has_exit_code = true;
	upd.exit_code = 137;
	upd.has_usage = true;
	upd.cpu_usec = 0;
	upd.peak_memory = 0;
	assert_int_equal(store_run_transition(fx->s, "rg",
					      RUN_MASK(RUN_RUNNING),
					      RUN_TIMED_OUT, &upd, &err),
			 0);
	get_run(fx->s, "rg", &got);
	assert_true(got.has_exit_code);
	assert_int_equal(got.exit_code, 137);
	assert_true(got.has_usage);
	assert_int_equal(got.cpu_usec, 0);
	assert_null(got.reason);
	assert_true(got.finished_at > 0);
	store_run_clear(&got);

	/* Running with a NULL update keeps started_at as it was (unset). */
	add_run(fx->s, "rh", "a", "u", RUN_STARTING, NULL);
	assert_int_equal(store_run_transition(fx->s, "rh",
					      RUN_MASK(RUN_STARTING),
					      RUN_RUNNING, NULL, &err),
			 0);
	get_run(fx->s, "rh", &got);
	assert_int_equal(got.state, RUN_RUNNING);
	assert_int_equal(got.started_at, 0);
	store_run_clear(&got);
}

static void test_handle_stop(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct run got;

	add_run(fx->s, "rs", "a", "u", RUN_STARTING, NULL);
	assert_int_equal(store_run_set_handle(fx->s, "rs", "slurm:123", &err),
			 0);
	assert_int_equal(store_run_set_stop_requested(fx->s, "rs", &err), 0);
	get_run(fx->s, "rs", &got);
	assert_string_equal(got.handle, "slurm:123");
	assert_true(got.stop_requested);
	store_run_clear(&got);

	assert_int_equal(store_run_set_handle(fx->s, "rnone", "x", &err), 1);
	assert_int_equal(store_run_set_stop_requested(fx->s, "rnone", &err), 1);
	assert_int_equal(store_run_set_handle(fx->s, "rs", "", &err), -1);
}

/* --- users and tokens --- */

static void test_users(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct user u, *users = NULL;
	int64_t count = -1;
	size_t n = 0, i;

	assert_int_equal(store_user_count(fx->s, &count, &err), 0);
	assert_int_equal(count, 0);
	assert_int_equal(store_user_get(fx->s, "alice", &u, &err), 1);

	assert_int_equal(store_user_put(fx->s, "alice", ROLE_ADMIN, &err), 0);
	assert_int_equal(store_user_put(fx->s, "bob", ROLE_VIEWER, &err), 0);
	assert_int_equal(store_user_get(fx->s, "alice", &u, &err), 0);
	assert_string_equal(u.name, "alice");
	assert_int_equal(u.role, ROLE_ADMIN);
	assert_false(u.disabled);
	assert_true(u.created_at > 0);
	store_user_clear(&u);

	/* Put again changes the role only. */
	assert_int_equal(store_user_put(fx->s, "bob", ROLE_OPERATOR, &err), 0);
	assert_int_equal(store_user_set_disabled(fx->s, "bob", true, &err), 0);
	assert_int_equal(store_user_get(fx->s, "bob", &u, &err), 0);
	assert_int_equal(u.role, ROLE_OPERATOR);
	assert_true(u.disabled);
	store_user_clear(&u);
	assert_int_equal(store_user_set_disabled(fx->s, "nobody", true, &err),
			 1);

	assert_int_equal(store_user_count(fx->s, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_int_equal(store_user_list(fx->s, &users, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(users[0].name, "alice");
	assert_string_equal(users[1].name, "bob");
	for (i = 0; i < n; i++)
		store_user_clear(&users[i]);
	free(users);

	assert_int_equal(store_user_put(fx->s, "", ROLE_ADMIN, &err), -1);
	assert_int_equal(store_user_put(fx->s, "x", 7, &err), -1);
}

static void test_tokens(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct token_info ti, *list = NULL;
	unsigned char digest[crypto_hash_sha256_BYTES];
	char hash_hex[2 * crypto_hash_sha256_BYTES + 1];
	char *tok = NULL, *tok2 = NULL, *wrong, *wal;
	int64_t id = 0, id2 = 0;
	size_t n = 0, i;

	assert_int_equal(
		store_token_create(fx->s, "ghost", "x", &tok, &id, &err), -1);
	assert_null(tok);
	assert_non_null(strstr(err.msg, "ghost"));

	assert_int_equal(store_user_put(fx->s, "alice", ROLE_OPERATOR, &err),
			 0);
	assert_int_equal(store_token_create(fx->s, "alice", "laptop", &tok, &id,
					    &err),
			 0);
	assert_non_null(tok);
	assert_int_equal(strlen(tok), 4 + 48);
	assert_memory_equal(tok, "rct_", 4);
	assert_true(id > 0);
	assert_int_equal(
		store_token_create(fx->s, "alice", NULL, &tok2, &id2, &err), 0);
	assert_true(id2 != id);
	assert_string_not_equal(tok, tok2);

	/* The right token works, with the user's role. */
	assert_int_equal(store_token_check(fx->s, tok, &ti, &err), 0);
	assert_int_equal(ti.id, id);
	assert_string_equal(ti.user, "alice");
	assert_string_equal(ti.label, "laptop");
	assert_int_equal(ti.role, ROLE_OPERATOR);
	assert_false(ti.revoked);
	assert_true(ti.last_used_at > 0);
	store_token_clear(&ti);

	/* Its last use is written at most once a minute. */
	set_last_used(fx, id, time_now_ms() - 30000);
	assert_int_equal(store_token_check(fx->s, tok, &ti, &err), 0);
	assert_true(ti.last_used_at < time_now_ms() - 29000);
	store_token_clear(&ti);
	set_last_used(fx, id, time_now_ms() - 61000);
	assert_int_equal(store_token_check(fx->s, tok, &ti, &err), 0);
	assert_true(ti.last_used_at > time_now_ms() - 5000);
	store_token_clear(&ti);
	assert_int_equal(store_token_list(fx->s, &list, &n, &err), 0);
	assert_true(list[0].last_used_at > time_now_ms() - 5000);
	for (i = 0; i < n; i++)
		store_token_clear(&list[i]);
	free(list);

	/* A wrong token, a truncated one and an empty one are refused. */
	wrong = xstrdup(tok);
	wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
	assert_int_equal(store_token_check(fx->s, wrong, &ti, &err), 1);
	wrong[10] = '\0';
	assert_int_equal(store_token_check(fx->s, wrong, &ti, &err), 1);
	assert_int_equal(store_token_check(fx->s, "", &ti, &err), 1);
	assert_int_equal(store_token_check(fx->s, NULL, &ti, &err), 1);
	free(wrong);

	/* The secret is nowhere in the database; its hash is. */
	assert_true(sodium_init() >= 0);
	crypto_hash_sha256(digest, (const unsigned char *)tok, strlen(tok));
	sodium_bin2hex(hash_hex, sizeof(hash_hex), digest, sizeof(digest));
	if (pg_url) {
		const char *v[] = { hash_hex };

		assert_int_equal(pg_sql("SELECT count(*) FROM tokens"
					" WHERE hash = $1",
					1, v),
				 1);
		assert_false(pg_contains(tok));
		assert_false(pg_contains(tok + 4));
	} else {
		wal = xasprintf("%s-wal", fx->path);
		assert_true(file_contains(fx->path, hash_hex) ||
			    file_contains(wal, hash_hex));
		assert_false(file_contains(fx->path, tok));
		assert_false(file_contains(wal, tok));
		assert_false(file_contains(fx->path, tok + 4));
		assert_false(file_contains(wal, tok + 4));
		free(wal);
	}

	/* Revoked: refused.  Revoking again is fine; unknown id is 1. */
	assert_int_equal(store_token_revoke(fx->s, id, &err), 0);
	assert_int_equal(store_token_check(fx->s, tok, &ti, &err), 1);
	assert_int_equal(store_token_revoke(fx->s, id, &err), 0);
	assert_int_equal(store_token_revoke(fx->s, 999999, &err), 1);

	/* Disabled user: every token refused; enabled again: accepted. */
	assert_int_equal(store_token_check(fx->s, tok2, &ti, &err), 0);
	store_token_clear(&ti);
	assert_int_equal(store_user_set_disabled(fx->s, "alice", true, &err),
			 0);
	assert_int_equal(store_token_check(fx->s, tok2, &ti, &err), 1);
	assert_int_equal(store_user_set_disabled(fx->s, "alice", false, &err),
			 0);
	assert_int_equal(store_token_check(fx->s, tok2, &ti, &err), 0);
	store_token_clear(&ti);

	/* Listing shows both, without secrets. */
	assert_int_equal(store_token_list(fx->s, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].id, id);
	assert_true(list[0].revoked);
	assert_int_equal(list[1].id, id2);
	assert_false(list[1].revoked);
	assert_string_equal(list[1].label, "");
	assert_int_equal(list[1].role, ROLE_OPERATOR);
	for (i = 0; i < n; i++)
		store_token_clear(&list[i]);
	free(list);

	free(tok);
	free(tok2);
}

/* --- audit --- */

static void test_audit(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct audit_entry *a = NULL;
	size_t n = 0;
	int64_t cursor;

	assert_int_equal(store_audit_list(fx->s, 0, 0, &a, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(a);

	assert_int_equal(store_audit_add(fx->s, "alice", "run.start", "r1",
					 "{\"automation\":\"backup\"}", &err),
			 0);
	assert_int_equal(
		store_audit_add(fx->s, "bob", "run.stop", "r1", NULL, &err), 0);
	assert_int_equal(store_audit_add(fx->s, "admin", "token.create", NULL,
					 "{}", &err),
			 0);
	assert_int_equal(store_audit_add(fx->s, "", "x", NULL, NULL, &err), -1);

	assert_int_equal(store_audit_list(fx->s, 0, 2, &a, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(a[0].action, "token.create");
	assert_null(a[0].target);
	assert_string_equal(a[0].detail, "{}");
	assert_string_equal(a[1].actor, "bob");
	assert_null(a[1].detail);
	assert_true(a[0].id > a[1].id);
	assert_true(a[0].at > 0);
	cursor = a[1].id;
	store_audit_free(a, n);

	assert_int_equal(store_audit_list(fx->s, cursor, 2, &a, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(a[0].actor, "alice");
	assert_string_equal(a[0].target, "r1");
	assert_string_equal(a[0].detail, "{\"automation\":\"backup\"}");
	store_audit_free(a, n);
}

/* --- sharing and persistence --- */

static void test_two_handles(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct store *cli = NULL;
	struct token_info ti;
	struct run got;
	char *tok = NULL;
	int i;

	if (store_open(fx->url, &cli, &err) < 0)
		fail_msg("second open: %s", err.msg);

	/* The CLI creates a user and a token while the server writes runs. */
	assert_int_equal(store_user_put(cli, "ops", ROLE_ADMIN, &err), 0);
	add_run(fx->s, "rsrv1", "a", "u", RUN_QUEUED, NULL);
	assert_int_equal(
		store_token_create(cli, "ops", "cli", &tok, NULL, &err), 0);
	add_run(fx->s, "rsrv2", "a", "u", RUN_QUEUED, NULL);
	for (i = 0; i < 20; i++) {
		assert_int_equal(store_audit_add(cli, "ops", "cli.write", NULL,
						 NULL, &err),
				 0);
		assert_int_equal(store_audit_add(fx->s, "srv", "srv.write",
						 NULL, NULL, &err),
				 0);
	}

	/* Each sees what the other wrote. */
	assert_int_equal(store_token_check(fx->s, tok, &ti, &err), 0);
	assert_string_equal(ti.user, "ops");
	assert_int_equal(ti.role, ROLE_ADMIN);
	store_token_clear(&ti);
	get_run(cli, "rsrv2", &got);
	store_run_clear(&got);
	assert_int_equal(store_run_transition(cli, "rsrv1", RUN_MASK_ACTIVE,
					      RUN_CANCELLED, NULL, &err),
			 0);
	assert_int_equal(store_run_transition(fx->s, "rsrv1", RUN_MASK_ACTIVE,
					      RUN_STARTING, NULL, &err),
			 1);
	get_run(fx->s, "rsrv1", &got);
	assert_int_equal(got.state, RUN_CANCELLED);
	store_run_clear(&got);

	store_close(cli);
	free(tok);
}

static void test_reopen(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct token_info ti;
	struct run got, r;
	char *tok = NULL;

	add_run(fx->s, "rkeep", "a", "u", RUN_QUEUED, &r);
	assert_int_equal(store_user_put(fx->s, "alice", ROLE_VIEWER, &err), 0);
	assert_int_equal(
		store_token_create(fx->s, "alice", "x", &tok, NULL, &err), 0);
	store_close(fx->s);
	fx->s = NULL;

	if (store_open(fx->url, &fx->s, &err) < 0)
		fail_msg("reopen: %s", err.msg);
	get_run(fx->s, "rkeep", &got);
	assert_int_equal(got.seq, r.seq);
	store_run_clear(&got);
	assert_int_equal(store_token_check(fx->s, tok, &ti, &err), 0);
	assert_int_equal(ti.role, ROLE_VIEWER);
	store_token_clear(&ti);

	/* seq keeps growing after a reopen. */
	add_run(fx->s, "rnext", "a", "u", RUN_QUEUED, &got);
	assert_true(got.seq > r.seq);
	free(tok);
}

struct thread_arg {
	struct store *s;
	int n;
	int failures;
};

static void *writer(void *p)
{
	struct thread_arg *a = p;
	struct rc_err err = { 0 };
	struct run r, got;
	int i;

	for (i = 0; i < 50; i++) {
		memset(&r, 0, sizeof(r));
		snprintf(r.id, sizeof(r.id), "rt%d-%d", a->n, i);
		r.automation = (char *)"a";
		r.user = (char *)"u";
		r.executor = (char *)"sandbox";
		if (store_run_insert(a->s, &r, &err) < 0 ||
		    store_run_transition(a->s, r.id, RUN_MASK_ACTIVE,
					 RUN_SUCCEEDED, NULL, &err) != 0 ||
		    store_run_get(a->s, r.id, &got, &err) != 0) {
			a->failures++;
			continue;
		}
		if (got.state != RUN_SUCCEEDED)
			a->failures++;
		store_run_clear(&got);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *fx = *state;
	struct thread_arg args[4];
	pthread_t th[4];
	struct run_filter f = { .state = RUN_SUCCEEDED, .limit = 1000 };
	struct run *runs = NULL;
	struct rc_err err = { 0 };
	size_t n = 0;
	int i;

	for (i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){ .s = fx->s, .n = i };
		assert_int_equal(pthread_create(&th[i], NULL, writer, &args[i]),
				 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	assert_int_equal(store_run_list(fx->s, &f, &runs, &n, &err), 0);
	assert_int_equal(n, 200);
	store_runs_free(runs, n);
}

/* --- passwords, ticks, notifications, retention --- */

static void test_passwords(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	char *hash = NULL;

	assert_int_equal(store_user_set_password(fx->s, "alice", "$argon2id$x",
						 &err),
			 1);
	assert_int_equal(store_user_get_password(fx->s, "alice", &hash, &err),
			 1);
	assert_int_equal(store_user_put(fx->s, "alice", ROLE_VIEWER, &err), 0);
	assert_int_equal(store_user_get_password(fx->s, "alice", &hash, &err),
			 0);
	assert_null(hash);
	assert_int_equal(store_user_set_password(fx->s, "alice", "$argon2id$x",
						 &err),
			 0);
	assert_int_equal(store_user_get_password(fx->s, "alice", &hash, &err),
			 0);
	assert_string_equal(hash, "$argon2id$x");
	free(hash);
	assert_int_equal(store_user_set_password(fx->s, "alice", NULL, &err),
			 0);
	assert_int_equal(store_user_get_password(fx->s, "alice", &hash, &err),
			 0);
	assert_null(hash);
}

static void test_ticks(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	int64_t last = -1;

	assert_int_equal(store_tick_last(fx->s, "nightly", &last, &err), 1);
	assert_int_equal(store_tick_claim(fx->s, "nightly", 1000, &err), 0);
	assert_int_equal(store_tick_claim(fx->s, "nightly", 1000, &err), 1);
	assert_int_equal(store_tick_claim(fx->s, "hourly", 1000, &err), 0);
	assert_int_equal(store_tick_claim(fx->s, "nightly", 3000, &err), 0);
	assert_int_equal(store_tick_claim(fx->s, "nightly", 2000, &err), 0);
	assert_int_equal(store_tick_last(fx->s, "nightly", &last, &err), 0);
	assert_int_equal(last, 3000);
	assert_int_equal(
		store_tick_finish(fx->s, "nightly", 1000, "r1", NULL, &err), 0);
	assert_int_equal(store_tick_finish(fx->s, "nightly", 2000, NULL,
					   "queue full", &err),
			 0);
	assert_int_equal(
		store_tick_finish(fx->s, "nightly", 4000, "r2", NULL, &err), 1);
	assert_int_equal(store_tick_claim(fx->s, "", 1, &err), -1);
}

static void test_notifications(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct notification *nts = NULL, nt;
	int64_t id1 = 0, id2 = 0, id3 = 0;
	size_t n = 0;

	assert_int_equal(store_notification_add(fx->s, "ra", "http://h/1", &id1,
						&err),
			 0);
	assert_int_equal(store_notification_add(fx->s, "ra", "http://h/2", &id2,
						&err),
			 0);
	assert_int_equal(store_notification_add(fx->s, "rb", "http://h/1", &id3,
						&err),
			 0);
	assert_true(id1 > 0 && id2 > id1 && id3 > id2);
	assert_int_equal(store_notification_add(fx->s, "ra", "http://h/1", NULL,
						&err),
			 1);

	memset(&nt, 0, sizeof(nt));
	nt.id = id1;
	nt.status = (char *)"delivered";
	nt.attempts = 2;
	nt.delivered_at = 5000;
	assert_int_equal(store_notification_update(fx->s, &nt, &err), 0);
	nt.id = id2;
	nt.status = (char *)"pending";
	nt.attempts = 1;
	nt.last_error = (char *)"HTTP 500";
	nt.delivered_at = 0;
	assert_int_equal(store_notification_update(fx->s, &nt, &err), 0);
	nt.id = 999999;
	assert_int_equal(store_notification_update(fx->s, &nt, &err), 1);

	assert_int_equal(store_notification_list(fx->s, "ra", &nts, &n, &err),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(nts[0].id, id1);
	assert_string_equal(nts[0].run_id, "ra");
	assert_string_equal(nts[0].url, "http://h/1");
	assert_string_equal(nts[0].status, "delivered");
	assert_int_equal(nts[0].attempts, 2);
	assert_null(nts[0].last_error);
	assert_int_equal(nts[0].delivered_at, 5000);
	assert_true(nts[0].created_at > 0);
	assert_true(nts[0].updated_at > 0);
	assert_string_equal(nts[1].last_error, "HTTP 500");
	assert_int_equal(nts[1].delivered_at, 0);
	store_notifications_free(nts, n);

	/* Pending ones of every run, oldest first. */
	assert_int_equal(store_notification_list(fx->s, NULL, &nts, &n, &err),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(nts[0].id, id2);
	assert_int_equal(nts[1].id, id3);
	assert_int_equal(nts[1].updated_at, 0);
	store_notifications_free(nts, n);
}

static void test_retention(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct notification *nts = NULL;
	struct run *runs = NULL, upd, got;
	char id[32];
	size_t n = 0;
	int i;

	/* a: five finished runs at 100..500, then one still running. */
	for (i = 1; i <= 5; i++) {
		snprintf(id, sizeof(id), "ra%d", i);
		add_run(fx->s, id, "a", "u", RUN_RUNNING, NULL);
		memset(&upd, 0, sizeof(upd));
		upd.finished_at = i * 100;
		assert_int_equal(
			store_run_transition(fx->s, id, RUN_MASK_ACTIVE,
					     RUN_SUCCEEDED, &upd, &err),
			0);
	}
	add_run(fx->s, "ra6", "a", "u", RUN_RUNNING, NULL);
	add_run(fx->s, "rb1", "b", "u", RUN_FAILED, NULL);

	/* Nothing asked for, nothing listed. */
	assert_int_equal(
		store_run_list_expired(fx->s, 0, 0, 10, &runs, &n, &err), 0);
	assert_int_equal(n, 0);
	/* By age: finished before 300, oldest first. */
	assert_int_equal(
		store_run_list_expired(fx->s, 300, 0, 10, &runs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(runs[0].id, "ra1");
	assert_string_equal(runs[0].automation, "a");
	assert_string_equal(runs[1].id, "ra2");
	store_runs_free(runs, n);
	/* By count: beyond the newest 2 terminal runs of each automation. */
	assert_int_equal(
		store_run_list_expired(fx->s, 0, 2, 10, &runs, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(runs[2].id, "ra3");
	store_runs_free(runs, n);
	assert_int_equal(
		store_run_list_expired(fx->s, 0, 2, 1, &runs, &n, &err), 0);
	assert_int_equal(n, 1);
	store_runs_free(runs, n);

	/* Delete takes the run's notifications along; active runs stay. */
	assert_int_equal(store_notification_add(fx->s, "ra1", "http://h", NULL,
						&err),
			 0);
	assert_int_equal(store_run_delete(fx->s, "ra1", &err), 0);
	assert_int_equal(store_run_delete(fx->s, "ra1", &err), 1);
	assert_int_equal(store_run_delete(fx->s, "ra6", &err), 1);
	assert_int_equal(store_run_get(fx->s, "ra1", &got, &err), 1);
	get_run(fx->s, "ra6", &got);
	store_run_clear(&got);
	assert_int_equal(store_notification_list(fx->s, "ra1", &nts, &n, &err),
			 0);
	assert_int_equal(n, 0);
}

static void test_run_retry_fields(void **state)
{
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct run r, got;

	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "rretry2");
	r.automation = (char *)"a";
	r.user = (char *)"u";
	r.executor = (char *)"process";
	r.state = RUN_QUEUED;
	r.attempt = 2;
	snprintf(r.retry_of, sizeof(r.retry_of), "rfirst");
	r.not_before = 1700000005000;
	assert_int_equal(store_run_insert(fx->s, &r, &err), 0);
	get_run(fx->s, r.id, &got);
	assert_int_equal(got.attempt, 2);
	assert_string_equal(got.retry_of, "rfirst");
	assert_int_equal(got.not_before, 1700000005000);
	store_run_clear(&got);
	add_run(fx->s, "rplain", "a", "u", RUN_QUEUED, NULL);
	get_run(fx->s, "rplain", &got);
	assert_int_equal(got.attempt, 1);
	assert_string_equal(got.retry_of, "");
	assert_int_equal(got.not_before, 0);
	store_run_clear(&got);
}

/* --- PostgreSQL: several replicas on one server --- */

/* Run sh SCRIPT ARG (no shell parses anything); its exit status. */
static int run_script(const char *script, const char *arg)
{
	char *argv[] = { (char *)"sh", (char *)script, (char *)arg, NULL };
	int status;
	pid_t pid;

	if (!arg)
		argv[2] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execvp("sh", argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct open_arg {
	const char *url;
	struct store *s;
	struct rc_err err;
};

static void *opener(void *p)
{
	struct open_arg *a = p;

	if (store_open(a->url, &a->s, &a->err) < 0)
		a->s = NULL;
	return NULL;
}

/* Replicas starting together on an empty database migrate it once. */
static void test_pg_migrate_race(void **state)
{
	struct fixture *fx = *state;
	struct open_arg args[6];
	pthread_t th[6];
	struct rc_err err = { 0 };
	struct store *s = NULL;
	int i;

	store_close(fx->s);
	fx->s = NULL;
	pg_reset();
	for (i = 0; i < 6; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].url = pg_url;
		assert_int_equal(pthread_create(&th[i], NULL, opener, &args[i]),
				 0);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		if (!args[i].s)
			fail_msg("replica %d: %s", i, args[i].err.msg);
	}
	assert_int_equal(pg_sql("SELECT version FROM schema_version", 0, NULL),
			 1);
	assert_int_equal(pg_sql("SELECT count(*) FROM schema_version", 0, NULL),
			 1);
	add_run(args[0].s, "rm1", "a", "u", RUN_QUEUED, NULL);
	for (i = 0; i < 6; i++)
		store_close(args[i].s);

	/* A database from a newer runcell is refused, not changed. */
	pg_sql("UPDATE schema_version SET version = 99", 0, NULL);
	assert_int_equal(store_open(pg_url, &s, &err), -1);
	assert_non_null(strstr(err.msg, "newer than this runcell"));
	assert_null(s);
}

struct replica_arg {
	struct store *s;
	int n;
	int failures;
};

static void *replica_writer(void *p)
{
	struct replica_arg *a = p;
	struct rc_err err = { 0 };
	struct run r;
	int i;

	for (i = 0; i < 40; i++) {
		memset(&r, 0, sizeof(r));
		snprintf(r.id, sizeof(r.id), "rr%d-%d", a->n, i);
		r.automation = (char *)(a->n % 2 ? "odd" : "even");
		r.user = (char *)"u";
		r.executor = (char *)"process";
		if (store_run_insert(a->s, &r, &err) < 0 ||
		    store_run_transition(a->s, r.id, RUN_MASK_ACTIVE,
					 RUN_RUNNING, NULL, &err) != 0 ||
		    store_audit_add(a->s, "replica", "run.start", r.id, NULL,
				    &err) < 0)
			a->failures++;
	}
	return NULL;
}

/* Two replicas, each with several threads, writing at once. */
static void test_pg_replicas(void **state)
{
	struct fixture *fx = *state;
	struct replica_arg args[6];
	struct store *other = NULL;
	struct rc_err err = { 0 };
	struct run_filter f = { .state = -1, .limit = 1000 };
	struct audit_entry *a = NULL;
	struct run *runs = NULL;
	pthread_t th[6];
	size_t n = 0, i;
	int t;

	if (store_open(fx->url, &other, &err) < 0)
		fail_msg("second replica: %s", err.msg);
	for (t = 0; t < 6; t++) {
		args[t] = (struct replica_arg){ .s = t % 2 ? other : fx->s,
						.n = t };
		assert_int_equal(pthread_create(&th[t], NULL, replica_writer,
						&args[t]),
				 0);
	}
	for (t = 0; t < 6; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(args[t].failures, 0);
	}
	/* Each replica sees all 240 runs, with distinct seqs, newest first. */
	assert_int_equal(store_run_list(other, &f, &runs, &n, &err), 0);
	assert_int_equal(n, 240);
	for (i = 1; i < n; i++)
		assert_true(runs[i].seq < runs[i - 1].seq);
	store_runs_free(runs, n);
	f.automation = "odd";
	f.active_only = true;
	assert_int_equal(store_run_list(fx->s, &f, &runs, &n, &err), 0);
	assert_int_equal(n, 120);
	store_runs_free(runs, n);
	assert_int_equal(store_audit_list(fx->s, 0, 1000, &a, &n, &err), 0);
	assert_int_equal(n, 240);
	store_audit_free(a, n);
	store_close(other);
}

#define RACE_RUNS 40

struct race_arg {
	struct store *s;
	enum run_state to;
	pthread_barrier_t *barrier;
	int results[RACE_RUNS];
};

static void *racer(void *p)
{
	struct race_arg *a = p;
	struct rc_err err = { 0 };
	struct run upd;
	char id[32];
	int i;

	for (i = 0; i < RACE_RUNS; i++) {
		snprintf(id, sizeof(id), "rrace%d", i);
		memset(&upd, 0, sizeof(upd));
		upd.has_exit_code = true;
		upd.exit_code = a->to == RUN_SUCCEEDED ? 0 : 1;
		upd.reason = (char *)run_state_name(a->to);
		pthread_barrier_wait(a->barrier);
		a->results[i] = store_run_transition(a->s, id, RUN_MASK_ACTIVE,
						     a->to, &upd, &err);
	}
	return NULL;
}

/* Two replicas finish the same run at the same moment: exactly one wins,
 * and the row is entirely the winner's. */
static void test_pg_transition_race(void **state)
{
	struct fixture *fx = *state;
	struct race_arg args[2];
	pthread_barrier_t barrier;
	struct store *other = NULL;
	struct rc_err err = { 0 };
	pthread_t th[2];
	struct run got;
	char id[32];
	int i, wins[2] = { 0, 0 };

	if (store_open(fx->url, &other, &err) < 0)
		fail_msg("second replica: %s", err.msg);
	for (i = 0; i < RACE_RUNS; i++) {
		snprintf(id, sizeof(id), "rrace%d", i);
		add_run(fx->s, id, "a", "u", RUN_RUNNING, NULL);
	}
	pthread_barrier_init(&barrier, NULL, 2);
	memset(args, 0, sizeof(args));
	args[0] = (struct race_arg){ .s = fx->s,
				     .to = RUN_SUCCEEDED,
				     .barrier = &barrier };
	args[1] = (struct race_arg){ .s = other,
				     .to = RUN_FAILED,
				     .barrier = &barrier };
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, racer, &args[i]),
				 0);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);

	for (i = 0; i < RACE_RUNS; i++) {
		int winner;

		snprintf(id, sizeof(id), "rrace%d", i);
		assert_true(args[0].results[i] >= 0 && args[1].results[i] >= 0);
		assert_int_equal(args[0].results[i] + args[1].results[i], 1);
		winner = args[0].results[i] == 0 ? 0 : 1;
		wins[winner]++;
		get_run(other, id, &got);
		assert_int_equal(got.state, args[winner].to);
		assert_int_equal(got.exit_code, winner);
		assert_string_equal(got.reason,
				    run_state_name(args[winner].to));
		store_run_clear(&got);
	}
	print_message("transition race: replica A won %d, B won %d\n", wins[0],
		      wins[1]);
	store_close(other);
}

#define TICKS 60

struct tick_arg {
	struct store *s;
	int won[TICKS];
	int errors;
};

static void *ticker(void *p)
{
	struct tick_arg *a = p;
	struct rc_err err = { 0 };
	int i, ret;

	for (i = 0; i < TICKS; i++) {
		ret = store_tick_claim(a->s, "nightly", 1000 * (i + 1), &err);
		if (ret < 0)
			a->errors++;
		a->won[i] = ret == 0;
	}
	return NULL;
}

/* Replicas claiming the same ticks: each tick is claimed exactly once. */
static void test_pg_tick_race(void **state)
{
	struct fixture *fx = *state;
	struct tick_arg args[4];
	struct store *other = NULL;
	struct rc_err err = { 0 };
	pthread_t th[4];
	int64_t last = 0;
	int i, t, total;

	if (store_open(fx->url, &other, &err) < 0)
		fail_msg("second replica: %s", err.msg);
	memset(args, 0, sizeof(args));
	for (t = 0; t < 4; t++) {
		args[t].s = t % 2 ? other : fx->s;
		assert_int_equal(pthread_create(&th[t], NULL, ticker, &args[t]),
				 0);
	}
	for (t = 0; t < 4; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(args[t].errors, 0);
	}
	for (i = 0; i < TICKS; i++) {
		total = 0;
		for (t = 0; t < 4; t++)
			total += args[t].won[i];
		assert_int_equal(total, 1);
	}
	assert_int_equal(store_tick_last(other, "nightly", &last, &err), 0);
	assert_int_equal(last, 1000 * TICKS);
	assert_int_equal(pg_sql("SELECT count(*) FROM schedule_ticks", 0, NULL),
			 TICKS);
	store_close(other);
}

/* The server restarts under an open store: the next statements (writes
 * included) go through on new connections.  While it is down, a clear
 * error; when it is back, work again. */
static void test_pg_reconnect(void **state)
{
	struct fixture *fx = *state;
	const char *up = getenv("RUNCELL_TEST_PG_UP");
	struct rc_err err = { 0 };
	struct token_info ti;
	struct run got;
	const char *slash;
	char *tok = NULL, *down;
	int64_t t0;

	if (!up)
		skip();
	assert_int_equal(store_user_put(fx->s, "ops", ROLE_ADMIN, &err), 0);
	assert_int_equal(
		store_token_create(fx->s, "ops", "x", &tok, NULL, &err), 0);
	add_run(fx->s, "rbefore", "a", "u", RUN_QUEUED, NULL);

	assert_int_equal(run_script(up, "--restart"), 0);
	add_run(fx->s, "rafter", "a", "u", RUN_QUEUED, NULL);
	get_run(fx->s, "rbefore", &got);
	store_run_clear(&got);
	assert_int_equal(store_token_check(fx->s, tok, &ti, &err), 0);
	store_token_clear(&ti);
	assert_int_equal(store_tick_claim(fx->s, "a", 1, &err), 0);

	/* Down: each statement fails, saying where and why. */
	slash = strrchr(up, '/');
	down = slash ? xasprintf("%.*s/down.sh", (int)(slash - up), up) :
		       xstrdup("down.sh");
	assert_int_equal(run_script(down, NULL), 0);
	t0 = time_mono_ms();
	assert_int_equal(store_run_get(fx->s, "rafter", &got, &err), -1);
	print_message("while down (%lld ms): %s\n",
		      (long long)(time_mono_ms() - t0), err.msg);
	assert_non_null(strstr(err.msg, "PostgreSQL"));
	assert_non_null(strstr(err.msg, "127.0.0.1"));
	assert_null(strstr(err.msg, "runcell:runcell@"));
	assert_true(time_mono_ms() - t0 < 10000);
	assert_int_equal(store_tick_claim(fx->s, "a", 2, &err), -1);

	/* Back: the store works again without being reopened. */
	assert_int_equal(run_script(up, NULL), 0);
	get_run(fx->s, "rafter", &got);
	store_run_clear(&got);
	assert_int_equal(store_tick_claim(fx->s, "a", 2, &err), 0);
	free(down);
	free(tok);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest contract[] = {
		cmocka_unit_test(test_names),
		T(test_open_urls),
		T(test_run_insert_get),
		T(test_run_insert_full),
		T(test_run_retry_fields),
		T(test_run_list),
		T(test_run_list_limits),
		T(test_transition_path),
		T(test_transition_mask),
		T(test_transition_every_state),
		T(test_transition_fields),
		T(test_handle_stop),
		T(test_users),
		T(test_passwords),
		T(test_tokens),
		T(test_audit),
		T(test_ticks),
		T(test_notifications),
		T(test_retention),
		T(test_two_handles),
		T(test_reopen),
		T(test_threads),
	};
	const struct CMUnitTest sqlite_only[] = {
		T(test_open_sqlite_urls),
		T(test_open_tightens_mode),
	};
	const struct CMUnitTest pg_only[] = {
		T(test_pg_migrate_race),    T(test_pg_replicas),
		T(test_pg_transition_race), T(test_pg_tick_race),
		T(test_pg_reconnect),
	};
	size_t total;
	int failed;

	/* The last line counts both groups for tests/lib.sh. */
	pg_url = getenv("RUNCELL_TEST_PG_URL");
	if (pg_url && !*pg_url)
		pg_url = NULL;
	total = sizeof(contract) / sizeof(contract[0]);
	failed = cmocka_run_group_tests_name(
		pg_url ? "store contract (postgresql)" :
			 "store contract (sqlite)",
		contract, NULL, NULL);
	if (pg_url) {
		total += sizeof(pg_only) / sizeof(pg_only[0]);
		failed += cmocka_run_group_tests_name(
			"store (postgresql replicas)", pg_only, NULL, NULL);
	} else {
		total += sizeof(sqlite_only) / sizeof(sqlite_only[0]);
		failed += cmocka_run_group_tests_name("store (sqlite only)",
						      sqlite_only, NULL, NULL);
	}
	printf("store (%s): %d passed, %d failed\n",
	       pg_url ? "postgresql" : "sqlite", (int)total - failed, failed);
	return failed ? 1 : 0;
}
