/*
 * launcher_main.c - main() of build/runcell-launcher, the lean executable
 * the launcher runs in (see launcher.c): runcelld forks and execs it at
 * start-up.  It holds only the launcher, supervisor, spawn and cell code,
 * so the supervisors and cell inits forked from it are cheap to create and
 * to tear down.
 */
#include "supervisor.h"

int main(int argc, char **argv)
{
	return sup_launcher_exec_main(argc, argv);
}
