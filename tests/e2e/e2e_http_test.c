/*
 * End to end, HTTP front end: the SCEP operations on every path, GET and
 * POST as clients encode them, errors and limits, CertRep FAILURE,
 * idempotency, legacy algorithms, EC keys, concurrency. The real bin/scepd
 * on 127.0.0.1 port 0, driven over HTTP by a SCEP client that shares no
 * code with the server.
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

START_TEST(test_getcacaps)
{
	static const char *const targets[] = {
		MSCEP "?operation=GetCACaps",
		MSCEP "?operation=getcacaps&message=SCEP%20Authority",
		"/scep?operation=GETCACAPS&message=ca",
		"/cgi-bin/pkiclient.exe?OPERATION=GetCACaps",
		"/CertSrv/mscep/mscep.dll?operation=GetCACaps",
	};
	struct tu_http h;
	size_t i;

	for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		ck_assert(tu_http(e2e_srv.port, "GET", targets[i], NULL, NULL, 0, &h));
		ck_assert_int_eq(h.status, 200);
		ck_assert_str_eq(h.ctype, "text/plain");
		ck_assert_str_eq((char *)h.body, "POSTPKIOperation\nRenewal\n"
		    "SHA-256\nSHA-384\nSHA-512\nAES\nSCEPStandard\n");
		tu_http_free(&h);
	}
	ck_assert(tu_http(e2e_legacy.port, "GET", MSCEP "?operation=GetCACaps",
	    NULL, NULL, 0, &h));
	ck_assert_ptr_nonnull(strstr((char *)h.body, "\nSHA-1\n"));
	ck_assert_ptr_nonnull(strstr((char *)h.body, "\nDES3\n"));
	tu_http_free(&h);
}
END_TEST

START_TEST(test_getcacert)
{
	struct tu_http h;
	STACK_OF(X509) *certs;
	X509 *cacert = tu_server_cert(&e2e_srv, "ca"), *ra = tu_server_cert(&e2e_srv, "ra");
	int i, found_ca = 0, found_ra = 0;

	ck_assert(tu_http(e2e_srv.port, "GET", "/scep?operation=GetCACert&message=ca",
	    NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_str_eq(h.ctype, "application/x-x509-ca-ra-cert");
	ck_assert_int_eq(h.clen, (long)h.len);
	certs = tc_certs_only(h.body, h.len);
	ck_assert_ptr_nonnull(certs);
	ck_assert_int_eq(sk_X509_num(certs), 2);
	for (i = 0; i < 2; i++) {
		found_ca |= X509_cmp(sk_X509_value(certs, i), cacert) == 0;
		found_ra |= X509_cmp(sk_X509_value(certs, i), ra) == 0;
	}
	ck_assert(found_ca && found_ra);
	/* The RA is NDES's CEP Encryption certificate. */
	ck_assert(X509_get_key_usage(ra) & KU_KEY_ENCIPHERMENT);
	ck_assert(X509_get_key_usage(ra) & KU_DIGITAL_SIGNATURE);
	sk_X509_pop_free(certs, X509_free);
	X509_free(cacert);
	X509_free(ra);
	tu_http_free(&h);
}
END_TEST

/* GetCACert without an RA: the CA alone, as DER. */
START_TEST(test_getcacert_no_ra)
{
	static const char *const extra[] = { "ra_subject=", NULL };
	struct tu_server s;
	struct tu_http h;
	struct tc_opts o = { .cn = "no-ra", .challenge = "lab-secret" };
	struct tc_req req;
	struct tc_rep rep;
	const unsigned char *p;
	X509 *x, *cacert;

	ck_assert(tu_server_start(&s, extra));
	ck_assert(tu_http(s.port, "GET", MSCEP "?operation=GetCACert", NULL,
	    NULL, 0, &h));
	ck_assert_str_eq(h.ctype, "application/x-x509-ca-cert");
	p = h.body;
	x = d2i_X509(NULL, &p, (long)h.len);
	cacert = tu_server_cert(&s, "ca");
	ck_assert_int_eq(X509_cmp(x, cacert), 0);
	/* Clients then encrypt to the CA; its key signs the CertRep. */
	ck_assert(tc_build(&o, cacert, &req));
	tu_http_free(&h);
	e2e_post(&s, MSCEP, NULL, &req, &h);
	ck_assert(tc_parse_certrep(h.body, h.len, &req, &rep));
	ck_assert_int_eq(rep.status, 0);
	ck_assert_int_eq(X509_cmp(rep.signer, cacert), 0);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tu_http_free(&h);
	X509_free(x);
	X509_free(cacert);
	ck_assert(tu_server_stop(&s));
}
END_TEST

static const char *const post_ctypes[] = {
	NULL, "application/x-pki-message", "application/octet-stream",
};

static const char *const paths[] = {
	MSCEP, "/scep", "/cgi-bin/pkiclient.exe",
};

START_TEST(test_enroll_post)
{
	struct tc_opts o = { .cn = "post-device", .challenge = "lab-secret",
	    .sans = "DNS:post.lab.example,IP:192.0.2.10,email:a@lab.example,"
	    "URI:urn:x:1,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:u@lab.example",
	    .cipher = EVP_aes_256_cbc() };
	struct tc_req req;
	struct tc_rep rep;
	GENERAL_NAMES *gens;
	BIGNUM *bn;

	e2e_enroll_ok(&e2e_srv, &o, paths[_i % 3], post_ctypes[_i / 3 % 3], &req, &rep);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(rep.cert),
	    X509_get_subject_name(req.signer)) == 0, 0);
	gens = X509_get_ext_d2i(rep.cert, NID_subject_alt_name, NULL, NULL);
	ck_assert_int_eq(sk_GENERAL_NAME_num(gens), 5);
	GENERAL_NAMES_free(gens);
	ck_assert(X509_get_extended_key_usage(rep.cert) & XKU_SSL_CLIENT);
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(rep.cert), NULL);
	ck_assert_int_ge(BN_num_bits(bn), 64);
	BN_free(bn);
	tc_rep_free(&rep);
	tc_req_free(&req);
}
END_TEST

/* GET message= as real clients encode it. */
enum encoding { ENC_PCT, ENC_RAW, ENC_URLSAFE, ENC_LINES, ENC_NOPAD };

static char *
encode(const struct tc_req *req, enum encoding e)
{
	char *b = b64_encode(req->der, req->len, 0), *out, *o;
	size_t i, n = strlen(b);

	switch (e) {
	case ENC_PCT:		/* certmonger */
		out = tu_pct(b);
		break;
	case ENC_RAW:		/* '+' and '/' as they are: '+' means ' ' */
		out = strdup(b);
		break;
	case ENC_URLSAFE:
		out = strdup(b);
		for (i = 0; i < n; i++)
			out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
		break;
	case ENC_LINES:		/* PEM-style line breaks, percent-encoded */
		out = malloc(n * 2 + 64);
		for (i = 0, o = out; i < n; i++) {
			if (i > 0 && i % 64 == 0) {
				memcpy(o, "%0D%0A", 6);
				o += 6;
			}
			if (b[i] == '+' || b[i] == '/' || b[i] == '=') {
				o += sprintf(o, "%%%02X", (unsigned char)b[i]);
			} else {
				*o++ = b[i];
			}
		}
		*o = '\0';
		break;
	default:		/* ENC_NOPAD */
		while (n > 0 && b[n - 1] == '=')
			b[--n] = '\0';
		out = tu_pct(b);
		break;
	}
	free(b);
	return out;
}

static void
get_pkiop(const struct tu_server *s, const char *path, const char *msg,
    struct tu_http *h)
{
	size_t n = strlen(msg) + 128;
	char *target = malloc(n);

	snprintf(target, n, "%s?operation=PKIOperation&message=%s", path, msg);
	ck_assert(tu_http(s->port, "GET", target, NULL, NULL, 0, h));
	free(target);
}

START_TEST(test_enroll_get)
{
	struct tc_opts o = { .cn = "get-device", .challenge = "lab-secret" };
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	char *msg;
	int tries;

	/* Raw base64 needs a '+' in it to test anything: retry until so. */
	for (tries = 0; tries < 20; tries++) {
		e2e_build(&e2e_srv, &o, &req);
		msg = encode(&req, (enum encoding)_i);
		if (_i != ENC_RAW || strchr(msg, '+') != NULL)
			break;
		free(msg);
		tc_req_free(&req);
	}
	/* Not a pass without the case it exists for. */
	ck_assert_msg(tries < 20, "no request with a '+' in its base64 in 20 tries");
	get_pkiop(&e2e_srv, paths[_i % 3], msg, &h);
	e2e_check_certrep(&e2e_srv, &req, &h, &rep);
	e2e_check_issued(&e2e_srv, &req, &rep);
	tc_rep_free(&rep);
	tu_http_free(&h);
	free(msg);
	tc_req_free(&req);
}
END_TEST

/* iOS: BER indefinite lengths, SHA-512, the whole request in the URL. */
START_TEST(test_ios_style)
{
	struct tc_opts o = { .cn = "ios", .challenge = "lab-secret", .ber = 1,
	    .md = EVP_sha512(), .cipher = EVP_aes_256_cbc() };
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	char *msg;

	e2e_build(&e2e_srv, &o, &req);
	ck_assert_int_eq(req.der[1], 0x80);
	msg = encode(&req, ENC_PCT);
	get_pkiop(&e2e_srv, MSCEP, msg, &h);
	e2e_check_certrep(&e2e_srv, &req, &h, &rep);
	e2e_check_issued(&e2e_srv, &req, &rep);
	tc_rep_free(&rep);
	tu_http_free(&h);
	free(msg);
	tc_req_free(&req);
}
END_TEST

/* A 64 KiB request line works (NDES sites raise MaxFieldLength to 65534). */
START_TEST(test_big_get_url)
{
	struct tc_opts o = { .cn = "big", .challenge = "lab-secret",
	    .pad = 44000 };
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	char *b, target[64];
	size_t url_len;

	e2e_build(&e2e_srv, &o, &req);
	b = b64_encode(req.der, req.len, 0);
	/* Raw: every '+' arrives as a space and still decodes. */
	url_len = strlen(MSCEP "?operation=PKIOperation&message=") + strlen(b);
	ck_assert_uint_gt(url_len, 60000);
	ck_assert_uint_le(url_len, 65534);
	get_pkiop(&e2e_srv, MSCEP, b, &h);
	e2e_check_certrep(&e2e_srv, &req, &h, &rep);
	e2e_check_issued(&e2e_srv, &req, &rep);
	tc_rep_free(&rep);
	tu_http_free(&h);
	free(b);
	tc_req_free(&req);

	/* Past max_url: a 4xx, never a crash or a 5xx. */
	o.pad = 120000;
	e2e_build(&e2e_srv, &o, &req);
	b = b64_encode(req.der, req.len, 0);
	get_pkiop(&e2e_srv, MSCEP, b, &h);
	ck_assert_int_ge(h.status, 400);
	ck_assert_int_lt(h.status, 500);
	tu_http_free(&h);
	free(b);
	tc_req_free(&req);
	snprintf(target, sizeof(target), "%s?operation=GetCACaps", MSCEP);
	ck_assert(tu_http(e2e_srv.port, "GET", target, NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	tu_http_free(&h);
}
END_TEST

struct http_error {
	const char	*method;
	const char	*target;
	const char	*body;
	int		 status;
	const char	*text;
};

static const struct http_error http_errors[] = {
	{ "GET", MSCEP "?operation=GetNothing", NULL, 400, "unknown operation" },
	{ "GET", MSCEP, NULL, 400, "operation= missing" },
	{ "GET", MSCEP "?message=x", NULL, 400, "operation= missing" },
	{ "GET", "/nowhere?operation=GetCACaps", NULL, 404, "not found" },
	{ "DELETE", MSCEP "?operation=PKIOperation", NULL, 405, "GET or POST" },
	{ "POST", MSCEP "?operation=GetCACaps", "x", 405, "wants GET" },
	{ "GET", MSCEP "?operation=PKIOperation", NULL, 400, "needs message=" },
	{ "GET", MSCEP "?operation=PKIOperation&message=!!!!", NULL, 400,
	    "not base64" },
	{ "GET", MSCEP "?operation=PKIOperation&message=aGVsbG8=", NULL, 400,
	    "not a CMS" },
	{ "POST", MSCEP "?operation=PKIOperation", "hello", 400, "not a CMS" },
	{ "POST", MSCEP "?operation=PKIOperation", "", 400, "empty message" },
};

START_TEST(test_http_errors)
{
	const struct http_error *e = &http_errors[_i];
	struct tu_http h;
	char *nl;

	ck_assert(tu_http(e2e_srv.port, e->method, e->target, NULL,
	    (const unsigned char *)e->body, e->body ? strlen(e->body) : 0, &h));
	ck_assert_int_eq(h.status, e->status);
	ck_assert_msg(strstr((char *)h.body, e->text) != NULL, "body: %s",
	    (char *)h.body);
	/* One line. */
	nl = strchr((char *)h.body, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_str_eq(nl + 1, "");
	tu_http_free(&h);
}
END_TEST

START_TEST(test_body_too_big)
{
	unsigned char *body = calloc(1, 100 * 1024);
	struct tu_http h;
	char *reason;

	body[0] = 0x30;
	ck_assert(tu_http(e2e_legacy.port, "POST", MSCEP "?operation=PKIOperation",
	    "application/x-pki-message", body, 100 * 1024, &h));
	ck_assert_int_eq(h.status, 413);
	tu_http_free(&h);
	free(body);
	reason = tu_ledger_query(&e2e_legacy, "SELECT reason FROM operations WHERE "
	    "http_status = 413 ORDER BY id DESC", NULL);
	ck_assert_ptr_nonnull(reason);
	ck_assert_ptr_nonnull(strstr(reason, "max_body"));
	free(reason);
}
END_TEST

/* CertRep FAILURE: the right failInfo, and a ledger row saying why. */
struct failure {
	const char	*name;
	struct tc_opts	 o;
	int		 fail_info;
	const char	*reason;
};

static const struct failure failures[] = {
	{ "wrong challenge", { .cn = "f", .challenge = "nope" }, 2,
	    "challenge password wrong" },
	{ "no challenge", { .cn = "f" }, 2, "challenge password missing" },
	{ "SHA-1", { .cn = "f", .challenge = "lab-secret", .md = NULL }, 0,
	    "SHA-1" },
	{ "DES3", { .cn = "f", .challenge = "lab-secret" }, 0, "DES" },
	{ "tampered", { .cn = "f", .challenge = "lab-secret",
	    .flaw = TC_TAMPERED }, 1, "signature" },
	{ "old signingTime", { .cn = "f", .challenge = "lab-secret",
	    .flaw = TC_OLD_SIGNING_TIME }, 3, "signingTime" },
	{ "signer key differs", { .cn = "f", .challenge = "lab-secret",
	    .flaw = TC_SIGNER_OTHER_KEY }, 2, "differs from the CSR" },
	{ "foreign signer", { .cn = "f", .challenge = "lab-secret",
	    .flaw = TC_SIGNER_FOREIGN_CA }, 1, "neither self-signed" },
	{ "not a CSR", { .cn = "f", .challenge = "lab-secret",
	    .flaw = TC_NOT_A_CSR }, 2, "not a PKCS#10" },
	{ "RSA 1024", { .cn = "f", .challenge = "lab-secret", .key_bits = 1024 },
	    2, "2048 to 8192" },
	{ "CertPoll with a CSR", { .cn = "f", .challenge = "lab-secret",
	    .msg_type = 20 }, 2, "not an IssuerAndSubject" },
	{ "GetCert with a CSR", { .cn = "f", .challenge = "lab-secret",
	    .msg_type = 21 }, 2, "not an IssuerAndSerialNumber" },
	{ "RenewalReq, self-signed", { .cn = "f", .msg_type = 17 }, 1,
	    "RenewalReq signed by a self-signed" },
	{ "RenewalReq, foreign CA", { .cn = "f", .msg_type = 17,
	    .flaw = TC_SIGNER_FOREIGN_CA }, 1, "not issued by this CA" },
	{ "RID SAN", { .cn = "f", .challenge = "lab-secret",
	    .sans = "RID:1.2.3.4" }, 2, "type not allowed" },
	{ "newline in the CN", { .cn = "evil\nCN=admin", .challenge =
	    "lab-secret" }, 2, "control character" },
};

START_TEST(test_failure)
{
	const struct failure *f = &failures[_i];
	struct tc_opts o = f->o;
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	char sql[512], *v;

	if (strcmp(f->name, "SHA-1") == 0)
		o.md = EVP_sha1();
	if (strcmp(f->name, "DES3") == 0)
		o.cipher = EVP_des_ede3_cbc();
	e2e_build(&e2e_srv, &o, &req);
	e2e_post(&e2e_srv, MSCEP, NULL, &req, &h);
	e2e_check_certrep(&e2e_srv, &req, &h, &rep);
	ck_assert_int_eq(rep.status, 2);
	ck_assert_msg(rep.fail_info == f->fail_info, "%s: failInfo %d",
	    f->name, rep.fail_info);
	ck_assert_int_eq(rep.has_content, 0);
	ck_assert_ptr_null(rep.cert);
	snprintf(sql, sizeof(sql), "SELECT outcome || '|' || fail_info || '|' ||"
	    " pki_status || '|' || reason FROM operations WHERE transaction_id"
	    " = ?1");
	v = tu_ledger_query(&e2e_srv, sql, req.txid);
	ck_assert_ptr_nonnull(v);
	ck_assert_msg(strncmp(v, "rejected|", 9) == 0, "%s", v);
	ck_assert_msg(strstr(v, f->reason) != NULL, "%s: ledger says %s",
	    f->name, v);
	free(v);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tu_http_free(&h);
}
END_TEST

/* Same transactionID and key: same certificate; another key: refused. */
START_TEST(test_idempotent)
{
	struct tc_opts o = { .cn = "again", .challenge = "lab-secret" };
	struct tc_req req, other;
	struct tc_rep a, b, c;
	struct tu_http h;
	char *v;

	e2e_build(&e2e_srv, &o, &req);
	e2e_post(&e2e_srv, "/scep", NULL, &req, &h);
	e2e_check_certrep(&e2e_srv, &req, &h, &a);
	e2e_check_issued(&e2e_srv, &req, &a);
	tu_http_free(&h);
	e2e_post(&e2e_srv, "/scep", NULL, &req, &h);
	e2e_check_certrep(&e2e_srv, &req, &h, &b);
	e2e_check_issued(&e2e_srv, &req, &b);
	ck_assert_int_eq(X509_cmp(a.cert, b.cert), 0);
	ck_assert_int_ne(memcmp(a.sender_nonce, b.sender_nonce, 16), 0);
	tu_http_free(&h);
	v = tu_ledger_query(&e2e_srv, "SELECT group_concat(outcome, ',') FROM "
	    "(SELECT outcome FROM operations WHERE transaction_id = ?1 ORDER BY id)",
	    req.txid);
	ck_assert_str_eq(v, "issued,reissued");
	free(v);
	v = tu_ledger_query(&e2e_srv, "SELECT count(*) FROM certificates c JOIN "
	    "operations o ON o.cert_serial = c.serial WHERE o.transaction_id = ?1",
	    req.txid);
	ck_assert_str_eq(v, "2");	/* two rows, one certificate */
	free(v);
	v = tu_ledger_query(&e2e_srv, "SELECT count(DISTINCT cert_serial) FROM "
	    "operations WHERE transaction_id = ?1", req.txid);
	ck_assert_str_eq(v, "1");
	free(v);
	/* Asking again is evidence too: a repoll on the first transaction. */
	v = tu_ledger_query(&e2e_srv, "SELECT json_extract(e.detail, '$.message_type')"
	    " FROM events e JOIN operations o ON o.id = e.operation_id WHERE"
	    " o.transaction_id = ?1 AND o.outcome = 'issued' AND e.kind ="
	    " 'repoll'", req.txid);
	ck_assert_str_eq(v, "19");
	free(v);

	o.txid = req.txid;
	e2e_build(&e2e_srv, &o, &other);
	e2e_post(&e2e_srv, "/scep", NULL, &other, &h);
	e2e_check_certrep(&e2e_srv, &other, &h, &c);
	ck_assert_int_eq(c.status, 2);
	ck_assert_int_eq(c.fail_info, 2);
	tu_http_free(&h);
	tc_rep_free(&a);
	tc_rep_free(&b);
	tc_rep_free(&c);
	tc_req_free(&req);
	tc_req_free(&other);
}
END_TEST

/* legacy_algorithms = yes: what micromdm's scepclient and old strongSwan send. */
START_TEST(test_legacy_algorithms)
{
	struct tc_opts des = { .cn = "old", .challenge = "lab-secret",
	    .md = EVP_sha1(), .cipher = EVP_des_cbc() };
	struct tc_opts des3 = { .cn = "old3", .challenge = "lab-secret",
	    .cipher = EVP_des_ede3_cbc() };
	struct tc_req req;
	struct tc_rep rep;
	char *v;

	e2e_enroll_ok(&e2e_legacy, &des, MSCEP, NULL, &req, &rep);
	/* crl_url puts a CRL Distribution Point in what is issued. */
	{
		STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(rep.cert,
		    NID_crl_distribution_points, NULL, NULL);

		ck_assert_ptr_nonnull(dps);
		sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	}
	v = tu_ledger_query(&e2e_legacy, "SELECT digest || ' ' || cipher FROM operations"
	    " WHERE transaction_id = ?1", req.txid);
	ck_assert_str_eq(v, "SHA1 DES-CBC");
	free(v);
	tc_rep_free(&rep);
	tc_req_free(&req);
	e2e_enroll_ok(&e2e_legacy, &des3, "/scep", NULL, &req, &rep);
	tc_rep_free(&rep);
	tc_req_free(&req);
}
END_TEST

/* A client that encrypts to the CA rather than the RA still enrolls. */
START_TEST(test_envelope_to_ca)
{
	struct tc_opts o = { .cn = "to-ca", .challenge = "lab-secret",
	    .challenge_utf8 = 1 };
	X509 *cacert = tu_server_cert(&e2e_srv, "ca");
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;

	ck_assert(tc_build(&o, cacert, &req));
	e2e_post(&e2e_srv, MSCEP, NULL, &req, &h);
	e2e_check_certrep(&e2e_srv, &req, &h, &rep);
	e2e_check_issued(&e2e_srv, &req, &rep);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tu_http_free(&h);
	X509_free(cacert);
}
END_TEST

/* ca_key_type = ec-p256: an EC CA, an RSA RA, clients none the wiser. */
START_TEST(test_ec_ca)
{
	static const char *const extra[] = { "ca_key_type=ec-p256", NULL };
	struct tu_server s;
	struct tc_opts o = { .cn = "under-ec", .challenge = "lab-secret" };
	struct tc_req req;
	struct tc_rep rep;
	X509 *cacert;

	ck_assert(tu_server_start(&s, extra));
	cacert = tu_server_cert(&s, "ca");
	ck_assert_int_eq(EVP_PKEY_get_base_id(X509_get0_pubkey(cacert)),
	    EVP_PKEY_EC);
	e2e_enroll_ok(&s, &o, MSCEP, NULL, &req, &rep);
	ck_assert_int_eq(X509_get_signature_nid(rep.cert),
	    NID_ecdsa_with_SHA256);
	tc_rep_free(&rep);
	tc_req_free(&req);
	X509_free(cacert);
	ck_assert(tu_server_stop(&s));
}
END_TEST

START_TEST(test_ec_client)
{
	struct tc_opts o = { .cn = "ec-device", .challenge = "lab-secret",
	    .ec_curve = "P-256" };
	struct tc_req req;
	struct tc_rep rep;

	e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &req, &rep);
	ck_assert_uint_eq(X509_get_key_usage(rep.cert),
	    KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT);
	tc_rep_free(&rep);
	tc_req_free(&req);
}
END_TEST

#define CONCURRENT 64

struct worker {
	struct tc_req	 req;
	pthread_barrier_t *barrier;
	int		 status;
	int		 pki_status;
	char		*serial;
};

static void *
keygen(void *arg)
{
	struct worker *w = arg;
	struct tc_opts o = { .cn = "concurrent", .challenge = "lab-secret" };
	X509 *ra = tu_server_cert(&e2e_srv, "ra");

	if (!tc_build(&o, ra, &w->req))
		w->status = -1;
	X509_free(ra);
	return NULL;
}

static void *
enroll_worker(void *arg)
{
	struct worker *w = arg;
	struct tu_http h;
	struct tc_rep rep;

	pthread_barrier_wait(w->barrier);
	if (!tu_http(e2e_srv.port, "POST", MSCEP "?operation=PKIOperation", NULL,
	    w->req.der, w->req.len, &h))
		return NULL;
	w->status = h.status;
	if (h.status == 200 && tc_parse_certrep(h.body, h.len, &w->req, &rep)) {
		w->pki_status = rep.status;
		if (rep.cert != NULL) {
			BIGNUM *bn = ASN1_INTEGER_to_BN(
			    X509_get0_serialNumber(rep.cert), NULL);
			char *hx = BN_bn2hex(bn);

			w->serial = strdup(hx);
			OPENSSL_free(hx);
			BN_free(bn);
		}
		tc_rep_free(&rep);
	} else {
		w->pki_status = -1;
	}
	tu_http_free(&h);
	return NULL;
}

/* 64 enrollments at once: 0 failures, 0 duplicate serials. */
START_TEST(test_concurrent)
{
	static struct worker w[CONCURRENT];
	pthread_t t[CONCURRENT];
	pthread_barrier_t barrier;
	int i, j, failed = 0, dups = 0;
	char *v;

	for (i = 0; i < CONCURRENT; i++)
		pthread_create(&t[i], NULL, keygen, &w[i]);
	for (i = 0; i < CONCURRENT; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_init(&barrier, NULL, CONCURRENT);
	for (i = 0; i < CONCURRENT; i++) {
		ck_assert_int_eq(w[i].status, 0);
		w[i].barrier = &barrier;
		pthread_create(&t[i], NULL, enroll_worker, &w[i]);
	}
	for (i = 0; i < CONCURRENT; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < CONCURRENT; i++) {
		if (w[i].status != 200 || w[i].pki_status != 0 || !w[i].serial)
			failed++;
		for (j = 0; j < i; j++)
			if (w[i].serial && w[j].serial &&
			    strcmp(w[i].serial, w[j].serial) == 0)
				dups++;
	}
	printf("concurrent: %d enrollments, %d failures, %d duplicate serials\n",
	    CONCURRENT, failed, dups);
	ck_assert_int_eq(failed, 0);
	ck_assert_int_eq(dups, 0);
	v = tu_ledger_query(&e2e_srv, "SELECT count(DISTINCT cert_serial) FROM operations"
	    " WHERE csr_subject = 'CN=concurrent' AND outcome = 'issued'", NULL);
	ck_assert_str_eq(v, "64");
	free(v);
	for (i = 0; i < CONCURRENT; i++) {
		free(w[i].serial);
		tc_req_free(&w[i].req);
	}
	pthread_barrier_destroy(&barrier);
}
END_TEST

/* A long transactionID (100 characters) is logged whole, never cut. */
START_TEST(test_long_txid_logged)
{
	char txid[101], want[160];
	struct tc_opts o = { .cn = "long-txid", .challenge = "lab-secret",
	    .txid = txid };
	struct tc_req req;
	struct tc_rep rep;
	int i;

	for (i = 0; i < 100; i++)
		txid[i] = (char)('0' + (i * 7) % 10);
	txid[100] = '\0';
	e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &req, &rep);
	snprintf(want, sizeof(want), " txid=%s status=issued ", txid);
	for (i = 0; i < 100 && tu_log_count(&e2e_srv, want) == 0; i++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);	/* the line follows the reply */
	}
	ck_assert_int_eq(tu_log_count(&e2e_srv, want), 1);
	tc_rep_free(&rep);
	tc_req_free(&req);
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("e2e_http");
	TCase *t;

	t = tcase_create("http");
	tcase_add_unchecked_fixture(t, e2e_main_up, e2e_main_down);
	tcase_add_unchecked_fixture(t, e2e_legacy_up, e2e_legacy_down);
	tcase_add_test(t, test_getcacaps);
	tcase_add_test(t, test_getcacert);
	tcase_add_test(t, test_getcacert_no_ra);
	tcase_add_loop_test(t, test_enroll_post, 0, 9);
	tcase_add_loop_test(t, test_enroll_get, 0, 5);
	tcase_add_test(t, test_ios_style);
	tcase_add_test(t, test_big_get_url);
	tcase_add_loop_test(t, test_http_errors, 0,
	    (int)(sizeof(http_errors) / sizeof(http_errors[0])));
	tcase_add_test(t, test_body_too_big);
	tcase_add_loop_test(t, test_failure, 0,
	    (int)(sizeof(failures) / sizeof(failures[0])));
	tcase_add_test(t, test_idempotent);
	tcase_add_test(t, test_long_txid_logged);
	tcase_add_test(t, test_legacy_algorithms);
	tcase_add_test(t, test_envelope_to_ca);
	tcase_add_test(t, test_ec_ca);
	tcase_add_test(t, test_ec_client);
	tcase_add_test(t, test_concurrent);
	tcase_set_timeout(t, 240);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return e2e_run(http_suite());
}
