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

struct app {
	const struct config *cfg;
	struct store *store;
	struct runs *runs;
	struct http_server *http;
	int64_t started_at;
};

/* The API's route table (api.c). */
extern const struct http_route api_routes[];

/* JSON form of a run for the API (new reference). */
json_t *api_run_json(const struct run *r);

#endif
