/* process.c - placeholder until the process backend lands; refuses to open. */
#include "../exec.h"

#include <errno.h>

int exec_process_open(struct executor *ex, struct rc_err *err)
{
	(void)ex;
	return rc_err_set(err, ENOSYS, "the process executor is not built yet");
}
