/*
 * http.c - libmicrohttpd glue: listening socket, request bodies with a cap,
 * authentication, route matching and response helpers.
 *
 * MHD runs one thread per connection (so streaming responses may block
 * their own thread without stalling others).  Each request gets a struct
 * http_req, freed by the completion callback.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "log.h"
#include "metrics.h"
#include "secrets.h"
#include "web.h"

struct http_server {
	struct MHD_Daemon *d;
	struct app *app;
	const struct http_route *routes;
	size_t max_body;
	int fd; /* listening socket; -1 once quiesced */
	int port;
	_Atomic int inflight; /* requests begun and not yet completed */
};

int http_status_for(int errnum, const char **code)
{
	const char *c;
	int st;

	switch (errnum) {
	case ENOENT:
		st = 404, c = "not_found";
		break;
	case EINVAL:
		st = 422, c = "invalid";
		break;
	case EACCES:
	case EPERM:
		st = 403, c = "forbidden";
		break;
	case EALREADY:
	case EEXIST:
		st = 409, c = "conflict";
		break;
	case EAGAIN:
		st = 429, c = "too_many";
		break;
	case EBUSY:
		st = 503, c = "unavailable";
		break;
	case ENOSPC:
		st = 507, c = "insufficient_storage";
		break;
	case E2BIG:
		st = 413, c = "too_large";
		break;
	default:
		st = 500, c = "internal";
		break;
	}
	if (code)
		*code = c;
	return st;
}

void http_queue(struct http_req *req, int status, struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_queue_response(req->conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	req->status = status;
	req->responded = true;
}

void http_bytes(struct http_req *req, int status, const char *content_type,
		const void *data, size_t len, const char *const *headers)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)data,
					       MHD_RESPMEM_MUST_COPY);
	if (content_type)
		MHD_add_response_header(resp, "Content-Type", content_type);
	for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
		MHD_add_response_header(resp, headers[i], headers[i + 1]);
	http_queue(req, status, resp);
}

void http_json(struct http_req *req, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
	size_t n;

	json_decref(body);
	if (!text)
		text = xstrdup("{}");
	if (req->app && req->app->secrets) {
		/* No secret value ever leaves in an API response. */
		char *masked = secrets_mask_str(req->app->secrets, text);

		free(text);
		text = masked;
	}
	n = strlen(text);
	text = xrealloc(text, n + 2);
	text[n] = '\n';
	http_bytes(req, status, "application/json", text, n + 1, NULL);
	free(text);
}

static void error_json(struct http_req *req, int status, const char *code,
		       const char *msg, const char *field)
{
	json_t *e = json_pack("{s:s, s:s}", "code", code, "message", msg);

	if (field && *field)
		json_object_set_new(e, "field", json_string(field));
	/* The original /api/... routes answered {"success": false, ...}. */
	if (str_has_prefix(req->path, "/api/") &&
	    !str_has_prefix(req->path, "/api/v1/"))
		http_json(req, status,
			  json_pack("{s:o, s:b, s:s}", "error", e, "success", 0,
				    "message", msg));
	else
		http_json(req, status, json_pack("{s:o}", "error", e));
}

void http_error(struct http_req *req, int status, const char *code,
		const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_json(req, status, code, msg, NULL);
}

void http_error_from(struct http_req *req, const struct rc_err *err)
{
	const char *code;
	int st = http_status_for(err->errnum, &code);

	error_json(req, st, code, err->msg, err->field);
}

const char *http_query(struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
					   name);
}

const char *http_header(struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

json_t *http_body_json(struct http_req *req)
{
	const char *ct = http_header(req, "Content-Type");
	json_error_t jerr;
	json_t *j;

	if (ct && !str_has_prefix(ct, "application/json")) {
		http_error(req, 415, "unsupported_media_type",
			   "send the body as JSON with Content-Type: "
			   "application/json (got %.100s)",
			   ct);
		return NULL;
	}
	if (req->body.len == 0) {
		http_error(req, 400, "bad_request",
			   "the request needs a JSON object body");
		return NULL;
	}
	j = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES,
		       &jerr);
	if (!j) {
		http_error(req, 400, "bad_json",
			   "the body is not valid JSON: %s (line %d, column "
			   "%d)",
			   jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		http_error(req, 400, "bad_json",
			   "the body must be a JSON object");
		return NULL;
	}
	return j;
}

/* Bearer token (or, without one, the web UI's session cookie with its
 * CSRF check: web.c) -> user and role.  Returns false after queuing a 401
 * or 403. */
static bool authenticate(struct http_req *req)
{
	const char *h = http_header(req, "Authorization");
	struct token_info ti;
	struct rc_err err;
	int r;

	if (!h && (r = web_authenticate(req)) != 0)
		return r > 0;
	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		http_error(req, 401, "unauthenticated",
			   "send an API token as \"Authorization: Bearer "
			   "TOKEN\" (create one with `runcell token create`)");
		return false;
	}
	h += 7;
	while (*h == ' ')
		h++;
	memset(&ti, 0, sizeof(ti));
	r = store_token_check(req->app->store, h, &ti, &err);
	if (r < 0) {
		http_error(req, 500, "internal", "checking the token: %s",
			   err.msg);
		return false;
	}
	if (r == 1) {
		http_error(req, 401, "unauthenticated",
			   "the token is unknown or revoked: ask an admin "
			   "for a new one");
		return false;
	}
	req->authed = true;
	req->user = xstrdup(ti.user);
	req->role = ti.role;
	store_token_clear(&ti);
	return true;
}

/* Match path against pattern, capturing {x} segments into req->params. */
static bool route_match(const char *pattern, const char *path,
			struct http_req *req)
{
	const char *p = pattern, *s = path;

	req->n_params = 0;
	while (*p && *s) {
		if (*p == '{') {
			const char *end = strchr(s, '/');
			size_t n = end ? (size_t)(end - s) : strlen(s);

			if (n == 0 || req->n_params >= 4)
				return false;
			req->params[req->n_params++] = xstrndup(s, n);
			p = strchr(p, '}');
			if (!p)
				return false;
			p++;
			s += n;
			continue;
		}
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	return *p == '\0' && *s == '\0';
}

static void clear_params(struct http_req *req)
{
	for (int i = 0; i < req->n_params; i++)
		free(req->params[i]);
	req->n_params = 0;
}

bool http_require_role(struct http_req *req, int min_role)
{
	if (!authenticate(req))
		return false;
	if ((int)req->role < min_role) {
		http_error(req, 403, "forbidden",
			   "this needs the %s role; your token's user %s is %s",
			   role_name((enum role)min_role), req->user,
			   role_name(req->role));
		return false;
	}
	return true;
}

static void dispatch(struct http_server *srv, struct http_req *req)
{
	const struct http_route *found = NULL;
	bool path_known = false;

	for (const struct http_route *r = srv->routes; r->method; r++) {
		bool m = route_match(r->pattern, req->path, req);

		if (m && strcmp(r->method, req->method) == 0) {
			found = r;
			break;
		}
		clear_params(req);
		path_known |= m;
	}
	if (!found) {
		if (path_known)
			http_error(req, 405, "method_not_allowed",
				   "%s is not allowed on %s", req->method,
				   req->path);
		else
			http_error(req, 404, "not_found",
				   "no such route: %s %s (see the API in the "
				   "README)",
				   req->method, req->path);
		return;
	}
	req->route = found->pattern;
	if (req->body_too_large) {
		http_error(req, 413, "too_large",
			   "the request body is larger than %zu bytes",
			   srv->max_body);
		return;
	}
	if (found->min_role >= 0) {
		if (!authenticate(req))
			return;
		if ((int)req->role < found->min_role) {
			http_error(req, 403, "forbidden",
				   "this needs the %s role; your token's user "
				   "%s is %s",
				   role_name((enum role)found->min_role),
				   req->user, role_name(req->role));
			return;
		}
	}
	found->handler(req);
	if (!req->responded)
		http_error(req, 500, "internal", "no response was produced");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;

	(void)version;
	if (!req) {
		const char *cl;
		int64_t len;

		req = xcalloc(1, sizeof(*req));
		req->conn = conn;
		req->app = srv->app;
		req->method = method;
		req->path = xstrdup(url ? url : "/");
		buf_init(&req->body, srv->max_body);
		srv->inflight++;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 "Content-Length");
		if (cl && (parse_int64(cl, 0, INT64_MAX, &len) < 0 ||
			   (size_t)len > srv->max_body))
			req->body_too_large = true;
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!req->body_too_large &&
		    buf_append(&req->body, upload, *upload_size) < 0) {
			req->body_too_large = true;
			buf_free(&req->body);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (req->responded)
		return MHD_YES;
	dispatch(srv, req);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;

	(void)conn;
	(void)toe;
	if (!req)
		return;
	if (req->app)
		metrics_http_request(req->app->metrics, req->route,
				     req->status);
	srv->inflight--;
	clear_params(req);
	buf_free(&req->body);
	free(req->path);
	free(req->user);
	free(req);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_msg(LOG_DEBUG, NULL, "http: %s", msg);
}

static int listen_on(const char *host, int port, int *bound, struct rc_err *err)
{
	struct addrinfo hints, *ai = NULL;
	char portstr[16];
	int fd = -1, one = 1, r;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	r = getaddrinfo(host, portstr, &hints, &ai);
	if (r != 0)
		return rc_err_set(err, EINVAL,
				  "cannot resolve listen address "
				  "%s: %s",
				  host, gai_strerror(r));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc_err_set(err, errno, "socket: %s", strerror(errno));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		rc_err_set(err, errno,
			   "cannot listen on %s:%d: %s (is another "
			   "server using the port? change "
			   "server.listen)",
			   host, port, strerror(errno));
		close(fd);
		fd = -1;
		goto out;
	}
	if (listen(fd, 512) < 0) {
		rc_err_set(err, errno, "listen: %s", strerror(errno));
		close(fd);
		fd = -1;
		goto out;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		rc_err_set(err, errno, "getsockname: %s", strerror(errno));
		close(fd);
		fd = -1;
		goto out;
	}
	*bound = ntohs(ss.ss_family == AF_INET6 ?
			       ((struct sockaddr_in6 *)&ss)->sin6_port :
			       ((struct sockaddr_in *)&ss)->sin_port);
out:
	freeaddrinfo(ai);
	return fd;
}

int http_start(struct app *app, const char *host, int port, size_t max_body,
	       const struct http_route *routes, struct http_server **out,
	       struct rc_err *err)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));

	srv->app = app;
	srv->routes = routes;
	srv->max_body = max_body;
	srv->fd = listen_on(host, port, &srv->port, err);
	if (srv->fd < 0) {
		free(srv);
		return -1;
	}
	srv->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD |
			MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC |
			MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET,
		srv->fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)4000,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
	if (!srv->d) {
		close(srv->fd);
		free(srv);
		return rc_err_set(err, EIO, "cannot start the HTTP server");
	}
	*out = srv;
	return 0;
}

int http_port(const struct http_server *srv)
{
	return srv->port;
}

void http_quiesce(struct http_server *srv)
{
	if (!srv || srv->fd < 0)
		return;
	MHD_quiesce_daemon(srv->d);
	close(srv->fd);
	srv->fd = -1;
}

int http_inflight(const struct http_server *srv)
{
	return srv ? srv->inflight : 0;
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	http_quiesce(srv);
	MHD_stop_daemon(srv->d);
	free(srv);
}
