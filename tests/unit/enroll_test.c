/*
 * server/enroll without HTTP: PKIOperation bodies built by the test
 * client go straight into enroll_pkioperation() against a real CA and
 * ledger, and the reply and the ledger row are checked.  The CA is made
 * once per run (an unchecked fixture); each test opens it, a ledger and
 * an enrollment context of its own (a checked fixture, in the test's
 * process: the ledger's threads do not survive Check's fork).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "server/common/common.h"
#include "server/enroll/enroll.h"
#include "tests/lib/scep_client.h"
#include "tests/lib/testutil.h"

static char *dir;
static struct scepd_config cfg;
static ca *the_ca;
static ledger *led;
static enroll_ctx *ctx;

static void
config_for(struct scepd_config *c, const char *const *extra)
{
	char state[600], err[CONFIG_ERR_MAX];
	char *o[16];
	size_t n = 0;

	snprintf(state, sizeof(state), "state_dir=%s/var", dir);
	o[n++] = state;
	o[n++] = "challenge=lab-secret";
	o[n++] = "privsep=no";
	o[n++] = "challenge_failures=0";
	while (extra != NULL && *extra != NULL && n < 16)
		o[n++] = (char *)*extra++;
	ck_assert_msg(setup_config(c, "conf/scepd.conf", o, n, err,
	    sizeof(err)), "%s", err);
}

/* Once: the CA on disk (made by the first ca_open). */
static void
make_ca(void)
{
	struct scepd_config c;
	struct ca_params p;
	const char *why = "";
	int created = 0;
	ca *made = NULL;

	dir = tu_tmpdir();
	config_for(&c, NULL);
	if (!setup_state_dir(c.state_dir, &why) ||
	    !setup_data_dir(c.state_dir, &why) ||
	    !setup_ca_params(&c, &p, &why) ||
	    ca_open(c.state_dir, &p, &created, &made, &why) != CA_OK || !created) {
		fprintf(stderr, "enroll: cannot make the CA: %s\n", why);
		exit(1);
	}
	ca_params_wipe(&p);
	ca_free(made);
	config_free(&c);
}

static void
remove_ca(void)
{
	tu_rm_rf(dir);
	free(dir);
}

static void
open_ctx_with(const char *const *extra)
{
	struct challenge ch;
	struct ca_params p;
	char path[4096], plain[CHALLENGE_GEN_LEN + 1];
	const char *why = "";
	int generated = 0;

	config_for(&cfg, extra);
	ck_assert(setup_ca_params(&cfg, &p, &why));
	ck_assert_int_eq(ca_open(cfg.state_dir, &p, NULL, &the_ca, &why), CA_OK);
	ca_params_wipe(&p);
	ck_assert(setup_ledger_path(&cfg, path, sizeof(path)));
	ck_assert_int_eq(ledger_open(path, &led, &why), LEDGER_OK);
	ck_assert_msg(enroll_new(&cfg, the_ca, led, NULL, 0, &ctx, &why), "%s",
	    why);
	memset(&ch, 0, sizeof(ch));
	ck_assert(challenge_setup(&ch, cfg.challenge, cfg.state_dir, plain,
	    &generated, &why));
	enroll_set_challenge(ctx, &ch);
}

static void
open_ctx(void)
{
	open_ctx_with(NULL);
}

static void
close_ctx(void)
{
	enroll_free(ctx);
	ledger_close(led);
	ca_free(the_ca);
	config_free(&cfg);
	ctx = NULL;
	led = NULL;
	the_ca = NULL;
}

/* A request from the test client, encrypted to the RA. */
static void
build(const struct tc_opts *o, struct tc_req *req)
{
	ck_assert(tc_build(o, ca_ra_cert_get0(the_ca), req));
}

static void
pkioperation(const struct tc_req *req, struct enroll_reply *rep)
{
	struct enroll_request r = { req->der, req->len, "192.0.2.7",
	    "enroll_test", "POST", 0 };

	r.received_us = (int64_t)time(NULL) * 1000000;
	enroll_pkioperation(ctx, &r, rep);
}

/* The reply is a CertRep about req; parsed into tr. */
static void
certrep(const struct tc_req *req, const struct enroll_reply *rep,
    struct tc_rep *tr)
{
	ck_assert_int_eq(rep->http_status, 200);
	ck_assert_str_eq(rep->content_type, "application/x-pki-message");
	ck_assert_msg(tc_parse_certrep(rep->body, rep->len, req, tr),
	    "CertRep does not parse or verify");
	ck_assert_str_eq(tr->txid, req->txid);
	ck_assert_int_eq(X509_cmp(tr->signer, ca_ra_cert_get0(the_ca)), 0);
}

/* Build a request from o, answer it, parse the CertRep. */
static void
enroll_one(const struct tc_opts *o, struct tc_req *req, struct enroll_reply *rep,
    struct tc_rep *tr)
{
	build(o, req);
	pkioperation(req, rep);
	certrep(req, rep, tr);
}

static void
enroll_one_free(struct tc_req *req, struct enroll_reply *rep, struct tc_rep *tr)
{
	tc_rep_free(tr);
	enroll_reply_free(rep);
	tc_req_free(req);
}

START_TEST(test_issue)
{
	struct tc_opts o = { .cn = "enroll-unit", .challenge = "lab-secret" };
	struct enroll_reply rep;
	struct tc_req req;
	struct tc_rep tr;

	enroll_one(&o, &req, &rep, &tr);
	ck_assert_int_eq(tr.status, 0);
	ck_assert_ptr_nonnull(tr.cert);
	ck_assert_int_eq(X509_check_issued(ca_cert_get0(the_ca), tr.cert),
	    X509_V_OK);
	ck_assert_str_eq(rep.summary.outcome, "issued");
	ck_assert_str_eq(rep.summary.msg_type, "PKCSReq");
	ck_assert_str_eq(rep.summary.txid, req.txid);
	ck_assert(rep.summary.serial[0] != '\0');
	/* The row was committed before the reply came back. */
	ck_assert_int_gt(rep.op_id, 0);
	ck_assert_int_eq(ledger_find_issued(led, req.txid), rep.op_id);
	enroll_one_free(&req, &rep, &tr);
}
END_TEST

START_TEST(test_wrong_challenge)
{
	struct tc_opts o = { .cn = "enroll-wrong", .challenge = "not-it" };
	struct enroll_reply rep;
	struct tc_req req;
	struct tc_rep tr;

	enroll_one(&o, &req, &rep, &tr);
	ck_assert_int_eq(tr.status, 2);			/* FAILURE */
	ck_assert_int_eq(tr.fail_info, 2);		/* badRequest */
	ck_assert_ptr_null(tr.cert);
	ck_assert_str_eq(rep.summary.outcome, "rejected");
	ck_assert(rep.summary.reason[0] != '\0');
	ck_assert_int_gt(rep.op_id, 0);
	ck_assert_int_eq(ledger_find_issued(led, req.txid), 0);
	enroll_one_free(&req, &rep, &tr);
}
END_TEST

/* The same request again: the same certificate, "reissued". */
START_TEST(test_resend)
{
	struct tc_opts o = { .cn = "enroll-again", .challenge = "lab-secret" };
	struct enroll_reply a, b;
	struct tc_req req;
	struct tc_rep ta, tb;

	build(&o, &req);
	pkioperation(&req, &a);
	certrep(&req, &a, &ta);
	pkioperation(&req, &b);
	certrep(&req, &b, &tb);
	ck_assert_int_eq(tb.status, 0);
	ck_assert_int_eq(X509_cmp(ta.cert, tb.cert), 0);
	ck_assert_str_eq(b.summary.outcome, "reissued");
	ck_assert_str_eq(a.summary.serial, b.summary.serial);
	ck_assert_int_ne(a.op_id, b.op_id);
	tc_rep_free(&ta);
	tc_rep_free(&tb);
	enroll_reply_free(&a);
	enroll_reply_free(&b);
	tc_req_free(&req);
}
END_TEST

/* Not a PKIMessage: a plain HTTP error, and still a ledger row. */
START_TEST(test_not_a_message)
{
	static const unsigned char junk[] = "this is not DER";
	struct enroll_request r = { junk, sizeof(junk), "192.0.2.8", NULL,
	    "POST", 0 };
	struct enroll_reply rep;

	enroll_pkioperation(ctx, &r, &rep);
	ck_assert_int_eq(rep.http_status, 400);
	ck_assert_str_eq(rep.content_type, "text/plain; charset=utf-8");
	ck_assert_ptr_null(rep.summary.msg_type);
	ck_assert_str_eq(rep.summary.outcome, "rejected");
	ck_assert_int_gt(rep.op_id, 0);
	enroll_reply_free(&rep);
}
END_TEST

START_TEST(test_reject_http)
{
	static const unsigned char body[] = "x";
	struct enroll_request r = { body, 1, "192.0.2.9", NULL, "POST", 0 };
	struct enroll_reply rep;

	enroll_reject_http(ctx, &r, 413, "request body larger than max_body",
	    &rep);
	ck_assert_int_eq(rep.http_status, 413);
	ck_assert_int_gt(rep.op_id, 0);
	ck_assert_str_eq(rep.summary.reason, "request body larger than max_body");
	enroll_reply_free(&rep);
}
END_TEST

/* What HTTP reports once the reply left becomes the row's delivery event. */
START_TEST(test_delivered)
{
	struct tc_opts o = { .cn = "enroll-delivered", .challenge = "lab-secret" };
	struct enroll_reply rep;
	struct tc_req req;
	char *json = NULL;
	size_t len = 0;
	int found = 0, i;

	build(&o, &req);
	pkioperation(&req, &rep);
	ck_assert_str_eq(rep.summary.outcome, "issued");
	ck_assert(enroll_delivered(ctx, rep.op_id, 1, "completed"));
	/* A detached write: committed within the next group commit or 10 ms. */
	for (i = 0; i < 200; i++) {
		FILE *f = open_memstream(&json, &len);

		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(report_show_json(led, req.txid, f, &found),
		    LEDGER_OK);
		fclose(f);
		if (strstr(json, "\"response_complete\"") != NULL)
			break;
		free(json);
		json = NULL;
		usleep(10000);
	}
	ck_assert_ptr_nonnull(json);
	ck_assert(found);
	ck_assert_ptr_nonnull(strstr(json, "\"termination\":\"completed\""));
	free(json);
	enroll_reply_free(&rep);
	tc_req_free(&req);
}
END_TEST

/* GetCACert's reply: RA and CA, as a degenerate PKCS#7. */
START_TEST(test_cacert)
{
	X509 *ra = ca_ra_cert_get0(the_ca), *cacert = ca_cert_get0(the_ca), *a, *b;
	STACK_OF(X509) *certs;
	unsigned char *der = NULL;
	const char *type = NULL;
	size_t len = 0;

	ck_assert(enroll_cacert(ctx, &der, &len, &type));
	ck_assert_str_eq(type, "application/x-x509-ca-ra-cert");
	ck_assert_ptr_nonnull(certs = tc_certs_only(der, len));
	/* A SET OF in DER: the order is the encoding's, not ours. */
	ck_assert_int_eq(sk_X509_num(certs), 2);
	a = sk_X509_value(certs, 0);
	b = sk_X509_value(certs, 1);
	ck_assert((X509_cmp(a, ra) == 0 && X509_cmp(b, cacert) == 0) ||
	    (X509_cmp(a, cacert) == 0 && X509_cmp(b, ra) == 0));
	ck_assert_ptr_null(enroll_nextca(ctx, &len));
	ck_assert_int_eq(len, 0);
	ck_assert(!enroll_has_next_ca(ctx));
	sk_X509_pop_free(certs, X509_free);
	free(der);
}
END_TEST

/* /crl/<id>.crl: unknown ids are not CAs; the CA's CRL once published. */
START_TEST(test_crl)
{
	char id[CA_ID_LEN + 1];
	const char *why = "";
	unsigned char *der;
	size_t len = 0;
	int known = 1;

	ck_assert_ptr_null(enroll_crl(ctx, "0000000000000000", &len, &known));
	ck_assert_int_eq(known, 0);
	ck_assert_int_eq(ca_id(the_ca, id), CA_OK);
	ck_assert(enroll_refresh_crls(ctx, &why));
	ck_assert_ptr_nonnull(der = enroll_crl(ctx, id, &len, &known));
	ck_assert_int_eq(known, 1);
	ck_assert_int_gt(len, 0);
	free(der);
}
END_TEST

/* scepd -n: a profile the CA could not issue by is refused. */
START_TEST(test_check_config)
{
	static const char *const bad[] = { "profile.x.eku=bogus", NULL };
	struct scepd_config c;
	const char *why = NULL;

	config_for(&c, NULL);
	ck_assert(enroll_check_config(&c, &why));
	config_free(&c);
	config_for(&c, bad);
	ck_assert(!enroll_check_config(&c, &why));
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "extended key usage"));
	config_free(&c);
}
END_TEST

/* challenge_failures: an address over its limit is refused outright. */
START_TEST(test_failure_limit)
{
	static const char *const limited[] = { "challenge_failures=2",
	    "challenge_failure_window=600", NULL };
	struct tc_opts bad = { .cn = "enroll-limit", .challenge = "wrong" };
	struct tc_opts good = { .cn = "enroll-limit", .challenge = "lab-secret" };
	struct enroll_reply rep;
	struct tc_req req;
	struct tc_rep tr;
	int i;

	/* This test's context: two failures per address per ten minutes. */
	close_ctx();
	open_ctx_with(limited);
	for (i = 0; i < 2; i++) {
		enroll_one(&bad, &req, &rep, &tr);
		ck_assert_int_eq(tr.status, 2);
		enroll_one_free(&req, &rep, &tr);
	}
	/* Now even the right password is refused from this address. */
	enroll_one(&good, &req, &rep, &tr);
	ck_assert_int_eq(tr.status, 2);
	ck_assert_ptr_nonnull(strstr(rep.summary.reason, "failed"));
	enroll_one_free(&req, &rep, &tr);
}
END_TEST

static Suite *
enroll_suite(void)
{
	Suite *s = suite_create("enroll");
	TCase *t;

	t = tcase_create("pkioperation");
	tcase_add_unchecked_fixture(t, make_ca, remove_ca);
	tcase_add_checked_fixture(t, open_ctx, close_ctx);
	tcase_add_test(t, test_issue);
	tcase_add_test(t, test_wrong_challenge);
	tcase_add_test(t, test_resend);
	tcase_add_test(t, test_not_a_message);
	tcase_add_test(t, test_reject_http);
	tcase_add_test(t, test_delivered);
	tcase_add_test(t, test_cacert);
	tcase_add_test(t, test_crl);
	tcase_add_test(t, test_check_config);
	tcase_add_test(t, test_failure_limit);
	tcase_set_timeout(t, 60);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return tu_run_suite(enroll_suite(), 1);
}
