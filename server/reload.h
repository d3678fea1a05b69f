/*
 * SIGHUP: re-read the configuration file (and the command line's -o
 * overrides) and apply what can change under running connections: the
 * challenge, the certificate profiles, renewal and clock settings, the
 * challenge failure limit, the connection limits, max_body and
 * log_level.  Keys that need a new
 * listening socket, CA or thread pool are reported as needing a restart.
 * A configuration that does not load changes nothing.
 */
#ifndef RELOAD_H
#define RELOAD_H

#include <stddef.h>

#include "server/config.h"
#include "server/enroll.h"
#include "server/http.h"

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

#endif
