#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "ca/ca_files.h"
#include "server/enroll/enroll.h"
#include "server/common/common.h"
#include "server/ctl/ctl.h"

struct profile_opts {
	const char	*platform;	/* ios, android, windows */
	char		 url[1024];
	const char	*challenge;	/* --challenge; NULL */
	const char	*subject;	/* --subject */
	const char	*out;		/* --out: the .mobileconfig */
	const char	*cer;		/* --cer: the CA as DER */
};

static int
usage_error(const char *why)
{
	fprintf(stderr, "scepctl profile: %s\nusage: scepctl profile "
	    "ios|android|windows [--url URL] [--subject DN] [--cer FILE]\n"
	    "       scepctl profile ios ... [--challenge PASSWORD] "
	    "[--out FILE.mobileconfig]\n", why);
	return 2;
}

/* The URL devices use: --url, else from listen (0.0.0.0: this host). */
static void
default_url(const struct scepd_config *cfg, char *url, size_t cap)
{
	char host[256] = "127.0.0.1";
	int port = 8080;

	/* The configuration checked listen; the lab default if it cannot parse. */
	if (!config_listen_parse(cfg->listen, host, sizeof(host), &port)) {
		snprintf(host, sizeof(host), "127.0.0.1");
		port = 8080;
	}
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
		gethostname(host, sizeof(host));
	snprintf(url, cap, "http://%s%s%s:%d/certsrv/mscep/mscep.dll",
	    strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
	    port);
}

/* "AB12..." as "AB:12:...". */
static void
colons(const char *hexs, char *out)
{
	size_t i;

	for (i = 0; hexs[i] != '\0'; i++) {
		if (i > 0 && i % 2 == 0)
			*out++ = ':';
		*out++ = hexs[i];
	}
	*out = '\0';
}

/* Text with the five XML specials escaped. */
static void
xml(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default: fputc(*s, f);
		}
	}
}

static void
uuid(char out[37])
{
	unsigned char b[16];

	RAND_bytes(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;		/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;		/* RFC 4122 variant */
	snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-"
	    "%02X%02X%02X%02X%02X%02X", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Common payload keys: type, identifier, UUID, version, display name. */
static void
payload_head(FILE *f, const char *type, const char *id, const char *name)
{
	char u[37];

	uuid(u);
	fprintf(f, "\t\t\t<key>PayloadType</key>\n\t\t\t<string>%s</string>\n"
	    "\t\t\t<key>PayloadIdentifier</key>\n\t\t\t<string>%s</string>\n"
	    "\t\t\t<key>PayloadUUID</key>\n\t\t\t<string>%s</string>\n"
	    "\t\t\t<key>PayloadVersion</key>\n\t\t\t<integer>1</integer>\n"
	    "\t\t\t<key>PayloadDisplayName</key>\n\t\t\t<string>", type, id, u);
	xml(f, name);
	fputs("</string>\n", f);
}

/* The SCEP payload's Subject: an array of RDNs, each [[type, value]]. */
static void
subject_array(FILE *f, const char *dn)
{
	char *copy = strdup(dn), *save = NULL, *rdn, *eq;

	fputs("\t\t\t\t<key>Subject</key>\n\t\t\t\t<array>\n", f);
	for (rdn = strtok_r(copy, ",", &save); rdn != NULL;
	    rdn = strtok_r(NULL, ",", &save)) {
		while (*rdn == ' ')
			rdn++;
		if ((eq = strchr(rdn, '=')) == NULL)
			continue;
		*eq = '\0';
		fputs("\t\t\t\t\t<array><array><string>", f);
		xml(f, rdn);
		fputs("</string><string>", f);
		xml(f, eq + 1);
		fputs("</string></array></array>\n", f);
	}
	fputs("\t\t\t\t</array>\n", f);
	free(copy);
}

/*
 * An Apple configuration profile: the CA as a trusted root
 * (com.apple.security.root) and a SCEP payload (com.apple.security.scep)
 * that enrolls an RSA-2048 key for signing and encryption.
 */
static int
write_mobileconfig(const struct profile_opts *o, X509 *cacert,
    const char *challenge)
{
	unsigned char *der = NULL, sha1[20];
	unsigned int n1 = 0;
	char *der64 = NULL, *fp64 = NULL, u[37];
	FILE *f = NULL;
	int len, ok = 0;

	if ((len = i2d_X509(cacert, &der)) <= 0 ||
	    !X509_digest(cacert, EVP_sha1(), sha1, &n1) ||
	    (der64 = b64_encode(der, (size_t)len, 0)) == NULL ||
	    (fp64 = b64_encode(sha1, n1, 0)) == NULL ||
	    (f = fopen(o->out, "w")) == NULL)
		goto out;
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist "
	    "PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
	    "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
	    "<plist version=\"1.0\">\n<dict>\n"
	    "\t<key>PayloadContent</key>\n\t<array>\n\t\t<dict>\n", f);
	payload_head(f, "com.apple.security.root", "org.scepd.root",
	    "scepd CA");
	fprintf(f, "\t\t\t<key>PayloadCertificateFileName</key>\n"
	    "\t\t\t<string>scepd-ca.cer</string>\n"
	    "\t\t\t<key>PayloadContent</key>\n\t\t\t<data>%s</data>\n"
	    "\t\t</dict>\n\t\t<dict>\n", der64);
	payload_head(f, "com.apple.security.scep", "org.scepd.scep",
	    "scepd SCEP");
	fputs("\t\t\t<key>PayloadContent</key>\n\t\t\t<dict>\n"
	    "\t\t\t\t<key>URL</key>\n\t\t\t\t<string>", f);
	xml(f, o->url);
	fputs("</string>\n\t\t\t\t<key>Name</key>\n\t\t\t\t<string>scepd"
	    "</string>\n", f);
	subject_array(f, o->subject);
	if (challenge != NULL) {
		fputs("\t\t\t\t<key>Challenge</key>\n\t\t\t\t<string>", f);
		xml(f, challenge);
		fputs("</string>\n", f);
	}
	fprintf(f, "\t\t\t\t<key>Keysize</key>\n\t\t\t\t<integer>2048</integer>\n"
	    "\t\t\t\t<key>Key Type</key>\n\t\t\t\t<string>RSA</string>\n"
	    "\t\t\t\t<key>Key Usage</key>\n\t\t\t\t<integer>5</integer>\n"
	    "\t\t\t\t<key>CAFingerprint</key>\n\t\t\t\t<data>%s</data>\n"
	    "\t\t\t</dict>\n\t\t</dict>\n\t</array>\n", fp64);
	uuid(u);
	fprintf(f, "\t<key>PayloadType</key>\n\t<string>Configuration</string>\n"
	    "\t<key>PayloadIdentifier</key>\n\t<string>org.scepd.profile</string>\n"
	    "\t<key>PayloadUUID</key>\n\t<string>%s</string>\n"
	    "\t<key>PayloadVersion</key>\n\t<integer>1</integer>\n"
	    "\t<key>PayloadDisplayName</key>\n\t<string>scepd test device "
	    "certificate</string>\n</dict>\n</plist>\n", u);
	ok = fclose(f) == 0;
	f = NULL;
out:
	if (f != NULL)
		fclose(f);
	OPENSSL_free(der);
	free(der64);
	free(fp64);
	return ok;
}

static int
write_cer(const char *path, X509 *cacert)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (f == NULL)
		return 0;
	ok = i2d_X509_fp(f, cacert) == 1;
	return fclose(f) == 0 && ok;
}

/* The challenge line, and for a .mobileconfig the password it carries. */
static int
challenge_for(const struct scepd_config *cfg, const struct profile_opts *o,
    char *fresh, const char **pw, FILE *out)
{
	ledger *l = NULL;
	char path[PATH_MAX];
	const char *why = "";
	int rv;

	*pw = o->challenge;
	switch (cfg->challenge_mode) {
	case CHALLENGE_NONE:
		fprintf(out, "Challenge:           none (challenge_mode = none)\n");
		*pw = NULL;
		return 1;
	case CHALLENGE_ONETIME:
		fprintf(out, "Challenge:           one-time passwords: scepctl "
		    "challenge new (Intune: not supported; use static)\n");
		if (*pw != NULL || o->out == NULL)
			return 1;
		if (!setup_ledger_path(cfg, path, sizeof(path)) ||
		    ledger_open(path, &l, &why) != LEDGER_OK)
			return 0;
		rv = enroll_onetime_new(l, cfg->challenge_ttl, NULL,
		    cfg->challenge_max, fresh);
		ledger_close(l);
		if (rv != LEDGER_CHALLENGE_OK)
			return 0;
		fprintf(out, "                     the profile carries a new one, "
		    "valid for %d minutes\n", (int)(cfg->challenge_ttl / 60));
		*pw = fresh;
		return 1;
	case CHALLENGE_EXEC:
		fprintf(out, "Challenge:           decided by %s\n",
		    cfg->challenge_exec);
		break;
	default:
		fprintf(out, "Challenge:           the static password (scepd "
		    "printed it on first start; scepctl challenge reset for a "
		    "new one)\n");
	}
	if (*pw == NULL && o->out != NULL) {
		fprintf(stderr, "scepctl profile: --challenge PASSWORD is needed "
		    "for the .mobileconfig (scepd keeps only its hash)\n");
		return 0;
	}
	return 1;
}

static void
platform_notes(const struct scepd_config *cfg, const char *platform,
    FILE *out)
{
	if (strcmp(platform, "ios") == 0) {
		fputs("Intune (iOS/iPadOS SCEP certificate profile):\n"
		    "  Subject name format: CN={{DeviceName}} or "
		    "CN={{SerialNumber}}\n"
		    "  Subject alternative name: User principal name (UPN) = "
		    "{{UserPrincipalName}}\n"
		    "  Key usage: Digital signature, Key encipherment; key size "
		    "2048\n"
		    "  Root certificate: a Trusted certificate profile with "
		    "the CA (--cer FILE writes it)\n", out);
	} else if (strcmp(platform, "android") == 0) {
		fputs("Intune (Android Enterprise SCEP certificate profile):\n"
		    "  Subject name format: CN={{AAD_Device_ID}} or "
		    "CN={{DeviceName}}\n"
		    "  Subject alternative name: User principal name (UPN) = "
		    "{{UserPrincipalName}}\n"
		    "  Key usage: Digital signature, Key encipherment; key size "
		    "2048; hash algorithm SHA-2\n"
		    "  Root certificate: a Trusted certificate profile with "
		    "the CA (--cer FILE writes it)\n"
		    "  Delivery shows in the OMA DM log: scepctl ingest "
		    "omadmlog.log\n", out);
	} else {
		fputs("Intune (Windows 10/11 SCEP certificate profile):\n"
		    "  Key storage provider: Enroll to TPM KSP if present, "
		    "otherwise Software KSP\n"
		    "  Subject name format: CN={{DeviceName}}\n"
		    "  Key usage: Digital signature, Key encipherment; key size "
		    "2048; hash algorithm SHA-2\n"
		    "  Root certificate: a Trusted certificate profile with "
		    "the CA (--cer FILE writes it)\n"
		    "  ClientCertificateInstall/SCEP CSP: CAThumbprint = the "
		    "SHA-1 thumbprint above\n"
		    "  Delivery shows as Event 39 in DeviceManagement-"
		    "Enterprise-Diagnostics-Provider/Admin:\n"
		    "    wevtutil qe Microsoft-Windows-DeviceManagement-"
		    "Enterprise-Diagnostics-Provider/Admin /f:xml > events.xml\n"
		    "    scepctl ingest events.xml\n", out);
	}
	fprintf(out, "Extended key usage:  %s (eku)\nValidity:            %d "
	    "days (cert_days)\n", *cfg->eku ? cfg->eku : "none", cfg->cert_days);
}

int
mdm_profile_run(const struct scepd_config *cfg, int argc, char **argv,
    FILE *out)
{
	struct profile_opts o;
	char path[PATH_MAX], s1[64], s1c[64], s256[80];
	char fresh[CHALLENGE_GEN_LEN + 1] = "", *subject = NULL;
	const char *pw = NULL, *why = "";
	X509 *cacert = NULL;
	int a, ret = 1;

	memset(&o, 0, sizeof(o));
	if (argc < 2 || (strcmp(argv[1], "ios") != 0 &&
	    strcmp(argv[1], "android") != 0 && strcmp(argv[1], "windows") != 0))
		return usage_error("which platform?");
	o.platform = argv[1];
	o.subject = "CN=scepd test device";
	default_url(cfg, o.url, sizeof(o.url));
	for (a = 2; a + 1 < argc; a += 2) {
		if (strcmp(argv[a], "--url") == 0)
			snprintf(o.url, sizeof(o.url), "%s", argv[a + 1]);
		else if (strcmp(argv[a], "--challenge") == 0)
			o.challenge = argv[a + 1];
		else if (strcmp(argv[a], "--subject") == 0)
			o.subject = argv[a + 1];
		else if (strcmp(argv[a], "--cer") == 0)
			o.cer = argv[a + 1];
		else if (strcmp(argv[a], "--out") == 0 &&
		    strcmp(o.platform, "ios") == 0)
			o.out = argv[a + 1];
		else
			return usage_error("unknown option");
	}
	if (a != argc)
		return usage_error("an option lacks its value");
	snprintf(path, sizeof(path), "%s/ca.pem", cfg->state_dir);
	if ((cacert = ca_read_cert(path, &why)) == NULL) {
		fprintf(stderr, "scepctl profile: %s: %s (start scepd once to "
		    "create the CA)\n", path, why);
		goto out;
	}
	subject = X509_NAME_oneline(X509_get_subject_name(cacert), NULL, 0);
	if (ca_thumbprint(cacert, EVP_sha1(), s1, sizeof(s1)) != CA_OK ||
	    ca_thumbprint(cacert, EVP_sha256(), s256, sizeof(s256)) != CA_OK) {
		fprintf(stderr, "scepctl profile: cannot compute the CA's "
		    "thumbprints\n");
		goto out;
	}
	colons(s1, s1c);
	fprintf(out, "SCEP server URL:     %s\n", o.url);
	fprintf(out, "CA:                  %s\n", subject);
	fprintf(out, "CA SHA-1:            %s\n", s1);
	fprintf(out, "CA SHA-1 (colons):   %s\n", s1c);
	fprintf(out, "CA SHA-256:          %s\n", s256);
	fprintf(out, "Key:                 RSA 2048 (or larger), digital "
	    "signature and key encipherment\n");
	if (!challenge_for(cfg, &o, fresh, &pw, out))
		goto out;
	platform_notes(cfg, o.platform, out);
	if (o.cer != NULL) {
		if (!write_cer(o.cer, cacert)) {
			fprintf(stderr, "scepctl profile: cannot write %s\n", o.cer);
			goto out;
		}
		fprintf(out, "Wrote the CA (DER) to %s\n", o.cer);
	}
	if (o.out != NULL) {
		if (!write_mobileconfig(&o, cacert, pw)) {
			fprintf(stderr, "scepctl profile: cannot write %s\n", o.out);
			goto out;
		}
		fprintf(out, "Wrote %s: the CA as a trusted root and a SCEP "
		    "payload for %s\n  (AirDrop or mail it to the device, then "
		    "Settings > Profile Downloaded > Install)\n", o.out,
		    o.subject);
	}
	ret = 0;
out:
	OPENSSL_cleanse(fresh, sizeof(fresh));
	OPENSSL_free(subject);
	X509_free(cacert);
	ERR_clear_error();
	return ret;
}
