/*
 * aws_creds.c - AWS credentials for the aws client: the environment, the
 * ECS container-credentials endpoint, or the shared credentials file (see
 * aws.h for the order).  Nothing here ever puts a secret into a message.
 */
#include "aws.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define CONTAINER_HOST "http://169.254.170.2"
#define CREDS_ANSWER_MAX (64 * 1024)
#define CREDS_FILE_MAX (1024 * 1024)

void aws_creds_clear(struct aws_creds *cr)
{
	if (!cr)
		return;
	if (cr->secret)
		explicit_bzero(cr->secret, strlen(cr->secret));
	if (cr->token)
		explicit_bzero(cr->token, strlen(cr->token));
	free(cr->key);
	free(cr->secret);
	free(cr->token);
	memset(cr, 0, sizeof(*cr));
}

void aws_creds_source_clear(struct aws_creds_source *src)
{
	if (!src)
		return;
	free(src->url);
	if (src->auth)
		explicit_bzero(src->auth, strlen(src->auth));
	free(src->auth);
	free(src->auth_file);
	memset(src, 0, sizeof(*src));
}

const char *aws_creds_kind_name(enum aws_creds_kind k)
{
	switch (k) {
	case AWS_CREDS_ENV:
		return "environment";
	case AWS_CREDS_CONTAINER:
		return "container endpoint";
	case AWS_CREDS_FILE:
		return "shared credentials file";
	}
	return "?";
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* --- shared credentials file --- */

int aws_creds_parse_ini(const char *text, const char *profile, const char *name,
			struct aws_creds *cr, struct rc_err *err)
{
	char *copy = xstrdup(text), *line, *next;
	bool in = false, found = false;
	struct aws_creds got = { 0 };
	int ret = -1;

	for (line = copy; line; line = next) {
		char *eq, *k, *v;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line = trim(line);
		if (!*line || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			char *end = strchr(line, ']');

			if (!end)
				continue;
			*end = '\0';
			line = trim(line + 1);
			if (str_has_prefix(line, "profile "))
				line = trim(line + 8);
			in = strcmp(line, profile) == 0;
			found = found || in;
			continue;
		}
		if (!in || !(eq = strchr(line, '=')))
			continue;
		*eq = '\0';
		k = trim(line);
		v = trim(eq + 1);
		if (!strcmp(k, "aws_access_key_id")) {
			free(got.key);
			got.key = xstrdup(v);
		} else if (!strcmp(k, "aws_secret_access_key")) {
			free(got.secret);
			got.secret = xstrdup(v);
		} else if (!strcmp(k, "aws_session_token")) {
			free(got.token);
			got.token = *v ? xstrdup(v) : NULL;
		}
	}
	if (!found) {
		ret = 1;
		goto out;
	}
	if (!got.key || !*got.key || !got.secret || !*got.secret) {
		rc_err_set(err, EINVAL,
			   "%s: profile \"%s\" needs both aws_access_key_id "
			   "and aws_secret_access_key",
			   name, profile);
		goto out;
	}
	aws_creds_clear(cr);
	*cr = got;
	memset(&got, 0, sizeof(got));
	ret = 0;
out:
	aws_creds_clear(&got);
	explicit_bzero(copy, strlen(copy));
	free(copy);
	return ret;
}

/* 0 found, 1 no file (or no such default profile), -1 error. */
static int creds_from_file(struct aws_creds *cr, struct rc_err *err)
{
	const char *path = env_nonempty("AWS_SHARED_CREDENTIALS_FILE");
	const char *profile = env_nonempty("AWS_PROFILE");
	const char *home = env_nonempty("HOME");
	char *owned = NULL, *text = NULL;
	size_t len;
	int ret = 1;

	if (!path) {
		if (!home)
			return 1;
		path = owned = xasprintf("%s/.aws/credentials", home);
	}
	if (access(path, F_OK) < 0) {
		if (getenv("AWS_SHARED_CREDENTIALS_FILE"))
			ret = rc_err_set(
				err, ENOENT,
				"AWS_SHARED_CREDENTIALS_FILE names %s, "
				"which does not exist",
				path);
		goto out;
	}
	if (read_file(path, CREDS_FILE_MAX, &text, &len, err) < 0) {
		ret = -1;
		goto out;
	}
	ret = aws_creds_parse_ini(text, profile ? profile : "default", path, cr,
				  err);
	if (ret == 1 && profile)
		ret = rc_err_set(err, ENOENT,
				 "AWS_PROFILE is \"%s\" but %s has no such "
				 "profile",
				 profile, path);
out:
	if (text) {
		explicit_bzero(text, len);
		free(text);
	}
	free(owned);
	return ret;
}

/* --- container endpoint --- */

/* Whether a FULL_URI may be used: https anywhere, plain http only to a
 * loopback address or the ECS/EKS link-local endpoints (as the AWS SDKs
 * require), so credentials are never fetched in clear over a network. */
static bool full_uri_allowed(const char *url)
{
	static const char *const hosts[] = {
		"127.",		  "localhost",	    "[::1]", "169.254.170.2",
		"169.254.170.23", "[fd00:ec2::23]", NULL,
	};
	const char *h;

	if (str_has_prefix(url, "https://"))
		return true;
	if (!str_has_prefix(url, "http://"))
		return false;
	h = url + 7;
	for (size_t i = 0; hosts[i]; i++) {
		size_t n = strlen(hosts[i]);

		if (strncmp(h, hosts[i], n) != 0)
			continue;
		if (hosts[i][n - 1] == '.')
			return true;
		if (h[n] == '\0' || h[n] == ':' || h[n] == '/')
			return true;
	}
	return false;
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;

	if (buf_append(b, p, size * n) < 0)
		return 0;
	return size * n;
}

/* "2026-01-02T03:04:05Z" (fraction allowed) to ms since the epoch. */
static int64_t parse_iso8601(const char *s)
{
	struct tm tm;
	const char *rest;

	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return -1;
	return (int64_t)timegm(&tm) * 1000;
}

static int container_auth(const struct aws_creds_source *src, char **out,
			  struct rc_err *err)
{
	char *text = NULL, *t;
	size_t len;

	*out = NULL;
	if (src->auth_file) {
		if (read_file(src->auth_file, 16384, &text, &len, err) < 0)
			return rc_err_wrap(err, "AWS_CONTAINER_AUTHORIZATION_"
						"TOKEN_FILE");
		t = trim(text);
		*out = xstrdup(t);
		explicit_bzero(text, len);
		free(text);
	} else if (src->auth) {
		*out = xstrdup(src->auth);
	}
	if (*out && strpbrk(*out, "\r\n")) {
		free(*out);
		*out = NULL;
		return rc_err_set(err, EINVAL,
				  "the container authorization token holds a "
				  "line break");
	}
	return 0;
}

static int creds_from_container(const struct aws_creds_source *src,
				struct aws_creds *cr, struct rc_err *err)
{
	CURL *h = NULL;
	struct curl_slist *hdrs = NULL;
	struct buf b;
	char *auth = NULL, *hdr = NULL;
	char ebuf[CURL_ERROR_SIZE] = "";
	json_t *j = NULL;
	json_error_t jerr;
	const char *key, *secret, *token = NULL, *exp = NULL;
	long status = 0;
	CURLcode cc = CURLE_OK;
	int ret = -1;

	buf_init(&b, CREDS_ANSWER_MAX);
	if (container_auth(src, &auth, err) < 0)
		goto out;
	h = curl_easy_init();
	if (!h) {
		rc_err_set(err, ENOMEM, "cannot make a curl handle");
		goto out;
	}
	if (auth) {
		hdr = xasprintf("Authorization: %s", auth);
		hdrs = curl_slist_append(hdrs, hdr);
	}
	curl_easy_setopt(h, CURLOPT_URL, src->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	for (int attempt = 0; attempt < 3; attempt++) {
		b.len = 0;
		cc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if ((cc == CURLE_OK && status < 500) || attempt == 2)
			break;
		nanosleep(&(struct timespec){ 0, 200000000L << attempt }, NULL);
	}
	if (cc != CURLE_OK) {
		rc_err_set(err, EIO,
			   "cannot reach the container credentials endpoint "
			   "%s: %s",
			   src->url, ebuf[0] ? ebuf : curl_easy_strerror(cc));
		goto out;
	}
	if (status != 200) {
		rc_err_set(err, EACCES,
			   "the container credentials endpoint %s answered "
			   "HTTP %ld",
			   src->url, status);
		goto out;
	}
	j = json_loadb(b.data ? b.data : "", b.len, 0, &jerr);
	if (!j || json_unpack(j, "{s:s, s:s, s?s, s?s}", "AccessKeyId", &key,
			      "SecretAccessKey", &secret, "Token", &token,
			      "Expiration", &exp) < 0) {
		rc_err_set(err, EPROTO,
			   "the container credentials endpoint %s did not "
			   "answer with AccessKeyId and SecretAccessKey",
			   src->url);
		goto out;
	}
	aws_creds_clear(cr);
	cr->key = xstrdup(key);
	cr->secret = xstrdup(secret);
	cr->token = token && *token ? xstrdup(token) : NULL;
	cr->expires_ms = exp ? parse_iso8601(exp) : 0;
	if (cr->expires_ms < 0)
		cr->expires_ms = time_now_ms() + 10 * 60 * 1000;
	ret = 0;
out:
	if (b.data)
		explicit_bzero(b.data, b.len);
	buf_free(&b);
	if (hdr) {
		explicit_bzero(hdr, strlen(hdr));
		free(hdr);
	}
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	curl_slist_free_all(hdrs);
	if (h)
		curl_easy_cleanup(h);
	json_decref(j);
	return ret;
}

int aws_creds_fetch(const struct aws_creds_source *src, struct aws_creds *cr,
		    struct rc_err *err)
{
	if (src->kind == AWS_CREDS_CONTAINER)
		return creds_from_container(src, cr, err);
	return 0;
}

int aws_creds_find(struct aws_creds_source *src, struct aws_creds *cr,
		   struct rc_err *err)
{
	const char *key = env_nonempty("AWS_ACCESS_KEY_ID");
	const char *secret = env_nonempty("AWS_SECRET_ACCESS_KEY");
	const char *rel =
		env_nonempty("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env_nonempty("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	int r;

	memset(src, 0, sizeof(*src));
	memset(cr, 0, sizeof(*cr));
	if (key || secret) {
		if (!key || !secret)
			return rc_err_set(err, EINVAL,
					  "%s is set but %s is not: set both "
					  "or neither",
					  key ? "AWS_ACCESS_KEY_ID" :
						"AWS_SECRET_ACCESS_KEY",
					  key ? "AWS_SECRET_ACCESS_KEY" :
						"AWS_ACCESS_KEY_ID");
		src->kind = AWS_CREDS_ENV;
		cr->key = xstrdup(key);
		cr->secret = xstrdup(secret);
		cr->token = xstrdup(env_nonempty("AWS_SESSION_TOKEN"));
		return 0;
	}
	if (rel || full) {
		src->kind = AWS_CREDS_CONTAINER;
		if (rel) {
			src->url = xasprintf("%s%s%s", CONTAINER_HOST,
					     rel[0] == '/' ? "" : "/", rel);
		} else {
			if (!full_uri_allowed(full))
				return rc_err_set(
					err, EINVAL,
					"AWS_CONTAINER_CREDENTIALS_FULL_URI "
					"must use https, or http to a "
					"loopback address or 169.254.170.2");
			src->url = xstrdup(full);
		}
		src->auth = xstrdup(
			env_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
		src->auth_file = xstrdup(
			env_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
		if (creds_from_container(src, cr, err) < 0) {
			aws_creds_source_clear(src);
			return -1;
		}
		return 0;
	}
	r = creds_from_file(cr, err);
	if (r < 0)
		return -1;
	if (r == 0) {
		src->kind = AWS_CREDS_FILE;
		return 0;
	}
	return rc_err_set(err, ENOENT,
			  "no AWS credentials found: set AWS_ACCESS_KEY_ID and "
			  "AWS_SECRET_ACCESS_KEY, run in an ECS task with a "
			  "task role, or put a [default] profile (or "
			  "AWS_PROFILE) in ~/.aws/credentials");
}
