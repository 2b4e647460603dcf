/*
 * k8s_logs.c - the pod logs of the kubernetes executor.
 *
 * The pod log is followed (GET .../log?follow=true) by one small thread
 * per running pod and appended to the run's log file, capped.  A follow
 * stream that restarts (or a restart of runcelld) fetches the log from
 * its start again and skips the bytes already in the local file; the last
 * fetch, without follow, does the same.  The watcher thread of the pod's
 * namespace starts, stops and joins the followers (k8s_watch.c).
 */
#include "k8s_int.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define K8S_FOLLOWER_STACK (256u << 10)

struct klog {
	struct k8s *k;
	struct kjob *j;
	struct kns *n;
	char *path;
	struct k8s_waker w;
	pthread_t thread;
	atomic_bool done;
	bool ok;     /* the stream ended normally */
	int64_t pos; /* bytes of this stream */
};

/* Take bytes [*pos, *pos + len) of the pod's log (counted from its
 * start) and append those not yet in the local log, up to the cap; past
 * it, write the marker line once.  Returns -1 when nothing more is
 * wanted. */
static int log_take(struct kjob *j, int64_t *pos, const char *data, size_t len)
{
	int64_t start = *pos, keep;
	int fd, ret = 0;

	*pos += (int64_t)len;
	if (j->truncated)
		return -1;
	if (*pos <= j->received)
		return 0;
	if (start < j->received) {
		data += j->received - start;
		len -= (size_t)(j->received - start);
	}
	fd = open(j->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return 0; /* the bytes stay "new": tried again later */
	keep = (int64_t)len;
	if (j->log_max > 0 && j->log_len + keep > j->log_max)
		keep = j->log_max > j->log_len ? j->log_max - j->log_len : 0;
	if (keep > 0 && write_all(fd, data, (size_t)keep) == 0) {
		j->last_nl = data[keep - 1] == '\n';
		j->log_len += keep;
	} else if (keep > 0) {
		close(fd);
		return 0;
	}
	j->received += (int64_t)len;
	if (keep < (int64_t)len) {
		char *m = xasprintf("%s[runcell: log truncated at %lld bytes; "
				    "further output discarded]\n",
				    j->last_nl ? "" : "\n",
				    (long long)j->log_max);

		write_all(fd, m, strlen(m));
		free(m);
		j->truncated = true;
		ret = -1;
	}
	close(fd);
	return ret;
}

static int follow_data(void *ctx, const char *data, size_t len)
{
	struct klog *l = ctx;

	return log_take(l->j, &l->pos, data, len);
}

static void *follow_main(void *arg)
{
	struct klog *l = arg;
	struct k8s_resp r;
	struct rc_err e;
	int rc;

	rc = k8s_stream(l->k->client, &l->w, l->path, 0, 0, follow_data, l, &r,
			&e);
	l->ok = (rc == 0 && r.status == 200) || l->j->truncated;
	k8s_resp_free(&r);
	atomic_store(&l->done, true);
	if (!l->ok)
		k8s_waker_wake(&l->n->w); /* restart it later */
	return NULL;
}

static void follower_join(struct kns *n, struct kjob *j)
{
	struct klog *l = j->follower;

	if (!l)
		return;
	pthread_join(l->thread, NULL);
	if (l->ok)
		j->log_complete = true;
	else
		j->follow_next_mono = time_mono_ms() + n->k->set.poll_ms;
	k8s_waker_destroy(&l->w);
	free(l->path);
	free(l);
	j->follower = NULL;
}

void k8s_follower_stop(struct kns *n, struct kjob *j)
{
	if (!j->follower)
		return;
	k8s_waker_quit(&j->follower->w);
	follower_join(n, j);
}

static char *log_path(struct kns *n, struct kjob *j, bool follow, int64_t limit)
{
	char *limit_s =
		limit > 0 ? xasprintf("&limitBytes=%lld", (long long)limit) :
			    xstrdup("");
	char *p = xasprintf("/api/v1/namespaces/%s/pods/%s/log?"
			    "%scontainer=%s%s",
			    n->name, j->pod, follow ? "follow=true&" : "",
			    K8S_CONTAINER, limit_s);

	free(limit_s);
	return p;
}

void k8s_follower_start(struct kns *n, struct kjob *j)
{
	pthread_attr_t attr;
	struct klog *l;

	if (j->follower && atomic_load(&j->follower->done))
		follower_join(n, j);
	if (j->follower || !j->pod || j->truncated || j->log_complete ||
	    time_mono_ms() < j->follow_next_mono || k8s_ns_quitting(n))
		return;
	l = xcalloc(1, sizeof(*l));
	l->k = n->k;
	l->j = j;
	l->n = n;
	l->path = log_path(n, j, true, 0);
	atomic_init(&l->done, false);
	k8s_waker_init(&l->w);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, K8S_FOLLOWER_STACK);
	if (pthread_create(&l->thread, &attr, follow_main, l) != 0) {
		k8s_waker_destroy(&l->w);
		free(l->path);
		free(l);
		j->follow_next_mono = time_mono_ms() + n->k->set.poll_ms;
	} else {
		j->follower = l;
	}
	pthread_attr_destroy(&attr);
}

/* The last look at the log before the terminal event: end the follower,
 * then fetch the log without follow and keep what is new. */
void k8s_log_final(struct kns *n, struct kjob *j)
{
	struct k8s_resp r;
	struct rc_err e;
	int64_t pos = 0, limit = 0;
	char *path;

	k8s_follower_stop(n, j);
	if (!j->pod || j->truncated)
		return;
	if (j->log_max > 0)
		limit = j->received + (j->log_max - j->log_len) + 1;
	path = log_path(n, j, false, limit);
	if (k8s_request(n->k->client, &n->w, "GET", path, NULL, &r, &e) == 0 &&
	    r.status == 200 && r.text.len)
		log_take(j, &pos, r.text.data, r.text.len);
	k8s_resp_free(&r);
	free(path);
}
