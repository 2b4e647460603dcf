/*
 * config_param.c - an automation's `parameters`: the declarations that
 * catalog.c checks request values against.  Which keys apply to which
 * type, patterns compiled as anchored POSIX extended expressions, `roots`
 * resolved to existing folders, and defaults checked with the same rules
 * as a request value.
 */
#include "config_int.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog.h"

static const char *const type_names[] = {
	[PARAM_STRING] = "string", [PARAM_INTEGER] = "integer",
	[PARAM_NUMBER] = "number", [PARAM_BOOLEAN] = "boolean",
	[PARAM_CHOICE] = "choice", [PARAM_PATH] = "path",
};

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

static int check_param_keys(struct cfg_loader *L, yaml_node_t *n,
			    enum param_type t)
{
	const size_t nkeys = sizeof(param_keys) / sizeof(param_keys[0]);

	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node(L, p->key);
		const struct param_key *pk = NULL;
		struct buf b;
		int r;

		for (size_t i = 0; i < nkeys; i++)
			if (!strcmp(cfg_text(k), param_keys[i].name))
				pk = &param_keys[i];
		if (pk && (pk->types & T(t)))
			continue;
		if (pk)
			return cfg_fail(L, k,
					"`%s` applies only to %s; remove it "
					"or change `type`",
					pk->name, pk->types_text);
		buf_init(&b, 0);
		for (size_t i = 0; i < nkeys; i++)
			if (param_keys[i].types & T(t))
				buf_appendf(&b, "%s%s", b.len ? ", " : "",
					    param_keys[i].name);
		r = cfg_fail(L, k,
			     "unknown key `%s`; allowed keys for type %s: "
			     "%s",
			     cfg_text(k), type_names[t], b.data);
		buf_free(&b);
		return r;
	}
	return 0;
}

static int get_roots(struct cfg_loader *L, yaml_node_t *n, char ***out)
{
	char **roots = NULL;
	size_t i = 0;
	int ret = -1;

	if (cfg_get_strv(L, n, "roots", true, &roots) < 0)
		return -1;
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++, i++) {
		char *p = cfg_resolve_path(L->dir, roots[i]);
		char *real = realpath(p, NULL);
		struct stat st;

		if (!real) {
			cfg_fail(L, cfg_node(L, *it),
				 "`roots` entry \"%s\" cannot "
				 "be used (%s); create it or fix the path",
				 p, strerror(errno));
			free(p);
			goto out;
		}
		free(p);
		free(roots[i]);
		roots[i] = real;
		if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
			cfg_fail(L, cfg_node(L, *it),
				 "`roots` entry \"%s\" is not "
				 "a folder; give a folder",
				 real);
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

static int get_pattern(struct cfg_loader *L, yaml_node_t *n,
		       struct param_def *p)
{
	char *src = NULL, *anchored;
	char msg[200];
	int r;

	if (cfg_get_str(L, n, "pattern", &src) < 0)
		return -1;
	anchored = xasprintf("^(%s)$", src);
	r = regcomp(&p->pattern_re, anchored, REG_EXTENDED | REG_NOSUB);
	free(anchored);
	if (r != 0) {
		regerror(r, &p->pattern_re, msg, sizeof(msg));
		cfg_fail(L, n,
			 "`pattern` \"%s\" is not a valid POSIX extended "
			 "regular expression (%s); fix it",
			 src, msg);
		free(src);
		return -1;
	}
	p->pattern = src;
	return 0;
}

/* The default value: checked with the same rules as a request value. */
static int get_default(struct cfg_loader *L, yaml_node_t *n,
		       struct param_def *p)
{
	struct rc_err cerr;
	json_t *raw = NULL;
	const char *s;
	int ret = -1;

	if (cfg_want_scalar(L, n, "default", &s) < 0)
		return -1;
	if (cfg_is_null(n))
		return cfg_fail(L, n,
				"`default` has no value; give one or remove "
				"the key");
	if (p->type == PARAM_STRING || p->type == PARAM_CHOICE ||
	    p->type == PARAM_PATH)
		raw = json_stringn(s, n->data.scalar.length);
	else if (cfg_scalar_json(L, n, &raw) < 0)
		return -1;
	if (!raw)
		return cfg_fail(L, n, "`default` is not valid UTF-8");
	rc_err_clear(&cerr);
	if (catalog_param_value(p, raw, &p->def, &cerr) < 0) {
		cfg_fail(L, n,
			 "`default` does not pass its own rules: %s; change "
			 "the default",
			 cerr.msg);
		goto out;
	}
	ret = 0;
out:
	json_decref(raw);
	return ret;
}

static int load_param(struct cfg_loader *L, yaml_node_t *n,
		      struct automation *a, struct param_def *p)
{
	yaml_node_t *name, *type, *def = NULL;
	char *tname = NULL;
	size_t ti;
	int ret = -1;

	p->line = (int)n->start_mark.line + 1;
	if (cfg_want_map(L, n, "parameters entry") < 0)
		return -1;
	name = cfg_map_get(L, n, "name");
	type = cfg_map_get(L, n, "type");
	if (!name)
		return cfg_fail(L, n,
				"a parameter is missing `name`; add e.g. "
				"name: source_folder");
	if (cfg_get_str(L, name, "name", &p->name) < 0)
		return -1;
	if (!cfg_valid_name(p->name, true))
		return cfg_fail(L, name,
				"parameter name \"%s\" is not valid; use "
				"letters, digits, '_' and '-', starting "
				"with a letter or '_'",
				p->name);
	for (size_t i = 0; i < a->n_params - 1; i++)
		if (!strcmp(a->params[i].name, p->name))
			return cfg_fail(L, name,
					"parameter \"%s\" is declared "
					"twice (also on line %d); rename "
					"one",
					p->name, a->params[i].line);
	snprintf(L->where, sizeof(L->where),
		 "automation \"%s\", parameter \"%s\": ", a->id, p->name);
	if (!type)
		return cfg_fail(L, n,
				"`type` is missing; add one of: string, "
				"integer, number, boolean, choice, path");
	if (cfg_get_str(L, type, "type", &tname) < 0)
		return -1;
	for (ti = 0; ti < sizeof(type_names) / sizeof(type_names[0]); ti++)
		if (!strcmp(tname, type_names[ti]))
			break;
	if (ti == sizeof(type_names) / sizeof(type_names[0])) {
		cfg_fail(L, type,
			 "`type` \"%s\" is not known; use one of: string, "
			 "integer, number, boolean, choice, path",
			 tname);
		goto out;
	}
	p->type = (enum param_type)ti;
	if (check_param_keys(L, n, p->type) < 0)
		goto out;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	     pr < n->data.mapping.pairs.top; pr++) {
		const char *k = cfg_text(cfg_node(L, pr->key));
		yaml_node_t *v = cfg_node(L, pr->value);
		int r = 0;

		if (!strcmp(k, "description"))
			r = cfg_get_str(L, v, k, &p->description);
		else if (!strcmp(k, "required"))
			r = cfg_get_bool(L, v, k, &p->required);
		else if (!strcmp(k, "default"))
			def = v;
		else if (!strcmp(k, "pattern"))
			r = get_pattern(L, v, p);
		else if (!strcmp(k, "max_length"))
			r = cfg_get_int(L, v, k, 1, INT32_MAX, &p->max_length);
		else if (!strcmp(k, "min") || !strcmp(k, "max")) {
			double d;
			int64_t i;

			if (p->type == PARAM_INTEGER) {
				r = cfg_get_int(L, v, k, INT64_MIN, INT64_MAX,
						&i);
				d = (double)i;
			} else {
				r = cfg_get_num(L, v, k, &d);
			}
			if (k[1] == 'i') {
				p->has_min = true;
				p->min = d;
			} else {
				p->has_max = true;
				p->max = d;
			}
		} else if (!strcmp(k, "choices"))
			r = cfg_get_strv(L, v, k, true, &p->choices);
		else if (!strcmp(k, "roots"))
			r = get_roots(L, v, &p->roots);
		if (r < 0)
			goto out;
	}
	if (p->type == PARAM_CHOICE && !p->choices) {
		cfg_fail(L, n,
			 "a choice parameter needs `choices`, e.g. "
			 "choices: [a, b]");
		goto out;
	}
	if (p->type == PARAM_PATH && !p->roots) {
		cfg_fail(L, n,
			 "a path parameter needs `roots`: the folders its "
			 "value must stay inside, e.g. roots: [/srv]");
		goto out;
	}
	if (p->has_min && p->has_max && p->min > p->max) {
		cfg_fail(L, n, "`min` is greater than `max`; swap them");
		goto out;
	}
	if (def && get_default(L, def, p) < 0)
		goto out;
	ret = 0;
out:
	free(tname);
	return ret;
}

int cfg_load_params(struct cfg_loader *L, yaml_node_t *n, struct automation *a)
{
	size_t len;

	if (cfg_want_seq(L, n, "parameters") < 0)
		return -1;
	len = (size_t)(n->data.sequence.items.top -
		       n->data.sequence.items.start);
	a->params = xcalloc(len + 1, sizeof(*a->params));
	for (size_t i = 0; i < len; i++) {
		a->n_params = i + 1;
		if (load_param(L, cfg_node(L, n->data.sequence.items.start[i]),
			       a, &a->params[i]) < 0)
			return -1;
		snprintf(L->where, sizeof(L->where),
			 "automation \"%s\": ", a->id);
	}
	return 0;
}

/* "string", "integer", ...; a static string, "unknown" if out of range. */
const char *param_type_name(enum param_type t)
{
	if ((size_t)t >= sizeof(type_names) / sizeof(type_names[0]))
		return "unknown";
	return type_names[t];
}
