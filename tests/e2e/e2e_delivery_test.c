/*
 * End to end, the ledger and delivery evidence: rows and events, queries,
 * the admin API, hooks, device logs ingested. The real bin/scepd on
 * 127.0.0.1 port 0, driven over HTTP by a SCEP client that shares no code
 * with the server.
 */

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <pthread.h>
#include <stdarg.h>
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

static char *
status_of(const struct tu_server *s, const char *txid)
{
	char args[256], *json, *v = NULL;
	sqlite3 *db;
	sqlite3_stmt *st;

	snprintf(args, sizeof(args), "show '%s' --json", txid);
	json = tu_scepctl(s, args);
	sqlite3_open(":memory:", &db);
	if (sqlite3_prepare_v2(db, "SELECT json_extract(?1, '$[#-1].status')",
	    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			v = strdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	free(json);
	return v;
}

/*
 * Device logs as evidence: an Android OMA DM log and an iOS profiled log,
 * written from real transactions and mixed with other devices' lines,
 * turn the right transactions into "installed" and nothing else.
 */
START_TEST(test_ingest)
{
	struct tc_opts o = { .challenge = "lab-secret" };
	struct tc_req a, b, c;
	struct tc_rep ra, rb, rc;
	char hex[33], other[33], path[2][512], *b64, *pct, *out, *v;
	FILE *f;
	int i;

	o.cn = "android-1";
	e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &a, &ra);
	o.cn = "iphone-1";
	e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &b, &rb);
	o.cn = "bystander";
	e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &c, &rc);
	for (i = 0; i < 16; i++) {
		sprintf(hex + 2 * i, "%02X", ra.sender_nonce[i]);
		sprintf(other + 2 * i, "%02X", rc.sender_nonce[i]);
	}
	snprintf(path[0], sizeof(path[0]), "%s/omadm.log", e2e_srv.dir);
	f = fopen(path[0], "w");
	fprintf(f,
	    "2026-11-25T05:16:08.25    VERB    Event     com.microsoft.omadm."
	    "platforms.android.certmgr.CertificateEnrollmentManager    1   10"
	    "    Trying to enroll certificate request: ModelName=AC_1%%2FLogical"
	    "Name_2;Hash=77\n"
	    "2026-11-25T05:16:20.61    VERB    Event     org.jscep.transport."
	    "UrlConnectionGetTransport    1   10    Sending GetCACert(ca) to x\n"
	    /* another device's reply, its nonce does not fit this txid */
	    "2026-11-25T05:16:27.00    VERB    Event     org.jscep.transaction."
	    "EnrollmentTransaction    1   10    Response: org.jscep.message.Cert"
	    "Rep@1[failInfo=<null>,pkiStatus=SUCCESS,recipientNonce=Nonce [00],"
	    "messageData=x,messageType=CERT_REP,senderNonce=Nonce [%s],"
	    "transId=%s]\n"
	    "2026-11-25T05:16:28.03    VERB    Event     org.jscep.transaction."
	    "EnrollmentTransaction    1   10    Response: org.jscep.message.Cert"
	    "Rep@3150777b[failInfo=<null>,pkiStatus=SUCCESS,recipientNonce="
	    "Nonce [AA],messageData=org.spongycastle.cms.CMSSignedData@27cc8998,"
	    "messageType=CERT_REP,senderNonce=Nonce [%s],transId=%s]\n"
	    "2026-11-25T05:16:28.24    INFO    Event     com.microsoft.omadm."
	    "platforms.android.certmgr.state.NativeScepCertInstallStateMachine"
	    "    1   10    SCEP cert 'ModelName=AC_1%%2FLogicalName_2;Hash=77' "
	    "state changed from CERT_ENROLLED to CERT_INSTALL_REQUESTED\n"
	    "2026-11-25T05:20:15.35    INFO    Event     com.microsoft.omadm."
	    "platforms.android.certmgr.state.NativeScepCertInstallStateMachine"
	    "    1   21    SCEP cert 'ModelName=AC_1%%2FLogicalName_2;Hash=77' "
	    "state changed from CERT_ACCESS_REQUESTED to CERT_ACCESS_GRANTED\n"
	    "2026-11-25T05:20:16.00    INFO    Event     com.microsoft.omadm."
	    "platforms.android.certmgr.state.NativeScepCertInstallStateMachine"
	    "    1   22    SCEP cert 'ModelName=OTHER;Hash=1' state changed from "
	    "CERT_INSTALLING to CERT_INSTALL_SUCCESS\n",
	    other, a.txid, hex, a.txid);
	fclose(f);

	b64 = b64_encode(b.der, b.len, 0);
	b64[800] = '\0';	/* the first ~200 characters are the same for every request */
	pct = tu_pct(b64);
	snprintf(path[1], sizeof(path[1]), "%s/profiled.log", e2e_srv.dir);
	f = fopen(path[1], "w");
	fprintf(f,
	    "Debug 18:30:53.69 -0500 profiled Performing synchronous URL request:"
	    " https://x/certsrv/mscep/mscep.dll?operation=GetCACert&message=SCEP"
	    "%%20Authority\n"
	    "Debug 18:30:55.48 -0500 profiled Performing synchronous URL request:"
	    " https://x/certsrv/mscep/mscep.dll?operation=PKIOperation&message=%s\n"
	    "Debug 18:30:57.28 -0500 profiled Adding dependent Microsoft.Profiles."
	    "MDM to parent www.windowsintune.com.SCEP.ModelName=AC_9/Logical_9;"
	    "Hash=-91 in domain ManagedProfileToManagingProfile to system\n"
	    "Default 18:30:57.32 -0500 profiled Profile \u201cwww.windowsintune."
	    "com.SCEP.ModelName=AC_9/Logical_9;Hash=-91\u201d installed.\n"
	    "Default 18:31:00.00 -0500 profiled Profile \u201cwww.windowsintune."
	    "com.SCEP.ModelName=NOT_OURS;Hash=5\u201d installed.\n",
	    pct);
	fclose(f);
	free(b64);
	free(pct);

	{
		char args[1200];

		snprintf(args, sizeof(args), "ingest %s %s", path[0], path[1]);
		out = tu_scepctl(&e2e_srv, args);
		ck_assert_msg(strstr(out, "omadm.log: Android OMA DM log, 7 "
		    "lines: 2 matched, 0 weak, 2 unmatched, 0 ambiguous, 3 "
		    "ignored; 2 new events") != NULL, "%s", out);
		ck_assert_msg(strstr(out, "profiled.log: iOS/macOS profiled log,"
		    " 5 lines: 2 matched, 0 weak, 1 unmatched, 0 ambiguous, 2 "
		    "ignored; 2 new events") != NULL, "%s", out);
		free(out);
		/* Twice: the same evidence, no new events. */
		out = tu_scepctl(&e2e_srv, args);
		ck_assert_ptr_nonnull(strstr(out, "omadm.log: Android OMA DM log,"
		    " 7 lines: 2 matched, 0 weak, 2 unmatched, 0 ambiguous, 3 "
		    "ignored; 0 new events"));
		ck_assert_ptr_nonnull(strstr(out, "; 0 new events\n"));
		free(out);
	}
	v = status_of(&e2e_srv, a.txid);
	ck_assert_str_eq(v, "installed");
	free(v);
	v = status_of(&e2e_srv, b.txid);
	ck_assert_str_eq(v, "installed");
	free(v);
	v = status_of(&e2e_srv, c.txid);
	ck_assert_str_eq(v, "delivered");
	free(v);
	/* The timeline names the evidence. */
	{
		char args[256];

		snprintf(args, sizeof(args), "show '%s'", a.txid);
		out = tu_scepctl(&e2e_srv, args);
		ck_assert_ptr_nonnull(strstr(out, "status installed"));
		ck_assert_ptr_nonnull(strstr(out, "received_by_device"));
		ck_assert_ptr_nonnull(strstr(out, "android-log"));
		ck_assert_ptr_nonnull(strstr(out, "ModelName/Hash key"));
		free(out);
		out = tu_scepctl(&e2e_srv, "show iphone-1");
		ck_assert_ptr_nonnull(strstr(out, "ios-log"));
		ck_assert_ptr_nonnull(strstr(out, "profile identifier"));
		free(out);
	}
	tc_rep_free(&ra);
	tc_rep_free(&rb);
	tc_rep_free(&rc);
	tc_req_free(&a);
	tc_req_free(&b);
	tc_req_free(&c);
}
END_TEST

/* One OMA DM log line, laid out as Company Portal writes it. */
static void
omadm(FILE *f, const char *time, const char *cls, int tid, const char *fmt,
    ...)
{
	va_list ap;

	fprintf(f, "2026-11-25T%s.2500000    INFO    Event     com.microsoft."
	    "omadm.platforms.android.certmgr.%s    9595    %5d    ", time, cls,
	    tid);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
}

/* jscep's line for the CertRep the server sent req (its senderNonce). */
static void
omadm_certrep(FILE *f, const char *time, int tid, const struct tc_req *req,
    const struct tc_rep *rep)
{
	char nonce[33];
	int i;

	for (i = 0; i < 16; i++)
		sprintf(nonce + 2 * i, "%02X", rep->sender_nonce[i]);
	fprintf(f, "2026-11-25T%s.2500000    VERB    Event     org.jscep."
	    "transaction.EnrollmentTransaction    9595    %5d    Response: "
	    "org.jscep.message.CertRep@1[failInfo=<null>,pkiStatus=SUCCESS,"
	    "recipientNonce=Nonce [00],messageData=x,messageType=CERT_REP,"
	    "senderNonce=Nonce [%s],transId=%s]\n", time, tid, nonce,
	    req->txid);
}

/* profiled's request line, with the start of req percent-encoded. */
static void
profiled_request(FILE *f, const char *time, const struct tc_req *req)
{
	char *b64 = b64_encode(req->der, req->len, 0), *pct;

	ck_assert_ptr_nonnull(b64);
	b64[800] = '\0';
	pct = tu_pct(b64);
	fprintf(f, "Debug %s -0500 profiled Performing synchronous URL request:"
	    " https://x/certsrv/mscep/mscep.dll?operation=PKIOperation&message="
	    "%s\n", time, pct);
	free(pct);
	free(b64);
}

static void
expect_status(const struct tc_req *req, const char *want)
{
	char *v = status_of(&e2e_srv, req->txid);

	ck_assert_msg(v != NULL && strcmp(v, want) == 0, "%s: %s, not %s",
	    req->txid, v ? v : "(none)", want);
	free(v);
}

/*
 * Evidence that is never wrong (issue 17's false "installed" cases):
 * two Android enrollments started before either reply, on two threads
 * and on one; a failed install state; rotated logs given newest first;
 * an iOS profile that failed without naming itself, then another
 * server's profile installed; "could not be installed"; files that are
 * empty or not a device log.  Each transaction ends with exactly the
 * status its evidence proves, and no other.
 */
START_TEST(test_ingest_never_wrong)
{
	static const char *const cn[7] = { "and-a", "and-b", "and-c",
	    "and-fail", "ios-a", "ios-b", "and-rot" };
	struct tc_opts o = { .challenge = "lab-secret" };
	struct tc_req r[7];
	struct tc_rep p[7];
	char path[5][512], args[3000], *out;
	FILE *f;
	int i, status;

	for (i = 0; i < 7; i++) {
		o.cn = cn[i];
		e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &r[i], &p[i]);
	}
	for (i = 0; i < 7; i++)
		expect_status(&r[i], "delivered");

	/* The older of two rotated logs: the enrollments and their replies. */
	snprintf(path[1], sizeof(path[1]), "%s/omadmlog_1.log", e2e_srv.dir);
	ck_assert_ptr_nonnull(f = fopen(path[1], "w"));
	omadm(f, "05:00:00", "CertificateEnrollmentManager", 10,
	    "Trying to enroll certificate request: ModelName=K_A;Hash=1");
	omadm(f, "05:00:01", "CertificateEnrollmentManager", 11,
	    "Trying to enroll certificate request: ModelName=K_B;Hash=2");
	omadm_certrep(f, "05:00:02", 11, &r[1], &p[1]);
	omadm_certrep(f, "05:00:03", 10, &r[0], &p[0]);
	/* Two enrollments on one thread before any reply: no telling apart. */
	omadm(f, "05:00:04", "CertificateEnrollmentManager", 12,
	    "Trying to enroll certificate request: ModelName=K_C;Hash=3");
	omadm(f, "05:00:05", "CertificateEnrollmentManager", 12,
	    "Trying to enroll certificate request: ModelName=K_X;Hash=9");
	omadm_certrep(f, "05:00:06", 12, &r[2], &p[2]);
	omadm(f, "05:00:07", "CertificateEnrollmentManager", 13,
	    "Trying to enroll certificate request: ModelName=K_F;Hash=4");
	omadm_certrep(f, "05:00:08", 13, &r[3], &p[3]);
	omadm(f, "05:00:09", "CertificateEnrollmentManager", 14,
	    "Trying to enroll certificate request: ModelName=K_R;Hash=7");
	omadm_certrep(f, "05:00:10", 14, &r[6], &p[6]);
	fclose(f);
	/* The newer one: the install states. */
	snprintf(path[0], sizeof(path[0]), "%s/omadmlog_0.log", e2e_srv.dir);
	ck_assert_ptr_nonnull(f = fopen(path[0], "w"));
	omadm(f, "06:00:00", "state.NativeScepCertInstallStateMachine", 20,
	    "SCEP cert 'ModelName=K_B;Hash=2' state changed from "
	    "CERT_ACCESS_REQUESTED to CERT_ACCESS_GRANTED");
	omadm(f, "06:00:01", "state.NativeScepCertInstallStateMachine", 20,
	    "SCEP cert 'ModelName=K_C;Hash=3' state changed from "
	    "CERT_ACCESS_REQUESTED to CERT_ACCESS_GRANTED");
	omadm(f, "06:00:02", "state.NativeScepCertInstallStateMachine", 20,
	    "SCEP cert 'ModelName=K_F;Hash=4' state changed from "
	    "CERT_INSTALLING to CERT_INSTALL_FAILED");
	omadm(f, "06:00:03", "state.NativeScepCertInstallStateMachine", 20,
	    "SCEP cert 'ModelName=K_R;Hash=7' state changed from "
	    "CERT_INSTALLING to CERT_INSTALL_SUCCESS");
	fclose(f);

	snprintf(path[2], sizeof(path[2]), "%s/profiled.log", e2e_srv.dir);
	ck_assert_ptr_nonnull(f = fopen(path[2], "w"));
	profiled_request(f, "18:40:00.10", &r[4]);
	/* Ours fails without naming itself; another server's then installs. */
	fprintf(f, "Default 18:40:00.50 -0500 profiled Profile installation "
	    "failed: the SCEP server returned an invalid response.\n"
	    "Debug 18:40:01.00 -0500 profiled Adding dependent Microsoft."
	    "Profiles.MDM to parent www.other.example.SCEP.ModelName=OTHER;"
	    "Hash=9 in domain ManagedProfileToManagingProfile to system\n"
	    "Default 18:40:02.00 -0500 profiled Profile \u201cwww.other.example"
	    ".SCEP.ModelName=OTHER;Hash=9\u201d installed.\n");
	profiled_request(f, "18:41:00.10", &r[5]);
	fprintf(f, "Debug 18:41:01.00 -0500 profiled Adding dependent Microsoft."
	    "Profiles.MDM to parent www.windowsintune.com.SCEP.ModelName=E6;"
	    "Hash=6 in domain ManagedProfileToManagingProfile to system\n"
	    "Default 18:41:02.00 -0500 profiled Profile \u201cwww.windowsintune."
	    "com.SCEP.ModelName=E6;Hash=6\u201d could not be installed.\n");
	fclose(f);

	snprintf(path[3], sizeof(path[3]), "%s/garbage.bin", e2e_srv.dir);
	ck_assert_ptr_nonnull(f = fopen(path[3], "w"));
	for (i = 0; i < 4096; i++)
		fputc((i * 7919) & 0xff, f);
	fclose(f);
	snprintf(path[4], sizeof(path[4]), "%s/empty.log", e2e_srv.dir);
	ck_assert_ptr_nonnull(f = fopen(path[4], "w"));
	fclose(f);

	/* Newest first, garbage in between: still one run, oldest first. */
	snprintf(args, sizeof(args), "%s/scepctl -c conf/scepd.conf -o "
	    "state_dir=%s/var ingest %s %s %s %s %s 2>&1", tu_bin_dir(),
	    e2e_srv.dir, path[0], path[3], path[1], path[2], path[4]);
	out = tu_capture(args, &status);
	ck_assert_msg(status != 0, "unreadable files must fail the run:\n%s", out);
	ck_assert_msg(strstr(out, "omadmlog_1.log: Android OMA DM log, 11 lines: "
	    "5 matched, 0 weak, 0 unmatched, 1 ambiguous, 6 ignored; 5 new "
	    "events\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "omadmlog_0.log: Android OMA DM log, 4 lines: "
	    "3 matched, 0 weak, 1 unmatched, 0 ambiguous, 0 ignored; 3 new "
	    "events\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "profiled.log: iOS/macOS profiled log, 7 lines:"
	    " 3 matched, 0 weak, 2 unmatched, 0 ambiguous, 2 ignored; 3 new "
	    "events\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "garbage.bin: not a device log scepd reads")
	    != NULL && strstr(out, "empty.log: empty") != NULL &&
	    strstr(out, "the formats read are: Android OMA DM log") != NULL,
	    "%s", out);
	/* The rotated pair was read oldest first, whatever the order given. */
	ck_assert(strstr(out, "omadmlog_1.log:") < strstr(out, "omadmlog_0.log:"));
	free(out);

	expect_status(&r[0], "delivered");	/* K_B's install is not A's */
	expect_status(&r[1], "installed");
	expect_status(&r[2], "delivered");	/* ambiguous thread */
	expect_status(&r[3], "install_failed");
	expect_status(&r[4], "delivered");	/* another server's profile */
	expect_status(&r[5], "install_failed");	/* "could not be installed" */
	expect_status(&r[6], "installed");	/* joined across rotation */
	for (i = 0; i < 7; i++) {
		tc_rep_free(&p[i]);
		tc_req_free(&r[i]);
	}
}
END_TEST

/* A certificate's SHA-1 thumbprint as Windows shows it: uppercase hex. */
static void
sha1_of(X509 *x, char out[41])
{
	unsigned char d[20];
	unsigned int n = 0;
	int i;

	ck_assert(X509_digest(x, EVP_sha1(), d, &n) && n == 20);
	for (i = 0; i < 20; i++)
		sprintf(out + 2 * i, "%02X", d[i]);
}

/* Write text (UTF-8) to path as UTF-16LE with a BOM, as PowerShell 5.1 does. */
static void
write_utf16le(const char *path, const char *text)
{
	const unsigned char *p = (const unsigned char *)text;
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	fputc(0xff, f);
	fputc(0xfe, f);
	while (*p != '\0') {
		unsigned long cp = *p++;

		if (cp >= 0xc0) {		/* two-byte UTF-8 is all we use */
			cp = (cp & 0x1f) << 6 | (*p++ & 0x3f);
		}
		fputc((int)(cp & 0xff), f);
		fputc((int)(cp >> 8), f);
	}
	fclose(f);
}

/* Event 309's message for this thumbprint and result. */
static void
msg_309(char *out, size_t cap, const char *thumb, const char *result)
{
	snprintf(out, cap, "SCEP: InstallFromRegEntries. CorrelationGuid : "
	    "({6E2A1B3C-0D4E-4F5A-8B9C-0123456789AB}) UniqueId : (ModelName="
	    "AC_1;Hash=77) Certificate Thumbprint : (%s) Respondent Server : "
	    "(http://127.0.0.1/certsrv/mscep/mscep.dll) Install Status : (0x1) "
	    "Current Retry Count : (0x1) Result : (%s)", thumb, result);
}

#define DMEDP "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-" \
    "Provider"
#define OK_309 "The operation completed successfully."

/*
 * Windows, every export form admins make of the DeviceManagement channel
 * (issue 17): Event 309 carries the certificate's thumbprint and the
 * install's result; RenderedXml in UTF-16LE, Event Viewer's pretty XML
 * with a BOM and CRLF, Format-List in UTF-16LE, CSV, and raw /f:xml
 * (EventData only: the device had the certificate, no more).  Event 39
 * names no certificate and changes nothing.
 */
START_TEST(test_ingest_windows_forms)
{
	static const char *const cn[6] = { "wf-1", "wf-2", "wf-3", "wf-4",
	    "wf-5", "wf-6" };
	struct tc_opts o = { .challenge = "lab-secret" };
	struct tc_req r[6];
	struct tc_rep p[6];
	char thumb[6][41], msg[1024], buf[8192], path[6][512], args[4000];
	char *out, *v;
	FILE *f;
	int i, status;

	for (i = 0; i < 6; i++) {
		o.cn = cn[i];
		e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &r[i], &p[i]);
		sha1_of(p[i].cert, thumb[i]);
		snprintf(path[i], sizeof(path[i]), "%s/win-%d", e2e_srv.dir, i);
	}
	for (i = 0; i < 6; i++)
		expect_status(&r[i], "delivered");

	/* wevtutil /f:RenderedXml, saved by PowerShell 5.1: UTF-16LE. */
	msg_309(msg, sizeof(msg), thumb[0], OK_309);
	snprintf(buf, sizeof(buf), "<Event xmlns='http://schemas.microsoft.com/"
	    "win/2004/08/events/event'><System><Provider Name='" DMEDP "'/>"
	    "<EventID>309</EventID><TimeCreated SystemTime='2026-11-25T05:20:15"
	    ".1234567Z'/><Computer>LAB-PC\u00e9</Computer></System><EventData>"
	    "</EventData><RenderingInfo Culture='en-US'><Message>%s</Message>"
	    "</RenderingInfo></Event>\r\n", msg);
	write_utf16le(path[0], buf);

	/* Event Viewer "Save as" XML: one element a line, BOM, CRLF. */
	msg_309(msg, sizeof(msg), thumb[1], "The system cannot find the file "
	    "specified.");
	ck_assert_ptr_nonnull(f = fopen(path[1], "wb"));
	fprintf(f, "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\" "
	    "standalone=\"yes\"?>\r\n<Events>\r\n<Event xmlns=\"http://schemas."
	    "microsoft.com/win/2004/08/events/event\">\r\n  <System>\r\n"
	    "    <Provider Name=\"" DMEDP "\" />\r\n    <EventID>309</EventID>\r\n"
	    "    <TimeCreated SystemTime=\"2026-11-25T05:21:00.000000000Z\" />\r\n"
	    "  </System>\r\n  <RenderingInfo Culture=\"en-US\">\r\n"
	    "    <Message>%s</Message>\r\n  </RenderingInfo>\r\n</Event>\r\n"
	    "</Events>\r\n", msg);
	fclose(f);

	/* Get-WinEvent | Format-List > file: UTF-16LE; Event 39 beside. */
	msg_309(msg, sizeof(msg), thumb[2], OK_309);
	snprintf(buf, sizeof(buf), "\r\n\r\nTimeCreated  : 11/25/2026 6:20:15 AM"
	    "\r\nProviderName : " DMEDP "\r\nId           : 309\r\nMessage      "
	    ": %s\r\n\r\nTimeCreated  : 11/25/2026 6:20:16 AM\r\nProviderName : "
	    DMEDP "\r\nId           : 39\r\nMessage      : SCEP: Certificate "
	    "installed successfully.\r\n\r\n", msg);
	write_utf16le(path[2], buf);

	/* Event Viewer "Save as" CSV; another server's certificate too. */
	ck_assert_ptr_nonnull(f = fopen(path[3], "w"));
	msg_309(msg, sizeof(msg), thumb[3], OK_309);
	fprintf(f, "Level,Date and Time,Source,Event ID,Task Category\n"
	    "Information,11/25/2026 6:22:00 AM,%s,309,None,\"%s\"\n", DMEDP,
	    msg);
	msg_309(msg, sizeof(msg), "00112233445566778899AABBCCDDEEFF00112233",
	    OK_309);
	fprintf(f, "Information,11/25/2026 6:22:01 AM,%s,309,None,\"%s\"\n",
	    DMEDP, msg);
	fclose(f);

	/* wevtutil /f:xml: EventData only, no message, no result. */
	ck_assert_ptr_nonnull(f = fopen(path[4], "w"));
	fprintf(f, "<Event xmlns='http://schemas.microsoft.com/win/2004/08/"
	    "events/event'><System><Provider Name='" DMEDP "'/><EventID>309"
	    "</EventID><TimeCreated SystemTime='2026-11-25T05:23:00.0Z'/>"
	    "</System><EventData><Data Name='Message1'>{6E2A1B3C}</Data>"
	    "<Data Name='Message2'>%s</Data><Data Name='Message3'>0x1</Data>"
	    "</EventData></Event>\n", thumb[4]);
	fclose(f);

	/* wevtutil /f:text: a failed 309 for wf-6, local time, UTF-16LE. */
	msg_309(msg, sizeof(msg), thumb[5], "Access is denied.");
	snprintf(buf, sizeof(buf), "Event[0]:\r\n  Log Name: " DMEDP "/Admin\r\n"
	    "  Source: " DMEDP "\r\n  Date: 2026-11-25T06:25:00.000\r\n"
	    "  Event ID: 309\r\n  Description: \r\n%s\r\n\r\n", msg);
	write_utf16le(path[5], buf);

	snprintf(args, sizeof(args), "%s/scepctl -c conf/scepd.conf -o "
	    "state_dir=%s/var ingest %s %s %s %s %s %s 2>&1", tu_bin_dir(),
	    e2e_srv.dir, path[0], path[1], path[2], path[3], path[4], path[5]);
	out = tu_capture(args, &status);
	ck_assert_msg(status == 0, "%s", out);
	ck_assert_msg(strstr(out, "win-0: Windows events (XML), UTF-16LE, 1 "
	    "lines: 1 matched, 0 weak, 0 unmatched") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "win-1: Windows events (XML), UTF-8 with BOM,"
	    " 13 lines: 1 matched, 0 weak, 0 unmatched") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "win-2: Windows events (Format-List), "
	    "UTF-16LE, 12 lines: 1 matched, 0 weak, 1 unmatched") != NULL &&
	    strstr(out, "local times read as UTC (give --utc-offset)") != NULL,
	    "%s", out);
	ck_assert_msg(strstr(out, "win-3: Windows events (CSV), 3 lines: 1 "
	    "matched, 0 weak, 1 unmatched") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "win-4: Windows events (XML), 1 lines: 1 "
	    "matched") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "win-5: Windows events (wevtutil text), "
	    "UTF-16LE, 8 lines: 1 matched") != NULL, "%s", out);
	free(out);
	expect_status(&r[0], "installed");
	expect_status(&r[1], "install_failed");
	expect_status(&r[2], "installed");
	expect_status(&r[3], "installed");
	expect_status(&r[4], "delivered");	/* raw XML: no result */
	expect_status(&r[5], "install_failed");
	v = tu_ledger_query(&e2e_srv, "SELECT e.kind || '|' || json_extract("
	    "e.detail, '$.evidence') FROM events e JOIN operations o ON o.id ="
	    " e.operation_id WHERE o.transaction_id = ?1 AND e.source ="
	    " 'windows-event'", r[4].txid);
	ck_assert_str_eq(v, "received_by_device|Event 309 certificate thumbprint "
	    "(raw XML: no result in this export)");
	free(v);
	/* Twice: nothing new. */
	snprintf(args, sizeof(args), "ingest --utc-offset +01:00 %s %s", path[2],
	    path[5]);
	out = tu_scepctl(&e2e_srv, args);
	ck_assert_msg(strstr(out, "; 0 new events\n") != NULL &&
	    strstr(out, "read as UTC") == NULL, "%s", out);
	free(out);
	for (i = 0; i < 6; i++) {
		tc_rep_free(&p[i]);
		tc_req_free(&r[i]);
	}
}
END_TEST

/*
 * A 50 MB OMA DM log (a device's whole history): read in bounded memory,
 * its one enrollment at the end found.  Peak RSS of scepctl is printed.
 */
START_TEST(test_ingest_large)
{
	struct tc_opts o = { .cn = "big-log", .challenge = "lab-secret" };
	struct tc_req req;
	struct tc_rep rep;
	struct rusage ru;
	char path[512], args[1200], *out;
	FILE *f;
	long i, size;
	int status;

	e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &req, &rep);
	snprintf(path, sizeof(path), "%s/omadmlog-big.log", e2e_srv.dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	for (i = 0; ftell(f) < 50L * 1024 * 1024; i++)
		omadm(f, "04:00:00", "CertificateEnrollmentManager", 3, "There "
		    "are %ld requests; nothing to do for policy %ld of this "
		    "device's many that came before the one that matters", i, i);
	omadm(f, "05:00:00", "CertificateEnrollmentManager", 10,
	    "Trying to enroll certificate request: ModelName=BIG;Hash=5");
	omadm_certrep(f, "05:00:01", 10, &req, &rep);
	omadm(f, "05:00:02", "state.NativeScepCertInstallStateMachine", 21,
	    "SCEP cert 'ModelName=BIG;Hash=5' state changed from "
	    "CERT_ACCESS_REQUESTED to CERT_ACCESS_GRANTED");
	size = ftell(f);
	fclose(f);
	snprintf(args, sizeof(args), "%s/scepctl -c conf/scepd.conf -o "
	    "state_dir=%s/var ingest %s 2>&1", tu_bin_dir(), e2e_srv.dir, path);
	out = tu_capture(args, &status);
	ck_assert_msg(status == 0, "%s", out);
	ck_assert_msg(strstr(out, "2 matched, 0 weak, 0 unmatched") != NULL,
	    "%s", out);
	free(out);
	expect_status(&req, "installed");
	/* The children this test waited for: scepctl is the big one. */
	ck_assert_int_eq(getrusage(RUSAGE_CHILDREN, &ru), 0);
	printf("ingest: %ld MB log (%ld lines), scepctl peak RSS %ld KiB\n",
	    size / (1024 * 1024), i + 3, ru.ru_maxrss);
	ck_assert_int_lt(ru.ru_maxrss, 32 * 1024);
	tc_rep_free(&rep);
	tc_req_free(&req);
}
END_TEST

/* One enrollment in an OMA DM log at HOUR:00, ending in state `to`. */
static void
enrollment_log(const char *path, const char *hour, const struct tc_req *req,
    const struct tc_rep *rep, const char *to)
{
	char t[3][16];
	FILE *f;
	int i;

	for (i = 0; i < 3; i++)
		snprintf(t[i], sizeof(t[i]), "%s:00:0%d", hour, i);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	omadm(f, t[0], "CertificateEnrollmentManager", 10,
	    "Trying to enroll certificate request: ModelName=CF;Hash=1");
	omadm_certrep(f, t[1], 10, req, rep);
	omadm(f, t[2], "state.NativeScepCertInstallStateMachine", 21,
	    "SCEP cert 'ModelName=CF;Hash=1' state changed from "
	    "CERT_INSTALLING to %s", to);
	fclose(f);
}

/* The id of the transaction's newest event of this kind, as text. */
static char *
event_id_of(const struct tc_req *req, const char *kind)
{
	char sql[300];

	snprintf(sql, sizeof(sql), "SELECT max(e.id) FROM events e JOIN"
	    " operations o ON o.id = e.operation_id WHERE o.transaction_id ="
	    " ?1 AND e.kind = '%s'", kind);
	return tu_ledger_query(&e2e_srv, sql, req->txid);
}

/*
 * Conflicting exact evidence and its correction (issue 17): a later
 * install_failed after installed is counted as a conflict and the newest
 * decides; retracting it (scepctl, then the admin API for the other)
 * recomputes the status and is itself an event; what scepd recorded
 * itself cannot be retracted.
 */
START_TEST(test_evidence_conflict_retract)
{
	struct tc_opts o = { .cn = "cf-1", .challenge = "lab-secret" };
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	char path[2][512], args[1400], hdr[256], target[128], *out, *id, *v;
	char *token;
	size_t n;
	int status;

	e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &req, &rep);
	snprintf(path[0], sizeof(path[0]), "%s/cf-a.log", e2e_srv.dir);
	enrollment_log(path[0], "07", &req, &rep, "CERT_ACCESS_GRANTED");
	snprintf(path[1], sizeof(path[1]), "%s/cf-b.log", e2e_srv.dir);
	enrollment_log(path[1], "08", &req, &rep, "CERT_INSTALL_FAILED");

	snprintf(args, sizeof(args), "ingest %s", path[0]);
	out = tu_scepctl(&e2e_srv, args);
	ck_assert_msg(strstr(out, "conflicts") == NULL, "%s", out);
	free(out);
	expect_status(&req, "installed");
	snprintf(args, sizeof(args), "ingest %s", path[1]);
	out = tu_scepctl(&e2e_srv, args);
	ck_assert_msg(strstr(out, "; 1 conflicts (the newest evidence decides")
	    != NULL, "%s", out);
	free(out);
	expect_status(&req, "install_failed");

	/* Both are listed, with the ids a retraction names. */
	snprintf(args, sizeof(args), "evidence list '%s'", req.txid);
	out = tu_scepctl(&e2e_srv, args);
	ck_assert_msg(strstr(out, "\"kind\":\"installed\"") != NULL &&
	    strstr(out, "\"kind\":\"install_failed\"") != NULL, "%s", out);
	free(out);

	ck_assert_ptr_nonnull(id = event_id_of(&req, "install_failed"));
	snprintf(args, sizeof(args), "%s/scepctl -c conf/scepd.conf -o "
	    "state_dir=%s/var evidence retract %s --reason 'log of another "
	    "device' 2>&1", tu_bin_dir(), e2e_srv.dir, id);
	out = tu_capture(args, &status);
	ck_assert_msg(status == 0 && strstr(out, "retracted; the status is "
	    "recomputed") != NULL, "%s", out);
	free(out);
	expect_status(&req, "installed");
	v = tu_ledger_query(&e2e_srv, "SELECT json_extract(e.detail, '$.reason')"
	    " || '|' || e.source FROM events e JOIN operations o ON o.id ="
	    " e.operation_id WHERE o.transaction_id = ?1 AND e.kind ="
	    " 'evidence_retracted'", req.txid);
	ck_assert_str_eq(v, "log of another device|scepctl");
	free(v);
	/* Again: refused, nothing changes. */
	out = tu_capture(args, &status);
	ck_assert_msg(status != 0 && strstr(out, "retracted already") != NULL,
	    "%s", out);
	free(out);
	free(id);
	/* What scepd recorded itself is not evidence to retract. */
	ck_assert_ptr_nonnull(id = event_id_of(&req, "request_received"));
	snprintf(args, sizeof(args), "evidence retract %s --reason x", id);
	out = tu_scepctl(&e2e_srv, args);
	ck_assert_msg(strstr(out, "not device evidence") != NULL, "%s", out);
	free(out);
	free(id);

	/* The admin API retracts the installed one: nothing proves it now. */
	snprintf(path[0], sizeof(path[0]), "%s/var/admin.token", e2e_srv.dir);
	ck_assert_ptr_nonnull(token = (char *)tu_read_file(path[0], &n));
	token[strcspn(token, "\n")] = '\0';
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);
	ck_assert_ptr_nonnull(id = event_id_of(&req, "installed"));
	snprintf(target, sizeof(target), "/api/v1/evidence/%s/retract", id);
	ck_assert(tu_http_h(e2e_srv.admin_port, "POST", target, hdr,
	    "text/plain", NULL, 0, &h));
	ck_assert_int_eq(h.status, 400);	/* a reason is required */
	tu_http_free(&h);
	ck_assert(tu_http_h(e2e_srv.admin_port, "POST", target, hdr,
	    "text/plain", (const unsigned char *)"wrong file", 10, &h));
	ck_assert_int_eq(h.status, 200);
	tu_http_free(&h);
	expect_status(&req, "delivered");
	ck_assert(tu_http_h(e2e_srv.admin_port, "POST", target, hdr,
	    "text/plain", (const unsigned char *)"wrong file", 10, &h));
	ck_assert_int_eq(h.status, 409);
	tu_http_free(&h);
	free(id);
	free(token);
	tc_rep_free(&rep);
	tc_req_free(&req);
}
END_TEST

/*
 * A client that hangs up before reading its certificate: the reply was
 * committed (and the certificate is in the ledger), but not delivered.
 */
START_TEST(test_delivery_failed)
{
	char dir[] = "/tmp/scepd-slow-XXXXXX", script[256], opt[300];
	const char *extra[] = { "challenge_mode=exec", opt, NULL };
	struct tc_opts o = { .cn = "hangs-up", .challenge = "x" };
	struct timespec pause = { 0, 300 * 1000 * 1000 };
	struct sockaddr_in sin;
	struct linger lg = { 1, 0 };
	struct tu_server s;
	struct tc_req req;
	char head[256], *v = NULL;
	FILE *f;
	int fd, i;

	/* A challenge program that takes a second: time to hang up in. */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/slow", dir);
	snprintf(opt, sizeof(opt), "challenge_exec=%s", script);
	f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\ncat >/dev/null\nsleep 1\necho slow but fine\n");
	fclose(f);
	chmod(script, 0755);
	ck_assert(tu_server_start(&s, extra));
	e2e_build(&s, &o, &req);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)s.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	snprintf(head, sizeof(head), "POST " MSCEP "?operation=PKIOperation "
	    "HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", req.len);
	ck_assert(write(fd, head, strlen(head)) == (ssize_t)strlen(head));
	ck_assert(write(fd, req.der, req.len) == (ssize_t)req.len);
	/* Read by now, not yet answered: an abortive close (RST). */
	nanosleep(&pause, NULL);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	for (i = 0; i < 250 && v == NULL; i++) {
		struct timespec ts = { 0, 20000000 };

		v = tu_ledger_query(&s, "SELECT e.kind FROM events e JOIN operations o"
		    " ON o.id = e.operation_id WHERE o.transaction_id = ?1 AND"
		    " e.kind LIKE 'response_%'", req.txid);
		nanosleep(&ts, NULL);
	}
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "response_aborted");
	free(v);
	/* Issued and committed, but the device never got it. */
	v = status_of(&s, req.txid);
	ck_assert_str_eq(v, "delivery_failed");
	free(v);
	tc_req_free(&req);
	ck_assert(tu_server_stop(&s));
	unlink(script);
	rmdir(dir);
}
END_TEST

/* scepctl ledger filters and formats, stuck and stats. */
START_TEST(test_ledger_queries)
{
	struct tc_opts o = { .cn = "query-me", .challenge = "lab-secret" };
	struct tc_req req;
	struct tc_rep rep;
	char *out;

	e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &req, &rep);
	/* The delivery event arrives with the connection's completion. */
	for (int i = 0; i < 100; i++) {
		char *st = status_of(&e2e_srv, req.txid);
		int done = st != NULL && strcmp(st, "delivered") == 0;

		free(st);
		if (done)
			break;
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
	}
	out = tu_scepctl(&e2e_srv, "ledger --status delivered --subject query-me "
	    "--since 1h");
	ck_assert_ptr_nonnull(strstr(out, "delivered"));
	ck_assert_ptr_nonnull(strstr(out, "CN=query-me"));
	free(out);
	out = tu_scepctl(&e2e_srv, "ledger --status rejected --subject query-me");
	ck_assert_str_eq(out, "");
	free(out);
	out = tu_scepctl(&e2e_srv, "ledger --csv --subject query-me");
	ck_assert(strncmp(out, "id,received_at,transaction_id,status,subject,"
	    "serial,client_addr,reason\n", 70) == 0);
	ck_assert_ptr_nonnull(strstr(out, "\"delivered\",\"CN=query-me\""));
	free(out);
	/* Delivered, never installed: stuck once old enough. */
	out = tu_scepctl(&e2e_srv, "stuck --older-than 0s");
	ck_assert_ptr_nonnull(strstr(out, "CN=query-me"));
	free(out);
	out = tu_scepctl(&e2e_srv, "stuck --older-than 1h");
	ck_assert_ptr_null(strstr(out, "CN=query-me"));
	free(out);
	out = tu_scepctl(&e2e_srv, "stats --by day");
	ck_assert_ptr_nonnull(strstr(out, "delivered"));
	free(out);
	out = tu_scepctl(&e2e_srv, "ledger --status nonsense 2>&1");
	ck_assert_ptr_nonnull(strstr(out, "unknown status"));
	free(out);
	tc_rep_free(&rep);
	tc_req_free(&req);
}
END_TEST

/* The admin API: a bearer token, the ledger as JSON, reports, metrics. */
START_TEST(test_admin_api)
{
	struct tc_opts o = { .cn = "api-device", .challenge = "lab-secret" };
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	char path[512], hdr[256], target[512], *token, *enc, *v;
	size_t n;

	e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &req, &rep);
	ck_assert_int_gt(e2e_srv.admin_port, 0);
	snprintf(path, sizeof(path), "%s/var/admin.token", e2e_srv.dir);
	token = (char *)tu_read_file(path, &n);
	ck_assert_ptr_nonnull(token);
	token[strcspn(token, "\n")] = '\0';
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);

	ck_assert(tu_http(e2e_srv.admin_port, "GET", "/api/v1/transactions", NULL,
	    NULL, 0, &h));
	ck_assert_int_eq(h.status, 401);
	tu_http_free(&h);
	ck_assert(tu_http_h(e2e_srv.admin_port, "GET", "/api/v1/transactions",
	    "Authorization: Bearer wrong-token-of-some-length\r\n", NULL, NULL, 0,
	    &h));
	ck_assert_int_eq(h.status, 401);
	tu_http_free(&h);

	ck_assert(tu_http_h(e2e_srv.admin_port, "GET",
	    "/api/v1/transactions?q=api-device&since=1h", hdr, NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_str_eq(h.ctype, "application/json");
	ck_assert_ptr_nonnull(strstr((char *)h.body, req.txid));
	tu_http_free(&h);

	enc = tu_pct(req.txid);
	snprintf(target, sizeof(target), "/api/v1/transactions/%s", enc);
	ck_assert(tu_http_h(e2e_srv.admin_port, "GET", target, hdr, NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_ptr_nonnull(strstr((char *)h.body, "\"status\":"));
	tu_http_free(&h);

	/* An MDM reports the installation. */
	snprintf(target, sizeof(target), "/api/v1/transactions/%s/installed", enc);
	ck_assert(tu_http_h(e2e_srv.admin_port, "POST", target, hdr, "application/json",
	    (const unsigned char *)"{\"device\":\"api-device\"}", 22, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_ptr_nonnull(strstr((char *)h.body, "\"recorded\":true"));
	tu_http_free(&h);
	ck_assert(tu_http_h(e2e_srv.admin_port, "POST", target, hdr, "application/json",
	    (const unsigned char *)"{\"device\":\"api-device\"}", 22, &h));
	ck_assert_ptr_nonnull(strstr((char *)h.body, "\"recorded\":false"));
	tu_http_free(&h);
	v = status_of(&e2e_srv, req.txid);
	ck_assert_str_eq(v, "installed");
	free(v);
	v = tu_ledger_query(&e2e_srv, "SELECT e.source FROM events e JOIN operations o ON"
	    " o.id = e.operation_id WHERE o.transaction_id = ?1 AND e.kind ="
	    " 'installed'", req.txid);
	ck_assert_str_eq(v, "api");
	free(v);
	ck_assert(tu_http_h(e2e_srv.admin_port, "POST",
	    "/api/v1/transactions/no-such-thing/installed", hdr, NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 404);
	tu_http_free(&h);

	/* The page and its script are served to anyone; they hold no data. */
	ck_assert(tu_http(e2e_srv.admin_port, "GET", "/", NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_str_eq(h.ctype, "text/html; charset=utf-8");
	ck_assert_ptr_nonnull(strstr((char *)h.body, "<title>scepd ledger</title>"));
	ck_assert_ptr_null(strstr((char *)h.body, req.txid));
	tu_http_free(&h);
	ck_assert(tu_http(e2e_srv.admin_port, "GET", "/app.js", NULL, NULL, 0, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_str_eq(h.ctype, "text/javascript; charset=utf-8");
	tu_http_free(&h);

	ck_assert(tu_http_h(e2e_srv.admin_port, "GET", "/metrics", hdr, NULL, NULL, 0,
	    &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert_ptr_nonnull(strstr((char *)h.body, "scepd_requests_total{"
	    "operation=\"PKIOperation\",outcome=\"ok\"}"));
	ck_assert_ptr_nonnull(strstr((char *)h.body, "scepd_issuance_seconds_count"));
	ck_assert_ptr_nonnull(strstr((char *)h.body,
	    "scepd_transactions{status=\"installed\"}"));
	tu_http_free(&h);
	free(enc);
	free(token);
	tc_rep_free(&rep);
	tc_req_free(&req);
}
END_TEST

/* hook_command gets each status change as JSON on stdin. */
START_TEST(test_hook)
{
	char dir[] = "/tmp/scepd-hook-XXXXXX", script[256], opt[300], got[300];
	const char *extra[] = { opt, NULL };
	struct tc_opts o = { .cn = "hooked", .challenge = "lab-secret" };
	struct tu_server s;
	struct tc_req req;
	struct tc_rep rep;
	unsigned char *seen = NULL;
	size_t n;
	FILE *f;
	int i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/hook", dir);
	snprintf(got, sizeof(got), "%s/events", dir);
	snprintf(opt, sizeof(opt), "hook_command=%s", script);
	f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\n{ printf '%%s ' \"$SCEP_EVENT\"; cat; } >> %s\n",
	    got);
	fclose(f);
	chmod(script, 0755);
	ck_assert(tu_server_start(&s, extra));
	e2e_enroll_ok(&s, &o, MSCEP, NULL, &req, &rep);
	for (i = 0; i < 200; i++) {
		struct timespec ts = { 0, 25000000 };

		free(seen);
		seen = tu_read_file(got, &n);
		if (seen != NULL && strstr((char *)seen, "response_complete {") != NULL)
			break;
		nanosleep(&ts, NULL);
	}
	ck_assert_ptr_nonnull(seen);
	ck_assert_ptr_nonnull(strstr((char *)seen, "issued {"));
	ck_assert_ptr_nonnull(strstr((char *)seen, "response_complete {"));
	ck_assert_ptr_nonnull(strstr((char *)seen, req.txid));
	ck_assert_ptr_nonnull(strstr((char *)seen, "\"status\":\"delivered\""));
	/* request_received does not change a status: no hook for it. */
	ck_assert_ptr_null(strstr((char *)seen, "request_received {"));
	free(seen);
	tc_rep_free(&rep);
	tc_req_free(&req);
	ck_assert(tu_server_stop(&s));
	unlink(got);
	unlink(script);
	rmdir(dir);
}
END_TEST

/*
 * Windows DeviceManagement-Enterprise-Diagnostics-Provider/Admin exports:
 * by thumbprint (XML), by serial (text), by subject and time (weak).
 */
START_TEST(test_ingest_windows)
{
	struct tc_opts o = { .challenge = "lab-secret" };
	struct tc_req r1, r2, r3;
	struct tc_rep p1, p2, p3;
	unsigned char d[20];
	unsigned int dl = 0;
	char thumb[80], path[512], now[32], args[600], *serial, *out, *v;
	time_t t;
	struct tm tm;
	FILE *f;
	int i;

	o.cn = "win-1";
	e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &r1, &p1);
	o.cn = "win-2";
	e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &r2, &p2);
	o.cn = "win-3";
	e2e_enroll_ok(&e2e_srv, &o, MSCEP, NULL, &r3, &p3);
	/* Let the three deliveries complete before "now". */
	for (i = 0; i < 100; i++) {
		v = status_of(&e2e_srv, r3.txid);
		if (v != NULL && strcmp(v, "delivered") == 0) {
			free(v);
			break;
		}
		free(v);
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
	}
	X509_digest(p1.cert, EVP_sha1(), d, &dl);
	for (i = 0; i < 20; i++)	/* as certmgr shows it: "ab cd ..." */
		sprintf(thumb + 3 * i, "%02x ", d[i]);
	thumb[59] = '\0';
	serial = e2e_serial_of(p2.cert);
	/* The events come after the enrollments (key generation takes a while). */
	t = time(NULL) + 2;
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(path, sizeof(path), "%s/events.txt", e2e_srv.dir);
	f = fopen(path, "w");
	fprintf(f,
	    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
	    "<System><Provider Name='Microsoft-Windows-DeviceManagement-Enterprise-"
	    "Diagnostics-Provider'/><EventID>39</EventID><TimeCreated SystemTime="
	    "'%s.1234567Z'/></System><EventData><Data Name='Thumbprint'>%s</Data>"
	    "</EventData><RenderingInfo Culture='en-US'><Message>SCEP: Certificate "
	    "installed successfully.</Message></RenderingInfo></Event>\n"
	    "<Event xmlns='x'><System><Provider Name='Microsoft-Windows-DeviceManage"
	    "ment-Enterprise-Diagnostics-Provider'/><EventID>39</EventID></System>"
	    "<EventData><Data Name='Thumbprint'>00112233445566778899aabbccddeeff"
	    "00112233</Data></EventData><RenderingInfo><Message>SCEP: Certificate "
	    "installed successfully.</Message></RenderingInfo></Event>\n"
	    "<Event xmlns='x'><System><Provider Name='Microsoft-Windows-Kernel-"
	    "General'/><EventID>1</EventID></System></Event>\n"
	    "Event[0]:\n"
	    "  Log Name: Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-"
	    "Provider/Admin\n"
	    "  Source: Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-"
	    "Provider\n"
	    "  Date: %s.000\n"
	    "  Event ID: 39\n"
	    "  Description:\n"
	    "SCEP: Certificate installed successfully. Serial number: %s\n"
	    "Event[1]:\n"
	    "  Log Name: Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-"
	    "Provider/Admin\n"
	    "  Date: %s.000\n"
	    "  Event ID: 39\n"
	    "  Description:\n"
	    "SCEP: Certificate installed successfully. Subject: CN=win-3\n",
	    now, thumb, now, serial, now);
	fclose(f);
	snprintf(args, sizeof(args), "ingest %s", path);
	out = tu_scepctl(&e2e_srv, args);
	ck_assert_msg(strstr(out, "2 matched, 1 weak, 1 unmatched, 0 ambiguous, "
	    "1 ignored; 3 new events") != NULL, "%s", out);
	free(out);
	out = tu_scepctl(&e2e_srv, args);
	ck_assert_msg(strstr(out, "; 0 new events") != NULL, "%s", out);
	free(out);
	v = tu_ledger_query(&e2e_srv, "SELECT group_concat(json_extract(e.detail,"
	    " '$.evidence'), '|') FROM (SELECT e.* FROM events e JOIN operations o"
	    " ON o.id = e.operation_id WHERE e.source = 'windows-event' AND"
	    " o.csr_subject IN ('CN=win-1', 'CN=win-2', 'CN=win-3') ORDER BY"
	    " o.csr_subject) e", NULL);
	ck_assert_str_eq(v, "certificate thumbprint|certificate serial|subject CN "
	    "and time window only (weak: the status does not follow)");
	free(v);
	/* Exact evidence moves the status; a weak match is shown, no more. */
	v = status_of(&e2e_srv, r1.txid);
	ck_assert_str_eq(v, "installed");
	free(v);
	v = status_of(&e2e_srv, r2.txid);
	ck_assert_str_eq(v, "installed");
	free(v);
	v = status_of(&e2e_srv, r3.txid);
	ck_assert_str_eq(v, "delivered");
	free(v);
	v = tu_ledger_query(&e2e_srv, "SELECT e.kind FROM events e JOIN"
	    " operations o ON o.id = e.operation_id WHERE o.transaction_id = ?1"
	    " AND e.source = 'windows-event'", r3.txid);
	ck_assert_str_eq(v, "probably_installed");
	free(v);
	free(serial);
	tc_rep_free(&p1);
	tc_rep_free(&p2);
	tc_rep_free(&p3);
	tc_req_free(&r1);
	tc_req_free(&r2);
	tc_req_free(&r3);
}
END_TEST

static void
hex(const unsigned char *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* Every field the issue names, committed before the reply arrived. */
START_TEST(test_ledger_row)
{
	struct tc_opts o = { .cn = "ledger-device", .challenge = "lab-secret",
	    .sans = "DNS:l.lab.example" };
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	unsigned char digest[32], *der = NULL;
	unsigned int dlen;
	char want[256], *v, *head, *json, *serial;
	int n, i;

	e2e_build(&e2e_srv, &o, &req);
	e2e_post(&e2e_srv, MSCEP, NULL, &req, &h);
	/* The row exists the moment the reply is in our hands. */
	v = tu_ledger_query(&e2e_srv, "SELECT outcome FROM operations WHERE "
	    "transaction_id = ?1", req.txid);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "issued");
	free(v);
	e2e_check_certrep(&e2e_srv, &req, &h, &rep);
	e2e_check_issued(&e2e_srv, &req, &rep);

#define FIELD(col) tu_ledger_query(&e2e_srv, "SELECT " col " FROM operations WHERE " \
	    "transaction_id = ?1", req.txid)
	v = FIELD("message_type");
	ck_assert_str_eq(v, "19");
	free(v);
	hex(req.nonce, 16, want);
	v = FIELD("request_nonce");
	ck_assert_str_eq(v, want);
	free(v);
	hex(rep.sender_nonce, 16, want);
	v = FIELD("reply_nonce");
	ck_assert_str_eq(v, want);
	free(v);
	v = FIELD("client_addr");
	ck_assert_str_eq(v, "127.0.0.1");
	free(v);
	v = FIELD("user_agent");
	ck_assert_str_eq(v, "scepd-test/1");
	free(v);
	EVP_Digest(req.der, req.len, digest, &dlen, EVP_sha256(), NULL);
	hex(digest, 32, want);
	v = FIELD("request_sha256");
	ck_assert_str_eq(v, want);
	free(v);
	head = b64_encode(req.der, req.len, 1024);
	v = FIELD("request_b64_head");
	ck_assert_uint_eq(strlen(v), 1024);
	ck_assert_str_eq(v, head);
	free(v);
	free(head);
	v = FIELD("csr_subject || '|' || csr_sans");
	ck_assert_str_eq(v, "CN=ledger-device|DNS:l.lab.example");
	free(v);
	n = i2d_PUBKEY(req.key, &der);
	EVP_Digest(der, (size_t)n, digest, &dlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	der = NULL;
	hex(digest, 32, want);
	v = FIELD("pubkey_sha256");
	ck_assert_str_eq(v, want);
	free(v);
	v = FIELD("pki_status || '|' || http_status || '|' || digest || '|' || cipher");
	ck_assert_str_eq(v, "0|200|SHA256|AES-128-CBC");
	free(v);
	serial = FIELD("cert_serial");
	{
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(rep.cert), NULL);
		char *hx = BN_bn2hex(bn);

		ck_assert_str_eq(serial, hx);
		OPENSSL_free(hx);
		BN_free(bn);
	}
	n = i2d_X509(rep.cert, &der);
	EVP_Digest(der, (size_t)n, digest, &dlen, EVP_sha256(), NULL);
	hex(digest, 32, want);
	v = tu_ledger_query(&e2e_srv, "SELECT sha256 || '|' || hex(der) FROM certificates"
	    " WHERE serial = ?1", serial);
	ck_assert_ptr_nonnull(v);
	ck_assert(strncmp(v, want, 64) == 0);
	for (i = 0; i < n; i++) {
		char b[3];

		snprintf(b, sizeof(b), "%02X", der[i]);
		ck_assert(strncmp(v + 65 + 2 * i, b, 2) == 0);
	}
	free(v);
	OPENSSL_free(der);
	v = tu_ledger_query(&e2e_srv, "SELECT not_after - not_before FROM certificates"
	    " WHERE serial = ?1", serial);
	ck_assert_str_eq(v, "31536300");	/* 365 days + 5 minutes */
	free(v);

	/* The delivery event follows the completion of the response. */
	for (i = 0; i < 100; i++) {
		v = tu_ledger_query(&e2e_srv, "SELECT e.kind FROM events e JOIN operations"
		    " o ON o.id = e.operation_id WHERE o.transaction_id = ?1 AND"
		    " e.kind = 'response_complete'", req.txid);
		if (v != NULL)
			break;
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
	}
	ck_assert_ptr_nonnull(v);
	free(v);

	/* scepctl ledger --json shows the same row, valid JSON. */
	json = tu_scepctl(&e2e_srv, "ledger --json");
	ck_assert_ptr_nonnull(json);
	{
		sqlite3 *db;
		sqlite3_stmt *st;

		sqlite3_open(":memory:", &db);
		ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT json_extract(value,"
		    " '$.serial'), json_extract(value, '$.events[#-1].kind'),"
		    " json_extract(value, '$.subject') FROM json_each(?1) WHERE"
		    " json_extract(value, '$.transaction_id') = ?2", -1, &st, NULL),
		    SQLITE_OK);
		sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, req.txid, -1, SQLITE_STATIC);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), serial);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 1),
		    "response_complete");
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 2),
		    "CN=ledger-device");
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	free(json);
	/* scepctl cert SERIAL prints the certificate. */
	{
		char args[128], *pem;

		snprintf(args, sizeof(args), "cert %s", serial);
		pem = tu_scepctl(&e2e_srv, args);
		ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN CERTIFICATE-----"));
		free(pem);
	}
	free(serial);
	tc_rep_free(&rep);
	tc_req_free(&req);
	tu_http_free(&h);
}
END_TEST

static Suite *
delivery_suite(void)
{
	Suite *s = suite_create("e2e_delivery");
	TCase *t;

	t = tcase_create("delivery");
	tcase_add_unchecked_fixture(t, e2e_main_up, e2e_main_down);
	tcase_add_test(t, test_ledger_row);
	tcase_add_test(t, test_delivery_failed);
	tcase_add_test(t, test_ledger_queries);
	tcase_add_test(t, test_admin_api);
	tcase_add_test(t, test_hook);
	tcase_add_test(t, test_ingest);
	tcase_add_test(t, test_ingest_windows);
	tcase_add_test(t, test_ingest_never_wrong);
	tcase_add_test(t, test_ingest_windows_forms);
	tcase_add_test(t, test_ingest_large);
	tcase_add_test(t, test_evidence_conflict_retract);
	tcase_set_timeout(t, 240);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return e2e_run(delivery_suite());
}
