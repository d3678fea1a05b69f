/*
 * SCEP protocol numbers (RFC 8894) and the error type every pkcs7/ function
 * returns.  The errors that mean a failInfo map one to one onto it.
 */
#ifndef SCEP_ERR_H
#define SCEP_ERR_H

/* RFC 8894 3.2.1.2 messageType */
enum scep_msg_type {
	SCEP_MSG_CERTREP = 3,
	SCEP_MSG_RENEWALREQ = 17,
	SCEP_MSG_PKCSREQ = 19,
	SCEP_MSG_CERTPOLL = 20,
	SCEP_MSG_GETCERT = 21,
	SCEP_MSG_GETCRL = 22,
};

/* RFC 8894 3.2.1.3 pkiStatus */
enum scep_pki_status {
	SCEP_STATUS_SUCCESS = 0,
	SCEP_STATUS_FAILURE = 2,
	SCEP_STATUS_PENDING = 3,
};

/* RFC 8894 3.2.1.4 failInfo */
enum scep_fail_info {
	SCEP_FAIL_BAD_ALG = 0,
	SCEP_FAIL_BAD_MESSAGE_CHECK = 1,
	SCEP_FAIL_BAD_REQUEST = 2,
	SCEP_FAIL_BAD_TIME = 3,
	SCEP_FAIL_BAD_CERT_ID = 4,
};

typedef enum scep_err {
	SCEP_OK = 0,
	SCEP_ERR_BAD_ALG,		/* failInfo badAlg */
	SCEP_ERR_BAD_MESSAGE_CHECK,	/* failInfo badMessageCheck */
	SCEP_ERR_BAD_REQUEST,		/* failInfo badRequest */
	SCEP_ERR_BAD_TIME,		/* failInfo badTime */
	SCEP_ERR_BAD_CERT_ID,		/* failInfo badCertId */
	SCEP_ERR_MALFORMED,		/* not a PKIMessage at all: HTTP 400 */
	SCEP_ERR_TOO_LARGE,		/* over a named limit: HTTP 413 */
	SCEP_ERR_INTERNAL,		/* our fault: HTTP 500 */
} scep_err;

/* failInfo for an error that has one; -1 for the rest. */
int scep_err_fail_info(scep_err e);

/* The HTTP status that answers an error when no CertRep can be built. */
int scep_err_http_status(scep_err e);

/* Short name for logs and the ledger ("badAlg", "malformed", ...). */
const char *scep_err_name(scep_err e);

const char *scep_fail_info_name(int fail_info);
const char *scep_msg_type_name(int type);

#endif
