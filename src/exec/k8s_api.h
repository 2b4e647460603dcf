/*
 * k8s_api.h - a small Kubernetes API client for the kubernetes executor.
 *
 * It finds the API server and the credentials (the in-cluster service
 * account, a kubeconfig file, or a plain URL such as a "kubectl proxy"),
 * sends JSON requests with timeouts and bounded retries (429, 5xx and
 * network errors, with exponential backoff), and runs streaming GETs
 * (watches, followed pod logs) that another thread can interrupt at once.
 *
 * Tokens and keys never appear in error messages or logs.  A client may be
 * used by several threads at once; a waker belongs to one thread.
 */
#ifndef RUNCELL_EXEC_K8S_API_H
#define RUNCELL_EXEC_K8S_API_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../util.h"

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Where the API server is and how to reach it.  Strings are borrowed for
 * the duration of k8s_client_new only. */
struct k8s_conn {
	const char *api_server; /* URL; overrides the kubeconfig's server */
	const char *kubeconfig; /* path, or NULL */
	bool in_cluster;	/* use the pod's service account */
	const char *sa_dir;	/* NULL = K8S_SA_DIR */
	int64_t timeout_ms;	/* per request; 0 = 30 s */
	int attempts;		/* tries per request; 0 = 4 */
	int64_t backoff_ms;	/* first retry delay; 0 = 250 ms */
};

struct k8s_client;

/*
 * Make a client.  With in_cluster, the server comes from
 * KUBERNETES_SERVICE_HOST/PORT (or api_server), the token from
 * sa_dir/token (read again every minute: projected tokens rotate) and the
 * CA from sa_dir/ca.crt.  Otherwise a kubeconfig is read when one is given
 * (or, without api_server, from $KUBECONFIG or ~/.kube/config): its
 * current context names the cluster (server, certificate-authority[-data],
 * insecure-skip-tls-verify) and the user (token, tokenFile,
 * client-certificate[-data] + client-key[-data]).  With only api_server,
 * requests carry no credentials.  Returns 0 and *out (free with
 * k8s_client_free), or -1 with a message naming what to fix.
 */
int k8s_client_new(const struct k8s_conn *conn, struct k8s_client **out,
		   struct rc_err *err);
void k8s_client_free(struct k8s_client *c);

/* The server URL (no trailing slash), borrowed from c. */
const char *k8s_client_server(const struct k8s_client *c);

/* The namespace the credentials imply (the kubeconfig context's namespace,
 * or the in-cluster namespace file), or NULL.  Borrowed from c. */
const char *k8s_client_namespace(const struct k8s_client *c);

/* Interrupts one thread's transfers and waits.  "wake" ends streams and
 * sleeps only (the thread then looks for new work); "quit" also aborts
 * plain requests and retries.  It owns libcurl multi handles, which keep
 * that thread's connections open between requests. */
struct k8s_waker {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	void *multi;	     /* CURLM for requests */
	void *smulti;	     /* CURLM for streams (a request may run
				      while a stream is open) */
	bool wake;	     /* lock */
	bool quit;	     /* lock */
};

void k8s_waker_init(struct k8s_waker *w);
void k8s_waker_destroy(struct k8s_waker *w);
void k8s_waker_wake(struct k8s_waker *w);
void k8s_waker_quit(struct k8s_waker *w);
bool k8s_waker_quitting(struct k8s_waker *w);
/* Clear the wake flag; returns whether it was set. */
bool k8s_waker_take(struct k8s_waker *w);
/* Sleep up to ms, returning early on wake or quit (the flags stay set). */
void k8s_waker_sleep(struct k8s_waker *w, int64_t ms);

/* An answer.  body is the parsed JSON when the answer was JSON. */
struct k8s_resp {
	long status; /* HTTP status; 0 if none arrived */
	json_t *body;
	struct buf text; /* the raw answer (capped) */
};

void k8s_resp_init(struct k8s_resp *r);
void k8s_resp_free(struct k8s_resp *r);

/* "message" of a Kubernetes Status answer, or a short excerpt of the
 * answer, or "" (borrowed from r). */
const char *k8s_resp_message(const struct k8s_resp *r);

/*
 * One request: method and path (with query, already escaped) relative to
 * the server, an optional JSON body.  429, 5xx and network errors are
 * retried with backoff; any other answer is returned as it is.  Returns 0
 * with resp filled (caller checks resp->status; free with k8s_resp_free),
 * or -1 when no final answer came (err says why: unreachable, timeout,
 * still 503 after the attempts, or ECANCELED when w quit).  w may be NULL.
 */
int k8s_request(struct k8s_client *c, struct k8s_waker *w, const char *method,
		const char *path, json_t *body, struct k8s_resp *resp,
		struct rc_err *err);

/* Called with each piece of a stream, outside libcurl's callbacks.
 * Return 0 to go on, -1 to end the stream. */
typedef int (*k8s_data_fn)(void *ctx, const char *data, size_t len);

/*
 * A streaming GET (watch, log follow).  Each piece of a 2xx answer goes to
 * fn; a non-2xx answer is returned in resp instead.  The stream ends when
 * the server ends it, fn returns -1, w is woken or quits, deadline_mono_ms
 * (0 = none) passes, or no byte came for idle_ms (0 = no limit).  Not
 * retried.  Returns 0 when the server ended it or answered non-2xx
 * (resp->status), 1 when it was ended by fn, w or the deadline, -1 on a
 * network error or idle timeout.
 */
int k8s_stream(struct k8s_client *c, struct k8s_waker *w, const char *path,
	       int64_t idle_ms, int64_t deadline_mono_ms, k8s_data_fn fn,
	       void *ctx, struct k8s_resp *resp, struct rc_err *err);

/* Percent-escape s for a URL path segment or query value (caller frees). */
char *k8s_escape(const char *s);

#endif
