#include <pthread.h>
#include <stdio.h>

#include "server/common/common.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long requests[M_OPS][M_OUTCOMES];
static const double bucket_le[METRICS_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5
};
static unsigned long long buckets[METRICS_BUCKETS], issued;
static double issued_seconds;

void
metrics_request(enum metric_op op, int http_status)
{
	enum metric_outcome o = http_status >= 500 ? M_SERVER_ERROR :
	    http_status >= 400 ? M_CLIENT_ERROR : M_OK;

	pthread_mutex_lock(&mu);
	requests[op][o]++;
	pthread_mutex_unlock(&mu);
}

void
metrics_issuance(double seconds)
{
	int i;

	pthread_mutex_lock(&mu);
	for (i = 0; i < METRICS_BUCKETS; i++)
		if (seconds <= bucket_le[i])
			buckets[i]++;
	issued++;
	issued_seconds += seconds;
	pthread_mutex_unlock(&mu);
}

void
metrics_print(FILE *out)
{
	static const char *const ops[M_OPS] = { "GetCACaps", "GetCACert",
	    "GetNextCACert", "PKIOperation", "other" };
	static const char *const outcomes[M_OUTCOMES] = { "ok", "client_error",
	    "server_error" };
	int i, j;

	pthread_mutex_lock(&mu);
	fputs("# HELP scepd_requests_total HTTP requests by SCEP operation and "
	    "outcome.\n# TYPE scepd_requests_total counter\n", out);
	for (i = 0; i < M_OPS; i++)
		for (j = 0; j < M_OUTCOMES; j++)
			fprintf(out, "scepd_requests_total{operation=\"%s\","
			    "outcome=\"%s\"} %llu\n", ops[i], outcomes[j],
			    requests[i][j]);
	fputs("# HELP scepd_issuance_seconds Time from request to a signed "
	    "certificate in its reply.\n# TYPE scepd_issuance_seconds "
	    "histogram\n", out);
	for (i = 0; i < METRICS_BUCKETS; i++)
		fprintf(out, "scepd_issuance_seconds_bucket{le=\"%g\"} %llu\n",
		    bucket_le[i], buckets[i]);
	fprintf(out, "scepd_issuance_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "scepd_issuance_seconds_sum %.6f\nscepd_issuance_seconds_count %llu\n",
	    issued, issued_seconds, issued);
	pthread_mutex_unlock(&mu);
}
