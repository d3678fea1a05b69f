/*
 * scepctl profile ios|android|windows: what an MDM's SCEP profile asks
 * for (URL, the CA's thumbprints in the forms MDMs want, key size and
 * usage, subject and SAN examples); for Apple also a .mobileconfig with
 * the CA and a SCEP payload, for test devices no MDM manages.
 */
#ifndef MDM_PROFILE_H
#define MDM_PROFILE_H

#include <stdio.h>

#include "server/config.h"

/* argv[0] is "profile"; 0 on success, else the exit code. */
int mdm_profile_run(const struct scepd_config *cfg, int argc, char **argv,
    FILE *out);

#endif
