/*
 * supervisor.h - local runs that outlive the service: the engine behind the
 * "process" and "sandbox" executors.
 *
 * Three kinds of process take part (see DESIGN.md "Isolation on one
 * machine"):
 *
 *   launcher    forked from runcelld at start-up, before any thread exists.
 *               Single-threaded; in isolate mode it opens the cell runtime
 *               once.  For each run it receives the spec (JSON) and one end
 *               of a fresh socketpair, forks a supervisor and replies with
 *               its pid.  It dies with the service (PR_SET_PDEATHSIG).
 *   supervisor  one per run, in its own session.  Owns the program (a
 *               process group, or a cell), its log file, its timeout and its
 *               durable record <state_dir>/<run_id>/status.json.  Serves
 *               events on the socketpair and on <state_dir>/<run_id>/sock.
 *               Survives the service and its launcher.
 *   monitor     a thread in runcelld that follows every run's events and
 *               turns them into exec_event callbacks.
 *
 * The event protocol (socketpair and socket alike) is newline-delimited
 * JSON, one object per line:
 *   {"event":"running","pid":N,"at":MS}
 *   {"event":"exit","state":"succeeded|failed|timed_out|cancelled",
 *    "exit_code":N (absent if none),"reason":"..." (absent if none),
 *    "at":MS,"started_at":MS,"cpu_usec":N,"peak_memory":N}
 * A client that connects to the socket first receives the current state.
 * A client may send "stop\n" to ask for the run to end.
 *
 * The record, status.json, is written atomically and durably: first once
 * the program runs ("state":"running"), then at the end ("state":"exited",
 * with "result" holding the terminal state).  Only the log file and the
 * program itself come before the running event; the folder, the socket
 * (always before the first record) and the record follow it, off the path
 * of start latency.  A run folder without a record means the supervisor
 * died before the program could be followed (the program dies with its
 * supervisor: PR_SET_PDEATHSIG).
 *
 * Files: supervisor.c (the per-run supervisor), spawn.c (its process-mode
 * child), launcher.c (the launcher, the spec's JSON form), launcher_main.c
 * (main() of runcell-launcher, the lean executable the launcher runs in),
 * monitor.c (the service side and the executor ops).
 */
#ifndef RUNCELL_EXEC_SUPERVISOR_H
#define RUNCELL_EXEC_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "../exec.h"
#include "cell.h"

/* How sup_backend_open sets the backend up. */
struct sup_options {
	bool isolate;			 /* run programs in cells */
	struct cell_runtime_config cell; /* used when isolate; borrowed for
					    the duration of the open call */
};

/*
 * Open a local backend on ex: create <cfg->server.data_dir>/cells (0700),
 * fork the launcher and start the monitor thread.  Call before any other
 * thread exists, from the thread that lives as long as the service (the
 * launcher's PR_SET_PDEATHSIG follows the thread that forked it).  Fills
 * ex->ops (named "sandbox" when opt->isolate, else "process") and ex->priv.
 * Returns 0, or -1 with a message; when the launcher cannot start
 * (cell_runtime_open failed) the message is the launcher's, naming the
 * missing feature.  ex->ops->close kills the launcher but not the
 * supervisors: runs go on and can be attached again.
 */
int sup_backend_open(struct executor *ex, const struct sup_options *opt,
		     struct rc_err *err);

/* ---- Internal to supervisor.c, spawn.c, launcher.c and monitor.c ---- */

/* Prefix of the handles this backend returns: "local:<supervisor pid>". */
#define SUP_HANDLE_PREFIX "local:"

/* A run as the launcher and supervisor hold it: everything owned. */
struct sup_run {
	char *run_id;
	char **argv;
	char **env;
	struct resources res;
	struct isolation iso;
	char *log_path;
	int64_t log_max_bytes;
	int64_t stop_grace_ms;
	char *work_dir;
	char *state_dir;
};

/* Serialize spec (plus the backend's state_dir) for the launcher.  Returns
 * a new reference. */
json_t *sup_spec_to_json(const struct exec_spec *spec, const char *state_dir);

/* Fill *r from the JSON form; 0, or -1 with a message on a malformed spec.
 * Release with sup_run_clear (also after a failure). */
int sup_spec_from_json(const json_t *j, struct sup_run *r, struct rc_err *err);
void sup_run_clear(struct sup_run *r);

/* "<state_dir>/<run_id>/<leaf>", a new string. */
char *sup_run_path(const char *state_dir, const char *run_id, const char *leaf);

/* Check that the run's socket path fits in sun_path; 0, or -1 with a
 * message telling what to shorten. */
int sup_check_sock_path(const char *state_dir, const char *run_id,
			struct rc_err *err);

/* Fork the launcher: exec runcell-launcher, found next to this process's
 * executable (the in-process launcher when it is missing, logged).  On
 * success *pid is its pid and *fd the service's end of the SOCK_SEQPACKET
 * request socket (close-on-exec).  rt_cfg is used when isolate; state_dir
 * (the backend's folder of runs) only names the service on the launcher's
 * command line. */
int sup_launcher_start(const char *state_dir, bool isolate,
		       const struct cell_runtime_config *rt_cfg, pid_t *pid,
		       int *fd, struct rc_err *err);

/* main() of runcell-launcher (launcher_main.c): argv as sup_launcher_start
 * passes it.  Returns only on bad arguments (exit status 2). */
int sup_launcher_exec_main(int argc, char **argv);

/* Send one run to the launcher on fd: the spec and chan_fd (passed, not
 * closed).  On success *sup_pid is the new supervisor's pid.  The caller
 * serializes requests on fd. */
int sup_launcher_request(int fd, const json_t *spec, int chan_fd,
			 pid_t *sup_pid, struct rc_err *err);

/*
 * Start r's program in process mode (spawn.c): a new process group, output
 * on out_fd, the run's cwd and environment.  Returns 0 with *pid and
 * *pidfd; 127 when the program could not be executed (or its work folder
 * entered) and -1 on a system failure, both with *reason (caller frees) and
 * nothing left running.
 */
int sup_spawn_process(const struct sup_run *r, int out_fd, pid_t *pid,
		      int *pidfd, char **reason);

/*
 * The supervisor of run r, running in a process forked by the launcher:
 * start the program (in a cell from rt when rt is not NULL), watch it, write
 * its record, serve events on event_fd and on its socket, then exit.  Takes
 * ownership of r and event_fd.  Never returns.
 */
void sup_supervise(struct sup_run *r, int event_fd, struct cell_runtime *rt)
	__attribute__((noreturn));

/* Become a supervisor's process: own session (setsid), name
 * "runcell-sup", stdio on /dev/null.  Done once; the launcher's spare
 * calls it before a run arrives, so it is off the start path. */
void sup_detach_process(void);

#endif
