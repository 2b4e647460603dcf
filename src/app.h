/*
 * app.h - the running service: what the HTTP handlers reach.
 */
#ifndef RUNCELL_APP_H
#define RUNCELL_APP_H

#include <pthread.h>

#include "config.h"
#include "http.h"
#include "runs.h"
#include "store.h"

struct events;
struct secrets;
struct web;

struct metrics;
struct retention;

/* cfg is the configuration loaded at start-up (listen address, data
 * folder); anything a SIGHUP reload may change is read from
 * runs_config(app->runs). */
struct app {
	const struct config *cfg;
	struct store *store;
	struct runs *runs;
	struct http_server *http;
	int64_t started_at;
	struct metrics *metrics;     /* GET /metrics (metrics.h) */
	struct retention *retention; /* old runs' removal (retention.h) */
	struct secrets *secrets;     /* masks output and run data (secrets.h) */
	struct events *events;	     /* live fan-out to followers (events.h) */
	struct web *web;	     /* sessions of the web UI (web.h) */
};

/* The API's route table (api.c). */
extern const struct http_route api_routes[];

/* JSON form of a run for the API (new reference). */
json_t *api_run_json(const struct run *r);

#endif
