/*
 * launcher.c - the launcher ("zygote") of local runs and the JSON form of a
 * run's spec.
 *
 * runcelld forks the launcher once, at start-up, before it starts threads.
 * The launcher stays small and single-threaded so that forking a
 * supervisor from it is fast and safe (no exec, no locks held by other
 * threads).  It talks to the service over a SOCK_SEQPACKET socketpair: one
 * message per request (the spec as JSON, plus the run's event channel
 * passed with SCM_RIGHTS), one message per reply ({"ok":true,"pid":N} or
 * {"error":"..."}).  Its first message, sent once it is ready, says whether
 * it could start at all (in isolate mode cell_runtime_open may fail).
 *
 * The launcher's image is lean: runcelld forks and at once execs
 * runcell-launcher (launcher_main.c, next to runcelld's executable, linked
 * with only what the launcher, the supervisors and the cells need), so that
 * each supervisor and cell init forked from it has few mappings to copy
 * and tear down.  Without that file the launcher runs in the forked
 * runcelld image, as a fallback.
 */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../log.h"

/* Largest spec accepted (argv and environment included). */
#define LAUNCHER_MSG_MAX (512 * 1024)
/* How long the service waits for the launcher to come up and to answer. */
#define LAUNCHER_HELLO_TIMEOUT_MS 60000
#define LAUNCHER_REPLY_TIMEOUT_MS 30000

/* ---- The spec's JSON form ---- */

static json_t *strv_to_json(char *const *v)
{
	json_t *a = json_array();

	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* NULL-terminated copy of a JSON array of strings; NULL if j is not one. */
static char **strv_from_json(const json_t *j)
{
	size_t i, n;
	char **v;

	if (!json_is_array(j))
		return NULL;
	n = json_array_size(j);
	v = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(j, i));

		if (!s) {
			strv_free(v);
			return NULL;
		}
		v[i] = xstrdup(s);
	}
	return v;
}

static void set_str(json_t *o, const char *key, const char *s)
{
	json_object_set_new(o, key, s ? json_string(s) : json_null());
}

json_t *sup_spec_to_json(const struct exec_spec *spec, const char *state_dir)
{
	json_t *o = json_object();
	json_t *res = json_object();
	json_t *iso = json_object();

	set_str(o, "run_id", spec->run_id);
	set_str(o, "automation_id", spec->automation_id);
	set_str(o, "user", spec->user);
	json_object_set_new(o, "argv", strv_to_json(spec->argv));
	json_object_set_new(o, "env", strv_to_json(spec->env));
	if (spec->res) {
		json_object_set_new(res, "cpu", json_real(spec->res->cpu));
		json_object_set_new(res, "memory",
				    json_integer(spec->res->memory));
		json_object_set_new(res, "pids", json_integer(spec->res->pids));
		json_object_set_new(res, "timeout_ms",
				    json_integer(spec->res->timeout_ms));
	}
	json_object_set_new(o, "res", res);
	if (spec->iso) {
		json_object_set_new(iso, "network",
				    json_boolean(spec->iso->network));
		json_object_set_new(iso, "writable",
				    strv_to_json(spec->iso->writable));
		json_object_set_new(iso, "readable",
				    strv_to_json(spec->iso->readable));
		set_str(iso, "root", spec->iso->root);
	}
	json_object_set_new(o, "iso", iso);
	set_str(o, "log_path", spec->log_path);
	json_object_set_new(o, "log_max_bytes",
			    json_integer(spec->log_max_bytes));
	json_object_set_new(o, "stop_grace_ms",
			    json_integer(spec->stop_grace_ms));
	set_str(o, "work_dir", spec->work_dir);
	set_str(o, "state_dir", state_dir);
	return o;
}

static char *get_str(const json_t *o, const char *key)
{
	return xstrdup(json_string_value(json_object_get(o, key)));
}

static int64_t get_int(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

int sup_spec_from_json(const json_t *j, struct sup_run *r, struct rc_err *err)
{
	const json_t *res = json_object_get(j, "res");
	const json_t *iso = json_object_get(j, "iso");
	const json_t *w = json_object_get(iso, "writable");
	const json_t *rd = json_object_get(iso, "readable");

	memset(r, 0, sizeof(*r));
	r->run_id = get_str(j, "run_id");
	r->argv = strv_from_json(json_object_get(j, "argv"));
	r->env = strv_from_json(json_object_get(j, "env"));
	r->log_path = get_str(j, "log_path");
	r->work_dir = get_str(j, "work_dir");
	r->state_dir = get_str(j, "state_dir");
	r->log_max_bytes = get_int(j, "log_max_bytes");
	r->stop_grace_ms = get_int(j, "stop_grace_ms");
	r->res.cpu = json_number_value(json_object_get(res, "cpu"));
	r->res.memory = get_int(res, "memory");
	r->res.pids = get_int(res, "pids");
	r->res.timeout_ms = get_int(res, "timeout_ms");
	r->iso.network = json_is_true(json_object_get(iso, "network"));
	r->iso.writable = w && !json_is_null(w) ? strv_from_json(w) : NULL;
	r->iso.readable = rd && !json_is_null(rd) ? strv_from_json(rd) : NULL;
	r->iso.root = get_str(iso, "root");
	if (!r->run_id || !r->run_id[0] || strchr(r->run_id, '/') ||
	    r->run_id[0] == '.')
		return rc_err_set(err, EINVAL,
				  "the run id is missing or "
				  "not a plain name");
	if (!r->argv || !r->argv[0] || !r->argv[0][0])
		return rc_err_set(err, EINVAL, "run %s has no command",
				  r->run_id);
	if (!r->env)
		return rc_err_set(err, EINVAL, "run %s has no environment",
				  r->run_id);
	if (!r->log_path || !r->work_dir || !r->state_dir)
		return rc_err_set(err, EINVAL,
				  "run %s has no log path, work "
				  "folder or state folder",
				  r->run_id);
	return 0;
}

void sup_run_clear(struct sup_run *r)
{
	free(r->run_id);
	strv_free(r->argv);
	strv_free(r->env);
	strv_free(r->iso.writable);
	strv_free(r->iso.readable);
	free(r->iso.root);
	free(r->log_path);
	free(r->work_dir);
	free(r->state_dir);
	memset(r, 0, sizeof(*r));
}

char *sup_run_path(const char *state_dir, const char *run_id, const char *leaf)
{
	return xasprintf("%s/%s/%s", state_dir, run_id, leaf);
}

int sup_check_sock_path(const char *state_dir, const char *run_id,
			struct rc_err *err)
{
	struct sockaddr_un sa;
	size_t n = strlen(state_dir) + 1 + strlen(run_id) + strlen("/sock");

	if (n < sizeof(sa.sun_path))
		return 0;
	return rc_err_set(err, ENAMETOOLONG,
			  "the socket path %s/%s/sock is %zu bytes long but "
			  "unix sockets allow %zu: choose a shorter "
			  "server.data_dir",
			  state_dir, run_id, n, sizeof(sa.sun_path) - 1);
}

/* ---- Messages on the launcher socket ---- */

/* Send a JSON object as one message, with fd attached when fd >= 0. */
static int send_json(int sock, const json_t *msg, int fd, struct rc_err *err)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov;
	struct msghdr mh;
	ssize_t w;
	int ret = 0;

	if (!text)
		return rc_err_set(err, ENOMEM, "cannot encode a message");
	iov.iov_base = text;
	iov.iov_len = strlen(text);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		w = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		if (errno == EMSGSIZE)
			ret = rc_err_set(err, EMSGSIZE,
					 "the run's command and "
					 "environment are too large (%zu "
					 "bytes)",
					 iov.iov_len);
		else if (errno == EPIPE || errno == ECONNRESET)
			ret = rc_err_set(err, errno,
					 "the launcher process has "
					 "exited; restart runcelld");
		else
			ret = rc_err_set(err, errno,
					 "cannot talk to the "
					 "launcher: %s",
					 strerror(errno));
	}
	free(text);
	return ret;
}

/*
 * Receive one message into buf (size n) and parse it; *fd receives a passed
 * descriptor or -1 (fd may be NULL: passed descriptors are then closed).
 * Returns 0, 1 on end of stream, -1 on error.
 */
static int recv_json(int sock, char *buf, size_t n, json_t **out, int *fd,
		     struct rc_err *err)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { .iov_base = buf, .iov_len = n - 1 };
	struct msghdr mh;
	struct cmsghdr *c;
	json_error_t je;
	int got_fd = -1;
	ssize_t r;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	do
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return rc_err_set(err, errno,
				  "cannot read from the launcher "
				  "socket: %s",
				  strerror(errno));
	if (r == 0)
		return 1;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got_fd < 0 && fd)
				got_fd = f;
			else
				close(f);
		}
	}
	if (fd)
		*fd = got_fd;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (got_fd >= 0)
			close(got_fd);
		if (fd)
			*fd = -1;
		return rc_err_set(err, EMSGSIZE,
				  "message on the launcher "
				  "socket is too large");
	}
	buf[r] = '\0';
	*out = json_loads(buf, 0, &je);
	if (!*out || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		if (got_fd >= 0)
			close(got_fd);
		if (fd)
			*fd = -1;
		return rc_err_set(err, EPROTO,
				  "bad message on the launcher "
				  "socket: %s",
				  je.text);
	}
	return 0;
}

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int64_t deadline = time_mono_ms() + timeout_ms;
	int r;

	for (;;) {
		int64_t left = deadline - time_mono_ms();

		r = poll(&p, 1, left > 0 ? (int)left : 0);
		if (r >= 0 || errno != EINTR)
			return r;
	}
}

/* ---- The launcher process ---- */

/*
 * The launcher keeps one supervisor forked ahead of time (the "spare"),
 * waiting on a socket of its own for a run.  A request is forwarded to it
 * and the next spare is forked after the reply, so no fork is on the path
 * of a start.  If the spare is missing or broken, the launcher forks a
 * supervisor directly.
 */
struct launcher {
	int sock; /* to the service */
	int sfd;  /* signalfd for SIGCHLD */
	struct cell_runtime *rt;
	char *buf; /* LAUNCHER_MSG_MAX bytes */
	pid_t spare_pid;
	int spare_fd; /* -1 when there is no spare */
};

static void launcher_reply_error(int sock, const char *run_id, const char *msg)
{
	json_t *o = json_pack("{s:s?, s:s}", "run_id", run_id, "error", msg);

	send_json(sock, o, -1, NULL);
	json_decref(o);
}

static void launcher_reap(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Become the supervisor of the run in req. */
__attribute__((noreturn)) static void launcher_become(json_t *req, int chan,
						      struct cell_runtime *rt)
{
	struct sup_run run;

	if (sup_spec_from_json(req, &run, NULL) < 0)
		_exit(1); /* checked by the launcher already */
	json_decref(req);
	sup_supervise(&run, chan, rt);
}

/* The spare: wait for one run on fd (or for the launcher to go). */
__attribute__((noreturn)) static void spare_main(struct launcher *l, int fd)
{
	json_t *req = NULL;
	int chan = -1;

	close(l->sock);
	close(l->sfd);
	/* setsid() and friends now, while idle: under load setsid waits on
	 * a kernel lock that forks and exits also take. */
	sup_detach_process();
	if (recv_json(fd, l->buf, LAUNCHER_MSG_MAX, &req, &chan, NULL) != 0 ||
	    chan < 0)
		_exit(0);
	close(fd);
	launcher_become(req, chan, l->rt);
}

static void spare_fork(struct launcher *l)
{
	int sv[2], sndbuf = 4 * LAUNCHER_MSG_MAX;
	pid_t pid;

	if (l->spare_fd >= 0)
		return;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		spare_main(l, sv[1]);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return;
	}
	l->spare_pid = pid;
	l->spare_fd = sv[0];
}

/* Hand req and chan to the spare; returns its pid, or 0 if there is no
 * spare able to take it. */
static pid_t spare_take(struct launcher *l, const json_t *req, int chan)
{
	pid_t pid = l->spare_pid;
	int r;

	if (l->spare_fd < 0)
		return 0;
	r = send_json(l->spare_fd, req, chan, NULL);
	close(l->spare_fd);
	l->spare_fd = -1;
	l->spare_pid = 0;
	return r == 0 ? pid : 0;
}

/* Handle one request: give it to a supervisor and reply. */
static void launcher_handle(struct launcher *l)
{
	struct rc_err e;
	struct sup_run run;
	json_t *req = NULL, *rep;
	int chan = -1, r;
	pid_t pid;

	memset(&run, 0, sizeof(run));
	rc_err_clear(&e);
	r = recv_json(l->sock, l->buf, LAUNCHER_MSG_MAX, &req, &chan, &e);
	if (r == 1)
		_exit(0); /* the service closed the socket */
	if (r < 0) {
		launcher_reply_error(l->sock, NULL, e.msg);
		goto out;
	}
	if (sup_spec_from_json(req, &run, &e) < 0) {
		launcher_reply_error(l->sock, run.run_id, e.msg);
		goto out;
	}
	if (chan < 0) {
		launcher_reply_error(l->sock, run.run_id,
				     "no event channel came with the request");
		goto out;
	}
	pid = spare_take(l, req, chan);
	if (!pid) {
		pid = fork();
		if (pid == 0) {
			close(l->sock);
			close(l->sfd);
			launcher_become(req, chan, l->rt);
		}
	}
	if (pid < 0) {
		char *msg = xasprintf("cannot fork a supervisor: %s",
				      strerror(errno));

		launcher_reply_error(l->sock, run.run_id, msg);
		free(msg);
		goto out;
	}
	rep = json_pack("{s:s, s:b, s:I}", "run_id", run.run_id, "ok", 1, "pid",
			(json_int_t)pid);
	send_json(l->sock, rep, -1, NULL);
	json_decref(rep);
out:
	if (chan >= 0)
		close(chan);
	json_decref(req);
	sup_run_clear(&run);
	spare_fork(l);
}

/* The host's mount tree changed: rebuild the cells' template view, and
 * replace the spare, which holds the old one (closing its socket ends
 * it). */
static void launcher_refresh(struct launcher *l)
{
	if (cell_runtime_refresh(l->rt) < 0)
		return;
	if (l->spare_fd >= 0) {
		close(l->spare_fd);
		l->spare_fd = -1;
		l->spare_pid = 0;
	}
	spare_fork(l);
}

/* The launcher's life: set up, say hello, serve requests until the service
 * goes away. */
__attribute__((noreturn)) static void
launcher_main(int sock, bool isolate, const struct cell_runtime_config *rt_cfg,
	      pid_t parent)
{
	struct launcher l = { .sock = sock, .spare_fd = -1 };
	struct rc_err e;
	sigset_t chld;
	json_t *hello;
	int devnull;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	prctl(PR_SET_NAME, "runcell-launch");
	signal(SIGPIPE, SIG_IGN);
	if (l.sock != 3) {
		if (dup3(l.sock, 3, O_CLOEXEC) < 0)
			_exit(1);
		l.sock = 3;
	} else {
		(void)fcntl(l.sock, F_SETFD, FD_CLOEXEC);
	}
	close_range(4, ~0U, 0);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		close(devnull);
	}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	l.sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

	rc_err_clear(&e);
	if (l.sfd < 0) {
		rc_err_set(&e, errno, "signalfd: %s", strerror(errno));
		goto fail;
	}
	if (isolate && cell_runtime_open(rt_cfg, &l.rt, &e) < 0)
		goto fail;
	l.buf = xmalloc(LAUNCHER_MSG_MAX);
	spare_fork(&l);
	hello = json_pack("{s:b, s:s?}", "ok", 1, "describe",
			  l.rt ? cell_runtime_describe(l.rt) : NULL);
	send_json(l.sock, hello, -1, NULL);
	json_decref(hello);

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = l.sock, .events = POLLIN },
			{ .fd = l.sfd, .events = POLLIN },
			{ .fd = l.rt ? cell_runtime_mounts_fd(l.rt) : -1,
			  .events = POLLPRI },
		};
		struct signalfd_siginfo si;

		if (poll(p, 3, -1) < 0 && errno != EINTR)
			_exit(1);
		while (read(l.sfd, &si, sizeof(si)) == sizeof(si))
			;
		launcher_reap();
		if (p[2].revents & (POLLPRI | POLLERR))
			launcher_refresh(&l);
		if (p[0].revents & POLLIN)
			launcher_handle(&l);
		else if (p[0].revents & (POLLHUP | POLLERR))
			_exit(0);
	}
fail:
	hello = json_pack("{s:s}", "error", e.msg);
	send_json(l.sock, hello, -1, NULL);
	json_decref(hello);
	_exit(1);
}

/* ---- The lean launcher executable (runcell-launcher) ---- */

/*
 * Its command line: runcell-launcher PARENT_PID CONFIG, with the service's
 * end of the request socket on descriptor 3.  CONFIG is a JSON object:
 * {"runs":STATE_DIR} for the process backend, plus "isolate":true,
 * "state_dir", "run_user", "hidden" (array), "slots" and "cgroup_root"
 * (the cell runtime's config) for the sandbox.  "runs" (the backend's
 * folder of runs, unused) names the service the launcher and its
 * supervisors belong to on their command line, as runcelld's own command
 * line did when they were plain forks of it.
 */
static char *launcher_config_json(const char *state_dir, bool isolate,
				  const struct cell_runtime_config *c)
{
	json_t *o = json_object();
	char *text;

	set_str(o, "runs", state_dir);
	if (isolate) {
		json_object_set_new(o, "isolate", json_true());
		set_str(o, "state_dir", c->state_dir);
		set_str(o, "run_user", c->run_user);
		json_object_set_new(o, "hidden", strv_to_json(c->hidden));
		json_object_set_new(o, "slots", json_integer(c->slots));
		set_str(o, "cgroup_root", c->cgroup_root);
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		abort(); /* out of memory */
	return text;
}

int sup_launcher_exec_main(int argc, char **argv)
{
	struct cell_runtime_config c;
	json_error_t je;
	json_t *o, *hidden;
	char **hv = NULL;
	long parent;
	char *end;

	if (argc != 3) {
		fprintf(stderr, "runcell-launcher: started by runcelld only\n");
		return 2;
	}
	errno = 0;
	parent = strtol(argv[1], &end, 10);
	o = json_loads(argv[2], 0, &je);
	if (errno || *end || parent <= 1 || !json_is_object(o) ||
	    fcntl(3, F_GETFD) < 0) {
		fprintf(stderr, "runcell-launcher: bad arguments\n");
		return 2;
	}
	memset(&c, 0, sizeof(c));
	hidden = json_object_get(o, "hidden");
	if (hidden && !json_is_null(hidden))
		hv = strv_from_json(hidden);
	c.state_dir = json_string_value(json_object_get(o, "state_dir"));
	c.run_user = json_string_value(json_object_get(o, "run_user"));
	c.hidden = hv;
	c.slots = (int)get_int(o, "slots");
	c.cgroup_root = json_string_value(json_object_get(o, "cgroup_root"));
	launcher_main(3, json_is_true(json_object_get(o, "isolate")), &c,
		      (pid_t)parent);
}

/* The path of runcell-launcher next to this process's executable, or NULL
 * (logged) when there is none. */
static char *launcher_exe_path(void)
{
	char exe[PATH_MAX], *slash, *path;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		log_warn("cannot read /proc/self/exe (%s): the launcher runs "
			 "in runcelld's image",
			 strerror(errno));
		return NULL;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	path = xasprintf("%s/runcell-launcher", slash ? exe : ".");
	if (access(path, X_OK) < 0) {
		log_warn("%s: %s: the launcher runs in runcelld's image "
			 "(slower run starts; build it with make)",
			 path, strerror(errno));
		free(path);
		return NULL;
	}
	return path;
}

/* ---- The service's side ---- */

int sup_launcher_start(const char *state_dir, bool isolate,
		       const struct cell_runtime_config *rt_cfg, pid_t *pid_out,
		       int *fd_out, struct rc_err *err)
{
	char buf[RC_ERR_MSG_MAX + 256], pbuf[24];
	char *exe, *cfg_text = NULL, *args[4];
	json_t *hello = NULL;
	int sv[2], sndbuf = 4 * LAUNCHER_MSG_MAX, r, ret = -1;
	pid_t parent = getpid(), pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return rc_err_set(err, errno, "socketpair: %s",
				  strerror(errno));
	/* Best effort: messages up to the send buffer fit in one packet. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	exe = launcher_exe_path();
	if (exe) {
		cfg_text = launcher_config_json(state_dir, isolate, rt_cfg);
		snprintf(pbuf, sizeof(pbuf), "%ld", (long)parent);
		args[0] = "runcell-launcher";
		args[1] = pbuf;
		args[2] = cfg_text;
		args[3] = NULL;
	}
	pid = fork();
	if (pid < 0) {
		rc_err_set(err, errno, "cannot fork the launcher: %s",
			   strerror(errno));
		close(sv[0]);
		close(sv[1]);
		free(exe);
		free(cfg_text);
		return -1;
	}
	if (pid == 0) {
		int fd = sv[1];

		close(sv[0]);
		if (exe) {
			/* Set before exec too (it is kept across it), so the
			 * launcher cannot outlive the service meanwhile. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (fd == 3 ? fcntl(3, F_SETFD, 0) == 0 :
				      dup2(fd, 3) == 3) {
				fd = 3;
				execv(exe, args);
			}
			log_warn("cannot execute %s: %s: the launcher runs in "
				 "runcelld's image",
				 exe, strerror(errno));
		}
		launcher_main(fd, isolate, rt_cfg, parent);
	}
	close(sv[1]);
	free(exe);
	free(cfg_text);

	r = wait_readable(sv[0], LAUNCHER_HELLO_TIMEOUT_MS);
	if (r <= 0) {
		rc_err_set(err, ETIMEDOUT,
			   "the launcher did not start within "
			   "%d s",
			   LAUNCHER_HELLO_TIMEOUT_MS / 1000);
		goto out;
	}
	r = recv_json(sv[0], buf, sizeof(buf), &hello, NULL, err);
	if (r == 1)
		rc_err_set(err, EPIPE, "the launcher exited during start-up");
	if (r != 0)
		goto out;
	if (!json_is_true(json_object_get(hello, "ok"))) {
		const char *m =
			json_string_value(json_object_get(hello, "error"));

		rc_err_set(err, EPERM, "%s", m ? m : "the launcher failed");
		goto out;
	}
	*pid_out = pid;
	*fd_out = sv[0];
	ret = 0;
out:
	json_decref(hello);
	if (ret < 0) {
		close(sv[0]);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	return ret;
}

int sup_launcher_request(int fd, const json_t *spec, int chan_fd,
			 pid_t *sup_pid, struct rc_err *err)
{
	const char *run_id = json_string_value(json_object_get(spec, "run_id"));
	char buf[RC_ERR_MSG_MAX + 256];
	json_t *rep = NULL;
	int r;

	if (send_json(fd, spec, chan_fd, err) < 0)
		return -1;
	for (;;) {
		const char *id, *msg;

		json_decref(rep);
		rep = NULL;
		r = wait_readable(fd, LAUNCHER_REPLY_TIMEOUT_MS);
		if (r <= 0)
			return rc_err_set(err, ETIMEDOUT,
					  "the launcher did "
					  "not answer within %d s",
					  LAUNCHER_REPLY_TIMEOUT_MS / 1000);
		r = recv_json(fd, buf, sizeof(buf), &rep, NULL, err);
		if (r == 1)
			return rc_err_set(err, EPIPE,
					  "the launcher process "
					  "has exited; restart runcelld");
		if (r < 0)
			return -1;
		/* Skip a late answer to an earlier request that timed out. */
		id = json_string_value(json_object_get(rep, "run_id"));
		if (id && run_id && strcmp(id, run_id) != 0)
			continue;
		msg = json_string_value(json_object_get(rep, "error"));
		if (msg || !json_is_true(json_object_get(rep, "ok"))) {
			rc_err_set(err, EIO, "%s",
				   msg ? msg : "the launcher refused the run");
			json_decref(rep);
			return -1;
		}
		*sup_pid =
			(pid_t)json_integer_value(json_object_get(rep, "pid"));
		json_decref(rep);
		return 0;
	}
}
