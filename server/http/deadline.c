#include <sys/socket.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "server/http/http_int.h"

enum phase { P_HEADERS, P_BODY, P_BUSY };

struct track {
	deadlines	*d;
	int		 fd;
	enum phase	 phase;
	int64_t		 since_us;
	int		 cut;
	struct track	*prev, *next;
};

struct deadlines {
	pthread_mutex_t	 mu;
	struct track	*head;
	_Atomic int	 header_timeout, body_timeout;
};

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

deadlines *
deadlines_new(void)
{
	deadlines *d = calloc(1, sizeof(*d));

	if (d != NULL)
		pthread_mutex_init(&d->mu, NULL);
	return d;
}

void
deadlines_free(deadlines *d)
{
	struct track *t, *next;

	if (d == NULL)
		return;
	for (t = d->head; t != NULL; t = next) {
		next = t->next;
		free(t);
	}
	pthread_mutex_destroy(&d->mu);
	free(d);
}

void
deadlines_set(deadlines *d, int header_timeout, int body_timeout)
{
	d->header_timeout = header_timeout;
	d->body_timeout = body_timeout;
}

void
deadlines_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *ci;
	deadlines *d = cls;
	struct track *t = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL || (t = calloc(1, sizeof(*t))) == NULL)
			return;		/* untracked: the idle timeout still holds */
		t->d = d;
		t->fd = ci->connect_fd;
		t->phase = P_HEADERS;
		t->since_us = mono_us();
		pthread_mutex_lock(&d->mu);
		t->next = d->head;
		if (d->head != NULL)
			d->head->prev = t;
		d->head = t;
		pthread_mutex_unlock(&d->mu);
		*socket_context = t;
		return;
	}
	/* Closed: libmicrohttpd closes the socket only after this returns. */
	if (t == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		d->head = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&d->mu);
	free(t);
	*socket_context = NULL;
}

static void
enter(struct MHD_Connection *c, enum phase p)
{
	const union MHD_ConnectionInfo *ci;
	struct track *t;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci == NULL || (t = ci->socket_context) == NULL)
		return;
	pthread_mutex_lock(&t->d->mu);
	t->phase = p;
	t->since_us = mono_us();
	pthread_mutex_unlock(&t->d->mu);
}

void deadlines_headers_done(struct MHD_Connection *c) { enter(c, P_BODY); }
void deadlines_body_done(struct MHD_Connection *c) { enter(c, P_BUSY); }
void deadlines_request_done(struct MHD_Connection *c) { enter(c, P_HEADERS); }

int
deadlines_sweep(deadlines *d)
{
	int64_t now = mono_us(), limit;
	struct track *t;
	int n = 0;

	if (d == NULL)
		return 0;
	pthread_mutex_lock(&d->mu);
	for (t = d->head; t != NULL; t = t->next) {
		limit = t->phase == P_HEADERS ? d->header_timeout :
		    t->phase == P_BODY ? d->body_timeout : 0;
		if (t->cut || limit <= 0 || now - t->since_us <= limit * 1000000)
			continue;
		/* The socket is still libmicrohttpd's: only shut it down. */
		(void)shutdown(t->fd, SHUT_RDWR);
		t->cut = 1;
		n++;
	}
	pthread_mutex_unlock(&d->mu);
	if (n > 0)
		log_info("op=deadline cut=%d reason=\"request not received "
		    "within header_timeout or body_timeout\"", n);
	return n;
}
