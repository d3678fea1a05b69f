#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store/ledger_int.h"

/* A write alone: its own transaction, no savepoint (no statement journal). */
static void
write_one(ledger *l, struct group_write *w)
{
	w->ret = LEDGER_ERROR;
	if (lg_run(l->st[ST_BEGIN]) != SQLITE_DONE)
		return;
	if ((w->ret = w->fn(l, w->arg)) != LEDGER_OK)
		lg_run(l->st[ST_ROLLBACK]);	/* its result stands */
	else if (lg_run(l->st[ST_COMMIT]) != SQLITE_DONE) {
		lg_run(l->st[ST_ROLLBACK]);
		w->ret = LEDGER_ERROR;
	}
}

/* Write one batch: each write in a savepoint, one commit for all. */
static void
write_batch(ledger *l, struct group_write *batch)
{
	struct group_write *w;
	int ok;

	pthread_mutex_lock(&l->mu);
	if (batch->next == NULL) {
		write_one(l, batch);
		pthread_mutex_unlock(&l->mu);
		return;
	}
	ok = lg_run(l->st[ST_BEGIN]) == SQLITE_DONE;
	for (w = batch; w != NULL; w = w->next) {
		w->ret = LEDGER_ERROR;
		if (!ok || lg_run(l->st[ST_SAVEPOINT]) != SQLITE_DONE)
			continue;
		if ((w->ret = w->fn(l, w->arg)) != LEDGER_OK)
			lg_run(l->st[ST_UNDO]);
		if (lg_run(l->st[ST_RELEASE]) != SQLITE_DONE)
			ok = 0;
	}
	if (!ok || lg_run(l->st[ST_COMMIT]) != SQLITE_DONE) {
		lg_run(l->st[ST_ROLLBACK]);
		for (w = batch; w != NULL; w = w->next)
			w->ret = LEDGER_ERROR;
	}
	pthread_mutex_unlock(&l->mu);
}

/*
 * Lead: write batches until none of the queued writes has a waiting
 * owner who would lead next (detached writes have none).  Called and
 * returns with qmu held.
 */
static void
lead(ledger *l)
{
	struct group_write *batch, *w;

	l->leader = 1;
	do {
		batch = l->qhead;
		l->qhead = NULL;
		l->qtail = &l->qhead;
		for (w = batch; w != NULL; w = w->next)
			if (!w->detached)
				l->waiting--;
		pthread_mutex_unlock(&l->qmu);
		write_batch(l, batch);
		pthread_mutex_lock(&l->qmu);
		/* Read next before done: a finished writer's entry may vanish. */
		while ((w = batch) != NULL) {
			batch = w->next;
			if (w->detached) {
				free(w->arg);
				free(w);
			} else {
				w->done = 1;
			}
		}
	} while (l->qhead != NULL && l->waiting == 0);
	l->leader = 0;
	pthread_cond_broadcast(&l->qcond);
}

static void
enqueue(ledger *l, struct group_write *w)
{
	*l->qtail = w;
	l->qtail = &w->next;
	if (!w->detached)
		l->waiting++;
}

/* Run fn(l, arg) in the next group commit; its result once durable. */
int
lg_group_write(ledger *l, int (*fn)(ledger *, void *), void *arg)
{
	struct group_write me = { fn, arg, LEDGER_ERROR, 0, 0, NULL };

	pthread_mutex_lock(&l->qmu);
	enqueue(l, &me);
	while (!me.done) {
		if (l->leader)
			pthread_cond_wait(&l->qcond, &l->qmu);
		else
			lead(l);
	}
	pthread_mutex_unlock(&l->qmu);
	return me.ret;
}

/*
 * The detached writer: a queued write nobody waits for rides along with
 * the next batch someone waits for (under load, there is one within
 * milliseconds); after DETACHED_DELAY_NS without one, it writes the queue
 * itself.  So delivery events cost no commit of their own and no WAL
 * sync on the HTTP server's threads.
 */
static void *
detached_writer(void *arg)
{
	ledger *l = arg;
	struct timespec until;

	pthread_mutex_lock(&l->qmu);
	for (;;) {
		while (l->qhead == NULL && !l->dstop)
			pthread_cond_wait(&l->dcond, &l->qmu);
		if (l->qhead == NULL)
			break;		/* stopping, nothing left */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += DETACHED_DELAY_NS;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (l->qhead != NULL && !l->dstop &&
		    pthread_cond_timedwait(&l->dcond, &l->qmu, &until) == 0)
			;
		if (l->qhead != NULL && !l->leader)
			lead(l);
		else if (l->leader)
			pthread_cond_wait(&l->qcond, &l->qmu);
	}
	pthread_mutex_unlock(&l->qmu);
	return NULL;
}

/*
 * Queue fn(l, arg) for a coming group commit without waiting for it; arg
 * is malloc'd and freed once written (by the detached writer at the
 * latest).  0 when out of memory or no thread (arg freed).
 */
int
lg_group_write_detached(ledger *l, int (*fn)(ledger *, void *), void *arg)
{
	struct group_write *w;
	int ok = 0;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		free(arg);
		return 0;
	}
	w->fn = fn;
	w->arg = arg;
	w->detached = 1;
	pthread_mutex_lock(&l->qmu);
	if (!l->dstarted && !l->dstop &&
	    pthread_create(&l->dthread, NULL, detached_writer, l) == 0)
		l->dstarted = 1;
	if (l->dstarted && !l->dstop) {
		enqueue(l, w);
		pthread_cond_signal(&l->dcond);
		ok = 1;
	}
	pthread_mutex_unlock(&l->qmu);
	if (!ok) {
		free(arg);
		free(w);
	}
	return ok;
}
