/*
 * exec.c - choosing an executor backend by name.  Each backend lives in its
 * own file under src/exec/ and exposes one constructor (declared in exec.h)
 * that fills ex->ops and ex->priv.
 */
#include "../exec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct backend {
	const char *name;
	int (*open)(struct executor *ex, struct rc_err *err);
};

static const struct backend backends[] = {
	{ "process", exec_process_open }, { "sandbox", exec_sandbox_open },
	{ "slurm", exec_slurm_open },	  { "ecs", exec_ecs_open },
	{ "kubernetes", exec_k8s_open },
};

const char *const exec_backend_names[] = {
	"process", "sandbox", "slurm", "ecs", "kubernetes", NULL,
};

int exec_open(const char *name, const struct config *cfg,
	      exec_event_fn on_event, void *ctx, struct executor **out,
	      struct rc_err *err)
{
	struct executor *ex;

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strcmp(backends[i].name, name) != 0)
			continue;
		ex = xcalloc(1, sizeof(*ex));
		ex->on_event = on_event;
		ex->event_ctx = ctx;
		ex->cfg = cfg;
		if (backends[i].open(ex, err) < 0) {
			free(ex);
			return rc_err_wrap(err, "executor %s", name);
		}
		*out = ex;
		return 0;
	}
	return rc_err_set(err, EINVAL,
			  "unknown executor \"%s\": use one of process, "
			  "sandbox, slurm, ecs, kubernetes",
			  name);
}

int exec_setting_duration(const json_t *o, const char *section, const char *key,
			  int64_t def_ms, int64_t min_ms, int64_t *out,
			  struct rc_err *err)
{
	const json_t *v = json_object_get(o, key);
	int64_t ms = def_ms;

	if (v && json_is_number(v) && json_number_value(v) >= 0 &&
	    json_number_value(v) < 1e9)
		ms = (int64_t)(json_number_value(v) * 1000);
	else if (v && !json_is_null(v) &&
		 (!json_is_string(v) ||
		  parse_duration_ms(json_string_value(v), &ms) < 0))
		return rc_err_field(err, key,
				    "%s.%s must be a duration such as \"5s\" "
				    "or a number of seconds",
				    section, key);
	if (ms < min_ms)
		return rc_err_field(err, key, "%s.%s must be at least %lld ms",
				    section, key, (long long)min_ms);
	*out = ms;
	return 0;
}

void exec_close(struct executor *ex)
{
	if (!ex)
		return;
	if (ex->ops && ex->ops->close)
		ex->ops->close(ex);
	free(ex);
}
