/*
 * sandbox.c - the "sandbox" executor: runs under the per-run supervisor
 * (supervisor.h), each in an isolated cell (cell.h).  This file only says
 * how the cell runtime is configured from the service's settings; the
 * launcher opens the runtime once, the supervisors build the cells.
 */
#include "../exec.h"
#include "supervisor.h"

#include <stdlib.h>

/* The pool size when max_concurrent_runs is unlimited; cells past it still
 * start, on slots made on demand (see cell.c). */
#define SANDBOX_DEFAULT_SLOTS 64

int exec_sandbox_open(struct executor *ex, struct rc_err *err)
{
	const struct config *cfg = ex->cfg;
	struct sup_options opt = { .isolate = true };
	char *state_dir, *hidden[4];
	size_t n = 0;
	int ret;

	state_dir = xasprintf("%s/cellrt", cfg->server.data_dir);
	/* The service's data (database, tokens, logs, other runs), the
	 * configuration file and the secrets file are never visible in a
	 * cell.  The config's folder is not hidden: it holds the
	 * automations' scripts. */
	hidden[n++] = cfg->server.data_dir;
	if (cfg->path)
		hidden[n++] = cfg->path;
	if (cfg->server.secrets_file)
		hidden[n++] = cfg->server.secrets_file;
	hidden[n] = NULL;

	opt.cell.state_dir = state_dir;
	opt.cell.run_user = cfg->server.run_user;
	opt.cell.hidden = hidden;
	opt.cell.slots = cfg->server.max_concurrent_runs > 0 ?
				 (int)(cfg->server.max_concurrent_runs < 4096 ?
					       cfg->server.max_concurrent_runs :
					       4096) :
				 SANDBOX_DEFAULT_SLOTS;
	opt.cell.cgroup_root = NULL;
	ret = sup_backend_open(ex, &opt, err);
	free(state_dir);
	return ret;
}
