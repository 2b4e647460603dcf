/*
 * config_int.h - what the parts of the configuration loader share: the
 * loader state, the YAML node helpers (config_yaml.c), the parameter
 * declarations (config_param.c) and the automation sections
 * (config_auto.c), all called from config.c.  Not for use outside
 * src/config*.c.
 *
 * Every cfg_get_* and cfg_want_* function checks one node and either
 * stores its value or reports "FILE:LINE: ..." in L->err with cfg_fail()
 * and returns -1.  Nothing here keeps a reference to a YAML node.
 */
#ifndef RUNCELL_CONFIG_INT_H
#define RUNCELL_CONFIG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <yaml.h>

#include "config.h"

struct cfg_loader {
	const char *file; /* the path as given, for messages */
	const char *dir;  /* the config file's folder (absolute) */
	yaml_document_t *doc;
	char where[200]; /* context prefix: automation "x": */
	struct rc_err *err;
};

/* The node at index idx of the document (libyaml counts from 1). */
static inline yaml_node_t *cfg_node(struct cfg_loader *L, int idx)
{
	return yaml_document_get_node(L->doc, idx);
}

/* A scalar node's text, borrowed from the document. */
static inline const char *cfg_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* --- config_yaml.c: nodes, values and messages --- */

/* Set L->err to EINVAL and "FILE:LINE: <where><message>", the line being
 * n's (1 without a node).  Always returns -1. */
int cfg_fail(struct cfg_loader *L, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Whether s is one of the NULL-terminated list. */
bool cfg_in_list(const char *s, const char *const *list);

/* path (absolute, or relative to dir) lexically normalized; symlinks are
 * not resolved.  The caller frees the result. */
char *cfg_resolve_path(const char *dir, const char *path);

/* The first pass over the tree below node idx: refuses aliases used as
 * keys, recursive aliases, duplicate and non-scalar keys and nesting
 * deeper than 64.  seen and active have one entry per node (index 1 on);
 * at is the node to blame for a recursive alias.  0 or -1. */
int cfg_check_tree(struct cfg_loader *L, int idx, const yaml_node_t *at,
		   bool *seen, bool *active, int depth);

/* -1, naming the allowed keys, if mapping n has a key not in allowed;
 * what names the mapping in the message. */
int cfg_check_keys(struct cfg_loader *L, yaml_node_t *n, const char *what,
		   const char *const *allowed);

/* -1 unless n is a mapping (cfg_want_map) or a list (cfg_want_seq). */
int cfg_want_map(struct cfg_loader *L, yaml_node_t *n, const char *what);
int cfg_want_seq(struct cfg_loader *L, yaml_node_t *n, const char *what);

/* Whether n is a plain null scalar: empty, ~, null, Null or NULL. */
bool cfg_is_null(const yaml_node_t *n);

/* *out = n's text (borrowed); -1 for a list, a mapping or a NUL byte. */
int cfg_want_scalar(struct cfg_loader *L, yaml_node_t *n, const char *what,
		    const char **out);

/* Typed values.  On success the old *out is replaced (strings: freed, and
 * the new one is the caller's); on failure *out is left as it was, except
 * that cfg_get_int and the number getters may leave it partly written. */
int cfg_get_str(struct cfg_loader *L, yaml_node_t *n, const char *what,
		char **out);
int cfg_get_bool(struct cfg_loader *L, yaml_node_t *n, const char *what,
		 bool *out);
int cfg_get_int(struct cfg_loader *L, yaml_node_t *n, const char *what,
		int64_t min, int64_t max, int64_t *out);
int cfg_get_num(struct cfg_loader *L, yaml_node_t *n, const char *what,
		double *out);
int cfg_get_size(struct cfg_loader *L, yaml_node_t *n, const char *what,
		 int64_t *out);
int cfg_get_duration(struct cfg_loader *L, yaml_node_t *n, const char *what,
		     int64_t *out);
/* A list of non-empty strings as a NULL-terminated vector (strv_free);
 * nonempty refuses an empty list. */
int cfg_get_strv(struct cfg_loader *L, yaml_node_t *n, const char *what,
		 bool nonempty, char ***out);
/* An executor name from exec_backend_names; allow_auto also accepts
 * "auto". */
int cfg_get_executor(struct cfg_loader *L, yaml_node_t *n, bool allow_auto,
		     char **out);

/* YAML to JSON with the YAML 1.2 core schema's types for plain scalars;
 * *out is a new reference, NULL on failure. */
int cfg_scalar_json(struct cfg_loader *L, yaml_node_t *n, json_t **out);
int cfg_to_json(struct cfg_loader *L, yaml_node_t *n, json_t **out);

/* The value of key in mapping n (borrowed), or NULL. */
yaml_node_t *cfg_map_get(struct cfg_loader *L, yaml_node_t *n, const char *key);

/* [A-Za-z_][A-Za-z0-9_]* plus, if dash, '-' after the first character. */
bool cfg_valid_name(const char *s, bool dash);

/* --- config_param.c --- */

/* automation.parameters: fills a->params and a->n_params (which counts
 * the entries seen so far, so that config_free frees a partial list). */
int cfg_load_params(struct cfg_loader *L, yaml_node_t *n, struct automation *a);

/* --- config_auto.c --- */

/* The automations list into cfg->autos and cfg->n_autos (partial on
 * failure; config_free frees it).  cfg->server must be loaded first. */
int cfg_load_automations(struct cfg_loader *L, yaml_node_t *n,
			 struct config *cfg);

/* notify: {url, on, timeout, attempts} into a new *out, set before any
 * check so the caller frees it also on failure (cfg_notify_def_free).
 * base (server.notify, may be NULL) gives the values of keys not set. */
int cfg_load_notify(struct cfg_loader *L, yaml_node_t *n,
		    const struct notify_def *base, struct notify_def **out);

/* Free nd; NULL is fine. */
void cfg_notify_def_free(struct notify_def *nd);

/* Free what a owns, not a itself; a partly loaded automation is fine. */
void cfg_automation_clear(struct automation *a);

#endif
