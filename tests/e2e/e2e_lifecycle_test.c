/*
 * End to end, a certificate's life after issuance: renewal (RenewalReq and
 * certmonger's PKCSReq), revocation, GetCert, GetCRL, CA rollover. The
 * real bin/scepd on 127.0.0.1 port 0, driven over HTTP by a SCEP client
 * that shares no code with the server.
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "ca/ca.h"
#include "server/common/common.h"
#include "tests/e2e/e2e.h"

/* Enroll, then return the request (its key) and the issued certificate. */
static void
first_cert(const struct tu_server *s, const char *cn, struct tc_req *req,
    struct tc_rep *rep)
{
	struct tc_opts o = { .cn = cn, .challenge = "lab-secret",
	    .sans = "DNS:renew.lab.example" };

	e2e_enroll_ok(s, &o, MSCEP, NULL, req, rep);
}

/*
 * RenewalReq signed by the certificate: no challenge, same or new key,
 * identity kept (renewal_subject = same), linked in the ledger, and the
 * original issuance gets "installed" evidence.
 */
START_TEST(test_renewal)
{
	struct tc_req first, req;
	struct tc_rep old, rep;
	struct tc_opts o = { .cn = "asks-for-another-name", .msg_type = 17 };
	char *old_serial, *new_serial, *v;

	first_cert(&e2e_srv, "renew-me", &first, &old);
	o.sign_cert = old.cert;
	o.sign_key = first.key;
	if (_i == 1)
		o.key = first.key;	/* same key: micromdm, certmonger resubmit */
	e2e_enroll_ok(&e2e_srv, &o, "/scep", NULL, &req, &rep);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(rep.cert),
	    X509_get_subject_name(old.cert)), 0);
	{
		GENERAL_NAMES *gens = X509_get_ext_d2i(rep.cert,
		    NID_subject_alt_name, NULL, NULL);

		ck_assert_ptr_nonnull(gens);
		GENERAL_NAMES_free(gens);
	}
	old_serial = e2e_serial_of(old.cert);
	new_serial = e2e_serial_of(rep.cert);
	ck_assert_str_ne(old_serial, new_serial);
	v = tu_ledger_query(&e2e_srv, "SELECT message_type || '|' || renewal_of FROM "
	    "operations WHERE cert_serial = ?1", new_serial);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(strncmp(v, "17|", 3), 0);
	ck_assert_str_eq(v + 3, old_serial);
	free(v);
	v = tu_ledger_query(&e2e_srv, "SELECT e.source FROM events e JOIN operations o"
	    " ON o.id = e.operation_id WHERE o.cert_serial = ?1 AND"
	    " o.outcome = 'issued' AND e.kind = 'installed'", old_serial);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "renewal");
	free(v);
	free(old_serial);
	free(new_serial);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tc_rep_free(&old);
	tc_req_free(&first);
}
END_TEST

/* certmonger renews with a PKCSReq signed by its certificate. */
START_TEST(test_renewal_pkcsreq)
{
	struct tc_req first, req, again;
	struct tc_rep old, rep, rep2;
	struct tc_opts o = { .cn = "renew-pkcsreq" };
	struct tu_http h;
	char *old_serial, *v;

	first_cert(&e2e_srv, "renew-pkcsreq", &first, &old);
	o.sign_cert = old.cert;
	o.sign_key = first.key;
	e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &req, &rep);
	old_serial = e2e_serial_of(old.cert);
	v = tu_ledger_query(&e2e_srv, "SELECT message_type || '|' || renewal_of FROM "
	    "operations WHERE transaction_id = ?1", req.txid);
	ck_assert_int_eq(strncmp(v, "19|", 3), 0);
	ck_assert_str_eq(v + 3, old_serial);
	free(v);
	/* Re-sent: the same renewed certificate, not a third one. */
	e2e_post(&e2e_srv, MSCEP, NULL, &req, &h);
	e2e_check_certrep(&e2e_srv, &req, &h, &rep2);
	ck_assert_int_eq(X509_cmp(rep2.cert, rep.cert), 0);
	tu_http_free(&h);
	/* Signed by the RA certificate: not one scepd issued to a device. */
	{
		char path[512];
		X509 *ra = tu_server_cert(&e2e_srv, "ra");
		EVP_PKEY *rakey;
		struct tc_rep bad;

		snprintf(path, sizeof(path), "%s/var/ra.key", e2e_srv.dir);
		rakey = tu_read_key(path);
		o.sign_cert = ra;
		o.sign_key = rakey;
		o.msg_type = 17;
		e2e_build(&e2e_srv, &o, &again);
		e2e_post(&e2e_srv, MSCEP, NULL, &again, &h);
		e2e_check_certrep(&e2e_srv, &again, &h, &bad);
		ck_assert_int_eq(bad.status, 2);
		ck_assert_int_eq(bad.fail_info, 1);
		v = tu_ledger_query(&e2e_srv, "SELECT reason FROM operations WHERE"
		    " transaction_id = ?1", again.txid);
		ck_assert_str_eq(v, "signing certificate was not issued through scepd");
		free(v);
		tc_rep_free(&bad);
		tc_req_free(&again);
		tu_http_free(&h);
		X509_free(ra);
		EVP_PKEY_free(rakey);
	}
	free(old_serial);
	tc_rep_free(&rep2);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tc_rep_free(&old);
	tc_req_free(&first);
}
END_TEST

/* A revoked certificate cannot renew itself. */
START_TEST(test_renewal_revoked)
{
	struct tc_req first, req;
	struct tc_rep old, rep;
	struct tc_opts o = { .cn = "revoked", .msg_type = 17 };
	struct tu_http h;
	char *serial, args[128], *out, *v;

	first_cert(&e2e_srv, "revoked", &first, &old);
	serial = e2e_serial_of(old.cert);
	snprintf(args, sizeof(args), "revoke %s --reason keyCompromise", serial);
	out = tu_scepctl(&e2e_srv, args);
	ck_assert_ptr_nonnull(strstr(out, "revoked"));
	free(out);
	o.sign_cert = old.cert;
	o.sign_key = first.key;
	e2e_build(&e2e_srv, &o, &req);
	e2e_post(&e2e_srv, MSCEP, NULL, &req, &h);
	e2e_check_certrep(&e2e_srv, &req, &h, &rep);
	ck_assert_int_eq(rep.status, 2);
	ck_assert_int_eq(rep.fail_info, 2);
	v = tu_ledger_query(&e2e_srv, "SELECT reason || '|' || renewal_of FROM"
	    " operations WHERE transaction_id = ?1", req.txid);
	ck_assert_ptr_nonnull(strstr(v, "signing certificate is revoked|"));
	free(v);
	v = tu_ledger_query(&e2e_srv, "SELECT revocation_reason FROM certificates"
	    " WHERE serial = ?1", serial);
	ck_assert_str_eq(v, "1");
	free(v);
	free(serial);
	tu_http_free(&h);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tc_rep_free(&old);
	tc_req_free(&first);
}
END_TEST

/* renewal_window and renewal_subject = csr. */
START_TEST(test_renewal_policy)
{
	static const char *const early[] = { "renewal_window=1d", NULL };
	static const char *const csr[] = { "renewal_window=30d",
	    "renewal_subject=csr", "cert_days=10", NULL };
	struct tu_server s;
	struct tc_req first, req;
	struct tc_rep old, rep;
	struct tc_opts o = { .cn = "new-name", .msg_type = 17 };
	struct tu_http h;
	X509_NAME *want;

	/* A year-long certificate is not due for renewal a day before expiry. */
	ck_assert(tu_server_start(&s, early));
	first_cert(&s, "early", &first, &old);
	o.sign_cert = old.cert;
	o.sign_key = first.key;
	e2e_build(&s, &o, &req);
	e2e_post(&s, MSCEP, NULL, &req, &h);
	e2e_check_certrep(&s, &req, &h, &rep);
	ck_assert_int_eq(rep.status, 2);
	ck_assert_int_eq(rep.fail_info, 2);
	tu_http_free(&h);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tc_rep_free(&old);
	tc_req_free(&first);
	ck_assert(tu_server_stop(&s));

	/* Inside the window, and the subject comes from the CSR. */
	ck_assert(tu_server_start(&s, csr));
	first_cert(&s, "old-name", &first, &old);
	o.sign_cert = old.cert;
	o.sign_key = first.key;
	e2e_enroll_ok(&s, &o, MSCEP, NULL, &req, &rep);
	want = X509_NAME_new();
	X509_NAME_add_entry_by_txt(want, "CN", MBSTRING_ASC,
	    (const unsigned char *)"new-name", -1, -1, 0);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(rep.cert), want), 0);
	X509_NAME_free(want);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tc_rep_free(&old);
	tc_req_free(&first);
	ck_assert(tu_server_stop(&s));
}
END_TEST

/* GetCert or GetCRL for (issuer, serial); returns the parsed reply. */
static void
fetch(const struct tu_server *s, int type, const X509_NAME *issuer,
    const ASN1_INTEGER *serial, struct tc_req *req, struct tc_rep *rep)
{
	struct tc_opts o = { .cn = "fetcher", .msg_type = type };
	struct tu_http h;
	unsigned char *ias;
	size_t len = 0;

	ias = tc_issuer_and_serial(issuer, serial, &len);
	o.content = ias;
	o.content_len = len;
	e2e_build(s, &o, req);
	e2e_post(s, "/scep", NULL, req, &h);
	e2e_check_certrep(s, req, &h, rep);
	tu_http_free(&h);
	free(ias);
}

START_TEST(test_getcert)
{
	struct tc_req first, req;
	struct tc_rep issued, rep;
	X509 *cacert = tu_server_cert(&e2e_srv, "ca");
	ASN1_INTEGER *nope = ASN1_INTEGER_new();
	char *v, *serial;

	first_cert(&e2e_srv, "fetch-me", &first, &issued);
	fetch(&e2e_srv, 21, X509_get_subject_name(cacert),
	    X509_get0_serialNumber(issued.cert), &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_ptr_nonnull(rep.cert);
	ck_assert_int_eq(X509_cmp(rep.cert, issued.cert), 0);
	serial = e2e_serial_of(issued.cert);
	v = tu_ledger_query(&e2e_srv, "SELECT outcome || '|' || message_type || '|' ||"
	    " cert_serial FROM operations WHERE transaction_id = ?1", req.txid);
	ck_assert_int_eq(strncmp(v, "returned|21|", 12), 0);
	ck_assert_str_eq(v + 12, serial);
	free(v);
	free(serial);
	tc_rep_free(&rep);
	tc_req_free(&req);
	/* Unknown serial, or another issuer: badCertId. */
	ASN1_INTEGER_set(nope, 12345);
	fetch(&e2e_srv, 21, X509_get_subject_name(cacert), nope, &req, &rep);
	ck_assert_int_eq(rep.status, 2);
	ck_assert_int_eq(rep.fail_info, 4);
	tc_rep_free(&rep);
	tc_req_free(&req);
	fetch(&e2e_srv, 21, X509_get_subject_name(first.signer),
	    X509_get0_serialNumber(issued.cert), &req, &rep);
	ck_assert_int_eq(rep.status, 2);
	ck_assert_int_eq(rep.fail_info, 4);
	v = tu_ledger_query(&e2e_srv, "SELECT reason FROM operations WHERE"
	    " transaction_id = ?1", req.txid);
	ck_assert_str_eq(v, "RFC 8894 3.3.3: issuer is not this CA");
	free(v);
	tc_rep_free(&rep);
	tc_req_free(&req);
	ASN1_INTEGER_free(nope);
	X509_free(cacert);
	tc_rep_free(&issued);
	tc_req_free(&first);
}
END_TEST

/* Revocation reaches the CRL at once: by GetCRL and at /crl/<id>.crl. */
START_TEST(test_getcrl)
{
	struct tc_req first, req;
	struct tc_rep issued, rep;
	X509 *cacert = tu_server_cert(&e2e_srv, "ca");
	STACK_OF(X509_REVOKED) *list;
	ASN1_INTEGER *number;
	unsigned char *der = NULL;
	char args[128], target[64], *serial, *out;
	struct tu_http h;
	long before;
	int i, n, found = 0;

	/* The CRL as it stands. */
	fetch(&e2e_srv, 22, X509_get_subject_name(cacert),
	    X509_get0_serialNumber(cacert), &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_ptr_nonnull(rep.crl);
	number = X509_CRL_get_ext_d2i(rep.crl, NID_crl_number, NULL, NULL);
	before = ASN1_INTEGER_get(number);
	ASN1_INTEGER_free(number);
	tc_rep_free(&rep);
	tc_req_free(&req);

	first_cert(&e2e_srv, "revoke-me", &first, &issued);
	serial = e2e_serial_of(issued.cert);
	snprintf(args, sizeof(args), "revoke %s --reason superseded", serial);
	out = tu_scepctl(&e2e_srv, args);
	ck_assert_ptr_nonnull(strstr(out, "CRL republished"));
	free(out);

	fetch(&e2e_srv, 22, X509_get_subject_name(cacert),
	    X509_get0_serialNumber(issued.cert), &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_ptr_nonnull(rep.crl);
	ck_assert_int_eq(X509_CRL_verify(rep.crl, X509_get0_pubkey(cacert)), 1);
	number = X509_CRL_get_ext_d2i(rep.crl, NID_crl_number, NULL, NULL);
	ck_assert_int_gt(ASN1_INTEGER_get(number), before);
	ASN1_INTEGER_free(number);
	list = X509_CRL_get_REVOKED(rep.crl);
	for (i = 0; i < sk_X509_REVOKED_num(list); i++)
		found |= ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(
		    sk_X509_REVOKED_value(list, i)),
		    X509_get0_serialNumber(issued.cert)) == 0;
	ck_assert(found);

	/* The same CRL over plain HTTP, DER, application/pkix-crl. */
	{
		char *id = tu_ledger_query(&e2e_srv, "SELECT ca_id FROM crls", NULL);

		snprintf(target, sizeof(target), "/crl/%s.crl", id);
		free(id);
	}
	ck_assert(tu_http(e2e_srv.port, "GET", target, NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_str_eq(h.ctype, "application/pkix-crl");
	n = i2d_X509_CRL(rep.crl, &der);
	ck_assert_uint_eq(h.len, (size_t)n);
	ck_assert_mem_eq(h.body, der, (size_t)n);
	OPENSSL_free(der);
	tu_http_free(&h);
	ck_assert(tu_http(e2e_srv.port, "GET", "/crl/0000000000000000.crl", NULL,
	    NULL, 0, &h));
	ck_assert_int_eq(h.status, 404);
	tu_http_free(&h);

	free(serial);
	tc_rep_free(&rep);
	tc_req_free(&req);
	X509_free(cacert);
	tc_rep_free(&issued);
	tc_req_free(&first);
}
END_TEST

static X509 *
read_state_cert(const struct tu_server *s, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/var/%s", s->dir, rel);
	return tu_read_cert(path);
}

/*
 * CA rollover (RFC 8894 4.7): the next CA is offered by GetNextCACert,
 * then activated; the previous CA's certificates keep working.
 */
START_TEST(test_rollover)
{
	struct tu_server s;
	struct tc_req first, req;
	struct tc_rep old, rep;
	struct tc_opts renew = { .cn = "after-rollover", .msg_type = 17 };
	struct tc_opts o = { .cn = "to-old-ra", .challenge = "lab-secret" };
	struct tu_http h;
	X509 *ca1, *ra1, *ca2, *next;
	STACK_OF(X509) *certs;
	CMS_ContentInfo *cms;
	const unsigned char *p;
	char *out, *serial, args[128], *v;
	int i, found;

	ck_assert(tu_server_start(&s, NULL));
	ca1 = tu_server_cert(&s, "ca");
	ra1 = tu_server_cert(&s, "ra");
	first_cert(&s, "before-rollover", &first, &old);
	ck_assert(tu_http(s.port, "GET", MSCEP "?operation=GetNextCACert", NULL,
	    NULL, 0, &h));
	ck_assert_int_eq(h.status, 404);
	tu_http_free(&h);

	out = tu_scepctl(&s, "ca rollover");
	ck_assert_ptr_nonnull(strstr(out, "next CA created"));
	free(out);
	out = tu_scepctl(&s, "ca rollover 2>&1");
	ck_assert_ptr_nonnull(strstr(out, "exists already"));
	free(out);
	ck_assert(tu_server_restart(&s));
	next = read_state_cert(&s, "next/ca.pem");
	ck_assert_ptr_nonnull(next);

	/* GetCACaps offers it; GetNextCACert is signed by the current CA. */
	ck_assert(tu_http(s.port, "GET", MSCEP "?operation=GetCACaps", NULL, NULL,
	    0, &h));
	ck_assert_ptr_nonnull(strstr((char *)h.body, "\nGetNextCACert\n"));
	tu_http_free(&h);
	ck_assert(tu_http(s.port, "GET", MSCEP "?operation=GetNextCACert", NULL,
	    NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_str_eq(h.ctype, "application/x-x509-next-ca-cert");
	p = h.body;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)h.len);
	ck_assert_ptr_nonnull(cms);
	{
		STACK_OF(X509) *trust = sk_X509_new_null();
		BIO *content = BIO_new(BIO_s_mem());
		BUF_MEM *bm;

		sk_X509_push(trust, ca1);
		ck_assert_int_eq(CMS_verify(cms, trust, NULL, NULL, content,
		    CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY), 1);
		BIO_get_mem_ptr(content, &bm);
		certs = tc_certs_only((unsigned char *)bm->data, bm->length);
		ck_assert_ptr_nonnull(certs);
		for (i = 0, found = 0; i < sk_X509_num(certs); i++)
			found |= X509_cmp(sk_X509_value(certs, i), next) == 0;
		ck_assert(found);
		ck_assert_int_eq(sk_X509_num(certs), 2);	/* CA and RA */
		sk_X509_pop_free(certs, X509_free);
		sk_X509_free(trust);
		BIO_free(content);
	}
	CMS_ContentInfo_free(cms);
	tu_http_free(&h);

	/* Switch over. */
	out = tu_scepctl(&s, "ca activate");
	ck_assert_ptr_nonnull(strstr(out, "now current"));
	free(out);
	ck_assert(tu_server_restart(&s));
	ca2 = tu_server_cert(&s, "ca");
	ck_assert_int_eq(X509_cmp(ca2, next), 0);
	ck_assert(tu_http(s.port, "GET", MSCEP "?operation=GetCACaps", NULL, NULL,
	    0, &h));
	ck_assert_ptr_null(strstr((char *)h.body, "GetNextCACert"));
	tu_http_free(&h);

	/* A certificate of the previous CA renews, under the new CA. */
	renew.sign_cert = old.cert;
	renew.sign_key = first.key;
	e2e_enroll_ok(&s, &renew, MSCEP, NULL, &req, &rep);
	ck_assert_int_eq(X509_check_issued(ca2, rep.cert), X509_V_OK);
	tc_rep_free(&rep);
	tc_req_free(&req);

	/* A client that still encrypts to the previous RA gets in. */
	ck_assert(tc_build(&o, ra1, &req));
	e2e_post(&s, MSCEP, NULL, &req, &h);
	ck_assert(tc_parse_certrep(h.body, h.len, &req, &rep));
	ck_assert_int_eq(rep.status, 0);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tu_http_free(&h);

	/* GetCert and revocation still work for the previous CA. */
	fetch(&s, 21, X509_get_subject_name(ca1), X509_get0_serialNumber(old.cert),
	    &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_int_eq(X509_cmp(rep.cert, old.cert), 0);
	tc_rep_free(&rep);
	tc_req_free(&req);
	serial = e2e_serial_of(old.cert);
	snprintf(args, sizeof(args), "revoke %s", serial);
	out = tu_scepctl(&s, args);
	ck_assert_ptr_nonnull(strstr(out, "CRL republished"));
	free(out);
	fetch(&s, 22, X509_get_subject_name(ca1), X509_get0_serialNumber(old.cert),
	    &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_ptr_nonnull(rep.crl);
	ck_assert_int_eq(X509_CRL_verify(rep.crl, X509_get0_pubkey(ca1)), 1);
	ck_assert_int_eq(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(rep.crl)), 1);
	tc_rep_free(&rep);
	tc_req_free(&req);
	/* ... and the new CA's CRL does not list it. */
	fetch(&s, 22, X509_get_subject_name(ca2), X509_get0_serialNumber(ca2),
	    &req, &rep);
	ck_assert_int_eq(X509_CRL_verify(rep.crl, X509_get0_pubkey(ca2)), 1);
	/* An empty CRL has no revokedCertificates at all. */
	ck_assert_ptr_null(X509_CRL_get_REVOKED(rep.crl));
	tc_rep_free(&rep);
	tc_req_free(&req);
	v = tu_ledger_query(&s, "SELECT count(DISTINCT ca_id) FROM certificates", NULL);
	ck_assert_str_eq(v, "2");
	free(v);

	free(serial);
	X509_free(ca1);
	X509_free(ra1);
	X509_free(ca2);
	X509_free(next);
	tc_rep_free(&old);
	tc_req_free(&first);
	ck_assert(tu_server_stop(&s));
}
END_TEST

static Suite *
lifecycle_suite(void)
{
	Suite *s = suite_create("e2e_lifecycle");
	TCase *t;

	t = tcase_create("lifecycle");
	tcase_add_unchecked_fixture(t, e2e_main_up, e2e_main_down);
	tcase_add_loop_test(t, test_renewal, 0, 2);
	tcase_add_test(t, test_renewal_pkcsreq);
	tcase_add_test(t, test_renewal_revoked);
	tcase_add_test(t, test_renewal_policy);
	tcase_add_test(t, test_getcert);
	tcase_add_test(t, test_getcrl);
	tcase_add_test(t, test_rollover);
	tcase_set_timeout(t, 240);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return e2e_run(lifecycle_suite());
}
