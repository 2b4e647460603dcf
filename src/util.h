/*
 * util.h - the few things every runcell module uses: the error object,
 * allocation that aborts on out-of-memory, a growable byte buffer with a cap
 * for untrusted input, clocks, and small string helpers.
 *
 * Conventions (see README "Code conventions"):
 *  - Functions return 0 (or a non-negative count) on success and -1 on
 *    failure, filling a caller-provided struct rc_err.  Each layer may add
 *    context with rc_err_wrap(); the top level prints the message once.
 *  - Out-of-memory is not an error a caller handles: xmalloc() and friends
 *    print a message and abort (as tmux and redis do).
 *  - Cleanup uses one "out:" label per function.
 */
#ifndef RUNCELL_UTIL_H
#define RUNCELL_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_ERR_MSG_MAX 512

/* An error: errno-style code (0 if none applies), a human message that tells
 * the user what to change, and optionally the name of the field (parameter,
 * config key) it concerns. */
struct rc_err {
	int errnum;
	char msg[RC_ERR_MSG_MAX];
	char field[128];
};

/* Fill *e with errnum and a printf-style message; always returns -1 so that
 * "return rc_err_set(e, ...)" reads naturally.  e may be NULL. */
int rc_err_set(struct rc_err *e, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like rc_err_set, and also records the field the error is about. */
int rc_err_field(struct rc_err *e, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the message already in *e with more context ("loading x: ...").
 * Returns -1. */
int rc_err_wrap(struct rc_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void rc_err_clear(struct rc_err *e);

/* Allocation that never returns NULL: on failure prints and aborts. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s); /* xstrdup(NULL) returns NULL */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Free a NULL-terminated array of strings and the array itself. */
void strv_free(char **v);
size_t strv_len(char *const *v);
char **strv_dup(char *const *v);
/* Append a copy of s to the NULL-terminated list *v (made if NULL),
 * unless an equal string is already there. */
void strv_add_unique(char ***v, const char *s);

/* A growable byte buffer, always NUL-terminated after data[len].
 * max == 0 means no cap; otherwise appends that would pass max fail with
 * -1 (errno E2BIG) and leave the buffer unchanged. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appendf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_appends(struct buf *b, const char *s);
/* Hand the contents to the caller (who frees them) and reset the buffer. */
char *buf_take(struct buf *b, size_t *len);
void buf_free(struct buf *b);

/* Wall clock in milliseconds since the epoch, and a monotonic clock. */
int64_t time_now_ms(void);
int64_t time_mono_ms(void);
int64_t time_mono_us(void);

/* Format ms-since-epoch as RFC 3339 UTC with milliseconds into out
 * ("2026-11-27T02:47:56.123Z").  out must hold 32 bytes. */
void time_rfc3339(int64_t ms, char out[32]);

/* Parse a duration such as "300s", "5m", "1h", "2d", "150ms" or a bare
 * number of seconds into milliseconds.  Returns -1 on bad input. */
int parse_duration_ms(const char *s, int64_t *out);

/* Parse a size such as "512M", "1G", "64k", "1024" into bytes. */
int parse_size(const char *s, int64_t *out);

/* Parse a whole decimal number with range checking (replaces atoi). */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Fill out with 2*nbytes lowercase hex characters from the kernel's
 * random source, NUL-terminated. */
void random_hex(char *out, size_t nbytes);

/* Write all of buf to fd, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t n);

/* Write data to path atomically: a temporary file in the same folder,
 * fsync, rename, fsync of the folder. */
int write_file_atomic(const char *path, const void *data, size_t n,
		      struct rc_err *err);

/* Read a whole (small) file; *out is NUL-terminated and owned by the
 * caller.  Refuses files larger than max bytes. */
int read_file(const char *path, size_t max, char **out, size_t *len,
	      struct rc_err *err);

/* mkdir -p with the given mode. */
int mkdir_p(const char *path, unsigned mode, struct rc_err *err);

/* Remove a folder tree (does not follow symlinks).  Best effort. */
void rm_rf(const char *path);

bool str_has_prefix(const char *s, const char *prefix);

#endif
