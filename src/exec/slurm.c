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
 *
 * This file holds the settings, start, stop, attach, open and close.  The
 * rest, shared through slurm_int.h: slurm_tool.c runs the tools,
 * slurm_files.c keeps a run's files and copies its output, slurm_poll.c
 * watches the jobs.
 */
#include "../exec.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slurm_int.h"

/* ---- settings ---------------------------------------------------------- */

static const char *const settings_keys[] = {
	"partition", "output_dir", "poll_interval", "timeout_grace", "sbatch",
	"squeue",    "scontrol",   "scancel",	    "extra_args",    NULL,
};

static const char *const option_keys[] = {
	"partition",
	"account",
	"qos",
	NULL,
};

bool slurm_in_list(const char *const *list, const char *s)
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
		if (!slurm_in_list(settings_keys, key)) {
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
	if (setting_string(conf, "output_dir", def_out, &s->output_dir, err) <
	    0)
		goto out;
	if (s->output_dir[0] != '/' || !safe_path(s->output_dir)) {
		rc_err_field(err, "output_dir",
			     "executors.slurm.output_dir \"%s\" must be an "
			     "absolute path made of letters, digits and "
			     "/._+- only (it is written into job scripts)",
			     s->output_dir);
		goto out;
	}
	if (exec_setting_duration(conf, "executors.slurm", "poll_interval",
				  1000, 50, &s->poll_ms, err) < 0 ||
	    exec_setting_duration(conf, "executors.slurm", "timeout_grace",
				  2000, 0, &s->grace_ms, err) < 0)
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
	struct slurm_cmd_result r;
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
	slurm_cmd_result_init(&r);
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

	sh = slurm_run_file(s, spec->run_id, "sh");
	cmd = slurm_run_file(s, spec->run_id, "cmd");
	out = slurm_run_file(s, spec->run_id, "out");
	script = slurm_job_script(cmd);
	unlink(out);
	if (slurm_write_new_file(cmd, cmdbuf.data, cmdbuf.len, 0600, err) < 0 ||
	    slurm_write_new_file(sh, script, strlen(script), 0700, err) < 0)
		goto out;

	args[na++] = xstrdup(s->sbatch);
	args[na++] = xstrdup("--parsable");
	args[na++] = xasprintf("--job-name=%s", spec->run_id);
	args[na++] = xasprintf("--output=%s", out);
	args[na++] = xstrdup("--export=NONE");
	args[na++] = xstrdup("--no-requeue");
	args[na++] = xasprintf(
		"--chdir=%s", spec->work_dir && stat(spec->work_dir, &st) == 0 ?
				      spec->work_dir :
				      "/tmp");
	args[na++] = xasprintf("--comment=runcell run_id=%s automation=%s "
			       "user=%s",
			       spec->run_id,
			       spec->automation_id ? spec->automation_id : "-",
			       spec->user ? spec->user : "-");
	if (res && res->timeout_ms > 0)
		args[na++] = xasprintf(
			"--time=%lld",
			(long long)((res->timeout_ms + 59999) / 60000));
	if (res && res->memory > 0)
		args[na++] = xasprintf(
			"--mem=%lldM",
			(long long)((res->memory + (1 << 20) - 1) >> 20));
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

	rc = slurm_cmd_run(s, argv, false, &r, err);
	if (rc < 0 && err->errnum == ETIMEDOUT &&
	    slurm_find_by_name(s, spec->run_id, &job_id, NULL) == 0) {
		/* sbatch hung after the controller took the job. */
		rc_err_clear(err);
	} else if (rc < 0) {
		rc_err_wrap(err, "submitting run %s", spec->run_id);
		goto out;
	} else if (r.status != 0) {
		rc_err_set(err, EIO, "sbatch failed (exit %d): %s", r.status,
			   slurm_cmd_stderr(&r, msg, sizeof(msg)));
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

	j = slurm_job_new(s, spec->run_id, job_id, spec->log_path);
	j->log_max = spec->log_max_bytes > 0 ? spec->log_max_bytes : 0;
	j->timeout_ms = res ? res->timeout_ms : 0;
	slurm_log_open_state(j);
	j->log_base = j->log_len;
	if (slurm_note_write(s, j, err) < 0) {
		/* The job runs; the note only helps a restart.  Go on. */
		fprintf(stderr, "runcell: slurm: %s\n", err->msg);
		rc_err_clear(err);
	}
	*handle = xasprintf("slurm:%s", job_id);
	slurm_job_watch(s, j, false);
	ret = 0;
out:
	if (ret < 0 && sh)
		slurm_run_files_remove(s, spec->run_id);
	for (size_t i = 0; i < na; i++)
		free(args[i]);
	free(argv);
	free(job_id);
	free(script);
	free(sh);
	free(cmd);
	free(out);
	buf_free(&cmdbuf);
	slurm_cmd_result_free(&r);
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
		struct slurm_cmd_result r;
		int ret = slurm_cmd_run(s, argv, false, &r, err);

		if (ret == 0 && r.status != 0)
			ret = rc_err_set(err, EIO, "scancel --name=%s failed",
					 run_id);
		slurm_cmd_result_free(&r);
		free(name);
		return ret;
	}
	if (parse_handle(handle, &job_id, err) < 0)
		return -1;
	pthread_mutex_lock(&s->lock);
	j = slurm_job_find_locked(s, run_id);
	if (j)
		j->stop_requested = true;
	pthread_mutex_unlock(&s->lock);
	if (slurm_job_cancel(s, job_id, false, err) < 0)
		return rc_err_wrap(err, "stopping run %s", run_id);
	return 0;
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
		rc = slurm_find_by_name(s, run_id, &found, err);
		if (rc < 0)
			return rc_err_wrap(err, "looking for run %s in Slurm",
					   run_id);
		if (rc == 1) {
			/* No job by that name.  If it produced output or was
			 * recorded, it was submitted and is gone since;
			 * otherwise it never was. */
			out = slurm_run_file(s, run_id, "out");
			note = slurm_run_file(s, run_id, "json");
			if (access(out, F_OK) != 0 && access(note, F_OK) != 0) {
				slurm_run_files_remove(s, run_id);
				ret = 1;
				goto out;
			}
			found = xstrdup("0");
		}
		jid = found;
	}
	j = slurm_job_new(s, run_id, jid, log_path);
	j->log_max = ex->cfg ? ex->cfg->server.log_max_bytes : 0;
	slurm_note_read(s, j);
	slurm_log_open_state(j);
	j->out_off = j->log_len > j->log_base ? j->log_len - j->log_base : 0;
	if (j->log_max > 0 && j->log_len >= j->log_max)
		j->truncated = true;
	j->report_lost = !strcmp(jid, "0");
	slurm_job_watch(s, j, true);
	ret = 0;
out:
	free(found);
	free(out);
	free(note);
	return ret;
}

static void slurm_free(struct slurm *s)
{
	struct sjob *j, *next;

	if (!s)
		return;
	for (j = s->jobs; j; j = next) {
		next = j->next;
		slurm_job_free(j);
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
	rc = pthread_create(&s->thread, NULL, slurm_poller, s);
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
