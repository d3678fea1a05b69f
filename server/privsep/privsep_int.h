/*
 * Inside server/privsep only; privsep.h is the way in.
 *   signer_wire.c    the frames the two processes exchange
 *   signer_child.c   the signer process: opens the CA, answers requests
 *   signer_client.c  the network-facing side: start, channels, ca_remote
 *   sandbox.c        uid/gid drop, seccomp, not dumpable
 */
#ifndef SCEPD_PRIVSEP_INT_H
#define SCEPD_PRIVSEP_INT_H

#include <pthread.h>
#include <stdint.h>

#include "server/privsep/privsep.h"

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

void wire_put(struct wbuf *w, const void *p, size_t n);
void wire_put_u32(struct wbuf *w, uint32_t v);
void wire_put_i64(struct wbuf *w, int64_t v);
void wire_put_blob(struct wbuf *w, const void *p, size_t n);
/* NULL is sent as SIGNER_NO_STRING. */
void wire_put_str(struct wbuf *w, const char *s);
/* i2d of an X509, X509_REQ or X509_CRL into the buffer; NULL: empty. */
#define PUT_DER(w, i2d, x) do {						\
	unsigned char *der_ = NULL;					\
	int n_ = (x) != NULL ? i2d((x), &der_) : 0;			\
	if (n_ < 0)							\
		(w)->bad = 1;						\
	else								\
		wire_put_blob((w), der_, (size_t)n_);			\
	OPENSSL_free(der_);						\
} while (0)

/*
 * Readers: past the end or on a malformed field r->bad is set and they
 * return 0 / NULL; check r->bad once after the last field.
 */
uint32_t wire_get_u32(struct rbuf *r);
int64_t wire_get_i64(struct rbuf *r);
/* A byte string pointing into the frame; *n its length. */
const unsigned char *wire_get_blob(struct rbuf *r, size_t *n);
/* A NUL-terminated text, or NULL when SIGNER_NO_STRING was sent. */
const char *wire_get_str(struct rbuf *r);
/* read or write all n bytes, retrying on EINTR; 0 on EOF or error. */
int wire_io_all(int fd, void *buf, size_t n, int writing);
int wire_send_frame(int fd, const struct wbuf *w);
/* A frame into *buf (malloc'd); 0 on EOF or error. */
int wire_recv_frame(int fd, unsigned char **buf, size_t *n);

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

/*
 * signer_child.c: one request frame (from the network-facing process,
 * so untrusted) answered into w: result, reason, DER.
 */
void signer_answer(const ca *root, const unsigned char *frame, size_t n,
    struct wbuf *w);
/* The child after fork; never returns to the caller's code. */
int signer_child_main(int *fds, size_t n, const char *dir, struct ca_params *p,
    int (*confine)(void *arg, const char **why), void *arg);

#endif
