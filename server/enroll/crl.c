#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "server/enroll/enroll_int.h"

#define CRL_MAX (16 * 1024 * 1024)

struct revoked_list {
	struct ca_revoked	*v;
	size_t			 n, cap;
};

static int
collect(void *arg, const char *serial, int64_t revoked_us, int reason)
{
	struct revoked_list *rl = arg;
	struct ca_revoked *nv;

	if (rl->n == rl->cap) {
		rl->cap = rl->cap ? rl->cap * 2 : 64;
		if ((nv = realloc(rl->v, rl->cap * sizeof(*nv))) == NULL)
			return 0;
		rl->v = nv;
	}
	if ((rl->v[rl->n].serial = strdup(serial)) == NULL)
		return 0;
	rl->v[rl->n].revoked_at = (time_t)(revoked_us / 1000000);
	rl->v[rl->n].reason = reason;
	rl->n++;
	return 1;
}

static void
revoked_free(struct revoked_list *rl)
{
	size_t i;

	for (i = 0; i < rl->n; i++)
		free((char *)rl->v[i].serial);
	free(rl->v);
}

static int
crl_dir(const char *state_dir, char *buf, size_t cap)
{
	return snprintf(buf, cap, "%s/data/crl", state_dir) < (int)cap;
}

static int
crl_file(const ca *c, const char *state_dir, char *buf, size_t cap)
{
	char id[CA_ID_LEN + 1];

	return ca_id(c, id) == CA_OK &&
	    snprintf(buf, cap, "%s/data/crl/%s.crl", state_dir, id) < (int)cap;
}

static int
write_file(const char *path, const unsigned char *b, size_t n)
{
	char tmp[PATH_MAX];
	int fd, ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return 0;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return 0;
	ok = write(fd, b, n) == (ssize_t)n && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	return ok && rename(tmp, path) == 0;
}

int
crl_publish(const ca *c, ledger *l, const char *state_dir, int days,
    const char **why)
{
	struct revoked_list rl = { NULL, 0, 0 };
	char dir[PATH_MAX], path[PATH_MAX], lock[PATH_MAX], id[CA_ID_LEN + 1];
	X509_CRL *crl = NULL;
	unsigned char *der = NULL;
	int64_t number;
	time_t now = time(NULL);
	int fd = -1, n, ok = 0;

	if (!crl_dir(state_dir, dir, sizeof(dir)) ||
	    snprintf(path, sizeof(path), "%s/data", state_dir) >=
	    (int)sizeof(path)) {
		*why = "state_dir path too long";
		return 0;
	}
	if ((mkdir(path, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(dir, 0755) != 0 && errno != EEXIST)) {
		*why = "cannot create the crl directory";
		return 0;
	}
	if (!crl_file(c, state_dir, path, sizeof(path)) || ca_id(c, id) != CA_OK ||
	    snprintf(lock, sizeof(lock), "%s/.lock", dir) >= (int)sizeof(lock)) {
		*why = "state_dir path too long";
		return 0;
	}
	/* One publisher at a time: numbers and files stay in order. */
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
	    flock(fd, LOCK_EX) != 0) {
		*why = "cannot lock the crl directory";
		goto out;
	}
	if (ledger_revoked(l, (int64_t)now, id, collect, &rl) != LEDGER_OK ||
	    ledger_next_crl_number(l, id, &number) != LEDGER_OK) {
		*why = "cannot read revocations from the ledger";
		goto out;
	}
	if (ca_crl(c, rl.v, rl.n, number, now, days, &crl, why) != CA_OK)
		goto out;
	if ((n = i2d_X509_CRL(crl, &der)) <= 0 ||
	    !write_file(path, der, (size_t)n)) {
		*why = "cannot write the CRL";
		goto out;
	}
	ok = 1;
out:
	if (fd >= 0)
		close(fd);	/* releases the lock */
	OPENSSL_free(der);
	X509_CRL_free(crl);
	revoked_free(&rl);
	return ok;
}

unsigned char *
crl_read(const ca *c, const char *state_dir, size_t *len)
{
	char path[PATH_MAX];
	unsigned char *b = NULL;
	struct stat st;
	FILE *f;

	if (!crl_file(c, state_dir, path, sizeof(path)) ||
	    (f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fstat(fileno(f), &st) == 0 && st.st_size > 0 &&
	    st.st_size <= CRL_MAX && (b = malloc((size_t)st.st_size)) != NULL &&
	    fread(b, 1, (size_t)st.st_size, f) == (size_t)st.st_size) {
		*len = (size_t)st.st_size;
	} else {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

int
crl_refresh(const ca *c, ledger *l, const char *state_dir, int days,
    int *published, const char **why)
{
	unsigned char *der;
	const unsigned char *p;
	X509_CRL *crl = NULL;
	size_t len = 0;
	int fresh = 0, day, sec;
	ASN1_TIME *now = NULL;

	*published = 0;
	if ((der = crl_read(c, state_dir, &len)) != NULL) {
		p = der;
		crl = d2i_X509_CRL(NULL, &p, (long)len);
		now = ASN1_TIME_set(NULL, time(NULL));
		/* Fresh while more than half its validity remains. */
		if (crl != NULL && now != NULL && X509_CRL_get0_nextUpdate(crl) &&
		    ASN1_TIME_diff(&day, &sec, now, X509_CRL_get0_nextUpdate(crl)))
			fresh = (long long)day * 86400 + sec > (long long)days * 43200;
	}
	ASN1_TIME_free(now);
	X509_CRL_free(crl);
	free(der);
	if (fresh)
		return 1;
	*published = 1;
	return crl_publish(c, l, state_dir, days, why);
}
