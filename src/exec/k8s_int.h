/*
 * k8s_int.h - what k8s.c (settings, start, stop, attach), k8s_watch.c
 * (the per-namespace watcher threads, final states) and k8s_logs.c (the
 * pod log followers) share.  Not used outside the kubernetes executor.
 *
 * Ownership: a kjob is created by start/attach and handed to the watcher
 * thread of its namespace, which alone changes and frees it, except for
 * the fields marked "lock" (k->lock).  A kns lives until the backend
 * closes.
 */
#ifndef RUNCELL_EXEC_K8S_INT_H
#define RUNCELL_EXEC_K8S_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "../exec.h"
#include "k8s_api.h"

#define K8S_LABEL_RUN "runcell.io/run-id"
#define K8S_LABEL_AUTO "runcell.io/automation"
#define K8S_LABEL_USER "runcell.io/user"
#define K8S_ANN_LOG_BASE "runcell.io/log-base"
#define K8S_ANN_LOG_MAX "runcell.io/log-max-bytes"
#define K8S_ANN_TIMEOUT "runcell.io/timeout-ms"
#define K8S_CONTAINER "run"

struct k8s_settings {
	char *ns;	       /* default namespace */
	char *image;	       /* default image, or NULL */
	char *service_account; /* pods' serviceAccountName, or NULL */
	char *pull_policy;     /* imagePullPolicy, or NULL */
	int64_t ttl_s;	       /* ttlSecondsAfterFinished; -1 unset */
	int64_t poll_ms;       /* polling / re-check interval */
	int64_t grace_ms;      /* runcell's timeout after k8s's own */
	int64_t watch_s;       /* timeoutSeconds of one watch */
};

struct klog;

struct kjob {
	struct kjob *next; /* lock */
	struct kns *ns;
	char *run_id; /* also the Job's name */
	char *log_path;
	bool stop_requested; /* lock */
	bool need_sync;	     /* lock: GET the Job before trusting
					  the watch (new, adopted, attached) */
	bool handle_known;   /* attach had a handle: a missing Job
					  was submitted and is gone */
	bool synced;	     /* got the Job object at least once */
	bool limits_known;   /* log base/cap and timeout from the
					  spec, not the Job's annotations */
	bool reported_running;
	bool seen_active;	 /* the Job had an active pod */
	bool timeout_deleted;	 /* deleted by runcell's timeout */
	int64_t timeout_ms;	 /* 0 = none */
	int64_t start_ms;	 /* wall ms the Job was created */
	int64_t next_check_mono; /* pod re-check while not running */
	char waiting[96];	 /* why the pod waits, for reasons */
	char *pod;		 /* pod name once known */

	/* The local log.  Changed by the follower thread while one runs,
	 * otherwise by the watcher. */
	int64_t log_max;  /* 0 = no cap */
	int64_t log_base; /* local size before the pod's output */
	int64_t log_len;  /* local size now */
	int64_t received; /* bytes of the pod log consumed */
	bool truncated;
	bool last_nl;
	struct klog *follower;	  /* NULL or a running/ended follower */
	bool log_complete;	  /* a follow stream ended normally */
	int64_t follow_next_mono; /* earliest restart of a follower */
};

struct kns {
	struct kns *next; /* lock */
	struct k8s *k;
	char *name;
	struct k8s_waker w;
	pthread_t thread;
	bool started;
	/* watcher thread only */
	char *rv;	/* resourceVersion to watch from */
	bool poll_mode; /* watch refused: LIST every poll_ms */
	bool down;	/* API server unreachable */
	int64_t backoff_ms;
	struct buf line;    /* partial watch line */
	bool relist;	    /* set by the watch: LIST again */
	int watch_failures; /* in a row, while LIST works */
};

struct k8s {
	struct executor *ex;
	struct k8s_settings set;
	struct k8s_client *client;
	pthread_mutex_t lock;
	struct kjob *jobs;	/* lock */
	struct kns *namespaces; /* lock */
	atomic_bool quit;
};

/* Whether the watcher of n (and so its followers) should stop. */
static inline bool k8s_ns_quitting(struct kns *n)
{
	return atomic_load(&n->k->quit) || k8s_waker_quitting(&n->w);
}

/* Start the watcher thread of n (k8s_watch.c). */
int k8s_ns_start(struct kns *n, struct rc_err *err);

/* Stop and join the watcher of n and its log followers (k8s_watch.c). */
void k8s_ns_stop(struct kns *n);

/* Start a thread that follows the log of j's pod into the local log, if
 * none runs, the pod is known, more output is wanted and the last one
 * ended long enough ago; joins an ended one first.  Watcher thread only
 * (k8s_logs.c). */
void k8s_follower_start(struct kns *n, struct kjob *j);

/* Stop and join j's follower, if any (k8s_logs.c). */
void k8s_follower_stop(struct kns *n, struct kjob *j);

/* The last look at the log before the terminal event: end the follower,
 * then fetch the log without follow and keep what is new (k8s_logs.c). */
void k8s_log_final(struct kns *n, struct kjob *j);

/* Free j (its follower must be gone). */
void k8s_job_free(struct kjob *j);

/* DELETE the Job ns/name with propagationPolicy=Background.  A Job that
 * is already gone is not an error.  w may be NULL. */
int k8s_job_delete(struct k8s *k, struct k8s_waker *w, const char *ns,
		   const char *name, struct rc_err *err);

/* Parse an RFC 3339 time ("2024-05-01T10:00:00Z") into ms since the epoch;
 * 0 if it cannot be parsed. */
int64_t k8s_parse_time(const char *s);

#endif
