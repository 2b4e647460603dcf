/*
 * ecs.h - private to the ecs executor (src/exec/ecs.c and ecs_poll.c):
 * its settings, the runs it watches and the poller that follows them.
 * Nothing outside those two files includes it.
 */
#ifndef RUNCELL_EXEC_ECS_H
#define RUNCELL_EXEC_ECS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../exec.h"
#include "aws.h"

#define ECS_STOP_REASON "stopped by runcell"
#define ECS_TIMEOUT_REASON "stopped by runcell: timeout"
#define ECS_DESCRIBE_BATCH 100

/* executors.ecs from the configuration, checked. */
struct ecs_settings {
	char *region;
	char *cluster;
	char *endpoint;		/* NULL = AWS */
	char *logs_endpoint;	/* NULL = endpoint, or AWS */
	char **subnets;		/* NULL-terminated */
	char **security_groups; /* NULL-terminated, may be empty */
	bool assign_public_ip;
	char *task_definition; /* default */
	char *container_name;  /* NULL = family of the task definition */
	char *log_group;       /* NULL = no logs fetched */
	char *log_stream_prefix;
	char *launch_type;   /* FARGATE, EC2, EXTERNAL */
	int64_t poll_ms;     /* poll_interval */
	int64_t poll_max_ms; /* poll_max_interval: idle backoff cap */
	int64_t missing_grace_ms;
	int64_t request_timeout_ms;
	int max_attempts;
	int64_t retry_base_ms;
};

/* Where one run's task comes from and where its output goes. */
struct ecs_target {
	char *task_definition;
	char *container;
	char *log_group; /* NULL = no logs */
	char *log_prefix;
	int64_t timeout_ms; /* runcell's limit; 0 = none */
};

enum ecs_stop {
	ECS_STOP_NONE,
	ECS_STOP_USER,
	ECS_STOP_TIMEOUT,
};

/* One watched run.  The poller thread owns every field; stop and
 * stop_sent are also read and written by other threads, and done read by
 * them, all under ecs.lock.  run_id and arn never change.  A run is freed
 * only by the poller (or by close, after the poller ended). */
struct ecs_run {
	struct ecs_run *next;
	char *run_id;
	char *arn;
	char *task_id;
	bool target_known; /* false after attach until the task's tags */
	struct ecs_target t;
	char *log_stream;
	char *log_path;
	char *sidecar; /* log_path + ".ecs" */
	char *token;   /* CloudWatch nextForwardToken */
	int64_t log_bytes;
	int64_t log_max;
	bool log_truncated;
	bool log_ends_nl;
	bool log_error_said;
	int64_t started_wall; /* timeout base, ms since the epoch */
	int64_t watch_mono;   /* when watching began (grace for MISSING) */
	bool ran;	      /* the task reached RUNNING */
	bool reported_running;
	enum ecs_stop stop;
	bool stop_sent;
	bool done;
};

struct ecs {
	struct executor *ex;
	struct ecs_settings set;
	struct aws_client *aws;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	pthread_t thread;
	bool thread_started;
	bool closing;
	bool kick;
	struct ecs_run *runs;
	size_t n_runs;
	int64_t interval_ms;
	int64_t last_round_mono;
	bool engine_down;
};

/* ecs.c */
void ecs_target_for(const struct ecs *e, const char *automation_id,
		    struct ecs_target *t);
void ecs_target_clear(struct ecs_target *t);
/* The last part of a task ARN (its id), borrowed from arn. */
const char *ecs_task_id(const char *arn);
/* StopTask with reason; 0 or -1. */
int ecs_stop_task(struct ecs *e, const char *arn, const char *reason,
		  struct rc_err *err);

/* ecs_poll.c */
/* A new run to watch (not yet added); automation_id NULL = learn it from
 * the task's tags. */
struct ecs_run *ecs_run_new(struct ecs *e, const char *run_id, const char *arn,
			    const char *automation_id, const char *log_path,
			    int64_t log_max);
void ecs_run_free(struct ecs_run *r);
/* Set where the run's log stream is, from r->t and the task id. */
void ecs_run_set_stream(struct ecs_run *r);
/* Add r to the watched runs and wake the poller; a run already watched
 * with the same id and task is kept and r freed.  Takes ownership. */
void ecs_watch(struct ecs *e, struct ecs_run *r);
/* Save the task ARN and log position next to the log; best effort. */
void ecs_sidecar_save(const struct ecs_run *r);
/* What the sidecar holds. */
struct ecs_sidecar {
	char *arn;
	char *token;	    /* NULL = from the head */
	int64_t log_max;    /* the cap start was given; 0 = unknown */
	int64_t started_at; /* ms since the epoch; 0 = unknown */
};
/* Read it back: 0 and *sc filled (clear with ecs_sidecar_clear), 1 if
 * there is no (readable) sidecar. */
int ecs_sidecar_load(const char *log_path, struct ecs_sidecar *sc);
void ecs_sidecar_clear(struct ecs_sidecar *sc);
/* Resume log bookkeeping from the local log file (size, truncation). */
void ecs_log_resume(struct ecs_run *r);
int ecs_poller_start(struct ecs *e, struct rc_err *err);
void ecs_poller_stop(struct ecs *e);

/* What a STOPPED task means for the run (pure; see ecs_poll.c). */
struct ecs_outcome {
	enum run_state state;
	bool has_exit_code;
	int exit_code;
	char reason[512]; /* "" = none */
};
void ecs_task_outcome(json_t *task, const char *container, enum ecs_stop stop,
		      int64_t timeout_ms, struct ecs_outcome *o);

#endif
