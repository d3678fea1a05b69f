#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

#define CA_MAX_CSR	(64 * 1024)

int
ca_csr_parse(const unsigned char *der, size_t len, X509_REQ **out,
    const char **why)
{
	const unsigned char *p = der;
	X509_REQ *prefix = NULL;
	long inner;
	int tag, cls, rv;

	*out = NULL;
	if (len == 0 || len > CA_MAX_CSR) {
		*why = "RFC 2986: CSR empty or larger than 64 KiB";
		return CA_REJECT;
	}
	if ((*out = ca_req_from_der(der, len)) != NULL)
		return CA_OK;
	/* A CSR, then more: say so (the outer SEQUENCE's length ends it). */
	rv = ASN1_get_object(&p, &inner, &tag, &cls, (long)len);
	if ((rv & 0x81) == 0 && (size_t)(p - der) + (size_t)inner < len &&
	    (prefix = ca_req_from_der(der, (size_t)(p - der) + (size_t)inner))
	    != NULL)
		*why = "RFC 8894 3.3.1: trailing bytes after the CSR";
	else
		*why = "RFC 8894 3.3.1: messageData is not a PKCS#10 CSR";
	X509_REQ_free(prefix);
	ERR_clear_error();
	return CA_REJECT;
}

/*
 * Text with a control character in it: C0 (and DEL), C1 (U+0080 to
 * U+009F) or NUL.  "abc\0.example" and "evil\nCN=admin" would read as
 * something else in logs, the ledger and the software that checks the
 * certificate; no device needs them.
 */
static int
has_control(const ASN1_STRING *s)
{
	unsigned char *u = NULL;
	int n, i, bad = 1;

	/* Every string type as UTF-8: BMPString's NUL is a 0 byte there. */
	if ((n = ASN1_STRING_to_UTF8(&u, s)) < 0)
		return 1;
	for (i = 0, bad = 0; i < n && !bad; i++)
		bad = u[i] < 0x20 || u[i] == 0x7f ||
		    (u[i] == 0xc2 && i + 1 < n && u[i + 1] >= 0x80 &&
		    u[i + 1] <= 0x9f);
	OPENSSL_free(u);
	return bad;
}

static int
name_has_control(const X509_NAME *name)
{
	int i;

	for (i = 0; i < X509_NAME_entry_count(name); i++)
		if (has_control(X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(name, i))))
			return 1;
	return 0;
}

/* The subject and every SAN with text in it (not IP addresses). */
static int
names_have_control(X509_REQ *req)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *gens = NULL;
	const GENERAL_NAME *g;
	int i, bad = name_has_control(X509_REQ_get_subject_name(req));

	if (exts != NULL)
		gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	for (i = 0; !bad && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		switch (g->type) {
		case GEN_DNS:
		case GEN_EMAIL:
		case GEN_URI:
			bad = has_control(g->d.ia5);
			break;
		case GEN_DIRNAME:
			bad = name_has_control(g->d.dirn);
			break;
		case GEN_OTHERNAME:
			if (g->d.otherName->value->type == V_ASN1_UTF8STRING)
				bad = has_control(
				    g->d.otherName->value->value.utf8string);
			break;
		default:
			break;
		}
	}
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return bad;
}

int
ca_csr_check(X509_REQ *req, const char **why)
{
	EVP_PKEY *k;
	char group[64];
	size_t glen = 0;
	int bits, ret = CA_BAD_ALG;

	if ((k = ca_spki_key(X509_REQ_get_X509_PUBKEY(req))) == NULL) {
		*why = "CSR public key cannot be decoded";
		goto out;
	}
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(k);
		if (bits < CA_MIN_RSA_BITS || bits > CA_MAX_RSA_BITS) {
			*why = "CSR RSA key must be 2048 to 8192 bits";
			ret = CA_REJECT;
			goto out;
		}
		break;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME,
		    group, sizeof(group), &glen) ||
		    (strcmp(group, "prime256v1") != 0 &&
		    strcmp(group, "secp384r1") != 0)) {
			*why = "CSR EC key must be on P-256 or P-384";
			goto out;
		}
		break;
	default:
		*why = "CSR key must be RSA or EC";
		goto out;
	}
	if (X509_REQ_verify(req, k) != 1) {
		*why = "RFC 2986: CSR self-signature does not verify";
		ret = CA_REJECT;
		goto out;
	}
	if (names_have_control(req)) {
		*why = "CSR subject or subjectAltName holds a control character "
		    "(C0, C1 or NUL)";
		ret = CA_REJECT;
		goto out;
	}
	ret = CA_OK;
out:
	EVP_PKEY_free(k);
	ERR_clear_error();
	return ret;
}

int
ca_csr_challenge(X509_REQ *req, char *buf, size_t cap, int *present,
    const char **why)
{
	X509_ATTRIBUTE *a;
	ASN1_TYPE *t;
	int idx, len;

	*present = 0;
	buf[0] = '\0';
	idx = X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, -1);
	if (idx < 0)
		return CA_OK;
	if (X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, idx) >= 0) {
		*why = "CSR has two challengePassword attributes";
		return CA_REJECT;
	}
	a = X509_REQ_get_attr(req, idx);
	if (X509_ATTRIBUTE_count(a) != 1) {
		*why = "challengePassword must have one value";
		return CA_REJECT;
	}
	t = X509_ATTRIBUTE_get0_type(a, 0);
	/* RFC 2985 5.4.1: DirectoryString; clients send Printable or UTF8. */
	if (t->type != V_ASN1_PRINTABLESTRING && t->type != V_ASN1_UTF8STRING) {
		*why = "challengePassword must be a PrintableString or UTF8String";
		return CA_REJECT;
	}
	len = ASN1_STRING_length(t->value.asn1_string);
	if (len < 0 || (size_t)len >= cap) {
		*why = "challengePassword too long";
		return CA_REJECT;
	}
	memcpy(buf, ASN1_STRING_get0_data(t->value.asn1_string), (size_t)len);
	buf[len] = '\0';
	if (strlen(buf) != (size_t)len) {
		*why = "challengePassword contains a NUL byte";
		return CA_REJECT;
	}
	*present = 1;
	return CA_OK;
}

/* Append "fmt" to a growing malloc'd string. */
static int
append(char **s, size_t *len, const char *prefix, const char *value)
{
	size_t add = strlen(prefix) + strlen(value) + 2;
	char *n;

	if ((n = realloc(*s, *len + add + 1)) == NULL)
		return 0;
	*s = n;
	*len += (size_t)snprintf(n + *len, add + 1, "%s%s%s",
	    *len ? ", " : "", prefix, value);
	return 1;
}

int
ca_describe_sans(const GENERAL_NAMES *gens, char **out)
{
	char *s = NULL, ip[INET6_ADDRSTRLEN], *txt;
	size_t len = 0;
	int i, ok = 0;

	if ((s = strdup("")) == NULL)
		return 0;
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *str = NULL;
		const char *prefix = NULL;
		int n;

		switch (g->type) {
		case GEN_DNS:
			prefix = "DNS:", str = g->d.dNSName;
			break;
		case GEN_EMAIL:
			prefix = "email:", str = g->d.rfc822Name;
			break;
		case GEN_URI:
			prefix = "URI:", str = g->d.uniformResourceIdentifier;
			break;
		case GEN_IPADD:
			n = ASN1_STRING_length(g->d.iPAddress);
			if (inet_ntop(n == 16 ? AF_INET6 : AF_INET,
			    ASN1_STRING_get0_data(g->d.iPAddress), ip,
			    sizeof(ip)) == NULL || (n != 4 && n != 16))
				snprintf(ip, sizeof(ip), "?");
			if (!append(&s, &len, "IP:", ip))
				goto out;
			continue;
		case GEN_OTHERNAME:
			if (OBJ_obj2nid(g->d.otherName->type_id) == NID_ms_upn &&
			    g->d.otherName->value->type == V_ASN1_UTF8STRING) {
				prefix = "UPN:";
				str = g->d.otherName->value->value.utf8string;
			}
			break;
		}
		if (prefix == NULL) {
			if (!append(&s, &len, "other:", "?"))
				goto out;
			continue;
		}
		n = ASN1_STRING_length(str);
		if ((txt = malloc((size_t)n + 1)) == NULL)
			goto out;
		memcpy(txt, ASN1_STRING_get0_data(str), (size_t)n);
		txt[n] = '\0';
		ok = append(&s, &len, prefix, txt);
		free(txt);
		if (!ok)
			goto out;
		ok = 0;
	}
	*out = s;
	s = NULL;
	ok = 1;
out:
	free(s);
	return ok;
}

int
ca_csr_describe(X509_REQ *req, char **subject, char **sans)
{
	STACK_OF(X509_EXTENSION) *exts;
	GENERAL_NAMES *gens = NULL;
	int ok = 0;

	*subject = *sans = NULL;
	if ((*subject = ca_name_oneline(X509_REQ_get_subject_name(req))) == NULL)
		goto out;
	exts = X509_REQ_get_extensions(req);
	if (exts != NULL)
		gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	if (!ca_describe_sans(gens, sans))
		goto out;
	ok = 1;
out:
	GENERAL_NAMES_free(gens);
	ERR_clear_error();
	if (!ok) {
		free(*subject);
		*subject = NULL;
	}
	return ok ? CA_OK : CA_ERROR;
}
