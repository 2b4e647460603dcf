/*
 * spawn.c - starting a run's program in process mode, for its supervisor
 * (supervisor.c).
 *
 * The program gets a process group of its own, stdout and stderr on the
 * output pipe, stdin from /dev/null, the run's work folder as its cwd, a
 * clean signal state, no other descriptors and exactly the run's
 * environment; argv[0] without a '/' is searched on the run's PATH, never
 * through a shell.  The child is cloned with CLONE_VM | CLONE_VFORK, as
 * posix_spawn does, so no page tables are copied; a close-on-exec error
 * pipe tells exec failures apart from a running program.
 */
#include "sig.h"
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* PATH used when the run's environment has none. */
#define SPAWN_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* What the child reports on the error pipe when it cannot exec. */
struct exec_failure {
	int stage; /* SPAWN_STAGE_* */
	int errnum;
};

enum { SPAWN_STAGE_CHDIR, SPAWN_STAGE_EXEC, SPAWN_STAGE_SETUP };

/* What the child needs; it shares the supervisor's memory until it
 * execs. */
struct child_args {
	const struct sup_run *r;
	pid_t parent;
	int out_fd;
	int err_fd;
};

/* The child's stack: the supervisor is suspended while the child uses
 * it. */
static char child_stack[64 * 1024] __attribute__((aligned(16)));

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], name, n) && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

/* execve argv[0], searched on the PATH of envp when it has no '/' (as
 * execvpe does, but with the run's PATH and never through a shell).
 * Returns only on failure, with errno set. */
static void exec_search(char *const argv[], char *const envp[])
{
	const char *file = argv[0], *path, *p;
	size_t flen = strlen(file);
	bool eacces = false;
	char cand[PATH_MAX];

	if (strchr(file, '/')) {
		execve(file, argv, envp);
		return;
	}
	path = env_get(envp, "PATH");
	if (!path)
		path = SPAWN_DEFAULT_PATH;
	for (p = path;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);

		if (dlen + 1 + flen + 1 <= sizeof(cand)) {
			if (dlen) {
				memcpy(cand, p, dlen);
				cand[dlen] = '/';
				memcpy(cand + dlen + 1, file, flen + 1);
			} else {
				memcpy(cand, file, flen + 1);
			}
			execve(cand, argv, envp);
			switch (errno) {
			case EACCES:
				eacces = true;
				break;
			case ENOENT:
			case ENOTDIR:
			case ESTALE:
			case ELOOP:
			case ENAMETOOLONG:
			case ENODEV:
			case ETIMEDOUT:
				break;
			default:
				return;
			}
		}
		if (!*end)
			break;
		p = end;
	}
	errno = eacces ? EACCES : ENOENT;
}

/*
 * The child, between clone and exec: system calls only, no allocation (it
 * shares the supervisor's memory).  Reports a failure on the error pipe
 * and exits 127.
 */
static int child_main(void *arg)
{
	const struct child_args *a = arg;
	struct exec_failure f = { .stage = SPAWN_STAGE_SETUP };
	sigset_t none;
	int fd;

	sig_reset_dispositions();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* The run must not outlive its supervisor: nobody could stop it or
	 * record its end. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != a->parent)
		_exit(127);
	setpgid(0, 0);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(a->out_fd, 1) < 0 ||
	    dup2(a->out_fd, 2) < 0)
		goto fail;
	f.stage = SPAWN_STAGE_CHDIR;
	if (chdir(a->r->work_dir) < 0)
		goto fail;
	f.stage = SPAWN_STAGE_SETUP;
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		goto fail;
	f.stage = SPAWN_STAGE_EXEC;
	exec_search(a->r->argv, a->r->env);
fail:
	f.errnum = errno;
	if (write(a->err_fd, &f, sizeof(f)) < 0)
		(void)0; /* nothing else can be done; exit 127 says it */
	_exit(127);
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int sup_spawn_process(const struct sup_run *r, int out_fd, pid_t *pid_out,
		      int *pidfd_out, char **reason)
{
	struct child_args args = {
		.r = r,
		.parent = getpid(),
		.out_fd = out_fd,
	};
	struct exec_failure f;
	sigset_t all, old;
	int ep[2], pidfd, saved;
	ssize_t n;
	pid_t pid;

	if (pipe2(ep, O_CLOEXEC) < 0) {
		*reason =
			xasprintf("cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	args.err_fd = ep[1];
	/* No handler of ours may run in the child before it resets them. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = clone(child_main, child_stack + sizeof(child_stack),
		    CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(ep[1]);
	if (pid < 0) {
		close(ep[0]);
		*reason = xasprintf("cannot fork: %s", strerror(saved));
		return -1;
	}
	/* CLONE_VFORK: the child has exec'd or exited by now. */
	do
		n = read(ep[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == sizeof(f)) {
		reap(pid);
		if (f.stage == SPAWN_STAGE_EXEC)
			*reason = xasprintf("cannot execute %s: %s", r->argv[0],
					    strerror(f.errnum));
		else if (f.stage == SPAWN_STAGE_CHDIR)
			*reason = xasprintf("cannot enter the work folder %s: "
					    "%s",
					    r->work_dir, strerror(f.errnum));
		else
			*reason = xasprintf("cannot set up the process: %s",
					    strerror(f.errnum));
		return 127;
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		saved = errno;
		kill(-pid, SIGKILL);
		reap(pid);
		*reason = xasprintf("pidfd_open: %s (Linux 5.3 or later is "
				    "needed)",
				    strerror(saved));
		return -1;
	}
	*pid_out = pid;
	*pidfd_out = pidfd;
	return 0;
}
