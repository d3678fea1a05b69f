#include <string.h>

#include <openssl/objects.h>

#include "pkcs7/scep_oid.h"

static const char *const oid_text[SCEP_ATTR_COUNT] = {
	[SCEP_ATTR_MESSAGE_TYPE] = "2.16.840.1.113733.1.9.2",
	[SCEP_ATTR_PKI_STATUS] = "2.16.840.1.113733.1.9.3",
	[SCEP_ATTR_FAIL_INFO] = "2.16.840.1.113733.1.9.4",
	[SCEP_ATTR_SENDER_NONCE] = "2.16.840.1.113733.1.9.5",
	[SCEP_ATTR_RECIPIENT_NONCE] = "2.16.840.1.113733.1.9.6",
	[SCEP_ATTR_TRANSACTION_ID] = "2.16.840.1.113733.1.9.7",
};

enum scep_attr
scep_oid_attr(const ASN1_OBJECT *obj)
{
	char buf[64];
	int n, i;

	n = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return SCEP_ATTR_NONE;
	for (i = 0; i < SCEP_ATTR_COUNT; i++)
		if (strcmp(buf, oid_text[i]) == 0)
			return (enum scep_attr)i;
	return SCEP_ATTR_NONE;
}

ASN1_OBJECT *
scep_oid_new(enum scep_attr attr)
{
	if (attr < 0 || attr >= SCEP_ATTR_COUNT)
		return NULL;
	return OBJ_txt2obj(oid_text[attr], 1);
}

const char *
scep_oid_text(enum scep_attr attr)
{
	if (attr < 0 || attr >= SCEP_ATTR_COUNT)
		return "?";
	return oid_text[attr];
}
