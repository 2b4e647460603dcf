/*
 * cgroup.h - the cell's control groups: detecting cgroup v1, v2 or a
 * "hybrid" host, a pool of slot cgroups created once, and per run: writing
 * the limits into a slot, attaching the cell, killing everything in it and
 * reading its usage.  Private to the cell runtime (src/exec/cell*.c).
 *
 * Layout, for a runtime whose parent cgroup is named P (see cg_open):
 *   v1      <mount of each controller>/<our cgroup>/P/slotN
 *           (memory, cpu, cpuacct, pids and, when present, freezer)
 *   v2      <cgroup2 mount>/<our cgroup>/P/slotN
 *   hybrid  v1 as above for the controllers, plus the same slot in the
 *           cgroup2 tree (no controllers there) so that a cell can be
 *           spawned straight into it and killed at once with cgroup.kill.
 */
#ifndef RUNCELL_CGROUP_H
#define RUNCELL_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../config.h"
#include "../util.h"

enum cg_mode { CG_V1, CG_V2, CG_HYBRID };

struct cg;

/* One slot taken for one run: the state kept between prepare and release.
 * Filled by cg_slot_prepare; the caller owns it and calls cg_slot_release. */
struct cg_slot {
	struct cg *cg;
	int index;
	int clone_fd;	       /* cgroup2 slot folder for CLONE_INTO_CGROUP,
				  or -1 (pure v1) */
	bool in_v2;	       /* the cell was spawned into clone_fd */
	int peak_fd;	       /* v2 memory.peak, reset for this run, or -1 */
	int64_t base_cpu_usec; /* v2 counters at prepare (they never reset) */
	int64_t base_oom;
	int64_t base_pids_max;
};

/*
 * Detect the cgroup setup and create the pool: the parent cgroup "name"
 * under our own cgroup in every hierarchy used, and slot0..slot(nslots-1)
 * in it.  root NULL means the host's mounts (found in /proc/self/mountinfo);
 * otherwise root is a plain folder laid out like /sys/fs/cgroup (holding
 * cgroup.controllers for v2, or memory/, cpu/, ... for v1) and files are
 * created as needed: the unit tests use this to check what is written.
 * Returns -1 with a message naming the missing controller.  Free with
 * cg_close (the cgroups stay; a later cg_open reuses them).
 */
int cg_open(const char *root, const char *name, int nslots, struct cg **out,
	    struct rc_err *err);
void cg_close(struct cg *cg);

/* Remove the runtime's cgroups (the slots and the parent, in every
 * hierarchy), for tests and uninstalling.  Slots still in use stay.
 * Returns 0 if everything went, -1 otherwise. */
int cg_remove(struct cg *cg);

enum cg_mode cg_get_mode(const struct cg *cg);

/* "cgroup v1 (...)", for the start-up log.  Borrowed. */
const char *cg_describe(const struct cg *cg);

/*
 * Some kernels (seen on 6.18) SIGKILL every child later spawned with
 * CLONE_INTO_CGROUP into a cgroup that was once emptied through
 * cgroup.kill: the fork path compares the kill counter of the parent's
 * cgroup with the target's.  The runtime checks this once: cg_kill_probe
 * makes an empty cgroup, writes cgroup.kill and returns an open
 * descriptor of it (or -1 when there is no cgroup.kill to check);
 * cg_kill_probe_done removes it and, if the probe child was killed, stops
 * using cgroup.kill (killing by freezing instead).
 */
int cg_kill_probe(struct cg *cg);
void cg_kill_probe_done(struct cg *cg, int fd, bool child_killed);

/* Test hook: with false, hybrid hosts are handled as pure v1 (no cgroup2
 * slot, kill by freezing and signalling every process). */
void cg_set_use_unified(struct cg *cg, bool use);

/*
 * Make slot index ready for a run with res: create it if it is past the
 * pool, kill whatever a previous holder left in it, write this run's
 * limits (memory without swap, CPU quota - always rewritten, see
 * DESIGN.md -, pids) and reset or record the usage counters.  The caller
 * holds the slot's lock.  Returns -1 with a message on failure.
 */
int cg_slot_prepare(struct cg *cg, int index, const struct resources *res,
		    struct cg_slot *s, struct rc_err *err);

/* Put pid into the slot in every hierarchy it is not already in (all of
 * them on v1; none when it was spawned with CLONE_INTO_CGROUP). */
int cg_slot_attach(struct cg_slot *s, pid_t pid, struct rc_err *err);

/* Kill every process in the slot (cgroup.kill, or freeze + SIGKILL each +
 * thaw, repeated) and wait, bounded, until it is empty.  Returns 0 once
 * empty, -1 if processes remain. */
int cg_slot_kill(struct cg_slot *s);

/* Number of processes in the slot, or -1 if it cannot be read. */
int cg_slot_nprocs(struct cg_slot *s);

struct cell_usage;
/* Usage since cg_slot_prepare. */
void cg_slot_usage(struct cg_slot *s, struct cell_usage *u);

/* Once the slot is empty: give back the memory still charged to it (the
 * page cache of files the run wrote), so that the next run neither pays
 * for reclaiming it when its limit is written nor starts with it in its
 * peak.  Off the spawn path: called when a cell is freed.  Best effort. */
void cg_slot_drain(struct cg_slot *s);

/* Close what the slot holds (not the lock; that is the caller's). */
void cg_slot_release(struct cg_slot *s);

/* The slot's folder in the hierarchy holding the memory controller (for
 * tests and diagnostics); written into buf. */
void cg_slot_path(const struct cg_slot *s, char *buf, size_t n);

#endif
