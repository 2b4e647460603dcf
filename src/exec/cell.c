/*
 * cell.c - the cell runtime, parent side: opening the runtime (feature
 * checks, the run user, the cgroup and network-namespace pools, the
 * seccomp filter), and per run taking a slot, cloning the child
 * (cell_child.c) into it, and killing, measuring and releasing the cell.
 *
 * Slots.  A slot is a cgroup (per hierarchy) and an empty network
 * namespace, made once.  Supervisors - separate processes - share the pool
 * through <state_dir>/slots/N.lock: a supervisor takes a slot with
 * flock(LOCK_EX|LOCK_NB) and holds the lock for the cell's life, so a
 * crashed supervisor frees its slot by itself; the next holder kills
 * whatever was left in the cgroup before using it.  When every pooled slot
 * is busy, slots past the pool are made on demand (a cgroup created on
 * first use, and a network namespace created by clone, which is slower).
 *
 * The template.  Every mount a cell removes costs an RCU grace period
 * (namespace_unlock waits for one per umount call, expedited GPs queue
 * behind each other), and building a cell's view from the host's mount
 * tree takes five: the host's /proc, /dev, /tmp and /run copies and the
 * old root after pivot_root.  Under load those waits were most of a
 * cell's start.  So the launcher builds the view once, in a mount
 * namespace of its own: the host's root read-only with the hidden paths
 * covered, pivoted to "/".  A cell joins it (setns), makes a private copy
 * (unshare) and mounts only its own /proc, /dev, /tmp, /run and binds on
 * top (binds as open_tree copies taken before the setns): no umount at
 * all.  The template is rebuilt when the host's mount tree changes
 * (cell_runtime_refresh).  Cells with another root, or with a bind that
 * overlaps a hidden path (hiding must come after such a bind), are built
 * from the host's tree as before.  The cell's mount namespace is also
 * held by the supervisor until the end has been reported
 * (cell_end/cell_release): the last reference to it waits for a grace
 * period too, and the init's exit would otherwise.
 */
#include "cell_int.h"
#include "seccomp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* The kernel's struct clone_args up to the cgroup field (version 2);
 * spelled out here so that <linux/sched.h> and <sched.h> need not meet. */
struct cell_clone_args {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
	uint64_t cgroup;
};

#define CELL_NS_FLAGS (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)
/* With the template the child joins a mount namespace instead. */
#define CELL_NS_FLAGS_TMPL (CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)
#define CELL_DEFAULT_FSIZE ((rlim_t)1 << 30)
#define CELL_DEFAULT_TMPFS ((int64_t)512 << 20)

static pid_t clone3_fork(uint64_t flags, int *pidfd, int cgroup_fd)
{
	struct cell_clone_args ca;

	memset(&ca, 0, sizeof(ca));
	ca.flags = flags;
	ca.pidfd = (uint64_t)(uintptr_t)pidfd;
	ca.exit_signal = SIGCHLD;
	ca.cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0;
	return (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
}

static int pidfd_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Try to make a child in the given namespaces; 0 or -errno. */
static int try_namespaces(uint64_t flags)
{
	int ws, pidfd = -1;
	pid_t pid = clone3_fork(flags, &pidfd, -1);

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(0);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (pidfd >= 0)
		close(pidfd);
	return 0;
}

static int check_kernel(struct rc_err *err)
{
	static const struct {
		uint64_t flag;
		const char *name;
	} ns[] = {
		{ CLONE_NEWPID, "PID" },     { CLONE_NEWNS, "mount" },
		{ CLONE_NEWIPC, "IPC" },     { CLONE_NEWUTS, "UTS" },
		{ CLONE_NEWNET, "network" },
	};
	struct mount_attr a = { 0 };
	int r;

	r = try_namespaces(CELL_NS_FLAGS | CLONE_NEWNET | CLONE_PIDFD);
	if (r == -ENOSYS)
		return rc_err_set(
			err, ENOSYS,
			"the kernel has no clone3 (Linux 5.3 or later "
			"is needed)");
	if (r < 0) {
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
			int r1 = try_namespaces(ns[i].flag);

			if (r1 < 0)
				return rc_err_set(
					err, -r1,
					"cannot create a %s namespace: "
					"%s (runcell needs root or "
					"CAP_SYS_ADMIN, and a kernel "
					"with %s namespaces)",
					ns[i].name, strerror(-r1), ns[i].name);
		}
		return rc_err_set(err, -r,
				  "cannot create the cell's "
				  "namespaces: %s",
				  strerror(-r));
	}
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL)
		return rc_err_set(err, ENOSYS,
				  "the kernel has no seccomp (CONFIG_SECCOMP)");
	if (syscall(SYS_mount_setattr, -1, "", 0, &a, sizeof(a)) < 0 &&
	    errno == ENOSYS)
		return rc_err_set(err, ENOSYS,
				  "the kernel has no mount_setattr (Linux 5.12 "
				  "or later is needed for read-only roots)");
	return 0;
}

/* run_user: a name, or "uid:gid". */
static int resolve_user(struct cell_runtime *rt, const char *name,
			struct rc_err *err)
{
	int64_t u, g;
	const char *colon;
	struct passwd *pw;

	if (!name || !*name)
		name = "runcell";
	colon = strchr(name, ':');
	if (colon) {
		char *us = xstrndup(name, (size_t)(colon - name));
		int bad = parse_int64(us, 1, 0x7fffffff, &u) < 0 ||
			  parse_int64(colon + 1, 1, 0x7fffffff, &g) < 0;

		free(us);
		if (bad)
			return rc_err_field(err, "run_user",
					    "run_user \"%s\": give a user name "
					    "or \"uid:gid\" with both above 0",
					    name);
		rt->uid = (uid_t)u;
		rt->gid = (gid_t)g;
		return 0;
	}
	errno = 0;
	pw = getpwnam(name);
	if (pw) {
		if (pw->pw_uid == 0 || pw->pw_gid == 0)
			return rc_err_field(err, "run_user",
					    "run_user \"%s\" is root: cells "
					    "must run as an unprivileged user",
					    name);
		rt->uid = pw->pw_uid;
		rt->gid = pw->pw_gid;
		return 0;
	}
	if (strcmp(name, "runcell") == 0) {
		/* The default user need not exist: its ids only have to be
		 * unused by anything else on the host. */
		rt->uid = CELL_DEFAULT_UID;
		rt->gid = CELL_DEFAULT_GID;
		return 0;
	}
	return rc_err_field(err, "run_user",
			    "run_user \"%s\" does not exist: create it, or "
			    "give \"uid:gid\"",
			    name);
}

static int make_netns_pool(struct cell_runtime *rt, struct rc_err *err)
{
	int self, ret = -1;

	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return rc_err_set(err, errno,
				  "cannot open /proc/self/ns/net: %s",
				  strerror(errno));
	rt->netns = xcalloc((size_t)rt->slots, sizeof(int));
	for (int i = 0; i < rt->slots; i++) {
		if (unshare(CLONE_NEWNET) < 0) {
			rc_err_set(err, errno,
				   "cannot create a network namespace: %s",
				   strerror(errno));
			goto out;
		}
		rt->netns[i] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		if (rt->netns[i] < 0) {
			rc_err_set(err, errno,
				   "cannot open a network "
				   "namespace: %s",
				   strerror(errno));
			goto out;
		}
		rt->n_netns++;
	}
	ret = 0;
out:
	if (setns(self, CLONE_NEWNET) < 0 && ret == 0)
		ret = rc_err_set(err, errno,
				 "cannot return to the host "
				 "network namespace: %s",
				 strerror(errno));
	close(self);
	return ret;
}

/* See cg_kill_probe: does this kernel kill what is cloned into a cgroup
 * that went through cgroup.kill? */
static void check_kill_bug(struct cell_runtime *rt)
{
	int fd = cg_kill_probe(rt->cg), pidfd = -1, ws = 0;
	pid_t pid;

	if (fd < 0)
		return;
	pid = clone3_fork(CLONE_INTO_CGROUP | CLONE_PIDFD, &pidfd, fd);
	if (pid == 0)
		_exit(0);
	if (pid > 0) {
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
		close(pidfd);
	}
	cg_kill_probe_done(rt->cg, fd, pid > 0 && WIFSIGNALED(ws));
}

/* Make the mount points a cell needs in a root if they are missing.  For
 * the host's root that is at most an empty /work, once. */
static int ensure_mountpoints(const char *root, struct rc_err *err)
{
	static const char *const dirs[] = { "proc", "dev", "tmp", "run",
					    "work" };
	char path[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s",
			 strcmp(root, "/") == 0 ? "" : root, dirs[i]);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			continue;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return rc_err_set(err, errno,
					  "the cell root %s has no /%s and it "
					  "cannot be created: %s",
					  root, dirs[i], strerror(errno));
	}
	return 0;
}

/* The work folder's place in a cell: /work, unless the root's /work holds
 * something (a host keeping its projects there), which a mount would hide;
 * then /run/work, in the cell's private /run. */
static const char *work_path_for(const char *root)
{
	char path[PATH_MAX];
	struct dirent *e;
	bool empty = true;
	DIR *d;

	snprintf(path, sizeof(path), "%s/work",
		 strcmp(root, "/") == 0 ? "" : root);
	d = opendir(path);
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	if (d)
		closedir(d);
	return empty ? "/work" : "/run/work";
}

/* A short, stable name for the runtime's cgroups, so that two services
 * (or a test and a service) on one host never share slots. */
static char *cgroup_name(const char *state_dir)
{
	uint32_t h = 2166136261u;

	for (const char *p = state_dir; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return xasprintf("runcell-%08x", h);
}

/* Where runtimes note which state folder each cgroup set belongs to. */
#define CELL_REGISTRY "/run/runcell"

/*
 * Each state folder gets its own set of slot cgroups (cgroup_name); a
 * service whose state folder is gone (a test's temporary one, an old
 * install) would leave its set behind for good, and the kernel's number
 * of memory cgroups is limited.  So every runtime records "name -> state
 * folder" under CELL_REGISTRY, and removes the sets whose folder no longer
 * exists when it opens (a set still holding processes stays until a later
 * open).  Best effort: errors only mean nothing is collected.
 */
static void collect_cgroups(const char *name, const char *state_dir)
{
	struct dirent *e;
	char path[PATH_MAX];
	DIR *d;
	int fd;

	if (mkdir(CELL_REGISTRY, 0700) < 0 && errno != EEXIST)
		return;
	d = opendir(CELL_REGISTRY);
	while (d && (e = readdir(d))) {
		struct rc_err err;
		struct cg *old;
		char *owner = NULL;
		size_t len;
		bool gone;

		if (!str_has_prefix(e->d_name, "runcell-") ||
		    strcmp(e->d_name, name) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", CELL_REGISTRY, e->d_name);
		if (read_file(path, PATH_MAX, &owner, &len, &err) < 0)
			continue;
		owner[strcspn(owner, "\n")] = '\0';
		gone = owner[0] == '/' && access(owner, F_OK) < 0 &&
		       errno == ENOENT;
		free(owner);
		if (!gone || cg_open(NULL, e->d_name, 0, &old, &err) < 0)
			continue;
		if (cg_remove(old) == 0)
			(void)unlink(path);
		cg_close(old);
	}
	if (d)
		closedir(d);
	snprintf(path, sizeof(path), "%s/%s", CELL_REGISTRY, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		(void)write_all(fd, state_dir, strlen(state_dir));
		(void)write_all(fd, "\n", 1);
		close(fd);
	}
}

int cell_runtime_open(const struct cell_runtime_config *cfg,
		      struct cell_runtime **out, struct rc_err *err)
{
	struct cell_runtime *rt = xcalloc(1, sizeof(*rt));
	char *real = NULL, *name = NULL;
	size_t nh;
	int fd, ret = -1;

	*out = NULL;
	rt->tmpl_fd = -1;
	rt->mounts_fd = -1;
	if (!cfg->state_dir || cfg->state_dir[0] != '/') {
		rc_err_set(err, EINVAL,
			   "the cell runtime needs an absolute "
			   "state folder");
		goto out;
	}
	rt->slots = cfg->slots > 0 ? cfg->slots : 64;
	if (rt->slots > CELL_MAX_SLOTS)
		rt->slots = CELL_MAX_SLOTS;
	if (resolve_user(rt, cfg->run_user, err) < 0 || check_kernel(err) < 0)
		goto out;

	if (mkdir_p(cfg->state_dir, 0700, err) < 0)
		goto out;
	real = realpath(cfg->state_dir, NULL);
	rt->state_dir = xstrdup(real ? real : cfg->state_dir);
	rt->stage_dir = xasprintf("%s/root", rt->state_dir);
	rt->slots_dir = xasprintf("%s/slots", rt->state_dir);
	rt->hidden_file = xasprintf("%s/hidden", rt->state_dir);
	if (mkdir_p(rt->stage_dir, 0700, err) < 0 ||
	    mkdir_p(rt->slots_dir, 0700, err) < 0)
		goto out;
	fd = open(rt->hidden_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0);
	if (fd < 0 || fchmod(fd, 0) < 0) {
		rc_err_set(err, errno, "cannot create %s: %s", rt->hidden_file,
			   strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);

	/* Hidden paths by their real names: a mount on a symbolic link
	 * would land on its target outside the cell's root. */
	nh = strv_len(cfg->hidden);
	rt->hidden = xcalloc(nh + 1, sizeof(char *));
	for (size_t i = 0; i < nh; i++) {
		char *r = realpath(cfg->hidden[i], NULL);

		rt->hidden[i] = r ? r : xstrdup(cfg->hidden[i]);
	}
	if (ensure_mountpoints("/", err) < 0)
		goto out;
	rt->work_path = xstrdup(work_path_for("/"));
	{
		char *r = realpath("/etc/resolv.conf", NULL);

		if (r && str_has_prefix(r, "/run/"))
			rt->resolv_in_run = r;
		else
			free(r);
	}

	name = cgroup_name(rt->state_dir);
	if (!cfg->cgroup_root)
		collect_cgroups(name, rt->state_dir);
	if (cg_open(cfg->cgroup_root, name, rt->slots, &rt->cg, err) < 0)
		goto out;
	check_kill_bug(rt);
	if (cell_seccomp_build(&rt->prog, err) < 0 ||
	    make_netns_pool(rt, err) < 0)
		goto out;
	/* Without a template (a kernel that refuses a step) cells are
	 * built from the host's tree: slower, the same view. */
	rt->mounts_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	(void)cell_runtime_refresh(rt);
	snprintf(rt->desc, sizeof(rt->desc),
		 "%s; %d slots with pooled network namespaces; %s; seccomp "
		 "filter of %u instructions; cells run as %u:%u in %s",
		 cg_describe(rt->cg), rt->slots,
		 rt->tmpl_fd >= 0 ? "mount views copied from a template" :
				    "mount views built per cell (no template)",
		 (unsigned)rt->prog.len, (unsigned)rt->uid, (unsigned)rt->gid,
		 rt->work_path);
	*out = rt;
	rt = NULL;
	ret = 0;
out:
	free(real);
	free(name);
	cell_runtime_close(rt);
	return ret;
}

void cell_runtime_close(struct cell_runtime *rt)
{
	if (!rt)
		return;
	for (int i = 0; i < rt->n_netns; i++)
		close(rt->netns[i]);
	free(rt->netns);
	if (rt->tmpl_fd >= 0)
		close(rt->tmpl_fd);
	if (rt->mounts_fd >= 0)
		close(rt->mounts_fd);
	cell_seccomp_free(&rt->prog);
	cg_close(rt->cg);
	strv_free(rt->hidden);
	free(rt->work_path);
	free(rt->resolv_in_run);
	free(rt->state_dir);
	free(rt->stage_dir);
	free(rt->slots_dir);
	free(rt->hidden_file);
	free(rt);
}

const char *cell_runtime_describe(const struct cell_runtime *rt)
{
	return rt->desc;
}

const char *cell_runtime_work_path(const struct cell_runtime *rt)
{
	return rt->work_path;
}

int cell_runtime_remove_cgroups(struct cell_runtime *rt)
{
	return cg_remove(rt->cg);
}

void cell_runtime_use_unified(struct cell_runtime *rt, bool use)
{
	cg_set_use_unified(rt->cg, use);
}

static int lock_slot(const struct cell_runtime *rt, int idx)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%d.lock", rt->slots_dir, idx);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Take a free slot: the pool first (starting at a place that depends on
 * our pid, so that supervisors spread out), then past it. */
static int take_slot(const struct cell_runtime *rt, int *lock_fd,
		     struct rc_err *err)
{
	int start = (int)(getpid() % rt->slots);

	for (int i = 0; i < rt->slots; i++) {
		int idx = (start + i) % rt->slots;

		if ((*lock_fd = lock_slot(rt, idx)) >= 0)
			return idx;
	}
	for (int idx = rt->slots; idx < CELL_MAX_SLOTS; idx++)
		if ((*lock_fd = lock_slot(rt, idx)) >= 0)
			return idx;
	return rc_err_set(err, EAGAIN, "all %d cell slots are busy",
			  CELL_MAX_SLOTS);
}

static void plan_free(struct cell_plan *p)
{
	free(p->dst_proc);
	free(p->dst_dev);
	free(p->dst_tmp);
	free(p->dst_run);
	free(p->dst_work);
	for (size_t i = 0; i < p->n_mnts; i++) {
		free(p->mnts[i].src);
		free(p->mnts[i].dst);
	}
	free(p->mnts);
}

/* Whether path is dir or inside it. */
static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

static void plan_add(struct cell_plan *p, enum cell_mnt_kind kind, char *src,
		     bool src_is_dir, const char *path)
{
	struct cell_mnt *m;

	p->mnts = xrealloc(p->mnts, (p->n_mnts + 1) * sizeof(*p->mnts));
	m = &p->mnts[p->n_mnts++];
	m->kind = kind;
	m->src = src;
	m->src_is_dir = src_is_dir;
	m->dst = xasprintf("%s%s", p->stage, path);
}

/* Everything the child will need, as ready-made strings. */
static int plan_build(struct cell_runtime *rt, const struct cell_spec *spec,
		      struct cell_plan *p, struct rc_err *err)
{
	const struct isolation *iso = spec->iso;
	const struct resources *res = spec->res;
	const char *root = iso && iso->root ? iso->root : "/";
	/* /tmp and /dev/shm: half the memory limit (their pages count
	 * against it, so a full /tmp is ENOSPC rather than an OOM kill). */
	int64_t tmp = res && res->memory > 0 ? res->memory / 2 :
					       CELL_DEFAULT_TMPFS;
	struct stat st;

	p->root_src = root;
	p->stage = rt->stage_dir;
	p->stage_len = strlen(rt->stage_dir);
	p->work_path = rt->work_path;
	if (iso && iso->root) {
		if (ensure_mountpoints(root, err) < 0)
			return -1;
		p->work_path = work_path_for(root);
	}
	p->dst_proc = xasprintf("%s/proc", rt->stage_dir);
	p->dst_dev = xasprintf("%s/dev", rt->stage_dir);
	p->dst_tmp = xasprintf("%s/tmp", rt->stage_dir);
	p->dst_run = xasprintf("%s/run", rt->stage_dir);
	p->dst_work = xasprintf("%s%s", rt->stage_dir, p->work_path);
	p->work_src = spec->work_dir;
	p->hidden_file = rt->hidden_file;
	snprintf(p->tmpfs_opts, sizeof(p->tmpfs_opts),
		 "mode=1777,size=%lld,nr_inodes=65536", (long long)tmp);
	snprintf(p->devfs_opts, sizeof(p->devfs_opts),
		 "mode=755,size=%lld,nr_inodes=4096", (long long)tmp);
	p->uid = rt->uid;
	p->gid = rt->gid;
	p->fsize = CELL_DEFAULT_FSIZE;
	p->prog = &rt->prog;
	p->argv = spec->argv;
	p->env = spec->env;

	/* Writable paths by their real host names; the child makes their
	 * mount points where the cell's own tmpfs (/tmp, /run) has none. */
	for (char **w = iso ? iso->writable : NULL; w && *w; w++) {
		char *real = realpath(*w, NULL);

		if (!real || stat(real, &st) < 0) {
			free(real);
			return rc_err_set(err, errno, "writable path %s: %s",
					  *w, strerror(errno));
		}
		plan_add(p, CELL_MNT_BIND_RW, real, S_ISDIR(st.st_mode), real);
	}
	/* Readable paths the cell's own view would not show: those under its
	 * private /tmp and /run, or anything when it has another root.
	 * Elsewhere the read-only host root already shows them. */
	for (char **r = iso ? iso->readable : NULL; r && *r; r++) {
		char *real = realpath(*r, NULL);

		if (!real || stat(real, &st) < 0) {
			free(real);
			continue; /* gone since load: nothing to show */
		}
		if (iso->root || under(real, "/tmp") || under(real, "/run"))
			plan_add(p, CELL_MNT_BIND_RO, real, S_ISDIR(st.st_mode),
				 real);
		else
			free(real);
	}
	/* A resolver configuration kept in /run (systemd-resolved) would be
	 * lost under the cell's private /run: bring that one file along. */
	if (iso && iso->network && !iso->root && rt->resolv_in_run)
		plan_add(p, CELL_MNT_BIND_RO, xstrdup(rt->resolv_in_run), false,
			 rt->resolv_in_run);
	for (char **h = rt->hidden; *h; h++)
		plan_add(p, CELL_MNT_HIDE, NULL, false, *h);
	return 0;
}

/* Read the child's report: 0 when it exec'd (EOF), -1 with the message. */
static int read_report(int fd, const struct cell_spec *spec, struct rc_err *err)
{
	struct cell_child_err e;
	size_t got = 0;
	ssize_t r;

	while (got < sizeof(e)) {
		r = read(fd, (char *)&e + got, sizeof(e) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got == 0)
		return 0;
	if (got < sizeof(e))
		return rc_err_set(err, EIO,
				  "the cell's setup ended without a "
				  "report");
	e.what[sizeof(e.what) - 1] = '\0';
	if (e.exec)
		return rc_err_set(err, e.errnum, "cannot execute %s: %s",
				  spec->argv[0], strerror(e.errnum));
	return rc_err_set(err, e.errnum, "cannot set up the cell: %s: %s",
			  e.what, strerror(e.errnum));
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int cell_runtime_mounts_fd(const struct cell_runtime *rt)
{
	return rt->mounts_fd;
}

/* Build the template mount namespace (see the top of this file) in a
 * child of ours, keep a descriptor of it and let the child go. */
int cell_runtime_refresh(struct cell_runtime *rt)
{
	static const struct cell_spec none;
	struct cell_plan plan;
	struct rc_err err;
	int err_p[2] = { -1, -1 }, ready_p[2] = { -1, -1 };
	int pidfd = -1, fd = -1, ws;
	char path[64], c = 0;
	ssize_t r;
	pid_t pid = -1;

	memset(&plan, 0, sizeof(plan));
	rc_err_clear(&err);
	if (plan_build(rt, &none, &plan, &err) < 0)
		goto out;
	if (pipe2(err_p, O_CLOEXEC) < 0 || pipe2(ready_p, O_CLOEXEC) < 0)
		goto out;
	plan.sync_fd = -1;
	plan.err_fd = err_p[1];
	plan.status_fd = ready_p[1];
	plan.netns_fd = -1;
	plan.tmpl_fd = -1;
	pid = clone3_fork(CLONE_NEWNS | CLONE_PIDFD, &pidfd, -1);
	if (pid < 0)
		goto out;
	if (pid == 0)
		cell_template_main(&plan);
	close_fd(&err_p[1]);
	close_fd(&ready_p[1]);
	do
		r = read(ready_p[0], &c, 1);
	while (r < 0 && errno == EINTR);
	/* EOF instead of the byte: the child failed (its report is on
	 * err_p) and its namespace is half built: not a template. */
	if (r == 1 && c == 'y') {
		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
out:
	if (pid > 0) {
		(void)pidfd_signal(pidfd, SIGKILL);
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
	}
	close_fd(&pidfd);
	close_fd(&err_p[0]);
	close_fd(&err_p[1]);
	close_fd(&ready_p[0]);
	close_fd(&ready_p[1]);
	plan_free(&plan);
	if (fd < 0)
		return -1;
	if (rt->tmpl_fd >= 0)
		close(rt->tmpl_fd);
	rt->tmpl_fd = fd;
	return 0;
}

/* Whether the cell's view can be a copy of the template: the host's root,
 * a template, and no bind that contains a hidden path or lies inside one
 * (the template hides before the binds go on; the host-tree build binds
 * first and hides last). */
static bool use_template(const struct cell_runtime *rt,
			 const struct cell_spec *spec,
			 const struct cell_plan *p)
{
	size_t nb = 0;

	if (rt->tmpl_fd < 0 || (spec->iso && spec->iso->root))
		return false;
	for (char **h = rt->hidden; *h; h++)
		if (under(*h, p->work_path))
			return false;
	for (size_t i = 0; i < p->n_mnts; i++) {
		const char *b = p->mnts[i].dst + p->stage_len;

		if (p->mnts[i].kind == CELL_MNT_HIDE)
			continue;
		if (++nb > CELL_TMPL_MAX_BINDS)
			return false;
		for (char **h = rt->hidden; *h; h++)
			if (under(*h, b) || under(b, *h))
				return false;
	}
	return true;
}

int cell_spawn(struct cell_runtime *rt, const struct cell_spec *spec,
	       struct cell *out, struct rc_err *err)
{
	static char *const no_env[] = { NULL };
	struct cell_state *st = xcalloc(1, sizeof(*st));
	struct cell_plan plan;
	int sync_p[2] = { -1, -1 }, err_p[2] = { -1, -1 };
	int stat_p[2] = { -1, -1 };
	int pidfd = -1, slot, ws;
	uint64_t flags = CELL_NS_FLAGS | CLONE_PIDFD;
	bool network = spec->iso && spec->iso->network;
	struct stat wst;
	pid_t pid = -1;

	memset(&plan, 0, sizeof(plan));
	memset(out, 0, sizeof(*out));
	out->pid = -1;
	out->pidfd = -1;
	out->slot = -1;
	out->late_mntns_fd = -1;
	out->late_lock_fd = -1;
	st->lock_fd = -1;
	st->status_fd = -1;
	st->mntns_fd = -1;
	st->cg.clone_fd = -1;
	st->cg.peak_fd = -1;
	if (!spec->argv || !spec->argv[0] || !spec->work_dir ||
	    spec->out_fd < 0) {
		rc_err_set(err, EINVAL,
			   "a cell needs a program, a work folder "
			   "and an output descriptor");
		goto fail;
	}

	slot = take_slot(rt, &st->lock_fd, err);
	if (slot < 0)
		goto fail;
	if (cg_slot_prepare(rt->cg, slot, spec->res, &st->cg, err) < 0)
		goto fail;
	if (plan_build(rt, spec, &plan, err) < 0)
		goto fail;
	/* The cell's user must be able to write its work folder. */
	if (stat(spec->work_dir, &wst) < 0 || !S_ISDIR(wst.st_mode)) {
		int e = errno;

		if (e == 0 || access(spec->work_dir, F_OK) == 0)
			e = ENOTDIR;
		rc_err_set(err, e, "work folder %s: %s", spec->work_dir,
			   strerror(e));
		goto fail;
	}
	if ((wst.st_uid != rt->uid || wst.st_gid != rt->gid) &&
	    chown(spec->work_dir, rt->uid, rt->gid) < 0) {
		rc_err_set(err, errno,
			   "cannot hand the work folder %s to the "
			   "run user: %s",
			   spec->work_dir, strerror(errno));
		goto fail;
	}

	/* The sync channel is a socket so that telling a child that has
	 * already died is EPIPE, not a SIGPIPE for the supervisor. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync_p) < 0 ||
	    pipe2(err_p, O_CLOEXEC) < 0 || pipe2(stat_p, O_CLOEXEC) < 0) {
		rc_err_set(err, errno, "pipe: %s", strerror(errno));
		goto fail;
	}
	plan.sync_fd = sync_p[0];
	plan.err_fd = err_p[1];
	plan.status_fd = stat_p[1];
	plan.out_fd = spec->out_fd;
	plan.netns_fd = -1;
	plan.tmpl_fd = -1;
	if (!plan.env)
		plan.env = no_env;
	if (use_template(rt, spec, &plan)) {
		plan.tmpl_fd = rt->tmpl_fd;
		flags = CELL_NS_FLAGS_TMPL | CLONE_PIDFD;
	}
	if (!network) {
		if (slot < rt->n_netns)
			plan.netns_fd = rt->netns[slot];
		else
			flags |= CLONE_NEWNET;
	}

	/* v2 (and the cgroup2 side of hybrid): born in the slot's cgroup. */
	if (st->cg.clone_fd >= 0 && !rt->no_into_cgroup) {
		pid = clone3_fork(flags | CLONE_INTO_CGROUP, &pidfd,
				  st->cg.clone_fd);
		if (pid >= 0)
			st->cg.in_v2 = true;
		else if (errno == EINVAL || errno == E2BIG)
			rt->no_into_cgroup = true; /* before Linux 5.7 */
	}
	if (pid < 0)
		pid = clone3_fork(flags, &pidfd, -1);
	if (pid < 0) {
		rc_err_set(err, errno, "cannot create the cell: clone3: %s",
			   strerror(errno));
		goto fail;
	}
	if (pid == 0)
		cell_child_main(&plan);

	close_fd(&sync_p[0]);
	close_fd(&err_p[1]);
	close_fd(&stat_p[1]);
	if (cg_slot_attach(&st->cg, pid, err) < 0) {
		rc_err_wrap(err, "cannot put the cell in its cgroup");
		goto kill;
	}
	/* If the child failed while building the cell it is gone and the
	 * send fails; its report says why. */
	(void)send(sync_p[1], "x", 1, MSG_NOSIGNAL);
	/* EOF: the program was exec'd (the pipe is close-on-exec).  A
	 * child killed before that also ends in EOF; its supervisor sees
	 * the death through the pidfd like any other. */
	if (read_report(err_p[0], spec, err) < 0)
		goto reap;

	close_fd(&sync_p[1]);
	close_fd(&err_p[0]);
	{
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
		st->mntns_fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	st->status_fd = stat_p[0];
	(void)fcntl(st->status_fd, F_SETFL, O_NONBLOCK);
	plan_free(&plan);
	out->pid = pid;
	out->pidfd = pidfd;
	out->slot = slot;
	out->rt = rt;
	out->st = st;
	return 0;

kill:
	(void)pidfd_signal(pidfd, SIGKILL);
reap:
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (cg_slot_nprocs(&st->cg) > 0)
		(void)cg_slot_kill(&st->cg);
fail:
	close_fd(&pidfd);
	close_fd(&sync_p[0]);
	close_fd(&sync_p[1]);
	close_fd(&err_p[0]);
	close_fd(&err_p[1]);
	close_fd(&stat_p[0]);
	close_fd(&stat_p[1]);
	cg_slot_release(&st->cg);
	close_fd(&st->lock_fd);
	free(st);
	plan_free(&plan);
	return -1;
}

int cell_signal(struct cell *c, int sig)
{
	if (c->pidfd < 0)
		return -1;
	if (pidfd_signal(c->pidfd, sig) < 0 && errno != ESRCH)
		return -1;
	return 0;
}

int cell_kill(struct cell *c)
{
	if (!c->st)
		return 0;
	if (c->pidfd >= 0)
		(void)pidfd_signal(c->pidfd, SIGKILL);
	return cg_slot_kill(&c->st->cg);
}

int cell_nprocs(struct cell *c)
{
	return c->st ? cg_slot_nprocs(&c->st->cg) : 0;
}

void cell_cgroup_path(const struct cell *c, char *buf, size_t n)
{
	if (c->st)
		cg_slot_path(&c->st->cg, buf, n);
	else if (n)
		buf[0] = '\0';
}

void cell_usage(struct cell *c, struct cell_usage *u)
{
	memset(u, 0, sizeof(*u));
	if (c->st)
		cg_slot_usage(&c->st->cg, u);
}

void cell_end(struct cell *c, int *status)
{
	struct cell_state *st = c->st;
	int ws = 0, main_ws;
	pid_t r;

	if (!st) {
		if (status)
			*status = 0;
		return;
	}
	if (c->pid > 0) {
		r = waitpid(c->pid, &ws, WNOHANG);
		if (r == 0) {
			(void)cell_kill(c);
			while ((r = waitpid(c->pid, &ws, 0)) < 0 &&
			       errno == EINTR)
				;
		}
		/* The init passes on the program's own status; without it
		 * (the init was killed) the init's status stands. */
		if (read(st->status_fd, &main_ws, sizeof(main_ws)) ==
		    (ssize_t)sizeof(main_ws))
			ws = main_ws;
	}
	if (cg_slot_nprocs(&st->cg) != 0)
		(void)cg_slot_kill(&st->cg);
	cg_slot_drain(&st->cg);
	cg_slot_release(&st->cg);
	close_fd(&st->status_fd);
	close_fd(&c->pidfd);
	/* The slot stays ours until the mount namespace is gone: its /tmp
	 * pages are charged to the slot's memory cgroup. */
	c->late_mntns_fd = st->mntns_fd;
	c->late_lock_fd = st->lock_fd;
	free(st);
	c->st = NULL;
	c->pid = -1;
	c->slot = -1;
	if (status)
		*status = ws;
}

void cell_release(struct cell *c)
{
	/* The last reference to the mount namespace: unmounting it waits
	 * for an RCU grace period here. */
	if (c->late_mntns_fd >= 0)
		close(c->late_mntns_fd);
	if (c->late_lock_fd >= 0)
		close(c->late_lock_fd);
	c->late_mntns_fd = -1;
	c->late_lock_fd = -1;
}

void cell_free(struct cell *c, int *status)
{
	bool had = c->st != NULL;

	cell_end(c, status);
	if (had)
		cell_release(c);
}
