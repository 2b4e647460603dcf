/*
 * test_store.c - unit tests for the store (store.h) on its SQLite backend:
 * runs and their state machine, users, tokens, the audit trail, and two
 * handles (server and CLI) sharing one database file.  Each test works in
 * its own folder made with mkdtemp under /tmp.
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
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "store.h"
#include "util.h"

struct fixture {
	char dir[64];
	char *path;
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	struct rc_err err = { 0 };

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/runcell-store-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->path = xasprintf("%s/runcell.db", fx->dir);
	if (store_open(fx->path, &fx->s, &err) < 0)
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

/* Backdate a token's last use behind the store's back, as another
 * process could. */
static void set_last_used(const char *path, int64_t id, int64_t at)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE tokens SET "
					    "last_used_at = ?2 WHERE id = ?1",
					    -1, &st, NULL), SQLITE_OK);
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
	struct fixture *fx = *state;
	struct rc_err err = { 0 };
	struct store *s = NULL;
	char *url, *wal;
	struct stat st;

	assert_int_equal(store_open("postgres://db/runcell", &s, &err), -1);
	assert_null(s);
	assert_non_null(strstr(err.msg, "PostgreSQL store is not built in "
				       "this version"));
	assert_int_equal(store_open("mysql://x", &s, &err), -1);
	assert_int_equal(store_open("", &s, &err), -1);
	assert_int_equal(store_open("sqlite:", &s, &err), -1);
	assert_int_equal(store_open("/nonexistent-dir/x/y.db", &s, &err), -1);

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

	add_run(fx->s, "r00000000000000a1", "backup", "alice", RUN_QUEUED,
		&r);
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

	assert_int_equal(store_run_transition(fx->s, "rt",
					      RUN_MASK(RUN_QUEUED),
					      RUN_STARTING, NULL, &err), 0);
	get_run(fx->s, "rt", &got);
	assert_int_equal(got.state, RUN_STARTING);
	assert_int_equal(got.started_at, 0);
	store_run_clear(&got);

	memset(&upd, 0, sizeof(upd));
	upd.started_at = 5000;
	upd.handle = (char *)"cell-7";
	assert_int_equal(store_run_transition(fx->s, "rt",
					      RUN_MASK(RUN_STARTING),
					      RUN_RUNNING, &upd, &err), 0);
	get_run(fx->s, "rt", &got);
	assert_int_equal(got.state, RUN_RUNNING);
	assert_int_equal(got.started_at, 5000);
	assert_string_equal(got.handle, "cell-7");
	assert_int_equal(got.finished_at, 0);
	store_run_clear(&got);

	memset(&upd, 0, sizeof(upd));
	upd.started_at = 9999;          /* ignored: already started */
	upd.finished_at = 8000;
	upd.has_exit_code = true;
	upd.exit_code = 0;
	upd.reason = (char *)"exited";
	upd.has_usage = true;
	upd.cpu_usec = 1234;
	upd.peak_memory = 1 << 20;
	assert_int_equal(store_run_transition(fx->s, "rt", RUN_MASK_ACTIVE,
					      RUN_SUCCEEDED, &upd, &err), 0);
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
					      &upd, &err), 1);
	assert_int_equal(store_run_transition(fx->s, "rt", ~0u, RUN_RUNNING,
					      NULL, &err), 1);
	get_run(fx->s, "rt", &got);
	assert_int_equal(got.state, RUN_SUCCEEDED);
	assert_int_equal(got.exit_code, 0);
	assert_string_equal(got.reason, "exited");
	assert_int_equal(got.finished_at, 8000);
	store_run_clear(&got);

	/* Unknown run: refused, not an error. */
	assert_int_equal(store_run_transition(fx->s, "rnone", ~0u,
					      RUN_FAILED, NULL, &err), 1);
	assert_int_equal(store_run_transition(fx->s, "rt", 0, 99, NULL,
					      &err), -1);
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
					      RUN_SUCCEEDED, NULL, &err), 1);
	assert_int_equal(store_run_transition(fx->s, "rm", 0, RUN_STARTING,
					      NULL, &err), 1);
	get_run(fx->s, "rm", &got);
	assert_int_equal(got.state, RUN_QUEUED);
	assert_int_equal(got.finished_at, 0);
	store_run_clear(&got);

	/* A cancel of a queued run, with a NULL update: finished now, exit
	 * code and usage NULL, started_at still unset. */
	assert_int_equal(store_run_transition(fx->s, "rm", RUN_MASK_ACTIVE,
					      RUN_CANCELLED, NULL, &err), 0);
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
			assert_int_equal(store_run_transition(
				fx->s, id, ~RUN_MASK(from), to, NULL, &err),
				1);
			/* ...the right one is allowed unless terminal. */
			assert_int_equal(store_run_transition(
				fx->s, id, RUN_MASK(from), to, NULL, &err),
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
					      RUN_LOST, &upd, &err), 0);
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
					      RUN_TIMED_OUT, &upd, &err), 0);
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
					      RUN_RUNNING, NULL, &err), 0);
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
	assert_int_equal(store_run_set_stop_requested(fx->s, "rnone", &err),
			 1);
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

	assert_int_equal(store_token_create(fx->s, "ghost", "x", &tok, &id,
					    &err), -1);
	assert_null(tok);
	assert_non_null(strstr(err.msg, "ghost"));

	assert_int_equal(store_user_put(fx->s, "alice", ROLE_OPERATOR, &err),
			 0);
	assert_int_equal(store_token_create(fx->s, "alice", "laptop", &tok,
					    &id, &err), 0);
	assert_non_null(tok);
	assert_int_equal(strlen(tok), 4 + 48);
	assert_memory_equal(tok, "rct_", 4);
	assert_true(id > 0);
	assert_int_equal(store_token_create(fx->s, "alice", NULL, &tok2, &id2,
					    &err), 0);
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
	set_last_used(fx->path, id, time_now_ms() - 30000);
	assert_int_equal(store_token_check(fx->s, tok, &ti, &err), 0);
	assert_true(ti.last_used_at < time_now_ms() - 29000);
	store_token_clear(&ti);
	set_last_used(fx->path, id, time_now_ms() - 61000);
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

	/* The secret is nowhere in the database files; its hash is. */
	assert_true(sodium_init() >= 0);
	crypto_hash_sha256(digest, (const unsigned char *)tok, strlen(tok));
	sodium_bin2hex(hash_hex, sizeof(hash_hex), digest, sizeof(digest));
	wal = xasprintf("%s-wal", fx->path);
	assert_true(file_contains(fx->path, hash_hex) ||
		    file_contains(wal, hash_hex));
	assert_false(file_contains(fx->path, tok));
	assert_false(file_contains(wal, tok));
	assert_false(file_contains(fx->path, tok + 4));
	assert_false(file_contains(wal, tok + 4));
	free(wal);

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
	assert_int_equal(store_audit_add(fx->s, "bob", "run.stop", "r1", NULL,
					 &err), 0);
	assert_int_equal(store_audit_add(fx->s, "admin", "token.create", NULL,
					 "{}", &err), 0);
	assert_int_equal(store_audit_add(fx->s, "", "x", NULL, NULL, &err),
			 -1);

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

	if (store_open(fx->path, &cli, &err) < 0)
		fail_msg("second open: %s", err.msg);

	/* The CLI creates a user and a token while the server writes runs. */
	assert_int_equal(store_user_put(cli, "ops", ROLE_ADMIN, &err), 0);
	add_run(fx->s, "rsrv1", "a", "u", RUN_QUEUED, NULL);
	assert_int_equal(store_token_create(cli, "ops", "cli", &tok, NULL,
					    &err), 0);
	add_run(fx->s, "rsrv2", "a", "u", RUN_QUEUED, NULL);
	for (i = 0; i < 20; i++) {
		assert_int_equal(store_audit_add(cli, "ops", "cli.write", NULL,
						 NULL, &err), 0);
		assert_int_equal(store_audit_add(fx->s, "srv", "srv.write",
						 NULL, NULL, &err), 0);
	}

	/* Each sees what the other wrote. */
	assert_int_equal(store_token_check(fx->s, tok, &ti, &err), 0);
	assert_string_equal(ti.user, "ops");
	assert_int_equal(ti.role, ROLE_ADMIN);
	store_token_clear(&ti);
	get_run(cli, "rsrv2", &got);
	store_run_clear(&got);
	assert_int_equal(store_run_transition(cli, "rsrv1", RUN_MASK_ACTIVE,
					      RUN_CANCELLED, NULL, &err), 0);
	assert_int_equal(store_run_transition(fx->s, "rsrv1",
					      RUN_MASK_ACTIVE, RUN_STARTING,
					      NULL, &err), 1);
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
	assert_int_equal(store_token_create(fx->s, "alice", "x", &tok, NULL,
					    &err), 0);
	store_close(fx->s);
	fx->s = NULL;

	if (store_open(fx->path, &fx->s, &err) < 0)
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
		assert_int_equal(pthread_create(&th[i], NULL, writer,
						&args[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	assert_int_equal(store_run_list(fx->s, &f, &runs, &n, &err), 0);
	assert_int_equal(n, 200);
	store_runs_free(runs, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_open_urls, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_tightens_mode, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_run_insert_get, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_run_insert_full, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_run_list, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_run_list_limits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_transition_path, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_transition_mask, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_transition_every_state,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_transition_fields, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_handle_stop, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_handles, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
