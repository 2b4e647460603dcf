/*
 * slurm_poll.c - the watch list and the poller thread of the slurm
 * executor.  Each round asks squeue about every watched job in batches,
 * asks scontrol only about jobs that reached a final state (for the exit
 * code and reason), copies new output into the local logs, enforces
 * runcell's own timeout with scancel, and reports events.  Slurm's job
 * states map to run states here.  When the controller cannot be reached,
 * states stay as they are and the poller backs off; nothing is reported
 * finished without Slurm saying so.
 */
#include "slurm_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLURM_BATCH 200		   /* job ids per squeue call */
#define SLURM_BACKOFF_MAX_MS 30000 /* longest wait while Slurm is down */

void slurm_job_free(struct sjob *j)
{
	if (!j)
		return;
	free(j->run_id);
	free(j->job_id);
	free(j->log_path);
	free(j->out_path);
	free(j);
}

struct sjob *slurm_job_new(struct slurm *s, const char *run_id,
			   const char *job_id, const char *log_path)
{
	struct sjob *j = xcalloc(1, sizeof(*j));

	j->run_id = xstrdup(run_id);
	j->job_id = xstrdup(job_id);
	j->log_path = xstrdup(log_path);
	j->out_path = slurm_run_file(s, run_id, "out");
	return j;
}

/* Find a watched job by run id; caller holds the lock. */
struct sjob *slurm_job_find_locked(struct slurm *s, const char *run_id)
{
	for (struct sjob *j = s->jobs; j; j = j->next)
		if (!strcmp(j->run_id, run_id))
			return j;
	return NULL;
}

/* Add j to the watch list unless the run is already watched (then j is
 * freed).  wake: poll at once rather than at the next tick. */
void slurm_job_watch(struct slurm *s, struct sjob *j, bool wake)
{
	pthread_mutex_lock(&s->lock);
	if (slurm_job_find_locked(s, j->run_id)) {
		pthread_mutex_unlock(&s->lock);
		slurm_job_free(j);
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

void slurm_job_unwatch(struct slurm *s, struct sjob *j)
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

enum sclass { SC_WAITING, SC_RUNNING, SC_FINAL, SC_UNKNOWN };

static enum sclass state_class(const char *st)
{
	static const char *const final[] = {
		"COMPLETED",	 "FAILED",    "TIMEOUT",   "CANCELLED",
		"OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE",
		"PREEMPTED",	 "REVOKED",   NULL,
	};
	static const char *const running[] = {
		"RUNNING",   "COMPLETING", "SUSPENDED", "STOPPED",
		"SIGNALING", "STAGE_OUT",  "RESIZING",	NULL,
	};

	if (slurm_in_list(final, st))
		return SC_FINAL;
	if (slurm_in_list(running, st))
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
		if (slurm_note_write(s, j, &e) < 0)
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

	slurm_log_copy(j);
	if (ran && ev.state != RUN_LOST)
		report_running(s, j);
	ev.at = time_now_ms();
	slurm_job_unwatch(s, j);
	emit(s, &ev);
	slurm_run_files_remove(s, j->run_id);
	slurm_job_free(j);
}

/* One squeue call for jobs[0..n): marks the jobs it lists as seen with
 * their state and reason.  -1 when squeue could not answer. */
static int squeue_batch(struct slurm *s, struct sjob **jobs, size_t n)
{
	struct buf ids;
	struct slurm_cmd_result r;
	struct rc_err e;
	char msg[256];
	char *argv[] = { s->squeue, "-h", "-t",	      "all", "-j",
			 NULL,	    "-o", "%i|%T|%r", NULL };
	char *line, *nl;
	int ret = -1;

	buf_init(&ids, 0);
	for (size_t i = 0; i < n; i++)
		buf_appendf(&ids, "%s%s", i ? "," : "", jobs[i]->job_id);
	argv[5] = ids.data;
	if (slurm_cmd_run(s, argv, true, &r, &e) < 0) {
		if (!s->down_logged && e.errnum != ECANCELED)
			fprintf(stderr, "runcell: slurm: %s\n", e.msg);
		goto out;
	}
	if (r.status != 0) {
		/* With a single id, squeue fails for a job it does not
		 * know; that is an answer, not an outage. */
		if (slurm_err_says_unknown_job(&r)) {
			ret = 0;
			goto out;
		}
		if (!s->down_logged)
			fprintf(stderr,
				"runcell: slurm: squeue failed (exit %d): %s; "
				"run states kept, retrying\n",
				r.status,
				slurm_cmd_stderr(&r, msg, sizeof(msg)));
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
			snprintf(jobs[i]->reason, sizeof(jobs[i]->reason), "%s",
				 f2 + 1);
		}
	}
	ret = 0;
out:
	buf_free(&ids);
	slurm_cmd_result_free(&r);
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
	slurm_log_copy(j);
	exit_code[0] = '\0';
	snprintf(state, sizeof(state), "%s", j->state);
	snprintf(reason, sizeof(reason), "%s", j->reason);
	if (!j->seen || state_class(state) == SC_FINAL) {
		rc = slurm_job_details(s, j->job_id, state, sizeof(state),
				       exit_code, sizeof(exit_code), reason,
				       sizeof(reason));
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

		if (slurm_job_cancel(s, j->job_id, true, &e) == 0)
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
			slurm_log_copy(jobs[i]); /* output still flows */
			continue;
		}
		poll_job(s, jobs[i]);
	}
	free(jobs);
	return ret;
}

void *slurm_poller(void *arg)
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
