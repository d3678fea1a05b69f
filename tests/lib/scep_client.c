#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tests/lib/scep_client.h"

#define OID_MESSAGE_TYPE	"2.16.840.1.113733.1.9.2"
#define OID_PKI_STATUS		"2.16.840.1.113733.1.9.3"
#define OID_FAIL_INFO		"2.16.840.1.113733.1.9.4"
#define OID_SENDER_NONCE	"2.16.840.1.113733.1.9.5"
#define OID_RECIPIENT_NONCE	"2.16.840.1.113733.1.9.6"
#define OID_TRANSACTION_ID	"2.16.840.1.113733.1.9.7"

/*
 * $SCEPD_TEST_KEYS: a PEM file of RSA-2048 keys handed out in turn
 * instead of generating each (make valgrind: key generation under
 * memcheck takes most of a minute).  A test process sees each at most
 * once until the pool wraps.
 */
static EVP_PKEY *pool[64];
static size_t pool_n, pool_next;
static int pool_loaded;

static void
load_pool(void)
{
	const char *path = getenv("SCEPD_TEST_KEYS");
	FILE *f;

	pool_loaded = 1;
	if (path == NULL || *path == '\0' || (f = fopen(path, "r")) == NULL)
		return;
	while (pool_n < sizeof(pool) / sizeof(pool[0]) &&
	    (pool[pool_n] = PEM_read_PrivateKey(f, NULL, NULL, NULL)) != NULL)
		pool_n++;
	fclose(f);
	ERR_clear_error();
}

EVP_PKEY *
tc_rsa_key(int bits)
{
	EVP_PKEY *k;

	if (!pool_loaded)
		load_pool();
	if (bits == 2048 && pool_n > 0) {
		k = pool[pool_next++ % pool_n];
		if (EVP_PKEY_up_ref(k))
			return k;
	}
	return EVP_RSA_gen((unsigned int)bits);
}

X509 *
tc_self_signed(EVP_PKEY *key, const char *cn, EVP_PKEY *issuer_key,
    const char *issuer_cn)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new(), *in = X509_NAME_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_NAME_add_entry_by_txt(in, "CN", MBSTRING_ASC,
	    (const unsigned char *)issuer_cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, in);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_sign(x, issuer_key, EVP_sha256());
	X509_NAME_free(n);
	X509_NAME_free(in);
	return x;
}

static X509_REQ *
make_csr(const struct tc_opts *o, EVP_PKEY *key, const EVP_MD *md)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();

	if (o->cn != NULL)
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
		    (const unsigned char *)o->cn, -1, -1, 0);
	X509_REQ_set_subject_name(req, n);
	X509_NAME_free(n);
	X509_REQ_set_pubkey(req, key);
	if (o->challenge != NULL)
		X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
		    o->challenge_utf8 ? V_ASN1_UTF8STRING : V_ASN1_PRINTABLESTRING,
		    (const unsigned char *)o->challenge, (int)strlen(o->challenge));
	if (o->sans != NULL || o->key_usage != NULL) {
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		X509_EXTENSION *ext;

		if (o->sans != NULL) {
			ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
			    o->sans);
			if (ext == NULL) {
				fprintf(stderr, "bad SAN spec %s\n", o->sans);
				abort();
			}
			sk_X509_EXTENSION_push(exts, ext);
		}
		if (o->key_usage != NULL) {
			ext = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage,
			    o->key_usage);
			if (ext == NULL)
				abort();
			sk_X509_EXTENSION_push(exts, ext);
		}
		X509_REQ_add_extensions(req, exts);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	X509_REQ_sign(req, key, md);
	return req;
}

static int
add_str(CMS_SignerInfo *si, const char *oid, const char *s, int type)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	int ok = CMS_signed_add1_attr_by_OBJ(si, obj, type, s, (int)strlen(s));

	ASN1_OBJECT_free(obj);
	return ok;
}

static int
add_oct(CMS_SignerInfo *si, const char *oid, const unsigned char *b, int n)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	int ok = CMS_signed_add1_attr_by_OBJ(si, obj, V_ASN1_OCTET_STRING, b, n);

	ASN1_OBJECT_free(obj);
	return ok;
}

static int
add_scep_attrs(CMS_SignerInfo *si, const struct tc_opts *o,
    const struct tc_req *r)
{
	char type[8];
	int ok = 1;

	snprintf(type, sizeof(type), "%d", o->msg_type ? o->msg_type : 19);
	if (o->flaw != TC_NO_MSGTYPE)
		ok &= add_str(si, OID_MESSAGE_TYPE, type, V_ASN1_PRINTABLESTRING);
	if (o->flaw == TC_DUP_MSGTYPE)
		ok &= add_str(si, OID_MESSAGE_TYPE, type, V_ASN1_PRINTABLESTRING);
	if (o->flaw == TC_TXID_BINARY) {
		ok &= add_str(si, OID_TRANSACTION_ID, "ab\x01" "cd", V_ASN1_IA5STRING);
	} else if (o->flaw == TC_TXID_LONG) {
		char longid[201];

		memset(longid, 'A', 200);
		longid[200] = '\0';
		ok &= add_str(si, OID_TRANSACTION_ID, longid,
		    V_ASN1_PRINTABLESTRING);
	} else if (o->flaw != TC_NO_TXID)
		ok &= add_str(si, OID_TRANSACTION_ID, r->txid, V_ASN1_PRINTABLESTRING);
	if (o->flaw == TC_NONCE_SHORT) {
		ok &= add_oct(si, OID_SENDER_NONCE, r->nonce, 4);
	} else if (o->flaw == TC_NONCE_LONG) {
		unsigned char big[100];

		memset(big, 0x5a, sizeof(big));
		ok &= add_oct(si, OID_SENDER_NONCE, big, (int)sizeof(big));
	} else if (o->flaw != TC_NO_NONCE) {
		ok &= add_oct(si, OID_SENDER_NONCE, r->nonce, 16);
	}
	if (o->flaw == TC_OLD_SIGNING_TIME) {
		ASN1_TIME *t = X509_time_adj_ex(NULL, -1, 0, NULL);

		ok &= CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime,
		    V_ASN1_UTCTIME, t, -1);
		ASN1_TIME_free(t);
	}
	return ok;
}

/* EnvelopedData for recipient; BER indefinite lengths when o->ber (iOS). */
static unsigned char *
envelope(const struct tc_opts *o, X509 *recipient, const unsigned char *in,
    size_t inlen, size_t *outlen)
{
	STACK_OF(X509) *recips = sk_X509_new_null();
	BIO *b = BIO_new_mem_buf(in, (int)inlen), *out = BIO_new(BIO_s_mem());
	CMS_ContentInfo *env;
	unsigned char *der = NULL;
	int flags = CMS_BINARY | (o->ber ? CMS_STREAM : 0), ok;
	BUF_MEM *bm;

	sk_X509_push(recips, recipient);
	env = CMS_encrypt(recips, b, o->cipher ? o->cipher : EVP_aes_128_cbc(),
	    flags);
	ok = env != NULL && (o->ber ? i2d_CMS_bio_stream(out, env, b, flags) :
	    i2d_CMS_bio(out, env));
	if (ok) {
		BIO_get_mem_ptr(out, &bm);
		der = OPENSSL_malloc(bm->length);
		memcpy(der, bm->data, bm->length);
		*outlen = bm->length;
	}
	CMS_ContentInfo_free(env);
	BIO_free(b);
	BIO_free(out);
	sk_X509_free(recips);
	return der;
}

/* Flip a byte inside the signed content (located by its bytes). */
static void
tamper(unsigned char *der, size_t len, const unsigned char *env, size_t envlen)
{
	size_t i;

	for (i = 0; i + envlen <= len; i++) {
		if (memcmp(der + i, env, envlen) == 0) {
			der[i + envlen / 2] ^= 0x55;
			return;
		}
	}
	abort();
}

int
tc_build(const struct tc_opts *o, X509 *recipient, struct tc_req *r)
{
	const EVP_MD *md = o->md ? o->md : EVP_sha256();
	EVP_PKEY *signkey = NULL, *cakey = NULL;
	X509_REQ *csr = NULL;
	X509 *signer2 = NULL;
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	unsigned char *csr_der = NULL, *env = NULL, *inner;
	size_t envlen = 0, innerlen;
	BIO *content = NULL, *out = NULL;
	BUF_MEM *bm;
	int n, flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP, ok = 0;

	memset(r, 0, sizeof(*r));
	/* RFC 8894 3.3.2: the reply is enveloped to whoever signed. */
	if (o->key != NULL) {
		EVP_PKEY_up_ref(o->key);
		r->key = o->key;
	} else if (o->ec_curve != NULL) {
		r->key = EVP_EC_gen(o->ec_curve);
	} else {
		r->key = tc_rsa_key(o->key_bits ? o->key_bits : 2048);
	}
	if (r->key == NULL)
		goto out;
	if (o->txid != NULL) {
		snprintf(r->txid, sizeof(r->txid), "%s", o->txid);
	} else {
		unsigned char b[16];
		int i;

		RAND_bytes(b, sizeof(b));
		for (i = 0; i < 16; i++)
			snprintf(r->txid + 2 * i, 3, "%02X", b[i]);
	}
	RAND_bytes(r->nonce, sizeof(r->nonce));

	csr = make_csr(o, r->key, md);
	if ((n = i2d_X509_REQ(csr, &csr_der)) <= 0)
		goto out;
	if (o->flaw == TC_NOT_A_CSR)
		memset(csr_der, 0x41, (size_t)n);
	inner = csr_der;
	innerlen = (size_t)n;
	if (o->content != NULL) {
		inner = (unsigned char *)o->content;
		innerlen = o->content_len;
	}
	if (o->flaw != TC_NOT_ENVELOPED) {
		if ((env = envelope(o, recipient, inner, innerlen, &envlen)) == NULL)
			goto out;
		inner = env;
		innerlen = envlen;
	}

	switch (o->sign_cert != NULL ? -1 : (int)o->flaw) {
	case -1:
		signkey = o->sign_key;
		EVP_PKEY_up_ref(signkey);
		r->signer = o->sign_cert;
		X509_up_ref(r->signer);
		break;
	case TC_SIGNER_OTHER_KEY:
		signkey = tc_rsa_key(2048);
		r->signer = tc_self_signed(signkey, "signer", signkey, "signer");
		break;
	case TC_SIGNER_FOREIGN_CA:
		cakey = tc_rsa_key(2048);
		signkey = r->key;
		EVP_PKEY_up_ref(signkey);
		r->signer = tc_self_signed(r->key, "signer", cakey, "Foreign CA");
		break;
	default:
		signkey = r->key;
		EVP_PKEY_up_ref(signkey);
		r->signer = tc_self_signed(r->key, "signer", r->key, "signer");
		break;
	}

	if (o->ber)
		flags |= CMS_STREAM;
	if ((cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL)
		goto out;
	if ((si = CMS_add1_signer(cms, r->signer, signkey, md, flags)) == NULL ||
	    !add_scep_attrs(si, o, r))
		goto out;
	if (o->flaw == TC_TWO_SIGNERS) {
		signer2 = tc_self_signed(r->key, "second", r->key, "second");
		if ((si = CMS_add1_signer(cms, signer2, r->key, md, flags)) == NULL ||
		    !add_scep_attrs(si, o, r))
			goto out;
	}
	if (o->pad > 0) {
		unsigned char *pad = calloc(1, o->pad);

		/* An unsigned attribute: makes the message big, stays valid. */
		n = CMS_unsigned_add1_attr_by_txt(si, "1.3.6.1.4.1.99999.1",
		    V_ASN1_OCTET_STRING, pad, (int)o->pad);
		free(pad);
		if (!n)
			goto out;
	}
	content = BIO_new_mem_buf(inner, (int)innerlen);
	out = BIO_new(BIO_s_mem());
	if (o->ber) {
		/* Streaming output uses indefinite lengths throughout. */
		if (!i2d_CMS_bio_stream(out, cms, content, flags))
			goto out;
	} else {
		if (!CMS_final(cms, content, NULL, CMS_BINARY) ||
		    !i2d_CMS_bio(out, cms))
			goto out;
	}
	BIO_get_mem_ptr(out, &bm);
	r->len = bm->length + (o->flaw == TC_TRAILING ? 7 : 0);
	r->der = calloc(1, r->len);
	memcpy(r->der, bm->data, bm->length);
	if (o->flaw == TC_TAMPERED)
		tamper(r->der, r->len, inner, innerlen);
	r->signer_key = signkey;
	signkey = NULL;
	ok = 1;
out:
	if (!ok)
		ERR_print_errors_fp(stderr);
	EVP_PKEY_free(signkey);
	EVP_PKEY_free(cakey);
	X509_free(signer2);
	X509_REQ_free(csr);
	OPENSSL_free(csr_der);
	OPENSSL_free(env);
	CMS_ContentInfo_free(cms);
	BIO_free(content);
	BIO_free(out);
	return ok;
}

void
tc_req_free(struct tc_req *r)
{
	EVP_PKEY_free(r->key);
	EVP_PKEY_free(r->signer_key);
	X509_free(r->signer);
	free(r->der);
	memset(r, 0, sizeof(*r));
}

static int
attr_int(CMS_SignerInfo *si, const char *oid, int *out)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_STRING *s = CMS_signed_get0_data_by_OBJ(si, obj, -3,
	    V_ASN1_PRINTABLESTRING);
	char buf[16];
	int n;

	ASN1_OBJECT_free(obj);
	if (s == NULL)
		return 0;
	n = ASN1_STRING_length(s);
	if (n <= 0 || n >= (int)sizeof(buf))
		return 0;
	memcpy(buf, ASN1_STRING_get0_data(s), (size_t)n);
	buf[n] = '\0';
	*out = atoi(buf);
	return 1;
}

static int
attr_bytes(CMS_SignerInfo *si, const char *oid, int type, unsigned char *buf,
    size_t cap, size_t *len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_STRING *s = CMS_signed_get0_data_by_OBJ(si, obj, -3, type);

	ASN1_OBJECT_free(obj);
	if (s == NULL || (size_t)ASN1_STRING_length(s) >= cap)
		return 0;
	*len = (size_t)ASN1_STRING_length(s);
	memcpy(buf, ASN1_STRING_get0_data(s), *len);
	buf[*len] = 0;
	return 1;
}

STACK_OF(X509) *
tc_certs_only(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	STACK_OF(X509) *certs = NULL;

	if (cms != NULL && p == der + len &&
	    OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed)
		certs = CMS_get1_certs(cms);
	CMS_ContentInfo_free(cms);
	return certs;
}

int
tc_parse_certrep(const unsigned char *der, size_t len,
    const struct tc_req *req, struct tc_rep *r)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = NULL, *env = NULL, *inner = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *signers = NULL, *certs = NULL;
	STACK_OF(X509_CRL) *crls = NULL;
	CMS_SignerInfo *si;
	ASN1_OCTET_STRING **content;
	BIO *plain = NULL, *empty = NULL;
	BUF_MEM *bm;
	size_t n;
	X509_ALGOR *sig;
	int ok = 0;

	memset(r, 0, sizeof(*r));
	r->fail_info = -1;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (cms == NULL || p != der + len)
		goto out;
	/*
	 * Signature over the content (no chain: the test checks the signer).
	 * FAILURE and PENDING carry no content: the signature covers "".
	 */
	content = CMS_get0_content(cms);
	r->has_content = content != NULL && *content != NULL &&
	    ASN1_STRING_length(*content) > 0;
	if (content == NULL || *content == NULL)
		empty = BIO_new_mem_buf("", 0);
	if (CMS_verify(cms, NULL, NULL, empty, NULL,
	    CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1)
		goto out;
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1)
		goto out;
	si = sk_CMS_SignerInfo_value(sis, 0);
	signers = CMS_get0_signers(cms);
	if (signers == NULL || sk_X509_num(signers) != 1)
		goto out;
	r->signer = sk_X509_value(signers, 0);
	X509_up_ref(r->signer);
	CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &sig);
	r->sig_nid = OBJ_obj2nid(sig->algorithm);
	if (!attr_int(si, OID_MESSAGE_TYPE, &r->msg_type) ||
	    !attr_int(si, OID_PKI_STATUS, &r->status))
		goto out;
	attr_int(si, OID_FAIL_INFO, &r->fail_info);
	if (!attr_bytes(si, OID_TRANSACTION_ID, V_ASN1_PRINTABLESTRING,
	    (unsigned char *)r->txid, sizeof(r->txid), &n) ||
	    !attr_bytes(si, OID_RECIPIENT_NONCE, V_ASN1_OCTET_STRING,
	    r->recipient_nonce, sizeof(r->recipient_nonce),
	    &r->recipient_nonce_len) ||
	    !attr_bytes(si, OID_SENDER_NONCE, V_ASN1_OCTET_STRING,
	    r->sender_nonce, sizeof(r->sender_nonce), &r->sender_nonce_len))
		goto out;
	if (r->status == 0) {
		if (!r->has_content)
			goto out;
		p = ASN1_STRING_get0_data(*content);
		env = d2i_CMS_ContentInfo(NULL, &p, ASN1_STRING_length(*content));
		plain = BIO_new(BIO_s_mem());
		if (env == NULL ||
		    CMS_decrypt(env, req->signer_key, req->signer, NULL, plain,
		    CMS_BINARY) != 1)
			goto out;
		BIO_get_mem_ptr(plain, &bm);
		p = (unsigned char *)bm->data;
		inner = d2i_CMS_ContentInfo(NULL, &p, (long)bm->length);
		if (inner == NULL)
			goto out;
		certs = CMS_get1_certs(inner);
		crls = CMS_get1_crls(inner);
		/* One certificate (PKCSReq, GetCert) or one CRL (GetCRL). */
		if (sk_X509_num(certs) == 1 && sk_X509_CRL_num(crls) <= 0) {
			r->cert = sk_X509_value(certs, 0);
			X509_up_ref(r->cert);
		} else if (sk_X509_num(certs) <= 0 && sk_X509_CRL_num(crls) == 1) {
			r->crl = sk_X509_CRL_value(crls, 0);
			X509_CRL_up_ref(r->crl);
		} else {
			goto out;
		}
	}
	ok = 1;
out:
	if (!ok)
		ERR_print_errors_fp(stderr);
	sk_X509_free(signers);
	sk_X509_pop_free(certs, X509_free);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	CMS_ContentInfo_free(cms);
	CMS_ContentInfo_free(env);
	CMS_ContentInfo_free(inner);
	BIO_free(plain);
	BIO_free(empty);
	return ok;
}

void
tc_rep_free(struct tc_rep *r)
{
	X509_free(r->cert);
	X509_CRL_free(r->crl);
	X509_free(r->signer);
	memset(r, 0, sizeof(*r));
}

unsigned char *
tc_issuer_and_serial(const X509_NAME *issuer, const ASN1_INTEGER *serial,
    size_t *len)
{
	PKCS7_ISSUER_AND_SERIAL *ias = PKCS7_ISSUER_AND_SERIAL_new();
	unsigned char *der = NULL, *out = NULL;
	int n;

	X509_NAME_set(&ias->issuer, (X509_NAME *)issuer);
	ASN1_INTEGER_free(ias->serial);
	ias->serial = ASN1_INTEGER_dup(serial);
	if ((n = i2d_PKCS7_ISSUER_AND_SERIAL(ias, &der)) > 0 &&
	    (out = malloc((size_t)n)) != NULL) {
		memcpy(out, der, (size_t)n);
		*len = (size_t)n;
	}
	OPENSSL_free(der);
	PKCS7_ISSUER_AND_SERIAL_free(ias);
	return out;
}

unsigned char *
tc_issuer_and_subject(const X509_NAME *issuer, const X509_NAME *subject,
    size_t *len)
{
	unsigned char *a = NULL, *b = NULL, *out = NULL, *p;
	int na, nb, total;

	na = i2d_X509_NAME(issuer, &a);
	nb = i2d_X509_NAME(subject, &b);
	if (na > 0 && nb > 0) {
		total = ASN1_object_size(1, na + nb, V_ASN1_SEQUENCE);
		if ((out = malloc((size_t)total)) != NULL) {
			p = out;
			ASN1_put_object(&p, 1, na + nb, V_ASN1_SEQUENCE,
			    V_ASN1_UNIVERSAL);
			memcpy(p, a, (size_t)na);
			memcpy(p + na, b, (size_t)nb);
			*len = (size_t)total;
		}
	}
	OPENSSL_free(a);
	OPENSSL_free(b);
	return out;
}
