/*
 * process.c - the "process" executor: programs run as plain child processes
 * (no isolation), each under its own supervisor so that it survives a
 * restart of the service.  A development fallback for hosts where cells
 * cannot be built; the machinery is shared with "sandbox" (supervisor.h).
 */
#include "../exec.h"
#include "supervisor.h"

int exec_process_open(struct executor *ex, struct rc_err *err)
{
	struct sup_options opt = { .isolate = false };

	return sup_backend_open(ex, &opt, err);
}
