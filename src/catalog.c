/*
 * catalog.c - what a request may ask of an automation.
 *
 * Request parameters are checked against the automation's declared schema
 * (config.h struct param_def): unknown names and missing required values are
 * refused, each value is converted to its typed form (accepting the string
 * forms that form-based clients send), and path values are resolved to
 * canonical absolute paths that must stay inside the declared roots.  The
 * argv of a run is then the command followed by "--name value" pairs, each
 * value one argv element: no shell ever sees a parameter.
 */
#include "catalog.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The shortest text of d that reads back as exactly d: whole numbers
 * without an exponent ("100", not "1e+02"), others as "%.Ng". */
static void format_double(double d, char *out, size_t n)
{
	if (d == trunc(d) && fabs(d) < 1e15) {
		snprintf(out, n, "%.0f", d);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, n, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			return;
	}
}

/* "an integer between 1 and 100", "a number of at least 0", ... */
static void describe_range(const struct param_def *p, char *out, size_t n)
{
	const char *what = p->type == PARAM_INTEGER ? "an integer" : "a number";
	char lo[32], hi[32];

	format_double(p->min, lo, sizeof(lo));
	format_double(p->max, hi, sizeof(hi));
	if (p->has_min && p->has_max)
		snprintf(out, n, "%s between %s and %s", what, lo, hi);
	else if (p->has_min)
		snprintf(out, n, "%s of at least %s", what, lo);
	else if (p->has_max)
		snprintf(out, n, "%s of at most %s", what, hi);
	else
		snprintf(out, n, "%s", what);
}

static bool in_range(const struct param_def *p, double v)
{
	return (!p->has_min || v >= p->min) && (!p->has_max || v <= p->max);
}

static int range_error(const struct param_def *p, struct rc_err *err)
{
	char range[128];

	describe_range(p, range, sizeof(range));
	return rc_err_field(err, p->name, "parameter \"%s\" must be %s",
			    p->name, range);
}

static int check_integer(const struct param_def *p, json_t *v, json_t **out,
			 struct rc_err *err)
{
	int64_t i;

	if (json_is_integer(v)) {
		i = json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);

		if (!(d >= -9223372036854775808.0 &&
		      d < 9223372036854775808.0) ||
		    d != trunc(d))
			return range_error(p, err);
		i = (int64_t)d;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		const char *d = s + (*s == '-');

		if (!*d || strspn(d, "0123456789") != strlen(d) ||
		    strlen(s) != json_string_length(v) ||
		    parse_int64(s, INT64_MIN, INT64_MAX, &i) < 0)
			return range_error(p, err);
	} else {
		return range_error(p, err);
	}
	if (!in_range(p, (double)i))
		return range_error(p, err);
	*out = json_integer(i);
	return 0;
}

static int check_number(const struct param_def *p, json_t *v, json_t **out,
			struct rc_err *err)
{
	double d;

	if (json_is_integer(v)) {
		d = (double)json_integer_value(v);
	} else if (json_is_real(v)) {
		d = json_real_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		/* Decimal notation only: no "nan", "inf" or hex floats. */
		if (!*s || strspn(s, "0123456789.eE+-") != strlen(s) ||
		    strlen(s) != json_string_length(v))
			return range_error(p, err);
		errno = 0;
		d = strtod(s, &end);
		if (*end || errno == ERANGE)
			return range_error(p, err);
	} else {
		return range_error(p, err);
	}
	if (!isfinite(d) || !in_range(p, d))
		return range_error(p, err);
	*out = json_real(d);
	return 0;
}

static int check_boolean(const struct param_def *p, json_t *v, json_t **out,
			 struct rc_err *err)
{
	const char *s = json_string_value(v);

	if (json_is_boolean(v))
		*out = json_boolean(json_is_true(v));
	else if (s && !strcmp(s, "true") && json_string_length(v) == 4)
		*out = json_true();
	else if (s && !strcmp(s, "false") && json_string_length(v) == 5)
		*out = json_false();
	else
		return rc_err_field(err, p->name,
				    "parameter \"%s\" must be "
				    "true or false",
				    p->name);
	return 0;
}

/* A string value without NUL bytes, or an error naming p. */
static int want_text(const struct param_def *p, json_t *v, const char **s,
		     struct rc_err *err)
{
	if (!json_is_string(v))
		return rc_err_field(err, p->name,
				    "parameter \"%s\" must be a "
				    "string",
				    p->name);
	*s = json_string_value(v);
	if (strlen(*s) != json_string_length(v))
		return rc_err_field(err, p->name,
				    "parameter \"%s\" must not "
				    "contain NUL characters",
				    p->name);
	return 0;
}

static int check_string(const struct param_def *p, json_t *v, json_t **out,
			struct rc_err *err)
{
	const char *s;
	int64_t chars = 0;

	if (want_text(p, v, &s, err) < 0)
		return -1;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if ((*c & 0xC0) != 0x80)
			chars++;
	if (p->max_length && chars > p->max_length)
		return rc_err_field(err, p->name,
				    "parameter \"%s\" must be at "
				    "most %lld characters long",
				    p->name, (long long)p->max_length);
	if (p->pattern && regexec(&p->pattern_re, s, 0, NULL, 0) != 0)
		return rc_err_field(err, p->name,
				    "parameter \"%s\" must match "
				    "the pattern %s (the whole value)",
				    p->name, p->pattern);
	*out = json_string(s);
	return 0;
}

static int check_choice(const struct param_def *p, json_t *v, json_t **out,
			struct rc_err *err)
{
	const char *s = json_string_value(v);
	struct buf b;

	if (s && strlen(s) == json_string_length(v))
		for (char **c = p->choices; *c; c++)
			if (!strcmp(*c, s)) {
				*out = json_string(s);
				return 0;
			}
	buf_init(&b, 0);
	for (char **c = p->choices; *c; c++)
		buf_appendf(&b, "%s%s", c == p->choices ? "" : ", ", *c);
	rc_err_field(err, p->name, "parameter \"%s\" must be one of: %s",
		     p->name, b.data);
	buf_free(&b);
	return -1;
}

static int outside_roots(const struct param_def *p, struct rc_err *err)
{
	struct buf b;

	buf_init(&b, 0);
	for (char **r = p->roots; *r; r++)
		buf_appendf(&b, "%s%s", r == p->roots ? "" : ", ", *r);
	rc_err_field(err, p->name,
		     "parameter \"%s\" must be an absolute path "
		     "inside %s%s",
		     p->name, p->roots[1] ? "one of: " : "", b.data);
	buf_free(&b);
	return -1;
}

/*
 * Resolve an absolute path without ".." components: realpath of the whole
 * path if it exists, else realpath of the nearest existing parent followed
 * by the components that do not exist yet.  A component that exists but
 * cannot be resolved (a dangling symlink, a loop) is refused, so the result
 * never names something that leads elsewhere.
 */
static int resolve_existing(const struct param_def *p, const char *path,
			    char **out, struct rc_err *err)
{
	char *copy = xstrdup(path), **parts;
	size_t n = 0, k;
	char *real = NULL;
	struct buf b;
	int ret = -1;

	parts = xcalloc(strlen(path) + 1, sizeof(char *));
	for (char *s = copy, *next; s; s = next) {
		next = strchr(s, '/');
		if (next)
			*next++ = '\0';
		if (*s && strcmp(s, "."))
			parts[n++] = s;
	}
	buf_init(&b, 0);
	for (k = n + 1; k-- > 0;) {
		struct stat st;

		buf_free(&b);
		buf_appends(&b, "/");
		for (size_t i = 0; i < k; i++)
			buf_appendf(&b, "%s%s", i ? "/" : "", parts[i]);
		if (k < n) {
			/* parts[k] is the first missing component: it must
			 * really not exist. */
			char *next = xasprintf("%s%s%s", b.data, k ? "/" : "",
					       parts[k]);
			int r = lstat(next, &st);

			free(next);
			if (r == 0) {
				rc_err_field(err, p->name,
					     "parameter \"%s\" "
					     "names a broken symbolic link; "
					     "give a real path",
					     p->name);
				goto out;
			}
		}
		real = realpath(b.data, NULL);
		if (real)
			break;
		if (errno != ENOENT) {
			rc_err_field(err, p->name,
				     "parameter \"%s\" cannot be "
				     "used: %s",
				     p->name, strerror(errno));
			goto out;
		}
	}
	buf_free(&b);
	buf_appends(&b, real);
	for (size_t i = k; i < n; i++)
		buf_appendf(&b, "%s%s", b.len > 1 ? "/" : "", parts[i]);
	*out = buf_take(&b, NULL);
	ret = 0;
out:
	buf_free(&b);
	free(real);
	free(parts);
	free(copy);
	return ret;
}

static int check_path(const struct param_def *p, json_t *v, json_t **out,
		      struct rc_err *err)
{
	const char *s;
	char *resolved = NULL;
	int ret = -1;

	if (want_text(p, v, &s, err) < 0)
		return -1;
	if (s[0] != '/')
		return outside_roots(p, err);
	for (const char *c = s; (c = strstr(c, "..")); c += 2)
		if ((c == s || c[-1] == '/') && (c[2] == '/' || !c[2]))
			return rc_err_field(err, p->name,
					    "parameter \"%s\" "
					    "must not contain \"..\"; give the "
					    "path directly",
					    p->name);
	if (resolve_existing(p, s, &resolved, err) < 0)
		return -1;
	for (char **r = p->roots; *r; r++) {
		size_t len = strlen(*r);

		if (!strcmp(*r, "/") || !strcmp(resolved, *r) ||
		    (!strncmp(resolved, *r, len) && resolved[len] == '/')) {
			*out = json_string(resolved);
			ret = 0;
			goto out;
		}
	}
	outside_roots(p, err);
out:
	free(resolved);
	return ret;
}

int catalog_param_value(const struct param_def *p, json_t *value, json_t **out,
			struct rc_err *err)
{
	*out = NULL;
	switch (p->type) {
	case PARAM_STRING:
		return check_string(p, value, out, err);
	case PARAM_INTEGER:
		return check_integer(p, value, out, err);
	case PARAM_NUMBER:
		return check_number(p, value, out, err);
	case PARAM_BOOLEAN:
		return check_boolean(p, value, out, err);
	case PARAM_CHOICE:
		return check_choice(p, value, out, err);
	case PARAM_PATH:
		return check_path(p, value, out, err);
	}
	return rc_err_field(err, p->name,
			    "parameter \"%s\" has an unknown "
			    "type",
			    p->name);
}

static const struct param_def *find_param(const struct automation *a,
					  const char *name)
{
	for (size_t i = 0; i < a->n_params; i++)
		if (!strcmp(a->params[i].name, name))
			return &a->params[i];
	return NULL;
}

static int unknown_param(const struct automation *a, const char *name,
			 struct rc_err *err)
{
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < a->n_params; i++)
		buf_appendf(&b, "%s%s", i ? ", " : "", a->params[i].name);
	if (a->n_params)
		rc_err_field(err, name,
			     "unknown parameter \"%s\": this "
			     "automation takes %s",
			     name, b.data);
	else
		rc_err_field(err, name,
			     "unknown parameter \"%s\": this "
			     "automation takes no parameters",
			     name);
	buf_free(&b);
	return -1;
}

/*
 * Validate params against a's schema; see catalog.h.  A JSON null value
 * counts as not given, so its default applies.
 */
int catalog_validate(const struct automation *a, json_t *params,
		     json_t **normalized, struct rc_err *err)
{
	json_t *result = NULL, *v, *norm;
	const char *key;
	int ret = -1;

	*normalized = NULL;
	if (params && !json_is_object(params))
		return rc_err_field(err, "parameters",
				    "parameters must be a "
				    "JSON object of name: value");
	json_object_foreach(params, key, v)
		if (!find_param(a, key))
			return unknown_param(a, key, err);
	result = json_object();
	for (size_t i = 0; i < a->n_params; i++) {
		const struct param_def *p = &a->params[i];

		v = params ? json_object_get(params, p->name) : NULL;
		if (!v || json_is_null(v))
			v = p->def;
		if (!v) {
			if (!p->required)
				continue;
			rc_err_field(err, p->name,
				     "parameter \"%s\" is "
				     "required",
				     p->name);
			goto out;
		}
		if (catalog_param_value(p, v, &norm, err) < 0)
			goto out;
		json_object_set_new(result, p->name, norm);
	}
	*normalized = result;
	result = NULL;
	ret = 0;
out:
	json_decref(result);
	return ret;
}

/* Build a run's argv; see catalog.h.  The caller frees with strv_free. */
char **catalog_argv(const struct automation *a, json_t *normalized)
{
	size_t n = strv_len(a->command), len = n;
	char **argv = xcalloc(n + 2 * a->n_params + 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		argv[i] = xstrdup(a->command[i]);
	for (size_t i = 0; i < a->n_params; i++) {
		const struct param_def *p = &a->params[i];
		json_t *v = json_object_get(normalized, p->name);
		char num[40];

		if (!v || (json_is_boolean(v) && !json_is_true(v)))
			continue;
		argv[len++] = xasprintf("--%s", p->name);
		if (json_is_boolean(v))
			continue;
		if (json_is_integer(v)) {
			argv[len++] = xasprintf(
				"%lld", (long long)json_integer_value(v));
		} else if (json_is_real(v)) {
			format_double(json_real_value(v), num, sizeof(num));
			argv[len++] = xstrdup(num);
		} else {
			argv[len++] = xstrdup(json_string_value(v));
		}
	}
	argv[len] = NULL;
	return argv;
}

static json_t *strv_json(char *const *v)
{
	json_t *arr = json_array();

	for (; v && *v; v++)
		json_array_append_new(arr, json_string(*v));
	return arr;
}

/* A bound as JSON: an integer for integer parameters, else a real. */
static json_t *bound_json(const struct param_def *p, double d)
{
	if (p->type == PARAM_INTEGER)
		return json_integer((json_int_t)d);
	return json_real(d);
}

static json_t *param_json(const struct param_def *p)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(p->name));
	json_object_set_new(o, "type", json_string(param_type_name(p->type)));
	json_object_set_new(o, "required", json_boolean(p->required));
	if (p->description)
		json_object_set_new(o, "description",
				    json_string(p->description));
	if (p->def)
		json_object_set(o, "default", p->def);
	if (p->pattern)
		json_object_set_new(o, "pattern", json_string(p->pattern));
	if (p->max_length)
		json_object_set_new(o, "max_length",
				    json_integer(p->max_length));
	if (p->has_min)
		json_object_set_new(o, "min", bound_json(p, p->min));
	if (p->has_max)
		json_object_set_new(o, "max", bound_json(p, p->max));
	if (p->choices)
		json_object_set_new(o, "choices", strv_json(p->choices));
	if (p->roots)
		json_object_set_new(o, "roots", strv_json(p->roots));
	return o;
}

/* Describe a for the API; see catalog.h.  Environment values are not
 * included: they may hold secrets. */
json_t *catalog_automation_json(const struct automation *a)
{
	static char *const default_allow[] = { "operator", "admin", NULL };
	json_t *o = json_object(), *params = json_array(), *res, *iso;

	json_object_set_new(o, "id", json_string(a->id));
	json_object_set_new(o, "name", json_string(a->name ? a->name : a->id));
	json_object_set_new(o, "description",
			    a->description ? json_string(a->description) :
					     json_null());
	for (size_t i = 0; i < a->n_params; i++)
		json_array_append_new(params, param_json(&a->params[i]));
	json_object_set_new(o, "parameters", params);
	res = json_object();
	json_object_set_new(res, "cpu", json_real(a->res.cpu));
	json_object_set_new(res, "memory", json_integer(a->res.memory));
	json_object_set_new(res, "pids", json_integer(a->res.pids));
	if (a->res.timeout_ms % 1000 == 0)
		json_object_set_new(res, "timeout_seconds",
				    json_integer(a->res.timeout_ms / 1000));
	else
		json_object_set_new(
			res, "timeout_seconds",
			json_real((double)a->res.timeout_ms / 1000.0));
	json_object_set_new(o, "resources", res);
	iso = json_object();
	json_object_set_new(iso, "network", json_boolean(a->iso.network));
	json_object_set_new(iso, "writable", strv_json(a->iso.writable));
	json_object_set_new(iso, "readable", strv_json(a->iso.readable));
	json_object_set_new(o, "isolation", iso);
	json_object_set_new(o, "executor",
			    a->executor ? json_string(a->executor) :
					  json_null());
	json_object_set_new(o, "allow",
			    strv_json(a->allow ? a->allow : default_allow));
	return o;
}
