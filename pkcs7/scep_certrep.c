#include <stdio.h>
#include <string.h>

#define SCEP_MAX_NAMES (64 * 1024)

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>

#include "pkcs7/scep_certrep.h"
#include "pkcs7/scep_oid.h"

/* DER of cms into a buffer the caller frees with OPENSSL_free. */
static scep_err
cms_der(CMS_ContentInfo *cms, unsigned char **der, size_t *len)
{
	unsigned char *buf = NULL;
	int n;

	n = i2d_CMS_ContentInfo(cms, &buf);
	if (n <= 0)
		return SCEP_ERR_INTERNAL;
	*der = buf;
	*len = (size_t)n;
	return SCEP_OK;
}

scep_err
scep_certs_only_der(STACK_OF(X509) *certs, STACK_OF(X509_CRL) *crls,
    unsigned char **der, size_t *len)
{
	CMS_ContentInfo *cms = NULL;
	scep_err ret = SCEP_ERR_INTERNAL;
	int i;

	/*
	 * No signer: a certificates-only SignedData (RFC 8894 3.4).  Left
	 * partial because there is nothing to sign; no eContent at all.
	 */
	cms = CMS_sign(NULL, NULL, certs, NULL, CMS_BINARY | CMS_PARTIAL);
	if (cms == NULL || !CMS_set_detached(cms, 1))
		goto out;
	for (i = 0; crls != NULL && i < sk_X509_CRL_num(crls); i++)
		if (!CMS_add1_crl(cms, sk_X509_CRL_value(crls, i)))
			goto out;
	ret = cms_der(cms, der, len);
out:
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return ret;
}

/* One SCEP signed attribute: a PrintableString or an OCTET STRING. */
static int
add_attr(CMS_SignerInfo *si, enum scep_attr attr, int type, const void *b,
    size_t len)
{
	ASN1_OBJECT *obj;
	int ok;

	if ((obj = scep_oid_new(attr)) == NULL)
		return 0;
	ok = CMS_signed_add1_attr_by_OBJ(si, obj, type, b, (int)len);
	ASN1_OBJECT_free(obj);
	return ok;
}

static int
add_string_attr(CMS_SignerInfo *si, enum scep_attr attr, const char *s)
{
	return add_attr(si, attr, V_ASN1_PRINTABLESTRING, s, strlen(s));
}

/* RFC 8894 3.3.2: the issued certificate, enveloped to the requester. */
static scep_err
success_envelope(const struct scep_certrep *r, unsigned char **der,
    size_t *len)
{
	STACK_OF(X509) *one = NULL, *recips = NULL;
	STACK_OF(X509_CRL) *crls = NULL;
	unsigned char *inner = NULL;
	size_t inner_len = 0;
	CMS_ContentInfo *env = NULL;
	BIO *in = NULL;
	scep_err ret = SCEP_ERR_INTERNAL;

	if (r->issued != NULL && ((one = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(one, r->issued)))
		goto out;
	/* GetCRL (RFC 8894 3.3.4): the CRL travels the same way. */
	if (r->crl != NULL && ((crls = sk_X509_CRL_new_null()) == NULL ||
	    !sk_X509_CRL_push(crls, r->crl)))
		goto out;
	if ((ret = scep_certs_only_der(one, crls, &inner, &inner_len)) != SCEP_OK)
		goto out;
	ret = SCEP_ERR_INTERNAL;
	if ((recips = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(recips, r->recipient))
		goto out;
	if ((in = BIO_new_mem_buf(inner, (int)inner_len)) == NULL)
		goto out;
	env = CMS_encrypt(recips, in, r->cipher, CMS_BINARY);
	if (env == NULL)
		goto out;
	ret = cms_der(env, der, len);
out:
	CMS_ContentInfo_free(env);
	BIO_free(in);
	OPENSSL_free(inner);
	sk_X509_free(one);	/* references only: the caller owns them */
	sk_X509_CRL_free(crls);
	sk_X509_free(recips);
	return ret;
}

scep_err
scep_certrep_der(const struct scep_certrep *r, unsigned char **der,
    size_t *len, const char **why)
{
	const char *dummy;
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	unsigned char *env = NULL;
	size_t env_len = 0;
	BIO *content = NULL;
	char num[16];
	int flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
	scep_err ret = SCEP_ERR_INTERNAL;

	if (why == NULL)
		why = &dummy;
	*why = "cannot build CertRep";
	if (r->status == SCEP_STATUS_SUCCESS) {
		if ((r->issued == NULL) == (r->crl == NULL) ||
		    r->recipient == NULL || r->cipher == NULL)
			goto out;
		if ((ret = success_envelope(r, &env, &env_len)) != SCEP_OK) {
			*why = "cannot envelope the certificate to the requester";
			goto out;
		}
		ret = SCEP_ERR_INTERNAL;
		content = BIO_new_mem_buf(env, (int)env_len);
	} else {
		/*
		 * FAILURE and PENDING carry no pkcsPKIEnvelope, but keep an
		 * empty eContent: certmonger's PKCS7_verify refuses a SignedData
		 * without one ("no content").
		 */
		content = BIO_new_mem_buf("", 0);
	}
	if (content == NULL)
		goto out;
	if ((cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL)
		goto out;
	/* Default SignerInfo: rsaEncryption, as strongSwan requires. */
	si = CMS_add1_signer(cms, r->signer_cert, r->signer_key, r->md, flags);
	if (si == NULL)
		goto out;
	snprintf(num, sizeof(num), "%d", SCEP_MSG_CERTREP);
	if (!add_string_attr(si, SCEP_ATTR_MESSAGE_TYPE, num))
		goto out;
	snprintf(num, sizeof(num), "%d", r->status);
	if (!add_string_attr(si, SCEP_ATTR_PKI_STATUS, num))
		goto out;
	if (r->status == SCEP_STATUS_FAILURE) {
		snprintf(num, sizeof(num), "%d", r->fail_info);
		if (!add_string_attr(si, SCEP_ATTR_FAIL_INFO, num))
			goto out;
	}
	if (!add_string_attr(si, SCEP_ATTR_TRANSACTION_ID, r->txid))
		goto out;
	if (!add_attr(si, SCEP_ATTR_RECIPIENT_NONCE, V_ASN1_OCTET_STRING,
	    r->recipient_nonce, r->recipient_nonce_len) ||
	    !add_attr(si, SCEP_ATTR_SENDER_NONCE, V_ASN1_OCTET_STRING,
	    r->sender_nonce, r->sender_nonce_len))
		goto out;
	if (CMS_final(cms, content, NULL, CMS_BINARY) != 1)
		goto out;
	ret = cms_der(cms, der, len);
out:
	CMS_ContentInfo_free(cms);
	BIO_free(content);
	OPENSSL_free(env);
	ERR_clear_error();
	return ret;
}

scep_err
scep_issuer_and_serial_parse(const unsigned char *der, size_t len,
    X509_NAME **issuer, ASN1_INTEGER **serial, const char **why)
{
	const unsigned char *p = der;
	PKCS7_ISSUER_AND_SERIAL *ias;
	scep_err ret = SCEP_ERR_BAD_REQUEST;

	*issuer = NULL;
	*serial = NULL;
	ias = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &p, (long)len);
	if (ias == NULL || p != der + len) {
		*why = "RFC 8894 3.3.3: messageData is not an IssuerAndSerialNumber";
		goto out;
	}
	if ((*issuer = X509_NAME_dup(ias->issuer)) == NULL ||
	    (*serial = ASN1_INTEGER_dup(ias->serial)) == NULL) {
		X509_NAME_free(*issuer);
		*issuer = NULL;
		ret = SCEP_ERR_INTERNAL;
		goto out;
	}
	ret = SCEP_OK;
out:
	PKCS7_ISSUER_AND_SERIAL_free(ias);
	ERR_clear_error();
	return ret;
}

scep_err
scep_issuer_and_subject_parse(const unsigned char *der, size_t len,
    X509_NAME **issuer, X509_NAME **subject, const char **why)
{
	const unsigned char *p = der, *end;
	long body;
	int tag, xclass, rv;

	*issuer = NULL;
	*subject = NULL;
	*why = "RFC 8894 3.3.3: messageData is not an IssuerAndSubject";
	if (len == 0 || len > SCEP_MAX_NAMES)
		return SCEP_ERR_BAD_REQUEST;
	rv = ASN1_get_object(&p, &body, &tag, &xclass, (long)len);
	/* A definite-length SEQUENCE filling the whole messageData. */
	if ((rv & 0x80) || rv != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE ||
	    xclass != V_ASN1_UNIVERSAL || p + body != der + len)
		goto bad;
	end = p + body;
	if ((*issuer = d2i_X509_NAME(NULL, &p, end - p)) == NULL ||
	    (*subject = d2i_X509_NAME(NULL, &p, end - p)) == NULL || p != end)
		goto bad;
	return SCEP_OK;
bad:
	X509_NAME_free(*issuer);
	X509_NAME_free(*subject);
	*issuer = *subject = NULL;
	ERR_clear_error();
	return SCEP_ERR_BAD_REQUEST;
}

scep_err
scep_next_ca_der(X509 *signer, EVP_PKEY *key, STACK_OF(X509) *certs,
    unsigned char **der, size_t *len)
{
	unsigned char *inner = NULL;
	size_t inner_len = 0;
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL;
	scep_err ret;

	if ((ret = scep_certs_only_der(certs, NULL, &inner, &inner_len)) != SCEP_OK)
		return ret;
	ret = SCEP_ERR_INTERNAL;
	if ((in = BIO_new_mem_buf(inner, (int)inner_len)) == NULL)
		goto out;
	cms = CMS_sign(signer, key, NULL, in, CMS_BINARY | CMS_NOSMIMECAP);
	if (cms == NULL)
		goto out;
	ret = cms_der(cms, der, len);
out:
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	OPENSSL_free(inner);
	ERR_clear_error();
	return ret;
}
