/*
 * cell_child.c - the inside of a cell: what the cloned child does between
 * clone and exec, and the cell's tiny init.
 *
 * The child starts in new PID, mount, IPC and UTS namespaces (and in the
 * slot's cgroup on v2).  In order (DESIGN.md "Starting a cell fast"):
 * parent-death signal, network namespace, the filesystem view and
 * pivot_root, hostname, wait for the parent (v1 cgroups attached),
 * rlimits, setsid, file descriptors, the unprivileged user with no
 * capabilities, no_new_privs, seccomp, then start the program and stay
 * as its init.
 *
 * Why an init and not the program as PID 1: PID 1 of a namespace gets no
 * default signal handling (a script's SIGTERM would be ignored unless it
 * installs a handler) and inherits every orphan, which it must reap or the
 * cell fills with zombies.  Scripts do neither.  So the child stays as a
 * minimal PID 1: it forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1/2,
 * SIGCONT and SIGWINCH to the program, reaps every orphan, and when the
 * program ends, passes its wait status to the supervisor over a pipe and
 * exits - which makes the kernel kill whatever the program left behind
 * (double-forked daemons included).  The init runs with the same
 * credentials, seccomp filter and limits as the program; it costs one
 * vfork-style spawn (tens of microseconds) per run.
 *
 * This code runs in a copy of a process that may have had other threads:
 * it uses system calls and async-signal-safe functions only (plus
 * snprintf into stack buffers for error messages), and never returns.
 */
#include "cell_int.h"
#include "seccomp.h"
#include "sig.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

extern char **environ;

/* Where errors go: plan->err_fd until the descriptors are rearranged, then
 * ERR_FD. */
enum { ERR_FD = 3, STATUS_FD = 4, SYNC_FD = 5 };

static int err_fd = -1;

_Noreturn static void fail(int errnum, int exec, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

_Noreturn static void fail(int errnum, int exec, const char *fmt, ...)
{
	struct cell_child_err e;
	va_list ap;

	memset(&e, 0, sizeof(e));
	e.errnum = errnum;
	e.exec = exec;
	va_start(ap, fmt);
	vsnprintf(e.what, sizeof(e.what), fmt, ap);
	va_end(ap);
	if (err_fd >= 0)
		(void)!write(err_fd, &e, sizeof(e));
	_exit(127);
}

static void mount_or_fail(const char *src, const char *dst, const char *type,
			  unsigned long flags, const char *data,
			  const char *what)
{
	if (mount(src, dst, type, flags, data) < 0)
		fail(errno, 0, "%s (%s)", what, dst);
}

static void setattr_or_fail(const char *dst, uint64_t set, const char *what)
{
	struct mount_attr a = { .attr_set = set };

	if (syscall(SYS_mount_setattr, AT_FDCWD, dst, AT_RECURSIVE, &a,
		    sizeof(a)) < 0)
		fail(errno, 0, "%s (%s)", what, dst);
}

/* A minimal /dev: a small tmpfs with the six usual devices, the /proc
 * links, and a world-writable /dev/shm (in the same, size-capped tmpfs). */
static void make_dev(const char *dev, const char *opts)
{
	static const struct {
		const char *name;
		unsigned maj, min;
	} nodes[] = {
		{ "null", 1, 3 },   { "zero", 1, 5 },	 { "full", 1, 7 },
		{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
	};
	static const struct {
		const char *name, *target;
	} links[] = {
		{ "fd", "/proc/self/fd" },
		{ "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" },
		{ "stderr", "/proc/self/fd/2" },
	};
	char path[PATH_MAX];

	mount_or_fail("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, opts,
		      "mounting /dev");
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dev, nodes[i].name);
		if (mknod(path, S_IFCHR | 0666,
			  makedev(nodes[i].maj, nodes[i].min)) < 0)
			fail(errno, 0, "creating /dev/%s", nodes[i].name);
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dev, links[i].name);
		if (symlink(links[i].target, path) < 0)
			fail(errno, 0, "creating /dev/%s", links[i].name);
	}
	snprintf(path, sizeof(path), "%s/shm", dev);
	if (mkdir(path, 01777) < 0)
		fail(errno, 0, "creating /dev/shm");
}

/* Make a mount point at path (under the stage) and the folders above it,
 * where they are missing: possible in the cell's own tmpfs mounts, not in
 * the read-only root.  Returns 0 or -errno. */
static int make_point(const char *path, bool dir)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	int fd;

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (dir)
		return mkdir(buf, 0755) < 0 && errno != EEXIST ? -errno : 0;
	fd = open(buf, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* Bind src at dst (making dst if it is missing), read-write or not;
 * always nosuid and nodev. */
static void bind_at(const struct cell_plan *p, const struct cell_mnt *m,
		    bool rw)
{
	const char *in_cell = m->dst + p->stage_len;
	struct stat st;
	int r;

	if (stat(m->dst, &st) < 0) {
		r = make_point(m->dst, m->src_is_dir);
		if (r < 0)
			fail(-r, 0,
			     "the path %s does not exist in the cell's "
			     "root and cannot be made there",
			     in_cell);
	}
	if (mount(m->src, m->dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail(errno, 0, "binding %s", in_cell);
	setattr_or_fail(m->dst,
			MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
				(rw ? 0 : MOUNT_ATTR_RDONLY),
			"restricting a bound path");
}

/* Cover dst if it exists in the cell: an empty, unreadable, read-only
 * tmpfs over a folder, the empty mode-000 file over anything else. */
static void hide(const struct cell_plan *p, const struct cell_mnt *m)
{
	struct stat st;

	if (lstat(m->dst, &st) < 0 || S_ISLNK(st.st_mode))
		return;
	if (S_ISDIR(st.st_mode)) {
		mount_or_fail("tmpfs", m->dst, "tmpfs",
			      MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			      "size=4k,nr_inodes=1,mode=000",
			      "hiding a folder");
		return;
	}
	mount_or_fail(p->hidden_file, m->dst, NULL, MS_BIND, NULL,
		      "hiding a file");
	mount_or_fail(NULL, m->dst, NULL,
		      MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV |
			      MS_NOEXEC,
		      NULL, "hiding a file");
}

/* A path of the cell's view: under the stage while the view is assembled
 * there (the host's root is still "/"), or as the cell sees it. */
static const char *in_view(const struct cell_plan *p, const char *dst,
			   bool staged)
{
	return staged ? dst : dst + p->stage_len;
}

/* The host's root bound recursively onto the stage and made read-only,
 * nosuid and nodev in one mount_setattr call (the whole subtree at once,
 * Linux 5.12), with the host's /proc, /dev, /tmp and /run copies
 * detached (the cell gets its own). */
static void bind_host_root(const struct cell_plan *p)
{
	mount_or_fail(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL,
		      "making the mount tree private");
	mount_or_fail(p->root_src, p->stage, NULL, MS_BIND | MS_REC, NULL,
		      "binding the root");
	setattr_or_fail(p->stage,
			MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
				MOUNT_ATTR_NODEV,
			"making the root read-only");

	(void)umount2(p->dst_proc, MNT_DETACH);
	(void)umount2(p->dst_dev, MNT_DETACH);
	(void)umount2(p->dst_tmp, MNT_DETACH);
	(void)umount2(p->dst_run, MNT_DETACH);
}

/* The cell's own /proc, /dev, /tmp and /run. */
static void mount_own(const struct cell_plan *p, bool staged)
{
	/* Mounted after the PID namespace was made: shows the cell only. */
	mount_or_fail("proc", in_view(p, p->dst_proc, staged), "proc",
		      MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "mounting /proc");
	make_dev(in_view(p, p->dst_dev, staged), p->devfs_opts);
	mount_or_fail("tmpfs", in_view(p, p->dst_tmp, staged), "tmpfs",
		      MS_NOSUID | MS_NODEV, p->tmpfs_opts, "mounting /tmp");
	mount_or_fail("tmpfs", in_view(p, p->dst_run, staged), "tmpfs",
		      MS_NOSUID | MS_NODEV | MS_NOEXEC,
		      "mode=755,size=4m,nr_inodes=4096", "mounting /run");
}

/* Make the stage "/" and drop the host's root. */
static void enter_stage(const struct cell_plan *p)
{
	if (chdir(p->stage) < 0)
		fail(errno, 0, "entering the new root");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail(errno, 0, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		fail(errno, 0, "detaching the old root");
}

/* The filesystem view, built from the host's mount tree (a cell with
 * another root, or no template; see cell.c): the host's root read-only,
 * the cell's own /proc, /dev, /tmp and /run, then the work folder, the
 * writable paths and the hidden ones on top, and pivot_root makes the
 * stage "/".
 *
 * /run is private because a read-only mount does not stop connect() on a
 * unix socket: the host's /run holds sockets such as munge's, D-Bus's or
 * PostgreSQL's. */
static void make_root(const struct cell_plan *p)
{
	struct cell_mnt work = {
		.kind = CELL_MNT_BIND_RW,
		.src_is_dir = true,
		.src = (char *)p->work_src,
		.dst = p->dst_work,
	};

	bind_host_root(p);
	mount_own(p, true);
	bind_at(p, &work, true);

	/* Writable paths first, hidden ones last: nothing declared writable
	 * can uncover the service's own files. */
	for (size_t i = 0; i < p->n_mnts; i++) {
		const struct cell_mnt *m = &p->mnts[i];

		if (m->kind == CELL_MNT_HIDE)
			hide(p, m);
		else
			bind_at(p, m, m->kind == CELL_MNT_BIND_RW);
	}

	enter_stage(p);
	if (chdir(p->work_path) < 0)
		fail(errno, 0, "entering %s", p->work_path);
}

_Noreturn void cell_template_main(const struct cell_plan *p)
{
	err_fd = p->err_fd;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fail(errno, 0, "setting the parent-death signal");
	umask(0);
	bind_host_root(p);
	for (size_t i = 0; i < p->n_mnts; i++)
		if (p->mnts[i].kind == CELL_MNT_HIDE)
			hide(p, &p->mnts[i]);
	enter_stage(p);
	/* Ready: the parent opens our mount namespace, then kills us. */
	if (write(p->status_fd, "y", 1) != 1)
		_exit(127);
	for (;;)
		pause();
}

/* A detached copy of the host path src (open_tree), nosuid, nodev and
 * read-only unless rw: made while the child still sees the host's
 * mount tree, attached inside the cell's view later. */
static int clone_tree(const char *src, bool rw, const char *in_cell)
{
	struct mount_attr a = {
		.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			    (rw ? 0 : MOUNT_ATTR_RDONLY),
	};
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, src,
			      OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
				      AT_RECURSIVE);

	if (fd < 0)
		fail(errno, 0, "binding %s", in_cell);
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a,
		    sizeof(a)) < 0)
		fail(errno, 0, "restricting a bound path (%s)", in_cell);
	return fd;
}

/* Attach a tree from clone_tree at path (in the cell's view), making the
 * mount point where it is missing. */
static void attach_tree(int fd, const char *path, bool dir)
{
	struct stat st;
	int r;

	if (stat(path, &st) < 0) {
		r = make_point(path, dir);
		if (r < 0)
			fail(-r, 0,
			     "the path %s does not exist in the cell's "
			     "root and cannot be made there",
			     path);
	}
	if (syscall(SYS_move_mount, fd, "", AT_FDCWD, path,
		    MOVE_MOUNT_F_EMPTY_PATH) < 0)
		fail(errno, 0, "binding %s", path);
	close(fd);
}

/* The filesystem view from the runtime's template (see cell.c): a mount
 * namespace whose root already is the host's root, read-only, with the
 * hidden paths covered and nothing of the host's tree left above it.  A
 * private copy of it (unshare) gets the cell's own /proc, /dev, /tmp,
 * /run and its binds.  Nothing is unmounted, so no step waits for an RCU
 * grace period (each umount does, and they queue behind each other when
 * many cells start at once).  cell.c uses this only when no bind
 * overlaps a hidden path (binds go on after the hiding here). */
static void make_root_from_template(const struct cell_plan *p)
{
	int work_fd, fds[CELL_TMPL_MAX_BINDS];
	size_t nb = 0;

	/* The sources, while the host's tree is still ours. */
	work_fd = clone_tree(p->work_src, true, p->work_path);
	for (size_t i = 0; i < p->n_mnts; i++) {
		const struct cell_mnt *m = &p->mnts[i];

		if (m->kind == CELL_MNT_HIDE)
			continue;
		if (nb == CELL_TMPL_MAX_BINDS)
			fail(E2BIG, 0, "too many bound paths");
		fds[nb++] = clone_tree(m->src, m->kind == CELL_MNT_BIND_RW,
				       m->dst + p->stage_len);
	}
	if (setns(p->tmpl_fd, CLONE_NEWNS) < 0)
		fail(errno, 0, "joining the template mount namespace");
	if (unshare(CLONE_NEWNS) < 0)
		fail(errno, 0, "copying the template mount namespace");

	mount_own(p, false);
	attach_tree(work_fd, p->work_path, true);
	nb = 0;
	for (size_t i = 0; i < p->n_mnts; i++) {
		const struct cell_mnt *m = &p->mnts[i];

		if (m->kind != CELL_MNT_HIDE)
			attach_tree(fds[nb++], m->dst + p->stage_len,
				    m->src_is_dir);
	}
	if (chdir(p->work_path) < 0)
		fail(errno, 0, "entering %s", p->work_path);
}

static void set_limit(int res, rlim_t v, const char *name)
{
	struct rlimit rl = { .rlim_cur = v, .rlim_max = v };

	if (setrlimit(res, &rl) < 0)
		fail(errno, 0, "setting %s", name);
}

/* stdin /dev/null, stdout and stderr the output, the error, status and
 * sync pipes at 3, 4 and 5 (close-on-exec), everything else closed. */
static void arrange_fds(const struct cell_plan *p)
{
	int nul, e, s, y, o;

	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul < 0)
		fail(errno, 0, "opening /dev/null");
	e = fcntl(p->err_fd, F_DUPFD_CLOEXEC, 10);
	s = fcntl(p->status_fd, F_DUPFD_CLOEXEC, 10);
	y = fcntl(p->sync_fd, F_DUPFD_CLOEXEC, 10);
	o = fcntl(p->out_fd, F_DUPFD_CLOEXEC, 10);
	if (e < 0 || s < 0 || y < 0 || o < 0)
		fail(errno, 0, "duplicating descriptors");
	err_fd = e;
	if (dup2(nul, 0) < 0 || dup2(o, 1) < 0 || dup2(o, 2) < 0 ||
	    dup3(e, ERR_FD, O_CLOEXEC) < 0 ||
	    dup3(s, STATUS_FD, O_CLOEXEC) < 0 ||
	    dup3(y, SYNC_FD, O_CLOEXEC) < 0)
		fail(errno, 0, "arranging descriptors");
	err_fd = ERR_FD;
	if (syscall(SYS_close_range, SYNC_FD + 1, ~0U, 0) < 0)
		fail(errno, 0, "closing descriptors");
}

/* Become the run user with no capabilities at all: bounding and ambient
 * sets emptied while still root, then the ids, then the three sets zeroed
 * (setresuid already cleared permitted and effective; this makes sure the
 * inheritable set is empty too).  Raw system calls: libc's wrappers would
 * try to reach the parent's other threads. */
static void drop_privileges(const struct cell_plan *p)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct data[2];

	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;
			fail(errno, 0, "dropping capability %d", cap);
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		fail(errno, 0, "clearing ambient capabilities");
	if (syscall(SYS_setgroups, 0, NULL) < 0)
		fail(errno, 0, "clearing supplementary groups");
	if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0)
		fail(errno, 0, "setting gid %u", (unsigned)p->gid);
	if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0)
		fail(errno, 0, "setting uid %u", (unsigned)p->uid);
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail(errno, 0, "clearing capabilities");
}

static const int forwarded[] = {
	SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH,
};

/* The init: reap everything, forward signals to the program, report its
 * status and exit when it ends.  Its exit takes the rest of the cell. */
_Noreturn static void run_init(pid_t main_pid, const sigset_t *set)
{
	siginfo_t si;
	int sig, ws;
	pid_t p;

	close(ERR_FD);
	close(SYNC_FD);
	close(0);
	close(1);
	close(2);
	for (;;) {
		sig = sigwaitinfo(set, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			(void)kill(main_pid, sig);
			continue;
		}
		while ((p = waitpid(-1, &ws, WNOHANG)) > 0) {
			if (p != main_pid)
				continue;
			(void)!write(STATUS_FD, &ws, sizeof(ws));
			_exit(WIFEXITED(ws) ? WEXITSTATUS(ws) :
					      128 + WTERMSIG(ws));
		}
	}
}

/* The program's process, sharing the init's memory until it execs. */
struct spawn_args {
	const struct cell_plan *p;
	const sigset_t *prog_mask;
	int err; /* set when the exec failed */
};

static char spawn_stack[64 * 1024] __attribute__((aligned(16)));

static int spawn_main(void *arg)
{
	struct spawn_args *a = arg;

	sigprocmask(SIG_SETMASK, a->prog_mask, NULL);
	execvp(a->p->argv[0], a->p->argv);
	a->err = errno;
	_exit(127);
}

_Noreturn void cell_child_main(const struct cell_plan *p)
{
	sigset_t set, prog_mask;
	struct pollfd pfd;
	pid_t pid;
	char c;

	err_fd = p->err_fd;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fail(errno, 0, "setting the parent-death signal");
	/* Dispositions the supervisor set (SIGPIPE ignored, handlers) must
	 * not reach the program. */
	sig_reset_dispositions();
	if (p->netns_fd >= 0 && setns(p->netns_fd, CLONE_NEWNET) < 0)
		fail(errno, 0, "joining the network namespace");
	umask(0);
	if (p->tmpl_fd >= 0)
		make_root_from_template(p);
	else
		make_root(p);
	umask(022);
	if (sethostname("runcell", 7) < 0)
		fail(errno, 0, "setting the hostname");

	/* The parent attaches us to the v1 cgroups meanwhile; nothing of
	 * the program's runs before it says so.  EOF: it gave up or died. */
	if (read(p->sync_fd, &c, 1) != 1)
		_exit(127);

	set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
	set_limit(RLIMIT_FSIZE, p->fsize, "RLIMIT_FSIZE");
	if (setsid() < 0)
		fail(errno, 0, "setsid");
	/* Close what we inherited (the launcher holds one network namespace
	 * per slot, far more than 1024 with a large pool) before lowering
	 * the open-file limit, or opening /dev/null fails with EMFILE. */
	arrange_fds(p);
	set_limit(RLIMIT_NOFILE, 1024, "RLIMIT_NOFILE");
	drop_privileges(p);

	/* Changing credentials cleared the parent-death signal: set it
	 * again, then make sure the parent did not die in between (it holds
	 * the sync pipe open until we have exec'd). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fail(errno, 0, "setting the parent-death signal");
	pfd.fd = SYNC_FD;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR)))
		_exit(127);
	/* The init is a copy of the supervisor's memory: nobody in the cell
	 * may read it through /proc (the uid change cleared it already). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail(errno, 0, "clearing the dumpable flag");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(errno, 0, "setting no_new_privs");
	{
		int r = cell_seccomp_load(p->prog);

		if (r < 0)
			fail(-r, 0, "loading the seccomp filter");
	}

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_SETMASK, &set, NULL);
	/* The program starts with nothing blocked, whatever the supervisor
	 * had blocked (signalfd users block SIGCHLD and SIGTERM). */
	sigemptyset(&prog_mask);

	/* A vfork-style clone instead of fork: the program's process does
	 * not copy the supervisor's page tables only to drop them at exec.
	 * (Not posix_spawn: glibc's leaves its internal signals ignored in
	 * the program.)  The init waits, suspended, until the exec. */
	{
		struct spawn_args a = { .p = p, .prog_mask = &prog_mask };

		environ = (char **)p->env; /* the PATH search uses it */
		pid = clone(spawn_main, spawn_stack + sizeof(spawn_stack),
			    CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
		if (pid < 0)
			fail(errno, 0, "starting the program's process");
		if (a.err) {
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			fail(a.err, 1, "%s", p->argv[0]);
		}
	}
	run_init(pid, &set);
}
