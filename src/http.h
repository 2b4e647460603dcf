/*
 * http.h - the HTTP layer: a libmicrohttpd server, request bodies with a
 * cap, a route table with {param} segments, JSON responses and errors.
 *
 * Every error response is {"error":{"code":"...","message":"..."}} with the
 * matching status; the message says what to change.  Handlers never see a
 * body larger than the configured cap (413 is sent for them).
 */
#ifndef RUNCELL_HTTP_H
#define RUNCELL_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

#include "store.h"
#include "util.h"

struct app;

/* One request, alive from the first header to the response. */
struct http_req {
	struct MHD_Connection *conn;
	struct app *app;
	const char *method;
	char *path; /* decoded path, no query string */
	struct buf body;
	bool body_too_large;
	bool responded;
	/* Filled by authentication. */
	bool authed;
	char *user;
	enum role role;
	/* Route parameters ({id} ...), in order. */
	char *params[4];
	int n_params;
	/* For the access log and metrics. */
	int status;
	const char *route;
};

/* A route handler queues exactly one response with http_* helpers. */
typedef void (*http_handler_fn)(struct http_req *req);

struct http_route {
	const char *method;
	const char *pattern; /* "/api/v1/runs/{id}/stop" */
	int min_role;	     /* -1 = no authentication, else enum role */
	http_handler_fn handler;
};

/* Start serving routes (a table ending with a NULL method) on host:port.
 * max_body caps request bodies.  The route table is borrowed. */
struct http_server;
int http_start(struct app *app, const char *host, int port, size_t max_body,
	       const struct http_route *routes, struct http_server **out,
	       struct rc_err *err);
/* Stop accepting new connections (the listening socket is closed, so
 * clients are refused at once); requests in flight go on.  NULL is fine. */
void http_quiesce(struct http_server *srv);
/* Requests begun and not yet completed (0 for NULL). */
int http_inflight(const struct http_server *srv);
/* Stop accepting, close every connection and free srv. */
void http_stop(struct http_server *srv);
/* The port actually bound (useful with port 0). */
int http_port(const struct http_server *srv);

/* Responses.  Each queues the response on the connection. */
void http_json(struct http_req *req, int status, json_t *body); /* steals */
void http_error(struct http_req *req, int status, const char *code,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Error from an rc_err with the status its errnum maps to; extra fields
 * ("field") are added when set. */
void http_error_from(struct http_req *req, const struct rc_err *err);
void http_bytes(struct http_req *req, int status, const char *content_type,
		const void *data, size_t len, const char *const *headers);
/* Queue a caller-built MHD response (for streams); takes ownership. */
void http_queue(struct http_req *req, int status, struct MHD_Response *resp);

/* Query string argument, or NULL. */
const char *http_query(struct http_req *req, const char *name);
const char *http_header(struct http_req *req, const char *name);

/* Parse the request body as a JSON object; on failure queues a 400/415
 * and returns NULL. */
json_t *http_body_json(struct http_req *req);

/* For handlers of routes without authentication that need it sometimes
 * (GET /metrics): authenticate and check the role as the route table
 * would.  Returns false after queuing a 401 or 403. */
bool http_require_role(struct http_req *req, int min_role);

/* Map an errnum from the core to an HTTP status and error code. */
int http_status_for(int errnum, const char **code);

#endif
