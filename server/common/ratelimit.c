#include <stdio.h>
#include <string.h>

#include "server/common/common.h"

void
ratelimit_init(struct ratelimit *r, int limit, int window)
{
	memset(r->slot, 0, sizeof(r->slot));
	pthread_mutex_init(&r->mu, NULL);
	r->limit = limit;
	r->window = window;
}

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % RATELIMIT_SLOTS;
}

/*
 * The slot for addr.  A table, not a list: an address that collides
 * takes the slot over once the holder's window has passed, so memory
 * stays fixed whatever the number of clients.
 */
static struct ratelimit_slot *
slot_for(struct ratelimit *r, const char *addr, time_t now)
{
	struct ratelimit_slot *s = &r->slot[hash(addr)];

	if (strcmp(s->addr, addr) != 0 || now - s->start >= r->window) {
		if (strcmp(s->addr, addr) != 0 && now - s->start < r->window &&
		    s->count >= r->limit)
			return s;	/* keep a blocked holder blocked */
		snprintf(s->addr, sizeof(s->addr), "%s", addr);
		s->start = now;
		s->count = 0;
	}
	return s;
}

int
ratelimit_blocked(struct ratelimit *r, const char *addr, time_t now)
{
	struct ratelimit_slot *s;
	int left = 0;

	if (r->limit <= 0)
		return 0;
	pthread_mutex_lock(&r->mu);
	s = slot_for(r, addr, now);
	/* slot_for renews a window that has passed: left is at least 1. */
	if (strcmp(s->addr, addr) == 0 && s->count >= r->limit)
		left = (int)(s->start + r->window - now);
	pthread_mutex_unlock(&r->mu);
	return left;
}

void
ratelimit_fail(struct ratelimit *r, const char *addr, time_t now)
{
	struct ratelimit_slot *s;

	if (r->limit <= 0)
		return;
	pthread_mutex_lock(&r->mu);
	s = slot_for(r, addr, now);
	if (strcmp(s->addr, addr) == 0)
		s->count++;
	pthread_mutex_unlock(&r->mu);
}
