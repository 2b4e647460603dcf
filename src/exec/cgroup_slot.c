/*
 * cgroup_slot.c - one run's work on a slot cgroup: writing the limits,
 * attaching the cell, killing everything in it, reading its usage, and
 * leaving it clean for the next run.
 *
 * Everything here is a handful of small writes to files that already
 * exist (the pool is made once by cg_open; see DESIGN.md "Starting a cell
 * fast").  The v1 counters that can be reset are reset when a slot is
 * taken; the v2 ones that cannot are read then and subtracted later.
 */
#include "cgroup_int.h"
#include "cell.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether the slot uses the cgroup2 tree (v2, or hybrid with it on). */
static bool slot_v2(const struct cg *cg)
{
	return cg->mode == CG_V2 || (cg->mode == CG_HYBRID && cg->use_unified);
}

/* Hybrid with the cgroup2 slot: CPU time, freezing and killing go through
 * the cgroup2 slot (its core files, no controllers needed), so the v1
 * cpuacct and freezer hierarchies are not joined.  Each v1 hierarchy
 * joined is one more migration per run, the costliest step of a spawn. */
static bool hybrid_v2(const struct cg *cg)
{
	return cg->mode == CG_HYBRID && cg->use_unified;
}

/* Whether a run joins controller c's hierarchy. */
static bool joins(const struct cg *cg, int c)
{
	return !(hybrid_v2(cg) && (c == C_CPUACCT || c == C_FREEZER));
}

static void slot_dir(const struct cg_slot *s, const char *parent, char *buf,
		     size_t n)
{
	snprintf(buf, n, "%s/slot%d", parent, s->index);
}

void cg_slot_path(const struct cg_slot *s, char *buf, size_t n)
{
	const struct cg *cg = s->cg;

	slot_dir(s, cg->mode == CG_V2 ? cg->v2 : cg->v1[C_MEMORY], buf, n);
}

/* The folder whose cgroup.procs lists the slot's processes. */
static void procs_dir(const struct cg_slot *s, char *buf, size_t n)
{
	cg_slot_path(s, buf, n);
}

/* Call fn for each pid in dir/cgroup.procs; returns how many there were,
 * or -1. */
static int for_each_proc(const char *dir, void (*fn)(pid_t pid))
{
	char path[PATH_MAX + 64], buf[4096];
	int fd, count = 0;
	ssize_t r;
	size_t have = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (;;) {
		r = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		buf[have] = '\0';
		char *p = buf, *e;

		while ((e = strchr(p, '\n'))) {
			*e = '\0';
			if (fn)
				fn((pid_t)strtol(p, NULL, 10));
			count++;
			p = e + 1;
		}
		have = strlen(p);
		memmove(buf, p, have);
	}
	close(fd);
	return count;
}

int cg_slot_nprocs(struct cg_slot *s)
{
	char dir[PATH_MAX];

	procs_dir(s, dir, sizeof(dir));
	return for_each_proc(dir, NULL);
}

static void kill_pid(pid_t pid)
{
	if (pid > 0)
		(void)kill(pid, SIGKILL);
}

/* Freeze, SIGKILL every process, thaw: with the tree frozen nothing can
 * fork while we go through the list, and the killed processes die as soon
 * as they are thawed. */
static void freeze_kill_thaw(struct cg_slot *s)
{
	const struct cg *cg = s->cg;
	char dir[PATH_MAX], fdir[PATH_MAX], buf[64];
	bool v2 = slot_v2(cg);
	bool frozen = false;

	procs_dir(s, dir, sizeof(dir));
	if (v2) {
		slot_dir(s, cg->v2, fdir, sizeof(fdir));
		frozen = cg_write(cg, fdir, "cgroup.freeze", "1") == 0;
		for (int i = 0; frozen && i < 50; i++) {
			if (cg_read_key(fdir, "cgroup.events", "frozen") == 1)
				break;
			cg_nap_us(200);
		}
	} else if (cg->v1[C_FREEZER]) {
		slot_dir(s, cg->v1[C_FREEZER], fdir, sizeof(fdir));
		frozen = cg_write(cg, fdir, "freezer.state", "FROZEN") == 0;
		for (int i = 0; frozen && i < 50; i++) {
			if (cg_read(fdir, "freezer.state", buf, sizeof(buf)) >
				    0 &&
			    strncmp(buf, "FROZEN", 6) == 0)
				break;
			cg_nap_us(200);
		}
	}
	(void)for_each_proc(dir, kill_pid);
	if (frozen && v2)
		(void)cg_write(cg, fdir, "cgroup.freeze", "0");
	else if (frozen)
		(void)cg_write(cg, fdir, "freezer.state", "THAWED");
}

int cg_slot_kill(struct cg_slot *s)
{
	const struct cg *cg = s->cg;
	char dir[PATH_MAX];
	bool used_kill = false;
	int n;

	if (slot_v2(cg) && cg->v2_kill) {
		slot_dir(s, cg->v2, dir, sizeof(dir));
		used_kill = cg_write(cg, dir, "cgroup.kill", "1") == 0;
	}
	for (int i = 0; i < CG_KILL_ROUNDS; i++) {
		n = cg_slot_nprocs(s);
		if (n <= 0)
			return n == 0 ? 0 : -1;
		/* Dying processes stay listed for a moment: give them a few
		 * rounds before going through the list again. */
		if (i % 20 == (used_kill ? 19 : 0))
			freeze_kill_thaw(s);
		cg_nap_us(i < 20 ? 250 : 5000);
	}
	return cg_slot_nprocs(s) == 0 ? 0 : -1;
}

static int wr_err(int r, const char *dir, const char *file, const char *val,
		  struct rc_err *err)
{
	return rc_err_set(err, -r, "cannot write %s to %s/%s: %s", val, dir,
			  file, strerror(-r));
}

/* Write one limit, treating a missing optional file as fine. */
#define WR(dir, file, val, optional)                            \
	do {                                                    \
		int r_ = cg_write(cg, dir, file, val);          \
		if (r_ < 0 && !((optional) && r_ == -ENOENT)) { \
			wr_err(r_, dir, file, val, err);        \
			goto out;                               \
		}                                               \
	} while (0)

static void fmt_i64(char *buf, size_t n, int64_t v)
{
	snprintf(buf, n, "%lld", (long long)v);
}

static int64_t cpu_quota(const struct resources *res)
{
	int64_t q;

	if (!res || res->cpu <= 0)
		return -1;
	q = (int64_t)(res->cpu * CG_CPU_PERIOD);
	return q < 1000 ? 1000 : q;
}

static int prepare_v1(struct cg *cg, struct cg_slot *s,
		      const struct resources *res, struct rc_err *err)
{
	char dir[PATH_MAX], val[32];
	int64_t mem = res && res->memory > 0 ? res->memory : -1;
	int64_t q = cpu_quota(res);
	int ret = -1;

	if (cg->v1[C_FREEZER] && joins(cg, C_FREEZER)) {
		slot_dir(s, cg->v1[C_FREEZER], dir, sizeof(dir));
		WR(dir, "freezer.state", "THAWED", false);
	}

	slot_dir(s, cg->v1[C_MEMORY], dir, sizeof(dir));
	fmt_i64(val, sizeof(val), mem);
	if (!cg->memsw) {
		WR(dir, "memory.limit_in_bytes", val, false);
		WR(dir, "memory.swappiness", "0", true);
	} else if (mem < 0) {
		/* Raise memsw first: memory.limit <= memsw.limit always. */
		WR(dir, "memory.memsw.limit_in_bytes", "-1", false);
		WR(dir, "memory.limit_in_bytes", "-1", false);
	} else {
		int r = cg_write(cg, dir, "memory.limit_in_bytes", val);

		if (r == -EINVAL) {
			WR(dir, "memory.memsw.limit_in_bytes", val, false);
			WR(dir, "memory.limit_in_bytes", val, false);
		} else if (r < 0) {
			wr_err(r, dir, "memory.limit_in_bytes", val, err);
			goto out;
		} else {
			WR(dir, "memory.memsw.limit_in_bytes", val, false);
		}
	}
	WR(dir, "memory.max_usage_in_bytes", "0", false);
	if (cg->memsw)
		WR(dir, "memory.memsw.max_usage_in_bytes", "0", true);
	WR(dir, "memory.failcnt", "0", true);
	s->base_oom = cg_read_key(dir, "memory.oom_control", "oom_kill");

	slot_dir(s, cg->v1[C_CPU], dir, sizeof(dir));
	WR(dir, "cpu.cfs_period_us", "100000", false);
	fmt_i64(val, sizeof(val), q);
	WR(dir, "cpu.cfs_quota_us", val, false);
	if (cg->v1[C_CPUACCT] && joins(cg, C_CPUACCT)) {
		slot_dir(s, cg->v1[C_CPUACCT], dir, sizeof(dir));
		WR(dir, "cpuacct.usage", "0", false);
	}
	if (hybrid_v2(cg)) {
		slot_dir(s, cg->v2, dir, sizeof(dir));
		/* A kill interrupted by a crash may have left it frozen. */
		WR(dir, "cgroup.freeze", "0", true);
		s->base_cpu_usec = cg_read_key(dir, "cpu.stat", "usage_usec");
	}

	slot_dir(s, cg->v1[C_PIDS], dir, sizeof(dir));
	if (res && res->pids > 0)
		fmt_i64(val, sizeof(val), res->pids);
	else
		snprintf(val, sizeof(val), "max");
	WR(dir, "pids.max", val, false);
	s->base_pids_max = cg_read_key(dir, "pids.events", "max");
	ret = 0;
out:
	return ret;
}

static int prepare_v2(struct cg *cg, struct cg_slot *s,
		      const struct resources *res, struct rc_err *err)
{
	char dir[PATH_MAX], val[48];
	int64_t q = cpu_quota(res);
	int ret = -1;

	slot_dir(s, cg->v2, dir, sizeof(dir));
	if (res && res->memory > 0)
		fmt_i64(val, sizeof(val), res->memory);
	else
		snprintf(val, sizeof(val), "max");
	WR(dir, "memory.max", val, false);
	WR(dir, "memory.swap.max", "0", true);
	/* One OOM kill takes the whole cell: a run over its memory is
	 * over, not left limping with some processes gone. */
	WR(dir, "memory.oom.group", "1", true);
	if (q > 0)
		snprintf(val, sizeof(val), "%lld %d", (long long)q,
			 CG_CPU_PERIOD);
	else
		snprintf(val, sizeof(val), "max %d", CG_CPU_PERIOD);
	WR(dir, "cpu.max", val, false);
	if (res && res->pids > 0)
		fmt_i64(val, sizeof(val), res->pids);
	else
		snprintf(val, sizeof(val), "max");
	WR(dir, "pids.max", val, false);

	s->base_cpu_usec = cg_read_key(dir, "cpu.stat", "usage_usec");
	s->base_oom = cg_read_key(dir, "memory.events", "oom_kill");
	s->base_pids_max = cg_read_key(dir, "pids.events", "max");
	/* memory.peak counts since the cgroup was made; Linux 6.12 resets
	 * it for one open file when "reset" is written there.  Keep that
	 * file open until cg_slot_usage. */
	{
		char path[PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/memory.peak", dir);
		s->peak_fd = open(path, O_RDWR | O_CLOEXEC);
		if (s->peak_fd >= 0) {
			/* Older kernels refuse the write: the peak then
			 * covers the slot's whole life (an upper bound). */
			(void)!write(s->peak_fd, "reset\n", 6);
		} else {
			s->peak_fd = open(path, O_RDONLY | O_CLOEXEC);
		}
	}
	ret = 0;
out:
	return ret;
}

int cg_slot_prepare(struct cg *cg, int index, const struct resources *res,
		    struct cg_slot *s, struct rc_err *err)
{
	char dir[PATH_MAX];
	int n;

	memset(s, 0, sizeof(*s));
	s->cg = cg;
	s->index = index;
	s->clone_fd = -1;
	s->peak_fd = -1;

	/* Slots past the pool are made on first use. */
	for (int j = 0; j < cg->n_attach && cg->mode != CG_V2; j++) {
		slot_dir(s, cg->v1[cg->attach[j]], dir, sizeof(dir));
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return rc_err_set(err, errno,
					  "cannot create cgroup %s: %s", dir,
					  strerror(errno));
	}
	if (slot_v2(cg)) {
		slot_dir(s, cg->v2, dir, sizeof(dir));
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return rc_err_set(err, errno,
					  "cannot create cgroup %s: %s", dir,
					  strerror(errno));
		if (cg->mode == CG_V2)
			(void)cg_write(cg, dir, "cgroup.freeze", "0");
	}

	/* A supervisor that died leaves its slot to the next one: empty it. */
	n = cg_slot_nprocs(s);
	if (n > 0 && cg_slot_kill(s) < 0) {
		cg_slot_path(s, dir, sizeof(dir));
		return rc_err_set(err, EBUSY,
				  "cgroup %s still holds processes that cannot "
				  "be killed",
				  dir);
	}

	if (cg->mode == CG_V2) {
		if (prepare_v2(cg, s, res, err) < 0)
			goto fail;
	} else if (prepare_v1(cg, s, res, err) < 0) {
		goto fail;
	}
	if (slot_v2(cg)) {
		slot_dir(s, cg->v2, dir, sizeof(dir));
		s->clone_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return 0;
fail:
	cg_slot_release(s);
	return -1;
}

int cg_slot_attach(struct cg_slot *s, pid_t pid, struct rc_err *err)
{
	const struct cg *cg = s->cg;
	char dir[PATH_MAX], val[24];
	int r;

	snprintf(val, sizeof(val), "%d", (int)pid);
	if (cg->mode != CG_V2) {
		for (int j = 0; j < cg->n_attach; j++) {
			if (!joins(cg, cg->attach[j]))
				continue;
			slot_dir(s, cg->v1[cg->attach[j]], dir, sizeof(dir));
			r = cg_write(cg, dir, "cgroup.procs", val);
			if (r < 0)
				return wr_err(r, dir, "cgroup.procs", val, err);
		}
	}
	if (slot_v2(cg) && !s->in_v2) {
		slot_dir(s, cg->v2, dir, sizeof(dir));
		r = cg_write(cg, dir, "cgroup.procs", val);
		if (r < 0)
			return wr_err(r, dir, "cgroup.procs", val, err);
	}
	return 0;
}

static int64_t delta(int64_t now, int64_t base)
{
	if (now < 0)
		return 0;
	return base > 0 ? now - base : now;
}

void cg_slot_usage(struct cg_slot *s, struct cell_usage *u)
{
	const struct cg *cg = s->cg;
	char dir[PATH_MAX];
	int64_t v;

	memset(u, 0, sizeof(*u));
	if (cg->mode == CG_V2) {
		slot_dir(s, cg->v2, dir, sizeof(dir));
		u->cpu_usec = delta(cg_read_key(dir, "cpu.stat", "usage_usec"),
				    s->base_cpu_usec);
		if (s->peak_fd >= 0) {
			char buf[64];
			ssize_t r = pread(s->peak_fd, buf, sizeof(buf) - 1, 0);

			if (r > 0) {
				buf[r] = '\0';
				u->peak_memory = strtoll(buf, NULL, 10);
			}
		}
		u->oom_killed =
			delta(cg_read_key(dir, "memory.events", "oom_kill"),
			      s->base_oom) > 0;
	} else {
		if (hybrid_v2(cg)) {
			slot_dir(s, cg->v2, dir, sizeof(dir));
			u->cpu_usec = delta(cg_read_key(dir, "cpu.stat",
							"usage_usec"),
					    s->base_cpu_usec);
		} else if (cg->v1[C_CPUACCT]) {
			slot_dir(s, cg->v1[C_CPUACCT], dir, sizeof(dir));
			v = cg_read_num(dir, "cpuacct.usage");
			u->cpu_usec = v > 0 ? v / 1000 : 0;
		}
		slot_dir(s, cg->v1[C_MEMORY], dir, sizeof(dir));
		v = cg_read_num(dir, "memory.max_usage_in_bytes");
		u->peak_memory = v > 0 ? v : 0;
		u->oom_killed = delta(cg_read_key(dir, "memory.oom_control",
						  "oom_kill"),
				      s->base_oom) > 0;
		slot_dir(s, cg->v1[C_PIDS], dir, sizeof(dir));
	}
	if (cg->mode == CG_V2)
		slot_dir(s, cg->v2, dir, sizeof(dir));
	u->pids_limited = delta(cg_read_key(dir, "pids.events", "max"),
				s->base_pids_max) > 0;
}

/* Below this, leftover charge is not worth a reclaim (which drains the
 * per-CPU page lists of every CPU: ~0.5 ms). */
#define CG_DRAIN_MIN (16 << 20)

void cg_slot_drain(struct cg_slot *s)
{
	const struct cg *cg = s->cg;
	char dir[PATH_MAX], val[32];
	int64_t cur;

	if (cg->mode == CG_V2) {
		slot_dir(s, cg->v2, dir, sizeof(dir));
		cur = cg_read_num(dir, "memory.current");
		if (cur >= CG_DRAIN_MIN) {
			snprintf(val, sizeof(val), "%lld", (long long)cur);
			(void)cg_write(cg, dir, "memory.reclaim", val);
		}
	} else {
		slot_dir(s, cg->v1[C_MEMORY], dir, sizeof(dir));
		cur = cg_read_num(dir, "memory.usage_in_bytes");
		if (cur >= CG_DRAIN_MIN)
			(void)cg_write(cg, dir, "memory.force_empty", "0");
	}
}

void cg_slot_release(struct cg_slot *s)
{
	if (s->clone_fd >= 0)
		close(s->clone_fd);
	if (s->peak_fd >= 0)
		close(s->peak_fd);
	s->clone_fd = -1;
	s->peak_fd = -1;
}
