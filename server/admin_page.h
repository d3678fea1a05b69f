/*
 * NDES's challenge page, /certsrv/mscep_admin/: existing scripts scrape
 * "The enrollment challenge password is: <B> PASSWORD </B>", so the text
 * around the password follows NDES's page.
 */
#ifndef ADMIN_PAGE_H
#define ADMIN_PAGE_H

#include "ca/ca.h"
#include "store/ledger.h"

struct admin_page_opts {
	long		 ttl;		/* seconds a new password lives */
	int		 max;		/* outstanding passwords at most */
	const char	*profile;	/* profile the password admits; NULL */
};

/*
 * A new one-time password, stored hashed, in an HTML page (malloc'd).
 * Returns 0 on an internal error.
 */
int admin_page_render(const ca *c, ledger *l, const struct admin_page_opts *o,
    char **html, const char **why);

/* A new one-time password, for scepctl; LEDGER_CHALLENGE_* result. */
int admin_new_password(ledger *l, long ttl, const char *profile, int max,
    char *out);

#endif
