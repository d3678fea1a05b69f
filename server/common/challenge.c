#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "server/common/common.h"

#define PREFIX		"pbkdf2-sha256$"
#define ITERATIONS	10000	/* per enrollment; the password is random */

static int
derive(const char *plain, const unsigned char *salt, unsigned int iter,
    unsigned char out[32])
{
	return PKCS5_PBKDF2_HMAC(plain, (int)strlen(plain), salt, 16,
	    (int)iter, EVP_sha256(), 32, out) == 1;
}

/* SHA-256 over the salt and the password: the verified-password cache. */
static int
fast_digest(const struct challenge *c, const char *plain, unsigned char out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(ctx, c->salt, sizeof(c->salt)) &&
	    EVP_DigestUpdate(ctx, plain, strlen(plain)) &&
	    EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return ok;
}

static int
unhex(const char *s, size_t n, unsigned char *out)
{
	size_t i;

	if (strlen(s) < 2 * n)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned int v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return 0;
		out[i] = (unsigned char)v;
	}
	return 1;
}

static int
format_hash(const struct challenge *c, char *out, size_t cap)
{
	char salt[33], hash[65];

	ca_hex(c->salt, sizeof(c->salt), salt, 0);
	ca_hex(c->hash, sizeof(c->hash), hash, 0);
	return snprintf(out, cap, PREFIX "%u$%s$%s", c->iterations, salt,
	    hash) < (int)cap;
}

static int
parse_hash(struct challenge *c, const char *s)
{
	char *end;
	unsigned long iter;

	if (strncmp(s, PREFIX, strlen(PREFIX)) != 0)
		return 0;
	s += strlen(PREFIX);
	iter = strtoul(s, &end, 10);
	if (*end != '$' || iter < 1000 || iter > 10000000)
		return 0;
	s = end + 1;
	if (!unhex(s, 16, c->salt) || s[32] != '$')
		return 0;
	s += 33;
	if (!unhex(s, 32, c->hash) || s[64] != '\0')
		return 0;
	c->iterations = (unsigned int)iter;
	c->required = 1;
	return 1;
}

static int
hash_plain(struct challenge *c, const char *plain)
{
	if (RAND_bytes(c->salt, sizeof(c->salt)) != 1)
		return 0;
	c->iterations = ITERATIONS;
	c->required = 1;
	return derive(plain, c->salt, c->iterations, c->hash);
}

int
challenge_hash_text(const char *plain, char *out, size_t cap)
{
	struct challenge c;
	int ok;

	ok = hash_plain(&c, plain) && format_hash(&c, out, cap);
	OPENSSL_cleanse(&c, sizeof(c));
	return ok;
}

/* A random password from an alphabet without look-alikes. */
int
challenge_generate(char out[CHALLENGE_GEN_LEN + 1])
{
	static const char alpha[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
	unsigned char r[CHALLENGE_GEN_LEN];
	size_t i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return 0;
	for (i = 0; i < sizeof(r); i++)
		out[i] = alpha[r[i] % (sizeof(alpha) - 1)];
	out[sizeof(r)] = '\0';
	OPENSSL_cleanse(r, sizeof(r));
	return 1;
}

static int
hash_path(const char *dir, char *buf, size_t cap)
{
	return snprintf(buf, cap, "%s/challenge.hash", dir) < (int)cap;
}

static int
write_hash_file(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	struct stat old;
	int fd, ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return 0;
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return 0;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text) &&
	    write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	/*
	 * scepctl run by root keeps the file scepd's (it re-reads it on
	 * SIGHUP after dropping root).
	 */
	if (ok && geteuid() == 0 && stat(path, &old) == 0)
		ok = fchown(fd, old.st_uid, old.st_gid) == 0;
	ok = close(fd) == 0 && ok;
	if (ok)
		ok = rename(tmp, path) == 0;
	if (!ok)
		(void)unlink(tmp);
	return ok;
}

int
challenge_reset(const char *state_dir, char *new_plain, const char **why)
{
	char path[PATH_MAX], text[CHALLENGE_HASH_MAX];

	if (!hash_path(state_dir, path, sizeof(path)) || !challenge_generate(new_plain) ||
	    !challenge_hash_text(new_plain, text, sizeof(text))) {
		*why = "cannot generate a challenge password";
		return 0;
	}
	if (!write_hash_file(path, text)) {
		*why = "cannot write challenge.hash in the state directory";
		return 0;
	}
	return 1;
}

static int
load_auto(struct challenge *c, const char *state_dir, char *new_plain,
    int *generated, const char **why)
{
	char path[PATH_MAX], text[CHALLENGE_HASH_MAX + 2];
	FILE *f;

	if (!hash_path(state_dir, path, sizeof(path))) {
		*why = "state_dir path too long";
		return 0;
	}
	if ((f = fopen(path, "r")) == NULL) {
		if (errno != ENOENT) {
			*why = "cannot read challenge.hash";
			return 0;
		}
		if (!challenge_reset(state_dir, new_plain, why))
			return 0;
		*generated = 1;
		if ((f = fopen(path, "r")) == NULL) {
			*why = "cannot read challenge.hash";
			return 0;
		}
	}
	if (fgets(text, sizeof(text), f) == NULL) {
		fclose(f);
		*why = "challenge.hash is empty";
		return 0;
	}
	fclose(f);
	text[strcspn(text, "\r\n")] = '\0';
	if (!parse_hash(c, text)) {
		*why = "challenge.hash is malformed";
		return 0;
	}
	return 1;
}

int
challenge_setup(struct challenge *c, const char *value, const char *state_dir,
    char *new_plain, int *generated, const char **why)
{
	memset(c, 0, sizeof(*c));
	*generated = 0;
	new_plain[0] = '\0';
	if (*value == '\0')
		return 1;
	if (strcmp(value, "auto") == 0)
		return load_auto(c, state_dir, new_plain, generated, why);
	if (strncmp(value, PREFIX, strlen(PREFIX)) == 0) {
		if (!parse_hash(c, value)) {
			*why = "challenge: malformed pbkdf2-sha256 hash";
			return 0;
		}
		return 1;
	}
	if (!hash_plain(c, value)) {
		*why = "cannot hash the challenge password";
		return 0;
	}
	return 1;
}

int
challenge_sha256(const char *plain, char hex[65])
{
	unsigned char d[32];
	unsigned int n = 0;

	if (!EVP_Digest(plain, strlen(plain), d, &n, EVP_sha256(), NULL))
		return 0;
	ca_hex(d, sizeof(d), hex, 0);
	OPENSSL_cleanse(d, sizeof(d));
	return 1;
}

int
challenge_verify(struct challenge *c, const char *offered)
{
	unsigned char h[32];
	int ok, empty = 0;

	if (!c->required)
		return 1;
	if (offered == NULL)
		return 0;
	if (atomic_load_explicit(&c->fast_state, memory_order_acquire) == 2) {
		ok = fast_digest(c, offered, h) &&
		    CRYPTO_memcmp(h, c->fast, sizeof(h)) == 0;
		if (ok)
			goto out;
	}
	if (!derive(offered, c->salt, c->iterations, h))
		return 0;
	ok = CRYPTO_memcmp(h, c->hash, sizeof(h)) == 0;
	/* The first thread to verify the password fills the cache. */
	if (ok && atomic_compare_exchange_strong(&c->fast_state, &empty, 1)) {
		if (fast_digest(c, offered, c->fast))
			atomic_store_explicit(&c->fast_state, 2,
			    memory_order_release);
		else
			atomic_store(&c->fast_state, 0);
	}
out:
	OPENSSL_cleanse(h, sizeof(h));
	return ok;
}
