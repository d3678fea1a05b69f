#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "server/admin_page.h"
#include "server/challenge.h"

int
admin_new_password(ledger *l, long ttl, const char *profile, int max,
    char *out)
{
	char sha[65];

	if (!challenge_generate(out) || !challenge_sha256(out, sha))
		return LEDGER_CHALLENGE_ERROR;
	return ledger_challenge_add(l, sha,
	    ((int64_t)time(NULL) + ttl) * 1000000, profile, max);
}

static const char page_head[] =
    "<HTML><Head><Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; "
    "charset=UTF-8\">\n<Title>Network Device Enrollment Service</Title>"
    "</Head>\n<Body BgColor=#FFFFFF><Font ID=locPageFont Face=\"Arial\">\n"
    "<P ID=locPageDesc> Network Device Enrollment Service allows you to "
    "obtain certificates for routers or other network devices using the "
    "Simple Certificate Enrollment Protocol (SCEP). </P>\n";

int
admin_page_render(const ca *c, ledger *l, const struct admin_page_opts *o,
    char **html, const char **why)
{
	char pw[CHALLENGE_GEN_LEN + 1], thumb[2 * EVP_MAX_MD_SIZE + 1];
	size_t cap = 4096;
	int rv;

	*html = NULL;
	if (!ca_thumbprint(ca_cert_get0(c), EVP_sha256(), thumb, sizeof(thumb)) ||
	    (*html = malloc(cap)) == NULL) {
		*why = "out of memory";
		return 0;
	}
	rv = admin_new_password(l, o->ttl, o->profile, o->max, pw);
	if (rv == LEDGER_CHALLENGE_FULL) {
		/* NDES's words when PasswordMax is reached. */
		snprintf(*html, cap, "%s<P> The password cache is full. </P>\n"
		    "<P> Please wait until one of the unused passwords expires "
		    "or is used, then refresh this page. </P>\n</Font></Body>"
		    "</HTML>\n", page_head);
		return 1;
	}
	if (rv != LEDGER_CHALLENGE_OK) {
		free(*html);
		*html = NULL;
		*why = "cannot store the password";
		return 0;
	}
	snprintf(*html, cap, "%s<P> To complete certificate enrollment for your "
	    "network device you will need the following information: <P> The "
	    "thumbprint (hash value) for the CA certificate is: <B> %s </B> "
	    "<P> The enrollment challenge password is: <B> %s </B> <P> This "
	    "password can be used only once and will expire within %ld "
	    "minutes. <P> Each enrollment requires a new challenge password. "
	    "You can refresh this web page to obtain a new challenge password."
	    " </P>\n</Font></Body></HTML>\n", page_head, thumb, pw,
	    (o->ttl + 59) / 60);
	OPENSSL_cleanse(pw, sizeof(pw));
	return 1;
}
