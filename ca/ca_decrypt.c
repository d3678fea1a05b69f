/*
 * Opening a SCEP envelope addressed to the CA itself rather than to the RA
 * (clients that ignore the RA certificate, or a CA without an RA).  The
 * current CA and every previous one are tried: a client may still hold an
 * old CA certificate.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

#define CA_MAX_PLAINTEXT	(1024 * 1024)

static int
try_key(CMS_ContentInfo *env, const ca *gen, BIO **mem)
{
	BIO_free(*mem);
	if ((*mem = BIO_new(BIO_s_secmem())) == NULL)
		return 0;
	if (CMS_decrypt(env, ca_key_get0(gen), ca_cert_get0(gen), NULL, *mem,
	    CMS_BINARY) == 1)
		return 1;
	ERR_clear_error();
	return 0;
}

int
ca_decrypt(const ca *c, const unsigned char *der, size_t len,
    unsigned char **out, size_t *outlen, const char **why)
{
	const struct ca_remote *remote;
	CMS_ContentInfo *env = NULL;
	const unsigned char *p = der;
	BIO *mem = NULL;
	BUF_MEM *bm;
	size_t i, n = ca_previous_count(c);
	int ret = CA_ERROR, opened = 0;
	void *arg;

	*out = NULL;
	*outlen = 0;
	if (ca_key_get0(c) == NULL) {
		if ((remote = ca_remote_of(c, &arg)) == NULL) {
			*why = "no CA key to open the envelope with";
			return CA_ERROR;
		}
		return remote->decrypt(arg, c, der, len, out, outlen, why);
	}
	if (len == 0 || len > CA_MAX_PLAINTEXT ||
	    (env = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL ||
	    p != der + len ||
	    OBJ_obj2nid(CMS_get0_type(env)) != NID_pkcs7_enveloped) {
		*why = "not a CMS EnvelopedData";
		ret = CA_REJECT;
		goto out;
	}
	for (i = 0; i <= n && !opened; i++)
		opened = try_key(env, i == 0 ? c : ca_previous(c, i - 1), &mem);
	if (!opened) {
		*why = "RFC 8894 3.2.2: envelope cannot be decrypted with the RA "
		    "or CA key";
		ret = CA_UNTRUSTED;
		goto out;
	}
	BIO_get_mem_ptr(mem, &bm);
	if (bm->length == 0 || bm->length > CA_MAX_PLAINTEXT) {
		*why = "RFC 8894 3.2.2: envelope content is empty or too large";
		ret = CA_REJECT;
		goto out;
	}
	if ((*out = malloc(bm->length)) == NULL)
		goto out;
	memcpy(*out, bm->data, bm->length);
	*outlen = bm->length;
	ret = CA_OK;
out:
	BIO_free(mem);
	CMS_ContentInfo_free(env);
	ERR_clear_error();
	return ret;
}
