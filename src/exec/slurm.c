/* slurm.c - placeholder until the slurm backend lands; refuses to open. */
#include "../exec.h"

#include <errno.h>

int exec_slurm_open(struct executor *ex, struct rc_err *err)
{
	(void)ex;
	return rc_err_set(err, ENOSYS, "the slurm executor is not built yet");
}
