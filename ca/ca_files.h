/* Private to ca/: PEM files written atomically with safe modes. */
#ifndef CA_FILES_H
#define CA_FILES_H

#include <openssl/evp.h>
#include <openssl/x509.h>

int ca_file_exists(const char *path);
/* Mode 0600, written to a temporary name, fsync'd, renamed into place. */
int ca_write_key(const char *path, EVP_PKEY *k, const char **why);
int ca_write_cert(const char *path, X509 *x, const char **why);
/* Refuses a key readable by group or others. */
EVP_PKEY *ca_read_key(const char *path, const char **why);
X509 *ca_read_cert(const char *path, const char **why);

#endif
