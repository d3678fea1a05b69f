#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

int
ca_profile_check(const struct ca_profile *p, const char **why)
{
	X509_EXTENSION *ext;

	if (p->days <= 0 || p->days > 36500) {
		*why = "cert_days out of range (1..36500)";
		return CA_REJECT;
	}
	if (p->crl_url != NULL && *p->crl_url != '\0') {
		if (strchr(p->crl_url, ',') != NULL ||
		    strncmp(p->crl_url, "http", 4) != 0) {
			*why = "crl_url must be one http:// or https:// URL";
			return CA_REJECT;
		}
	}
	if (p->eku == NULL || *p->eku == '\0')
		return CA_OK;
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, p->eku);
	if (ext == NULL) {
		ERR_clear_error();
		*why = "unknown extended key usage (use names such as "
		    "clientAuth or dotted OIDs)";
		return CA_REJECT;
	}
	X509_EXTENSION_free(ext);
	return CA_OK;
}

/* RFC 8894 3.3.1: copy the SANs a device may ask for; refuse others. */
static int
copy_sans(X509 *x, X509_REQ *req, int critical, const char **why)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	int i, ret = CA_REJECT;

	exts = X509_REQ_get_extensions(req);
	if (exts == NULL) {
		ret = CA_OK;
		goto out;
	}
	i = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
	if (i < 0) {
		ret = CA_OK;
		goto out;
	}
	if (X509v3_get_ext_by_NID(exts, NID_subject_alt_name, i) >= 0) {
		*why = "CSR has two subjectAltName extensions";
		goto out;
	}
	gens = X509V3_EXT_d2i(X509v3_get_ext(exts, i));
	if (gens == NULL || sk_GENERAL_NAME_num(gens) == 0) {
		*why = "CSR subjectAltName cannot be decoded";
		goto out;
	}
	if (sk_GENERAL_NAME_num(gens) > CA_MAX_SANS) {
		*why = "CSR has more than 64 subjectAltNames";
		goto out;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		switch (g->type) {
		case GEN_DNS:
		case GEN_EMAIL:
		case GEN_URI:
			break;
		case GEN_IPADD:
			if (ASN1_STRING_length(g->d.iPAddress) != 4 &&
			    ASN1_STRING_length(g->d.iPAddress) != 16) {
				*why = "CSR subjectAltName IP has a bad length";
				goto out;
			}
			break;
		case GEN_OTHERNAME:
			/* Intune puts the user's UPN here. */
			if (OBJ_obj2nid(g->d.otherName->type_id) == NID_ms_upn &&
			    g->d.otherName->value->type == V_ASN1_UTF8STRING)
				break;
			/* FALLTHROUGH */
		default:
			*why = "CSR subjectAltName type not allowed (DNS, IP, "
			    "email, URI and UPN are)";
			goto out;
		}
	}
	ret = CA_ERROR;
	if (!X509_add1_ext_i2d(x, NID_subject_alt_name, gens, critical,
	    X509V3_ADD_DEFAULT))
		goto out;
	ret = CA_OK;
out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return ret;
}

static int
has_san(X509_REQ *req)
{
	STACK_OF(X509_EXTENSION) *exts;
	int has;

	exts = X509_REQ_get_extensions(req);
	has = exts != NULL &&
	    X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1) >= 0;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return has;
}

/* A renewal that keeps its identity: the old certificate's SANs, as they were. */
static int
keep_sans(X509 *x, X509 *from)
{
	int i = X509_get_ext_by_NID(from, NID_subject_alt_name, -1);

	return i < 0 || X509_add_ext(x, X509_get_ext(from, i), -1);
}

int
ca_sign(const ca *c, X509_REQ *req, const struct ca_profile *p,
    X509 *subject_from, time_t now, X509 **out, const char **why)
{
	X509 *x = NULL, *cacert = ca_cert_get0(c);
	EVP_PKEY *pub;
	const X509_NAME *subject = subject_from != NULL ?
	    X509_get_subject_name(subject_from) : X509_REQ_get_subject_name(req);
	int empty_subject = X509_NAME_entry_count(subject) == 0;
	int ret = CA_ERROR, rv;

	*out = NULL;
	*why = "cannot build the certificate";
	if ((pub = X509_REQ_get0_pubkey(req)) == NULL) {
		*why = "CSR public key cannot be decoded";
		ret = CA_BAD_ALG;
		goto out;
	}
	if (subject_from == NULL && empty_subject && !has_san(req)) {
		*why = "CSR has neither a subject nor a subjectAltName";
		ret = CA_REJECT;
		goto out;
	}
	x = ca_cert_new(pub, subject, cacert, p->days, now);
	if (x == NULL)
		goto out;
	if (!ca_add_ext(x, cacert, NID_basic_constraints, "critical,CA:FALSE"))
		goto out;
	/* RFC 5480 3: keyEncipherment makes no sense for an EC key. */
	if (!ca_add_ext(x, cacert, NID_key_usage,
	    EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC ?
	    "critical,digitalSignature,keyAgreement" :
	    "critical,digitalSignature,keyEncipherment"))
		goto out;
	if (p->eku != NULL && *p->eku != '\0' &&
	    !ca_add_ext(x, cacert, NID_ext_key_usage, p->eku))
		goto out;
	if (!ca_add_ext(x, cacert, NID_subject_key_identifier, "hash") ||
	    !ca_add_ext(x, cacert, NID_authority_key_identifier, "keyid:always"))
		goto out;
	if (p->crl_url != NULL && *p->crl_url != '\0') {
		char cdp[1100];

		if (snprintf(cdp, sizeof(cdp), "URI:%s", p->crl_url) >= (int)sizeof(cdp) ||
		    !ca_add_ext(x, cacert, NID_crl_distribution_points, cdp))
			goto out;
	}
	if (subject_from != NULL) {
		if (!keep_sans(x, subject_from))
			goto out;
	} else if ((rv = copy_sans(x, req, empty_subject, why)) != CA_OK) {
		/* RFC 5280 4.2.1.6: with an empty subject the SAN is critical. */
		ret = rv;
		goto out;
	}
	if (!X509_sign(x, ca_key_get0(c), EVP_sha256()))
		goto out;
	*out = x;
	x = NULL;
	ret = CA_OK;
out:
	X509_free(x);
	ERR_clear_error();
	return ret;
}

int
ca_verify_issued(const ca *c, X509 *x, time_t now, const char **why)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	int ret = CA_ERROR, err;

	if ((store = X509_STORE_new()) == NULL ||
	    !X509_STORE_add_cert(store, ca_cert_get0(c)) ||
	    (ctx = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(ctx, store, x, NULL))
		goto out;
	X509_STORE_CTX_set_time(ctx, 0, now);
	if (X509_verify_cert(ctx) == 1) {
		ret = CA_OK;
		goto out;
	}
	err = X509_STORE_CTX_get_error(ctx);
	if (err == X509_V_ERR_CERT_HAS_EXPIRED) {
		*why = "signing certificate has expired";
		ret = CA_REJECT;
	} else if (err == X509_V_ERR_CERT_NOT_YET_VALID) {
		*why = "signing certificate is not yet valid";
		ret = CA_REJECT;
	} else {
		*why = "RFC 8894 3.3.1.2: signing certificate was not issued by this CA";
		ret = CA_UNTRUSTED;
	}
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return ret;
}
