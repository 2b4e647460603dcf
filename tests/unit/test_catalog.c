/*
 * test_catalog.c - unit tests for catalog.c: parameter validation for every
 * type, defaults, unknown and missing parameters, the string forms accepted
 * for typed values, path roots (with ".." and symlink escapes in a
 * temporary folder tree), argv building and the JSON description.
 *
 * The automations are loaded from YAML written to the temporary folder, so
 * the schema goes through config_load exactly as in production.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog.h"
#include "config.h"
#include "util.h"

static char *tmp; /* canonical temporary folder */
static struct config *cfg;

static const char yaml_fmt[] =
	"automations:\n"
	"  - id: demo\n"
	"    command: [/usr/bin/python3, /opt/demo.py]\n"
	"    parameters:\n"
	"      - {name: source_folder, type: path, required: true,\n"
	"         roots: [%s/data, %s/other]}\n"
	"      - name: organize_by\n"
	"        type: choice\n"
	"        choices: [extension, date, size]\n"
	"        default: extension\n"
	"      - {name: count, type: integer, min: 1, max: 100, default: 10}\n"
	"      - {name: ratio, type: number, min: 0, max: 10}\n"
	"      - {name: dry_run, type: boolean, default: false}\n"
	"      - {name: verbose, type: boolean}\n"
	"      - {name: label, type: string, pattern: \"[a-z]+|x[0-9]\",\n"
	"         max_length: 5}\n"
	"      - {name: note, type: string}\n"
	"      - {name: big, type: integer}\n"
	"  - id: bare\n"
	"    command: [/bin/true]\n"
	"    allow: [viewer]\n"
	"    resources: {cpu: 0.5, memory: 256M, pids: 64, timeout: 300s}\n"
	"    isolation: {network: true, writable: [/var/tmp]}\n";

static void make_dir(const char *rel)
{
	char *p = xasprintf("%s/%s", tmp, rel);

	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
}

static void make_link(const char *target, const char *rel)
{
	char *p = xasprintf("%s/%s", tmp, rel);

	assert_int_equal(symlink(target, p), 0);
	free(p);
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/test_catalog.XXXXXX";
	char *yaml, *path, *file;
	struct rc_err err;

	assert_non_null(mkdtemp(tmpl));
	tmp = realpath(tmpl, NULL);
	make_dir("data");
	make_dir("data/sub");
	make_dir("data2");
	make_dir("other");
	make_dir("outside");
	make_link("../outside", "data/escape");
	make_link("sub", "data/inner");
	make_link("/nonexistent/target", "data/dangling");
	file = xasprintf("%s/data/file.txt", tmp);
	assert_int_equal(write_file_atomic(file, "x", 1, &err), 0);
	free(file);

	yaml = xasprintf(yaml_fmt, tmp, tmp);
	path = xasprintf("%s/runcell.yaml", tmp);
	assert_int_equal(write_file_atomic(path, yaml, strlen(yaml), &err), 0);
	rc_err_clear(&err);
	if (config_load(path, &cfg, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	free(yaml);
	free(path);
	return 0;
}

static int teardown(void **state)
{
	config_free(cfg);
	rm_rf(tmp);
	free(tmp);
	return 0;
}

static const struct automation *demo(void)
{
	const struct automation *a = config_automation(cfg, "demo");

	assert_non_null(a);
	return a;
}

/* Validate JSON text against demo; on success return the normalized object,
 * on failure NULL with *err filled. */
static json_t *check(const char *params_json, struct rc_err *err)
{
	json_error_t jerr;
	json_t *params, *out = NULL;
	struct buf b;

	buf_init(&b, 0);
	for (const char *s = params_json; *s; s++) {
		if (s[0] == '@' && s[1] == '/')
			buf_appends(&b, tmp);
		else
			buf_append(&b, s, 1);
	}
	params = json_loads(b.data, 0, &jerr);
	buf_free(&b);
	if (!params)
		fail_msg("bad test JSON %s: %s", params_json, jerr.text);
	rc_err_clear(err);
	if (catalog_validate(demo(), params, &out, err) < 0)
		assert_null(out);
	json_decref(params);
	return out;
}

/* A path parameter value inside the test tree. */
static json_t *check_path(const char *rel, struct rc_err *err)
{
	char *j = xasprintf("{\"source_folder\": \"%s%s\"}", tmp, rel);
	json_t *out = check(j, err);

	free(j);
	return out;
}

static void expect_ok(const char *params_json, json_t **out)
{
	struct rc_err err;

	*out = check(params_json, &err);
	if (!*out)
		fail_msg("%s refused: %s", params_json, err.msg);
}

static void expect_refused(const char *params_json, const char *field,
			   const char *msg)
{
	struct rc_err err;
	json_t *out = check(params_json, &err);

	if (out)
		fail_msg("%s accepted", params_json);
	if (strcmp(err.field, field) || !strstr(err.msg, msg))
		fail_msg("%s: want field %s and \"%s\", got field %s \"%s\"",
			 params_json, field, msg, err.field, err.msg);
}

/* "@/" in test JSON stands for the temporary tree. */
#define SRC "\"source_folder\": \"@/data\""

static void test_defaults_and_required(void **state)
{
	char *j = xasprintf("{\"source_folder\": \"%s/data\"}", tmp);
	char *want = xasprintf("%s/data", tmp);
	json_t *out;

	expect_ok(j, &out);
	/* defaults applied; parameters without value or default absent */
	assert_string_equal(
		json_string_value(json_object_get(out, "source_folder")), want);
	assert_string_equal(
		json_string_value(json_object_get(out, "organize_by")),
		"extension");
	assert_int_equal(json_integer_value(json_object_get(out, "count")), 10);
	assert_true(json_is_false(json_object_get(out, "dry_run")));
	assert_null(json_object_get(out, "ratio"));
	assert_null(json_object_get(out, "verbose"));
	assert_null(json_object_get(out, "label"));
	assert_int_equal(json_object_size(out), 4);
	json_decref(out);
	free(j);

	/* null counts as not given */
	j = xasprintf("{\"source_folder\": \"%s/data\", \"count\": null}", tmp);
	expect_ok(j, &out);
	assert_int_equal(json_integer_value(json_object_get(out, "count")), 10);
	json_decref(out);
	free(j);
	free(want);

	expect_refused("{}", "source_folder",
		       "parameter \"source_folder\" is required");
	expect_refused("{\"source_folder\": null}", "source_folder",
		       "is required");
}

static void test_unknown_and_shape(void **state)
{
	struct rc_err err;
	json_t *out = NULL, *p;
	const struct automation *bare = config_automation(cfg, "bare");

	expect_refused("{\"foo\": 1}", "foo",
		       "unknown parameter \"foo\": this automation takes "
		       "source_folder, organize_by, count, ratio, dry_run, "
		       "verbose, label, note, big");
	p = json_pack("{s:i}", "x", 1);
	rc_err_clear(&err);
	assert_int_equal(catalog_validate(bare, p, &out, &err), -1);
	assert_string_equal(err.msg, "unknown parameter \"x\": this automation "
				     "takes no parameters");
	json_decref(p);
	p = json_pack("[i]", 1);
	assert_int_equal(catalog_validate(bare, p, &out, &err), -1);
	assert_non_null(strstr(err.msg, "must be a JSON object"));
	json_decref(p);
	assert_int_equal(catalog_validate(bare, NULL, &out, &err), 0);
	assert_int_equal(json_object_size(out), 0);
	json_decref(out);
}

static void test_integer(void **state)
{
	static const char *const good[][2] = {
		{ "5", "5" }, { "\"5\"", "5" }, { "100", "100" },
		{ "1", "1" }, { "7.0", "7" },	{ "\"099\"", "99" },
	};
	static const char *const bad[] = {
		"0",	"101",	  "5.5",    "\"5.5\"",	"\"abc\"",
		"\"\"", "\" 5\"", "\"5 \"", "\"0x10\"", "\"+5\"",
		"true", "[5]",	  "1e300",
	};
	const char *msg = "parameter \"count\" must be an integer between 1 "
			  "and 100";

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *j = xasprintf("{" SRC ", \"count\": %s}", good[i][0]);
		json_t *out;

		expect_ok(j, &out);
		assert_true(json_is_integer(json_object_get(out, "count")));
		assert_int_equal(
			json_integer_value(json_object_get(out, "count")),
			strtoll(good[i][1], NULL, 10));
		json_decref(out);
		free(j);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *j = xasprintf("{" SRC ", \"count\": %s}", bad[i]);

		expect_refused(j, "count", msg);
		free(j);
	}
	/* no range: the whole int64 range, nothing beyond it */
	{
		json_t *out;

		expect_ok("{" SRC ", \"big\": \"-9223372036854775808\"}", &out);
		assert_true(json_integer_value(json_object_get(out, "big")) ==
			    INT64_MIN);
		json_decref(out);
		expect_refused("{" SRC ", \"big\": \"9223372036854775808\"}",
			       "big", "parameter \"big\" must be an integer");
		expect_refused("{" SRC ", \"big\": 9.3e18}", "big",
			       "must be an integer");
	}
}

static void test_number(void **state)
{
	json_t *out;

	expect_ok("{" SRC ", \"ratio\": \"2.5\"}", &out);
	assert_true(json_is_real(json_object_get(out, "ratio")));
	assert_true(json_real_value(json_object_get(out, "ratio")) == 2.5);
	json_decref(out);
	expect_ok("{" SRC ", \"ratio\": 10}", &out);
	assert_true(json_real_value(json_object_get(out, "ratio")) == 10.0);
	json_decref(out);
	expect_ok("{" SRC ", \"ratio\": \"1e-3\"}", &out);
	json_decref(out);
	expect_ok("{" SRC ", \"ratio\": 0}", &out);
	json_decref(out);

	static const char *const bad[] = {
		"10.5",	   "-0.1",	"\"nan\"",   "\"NaN\"",
		"\"inf\"", "\"1e999\"", "\"0x1p3\"", "\"2.5x\"",
		"\"\"",	   "false",	"{}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *j = xasprintf("{" SRC ", \"ratio\": %s}", bad[i]);

		expect_refused(j, "ratio",
			       "parameter \"ratio\" must be a "
			       "number between 0 and 10");
		free(j);
	}
}

static void test_boolean(void **state)
{
	json_t *out;

	expect_ok("{" SRC ", \"verbose\": true, \"dry_run\": \"true\"}", &out);
	assert_true(json_is_true(json_object_get(out, "verbose")));
	assert_true(json_is_true(json_object_get(out, "dry_run")));
	json_decref(out);
	expect_ok("{" SRC ", \"verbose\": \"false\"}", &out);
	assert_true(json_is_false(json_object_get(out, "verbose")));
	json_decref(out);
	expect_refused("{" SRC ", \"verbose\": 1}", "verbose",
		       "parameter \"verbose\" must be true or false");
	expect_refused("{" SRC ", \"verbose\": \"yes\"}", "verbose",
		       "must be true or false");
	expect_refused("{" SRC ", \"verbose\": \"TRUE\"}", "verbose",
		       "must be true or false");
}

static void test_string(void **state)
{
	json_t *out, *params;
	char *folder;
	struct rc_err err;

	/* the pattern must match the whole value, alternation included */
	expect_ok("{" SRC ", \"label\": \"abc\"}", &out);
	json_decref(out);
	expect_ok("{" SRC ", \"label\": \"x1\"}", &out);
	json_decref(out);
	expect_refused("{" SRC ", \"label\": \"abc1\"}", "label",
		       "parameter \"label\" must match the pattern "
		       "[a-z]+|x[0-9]");
	expect_refused("{" SRC ", \"label\": \"1abc\"}", "label",
		       "must match the pattern");
	expect_refused("{" SRC ", \"label\": \"abx1\"}", "label",
		       "must match the pattern");
	expect_refused("{" SRC ", \"label\": \"\"}", "label",
		       "must match the pattern");
	/* max_length counts characters, not bytes */
	expect_ok("{" SRC ", \"note\": \"\\u00e9\\u00e9\"}", &out);
	json_decref(out);
	expect_refused("{" SRC ", \"label\": \"abcdef\"}", "label",
		       "parameter \"label\" must be at most 5 characters long");
	expect_refused("{" SRC ", \"note\": 5}", "note",
		       "parameter \"note\" must be a string");
	/* shell syntax is just text */
	expect_ok("{" SRC ", \"note\": \"; rm -rf / $(x) `y` | z\"}", &out);
	json_decref(out);
	/* an embedded NUL is refused */
	folder = xasprintf("%s/data", tmp);
	params = json_pack("{s:s, s:s#}", "source_folder", folder, "note",
			   "a\0b", (size_t)3);
	free(folder);
	rc_err_clear(&err);
	out = NULL;
	assert_int_equal(catalog_validate(demo(), params, &out, &err), -1);
	assert_string_equal(err.field, "note");
	assert_non_null(strstr(err.msg, "must not contain NUL"));
	assert_null(out);
	json_decref(params);
}

static void test_choice(void **state)
{
	json_t *out;

	expect_ok("{" SRC ", \"organize_by\": \"date\"}", &out);
	assert_string_equal(
		json_string_value(json_object_get(out, "organize_by")), "date");
	json_decref(out);
	expect_refused("{" SRC ", \"organize_by\": \"name\"}", "organize_by",
		       "parameter \"organize_by\" must be one of: extension, "
		       "date, size");
	expect_refused("{" SRC ", \"organize_by\": \"Date\"}", "organize_by",
		       "must be one of");
	expect_refused("{" SRC ", \"organize_by\": 1}", "organize_by",
		       "must be one of");
}

static void test_path(void **state)
{
	struct rc_err err;
	json_t *out;
	char *want;
	static const struct {
		const char *rel;  /* value relative to the test tree */
		const char *want; /* canonical result, or NULL = refused */
	} cases[] = {
		{ "/data", "/data" },
		{ "/data/", "/data" },
		{ "/other", "/other" },
		{ "/data/sub", "/data/sub" },
		{ "/data/./sub//", "/data/sub" },
		{ "/data/file.txt", "/data/file.txt" },
		/* does not exist yet: nearest existing parent + the rest */
		{ "/data/new/deeper", "/data/new/deeper" },
		/* a symlink inside the root is resolved */
		{ "/data/inner", "/data/sub" },
		{ "/data/inner/new", "/data/sub/new" },
		/* refused */
		{ "/data/../outside", NULL },
		{ "/data/sub/..", NULL },
		{ "/data/escape", NULL },
		{ "/data/escape/new", NULL },
		{ "/data/dangling", NULL },
		{ "/data2", NULL },
		{ "/data2/x", NULL },
		{ "/outside", NULL },
		{ "", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		out = check_path(cases[i].rel, &err);
		if (!cases[i].want) {
			if (out)
				fail_msg("%s accepted as %s", cases[i].rel,
					 json_string_value(json_object_get(
						 out, "source_folder")));
			assert_string_equal(err.field, "source_folder");
			continue;
		}
		if (!out)
			fail_msg("%s refused: %s", cases[i].rel, err.msg);
		want = xasprintf("%s%s", tmp, cases[i].want);
		assert_string_equal(json_string_value(json_object_get(
					    out, "source_folder")),
				    want);
		free(want);
		json_decref(out);
	}
	out = check_path("/data/../data", &err);
	assert_null(out);
	assert_non_null(strstr(err.msg, "must not contain \"..\""));
	out = check_path("/data/escape", &err);
	assert_non_null(strstr(err.msg, "must be an absolute path inside "
					"one of: "));
	out = check_path("/data/file.txt/x", &err);
	assert_null(out);
	expect_refused("{\"source_folder\": \"data\"}", "source_folder",
		       "must be an absolute path inside");
	expect_refused("{\"source_folder\": \"/etc\"}", "source_folder",
		       "must be an absolute path inside");
	expect_refused("{\"source_folder\": 3}", "source_folder",
		       "must be a string");
	/* a name that merely contains dots is fine */
	out = check_path("/data/..hidden", &err);
	if (!out)
		fail_msg("..hidden refused: %s", err.msg);
	json_decref(out);
}

static void test_argv(void **state)
{
	char *j = xasprintf(
		"{\"note\": \"; rm -rf /\", \"verbose\": true, \"ratio\": 0.1,"
		" \"count\": \"42\", \"source_folder\": \"%s/data\","
		" \"dry_run\": false, \"big\": -7}",
		tmp);
	char *folder = xasprintf("%s/data", tmp);
	const char *want[] = {
		"/usr/bin/python3",
		"/opt/demo.py",
		"--source_folder",
		folder,
		"--organize_by",
		"extension",
		"--count",
		"42",
		"--ratio",
		"0.1",
		"--verbose",
		"--note",
		"; rm -rf /",
		"--big",
		"-7",
		NULL,
	};
	json_t *out;
	char **argv;
	size_t i;

	expect_ok(j, &out);
	argv = catalog_argv(demo(), out);
	for (i = 0; want[i]; i++) {
		if (!argv[i])
			fail_msg("argv ends at %zu, want %s", i, want[i]);
		assert_string_equal(argv[i], want[i]);
	}
	assert_null(argv[i]);
	strv_free(argv);
	json_decref(out);
	free(j);

	/* numbers are written so they read back exactly */
	j = xasprintf("{\"source_folder\": \"%s/data\", \"ratio\": %s}", tmp,
		      "2.0000000000000004");
	expect_ok(j, &out);
	argv = catalog_argv(demo(), out);
	assert_string_equal(argv[8], "--ratio");
	assert_true(strtod(argv[9], NULL) == 2.0000000000000004);
	assert_string_equal(argv[9], "2.0000000000000004");
	strv_free(argv);
	json_decref(out);
	free(j);
	free(folder);
}

static void test_json(void **state)
{
	json_t *o = catalog_automation_json(demo()), *p, *res;
	const struct automation *bare = config_automation(cfg, "bare");
	char *root;

	assert_string_equal(json_string_value(json_object_get(o, "id")),
			    "demo");
	assert_string_equal(json_string_value(json_object_get(o, "name")),
			    "demo");
	p = json_object_get(o, "parameters");
	assert_int_equal(json_array_size(p), 9);
	/* keys that apply only */
	res = json_array_get(p, 0);
	assert_string_equal(json_string_value(json_object_get(res, "type")),
			    "path");
	assert_true(json_is_true(json_object_get(res, "required")));
	root = xasprintf("%s/data", tmp);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(res, "roots"), 0)),
			    root);
	free(root);
	assert_null(json_object_get(res, "choices"));
	assert_null(json_object_get(res, "default"));
	res = json_array_get(p, 1);
	assert_int_equal(json_array_size(json_object_get(res, "choices")), 3);
	assert_string_equal(json_string_value(json_object_get(res, "default")),
			    "extension");
	assert_null(json_object_get(res, "min"));
	res = json_array_get(p, 2);
	assert_int_equal(json_integer_value(json_object_get(res, "min")), 1);
	assert_int_equal(json_integer_value(json_object_get(res, "max")), 100);
	assert_true(json_is_false(json_object_get(res, "required")));
	res = json_array_get(p, 6);
	assert_string_equal(json_string_value(json_object_get(res, "pattern")),
			    "[a-z]+|x[0-9]");
	assert_int_equal(json_integer_value(json_object_get(res, "max_length")),
			 5);
	assert_null(json_object_get(res, "roots"));
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(o, "allow"), 0)),
			    "operator");
	assert_true(json_is_null(json_object_get(o, "executor")));
	json_decref(o);

	o = catalog_automation_json(bare);
	res = json_object_get(o, "resources");
	assert_true(json_real_value(json_object_get(res, "cpu")) == 0.5);
	assert_int_equal(json_integer_value(json_object_get(res, "memory")),
			 256 * 1024 * 1024);
	assert_int_equal(json_integer_value(json_object_get(res, "pids")), 64);
	assert_int_equal(
		json_integer_value(json_object_get(res, "timeout_seconds")),
		300);
	res = json_object_get(o, "isolation");
	assert_true(json_is_true(json_object_get(res, "network")));
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(res, "writable"), 0)),
			    "/var/tmp");
	assert_int_equal(json_array_size(json_object_get(o, "allow")), 1);
	assert_int_equal(json_array_size(json_object_get(o, "parameters")), 0);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_required),
		cmocka_unit_test(test_unknown_and_shape),
		cmocka_unit_test(test_integer),
		cmocka_unit_test(test_number),
		cmocka_unit_test(test_boolean),
		cmocka_unit_test(test_string),
		cmocka_unit_test(test_choice),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests_name("catalog", tests, setup, teardown);
}
