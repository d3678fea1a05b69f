/*
 * server/http's parts that need no listener: which paths are SCEP's,
 * how operation= is named in the log, and the PKIOperation worker pool
 * (every job runs once, on a pool thread, and stopping finishes what was
 * queued).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "server/http/http_int.h"
#include "tests/lib/testutil.h"

static const struct {
	const char	*url;
	int		 scep;
} paths[] = {
	{ "/certsrv/mscep/mscep.dll", 1 },
	{ "/CertSrv/MSCEP/mscep.dll", 1 },	/* IIS: any case */
	{ "/certsrv/mscep/mscep.dll/", 1 },	/* one trailing slash */
	{ "/scep", 1 },
	{ "/cgi-bin/pkiclient.exe", 1 },
	{ "/certsrv/mscep/mscep.dll//", 0 },
	{ "/certsrv/mscep/mscep.dllx", 0 },
	{ "/certsrv/mscep", 0 },
	{ "/scep/x", 0 },
	{ "/", 0 },
	{ "", 0 },
	{ "/certsrv/mscep_admin/", 0 },	/* the challenge page, not SCEP */
};

START_TEST(test_scep_paths)
{
	ck_assert_msg(http_is_scep_path(paths[_i].url) == paths[_i].scep,
	    "%s", paths[_i].url);
}
END_TEST

START_TEST(test_challenge_page_paths)
{
	ck_assert(http_is_challenge_page_path("/certsrv/mscep_admin"));
	ck_assert(http_is_challenge_page_path("/certsrv/mscep_admin/"));
	ck_assert(http_is_challenge_page_path("/CERTSRV/MSCEP_ADMIN/default.aspx"));
	ck_assert(!http_is_challenge_page_path("/certsrv/mscep_admin/x"));
	ck_assert(!http_is_challenge_page_path("/certsrv/mscep/mscep.dll"));
}
END_TEST

START_TEST(test_operation_names)
{
	ck_assert_str_eq(http_operation_name("getcacaps"), "GetCACaps");
	ck_assert_str_eq(http_operation_name("GETCACERT"), "GetCACert");
	ck_assert_str_eq(http_operation_name("GetNextCACert"), "GetNextCACert");
	ck_assert_str_eq(http_operation_name("pkioperation"), "PKIOperation");
	ck_assert_str_eq(http_operation_name(""), "none");
	ck_assert_str_eq(http_operation_name(NULL), "none");
	ck_assert_str_eq(http_operation_name("GetCRL"), "unknown");
	ck_assert_str_eq(http_operation_name("PKIOperation2"), "unknown");
}
END_TEST

#define JOBS 500

struct job {
	_Atomic int	*done;
	int		 ran;
	int		 queued;	/* set by before(), under the lock */
	pthread_t	 thread;
};

static void
run_job(void *arg)
{
	struct job *j = arg;

	/* before() ran first: no worker sees a job before it is marked. */
	ck_assert_int_eq(j->queued, 1);
	j->ran++;
	j->thread = pthread_self();
	atomic_fetch_add(j->done, 1);
}

static void
mark_queued(void *arg)
{
	((struct job *)arg)->queued = 1;
}

START_TEST(test_workq)
{
	static struct job jobs[JOBS];
	_Atomic int done = 0;
	struct workq *q;
	int i;

	ck_assert_ptr_nonnull(q = workq_start(4, run_job));
	for (i = 0; i < JOBS; i++) {
		jobs[i].done = &done;
		ck_assert_int_eq(workq_submit(q, &jobs[i], mark_queued), 1);
	}
	/* Stopping finishes every queued job, then refuses new ones. */
	workq_stop(q);
	ck_assert_int_eq(atomic_load(&done), JOBS);
	for (i = 0; i < JOBS; i++) {
		ck_assert_int_eq(jobs[i].ran, 1);
		ck_assert(!pthread_equal(jobs[i].thread, pthread_self()));
	}
	jobs[0].queued = 0;
	ck_assert_int_eq(workq_submit(q, &jobs[0], mark_queued), 0);
	ck_assert_int_eq(jobs[0].queued, 0);	/* before() not called */
	workq_free(q);
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *t = tcase_create("routing");

	tcase_add_loop_test(t, test_scep_paths, 0,
	    (int)(sizeof(paths) / sizeof(paths[0])));
	tcase_add_test(t, test_challenge_page_paths);
	tcase_add_test(t, test_operation_names);
	suite_add_tcase(s, t);
	t = tcase_create("workq");
	tcase_add_test(t, test_workq);
	tcase_set_timeout(t, 30);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return tu_run_suite(http_suite(), 0);
}
