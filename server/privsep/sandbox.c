#define _XOPEN_SOURCE 700	/* nftw */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/privsep/privsep.h"

int
sandbox_init(struct sandbox *sb, const char *user, const char **why)
{
	struct passwd *pw = NULL;

	memset(sb, 0, sizeof(*sb));
	if (geteuid() != 0 || strcmp(user, "root") == 0)
		return 1;
	if (*user != '\0')
		pw = getpwnam(user);
	else if ((pw = getpwnam("scepd")) == NULL)
		pw = getpwnam("nobody");
	if (pw == NULL) {
		*why = "user: no such account";
		return 0;
	}
	if (pw->pw_uid == 0) {
		*why = "user: that account is root (say user = root to stay root)";
		return 0;
	}
	if (snprintf(sb->user, sizeof(sb->user), "%s", pw->pw_name) >=
	    (int)sizeof(sb->user)) {
		*why = "user: name too long";
		return 0;
	}
	sb->uid = pw->pw_uid;
	sb->gid = pw->pw_gid;
	sb->drop = 1;
	return 1;
}

/* nftw() passes no argument: the owner for give_one. */
static uid_t give_uid;
static gid_t give_gid;

static int
give_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, give_uid, give_gid) == 0 ? 0 : -1;
}

int
sandbox_give(const struct sandbox *sb, const char *state_dir, const char **why)
{
	char path[PATH_MAX];
	struct stat st;

	if (!sb->drop)
		return 1;
	give_uid = sb->uid;
	give_gid = sb->gid;
	if (snprintf(path, sizeof(path), "%s/data", state_dir) >= (int)sizeof(path) ||
	    nftw(path, give_one, 16, FTW_PHYS) != 0) {
		*why = "cannot hand STATE_DIR/data to the user";
		return 0;
	}
	if (snprintf(path, sizeof(path), "%s/challenge.hash", state_dir) >=
	    (int)sizeof(path) || (lstat(path, &st) == 0 &&
	    lchown(path, sb->uid, sb->gid) != 0)) {
		*why = "cannot hand challenge.hash to the user";
		return 0;
	}
	/* Traversable by the user's group only; keys stay 0600 root. */
	if (stat(state_dir, &st) != 0 || (st.st_uid != sb->uid &&
	    (chown(state_dir, (uid_t)-1, sb->gid) != 0 ||
	    chmod(state_dir, 0710) != 0))) {
		*why = "cannot let the user reach STATE_DIR/data";
		return 0;
	}
	return 1;
}

int
sandbox_drop(const struct sandbox *sb, const char **why)
{
	if (!sb->drop)
		return 1;
	if (setgroups(1, &sb->gid) != 0 || setgid(sb->gid) != 0 ||
	    setuid(sb->uid) != 0) {
		*why = "cannot switch to the unprivileged user";
		return 0;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		*why = "root could be regained after switching user";
		return 0;
	}
	return 1;
}

#if defined(__x86_64__)
#define SANDBOX_ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH	AUDIT_ARCH_AARCH64
#endif

#define DENY(nr, err) \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err))

int
sandbox_no_network(const char **why)
{
#ifdef SANDBOX_ARCH
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
#ifdef __x86_64__
		/* The x32 ABI numbers the same calls differently: none. */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
#endif
		DENY(__NR_execve, EPERM),
		DENY(__NR_execveat, EPERM),
#ifdef __NR_io_uring_setup
		DENY(__NR_io_uring_setup, EPERM),	/* it makes sockets too */
#endif
		/* socket(): AF_UNIX (syslog) only. */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
		.filter = filter,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
		*why = "cannot install the seccomp filter";
		return 0;
	}
	return 1;
#else
	*why = "no seccomp filter for this architecture";
	return 0;
#endif
}

int
sandbox_confine_signer(void *arg, const char **why)
{
	const struct sandbox *sb = arg;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		*why = "cannot make the signer undumpable";
		return 0;
	}
	return sandbox_drop(sb, why) && sandbox_no_network(why);
}
