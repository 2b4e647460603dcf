/*
 * config.h - the runcell.yaml configuration: service settings and the
 * automation catalog.  config_load() parses and checks the whole file;
 * every problem is reported with file:line and what to change.  A loaded
 * config is immutable and may be shared between threads; a reload builds a
 * new one.
 */
#ifndef RUNCELL_CONFIG_H
#define RUNCELL_CONFIG_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

enum param_type {
	PARAM_STRING,
	PARAM_INTEGER,
	PARAM_NUMBER,
	PARAM_BOOLEAN,
	PARAM_CHOICE,
	PARAM_PATH,
};

/* One declared parameter of an automation. */
struct param_def {
	char *name;
	char *description; /* may be NULL */
	enum param_type type;
	bool required;
	json_t *def; /* default value (own reference) or NULL */
	/* string */
	char *pattern;	    /* source text of the pattern, or NULL */
	regex_t pattern_re; /* compiled, anchored; valid if pattern */
	int64_t max_length; /* 0 = no limit */
	/* integer / number */
	bool has_min, has_max;
	double min, max;
	/* choice */
	char **choices; /* NULL-terminated */
	/* path */
	char **roots; /* NULL-terminated absolute, resolved paths */
	int line;     /* where it was declared */
};

struct resources {
	double cpu;	    /* cores, e.g. 0.25; 0 = no quota */
	int64_t memory;	    /* bytes; 0 = no limit */
	int64_t pids;	    /* 0 = no limit */
	int64_t timeout_ms; /* 0 = no timeout */
};

struct isolation {
	bool network;	 /* share the host network */
	char **writable; /* NULL-terminated absolute paths, rw binds */
	char **readable; /* NULL-terminated absolute paths a cell must
				    see read-only even where its own view
				    differs (its private /tmp and /run, or
				    another root): `readable` plus the folders
				    of the command's script files */
	char *root;	 /* root directory for the cell, or NULL = / */
};

/* retries: {max, backoff, on}: a run that ends in a state of on_mask is
 * run again, up to max more times, after backoff * 2^(attempt-1) +-20%. */
struct retry_policy {
	int64_t max;	    /* retries after the first attempt; 0 = none */
	int64_t backoff_ms; /* default 10s */
	unsigned on_mask;   /* bits (1 << enum run_state value); default
				    failed, timed_out and lost */
};

/* server.user_limits entry. */
struct user_limit {
	char *user;
	int64_t max_concurrent_runs; /* 0 = no limit */
};

/* server.retention. */
struct retention_config {
	int64_t max_age_ms; /* terminal runs older than this go; 0 = keep */
	int64_t max_runs_per_automation; /* newest terminal runs kept; 0 = all */
	int64_t interval_ms; /* how often the pass runs, default 1h */
};

struct cron;
struct tz;

/* schedule: "CRON" or {cron, timezone, catch_up, parameters}. */
struct schedule_def {
	char *cron;	    /* the expression as written */
	struct cron *expr;  /* parsed (cron.h) */
	char *timezone;	    /* tz database name; default "UTC" */
	struct tz *tz;	    /* the loaded zone (tz.h) */
	bool catch_up;	    /* run one tick missed while down; default true */
	json_t *parameters; /* object given to each scheduled run, or NULL */
	int line;
};

/* notify: {url, on, timeout, attempts}, per automation or server.notify;
 * an automation's block starts from server.notify's values. */
struct notify_def {
	char *url;	    /* http:// or https:// */
	unsigned on_mask;   /* bits (1 << enum run_state); default
				    failed, timed_out and lost */
	int64_t timeout_ms; /* per attempt; default 10s */
	int64_t attempts;   /* deliveries tried at most; default 5 */
	int line;
};

struct automation {
	char *id;
	char *name;
	char *description;
	char **command; /* NULL-terminated argv, first element resolved */
	struct param_def *params;
	size_t n_params;
	struct resources res;
	struct isolation iso;
	char *executor; /* NULL = server default */
	char **allow;	/* roles that may run it; NULL = operator,admin */
	char **env;	/* extra "NAME=value" entries, NULL-terminated */
	char **secrets; /* names of secrets passed as environment
				    variables (values: secrets.h), or NULL */
	json_t *executor_options; /* per-automation engine settings (object,
				     e.g. {"task_definition": "worker"}), or
				     NULL; checked by the backend */
	int64_t concurrency;	  /* max active runs (per key value when
				    concurrency_key is set); 0 = no limit */
	char *concurrency_key;	  /* a declared parameter's name, or NULL */
	struct retry_policy retries;
	struct schedule_def *schedule; /* NULL = not scheduled */
	char *webhook_secret_env; /* webhook: {secret_env}; NULL = no webhook */
	struct notify_def *notify; /* NULL = server.notify (may be NULL too) */
	int line;
};

struct server_config {
	char *listen_host;	     /* "127.0.0.1" */
	int listen_port;	     /* 8080 */
	char *data_dir;		     /* absolute */
	char *executor;		     /* "sandbox", "process", ... */
	int64_t max_concurrent_runs; /* 0 = unlimited */
	int64_t log_max_bytes;	     /* per-run log cap, default 10M */
	int64_t max_body_bytes;	     /* request body cap, default 1M */
	int64_t stop_grace_ms;	     /* SIGTERM -> SIGKILL grace, default 5s */
	char *run_user;	    /* unprivileged user for cells, default "runcell" */
	char *store_url;    /* default "sqlite:<data_dir>/runcell.db" */
	char *secrets_file; /* 0600 KEY=VALUE file, or NULL */
	int64_t max_queued_runs; /* queue bound (429 beyond); 0 = unlimited */
	int64_t max_concurrent_runs_per_user; /* default per user; 0 = none */
	struct user_limit *user_limits;	      /* per-user overrides */
	size_t n_user_limits;
	bool metrics_public; /* GET /metrics without a token */
	struct retention_config retention;
	struct notify_def *notify; /* default for every automation, or NULL */
};

struct config {
	char *path; /* absolute path of the file loaded */
	char *dir;  /* its folder: relative paths resolve here */
	struct server_config server;
	struct automation *autos;
	size_t n_autos;
	json_t *executors; /* "executors:" settings converted to a JSON
				    object keyed by backend name ({} if none);
				    each backend checks its own part */
};

/*
 * Load and check the configuration file at path.  On success *out is a new
 * config (free with config_free) and 0 is returned.  On failure returns -1
 * with err->msg as "FILE:LINE: what is wrong and what to change"; the first
 * problem found is reported.
 */
int config_load(const char *path, struct config **out, struct rc_err *err);

/* Free cfg and everything it owns; NULL is fine. */
void config_free(struct config *cfg);

/* The automation with this id, or NULL.  Borrowed from cfg. */
const struct automation *config_automation(const struct config *cfg,
					   const char *id);

/* Whether role may run automation a (its allow list, or operator/admin). */
bool config_role_may_run(const struct automation *a, const char *role);

/* The concurrency limit for user's runs (override or server default);
 * 0 = no limit. */
int64_t config_user_max_runs(const struct config *cfg, const char *user);

/* The type's name as written in the YAML ("string", ...); static. */
const char *param_type_name(enum param_type t);

#endif
