/* Private to ca/: helpers shared by its files. */
#ifndef CA_INT_H
#define CA_INT_H

#include <openssl/x509.h>

/* A fresh random positive serial with 127 bits of entropy. */
int ca_random_serial(ASN1_INTEGER **out);
/* Add an extension written in OpenSSL's config syntax. */
int ca_add_ext(X509 *x, X509 *issuer, int nid, const char *value);

#include <openssl/x509v3.h>
/* "DNS:a, IP:1.2.3.4, UPN:u@x" for the ledger; malloc'd. */
int ca_describe_sans(const GENERAL_NAMES *gens, char **out);

#endif
