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
	char *description;       /* may be NULL */
	enum param_type type;
	bool required;
	json_t *def;             /* default value (own reference) or NULL */
	/* string */
	char *pattern;           /* source text of the pattern, or NULL */
	regex_t pattern_re;      /* compiled, anchored; valid if pattern */
	int64_t max_length;      /* 0 = no limit */
	/* integer / number */
	bool has_min, has_max;
	double min, max;
	/* choice */
	char **choices;          /* NULL-terminated */
	/* path */
	char **roots;            /* NULL-terminated absolute, resolved paths */
	int line;                /* where it was declared */
};

struct resources {
	double cpu;              /* cores, e.g. 0.25; 0 = no quota */
	int64_t memory;          /* bytes; 0 = no limit */
	int64_t pids;            /* 0 = no limit */
	int64_t timeout_ms;      /* 0 = no timeout */
};

struct isolation {
	bool network;            /* share the host network */
	char **writable;         /* NULL-terminated absolute paths, rw binds */
	char *root;              /* root directory for the cell, or NULL = / */
};

struct automation {
	char *id;
	char *name;
	char *description;
	char **command;          /* NULL-terminated argv, first element resolved */
	struct param_def *params;
	size_t n_params;
	struct resources res;
	struct isolation iso;
	char *executor;          /* NULL = server default */
	char **allow;            /* roles that may run it; NULL = operator,admin */
	char **env;              /* extra "NAME=value" entries, NULL-terminated */
	char **secrets;          /* names of secrets passed as environment
				    variables (values: secrets.h), or NULL */
	json_t *executor_options; /* per-automation engine settings (object,
				     e.g. {"task_definition": "worker"}), or
				     NULL; checked by the backend */
	int line;
};

struct server_config {
	char *listen_host;       /* "127.0.0.1" */
	int listen_port;         /* 8080 */
	char *data_dir;          /* absolute */
	char *executor;          /* "sandbox", "process", ... */
	int64_t max_concurrent_runs;   /* 0 = unlimited */
	int64_t log_max_bytes;   /* per-run log cap, default 10M */
	int64_t max_body_bytes;  /* request body cap, default 1M */
	int64_t stop_grace_ms;   /* SIGTERM -> SIGKILL grace, default 5s */
	char *run_user;          /* unprivileged user for cells, default "runcell" */
	char *store_url;         /* default "sqlite:<data_dir>/runcell.db" */
	char *secrets_file;      /* 0600 KEY=VALUE file, or NULL */
};

struct config {
	char *path;              /* absolute path of the file loaded */
	char *dir;               /* its folder: relative paths resolve here */
	struct server_config server;
	struct automation *autos;
	size_t n_autos;
	json_t *executors;       /* "executors:" settings converted to a JSON
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

/* The type's name as written in the YAML ("string", ...); static. */
const char *param_type_name(enum param_type t);

#endif
