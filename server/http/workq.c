#include <pthread.h>
#include <stdlib.h>

#include "server/http/http_int.h"

struct job {
	void		*job;
	struct job	*next;
};

struct workq {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cond;
	struct job	*head, **tail;
	int		 stopping;
	workq_fn	 fn;
	unsigned int	 n;
	pthread_t	*threads;
};

static void *
worker(void *arg)
{
	struct workq *q = arg;
	struct job *j;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->head == NULL && !q->stopping)
			pthread_cond_wait(&q->cond, &q->mu);
		if ((j = q->head) == NULL)
			break;			/* stopping and drained */
		if ((q->head = j->next) == NULL)
			q->tail = &q->head;
		pthread_mutex_unlock(&q->mu);
		q->fn(j->job);
		free(j);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

struct workq *
workq_start(unsigned int n, workq_fn fn)
{
	struct workq *q;
	unsigned int i;

	if (n == 0 || (q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	if ((q->threads = calloc(n, sizeof(*q->threads))) == NULL) {
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->tail = &q->head;
	q->fn = fn;
	for (i = 0; i < n; i++) {
		if (pthread_create(&q->threads[i], NULL, worker, q) != 0)
			break;
		q->n++;
	}
	if (q->n != n) {
		workq_free(q);
		return NULL;
	}
	return q;
}

int
workq_submit(struct workq *q, void *job, void (*before)(void *job))
{
	struct job *j;

	if ((j = malloc(sizeof(*j))) == NULL)
		return 0;
	j->job = job;
	j->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->stopping) {
		pthread_mutex_unlock(&q->mu);
		free(j);
		return 0;
	}
	if (before != NULL)
		before(job);
	*q->tail = j;
	q->tail = &j->next;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->mu);
	return 1;
}

void
workq_stop(struct workq *q)
{
	unsigned int i;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->stopping = 1;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->mu);
	for (i = 0; i < q->n; i++)
		pthread_join(q->threads[i], NULL);
	q->n = 0;
}

void
workq_free(struct workq *q)
{
	if (q == NULL)
		return;
	workq_stop(q);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cond);
	free(q->threads);
	free(q);
}
