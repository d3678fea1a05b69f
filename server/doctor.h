/*
 * scepctl doctor: the NDES troubleshooting checklist as a command.  Each
 * check prints "ok", "warn" or "fail", what it saw and, when not ok, the
 * fix.
 */
#ifndef DOCTOR_H
#define DOCTOR_H

#include <stdio.h>

#include "server/config.h"

/*
 * Run every check against cfg (NULL: the configuration did not load,
 * config_error says why).  Returns the number of failed checks.
 */
int doctor_run(const struct scepd_config *cfg, const char *conf_path,
    const char *config_error, FILE *out);

#endif
