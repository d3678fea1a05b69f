/*
 * The SCEP signed attributes (RFC 8894 3.2.1, id-VeriSign 2.16.840.1.113733
 * .1.9.x).  OpenSSL has no NIDs for them; we compare by dotted text so that
 * parsing never allocates or touches OpenSSL's global object table.
 */
#ifndef SCEP_OID_H
#define SCEP_OID_H

#include <openssl/asn1.h>

enum scep_attr {
	SCEP_ATTR_MESSAGE_TYPE,
	SCEP_ATTR_PKI_STATUS,
	SCEP_ATTR_FAIL_INFO,
	SCEP_ATTR_SENDER_NONCE,
	SCEP_ATTR_RECIPIENT_NONCE,
	SCEP_ATTR_TRANSACTION_ID,
	SCEP_ATTR_COUNT,
	SCEP_ATTR_NONE = -1,
};

/* Which SCEP attribute obj names, or SCEP_ATTR_NONE. */
enum scep_attr scep_oid_attr(const ASN1_OBJECT *obj);

/* A new ASN1_OBJECT for attr; the caller frees it with ASN1_OBJECT_free. */
ASN1_OBJECT *scep_oid_new(enum scep_attr attr);

const char *scep_oid_text(enum scep_attr attr);

#endif
