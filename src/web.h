/*
 * web.h - what a browser talks to: the UI's files (compiled into the
 * binary from src/ui/), password sign-in with a server-side session and
 * an HttpOnly SameSite=Strict cookie, CSRF protection of cookie requests,
 * and the Server-Sent Event streams of run output and state (sse.c).
 *
 * Sessions live in memory (a restart signs everyone out; replicas behind
 * a load balancer need sticky sessions).  See docs/ui.md.
 */
#ifndef RUNCELL_WEB_H
#define RUNCELL_WEB_H

#include <stddef.h>

#include "http.h"

#define WEB_SESSION_COOKIE "rc_session"
#define WEB_CSRF_HEADER "X-CSRF-Token"
#define WEB_SESSION_IDLE_MS (8LL * 3600 * 1000)
#define WEB_SESSION_MAX_MS (24LL * 3600 * 1000)
#define WEB_PASSWORD_MIN 8

/* One file of the UI, generated into build/gen/ui_files.c by
 * scripts/embed-ui.sh; the table ends with a NULL name. */
struct web_file {
	const char *name;
	const unsigned char *data;
	size_t len;
};
extern const struct web_file web_files[];

struct web;

/* Create the session table.  app is borrowed. */
int web_open(struct app *app, struct web **out, struct rc_err *err);
void web_close(struct web *w);

/*
 * Authenticate req by its session cookie (http.c calls this when there is
 * no Bearer token).  Returns 1 and fills req->user/role when the session
 * is valid and, for a state-changing method, the X-CSRF-Token header
 * matches the session's token; 0 when there is no session cookie (the
 * caller answers 401); -1 after queuing a 401 (expired) or 403 (CSRF).
 */
int web_authenticate(struct http_req *req);

/* Hash a password with argon2id (libsodium crypto_pwhash_str); *out is
 * the caller's.  Fails when the password is shorter than
 * WEB_PASSWORD_MIN (EINVAL) or the hashing fails (ENOMEM). */
int web_password_hash(const char *password, char **out, struct rc_err *err);

/* `runcell user ...`: add, passwd, list (main.c's command table). */
int web_user_cmd(int argc, char **argv);

/* Route handlers (web.c). */
void web_h_index(struct http_req *req);
void web_h_file(struct http_req *req);
void web_h_login(struct http_req *req);
void web_h_session(struct http_req *req);
void web_h_logout(struct http_req *req);
void web_h_user_password(struct http_req *req);
void web_h_user_disable(struct http_req *req);

/* Route handlers (sse.c): GET /api/v1/runs/{id}/events and
 * GET /api/v1/runs/events. */
void sse_h_run_events(struct http_req *req);
void sse_h_all_events(struct http_req *req);

#endif
