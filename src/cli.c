/*
 * cli.c - client commands: a thin libcurl front end over the HTTP API.
 * The server URL and token come from --url/--token or RUNCELL_URL and
 * RUNCELL_TOKEN.  Errors from the server are printed as the server wrote
 * them (its messages say what to change).
 */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define DEFAULT_URL "http://127.0.0.1:8080"

struct client {
	char *url;
	char *token;
	CURL *curl;
};

struct reply {
	long status;
	struct buf body;
	int64_t log_next;
	bool finished;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;

	if (buf_append(&r->body, p, size * n) < 0)
		return 0;
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t len = size * n;
	char line[256];

	if (len >= sizeof(line))
		return len;
	memcpy(line, p, len);
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (!strncasecmp(line, "X-Log-Next-Offset: ", 19))
		parse_int64(line + 19, 0, INT64_MAX, &r->log_next);
	else if (!strncasecmp(line, "X-Run-Finished: ", 16))
		r->finished = !strcmp(line + 16, "true");
	return len;
}

/* Record the status of the response being received ("HTTP/1.1 200 OK"). */
static size_t on_status(char *p, size_t size, size_t n, void *ud)
{
	long *status = ud;
	size_t len = size * n;

	if (len > 9 && !strncmp(p, "HTTP/", 5)) {
		const char *sp = memchr(p, ' ', len);

		if (sp && (size_t)(sp - p) + 4 <= len)
			*status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 +
				  (sp[3] - '0');
	}
	return len;
}

static int client_init(struct client *c, const char *url, const char *token)
{
	c->url = xstrdup(url ? url : getenv("RUNCELL_URL"));
	if (!c->url)
		c->url = xstrdup(DEFAULT_URL);
	while (strlen(c->url) && c->url[strlen(c->url) - 1] == '/')
		c->url[strlen(c->url) - 1] = '\0';
	c->token = xstrdup(token ? token : getenv("RUNCELL_TOKEN"));
	if (!c->token) {
		fprintf(stderr, "runcell: no token: pass --token or set "
				"RUNCELL_TOKEN (an admin creates one with "
				"`runcell token create`)\n");
		return -1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c->curl = curl_easy_init();
	return c->curl ? 0 : -1;
}

static void client_free(struct client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->url);
	free(c->token);
}

/* One request; body may be NULL.  Returns 0 if the request was made (any
 * status), -1 on a transport error (printed). */
static int request(struct client *c, const char *method, const char *path,
		   const char *body, struct reply *r)
{
	struct curl_slist *h = NULL;
	char *url = xasprintf("%s%s", c->url, path);
	char *auth = xasprintf("Authorization: Bearer %s", c->token);
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 0);
	curl_easy_reset(c->curl);
	h = curl_slist_append(h, auth);
	if (body)
		h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 60L);
	if (body)
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	cc = curl_easy_perform(c->curl);
	curl_slist_free_all(h);
	free(auth);
	free(url);
	if (cc != CURLE_OK) {
		fprintf(stderr, "runcell: cannot reach %s: %s\n", c->url,
			curl_easy_strerror(cc));
		buf_free(&r->body);
		return -1;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
	return 0;
}

/* Print the server's error message for a non-2xx reply. */
static void print_error(const struct reply *r)
{
	json_t *j = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0,
			       NULL);
	const char *msg = json_string_value(
		json_object_get(json_object_get(j, "error"), "message"));

	if (msg)
		fprintf(stderr, "runcell: %s (HTTP %ld)\n", msg, r->status);
	else
		fprintf(stderr, "runcell: HTTP %ld\n", r->status);
	json_decref(j);
}

static json_t *reply_json(const struct reply *r)
{
	return json_loadb(r->body.data ? r->body.data : "", r->body.len, 0,
			  NULL);
}

/* GET a path expecting JSON; NULL after printing any error. */
static json_t *get_json(struct client *c, const char *path)
{
	struct reply r;
	json_t *j = NULL;

	if (request(c, "GET", path, NULL, &r) < 0)
		return NULL;
	if (r.status / 100 != 2)
		print_error(&r);
	else
		j = reply_json(&r);
	buf_free(&r.body);
	return j;
}

static void print_run(json_t *run)
{
	const char *keys[] = { "id",	     "automation", "user",
			       "state",	     "reason",	   "executor",
			       "created_at", "started_at", "finished_at",
			       NULL };

	for (int i = 0; keys[i]; i++) {
		json_t *v = json_object_get(run, keys[i]);

		if (json_is_string(v))
			printf("%-12s %s\n", keys[i], json_string_value(v));
	}
	if (json_is_integer(json_object_get(run, "exit_code")))
		printf("%-12s %lld\n", "exit_code",
		       (long long)json_integer_value(
			       json_object_get(run, "exit_code")));
	{
		char *p = json_dumps(json_object_get(run, "parameters"),
				     JSON_COMPACT);

		printf("%-12s %s\n", "parameters", p ? p : "{}");
		free(p);
	}
	if (json_is_object(json_object_get(run, "usage"))) {
		json_t *u = json_object_get(run, "usage");

		printf("%-12s %.3f s CPU, %lld bytes peak memory\n", "usage",
		       json_real_value(json_object_get(u, "cpu_seconds")),
		       (long long)json_integer_value(
			       json_object_get(u, "peak_memory_bytes")));
	}
}

static bool state_terminal(const char *s)
{
	return s && strcmp(s, "queued") && strcmp(s, "starting") &&
	       strcmp(s, "running");
}

static int run_exit_code(json_t *run)
{
	const char *st = json_string_value(json_object_get(run, "state"));
	json_t *ec = json_object_get(run, "exit_code");

	if (st && !strcmp(st, "succeeded"))
		return 0;
	if (json_is_integer(ec) && json_integer_value(ec) != 0)
		return (int)(json_integer_value(ec) & 0xff);
	return 1;
}

/* Print the log from offset until the run ends (follow) or once.
 * Returns the final run JSON when following (caller decrefs). */
/* An SSE stream being parsed (see src/sse.c for the events). */
struct sse_in {
	struct buf line; /* the line being received */
	struct buf data; /* data lines of the event being received */
	struct buf err;	 /* body of a non-200 answer */
	char event[32];
	char last_id[32];
	bool have_data;
	long status;
	json_t *final; /* the "end" event's run */
};

static void sse_line(struct sse_in *in, const char *l)
{
	if (!*l) {
		if (!strcmp(in->event, "log")) {
			fwrite(in->data.data ? in->data.data : "", 1,
			       in->data.len, stdout);
			fflush(stdout);
		} else if (!strcmp(in->event, "end") && !in->final) {
			in->final =
				json_loadb(in->data.data ? in->data.data : "",
					   in->data.len, 0, NULL);
		}
		in->data.len = 0;
		in->have_data = false;
		in->event[0] = '\0';
		return;
	}
	if (str_has_prefix(l, "event: "))
		snprintf(in->event, sizeof(in->event), "%s", l + 7);
	else if (str_has_prefix(l, "id: "))
		snprintf(in->last_id, sizeof(in->last_id), "%s", l + 4);
	else if (str_has_prefix(l, "data:")) {
		/* Data lines join with "\n" (the first may be empty). */
		if (in->have_data)
			buf_append(&in->data, "\n", 1);
		in->have_data = true;
		l += 5;
		if (*l == ' ')
			l++;
		buf_appends(&in->data, l);
	}
}

static size_t on_sse(char *p, size_t size, size_t n, void *ud)
{
	struct sse_in *in = ud;
	size_t len = size * n;

	for (size_t i = 0; i < len; i++) {
		if (p[i] != '\n') {
			buf_append(&in->line, &p[i], 1);
			continue;
		}
		buf_append(&in->line, "", 0);
		if (in->line.len && in->line.data[in->line.len - 1] == '\r')
			in->line.data[--in->line.len] = '\0';
		sse_line(in, in->line.data ? in->line.data : "");
		in->line.len = 0;
	}
	return len;
}

static size_t on_sse_or_error(char *p, size_t size, size_t n, void *ud)
{
	struct sse_in *in = ud;

	if (in->status != 200) {
		buf_append(&in->err, p, size * n);
		return size * n;
	}
	return on_sse(p, size, n, ud);
}

/*
 * Follow run id's output over Server-Sent Events until its "end" event,
 * reconnecting with Last-Event-ID when the connection drops, so nothing is
 * printed twice or lost.  Returns the final run JSON, or NULL after
 * printing an error.
 */
static json_t *follow_sse(struct client *c, const char *id)
{
	char *url = xasprintf("%s/api/v1/runs/%s/events", c->url, id);
	char *auth = xasprintf("Authorization: Bearer %s", c->token);
	struct sse_in in;
	int failures = 0;

	memset(&in, 0, sizeof(in));
	buf_init(&in.line, 0);
	buf_init(&in.data, 0);
	buf_init(&in.err, 64 * 1024);
	while (!in.final && failures < 30) {
		struct curl_slist *h = NULL;
		char *resume = NULL;
		CURLcode cc;

		h = curl_slist_append(h, auth);
		h = curl_slist_append(h, "Accept: text/event-stream");
		if (in.last_id[0]) {
			resume = xasprintf("Last-Event-ID: %s", in.last_id);
			h = curl_slist_append(h, resume);
		}
		in.line.len = in.data.len = in.err.len = 0;
		in.have_data = false;
		in.event[0] = '\0';
		in.status = 0;
		curl_easy_reset(c->curl);
		curl_easy_setopt(c->curl, CURLOPT_URL, url);
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_status);
		curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, &in.status);
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION,
				 on_sse_or_error);
		curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &in);
		curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
		/* Keepalives come every 15 s: 60 s of silence is a dead
		 * connection. */
		curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, 60L);
		cc = curl_easy_perform(c->curl);
		curl_slist_free_all(h);
		free(resume);
		if (cc == CURLE_OK && in.status != 200) {
			struct reply r = { .status = in.status,
					   .body = in.err };

			print_error(&r);
			break;
		}
		if (!in.final) {
			failures++;
			nanosleep(&(struct timespec){ .tv_nsec = 500000000 },
				  NULL);
		}
	}
	if (!in.final && failures >= 30)
		fprintf(stderr, "runcell: lost the connection to %s\n", c->url);
	buf_free(&in.line);
	buf_free(&in.data);
	buf_free(&in.err);
	free(url);
	free(auth);
	return in.final;
}

static json_t *stream_log(struct client *c, const char *id, bool follow)
{
	int64_t offset = 0;
	char *runpath = xasprintf("/api/v1/runs/%s", id);
	json_t *run = NULL;

	if (follow) {
		free(runpath);
		return follow_sse(c, id);
	}
	for (;;) {
		struct reply r;
		char *path = xasprintf("/api/v1/runs/%s/log?offset=%lld", id,
				       (long long)offset);
		int rc = request(c, "GET", path, NULL, &r);

		free(path);
		if (rc < 0)
			break;
		if (r.status != 200) {
			print_error(&r);
			buf_free(&r.body);
			break;
		}
		if (r.body.len) {
			fwrite(r.body.data, 1, r.body.len, stdout);
			fflush(stdout);
			offset = r.log_next;
		}
		buf_free(&r.body);
		if (!follow)
			break;
		if (r.finished && r.body.len == 0) {
			run = get_json(c, runpath);
			break;
		}
		if (r.body.len == 0)
			nanosleep(&(struct timespec){ .tv_nsec = 100000000 },
				  NULL);
	}
	free(runpath);
	return run;
}

static const struct option common_opts[] = {
	{ "url", required_argument, NULL, 'u' },
	{ "token", required_argument, NULL, 't' },
	{ "follow", no_argument, NULL, 'f' },
	{ "wait", no_argument, NULL, 'w' },
	{ "automation", required_argument, NULL, 'a' },
	{ "state", required_argument, NULL, 's' },
	{ "limit", required_argument, NULL, 'l' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct cli_opts {
	const char *url, *token, *automation, *state, *limit;
	bool follow, wait, json;
};

/* Parse the common options; returns optind or -1 on a usage error. */
static int parse_common(int argc, char **argv, struct cli_opts *o,
			const char *usage)
{
	int ch;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+u:t:fwa:s:l:jh", common_opts,
				 NULL)) != -1) {
		switch (ch) {
		case 'u':
			o->url = optarg;
			break;
		case 't':
			o->token = optarg;
			break;
		case 'f':
			o->follow = true;
			break;
		case 'w':
			o->wait = true;
			break;
		case 'a':
			o->automation = optarg;
			break;
		case 's':
			o->state = optarg;
			break;
		case 'l':
			o->limit = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			printf("%s", usage);
			exit(0);
		default:
			fprintf(stderr, "%s", usage);
			return -1;
		}
	}
	return optind;
}

static const char run_usage[] =
	"usage: runcell run AUTOMATION [--NAME VALUE | --NAME=VALUE | --FLAG]...\n"
	"                  [--wait] [--follow] [--json] [--url URL] [--token TOKEN]\n"
	"  Start a run.  Each --NAME VALUE sets a parameter of the automation;\n"
	"  a --NAME followed by another option (or nothing) is a true boolean.\n"
	"  --wait waits for the end; --follow prints the output as it comes.\n"
	"  Both exit with the run's exit code.  Prints the run id otherwise.\n";

int cli_run(int argc, char **argv)
{
	struct client c = { 0 };
	struct cli_opts o = { 0 };
	json_t *params = json_object(), *req, *run = NULL;
	const char *automation = NULL;
	struct reply r = { 0 };
	char *body = NULL;
	int rc = 2;

	/* Our own options may appear anywhere; the rest are parameters. */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *name, *eq, *value;
		char *key;

		if (!strcmp(a, "--wait")) {
			o.wait = true;
			continue;
		}
		if (!strcmp(a, "--follow") || !strcmp(a, "-f")) {
			o.follow = true;
			continue;
		}
		if (!strcmp(a, "--json")) {
			o.json = true;
			continue;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			printf("%s", run_usage);
			rc = 0;
			goto out;
		}
		if ((!strcmp(a, "--url") || !strcmp(a, "--token")) &&
		    i + 1 < argc) {
			if (a[2] == 'u')
				o.url = argv[++i];
			else
				o.token = argv[++i];
			continue;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (automation) {
				fprintf(stderr,
					"runcell: unexpected argument \"%s\": "
					"parameters are given as --NAME VALUE\n%s",
					a, run_usage);
				goto out;
			}
			automation = a;
			continue;
		}
		name = a + 2;
		eq = strchr(name, '=');
		if (eq) {
			key = xstrndup(name, (size_t)(eq - name));
			value = eq + 1;
		} else {
			key = xstrdup(name);
			value = (i + 1 < argc &&
				 strncmp(argv[i + 1], "--", 2)) ?
					argv[++i] :
					NULL;
		}
		json_object_set_new(params, key,
				    value ? json_string(value) : json_true());
		free(key);
	}
	if (!automation) {
		fprintf(stderr, "%s", run_usage);
		goto out;
	}
	if (client_init(&c, o.url, o.token) < 0)
		goto out;
	req = json_pack("{s:s, s:O}", "automation", automation, "parameters",
			params);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (request(&c, "POST", "/api/v1/runs", body, &r) < 0)
		goto out;
	if (r.status != 202) {
		print_error(&r);
		goto out;
	}
	run = reply_json(&r);
	if (!o.wait && !o.follow) {
		if (o.json)
			json_dumpf(run, stdout, JSON_INDENT(2));
		else
			printf("%s\n",
			       json_string_value(json_object_get(run, "id")));
		rc = 0;
		goto out;
	}
	{
		char *id =
			xstrdup(json_string_value(json_object_get(run, "id")));
		char *path = xasprintf("/api/v1/runs/%s", id);

		json_decref(run);
		run = NULL;
		if (o.follow) {
			run = stream_log(&c, id, true);
		} else {
			for (;;) {
				run = get_json(&c, path);
				if (!run ||
				    state_terminal(json_string_value(
					    json_object_get(run, "state"))))
					break;
				json_decref(run);
				nanosleep(
					&(struct timespec){ .tv_nsec =
								    100000000 },
					NULL);
			}
		}
		free(path);
		free(id);
	}
	if (!run)
		goto out;
	if (!o.follow)
		print_run(run);
	rc = run_exit_code(run);
out:
	buf_free(&r.body);
	free(body);
	json_decref(params);
	json_decref(run);
	client_free(&c);
	return rc;
}

static const char status_usage[] =
	"usage: runcell status [--json] [--url URL] [--token TOKEN] RUN_ID\n";

int cli_status(int argc, char **argv)
{
	struct client c = { 0 };
	struct cli_opts o;
	json_t *run;
	char *path;
	int i = parse_common(argc, argv, &o, status_usage), rc = 2;

	if (i < 0 || i + 1 != argc) {
		fprintf(stderr, "%s", status_usage);
		return 2;
	}
	if (client_init(&c, o.url, o.token) < 0)
		goto out;
	path = xasprintf("/api/v1/runs/%s", argv[i]);
	run = get_json(&c, path);
	free(path);
	if (run) {
		if (o.json) {
			json_dumpf(run, stdout, JSON_INDENT(2));
			putchar('\n');
		} else {
			print_run(run);
		}
		json_decref(run);
		rc = 0;
	}
out:
	client_free(&c);
	return rc;
}

static const char logs_usage[] =
	"usage: runcell logs [-f|--follow] [--url URL] [--token TOKEN] RUN_ID\n"
	"  Print a run's output; with --follow keep printing until it ends and\n"
	"  exit with the run's exit code.\n";

int cli_logs(int argc, char **argv)
{
	struct client c = { 0 };
	struct cli_opts o;
	json_t *run;
	int i = parse_common(argc, argv, &o, logs_usage), rc = 2;

	if (i < 0 || i + 1 != argc) {
		fprintf(stderr, "%s", logs_usage);
		return 2;
	}
	if (client_init(&c, o.url, o.token) < 0)
		goto out;
	run = stream_log(&c, argv[i], o.follow);
	rc = o.follow ? (run ? run_exit_code(run) : 2) : 0;
	json_decref(run);
out:
	client_free(&c);
	return rc;
}

static const char stop_usage[] =
	"usage: runcell stop [--url URL] [--token TOKEN] RUN_ID\n";

int cli_stop(int argc, char **argv)
{
	struct client c = { 0 };
	struct cli_opts o;
	struct reply r = { 0 };
	char *path;
	int i = parse_common(argc, argv, &o, stop_usage), rc = 2;

	if (i < 0 || i + 1 != argc) {
		fprintf(stderr, "%s", stop_usage);
		return 2;
	}
	if (client_init(&c, o.url, o.token) < 0)
		goto out;
	path = xasprintf("/api/v1/runs/%s/stop", argv[i]);
	if (request(&c, "POST", path, "{}", &r) == 0) {
		if (r.status == 202) {
			printf("stop requested for %s\n", argv[i]);
			rc = 0;
		} else {
			print_error(&r);
			rc = 1;
		}
	}
	free(path);
out:
	buf_free(&r.body);
	client_free(&c);
	return rc;
}

static const char ls_usage[] =
	"usage: runcell ls [--automation ID] [--state STATE] [--limit N] [--json]\n"
	"                  [--url URL] [--token TOKEN]\n"
	"  List runs, newest first.\n";

int cli_ls(int argc, char **argv)
{
	struct client c = { 0 };
	struct cli_opts o;
	struct buf q;
	json_t *list, *runs, *run;
	size_t idx;
	int i = parse_common(argc, argv, &o, ls_usage), rc = 2;

	if (i < 0 || i != argc) {
		fprintf(stderr, "%s", ls_usage);
		return 2;
	}
	if (client_init(&c, o.url, o.token) < 0)
		goto out;
	buf_init(&q, 0);
	buf_appends(&q, "/api/v1/runs?limit=");
	buf_appends(&q, o.limit ? o.limit : "20");
	if (o.automation)
		buf_appendf(&q, "&automation=%s", o.automation);
	if (o.state)
		buf_appendf(&q, "&state=%s", o.state);
	list = get_json(&c, q.data);
	buf_free(&q);
	if (!list)
		goto out;
	runs = json_object_get(list, "runs");
	if (o.json) {
		json_dumpf(runs, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		printf("%-18s %-20s %-10s %-5s %-12s %s\n", "ID", "AUTOMATION",
		       "STATE", "EXIT", "USER", "CREATED");
		json_array_foreach(runs, idx, run) {
			json_t *ec = json_object_get(run, "exit_code");
			char exitbuf[16] = "-";

			if (json_is_integer(ec))
				snprintf(exitbuf, sizeof(exitbuf), "%lld",
					 (long long)json_integer_value(ec));
			printf("%-18s %-20s %-10s %-5s %-12s %s\n",
			       json_string_value(json_object_get(run, "id")),
			       json_string_value(
				       json_object_get(run, "automation")),
			       json_string_value(json_object_get(run, "state")),
			       exitbuf,
			       json_string_value(json_object_get(run, "user")),
			       json_string_value(
				       json_object_get(run, "created_at")));
		}
	}
	json_decref(list);
	rc = 0;
out:
	client_free(&c);
	return rc;
}
