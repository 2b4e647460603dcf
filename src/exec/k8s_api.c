/*
 * k8s_api.c - the Kubernetes API client of the kubernetes executor:
 * credentials (in-cluster service account, kubeconfig, plain URL), JSON
 * requests with timeouts and retries, and interruptible streams, on
 * libcurl's multi interface so that another thread can end a transfer at
 * once with curl_multi_wakeup().  See k8s_api.h.
 */
#include "k8s_api.h"

#include <curl/curl.h>
#include <errno.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#define K8S_TOKEN_REREAD_MS 60000  /* projected tokens rotate */
#define K8S_FILE_MAX (1u << 20)	   /* kubeconfig, token, CA */
#define K8S_ANSWER_MAX (64u << 20) /* one JSON answer */
#define K8S_BACKOFF_MAX_MS 8000
#define K8S_RETRY_AFTER_MAX_MS 10000

struct blob {
	unsigned char *data;
	size_t len;
};

struct k8s_client {
	char *server;
	char *ns;
	char *ca_file, *cert_file, *key_file;
	struct blob ca, cert, key;
	bool insecure;
	int64_t timeout_ms;
	int attempts;
	int64_t backoff_ms;

	pthread_mutex_t lock; /* the token fields */
	char *token;
	char *token_file;      /* NULL: token is fixed */
	int64_t token_read_ms; /* monotonic */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- small helpers ------------------------------------------------------- */

static void blob_free(struct blob *b)
{
	if (b->data) {
		sodium_memzero(b->data, b->len);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
}

static void secret_free(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

/* Read a small file and trim trailing white space (tokens, namespace). */
static int read_trimmed(const char *path, char **out, struct rc_err *err)
{
	size_t len;

	if (read_file(path, K8S_FILE_MAX, out, &len, err) < 0)
		return -1;
	while (len && strchr(" \t\r\n", (*out)[len - 1]))
		(*out)[--len] = '\0';
	return 0;
}

static int base64_decode(const char *in, struct blob *out, const char *what,
			 struct rc_err *err)
{
	size_t n = strlen(in), got = 0;

	out->data = xmalloc(n / 4 * 3 + 4);
	if (sodium_base642bin(out->data, n / 4 * 3 + 4, in, n, " \t\r\n", &got,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(out->data);
		out->data = NULL;
		return rc_err_set(err, EINVAL, "%s is not valid base64", what);
	}
	out->len = got;
	return 0;
}

char *k8s_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b;

	buf_init(&b, 0);
	buf_append(&b, "", 0);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			buf_append(&b, s, 1);
		} else {
			char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };

			buf_append(&b, e, 3);
		}
	}
	return buf_take(&b, NULL);
}

/* ---- kubeconfig ---------------------------------------------------------- */

/* A YAML node as JSON: every scalar becomes a string. */
static json_t *yaml_to_json(yaml_document_t *d, yaml_node_t *n, int depth)
{
	json_t *o;

	if (!n || depth > 32)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return json_stringn((const char *)n->data.scalar.value,
				    n->data.scalar.length);
	case YAML_SEQUENCE_NODE:
		o = json_array();
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++) {
			json_t *v = yaml_to_json(
				d, yaml_document_get_node(d, *i), depth + 1);

			if (v)
				json_array_append_new(o, v);
		}
		return o;
	case YAML_MAPPING_NODE:
		o = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(d, p->key);
			json_t *v;
			char *key;

			if (!k || k->type != YAML_SCALAR_NODE)
				continue;
			v = yaml_to_json(d, yaml_document_get_node(d, p->value),
					 depth + 1);
			if (!v)
				continue;
			key = xstrndup((const char *)k->data.scalar.value,
				       k->data.scalar.length);
			json_object_set_new(o, key, v);
			free(key);
		}
		return o;
	default:
		return NULL;
	}
}

static int yaml_load(const char *path, json_t **out, struct rc_err *err)
{
	yaml_parser_t p;
	yaml_document_t d;
	char *text = NULL;
	size_t len;
	int ret = -1;

	if (read_file(path, K8S_FILE_MAX, &text, &len, err) < 0)
		return -1;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &d)) {
		rc_err_set(err, EINVAL, "%s:%zu: not valid YAML: %s", path,
			   p.problem_mark.line + 1,
			   p.problem ? p.problem : "parse error");
		goto out;
	}
	*out = yaml_to_json(&d, yaml_document_get_root_node(&d), 0);
	yaml_document_delete(&d);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		rc_err_set(err, EINVAL,
			   "%s is not a kubeconfig (not a mapping)", path);
		goto out;
	}
	ret = 0;
out:
	yaml_parser_delete(&p);
	secret_free(text);
	return ret;
}

/* The entry of list (clusters, contexts, users) called name, its inner
 * object under key.  Borrowed. */
static json_t *named(json_t *root, const char *list, const char *name,
		     const char *key)
{
	json_t *arr = json_object_get(root, list), *it;
	size_t i;

	json_array_foreach(arr, i, it) {
		const char *n = json_string_value(json_object_get(it, "name"));

		if (n && !strcmp(n, name))
			return json_object_get(it, key);
	}
	return NULL;
}

static const char *str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? s : NULL;
}

/* A path from a kubeconfig, relative to the file's folder. */
static char *kc_path(const char *kc, const char *p)
{
	char *copy, *dir, *full;

	if (p[0] == '/')
		return xstrdup(p);
	copy = xstrdup(kc);
	dir = dirname(copy);
	full = xasprintf("%s/%s", dir, p);
	free(copy);
	return full;
}

static int kubeconfig_load(struct k8s_client *c, const char *path,
			   struct rc_err *err)
{
	json_t *root = NULL, *ctx, *cl, *user;
	const char *cur, *s, *cname, *uname;
	int ret = -1;

	if (yaml_load(path, &root, err) < 0)
		return -1;
	cur = str_of(root, "current-context");
	if (!cur) {
		rc_err_set(err, EINVAL,
			   "kubeconfig %s has no current-context: set one "
			   "with \"kubectl config use-context NAME\"",
			   path);
		goto out;
	}
	ctx = named(root, "contexts", cur, "context");
	if (!json_is_object(ctx)) {
		rc_err_set(err, EINVAL,
			   "kubeconfig %s: current-context \"%s\" is not in "
			   "its contexts",
			   path, cur);
		goto out;
	}
	cname = str_of(ctx, "cluster");
	uname = str_of(ctx, "user");
	if ((s = str_of(ctx, "namespace")))
		c->ns = xstrdup(s);
	cl = cname ? named(root, "clusters", cname, "cluster") : NULL;
	if (!json_is_object(cl)) {
		rc_err_set(err, EINVAL,
			   "kubeconfig %s: context \"%s\" names cluster "
			   "\"%s\", which is not in its clusters",
			   path, cur, cname ? cname : "");
		goto out;
	}
	if (!c->server && (s = str_of(cl, "server")))
		c->server = xstrdup(s);
	if ((s = str_of(cl, "certificate-authority-data"))) {
		if (base64_decode(s, &c->ca, "certificate-authority-data",
				  err) < 0)
			goto wrap;
	} else if ((s = str_of(cl, "certificate-authority"))) {
		c->ca_file = kc_path(path, s);
	}
	s = str_of(cl, "insecure-skip-tls-verify");
	c->insecure = s && !strcmp(s, "true");

	user = uname ? named(root, "users", uname, "user") : NULL;
	if (uname && !json_is_object(user)) {
		rc_err_set(err, EINVAL,
			   "kubeconfig %s: context \"%s\" names user \"%s\", "
			   "which is not in its users",
			   path, cur, uname);
		goto out;
	}
	if (json_object_get(user, "exec") ||
	    json_object_get(user, "auth-provider")) {
		rc_err_set(err, ENOTSUP,
			   "kubeconfig %s: user \"%s\" gets credentials from "
			   "an exec or auth-provider plugin, which runcell "
			   "does not run; give it a service-account token or "
			   "a client certificate",
			   path, uname);
		goto out;
	}
	if (str_of(user, "username") || str_of(user, "password")) {
		rc_err_set(err, ENOTSUP,
			   "kubeconfig %s: user \"%s\" uses basic auth, which "
			   "Kubernetes removed; use a token or a client "
			   "certificate",
			   path, uname);
		goto out;
	}
	if ((s = str_of(user, "token")))
		c->token = xstrdup(s);
	else if ((s = str_of(user, "tokenFile")))
		c->token_file = kc_path(path, s);
	if ((s = str_of(user, "client-certificate-data"))) {
		if (base64_decode(s, &c->cert, "client-certificate-data", err) <
		    0)
			goto wrap;
	} else if ((s = str_of(user, "client-certificate"))) {
		c->cert_file = kc_path(path, s);
	}
	if ((s = str_of(user, "client-key-data"))) {
		if (base64_decode(s, &c->key, "client-key-data", err) < 0)
			goto wrap;
	} else if ((s = str_of(user, "client-key"))) {
		c->key_file = kc_path(path, s);
	}
	if ((c->cert.data || c->cert_file) != (c->key.data || c->key_file)) {
		rc_err_set(err, EINVAL,
			   "kubeconfig %s: user \"%s\" has a client "
			   "certificate without a key, or a key without a "
			   "certificate",
			   path, uname);
		goto out;
	}
	ret = 0;
	goto out;
wrap:
	rc_err_wrap(err, "kubeconfig %s, user or cluster of context \"%s\"",
		    path, cur);
out:
	json_decref(root);
	return ret;
}

/* ---- the client ---------------------------------------------------------- */

static int in_cluster_load(struct k8s_client *c, const char *sa_dir,
			   struct rc_err *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char *p;

	if (!c->server) {
		if (!host || !*host)
			return rc_err_set(err, ENOENT,
					  "in_cluster is set but "
					  "KUBERNETES_SERVICE_HOST is not: "
					  "runcelld is not running in a pod "
					  "(use kubeconfig or api_server)");
		c->server = xasprintf("https://%s%s%s:%s",
				      strchr(host, ':') ? "[" : "", host,
				      strchr(host, ':') ? "]" : "",
				      port && *port ? port : "443");
	}
	c->token_file = xasprintf("%s/token", sa_dir);
	if (access(c->token_file, R_OK) != 0)
		return rc_err_set(err, errno,
				  "in_cluster: cannot read the service "
				  "account token %s: %s",
				  c->token_file, strerror(errno));
	p = xasprintf("%s/ca.crt", sa_dir);
	if (access(p, R_OK) == 0) {
		c->ca_file = p;
	} else {
		free(p);
	}
	p = xasprintf("%s/namespace", sa_dir);
	if (read_trimmed(p, &c->ns, NULL) < 0 || !*c->ns) {
		free(c->ns);
		c->ns = NULL;
	}
	free(p);
	return 0;
}

int k8s_client_new(const struct k8s_conn *conn, struct k8s_client **out,
		   struct rc_err *err)
{
	struct k8s_client *c = xcalloc(1, sizeof(*c));
	char *kc = NULL;
	const char *env;
	size_t n;
	int ret = -1;

	pthread_once(&curl_once, curl_init_once);
	pthread_mutex_init(&c->lock, NULL);
	c->timeout_ms = conn->timeout_ms > 0 ? conn->timeout_ms : 30000;
	c->attempts = conn->attempts > 0 ? conn->attempts : 4;
	c->backoff_ms = conn->backoff_ms > 0 ? conn->backoff_ms : 250;
	if (conn->api_server)
		c->server = xstrdup(conn->api_server);

	if (conn->in_cluster) {
		if (in_cluster_load(c, conn->sa_dir ? conn->sa_dir : K8S_SA_DIR,
				    err) < 0)
			goto out;
	} else {
		if (conn->kubeconfig) {
			kc = xstrdup(conn->kubeconfig);
		} else if (!conn->api_server) {
			env = getenv("KUBECONFIG");
			if (env && *env)
				kc = xstrndup(env, strcspn(env, ":"));
			else if ((env = getenv("HOME")) && *env)
				kc = xasprintf("%s/.kube/config", env);
			if (!kc || access(kc, R_OK) != 0) {
				rc_err_set(err, ENOENT,
					   "no Kubernetes credentials: set "
					   "executors.kubernetes.kubeconfig, "
					   "in_cluster: true, or api_server");
				goto out;
			}
		}
		if (kc && kubeconfig_load(c, kc, err) < 0)
			goto out;
	}
	if (!c->server) {
		rc_err_set(err, EINVAL,
			   "kubeconfig %s names no server for its cluster; "
			   "set executors.kubernetes.api_server",
			   kc ? kc : "");
		goto out;
	}
	if (!str_has_prefix(c->server, "https://") &&
	    !str_has_prefix(c->server, "http://")) {
		rc_err_set(err, EINVAL,
			   "API server \"%s\" must be an http:// or https:// "
			   "URL",
			   c->server);
		goto out;
	}
	n = strlen(c->server);
	while (n > 8 && c->server[n - 1] == '/')
		c->server[--n] = '\0';
	if (c->token_file && read_trimmed(c->token_file, &c->token, err) < 0)
		goto out;
	c->token_read_ms = time_mono_ms();
	*out = c;
	c = NULL;
	ret = 0;
out:
	free(kc);
	k8s_client_free(c);
	return ret;
}

void k8s_client_free(struct k8s_client *c)
{
	if (!c)
		return;
	free(c->server);
	free(c->ns);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	blob_free(&c->ca);
	blob_free(&c->cert);
	blob_free(&c->key);
	secret_free(c->token);
	free(c->token_file);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *k8s_client_server(const struct k8s_client *c)
{
	return c->server;
}

const char *k8s_client_namespace(const struct k8s_client *c)
{
	return c->ns;
}

/* The Authorization header, or NULL; re-reads a token file now and then.
 * The caller frees it with secret_free. */
static char *auth_header(struct k8s_client *c)
{
	char *h = NULL, *fresh = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->token_file &&
	    time_mono_ms() - c->token_read_ms > K8S_TOKEN_REREAD_MS) {
		c->token_read_ms = time_mono_ms();
		/* Keep the old token if the file cannot be read now. */
		if (read_trimmed(c->token_file, &fresh, NULL) == 0 && *fresh) {
			secret_free(c->token);
			c->token = fresh;
			fresh = NULL;
		}
		secret_free(fresh);
	}
	if (c->token && *c->token)
		h = xasprintf("Authorization: Bearer %s", c->token);
	pthread_mutex_unlock(&c->lock);
	return h;
}

/* ---- wakers -------------------------------------------------------------- */

void k8s_waker_init(struct k8s_waker *w)
{
	pthread_condattr_t ca;

	pthread_once(&curl_once, curl_init_once);
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	w->multi = curl_multi_init();
	w->smulti = curl_multi_init();
	if (!w->multi || !w->smulti)
		xmalloc((size_t)-1); /* out of memory: abort like xmalloc */
	w->wake = w->quit = false;
}

void k8s_waker_destroy(struct k8s_waker *w)
{
	curl_multi_cleanup(w->multi);
	curl_multi_cleanup(w->smulti);
	w->multi = w->smulti = NULL;
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
}

static void waker_set(struct k8s_waker *w, bool quit)
{
	pthread_mutex_lock(&w->lock);
	w->wake = true;
	if (quit)
		w->quit = true;
	curl_multi_wakeup(w->multi);
	curl_multi_wakeup(w->smulti);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void k8s_waker_wake(struct k8s_waker *w)
{
	waker_set(w, false);
}

void k8s_waker_quit(struct k8s_waker *w)
{
	waker_set(w, true);
}

bool k8s_waker_quitting(struct k8s_waker *w)
{
	bool q;

	pthread_mutex_lock(&w->lock);
	q = w->quit;
	pthread_mutex_unlock(&w->lock);
	return q;
}

bool k8s_waker_take(struct k8s_waker *w)
{
	bool was;

	pthread_mutex_lock(&w->lock);
	was = w->wake;
	w->wake = false;
	pthread_mutex_unlock(&w->lock);
	return was;
}

static void deadline_ts(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* Sleep up to ms; stop early on quit, and on wake too when any_wake. */
static void waker_wait(struct k8s_waker *w, int64_t ms, bool any_wake)
{
	struct timespec ts;

	if (!w) {
		struct timespec d = { ms / 1000, (ms % 1000) * 1000000 };

		while (nanosleep(&d, &d) < 0 && errno == EINTR)
			;
		return;
	}
	deadline_ts(&ts, ms);
	pthread_mutex_lock(&w->lock);
	while (!w->quit && !(any_wake && w->wake)) {
		if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) ==
		    ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&w->lock);
}

void k8s_waker_sleep(struct k8s_waker *w, int64_t ms)
{
	waker_wait(w, ms, true);
}

/* ---- transfers ----------------------------------------------------------- */

void k8s_resp_init(struct k8s_resp *r)
{
	r->status = 0;
	r->body = NULL;
	buf_init(&r->text, K8S_ANSWER_MAX);
}

void k8s_resp_free(struct k8s_resp *r)
{
	json_decref(r->body);
	r->body = NULL;
	buf_free(&r->text);
	r->status = 0;
}

const char *k8s_resp_message(const struct k8s_resp *r)
{
	const char *m = json_string_value(json_object_get(r->body, "message"));

	if (m)
		return m;
	return r->text.data ? r->text.data : "";
}

struct xfer {
	CURL *h;
	struct buf *dest; /* the answer, or pending stream data */
	bool stream;
	bool got_header;
	int64_t start_ms, last_ms; /* monotonic */
	int64_t retry_after_ms;
	int64_t idle_ms, deadline_ms;
	k8s_data_fn fn;
	void *ctx;
	bool overflow;
};

static size_t on_write(char *p, size_t sz, size_t n, void *ud)
{
	struct xfer *x = ud;

	x->last_ms = time_mono_ms();
	if (buf_append(x->dest, p, sz * n) < 0) {
		x->overflow = true;
		return 0;
	}
	return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = sz * n;
	char tmp[32];
	int64_t secs;

	x->got_header = true;
	x->last_ms = time_mono_ms();
	if (len > 12 && !strncasecmp(p, "Retry-After:", 12)) {
		size_t m = len - 12 < sizeof(tmp) - 1 ? len - 12 :
							sizeof(tmp) - 1;

		memcpy(tmp, p + 12, m);
		tmp[m] = '\0';
		tmp[strcspn(tmp, "\r\n")] = '\0';
		if (parse_int64(tmp + strspn(tmp, " "), 0, 3600, &secs) == 0)
			x->retry_after_ms = secs * 1000;
	}
	return len;
}

static CURL *easy_new(struct k8s_client *c, const char *method,
		      const char *path, const char *body, bool stream,
		      struct curl_slist **hdrs, struct xfer *x)
{
	CURL *h = curl_easy_init();
	char *url = xasprintf("%s%s", c->server, path);
	char *auth = auth_header(c);

	if (!h)
		xmalloc((size_t)-1);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(c->timeout_ms < 10000 ? c->timeout_ms : 10000));
	if (!stream)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
	if (c->ca.data) {
		struct curl_blob b = { c->ca.data, c->ca.len, CURL_BLOB_COPY };

		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
	} else if (c->ca_file) {
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	}
	if (c->cert.data) {
		struct curl_blob b = { c->cert.data, c->cert.len,
				       CURL_BLOB_COPY };

		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
	} else if (c->cert_file) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
	}
	curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	if (c->key.data) {
		struct curl_blob b = { c->key.data, c->key.len,
				       CURL_BLOB_COPY };

		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
	} else if (c->key_file) {
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
	}
	curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	*hdrs = curl_slist_append(NULL, "Accept: application/json, */*");
	*hdrs = curl_slist_append(*hdrs, "User-Agent: runcell");
	if (body)
		*hdrs = curl_slist_append(*hdrs,
					  "Content-Type: application/json");
	if (auth)
		*hdrs = curl_slist_append(*hdrs, auth);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	x->h = h;
	x->stream = stream;
	x->start_ms = x->last_ms = time_mono_ms();
	secret_free(auth);
	free(url);
	return h;
}

enum xend { X_DONE, X_ABORTED, X_IDLE };

static bool waker_says_stop(struct k8s_waker *w, bool stream)
{
	bool stop;

	if (!w)
		return false;
	pthread_mutex_lock(&w->lock);
	stop = w->quit || (stream && w->wake);
	pthread_mutex_unlock(&w->lock);
	return stop;
}

/* Hand pending stream data to the callback.  -1 when it asks to end. */
static int deliver(struct xfer *x)
{
	long status = 0;
	int rc;

	if (!x->stream || !x->fn || !x->dest->len)
		return 0;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299)
		return 0; /* kept as the error answer */
	rc = x->fn(x->ctx, x->dest->data, x->dest->len);
	x->dest->len = 0;
	x->dest->data[0] = '\0';
	return rc;
}

/* Run one transfer on w's multi handle (or a temporary one). */
static enum xend transfer(struct k8s_client *c, struct k8s_waker *w,
			  struct xfer *x, CURLcode *code)
{
	CURLM *m = !w ? curl_multi_init() : x->stream ? w->smulti : w->multi;
	enum xend end = X_DONE;
	int running = 1, left;

	*code = CURLE_OK;
	if (!m)
		xmalloc((size_t)-1);
	if (waker_says_stop(w, x->stream))
		return X_ABORTED;
	curl_multi_add_handle(m, x->h);
	for (;;) {
		CURLMsg *msg;
		int64_t now, wait = 1000;

		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE &&
			    msg->easy_handle == x->h)
				*code = msg->data.result;
		if (deliver(x) < 0) {
			end = X_ABORTED;
			break;
		}
		if (!running)
			break;
		if (waker_says_stop(w, x->stream)) {
			end = X_ABORTED;
			break;
		}
		now = time_mono_ms();
		if (x->deadline_ms && now >= x->deadline_ms) {
			end = X_ABORTED;
			break;
		}
		if (x->stream &&
		    ((x->idle_ms && now - x->last_ms > x->idle_ms) ||
		     (!x->got_header && now - x->start_ms > c->timeout_ms))) {
			end = X_IDLE;
			break;
		}
		if (x->deadline_ms && x->deadline_ms - now < wait)
			wait = x->deadline_ms - now;
		curl_multi_poll(m, NULL, 0, (int)wait, NULL);
	}
	curl_multi_remove_handle(m, x->h);
	if (!w)
		curl_multi_cleanup(m);
	return end;
}

static void parse_answer(struct xfer *x, struct k8s_resp *resp)
{
	char *ct = NULL;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_getinfo(x->h, CURLINFO_CONTENT_TYPE, &ct);
	if (resp->text.len &&
	    ((ct && strstr(ct, "json")) || resp->text.data[0] == '{'))
		resp->body =
			json_loadb(resp->text.data, resp->text.len, 0, NULL);
}

int k8s_request(struct k8s_client *c, struct k8s_waker *w, const char *method,
		const char *path, json_t *body, struct k8s_resp *resp,
		struct rc_err *err)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char why[300];
	int ret = -1;

	k8s_resp_init(resp);
	for (int attempt = 1;; attempt++) {
		struct xfer x = { 0 };
		struct curl_slist *hdrs = NULL;
		enum xend end;
		CURLcode code;
		int64_t delay;

		k8s_resp_free(resp);
		k8s_resp_init(resp);
		x.dest = &resp->text;
		easy_new(c, method, path, text, false, &hdrs, &x);
		end = transfer(c, w, &x, &code);
		parse_answer(&x, resp);
		curl_easy_cleanup(x.h);
		curl_slist_free_all(hdrs);
		if (end == X_ABORTED) {
			rc_err_set(err, ECANCELED,
				   "%s %s: interrupted, the backend is closing",
				   method, path);
			goto out;
		}
		if (code == CURLE_OK && resp->status != 429 &&
		    resp->status < 500) {
			ret = 0;
			goto out;
		}
		if (code != CURLE_OK)
			snprintf(why, sizeof(why), "%s%s",
				 x.overflow ? "answer too large: " : "",
				 curl_easy_strerror(code));
		else
			snprintf(why, sizeof(why), "HTTP %ld: %.200s",
				 resp->status, k8s_resp_message(resp));
		if (attempt >= c->attempts || x.overflow) {
			int en = code == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT :
				 code != CURLE_OK ? EHOSTUNREACH :
						    EAGAIN;

			rc_err_set(err, en,
				   "Kubernetes API server %s: %s %s: %s "
				   "(after %d attempts)",
				   c->server, method, path, why, attempt);
			goto out;
		}
		delay = c->backoff_ms << (attempt - 1);
		if (delay > K8S_BACKOFF_MAX_MS)
			delay = K8S_BACKOFF_MAX_MS;
		if (x.retry_after_ms > 0)
			delay = x.retry_after_ms < K8S_RETRY_AFTER_MAX_MS ?
					x.retry_after_ms :
					K8S_RETRY_AFTER_MAX_MS;
		delay += randombytes_uniform((uint32_t)(delay / 4 + 1));
		waker_wait(w, delay, false);
		if (w && k8s_waker_quitting(w)) {
			rc_err_set(err, ECANCELED,
				   "%s %s: interrupted, the backend is closing",
				   method, path);
			goto out;
		}
	}
out:
	free(text);
	return ret;
}

int k8s_stream(struct k8s_client *c, struct k8s_waker *w, const char *path,
	       int64_t idle_ms, int64_t deadline_mono_ms, k8s_data_fn fn,
	       void *ctx, struct k8s_resp *resp, struct rc_err *err)
{
	struct xfer x = { 0 };
	struct curl_slist *hdrs = NULL;
	enum xend end;
	CURLcode code;
	int ret;

	k8s_resp_init(resp);
	x.dest = &resp->text;
	x.fn = fn;
	x.ctx = ctx;
	x.idle_ms = idle_ms;
	x.deadline_ms = deadline_mono_ms;
	easy_new(c, "GET", path, NULL, true, &hdrs, &x);
	end = transfer(c, w, &x, &code);
	parse_answer(&x, resp);
	curl_easy_cleanup(x.h);
	curl_slist_free_all(hdrs);
	if (end == X_ABORTED) {
		ret = 1;
	} else if (end == X_IDLE) {
		ret = rc_err_set(err, ETIMEDOUT,
				 "Kubernetes API server %s: GET %s: no data "
				 "for too long",
				 c->server, path);
	} else if (code != CURLE_OK &&
		   !(resp->status >= 200 && code == CURLE_PARTIAL_FILE)) {
		ret = rc_err_set(err, EHOSTUNREACH,
				 "Kubernetes API server %s: GET %s: %s",
				 c->server, path, curl_easy_strerror(code));
	} else {
		ret = 0;
	}
	return ret;
}
