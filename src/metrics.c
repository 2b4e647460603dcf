/*
 * metrics.c - in-memory counters, gauges and histograms, and their
 * rendering in the Prometheus text format 0.0.4.
 *
 * A labelled family is a short list of series, each keyed by its rendered
 * label text (automation="x",state="y"); label sets are small (automations
 * times states, routes times statuses), so a linear search is enough.  One
 * mutex guards everything; rendering copies nothing and holds it briefly.
 */
#include "metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct series {
	char *labels; /* rendered, without braces */
	double value;
};

struct family {
	struct series *s;
	size_t n, cap;
};

#define HIST_MAX_BUCKETS 16

struct histogram {
	const double *bounds; /* upper bounds, increasing; +Inf implied */
	size_t n_bounds;
	uint64_t counts[HIST_MAX_BUCKETS]; /* per bucket, not cumulative */
	uint64_t count;
	double sum;
};

static const double queue_wait_bounds[] = {
	0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800,
};
static const double duration_bounds[] = {
	0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400,
};
static const double to_start_bounds[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.25,  0.5,    1,     2.5,  5,	   10,	 60,
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct metrics {
	pthread_mutex_t mu;
	struct family started;	/* {automation} */
	struct family finished; /* {automation,state} */
	struct family cpu;	/* {automation} */
	struct family peak;	/* {automation}, max */
	struct family http;	/* {route,status} */
	struct histogram queue_wait, duration, to_start;
};

void metrics_escape_label(struct buf *b, const char *value)
{
	for (const char *p = value ? value : ""; *p; p++) {
		if (*p == '\\')
			buf_appends(b, "\\\\");
		else if (*p == '"')
			buf_appends(b, "\\\"");
		else if (*p == '\n')
			buf_appends(b, "\\n");
		else
			buf_append(b, p, 1);
	}
}

static void hist_init(struct histogram *h, const double *bounds, size_t n)
{
	h->bounds = bounds;
	h->n_bounds = n < HIST_MAX_BUCKETS ? n : HIST_MAX_BUCKETS;
}

/* mu held. */
static void hist_observe(struct histogram *h, double v)
{
	size_t i = 0;

	if (v < 0)
		v = 0;
	while (i < h->n_bounds && v > h->bounds[i])
		i++;
	if (i < h->n_bounds)
		h->counts[i]++;
	h->count++;
	h->sum += v;
}

/* The series of f with these labels, made if missing (mu held). */
static struct series *family_get(struct family *f, const char *labels)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->s[i].labels, labels))
			return &f->s[i];
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 8;
		f->s = xrealloc(f->s, f->cap * sizeof(*f->s));
	}
	f->s[f->n].labels = xstrdup(labels);
	f->s[f->n].value = 0;
	return &f->s[f->n++];
}

static void family_free(struct family *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->s[i].labels);
	free(f->s);
}

/* label="value"[,label2="value2"] into a new string. */
static char *labels2(const char *k1, const char *v1, const char *k2,
		     const char *v2)
{
	struct buf b;

	buf_init(&b, 0);
	buf_appendf(&b, "%s=\"", k1);
	metrics_escape_label(&b, v1);
	buf_appends(&b, "\"");
	if (k2) {
		buf_appendf(&b, ",%s=\"", k2);
		metrics_escape_label(&b, v2);
		buf_appends(&b, "\"");
	}
	return buf_take(&b, NULL);
}

struct metrics *metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof(*m));

	pthread_mutex_init(&m->mu, NULL);
	hist_init(&m->queue_wait, queue_wait_bounds, NELEM(queue_wait_bounds));
	hist_init(&m->duration, duration_bounds, NELEM(duration_bounds));
	hist_init(&m->to_start, to_start_bounds, NELEM(to_start_bounds));
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	family_free(&m->started);
	family_free(&m->finished);
	family_free(&m->cpu);
	family_free(&m->peak);
	family_free(&m->http);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* When a run was ready to start: its creation, or the end of its retry
 * backoff. */
static int64_t ready_at(const struct run *r)
{
	return r->not_before > r->created_at ? r->not_before : r->created_at;
}

void metrics_on_run(void *ctx, const struct run *r)
{
	struct metrics *m = ctx;
	char *l1 = labels2("automation", r->automation, NULL, NULL);
	char *l2 = NULL;

	pthread_mutex_lock(&m->mu);
	if (r->state == RUN_STARTING) {
		hist_observe(&m->queue_wait,
			     (double)(time_now_ms() - ready_at(r)) / 1000.0);
	} else if (r->state == RUN_RUNNING) {
		family_get(&m->started, l1)->value += 1;
		if (r->started_at)
			hist_observe(&m->to_start,
				     (double)(r->started_at - ready_at(r)) /
					     1000.0);
	} else if (run_state_terminal(r->state)) {
		struct series *p;

		l2 = labels2("automation", r->automation, "state",
			     run_state_name(r->state));
		family_get(&m->finished, l2)->value += 1;
		if (r->started_at && r->finished_at)
			hist_observe(&m->duration,
				     (double)(r->finished_at - r->started_at) /
					     1000.0);
		if (r->has_usage) {
			family_get(&m->cpu, l1)->value +=
				(double)r->cpu_usec / 1e6;
			p = family_get(&m->peak, l1);
			if ((double)r->peak_memory > p->value)
				p->value = (double)r->peak_memory;
		}
	}
	pthread_mutex_unlock(&m->mu);
	free(l1);
	free(l2);
}

void metrics_http_request(struct metrics *m, const char *route, int status)
{
	char code[16];
	char *l;

	if (!m || status <= 0)
		return;
	snprintf(code, sizeof(code), "%d", status);
	l = labels2("route", route ? route : "unmatched", "status", code);
	pthread_mutex_lock(&m->mu);
	family_get(&m->http, l)->value += 1;
	pthread_mutex_unlock(&m->mu);
	free(l);
}

static void render_head(struct buf *b, const char *name, const char *type,
			const char *help)
{
	buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_family(struct buf *b, const char *name, const char *type,
			  const char *help, const struct family *f)
{
	render_head(b, name, type, help);
	for (size_t i = 0; i < f->n; i++)
		buf_appendf(b, "%s{%s} %.17g\n", name, f->s[i].labels,
			    f->s[i].value);
}

static void render_hist(struct buf *b, const char *name, const char *help,
			const struct histogram *h)
{
	uint64_t cum = 0;

	render_head(b, name, "histogram", help);
	for (size_t i = 0; i < h->n_bounds; i++) {
		cum += h->counts[i];
		buf_appendf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
			    h->bounds[i], cum);
	}
	buf_appendf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
	buf_appendf(b, "%s_sum %.17g\n%s_count %" PRIu64 "\n", name, h->sum,
		    name, h->count);
}

char *metrics_render(struct metrics *m, int queued, int running, size_t *len)
{
	struct buf b;

	buf_init(&b, 0);
	pthread_mutex_lock(&m->mu);
	render_family(&b, "runcell_runs_started_total", "counter",
		      "Runs whose program started, by automation.",
		      &m->started);
	render_family(&b, "runcell_runs_finished_total", "counter",
		      "Runs that reached a final state, by automation and "
		      "state.",
		      &m->finished);
	render_head(&b, "runcell_runs_running", "gauge",
		    "Runs starting or running now.");
	buf_appendf(&b, "runcell_runs_running %d\n", running);
	render_head(&b, "runcell_runs_queued", "gauge",
		    "Runs waiting in the queue now.");
	buf_appendf(&b, "runcell_runs_queued %d\n", queued);
	render_hist(&b, "runcell_queue_wait_seconds",
		    "Time from a run being ready (created, or its retry "
		    "backoff over) to leaving the queue.",
		    &m->queue_wait);
	render_hist(&b, "runcell_run_duration_seconds",
		    "Time from a run's program starting to its end.",
		    &m->duration);
	render_hist(&b, "runcell_request_to_start_seconds",
		    "Time from a run being ready to its program running.",
		    &m->to_start);
	render_family(&b, "runcell_run_cpu_seconds_total", "counter",
		      "CPU time used by finished runs, by automation.",
		      &m->cpu);
	render_family(&b, "runcell_run_peak_memory_bytes", "gauge",
		      "Largest peak memory of a finished run since start, by "
		      "automation.",
		      &m->peak);
	render_family(&b, "runcell_http_requests_total", "counter",
		      "HTTP requests answered, by route pattern and status.",
		      &m->http);
	pthread_mutex_unlock(&m->mu);
	return buf_take(&b, len);
}
