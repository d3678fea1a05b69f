/*
 * server/http: the SCEP HTTP front end (RFC 8894 4).  GetCACert,
 * GetCACaps, GetNextCACert and PKIOperation on /certsrv/mscep/mscep.dll,
 * /scep and /cgi-bin/pkiclient.exe, /crl/, and NDES's challenge page
 * /certsrv/mscep_admin/, served by a libmicrohttpd thread pool; each
 * PKIOperation runs on a worker pool while its connection waits.
 *
 * Owns: listeners and their limits, routing, per-request deadlines, the
 * worker queue, the request log line.
 * Must not touch: the ledger, the CA or pkcs7/ — a request's meaning is
 * enroll's (enroll.h), including the delivery event HTTP reports.
 */
#ifndef SCEPD_HTTP_H
#define SCEPD_HTTP_H

#include <stddef.h>

#include "server/common/common.h"
#include "server/enroll/enroll.h"

typedef struct http_server http_server;

/* NDES's /certsrv/mscep_admin/ page (challenge_mode = onetime). */
struct http_admin {
	int			 enabled;
	int			 remote;	/* serve beyond loopback */
	const char		*user;
	struct challenge	 password;	/* hashed */
	long			 ttl;
	int			 max;
};

/* Start serving; *port receives the bound port (useful with port 0). */
int http_start(const struct scepd_config *cfg, struct enroll_ctx *e,
    const struct http_admin *admin, http_server **out, int *port,
    const char **why);
void http_stop(http_server *s);
/*
 * SIGHUP: max_body at once; changed connection limits (max_connections,
 * max_connections_per_ip, timeout, max_url) by a new daemon that takes
 * over the listening socket while the old one finishes its connections.
 * 0 with *why when the limits could not be changed.
 */
int http_reload(http_server *s, const struct scepd_config *cfg,
    const char **why);
/*
 * Once a second: cut off connections past header_timeout or body_timeout,
 * and stop replaced daemons that have no connection left.
 */
void http_reap(http_server *s);

/* The GetCACaps text for this configuration (static storage). */
const char *http_caps_text(int legacy);

#endif
