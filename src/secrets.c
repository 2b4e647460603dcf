/*
 * secrets.c - secret values: loading them from the secrets file and the
 * environment, and masking them in text that leaves the service.
 *
 * Masking is a plain scan: at each byte whose value starts some secret,
 * compare every secret (longest first, so that one secret containing
 * another is masked whole).  Secrets are few and short, output is the
 * long part; a 256-entry table of first bytes keeps the common case to
 * one lookup per byte.
 */
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define SECRETS_FILE_MAX (1024 * 1024)

struct secret {
	char *name;
	char *value;
	size_t len;
};

struct secrets {
	struct secret *v; /* sorted by value length, longest first */
	size_t n;
	size_t max_len;	 /* of the masked values */
	bool first[256]; /* first bytes of masked values */
};

static struct secret *find(const struct secrets *s, const char *name)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (!strcmp(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}

static void add(struct secrets *s, const char *name, const char *value)
{
	struct secret *e = find(s, name);

	if (e) {
		free(e->value);
	} else {
		s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
		e = &s->v[s->n++];
		e->name = xstrdup(name);
	}
	e->value = xstrdup(value);
	e->len = strlen(value);
}

/* Parse the KEY=VALUE file text; blank lines and # comments are skipped,
 * one pair of surrounding quotes is removed from a value. */
static int parse_file(const char *path, char *text, struct secrets *file,
		      struct rc_err *err)
{
	int line = 0;

	for (char *p = text, *nl; p && *p; p = nl) {
		char *eq, *v;
		size_t vl;

		nl = strchr(p, '\n');
		if (nl)
			*nl++ = '\0';
		line++;
		p[strcspn(p, "\r")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			continue;
		if (str_has_prefix(p, "export "))
			p += 7;
		eq = strchr(p, '=');
		if (!eq || eq == p)
			return rc_err_set(err, EINVAL,
					  "%s:%d: expected "
					  "NAME=VALUE",
					  path, line);
		*eq = '\0';
		v = eq + 1;
		vl = strlen(v);
		if (vl >= 2 && (v[0] == '"' || v[0] == '\'') &&
		    v[vl - 1] == v[0]) {
			v[vl - 1] = '\0';
			v++;
		}
		add(file, p, v);
	}
	return 0;
}

static int load_file(const char *path, struct secrets *file, struct rc_err *err)
{
	struct stat st;
	char *text = NULL;
	size_t len;
	int ret = -1;

	if (stat(path, &st) < 0)
		return rc_err_set(err, errno, "secrets file %s: %s", path,
				  strerror(errno));
	if (st.st_mode & 077)
		return rc_err_set(err, EACCES,
				  "secrets file %s is readable by "
				  "others (mode %03o): chmod 600 it",
				  path, (unsigned)(st.st_mode & 0777));
	if (read_file(path, SECRETS_FILE_MAX, &text, &len, err) < 0)
		goto out;
	ret = parse_file(path, text, file, err);
out:
	if (text)
		explicit_bzero(text, strlen(text));
	free(text);
	return ret;
}

static int by_len_desc(const void *a, const void *b)
{
	const struct secret *x = a, *y = b;

	return x->len < y->len ? 1 : x->len > y->len ? -1 : 0;
}

static void secrets_clear_list(struct secrets *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].name);
		if (s->v[i].value)
			explicit_bzero(s->v[i].value, s->v[i].len);
		free(s->v[i].value);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

int secrets_load(const struct config *cfg, struct secrets **out,
		 struct rc_err *err)
{
	struct secrets *s = xcalloc(1, sizeof(*s)), file;
	int ret = -1;

	memset(&file, 0, sizeof(file));
	if (cfg->server.secrets_file &&
	    load_file(cfg->server.secrets_file, &file, err) < 0)
		goto out;
	for (size_t i = 0; i < cfg->n_autos; i++) {
		const struct automation *a = &cfg->autos[i];

		for (char **n = a->secrets; n && *n; n++) {
			const struct secret *f = find(&file, *n);
			const char *v = f ? f->value : getenv(*n);

			if (find(s, *n))
				continue;
			if (!v) {
				rc_err_set(
					err, EINVAL,
					"automation \"%s\" needs secret %s: "
					"put %s=VALUE in server.secrets_file "
					"or in the service's environment",
					a->id, *n, *n);
				goto out;
			}
			add(s, *n, v);
			if (strlen(v) < SECRETS_MIN_MASK_LEN)
				log_msg(LOG_WARN, NULL,
					"secret %s is shorter than %d "
					"characters: it is passed to runs but "
					"cannot be masked in their output",
					*n, SECRETS_MIN_MASK_LEN);
		}
	}
	if (s->n) /* s->v is NULL when there are none */
		qsort(s->v, s->n, sizeof(*s->v), by_len_desc);
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].len < SECRETS_MIN_MASK_LEN)
			continue;
		s->first[(unsigned char)s->v[i].value[0]] = true;
		if (s->v[i].len > s->max_len)
			s->max_len = s->v[i].len;
	}
	*out = s;
	s = NULL;
	ret = 0;
out:
	secrets_clear_list(&file);
	secrets_free(s);
	return ret;
}

void secrets_free(struct secrets *s)
{
	if (!s)
		return;
	secrets_clear_list(s);
	free(s);
}

const char *secrets_get(const struct secrets *s, const char *name)
{
	const struct secret *e = find(s, name);

	return e ? e->value : NULL;
}

size_t secrets_count(const struct secrets *s)
{
	size_t n = 0;

	for (size_t i = 0; s && i < s->n; i++)
		n += s->v[i].len >= SECRETS_MIN_MASK_LEN;
	return n;
}

size_t secrets_mask(const struct secrets *s, const char *data, size_t len,
		    bool final, struct buf *out)
{
	size_t i = 0, copied = 0;

	if (!s || s->max_len == 0) {
		buf_append(out, data, len);
		return len;
	}
	while (i < len) {
		bool hit = false, partial = false;

		if (!s->first[(unsigned char)data[i]]) {
			i++;
			continue;
		}
		for (size_t k = 0; k < s->n; k++) {
			const struct secret *e = &s->v[k];

			if (e->len < SECRETS_MIN_MASK_LEN)
				continue;
			if (len - i >= e->len) {
				if (!memcmp(data + i, e->value, e->len)) {
					buf_append(out, data + copied,
						   i - copied);
					buf_appends(out, SECRETS_MASK);
					i += e->len;
					copied = i;
					hit = true;
					break;
				}
			} else if (!final &&
				   !memcmp(data + i, e->value, len - i)) {
				partial = true;
			}
		}
		if (hit)
			continue;
		if (partial) {
			/* The rest may be the start of a secret: keep it for
			 * the next call, when more text has arrived. */
			buf_append(out, data + copied, i - copied);
			return i;
		}
		i++;
	}
	buf_append(out, data + copied, len - copied);
	return len;
}

char *secrets_mask_str(const struct secrets *s, const char *str)
{
	struct buf b;

	if (!str)
		return NULL;
	buf_init(&b, 0);
	secrets_mask(s, str, strlen(str), true, &b);
	buf_append(&b, "", 0);
	return buf_take(&b, NULL);
}

bool secrets_contains(const struct secrets *s, const char *str)
{
	char *m = secrets_mask_str(s, str);
	bool differs = m && strcmp(m, str) != 0;

	free(m);
	return differs;
}
