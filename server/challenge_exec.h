/*
 * challenge_mode = exec, the Intune-connector pattern: a program decides.
 * It gets the CSR (PEM) on stdin and SCEP_TRANSACTION_ID, SCEP_CHALLENGE,
 * SCEP_SUBJECT and SCEP_CLIENT_ADDR in its environment; exit 0 allows;
 * its first line of output becomes the ledger's reason.
 */
#ifndef CHALLENGE_EXEC_H
#define CHALLENGE_EXEC_H

#include <stddef.h>

#define EXEC_MAX_REASON 256

struct exec_request {
	const char	*program;
	int		 timeout;	/* seconds */
	const char	*csr_pem;
	const char	*txid;
	const char	*challenge;
	const char	*subject;
	const char	*client_addr;
};

enum exec_result { EXEC_ALLOW, EXEC_DENY, EXEC_ERROR };

/* Run the program; reason receives its first line (or why it failed). */
int challenge_exec(const struct exec_request *r, char *reason, size_t cap);

/*
 * Run program with envp (NULL-terminated "K=V" strings), input on its
 * standard input, for at most timeout seconds; its first line of output
 * into line.  EXEC_ALLOW when it exits 0, EXEC_DENY on another status,
 * EXEC_ERROR when it cannot run or times out (line says which).
 */
int exec_program(const char *program, char *const envp[], const char *input,
    int timeout, char *line, size_t cap);

#endif
