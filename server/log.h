/* Logging to standard error: one line per call, never a secret. */
#ifndef LOG_H
#define LOG_H

#include "server/config.h"

void log_set_level(int level);
/* LOG_TO_STDERR (the default) or LOG_TO_SYSLOG (facility daemon). */
void log_set_target(int target);
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...)	log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
