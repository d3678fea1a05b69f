/*
 * hook_command: a program run on every event that can change a
 * transaction's status (issued, rejected, pending, response_complete,
 * response_aborted, installed, install_failed, revoked), with the event
 * as JSON on its standard input and SCEP_EVENT in its environment — the
 * equivalent of the Intune connector's reporting.
 *
 * The ledger's events table is the queue: a thread tails it, so changes
 * made by scepctl (approvals, revocations, ingested logs) run hooks too;
 * issuance never waits for a hook; a backlog past HOOK_BACKLOG events is
 * skipped with a warning; each run is bounded by hook_timeout.
 */
#ifndef HOOK_H
#define HOOK_H

#include <pthread.h>

#include "store/ledger.h"

#define HOOK_BACKLOG	1000
#define HOOK_BATCH	64

struct hook {
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 stop;
	int		 running;
	ledger		*l;
	const char	*program;
	int		 timeout;
	int64_t		 last;		/* the last event handled */
};

int hook_start(struct hook *h, ledger *l, const char *program, int timeout);
void hook_stop(struct hook *h);

#endif
