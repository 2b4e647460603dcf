/*
 * cgroup.c - the cell's control groups on cgroup v1, v2 and hybrid hosts:
 * detection from /proc/self/mountinfo and /proc/self/cgroup, and the pool
 * of slot cgroups.  The per-run work on a slot is in cgroup_slot.c.
 */
#include "cgroup_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *const cg_ctrl_names[CG_NCTRL] = {
	"memory", "cpu", "cpuacct", "pids", "freezer",
};

/* A parsed line of /proc/self/mountinfo that is a cgroup mount. */
struct cg_mount {
	char *root; /* root of the mount within its hierarchy */
	char *dir;  /* mount point */
	char *opts; /* super options: the v1 controllers */
	bool v2;
};
void cg_nap_us(long us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = us * 1000 };

	nanosleep(&ts, NULL);
}

int cg_write(const struct cg *cg, const char *dir, const char *file,
	     const char *val)
{
	char path[PATH_MAX];
	int fd, r = 0;
	size_t n = strlen(val);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path,
		  O_WRONLY | O_CLOEXEC | (cg->plain ? O_CREAT | O_TRUNC : 0),
		  0644);
	if (fd < 0)
		return -errno;
	if (write(fd, val, n) != (ssize_t)n)
		r = errno ? -errno : -EIO;
	close(fd);
	return r;
}

/* Read a small file into buf (NUL-terminated); returns its length or
 * -errno. */
ssize_t cg_read(const char *dir, const char *file, char *buf, size_t n)
{
	char path[PATH_MAX];
	ssize_t got = 0, r;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((size_t)got < n - 1) {
		r = read(fd, buf + got, n - 1 - (size_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	close(fd);
	buf[got] = '\0';
	return got;
}

/* The number after "key " at the start of a line of buf, or -1. */
static int64_t cg_key(const char *buf, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = buf; p && *p;
	     p = strchr(p, '\n'), p = p ? p + 1 : p) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtoll(p + kl + 1, NULL, 10);
	}
	return -1;
}

int64_t cg_read_key(const char *dir, const char *file, const char *key)
{
	char buf[1024];

	if (cg_read(dir, file, buf, sizeof(buf)) < 0)
		return -1;
	return cg_key(buf, key);
}

int64_t cg_read_num(const char *dir, const char *file)
{
	char buf[64];

	if (cg_read(dir, file, buf, sizeof(buf)) <= 0)
		return -1;
	return strtoll(buf, NULL, 10);
}

bool cg_path_exists(const char *dir, const char *file)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}
/* Whether the comma-separated list has the word. */
static bool list_has(const char *list, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == wl && strncmp(p, word, wl) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] &&
		    r[3]) {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 +
				      (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* Cut the next sep-separated word off *p (NULL when none is left). */
static char *next_word(char **p, char sep)
{
	char *w = *p, *e;

	if (!w || !*w)
		return NULL;
	e = strchr(w, sep);
	if (e) {
		*e = '\0';
		*p = e + 1;
	} else {
		*p = w + strlen(w);
	}
	return w;
}

/* The cgroup mounts of this process, from /proc/self/mountinfo:
 * "id parent maj:min root mountpoint opts [tags] - fstype source sopts". */
static int read_mounts(struct cg_mount **out, size_t *n_out, struct rc_err *err)
{
	struct cg_mount *m = NULL;
	size_t n = 0, len;
	char *text, *rest, *line;

	if (read_file("/proc/self/mountinfo", 16 << 20, &text, &len, err) < 0)
		return rc_err_wrap(err, "reading the mount table");
	rest = text;
	while ((line = next_word(&rest, '\n'))) {
		char *f[5], *sep, *tail, *fs, *opts, *lp = line;
		int i;

		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		tail = sep + 3;
		for (i = 0; i < 5 && (f[i] = next_word(&lp, ' ')); i++)
			;
		if (i < 5)
			continue;
		fs = next_word(&tail, ' ');
		(void)next_word(&tail, ' ');
		opts = next_word(&tail, ' ');
		if (!fs || (strcmp(fs, "cgroup") && strcmp(fs, "cgroup2")))
			continue;
		m = xrealloc(m, (n + 1) * sizeof(*m));
		unescape(f[3]);
		unescape(f[4]);
		m[n].root = xstrdup(f[3]);
		m[n].dir = xstrdup(f[4]);
		m[n].opts = xstrdup(opts ? opts : "");
		m[n].v2 = strcmp(fs, "cgroup2") == 0;
		n++;
	}
	free(text);
	*out = m;
	*n_out = n;
	return 0;
}

static void free_mounts(struct cg_mount *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].root);
		free(m[i].dir);
		free(m[i].opts);
	}
	free(m);
}

/* Our own cgroup path in the hierarchy holding ctrl (NULL: the v2 one),
 * from /proc/self/cgroup.  Returns a new string or NULL. */
static char *own_path(const char *self, const char *ctrl)
{
	const char *p = self;

	while (p && *p) {
		const char *c1 = strchr(p, ':');
		const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		const char *e = strchr(p, '\n');
		size_t pl;

		if (!c2)
			break;
		pl = e ? (size_t)(e - c2 - 1) : strlen(c2 + 1);
		if (ctrl) {
			char *list = xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
			bool hit = list_has(list, ctrl);

			free(list);
			if (hit)
				return xstrndup(c2 + 1, pl);
		} else if (c2 == c1 + 1 && strncmp(p, "0:", 2) == 0) {
			return xstrndup(c2 + 1, pl);
		}
		p = e ? e + 1 : NULL;
	}
	return NULL;
}

/* Folder of our cgroup: the mount point plus our path below the mount's
 * root (they differ where a container bind-mounts part of a hierarchy). */
static char *own_dir(const struct cg_mount *m, const char *path)
{
	size_t rl = strlen(m->root);

	if (!path)
		path = "/";
	if (strcmp(m->root, "/") != 0) {
		if (strncmp(path, m->root, rl) == 0 &&
		    (path[rl] == '/' || path[rl] == '\0'))
			path += rl;
		else
			path = "";
	}
	if (strcmp(path, "/") == 0)
		path = "";
	return xasprintf("%s%s", m->dir, path);
}

/* cgroup v2: make sure cpu, memory and pids are enabled below base.  A
 * cgroup with processes in it cannot hand controllers to its children
 * (the "no internal processes" rule).  When base is the root of our cgroup
 * namespace (a container), its processes are moved into base/init first,
 * as container entry points do; elsewhere the error says how to start
 * runcell in a delegated cgroup. */
static int v2_enable(struct cg *cg, const char *base, bool ns_root,
		     struct rc_err *err)
{
	static const char *const want = "+cpu +memory +pids";
	char buf[256];
	int r;

	if (cg_read(base, "cgroup.subtree_control", buf, sizeof(buf)) >= 0 &&
	    strstr(buf, "cpu") && strstr(buf, "memory") && strstr(buf, "pids"))
		return 0;
	r = cg_write(cg, base, "cgroup.subtree_control", want);
	if (r == -EBUSY && ns_root && !cg->plain) {
		char *init = xasprintf("%s/init", base);
		char procs[65536];
		ssize_t n;

		(void)mkdir(init, 0755);
		n = cg_read(base, "cgroup.procs", procs, sizeof(procs));
		for (char *p = procs; n > 0 && *p;) {
			char *e = strchr(p, '\n');

			if (e)
				*e = '\0';
			if (*p)
				(void)cg_write(cg, init, "cgroup.procs", p);
			p = e ? e + 1 : p + strlen(p);
		}
		free(init);
		r = cg_write(cg, base, "cgroup.subtree_control", want);
	}
	if (r < 0)
		return rc_err_set(
			err, -r,
			"cannot enable the cpu, memory and pids "
			"controllers below %s: %s%s",
			base, strerror(-r),
			r == -EBUSY ?
				" (that cgroup holds processes; "
				"start runcell in a cgroup with delegated "
				"controllers, e.g. systemd Delegate=yes with "
				"DelegateSubgroup=)" :
				"");
	return 0;
}

static int make_dir(const char *path, struct rc_err *err)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return rc_err_set(err, errno, "cannot create cgroup %s: %s",
				  path, strerror(errno));
	return 0;
}

static int make_slots(const char *parent, int nslots, struct rc_err *err)
{
	char path[PATH_MAX];

	if (make_dir(parent, err) < 0)
		return -1;
	for (int i = 0; i < nslots; i++) {
		snprintf(path, sizeof(path), "%s/slot%d", parent, i);
		if (make_dir(path, err) < 0)
			return -1;
	}
	return 0;
}

/* Find the controllers (v1 mounts, then cgroup2) and set cg->v1/v2 to the
 * parent folders to use. */
static int detect_host(struct cg *cg, const char *name, bool *v2_ns_root,
		       struct rc_err *err)
{
	struct cg_mount *m = NULL, *m2 = NULL;
	size_t n = 0;
	char *self = NULL, *path;
	size_t len;
	int ret = -1;

	if (read_mounts(&m, &n, err) < 0)
		return -1;
	if (read_file("/proc/self/cgroup", 1 << 20, &self, &len, err) < 0) {
		rc_err_wrap(err, "reading this process's cgroups");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (m[i].v2) {
			if (!m2)
				m2 = &m[i];
			continue;
		}
		for (int c = 0; c < CG_NCTRL; c++) {
			if (cg->v1[c] || !list_has(m[i].opts, cg_ctrl_names[c]))
				continue;
			path = own_path(self, cg_ctrl_names[c]);
			{
				char *dir = own_dir(&m[i], path);

				cg->v1[c] = xasprintf("%s/%s", dir, name);
				free(dir);
			}
			free(path);
		}
	}
	if (m2) {
		char *dir;

		path = own_path(self, NULL);
		*v2_ns_root = !path || strcmp(path, "/") == 0;
		dir = own_dir(m2, path);
		cg->v2 = xasprintf("%s/%s", dir, name);
		free(dir);
		free(path);
	}
	if (cg->v1[C_MEMORY]) {
		cg->mode = m2 ? CG_HYBRID : CG_V1;
	} else if (m2) {
		char buf[512];
		char *base =
			xstrndup(cg->v2, strlen(cg->v2) - strlen(name) - 1);

		cg->mode = CG_V2;
		buf[0] = '\0';
		(void)cg_read(base, "cgroup.controllers", buf, sizeof(buf));
		free(base);
		if (!strstr(buf, "memory")) {
			rc_err_set(err, ENOENT,
				   "no memory cgroup controller found (looked "
				   "for a cgroup v1 memory mount and in the "
				   "cgroup2 mount %s, whose controllers are "
				   "\"%s\")",
				   m2->dir, buf);
			goto out;
		}
	} else {
		rc_err_set(err, ENOENT,
			   "no memory cgroup controller found (looked in "
			   "/proc/self/mountinfo for a cgroup v1 memory mount "
			   "such as /sys/fs/cgroup/memory and for a cgroup2 "
			   "mount; neither is mounted)");
		goto out;
	}
	ret = 0;
out:
	free(self);
	free_mounts(m, n);
	return ret;
}

/* A plain folder tree given as root: v2 if it holds cgroup.controllers,
 * else v1 with one folder per controller (and "unified" for hybrid). */
static int detect_plain(struct cg *cg, const char *root, const char *name,
			struct rc_err *err)
{
	char dir[PATH_MAX];
	struct stat st;

	if (cg_path_exists(root, "cgroup.controllers")) {
		cg->mode = CG_V2;
		cg->v2 = xasprintf("%s/%s", root, name);
		return 0;
	}
	for (int c = 0; c < CG_NCTRL; c++) {
		snprintf(dir, sizeof(dir), "%s/%s", root, cg_ctrl_names[c]);
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			cg->v1[c] = xasprintf("%s/%s", dir, name);
	}
	if (!cg->v1[C_MEMORY])
		return rc_err_set(err, ENOENT,
				  "no memory cgroup controller found (looked "
				  "in %s/memory and for %s/cgroup.controllers)",
				  root, root);
	snprintf(dir, sizeof(dir), "%s/unified", root);
	if (cg_path_exists(dir, "cgroup.controllers")) {
		cg->mode = CG_HYBRID;
		cg->v2 = xasprintf("%s/%s", dir, name);
	} else {
		cg->mode = CG_V1;
	}
	return 0;
}

static int check_v2_controllers(const char *base, struct rc_err *err)
{
	static const char *const need[] = { "memory", "pids", "cpu" };
	char buf[512];

	buf[0] = '\0';
	(void)cg_read(base, "cgroup.controllers", buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		char word[16];
		bool hit = false;

		for (char *p = buf; *p;) {
			size_t l = strcspn(p, " \n");

			snprintf(word, sizeof(word), "%.*s", (int)l, p);
			if (strcmp(word, need[i]) == 0)
				hit = true;
			p += l;
			p += strspn(p, " \n");
		}
		if (!hit)
			return rc_err_set(err, ENOENT,
					  "no %s cgroup controller found (the "
					  "cgroup2 folder %s offers \"%.*s\")",
					  need[i], base,
					  (int)strcspn(buf, "\n"), buf);
	}
	return 0;
}

int cg_open(const char *root, const char *name, int nslots, struct cg **out,
	    struct rc_err *err)
{
	struct cg *cg = xcalloc(1, sizeof(*cg));
	bool ns_root = false;
	int ret = -1;

	cg->plain = root != NULL;
	cg->use_unified = true;
	if (root ? detect_plain(cg, root, name, err) < 0 :
		   detect_host(cg, name, &ns_root, err) < 0)
		goto out;

	if (cg->mode == CG_V2) {
		char *base =
			xstrndup(cg->v2, strlen(cg->v2) - strlen(name) - 1);

		ret = check_v2_controllers(base, err);
		if (ret == 0)
			ret = v2_enable(cg, base, ns_root, err);
		free(base);
		if (ret < 0)
			goto out;
		ret = -1;
		if (make_dir(cg->v2, err) < 0 ||
		    v2_enable(cg, cg->v2, false, err) < 0 ||
		    make_slots(cg->v2, nslots, err) < 0)
			goto out;
	} else {
		static const int need[] = { C_MEMORY, C_CPU, C_PIDS };

		for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
			if (!cg->v1[need[i]]) {
				rc_err_set(err, ENOENT,
					   "no %s cgroup controller found "
					   "(looked for a cgroup v1 mount of "
					   "it, such as /sys/fs/cgroup/%s)",
					   cg_ctrl_names[need[i]],
					   cg_ctrl_names[need[i]]);
				goto out;
			}
		}
		for (int c = 0; c < CG_NCTRL; c++) {
			bool dup = false;

			if (!cg->v1[c])
				continue;
			for (int j = 0; j < cg->n_attach; j++)
				dup |= strcmp(cg->v1[cg->attach[j]],
					      cg->v1[c]) == 0;
			if (dup)
				continue;
			cg->attach[cg->n_attach++] = c;
			if (make_slots(cg->v1[c], nslots, err) < 0)
				goto out;
		}
		cg->memsw = cg_path_exists(cg->v1[C_MEMORY],
					   "memory.memsw.limit_in_bytes");
		if (cg->mode == CG_HYBRID) {
			struct rc_err e2;

			/* The cgroup2 side is a bonus (fast spawn and kill);
			 * without it hybrid works as v1. */
			if (make_slots(cg->v2, nslots, &e2) < 0) {
				cg->mode = CG_V1;
				free(cg->v2);
				cg->v2 = NULL;
			}
		}
	}
	if (cg->v2)
		cg->v2_kill = cg_path_exists(cg->v2, "cgroup.kill") ||
			      (cg->plain && cg->mode == CG_V2);

	if (cg->mode == CG_V2)
		snprintf(cg->desc, sizeof(cg->desc),
			 "cgroup v2 (slots in %s%s)", cg->v2,
			 cg->v2_kill ? "" :
				       "; no cgroup.kill, kill by freezing");
	else
		snprintf(cg->desc, sizeof(cg->desc),
			 "cgroup %s (v1 controllers; memory slots in %s%s%s)",
			 cg->mode == CG_HYBRID ? "hybrid" : "v1",
			 cg->v1[C_MEMORY],
			 cg->mode == CG_HYBRID ? "; cgroup2 slots in " : "",
			 cg->mode == CG_HYBRID ? cg->v2 : "");
	*out = cg;
	cg = NULL;
	ret = 0;
out:
	cg_close(cg);
	return ret;
}

static int remove_tree(const char *parent)
{
	char path[PATH_MAX + 300];
	struct dirent *e;
	DIR *d;
	int ret = 0;

	d = opendir(parent);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "slot", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
		if (rmdir(path) < 0 && errno != ENOENT)
			ret = -1;
	}
	closedir(d);
	if (rmdir(parent) < 0 && errno != ENOENT)
		ret = -1;
	return ret;
}

int cg_remove(struct cg *cg)
{
	int ret = 0;

	for (int j = 0; j < cg->n_attach; j++)
		ret |= remove_tree(cg->v1[cg->attach[j]]);
	if (cg->v2)
		ret |= remove_tree(cg->v2);
	return ret ? -1 : 0;
}

void cg_close(struct cg *cg)
{
	if (!cg)
		return;
	for (int c = 0; c < CG_NCTRL; c++)
		free(cg->v1[c]);
	free(cg->v2);
	free(cg);
}

enum cg_mode cg_get_mode(const struct cg *cg)
{
	return cg->mode;
}

const char *cg_describe(const struct cg *cg)
{
	return cg->desc;
}

static char *probe_dir(const struct cg *cg)
{
	return xasprintf("%s/kill-probe", cg->v2);
}

int cg_kill_probe(struct cg *cg)
{
	char *dir;
	int fd = -1;

	if (!cg->v2 || !cg->v2_kill || cg->plain)
		return -1;
	dir = probe_dir(cg);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		goto out;
	if (cg_write(cg, dir, "cgroup.kill", "1") < 0)
		goto out;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
out:
	if (fd < 0)
		(void)rmdir(dir);
	free(dir);
	return fd;
}

void cg_kill_probe_done(struct cg *cg, int fd, bool child_killed)
{
	char *dir = probe_dir(cg);

	close(fd);
	for (int i = 0; i < 100 && rmdir(dir) < 0 && errno == EBUSY; i++)
		cg_nap_us(1000);
	free(dir);
	if (child_killed) {
		cg->v2_kill = false;
		snprintf(cg->desc + strlen(cg->desc),
			 sizeof(cg->desc) - strlen(cg->desc),
			 "; cgroup.kill not used (this kernel kills later "
			 "CLONE_INTO_CGROUP children)");
	}
}

void cg_set_use_unified(struct cg *cg, bool use)
{
	cg->use_unified = use;
}
