/*
 * server/ctl: scepctl and what only it runs — doctor, MDM profiles,
 * ingesting device logs.  Linked into scepctl only, never into scepd.
 *
 * Must not touch: HTTP, the signer process (scepctl opens the CA itself).
 */
#ifndef SCEPD_CTL_H
#define SCEPD_CTL_H

#include <stdio.h>

#include "server/common/common.h"
#include "store/ledger.h"

/*
 * scepctl doctor: the NDES troubleshooting checklist as a command.  Each
 * check prints "ok", "warn" or "fail", what it saw and, when not ok, the
 * fix.
 */

/*
 * Run every check against cfg (NULL: the configuration did not load,
 * config_error says why).  Returns the number of failed checks.
 */
int doctor_run(const struct scepd_config *cfg, const char *conf_path,
    const char *config_error, FILE *out);

/*
 * scepctl ingest: device logs as delivery evidence.  Every match is exact
 * and names the evidence it used; nothing is matched on guesswork.
 *   Android OMA DM (jscep): "Response: org.jscep.message.CertRep@…[…
 *     senderNonce=Nonce [hex],…,transId=…]" matched on the transactionID
 *     and the senderNonce scepd generated; the enrollment's ModelName=…
 *     key then carries "SCEP cert '…' state changed … to CERT_INSTALL_
 *     SUCCESS / CERT_ACCESS_GRANTED" (installed) or a failure state.
 *   iOS profiled: the "PKIOperation&message=" URL matched on the start of
 *     the request's base64; then "Profile '….SCEP.…' installed." for the
 *     same profile identifier.
 */

struct ingest_counts {
	long	 lines;		/* lines (or Windows events) read */
	long	 recognised;	/* of them, in a format scepd reads */
	long	 matched;	/* tie evidence to a transaction exactly */
	long	 weak;		/* tie it by subject and time only */
	long	 unmatched;	/* evidence lines that tie to nothing */
	long	 ambiguous;	/* could tie to more than one: not used */
	long	 ignored;	/* everything else */
	long	 added;		/* new events (0 on a second ingest) */
	long	 conflicts;	/* install evidence saying the opposite of
				   the transaction's newest (which it now is) */
	const char *format;	/* what the file was read as; NULL: none */
	const char *encoding;	/* UTF-8, UTF-16LE, ... */
	int	 local_as_utc;	/* local times read as UTC (no offset) */
};

/*
 * One ingest run over several files: what binds a device's names to a
 * transaction (Android's enrollment key, iOS's profile identifier) in
 * one file holds in the next, so a rotated log's CertRep and its
 * install line join.
 */
typedef struct ingest ingest;

int ingest_new(ledger *l, ingest **out);
/*
 * The devices' offset from UTC (seconds east), for the exports that write
 * local time without one (wevtutil /f:text, Format-List, CSV).
 */
void ingest_set_utc_offset(ingest *in, long seconds);
void ingest_free(ingest *in);
/* Read one file into the run; 0 with *why when it cannot be read. */
int ingest_file(ingest *in, const char *path, struct ingest_counts *c,
    const char **why);
/*
 * Sort paths for one run: by the device time of each file's first
 * timestamped line, oldest first (omadmlog_1.log before omadmlog_0.log);
 * files without one keep their place after those with one.
 */
void ingest_order(char **paths, int n);
/* The formats ingest_file reads, for an error message. */
extern const char ingest_formats[];

/*
 * scepctl profile ios|android|windows: what an MDM's SCEP profile asks
 * for (URL, the CA's thumbprints in the forms MDMs want, key size and
 * usage, subject and SAN examples); for Apple also a .mobileconfig with
 * the CA and a SCEP payload, for test devices no MDM manages.
 */

/* argv[0] is "profile"; 0 on success, else the exit code. */
int mdm_profile_run(const struct scepd_config *cfg, int argc, char **argv,
    FILE *out);

#endif
