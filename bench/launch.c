/*
 * launch.c - the timing loops of the launch benchmark (bench/run.sh builds
 * it with cc -O2; bench/bench.py drives it and prints the table).
 *
 * Every subcommand prints raw samples, one line each, and leaves the
 * statistics to bench.py.  All times are CLOCK_REALTIME in nanoseconds,
 * the clock bench/stamp writes as its first action.
 *
 *   launch spawn N ARGV...
 *       posix_spawn ARGV N times, one after the other; stdout on a pipe.
 *       "{i}" in an argument is replaced by the iteration number.
 *       prints: spawn T0 STAMP TEXIT STATUS
 *   launch seq HOST PORT TOKEN AUTOMATION N WARMUP
 *       N+WARMUP runs, one at a time, on one keep-alive connection; the end
 *       of each run is seen on the all-runs event stream (SSE).
 *       prints: run ID T0 T202 TRUNNING STAMP TFINAL FINISHED_AT_MS STATE LOG
 *       (TRUNNING: "running" seen on the stream, 0 if the run went from
 *       starting to its end without it; LOG: "-", or the log's first line
 *       when it holds no stamp)
 *   launch rate HOST PORT TOKEN AUTOMATION CLIENTS SECONDS WINDOW
 *       CLIENTS threads submit runs for SECONDS on keep-alive connections,
 *       at most WINDOW unfinished at a time; then waits for all of them.
 *       prints: rate KEY VALUE lines
 *   launch hold HOST PORT TOKEN AUTOMATION N NGET
 *       starts N runs (of a sleeping program), waits until all are running,
 *       prints "ready ..." and waits for a line on stdin (bench.py reads
 *       memory meanwhile), then NGET x GET /api/v1/runs/{id} (prints: get
 *       NS), then prints "measured" and waits for a line again, then stops
 *       every run and waits for all to end.
 *   launch fsync N FILE
 *       N x (pwrite 4 kB + fdatasync) to FILE, the cost of one durable
 *       commit on that filesystem (the SQLite store commits each state
 *       change with synchronous=FULL).  prints: fsync NS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define IDLEN 64
#define TIMEOUT_MS 30000

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "launch: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void sleep_us(long us)
{
	struct timespec d = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&d, NULL);
}

/* ---- a minimal HTTP/1.1 keep-alive client ---- */

struct conn {
	const char *host;
	int port;
	const char *token;
	int fd;
	char *buf; /* received, not yet consumed */
	size_t len, cap;
};

struct resp {
	int status;
	char *body; /* NUL-terminated */
	size_t body_len;
};

static int tcp_connect(const char *host, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	int fd, one = 1;

	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		die("bad host %s", host);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect %s:%d: %s", host, port, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void conn_open(struct conn *c, const char *host, int port,
		      const char *token)
{
	memset(c, 0, sizeof(*c));
	c->host = host;
	c->port = port;
	c->token = token;
	c->cap = 1 << 16;
	c->buf = malloc(c->cap);
	c->fd = tcp_connect(host, port);
}

static void conn_reopen(struct conn *c)
{
	close(c->fd);
	c->len = 0;
	c->fd = tcp_connect(c->host, c->port);
}

/* Read more bytes into c->buf; -1 on EOF/error/timeout. */
static int conn_fill(struct conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	ssize_t n;

	if (c->len + 4096 > c->cap) {
		c->cap *= 2;
		c->buf = realloc(c->buf, c->cap);
	}
	if (poll(&p, 1, TIMEOUT_MS) <= 0)
		return -1;
	n = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	return 0;
}

static void conn_consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int header_value(const char *hdrs, const char *name, char *out,
			size_t outsz)
{
	size_t nl = strlen(name);

	for (const char *p = hdrs; p && *p; p = strstr(p, "\r\n")) {
		if (*p == '\r')
			p += 2;
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1;
			size_t k = 0;

			while (*v == ' ')
				v++;
			while (v[k] && v[k] != '\r' && k + 1 < outsz) {
				out[k] = v[k];
				k++;
			}
			out[k] = '\0';
			return 0;
		}
	}
	return -1;
}

/* One request/response; reconnects once if the server closed the idle
 * connection.  *t_sent is set just before the request's bytes are written.
 * Returns 0 or -1. */
static int http_do(struct conn *c, const char *method, const char *path,
		   const char *body, struct resp *r, int64_t *t_sent)
{
	char req[2048], val[64];
	size_t blen = body ? strlen(body) : 0, hend, need;
	int n, tries = 0;
	char *h;
	bool chunked, closing;

again:
	n = snprintf(req, sizeof(req),
		     "%s %s HTTP/1.1\r\nHost: %s:%d\r\n"
		     "Authorization: Bearer %s\r\n%s"
		     "Content-Length: %zu\r\n\r\n",
		     method, path, c->host, c->port, c->token,
		     body ? "Content-Type: application/json\r\n" : "", blen);
	c->len = 0;
	if (t_sent)
		*t_sent = now_ns();
	if (write_all(c->fd, req, (size_t)n) < 0 ||
	    (blen && write_all(c->fd, body, blen) < 0))
		goto retry;
	for (;;) {
		h = c->len ? strstr(c->buf, "\r\n\r\n") : NULL;
		if (h)
			break;
		if (conn_fill(c) < 0)
			goto retry;
	}
	hend = (size_t)(h - c->buf) + 4;
	c->buf[hend - 2] = '\0';
	if (sscanf(c->buf, "HTTP/1.%*d %d", &r->status) != 1)
		return -1;
	chunked = header_value(c->buf, "Transfer-Encoding", val, sizeof(val)) ==
			  0 &&
		  strcasestr(val, "chunked");
	closing = header_value(c->buf, "Connection", val, sizeof(val)) == 0 &&
		  strcasestr(val, "close");
	if (!chunked) {
		need = 0;
		if (header_value(c->buf, "Content-Length", val, sizeof(val)) ==
		    0)
			need = strtoul(val, NULL, 10);
		while (c->len < hend + need)
			if (conn_fill(c) < 0)
				return -1;
		r->body = malloc(need + 1);
		memcpy(r->body, c->buf + hend, need);
		r->body[need] = '\0';
		r->body_len = need;
		conn_consume(c, hend + need);
	} else {
		size_t pos = hend, out = 0;

		r->body = malloc(1);
		for (;;) {
			char *eol;
			size_t sz;

			while (!(eol = memmem(c->buf + pos, c->len - pos,
					      "\r\n", 2)))
				if (conn_fill(c) < 0)
					return -1;
			sz = strtoul(c->buf + pos, NULL, 16);
			pos = (size_t)(eol - c->buf) + 2;
			while (c->len < pos + sz + 2)
				if (conn_fill(c) < 0)
					return -1;
			r->body = realloc(r->body, out + sz + 1);
			memcpy(r->body + out, c->buf + pos, sz);
			out += sz;
			pos += sz + 2;
			if (sz == 0)
				break;
		}
		r->body[out] = '\0';
		r->body_len = out;
		conn_consume(c, pos);
	}
	if (closing)
		conn_reopen(c);
	return 0;
retry:
	if (tries++ > 0)
		return -1;
	conn_reopen(c);
	goto again;
}

/* The string value of "key":"..." (first occurrence) into out. */
static int json_str(const char *j, const char *key, char *out, size_t outsz)
{
	char pat[64];
	const char *p;
	size_t k = 0;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(j, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	while (*p && *p != '"' && k + 1 < outsz)
		out[k++] = *p++;
	out[k] = '\0';
	return 0;
}

/* "2026-11-27T03:07:13.929Z" -> ms since the epoch; 0 if absent. */
static int64_t rfc3339_ms(const char *s)
{
	struct tm tm;
	int ms = 0;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

static bool terminal(const char *state)
{
	return !strcmp(state, "succeeded") || !strcmp(state, "failed") ||
	       !strcmp(state, "timed_out") || !strcmp(state, "cancelled") ||
	       !strcmp(state, "lost");
}

/* ---- what the all-runs event stream has said about each run ---- */

#define TABLE_SIZE (1 << 17)

struct slot {
	char id[IDLEN];
	int64_t t_running;   /* when "running" was seen */
	int64_t t_final;     /* when a terminal state was seen */
	int64_t finished_ms; /* the run's finished_at */
	char state[32];
	bool ours; /* submitted by this process */
};

static struct slot *table;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static atomic_long n_final_ours, n_ok_ours, n_running_ours, n_submitted;
static atomic_bool sse_resync, sse_dead;

static unsigned hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* The slot of id (created if missing); call with mu held. */
static struct slot *slot_get(const char *id)
{
	unsigned i = hash(id) & (TABLE_SIZE - 1);

	while (table[i].id[0] && strcmp(table[i].id, id))
		i = (i + 1) & (TABLE_SIZE - 1);
	if (!table[i].id[0])
		snprintf(table[i].id, IDLEN, "%s", id);
	return &table[i];
}

static void count_final(struct slot *s)
{
	n_final_ours++;
	if (!strcmp(s->state, "succeeded"))
		n_ok_ours++;
}

static void mark_ours(const char *id)
{
	struct slot *s;

	pthread_mutex_lock(&mu);
	s = slot_get(id);
	s->ours = true;
	if (s->t_running)
		n_running_ours++;
	if (s->t_final)
		count_final(s);
	pthread_mutex_unlock(&mu);
	n_submitted++;
}

static void on_event_json(const char *j, int64_t t)
{
	char id[IDLEN], state[32], fin[40];
	struct slot *s;

	if (json_str(j, "id", id, sizeof(id)) < 0 ||
	    json_str(j, "state", state, sizeof(state)) < 0)
		return;
	pthread_mutex_lock(&mu);
	s = slot_get(id);
	if (!strcmp(state, "running") && !s->t_running) {
		s->t_running = t;
		if (s->ours)
			n_running_ours++;
	}
	if (terminal(state) && !s->t_final) {
		s->t_final = t;
		snprintf(s->state, sizeof(s->state), "%s", state);
		if (json_str(j, "finished_at", fin, sizeof(fin)) == 0)
			s->finished_ms = rfc3339_ms(fin);
		if (s->ours)
			count_final(s);
	}
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

struct sse_arg {
	const char *host, *token;
	int port;
	int ready_fd;
};

/* Reads GET /api/v1/runs/events (HTTP/1.0: no chunked coding, the
 * stream ends when the connection does). */
static void *sse_thread(void *p)
{
	struct sse_arg *a = p;
	char req[512], *buf;
	size_t len = 0, cap = 1 << 20;
	bool body = false, told = false;
	int fd = tcp_connect(a->host, a->port);
	int n;

	n = snprintf(req, sizeof(req),
		     "GET /api/v1/runs/events HTTP/1.0\r\nHost: %s:%d\r\n"
		     "Authorization: Bearer %s\r\nAccept: text/event-stream"
		     "\r\n\r\n",
		     a->host, a->port, a->token);
	if (write_all(fd, req, (size_t)n) < 0)
		die("event stream: write failed");
	buf = malloc(cap);
	for (;;) {
		ssize_t r;
		char *line, *nl;

		if (len + 65536 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r <= 0) {
			sse_dead = true;
			pthread_mutex_lock(&mu);
			pthread_cond_broadcast(&cv);
			pthread_mutex_unlock(&mu);
			return NULL;
		}
		int64_t t = now_ns();

		len += (size_t)r;
		buf[len] = '\0';
		line = buf;
		if (!body) {
			char *h = strstr(buf, "\r\n\r\n");

			if (!h)
				continue;
			if (!strstr(buf, " 200"))
				die("event stream refused: %.200s", buf);
			line = h + 4;
			body = true;
		}
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			if (!strncmp(line, "data: ", 6))
				on_event_json(line + 6, t);
			else if (!strncmp(line, "event: resync", 13))
				sse_resync = true;
			else if (!strncmp(line, "event: hello", 12) && !told) {
				told = true;
				if (write(a->ready_fd, "x", 1) < 0)
					die("pipe");
			}
			line = nl + 1;
		}
		len -= (size_t)(line - buf);
		memmove(buf, line, len);
	}
}

static void start_sse(const char *host, int port, const char *token)
{
	static struct sse_arg a;
	pthread_t th;
	int p[2];
	char x;

	table = calloc(TABLE_SIZE, sizeof(*table));
	if (pipe(p) < 0)
		die("pipe");
	a = (struct sse_arg){ host, token, port, p[1] };
	pthread_create(&th, NULL, sse_thread, &a);
	pthread_detach(th);
	struct pollfd pf = { .fd = p[0], .events = POLLIN };

	if (poll(&pf, 1, 10000) <= 0 || read(p[0], &x, 1) != 1)
		die("the event stream did not start");
}

/* Submit one run; its id into id.  Returns the HTTP status (or -1). */
static int submit(struct conn *c, const char *automation, char *id, int64_t *t0,
		  int64_t *t202, char *err, size_t errsz)
{
	char body[256];
	struct resp r;
	int st;

	snprintf(body, sizeof(body),
		 "{\"automation\":\"%s\",\"parameters\":{}}", automation);
	if (http_do(c, "POST", "/api/v1/runs", body, &r, t0) < 0)
		return -1;
	if (t202)
		*t202 = now_ns();
	st = r.status;
	if (st == 202 && json_str(r.body, "id", id, IDLEN) < 0)
		st = -2;
	if (st != 202 && err)
		snprintf(err, errsz, "%d %.300s", r.status, r.body);
	free(r.body);
	return st;
}

/* Wait until the stream has seen run id end (or timeout); copy its slot. */
static int wait_final(const char *id, struct slot *out, int timeout_ms)
{
	struct timespec dl;
	struct slot *s;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	pthread_mutex_lock(&mu);
	for (;;) {
		s = slot_get(id);
		if (s->t_final)
			break;
		if (sse_dead ||
		    pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT) {
			rc = -1;
			break;
		}
	}
	*out = *s;
	pthread_mutex_unlock(&mu);
	return rc;
}

/* ---- seq ---- */

static int cmd_seq(char **av)
{
	const char *host = av[0], *token = av[2], *autom = av[3];
	int port = atoi(av[1]), n = atoi(av[4]), warm = atoi(av[5]);
	struct conn c;
	char id[IDLEN], path[256], err[512];

	start_sse(host, port, token);
	conn_open(&c, host, port, token);
	for (int i = 0; i < n + warm; i++) {
		int64_t t0, t202, stamp = 0;
		struct slot s;
		struct resp r;
		int st = submit(&c, autom, id, &t0, &t202, err, sizeof(err));

		if (st != 202)
			die("POST /api/v1/runs: %s",
			    st == -1 ? "no answer" : err);
		mark_ours(id);
		if (wait_final(id, &s, TIMEOUT_MS) < 0)
			die("run %s did not end within %d ms%s", id, TIMEOUT_MS,
			    sse_dead ? " (event stream closed)" : "");
		snprintf(path, sizeof(path), "/api/v1/runs/%s/log", id);
		if (http_do(&c, "GET", path, NULL, &r, NULL) < 0)
			die("GET %s: no answer", path);
		if (r.status == 200)
			stamp = strtoll(r.body, NULL, 10);
		if (i >= warm) {
			char first[80];

			snprintf(first, sizeof(first), "%s", r.body);
			for (char *q = first; *q; q++)
				if (*q == '\n' || *q == ' ')
					*q = '_';
			printf("run %s %lld %lld %lld %lld %lld %lld %s %s\n",
			       id, (long long)t0, (long long)t202,
			       (long long)s.t_running, (long long)stamp,
			       (long long)s.t_final, (long long)s.finished_ms,
			       s.state, stamp ? "-" : first);
		}
		free(r.body);
	}
	fflush(stdout);
	return 0;
}

/* ---- rate ---- */

struct rate_arg {
	const char *host, *token, *autom;
	int port;
	int64_t t_end;
	long window;
	long rejected, errors, sent;
	char err[512];
};

static void *rate_client(void *p)
{
	struct rate_arg *a = p;
	struct conn c;
	char id[IDLEN];

	conn_open(&c, a->host, a->port, a->token);
	while (now_ns() < a->t_end) {
		int st;

		if (n_submitted - n_final_ours >= a->window) {
			sleep_us(100);
			continue;
		}
		st = submit(&c, a->autom, id, NULL, NULL, a->err,
			    sizeof(a->err));
		if (st == 202) {
			mark_ours(id);
			a->sent++;
		} else if (st == 429) {
			a->rejected++;
			sleep_us(1000);
		} else {
			a->errors++;
			if (a->errors > 100)
				break;
			sleep_us(1000);
		}
	}
	close(c.fd);
	return NULL;
}

static int cmd_rate(char **av)
{
	const char *host = av[0], *token = av[2], *autom = av[3];
	int port = atoi(av[1]), clients = atoi(av[4]);
	double secs = atof(av[5]);
	long window = atol(av[6]), rej = 0, errs = 0;
	pthread_t th[64];
	struct rate_arg args[64];
	int64_t t_start, t_stop, t_done, deadline;

	if (clients < 1 || clients > 64)
		die("1..64 clients");
	start_sse(host, port, token);
	t_start = now_ns();
	for (int i = 0; i < clients; i++) {
		args[i] = (struct rate_arg){ .host = host,
					     .token = token,
					     .autom = autom,
					     .port = port,
					     .window = window,
					     .t_end = t_start +
						      (int64_t)(secs * 1e9) };
		pthread_create(&th[i], NULL, rate_client, &args[i]);
	}
	for (int i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		rej += args[i].rejected;
		errs += args[i].errors;
		if (args[i].err[0] && args[i].errors)
			printf("rate error %s\n", args[i].err);
	}
	t_stop = now_ns();
	deadline = t_stop + 120LL * 1000000000LL;
	while (n_final_ours < n_submitted && now_ns() < deadline && !sse_dead)
		sleep_us(1000);
	t_done = now_ns();
	/* The last run's end as the event stream saw it. */
	int64_t last = 0, first_ok_in_window = 0;
	long ok_in_window = 0;

	pthread_mutex_lock(&mu);
	for (long i = 0; i < TABLE_SIZE; i++) {
		struct slot *s = &table[i];

		if (!s->id[0] || !s->ours || !s->t_final)
			continue;
		if (s->t_final > last)
			last = s->t_final;
		if (!strcmp(s->state, "succeeded") && s->t_final <= t_stop)
			ok_in_window++;
	}
	pthread_mutex_unlock(&mu);
	(void)first_ok_in_window;
	printf("rate clients %d\nrate window %ld\nrate seconds %.3f\n", clients,
	       window, secs);
	printf("rate submitted %ld\nrate succeeded %ld\nrate ended %ld\n",
	       (long)n_submitted, (long)n_ok_ours, (long)n_final_ours);
	printf("rate rejected429 %ld\nrate errors %ld\n", rej, errs);
	printf("rate t_start %lld\nrate t_stop %lld\nrate t_last_end %lld\n",
	       (long long)t_start, (long long)t_stop, (long long)last);
	printf("rate succeeded_before_stop %ld\n", ok_in_window);
	printf("rate drain_timeout %d\nrate resync %d\n",
	       n_final_ours < n_submitted, (int)sse_resync);
	(void)t_done;
	fflush(stdout);
	return 0;
}

/* ---- hold ---- */

static int wait_line(void)
{
	char line[64];

	return fgets(line, sizeof(line), stdin) ? 0 : -1;
}

static int cmd_hold(char **av)
{
	const char *host = av[0], *token = av[2], *autom = av[3];
	int port = atoi(av[1]), n = atoi(av[4]), nget = atoi(av[5]);
	struct conn c;
	char(*ids)[IDLEN] = calloc((size_t)n, IDLEN), path[256], err[512];
	int64_t t0 = now_ns(), t_submitted, t_running, deadline;
	long bad = 0;

	start_sse(host, port, token);
	conn_open(&c, host, port, token);
	for (int i = 0; i < n; i++) {
		int st =
			submit(&c, autom, ids[i], NULL, NULL, err, sizeof(err));

		if (st != 202)
			die("POST /api/v1/runs (%d of %d): %s", i + 1, n,
			    st == -1 ? "no answer" : err);
		mark_ours(ids[i]);
	}
	t_submitted = now_ns();
	deadline = t_submitted + 180LL * 1000000000LL;
	while (n_running_ours + n_final_ours < n && now_ns() < deadline &&
	       !sse_dead)
		sleep_us(2000);
	t_running = now_ns();
	printf("hold submitted_s %.3f\nhold all_running_s %.3f\n",
	       (t_submitted - t0) / 1e9, (t_running - t0) / 1e9);
	printf("hold running %ld\nhold ended_early %ld\n", (long)n_running_ours,
	       (long)n_final_ours);
	if (n_final_ours) {
		pthread_mutex_lock(&mu);
		for (int i = 0; i < n; i++) {
			struct slot *s = slot_get(ids[i]);

			if (s->t_final) {
				printf("hold early_end %s %s\n", s->id,
				       s->state);
				break;
			}
		}
		pthread_mutex_unlock(&mu);
	}
	printf("ready\n");
	fflush(stdout);
	if (wait_line() < 0)
		return 1;
	for (int i = 0; i < nget; i++) {
		struct resp r;
		int64_t a, b;

		snprintf(path, sizeof(path), "/api/v1/runs/%s",
			 ids[(i * 7919) % n]);
		if (http_do(&c, "GET", path, NULL, &r, &a) < 0)
			die("GET %s: no answer", path);
		b = now_ns();
		if (r.status != 200)
			bad++;
		printf("get %lld\n", (long long)(b - a));
		free(r.body);
	}
	printf("hold get_errors %ld\nmeasured\n", bad);
	fflush(stdout);
	if (wait_line() < 0)
		return 1;
	/* Stop them all and wait. */
	int64_t ts = now_ns();
	long stop_bad = 0;

	for (int i = 0; i < n; i++) {
		struct resp r;

		snprintf(path, sizeof(path), "/api/v1/runs/%s/stop", ids[i]);
		if (http_do(&c, "POST", path, "{}", &r, NULL) < 0)
			die("POST %s: no answer", path);
		if (r.status != 202 && r.status != 409)
			stop_bad++;
		free(r.body);
	}
	deadline = now_ns() + 120LL * 1000000000LL;
	while (n_final_ours < n && now_ns() < deadline && !sse_dead)
		sleep_us(2000);
	printf("hold stop_errors %ld\nhold ended %ld\nhold stop_all_s %.3f\n",
	       stop_bad, (long)n_final_ours, (now_ns() - ts) / 1e9);
	fflush(stdout);
	return 0;
}

/* ---- spawn (baselines) ---- */

static int cmd_spawn(int n, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	char **av = calloc((size_t)argc + 1, sizeof(char *));

	for (int i = 0; i < n; i++) {
		posix_spawn_file_actions_t fa;
		int p[2], status = 0;
		pid_t pid;
		char out[256], num[16];
		size_t len = 0;
		int64_t t0, t1;

		snprintf(num, sizeof(num), "%d", i);
		for (int k = 0; k < argc; k++) {
			char *brace = strstr(argv[k], "{i}");

			if (!brace) {
				av[k] = argv[k];
				continue;
			}
			av[k] = malloc(strlen(argv[k]) + 16);
			snprintf(av[k], strlen(argv[k]) + 16, "%.*s%s%s",
				 (int)(brace - argv[k]), argv[k], num,
				 brace + 3);
		}
		if (pipe2(p, O_CLOEXEC) < 0)
			die("pipe");
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
		t0 = now_ns();
		errno = posix_spawn(&pid, av[0], &fa, NULL, av, environ);
		if (errno)
			die("posix_spawn %s: %s", av[0], strerror(errno));
		close(p[1]);
		for (;;) {
			ssize_t r =
				read(p[0], out + len, sizeof(out) - 1 - len);

			if (r <= 0)
				break;
			len += (size_t)r;
		}
		out[len] = '\0';
		waitpid(pid, &status, 0);
		t1 = now_ns();
		close(p[0]);
		posix_spawn_file_actions_destroy(&fa);
		printf("spawn %lld %lld %lld %d\n", (long long)t0, atoll(out),
		       (long long)t1,
		       WIFEXITED(status) ? WEXITSTATUS(status) :
					   128 + WTERMSIG(status));
		for (int k = 0; k < argc; k++)
			if (av[k] != argv[k])
				free(av[k]);
	}
	fflush(stdout);
	return 0;
}

static int cmd_fsync(int n, const char *path)
{
	char block[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	memset(block, 'x', sizeof(block));
	for (int i = 0; i < n; i++) {
		int64_t t0 = now_ns();

		if (pwrite(fd, block, sizeof(block), (off_t)(i % 64) * 4096) <
			    0 ||
		    fdatasync(fd) < 0)
			die("write %s: %s", path, strerror(errno));
		printf("fsync %lld\n", (long long)(now_ns() - t0));
	}
	close(fd);
	unlink(path);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && !strcmp(argv[1], "spawn"))
		return cmd_spawn(atoi(argv[2]), argv + 3);
	if (argc == 4 && !strcmp(argv[1], "fsync"))
		return cmd_fsync(atoi(argv[2]), argv[3]);
	if (argc == 8 && !strcmp(argv[1], "seq"))
		return cmd_seq(argv + 2);
	if (argc == 9 && !strcmp(argv[1], "rate"))
		return cmd_rate(argv + 2);
	if (argc == 8 && !strcmp(argv[1], "hold"))
		return cmd_hold(argv + 2);
	fprintf(stderr,
		"usage: see the comment at the top of bench/launch.c\n");
	return 2;
}
