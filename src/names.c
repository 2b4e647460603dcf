/*
 * names.c - the names of run states and roles, as the API, the store and
 * the supervisors spell them.  No dependencies, so the lean launcher
 * executable links it too.
 */
#include <stdbool.h>
#include <string.h>

#include "store.h"

static const char *const state_names[] = {
	[RUN_QUEUED] = "queued",       [RUN_STARTING] = "starting",
	[RUN_RUNNING] = "running",     [RUN_SUCCEEDED] = "succeeded",
	[RUN_FAILED] = "failed",       [RUN_TIMED_OUT] = "timed_out",
	[RUN_CANCELLED] = "cancelled", [RUN_LOST] = "lost",
};

#define STATE_COUNT ((int)(sizeof(state_names) / sizeof(state_names[0])))

static const char *const role_names[] = {
	[ROLE_VIEWER] = "viewer",
	[ROLE_OPERATOR] = "operator",
	[ROLE_ADMIN] = "admin",
};

#define ROLE_COUNT ((int)(sizeof(role_names) / sizeof(role_names[0])))

/* --- names --- */

/* The lowercase name of a state ("timed_out"); "unknown" if out of range.
 * The string is static. */
const char *run_state_name(enum run_state st)
{
	if ((int)st < 0 || (int)st >= STATE_COUNT)
		return "unknown";
	return state_names[st];
}

/* The state named name, or -1 if there is none. */
int run_state_parse(const char *name)
{
	int i;

	if (!name)
		return -1;
	for (i = 0; i < STATE_COUNT; i++)
		if (strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

/* True for the states a run never leaves. */
bool run_state_terminal(enum run_state st)
{
	return st == RUN_SUCCEEDED || st == RUN_FAILED || st == RUN_TIMED_OUT ||
	       st == RUN_CANCELLED || st == RUN_LOST;
}

/* The lowercase name of a role; "unknown" if out of range. Static string. */
const char *role_name(enum role r)
{
	if ((int)r < 0 || (int)r >= ROLE_COUNT)
		return "unknown";
	return role_names[r];
}

/* The role named name, or -1 if there is none. */
int role_parse(const char *name)
{
	int i;

	if (!name)
		return -1;
	for (i = 0; i < ROLE_COUNT; i++)
		if (strcmp(name, role_names[i]) == 0)
			return i;
	return -1;
}
