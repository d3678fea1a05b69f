#define _GNU_SOURCE	/* memmem, strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/bench/http_load.h"

#define NONE ((size_t)-1)

struct conn {
	int		 fd;
	size_t		 req;		/* index in flight, or NONE */
	int		 reused;	/* has already carried a reply */
	int		 retried;
	char		*out;
	size_t		 out_len, out_off;
	unsigned char	*in;
	size_t		 in_len, in_cap;
	int64_t		 start;
};

int64_t
load_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double
load_self_cpu_ms(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

void
load_req_clear(struct load_req *r)
{
	free(r->reply);
	r->reply = NULL;
	r->reply_len = 0;
	r->status = 0;
}

static int
dial(const char *host, int port, int nonblock)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static char *
request_bytes(const char *host, int port, const struct load_req *r,
    size_t *len)
{
	char head[512 + 8192];
	char *buf;
	int n;

	if (r->body != NULL)
		n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s:%d\r\n"
		    "Content-Type: application/x-pki-message\r\n"
		    "Content-Length: %zu\r\n\r\n", r->method, r->target, host,
		    port, r->body_len);
	else
		n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\n"
		    "Host: %s:%d\r\n\r\n", r->method, r->target, host, port);
	if (n < 0 || (size_t)n >= sizeof(head))
		return NULL;
	if ((buf = malloc((size_t)n + r->body_len)) == NULL)
		return NULL;
	memcpy(buf, head, (size_t)n);
	if (r->body != NULL)
		memcpy(buf + n, r->body, r->body_len);
	*len = (size_t)n + r->body_len;
	return buf;
}

/*
 * A complete response in c->in?  1: yes (body and status set), 0: need
 * more, -1: malformed.  Handles Content-Length and chunked bodies.
 */
static int
parse_reply(struct conn *c, struct load_req *r, int *close_after)
{
	unsigned char *end, *p, *body;
	size_t head_len, clen = 0, have, out = 0, chunk;
	char *line, *hdr, *save = NULL;
	int chunked = 0, has_len = 0;

	*close_after = 0;
	end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
	if (end == NULL)
		return 0;
	head_len = (size_t)(end - c->in) + 4;
	if ((hdr = strndup((char *)c->in, head_len)) == NULL)
		return -1;
	line = strtok_r(hdr, "\r\n", &save);
	if (line == NULL || sscanf(line, "HTTP/1.%*d %d", &r->status) != 1) {
		free(hdr);
		return -1;
	}
	while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			clen = strtoul(line + 15, NULL, 10);
			has_len = 1;
		} else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
		    strstr(line, "chunked") != NULL) {
			chunked = 1;
		} else if (strncasecmp(line, "Connection:", 11) == 0 &&
		    strcasestr(line, "close") != NULL) {
			*close_after = 1;
		}
	}
	free(hdr);
	body = c->in + head_len;
	have = c->in_len - head_len;
	if (!chunked) {
		if (!has_len)
			return -1;
		if (have < clen)
			return 0;
		if ((r->reply = malloc(clen + 1)) == NULL)
			return -1;
		memcpy(r->reply, body, clen);
		r->reply_len = clen;
		return 1;
	}
	/* Chunked: decode only once the terminating chunk is in. */
	if (memmem(body, have, "\r\n0\r\n\r\n", 7) == NULL &&
	    !(have >= 5 && memcmp(body, "0\r\n\r\n", 5) == 0))
		return 0;
	if ((r->reply = malloc(have + 1)) == NULL)
		return -1;
	p = body;
	for (;;) {
		chunk = strtoul((char *)p, NULL, 16);
		if ((p = memmem(p, have - (size_t)(p - body), "\r\n", 2)) == NULL)
			return -1;
		p += 2;
		if (chunk == 0)
			break;
		if ((size_t)(p - body) + chunk + 2 > have)
			return -1;
		memcpy(r->reply + out, p, chunk);
		out += chunk;
		p += chunk + 2;
	}
	r->reply_len = out;
	return 1;
}

static void
conn_reset(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->reused = 0;
	c->in_len = 0;
}

static int
conn_send(struct conn *c, const char *host, int port, struct load_req *reqs,
    size_t i, size_t *reconnects)
{
	free(c->out);
	if ((c->out = request_bytes(host, port, &reqs[i], &c->out_len)) == NULL)
		return 0;
	c->out_off = 0;
	c->in_len = 0;
	c->req = i;
	if (c->fd < 0) {
		if ((c->fd = dial(host, port, 1)) < 0)
			return 0;
		(*reconnects)++;
	}
	return 1;
}

int
load_run(const char *host, int port, struct load_req *reqs, size_t n, int cn,
    struct load_result *res)
{
	struct conn *cs = NULL;
	struct pollfd *pf = NULL;
	size_t next = 0, done = 0;
	int64_t t0;
	ssize_t k;
	int close_after, ret = 0, j, pr;

	memset(res, 0, sizeof(*res));
	if ((cs = calloc((size_t)cn, sizeof(*cs))) == NULL ||
	    (pf = calloc((size_t)cn, sizeof(*pf))) == NULL)
		goto out;
	for (j = 0; j < cn; j++) {
		cs[j].fd = -1;
		cs[j].req = NONE;
	}
	t0 = load_now_us();
	while (done < n) {
		for (j = 0; j < cn; j++) {
			struct conn *c = &cs[j];

			if (c->req == NONE && next < n) {
				if (!conn_send(c, host, port, reqs, next,
				    &res->reconnects)) {
					reqs[next].status = 0;
					next++;
					done++;
					conn_reset(c);
					continue;
				}
				c->start = load_now_us();
				next++;
			}
			pf[j].fd = c->req == NONE ? -1 : c->fd;
			pf[j].events = c->out_off < c->out_len ? POLLOUT : POLLIN;
			pf[j].revents = 0;
		}
		if (done >= n)
			break;
		if ((pr = poll(pf, (nfds_t)cn, 60000)) < 0 && errno != EINTR)
			goto out;
		if (pr == 0) {
			fprintf(stderr, "scepbench: no progress for 60 s\n");
			goto out;
		}
		for (j = 0; j < cn; j++) {
			struct conn *c = &cs[j];
			struct load_req *r;
			int got;

			if (pf[j].revents == 0 || c->req == NONE)
				continue;
			r = &reqs[c->req];
			if (c->out_off < c->out_len) {
				k = write(c->fd, c->out + c->out_off,
				    c->out_len - c->out_off);
				if (k < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				if (k <= 0)
					goto broken;
				c->out_off += (size_t)k;
				continue;
			}
			if (c->in_cap - c->in_len < 16384) {
				unsigned char *nb = realloc(c->in, c->in_cap + 65536);

				if (nb == NULL)
					goto out;
				c->in = nb;
				c->in_cap += 65536;
			}
			k = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
			if (k < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (k <= 0)
				goto broken;
			c->in_len += (size_t)k;
			if ((got = parse_reply(c, r, &close_after)) == 0)
				continue;
			if (got < 0)
				r->status = 0;
			r->latency_us = load_now_us() - c->start;
			c->req = NONE;
			c->reused = 1;
			c->retried = 0;
			done++;
			if (close_after || got < 0)
				conn_reset(c);
			continue;
broken:
			/* A kept-alive connection the server closed: retry once. */
			if (c->reused && c->in_len == 0 && !c->retried) {
				size_t again = c->req;

				conn_reset(c);
				c->retried = 1;
				if (conn_send(c, host, port, reqs, again,
				    &res->reconnects))
					continue;
			}
			r->status = 0;
			r->latency_us = load_now_us() - c->start;
			c->req = NONE;
			c->retried = 0;
			done++;
			conn_reset(c);
		}
	}
	res->seconds = (double)(load_now_us() - t0) / 1e6;
	ret = 1;
out:
	if (cs != NULL) {
		for (j = 0; j < cn; j++) {
			conn_reset(&cs[j]);
			free(cs[j].out);
			free(cs[j].in);
		}
	}
	/* Connections opened for the first time are not "re"-connects. */
	if (ret && res->reconnects >= (size_t)cn)
		res->reconnects -= (size_t)cn;
	free(cs);
	free(pf);
	return ret;
}

int
load_one(const char *host, int port, struct load_req *req)
{
	struct load_result res;

	return load_run(host, port, req, 1, 1, &res) && req->status != 0;
}
