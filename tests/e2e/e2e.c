/*
 * What the end-to-end suites share: starting and stopping their servers,
 * and building, sending and checking a request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include "tests/e2e/e2e.h"

struct tu_server e2e_srv;
struct tu_server e2e_legacy;
/* Set by a fixture when a server exits uncleanly (e.g. a sanitizer report). */
static int server_unclean;

void
e2e_start_or_exit(struct tu_server *s, const char *const *extra)
{
	if (!tu_server_start(s, extra)) {
		fprintf(stderr, "cannot start scepd\n");
		exit(1);
	}
}

void
e2e_stop_checked(struct tu_server *s)
{
	if (!tu_server_stop(s))
		server_unclean = 1;
}

void
e2e_start_main(struct tu_server *s)
{
	/* Failed-challenge limits have their own test; none here. */
	static const char *const extra[] = { "legacy_algorithms=no",
	    "max_clock_skew=300", "challenge_failures=0", NULL };

	e2e_start_or_exit(s, extra);
}

void
e2e_start_legacy(struct tu_server *s)
{
	static const char *const extra[] = { "legacy_algorithms=yes",
	    "max_body=64k", "crl_url=http://pki.lab.example/lab.crl", NULL };

	e2e_start_or_exit(s, extra);
}

void
e2e_main_up(void)
{
	e2e_start_main(&e2e_srv);
}

void
e2e_main_down(void)
{
	e2e_stop_checked(&e2e_srv);
}

void
e2e_legacy_up(void)
{
	e2e_start_legacy(&e2e_legacy);
}

void
e2e_legacy_down(void)
{
	e2e_stop_checked(&e2e_legacy);
}

int
e2e_run(Suite *s)
{
	int rc = tu_run_suite(s, 1);

	if (server_unclean)
		fprintf(stderr, "e2e: scepd exited uncleanly (see its log above)\n");
	return rc == 0 && !server_unclean ? 0 : 1;
}

/* A request for s, encrypted to its RA certificate. */
void
e2e_build(const struct tu_server *s, const struct tc_opts *o, struct tc_req *req)
{
	X509 *ra = tu_server_cert(s, "ra");

	ck_assert_ptr_nonnull(ra);
	ck_assert(tc_build(o, ra, req));
	X509_free(ra);
}

void
e2e_post(const struct tu_server *s, const char *path, const char *ctype,
    const struct tc_req *req, struct tu_http *h)
{
	char target[256];

	snprintf(target, sizeof(target), "%s?operation=PKIOperation", path);
	ck_assert(tu_http(s->port, "POST", target, ctype, req->der, req->len, h));
}

/* The reply must be a CertRep about this request, signed by the RA. */
void
e2e_check_certrep(const struct tu_server *s, const struct tc_req *req,
    const struct tu_http *h, struct tc_rep *rep)
{
	X509 *ra = tu_server_cert(s, "ra");

	ck_assert_int_eq(h->status, 200);
	ck_assert_str_eq(h->ctype, "application/x-pki-message");
	ck_assert_int_eq(h->clen, (long)h->len);
	ck_assert_msg(tc_parse_certrep(h->body, h->len, req, rep),
	    "CertRep does not parse or verify");
	ck_assert_int_eq(rep->msg_type, 3);
	ck_assert_str_eq(rep->txid, req->txid);
	ck_assert_uint_eq(rep->recipient_nonce_len, sizeof(req->nonce));
	ck_assert_mem_eq(rep->recipient_nonce, req->nonce, sizeof(req->nonce));
	ck_assert_uint_eq(rep->sender_nonce_len, 16);
	ck_assert_int_ne(memcmp(rep->sender_nonce, req->nonce, 16), 0);
	ck_assert_int_eq(X509_cmp(rep->signer, ra), 0);
	X509_free(ra);
}

void
e2e_check_issued(const struct tu_server *s, const struct tc_req *req,
    const struct tc_rep *rep)
{
	X509 *cacert = tu_server_cert(s, "ca");

	ck_assert_int_eq(rep->status, 0);
	ck_assert_ptr_nonnull(rep->cert);
	ck_assert_int_eq(X509_check_issued(cacert, rep->cert), X509_V_OK);
	ck_assert_int_eq(X509_verify(rep->cert, X509_get0_pubkey(cacert)), 1);
	ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(rep->cert), req->key), 1);
	X509_free(cacert);
}

void
e2e_enroll_ok(const struct tu_server *s, const struct tc_opts *o, const char *path,
    const char *ctype, struct tc_req *req, struct tc_rep *rep)
{
	struct tu_http h;

	e2e_build(s, o, req);
	e2e_post(s, path, ctype, req, &h);
	e2e_check_certrep(s, req, &h, rep);
	e2e_check_issued(s, req, rep);
	tu_http_free(&h);
}

char *
e2e_serial_of(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hx = BN_bn2hex(bn), *copy = strdup(hx);

	OPENSSL_free(hx);
	BN_free(bn);
	return copy;
}
