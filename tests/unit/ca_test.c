/* ca/: CA and RA creation, file modes, CSR policy and issuance. */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_int.h"
#include "tests/lib/scep_client.h"
#include "tests/lib/testutil.h"

static char *dir;
static ca *the_ca;
static const struct ca_params params = {
	.key_bits = 2048, .key_type = "rsa", .ca_subject = "CN=Test CA,O=scepd tests",
	.ca_days = 400, .ra_subject = "CN=Test RA,O=scepd tests",
};

/*
 * One CA made for the whole suite and copied for each test: RSA key
 * generation dominates a run under valgrind.
 */
static char *template_dir;

static void
make_template(void)
{
	const char *why = NULL;
	int created = 0;
	ca *c = NULL;

	ck_assert_ptr_nonnull(template_dir = tu_tmpdir());
	ck_assert_int_eq(ca_open(template_dir, &params, &created, &c, &why),
	    CA_OK);
	ck_assert_int_eq(created, 1);
	ca_free(c);
}

static void
drop_template(void)
{
	tu_rm_rf(template_dir);
	free(template_dir);
	template_dir = NULL;
}

static void
setup(void)
{
	const char *why = NULL;
	char cmd[1200];
	int created = 1;

	dir = tu_tmpdir();
	snprintf(cmd, sizeof(cmd), "cp -p %s/ca.pem %s/ca.key %s/ra.pem "
	    "%s/ra.key %s/", template_dir, template_dir, template_dir,
	    template_dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(ca_open(dir, &params, &created, &the_ca, &why), CA_OK);
	ck_assert_int_eq(created, 0);
}

static void
teardown(void)
{
	ca_free(the_ca);
	the_ca = NULL;
	tu_rm_rf(dir);
	free(dir);
}

static mode_t
mode_of(const char *file)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_mode & 0777;
}

START_TEST(test_created_files)
{
	X509 *cacert = ca_cert_get0(the_ca), *ra = ca_ra_cert_get0(the_ca);
	uint32_t ku;

	ck_assert_int_eq(mode_of("ca.key"), 0600);
	ck_assert_int_eq(mode_of("ra.key"), 0600);
	ck_assert_int_eq(mode_of("ca.pem"), 0644);
	ck_assert_ptr_nonnull(ra);
	ck_assert_int_eq(X509_check_ca(cacert), 1);
	ck_assert_int_eq(X509_check_issued(cacert, ra), X509_V_OK);
	ck_assert_int_eq(X509_verify(ra, X509_get0_pubkey(cacert)), 1);
	/* Like NDES's CEP Encryption certificate. */
	ku = X509_get_key_usage(ra);
	ck_assert(ku & KU_KEY_ENCIPHERMENT);
	ck_assert(ku & KU_DIGITAL_SIGNATURE);
	ck_assert_int_eq(X509_check_ca(ra), 0);
}
END_TEST

START_TEST(test_reopen_same_ca)
{
	ca *again = NULL;
	const char *why = NULL;
	int created = 1;

	ck_assert_int_eq(ca_open(dir, &params, &created, &again, &why), CA_OK);
	ck_assert_int_eq(created, 0);
	ck_assert_int_eq(X509_cmp(ca_cert_get0(again), ca_cert_get0(the_ca)), 0);
	ck_assert_int_eq(X509_cmp(ca_ra_cert_get0(again),
	    ca_ra_cert_get0(the_ca)), 0);
	ca_free(again);
}
END_TEST

START_TEST(test_key_mode_refused)
{
	char path[512];
	ca *again = NULL;
	const char *why = NULL;

	snprintf(path, sizeof(path), "%s/ca.key", dir);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_ne(ca_open(dir, &params, NULL, &again, &why), CA_OK);
	ck_assert_ptr_nonnull(strstr(why, "chmod 600"));
	ck_assert_ptr_null(again);
}
END_TEST

START_TEST(test_missing_key_refused)
{
	char path[512];
	ca *again = NULL;
	const char *why = NULL;

	snprintf(path, sizeof(path), "%s/ra.key", dir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_ne(ca_open(dir, &params, NULL, &again, &why), CA_OK);
	ck_assert_ptr_nonnull(strstr(why, "key is missing"));
}
END_TEST

START_TEST(test_thumbprints)
{
	char h[2 * EVP_MAX_MD_SIZE + 1];
	size_t i;

	ck_assert_int_eq(ca_thumbprint(ca_cert_get0(the_ca), EVP_sha256(), h,
	    sizeof(h)), CA_OK);
	ck_assert_uint_eq(strlen(h), 64);
	for (i = 0; h[i]; i++)
		ck_assert(strchr("0123456789ABCDEF", h[i]) != NULL);
	ck_assert_int_eq(ca_thumbprint(ca_cert_get0(the_ca), EVP_sha1(), h,
	    sizeof(h)), CA_OK);
	ck_assert_uint_eq(strlen(h), 40);
	ck_assert_int_ne(ca_thumbprint(ca_cert_get0(the_ca), EVP_sha256(), h,
	    10), CA_OK);
}
END_TEST

/* A CSR from the test client's PKCSReq builder. */
static X509_REQ *
csr_for(const struct tc_opts *o, EVP_PKEY **key)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	EVP_PKEY *k = o->ec_curve ? EVP_EC_gen(o->ec_curve) :
	    tc_rsa_key(o->key_bits ? o->key_bits : 2048);

	if (o->cn != NULL)
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
		    (const unsigned char *)o->cn, -1, -1, 0);
	X509_REQ_set_subject_name(req, n);
	X509_NAME_free(n);
	X509_REQ_set_pubkey(req, k);
	if (o->sans != NULL || o->key_usage != NULL) {
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();

		if (o->sans != NULL)
			sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL,
			    NID_subject_alt_name, o->sans));
		if (o->key_usage != NULL)
			sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL,
			    NID_key_usage, o->key_usage));
		X509_REQ_add_extensions(req, exts);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	if (o->challenge != NULL)
		X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
		    o->challenge_utf8 ? V_ASN1_UTF8STRING : V_ASN1_PRINTABLESTRING,
		    (const unsigned char *)o->challenge, (int)strlen(o->challenge));
	X509_REQ_sign(req, k, EVP_sha256());
	if (key != NULL)
		*key = k;
	else
		EVP_PKEY_free(k);
	return req;
}

static const struct ca_profile profile = { .days = 365, .eku = "clientAuth,serverAuth", .crl_url = NULL };

START_TEST(test_issue_full)
{
	struct tc_opts o = { .cn = "device-1",
	    .sans = "DNS:device1.lab.example,IP:192.0.2.7,IP:2001:db8::7,"
	    "email:dev@lab.example,URI:urn:device:1,"
	    "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:user@lab.example" };
	X509_REQ *req = csr_for(&o, NULL);
	X509 *x = NULL, *cacert = ca_cert_get0(the_ca);
	const char *why = NULL;
	char *sans = NULL, *subject = NULL;
	const ASN1_INTEGER *serial;
	BIGNUM *bn;
	time_t now = time(NULL);
	int day, sec;

	ck_assert_int_eq(ca_csr_check(req, &why), CA_OK);
	ck_assert_int_eq(ca_sign(the_ca, req, &profile, NULL, now, &x, &why), CA_OK);
	ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(cacert)), 1);
	ck_assert_int_eq(X509_check_issued(cacert, x), X509_V_OK);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(x),
	    X509_REQ_get_subject_name(req)), 0);
	ck_assert_int_eq(X509_get_signature_nid(x), NID_sha256WithRSAEncryption);
	/* Serial: positive, at least 64 bits of it random. */
	serial = X509_get0_serialNumber(x);
	bn = ASN1_INTEGER_to_BN(serial, NULL);
	ck_assert(!BN_is_negative(bn));
	ck_assert_int_ge(BN_num_bits(bn), 64);
	BN_free(bn);
	/* Extensions. */
	ck_assert_uint_eq(X509_get_key_usage(x),
	    KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	ck_assert(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
	ck_assert(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
	ck_assert_int_eq(X509_check_ca(x), 0);
	ck_assert_ptr_nonnull(X509_get0_subject_key_id(x));
	ck_assert_ptr_nonnull(X509_get0_authority_key_id(x));
	ck_assert_int_eq(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x),
	    X509_get0_subject_key_id(cacert)), 0);
	/* Validity: five minutes back, cert_days forward. */
	ck_assert(ASN1_TIME_diff(&day, &sec, X509_get0_notBefore(x),
	    X509_get0_notAfter(x)));
	ck_assert_int_eq(day * 86400 + sec, 365 * 86400 + 300);
	ck_assert_int_eq(X509_cmp_time(X509_get0_notBefore(x), &now), -1);
	/* The ledger's text form shows every SAN, the UPN among them. */
	ck_assert_int_eq(ca_csr_describe(req, &subject, &sans), CA_OK);
	ck_assert_str_eq(subject, "CN=device-1");
	ck_assert_str_eq(sans, "DNS:device1.lab.example, IP:192.0.2.7, "
	    "IP:2001:db8::7, email:dev@lab.example, URI:urn:device:1, "
	    "UPN:user@lab.example");
	{
		GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name,
		    NULL, NULL);
		char *issued = NULL;

		ck_assert_ptr_nonnull(gens);
		ck_assert(ca_describe_sans(gens, &issued));
		ck_assert_str_eq(issued, sans);
		free(issued);
		GENERAL_NAMES_free(gens);
	}
	free(subject);
	free(sans);
	X509_free(x);
	X509_REQ_free(req);
}
END_TEST

START_TEST(test_validity_capped_by_ca)
{
	struct tc_opts o = { .cn = "long" };
	struct ca_profile p = { .days = 3650, .eku = "clientAuth", .crl_url = NULL };
	X509_REQ *req = csr_for(&o, NULL);
	X509 *x = NULL;
	const char *why = NULL;

	ck_assert_int_eq(ca_sign(the_ca, req, &p, NULL, time(NULL), &x, &why), CA_OK);
	ck_assert_int_eq(ASN1_TIME_compare(X509_get0_notAfter(x),
	    X509_get0_notAfter(ca_cert_get0(the_ca))), 0);
	X509_free(x);
	X509_REQ_free(req);
}
END_TEST

START_TEST(test_serials_differ)
{
	struct tc_opts o = { .cn = "same" };
	X509_REQ *req = csr_for(&o, NULL);
	X509 *a = NULL, *b = NULL;
	const char *why = NULL;

	ck_assert_int_eq(ca_sign(the_ca, req, &profile, NULL, time(NULL), &a, &why), CA_OK);
	ck_assert_int_eq(ca_sign(the_ca, req, &profile, NULL, time(NULL), &b, &why), CA_OK);
	ck_assert_int_ne(ASN1_INTEGER_cmp(X509_get0_serialNumber(a),
	    X509_get0_serialNumber(b)), 0);
	X509_free(a);
	X509_free(b);
	X509_REQ_free(req);
}
END_TEST

START_TEST(test_ec_key)
{
	struct tc_opts o = { .cn = "ec", .ec_curve = "P-256" };
	X509_REQ *req = csr_for(&o, NULL);
	X509 *x = NULL;
	const char *why = NULL;

	ck_assert_int_eq(ca_csr_check(req, &why), CA_OK);
	ck_assert_int_eq(ca_sign(the_ca, req, &profile, NULL, time(NULL), &x, &why), CA_OK);
	/* RFC 5480: no keyEncipherment for EC. */
	ck_assert_uint_eq(X509_get_key_usage(x),
	    KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT);
	X509_free(x);
	X509_REQ_free(req);
}
END_TEST

/* CSRs that policy refuses, and the answer each must get. */
struct bad_csr {
	struct tc_opts	 o;
	int		 at_sign;	/* refused by ca_sign, not ca_csr_check */
	int		 result;
	const char	*why;
};

static const struct bad_csr bad_csrs[] = {
	{ { .cn = "small", .key_bits = 1024 }, 0, CA_REJECT, "2048 to 8192" },
	{ { .cn = "p521", .ec_curve = "P-521" }, 0, CA_BAD_ALG, "P-256 or P-384" },
	{ { .cn = "dirname", .sans = "dirName:dir_sect_unused" }, 1, CA_REJECT, "type not allowed" },
	{ { .cn = "rid", .sans = "RID:1.2.3.4" }, 1, CA_REJECT, "type not allowed" },
	{ { .cn = NULL }, 1, CA_REJECT, "neither a subject" },
};

START_TEST(test_bad_csr)
{
	const struct bad_csr *b = &bad_csrs[_i];
	X509_REQ *req;
	X509 *x = NULL;
	const char *why = NULL;
	int rv;

	if (b->o.sans != NULL && strncmp(b->o.sans, "dirName", 7) == 0) {
		/* dirName needs a config section: build the SAN by hand. */
		struct tc_opts o = { .cn = "dirname" };
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		GENERAL_NAMES *gens = GENERAL_NAMES_new();
		GENERAL_NAME *g = GENERAL_NAME_new();
		EVP_PKEY *k = NULL;

		req = csr_for(&o, &k);
		g->type = GEN_DIRNAME;
		g->d.directoryName = X509_NAME_new();
		X509_NAME_add_entry_by_txt(g->d.directoryName, "CN", MBSTRING_ASC,
		    (const unsigned char *)"x", -1, -1, 0);
		sk_GENERAL_NAME_push(gens, g);
		sk_X509_EXTENSION_push(exts, X509V3_EXT_i2d(NID_subject_alt_name,
		    0, gens));
		X509_REQ_add_extensions(req, exts);
		X509_REQ_sign(req, k, EVP_sha256());
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		GENERAL_NAMES_free(gens);
		EVP_PKEY_free(k);
	} else {
		req = csr_for(&b->o, NULL);
	}
	rv = ca_csr_check(req, &why);
	if (b->at_sign) {
		ck_assert_int_eq(rv, CA_OK);
		rv = ca_sign(the_ca, req, &profile, NULL, time(NULL), &x, &why);
	}
	ck_assert_int_eq(rv, b->result);
	ck_assert_msg(strstr(why, b->why) != NULL, "why: %s", why);
	ck_assert_ptr_null(x);
	X509_REQ_free(req);
}
END_TEST

START_TEST(test_empty_subject_san_critical)
{
	struct tc_opts o = { .cn = NULL, .sans = "DNS:only-san.example" };
	X509_REQ *req = csr_for(&o, NULL);
	X509 *x = NULL;
	const char *why = NULL;
	int crit = 0;
	void *gens;

	ck_assert_int_eq(ca_sign(the_ca, req, &profile, NULL, time(NULL), &x, &why), CA_OK);
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	ck_assert_ptr_nonnull(gens);
	ck_assert_int_eq(crit, 1);
	GENERAL_NAMES_free(gens);
	X509_free(x);
	X509_REQ_free(req);
}
END_TEST

START_TEST(test_challenge_attr)
{
	struct tc_opts p = { .cn = "c", .challenge = "Printable pw" };
	struct tc_opts u = { .cn = "c", .challenge = "pässwörd", .challenge_utf8 = 1 };
	struct tc_opts none = { .cn = "c" };
	char buf[CA_MAX_CHALLENGE + 1];
	const char *why = NULL;
	X509_REQ *req;
	int present;

	req = csr_for(&p, NULL);
	ck_assert_int_eq(ca_csr_challenge(req, buf, sizeof(buf), &present, &why), CA_OK);
	ck_assert_int_eq(present, 1);
	ck_assert_str_eq(buf, "Printable pw");
	X509_REQ_free(req);
	req = csr_for(&u, NULL);
	ck_assert_int_eq(ca_csr_challenge(req, buf, sizeof(buf), &present, &why), CA_OK);
	ck_assert_str_eq(buf, "pässwörd");
	X509_REQ_free(req);
	req = csr_for(&none, NULL);
	ck_assert_int_eq(ca_csr_challenge(req, buf, sizeof(buf), &present, &why), CA_OK);
	ck_assert_int_eq(present, 0);
	/* An IA5String is not a DirectoryString. */
	X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
	    V_ASN1_IA5STRING, (const unsigned char *)"ia5", 3);
	ck_assert_int_eq(ca_csr_challenge(req, buf, sizeof(buf), &present, &why),
	    CA_REJECT);
	X509_REQ_free(req);
}
END_TEST

START_TEST(test_csr_parse)
{
	struct tc_opts o = { .cn = "p" };
	X509_REQ *req = csr_for(&o, NULL), *out = NULL;
	unsigned char *der = NULL, *longer;
	const char *why = NULL;
	int n = i2d_X509_REQ(req, &der);

	ck_assert_int_eq(ca_csr_parse(der, (size_t)n, &out, &why), CA_OK);
	X509_REQ_free(out);
	out = NULL;
	longer = calloc(1, (size_t)n + 1);
	memcpy(longer, der, (size_t)n);
	ck_assert_int_eq(ca_csr_parse(longer, (size_t)n + 1, &out, &why), CA_REJECT);
	ck_assert_ptr_nonnull(strstr(why, "trailing"));
	ck_assert_int_eq(ca_csr_parse(der, (size_t)n - 1, &out, &why), CA_REJECT);
	/* A broken self-signature. */
	der[n - 3] ^= 1;
	ck_assert_int_eq(ca_csr_parse(der, (size_t)n, &out, &why), CA_OK);
	ck_assert_int_eq(ca_csr_check(out, &why), CA_REJECT);
	ck_assert_ptr_nonnull(strstr(why, "self-signature"));
	X509_REQ_free(out);
	free(longer);
	OPENSSL_free(der);
	X509_REQ_free(req);
}
END_TEST

START_TEST(test_verify_issued)
{
	struct tc_opts o = { .cn = "v", .sans = "DNS:v.example" };
	X509_REQ *req = csr_for(&o, NULL);
	X509 *x = NULL, *old = NULL, *renewed = NULL, *foreign;
	EVP_PKEY *fk = tc_rsa_key(2048);
	const char *why = NULL;
	struct tc_opts o2 = { .cn = "other-name" };
	X509_REQ *req2 = csr_for(&o2, NULL);
	time_t now = time(NULL);

	ck_assert_int_eq(ca_sign(the_ca, req, &profile, NULL, now, &x, &why), CA_OK);
	ck_assert_int_eq(ca_verify_issued(the_ca, x, now, &why), CA_OK);
	/* Issued a long time ago for one day: expired now. */
	ck_assert_int_eq(ca_sign(the_ca, req, &(struct ca_profile){ .days = 1, .eku = "clientAuth", .crl_url = NULL },
	    NULL, now - 10 * 86400, &old, &why), CA_OK);
	ck_assert_int_eq(ca_verify_issued(the_ca, old, now, &why), CA_REJECT);
	ck_assert_ptr_nonnull(strstr(why, "expired"));
	/* Self-signed, and the RA's own CA would not vouch for it. */
	foreign = X509_new();
	X509_set_version(foreign, 2);
	X509_set_subject_name(foreign, X509_get_subject_name(x));
	X509_set_issuer_name(foreign, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(foreign), -60);
	X509_gmtime_adj(X509_getm_notAfter(foreign), 86400);
	X509_set_pubkey(foreign, fk);
	X509_sign(foreign, fk, EVP_sha256());
	ck_assert_int_eq(ca_verify_issued(the_ca, foreign, now, &why), CA_UNTRUSTED);
	/* Renewal keeps subject and SANs of the old certificate. */
	ck_assert_int_eq(ca_sign(the_ca, req2, &profile, x, now, &renewed, &why),
	    CA_OK);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(renewed),
	    X509_get_subject_name(x)), 0);
	ck_assert_int_ge(X509_get_ext_by_NID(renewed, NID_subject_alt_name, -1), 0);
	ck_assert_int_eq(ca_spki_same_key(X509_get_X509_PUBKEY(renewed),
	    X509_REQ_get_X509_PUBKEY(req2)), 1);
	X509_free(x);
	X509_free(old);
	X509_free(renewed);
	X509_free(foreign);
	EVP_PKEY_free(fk);
	X509_REQ_free(req);
	X509_REQ_free(req2);
}
END_TEST

START_TEST(test_crl)
{
	struct ca_revoked r[] = {
		{ "0A0B0C", 1700000000, 1 },	/* keyCompromise */
		{ "7F00FF", 1700000100, 0 },	/* unspecified: no reason ext */
	};
	X509_CRL *crl = NULL;
	STACK_OF(X509_REVOKED) *list;
	ASN1_INTEGER *num;
	const char *why = NULL;
	char id[CA_ID_LEN + 1];
	int crit, day, sec, i, with_reason = 0;

	ck_assert_int_eq(ca_crl(the_ca, r, 2, 42, time(NULL), 7, &crl, &why), CA_OK);
	ck_assert_int_eq(X509_CRL_get_version(crl), 1);	/* v2 */
	ck_assert_int_eq(X509_CRL_verify(crl, X509_get0_pubkey(ca_cert_get0(the_ca))), 1);
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	ck_assert_int_eq(ASN1_INTEGER_get(num), 42);
	ASN1_INTEGER_free(num);
	ck_assert(ASN1_TIME_diff(&day, &sec, X509_CRL_get0_lastUpdate(crl),
	    X509_CRL_get0_nextUpdate(crl)));
	ck_assert_int_eq(day, 7);
	list = X509_CRL_get_REVOKED(crl);
	ck_assert_int_eq(sk_X509_REVOKED_num(list), 2);
	for (i = 0; i < 2; i++) {
		ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(
		    sk_X509_REVOKED_value(list, i), NID_crl_reason, &crit, NULL);

		if (reason != NULL) {
			ck_assert_int_eq(ASN1_ENUMERATED_get(reason), 1);
			with_reason++;
		}
		ASN1_ENUMERATED_free(reason);
	}
	ck_assert_int_eq(with_reason, 1);
	X509_CRL_free(crl);
	/* A serial that is not hex is refused, not misread. */
	r[0].serial = "not-hex";
	ck_assert_int_eq(ca_crl(the_ca, r, 1, 43, time(NULL), 7, &crl, &why),
	    CA_ERROR);
	ck_assert_int_eq(ca_id(the_ca, id), CA_OK);
	ck_assert_uint_eq(strlen(id), CA_ID_LEN);
}
END_TEST

START_TEST(test_cdp)
{
	struct ca_profile p = { .days = 30, .eku = "clientAuth", .crl_url = "http://pki.lab.example/lab.crl" };
	struct ca_profile bad = { .days = 30, .eku = "clientAuth", .crl_url = "ldap://x" };
	struct tc_opts o = { .cn = "cdp" };
	X509_REQ *req = csr_for(&o, NULL);
	X509 *x = NULL;
	const char *why = NULL;
	STACK_OF(DIST_POINT) *dps;

	ck_assert_int_eq(ca_profile_check(&p, &why), CA_OK);
	ck_assert_int_eq(ca_profile_check(&bad, &why), CA_REJECT);
	ck_assert_int_eq(ca_sign(the_ca, req, &p, NULL, time(NULL), &x, &why), CA_OK);
	dps = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	ck_assert_ptr_nonnull(dps);
	ck_assert_int_eq(sk_DIST_POINT_num(dps), 1);
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	X509_free(x);
	X509_REQ_free(req);
}
END_TEST

/* NDES templates: key usage, SAN allow-lists, subject override. */
START_TEST(test_profile_policies)
{
	struct ca_profile wifi = { .days = 30, .eku = "clientAuth",
	    .key_usage = "digitalSignature", .san_policy = CA_SAN_REQUIRE,
	    .san_allow = "DNS:*.wifi.example, UPN:*@lab.example",
	    .subject = "CN={cn},O=Wifi" };
	struct ca_profile allow = { .days = 30, .san_policy = CA_SAN_ALLOW,
	    .san_allow = "IP:192.0.2.*" };
	struct tc_opts ok = { .cn = "ap1", .sans = "DNS:AP1.wifi.example,"
	    "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:joe@lab.example" };
	struct tc_opts bad = { .cn = "ap2", .sans = "DNS:ap2.evil.example" };
	struct tc_opts none = { .cn = "ap3" };
	struct tc_opts ip = { .cn = "dev", .sans = "IP:192.0.2.9" };
	X509_REQ *req;
	X509 *x = NULL;
	X509_NAME *want;
	const char *why = NULL;

	ck_assert_int_eq(ca_profile_check(&wifi, &why), CA_OK);
	req = csr_for(&ok, NULL);
	ck_assert_int_eq(ca_sign(the_ca, req, &wifi, NULL, time(NULL), &x, &why),
	    CA_OK);
	ck_assert_uint_eq(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	want = ca_name_parse("CN=ap1,O=Wifi", &why);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(x), want), 0);
	X509_NAME_free(want);
	X509_free(x);
	x = NULL;
	X509_REQ_free(req);
	req = csr_for(&bad, NULL);
	ck_assert_int_eq(ca_sign(the_ca, req, &wifi, NULL, time(NULL), &x, &why),
	    CA_REJECT);
	ck_assert_ptr_nonnull(strstr(why, "san_allow"));
	X509_REQ_free(req);
	req = csr_for(&none, NULL);
	ck_assert_int_eq(ca_sign(the_ca, req, &wifi, NULL, time(NULL), &x, &why),
	    CA_REJECT);
	ck_assert_ptr_nonnull(strstr(why, "requires a subjectAltName"));
	/* allow: no SAN is fine, a listed IP is fine. */
	ck_assert_int_eq(ca_sign(the_ca, req, &allow, NULL, time(NULL), &x, &why),
	    CA_OK);
	X509_free(x);
	x = NULL;
	X509_REQ_free(req);
	req = csr_for(&ip, NULL);
	ck_assert_int_eq(ca_sign(the_ca, req, &allow, NULL, time(NULL), &x, &why),
	    CA_OK);
	X509_free(x);
	X509_REQ_free(req);
	/* Bad profiles are refused at start, not at the first request. */
	allow.san_allow = "RID:1.2.3";
	ck_assert_int_eq(ca_profile_check(&allow, &why), CA_REJECT);
	allow.san_allow = NULL;
	ck_assert_int_eq(ca_profile_check(&allow, &why), CA_REJECT);
	wifi.key_usage = "flyingUsage";
	ck_assert_int_eq(ca_profile_check(&wifi, &why), CA_REJECT);
}
END_TEST

START_TEST(test_ku_class)
{
	struct tc_opts sig = { .cn = "s", .key_usage = "digitalSignature" };
	struct tc_opts enc = { .cn = "e", .key_usage = "keyEncipherment" };
	struct tc_opts both = { .cn = "b",
	    .key_usage = "digitalSignature,keyEncipherment" };
	struct tc_opts none = { .cn = "n" };
	X509_REQ *r;

	r = csr_for(&sig, NULL);
	ck_assert_int_eq(ca_csr_ku_class(r), CA_KU_SIGNATURE);
	X509_REQ_free(r);
	r = csr_for(&enc, NULL);
	ck_assert_int_eq(ca_csr_ku_class(r), CA_KU_ENCRYPTION);
	X509_REQ_free(r);
	r = csr_for(&both, NULL);
	ck_assert_int_eq(ca_csr_ku_class(r), CA_KU_GENERAL);
	X509_REQ_free(r);
	r = csr_for(&none, NULL);
	ck_assert_int_eq(ca_csr_ku_class(r), CA_KU_GENERAL);
	X509_REQ_free(r);
}
END_TEST

/* An EC CA; the RA stays RSA for key transport. */
START_TEST(test_ec_ca)
{
	struct ca_params ec = params;
	struct tc_opts o = { .cn = "under-ec" };
	X509_REQ *req = csr_for(&o, NULL);
	X509 *x = NULL;
	X509_CRL *crl = NULL;
	char *d = tu_tmpdir();
	const char *why = NULL;
	ca *c = NULL;

	ec.key_type = "ec-p384";
	ck_assert_int_eq(ca_open(d, &ec, NULL, &c, &why), CA_OK);
	ck_assert_int_eq(EVP_PKEY_get_base_id(ca_key_get0(c)), EVP_PKEY_EC);
	ck_assert_int_eq(EVP_PKEY_get_base_id(ca_ra_key_get0(c)), EVP_PKEY_RSA);
	ck_assert_int_eq(ca_sign(c, req, &profile, NULL, time(NULL), &x, &why), CA_OK);
	ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(ca_cert_get0(c))), 1);
	ck_assert_int_eq(ca_crl(c, NULL, 0, 1, time(NULL), 7, &crl, &why), CA_OK);
	ck_assert_int_eq(X509_CRL_verify(crl, X509_get0_pubkey(ca_cert_get0(c))), 1);
	X509_CRL_free(crl);
	X509_free(x);
	X509_REQ_free(req);
	ca_free(c);
	tu_rm_rf(d);
	free(d);
}
END_TEST

START_TEST(test_name_parse)
{
	const char *why = NULL;
	X509_NAME *n;
	char *s;

	n = ca_name_parse("CN=a b,O=Org,C=US", &why);
	ck_assert_ptr_nonnull(n);
	s = ca_name_oneline(n);
	ck_assert_str_eq(s, "CN=a b, O=Org, C=US");
	free(s);
	X509_NAME_free(n);
	n = ca_name_parse("/C=US/CN=slash", &why);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(X509_NAME_entry_count(n), 2);
	X509_NAME_free(n);
	ck_assert_ptr_null(ca_name_parse("", &why));
	ck_assert_ptr_null(ca_name_parse("CN", &why));
	ck_assert_ptr_null(ca_name_parse("XX=unknown", &why));
}
END_TEST

START_TEST(test_profile_check)
{
	struct ca_profile good = { .days = 30, .eku = "clientAuth,1.3.6.1.5.5.7.3.2", .crl_url = NULL };
	struct ca_profile bad = { .days = 30, .eku = "noSuchUsage", .crl_url = NULL };
	struct ca_profile days = { .days = 0, .eku = "clientAuth", .crl_url = NULL };
	const char *why = NULL;

	ck_assert_int_eq(ca_profile_check(&good, &why), CA_OK);
	ck_assert_int_eq(ca_profile_check(&bad, &why), CA_REJECT);
	ck_assert_int_eq(ca_profile_check(&days, &why), CA_REJECT);
}
END_TEST

/*
 * Control characters in names (C0, DEL, C1, NUL) in any string type, in
 * the subject or a text subjectAltName: refused by ca_csr_check.
 */
static const struct {
	const char		*name;
	const char		*cn;		/* bytes */
	int			 cn_len;
	int			 cn_type;	/* MBSTRING_* */
	const char		*dns;		/* NULL: no SAN */
	int			 dns_len;
	int			 ok;
} names[] = {
	{ "plain", "device-1.lab.example", -1, MBSTRING_UTF8, NULL, 0, 1 },
	{ "UTF-8 letters", "caf\xc3\xa9-\xe6\x97\xa5", -1, MBSTRING_UTF8,
	    "ok.lab.example", -1, 1 },
	{ "NUL in CN", "abc\0.example", 12, MBSTRING_ASC, NULL, 0, 0 },
	{ "newline in CN", "evil\nCN=admin", -1, MBSTRING_UTF8, NULL, 0, 0 },
	{ "DEL in CN", "a\x7f" "b", -1, MBSTRING_UTF8, NULL, 0, 0 },
	{ "C1 (NEL) in CN", "a\xc2\x85" "b", -1, MBSTRING_UTF8, NULL, 0, 0 },
	{ "NUL in a BMPString CN", "\0a\0\0\0b", 6, MBSTRING_BMP, NULL, 0, 0 },
	{ "control in a DNS SAN", "dev", -1, MBSTRING_UTF8, "a\x01" "b.example",
	    -1, 0 },
	{ "NUL in a DNS SAN", "dev", -1, MBSTRING_UTF8, "a.example\0.evil", 15,
	    0 },
};

START_TEST(test_control_characters)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	EVP_PKEY *k = tc_rsa_key(2048);
	const char *why = NULL;
	int rv;

	ck_assert(X509_NAME_add_entry_by_txt(n, "CN", names[_i].cn_type,
	    (const unsigned char *)names[_i].cn, names[_i].cn_len, -1, 0));
	ck_assert(X509_REQ_set_subject_name(req, n));
	ck_assert(X509_REQ_set_pubkey(req, k));
	if (names[_i].dns != NULL) {
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		GENERAL_NAMES *gens = GENERAL_NAMES_new();
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
		X509_EXTENSION *ext;

		ck_assert(ASN1_STRING_set(ia5, names[_i].dns, names[_i].dns_len));
		GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
		ck_assert(sk_GENERAL_NAME_push(gens, g));
		ck_assert_ptr_nonnull(ext = X509V3_EXT_i2d(NID_subject_alt_name,
		    0, gens));
		ck_assert(sk_X509_EXTENSION_push(exts, ext));
		ck_assert(X509_REQ_add_extensions(req, exts));
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		GENERAL_NAMES_free(gens);
	}
	ck_assert(X509_REQ_sign(req, k, EVP_sha256()) > 0);
	rv = ca_csr_check(req, &why);
	if (names[_i].ok) {
		ck_assert_msg(rv == CA_OK, "%s: %s", names[_i].name, why);
	} else {
		ck_assert_msg(rv == CA_REJECT, "%s: accepted", names[_i].name);
		ck_assert_ptr_nonnull(strstr(why, "control character"));
	}
	X509_NAME_free(n);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
}
END_TEST

static Suite *
ca_suite(void)
{
	Suite *s = suite_create("ca");
	TCase *t = tcase_create("ca");

	tcase_add_unchecked_fixture(t, make_template, drop_template);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_created_files);
	tcase_add_test(t, test_reopen_same_ca);
	tcase_add_test(t, test_key_mode_refused);
	tcase_add_test(t, test_missing_key_refused);
	tcase_add_test(t, test_thumbprints);
	tcase_add_test(t, test_issue_full);
	tcase_add_test(t, test_validity_capped_by_ca);
	tcase_add_test(t, test_serials_differ);
	tcase_add_test(t, test_ec_key);
	tcase_add_loop_test(t, test_bad_csr, 0,
	    (int)(sizeof(bad_csrs) / sizeof(bad_csrs[0])));
	tcase_add_test(t, test_empty_subject_san_critical);
	tcase_add_test(t, test_challenge_attr);
	tcase_add_test(t, test_csr_parse);
	tcase_add_test(t, test_verify_issued);
	tcase_add_test(t, test_crl);
	tcase_add_test(t, test_cdp);
	tcase_add_test(t, test_profile_policies);
	tcase_add_test(t, test_ku_class);
	tcase_add_test(t, test_ec_ca);
	tcase_add_test(t, test_name_parse);
	tcase_add_test(t, test_profile_check);
	tcase_add_loop_test(t, test_control_characters, 0,
	    (int)(sizeof(names) / sizeof(names[0])));
	tcase_set_timeout(t, 60);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return tu_run_suite(ca_suite(), 0);
}
