/*
 * util.c - error object, aborting allocators, the byte buffer, clocks,
 * number/size/duration parsing and small file helpers.
 */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int rc_err_set(struct rc_err *e, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	e->errnum = errnum;
	e->field[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int rc_err_field(struct rc_err *e, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	e->errnum = EINVAL;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int rc_err_wrap(struct rc_err *e, const char *fmt, ...)
{
	char joined[2 * RC_ERR_MSG_MAX + 4];
	size_t n;
	va_list ap;

	if (!e)
		return -1;
	va_start(ap, fmt);
	vsnprintf(joined, RC_ERR_MSG_MAX, fmt, ap);
	va_end(ap);
	n = strlen(joined);
	memcpy(joined + n, ": ", 2);
	memcpy(joined + n + 2, e->msg, strnlen(e->msg, RC_ERR_MSG_MAX - 1) + 1);
	joined[n + 2 + RC_ERR_MSG_MAX - 1] = '\0';
	memcpy(e->msg, joined, RC_ERR_MSG_MAX - 1);
	e->msg[RC_ERR_MSG_MAX - 1] = '\0';
	return -1;
}

void rc_err_clear(struct rc_err *e)
{
	if (e)
		memset(e, 0, sizeof(*e));
}

static void oom(size_t n)
{
	fprintf(stderr, "runcell: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	char *p;

	if (!s)
		return NULL;
	p = strdup(s);
	if (!p)
		oom(strlen(s));
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		oom(n);
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom(0);
	return p;
}

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

size_t strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

char **strv_dup(char *const *v)
{
	size_t n = strv_len(v);
	char **out = xcalloc(n + 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

void strv_add_unique(char ***v, const char *s)
{
	size_t n = strv_len(*v);

	for (size_t i = 0; i < n; i++)
		if (!strcmp((*v)[i], s))
			return;
	*v = xrealloc(*v, (n + 2) * sizeof(char *));
	(*v)[n] = xstrdup(s);
	(*v)[n + 1] = NULL;
}

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->max && (n > b->max || b->len > b->max - n)) {
		errno = E2BIG;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_appends(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom(0);
	r = buf_append(b, p, (size_t)r);
	free(p);
	return r;
}

char *buf_take(struct buf *b, size_t *len)
{
	char *p = b->data;

	if (!p)
		p = xstrdup("");
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int64_t time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void time_rfc3339(int64_t ms, char out[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	char date[24];

	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%.19s.%03uZ", date, (unsigned)(ms % 1000) % 1000u);
}

/* Split "12.5M" into a number and a unit suffix. */
static int split_number(const char *s, double *num, const char **unit)
{
	char *end;

	if (!s || !*s)
		return -1;
	errno = 0;
	*num = strtod(s, &end);
	if (errno || end == s || *num < 0)
		return -1;
	*unit = end;
	return 0;
}

int parse_duration_ms(const char *s, int64_t *out)
{
	double n, mult;
	const char *u;

	if (split_number(s, &n, &u) < 0)
		return -1;
	if (!*u || !strcmp(u, "s"))
		mult = 1000;
	else if (!strcmp(u, "ms"))
		mult = 1;
	else if (!strcmp(u, "m"))
		mult = 60000;
	else if (!strcmp(u, "h"))
		mult = 3600000;
	else if (!strcmp(u, "d"))
		mult = 86400000;
	else
		return -1;
	if (n * mult > 9e15)
		return -1;
	*out = (int64_t)(n * mult);
	return 0;
}

int parse_size(const char *s, int64_t *out)
{
	double n, mult;
	const char *u;

	if (split_number(s, &n, &u) < 0)
		return -1;
	if (!*u || !strcmp(u, "B"))
		mult = 1;
	else if (!strcmp(u, "k") || !strcmp(u, "K") || !strcmp(u, "Ki") ||
		 !strcmp(u, "KB"))
		mult = 1024.0;
	else if (!strcmp(u, "M") || !strcmp(u, "Mi") || !strcmp(u, "MB"))
		mult = 1024.0 * 1024;
	else if (!strcmp(u, "G") || !strcmp(u, "Gi") || !strcmp(u, "GB"))
		mult = 1024.0 * 1024 * 1024;
	else if (!strcmp(u, "T") || !strcmp(u, "Ti") || !strcmp(u, "TB"))
		mult = 1024.0 * 1024 * 1024 * 1024;
	else
		return -1;
	if (n * mult > 9e18)
		return -1;
	*out = (int64_t)(n * mult);
	return 0;
}

int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t got = 0;

	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	while (got < nbytes) {
		ssize_t r = getrandom(raw + got, nbytes - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("runcell: getrandom");
			abort();
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t n,
		      struct rc_err *err)
{
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int fd, dfd, ret = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc_err_set(err, errno, "cannot create %s: %s", tmp,
			   strerror(errno));
		goto out;
	}
	if (write_all(fd, data, n) < 0 || fsync(fd) < 0) {
		rc_err_set(err, errno, "cannot write %s: %s", tmp,
			   strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		rc_err_set(err, errno, "cannot rename %s to %s: %s", tmp, path,
			   strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (slash)
		*slash = '\0';
	dfd = open(slash ? (dir[0] ? dir : "/") : ".",
		   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	ret = 0;
out:
	free(tmp);
	free(dir);
	return ret;
}

int read_file(const char *path, size_t max, char **out, size_t *len,
	      struct rc_err *err)
{
	struct buf b;
	char chunk[8192];
	int fd, ret = -1;

	buf_init(&b, max);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rc_err_set(err, errno, "cannot open %s: %s", path,
				  strerror(errno));
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc_err_set(err, errno, "cannot read %s: %s", path,
				   strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (buf_append(&b, chunk, (size_t)r) < 0) {
			rc_err_set(err, E2BIG, "%s is larger than %zu bytes",
				   path, max);
			goto out;
		}
	}
	*out = buf_take(&b, len);
	ret = 0;
out:
	close(fd);
	buf_free(&b);
	return ret;
}

int mkdir_p(const char *path, unsigned mode, struct rc_err *err)
{
	char *p = xstrdup(path);
	int ret = -1;

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			rc_err_set(err, errno, "cannot create folder %s: %s", p,
				   strerror(errno));
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST) {
		rc_err_set(err, errno, "cannot create folder %s: %s", p,
			   strerror(errno));
		goto out;
	}
	ret = 0;
out:
	free(p);
	return ret;
}

void rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d) {
		while ((de = readdir(d))) {
			char *child;

			if (!strcmp(de->d_name, ".") ||
			    !strcmp(de->d_name, ".."))
				continue;
			child = xasprintf("%s/%s", path, de->d_name);
			rm_rf(child);
			free(child);
		}
		closedir(d);
	}
	rmdir(path);
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}
