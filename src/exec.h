/*
 * exec.h - the executor interface: how a run is started, watched, stopped
 * and re-adopted, whatever runs it.
 *
 * Backends, one file each under src/exec/: "process" (plain child processes
 * under a per-run supervisor, no isolation), "sandbox" (isolated cells under
 * the same supervisor), and remote engines (slurm, ecs, kubernetes).  The
 * interface is asynchronous so that it fits all of them:
 *
 *   start   submits the run and returns quickly with an opaque handle
 *           (supervisor address, job id, task ARN, Job name).  The caller
 *           stores the handle before doing anything else, so a restarted
 *           service can find the run again.  start never waits for the run.
 *   attach  after a restart, re-adopts a run that was started earlier, from
 *           its stored handle.  The backend then reports its events as if it
 *           had started it.
 *   stop    asks for the run to end (SIGTERM then SIGKILL after the grace
 *           period, scancel, StopTask, Job delete).  The final state arrives
 *           later as an event (cancelled, or whatever the run reached first).
 *   events  the backend reports progress through the exec_event_fn given at
 *           open: RUNNING once the program is executing, then exactly one
 *           terminal event.  Events may come from any thread of the backend;
 *           the receiver (runs.c) writes them to the store.
 *   logs    every backend delivers the run's output into the local log file
 *           named in the spec (local backends write it as it comes; remote
 *           ones fetch and append).  Readers (API, SSE) read that file only.
 */
#ifndef RUNCELL_EXEC_H
#define RUNCELL_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "store.h"
#include "util.h"

/* Everything a backend needs to start one run.  Borrowed for the duration
 * of the start call only. */
struct exec_spec {
	const char *run_id;
	const char *automation_id;
	const char *user;
	char *const *argv; /* argv[0] is a path or a name on PATH */
	char *const *env;  /* complete environment, NAME=value */
	const struct resources *res;
	const struct isolation *iso;
	const char *log_path;  /* where output goes (created by backend) */
	int64_t log_max_bytes; /* cap; a marker line is written when cut */
	int64_t stop_grace_ms;
	const char *work_dir; /* host folder for the run's cwd */
};

/* What a backend reports about a run. */
struct exec_event {
	const char *run_id;
	enum run_state state; /* RUN_RUNNING or a terminal state */
	int64_t at;	      /* ms since epoch when it happened */
	bool has_exit_code;
	int exit_code;	    /* exit status, or 128+signal */
	const char *reason; /* terminal: why (NULL if plain exit) */
	bool has_usage;
	int64_t cpu_usec;
	int64_t peak_memory;
};

typedef void (*exec_event_fn)(void *ctx, const struct exec_event *ev);

struct executor;

struct executor_ops {
	const char *name;
	/* Start a run; on success *handle is a new string (caller frees). */
	int (*start)(struct executor *ex, const struct exec_spec *spec,
		     char **handle, struct rc_err *err);
	/* Re-adopt a run after a restart.  handle may be NULL if the service
	 * died between recording "starting" and storing the handle; the
	 * backend then decides from its own records whether the run exists
	 * (and reports it) or not (returns 1: never started). */
	int (*attach)(struct executor *ex, const char *run_id,
		      const char *handle, const char *log_path,
		      struct rc_err *err);
	int (*stop)(struct executor *ex, const char *run_id, const char *handle,
		    struct rc_err *err);
	/* Release everything; runs keep going where the backend allows. */
	void (*close)(struct executor *ex);
};

struct executor {
	const struct executor_ops *ops;
	exec_event_fn on_event;
	void *event_ctx;
	const struct config *cfg; /* borrowed; settings of the backend */
	void *priv;		  /* backend state */
};

/* Open the backend called name ("process", "sandbox", ...).  Events are
 * delivered to on_event(ctx, ...).  Returns -1 with a clear message if the
 * name is unknown or the backend cannot work on this host (naming the
 * missing feature). */
int exec_open(const char *name, const struct config *cfg,
	      exec_event_fn on_event, void *ctx, struct executor **out,
	      struct rc_err *err);
void exec_close(struct executor *ex);

/* Backend constructors, used by exec_open. */
int exec_process_open(struct executor *ex, struct rc_err *err);
int exec_sandbox_open(struct executor *ex, struct rc_err *err);
int exec_slurm_open(struct executor *ex, struct rc_err *err);
int exec_ecs_open(struct executor *ex, struct rc_err *err);
int exec_k8s_open(struct executor *ex, struct rc_err *err);

/*
 * A backend setting that is a duration, from the settings object o: a
 * number of seconds or a string such as "5s" or "250ms"; absent or null
 * gives def_ms.  section names the block in messages ("executors.ecs").
 * Returns 0, or -1 with err->field = key and a message saying what to
 * write.
 */
int exec_setting_duration(const json_t *o, const char *section, const char *key,
			  int64_t def_ms, int64_t min_ms, int64_t *out,
			  struct rc_err *err);

/* Names exec_open knows, NULL-terminated (for config checking). */
extern const char *const exec_backend_names[];

#endif
