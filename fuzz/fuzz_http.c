/*
 * fuzz_http.c - libFuzzer target for the HTTP API as a client sees it: the
 * input is one raw HTTP request (request line, headers, body), sent over a
 * real TCP connection to the real server (libmicrohttpd + http.c's route
 * dispatch + api.c's handlers + the SQLite store), started in-process once
 * on 127.0.0.1 with a free port.
 *
 * Why a socket rather than calling dispatch() directly: the handlers read
 * headers and query arguments through libmicrohttpd's connection object,
 * so a direct entry point would need a fake connection (or a rewrite of
 * http.c); over a socket the fuzzer exercises exactly what runs in
 * production - request parsing, URL decoding, the body cap, routing,
 * authentication and every handler - with no test-only code in src/.
 *
 * Placeholders in the input are replaced before sending, so that seeds
 * (and mutations of them) get past authentication and reach real runs:
 *   @ADMIN@ @OPERATOR@ @VIEWER@  tokens of users with those roles
 *   @RUN@                        a finished run with a log
 * Runs submitted by the fuzzer are queued and never started (the
 * scheduler is not running), and the live-event fan-out is shut down at
 * once so that SSE streams end after their first events.
 *
 * Checks beyond crashes, leaks and undefined behaviour: every answer is an
 * HTTP response; no answer contains the fixture's secret value; no answer
 * is a 500 (the store is healthy, so a 500 is a bug).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include "app.h"
#include "events.h"
#include "fuzz_common.h"
#include "log.h"
#include "metrics.h"
#include "secrets.h"
#include "web.h"

static struct app app;
static char *dir; /* kept (reachable) until exit */
static int port;
static char *tokens[3]; /* admin, operator, viewer */
static const char *const roles[3] = { "admin", "operator", "viewer" };
static const char *const marks[3] = { "@ADMIN@", "@OPERATOR@", "@VIEWER@" };
#define RUN_ID "r00000000000000f1"

static void die(const char *what, const struct rc_err *err)
{
	fprintf(stderr, "fuzz_http: %s: %s\n", what, err ? err->msg : "");
	abort();
}

/* (Re)create user i with its role and a token; the fuzzer may revoke
 * tokens or change roles through the API. */
static void make_user(int i)
{
	struct rc_err err;
	int64_t id;
	enum role r = i == 0 ? ROLE_ADMIN :
		      i == 1 ? ROLE_OPERATOR :
			       ROLE_VIEWER;
	char name[32];

	snprintf(name, sizeof(name), "fuzz-%s", roles[i]);
	free(tokens[i]);
	tokens[i] = NULL;
	if (store_user_put(app.store, name, r, &err) < 0 ||
	    store_user_set_disabled(app.store, name, false, &err) < 0 ||
	    store_token_create(app.store, name, "fuzz", &tokens[i], &id, &err) <
		    0)
		die("creating a user", &err);
}

static void restore_users(void)
{
	for (int i = 0; i < 3; i++) {
		struct token_info ti;
		struct rc_err err;
		int r;

		memset(&ti, 0, sizeof(ti));
		r = store_token_check(app.store, tokens[i], &ti, &err);
		if (r != 0 || (int)ti.role != (i == 0 ? ROLE_ADMIN :
					       i == 1 ? ROLE_OPERATOR :
							ROLE_VIEWER))
			make_user(i);
		if (r == 0)
			store_token_clear(&ti);
	}
}

/* A finished run with a log holding the secret, UTF-8 and a CR. */
static void make_run(void)
{
	static const char log_text[] = "line one\nsecret=" FUZZ_SECRET_VALUE
				       "\r\nh\xc3\xa9llo\rlast";
	struct run r;
	struct rc_err err;
	char *logs, *path;

	memset(&r, 0, sizeof(r));
	memcpy(r.id, RUN_ID, sizeof(r.id));
	r.automation = "fuzz";
	r.user = "fuzz-admin";
	r.parameters = "{\"message\":\"hi\"}";
	r.argv = "[\"/bin/echo\",\"fixed-arg\",\"--message\",\"hi\"]";
	r.executor = "process";
	r.state = RUN_SUCCEEDED;
	r.has_exit_code = true;
	r.created_at = time_now_ms() - 2000;
	r.started_at = r.created_at + 10;
	r.finished_at = r.created_at + 1000;
	r.attempt = 1;
	if (store_run_insert(app.store, &r, &err) < 0)
		die("inserting the run", &err);
	logs = xasprintf("%s/logs", app.cfg->server.data_dir);
	path = runs_log_path(app.runs, RUN_ID);
	if (mkdir_p(logs, 0755, &err) < 0 ||
	    write_file_atomic(path, log_text, sizeof(log_text) - 1, &err) < 0)
		die("writing the log", &err);
	free(path);
	free(logs);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct config *cfg;
	struct rc_err err;

	(void)argc;
	(void)argv;
	dir = fuzz_tmpdir("http");
	cfg = fuzz_fixture_load(dir);
	app.cfg = cfg;
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_ERROR); /* not a line per accepted run */
	if (mkdir_p(cfg->server.data_dir, 0700, &err) < 0 ||
	    store_open(cfg->server.store_url, &app.store, &err) < 0 ||
	    runs_open(cfg, app.store, &app.runs, &err) < 0 ||
	    secrets_load(cfg, &app.secrets, &err) < 0 ||
	    events_open(app.runs, app.secrets, &app.events, &err) < 0 ||
	    web_open(&app, &app.web, &err) < 0)
		die("opening the service", &err);
	runs_set_secrets(app.runs, app.secrets);
	app.metrics = metrics_new();
	runs_add_listener(app.runs, metrics_on_run, app.metrics);
	app.started_at = time_now_ms();
	for (int i = 0; i < 3; i++)
		make_user(i);
	make_run();
	/* Streams end after their first events instead of waiting. */
	events_shutdown(app.events);
	if (http_start(&app, "127.0.0.1", 0, (size_t)cfg->server.max_body_bytes,
		       api_routes, &app.http, &err) < 0)
		die("starting the server", &err);
	port = http_port(app.http);
	return 0;
}

/* The input with its placeholders replaced. */
static char *expand(const uint8_t *data, size_t size, size_t *len)
{
	struct buf b;
	size_t i = 0;

	buf_init(&b, 0);
	while (i < size) {
		bool done = false;

		if (data[i] == '@') {
			for (int k = 0; k < 3 && !done; k++) {
				size_t n = strlen(marks[k]);

				if (size - i >= n &&
				    !memcmp(data + i, marks[k], n)) {
					buf_appends(&b, tokens[k]);
					i += n;
					done = true;
				}
			}
			if (!done && size - i >= 5 &&
			    !memcmp(data + i, "@RUN@", 5)) {
				buf_appends(&b, RUN_ID);
				i += 5;
				done = true;
			}
		}
		if (!done)
			buf_append(&b, data + i++, 1);
	}
	return buf_take(&b, len);
}

/* connect() interrupted by a signal (libFuzzer's timers, the server's
 * children) goes on in the background: wait for it and read its result. */
static bool connected_after_eintr(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	while (poll(&pfd, 1, 10000) < 0)
		if (errno != EINTR)
			return false;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
		errno = soerr ? soerr : errno;
		return false;
	}
	return true;
}

/* Send req, read the whole answer (the server closes after it). */
static char *exchange(const char *req, size_t len, size_t *out_len)
{
	struct sockaddr_in sa;
	struct buf resp;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int64_t deadline = time_mono_ms() + 10000;
	char chunk[16384];

	if (fd < 0)
		abort();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    !(errno == EINTR && connected_after_eintr(fd))) {
		perror("fuzz_http: connect");
		abort();
	}
	/* The server may answer (413, 400) before reading everything. */
	(void)write_all(fd, req, len);
	shutdown(fd, SHUT_WR);
	buf_init(&resp, 0);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)(deadline - time_mono_ms());
		ssize_t n;

		if (left <= 0) {
			fprintf(stderr,
				"fuzz_http: no end of answer in 10 s\n");
			abort();
		}
		if (poll(&p, 1, left) <= 0)
			continue;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_append(&resp, chunk, (size_t)n);
	}
	close(fd);
	return buf_take(&resp, out_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len, rlen;
	char *req = expand(data, size, &len);
	char *resp = exchange(req, len, &rlen);

	if (rlen && !str_has_prefix(resp, "HTTP/1.")) {
		fprintf(stderr, "fuzz_http: not an HTTP answer: %.80s\n", resp);
		abort();
	}
	if (rlen &&
	    memmem(resp, rlen, FUZZ_SECRET_VALUE, strlen(FUZZ_SECRET_VALUE))) {
		fprintf(stderr, "fuzz_http: the secret left unmasked:\n%s\n",
			resp);
		abort();
	}
	if (str_has_prefix(resp, "HTTP/1.1 500") ||
	    str_has_prefix(resp, "HTTP/1.0 500")) {
		fprintf(stderr, "fuzz_http: 500 for:\n%.*s\n--\n%s\n", (int)len,
			req, resp);
		abort();
	}
	free(resp);
	free(req);
	/* The request may have revoked a token or changed a role. */
	if (size >= 4 && (memcmp(data, "GET ", 4) != 0))
		restore_users();
	return 0;
}
