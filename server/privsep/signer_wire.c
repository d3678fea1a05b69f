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

void
wire_put(struct wbuf *w, const void *p, size_t n)
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

void
wire_put_u32(struct wbuf *w, uint32_t v)
{
	unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };

	wire_put(w, b, 4);
}

void
wire_put_i64(struct wbuf *w, int64_t v)
{
	wire_put_u32(w, (uint32_t)((uint64_t)v >> 32));
	wire_put_u32(w, (uint32_t)v);
}

void
wire_put_blob(struct wbuf *w, const void *p, size_t n)
{
	if (n > SIGNER_MAX_FRAME) {
		w->bad = 1;
		return;
	}
	wire_put_u32(w, (uint32_t)n);
	wire_put(w, p, n);
}

void
wire_put_str(struct wbuf *w, const char *s)
{
	if (s == NULL)
		wire_put_u32(w, SIGNER_NO_STRING);
	else
		wire_put_blob(w, s, strlen(s) + 1);
}
uint32_t
wire_get_u32(struct rbuf *r)
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

int64_t
wire_get_i64(struct rbuf *r)
{
	uint64_t hi = wire_get_u32(r);

	return (int64_t)(hi << 32 | wire_get_u32(r));
}

const unsigned char *
wire_get_blob(struct rbuf *r, size_t *n)
{
	const unsigned char *p;

	*n = wire_get_u32(r);
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

const char *
wire_get_str(struct rbuf *r)
{
	const unsigned char *p;
	size_t n;

	if (!r->bad && r->left >= 4 && r->p[0] == 0xff && r->p[1] == 0xff &&
	    r->p[2] == 0xff && r->p[3] == 0xff) {
		r->p += 4;
		r->left -= 4;
		return NULL;
	}
	p = wire_get_blob(r, &n);
	if (r->bad || n == 0 || p[n - 1] != '\0' || memchr(p, '\0', n) !=
	    p + n - 1) {
		r->bad = 1;
		return NULL;
	}
	return (const char *)p;
}

int
wire_io_all(int fd, void *buf, size_t n, int writing)
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

int
wire_send_frame(int fd, const struct wbuf *w)
{
	unsigned char len[4] = { w->len >> 24, w->len >> 16, w->len >> 8,
	    w->len };

	return !w->bad && wire_io_all(fd, len, 4, 1) &&
	    wire_io_all(fd, w->b, w->len, 1);
}

/* A frame into *buf (malloc'd); 0 on EOF or error. */
int
wire_recv_frame(int fd, unsigned char **buf, size_t *n)
{
	unsigned char len[4];

	*buf = NULL;
	if (!wire_io_all(fd, len, 4, 0))
		return 0;
	*n = (size_t)len[0] << 24 | (size_t)len[1] << 16 | (size_t)len[2] << 8 |
	    len[3];
	if (*n > SIGNER_MAX_FRAME || (*buf = malloc(*n ? *n : 1)) == NULL)
		return 0;
	if (!wire_io_all(fd, *buf, *n, 0)) {
		free(*buf);
		*buf = NULL;
		return 0;
	}
	return 1;
}
