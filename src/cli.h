/*
 * cli.h - the client commands of the runcell binary (run, status, logs,
 * stop, ls), which talk to a running server over its HTTP API.
 */
#ifndef RUNCELL_CLI_H
#define RUNCELL_CLI_H

/* Each returns the process exit code. */
int cli_run(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_logs(int argc, char **argv);
int cli_stop(int argc, char **argv);
int cli_ls(int argc, char **argv);

#endif
