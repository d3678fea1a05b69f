#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include "server/common/common.h"

static int max_level = LOG_LEVEL_INFO;
static int to_syslog;

void
log_set_level(int level)
{
	max_level = level;
}

void
log_set_target(int target)
{
	if (target == LOG_TO_SYSLOG && !to_syslog)
		openlog("scepd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	to_syslog = target == LOG_TO_SYSLOG;
}

void
log_msg(int level, const char *fmt, ...)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	char line[2048], stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level > max_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (to_syslog) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
		    LOG_DEBUG };

		syslog(prio[level], "%s", line);
		return;
	}
	/* One fprintf per line keeps lines whole across threads. */
	fprintf(stderr, "%s.%03ldZ scepd %s: %s\n", stamp, ts.tv_nsec / 1000000,
	    names[level], line);
}
