/*
 * web.c - the browser side of runcelld: serving the UI files compiled into
 * the binary, signing in with a password, sessions and CSRF, and the
 * `runcell user` command that sets passwords.
 *
 * Passwords are stored only as argon2id strings (libsodium
 * crypto_pwhash_str_alg, "interactive" limits: 64 MiB, ~0.1 s).  At most
 * HASH_SLOTS hashes run at once, so a burst of sign-ins cannot take the
 * machine's memory; a sign-in for an unknown user verifies against a dummy
 * hash so that it takes as long as a real one.
 *
 * Sessions live in this process's memory: a random 256-bit id in an
 * HttpOnly, SameSite=Strict cookie, and a second random token that the
 * page sends back as X-CSRF-Token on every state-changing request (the
 * cookie alone is never enough to change anything).  The user's role and
 * disabled flag are read from the store on every request, so changes take
 * effect at once.
 */
#include "web.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "app.h"
#include "log.h"

#define HASH_SLOTS 2
#define SESSIONS_MAX 10000
#define ID_BYTES 32

struct session {
	char id[2 * ID_BYTES + 1];
	char csrf[2 * ID_BYTES + 1];
	char *user;
	int64_t created;
	int64_t last_seen;
	struct session *next;
};

struct web {
	struct app *app;
	pthread_mutex_t mu;
	struct session *sessions;
	size_t n_sessions;
	sem_t hash_slots;
	char *dummy_hash;
};

static const char ui_csp[] =
	"default-src 'self'; script-src 'self'; style-src 'self'; "
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
	"base-uri 'none'; form-action 'self'";

/* --- passwords --- */

static int hash_locked(struct web *w, const char *pw,
		       char out[crypto_pwhash_STRBYTES])
{
	int r;

	if (w)
		sem_wait(&w->hash_slots);
	r = crypto_pwhash_str_alg(out, pw, strlen(pw),
				  crypto_pwhash_OPSLIMIT_INTERACTIVE,
				  crypto_pwhash_MEMLIMIT_INTERACTIVE,
				  crypto_pwhash_ALG_ARGON2ID13);
	if (w)
		sem_post(&w->hash_slots);
	return r;
}

int web_password_hash(const char *password, char **out, struct rc_err *err)
{
	char h[crypto_pwhash_STRBYTES];

	if (sodium_init() < 0)
		return rc_err_set(err, EIO, "libsodium cannot start");
	if (strlen(password) < WEB_PASSWORD_MIN)
		return rc_err_field(err, "password",
				    "a password needs at "
				    "least %d characters",
				    WEB_PASSWORD_MIN);
	if (strlen(password) > 1024)
		return rc_err_field(err, "password",
				    "a password may have at "
				    "most 1024 characters");
	if (hash_locked(NULL, password, h) != 0)
		return rc_err_set(err, ENOMEM,
				  "hashing the password failed "
				  "(out of memory?)");
	*out = xstrdup(h);
	return 0;
}

/* Whether pw matches hash (NULL hash: check the dummy and say no). */
static bool password_ok(struct web *w, const char *hash, const char *pw)
{
	bool ok;

	sem_wait(&w->hash_slots);
	ok = crypto_pwhash_str_verify(hash ? hash : w->dummy_hash, pw,
				      strlen(pw)) == 0;
	sem_post(&w->hash_slots);
	return ok && hash;
}

/* --- sessions --- */

int web_open(struct app *app, struct web **out, struct rc_err *err)
{
	struct web *w;
	char h[crypto_pwhash_STRBYTES], pw[33];

	if (sodium_init() < 0)
		return rc_err_set(err, EIO, "libsodium cannot start");
	w = xcalloc(1, sizeof(*w));
	w->app = app;
	pthread_mutex_init(&w->mu, NULL);
	sem_init(&w->hash_slots, 0, HASH_SLOTS);
	random_hex(pw, 16);
	if (hash_locked(NULL, pw, h) != 0) {
		web_close(w);
		return rc_err_set(err, ENOMEM,
				  "preparing password checks "
				  "failed (out of memory?)");
	}
	w->dummy_hash = xstrdup(h);
	*out = w;
	return 0;
}

static void session_free(struct session *s)
{
	if (!s)
		return;
	free(s->user);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

void web_close(struct web *w)
{
	if (!w)
		return;
	while (w->sessions) {
		struct session *s = w->sessions;

		w->sessions = s->next;
		session_free(s);
	}
	sem_destroy(&w->hash_slots);
	pthread_mutex_destroy(&w->mu);
	free(w->dummy_hash);
	free(w);
}

static bool session_expired(const struct session *s, int64_t now)
{
	return now - s->last_seen > WEB_SESSION_IDLE_MS ||
	       now - s->created > WEB_SESSION_MAX_MS;
}

/* Drop expired sessions, and the oldest when there are too many (mu
 * held). */
static void sessions_prune(struct web *w, int64_t now)
{
	struct session **oldest = NULL;

	for (struct session **p = &w->sessions; *p;) {
		if (session_expired(*p, now)) {
			struct session *s = *p;

			*p = s->next;
			session_free(s);
			w->n_sessions--;
			continue;
		}
		if (!oldest || (*p)->last_seen < (*oldest)->last_seen)
			oldest = p;
		p = &(*p)->next;
	}
	if (w->n_sessions >= SESSIONS_MAX && oldest) {
		struct session *s = *oldest;

		*oldest = s->next;
		session_free(s);
		w->n_sessions--;
	}
}

/* The live session with this id (mu held), or NULL. */
static struct session *session_find(struct web *w, const char *id, int64_t now)
{
	if (!id || strlen(id) != 2 * ID_BYTES)
		return NULL;
	for (struct session *s = w->sessions; s; s = s->next)
		if (sodium_memcmp(s->id, id, 2 * ID_BYTES) == 0)
			return session_expired(s, now) ? NULL : s;
	return NULL;
}

static const char *session_cookie(struct http_req *req)
{
	return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND,
					   WEB_SESSION_COOKIE);
}

static bool method_changes_state(const char *m)
{
	return strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "OPTIONS");
}

int web_authenticate(struct http_req *req)
{
	struct web *w = req->app->web;
	const char *id = session_cookie(req), *csrf;
	struct session *s;
	struct user u;
	struct rc_err err;
	char *user = NULL;
	bool csrf_ok = false;
	int64_t now = time_now_ms();
	int g;

	if (!id || !w)
		return 0;
	csrf = http_header(req, WEB_CSRF_HEADER);
	pthread_mutex_lock(&w->mu);
	s = session_find(w, id, now);
	if (s) {
		s->last_seen = now;
		user = xstrdup(s->user);
		csrf_ok = csrf && strlen(csrf) == 2 * ID_BYTES &&
			  sodium_memcmp(csrf, s->csrf, 2 * ID_BYTES) == 0;
	}
	pthread_mutex_unlock(&w->mu);
	if (!user) {
		http_error(req, 401, "unauthenticated",
			   "your session has ended: sign in again");
		return -1;
	}
	g = store_user_get(req->app->store, user, &u, &err);
	if (g != 0 || u.disabled) {
		if (g == 0)
			store_user_clear(&u);
		free(user);
		http_error(req, 401, "unauthenticated",
			   "your account is disabled or gone: ask an admin");
		return -1;
	}
	if (method_changes_state(req->method) && !csrf_ok) {
		store_user_clear(&u);
		free(user);
		http_error(req, 403, "csrf",
			   "this request needs the X-CSRF-Token header of "
			   "your session (reload the page)");
		return -1;
	}
	req->authed = true;
	req->user = user;
	req->role = u.role;
	store_user_clear(&u);
	return 1;
}

/* Set-Cookie value for a new session id, or to clear it (id NULL). */
static char *cookie_value(struct http_req *req, const char *id)
{
	const char *proto = http_header(req, "X-Forwarded-Proto");
	const char *secure = proto && !strcmp(proto, "https") ? "; Secure" : "";

	if (!id)
		return xasprintf("%s=; Path=/; HttpOnly; SameSite=Strict; "
				 "Max-Age=0%s",
				 WEB_SESSION_COOKIE, secure);
	return xasprintf("%s=%s; Path=/; HttpOnly; SameSite=Strict; "
			 "Max-Age=%lld%s",
			 WEB_SESSION_COOKIE, id,
			 (long long)(WEB_SESSION_MAX_MS / 1000), secure);
}

static void json_with_headers(struct http_req *req, int status, json_t *body,
			      const char *const *headers)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);

	json_decref(body);
	http_bytes(req, status, "application/json", text, strlen(text),
		   headers);
	free(text);
}

void web_h_login(struct http_req *req)
{
	struct web *w = req->app->web;
	json_t *body = http_body_json(req);
	const char *name, *pw;
	struct session *s;
	struct user u;
	struct rc_err err;
	char *hash = NULL, *cookie;
	bool ok;
	int g;

	if (!body)
		return;
	name = json_string_value(json_object_get(body, "username"));
	pw = json_string_value(json_object_get(body, "password"));
	if (!name || !*name || !pw || !*pw) {
		http_error(req, 422, "invalid",
			   "give \"username\" and \"password\"");
		goto out;
	}
	g = strlen(name) > 64 ?
		    1 :
		    store_user_get_password(req->app->store, name, &hash, &err);
	if (g < 0) {
		http_error(req, 500, "internal", "%s", err.msg);
		goto out;
	}
	ok = password_ok(w, g == 0 ? hash : NULL, pw);
	memset(&u, 0, sizeof(u));
	if (ok && store_user_get(req->app->store, name, &u, &err) != 0)
		ok = false;
	if (!ok || u.disabled) {
		store_user_clear(&u);
		log_msg(LOG_INFO, NULL, "sign-in refused for \"%.64s\"", name);
		http_error(req, 401, "unauthenticated",
			   "wrong username or password");
		goto out;
	}
	s = xcalloc(1, sizeof(*s));
	random_hex(s->id, ID_BYTES);
	random_hex(s->csrf, ID_BYTES);
	s->user = xstrdup(u.name);
	s->created = s->last_seen = time_now_ms();
	pthread_mutex_lock(&w->mu);
	sessions_prune(w, s->created);
	s->next = w->sessions;
	w->sessions = s;
	w->n_sessions++;
	cookie = cookie_value(req, s->id);
	{
		const char *headers[] = { "Set-Cookie", cookie, NULL };
		json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "user", s->user,
				      "role", role_name(u.role), "csrf_token",
				      s->csrf, "auth", "session");

		pthread_mutex_unlock(&w->mu);
		json_with_headers(req, 200, o, headers);
	}
	req->user = xstrdup(u.name);
	{
		struct rc_err aerr;

		store_audit_add(req->app->store, u.name, "session.create",
				u.name, NULL, &aerr);
	}
	free(cookie);
	store_user_clear(&u);
out:
	free(hash);
	json_decref(body);
}

void web_h_session(struct http_req *req)
{
	struct web *w = req->app->web;
	const char *id = session_cookie(req);
	json_t *o = json_pack("{s:s, s:s}", "user", req->user, "role",
			      role_name(req->role));
	struct session *s;
	bool via_token = http_header(req, "Authorization") != NULL;

	pthread_mutex_lock(&w->mu);
	s = via_token ? NULL : session_find(w, id, time_now_ms());
	if (s) {
		json_object_set_new(o, "csrf_token", json_string(s->csrf));
		json_object_set_new(o, "auth", json_string("session"));
	} else {
		json_object_set_new(o, "auth", json_string("token"));
	}
	pthread_mutex_unlock(&w->mu);
	http_json(req, 200, o);
}

void web_h_logout(struct http_req *req)
{
	struct web *w = req->app->web;
	const char *id = session_cookie(req);
	char *cookie = cookie_value(req, NULL);
	const char *headers[] = { "Set-Cookie", cookie, NULL };

	pthread_mutex_lock(&w->mu);
	for (struct session **p = &w->sessions; id && *p; p = &(*p)->next) {
		if (strlen(id) == 2 * ID_BYTES &&
		    sodium_memcmp((*p)->id, id, 2 * ID_BYTES) == 0) {
			struct session *s = *p;

			*p = s->next;
			session_free(s);
			w->n_sessions--;
			break;
		}
	}
	pthread_mutex_unlock(&w->mu);
	json_with_headers(req, 200, json_pack("{s:b}", "signed_out", 1),
			  headers);
	free(cookie);
}

/* Forget every session of user (after a password change or disable). */
static void sessions_drop_user(struct web *w, const char *user,
			       const char *keep_id)
{
	pthread_mutex_lock(&w->mu);
	for (struct session **p = &w->sessions; *p;) {
		struct session *s = *p;

		if (!strcmp(s->user, user) &&
		    !(keep_id && strlen(keep_id) == 2 * ID_BYTES &&
		      !sodium_memcmp(s->id, keep_id, 2 * ID_BYTES))) {
			*p = s->next;
			session_free(s);
			w->n_sessions--;
			continue;
		}
		p = &s->next;
	}
	pthread_mutex_unlock(&w->mu);
}

/* POST /api/v1/users/{name}/password {"password", "current_password"}:
 * an admin sets anyone's; a user sets their own with the current one. */
void web_h_user_password(struct http_req *req)
{
	json_t *body = http_body_json(req);
	const char *name = req->params[0], *pw, *cur;
	struct rc_err err;
	char *hash = NULL, *old = NULL;
	bool self = req->user && !strcmp(req->user, name);
	int r;

	if (!body)
		return;
	rc_err_clear(&err);
	pw = json_string_value(json_object_get(body, "password"));
	cur = json_string_value(json_object_get(body, "current_password"));
	if (req->role != ROLE_ADMIN && !self) {
		http_error(req, 403, "forbidden",
			   "only an admin may set another user's password");
		goto out;
	}
	if (req->role != ROLE_ADMIN) {
		r = store_user_get_password(req->app->store, name, &old, &err);
		if (r != 0 || !cur || !password_ok(req->app->web, old, cur)) {
			http_error(req, 403, "forbidden",
				   "give your current password as "
				   "\"current_password\"");
			goto out;
		}
	}
	if (!pw) {
		http_error(req, 422, "invalid", "give the new \"password\"");
		goto out;
	}
	if (web_password_hash(pw, &hash, &err) < 0) {
		if (!err.errnum)
			err.errnum = EINVAL;
		http_error_from(req, &err);
		goto out;
	}
	r = store_user_set_password(req->app->store, name, hash, &err);
	if (r < 0) {
		http_error(req, 500, "internal", "%s", err.msg);
		goto out;
	}
	if (r == 1) {
		http_error(req, 404, "not_found", "no user \"%s\"", name);
		goto out;
	}
	sessions_drop_user(req->app->web, name,
			   self ? session_cookie(req) : NULL);
	store_audit_add(req->app->store, req->user, "user.password", name, NULL,
			&err);
	http_json(req, 200,
		  json_pack("{s:s, s:b}", "name", name, "password_set", 1));
out:
	free(hash);
	free(old);
	json_decref(body);
}

/* POST /api/v1/users/{name}/disabled {"disabled": bool} (admin). */
void web_h_user_disable(struct http_req *req)
{
	json_t *body = http_body_json(req), *d;
	const char *name = req->params[0];
	struct rc_err err;
	int r;

	if (!body)
		return;
	d = json_object_get(body, "disabled");
	if (!json_is_boolean(d)) {
		http_error(req, 422, "invalid",
			   "give \"disabled\": true or false");
		goto out;
	}
	r = store_user_set_disabled(req->app->store, name, json_is_true(d),
				    &err);
	if (r < 0) {
		http_error(req, 500, "internal", "%s", err.msg);
		goto out;
	}
	if (r == 1) {
		http_error(req, 404, "not_found", "no user \"%s\"", name);
		goto out;
	}
	if (json_is_true(d))
		sessions_drop_user(req->app->web, name, NULL);
	store_audit_add(req->app->store, req->user,
			json_is_true(d) ? "user.disable" : "user.enable", name,
			NULL, &err);
	http_json(req, 200,
		  json_pack("{s:s, s:b}", "name", name, "disabled",
			    json_is_true(d)));
out:
	json_decref(body);
}

/* --- the UI's files --- */

static const char *content_type(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (!dot)
		return "application/octet-stream";
	if (!strcmp(dot, ".html"))
		return "text/html; charset=utf-8";
	if (!strcmp(dot, ".js"))
		return "text/javascript; charset=utf-8";
	if (!strcmp(dot, ".css"))
		return "text/css; charset=utf-8";
	if (!strcmp(dot, ".svg"))
		return "image/svg+xml";
	if (!strcmp(dot, ".png"))
		return "image/png";
	return "application/octet-stream";
}

static void serve_file(struct http_req *req, const char *name)
{
	static const char *const headers[] = {
		"Content-Security-Policy",
		ui_csp,
		"X-Frame-Options",
		"DENY",
		"Referrer-Policy",
		"no-referrer",
		NULL,
	};

	for (const struct web_file *f = web_files; f->name; f++) {
		if (!strcmp(f->name, name)) {
			http_bytes(req, 200, content_type(name), f->data,
				   f->len, headers);
			return;
		}
	}
	http_error(req, 404, "not_found", "no UI file \"%.100s\"", name);
}

void web_h_index(struct http_req *req)
{
	serve_file(req, "index.html");
}

void web_h_file(struct http_req *req)
{
	serve_file(req, req->params[0]);
}

/* --- `runcell user` --- */

static const char user_usage[] =
	"usage: runcell user add    [--config FILE] --name NAME [--role ROLE]\n"
	"       runcell user passwd [--config FILE] --name NAME\n"
	"  Create a user for the web UI (role viewer, operator or admin;\n"
	"  default viewer) or change a user's password.  The password is\n"
	"  read from standard input: asked for twice on a terminal, else the\n"
	"  first line.  At least 8 characters; stored only as an argon2id\n"
	"  hash.  Works while the server runs; a new password ends the\n"
	"  user's open sessions at the next server start.\n";

/* Read a password: prompt twice without echo on a terminal, else one line
 * of stdin.  Caller frees (and should zero). */
static char *read_password(void)
{
	char a[1100], b[1100];
	struct termios old, noecho;
	bool tty = isatty(0);

	if (tty) {
		tcgetattr(0, &old);
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		fprintf(stderr, "password: ");
		tcsetattr(0, TCSAFLUSH, &noecho);
	}
	if (!fgets(a, sizeof(a), stdin))
		a[0] = '\0';
	if (tty) {
		fprintf(stderr, "\nagain: ");
		if (!fgets(b, sizeof(b), stdin))
			b[0] = '\0';
		tcsetattr(0, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
		a[strcspn(a, "\r\n")] = '\0';
		b[strcspn(b, "\r\n")] = '\0';
		if (strcmp(a, b)) {
			fprintf(stderr, "runcell: the passwords differ\n");
			sodium_memzero(a, sizeof(a));
			sodium_memzero(b, sizeof(b));
			return NULL;
		}
		sodium_memzero(b, sizeof(b));
	}
	a[strcspn(a, "\r\n")] = '\0';
	{
		char *p = xstrdup(a);

		sodium_memzero(a, sizeof(a));
		return p;
	}
}

int web_user_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'n' },
		{ "role", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = getenv("RUNCELL_CONFIG"), *name = NULL,
		   *role = NULL, *sub;
	struct config *cfg = NULL;
	struct store *st = NULL;
	struct rc_err err;
	char *pw = NULL, *hash = NULL;
	int ch, r, rc = 1;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fprintf(argc < 2 ? stderr : stdout, "%s", user_usage);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "c:n:r:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'r':
			role = optarg;
			break;
		case 'h':
			printf("%s", user_usage);
			return 0;
		default:
			fprintf(stderr, "%s", user_usage);
			return 2;
		}
	}
	if ((strcmp(sub, "add") && strcmp(sub, "passwd")) || !name) {
		fprintf(stderr, "%s", user_usage);
		return 2;
	}
	r = role ? role_parse(role) : ROLE_VIEWER;
	if (r < 0) {
		fprintf(stderr, "runcell: --role must be viewer, operator or "
				"admin\n");
		return 2;
	}
	rc_err_clear(&err);
	if (config_load(cfg_path ? cfg_path : "runcell.yaml", &cfg, &err) < 0 ||
	    mkdir_p(cfg->server.data_dir, 0700, &err) < 0 ||
	    store_open(cfg->server.store_url, &st, &err) < 0)
		goto fail;
	if (!strcmp(sub, "passwd")) {
		struct user u;

		r = store_user_get(st, name, &u, &err);
		if (r < 0)
			goto fail;
		if (r == 1) {
			fprintf(stderr,
				"runcell: no user \"%s\" (create it "
				"with `runcell user add`)\n",
				name);
			goto out;
		}
		store_user_clear(&u);
	}
	pw = read_password();
	if (!pw)
		goto out;
	if (web_password_hash(pw, &hash, &err) < 0)
		goto fail;
	if (!strcmp(sub, "add") &&
	    store_user_put(st, name, (enum role)r, &err) < 0)
		goto fail;
	if (store_user_set_password(st, name, hash, &err) != 0)
		goto fail;
	store_audit_add(st, "cli",
			!strcmp(sub, "add") ? "user.add" : "user.password",
			name, NULL, &err);
	printf("%s %s\n",
	       !strcmp(sub, "add") ? "added user" : "set the password of",
	       name);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "runcell: %s\n", err.msg);
out:
	if (pw)
		sodium_memzero(pw, strlen(pw));
	free(pw);
	free(hash);
	store_close(st);
	config_free(cfg);
	return rc;
}
