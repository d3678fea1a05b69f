/*
 * A PKIOperation body through what scepd does with it before any policy:
 * parse, verify the signer, open the envelope with the RA key the
 * captured vectors were encrypted to, then every CSR check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>

#include "ca/ca.h"
#include "pkcs7/scep_msg.h"
#include "tests/fuzz/fuzz_util.h"

static X509 *ra;
static EVP_PKEY *ra_key;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *f;

	(void)argc;
	(void)argv;
	OSSL_PROVIDER_load(NULL, "legacy");
	OSSL_PROVIDER_load(NULL, "default");
	if ((f = fopen(fuzz_data("server-ca.pem"), "r")) == NULL ||
	    (ra = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		abort();
	fclose(f);
	if ((f = fopen(fuzz_data("server-ca.key"), "r")) == NULL ||
	    (ra_key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL)
		abort();
	fclose(f);
	return 0;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct scep_verify_opts vo = { 1, 0, 0 };
	const unsigned char *csr;
	const char *why;
	char pw[256], *subject = NULL, *sans = NULL;
	scep_msg *m = NULL;
	X509_REQ *req = NULL;
	size_t csr_len;
	int present;

	vo.now = time(NULL);
	if (scep_msg_parse(data, len, &m, &why) != SCEP_OK)
		goto out;
	(void)scep_msg_type(m);
	(void)scep_msg_transaction_id(m);
	if (scep_msg_verify(m, &vo, &why) != SCEP_OK ||
	    scep_msg_decrypt(m, &ra, &ra_key, 1, 1, &why) != SCEP_OK)
		goto out;
	if ((csr = scep_msg_content(m, &csr_len)) == NULL ||
	    ca_csr_parse(csr, csr_len, &req, &why) != CA_OK)
		goto out;
	(void)ca_csr_check(req, &why);
	(void)ca_csr_challenge(req, pw, sizeof(pw), &present, &why);
	if (ca_csr_describe(req, &subject, &sans) == CA_OK) {
		free(subject);
		free(sans);
	}
	(void)ca_csr_ku_class(req);
out:
	X509_REQ_free(req);
	scep_msg_free(m);
	ERR_clear_error();
	return 0;
}
