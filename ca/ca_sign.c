#include <arpa/inet.h>

#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

/* "TYPE:glob" entries of san_allow: DNS, IP, email, URI, UPN. */
static int
san_type_of(const char *entry, size_t *prefix)
{
	static const struct { const char *name; int type; } types[] = {
		{ "DNS:", GEN_DNS }, { "IP:", GEN_IPADD }, { "email:", GEN_EMAIL },
		{ "URI:", GEN_URI }, { "UPN:", GEN_OTHERNAME },
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strncasecmp(entry, types[i].name, strlen(types[i].name)) == 0) {
			*prefix = strlen(types[i].name);
			return types[i].type;
		}
	}
	return -1;
}

/* Does one SAN value of this type match an entry of the allow-list? */
static int
san_allowed(const char *allow, int type, const char *value)
{
	char *copy, *entry, *save = NULL, lower[512];
	size_t prefix = 0, i;
	int ok = 0;

	if ((copy = strdup(allow)) == NULL)
		return 0;
	/* DNS names, emails and UPNs compare without regard to case. */
	for (i = 0; value[i] != '\0' && i + 1 < sizeof(lower); i++)
		lower[i] = (char)tolower((unsigned char)value[i]);
	lower[i] = '\0';
	for (entry = strtok_r(copy, ",", &save); entry != NULL && !ok;
	    entry = strtok_r(NULL, ",", &save)) {
		char pat[512];

		while (*entry == ' ')
			entry++;
		if (san_type_of(entry, &prefix) != type)
			continue;
		for (i = 0; entry[prefix + i] != '\0' && i + 1 < sizeof(pat); i++)
			pat[i] = (char)tolower((unsigned char)entry[prefix + i]);
		pat[i] = '\0';
		ok = fnmatch(pat, lower, 0) == 0;
	}
	free(copy);
	return ok;
}

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
	if (p->san_allow != NULL && *p->san_allow != '\0') {
		char *copy = strdup(p->san_allow), *e, *save = NULL;
		size_t prefix = 0;
		int bad = 0;

		for (e = strtok_r(copy, ",", &save); e != NULL && !bad;
		    e = strtok_r(NULL, ",", &save)) {
			while (*e == ' ')
				e++;
			bad = san_type_of(e, &prefix) < 0 || e[prefix] == '\0';
		}
		free(copy);
		if (bad) {
			*why = "san_allow entries are TYPE:pattern with TYPE one of "
			    "DNS, IP, email, URI, UPN";
			return CA_REJECT;
		}
	} else if (p->san_policy != CA_SAN_COPY) {
		*why = "san_policy allow or require needs san_allow";
		return CA_REJECT;
	}
	if (p->key_usage != NULL && *p->key_usage != '\0') {
		if ((ext = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage,
		    p->key_usage)) == NULL) {
			ERR_clear_error();
			*why = "unknown key usage (use names such as "
			    "digitalSignature, keyEncipherment)";
			return CA_REJECT;
		}
		X509_EXTENSION_free(ext);
	}
	if (p->subject != NULL && *p->subject != '\0') {
		X509_NAME *n = ca_name_parse(p->subject, why);

		if (n == NULL)
			return CA_REJECT;
		X509_NAME_free(n);
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

/* One SAN against the profile's allow-list; UPNs preserved as they are. */
static int
san_matches(const struct ca_profile *p, const GENERAL_NAME *g)
{
	char value[512], ip[INET6_ADDRSTRLEN];
	const ASN1_STRING *str = NULL;
	int type = g->type, n;

	switch (g->type) {
	case GEN_DNS:
		str = g->d.dNSName;
		break;
	case GEN_EMAIL:
		str = g->d.rfc822Name;
		break;
	case GEN_URI:
		str = g->d.uniformResourceIdentifier;
		break;
	case GEN_OTHERNAME:
		str = g->d.otherName->value->value.utf8string;
		break;
	case GEN_IPADD:
		n = ASN1_STRING_length(g->d.iPAddress);
		if (inet_ntop(n == 16 ? AF_INET6 : AF_INET,
		    ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof(ip)) == NULL)
			return 0;
		return san_allowed(p->san_allow, type, ip);
	default:
		return 0;
	}
	n = ASN1_STRING_length(str);
	if (n <= 0 || (size_t)n >= sizeof(value))
		return 0;
	memcpy(value, ASN1_STRING_get0_data(str), (size_t)n);
	value[n] = '\0';
	if (strlen(value) != (size_t)n)
		return 0;	/* embedded NUL */
	return san_allowed(p->san_allow, type, value);
}

/* RFC 8894 3.3.1: copy the SANs a device may ask for; refuse others. */
static int
copy_sans(X509 *x, X509_REQ *req, int critical, const struct ca_profile *p,
    const char **why)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	int i, ret = CA_REJECT;

	exts = X509_REQ_get_extensions(req);
	i = exts != NULL ? X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1) : -1;
	if (i < 0) {
		if (p->san_policy == CA_SAN_REQUIRE) {
			*why = "profile requires a subjectAltName";
			goto out;
		}
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
		if (p->san_policy != CA_SAN_COPY && !san_matches(p, g)) {
			*why = "CSR subjectAltName not allowed by the profile's "
			    "san_allow";
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

/* The profile's subject with "{cn}" replaced by the CSR's common name. */
static X509_NAME *
profile_subject(const char *tmpl, const X509_NAME *csr_subject, const char **why)
{
	char cn[256] = "", out[1024];
	const char *at = strstr(tmpl, "{cn}");
	X509_NAME *n;

	if (at != NULL) {
		if (X509_NAME_get_text_by_NID((X509_NAME *)csr_subject,
		    NID_commonName, cn, sizeof(cn)) <= 0 || strpbrk(cn, ",/=") != NULL) {
			*why = "profile subject needs a plain CN from the CSR";
			return NULL;
		}
		snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - tmpl), tmpl, cn,
		    at + 4);
		tmpl = out;
	}
	if ((n = ca_name_parse(tmpl, why)) == NULL)
		*why = "profile subject cannot be built";
	return n;
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

/*
 * The certificate's SubjectPublicKeyInfo is the CSR's, byte for byte.
 * Copied as ASN.1 rather than through X509_set_pubkey(), which in
 * OpenSSL 3.0 encodes and decodes the key again through the provider
 * machinery: about a third of a millisecond per certificate.
 */
static int
copy_spki(X509 *x, X509_REQ *req)
{
	X509_PUBKEY *from = X509_REQ_get_X509_PUBKEY(req);
	X509_PUBKEY *to = X509_get_X509_PUBKEY(x);
	ASN1_OBJECT *alg = NULL;
	const ASN1_OBJECT *palg;
	const unsigned char *bits;
	unsigned char *copy = NULL;
	const void *pval;
	void *val = NULL;
	X509_ALGOR *pa;
	int len, ptype;

	if (from == NULL || to == NULL ||
	    !X509_PUBKEY_get0_param(NULL, &bits, &len, &pa, from) || len <= 0)
		return 0;
	X509_ALGOR_get0(&palg, &ptype, &pval, pa);
	if ((alg = OBJ_dup(palg)) == NULL ||
	    (copy = OPENSSL_memdup(bits, (size_t)len)) == NULL)
		goto fail;
	if (ptype == V_ASN1_OBJECT)
		val = OBJ_dup(pval);
	else if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL)
		val = ASN1_STRING_dup(pval);
	if (pval != NULL && ptype != V_ASN1_NULL && val == NULL)
		goto fail;
	if (!X509_PUBKEY_set0_param(to, alg, ptype, val, copy, len))
		goto fail;
	return 1;
fail:
	ASN1_OBJECT_free(alg);
	OPENSSL_free(copy);
	if (ptype == V_ASN1_OBJECT)
		ASN1_OBJECT_free(val);
	else
		ASN1_STRING_free(val);
	return 0;
}

/* Into *out (parsed from its DER, key undecoded) or into *der. */
static int
sign(const ca *c, X509_REQ *req, const struct ca_profile *p,
    X509 *subject_from, time_t now, X509 **out, unsigned char **der,
    int *derlen, const char **why)
{
	X509 *x = NULL, *cacert = ca_cert_get0(c);
	X509_NAME *override = NULL;
	ASN1_OBJECT *alg;
	unsigned char *enc = NULL;
	int n, is_ec;
	const X509_NAME *subject = subject_from != NULL ?
	    X509_get_subject_name(subject_from) : X509_REQ_get_subject_name(req);
	int empty_subject = X509_NAME_entry_count(subject) == 0;
	int ret = CA_ERROR, rv;
	const struct ca_remote *remote;
	void *arg;

	*why = "cannot build the certificate";
	if (ca_key_get0(c) == NULL) {
		if (out == NULL || (remote = ca_remote_of(c, &arg)) == NULL)
			return CA_ERROR;
		return remote->sign(arg, c, req, p, subject_from, now, out, why);
	}
	/* ca_csr_check() decoded and checked the key; its type is enough. */
	if (!X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL,
	    X509_REQ_get_X509_PUBKEY(req))) {
		*why = "CSR public key cannot be decoded";
		ret = CA_BAD_ALG;
		goto out;
	}
	is_ec = OBJ_obj2nid(alg) == NID_X9_62_id_ecPublicKey;
	if (subject_from == NULL && empty_subject && !has_san(req)) {
		*why = "CSR has neither a subject nor a subjectAltName";
		ret = CA_REJECT;
		goto out;
	}
	if (subject_from == NULL && p->subject != NULL && *p->subject != '\0') {
		if ((override = profile_subject(p->subject, subject, why)) == NULL) {
			ret = CA_REJECT;
			goto out;
		}
		subject = override;
	}
	x = ca_cert_new(NULL, subject, cacert, p->days, now);
	if (x == NULL || !copy_spki(x, req))
		goto out;
	if (!ca_add_ext(x, cacert, NID_basic_constraints, "critical,CA:FALSE"))
		goto out;
	if (p->key_usage != NULL && *p->key_usage != '\0') {
		char ku[256];

		snprintf(ku, sizeof(ku), "critical,%s", p->key_usage);
		if (!ca_add_ext(x, cacert, NID_key_usage, ku))
			goto out;
	} else if (!ca_add_ext(x, cacert, NID_key_usage,
	    /* RFC 5480 3: keyEncipherment makes no sense for an EC key. */
	    is_ec ?
	    "critical,digitalSignature,keyAgreement" :
	    "critical,digitalSignature,keyEncipherment")) {
		goto out;
	}
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
	} else if ((rv = copy_sans(x, req, empty_subject, p, why)) != CA_OK) {
		/* RFC 5280 4.2.1.6: with an empty subject the SAN is critical. */
		ret = rv;
		goto out;
	}
	if (!X509_sign(x, ca_key_get0(c), EVP_sha256()))
		goto out;
	/* As DER, or parsed from it keyless as the signer's reply is (ca.h). */
	if (der != NULL ? (*derlen = i2d_X509(x, der)) <= 0 :
	    (n = i2d_X509(x, &enc)) <= 0 ||
	    (*out = ca_x509_from_der(enc, (size_t)n)) == NULL)
		goto out;
	ret = CA_OK;
out:
	X509_free(x);
	X509_NAME_free(override);
	OPENSSL_free(enc);
	ERR_clear_error();
	return ret;
}

int
ca_sign(const ca *c, X509_REQ *req, const struct ca_profile *p,
    X509 *subject_from, time_t now, X509 **out, const char **why)
{
	*out = NULL;
	return sign(c, req, p, subject_from, now, out, NULL, NULL, why);
}

int
ca_sign_der(const ca *c, X509_REQ *req, const struct ca_profile *p,
    X509 *subject_from, time_t now, unsigned char **der, size_t *len,
    const char **why)
{
	int n = 0, rv;

	*der = NULL;
	*len = 0;
	rv = sign(c, req, p, subject_from, now, NULL, der, &n, why);
	if (rv == CA_OK)
		*len = (size_t)n;
	return rv;
}

int
ca_verify_issued(const ca *c, X509 *x, time_t now, const char **why)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509 *full = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	int ret = CA_ERROR, err, n;
	size_t i;

	/* X509_verify_cert() wants the key decoded (ca_x509_from_der). */
	if (X509_get0_pubkey(x) == NULL) {
		ERR_clear_error();
		if ((n = i2d_X509(x, &der)) <= 0)
			goto out;
		p = der;
		if ((full = d2i_X509(NULL, &p, n)) == NULL)
			goto out;
		x = full;
	}
	/* Certificates of previous CAs still verify until they expire. */
	if ((store = X509_STORE_new()) == NULL ||
	    !X509_STORE_add_cert(store, ca_cert_get0(c)))
		goto out;
	for (i = 0; i < ca_previous_count(c); i++)
		if (!X509_STORE_add_cert(store, ca_cert_get0(ca_previous(c, i))))
			goto out;
	if ((ctx = X509_STORE_CTX_new()) == NULL ||
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
	X509_free(full);
	OPENSSL_free(der);
	ERR_clear_error();
	return ret;
}

int
ca_csr_ku_class(X509_REQ *req)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	ASN1_BIT_STRING *ku = NULL;
	int sig, enc, cls = CA_KU_GENERAL;

	if (exts != NULL)
		ku = X509V3_get_d2i(exts, NID_key_usage, NULL, NULL);
	if (ku != NULL) {
		sig = ASN1_BIT_STRING_get_bit(ku, 0);		/* digitalSignature */
		enc = ASN1_BIT_STRING_get_bit(ku, 2) ||	/* keyEncipherment */
		    ASN1_BIT_STRING_get_bit(ku, 4);		/* keyAgreement */
		if (sig && !enc)
			cls = CA_KU_SIGNATURE;
		else if (enc && !sig)
			cls = CA_KU_ENCRYPTION;
	}
	ASN1_BIT_STRING_free(ku);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ERR_clear_error();
	return cls;
}
