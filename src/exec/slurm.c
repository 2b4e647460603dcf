/*
 * slurm.c - the "slurm" executor: each run is a batch job on a Slurm
 * cluster.
 *
 * start writes into the shared output folder a fixed job script <run>.sh
 * (no parameter text in it), the command <run>.cmd (environment entries
 * then argv, NUL-separated, read by the script with bash's mapfile and run
 * with "env -i") and a small note <run>.json (log cap, timeout, job id,
 * when the job was seen running) that lets a restarted service re-adopt
 * the run; then submits the script with sbatch.  The handle is
 * "slurm:<jobid>".
 *
 * One poller thread per backend asks squeue about every watched job in
 * batches, asks scontrol only about jobs that reached a final state (for
 * the exit code and reason), copies new bytes of each job's output file
 * into the run's local log, enforces runcell's own timeout with scancel,
 * and reports events.  When the controller cannot be reached, states stay
 * as they are and the poller backs off; nothing is reported finished
 * without Slurm saying so.
 *
 * Only the Slurm command-line tools are used (libslurm's ABI changes every
 * release).  They run with posix_spawnp and an argv array, never through a
 * shell, and inherit the service's environment (SLURM_CONF, PATH); only the
 * job itself gets the clean environment of the spec.  See
 * docs/engines/slurm.md.
 */
#include "../exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SLURM_BATCH 200                /* job ids per squeue call */
#define SLURM_BACKOFF_MAX_MS 30000     /* longest wait while Slurm is down */
#define SLURM_CMD_TIMEOUT_MS 60000     /* a Slurm tool that hangs is killed */
#define SLURM_CMD_OUT_MAX (4u << 20)   /* output kept from one tool run */
#define SLURM_NOTE_MAX 65536

/* One watched job.  Created by start/attach, then owned by the poller:
 * only the poller changes or frees it, except for the fields marked
 * "lock", which other threads may set under s->lock. */
struct sjob {
	struct sjob *next;             /* lock */
	char *run_id;
	char *job_id;                  /* digits */
	char *log_path;
	char *out_path;                /* <output_dir>/<run>.out */
	int64_t log_max;               /* 0 = no cap */
	int64_t log_base;              /* log size before the job's output */
	int64_t log_len;               /* current size of the local log */
	int64_t out_off;               /* bytes of out_path already copied */
	bool truncated;
	bool last_nl;                  /* last byte written was '\n' */
	int64_t timeout_ms;            /* runcell's own limit, 0 = none */
	int64_t running_at;            /* wall ms first seen running, 0 */
	bool reported_running;
	bool timeout_cancel;           /* we scancelled it for the timeout */
	bool stop_requested;           /* lock */
	bool report_lost;              /* attach found it gone: say lost */
	/* filled by each poll */
	bool seen;
	char state[32];
	char reason[160];
};

struct slurm {
	struct executor *ex;
	char *partition;               /* NULL = the cluster's default */
	char *output_dir;
	char *sbatch, *squeue, *scontrol, *scancel;
	char **extra_args;             /* NULL-terminated, may be empty */
	int64_t poll_ms;
	int64_t grace_ms;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct sjob *jobs;             /* lock */
	bool wake;                     /* lock: poll now */
	atomic_bool quit;
	pthread_t thread;
	bool down_logged;              /* poller only */
};

/* ---- settings ---------------------------------------------------------- */

static const char *const settings_keys[] = {
	"partition", "output_dir", "poll_interval", "timeout_grace",
	"sbatch", "squeue", "scontrol", "scancel", "extra_args", NULL,
};

static const char *const option_keys[] = {
	"partition", "account", "qos", NULL,
};

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

/* Characters allowed in names that end up inside the (fixed) job script:
 * the output folder and the run id. */
static bool safe_path(const char *p)
{
	if (!*p)
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("/._+-", *p)))
			return false;
	return true;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Whether cmd names an executable: a path, or a name found on PATH. */
static bool command_exists(const char *cmd)
{
	const char *path = getenv("PATH");
	const char *p, *end;
	bool found = false;

	if (strchr(cmd, '/'))
		return access(cmd, X_OK) == 0;
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; !found; p = end + 1) {
		char *full;

		end = strchrnul(p, ':');
		full = xasprintf("%.*s/%s", end == p ? 1 : (int)(end - p),
				 end == p ? "." : p, cmd);
		found = access(full, X_OK) == 0;
		free(full);
		if (!*end)
			break;
	}
	return found;
}

static int setting_string(json_t *conf, const char *key, const char *def,
			  char **out, struct rc_err *err)
{
	json_t *v = json_object_get(conf, key);

	if (!v) {
		*out = xstrdup(def);
		return 0;
	}
	if (!json_is_string(v) || !*json_string_value(v))
		return rc_err_field(err, key,
				    "executors.slurm.%s must be a non-empty "
				    "string",
				    key);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int setting_duration(json_t *conf, const char *key, const char *def,
			    int64_t min, int64_t *out, struct rc_err *err)
{
	json_t *v = json_object_get(conf, key);
	const char *s = def;

	if (v && !json_is_string(v))
		return rc_err_field(err, key,
				    "executors.slurm.%s must be a duration "
				    "string such as \"%s\"",
				    key, def);
	if (v)
		s = json_string_value(v);
	if (parse_duration_ms(s, out) < 0 || *out < min)
		return rc_err_field(err, key,
				    "executors.slurm.%s: \"%s\" is not a "
				    "duration of at least %lldms (write e.g. "
				    "\"%s\")",
				    key, s, (long long)min, def);
	return 0;
}

/* Read and check executors.slurm into s. */
static int settings_load(struct slurm *s, const struct config *cfg,
			 struct rc_err *err)
{
	json_t *conf = cfg && cfg->executors ?
			       json_object_get(cfg->executors, "slurm") :
			       NULL;
	json_t *v;
	const char *key;
	char *def_out = NULL;
	size_t i, n;
	int ret = -1;

	if (conf && !json_is_object(conf))
		return rc_err_field(err, "slurm",
				    "executors.slurm must be a mapping of "
				    "settings");
	/* Hold a reference either way (a new empty object if absent). */
	conf = conf ? json_incref(conf) : json_object();
	if (!cfg || !cfg->server.data_dir)
		def_out = xstrdup("/var/lib/runcell/slurm");
	else
		def_out = xasprintf("%s/slurm", cfg->server.data_dir);
	json_object_foreach(conf, key, v) {
		if (!in_list(settings_keys, key)) {
			rc_err_field(err, key,
				     "executors.slurm: unknown key \"%s\"; "
				     "known keys are partition, output_dir, "
				     "poll_interval, timeout_grace, sbatch, "
				     "squeue, scontrol, scancel, extra_args",
				     key);
			goto out;
		}
	}
	v = json_object_get(conf, "partition");
	if (v && (!json_is_string(v) || !*json_string_value(v))) {
		rc_err_field(err, "partition",
			     "executors.slurm.partition must be a non-empty "
			     "string");
		goto out;
	}
	s->partition = v ? xstrdup(json_string_value(v)) : NULL;
	if (setting_string(conf, "output_dir", def_out, &s->output_dir,
			   err) < 0)
		goto out;
	if (s->output_dir[0] != '/' || !safe_path(s->output_dir)) {
		rc_err_field(err, "output_dir",
			     "executors.slurm.output_dir \"%s\" must be an "
			     "absolute path made of letters, digits and "
			     "/._+- only (it is written into job scripts)",
			     s->output_dir);
		goto out;
	}
	if (setting_duration(conf, "poll_interval", "1s", 50, &s->poll_ms,
			     err) < 0 ||
	    setting_duration(conf, "timeout_grace", "2s", 0, &s->grace_ms,
			     err) < 0)
		goto out;
	if (setting_string(conf, "sbatch", "sbatch", &s->sbatch, err) < 0 ||
	    setting_string(conf, "squeue", "squeue", &s->squeue, err) < 0 ||
	    setting_string(conf, "scontrol", "scontrol", &s->scontrol, err) <
		    0 ||
	    setting_string(conf, "scancel", "scancel", &s->scancel, err) < 0)
		goto out;

	v = json_object_get(conf, "extra_args");
	if (v && !json_is_array(v)) {
		rc_err_field(err, "extra_args",
			     "executors.slurm.extra_args must be a list of "
			     "sbatch options, e.g. [\"--nice=10\"]");
		goto out;
	}
	n = v ? json_array_size(v) : 0;
	s->extra_args = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++) {
		json_t *a = json_array_get(v, i);

		if (!json_is_string(a) || !*json_string_value(a)) {
			rc_err_field(err, "extra_args",
				     "executors.slurm.extra_args[%zu] must be "
				     "a non-empty string",
				     i);
			goto out;
		}
		s->extra_args[i] = xstrdup(json_string_value(a));
	}
	ret = 0;
out:
	json_decref(conf);
	free(def_out);
	return ret;
}

/* ---- running the Slurm tools ------------------------------------------ */

struct cmd_result {
	int status;                    /* exit code, or 128+signal */
	struct buf out;
	struct buf err;
};

static void cmd_result_init(struct cmd_result *r)
{
	r->status = -1;
	buf_init(&r->out, SLURM_CMD_OUT_MAX);
	buf_init(&r->err, SLURM_CMD_OUT_MAX);
}

static void cmd_result_free(struct cmd_result *r)
{
	buf_free(&r->out);
	buf_free(&r->err);
}

/* First line of a tool's stderr, for messages. */
static const char *cmd_stderr(struct cmd_result *r, char *tmp, size_t n)
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
static int cmd_run(struct slurm *s, char *const *argv, bool abortable,
		   struct cmd_result *r, struct rc_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int64_t deadline = time_mono_ms() + SLURM_CMD_TIMEOUT_MS;
	bool killed = false;
	pid_t pid;
	int rc, st, ret = -1;

	cmd_result_init(r);
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
		rc_err_set(err, rc, "cannot run %s: %s", argv[0],
			   strerror(rc));
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

			if (*fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP |
							   POLLERR)))
				continue;
			n = read(*fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(*fd);
				*fd = -1;
				continue;
			}
			buf_append(b, chunk, (size_t)n); /* past the cap: dropped */
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
		rc_err_set(err, ECANCELED, "%s: stopped, the backend is closing",
			   argv[0]);
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

static bool err_says_unknown_job(struct cmd_result *r)
{
	return (r->err.data && strstr(r->err.data, "Invalid job id")) ||
	       (r->out.data && strstr(r->out.data, "Invalid job id"));
}

/* scancel one job.  A job that already ended is not an error. */
static int job_cancel(struct slurm *s, const char *job_id, bool abortable,
		      struct rc_err *err)
{
	char *argv[] = { s->scancel, (char *)job_id, NULL };
	struct cmd_result r;
	char msg[256];
	int ret = -1;

	if (cmd_run(s, argv, abortable, &r, err) < 0)
		goto out;
	if (r.status != 0 && !err_says_unknown_job(&r) &&
	    !(r.err.data && strstr(r.err.data, "already complet"))) {
		rc_err_set(err, EIO, "scancel %s failed (exit %d): %s",
			   job_id, r.status, cmd_stderr(&r, msg, sizeof(msg)));
		goto out;
	}
	ret = 0;
out:
	cmd_result_free(&r);
	return ret;
}

/* ---- files in the output folder ---------------------------------------- */

static char *run_file(struct slurm *s, const char *run_id, const char *ext)
{
	return xasprintf("%s/%s.%s", s->output_dir, run_id, ext);
}

static int write_new_file(const char *path, const void *data, size_t n,
			  unsigned mode, struct rc_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0)
		return rc_err_set(err, errno, "cannot create %s: %s", path,
				  strerror(errno));
	if (fchmod(fd, mode) < 0 || write_all(fd, data, n) < 0) {
		rc_err_set(err, errno, "cannot write %s: %s", path,
			   strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return rc_err_set(err, errno, "cannot write %s: %s", path,
				  strerror(errno));
	return 0;
}

/* The note that lets a restarted service re-adopt the run. */
static int note_write(struct slurm *s, const struct sjob *j,
		      struct rc_err *err)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "run_id",
			      j->run_id, "job_id", j->job_id, "log_max_bytes",
			      (json_int_t)j->log_max, "log_base",
			      (json_int_t)j->log_base, "timeout_ms",
			      (json_int_t)j->timeout_ms, "running_at",
			      (json_int_t)j->running_at);
	char *path = run_file(s, j->run_id, "json");
	char *text = json_dumps(o, JSON_COMPACT);
	int ret = write_file_atomic(path, text, strlen(text), err);

	free(text);
	free(path);
	json_decref(o);
	return ret;
}

/* Fill limits of j from its note, if there is one. */
static void note_read(struct slurm *s, struct sjob *j)
{
	char *path = run_file(s, j->run_id, "json");
	char *text = NULL;
	size_t len;
	json_t *o;

	if (read_file(path, SLURM_NOTE_MAX, &text, &len, NULL) == 0 &&
	    (o = json_loads(text, 0, NULL))) {
		j->log_max = json_integer_value(
			json_object_get(o, "log_max_bytes"));
		j->log_base = json_integer_value(json_object_get(o, "log_base"));
		j->timeout_ms = json_integer_value(
			json_object_get(o, "timeout_ms"));
		j->running_at = json_integer_value(
			json_object_get(o, "running_at"));
		json_decref(o);
	}
	free(text);
	free(path);
}

static void run_files_remove(struct slurm *s, const char *run_id)
{
	static const char *const exts[] = { "sh", "cmd", "json" };

	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		char *p = run_file(s, run_id, exts[i]);

		unlink(p);
		free(p);
	}
}

/*
 * The job script.  Fixed text apart from the .cmd file's path, which holds
 * only the output folder and the run id (both checked to be plain
 * characters).  The command is never parsed by a shell: mapfile reads the
 * NUL-separated words into an array and "${c[@]}" passes each one as one
 * argument to env, which clears the environment, sets the NAME=value
 * entries and execs argv.
 */
static char *job_script(const char *cmd_path)
{
	return xasprintf(
		"#!/bin/bash\n"
		"# runcell job script.  It runs the command stored in the\n"
		"# file below (NUL-separated: NAME=value entries, then argv)\n"
		"# with exactly that environment.  No parameter is part of\n"
		"# this text.\n"
		"f='%s'\n"
		"if ! mapfile -d '' -t c < \"$f\"; then\n"
		"\techo \"runcell: cannot read $f\" >&2\n"
		"\texit 127\n"
		"fi\n"
		"exec /usr/bin/env -i -- \"${c[@]}\"\n",
		cmd_path);
}

/* ---- logs -------------------------------------------------------------- */

static void log_open_state(struct sjob *j)
{
	struct stat st;

	j->log_len = stat(j->log_path, &st) == 0 ? st.st_size : 0;
	j->last_nl = true;
}

/* Copy new bytes of the job's output file into the local log, up to the
 * cap; past it, write the marker line once and discard the rest. */
static void log_copy(struct sjob *j)
{
	char chunk[65536];
	int in, outfd = -1;

	if (j->truncated)
		return;
	in = open(j->out_path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return;
	for (;;) {
		ssize_t n = pread(in, chunk, sizeof(chunk), j->out_off);
		size_t keep;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (outfd < 0) {
			outfd = open(j->log_path,
				     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
				     0640);
			if (outfd < 0)
				break;
		}
		keep = (size_t)n;
		if (j->log_max > 0 && j->log_len + n > j->log_max)
			keep = (size_t)(j->log_max - j->log_len);
		if (keep && write_all(outfd, chunk, keep) < 0)
			break;
		if (keep) {
			j->last_nl = chunk[keep - 1] == '\n';
			j->log_len += (int64_t)keep;
		}
		j->out_off += n;
		if (keep < (size_t)n) {
			char *m = xasprintf(
				"%s[runcell: log truncated at %lld bytes; "
				"further output discarded]\n",
				j->last_nl ? "" : "\n", (long long)j->log_max);

			write_all(outfd, m, strlen(m));
			free(m);
			j->truncated = true;
			break;
		}
	}
	if (outfd >= 0)
		close(outfd);
	close(in);
}

/* ---- the watch list ---------------------------------------------------- */

static void sjob_free(struct sjob *j)
{
	if (!j)
		return;
	free(j->run_id);
	free(j->job_id);
	free(j->log_path);
	free(j->out_path);
	free(j);
}

static struct sjob *sjob_new(struct slurm *s, const char *run_id,
			     const char *job_id, const char *log_path)
{
	struct sjob *j = xcalloc(1, sizeof(*j));

	j->run_id = xstrdup(run_id);
	j->job_id = xstrdup(job_id);
	j->log_path = xstrdup(log_path);
	j->out_path = run_file(s, run_id, "out");
	return j;
}

/* Find a watched job by run id; caller holds the lock. */
static struct sjob *sjob_find_locked(struct slurm *s, const char *run_id)
{
	for (struct sjob *j = s->jobs; j; j = j->next)
		if (!strcmp(j->run_id, run_id))
			return j;
	return NULL;
}

/* Add j to the watch list unless the run is already watched (then j is
 * freed).  wake: poll at once rather than at the next tick. */
static void sjob_watch(struct slurm *s, struct sjob *j, bool wake)
{
	pthread_mutex_lock(&s->lock);
	if (sjob_find_locked(s, j->run_id)) {
		pthread_mutex_unlock(&s->lock);
		sjob_free(j);
		return;
	}
	j->next = s->jobs;
	s->jobs = j;
	if (wake) {
		s->wake = true;
		pthread_cond_signal(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

static void sjob_unwatch(struct slurm *s, struct sjob *j)
{
	pthread_mutex_lock(&s->lock);
	for (struct sjob **pp = &s->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* ---- start, stop, attach ----------------------------------------------- */

static int parse_handle(const char *handle, const char **job_id,
			struct rc_err *err)
{
	if (!handle || !str_has_prefix(handle, "slurm:") ||
	    !all_digits(handle + 6))
		return rc_err_set(err, EINVAL,
				  "\"%s\" is not a slurm handle "
				  "(slurm:<jobid>)",
				  handle ? handle : "(null)");
	*job_id = handle + 6;
	return 0;
}

/* The per-automation options (partition, account, qos), checked. */
static int automation_options(struct slurm *s, const char *automation_id,
			      const char *opt[3], struct rc_err *err)
{
	const struct automation *a =
		s->ex->cfg && automation_id ?
			config_automation(s->ex->cfg, automation_id) :
			NULL;
	const char *key;
	json_t *v;

	opt[0] = s->partition;
	opt[1] = opt[2] = NULL;
	if (!a || !a->executor_options)
		return 0;
	if (!json_is_object(a->executor_options))
		return rc_err_field(err, "executor_options",
				    "automation %s: executor_options must be "
				    "a mapping",
				    automation_id);
	json_object_foreach(a->executor_options, key, v) {
		int i;

		for (i = 0; option_keys[i]; i++)
			if (!strcmp(option_keys[i], key))
				break;
		if (!option_keys[i])
			return rc_err_field(err, key,
					    "automation %s: unknown slurm "
					    "executor option \"%s\"; use "
					    "partition, account or qos",
					    automation_id, key);
		if (!json_is_string(v) || !*json_string_value(v))
			return rc_err_field(err, key,
					    "automation %s: executor option "
					    "\"%s\" must be a non-empty string",
					    automation_id, key);
		opt[i] = json_string_value(v);
	}
	return 0;
}

/* The .cmd file: environment entries then argv, each NUL-terminated. */
static int build_cmd(const struct exec_spec *spec, struct buf *b,
		     struct rc_err *err)
{
	if (!spec->argv || !spec->argv[0] || !spec->argv[0][0])
		return rc_err_set(err, EINVAL, "run %s has no command",
				  spec->run_id);
	if (strchr(spec->argv[0], '='))
		return rc_err_set(err, EINVAL,
				  "command \"%s\" contains '=': env(1) would "
				  "take it for a variable; rename or move it",
				  spec->argv[0]);
	for (char *const *e = spec->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');

		if (!eq || eq == *e)
			return rc_err_set(err, EINVAL,
					  "environment entry \"%s\" is not "
					  "NAME=value",
					  *e);
		buf_append(b, *e, strlen(*e) + 1);
	}
	for (char *const *a = spec->argv; *a; a++)
		buf_append(b, *a, strlen(*a) + 1);
	return 0;
}

static int find_by_name(struct slurm *s, const char *run_id, char **job_id,
			struct rc_err *err);

static int slurm_start(struct executor *ex, const struct exec_spec *spec,
		       char **handle, struct rc_err *err)
{
	struct slurm *s = ex->priv;
	const struct resources *res = spec->res;
	const char *opt[3];
	char *sh = NULL, *cmd = NULL, *out = NULL, *script = NULL;
	char *args[32 + 1];
	char **argv = NULL;
	size_t na = 0, nextra = strv_len(s->extra_args);
	struct buf cmdbuf;
	struct cmd_result r;
	struct sjob *j = NULL;
	struct stat st;
	char msg[RC_ERR_MSG_MAX / 2];
	char *job_id = NULL;
	int rc, ret = -1, fd;

	if (!spec->run_id || !safe_path(spec->run_id) ||
	    strchr(spec->run_id, '/') || spec->run_id[0] == '.')
		return rc_err_set(err, EINVAL, "bad run id \"%s\"",
				  spec->run_id ? spec->run_id : "(null)");
	buf_init(&cmdbuf, 0);
	cmd_result_init(&r);
	if (automation_options(s, spec->automation_id, opt, err) < 0 ||
	    build_cmd(spec, &cmdbuf, err) < 0)
		goto out;
	if (mkdir_p(s->output_dir, 0700, err) < 0)
		goto out;

	/* The local log exists from the start, so readers find it. */
	fd = open(spec->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		  0640);
	if (fd < 0) {
		rc_err_set(err, errno, "cannot create log %s: %s",
			   spec->log_path, strerror(errno));
		goto out;
	}
	close(fd);

	sh = run_file(s, spec->run_id, "sh");
	cmd = run_file(s, spec->run_id, "cmd");
	out = run_file(s, spec->run_id, "out");
	script = job_script(cmd);
	unlink(out);
	if (write_new_file(cmd, cmdbuf.data, cmdbuf.len, 0600, err) < 0 ||
	    write_new_file(sh, script, strlen(script), 0700, err) < 0)
		goto out;

	args[na++] = xstrdup(s->sbatch);
	args[na++] = xstrdup("--parsable");
	args[na++] = xasprintf("--job-name=%s", spec->run_id);
	args[na++] = xasprintf("--output=%s", out);
	args[na++] = xstrdup("--export=NONE");
	args[na++] = xstrdup("--no-requeue");
	args[na++] = xasprintf("--chdir=%s",
			       spec->work_dir && stat(spec->work_dir, &st) == 0 ?
				       spec->work_dir :
				       "/tmp");
	args[na++] = xasprintf("--comment=runcell run_id=%s automation=%s "
			       "user=%s",
			       spec->run_id,
			       spec->automation_id ? spec->automation_id : "-",
			       spec->user ? spec->user : "-");
	if (res && res->timeout_ms > 0)
		args[na++] = xasprintf("--time=%lld",
				       (long long)((res->timeout_ms + 59999) /
						   60000));
	if (res && res->memory > 0)
		args[na++] = xasprintf("--mem=%lldM",
				       (long long)((res->memory + (1 << 20) -
						    1) >> 20));
	if (res && res->cpu > 0) {
		long long c = (long long)res->cpu;

		if ((double)c < res->cpu)
			c++;
		args[na++] = xasprintf("--cpus-per-task=%lld", c);
	}
	if (opt[0])
		args[na++] = xasprintf("--partition=%s", opt[0]);
	if (opt[1])
		args[na++] = xasprintf("--account=%s", opt[1]);
	if (opt[2])
		args[na++] = xasprintf("--qos=%s", opt[2]);
	argv = xcalloc(na + nextra + 2, sizeof(char *));
	memcpy(argv, args, na * sizeof(char *));
	for (size_t i = 0; i < nextra; i++)
		argv[na + i] = s->extra_args[i];
	argv[na + nextra] = sh;

	rc = cmd_run(s, argv, false, &r, err);
	if (rc < 0 && err->errnum == ETIMEDOUT &&
	    find_by_name(s, spec->run_id, &job_id, NULL) == 0) {
		/* sbatch hung after the controller took the job. */
		rc_err_clear(err);
	} else if (rc < 0) {
		rc_err_wrap(err, "submitting run %s", spec->run_id);
		goto out;
	} else if (r.status != 0) {
		rc_err_set(err, EIO, "sbatch failed (exit %d): %s", r.status,
			   cmd_stderr(&r, msg, sizeof(msg)));
		goto out;
	} else {
		job_id = xstrndup(r.out.data ? r.out.data : "",
				  strspn(r.out.data ? r.out.data : "",
					 "0123456789"));
		if (!*job_id) {
			rc_err_set(err, EIO,
				   "sbatch printed no job id: \"%.100s\"",
				   r.out.data ? r.out.data : "");
			goto out;
		}
	}

	j = sjob_new(s, spec->run_id, job_id, spec->log_path);
	j->log_max = spec->log_max_bytes > 0 ? spec->log_max_bytes : 0;
	j->timeout_ms = res ? res->timeout_ms : 0;
	log_open_state(j);
	j->log_base = j->log_len;
	if (note_write(s, j, err) < 0) {
		/* The job runs; the note only helps a restart.  Go on. */
		fprintf(stderr, "runcell: slurm: %s\n", err->msg);
		rc_err_clear(err);
	}
	*handle = xasprintf("slurm:%s", job_id);
	sjob_watch(s, j, false);
	ret = 0;
out:
	if (ret < 0 && sh)
		run_files_remove(s, spec->run_id);
	for (size_t i = 0; i < na; i++)
		free(args[i]);
	free(argv);
	free(job_id);
	free(script);
	free(sh);
	free(cmd);
	free(out);
	buf_free(&cmdbuf);
	cmd_result_free(&r);
	return ret;
}

static int slurm_stop(struct executor *ex, const char *run_id,
		      const char *handle, struct rc_err *err)
{
	struct slurm *s = ex->priv;
	const char *job_id;
	struct sjob *j;

	if (!handle) {
		/* Never got a handle: cancel by name (= run id). */
		char *name = xasprintf("--name=%s", run_id);
		char *argv[] = { s->scancel, name, NULL };
		struct cmd_result r;
		int ret = cmd_run(s, argv, false, &r, err);

		if (ret == 0 && r.status != 0)
			ret = rc_err_set(err, EIO, "scancel --name=%s failed",
					 run_id);
		cmd_result_free(&r);
		free(name);
		return ret;
	}
	if (parse_handle(handle, &job_id, err) < 0)
		return -1;
	pthread_mutex_lock(&s->lock);
	j = sjob_find_locked(s, run_id);
	if (j)
		j->stop_requested = true;
	pthread_mutex_unlock(&s->lock);
	if (job_cancel(s, job_id, false, err) < 0)
		return rc_err_wrap(err, "stopping run %s", run_id);
	return 0;
}

/* The job id of the job named run_id: 0 and *job_id set, 1 if none, -1
 * when Slurm could not be asked. */
static int find_by_name(struct slurm *s, const char *run_id, char **job_id,
			struct rc_err *err)
{
	char *argv[] = { s->squeue, "-h", "-t", "all", "-n", (char *)run_id,
			 "-o", "%i", NULL };
	struct cmd_result r;
	char msg[256];
	size_t n;
	int ret = -1;

	if (cmd_run(s, argv, false, &r, err) < 0)
		goto out;
	if (r.status != 0) {
		rc_err_set(err, EIO, "squeue failed (exit %d): %s", r.status,
			   cmd_stderr(&r, msg, sizeof(msg)));
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
	cmd_result_free(&r);
	return ret;
}

static int slurm_attach(struct executor *ex, const char *run_id,
			const char *handle, const char *log_path,
			struct rc_err *err)
{
	struct slurm *s = ex->priv;
	const char *jid;
	char *found = NULL, *out = NULL, *note = NULL;
	struct sjob *j;
	int rc, ret = -1;

	if (!run_id || !safe_path(run_id) || strchr(run_id, '/'))
		return rc_err_set(err, EINVAL, "bad run id \"%s\"",
				  run_id ? run_id : "(null)");
	if (handle) {
		if (parse_handle(handle, &jid, err) < 0)
			return -1;
	} else {
		rc = find_by_name(s, run_id, &found, err);
		if (rc < 0)
			return rc_err_wrap(err, "looking for run %s in Slurm",
					   run_id);
		if (rc == 1) {
			/* No job by that name.  If it produced output or was
			 * recorded, it was submitted and is gone since;
			 * otherwise it never was. */
			out = run_file(s, run_id, "out");
			note = run_file(s, run_id, "json");
			if (access(out, F_OK) != 0 && access(note, F_OK) != 0) {
				run_files_remove(s, run_id);
				ret = 1;
				goto out;
			}
			found = xstrdup("0");
		}
		jid = found;
	}
	j = sjob_new(s, run_id, jid, log_path);
	j->log_max = ex->cfg ? ex->cfg->server.log_max_bytes : 0;
	note_read(s, j);
	log_open_state(j);
	j->out_off = j->log_len > j->log_base ? j->log_len - j->log_base : 0;
	if (j->log_max > 0 && j->log_len >= j->log_max)
		j->truncated = true;
	j->report_lost = !strcmp(jid, "0");
	sjob_watch(s, j, true);
	ret = 0;
out:
	free(found);
	free(out);
	free(note);
	return ret;
}

/* ---- the poller -------------------------------------------------------- */

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

enum sclass { SC_WAITING, SC_RUNNING, SC_FINAL, SC_UNKNOWN };

static enum sclass state_class(const char *st)
{
	static const char *const final[] = {
		"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY",
		"NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "REVOKED",
		NULL,
	};
	static const char *const running[] = {
		"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING",
		"STAGE_OUT", "RESIZING", NULL,
	};

	if (in_list(final, st))
		return SC_FINAL;
	if (in_list(running, st))
		return SC_RUNNING;
	if (!*st)
		return SC_UNKNOWN;
	return SC_WAITING; /* PENDING, CONFIGURING, REQUEUED, ... */
}

static void emit(struct slurm *s, const struct exec_event *ev)
{
	if (s->ex->on_event)
		s->ex->on_event(s->ex->event_ctx, ev);
}

static void report_running(struct slurm *s, struct sjob *j)
{
	struct exec_event ev = { 0 };
	struct rc_err e;

	if (j->reported_running)
		return;
	j->reported_running = true;
	if (!j->running_at) {
		j->running_at = time_now_ms();
		if (note_write(s, j, &e) < 0)
			fprintf(stderr, "runcell: slurm: %s\n", e.msg);
	}
	ev.run_id = j->run_id;
	ev.state = RUN_RUNNING;
	ev.at = time_now_ms();
	emit(s, &ev);
}

static bool plain_reason(const char *r)
{
	return !*r || !strcmp(r, "None") || !strcmp(r, "NonZeroExitCode");
}

/* Report the terminal event of j, after a last copy of its output, and
 * stop watching it.  exit_code is "code:signal" from scontrol, or "". */
static void finish(struct slurm *s, struct sjob *j, const char *state,
		   const char *exit_code, const char *sreason)
{
	struct exec_event ev = { 0 };
	char reason[320];
	bool stop_requested, ran = true;
	int code = 0, sig = 0;

	pthread_mutex_lock(&s->lock);
	stop_requested = j->stop_requested;
	pthread_mutex_unlock(&s->lock);

	ev.run_id = j->run_id;
	if (*exit_code && sscanf(exit_code, "%d:%d", &code, &sig) == 2) {
		ev.has_exit_code = true;
		ev.exit_code = sig ? 128 + sig : code;
	}
	reason[0] = '\0';
	if (!state) {
		ev.state = RUN_LOST;
		ev.has_exit_code = false;
		ran = false;
		if (strcmp(j->job_id, "0") != 0)
			snprintf(reason, sizeof(reason),
				 "job %s no longer known to Slurm", j->job_id);
		else
			snprintf(reason, sizeof(reason),
				 "the job of run %s was submitted but is no "
				 "longer known to Slurm",
				 j->run_id);
	} else if (!strcmp(state, "COMPLETED")) {
		ev.state = RUN_SUCCEEDED;
		ev.has_exit_code = true;
		ev.exit_code = 0;
	} else if (!strcmp(state, "FAILED")) {
		ev.state = RUN_FAILED;
		if (!plain_reason(sreason))
			snprintf(reason, sizeof(reason), "Slurm: %s", sreason);
	} else if (!strcmp(state, "OUT_OF_MEMORY")) {
		/* Slurm says ExitCode=0:125 here: no real status to keep. */
		ev.state = RUN_FAILED;
		ev.has_exit_code = ev.has_exit_code && sig == 0 && code != 0;
		snprintf(reason, sizeof(reason), "memory limit exceeded");
	} else if (!strcmp(state, "TIMEOUT")) {
		ev.state = RUN_TIMED_OUT;
		ev.has_exit_code = false;
		snprintf(reason, sizeof(reason),
			 "Slurm time limit reached (%s)",
			 plain_reason(sreason) ? "TimeLimit" : sreason);
	} else if (!strcmp(state, "CANCELLED") && j->timeout_cancel) {
		ev.state = RUN_TIMED_OUT;
		ev.has_exit_code = false;
		snprintf(reason, sizeof(reason),
			 "timeout of %lld ms exceeded; job cancelled",
			 (long long)j->timeout_ms);
	} else if (!strcmp(state, "CANCELLED")) {
		ev.state = RUN_CANCELLED;
		ev.has_exit_code = false;
		ran = j->reported_running;
		snprintf(reason, sizeof(reason), "%s%s%s%s",
			 stop_requested ? "stopped" : "job cancelled in Slurm",
			 plain_reason(sreason) ? "" : " (Slurm: ",
			 plain_reason(sreason) ? "" : sreason,
			 plain_reason(sreason) ? "" : ")");
	} else {
		/* NODE_FAIL, BOOT_FAIL, DEADLINE, PREEMPTED, ... */
		ev.state = RUN_FAILED;
		ran = j->reported_running;
		snprintf(reason, sizeof(reason), "Slurm %s%s%s", state,
			 plain_reason(sreason) ? "" : ": ",
			 plain_reason(sreason) ? "" : sreason);
	}
	ev.reason = reason[0] ? reason : NULL;

	log_copy(j);
	if (ran && ev.state != RUN_LOST)
		report_running(s, j);
	ev.at = time_now_ms();
	sjob_unwatch(s, j);
	emit(s, &ev);
	run_files_remove(s, j->run_id);
	sjob_free(j);
}

/* Ask scontrol about one job.  0 with state/exit/reason filled, 1 if
 * Slurm no longer knows the job, -1 if it could not be asked. */
static int job_details(struct slurm *s, const char *job_id, char *state,
		       size_t sn, char *exit_code, size_t en, char *reason,
		       size_t rn)
{
	char *argv[] = { s->scontrol, "show", "job", "-o", (char *)job_id,
			 NULL };
	struct cmd_result r;
	struct rc_err e;
	char *sp;
	int ret = -1;

	if (cmd_run(s, argv, true, &r, &e) < 0)
		goto out;
	if (r.status != 0) {
		ret = err_says_unknown_job(&r) ? 1 : -1;
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
	cmd_result_free(&r);
	return ret;
}

/* One squeue call for jobs[0..n): marks the jobs it lists as seen with
 * their state and reason.  -1 when squeue could not answer. */
static int squeue_batch(struct slurm *s, struct sjob **jobs, size_t n)
{
	struct buf ids;
	struct cmd_result r;
	struct rc_err e;
	char msg[256];
	char *argv[] = { s->squeue, "-h", "-t", "all", "-j", NULL, "-o",
			 "%i|%T|%r", NULL };
	char *line, *nl;
	int ret = -1;

	buf_init(&ids, 0);
	for (size_t i = 0; i < n; i++)
		buf_appendf(&ids, "%s%s", i ? "," : "", jobs[i]->job_id);
	argv[5] = ids.data;
	if (cmd_run(s, argv, true, &r, &e) < 0) {
		if (!s->down_logged && e.errnum != ECANCELED)
			fprintf(stderr, "runcell: slurm: %s\n", e.msg);
		goto out;
	}
	if (r.status != 0) {
		/* With a single id, squeue fails for a job it does not
		 * know; that is an answer, not an outage. */
		if (err_says_unknown_job(&r)) {
			ret = 0;
			goto out;
		}
		if (!s->down_logged)
			fprintf(stderr,
				"runcell: slurm: squeue failed (exit %d): %s; "
				"run states kept, retrying\n",
				r.status, cmd_stderr(&r, msg, sizeof(msg)));
		goto out;
	}
	for (line = r.out.data; line && *line; line = nl) {
		char *f1, *f2;

		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		else
			nl = line + strlen(line);
		f1 = strchr(line, '|');
		f2 = f1 ? strchr(f1 + 1, '|') : NULL;
		if (!f2)
			continue;
		*f1 = *f2 = '\0';
		for (size_t i = 0; i < n; i++) {
			if (strcmp(jobs[i]->job_id, line) != 0)
				continue;
			jobs[i]->seen = true;
			snprintf(jobs[i]->state, sizeof(jobs[i]->state), "%s",
				 f1 + 1);
			snprintf(jobs[i]->reason, sizeof(jobs[i]->reason),
				 "%s", f2 + 1);
		}
	}
	ret = 0;
out:
	buf_free(&ids);
	cmd_result_free(&r);
	return ret;
}

/* Act on what the poll learned about j. */
static void poll_job(struct slurm *s, struct sjob *j)
{
	char state[32], exit_code[32], reason[160];
	int rc;

	if (j->report_lost) {
		finish(s, j, NULL, "", "");
		return;
	}
	log_copy(j);
	exit_code[0] = '\0';
	snprintf(state, sizeof(state), "%s", j->state);
	snprintf(reason, sizeof(reason), "%s", j->reason);
	if (!j->seen || state_class(state) == SC_FINAL) {
		rc = job_details(s, j->job_id, state, sizeof(state), exit_code,
				 sizeof(exit_code), reason, sizeof(reason));
		if (rc < 0 || atomic_load(&s->quit))
			return; /* could not ask: again next time */
		if (rc == 1 && !j->seen) {
			finish(s, j, NULL, "", "");
			return;
		}
		if (rc == 1) {
			/* Purged between the two calls: squeue's answer,
			 * without an exit code. */
			snprintf(state, sizeof(state), "%s", j->state);
			snprintf(reason, sizeof(reason), "%s", j->reason);
			exit_code[0] = '\0';
		}
	}
	switch (state_class(state)) {
	case SC_FINAL:
		finish(s, j, state, exit_code, reason);
		return;
	case SC_RUNNING:
		report_running(s, j);
		break;
	default:
		break;
	}
	if (j->running_at && j->timeout_ms > 0 && !j->timeout_cancel &&
	    time_now_ms() > j->running_at + j->timeout_ms + s->grace_ms) {
		struct rc_err e;

		if (job_cancel(s, j->job_id, true, &e) == 0)
			j->timeout_cancel = true;
		else
			fprintf(stderr, "runcell: slurm: run %s: %s\n",
				j->run_id, e.msg);
	}
}

/* One round over every watched job.  -1 if Slurm could not be reached. */
static int poll_once(struct slurm *s)
{
	struct sjob **jobs = NULL, *j;
	size_t n = 0, i;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	for (j = s->jobs; j; j = j->next)
		n++;
	if (n)
		jobs = xcalloc(n, sizeof(*jobs));
	n = 0;
	for (j = s->jobs; j; j = j->next)
		jobs[n++] = j;
	pthread_mutex_unlock(&s->lock);

	for (i = 0; i < n; i++) {
		jobs[i]->seen = false;
		jobs[i]->state[0] = jobs[i]->reason[0] = '\0';
	}
	for (i = 0; i < n && ret == 0; i += SLURM_BATCH) {
		size_t m = n - i < SLURM_BATCH ? n - i : SLURM_BATCH;
		size_t k = 0;

		/* Jobs known to be gone do not go to squeue. */
		struct sjob **batch = xcalloc(m, sizeof(*batch));

		for (size_t x = 0; x < m; x++)
			if (!jobs[i + x]->report_lost)
				batch[k++] = jobs[i + x];
		if (k && squeue_batch(s, batch, k) < 0)
			ret = -1;
		free(batch);
	}
	for (i = 0; i < n && !atomic_load(&s->quit); i++) {
		if (ret < 0 && !jobs[i]->report_lost) {
			log_copy(jobs[i]); /* output still flows */
			continue;
		}
		poll_job(s, jobs[i]);
	}
	free(jobs);
	return ret;
}

static void *poller(void *arg)
{
	struct slurm *s = arg;
	int64_t wait_ms = s->poll_ms;

	pthread_mutex_lock(&s->lock);
	while (!atomic_load(&s->quit)) {
		struct timespec ts;
		int64_t until;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		until = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
			wait_ms;
		ts.tv_sec = until / 1000;
		ts.tv_nsec = (until % 1000) * 1000000;
		while (!s->wake && !atomic_load(&s->quit)) {
			if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) ==
			    ETIMEDOUT)
				break;
		}
		s->wake = false;
		if (atomic_load(&s->quit))
			break;
		pthread_mutex_unlock(&s->lock);
		if (poll_once(s) < 0) {
			wait_ms = wait_ms * 2 > SLURM_BACKOFF_MAX_MS ?
					  SLURM_BACKOFF_MAX_MS :
					  wait_ms * 2;
			s->down_logged = true;
		} else {
			if (s->down_logged)
				fprintf(stderr, "runcell: slurm: controller "
						"answers again\n");
			s->down_logged = false;
			wait_ms = s->poll_ms;
		}
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- open and close ---------------------------------------------------- */

static void slurm_free(struct slurm *s)
{
	struct sjob *j, *next;

	if (!s)
		return;
	for (j = s->jobs; j; j = next) {
		next = j->next;
		sjob_free(j);
	}
	free(s->partition);
	free(s->output_dir);
	free(s->sbatch);
	free(s->squeue);
	free(s->scontrol);
	free(s->scancel);
	strv_free(s->extra_args);
	free(s);
}

static void slurm_close(struct executor *ex)
{
	struct slurm *s = ex->priv;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	atomic_store(&s->quit, true);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	slurm_free(s);
	ex->priv = NULL;
}

static const struct executor_ops slurm_ops = {
	.name = "slurm",
	.start = slurm_start,
	.attach = slurm_attach,
	.stop = slurm_stop,
	.close = slurm_close,
};

int exec_slurm_open(struct executor *ex, struct rc_err *err)
{
	struct slurm *s = xcalloc(1, sizeof(*s));
	pthread_condattr_t ca;
	const char *tools[4];
	int rc, ret = -1;

	s->ex = ex;
	atomic_init(&s->quit, false);
	if (settings_load(s, ex->cfg, err) < 0)
		goto out;
	tools[0] = s->sbatch;
	tools[1] = s->squeue;
	tools[2] = s->scontrol;
	tools[3] = s->scancel;
	for (int i = 0; i < 4; i++) {
		if (!command_exists(tools[i])) {
			rc_err_set(err, ENOENT,
				   "%s not found%s: install the Slurm client "
				   "tools (Debian: slurm-client) or set its "
				   "path in executors.slurm",
				   tools[i],
				   strchr(tools[i], '/') ? "" : " on PATH");
			goto out;
		}
	}
	if (mkdir_p(s->output_dir, 0700, err) < 0) {
		rc_err_wrap(err, "executors.slurm.output_dir");
		goto out;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&s->thread, NULL, poller, s);
	if (rc != 0) {
		rc_err_set(err, rc, "cannot start the slurm poller: %s",
			   strerror(rc));
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->cond);
		goto out;
	}
	ex->ops = &slurm_ops;
	ex->priv = s;
	s = NULL;
	ret = 0;
out:
	slurm_free(s);
	return ret;
}
