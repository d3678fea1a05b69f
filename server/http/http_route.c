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

static const char *const scep_paths[] = {
	"/certsrv/mscep/mscep.dll",
	"/scep",
	"/cgi-bin/pkiclient.exe",
};

int
http_is_scep_path(const char *url)
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
const char *
http_query_arg(struct MHD_Connection *c, const char *name)
{
	struct arg_find f = { name, NULL, 0 };

	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, find_arg, &f);
	return f.value;
}

enum MHD_Result
http_respond_ex(struct conn *k, struct MHD_Connection *c, int status,
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
	if ((type != NULL && MHD_add_response_header(r,
	    MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES) ||
	    (close && MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION,
	    "close") != MHD_YES)) {
		/* A reply without its type is not sent: the connection ends. */
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, (unsigned int)status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result
http_respond(struct conn *k, struct MHD_Connection *c, int status, const char *type,
    void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	return http_respond_ex(k, c, status, type, body, len, mode, 0);
}

enum MHD_Result
http_respond_text(struct conn *k, struct MHD_Connection *c, int status,
    const char *text)
{
	return http_respond(k, c, status, "text/plain; charset=utf-8", (void *)text,
	    strlen(text), MHD_RESPMEM_PERSISTENT);
}

enum MHD_Result
http_respond_reply(struct conn *k, struct MHD_Connection *c,
    struct enroll_reply *rep)
{
	k->op_id = rep->op_id;
	k->op = "PKIOperation";
	k->summary = rep->summary;
	metrics_request(M_PKIOPERATION, rep->body != NULL ? rep->http_status : 500);
	if (rep->body == NULL)
		return http_respond_text(k, c, 500, "out of memory\n");
	/* MHD frees the body with free() once sent. */
	return http_respond_ex(k, c, rep->http_status, rep->content_type, rep->body,
	    rep->len, MHD_RESPMEM_MUST_FREE, rep->close);
}

static void
client_addr(struct MHD_Connection *c, char *buf, size_t cap)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	setup_addr_text(ci != NULL ? ci->client_addr : NULL, buf, cap);
}

static int
content_length_over(struct MHD_Connection *c, long max)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);

	return cl != NULL && strtoull(cl, NULL, 10) > (unsigned long long)max;
}

/* The operation's canonical name for the log (clients vary the case). */
const char *
http_operation_name(const char *op)
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
	/* Room for the longest transactionID quoted, every character escaped. */
	char txid[2 * 128 + 3], reason[360], pki[1024] = "";
	double ms = (double)(enroll_now_us() - k->received_us) / 1000.0;

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

enum MHD_Result
http_handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	http_server *s = cls;
	struct conn *k = *con_cls;
	enum MHD_Result ret;
	const char *op;
	int is_get, is_post;

	(void)version;
	if (k == NULL) {
		if ((k = calloc(1, sizeof(*k))) == NULL)
			return MHD_NO;
		s->in_flight++;
		k->received_us = enroll_now_us();
		client_addr(c, k->addr, sizeof(k->addr));
		*con_cls = k;
		deadlines_headers_done(c);
		/* Refuse an oversized body before reading it. */
		if (strcmp(method, MHD_HTTP_METHOD_POST) == 0 &&
		    content_length_over(c, s->max_body)) {
			k->too_big = 1;
			if (http_is_scep_path(url) &&
			    (op = http_query_arg(c, "operation")) != NULL &&
			    strcasecmp(op, "PKIOperation") == 0)
				return http_reject(s, c, k, method, 413,
				    "request body larger than max_body");
			return http_respond_text(k, c, 413, "request body larger than max_body\n");
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

	if (strncmp(url, "/crl/", 5) == 0) {
		k->op = "CRL";
		if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
			return http_crl(s, c, k, url);
	}
	if (http_is_challenge_page_path(url)) {
		k->op = "challenge-page";
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
			return http_respond_text(k, c, 405, "the challenge page wants GET\n");
		return http_challenge_page(s, c, k);
	}
	if (!http_is_scep_path(url))
		return http_respond_text(k, c, 404, "not found\n");
	is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	op = http_query_arg(c, "operation");
	k->op = http_operation_name(op);
	if (op == NULL || *op == '\0')
		return http_respond_text(k, c, 400, "operation= missing\n");
	if (strcmp(k->op, "PKIOperation") == 0) {
		if (!is_get && !is_post)
			return http_respond_text(k, c, 405, "PKIOperation wants GET or POST\n");
		if (k->too_big)
			return http_reject(s, c, k, method, 413,
			    "request body larger than max_body");
		return http_pkioperation(s, c, k, is_post ? "POST" : "GET");
	}
	if (!is_get)
		return http_respond_text(k, c, 405, "this operation wants GET\n");
	/* message= (a CA identifier such as "ca") is accepted and ignored. */
	if (http_ca_reply(s, c, k, &ret))
		return ret;
	metrics_request(M_OTHER, 400);
	return http_respond_text(k, c, 400, "unknown operation (want GetCACert, "
	    "GetCACaps, GetNextCACert or PKIOperation)\n");
}

void
http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
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
	deadlines_request_done(c);
	if (k == NULL)
		return;
	/* The delivery evidence: did the whole reply leave? */
	if (k->op_id > 0) {
		const char *w = (size_t)toe < sizeof(why) / sizeof(why[0]) &&
		    why[toe] != NULL ? why[toe] : "unknown";

		enroll_delivered(s->enroll, k->op_id,
		    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK, w);
	}
	if (k->http_status != 0)
		log_request(k, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	s->in_flight--;
	free(k->rep.body);
	free(k->body);
	free(k);
	*con_cls = NULL;
}
