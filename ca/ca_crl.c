#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

static X509_REVOKED *
revoked_entry(const struct ca_revoked *r)
{
	X509_REVOKED *rv = NULL;
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *when = NULL;
	ASN1_ENUMERATED *reason = NULL;
	BIGNUM *bn = NULL;
	int ok = 0;

	if (!BN_hex2bn(&bn, r->serial) ||
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (when = ASN1_TIME_set(NULL, r->revoked_at)) == NULL ||
	    (rv = X509_REVOKED_new()) == NULL ||
	    !X509_REVOKED_set_serialNumber(rv, serial) ||
	    !X509_REVOKED_set_revocationDate(rv, when))
		goto out;
	/* RFC 5280 5.3.1: omit the reason rather than say "unspecified". */
	if (r->reason != 0 && ((reason = ASN1_ENUMERATED_new()) == NULL ||
	    !ASN1_ENUMERATED_set(reason, r->reason) ||
	    !X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, reason, 0, 0)))
		goto out;
	ok = 1;
out:
	BN_free(bn);
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(when);
	ASN1_ENUMERATED_free(reason);
	if (!ok) {
		X509_REVOKED_free(rv);
		rv = NULL;
	}
	return rv;
}

int
ca_crl(const ca *c, const struct ca_revoked *r, size_t n, int64_t number,
    time_t now, int days, X509_CRL **out, const char **why)
{
	X509 *cacert = ca_cert_get0(c);
	X509_CRL *crl = NULL;
	X509_REVOKED *rv;
	X509_EXTENSION *aki = NULL;
	ASN1_INTEGER *num = NULL;
	ASN1_TIME *t = NULL;
	X509V3_CTX ctx;
	size_t i;
	int ok = 0;
	const struct ca_remote *remote;
	void *arg;

	*out = NULL;
	*why = "cannot build the CRL";
	if (ca_key_get0(c) == NULL) {
		if ((remote = ca_remote_of(c, &arg)) == NULL)
			return CA_ERROR;
		return remote->crl(arg, c, r, n, number, now, days, out, why);
	}
	/* RFC 5280 5.1: a v2 CRL. */
	if ((crl = X509_CRL_new()) == NULL || !X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(cacert)))
		goto out;
	if ((t = ASN1_TIME_set(NULL, now)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, t) ||
	    ASN1_TIME_adj(t, now, days, 0) == NULL ||
	    !X509_CRL_set1_nextUpdate(crl, t))
		goto out;
	for (i = 0; i < n; i++) {
		if ((rv = revoked_entry(&r[i])) == NULL) {
			*why = "a revoked serial is not hexadecimal";
			goto out;
		}
		if (!X509_CRL_add0_revoked(crl, rv)) {
			X509_REVOKED_free(rv);
			goto out;
		}
	}
	if ((num = ASN1_INTEGER_new()) == NULL ||
	    !ASN1_INTEGER_set_int64(num, number) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
		goto out;
	X509V3_set_ctx(&ctx, cacert, NULL, NULL, crl, 0);
	if ((aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    "keyid:always")) == NULL || !X509_CRL_add_ext(crl, aki, -1))
		goto out;
	if (!X509_CRL_sort(crl) ||
	    !X509_CRL_sign(crl, ca_key_get0(c), EVP_sha256()))
		goto out;
	*out = crl;
	crl = NULL;
	ok = 1;
out:
	X509_CRL_free(crl);
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	ERR_clear_error();
	return ok ? CA_OK : CA_ERROR;
}
