#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "server/http/http_int.h"

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("http: %s", buf);
}

static void
limits_of(const struct scepd_config *cfg, struct http_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->max_connections = (unsigned int)cfg->max_connections;
	l->per_ip = (unsigned int)cfg->max_connections_per_ip;
	l->timeout = (unsigned int)cfg->timeout;
	/* The request line must fit: iOS sends 64 KiB GET URLs. */
	l->memory = (size_t)cfg->max_url + 16384;
}

#define DAEMON_OPTIONS(s, l, threads)					\
	MHD_OPTION_THREAD_POOL_SIZE, (threads),				\
	MHD_OPTION_CONNECTION_LIMIT, (l)->max_connections,		\
	MHD_OPTION_PER_IP_CONNECTION_LIMIT, (l)->per_ip,		\
	MHD_OPTION_CONNECTION_TIMEOUT, (l)->timeout,			\
	MHD_OPTION_CONNECTION_MEMORY_LIMIT, (l)->memory,		\
	MHD_OPTION_NOTIFY_COMPLETED, http_completed, (s),			\
	MHD_OPTION_NOTIFY_CONNECTION, deadlines_notify, (s)->deadlines,	\
	MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,			\
	MHD_OPTION_END

/*
 * A daemon on sa, or on listen_fd (a reload hands the socket over, so
 * not one connection attempt is refused in between).  libmicrohttpd's
 * threads, one per CPU, only move bytes; PKIOperations run on the pool.
 */
static struct MHD_Daemon *
start_daemon(http_server *s, const struct http_limits *l,
    const struct sockaddr *sa, MHD_socket listen_fd)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
	    MHD_ALLOW_SUSPEND_RESUME | (s->v6 ? MHD_USE_IPv6 : 0);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned int threads = ncpu > 0 ? (unsigned int)ncpu : 1;

	if (listen_fd != MHD_INVALID_SOCKET)
		return MHD_start_daemon(flags, 0, NULL, NULL, http_handle, s,
		    MHD_OPTION_LISTEN_SOCKET, listen_fd,
		    DAEMON_OPTIONS(s, l, threads));
	return MHD_start_daemon(flags, 0, NULL, NULL, http_handle, s,
	    MHD_OPTION_SOCK_ADDR, sa, DAEMON_OPTIONS(s, l, threads));
}

/* Deadlines, then the replaced daemons whose last connection has gone. */
void
http_reap(http_server *s)
{
	const union MHD_DaemonInfo *di;
	int i = 0;

	if (s != NULL)
		deadlines_sweep(s->deadlines);
	while (s != NULL && i < s->n_old) {
		di = MHD_get_daemon_info(s->old[i],
		    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (di != NULL && di->num_connections == 0) {
			MHD_stop_daemon(s->old[i]);
			s->old[i] = s->old[--s->n_old];
			log_debug("reload: the replaced listener's last connection "
			    "closed; it is stopped");
		} else {
			i++;
		}
	}
}

int
http_reload(http_server *s, const struct scepd_config *cfg, const char **why)
{
	struct http_limits l;
	struct MHD_Daemon *fresh;
	MHD_socket fd;
	int ok = 0;

	s->max_body = cfg->max_body;
	deadlines_set(s->deadlines, cfg->header_timeout, cfg->body_timeout);
	limits_of(cfg, &l);
	if (memcmp(&l, &s->limits, sizeof(l)) == 0)
		return 1;
	http_reap(s);
	if (s->n_old == (int)(sizeof(s->old) / sizeof(s->old[0]))) {
		*why = "connection limits not changed: earlier daemons still "
		    "serve connections; reload again later";
		return 0;
	}
	/*
	 * New limits need a new daemon: it takes over the listening socket;
	 * the old one keeps its open connections until they end.
	 */
	if ((fd = MHD_quiesce_daemon(s->daemon)) == MHD_INVALID_SOCKET) {
		*why = "cannot hand the listening socket over";
		return 0;
	}
	if ((fresh = start_daemon(s, &l, NULL, fd)) != NULL) {
		s->limits = l;
		ok = 1;
	} else {
		*why = "connection limits refused; the old ones stay";
		if ((fresh = start_daemon(s, &s->limits, NULL, fd)) == NULL) {
			*why = "cannot listen again after a reload: restart scepd";
			return 0;
		}
	}
	s->old[s->n_old++] = s->daemon;
	s->daemon = fresh;
	return ok;
}

void
http_stop(http_server *s)
{
	if (s == NULL)
		return;
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int i;

	/*
	 * SIGTERM: accept nothing new, let the workers finish the queued
	 * PKIOperations (they resume their connections), then give the
	 * replies up to 10 s to be written before closing what is left.
	 */
	if (s->daemon != NULL)
		MHD_quiesce_daemon(s->daemon);
	workq_stop(s->workers);
	for (i = 0; i < 1000 && s->in_flight > 0 && s->daemon != NULL; i++)
		nanosleep(&tick, NULL);
	if (s->daemon != NULL)
		MHD_stop_daemon(s->daemon);
	while (s->n_old > 0)
		MHD_stop_daemon(s->old[--s->n_old]);
	/* No libmicrohttpd thread is left to submit to it. */
	workq_free(s->workers);
	deadlines_free(s->deadlines);
	free(s->cacert);
	free(s);
}

int
http_start(const struct scepd_config *cfg, struct enroll_ctx *e,
    const struct http_admin *admin, http_server **out, int *port,
    const char **why)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	http_server *s = NULL;
	int v6, ret = 0;

	*out = NULL;
	if (!setup_sockaddr(cfg->listen, &ss, &v6, why))
		return 0;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		*why = "out of memory";
		return 0;
	}
	s->v6 = v6;
	s->enroll = e;
	s->admin = *admin;
	ratelimit_init(&s->page_failures, HTTP_PAGE_FAILURES,
	    HTTP_PAGE_FAILURE_WINDOW);
	s->max_body = cfg->max_body;
	if ((s->deadlines = deadlines_new()) == NULL) {
		*why = "out of memory";
		goto out;
	}
	deadlines_set(s->deadlines, cfg->header_timeout, cfg->body_timeout);
	/* RFC 8894 3.5.2: GetNextCACert only while a next CA exists. */
	snprintf(s->caps_buf, sizeof(s->caps_buf), "%s%s",
	    http_caps_text(cfg->legacy_algorithms),
	    enroll_has_next_ca(e) ? "GetNextCACert\n" : "");
	s->caps = s->caps_buf;
	/* GetNextCACert: made at start where the CA key is (see privsep). */
	s->nextca = enroll_nextca(e, &s->nextca_len);
	if (!enroll_cacert(e, &s->cacert, &s->cacert_len, &s->cacert_type)) {
		*why = "cannot encode the GetCACert reply";
		goto out;
	}
	if ((s->workers = workq_start(setup_worker_threads(cfg),
	    http_pkioperation_job)) == NULL) {
		*why = "cannot start the worker threads";
		goto out;
	}
	limits_of(cfg, &s->limits);
	s->daemon = start_daemon(s, &s->limits, (struct sockaddr *)&ss,
	    MHD_INVALID_SOCKET);
	if (s->daemon == NULL) {
		*why = "cannot listen (address in use or not permitted?)";
		goto out;
	}
	di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	*port = di != NULL ? di->port : 0;
	*out = s;
	s = NULL;
	ret = 1;
out:
	http_stop(s);
	return ret;
}
