/* Start-up steps shared by scepd and scepctl. */
#ifndef SETUP_H
#define SETUP_H

#include <stddef.h>

#include "ca/ca.h"
#include "server/config.h"

#define SCEPD_VERSION "0.1.0"
#define SCEPD_DEFAULT_CONF "/etc/scepd/scepd.conf"

/* Read -c FILE (or the default) then the -o overrides, in order. */
int setup_config(struct scepd_config *cfg, const char *path,
    char *const *overrides, size_t n, char *err, size_t cap);
/* Create the state directory (mode 0700) if it does not exist. */
int setup_state_dir(const char *dir, const char **why);
/*
 * CA parameters from the configuration, with the key passphrase read from
 * key_passphrase_file (0600 or tighter).  Cleanse p->passphrase after use.
 */
int setup_ca_params(const struct scepd_config *cfg, struct ca_params *p,
    const char **why);
/*
 * PKIOperation worker threads: `threads`, or four per CPU (a worker waiting
 * for the signer or its group commit leaves the CPU to another).
 */
unsigned int setup_worker_threads(const struct scepd_config *cfg);
/* An absolute path to an executable (challenge_exec, hook_command)? */
int setup_executable(const char *path);
/*
 * STATE_DIR/data: what scepd writes while it runs (ledger, CRLs), so that a
 * scepd that dropped root can own it while the keys stay root's.  Creates
 * it and moves in a ledger and CRLs from the old layout.
 */
int setup_data_dir(const char *state_dir, const char **why);
/* STATE_DIR/data/ledger.db (or the old STATE_DIR/ledger.db if only it exists). */
int setup_ledger_path(const struct scepd_config *cfg, char *buf, size_t cap);
/* OpenSSL's legacy provider (single DES) next to the default one. */
int setup_legacy_provider(void);
/* Unload them again (at exit, so that leak checkers see nothing lost). */
void setup_providers_free(void);
/*
 * "ADDRESS:PORT" (numeric IPv4, or [IPv6]) into a socket address for
 * libmicrohttpd; *v6 says which.
 */
struct sockaddr_storage;
int setup_sockaddr(const char *listen, struct sockaddr_storage *ss, int *v6,
    const char **why);

/* Write the port atomically so that a watcher never reads half. */
int setup_port_file(const char *path, int port);

#endif
