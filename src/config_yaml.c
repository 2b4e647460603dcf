/*
 * config_yaml.c - the YAML side of the configuration loader: reading nodes
 * of the libyaml document as typed values (strings, booleans, whole
 * numbers, numbers, sizes, durations, lists), the first pass that refuses
 * trees the rest must never see, YAML to JSON for free-form sections, and
 * cfg_fail(), which makes every message "FILE:LINE: what is wrong and what
 * to change".
 *
 * Plain YAML scalars are typed as in the YAML 1.2 core schema (null, true,
 * false, integers, floats); quoted scalars are always strings.
 */
#include "config_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"

#define MAX_DEPTH 64

int cfg_fail(struct cfg_loader *L, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[RC_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return rc_err_set(L->err, EINVAL, "%s:%d: %s%s", L->file,
			  n ? (int)n->start_mark.line + 1 : 1, L->where, msg);
}

static bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE &&
	       n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

bool cfg_in_list(const char *s, const char *const *list)
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
char *cfg_resolve_path(const char *dir, const char *path)
{
	char *joined = path[0] == '/' ? xstrdup(path) :
					xasprintf("%s/%s", dir, path);
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
int cfg_check_tree(struct cfg_loader *L, int idx, const yaml_node_t *at,
		   bool *seen, bool *active, int depth)
{
	yaml_node_t *n = cfg_node(L, idx);
	int ret = -1;

	if (active[idx])
		return cfg_fail(L, at,
				"an alias refers to a node that contains it; "
				"remove the recursive alias");
	if (seen[idx])
		return 0;
	if (depth > MAX_DEPTH)
		return cfg_fail(L, n,
				"nesting deeper than %d levels; flatten it",
				MAX_DEPTH);
	seen[idx] = active[idx] = true;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++)
			if (cfg_check_tree(L, *it, n, seen, active, depth + 1) <
			    0)
				goto out;
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = cfg_node(L, p->key);

			if (seen[p->key]) {
				/* The key node is the anchored original; its
				 * value is the nearest node on the alias's
				 * line. */
				yaml_node_t *v = cfg_node(L, p->value);

				cfg_fail(
					L, seen[p->value] ? n : v,
					"an alias cannot be used as a key; write "
					"the key out");
				goto out;
			}
			if (k->type != YAML_SCALAR_NODE) {
				cfg_fail(L, k,
					 "a key must be a plain name, not a "
					 "list or mapping");
				goto out;
			}
			for (yaml_node_pair_t *q = n->data.mapping.pairs.start;
			     q < p; q++) {
				if (strcmp(cfg_text(cfg_node(L, q->key)),
					   cfg_text(k)))
					continue;
				cfg_fail(L, k,
					 "key `%s` appears twice in this "
					 "mapping; keep one",
					 cfg_text(k));
				goto out;
			}
			if (cfg_check_tree(L, p->key, k, seen, active,
					   depth + 1) < 0 ||
			    cfg_check_tree(L, p->value, k, seen, active,
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
int cfg_check_keys(struct cfg_loader *L, yaml_node_t *n, const char *what,
		   const char *const *allowed)
{
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node(L, p->key);
		char *names;

		if (cfg_in_list(cfg_text(k), allowed))
			continue;
		names = join_names(allowed);
		cfg_fail(L, k, "unknown key `%s` in %s; allowed keys: %s",
			 cfg_text(k), what, names);
		free(names);
		return -1;
	}
	return 0;
}

int cfg_want_map(struct cfg_loader *L, yaml_node_t *n, const char *what)
{
	if (n->type != YAML_MAPPING_NODE)
		return cfg_fail(L, n,
				"`%s` must be a mapping of key: value lines",
				what);
	return 0;
}

int cfg_want_seq(struct cfg_loader *L, yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return cfg_fail(L, n,
				"`%s` must be a list, e.g. [a, b] or lines "
				"starting with \"- \"",
				what);
	return 0;
}

bool cfg_is_null(const yaml_node_t *n)
{
	const char *s = cfg_text(n);

	return is_plain(n) && (!*s || !strcmp(s, "~") || !strcmp(s, "null") ||
			       !strcmp(s, "Null") || !strcmp(s, "NULL"));
}

/* A scalar's text, refusing lists, mappings and embedded NUL bytes. */
int cfg_want_scalar(struct cfg_loader *L, yaml_node_t *n, const char *what,
		    const char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return cfg_fail(
			L, n, "`%s` must be a single value, not a %s", what,
			n->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
	if (strlen(cfg_text(n)) != n->data.scalar.length)
		return cfg_fail(
			L, n, "`%s` contains a NUL character; remove it", what);
	*out = cfg_text(n);
	return 0;
}

int cfg_get_str(struct cfg_loader *L, yaml_node_t *n, const char *what,
		char **out)
{
	const char *s;

	if (cfg_want_scalar(L, n, what, &s) < 0)
		return -1;
	if (cfg_is_null(n))
		return cfg_fail(L, n,
				"`%s` has no value; give one or remove the "
				"key",
				what);
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

int cfg_get_bool(struct cfg_loader *L, yaml_node_t *n, const char *what,
		 bool *out)
{
	const char *s;

	if (cfg_want_scalar(L, n, what, &s) < 0)
		return -1;
	if (!is_plain(n) || parse_bool_word(s, out) < 0)
		return cfg_fail(L, n, "`%s` must be true or false, not \"%s\"",
				what, s);
	return 0;
}

int cfg_get_int(struct cfg_loader *L, yaml_node_t *n, const char *what,
		int64_t min, int64_t max, int64_t *out)
{
	const char *s;

	if (cfg_want_scalar(L, n, what, &s) < 0)
		return -1;
	if (parse_int64(s, min, max, out) == 0 && *s != ' ')
		return 0;
	if (max == INT64_MAX)
		return cfg_fail(L, n,
				"`%s` must be a whole number of at least "
				"%lld, not \"%s\"",
				what, (long long)min, s);
	return cfg_fail(L, n,
			"`%s` must be a whole number between %lld and %lld, "
			"not \"%s\"",
			what, (long long)min, (long long)max, s);
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

int cfg_get_num(struct cfg_loader *L, yaml_node_t *n, const char *what,
		double *out)
{
	const char *s;
	bool is_int;

	if (cfg_want_scalar(L, n, what, &s) < 0)
		return -1;
	if (!number_syntax(s, &is_int))
		return cfg_fail(L, n,
				"`%s` must be a number such as 2 or 0.5, not "
				"\"%s\"",
				what, s);
	*out = strtod(s, NULL);
	if (!isfinite(*out))
		return cfg_fail(L, n, "`%s` is out of range", what);
	return 0;
}

int cfg_get_size(struct cfg_loader *L, yaml_node_t *n, const char *what,
		 int64_t *out)
{
	const char *s;

	if (cfg_want_scalar(L, n, what, &s) < 0)
		return -1;
	if (parse_size(s, out) < 0)
		return cfg_fail(L, n,
				"`%s` must be a size such as 512M, 1G or 64k, "
				"not \"%s\"",
				what, s);
	return 0;
}

int cfg_get_duration(struct cfg_loader *L, yaml_node_t *n, const char *what,
		     int64_t *out)
{
	const char *s;

	if (cfg_want_scalar(L, n, what, &s) < 0)
		return -1;
	if (parse_duration_ms(s, out) < 0)
		return cfg_fail(L, n,
				"`%s` must be a duration such as 300s, 5m, 1h "
				"or 150ms, not \"%s\"",
				what, s);
	return 0;
}

/* A list of non-empty strings as a NULL-terminated vector. */
int cfg_get_strv(struct cfg_loader *L, yaml_node_t *n, const char *what,
		 bool nonempty, char ***out)
{
	size_t len = 0, i = 0;
	char **v;
	int ret = -1;

	if (cfg_want_seq(L, n, what) < 0)
		return -1;
	len = (size_t)(n->data.sequence.items.top -
		       n->data.sequence.items.start);
	if (nonempty && !len)
		return cfg_fail(L, n,
				"`%s` is an empty list; give at least one "
				"entry",
				what);
	v = xcalloc(len + 1, sizeof(char *));
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++) {
		yaml_node_t *e = cfg_node(L, *it);
		const char *s;

		if (cfg_want_scalar(L, e, what, &s) < 0)
			goto out;
		if (!*s) {
			cfg_fail(L, e, "`%s` has an empty entry; remove it",
				 what);
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
int cfg_scalar_json(struct cfg_loader *L, yaml_node_t *n, json_t **out)
{
	const char *s = cfg_text(n);
	bool b, is_int;
	int64_t i;

	*out = NULL;
	if (is_plain(n)) {
		if (cfg_is_null(n))
			*out = json_null();
		else if (parse_bool_word(s, &b) == 0)
			*out = json_boolean(b);
		else if (number_syntax(s, &is_int)) {
			if (is_int &&
			    parse_int64(s, INT64_MIN, INT64_MAX, &i) == 0)
				*out = json_integer(i);
			else if (!is_int && isfinite(strtod(s, NULL)))
				*out = json_real(strtod(s, NULL));
			else
				return cfg_fail(L, n,
						"number %s is out of range", s);
		} else if (!strcmp(s, ".inf") || !strcmp(s, "-.inf") ||
			   !strcmp(s, ".nan") || !strcmp(s, ".NaN")) {
			return cfg_fail(L, n,
					"%s cannot be used here; give a "
					"finite number",
					s);
		}
	}
	if (!*out)
		*out = json_stringn(s, n->data.scalar.length);
	if (!*out)
		return cfg_fail(L, n,
				"this value is not valid UTF-8; fix the "
				"text");
	return 0;
}

int cfg_to_json(struct cfg_loader *L, yaml_node_t *n, json_t **out)
{
	json_t *j = NULL, *child;
	int ret = -1;

	*out = NULL;
	if (n->type == YAML_SCALAR_NODE)
		return cfg_scalar_json(L, n, out);
	if (n->type == YAML_SEQUENCE_NODE) {
		j = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			if (cfg_to_json(L, cfg_node(L, *it), &child) < 0)
				goto out;
			json_array_append_new(j, child);
		}
	} else {
		j = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = cfg_node(L, p->key);

			if (cfg_to_json(L, cfg_node(L, p->value), &child) < 0)
				goto out;
			if (json_object_set_new(j, cfg_text(k), child) < 0) {
				cfg_fail(L, k, "key `%s` is not valid UTF-8",
					 cfg_text(k));
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
int cfg_get_executor(struct cfg_loader *L, yaml_node_t *n, bool allow_auto,
		     char **out)
{
	char *names;

	if (cfg_get_str(L, n, "executor", out) < 0)
		return -1;
	if (cfg_in_list(*out, exec_backend_names) ||
	    (allow_auto && !strcmp(*out, "auto")))
		return 0;
	names = join_names(exec_backend_names);
	cfg_fail(L, n, "`executor` \"%s\" is not known; use one of: %s%s", *out,
		 names, allow_auto ? ", auto" : "");
	free(names);
	return -1;
}

yaml_node_t *cfg_map_get(struct cfg_loader *L, yaml_node_t *n, const char *key)
{
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++)
		if (!strcmp(cfg_text(cfg_node(L, p->key)), key))
			return cfg_node(L, p->value);
	return NULL;
}

/* [A-Za-z_][A-Za-z0-9_]* plus, if dash, '-' after the first character. */
bool cfg_valid_name(const char *s, bool dash)
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
