/* ecs.c - placeholder until the ecs backend lands; refuses to open. */
#include "../exec.h"

#include <errno.h>

int exec_ecs_open(struct executor *ex, struct rc_err *err)
{
	(void)ex;
	return rc_err_set(err, ENOSYS, "the ecs executor is not built yet");
}
