/*
 * aws.h - a small client for AWS JSON 1.1 services (ECS and CloudWatch
 * Logs), used by the ecs executor: AWS credentials from the usual places,
 * requests signed with SigV4 by libcurl, timeouts, and bounded retries with
 * exponential backoff and jitter for throttling and transient failures.
 *
 * Credentials are looked up once, when the client is made, in this order:
 *  1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *     optionally AWS_SESSION_TOKEN;
 *  2. the ECS container-credentials endpoint:
 *     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on http://169.254.170.2) or
 *     AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback or
 *     the ECS/EKS link-local address), with AWS_CONTAINER_AUTHORIZATION_TOKEN
 *     or AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE as the Authorization header;
 *     these expire and are fetched again five minutes before they do;
 *  3. the shared credentials file: AWS_SHARED_CREDENTIALS_FILE or
 *     ~/.aws/credentials, profile AWS_PROFILE or "default".
 * Secrets never appear in error messages or logs.
 *
 * All functions are safe to call from several threads at once.
 */
#ifndef RUNCELL_EXEC_AWS_H
#define RUNCELL_EXEC_AWS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../util.h"

enum aws_service {
	AWS_ECS,  /* AmazonEC2ContainerServiceV20141113, signed as "ecs" */
	AWS_LOGS, /* Logs_20140328, signed as "logs" */
};

struct aws_client_opts {
	const char *region;	   /* required, e.g. "eu-west-1" */
	const char *ecs_endpoint;  /* NULL: https://ecs.REGION.amazonaws.com */
	const char *logs_endpoint; /* NULL: https://logs.REGION.amazonaws.com */
	int64_t connect_timeout_ms; /* 0: 5 s */
	int64_t request_timeout_ms; /* whole request; 0: 30 s */
	int max_attempts;	    /* tries per call; 0: 5 */
	int64_t retry_base_ms;	    /* first backoff; 0: 100 ms */
	int64_t retry_max_ms;	    /* backoff cap; 0: 5 s */
};

/* How a failed call failed, so that callers can tell an engine that is down
 * (keep state, try later) from a refusal (report it). */
enum aws_failure {
	AWS_OK,
	AWS_FAIL_NETWORK,     /* no answer after all attempts (or no retry) */
	AWS_FAIL_THROTTLED,   /* still throttled after all attempts */
	AWS_FAIL_SERVER,      /* 5xx after all attempts */
	AWS_FAIL_CLIENT,      /* the service refused the request (4xx) */
	AWS_FAIL_CREDENTIALS, /* no usable credentials */
	AWS_FAIL_ANSWER,      /* 2xx but not a JSON object */
};

/* What came back from a call, filled even on failure. */
struct aws_status {
	enum aws_failure failure;
	long http_status; /* 0 if no answer */
	char code[128];	  /* error code ("ThrottlingException"), or "" */
	int attempts;
};

struct aws_client;

/*
 * Make a client: checks the options and finds credentials (see the top of
 * this file).  Returns 0 and *out (free with aws_client_free), or -1 with a
 * message that says which variable or file to fix.
 */
int aws_client_new(const struct aws_client_opts *o, struct aws_client **out,
		   struct rc_err *err);
void aws_client_free(struct aws_client *c);

/* Where the credentials came from ("environment", "container endpoint",
 * "shared credentials file"), for log lines.  Borrowed. */
const char *aws_client_creds_source(const struct aws_client *c);

/* Make pending and future backoff sleeps end at once and stop retrying;
 * used when shutting down. */
void aws_client_abort(struct aws_client *c);

/*
 * Call action ("RunTask", "GetLogEvents") of svc with the JSON object body
 * (borrowed).  On success returns 0 and *answer is the decoded JSON object
 * (caller decrefs).  On failure returns -1, *answer is NULL, st says how it
 * failed, and err->msg reads like "ecs RunTask: HTTP 403
 * SignatureDoesNotMatch: ...".  Throttling, 429, 5xx and transient network
 * errors are retried up to max_attempts times with exponential backoff and
 * full jitter.  st may be NULL.
 */
int aws_call(struct aws_client *c, enum aws_service svc, const char *action,
	     json_t *body, json_t **answer, struct aws_status *st,
	     struct rc_err *err);

/* --- credentials (aws_creds.c) --- */

struct aws_creds {
	char *key;
	char *secret;
	char *token;	    /* session token or NULL */
	int64_t expires_ms; /* wall clock; 0 = does not expire */
};

enum aws_creds_kind {
	AWS_CREDS_ENV,
	AWS_CREDS_CONTAINER,
	AWS_CREDS_FILE,
};

/* Where credentials come from; found once, fetched again as needed. */
struct aws_creds_source {
	enum aws_creds_kind kind;
	char *url;	 /* container endpoint */
	char *auth;	 /* its Authorization value, or NULL */
	char *auth_file; /* file holding it, read at each fetch, or NULL */
};

/* Find the first source that applies and fetch credentials from it.
 * Returns 0 with *src and *cr filled (clear both), or -1. */
int aws_creds_find(struct aws_creds_source *src, struct aws_creds *cr,
		   struct rc_err *err);
/* Fetch again from a source found by aws_creds_find (for the container
 * endpoint: new temporary credentials).  *cr is replaced on success only. */
int aws_creds_fetch(const struct aws_creds_source *src, struct aws_creds *cr,
		    struct rc_err *err);
void aws_creds_clear(struct aws_creds *cr);
void aws_creds_source_clear(struct aws_creds_source *src);
const char *aws_creds_kind_name(enum aws_creds_kind k);

/* Parse the text of a shared credentials file; profile's keys fill *cr.
 * Returns 0, 1 if the profile is not in the text, or -1 if it is there but
 * incomplete.  name is the file's name, for messages. */
int aws_creds_parse_ini(const char *text, const char *profile, const char *name,
			struct aws_creds *cr, struct rc_err *err);

#endif
