/*
 * Base64 as SCEP clients really send it in GET message= (RFC 8894 4.1):
 * standard or URL-safe alphabet, '+' that arrived as ' ', line breaks,
 * missing padding.  Plus the hex and base64 encoders the ledger wants.
 */
#ifndef B64_H
#define B64_H

#include <stddef.h>

/*
 * Decode in[0..inlen) into out, which must hold b64_decoded_max(inlen)
 * bytes.  Returns the decoded length, or -1 on a character or padding
 * that no client would send.
 */
long b64_decode_lenient(const char *in, size_t inlen, unsigned char *out);
size_t b64_decoded_max(size_t inlen);

/* Standard base64 of at most max_chars characters (0: all); malloc'd. */
char *b64_encode(const unsigned char *in, size_t len, size_t max_chars);

/* Lowercase hex into out (2 * len + 1 bytes). */
void hex_encode(const unsigned char *in, size_t len, char *out);

#endif
