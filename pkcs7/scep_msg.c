#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "ca/ca_x509.h"
#include "pkcs7/scep_msg.h"
#include "pkcs7/scep_oid.h"

struct scep_msg {
	CMS_ContentInfo	*cms;
	X509		*signer;	/* owned reference */
	CMS_SignerInfo	*si;		/* inside cms */
	int		 type;
	char		 txid[SCEP_MAX_TXID + 1];
	unsigned char	 nonce[SCEP_MAX_NONCE];
	size_t		 nonce_len;
	const EVP_MD	*md;
	const EVP_CIPHER *cipher;
	int		 cipher_nid;
	unsigned char	*content;	/* decrypted messageData */
	size_t		 content_len;
};

void
scep_msg_free(scep_msg *m)
{
	if (m == NULL)
		return;
	CMS_ContentInfo_free(m->cms);
	X509_free(m->signer);
	if (m->content != NULL)
		OPENSSL_clear_free(m->content, m->content_len);
	free(m);
}

/* A string attribute value as printable text of at most cap-1 bytes. */
static scep_err
attr_string(const ASN1_TYPE *t, char *buf, size_t cap, const char **why,
    const char *toolong)
{
	const unsigned char *d;
	int len, i;

	/* RFC 8894 says PrintableString; some clients use IA5 or UTF8. */
	if (t->type != V_ASN1_PRINTABLESTRING && t->type != V_ASN1_IA5STRING &&
	    t->type != V_ASN1_UTF8STRING) {
		*why = "RFC 8894 3.2.1: string attribute has the wrong type";
		return SCEP_ERR_MALFORMED;
	}
	d = ASN1_STRING_get0_data(t->value.asn1_string);
	len = ASN1_STRING_length(t->value.asn1_string);
	if (len <= 0 || (size_t)len >= cap) {
		*why = toolong;
		return SCEP_ERR_MALFORMED;
	}
	for (i = 0; i < len; i++) {
		if (d[i] < 0x20 || d[i] > 0x7e) {
			*why = "RFC 8894 3.2.1: attribute holds non-printable bytes";
			return SCEP_ERR_MALFORMED;
		}
	}
	memcpy(buf, d, (size_t)len);
	buf[len] = '\0';
	return SCEP_OK;
}

/* Read the SCEP signed attributes: each at most once, one value each. */
static scep_err
read_attributes(scep_msg *m, const char **why)
{
	int seen[SCEP_ATTR_COUNT] = { 0 };
	char typebuf[8], *end;
	int i, n;
	long v;
	scep_err e;

	n = CMS_signed_get_attr_count(m->si);
	if (n <= 0) {
		*why = "RFC 8894 3.2.1: no signed attributes";
		return SCEP_ERR_MALFORMED;
	}
	for (i = 0; i < n; i++) {
		X509_ATTRIBUTE *a = CMS_signed_get_attr(m->si, i);
		enum scep_attr which;
		ASN1_TYPE *t;

		which = scep_oid_attr(X509_ATTRIBUTE_get0_object(a));
		if (which == SCEP_ATTR_NONE)
			continue;
		if (seen[which]++) {
			*why = "RFC 8894 3.2.1: a SCEP attribute appears twice";
			return SCEP_ERR_MALFORMED;
		}
		if (X509_ATTRIBUTE_count(a) != 1) {
			*why = "RFC 8894 3.2.1: a SCEP attribute must hold one value";
			return SCEP_ERR_MALFORMED;
		}
		t = X509_ATTRIBUTE_get0_type(a, 0);
		switch (which) {
		case SCEP_ATTR_MESSAGE_TYPE:
			e = attr_string(t, typebuf, sizeof(typebuf), why,
			    "RFC 8894 3.2.1.2: messageType too long");
			if (e != SCEP_OK)
				return e;
			v = strtol(typebuf, &end, 10);
			if (*end != '\0' || v <= 0 || v > 255) {
				*why = "RFC 8894 3.2.1.2: messageType is not a number";
				return SCEP_ERR_MALFORMED;
			}
			m->type = (int)v;
			break;
		case SCEP_ATTR_TRANSACTION_ID:
			e = attr_string(t, m->txid, sizeof(m->txid), why,
			    "RFC 8894 3.2.1.1: transactionID too long");
			if (e != SCEP_OK)
				return e;
			break;
		case SCEP_ATTR_SENDER_NONCE: {
			int len;

			if (t->type != V_ASN1_OCTET_STRING) {
				*why = "RFC 8894 3.2.1.5: senderNonce is not an OCTET STRING";
				return SCEP_ERR_MALFORMED;
			}
			len = ASN1_STRING_length(t->value.octet_string);
			if (len < SCEP_MIN_NONCE || len > SCEP_MAX_NONCE) {
				*why = "RFC 8894 3.2.1.5: senderNonce has a bad length";
				return SCEP_ERR_MALFORMED;
			}
			memcpy(m->nonce, ASN1_STRING_get0_data(t->value.octet_string),
			    (size_t)len);
			m->nonce_len = (size_t)len;
			break;
		}
		default:
			/* pkiStatus, failInfo, recipientNonce: CertRep only. */
			break;
		}
	}
	if (!seen[SCEP_ATTR_MESSAGE_TYPE]) {
		*why = "RFC 8894 3.2.1.2: messageType missing";
		return SCEP_ERR_MALFORMED;
	}
	if (!seen[SCEP_ATTR_TRANSACTION_ID]) {
		*why = "RFC 8894 3.2.1.1: transactionID missing";
		return SCEP_ERR_MALFORMED;
	}
	if (!seen[SCEP_ATTR_SENDER_NONCE]) {
		*why = "RFC 8894 3.2.1.5: senderNonce missing";
		return SCEP_ERR_MALFORMED;
	}
	return SCEP_OK;
}

/*
 * The signer certificate with its key decoded: in place when its DER
 * stays the same (RSA, ca_x509_decode_key), else parsed again the
 * ordinary way.  A key that cannot be decoded is left for
 * scep_msg_verify to refuse.  0 only when out of memory.
 */
static int
signer_key(scep_msg *m)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *full;
	int n;

	/* Before ca_x509_decode_key(): the DER exactly as received. */
	if ((n = i2d_X509(m->signer, &der)) <= 0)
		return 0;
	if (ca_x509_decode_key(m->signer) != CA_OK) {
		p = der;
		if ((full = d2i_X509(NULL, &p, n)) != NULL) {
			X509_free(m->signer);
			m->signer = full;
		}
	}
	OPENSSL_free(der);
	ERR_clear_error();
	return 1;
}

scep_err
scep_msg_parse(const unsigned char *der, size_t len, scep_msg **out,
    const char **why)
{
	const char *dummy;
	const unsigned char *p = der;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *certs = NULL;
	ASN1_OCTET_STRING **content;
	scep_msg *m = NULL;
	scep_err ret = SCEP_ERR_MALFORMED;
	int i;

	if (why == NULL)
		why = &dummy;
	*out = NULL;
	if (len == 0) {
		*why = "empty message";
		goto out;
	}
	if (len > SCEP_MAX_MESSAGE) {
		*why = "message larger than SCEP_MAX_MESSAGE";
		ret = SCEP_ERR_TOO_LARGE;
		goto out;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		ret = SCEP_ERR_INTERNAL;
		*why = "out of memory";
		goto out;
	}
	/*
	 * BER (indefinite lengths, as iOS sends) is accepted by d2i.  The
	 * signer's key is decoded below, without OpenSSL 3.0's decoder walk.
	 */
	m->cms = ca_asn1_parse_keyless(ASN1_ITEM_rptr(CMS_ContentInfo), &p,
	    (long)len);
	if (m->cms == NULL) {
		*why = "not a CMS ContentInfo";
		goto out;
	}
	if (p != der + len) {
		*why = "trailing bytes after the CMS ContentInfo";
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(m->cms)) != NID_pkcs7_signed) {
		*why = "RFC 8894 3.2: PKIMessage is not a SignedData";
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_eContentType(m->cms)) != NID_pkcs7_data) {
		*why = "RFC 8894 3.2: SignedData content type is not id-data";
		goto out;
	}
	sis = CMS_get0_SignerInfos(m->cms);
	if (sis == NULL || sk_CMS_SignerInfo_num(sis) != 1) {
		*why = "RFC 8894 3.2: SignedData must have exactly one signer";
		goto out;
	}
	m->si = sk_CMS_SignerInfo_value(sis, 0);
	if ((certs = CMS_get1_certs(m->cms)) == NULL) {
		*why = "RFC 8894 3.2: signer certificate missing";
		goto out;
	}
	for (i = 0; i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);

		if (CMS_SignerInfo_cert_cmp(m->si, c) == 0) {
			if (!X509_up_ref(c)) {
				ret = SCEP_ERR_INTERNAL;
				goto out;
			}
			m->signer = c;
			break;
		}
	}
	if (m->signer == NULL) {
		*why = "RFC 8894 3.2: signer certificate missing";
		goto out;
	}
	if (!signer_key(m)) {
		ret = SCEP_ERR_INTERNAL;
		*why = "out of memory";
		goto out;
	}
	content = CMS_get0_content(m->cms);
	if (content == NULL || *content == NULL ||
	    ASN1_STRING_length(*content) <= 0) {
		*why = "RFC 8894 3.2: SignedData has no pkcsPKIEnvelope";
		goto out;
	}
	if ((ret = read_attributes(m, why)) != SCEP_OK)
		goto out;

	*out = m;
	m = NULL;
	ret = SCEP_OK;
out:
	sk_X509_pop_free(certs, X509_free);
	scep_msg_free(m);
	ERR_clear_error();
	return ret;
}

static const EVP_MD *
allowed_digest(int nid, int allow_legacy)
{
	switch (nid) {
	case NID_sha256:
		return EVP_sha256();
	case NID_sha384:
		return EVP_sha384();
	case NID_sha512:
		return EVP_sha512();
	case NID_sha1:
		return allow_legacy ? EVP_sha1() : NULL;
	}
	return NULL;
}

/* RFC 8894 3.2.1 + 5652 11.3: signingTime, if present, near our clock. */
static scep_err
check_signing_time(scep_msg *m, const struct scep_verify_opts *o,
    const char **why)
{
	X509_ATTRIBUTE *a;
	ASN1_TYPE *t;
	ASN1_TIME *now = NULL;
	long long skew;
	int day, sec, idx;
	scep_err ret = SCEP_ERR_BAD_MESSAGE_CHECK;

	if (o->max_skew <= 0)
		return SCEP_OK;
	idx = CMS_signed_get_attr_by_NID(m->si, NID_pkcs9_signingTime, -1);
	if (idx < 0)
		return SCEP_OK;
	*why = "RFC 5652 11.3: signingTime is malformed";
	if (CMS_signed_get_attr_by_NID(m->si, NID_pkcs9_signingTime, idx) >= 0)
		goto out;
	a = CMS_signed_get_attr(m->si, idx);
	if (X509_ATTRIBUTE_count(a) != 1 ||
	    (t = X509_ATTRIBUTE_get0_type(a, 0)) == NULL ||
	    (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME))
		goto out;
	if ((now = ASN1_TIME_set(NULL, o->now)) == NULL) {
		ret = SCEP_ERR_INTERNAL;
		goto out;
	}
	if (!ASN1_TIME_diff(&day, &sec, now, t->value.utctime))
		goto out;
	skew = (long long)day * 86400 + sec;
	if (skew < 0)
		skew = -skew;
	if (skew > o->max_skew) {
		*why = "RFC 8894 3.3.2.2: signingTime too far from the server clock";
		ret = SCEP_ERR_BAD_TIME;
		goto out;
	}
	ret = SCEP_OK;
out:
	ASN1_TIME_free(now);
	return ret;
}

scep_err
scep_msg_verify(scep_msg *m, const struct scep_verify_opts *o,
    const char **why)
{
	const char *dummy;
	X509_ALGOR *dig = NULL;
	STACK_OF(X509) *signers = NULL;
	scep_err ret;

	if (why == NULL)
		why = &dummy;
	CMS_SignerInfo_get0_algs(m->si, NULL, NULL, &dig, NULL);
	if (dig == NULL) {
		*why = "RFC 5652 5.3: SignerInfo has no digest algorithm";
		return SCEP_ERR_BAD_ALG;
	}
	m->md = allowed_digest(OBJ_obj2nid(dig->algorithm), o->allow_legacy);
	if (m->md == NULL) {
		*why = OBJ_obj2nid(dig->algorithm) == NID_sha1 ?
		    "SHA-1 digest refused (legacy_algorithms = no)" :
		    "RFC 8894 3.5.2: unsupported digest algorithm";
		return SCEP_ERR_BAD_ALG;
	}
	/*
	 * The signer certificate is self-signed (or, for renewal, issued by
	 * us and checked by the caller), so only the signature is verified
	 * here, not a chain.
	 */
	/* The signer with its key (signer_key), not the copy in the CMS. */
	if ((signers = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(signers, m->signer)) {
		*why = "out of memory";
		ret = SCEP_ERR_INTERNAL;
		goto out;
	}
	if (CMS_verify(m->cms, signers, NULL, NULL, NULL,
	    CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY | CMS_NOINTERN) != 1) {
		*why = "RFC 8894 3.2: signature does not verify";
		ret = SCEP_ERR_BAD_MESSAGE_CHECK;
		goto out;
	}
	ret = check_signing_time(m, o, why);
out:
	sk_X509_free(signers);
	ERR_clear_error();
	return ret;
}

/*
 * The envelope's content-encryption algorithm.  OpenSSL 3.0 has no CMS
 * getter for it, so read it from the (public) PKCS7 structure.
 */
static int
envelope_cipher_nid(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	PKCS7 *p7;
	int nid = NID_undef;

	p7 = d2i_PKCS7(NULL, &p, (long)len);
	if (p7 != NULL && PKCS7_type_is_enveloped(p7) &&
	    p7->d.enveloped != NULL && p7->d.enveloped->enc_data != NULL &&
	    p7->d.enveloped->enc_data->algorithm != NULL)
		nid = OBJ_obj2nid(p7->d.enveloped->enc_data->algorithm->algorithm);
	PKCS7_free(p7);
	return nid;
}

static const EVP_CIPHER *
allowed_cipher(int nid, int allow_legacy)
{
	switch (nid) {
	case NID_aes_128_cbc:
		return EVP_aes_128_cbc();
	case NID_aes_192_cbc:
		return EVP_aes_192_cbc();
	case NID_aes_256_cbc:
		return EVP_aes_256_cbc();
	case NID_des_ede3_cbc:
		return allow_legacy ? EVP_des_ede3_cbc() : NULL;
	case NID_des_cbc:
		return allow_legacy ? EVP_des_cbc() : NULL;
	}
	return NULL;
}

/* Try each (cert, key) on env; the content into *out (OPENSSL_malloc). */
static scep_err
open_envelope(CMS_ContentInfo *env, X509 *const *certs,
    EVP_PKEY *const *keys, size_t n, unsigned char **out, size_t *outlen,
    const char **why)
{
	BIO *mem = NULL;
	BUF_MEM *bm;
	scep_err ret = SCEP_ERR_BAD_MESSAGE_CHECK;
	size_t i;

	for (i = 0; i < n; i++) {
		BIO_free(mem);
		if ((mem = BIO_new(BIO_s_secmem())) == NULL) {
			ret = SCEP_ERR_INTERNAL;
			goto out;
		}
		if (keys[i] != NULL && CMS_decrypt(env, keys[i], certs[i], NULL,
		    mem, CMS_BINARY) == 1)
			break;
		ERR_clear_error();
	}
	if (i == n) {
		*why = "RFC 8894 3.2.2: envelope cannot be decrypted with the RA or CA key";
		goto out;
	}
	BIO_get_mem_ptr(mem, &bm);
	if (bm->length == 0 || bm->length > SCEP_MAX_MESSAGE) {
		*why = "RFC 8894 3.2.2: envelope content is empty or too large";
		ret = SCEP_ERR_BAD_REQUEST;
		goto out;
	}
	if ((*out = OPENSSL_malloc(bm->length)) == NULL) {
		ret = SCEP_ERR_INTERNAL;
		goto out;
	}
	memcpy(*out, bm->data, bm->length);
	*outlen = bm->length;
	ret = SCEP_OK;
out:
	BIO_free(mem);
	ERR_clear_error();
	return ret;
}

/* The EnvelopedData in der[0..len), or NULL (why set). */
static CMS_ContentInfo *
parse_envelope(const unsigned char *der, size_t len, const char **why)
{
	const unsigned char *p = der;
	CMS_ContentInfo *env;

	env = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (env == NULL || p != der + len ||
	    OBJ_obj2nid(CMS_get0_type(env)) != NID_pkcs7_enveloped) {
		CMS_ContentInfo_free(env);
		ERR_clear_error();
		*why = "RFC 8894 3.2.2: pkcsPKIEnvelope is not an EnvelopedData";
		return NULL;
	}
	return env;
}

scep_err
scep_msg_decrypt(scep_msg *m, X509 *const *certs, EVP_PKEY *const *keys,
    size_t n, int allow_legacy, const char **why)
{
	const char *dummy;
	const unsigned char *der;
	CMS_ContentInfo *env = NULL;
	scep_err ret;
	size_t len;

	if (why == NULL)
		why = &dummy;
	der = scep_msg_envelope(m, &len);
	if ((env = parse_envelope(der, len, why)) == NULL)
		return SCEP_ERR_BAD_REQUEST;
	m->cipher_nid = envelope_cipher_nid(der, len);
	m->cipher = allowed_cipher(m->cipher_nid, allow_legacy);
	if (m->cipher == NULL) {
		*why = (m->cipher_nid == NID_des_cbc ||
		    m->cipher_nid == NID_des_ede3_cbc) ?
		    "DES/DES3 envelope refused (legacy_algorithms = no)" :
		    "RFC 8894 3.5.2: unsupported content encryption algorithm";
		ret = SCEP_ERR_BAD_ALG;
	} else {
		ret = open_envelope(env, certs, keys, n, &m->content,
		    &m->content_len, why);
	}
	CMS_ContentInfo_free(env);
	return ret;
}

scep_err
scep_envelope_open(const unsigned char *der, size_t len, X509 *const *certs,
    EVP_PKEY *const *keys, size_t n, unsigned char **out, size_t *outlen,
    const char **why)
{
	CMS_ContentInfo *env;
	scep_err ret;

	*out = NULL;
	*outlen = 0;
	if ((env = parse_envelope(der, len, why)) == NULL)
		return SCEP_ERR_BAD_REQUEST;
	ret = open_envelope(env, certs, keys, n, out, outlen, why);
	CMS_ContentInfo_free(env);
	return ret;
}

int
scep_msg_type(const scep_msg *m)
{
	return m->type;
}

const char *
scep_msg_transaction_id(const scep_msg *m)
{
	return m->txid;
}

const unsigned char *
scep_msg_sender_nonce(const scep_msg *m, size_t *len)
{
	*len = m->nonce_len;
	return m->nonce;
}

X509 *
scep_msg_signer_get0(const scep_msg *m)
{
	return m->signer;
}

const EVP_MD *
scep_msg_digest(const scep_msg *m)
{
	return m->md;
}

const EVP_CIPHER *
scep_msg_cipher(const scep_msg *m)
{
	return m->cipher;
}

const char *
scep_msg_cipher_name(const scep_msg *m)
{
	return m->cipher_nid == NID_undef ? "" : OBJ_nid2sn(m->cipher_nid);
}

const unsigned char *
scep_msg_content(const scep_msg *m, size_t *len)
{
	*len = m->content_len;
	return m->content;
}

const unsigned char *
scep_msg_envelope(const scep_msg *m, size_t *len)
{
	ASN1_OCTET_STRING **content = CMS_get0_content(m->cms);

	*len = (size_t)ASN1_STRING_length(*content);
	return ASN1_STRING_get0_data(*content);
}

scep_err
scep_msg_set_content(scep_msg *m, const unsigned char *b, size_t len,
    const char **why)
{
	unsigned char *copy;

	if (len == 0 || len > SCEP_MAX_MESSAGE) {
		*why = "RFC 8894 3.2.2: envelope content is empty or too large";
		return SCEP_ERR_BAD_REQUEST;
	}
	if ((copy = OPENSSL_malloc(len)) == NULL)
		return SCEP_ERR_INTERNAL;
	memcpy(copy, b, len);
	if (m->content != NULL)
		OPENSSL_clear_free(m->content, m->content_len);
	m->content = copy;
	m->content_len = len;
	return SCEP_OK;
}

int
scep_envelope_open_ca(const unsigned char *der, size_t len, X509 *const *certs,
    EVP_PKEY *const *keys, size_t n, unsigned char **out, size_t *outlen,
    const char **why)
{
	switch (scep_envelope_open(der, len, certs, keys, n, out, outlen, why)) {
	case SCEP_OK:
		return CA_OK;
	case SCEP_ERR_BAD_MESSAGE_CHECK:
		return CA_UNTRUSTED;
	case SCEP_ERR_BAD_REQUEST:
		return CA_REJECT;
	default:
		return CA_ERROR;
	}
}
