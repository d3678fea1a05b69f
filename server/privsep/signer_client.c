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

#include "server/privsep/privsep_int.h"

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
	ok = wire_send_frame(s->fds[ch], w) && wire_recv_frame(s->fds[ch], buf, &n);
	give_channel(s, ch, !ok);
	if (!ok) {
		*why = "the CA signer process is gone";
		return CA_ERROR;
	}
	r.p = *buf;
	r.left = n;
	r.bad = 0;
	rv = (int)wire_get_i64(&r);
	*why = intern(s, wire_get_str(&r));
	*der = wire_get_blob(&r, len);
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
	if (ca_id(c, id) != CA_OK)
		return 0;
	wire_put_u32(w, op);
	wire_put_str(w, id);
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
		wire_put_i64(&w, p->days);
		wire_put_str(&w, p->eku);
		wire_put_str(&w, p->crl_url);
		wire_put_str(&w, p->key_usage);
		wire_put_i64(&w, p->san_policy);
		wire_put_str(&w, p->san_allow);
		wire_put_str(&w, p->subject);
		PUT_DER(&w, i2d_X509, subject_from);
		wire_put_i64(&w, now);
		rv = call(arg, &w, &buf, &der, &len, why);
	}
	/* Its key is the CSR's, undecoded: nobody here needs it. */
	if (rv == CA_OK && (*out = ca_x509_from_der(der, len)) == NULL) {
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
		wire_put_u32(&w, (uint32_t)n);
		for (i = 0; i < n; i++) {
			wire_put_str(&w, r[i].serial);
			wire_put_i64(&w, r[i].revoked_at);
			wire_put_i64(&w, r[i].reason);
		}
		wire_put_i64(&w, number);
		wire_put_i64(&w, now);
		wire_put_i64(&w, days);
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
		wire_put_blob(&w, env, envlen);
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
	if (!wire_recv_frame(s->fds[0], &buf, &n))
		goto out;
	r.p = buf;
	r.left = n;
	r.bad = 0;
	rv = (int)wire_get_i64(&r);
	text = wire_get_str(&r);
	*created = (int)wire_get_i64(&r);
	der = wire_get_blob(&r, &len);
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
		rc = signer_child_main(child_fds, channels, dir, &copy, confine, arg);
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
