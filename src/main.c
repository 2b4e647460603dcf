/*
 * main.c - the runcell binary: one table of subcommands (like crun's
 * commands[]), the server command `serve`, and the local administration
 * commands that work on the configuration and store directly
 * (check-config, token).  Client commands live in cli.c.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "app.h"
#include "cli.h"
#include "config.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "retention.h"
#include "runs.h"
#include "schedule.h"
#include "secrets.h"
#include "store.h"
#include "web.h"

static const char *default_config(void)
{
	const char *c = getenv("RUNCELL_CONFIG");

	return c ? c : "runcell.yaml";
}

static int load_config(const char *path, struct config **cfg)
{
	struct rc_err err;

	rc_err_clear(&err);
	if (config_load(path, cfg, &err) < 0) {
		fprintf(stderr, "runcell: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int open_store(const struct config *cfg, struct store **st)
{
	struct rc_err err;

	if (mkdir_p(cfg->server.data_dir, 0700, &err) < 0 ||
	    store_open(cfg->server.store_url, st, &err) < 0) {
		fprintf(stderr, "runcell: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* ---- serve ---- */

static const char serve_usage[] =
	"usage: runcell serve [--config FILE] [--listen HOST:PORT] [--drain]\n"
	"  Run the service: the HTTP API and web UI, the scheduler and the\n"
	"  executors.  On first start with an empty store an admin token is\n"
	"  created and printed once.\n"
	"  SIGTERM/SIGINT: stop accepting connections, let requests in flight\n"
	"  finish, and exit; runs keep going under their supervisors and are\n"
	"  re-adopted at the next start.  With --drain, start no more queued\n"
	"  runs and wait for the active ones to end first (a second signal\n"
	"  stops waiting).\n"
	"  SIGHUP: load the configuration file again; a file with an error is\n"
	"  refused (the error is logged) and the running configuration kept.\n";

#define INFLIGHT_WAIT_MS 10000

/* SIGHUP: load the file again and hand it to the run manager, or keep the
 * old configuration and log why. */
static void serve_reload(struct app *app)
{
	struct config *cfg = NULL;
	struct rc_err err;

	rc_err_clear(&err);
	if (config_load(app->cfg->path, &cfg, &err) < 0 ||
	    runs_reload(app->runs, cfg, &err) < 0) {
		log_error("SIGHUP: configuration not reloaded, the running one "
			  "stays: %s",
			  err.msg);
		config_free(cfg);
		return;
	}
	log_info("SIGHUP: configuration reloaded from %s (%zu automations)",
		 cfg->path, cfg->n_autos);
}

/* Wait up to ms for cond(app) to hold; a signal in set ends the wait
 * early (returns false). */
static bool serve_wait(struct app *app, const sigset_t *set, int64_t ms,
		       bool (*cond)(struct app *))
{
	int64_t deadline = ms > 0 ? time_mono_ms() + ms : 0;
	struct timespec tick = { .tv_nsec = 20 * 1000 * 1000 };

	while (!cond(app)) {
		int sig;

		if (deadline && time_mono_ms() >= deadline)
			return false;
		sig = sigtimedwait(set, NULL, &tick);
		if (sig == SIGINT || sig == SIGTERM)
			return false;
	}
	return true;
}

static bool no_requests(struct app *app)
{
	return http_inflight(app->http) == 0;
}

static bool no_active_runs(struct app *app)
{
	int q, a;

	runs_counts(app->runs, &q, &a);
	return a == 0;
}

/* The main thread's life once serving: reload on SIGHUP until SIGTERM or
 * SIGINT, then stop accepting, let requests finish and, with drain, wait
 * for the active runs. */
static void serve_signals(struct app *app, const sigset_t *set, bool drain)
{
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			serve_reload(app);
			continue;
		}
		break;
	}
	log_info("signal %d: stopping: no new connections", sig);
	http_quiesce(app->http);
	events_shutdown(app->events);
	if (!serve_wait(app, set, INFLIGHT_WAIT_MS, no_requests))
		log_warn("%d requests still in flight are cut off",
			 http_inflight(app->http));
	if (drain) {
		runs_pause(app->runs);
		log_info("draining: waiting for the active runs to end (send "
			 "the signal again to stop waiting)");
		if (serve_wait(app, set, 0, no_active_runs))
			log_info("drained: no run is active");
		else
			log_info("stopped waiting; active runs keep going "
				 "under their supervisors");
	} else {
		log_info("runs keep going under their supervisors");
	}
}

/* Split "host:port" / "[v6]:port". */
static int split_listen(const char *s, char **host, int *port)
{
	const char *colon = strrchr(s, ':');
	int64_t p;

	if (!colon || parse_int64(colon + 1, 0, 65535, &p) < 0)
		return -1;
	if (s[0] == '[' && colon > s + 1 && colon[-1] == ']')
		*host = xstrndup(s + 1, (size_t)(colon - s - 2));
	else
		*host = xstrndup(s, (size_t)(colon - s));
	*port = (int)p;
	return 0;
}

/* Every active run holds a few descriptors in the service (its event
 * channel, its followers) and the launcher holds one network namespace per
 * cell slot: raise the soft open-file limit to the hard one. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* With an empty user table, create the admin user and print a token. */
static int bootstrap_admin(struct store *st, const char *url)
{
	struct rc_err err;
	int64_t n, id;
	char *token = NULL;

	if (store_user_count(st, &n, &err) < 0)
		goto fail;
	if (n > 0)
		return 0;
	if (store_user_put(st, "admin", ROLE_ADMIN, &err) < 0 ||
	    store_token_create(st, "admin", "bootstrap", &token, &id, &err) < 0)
		goto fail;
	store_audit_add(st, "runcell", "token.create", "admin",
			"{\"label\":\"bootstrap\"}", &err);
	printf("runcell: first start: created user \"admin\".\n"
	       "runcell: admin token (shown only now, keep it): %s\n"
	       "runcell: try: RUNCELL_URL=%s RUNCELL_TOKEN=%s runcell ls\n",
	       token, url, token);
	fflush(stdout);
	free(token);
	return 0;
fail:
	fprintf(stderr, "runcell: creating the first admin: %s\n", err.msg);
	return -1;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "drain", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = default_config(), *listen_arg = NULL;
	bool drain = false;
	struct config *cfg = NULL;
	struct app app;
	struct rc_err err;
	sigset_t set;
	char *host = NULL, *url = NULL;
	struct sched *sched = NULL;
	struct notifier *notifier = NULL;
	int ch, port, rc = 1;

	while ((ch = getopt_long(argc, argv, "c:l:dh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'd':
			drain = true;
			break;
		case 'l':
			listen_arg = optarg;
			break;
		case 'h':
			printf("%s", serve_usage);
			return 0;
		default:
			fprintf(stderr, "%s", serve_usage);
			return 2;
		}
	}
	memset(&app, 0, sizeof(app));
	rc_err_clear(&err);
	if (load_config(cfg_path, &cfg) < 0)
		return 1;
	app.cfg = cfg;
	host = xstrdup(cfg->server.listen_host);
	port = cfg->server.listen_port;
	if (listen_arg) {
		free(host);
		host = NULL;
		if (split_listen(listen_arg, &host, &port) < 0) {
			fprintf(stderr, "runcell: --listen takes HOST:PORT, "
					"e.g. 127.0.0.1:8080\n");
			goto out;
		}
	}
	raise_fd_limit();
	if (open_store(cfg, &app.store) < 0)
		goto out;
	/* Executors fork their launchers here: before any thread exists. */
	if (runs_open(cfg, app.store, &app.runs, &err) < 0) {
		fprintf(stderr, "runcell: %s\n", err.msg);
		goto out;
	}
	/* Secrets, live output and web sessions (web.h, events.h). */
	if (secrets_load(cfg, &app.secrets, &err) < 0 ||
	    events_open(app.runs, app.secrets, &app.events, &err) < 0 ||
	    web_open(&app, &app.web, &err) < 0) {
		fprintf(stderr, "runcell: %s\n", err.msg);
		goto out;
	}
	runs_set_secrets(app.runs, app.secrets);
	app.metrics = metrics_new();
	runs_add_listener(app.runs, metrics_on_run, app.metrics);
	/* Notifications listen to runs: registered before runs_start. */
	if (notify_open(app.store, app.runs, &notifier, &err) < 0) {
		fprintf(stderr, "runcell: %s\n", err.msg);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	app.started_at = time_now_ms();
	if (http_start(&app, host, port, (size_t)cfg->server.max_body_bytes,
		       api_routes, &app.http, &err) < 0) {
		fprintf(stderr, "runcell: %s\n", err.msg);
		goto out;
	}
	url = xasprintf(strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d",
			host, http_port(app.http));
	if (bootstrap_admin(app.store, url) < 0)
		goto out;
	if (runs_start(app.runs, &err) < 0 ||
	    retention_start(app.runs, app.store, &app.retention, &err) < 0 ||
	    notify_start(notifier, url, &err) < 0 ||
	    sched_start(app.store, app.runs, &sched, &err) < 0) {
		fprintf(stderr, "runcell: %s\n", err.msg);
		goto out;
	}
	printf("runcell: serving %s (config %s, data %s, executor %s)\n", url,
	       cfg->path, cfg->server.data_dir, cfg->server.executor);
	fflush(stdout);
	log_info("listening on %s", url);
	serve_signals(&app, &set, drain);
	rc = 0;
out:
	sched_stop(sched);
	retention_stop(app.retention);
	events_shutdown(app.events);
	http_stop(app.http);
	runs_close(app.runs);
	notify_close(notifier);
	metrics_free(app.metrics);
	events_close(app.events);
	web_close(app.web);
	secrets_free(app.secrets);
	store_close(app.store);
	config_free(cfg);
	free(host);
	free(url);
	return rc;
}

/* ---- check-config ---- */

static int cmd_check_config(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[argc - 1] : default_config();
	struct config *cfg;

	if (argc > 1 &&
	    (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: runcell check-config [--config] FILE\n"
		       "  Load FILE as the server would and report the first "
		       "problem with file:line.\n");
		return 0;
	}
	if (load_config(path, &cfg) < 0)
		return 1;
	printf("%s: OK (%zu automations, executor %s, data %s)\n", cfg->path,
	       cfg->n_autos, cfg->server.executor, cfg->server.data_dir);
	config_free(cfg);
	return 0;
}

/* ---- token ---- */

static const char token_usage[] =
	"usage: runcell token create [--config FILE] --user NAME [--role ROLE] [--label TEXT]\n"
	"       runcell token revoke [--config FILE] TOKEN_ID\n"
	"       runcell token list   [--config FILE]\n"
	"  Manage API tokens directly in the store (works while the server\n"
	"  runs).  create prints only the token on stdout; --role creates the\n"
	"  user or changes its role (viewer, operator, admin).\n";

static int cmd_token(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, 'u' },
		{ "role", required_argument, NULL, 'r' },
		{ "label", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = default_config(), *user = NULL, *role = NULL,
		   *label = NULL, *sub;
	struct config *cfg = NULL;
	struct store *st = NULL;
	struct rc_err err;
	int ch, rc = 1;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fprintf(argc < 2 ? stderr : stdout, "%s", token_usage);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "c:u:r:l:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'r':
			role = optarg;
			break;
		case 'l':
			label = optarg;
			break;
		case 'h':
			printf("%s", token_usage);
			return 0;
		default:
			fprintf(stderr, "%s", token_usage);
			return 2;
		}
	}
	if (load_config(cfg_path, &cfg) < 0 || open_store(cfg, &st) < 0)
		goto out;
	rc_err_clear(&err);
	if (!strcmp(sub, "create")) {
		char *token = NULL;
		int64_t id;
		struct user u;
		int r = -1;

		if (!user) {
			fprintf(stderr,
				"runcell: token create needs --user "
				"NAME\n%s",
				token_usage);
			rc = 2;
			goto out;
		}
		if (role && (r = role_parse(role)) < 0) {
			fprintf(stderr, "runcell: --role must be viewer, "
					"operator or admin\n");
			rc = 2;
			goto out;
		}
		if (r < 0) {
			memset(&u, 0, sizeof(u));
			if (store_user_get(st, user, &u, &err) == 1) {
				fprintf(stderr,
					"runcell: no user \"%s\": give --role "
					"to create it\n",
					user);
				goto out;
			}
			store_user_clear(&u);
		} else if (store_user_put(st, user, (enum role)r, &err) < 0) {
			goto fail;
		}
		if (store_token_create(st, user, label, &token, &id, &err) < 0)
			goto fail;
		store_audit_add(st, "cli", "token.create", user, NULL, &err);
		printf("%s\n", token);
		free(token);
		rc = 0;
	} else if (!strcmp(sub, "revoke")) {
		int64_t id;
		int r;

		if (optind + 1 != argc ||
		    parse_int64(argv[optind], 1, INT64_MAX, &id) < 0) {
			fprintf(stderr,
				"runcell: token revoke takes a token id "
				"(see `runcell token list`)\n");
			rc = 2;
			goto out;
		}
		r = store_token_revoke(st, id, &err);
		if (r < 0)
			goto fail;
		if (r == 1) {
			fprintf(stderr, "runcell: no token %lld\n",
				(long long)id);
			goto out;
		}
		store_audit_add(st, "cli", "token.revoke", argv[optind], NULL,
				&err);
		printf("revoked token %lld\n", (long long)id);
		rc = 0;
	} else if (!strcmp(sub, "list")) {
		struct token_info *t;
		size_t n;

		if (store_token_list(st, &t, &n, &err) < 0)
			goto fail;
		printf("%-6s %-16s %-9s %-8s %s\n", "ID", "USER", "ROLE",
		       "REVOKED", "LABEL");
		for (size_t i = 0; i < n; i++) {
			printf("%-6lld %-16s %-9s %-8s %s\n",
			       (long long)t[i].id, t[i].user,
			       role_name(t[i].role),
			       t[i].revoked ? "yes" : "no",
			       t[i].label ? t[i].label : "");
			store_token_clear(&t[i]);
		}
		free(t);
		rc = 0;
	} else {
		fprintf(stderr, "runcell: unknown token command \"%s\"\n%s",
			sub, token_usage);
		rc = 2;
	}
	goto out;
fail:
	fprintf(stderr, "runcell: %s\n", err.msg);
out:
	store_close(st);
	config_free(cfg);
	return rc;
}

/* ---- the command table ---- */

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "serve", cmd_serve, "run the service (API, UI, scheduler)" },
	{ "run", cli_run, "start a run of an automation" },
	{ "status", cli_status, "show a run" },
	{ "logs", cli_logs, "print (or follow with -f) a run's output" },
	{ "stop", cli_stop, "stop a run" },
	{ "ls", cli_ls, "list runs" },
	{ "token", cmd_token, "create, revoke or list API tokens" },
	{ "user", web_user_cmd, "add web UI users, set passwords" },
	{ "check-config", cmd_check_config, "check a configuration file" },
	{ "help", cmd_help, "this text" },
	{ NULL, NULL, NULL },
};

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: runcell COMMAND [OPTIONS]\n\n"
	       "runcell runs predefined automation scripts in isolated cells.\n\n"
	       "Commands:\n");
	for (const struct command *c = commands; c->name; c++)
		printf("  %-13s %s\n", c->name, c->summary);
	printf("\n`runcell COMMAND --help` describes each.  Client commands "
	       "read RUNCELL_URL\nand RUNCELL_TOKEN (or --url/--token); "
	       "server commands read --config\n(or RUNCELL_CONFIG, default "
	       "./runcell.yaml).\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cmd_help(0, NULL);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(0, NULL);
	for (const struct command *c = commands; c->name; c++)
		if (!strcmp(c->name, argv[1]))
			return c->fn(argc - 1, argv + 1);
	fprintf(stderr, "runcell: unknown command \"%s\" (see runcell help)\n",
		argv[1]);
	return 2;
}
