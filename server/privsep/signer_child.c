#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "pkcs7/scep_certrep.h"
#include "pkcs7/scep_msg.h"
#include "server/privsep/privsep_int.h"

int
signer_nextca_der(const ca *c, unsigned char **der, size_t *len)
{
	STACK_OF(X509) *certs = NULL;
	const ca *next = ca_next(c);
	int ok = 0;

	*der = NULL;
	*len = 0;
	if (next == NULL)
		return 1;
	if ((certs = sk_X509_new_null()) != NULL &&
	    (ca_ra_cert_get0(next) == NULL ||
	    sk_X509_push(certs, ca_ra_cert_get0(next))) &&
	    sk_X509_push(certs, ca_cert_get0(next)) &&
	    scep_next_ca_der(ca_cert_get0(c), ca_key_get0(c), certs, der,
	    len) == SCEP_OK)
		ok = 1;
	sk_X509_free(certs);
	return ok;
}

/* ---- The signer process ---- */

/* The generation a request names by ca_id. */
static const ca *
generation(const ca *c, const char *id)
{
	return id != NULL ? ca_by_id(c, id) : NULL;
}

static void
do_sign(const ca *root, struct rbuf *r, struct wbuf *w)
{
	const char *id = wire_get_str(r), *why = "malformed signer request";
	struct ca_profile p;
	const unsigned char *der, *from_der;
	unsigned char *cert = NULL;
	size_t len, from_len, cert_len = 0;
	X509_REQ *req = NULL;
	X509 *from = NULL;
	const ca *c;
	time_t now;
	int rv = CA_ERROR;

	memset(&p, 0, sizeof(p));
	der = wire_get_blob(r, &len);
	p.days = (int)wire_get_i64(r);
	p.eku = wire_get_str(r);
	p.crl_url = wire_get_str(r);
	p.key_usage = wire_get_str(r);
	p.san_policy = (int)wire_get_i64(r);
	p.san_allow = wire_get_str(r);
	p.subject = wire_get_str(r);
	from_der = wire_get_blob(r, &from_len);
	now = (time_t)wire_get_i64(r);
	if (r->bad || r->left != 0 || (c = generation(root, id)) == NULL)
		goto out;
	if ((rv = ca_csr_parse(der, len, &req, &why)) != CA_OK)
		goto out;
	if (from_len > 0 && (from = ca_x509_from_der(from_der,
	    from_len)) == NULL) {
		rv = CA_ERROR;
		goto out;
	}
	/* The network-facing process checked it; a signer checks again. */
	if ((rv = ca_csr_check(req, &why)) != CA_OK)
		goto out;
	rv = ca_sign_der(c, req, &p, from, now, &cert, &cert_len, &why);
out:
	wire_put_i64(w, rv);
	wire_put_str(w, why);
	wire_put_blob(w, cert, cert_len);
	X509_REQ_free(req);
	X509_free(from);
	OPENSSL_free(cert);
}

static void
do_crl(const ca *root, struct rbuf *r, struct wbuf *w)
{
	const char *id = wire_get_str(r), *why = "malformed signer request";
	struct ca_revoked *v = NULL;
	X509_CRL *crl = NULL;
	int64_t number, now, days;
	uint32_t n = wire_get_u32(r), i;
	const ca *c;
	int rv = CA_ERROR;

	if (r->bad || n > r->left / 21 || (v = calloc(n ? n : 1,
	    sizeof(*v))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		v[i].serial = wire_get_str(r);
		v[i].revoked_at = (time_t)wire_get_i64(r);
		v[i].reason = (int)wire_get_i64(r);
	}
	number = wire_get_i64(r);
	now = wire_get_i64(r);
	days = wire_get_i64(r);
	if (r->bad || r->left != 0 || (c = generation(root, id)) == NULL)
		goto out;
	rv = ca_crl(c, v, n, number, (time_t)now, (int)days, &crl, &why);
out:
	wire_put_i64(w, rv);
	wire_put_str(w, why);
	PUT_DER(w, i2d_X509_CRL, crl);
	X509_CRL_free(crl);
	free(v);
}

static void
do_decrypt(const ca *root, struct rbuf *r, struct wbuf *w)
{
	const char *id = wire_get_str(r), *why = "malformed signer request";
	const unsigned char *env;
	unsigned char *plain = NULL;
	size_t len, plain_len = 0;
	const ca *c;
	int rv = CA_ERROR;

	env = wire_get_blob(r, &len);
	if (r->bad || r->left != 0 || (c = generation(root, id)) == NULL)
		goto out;
	rv = ca_decrypt(c, scep_envelope_open_ca, env, len, &plain, &plain_len,
	    &why);
out:
	wire_put_i64(w, rv);
	wire_put_str(w, why);
	wire_put_blob(w, plain, plain_len);
	if (plain != NULL)
		OPENSSL_clear_free(plain, plain_len);
}

void
signer_answer(const ca *root, const unsigned char *frame, size_t n,
    struct wbuf *w)
{
	struct rbuf r = { frame, n, 0 };

	switch (wire_get_u32(&r)) {
	case OP_SIGN:
		do_sign(root, &r, w);
		break;
	case OP_CRL:
		do_crl(root, &r, w);
		break;
	case OP_DECRYPT:
		do_decrypt(root, &r, w);
		break;
	default:
		wire_put_i64(w, CA_ERROR);
		wire_put_str(w, "unknown signer request");
		wire_put_blob(w, NULL, 0);
		break;
	}
}

struct serve_arg {
	const ca	*ca;
	int		 fd;
	pthread_t	 thread;
};

/* One channel: answer requests until the parent closes it. */
static void *
serve(void *arg)
{
	struct serve_arg *a = arg;
	unsigned char *buf;
	size_t n;
	struct wbuf w;
	int ok = 1;

	while (ok && wire_recv_frame(a->fd, &buf, &n)) {
		memset(&w, 0, sizeof(w));
		signer_answer(a->ca, buf, n, &w);
		ok = wire_send_frame(a->fd, &w);
		free(buf);
		free(w.b);
	}
	return NULL;
}

/* Every descriptor but stdio and the channels goes. */
static void
close_others(const int *keep, size_t n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int fd, i, kept;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		kept = fd <= 2 || fd == dirfd(d);
		for (i = 0; i < (int)n && !kept; i++)
			kept = keep[i] == fd;
		if (!kept)
			close(fd);
	}
	closedir(d);
}

int
signer_child_main(int *fds, size_t n, const char *dir, struct ca_params *p,
    int (*confine)(void *, const char **), void *arg)
{
	struct serve_arg *sa = NULL;
	unsigned char *nextca = NULL;
	const char *why = "out of memory";
	struct wbuf w;
	size_t nextca_len = 0, i, started = 0;
	int created = 0, rv;
	ca *c = NULL;

	memset(&w, 0, sizeof(w));
	close_others(fds, n);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	rv = ca_open(dir, p, &created, &c, &why);
	ca_params_wipe(p);
	if (rv == CA_OK && !signer_nextca_der(c, &nextca, &nextca_len)) {
		why = "cannot sign the GetNextCACert reply";
		rv = CA_ERROR;
	}
	if (rv == CA_OK && confine != NULL && !confine(arg, &why))
		rv = CA_ERROR;
	wire_put_i64(&w, rv);
	wire_put_str(&w, why);
	wire_put_i64(&w, created);
	wire_put_blob(&w, nextca, nextca_len);
	OPENSSL_free(nextca);
	if (!wire_send_frame(fds[0], &w) || rv != CA_OK)
		goto out;
	if ((sa = calloc(n, sizeof(*sa))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		sa[i].ca = c;
		sa[i].fd = fds[i];
	}
	for (started = 1; started < n; started++)
		if (pthread_create(&sa[started].thread, NULL, serve,
		    &sa[started]) != 0)
			break;
	serve(&sa[0]);
	for (i = 1; i < started; i++)
		pthread_join(sa[i].thread, NULL);
out:
	free(sa);
	free(w.b);
	ca_free(c);
	for (i = 0; i < n; i++)
		close(fds[i]);
	return rv == CA_OK ? 0 : 1;
}
