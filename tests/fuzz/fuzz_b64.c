/* The GET message= decoding: every base64 form clients send. */
#include <stdlib.h>
#include <string.h>

#include "server/common/common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	unsigned char *out;
	char *in, *enc;
	long n;

	/* The query value arrives as a C string. */
	if ((in = malloc(len + 1)) == NULL)
		return 0;
	memcpy(in, data, len);
	in[len] = '\0';
	if ((out = malloc(b64_decoded_max(strlen(in)))) != NULL) {
		n = b64_decode_lenient(in, strlen(in), out);
		if (n > 0 && (enc = b64_encode(out, (size_t)n, 0)) != NULL)
			free(enc);
		free(out);
	}
	free(in);
	return 0;
}
