/*
 * cryptobench: the cost of an enrollment's cryptography alone.
 *
 *   cryptobench -d DIR [-k KEYCACHE] [-n N] [-t THREADS] [-l LABEL]
 *
 * Creates a CA and RA in DIR (as scepd does on first start), builds N
 * PKCSReq messages before the clock starts, then runs, in THREADS
 * threads in this one process, the steps scepd's PKIOperation takes for
 * each, through the same pkcs7/ and ca/ functions: parse, verify the
 * signature, open the envelope with the RA key, parse and check the CSR,
 * check the self-signed signer, sign the certificate with the CA key and
 * build the signed and encrypted CertRep.  No HTTP, no ledger, no signer
 * process.  The rate is the ceiling for a server built on these
 * functions; scripts/bench.sh prints scepd's rate as a share of it.
 *
 * Prints one "result" line of key=value pairs, as scepbench does.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "ca/ca.h"
#include "pkcs7/scep_certrep.h"
#include "pkcs7/scep_msg.h"
#include "tests/bench/http_load.h"
#include "tests/lib/scep_client.h"

#define MAX_THREADS	64
#define MAX_KEYS	64

struct job {
	const ca		*ca;
	const struct ca_profile	*profile;
	struct tc_req		*req;
	size_t			 n;
	int			 t, threads;
	size_t			 failed;
	const char		*why;	/* the first failure */
};

static void
usage(void)
{
	fprintf(stderr, "usage: cryptobench -d dir [-k keycache] [-n count] "
	    "[-t threads] [-l label]\n");
	exit(2);
}

/* One PKCSReq the way enroll.c's success path handles it. */
static const char *
enroll_one(const struct job *j, const struct tc_req *rq)
{
	struct scep_verify_opts vo = { 0, 0, 3600 };
	struct scep_certrep r;
	unsigned char nonce[16], *der = NULL;
	const unsigned char *content;
	char challenge[CA_MAX_CHALLENGE + 1], hash[65], *subject = NULL;
	char *sans = NULL, *serial = NULL;
	X509 *ra = ca_ra_cert_get0(j->ca), *signer, *cert = NULL;
	EVP_PKEY *ra_key = ca_ra_key_get0(j->ca);
	X509_REQ *csr = NULL;
	scep_msg *m = NULL;
	const char *why = NULL;
	size_t len;
	int present;

	vo.now = time(NULL);
	if (scep_msg_parse(rq->der, rq->len, &m, &why) != SCEP_OK ||
	    scep_msg_verify(m, &vo, &why) != SCEP_OK ||
	    scep_msg_decrypt(m, &ra, &ra_key, 1, 0, &why) != SCEP_OK)
		goto out;
	content = scep_msg_content(m, &len);
	if (ca_csr_parse(content, len, &csr, &why) != CA_OK ||
	    ca_csr_check(csr, &why) != CA_OK)
		goto out;
	why = "CSR not described";
	if (ca_csr_describe(csr, &subject, &sans) != CA_OK ||
	    ca_spki_sha256(X509_REQ_get_X509_PUBKEY(csr), hash) != CA_OK)
		goto out;
	signer = scep_msg_signer_get0(m);
	why = "signer is not self-signed with the CSR's key";
	if (X509_verify(signer, X509_get0_pubkey(signer)) != 1 ||
	    !ca_spki_same_key(X509_get_X509_PUBKEY(signer),
	    X509_REQ_get_X509_PUBKEY(csr)))
		goto out;
	if (ca_csr_challenge(csr, challenge, sizeof(challenge), &present,
	    &why) != CA_OK)
		goto out;
	if (ca_sign(j->ca, csr, j->profile, NULL, time(NULL), &cert,
	    &why) != CA_OK)
		goto out;
	why = "no serial or reply nonce";
	if ((serial = ca_serial_hex(cert)) == NULL ||
	    RAND_bytes(nonce, sizeof(nonce)) != 1)
		goto out;
	memset(&r, 0, sizeof(r));
	r.status = SCEP_STATUS_SUCCESS;
	r.fail_info = -1;
	r.txid = scep_msg_transaction_id(m);
	r.recipient_nonce = scep_msg_sender_nonce(m, &r.recipient_nonce_len);
	r.sender_nonce = nonce;
	r.sender_nonce_len = sizeof(nonce);
	r.signer_cert = ra;
	r.signer_key = ra_key;
	r.md = scep_msg_digest(m);
	r.issued = cert;
	r.recipient = signer;
	r.cipher = scep_msg_cipher(m);
	if (scep_certrep_der(&r, &der, &len, &why) != SCEP_OK)
		goto out;
	why = NULL;
out:
	OPENSSL_free(der);
	free(serial);
	free(subject);
	free(sans);
	X509_free(cert);
	X509_REQ_free(csr);
	scep_msg_free(m);
	ERR_clear_error();
	return why;
}

static void *
run_thread(void *arg)
{
	struct job *j = arg;
	const char *why;
	size_t i;

	for (i = (size_t)j->t; i < j->n; i += (size_t)j->threads) {
		if ((why = enroll_one(j, &j->req[i])) != NULL) {
			if (j->failed++ == 0)
				j->why = why;
		}
	}
	return NULL;
}

/* Client keys from scepbench's cache, else a few new ones. */
static int
load_keys(const char *cache, EVP_PKEY **key, int want)
{
	FILE *f;
	int n = 0;

	if (cache != NULL && (f = fopen(cache, "r")) != NULL) {
		while (n < want &&
		    (key[n] = PEM_read_PrivateKey(f, NULL, NULL, NULL)) != NULL)
			n++;
		fclose(f);
		ERR_clear_error();
	}
	while (n < 4 && (key[n] = EVP_RSA_gen(2048)) != NULL)
		n++;
	return n;
}

int
main(int argc, char **argv)
{
	struct ca_params cp = { .key_bits = 2048, .key_type = "rsa",
	    .ca_subject = "CN=cryptobench CA", .ca_days = 365,
	    .ra_subject = "CN=cryptobench RA" };
	struct ca_profile prof = { .days = 365 };
	struct tc_opts to;
	struct job job[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	int started[MAX_THREADS];
	EVP_PKEY *key[MAX_KEYS];
	X509 *self[MAX_KEYS] = { NULL };
	struct tc_req *req = NULL;
	const char *dir = NULL, *cache = NULL, *label = "crypto", *why = NULL;
	const char *first = NULL;
	char cn[64];
	size_t n = 2000, i, failed = 0;
	double secs, c0, cpu;
	int64_t t0;
	int threads = (int)sysconf(_SC_NPROCESSORS_ONLN), nkeys = 0, created;
	int ch, t, ret = 1;
	ca *c = NULL;

	while ((ch = getopt(argc, argv, "d:k:n:t:l:")) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 'k': cache = optarg; break;
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 't': threads = atoi(optarg); break;
		case 'l': label = optarg; break;
		default: usage();
		}
	}
	if (dir == NULL || n == 0 || threads < 1 || threads > MAX_THREADS)
		usage();
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "cryptobench: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (ca_open(dir, &cp, &created, &c, &why) != CA_OK) {
		fprintf(stderr, "cryptobench: %s: %s\n", dir, why);
		return 1;
	}
	if ((nkeys = load_keys(cache, key, MAX_KEYS)) == 0 ||
	    (req = calloc(n, sizeof(*req))) == NULL)
		goto out;
	for (t = 0; t < nkeys; t++)
		if ((self[t] = tc_self_signed(key[t], "cryptobench", key[t],
		    "cryptobench")) == NULL)
			goto out;
	for (i = 0; i < n; i++) {
		memset(&to, 0, sizeof(to));
		snprintf(cn, sizeof(cn), "cryptobench-%zu", i);
		to.cn = cn;
		to.challenge = "cryptobench";
		to.key = key[i % (size_t)nkeys];
		to.sign_cert = self[i % (size_t)nkeys];
		to.sign_key = key[i % (size_t)nkeys];
		if (!tc_build(&to, ca_ra_cert_get0(c), &req[i])) {
			fprintf(stderr, "cryptobench: building request %zu "
			    "failed\n", i);
			n = i;
			goto out;
		}
	}
	c0 = load_self_cpu_ms();
	t0 = load_now_us();
	for (t = 0; t < threads; t++) {
		job[t] = (struct job){ c, &prof, req, n, t, threads, 0, NULL };
		/* No thread: this one does its share (slower, still right). */
		started[t] = pthread_create(&th[t], NULL, run_thread,
		    &job[t]) == 0;
		if (!started[t])
			run_thread(&job[t]);
	}
	for (t = 0; t < threads; t++) {
		if (started[t])
			pthread_join(th[t], NULL);
		failed += job[t].failed;
		if (first == NULL)
			first = job[t].why;
	}
	secs = (double)(load_now_us() - t0) / 1e6;
	cpu = load_self_cpu_ms() - c0;
	printf("%s: %zu enrollments in %d threads, %.2f s, %.1f/s, "
	    "%.3f ms CPU each, %zu failed%s%s\n", label, n, threads, secs,
	    (double)n / secs, cpu / (double)n, failed,
	    failed ? ": " : "", failed ? first : "");
	printf("result label=%s op=pipeline n=%zu threads=%d seconds=%.3f "
	    "rate=%.1f ok=%zu failed=%zu cpu_ms_per=%.3f\n", label, n, threads,
	    secs, (double)n / secs, n - failed, failed, cpu / (double)n);
	ret = failed != 0;
out:
	for (i = 0; req != NULL && i < n; i++)
		tc_req_free(&req[i]);
	free(req);
	for (t = 0; t < nkeys; t++) {
		EVP_PKEY_free(key[t]);
		X509_free(self[t]);
	}
	ca_free(c);
	return ret;
}
