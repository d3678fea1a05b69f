/*
 * scepctl: the administrator's tool.  Reads the same configuration as
 * scepd and works on its state directory (the ledger and the CA files).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ca/ca.h"
#include "server/enroll/enroll.h"
#include "server/common/common.h"
#include "server/ctl/ctl.h"
#include "store/ledger.h"

#define MAX_OVERRIDES 64

/* On a mistake to standard error (exit 2); asked for, standard output. */
static void
usage_to(int asked)
{
	fprintf(asked ? stdout : stderr,
	    "usage: scepctl [-c file] [-o key=value ...] command\n"
	    "commands:\n"
	    "  ledger [--status S] [--since 2h] [--subject TEXT] [--json|--csv]\n"
	    "                         PKIOperations, with status (JSON: and events)\n"
	    "  stuck [--older-than 15m] [--json|--csv]\n"
	    "                         issued or delivered, never installed\n"
	    "  stats [--by hour|day]  operations per hour (or day) and status\n"
	    "  cert SERIAL            an issued certificate, PEM\n"
	    "  show ID [--json]       a transaction's status and timeline (ID:\n"
	    "                         transactionID, serial or subject CN)\n"
	    "  ingest [--utc-offset +HH:MM] FILE...\n"
	    "                         device logs as delivery evidence\n"
	    "  evidence list ID       a transaction's evidence with event ids\n"
	    "  evidence retract EVENT --reason TEXT\n"
	    "                         take evidence back; the status follows\n"
	    "  ca                     the CAs' subjects and thumbprints\n"
	    "  ca rollover            make the next CA and RA (GetNextCACert)\n"
	    "  ca activate            switch to the next CA\n"
	    "  pending                requests awaiting approval, as JSON\n"
	    "  approve TXID           approve a pending request\n"
	    "  deny TXID --reason TEXT\n"
	    "                         deny a pending request\n"
	    "  revoke SERIAL [--reason REASON]\n"
	    "                         revoke a certificate (RFC 5280 reason name)\n"
	    "  challenge new [--ttl 60m] [--count N] [--profile NAME]\n"
	    "                         one-time passwords (challenge_mode = onetime)\n"
	    "  challenge reset        new challenge password (challenge = auto)\n"
	    "  challenge hash         read a password on stdin, print its hash\n"
	    "  doctor                 check configuration, CA, RA, keys, server,\n"
	    "                         ledger and clock; print each fix\n"
	    "  profile ios|android|windows [--url URL] [--subject DN] [--cer FILE]\n"
	    "          [--challenge PW] [--out FILE.mobileconfig]\n"
	    "                         what an MDM's SCEP profile needs; for ios\n"
	    "                         also a .mobileconfig\n"
	    "-c file is the configuration (default %s); see scepctl(8).\n",
	    SCEPD_DEFAULT_CONF);
	exit(asked ? 0 : 2);
}

static void
usage(void)
{
	usage_to(0);
}

/* scepctl challenge hash: needs no configuration, only the password. */
static int
challenge_hash(void)
{
	char plain[CA_MAX_CHALLENGE + 2], text[CHALLENGE_HASH_MAX];
	int ret = 1;

	if (fgets(plain, sizeof(plain), stdin) == NULL)
		return 1;
	plain[strcspn(plain, "\r\n")] = '\0';
	if (*plain != '\0' && challenge_hash_text(plain, text, sizeof(text))) {
		printf("%s\n", text);
		ret = 0;
	}
	OPENSSL_cleanse(plain, sizeof(plain));
	return ret;
}

static int
open_ledger(const struct scepd_config *cfg, ledger **l)
{
	char path[4096];
	const char *why = "";

	if (!setup_ledger_path(cfg, path, sizeof(path)) ||
	    ledger_open(path, l, &why) != LEDGER_OK) {
		fprintf(stderr, "scepctl: ledger %s: %s\n", path, why);
		return 0;
	}
	return 1;
}

/*
 * ledger [--status S] [--since 2h] [--subject TEXT] [--json | --csv]
 * stuck [--older-than 15m] [--json | --csv]
 */
static int
cmd_list(const struct scepd_config *cfg, int argc, char **argv)
{
	static const char *const statuses[] = { "received", "rejected",
	    "pending", "issued", "delivered", "delivery_failed", "installed",
	    "install_failed", "revoked", "expired", NULL };
	struct ledger_filter f;
	int stuck = strcmp(argv[0], "stuck") == 0, format = LEDGER_TEXT, a, i, ok;
	long older = 15 * 60, since;
	ledger *l = NULL;

	memset(&f, 0, sizeof(f));
	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--json") == 0) {
			format = LEDGER_JSON;
		} else if (strcmp(argv[a], "--csv") == 0) {
			format = LEDGER_CSV;
		} else if (a + 1 < argc && !stuck && strcmp(argv[a], "--status") == 0) {
			f.status = argv[++a];
			for (i = 0; statuses[i] != NULL; i++)
				if (strcmp(statuses[i], f.status) == 0)
					break;
			if (statuses[i] == NULL) {
				fprintf(stderr, "scepctl: unknown status '%s'\n", f.status);
				return 2;
			}
		} else if (a + 1 < argc && !stuck && strcmp(argv[a], "--since") == 0) {
			if ((since = config_parse_duration(argv[++a])) < 0)
				usage();
			f.since_us = ((int64_t)time(NULL) - since) * 1000000;
		} else if (a + 1 < argc && !stuck && strcmp(argv[a], "--subject") == 0) {
			f.subject = argv[++a];
		} else if (a + 1 < argc && stuck &&
		    strcmp(argv[a], "--older-than") == 0) {
			if ((older = config_parse_duration(argv[++a])) < 0)
				usage();
		} else {
			usage();
		}
	}
	/* Issued or delivered that long ago, and no sign of installation. */
	if (stuck) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		f.stuck_before_us = ((int64_t)now.tv_sec - older) * 1000000 +
		    now.tv_nsec / 1000;
	}
	if (!open_ledger(cfg, &l))
		return 1;
	ok = report_list(l, &f, format, stdout) == LEDGER_OK;
	ledger_close(l);
	if (!ok)
		fprintf(stderr, "scepctl: cannot read the ledger\n");
	return ok ? 0 : 1;
}

static int
cmd_stats(const struct scepd_config *cfg, int argc, char **argv)
{
	ledger *l = NULL;
	int by_day = 0, ok;

	if (argc == 3 && strcmp(argv[1], "--by") == 0 &&
	    (strcmp(argv[2], "day") == 0 || strcmp(argv[2], "hour") == 0))
		by_day = strcmp(argv[2], "day") == 0;
	else if (argc != 1)
		usage();
	if (!open_ledger(cfg, &l))
		return 1;
	ok = report_stats(l, by_day, stdout) == LEDGER_OK;
	ledger_close(l);
	return ok ? 0 : 1;
}

static int
cmd_show(const struct scepd_config *cfg, int argc, char **argv)
{
	ledger *l = NULL;
	int json = argc == 3 && strcmp(argv[2], "--json") == 0, found = 0, rv;

	if (argc != 2 && !json)
		usage();
	if (!open_ledger(cfg, &l))
		return 1;
	rv = json ? report_show_json(l, argv[1], stdout, &found) :
	    report_show_text(l, argv[1], stdout, &found);
	ledger_close(l);
	if (rv != LEDGER_OK) {
		fprintf(stderr, "scepctl: cannot read the ledger\n");
		return 1;
	}
	if (!found) {
		fprintf(stderr, "scepctl: no transaction, serial or CN '%s'\n",
		    argv[1]);
		return 1;
	}
	return 0;
}

static int
cmd_ingest(const struct scepd_config *cfg, int argc, char **argv)
{
	struct ingest_counts c;
	const char *why = "";
	ingest *in = NULL;
	ledger *l = NULL;
	long offset = 0;
	int i, ret = 0, have_offset = 0, sign, hh, mm;
	char extra;

	/* --utc-offset ±HH:MM: the devices' local time, for text exports. */
	if (argc >= 3 && strcmp(argv[1], "--utc-offset") == 0) {
		sign = argv[2][0] == '-' ? -1 : 1;
		if ((argv[2][0] != '+' && argv[2][0] != '-') ||
		    sscanf(argv[2] + 1, "%2d:%2d%c", &hh, &mm, &extra) != 2 ||
		    hh > 14 || mm > 59) {
			fprintf(stderr, "scepctl: --utc-offset wants +HH:MM or "
			    "-HH:MM, such as +01:00\n");
			return 2;
		}
		offset = sign * (hh * 3600L + mm * 60L);
		have_offset = 1;
		argc -= 2;
		argv += 2;
	}
	if (argc < 2)
		usage();
	if (!open_ledger(cfg, &l))
		return 1;
	if (!ingest_new(l, &in)) {
		fprintf(stderr, "scepctl: out of memory\n");
		ledger_close(l);
		return 1;
	}
	if (have_offset)
		ingest_set_utc_offset(in, offset);
	/* Rotated logs oldest first, so that a CertRep and its install join. */
	ingest_order(argv + 1, argc - 1);
	for (i = 1; i < argc; i++) {
		memset(&c, 0, sizeof(c));
		if (!ingest_file(in, argv[i], &c, &why)) {
			fprintf(stderr, "scepctl: %s: %s\n", argv[i], why);
			ret = 1;
			continue;
		}
		/* Never a silent "0 matched" for a file scepd cannot read. */
		if (c.format == NULL) {
			fprintf(stderr, "scepctl: %s: %s (%ld lines); the formats "
			    "read are: %s\n", argv[i], c.lines == 0 ? "empty" :
			    "not a device log scepd reads", c.lines, ingest_formats);
			ret = 1;
			continue;
		}
		printf("%s: %s%s%s, %ld lines: %ld matched, %ld weak, %ld "
		    "unmatched, %ld ambiguous, %ld ignored; %ld new events",
		    argv[i], c.format, strcmp(c.encoding, "UTF-8") ? ", " : "",
		    strcmp(c.encoding, "UTF-8") ? c.encoding : "", c.lines,
		    c.matched, c.weak, c.unmatched, c.ambiguous, c.ignored,
		    c.added);
		if (c.conflicts > 0)
			printf("; %ld conflicts (the newest evidence decides; "
			    "`scepctl evidence list` shows both)", c.conflicts);
		printf("%s\n", c.local_as_utc ? "; local times read as UTC "
		    "(give --utc-offset)" : "");
	}
	ingest_free(in);
	ledger_close(l);
	return ret;
}

static int
print_row(void *arg, const char *row)
{
	fprintf(arg, "%s\n", row);
	return 1;
}

/* evidence list ID | evidence retract EVENT --reason TEXT */
static int
cmd_evidence(const struct scepd_config *cfg, int argc, char **argv)
{
	static const char *const said[] = {
		[LEDGER_RETRACTED] = "retracted; the status is recomputed",
		[LEDGER_RETRACT_UNKNOWN] = "no such evidence",
		[LEDGER_RETRACT_ALREADY] = "retracted already",
		[LEDGER_RETRACT_NOT_EVIDENCE] = ("not device evidence (what "
		    "scepd recorded itself stays)"),
		[LEDGER_RETRACT_ERROR] = "cannot write the ledger",
	};
	ledger *l = NULL;
	long long event;
	char *end;
	int found = 0, rv, ret = 1;

	if (argc == 3 && strcmp(argv[1], "list") == 0) {
		if (!open_ledger(cfg, &l))
			return 1;
		if (ledger_evidence_rows(l, argv[2], print_row, stdout,
		    &found) != LEDGER_OK)
			fprintf(stderr, "scepctl: cannot read the ledger\n");
		else if (!found)
			fprintf(stderr, "scepctl: %s: no evidence\n", argv[2]);
		else
			ret = 0;
		ledger_close(l);
		return ret;
	}
	if (argc != 5 || strcmp(argv[1], "retract") != 0 ||
	    strcmp(argv[3], "--reason") != 0 || *argv[4] == '\0')
		usage();
	event = strtoll(argv[2], &end, 10);
	if (*argv[2] == '\0' || *end != '\0' || event <= 0) {
		fprintf(stderr, "scepctl: %s: an event id, as `evidence list` "
		    "shows it\n", argv[2]);
		return 2;
	}
	if (!open_ledger(cfg, &l))
		return 1;
	rv = ledger_retract_evidence(l, (int64_t)event, argv[4], "scepctl");
	printf("evidence %lld: %s\n", event, said[rv]);
	ledger_close(l);
	return rv == LEDGER_RETRACTED ? 0 : 1;
}

static int
cmd_cert(const struct scepd_config *cfg, int argc, char **argv)
{
	ledger *l = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509 *x = NULL;
	int ret = 1;

	if (argc != 2)
		usage();
	if (!open_ledger(cfg, &l))
		return 1;
	if (ledger_cert_der(l, argv[1], &der, &len) != LEDGER_OK) {
		fprintf(stderr, "scepctl: no certificate with serial %s\n", argv[1]);
		goto out;
	}
	p = der;
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL ||
	    !PEM_write_X509(stdout, x))
		goto out;
	ret = 0;
out:
	X509_free(x);
	free(der);
	ledger_close(l);
	return ret;
}

static int
cmd_pending(const struct scepd_config *cfg, int argc)
{
	ledger *l = NULL;
	int ok;

	if (argc != 1)
		usage();
	if (!open_ledger(cfg, &l))
		return 1;
	ok = report_pending_json(l, stdout) == LEDGER_OK;
	ledger_close(l);
	return ok ? 0 : 1;
}

/* approve TXID | deny TXID --reason TEXT: one decision, one event. */
static int
cmd_decide(const struct scepd_config *cfg, int argc, char **argv)
{
	int approve = strcmp(argv[0], "approve") == 0;
	const char *reason = approve ? "approved" : NULL;
	ledger *l = NULL;
	int rv;

	if (approve && argc != 2)
		usage();
	if (!approve) {
		if (argc != 4 || strcmp(argv[2], "--reason") != 0 || *argv[3] == '\0')
			usage();
		reason = argv[3];
	}
	if (!open_ledger(cfg, &l))
		return 1;
	rv = ledger_pending_decide(l, argv[1], approve, reason);
	ledger_close(l);
	switch (rv) {
	case LEDGER_DECIDED:
		printf("%s %s; the client gets its answer at its next poll\n",
		    approve ? "approved" : "denied", argv[1]);
		return 0;
	case LEDGER_DECIDE_UNKNOWN:
		fprintf(stderr, "scepctl: nothing pending under transaction %s\n",
		    argv[1]);
		return 1;
	}
	fprintf(stderr, "scepctl: cannot write the ledger\n");
	return 1;
}

/* RFC 5280 5.3.1 CRLReason names, by code; 7 is unused. */
static const char *const reasons[] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "certificateHold", NULL,
	"removeFromCRL", "privilegeWithdrawn", "aACompromise",
};

static int
reason_code(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i] != NULL && strcasecmp(reasons[i], name) == 0)
			return (int)i;
	return -1;
}

/*
 * RFC 5280 CRLs follow every revocation, from the CA that issued the
 * certificate (the current one or a previous one): LEDGER_REVOKED, or -1.
 */
static int
publish_crl(const struct scepd_config *cfg, ledger *l, const char *serial)
{
	struct ledger_cert_state cs;
	struct ca_params cp;
	const char *why = "";
	const ca *gen = NULL;
	ca *c = NULL;
	int ok;

	ok = setup_ca_params(cfg, &cp, &why) &&
	    ca_open(cfg->state_dir, &cp, NULL, &c, &why) == CA_OK &&
	    ledger_cert_state(l, serial, &cs) == LEDGER_OK;
	ca_params_wipe(&cp);
	if (ok && (gen = ca_by_id(c, cs.ca_id)) == NULL) {
		why = "the issuing CA is no longer in the state directory";
		ok = 0;
	}
	ok = ok && crl_publish(gen, l, cfg->state_dir, cfg->crl_days, &why);
	if (!ok)
		fprintf(stderr, "scepctl: CRL: %s\n", why);
	ca_free(c);
	return ok ? LEDGER_REVOKED : -1;
}

static int
cmd_revoke(const struct scepd_config *cfg, int argc, char **argv)
{
	ledger *l = NULL;
	int reason = 0, rv;

	if (argc == 4 && strcmp(argv[2], "--reason") == 0)
		reason = reason_code(argv[3]);
	else if (argc != 2)
		usage();
	/* removeFromCRL only undoes a hold; holds are not offered. */
	if (reason < 0 || reason == 6 || reason == 8) {
		fprintf(stderr, "scepctl: unknown reason '%s' (unspecified, "
		    "keyCompromise, cACompromise, affiliationChanged, superseded, "
		    "cessationOfOperation, privilegeWithdrawn, aACompromise)\n",
		    argv[3]);
		return 2;
	}
	if (!open_ledger(cfg, &l))
		return 1;
	rv = ledger_revoke(l, argv[1], reason);
	if (rv == LEDGER_REVOKED)
		rv = publish_crl(cfg, l, argv[1]);
	ledger_close(l);
	switch (rv) {
	case LEDGER_REVOKED:
		printf("revoked %s (%s); CRL republished\n", argv[1],
		    reasons[reason]);
		return 0;
	case -1:
		fprintf(stderr, "scepctl: revoked %s, but the CRL was not "
		    "republished; scepd will retry\n", argv[1]);
		return 1;
	case LEDGER_REVOKE_UNKNOWN:
		fprintf(stderr, "scepctl: no certificate with serial %s\n", argv[1]);
		return 1;
	case LEDGER_REVOKE_ALREADY:
		fprintf(stderr, "scepctl: %s is already revoked\n", argv[1]);
		return 1;
	}
	fprintf(stderr, "scepctl: cannot write the ledger\n");
	return 1;
}

static void
print_ca(const char *label, const ca *c)
{
	char sha256[SETUP_THUMB_LEN], sha1[SETUP_THUMB_LEN];
	char id[CA_ID_LEN + 1];
	char *subject = ca_name_oneline(X509_get_subject_name(ca_cert_get0(c)));

	setup_thumbprint(ca_cert_get0(c), EVP_sha256(), sha256);
	setup_thumbprint(ca_cert_get0(c), EVP_sha1(), sha1);
	if (ca_id(c, id) != CA_OK)
		snprintf(id, sizeof(id), "?");
	printf("%s\n  subject:    %s\n  id:         %s\n  sha256:     %s\n"
	    "  sha1:       %s\n", label, subject ? subject : "?", id, sha256, sha1);
	free(subject);
}

/* scepctl ca [rollover | activate] with the CA parameters read. */
static int
cmd_ca_params(const struct scepd_config *cfg, int argc, char **argv,
    const struct ca_params *cp)
{
	const char *why = "";
	size_t i;
	ca *c = NULL;

	if (argc == 2 && *cfg->ca_key != '\0' &&
	    (strcmp(argv[1], "rollover") == 0 ||
	    strcmp(argv[1], "activate") == 0)) {
		fprintf(stderr, "scepctl: ca %s: the CA key is ca_key (%s); a "
		    "rollover makes key files: put the new key on the token and "
		    "change ca_key instead\n", argv[1], cfg->ca_key);
		return 1;
	}
	if (argc == 2 && strcmp(argv[1], "rollover") == 0) {
		if (ca_rollover(cfg->state_dir, cp, &why) != CA_OK) {
			fprintf(stderr, "scepctl: ca rollover: %s\n", why);
			return 1;
		}
		printf("next CA created in %s/next; restart scepd to offer it "
		    "(GetNextCACert), then `scepctl ca activate`\n", cfg->state_dir);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "activate") == 0) {
		if (ca_activate(cfg->state_dir, cp, &why) != CA_OK) {
			fprintf(stderr, "scepctl: ca activate: %s\n", why);
			return 1;
		}
		printf("next CA is now current; the previous one keeps verifying "
		    "its certificates; restart scepd\n");
		return 0;
	}
	if (argc != 1)
		usage();
	/* Opening never creates: refuse when the state directory is empty. */
	if (access(cfg->state_dir, F_OK) != 0) {
		fprintf(stderr, "scepctl: %s: no state yet (start scepd first)\n",
		    cfg->state_dir);
		return 1;
	}
	if (ca_open(cfg->state_dir, cp, NULL, &c, &why) != CA_OK) {
		fprintf(stderr, "scepctl: CA: %s\n", why);
		return 1;
	}
	print_ca("current CA", c);
	if (ca_next(c) != NULL)
		print_ca("next CA (after a rollover)", ca_next(c));
	for (i = 0; i < ca_previous_count(c); i++)
		print_ca("previous CA", ca_previous(c, i));
	ca_free(c);
	return 0;
}

static int
cmd_ca(const struct scepd_config *cfg, int argc, char **argv)
{
	struct ca_params cp;
	const char *why = "";
	int ret;

	if (!setup_ca_params(cfg, &cp, &why)) {
		fprintf(stderr, "scepctl: %s\n", why);
		return 1;
	}
	ret = cmd_ca_params(cfg, argc, argv, &cp);
	ca_params_wipe(&cp);
	return ret;
}


/* challenge new [--ttl D] [--count N]: one-time passwords, stored hashed. */
static int
challenge_new(const struct scepd_config *cfg, int argc, char **argv)
{
	char pw[CHALLENGE_GEN_LEN + 1], *end;
	const char *profile = NULL;
	long ttl = cfg->challenge_ttl, count = 1, i;
	ledger *l = NULL;
	int a, rv = LEDGER_CHALLENGE_OK;

	for (a = 2; a + 1 < argc; a += 2) {
		if (strcmp(argv[a], "--ttl") == 0) {
			ttl = config_parse_duration(argv[a + 1]);
			if (ttl < 60 || ttl > 30L * 86400)
				usage();
		} else if (strcmp(argv[a], "--profile") == 0) {
			profile = argv[a + 1];
			if (strcmp(profile, "default") != 0 &&
			    config_profile(cfg, profile) == NULL) {
				fprintf(stderr, "scepctl: no profile named '%s'\n",
				    profile);
				return 1;
			}
		} else if (strcmp(argv[a], "--count") == 0) {
			count = strtol(argv[a + 1], &end, 10);
			if (*end != '\0' || count < 1 || count > 1000)
				usage();
		} else {
			usage();
		}
	}
	if (a != argc)
		usage();
	if (cfg->challenge_mode != CHALLENGE_ONETIME)
		fprintf(stderr, "scepctl: warning: challenge_mode is not onetime; "
		    "scepd will not accept these\n");
	if (!open_ledger(cfg, &l))
		return 1;
	for (i = 0; i < count && rv == LEDGER_CHALLENGE_OK; i++) {
		rv = enroll_onetime_new(l, ttl, profile, cfg->challenge_max, pw);
		if (rv == LEDGER_CHALLENGE_OK)
			printf("%s\n", pw);
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	ledger_close(l);
	if (rv == LEDGER_CHALLENGE_FULL) {
		fprintf(stderr, "scepctl: %d unused passwords are outstanding "
		    "(challenge_max); wait for them to be used or expire\n",
		    cfg->challenge_max);
		return 1;
	}
	if (rv != LEDGER_CHALLENGE_OK) {
		fprintf(stderr, "scepctl: cannot store the password\n");
		return 1;
	}
	fprintf(stderr, "valid for %ld minutes, once each\n", ttl / 60);
	return 0;
}

static int
cmd_challenge(const struct scepd_config *cfg, int argc, char **argv)
{
	char plain[CA_MAX_CHALLENGE + 2];
	const char *why = "";

	if (argc >= 2 && strcmp(argv[1], "new") == 0)
		return challenge_new(cfg, argc, argv);
	if (argc != 2)
		usage();
	if (strcmp(argv[1], "reset") == 0) {
		if (strcmp(cfg->challenge, "auto") != 0) {
			fprintf(stderr, "scepctl: challenge is not 'auto' in the "
			    "configuration\n");
			return 1;
		}
		if (!setup_state_dir(cfg->state_dir, &why) ||
		    !challenge_reset(cfg->state_dir, plain, &why)) {
			fprintf(stderr, "scepctl: %s\n", why);
			return 1;
		}
		printf("%s\n", plain);
		printf("(reload scepd to use it: kill -HUP, or systemctl reload scepd)\n");
		OPENSSL_cleanse(plain, sizeof(plain));
		return 0;
	}
	if (strcmp(argv[1], "hash") == 0)
		return challenge_hash();
	usage();
	return 2;
}

int
main(int argc, char *argv[])
{
	struct scepd_config cfg;
	char *overrides[MAX_OVERRIDES], err[CONFIG_ERR_MAX];
	const char *conf = NULL;
	size_t n = 0;
	int ch, ret;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0))
		usage_to(1);
	while ((ch = getopt(argc, argv, "+c:o:")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'o':
			if (n == MAX_OVERRIDES)
				usage();
			overrides[n++] = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	/* Hashing a password reads no configuration (none may exist yet). */
	if (argc == 2 && strcmp(argv[0], "challenge") == 0 &&
	    strcmp(argv[1], "hash") == 0)
		return challenge_hash();
	if (!setup_config(&cfg, conf, overrides, n, err, sizeof(err))) {
		if (strcmp(argv[0], "doctor") == 0)
			ret = doctor_run(NULL, conf, err, stdout) > 0;
		else
			fprintf(stderr, "scepctl: %s\n", err), ret = 1;
		config_free(&cfg);
		return ret;
	}
	if (strcmp(argv[0], "doctor") == 0 && argc == 1)
		ret = doctor_run(&cfg, conf, NULL, stdout) > 0;
	else if (strcmp(argv[0], "profile") == 0)
		ret = mdm_profile_run(&cfg, argc, argv, stdout);
	else if (strcmp(argv[0], "ledger") == 0 || strcmp(argv[0], "stuck") == 0)
		ret = cmd_list(&cfg, argc, argv);
	else if (strcmp(argv[0], "stats") == 0)
		ret = cmd_stats(&cfg, argc, argv);
	else if (strcmp(argv[0], "show") == 0)
		ret = cmd_show(&cfg, argc, argv);
	else if (strcmp(argv[0], "ingest") == 0)
		ret = cmd_ingest(&cfg, argc, argv);
	else if (strcmp(argv[0], "evidence") == 0)
		ret = cmd_evidence(&cfg, argc, argv);
	else if (strcmp(argv[0], "cert") == 0)
		ret = cmd_cert(&cfg, argc, argv);
	else if (strcmp(argv[0], "ca") == 0)
		ret = cmd_ca(&cfg, argc, argv);
	else if (strcmp(argv[0], "pending") == 0)
		ret = cmd_pending(&cfg, argc);
	else if (strcmp(argv[0], "approve") == 0 || strcmp(argv[0], "deny") == 0)
		ret = cmd_decide(&cfg, argc, argv);
	else if (strcmp(argv[0], "revoke") == 0)
		ret = cmd_revoke(&cfg, argc, argv);
	else if (strcmp(argv[0], "challenge") == 0)
		ret = cmd_challenge(&cfg, argc, argv);
	else
		usage(), ret = 2;
	config_free(&cfg);
	return ret;
}
