/*
 * The CA's CRL, built from the ledger and kept as a DER file in
 * STATE_DIR/crl/<ca id>.crl: published on every revocation (by scepctl)
 * and again before its nextUpdate (by scepd), read by /crl/ and GetCRL.
 */
#ifndef CRL_H
#define CRL_H

#include <stddef.h>

#include "ca/ca.h"
#include "store/ledger.h"

/* Build, sign and write a new CRL with the next CRL number. */
int crl_publish(const ca *c, ledger *l, const char *state_dir, int days,
    const char **why);
/*
 * Publish if the file is missing, unreadable, or past half its life;
 * *published says whether it did.
 */
int crl_refresh(const ca *c, ledger *l, const char *state_dir, int days,
    int *published, const char **why);
/* The current CRL as DER (malloc'd), or NULL. */
unsigned char *crl_read(const ca *c, const char *state_dir, size_t *len);

#endif
