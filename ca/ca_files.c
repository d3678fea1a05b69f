#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca/ca_files.h"

int
ca_file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Write through fn into a new file of the given mode, then rename. */
static int
write_atomic(const char *path, mode_t mode, int (*fn)(FILE *, void *),
    void *arg, const char **why)
{
	char tmp[4096];
	FILE *f = NULL;
	int fd = -1, ok = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		*why = "path too long";
		return 0;
	}
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0) {
		*why = "cannot create file in the state directory";
		goto out;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		*why = "fdopen failed";
		goto out;
	}
	fd = -1;
	if (!fn(f, arg) || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		*why = "cannot write file in the state directory";
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		*why = "cannot write file in the state directory";
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		*why = "cannot rename file into place";
		goto out;
	}
	ok = 1;
out:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (!ok)
		(void)unlink(tmp);
	ERR_clear_error();
	return ok;
}

struct key_out {
	EVP_PKEY	*key;
	const char	*pass;
};

static int
put_key(FILE *f, void *arg)
{
	struct key_out *o = arg;

	if (o->pass != NULL && *o->pass != '\0')
		return PEM_write_PrivateKey(f, o->key, EVP_aes_256_cbc(), NULL, 0,
		    NULL, (void *)o->pass);
	return PEM_write_PrivateKey(f, o->key, NULL, NULL, 0, NULL, NULL);
}

/* The passphrase callback: the configured one, or fail (never prompt). */
static int
give_pass(char *buf, int size, int rwflag, void *u)
{
	size_t n;

	(void)rwflag;
	if (u == NULL || (n = strlen(u)) == 0 || n >= (size_t)size)
		return -1;
	memcpy(buf, u, n);
	return (int)n;
}

static int
put_cert(FILE *f, void *x)
{
	return PEM_write_X509(f, x);
}

int
ca_write_key(const char *path, EVP_PKEY *k, const char *pass,
    const char **why)
{
	struct key_out o = { k, pass };

	return write_atomic(path, 0600, put_key, &o, why);
}

int
ca_write_cert(const char *path, X509 *x, const char **why)
{
	return write_atomic(path, 0644, put_cert, x, why);
}

EVP_PKEY *
ca_read_key(const char *path, const char *pass, const char **why)
{
	struct stat st;
	EVP_PKEY *k = NULL;
	FILE *f = NULL;

	if ((f = fopen(path, "r")) == NULL) {
		*why = "cannot open key file";
		goto out;
	}
	if (fstat(fileno(f), &st) != 0 || (st.st_mode & 077) != 0) {
		*why = "key file is readable by group or others (chmod 600 it)";
		goto out;
	}
	if ((k = PEM_read_PrivateKey(f, NULL, give_pass, (void *)pass)) == NULL)
		*why = pass != NULL && *pass != '\0' ? "key file cannot be read "
		    "with the key_passphrase_file passphrase" : "key file holds "
		    "no PEM private key (encrypted? set key_passphrase_file)";
out:
	if (f != NULL)
		fclose(f);
	ERR_clear_error();
	return k;
}

X509 *
ca_read_cert(const char *path, const char **why)
{
	X509 *x = NULL;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		*why = "cannot open certificate file";
		return NULL;
	}
	if ((x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		*why = "certificate file holds no PEM certificate";
	fclose(f);
	ERR_clear_error();
	return x;
}
