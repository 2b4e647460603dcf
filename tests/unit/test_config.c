/*
 * test_config.c - unit tests for config.c: a file that uses every key,
 * the defaults, relative path resolution, and each kind of error with the
 * line it must point at.  Fixture files live in tests/unit/data/config/;
 * error cases are written inline to a temporary folder so that the YAML and
 * the expected line sit side by side.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog.h"
#include "config.h"
#include "util.h"

static char *tmp_dir;

/* Absolute path of a fixture, found next to this source file. */
static char *fixture(const char *name)
{
	char *src = realpath(__FILE__, NULL);
	char *slash, *path;

	assert_non_null(src);
	slash = strrchr(src, '/');
	*slash = '\0';
	path = xasprintf("%s/data/config/%s", src, name);
	free(src);
	return path;
}

/* Write yaml to TMP/runcell.yaml and load it. */
static int load_text(const char *yaml, struct config **cfg, struct rc_err *err,
		     char **path)
{
	struct rc_err werr;

	*path = xasprintf("%s/runcell.yaml", tmp_dir);
	assert_int_equal(write_file_atomic(*path, yaml, strlen(yaml), &werr),
			 0);
	rc_err_clear(err);
	*cfg = NULL;
	return config_load(*path, cfg, err);
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/test_config.XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	tmp_dir = xstrdup(tmpl);
	return 0;
}

static int teardown(void **state)
{
	rm_rf(tmp_dir);
	free(tmp_dir);
	return 0;
}

static void test_full_file(void **state)
{
	char *path = fixture("full.yaml"), *dir = fixture("");
	struct config *cfg = NULL;
	struct rc_err err;
	const struct automation *a;
	const struct param_def *p;
	char *expect;
	json_t *j;

	dir[strlen(dir) - 1] = '\0';
	rc_err_clear(&err);
	if (config_load(path, &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->dir, dir);

	/* server, with relative data_dir and store resolved */
	assert_string_equal(cfg->server.listen_host, "::1");
	assert_int_equal(cfg->server.listen_port, 9090);
	expect = xasprintf("%.*s/state", (int)(strrchr(dir, '/') - dir), dir);
	assert_string_equal(cfg->server.data_dir, expect);
	free(expect);
	assert_string_equal(cfg->server.executor, "process");
	assert_int_equal(cfg->server.max_concurrent_runs, 4);
	assert_int_equal(cfg->server.log_max_bytes, 2 * 1024 * 1024);
	assert_int_equal(cfg->server.max_body_bytes, 64 * 1024);
	assert_int_equal(cfg->server.stop_grace_ms, 1500);
	assert_string_equal(cfg->server.run_user, "nobody");
	expect = xasprintf("sqlite:%s/db/runcell.db", dir);
	assert_string_equal(cfg->server.store_url, expect);
	free(expect);

	/* executors: YAML scalars typed as JSON */
	j = json_object_get(cfg->executors, "slurm");
	assert_true(json_is_object(j));
	assert_string_equal(json_string_value(json_object_get(j, "partition")),
			    "debug");
	assert_true(json_is_integer(json_object_get(j, "nodes")));
	assert_int_equal(json_integer_value(json_object_get(j, "nodes")), 2);
	assert_true(json_is_real(json_object_get(j, "ratio")));
	assert_true(json_is_true(json_object_get(j, "exclusive")));
	assert_true(json_is_string(json_object_get(j, "account")));
	assert_true(json_is_null(json_object_get(j, "comment")));
	assert_int_equal(json_array_size(json_object_get(j, "extra")), 2);
	assert_non_null(json_object_get(cfg->executors, "ecs"));

	assert_int_equal(cfg->n_autos, 2);
	a = config_automation(cfg, "full-example");
	assert_non_null(a);
	assert_string_equal(a->name, "Full example");
	assert_string_equal(a->description, "Uses every key.");
	assert_int_equal(a->line, 26);

	/* command: "scripts/full.py" resolved, options, absolute paths and
	 * URLs untouched */
	assert_int_equal(strv_len(a->command), 5);
	assert_string_equal(a->command[0], "python3");
	expect = xasprintf("%s/scripts/full.py", dir);
	assert_string_equal(a->command[1], expect);
	free(expect);
	assert_string_equal(a->command[2], "--flag=a/b");
	assert_string_equal(a->command[3], "/bin/true");
	assert_string_equal(a->command[4], "https://example.com/x");

	assert_string_equal(a->executor, "slurm");
	assert_string_equal(json_string_value(json_object_get(
				    a->executor_options, "task_definition")),
			    "worker");
	assert_int_equal(json_integer_value(
				 json_object_get(a->executor_options, "count")),
			 3);
	assert_int_equal(strv_len(a->allow), 2);
	assert_int_equal(strv_len(a->env), 2);
	assert_string_equal(a->env[0], "GREETING=hello");
	assert_string_equal(a->env[1], "EMPTY=");

	assert_true(a->res.cpu == 0.25);
	assert_int_equal(a->res.memory, 256 * 1024 * 1024);
	assert_int_equal(a->res.pids, 64);
	assert_int_equal(a->res.timeout_ms, 300000);
	assert_true(a->iso.network);
	expect = xasprintf("%s/out", dir);
	assert_string_equal(a->iso.writable[0], expect);
	free(expect);
	assert_string_equal(a->iso.writable[1], "/var/tmp");
	assert_null(a->iso.writable[2]);
	assert_string_equal(a->iso.root, "/");

	/* parameters */
	assert_int_equal(a->n_params, 6);
	p = &a->params[0];
	assert_string_equal(p->name, "text");
	assert_int_equal(p->type, PARAM_STRING);
	assert_true(p->required);
	assert_string_equal(p->description, "Some text.");
	assert_string_equal(json_string_value(p->def), "abc");
	assert_string_equal(p->pattern, "[a-z]+");
	assert_int_equal(p->max_length, 10);
	assert_int_equal(p->line, 48);
	p = &a->params[1];
	assert_int_equal(p->type, PARAM_INTEGER);
	assert_true(p->has_min && p->has_max && p->min == 1 && p->max == 100);
	assert_int_equal(json_integer_value(p->def), 5);
	p = &a->params[2];
	assert_int_equal(p->type, PARAM_NUMBER);
	assert_true(p->max == 1.5);
	assert_true(json_real_value(p->def) == 0.5);
	p = &a->params[3];
	assert_int_equal(p->type, PARAM_BOOLEAN);
	assert_true(json_is_false(p->def));
	p = &a->params[4];
	assert_int_equal(p->type, PARAM_CHOICE);
	assert_string_equal(p->choices[1], "slow");
	assert_string_equal(json_string_value(p->def), "slow");
	p = &a->params[5];
	assert_int_equal(p->type, PARAM_PATH);
	assert_string_equal(p->roots[0], "/tmp");
	assert_string_equal(p->roots[1], dir);
	assert_null(p->def);

	/* the second automation takes defaults */
	a = config_automation(cfg, "second");
	assert_non_null(a);
	assert_string_equal(a->name, "second");
	assert_null(a->allow);
	assert_null(a->executor);
	assert_null(config_automation(cfg, "missing"));

	config_free(cfg);
	free(path);
	free(dir);
}

static void test_defaults(void **state)
{
	char *path = fixture("minimal.yaml"), *expect;
	struct config *cfg = NULL;
	struct rc_err err;

	rc_err_clear(&err);
	if (config_load(path, &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(cfg->server.listen_host, "127.0.0.1");
	assert_int_equal(cfg->server.listen_port, 8080);
	expect = xasprintf("%s/var", cfg->dir);
	assert_string_equal(cfg->server.data_dir, expect);
	free(expect);
	expect = xasprintf("sqlite:%s/var/runcell.db", cfg->dir);
	assert_string_equal(cfg->server.store_url, expect);
	free(expect);
	assert_string_equal(cfg->server.executor, "sandbox");
	assert_int_equal(cfg->server.max_concurrent_runs, 64);
	assert_int_equal(cfg->server.log_max_bytes, 10 * 1024 * 1024);
	assert_int_equal(cfg->server.max_body_bytes, 1024 * 1024);
	assert_int_equal(cfg->server.stop_grace_ms, 5000);
	assert_string_equal(cfg->server.run_user, "runcell");
	assert_true(json_is_object(cfg->executors));
	assert_int_equal(json_object_size(cfg->executors), 0);
	assert_int_equal(cfg->n_autos, 1);
	/* "echo" has no '/': it stays a name looked up on PATH */
	assert_string_equal(cfg->autos[0].command[0], "echo");
	assert_int_equal(cfg->autos[0].n_params, 0);
	assert_true(cfg->autos[0].res.cpu == 0);
	assert_false(cfg->autos[0].iso.network);
	config_free(cfg);
	free(path);
}

static void test_roles(void **state)
{
	struct automation a = { 0 };
	char *allow[] = { "viewer", NULL };
	char *none[] = { NULL };

	assert_false(config_role_may_run(&a, "viewer"));
	assert_true(config_role_may_run(&a, "operator"));
	assert_true(config_role_may_run(&a, "admin"));
	assert_false(config_role_may_run(&a, NULL));
	a.allow = allow;
	assert_true(config_role_may_run(&a, "viewer"));
	assert_false(config_role_may_run(&a, "operator"));
	assert_true(config_role_may_run(&a, "admin"));
	a.allow = none;
	assert_false(config_role_may_run(&a, "operator"));
	assert_true(config_role_may_run(&a, "admin"));
	assert_string_equal(param_type_name(PARAM_CHOICE), "choice");
	assert_string_equal(param_type_name(PARAM_PATH), "path");
}

/* Fixture files that must fail, with the line and a piece of the text. */
static void test_fixture_errors(void **state)
{
	static const struct {
		const char *file;
		int line;
		const char *text;
	} cases[] = {
		{ "bad_syntax.yaml", 4, "invalid YAML" },
		{ "unknown_key.yaml", 3,
		  "unknown key `colour` in `server`; allowed keys: listen, " },
		{ "duplicate_id.yaml", 6,
		  "automation id \"same\" is used twice (also on line 2)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = fixture(cases[i].file), *prefix;
		struct config *cfg = NULL;
		struct rc_err err;

		rc_err_clear(&err);
		if (config_load(path, &cfg, &err) == 0)
			fail_msg("%s loaded but must fail", cases[i].file);
		assert_null(cfg);
		prefix = xasprintf("%s:%d: ", path, cases[i].line);
		if (!str_has_prefix(err.msg, prefix) ||
		    !strstr(err.msg, cases[i].text))
			fail_msg("%s: want \"%s...%s\", got \"%s\"",
				 cases[i].file, prefix, cases[i].text, err.msg);
		free(prefix);
		free(path);
	}
}

#define AUTO "automations:\n  - id: a\n    command: [/bin/true]\n"
#define PARAM AUTO "    parameters:\n      - name: p\n"

static const struct error_case {
	const char *what;
	const char *yaml;
	int line;
	const char *text;
} error_cases[] = {
	{ "empty file", "", 1, "the file is empty" },
	{ "top-level list", "- a\n- b\n", 1, "must be a mapping" },
	{ "unknown top-level key", AUTO "servers:\n  listen: x\n", 4,
	  "unknown key `servers` in the top level; allowed keys: server, "
	  "automations, executors" },
	{ "unknown automation key", AUTO "    timeout: 5s\n", 4,
	  "automation \"a\": unknown key `timeout` in an automation; allowed "
	  "keys: id, name" },
	{ "bad integer", "server:\n  max_concurrent_runs: many\n", 2,
	  "`max_concurrent_runs` must be a whole number between 0 and" },
	{ "negative integer", "server:\n  max_concurrent_runs: -1\n", 2,
	  "whole number between 0 and" },
	{ "bad size", "server:\n  log_max_bytes: 10 parsecs\n", 2,
	  "`log_max_bytes` must be a size such as 512M" },
	{ "bad duration", "server:\n  stop_grace: soon\n", 2,
	  "`stop_grace` must be a duration such as 300s" },
	{ "bad listen", "server:\n  listen: 8080\n", 2,
	  "`listen` must be HOST:PORT" },
	{ "bad listen port", "server:\n  listen: \"h:70000\"\n", 2,
	  "`listen` must be HOST:PORT" },
	{ "unknown server executor", "server:\n  executor: docker\n", 2,
	  "`executor` \"docker\" is not known; use one of: process, sandbox" },
	{ "unknown automation executor", AUTO "    executor: auto\n", 4,
	  "`executor` \"auto\" is not known" },
	{ "bad store", "server:\n  store: mysql://x\n", 2,
	  "`store` must be sqlite:PATH or postgres://" },
	{ "bad executors key", "executors:\n  docker: {}\n", 2,
	  "unknown key `docker` in `executors` (backend names)" },
	{ "executors value not a mapping", "executors:\n  ecs: 3\n", 2,
	  "`executors.ecs` must be a mapping" },
	{ "automations not a list", "automations:\n  id: a\n", 2,
	  "`automations` must be a list" },
	{ "missing id", "automations:\n  - command: [x]\n", 2,
	  "an automation is missing `id`" },
	{ "bad id", "automations:\n  - id: Hello World\n", 2,
	  "automation id \"Hello World\" is not valid" },
	{ "missing command", "automations:\n  - id: a\n    name: A\n", 2,
	  "`command` is missing" },
	{ "empty command", "automations:\n  - id: a\n    command: []\n", 3,
	  "`command` is an empty list" },
	{ "scalar command", "automations:\n  - id: a\n    command: ls -l\n", 3,
	  "`command` must be a list" },
	{ "mapping where a scalar is needed",
	  "automations:\n  - id: a\n    name: {x: 1}\n    command: [x]\n", 3,
	  "`name` must be a single value, not a mapping" },
	{ "list where a scalar is needed",
	  "automations:\n  - id: a\n    command: [[x]]\n", 3,
	  "`command` must be a single value, not a list" },
	{ "bad bool", AUTO "    isolation:\n      network: yes\n", 5,
	  "`network` must be true or false" },
	{ "cpu zero", AUTO "    resources:\n      cpu: 0\n", 5,
	  "`cpu` must be a number of cores greater than 0" },
	{ "cpu text", AUTO "    resources:\n      cpu: half\n", 5,
	  "`cpu` must be a number" },
	{ "bad memory", AUTO "    resources:\n      memory: lots\n", 5,
	  "`memory` must be a size" },
	{ "bad timeout", AUTO "    resources:\n      timeout: 5 years\n", 5,
	  "`timeout` must be a duration" },
	{ "unknown resources key", AUTO "    resources:\n      gpu: 1\n", 5,
	  "unknown key `gpu` in `resources`; allowed keys: cpu, memory, pids, "
	  "timeout" },
	{ "missing root", AUTO "    isolation:\n      root: /nonexistent/x\n",
	  5, "`root` \"/nonexistent/x\" is not an existing folder" },
	{ "bad role", AUTO "    allow: [viewer, root]\n", 4,
	  "`allow` entry \"root\" is not a role" },
	{ "env PATH", AUTO "    env:\n      PATH: /x\n", 5,
	  "`env` may not set PATH" },
	{ "env RUNCELL_", AUTO "    env:\n      RUNCELL_RUN_ID: x\n", 5,
	  "`env` may not set RUNCELL_RUN_ID" },
	{ "env bad name", AUTO "    env:\n      1BAD: x\n", 5,
	  "`env` name \"1BAD\" is not valid" },
	{ "param without name", AUTO "    parameters:\n      - type: string\n",
	  5, "a parameter is missing `name`" },
	{ "param bad name", AUTO "    parameters:\n      - name: \"a b\"\n", 5,
	  "parameter name \"a b\" is not valid" },
	{ "param without type", PARAM "        required: true\n", 5,
	  "parameter \"p\": `type` is missing" },
	{ "param unknown type", PARAM "        type: float\n", 6,
	  "`type` \"float\" is not known" },
	{ "param duplicate",
	  PARAM
	  "        type: string\n      - name: p\n        type: integer\n",
	  7, "parameter \"p\" is declared twice (also on line 5)" },
	{ "pattern on integer",
	  PARAM "        type: integer\n        pattern: \"[0-9]+\"\n", 7,
	  "`pattern` applies only to type string" },
	{ "choices on string",
	  PARAM "        type: string\n        choices: [a]\n", 7,
	  "`choices` applies only to type choice" },
	{ "unknown param key", PARAM "        type: boolean\n        flag: 1\n",
	  7,
	  "unknown key `flag`; allowed keys for type boolean: name, "
	  "type, description, required, default" },
	{ "bad regex", PARAM "        type: string\n        pattern: \"a(b\"\n",
	  7,
	  "`pattern` \"a(b\" is not a valid POSIX extended regular "
	  "expression" },
	{ "choice without choices", PARAM "        type: choice\n", 5,
	  "a choice parameter needs `choices`" },
	{ "empty choices", PARAM "        type: choice\n        choices: []\n",
	  7, "`choices` is an empty list" },
	{ "path without roots", PARAM "        type: path\n", 5,
	  "a path parameter needs `roots`" },
	{ "missing root folder",
	  PARAM "        type: path\n        roots: [/nonexistent/dir]\n", 7,
	  "`roots` entry \"/nonexistent/dir\" cannot be used" },
	{ "root is a file",
	  PARAM "        type: path\n        roots: [/etc/passwd]\n", 7,
	  "`roots` entry \"/etc/passwd\" is not a folder" },
	{ "min above max",
	  PARAM "        type: integer\n        min: 5\n        max: 1\n", 5,
	  "`min` is greater than `max`" },
	{ "fractional integer bound",
	  PARAM "        type: integer\n        min: 0.5\n", 7,
	  "`min` must be a whole number" },
	{ "default out of range",
	  PARAM
	  "        type: integer\n        max: 100\n        default: 500\n",
	  8,
	  "`default` does not pass its own rules: parameter \"p\" must be "
	  "an integer of at most 100" },
	{ "default not a choice",
	  PARAM "        type: choice\n        choices: [a, b]\n"
		"        default: c\n",
	  8, "parameter \"p\" must be one of: a, b" },
	{ "default against pattern",
	  PARAM "        type: string\n        pattern: \"[a-z]+\"\n"
		"        default: abc1\n",
	  8, "must match the pattern [a-z]+" },
	{ "default too long",
	  PARAM "        type: string\n        max_length: 2\n"
		"        default: abc\n",
	  8, "must be at most 2 characters long" },
	{ "default wrong type",
	  PARAM "        type: boolean\n        default: 1\n", 7,
	  "must be true or false" },
	{ "default empty", PARAM "        type: string\n        default:\n", 7,
	  "`default` has no value" },
	{ "default outside roots",
	  PARAM "        type: path\n        roots: [/tmp]\n"
		"        default: /etc\n",
	  8, "must be an absolute path inside /tmp" },
	{ "duplicate key", AUTO "    command: [/bin/false]\n", 4,
	  "key `command` appears twice" },
	{ "alias as key", "server:\n  &k run_user: x\n  *k : y\n", 3,
	  "an alias cannot be used as a key" },
	{ "recursive alias", "executors:\n  ecs: &a\n    x: *a\n", 3,
	  "recursive alias" },
	{ "second document", AUTO "---\nautomations: []\n", 5,
	  "only one YAML document is allowed" },
	{ "unterminated quote", "server:\n  run_user: \"x\n", 3,
	  "invalid YAML" },
	{ "tab indentation", "server:\n\tlisten: x\n", 2, "invalid YAML" },
};

static void test_inline_errors(void **state)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]);
	     i++) {
		const struct error_case *c = &error_cases[i];
		struct config *cfg;
		struct rc_err err;
		char *path, *prefix;

		if (load_text(c->yaml, &cfg, &err, &path) == 0)
			fail_msg("case \"%s\" loaded but must fail", c->what);
		assert_null(cfg);
		prefix = xasprintf("%s:%d: ", path, c->line);
		if (!str_has_prefix(err.msg, prefix) ||
		    !strstr(err.msg, c->text))
			fail_msg("case \"%s\": want \"%s...%s\", got \"%s\"",
				 c->what, prefix, c->text, err.msg);
		free(prefix);
		free(path);
	}
}

static void test_missing_file(void **state)
{
	struct config *cfg = NULL;
	struct rc_err err;

	rc_err_clear(&err);
	assert_int_equal(config_load("/nonexistent/runcell.yaml", &cfg, &err),
			 -1);
	assert_null(cfg);
	assert_non_null(
		strstr(err.msg, "cannot open /nonexistent/runcell.yaml"));
}

/* Things that look odd but are valid. */
static void test_valid_corners(void **state)
{
	static const char *const ok[] = {
		"automations: []\n",
		"automations:\n",
		"server:\n  executor: auto\n  listen: \"0.0.0.0:0\"\n",
		"server:\n  store: postgres://runcell@db/runcell\n",
		"server:\nexecutors:\nautomations:\n",
		/* anchors and aliases as values are fine */
		"x-res: &r\n  cpu: 1\n",
	};
	const char *aliases =
		"automations:\n"
		"  - id: a\n    command: [/bin/true]\n"
		"    resources: &res {cpu: 2, memory: 1G}\n"
		"  - id: b\n    command: [/bin/true]\n    resources: *res\n"
		"    parameters:\n"
		"      - {name: n, type: integer, required: true, default: \"7\"}\n"
		"      - {name: s, type: string, default: 123}\n";
	struct config *cfg;
	struct rc_err err;
	char *path;

	for (size_t i = 0; i < 5; i++) {
		if (load_text(ok[i], &cfg, &err, &path) < 0)
			fail_msg("case %zu: %s", i, err.msg);
		config_free(cfg);
		free(path);
	}
	if (load_text(aliases, &cfg, &err, &path) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(cfg->autos[1].res.memory, 1024 * 1024 * 1024);
	assert_true(cfg->autos[1].res.cpu == 2);
	/* a quoted "7" default is normalized to the integer 7; a plain 123
	 * for a string parameter stays the text "123" */
	assert_true(json_is_integer(cfg->autos[1].params[0].def));
	assert_int_equal(json_integer_value(cfg->autos[1].params[0].def), 7);
	assert_string_equal(json_string_value(cfg->autos[1].params[1].def),
			    "123");
	assert_string_equal(cfg->server.listen_host, "127.0.0.1");
	config_free(cfg);
	free(path);
	/* unknown top-level keys are refused, even x- ones */
	assert_int_equal(load_text(ok[5], &cfg, &err, &path), -1);
	free(path);
}

/* The shipped demo configuration loads and means what it says. */
static void test_example_file(void **state)
{
	char *path = fixture("../../../../examples/runcell.yaml");
	struct config *cfg = NULL;
	const struct automation *a;
	struct rc_err err;
	json_t *norm;
	char **argv;

	rc_err_clear(&err);
	if (config_load(path, &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(cfg->server.max_concurrent_runs, 8);
	assert_string_equal(cfg->server.executor, "sandbox");
	assert_non_null(strstr(cfg->server.data_dir, "/var"));
	assert_null(strstr(cfg->server.data_dir, ".."));
	assert_non_null(config_automation(cfg, "file-organizer"));
	assert_non_null(config_automation(cfg, "disk-usage"));
	assert_true(config_automation(cfg, "url-check")->iso.network);
	a = config_automation(cfg, "hello");
	assert_non_null(a);
	assert_int_equal(a->res.pids, 64);
	assert_int_equal(catalog_validate(a, NULL, &norm, &err), 0);
	argv = catalog_argv(a, norm);
	assert_string_equal(argv[0], "python3");
	assert_true(argv[1][0] == '/');
	assert_non_null(strstr(argv[1], "/examples/scripts/hello.py"));
	assert_string_equal(argv[3], "world");
	assert_string_equal(argv[5], "3");
	assert_string_equal(argv[7], "0.5");
	assert_null(argv[8]);
	strv_free(argv);
	json_decref(norm);
	config_free(cfg);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_fixture_errors),
		cmocka_unit_test(test_inline_errors),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_valid_corners),
		cmocka_unit_test(test_example_file),
	};

	return cmocka_run_group_tests_name("config", tests, setup, teardown);
}
