/*
 * webhook.h - starting runs from webhooks: POST /api/v1/hooks/{automation}
 * for automations that declare `webhook: {secret_env: NAME}`.
 *
 * The request needs no API token; it is authorized by its signature:
 * "X-Runcell-Signature: sha256=<hex HMAC-SHA256 of the raw body>", keyed
 * with the value of the environment variable NAME in the service's
 * environment.  The body is empty or {"parameters": {...}}, validated like
 * any run.  Answers: 202 with the run; 401 for a missing or wrong
 * signature; 404 for an automation without a webhook; 503 when NAME is
 * not set (or empty) in the service's environment; 400/422 for a bad body.
 * The run's user is "webhook".
 */
#ifndef RUNCELL_WEBHOOK_H
#define RUNCELL_WEBHOOK_H

#include "http.h"

/* The route handler (route table: min_role -1, no token). */
void webhook_handle(struct http_req *req);

#endif
