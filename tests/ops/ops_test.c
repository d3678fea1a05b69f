#define _GNU_SOURCE	/* strcasestr */
/*
 * Operator tools: `scepctl doctor` catches each misconfiguration it lists,
 * on a copy of a running server's state broken one way at a time; `scepctl
 * profile` prints what MDMs ask for and writes a .mobileconfig whose
 * settings enroll.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "server/common/common.h"
#include "tests/lib/scep_client.h"
#include "tests/lib/testutil.h"

static struct tu_server srv;
static char copy[600];

static void
start(void)
{
	ck_assert_int_eq(tu_server_start(&srv, NULL), 1);
}

static void
stop(void)
{
	ck_assert_int_eq(tu_server_stop(&srv), 1);
}

/* A fresh copy of the server's state directory (ledger checkpointed). */
static void
fresh_copy(void)
{
	char cmd[2048];

	snprintf(copy, sizeof(copy), "%s/copy", srv.dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s && cp -a %s/var %s && "
	    "sqlite3 %s/data/ledger.db 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null",
	    copy, srv.dir, copy, copy);
	ck_assert_int_eq(system(cmd), 0);
}

/* scepctl doctor on state dir with extra -o options; output, exit code. */
static char *
doctor(const char *state, const char *extra, int *status)
{
	char cmd[2048], *out;

	snprintf(cmd, sizeof(cmd), "%s/scepctl -c conf/scepd.conf -o "
	    "state_dir=%s -o listen=127.0.0.1:%d %s doctor", tu_bin_dir(), state,
	    srv.port, extra != NULL ? extra : "");
	ck_assert_ptr_nonnull(out = tu_capture(cmd, status));
	return out;
}

/* The doctor's output has a line "VERDICT  CHECK ..." (with also in it). */
static void
expect(const char *out, const char *verdict, const char *check,
    const char *also)
{
	char want[64];
	const char *line = out, *end;

	snprintf(want, sizeof(want), "%-4s  %-12s ", verdict, check);
	for (; *line != '\0'; line = *end ? end + 1 : end) {
		end = line + strcspn(line, "\n");
		if (strncmp(line, want, strlen(want)) != 0)
			continue;
		if (also == NULL || (strstr(line, also) != NULL &&
		    strstr(line, also) < end))
			return;
	}
	ck_abort_msg("no \"%s\" line%s%s in:\n%s", want, also ? " with " : "",
	    also ? also : "", out);
}

static EVP_PKEY *
read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	ck_assert_ptr_nonnull(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(k);
	return k;
}

/* Replace copy/ra.pem and ra.key with an RA certificate made as told. */
static void
write_ra(const char *key_usage, long not_before, long not_after)
{
	char path[700];
	EVP_PKEY *cakey, *key = tc_rsa_key(2048);
	X509 *cacert = tu_server_cert(&srv, "ca"), *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/ca.key", copy);
	cakey = read_key(path);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"broken RA", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(cacert));
	X509_gmtime_adj(X509_getm_notBefore(x), not_before);
	X509_gmtime_adj(X509_getm_notAfter(x), not_after);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, cacert, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, key_usage);
	ck_assert_ptr_nonnull(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ck_assert_int_gt(X509_sign(x, cakey, EVP_sha256()), 0);
	snprintf(path, sizeof(path), "%s/ra.pem", copy);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	PEM_write_X509(f, x);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ra.key", copy);
	unlink(path);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600), 0);
	ck_assert_ptr_nonnull(f = fdopen(fd, "w"));
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	X509_free(cacert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
}

/* Replace copy/ca.pem with the same CA (name, key) valid as told. */
static void
write_ca(long not_before, long not_after)
{
	char path[700];
	EVP_PKEY *cakey;
	X509 *old = tu_server_cert(&srv, "ca"), *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	FILE *f;
	static const struct { int nid; const char *value; } exts[] = {
		{ NID_basic_constraints, "critical,CA:TRUE" },
		{ NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature" },
		{ NID_subject_key_identifier, "hash" },
	};
	size_t i;

	snprintf(path, sizeof(path), "%s/ca.key", copy);
	cakey = read_key(path);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 77);
	X509_set_subject_name(x, X509_get_subject_name(old));
	X509_set_issuer_name(x, X509_get_subject_name(old));
	X509_gmtime_adj(X509_getm_notBefore(x), not_before);
	X509_gmtime_adj(X509_getm_notAfter(x), not_after);
	X509_set_pubkey(x, cakey);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		ck_assert_ptr_nonnull(ext = X509V3_EXT_conf_nid(NULL, &ctx,
		    exts[i].nid, exts[i].value));
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	ck_assert_int_gt(X509_sign(x, cakey, EVP_sha256()), 0);
	snprintf(path, sizeof(path), "%s/ca.pem", copy);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	PEM_write_X509(f, x);
	fclose(f);
	X509_free(x);
	X509_free(old);
	EVP_PKEY_free(cakey);
}

START_TEST(test_doctor_ca)
{
	char path[700], *out;
	int status;

	/* The CA expired; its clock check stays ok. */
	fresh_copy();
	write_ca(-86400 * 400, -86400 * 5);
	out = doctor(copy, NULL, &status);
	ck_assert_int_eq(status, 1);
	expect(out, "fail", "CA validity", "expired 5 days ago");
	expect(out, "ok", "ca.key", "matches");
	free(out);
	/* Not valid yet: the clock is behind the CA. */
	write_ca(86400 * 2, 86400 * 400);
	out = doctor(copy, NULL, &status);
	ck_assert_int_eq(status, 1);
	expect(out, "fail", "CA validity", "not valid yet");
	expect(out, "fail", "clock", "before the CA's notBefore");
	free(out);
	/* Missing CA and RA certificates. */
	fresh_copy();
	snprintf(path, sizeof(path), "%s/ca.pem", copy);
	ck_assert_int_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/ra.pem", copy);
	ck_assert_int_eq(unlink(path), 0);
	out = doctor(copy, NULL, &status);
	ck_assert_int_eq(status, 1);
	expect(out, "fail", "CA", "missing");
	expect(out, "fail", "RA", "missing");
	free(out);
	/* An RA the CA did not issue. */
	fresh_copy();
	{
		EVP_PKEY *k = tc_rsa_key(2048);
		X509 *foreign = tc_self_signed(k, "foreign RA", k, "Other CA");
		FILE *f;

		snprintf(path, sizeof(path), "%s/ra.pem", copy);
		ck_assert_ptr_nonnull(f = fopen(path, "w"));
		PEM_write_X509(f, foreign);
		fclose(f);
		X509_free(foreign);
		EVP_PKEY_free(k);
	}
	out = doctor(copy, NULL, &status);
	ck_assert_int_eq(status, 1);
	expect(out, "fail", "RA", "not issued by the CA");
	expect(out, "fail", "ra.key", "does not match");
	free(out);
}
END_TEST

START_TEST(test_doctor_healthy)
{
	char state[600], *out;
	int status;

	snprintf(state, sizeof(state), "%s/var", srv.dir);
	out = doctor(state, NULL, &status);
	ck_assert_msg(status == 0 && strstr(out, "0 failed, 0 warnings") != NULL,
	    "%s", out);
	expect(out, "ok", "GetCACaps", "answers");
	expect(out, "ok", "GetCACert", "the CA among them");
	expect(out, "ok", "ledger", "integrity_check ok");
	free(out);
}
END_TEST

START_TEST(test_doctor_config)
{
	char state[600], *out;
	int status;

	snprintf(state, sizeof(state), "%s/var", srv.dir);
	out = doctor(state, "-o no_such_key=1", &status);
	ck_assert_int_eq(status, 1);
	expect(out, "fail", "config", "no_such_key");
	free(out);
	out = doctor("/nonexistent/scepd-state", NULL, &status);
	ck_assert_int_eq(status, 1);
	expect(out, "fail", "state_dir", "does not exist");
	free(out);
}
END_TEST

START_TEST(test_doctor_key_mode)
{
	char path[700], *out;
	int status;

	fresh_copy();
	snprintf(path, sizeof(path), "%s/ca.key", copy);
	ck_assert_int_eq(chmod(path, 0644), 0);
	out = doctor(copy, NULL, &status);
	ck_assert_int_eq(status, 1);
	expect(out, "fail", "ca.key", "mode 0644");
	ck_assert(strstr(out, "fix: chmod 600 ") != NULL);
	free(out);
}
END_TEST

START_TEST(test_doctor_ra)
{
	char *out;
	int status;

	fresh_copy();
	write_ra("critical,digitalSignature", -3600, 86400 * 365);
	out = doctor(copy, NULL, &status);
	ck_assert_int_eq(status, 1);
	expect(out, "fail", "RA key usage", "keyEncipherment");
	expect(out, "ok", "ra.key", NULL);
	free(out);
	write_ra("critical,digitalSignature,keyEncipherment", -86400 * 10,
	    -86400 * 2);
	out = doctor(copy, NULL, &status);
	ck_assert_int_eq(status, 1);
	expect(out, "ok", "RA", NULL);
	expect(out, "fail", "RA validity", "expired 2 days ago");
	free(out);
	write_ra("critical,digitalSignature,keyEncipherment", -3600, 86400 * 10);
	out = doctor(copy, NULL, &status);
	ck_assert_int_eq(status, 0);
	expect(out, "warn", "RA validity", "expires in ");
	free(out);
}
END_TEST

START_TEST(test_doctor_server)
{
	char path[700], state[600], *out;
	EVP_PKEY *k = tc_rsa_key(2048);
	X509 *other = tc_self_signed(k, "Other CA", k, "Other CA");
	FILE *f;
	int status;

	/* Nothing listening there. */
	snprintf(state, sizeof(state), "%s/var", srv.dir);
	out = doctor(state, "-o listen=127.0.0.1:1", &status);
	ck_assert_int_eq(status, 1);
	expect(out, "fail", "GetCACaps", "no answer");
	free(out);
	/* A server that serves some other CA than this state's. */
	fresh_copy();
	snprintf(path, sizeof(path), "%s/ca.pem", copy);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	PEM_write_X509(f, other);
	fclose(f);
	out = doctor(copy, NULL, &status);
	ck_assert_int_eq(status, 1);
	expect(out, "fail", "GetCACert", "not STATE_DIR/ca.pem");
	expect(out, "fail", "ca.key", "does not match");
	free(out);
	X509_free(other);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(test_doctor_ledger_and_clock)
{
	char path[700], cmd[1400], junk[4096], *out;
	long long ahead = ((long long)time(NULL) + 86400) * 1000000;
	struct stat sb;
	int status, fd;

	/* An event from a day ahead: the clock went back since. */
	fresh_copy();
	snprintf(cmd, sizeof(cmd), "sqlite3 %s/data/ledger.db \"INSERT INTO operations"
	    " (received_us, completed_us, outcome, http_status) VALUES (%lld,"
	    " %lld, 'rejected', 400); INSERT INTO events (operation_id, at_us,"
	    " kind, source) SELECT max(id), completed_us, 'rejected', 'server'"
	    " FROM operations\"", copy, ahead, ahead);
	ck_assert_int_eq(system(cmd), 0);
	out = doctor(copy, NULL, &status);
	ck_assert_int_eq(status, 1);
	expect(out, "ok", "ledger", NULL);
	expect(out, "fail", "clock", "behind the newest ledger event");
	free(out);
	/* Pages overwritten in the middle of the database file. */
	fresh_copy();
	snprintf(path, sizeof(path), "%s/data/ledger.db", copy);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_gt(sb.st_size, 4096 * 7);
	memset(junk, 0x5a, sizeof(junk));
	ck_assert_int_ge(fd = open(path, O_WRONLY), 0);
	ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), 4096 * 3), sizeof(junk));
	ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), 4096 * 6), sizeof(junk));
	close(fd);
	out = doctor(copy, NULL, &status);
	ck_assert_int_eq(status, 1);
	expect(out, "fail", "ledger", NULL);
	ck_assert(strstr(out, ".recover") != NULL);
	free(out);
}
END_TEST

/* scepctl against server s with args; stdout (malloc'd) and exit code. */
static char *
scepctl(const struct tu_server *s, const char *args, int *status)
{
	char cmd[4096], *out;

	snprintf(cmd, sizeof(cmd), "%s/scepctl -c conf/scepd.conf -o "
	    "state_dir=%s/var -o listen=127.0.0.1:%d %s", tu_bin_dir(), s->dir,
	    s->port, args);
	ck_assert_ptr_nonnull(out = tu_capture(cmd, status));
	return out;
}

/* Checks a .mobileconfig with Python's plistlib; prints its challenge. */
static const char plist_check[] =
    "import hashlib, plistlib, sys\n"
    "p = plistlib.load(open(sys.argv[1], 'rb'))\n"
    "ca = open(sys.argv[2], 'rb').read()\n"
    "root, scep = p['PayloadContent']\n"
    "assert p['PayloadType'] == 'Configuration'\n"
    "assert root['PayloadType'] == 'com.apple.security.root'\n"
    "assert root['PayloadContent'] == ca\n"
    "assert scep['PayloadType'] == 'com.apple.security.scep'\n"
    "s = scep['PayloadContent']\n"
    "assert s['URL'] == sys.argv[3], s['URL']\n"
    "assert s['Subject'] == [[['CN', 'iphone-7']], [['O', 'lab & co']]]\n"
    "assert s['Keysize'] == 2048 and s['Key Type'] == 'RSA'\n"
    "assert s['Key Usage'] == 5\n"
    "assert s['CAFingerprint'] == hashlib.sha1(ca).digest()\n"
    "assert len({root['PayloadUUID'], scep['PayloadUUID'],"
    " p['PayloadUUID']}) == 3\n"
    "print(s['Challenge'])\n";

/* Write the checker, run it on profile/cer for url; the challenge. */
static char *
check_mobileconfig(const struct tu_server *s, const char *profile,
    const char *cer, const char *url)
{
	char script[600], cmd[2400], pw[256] = "";
	FILE *f, *p;

	snprintf(script, sizeof(script), "%s/plist_check.py", s->dir);
	ck_assert_ptr_nonnull(f = fopen(script, "w"));
	fputs(plist_check, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "python3 %s %s %s '%s'", script, profile,
	    cer, url);
	ck_assert_ptr_nonnull(p = popen(cmd, "r"));
	ck_assert_ptr_nonnull(fgets(pw, sizeof(pw), p));
	ck_assert_int_eq(pclose(p), 0);
	pw[strcspn(pw, "\n")] = '\0';
	return strdup(pw);
}

static void
ca_der_equals(const struct tu_server *s, const char *path)
{
	X509 *cacert = tu_server_cert(s, "ca"), *got;
	FILE *f = fopen(path, "r");

	ck_assert_ptr_nonnull(f);
	got = d2i_X509_fp(f, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(X509_cmp(cacert, got), 0);
	X509_free(got);
	X509_free(cacert);
}

START_TEST(test_profile_ios)
{
	static const char url[] = "https://scep.example:8443/certsrv/mscep/mscep.dll";
	char args[2000], mc[600], cer[600], *out, *pw;
	int status;

	snprintf(mc, sizeof(mc), "%s/test.mobileconfig", srv.dir);
	snprintf(cer, sizeof(cer), "%s/ca.cer", srv.dir);
	/* A static challenge is kept hashed: the profile needs it given. */
	snprintf(args, sizeof(args), "profile ios --out %s", mc);
	out = scepctl(&srv, args, &status);
	ck_assert_int_eq(status, 1);
	ck_assert_int_ne(access(mc, F_OK), 0);
	free(out);
	snprintf(args, sizeof(args), "profile ios --url %s --challenge "
	    "lab-secret --subject 'CN=iphone-7,O=lab & co' --out %s --cer %s",
	    url, mc, cer);
	out = scepctl(&srv, args, &status);
	ck_assert_msg(status == 0, "%s", out);
	ck_assert(strstr(out, "Wrote ") != NULL);
	free(out);
	ca_der_equals(&srv, cer);
	pw = check_mobileconfig(&srv, mc, cer, url);
	ck_assert_str_eq(pw, "lab-secret");
	ck_assert_int_eq(tu_enroll_status(&srv, pw), 0);
	free(pw);
}
END_TEST

/* challenge_mode = onetime: the profile carries a fresh password. */
START_TEST(test_profile_onetime)
{
	static const char *const extra[] = { "challenge_mode=onetime", NULL };
	struct tu_server one;
	char args[1400], mc[600], cer[600], url[200], *out, *pw;
	int status;

	ck_assert_int_eq(tu_server_start(&one, extra), 1);
	snprintf(mc, sizeof(mc), "%s/one.mobileconfig", one.dir);
	snprintf(cer, sizeof(cer), "%s/one.cer", one.dir);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/certsrv/mscep/mscep.dll",
	    one.port);
	snprintf(args, sizeof(args), "-o challenge_mode=onetime profile ios "
	    "--subject 'CN=iphone-7,O=lab & co' --out %s --cer %s", mc, cer);
	out = scepctl(&one, args, &status);
	ck_assert_msg(status == 0, "%s", out);
	ck_assert(strstr(out, "the profile carries a new one") != NULL);
	free(out);
	pw = check_mobileconfig(&one, mc, cer, url);
	ck_assert_int_eq((int)strlen(pw), 24);
	ck_assert_int_eq(tu_enroll_status(&one, pw), 0);
	ck_assert_int_eq(tu_enroll_status(&one, pw), 2);	/* used up */
	free(pw);
	ck_assert_int_eq(tu_server_stop(&one), 1);
}
END_TEST

START_TEST(test_profile_android_windows)
{
	X509 *cacert = tu_server_cert(&srv, "ca");
	unsigned char d[20];
	unsigned int n = 0, i;
	char sha1[41], line[80], *out;
	int status;

	X509_digest(cacert, EVP_sha1(), d, &n);
	for (i = 0; i < n; i++)
		sprintf(sha1 + 2 * i, "%02X", d[i]);
	snprintf(line, sizeof(line), "CA SHA-1:            %s\n", sha1);
	out = scepctl(&srv, "profile android", &status);
	ck_assert_int_eq(status, 0);
	ck_assert(strstr(out, line) != NULL);
	ck_assert(strstr(out, "/certsrv/mscep/mscep.dll") != NULL);
	ck_assert(strstr(out, "{{AAD_Device_ID}}") != NULL);
	ck_assert(strstr(out, "key size 2048") != NULL);
	free(out);
	out = scepctl(&srv, "profile windows", &status);
	ck_assert_int_eq(status, 0);
	ck_assert(strstr(out, line) != NULL);
	ck_assert(strstr(out, "CAThumbprint") != NULL);
	ck_assert(strstr(out, "scepctl ingest events.xml") != NULL);
	free(out);
	out = scepctl(&srv, "profile blackberry", &status);
	ck_assert_int_eq(status, 2);
	free(out);
	X509_free(cacert);
}
END_TEST

/* One logfmt line per request, and no secret in any line. */
START_TEST(test_request_log)
{
	char path[600], *log, *token, *line;
	size_t n;

	ck_assert_int_eq(tu_enroll_status(&srv, "lab-secret"), 0);
	ck_assert_int_eq(tu_enroll_status(&srv, "wrong-secret"), 2);
	snprintf(path, sizeof(path), "%s/log", srv.dir);
	ck_assert_ptr_nonnull(log = (char *)tu_read_file(path, &n));
	ck_assert_ptr_nonnull(line = strstr(log, "op=PKIOperation msg=PKCSReq txid="));
	ck_assert(strstr(line, " status=issued serial=") != NULL);
	ck_assert(strstr(log, " status=rejected serial=- reason=\"challenge "
	    "password wrong\" client=127.0.0.1 http=200 ms=") != NULL);
	ck_assert(strstr(log, "lab-secret") == NULL);
	ck_assert(strstr(log, "wrong-secret") == NULL);
	snprintf(path, sizeof(path), "%s/var/admin.token", srv.dir);
	ck_assert_ptr_nonnull(token = (char *)tu_read_file(path, &n));
	token[strcspn(token, "\n")] = '\0';
	ck_assert(strlen(token) >= 20 && strstr(log, token) == NULL);
	/* Nor in any ledger row: the challenges, the token, a key. */
	{
		char cmd[1200], *dump, *key, *b64;
		int status;

		snprintf(cmd, sizeof(cmd), "sqlite3 %s/var/data/ledger.db .dump",
		    srv.dir);
		dump = tu_capture(cmd, &status);
		ck_assert_int_eq(status, 0);
		ck_assert(strstr(dump, "INSERT INTO operations") != NULL);
		ck_assert(strstr(dump, "lab-secret") == NULL);
		ck_assert(strstr(dump, "wrong-secret") == NULL);
		ck_assert(strstr(dump, token) == NULL);
		ck_assert(strstr(dump, "PRIVATE KEY") == NULL);
		snprintf(path, sizeof(path), "%s/var/ca.key", srv.dir);
		ck_assert_ptr_nonnull(key = (char *)tu_read_file(path, &n));
		b64 = strchr(key, '\n') + 1;	/* the key's first base64 line */
		b64[40] = '\0';
		ck_assert(strstr(dump, b64) == NULL && strstr(log, b64) == NULL);
		free(key);
		free(dump);
	}
	free(token);
	free(log);
}
END_TEST

/* conf/scepd.conf with lines appended (later keys win). */
static void
write_conf(const char *path, const char *lines)
{
	size_t n;
	unsigned char *base = tu_read_file("conf/scepd.conf", &n);
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(base);
	ck_assert_ptr_nonnull(f);
	fwrite(base, 1, n, f);
	fputs(lines, f);
	fclose(f);
	free(base);
}

/* GetCACaps on an open keep-alive connection; the HTTP status. */
static int
caps_on(int fd)
{
	static const char req[] = "GET /certsrv/mscep/mscep.dll?operation="
	    "GetCACaps HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	char buf[4096] = "";
	size_t len = 0;
	ssize_t k;
	int status = 0;
	char *end;
	long clen;

	if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
		return 0;
	while (len < sizeof(buf) - 1 &&
	    (k = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)k;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		if (strcasestr(buf, "Content-Length:") == NULL)
			break;
		clen = strtol(strcasestr(buf, "Content-Length:") + 15, NULL, 10);
		if ((size_t)(end + 4 - buf) + (size_t)clen <= len)
			break;
	}
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
		return 0;
	return status;
}

START_TEST(test_reload)
{
	static const char *const extra[] = { "admin_listen=", NULL };
	struct tu_server r;
	struct sockaddr_in sa;
	struct tu_http h;
	unsigned char junk[10000];
	char *dir = tu_tmpdir(), conf[600];
	int fd, days = 0;

	snprintf(conf, sizeof(conf), "%s/scepd.conf", dir);
	write_conf(conf, "challenge = first-secret\ncert_days = 365\n");
	ck_assert_int_eq(tu_server_start_conf(&r, conf, extra), 1);
	ck_assert_int_eq(tu_enroll(&r, "first-secret", &days), 0);
	ck_assert_int_eq(days, 365);
	/* A kept-alive connection from before the reload. */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)r.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(caps_on(fd), 200);

	write_conf(conf, "challenge = second-secret\ncert_days = 30\n"
	    "max_body = 8k\nthreads = 3\nmax_connections_per_ip = 2\n");
	tu_hup_and_wait(&r, " re-read; ");
	ck_assert_int_eq(tu_log_count(&r, "max_connections changed"), 0);
	/*
	 * The new per-address limit holds on new connections: two are
	 * served, a third is refused.  A connection this test closed a
	 * moment ago may still count until the server has noticed, so the
	 * two are retried for up to 2 s before the third is tried.
	 */
	{
		struct timespec tick = { 0, 100 * 1000 * 1000 };
		int c[3], i, tries, served = 0;

		for (tries = 0; tries < 20 && !served; tries++) {
			for (i = 0; i < 2; i++) {
				ck_assert_int_ge(c[i] = socket(AF_INET,
				    SOCK_STREAM, 0), 0);
				ck_assert_int_eq(connect(c[i],
				    (struct sockaddr *)&sa, sizeof(sa)), 0);
			}
			served = caps_on(c[0]) == 200 && caps_on(c[1]) == 200;
			if (!served) {
				close(c[0]);
				close(c[1]);
				nanosleep(&tick, NULL);
			}
		}
		ck_assert(served);
		ck_assert_int_ge(c[2] = socket(AF_INET, SOCK_STREAM, 0), 0);
		ck_assert_int_eq(connect(c[2], (struct sockaddr *)&sa,
		    sizeof(sa)), 0);
		ck_assert_int_eq(caps_on(c[2]), 0);	/* third: refused */
		for (i = 0; i < 3; i++)
			close(c[i]);
	}
	ck_assert_int_ge(tu_log_count(&r, "reload: threads changed; restart "
	    "scepd to apply it"), 1);
	ck_assert_int_eq(tu_enroll_status(&r, "first-secret"), 2);
	ck_assert_int_eq(tu_enroll(&r, "second-secret", &days), 0);
	ck_assert_int_eq(days, 30);
	memset(junk, 0x30, sizeof(junk));
	ck_assert(tu_http(r.port, "POST", "/certsrv/mscep/mscep.dll"
	    "?operation=PKIOperation", "application/x-pki-message", junk,
	    sizeof(junk), &h));
	ck_assert_int_eq(h.status, 413);
	tu_http_free(&h);
	ck_assert_int_eq(caps_on(fd), 200);	/* still the same connection */

	/* A file that does not load changes nothing. */
	write_conf(conf, "challenge = third-secret\nno_such_key = 1\n");
	tu_hup_and_wait(&r, "the running configuration stays");
	ck_assert_int_eq(tu_enroll_status(&r, "third-secret"), 2);
	ck_assert_int_eq(tu_enroll_status(&r, "second-secret"), 0);
	ck_assert_int_eq(caps_on(fd), 200);
	close(fd);
	/* Its last connection gone, the replaced daemon is stopped. */
	{
		struct timespec tick = { 0, 50 * 1000 * 1000 };
		int i;

		for (i = 0; i < 100 && tu_log_count(&r, "last connection closed; it "
		    "is stopped") == 0; i++)
			nanosleep(&tick, NULL);
		ck_assert_int_eq(tu_log_count(&r, "last connection closed; it is "
		    "stopped"), 1);
	}
	ck_assert_int_eq(tu_log_count(&r, "second-secret"), 0);
	ck_assert_int_eq(tu_server_stop(&r), 1);	/* SIGTERM: clean exit */
	tu_rm_rf(dir);
	free(dir);
}
END_TEST

/* SIGTERM with enrollments in flight: each accepted one is answered. */
#define DRAIN_N 12

struct drain {
	const struct tu_server	*s;
	struct tc_req		 req;
	int			 sent;		/* an HTTP reply came back */
	int			 status;	/* its HTTP status */
	int			 pki_status;	/* -1: did not parse */
};

static void *
drain_client(void *arg)
{
	struct drain *d = arg;
	struct tc_rep rep;
	struct tu_http h;

	d->pki_status = -1;
	if (!tu_http(d->s->port, "POST", "/certsrv/mscep/mscep.dll"
	    "?operation=PKIOperation", "application/x-pki-message", d->req.der,
	    d->req.len, &h))
		return NULL;
	d->sent = 1;
	d->status = h.status;
	if (tc_parse_certrep(h.body, h.len, &d->req, &rep)) {
		d->pki_status = rep.status;
		tc_rep_free(&rep);
	}
	tu_http_free(&h);
	return NULL;
}

START_TEST(test_sigterm_drains)
{
	struct tc_opts o = { .cn = "drain", .challenge = "lab-secret" };
	struct drain d[DRAIN_N];
	pthread_t th[DRAIN_N];
	struct timespec ts = { 0, 3 * 1000 * 1000 };
	struct tu_server t;
	X509 *ra;
	char cmd[1200], *out;
	int i, answered = 0, status;

	ck_assert_int_eq(tu_server_start(&t, NULL), 1);
	ra = tu_server_cert(&t, "ra");
	for (i = 0; i < DRAIN_N; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		d[i].s = &t;
		ck_assert(tc_build(&o, ra, &d[i].req));
	}
	for (i = 0; i < DRAIN_N; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, drain_client,
		    &d[i]), 0);
	nanosleep(&ts, NULL);
	ck_assert_int_eq(kill(t.pid, SIGTERM), 0);
	for (i = 0; i < DRAIN_N; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		/* Refused before it was accepted, or answered in full. */
		if (d[i].sent) {
			ck_assert_int_eq(d[i].status, 200);
			ck_assert_int_eq(d[i].pki_status, 0);
			answered++;
		}
	}
	ck_assert_int_gt(answered, 0);
	/* scepd exits 0 by itself once the replies are out. */
	ck_assert_int_eq(waitpid(t.pid, &status, 0), t.pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char lp[600], *log;
		size_t n;

		snprintf(lp, sizeof(lp), "%s/log", t.dir);
		if ((log = (char *)tu_read_file(lp, &n)) != NULL)
			fprintf(stderr, "scepd's log:\n%s\n", log);
		free(log);
		ck_abort_msg("scepd did not exit 0 after SIGTERM");
	}
	t.pid = 0;
	/* Every answered one is in the ledger, delivered. */
	snprintf(cmd, sizeof(cmd), "sqlite3 %s/var/data/ledger.db \"SELECT"
	    " count(*) FROM operations WHERE outcome = 'issued' AND status ="
	    " 'delivered'\"", t.dir);
	out = tu_capture(cmd, &status);
	ck_assert_int_eq(atoi(out), answered);
	free(out);
	for (i = 0; i < DRAIN_N; i++)
		tc_req_free(&d[i].req);
	X509_free(ra);
	tu_server_stop(&t);
}
END_TEST

/*
 * kill -9 during 16-way concurrent enrollment, then a restart: every
 * certificate a client received is in the ledger, no serial twice, the
 * database sound, and the restarted server answers at once.
 */
#define CRASH_THREADS	16
#define CRASH_EACH	40

struct crasher {
	const struct tu_server	*s;
	struct tc_req		 req[CRASH_EACH];
	char			*serial[CRASH_EACH];	/* received, or NULL */
};

/* Certificates received by all crashers so far. */
static _Atomic int crash_received;

static void *
crash_client(void *arg)
{
	struct crasher *c = arg;
	struct tc_rep rep;
	struct tu_http h;
	int i, ok;

	for (i = 0; i < CRASH_EACH; i++) {
		if (!tu_http(c->s->port, "POST", "/certsrv/mscep/mscep.dll"
		    "?operation=PKIOperation", "application/x-pki-message",
		    c->req[i].der, c->req[i].len, &h))
			break;			/* the server is gone */
		ok = h.status == 200 && tc_parse_certrep(h.body, h.len,
		    &c->req[i], &rep);
		tu_http_free(&h);
		if (!ok)
			break;
		if (rep.status == 0 && rep.cert != NULL &&
		    (c->serial[i] = ca_serial_hex(rep.cert)) != NULL)
			crash_received++;
		tc_rep_free(&rep);
	}
	return NULL;
}

START_TEST(test_kill9_durability)
{
	static struct crasher c[CRASH_THREADS];
	pthread_t th[CRASH_THREADS];
	struct timespec ts = { 0, 250 * 1000 * 1000 };
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	struct tu_server t;
	struct tu_http h;
	X509 *ra;
	char *sql, *cmd, *out;
	size_t cap = 65536, len;
	int i, j, got = 0, status;

	ck_assert_int_eq(tu_server_start(&t, NULL), 1);
	ra = tu_server_cert(&t, "ra");
	for (i = 0; i < CRASH_THREADS; i++) {
		EVP_PKEY *key = tc_rsa_key(2048);
		struct tc_opts o = { .cn = "crash", .challenge = "lab-secret",
		    .key = key };

		memset(&c[i], 0, sizeof(c[i]));
		c[i].s = &t;
		for (j = 0; j < CRASH_EACH; j++)
			ck_assert(tc_build(&o, ra, &c[i].req[j]));
		EVP_PKEY_free(key);
	}
	crash_received = 0;
	for (i = 0; i < CRASH_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, crash_client,
		    &c[i]), 0);
	/*
	 * Kill it under load, once some clients have their certificates: a
	 * fixed wait could end before the first reply on a slow or busy
	 * machine (ASan), and then there would be nothing to check.
	 */
	for (i = 0; i < 600 && crash_received < CRASH_THREADS; i++)
		nanosleep(&tick, NULL);
	nanosleep(&ts, NULL);
	ck_assert_int_eq(kill(t.pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(t.pid, &status, 0), t.pid);
	t.pid = 0;
	for (i = 0; i < CRASH_THREADS; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);

	/* The restarted server answers at once. */
	ck_assert_int_eq(tu_server_restart(&t), 1);
	ck_assert(tu_http(t.port, "GET", "/certsrv/mscep/mscep.dll"
	    "?operation=GetCACaps", NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	tu_http_free(&h);
	ck_assert_int_eq(tu_enroll_status(&t, "lab-secret"), 0);

	/* Every certificate a client got is in the ledger, once. */
	ck_assert_ptr_nonnull(sql = malloc(cap));
	len = (size_t)snprintf(sql, cap, "SELECT count(*) FROM certificates "
	    "WHERE serial IN (''");
	for (i = 0; i < CRASH_THREADS; i++)
		for (j = 0; j < CRASH_EACH; j++)
			if (c[i].serial[j] != NULL) {
				len += (size_t)snprintf(sql + len, cap - len,
				    ",'%s'", c[i].serial[j]);
				got++;
			}
	snprintf(sql + len, cap - len, ")");
	ck_assert_int_gt(got, 0);
	ck_assert_ptr_nonnull(cmd = malloc(cap + 1024));
	snprintf(cmd, cap + 1024, "sqlite3 %s/var/data/ledger.db \"%s;"
	    " SELECT count(*) - count(DISTINCT serial) FROM certificates;"
	    " PRAGMA integrity_check;\"", t.dir, sql);
	out = tu_capture(cmd, &status);
	ck_assert_int_eq(status, 0);
	{
		int found = -1, dups = -1;
		char integrity[64] = "";

		ck_assert_int_eq(sscanf(out, "%d %d %63s", &found, &dups,
		    integrity), 3);
		ck_assert_int_eq(found, got);
		ck_assert_int_eq(dups, 0);
		ck_assert_str_eq(integrity, "ok");
	}
	printf("kill -9: %d of %d enrollments answered before the kill, all in "
	    "the ledger\n", got, CRASH_THREADS * CRASH_EACH);
	free(out);
	free(cmd);
	free(sql);
	for (i = 0; i < CRASH_THREADS; i++)
		for (j = 0; j < CRASH_EACH; j++) {
			tc_req_free(&c[i].req[j]);
			free(c[i].serial[j]);
		}
	X509_free(ra);
	ck_assert_int_eq(tu_server_stop(&t), 1);
}
END_TEST

/* key_passphrase_file: keys written encrypted, read back, refused without. */
START_TEST(test_key_passphrase)
{
	static const char *extra[] = { NULL, NULL };
	char *dir = tu_tmpdir(), pf[600], opt[700], path[700], args[800];
	struct tu_server p;
	unsigned char *key;
	size_t n;
	char *out;
	int fd, status;

	snprintf(pf, sizeof(pf), "%s/pass", dir);
	ck_assert_int_ge(fd = open(pf, O_WRONLY | O_CREAT | O_EXCL, 0600), 0);
	ck_assert_int_eq(write(fd, "correct horse\n", 14), 14);
	close(fd);
	snprintf(opt, sizeof(opt), "key_passphrase_file=%s", pf);
	extra[0] = opt;
	ck_assert_int_eq(tu_server_start(&p, extra), 1);
	snprintf(path, sizeof(path), "%s/var/ca.key", p.dir);
	ck_assert_ptr_nonnull(key = tu_read_file(path, &n));
	ck_assert(strstr((char *)key, "BEGIN ENCRYPTED PRIVATE KEY") != NULL);
	free(key);
	snprintf(path, sizeof(path), "%s/var/ra.key", p.dir);
	ck_assert_ptr_nonnull(key = tu_read_file(path, &n));
	ck_assert(strstr((char *)key, "BEGIN ENCRYPTED PRIVATE KEY") != NULL);
	free(key);
	ck_assert_int_eq(tu_enroll_status(&p, "lab-secret"), 0);
	ck_assert_int_eq(tu_server_restart(&p), 1);	/* reads them back */
	ck_assert_int_eq(tu_enroll_status(&p, "lab-secret"), 0);
	/* doctor with and without the passphrase; never a prompt. */
	snprintf(args, sizeof(args), "-o %s doctor </dev/null", opt);
	out = scepctl(&p, args, &status);
	ck_assert_msg(status == 0, "%s", out);
	expect(out, "ok", "passphrase", pf);
	expect(out, "ok", "ca.key", "matches");
	free(out);
	out = scepctl(&p, "doctor </dev/null", &status);
	ck_assert_int_eq(status, 1);
	expect(out, "fail", "ca.key", "encrypted? set key_passphrase_file");
	free(out);
	ck_assert_int_eq(tu_server_stop(&p), 1);
	/* A group-readable passphrase file is refused. */
	ck_assert_int_eq(chmod(pf, 0640), 0);
	ck_assert_int_eq(tu_server_start(&p, extra), 0);
	tu_server_stop(&p);
	tu_rm_rf(dir);
	free(dir);
}
END_TEST

/*
 * Help as a new user asks for it, and what the README has them type
 * (issue 19): scepd -h/--help and scepctl --help print every option and
 * exit 0 (a mistake exits 2); `scepctl challenge hash` needs no
 * configuration; the banner names the admin token's real path.
 */
START_TEST(test_help_and_first_commands)
{
	static const char *const scepd_options[] = { "-c file", "-o key=value",
	    "-n ", "-V ", "--help", "scepd(8)" };
	struct tu_server t;
	char cmd[700], want[600], *out;
	size_t i;
	int status, h;

	for (h = 0; h < 2; h++) {
		snprintf(cmd, sizeof(cmd), "%s/scepd %s", tu_bin_dir(),
		    h ? "-h" : "--help");
		out = tu_capture(cmd, &status);
		ck_assert_int_eq(status, 0);
		for (i = 0; i < sizeof(scepd_options) / sizeof(*scepd_options); i++)
			ck_assert_msg(strstr(out, scepd_options[i]) != NULL,
			    "%s: no %s in\n%s", cmd, scepd_options[i], out);
		free(out);
	}
	snprintf(cmd, sizeof(cmd), "%s/scepd -x 2>&1", tu_bin_dir());
	out = tu_capture(cmd, &status);
	ck_assert_int_eq(status, 2);
	ck_assert_ptr_nonnull(strstr(out, "usage: scepd"));
	free(out);
	snprintf(cmd, sizeof(cmd), "%s/scepctl --help", tu_bin_dir());
	out = tu_capture(cmd, &status);
	ck_assert_int_eq(status, 0);
	ck_assert_ptr_nonnull(strstr(out, "evidence retract"));
	ck_assert_ptr_nonnull(strstr(out, "scepctl(8)"));
	free(out);
	/* From /, where no conf/scepd.conf is and /etc/scepd may not be. */
	snprintf(cmd, sizeof(cmd), "cd / && echo 'a password' | %s%s/scepctl "
	    "challenge hash", *tu_bin_dir() == '/' ? "" : "$OLDPWD/",
	    tu_bin_dir());
	out = tu_capture(cmd, &status);
	ck_assert_msg(status == 0 && strncmp(out, "pbkdf2-sha256$", 14) == 0,
	    "%s", out);
	free(out);

	ck_assert_int_eq(tu_server_start(&t, NULL), 1);
	snprintf(want, sizeof(want), "bearer token: %s/var/admin.token)", t.dir);
	ck_assert_int_eq(tu_log_count(&t, want), 2);	/* banner and log */
	ck_assert_int_eq(tu_log_count(&t, "STATE_DIR"), 0);
	ck_assert_int_eq(tu_server_stop(&t), 1);
}
END_TEST

/*
 * Every start-up failure says why (issue 19: a failed start printed
 * nothing): each case starts bin/scepd on a fresh state directory with
 * one thing wrong and wants a non-zero exit and a message naming it.
 */
START_TEST(test_startup_failures_say_why)
{
	struct tu_server busy;
	char *dir = tu_tmpdir(), cmd[4096], opt[4][600], *out;
	const struct {
		const char	*what;
		const char	*say;
	} cases[] = {
		{ "listen on a port in use", "cannot listen" },
		{ "admin API on a port in use", "admin API" },
		{ "challenge_exec not executable", "challenge_exec" },
		{ "ledger path is a directory", "ledger" },
		{ "hook_command relative", "hook_command" },
		{ "state_dir under a missing directory", "cannot create the state "
		    "directory" },
		{ "an unknown configuration key", "unknown key" },
	};
	size_t i;
	int status;

	ck_assert_int_eq(tu_server_start(&busy, NULL), 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(opt[0], sizeof(opt[0]), "state_dir=%s/s%zu", dir, i);
		snprintf(opt[1], sizeof(opt[1]), "listen=127.0.0.1:%d",
		    i == 0 ? busy.port : 0);
		snprintf(opt[2], sizeof(opt[2]), "admin_listen=127.0.0.1:%d",
		    i == 1 ? busy.admin_port : 0);
		snprintf(opt[3], sizeof(opt[3]), "%s", i == 2 ?
		    "challenge_mode=exec -o challenge_exec=/nonexistent/prog" :
		    i == 4 ? "hook_command=relative/prog" : i == 6 ?
		    "no_such_key=1" : "log_level=info");
		if (i == 5)
			snprintf(opt[0], sizeof(opt[0]), "state_dir=%s/missing/s",
			    dir);
		if (i == 3) {
			snprintf(cmd, sizeof(cmd), "mkdir -p %s/s3/data/ledger.db",
			    dir);
			ck_assert_int_eq(system(cmd), 0);
		}
		snprintf(cmd, sizeof(cmd), "timeout 60 %s/scepd -c conf/scepd.conf "
		    "-o %s -o %s -o %s -o %s 2>&1", tu_bin_dir(), opt[0], opt[1],
		    opt[2], opt[3]);
		out = tu_capture(cmd, &status);
		ck_assert_msg(status != 0, "%s: started anyway:\n%s",
		    cases[i].what, out);
		ck_assert_msg(status != 124, "%s: did not exit", cases[i].what);
		ck_assert_msg(strstr(out, cases[i].say) != NULL, "%s: no \"%s\" "
		    "in:\n%s", cases[i].what, cases[i].say, out);
		free(out);
	}
	/*
	 * A ledger scepd can open but not write (read-only file: SQLite
	 * opens it read-only without a word) used to end in a silent exit 1.
	 * The read-only bind mount lives in a mount namespace of its own.
	 */
	/* Its state, at rest: stopped (and reaped) first. */
	ck_assert_int_eq(kill(busy.pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(busy.pid, &status, 0), busy.pid);
	busy.pid = 0;
	snprintf(cmd, sizeof(cmd), "cp -a %s/var %s/ro", busy.dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(tu_server_stop(&busy), 1);
	snprintf(cmd, sizeof(cmd), "timeout 60 unshare -m sh -c 'mount --bind "
	    "%s/ro/data/ledger.db %s/ro/data/ledger.db && mount -o remount,"
	    "bind,ro %s/ro/data/ledger.db && %s/scepd -c conf/scepd.conf -o "
	    "state_dir=%s/ro -o listen=127.0.0.1:0 -o admin_listen="
	    "127.0.0.1:0' 2>&1", dir, dir, dir, tu_bin_dir(), dir);
	out = tu_capture(cmd, &status);
	ck_assert_msg(status != 0 && status != 124, "read-only ledger: %d\n%s",
	    status, out);
	ck_assert_msg(strstr(out, "cannot write (a read-only") != NULL,
	    "read-only ledger: no reason in:\n%s", out);
	free(out);
	tu_rm_rf(dir);
	free(dir);
}
END_TEST

/*
 * Guessing admin credentials (issue 19): wrong bearer tokens and wrong
 * challenge-page passwords are logged, and after five from one address
 * it is locked out (429 with Retry-After) even with the right ones;
 * asking without credentials, as a browser does first, is no guess.
 */
START_TEST(test_admin_login_lockout)
{
	static const char *const extra[] = { "challenge_mode=onetime",
	    "admin_password=page-secret", NULL };
	struct tu_server t;
	struct tu_http h;
	char path[600], good[256], *token, *auth;
	size_t n;
	int i;

	ck_assert_int_eq(tu_server_start(&t, extra), 1);
	snprintf(path, sizeof(path), "%s/var/admin.token", t.dir);
	ck_assert_ptr_nonnull(token = (char *)tu_read_file(path, &n));
	token[strcspn(token, "\n")] = '\0';
	snprintf(good, sizeof(good), "Authorization: Bearer %s\r\n", token);
	for (i = 0; i < 8; i++) {	/* no token: 401, never a lockout */
		ck_assert(tu_http(t.admin_port, "GET", "/api/v1/transactions",
		    NULL, NULL, 0, &h));
		ck_assert_int_eq(h.status, 401);
		tu_http_free(&h);
	}
	for (i = 0; i < 5; i++) {
		ck_assert(tu_http_h(t.admin_port, "GET", "/api/v1/transactions",
		    "Authorization: Bearer not-the-token-at-all\r\n", NULL, NULL,
		    0, &h));
		ck_assert_int_eq(h.status, 401);
		tu_http_free(&h);
	}
	ck_assert(tu_http_h(t.admin_port, "GET", "/api/v1/transactions", good,
	    NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 429);
	tu_http_free(&h);
	ck_assert_int_eq(tu_log_count(&t, "admin API: bearer token refused from "
	    "127.0.0.1"), 5);
	ck_assert_int_ge(tu_log_count(&t, "admin API: 127.0.0.1 locked out"), 1);

	/* NDES's challenge page: the same for Basic logins. */
	ck_assert(tu_http(t.port, "GET", "/certsrv/mscep_admin/", NULL, NULL, 0,
	    &h));
	ck_assert_int_eq(h.status, 401);
	tu_http_free(&h);
	auth = b64_encode((const unsigned char *)"admin:wrong", 11, 0);
	snprintf(path, sizeof(path), "Authorization: Basic %s\r\n", auth);
	free(auth);
	for (i = 0; i < 5; i++) {
		ck_assert(tu_http_h(t.port, "GET", "/certsrv/mscep_admin/", path,
		    NULL, NULL, 0, &h));
		ck_assert_int_eq(h.status, 401);
		tu_http_free(&h);
	}
	auth = b64_encode((const unsigned char *)"admin:page-secret", 17, 0);
	snprintf(path, sizeof(path), "Authorization: Basic %s\r\n", auth);
	free(auth);
	ck_assert(tu_http_h(t.port, "GET", "/certsrv/mscep_admin/", path, NULL,
	    NULL, 0, &h));
	ck_assert_int_eq(h.status, 429);
	tu_http_free(&h);
	ck_assert_int_eq(tu_log_count(&t, "challenge page: authentication "
	    "failed from 127.0.0.1"), 5);
	free(token);
	ck_assert_int_eq(tu_server_stop(&t), 1);
}
END_TEST

static Suite *
ops_suite(void)
{
	Suite *s = suite_create("ops");
	TCase *t = tcase_create("doctor");

	tcase_set_timeout(t, 120);
	tcase_add_unchecked_fixture(t, start, stop);
	tcase_add_test(t, test_doctor_healthy);
	tcase_add_test(t, test_help_and_first_commands);
	tcase_add_test(t, test_startup_failures_say_why);
	tcase_add_test(t, test_admin_login_lockout);
	tcase_add_test(t, test_doctor_config);
	tcase_add_test(t, test_doctor_key_mode);
	tcase_add_test(t, test_doctor_ra);
	tcase_add_test(t, test_doctor_ca);
	tcase_add_test(t, test_key_passphrase);
	tcase_add_test(t, test_doctor_server);
	tcase_add_test(t, test_doctor_ledger_and_clock);
	suite_add_tcase(s, t);
	t = tcase_create("profile");
	tcase_set_timeout(t, 120);
	tcase_add_unchecked_fixture(t, start, stop);
	tcase_add_test(t, test_profile_ios);
	tcase_add_test(t, test_profile_onetime);
	tcase_add_test(t, test_profile_android_windows);
	tcase_add_test(t, test_request_log);
	suite_add_tcase(s, t);
	t = tcase_create("reload");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_reload);
	tcase_add_test(t, test_sigterm_drains);
	tcase_add_test(t, test_kill9_durability);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return tu_run_suite(ops_suite(), 0);
}
