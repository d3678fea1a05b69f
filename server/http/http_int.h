/*
 * Inside server/http only; http.h is the way in.
 *   http_server.c          daemons: start, reload, reap, stop
 *   http_route.c           the access handler: paths, methods, the log line
 *   http_scep.c            the SCEP operations and /crl/
 *   http_challenge_page.c  NDES's /certsrv/mscep_admin/ page
 *   deadline.c             header and body deadlines
 *   workq.c                the PKIOperation worker pool
 */
#ifndef SCEPD_HTTP_INT_H
#define SCEPD_HTTP_INT_H

#include <sys/socket.h>
#include <netinet/in.h>

#include <stdint.h>

#include <microhttpd.h>

#include "server/http/http.h"

/*
 * Per-request deadlines that libmicrohttpd lacks: its timeout is one of
 * idleness, so a client that sends a byte now and then (slowloris) could
 * hold a connection for ever.  Here a request's headers must be complete
 * within header_timeout of the connection opening or of its previous
 * reply, and its body within body_timeout of the headers; a connection
 * past either has its socket shut down, which libmicrohttpd sees as the
 * client going away.  No deadline runs while scepd works or replies.
 */
typedef struct deadlines deadlines;

deadlines *deadlines_new(void);
void deadlines_free(deadlines *d);
/* Seconds; 0 turns one off.  Safe while connections run (SIGHUP). */
void deadlines_set(deadlines *d, int header_timeout, int body_timeout);
/* MHD_OPTION_NOTIFY_CONNECTION's callback; cls is the deadlines. */
void deadlines_notify(void *cls, struct MHD_Connection *c,
    void **socket_context, enum MHD_ConnectionNotificationCode code);
/* From the access handler: headers in (the body's clock starts) ... */
void deadlines_headers_done(struct MHD_Connection *c);
/* ... body in (no deadline while scepd works and replies) ... */
void deadlines_body_done(struct MHD_Connection *c);
/* ... and from the completion callback: the next request's clock. */
void deadlines_request_done(struct MHD_Connection *c);
/* Shut down the connections past a deadline; how many.  Once a second. */
int deadlines_sweep(deadlines *d);

/*
 * A fixed pool of threads working through a queue of jobs.  The HTTP
 * front end hands each PKIOperation to it (the connection suspended
 * meanwhile) so that the RSA work spreads over every core whichever
 * libmicrohttpd thread accepted the connection.
 */
struct workq;

typedef void (*workq_fn)(void *job);

/* Start n threads running fn on each job; NULL on failure. */
struct workq *workq_start(unsigned int n, workq_fn fn);

/*
 * Queue job unless the pool is stopping.  before(job) runs first, under
 * the queue's lock, so no worker can see the job before it has run.
 * 1 if queued, 0 if stopping (before is not called then).
 */
int workq_submit(struct workq *q, void *job, void (*before)(void *job));

/*
 * Refuse new jobs, finish the queued ones, join the threads.  Submitting
 * stays safe (it returns 0) until workq_free, which stops it if need be.
 */
void workq_stop(struct workq *q);
void workq_free(struct workq *q);

/* What libmicrohttpd fixes when a daemon starts. */
struct http_limits {
	unsigned int	max_connections;
	unsigned int	per_ip;
	unsigned int	timeout;
	size_t		memory;		/* per connection: the request line */
};

struct http_server {
	struct MHD_Daemon	*daemon;
	struct enroll_ctx	*enroll;
	_Atomic long		 max_body;	/* SIGHUP changes it */
	_Atomic int		 in_flight;	/* requests begun, not completed */
	unsigned char		*cacert;	/* GetCACert reply */
	size_t			 cacert_len;
	const char		*cacert_type;
	const char		*caps;
	struct http_admin	 admin;
	struct ratelimit	 page_failures;	/* challenge page logins */
	const unsigned char	*nextca;	/* GetNextCACert reply (enroll's), or NULL */
	size_t			 nextca_len;
	char			 caps_buf[160];
	struct workq		*workers;	/* PKIOperations */
	deadlines		*deadlines;	/* header and body timeouts */
	/* Connection limits; SIGHUP starts a new daemon when they change. */
	struct http_limits	 limits;
	int			 v6;
	/* Daemons replaced by a reload, serving their last connections. */
	struct MHD_Daemon	*old[8];
	int			 n_old;
};

/* A PKIOperation's way through the worker pool. */
enum work_state { W_NONE, W_QUEUED, W_DONE };

/* Per-request state, from the first callback to the completion notice. */
struct conn {
	int64_t		 received_us;
	unsigned char	*body;
	size_t		 len;
	int		 too_big;
	int64_t		 op_id;		/* ledger row the reply describes */
	char		 addr[INET6_ADDRSTRLEN];
	/* Set while a worker handles the PKIOperation (suspended). */
	enum work_state	 work;
	http_server	*server;
	struct MHD_Connection *connection;
	const char	*method;
	struct enroll_reply rep;	/* the worker's result */
	/* For the request's log line. */
	const char	*op;		/* GetCACaps, PKIOperation, ...; NULL */
	int		 http_status;
	struct enroll_summary summary;	/* PKIOperation */
};

/* A query argument, its name matched case-insensitively. */
const char *http_query_arg(struct MHD_Connection *c, const char *name);
enum MHD_Result http_respond_ex(struct conn *k, struct MHD_Connection *c,
    int status, const char *type, void *body, size_t len,
    enum MHD_ResponseMemoryMode mode, int close);
enum MHD_Result http_respond(struct conn *k, struct MHD_Connection *c,
    int status, const char *type, void *body, size_t len,
    enum MHD_ResponseMemoryMode mode);
enum MHD_Result http_respond_text(struct conn *k, struct MHD_Connection *c,
    int status, const char *text);
enum MHD_Result http_respond_reply(struct conn *k, struct MHD_Connection *c,
    struct enroll_reply *rep);

/*
 * A SCEP path (/certsrv/mscep/mscep.dll, /scep, /cgi-bin/pkiclient.exe;
 * any case, one trailing slash)?
 */
int http_is_scep_path(const char *url);
/* operation= as the log names it: canonical case, "none" or "unknown". */
const char *http_operation_name(const char *op);

/* libmicrohttpd's access handler and completion callback. */
enum MHD_Result http_handle(void *cls, struct MHD_Connection *c,
    const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_data_size, void **con_cls);
void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe);

/* http_scep.c */
enum MHD_Result http_reject(http_server *s, struct MHD_Connection *c,
    struct conn *k, const char *method, int status, const char *reason);
enum MHD_Result http_pkioperation(http_server *s, struct MHD_Connection *c,
    struct conn *k, const char *method);
/* The worker pool's job function. */
void http_pkioperation_job(void *job);
int http_ca_reply(http_server *s, struct MHD_Connection *c, struct conn *k,
    enum MHD_Result *ret);
enum MHD_Result http_crl(http_server *s, struct MHD_Connection *c,
    struct conn *k, const char *url);

/* http_challenge_page.c; http_start sets page_failures up with these. */
#define HTTP_PAGE_FAILURES		5
#define HTTP_PAGE_FAILURE_WINDOW	300
int http_is_challenge_page_path(const char *url);
enum MHD_Result http_challenge_page(http_server *s, struct MHD_Connection *c,
    struct conn *k);

#endif
