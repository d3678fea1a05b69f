/*
 * Least privilege for scepd's two processes, after acme-client and relayd
 * as far as Linux allows without extra libraries.  Started as root, both
 * switch to an unprivileged user once their keys are read and sockets
 * bound.  The CA signer process also loses the right to create network
 * sockets or run programs (a seccomp filter) and is not dumpable, so the
 * network-facing process cannot trace it or read its memory.
 */
#ifndef SANDBOX_H
#define SANDBOX_H

#include <sys/types.h>

struct sandbox {
	int	 drop;		/* started as root, and switching */
	uid_t	 uid;
	gid_t	 gid;
	char	 user[64];
};

/*
 * The account to switch to: user, or "" for scepd (nobody when there is
 * no scepd account); "root" stays root.  Not root: nothing to drop.
 */
int sandbox_init(struct sandbox *sb, const char *user, const char **why);
/*
 * Hand the user what it writes while running: STATE_DIR/data (ledger,
 * CRLs) and challenge.hash (re-read on SIGHUP); STATE_DIR itself becomes
 * group-traversable for it.  Keys and certificates stay root's.
 */
int sandbox_give(const struct sandbox *sb, const char *state_dir,
    const char **why);
/* setgroups, setgid, setuid; checks that root cannot be regained. */
int sandbox_drop(const struct sandbox *sb, const char **why);
/* No new privileges; socket() for anything but AF_UNIX and exec fail. */
int sandbox_no_network(const char **why);
/* The signer's confinement (not dumpable, drop, no network); arg: sandbox. */
int sandbox_confine_signer(void *arg, const char **why);

#endif
