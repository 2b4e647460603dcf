/*
 * config.c - loading and checking runcell.yaml.
 *
 * The file is read with libyaml's document API (yaml_parser_load), so every
 * node keeps the line it came from and every message can say
 * "FILE:LINE: what is wrong and what to change".  A first pass over the
 * node tree refuses what the rest of the code must never see (aliases used
 * as keys, recursive aliases, duplicate keys, non-scalar keys, absurd
 * nesting); then each section is turned into the structs of config.h.
 * Unknown keys are refused everywhere, and each message lists the keys that
 * are allowed.  Relative paths resolve from the config file's folder.
 *
 * Plain YAML scalars are typed as in the YAML 1.2 core schema (null, true,
 * false, integers, floats); quoted scalars are always strings.
 *
 * This file holds the top level: opening and parsing the file, the
 * `server` and `executors` sections, freeing, and the lookups of config.h.
 * The node helpers are in config_yaml.c, the automations in config_auto.c
 * and their parameters in config_param.c (shared through config_int.h).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config_int.h"
#include "exec.h"

static int get_listen(struct cfg_loader *L, yaml_node_t *n,
		      struct server_config *s)
{
	const char *v, *colon;
	int64_t port;

	if (cfg_want_scalar(L, n, "listen", &v) < 0)
		return -1;
	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (!close || close[1] != ':' || close == v + 1)
			goto bad;
		colon = close + 1;
		free(s->listen_host);
		s->listen_host = xstrndup(v + 1, (size_t)(close - v - 1));
	} else {
		colon = strrchr(v, ':');
		if (!colon || colon == v || memchr(v, ':', (size_t)(colon - v)))
			goto bad;
		free(s->listen_host);
		s->listen_host = xstrndup(v, (size_t)(colon - v));
	}
	if (parse_int64(colon + 1, 0, 65535, &port) < 0 || colon[1] == ' ')
		goto bad;
	s->listen_port = (int)port;
	return 0;
bad:
	return cfg_fail(L, n,
			"`listen` must be HOST:PORT such as 127.0.0.1:8080, "
			"0.0.0.0:8080 or [::1]:8080, not \"%s\"",
			v);
}

static int get_store(struct cfg_loader *L, yaml_node_t *n,
		     struct server_config *s)
{
	char *url = NULL;
	int ret = -1;

	if (cfg_get_str(L, n, "store", &url) < 0)
		return -1;
	if (str_has_prefix(url, "sqlite:") && url[7]) {
		char *path = cfg_resolve_path(L->dir, url + 7);

		s->store_url = xasprintf("sqlite:%s", path);
		free(path);
	} else if (str_has_prefix(url, "postgres://") ||
		   str_has_prefix(url, "postgresql://")) {
		s->store_url = xstrdup(url);
	} else {
		cfg_fail(L, n,
			 "`store` must be sqlite:PATH or "
			 "postgres://USER@HOST/DB, not \"%s\"",
			 url);
		goto out;
	}
	ret = 0;
out:
	free(url);
	return ret;
}

/* server.user_limits: {NAME: {max_concurrent_runs: N}, ...} */
static int load_user_limits(struct cfg_loader *L, yaml_node_t *n,
			    struct server_config *s)
{
	static const char *const keys[] = { "max_concurrent_runs", NULL };
	size_t len;

	if (cfg_want_map(L, n, "user_limits") < 0)
		return -1;
	len = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	s->user_limits = xcalloc(len + 1, sizeof(*s->user_limits));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node(L, p->key),
			    *v = cfg_node(L, p->value);
		struct user_limit *u = &s->user_limits[s->n_user_limits];
		yaml_node_t *max;

		if (!*cfg_text(k))
			return cfg_fail(L, k,
					"`user_limits` needs user names as "
					"keys");
		u->user = xstrdup(cfg_text(k));
		s->n_user_limits++;
		if (cfg_want_map(L, v, "user_limits entry") < 0 ||
		    cfg_check_keys(L, v, "a `user_limits` entry", keys) < 0)
			return -1;
		max = cfg_map_get(L, v, "max_concurrent_runs");
		if (!max)
			return cfg_fail(L, v,
					"give `max_concurrent_runs` for user "
					"\"%s\"",
					u->user);
		if (cfg_get_int(L, max, "max_concurrent_runs", 0, 1000000,
				&u->max_concurrent_runs) < 0)
			return -1;
	}
	return 0;
}

/* server.retention: {max_age, max_runs_per_automation, interval} */
static int load_retention(struct cfg_loader *L, yaml_node_t *n,
			  struct retention_config *rc)
{
	static const char *const keys[] = { "max_age",
					    "max_runs_per_automation",
					    "interval", NULL };

	if (cfg_want_map(L, n, "retention") < 0 ||
	    cfg_check_keys(L, n, "`retention`", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = cfg_text(cfg_node(L, p->key));
		yaml_node_t *v = cfg_node(L, p->value);
		int r = 0;

		if (!strcmp(k, "max_age"))
			r = cfg_get_duration(L, v, k, &rc->max_age_ms);
		else if (!strcmp(k, "max_runs_per_automation"))
			r = cfg_get_int(L, v, k, 0, INT32_MAX,
					&rc->max_runs_per_automation);
		else if (!strcmp(k, "interval")) {
			r = cfg_get_duration(L, v, k, &rc->interval_ms);
			if (r == 0 && rc->interval_ms < 100)
				r = cfg_fail(L, v,
					     "`interval` must be at least "
					     "100ms");
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

static int load_server(struct cfg_loader *L, yaml_node_t *n, struct config *cfg)
{
	static const char *const keys[] = {
		"listen",
		"data_dir",
		"executor",
		"max_concurrent_runs",
		"log_max_bytes",
		"max_body_bytes",
		"stop_grace",
		"run_user",
		"store",
		"secrets_file",
		"max_queued_runs",
		"max_concurrent_runs_per_user",
		"user_limits",
		"metrics_public",
		"retention",
		"notify",
		NULL,
	};
	struct server_config *s = &cfg->server;
	yaml_node_t *store = NULL;

	s->listen_host = xstrdup("127.0.0.1");
	s->listen_port = 8080;
	s->executor = xstrdup("sandbox");
	s->max_concurrent_runs = 64;
	s->log_max_bytes = 10 * 1024 * 1024;
	s->max_body_bytes = 1024 * 1024;
	s->stop_grace_ms = 5000;
	s->run_user = xstrdup("runcell");
	s->max_queued_runs = 10000;
	s->retention.interval_ms = 3600 * 1000;
	if (!n || cfg_is_null(n))
		goto defaults;
	if (cfg_want_map(L, n, "server") < 0 ||
	    cfg_check_keys(L, n, "`server`", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = cfg_text(cfg_node(L, p->key));
		yaml_node_t *v = cfg_node(L, p->value);
		int r = 0;

		if (!strcmp(k, "listen"))
			r = get_listen(L, v, s);
		else if (!strcmp(k, "data_dir")) {
			r = cfg_get_str(L, v, k, &s->data_dir);
			if (r == 0) {
				char *abs =
					cfg_resolve_path(L->dir, s->data_dir);

				free(s->data_dir);
				s->data_dir = abs;
			}
		} else if (!strcmp(k, "executor"))
			r = cfg_get_executor(L, v, true, &s->executor);
		else if (!strcmp(k, "max_concurrent_runs"))
			r = cfg_get_int(L, v, k, 0, 1000000,
					&s->max_concurrent_runs);
		else if (!strcmp(k, "log_max_bytes"))
			r = cfg_get_size(L, v, k, &s->log_max_bytes);
		else if (!strcmp(k, "max_body_bytes"))
			r = cfg_get_size(L, v, k, &s->max_body_bytes);
		else if (!strcmp(k, "stop_grace"))
			r = cfg_get_duration(L, v, k, &s->stop_grace_ms);
		else if (!strcmp(k, "run_user"))
			r = cfg_get_str(L, v, k, &s->run_user);
		else if (!strcmp(k, "store"))
			store = v;
		else if (!strcmp(k, "secrets_file")) {
			r = cfg_get_str(L, v, k, &s->secrets_file);
			if (r == 0) {
				char *abs = cfg_resolve_path(L->dir,
							     s->secrets_file);

				free(s->secrets_file);
				s->secrets_file = abs;
			}
		} else if (!strcmp(k, "max_queued_runs"))
			r = cfg_get_int(L, v, k, 0, 100000000,
					&s->max_queued_runs);
		else if (!strcmp(k, "max_concurrent_runs_per_user"))
			r = cfg_get_int(L, v, k, 0, 1000000,
					&s->max_concurrent_runs_per_user);
		else if (!strcmp(k, "user_limits"))
			r = load_user_limits(L, v, s);
		else if (!strcmp(k, "metrics_public"))
			r = cfg_get_bool(L, v, k, &s->metrics_public);
		else if (!strcmp(k, "retention"))
			r = load_retention(L, v, &s->retention);
		else if (!strcmp(k, "notify"))
			r = cfg_load_notify(L, v, NULL, &s->notify);
		if (r < 0)
			return -1;
	}
	if (store && get_store(L, store, s) < 0)
		return -1;
defaults:
	if (!s->data_dir)
		s->data_dir = cfg_resolve_path(L->dir, "var");
	if (!s->store_url)
		s->store_url = xasprintf("sqlite:%s/runcell.db", s->data_dir);
	return 0;
}

static int load_executors(struct cfg_loader *L, yaml_node_t *n,
			  struct config *cfg)
{
	cfg->executors = json_object();
	if (!n || cfg_is_null(n))
		return 0;
	if (cfg_want_map(L, n, "executors") < 0 ||
	    cfg_check_keys(L, n, "`executors` (backend names)",
			   exec_backend_names) < 0)
		return -1;
	json_decref(cfg->executors);
	cfg->executors = NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *v = cfg_node(L, p->value);

		if (v->type != YAML_MAPPING_NODE && !cfg_is_null(v))
			return cfg_fail(L, v,
					"`executors.%s` must be a mapping of "
					"settings",
					cfg_text(cfg_node(L, p->key)));
	}
	return cfg_to_json(L, n, &cfg->executors);
}

static int load_document(struct cfg_loader *L, struct config *cfg)
{
	static const char *const keys[] = { "server", "automations",
					    "executors", NULL };
	yaml_node_t *root = yaml_document_get_root_node(L->doc);
	size_t nnodes = (size_t)(L->doc->nodes.top - L->doc->nodes.start);
	bool *seen, *active;
	int r;

	if (!root)
		return cfg_fail(L, NULL,
				"the file is empty; it needs at least "
				"`automations:` (see examples/runcell.yaml)");
	seen = xcalloc(nnodes + 1, sizeof(bool));
	active = xcalloc(nnodes + 1, sizeof(bool));
	r = cfg_check_tree(L, 1, root, seen, active, 0);
	free(seen);
	free(active);
	if (r < 0)
		return -1;
	if (cfg_want_map(L, root, "the top level") < 0 ||
	    cfg_check_keys(L, root, "the top level", keys) < 0 ||
	    load_server(L, cfg_map_get(L, root, "server"), cfg) < 0 ||
	    load_executors(L, cfg_map_get(L, root, "executors"), cfg) < 0 ||
	    cfg_load_automations(L, cfg_map_get(L, root, "automations"), cfg) <
		    0)
		return -1;
	return 0;
}

static int yaml_problem(struct cfg_loader *L, const yaml_parser_t *parser)
{
	if (parser->error == YAML_MEMORY_ERROR)
		return rc_err_set(L->err, ENOMEM, "%s: out of memory", L->file);
	return rc_err_set(L->err, EINVAL,
			  "%s:%d: invalid YAML: %s%s%s; fix "
			  "the syntax",
			  L->file, (int)parser->problem_mark.line + 1,
			  parser->problem ? parser->problem : "parse error",
			  parser->context ? " " : "",
			  parser->context ? parser->context : "");
}

/*
 * Load and check the file at path; see config.h.  The first problem found is
 * reported as "FILE:LINE: ..." in err->msg.  On success the caller owns *out
 * and frees it with config_free.
 */
int config_load(const char *path, struct config **out, struct rc_err *err)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	struct cfg_loader L = { .file = path, .err = err };
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	bool parser_ok = false, doc_ok = false;
	FILE *f = NULL;
	char *slash;
	int ret = -1;

	if (!path || !*path) {
		rc_err_set(err, EINVAL, "no configuration file given");
		goto out;
	}
	cfg->path = realpath(path, NULL);
	if (!cfg->path || !(f = fopen(cfg->path, "rb"))) {
		rc_err_set(err, errno, "cannot open %s: %s", path,
			   strerror(errno));
		goto out;
	}
	cfg->dir = xstrdup(cfg->path);
	slash = strrchr(cfg->dir, '/');
	slash[slash == cfg->dir ? 1 : 0] = '\0';
	L.dir = cfg->dir;
	if (!yaml_parser_initialize(&parser))
		abort();
	parser_ok = true;
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_problem(&L, &parser);
		goto out;
	}
	doc_ok = true;
	L.doc = &doc;
	if (yaml_document_get_root_node(&doc)) {
		yaml_node_t *second;

		if (!yaml_parser_load(&parser, &extra)) {
			yaml_problem(&L, &parser);
			goto out;
		}
		second = yaml_document_get_root_node(&extra);
		if (second)
			cfg_fail(&L, second,
				 "only one YAML document is allowed; "
				 "remove the second `---` section");
		yaml_document_delete(&extra);
		if (second)
			goto out;
	}
	if (load_document(&L, cfg) < 0)
		goto out;
	*out = cfg;
	cfg = NULL;
	ret = 0;
out:
	if (doc_ok)
		yaml_document_delete(&doc);
	if (parser_ok)
		yaml_parser_delete(&parser);
	if (f)
		fclose(f);
	config_free(cfg);
	return ret;
}

/* Free cfg and everything it owns (compiled patterns, JSON values).  Safe
 * with NULL and with a partly built config. */
void config_free(struct config *cfg)
{
	struct server_config *s;

	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_autos; i++)
		cfg_automation_clear(&cfg->autos[i]);
	free(cfg->autos);
	s = &cfg->server;
	free(s->listen_host);
	free(s->data_dir);
	free(s->executor);
	free(s->run_user);
	free(s->store_url);
	free(s->secrets_file);
	cfg_notify_def_free(s->notify);
	for (size_t i = 0; i < s->n_user_limits; i++)
		free(s->user_limits[i].user);
	free(s->user_limits);
	json_decref(cfg->executors);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}

/* Linear search by id; the result is borrowed from cfg. */
const struct automation *config_automation(const struct config *cfg,
					   const char *id)
{
	if (!cfg || !id)
		return NULL;
	for (size_t i = 0; i < cfg->n_autos; i++)
		if (!strcmp(cfg->autos[i].id, id))
			return &cfg->autos[i];
	return NULL;
}

/* admin may always run; without an allow list operator may too; otherwise
 * the role must be listed.  NULL role or automation: false. */
bool config_role_may_run(const struct automation *a, const char *role)
{
	if (!a || !role)
		return false;
	if (!strcmp(role, "admin"))
		return true;
	if (!a->allow)
		return !strcmp(role, "operator");
	return cfg_in_list(role, (const char *const *)a->allow);
}

/* A user's override from server.user_limits, else the server default. */
int64_t config_user_max_runs(const struct config *cfg, const char *user)
{
	const struct server_config *s = &cfg->server;

	for (size_t i = 0; user && i < s->n_user_limits; i++)
		if (!strcmp(s->user_limits[i].user, user))
			return s->user_limits[i].max_concurrent_runs;
	return s->max_concurrent_runs_per_user;
}
