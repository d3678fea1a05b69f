/*
 * Counters for GET /metrics (Prometheus text format): requests by
 * operation and outcome, and how long issuance takes.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdio.h>

enum metric_op { M_GETCACAPS, M_GETCACERT, M_GETNEXTCACERT, M_PKIOPERATION,
    M_OTHER, M_OPS };
enum metric_outcome { M_OK, M_CLIENT_ERROR, M_SERVER_ERROR, M_OUTCOMES };

#define METRICS_BUCKETS 10

void metrics_request(enum metric_op op, int http_status);
/* One issuance, from request received to reply ready, in seconds. */
void metrics_issuance(double seconds);
/* The counters in Prometheus text format. */
void metrics_print(FILE *out);

#endif
