#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_files.h"
#include "ca/ca_int.h"

/*
 * One CA generation: its certificate and key and its RA.  The current one
 * also knows the next (STATE_DIR/next, after a rollover) and the previous
 * ones (STATE_DIR/previous/<id>/), whose certificates still verify.
 */
struct ca {
	X509		*cert;
	EVP_PKEY	*key;
	X509		*ra_cert;	/* NULL: no RA */
	EVP_PKEY	*ra_key;
	struct ca	*next;
	struct ca	**prev;
	size_t		 n_prev;
	/* Opened keyless: who does the CA's private-key operations. */
	const struct ca_remote *remote;
	void		*remote_arg;
	char		 id[CA_ID_LEN + 1];	/* ca_id(), computed once */
};

void
ca_free(ca *c)
{
	size_t i;

	if (c == NULL)
		return;
	X509_free(c->cert);
	EVP_PKEY_free(c->key);
	X509_free(c->ra_cert);
	EVP_PKEY_free(c->ra_key);
	ca_free(c->next);
	for (i = 0; i < c->n_prev; i++)
		ca_free(c->prev[i]);
	free(c->prev);
	free(c);
}

void
ca_params_wipe(struct ca_params *p)
{
	OPENSSL_cleanse(p->passphrase, sizeof(p->passphrase));
	OPENSSL_cleanse(p->pkcs11_pin, sizeof(p->pkcs11_pin));
}

const ca *ca_next(const ca *c) { return c->next; }
size_t ca_previous_count(const ca *c) { return c->n_prev; }
const ca *ca_previous(const ca *c, size_t i) { return c->prev[i]; }

const ca *
ca_by_subject(const ca *c, const X509_NAME *name)
{
	size_t i;

	if (X509_NAME_cmp(X509_get_subject_name(c->cert), name) == 0)
		return c;
	for (i = 0; i < c->n_prev; i++)
		if (X509_NAME_cmp(X509_get_subject_name(c->prev[i]->cert), name) == 0)
			return c->prev[i];
	return NULL;
}

const ca *
ca_by_id(const ca *c, const char *id)
{
	char cid[CA_ID_LEN + 1];
	size_t i;

	if (ca_id(c, cid) == CA_OK && strcmp(cid, id) == 0)
		return c;
	for (i = 0; i < c->n_prev; i++)
		if (ca_id(c->prev[i], cid) == CA_OK && strcmp(cid, id) == 0)
			return c->prev[i];
	return NULL;
}

X509 *ca_cert_get0(const ca *c) { return c->cert; }
EVP_PKEY *ca_key_get0(const ca *c) { return c->key; }
X509 *ca_ra_cert_get0(const ca *c) { return c->ra_cert; }
EVP_PKEY *ca_ra_key_get0(const ca *c) { return c->ra_key; }

const struct ca_remote *
ca_remote_of(const ca *c, void **arg)
{
	*arg = c->remote_arg;
	return c->remote;
}

void
ca_set_remote(ca *c, const struct ca_remote *r, void *arg)
{
	size_t i;

	c->remote = r;
	c->remote_arg = arg;
	if (c->next != NULL)
		ca_set_remote(c->next, r, arg);
	for (i = 0; i < c->n_prev; i++)
		ca_set_remote(c->prev[i], r, arg);
}

X509_NAME *
ca_name_parse(const char *s, const char **why)
{
	X509_NAME *n = NULL;
	char *copy = NULL, *p, *field, *eq;
	char sep;
	int ok = 0;

	if (s == NULL || *s == '\0') {
		*why = "empty subject";
		return NULL;
	}
	if ((n = X509_NAME_new()) == NULL || (copy = strdup(s)) == NULL)
		goto out;
	/* OpenSSL's "/C=US/CN=x" or RFC 4514-like "CN=x,O=y", in order. */
	sep = copy[0] == '/' ? '/' : ',';
	p = copy[0] == '/' ? copy + 1 : copy;
	while (p != NULL && *p != '\0') {
		char *next = strchr(p, sep);

		if (next != NULL)
			*next++ = '\0';
		field = p;
		while (*field == ' ')
			field++;
		if ((eq = strchr(field, '=')) == NULL || eq == field ||
		    eq[1] == '\0') {
			*why = "subject field is not KEY=VALUE";
			goto out;
		}
		*eq = '\0';
		if (!X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8,
		    (unsigned char *)eq + 1, -1, -1, 0)) {
			*why = "unknown subject attribute";
			goto out;
		}
		p = next;
	}
	if (X509_NAME_entry_count(n) == 0) {
		*why = "empty subject";
		goto out;
	}
	ok = 1;
out:
	free(copy);
	ERR_clear_error();
	if (!ok) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

int
ca_random_serial(ASN1_INTEGER **out)
{
	unsigned char b[16];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	int ok = 0;

	/* 127 bits of randomness: positive, never zero, fixed length. */
	if (RAND_bytes(b, sizeof(b)) != 1)
		goto out;
	b[0] &= 0x7f;
	if (b[0] == 0)
		b[0] = 1;
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL)
		goto out;
	if ((ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
		goto out;
	*out = ai;
	ok = 1;
out:
	BN_free(bn);
	return ok;
}

int
ca_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

X509 *
ca_cert_new(EVP_PKEY *pub, const X509_NAME *subject, X509 *issuer, int days,
    time_t now)
{
	X509 *x = NULL;
	ASN1_INTEGER *serial = NULL;
	int ok = 0;

	if ((x = X509_new()) == NULL || !X509_set_version(x, 2))
		goto out;
	if (!ca_random_serial(&serial) || !X509_set_serialNumber(x, serial))
		goto out;
	if (!X509_set_subject_name(x, subject) ||
	    !X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : subject) ||
	    (pub != NULL && !X509_set_pubkey(x, pub)))
		goto out;
	/* Five minutes of slack for device clocks; never past the issuer. */
	if (X509_time_adj_ex(X509_getm_notBefore(x), 0, -300, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, &now) == NULL)
		goto out;
	if (issuer != NULL && ASN1_TIME_compare(X509_get0_notAfter(x),
	    X509_get0_notAfter(issuer)) > 0 &&
	    !X509_set1_notAfter(x, X509_get0_notAfter(issuer)))
		goto out;
	ok = 1;
out:
	ASN1_INTEGER_free(serial);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* A new CA (issuer NULL: self-signed) or RA certificate for key. */
static X509 *
make_cert(EVP_PKEY *key, const char *subject, X509 *issuer,
    EVP_PKEY *issuer_key, int days, const char **why)
{
	X509 *x = NULL;
	X509_NAME *name = NULL;
	int ok = 0;

	if ((name = ca_name_parse(subject, why)) == NULL)
		goto out;
	if ((x = ca_cert_new(key, name, issuer, days, time(NULL))) == NULL)
		goto out;
	if (issuer == NULL) {
		if (!ca_add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") ||
		    !ca_add_ext(x, x, NID_key_usage,
		    "critical,keyCertSign,cRLSign,digitalSignature") ||
		    !ca_add_ext(x, x, NID_subject_key_identifier, "hash"))
			goto out;
	} else {
		/* NDES's "CEP Encryption" certificate, plus signing CertReps. */
		if (!ca_add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
		    !ca_add_ext(x, issuer, NID_key_usage,
		    "critical,digitalSignature,keyEncipherment") ||
		    !ca_add_ext(x, issuer, NID_ext_key_usage,
		    "1.3.6.1.4.1.311.20.2.1") ||
		    !ca_add_ext(x, issuer, NID_subject_key_identifier, "hash") ||
		    !ca_add_ext(x, issuer, NID_authority_key_identifier,
		    "keyid:always"))
			goto out;
	}
	if (!X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()))
		goto out;
	ok = 1;
out:
	if (!ok && *why == NULL)
		*why = "cannot create certificate";
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

static int
join(char *buf, size_t cap, const char *dir, const char *file)
{
	return snprintf(buf, cap, "%s/%s", dir, file) < (int)cap;
}

/* ca_key: a path or file: URI, or a key on a PKCS#11 token. */
static EVP_PKEY *
external_key(const struct ca_params *p, const char **why)
{
	const char *path = p->ca_key_uri;

	if (strncmp(path, "pkcs11:", 7) == 0)
		return ca_pkcs11_key(path, p->pkcs11_module, p->pkcs11_pin, why);
	if (strncmp(path, "file://", 7) == 0)
		path += 7;
	else if (strncmp(path, "file:", 5) == 0)
		path += 5;
	return ca_read_key(path, p->passphrase, why);
}

/*
 * A fresh key: the CA's may be EC; the RA key stays RSA, because SCEP
 * clients encrypt to it with RSA key transport.
 */
static EVP_PKEY *
new_key(const struct ca_params *p, int is_ca, const char **why)
{
	EVP_PKEY *k;

	if (p->key_bits < CA_MIN_RSA_BITS || p->key_bits > CA_MAX_RSA_BITS) {
		*why = "ca_key_bits out of range (2048..8192)";
		return NULL;
	}
	if (is_ca && p->key_type != NULL && strncmp(p->key_type, "ec-", 3) == 0)
		k = EVP_EC_gen(strcmp(p->key_type, "ec-p384") == 0 ?
		    "P-384" : "P-256");
	else
		k = EVP_RSA_gen((unsigned int)p->key_bits);
	if (k == NULL)
		*why = "key generation failed";
	return k;
}

/* Load a cert/key pair; create it when both files are absent. */
static int
load_or_create(const char *dir, const char *base, const struct ca_params *p,
    const char *subject, X509 *issuer, EVP_PKEY *issuer_key, X509 **cert,
    EVP_PKEY **key, int *created, const char **why)
{
	char cpath[PATH_MAX], kpath[PATH_MAX], name[64];
	int have_c, have_k, external;

	snprintf(name, sizeof(name), "%s.pem", base);
	if (!join(cpath, sizeof(cpath), dir, name))
		return 0;
	snprintf(name, sizeof(name), "%s.key", base);
	if (!join(kpath, sizeof(kpath), dir, name))
		return 0;
	/*
	 * The current CA's key named by ca_key: the certificate is made for
	 * it on first start, and no key file is ever written.
	 */
	external = issuer == NULL && p->ca_key_uri != NULL &&
	    *p->ca_key_uri != '\0';
	have_c = ca_file_exists(cpath);
	have_k = external ? have_c : ca_file_exists(kpath);
	if (have_c != have_k) {
		*why = have_c ? "certificate present but its key is missing" :
		    "key present but its certificate is missing";
		return 0;
	}
	if (have_c && key == NULL) {
		/* Keyless: the key stays on disk for another process. */
		return (*cert = ca_read_cert(cpath, why)) != NULL;
	}
	if (have_c) {
		*key = external ? external_key(p, why) :
		    ca_read_key(kpath, p->passphrase, why);
		if (*key == NULL || (*cert = ca_read_cert(cpath, why)) == NULL)
			return 0;
		if (X509_check_private_key(*cert, *key) != 1) {
			ERR_clear_error();
			*why = external ? "ca_key does not match ca.pem" :
			    "key does not match its certificate";
			return 0;
		}
		return 1;
	}
	if (external) {
		if ((*key = external_key(p, why)) == NULL)
			return 0;
	} else if ((*key = new_key(p, issuer == NULL, why)) == NULL) {
		return 0;
	}
	*cert = make_cert(*key, subject, issuer, issuer_key, p->ca_days, why);
	if (*cert == NULL)
		return 0;
	/* Key first: a crash in between leaves "key without certificate". */
	if ((!external && !ca_write_key(kpath, *key, p->passphrase, why)) ||
	    !ca_write_cert(cpath, *cert, why))
		return 0;
	*created = 1;
	return 1;
}

/* 16 hex digits of the CA certificate's SHA-256: its short name. */
static int
compute_id(ca *c)
{
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	size_t i;

	if (ca_thumbprint(c->cert, EVP_sha256(), hex, sizeof(hex)) != CA_OK)
		return 0;
	for (i = 0; i < CA_ID_LEN; i++)
		c->id[i] = (char)tolower((unsigned char)hex[i]);
	c->id[CA_ID_LEN] = '\0';
	return 1;
}

int
ca_id(const ca *c, char out[CA_ID_LEN + 1])
{
	memcpy(out, c->id, sizeof(c->id));
	return out[0] != '\0' ? CA_OK : CA_ERROR;
}

/* Load one generation from dir; create it when create is set and absent. */
static int
open_generation(const char *dir, const struct ca_params *p, int create,
    int keyless, int *created, ca **out, const char **why)
{
	char path[PATH_MAX];
	ca *c = NULL;
	int ret = CA_ERROR;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	if (!join(path, sizeof(path), dir, "ca.pem"))
		goto out;
	if (!create && !ca_file_exists(path)) {
		*why = "CA certificate missing";
		goto out;
	}
	if (!load_or_create(dir, "ca", p, p->ca_subject, NULL, NULL, &c->cert,
	    keyless ? NULL : &c->key, created, why) || !compute_id(c))
		goto out;
	if (!join(path, sizeof(path), dir, "ra.pem"))
		goto out;
	if ((create && p->ra_subject != NULL && *p->ra_subject != '\0') ||
	    (!create && ca_file_exists(path))) {
		if (!load_or_create(dir, "ra", p, p->ra_subject, c->cert, c->key,
		    &c->ra_cert, &c->ra_key, created, why))
			goto out;
		if (X509_check_issued(c->cert, c->ra_cert) != X509_V_OK) {
			*why = "RA certificate was not issued by the CA";
			goto out;
		}
	}
	*out = c;
	c = NULL;
	ret = CA_OK;
out:
	ca_free(c);
	ERR_clear_error();
	return ret;
}

static int
load_previous(ca *c, const char *dir, const struct ca_params *p,
    int keyless, const char **why)
{
	char pdir[PATH_MAX], gdir[PATH_MAX];
	struct dirent *de;
	DIR *d;
	ca *g, **np;
	int ok = 1;

	if (!join(pdir, sizeof(pdir), dir, "previous") ||
	    (d = opendir(pdir)) == NULL)
		return 1;	/* none yet */
	while (ok && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (!join(gdir, sizeof(gdir), pdir, de->d_name) ||
		    open_generation(gdir, p, 0, keyless, NULL, &g, why) != CA_OK) {
			ok = 0;
			break;
		}
		if ((np = realloc(c->prev, (c->n_prev + 1) * sizeof(*np))) == NULL) {
			ca_free(g);
			ok = 0;
			break;
		}
		c->prev = np;
		c->prev[c->n_prev++] = g;
	}
	closedir(d);
	return ok;
}

static int
open_all(const char *dir, const struct ca_params *p, int keyless,
    int *created, ca **out, const char **why)
{
	struct ca_params files = *p;
	char path[PATH_MAX], next[PATH_MAX];
	int dummy_created = 0, ret = CA_ERROR;
	ca *c = NULL;

	*out = NULL;
	if (created == NULL)
		created = &dummy_created;
	*created = 0;
	if (!join(path, sizeof(path), dir, "ca.pem") ||
	    !join(next, sizeof(next), dir, "next"))
		return CA_ERROR;
	/* An activation cut short: never paper over it with a new CA. */
	if (!ca_file_exists(path) && ca_file_exists(next)) {
		*why = "no current CA but a next one: finish with "
		    "`scepctl ca activate`";
		return CA_ERROR;
	}
	if (open_generation(dir, p, !keyless, keyless, created, &c, why) != CA_OK)
		goto out;
	/* ca_key names the current CA's key; the others are files. */
	files.ca_key_uri = NULL;
	if (ca_file_exists(next) &&
	    open_generation(next, &files, 0, keyless, NULL, &c->next, why) !=
	    CA_OK)
		goto out;
	if (!load_previous(c, dir, &files, keyless, why))
		goto out;
	*out = c;
	c = NULL;
	ret = CA_OK;
out:
	ca_free(c);
	return ret;
}

int
ca_open(const char *dir, const struct ca_params *p, int *created, ca **out,
    const char **why)
{
	return open_all(dir, p, 0, created, out, why);
}

int
ca_open_keyless(const char *dir, const struct ca_params *p, ca **out,
    const char **why)
{
	return open_all(dir, p, 1, NULL, out, why);
}

int
ca_rollover(const char *dir, const struct ca_params *p, const char **why)
{
	char next[PATH_MAX];
	int created = 0;
	ca *g = NULL;

	if (!join(next, sizeof(next), dir, "next"))
		return CA_ERROR;
	if (mkdir(next, 0700) != 0) {
		*why = errno == EEXIST ? "a next CA exists already; activate it "
		    "first" : "cannot create the next/ directory";
		return CA_REJECT;
	}
	if (open_generation(next, p, 1, 0, &created, &g, why) != CA_OK)
		return CA_ERROR;
	ca_free(g);
	return CA_OK;
}

/* Move dir/NAME.{pem,key} for ca and ra into to/, where they exist. */
static int
move_generation(const char *from, const char *to)
{
	static const char *const files[] = { "ca.pem", "ca.key", "ra.pem",
	    "ra.key" };
	char a[PATH_MAX], b[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (!join(a, sizeof(a), from, files[i]) ||
		    !join(b, sizeof(b), to, files[i]))
			return 0;
		if (ca_file_exists(a) && rename(a, b) != 0)
			return 0;
	}
	return 1;
}

int
ca_activate(const char *dir, const struct ca_params *p, const char **why)
{
	char next[PATH_MAX], prev[PATH_MAX], gen[PATH_MAX], cur[PATH_MAX];
	char id[CA_ID_LEN + 1];
	ca *old = NULL;
	int ret = CA_ERROR;

	if (!join(next, sizeof(next), dir, "next") ||
	    !join(prev, sizeof(prev), dir, "previous") ||
	    !join(cur, sizeof(cur), dir, "ca.pem"))
		return CA_ERROR;
	if (!ca_file_exists(next)) {
		*why = "no next CA (run `scepctl ca rollover` first)";
		return CA_REJECT;
	}
	/* The current generation retires to previous/<id>/ ... */
	if (ca_file_exists(cur)) {
		if (open_generation(dir, p, 0, 0, NULL, &old, why) != CA_OK ||
		    ca_id(old, id) != CA_OK || !join(gen, sizeof(gen), prev, id))
			goto out;
		if ((mkdir(prev, 0700) != 0 && errno != EEXIST) ||
		    (mkdir(gen, 0700) != 0 && errno != EEXIST) ||
		    !move_generation(dir, gen)) {
			*why = "cannot move the current CA to previous/";
			goto out;
		}
	}
	/* ... and the next one takes its place (resumable if cut short). */
	if (!move_generation(next, dir) || rmdir(next) != 0) {
		*why = "cannot move the next CA into place";
		goto out;
	}
	ret = CA_OK;
out:
	ca_free(old);
	return ret;
}

void
ca_hex(const unsigned char *b, size_t n, char *hex, int upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[b[i] >> 4];
		hex[2 * i + 1] = digits[b[i] & 15];
	}
	hex[2 * n] = '\0';
}

int
ca_thumbprint(X509 *x, const EVP_MD *md, char *hex, size_t cap)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!X509_digest(x, md, d, &n) || cap < 2 * (size_t)n + 1)
		return CA_ERROR;
	ca_hex(d, n, hex, 1);
	return CA_OK;
}

/* Lowercase hex of a digest of a DER buffer (the ledger's thumbprints). */
static int
digest_hex(const EVP_MD *md, const unsigned char *b, size_t len, char *hex,
    unsigned int want)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(b, len, d, &n, md, NULL) || n != want)
		return CA_ERROR;
	ca_hex(d, n, hex, 0);
	return CA_OK;
}

int
ca_sha256_hex(const unsigned char *b, size_t len, char hex[65])
{
	return digest_hex(EVP_sha256(), b, len, hex, 32);
}

int
ca_sha1_hex(const unsigned char *b, size_t len, char hex[41])
{
	return digest_hex(EVP_sha1(), b, len, hex, 20);
}

char *
ca_serial_hex(X509 *x)
{
	BIGNUM *bn;
	char *h, *copy = NULL;

	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	if (bn == NULL)
		return NULL;
	if ((h = BN_bn2hex(bn)) != NULL) {
		copy = strdup(h);
		OPENSSL_free(h);
	}
	BN_free(bn);
	return copy;
}

char *
ca_name_oneline(const X509_NAME *n)
{
	BIO *b;
	char *data, *s = NULL;
	long len;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if (X509_NAME_print_ex(b, n, 0, (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) |
	    XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN | XN_FLAG_DUMP_UNKNOWN_FIELDS) >= 0) {
		len = BIO_get_mem_data(b, &data);
		if ((s = malloc((size_t)len + 1)) != NULL) {
			memcpy(s, data, (size_t)len);
			s[len] = '\0';
		}
	}
	BIO_free(b);
	return s;
}
