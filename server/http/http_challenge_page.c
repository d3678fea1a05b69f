#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "server/http/http_int.h"

/* Failed logins per address before a lockout, and its length. */
#define PAGE_FAILURES		HTTP_PAGE_FAILURES
#define PAGE_LOCKED	"too many failed logins from this address; try later\n"

static int
is_loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
	    strncmp(addr, "::ffff:127.", 11) == 0;
}

int
http_is_challenge_page_path(const char *url)
{
	return strcasecmp(url, "/certsrv/mscep_admin") == 0 ||
	    strcasecmp(url, "/certsrv/mscep_admin/") == 0 ||
	    strcasecmp(url, "/certsrv/mscep_admin/default.aspx") == 0;
}

/* HTTP Basic credentials against the configured user and password hash. */
static int
admin_authorised(http_server *s, struct MHD_Connection *c)
{
	char *pass = NULL, *user;
	int ok = 0;

	user = MHD_basic_auth_get_username_password(c, &pass);
	if (user != NULL && pass != NULL &&
	    strlen(user) == strlen(s->admin.user) &&
	    CRYPTO_memcmp(user, s->admin.user, strlen(user)) == 0)
		ok = challenge_verify(&s->admin.password, pass);
	if (pass != NULL) {
		OPENSSL_cleanse(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user != NULL)
		MHD_free(user);
	return ok;
}

static const char page_head[] =
    "<HTML><Head><Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; "
    "charset=UTF-8\">\n<Title>Network Device Enrollment Service</Title>"
    "</Head>\n<Body BgColor=#FFFFFF><Font ID=locPageFont Face=\"Arial\">\n"
    "<P ID=locPageDesc> Network Device Enrollment Service allows you to "
    "obtain certificates for routers or other network devices using the "
    "Simple Certificate Enrollment Protocol (SCEP). </P>\n";

/*
 * A new one-time password, stored hashed, in an HTML page (malloc'd).
 * Existing scripts scrape "The enrollment challenge password is: <B>
 * PASSWORD </B>", so the text around the password follows NDES's page.
 * 0 on an internal error.
 */
static int
render(http_server *s, char **html, const char **why)
{
	char pw[CHALLENGE_GEN_LEN + 1], thumb[2 * EVP_MAX_MD_SIZE + 1];
	size_t cap = 4096;
	int rv;

	*html = NULL;
	if (!enroll_ca_thumbprint(s->enroll, thumb, sizeof(thumb)) ||
	    (*html = malloc(cap)) == NULL) {
		*why = "out of memory";
		return 0;
	}
	rv = enroll_onetime(s->enroll, s->admin.ttl, s->admin.max, pw);
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
	    (s->admin.ttl + 59) / 60);
	OPENSSL_cleanse(pw, sizeof(pw));
	return 1;
}

/* NDES's challenge page: a new one-time password per authorised GET. */
enum MHD_Result
http_challenge_page(http_server *s, struct MHD_Connection *c, struct conn *k)
{
	static const char denied[] = "authentication required\n";
	struct MHD_Response *r;
	enum MHD_Result ret;
	const char *why = "";
	char *html = NULL, retry[16];
	int wait;

	if (!s->admin.enabled)
		return http_respond_text(k, c, 404, "not found\n");
	if (!s->admin.remote && !is_loopback(k->addr))
		return http_respond_text(k, c, 403, "the challenge page is served on "
		    "loopback only (admin_remote = no)\n");
	/* Guessing the password: a lockout per address after a few tries. */
	if ((wait = ratelimit_blocked(&s->page_failures, k->addr,
	    time(NULL))) > 0) {
		snprintf(retry, sizeof(retry), "%d", wait);
		log_warn("challenge page: %s locked out after %d failed logins",
		    k->addr, PAGE_FAILURES);
		r = MHD_create_response_from_buffer(strlen(PAGE_LOCKED),
		    (void *)PAGE_LOCKED, MHD_RESPMEM_PERSISTENT);
		if (r == NULL || MHD_add_response_header(r,
		    MHD_HTTP_HEADER_RETRY_AFTER, retry) != MHD_YES) {
			MHD_destroy_response(r);
			return MHD_NO;
		}
		k->http_status = 429;
		ret = MHD_queue_response(c, 429, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (!admin_authorised(s, c)) {
		/* A browser asks without credentials first: that is no guess. */
		if (MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_AUTHORIZATION) != NULL) {
			ratelimit_fail(&s->page_failures, k->addr, time(NULL));
			log_warn("challenge page: authentication failed from %s",
			    k->addr);
		}
		r = MHD_create_response_from_buffer(strlen(denied), (void *)denied,
		    MHD_RESPMEM_PERSISTENT);
		if (r == NULL)
			return MHD_NO;
		ret = MHD_queue_basic_auth_fail_response(c, "scepd", r);
		MHD_destroy_response(r);
		return ret;
	}
	if (!render(s, &html, &why))
		return http_respond_text(k, c, 500, "cannot make a challenge password\n");
	log_info("challenge page: one-time password issued to %s", k->addr);
	return http_respond(k, c, 200, "text/html; charset=utf-8", html, strlen(html),
	    MHD_RESPMEM_MUST_FREE);
}
