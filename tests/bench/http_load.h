/*
 * A small HTTP/1.1 load driver: keeps C requests in flight over
 * keep-alive connections to one loopback address, one thread, poll(2).
 * It records each request's latency and keeps each reply body for
 * checking after the clock stops (so checking costs no server CPU time).
 */
#ifndef BENCH_HTTP_LOAD_H
#define BENCH_HTTP_LOAD_H

#include <stddef.h>
#include <stdint.h>

struct load_req {
	const char	*method;	/* "GET" or "POST" */
	const char	*target;	/* path and query */
	const unsigned char *body;	/* POST only */
	size_t		 body_len;
	/* Filled in by load_run: */
	int		 status;	/* HTTP status; 0: transport failure */
	unsigned char	*reply;		/* malloc'd body */
	size_t		 reply_len;
	int64_t		 latency_us;
};

struct load_result {
	double		 seconds;	/* wall time of the whole run */
	size_t		 reconnects;	/* connections opened beyond C */
};

/* Sends reqs[0..n) with c in flight; 0 if the run itself failed. */
int load_run(const char *host, int port, struct load_req *reqs, size_t n,
    int c, struct load_result *res);

/* One blocking request (setup work: GetCACert and the like). */
int load_one(const char *host, int port, struct load_req *req);

void load_req_clear(struct load_req *r);

int64_t load_now_us(void);

/* This process's CPU time (user + system) in ms: the load generator
 * shares the cores with the server it measures. */
double load_self_cpu_ms(void);

#endif
