/*
 * supervisor.c - the per-run supervisor process of local runs.
 *
 * Forked by the launcher (launcher.c), one per run, in a session of its
 * own so that it outlives runcelld.  It starts the program (a process group
 * in process mode, a cell in isolate mode), copies its output into the log
 * file up to the cap, enforces the timeout and stop requests (SIGTERM, then
 * SIGKILL after the grace period), records everything in
 * <state_dir>/<run_id>/status.json (written atomically on each change) and
 * tells whoever listens: the service over the event channel it was given,
 * and any client of <state_dir>/<run_id>/sock.  The protocol is described
 * in supervisor.h.
 *
 * It is single-threaded and built around one epoll loop; it never blocks on
 * a client and never dies of SIGPIPE.
 */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* A client is dropped when this much output is waiting for it. */
#define SUP_CLIENT_OUT_MAX (64 * 1024)
/* Longest command line a client may send. */
#define SUP_CLIENT_IN_MAX 4096
/* Chunks of 64 KiB read from the output pipe per wake-up at most. */
#define SUP_OUTPUT_BATCH 16
/* After the main process exits, read leftover output this long at most. */
#define SUP_DRAIN_MS 200
/* After the end, wait this long for clients to read the final event. */
#define SUP_LINGER_MS 2000

enum src_kind {
	SRC_OUTPUT,
	SRC_CHILD,
	SRC_TIMER,
	SRC_LISTEN,
	SRC_SIGNAL,
	SRC_CLIENT,
};

/* What an epoll entry points at: the fixed sources use a bare kind, a
 * client embeds it first. */
struct src {
	enum src_kind kind;
};

struct client {
	struct src src;
	int fd;
	struct buf in;	/* a partial command line */
	struct buf out; /* output the peer has not taken yet */
	bool out_dead;	/* the peer takes no more output */
	bool drop;	/* remove at the next sweep */
	struct client *next;
};

enum sup_phase { PH_STARTING, PH_RUNNING, PH_EXITED };

struct sup {
	struct sup_run *r;
	struct cell_runtime *rt; /* isolate mode when not NULL */
	int ep;
	int listen_fd;
	int out_fd; /* read end of the output pipe */
	int log_fd;
	int child_fd; /* pidfd of the program */
	int timer_fd;
	int sig_fd; /* read end of the SIGTERM self-pipe */
	char *dir;
	char *status_path;
	char *sock_path;
	bool own_dir;	/* status.json is ours to write */
	bool duplicate; /* the run id has a record already */
	struct client *clients;
	struct src s_output, s_child, s_timer, s_listen, s_signal;

	pid_t pid; /* the program (its process group) */
	struct cell cell;
	bool have_cell;
	bool cell_ended; /* cell_end done, cell_release due */

	int64_t logged; /* bytes in the log file */
	bool truncated;
	int log_errno; /* a log write failed (ENOSPC): why */

	enum sup_phase phase;
	bool terminating; /* SIGTERM sent */
	bool killed;	  /* SIGKILL sent */
	bool timed_out;
	bool stopped;
	char *abort_reason; /* ended by the supervisor: why */
	int64_t started_at;
	int64_t finished_at;

	enum run_state result;
	bool has_exit_code;
	int exit_code;
	int signal;
	char *reason;
	bool has_usage;
	int64_t cpu_usec;
	int64_t peak_memory;
};

/* Write end of the SIGTERM self-pipe, for the signal handler. */
static int sup_sig_wfd = -1;

static int setup_record(struct sup *s, struct rc_err *err);

static void on_sigterm(int sig)
{
	int saved = errno;
	char c = 't';

	(void)sig;
	if (write(sup_sig_wfd, &c, 1) < 0)
		(void)0; /* the pipe is full: a stop is already pending */
	errno = saved;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void ep_add(struct sup *s, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void ep_mod(struct sup *s, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev);
}

/* ---- Clients ---- */

static struct client *client_add(struct sup *s, int fd)
{
	struct client *c = xcalloc(1, sizeof(*c));

	c->src.kind = SRC_CLIENT;
	c->fd = fd;
	buf_init(&c->in, SUP_CLIENT_IN_MAX);
	buf_init(&c->out, 0);
	set_nonblock(fd);
	c->next = s->clients;
	s->clients = c;
	ep_add(s, fd, EPOLLIN, c);
	return c;
}

/* Remove the clients marked for dropping. */
static void client_sweep(struct sup *s)
{
	struct client **pp = &s->clients;

	while (*pp) {
		struct client *c = *pp;

		if (!c->drop) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		buf_free(&c->in);
		buf_free(&c->out);
		free(c);
	}
}

/* Write what is pending; never blocks. */
static void client_flush(struct sup *s, struct client *c)
{
	while (c->out.len && !c->out_dead) {
		ssize_t w = send(c->fd, c->out.data, c->out.len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w < 0) {
			/* The peer is gone for output; keep reading what it
			 * sent (a "stop" may be waiting) until its EOF. */
			c->out_dead = true;
			break;
		}
		memmove(c->out.data, c->out.data + w, c->out.len - (size_t)w);
		c->out.len -= (size_t)w;
	}
	if (c->out_dead)
		c->out.len = 0;
	ep_mod(s, c->fd, c->out.len ? EPOLLIN | EPOLLOUT : EPOLLIN, c);
}

static void client_send(struct sup *s, struct client *c, const char *line)
{
	size_t n = strlen(line);

	if (c->out_dead || c->drop)
		return;
	if (c->out.len + n > SUP_CLIENT_OUT_MAX) {
		c->drop = true; /* too slow a reader */
		return;
	}
	buf_append(&c->out, line, n);
	client_flush(s, c);
}

static void broadcast(struct sup *s, const char *line)
{
	for (struct client *c = s->clients; c; c = c->next)
		client_send(s, c, line);
	client_sweep(s);
}

/* ---- Events and the record ---- */

static char *event_running(const struct sup *s)
{
	char *line = xasprintf("{\"event\":\"running\",\"pid\":%d,\"at\":%lld}"
			       "\n",
			       (int)s->pid, (long long)s->started_at);

	return line;
}

static char *event_exit(const struct sup *s)
{
	json_t *o = json_object();
	char *text, *line;

	json_object_set_new(o, "event", json_string("exit"));
	json_object_set_new(o, "state", json_string(run_state_name(s->result)));
	if (s->has_exit_code)
		json_object_set_new(o, "exit_code", json_integer(s->exit_code));
	if (s->reason)
		json_object_set_new(o, "reason", json_string(s->reason));
	json_object_set_new(o, "at", json_integer(s->finished_at));
	json_object_set_new(o, "started_at", json_integer(s->started_at));
	if (s->has_usage) {
		json_object_set_new(o, "cpu_usec", json_integer(s->cpu_usec));
		json_object_set_new(o, "peak_memory",
				    json_integer(s->peak_memory));
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		abort();
	line = xasprintf("%s\n", text);
	free(text);
	return line;
}

static json_t *int_or_null(bool has, int64_t v)
{
	return has ? json_integer(v) : json_null();
}

/* Write status.json for the current phase, atomically and durably
 * (write_file_atomic fsyncs the file and the folder). */
static void status_write(struct sup *s)
{
	static const char *const phase_word[] = { "starting", "running",
						  "exited" };
	bool done = s->phase == PH_EXITED;
	struct rc_err e;
	json_t *o;
	char *text;

	if (!s->own_dir)
		return;
	o = json_object();
	json_object_set_new(o, "run_id", json_string(s->r->run_id));
	json_object_set_new(o, "supervisor_pid", json_integer(getpid()));
	json_object_set_new(o, "state", json_string(phase_word[s->phase]));
	json_object_set_new(o, "pid", int_or_null(s->pid > 0, s->pid));
	json_object_set_new(o, "started_at",
			    int_or_null(s->started_at > 0, s->started_at));
	json_object_set_new(o, "finished_at",
			    int_or_null(done, s->finished_at));
	json_object_set_new(o, "exit_code",
			    int_or_null(done && s->has_exit_code,
					s->exit_code));
	json_object_set_new(o, "signal",
			    int_or_null(done && s->signal, s->signal));
	json_object_set_new(o, "reason",
			    s->reason && done ? json_string(s->reason) :
						json_null());
	json_object_set_new(o, "timed_out", json_boolean(s->timed_out));
	json_object_set_new(o, "stopped", json_boolean(s->stopped));
	json_object_set_new(o, "cpu_usec",
			    int_or_null(done && s->has_usage, s->cpu_usec));
	json_object_set_new(o, "peak_memory",
			    int_or_null(done && s->has_usage, s->peak_memory));
	json_object_set_new(o, "result",
			    done ? json_string(run_state_name(s->result)) :
				   json_null());
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		abort();
	write_file_atomic(s->status_path, text, strlen(text), &e);
	free(text);
}

/* ---- The log ---- */

/* Append output to the log up to the cap; past it, write the marker once
 * and discard the rest. */
static void log_output(struct sup *s, const char *p, size_t n)
{
	int64_t max = s->r->log_max_bytes;

	if (s->truncated || s->log_fd < 0 || s->log_errno)
		return;
	if (max > 0 && s->logged + (int64_t)n > max) {
		size_t room = s->logged < max ? (size_t)(max - s->logged) : 0;
		char *marker = xasprintf("\n[runcell: log truncated at %lld "
					 "bytes; further output discarded]\n",
					 (long long)max);

		write_all(s->log_fd, p, room);
		write_all(s->log_fd, marker, strlen(marker));
		free(marker);
		s->logged += (int64_t)room;
		s->truncated = true;
		return;
	}
	if (write_all(s->log_fd, p, n) < 0) {
		/* Say so in the run's reason at the end (the log itself
		 * cannot take it); the rest of the output is discarded. */
		s->log_errno = errno ? errno : EIO;
		return;
	}
	s->logged += (int64_t)n;
}

/* Read what the output pipe holds, a bounded amount at a time so that a
 * program writing without pause cannot starve the timer and the clients.
 * Returns 1 at end of stream, else 0. */
static int output_read(struct sup *s)
{
	char chunk[65536];

	for (int i = 0; i < SUP_OUTPUT_BATCH; i++) {
		ssize_t r = read(s->out_fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0)
			return 1;
		log_output(s, chunk, (size_t)r);
	}
	return 0;
}

static void output_close(struct sup *s)
{
	if (s->out_fd < 0)
		return;
	epoll_ctl(s->ep, EPOLL_CTL_DEL, s->out_fd, NULL);
	close(s->out_fd);
	s->out_fd = -1;
}

/* Read the rest of the output for at most SUP_DRAIN_MS: a process that
 * escaped the kill and kept the pipe must not keep the run alive. */
static void output_drain(struct sup *s)
{
	int64_t deadline = time_mono_ms() + SUP_DRAIN_MS;

	while (s->out_fd >= 0) {
		struct pollfd p = { .fd = s->out_fd, .events = POLLIN };
		int64_t left = deadline - time_mono_ms();

		if (output_read(s) == 1 || left <= 0)
			break;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			break;
	}
	output_close(s);
}

/* ---- Starting the program ---- */

/* Record the run as failed to start. */
static void fail_start(struct sup *s, bool has_code, int code, char *reason)
{
	s->result = RUN_FAILED;
	s->has_exit_code = has_code;
	s->exit_code = code;
	free(s->reason);
	s->reason = reason;
	if (s->log_fd >= 0) {
		char *line = xasprintf("[runcell: %s]\n", reason);

		log_output(s, line, strlen(line));
		free(line);
	}
}

/* Process mode: start the program (spawn.c); 0 when it runs, -1 when it
 * failed to start (recorded). */
static int spawn_process(struct sup *s, int out_w)
{
	char *reason = NULL;
	int r = sup_spawn_process(s->r, out_w, &s->pid, &s->child_fd, &reason);

	if (r == 0)
		return 0;
	fail_start(s, r == 127, 127, reason);
	return -1;
}

/* The run's environment as the cell sees it: HOME names the work folder's
 * path inside the cell, not its host path (which the cell cannot see). */
static char **cell_env(struct sup *s)
{
	char **env = strv_dup(s->r->env);

	for (char **p = env; *p; p++) {
		if (str_has_prefix(*p, "HOME=")) {
			free(*p);
			*p = xasprintf("HOME=%s",
				       cell_runtime_work_path(s->rt));
		}
	}
	return env;
}

/* Isolate mode: build the cell; returns 0 when the program runs. */
static int spawn_cell(struct sup *s, int out_w)
{
	char **env = cell_env(s);
	struct cell_spec cs = {
		.run_id = s->r->run_id,
		.argv = s->r->argv,
		.env = env,
		.res = &s->r->res,
		.iso = &s->r->iso,
		.work_dir = s->r->work_dir,
		.out_fd = out_w,
	};
	struct rc_err e;
	int r;

	rc_err_clear(&e);
	r = cell_spawn(s->rt, &cs, &s->cell, &e);
	strv_free(env);
	if (r < 0) {
		/* Only a failed exec has an exit code (127, as in process
		 * mode); cell.c words it as spawn.c does. */
		fail_start(s, str_has_prefix(e.msg, "cannot execute "), 127,
			   xstrdup(e.msg));
		return -1;
	}
	s->have_cell = true;
	s->pid = s->cell.pid;
	s->child_fd = s->cell.pidfd;
	return 0;
}

/* ---- Stopping ---- */

static void arm_timer(struct sup *s, int64_t ms)
{
	struct itimerspec it = { 0 };

	if (ms <= 0)
		ms = 1;
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_nsec = (ms % 1000) * 1000000;
	timerfd_settime(s->timer_fd, 0, &it, NULL);
}

/* Signal every process of the run. */
static void signal_run(struct sup *s, int sig)
{
	if (s->have_cell) {
		if (sig == SIGKILL)
			cell_kill(&s->cell);
		else
			cell_signal(&s->cell, sig);
	} else if (s->pid > 0) {
		kill(-s->pid, sig);
	}
}

/* SIGTERM now, SIGKILL after the grace period. */
static void begin_stop(struct sup *s)
{
	if (s->terminating || s->phase != PH_RUNNING)
		return;
	s->terminating = true;
	if (s->r->stop_grace_ms <= 0) {
		s->killed = true;
		signal_run(s, SIGKILL);
		return;
	}
	signal_run(s, SIGTERM);
	arm_timer(s, s->r->stop_grace_ms);
}

static void request_stop(struct sup *s)
{
	if (s->phase != PH_RUNNING || s->terminating)
		return;
	s->stopped = true;
	begin_stop(s);
}

static void on_timer(struct sup *s)
{
	uint64_t n;

	if (read(s->timer_fd, &n, sizeof(n)) < 0)
		return;
	if (s->phase != PH_RUNNING)
		return;
	if (!s->terminating) {
		s->timed_out = true;
		begin_stop(s);
	} else if (!s->killed) {
		s->killed = true;
		signal_run(s, SIGKILL);
	}
}

/* ---- The end ---- */

static char *timeout_reason(int64_t ms)
{
	if (ms % 1000 == 0)
		return xasprintf("timed out after %llds", (long long)ms / 1000);
	return xasprintf("timed out after %gs", (double)ms / 1000.0);
}

/* The main process has exited: collect its status, end what is left of the
 * run, read the rest of its output and settle the result. */
static void on_child_exit(struct sup *s)
{
	struct cell_usage cu = { 0 };
	struct rusage ru = { 0 };
	int status = 0;
	pid_t w;

	epoll_ctl(s->ep, EPOLL_CTL_DEL, s->child_fd, NULL);
	if (s->have_cell) {
		cell_usage(&s->cell, &cu);
		cell_end(&s->cell, &status);
		s->have_cell = false;
		s->cell_ended = true;
		s->child_fd = -1; /* closed by cell_end */
		s->cpu_usec = cu.cpu_usec;
		s->peak_memory = cu.peak_memory;
	} else {
		/* Still a zombie: the group id cannot have been reused. */
		kill(-s->pid, SIGKILL);
		do
			w = wait4(s->pid, &status, 0, &ru);
		while (w < 0 && errno == EINTR);
		close(s->child_fd);
		s->child_fd = -1;
		s->cpu_usec = (int64_t)ru.ru_utime.tv_sec * 1000000 +
			      ru.ru_utime.tv_usec +
			      (int64_t)ru.ru_stime.tv_sec * 1000000 +
			      ru.ru_stime.tv_usec;
		s->peak_memory = (int64_t)ru.ru_maxrss * 1024;
	}
	s->has_usage = true;
	output_drain(s);

	s->has_exit_code = true;
	if (WIFSIGNALED(status)) {
		const char *name = sigabbrev_np(WTERMSIG(status));

		s->signal = WTERMSIG(status);
		s->exit_code = 128 + s->signal;
		s->reason = xasprintf("killed by signal %d (SIG%s)", s->signal,
				      name ? name : "?");
	} else {
		s->exit_code = WEXITSTATUS(status);
	}
	if (s->abort_reason) {
		s->result = RUN_FAILED;
		free(s->reason);
		s->reason = s->abort_reason;
		s->abort_reason = NULL;
	} else if (s->timed_out) {
		s->result = RUN_TIMED_OUT;
		free(s->reason);
		s->reason = timeout_reason(s->r->res.timeout_ms);
	} else if (s->stopped) {
		s->result = RUN_CANCELLED;
		free(s->reason);
		s->reason = xstrdup("stopped");
	} else if (cu.oom_killed) {
		s->result = RUN_FAILED;
		free(s->reason);
		s->reason = xstrdup("memory limit exceeded");
	} else if (s->exit_code == 0) {
		s->result = RUN_SUCCEEDED;
	} else {
		s->result = RUN_FAILED;
		if (!s->reason && cu.pids_limited)
			s->reason = xstrdup("process-count limit reached");
	}
	if (s->log_errno && !s->reason)
		s->reason = xasprintf("the log is incomplete: writing it "
				      "failed after %lld bytes: %s",
				      (long long)s->logged,
				      strerror(s->log_errno));
}

/* Record the end durably, tell every client, give them a moment to read,
 * then exit. */
__attribute__((noreturn)) static void finish(struct sup *s)
{
	int quiet[] = { s->timer_fd, s->sig_fd, s->child_fd };
	int64_t deadline;
	char *line;

	/* From here on only the socket and the clients matter. */
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		if (quiet[i] >= 0)
			epoll_ctl(s->ep, EPOLL_CTL_DEL, quiet[i], NULL);
	output_close(s);
	if (!s->duplicate)
		setup_record(s, NULL);
	s->phase = PH_EXITED;
	s->finished_at = time_now_ms();
	if (!s->started_at)
		s->started_at = s->finished_at;
	if (s->log_fd >= 0)
		fsync(s->log_fd);
	status_write(s);
	line = event_exit(s);
	broadcast(s, line);
	for (struct client *c = s->clients; c; c = c->next)
		if (!c->out.len)
			shutdown(c->fd, SHUT_WR);
	/* Told: now the cell's mount namespace may go (a grace period). */
	if (s->cell_ended)
		cell_release(&s->cell);
	s->cell_ended = false;

	deadline = time_mono_ms() + SUP_LINGER_MS;
	while (s->clients) {
		struct epoll_event evs[16];
		int64_t left = deadline - time_mono_ms();
		int n;

		if (left <= 0)
			break;
		n = epoll_wait(s->ep, evs, 16, (int)left);
		for (int i = 0; i < n; i++) {
			struct src *src = evs[i].data.ptr;
			struct client *c;
			char tmp[512];
			ssize_t r;
			int fd;

			if (src->kind == SRC_LISTEN) {
				fd = accept4(s->listen_fd, NULL, NULL,
					     SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0)
					continue;
				c = client_add(s, fd);
				client_send(s, c, line);
				if (!c->out.len)
					shutdown(c->fd, SHUT_WR);
				continue;
			}
			if (src->kind != SRC_CLIENT)
				continue;
			c = (struct client *)src;
			if (evs[i].events & EPOLLOUT) {
				client_flush(s, c);
				if (!c->out.len)
					shutdown(c->fd, SHUT_WR);
			}
			r = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
			if (r == 0 ||
			    (r < 0 && errno != EAGAIN && errno != EINTR))
				c->drop = true;
		}
		client_sweep(s);
	}
	free(line);
	unlink(s->sock_path);
	_exit(0);
}

/* ---- Setting up ---- */

/* A fresh signal state: defaults everywhere, nothing blocked, SIGPIPE
 * ignored, SIGTERM asks for a stop. */
static int setup_signals(struct sup *s)
{
	struct sigaction sa;
	sigset_t none;
	int p[2];

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	sup_sig_wfd = p[1];
	s->sig_fd = p[0];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigterm;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	return 0;
}

static int setup_socket(struct sup *s, struct rc_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(s->sock_path);

	if (n >= sizeof(sa.sun_path))
		return sup_check_sock_path(s->r->state_dir, s->r->run_id, err);
	memcpy(sa.sun_path, s->sock_path, n + 1);
	s->listen_fd =
		socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return rc_err_set(err, errno, "socket: %s", strerror(errno));
	unlink(s->sock_path);
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s->listen_fd, 16) < 0)
		return rc_err_set(err, errno, "cannot listen on %s: %s",
				  s->sock_path, strerror(errno));
	ep_add(s, s->listen_fd, EPOLLIN, &s->s_listen);
	return 0;
}

/* The run's folder and socket, once (after the program started, or when it
 * failed to): the socket always exists before the first record, so a
 * record without a listener means the supervisor is gone. */
static int setup_record(struct sup *s, struct rc_err *err)
{
	if (s->own_dir)
		return 0;
	if (mkdir_p(s->r->state_dir, 0700, err) < 0)
		return -1;
	if (mkdir(s->dir, 0700) < 0 && errno != EEXIST)
		return rc_err_set(err, errno, "cannot create %s: %s", s->dir,
				  strerror(errno));
	if (setup_socket(s, err) < 0)
		return -1;
	s->own_dir = true;
	return 0;
}

/* Refuse a run id that already has a record (the same run started
 * twice), and a socket path that cannot fit. */
static int check_new(struct sup *s, struct rc_err *err)
{
	struct stat st;

	if (sup_check_sock_path(s->r->state_dir, s->r->run_id, err) < 0)
		return -1;
	if (stat(s->status_path, &st) == 0)
		return rc_err_set(err, EEXIST,
				  "run %s was already started "
				  "(%s exists)",
				  s->r->run_id, s->status_path);
	return 0;
}

static int setup_log(struct sup *s, struct rc_err *err)
{
	struct stat st;
	char *dir, *slash;

	s->log_fd = open(s->r->log_path,
			 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (s->log_fd < 0 && errno == ENOENT) {
		dir = xstrdup(s->r->log_path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			mkdir_p(dir, 0750, NULL);
		}
		free(dir);
		s->log_fd = open(s->r->log_path,
				 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
				 0640);
	}
	if (s->log_fd < 0)
		return rc_err_set(err, errno, "cannot open the log file %s: %s",
				  s->r->log_path, strerror(errno));
	if (fstat(s->log_fd, &st) == 0)
		s->logged = st.st_size;
	if (stat(s->r->work_dir, &st) < 0 &&
	    mkdir_p(s->r->work_dir, 0750, err) < 0)
		return -1;
	return 0;
}

void sup_detach_process(void)
{
	static bool done;
	int fd;

	if (done)
		return;
	done = true;
	setsid();
	prctl(PR_SET_NAME, "runcell-sup");
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

/* ---- The loop ---- */

static void on_client(struct sup *s, struct client *c, uint32_t events)
{
	char tmp[512];
	char *nl;
	ssize_t r;

	if (events & EPOLLOUT)
		client_flush(s, c);
	for (;;) {
		r = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0 || buf_append(&c->in, tmp, (size_t)r) < 0) {
			c->drop = true;
			break;
		}
	}
	while (c->in.len && (nl = memchr(c->in.data, '\n', c->in.len))) {
		size_t n = (size_t)(nl - c->in.data) + 1;

		if (n >= 5 && !memcmp(c->in.data, "stop", 4) &&
		    (c->in.data[4] == '\n' || c->in.data[4] == '\r'))
			request_stop(s);
		memmove(c->in.data, c->in.data + n, c->in.len - n);
		c->in.len -= n;
	}
	client_sweep(s);
}

static void on_listen(struct sup *s)
{
	char *line;
	int fd;

	for (;;) {
		fd = accept4(s->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		line = event_running(s);
		client_send(s, client_add(s, fd), line);
		free(line);
	}
	client_sweep(s);
}

static void on_signal(struct sup *s)
{
	char tmp[16];

	while (read(s->sig_fd, tmp, sizeof(tmp)) > 0)
		;
	request_stop(s);
}

static void run_loop(struct sup *s)
{
	while (s->phase == PH_RUNNING) {
		struct epoll_event evs[16];
		int n = epoll_wait(s->ep, evs, 16, -1);

		for (int i = 0; i < n && s->phase == PH_RUNNING; i++) {
			struct src *src = evs[i].data.ptr;

			switch (src->kind) {
			case SRC_OUTPUT:
				if (output_read(s) == 1)
					output_close(s);
				break;
			case SRC_CHILD:
				on_child_exit(s);
				return;
			case SRC_TIMER:
				on_timer(s);
				break;
			case SRC_LISTEN:
				on_listen(s);
				break;
			case SRC_SIGNAL:
				on_signal(s);
				break;
			case SRC_CLIENT:
				on_client(s, (struct client *)src,
					  evs[i].events);
				break;
			}
		}
	}
}

void sup_supervise(struct sup_run *r, int event_fd, struct cell_runtime *rt)
{
	struct sup sup, *s = &sup;
	struct rc_err e;
	char *line;
	int out[2];

	memset(s, 0, sizeof(*s));
	s->r = r;
	s->rt = rt;
	s->listen_fd = s->out_fd = s->log_fd = s->child_fd = -1;
	s->timer_fd = s->sig_fd = -1;
	s->s_output.kind = SRC_OUTPUT;
	s->s_child.kind = SRC_CHILD;
	s->s_timer.kind = SRC_TIMER;
	s->s_listen.kind = SRC_LISTEN;
	s->s_signal.kind = SRC_SIGNAL;
	s->dir = xasprintf("%s/%s", r->state_dir, r->run_id);
	s->status_path = sup_run_path(r->state_dir, r->run_id, "status.json");
	s->sock_path = sup_run_path(r->state_dir, r->run_id, "sock");
	rc_err_clear(&e);

	sup_detach_process();
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep < 0)
		_exit(1);
	client_add(s, event_fd);
	if (setup_signals(s) < 0) {
		fail_start(s, false, 0,
			   xasprintf("supervisor set-up: %s", strerror(errno)));
		finish(s);
	}
	ep_add(s, s->sig_fd, EPOLLIN, &s->s_signal);
	if (check_new(s, &e) < 0) {
		s->duplicate = true;
		fail_start(s, false, 0, xstrdup(e.msg));
		finish(s);
	}
	if (setup_log(s, &e) < 0) {
		fail_start(s, false, 0, xstrdup(e.msg));
		finish(s);
	}
	s->timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->timer_fd < 0 || pipe2(out, O_CLOEXEC) < 0) {
		fail_start(s, false, 0,
			   xasprintf("supervisor set-up: %s", strerror(errno)));
		finish(s);
	}
	ep_add(s, s->timer_fd, EPOLLIN, &s->s_timer);

	if ((rt ? spawn_cell(s, out[1]) : spawn_process(s, out[1])) < 0) {
		close(out[0]);
		close(out[1]);
		finish(s);
	}
	close(out[1]);
	s->out_fd = out[0];
	set_nonblock(s->out_fd);
	ep_add(s, s->out_fd, EPOLLIN, &s->s_output);
	ep_add(s, s->child_fd, EPOLLIN, &s->s_child);
	s->started_at = time_now_ms();
	s->phase = PH_RUNNING;
	if (r->res.timeout_ms > 0)
		arm_timer(s, r->res.timeout_ms);

	/* Tell first, then make the folder, the socket and the record: only
	 * the log file and the program are on the path that start latency is
	 * measured on (each file-system change can wait for the journal). */
	line = event_running(s);
	broadcast(s, line);
	free(line);
	if (setup_record(s, &e) < 0) {
		/* Neither attachable nor recorded: do not let it run blind. */
		s->abort_reason = xstrdup(e.msg);
		begin_stop(s);
	}
	status_write(s);

	run_loop(s);
	finish(s);
}
