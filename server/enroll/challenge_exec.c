#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "server/enroll/enroll_int.h"

int
challenge_exec(const struct exec_request *r, char *reason, size_t cap)
{
	char env_txid[256], env_chal[512], env_subj[1024], env_addr[128];
	char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", env_txid, env_chal,
	    env_subj, env_addr, NULL };
	int rv;

	snprintf(env_txid, sizeof(env_txid), "SCEP_TRANSACTION_ID=%s", r->txid);
	snprintf(env_chal, sizeof(env_chal), "SCEP_CHALLENGE=%s",
	    r->challenge ? r->challenge : "");
	snprintf(env_subj, sizeof(env_subj), "SCEP_SUBJECT=%s", r->subject);
	snprintf(env_addr, sizeof(env_addr), "SCEP_CLIENT_ADDR=%s", r->client_addr);
	rv = exec_program(r->program, envp, r->csr_pem, r->timeout, reason, cap);
	OPENSSL_cleanse(env_chal, sizeof(env_chal));
	if (rv == EXEC_ERROR && strncmp(reason, "timed out", 9) == 0)
		snprintf(reason, cap, "challenge program timed out after %d s",
		    r->timeout);
	else if (rv == EXEC_ERROR)
		snprintf(reason, cap, "challenge program cannot be run");
	else if (*reason == '\0')
		snprintf(reason, cap, rv == EXEC_ALLOW ?
		    "challenge program allowed" : "challenge program refused");
	return rv;
}
