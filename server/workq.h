/*
 * A fixed pool of threads working through a queue of jobs.  The HTTP
 * front end hands each PKIOperation to it (the connection suspended
 * meanwhile) so that the RSA work spreads over every core whichever
 * libmicrohttpd thread accepted the connection.
 */
#ifndef WORKQ_H
#define WORKQ_H

struct workq;

typedef void (*workq_fn)(void *job);

/* Start n threads running fn on each job; NULL on failure. */
struct workq *workq_start(unsigned int n, workq_fn fn);

/*
 * Queue job unless the pool is stopping.  before(job) runs first, under
 * the queue's lock, so no worker can see the job before it has run.
 * 1 if queued, 0 if stopping (before is not called then).
 */
int workq_submit(struct workq *q, void *job, void (*before)(void *job));

/*
 * Refuse new jobs, finish the queued ones, join the threads.  Submitting
 * stays safe (it returns 0) until workq_free, which stops it if need be.
 */
void workq_stop(struct workq *q);
void workq_free(struct workq *q);

#endif
