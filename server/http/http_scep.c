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

enum MHD_Result
http_reject(http_server *s, struct MHD_Connection *c, struct conn *k,
    const char *method, int status, const char *reason)
{
	struct enroll_request req;
	struct enroll_reply rep;

	request_init(&req, c, k, method, k->body, k->len);
	enroll_reject_http(s->enroll, &req, status, reason, &rep);
	return http_respond_reply(k, c, &rep);
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
		const char *m = http_query_arg(c, "message");
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
void
http_pkioperation_job(void *job)
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

enum MHD_Result
http_pkioperation(http_server *s, struct MHD_Connection *c, struct conn *k,
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
	ret = http_respond_reply(k, c, &k->rep);
	k->rep.body = NULL;			/* MHD owns it now */
	return ret;
}

/* GetCACaps, GetCACert, GetNextCACert: 1 when k->op is one of them. */
int
http_ca_reply(http_server *s, struct MHD_Connection *c, struct conn *k,
    enum MHD_Result *ret)
{
	if (strcmp(k->op, "GetCACaps") == 0) {
		metrics_request(M_GETCACAPS, 200);
		*ret = http_respond(k, c, 200, "text/plain", (void *)s->caps,
		    strlen(s->caps), MHD_RESPMEM_PERSISTENT);
		return 1;
	}
	if (strcmp(k->op, "GetCACert") == 0) {
		metrics_request(M_GETCACERT, 200);
		*ret = http_respond(k, c, 200, s->cacert_type, s->cacert,
		    s->cacert_len, MHD_RESPMEM_PERSISTENT);
		return 1;
	}
	/* RFC 8894 4.7: only while a rollover is prepared. */
	if (strcmp(k->op, "GetNextCACert") == 0) {
		metrics_request(M_GETNEXTCACERT, s->nextca != NULL ? 200 : 404);
		if (s->nextca == NULL)
			*ret = http_respond_text(k, c, 404, "no next CA (no "
			    "rollover in progress)\n");
		else
			*ret = http_respond(k, c, 200,
			    "application/x-x509-next-ca-cert", (void *)s->nextca,
			    s->nextca_len, MHD_RESPMEM_PERSISTENT);
		return 1;
	}
	return 0;
}

/* /crl/<ca id>.crl for the current CA and previous ones. */
enum MHD_Result
http_crl(http_server *s, struct MHD_Connection *c, struct conn *k,
    const char *url)
{
	char id[CA_ID_LEN + 1];
	size_t len = 0;
	unsigned char *crl = NULL;
	int known = 0;

	if (strlen(url) == 5 + CA_ID_LEN + 4 &&
	    strcmp(url + 5 + CA_ID_LEN, ".crl") == 0) {
		memcpy(id, url + 5, CA_ID_LEN);
		id[CA_ID_LEN] = '\0';
		crl = enroll_crl(s->enroll, id, &len, &known);
	}
	if (!known)
		return http_respond_text(k, c, 404, "no CA with that id\n");
	/* RFC 5280 4.2.1.13 / RFC 2585: DER, application/pkix-crl. */
	if (crl == NULL)
		return http_respond_text(k, c, 503, "CRL not published yet\n");
	return http_respond(k, c, 200, "application/pkix-crl", crl, len,
	    MHD_RESPMEM_MUST_FREE);
}
