/*
 * retention.c - the retention thread (old runs' records, logs and work
 * folders go) and the head-and-tail cut of oversized logs.
 *
 * Logs: the supervisor (src/exec/supervisor.c) stops writing a log at the
 * size runs_sched.c gives it, which is LOG_SPOOL_FACTOR times
 * server.log_max_bytes.
 * When a run ends, runs.c calls retention_trim_log() before recording the
 * final state, which keeps the first and the last half of the cap with a
 * marker between; so a finished run's log is never much larger than the
 * cap and shows both how it began and how it ended.  Output past the spool
 * size is lost (the supervisor's own marker then ends the tail).
 */
#include "retention.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define PASS_BATCH 500

struct retention {
	struct runs *rs;
	struct store *st;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stopping;
	pthread_t thread;
};

/* Copy n bytes from fd at offset off to out.  0, or -1 with errno. */
static int copy_range(int fd, off_t off, int64_t n, int out)
{
	char chunk[65536];

	while (n > 0) {
		size_t want = n < (int64_t)sizeof(chunk) ? (size_t)n :
							   sizeof(chunk);
		ssize_t got = pread(fd, chunk, want, off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EIO;
			return -1;
		}
		if (write_all(out, chunk, (size_t)got) < 0)
			return -1;
		off += got;
		n -= got;
	}
	return 0;
}

int retention_trim_log(const char *path, int64_t cap, struct rc_err *err)
{
	char *tmp = NULL, *marker = NULL;
	int64_t head, tail, size;
	struct stat st;
	int fd, out = -1, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ?
			       0 :
			       rc_err_set(err, errno, "cannot open log %s: %s",
					  path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc_err_set(err, errno, "stat %s: %s", path, strerror(errno));
		goto out;
	}
	size = st.st_size;
	if (cap <= 0 || size <= cap) {
		ret = 0;
		goto out;
	}
	head = cap / 2;
	tail = cap - head;
	marker = xasprintf("\n[runcell: %lld bytes cut]\n",
			   (long long)(size - head - tail));
	tmp = xasprintf("%s.trim", path);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		   st.st_mode & 0777);
	if (out < 0) {
		rc_err_set(err, errno, "cannot create %s: %s", tmp,
			   strerror(errno));
		goto out;
	}
	if (copy_range(fd, 0, head, out) < 0 ||
	    write_all(out, marker, strlen(marker)) < 0 ||
	    copy_range(fd, (off_t)(size - tail), tail, out) < 0 ||
	    rename(tmp, path) < 0) {
		rc_err_set(err, errno, "cutting log %s: %s", path,
			   strerror(errno));
		unlink(tmp);
		goto out;
	}
	ret = 1;
out:
	if (out >= 0)
		close(out);
	close(fd);
	free(tmp);
	free(marker);
	return ret;
}

/* Remove what a deleted run left on disk. */
static void remove_files(struct runs *rs, const char *id)
{
	const struct config *cfg = runs_config(rs);
	char *log = runs_log_path(rs, id);
	char *work = runs_work_path(rs, id);
	char *cell = xasprintf("%s/cells/%s", cfg->server.data_dir, id);

	unlink(log);
	rm_rf(work);
	rm_rf(cell);
	free(log);
	free(work);
	free(cell);
}

int retention_pass(struct runs *rs, struct store *st, struct rc_err *err)
{
	const struct retention_config *rc = &runs_config(rs)->server.retention;
	int64_t before = rc->max_age_ms > 0 ? time_now_ms() - rc->max_age_ms :
					      0;
	int deleted = 0;

	for (;;) {
		struct run *list;
		size_t n;

		if (store_run_list_expired(st, before,
					   rc->max_runs_per_automation,
					   PASS_BATCH, &list, &n, err) < 0)
			return rc_err_wrap(err, "retention");
		for (size_t i = 0; i < n; i++) {
			int r = store_run_delete(st, list[i].id, err);

			if (r < 0) {
				store_runs_free(list, n);
				return rc_err_wrap(err, "retention");
			}
			if (r == 0) {
				remove_files(rs, list[i].id);
				deleted++;
			}
		}
		store_runs_free(list, n);
		if (n < PASS_BATCH)
			break;
	}
	if (deleted)
		log_info("retention: removed %d old runs", deleted);
	return deleted;
}

static void *retention_main(void *arg)
{
	struct retention *rt = arg;

	pthread_mutex_lock(&rt->mu);
	while (!rt->stopping) {
		int64_t wake =
			time_now_ms() +
			runs_config(rt->rs)->server.retention.interval_ms;
		struct timespec ts = { .tv_sec = wake / 1000,
				       .tv_nsec = (wake % 1000) * 1000000 };
		struct rc_err err;

		while (!rt->stopping &&
		       pthread_cond_timedwait(&rt->cond, &rt->mu, &ts) == 0)
			;
		if (rt->stopping)
			break;
		pthread_mutex_unlock(&rt->mu);
		rc_err_clear(&err);
		if (retention_pass(rt->rs, rt->st, &err) < 0)
			log_error("%s", err.msg);
		pthread_mutex_lock(&rt->mu);
	}
	pthread_mutex_unlock(&rt->mu);
	return NULL;
}

int retention_start(struct runs *rs, struct store *st, struct retention **out,
		    struct rc_err *err)
{
	struct retention *rt = xcalloc(1, sizeof(*rt));
	int e;

	rt->rs = rs;
	rt->st = st;
	pthread_mutex_init(&rt->mu, NULL);
	pthread_cond_init(&rt->cond, NULL);
	e = pthread_create(&rt->thread, NULL, retention_main, rt);
	if (e) {
		pthread_cond_destroy(&rt->cond);
		pthread_mutex_destroy(&rt->mu);
		free(rt);
		return rc_err_set(err, e,
				  "cannot start the retention thread: "
				  "%s",
				  strerror(e));
	}
	*out = rt;
	return 0;
}

void retention_stop(struct retention *rt)
{
	if (!rt)
		return;
	pthread_mutex_lock(&rt->mu);
	rt->stopping = true;
	pthread_cond_broadcast(&rt->cond);
	pthread_mutex_unlock(&rt->mu);
	pthread_join(rt->thread, NULL);
	pthread_cond_destroy(&rt->cond);
	pthread_mutex_destroy(&rt->mu);
	free(rt);
}
