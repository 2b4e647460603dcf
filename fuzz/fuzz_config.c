/*
 * fuzz_config.c - libFuzzer target for the YAML configuration loader:
 * the input is a whole runcell.yaml, written to a file in a private
 * folder and loaded with config_load, exactly as `runcell check-config`
 * and the server do.
 *
 * Besides crashes, leaks and undefined behaviour it checks the loader's
 * contract: a refusal has a message that starts with the file's path (the
 * "FILE:LINE: message" form), and a loaded config has the invariants the
 * rest of the service relies on (an absolute data folder, each
 * automation with an id and a command).
 *
 * Relative paths in the input resolve inside the private folder; nothing
 * outside it is written (config_load only reads).
 */
#include <fcntl.h>

#include "fuzz_common.h"

static char *dir, *path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	dir = fuzz_tmpdir("config");
	path = xasprintf("%s/runcell.yaml", dir);
	/* Secrets a fuzzed config may name; the loader does not read them
	 * but keep the environment predictable. */
	setenv("FUZZ_SECRET", FUZZ_SECRET_VALUE, 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	struct rc_err err;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, data, size) < 0)
		abort();
	close(fd);
	rc_err_clear(&err);
	if (config_load(path, &cfg, &err) < 0) {
		if (!str_has_prefix(err.msg, path)) {
			fprintf(stderr, "error without FILE: %s\n", err.msg);
			abort();
		}
		return 0;
	}
	if (!cfg->server.data_dir || cfg->server.data_dir[0] != '/')
		abort();
	for (size_t i = 0; i < cfg->n_autos; i++) {
		const struct automation *a = &cfg->autos[i];

		if (!a->id || !a->command || !a->command[0])
			abort();
		if (config_automation(cfg, a->id) != a)
			abort(); /* duplicate ids must be refused */
	}
	config_free(cfg);
	return 0;
}
