/*
 * What every fallible public function of ca/ returns: CA_OK (0) or why
 * not.  The values that mean a failInfo map one-to-one to pkcs7/'s
 * scep_err (enroll does the mapping); predicates (same key?) and lookups
 * that return a pointer (NULL: none) are not fallible in this sense.
 */
#ifndef CA_RESULT_H
#define CA_RESULT_H

enum ca_result {
	CA_OK = 0,
	CA_REJECT,	/* the request breaks policy: failInfo badRequest */
	CA_BAD_ALG,	/* unsupported key or algorithm: failInfo badAlg */
	CA_ERROR,	/* our fault (I/O, memory) */
	CA_UNTRUSTED,	/* not issued by this CA: failInfo badMessageCheck */
};

#endif
