/*
 * slurm_tool.c - running the Slurm command-line tools for the slurm
 * executor: posix_spawnp with an argv array (never a shell), the service's
 * environment, output collected up to a cap, and a time limit after which
 * a hanging tool is killed.  On top of that the single calls the executor
 * makes: scancel a job, find a job by name with squeue, and read one job's
 * final state from scontrol.
 */
#include "slurm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SLURM_CMD_TIMEOUT_MS 60000   /* a Slurm tool that hangs is killed */
#define SLURM_CMD_OUT_MAX (4u << 20) /* output kept from one tool run */

void slurm_cmd_result_init(struct slurm_cmd_result *r)
{
	r->status = -1;
	buf_init(&r->out, SLURM_CMD_OUT_MAX);
	buf_init(&r->err, SLURM_CMD_OUT_MAX);
}

void slurm_cmd_result_free(struct slurm_cmd_result *r)
{
	buf_free(&r->out);
	buf_free(&r->err);
}

/* First line of a tool's stderr, for messages. */
const char *slurm_cmd_stderr(struct slurm_cmd_result *r, char *tmp, size_t n)
{
	const char *e = r->err.len ? r->err.data : r->out.data;
	size_t len;

	if (!e)
		e = "";
	len = strcspn(e, "\n");
	if (len >= n)
		len = n - 1;
	memcpy(tmp, e, len);
	tmp[len] = '\0';
	return tmp[0] ? tmp : "(no message)";
}

/*
 * Run argv (argv[0] looked up on PATH) with the service's environment,
 * stdin from /dev/null, and collect stdout and stderr.  The tool is killed
 * after SLURM_CMD_TIMEOUT_MS, or at once when abortable and the backend is
 * closing.  Returns 0 when it ran (r->status holds its exit status), -1
 * when it could not be started or was killed.
 */
int slurm_cmd_run(struct slurm *s, char *const *argv, bool abortable,
		  struct slurm_cmd_result *r, struct rc_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int64_t deadline = time_mono_ms() + SLURM_CMD_TIMEOUT_MS;
	bool killed = false;
	pid_t pid;
	int rc, st, ret = -1;

	slurm_cmd_result_init(r);
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		rc_err_set(err, errno, "pipe: %s", strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	if (rc != 0) {
		rc_err_set(err, rc, "cannot run %s: %s", argv[0], strerror(rc));
		goto out;
	}

	while (outp[0] >= 0 || errp[0] >= 0) {
		struct pollfd pfd[2] = { { outp[0], POLLIN, 0 },
					 { errp[0], POLLIN, 0 } };
		char chunk[8192];

		if (poll(pfd, 2, 200) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			int *fd = i ? &errp[0] : &outp[0];
			struct buf *b = i ? &r->err : &r->out;
			ssize_t n;

			if (*fd < 0 ||
			    !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(*fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(*fd);
				*fd = -1;
				continue;
			}
			buf_append(b, chunk,
				   (size_t)n); /* past the cap: dropped */
		}
		if (time_mono_ms() > deadline ||
		    (abortable && atomic_load(&s->quit))) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			rc_err_set(err, errno, "waitpid %s: %s", argv[0],
				   strerror(errno));
			goto out;
		}
	}
	if (killed && abortable && atomic_load(&s->quit)) {
		rc_err_set(err, ECANCELED,
			   "%s: stopped, the backend is closing", argv[0]);
		goto out;
	}
	if (killed) {
		rc_err_set(err, ETIMEDOUT, "%s did not answer within %ds",
			   argv[0], SLURM_CMD_TIMEOUT_MS / 1000);
		goto out;
	}
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	ret = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	return ret;
}

bool slurm_err_says_unknown_job(struct slurm_cmd_result *r)
{
	return (r->err.data && strstr(r->err.data, "Invalid job id")) ||
	       (r->out.data && strstr(r->out.data, "Invalid job id"));
}

/* scancel one job.  A job that already ended is not an error. */
int slurm_job_cancel(struct slurm *s, const char *job_id, bool abortable,
		     struct rc_err *err)
{
	char *argv[] = { s->scancel, (char *)job_id, NULL };
	struct slurm_cmd_result r;
	char msg[256];
	int ret = -1;

	if (slurm_cmd_run(s, argv, abortable, &r, err) < 0)
		goto out;
	if (r.status != 0 && !slurm_err_says_unknown_job(&r) &&
	    !(r.err.data && strstr(r.err.data, "already complet"))) {
		rc_err_set(err, EIO, "scancel %s failed (exit %d): %s", job_id,
			   r.status, slurm_cmd_stderr(&r, msg, sizeof(msg)));
		goto out;
	}
	ret = 0;
out:
	slurm_cmd_result_free(&r);
	return ret;
}

/* The job id of the job named run_id: 0 and *job_id set, 1 if none, -1
 * when Slurm could not be asked. */
int slurm_find_by_name(struct slurm *s, const char *run_id, char **job_id,
		       struct rc_err *err)
{
	char *argv[] = { s->squeue,	 "-h", "-t", "all", "-n",
			 (char *)run_id, "-o", "%i", NULL };
	struct slurm_cmd_result r;
	char msg[256];
	size_t n;
	int ret = -1;

	if (slurm_cmd_run(s, argv, false, &r, err) < 0)
		goto out;
	if (r.status != 0) {
		rc_err_set(err, EIO, "squeue failed (exit %d): %s", r.status,
			   slurm_cmd_stderr(&r, msg, sizeof(msg)));
		goto out;
	}
	n = r.out.data ? strspn(r.out.data, "0123456789") : 0;
	if (!n) {
		ret = 1;
		goto out;
	}
	*job_id = xstrndup(r.out.data, n);
	ret = 0;
out:
	slurm_cmd_result_free(&r);
	return ret;
}

/* The value of key=... in a "scontrol show job -o" line: it runs up to the
 * next " Word=" (values such as Reason may hold spaces). */
static void kv_get(const char *line, const char *key, char *out, size_t n)
{
	size_t kl = strlen(key);
	const char *p = line, *v = NULL, *end;

	out[0] = '\0';
	while ((p = strstr(p, key))) {
		if ((p == line || p[-1] == ' ') && p[kl] == '=') {
			v = p + kl + 1;
			break;
		}
		p += kl;
	}
	if (!v)
		return;
	for (end = v; *end && *end != '\n'; end++) {
		const char *w;

		if (*end != ' ')
			continue;
		for (w = end + 1; *w && *w != ' ' && *w != '=' && *w != '\n';
		     w++)
			;
		if (*w == '=' && w > end + 1)
			break;
	}
	if ((size_t)(end - v) >= n)
		end = v + n - 1;
	memcpy(out, v, (size_t)(end - v));
	out[end - v] = '\0';
}

/* Ask scontrol about one job.  0 with state/exit/reason filled, 1 if
 * Slurm no longer knows the job, -1 if it could not be asked. */
int slurm_job_details(struct slurm *s, const char *job_id, char *state,
		      size_t sn, char *exit_code, size_t en, char *reason,
		      size_t rn)
{
	char *argv[] = {
		s->scontrol, "show", "job", "-o", (char *)job_id, NULL
	};
	struct slurm_cmd_result r;
	struct rc_err e;
	char *sp;
	int ret = -1;

	if (slurm_cmd_run(s, argv, true, &r, &e) < 0)
		goto out;
	if (r.status != 0) {
		ret = slurm_err_says_unknown_job(&r) ? 1 : -1;
		goto out;
	}
	if (!r.out.data || !strstr(r.out.data, "JobState=")) {
		ret = 1;
		goto out;
	}
	kv_get(r.out.data, "JobState", state, sn);
	if ((sp = strchr(state, ' ')))
		*sp = '\0';
	kv_get(r.out.data, "ExitCode", exit_code, en);
	kv_get(r.out.data, "Reason", reason, rn);
	ret = 0;
out:
	slurm_cmd_result_free(&r);
	return ret;
}
