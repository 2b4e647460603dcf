/*
 * cgroup.c - the cell's control groups on cgroup v1, v2 and hybrid hosts:
 * detection from /proc/self/mountinfo and /proc/self/cgroup, the pool of
 * slot cgroups, per-run limits, attaching, killing and usage.
 *
 * Everything per run is a handful of small writes to files that already
 * exist: the pool is created once by cg_open (see DESIGN.md "Starting a cell
 * fast").  The v1 counters that can be reset are reset when a slot is
 * taken; the v2 ones that cannot are read then and subtracted later.
 */
#include "cgroup.h"
#include "cell.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { C_MEMORY, C_CPU, C_CPUACCT, C_PIDS, C_FREEZER, CG_NCTRL };

static const char *const ctrl_names[CG_NCTRL] = {
	"memory", "cpu", "cpuacct", "pids", "freezer",
};

#define CG_CPU_PERIOD 100000   /* µs, the kernel's default CFS period */
#define CG_KILL_ROUNDS 400     /* cg_slot_kill: ~2 s at most */

struct cg {
	enum cg_mode mode;
	bool plain;             /* a plain folder tree (tests): create files */
	bool use_unified;       /* hybrid: use the cgroup2 slot too */
	char *v1[CG_NCTRL];     /* v1 parent folder per controller, or NULL */
	int attach[CG_NCTRL];   /* controllers whose hierarchy is distinct */
	int n_attach;
	bool memsw;             /* v1 memory.memsw.* exists (swap accounting) */
	char *v2;               /* cgroup2 parent folder, or NULL */
	bool v2_kill;           /* cgroup.kill exists (Linux 5.14) */
	char desc[768];
};

/* A parsed line of /proc/self/mountinfo that is a cgroup mount. */
struct cg_mount {
	char *root;             /* root of the mount within its hierarchy */
	char *dir;              /* mount point */
	char *opts;             /* super options: the v1 controllers */
	bool v2;
};

static int cg_write(const struct cg *cg, const char *dir, const char *file,
		    const char *val)
{
	char path[PATH_MAX];
	int fd, r = 0;
	size_t n = strlen(val);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC | (cg->plain ? O_CREAT | O_TRUNC : 0),
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
static ssize_t cg_read(const char *dir, const char *file, char *buf, size_t n)
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

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtoll(p + kl + 1, NULL, 10);
	}
	return -1;
}

static int64_t cg_read_key(const char *dir, const char *file, const char *key)
{
	char buf[1024];

	if (cg_read(dir, file, buf, sizeof(buf)) < 0)
		return -1;
	return cg_key(buf, key);
}

static int64_t cg_read_num(const char *dir, const char *file)
{
	char buf[64];

	if (cg_read(dir, file, buf, sizeof(buf)) <= 0)
		return -1;
	return strtoll(buf, NULL, 10);
}

static bool path_exists(const char *dir, const char *file)
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
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] && r[3]) {
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
static int read_mounts(struct cg_mount **out, size_t *n_out,
		       struct rc_err *err)
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
		return rc_err_set(err, -r,
				  "cannot enable the cpu, memory and pids "
				  "controllers below %s: %s%s",
				  base, strerror(-r),
				  r == -EBUSY ? " (that cgroup holds processes; "
				  "start runcell in a cgroup with delegated "
				  "controllers, e.g. systemd Delegate=yes with "
				  "DelegateSubgroup=)" : "");
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
			if (cg->v1[c] || !list_has(m[i].opts, ctrl_names[c]))
				continue;
			path = own_path(self, ctrl_names[c]);
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
		char *base = xstrndup(cg->v2, strlen(cg->v2) - strlen(name) - 1);

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

	if (path_exists(root, "cgroup.controllers")) {
		cg->mode = CG_V2;
		cg->v2 = xasprintf("%s/%s", root, name);
		return 0;
	}
	for (int c = 0; c < CG_NCTRL; c++) {
		snprintf(dir, sizeof(dir), "%s/%s", root, ctrl_names[c]);
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			cg->v1[c] = xasprintf("%s/%s", dir, name);
	}
	if (!cg->v1[C_MEMORY])
		return rc_err_set(err, ENOENT,
				  "no memory cgroup controller found (looked "
				  "in %s/memory and for %s/cgroup.controllers)",
				  root, root);
	snprintf(dir, sizeof(dir), "%s/unified", root);
	if (path_exists(dir, "cgroup.controllers")) {
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
					  need[i], base, (int)strcspn(buf, "\n"),
					  buf);
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
	if (root ? detect_plain(cg, root, name, err) < 0
		 : detect_host(cg, name, &ns_root, err) < 0)
		goto out;

	if (cg->mode == CG_V2) {
		char *base = xstrndup(cg->v2, strlen(cg->v2) - strlen(name) - 1);

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
					   ctrl_names[need[i]],
					   ctrl_names[need[i]]);
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
		cg->memsw = path_exists(cg->v1[C_MEMORY],
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
		cg->v2_kill = path_exists(cg->v2, "cgroup.kill") ||
			      (cg->plain && cg->mode == CG_V2);

	if (cg->mode == CG_V2)
		snprintf(cg->desc, sizeof(cg->desc),
			 "cgroup v2 (slots in %s%s)", cg->v2,
			 cg->v2_kill ? "" : "; no cgroup.kill, kill by freezing");
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

void cg_set_use_unified(struct cg *cg, bool use)
{
	cg->use_unified = use;
}

/* Whether the slot uses the cgroup2 tree (v2, or hybrid with it on). */
static bool slot_v2(const struct cg *cg)
{
	return cg->mode == CG_V2 || (cg->mode == CG_HYBRID && cg->use_unified);
}

static void slot_dir(const struct cg_slot *s, const char *parent, char *buf,
		     size_t n)
{
	snprintf(buf, n, "%s/slot%d", parent, s->index);
}

void cg_slot_path(const struct cg_slot *s, char *buf, size_t n)
{
	const struct cg *cg = s->cg;

	slot_dir(s, cg->mode == CG_V2 ? cg->v2 : cg->v1[C_MEMORY], buf, n);
}

/* The folder whose cgroup.procs lists the slot's processes. */
static void procs_dir(const struct cg_slot *s, char *buf, size_t n)
{
	cg_slot_path(s, buf, n);
}

/* Call fn for each pid in dir/cgroup.procs; returns how many there were,
 * or -1. */
static int for_each_proc(const char *dir, void (*fn)(pid_t pid))
{
	char path[PATH_MAX + 64], buf[4096];
	int fd, count = 0;
	ssize_t r;
	size_t have = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (;;) {
		r = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		buf[have] = '\0';
		char *p = buf, *e;

		while ((e = strchr(p, '\n'))) {
			*e = '\0';
			if (fn)
				fn((pid_t)strtol(p, NULL, 10));
			count++;
			p = e + 1;
		}
		have = strlen(p);
		memmove(buf, p, have);
	}
	close(fd);
	return count;
}

int cg_slot_nprocs(struct cg_slot *s)
{
	char dir[PATH_MAX];

	procs_dir(s, dir, sizeof(dir));
	return for_each_proc(dir, NULL);
}

static void kill_pid(pid_t pid)
{
	if (pid > 0)
		(void)kill(pid, SIGKILL);
}

static void nap_us(long us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = us * 1000 };

	nanosleep(&ts, NULL);
}

/* Freeze, SIGKILL every process, thaw: with the tree frozen nothing can
 * fork while we go through the list, and the killed processes die as soon
 * as they are thawed. */
static void freeze_kill_thaw(struct cg_slot *s)
{
	const struct cg *cg = s->cg;
	char dir[PATH_MAX], fdir[PATH_MAX], buf[64];
	bool v2 = cg->mode == CG_V2;
	bool frozen = false;

	procs_dir(s, dir, sizeof(dir));
	if (v2) {
		frozen = cg_write(cg, dir, "cgroup.freeze", "1") == 0;
		for (int i = 0; frozen && i < 50; i++) {
			if (cg_read_key(dir, "cgroup.events", "frozen") == 1)
				break;
			nap_us(200);
		}
	} else if (cg->v1[C_FREEZER]) {
		slot_dir(s, cg->v1[C_FREEZER], fdir, sizeof(fdir));
		frozen = cg_write(cg, fdir, "freezer.state", "FROZEN") == 0;
		for (int i = 0; frozen && i < 50; i++) {
			if (cg_read(fdir, "freezer.state", buf, sizeof(buf)) > 0 &&
			    strncmp(buf, "FROZEN", 6) == 0)
				break;
			nap_us(200);
		}
	}
	(void)for_each_proc(dir, kill_pid);
	if (frozen && v2)
		(void)cg_write(cg, dir, "cgroup.freeze", "0");
	else if (frozen)
		(void)cg_write(cg, fdir, "freezer.state", "THAWED");
}

int cg_slot_kill(struct cg_slot *s)
{
	const struct cg *cg = s->cg;
	char dir[PATH_MAX];
	bool used_kill = false;
	int n;

	if (slot_v2(cg) && cg->v2_kill) {
		slot_dir(s, cg->v2, dir, sizeof(dir));
		used_kill = cg_write(cg, dir, "cgroup.kill", "1") == 0;
	}
	for (int i = 0; i < CG_KILL_ROUNDS; i++) {
		n = cg_slot_nprocs(s);
		if (n <= 0)
			return n == 0 ? 0 : -1;
		/* Dying processes stay listed for a moment: give them a few
		 * rounds before going through the list again. */
		if (i % 20 == (used_kill ? 19 : 0))
			freeze_kill_thaw(s);
		nap_us(i < 20 ? 250 : 5000);
	}
	return cg_slot_nprocs(s) == 0 ? 0 : -1;
}

static int wr_err(int r, const char *dir, const char *file, const char *val,
		  struct rc_err *err)
{
	return rc_err_set(err, -r, "cannot write %s to %s/%s: %s", val, dir,
			  file, strerror(-r));
}

/* Write one limit, treating a missing optional file as fine. */
#define WR(dir, file, val, optional)                                      \
	do {                                                              \
		int r_ = cg_write(cg, dir, file, val);                     \
		if (r_ < 0 && !((optional) && r_ == -ENOENT)) {           \
			wr_err(r_, dir, file, val, err);                  \
			goto out;                                         \
		}                                                         \
	} while (0)

static void fmt_i64(char *buf, size_t n, int64_t v)
{
	snprintf(buf, n, "%lld", (long long)v);
}

static int64_t cpu_quota(const struct resources *res)
{
	int64_t q;

	if (!res || res->cpu <= 0)
		return -1;
	q = (int64_t)(res->cpu * CG_CPU_PERIOD);
	return q < 1000 ? 1000 : q;
}

static int prepare_v1(struct cg *cg, struct cg_slot *s,
		      const struct resources *res, struct rc_err *err)
{
	char dir[PATH_MAX], val[32];
	int64_t mem = res && res->memory > 0 ? res->memory : -1;
	int64_t q = cpu_quota(res);
	int ret = -1;

	if (cg->v1[C_FREEZER]) {
		slot_dir(s, cg->v1[C_FREEZER], dir, sizeof(dir));
		WR(dir, "freezer.state", "THAWED", false);
	}

	slot_dir(s, cg->v1[C_MEMORY], dir, sizeof(dir));
	fmt_i64(val, sizeof(val), mem);
	if (!cg->memsw) {
		WR(dir, "memory.limit_in_bytes", val, false);
		WR(dir, "memory.swappiness", "0", true);
	} else if (mem < 0) {
		/* Raise memsw first: memory.limit <= memsw.limit always. */
		WR(dir, "memory.memsw.limit_in_bytes", "-1", false);
		WR(dir, "memory.limit_in_bytes", "-1", false);
	} else {
		int r = cg_write(cg, dir, "memory.limit_in_bytes", val);

		if (r == -EINVAL) {
			WR(dir, "memory.memsw.limit_in_bytes", val, false);
			WR(dir, "memory.limit_in_bytes", val, false);
		} else if (r < 0) {
			wr_err(r, dir, "memory.limit_in_bytes", val, err);
			goto out;
		} else {
			WR(dir, "memory.memsw.limit_in_bytes", val, false);
		}
	}
	WR(dir, "memory.max_usage_in_bytes", "0", false);
	if (cg->memsw)
		WR(dir, "memory.memsw.max_usage_in_bytes", "0", true);
	WR(dir, "memory.failcnt", "0", true);
	s->base_oom = cg_read_key(dir, "memory.oom_control", "oom_kill");

	slot_dir(s, cg->v1[C_CPU], dir, sizeof(dir));
	WR(dir, "cpu.cfs_period_us", "100000", false);
	fmt_i64(val, sizeof(val), q);
	WR(dir, "cpu.cfs_quota_us", val, false);
	if (cg->v1[C_CPUACCT]) {
		slot_dir(s, cg->v1[C_CPUACCT], dir, sizeof(dir));
		WR(dir, "cpuacct.usage", "0", false);
	}

	slot_dir(s, cg->v1[C_PIDS], dir, sizeof(dir));
	if (res && res->pids > 0)
		fmt_i64(val, sizeof(val), res->pids);
	else
		snprintf(val, sizeof(val), "max");
	WR(dir, "pids.max", val, false);
	s->base_pids_max = cg_read_key(dir, "pids.events", "max");
	ret = 0;
out:
	return ret;
}

static int prepare_v2(struct cg *cg, struct cg_slot *s,
		      const struct resources *res, struct rc_err *err)
{
	char dir[PATH_MAX], val[48];
	int64_t q = cpu_quota(res);
	int ret = -1;

	slot_dir(s, cg->v2, dir, sizeof(dir));
	if (res && res->memory > 0)
		fmt_i64(val, sizeof(val), res->memory);
	else
		snprintf(val, sizeof(val), "max");
	WR(dir, "memory.max", val, false);
	WR(dir, "memory.swap.max", "0", true);
	/* One OOM kill takes the whole cell: a run over its memory is
	 * over, not left limping with some processes gone. */
	WR(dir, "memory.oom.group", "1", true);
	if (q > 0)
		snprintf(val, sizeof(val), "%lld %d", (long long)q,
			 CG_CPU_PERIOD);
	else
		snprintf(val, sizeof(val), "max %d", CG_CPU_PERIOD);
	WR(dir, "cpu.max", val, false);
	if (res && res->pids > 0)
		fmt_i64(val, sizeof(val), res->pids);
	else
		snprintf(val, sizeof(val), "max");
	WR(dir, "pids.max", val, false);

	s->base_cpu_usec = cg_read_key(dir, "cpu.stat", "usage_usec");
	s->base_oom = cg_read_key(dir, "memory.events", "oom_kill");
	s->base_pids_max = cg_read_key(dir, "pids.events", "max");
	/* memory.peak counts since the cgroup was made; Linux 6.12 resets
	 * it for one open file when "reset" is written there.  Keep that
	 * file open until cg_slot_usage. */
	{
		char path[PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/memory.peak", dir);
		s->peak_fd = open(path, O_RDWR | O_CLOEXEC);
		if (s->peak_fd >= 0) {
			/* Older kernels refuse the write: the peak then
			 * covers the slot's whole life (an upper bound). */
			(void)!write(s->peak_fd, "reset\n", 6);
		} else {
			s->peak_fd = open(path, O_RDONLY | O_CLOEXEC);
		}
	}
	ret = 0;
out:
	return ret;
}

int cg_slot_prepare(struct cg *cg, int index, const struct resources *res,
		    struct cg_slot *s, struct rc_err *err)
{
	char dir[PATH_MAX];
	int n;

	memset(s, 0, sizeof(*s));
	s->cg = cg;
	s->index = index;
	s->clone_fd = -1;
	s->peak_fd = -1;

	/* Slots past the pool are made on first use. */
	for (int j = 0; j < cg->n_attach && cg->mode != CG_V2; j++) {
		slot_dir(s, cg->v1[cg->attach[j]], dir, sizeof(dir));
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return rc_err_set(err, errno, "cannot create cgroup %s: %s",
					  dir, strerror(errno));
	}
	if (slot_v2(cg)) {
		slot_dir(s, cg->v2, dir, sizeof(dir));
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return rc_err_set(err, errno, "cannot create cgroup %s: %s",
					  dir, strerror(errno));
		if (cg->mode == CG_V2)
			(void)cg_write(cg, dir, "cgroup.freeze", "0");
	}

	/* A supervisor that died leaves its slot to the next one: empty it. */
	n = cg_slot_nprocs(s);
	if (n > 0 && cg_slot_kill(s) < 0) {
		cg_slot_path(s, dir, sizeof(dir));
		return rc_err_set(err, EBUSY,
				  "cgroup %s still holds processes that cannot "
				  "be killed", dir);
	}

	if (cg->mode == CG_V2) {
		if (prepare_v2(cg, s, res, err) < 0)
			goto fail;
	} else if (prepare_v1(cg, s, res, err) < 0) {
		goto fail;
	}
	if (slot_v2(cg)) {
		slot_dir(s, cg->v2, dir, sizeof(dir));
		s->clone_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return 0;
fail:
	cg_slot_release(s);
	return -1;
}

int cg_slot_attach(struct cg_slot *s, pid_t pid, struct rc_err *err)
{
	const struct cg *cg = s->cg;
	char dir[PATH_MAX], val[24];
	int r;

	snprintf(val, sizeof(val), "%d", (int)pid);
	if (cg->mode != CG_V2) {
		for (int j = 0; j < cg->n_attach; j++) {
			slot_dir(s, cg->v1[cg->attach[j]], dir, sizeof(dir));
			r = cg_write(cg, dir, "cgroup.procs", val);
			if (r < 0)
				return wr_err(r, dir, "cgroup.procs", val, err);
		}
	}
	if (slot_v2(cg) && !s->in_v2) {
		slot_dir(s, cg->v2, dir, sizeof(dir));
		r = cg_write(cg, dir, "cgroup.procs", val);
		if (r < 0)
			return wr_err(r, dir, "cgroup.procs", val, err);
	}
	return 0;
}

static int64_t delta(int64_t now, int64_t base)
{
	if (now < 0)
		return 0;
	return base > 0 ? now - base : now;
}

void cg_slot_usage(struct cg_slot *s, struct cell_usage *u)
{
	const struct cg *cg = s->cg;
	char dir[PATH_MAX];
	int64_t v;

	memset(u, 0, sizeof(*u));
	if (cg->mode == CG_V2) {
		slot_dir(s, cg->v2, dir, sizeof(dir));
		u->cpu_usec = delta(cg_read_key(dir, "cpu.stat", "usage_usec"),
				    s->base_cpu_usec);
		if (s->peak_fd >= 0) {
			char buf[64];
			ssize_t r = pread(s->peak_fd, buf, sizeof(buf) - 1, 0);

			if (r > 0) {
				buf[r] = '\0';
				u->peak_memory = strtoll(buf, NULL, 10);
			}
		}
		u->oom_killed = delta(cg_read_key(dir, "memory.events",
						  "oom_kill"), s->base_oom) > 0;
	} else {
		if (cg->v1[C_CPUACCT]) {
			slot_dir(s, cg->v1[C_CPUACCT], dir, sizeof(dir));
			v = cg_read_num(dir, "cpuacct.usage");
			u->cpu_usec = v > 0 ? v / 1000 : 0;
		}
		slot_dir(s, cg->v1[C_MEMORY], dir, sizeof(dir));
		v = cg_read_num(dir, "memory.max_usage_in_bytes");
		u->peak_memory = v > 0 ? v : 0;
		u->oom_killed = delta(cg_read_key(dir, "memory.oom_control",
						  "oom_kill"), s->base_oom) > 0;
		slot_dir(s, cg->v1[C_PIDS], dir, sizeof(dir));
	}
	if (cg->mode == CG_V2)
		slot_dir(s, cg->v2, dir, sizeof(dir));
	u->pids_limited = delta(cg_read_key(dir, "pids.events", "max"),
				s->base_pids_max) > 0;
}

void cg_slot_release(struct cg_slot *s)
{
	if (s->clone_fd >= 0)
		close(s->clone_fd);
	if (s->peak_fd >= 0)
		close(s->peak_fd);
	s->clone_fd = -1;
	s->peak_fd = -1;
}
