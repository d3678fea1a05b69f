/*
 * A CA key on a PKCS#11 token (an HSM, or SoftHSM2 in the tests), named
 * by an RFC 7512 URI, through OpenSSL's pkcs11 engine (Debian's
 * libengine-pkcs11-openssl).  OpenSSL 3 deprecates engines for providers,
 * but Debian 12 ships no PKCS#11 provider: this file alone uses ENGINE.
 */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include <string.h>

#include <openssl/engine.h>
#include <openssl/err.h>

#include "ca/ca_files.h"

EVP_PKEY *
ca_pkcs11_key(const char *uri, const char *module, const char *pin,
    const char **why)
{
	EVP_PKEY *key = NULL;
	ENGINE *e = NULL;
	int inited = 0;

	if ((e = ENGINE_by_id("pkcs11")) == NULL) {
		*why = "OpenSSL's pkcs11 engine is not installed "
		    "(libengine-pkcs11-openssl)";
		goto out;
	}
	if (module != NULL && *module != '\0' &&
	    !ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0)) {
		*why = "pkcs11_module cannot be set";
		goto out;
	}
	if (!ENGINE_init(e)) {
		*why = "the PKCS#11 module does not load (pkcs11_module)";
		goto out;
	}
	inited = 1;
	if (pin != NULL && *pin != '\0' &&
	    !ENGINE_ctrl_cmd_string(e, "PIN", pin, 0)) {
		*why = "the PKCS#11 PIN cannot be set";
		goto out;
	}
	if ((key = ENGINE_load_private_key(e, uri, NULL, NULL)) == NULL)
		*why = "no such private key on the token (or wrong PIN)";
out:
	/* The key keeps its own reference to the engine. */
	if (inited)
		ENGINE_finish(e);
	ENGINE_free(e);
	ERR_clear_error();
	return key;
}
