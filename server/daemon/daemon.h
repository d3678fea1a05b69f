/*
 * server/daemon: scepd itself (main.c) — start-up in order, the signal
 * loop, SIGHUP reload, the CRL refresher and the hook thread.  Nothing
 * else includes this header: it is the top of the tree and may use every
 * module.
 */
#ifndef SCEPD_DAEMON_H
#define SCEPD_DAEMON_H

#include <stddef.h>
#include <pthread.h>

#include "store/ledger.h"
#include "server/common/common.h"
#include "server/enroll/enroll.h"
#include "server/http/http.h"

/*
 * SIGHUP: re-read the configuration file (and the command line's -o
 * overrides) and apply what can change under running connections: the
 * challenge, the certificate profiles, renewal and clock settings, the
 * challenge failure limit, the connection limits, max_body and
 * log_level.  Keys that need a new
 * listening socket, CA or thread pool are reported as needing a restart.
 * A configuration that does not load changes nothing.
 */

struct reload {
	const char			*conf;		/* -c, or NULL */
	char *const			*overrides;	/* -o */
	size_t				 n_overrides;
	struct enroll_ctx		*enroll;
	http_server			*http;
	const struct scepd_config	*running;	/* in use now */
	/* Configurations replaced since start: still referenced, freed at exit. */
	struct scepd_config		**retired;
	size_t				 n_retired;
	struct scepd_config		*latest;	/* allocated here, or NULL */
};

void reload_config(struct reload *r);
void reload_free(struct reload *r);

/*
 * hook_command: a program run on every event that can change a
 * transaction's status (issued, rejected, pending, response_complete,
 * response_aborted, installed, install_failed, revoked,
 * evidence_retracted), with the event as JSON on its standard input and
 * SCEP_EVENT in its environment — the equivalent of the Intune
 * connector's reporting.
 *
 * The ledger's events table is the queue: a thread tails it, so changes
 * made by scepctl (approvals, revocations, ingested logs) run hooks too;
 * issuance never waits for a hook; a backlog past HOOK_BACKLOG events is
 * skipped with a warning; each run is bounded by hook_timeout.
 */

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
