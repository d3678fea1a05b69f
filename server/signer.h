/*
 * The CA signer: a process of its own that holds the CA keys (the
 * acme-client pattern).  It is forked before anything reads a CA key,
 * opens (on first start creates) the CA, confines itself, and then only
 * answers three requests over socketpairs: issue a certificate, sign a
 * CRL, open an envelope addressed to the CA.  The network-facing process
 * opens the CA keyless (ca_open_keyless) and sends those operations here
 * through the ca_remote that signer_attach installs.
 */
#ifndef SIGNER_H
#define SIGNER_H

#include <stddef.h>
#include <sys/types.h>

#include "ca/ca.h"

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

#endif
