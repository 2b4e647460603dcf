/*
 * monitor.c - the service's side of local runs: the executor operations of
 * the "process" and "sandbox" backends, and the monitor thread that follows
 * every run's supervisor.
 *
 * start hands the run to the launcher with one end of a fresh socketpair
 * (the event channel) and watches the other end; attach connects to the
 * supervisor's socket instead, or, when the supervisor is gone, reads the
 * record it left.  One thread per backend reads every channel with epoll
 * and calls ex->on_event, never holding a lock while it does.  Events that
 * attach finds in a record are queued and delivered by that thread too.
 */
#include "supervisor.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* A line longer than this on an event channel is a protocol error. */
#define MON_LINE_MAX (64 * 1024)
/* Largest status.json read. */
#define MON_STATUS_MAX (64 * 1024)
/* How long attach waits for a supervisor that is still setting up. */
#define MON_ATTACH_WAIT_MS 1000
/* How many times a broken channel is replaced by a fresh connection. */
#define MON_RECONNECTS 3

/* One run being followed. */
struct watch {
	char *run_id;
	int fd;
	pid_t sup_pid; /* 0 if unknown */
	struct buf in;
	bool done; /* the terminal event was delivered */
	int reconnects;
	struct watch *next;
};

/* An event found by attach, waiting for the monitor thread. */
struct pending {
	char *run_id;
	char *reason;
	struct exec_event ev;
	struct pending *next;
};

struct sup_backend {
	struct executor *ex;
	char *state_dir;
	pid_t launcher_pid;
	int launcher_fd;
	pthread_mutex_t launcher_lock; /* one request at a time */
	pthread_mutex_t lock;	       /* watches, pending, stopping */
	struct watch *watches;
	struct pending *pending;
	struct pending **pending_tail;
	bool stopping;
	int ep;
	int wake_fd;
	pthread_t thread;
};

/* ---- Small helpers ---- */

/* The terminal state named s, or -1. */
static int parse_state(const char *s)
{
	int st = run_state_parse(s);

	return st >= 0 && run_state_terminal((enum run_state)st) ? st : -1;
}

/* The supervisor pid in a "local:<pid>" handle: 0 if handle is NULL, -1 if
 * it is not one of ours. */
static pid_t handle_pid(const char *handle)
{
	int64_t v;

	if (!handle)
		return 0;
	if (!str_has_prefix(handle, SUP_HANDLE_PREFIX) ||
	    parse_int64(handle + strlen(SUP_HANDLE_PREFIX), 1, INT32_MAX, &v) <
		    0)
		return -1;
	return (pid_t)v;
}

/* Connect to the run's socket.  Returns the fd, or -1 with errno set. */
static int connect_sock(struct sup_backend *b, const char *run_id)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *path = sup_run_path(b->state_dir, run_id, "sock");
	size_t n = strlen(path);
	int fd = -1, saved;

	if (n >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		goto out;
	}
	memcpy(sa.sun_path, path, n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto out;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		saved = errno;
		close(fd);
		fd = -1;
		errno = saved;
	}
out:
	saved = errno;
	free(path);
	errno = saved;
	return fd;
}

/* Read the run's status.json: 0 and *out (a new reference), 1 if there is
 * none, -1 if it cannot be read or parsed. */
static int read_status(struct sup_backend *b, const char *run_id, json_t **out,
		       struct rc_err *err)
{
	char *path = sup_run_path(b->state_dir, run_id, "status.json");
	char *text = NULL;
	json_error_t je;
	size_t len;
	int ret = -1;

	if (read_file(path, MON_STATUS_MAX, &text, &len, err) < 0) {
		ret = err && err->errnum == ENOENT ? 1 : -1;
		goto out;
	}
	*out = json_loadb(text, len, 0, &je);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		rc_err_set(err, EINVAL, "%s is damaged: %s", path, je.text);
		goto out;
	}
	ret = 0;
out:
	free(text);
	free(path);
	return ret;
}

/* Fill *ev (strings borrowed from o) from an "exit" event. */
static void event_from_exit(const json_t *o, struct exec_event *ev)
{
	const json_t *code = json_object_get(o, "exit_code");
	const json_t *cpu = json_object_get(o, "cpu_usec");
	int st = parse_state(json_string_value(json_object_get(o, "state")));

	ev->state = st < 0 ? RUN_FAILED : (enum run_state)st;
	ev->at = json_integer_value(json_object_get(o, "at"));
	ev->has_exit_code = json_is_integer(code);
	ev->exit_code = (int)json_integer_value(code);
	ev->reason = json_string_value(json_object_get(o, "reason"));
	ev->has_usage = json_is_integer(cpu);
	ev->cpu_usec = json_integer_value(cpu);
	ev->peak_memory = json_integer_value(json_object_get(o, "peak_memory"));
	if (st < 0 && !ev->reason)
		ev->reason = "the supervisor reported an unknown state";
}

/* Fill *ev from a status.json object, if it records the end of the run.
 * Returns true when it does. */
static bool event_from_status(const json_t *o, struct exec_event *ev)
{
	const json_t *code = json_object_get(o, "exit_code");
	const json_t *cpu = json_object_get(o, "cpu_usec");
	const char *phase = json_string_value(json_object_get(o, "state"));
	int st;

	if (!phase || strcmp(phase, "exited") != 0)
		return false;
	st = parse_state(json_string_value(json_object_get(o, "result")));
	if (st < 0) {
		if (json_is_true(json_object_get(o, "timed_out")))
			st = RUN_TIMED_OUT;
		else if (json_is_true(json_object_get(o, "stopped")))
			st = RUN_CANCELLED;
		else if (json_is_integer(code) && !json_integer_value(code))
			st = RUN_SUCCEEDED;
		else
			st = RUN_FAILED;
	}
	ev->state = (enum run_state)st;
	ev->at = json_integer_value(json_object_get(o, "finished_at"));
	ev->has_exit_code = json_is_integer(code);
	ev->exit_code = (int)json_integer_value(code);
	ev->reason = json_string_value(json_object_get(o, "reason"));
	ev->has_usage = json_is_integer(cpu);
	ev->cpu_usec = json_integer_value(cpu);
	ev->peak_memory = json_integer_value(json_object_get(o, "peak_memory"));
	return true;
}

/* ---- Watches and queued events ---- */

static void wake(struct sup_backend *b)
{
	uint64_t one = 1;

	if (write(b->wake_fd, &one, sizeof(one)) < 0)
		(void)0; /* the counter is already non-zero */
}

static void add_watch(struct sup_backend *b, const char *run_id, int fd,
		      pid_t sup_pid)
{
	struct watch *w = xcalloc(1, sizeof(*w));
	struct epoll_event ev = { .events = EPOLLIN };
	int fl = fcntl(fd, F_GETFL);

	w->run_id = xstrdup(run_id);
	w->fd = fd;
	w->sup_pid = sup_pid;
	buf_init(&w->in, MON_LINE_MAX);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	ev.data.ptr = w;
	pthread_mutex_lock(&b->lock);
	w->next = b->watches;
	b->watches = w;
	epoll_ctl(b->ep, EPOLL_CTL_ADD, fd, &ev);
	pthread_mutex_unlock(&b->lock);
}

static void free_watch(struct watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	buf_free(&w->in);
	free(w->run_id);
	free(w);
}

/* Take w out of the list (monitor thread only). */
static void unlink_watch(struct sup_backend *b, struct watch *w)
{
	pthread_mutex_lock(&b->lock);
	for (struct watch **pp = &b->watches; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	epoll_ctl(b->ep, EPOLL_CTL_DEL, w->fd, NULL);
	pthread_mutex_unlock(&b->lock);
}

/* Queue an event for delivery by the monitor thread. */
static void queue_event(struct sup_backend *b, const char *run_id,
			const struct exec_event *ev)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->run_id = xstrdup(run_id);
	p->reason = xstrdup(ev->reason);
	p->ev = *ev;
	p->ev.run_id = p->run_id;
	p->ev.reason = p->reason;
	pthread_mutex_lock(&b->lock);
	*b->pending_tail = p;
	b->pending_tail = &p->next;
	pthread_mutex_unlock(&b->lock);
	wake(b);
}

static void queue_lost(struct sup_backend *b, const char *run_id, char *reason)
{
	struct exec_event ev = {
		.state = RUN_LOST,
		.at = time_now_ms(),
		.reason = reason,
	};

	queue_event(b, run_id, &ev);
	free(reason);
}

static void deliver_pending(struct sup_backend *b)
{
	struct pending *list, *next;

	pthread_mutex_lock(&b->lock);
	list = b->pending;
	b->pending = NULL;
	b->pending_tail = &b->pending;
	pthread_mutex_unlock(&b->lock);
	for (; list; list = next) {
		next = list->next;
		b->ex->on_event(b->ex->event_ctx, &list->ev);
		free(list->run_id);
		free(list->reason);
		free(list);
	}
}

/* ---- The monitor thread ---- */

static void handle_line(struct sup_backend *b, struct watch *w, char *line)
{
	struct exec_event ev = { .run_id = w->run_id };
	const char *kind;
	json_t *o = json_loads(line, 0, NULL);

	kind = json_string_value(json_object_get(o, "event"));
	if (kind && !strcmp(kind, "running")) {
		ev.state = RUN_RUNNING;
		ev.at = json_integer_value(json_object_get(o, "at"));
		b->ex->on_event(b->ex->event_ctx, &ev);
	} else if (kind && !strcmp(kind, "exit")) {
		event_from_exit(o, &ev);
		b->ex->on_event(b->ex->event_ctx, &ev);
		w->done = true;
	}
	json_decref(o);
}

/* The channel ended before the terminal event: follow the run on a new
 * connection if its supervisor still serves one, else report what its
 * record says.  Returns true when w is still being followed. */
static bool channel_lost(struct sup_backend *b, struct watch *w)
{
	struct exec_event ev = { .run_id = w->run_id };
	struct epoll_event eev = { .events = EPOLLIN, .data.ptr = w };
	struct rc_err e;
	json_t *st = NULL;
	char *reason;
	int fd, fl;

	rc_err_clear(&e);
	if (read_status(b, w->run_id, &st, &e) == 0 &&
	    event_from_status(st, &ev)) {
		b->ex->on_event(b->ex->event_ctx, &ev);
		json_decref(st);
		return false;
	}
	if (st && !w->sup_pid)
		w->sup_pid = (pid_t)json_integer_value(
			json_object_get(st, "supervisor_pid"));
	json_decref(st);
	if (w->reconnects < MON_RECONNECTS &&
	    (fd = connect_sock(b, w->run_id)) >= 0) {
		w->reconnects++;
		fl = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		close(w->fd);
		w->fd = fd;
		w->in.len = 0;
		pthread_mutex_lock(&b->lock);
		epoll_ctl(b->ep, EPOLL_CTL_ADD, fd, &eev);
		w->next = b->watches;
		b->watches = w;
		pthread_mutex_unlock(&b->lock);
		return true;
	}
	reason = xasprintf("supervisor died (pid %d) before the run finished",
			   (int)w->sup_pid);
	ev.state = RUN_LOST;
	ev.at = time_now_ms();
	ev.reason = reason;
	b->ex->on_event(b->ex->event_ctx, &ev);
	free(reason);
	return false;
}

/* Read what the channel holds and act on every complete line. */
static void watch_read(struct sup_backend *b, struct watch *w)
{
	char tmp[4096], *nl;
	bool eof = false;
	ssize_t r;

	for (;;) {
		r = read(w->fd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0 || buf_append(&w->in, tmp, (size_t)r) < 0) {
			eof = true;
			break;
		}
	}
	while (!w->done && w->in.len &&
	       (nl = memchr(w->in.data, '\n', w->in.len))) {
		size_t n = (size_t)(nl - w->in.data) + 1;

		*nl = '\0';
		handle_line(b, w, w->in.data);
		memmove(w->in.data, w->in.data + n, w->in.len - n);
		w->in.len -= n;
	}
	if (!w->done && !eof)
		return;
	unlink_watch(b, w);
	if (!w->done && channel_lost(b, w))
		return;
	free_watch(w);
}

static void *monitor_main(void *arg)
{
	struct sup_backend *b = arg;
	bool stop = false;

	while (!stop) {
		struct epoll_event evs[32];
		int n = epoll_wait(b->ep, evs, 32, -1);

		for (int i = 0; i < n; i++) {
			uint64_t v;

			if (evs[i].data.ptr) {
				watch_read(b, evs[i].data.ptr);
			} else if (read(b->wake_fd, &v, sizeof(v)) < 0) {
				continue;
			}
		}
		deliver_pending(b);
		pthread_mutex_lock(&b->lock);
		stop = b->stopping;
		pthread_mutex_unlock(&b->lock);
	}
	return NULL;
}

/* ---- Executor operations ---- */

static int sup_start(struct executor *ex, const struct exec_spec *spec,
		     char **handle, struct rc_err *err)
{
	struct sup_backend *b = ex->priv;
	json_t *j;
	int ch[2], r;
	pid_t pid = 0;

	assert(spec && spec->run_id && handle);
	if (sup_check_sock_path(b->state_dir, spec->run_id, err) < 0)
		return -1;
	if (!spec->argv || !spec->argv[0])
		return rc_err_set(err, EINVAL, "run %s has no command",
				  spec->run_id);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch) < 0)
		return rc_err_set(err, errno, "socketpair: %s",
				  strerror(errno));
	j = sup_spec_to_json(spec, b->state_dir);
	pthread_mutex_lock(&b->launcher_lock);
	r = sup_launcher_request(b->launcher_fd, j, ch[1], &pid, err);
	pthread_mutex_unlock(&b->launcher_lock);
	json_decref(j);
	close(ch[1]);
	if (r < 0) {
		close(ch[0]);
		return rc_err_wrap(err, "starting run %s", spec->run_id);
	}
	*handle = xasprintf(SUP_HANDLE_PREFIX "%d", (int)pid);
	add_watch(b, spec->run_id, ch[0], pid);
	return 0;
}

/* Whether a supervisor may still be setting the run up: its pid (from the
 * handle) is alive, or, without a handle, the run's folder exists. */
static bool maybe_starting(struct sup_backend *b, const char *run_id, pid_t pid)
{
	struct stat st;
	char *dir;
	bool r;

	if (pid > 0)
		return kill(pid, 0) == 0;
	dir = xasprintf("%s/%s", b->state_dir, run_id);
	r = stat(dir, &st) == 0;
	free(dir);
	return r;
}

static bool watching(struct sup_backend *b, const char *run_id)
{
	bool found = false;

	pthread_mutex_lock(&b->lock);
	for (struct watch *w = b->watches; w && !found; w = w->next)
		found = !w->done && !strcmp(w->run_id, run_id);
	pthread_mutex_unlock(&b->lock);
	return found;
}

static int sup_attach(struct executor *ex, const char *run_id,
		      const char *handle, const char *log_path,
		      struct rc_err *err)
{
	struct sup_backend *b = ex->priv;
	int64_t deadline = time_mono_ms() + MON_ATTACH_WAIT_MS;
	struct exec_event ev = { 0 };
	pid_t pid = handle_pid(handle);
	json_t *st = NULL;
	int fd, r;

	(void)log_path;
	if (pid < 0)
		return rc_err_set(err, EINVAL,
				  "run %s: handle \"%s\" was not "
				  "made by the %s executor",
				  run_id, handle, ex->ops->name);
	if (sup_check_sock_path(b->state_dir, run_id, err) < 0)
		return -1;
	if (watching(b, run_id))
		return 0;
	/* The supervisor listens before it writes its first record: a
	 * record without a listener means it is gone; neither may mean it
	 * is still setting up, for a moment. */
	for (;;) {
		fd = connect_sock(b, run_id);
		if (fd >= 0) {
			add_watch(b, run_id, fd, pid);
			return 0;
		}
		if (errno != ENOENT && errno != ECONNREFUSED)
			return rc_err_set(err, errno,
					  "run %s: cannot reach "
					  "its supervisor: %s",
					  run_id, strerror(errno));
		r = read_status(b, run_id, &st, err);
		if (r < 0)
			return rc_err_wrap(err, "run %s", run_id);
		if (r == 0)
			break;
		if (!maybe_starting(b, run_id, pid) ||
		    time_mono_ms() > deadline) {
			if (!handle)
				return 1; /* never started */
			queue_lost(b, run_id,
				   xasprintf("supervisor died (pid %d) before "
					     "recording the run",
					     (int)pid));
			return 0;
		}
		usleep(10000);
	}
	if (event_from_status(st, &ev)) {
		queue_event(b, run_id, &ev);
	} else {
		json_int_t sp = json_integer_value(
			json_object_get(st, "supervisor_pid"));

		queue_lost(b, run_id,
			   xasprintf("supervisor died (pid %d) "
				     "before the run finished",
				     (int)(sp ? sp : pid)));
	}
	json_decref(st);
	return 0;
}

static int sup_stop(struct executor *ex, const char *run_id, const char *handle,
		    struct rc_err *err)
{
	struct sup_backend *b = ex->priv;
	struct exec_event ev = { 0 };
	bool sent = false;
	json_t *st = NULL;
	struct rc_err e;
	int fd;

	/* The channel we hold, if any: works even before the socket
	 * exists. */
	pthread_mutex_lock(&b->lock);
	for (struct watch *w = b->watches; w; w = w->next) {
		if (!w->done && !strcmp(w->run_id, run_id)) {
			sent = send(w->fd, "stop\n", 5,
				    MSG_NOSIGNAL | MSG_DONTWAIT) == 5;
			break;
		}
	}
	pthread_mutex_unlock(&b->lock);
	if (sent)
		return 0;
	fd = connect_sock(b, run_id);
	if (fd >= 0) {
		sent = send(fd, "stop\n", 5, MSG_NOSIGNAL) == 5;
		close(fd);
		if (sent)
			return 0;
	}
	rc_err_clear(&e);
	if (read_status(b, run_id, &st, &e) == 0 &&
	    event_from_status(st, &ev)) {
		json_decref(st);
		return rc_err_set(err, ESRCH, "run %s has already finished",
				  run_id);
	}
	json_decref(st);
	return rc_err_set(err, ESRCH,
			  "run %s cannot be stopped: its "
			  "supervisor (%s) is gone",
			  run_id, handle ? handle : "no handle");
}

static void sup_close(struct executor *ex)
{
	struct sup_backend *b = ex->priv;
	struct watch *w, *wn;
	struct pending *p, *pn;

	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	pthread_mutex_unlock(&b->lock);
	wake(b);
	pthread_join(b->thread, NULL);

	for (w = b->watches; w; w = wn) {
		wn = w->next;
		free_watch(w);
	}
	for (p = b->pending; p; p = pn) {
		pn = p->next;
		free(p->run_id);
		free(p->reason);
		free(p);
	}
	/* The launcher goes; the supervisors (and their runs) stay. */
	close(b->launcher_fd);
	kill(b->launcher_pid, SIGKILL);
	while (waitpid(b->launcher_pid, NULL, 0) < 0 && errno == EINTR)
		;
	close(b->ep);
	close(b->wake_fd);
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->launcher_lock);
	free(b->state_dir);
	free(b);
	ex->priv = NULL;
}

static const struct executor_ops process_ops = {
	.name = "process",
	.start = sup_start,
	.attach = sup_attach,
	.stop = sup_stop,
	.close = sup_close,
};

static const struct executor_ops sandbox_ops = {
	.name = "sandbox",
	.start = sup_start,
	.attach = sup_attach,
	.stop = sup_stop,
	.close = sup_close,
};

int sup_backend_open(struct executor *ex, const struct sup_options *opt,
		     struct rc_err *err)
{
	char longest_id[RUN_ID_LEN + 1];
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct sup_backend *b;
	int r;

	assert(ex && opt && ex->cfg && ex->on_event);
	if (!ex->cfg->server.data_dir)
		return rc_err_set(err, EINVAL, "server.data_dir is not set");
	b = xcalloc(1, sizeof(*b));
	b->ex = ex;
	b->launcher_fd = b->ep = b->wake_fd = -1;
	b->pending_tail = &b->pending;
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->launcher_lock, NULL);
	b->state_dir = xasprintf("%s/cells", ex->cfg->server.data_dir);
	memset(longest_id, 'r', RUN_ID_LEN);
	longest_id[RUN_ID_LEN] = '\0';
	if (sup_check_sock_path(b->state_dir, longest_id, err) < 0 ||
	    mkdir_p(b->state_dir, 0700, err) < 0)
		goto fail;
	if (sup_launcher_start(b->state_dir, opt->isolate, &opt->cell,
			       &b->launcher_pid, &b->launcher_fd, err) < 0) {
		rc_err_wrap(err, "starting the %s launcher",
			    opt->isolate ? "sandbox" : "process");
		goto fail;
	}
	b->ep = epoll_create1(EPOLL_CLOEXEC);
	b->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->ep < 0 || b->wake_fd < 0 ||
	    epoll_ctl(b->ep, EPOLL_CTL_ADD, b->wake_fd, &ev) < 0) {
		rc_err_set(err, errno, "epoll: %s", strerror(errno));
		goto fail;
	}
	r = pthread_create(&b->thread, NULL, monitor_main, b);
	if (r != 0) {
		rc_err_set(err, r, "cannot start the monitor thread: %s",
			   strerror(r));
		goto fail;
	}
	ex->priv = b;
	ex->ops = opt->isolate ? &sandbox_ops : &process_ops;
	return 0;
fail:
	if (b->launcher_fd >= 0) {
		close(b->launcher_fd);
		kill(b->launcher_pid, SIGKILL);
		while (waitpid(b->launcher_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (b->ep >= 0)
		close(b->ep);
	if (b->wake_fd >= 0)
		close(b->wake_fd);
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->launcher_lock);
	free(b->state_dir);
	free(b);
	return -1;
}
