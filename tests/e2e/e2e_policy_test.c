/*
 * End to end, enrollment policy: manual approval and CertPoll, one-time,
 * exec and rate-limited challenges, certificate profiles (each test starts
 * the server it needs). The real bin/scepd on 127.0.0.1 port 0, driven
 * over HTTP by a SCEP client that shares no code with the server.
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "ca/ca.h"
#include "server/common/common.h"
#include "tests/e2e/e2e.h"

/* Send a CertPoll for req (same key, same transactionID). */
static void
cert_poll(const struct tu_server *s, const struct tc_req *req,
    const X509_NAME *issuer, struct tc_req *poll, struct tc_rep *rep)
{
	struct tc_opts o = { .cn = "poller", .msg_type = 20, .key = req->key,
	    .txid = req->txid };
	X509_NAME *subject = X509_NAME_new();
	struct tu_http h;
	unsigned char *ias;
	size_t len = 0;

	X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
	    (const unsigned char *)"manual", -1, -1, 0);
	ias = tc_issuer_and_subject(issuer, subject, &len);
	o.content = ias;
	o.content_len = len;
	e2e_build(s, &o, poll);
	e2e_post(s, MSCEP, NULL, poll, &h);
	e2e_check_certrep(s, poll, &h, rep);
	tu_http_free(&h);
	free(ias);
	X509_NAME_free(subject);
}

static void
resend_req(const struct tu_server *s, const struct tc_req *req,
    struct tc_rep *rep)
{
	struct tu_http h;

	e2e_post(s, MSCEP, NULL, req, &h);
	e2e_check_certrep(s, req, &h, rep);
	tu_http_free(&h);
}

/*
 * approval = manual: PENDING until an administrator decides; CertPoll and
 * a re-sent PKCSReq both poll; each decision is a ledger event.
 */
START_TEST(test_manual_approval)
{
	static const char *const manual[] = { "approval=manual", NULL };
	struct tu_server s;
	struct tc_opts o = { .cn = "manual", .challenge = "lab-secret" };
	struct tc_req req, poll, req2;
	struct tc_rep rep;
	X509 *cacert, *issued, *ra;
	char args[256], *out, *v;

	ck_assert(tu_server_start(&s, manual));
	cacert = tu_server_cert(&s, "ca");
	e2e_build(&s, &o, &req);
	resend_req(&s, &req, &rep);
	ck_assert_int_eq(rep.status, 3);		/* PENDING */
	ck_assert_int_eq(rep.has_content, 0);
	tc_rep_free(&rep);
	out = tu_scepctl(&s, "pending");
	ck_assert_ptr_nonnull(strstr(out, req.txid));
	free(out);

	/* Both ways of polling keep getting PENDING. */
	cert_poll(&s, &req, X509_get_subject_name(cacert), &poll, &rep);
	ck_assert_int_eq(rep.status, 3);
	tc_rep_free(&rep);
	tc_req_free(&poll);
	resend_req(&s, &req, &rep);
	ck_assert_int_eq(rep.status, 3);
	tc_rep_free(&rep);

	snprintf(args, sizeof(args), "approve '%s'", req.txid);
	out = tu_scepctl(&s, args);
	ck_assert_ptr_nonnull(strstr(out, "approved"));
	free(out);
	out = tu_scepctl(&s, "pending");
	ck_assert_ptr_null(strstr(out, req.txid));
	free(out);

	/*
	 * The first poll after approval issues; later ones resend it.  This
	 * one names the RA as issuer, as clients that keep the RA
	 * certificate as their CA certificate do (sscep): accepted, as NDES
	 * does.
	 */
	ra = tu_server_cert(&s, "ra");
	ck_assert_ptr_nonnull(ra);
	cert_poll(&s, &req, X509_get_subject_name(ra), &poll, &rep);
	X509_free(ra);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_ptr_nonnull(rep.cert);
	ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(rep.cert), req.key), 1);
	issued = rep.cert;
	X509_up_ref(issued);
	tc_rep_free(&rep);
	tc_req_free(&poll);
	resend_req(&s, &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_int_eq(X509_cmp(rep.cert, issued), 0);
	tc_rep_free(&rep);
	cert_poll(&s, &req, X509_get_subject_name(cacert), &poll, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_int_eq(X509_cmp(rep.cert, issued), 0);
	tc_rep_free(&rep);
	tc_req_free(&poll);
	v = tu_ledger_query(&s, "SELECT group_concat(outcome || ':' || message_type,"
	    " ',') FROM (SELECT outcome, message_type FROM operations WHERE"
	    " transaction_id = ?1 ORDER BY id)", req.txid);
	ck_assert_str_eq(v, "pending:19,pending:20,pending:19,issued:20,"
	    "reissued:19,reissued:20");
	free(v);
	v = tu_ledger_query(&s, "SELECT e.source FROM events e JOIN operations o ON"
	    " o.id = e.operation_id WHERE o.transaction_id = ?1 AND"
	    " e.kind = 'approved'", req.txid);
	ck_assert_str_eq(v, "api");
	free(v);

	/* Denied: the next poll fails, with the administrator's reason. */
	o.cn = "denied";
	e2e_build(&s, &o, &req2);
	resend_req(&s, &req2, &rep);
	ck_assert_int_eq(rep.status, 3);
	tc_rep_free(&rep);
	snprintf(args, sizeof(args), "deny '%s' --reason 'not in inventory'",
	    req2.txid);
	out = tu_scepctl(&s, args);
	ck_assert_ptr_nonnull(strstr(out, "denied"));
	free(out);
	cert_poll(&s, &req2, X509_get_subject_name(cacert), &poll, &rep);
	ck_assert_int_eq(rep.status, 2);
	ck_assert_int_eq(rep.fail_info, 2);
	v = tu_ledger_query(&s, "SELECT reason FROM operations WHERE"
	    " transaction_id = ?1 AND message_type = 20", req2.txid);
	ck_assert_ptr_nonnull(strstr(v, "not in inventory"));
	free(v);
	tc_rep_free(&rep);
	tc_req_free(&poll);

	/* Polling for something never requested: badCertId. */
	{
		struct tc_opts other = { .cn = "nobody" };
		struct tc_req ghost;

		e2e_build(&s, &other, &ghost);
		cert_poll(&s, &ghost, X509_get_subject_name(cacert), &poll, &rep);
		ck_assert_int_eq(rep.status, 2);
		ck_assert_int_eq(rep.fail_info, 4);
		tc_rep_free(&rep);
		tc_req_free(&poll);
		tc_req_free(&ghost);
	}
	out = tu_scepctl(&s, "approve no-such-transaction 2>&1");
	ck_assert_ptr_nonnull(strstr(out, "nothing pending"));
	free(out);

	X509_free(issued);
	X509_free(cacert);
	tc_req_free(&req);
	tc_req_free(&req2);
	ck_assert(tu_server_stop(&s));
}
END_TEST

/* Enroll against s with this challenge; the reply's status and reason. */
static int
try_challenge(const struct tu_server *s, const char *cn, const char *pw,
    char **reason)
{
	struct tc_opts o = { .cn = cn, .challenge = pw };
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	int status;

	e2e_build(s, &o, &req);
	e2e_post(s, MSCEP, NULL, &req, &h);
	e2e_check_certrep(s, &req, &h, &rep);
	status = rep.status;
	if (reason != NULL)
		*reason = tu_ledger_query(s, "SELECT reason FROM operations WHERE"
		    " transaction_id = ?1", req.txid);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tu_http_free(&h);
	return status;
}

struct racer {
	const struct tu_server	*s;
	struct tc_req		 req;
	pthread_barrier_t	*barrier;
	int			 status;
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	struct tu_http h;
	struct tc_rep rep;

	pthread_barrier_wait(r->barrier);
	r->status = -1;
	if (tu_http(r->s->port, "POST", MSCEP "?operation=PKIOperation", NULL,
	    r->req.der, r->req.len, &h)) {
		if (tc_parse_certrep(h.body, h.len, &r->req, &rep)) {
			r->status = rep.status;
			tc_rep_free(&rep);
		}
		tu_http_free(&h);
	}
	return NULL;
}

/* challenge_mode = onetime: scepctl and NDES's page; one use each. */
START_TEST(test_onetime_challenge)
{
	static const char *const extra[] = { "challenge_mode=onetime",
	    "admin_password=page-secret", "challenge_max=3",
	    "challenge_failures=0", NULL };
	struct tu_server s;
	struct tu_http h;
	char *out, *reason, pw[2][64], url[128];
	int i;

	ck_assert(tu_server_start(&s, extra));
	out = tu_scepctl(&s, "challenge new --count 2 --ttl 10m 2>/dev/null");
	ck_assert_int_eq(sscanf(out, "%63s %63s", pw[0], pw[1]), 2);
	free(out);
	/* The password cache is full at challenge_max, like NDES's. */
	out = tu_scepctl(&s, "-o challenge_max=3 challenge new --count 2 2>&1");
	ck_assert_ptr_nonnull(strstr(out, "outstanding"));
	free(out);

	ck_assert_int_eq(try_challenge(&s, "first", pw[0], NULL), 0);
	ck_assert_int_eq(try_challenge(&s, "second", pw[0], &reason), 2);
	ck_assert_str_eq(reason, "one-time challenge password unknown, used or "
	    "expired");
	free(reason);
	ck_assert_int_eq(try_challenge(&s, "typo", "not-a-password", NULL), 2);

	/* Fifty requests race for one password: exactly one wins. */
	{
		enum { RACERS = 50 };
		struct racer r[RACERS];
		pthread_t t[RACERS];
		pthread_barrier_t barrier;
		EVP_PKEY *key = tc_rsa_key(2048);
		struct tc_opts o = { .cn = "racer", .challenge = pw[1],
		    .key = key };
		int wins = 0;

		pthread_barrier_init(&barrier, NULL, RACERS);
		for (i = 0; i < RACERS; i++) {
			r[i].s = &s;
			r[i].barrier = &barrier;
			e2e_build(&s, &o, &r[i].req);
		}
		for (i = 0; i < RACERS; i++)
			pthread_create(&t[i], NULL, race, &r[i]);
		for (i = 0; i < RACERS; i++) {
			pthread_join(t[i], NULL);
			wins += r[i].status == 0;
			ck_assert(r[i].status == 0 || r[i].status == 2);
			tc_req_free(&r[i].req);
		}
		pthread_barrier_destroy(&barrier);
		EVP_PKEY_free(key);
		ck_assert_int_eq(wins, 1);
	}

	/* NDES's page: Basic auth, then a password in NDES's words. */
	snprintf(url, sizeof(url), "/certsrv/mscep_admin/");
	ck_assert(tu_http(s.port, "GET", url, NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 401);
	tu_http_free(&h);
	{
		/* "admin:page-secret" in base64, as a browser sends it. */
		char *auth = b64_encode((const unsigned char *)"admin:page-secret",
		    17, 0), hdr[512], *p, page_pw[64];

		snprintf(hdr, sizeof(hdr), "Authorization: Basic %s\r\n", auth);
		ck_assert(tu_http_h(s.port, "GET", url, hdr, NULL, NULL, 0, &h));
		ck_assert_int_eq(h.status, 200);
		ck_assert_ptr_nonnull(strstr(h.ctype, "text/html"));
		p = strstr((char *)h.body, "The enrollment challenge password is: <B> ");
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(sscanf(p + 42, "%63s", page_pw), 1);
		ck_assert_ptr_nonnull(strstr((char *)h.body, "used only once and "
		    "will expire within 60 minutes"));
		tu_http_free(&h);
		ck_assert_int_eq(try_challenge(&s, "from-page", page_pw, NULL), 0);
		free(auth);
	}
	ck_assert(tu_server_stop(&s));
}
END_TEST

/* challenge_mode = exec: a program decides; its first line is the reason. */
START_TEST(test_exec_challenge)
{
	char dir[] = "/tmp/scepd-exec-XXXXXX", script[256], opt[300], stdin_copy[300];
	const char *extra[] = { "challenge_mode=exec", opt,
	    "challenge_exec_timeout=2", NULL };
	struct tu_server s;
	char *reason;
	unsigned char *csr;
	size_t n;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/decide", dir);
	snprintf(stdin_copy, sizeof(stdin_copy), "%s/stdin", dir);
	snprintf(opt, sizeof(opt), "challenge_exec=%s", script);
	f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\ncat > %s\n"
	    "case \"$SCEP_CHALLENGE\" in\n"
	    "let-me-in) echo \"allowed: $SCEP_SUBJECT from $SCEP_CLIENT_ADDR\";"
	    " exit 0;;\n"
	    "slow) sleep 10;;\n"
	    "esac\necho \"unknown device $SCEP_TRANSACTION_ID\"; exit 1\n",
	    stdin_copy);
	fclose(f);
	chmod(script, 0755);
	ck_assert(tu_server_start(&s, extra));
	ck_assert_int_eq(try_challenge(&s, "exec-ok", "let-me-in", &reason), 0);
	ck_assert_str_eq(reason, "allowed: CN=exec-ok from 127.0.0.1");
	free(reason);
	csr = tu_read_file(stdin_copy, &n);
	ck_assert(strncmp((char *)csr, "-----BEGIN CERTIFICATE REQUEST-----", 35) == 0);
	free(csr);
	ck_assert_int_eq(try_challenge(&s, "exec-no", "guess", &reason), 2);
	ck_assert(strncmp(reason, "unknown device ", 15) == 0);
	free(reason);
	ck_assert_int_eq(try_challenge(&s, "exec-slow", "slow", &reason), 2);
	ck_assert_str_eq(reason, "challenge program timed out after 2 s");
	free(reason);
	ck_assert(tu_server_stop(&s));
	unlink(script);
	unlink(stdin_copy);
	rmdir(dir);
}
END_TEST

/* Failed challenges are limited per address, each one an event. */
START_TEST(test_challenge_rate_limit)
{
	static const char *const extra[] = { "challenge_failures=3",
	    "challenge_failure_window=1h", NULL };
	struct tu_server s;
	char *reason, *v;
	int i;

	ck_assert(tu_server_start(&s, extra));
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(try_challenge(&s, "guesser", "wrong", NULL), 2);
	/* Even the right password is not looked at now. */
	ck_assert_int_eq(try_challenge(&s, "guesser", "lab-secret", &reason), 2);
	ck_assert_ptr_nonnull(strstr(reason, "too many failed challenges"));
	free(reason);
	v = tu_ledger_query(&s, "SELECT group_concat(kind, ',') FROM (SELECT kind"
	    " FROM events WHERE kind LIKE 'challenge%' ORDER BY id)", NULL);
	ck_assert_str_eq(v, "challenge_failed,challenge_failed,challenge_failed,"
	    "challenge_rate_limited");
	free(v);
	ck_assert(tu_server_stop(&s));
}
END_TEST

/* Enroll against s with these options; the parsed reply. */
static void
enroll_with(const struct tu_server *s, const struct tc_opts *o,
    struct tc_req *req, struct tc_rep *rep)
{
	struct tu_http h;

	e2e_build(s, o, req);
	e2e_post(s, MSCEP, NULL, req, &h);
	e2e_check_certrep(s, req, &h, rep);
	tu_http_free(&h);
}

static char *
one_password(const struct tu_server *s, const char *profile)
{
	char args[128], *out;

	/* scepctl reads the file; the server's -o profiles must be given too. */
	snprintf(args, sizeof(args), "-o profile.wifi.days=30 challenge new%s%s"
	    " 2>/dev/null", profile ? " --profile " : "", profile ? profile : "");
	out = tu_scepctl(s, args);
	out[strcspn(out, "\n")] = '\0';
	return out;
}

/*
 * NDES's templates: chosen by the key usage a CSR asks for, or by the
 * profile a one-time password was made for; each shapes what is issued.
 */
START_TEST(test_profiles)
{
	static const char *const extra[] = { "challenge_mode=onetime",
	    "challenge_max=50", "challenge_failures=0",
	    "profile.sign.key_usage=digitalSignature",
	    "profile.sign.eku=emailProtection", "profile.sign.days=10",
	    "profile.held.approval=manual",
	    "profile.wifi.days=30", "profile.wifi.san_policy=require",
	    "profile.wifi.san_allow=DNS:*.wifi.lab.example",
	    "profile.wifi.subject=CN={cn},O=Wifi Lab",
	    "profile_signature=sign", "profile_encryption=held", NULL };
	struct tu_server s;
	struct tc_opts o = { .cn = "p" };
	struct tc_req req;
	struct tc_rep rep;
	X509_NAME *want;
	const char *why;
	char *pw, *v;
	int day, sec;

	ck_assert(tu_server_start(&s, extra));
	/* Signature only: the "sign" template. */
	pw = one_password(&s, NULL);
	o.challenge = pw;
	o.key_usage = "digitalSignature";
	enroll_with(&s, &o, &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	ck_assert_uint_eq(X509_get_key_usage(rep.cert), KU_DIGITAL_SIGNATURE);
	ck_assert(X509_get_extended_key_usage(rep.cert) & XKU_SMIME);
	ck_assert(ASN1_TIME_diff(&day, &sec, X509_get0_notBefore(rep.cert),
	    X509_get0_notAfter(rep.cert)));
	ck_assert_int_eq(day, 10);
	v = tu_ledger_query(&s, "SELECT profile FROM operations WHERE"
	    " transaction_id = ?1", req.txid);
	ck_assert_str_eq(v, "sign");
	free(v);
	free(pw);
	tc_rep_free(&rep);
	tc_req_free(&req);

	/* Encryption only: "held", which waits for an administrator. */
	pw = one_password(&s, NULL);
	o.challenge = pw;
	o.key_usage = "keyEncipherment";
	enroll_with(&s, &o, &req, &rep);
	ck_assert_int_eq(rep.status, 3);
	free(pw);
	tc_rep_free(&rep);
	tc_req_free(&req);

	/* Both, or none: the default profile. */
	pw = one_password(&s, NULL);
	o.challenge = pw;
	o.key_usage = NULL;
	enroll_with(&s, &o, &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	v = tu_ledger_query(&s, "SELECT profile FROM operations WHERE"
	    " transaction_id = ?1", req.txid);
	ck_assert_str_eq(v, "default");
	free(v);
	free(pw);
	tc_rep_free(&rep);
	tc_req_free(&req);

	/* A password made for "wifi": its SAN policy and subject apply. */
	pw = one_password(&s, "wifi");
	o.challenge = pw;
	o.cn = "ap7";
	o.sans = "DNS:ap7.wifi.lab.example";
	enroll_with(&s, &o, &req, &rep);
	ck_assert_int_eq(rep.status, 0);
	want = ca_name_parse("CN=ap7,O=Wifi Lab", &why);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(rep.cert), want), 0);
	X509_NAME_free(want);
	ck_assert(ASN1_TIME_diff(&day, &sec, X509_get0_notBefore(rep.cert),
	    X509_get0_notAfter(rep.cert)));
	ck_assert_int_eq(day, 30);
	free(pw);
	tc_rep_free(&rep);
	tc_req_free(&req);
	pw = one_password(&s, "wifi");
	o.challenge = pw;
	o.sans = "DNS:laptop.corp.example";
	enroll_with(&s, &o, &req, &rep);
	ck_assert_int_eq(rep.status, 2);
	ck_assert_int_eq(rep.fail_info, 2);
	v = tu_ledger_query(&s, "SELECT profile || '|' || reason FROM operations"
	    " WHERE transaction_id = ?1", req.txid);
	ck_assert_str_eq(v, "wifi|CSR subjectAltName not allowed by the "
	    "profile's san_allow");
	free(v);
	free(pw);
	tc_rep_free(&rep);
	tc_req_free(&req);
	/* scepctl refuses a profile that does not exist. */
	v = tu_scepctl(&s, "challenge new --profile nope 2>&1");
	ck_assert_ptr_nonnull(strstr(v, "no profile named 'nope'"));
	free(v);
	ck_assert(tu_server_stop(&s));
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("e2e_policy");
	TCase *t;

	t = tcase_create("policy");
	tcase_add_test(t, test_manual_approval);
	tcase_add_test(t, test_onetime_challenge);
	tcase_add_test(t, test_exec_challenge);
	tcase_add_test(t, test_challenge_rate_limit);
	tcase_add_test(t, test_profiles);
	tcase_set_timeout(t, 240);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return e2e_run(policy_suite());
}
