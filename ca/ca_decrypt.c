/*
 * Opening a SCEP envelope addressed to the CA itself rather than to the RA
 * (clients that ignore the RA certificate, or a CA without an RA).  The
 * current CA and every previous one are tried: a client may still hold an
 * old CA certificate.
 */
#include <stdlib.h>

#include "ca/ca.h"
#include "ca/ca_int.h"

int
ca_decrypt(const ca *c, ca_envelope_fn opener, const unsigned char *der,
    size_t len, unsigned char **out, size_t *outlen, const char **why)
{
	const struct ca_remote *remote;
	size_t i, n = 1 + ca_previous_count(c);
	X509 **certs = NULL;
	EVP_PKEY **keys = NULL;
	int ret = CA_ERROR;
	void *arg;

	*out = NULL;
	*outlen = 0;
	if (ca_key_get0(c) == NULL) {
		if ((remote = ca_remote_of(c, &arg)) == NULL) {
			*why = "no CA key to open the envelope with";
			return CA_ERROR;
		}
		return remote->decrypt(arg, c, der, len, out, outlen, why);
	}
	if ((certs = calloc(n, sizeof(*certs))) == NULL ||
	    (keys = calloc(n, sizeof(*keys))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		const ca *gen = i == 0 ? c : ca_previous(c, i - 1);

		certs[i] = ca_cert_get0(gen);
		keys[i] = ca_key_get0(gen);
	}
	ret = opener(der, len, certs, keys, n, out, outlen, why);
out:
	free(certs);
	free(keys);
	return ret;
}
