/* What the end-to-end suites share (tests/e2e/e2e.c). */
#ifndef TESTS_E2E_H
#define TESTS_E2E_H

#include <check.h>
#include <openssl/x509.h>

#include "tests/lib/scep_client.h"
#include "tests/lib/testutil.h"

#define MSCEP "/certsrv/mscep/mscep.dll"

void e2e_start_or_exit(struct tu_server *s, const char *const *extra);
/* Stop s; an unclean exit fails the suite (e2e_run). */
void e2e_stop_checked(struct tu_server *s);
/* The main server: modern algorithms only, signingTime checked. */
void e2e_start_main(struct tu_server *s);
/* The legacy server: SHA-1/DES allowed, small max_body. */
void e2e_start_legacy(struct tu_server *s);
/*
 * A suite's shared servers, as unchecked fixtures (started once, before
 * its tests fork): e2e_srv the main server, e2e_legacy the legacy one.
 */
extern struct tu_server e2e_srv;
extern struct tu_server e2e_legacy;
void e2e_main_up(void);
void e2e_main_down(void);
void e2e_legacy_up(void);
void e2e_legacy_down(void);
/* Run the suite; non-zero when a test failed or a server exited uncleanly. */
int e2e_run(Suite *s);

/* A request for s, encrypted to its RA certificate. */
void e2e_build(const struct tu_server *s, const struct tc_opts *o,
    struct tc_req *req);
void e2e_post(const struct tu_server *s, const char *path, const char *ctype,
    const struct tc_req *req, struct tu_http *h);
/* The reply must be a CertRep about this request, signed by the RA. */
void e2e_check_certrep(const struct tu_server *s, const struct tc_req *req,
    const struct tu_http *h, struct tc_rep *rep);
void e2e_check_issued(const struct tu_server *s, const struct tc_req *req,
    const struct tc_rep *rep);
void e2e_enroll_ok(const struct tu_server *s, const struct tc_opts *o,
    const char *path, const char *ctype, struct tc_req *req,
    struct tc_rep *rep);
/* The certificate's serial in uppercase hex; malloc'd. */
char *e2e_serial_of(X509 *x);

#endif
