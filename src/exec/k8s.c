/* k8s.c - placeholder until the k8s backend lands; refuses to open. */
#include "../exec.h"

#include <errno.h>

int exec_k8s_open(struct executor *ex, struct rc_err *err)
{
	(void)ex;
	return rc_err_set(err, ENOSYS, "the k8s executor is not built yet");
}
