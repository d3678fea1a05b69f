/* Private to ca/: PEM files written atomically with safe modes. */
#ifndef CA_FILES_H
#define CA_FILES_H

#include <openssl/evp.h>
#include <openssl/x509.h>

int ca_file_exists(const char *path);
/* Mode 0600, written to a temporary name, fsync'd, renamed into place. */
/* pass: encrypt the PEM with AES-256-CBC under it; NULL or "": plain. */
int ca_write_key(const char *path, EVP_PKEY *k, const char *pass,
    const char **why);
int ca_write_cert(const char *path, X509 *x, const char **why);
/* Refuses a key readable by group or others. */
/* An encrypted key needs pass; never prompts on a terminal. */
EVP_PKEY *ca_read_key(const char *path, const char *pass, const char **why);
X509 *ca_read_cert(const char *path, const char **why);
/* A private key on a PKCS#11 token: RFC 7512 URI, module path, PIN. */
EVP_PKEY *ca_pkcs11_key(const char *uri, const char *module, const char *pin,
    const char **why);

#endif
