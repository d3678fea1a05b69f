/* Private to ca/: helpers shared by its files. */
#ifndef CA_INT_H
#define CA_INT_H

#include <time.h>

#include <openssl/x509.h>

#include "ca/ca.h"

/* A fresh random positive serial with 127 bits of entropy. */
int ca_random_serial(ASN1_INTEGER **out);
/*
 * A v3 certificate skeleton for pub: fresh serial, subject, issuer (NULL:
 * self-issued), valid from now - 5 min for days, capped at the issuer's
 * notAfter.  No extensions, unsigned.
 */
X509 *ca_cert_new(EVP_PKEY *pub, const X509_NAME *subject, X509 *issuer,
    int days, time_t now);
/* Add an extension written in OpenSSL's config syntax. */
int ca_add_ext(X509 *x, X509 *issuer, int nid, const char *value);

#include <openssl/x509v3.h>
/* "DNS:a, IP:1.2.3.4, UPN:u@x" for the ledger; malloc'd. */
int ca_describe_sans(const GENERAL_NAMES *gens, char **out);

/* The remote for a keyless CA, or NULL. */
const struct ca_remote *ca_remote_of(const ca *c, void **arg);

#endif
