/*
 * cgroup_int.h - what cgroup.c (detection, the pool) and cgroup_slot.c
 * (per-run slot work) share.  Private to those two files and the cell
 * unit test.
 */
#ifndef RUNCELL_CGROUP_INT_H
#define RUNCELL_CGROUP_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"

enum { C_MEMORY, C_CPU, C_CPUACCT, C_PIDS, C_FREEZER, CG_NCTRL };

extern const char *const cg_ctrl_names[CG_NCTRL];

#define CG_CPU_PERIOD 100000 /* µs, the kernel's default CFS period */
#define CG_KILL_ROUNDS 400   /* cg_slot_kill: ~2 s at most */

struct cg {
	enum cg_mode mode;
	bool plain;	      /* a plain folder tree (tests): create files */
	bool use_unified;     /* hybrid: use the cgroup2 slot too */
	char *v1[CG_NCTRL];   /* v1 parent folder per controller, or NULL */
	int attach[CG_NCTRL]; /* controllers whose hierarchy is distinct */
	int n_attach;
	bool memsw;   /* v1 memory.memsw.* exists (swap accounting) */
	char *v2;     /* cgroup2 parent folder, or NULL */
	bool v2_kill; /* cgroup.kill exists (Linux 5.14) */
	char desc[768];
};

/* Write val to dir/file (created in a plain tree); 0 or -errno. */
int cg_write(const struct cg *cg, const char *dir, const char *file,
	     const char *val);
/* Read dir/file into buf (NUL-terminated); its length or -errno. */
ssize_t cg_read(const char *dir, const char *file, char *buf, size_t n);
/* The number after "key " on a line of dir/file, or -1. */
int64_t cg_read_key(const char *dir, const char *file, const char *key);
/* The number dir/file starts with, or -1. */
int64_t cg_read_num(const char *dir, const char *file);
bool cg_path_exists(const char *dir, const char *file);
void cg_nap_us(long us);

#endif
