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
#ifndef INGEST_H
#define INGEST_H

#include "store/ledger.h"

struct ingest_counts {
	long	matched;	/* lines that tie evidence to a transaction */
	long	unmatched;	/* evidence lines that tie to nothing */
	long	ignored;	/* everything else */
	long	added;		/* new events (0 on a second ingest) */
};

/* Read one file; 0 with *why when it cannot be read. */
int ingest_file(ledger *l, const char *path, struct ingest_counts *c,
    const char **why);

#endif
