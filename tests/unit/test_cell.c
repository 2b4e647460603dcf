/*
 * test_cell.c - the cell runtime, tested with real cells (as root): the
 * test plays the supervisor (cell_runtime_open, cell_spawn, read the
 * output, wait on the pidfd, cell_usage, cell_free) and runs
 * build/cellprobe inside, which reports what the cell looks like from the
 * inside.  The cgroup v1/v2 file writing is also checked against fake
 * cgroupfs folder trees.  Also measures spawn latency (printed).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "exec/cell.h"
#include "exec/cell_int.h"
#include "exec/cgroup.h"

static struct cell_runtime *rt;
static char base[PATH_MAX]; /* /var/tmp/runcell-test-cell-PID */
static char probe[PATH_MAX + 32];
static char secret_dir[PATH_MAX + 32], secret_file[PATH_MAX + 32];
static char visible_file[PATH_MAX + 32], shared_dir[PATH_MAX + 32];
static char open_dir[PATH_MAX + 32];
static char last_work[PATH_MAX]; /* work folder of the last probe_run */
static char tmp_base[PATH_MAX];	 /* /tmp/runcell-test-cell-PID (host) */
static char tmp_secret[PATH_MAX + 32], tmp_pub[PATH_MAX + 32];
static const char *wp; /* the work folder inside cells */

/* ---- helpers ---- */

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_text(const char *path)
{
	char *s = NULL;
	size_t n;
	struct rc_err e;

	if (read_file(path, 1 << 20, &s, &n, &e) < 0)
		return NULL;
	return s;
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char *data = NULL;
	size_t n;
	struct rc_err e;
	int fd;

	assert_int_equal(read_file(from, 64 << 20, &data, &n, &e), 0);
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, data, n), 0);
	fchmod(fd, mode);
	close(fd);
	free(data);
}

static char *new_work_dir(void)
{
	char *w = xasprintf("%s/work-XXXXXX", base);

	assert_non_null(mkdtemp(w));
	return w;
}

/* A cell being run by the test. */
struct tcell {
	struct cell c;
	int out; /* read end of the output pipe */
	char *work;
	int64_t spawn_us;
	struct buf text;
};

static int tcell_start(struct tcell *t, char *const *argv,
		       const struct resources *res, const struct isolation *iso,
		       char *const *env, struct rc_err *e)
{
	static char *const default_env[] = { "PATH=/usr/bin:/bin", NULL };
	static const struct resources no_res = { 0 };
	static const struct isolation no_iso = { 0 };
	struct cell_spec spec;
	int p[2];
	int64_t t0;
	int r;

	memset(t, 0, sizeof(*t));
	buf_init(&t->text, 16 << 20);
	t->work = new_work_dir();
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	spec = (struct cell_spec){
		.run_id = "test",
		.argv = argv,
		.env = env ? env : default_env,
		.res = res ? res : &no_res,
		.iso = iso ? iso : &no_iso,
		.work_dir = t->work,
		.out_fd = p[1],
	};
	rc_err_clear(e);
	t0 = time_mono_us();
	r = cell_spawn(rt, &spec, &t->c, e);
	t->spawn_us = time_mono_us() - t0;
	close(p[1]);
	t->out = p[0];
	if (r < 0) {
		close(p[0]);
		t->out = -1;
	}
	return r;
}

/* Read output until a newline is seen (or EOF / timeout). */
static void tcell_read_line(struct tcell *t, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	char chunk[4096];

	while (!memchr(t->text.data ? t->text.data : "", '\n', t->text.len)) {
		struct pollfd pfd = { .fd = t->out, .events = POLLIN };
		int left = (int)(end - time_mono_ms());
		ssize_t r;

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return;
		r = read(t->out, chunk, sizeof(chunk));
		if (r <= 0)
			return;
		buf_append(&t->text, chunk, (size_t)r);
	}
}

/* Read all output, wait for the init, collect usage and free the cell.
 * Kills the cell at the timeout.  Returns the wait status. */
static int tcell_finish(struct tcell *t, struct cell_usage *u, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	bool out_open = true, running = true;
	char chunk[4096];
	int status = -1;

	while (out_open || running) {
		struct pollfd pfd[2] = {
			{ .fd = out_open ? t->out : -1, .events = POLLIN },
			{ .fd = running ? t->c.pidfd : -1, .events = POLLIN },
		};
		int left = (int)(end - time_mono_ms());

		if (left <= 0) {
			print_message("cell timed out; killing it\n");
			cell_kill(&t->c);
			end = time_mono_ms() + 5000;
			left = 5000;
		}
		if (poll(pfd, 2, left) <= 0)
			continue;
		if (pfd[0].revents) {
			ssize_t r = read(t->out, chunk, sizeof(chunk));

			if (r <= 0)
				out_open = false;
			else
				buf_append(&t->text, chunk, (size_t)r);
		}
		if (pfd[1].revents)
			running = false;
	}
	if (u)
		cell_usage(&t->c, u);
	cell_free(&t->c, &status);
	close(t->out);
	t->out = -1;
	return status;
}

static void tcell_clear(struct tcell *t)
{
	buf_free(&t->text);
	free(t->work);
}

/* Run the probe with args; returns its JSON report (or NULL), its wait
 * status and usage. */
static json_t *probe_run(const char *const *args, const struct resources *res,
			 const struct isolation *iso, char *const *env,
			 int *status, struct cell_usage *u)
{
	char *argv[32];
	struct tcell t;
	struct rc_err e;
	json_t *j;
	int n = 0;

	argv[n++] = probe;
	for (; args && *args && n < 31; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	if (tcell_start(&t, argv, res, iso, env, &e) < 0) {
		print_message("cell_spawn: %s\n", e.msg);
		fail();
	}
	*status = tcell_finish(&t, u, 30000);
	j = json_loads(t.text.data ? t.text.data : "", 0, NULL);
	if (!j && WIFEXITED(*status))
		print_message("probe output: %s\n",
			      t.text.data ? t.text.data : "");
	snprintf(last_work, sizeof(last_work), "%s", t.work);
	tcell_clear(&t);
	return j;
}

static const char *jget_str(json_t *j, const char *path)
{
	/* "a.b" -> j["a"]["b"] */
	char k[256];
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		snprintf(k, sizeof(k), "%.*s", (int)(dot - path), path);
		j = json_object_get(j, k);
		path = dot + 1;
	}
	return json_string_value(json_object_get(j, path));
}

static json_int_t jget_int(json_t *j, const char *path)
{
	char k[256];
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		snprintf(k, sizeof(k), "%.*s", (int)(dot - path), path);
		j = json_object_get(j, k);
		path = dot + 1;
	}
	assert_non_null(json_object_get(j, path));
	return json_integer_value(json_object_get(j, path));
}

/* The top (last) mount on dir in the probe's report. */
static json_t *find_mount(json_t *j, const char *dir)
{
	json_t *m, *found = NULL;
	size_t i;

	json_array_foreach(json_object_get(j, "mounts"), i, m)
		if (strcmp(json_string_value(json_object_get(m, "dir")), dir) ==
		    0)
			found = m;
	return found;
}

static bool mount_ro(json_t *m)
{
	const char *o = json_string_value(json_object_get(m, "opts"));

	return o && (strncmp(o, "ro,", 3) == 0 || strcmp(o, "ro") == 0);
}

/* ---- set-up ---- */

static int group_setup(void **state)
{
	char exe[PATH_MAX], *slash, *state_dir;
	char *hidden[4];
	struct cell_runtime_config cfg = { 0 };
	struct rc_err e;
	ssize_t n;

	if (geteuid() != 0) {
		fprintf(stderr, "test_cell: needs root (real cells)\n");
		return -1;
	}
	/* Not under /tmp or /work: a cell has its own /tmp and /work. */
	snprintf(base, sizeof(base), "/var/tmp/runcell-test-cell-%d",
		 (int)getpid());
	rm_rf(base);
	if (mkdir_p(base, 0755, &e) < 0)
		return -1;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	*slash = '\0';
	snprintf(probe, sizeof(probe), "%s/cellprobe", base);
	{
		char *src = xasprintf("%s/cellprobe", exe);

		copy_file(src, probe, 0755);
		free(src);
	}
	snprintf(secret_dir, sizeof(secret_dir), "%s/secret-dir", base);
	snprintf(secret_file, sizeof(secret_file), "%s/secret.txt", base);
	snprintf(visible_file, sizeof(visible_file), "%s/visible.txt", base);
	snprintf(shared_dir, sizeof(shared_dir), "%s/shared", base);
	snprintf(open_dir, sizeof(open_dir), "%s/open", base);
	mkdir(secret_dir, 0755);
	mkdir(shared_dir, 0777);
	chmod(shared_dir, 0777);
	{
		char *f = xasprintf("%s/token", secret_dir);

		write_text(f, "s3cret\n");
		free(f);
	}
	write_text(secret_file, "s3cret\n");
	write_text(visible_file, "hello\n");
	chmod(secret_file, 0644);
	/* World-writable on the host: only the read-only mount stops a
	 * cell from writing it. */
	chmod(visible_file, 0666);
	mkdir(open_dir, 0777);
	chmod(open_dir, 0777);

	/* Host paths under /tmp, which a cell has its own of. */
	snprintf(tmp_base, sizeof(tmp_base), "/tmp/runcell-test-cell-%d",
		 (int)getpid());
	snprintf(tmp_secret, sizeof(tmp_secret), "%s/secret", tmp_base);
	snprintf(tmp_pub, sizeof(tmp_pub), "%s/pub", tmp_base);
	rm_rf(tmp_base);
	mkdir(tmp_base, 0755);
	mkdir(tmp_secret, 0755);
	mkdir(tmp_pub, 0777);
	chmod(tmp_pub, 0777);

	state_dir = xasprintf("%s/state", base);
	hidden[0] = secret_dir;
	hidden[1] = secret_file;
	hidden[2] = tmp_secret;
	hidden[3] = NULL;
	cfg.state_dir = state_dir;
	cfg.run_user = "runcell";
	cfg.hidden = hidden;
	cfg.slots = 4;
	if (cell_runtime_open(&cfg, &rt, &e) < 0) {
		fprintf(stderr, "cell_runtime_open: %s\n", e.msg);
		free(state_dir);
		return -1;
	}
	free(state_dir);
	wp = cell_runtime_work_path(rt);
	print_message("runtime: %s\n", cell_runtime_describe(rt));
	(void)state;
	return 0;
}

static int group_teardown(void **state)
{
	if (rt && cell_runtime_remove_cgroups(rt) < 0)
		fprintf(stderr,
			"test_cell: some cgroups could not be removed\n");
	cell_runtime_close(rt);
	rt = NULL;
	rm_rf(base);
	rm_rf(tmp_base);
	(void)state;
	return 0;
}

/* ---- the cell as seen from inside ---- */

static void test_identity(void **state)
{
	const char *args[] = { NULL };
	struct cell_usage u;
	json_t *j, *ifs, *p;
	sigset_t block, saved;
	void (*pipe_was)(int);
	int status;
	size_t i;

	/* A supervisor may block or ignore signals; the program must not
	 * inherit that. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &saved);
	pipe_was = signal(SIGPIPE, SIG_IGN);
	j = probe_run(args, NULL, NULL, NULL, &status, &u);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	signal(SIGPIPE, pipe_was);
	assert_non_null(j);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The program runs under the cell's init (PID 1). */
	assert_int_equal(jget_int(j, "pid"), 2);
	assert_int_equal(jget_int(j, "ppid"), 1);
	assert_int_equal(json_array_size(json_object_get(j, "procs")), 2);
	assert_int_equal(jget_int(j, "uid"), CELL_DEFAULT_UID);
	assert_int_equal(jget_int(j, "euid"), CELL_DEFAULT_UID);
	assert_int_equal(jget_int(j, "gid"), CELL_DEFAULT_GID);
	assert_int_equal(json_array_size(json_object_get(j, "groups")), 0);
	assert_string_equal(jget_str(j, "CapEff"), "0000000000000000");
	assert_string_equal(jget_str(j, "CapPrm"), "0000000000000000");
	assert_string_equal(jget_str(j, "CapInh"), "0000000000000000");
	assert_string_equal(jget_str(j, "CapBnd"), "0000000000000000");
	assert_string_equal(jget_str(j, "CapAmb"), "0000000000000000");
	assert_int_equal(jget_int(j, "NoNewPrivs"), 1);
	assert_int_equal(jget_int(j, "Seccomp"), 2);
	assert_string_equal(jget_str(j, "SigBlk"), "0000000000000000");
	assert_string_equal(jget_str(j, "SigIgn"), "0000000000000000");
	assert_string_equal(jget_str(j, "hostname"), "runcell");
	assert_string_equal(jget_str(j, "cwd"), wp);
	assert_int_equal(jget_int(j, "envc"), 1);
	assert_int_equal(jget_int(j, "rlimits.core"), 0);
	assert_int_equal(jget_int(j, "rlimits.nofile"), 1024);
	assert_int_equal(jget_int(j, "rlimits.fsize"), 1LL << 30);
	/* No network: loopback only, and down. */
	ifs = json_object_get(j, "interfaces");
	assert_int_equal(json_array_size(ifs), 1);
	p = json_array_get(ifs, 0);
	assert_string_equal(json_string_value(json_object_get(p, "name")),
			    "lo");
	assert_true(json_is_false(json_object_get(p, "up")));
	/* The filesystem view. */
	assert_non_null(p = find_mount(j, "/"));
	assert_true(mount_ro(p));
	assert_non_null(p = find_mount(j, "/proc"));
	assert_string_equal(json_string_value(json_object_get(p, "fs")),
			    "proc");
	assert_non_null(p = find_mount(j, "/tmp"));
	assert_string_equal(json_string_value(json_object_get(p, "fs")),
			    "tmpfs");
	assert_false(mount_ro(p));
	assert_non_null(p = find_mount(j, "/dev"));
	assert_string_equal(json_string_value(json_object_get(p, "fs")),
			    "tmpfs");
	assert_non_null(p = find_mount(j, wp));
	assert_false(mount_ro(p));
	assert_non_null(p = find_mount(j, "/run"));
	assert_string_equal(json_string_value(json_object_get(p, "fs")),
			    "tmpfs");
	/* Every other mount of the host came along read-only. */
	json_array_foreach(json_object_get(j, "mounts"), i, p) {
		const char *d = json_string_value(json_object_get(p, "dir"));

		if (strcmp(d, "/tmp") && strcmp(d, wp) && strcmp(d, "/run") &&
		    strcmp(d, "/dev") && strcmp(d, "/proc") &&
		    !str_has_prefix(d, "/proc/"))
			assert_true(mount_ro(p));
	}
	assert_true(u.cpu_usec >= 0);
	assert_true(u.peak_memory > 0);
	assert_false(u.oom_killed);
	assert_false(u.pids_limited);
	json_decref(j);
	(void)state;
}

static void test_filesystem(void **state)
{
	char *wfile = xasprintf("%s/probe-wrote", shared_dir);
	char *sh = xasprintf("%s/shared", base);
	char *writable[] = { sh, NULL };
	struct isolation iso = { .writable = writable };
	const char *args[] = {
		"--check",   "/etc",	  "--check",	"/usr/bin", "--check",
		wp,	     "--check",	  "/tmp",	"--check",  "/dev/shm",
		"--check",   "/dev/null", "--check",	secret_dir, "--check",
		secret_file, "--check",	  visible_file, "--check",  shared_dir,
		"--check",   open_dir,	  "--fill",	"out.bin",  "1",
		NULL,
	};
	struct cell_usage u;
	char *k;
	json_t *j;
	int status;

	j = probe_run(args, NULL, &iso, NULL, &status, &u);
	assert_non_null(j);
	assert_true(WIFEXITED(status));
	json_t *paths = json_object_get(j, "paths");

#define PATH_IS(p, what, want)                                         \
	assert_string_equal(json_string_value(json_object_get(         \
				    json_object_get(paths, p), what)), \
			    want)
	PATH_IS("/etc", "read", "ok");
	PATH_IS("/etc", "write", "EROFS");
	PATH_IS("/usr/bin", "write", "EROFS");
	PATH_IS(wp, "write", "ok");
	PATH_IS("/tmp", "write", "ok");
	PATH_IS("/dev/shm", "write", "ok");
	PATH_IS("/dev/null", "write", "ok");
	PATH_IS(secret_dir, "read", "EACCES");
	PATH_IS(secret_file, "read", "EACCES");
	PATH_IS(secret_file, "write", "EACCES");
	PATH_IS(visible_file, "read", "ok");
	PATH_IS(visible_file, "write", "EROFS");
	PATH_IS(shared_dir, "write", "ok");
	PATH_IS(open_dir, "write", "EROFS");
#undef PATH_IS
	assert_int_equal(jget_int(j, "fill.bytes"), 1 << 20);
	json_decref(j);
	/* What the cell wrote in /work is in the work folder on the host,
	 * owned by the run user. */
	{
		char *out = xasprintf("%s/out.bin", last_work);
		struct stat st;

		assert_int_equal(stat(out, &st), 0);
		assert_int_equal(st.st_size, 1 << 20);
		assert_int_equal(st.st_uid, CELL_DEFAULT_UID);
		free(out);
	}
	k = xasprintf("%s/token", secret_dir);
	assert_int_equal(access(k, R_OK), 0); /* still there on the host */
	free(k);
	free(wfile);
	free(sh);
	(void)state;
}

static int count_host_interfaces(void)
{
	char *t = read_text("/proc/net/dev");
	int n = 0;

	for (char *p = t; p && (p = strchr(p, ':')); p++)
		n++;
	free(t);
	return n;
}

/* A TCP listener on the host's loopback; returns its port. */
static int listen_loopback(int *fd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*fd >= 0);
	assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(*fd, 8), 0);
	assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

/* What the probe reported for --check path: "read", "write" or "stat". */
static const char *path_result(json_t *j, const char *path, const char *what)
{
	json_t *p = json_object_get(json_object_get(j, "paths"), path);

	return json_string_value(json_object_get(p, what));
}

static void test_private_mounts(void **state)
{
	char *wrote = xasprintf("%s/wrote-here", tmp_pub);
	char *writable1[] = { tmp_pub, NULL };
	char *writable2[] = { tmp_base, NULL };
	struct isolation iso1 = { .writable = writable1 };
	struct isolation iso2 = { .writable = writable2 };
	const char *args[] = {
		"--check", tmp_pub, "--check", tmp_secret,
		"--check", "/run",  "--check", "/run/munge",
		"--fill",  wrote,   "1",       NULL,
	};
	struct cell_usage u;
	struct stat st;
	json_t *j;
	int status;

	/* A writable path under /tmp gets a mount point in the cell's own
	 * /tmp; a hidden path there is simply absent; the host's /run (and
	 * the sockets in it) is not there. */
	j = probe_run(args, NULL, &iso1, NULL, &status, &u);
	assert_non_null(j);
	assert_true(WIFEXITED(status));
	assert_string_equal(path_result(j, tmp_pub, "write"), "ok");
	assert_string_equal(path_result(j, tmp_secret, "stat"), "ENOENT");
	assert_string_equal(path_result(j, "/run", "read"), "ok");
	assert_string_equal(path_result(j, "/run", "write"), "EACCES");
	assert_string_equal(path_result(j, "/run/munge", "stat"), "ENOENT");
	assert_int_equal(jget_int(j, "fill.bytes"), 1 << 20);
	json_decref(j);
	assert_int_equal(stat(wrote, &st), 0); /* on the host */
	assert_int_equal(st.st_size, 1 << 20);

	/* The host folder holding the hidden one made writable: the hidden
	 * folder is still covered. */
	j = probe_run(args, NULL, &iso2, NULL, &status, &u);
	assert_non_null(j);
	assert_string_equal(path_result(j, tmp_pub, "write"), "ok");
	assert_string_equal(path_result(j, tmp_secret, "read"), "EACCES");
	json_decref(j);
	free(wrote);
	(void)state;
}

static void test_network(void **state)
{
	struct isolation iso = { .network = true };
	struct cell_usage u;
	char target[64];
	const char *args[] = { "--tcp", target, NULL };
	json_t *j, *p;
	int status, lfd, port;
	size_t i;
	bool lo_up = false;

	port = listen_loopback(&lfd);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);

	/* Default: no way to reach the host's loopback. */
	j = probe_run(args, NULL, NULL, NULL, &status, &u);
	assert_non_null(j);
	assert_string_not_equal(jget_str(j, "tcp"), "ok");
	json_decref(j);

	/* isolation.network: the host's network. */
	j = probe_run(args, NULL, &iso, NULL, &status, &u);
	assert_non_null(j);
	assert_string_equal(jget_str(j, "tcp"), "ok");
	assert_int_equal(json_array_size(json_object_get(j, "interfaces")),
			 count_host_interfaces());
	json_array_foreach(json_object_get(j, "interfaces"), i, p)
		if (strcmp(json_string_value(json_object_get(p, "name")),
			   "lo") == 0)
			lo_up = json_is_true(json_object_get(p, "up"));
	assert_true(lo_up);
	json_decref(j);
	close(lfd);
	(void)state;
}

static void test_custom_root(void **state)
{
	static const char *const libs[] = {
		"/lib/x86_64-linux-gnu/libc.so.6",
		"/lib64/ld-linux-x86-64.so.2",
	};
	char *root = xasprintf("%s/rootfs", base);
	char *argv[] = { "/cellprobe", "--check", "/",	   "--check",
			 "/etc",       "--check", "/work", NULL };
	struct isolation iso = { .root = root };
	struct tcell t;
	struct rc_err e;
	json_t *j;
	int status;

	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		char *to, *dir;

		if (access(libs[i], R_OK) < 0) {
			print_message("skipped: no %s\n", libs[i]);
			free(root);
			skip();
		}
		to = xasprintf("%s%s", root, libs[i]);
		dir = xstrndup(to, (size_t)(strrchr(to, '/') - to));
		assert_int_equal(mkdir_p(dir, 0755, &e), 0);
		copy_file(libs[i], to, 0755);
		free(dir);
		free(to);
	}
	{
		char *to = xasprintf("%s/cellprobe", root);

		copy_file(probe, to, 0755);
		free(to);
	}
	/* The mount points (proc, dev, tmp, work) are made by the runtime. */
	assert_int_equal(tcell_start(&t, argv, NULL, &iso, NULL, &e), 0);
	status = tcell_finish(&t, NULL, 10000);
	assert_true(WIFEXITED(status));
	j = json_loads(t.text.data ? t.text.data : "", 0, NULL);
	assert_non_null(j);
	assert_string_equal(path_result(j, "/", "write"), "EROFS");
	assert_string_equal(path_result(j, "/etc", "stat"), "ENOENT");
	assert_string_equal(path_result(j, "/work", "write"), "ok");
	assert_string_equal(jget_str(j, "cwd"), "/work");
	assert_int_equal(jget_int(j, "pid"), 2);
	json_decref(j);
	tcell_clear(&t);
	free(root);
	(void)state;
}

static void test_memory_hog(void **state)
{
	struct resources res = { .memory = 64 << 20 };
	const char *args[] = { "--alloc", "500", NULL };
	struct cell_usage u;
	json_t *j;
	int status;

	j = probe_run(args, &res, NULL, NULL, &status, &u);
	json_decref(j);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_true(u.oom_killed);
	assert_true(u.peak_memory > (32 << 20));
	assert_true(u.peak_memory <= (64 << 20) + (1 << 20));
	(void)state;
}

static void test_tmp_capped(void **state)
{
	struct resources res = { .memory = 64 << 20 };
	const char *args[] = { "--fill", "/tmp/big", "100", NULL };
	struct cell_usage u;
	json_t *j;
	int status;

	/* /tmp is half the memory limit: filling it is ENOSPC, not an OOM
	 * kill (tmpfs pages count against the cell's memory). */
	j = probe_run(args, &res, NULL, NULL, &status, &u);
	assert_non_null(j);
	assert_true(WIFEXITED(status));
	assert_string_equal(jget_str(j, "fill.error"), "ENOSPC");
	assert_true(jget_int(j, "fill.bytes") <= (32 << 20));
	assert_true(jget_int(j, "fill.bytes") >= (30 << 20));
	json_decref(j);
	(void)state;
}

static void test_fork_bomb(void **state)
{
	struct resources res = { .pids = 20 };
	const char *args[] = { "--fork", "1000", NULL };
	struct cell_usage u;
	json_t *j;
	int status;

	j = probe_run(args, &res, NULL, NULL, &status, &u);
	assert_non_null(j);
	assert_true(WIFEXITED(status));
	/* 20 = the init, the probe and 18 children. */
	assert_int_equal(jget_int(j, "fork.ok"), 18);
	assert_string_equal(jget_str(j, "fork.error"), "EAGAIN");
	assert_true(u.pids_limited);
	json_decref(j);
	(void)state;
}

static void test_cpu_quota(void **state)
{
	struct resources res = { .cpu = 0.2 };
	const char *args[] = { "--spin", "1", NULL };
	struct cell_usage u;
	double wall, cpu;
	json_t *j;
	int status;

	j = probe_run(args, &res, NULL, NULL, &status, &u);
	assert_non_null(j);
	wall = json_real_value(
		json_object_get(json_object_get(j, "spin"), "wall"));
	cpu = json_real_value(
		json_object_get(json_object_get(j, "spin"), "cpu"));
	print_message(
		"cpu 0.2: %.3f s CPU in %.3f s wall; cgroup says %lld us\n",
		cpu, wall, (long long)u.cpu_usec);
	assert_true(wall >= 0.99);
	assert_true(cpu / wall < 0.3);
	assert_true(cpu / wall > 0.1);
	assert_true(u.cpu_usec > 100000 && u.cpu_usec < 400000);
	json_decref(j);
	(void)state;
}

static void start_probe(struct tcell *t, const char *const *args,
			const struct resources *res)
{
	char *argv[16];
	struct rc_err e;
	int n = 0;

	argv[n++] = probe;
	for (; *args && n < 15; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	if (tcell_start(t, argv, res, NULL, NULL, &e) < 0) {
		print_message("cell_spawn: %s\n", e.msg);
		fail();
	}
}

static bool pidfd_ready(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, timeout_ms) == 1;
}

static void kill_doublefork(bool use_unified)
{
	const char *args[] = { "--doublefork", "60", "--sleep", "60", NULL };
	struct tcell t;
	int64_t t0;
	int status;

	cell_runtime_use_unified(rt, use_unified);
	start_probe(&t, args, NULL);
	tcell_read_line(&t, 10000);
	assert_non_null(strstr(t.text.data, "doublefork_pid"));
	/* init, probe, the orphaned grandchild */
	assert_int_equal(cell_nprocs(&t.c), 3);
	t0 = time_mono_ms();
	assert_int_equal(cell_kill(&t.c), 0);
	assert_int_equal(cell_nprocs(&t.c), 0);
	assert_true(pidfd_ready(t.c.pidfd, 2000));
	print_message("cell_kill (%s): %lld ms\n",
		      use_unified ? "with the cgroup2 slot" : "v1 only",
		      (long long)(time_mono_ms() - t0));
	assert_int_equal(cell_kill(&t.c), 0); /* idempotent */
	status = tcell_finish(&t, NULL, 5000);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	tcell_clear(&t);
	cell_runtime_use_unified(rt, true);
}

static void test_kill_doublefork(void **state)
{
	kill_doublefork(true);
	(void)state;
}

static void test_kill_doublefork_v1(void **state)
{
	/* The pure v1 path: freeze, SIGKILL each process, thaw. */
	kill_doublefork(false);
	(void)state;
}

static void test_orphans_die_with_program(void **state)
{
	const char *args[] = { "--doublefork", "60", NULL };
	struct tcell t;
	int status;

	start_probe(&t, args, NULL);
	assert_true(pidfd_ready(t.c.pidfd, 10000));
	/* The init left when the program did, and took the sleeper. */
	assert_int_equal(cell_nprocs(&t.c), 0);
	status = tcell_finish(&t, NULL, 5000);
	if (!WIFEXITED(status))
		print_message("status %#x, output: %s\n", status,
			      t.text.data ? t.text.data : "");
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	tcell_clear(&t);
	(void)state;
}

static void test_signal_forwarded(void **state)
{
	const char *args[] = { "--sleep", "60", NULL };
	struct tcell t;
	int status;

	start_probe(&t, args, NULL);
	tcell_read_line(&t, 10000);
	assert_int_equal(cell_signal(&t.c, SIGTERM), 0);
	assert_true(pidfd_ready(t.c.pidfd, 5000));
	status = tcell_finish(&t, NULL, 5000);
	/* The program's own status, passed on by the init. */
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
	tcell_clear(&t);
	(void)state;
}

static void test_syscalls_refused(void **state)
{
	static const char *const eperm[] = {
		"mount",
		"umount2",
		"unshare_user",
		"unshare_net",
		"clone_newuser",
		"clone_newns",
		"setns",
		"ptrace_attach",
		"process_vm_readv",
		"bpf",
		"keyctl",
		"add_key",
		"perf_event_open",
		"userfaultfd",
		"io_uring_setup",
		"open_by_handle_at",
		"init_module",
		"kexec_load",
		"swapon",
		"reboot",
		"pivot_root",
		"chroot",
		"sethostname",
		"setuid0",
		"personality_aslr",
	};
	const char *args[] = { "--try-syscalls", NULL };
	struct cell_usage u;
	json_t *j, *sc;
	int status;

	j = probe_run(args, NULL, NULL, NULL, &status, &u);
	assert_non_null(j);
	sc = json_object_get(j, "syscalls");
	for (size_t i = 0; i < sizeof(eperm) / sizeof(eperm[0]); i++) {
		const char *got =
			json_string_value(json_object_get(sc, eperm[i]));

		if (!got || strcmp(got, "EPERM") != 0)
			print_message("%s: %s\n", eperm[i],
				      got ? got : "(none)");
		assert_non_null(got);
		assert_string_equal(got, "EPERM");
	}
	assert_string_equal(jget_str(sc, "clone3"), "ENOSYS");
	assert_string_equal(jget_str(sc, "personality_query"), "ok");
	assert_string_equal(jget_str(sc, "personality_linux"), "ok");
	assert_string_equal(jget_str(sc, "fork"), "ok");
	json_decref(j);
	(void)state;
}

static void test_foreign_arch_killed(void **state)
{
	const char *x32[] = { "--try-x32", NULL };
	const char *i386[] = { "--try-i386", NULL };
	struct cell_usage u;
	int status;

	json_decref(probe_run(x32, NULL, NULL, NULL, &status, &u));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
	json_decref(probe_run(i386, NULL, NULL, NULL, &status, &u));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
	(void)state;
}

/* Every slot lock can be taken: no cell is left holding one. */
static void assert_slots_free(void)
{
	for (int i = 0; i < 8; i++) {
		char *path = xasprintf("%s/state/slots/%d.lock", base, i);
		int fd = open(path, O_RDWR | O_CLOEXEC);

		if (fd >= 0) {
			assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
			close(fd);
		}
		free(path);
	}
}

static void test_exec_failure(void **state)
{
	char *argv1[] = { "/nonexistent/program", NULL };
	char *argv2[] = { visible_file, NULL };
	struct tcell t;
	struct rc_err e;
	int ws;

	assert_int_equal(tcell_start(&t, argv1, NULL, NULL, NULL, &e), -1);
	assert_int_equal(e.errnum, ENOENT);
	assert_string_equal(e.msg, "cannot execute /nonexistent/program: "
				   "No such file or directory");
	tcell_clear(&t);
	assert_int_equal(tcell_start(&t, argv2, NULL, NULL, NULL, &e), -1);
	assert_int_equal(e.errnum, EACCES);
	tcell_clear(&t);
	/* Nothing left behind: no child, no slot held. */
	assert_int_equal(waitpid(-1, &ws, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_slots_free();
	(void)state;
}

static void test_setup_failure(void **state)
{
	char *root = xasprintf("%s/rootfs-empty", base);
	char *writable[] = { shared_dir, NULL };
	struct isolation iso = { .root = root, .writable = writable };
	char *argv[] = { "/bin/true", NULL };
	struct tcell t;
	struct rc_err e;
	int ws;

	/* The writable path is not in this root and the root is read-only:
	 * the child fails while building the cell.  The supervisor gets a
	 * message saying why (and no SIGPIPE), and nothing is left. */
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(tcell_start(&t, argv, NULL, &iso, NULL, &e), -1);
	print_message("%s\n", e.msg);
	assert_non_null(strstr(e.msg, "does not exist in the cell's root"));
	assert_non_null(strstr(e.msg, shared_dir));
	assert_int_equal(e.errnum, EROFS);
	tcell_clear(&t);
	assert_int_equal(waitpid(-1, &ws, WNOHANG), -1);
	assert_slots_free();
	free(root);
	(void)state;
}

static void test_exit_code_env_path(void **state)
{
	char *argv[] = { "sh", "-c", "test \"$GREETING\" = hi && exit 7",
			 NULL };
	char *env[] = { "PATH=/usr/bin:/bin", "GREETING=hi", NULL };
	struct tcell t;
	struct rc_err e;
	int status;

	assert_int_equal(tcell_start(&t, argv, NULL, NULL, env, &e), 0);
	status = tcell_finish(&t, NULL, 10000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 7);
	tcell_clear(&t);
	(void)state;
}

static void test_slots_exclusive(void **state)
{
	const char *args[] = { "--sleep", "60", NULL };
	struct tcell t[6];
	json_t *j;
	int status;

	/* More cells than pooled slots: the last ones get slots made on
	 * demand, with a network namespace of their own. */
	for (int i = 0; i < 6; i++) {
		start_probe(&t[i], args, NULL);
		tcell_read_line(&t[i], 10000);
		for (int k = 0; k < i; k++)
			assert_int_not_equal(t[i].c.slot, t[k].c.slot);
		j = json_loads(t[i].text.data, 0, NULL);
		assert_non_null(j);
		assert_int_equal(
			json_array_size(json_object_get(j, "interfaces")), 1);
		json_decref(j);
	}
	for (int i = 0; i < 6; i++) {
		assert_int_equal(cell_kill(&t[i].c), 0);
		status = tcell_finish(&t[i], NULL, 5000);
		assert_true(WIFSIGNALED(status));
		tcell_clear(&t[i]);
	}
	assert_slots_free();
	(void)state;
}

static void test_crashed_supervisor(void **state)
{
	const char *args[] = { "--sleep", "60", NULL };
	char path[PATH_MAX];
	int p[2], ws, slot = -1;
	pid_t sup;

	/* A supervisor that dies without cleaning up: its cell dies with it
	 * (parent-death signal) and its slot is free again. */
	assert_int_equal(pipe(p), 0);
	sup = fork();
	if (sup == 0) {
		struct tcell t;

		start_probe(&t, args, NULL);
		tcell_read_line(&t, 10000);
		cell_cgroup_path(&t.c, path, sizeof(path));
		(void)!write(p[1], &t.c.slot, sizeof(int));
		(void)!write(p[1], path, sizeof(path));
		_exit(0);
	}
	assert_int_equal(read(p[0], &slot, sizeof(int)), (ssize_t)sizeof(int));
	assert_int_equal(read(p[0], path, sizeof(path)), (ssize_t)sizeof(path));
	waitpid(sup, &ws, 0);
	close(p[0]);
	close(p[1]);
	for (int i = 0; i < 200; i++) {
		char *procs = xasprintf("%s/cgroup.procs", path);
		char *text = read_text(procs);
		bool empty = text && !*text;

		free(procs);
		free(text);
		if (empty)
			break;
		assert_true(i < 199);
		usleep(10000);
	}
	assert_slots_free();
	(void)slot;
	(void)state;
}

static void test_slot_reuse_clean(void **state)
{
	const char *big[] = { "--fill", "big", "200", NULL };
	const char *none[] = { NULL };
	struct resources res = { .memory = 512 << 20 };
	struct cell_usage u;
	json_t *j;
	int status;

	/* 200 MB written to /work stays in the page cache, charged to the
	 * slot; the next run there must start from a clean slate. */
	j = probe_run(big, &res, NULL, NULL, &status, &u);
	assert_non_null(j);
	assert_int_equal(jget_int(j, "fill.bytes"), 200 << 20);
	json_decref(j);
	assert_true(u.peak_memory > (150 << 20));
	j = probe_run(none, &res, NULL, NULL, &status, &u);
	assert_non_null(j);
	json_decref(j);
	print_message("peak of a run after a 200 MB writer: %lld kB\n",
		      (long long)u.peak_memory / 1024);
	assert_true(u.peak_memory < (20 << 20));
	(void)state;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_spawn_latency(void **state)
{
	enum { N = 200 };
	char *argv[] = { "/bin/true", NULL };
	struct resources res = { .cpu = 0.5, .memory = 256 << 20, .pids = 64 };
	int64_t spawn[N], total[N];
	struct tcell t;
	struct rc_err e;
	int status;

	for (int i = 0; i < N; i++) {
		int64_t t0 = time_mono_us();

		if (tcell_start(&t, argv, &res, NULL, NULL, &e) < 0) {
			print_message("run %d: %s\n", i, e.msg);
			fail();
		}
		status = tcell_finish(&t, NULL, 10000);
		total[i] = time_mono_us() - t0;
		spawn[i] = t.spawn_us;
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		rm_rf(t.work);
		tcell_clear(&t);
	}
	qsort(spawn, N, sizeof(spawn[0]), cmp_i64);
	qsort(total, N, sizeof(total[0]), cmp_i64);
	print_message("cell_spawn -> exec of /bin/true, %d runs: p50 %.2f ms, "
		      "p99 %.2f ms; whole run (spawn, exit, usage, free) p50 "
		      "%.2f ms, p99 %.2f ms\n",
		      N, spawn[N / 2] / 1000.0, spawn[N * 99 / 100] / 1000.0,
		      total[N / 2] / 1000.0, total[N * 99 / 100] / 1000.0);
	/* Generous bounds: they catch a slow path, not noise. */
	assert_true(spawn[N / 2] < 20000);
	(void)state;
}

/* ---- the cgroup files, against fake trees ---- */

static char *fake_path(const char *root, const char *rel)
{
	return xasprintf("%s/%s", root, rel);
}

static void assert_file(const char *root, const char *rel, const char *want)
{
	char *p = fake_path(root, rel);
	char *got = read_text(p);

	if (!got)
		print_message("missing %s\n", p);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	free(p);
}

static void put_file(const char *root, const char *rel, const char *text)
{
	char *p = fake_path(root, rel);

	write_text(p, text);
	free(p);
}

static void test_cgroup_v2_fake(void **state)
{
	char *root = xasprintf("%s/fake-v2", base);
	struct resources res = { .cpu = 0.5, .memory = 64 << 20, .pids = 10 };
	struct resources none = { 0 };
	struct cell_usage u;
	struct cg_slot s;
	struct cg *cg;
	struct rc_err e;

	rm_rf(root);
	assert_int_equal(mkdir(root, 0755), 0);
	put_file(root, "cgroup.controllers", "cpuset cpu io memory pids\n");
	put_file(root, "cgroup.subtree_control", "");
	assert_int_equal(cg_open(root, "rc", 2, &cg, &e), 0);
	assert_int_equal(cg_get_mode(cg), CG_V2);
	assert_file(root, "cgroup.subtree_control", "+cpu +memory +pids");
	assert_file(root, "rc/cgroup.subtree_control", "+cpu +memory +pids");
	{
		struct stat st;
		char *p = fake_path(root, "rc/slot1");

		assert_int_equal(stat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		free(p);
	}
	/* Counters as the kernel would show them before the run. */
	put_file(root, "rc/slot0/cpu.stat", "usage_usec 1000\nuser_usec 600\n");
	put_file(root, "rc/slot0/memory.events",
		 "low 0\nhigh 0\nmax 3\noom 1\n"
		 "oom_kill 1\n");
	put_file(root, "rc/slot0/pids.events", "max 4\n");
	put_file(root, "rc/slot0/memory.peak", "999999\n");
	put_file(root, "rc/slot0/cgroup.procs", "");

	assert_int_equal(cg_slot_prepare(cg, 0, &res, &s, &e), 0);
	assert_file(root, "rc/slot0/memory.max", "67108864");
	assert_file(root, "rc/slot0/memory.swap.max", "0");
	assert_file(root, "rc/slot0/memory.oom.group", "1");
	assert_file(root, "rc/slot0/cpu.max", "50000 100000");
	assert_file(root, "rc/slot0/pids.max", "10");
	assert_true(s.clone_fd >= 0);
	assert_int_equal(cg_slot_attach(&s, 4242, &e), 0);
	assert_file(root, "rc/slot0/cgroup.procs", "4242");
	put_file(root, "rc/slot0/cgroup.procs", "");

	/* After the run: usage is the difference. */
	put_file(root, "rc/slot0/cpu.stat", "usage_usec 251000\n");
	put_file(root, "rc/slot0/memory.events", "oom_kill 2\n");
	put_file(root, "rc/slot0/pids.events", "max 4\n");
	put_file(root, "rc/slot0/memory.peak", "12345678\n");
	cg_slot_usage(&s, &u);
	assert_int_equal(u.cpu_usec, 250000);
	assert_int_equal(u.peak_memory, 12345678);
	assert_true(u.oom_killed);
	assert_false(u.pids_limited);
	assert_int_equal(cg_slot_kill(&s), 0);
	assert_file(root, "rc/slot0/cgroup.kill", "1");
	cg_slot_release(&s);

	/* No limits; and the quota is rewritten on every reuse. */
	assert_int_equal(cg_slot_prepare(cg, 0, &none, &s, &e), 0);
	assert_file(root, "rc/slot0/memory.max", "max");
	assert_file(root, "rc/slot0/cpu.max", "max 100000");
	assert_file(root, "rc/slot0/pids.max", "max");
	cg_slot_release(&s);
	/* A slot past the pool is made on demand. */
	assert_int_equal(cg_slot_prepare(cg, 7, &res, &s, &e), 0);
	assert_file(root, "rc/slot7/pids.max", "10");
	cg_slot_release(&s);
	cg_close(cg);

	/* No memory controller: the error says so. */
	put_file(root, "cgroup.controllers", "cpu pids\n");
	assert_int_equal(cg_open(root, "rc", 2, &cg, &e), -1);
	assert_non_null(strstr(e.msg, "no memory cgroup controller"));
	rm_rf(root);
	free(root);
	(void)state;
}

static void test_cgroup_v1_fake(void **state)
{
	char *root = xasprintf("%s/fake-v1", base);
	struct resources res = { .cpu = 1.5, .memory = 32 << 20, .pids = 5 };
	static const char *const dirs[] = {
		"", "memory", "memory/rc", "cpu", "cpuacct", "pids", "freezer",
	};
	struct cell_usage u;
	struct cg_slot s;
	struct cg *cg;
	struct rc_err e;

	rm_rf(root);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *d = fake_path(root, dirs[i]);

		assert_int_equal(mkdir(d, 0755), 0);
		free(d);
	}
	put_file(root, "memory/rc/memory.memsw.limit_in_bytes", "");
	assert_int_equal(cg_open(root, "rc", 1, &cg, &e), 0);
	assert_int_equal(cg_get_mode(cg), CG_V1);
	put_file(root, "memory/rc/slot0/memory.oom_control",
		 "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n");
	put_file(root, "pids/rc/slot0/pids.events", "max 0\n");
	put_file(root, "memory/rc/slot0/cgroup.procs", "");
	assert_int_equal(cg_slot_prepare(cg, 0, &res, &s, &e), 0);
	assert_file(root, "memory/rc/slot0/memory.limit_in_bytes", "33554432");
	assert_file(root, "memory/rc/slot0/memory.memsw.limit_in_bytes",
		    "33554432");
	assert_file(root, "memory/rc/slot0/memory.max_usage_in_bytes", "0");
	assert_file(root, "cpu/rc/slot0/cpu.cfs_period_us", "100000");
	assert_file(root, "cpu/rc/slot0/cpu.cfs_quota_us", "150000");
	assert_file(root, "cpuacct/rc/slot0/cpuacct.usage", "0");
	assert_file(root, "pids/rc/slot0/pids.max", "5");
	assert_file(root, "freezer/rc/slot0/freezer.state", "THAWED");
	assert_int_equal(s.clone_fd, -1);
	assert_int_equal(cg_slot_attach(&s, 4242, &e), 0);
	assert_file(root, "memory/rc/slot0/cgroup.procs", "4242");
	assert_file(root, "cpu/rc/slot0/cgroup.procs", "4242");
	assert_file(root, "cpuacct/rc/slot0/cgroup.procs", "4242");
	assert_file(root, "pids/rc/slot0/cgroup.procs", "4242");
	assert_file(root, "freezer/rc/slot0/cgroup.procs", "4242");
	put_file(root, "memory/rc/slot0/cgroup.procs", "");

	put_file(root, "cpuacct/rc/slot0/cpuacct.usage", "7000000\n");
	put_file(root, "memory/rc/slot0/memory.max_usage_in_bytes",
		 "2048000\n");
	put_file(root, "memory/rc/slot0/memory.oom_control",
		 "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n");
	put_file(root, "pids/rc/slot0/pids.events", "max 3\n");
	cg_slot_usage(&s, &u);
	assert_int_equal(u.cpu_usec, 7000);
	assert_int_equal(u.peak_memory, 2048000);
	assert_false(u.oom_killed);
	assert_true(u.pids_limited);
	cg_slot_release(&s);
	cg_close(cg);
	rm_rf(root);
	free(root);
	(void)state;
}

static void test_runtime_errors(void **state)
{
	struct cell_runtime_config cfg = { 0 };
	struct cell_runtime *r2 = NULL;
	char *sd = xasprintf("%s/state2", base);
	char *fake = xasprintf("%s/fake-nomem", base);
	struct rc_err e;

	cfg.state_dir = "relative/dir";
	assert_int_equal(cell_runtime_open(&cfg, &r2, &e), -1);
	assert_non_null(strstr(e.msg, "absolute"));

	cfg.state_dir = sd;
	cfg.run_user = "no-such-user-runcell";
	assert_int_equal(cell_runtime_open(&cfg, &r2, &e), -1);
	assert_non_null(strstr(e.msg, "does not exist"));
	cfg.run_user = "root";
	assert_int_equal(cell_runtime_open(&cfg, &r2, &e), -1);
	assert_non_null(strstr(e.msg, "unprivileged"));

	cfg.run_user = "1234:1234";
	cfg.cgroup_root = fake;
	mkdir(fake, 0755);
	put_file(fake, "cgroup.controllers", "cpu pids\n");
	assert_int_equal(cell_runtime_open(&cfg, &r2, &e), -1);
	assert_non_null(strstr(e.msg, "no memory cgroup controller"));
	assert_null(r2);
	rm_rf(fake);
	free(fake);
	free(sd);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_filesystem),
		cmocka_unit_test(test_private_mounts),
		cmocka_unit_test(test_network),
		cmocka_unit_test(test_custom_root),
		cmocka_unit_test(test_memory_hog),
		cmocka_unit_test(test_tmp_capped),
		cmocka_unit_test(test_fork_bomb),
		cmocka_unit_test(test_cpu_quota),
		cmocka_unit_test(test_kill_doublefork),
		cmocka_unit_test(test_kill_doublefork_v1),
		cmocka_unit_test(test_orphans_die_with_program),
		cmocka_unit_test(test_signal_forwarded),
		cmocka_unit_test(test_syscalls_refused),
		cmocka_unit_test(test_foreign_arch_killed),
		cmocka_unit_test(test_exec_failure),
		cmocka_unit_test(test_setup_failure),
		cmocka_unit_test(test_exit_code_env_path),
		cmocka_unit_test(test_slots_exclusive),
		cmocka_unit_test(test_crashed_supervisor),
		cmocka_unit_test(test_slot_reuse_clean),
		cmocka_unit_test(test_spawn_latency),
		cmocka_unit_test(test_cgroup_v2_fake),
		cmocka_unit_test(test_cgroup_v1_fake),
		cmocka_unit_test(test_runtime_errors),
	};

	struct CMUnitTest chosen[sizeof(tests) / sizeof(tests[0])];
	const char *only = getenv("TEST_ONLY");
	size_t n = 0;

	/* TEST_ONLY=test_a,test_b runs those, in this file's order. */
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		const char *hit = only ? strstr(only, tests[i].name) : NULL;
		size_t l = strlen(tests[i].name);

		if (!only || (hit && (hit[l] == ',' || hit[l] == '\0')))
			chosen[n++] = tests[i];
	}
	return _cmocka_run_group_tests("test_cell", chosen, n, group_setup,
				       group_teardown);
}
