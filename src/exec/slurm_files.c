/*
 * slurm_files.c - what a slurm run keeps in the shared output folder (the
 * fixed job script <run>.sh, the command <run>.cmd, the note <run>.json
 * that lets a restarted service re-adopt the run, and the job's output
 * <run>.out), and copying that output into the run's local log up to its
 * cap.
 */
#include "slurm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLURM_NOTE_MAX 65536

char *slurm_run_file(struct slurm *s, const char *run_id, const char *ext)
{
	return xasprintf("%s/%s.%s", s->output_dir, run_id, ext);
}

int slurm_write_new_file(const char *path, const void *data, size_t n,
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
int slurm_note_write(struct slurm *s, const struct sjob *j, struct rc_err *err)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "run_id",
			      j->run_id, "job_id", j->job_id, "log_max_bytes",
			      (json_int_t)j->log_max, "log_base",
			      (json_int_t)j->log_base, "timeout_ms",
			      (json_int_t)j->timeout_ms, "running_at",
			      (json_int_t)j->running_at);
	char *path = slurm_run_file(s, j->run_id, "json");
	char *text = json_dumps(o, JSON_COMPACT);
	int ret = write_file_atomic(path, text, strlen(text), err);

	free(text);
	free(path);
	json_decref(o);
	return ret;
}

/* Fill limits of j from its note, if there is one. */
void slurm_note_read(struct slurm *s, struct sjob *j)
{
	char *path = slurm_run_file(s, j->run_id, "json");
	char *text = NULL;
	size_t len;
	json_t *o;

	if (read_file(path, SLURM_NOTE_MAX, &text, &len, NULL) == 0 &&
	    (o = json_loads(text, 0, NULL))) {
		j->log_max =
			json_integer_value(json_object_get(o, "log_max_bytes"));
		j->log_base =
			json_integer_value(json_object_get(o, "log_base"));
		j->timeout_ms =
			json_integer_value(json_object_get(o, "timeout_ms"));
		j->running_at =
			json_integer_value(json_object_get(o, "running_at"));
		json_decref(o);
	}
	free(text);
	free(path);
}

void slurm_run_files_remove(struct slurm *s, const char *run_id)
{
	static const char *const exts[] = { "sh", "cmd", "json" };

	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		char *p = slurm_run_file(s, run_id, exts[i]);

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
char *slurm_job_script(const char *cmd_path)
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

void slurm_log_open_state(struct sjob *j)
{
	struct stat st;

	j->log_len = stat(j->log_path, &st) == 0 ? st.st_size : 0;
	j->last_nl = true;
}

/* Copy new bytes of the job's output file into the local log, up to the
 * cap; past it, write the marker line once and discard the rest. */
void slurm_log_copy(struct sjob *j)
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
