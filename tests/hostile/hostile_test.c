/*
 * Hostile clients: slow headers and bodies are cut off at their deadline,
 * a Content-Length that lies and pipelined junk get a clean answer or a
 * closed connection, and the server answers everyone else throughout.
 * PKIMessages broken on purpose get an HTTP 400 when no reply can be
 * bound to them (no single signer with one legal transactionID and
 * nonce), else a signed FAILURE; each leaves a ledger row saying why.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/lib/scep_client.h"
#include "tests/lib/testutil.h"

#define MSCEP		"/certsrv/mscep/mscep.dll"
#define CAPS_REQUEST	"GET " MSCEP "?operation=GetCACaps HTTP/1.1\r\n" \
			"Host: 127.0.0.1\r\n\r\n"

static struct tu_server srv;

static void
start(void)
{
	static const char *const extra[] = { "header_timeout=2s",
	    "body_timeout=2s", NULL };

	ck_assert_int_eq(tu_server_start(&srv, extra), 1);
}

static void
stop(void)
{
	ck_assert_int_eq(tu_server_stop(&srv), 1);
}

static int
connect_srv(void)
{
	struct sockaddr_in sa;
	struct timeval tv = { 1, 0 };
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)srv.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* The server closed fd (EOF or reset) without answering? */
static int
closed_silently(int fd)
{
	char b[512];
	ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* Everyone else is still served. */
static void
others_served(void)
{
	struct tu_http h;

	ck_assert(tu_http(srv.port, "GET", MSCEP "?operation=GetCACaps", NULL,
	    NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	tu_http_free(&h);
}

/*
 * Trickle prefix then one byte of filler every 400 ms for up to 8 s; the
 * seconds until the server cut the connection, or -1 if it never did.
 */
static int
trickle(const char *prefix)
{
	struct timespec tick = { 0, 400 * 1000 * 1000 }, t0, t1;
	int fd = connect_srv(), i, cut = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(send(fd, prefix, strlen(prefix), MSG_NOSIGNAL),
	    (ssize_t)strlen(prefix));
	for (i = 0; i < 20 && !cut; i++) {
		nanosleep(&tick, NULL);
		if (i == 2)
			others_served();
		cut = closed_silently(fd) ||
		    send(fd, "a", 1, MSG_NOSIGNAL) != 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	return cut ? (int)(t1.tv_sec - t0.tv_sec) : -1;
}

START_TEST(test_slow_headers)
{
	int secs = trickle("GET " MSCEP "?operation=GetCACaps HTTP/1.1\r\n"
	    "X-Slow: ");

	ck_assert_msg(secs >= 1 && secs <= 5, "cut after %d s", secs);
	ck_assert_int_ge(tu_log_count(&srv, "op=deadline"), 1);
	others_served();
}
END_TEST

/* A body that never comes, or a Content-Length that lies. */
START_TEST(test_slow_body)
{
	int secs = trickle("POST " MSCEP "?operation=PKIOperation HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n0123456789");

	ck_assert_msg(secs >= 1 && secs <= 5, "cut after %d s", secs);
	others_served();
}
END_TEST

/* A well-behaved keep-alive client is never cut: each reply resets. */
START_TEST(test_keepalive_kept)
{
	struct timespec tick = { 0, 900 * 1000 * 1000 };
	char buf[4096];
	int fd = connect_srv(), i;
	ssize_t n;

	for (i = 0; i < 4; i++) {	/* 3.6 s in all, past both deadlines */
		ck_assert_int_eq(send(fd, CAPS_REQUEST, strlen(CAPS_REQUEST),
		    MSG_NOSIGNAL), (ssize_t)strlen(CAPS_REQUEST));
		ck_assert_int_gt(n = recv(fd, buf, sizeof(buf) - 1, 0), 0);
		buf[n] = '\0';
		ck_assert_msg(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
		nanosleep(&tick, NULL);
	}
	close(fd);
}
END_TEST

/* Junk: a 4xx (or a close), never a 5xx; a request after junk on the
 * same connection is not run. */
START_TEST(test_junk)
{
	static const char *const junk[] = {
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS to HTTP\r\n\r\n",
		"GARBAGE\r\n\r\n",
		"GET /" MSCEP "?operation=GetCACaps HTTP/9.9\r\n\r\n",
		"GET " MSCEP "?operation=GetCACaps HTTP/1.1\r\nNo colon here\r\n\r\n",
		"POST " MSCEP "?operation=PKIOperation HTTP/1.1\r\nHost: x\r\n"
		    "Content-Length: -5\r\n\r\n",
		"POST " MSCEP "?operation=PKIOperation HTTP/1.1\r\nHost: x\r\n"
		    "Content-Length: 3\r\n\r\nabcGARBAGE / HTTP/1.1\r\n\r\n",
	};
	char buf[8192];
	size_t i;

	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		int fd = connect_srv(), status = 0;
		ssize_t n;

		ck_assert_int_eq(send(fd, junk[i], strlen(junk[i]),
		    MSG_NOSIGNAL), (ssize_t)strlen(junk[i]));
		shutdown(fd, SHUT_WR);
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			ck_assert_msg(sscanf(buf, "HTTP/1.%*d %d", &status) == 1,
			    "junk %zu: %s", i, buf);
			/*
			 * RFC 9110 15.6.6: an HTTP version the server does not
			 * speak gets 505 (from libmicrohttpd itself); every
			 * other fault of the client a 4xx.
			 */
			ck_assert_msg((status >= 400 && status < 500) ||
			    (status == 505 && strstr(junk[i], "HTTP/9.9")),
			    "junk %zu: status %d", i, status);
		}
		close(fd);
		others_served();
	}
}
END_TEST

/* Many connections holding headers open do not starve the others. */
START_TEST(test_many_slow)
{
	static const char part[] = "GET " MSCEP "?operation=GetCACaps "
	    "HTTP/1.1\r\nX-Slow: ";
	int fds[40], i;

	for (i = 0; i < 40; i++) {
		fds[i] = connect_srv();
		ck_assert_int_eq(send(fds[i], part, strlen(part), MSG_NOSIGNAL),
		    (ssize_t)strlen(part));
	}
	others_served();
	for (i = 0; i < 40; i++)
		close(fds[i]);
}
END_TEST

struct abuse {
	const char	*name;
	enum tc_flaw	 flaw;
	int		 http_status;	/* 400, or 200 with a FAILURE */
	int		 fail_info;
	const char	*reason;	/* in the ledger row */
};

static const struct abuse abuses[] = {
	{ "two signers", TC_TWO_SIGNERS, 400, -1, "signer" },
	{ "messageType twice", TC_DUP_MSGTYPE, 400, -1, "appears twice" },
	{ "no transactionID", TC_NO_TXID, 400, -1, "transactionID" },
	{ "no senderNonce", TC_NO_NONCE, 400, -1, "senderNonce" },
	{ "200-character transactionID", TC_TXID_LONG, 400, -1,
	    "transactionID" },
	{ "100-byte nonce", TC_NONCE_LONG, 400, -1, "senderNonce" },
	{ "tampered", TC_TAMPERED, 200, 1, "signature" },
	{ "signer key differs from the CSR", TC_SIGNER_OTHER_KEY, 200, 2,
	    "differs from the CSR" },
};

/* The outcome and reason of the ledger's row for txid. */
#define ROW_BY_TXID	"SELECT outcome || '|' || reason FROM operations " \
			"WHERE transaction_id = ?1 ORDER BY id DESC LIMIT 1"
/* ... and of the newest row after id ?1 (a message without txid). */
#define ROW_AFTER	"SELECT outcome || '|' || reason FROM operations " \
			"WHERE id > ?1 ORDER BY id DESC LIMIT 1"

START_TEST(test_protocol_abuse)
{
	const struct abuse *a = &abuses[_i];
	struct tc_opts o = { .cn = "abuse", .challenge = "lab-secret",
	    .flaw = a->flaw };
	X509 *ra = tu_server_cert(&srv, "ra");
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	char *before = tu_ledger_query(&srv, "SELECT coalesce(max(id), 0) "
	    "FROM operations", NULL), *row;

	ck_assert(tc_build(&o, ra, &req));
	ck_assert(tu_http(srv.port, "POST", MSCEP "?operation=PKIOperation",
	    "application/x-pki-message", req.der, req.len, &h));
	ck_assert_msg(h.status == a->http_status, "%s: HTTP %d", a->name,
	    h.status);
	if (a->http_status == 200) {
		ck_assert_msg(tc_parse_certrep(h.body, h.len, &req, &rep),
		    "%s: no signed CertRep", a->name);
		ck_assert_int_eq(rep.status, 2);
		ck_assert_int_eq(rep.fail_info, a->fail_info);
		ck_assert_ptr_null(rep.cert);
		tc_rep_free(&rep);
		row = tu_ledger_query(&srv, ROW_BY_TXID, req.txid);
	} else {
		row = tu_ledger_query(&srv, ROW_AFTER, before);
	}
	ck_assert_msg(row != NULL, "%s: no ledger row", a->name);
	ck_assert_msg(strncmp(row, "rejected|", 9) == 0 &&
	    strstr(row, a->reason) != NULL, "%s: ledger says %s", a->name, row);
	free(row);
	free(before);
	tu_http_free(&h);
	tc_req_free(&req);
	X509_free(ra);
}
END_TEST

/* An envelope for another CA's RA: a signed badMessageCheck. */
START_TEST(test_wrong_recipient)
{
	struct tc_opts o = { .cn = "elsewhere", .challenge = "lab-secret" };
	char path[600], *row;
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	X509 *other;

	snprintf(path, sizeof(path), "%s/server-ca.pem", tu_vectors());
	ck_assert_ptr_nonnull(other = tu_read_cert(path));
	ck_assert(tc_build(&o, other, &req));
	ck_assert(tu_http(srv.port, "POST", MSCEP "?operation=PKIOperation",
	    NULL, req.der, req.len, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert(tc_parse_certrep(h.body, h.len, &req, &rep));
	ck_assert_int_eq(rep.status, 2);
	ck_assert_int_eq(rep.fail_info, 1);	/* badMessageCheck */
	row = tu_ledger_query(&srv, ROW_BY_TXID, req.txid);
	ck_assert_ptr_nonnull(row);
	ck_assert_msg(strstr(row, "cannot be decrypted") != NULL, "%s", row);
	free(row);
	tc_rep_free(&rep);
	tu_http_free(&h);
	tc_req_free(&req);
	X509_free(other);
}
END_TEST

/* A replayed PKCSReq: the same reply (no second certificate). */
START_TEST(test_replay)
{
	struct tc_opts o = { .cn = "replayed", .challenge = "lab-secret" };
	X509 *ra = tu_server_cert(&srv, "ra");
	struct tc_req req;
	struct tc_rep a, b;
	struct tu_http h1, h2;

	ck_assert(tc_build(&o, ra, &req));
	ck_assert(tu_http(srv.port, "POST", MSCEP "?operation=PKIOperation",
	    NULL, req.der, req.len, &h1));
	ck_assert(tu_http(srv.port, "POST", MSCEP "?operation=PKIOperation",
	    NULL, req.der, req.len, &h2));
	ck_assert(tc_parse_certrep(h1.body, h1.len, &req, &a));
	ck_assert(tc_parse_certrep(h2.body, h2.len, &req, &b));
	ck_assert_int_eq(a.status, 0);
	ck_assert_int_eq(b.status, 0);
	ck_assert_int_eq(X509_cmp(a.cert, b.cert), 0);
	tc_rep_free(&a);
	tc_rep_free(&b);
	tu_http_free(&h1);
	tu_http_free(&h2);
	tc_req_free(&req);
	X509_free(ra);
}
END_TEST

static Suite *
hostile_suite(void)
{
	Suite *s = suite_create("hostile");
	TCase *t = tcase_create("hostile");

	tcase_set_timeout(t, 120);
	tcase_add_unchecked_fixture(t, start, stop);
	tcase_add_test(t, test_slow_headers);
	tcase_add_test(t, test_slow_body);
	tcase_add_test(t, test_keepalive_kept);
	tcase_add_test(t, test_junk);
	tcase_add_test(t, test_many_slow);
	tcase_add_loop_test(t, test_protocol_abuse, 0,
	    (int)(sizeof(abuses) / sizeof(abuses[0])));
	tcase_add_test(t, test_wrong_recipient);
	tcase_add_test(t, test_replay);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return tu_run_suite(hostile_suite(), 1);
}
