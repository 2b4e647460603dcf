/*
 * slurm_int.h - what the parts of the slurm executor share: slurm.c
 * (settings, start, stop, attach, open and close), slurm_tool.c (running
 * sbatch, squeue, scontrol and scancel), slurm_files.c (a run's files in
 * the output folder, and copying its output into the local log) and
 * slurm_poll.c (the watch list and the poller thread).  Not for use
 * outside src/exec/slurm*.c.
 */
#ifndef RUNCELL_EXEC_SLURM_INT_H
#define RUNCELL_EXEC_SLURM_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../exec.h"

/* One watched job.  Created by start/attach, then owned by the poller:
 * only the poller changes or frees it, except for the fields marked
 * "lock", which other threads may set under s->lock. */
struct sjob {
	struct sjob *next; /* lock */
	char *run_id;
	char *job_id; /* digits */
	char *log_path;
	char *out_path;	  /* <output_dir>/<run>.out */
	int64_t log_max;  /* 0 = no cap */
	int64_t log_base; /* log size before the job's output */
	int64_t log_len;  /* current size of the local log */
	int64_t out_off;  /* bytes of out_path already copied */
	bool truncated;
	bool last_nl;	    /* last byte written was '\n' */
	int64_t timeout_ms; /* runcell's own limit, 0 = none */
	int64_t running_at; /* wall ms first seen running, 0 */
	bool reported_running;
	bool timeout_cancel; /* we scancelled it for the timeout */
	bool stop_requested; /* lock */
	bool report_lost;    /* attach found it gone: say lost */
	/* filled by each poll */
	bool seen;
	char state[32];
	char reason[160];
};

struct slurm {
	struct executor *ex;
	char *partition; /* NULL = the cluster's default */
	char *output_dir;
	char *sbatch, *squeue, *scontrol, *scancel;
	char **extra_args; /* NULL-terminated, may be empty */
	int64_t poll_ms;
	int64_t grace_ms;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct sjob *jobs; /* lock */
	bool wake;	   /* lock: poll now */
	atomic_bool quit;
	pthread_t thread;
	bool down_logged; /* poller only */
};

/* What one run of a Slurm tool left. */
struct slurm_cmd_result {
	int status; /* exit code, or 128+signal */
	struct buf out;
	struct buf err;
};

/* Whether s is one of the NULL-terminated list. */
bool slurm_in_list(const char *const *list, const char *s);

/* --- slurm_tool.c --- */

/* Empty, with output caps; free with slurm_cmd_result_free. */
void slurm_cmd_result_init(struct slurm_cmd_result *r);
void slurm_cmd_result_free(struct slurm_cmd_result *r);

/* First line of a tool's stderr (else stdout) copied into tmp (n bytes),
 * for messages; "(no message)" when there is none. */
const char *slurm_cmd_stderr(struct slurm_cmd_result *r, char *tmp, size_t n);

/* Run argv (argv[0] looked up on PATH) with the service's environment and
 * collect its output into r, which it initializes (free it either way).
 * Killed after a timeout (ETIMEDOUT), or at once when abortable and the
 * backend is closing (ECANCELED).  0 when it ran (r->status holds its exit
 * status), -1 when it could not be started or was killed. */
int slurm_cmd_run(struct slurm *s, char *const *argv, bool abortable,
		  struct slurm_cmd_result *r, struct rc_err *err);

/* Whether the tool said the job id is not known (any more). */
bool slurm_err_says_unknown_job(struct slurm_cmd_result *r);

/* scancel one job.  A job that already ended is not an error. */
int slurm_job_cancel(struct slurm *s, const char *job_id, bool abortable,
		     struct rc_err *err);

/* The job id of the job named run_id: 0 and *job_id set (the caller frees
 * it), 1 if none, -1 when Slurm could not be asked. */
int slurm_find_by_name(struct slurm *s, const char *run_id, char **job_id,
		       struct rc_err *err);

/* Ask scontrol about one job.  0 with state/exit_code/reason filled (each
 * buffer of the given size), 1 if Slurm no longer knows the job, -1 if it
 * could not be asked. */
int slurm_job_details(struct slurm *s, const char *job_id, char *state,
		      size_t sn, char *exit_code, size_t en, char *reason,
		      size_t rn);

/* --- slurm_files.c --- */

/* <output_dir>/<run_id>.<ext>; the caller frees it. */
char *slurm_run_file(struct slurm *s, const char *run_id, const char *ext);

/* Create or replace path with data, mode mode.  0 or -1. */
int slurm_write_new_file(const char *path, const void *data, size_t n,
			 unsigned mode, struct rc_err *err);

/* Write the note (<run>.json) that lets a restarted service re-adopt
 * the run, and read it back into j's limits (nothing if there is none). */
int slurm_note_write(struct slurm *s, const struct sjob *j, struct rc_err *err);
void slurm_note_read(struct slurm *s, struct sjob *j);

/* Remove the run's .sh, .cmd and .json files (not its output). */
void slurm_run_files_remove(struct slurm *s, const char *run_id);

/* The fixed job script that runs the .cmd file at cmd_path; the caller
 * frees it. */
char *slurm_job_script(const char *cmd_path);

/* Take the local log's current size as j's starting point. */
void slurm_log_open_state(struct sjob *j);

/* Copy new bytes of the job's output file into the local log, up to the
 * cap; past it, write the marker line once and discard the rest. */
void slurm_log_copy(struct sjob *j);

/* --- slurm_poll.c --- */

/* A new watched job (not yet on the list); free with slurm_job_free. */
struct sjob *slurm_job_new(struct slurm *s, const char *run_id,
			   const char *job_id, const char *log_path);
void slurm_job_free(struct sjob *j);

/* A watched job by run id, or NULL; caller holds s->lock. */
struct sjob *slurm_job_find_locked(struct slurm *s, const char *run_id);

/* Add j to the watch list, which then owns it, unless the run is already
 * watched (then j is freed).  wake: poll at once, not at the next tick. */
void slurm_job_watch(struct slurm *s, struct sjob *j, bool wake);

/* Take j off the watch list; the caller frees it. */
void slurm_job_unwatch(struct slurm *s, struct sjob *j);

/* The poller thread (arg: the struct slurm); returns once s->quit is
 * set. */
void *slurm_poller(void *arg);

#endif
