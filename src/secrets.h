/*
 * secrets.h - values an automation receives as environment variables but
 * that nobody may read back: loaded once at start-up from the service's
 * secrets file (server.secrets_file, KEY=VALUE lines, mode 0600) and from
 * the service's own environment, handed to runs, and masked as "****"
 * wherever run output or run data leaves the service.
 *
 * A loaded table is immutable and may be shared between threads.
 */
#ifndef RUNCELL_SECRETS_H
#define RUNCELL_SECRETS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "util.h"

/* Values shorter than this are passed to runs but not masked: masking a
 * one-letter value would garble every log; such secrets are refused a
 * warning at start-up. */
#define SECRETS_MIN_MASK_LEN 4
#define SECRETS_MASK "****"

struct secrets;

/*
 * Load the value of every secret an automation of cfg names: the secrets
 * file wins over the environment.  Fails (EINVAL) when a named secret has
 * no value anywhere, or when the file is readable by group or others
 * (EACCES) or malformed (EINVAL, with the line).  *out is freed with
 * secrets_free.
 */
int secrets_load(const struct config *cfg, struct secrets **out,
		 struct rc_err *err);
void secrets_free(struct secrets *s);

/* The value of secret name, or NULL.  Borrowed from s.  s may be NULL. */
const char *secrets_get(const struct secrets *s, const char *name);

/* Number of values that are masked (for tests and the start-up line). */
size_t secrets_count(const struct secrets *s);

/*
 * Copy data[0..len) to out with every secret value replaced by "****".
 * When final is false the text may continue: a tail that could be the
 * start of a secret is held back.  Returns the number of input bytes
 * consumed (len when final, or when nothing is held back); the caller
 * passes the rest again with more data.  s may be NULL (a plain copy).
 */
size_t secrets_mask(const struct secrets *s, const char *data, size_t len,
		    bool final, struct buf *out);

/* Masked copy of a NUL-terminated string (caller frees); NULL stays
 * NULL. */
char *secrets_mask_str(const struct secrets *s, const char *str);

/* Whether str contains a secret value. */
bool secrets_contains(const struct secrets *s, const char *str);

#endif
