/*
 * fuzz_params.c - libFuzzer target for the path a run request's body takes
 * to a program's argv: JSON text -> catalog_validate -> catalog_argv, for
 * the fixture automation "fuzz" (one parameter of every type).
 *
 * The input is a request body ("@DIR@" in it stands for the fixture's
 * folder, the root of the path parameter).  When it is {"automation":..,
 * "parameters":{..}} the parameters object is validated (as POST
 * /api/v1/runs does); any other object is taken as the parameters
 * themselves.  Beyond "no crash, no leak, no undefined behaviour" it checks
 * what the README promises:
 *  - argv starts with the automation's command and is NULL-terminated;
 *  - every other element is "--NAME" of a declared parameter, followed by
 *    exactly one value element unless it is a boolean;
 *  - validating the normalized parameters again gives the same object
 *    (normalizing is idempotent), so what is stored re-validates.
 */
#include <assert.h>

#include <jansson.h>

#include "catalog.h"
#include "fuzz_common.h"

static char *dir; /* kept (reachable) until exit */
static struct config *cfg;
static const struct automation *aut;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	dir = fuzz_tmpdir("params");
	cfg = fuzz_fixture_load(dir);
	aut = config_automation(cfg, "fuzz");
	if (!aut)
		abort();
	return 0;
}

static const struct param_def *find_param(const char *name)
{
	for (size_t i = 0; i < aut->n_params; i++)
		if (!strcmp(aut->params[i].name, name))
			return &aut->params[i];
	return NULL;
}

static void check_argv(char **argv)
{
	size_t i = 0;

	for (; aut->command[i]; i++) {
		if (!argv[i] || strcmp(argv[i], aut->command[i]))
			abort(); /* the command prefix was changed */
	}
	while (argv[i]) {
		const struct param_def *p;

		if (strncmp(argv[i], "--", 2) != 0)
			abort(); /* a value where a flag belongs */
		p = find_param(argv[i] + 2);
		if (!p)
			abort(); /* a flag for an undeclared parameter */
		i++;
		if (p->type == PARAM_BOOLEAN)
			continue;
		if (!argv[i])
			abort(); /* a flag without its value */
		i++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *body, *params, *norm = NULL, *again = NULL;
	struct rc_err err;
	char **argv;

	/* "@DIR@" is the fixture's folder (path parameters' root). */
	if (memmem(data, size, "@DIR@", 5)) {
		char *in = fuzz_cstr(data, size);
		char *text = fuzz_subst_dir(in, dir);

		body = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
		free(text);
		free(in);
	} else {
		body = json_loadb((const char *)data, size,
				  JSON_REJECT_DUPLICATES, &jerr);
	}
	if (!body)
		return 0;
	params = body;
	if (json_is_object(body) && json_object_get(body, "automation"))
		params = json_object_get(body, "parameters");
	if (params && json_is_null(params))
		params = NULL;
	rc_err_clear(&err);
	if (catalog_validate(aut, params, &norm, &err) < 0) {
		/* A refusal must say which parameter and what to change. */
		if (!err.msg[0])
			abort();
		goto out;
	}
	argv = catalog_argv(aut, norm);
	check_argv(argv);
	strv_free(argv);
	if (catalog_validate(aut, norm, &again, &err) < 0 ||
	    !json_equal(norm, again)) {
		fprintf(stderr,
			"normalized parameters do not re-validate "
			"to themselves: %s\n",
			err.msg);
		abort();
	}
out:
	json_decref(again);
	json_decref(norm);
	json_decref(body);
	return 0;
}
