/* sandbox.c - placeholder until the sandbox backend lands; refuses to open. */
#include "../exec.h"

#include <errno.h>

int exec_sandbox_open(struct executor *ex, struct rc_err *err)
{
	(void)ex;
	return rc_err_set(err, ENOSYS, "the sandbox executor is not built yet");
}
