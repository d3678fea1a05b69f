/*
 * End to end: the real bin/scepd on 127.0.0.1 port 0, driven over HTTP by
 * a SCEP client that shares no code with the server.
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
#include "server/b64.h"
#include "tests/scep_client.h"
#include "tests/testutil.h"

#define MSCEP "/certsrv/mscep/mscep.dll"

/* Main server: modern algorithms only, signingTime checked. */
static struct tu_server srv;
/* Legacy server: SHA-1/DES allowed, small max_body. */
static struct tu_server legacy;
/* Set by a fixture when a server exits uncleanly (e.g. a sanitizer report). */
static int server_unclean;

static void
start_or_exit(struct tu_server *s, const char *const *extra)
{
	if (!tu_server_start(s, extra)) {
		fprintf(stderr, "cannot start scepd\n");
		exit(1);
	}
}

static void
stop_checked(struct tu_server *s)
{
	if (!tu_server_stop(s))
		server_unclean = 1;
}

static void
start_main(void)
{
	/* Failed-challenge limits have their own test; none here. */
	static const char *const extra[] = { "legacy_algorithms=no",
	    "max_clock_skew=300", "challenge_failures=0", NULL };

	start_or_exit(&srv, extra);
}

static void
stop_main(void)
{
	stop_checked(&srv);
}

static void
start_legacy(void)
{
	static const char *const extra[] = { "legacy_algorithms=yes",
	    "max_body=64k", "crl_url=http://pki.lab.example/lab.crl", NULL };

	start_or_exit(&legacy, extra);
}

static void
stop_legacy(void)
{
	stop_checked(&legacy);
}

/* A request for s, encrypted to its RA certificate. */
static void
build(const struct tu_server *s, const struct tc_opts *o, struct tc_req *req)
{
	X509 *ra = tu_server_cert(s, "ra");

	ck_assert_ptr_nonnull(ra);
	ck_assert(tc_build(o, ra, req));
	X509_free(ra);
}

static void
post(const struct tu_server *s, const char *path, const char *ctype,
    const struct tc_req *req, struct tu_http *h)
{
	char target[256];

	snprintf(target, sizeof(target), "%s?operation=PKIOperation", path);
	ck_assert(tu_http(s->port, "POST", target, ctype, req->der, req->len, h));
}

/* The reply must be a CertRep about this request, signed by the RA. */
static void
check_certrep(const struct tu_server *s, const struct tc_req *req,
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

static void
check_issued(const struct tu_server *s, const struct tc_req *req,
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

static void
enroll_ok(const struct tu_server *s, const struct tc_opts *o, const char *path,
    const char *ctype, struct tc_req *req, struct tc_rep *rep)
{
	struct tu_http h;

	build(s, o, req);
	post(s, path, ctype, req, &h);
	check_certrep(s, req, &h, rep);
	check_issued(s, req, rep);
	tu_http_free(&h);
}

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
		ck_assert(tu_http(srv.port, "GET", targets[i], NULL, NULL, 0, &h));
		ck_assert_int_eq(h.status, 200);
		ck_assert_str_eq(h.ctype, "text/plain");
		ck_assert_str_eq((char *)h.body, "POSTPKIOperation\nRenewal\n"
		    "SHA-256\nSHA-384\nSHA-512\nAES\nSCEPStandard\n");
		tu_http_free(&h);
	}
	ck_assert(tu_http(legacy.port, "GET", MSCEP "?operation=GetCACaps",
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
	X509 *cacert = tu_server_cert(&srv, "ca"), *ra = tu_server_cert(&srv, "ra");
	int i, found_ca = 0, found_ra = 0;

	ck_assert(tu_http(srv.port, "GET", "/scep?operation=GetCACert&message=ca",
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
	post(&s, MSCEP, NULL, &req, &h);
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

	enroll_ok(&srv, &o, paths[_i % 3], post_ctypes[_i / 3 % 3], &req, &rep);
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
		build(&srv, &o, &req);
		msg = encode(&req, (enum encoding)_i);
		if (_i != ENC_RAW || strchr(msg, '+') != NULL)
			break;
		free(msg);
		tc_req_free(&req);
	}
	get_pkiop(&srv, paths[_i % 3], msg, &h);
	check_certrep(&srv, &req, &h, &rep);
	check_issued(&srv, &req, &rep);
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

	build(&srv, &o, &req);
	ck_assert_int_eq(req.der[1], 0x80);
	msg = encode(&req, ENC_PCT);
	get_pkiop(&srv, MSCEP, msg, &h);
	check_certrep(&srv, &req, &h, &rep);
	check_issued(&srv, &req, &rep);
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

	build(&srv, &o, &req);
	b = b64_encode(req.der, req.len, 0);
	/* Raw: every '+' arrives as a space and still decodes. */
	url_len = strlen(MSCEP "?operation=PKIOperation&message=") + strlen(b);
	ck_assert_uint_gt(url_len, 60000);
	ck_assert_uint_le(url_len, 65534);
	get_pkiop(&srv, MSCEP, b, &h);
	check_certrep(&srv, &req, &h, &rep);
	check_issued(&srv, &req, &rep);
	tc_rep_free(&rep);
	tu_http_free(&h);
	free(b);
	tc_req_free(&req);

	/* Past max_url: a 4xx, never a crash or a 5xx. */
	o.pad = 120000;
	build(&srv, &o, &req);
	b = b64_encode(req.der, req.len, 0);
	get_pkiop(&srv, MSCEP, b, &h);
	ck_assert_int_ge(h.status, 400);
	ck_assert_int_lt(h.status, 500);
	tu_http_free(&h);
	free(b);
	tc_req_free(&req);
	snprintf(target, sizeof(target), "%s?operation=GetCACaps", MSCEP);
	ck_assert(tu_http(srv.port, "GET", target, NULL, NULL, 0, &h));
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

	ck_assert(tu_http(srv.port, e->method, e->target, NULL,
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
	ck_assert(tu_http(legacy.port, "POST", MSCEP "?operation=PKIOperation",
	    "application/x-pki-message", body, 100 * 1024, &h));
	ck_assert_int_eq(h.status, 413);
	tu_http_free(&h);
	free(body);
	reason = tu_ledger_query(&legacy, "SELECT reason FROM operations WHERE "
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
	build(&srv, &o, &req);
	post(&srv, MSCEP, NULL, &req, &h);
	check_certrep(&srv, &req, &h, &rep);
	ck_assert_int_eq(rep.status, 2);
	ck_assert_msg(rep.fail_info == f->fail_info, "%s: failInfo %d",
	    f->name, rep.fail_info);
	ck_assert_int_eq(rep.has_content, 0);
	ck_assert_ptr_null(rep.cert);
	snprintf(sql, sizeof(sql), "SELECT outcome || '|' || fail_info || '|' ||"
	    " pki_status || '|' || reason FROM operations WHERE transaction_id"
	    " = ?1");
	v = tu_ledger_query(&srv, sql, req.txid);
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

	build(&srv, &o, &req);
	post(&srv, "/scep", NULL, &req, &h);
	check_certrep(&srv, &req, &h, &a);
	check_issued(&srv, &req, &a);
	tu_http_free(&h);
	post(&srv, "/scep", NULL, &req, &h);
	check_certrep(&srv, &req, &h, &b);
	check_issued(&srv, &req, &b);
	ck_assert_int_eq(X509_cmp(a.cert, b.cert), 0);
	ck_assert_int_ne(memcmp(a.sender_nonce, b.sender_nonce, 16), 0);
	tu_http_free(&h);
	v = tu_ledger_query(&srv, "SELECT group_concat(outcome, ',') FROM "
	    "(SELECT outcome FROM operations WHERE transaction_id = ?1 ORDER BY id)",
	    req.txid);
	ck_assert_str_eq(v, "issued,reissued");
	free(v);
	v = tu_ledger_query(&srv, "SELECT count(*) FROM certificates c JOIN "
	    "operations o ON o.cert_serial = c.serial WHERE o.transaction_id = ?1",
	    req.txid);
	ck_assert_str_eq(v, "2");	/* two rows, one certificate */
	free(v);
	v = tu_ledger_query(&srv, "SELECT count(DISTINCT cert_serial) FROM "
	    "operations WHERE transaction_id = ?1", req.txid);
	ck_assert_str_eq(v, "1");
	free(v);
	/* Asking again is evidence too: a repoll on the first transaction. */
	v = tu_ledger_query(&srv, "SELECT json_extract(e.detail, '$.message_type')"
	    " FROM events e JOIN operations o ON o.id = e.operation_id WHERE"
	    " o.transaction_id = ?1 AND o.outcome = 'issued' AND e.kind ="
	    " 'repoll'", req.txid);
	ck_assert_str_eq(v, "19");
	free(v);

	o.txid = req.txid;
	build(&srv, &o, &other);
	post(&srv, "/scep", NULL, &other, &h);
	check_certrep(&srv, &other, &h, &c);
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

	enroll_ok(&legacy, &des, MSCEP, NULL, &req, &rep);
	/* crl_url puts a CRL Distribution Point in what is issued. */
	{
		STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(rep.cert,
		    NID_crl_distribution_points, NULL, NULL);

		ck_assert_ptr_nonnull(dps);
		sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	}
	v = tu_ledger_query(&legacy, "SELECT digest || ' ' || cipher FROM operations"
	    " WHERE transaction_id = ?1", req.txid);
	ck_assert_str_eq(v, "SHA1 DES-CBC");
	free(v);
	tc_rep_free(&rep);
	tc_req_free(&req);
	enroll_ok(&legacy, &des3, "/scep", NULL, &req, &rep);
	tc_rep_free(&rep);
	tc_req_free(&req);
}
END_TEST

/* A client that encrypts to the CA rather than the RA still enrolls. */
START_TEST(test_envelope_to_ca)
{
	struct tc_opts o = { .cn = "to-ca", .challenge = "lab-secret",
	    .challenge_utf8 = 1 };
	X509 *cacert = tu_server_cert(&srv, "ca");
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;

	ck_assert(tc_build(&o, cacert, &req));
	post(&srv, MSCEP, NULL, &req, &h);
	check_certrep(&srv, &req, &h, &rep);
	check_issued(&srv, &req, &rep);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tu_http_free(&h);
	X509_free(cacert);
}
END_TEST

/* Enroll, then return the request (its key) and the issued certificate. */
static void
first_cert(const struct tu_server *s, const char *cn, struct tc_req *req,
    struct tc_rep *rep)
{
	struct tc_opts o = { .cn = cn, .challenge = "lab-secret",
	    .sans = "DNS:renew.lab.example" };

	enroll_ok(s, &o, MSCEP, NULL, req, rep);
}

static char *
serial_of(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hx = BN_bn2hex(bn), *copy = strdup(hx);

	OPENSSL_free(hx);
	BN_free(bn);
	return copy;
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

	first_cert(&srv, "renew-me", &first, &old);
	o.sign_cert = old.cert;
	o.sign_key = first.key;
	if (_i == 1)
		o.key = first.key;	/* same key: micromdm, certmonger resubmit */
	enroll_ok(&srv, &o, "/scep", NULL, &req, &rep);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(rep.cert),
	    X509_get_subject_name(old.cert)), 0);
	{
		GENERAL_NAMES *gens = X509_get_ext_d2i(rep.cert,
		    NID_subject_alt_name, NULL, NULL);

		ck_assert_ptr_nonnull(gens);
		GENERAL_NAMES_free(gens);
	}
	old_serial = serial_of(old.cert);
	new_serial = serial_of(rep.cert);
	ck_assert_str_ne(old_serial, new_serial);
	v = tu_ledger_query(&srv, "SELECT message_type || '|' || renewal_of FROM "
	    "operations WHERE cert_serial = ?1", new_serial);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(strncmp(v, "17|", 3), 0);
	ck_assert_str_eq(v + 3, old_serial);
	free(v);
	v = tu_ledger_query(&srv, "SELECT e.source FROM events e JOIN operations o"
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

	first_cert(&srv, "renew-pkcsreq", &first, &old);
	o.sign_cert = old.cert;
	o.sign_key = first.key;
	enroll_ok(&srv, &o, MSCEP, NULL, &req, &rep);
	old_serial = serial_of(old.cert);
	v = tu_ledger_query(&srv, "SELECT message_type || '|' || renewal_of FROM "
	    "operations WHERE transaction_id = ?1", req.txid);
	ck_assert_int_eq(strncmp(v, "19|", 3), 0);
	ck_assert_str_eq(v + 3, old_serial);
	free(v);
	/* Re-sent: the same renewed certificate, not a third one. */
	post(&srv, MSCEP, NULL, &req, &h);
	check_certrep(&srv, &req, &h, &rep2);
	ck_assert_int_eq(X509_cmp(rep2.cert, rep.cert), 0);
	tu_http_free(&h);
	/* Signed by the RA certificate: not one scepd issued to a device. */
	{
		char path[512];
		X509 *ra = tu_server_cert(&srv, "ra");
		EVP_PKEY *rakey;
		struct tc_rep bad;

		snprintf(path, sizeof(path), "%s/var/ra.key", srv.dir);
		rakey = tu_read_key(path);
		o.sign_cert = ra;
		o.sign_key = rakey;
		o.msg_type = 17;
		build(&srv, &o, &again);
		post(&srv, MSCEP, NULL, &again, &h);
		check_certrep(&srv, &again, &h, &bad);
		ck_assert_int_eq(bad.status, 2);
		ck_assert_int_eq(bad.fail_info, 1);
		v = tu_ledger_query(&srv, "SELECT reason FROM operations WHERE"
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

	first_cert(&srv, "revoked", &first, &old);
	serial = serial_of(old.cert);
	snprintf(args, sizeof(args), "revoke %s --reason keyCompromise", serial);
	out = tu_scepctl(&srv, args);
	ck_assert_ptr_nonnull(strstr(out, "revoked"));
	free(out);
	o.sign_cert = old.cert;
	o.sign_key = first.key;
	build(&srv, &o, &req);
	post(&srv, MSCEP, NULL, &req, &h);
	check_certrep(&srv, &req, &h, &rep);
	ck_assert_int_eq(rep.status, 2);
	ck_assert_int_eq(rep.fail_info, 2);
	v = tu_ledger_query(&srv, "SELECT reason || '|' || renewal_of FROM"
	    " operations WHERE transaction_id = ?1", req.txid);
	ck_assert_ptr_nonnull(strstr(v, "signing certificate is revoked|"));
	free(v);
	v = tu_ledger_query(&srv, "SELECT revocation_reason FROM certificates"
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
	build(&s, &o, &req);
	post(&s, MSCEP, NULL, &req, &h);
	check_certrep(&s, &req, &h, &rep);
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
	enroll_ok(&s, &o, MSCEP, NULL, &req, &rep);
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
	build(s, &o, req);
	post(s, "/scep", NULL, req, &h);
	check_certrep(s, req, &h, rep);
	tu_http_free(&h);
	free(ias);
}

START_TEST(test_getcert)
{
	struct tc_req first, req;
	struct tc_rep issued, rep;
	X509 *cacert = tu_server_cert(&srv, "ca");
	ASN1_INTEGER *nope = ASN1_INTEGER_new();
	char *v, *serial;

	first_cert(&srv, "fetch-me", &first, &issued);
	fetch(&srv, 21, X509_get_subject_name(cacert),
	    X509_get0_serialNumber(issued.cert), &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_ptr_nonnull(rep.cert);
	ck_assert_int_eq(X509_cmp(rep.cert, issued.cert), 0);
	serial = serial_of(issued.cert);
	v = tu_ledger_query(&srv, "SELECT outcome || '|' || message_type || '|' ||"
	    " cert_serial FROM operations WHERE transaction_id = ?1", req.txid);
	ck_assert_int_eq(strncmp(v, "returned|21|", 12), 0);
	ck_assert_str_eq(v + 12, serial);
	free(v);
	free(serial);
	tc_rep_free(&rep);
	tc_req_free(&req);
	/* Unknown serial, or another issuer: badCertId. */
	ASN1_INTEGER_set(nope, 12345);
	fetch(&srv, 21, X509_get_subject_name(cacert), nope, &req, &rep);
	ck_assert_int_eq(rep.status, 2);
	ck_assert_int_eq(rep.fail_info, 4);
	tc_rep_free(&rep);
	tc_req_free(&req);
	fetch(&srv, 21, X509_get_subject_name(first.signer),
	    X509_get0_serialNumber(issued.cert), &req, &rep);
	ck_assert_int_eq(rep.status, 2);
	ck_assert_int_eq(rep.fail_info, 4);
	v = tu_ledger_query(&srv, "SELECT reason FROM operations WHERE"
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
	X509 *cacert = tu_server_cert(&srv, "ca");
	STACK_OF(X509_REVOKED) *list;
	ASN1_INTEGER *number;
	unsigned char *der = NULL;
	char args[128], target[64], *serial, *out;
	struct tu_http h;
	long before;
	int i, n, found = 0;

	/* The CRL as it stands. */
	fetch(&srv, 22, X509_get_subject_name(cacert),
	    X509_get0_serialNumber(cacert), &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_ptr_nonnull(rep.crl);
	number = X509_CRL_get_ext_d2i(rep.crl, NID_crl_number, NULL, NULL);
	before = ASN1_INTEGER_get(number);
	ASN1_INTEGER_free(number);
	tc_rep_free(&rep);
	tc_req_free(&req);

	first_cert(&srv, "revoke-me", &first, &issued);
	serial = serial_of(issued.cert);
	snprintf(args, sizeof(args), "revoke %s --reason superseded", serial);
	out = tu_scepctl(&srv, args);
	ck_assert_ptr_nonnull(strstr(out, "CRL republished"));
	free(out);

	fetch(&srv, 22, X509_get_subject_name(cacert),
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
		char *id = tu_ledger_query(&srv, "SELECT ca_id FROM crls", NULL);

		snprintf(target, sizeof(target), "/crl/%s.crl", id);
		free(id);
	}
	ck_assert(tu_http(srv.port, "GET", target, NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_str_eq(h.ctype, "application/pkix-crl");
	n = i2d_X509_CRL(rep.crl, &der);
	ck_assert_uint_eq(h.len, (size_t)n);
	ck_assert_mem_eq(h.body, der, (size_t)n);
	OPENSSL_free(der);
	tu_http_free(&h);
	ck_assert(tu_http(srv.port, "GET", "/crl/0000000000000000.crl", NULL,
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

/* Send a CertPoll for req (same key, same transactionID). */
static void
cert_poll(const struct tu_server *s, const struct tc_req *req,
    const X509_NAME *issuer, struct tc_req *poll, struct tc_rep *rep)
{
	struct tc_opts o = { .cn = "poller", .msg_type = 20, .key = req->key,
	    .txid = req->txid };
	X509_NAME *subject = X509_NAME_new();
	struct tu_http h;
	unsigned char *ias;
	size_t len = 0;

	X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
	    (const unsigned char *)"manual", -1, -1, 0);
	ias = tc_issuer_and_subject(issuer, subject, &len);
	o.content = ias;
	o.content_len = len;
	build(s, &o, poll);
	post(s, MSCEP, NULL, poll, &h);
	check_certrep(s, poll, &h, rep);
	tu_http_free(&h);
	free(ias);
	X509_NAME_free(subject);
}

static void
resend_req(const struct tu_server *s, const struct tc_req *req,
    struct tc_rep *rep)
{
	struct tu_http h;

	post(s, MSCEP, NULL, req, &h);
	check_certrep(s, req, &h, rep);
	tu_http_free(&h);
}

/*
 * approval = manual: PENDING until an administrator decides; CertPoll and
 * a re-sent PKCSReq both poll; each decision is a ledger event.
 */
START_TEST(test_manual_approval)
{
	static const char *const manual[] = { "approval=manual", NULL };
	struct tu_server s;
	struct tc_opts o = { .cn = "manual", .challenge = "lab-secret" };
	struct tc_req req, poll, req2;
	struct tc_rep rep;
	X509 *cacert, *issued;
	char args[256], *out, *v;

	ck_assert(tu_server_start(&s, manual));
	cacert = tu_server_cert(&s, "ca");
	build(&s, &o, &req);
	resend_req(&s, &req, &rep);
	ck_assert_int_eq(rep.status, 3);		/* PENDING */
	ck_assert_int_eq(rep.has_content, 0);
	tc_rep_free(&rep);
	out = tu_scepctl(&s, "pending");
	ck_assert_ptr_nonnull(strstr(out, req.txid));
	free(out);

	/* Both ways of polling keep getting PENDING. */
	cert_poll(&s, &req, X509_get_subject_name(cacert), &poll, &rep);
	ck_assert_int_eq(rep.status, 3);
	tc_rep_free(&rep);
	tc_req_free(&poll);
	resend_req(&s, &req, &rep);
	ck_assert_int_eq(rep.status, 3);
	tc_rep_free(&rep);

	snprintf(args, sizeof(args), "approve '%s'", req.txid);
	out = tu_scepctl(&s, args);
	ck_assert_ptr_nonnull(strstr(out, "approved"));
	free(out);
	out = tu_scepctl(&s, "pending");
	ck_assert_ptr_null(strstr(out, req.txid));
	free(out);

	/* The first poll after approval issues; later ones resend it. */
	cert_poll(&s, &req, X509_get_subject_name(cacert), &poll, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_ptr_nonnull(rep.cert);
	ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(rep.cert), req.key), 1);
	issued = rep.cert;
	X509_up_ref(issued);
	tc_rep_free(&rep);
	tc_req_free(&poll);
	resend_req(&s, &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_int_eq(X509_cmp(rep.cert, issued), 0);
	tc_rep_free(&rep);
	cert_poll(&s, &req, X509_get_subject_name(cacert), &poll, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_int_eq(X509_cmp(rep.cert, issued), 0);
	tc_rep_free(&rep);
	tc_req_free(&poll);
	v = tu_ledger_query(&s, "SELECT group_concat(outcome || ':' || message_type,"
	    " ',') FROM (SELECT outcome, message_type FROM operations WHERE"
	    " transaction_id = ?1 ORDER BY id)", req.txid);
	ck_assert_str_eq(v, "pending:19,pending:20,pending:19,issued:20,"
	    "reissued:19,reissued:20");
	free(v);
	v = tu_ledger_query(&s, "SELECT e.source FROM events e JOIN operations o ON"
	    " o.id = e.operation_id WHERE o.transaction_id = ?1 AND"
	    " e.kind = 'approved'", req.txid);
	ck_assert_str_eq(v, "api");
	free(v);

	/* Denied: the next poll fails, with the administrator's reason. */
	o.cn = "denied";
	build(&s, &o, &req2);
	resend_req(&s, &req2, &rep);
	ck_assert_int_eq(rep.status, 3);
	tc_rep_free(&rep);
	snprintf(args, sizeof(args), "deny '%s' --reason 'not in inventory'",
	    req2.txid);
	out = tu_scepctl(&s, args);
	ck_assert_ptr_nonnull(strstr(out, "denied"));
	free(out);
	cert_poll(&s, &req2, X509_get_subject_name(cacert), &poll, &rep);
	ck_assert_int_eq(rep.status, 2);
	ck_assert_int_eq(rep.fail_info, 2);
	v = tu_ledger_query(&s, "SELECT reason FROM operations WHERE"
	    " transaction_id = ?1 AND message_type = 20", req2.txid);
	ck_assert_ptr_nonnull(strstr(v, "not in inventory"));
	free(v);
	tc_rep_free(&rep);
	tc_req_free(&poll);

	/* Polling for something never requested: badCertId. */
	{
		struct tc_opts other = { .cn = "nobody" };
		struct tc_req ghost;

		build(&s, &other, &ghost);
		cert_poll(&s, &ghost, X509_get_subject_name(cacert), &poll, &rep);
		ck_assert_int_eq(rep.status, 2);
		ck_assert_int_eq(rep.fail_info, 4);
		tc_rep_free(&rep);
		tc_req_free(&poll);
		tc_req_free(&ghost);
	}
	out = tu_scepctl(&s, "approve no-such-transaction 2>&1");
	ck_assert_ptr_nonnull(strstr(out, "nothing pending"));
	free(out);

	X509_free(issued);
	X509_free(cacert);
	tc_req_free(&req);
	tc_req_free(&req2);
	ck_assert(tu_server_stop(&s));
}
END_TEST

/* Enroll against s with this challenge; the reply's status and reason. */
static int
try_challenge(const struct tu_server *s, const char *cn, const char *pw,
    char **reason)
{
	struct tc_opts o = { .cn = cn, .challenge = pw };
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	int status;

	build(s, &o, &req);
	post(s, MSCEP, NULL, &req, &h);
	check_certrep(s, &req, &h, &rep);
	status = rep.status;
	if (reason != NULL)
		*reason = tu_ledger_query(s, "SELECT reason FROM operations WHERE"
		    " transaction_id = ?1", req.txid);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tu_http_free(&h);
	return status;
}

struct racer {
	const struct tu_server	*s;
	struct tc_req		 req;
	pthread_barrier_t	*barrier;
	int			 status;
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	struct tu_http h;
	struct tc_rep rep;

	pthread_barrier_wait(r->barrier);
	r->status = -1;
	if (tu_http(r->s->port, "POST", MSCEP "?operation=PKIOperation", NULL,
	    r->req.der, r->req.len, &h)) {
		if (tc_parse_certrep(h.body, h.len, &r->req, &rep)) {
			r->status = rep.status;
			tc_rep_free(&rep);
		}
		tu_http_free(&h);
	}
	return NULL;
}

/* challenge_mode = onetime: scepctl and NDES's page; one use each. */
START_TEST(test_onetime_challenge)
{
	static const char *const extra[] = { "challenge_mode=onetime",
	    "admin_password=page-secret", "challenge_max=3",
	    "challenge_failures=0", NULL };
	struct tu_server s;
	struct tu_http h;
	char *out, *reason, pw[2][64], url[128];
	int i;

	ck_assert(tu_server_start(&s, extra));
	out = tu_scepctl(&s, "challenge new --count 2 --ttl 10m 2>/dev/null");
	ck_assert_int_eq(sscanf(out, "%63s %63s", pw[0], pw[1]), 2);
	free(out);
	/* The password cache is full at challenge_max, like NDES's. */
	out = tu_scepctl(&s, "-o challenge_max=3 challenge new --count 2 2>&1");
	ck_assert_ptr_nonnull(strstr(out, "outstanding"));
	free(out);

	ck_assert_int_eq(try_challenge(&s, "first", pw[0], NULL), 0);
	ck_assert_int_eq(try_challenge(&s, "second", pw[0], &reason), 2);
	ck_assert_str_eq(reason, "one-time challenge password unknown, used or "
	    "expired");
	free(reason);
	ck_assert_int_eq(try_challenge(&s, "typo", "not-a-password", NULL), 2);

	/* Fifty requests race for one password: exactly one wins. */
	{
		enum { RACERS = 50 };
		struct racer r[RACERS];
		pthread_t t[RACERS];
		pthread_barrier_t barrier;
		EVP_PKEY *key = tc_rsa_key(2048);
		struct tc_opts o = { .cn = "racer", .challenge = pw[1],
		    .key = key };
		int wins = 0;

		pthread_barrier_init(&barrier, NULL, RACERS);
		for (i = 0; i < RACERS; i++) {
			r[i].s = &s;
			r[i].barrier = &barrier;
			build(&s, &o, &r[i].req);
		}
		for (i = 0; i < RACERS; i++)
			pthread_create(&t[i], NULL, race, &r[i]);
		for (i = 0; i < RACERS; i++) {
			pthread_join(t[i], NULL);
			wins += r[i].status == 0;
			ck_assert(r[i].status == 0 || r[i].status == 2);
			tc_req_free(&r[i].req);
		}
		pthread_barrier_destroy(&barrier);
		EVP_PKEY_free(key);
		ck_assert_int_eq(wins, 1);
	}

	/* NDES's page: Basic auth, then a password in NDES's words. */
	snprintf(url, sizeof(url), "/certsrv/mscep_admin/");
	ck_assert(tu_http(s.port, "GET", url, NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 401);
	tu_http_free(&h);
	{
		/* "admin:page-secret" in base64, as a browser sends it. */
		char *auth = b64_encode((const unsigned char *)"admin:page-secret",
		    17, 0), hdr[512], *p, page_pw[64];

		snprintf(hdr, sizeof(hdr), "Authorization: Basic %s\r\n", auth);
		ck_assert(tu_http_h(s.port, "GET", url, hdr, NULL, NULL, 0, &h));
		ck_assert_int_eq(h.status, 200);
		ck_assert_ptr_nonnull(strstr(h.ctype, "text/html"));
		p = strstr((char *)h.body, "The enrollment challenge password is: <B> ");
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(sscanf(p + 42, "%63s", page_pw), 1);
		ck_assert_ptr_nonnull(strstr((char *)h.body, "used only once and "
		    "will expire within 60 minutes"));
		tu_http_free(&h);
		ck_assert_int_eq(try_challenge(&s, "from-page", page_pw, NULL), 0);
		free(auth);
	}
	ck_assert(tu_server_stop(&s));
}
END_TEST

/* challenge_mode = exec: a program decides; its first line is the reason. */
START_TEST(test_exec_challenge)
{
	char dir[] = "/tmp/scepd-exec-XXXXXX", script[256], opt[300], stdin_copy[300];
	const char *extra[] = { "challenge_mode=exec", opt,
	    "challenge_exec_timeout=2", NULL };
	struct tu_server s;
	char *reason;
	unsigned char *csr;
	size_t n;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/decide", dir);
	snprintf(stdin_copy, sizeof(stdin_copy), "%s/stdin", dir);
	snprintf(opt, sizeof(opt), "challenge_exec=%s", script);
	f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\ncat > %s\n"
	    "case \"$SCEP_CHALLENGE\" in\n"
	    "let-me-in) echo \"allowed: $SCEP_SUBJECT from $SCEP_CLIENT_ADDR\";"
	    " exit 0;;\n"
	    "slow) sleep 10;;\n"
	    "esac\necho \"unknown device $SCEP_TRANSACTION_ID\"; exit 1\n",
	    stdin_copy);
	fclose(f);
	chmod(script, 0755);
	ck_assert(tu_server_start(&s, extra));
	ck_assert_int_eq(try_challenge(&s, "exec-ok", "let-me-in", &reason), 0);
	ck_assert_str_eq(reason, "allowed: CN=exec-ok from 127.0.0.1");
	free(reason);
	csr = tu_read_file(stdin_copy, &n);
	ck_assert(strncmp((char *)csr, "-----BEGIN CERTIFICATE REQUEST-----", 35) == 0);
	free(csr);
	ck_assert_int_eq(try_challenge(&s, "exec-no", "guess", &reason), 2);
	ck_assert(strncmp(reason, "unknown device ", 15) == 0);
	free(reason);
	ck_assert_int_eq(try_challenge(&s, "exec-slow", "slow", &reason), 2);
	ck_assert_str_eq(reason, "challenge program timed out after 2 s");
	free(reason);
	ck_assert(tu_server_stop(&s));
	unlink(script);
	unlink(stdin_copy);
	rmdir(dir);
}
END_TEST

/* Failed challenges are limited per address, each one an event. */
START_TEST(test_challenge_rate_limit)
{
	static const char *const extra[] = { "challenge_failures=3",
	    "challenge_failure_window=1h", NULL };
	struct tu_server s;
	char *reason, *v;
	int i;

	ck_assert(tu_server_start(&s, extra));
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(try_challenge(&s, "guesser", "wrong", NULL), 2);
	/* Even the right password is not looked at now. */
	ck_assert_int_eq(try_challenge(&s, "guesser", "lab-secret", &reason), 2);
	ck_assert_ptr_nonnull(strstr(reason, "too many failed challenges"));
	free(reason);
	v = tu_ledger_query(&s, "SELECT group_concat(kind, ',') FROM (SELECT kind"
	    " FROM events WHERE kind LIKE 'challenge%' ORDER BY id)", NULL);
	ck_assert_str_eq(v, "challenge_failed,challenge_failed,challenge_failed,"
	    "challenge_rate_limited");
	free(v);
	ck_assert(tu_server_stop(&s));
}
END_TEST

/* Enroll against s with these options; the parsed reply. */
static void
enroll_with(const struct tu_server *s, const struct tc_opts *o,
    struct tc_req *req, struct tc_rep *rep)
{
	struct tu_http h;

	build(s, o, req);
	post(s, MSCEP, NULL, req, &h);
	check_certrep(s, req, &h, rep);
	tu_http_free(&h);
}

static char *
one_password(const struct tu_server *s, const char *profile)
{
	char args[128], *out;

	/* scepctl reads the file; the server's -o profiles must be given too. */
	snprintf(args, sizeof(args), "-o profile.wifi.days=30 challenge new%s%s"
	    " 2>/dev/null", profile ? " --profile " : "", profile ? profile : "");
	out = tu_scepctl(s, args);
	out[strcspn(out, "\n")] = '\0';
	return out;
}

/*
 * NDES's templates: chosen by the key usage a CSR asks for, or by the
 * profile a one-time password was made for; each shapes what is issued.
 */
START_TEST(test_profiles)
{
	static const char *const extra[] = { "challenge_mode=onetime",
	    "challenge_max=50", "challenge_failures=0",
	    "profile.sign.key_usage=digitalSignature",
	    "profile.sign.eku=emailProtection", "profile.sign.days=10",
	    "profile.held.approval=manual",
	    "profile.wifi.days=30", "profile.wifi.san_policy=require",
	    "profile.wifi.san_allow=DNS:*.wifi.lab.example",
	    "profile.wifi.subject=CN={cn},O=Wifi Lab",
	    "profile_signature=sign", "profile_encryption=held", NULL };
	struct tu_server s;
	struct tc_opts o = { .cn = "p" };
	struct tc_req req;
	struct tc_rep rep;
	X509_NAME *want;
	const char *why;
	char *pw, *v;
	int day, sec;

	ck_assert(tu_server_start(&s, extra));
	/* Signature only: the "sign" template. */
	pw = one_password(&s, NULL);
	o.challenge = pw;
	o.key_usage = "digitalSignature";
	enroll_with(&s, &o, &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_uint_eq(X509_get_key_usage(rep.cert), KU_DIGITAL_SIGNATURE);
	ck_assert(X509_get_extended_key_usage(rep.cert) & XKU_SMIME);
	ck_assert(ASN1_TIME_diff(&day, &sec, X509_get0_notBefore(rep.cert),
	    X509_get0_notAfter(rep.cert)));
	ck_assert_int_eq(day, 10);
	v = tu_ledger_query(&s, "SELECT profile FROM operations WHERE"
	    " transaction_id = ?1", req.txid);
	ck_assert_str_eq(v, "sign");
	free(v);
	free(pw);
	tc_rep_free(&rep);
	tc_req_free(&req);

	/* Encryption only: "held", which waits for an administrator. */
	pw = one_password(&s, NULL);
	o.challenge = pw;
	o.key_usage = "keyEncipherment";
	enroll_with(&s, &o, &req, &rep);
	ck_assert_int_eq(rep.status, 3);
	free(pw);
	tc_rep_free(&rep);
	tc_req_free(&req);

	/* Both, or none: the default profile. */
	pw = one_password(&s, NULL);
	o.challenge = pw;
	o.key_usage = NULL;
	enroll_with(&s, &o, &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	v = tu_ledger_query(&s, "SELECT profile FROM operations WHERE"
	    " transaction_id = ?1", req.txid);
	ck_assert_str_eq(v, "default");
	free(v);
	free(pw);
	tc_rep_free(&rep);
	tc_req_free(&req);

	/* A password made for "wifi": its SAN policy and subject apply. */
	pw = one_password(&s, "wifi");
	o.challenge = pw;
	o.cn = "ap7";
	o.sans = "DNS:ap7.wifi.lab.example";
	enroll_with(&s, &o, &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	want = ca_name_parse("CN=ap7,O=Wifi Lab", &why);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(rep.cert), want), 0);
	X509_NAME_free(want);
	ck_assert(ASN1_TIME_diff(&day, &sec, X509_get0_notBefore(rep.cert),
	    X509_get0_notAfter(rep.cert)));
	ck_assert_int_eq(day, 30);
	free(pw);
	tc_rep_free(&rep);
	tc_req_free(&req);
	pw = one_password(&s, "wifi");
	o.challenge = pw;
	o.sans = "DNS:laptop.corp.example";
	enroll_with(&s, &o, &req, &rep);
	ck_assert_int_eq(rep.status, 2);
	ck_assert_int_eq(rep.fail_info, 2);
	v = tu_ledger_query(&s, "SELECT profile || '|' || reason FROM operations"
	    " WHERE transaction_id = ?1", req.txid);
	ck_assert_str_eq(v, "wifi|CSR subjectAltName not allowed by the "
	    "profile's san_allow");
	free(v);
	free(pw);
	tc_rep_free(&rep);
	tc_req_free(&req);
	/* scepctl refuses a profile that does not exist. */
	v = tu_scepctl(&s, "challenge new --profile nope 2>&1");
	ck_assert_ptr_nonnull(strstr(v, "no profile named 'nope'"));
	free(v);
	ck_assert(tu_server_stop(&s));
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
	enroll_ok(&s, &o, MSCEP, NULL, &req, &rep);
	ck_assert_int_eq(X509_get_signature_nid(rep.cert),
	    NID_ecdsa_with_SHA256);
	tc_rep_free(&rep);
	tc_req_free(&req);
	X509_free(cacert);
	ck_assert(tu_server_stop(&s));
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
	enroll_ok(&s, &renew, MSCEP, NULL, &req, &rep);
	ck_assert_int_eq(X509_check_issued(ca2, rep.cert), X509_V_OK);
	tc_rep_free(&rep);
	tc_req_free(&req);

	/* A client that still encrypts to the previous RA gets in. */
	ck_assert(tc_build(&o, ra1, &req));
	post(&s, MSCEP, NULL, &req, &h);
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
	serial = serial_of(old.cert);
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

static char *
status_of(const struct tu_server *s, const char *txid)
{
	char args[256], *json, *v = NULL;
	sqlite3 *db;
	sqlite3_stmt *st;

	snprintf(args, sizeof(args), "show '%s' --json", txid);
	json = tu_scepctl(s, args);
	sqlite3_open(":memory:", &db);
	if (sqlite3_prepare_v2(db, "SELECT json_extract(?1, '$[#-1].status')",
	    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			v = strdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	free(json);
	return v;
}

/*
 * Device logs as evidence: an Android OMA DM log and an iOS profiled log,
 * written from real transactions and mixed with other devices' lines,
 * turn the right transactions into "installed" and nothing else.
 */
START_TEST(test_ingest)
{
	struct tc_opts o = { .challenge = "lab-secret" };
	struct tc_req a, b, c;
	struct tc_rep ra, rb, rc;
	char hex[33], other[33], path[2][512], *b64, *pct, *out, *v;
	FILE *f;
	int i;

	o.cn = "android-1";
	enroll_ok(&srv, &o, MSCEP, NULL, &a, &ra);
	o.cn = "iphone-1";
	enroll_ok(&srv, &o, MSCEP, NULL, &b, &rb);
	o.cn = "bystander";
	enroll_ok(&srv, &o, MSCEP, NULL, &c, &rc);
	for (i = 0; i < 16; i++) {
		sprintf(hex + 2 * i, "%02X", ra.sender_nonce[i]);
		sprintf(other + 2 * i, "%02X", rc.sender_nonce[i]);
	}
	snprintf(path[0], sizeof(path[0]), "%s/omadm.log", srv.dir);
	f = fopen(path[0], "w");
	fprintf(f,
	    "2026-11-25T05:16:08.25    VERB    Event     com.microsoft.omadm."
	    "platforms.android.certmgr.CertificateEnrollmentManager    1   10"
	    "    Trying to enroll certificate request: ModelName=AC_1%%2FLogical"
	    "Name_2;Hash=77\n"
	    "2026-11-25T05:16:20.61    VERB    Event     org.jscep.transport."
	    "UrlConnectionGetTransport    1   10    Sending GetCACert(ca) to x\n"
	    /* another device's reply, its nonce does not fit this txid */
	    "2026-11-25T05:16:27.00    VERB    Event     org.jscep.transaction."
	    "EnrollmentTransaction    1   10    Response: org.jscep.message.Cert"
	    "Rep@1[failInfo=<null>,pkiStatus=SUCCESS,recipientNonce=Nonce [00],"
	    "messageData=x,messageType=CERT_REP,senderNonce=Nonce [%s],"
	    "transId=%s]\n"
	    "2026-11-25T05:16:28.03    VERB    Event     org.jscep.transaction."
	    "EnrollmentTransaction    1   10    Response: org.jscep.message.Cert"
	    "Rep@3150777b[failInfo=<null>,pkiStatus=SUCCESS,recipientNonce="
	    "Nonce [AA],messageData=org.spongycastle.cms.CMSSignedData@27cc8998,"
	    "messageType=CERT_REP,senderNonce=Nonce [%s],transId=%s]\n"
	    "2026-11-25T05:16:28.24    INFO    Event     com.microsoft.omadm."
	    "platforms.android.certmgr.state.NativeScepCertInstallStateMachine"
	    "    1   10    SCEP cert 'ModelName=AC_1%%2FLogicalName_2;Hash=77' "
	    "state changed from CERT_ENROLLED to CERT_INSTALL_REQUESTED\n"
	    "2026-11-25T05:20:15.35    INFO    Event     com.microsoft.omadm."
	    "platforms.android.certmgr.state.NativeScepCertInstallStateMachine"
	    "    1   21    SCEP cert 'ModelName=AC_1%%2FLogicalName_2;Hash=77' "
	    "state changed from CERT_ACCESS_REQUESTED to CERT_ACCESS_GRANTED\n"
	    "2026-11-25T05:20:16.00    INFO    Event     com.microsoft.omadm."
	    "platforms.android.certmgr.state.NativeScepCertInstallStateMachine"
	    "    1   22    SCEP cert 'ModelName=OTHER;Hash=1' state changed from "
	    "CERT_INSTALLING to CERT_INSTALL_SUCCESS\n",
	    other, a.txid, hex, a.txid);
	fclose(f);

	b64 = b64_encode(b.der, b.len, 0);
	b64[800] = '\0';	/* the first ~200 characters are the same for every request */
	pct = tu_pct(b64);
	snprintf(path[1], sizeof(path[1]), "%s/profiled.log", srv.dir);
	f = fopen(path[1], "w");
	fprintf(f,
	    "Debug 18:30:53.69 -0500 profiled Performing synchronous URL request:"
	    " https://x/certsrv/mscep/mscep.dll?operation=GetCACert&message=SCEP"
	    "%%20Authority\n"
	    "Debug 18:30:55.48 -0500 profiled Performing synchronous URL request:"
	    " https://x/certsrv/mscep/mscep.dll?operation=PKIOperation&message=%s\n"
	    "Debug 18:30:57.28 -0500 profiled Adding dependent Microsoft.Profiles."
	    "MDM to parent www.windowsintune.com.SCEP.ModelName=AC_9/Logical_9;"
	    "Hash=-91 in domain ManagedProfileToManagingProfile to system\n"
	    "Default 18:30:57.32 -0500 profiled Profile \u201cwww.windowsintune."
	    "com.SCEP.ModelName=AC_9/Logical_9;Hash=-91\u201d installed.\n"
	    "Default 18:31:00.00 -0500 profiled Profile \u201cwww.windowsintune."
	    "com.SCEP.ModelName=NOT_OURS;Hash=5\u201d installed.\n",
	    pct);
	fclose(f);
	free(b64);
	free(pct);

	{
		char args[1200];

		snprintf(args, sizeof(args), "ingest %s %s", path[0], path[1]);
		out = tu_scepctl(&srv, args);
		ck_assert_msg(strstr(out, "omadm.log: 2 matched, 2 unmatched,"
		    " 3 ignored; 2 new events") != NULL, "%s", out);
		ck_assert_msg(strstr(out, "profiled.log: 2 matched, 1 "
		    "unmatched, 2 ignored; 2 new events") != NULL, "%s", out);
		free(out);
		/* Twice: the same evidence, no new events. */
		out = tu_scepctl(&srv, args);
		ck_assert_ptr_nonnull(strstr(out, "omadm.log: 2 matched, 2 unmatched,"
		    " 3 ignored; 0 new events"));
		ck_assert_ptr_nonnull(strstr(out, "; 0 new events\n"));
		free(out);
	}
	v = status_of(&srv, a.txid);
	ck_assert_str_eq(v, "installed");
	free(v);
	v = status_of(&srv, b.txid);
	ck_assert_str_eq(v, "installed");
	free(v);
	v = status_of(&srv, c.txid);
	ck_assert_str_eq(v, "delivered");
	free(v);
	/* The timeline names the evidence. */
	{
		char args[256];

		snprintf(args, sizeof(args), "show '%s'", a.txid);
		out = tu_scepctl(&srv, args);
		ck_assert_ptr_nonnull(strstr(out, "status installed"));
		ck_assert_ptr_nonnull(strstr(out, "received_by_device"));
		ck_assert_ptr_nonnull(strstr(out, "android-log"));
		ck_assert_ptr_nonnull(strstr(out, "ModelName/Hash key"));
		free(out);
		out = tu_scepctl(&srv, "show iphone-1");
		ck_assert_ptr_nonnull(strstr(out, "ios-log"));
		ck_assert_ptr_nonnull(strstr(out, "profile identifier"));
		free(out);
	}
	tc_rep_free(&ra);
	tc_rep_free(&rb);
	tc_rep_free(&rc);
	tc_req_free(&a);
	tc_req_free(&b);
	tc_req_free(&c);
}
END_TEST

/*
 * A client that hangs up before reading its certificate: the reply was
 * committed (and the certificate is in the ledger), but not delivered.
 */
START_TEST(test_delivery_failed)
{
	char dir[] = "/tmp/scepd-slow-XXXXXX", script[256], opt[300];
	const char *extra[] = { "challenge_mode=exec", opt, NULL };
	struct tc_opts o = { .cn = "hangs-up", .challenge = "x" };
	struct timespec pause = { 0, 300 * 1000 * 1000 };
	struct sockaddr_in sin;
	struct linger lg = { 1, 0 };
	struct tu_server s;
	struct tc_req req;
	char head[256], *v = NULL;
	FILE *f;
	int fd, i;

	/* A challenge program that takes a second: time to hang up in. */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/slow", dir);
	snprintf(opt, sizeof(opt), "challenge_exec=%s", script);
	f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\ncat >/dev/null\nsleep 1\necho slow but fine\n");
	fclose(f);
	chmod(script, 0755);
	ck_assert(tu_server_start(&s, extra));
	build(&s, &o, &req);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)s.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	snprintf(head, sizeof(head), "POST " MSCEP "?operation=PKIOperation "
	    "HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", req.len);
	ck_assert(write(fd, head, strlen(head)) == (ssize_t)strlen(head));
	ck_assert(write(fd, req.der, req.len) == (ssize_t)req.len);
	/* Read by now, not yet answered: an abortive close (RST). */
	nanosleep(&pause, NULL);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	for (i = 0; i < 250 && v == NULL; i++) {
		struct timespec ts = { 0, 20000000 };

		v = tu_ledger_query(&s, "SELECT e.kind FROM events e JOIN operations o"
		    " ON o.id = e.operation_id WHERE o.transaction_id = ?1 AND"
		    " e.kind LIKE 'response_%'", req.txid);
		nanosleep(&ts, NULL);
	}
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "response_aborted");
	free(v);
	/* Issued and committed, but the device never got it. */
	v = status_of(&s, req.txid);
	ck_assert_str_eq(v, "delivery_failed");
	free(v);
	tc_req_free(&req);
	ck_assert(tu_server_stop(&s));
	unlink(script);
	rmdir(dir);
}
END_TEST

/* scepctl ledger filters and formats, stuck and stats. */
START_TEST(test_ledger_queries)
{
	struct tc_opts o = { .cn = "query-me", .challenge = "lab-secret" };
	struct tc_req req;
	struct tc_rep rep;
	char *out;

	enroll_ok(&srv, &o, MSCEP, NULL, &req, &rep);
	/* The delivery event arrives with the connection's completion. */
	for (int i = 0; i < 100; i++) {
		char *st = status_of(&srv, req.txid);
		int done = st != NULL && strcmp(st, "delivered") == 0;

		free(st);
		if (done)
			break;
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
	}
	out = tu_scepctl(&srv, "ledger --status delivered --subject query-me "
	    "--since 1h");
	ck_assert_ptr_nonnull(strstr(out, "delivered"));
	ck_assert_ptr_nonnull(strstr(out, "CN=query-me"));
	free(out);
	out = tu_scepctl(&srv, "ledger --status rejected --subject query-me");
	ck_assert_str_eq(out, "");
	free(out);
	out = tu_scepctl(&srv, "ledger --csv --subject query-me");
	ck_assert(strncmp(out, "id,received_at,transaction_id,status,subject,"
	    "serial,client_addr,reason\n", 70) == 0);
	ck_assert_ptr_nonnull(strstr(out, "\"delivered\",\"CN=query-me\""));
	free(out);
	/* Delivered, never installed: stuck once old enough. */
	out = tu_scepctl(&srv, "stuck --older-than 0s");
	ck_assert_ptr_nonnull(strstr(out, "CN=query-me"));
	free(out);
	out = tu_scepctl(&srv, "stuck --older-than 1h");
	ck_assert_ptr_null(strstr(out, "CN=query-me"));
	free(out);
	out = tu_scepctl(&srv, "stats --by day");
	ck_assert_ptr_nonnull(strstr(out, "delivered"));
	free(out);
	out = tu_scepctl(&srv, "ledger --status nonsense 2>&1");
	ck_assert_ptr_nonnull(strstr(out, "unknown status"));
	free(out);
	tc_rep_free(&rep);
	tc_req_free(&req);
}
END_TEST

/* The admin API: a bearer token, the ledger as JSON, reports, metrics. */
START_TEST(test_admin_api)
{
	struct tc_opts o = { .cn = "api-device", .challenge = "lab-secret" };
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	char path[512], hdr[256], target[512], *token, *enc, *v;
	size_t n;

	enroll_ok(&srv, &o, MSCEP, NULL, &req, &rep);
	ck_assert_int_gt(srv.admin_port, 0);
	snprintf(path, sizeof(path), "%s/var/admin.token", srv.dir);
	token = (char *)tu_read_file(path, &n);
	ck_assert_ptr_nonnull(token);
	token[strcspn(token, "\n")] = '\0';
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);

	ck_assert(tu_http(srv.admin_port, "GET", "/api/v1/transactions", NULL,
	    NULL, 0, &h));
	ck_assert_int_eq(h.status, 401);
	tu_http_free(&h);
	ck_assert(tu_http_h(srv.admin_port, "GET", "/api/v1/transactions",
	    "Authorization: Bearer wrong-token-of-some-length\r\n", NULL, NULL, 0,
	    &h));
	ck_assert_int_eq(h.status, 401);
	tu_http_free(&h);

	ck_assert(tu_http_h(srv.admin_port, "GET",
	    "/api/v1/transactions?q=api-device&since=1h", hdr, NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_str_eq(h.ctype, "application/json");
	ck_assert_ptr_nonnull(strstr((char *)h.body, req.txid));
	tu_http_free(&h);

	enc = tu_pct(req.txid);
	snprintf(target, sizeof(target), "/api/v1/transactions/%s", enc);
	ck_assert(tu_http_h(srv.admin_port, "GET", target, hdr, NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_ptr_nonnull(strstr((char *)h.body, "\"status\":"));
	tu_http_free(&h);

	/* An MDM reports the installation. */
	snprintf(target, sizeof(target), "/api/v1/transactions/%s/installed", enc);
	ck_assert(tu_http_h(srv.admin_port, "POST", target, hdr, "application/json",
	    (const unsigned char *)"{\"device\":\"api-device\"}", 22, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_ptr_nonnull(strstr((char *)h.body, "\"recorded\":true"));
	tu_http_free(&h);
	ck_assert(tu_http_h(srv.admin_port, "POST", target, hdr, "application/json",
	    (const unsigned char *)"{\"device\":\"api-device\"}", 22, &h));
	ck_assert_ptr_nonnull(strstr((char *)h.body, "\"recorded\":false"));
	tu_http_free(&h);
	v = status_of(&srv, req.txid);
	ck_assert_str_eq(v, "installed");
	free(v);
	v = tu_ledger_query(&srv, "SELECT e.source FROM events e JOIN operations o ON"
	    " o.id = e.operation_id WHERE o.transaction_id = ?1 AND e.kind ="
	    " 'installed'", req.txid);
	ck_assert_str_eq(v, "api");
	free(v);
	ck_assert(tu_http_h(srv.admin_port, "POST",
	    "/api/v1/transactions/no-such-thing/installed", hdr, NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 404);
	tu_http_free(&h);

	/* The page and its script are served to anyone; they hold no data. */
	ck_assert(tu_http(srv.admin_port, "GET", "/", NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_str_eq(h.ctype, "text/html; charset=utf-8");
	ck_assert_ptr_nonnull(strstr((char *)h.body, "<title>scepd ledger</title>"));
	ck_assert_ptr_null(strstr((char *)h.body, req.txid));
	tu_http_free(&h);
	ck_assert(tu_http(srv.admin_port, "GET", "/app.js", NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_str_eq(h.ctype, "text/javascript; charset=utf-8");
	tu_http_free(&h);

	ck_assert(tu_http_h(srv.admin_port, "GET", "/metrics", hdr, NULL, NULL, 0,
	    &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_ptr_nonnull(strstr((char *)h.body, "scepd_requests_total{"
	    "operation=\"PKIOperation\",outcome=\"ok\"}"));
	ck_assert_ptr_nonnull(strstr((char *)h.body, "scepd_issuance_seconds_count"));
	ck_assert_ptr_nonnull(strstr((char *)h.body,
	    "scepd_transactions{status=\"installed\"}"));
	tu_http_free(&h);
	free(enc);
	free(token);
	tc_rep_free(&rep);
	tc_req_free(&req);
}
END_TEST

/* hook_command gets each status change as JSON on stdin. */
START_TEST(test_hook)
{
	char dir[] = "/tmp/scepd-hook-XXXXXX", script[256], opt[300], got[300];
	const char *extra[] = { opt, NULL };
	struct tc_opts o = { .cn = "hooked", .challenge = "lab-secret" };
	struct tu_server s;
	struct tc_req req;
	struct tc_rep rep;
	unsigned char *seen = NULL;
	size_t n;
	FILE *f;
	int i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/hook", dir);
	snprintf(got, sizeof(got), "%s/events", dir);
	snprintf(opt, sizeof(opt), "hook_command=%s", script);
	f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\n{ printf '%%s ' \"$SCEP_EVENT\"; cat; } >> %s\n",
	    got);
	fclose(f);
	chmod(script, 0755);
	ck_assert(tu_server_start(&s, extra));
	enroll_ok(&s, &o, MSCEP, NULL, &req, &rep);
	for (i = 0; i < 200; i++) {
		struct timespec ts = { 0, 25000000 };

		free(seen);
		seen = tu_read_file(got, &n);
		if (seen != NULL && strstr((char *)seen, "response_complete {") != NULL)
			break;
		nanosleep(&ts, NULL);
	}
	ck_assert_ptr_nonnull(seen);
	ck_assert_ptr_nonnull(strstr((char *)seen, "issued {"));
	ck_assert_ptr_nonnull(strstr((char *)seen, "response_complete {"));
	ck_assert_ptr_nonnull(strstr((char *)seen, req.txid));
	ck_assert_ptr_nonnull(strstr((char *)seen, "\"status\":\"delivered\""));
	/* request_received does not change a status: no hook for it. */
	ck_assert_ptr_null(strstr((char *)seen, "request_received {"));
	free(seen);
	tc_rep_free(&rep);
	tc_req_free(&req);
	ck_assert(tu_server_stop(&s));
	unlink(got);
	unlink(script);
	rmdir(dir);
}
END_TEST

/*
 * Windows DeviceManagement-Enterprise-Diagnostics-Provider/Admin exports:
 * by thumbprint (XML), by serial (text), by subject and time (weak).
 */
START_TEST(test_ingest_windows)
{
	struct tc_opts o = { .challenge = "lab-secret" };
	struct tc_req r1, r2, r3;
	struct tc_rep p1, p2, p3;
	unsigned char d[20];
	unsigned int dl = 0;
	char thumb[80], path[512], now[32], args[600], *serial, *out, *v;
	time_t t;
	struct tm tm;
	FILE *f;
	int i;

	o.cn = "win-1";
	enroll_ok(&srv, &o, MSCEP, NULL, &r1, &p1);
	o.cn = "win-2";
	enroll_ok(&srv, &o, MSCEP, NULL, &r2, &p2);
	o.cn = "win-3";
	enroll_ok(&srv, &o, MSCEP, NULL, &r3, &p3);
	/* Let the three deliveries complete before "now". */
	for (i = 0; i < 100; i++) {
		v = status_of(&srv, r3.txid);
		if (v != NULL && strcmp(v, "delivered") == 0) {
			free(v);
			break;
		}
		free(v);
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
	}
	X509_digest(p1.cert, EVP_sha1(), d, &dl);
	for (i = 0; i < 20; i++)	/* as certmgr shows it: "ab cd ..." */
		sprintf(thumb + 3 * i, "%02x ", d[i]);
	thumb[59] = '\0';
	serial = serial_of(p2.cert);
	/* The events come after the enrollments (key generation takes a while). */
	t = time(NULL) + 2;
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(path, sizeof(path), "%s/events.txt", srv.dir);
	f = fopen(path, "w");
	fprintf(f,
	    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
	    "<System><Provider Name='Microsoft-Windows-DeviceManagement-Enterprise-"
	    "Diagnostics-Provider'/><EventID>39</EventID><TimeCreated SystemTime="
	    "'%s.1234567Z'/></System><EventData><Data Name='Thumbprint'>%s</Data>"
	    "</EventData><RenderingInfo Culture='en-US'><Message>SCEP: Certificate "
	    "installed successfully.</Message></RenderingInfo></Event>\n"
	    "<Event xmlns='x'><System><Provider Name='Microsoft-Windows-DeviceManage"
	    "ment-Enterprise-Diagnostics-Provider'/><EventID>39</EventID></System>"
	    "<EventData><Data Name='Thumbprint'>00112233445566778899aabbccddeeff"
	    "00112233</Data></EventData><RenderingInfo><Message>SCEP: Certificate "
	    "installed successfully.</Message></RenderingInfo></Event>\n"
	    "<Event xmlns='x'><System><Provider Name='Microsoft-Windows-Kernel-"
	    "General'/><EventID>1</EventID></System></Event>\n"
	    "Event[0]:\n"
	    "  Log Name: Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-"
	    "Provider/Admin\n"
	    "  Source: Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-"
	    "Provider\n"
	    "  Date: %s.000\n"
	    "  Event ID: 39\n"
	    "  Description:\n"
	    "SCEP: Certificate installed successfully. Serial number: %s\n"
	    "Event[1]:\n"
	    "  Log Name: Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-"
	    "Provider/Admin\n"
	    "  Date: %s.000\n"
	    "  Event ID: 39\n"
	    "  Description:\n"
	    "SCEP: Certificate installed successfully. Subject: CN=win-3\n",
	    now, thumb, now, serial, now);
	fclose(f);
	snprintf(args, sizeof(args), "ingest %s", path);
	out = tu_scepctl(&srv, args);
	ck_assert_msg(strstr(out, "3 matched, 1 unmatched, 1 ignored; 3 new events")
	    != NULL, "%s", out);
	free(out);
	out = tu_scepctl(&srv, args);
	ck_assert_msg(strstr(out, "; 0 new events") != NULL, "%s", out);
	free(out);
	v = tu_ledger_query(&srv, "SELECT group_concat(json_extract(e.detail,"
	    " '$.evidence'), '|') FROM (SELECT e.* FROM events e JOIN operations o"
	    " ON o.id = e.operation_id WHERE e.source = 'windows-event' AND"
	    " o.csr_subject IN ('CN=win-1', 'CN=win-2', 'CN=win-3') ORDER BY"
	    " o.csr_subject) e", NULL);
	ck_assert_str_eq(v, "certificate thumbprint|certificate serial|subject CN "
	    "and time window (weak match)");
	free(v);
	v = status_of(&srv, r3.txid);
	ck_assert_str_eq(v, "installed");
	free(v);
	free(serial);
	tc_rep_free(&p1);
	tc_rep_free(&p2);
	tc_rep_free(&p3);
	tc_req_free(&r1);
	tc_req_free(&r2);
	tc_req_free(&r3);
}
END_TEST

START_TEST(test_ec_client)
{
	struct tc_opts o = { .cn = "ec-device", .challenge = "lab-secret",
	    .ec_curve = "P-256" };
	struct tc_req req;
	struct tc_rep rep;

	enroll_ok(&srv, &o, MSCEP, NULL, &req, &rep);
	ck_assert_uint_eq(X509_get_key_usage(rep.cert),
	    KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT);
	tc_rep_free(&rep);
	tc_req_free(&req);
}
END_TEST

static void
hex(const unsigned char *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* Every field the issue names, committed before the reply arrived. */
START_TEST(test_ledger_row)
{
	struct tc_opts o = { .cn = "ledger-device", .challenge = "lab-secret",
	    .sans = "DNS:l.lab.example" };
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	unsigned char digest[32], *der = NULL;
	unsigned int dlen;
	char want[256], *v, *head, *json, *serial;
	int n, i;

	build(&srv, &o, &req);
	post(&srv, MSCEP, NULL, &req, &h);
	/* The row exists the moment the reply is in our hands. */
	v = tu_ledger_query(&srv, "SELECT outcome FROM operations WHERE "
	    "transaction_id = ?1", req.txid);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "issued");
	free(v);
	check_certrep(&srv, &req, &h, &rep);
	check_issued(&srv, &req, &rep);

#define FIELD(col) tu_ledger_query(&srv, "SELECT " col " FROM operations WHERE " \
	    "transaction_id = ?1", req.txid)
	v = FIELD("message_type");
	ck_assert_str_eq(v, "19");
	free(v);
	hex(req.nonce, 16, want);
	v = FIELD("request_nonce");
	ck_assert_str_eq(v, want);
	free(v);
	hex(rep.sender_nonce, 16, want);
	v = FIELD("reply_nonce");
	ck_assert_str_eq(v, want);
	free(v);
	v = FIELD("client_addr");
	ck_assert_str_eq(v, "127.0.0.1");
	free(v);
	v = FIELD("user_agent");
	ck_assert_str_eq(v, "scepd-test/1");
	free(v);
	EVP_Digest(req.der, req.len, digest, &dlen, EVP_sha256(), NULL);
	hex(digest, 32, want);
	v = FIELD("request_sha256");
	ck_assert_str_eq(v, want);
	free(v);
	head = b64_encode(req.der, req.len, 1024);
	v = FIELD("request_b64_head");
	ck_assert_uint_eq(strlen(v), 1024);
	ck_assert_str_eq(v, head);
	free(v);
	free(head);
	v = FIELD("csr_subject || '|' || csr_sans");
	ck_assert_str_eq(v, "CN=ledger-device|DNS:l.lab.example");
	free(v);
	n = i2d_PUBKEY(req.key, &der);
	EVP_Digest(der, (size_t)n, digest, &dlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	der = NULL;
	hex(digest, 32, want);
	v = FIELD("pubkey_sha256");
	ck_assert_str_eq(v, want);
	free(v);
	v = FIELD("pki_status || '|' || http_status || '|' || digest || '|' || cipher");
	ck_assert_str_eq(v, "0|200|SHA256|AES-128-CBC");
	free(v);
	serial = FIELD("cert_serial");
	{
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(rep.cert), NULL);
		char *hx = BN_bn2hex(bn);

		ck_assert_str_eq(serial, hx);
		OPENSSL_free(hx);
		BN_free(bn);
	}
	n = i2d_X509(rep.cert, &der);
	EVP_Digest(der, (size_t)n, digest, &dlen, EVP_sha256(), NULL);
	hex(digest, 32, want);
	v = tu_ledger_query(&srv, "SELECT sha256 || '|' || hex(der) FROM certificates"
	    " WHERE serial = ?1", serial);
	ck_assert_ptr_nonnull(v);
	ck_assert(strncmp(v, want, 64) == 0);
	for (i = 0; i < n; i++) {
		char b[3];

		snprintf(b, sizeof(b), "%02X", der[i]);
		ck_assert(strncmp(v + 65 + 2 * i, b, 2) == 0);
	}
	free(v);
	OPENSSL_free(der);
	v = tu_ledger_query(&srv, "SELECT not_after - not_before FROM certificates"
	    " WHERE serial = ?1", serial);
	ck_assert_str_eq(v, "31536300");	/* 365 days + 5 minutes */
	free(v);

	/* The delivery event follows the completion of the response. */
	for (i = 0; i < 100; i++) {
		v = tu_ledger_query(&srv, "SELECT e.kind FROM events e JOIN operations"
		    " o ON o.id = e.operation_id WHERE o.transaction_id = ?1 AND"
		    " e.kind = 'response_complete'", req.txid);
		if (v != NULL)
			break;
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
	}
	ck_assert_ptr_nonnull(v);
	free(v);

	/* scepctl ledger --json shows the same row, valid JSON. */
	json = tu_scepctl(&srv, "ledger --json");
	ck_assert_ptr_nonnull(json);
	{
		sqlite3 *db;
		sqlite3_stmt *st;

		sqlite3_open(":memory:", &db);
		ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT json_extract(value,"
		    " '$.serial'), json_extract(value, '$.events[#-1].kind'),"
		    " json_extract(value, '$.subject') FROM json_each(?1) WHERE"
		    " json_extract(value, '$.transaction_id') = ?2", -1, &st, NULL),
		    SQLITE_OK);
		sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, req.txid, -1, SQLITE_STATIC);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), serial);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 1),
		    "response_complete");
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 2),
		    "CN=ledger-device");
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	free(json);
	/* scepctl cert SERIAL prints the certificate. */
	{
		char args[128], *pem;

		snprintf(args, sizeof(args), "cert %s", serial);
		pem = tu_scepctl(&srv, args);
		ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN CERTIFICATE-----"));
		free(pem);
	}
	free(serial);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tu_http_free(&h);
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
	X509 *ra = tu_server_cert(&srv, "ra");

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
	if (!tu_http(srv.port, "POST", MSCEP "?operation=PKIOperation", NULL,
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
	v = tu_ledger_query(&srv, "SELECT count(DISTINCT cert_serial) FROM operations"
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

static Suite *
e2e_suite(void)
{
	Suite *s = suite_create("e2e");
	TCase *t;

	t = tcase_create("http");
	tcase_add_unchecked_fixture(t, start_main, stop_main);
	tcase_add_unchecked_fixture(t, start_legacy, stop_legacy);
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
	tcase_add_test(t, test_legacy_algorithms);
	tcase_add_test(t, test_envelope_to_ca);
	tcase_add_loop_test(t, test_renewal, 0, 2);
	tcase_add_test(t, test_renewal_pkcsreq);
	tcase_add_test(t, test_renewal_revoked);
	tcase_add_test(t, test_renewal_policy);
	tcase_add_test(t, test_getcert);
	tcase_add_test(t, test_getcrl);
	tcase_add_test(t, test_manual_approval);
	tcase_add_test(t, test_onetime_challenge);
	tcase_add_test(t, test_exec_challenge);
	tcase_add_test(t, test_challenge_rate_limit);
	tcase_add_test(t, test_profiles);
	tcase_add_test(t, test_ec_ca);
	tcase_add_test(t, test_rollover);
	tcase_add_test(t, test_ingest);
	tcase_add_test(t, test_ingest_windows);
	tcase_add_test(t, test_delivery_failed);
	tcase_add_test(t, test_ledger_queries);
	tcase_add_test(t, test_admin_api);
	tcase_add_test(t, test_hook);
	tcase_add_test(t, test_ec_client);
	tcase_add_test(t, test_ledger_row);
	tcase_add_test(t, test_concurrent);
	tcase_set_timeout(t, 240);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	int rc = tu_run_suite(e2e_suite(), 1);

	if (server_unclean)
		fprintf(stderr, "e2e: scepd exited uncleanly (see its log above)\n");
	return rc == 0 && !server_unclean ? 0 : 1;
}
