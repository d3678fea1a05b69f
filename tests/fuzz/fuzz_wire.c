/*
 * The CA signer's requests (server/privsep): a frame from the network-
 * facing process, which the signer must treat as hostile, answered by
 * signer_answer() against a real CA (the captured vectors' CA, so that
 * the seed corpus can name it by its id).
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/provider.h>

#include "ca/ca.h"
#include "server/privsep/privsep_int.h"
#include "tests/fuzz/fuzz_util.h"

static ca *the_ca;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

static void
copy(const char *from, const char *dir, const char *name)
{
	char path[512], buf[8192];
	FILE *in, *out;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((in = fopen(from, "rb")) == NULL || (out = fopen(path, "wb")) == NULL)
		abort();
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			abort();
	fclose(in);
	/* ca_open refuses a key that others could read. */
	if (fclose(out) != 0 || chmod(path, 0600) != 0)
		abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct ca_params p = { .key_bits = 2048, .key_type = "rsa",
	    .ca_subject = "CN=fuzz", .ca_days = 365, .ra_subject = "" };
	char dir[] = "/tmp/fuzz-wire-XXXXXX";
	const char *why = "";

	(void)argc;
	(void)argv;
	/* The micromdm seed's envelope is single DES. */
	OSSL_PROVIDER_load(NULL, "legacy");
	OSSL_PROVIDER_load(NULL, "default");
	if (mkdtemp(dir) == NULL)
		abort();
	copy(fuzz_data("server-ca.pem"), dir, "ca.pem");
	copy(fuzz_data("server-ca.key"), dir, "ca.key");
	if (ca_open(dir, &p, NULL, &the_ca, &why) != CA_OK) {
		fprintf(stderr, "fuzz_wire: %s\n", why);
		abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct wbuf w = { 0 };

	signer_answer(the_ca, data, len, &w);
	free(w.b);
	ERR_clear_error();
	return 0;
}
