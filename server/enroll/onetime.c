#include <stdint.h>
#include <time.h>

#include "server/enroll/enroll_int.h"

int
enroll_onetime_new(ledger *l, long ttl, const char *profile, int max,
    char *out)
{
	char sha[65];

	if (!challenge_generate(out) || !challenge_sha256(out, sha))
		return LEDGER_CHALLENGE_ERROR;
	return ledger_challenge_add(l, sha,
	    ((int64_t)time(NULL) + ttl) * 1000000, profile, max);
}

int
enroll_onetime(struct enroll_ctx *e, long ttl, int max, char *out)
{
	return enroll_onetime_new(e->ledger, ttl, NULL, max, out);
}
