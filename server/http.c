#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "pkcs7/scep_certrep.h"
#include "server/admin_page.h"
#include "server/b64.h"
#include "server/crl.h"
#include "server/deadline.h"
#include "server/http.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/setup.h"
#include "server/workq.h"

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
	unsigned char		*nextca;	/* GetNextCACert reply, or NULL */
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

static const char *const scep_paths[] = {
	"/certsrv/mscep/mscep.dll",
	"/scep",
	"/cgi-bin/pkiclient.exe",
};

const char *
http_caps_text(int legacy)
{
	/*
	 * RFC 8894 3.5.2.  strongSwan reads this list off by one keyword:
	 * it uses AES only when SHA-384 is listed too, so keep SHA-384.
	 */
	return legacy ?
	    "POSTPKIOperation\nRenewal\nSHA-256\nSHA-384\nSHA-512\nAES\n"
	    "SCEPStandard\nSHA-1\nDES3\n" :
	    "POSTPKIOperation\nRenewal\nSHA-256\nSHA-384\nSHA-512\nAES\n"
	    "SCEPStandard\n";
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
is_scep_path(const char *url)
{
	size_t i, n;

	for (i = 0; i < sizeof(scep_paths) / sizeof(scep_paths[0]); i++) {
		n = strlen(scep_paths[i]);
		/* IIS paths are case-insensitive; allow one trailing slash. */
		if (strncasecmp(url, scep_paths[i], n) == 0 &&
		    (url[n] == '\0' || (url[n] == '/' && url[n + 1] == '\0')))
			return 1;
	}
	return 0;
}

struct arg_find {
	const char	*name;
	const char	*value;
	int		 found;
};

static enum MHD_Result
find_arg(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct arg_find *f = cls;

	(void)kind;
	if (strcasecmp(key, f->name) == 0 && !f->found) {
		f->value = value != NULL ? value : "";
		f->found = 1;
		return MHD_NO;
	}
	return MHD_YES;
}

/* A query argument, its name matched case-insensitively. */
static const char *
query_arg(struct MHD_Connection *c, const char *name)
{
	struct arg_find f = { name, NULL, 0 };

	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, find_arg, &f);
	return f.value;
}

static enum MHD_Result
respond_ex(struct conn *k, struct MHD_Connection *c, int status,
    const char *type, void *body, size_t len, enum MHD_ResponseMemoryMode mode,
    int close)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	k->http_status = status;
	r = MHD_create_response_from_buffer(len, body, mode);
	if (r == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	if (type != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (close)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(c, (unsigned int)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
respond(struct conn *k, struct MHD_Connection *c, int status, const char *type,
    void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	return respond_ex(k, c, status, type, body, len, mode, 0);
}

static enum MHD_Result
respond_text(struct conn *k, struct MHD_Connection *c, int status,
    const char *text)
{
	return respond(k, c, status, "text/plain; charset=utf-8", (void *)text,
	    strlen(text), MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result
respond_reply(struct conn *k, struct MHD_Connection *c,
    struct enroll_reply *rep)
{
	k->op_id = rep->op_id;
	k->op = "PKIOperation";
	k->summary = rep->summary;
	metrics_request(M_PKIOPERATION, rep->body != NULL ? rep->http_status : 500);
	if (rep->body == NULL)
		return respond_text(k, c, 500, "out of memory\n");
	/* MHD frees the body with free() once sent. */
	return respond_ex(k, c, rep->http_status, rep->content_type, rep->body,
	    rep->len, MHD_RESPMEM_MUST_FREE, rep->close);
}

static void
request_init(struct enroll_request *req, struct MHD_Connection *c,
    struct conn *k, const char *method, const unsigned char *body, size_t len)
{
	memset(req, 0, sizeof(*req));
	req->body = body;
	req->len = len;
	req->client_addr = k->addr;
	req->user_agent = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_USER_AGENT);
	req->method = method;
	req->received_us = k->received_us;
}

static enum MHD_Result
reject(http_server *s, struct MHD_Connection *c, struct conn *k,
    const char *method, int status, const char *reason)
{
	struct enroll_request req;
	struct enroll_reply rep;

	request_init(&req, c, k, method, k->body, k->len);
	enroll_reject_http(s->enroll, &req, status, reason, &rep);
	return respond_reply(k, c, &rep);
}

/* Decode (GET), check and answer one PKIOperation into rep. */
static void
pkioperation_reply(http_server *s, struct MHD_Connection *c, struct conn *k,
    const char *method, struct enroll_reply *rep)
{
	struct enroll_request req;
	const unsigned char *body = k->body;
	unsigned char *decoded = NULL;
	size_t len = k->len;
	const char *why = NULL;
	int status = 400;

	memset(rep, 0, sizeof(*rep));
	if (strcmp(method, MHD_HTTP_METHOD_GET) == 0) {
		/* RFC 8894 4.3: GET carries the message base64 in message=. */
		const char *m = query_arg(c, "message");
		long n = 0;

		if (m == NULL || *m == '\0')
			why = "PKIOperation by GET needs message=";
		else if ((decoded = malloc(b64_decoded_max(strlen(m)))) == NULL)
			return;				/* body NULL: 500 */
		else if ((n = b64_decode_lenient(m, strlen(m), decoded)) <= 0)
			why = "message= is not base64";
		else if (n > s->max_body) {
			why = "message larger than max_body";
			status = 413;
		}
		body = decoded;
		len = n > 0 ? (size_t)n : 0;
	}
	if (why != NULL) {
		request_init(&req, c, k, method, k->body, k->len);
		enroll_reject_http(s->enroll, &req, status, why, rep);
	} else {
		request_init(&req, c, k, method, body, len);
		enroll_pkioperation(s->enroll, &req, rep);
	}
	free(decoded);
}

/* A worker's job: the connection waits, suspended, until it is done. */
static void
pkioperation_job(void *job)
{
	struct conn *k = job;

	pkioperation_reply(k->server, k->connection, k, k->method, &k->rep);
	k->work = W_DONE;
	MHD_resume_connection(k->connection);
}

static void
suspend_for_work(void *job)
{
	struct conn *k = job;

	k->work = W_QUEUED;
	MHD_suspend_connection(k->connection);
}

static enum MHD_Result
pkioperation(http_server *s, struct MHD_Connection *c, struct conn *k,
    const char *method)
{
	enum MHD_Result ret;

	if (k->work == W_NONE && s->workers != NULL) {
		k->server = s;
		k->connection = c;
		k->method = method;
		if (workq_submit(s->workers, k, suspend_for_work))
			return MHD_YES;		/* called again once resumed */
	}
	if (k->work == W_NONE)			/* no pool, or stopping */
		pkioperation_reply(s, c, k, method, &k->rep);
	ret = respond_reply(k, c, &k->rep);
	k->rep.body = NULL;			/* MHD owns it now */
	return ret;
}

static void
client_addr(struct MHD_Connection *c, char *buf, size_t cap)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(buf, cap, "?");
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    buf, (socklen_t)cap);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    buf, (socklen_t)cap);
}

static int
is_loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
	    strncmp(addr, "::ffff:127.", 11) == 0;
}

static int
is_admin_path(const char *url)
{
	return strcasecmp(url, "/certsrv/mscep_admin") == 0 ||
	    strcasecmp(url, "/certsrv/mscep_admin/") == 0 ||
	    strcasecmp(url, "/certsrv/mscep_admin/default.aspx") == 0;
}

/* HTTP Basic credentials against the configured user and password hash. */
static int
admin_authorised(http_server *s, struct MHD_Connection *c)
{
	char *pass = NULL, *user;
	int ok = 0;

	user = MHD_basic_auth_get_username_password(c, &pass);
	if (user != NULL && pass != NULL &&
	    strlen(user) == strlen(s->admin.user) &&
	    CRYPTO_memcmp(user, s->admin.user, strlen(user)) == 0)
		ok = challenge_verify(&s->admin.password, pass);
	if (pass != NULL) {
		OPENSSL_cleanse(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user != NULL)
		MHD_free(user);
	return ok;
}

/* NDES's challenge page: a new one-time password per authorised GET. */
static enum MHD_Result
admin_page(http_server *s, struct MHD_Connection *c, struct conn *k)
{
	static const char denied[] = "authentication required\n";
	struct admin_page_opts o = { s->admin.ttl, s->admin.max, NULL };
	struct MHD_Response *r;
	enum MHD_Result ret;
	const char *why = "";
	char *html = NULL;

	if (!s->admin.enabled)
		return respond_text(k, c, 404, "not found\n");
	if (!s->admin.remote && !is_loopback(k->addr))
		return respond_text(k, c, 403, "the challenge page is served on "
		    "loopback only (admin_remote = no)\n");
	if (!admin_authorised(s, c)) {
		log_warn("challenge page: authentication failed from %s", k->addr);
		r = MHD_create_response_from_buffer(strlen(denied), (void *)denied,
		    MHD_RESPMEM_PERSISTENT);
		if (r == NULL)
			return MHD_NO;
		ret = MHD_queue_basic_auth_fail_response(c, "scepd", r);
		MHD_destroy_response(r);
		return ret;
	}
	if (!admin_page_render(s->enroll->ca, s->enroll->ledger, &o, &html, &why))
		return respond_text(k, c, 500, "cannot make a challenge password\n");
	log_info("challenge page: one-time password issued to %s", k->addr);
	return respond(k, c, 200, "text/html; charset=utf-8", html, strlen(html),
	    MHD_RESPMEM_MUST_FREE);
}

static int
content_length_over(struct MHD_Connection *c, long max)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);

	return cl != NULL && strtoull(cl, NULL, 10) > (unsigned long long)max;
}

/* The operation's canonical name for the log (clients vary the case). */
static const char *
operation_name(const char *op)
{
	static const char *const known[] = { "GetCACaps", "GetCACert",
	    "GetNextCACert", "PKIOperation" };
	size_t i;

	if (op == NULL || *op == '\0')
		return "none";
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcasecmp(op, known[i]) == 0)
			return known[i];
	return "unknown";
}

/* A logfmt value: bare when it can be, else quoted with \" and \\. */
static void
logfmt_value(char *out, size_t cap, const char *v)
{
	size_t n = 0;

	if (*v != '\0' && strcspn(v, " \"=\\") == strlen(v)) {
		snprintf(out, cap, "%s", v);
		return;
	}
	if (cap < 3)
		return;
	out[n++] = '"';
	for (; *v != '\0' && n + 3 < cap; v++) {
		if (*v == '"' || *v == '\\')
			out[n++] = '\\';
		out[n++] = (unsigned char)*v < 0x20 ? '?' : *v;
	}
	out[n++] = '"';
	out[n] = '\0';
}

/*
 * One logfmt line per request, once it is over:
 *   op=PKIOperation msg=PKCSReq txid=... status=issued serial=...
 *   client=10.0.0.5 http=200 ms=12.4 [reason="..."] [delivery=aborted]
 * Never a secret: no challenge, no key, no body.
 */
static void
log_request(const struct conn *k, int delivered)
{
	const struct enroll_summary *m = &k->summary;
	char txid[160], reason[360], pki[1024] = "";
	double ms = (double)(now_us() - k->received_us) / 1000.0;

	if (k->op != NULL && strcmp(k->op, "PKIOperation") == 0) {
		logfmt_value(txid, sizeof(txid), m->txid[0] ? m->txid : "-");
		logfmt_value(reason, sizeof(reason), m->reason);
		snprintf(pki, sizeof(pki), " msg=%s txid=%s status=%s serial=%s%s%s",
		    m->msg_type ? m->msg_type : "-", txid,
		    m->outcome ? m->outcome : "-", m->serial[0] ? m->serial : "-",
		    m->reason[0] ? " reason=" : "", m->reason[0] ? reason : "");
	}
	log_info("op=%s%s client=%s http=%d ms=%.1f%s", k->op ? k->op : "-",
	    pki, k->addr, k->http_status, ms, delivered ? "" :
	    " delivery=aborted");
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	http_server *s = cls;
	struct conn *k = *con_cls;
	const char *op;
	int is_get, is_post;

	(void)version;
	if (k == NULL) {
		if ((k = calloc(1, sizeof(*k))) == NULL)
			return MHD_NO;
		s->in_flight++;
		k->received_us = now_us();
		client_addr(c, k->addr, sizeof(k->addr));
		*con_cls = k;
		deadlines_headers_done(c);
		/* Refuse an oversized body before reading it. */
		if (strcmp(method, MHD_HTTP_METHOD_POST) == 0 &&
		    content_length_over(c, s->max_body)) {
			k->too_big = 1;
			if (is_scep_path(url) && (op = query_arg(c, "operation")) != NULL &&
			    strcasecmp(op, "PKIOperation") == 0)
				return reject(s, c, k, method, 413,
				    "request body larger than max_body");
			return respond_text(k, c, 413, "request body larger than max_body\n");
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (k->too_big || k->len + n > (size_t)s->max_body) {
			k->too_big = 1;
			free(k->body);
			k->body = NULL;
			k->len = 0;
			return MHD_YES;
		}
		unsigned char *nb = realloc(k->body, k->len + n);
		if (nb == NULL)
			return MHD_NO;
		memcpy(nb + k->len, upload_data, n);
		k->body = nb;
		k->len += n;
		return MHD_YES;
	}
	deadlines_body_done(c);

	if (strncmp(url, "/crl/", 5) == 0)
		k->op = "CRL";
	if (strncmp(url, "/crl/", 5) == 0 &&
	    (strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)) {
		/* /crl/<ca id>.crl for the current CA and previous ones. */
		char id[CA_ID_LEN + 1];
		const ca *gen = NULL;
		size_t len = 0;
		unsigned char *crl;

		if (strlen(url) == 5 + CA_ID_LEN + 4 &&
		    strcmp(url + 5 + CA_ID_LEN, ".crl") == 0) {
			memcpy(id, url + 5, CA_ID_LEN);
			id[CA_ID_LEN] = '\0';
			gen = ca_by_id(s->enroll->ca, id);
		}
		if (gen == NULL)
			return respond_text(k, c, 404, "no CA with that id\n");
		/* RFC 5280 4.2.1.13 / RFC 2585: DER, application/pkix-crl. */
		if ((crl = crl_read(gen, s->enroll->state_dir, &len)) == NULL)
			return respond_text(k, c, 503, "CRL not published yet\n");
		return respond(k, c, 200, "application/pkix-crl", crl, len,
		    MHD_RESPMEM_MUST_FREE);
	}
	if (is_admin_path(url)) {
		k->op = "challenge-page";
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
			return respond_text(k, c, 405, "the challenge page wants GET\n");
		return admin_page(s, c, k);
	}
	if (!is_scep_path(url))
		return respond_text(k, c, 404, "not found\n");
	is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	op = query_arg(c, "operation");
	k->op = operation_name(op);
	if (op == NULL || *op == '\0')
		return respond_text(k, c, 400, "operation= missing\n");
	if (strcmp(k->op, "PKIOperation") == 0) {
		if (!is_get && !is_post)
			return respond_text(k, c, 405, "PKIOperation wants GET or POST\n");
		if (k->too_big)
			return reject(s, c, k, method, 413,
			    "request body larger than max_body");
		return pkioperation(s, c, k, is_post ? "POST" : "GET");
	}
	if (!is_get)
		return respond_text(k, c, 405, "this operation wants GET\n");
	/* message= (a CA identifier such as "ca") is accepted and ignored. */
	if (strcmp(k->op, "GetCACaps") == 0) {
		metrics_request(M_GETCACAPS, 200);
		return respond(k, c, 200, "text/plain", (void *)s->caps,
		    strlen(s->caps), MHD_RESPMEM_PERSISTENT);
	}
	if (strcmp(k->op, "GetCACert") == 0) {
		metrics_request(M_GETCACERT, 200);
		return respond(k, c, 200, s->cacert_type, s->cacert, s->cacert_len,
		    MHD_RESPMEM_PERSISTENT);
	}
	/* RFC 8894 4.7: only while a rollover is prepared. */
	if (strcmp(k->op, "GetNextCACert") == 0) {
		metrics_request(M_GETNEXTCACERT, s->nextca != NULL ? 200 : 404);
		if (s->nextca == NULL)
			return respond_text(k, c, 404, "no next CA (no rollover "
			    "in progress)\n");
		return respond(k, c, 200, "application/x-x509-next-ca-cert",
		    s->nextca, s->nextca_len, MHD_RESPMEM_PERSISTENT);
	}
	metrics_request(M_OTHER, 400);
	return respond_text(k, c, 400, "unknown operation (want GetCACert, "
	    "GetCACaps, GetNextCACert or PKIOperation)\n");
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	static const char *const why[] = {
		[MHD_REQUEST_TERMINATED_COMPLETED_OK] = "completed",
		[MHD_REQUEST_TERMINATED_WITH_ERROR] = "error",
		[MHD_REQUEST_TERMINATED_TIMEOUT_REACHED] = "timeout",
		[MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN] = "shutdown",
		[MHD_REQUEST_TERMINATED_READ_ERROR] = "read_error",
		[MHD_REQUEST_TERMINATED_CLIENT_ABORT] = "client_abort",
	};
	http_server *s = cls;
	struct conn *k = *con_cls;
	char detail[64];

	deadlines_request_done(c);
	if (k == NULL)
		return;
	/* The delivery evidence: did the whole reply leave? */
	if (k->op_id > 0) {
		const char *w = (size_t)toe < sizeof(why) / sizeof(why[0]) &&
		    why[toe] != NULL ? why[toe] : "unknown";

		snprintf(detail, sizeof(detail), "{\"termination\":\"%s\"}", w);
		/* Nothing waits on this row: it rides the next group commit. */
		if (ledger_add_event_later(s->enroll->ledger, k->op_id,
		    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ?
		    "response_complete" : "response_aborted", "server",
		    detail) != LEDGER_OK)
			log_error("ledger: cannot record delivery of row %lld",
			    (long long)k->op_id);
	}
	if (k->http_status != 0)
		log_request(k, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	s->in_flight--;
	free(k->rep.body);
	free(k->body);
	free(k);
	*con_cls = NULL;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("http: %s", buf);
}

/* GetNextCACert: made at start where the CA key is (see signer.c). */
static int
build_nextca(http_server *s, const struct enroll_ctx *e)
{
	if (e->nextca == NULL)
		return 1;
	if ((s->nextca = malloc(e->nextca_len)) == NULL)
		return 0;
	memcpy(s->nextca, e->nextca, e->nextca_len);
	s->nextca_len = e->nextca_len;
	return 1;
}

/* GetCACert: RA + CA as a degenerate PKCS#7, or the CA alone as DER. */
static int
build_cacert(http_server *s, const ca *c)
{
	STACK_OF(X509) *certs = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	int n, ok = 0;

	if (ca_ra_cert_get0(c) == NULL) {
		if ((n = i2d_X509(ca_cert_get0(c), &der)) <= 0)
			return 0;
		len = (size_t)n;
		s->cacert_type = "application/x-x509-ca-cert";
	} else {
		if ((certs = sk_X509_new_null()) == NULL ||
		    !sk_X509_push(certs, ca_ra_cert_get0(c)) ||
		    !sk_X509_push(certs, ca_cert_get0(c)) ||
		    scep_certs_only_der(certs, NULL, &der, &len) != SCEP_OK)
			goto out;
		s->cacert_type = "application/x-x509-ca-ra-cert";
	}
	if ((s->cacert = malloc(len)) == NULL)
		goto out;
	memcpy(s->cacert, der, len);
	s->cacert_len = len;
	ok = 1;
out:
	OPENSSL_free(der);
	sk_X509_free(certs);
	return ok;
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
	MHD_OPTION_NOTIFY_COMPLETED, completed, (s),			\
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
		return MHD_start_daemon(flags, 0, NULL, NULL, handle, s,
		    MHD_OPTION_LISTEN_SOCKET, listen_fd,
		    DAEMON_OPTIONS(s, l, threads));
	return MHD_start_daemon(flags, 0, NULL, NULL, handle, s,
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
	free(s->nextca);
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
	s->max_body = cfg->max_body;
	if ((s->deadlines = deadlines_new()) == NULL) {
		*why = "out of memory";
		goto out;
	}
	deadlines_set(s->deadlines, cfg->header_timeout, cfg->body_timeout);
	/* RFC 8894 3.5.2: GetNextCACert only while a next CA exists. */
	snprintf(s->caps_buf, sizeof(s->caps_buf), "%s%s",
	    http_caps_text(cfg->legacy_algorithms),
	    ca_next(e->ca) != NULL ? "GetNextCACert\n" : "");
	s->caps = s->caps_buf;
	if (!build_nextca(s, e)) {
		*why = "cannot encode the GetNextCACert reply";
		goto out;
	}
	if (!build_cacert(s, e->ca)) {
		*why = "cannot encode the GetCACert reply";
		goto out;
	}
	if ((s->workers = workq_start(setup_worker_threads(cfg),
	    pkioperation_job)) == NULL) {
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
