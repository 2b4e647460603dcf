/*
 * cellprobe.c - a program run inside a cell by the tests: it reports, as
 * one JSON object on stdout, what it sees (ids, capabilities, no_new_privs,
 * seccomp mode, hostname, mounts, network interfaces, cgroup limits,
 * rlimits, processes) and what happens when it tries things (see usage()).
 * Standalone: no runcell code, so that it can run in any root.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(void)
{
	fputs("usage: cellprobe [OPTION]...\n"
	      "Print, as one JSON object on stdout, what this process sees: pid, ppid,\n"
	      "uid/gid, capabilities, NoNewPrivs, Seccomp mode, blocked and ignored\n"
	      "signals, hostname, cwd, the\n"
	      "processes in /proc, mounts, network interfaces (and whether each is up),\n"
	      "its cgroups and their limits, rlimits and environment size.\n"
	      "\n"
	      "  --check PATH      report whether PATH can be read and written\n"
	      "                    (a folder: listed, and a file created in it)\n"
	      "  --alloc MB        allocate and touch MB megabytes, 1 MB at a time\n"
	      "  --fork N          start N children that sleep; report how many forks\n"
	      "                    succeeded and the first error; then kill them\n"
	      "  --spin SEC        burn CPU for SEC seconds of wall time; report the\n"
	      "                    CPU seconds used\n"
	      "  --try-syscalls    try mount, umount2, unshare, clone with namespace\n"
	      "                    flags, clone3, setns, ptrace, bpf, keyctl,\n"
	      "                    personality, chroot, sethostname, setuid(0), ...\n"
	      "                    and report \"ok\" or the errno name of each\n"
	      "  --try-x32         make an x32 system call (the filter kills us)\n"
	      "  --try-i386        make an int 0x80 system call (the filter kills us)\n"
	      "  --tcp HOST:PORT   try a TCP connection; report \"ok\" or the error\n"
	      "  --doublefork SEC  fork a child that forks a grandchild sleeping SEC\n"
	      "                    seconds and exits at once\n"
	      "  --fill PATH MB    write MB megabytes to the file PATH\n"
	      "  --sleep SEC       after printing, sleep SEC seconds\n"
	      "  --exit N          exit with status N (default 0)\n"
	      "  --help            this text\n",
	      stdout);
}

/* ---- a tiny JSON writer ---- */

static int first = 1;

static void jstr(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void key(const char *k)
{
	if (!first)
		putchar(',');
	first = 0;
	jstr(k);
	putchar(':');
}

static void kint(const char *k, long long v)
{
	key(k);
	printf("%lld", v);
}

static void kstr(const char *k, const char *v)
{
	key(k);
	jstr(v);
}

/* An object as a member (k) or as an array element (k NULL). */
static void open_obj(const char *k)
{
	if (k)
		key(k);
	else if (!first)
		putchar(',');
	putchar('{');
	first = 1;
}

static void close_obj(void)
{
	putchar('}');
	first = 0;
}

static void open_arr(const char *k)
{
	key(k);
	putchar('[');
	first = 1;
}

static void close_arr(void)
{
	putchar(']');
	first = 0;
}

static void elem_str(const char *s)
{
	if (!first)
		putchar(',');
	first = 0;
	jstr(s);
}

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

/* ---- what we see ---- */

static void status_fields(void)
{
	static const char *const want[] = {
		"CapInh",     "CapPrm",	 "CapEff", "CapBnd", "CapAmb",
		"NoNewPrivs", "Seccomp", "SigBlk", "SigIgn",
	};
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		*colon = '\0';
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			char *v = colon + 1;

			if (strcmp(line, want[i]) != 0)
				continue;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			if (want[i][0] == 'C' ||
			    strncmp(want[i], "Sig", 3) == 0)
				kstr(want[i], v);
			else
				kint(want[i], strtoll(v, NULL, 10));
		}
	}
	if (f)
		fclose(f);
}

static void procs(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	open_arr("procs");
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		if (n++)
			putchar(',');
		printf("%s", e->d_name);
	}
	close_arr();
	if (d)
		closedir(d);
}

/* Mount point, file system type and whether read-only, per mount. */
static void mounts(void)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "r");

	open_arr("mounts");
	while (f && fgets(line, sizeof(line), f)) {
		char *fld[6] = { 0 }, *p = line, *sep, *fs;
		int i;

		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		for (i = 0; i < 6 && p; i++) {
			fld[i] = p;
			p = strchr(p, ' ');
			if (p)
				*p++ = '\0';
		}
		fs = sep + 3;
		fs[strcspn(fs, " ")] = '\0';
		if (!fld[4] || !fld[5])
			continue;
		open_obj(NULL);
		kstr("dir", fld[4]);
		kstr("fs", fs);
		kstr("opts", fld[5]);
		close_obj();
		first = 0;
	}
	close_arr();
	if (f)
		fclose(f);
}

static void interfaces(void)
{
	char line[512];
	FILE *f = fopen("/proc/net/dev", "r");
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	open_arr("interfaces");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':'), *name = line;
		struct ifreq ifr;

		if (!colon)
			continue;
		*colon = '\0';
		name += strspn(name, " ");
		open_obj(NULL);
		kstr("name", name);
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		key("up");
		if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0)
			printf("%s",
			       (ifr.ifr_flags & IFF_UP) ? "true" : "false");
		else
			printf("null");
		close_obj();
		first = 0;
	}
	close_arr();
	if (f)
		fclose(f);
	if (s >= 0)
		close(s);
}

static long long read_num(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY);
	ssize_t r;

	if (fd < 0)
		return -2;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return -2;
	buf[r] = '\0';
	if (strncmp(buf, "max", 3) == 0)
		return -1;
	return strtoll(buf, NULL, 10);
}

/* Our cgroups (from /proc/self/cgroup) and the limits we can read from
 * /sys/fs/cgroup: -1 means "max", -2 unreadable. */
static void cgroups(void)
{
	char line[1024], path[PATH_MAX + 128];
	char mem[PATH_MAX] = "", pids[PATH_MAX] = "", cpu[PATH_MAX] = "";
	char v2[PATH_MAX] = "";
	FILE *f = fopen("/proc/self/cgroup", "r");

	open_arr("cgroups");
	while (f && fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'),
		     *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		line[strcspn(line, "\n")] = '\0';
		elem_str(line);
		if (!c2)
			continue;
		*c2 = '\0';
		if (strstr(c1 + 1, "memory"))
			snprintf(mem, sizeof(mem), "%s", c2 + 1);
		if (strstr(c1 + 1, "pids"))
			snprintf(pids, sizeof(pids), "%s", c2 + 1);
		if (strcmp(c1 + 1, "cpu") == 0 || strstr(c1 + 1, "cpu,"))
			snprintf(cpu, sizeof(cpu), "%s", c2 + 1);
		if (strncmp(line, "0", 1) == 0 && c1 == line + 1)
			snprintf(v2, sizeof(v2), "%s", c2 + 1);
	}
	close_arr();
	if (f)
		fclose(f);
	open_obj("limits");
	if (mem[0]) {
		snprintf(path, sizeof(path),
			 "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", mem);
		kint("memory", read_num(path));
		snprintf(path, sizeof(path), "/sys/fs/cgroup/pids%s/pids.max",
			 pids);
		kint("pids", read_num(path));
		snprintf(path, sizeof(path),
			 "/sys/fs/cgroup/cpu%s/cpu.cfs_quota_us", cpu);
		kint("cpu_quota", read_num(path));
	} else {
		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max", v2);
		kint("memory", read_num(path));
		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/pids.max", v2);
		kint("pids", read_num(path));
		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max", v2);
		kint("cpu_quota", read_num(path));
	}
	close_obj();
}

static void rlimits(void)
{
	static const struct {
		const char *name;
		int res;
	} r[] = {
		{ "core", RLIMIT_CORE },
		{ "fsize", RLIMIT_FSIZE },
		{ "nofile", RLIMIT_NOFILE },
	};
	struct rlimit rl;

	open_obj("rlimits");
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		getrlimit(r[i].res, &rl);
		kint(r[i].name, rl.rlim_cur == RLIM_INFINITY ?
					-1 :
					(long long)rl.rlim_cur);
	}
	close_obj();
}

/* ---- what we try ---- */

static void check_path(const char *p)
{
	struct stat st;
	int fd, rd = 0, wr = 0, rerr = 0, werr = 0;

	open_obj(p);
	if (stat(p, &st) < 0) {
		kstr("stat", ename(errno));
		close_obj();
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(p);
		char tmp[PATH_MAX + 32];

		rd = d != NULL;
		rerr = errno;
		if (d)
			closedir(d);
		snprintf(tmp, sizeof(tmp), "%s/.cellprobe-%d", p,
			 (int)getpid());
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
		wr = fd >= 0;
		werr = errno;
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
	} else {
		char c;

		fd = open(p, O_RDONLY);
		rd = fd >= 0 && read(fd, &c, 1) >= 0;
		rerr = errno;
		if (fd >= 0)
			close(fd);
		fd = open(p, O_WRONLY | O_APPEND);
		wr = fd >= 0;
		werr = errno;
		if (fd >= 0)
			close(fd);
	}
	kstr("read", rd ? "ok" : ename(rerr));
	kstr("write", wr ? "ok" : ename(werr));
	close_obj();
}

static const char *result(long r)
{
	return r < 0 ? ename(errno) : "ok";
}

static void try_syscalls(void)
{
	pid_t kid;
	long r;
	int fd;

	open_obj("syscalls");
	if (getuid() == 0) {
		/* Outside a cell these would change the host. */
		kstr("refused", "running as root");
		close_obj();
		return;
	}
	kstr("mount", result(mount("none", "/tmp", "tmpfs", 0, NULL)));
	kstr("umount2", result(umount2("/proc", MNT_DETACH)));
	kstr("unshare_user", result(unshare(CLONE_NEWUSER)));
	kstr("unshare_net", result(unshare(CLONE_NEWNET)));
	r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (r == 0)
		_exit(0);
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	kstr("clone_newuser", result(r));
	r = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, NULL);
	if (r == 0)
		_exit(0);
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	kstr("clone_newns", result(r));
	kstr("clone3", result(syscall(SYS_clone3, NULL, 0)));
	fd = open("/proc/self/ns/net", O_RDONLY);
	kstr("setns", result(setns(fd, 0)));
	if (fd >= 0)
		close(fd);

	kid = fork();
	if (kid == 0) {
		pause();
		_exit(0);
	}
	kstr("ptrace_attach", result(ptrace(PTRACE_ATTACH, kid, NULL, NULL)));
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	kstr("process_vm_readv", result(syscall(SYS_process_vm_readv, getppid(),
						NULL, 0, NULL, 0, 0)));
	kstr("bpf", result(syscall(SYS_bpf, 0, NULL, 0)));
	kstr("keyctl", result(syscall(SYS_keyctl, 0, 0, 0, 0, 0)));
	kstr("add_key", result(syscall(SYS_add_key, "user", "x", "y", 1, 0)));
	kstr("perf_event_open",
	     result(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0)));
	kstr("userfaultfd", result(syscall(SYS_userfaultfd, 0)));
	kstr("io_uring_setup", result(syscall(SYS_io_uring_setup, 1, NULL)));
	kstr("open_by_handle_at",
	     result(syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0)));
	kstr("init_module", result(syscall(SYS_init_module, NULL, 0, "")));
	kstr("kexec_load", result(syscall(SYS_kexec_load, 0, 0, NULL, 0)));
	kstr("swapon", result(syscall(SYS_swapon, "/tmp/x", 0)));
	kstr("reboot", result(syscall(SYS_reboot, 0, 0, 0, NULL)));
	kstr("pivot_root", result(syscall(SYS_pivot_root, "/tmp", "/tmp")));
	kstr("chroot", result(chroot("/tmp")));
	kstr("sethostname", result(sethostname("x", 1)));
	kstr("setuid0", result(setuid(0)));
	kstr("personality_aslr",
	     result(personality(PER_LINUX | ADDR_NO_RANDOMIZE)));
	kstr("personality_query", result(personality(0xffffffff)));
	kstr("personality_linux", result(personality(PER_LINUX)));
	kstr("kill_init", result(kill(1, 0)));
	kid = fork();
	if (kid == 0)
		_exit(0);
	kstr("fork", result(kid));
	if (kid > 0)
		waitpid(kid, NULL, 0);
	close_obj();
}

static void do_fork(long n)
{
	pid_t *kids = calloc((size_t)n, sizeof(pid_t));
	long ok = 0;
	int e = 0;

	for (long i = 0; kids && i < n; i++) {
		pid_t p = fork();

		if (p == 0) {
			pause();
			_exit(0);
		}
		if (p < 0) {
			e = errno;
			break;
		}
		kids[ok++] = p;
	}
	open_obj("fork");
	kint("ok", ok);
	kstr("error", e ? ename(e) : "");
	close_obj();
	for (long i = 0; i < ok; i++)
		kill(kids[i], SIGKILL);
	for (long i = 0; i < ok; i++)
		waitpid(kids[i], NULL, 0);
	free(kids);
}

static double now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void spin(double sec)
{
	double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	volatile unsigned long x = 0;

	while (now(CLOCK_MONOTONIC) - w0 < sec)
		for (int i = 0; i < 10000; i++)
			x += (unsigned long)i;
	(void)x;
	open_obj("spin");
	key("wall");
	printf("%.3f", now(CLOCK_MONOTONIC) - w0);
	key("cpu");
	printf("%.3f", now(CLOCK_PROCESS_CPUTIME_ID) - c0);
	close_obj();
}

/* Where alloc() leaves its blocks: without a use, clang drops the
 * malloc+memset pair altogether and nothing is allocated. */
static char *volatile alloc_sink;

static void alloc(long mb)
{
	long i;

	for (i = 0; i < mb; i++) {
		char *p = malloc(1 << 20);

		if (!p)
			break;
		memset(p, (int)i | 1, 1 << 20);
		alloc_sink = p;
	}
	kint("alloc_mb", i);
}

static void tcp(const char *hp)
{
	char host[256];
	const char *colon = strrchr(hp, ':');
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int s, r;

	snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - hp) : 0, hp);
	sa.sin_port =
		htons((uint16_t)(colon ? strtol(colon + 1, NULL, 10) : 0));
	inet_pton(AF_INET, host, &sa.sin_addr);
	s = socket(AF_INET, SOCK_STREAM, 0);
	r = s < 0 ? -1 : connect(s, (struct sockaddr *)&sa, sizeof(sa));
	kstr("tcp", result(r));
	if (s >= 0)
		close(s);
}

static void doublefork(long sec)
{
	int p[2];
	pid_t kid, gk = 0;

	if (pipe(p) < 0)
		return;
	kid = fork();
	if (kid == 0) {
		pid_t g = fork();

		if (g == 0) {
			close(p[0]);
			close(p[1]);
			close(1);
			close(2);
			sleep((unsigned)sec);
			_exit(0);
		}
		(void)!write(p[1], &g, sizeof(g));
		_exit(0);
	}
	close(p[1]);
	(void)!read(p[0], &gk, sizeof(gk));
	close(p[0]);
	waitpid(kid, NULL, 0);
	kint("doublefork_pid", gk);
}

static void fill(const char *path, long mb)
{
	static char chunk[1 << 16];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	long long written = 0;
	int e = 0;

	signal(SIGXFSZ, SIG_IGN); /* report EFBIG instead */
	memset(chunk, 'x', sizeof(chunk));
	for (long i = 0; fd >= 0 && i < mb * 16; i++) {
		ssize_t w = write(fd, chunk, sizeof(chunk));

		if (w < 0) {
			e = errno;
			break;
		}
		written += w;
	}
	if (fd < 0)
		e = errno;
	open_obj("fill");
	kint("bytes", written);
	kstr("error", e ? ename(e) : "");
	close_obj();
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	extern char **environ;
	char host[256], cwd[PATH_MAX];
	long sleep_sec = 0;
	int code = 0, envc = 0;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0) {
			usage();
			return 0;
		}
	putchar('{');
	first = 1;
	kint("pid", getpid());
	kint("ppid", getppid());
	kint("uid", getuid());
	kint("euid", geteuid());
	kint("gid", getgid());
	{
		gid_t g[64];
		int n = getgroups(64, g);

		open_arr("groups");
		for (int i = 0; i < n; i++)
			printf("%s%u", i ? "," : "", (unsigned)g[i]);
		close_arr();
	}
	status_fields();
	gethostname(host, sizeof(host));
	kstr("hostname", host);
	kstr("cwd", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
	for (char **e = environ; e && *e; e++)
		envc++;
	kint("envc", envc);
	procs();
	mounts();
	interfaces();
	cgroups();
	rlimits();

	open_obj("paths");
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--check") == 0 && i + 1 < argc)
			check_path(argv[++i]);
	close_obj();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--try-syscalls") == 0) {
			try_syscalls();
		} else if (strcmp(a, "--try-x32") == 0) {
			fflush(stdout);
			syscall(0x40000000 | SYS_getpid);
			kstr("x32", "survived");
		} else if (strcmp(a, "--try-i386") == 0) {
			long ret = 20;

			fflush(stdout);
			__asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
			kstr("i386", "survived");
		} else if (!v) {
			continue;
		} else if (strcmp(a, "--alloc") == 0) {
			fflush(stdout);
			alloc(strtol(v, NULL, 10));
			i++;
		} else if (strcmp(a, "--fork") == 0) {
			do_fork(strtol(v, NULL, 10));
			i++;
		} else if (strcmp(a, "--spin") == 0) {
			spin(strtod(v, NULL));
			i++;
		} else if (strcmp(a, "--tcp") == 0) {
			tcp(v);
			i++;
		} else if (strcmp(a, "--doublefork") == 0) {
			doublefork(strtol(v, NULL, 10));
			i++;
		} else if (strcmp(a, "--fill") == 0 && i + 2 < argc) {
			fill(v, strtol(argv[i + 2], NULL, 10));
			i += 2;
		} else if (strcmp(a, "--sleep") == 0) {
			sleep_sec = strtol(v, NULL, 10);
			i++;
		} else if (strcmp(a, "--exit") == 0) {
			code = (int)strtol(v, NULL, 10);
			i++;
		}
	}
	puts("}");
	fflush(stdout);
	if (sleep_sec > 0)
		sleep((unsigned)sleep_sec);
	return code;
}
