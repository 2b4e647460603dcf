/*
 * exec.c - choosing an executor backend by name.  Each backend lives in its
 * own file under src/exec/ and exposes one constructor (declared in exec.h)
 * that fills ex->ops and ex->priv.
 */
#include "../exec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct backend {
	const char *name;
	int (*open)(struct executor *ex, struct rc_err *err);
};

static const struct backend backends[] = {
	{ "process", exec_process_open },
	{ "sandbox", exec_sandbox_open },
	{ "slurm", exec_slurm_open },
	{ "ecs", exec_ecs_open },
	{ "kubernetes", exec_k8s_open },
};

const char *const exec_backend_names[] = {
	"process", "sandbox", "slurm", "ecs", "kubernetes", NULL,
};

int exec_open(const char *name, const struct config *cfg,
	      exec_event_fn on_event, void *ctx, struct executor **out,
	      struct rc_err *err)
{
	struct executor *ex;

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strcmp(backends[i].name, name) != 0)
			continue;
		ex = xcalloc(1, sizeof(*ex));
		ex->on_event = on_event;
		ex->event_ctx = ctx;
		ex->cfg = cfg;
		if (backends[i].open(ex, err) < 0) {
			free(ex);
			return rc_err_wrap(err, "executor %s", name);
		}
		*out = ex;
		return 0;
	}
	return rc_err_set(err, EINVAL,
			  "unknown executor \"%s\": use one of process, "
			  "sandbox, slurm, ecs, kubernetes",
			  name);
}

void exec_close(struct executor *ex)
{
	if (!ex)
		return;
	if (ex->ops && ex->ops->close)
		ex->ops->close(ex);
	free(ex);
}
