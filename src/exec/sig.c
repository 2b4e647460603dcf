/*
 * sig.c - signal dispositions for programs about to be exec'd (the process
 * executor's children and the cell's init).
 */
#include "sig.h"

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel's struct sigaction on x86-64 and most 64-bit ABIs. */
struct kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

void sig_reset_dispositions(void)
{
	struct kernel_sigaction ksa;

	memset(&ksa, 0, sizeof(ksa));
	ksa.handler = SIG_DFL;
	for (int i = 1; i <= 64; i++)
		if (i != SIGKILL && i != SIGSTOP)
			(void)syscall(SYS_rt_sigaction, i, &ksa, NULL,
				      sizeof(ksa.mask));
}
