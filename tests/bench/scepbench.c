#define _GNU_SOURCE	/* memmem, strcasestr */
/*
 * scepbench: a SCEP load generator.
 *
 *   scepbench -p PORT [-H 127.0.0.1] [-P /certsrv/mscep/mscep.dll]
 *             [-o enroll|caps|cacert] [-n N] [-c C] [-x CHALLENGE]
 *             [-X CHALLENGE_FILE] [-k KEYCACHE] [-K KEYS] [-s SERVER_PID]
 *             [-l LABEL]
 *
 * enroll: fetches the CA and RA with GetCACert, loads (or generates and
 * caches) KEYS client RSA-2048 keys, builds N PKCSReq messages before the
 * clock starts, POSTs them with C in flight over keep-alive connections,
 * then checks every reply fully: the RA's signature, transactionID,
 * recipientNonce, the decrypted certificate's key and its chain to the
 * CA; and that no serial number was issued twice.  With -X, request i
 * presents line i of the file (one-time passwords from scepctl challenge
 * new) instead of the one -x challenge.  Checking happens after
 * the clock stops so that it takes no CPU from the server being measured.
 *
 * Prints a human summary and one "result" line of key=value pairs that
 * scripts/bench.sh turns into the README's table.
 */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tests/bench/http_load.h"
#include "tests/lib/scep_client.h"

struct opts {
	const char	*host;
	int		 port;
	const char	*path;
	const char	*op;
	size_t		 n;
	int		 c;
	const char	*challenge;
	char		**challenges;	/* -X: one per request */
	size_t		 nchallenges;
	const char	*keycache;
	int		 nkeys;
	long		 pid;
	const char	*label;
	int		 threads;
	unsigned int	 run_tag;
};

struct pool {
	EVP_PKEY	**key;
	X509		**self;		/* self-signed signer per key */
	int		  n;
};

struct enroll_job {
	const struct opts *o;
	struct pool	*pool;
	X509		*ra, *ca;
	struct tc_req	*req;
	struct load_req	*lr;
	char		**serial;	/* hex of each issued serial */
	const char	**why;		/* failure reason, NULL if ok */
	int		 t;
	int		 failed;	/* building failed */
};

static void
usage(void)
{
	fprintf(stderr, "usage: scepbench -p port [-H host] [-P path] "
	    "[-o enroll|caps|cacert] [-n count] [-c concurrency] "
	    "[-x challenge] [-X challenge_file] [-k keycache] [-K keys] "
	    "[-s server_pid] [-l label]\n");
	exit(2);
}

/* utime + stime of a process in ms, and its resident set in KiB. */
static int
usage_one(long pid, double *cpu_ms, long *rss_kb)
{
	char path[64], buf[4096], *p;
	unsigned long ut, st;
	FILE *f;
	size_t k;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	k = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[k] = '\0';
	/* Fields after the ")" of the command name; utime is field 14. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
	    &st) != 2)
		return 0;
	*cpu_ms = (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	*rss_kb = -1;
	while (fgets(buf, sizeof(buf), f) != NULL)
		if (strncmp(buf, "VmRSS:", 6) == 0)
			*rss_kb = strtol(buf + 6, NULL, 10);
	fclose(f);
	return *rss_kb >= 0;
}

/* The same for the server and its children (scepd's CA signer). */
static int
proc_usage(long pid, double *cpu_ms, long *rss_kb)
{
	char path[96];
	double c;
	long r, child;
	FILE *f;

	if (!usage_one(pid, cpu_ms, rss_kb))
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", pid, pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	while (fscanf(f, "%ld", &child) == 1)
		if (usage_one(child, &c, &r)) {
			*cpu_ms += c;
			*rss_kb += r;
		}
	fclose(f);
	return 1;
}

struct keygen {
	struct pool	*pool;
	int		 t, threads;
};

static void *
keygen_thread(void *arg)
{
	struct keygen *g = arg;
	int i;

	for (i = g->t; i < g->pool->n; i += g->threads)
		g->pool->key[i] = EVP_RSA_gen(2048);
	return NULL;
}

/* Keys from the cache file, topped up with new ones (and saved). */
static int
pool_load(struct pool *p, const char *cache, int want, int threads)
{
	pthread_t th[64];
	struct keygen g[64];
	EVP_PKEY *k;
	FILE *f;
	int have = 0, i, t, fresh;

	p->n = want;
	p->key = calloc((size_t)want, sizeof(*p->key));
	p->self = calloc((size_t)want, sizeof(*p->self));
	if (p->key == NULL || p->self == NULL)
		return 0;
	if (cache != NULL && (f = fopen(cache, "r")) != NULL) {
		while (have < want &&
		    (k = PEM_read_PrivateKey(f, NULL, NULL, NULL)) != NULL)
			p->key[have++] = k;
		fclose(f);
		ERR_clear_error();
	}
	fresh = have < want;
	if (fresh) {
		/* Generate the missing ones on every core. */
		struct pool rest = { p->key + have, NULL, want - have };

		fprintf(stderr, "scepbench: generating %d RSA-2048 client keys\n",
		    want - have);
		for (t = 0; t < threads; t++) {
			g[t].pool = &rest;
			g[t].t = t;
			g[t].threads = threads;
			pthread_create(&th[t], NULL, keygen_thread, &g[t]);
		}
		for (t = 0; t < threads; t++)
			pthread_join(th[t], NULL);
	}
	for (i = 0; i < want; i++) {
		if (p->key[i] == NULL)
			return 0;
		p->self[i] = tc_self_signed(p->key[i], "scepbench", p->key[i],
		    "scepbench");
	}
	if (fresh && cache != NULL) {
		if ((f = fopen(cache, "w")) == NULL)
			return 0;
		for (i = 0; i < want; i++)
			PEM_write_PrivateKey(f, p->key[i], NULL, NULL, 0, NULL,
			    NULL);
		fclose(f);
	}
	return 1;
}

static void
pool_free(struct pool *p)
{
	int i;

	for (i = 0; i < p->n; i++) {
		EVP_PKEY_free(p->key[i]);
		X509_free(p->self[i]);
	}
	free(p->key);
	free(p->self);
}

/* The CA (self-signed) and the RA (the encryption recipient). */
static int
fetch_ca(const struct opts *o, X509 **ca, X509 **ra)
{
	struct load_req r = { .method = "GET" };
	STACK_OF(X509) *certs;
	const unsigned char *p;
	char target[512];
	X509 *x;
	int i, ok = 0;

	snprintf(target, sizeof(target), "%s?operation=GetCACert&message=bench",
	    o->path);
	r.target = target;
	if (!load_one(o->host, o->port, &r) || r.status != 200) {
		fprintf(stderr, "scepbench: GetCACert failed (HTTP %d)\n",
		    r.status);
		goto out;
	}
	*ca = *ra = NULL;
	if ((certs = tc_certs_only(r.reply, r.reply_len)) != NULL) {
		for (i = 0; i < sk_X509_num(certs); i++) {
			x = sk_X509_value(certs, i);
			if (X509_check_ca(x) && X509_check_issued(x, x) ==
			    X509_V_OK && *ca == NULL) {
				*ca = x;
				X509_up_ref(x);
			} else if (*ra == NULL &&
			    (X509_get_key_usage(x) & KU_KEY_ENCIPHERMENT)) {
				*ra = x;
				X509_up_ref(x);
			}
		}
		sk_X509_pop_free(certs, X509_free);
	} else {
		/* A lone certificate: the CA is its own RA (micromdm). */
		p = r.reply;
		*ca = d2i_X509(NULL, &p, (long)r.reply_len);
	}
	if (*ca != NULL && *ra == NULL) {
		*ra = *ca;
		X509_up_ref(*ra);
	}
	ok = *ca != NULL;
out:
	load_req_clear(&r);
	return ok;
}

static void *
build_thread(void *arg)
{
	struct enroll_job *j = arg;
	struct tc_opts to;
	char cn[64];
	size_t i;
	int k;

	for (i = (size_t)j->t; i < j->o->n; i += (size_t)j->o->threads) {
		k = (int)(i % (size_t)j->pool->n);
		memset(&to, 0, sizeof(to));
		/* Unique per run: micromdm refuses a subject it has issued. */
		snprintf(cn, sizeof(cn), "bench-%08x-%zu", j->o->run_tag, i);
		to.cn = cn;
		to.challenge = j->o->challenges != NULL ?
		    j->o->challenges[i] : j->o->challenge;
		to.key = j->pool->key[k];
		to.sign_cert = j->pool->self[k];
		to.sign_key = j->pool->key[k];
		if (!tc_build(&to, j->ra, &j->req[i])) {
			j->failed = 1;
			return NULL;
		}
		j->lr[i].body = j->req[i].der;
		j->lr[i].body_len = j->req[i].len;
	}
	return NULL;
}

static const char *
check_reply(struct enroll_job *j, size_t i, X509_STORE *store, char **serial)
{
	struct load_req *lr = &j->lr[i];
	struct tc_req *rq = &j->req[i];
	struct tc_rep rep;
	X509_STORE_CTX *ctx = NULL;
	const char *why = NULL;
	BIGNUM *bn = NULL;

	if (lr->status == 0)
		return "connection failed";
	if (lr->status != 200)
		return "HTTP status not 200";
	if (!tc_parse_certrep(lr->reply, lr->reply_len, rq, &rep))
		return "CertRep does not verify or decrypt";
	if (X509_cmp(rep.signer, j->ra) != 0)
		why = "CertRep not signed by the RA";
	else if (rep.status != 0)
		why = rep.status == 3 ? "PENDING" : "FAILURE";
	else if (strcmp(rep.txid, rq->txid) != 0)
		why = "transactionID differs";
	else if (rep.recipient_nonce_len != sizeof(rq->nonce) ||
	    memcmp(rep.recipient_nonce, rq->nonce, sizeof(rq->nonce)) != 0)
		why = "recipientNonce is not our senderNonce";
	else if (rep.cert == NULL ||
	    EVP_PKEY_eq(X509_get0_pubkey(rep.cert), rq->key) != 1)
		why = "certificate is not for our key";
	if (why == NULL) {
		ctx = X509_STORE_CTX_new();
		if (ctx == NULL || !X509_STORE_CTX_init(ctx, store, rep.cert,
		    NULL) || X509_verify_cert(ctx) != 1)
			why = "certificate does not chain to the CA";
	}
	if (why == NULL &&
	    (bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(rep.cert), NULL)) !=
	    NULL) {
		char *hex = BN_bn2hex(bn);

		*serial = hex != NULL ? strdup(hex) : NULL;
		OPENSSL_free(hex);
	}
	BN_free(bn);
	X509_STORE_CTX_free(ctx);
	tc_rep_free(&rep);
	return why;
}

static void *
check_thread(void *arg)
{
	struct enroll_job *j = arg;
	X509_STORE *store = X509_STORE_new();
	size_t i;

	X509_STORE_add_cert(store, j->ca);
	for (i = (size_t)j->t; i < j->o->n; i += (size_t)j->o->threads)
		j->why[i] = check_reply(j, i, store, &j->serial[i]);
	X509_STORE_free(store);
	return NULL;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_str(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;

	if (x == NULL || y == NULL)
		return (x == NULL) - (y == NULL);
	return strcmp(x, y);
}

static double
pct_ms(const int64_t *sorted, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)sorted[i] / 1000.0;
}

/* Tally the reasons: each distinct one with its count. */
static void
print_failures(const char **why, size_t n)
{
	const char *seen[32];
	size_t count[32], k = 0, i, m;

	for (i = 0; i < n; i++) {
		if (why[i] == NULL)
			continue;
		for (m = 0; m < k && strcmp(seen[m], why[i]) != 0; m++)
			;
		if (m == k && k < 32) {
			seen[k] = why[i];
			count[k++] = 0;
		}
		if (m < k)
			count[m]++;
	}
	for (m = 0; m < k; m++)
		printf("  failed: %zu  %s\n", count[m], seen[m]);
}

static int
run(const struct opts *o)
{
	struct enroll_job job[64];
	pthread_t th[64];
	struct pool pool = { 0 };
	struct load_req *lr = NULL;
	struct tc_req *req = NULL;
	struct load_result res;
	X509 *ca = NULL, *ra = NULL;
	char target[512], **serial = NULL;
	const char **why = NULL;
	int64_t *lat = NULL;
	double cpu0 = 0, cpu1 = 0, cpu_ms = -1, self_ms;
	long rss0 = -1, rss1 = -1;
	size_t i, ok = 0, dups = 0, nlat = 0;
	int enroll = strcmp(o->op, "enroll") == 0, t, ret = 1;

	lr = calloc(o->n, sizeof(*lr));
	why = calloc(o->n, sizeof(*why));
	serial = calloc(o->n, sizeof(*serial));
	lat = calloc(o->n, sizeof(*lat));
	if (lr == NULL || why == NULL || serial == NULL || lat == NULL)
		goto out;
	if (enroll) {
		if ((req = calloc(o->n, sizeof(*req))) == NULL ||
		    !fetch_ca(o, &ca, &ra) ||
		    !pool_load(&pool, o->keycache, o->nkeys, o->threads))
			goto out;
		snprintf(target, sizeof(target), "%s?operation=PKIOperation",
		    o->path);
	} else if (strcmp(o->op, "caps") == 0) {
		snprintf(target, sizeof(target), "%s?operation=GetCACaps&message=x",
		    o->path);
	} else {
		snprintf(target, sizeof(target), "%s?operation=GetCACert&message=x",
		    o->path);
	}
	for (i = 0; i < o->n; i++) {
		lr[i].method = enroll ? "POST" : "GET";
		lr[i].target = target;
	}
	for (t = 0; t < o->threads; t++) {
		job[t] = (struct enroll_job){ o, &pool, ra, ca, req, lr, serial,
		    why, t, 0 };
	}
	if (enroll) {
		for (t = 0; t < o->threads; t++)
			pthread_create(&th[t], NULL, build_thread, &job[t]);
		for (t = 0; t < o->threads; t++)
			pthread_join(th[t], NULL);
		for (t = 0; t < o->threads; t++)
			if (job[t].failed) {
				fprintf(stderr, "scepbench: building requests failed\n");
				goto out;
			}
	}
	if (o->pid > 0)
		proc_usage(o->pid, &cpu0, &rss0);
	self_ms = load_self_cpu_ms();
	if (!load_run(o->host, o->port, lr, o->n, o->c, &res))
		goto out;
	self_ms = load_self_cpu_ms() - self_ms;
	if (o->pid > 0 && proc_usage(o->pid, &cpu1, &rss1))
		cpu_ms = cpu1 - cpu0;
	/* The clock has stopped: now check every reply. */
	if (enroll) {
		for (t = 0; t < o->threads; t++)
			pthread_create(&th[t], NULL, check_thread, &job[t]);
		for (t = 0; t < o->threads; t++)
			pthread_join(th[t], NULL);
		qsort(serial, o->n, sizeof(*serial), cmp_str);
		for (i = 1; i < o->n; i++)
			if (serial[i] != NULL && serial[i - 1] != NULL &&
			    strcmp(serial[i], serial[i - 1]) == 0)
				dups++;
	} else {
		for (i = 0; i < o->n; i++) {
			if (lr[i].status == 0)
				why[i] = "connection failed";
			else if (lr[i].status != 200 || lr[i].reply_len == 0)
				why[i] = "HTTP status not 200";
			else if (strcmp(o->op, "caps") == 0 &&
			    memmem(lr[i].reply, lr[i].reply_len,
			    "POSTPKIOperation", 16) == NULL)
				why[i] = "GetCACaps without POSTPKIOperation";
		}
	}
	for (i = 0; i < o->n; i++) {
		if (why[i] != NULL)
			continue;
		ok++;
		lat[nlat++] = lr[i].latency_us;
	}
	qsort(lat, nlat, sizeof(*lat), cmp_i64);
	printf("%s: %s  n=%zu  c=%d  %.2f s  %.0f/s  ok=%zu failed=%zu%s\n",
	    o->label, o->op, o->n, o->c, res.seconds,
	    (double)o->n / res.seconds, ok, o->n - ok,
	    enroll ? (dups ? "  DUPLICATE SERIALS" : "  serials unique") : "");
	printf("  latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
	    pct_ms(lat, nlat, 0.50), pct_ms(lat, nlat, 0.90),
	    pct_ms(lat, nlat, 0.99), nlat ? (double)lat[nlat - 1] / 1000 : 0);
	if (cpu_ms >= 0)
		printf("  server: %.3f ms CPU per request, RSS %ld KiB "
		    "(before %ld KiB)\n", cpu_ms / (double)o->n, rss1, rss0);
	printf("  load generator: %.3f ms CPU per request\n",
	    self_ms / (double)o->n);
	print_failures(why, o->n);
	printf("result label=%s op=%s n=%zu c=%d seconds=%.3f rate=%.1f ok=%zu "
	    "failed=%zu dup_serials=%zu p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f "
	    "max_ms=%.2f cpu_ms_per=%.3f rss_kb=%ld rss_before_kb=%ld "
	    "reconnects=%zu load_cpu_ms_per=%.3f\n", o->label, o->op, o->n,
	    o->c, res.seconds,
	    (double)o->n / res.seconds, ok, o->n - ok, dups,
	    pct_ms(lat, nlat, 0.50), pct_ms(lat, nlat, 0.90),
	    pct_ms(lat, nlat, 0.99), nlat ? (double)lat[nlat - 1] / 1000 : 0,
	    cpu_ms >= 0 ? cpu_ms / (double)o->n : -1.0, rss1, rss0,
	    res.reconnects, self_ms / (double)o->n);
	ret = ok == o->n && dups == 0 ? 0 : 1;
out:
	for (i = 0; lr != NULL && i < o->n; i++) {
		load_req_clear(&lr[i]);
		if (req != NULL)
			tc_req_free(&req[i]);
		if (serial != NULL)
			free(serial[i]);
	}
	free(lr);
	free(req);
	free(why);
	free(serial);
	free(lat);
	pool_free(&pool);
	X509_free(ca);
	X509_free(ra);
	return ret;
}

/* -X FILE: one challenge per line, as many as requests at least. */
static int
read_challenges(const char *file, struct opts *o)
{
	char line[256], **v;
	size_t len;
	FILE *f;
	int ok = 0;

	if ((f = fopen(file, "r")) == NULL) {
		perror(file);
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		len = strcspn(line, "\r\n");
		if (len == 0)
			continue;
		line[len] = '\0';
		if ((v = realloc(o->challenges, (o->nchallenges + 1) *
		    sizeof(*v))) == NULL)
			goto out;
		o->challenges = v;
		if ((v[o->nchallenges] = strdup(line)) == NULL)
			goto out;
		o->nchallenges++;
	}
	if (o->nchallenges < o->n)
		fprintf(stderr, "scepbench: %s: %zu challenges for %zu "
		    "requests\n", file, o->nchallenges, o->n);
	else
		ok = 1;
out:
	fclose(f);
	return ok;
}

int
main(int argc, char **argv)
{
	struct opts o = {
		.host = "127.0.0.1", .path = "/certsrv/mscep/mscep.dll",
		.op = "enroll", .n = 1000, .c = 8, .nkeys = 64, .label = "scepd",
	};
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	const char *challenge_file = NULL;
	size_t i;
	int ch, ret;

	while ((ch = getopt(argc, argv, "H:p:P:o:n:c:x:X:k:K:s:l:")) != -1) {
		switch (ch) {
		case 'H': o.host = optarg; break;
		case 'p': o.port = atoi(optarg); break;
		case 'P': o.path = optarg; break;
		case 'o': o.op = optarg; break;
		case 'n': o.n = strtoul(optarg, NULL, 10); break;
		case 'c': o.c = atoi(optarg); break;
		case 'x': o.challenge = optarg; break;
		case 'X': challenge_file = optarg; break;
		case 'k': o.keycache = optarg; break;
		case 'K': o.nkeys = atoi(optarg); break;
		case 's': o.pid = strtol(optarg, NULL, 10); break;
		case 'l': o.label = optarg; break;
		default: usage();
		}
	}
	if (o.port <= 0 || o.n == 0 || o.c <= 0 || o.c > 4096 ||
	    o.nkeys <= 0 || (strcmp(o.op, "enroll") != 0 &&
	    strcmp(o.op, "caps") != 0 && strcmp(o.op, "cacert") != 0))
		usage();
	o.threads = cores < 1 ? 1 : cores > 64 ? 64 : (int)cores;
	signal(SIGPIPE, SIG_IGN);	/* a server that goes away: EPIPE */
	if (RAND_bytes((unsigned char *)&o.run_tag, sizeof(o.run_tag)) != 1)
		return 1;
	/* micromdm's scepserver always encrypts its replies with DES. */
	if (OSSL_PROVIDER_load(NULL, "legacy") == NULL ||
	    OSSL_PROVIDER_load(NULL, "default") == NULL)
		fprintf(stderr, "scepbench: no legacy provider: DES replies "
		    "will not decrypt\n");
	if (challenge_file != NULL && !read_challenges(challenge_file, &o))
		ret = 1;
	else
		ret = run(&o);
	for (i = 0; i < o.nchallenges; i++)
		free(o.challenges[i]);
	free(o.challenges);
	return ret;
}
