/*
 * k8s.c - the "kubernetes" executor: each run is a batch/v1 Job.
 *
 * start POSTs a Job named after the run id (a valid DNS-1123 name), with
 * backoffLimit 0, restartPolicy Never, activeDeadlineSeconds from the
 * run's timeout, ttlSecondsAfterFinished, the run's resources as requests
 * and limits, labels runcell.io/run-id, /automation and /user, and the
 * run's argv as the container's command (never through a shell).  A Job
 * of that name that already exists (409) is the same run submitted before
 * a restart: it is adopted, never submitted twice.  The handle is
 * "k8s:<namespace>/<name>".
 *
 * One watcher thread per namespace in use (k8s_watch.c) follows every
 * watched Job with a LIST + WATCH on the label runcell.io/run-id, follows
 * each pod's log into the run's log file, enforces runcell's own timeout,
 * and reports events.  stop DELETEs the Job with
 * propagationPolicy=Background (without it the pods keep running).
 * attach re-adopts a Job after a restart from its handle, or by name.
 * The API client (credentials, retries, streams) is k8s_api.c.  See
 * docs/engines/kubernetes.md.
 */
#include "k8s_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FIELD "executors.kubernetes"

/* ---- names and labels ---------------------------------------------------- */

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* A DNS-1123 label: lowercase letters, digits and '-', at most 63, starting
 * and ending with a letter or digit (namespaces, Job names). */
static bool dns_label(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || !is_alnum_lower(s[0]) ||
	    !is_alnum_lower(s[n - 1]))
		return false;
	for (; *s; s++)
		if (!is_alnum_lower(*s) && *s != '-')
			return false;
	return true;
}

/* A DNS-1123 subdomain (service account names): labels joined by '.'. */
static bool dns_subdomain(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253 || !is_alnum_lower(s[0]) ||
	    !is_alnum_lower(s[n - 1]))
		return false;
	for (; *s; s++)
		if (!is_alnum_lower(*s) && *s != '-' && *s != '.')
			return false;
	return true;
}

static bool label_char(char c)
{
	return is_alnum_lower(c) || (c >= 'A' && c <= 'Z') || c == '-' ||
	       c == '_' || c == '.';
}

static bool label_edge(char c)
{
	return is_alnum_lower(c) || (c >= 'A' && c <= 'Z');
}

/* A label value made from any text: characters outside [A-Za-z0-9-_.]
 * become '_', at most 63, starting and ending with a letter or digit
 * (possibly empty).  The exact text goes into an annotation as well. */
static void label_value(const char *in, char out[64])
{
	size_t n = 0, start = 0;

	if (!in)
		in = "";
	while (in[start] && !label_edge(in[start]))
		start++;
	for (const char *p = in + start; *p && n < 63; p++)
		out[n++] = label_char(*p) ? *p : '_';
	while (n && !label_edge(out[n - 1]))
		n--;
	out[n] = '\0';
}

/* ---- settings ------------------------------------------------------------ */

static const char *const settings_keys[] = {
	"namespace",
	"image",
	"api_server",
	"kubeconfig",
	"in_cluster",
	"service_account",
	"ttl_seconds_after_finished",
	"poll_interval",
	"image_pull_policy",
	"timeout_grace",
	NULL,
};

static const char *const option_keys[] = {
	"image",
	"namespace",
	"node_selector",
	NULL,
};

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

static int opt_string(json_t *o, const char *key, const char **out,
		      struct rc_err *err)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !*json_string_value(v))
		return rc_err_field(err, key,
				    FIELD ".%s must be a non-empty "
					  "string",
				    key);
	*out = json_string_value(v);
	return 0;
}

static void settings_clear(struct k8s_settings *s)
{
	free(s->ns);
	free(s->image);
	free(s->service_account);
	free(s->pull_policy);
	memset(s, 0, sizeof(*s));
}

/* Read and check executors.kubernetes; opens the API client. */
static int settings_load(struct k8s *k, struct rc_err *err)
{
	const struct config *cfg = k->ex->cfg;
	json_t *conf = cfg && cfg->executors ?
			       json_object_get(cfg->executors, "kubernetes") :
			       NULL;
	struct k8s_settings *s = &k->set;
	struct k8s_conn conn = { 0 };
	const char *key, *str;
	json_t *v;

	if (conf && !json_is_object(conf))
		return rc_err_field(err, "kubernetes",
				    FIELD " must be a mapping of settings");
	json_object_foreach(conf, key, v) {
		if (!in_list(settings_keys, key))
			return rc_err_field(err, key,
					    FIELD
					    ": unknown key \"%s\"; known "
					    "keys are namespace, image, "
					    "api_server, kubeconfig, "
					    "in_cluster, service_account, "
					    "ttl_seconds_after_finished, "
					    "poll_interval, image_pull_policy, "
					    "timeout_grace",
					    key);
	}
	if (opt_string(conf, "namespace", &str, err) < 0)
		return -1;
	if (str && !dns_label(str))
		return rc_err_field(err, "namespace",
				    FIELD ".namespace \"%s\" is not a valid "
					  "namespace name (lowercase letters, "
					  "digits and '-', at most 63)",
				    str);
	s->ns = xstrdup(str);
	if (opt_string(conf, "image", &str, err) < 0)
		return -1;
	s->image = xstrdup(str);
	if (opt_string(conf, "service_account", &str, err) < 0)
		return -1;
	if (str && !dns_subdomain(str))
		return rc_err_field(err, "service_account",
				    FIELD ".service_account \"%s\" is not a "
					  "valid service account name",
				    str);
	s->service_account = xstrdup(str);
	if (opt_string(conf, "image_pull_policy", &str, err) < 0)
		return -1;
	if (str && strcmp(str, "Always") && strcmp(str, "IfNotPresent") &&
	    strcmp(str, "Never"))
		return rc_err_field(err, "image_pull_policy",
				    FIELD ".image_pull_policy must be Always, "
					  "IfNotPresent or Never, not \"%s\"",
				    str);
	s->pull_policy = xstrdup(str);
	s->ttl_s = 86400;
	v = json_object_get(conf, "ttl_seconds_after_finished");
	if (v && json_is_null(v)) {
		s->ttl_s = -1;
	} else if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
			 json_integer_value(v) > 2147483647)) {
		return rc_err_field(err, "ttl_seconds_after_finished",
				    FIELD
				    ".ttl_seconds_after_finished must "
				    "be a whole number of seconds >= 0 (or "
				    "null to keep finished Jobs)");
	} else if (v) {
		s->ttl_s = json_integer_value(v);
	}
	if (exec_setting_duration(conf, FIELD, "poll_interval", 2000, 100,
				  &s->poll_ms, err) < 0 ||
	    exec_setting_duration(conf, FIELD, "timeout_grace", 5000, 0,
				  &s->grace_ms, err) < 0)
		return -1;
	s->watch_s = 60;

	v = json_object_get(conf, "in_cluster");
	if (v && !json_is_boolean(v))
		return rc_err_field(err, "in_cluster",
				    FIELD ".in_cluster must be true or false");
	conn.in_cluster = v && json_is_true(v);
	if (opt_string(conf, "api_server", &conn.api_server, err) < 0 ||
	    opt_string(conf, "kubeconfig", &conn.kubeconfig, err) < 0)
		return -1;
	if (conn.in_cluster && conn.kubeconfig)
		return rc_err_field(err, "kubeconfig",
				    FIELD ": set either in_cluster or "
					  "kubeconfig, not both");
	if (k8s_client_new(&conn, &k->client, err) < 0)
		return rc_err_wrap(err, FIELD);
	if (!s->ns)
		s->ns = xstrdup(k8s_client_namespace(k->client) ?
					k8s_client_namespace(k->client) :
					"default");
	return 0;
}

/* Per-automation options, checked: image, namespace, node_selector.
 * Pointers are borrowed from the configuration or the settings. */
struct auto_opts {
	const char *image;
	const char *ns;
	json_t *node_selector; /* object or NULL */
};

static int automation_options(struct k8s *k, const struct automation *a,
			      struct auto_opts *o, struct rc_err *err)
{
	const char *key, *id = a ? a->id : "?";
	json_t *v, *opts = a ? a->executor_options : NULL;

	o->image = k->set.image;
	o->ns = k->set.ns;
	o->node_selector = NULL;
	if (opts && !json_is_object(opts))
		return rc_err_field(err, "executor_options",
				    "automation %s: executor_options must be "
				    "a mapping",
				    id);
	json_object_foreach(opts, key, v) {
		if (!in_list(option_keys, key))
			return rc_err_field(err, key,
					    "automation %s: unknown kubernetes "
					    "executor option \"%s\"; use "
					    "image, namespace or node_selector",
					    id, key);
	}
	v = json_object_get(opts, "image");
	if (v && (!json_is_string(v) || !*json_string_value(v)))
		return rc_err_field(err, "image",
				    "automation %s: executor option image must "
				    "be a non-empty string",
				    id);
	if (v)
		o->image = json_string_value(v);
	v = json_object_get(opts, "namespace");
	if (v && (!json_is_string(v) || !dns_label(json_string_value(v))))
		return rc_err_field(err, "namespace",
				    "automation %s: executor option namespace "
				    "must be a valid namespace name",
				    id);
	if (v)
		o->ns = json_string_value(v);
	v = json_object_get(opts, "node_selector");
	if (v) {
		json_t *it;
		const char *sk;

		if (!json_is_object(v))
			return rc_err_field(err, "node_selector",
					    "automation %s: node_selector must "
					    "be a mapping of label: value",
					    id);
		json_object_foreach(v, sk, it) {
			if (!json_is_string(it))
				return rc_err_field(err, "node_selector",
						    "automation %s: "
						    "node_selector.%s must be "
						    "a string",
						    id, sk);
		}
		o->node_selector = v;
	}
	if (!o->image)
		return rc_err_field(
			err, "image",
			"automation %s has no container image: set " FIELD
			".image or the automation's "
			"executor_options.image",
			id);
	return 0;
}

/* Check the options of every automation that uses this executor. */
static int check_automations(struct k8s *k, struct rc_err *err)
{
	const struct config *cfg = k->ex->cfg;
	struct auto_opts o;

	for (size_t i = 0; cfg && i < cfg->n_autos; i++) {
		const struct automation *a = &cfg->autos[i];
		const char *ex = a->executor ? a->executor :
					       cfg->server.executor;

		if (!ex || strcmp(ex, "kubernetes") != 0)
			continue;
		if (automation_options(k, a, &o, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- the Job ------------------------------------------------------------- */

static json_t *labels_new(const struct exec_spec *spec)
{
	char a[64], u[64];

	label_value(spec->automation_id, a);
	label_value(spec->user, u);
	return json_pack("{s:s, s:s, s:s}", K8S_LABEL_RUN, spec->run_id,
			 K8S_LABEL_AUTO, a, K8S_LABEL_USER, u);
}

static json_t *resources_new(const struct resources *res)
{
	json_t *lim = json_object(), *r;

	if (res && res->cpu > 0) {
		long long m = (long long)(res->cpu * 1000 + 0.5);
		char *q = xasprintf("%lldm", m > 0 ? m : 1);

		json_object_set_new(lim, "cpu", json_string(q));
		free(q);
	}
	if (res && res->memory > 0) {
		char *q = xasprintf("%lld", (long long)res->memory);

		json_object_set_new(lim, "memory", json_string(q));
		free(q);
	}
	r = json_pack("{s:O, s:O}", "limits", lim, "requests", lim);
	json_decref(lim);
	return r;
}

/* The Job object for a run.  log_base is the size of the local log now. */
static json_t *job_new(struct k8s *k, const struct exec_spec *spec,
		       const struct auto_opts *o, int64_t log_base)
{
	json_t *cmd = json_array(), *env = json_array(), *ann, *container;
	json_t *pod, *jspec, *job;
	char num[3][32];

	for (char *const *a = spec->argv; *a; a++)
		json_array_append_new(cmd, json_string(*a));
	for (char *const *e = spec->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		char *name;

		if (!eq || eq == *e)
			continue;
		name = xstrndup(*e, (size_t)(eq - *e));
		/* HOME names the run's folder on this host; the container
		 * keeps its image's HOME. */
		if (strcmp(name, "HOME") != 0)
			json_array_append_new(env,
					      json_pack("{s:s, s:s}", "name",
							name, "value", eq + 1));
		free(name);
	}
	container = json_pack("{s:s, s:s, s:o, s:o, s:o}", "name",
			      K8S_CONTAINER, "image", o->image, "command", cmd,
			      "env", env, "resources",
			      resources_new(spec->res));
	if (k->set.pull_policy)
		json_object_set_new(container, "imagePullPolicy",
				    json_string(k->set.pull_policy));
	pod = json_pack("{s:s, s:[o]}", "restartPolicy", "Never", "containers",
			container);
	if (k->set.service_account)
		json_object_set_new(pod, "serviceAccountName",
				    json_string(k->set.service_account));
	if (o->node_selector)
		json_object_set(pod, "nodeSelector", o->node_selector);

	jspec = json_pack("{s:i, s:{s:{s:o}, s:o}}", "backoffLimit", 0,
			  "template", "metadata", "labels", labels_new(spec),
			  "spec", pod);
	if (spec->res && spec->res->timeout_ms > 0)
		json_object_set_new(
			jspec, "activeDeadlineSeconds",
			json_integer((spec->res->timeout_ms + 999) / 1000));
	if (k->set.ttl_s >= 0)
		json_object_set_new(jspec, "ttlSecondsAfterFinished",
				    json_integer(k->set.ttl_s));

	snprintf(num[0], sizeof(num[0]), "%lld", (long long)log_base);
	snprintf(num[1], sizeof(num[1]), "%lld",
		 (long long)(spec->log_max_bytes > 0 ? spec->log_max_bytes :
						       0));
	snprintf(num[2], sizeof(num[2]), "%lld",
		 (long long)(spec->res ? spec->res->timeout_ms : 0));
	ann = json_pack("{s:s, s:s, s:s, s:s, s:s}", K8S_LABEL_AUTO,
			spec->automation_id ? spec->automation_id : "",
			K8S_LABEL_USER, spec->user ? spec->user : "",
			K8S_ANN_LOG_BASE, num[0], K8S_ANN_LOG_MAX, num[1],
			K8S_ANN_TIMEOUT, num[2]);
	job = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:o}, s:o}", "apiVersion",
			"batch/v1", "kind", "Job", "metadata", "name",
			spec->run_id, "namespace", o->ns, "labels",
			labels_new(spec), "annotations", ann, "spec", jspec);
	return job;
}

/* ---- the watch list ------------------------------------------------------ */

void k8s_job_free(struct kjob *j)
{
	if (!j)
		return;
	free(j->run_id);
	free(j->log_path);
	free(j->pod);
	free(j);
}

static struct kjob *job_find_locked(struct k8s *k, const char *run_id)
{
	for (struct kjob *j = k->jobs; j; j = j->next)
		if (!strcmp(j->run_id, run_id))
			return j;
	return NULL;
}

/* Hand j to the watcher of namespace ns (started on first use).  A run
 * already watched is not watched twice (j is freed). */
static int job_watch(struct k8s *k, struct kjob *j, const char *ns,
		     struct rc_err *err)
{
	struct kns *n;

	pthread_mutex_lock(&k->lock);
	if (job_find_locked(k, j->run_id)) {
		pthread_mutex_unlock(&k->lock);
		k8s_job_free(j);
		return 0;
	}
	for (n = k->namespaces; n; n = n->next)
		if (!strcmp(n->name, ns))
			break;
	if (!n) {
		n = xcalloc(1, sizeof(*n));
		n->k = k;
		n->name = xstrdup(ns);
		n->backoff_ms = k->set.poll_ms;
		buf_init(&n->line, 16u << 20);
		k8s_waker_init(&n->w);
		if (k8s_ns_start(n, err) < 0) {
			pthread_mutex_unlock(&k->lock);
			k8s_waker_destroy(&n->w);
			free(n->name);
			free(n);
			k8s_job_free(j);
			return -1;
		}
		n->next = k->namespaces;
		k->namespaces = n;
	}
	j->ns = n;
	j->need_sync = true;
	j->next = k->jobs;
	k->jobs = j;
	pthread_mutex_unlock(&k->lock);
	k8s_waker_wake(&n->w);
	return 0;
}

static struct kjob *job_new_watch(const char *run_id, const char *log_path)
{
	struct kjob *j = xcalloc(1, sizeof(*j));
	struct stat st;

	j->run_id = xstrdup(run_id);
	j->log_path = xstrdup(log_path);
	j->log_len = stat(log_path, &st) == 0 ? st.st_size : 0;
	j->last_nl = true;
	return j;
}

/* ---- start, stop, attach ------------------------------------------------- */

static int parse_handle(const char *handle, char **ns, char **name,
			struct rc_err *err)
{
	const char *slash = handle ? strchr(handle, '/') : NULL;

	if (!handle || !str_has_prefix(handle, "k8s:") || !slash) {
		return rc_err_set(err, EINVAL,
				  "\"%s\" is not a kubernetes handle "
				  "(k8s:<namespace>/<job>)",
				  handle ? handle : "(null)");
	}
	*ns = xstrndup(handle + 4, (size_t)(slash - handle - 4));
	*name = xstrdup(slash + 1);
	if (!dns_label(*ns) || !dns_subdomain(*name)) {
		free(*ns);
		free(*name);
		*ns = *name = NULL;
		return rc_err_set(err, EINVAL,
				  "\"%s\" is not a kubernetes handle "
				  "(k8s:<namespace>/<job>)",
				  handle);
	}
	return 0;
}

static char *job_path(const char *ns, const char *name)
{
	return xasprintf("/apis/batch/v1/namespaces/%s/jobs%s%s", ns,
			 name ? "/" : "", name ? name : "");
}

/* Why an answer refused us, with a hint for 401/403. */
static int refusal(struct rc_err *err, const char *what,
		   const struct k8s_resp *r)
{
	const char *hint = "";

	if (r->status == 401)
		hint = " (the credentials were not accepted: check the token "
		       "or client certificate)";
	else if (r->status == 403)
		hint = " (the service account lacks a permission: see the "
		       "RBAC rules in docs/engines/kubernetes.md)";
	return rc_err_set(err, r->status == 404 ? ENOENT : EIO,
			  "%s: HTTP %ld: %.300s%s", what, r->status,
			  k8s_resp_message(r), hint);
}

static const char *label_of(json_t *obj, const char *label)
{
	return json_string_value(json_object_get(
		json_object_get(json_object_get(obj, "metadata"), "labels"),
		label));
}

static int k8s_start(struct executor *ex, const struct exec_spec *spec,
		     char **handle, struct rc_err *err)
{
	struct k8s *k = ex->priv;
	const struct automation *a = NULL;
	struct auto_opts o;
	struct k8s_resp r;
	struct kjob *j = NULL;
	json_t *job = NULL;
	char *path = NULL, *what = NULL;
	int64_t log_base;
	int fd, ret = -1;

	k8s_resp_init(&r);
	if (!spec->run_id || !dns_label(spec->run_id))
		return rc_err_set(err, EINVAL,
				  "run id \"%s\" is not a valid Job name",
				  spec->run_id ? spec->run_id : "(null)");
	if (!spec->argv || !spec->argv[0] || !spec->argv[0][0])
		return rc_err_set(err, EINVAL, "run %s has no command",
				  spec->run_id);
	if (ex->cfg && spec->automation_id)
		a = config_automation(ex->cfg, spec->automation_id);
	if (automation_options(k, a, &o, err) < 0)
		return -1;

	/* The local log exists from the start, so readers find it. */
	fd = open(spec->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		  0640);
	if (fd < 0)
		return rc_err_set(err, errno, "cannot create log %s: %s",
				  spec->log_path, strerror(errno));
	close(fd);
	j = job_new_watch(spec->run_id, spec->log_path);
	log_base = j->log_len;
	j->log_base = log_base;
	j->log_max = spec->log_max_bytes > 0 ? spec->log_max_bytes : 0;
	j->timeout_ms = spec->res ? spec->res->timeout_ms : 0;
	j->start_ms = time_now_ms();
	j->handle_known = true;
	j->limits_known = true;

	job = job_new(k, spec, &o, log_base);
	path = job_path(o.ns, NULL);
	what = xasprintf("creating Job %s/%s", o.ns, spec->run_id);
	if (k8s_request(k->client, NULL, "POST", path, job, &r, err) < 0) {
		rc_err_wrap(err, "%s", what);
		goto out;
	}
	if (r.status == 409) {
		/* Submitted before (a restart, or a retried POST whose
		 * answer was lost): adopt it if it is this run's Job. */
		char *p = job_path(o.ns, spec->run_id);
		const char *owner;

		k8s_resp_free(&r);
		if (k8s_request(k->client, NULL, "GET", p, NULL, &r, err) < 0) {
			free(p);
			rc_err_wrap(err, "%s (it exists already)", what);
			goto out;
		}
		free(p);
		j->limits_known = false; /* its annotations tell */
		owner = label_of(r.body, K8S_LABEL_RUN);
		if (r.status != 200 || !owner ||
		    strcmp(owner, spec->run_id) != 0) {
			rc_err_set(err, EEXIST,
				   "%s: a Job of that name exists and is not "
				   "this run's (label %s is \"%s\")",
				   what, K8S_LABEL_RUN, owner ? owner : "");
			goto out;
		}
	} else if (r.status != 201 && r.status != 200 && r.status != 202) {
		refusal(err, what, &r);
		goto out;
	}
	*handle = xasprintf("k8s:%s/%s", o.ns, spec->run_id);
	ret = job_watch(k, j, o.ns, err);
	j = NULL;
	if (ret < 0) {
		free(*handle);
		*handle = NULL;
	}
out:
	k8s_job_free(j);
	k8s_resp_free(&r);
	json_decref(job);
	free(path);
	free(what);
	return ret;
}

int k8s_job_delete(struct k8s *k, struct k8s_waker *w, const char *ns,
		   const char *name, struct rc_err *err)
{
	char *base = job_path(ns, name);
	char *path = xasprintf("%s?propagationPolicy=Background", base);
	struct k8s_resp r;
	int ret = -1;

	if (k8s_request(k->client, w, "DELETE", path, NULL, &r, err) < 0) {
		rc_err_wrap(err, "deleting Job %s/%s", ns, name);
		goto out;
	}
	if (r.status != 200 && r.status != 202 && r.status != 404) {
		char *what = xasprintf("deleting Job %s/%s", ns, name);

		refusal(err, what, &r);
		free(what);
		goto out;
	}
	ret = 0;
out:
	k8s_resp_free(&r);
	free(base);
	free(path);
	return ret;
}

static int k8s_stop(struct executor *ex, const char *run_id, const char *handle,
		    struct rc_err *err)
{
	struct k8s *k = ex->priv;
	char *ns = NULL, *name = NULL;
	struct kns *n = NULL;
	struct kjob *j;
	int ret = -1;

	if (handle) {
		if (parse_handle(handle, &ns, &name, err) < 0)
			return -1;
	} else {
		ns = xstrdup(k->set.ns);
		name = xstrdup(run_id);
	}
	pthread_mutex_lock(&k->lock);
	j = job_find_locked(k, run_id);
	if (j) {
		j->stop_requested = true;
		n = j->ns;
	}
	pthread_mutex_unlock(&k->lock);
	if (k8s_job_delete(k, NULL, ns, name, err) < 0) {
		rc_err_wrap(err, "stopping run %s", run_id);
		goto out;
	}
	if (n) {
		/* Look again: the watch shows the deletion, a poll needs a
		 * GET. */
		pthread_mutex_lock(&k->lock);
		j = job_find_locked(k, run_id);
		if (j)
			j->need_sync = true;
		pthread_mutex_unlock(&k->lock);
		k8s_waker_wake(&n->w);
	}
	ret = 0;
out:
	free(ns);
	free(name);
	return ret;
}

/* The namespaces a run without a handle may be in: the default one and
 * every automation's.  NULL-terminated, strings borrowed. */
static const char **candidate_namespaces(struct k8s *k)
{
	const struct config *cfg = k->ex->cfg;
	size_t n = 0, max = 2 + (cfg ? cfg->n_autos : 0);
	const char **v = xcalloc(max, sizeof(*v));

	v[n++] = k->set.ns;
	for (size_t i = 0; cfg && i < cfg->n_autos; i++) {
		json_t *o = cfg->autos[i].executor_options;
		const char *ns =
			json_string_value(json_object_get(o, "namespace"));
		bool seen = false;

		if (!ns || !dns_label(ns))
			continue;
		for (size_t x = 0; x < n; x++)
			seen = seen || !strcmp(v[x], ns);
		if (!seen)
			v[n++] = ns;
	}
	return v;
}

static int k8s_attach(struct executor *ex, const char *run_id,
		      const char *handle, const char *log_path,
		      struct rc_err *err)
{
	struct k8s *k = ex->priv;
	char *ns = NULL, *name = NULL;
	const char **cands = NULL;
	struct kjob *j;
	int ret = -1;

	if (!run_id || !dns_label(run_id))
		return rc_err_set(err, EINVAL, "bad run id \"%s\"",
				  run_id ? run_id : "(null)");
	if (handle) {
		if (parse_handle(handle, &ns, &name, err) < 0)
			return -1;
		if (strcmp(name, run_id) != 0) {
			rc_err_set(err, EINVAL,
				   "handle %s does not name run %s's Job",
				   handle, run_id);
			goto out;
		}
	} else {
		/* Never got a handle: the Job, if it was created, is
		 * named after the run. */
		cands = candidate_namespaces(k);
		for (size_t i = 0; cands[i] && !ns; i++) {
			char *p = job_path(cands[i], run_id);
			struct k8s_resp r;
			const char *owner;
			int rc = k8s_request(k->client, NULL, "GET", p, NULL,
					     &r, err);

			free(p);
			owner = label_of(r.body, K8S_LABEL_RUN);
			if (rc < 0) {
				rc_err_wrap(err, "looking for run %s's Job",
					    run_id);
			} else if (r.status == 200 && owner &&
				   !strcmp(owner, run_id)) {
				ns = xstrdup(cands[i]);
			} else if (r.status != 404 && r.status != 200) {
				char *what = xasprintf("looking for Job %s/%s",
						       cands[i], run_id);

				refusal(err, what, &r);
				free(what);
				rc = -1;
			}
			k8s_resp_free(&r);
			if (rc < 0)
				goto out;
		}
		if (!ns) {
			ret = 1; /* never submitted */
			goto out;
		}
	}
	j = job_new_watch(run_id, log_path);
	j->handle_known = true;
	j->log_max = ex->cfg ? ex->cfg->server.log_max_bytes : 0;
	ret = job_watch(k, j, ns, err);
out:
	free(cands);
	free(ns);
	free(name);
	return ret;
}

/* ---- open and close ------------------------------------------------------ */

int64_t k8s_parse_time(const char *s)
{
	struct tm tm;
	const char *end;

	if (!s)
		return 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return 0;
	return (int64_t)timegm(&tm) * 1000;
}

static void k8s_free(struct k8s *k)
{
	struct kjob *j, *jn;
	struct kns *n, *nn;

	if (!k)
		return;
	for (j = k->jobs; j; j = jn) {
		jn = j->next;
		k8s_job_free(j);
	}
	for (n = k->namespaces; n; n = nn) {
		nn = n->next;
		k8s_waker_destroy(&n->w);
		buf_free(&n->line);
		free(n->rv);
		free(n->name);
		free(n);
	}
	k8s_client_free(k->client);
	settings_clear(&k->set);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

static void k8s_close(struct executor *ex)
{
	struct k8s *k = ex->priv;
	struct kns *n;

	if (!k)
		return;
	atomic_store(&k->quit, true);
	/* The list of namespaces only grows, under the lock; threads are
	 * stopped one by one without it (they take it themselves). */
	pthread_mutex_lock(&k->lock);
	n = k->namespaces;
	pthread_mutex_unlock(&k->lock);
	for (; n; n = n->next)
		k8s_waker_quit(&n->w);
	pthread_mutex_lock(&k->lock);
	n = k->namespaces;
	pthread_mutex_unlock(&k->lock);
	for (; n; n = n->next)
		k8s_ns_stop(n);
	k8s_free(k);
	ex->priv = NULL;
}

static const struct executor_ops k8s_ops = {
	.name = "kubernetes",
	.start = k8s_start,
	.attach = k8s_attach,
	.stop = k8s_stop,
	.close = k8s_close,
};

int exec_k8s_open(struct executor *ex, struct rc_err *err)
{
	struct k8s *k = xcalloc(1, sizeof(*k));
	int ret = -1;

	k->ex = ex;
	pthread_mutex_init(&k->lock, NULL);
	atomic_init(&k->quit, false);
	if (settings_load(k, err) < 0 || check_automations(k, err) < 0)
		goto out;
	ex->ops = &k8s_ops;
	ex->priv = k;
	k = NULL;
	ret = 0;
out:
	k8s_free(k);
	return ret;
}
