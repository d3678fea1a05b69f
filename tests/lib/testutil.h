/* Helpers shared by the Check suites. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include <check.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* A fresh directory under /tmp; remove it with tu_rm_rf. */
char *tu_tmpdir(void);
void tu_rm_rf(const char *dir);
unsigned char *tu_read_file(const char *path, size_t *len);
/* ../shared/vectors, or $SCEPD_VECTORS. */
const char *tu_vectors(void);
X509 *tu_read_cert(const char *path);
EVP_PKEY *tu_read_key(const char *path);
X509_REQ *tu_read_csr(const char *path);

/* Run a suite (CK_NORMAL: prints Check's summary line); the exit code. */
int tu_run_suite(Suite *s, int legacy_provider);

struct tu_server {
	pid_t			 pid;
	int			 port;
	char			*dir;
	const char *const	*extra;
	int			 admin_port;	/* the admin API */
	const char		*conf;		/* NULL: conf/scepd.conf */
};

/*
 * Start $SCEPD_BIN/scepd on 127.0.0.1 port 0 with its own state directory
 * and challenge "lab-secret"; extra is a NULL-terminated list of -o values.
 */
int tu_server_start(struct tu_server *s, const char *const *extra);
/* The same with the configuration file conf, whose challenge applies. */
int tu_server_start_conf(struct tu_server *s, const char *conf,
    const char *const *extra);
/* Stop and start it again on the same state; 0 on failure. */
int tu_server_restart(struct tu_server *s);
/* Stop it; 0 if it did not exit cleanly (its log goes to stderr). */
int tu_server_stop(struct tu_server *s);
X509 *tu_server_cert(const struct tu_server *s, const char *which);
/* $SCEPD_BIN, or "bin". */
const char *tu_bin_dir(void);
/* Run a shell command; its stdout (malloc'd) and, if status, exit code. */
char *tu_capture(const char *cmd, int *status);
/* Run scepctl against the server's state; returns its stdout. */
char *tu_scepctl(const struct tu_server *s, const char *args);

struct tu_http {
	int		 status;
	char		 ctype[128];
	long		 clen;		/* -1: no Content-Length */
	unsigned char	*body;
	size_t		 len;
};

int tu_http(int port, const char *method, const char *target,
    const char *ctype, const unsigned char *body, size_t len,
    struct tu_http *out);
/* The same with extra header lines ("Name: value\r\n" each). */
int tu_http_h(int port, const char *method, const char *target,
    const char *headers, const char *ctype, const unsigned char *body,
    size_t len, struct tu_http *out);
void tu_http_free(struct tu_http *h);
/* Percent-encode everything but unreserved characters; malloc'd. */
char *tu_pct(const char *s);

/* Enroll "iphone-7" with this challenge: the pkiStatus (and cert's days). */
int tu_enroll(const struct tu_server *s, const char *challenge, int *days);
int tu_enroll_status(const struct tu_server *s, const char *challenge);
/* A query on the server's ledger, ?1 bound to arg (or NULL): the first
 * column of the first row, malloc'd, or NULL. */
char *tu_ledger_query(const struct tu_server *s, const char *sql,
    const char *arg);
/* How often text occurs in the server's log. */
int tu_log_count(const struct tu_server *s, const char *text);
/* SIGHUP, then wait (up to 10 s) until the log says text once more. */
void tu_hup_and_wait(const struct tu_server *s, const char *text);

#endif
