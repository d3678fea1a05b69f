#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/enroll/enroll.h"
#include "server/daemon/daemon.h"
#include "server/common/common.h"

struct batch {
	int	n;
	int64_t	id[HOOK_BATCH];
	char	kind[HOOK_BATCH][32];
	char	*json[HOOK_BATCH];
};

static int
status_changing(const char *kind)
{
	static const char *const kinds[] = { "issued", "rejected", "pending",
	    "response_complete", "response_aborted", "installed",
	    "install_failed", "revoked", "evidence_retracted", NULL };
	int i;

	for (i = 0; kinds[i] != NULL; i++)
		if (strcmp(kind, kinds[i]) == 0)
			return 1;
	return 0;
}

/* Under the ledger's lock: only copy. */
static int
collect(void *arg, int64_t id, const char *kind, const char *json)
{
	struct batch *b = arg;

	b->id[b->n] = id;
	snprintf(b->kind[b->n], sizeof(b->kind[0]), "%s", kind);
	b->json[b->n] = strdup(json);
	b->n++;
	return b->n < HOOK_BATCH;
}

static void
run_one(struct hook *h, const char *kind, const char *json)
{
	char env_event[64], line[EXEC_MAX_REASON + 1], *input;
	char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", env_event, NULL };
	size_t n = strlen(json);
	int rv;

	if ((input = malloc(n + 2)) == NULL)
		return;
	memcpy(input, json, n);
	input[n] = '\n';
	input[n + 1] = '\0';
	snprintf(env_event, sizeof(env_event), "SCEP_EVENT=%s", kind);
	rv = exec_program(h->program, envp, input, h->timeout, line, sizeof(line));
	if (rv != EXEC_ALLOW)
		log_warn("hook %s for %s: %s", h->program, kind,
		    rv == EXEC_ERROR ? line : "exited non-zero");
	free(input);
}

/* One round: the events since the last one, a batch at a time. */
static void
drain(struct hook *h)
{
	struct batch b;
	int64_t newest = ledger_last_event_id(h->l);
	int i;

	if (newest - h->last > HOOK_BACKLOG) {
		log_warn("hook: %lld events behind; skipping to the newest %d",
		    (long long)(newest - h->last), HOOK_BACKLOG);
		h->last = newest - HOOK_BACKLOG;
	}
	do {
		memset(&b, 0, sizeof(b));
		if (ledger_events_since(h->l, h->last, HOOK_BATCH, collect, &b) !=
		    LEDGER_OK)
			break;
		for (i = 0; i < b.n; i++) {
			if (b.json[i] != NULL && status_changing(b.kind[i]))
				run_one(h, b.kind[i], b.json[i]);
			free(b.json[i]);
			h->last = b.id[i];
		}
	} while (b.n == HOOK_BATCH && !h->stop);
}

static void *
loop(void *arg)
{
	struct hook *h = arg;
	struct timespec until;

	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&h->cv, &h->mu, &until);
		if (h->stop)
			break;
		pthread_mutex_unlock(&h->mu);
		drain(h);
		pthread_mutex_lock(&h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

int
hook_start(struct hook *h, ledger *l, const char *program, int timeout)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->l = l;
	h->program = program;
	h->timeout = timeout;
	/* Only what happens from now on; history is in the ledger. */
	h->last = ledger_last_event_id(l);
	if (pthread_create(&h->thread, NULL, loop, h) != 0)
		return 0;
	h->running = 1;
	return 1;
}

void
hook_stop(struct hook *h)
{
	if (!h->running)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = 1;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	h->running = 0;
}
