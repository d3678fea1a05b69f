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
#include "server/signer.h"

/*
 * The wire: each message is a 4-byte length and that many bytes of fields
 * (big-endian integers; byte strings as a 4-byte length and the bytes;
 * text as a byte string with its NUL, 0xffffffff for NULL).  Requests
 * start with an op; replies carry a ca_result, a reason and a DER blob.
 */
#define SIGNER_MAX_FRAME	(64u * 1024 * 1024)
#define SIGNER_NO_STRING	0xffffffffu
#define SIGNER_MAX_WHYS		256

enum signer_op { OP_SIGN = 1, OP_CRL = 2, OP_DECRYPT = 3 };

struct wbuf {
	unsigned char	*b;
	size_t		 len, cap;
	int		 bad;
};

struct rbuf {
	const unsigned char *p;
	size_t		 left;
	int		 bad;
};

struct signer {
	pid_t		 pid;
	int		 exited;
	int		*fds;		/* the parent's ends */
	int		*busy;
	size_t		 n;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	/* Reasons received, kept for the callers' static-string contract. */
	char		*whys[SIGNER_MAX_WHYS];
	size_t		 n_whys;
	unsigned char	*nextca;
	size_t		 nextca_len;
};

static void
put(struct wbuf *w, const void *p, size_t n)
{
	unsigned char *nb;
	size_t cap;

	if (w->bad || n == 0)
		return;
	if (w->len + n > w->cap) {
		cap = w->cap ? w->cap : 256;
		while (cap < w->len + n)
			cap *= 2;
		if (cap > SIGNER_MAX_FRAME || (nb = realloc(w->b, cap)) == NULL) {
			w->bad = 1;
			return;
		}
		w->b = nb;
		w->cap = cap;
	}
	memcpy(w->b + w->len, p, n);
	w->len += n;
}

static void
put_u32(struct wbuf *w, uint32_t v)
{
	unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };

	put(w, b, 4);
}

static void
put_i64(struct wbuf *w, int64_t v)
{
	put_u32(w, (uint32_t)((uint64_t)v >> 32));
	put_u32(w, (uint32_t)v);
}

static void
put_blob(struct wbuf *w, const void *p, size_t n)
{
	if (n > SIGNER_MAX_FRAME) {
		w->bad = 1;
		return;
	}
	put_u32(w, (uint32_t)n);
	put(w, p, n);
}

static void
put_str(struct wbuf *w, const char *s)
{
	if (s == NULL)
		put_u32(w, SIGNER_NO_STRING);
	else
		put_blob(w, s, strlen(s) + 1);
}

/* i2d of an X509, X509_REQ or X509_CRL into the buffer; NULL: empty. */
#define PUT_DER(w, i2d, x) do {						\
	unsigned char *der_ = NULL;					\
	int n_ = (x) != NULL ? i2d((x), &der_) : 0;			\
	if (n_ < 0)							\
		(w)->bad = 1;						\
	else								\
		put_blob((w), der_, (size_t)n_);			\
	OPENSSL_free(der_);						\
} while (0)

static uint32_t
get_u32(struct rbuf *r)
{
	uint32_t v;

	if (r->bad || r->left < 4) {
		r->bad = 1;
		return 0;
	}
	v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return v;
}

static int64_t
get_i64(struct rbuf *r)
{
	uint64_t hi = get_u32(r);

	return (int64_t)(hi << 32 | get_u32(r));
}

static const unsigned char *
get_blob(struct rbuf *r, size_t *n)
{
	const unsigned char *p;

	*n = get_u32(r);
	if (r->bad || *n > r->left) {
		r->bad = 1;
		*n = 0;
		return NULL;
	}
	p = r->p;
	r->p += *n;
	r->left -= *n;
	return p;
}

static const char *
get_str(struct rbuf *r)
{
	const unsigned char *p;
	size_t n;

	if (!r->bad && r->left >= 4 && r->p[0] == 0xff && r->p[1] == 0xff &&
	    r->p[2] == 0xff && r->p[3] == 0xff) {
		r->p += 4;
		r->left -= 4;
		return NULL;
	}
	p = get_blob(r, &n);
	if (r->bad || n == 0 || p[n - 1] != '\0' || memchr(p, '\0', n) !=
	    p + n - 1) {
		r->bad = 1;
		return NULL;
	}
	return (const char *)p;
}

static int
io_all(int fd, void *buf, size_t n, int writing)
{
	unsigned char *p = buf;
	ssize_t k;

	while (n > 0) {
		k = writing ? send(fd, p, n, MSG_NOSIGNAL) : read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return 0;
		p += k;
		n -= (size_t)k;
	}
	return 1;
}

static int
send_frame(int fd, const struct wbuf *w)
{
	unsigned char len[4] = { w->len >> 24, w->len >> 16, w->len >> 8,
	    w->len };

	return !w->bad && io_all(fd, len, 4, 1) && io_all(fd, w->b, w->len, 1);
}

/* A frame into *buf (malloc'd); 0 on EOF or error. */
static int
recv_frame(int fd, unsigned char **buf, size_t *n)
{
	unsigned char len[4];

	*buf = NULL;
	if (!io_all(fd, len, 4, 0))
		return 0;
	*n = (size_t)len[0] << 24 | (size_t)len[1] << 16 | (size_t)len[2] << 8 |
	    len[3];
	if (*n > SIGNER_MAX_FRAME || (*buf = malloc(*n ? *n : 1)) == NULL)
		return 0;
	if (!io_all(fd, *buf, *n, 0)) {
		free(*buf);
		*buf = NULL;
		return 0;
	}
	return 1;
}

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
	const char *id = get_str(r), *why = "malformed signer request";
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
	der = get_blob(r, &len);
	p.days = (int)get_i64(r);
	p.eku = get_str(r);
	p.crl_url = get_str(r);
	p.key_usage = get_str(r);
	p.san_policy = (int)get_i64(r);
	p.san_allow = get_str(r);
	p.subject = get_str(r);
	from_der = get_blob(r, &from_len);
	now = (time_t)get_i64(r);
	if (r->bad || r->left != 0 || (c = generation(root, id)) == NULL)
		goto out;
	if ((rv = ca_csr_parse(der, len, &req, &why)) != CA_OK)
		goto out;
	if (from_len > 0 && (from = scep_x509_from_der(from_der,
	    from_len)) == NULL) {
		rv = CA_ERROR;
		goto out;
	}
	/* The network-facing process checked it; a signer checks again. */
	if ((rv = ca_csr_check(req, &why)) != CA_OK)
		goto out;
	rv = ca_sign_der(c, req, &p, from, now, &cert, &cert_len, &why);
out:
	put_i64(w, rv);
	put_str(w, why);
	put_blob(w, cert, cert_len);
	X509_REQ_free(req);
	X509_free(from);
	OPENSSL_free(cert);
}

static void
do_crl(const ca *root, struct rbuf *r, struct wbuf *w)
{
	const char *id = get_str(r), *why = "malformed signer request";
	struct ca_revoked *v = NULL;
	X509_CRL *crl = NULL;
	int64_t number, now, days;
	uint32_t n = get_u32(r), i;
	const ca *c;
	int rv = CA_ERROR;

	if (r->bad || n > r->left / 21 || (v = calloc(n ? n : 1,
	    sizeof(*v))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		v[i].serial = get_str(r);
		v[i].revoked_at = (time_t)get_i64(r);
		v[i].reason = (int)get_i64(r);
	}
	number = get_i64(r);
	now = get_i64(r);
	days = get_i64(r);
	if (r->bad || r->left != 0 || (c = generation(root, id)) == NULL)
		goto out;
	rv = ca_crl(c, v, n, number, (time_t)now, (int)days, &crl, &why);
out:
	put_i64(w, rv);
	put_str(w, why);
	PUT_DER(w, i2d_X509_CRL, crl);
	X509_CRL_free(crl);
	free(v);
}

static void
do_decrypt(const ca *root, struct rbuf *r, struct wbuf *w)
{
	const char *id = get_str(r), *why = "malformed signer request";
	const unsigned char *env;
	unsigned char *plain = NULL;
	size_t len, plain_len = 0;
	const ca *c;
	int rv = CA_ERROR;

	env = get_blob(r, &len);
	if (r->bad || r->left != 0 || (c = generation(root, id)) == NULL)
		goto out;
	rv = ca_decrypt(c, env, len, &plain, &plain_len, &why);
out:
	put_i64(w, rv);
	put_str(w, why);
	put_blob(w, plain, plain_len);
	if (plain != NULL)
		OPENSSL_clear_free(plain, plain_len);
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
	struct rbuf r;
	struct wbuf w;
	int ok = 1;

	while (ok && recv_frame(a->fd, &buf, &n)) {
		memset(&w, 0, sizeof(w));
		r.p = buf;
		r.left = n;
		r.bad = 0;
		switch (get_u32(&r)) {
		case OP_SIGN:
			do_sign(a->ca, &r, &w);
			break;
		case OP_CRL:
			do_crl(a->ca, &r, &w);
			break;
		case OP_DECRYPT:
			do_decrypt(a->ca, &r, &w);
			break;
		default:
			put_i64(&w, CA_ERROR);
			put_str(&w, "unknown signer request");
			put_blob(&w, NULL, 0);
			break;
		}
		ok = send_frame(a->fd, &w);
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

static int
child_main(int *fds, size_t n, const char *dir, struct ca_params *p,
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
	put_i64(&w, rv);
	put_str(&w, why);
	put_i64(&w, created);
	put_blob(&w, nextca, nextca_len);
	OPENSSL_free(nextca);
	if (!send_frame(fds[0], &w) || rv != CA_OK)
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

/* ---- The network-facing side ---- */

static int
take_channel(signer *s)
{
	size_t i;
	int fd = -1;

	pthread_mutex_lock(&s->mu);
	while (!s->exited && fd < 0) {
		for (i = 0; i < s->n && fd < 0; i++)
			if (!s->busy[i] && s->fds[i] >= 0) {
				s->busy[i] = 1;
				fd = (int)i;
			}
		if (fd < 0)
			pthread_cond_wait(&s->cv, &s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return fd;
}

static void
give_channel(signer *s, int i, int broken)
{
	pthread_mutex_lock(&s->mu);
	s->busy[i] = 0;
	if (broken) {
		close(s->fds[i]);
		s->fds[i] = -1;
		s->exited = 1;	/* a channel broke: the signer is gone */
		pthread_cond_broadcast(&s->cv);
	} else {
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
}

/* The reason as a string that lives as long as the signer. */
static const char *
intern(signer *s, const char *why)
{
	const char *out = "the CA signer failed";
	size_t i;

	if (why == NULL)
		return out;
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->n_whys; i++)
		if (strcmp(s->whys[i], why) == 0)
			break;
	if (i < s->n_whys)
		out = s->whys[i];
	else if (s->n_whys < SIGNER_MAX_WHYS &&
	    (s->whys[s->n_whys] = strdup(why)) != NULL)
		out = s->whys[s->n_whys++];
	pthread_mutex_unlock(&s->mu);
	return out;
}

/*
 * One round trip.  *der points into *buf (the caller frees it); the
 * result is the signer's ca_result.
 */
static int
call(signer *s, const struct wbuf *w, unsigned char **buf,
    const unsigned char **der, size_t *len, const char **why)
{
	struct rbuf r;
	size_t n;
	int ch, ok, rv;

	*buf = NULL;
	*der = NULL;
	*len = 0;
	if (w->bad) {
		*why = "signer request too large";
		return CA_ERROR;
	}
	if ((ch = take_channel(s)) < 0) {
		*why = "the CA signer process is gone";
		return CA_ERROR;
	}
	ok = send_frame(s->fds[ch], w) && recv_frame(s->fds[ch], buf, &n);
	give_channel(s, ch, !ok);
	if (!ok) {
		*why = "the CA signer process is gone";
		return CA_ERROR;
	}
	r.p = *buf;
	r.left = n;
	r.bad = 0;
	rv = (int)get_i64(&r);
	*why = intern(s, get_str(&r));
	*der = get_blob(&r, len);
	if (r.bad || r.left != 0) {
		*why = "malformed reply from the CA signer";
		return CA_ERROR;
	}
	return rv;
}

static int
start_request(struct wbuf *w, enum signer_op op, const ca *c)
{
	char id[CA_ID_LEN + 1];

	memset(w, 0, sizeof(*w));
	if (!ca_id(c, id))
		return 0;
	put_u32(w, op);
	put_str(w, id);
	return 1;
}

static int
remote_sign(void *arg, const ca *c, X509_REQ *req, const struct ca_profile *p,
    X509 *subject_from, time_t now, X509 **out, const char **why)
{
	const unsigned char *der = NULL;
	unsigned char *buf = NULL;
	struct wbuf w;
	size_t len;
	int rv = CA_ERROR;

	*out = NULL;
	if (start_request(&w, OP_SIGN, c)) {
		PUT_DER(&w, i2d_X509_REQ, req);
		put_i64(&w, p->days);
		put_str(&w, p->eku);
		put_str(&w, p->crl_url);
		put_str(&w, p->key_usage);
		put_i64(&w, p->san_policy);
		put_str(&w, p->san_allow);
		put_str(&w, p->subject);
		PUT_DER(&w, i2d_X509, subject_from);
		put_i64(&w, now);
		rv = call(arg, &w, &buf, &der, &len, why);
	}
	/* Its key is the CSR's, undecoded: nobody here needs it. */
	if (rv == CA_OK && (*out = scep_x509_from_der(der, len)) == NULL) {
		*why = "the CA signer sent no certificate";
		rv = CA_ERROR;
	}
	free(buf);
	free(w.b);
	return rv;
}

static int
remote_crl(void *arg, const ca *c, const struct ca_revoked *r, size_t n,
    int64_t number, time_t now, int days, X509_CRL **out, const char **why)
{
	const unsigned char *der, *end = NULL;
	unsigned char *buf = NULL;
	struct wbuf w;
	size_t len, i;
	int rv = CA_ERROR;

	*out = NULL;
	memset(&w, 0, sizeof(w));
	if (n <= UINT32_MAX && start_request(&w, OP_CRL, c)) {
		put_u32(&w, (uint32_t)n);
		for (i = 0; i < n; i++) {
			put_str(&w, r[i].serial);
			put_i64(&w, r[i].revoked_at);
			put_i64(&w, r[i].reason);
		}
		put_i64(&w, number);
		put_i64(&w, now);
		put_i64(&w, days);
		rv = call(arg, &w, &buf, &der, &len, why);
		end = der + len;
	}
	if (rv == CA_OK && ((*out = d2i_X509_CRL(NULL, &der, (long)len)) == NULL ||
	    der != end)) {
		X509_CRL_free(*out);
		*out = NULL;
		*why = "the CA signer sent no CRL";
		rv = CA_ERROR;
	}
	free(buf);
	free(w.b);
	return rv;
}

static int
remote_decrypt(void *arg, const ca *c, const unsigned char *env, size_t envlen,
    unsigned char **out, size_t *outlen, const char **why)
{
	const unsigned char *plain;
	unsigned char *buf = NULL;
	struct wbuf w;
	size_t len = 0;
	int rv = CA_ERROR;

	*out = NULL;
	*outlen = 0;
	if (start_request(&w, OP_DECRYPT, c)) {
		put_blob(&w, env, envlen);
		rv = call(arg, &w, &buf, &plain, &len, why);
	}
	if (rv == CA_OK) {
		if (len == 0 || (*out = OPENSSL_malloc(len)) == NULL) {
			rv = CA_ERROR;
		} else {
			memcpy(*out, plain, len);
			*outlen = len;
		}
	}
	free(buf);
	free(w.b);
	return rv;
}

static const struct ca_remote signer_remote = {
	.sign = remote_sign,
	.crl = remote_crl,
	.decrypt = remote_decrypt,
};

void
signer_attach(signer *s, ca *c)
{
	ca_set_remote(c, &signer_remote, s);
}

const unsigned char *
signer_nextca(const signer *s, size_t *len)
{
	*len = s->nextca_len;
	return s->nextca;
}

pid_t
signer_pid(const signer *s)
{
	return s->pid;
}

int
signer_alive(signer *s)
{
	int status;

	if (s->pid > 0 && waitpid(s->pid, &status, WNOHANG) == s->pid)
		s->pid = -1;
	return s->pid > 0;
}

int
signer_stop(signer *s)
{
	size_t i;
	int status = 0, clean = 1;

	if (s == NULL)
		return 1;
	for (i = 0; i < s->n; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	if (s->pid > 0) {
		while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
			;
		/* A sanitizer or valgrind report in the child shows here. */
		clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	for (i = 0; i < s->n_whys; i++)
		free(s->whys[i]);
	free(s->fds);
	free(s->busy);
	free(s->nextca);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
	return clean;
}

/* The child's first frame: result, reason, created, GetNextCACert. */
static int
read_ready(signer *s, int *created, const char **why)
{
	static char reason[256];
	unsigned char *buf = NULL;
	const unsigned char *der;
	const char *text;
	struct rbuf r;
	size_t n, len;
	int rv = CA_ERROR;

	*why = "the CA signer process died at start";
	if (!recv_frame(s->fds[0], &buf, &n))
		goto out;
	r.p = buf;
	r.left = n;
	r.bad = 0;
	rv = (int)get_i64(&r);
	text = get_str(&r);
	*created = (int)get_i64(&r);
	der = get_blob(&r, &len);
	if (r.bad || r.left != 0) {
		rv = CA_ERROR;
		*why = "malformed start message from the CA signer";
		goto out;
	}
	if (rv != CA_OK) {
		/* Start-up runs on one thread: a static buffer will do. */
		snprintf(reason, sizeof(reason), "%s", text ? text : "failed");
		*why = reason;
		goto out;
	}
	if (len > 0 && (s->nextca = malloc(len)) == NULL) {
		rv = CA_ERROR;
		goto out;
	}
	if (len > 0)
		memcpy(s->nextca, der, len);
	s->nextca_len = len;
out:
	free(buf);
	return rv;
}

int
signer_start(const char *dir, const struct ca_params *p, size_t channels,
    int (*confine)(void *arg, const char **why), void *arg, int *created,
    signer **out, const char **why)
{
	signer *s = NULL;
	int *child_fds = NULL, pair[2], ret = CA_ERROR;
	size_t i;

	*out = NULL;
	*created = 0;
	*why = "cannot start the CA signer process";
	if (channels == 0)
		channels = 1;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->fds = malloc(channels * sizeof(int))) == NULL ||
	    (s->busy = calloc(channels, sizeof(int))) == NULL ||
	    (child_fds = malloc(channels * sizeof(int))) == NULL) {
		if (s != NULL) {
			free(s->fds);
			free(s->busy);
		}
		free(s);
		free(child_fds);
		return CA_ERROR;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	for (i = 0; i < channels; i++)
		s->fds[i] = child_fds[i] = -1;
	s->n = channels;
	s->pid = -1;
	for (i = 0; i < channels; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
			goto out;
		s->fds[i] = pair[0];
		child_fds[i] = pair[1];
	}
	fflush(NULL);
	if ((s->pid = fork()) < 0)
		goto out;
	if (s->pid == 0) {
		struct ca_params copy = *p;
		int rc;

		for (i = 0; i < channels; i++)
			close(s->fds[i]);
		s->n = 0;
		signer_stop(s);
		rc = child_main(child_fds, channels, dir, &copy, confine, arg);
		free(child_fds);
		exit(rc);
	}
	for (i = 0; i < channels; i++) {
		close(child_fds[i]);
		child_fds[i] = -1;
	}
	if ((ret = read_ready(s, created, why)) != CA_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	if (child_fds != NULL)
		for (i = 0; i < channels; i++)
			if (child_fds[i] >= 0)
				close(child_fds[i]);
	free(child_fds);
	signer_stop(s);
	return ret;
}
