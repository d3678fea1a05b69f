/*
 * The admin API, on its own listener (loopback by default), behind a
 * bearer token:
 *   GET  /api/v1/transactions?status=&since=&q=
 *   GET  /api/v1/transactions/{id}              (transactionID, serial, CN)
 *   POST /api/v1/transactions/{id}/installed    (an MDM or script reports)
 *   POST /api/v1/transactions/{id}/install_failed
 *   GET  /metrics                               (Prometheus text format)
 */
#ifndef ADMIN_API_H
#define ADMIN_API_H

#include "server/config.h"
#include "store/ledger.h"

#define ADMIN_TOKEN_LEN 32

typedef struct admin_api admin_api;

/* The token from the config, or from STATE_DIR/admin.token (made once). */
int admin_api_token(const struct scepd_config *cfg, char *out, size_t cap,
    const char **why);
int admin_api_start(const char *listen, const char *token, ledger *l,
    admin_api **out, int *port, const char **why);
void admin_api_stop(admin_api *a);

#endif
