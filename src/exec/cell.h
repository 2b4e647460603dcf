/*
 * cell.h - an isolated cell on this machine: namespaces, a filesystem view
 * built with pivot_root, a cgroup with CPU/memory/pids limits, an
 * unprivileged uid, no capabilities, no_new_privs, rlimits and a seccomp
 * filter.  Linux-specific system calls live here and in the files behind it
 * (cell.c, cgroup.c, ...), nowhere else.
 *
 * Two stages, for speed (see DESIGN.md "Starting a cell fast"):
 *   cell_runtime_open  once, in the single-threaded launcher process at
 *                      service start: detect cgroup v1/v2/hybrid, create
 *                      the pools (cgroups and empty network namespaces, one
 *                      per concurrent slot), compile the seccomp filter,
 *                      resolve the run user.
 *   cell_spawn         per run, in the run's supervisor (a child of the
 *                      launcher): take a free slot, clone the cell into it,
 *                      return once the program has been exec'd (or failed
 *                      to).
 */
#ifndef RUNCELL_CELL_H
#define RUNCELL_CELL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../config.h"
#include "../util.h"

/* Service-wide settings of the cell runtime. */
struct cell_runtime_config {
	const char *state_dir;	 /* service-private folder for pools/locks */
	const char *run_user;	 /* unprivileged user name or "uid:gid" */
	char *const *hidden;	 /* host paths never visible in a cell
				      (data dir, config file, token files) */
	int slots;		 /* pool size = max concurrent cells */
	const char *cgroup_root; /* NULL = /sys/fs/cgroup (tests pass a
				      fake tree to exercise v2 parsing) */
};

struct cell_runtime;

/* What one cell runs. */
struct cell_spec {
	const char *run_id;
	char *const *argv;
	char *const *env;
	const struct resources *res;
	const struct isolation *iso;
	const char *work_dir; /* host folder mounted rw as the cwd */
	int out_fd;	      /* the cell's stdout and stderr */
};

/* The run user when run_user is "runcell" and no such user exists: fixed
 * ids that need no /etc/passwd entry (only that nothing else uses them). */
#define CELL_DEFAULT_UID 64000
#define CELL_DEFAULT_GID 64000

struct cell_state;

/* A started cell, owned by its supervisor. */
struct cell {
	pid_t pid; /* the cell's init, in our PID namespace */
	int pidfd; /* pollable; readable when it exits */
	int slot;  /* pool slot held (released by cell_free) */
	struct cell_runtime *rt;
	struct cell_state *st; /* private: slot lock, cgroup, status pipe */
	int late_mntns_fd;     /* private: kept by cell_end for */
	int late_lock_fd;      /* cell_release */
};

/* Usage and the cause of death, read from the cell's cgroup. */
struct cell_usage {
	int64_t cpu_usec;
	int64_t peak_memory;
	bool oom_killed;   /* the memory limit killed something */
	bool pids_limited; /* fork was refused by the pids limit */
};

/*
 * Prepare the runtime.  Returns -1 with a message naming the missing kernel
 * feature (user/PID/mount namespaces, cgroup controller, seccomp) when the
 * host cannot build cells.  Call before any thread exists.
 */
int cell_runtime_open(const struct cell_runtime_config *cfg,
		      struct cell_runtime **out, struct rc_err *err);
void cell_runtime_close(struct cell_runtime *rt);

/* A descriptor that polls POLLPRI when the host's mount tree changes
 * (-1 if none); call cell_runtime_refresh then, so that new cells see the
 * change.  Launcher only. */
int cell_runtime_mounts_fd(const struct cell_runtime *rt);

/* Rebuild the mount view cells start from (the template, see cell.c) from
 * the host's mount tree as it is now.  Returns 0, or -1 when it could not
 * be built (the previous one, if any, stays; without any, cells build
 * their view from the host's tree).  Launcher only, single-threaded. */
int cell_runtime_refresh(struct cell_runtime *rt);

/* Describe what the runtime found ("cgroup v1", "v2", "hybrid", ...) for
 * the service's start-up log.  Borrowed string. */
const char *cell_runtime_describe(const struct cell_runtime *rt);

/* The work folder's path inside cells (the cwd): "/work", or "/run/work"
 * on hosts whose own /work is not empty (a mount there would hide it).
 * Borrowed string. */
const char *cell_runtime_work_path(const struct cell_runtime *rt);

/*
 * Start a cell.  Returns 0 once argv[0] has been exec'd inside it, -1 with
 * a message if the cell could not be built or the program could not be
 * exec'd (nothing is left running then).
 */
int cell_spawn(struct cell_runtime *rt, const struct cell_spec *spec,
	       struct cell *out, struct rc_err *err);

/* Kill every process of the cell (the whole cgroup).  Idempotent.
 * Returns 0 once the cgroup is empty, -1 if something could not be killed
 * within ~2 s. */
int cell_kill(struct cell *c);

/* Send sig to the cell's program (the cell's init forwards SIGTERM,
 * SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT and SIGWINCH to it;
 * SIGKILL kills the whole cell).  Returns 0, or -1 with errno. */
int cell_signal(struct cell *c, int sig);

/* Number of processes still in the cell's cgroup (the init included), or
 * -1 if it cannot be read.  For diagnostics and tests. */
int cell_nprocs(struct cell *c);

/* Read usage; call after the cell's init has exited and before free. */
void cell_usage(struct cell *c, struct cell_usage *u);

/* Reap the init (returns its wait status in *status), kill leftovers,
 * release the slot and close the pidfd: cell_end, then cell_release. */
void cell_free(struct cell *c, int *status);

/* cell_free in two steps, for a caller that reports the end in between:
 * cell_end reaps the init, kills leftovers and closes the pidfd; the
 * cell's mount namespace and its slot are kept until cell_release.
 * Dropping the last reference to a mount namespace waits for an RCU grace
 * period (milliseconds when many cells end at once): cell_release takes
 * that wait off the path of the end's report.  Call cell_release exactly
 * once after a cell_end. */
void cell_end(struct cell *c, int *status);
void cell_release(struct cell *c);

#endif
