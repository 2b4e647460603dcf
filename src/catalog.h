/*
 * catalog.h - what a request may ask of an automation: validating request
 * parameters against the declared schema, applying defaults, building the
 * argv (never a shell), and describing automations as JSON for the API.
 */
#ifndef RUNCELL_CATALOG_H
#define RUNCELL_CATALOG_H

#include <jansson.h>

#include "config.h"
#include "util.h"

/*
 * Validate params (a JSON object, or NULL for none) against a's parameter
 * schema.  Unknown names, missing required parameters, wrong types, pattern,
 * length, range, choice and path-root violations are refused: -1 with
 * err->field naming the parameter and err->msg saying what to change.
 * Values of the right meaning in another JSON form are accepted where
 * unambiguous ("5" for an integer, "true" for a boolean), as the original
 * form-based clients sent strings.
 * On success *normalized is a new object (caller decrefs) holding every
 * parameter that has a value, defaults applied, values in their typed form,
 * paths resolved to absolute canonical paths.
 */
int catalog_validate(const struct automation *a, json_t *params,
		     json_t **normalized, struct rc_err *err);

/*
 * Build the argv for a run: a's command followed by "--name value" for each
 * parameter in declaration order ("--name" alone for true booleans, nothing
 * for false ones).  normalized must come from catalog_validate.  Returns a
 * NULL-terminated array the caller frees with strv_free.
 */
char **catalog_argv(const struct automation *a, json_t *normalized);

/*
 * Check one value against parameter p's rules (type, pattern, length, range,
 * choices, path roots), accepting the same string forms as catalog_validate.
 * value must not be NULL or JSON null.  On success *out is a new reference
 * to the value in its typed, normalized form.  On failure returns -1 with
 * err->field set to p->name and err->msg saying what to change.  config.c
 * uses it to check declared defaults.
 */
int catalog_param_value(const struct param_def *p, json_t *value, json_t **out,
			struct rc_err *err);

/* JSON description of an automation with its parameter schema (new ref). */
json_t *catalog_automation_json(const struct automation *a);

#endif
