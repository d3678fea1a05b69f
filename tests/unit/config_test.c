/* server/: configuration, challenge hashing, lenient base64. */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "server/common/common.h"
#include "server/enroll/enroll.h"
#include "tests/lib/testutil.h"

static char *dir;

static void
setup(void)
{
	dir = tu_tmpdir();
}

static void
teardown(void)
{
	tu_rm_rf(dir);
	free(dir);
}

static char *
write_conf(const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/test.conf", dir);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(test_shipped_conf)
{
	struct scepd_config c;
	char err[CONFIG_ERR_MAX];

	/* conf/scepd.conf is the README's lab default: it must load. */
	config_init(&c);
	ck_assert_msg(config_load(&c, "conf/scepd.conf", err, sizeof(err)), "%s", err);
	ck_assert_str_eq(c.listen, "127.0.0.1:8080");
	ck_assert_str_eq(c.state_dir, "./var");
	ck_assert_str_eq(c.challenge, "auto");
	ck_assert_int_eq(c.legacy_algorithms, 1);
	ck_assert_int_eq(c.max_body, 256 * 1024);
	ck_assert_int_ge(c.max_url, 65536);
	ck_assert_int_eq(c.timeout, 30);
	config_free(&c);
}
END_TEST

START_TEST(test_values_and_overrides)
{
	struct scepd_config c;
	char err[CONFIG_ERR_MAX];
	char *path = write_conf(
	    "# comment\n"
	    "\n"
	    "listen = [::1]:0\n"
	    "state_dir = \"/tmp/with space\"\n"
	    "challenge =\n"
	    "legacy_algorithms = no\n"
	    "max_body = 1M\n"
	    "timeout = 2m\n"
	    "max_clock_skew = 1d\n"
	    "log_level = debug\n"
	    "log = syslog\n"
	    "eku = clientAuth,serverAuth\n");

	config_init(&c);
	ck_assert_msg(config_load(&c, path, err, sizeof(err)), "%s", err);
	ck_assert_str_eq(c.listen, "[::1]:0");
	ck_assert_str_eq(c.state_dir, "/tmp/with space");
	ck_assert_str_eq(c.challenge, "");
	ck_assert_int_eq(c.legacy_algorithms, 0);
	ck_assert_int_eq(c.max_body, 1024 * 1024);
	ck_assert_int_eq(c.timeout, 120);
	ck_assert_int_eq(c.max_clock_skew, 86400);
	ck_assert_int_eq(c.log_level, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(c.log_target, LOG_TO_SYSLOG);
	ck_assert_int_eq(config_override(&c, "legacy_algorithms=yes", err,
	    sizeof(err)), 1);
	ck_assert_int_eq(config_override(&c, "listen = 127.0.0.1:9000", err,
	    sizeof(err)), 1);
	ck_assert_int_eq(c.legacy_algorithms, 1);
	ck_assert_str_eq(c.listen, "127.0.0.1:9000");
	config_free(&c);
}
END_TEST

struct bad_line {
	const char	*text;
	const char	*want;	/* expected error, after "file:line: " */
	int		 line;
};

static const struct bad_line bad_lines[] = {
	{ "nokey\n", "expected 'key = value'", 1 },
	{ "# ok\nunknown_key = 1\n", "unknown key 'unknown_key'", 2 },
	{ "listen = 8080\n", "listen: want ADDRESS:PORT", 1 },
	{ "listen = 127.0.0.1:70000\n", "listen: want ADDRESS:PORT", 1 },
	{ "\n\nlegacy_algorithms = maybe\n", "want yes or no", 3 },
	{ "ca_key_bits = 1024\n", "out of range (2048..8192)", 1 },
	{ "ca_days = ten\n", "want a number", 1 },
	{ "max_body = 12q\n", "want a size", 1 },
	{ "max_body = 10\n", "out of range", 1 },
	{ "timeout = 5x\n", "want a duration", 1 },
	{ "log_level = loud\n", "want one of error, warn, info, debug", 1 },
	{ "renewal_subject = maybe\n", "want one of same, csr", 1 },
	{ "profile.wifi.colour = red\n", "unknown profile key 'colour'", 1 },
	{ "profile.wi fi.days = 3\n", "profile names use letters", 1 },
	{ "profile.wifi.days = 0\n", "want 1..36500", 1 },
	{ "profile.wifi.san_policy = some\n", "copy, allow or require", 1 },
	{ "profile.x\n", "expected 'key = value'", 1 },
	{ "state_dir =\n", "must not be empty", 1 },
};

START_TEST(test_bad_line)
{
	const struct bad_line *b = &bad_lines[_i];
	struct scepd_config c;
	char err[CONFIG_ERR_MAX], want[1024];
	char *path = write_conf(b->text);

	config_init(&c);
	ck_assert_int_eq(config_load(&c, path, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s:%d: ", path, b->line);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got '%s'", err);
	ck_assert_msg(strstr(err, b->want) != NULL, "got '%s'", err);
	config_free(&c);
}
END_TEST

START_TEST(test_profiles_config)
{
	struct scepd_config c;
	char err[CONFIG_ERR_MAX];
	const struct scepd_profile *p;
	char *path = write_conf(
	    "profile.wifi.days = 30\n"
	    "profile.wifi.san_policy = require\n"
	    "profile.wifi.san_allow = DNS:*.wifi.example\n"
	    "profile.wifi.approval = manual\n"
	    "profile_general = wifi\n");

	config_init(&c);
	ck_assert_msg(config_load(&c, path, err, sizeof(err)), "%s", err);
	ck_assert_int_eq(config_check(&c, err, sizeof(err)), 1);
	ck_assert_int_eq(c.n_profiles, 1);
	p = config_profile(&c, "wifi");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(p->days, 30);
	ck_assert_int_eq(p->san_policy, 2);
	ck_assert_str_eq(p->san_allow, "DNS:*.wifi.example");
	ck_assert_int_eq(p->approval, APPROVAL_MANUAL);
	/* A template name that was never defined is caught before start. */
	ck_assert(config_override(&c, "profile_signature=ghost", err, sizeof(err)));
	ck_assert_int_eq(config_check(&c, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "no profile named 'ghost'"));
	config_free(&c);
}
END_TEST

START_TEST(test_bad_override)
{
	struct scepd_config c;
	char err[CONFIG_ERR_MAX];

	config_init(&c);
	ck_assert_int_eq(config_override(&c, "novalue", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "-o novalue"));
	ck_assert_int_eq(config_override(&c, "threads=-1", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	ck_assert_int_eq(config_load(&c, "/nonexistent/x.conf", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.conf"));
	config_free(&c);
}
END_TEST

START_TEST(test_listen_parse)
{
	char host[64];
	int port;

	ck_assert(config_listen_parse("127.0.0.1:0", host, sizeof(host), &port));
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_int_eq(port, 0);
	ck_assert(config_listen_parse("[::1]:8443", host, sizeof(host), &port));
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(port, 8443);
	ck_assert(!config_listen_parse(":80", host, sizeof(host), &port));
	ck_assert(!config_listen_parse("[::1]80", host, sizeof(host), &port));
	ck_assert(!config_listen_parse("host:", host, sizeof(host), &port));
}
END_TEST

/* scepd -n validates and exits; errors name file:line. */
START_TEST(test_scepd_check_flag)
{
	char cmd[1024];
	char *path = write_conf("listen = 127.0.0.1:0\nbogus = 1\n");

	snprintf(cmd, sizeof(cmd), "%s/scepd -n -c conf/scepd.conf >/dev/null",
	    getenv("SCEPD_BIN") ? getenv("SCEPD_BIN") : "bin");
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/scepd -n -c %s 2>%s/err",
	    getenv("SCEPD_BIN") ? getenv("SCEPD_BIN") : "bin", path, dir);
	ck_assert_int_ne(system(cmd), 0);
	{
		char errpath[512], want[600];
		size_t n;
		unsigned char *out;

		snprintf(errpath, sizeof(errpath), "%s/err", dir);
		out = tu_read_file(errpath, &n);
		snprintf(want, sizeof(want), "%s:2: unknown key 'bogus'", path);
		ck_assert_msg(strstr((char *)out, want) != NULL, "%s", out);
		free(out);
	}
}
END_TEST

START_TEST(test_challenge_plain)
{
	struct challenge c;
	char plain[CHALLENGE_GEN_LEN + 1];
	const char *why = NULL;
	int gen;

	ck_assert(challenge_setup(&c, "s3cret", dir, plain, &gen, &why));
	ck_assert_int_eq(gen, 0);
	ck_assert(challenge_verify(&c, "s3cret"));
	ck_assert(!challenge_verify(&c, "s3cre"));
	ck_assert(!challenge_verify(&c, "s3cret "));
	ck_assert(!challenge_verify(&c, ""));
	ck_assert(!challenge_verify(&c, NULL));
	ck_assert(challenge_setup(&c, "", dir, plain, &gen, &why));
	ck_assert_int_eq(c.required, 0);
	ck_assert(challenge_verify(&c, NULL));
}
END_TEST

START_TEST(test_challenge_hash_text)
{
	struct challenge c;
	char text[CHALLENGE_HASH_MAX], plain[CHALLENGE_GEN_LEN + 1];
	const char *why = NULL;
	int gen;

	ck_assert(challenge_hash_text("hashed-pw", text, sizeof(text)));
	ck_assert(strncmp(text, "pbkdf2-sha256$", 14) == 0);
	ck_assert_ptr_null(strstr(text, "hashed-pw"));
	ck_assert(challenge_setup(&c, text, dir, plain, &gen, &why));
	ck_assert(challenge_verify(&c, "hashed-pw"));
	ck_assert(!challenge_verify(&c, "other"));
	text[strlen(text) - 1] = '\0';
	ck_assert(!challenge_setup(&c, text, dir, plain, &gen, &why));
}
END_TEST

START_TEST(test_challenge_auto)
{
	struct challenge c;
	char plain[CHALLENGE_GEN_LEN + 1], again[CHALLENGE_GEN_LEN + 1], path[512];
	unsigned char *stored;
	const char *why = NULL;
	struct stat st;
	size_t n;
	int gen;

	ck_assert(challenge_setup(&c, "auto", dir, plain, &gen, &why));
	ck_assert_int_eq(gen, 1);
	ck_assert_uint_eq(strlen(plain), CHALLENGE_GEN_LEN);
	ck_assert(challenge_verify(&c, plain));
	/* Stored hashed, mode 0600; the password itself is not on disk. */
	snprintf(path, sizeof(path), "%s/challenge.hash", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	stored = tu_read_file(path, &n);
	ck_assert_ptr_null(strstr((char *)stored, plain));
	free(stored);
	/* Second start: same password, nothing generated. */
	ck_assert(challenge_setup(&c, "auto", dir, again, &gen, &why));
	ck_assert_int_eq(gen, 0);
	ck_assert_str_eq(again, "");
	ck_assert(challenge_verify(&c, plain));
	/* Reset replaces it. */
	ck_assert(challenge_reset(dir, again, &why));
	ck_assert(challenge_setup(&c, "auto", dir, plain, &gen, &why));
	ck_assert_int_eq(gen, 0);
	ck_assert(challenge_verify(&c, again));
}
END_TEST

struct b64_case {
	const char	*in;
	const char	*out;	/* NULL: must be refused */
};

static const struct b64_case b64_cases[] = {
	{ "TWFu", "Man" },
	{ "TWE=", "Ma" },
	{ "TWE", "Ma" },		/* missing padding */
	{ "TQ==", "M" },
	{ "TQ", "M" },
	{ "T\r\nW\nFu", "Man" },	/* line breaks */
	{ "+/+/", "\xfb\xff\xbf" },
	{ "-_-_", "\xfb\xff\xbf" },	/* URL-safe */
	{ " / /", "\xfb\xff\xbf" },	/* '+' decoded as space */
	{ "TWE=\n", "Ma" },
	{ "", "" },
	{ "T", NULL },			/* six bits only */
	{ "TW=E", NULL },		/* data after padding */
	{ "TWFu!", NULL },
	{ "TQ===", NULL },
	{ "TWFu%2B", NULL },		/* still percent-encoded */
};

START_TEST(test_b64)
{
	const struct b64_case *t = &b64_cases[_i];
	unsigned char out[64];
	long n = b64_decode_lenient(t->in, strlen(t->in), out);

	if (t->out == NULL) {
		ck_assert_msg(n < 0, "'%s' accepted", t->in);
		return;
	}
	ck_assert_msg(n == (long)strlen(t->out), "'%s': %ld bytes", t->in, n);
	ck_assert_mem_eq(out, t->out, (size_t)n);
}
END_TEST

START_TEST(test_b64_encode)
{
	unsigned char bin[800];
	unsigned char back[900];
	char *s;
	size_t i;

	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7);
	s = b64_encode(bin, sizeof(bin), 0);
	ck_assert_uint_eq(strlen(s), (sizeof(bin) + 2) / 3 * 4);
	ck_assert_int_eq(b64_decode_lenient(s, strlen(s), back), (long)sizeof(bin));
	ck_assert_mem_eq(back, bin, sizeof(bin));
	free(s);
	/* The ledger keeps exactly the first 1,024 characters. */
	s = b64_encode(bin, sizeof(bin), 1024);
	ck_assert_uint_eq(strlen(s), 1024);
	free(s);
	s = b64_encode((const unsigned char *)"Ma", 2, 0);
	ck_assert_str_eq(s, "TWE=");
	free(s);
}
END_TEST

/* A CRL past half its life is republished; a fresh one is left alone. */
START_TEST(test_crl_refresh)
{
	const struct ca_params params = { .key_bits = 2048, .key_type = "rsa",
	    .ca_subject = "CN=Refresh CA", .ca_days = 30, .ra_subject = "" };
	char path[512], id[CA_ID_LEN + 1], crlpath[600];
	const char *why = "";
	X509_CRL *old = NULL;
	unsigned char *der = NULL;
	ledger *l = NULL;
	ca *c = NULL;
	int published, n;
	FILE *f;

	ck_assert_int_eq(ca_open(dir, &params, NULL, &c, &why), CA_OK);
	snprintf(path, sizeof(path), "%s/ledger.db", dir);
	ck_assert_int_eq(ledger_open(path, &l, &why), LEDGER_OK);
	ck_assert(crl_refresh(c, l, dir, 2, &published, &why));
	ck_assert_int_eq(published, 1);		/* none yet */
	ck_assert(crl_refresh(c, l, dir, 2, &published, &why));
	ck_assert_int_eq(published, 0);		/* fresh */
	/* Replace it with one made 30 hours ago for 2 days: 18 h left. */
	ck_assert_int_eq(ca_crl(c, NULL, 0, 99, time(NULL) - 30 * 3600, 2, &old,
	    &why), CA_OK);
	n = i2d_X509_CRL(old, &der);
	ck_assert_int_eq(ca_id(c, id), CA_OK);
	snprintf(crlpath, sizeof(crlpath), "%s/data/crl/%s.crl", dir, id);
	f = fopen(crlpath, "wb");
	ck_assert_int_eq(fwrite(der, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	ck_assert(crl_refresh(c, l, dir, 2, &published, &why));
	ck_assert_int_eq(published, 1);
	OPENSSL_free(der);
	X509_CRL_free(old);
	ledger_close(l);
	ca_free(c);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *t;

	t = tcase_create("config");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_shipped_conf);
	tcase_add_test(t, test_values_and_overrides);
	tcase_add_loop_test(t, test_bad_line, 0,
	    (int)(sizeof(bad_lines) / sizeof(bad_lines[0])));
	tcase_add_test(t, test_profiles_config);
	tcase_add_test(t, test_bad_override);
	tcase_add_test(t, test_listen_parse);
	tcase_add_test(t, test_scepd_check_flag);
	tcase_set_timeout(t, 30);
	suite_add_tcase(s, t);

	t = tcase_create("challenge");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_challenge_plain);
	tcase_add_test(t, test_challenge_hash_text);
	tcase_add_test(t, test_challenge_auto);
	tcase_set_timeout(t, 30);
	suite_add_tcase(s, t);

	t = tcase_create("crl");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_crl_refresh);
	tcase_set_timeout(t, 60);
	suite_add_tcase(s, t);

	t = tcase_create("base64");
	tcase_add_loop_test(t, test_b64, 0,
	    (int)(sizeof(b64_cases) / sizeof(b64_cases[0])));
	tcase_add_test(t, test_b64_encode);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return tu_run_suite(config_suite(), 0);
}
