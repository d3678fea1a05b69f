/*
 * server/privsep: privilege separation.  The CA signer process (keys in a
 * process of their own, the acme-client pattern), the client side that
 * forwards the CA's private-key operations to it, the wire format they
 * speak, and the sandbox both processes enter.
 *
 * Owns: the signer process, its socketpairs and frames, uid/gid drops,
 * the seccomp filter.
 * Must not touch: the ledger, HTTP, enrollment policy.
 */
#ifndef SCEPD_PRIVSEP_H
#define SCEPD_PRIVSEP_H

#include <sys/types.h>

#include <stddef.h>

#include "ca/ca.h"

/*
 * The CA signer: a process of its own that holds the CA keys (the
 * acme-client pattern).  It is forked before anything reads a CA key,
 * opens (on first start creates) the CA, confines itself, and then only
 * answers three requests over socketpairs: issue a certificate, sign a
 * CRL, open an envelope addressed to the CA.  The network-facing process
 * opens the CA keyless (ca_open_keyless) and sends those operations here
 * through the ca_remote that signer_attach installs.
 */

typedef struct signer signer;

/*
 * Fork the signer for the CA in dir.  In the child, confine(arg) runs
 * after the keys are read (a failure stops it).  channels: how many
 * requests may be in flight at once.  *created: the CA was made now.
 * p->passphrase may be cleansed once this returns.
 */
int signer_start(const char *dir, const struct ca_params *p,
    size_t channels, int (*confine)(void *arg, const char **why), void *arg,
    int *created, signer **out, const char **why);
/* Send c's (and its generations') private-key operations to s. */
void signer_attach(signer *s, ca *c);
/* The GetNextCACert reply the signer made at start (NULL: no next CA). */
const unsigned char *signer_nextca(const signer *s, size_t *len);
pid_t signer_pid(const signer *s);
/* Still running?  (Reaps it if not.) */
int signer_alive(signer *s);
/* Close the channels and wait for the process; 0 if it did not exit 0. */
int signer_stop(signer *s);

/* GetNextCACert (RFC 8894 4.7.1), signed with c's key; NULL: no next CA. */
int signer_nextca_der(const ca *c, unsigned char **der, size_t *len);

/*
 * Least privilege for scepd's two processes, after acme-client and relayd
 * as far as Linux allows without extra libraries.  Started as root, both
 * switch to an unprivileged user once their keys are read and sockets
 * bound.  The CA signer process also loses the right to create network
 * sockets or run programs (a seccomp filter) and is not dumpable, so the
 * network-facing process cannot trace it or read its memory.
 */

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
