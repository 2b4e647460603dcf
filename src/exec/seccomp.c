/*
 * seccomp.c - the cell's system-call filter.  Built once with libseccomp
 * when the runtime opens and kept as BPF in memory; a cell only loads it
 * (one prctl), which is what keeps it off the per-run path (DESIGN.md).
 *
 * Policy: allow by default; refuse with EPERM what a script has no business
 * doing (mounting, namespaces, tracing other processes, loading kernel code
 * or modules, the kernel keyring, rebooting, swap, changing the clock, raw
 * I/O ports, handle-based opens, perf, userfaultfd, io_uring, ...).  Only
 * the native architecture is allowed: an i386 (int 0x80) or x32 system call
 * kills the process, so nobody can reach the kernel through a second,
 * unfiltered table.
 */
#include "seccomp.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

static const char *const denied[] = {
	/* file systems and the mount tree */
	"mount",
	"umount",
	"umount2",
	"pivot_root",
	"chroot",
	"fsopen",
	"fsconfig",
	"fsmount",
	"fspick",
	"move_mount",
	"open_tree",
	"mount_setattr",
	"quotactl",
	"quotactl_fd",
	/* namespaces */
	"setns",
	"unshare",
	/* other processes' memory */
	"ptrace",
	"process_vm_readv",
	"process_vm_writev",
	"kcmp",
	"process_madvise",
	"pidfd_getfd",
	/* kernel code, modules, bpf, the keyring */
	"kexec_load",
	"kexec_file_load",
	"init_module",
	"finit_module",
	"delete_module",
	"create_module",
	"bpf",
	"keyctl",
	"add_key",
	"request_key",
	"uselib",
	"nfsservctl",
	/* the machine */
	"reboot",
	"swapon",
	"swapoff",
	"acct",
	"settimeofday",
	"clock_settime",
	"clock_adjtime",
	"adjtimex",
	"iopl",
	"ioperm",
	"syslog",
	"vhangup",
	"lookup_dcookie",
	"sethostname",
	"setdomainname",
	/* handle-based opens bypass the mount tree */
	"open_by_handle_at",
	"name_to_handle_at",
	/* large attack surface, no use to a script */
	"perf_event_open",
	"userfaultfd",
	"io_uring_setup",
	"io_uring_enter",
	"io_uring_register",
	"fanotify_init",
};

/* Namespace flags clone() may not be given (CLONE_NEWTIME shares its bit
 * with the exit signal in clone(), so it is left to clone3/unshare, which
 * are refused anyway). */
static const unsigned long clone_ns_flags[] = {
	CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	CLONE_NEWUSER, CLONE_NEWPID,	CLONE_NEWNET,
};

static const uint64_t persona_flags[] = {
	0x0040000, /* ADDR_NO_RANDOMIZE */
	0x0080000, /* FDPIC_FUNCPTRS */
	0x0100000, /* MMAP_PAGE_ZERO */
	0x0200000, /* ADDR_COMPAT_LAYOUT */
	0x0400000, /* READ_IMPLIES_EXEC */
	0x0800000, /* ADDR_LIMIT_32BIT */
	0x1000000, /* SHORT_INODE */
	0x2000000, /* WHOLE_SECONDS */
	0x4000000, /* STICKY_TIMEOUTS */
	0x8000000, /* ADDR_LIMIT_3GB */
};

static int add_rules(scmp_filter_ctx ctx, struct rc_err *err)
{
	const uint64_t hi = 1ULL << 31;
	int r, nr;

	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		nr = seccomp_syscall_resolve_name(denied[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (r < 0)
			goto fail;
	}
	for (size_t i = 0;
	     i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]); i++) {
		r = seccomp_rule_add(
			ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
			SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i],
				clone_ns_flags[i]));
		if (r < 0)
			goto fail;
	}
	/* clone3 passes its flags in memory, out of a filter's reach: say it
	 * does not exist and libc falls back to clone. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r < 0)
		goto fail;

	/* personality: refuse the flags that weaken the caller's own
	 * protections (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, MMAP_PAGE_ZERO,
	 * the address-space layout ones, ...) and any value past 32 bits;
	 * the query 0xffffffff has bit 31 set and stays allowed. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality),
			     1, SCMP_A0(SCMP_CMP_GT, 0xffffffffULL, 0));
	for (size_t i = 0;
	     r == 0 && i < sizeof(persona_flags) / sizeof(persona_flags[0]);
	     i++)
		r = seccomp_rule_add(
			ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
			SCMP_A0(SCMP_CMP_MASKED_EQ, persona_flags[i] | hi,
				persona_flags[i]));
	if (r < 0)
		goto fail;

	/* Typing into a terminal's input queue. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
			     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL,
				     TIOCSTI));
	if (r == 0)
		r = seccomp_rule_add(
			ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
			SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, TIOCLINUX));
	if (r < 0)
		goto fail;
	return 0;
fail:
	return rc_err_set(err, -r, "cannot build the seccomp filter: %s",
			  strerror(-r));
}

int cell_seccomp_build(struct sock_fprog *out, struct rc_err *err)
{
	scmp_filter_ctx ctx;
	int fd = -1, r, ret = -1;
	off_t size;

	memset(out, 0, sizeof(*out));
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return rc_err_set(err, ENOSYS,
				  "cannot build the seccomp filter: libseccomp "
				  "does not support this architecture");
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
			     SCMP_ACT_KILL_PROCESS);
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r < 0) {
		rc_err_set(err, -r, "cannot set up the seccomp filter: %s",
			   strerror(-r));
		goto out;
	}
	if (add_rules(ctx, err) < 0)
		goto out;

	/* libseccomp 2.5 exports BPF only to a file descriptor. */
	fd = memfd_create("runcell-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		rc_err_set(err, errno, "memfd_create: %s", strerror(errno));
		goto out;
	}
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0) {
		rc_err_set(err, -r, "cannot export the seccomp filter: %s",
			   strerror(-r));
		goto out;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
	    size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
		rc_err_set(err, EINVAL,
			   "the seccomp filter has a bad size (%lld)",
			   (long long)size);
		goto out;
	}
	out->filter = xmalloc((size_t)size);
	if (pread(fd, out->filter, (size_t)size, 0) != size) {
		rc_err_set(err, EIO, "cannot read back the seccomp filter");
		free(out->filter);
		out->filter = NULL;
		goto out;
	}
	out->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return ret;
}

void cell_seccomp_free(struct sock_fprog *prog)
{
	free(prog->filter);
	prog->filter = NULL;
	prog->len = 0;
}

int cell_seccomp_load(const struct sock_fprog *prog)
{
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog, 0, 0) < 0)
		return -errno;
	return 0;
}
