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
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "catalog.h"
#include "cron.h"
#include "exec.h"
#include "tz.h"

#define MAX_DEPTH 64

struct loader {
	const char *file;        /* the path as given, for messages */
	const char *dir;         /* the config file's folder (absolute) */
	yaml_document_t *doc;
	char where[200];         /* context prefix: automation "x": */
	struct rc_err *err;
};

static const char *const role_names[] = { "viewer", "operator", "admin",
					  NULL };

static const char *const type_names[] = {
	[PARAM_STRING] = "string",   [PARAM_INTEGER] = "integer",
	[PARAM_NUMBER] = "number",   [PARAM_BOOLEAN] = "boolean",
	[PARAM_CHOICE] = "choice",   [PARAM_PATH] = "path",
};

static int fail(struct loader *L, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct loader *L, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[RC_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return rc_err_set(L->err, EINVAL, "%s:%d: %s%s", L->file,
			  n ? (int)n->start_mark.line + 1 : 1, L->where, msg);
}

static yaml_node_t *node_at(struct loader *L, int idx)
{
	return yaml_document_get_node(L->doc, idx);
}

static const char *text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE &&
	       n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

/* "a, b, c" from a NULL-terminated list; caller frees. */
static char *join_names(const char *const *list)
{
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; list[i]; i++)
		buf_appendf(&b, "%s%s", i ? ", " : "", list[i]);
	return buf_take(&b, NULL);
}

/* Lexically normalize path (absolute or relative to dir): collapse "//",
 * "." and "..".  Symlinks are not resolved.  Returns a new string. */
static char *resolve_path(const char *dir, const char *path)
{
	char *joined = path[0] == '/' ? xstrdup(path)
				      : xasprintf("%s/%s", dir, path);
	char **parts = xcalloc(strlen(joined) + 1, sizeof(char *));
	size_t n = 0;
	struct buf b;

	for (char *s = joined, *next; s; s = next) {
		next = strchr(s, '/');
		if (next)
			*next++ = '\0';
		if (!*s || !strcmp(s, "."))
			continue;
		if (!strcmp(s, "..")) {
			if (n)
				n--;
			continue;
		}
		parts[n++] = s;
	}
	buf_init(&b, 0);
	for (size_t i = 0; i < n; i++)
		buf_appendf(&b, "/%s", parts[i]);
	if (!n)
		buf_appends(&b, "/");
	free(parts);
	free(joined);
	return buf_take(&b, NULL);
}

/*
 * The first pass: refuse aliases used as keys, recursive aliases, duplicate
 * keys, non-scalar keys and deep nesting.  at is the node to blame if idx
 * turns out to be a recursive alias (its key, or its list).  Nodes are visited in document
 * order, which is the order libyaml created them in, so a key node seen
 * before can only be an alias.
 */
static int check_tree(struct loader *L, int idx, const yaml_node_t *at,
		      bool *seen, bool *active, int depth)
{
	yaml_node_t *n = node_at(L, idx);
	int ret = -1;

	if (active[idx])
		return fail(L, at, "an alias refers to a node that contains it; "
				  "remove the recursive alias");
	if (seen[idx])
		return 0;
	if (depth > MAX_DEPTH)
		return fail(L, n, "nesting deeper than %d levels; flatten it",
			    MAX_DEPTH);
	seen[idx] = active[idx] = true;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++)
			if (check_tree(L, *it, n, seen, active,
				       depth + 1) < 0)
				goto out;
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node_at(L, p->key);

			if (seen[p->key]) {
				/* The key node is the anchored original; its
				 * value is the nearest node on the alias's
				 * line. */
				yaml_node_t *v = node_at(L, p->value);

				fail(L, seen[p->value] ? n : v,
				     "an alias cannot be used as a key; write "
				     "the key out");
				goto out;
			}
			if (k->type != YAML_SCALAR_NODE) {
				fail(L, k, "a key must be a plain name, not a "
					   "list or mapping");
				goto out;
			}
			for (yaml_node_pair_t *q = n->data.mapping.pairs.start;
			     q < p; q++) {
				if (strcmp(text(node_at(L, q->key)), text(k)))
					continue;
				fail(L, k, "key `%s` appears twice in this "
					   "mapping; keep one", text(k));
				goto out;
			}
			if (check_tree(L, p->key, k, seen, active,
				       depth + 1) < 0 ||
			    check_tree(L, p->value, k, seen, active,
				       depth + 1) < 0)
				goto out;
		}
	}
	ret = 0;
out:
	active[idx] = false;
	return ret;
}

/* Refuse keys of mapping n that are not in allowed. */
static int check_keys(struct loader *L, yaml_node_t *n, const char *what,
		      const char *const *allowed)
{
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(L, p->key);
		char *names;

		if (in_list(text(k), allowed))
			continue;
		names = join_names(allowed);
		fail(L, k, "unknown key `%s` in %s; allowed keys: %s", text(k),
		     what, names);
		free(names);
		return -1;
	}
	return 0;
}

static int want_map(struct loader *L, yaml_node_t *n, const char *what)
{
	if (n->type != YAML_MAPPING_NODE)
		return fail(L, n, "`%s` must be a mapping of key: value lines",
			    what);
	return 0;
}

static int want_seq(struct loader *L, yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(L, n, "`%s` must be a list, e.g. [a, b] or lines "
				  "starting with \"- \"", what);
	return 0;
}

static bool is_null(const yaml_node_t *n)
{
	const char *s = text(n);

	return is_plain(n) && (!*s || !strcmp(s, "~") || !strcmp(s, "null") ||
			       !strcmp(s, "Null") || !strcmp(s, "NULL"));
}

/* A scalar's text, refusing lists, mappings and embedded NUL bytes. */
static int want_scalar(struct loader *L, yaml_node_t *n, const char *what,
		       const char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return fail(L, n, "`%s` must be a single value, not a %s", what,
			    n->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
	if (strlen(text(n)) != n->data.scalar.length)
		return fail(L, n, "`%s` contains a NUL character; remove it",
			    what);
	*out = text(n);
	return 0;
}

static int get_str(struct loader *L, yaml_node_t *n, const char *what,
		   char **out)
{
	const char *s;

	if (want_scalar(L, n, what, &s) < 0)
		return -1;
	if (is_null(n))
		return fail(L, n, "`%s` has no value; give one or remove the "
				  "key", what);
	free(*out);
	*out = xstrdup(s);
	return 0;
}

static int parse_bool_word(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		*out = true;
	else if (!strcmp(s, "false") || !strcmp(s, "False") ||
		 !strcmp(s, "FALSE"))
		*out = false;
	else
		return -1;
	return 0;
}

static int get_bool(struct loader *L, yaml_node_t *n, const char *what,
		    bool *out)
{
	const char *s;

	if (want_scalar(L, n, what, &s) < 0)
		return -1;
	if (!is_plain(n) || parse_bool_word(s, out) < 0)
		return fail(L, n, "`%s` must be true or false, not \"%s\"",
			    what, s);
	return 0;
}

static int get_int(struct loader *L, yaml_node_t *n, const char *what,
		   int64_t min, int64_t max, int64_t *out)
{
	const char *s;

	if (want_scalar(L, n, what, &s) < 0)
		return -1;
	if (parse_int64(s, min, max, out) == 0 && *s != ' ')
		return 0;
	if (max == INT64_MAX)
		return fail(L, n, "`%s` must be a whole number of at least "
				  "%lld, not \"%s\"", what, (long long)min, s);
	return fail(L, n, "`%s` must be a whole number between %lld and %lld, "
			  "not \"%s\"", what, (long long)min, (long long)max, s);
}

/* Decimal number syntax: [-+]digits[.digits][e[-+]digits] or .digits. */
static bool number_syntax(const char *s, bool *is_int)
{
	bool digits = false;

	*is_int = true;
	if (*s == '-' || *s == '+')
		s++;
	for (; *s >= '0' && *s <= '9'; s++)
		digits = true;
	if (*s == '.') {
		*is_int = false;
		for (s++; *s >= '0' && *s <= '9'; s++)
			digits = true;
	}
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		*is_int = false;
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static int get_num(struct loader *L, yaml_node_t *n, const char *what,
		   double *out)
{
	const char *s;
	bool is_int;

	if (want_scalar(L, n, what, &s) < 0)
		return -1;
	if (!number_syntax(s, &is_int))
		return fail(L, n, "`%s` must be a number such as 2 or 0.5, not "
				  "\"%s\"", what, s);
	*out = strtod(s, NULL);
	if (!isfinite(*out))
		return fail(L, n, "`%s` is out of range", what);
	return 0;
}

static int get_size(struct loader *L, yaml_node_t *n, const char *what,
		    int64_t *out)
{
	const char *s;

	if (want_scalar(L, n, what, &s) < 0)
		return -1;
	if (parse_size(s, out) < 0)
		return fail(L, n, "`%s` must be a size such as 512M, 1G or 64k, "
				  "not \"%s\"", what, s);
	return 0;
}

static int get_duration(struct loader *L, yaml_node_t *n, const char *what,
			int64_t *out)
{
	const char *s;

	if (want_scalar(L, n, what, &s) < 0)
		return -1;
	if (parse_duration_ms(s, out) < 0)
		return fail(L, n, "`%s` must be a duration such as 300s, 5m, 1h "
				  "or 150ms, not \"%s\"", what, s);
	return 0;
}

/* A list of non-empty strings as a NULL-terminated vector. */
static int get_strv(struct loader *L, yaml_node_t *n, const char *what,
		    bool nonempty, char ***out)
{
	size_t len = 0, i = 0;
	char **v;
	int ret = -1;

	if (want_seq(L, n, what) < 0)
		return -1;
	len = (size_t)(n->data.sequence.items.top -
		       n->data.sequence.items.start);
	if (nonempty && !len)
		return fail(L, n, "`%s` is an empty list; give at least one "
				  "entry", what);
	v = xcalloc(len + 1, sizeof(char *));
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++) {
		yaml_node_t *e = node_at(L, *it);
		const char *s;

		if (want_scalar(L, e, what, &s) < 0)
			goto out;
		if (!*s) {
			fail(L, e, "`%s` has an empty entry; remove it", what);
			goto out;
		}
		v[i++] = xstrdup(s);
	}
	strv_free(*out);
	*out = v;
	v = NULL;
	ret = 0;
out:
	strv_free(v);
	return ret;
}

/* A scalar as JSON: quoted -> string; plain -> null, bool, int, real or
 * string as the YAML core schema says. */
static int scalar_json(struct loader *L, yaml_node_t *n, json_t **out)
{
	const char *s = text(n);
	bool b, is_int;
	int64_t i;

	*out = NULL;
	if (is_plain(n)) {
		if (is_null(n))
			*out = json_null();
		else if (parse_bool_word(s, &b) == 0)
			*out = json_boolean(b);
		else if (number_syntax(s, &is_int)) {
			if (is_int && parse_int64(s, INT64_MIN, INT64_MAX,
						  &i) == 0)
				*out = json_integer(i);
			else if (!is_int && isfinite(strtod(s, NULL)))
				*out = json_real(strtod(s, NULL));
			else
				return fail(L, n, "number %s is out of range",
					    s);
		} else if (!strcmp(s, ".inf") || !strcmp(s, "-.inf") ||
			   !strcmp(s, ".nan") || !strcmp(s, ".NaN")) {
			return fail(L, n, "%s cannot be used here; give a "
					  "finite number", s);
		}
	}
	if (!*out)
		*out = json_stringn(s, n->data.scalar.length);
	if (!*out)
		return fail(L, n, "this value is not valid UTF-8; fix the "
				  "text");
	return 0;
}

static int to_json(struct loader *L, yaml_node_t *n, json_t **out)
{
	json_t *j = NULL, *child;
	int ret = -1;

	*out = NULL;
	if (n->type == YAML_SCALAR_NODE)
		return scalar_json(L, n, out);
	if (n->type == YAML_SEQUENCE_NODE) {
		j = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			if (to_json(L, node_at(L, *it), &child) < 0)
				goto out;
			json_array_append_new(j, child);
		}
	} else {
		j = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node_at(L, p->key);

			if (to_json(L, node_at(L, p->value), &child) < 0)
				goto out;
			if (json_object_set_new(j, text(k), child) < 0) {
				fail(L, k, "key `%s` is not valid UTF-8",
				     text(k));
				goto out;
			}
		}
	}
	*out = j;
	j = NULL;
	ret = 0;
out:
	json_decref(j);
	return ret;
}

/* An executor name; allow_auto also accepts "auto". */
static int get_executor(struct loader *L, yaml_node_t *n, bool allow_auto,
			char **out)
{
	char *names;

	if (get_str(L, n, "executor", out) < 0)
		return -1;
	if (in_list(*out, exec_backend_names) ||
	    (allow_auto && !strcmp(*out, "auto")))
		return 0;
	names = join_names(exec_backend_names);
	fail(L, n, "`executor` \"%s\" is not known; use one of: %s%s", *out,
	     names, allow_auto ? ", auto" : "");
	free(names);
	return -1;
}

static int get_listen(struct loader *L, yaml_node_t *n,
		      struct server_config *s)
{
	const char *v, *colon;
	int64_t port;

	if (want_scalar(L, n, "listen", &v) < 0)
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
	return fail(L, n, "`listen` must be HOST:PORT such as 127.0.0.1:8080, "
			  "0.0.0.0:8080 or [::1]:8080, not \"%s\"", v);
}

static int get_store(struct loader *L, yaml_node_t *n,
		     struct server_config *s)
{
	char *url = NULL;
	int ret = -1;

	if (get_str(L, n, "store", &url) < 0)
		return -1;
	if (str_has_prefix(url, "sqlite:") && url[7]) {
		char *path = resolve_path(L->dir, url + 7);

		s->store_url = xasprintf("sqlite:%s", path);
		free(path);
	} else if (str_has_prefix(url, "postgres://") ||
		   str_has_prefix(url, "postgresql://")) {
		s->store_url = xstrdup(url);
	} else {
		fail(L, n, "`store` must be sqlite:PATH or "
			   "postgres://USER@HOST/DB, not \"%s\"", url);
		goto out;
	}
	ret = 0;
out:
	free(url);
	return ret;
}

static yaml_node_t *map_get(struct loader *L, yaml_node_t *n,
			    const char *key);

/* server.user_limits: {NAME: {max_concurrent_runs: N}, ...} */
static int load_user_limits(struct loader *L, yaml_node_t *n,
			    struct server_config *s)
{
	static const char *const keys[] = { "max_concurrent_runs", NULL };
	size_t len;

	if (want_map(L, n, "user_limits") < 0)
		return -1;
	len = (size_t)(n->data.mapping.pairs.top -
		       n->data.mapping.pairs.start);
	s->user_limits = xcalloc(len + 1, sizeof(*s->user_limits));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(L, p->key), *v = node_at(L, p->value);
		struct user_limit *u = &s->user_limits[s->n_user_limits];
		yaml_node_t *max;

		if (!*text(k))
			return fail(L, k, "`user_limits` needs user names as "
					  "keys");
		u->user = xstrdup(text(k));
		s->n_user_limits++;
		if (want_map(L, v, "user_limits entry") < 0 ||
		    check_keys(L, v, "a `user_limits` entry", keys) < 0)
			return -1;
		max = map_get(L, v, "max_concurrent_runs");
		if (!max)
			return fail(L, v, "give `max_concurrent_runs` for user "
					  "\"%s\"", u->user);
		if (get_int(L, max, "max_concurrent_runs", 0, 1000000,
			    &u->max_concurrent_runs) < 0)
			return -1;
	}
	return 0;
}

/* server.retention: {max_age, max_runs_per_automation, interval} */
static int load_retention(struct loader *L, yaml_node_t *n,
			  struct retention_config *rc)
{
	static const char *const keys[] = { "max_age",
					    "max_runs_per_automation",
					    "interval", NULL };

	if (want_map(L, n, "retention") < 0 ||
	    check_keys(L, n, "`retention`", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = text(node_at(L, p->key));
		yaml_node_t *v = node_at(L, p->value);
		int r = 0;

		if (!strcmp(k, "max_age"))
			r = get_duration(L, v, k, &rc->max_age_ms);
		else if (!strcmp(k, "max_runs_per_automation"))
			r = get_int(L, v, k, 0, INT32_MAX,
				    &rc->max_runs_per_automation);
		else if (!strcmp(k, "interval")) {
			r = get_duration(L, v, k, &rc->interval_ms);
			if (r == 0 && rc->interval_ms < 100)
				r = fail(L, v, "`interval` must be at least "
					       "100ms");
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

static int load_notify(struct loader *L, yaml_node_t *n,
		       const struct notify_def *base, struct notify_def **out);

static int load_server(struct loader *L, yaml_node_t *n, struct config *cfg)
{
	static const char *const keys[] = {
		"listen", "data_dir", "executor", "max_concurrent_runs",
		"log_max_bytes", "max_body_bytes", "stop_grace", "run_user",
		"store", "secrets_file", "max_queued_runs",
		"max_concurrent_runs_per_user", "user_limits", "metrics_public",
		"retention", "notify", NULL,
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
	if (!n || is_null(n))
		goto defaults;
	if (want_map(L, n, "server") < 0 ||
	    check_keys(L, n, "`server`", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = text(node_at(L, p->key));
		yaml_node_t *v = node_at(L, p->value);
		int r = 0;

		if (!strcmp(k, "listen"))
			r = get_listen(L, v, s);
		else if (!strcmp(k, "data_dir")) {
			r = get_str(L, v, k, &s->data_dir);
			if (r == 0) {
				char *abs = resolve_path(L->dir, s->data_dir);

				free(s->data_dir);
				s->data_dir = abs;
			}
		} else if (!strcmp(k, "executor"))
			r = get_executor(L, v, true, &s->executor);
		else if (!strcmp(k, "max_concurrent_runs"))
			r = get_int(L, v, k, 0, 1000000,
				    &s->max_concurrent_runs);
		else if (!strcmp(k, "log_max_bytes"))
			r = get_size(L, v, k, &s->log_max_bytes);
		else if (!strcmp(k, "max_body_bytes"))
			r = get_size(L, v, k, &s->max_body_bytes);
		else if (!strcmp(k, "stop_grace"))
			r = get_duration(L, v, k, &s->stop_grace_ms);
		else if (!strcmp(k, "run_user"))
			r = get_str(L, v, k, &s->run_user);
		else if (!strcmp(k, "store"))
			store = v;
		else if (!strcmp(k, "secrets_file")) {
			r = get_str(L, v, k, &s->secrets_file);
			if (r == 0) {
				char *abs = resolve_path(L->dir,
							 s->secrets_file);

				free(s->secrets_file);
				s->secrets_file = abs;
			}
		} else if (!strcmp(k, "max_queued_runs"))
			r = get_int(L, v, k, 0, 100000000, &s->max_queued_runs);
		else if (!strcmp(k, "max_concurrent_runs_per_user"))
			r = get_int(L, v, k, 0, 1000000,
				    &s->max_concurrent_runs_per_user);
		else if (!strcmp(k, "user_limits"))
			r = load_user_limits(L, v, s);
		else if (!strcmp(k, "metrics_public"))
			r = get_bool(L, v, k, &s->metrics_public);
		else if (!strcmp(k, "retention"))
			r = load_retention(L, v, &s->retention);
		else if (!strcmp(k, "notify"))
			r = load_notify(L, v, NULL, &s->notify);
		if (r < 0)
			return -1;
	}
	if (store && get_store(L, store, s) < 0)
		return -1;
defaults:
	if (!s->data_dir)
		s->data_dir = resolve_path(L->dir, "var");
	if (!s->store_url)
		s->store_url = xasprintf("sqlite:%s/runcell.db", s->data_dir);
	return 0;
}

static int load_executors(struct loader *L, yaml_node_t *n,
			  struct config *cfg)
{
	cfg->executors = json_object();
	if (!n || is_null(n))
		return 0;
	if (want_map(L, n, "executors") < 0 ||
	    check_keys(L, n, "`executors` (backend names)",
		       exec_backend_names) < 0)
		return -1;
	json_decref(cfg->executors);
	cfg->executors = NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *v = node_at(L, p->value);

		if (v->type != YAML_MAPPING_NODE && !is_null(v))
			return fail(L, v, "`executors.%s` must be a mapping of "
					  "settings",
				    text(node_at(L, p->key)));
	}
	return to_json(L, n, &cfg->executors);
}

static bool valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 63 || !((*s >= 'a' && *s <= 'z') ||
				 (*s >= '0' && *s <= '9')))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* [A-Za-z_][A-Za-z0-9_]* plus, if dash, '-' after the first character. */
static bool valid_name(const char *s, bool dash)
{
	static const char first[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";
	size_t n = strlen(s);

	if (!n || !strchr(first, s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!strchr(first, s[i]) && !(s[i] >= '0' && s[i] <= '9') &&
		    !(dash && s[i] == '-'))
			return false;
	return true;
}

/* Which parameter keys apply to which types (bit per enum param_type). */
struct param_key {
	const char *name;
	unsigned types;
	const char *types_text;
};

#define ALL_TYPES 0x3fu
#define T(t) (1u << (t))

static const struct param_key param_keys[] = {
	{ "name", ALL_TYPES, NULL },
	{ "type", ALL_TYPES, NULL },
	{ "description", ALL_TYPES, NULL },
	{ "required", ALL_TYPES, NULL },
	{ "default", ALL_TYPES, NULL },
	{ "pattern", T(PARAM_STRING), "type string" },
	{ "max_length", T(PARAM_STRING), "type string" },
	{ "min", T(PARAM_INTEGER) | T(PARAM_NUMBER),
	  "types integer and number" },
	{ "max", T(PARAM_INTEGER) | T(PARAM_NUMBER),
	  "types integer and number" },
	{ "choices", T(PARAM_CHOICE), "type choice" },
	{ "roots", T(PARAM_PATH), "type path" },
};

static int check_param_keys(struct loader *L, yaml_node_t *n,
			    enum param_type t)
{
	const size_t nkeys = sizeof(param_keys) / sizeof(param_keys[0]);

	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(L, p->key);
		const struct param_key *pk = NULL;
		struct buf b;
		int r;

		for (size_t i = 0; i < nkeys; i++)
			if (!strcmp(text(k), param_keys[i].name))
				pk = &param_keys[i];
		if (pk && (pk->types & T(t)))
			continue;
		if (pk)
			return fail(L, k, "`%s` applies only to %s; remove it "
					  "or change `type`", pk->name,
				    pk->types_text);
		buf_init(&b, 0);
		for (size_t i = 0; i < nkeys; i++)
			if (param_keys[i].types & T(t))
				buf_appendf(&b, "%s%s", b.len ? ", " : "",
					    param_keys[i].name);
		r = fail(L, k, "unknown key `%s`; allowed keys for type %s: "
			       "%s", text(k), type_names[t], b.data);
		buf_free(&b);
		return r;
	}
	return 0;
}

static yaml_node_t *map_get(struct loader *L, yaml_node_t *n, const char *key)
{
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++)
		if (!strcmp(text(node_at(L, p->key)), key))
			return node_at(L, p->value);
	return NULL;
}

static int get_roots(struct loader *L, yaml_node_t *n, char ***out)
{
	char **roots = NULL;
	size_t i = 0;
	int ret = -1;

	if (get_strv(L, n, "roots", true, &roots) < 0)
		return -1;
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++, i++) {
		char *p = resolve_path(L->dir, roots[i]);
		char *real = realpath(p, NULL);
		struct stat st;

		if (!real) {
			fail(L, node_at(L, *it), "`roots` entry \"%s\" cannot "
			     "be used (%s); create it or fix the path", p,
			     strerror(errno));
			free(p);
			goto out;
		}
		free(p);
		free(roots[i]);
		roots[i] = real;
		if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
			fail(L, node_at(L, *it), "`roots` entry \"%s\" is not "
			     "a folder; give a folder", real);
			goto out;
		}
	}
	*out = roots;
	roots = NULL;
	ret = 0;
out:
	strv_free(roots);
	return ret;
}

static int get_pattern(struct loader *L, yaml_node_t *n, struct param_def *p)
{
	char *src = NULL, *anchored;
	char msg[200];
	int r;

	if (get_str(L, n, "pattern", &src) < 0)
		return -1;
	anchored = xasprintf("^(%s)$", src);
	r = regcomp(&p->pattern_re, anchored, REG_EXTENDED | REG_NOSUB);
	free(anchored);
	if (r != 0) {
		regerror(r, &p->pattern_re, msg, sizeof(msg));
		fail(L, n, "`pattern` \"%s\" is not a valid POSIX extended "
			   "regular expression (%s); fix it", src, msg);
		free(src);
		return -1;
	}
	p->pattern = src;
	return 0;
}

/* The default value: checked with the same rules as a request value. */
static int get_default(struct loader *L, yaml_node_t *n, struct param_def *p)
{
	struct rc_err cerr;
	json_t *raw = NULL;
	const char *s;
	int ret = -1;

	if (want_scalar(L, n, "default", &s) < 0)
		return -1;
	if (is_null(n))
		return fail(L, n, "`default` has no value; give one or remove "
				  "the key");
	if (p->type == PARAM_STRING || p->type == PARAM_CHOICE ||
	    p->type == PARAM_PATH)
		raw = json_stringn(s, n->data.scalar.length);
	else if (scalar_json(L, n, &raw) < 0)
		return -1;
	if (!raw)
		return fail(L, n, "`default` is not valid UTF-8");
	rc_err_clear(&cerr);
	if (catalog_param_value(p, raw, &p->def, &cerr) < 0) {
		fail(L, n, "`default` does not pass its own rules: %s; change "
			   "the default", cerr.msg);
		goto out;
	}
	ret = 0;
out:
	json_decref(raw);
	return ret;
}

static int load_param(struct loader *L, yaml_node_t *n, struct automation *a,
		      struct param_def *p)
{
	yaml_node_t *name, *type, *def = NULL;
	char *tname = NULL;
	size_t ti;
	int ret = -1;

	p->line = (int)n->start_mark.line + 1;
	if (want_map(L, n, "parameters entry") < 0)
		return -1;
	name = map_get(L, n, "name");
	type = map_get(L, n, "type");
	if (!name)
		return fail(L, n, "a parameter is missing `name`; add e.g. "
				  "name: source_folder");
	if (get_str(L, name, "name", &p->name) < 0)
		return -1;
	if (!valid_name(p->name, true))
		return fail(L, name, "parameter name \"%s\" is not valid; use "
				     "letters, digits, '_' and '-', starting "
				     "with a letter or '_'", p->name);
	for (size_t i = 0; i < a->n_params - 1; i++)
		if (!strcmp(a->params[i].name, p->name))
			return fail(L, name, "parameter \"%s\" is declared "
					     "twice (also on line %d); rename "
					     "one", p->name, a->params[i].line);
	snprintf(L->where, sizeof(L->where),
		 "automation \"%s\", parameter \"%s\": ", a->id, p->name);
	if (!type)
		return fail(L, n, "`type` is missing; add one of: string, "
				  "integer, number, boolean, choice, path");
	if (get_str(L, type, "type", &tname) < 0)
		return -1;
	for (ti = 0; ti < sizeof(type_names) / sizeof(type_names[0]); ti++)
		if (!strcmp(tname, type_names[ti]))
			break;
	if (ti == sizeof(type_names) / sizeof(type_names[0])) {
		fail(L, type, "`type` \"%s\" is not known; use one of: string, "
			      "integer, number, boolean, choice, path", tname);
		goto out;
	}
	p->type = (enum param_type)ti;
	if (check_param_keys(L, n, p->type) < 0)
		goto out;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	     pr < n->data.mapping.pairs.top; pr++) {
		const char *k = text(node_at(L, pr->key));
		yaml_node_t *v = node_at(L, pr->value);
		int r = 0;

		if (!strcmp(k, "description"))
			r = get_str(L, v, k, &p->description);
		else if (!strcmp(k, "required"))
			r = get_bool(L, v, k, &p->required);
		else if (!strcmp(k, "default"))
			def = v;
		else if (!strcmp(k, "pattern"))
			r = get_pattern(L, v, p);
		else if (!strcmp(k, "max_length"))
			r = get_int(L, v, k, 1, INT32_MAX, &p->max_length);
		else if (!strcmp(k, "min") || !strcmp(k, "max")) {
			double d;
			int64_t i;

			if (p->type == PARAM_INTEGER) {
				r = get_int(L, v, k, INT64_MIN, INT64_MAX, &i);
				d = (double)i;
			} else {
				r = get_num(L, v, k, &d);
			}
			if (k[1] == 'i') {
				p->has_min = true;
				p->min = d;
			} else {
				p->has_max = true;
				p->max = d;
			}
		} else if (!strcmp(k, "choices"))
			r = get_strv(L, v, k, true, &p->choices);
		else if (!strcmp(k, "roots"))
			r = get_roots(L, v, &p->roots);
		if (r < 0)
			goto out;
	}
	if (p->type == PARAM_CHOICE && !p->choices) {
		fail(L, n, "a choice parameter needs `choices`, e.g. "
			   "choices: [a, b]");
		goto out;
	}
	if (p->type == PARAM_PATH && !p->roots) {
		fail(L, n, "a path parameter needs `roots`: the folders its "
			   "value must stay inside, e.g. roots: [/srv]");
		goto out;
	}
	if (p->has_min && p->has_max && p->min > p->max) {
		fail(L, n, "`min` is greater than `max`; swap them");
		goto out;
	}
	if (def && get_default(L, def, p) < 0)
		goto out;
	ret = 0;
out:
	free(tname);
	return ret;
}

static int load_params(struct loader *L, yaml_node_t *n, struct automation *a)
{
	size_t len;

	if (want_seq(L, n, "parameters") < 0)
		return -1;
	len = (size_t)(n->data.sequence.items.top -
		       n->data.sequence.items.start);
	a->params = xcalloc(len + 1, sizeof(*a->params));
	for (size_t i = 0; i < len; i++) {
		a->n_params = i + 1;
		if (load_param(L, node_at(L, n->data.sequence.items.start[i]),
			       a, &a->params[i]) < 0)
			return -1;
		snprintf(L->where, sizeof(L->where), "automation \"%s\": ",
			 a->id);
	}
	return 0;
}

static int load_resources(struct loader *L, yaml_node_t *n,
			  struct resources *res)
{
	static const char *const keys[] = { "cpu", "memory", "pids",
					    "timeout", NULL };

	if (want_map(L, n, "resources") < 0 ||
	    check_keys(L, n, "`resources`", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = text(node_at(L, p->key));
		yaml_node_t *v = node_at(L, p->value);
		int r = 0;

		if (!strcmp(k, "cpu")) {
			r = get_num(L, v, k, &res->cpu);
			if (r == 0 && (res->cpu <= 0 || res->cpu > 4096))
				r = fail(L, v, "`cpu` must be a number of cores "
					       "greater than 0, e.g. 0.5 or 2");
		} else if (!strcmp(k, "memory"))
			r = get_size(L, v, k, &res->memory);
		else if (!strcmp(k, "pids"))
			r = get_int(L, v, k, 1, 4194304, &res->pids);
		else if (!strcmp(k, "timeout"))
			r = get_duration(L, v, k, &res->timeout_ms);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int load_isolation(struct loader *L, yaml_node_t *n,
			  struct isolation *iso)
{
	static const char *const keys[] = { "network", "writable", "readable",
					     "root", NULL };

	if (want_map(L, n, "isolation") < 0 ||
	    check_keys(L, n, "`isolation`", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = text(node_at(L, p->key));
		yaml_node_t *v = node_at(L, p->value);

		if (!strcmp(k, "network")) {
			if (get_bool(L, v, k, &iso->network) < 0)
				return -1;
		} else if (!strcmp(k, "writable") || !strcmp(k, "readable")) {
			char ***list = !strcmp(k, "writable") ? &iso->writable :
								&iso->readable;
			char **given = NULL;

			if (get_strv(L, v, k, false, &given) < 0)
				return -1;
			for (char **w = given; *w; w++) {
				char *abs = resolve_path(L->dir, *w);

				strv_add_unique(list, abs);
				free(abs);
			}
			strv_free(given);
		} else if (!strcmp(k, "root")) {
			char *tmp = NULL, *abs;
			struct stat st;
			int r = get_str(L, v, k, &tmp);

			if (r < 0)
				return -1;
			abs = resolve_path(L->dir, tmp);
			free(tmp);
			free(iso->root);
			iso->root = abs;
			if (stat(abs, &st) < 0 || !S_ISDIR(st.st_mode))
				return fail(L, v, "`root` \"%s\" is not an "
					    "existing folder; create it or fix "
					    "the path", abs);
		}
	}
	return 0;
}

static int load_env(struct loader *L, yaml_node_t *n, struct automation *a)
{
	size_t len, i = 0;

	if (want_map(L, n, "env") < 0)
		return -1;
	len = (size_t)(n->data.mapping.pairs.top -
		       n->data.mapping.pairs.start);
	a->env = xcalloc(len + 1, sizeof(char *));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(L, p->key), *v = node_at(L, p->value);
		const char *name = text(k), *val;

		if (!valid_name(name, false))
			return fail(L, k, "`env` name \"%s\" is not valid; use "
					  "letters, digits and '_', not "
					  "starting with a digit", name);
		if (!strcmp(name, "PATH") || !strcmp(name, "HOME") ||
		    !strcmp(name, "LANG") || str_has_prefix(name, "RUNCELL_"))
			return fail(L, k, "`env` may not set %s: the service "
					  "sets PATH, HOME, LANG and RUNCELL_* "
					  "itself; remove it", name);
		if (want_scalar(L, v, name, &val) < 0)
			return -1;
		a->env[i++] = xasprintf("%s=%s", name, is_null(v) ? "" : val);
	}
	return 0;
}

/* A cell must be able to read the scripts its command names, wherever they
 * live (a checkout under /tmp is invisible behind the cell's private /tmp):
 * the folder of every absolute command element that is a regular file is
 * added to isolation.readable. */
static void add_command_folders(struct automation *a)
{
	for (char **c = a->command; c && *c; c++) {
		struct stat st;
		char *dir, *slash;

		if (**c != '/' || stat(*c, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		dir = xstrdup(*c);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			strv_add_unique(&a->iso.readable, dir);
		}
		free(dir);
	}
}

/* command elements that name files relative to the config (contain '/',
 * are not absolute, options or URLs) are made absolute. */
static int load_command(struct loader *L, yaml_node_t *n, struct automation *a)
{
	if (get_strv(L, n, "command", true, &a->command) < 0)
		return -1;
	for (char **c = a->command; *c; c++) {
		char *abs;

		if (!strchr(*c, '/') || **c == '/' || **c == '-' ||
		    strstr(*c, "://"))
			continue;
		abs = resolve_path(L->dir, *c);
		free(*c);
		*c = abs;
	}
	return 0;
}

/* retries: {max, backoff, on: [failed, timed_out, lost]}; the bits are
 * those of enum run_state (store.h). */
static int load_retries(struct loader *L, yaml_node_t *n,
			struct retry_policy *rp)
{
	static const char *const keys[] = { "max", "backoff", "on", NULL };
	static const char *const states[] = { "failed", "timed_out", "lost",
					      NULL };
	static const unsigned bits[] = { 1u << 4, 1u << 5, 1u << 7 };

	rp->backoff_ms = 10000;
	rp->on_mask = bits[0] | bits[1] | bits[2];
	if (want_map(L, n, "retries") < 0 ||
	    check_keys(L, n, "`retries`", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = text(node_at(L, p->key));
		yaml_node_t *v = node_at(L, p->value);
		char **on = NULL;
		int r = 0;

		if (!strcmp(k, "max"))
			r = get_int(L, v, k, 0, 100, &rp->max);
		else if (!strcmp(k, "backoff"))
			r = get_duration(L, v, k, &rp->backoff_ms);
		else if (!strcmp(k, "on")) {
			r = get_strv(L, v, k, true, &on);
			rp->on_mask = 0;
			for (char **o = on; r == 0 && *o; o++) {
				size_t i = 0;

				while (states[i] && strcmp(states[i], *o))
					i++;
				if (states[i])
					rp->on_mask |= bits[i];
				else
					r = fail(L, v, "`on` entry \"%s\" is "
						 "not a state a run is retried "
						 "from; use failed, timed_out "
						 "or lost", *o);
			}
			strv_free(on);
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

/* concurrency_key must name a declared parameter; a key without
 * `concurrency` means one run per value. */
static int check_concurrency_key(struct loader *L, yaml_node_t *v,
				 yaml_node_t *n, struct automation *a)
{
	for (size_t i = 0; i < a->n_params; i++)
		if (!strcmp(a->params[i].name, a->concurrency_key)) {
			if (!map_get(L, n, "concurrency"))
				a->concurrency = 1;
			return 0;
		}
	return fail(L, v, "`concurrency_key` \"%s\" is not a parameter of "
			  "this automation; name one of its `parameters`",
		    a->concurrency_key);
}

/* --- schedule, webhook, notify --- */

/* The run states notify `on` may name, and their enum run_state bits
 * (store.h; config.h does not depend on the store). */
static const char *const notify_states[] = { "succeeded", "failed",
					     "timed_out", "cancelled", "lost",
					     NULL };
static const unsigned notify_bits[] = { 1u << 3, 1u << 4, 1u << 5, 1u << 6,
					1u << 7 };

static bool env_name_ok(const char *s)
{
	return *s && !(*s >= '0' && *s <= '9') &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(s);
}

/* schedule: "CRON" or {cron, timezone, catch_up, parameters}.  The
 * parameters are checked against the automation later, once its
 * `parameters` are known (see check_schedule_params). */
static int load_schedule(struct loader *L, yaml_node_t *n,
			 struct automation *a)
{
	static const char *const keys[] = { "cron", "timezone", "catch_up",
					    "parameters", NULL };
	struct schedule_def *sd = xcalloc(1, sizeof(*sd));
	yaml_node_t *cron_node = n;
	struct rc_err e;

	a->schedule = sd;
	sd->line = (int)n->start_mark.line + 1;
	sd->catch_up = true;
	if (n->type == YAML_SCALAR_NODE) {
		if (get_str(L, n, "schedule", &sd->cron) < 0)
			return -1;
	} else {
		if (want_map(L, n, "schedule") < 0 ||
		    check_keys(L, n, "`schedule`", keys) < 0)
			return -1;
		cron_node = map_get(L, n, "cron");
		if (!cron_node)
			return fail(L, n, "`schedule` needs `cron`, e.g. "
					  "cron: \"0 3 * * *\"");
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			const char *k = text(node_at(L, p->key));
			yaml_node_t *v = node_at(L, p->value);
			int r = 0;

			if (!strcmp(k, "cron"))
				r = get_str(L, v, k, &sd->cron);
			else if (!strcmp(k, "timezone"))
				r = get_str(L, v, k, &sd->timezone);
			else if (!strcmp(k, "catch_up"))
				r = get_bool(L, v, k, &sd->catch_up);
			else if (!strcmp(k, "parameters")) {
				r = want_map(L, v, "schedule.parameters");
				if (r == 0)
					r = to_json(L, v, &sd->parameters);
			}
			if (r < 0)
				return -1;
		}
	}
	rc_err_clear(&e);
	if (cron_parse(sd->cron, &sd->expr, &e) < 0)
		return fail(L, cron_node, "`schedule`: %s", e.msg);
	if (!sd->timezone)
		sd->timezone = xstrdup("UTC");
	if (tz_load(sd->timezone, &sd->tz, &e) < 0)
		return fail(L, map_get(L, n, "timezone") ?
			       map_get(L, n, "timezone") : n,
			    "`timezone`: %s", e.msg);
	return 0;
}

/* The schedule's parameters must make a valid run of the automation. */
static int check_schedule_params(struct loader *L, yaml_node_t *n,
				 const struct automation *a)
{
	yaml_node_t *at = n->type == YAML_MAPPING_NODE ?
				  map_get(L, n, "parameters") : NULL;
	json_t *norm = NULL;
	struct rc_err e;

	rc_err_clear(&e);
	if (catalog_validate(a, a->schedule->parameters, &norm, &e) < 0)
		return fail(L, at ? at : n, "scheduled runs would be refused: "
			    "%s; give it in schedule.parameters or declare a "
			    "default", e.msg);
	json_decref(norm);
	return 0;
}

/* webhook: {secret_env: NAME}. */
static int load_webhook(struct loader *L, yaml_node_t *n,
			struct automation *a)
{
	static const char *const keys[] = { "secret_env", NULL };
	yaml_node_t *v;

	if (want_map(L, n, "webhook") < 0 ||
	    check_keys(L, n, "`webhook`", keys) < 0)
		return -1;
	v = map_get(L, n, "secret_env");
	if (!v)
		return fail(L, n, "`webhook` needs `secret_env`: the name of "
				  "the environment variable holding the "
				  "HMAC secret, e.g. secret_env: "
				  "DEPLOY_HOOK_SECRET");
	if (get_str(L, v, "secret_env", &a->webhook_secret_env) < 0)
		return -1;
	if (!env_name_ok(a->webhook_secret_env))
		return fail(L, v, "`secret_env` \"%s\" is not an environment "
				  "variable name; use A-Z, 0-9 and _",
			    a->webhook_secret_env);
	return 0;
}

/* notify: {url, on, timeout, attempts}.  base (server.notify, may be
 * NULL) gives the values of keys that are not set here. */
static int load_notify(struct loader *L, yaml_node_t *n,
		       const struct notify_def *base, struct notify_def **out)
{
	static const char *const keys[] = { "url", "on", "timeout",
					    "attempts", NULL };
	struct notify_def *nd = xcalloc(1, sizeof(*nd));

	*out = nd;
	nd->line = (int)n->start_mark.line + 1;
	nd->on_mask = notify_bits[1] | notify_bits[2] | notify_bits[4];
	nd->timeout_ms = 10000;
	nd->attempts = 5;
	if (base) {
		nd->url = xstrdup(base->url);
		nd->on_mask = base->on_mask;
		nd->timeout_ms = base->timeout_ms;
		nd->attempts = base->attempts;
	}
	if (want_map(L, n, "notify") < 0 ||
	    check_keys(L, n, "`notify`", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = text(node_at(L, p->key));
		yaml_node_t *v = node_at(L, p->value);
		char **on = NULL;
		int r = 0;

		if (!strcmp(k, "url")) {
			r = get_str(L, v, k, &nd->url);
			if (r == 0 && ((!str_has_prefix(nd->url, "http://") &&
					!str_has_prefix(nd->url, "https://")) ||
				       strpbrk(nd->url, " \t\r\n")))
				r = fail(L, v, "`url` \"%s\" is not an http:// "
					 "or https:// URL", nd->url);
		} else if (!strcmp(k, "timeout")) {
			r = get_duration(L, v, k, &nd->timeout_ms);
			if (r == 0 && (nd->timeout_ms < 1 ||
				       nd->timeout_ms > 300000))
				r = fail(L, v, "`timeout` must be between "
					 "1ms and 5m");
		} else if (!strcmp(k, "attempts")) {
			r = get_int(L, v, k, 1, 20, &nd->attempts);
		} else if (!strcmp(k, "on")) {
			r = get_strv(L, v, k, false, &on);
			nd->on_mask = 0;
			for (char **o = on; r == 0 && *o; o++) {
				size_t i = 0;

				while (notify_states[i] &&
				       strcmp(notify_states[i], *o))
					i++;
				if (notify_states[i])
					nd->on_mask |= notify_bits[i];
				else
					r = fail(L, v, "`on` entry \"%s\" is "
						 "not a final state; use "
						 "succeeded, failed, timed_out, "
						 "cancelled or lost", *o);
			}
			strv_free(on);
		}
		if (r < 0)
			return -1;
	}
	if (!nd->url)
		return fail(L, n, "`notify` needs `url` (here or in "
				  "server.notify), e.g. url: "
				  "https://hooks.example.com/runcell");
	return 0;
}

static void schedule_free(struct schedule_def *sd)
{
	if (!sd)
		return;
	free(sd->cron);
	cron_free(sd->expr);
	free(sd->timezone);
	tz_free(sd->tz);
	json_decref(sd->parameters);
	free(sd);
}

static void notify_def_free(struct notify_def *nd)
{
	if (!nd)
		return;
	free(nd->url);
	free(nd);
}

static int load_automation(struct loader *L, yaml_node_t *n,
			   struct config *cfg, struct automation *a)
{
	static const char *const keys[] = {
		"id", "name", "description", "command", "parameters",
		"resources", "isolation", "executor", "executor_options",
		"allow", "env", "secrets", "concurrency", "concurrency_key",
		"retries", "schedule", "webhook", "notify", NULL,
	};
	yaml_node_t *id, *ckey = NULL, *sched = NULL;

	a->line = (int)n->start_mark.line + 1;
	L->where[0] = '\0';
	if (want_map(L, n, "automations entry") < 0)
		return -1;
	id = map_get(L, n, "id");
	if (!id)
		return fail(L, n, "an automation is missing `id`; add e.g. "
				  "id: file-organizer");
	if (get_str(L, id, "id", &a->id) < 0)
		return -1;
	if (!valid_id(a->id))
		return fail(L, id, "automation id \"%s\" is not valid; use 1 to "
				   "63 lowercase letters, digits, '_' or '-', "
				   "starting with a letter or digit", a->id);
	for (size_t i = 0; i + 1 < cfg->n_autos; i++)
		if (!strcmp(cfg->autos[i].id, a->id))
			return fail(L, id, "automation id \"%s\" is used twice "
					   "(also on line %d); ids must be "
					   "unique", a->id, cfg->autos[i].line);
	snprintf(L->where, sizeof(L->where), "automation \"%s\": ", a->id);
	if (check_keys(L, n, "an automation", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = text(node_at(L, p->key));
		yaml_node_t *v = node_at(L, p->value);
		int r = 0;

		if (!strcmp(k, "name"))
			r = get_str(L, v, k, &a->name);
		else if (!strcmp(k, "description"))
			r = get_str(L, v, k, &a->description);
		else if (!strcmp(k, "command"))
			r = load_command(L, v, a);
		else if (!strcmp(k, "parameters"))
			r = load_params(L, v, a);
		else if (!strcmp(k, "resources"))
			r = load_resources(L, v, &a->res);
		else if (!strcmp(k, "isolation"))
			r = load_isolation(L, v, &a->iso);
		else if (!strcmp(k, "executor"))
			r = get_executor(L, v, false, &a->executor);
		else if (!strcmp(k, "executor_options")) {
			r = want_map(L, v, k);
			if (r == 0)
				r = to_json(L, v, &a->executor_options);
		} else if (!strcmp(k, "allow")) {
			r = get_strv(L, v, k, false, &a->allow);
			for (char **role = a->allow; r == 0 && *role; role++)
				if (!in_list(*role, role_names))
					r = fail(L, v, "`allow` entry \"%s\" is "
						 "not a role; use viewer, "
						 "operator or admin", *role);
		} else if (!strcmp(k, "env")) {
			r = load_env(L, v, a);
		} else if (!strcmp(k, "concurrency")) {
			r = get_int(L, v, k, 0, 1000000, &a->concurrency);
		} else if (!strcmp(k, "concurrency_key")) {
			r = get_str(L, v, k, &a->concurrency_key);
			ckey = v;
		} else if (!strcmp(k, "retries")) {
			r = load_retries(L, v, &a->retries);
		} else if (!strcmp(k, "schedule")) {
			sched = v;
			r = load_schedule(L, v, a);
		} else if (!strcmp(k, "webhook")) {
			r = load_webhook(L, v, a);
		} else if (!strcmp(k, "notify")) {
			r = load_notify(L, v, cfg->server.notify, &a->notify);
		} else if (!strcmp(k, "secrets")) {
			r = get_strv(L, v, k, false, &a->secrets);
			for (char **sn = a->secrets; r == 0 && *sn; sn++)
				if (!**sn || strspn(*sn, "ABCDEFGHIJKLMNOPQRS"
						    "TUVWXYZ0123456789_") !=
						     strlen(*sn))
					r = fail(L, v, "`secrets` entry \"%s\" "
						 "is not an environment "
						 "variable name; use "
						 "A-Z, 0-9 and _", *sn);
		}
		if (r < 0)
			return -1;
	}
	if (!a->command)
		return fail(L, n, "`command` is missing; add the program and "
				  "its arguments, e.g. command: [python3, "
				  "scripts/job.py]");
	if (a->concurrency_key && check_concurrency_key(L, ckey, n, a) < 0)
		return -1;
	if (sched && check_schedule_params(L, sched, a) < 0)
		return -1;
	if (!a->name)
		a->name = xstrdup(a->id);
	add_command_folders(a);
	L->where[0] = '\0';
	return 0;
}

static int load_automations(struct loader *L, yaml_node_t *n,
			    struct config *cfg)
{
	size_t len;

	if (!n || is_null(n))
		return 0;
	if (want_seq(L, n, "automations") < 0)
		return -1;
	len = (size_t)(n->data.sequence.items.top -
		       n->data.sequence.items.start);
	cfg->autos = xcalloc(len + 1, sizeof(*cfg->autos));
	for (size_t i = 0; i < len; i++) {
		cfg->n_autos = i + 1;
		if (load_automation(L, node_at(L,
					       n->data.sequence.items.start[i]),
				    cfg, &cfg->autos[i]) < 0)
			return -1;
	}
	return 0;
}

static int load_document(struct loader *L, struct config *cfg)
{
	static const char *const keys[] = { "server", "automations",
					    "executors", NULL };
	yaml_node_t *root = yaml_document_get_root_node(L->doc);
	size_t nnodes = (size_t)(L->doc->nodes.top - L->doc->nodes.start);
	bool *seen, *active;
	int r;

	if (!root)
		return fail(L, NULL, "the file is empty; it needs at least "
				     "`automations:` (see examples/runcell.yaml)");
	seen = xcalloc(nnodes + 1, sizeof(bool));
	active = xcalloc(nnodes + 1, sizeof(bool));
	r = check_tree(L, 1, root, seen, active, 0);
	free(seen);
	free(active);
	if (r < 0)
		return -1;
	if (want_map(L, root, "the top level") < 0 ||
	    check_keys(L, root, "the top level", keys) < 0 ||
	    load_server(L, map_get(L, root, "server"), cfg) < 0 ||
	    load_executors(L, map_get(L, root, "executors"), cfg) < 0 ||
	    load_automations(L, map_get(L, root, "automations"), cfg) < 0)
		return -1;
	return 0;
}

static int yaml_problem(struct loader *L, const yaml_parser_t *parser)
{
	if (parser->error == YAML_MEMORY_ERROR)
		return rc_err_set(L->err, ENOMEM, "%s: out of memory", L->file);
	return rc_err_set(L->err, EINVAL, "%s:%d: invalid YAML: %s%s%s; fix "
			  "the syntax", L->file,
			  (int)parser->problem_mark.line + 1,
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
	struct loader L = { .file = path, .err = err };
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
			fail(&L, second, "only one YAML document is allowed; "
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

static void automation_clear(struct automation *a)
{
	for (size_t i = 0; i < a->n_params; i++) {
		struct param_def *p = &a->params[i];

		free(p->name);
		free(p->description);
		json_decref(p->def);
		if (p->pattern)
			regfree(&p->pattern_re);
		free(p->pattern);
		strv_free(p->choices);
		strv_free(p->roots);
	}
	free(a->params);
	free(a->id);
	free(a->name);
	free(a->description);
	strv_free(a->command);
	strv_free(a->iso.writable);
	strv_free(a->iso.readable);
	free(a->iso.root);
	free(a->executor);
	strv_free(a->allow);
	strv_free(a->env);
	strv_free(a->secrets);
	schedule_free(a->schedule);
	free(a->webhook_secret_env);
	notify_def_free(a->notify);
	json_decref(a->executor_options);
	free(a->concurrency_key);
}

/* Free cfg and everything it owns (compiled patterns, JSON values).  Safe
 * with NULL and with a partly built config. */
void config_free(struct config *cfg)
{
	struct server_config *s;

	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_autos; i++)
		automation_clear(&cfg->autos[i]);
	free(cfg->autos);
	s = &cfg->server;
	free(s->listen_host);
	free(s->data_dir);
	free(s->executor);
	free(s->run_user);
	free(s->store_url);
	free(s->secrets_file);
	notify_def_free(s->notify);
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
	return in_list(role, (const char *const *)a->allow);
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

/* "string", "integer", ...; a static string, "unknown" if out of range. */
const char *param_type_name(enum param_type t)
{
	if ((size_t)t >= sizeof(type_names) / sizeof(type_names[0]))
		return "unknown";
	return type_names[t];
}
