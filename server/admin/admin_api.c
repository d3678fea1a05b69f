#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "server/admin/admin.h"
#include "server/admin/admin_web_int.h"
#include "server/common/common.h"

#define ADMIN_MAX_BODY 4096
#define PREFIX "/api/v1/transactions"
#define EVIDENCE	"/api/v1/evidence/"
/* Refused tokens per address before a lockout, and its length. */
#define ADMIN_FAILURES		5
#define ADMIN_FAILURE_WINDOW	300
#define LOCKED	"too many refused tokens from this address; try later\n"

struct admin_api {
	struct MHD_Daemon	*daemon;
	ledger			*l;
	char			 token[ADMIN_TOKEN_LEN * 2 + 1];
	struct ratelimit	 failures;	/* refused tokens per address */
};

struct body {
	char	buf[ADMIN_MAX_BODY + 1];
	size_t	len;
	int	too_big;
};

int
admin_api_token(const struct scepd_config *cfg, char *out, size_t cap,
    const char **why)
{
	char path[PATH_MAX], pw[CHALLENGE_GEN_LEN + 1];
	FILE *f;
	int fd;

	if (*cfg->admin_token != '\0') {
		snprintf(out, cap, "%s", cfg->admin_token);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/admin.token", cfg->state_dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(out, (int)cap, f) == NULL)
			out[0] = '\0';
		fclose(f);
		out[strcspn(out, "\r\n")] = '\0';
		if (strlen(out) < 16) {
			*why = "admin.token is too short";
			return 0;
		}
		return 1;
	}
	/* Made once, readable by scepd's user only, never logged. */
	if (!challenge_generate(pw) ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		*why = "cannot create admin.token in the state directory";
		return 0;
	}
	if (write(fd, pw, strlen(pw)) != (ssize_t)strlen(pw) ||
	    write(fd, "\n", 1) != 1 || close(fd) != 0) {
		*why = "cannot write admin.token";
		return 0;
	}
	snprintf(out, cap, "%s", pw);
	OPENSSL_cleanse(pw, sizeof(pw));
	return 1;
}

static enum MHD_Result
reply(struct MHD_Connection *c, int status, const char *type, char *body,
    size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	/* A reply without its headers is not sent (no-store matters). */
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) !=
	    MHD_YES || MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store") != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, (unsigned int)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply_text(struct MHD_Connection *c, int status, const char *text)
{
	char *b = strdup(text);

	return b != NULL ? reply(c, status, "text/plain; charset=utf-8", b,
	    strlen(b)) : MHD_NO;
}

static int
token_matches(struct admin_api *a, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	size_t n = strlen(a->token);

	return h != NULL && strncmp(h, "Bearer ", 7) == 0 &&
	    strlen(h + 7) == n && CRYPTO_memcmp(h + 7, a->token, n) == 0;
}

/*
 * The bearer token, with wrong ones counted per address: after
 * ADMIN_FAILURES within ADMIN_FAILURE_WINDOW seconds the address is
 * locked out (429, even with the right token) until the window ends, so
 * a token cannot be guessed at speed.  Every wrong token is logged.
 */
static enum MHD_Result
refuse_unauthorised(struct admin_api *a, struct MHD_Connection *c, int *ok)
{
	const union MHD_ConnectionInfo *ci;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char addr[64], retry[16];
	time_t now = time(NULL);
	int wait;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	setup_addr_text(ci != NULL ? ci->client_addr : NULL, addr,
	    sizeof(addr));
	*ok = 0;
	if ((wait = ratelimit_blocked(&a->failures, addr, now)) > 0) {
		snprintf(retry, sizeof(retry), "%d", wait);
		log_warn("admin API: %s locked out after %d refused tokens",
		    addr, ADMIN_FAILURES);
		r = MHD_create_response_from_buffer(strlen(LOCKED), (void *)LOCKED,
		    MHD_RESPMEM_PERSISTENT);
		if (r == NULL || MHD_add_response_header(r,
		    MHD_HTTP_HEADER_RETRY_AFTER, retry) != MHD_YES) {
			MHD_destroy_response(r);
			return MHD_NO;
		}
		ret = MHD_queue_response(c, 429, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (token_matches(a, c)) {
		*ok = 1;
		return MHD_YES;
	}
	/* A wrong token counts towards the lockout; no token at all does not. */
	if (MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION) != NULL) {
		ratelimit_fail(&a->failures, addr, now);
		log_warn("admin API: bearer token refused from %s", addr);
	}
	return reply_text(c, 401, "bearer token required\n");
}

/* Output of a ledger query into a malloc'd buffer, then the reply. */
static enum MHD_Result
list(struct admin_api *a, struct MHD_Connection *c)
{
	struct ledger_filter f;
	const char *since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
	    "since");
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	long secs;
	int ok;

	memset(&f, 0, sizeof(f));
	f.status = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "status");
	f.subject = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
	if (f.status != NULL && *f.status == '\0')
		f.status = NULL;
	if (f.subject != NULL && *f.subject == '\0')
		f.subject = NULL;
	if (since != NULL && *since != '\0') {
		if ((secs = config_parse_duration(since)) < 0)
			return reply_text(c, 400, "since: want a duration such as 2h\n");
		f.since_us = ((int64_t)time(NULL) - secs) * 1000000;
	}
	if ((out = open_memstream(&buf, &len)) == NULL)
		return MHD_NO;
	ok = report_list(a->l, &f, LEDGER_JSON, out) == LEDGER_OK;
	fclose(out);
	if (!ok) {
		free(buf);
		return reply_text(c, 500, "cannot read the ledger\n");
	}
	return reply(c, 200, "application/json", buf, len);
}

static enum MHD_Result
show(struct admin_api *a, struct MHD_Connection *c, const char *id)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	int ok, found = 0;

	if ((out = open_memstream(&buf, &len)) == NULL)
		return MHD_NO;
	ok = report_show_json(a->l, id, out, &found) == LEDGER_OK;
	fclose(out);
	if (!ok || !found) {
		free(buf);
		return ok ? reply_text(c, 404, "no such transaction\n") :
		    reply_text(c, 500, "cannot read the ledger\n");
	}
	return reply(c, 200, "application/json", buf, len);
}

/* An MDM or a script reports installation (or its failure). */
static enum MHD_Result
report(struct admin_api *a, struct MHD_Connection *c, char *id,
    const char *kind, const struct body *b)
{
	int64_t op = ledger_find_issued(a->l, id);
	int added = 0, conflict = 0;
	char *msg;

	if (op == 0)
		return reply_text(c, 404, "no issued certificate for that "
		    "transaction or serial\n");
	if (ledger_add_evidence(a->l, op, kind, "api", "reported through the "
	    "admin API", NULL, 0, b->len > 0 ? b->buf : kind, &added,
	    &conflict) != LEDGER_OK)
		return reply_text(c, 500, "cannot write the ledger\n");
	if ((msg = strdup(!added ? "{\"recorded\":false,\"why\":\"the same "
	    "report is there already\"}\n" : conflict ? "{\"recorded\":true,"
	    "\"conflict\":true}\n" : "{\"recorded\":true}\n")) == NULL)
		return MHD_NO;
	return reply(c, 200, "application/json", msg, strlen(msg));
}

/* POST /api/v1/evidence/{event id}/retract, the reason as the body. */
static enum MHD_Result
retract(struct admin_api *a, struct MHD_Connection *c, const char *id,
    const struct body *b)
{
	static const char *const why[] = {
		[LEDGER_RETRACTED] = "{\"retracted\":true}\n",
		[LEDGER_RETRACT_UNKNOWN] = "no such evidence\n",
		[LEDGER_RETRACT_ALREADY] = "retracted already\n",
		[LEDGER_RETRACT_NOT_EVIDENCE] = ("not device evidence (what "
		    "scepd recorded itself stays)\n"),
	};
	static const int status[] = { 200, 404, 409, 409 };
	char *end, *msg;
	long long event;
	int rv;

	event = strtoll(id, &end, 10);
	if (*id == '\0' || *end != '\0' || event <= 0)
		return reply_text(c, 404, "no such evidence\n");
	if (b->len == 0)
		return reply_text(c, 400, "a reason is required (the body)\n");
	rv = ledger_retract_evidence(a->l, (int64_t)event, b->buf, "api");
	if (rv == LEDGER_RETRACT_ERROR)
		return reply_text(c, 500, "cannot write the ledger\n");
	if (rv != LEDGER_RETRACTED)
		return reply_text(c, status[rv], why[rv]);
	log_info("admin API: evidence %lld retracted", event);
	if ((msg = strdup(why[rv])) == NULL)
		return MHD_NO;
	return reply(c, 200, "application/json", msg, strlen(msg));
}

static enum MHD_Result
metrics(struct admin_api *a, struct MHD_Connection *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	int ok;

	if ((out = open_memstream(&buf, &len)) == NULL)
		return MHD_NO;
	metrics_print(out);
	ok = report_status_metrics(a->l, out) == LEDGER_OK;
	fclose(out);
	if (!ok) {
		free(buf);
		log_error("/metrics: cannot read the ledger");
		return reply_text(c, 500, "cannot read the ledger\n");
	}
	return reply(c, 200, "text/plain; version=0.0.4", buf, len);
}

static enum MHD_Result
page(struct MHD_Connection *c, int html)
{
	const char *body = html ? admin_web_html : admin_web_js;
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	/* Only our own script; no inline code, no other origin. */
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, html ?
	    "text/html; charset=utf-8" : "text/javascript; charset=utf-8") !=
	    MHD_YES || MHD_add_response_header(r, "Content-Security-Policy",
	    "default-src 'self'; style-src 'self' 'unsafe-inline';"
	    " frame-ancestors 'none'") != MHD_YES ||
	    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") !=
	    MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct admin_api *a = cls;
	struct body *b = *con_cls;
	int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
	int post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	char id[512], *slash;
	size_t plen = strlen(PREFIX), elen = strlen(EVIDENCE);

	(void)version;
	if (b == NULL) {
		if ((b = calloc(1, sizeof(*b))) == NULL)
			return MHD_NO;
		*con_cls = b;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (b->len + *upload_size > ADMIN_MAX_BODY)
			b->too_big = 1;
		else {
			memcpy(b->buf + b->len, upload, *upload_size);
			b->len += *upload_size;
			b->buf[b->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	/* The page and its script hold no data: no token needed. */
	if (get && (strcmp(url, "/") == 0 || strcmp(url, "/app.js") == 0))
		return page(c, url[1] == '\0');
	{
		enum MHD_Result refused;
		int ok;

		refused = refuse_unauthorised(a, c, &ok);
		if (!ok)
			return refused;
	}
	if (b->too_big)
		return reply_text(c, 413, "body larger than 4 KiB\n");
	if (strcmp(url, "/metrics") == 0 && get)
		return metrics(a, c);
	if (strcmp(url, PREFIX) == 0 && get)
		return list(a, c);
	/* POST /api/v1/evidence/{id}/retract: the id between the two. */
	if (post && strncmp(url, EVIDENCE, elen) == 0 &&
	    (slash = strrchr(url, '/')) != NULL && slash >= url + elen &&
	    strcmp(slash, "/retract") == 0 &&
	    (size_t)(slash - url) - elen < sizeof(id)) {
		snprintf(id, sizeof(id), "%.*s", (int)((size_t)(slash - url) -
		    elen), url + elen);
		return retract(a, c, id, b);
	}
	if (strncmp(url, PREFIX "/", plen + 1) != 0 ||
	    strlen(url + plen + 1) >= sizeof(id) || url[plen + 1] == '\0')
		return reply_text(c, 404, "not found\n");
	snprintf(id, sizeof(id), "%s", url + plen + 1);
	if (get)
		return show(a, c, id);
	/* {id}/installed or {id}/install_failed; ids may contain '/'. */
	if (post && (slash = strrchr(id, '/')) != NULL &&
	    (strcmp(slash, "/installed") == 0 ||
	    strcmp(slash, "/install_failed") == 0)) {
		*slash = '\0';
		return report(a, c, id, slash + 1, b);
	}
	return reply_text(c, 405, "method not allowed\n");
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

void
admin_api_stop(admin_api *a)
{
	if (a == NULL)
		return;
	if (a->daemon != NULL)
		MHD_stop_daemon(a->daemon);
	OPENSSL_cleanse(a->token, sizeof(a->token));
	free(a);
}

int
admin_api_start(const char *listen, const char *token, ledger *l,
    admin_api **out, int *port, const char **why)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
	admin_api *a;
	int v6;

	*out = NULL;
	if (!setup_sockaddr(listen, &ss, &v6, why))
		return 0;
	if (v6)
		flags |= MHD_USE_IPv6;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		*why = "out of memory";
		return 0;
	}
	a->l = l;
	snprintf(a->token, sizeof(a->token), "%s", token);
	ratelimit_init(&a->failures, ADMIN_FAILURES, ADMIN_FAILURE_WINDOW);
	a->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, a,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, 64U,
	    MHD_OPTION_CONNECTION_TIMEOUT, 30U,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_END);
	if (a->daemon == NULL) {
		admin_api_stop(a);
		*why = "cannot listen (address in use?)";
		return 0;
	}
	di = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
	*port = di != NULL ? di->port : 0;
	*out = a;
	return 1;
}
