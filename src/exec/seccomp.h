/*
 * seccomp.h - the cell's system-call filter, compiled once and loaded per
 * cell.  Private to the cell runtime.
 */
#ifndef RUNCELL_SECCOMP_H
#define RUNCELL_SECCOMP_H

#include <linux/filter.h>

#include "../util.h"

/* Compile the filter (see seccomp.c for the policy) into out; out->filter
 * is owned by the caller (free with cell_seccomp_free).  Returns -1 with a
 * message if libseccomp cannot build it. */
int cell_seccomp_build(struct sock_fprog *out, struct rc_err *err);
void cell_seccomp_free(struct sock_fprog *prog);

/* Load prog into the calling process.  Needs no_new_privs (or
 * CAP_SYS_ADMIN).  Returns 0 or -errno; safe to call after fork. */
int cell_seccomp_load(const struct sock_fprog *prog);

#endif
