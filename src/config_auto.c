/*
 * config_auto.c - the `automations` list: each automation's command,
 * resources, isolation, environment, access, concurrency, retries,
 * schedule, webhook and notify sections, the checks that need the whole
 * automation (concurrency_key, the schedule's parameters), and freeing an
 * automation again.  Its `parameters` are read by config_param.c.
 */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog.h"
#include "cron.h"
#include "tz.h"

static const char *const role_names[] = { "viewer", "operator", "admin", NULL };

static bool valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 63 ||
	    !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int load_resources(struct cfg_loader *L, yaml_node_t *n,
			  struct resources *res)
{
	static const char *const keys[] = { "cpu", "memory", "pids", "timeout",
					    NULL };

	if (cfg_want_map(L, n, "resources") < 0 ||
	    cfg_check_keys(L, n, "`resources`", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = cfg_text(cfg_node(L, p->key));
		yaml_node_t *v = cfg_node(L, p->value);
		int r = 0;

		if (!strcmp(k, "cpu")) {
			r = cfg_get_num(L, v, k, &res->cpu);
			if (r == 0 && (res->cpu <= 0 || res->cpu > 4096))
				r = cfg_fail(L, v,
					     "`cpu` must be a number of cores "
					     "greater than 0, e.g. 0.5 or 2");
		} else if (!strcmp(k, "memory"))
			r = cfg_get_size(L, v, k, &res->memory);
		else if (!strcmp(k, "pids"))
			r = cfg_get_int(L, v, k, 1, 4194304, &res->pids);
		else if (!strcmp(k, "timeout"))
			r = cfg_get_duration(L, v, k, &res->timeout_ms);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int load_isolation(struct cfg_loader *L, yaml_node_t *n,
			  struct isolation *iso)
{
	static const char *const keys[] = { "network", "writable", "readable",
					    "root", NULL };

	if (cfg_want_map(L, n, "isolation") < 0 ||
	    cfg_check_keys(L, n, "`isolation`", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = cfg_text(cfg_node(L, p->key));
		yaml_node_t *v = cfg_node(L, p->value);

		if (!strcmp(k, "network")) {
			if (cfg_get_bool(L, v, k, &iso->network) < 0)
				return -1;
		} else if (!strcmp(k, "writable") || !strcmp(k, "readable")) {
			char ***list = !strcmp(k, "writable") ? &iso->writable :
								&iso->readable;
			char **given = NULL;

			if (cfg_get_strv(L, v, k, false, &given) < 0)
				return -1;
			for (char **w = given; *w; w++) {
				char *abs = cfg_resolve_path(L->dir, *w);

				strv_add_unique(list, abs);
				free(abs);
			}
			strv_free(given);
		} else if (!strcmp(k, "root")) {
			char *tmp = NULL, *abs;
			struct stat st;
			int r = cfg_get_str(L, v, k, &tmp);

			if (r < 0)
				return -1;
			abs = cfg_resolve_path(L->dir, tmp);
			free(tmp);
			free(iso->root);
			iso->root = abs;
			if (stat(abs, &st) < 0 || !S_ISDIR(st.st_mode))
				return cfg_fail(
					L, v,
					"`root` \"%s\" is not an "
					"existing folder; create it or fix "
					"the path",
					abs);
		}
	}
	return 0;
}

static int load_env(struct cfg_loader *L, yaml_node_t *n, struct automation *a)
{
	size_t len, i = 0;

	if (cfg_want_map(L, n, "env") < 0)
		return -1;
	len = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	a->env = xcalloc(len + 1, sizeof(char *));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node(L, p->key),
			    *v = cfg_node(L, p->value);
		const char *name = cfg_text(k), *val;

		if (!cfg_valid_name(name, false))
			return cfg_fail(L, k,
					"`env` name \"%s\" is not valid; use "
					"letters, digits and '_', not "
					"starting with a digit",
					name);
		if (!strcmp(name, "PATH") || !strcmp(name, "HOME") ||
		    !strcmp(name, "LANG") || str_has_prefix(name, "RUNCELL_"))
			return cfg_fail(L, k,
					"`env` may not set %s: the service "
					"sets PATH, HOME, LANG and RUNCELL_* "
					"itself; remove it",
					name);
		if (cfg_want_scalar(L, v, name, &val) < 0)
			return -1;
		a->env[i++] =
			xasprintf("%s=%s", name, cfg_is_null(v) ? "" : val);
	}
	return 0;
}

/* A cell must be able to read the scripts its command names, wherever they
 * live (a checkout under /tmp is invisible behind the cell's private /tmp):
 * the folder of every absolute command element that is a regular file is
 * added to isolation.readable. */
static void add_command_folders(struct automation *a)
{
	for (char **c = a->command; c && *c; c++) {
		struct stat st;
		char *dir, *slash;

		if (**c != '/' || stat(*c, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		dir = xstrdup(*c);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			strv_add_unique(&a->iso.readable, dir);
		}
		free(dir);
	}
}

/* command elements that name files relative to the config (contain '/',
 * are not absolute, options or URLs) are made absolute. */
static int load_command(struct cfg_loader *L, yaml_node_t *n,
			struct automation *a)
{
	if (cfg_get_strv(L, n, "command", true, &a->command) < 0)
		return -1;
	for (char **c = a->command; *c; c++) {
		char *abs;

		if (!strchr(*c, '/') || **c == '/' || **c == '-' ||
		    strstr(*c, "://"))
			continue;
		abs = cfg_resolve_path(L->dir, *c);
		free(*c);
		*c = abs;
	}
	return 0;
}

/* retries: {max, backoff, on: [failed, timed_out, lost]}; the bits are
 * those of enum run_state (store.h). */
static int load_retries(struct cfg_loader *L, yaml_node_t *n,
			struct retry_policy *rp)
{
	static const char *const keys[] = { "max", "backoff", "on", NULL };
	static const char *const states[] = { "failed", "timed_out", "lost",
					      NULL };
	static const unsigned bits[] = { 1u << 4, 1u << 5, 1u << 7 };

	rp->backoff_ms = 10000;
	rp->on_mask = bits[0] | bits[1] | bits[2];
	if (cfg_want_map(L, n, "retries") < 0 ||
	    cfg_check_keys(L, n, "`retries`", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = cfg_text(cfg_node(L, p->key));
		yaml_node_t *v = cfg_node(L, p->value);
		char **on = NULL;
		int r = 0;

		if (!strcmp(k, "max"))
			r = cfg_get_int(L, v, k, 0, 100, &rp->max);
		else if (!strcmp(k, "backoff"))
			r = cfg_get_duration(L, v, k, &rp->backoff_ms);
		else if (!strcmp(k, "on")) {
			r = cfg_get_strv(L, v, k, true, &on);
			rp->on_mask = 0;
			for (char **o = on; r == 0 && *o; o++) {
				size_t i = 0;

				while (states[i] && strcmp(states[i], *o))
					i++;
				if (states[i])
					rp->on_mask |= bits[i];
				else
					r = cfg_fail(
						L, v,
						"`on` entry \"%s\" is "
						"not a state a run is retried "
						"from; use failed, timed_out "
						"or lost",
						*o);
			}
			strv_free(on);
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

/* concurrency_key must name a declared parameter; a key without
 * `concurrency` means one run per value. */
static int check_concurrency_key(struct cfg_loader *L, yaml_node_t *v,
				 yaml_node_t *n, struct automation *a)
{
	for (size_t i = 0; i < a->n_params; i++)
		if (!strcmp(a->params[i].name, a->concurrency_key)) {
			if (!cfg_map_get(L, n, "concurrency"))
				a->concurrency = 1;
			return 0;
		}
	return cfg_fail(L, v,
			"`concurrency_key` \"%s\" is not a parameter of "
			"this automation; name one of its `parameters`",
			a->concurrency_key);
}

/* --- schedule, webhook, notify --- */

/* The run states notify `on` may name, and their enum run_state bits
 * (store.h; config.h does not depend on the store). */
static const char *const notify_states[] = { "succeeded", "failed", "timed_out",
					     "cancelled", "lost",   NULL };
static const unsigned notify_bits[] = { 1u << 3, 1u << 4, 1u << 5, 1u << 6,
					1u << 7 };

static bool env_name_ok(const char *s)
{
	return *s && !(*s >= '0' && *s <= '9') &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(s);
}

/* schedule: "CRON" or {cron, timezone, catch_up, parameters}.  The
 * parameters are checked against the automation later, once its
 * `parameters` are known (see check_schedule_params). */
static int load_schedule(struct cfg_loader *L, yaml_node_t *n,
			 struct automation *a)
{
	static const char *const keys[] = { "cron", "timezone", "catch_up",
					    "parameters", NULL };
	struct schedule_def *sd = xcalloc(1, sizeof(*sd));
	yaml_node_t *cron_node = n;
	struct rc_err e;

	a->schedule = sd;
	sd->line = (int)n->start_mark.line + 1;
	sd->catch_up = true;
	if (n->type == YAML_SCALAR_NODE) {
		if (cfg_get_str(L, n, "schedule", &sd->cron) < 0)
			return -1;
	} else {
		if (cfg_want_map(L, n, "schedule") < 0 ||
		    cfg_check_keys(L, n, "`schedule`", keys) < 0)
			return -1;
		cron_node = cfg_map_get(L, n, "cron");
		if (!cron_node)
			return cfg_fail(L, n,
					"`schedule` needs `cron`, e.g. "
					"cron: \"0 3 * * *\"");
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			const char *k = cfg_text(cfg_node(L, p->key));
			yaml_node_t *v = cfg_node(L, p->value);
			int r = 0;

			if (!strcmp(k, "cron"))
				r = cfg_get_str(L, v, k, &sd->cron);
			else if (!strcmp(k, "timezone"))
				r = cfg_get_str(L, v, k, &sd->timezone);
			else if (!strcmp(k, "catch_up"))
				r = cfg_get_bool(L, v, k, &sd->catch_up);
			else if (!strcmp(k, "parameters")) {
				r = cfg_want_map(L, v, "schedule.parameters");
				if (r == 0)
					r = cfg_to_json(L, v, &sd->parameters);
			}
			if (r < 0)
				return -1;
		}
	}
	rc_err_clear(&e);
	if (cron_parse(sd->cron, &sd->expr, &e) < 0)
		return cfg_fail(L, cron_node, "`schedule`: %s", e.msg);
	if (!sd->timezone)
		sd->timezone = xstrdup("UTC");
	if (tz_load(sd->timezone, &sd->tz, &e) < 0)
		return cfg_fail(L,
				cfg_map_get(L, n, "timezone") ?
					cfg_map_get(L, n, "timezone") :
					n,
				"`timezone`: %s", e.msg);
	return 0;
}

/* The schedule's parameters must make a valid run of the automation. */
static int check_schedule_params(struct cfg_loader *L, yaml_node_t *n,
				 const struct automation *a)
{
	yaml_node_t *at = n->type == YAML_MAPPING_NODE ?
				  cfg_map_get(L, n, "parameters") :
				  NULL;
	json_t *norm = NULL;
	struct rc_err e;

	rc_err_clear(&e);
	if (catalog_validate(a, a->schedule->parameters, &norm, &e) < 0)
		return cfg_fail(
			L, at ? at : n,
			"scheduled runs would be refused: "
			"%s; give it in schedule.parameters or declare a "
			"default",
			e.msg);
	json_decref(norm);
	return 0;
}

/* webhook: {secret_env: NAME}. */
static int load_webhook(struct cfg_loader *L, yaml_node_t *n,
			struct automation *a)
{
	static const char *const keys[] = { "secret_env", NULL };
	yaml_node_t *v;

	if (cfg_want_map(L, n, "webhook") < 0 ||
	    cfg_check_keys(L, n, "`webhook`", keys) < 0)
		return -1;
	v = cfg_map_get(L, n, "secret_env");
	if (!v)
		return cfg_fail(L, n,
				"`webhook` needs `secret_env`: the name of "
				"the environment variable holding the "
				"HMAC secret, e.g. secret_env: "
				"DEPLOY_HOOK_SECRET");
	if (cfg_get_str(L, v, "secret_env", &a->webhook_secret_env) < 0)
		return -1;
	if (!env_name_ok(a->webhook_secret_env))
		return cfg_fail(L, v,
				"`secret_env` \"%s\" is not an environment "
				"variable name; use A-Z, 0-9 and _",
				a->webhook_secret_env);
	return 0;
}

/* notify: {url, on, timeout, attempts}.  base (server.notify, may be
 * NULL) gives the values of keys that are not set here. */
int cfg_load_notify(struct cfg_loader *L, yaml_node_t *n,
		    const struct notify_def *base, struct notify_def **out)
{
	static const char *const keys[] = { "url", "on", "timeout", "attempts",
					    NULL };
	struct notify_def *nd = xcalloc(1, sizeof(*nd));

	*out = nd;
	nd->line = (int)n->start_mark.line + 1;
	nd->on_mask = notify_bits[1] | notify_bits[2] | notify_bits[4];
	nd->timeout_ms = 10000;
	nd->attempts = 5;
	if (base) {
		nd->url = xstrdup(base->url);
		nd->on_mask = base->on_mask;
		nd->timeout_ms = base->timeout_ms;
		nd->attempts = base->attempts;
	}
	if (cfg_want_map(L, n, "notify") < 0 ||
	    cfg_check_keys(L, n, "`notify`", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = cfg_text(cfg_node(L, p->key));
		yaml_node_t *v = cfg_node(L, p->value);
		char **on = NULL;
		int r = 0;

		if (!strcmp(k, "url")) {
			r = cfg_get_str(L, v, k, &nd->url);
			if (r == 0 && ((!str_has_prefix(nd->url, "http://") &&
					!str_has_prefix(nd->url, "https://")) ||
				       strpbrk(nd->url, " \t\r\n")))
				r = cfg_fail(L, v,
					     "`url` \"%s\" is not an http:// "
					     "or https:// URL",
					     nd->url);
		} else if (!strcmp(k, "timeout")) {
			r = cfg_get_duration(L, v, k, &nd->timeout_ms);
			if (r == 0 &&
			    (nd->timeout_ms < 1 || nd->timeout_ms > 300000))
				r = cfg_fail(L, v,
					     "`timeout` must be between "
					     "1ms and 5m");
		} else if (!strcmp(k, "attempts")) {
			r = cfg_get_int(L, v, k, 1, 20, &nd->attempts);
		} else if (!strcmp(k, "on")) {
			r = cfg_get_strv(L, v, k, false, &on);
			nd->on_mask = 0;
			for (char **o = on; r == 0 && *o; o++) {
				size_t i = 0;

				while (notify_states[i] &&
				       strcmp(notify_states[i], *o))
					i++;
				if (notify_states[i])
					nd->on_mask |= notify_bits[i];
				else
					r = cfg_fail(
						L, v,
						"`on` entry \"%s\" is "
						"not a final state; use "
						"succeeded, failed, timed_out, "
						"cancelled or lost",
						*o);
			}
			strv_free(on);
		}
		if (r < 0)
			return -1;
	}
	if (!nd->url)
		return cfg_fail(L, n,
				"`notify` needs `url` (here or in "
				"server.notify), e.g. url: "
				"https://hooks.example.com/runcell");
	return 0;
}

static void schedule_free(struct schedule_def *sd)
{
	if (!sd)
		return;
	free(sd->cron);
	cron_free(sd->expr);
	free(sd->timezone);
	tz_free(sd->tz);
	json_decref(sd->parameters);
	free(sd);
}

void cfg_notify_def_free(struct notify_def *nd)
{
	if (!nd)
		return;
	free(nd->url);
	free(nd);
}

static int load_automation(struct cfg_loader *L, yaml_node_t *n,
			   struct config *cfg, struct automation *a)
{
	static const char *const keys[] = {
		"id",
		"name",
		"description",
		"command",
		"parameters",
		"resources",
		"isolation",
		"executor",
		"executor_options",
		"allow",
		"env",
		"secrets",
		"concurrency",
		"concurrency_key",
		"retries",
		"schedule",
		"webhook",
		"notify",
		NULL,
	};
	yaml_node_t *id, *ckey = NULL, *sched = NULL;

	a->line = (int)n->start_mark.line + 1;
	L->where[0] = '\0';
	if (cfg_want_map(L, n, "automations entry") < 0)
		return -1;
	id = cfg_map_get(L, n, "id");
	if (!id)
		return cfg_fail(L, n,
				"an automation is missing `id`; add e.g. "
				"id: file-organizer");
	if (cfg_get_str(L, id, "id", &a->id) < 0)
		return -1;
	if (!valid_id(a->id))
		return cfg_fail(L, id,
				"automation id \"%s\" is not valid; use 1 to "
				"63 lowercase letters, digits, '_' or '-', "
				"starting with a letter or digit",
				a->id);
	for (size_t i = 0; i + 1 < cfg->n_autos; i++)
		if (!strcmp(cfg->autos[i].id, a->id))
			return cfg_fail(L, id,
					"automation id \"%s\" is used twice "
					"(also on line %d); ids must be "
					"unique",
					a->id, cfg->autos[i].line);
	snprintf(L->where, sizeof(L->where), "automation \"%s\": ", a->id);
	if (cfg_check_keys(L, n, "an automation", keys) < 0)
		return -1;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = cfg_text(cfg_node(L, p->key));
		yaml_node_t *v = cfg_node(L, p->value);
		int r = 0;

		if (!strcmp(k, "name"))
			r = cfg_get_str(L, v, k, &a->name);
		else if (!strcmp(k, "description"))
			r = cfg_get_str(L, v, k, &a->description);
		else if (!strcmp(k, "command"))
			r = load_command(L, v, a);
		else if (!strcmp(k, "parameters"))
			r = cfg_load_params(L, v, a);
		else if (!strcmp(k, "resources"))
			r = load_resources(L, v, &a->res);
		else if (!strcmp(k, "isolation"))
			r = load_isolation(L, v, &a->iso);
		else if (!strcmp(k, "executor"))
			r = cfg_get_executor(L, v, false, &a->executor);
		else if (!strcmp(k, "executor_options")) {
			r = cfg_want_map(L, v, k);
			if (r == 0)
				r = cfg_to_json(L, v, &a->executor_options);
		} else if (!strcmp(k, "allow")) {
			r = cfg_get_strv(L, v, k, false, &a->allow);
			for (char **role = a->allow; r == 0 && *role; role++)
				if (!cfg_in_list(*role, role_names))
					r = cfg_fail(L, v,
						     "`allow` entry \"%s\" is "
						     "not a role; use viewer, "
						     "operator or admin",
						     *role);
		} else if (!strcmp(k, "env")) {
			r = load_env(L, v, a);
		} else if (!strcmp(k, "concurrency")) {
			r = cfg_get_int(L, v, k, 0, 1000000, &a->concurrency);
		} else if (!strcmp(k, "concurrency_key")) {
			r = cfg_get_str(L, v, k, &a->concurrency_key);
			ckey = v;
		} else if (!strcmp(k, "retries")) {
			r = load_retries(L, v, &a->retries);
		} else if (!strcmp(k, "schedule")) {
			sched = v;
			r = load_schedule(L, v, a);
		} else if (!strcmp(k, "webhook")) {
			r = load_webhook(L, v, a);
		} else if (!strcmp(k, "notify")) {
			r = cfg_load_notify(L, v, cfg->server.notify,
					    &a->notify);
		} else if (!strcmp(k, "secrets")) {
			r = cfg_get_strv(L, v, k, false, &a->secrets);
			for (char **sn = a->secrets; r == 0 && *sn; sn++)
				if (!**sn ||
				    strspn(*sn,
					   "ABCDEFGHIJKLMNOPQRS"
					   "TUVWXYZ0123456789_") != strlen(*sn))
					r = cfg_fail(L, v,
						     "`secrets` entry \"%s\" "
						     "is not an environment "
						     "variable name; use "
						     "A-Z, 0-9 and _",
						     *sn);
		}
		if (r < 0)
			return -1;
	}
	if (!a->command)
		return cfg_fail(L, n,
				"`command` is missing; add the program and "
				"its arguments, e.g. command: [python3, "
				"scripts/job.py]");
	if (a->concurrency_key && check_concurrency_key(L, ckey, n, a) < 0)
		return -1;
	if (sched && check_schedule_params(L, sched, a) < 0)
		return -1;
	if (!a->name)
		a->name = xstrdup(a->id);
	add_command_folders(a);
	L->where[0] = '\0';
	return 0;
}

int cfg_load_automations(struct cfg_loader *L, yaml_node_t *n,
			 struct config *cfg)
{
	size_t len;

	if (!n || cfg_is_null(n))
		return 0;
	if (cfg_want_seq(L, n, "automations") < 0)
		return -1;
	len = (size_t)(n->data.sequence.items.top -
		       n->data.sequence.items.start);
	cfg->autos = xcalloc(len + 1, sizeof(*cfg->autos));
	for (size_t i = 0; i < len; i++) {
		cfg->n_autos = i + 1;
		if (load_automation(
			    L, cfg_node(L, n->data.sequence.items.start[i]),
			    cfg, &cfg->autos[i]) < 0)
			return -1;
	}
	return 0;
}

void cfg_automation_clear(struct automation *a)
{
	for (size_t i = 0; i < a->n_params; i++) {
		struct param_def *p = &a->params[i];

		free(p->name);
		free(p->description);
		json_decref(p->def);
		if (p->pattern)
			regfree(&p->pattern_re);
		free(p->pattern);
		strv_free(p->choices);
		strv_free(p->roots);
	}
	free(a->params);
	free(a->id);
	free(a->name);
	free(a->description);
	strv_free(a->command);
	strv_free(a->iso.writable);
	strv_free(a->iso.readable);
	free(a->iso.root);
	free(a->executor);
	strv_free(a->allow);
	strv_free(a->env);
	strv_free(a->secrets);
	schedule_free(a->schedule);
	free(a->webhook_secret_env);
	cfg_notify_def_free(a->notify);
	json_decref(a->executor_options);
	free(a->concurrency_key);
}
