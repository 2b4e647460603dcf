/*
 * aws.c - signed JSON 1.1 calls to ECS and CloudWatch Logs over libcurl.
 *
 * Every call is POST / with Content-Type application/x-amz-json-1.1 and
 * X-Amz-Target SERVICE_VERSION.Action, signed by libcurl (CURLOPT_AWS_SIGV4
 * "aws:amz:REGION:SERVICE", key and secret as user name and password, and
 * X-Amz-Security-Token when there is a session token).  No default header
 * is ever blanked: curl signs the headers it sends, and a blanked one breaks
 * the signature.  Connections and DNS answers are shared between calls
 * (a curl share handle), so the poller reuses its connection.
 *
 * Failures are classified (see aws.h) and the retryable ones -- throttling,
 * HTTP 429 and 5xx, transient network errors, expired temporary credentials
 * -- are retried with exponential backoff and full jitter, a bounded number
 * of times.  Error answers are JSON {"__type","message"} from AWS, or XML
 * <Error><Code>/<Message> (moto's signature errors); both are read.
 */
#include "aws.h"
#include "../log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define ANSWER_MAX (32 * 1024 * 1024)
#define REFRESH_BEFORE_MS (5 * 60 * 1000)

struct aws_client {
	char *region;
	char *ecs_url;
	char *logs_url;
	char *ecs_sigv4;
	char *logs_sigv4;
	long connect_timeout_ms;
	long request_timeout_ms;
	int max_attempts;
	int64_t retry_base_ms;
	int64_t retry_max_ms;

	pthread_mutex_t lock; /* creds and src */
	struct aws_creds creds;
	struct aws_creds_source src;

	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

	pthread_mutex_t sleep_lock;
	pthread_cond_t sleep_cond;
	atomic_bool aborted;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access acc,
		       void *ud)
{
	struct aws_client *c = ud;

	(void)h;
	(void)acc;
	pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	struct aws_client *c = ud;

	(void)h;
	pthread_mutex_unlock(&c->share_locks[data]);
}

static char *endpoint_url(const char *given, const char *svc,
			  const char *region)
{
	size_t n;

	if (!given)
		return xasprintf("https://%s.%s.amazonaws.com/", svc, region);
	n = strlen(given);
	if (n && given[n - 1] == '/')
		return xstrdup(given);
	return xasprintf("%s/", given);
}

static bool region_ok(const char *r)
{
	if (!r || !*r || strlen(r) > 64)
		return false;
	for (const char *p = r; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') &&
		    *p != '-')
			return false;
	return true;
}

int aws_client_new(const struct aws_client_opts *o, struct aws_client **out,
		   struct rc_err *err)
{
	struct aws_client *c;
	pthread_condattr_t ca;

	if (!region_ok(o->region))
		return rc_err_set(err, EINVAL,
				  "the AWS region \"%s\" is not valid (e.g. "
				  "\"eu-west-1\")",
				  o->region ? o->region : "");
	for (int i = 0; i < 2; i++) {
		const char *u = i ? o->logs_endpoint : o->ecs_endpoint;

		if (u && !str_has_prefix(u, "http://") &&
		    !str_has_prefix(u, "https://"))
			return rc_err_set(err, EINVAL,
					  "the endpoint \"%s\" must be an "
					  "http:// or https:// URL",
					  u);
	}
	pthread_once(&curl_once, curl_init_once);
	c = xcalloc(1, sizeof(*c));
	c->region = xstrdup(o->region);
	c->ecs_url = endpoint_url(o->ecs_endpoint, "ecs", o->region);
	c->logs_url = endpoint_url(o->logs_endpoint ? o->logs_endpoint :
						      o->ecs_endpoint,
				   "logs", o->region);
	c->ecs_sigv4 = xasprintf("aws:amz:%s:ecs", o->region);
	c->logs_sigv4 = xasprintf("aws:amz:%s:logs", o->region);
	c->connect_timeout_ms = (long)(o->connect_timeout_ms > 0 ?
					       o->connect_timeout_ms :
					       5000);
	c->request_timeout_ms = (long)(o->request_timeout_ms > 0 ?
					       o->request_timeout_ms :
					       30000);
	c->max_attempts = o->max_attempts > 0 ? o->max_attempts : 5;
	c->retry_base_ms = o->retry_base_ms > 0 ? o->retry_base_ms : 100;
	c->retry_max_ms = o->retry_max_ms > 0 ? o->retry_max_ms : 5000;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->sleep_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->sleep_cond, &ca);
	pthread_condattr_destroy(&ca);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	c->share = curl_share_init();
	if (c->share) {
		curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
		curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
		curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
		curl_share_setopt(c->share, CURLSHOPT_SHARE,
				  CURL_LOCK_DATA_DNS);
		curl_share_setopt(c->share, CURLSHOPT_SHARE,
				  CURL_LOCK_DATA_CONNECT);
	}
	if (aws_creds_find(&c->src, &c->creds, err) < 0) {
		aws_client_free(c);
		return rc_err_wrap(err, "AWS credentials");
	}
	*out = c;
	return 0;
}

void aws_client_free(struct aws_client *c)
{
	if (!c)
		return;
	if (c->share)
		curl_share_cleanup(c->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	aws_creds_clear(&c->creds);
	aws_creds_source_clear(&c->src);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->sleep_lock);
	pthread_cond_destroy(&c->sleep_cond);
	free(c->region);
	free(c->ecs_url);
	free(c->logs_url);
	free(c->ecs_sigv4);
	free(c->logs_sigv4);
	free(c);
}

const char *aws_client_creds_source(const struct aws_client *c)
{
	return aws_creds_kind_name(c->src.kind);
}

void aws_client_abort(struct aws_client *c)
{
	pthread_mutex_lock(&c->sleep_lock);
	atomic_store(&c->aborted, true);
	pthread_cond_broadcast(&c->sleep_cond);
	pthread_mutex_unlock(&c->sleep_lock);
}

/* Sleep ms unless aborted; returns false if aborted. */
static bool backoff_sleep(struct aws_client *c, int64_t ms)
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->sleep_lock);
	while (!atomic_load(&c->aborted) &&
	       pthread_cond_timedwait(&c->sleep_cond, &c->sleep_lock, &ts) !=
		       ETIMEDOUT)
		;
	ok = !atomic_load(&c->aborted);
	pthread_mutex_unlock(&c->sleep_lock);
	return ok;
}

/* Full jitter: a random delay in [0, min(cap, base * 2^attempt)]. */
static int64_t backoff_ms(const struct aws_client *c, int attempt)
{
	static _Thread_local unsigned seed;
	int64_t ceil = c->retry_base_ms;

	if (!seed)
		seed = (unsigned)time_mono_us() ^ (unsigned)(uintptr_t)&seed;
	for (int i = 0; i < attempt && ceil < c->retry_max_ms; i++)
		ceil *= 2;
	if (ceil > c->retry_max_ms)
		ceil = c->retry_max_ms;
	/* Never less than a fifth of the ceiling, so a retry is not instant. */
	return ceil / 5 +
	       (int64_t)(rand_r(&seed) % (unsigned)(ceil - ceil / 5 + 1));
}

/* Copy the current credentials, fetching new ones first when temporary
 * credentials expire within five minutes (or when forced).  A failed fetch
 * keeps the old ones while they are still valid. */
static int creds_get(struct aws_client *c, bool force, struct aws_creds *out,
		     struct rc_err *err)
{
	int64_t now = time_now_ms();
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	if (c->src.kind == AWS_CREDS_CONTAINER &&
	    (force || (c->creds.expires_ms &&
		       now > c->creds.expires_ms - REFRESH_BEFORE_MS))) {
		struct rc_err e2 = { 0 };

		if (aws_creds_fetch(&c->src, &c->creds, &e2) < 0) {
			if (!c->creds.expires_ms ||
			    now >= c->creds.expires_ms) {
				*err = e2;
				ret = rc_err_wrap(err, "refreshing AWS "
						       "credentials");
				goto out;
			}
			log_warn("aws: refreshing credentials failed (%s); "
				 "using the current ones until they expire",
				 e2.msg);
		}
	}
	out->key = xstrdup(c->creds.key);
	out->secret = xstrdup(c->creds.secret);
	out->token = xstrdup(c->creds.token);
	out->expires_ms = c->creds.expires_ms;
out:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;

	if (buf_append(b, p, size * n) < 0)
		return 0;
	return size * n;
}

/* Copy text between <tag> and </tag> in xml into out. */
static bool xml_field(const char *xml, const char *tag, char *out, size_t n)
{
	char open[32], close[32];
	const char *s, *e;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	s = strstr(xml, open);
	if (!s)
		return false;
	s += strlen(open);
	e = strstr(s, close);
	if (!e)
		return false;
	snprintf(out, n, "%.*s", (int)(e - s), s);
	return true;
}

/* Keep a message printable and short. */
static void clean_text(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max) {
		s[max] = '\0';
		n = max;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			s[i] = ' ';
}

/* Fill code and message from an error answer (JSON or XML). */
static void parse_error(const struct buf *b, char *code, size_t ncode,
			char *msg, size_t nmsg)
{
	json_t *j;
	const char *t = NULL, *m = NULL, *hash;

	code[0] = msg[0] = '\0';
	if (!b->data || !b->len)
		return;
	j = json_loadb(b->data, b->len, 0, NULL);
	if (j && json_is_object(j)) {
		t = json_string_value(json_object_get(j, "__type"));
		if (!t)
			t = json_string_value(json_object_get(j, "code"));
		m = json_string_value(json_object_get(j, "message"));
		if (!m)
			m = json_string_value(json_object_get(j, "Message"));
		if (t) {
			hash = strrchr(t, '#');
			snprintf(code, ncode, "%s", hash ? hash + 1 : t);
			/* "Name:http://internal..." form */
			if ((hash = strchr(code, ':')))
				*(char *)hash = '\0';
		}
		if (m)
			snprintf(msg, nmsg, "%s", m);
	} else if (memchr(b->data, '<', b->len)) {
		xml_field(b->data, "Code", code, ncode);
		xml_field(b->data, "Message", msg, nmsg);
	} else {
		snprintf(msg, nmsg, "%.*s", (int)(b->len < 200 ? b->len : 200),
			 b->data);
	}
	json_decref(j);
	clean_text(code, ncode - 1);
	clean_text(msg, 300);
}

static void err_append(struct rc_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Add text at the end of the message in *e (cut to fit). */
static void err_append(struct rc_err *e, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!e)
		return;
	n = strnlen(e->msg, sizeof(e->msg));
	if (n + 1 >= sizeof(e->msg))
		return;
	va_start(ap, fmt);
	vsnprintf(e->msg + n, sizeof(e->msg) - n, fmt, ap);
	va_end(ap);
}

static bool code_is(const char *code, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(code, list[i]))
			return true;
	return false;
}

static const char *const throttle_codes[] = {
	"ThrottlingException",
	"Throttling",
	"ThrottledException",
	"TooManyRequestsException",
	"RequestLimitExceeded",
	"RequestThrottled",
	"RequestThrottledException",
	"ProvisionedThroughputExceededException",
	"SlowDown",
	NULL,
};

static const char *const server_codes[] = {
	"ServerException",
	"ServiceUnavailable",
	"ServiceUnavailableException",
	"InternalFailure",
	"InternalError",
	"InternalServerError",
	NULL,
};

static const char *const expired_codes[] = {
	"ExpiredToken",
	"ExpiredTokenException",
	"RequestExpired",
	NULL,
};

static bool curl_transient(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

int aws_call(struct aws_client *c, enum aws_service svc, const char *action,
	     json_t *body, json_t **answer, struct aws_status *st,
	     struct rc_err *err)
{
	const char *svcname = svc == AWS_ECS ? "ecs" : "logs";
	const char *prefix = svc == AWS_ECS ?
				     "AmazonEC2ContainerServiceV20141113" :
				     "Logs_20140328";
	struct aws_status local;
	struct aws_creds cr = { 0 };
	struct buf resp;
	char *text = NULL, *target = NULL, *tokhdr = NULL;
	char ebuf[CURL_ERROR_SIZE];
	char code[128], msg[512];
	bool refreshed = false, force = false;
	CURL *h = NULL;
	int ret = -1;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	*answer = NULL;
	buf_init(&resp, ANSWER_MAX);
	text = json_dumps(body, JSON_COMPACT);
	if (!text) {
		st->failure = AWS_FAIL_ANSWER;
		rc_err_set(err, EINVAL, "%s %s: cannot encode the request",
			   svcname, action);
		goto out;
	}
	target = xasprintf("X-Amz-Target: %s.%s", prefix, action);
	h = curl_easy_init();
	if (!h) {
		st->failure = AWS_FAIL_NETWORK;
		rc_err_set(err, ENOMEM, "%s %s: cannot make a curl handle",
			   svcname, action);
		goto out;
	}

	for (int attempt = 0;; attempt++) {
		struct curl_slist *hdrs = NULL;
		bool retry = false;
		long status = 0;
		CURLcode cc;

		st->attempts = attempt + 1;
		aws_creds_clear(&cr);
		force = false;
		if (creds_get(c, force, &cr, err) < 0) {
			st->failure = AWS_FAIL_CREDENTIALS;
			goto out;
		}
		curl_easy_reset(h);
		hdrs = curl_slist_append(hdrs, "Content-Type: "
					       "application/x-amz-json-1.1");
		hdrs = curl_slist_append(hdrs, target);
		if (cr.token) {
			tokhdr =
				xasprintf("X-Amz-Security-Token: %s", cr.token);
			hdrs = curl_slist_append(hdrs, tokhdr);
		}
		ebuf[0] = '\0';
		resp.len = 0;
		curl_easy_setopt(h, CURLOPT_URL,
				 svc == AWS_ECS ? c->ecs_url : c->logs_url);
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_AWS_SIGV4,
				 svc == AWS_ECS ? c->ecs_sigv4 : c->logs_sigv4);
		curl_easy_setopt(h, CURLOPT_USERNAME, cr.key);
		curl_easy_setopt(h, CURLOPT_PASSWORD, cr.secret);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
				 c->connect_timeout_ms);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->request_timeout_ms);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
		if (c->share)
			curl_easy_setopt(h, CURLOPT_SHARE, c->share);
		cc = curl_easy_perform(h);
		curl_slist_free_all(hdrs);
		if (tokhdr) {
			explicit_bzero(tokhdr, strlen(tokhdr));
			free(tokhdr);
			tokhdr = NULL;
		}
		if (cc != CURLE_OK) {
			st->failure = AWS_FAIL_NETWORK;
			st->http_status = 0;
			st->code[0] = '\0';
			retry = curl_transient(cc);
			rc_err_set(err, EIO, "%s %s: no answer from %s%s: %s",
				   svcname, action,
				   svc == AWS_ECS ? c->ecs_url : c->logs_url,
				   retry ? " (engine unreachable)" : "",
				   ebuf[0] ? ebuf : curl_easy_strerror(cc));
		} else {
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
			st->http_status = status;
			if (status >= 200 && status < 300) {
				/* Some actions (CreateLogStream) answer
				 * with an empty body. */
				json_t *j = resp.len ? json_loadb(resp.data,
								  resp.len, 0,
								  NULL) :
						       json_object();

				if (!j || !json_is_object(j)) {
					json_decref(j);
					st->failure = AWS_FAIL_ANSWER;
					rc_err_set(err, EPROTO,
						   "%s %s: HTTP %ld with an "
						   "answer that is not a JSON "
						   "object",
						   svcname, action, status);
					goto out;
				}
				*answer = j;
				st->failure = AWS_OK;
				ret = 0;
				goto out;
			}
			parse_error(&resp, code, sizeof(code), msg,
				    sizeof(msg));
			snprintf(st->code, sizeof(st->code), "%s", code);
			if (status == 429 || code_is(code, throttle_codes)) {
				st->failure = AWS_FAIL_THROTTLED;
				retry = true;
			} else if (status >= 500 ||
				   code_is(code, server_codes)) {
				st->failure = AWS_FAIL_SERVER;
				retry = true;
			} else if (code_is(code, expired_codes) &&
				   c->src.kind == AWS_CREDS_CONTAINER &&
				   !refreshed) {
				st->failure = AWS_FAIL_CREDENTIALS;
				refreshed = true;
				force = true;
				retry = true;
			} else {
				st->failure = AWS_FAIL_CLIENT;
			}
			rc_err_set(err, status == 403 ? EACCES : EIO,
				   "%s %s: HTTP %ld%s%s%s%s%s", svcname, action,
				   status, code[0] ? " " : "", code,
				   msg[0] ? ": " : "", msg,
				   !strcmp(code, "SignatureDoesNotMatch") ?
					   " (check the AWS secret access "
					   "key)" :
					   "");
		}
		if (!retry)
			goto out;
		if (attempt + 1 >= c->max_attempts) {
			err_append(err, " (gave up after %d attempts)",
				   attempt + 1);
			goto out;
		}
		if (!backoff_sleep(c, backoff_ms(c, attempt))) {
			err_append(err, " (not retried: shutting down)");
			goto out;
		}
	}
out:
	aws_creds_clear(&cr);
	if (text)
		explicit_bzero(text, strlen(text));
	if (h)
		curl_easy_cleanup(h);
	buf_free(&resp);
	free(target);
	free(text);
	return ret;
}
