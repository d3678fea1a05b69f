#include "pkcs7/scep_err.h"

int
scep_err_fail_info(scep_err e)
{
	switch (e) {
	case SCEP_ERR_BAD_ALG:
		return SCEP_FAIL_BAD_ALG;
	case SCEP_ERR_BAD_MESSAGE_CHECK:
		return SCEP_FAIL_BAD_MESSAGE_CHECK;
	case SCEP_ERR_BAD_REQUEST:
		return SCEP_FAIL_BAD_REQUEST;
	case SCEP_ERR_BAD_TIME:
		return SCEP_FAIL_BAD_TIME;
	case SCEP_ERR_BAD_CERT_ID:
		return SCEP_FAIL_BAD_CERT_ID;
	default:
		return -1;
	}
}

int
scep_err_http_status(scep_err e)
{
	switch (e) {
	case SCEP_OK:
		return 200;
	case SCEP_ERR_TOO_LARGE:
		return 413;
	case SCEP_ERR_INTERNAL:
		return 500;
	default:
		/* Every other error is the client's fault: never a 5xx. */
		return 400;
	}
}

const char *
scep_err_name(scep_err e)
{
	switch (e) {
	case SCEP_OK:
		return "ok";
	case SCEP_ERR_BAD_ALG:
		return "badAlg";
	case SCEP_ERR_BAD_MESSAGE_CHECK:
		return "badMessageCheck";
	case SCEP_ERR_BAD_REQUEST:
		return "badRequest";
	case SCEP_ERR_BAD_TIME:
		return "badTime";
	case SCEP_ERR_BAD_CERT_ID:
		return "badCertId";
	case SCEP_ERR_MALFORMED:
		return "malformed";
	case SCEP_ERR_TOO_LARGE:
		return "tooLarge";
	case SCEP_ERR_INTERNAL:
		return "internal";
	}
	return "unknown";
}

const char *
scep_fail_info_name(int fail_info)
{
	switch (fail_info) {
	case SCEP_FAIL_BAD_ALG:
		return "badAlg";
	case SCEP_FAIL_BAD_MESSAGE_CHECK:
		return "badMessageCheck";
	case SCEP_FAIL_BAD_REQUEST:
		return "badRequest";
	case SCEP_FAIL_BAD_TIME:
		return "badTime";
	case SCEP_FAIL_BAD_CERT_ID:
		return "badCertId";
	}
	return "unknown";
}

const char *
scep_msg_type_name(int type)
{
	switch (type) {
	case SCEP_MSG_CERTREP:
		return "CertRep";
	case SCEP_MSG_RENEWALREQ:
		return "RenewalReq";
	case SCEP_MSG_PKCSREQ:
		return "PKCSReq";
	case SCEP_MSG_CERTPOLL:
		return "CertPoll";
	case SCEP_MSG_GETCERT:
		return "GetCert";
	case SCEP_MSG_GETCRL:
		return "GetCRL";
	}
	return "unknown";
}
