/*
 * cell_int.h - what the parent side of the cell runtime (cell.c) hands to
 * the child side (cell_child.c), and the runtime's private state.  Not for
 * use outside src/exec/cell*.c (and the cell unit test).
 */
#ifndef RUNCELL_CELL_INT_H
#define RUNCELL_CELL_INT_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <linux/filter.h>

#include "cell.h"
#include "cgroup.h"

/* Slots past the pool are made on demand, up to this index. */
#define CELL_MAX_SLOTS 4096
/* Cells with more bound paths than this are built without the template. */
#define CELL_TMPL_MAX_BINDS 64

struct cell_runtime {
	char *state_dir;
	char *stage_dir;     /* <state_dir>/root: each cell assembles its
				   root here, in its own mount namespace */
	char *hidden_file;   /* <state_dir>/hidden: empty, mode 000, bound
				   over hidden files */
	char *slots_dir;     /* <state_dir>/slots: N.lock per slot */
	char **hidden;	     /* resolved host paths to cover */
	char *work_path;     /* the work folder inside cells: /work, or
				   /run/work where the root's /work is in use */
	char *resolv_in_run; /* /etc/resolv.conf's target when it lives
				   in /run (systemd-resolved), else NULL */
	int slots;
	uid_t uid;
	gid_t gid;
	struct cg *cg;
	int *netns; /* an empty network namespace per pool slot */
	int n_netns;
	int tmpl_fd;		/* the template mount namespace (the host's
				   root read-only, hidden paths covered, as
				   "/"), or -1: cells with the host's root
				   start from a copy of it */
	int mounts_fd;		/* /proc/self/mountinfo: POLLPRI when the
				   host's mount tree changes */
	struct sock_fprog prog; /* the compiled seccomp filter */
	bool no_into_cgroup;	/* clone3 refused CLONE_INTO_CGROUP once */
	char desc[1024];
};

/* Per-cell state kept by the supervisor between spawn and free. */
struct cell_state {
	int lock_fd;   /* flock on the slot: held for the cell's life */
	int status_fd; /* the init reports the program's wait status */
	int mntns_fd;  /* the cell's mount namespace, held so that
				   its teardown is not on the init's exit */
	struct cg_slot cg;
};

enum cell_mnt_kind {
	CELL_MNT_BIND_RW, /* src bound read-write at dst */
	CELL_MNT_BIND_RO, /* src bound read-only at dst */
	CELL_MNT_HIDE,	  /* dst covered, if it exists in the cell */
};

struct cell_mnt {
	enum cell_mnt_kind kind;
	bool src_is_dir; /* binds: whether to make a folder or a file
				   as the mount point when dst is missing */
	char *src;	 /* host path (binds) */
	char *dst;	 /* path under the stage */
};

/* Everything the child needs, prepared by the parent so that the child
 * makes system calls only. */
struct cell_plan {
	const char *root_src; /* iso->root or "/" */
	const char *stage;
	char *dst_proc, *dst_dev, *dst_tmp, *dst_run, *dst_work;
	const char *work_path; /* dst_work without the stage: the cwd */
	const char *work_src;
	char tmpfs_opts[96];
	char devfs_opts[96];
	size_t stage_len; /* strlen(stage) */
	struct cell_mnt *mnts;
	size_t n_mnts;
	const char *hidden_file;
	int netns_fd;  /* setns into it, or -1 */
	int tmpl_fd;   /* template mount namespace to copy, or -1:
				   then the view is built from the host's */
	int sync_fd;   /* read: one byte once the cgroups are set */
	int err_fd;    /* write, CLOEXEC: a struct cell_child_err */
	int status_fd; /* write: the program's wait status (init) */
	int out_fd;
	uid_t uid;
	gid_t gid;
	rlim_t fsize;
	const struct sock_fprog *prog;
	char *const *argv;
	char *const *env;
};

/* What a child that failed tells its parent. */
struct cell_child_err {
	int errnum;
	int exec; /* 1: execve itself failed */
	char what[248];
};

/* The child: build the cell and exec the program.  Never returns; on
 * failure it writes a struct cell_child_err to plan->err_fd and exits. */
_Noreturn void cell_child_main(const struct cell_plan *plan);

/* The template's builder, in a new mount namespace: the host's root
 * read-only with the hidden paths (plan->mnts) covered, made "/" with
 * pivot_root.  Writes one byte to plan->status_fd once done, then waits
 * to be killed (its parent keeps a descriptor of the namespace); on
 * failure reports to plan->err_fd and exits. */
_Noreturn void cell_template_main(const struct cell_plan *plan);

/* Test hook: hybrid hosts used as pure v1 (see cg_set_use_unified). */
void cell_runtime_use_unified(struct cell_runtime *rt, bool use);

/* Remove the runtime's cgroups (tests; see cg_remove). */
int cell_runtime_remove_cgroups(struct cell_runtime *rt);

/* Test hook: the slot's cgroup folder (memory hierarchy). */
void cell_cgroup_path(const struct cell *c, char *buf, size_t n);

#endif
