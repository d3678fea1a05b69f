/* A PKCS#10 request through every CSR check scepd makes. */
#include <stdlib.h>

#include <openssl/err.h>

#include "ca/ca.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	const char *why;
	char pw[256], *subject = NULL, *sans = NULL;
	X509_REQ *req = NULL;
	int present;

	if (ca_csr_parse(data, len, &req, &why) == CA_OK) {
		(void)ca_csr_check(req, &why);
		(void)ca_csr_challenge(req, pw, sizeof(pw), &present, &why);
		if (ca_csr_describe(req, &subject, &sans) == CA_OK) {
			free(subject);
			free(sans);
		}
		(void)ca_csr_ku_class(req);
	}
	X509_REQ_free(req);
	ERR_clear_error();
	return 0;
}
