/*
 * server/admin: the admin listener (loopback by default, a bearer token
 * always): the JSON API, the ledger page served at / and /metrics.
 *
 * Owns: the admin listener and its token.
 * Must not touch: the SCEP listener, the CA, or the ledger beyond the
 * store/ API calls it makes for reports and reported installs.
 */
#ifndef SCEPD_ADMIN_H
#define SCEPD_ADMIN_H

#include "server/common/common.h"
#include "store/ledger.h"

/*
 * The admin API, on its own listener (loopback by default), behind a
 * bearer token:
 *   GET  /api/v1/transactions?status=&since=&q=
 *   GET  /api/v1/transactions/{id}              (transactionID, serial, CN)
 *   POST /api/v1/transactions/{id}/installed    (an MDM or script reports)
 *   POST /api/v1/transactions/{id}/install_failed
 *   POST /api/v1/evidence/{event id}/retract    (body: the reason)
 *   GET  /metrics                               (Prometheus text format)
 */

#define ADMIN_TOKEN_LEN 32

typedef struct admin_api admin_api;

/* The token from the config, or from STATE_DIR/admin.token (made once). */
int admin_api_token(const struct scepd_config *cfg, char *out, size_t cap,
    const char **why);
int admin_api_start(const char *listen, const char *token, ledger *l,
    admin_api **out, int *port, const char **why);
void admin_api_stop(admin_api *a);

#endif
