/*
 * pkcs7/: the real-client PKCSReqs in ../shared/vectors parse, verify and
 * decrypt with the CA they were sent to; hostile messages fail at the
 * right step with the right error; CertReps read back with a client that
 * does not share our code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>

#include "pkcs7/scep_certrep.h"
#include "pkcs7/scep_msg.h"
#include "ca/ca_x509.h"
#include "tests/lib/scep_client.h"
#include "tests/lib/testutil.h"

static X509 *ca_cert;
static EVP_PKEY *ca_key;

static void
load_ca(void)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/server-ca.pem", tu_vectors());
	ca_cert = tu_read_cert(path);
	snprintf(path, sizeof(path), "%s/server-ca.key", tu_vectors());
	ca_key = tu_read_key(path);
	ck_assert_msg(ca_cert != NULL && ca_key != NULL,
	    "cannot read %s/server-ca.*", tu_vectors());
}

static void
free_ca(void)
{
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
}

struct vector {
	const char	*dir;
	const char	*file;
	int		 type;
	int		 cipher_nid;
	int		 digest_nid;
	int		 has_csr;
};

static const struct vector vectors[] = {
	{ "micromdm", "pkcsreq.der", 19, NID_des_cbc, NID_sha1, 1 },
	{ "certmonger", "pkcsreq.der", 19, NID_aes_256_cbc, NID_sha256, 1 },
	{ "strongswan", "pkcsreq.der", 19, NID_des_ede3_cbc, NID_sha256, 1 },
	{ "strongswan-aes", "pkcsreq.der", 19, NID_aes_128_cbc, NID_sha256, 1 },
	{ "certmonger-resubmit", "pkcsreq.der", 19, NID_undef, NID_undef, 0 },
	{ "certmonger-rekey", "pkcsreq.der", 19, NID_undef, NID_undef, 0 },
	{ "micromdm-renewalreq", "renewalreq.der", 17, NID_undef, NID_undef, 0 },
	{ "strongswan-renewalreq", "renewalreq.der", 17, NID_undef, NID_undef, 0 },
};

static unsigned char *
vector_bytes(const char *dir, const char *file, size_t *len)
{
	char path[512];
	unsigned char *b;

	snprintf(path, sizeof(path), "%s/%s/%s", tu_vectors(), dir, file);
	b = tu_read_file(path, len);
	ck_assert_msg(b != NULL, "cannot read %s", path);
	return b;
}

START_TEST(test_vector)
{
	const struct vector *v = &vectors[_i];
	struct scep_verify_opts vo = { 1, 0, 0 };
	scep_msg *m = NULL;
	const unsigned char *content, *nonce;
	unsigned char *der, *csr_der = NULL;
	size_t len, clen, nlen;
	const char *why = NULL;
	X509_REQ *csr;
	char path[512];
	int n;

	der = vector_bytes(v->dir, v->file, &len);
	ck_assert_int_eq(scep_msg_parse(der, len, &m, &why), SCEP_OK);
	ck_assert_int_eq(scep_msg_type(m), v->type);
	ck_assert_uint_gt(strlen(scep_msg_transaction_id(m)), 0);
	nonce = scep_msg_sender_nonce(m, &nlen);
	ck_assert_ptr_nonnull(nonce);
	ck_assert_uint_eq(nlen, 16);
	ck_assert_ptr_nonnull(scep_msg_signer_get0(m));
	ck_assert_msg(scep_msg_verify(m, &vo, &why) == SCEP_OK, "%s: %s",
	    v->dir, why);
	if (v->digest_nid != NID_undef)
		ck_assert_int_eq(EVP_MD_get_type(scep_msg_digest(m)), v->digest_nid);
	ck_assert_msg(scep_msg_decrypt(m, &ca_cert, &ca_key, 1, 1, &why) ==
	    SCEP_OK, "%s: %s", v->dir, why);
	content = scep_msg_content(m, &clen);
	if (v->has_csr) {
		ck_assert_int_eq(EVP_CIPHER_get_nid(scep_msg_cipher(m)),
		    v->cipher_nid);
		snprintf(path, sizeof(path), "%s/%s/csr.pem", tu_vectors(), v->dir);
		csr = tu_read_csr(path);
		ck_assert_ptr_nonnull(csr);
		n = i2d_X509_REQ(csr, &csr_der);
		ck_assert_int_eq((int)clen, n);
		ck_assert_mem_eq(content, csr_der, clen);
		OPENSSL_free(csr_der);
		X509_REQ_free(csr);
	} else {
		const unsigned char *p = content;

		csr = d2i_X509_REQ(NULL, &p, (long)clen);
		ck_assert_ptr_nonnull(csr);
		X509_REQ_free(csr);
	}
	scep_msg_free(m);
	free(der);
}
END_TEST

/* Without legacy_algorithms, old clients get badAlg at the right step. */
START_TEST(test_vector_legacy_refused)
{
	struct scep_verify_opts vo = { 0, 0, 0 };
	scep_msg *m = NULL;
	unsigned char *der;
	size_t len;
	const char *why = NULL;

	der = vector_bytes("micromdm", "pkcsreq.der", &len);
	ck_assert_int_eq(scep_msg_parse(der, len, &m, &why), SCEP_OK);
	ck_assert_int_eq(scep_msg_verify(m, &vo, &why), SCEP_ERR_BAD_ALG);
	ck_assert_ptr_nonnull(strstr(why, "SHA-1"));
	scep_msg_free(m);
	free(der);

	der = vector_bytes("strongswan", "pkcsreq.der", &len);
	ck_assert_int_eq(scep_msg_parse(der, len, &m, &why), SCEP_OK);
	ck_assert_int_eq(scep_msg_verify(m, &vo, &why), SCEP_OK);
	ck_assert_int_eq(scep_msg_decrypt(m, &ca_cert, &ca_key, 1, 0, &why),
	    SCEP_ERR_BAD_ALG);
	scep_msg_free(m);
	free(der);
}
END_TEST

/* Hostile messages built by the test client: where they fail and how. */
enum stage { AT_PARSE, AT_VERIFY, AT_DECRYPT, PASSES };

struct hostile {
	const char	*name;
	enum tc_flaw	 flaw;
	int		 sha1;
	int		 des3;
	int		 ber;
	int		 foreign_recipient;
	long		 max_skew;
	enum stage	 stage;
	scep_err	 err;
};

static const struct hostile hostiles[] = {
	{ "no transactionID", TC_NO_TXID, 0, 0, 0, 0, 0, AT_PARSE, SCEP_ERR_MALFORMED },
	{ "no senderNonce", TC_NO_NONCE, 0, 0, 0, 0, 0, AT_PARSE, SCEP_ERR_MALFORMED },
	{ "no messageType", TC_NO_MSGTYPE, 0, 0, 0, 0, 0, AT_PARSE, SCEP_ERR_MALFORMED },
	{ "messageType twice", TC_DUP_MSGTYPE, 0, 0, 0, 0, 0, AT_PARSE, SCEP_ERR_MALFORMED },
	{ "two signers", TC_TWO_SIGNERS, 0, 0, 0, 0, 0, AT_PARSE, SCEP_ERR_MALFORMED },
	{ "trailing bytes", TC_TRAILING, 0, 0, 0, 0, 0, AT_PARSE, SCEP_ERR_MALFORMED },
	{ "control char in txid", TC_TXID_BINARY, 0, 0, 0, 0, 0, AT_PARSE, SCEP_ERR_MALFORMED },
	{ "4-byte nonce", TC_NONCE_SHORT, 0, 0, 0, 0, 0, AT_PARSE, SCEP_ERR_MALFORMED },
	{ "tampered content", TC_TAMPERED, 0, 0, 0, 0, 0, AT_VERIFY, SCEP_ERR_BAD_MESSAGE_CHECK },
	{ "signingTime a day old", TC_OLD_SIGNING_TIME, 0, 0, 0, 0, 300, AT_VERIFY, SCEP_ERR_BAD_TIME },
	{ "SHA-1 without legacy", TC_OK, 1, 0, 0, 0, 0, AT_VERIFY, SCEP_ERR_BAD_ALG },
	{ "DES3 without legacy", TC_OK, 0, 1, 0, 0, 0, AT_DECRYPT, SCEP_ERR_BAD_ALG },
	{ "content not enveloped", TC_NOT_ENVELOPED, 0, 0, 0, 0, 0, AT_DECRYPT, SCEP_ERR_BAD_REQUEST },
	{ "envelope for someone else", TC_OK, 0, 0, 0, 1, 0, AT_DECRYPT, SCEP_ERR_BAD_MESSAGE_CHECK },
	{ "BER indefinite length (iOS)", TC_OK, 0, 0, 1, 0, 0, PASSES, SCEP_OK },
	{ "signingTime fresh", TC_OK, 0, 0, 0, 0, 300, PASSES, SCEP_OK },
};

static int
contains(const unsigned char *hay, size_t n, const unsigned char *needle,
    size_t m)
{
	size_t i;

	for (i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

START_TEST(test_hostile)
{
	const struct hostile *h = &hostiles[_i];
	struct tc_opts o = { .cn = "hostile", .challenge = "x", .flaw = h->flaw };
	struct scep_verify_opts vo = { 0, time(NULL), h->max_skew };
	struct tc_req req;
	scep_msg *m = NULL;
	EVP_PKEY *other_key = NULL;
	X509 *recipient = ca_cert, *other = NULL;
	const char *why = NULL;
	scep_err e;

	o.md = h->sha1 ? EVP_sha1() : NULL;
	o.cipher = h->des3 ? EVP_des_ede3_cbc() : NULL;
	o.ber = h->ber;
	if (h->foreign_recipient) {
		struct tc_req tmp;
		struct tc_opts oo = { .cn = "other" };

		/* Any other certificate: reuse a request's signer. */
		ck_assert(tc_build(&oo, ca_cert, &tmp));
		other = tmp.signer;
		X509_up_ref(other);
		other_key = tmp.key;
		EVP_PKEY_up_ref(other_key);
		tc_req_free(&tmp);
		recipient = other;
	}
	ck_assert_msg(tc_build(&o, recipient, &req), "%s: build", h->name);
	if (h->ber) {
		ck_assert_msg(req.der[1] == 0x80, "not indefinite-length BER");
		/* The envelope inside is BER too, as in the iOS sample. */
		ck_assert(contains(req.der, req.len, (const unsigned char *)
		    "\x30\x80\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03", 13));
	}

	e = scep_msg_parse(req.der, req.len, &m, &why);
	if (h->stage == AT_PARSE) {
		ck_assert_msg(e == h->err, "%s: parse gave %s (%s)", h->name,
		    scep_err_name(e), why ? why : "");
		ck_assert_ptr_null(m);
		goto out;
	}
	ck_assert_msg(e == SCEP_OK, "%s: parse: %s", h->name, why);
	e = scep_msg_verify(m, &vo, &why);
	if (h->stage == AT_VERIFY) {
		ck_assert_msg(e == h->err, "%s: verify gave %s (%s)", h->name,
		    scep_err_name(e), why ? why : "");
		goto out;
	}
	ck_assert_msg(e == SCEP_OK, "%s: verify: %s", h->name, why);
	e = scep_msg_decrypt(m, &ca_cert, &ca_key, 1, 0, &why);
	if (h->stage == AT_DECRYPT) {
		ck_assert_msg(e == h->err, "%s: decrypt gave %s (%s)", h->name,
		    scep_err_name(e), why ? why : "");
		goto out;
	}
	ck_assert_msg(e == SCEP_OK, "%s: decrypt: %s", h->name, why);
	ck_assert_int_eq(EVP_CIPHER_get_nid(scep_msg_cipher(m)), NID_aes_128_cbc);
out:
	scep_msg_free(m);
	tc_req_free(&req);
	X509_free(other);
	EVP_PKEY_free(other_key);
}
END_TEST

/* Bytes that are not a PKIMessage at all. */
START_TEST(test_not_a_message)
{
	unsigned char junk[64], *der, *big;
	size_t len, elen;
	scep_msg *m = NULL;
	const char *why = NULL;

	memset(junk, 0x30, sizeof(junk));
	ck_assert_int_eq(scep_msg_parse(junk, 0, &m, &why), SCEP_ERR_MALFORMED);
	ck_assert_int_eq(scep_msg_parse(junk, sizeof(junk), &m, &why),
	    SCEP_ERR_MALFORMED);
	der = vector_bytes("certmonger", "pkcsreq.der", &len);
	ck_assert_int_eq(scep_msg_parse(der, len / 2, &m, &why),
	    SCEP_ERR_MALFORMED);
	ck_assert_int_eq(scep_msg_parse(der, len - 1, &m, &why),
	    SCEP_ERR_MALFORMED);
	free(der);
	/* An EnvelopedData where the SignedData belongs. */
	der = vector_bytes("certmonger", "envelope.der", &elen);
	ck_assert_int_eq(scep_msg_parse(der, elen, &m, &why), SCEP_ERR_MALFORMED);
	ck_assert_ptr_nonnull(strstr(why, "SignedData"));
	free(der);
	/* A GetCACert reply: SignedData without signer or content. */
	{
		STACK_OF(X509) *certs = sk_X509_new_null();
		unsigned char *co = NULL;
		size_t colen = 0;

		sk_X509_push(certs, ca_cert);
		ck_assert_int_eq(scep_certs_only_der(certs, NULL, &co, &colen), SCEP_OK);
		ck_assert_int_eq(scep_msg_parse(co, colen, &m, &why),
		    SCEP_ERR_MALFORMED);
		OPENSSL_free(co);
		sk_X509_free(certs);
	}
	big = calloc(1, SCEP_MAX_MESSAGE + 1);
	ck_assert_int_eq(scep_msg_parse(big, SCEP_MAX_MESSAGE + 1, &m, &why),
	    SCEP_ERR_TOO_LARGE);
	free(big);
	ck_assert_ptr_null(m);
}
END_TEST

static void
certrep_roundtrip(int status, const EVP_CIPHER *cipher)
{
	struct tc_opts o = { .cn = "rep", .cipher = cipher };
	struct tc_req req;
	struct tc_rep rep;
	struct scep_certrep r;
	unsigned char nonce[16], *der = NULL;
	size_t len = 0;
	const char *why = NULL;

	ck_assert(tc_build(&o, ca_cert, &req));
	RAND_bytes(nonce, sizeof(nonce));
	memset(&r, 0, sizeof(r));
	r.status = status;
	r.fail_info = SCEP_FAIL_BAD_REQUEST;
	r.txid = req.txid;
	r.recipient_nonce = req.nonce;
	r.recipient_nonce_len = sizeof(req.nonce);
	r.sender_nonce = nonce;
	r.sender_nonce_len = sizeof(nonce);
	r.signer_cert = ca_cert;
	r.signer_key = ca_key;
	r.md = EVP_sha256();
	r.issued = req.signer;		/* any certificate will do */
	r.recipient = req.signer;
	r.cipher = cipher;
	ck_assert_int_eq(scep_certrep_der(&r, &der, &len, &why), SCEP_OK);
	ck_assert(tc_parse_certrep(der, len, &req, &rep));
	ck_assert_int_eq(rep.msg_type, SCEP_MSG_CERTREP);
	ck_assert_int_eq(rep.status, status);
	ck_assert_str_eq(rep.txid, req.txid);
	ck_assert_uint_eq(rep.recipient_nonce_len, 16);
	ck_assert_mem_eq(rep.recipient_nonce, req.nonce, 16);
	ck_assert_uint_eq(rep.sender_nonce_len, 16);
	ck_assert_mem_eq(rep.sender_nonce, nonce, 16);
	ck_assert_int_eq(X509_cmp(rep.signer, ca_cert), 0);
	/* What CMS_sign writes, and what strongSwan accepts. */
	ck_assert_int_eq(rep.sig_nid, NID_rsaEncryption);
	if (status == SCEP_STATUS_SUCCESS) {
		ck_assert_ptr_nonnull(rep.cert);
		ck_assert_int_eq(X509_cmp(rep.cert, req.signer), 0);
		ck_assert_int_eq(rep.fail_info, -1);
	} else {
		const unsigned char *p = der;
		CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
		PKCS7 *p7;

		/* No pkcsPKIEnvelope, but an empty eContent is present ... */
		ck_assert_int_eq(rep.has_content, 0);
		ck_assert_ptr_nonnull(*CMS_get0_content(cms));
		ck_assert_int_eq(ASN1_STRING_length(*CMS_get0_content(cms)), 0);
		CMS_ContentInfo_free(cms);
		/* ... because certmonger checks replies with PKCS7_verify. */
		p = der;
		p7 = d2i_PKCS7(NULL, &p, (long)len);
		ck_assert_ptr_nonnull(p7);
		ck_assert_int_eq(PKCS7_verify(p7, NULL, NULL, NULL, NULL,
		    PKCS7_NOVERIFY), 1);
		PKCS7_free(p7);
		ck_assert_ptr_null(rep.cert);
		ck_assert_int_eq(rep.fail_info, SCEP_FAIL_BAD_REQUEST);
	}
	tc_rep_free(&rep);
	tc_req_free(&req);
	OPENSSL_free(der);
}

START_TEST(test_certrep_success_aes)
{
	certrep_roundtrip(SCEP_STATUS_SUCCESS, EVP_aes_256_cbc());
}
END_TEST

START_TEST(test_certrep_success_des)
{
	certrep_roundtrip(SCEP_STATUS_SUCCESS, EVP_des_cbc());
}
END_TEST

START_TEST(test_certrep_failure)
{
	certrep_roundtrip(SCEP_STATUS_FAILURE, NULL);
}
END_TEST

START_TEST(test_certs_only)
{
	STACK_OF(X509) *in = sk_X509_new_null(), *out;
	struct tc_req req;
	struct tc_opts o = { .cn = "x" };
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	CMS_ContentInfo *cms;

	ck_assert(tc_build(&o, ca_cert, &req));
	sk_X509_push(in, ca_cert);
	sk_X509_push(in, req.signer);
	ck_assert_int_eq(scep_certs_only_der(in, NULL, &der, &len), SCEP_OK);
	out = tc_certs_only(der, len);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(sk_X509_num(out), 2);
	/* RFC 8894 3.4: degenerate, no signers and no content. */
	p = der;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	ck_assert_ptr_nonnull(cms);
	ck_assert_int_eq(sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)), 0);
	ck_assert_ptr_null(*CMS_get0_content(cms));
	CMS_ContentInfo_free(cms);
	sk_X509_pop_free(out, X509_free);
	sk_X509_free(in);
	tc_req_free(&req);
	OPENSSL_free(der);
}
END_TEST

/* DER of x, parsed back the ordinary way (a clean object). */
static unsigned char *
cert_der(X509 *x, int *n)
{
	unsigned char *der = NULL;

	*n = i2d_X509(x, &der);
	ck_assert_int_gt(*n, 0);
	return der;
}

/* Lowercase hex SHA-256 of key's SubjectPublicKeyInfo, the ordinary way. */
static void
spki_hex(EVP_PKEY *key, char hex[65])
{
	unsigned char *der = NULL, d[32];
	unsigned int dl = 0, i;
	int n = i2d_PUBKEY(key, &der);

	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(EVP_Digest(der, (size_t)n, d, &dl, EVP_sha256(), NULL), 1);
	for (i = 0; i < dl; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	OPENSSL_free(der);
}

/* A PKIMessage built by the test client with o parses and verifies. */
static void
message_verifies(const struct tc_opts *o)
{
	struct scep_verify_opts vo = { 1, 0, 0 };
	struct tc_req req;
	const char *why = NULL;
	scep_msg *m = NULL;

	ck_assert_int_eq(tc_build(o, ca_cert, &req), 1);
	ck_assert_int_eq(scep_msg_parse(req.der, req.len, &m, &why), SCEP_OK);
	ck_assert_msg(scep_msg_verify(m, &vo, &why) == SCEP_OK, "%s", why);
	ck_assert_ptr_nonnull(X509_get0_pubkey(scep_msg_signer_get0(m)));
	scep_msg_free(m);
	tc_req_free(&req);
}

/*
 * Parsed without the decoder walk, a certificate has no key until asked;
 * the key decoded then is the right one and the DER does not change.
 */
START_TEST(test_keyless_cert)
{
	EVP_PKEY *key = tc_rsa_key(2048), *k;
	X509 *x = tc_self_signed(key, "keyless", key, "keyless"), *y;
	unsigned char *der, *again = NULL, *longer;
	char want[65], got[65];
	int n, m;

	der = cert_der(x, &n);
	y = ca_x509_from_der(der, (size_t)n);
	ck_assert_ptr_nonnull(y);
	ck_assert_ptr_null(X509_get0_pubkey(y));
	ERR_clear_error();
	k = ca_spki_key(X509_get_X509_PUBKEY(y));
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(EVP_PKEY_eq(k, key), 1);
	spki_hex(key, want);
	ck_assert_int_eq(ca_spki_sha256(X509_get_X509_PUBKEY(y), got), CA_OK);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(ca_x509_decode_key(y), CA_OK);
	ck_assert_ptr_nonnull(X509_get0_pubkey(y));
	m = i2d_X509(y, &again);
	ck_assert_int_eq(m, n);
	ck_assert_mem_eq(again, der, (size_t)n);
	ck_assert_int_eq(X509_verify(y, X509_get0_pubkey(y)), 1);
	/* Exactly its bytes: one more is refused. */
	longer = calloc(1, (size_t)n + 1);
	memcpy(longer, der, (size_t)n);
	ck_assert_ptr_null(ca_x509_from_der(longer, (size_t)n + 1));
	ck_assert_ptr_null(ca_x509_from_der(der, (size_t)n - 1));
	ERR_clear_error();
	free(longer);
	OPENSSL_free(again);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	X509_free(y);
	X509_free(x);
	EVP_PKEY_free(key);
}
END_TEST

/*
 * An RSA key whose AlgorithmIdentifier omits the NULL parameters (legal,
 * rare): the same key as with them, put in place without changing the
 * certificate's DER, and a PKIMessage signed with such a certificate
 * verifies.
 */
START_TEST(test_keyless_rsa_without_null)
{
	EVP_PKEY *key = tc_rsa_key(2048), *other = tc_rsa_key(2048);
	X509 *normal = tc_self_signed(key, "odd", key, "odd");
	X509 *odd = tc_self_signed(key, "odd", key, "odd"), *y, *z;
	X509 *stranger = tc_self_signed(other, "odd", other, "odd");
	struct tc_opts o = { .cn = "odd", .key = key, .sign_key = key };
	const unsigned char *bits;
	unsigned char *copy, *der, *again = NULL;
	int len, n;

	ck_assert_int_eq(X509_PUBKEY_get0_param(NULL, &bits, &len, NULL,
	    X509_get_X509_PUBKEY(odd)), 1);
	copy = OPENSSL_memdup(bits, (size_t)len);
	ck_assert_int_eq(X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(odd),
	    OBJ_nid2obj(NID_rsaEncryption), V_ASN1_UNDEF, NULL, copy, len), 1);
	ck_assert_int_gt(X509_sign(odd, key, EVP_sha256()), 0);
	der = cert_der(odd, &n);
	y = ca_x509_from_der(der, (size_t)n);
	z = ca_x509_from_der(der, (size_t)n);
	ck_assert_ptr_nonnull(y);
	ck_assert_int_eq(ca_spki_same_key(X509_get_X509_PUBKEY(y),
	    X509_get_X509_PUBKEY(normal)), 1);
	ck_assert_int_eq(ca_spki_same_key(X509_get_X509_PUBKEY(y),
	    X509_get_X509_PUBKEY(stranger)), 0);
	/* Its key goes in; its DER (what it was signed as) stays. */
	ck_assert_int_eq(ca_x509_decode_key(z), CA_OK);
	ck_assert_int_eq(i2d_X509(z, &again), n);
	ck_assert_mem_eq(again, der, (size_t)n);
	ck_assert_int_eq(X509_verify(z, X509_get0_pubkey(z)), 1);

	o.sign_cert = odd;
	message_verifies(&o);
	OPENSSL_free(again);
	OPENSSL_free(der);
	X509_free(y);
	X509_free(z);
	X509_free(odd);
	X509_free(normal);
	X509_free(stranger);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}
END_TEST

/* EC keys take the ordinary decoder; an EC-signed PKIMessage verifies. */
START_TEST(test_keyless_ec)
{
	EVP_PKEY *key = EVP_EC_gen("P-256"), *k;
	X509 *x = tc_self_signed(key, "ec", key, "ec"), *y;
	struct tc_opts o = { .cn = "ec", .ec_curve = "P-256" };
	unsigned char *der, *again = NULL;
	int n;

	der = cert_der(x, &n);
	y = ca_x509_from_der(der, (size_t)n);
	ck_assert_ptr_nonnull(y);
	k = ca_spki_key(X509_get_X509_PUBKEY(y));
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(EVP_PKEY_eq(k, key), 1);
	ck_assert_int_ne(ca_x509_decode_key(y), CA_OK);
	ck_assert_int_eq(i2d_X509(y, &again), n);
	ck_assert_mem_eq(again, der, (size_t)n);
	message_verifies(&o);
	OPENSSL_free(again);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	X509_free(y);
	X509_free(x);
	EVP_PKEY_free(key);
}
END_TEST

static Suite *
pkcs7_suite(void)
{
	Suite *s = suite_create("pkcs7");
	TCase *t;

	t = tcase_create("vectors");
	tcase_add_checked_fixture(t, load_ca, free_ca);
	tcase_add_loop_test(t, test_vector, 0,
	    (int)(sizeof(vectors) / sizeof(vectors[0])));
	tcase_add_test(t, test_vector_legacy_refused);
	tcase_set_timeout(t, 30);
	suite_add_tcase(s, t);

	t = tcase_create("hostile");
	tcase_add_checked_fixture(t, load_ca, free_ca);
	tcase_add_loop_test(t, test_hostile, 0,
	    (int)(sizeof(hostiles) / sizeof(hostiles[0])));
	tcase_add_test(t, test_not_a_message);
	tcase_set_timeout(t, 60);
	suite_add_tcase(s, t);

	t = tcase_create("certrep");
	tcase_add_checked_fixture(t, load_ca, free_ca);
	tcase_add_test(t, test_certrep_success_aes);
	tcase_add_test(t, test_certrep_success_des);
	tcase_add_test(t, test_certrep_failure);
	tcase_add_test(t, test_certs_only);
	tcase_set_timeout(t, 30);
	suite_add_tcase(s, t);

	t = tcase_create("x509");
	tcase_add_checked_fixture(t, load_ca, free_ca);
	tcase_add_test(t, test_keyless_cert);
	tcase_add_test(t, test_keyless_rsa_without_null);
	tcase_add_test(t, test_keyless_ec);
	tcase_set_timeout(t, 30);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return tu_run_suite(pkcs7_suite(), 1);
}
