/* cell.c - temporary stubs so the tree links; the real cell lands shortly. */
#include "cell.h"

#include <errno.h>

int cell_runtime_open(const struct cell_runtime_config *cfg,
		      struct cell_runtime **out, struct rc_err *err)
{
	(void)cfg;
	*out = NULL;
	return rc_err_set(err, ENOSYS, "the cell runtime is not built yet");
}

void cell_runtime_close(struct cell_runtime *rt)
{
	(void)rt;
}

const char *cell_runtime_describe(const struct cell_runtime *rt)
{
	(void)rt;
	return "none";
}

int cell_spawn(struct cell_runtime *rt, const struct cell_spec *spec,
	       struct cell *out, struct rc_err *err)
{
	(void)rt;
	(void)spec;
	(void)out;
	return rc_err_set(err, ENOSYS, "the cell runtime is not built yet");
}

int cell_kill(struct cell *c)
{
	(void)c;
	return 0;
}

void cell_usage(struct cell *c, struct cell_usage *u)
{
	(void)c;
	*u = (struct cell_usage){ 0 };
}

void cell_free(struct cell *c, int *status)
{
	(void)c;
	if (status)
		*status = 0;
}
