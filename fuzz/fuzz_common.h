/*
 * fuzz_common.h - what the libFuzzer targets share: a private temporary
 * folder, the fixture configuration (one automation with a parameter of
 * every type) written into it and loaded, and small input helpers.
 *
 * Each target includes this file once; everything here is static.  The
 * fixture is built at start-up so that the targets do not depend on the
 * folder they are run from.
 */
#ifndef RUNCELL_FUZZ_COMMON_H
#define RUNCELL_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fixture: @DIR@ becomes the temporary folder.  "fuzz" has one
 * parameter of each type and a secret (FUZZ_SECRET, set by
 * fuzz_fixture_load) whose value must never leave unmasked. */
static const char fuzz_fixture_yaml[] =
	"server:\n"
	"  listen: 127.0.0.1:0\n"
	"  data_dir: @DIR@/data\n"
	"  executor: process\n"
	"  max_body_bytes: 64K\n"
	"  log_max_bytes: 64K\n"
	"  max_queued_runs: 200\n"
	"automations:\n"
	"  - id: fuzz\n"
	"    name: Fuzz\n"
	"    description: Every parameter type.\n"
	"    command: [/bin/echo, fixed-arg]\n"
	"    secrets: [FUZZ_SECRET]\n"
	"    parameters:\n"
	"      - {name: message, type: string, required: true, "
	"max_length: 100}\n"
	"      - {name: count, type: integer, min: 1, max: 5, default: 1}\n"
	"      - {name: loud, type: boolean, default: false}\n"
	"      - {name: color, type: choice, choices: [red, green], "
	"default: red}\n"
	"      - {name: ratio, type: number, min: 0, max: 1}\n"
	"      - {name: folder, type: path, roots: [\"@DIR@/files\"]}\n"
	"      - {name: code, type: string, pattern: \"[A-Z]{3}-[0-9]+\"}\n"
	"  - id: admin-only\n"
	"    command: [/bin/true]\n"
	"    allow: [admin]\n";

#define FUZZ_SECRET_VALUE "s3cr3t-fuzz-value"

/* A fresh temporary folder (never removed: the fuzzer exits with
 * _exit-like paths).  Aborts on failure. */
static inline char *fuzz_tmpdir(const char *tag)
{
	char *dir = xasprintf("/tmp/runcell-fuzz-%s-XXXXXX", tag);

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		abort();
	}
	return dir;
}

/* Replace every "@DIR@" in text by dir (new string). */
static inline char *fuzz_subst_dir(const char *text, const char *dir)
{
	struct buf b;
	const char *p;

	buf_init(&b, 0);
	while ((p = strstr(text, "@DIR@"))) {
		buf_append(&b, text, (size_t)(p - text));
		buf_appends(&b, dir);
		text = p + 5;
	}
	buf_appends(&b, text);
	return buf_take(&b, NULL);
}

/* Write the fixture into dir and load it; aborts if it does not load
 * (the fixture itself is wrong then). */
static inline struct config *fuzz_fixture_load(const char *dir)
{
	struct config *cfg = NULL;
	struct rc_err err;
	char *path = xasprintf("%s/runcell.yaml", dir);
	char *files = xasprintf("%s/files", dir);
	char *sub = xasprintf("%s/files/sub", dir);
	char *text = fuzz_subst_dir(fuzz_fixture_yaml, dir);

	setenv("FUZZ_SECRET", FUZZ_SECRET_VALUE, 1);
	mkdir(files, 0755);
	mkdir(sub, 0755);
	if (write_file_atomic(path, text, strlen(text), &err) < 0 ||
	    config_load(path, &cfg, &err) < 0) {
		fprintf(stderr, "fuzz fixture: %s\n", err.msg);
		abort();
	}
	free(text);
	free(sub);
	free(files);
	free(path);
	return cfg;
}

/* A NUL-terminated copy of the input (caller frees). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);

	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
