/*
 * webhook.c - the POST /api/v1/hooks/{automation} handler (see webhook.h).
 *
 * The order of checks is chosen so that nothing about a run is revealed
 * or done before the signature is verified: first whether the automation
 * takes webhooks at all (404), then whether its secret is configured
 * (503), then the signature over the exact bytes received (401, compared
 * in constant time), and only then the body and the run.
 */
#include "webhook.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "app.h"
#include "log.h"

#define SIG_HEADER "X-Runcell-Signature"
#define SIG_PREFIX "sha256="
#define WEBHOOK_USER "webhook"
#define WEBHOOK_ROLE "admin"

/* Whether header is "sha256=<hex>" and matches the HMAC of the body. */
static bool signature_ok(const char *header, const char *secret,
			 const struct buf *body)
{
	unsigned char want[crypto_auth_hmacsha256_BYTES];
	unsigned char got[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	const char *hex;
	size_t len = 0;
	bool ok;

	if (!str_has_prefix(header, SIG_PREFIX))
		return false;
	hex = header + strlen(SIG_PREFIX);
	if (strlen(hex) != 2 * sizeof(got) ||
	    sodium_hex2bin(got, sizeof(got), hex, strlen(hex), NULL, &len,
			   NULL) != 0 ||
	    len != sizeof(got))
		return false;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret,
				    strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body->data,
				      body->len);
	crypto_auth_hmacsha256_final(&st, want);
	ok = sodium_memcmp(want, got, sizeof(want)) == 0;
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(want, sizeof(want));
	return ok;
}

/* The body's parameters: NULL for an empty body or none given.  On a bad
 * body an error is queued and -1 returned. */
static int body_params(struct http_req *req, json_t **body, json_t **params)
{
	const char *key;
	json_t *v;

	*body = NULL;
	*params = NULL;
	if (req->body.len == 0)
		return 0;
	*body = http_body_json(req);
	if (!*body)
		return -1;
	json_object_foreach(*body, key, v) {
		if (strcmp(key, "parameters") != 0) {
			http_error(req, 422, "invalid",
				   "unknown field \"%s\": a webhook body is "
				   "{\"parameters\": {...}} or empty",
				   key);
			return -1;
		}
		if (!json_is_null(v))
			*params = v;
	}
	return 0;
}

void webhook_handle(struct http_req *req)
{
	const struct config *cfg = runs_config(req->app->runs);
	const struct automation *a = config_automation(cfg, req->params[0]);
	const char *secret, *sig;
	json_t *body = NULL, *params, *detail;
	struct rc_err err;
	struct run r;
	char *text;

	memset(&r, 0, sizeof(r));
	free(req->user);
	req->user = xstrdup(WEBHOOK_USER);
	if (!a || !a->webhook_secret_env) {
		http_error(req, 404, "not_found",
			   "no webhook for automation "
			   "\"%.64s\": an automation takes webhooks when it "
			   "declares webhook: {secret_env: NAME}",
			   req->params[0]);
		return;
	}
	secret = getenv(a->webhook_secret_env);
	if (!secret || !*secret) {
		log_error("webhook of %s: %s is not set in the service's "
			  "environment",
			  a->id, a->webhook_secret_env);
		http_error(req, 503, "unavailable",
			   "the webhook of \"%s\" is "
			   "not configured on the server: its secret "
			   "variable is not set; ask the operator",
			   a->id);
		return;
	}
	if (sodium_init() < 0) {
		http_error(req, 500, "internal",
			   "libsodium failed to "
			   "initialize");
		return;
	}
	sig = http_header(req, SIG_HEADER);
	if (!sig || !signature_ok(sig, secret, &req->body)) {
		log_warn("webhook of %s: refused a request with %s signature",
			 a->id, sig ? "a wrong" : "no");
		http_error(req, 401, "unauthenticated",
			   "%s; send " SIG_HEADER ": " SIG_PREFIX
			   "<hex HMAC-SHA256 of "
			   "the exact body, keyed with the shared secret>",
			   sig ? "the signature does not match the body" :
				 "the request is not signed");
		return;
	}
	if (body_params(req, &body, &params) < 0)
		goto out;
	rc_err_clear(&err);
	if (runs_submit(req->app->runs, a->id, params, WEBHOOK_USER,
			WEBHOOK_ROLE, &r, &err) < 0) {
		http_error_from(req, &err);
		goto out;
	}
	detail = json_pack("{s:s, s:s, s:O?}", "automation", a->id, "trigger",
			   "webhook", "parameters", params);
	text = json_dumps(detail, JSON_COMPACT);
	if (store_audit_add(req->app->store, WEBHOOK_USER, "run.start", r.id,
			    text, &err) < 0)
		log_error("audit of webhook run %s: %s", r.id, err.msg);
	free(text);
	json_decref(detail);
	log_msg(LOG_INFO, r.id, "run of %s started by its webhook", a->id);
	http_json(req, 202, api_run_json(&r));
	store_run_clear(&r);
out:
	json_decref(body);
}
