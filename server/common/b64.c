#include <stdlib.h>

#include "server/common/common.h"

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	switch (c) {
	case '+':
	case '-':	/* URL-safe */
	case ' ':	/* '+' decoded as space by form-style unescaping */
		return 62;
	case '/':
	case '_':	/* URL-safe */
		return 63;
	}
	return -1;
}

size_t
b64_decoded_max(size_t inlen)
{
	return inlen / 4 * 3 + 3;
}

long
b64_decode_lenient(const char *in, size_t inlen, unsigned char *out)
{
	unsigned long acc = 0;
	size_t i, n = 0, pad = 0;
	int bits = 0, v;

	for (i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '\r' || c == '\n' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		/* Only line breaks and more '=' may follow padding. */
		if (pad > 0 || (v = b64_value(c)) < 0)
			return -1;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1UL << bits) - 1;
		}
	}
	/* A lone trailing character carries fewer than 8 bits: corrupt. */
	if (bits >= 6 || pad > 2)
		return -1;
	return (long)n;
}

char *
b64_encode(const unsigned char *in, size_t len, size_t max_chars)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0, outlen = (len + 2) / 3 * 4;
	char *out;

	if (max_chars > 0 && outlen > max_chars)
		outlen = max_chars;
	if ((out = malloc(outlen + 1)) == NULL)
		return NULL;
	for (i = 0; i < len && o < outlen; i += 3) {
		unsigned long v = (unsigned long)in[i] << 16;
		char quad[4];
		int k;

		if (i + 1 < len)
			v |= (unsigned long)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		quad[0] = tbl[(v >> 18) & 63];
		quad[1] = tbl[(v >> 12) & 63];
		quad[2] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
		quad[3] = i + 2 < len ? tbl[v & 63] : '=';
		for (k = 0; k < 4 && o < outlen; k++)
			out[o++] = quad[k];
	}
	out[o] = '\0';
	return out;
}
