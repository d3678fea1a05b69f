/*
 * Failed challenges per client address: after `limit` failures within
 * `window` seconds an address is refused until the window has passed.
 */
#ifndef RATELIMIT_H
#define RATELIMIT_H

#include <pthread.h>
#include <time.h>

#define RATELIMIT_SLOTS 1024

struct ratelimit_slot {
	char	addr[48];
	time_t	start;
	int	count;
};

struct ratelimit {
	pthread_mutex_t		mu;
	int			limit;		/* 0: no limit */
	int			window;
	struct ratelimit_slot	slot[RATELIMIT_SLOTS];
};

void ratelimit_init(struct ratelimit *r, int limit, int window);
/* Is addr over its limit now? */
int ratelimit_blocked(struct ratelimit *r, const char *addr, time_t now);
/* Count one failure for addr. */
void ratelimit_fail(struct ratelimit *r, const char *addr, time_t now);

#endif
