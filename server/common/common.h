/*
 * server/common: what every part of scepd and scepctl shares and that
 * depends on no other part of server/: the configuration (scepd.conf),
 * logging, text encodings, start-up steps, request counters, password
 * hashes, ledger reports written as documents, and running a program
 * with a deadline.
 *
 * Owns: struct scepd_config and its parsing, the log, the counters, the
 * report formats (JSON array, CSV, text, Prometheus).
 * Must not touch: HTTP, the CA's keys, the ledger beyond reading reports,
 * or any other server/ module (they include this header; it includes
 * none of theirs).
 */
#ifndef SCEPD_COMMON_H
#define SCEPD_COMMON_H

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "ca/ca.h"
#include "store/ledger.h"

/*
 * scepd.conf: "key = value" lines, '#' comments.  Built-in defaults, then
 * the file, then each -o key=value in order.  Errors name file:line.
 */

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
enum log_target { LOG_TO_STDERR, LOG_TO_SYSLOG };

#define CONFIG_MAX_PROFILES 16

/* profile.NAME.KEY entries: NDES's certificate templates. */
struct scepd_profile {
	char	*name;
	int	 days;		/* 0: cert_days */
	char	*eku;		/* NULL: eku */
	char	*key_usage;	/* NULL: by key type */
	int	 san_policy;	/* enum ca_san_policy */
	char	*san_allow;
	char	*subject;	/* NULL: the CSR's */
	int	 approval;	/* -1: approval */
};

struct scepd_config {
	char	*listen;		/* "127.0.0.1:8080", "[::1]:0" */
	char	*port_file;		/* "" for none */
	char	*state_dir;
	char	*challenge;		/* "", "auto", plaintext or a hash */
	int	 legacy_algorithms;
	int	 ca_key_bits;
	char	*ca_subject;
	int	 ca_days;
	char	*ra_subject;		/* "" for no RA */
	int	 cert_days;
	char	*eku;
	long	 max_body;		/* bytes */
	long	 max_url;		/* bytes of request line */
	int	 max_connections;
	int	 max_connections_per_ip;	/* 0: no limit */
	int	 timeout;		/* idle seconds per connection */
	int	 header_timeout;	/* opening or last reply to headers in */
	int	 body_timeout;		/* headers in to body in */
	int	 threads;		/* 0: one per CPU */
	int	 max_clock_skew;	/* seconds; 0: no signingTime check */
	int	 log_level;
	int	 log_target;		/* LOG_TO_STDERR or LOG_TO_SYSLOG */
	int	 renewal_window;	/* seconds before expiry; 0: any time */
	int	 renewal_subject;	/* enum renewal_subject */
	int	 approval;		/* enum approval */
	int	 challenge_mode;	/* enum challenge_mode */
	int	 challenge_ttl;		/* one-time passwords live this long */
	int	 challenge_max;		/* outstanding one-time passwords */
	char	*challenge_exec;	/* program for challenge_mode = exec */
	int	 challenge_exec_timeout;
	int	 challenge_failures;	/* per address per window; 0: off */
	int	 challenge_failure_window;
	char	*admin_user;		/* /certsrv/mscep_admin/ Basic auth */
	char	*admin_password;	/* "": the page is off */
	int	 admin_remote;		/* serve it beyond loopback */
	char	*admin_listen;		/* the admin API; "" for none */
	char	*admin_port_file;
	char	*admin_token;		/* "": generated into the state dir */
	char	*hook_command;		/* "": none */
	char	*key_passphrase_file;	/* "": CA and RA keys unencrypted */
	int	 hook_timeout;
	int	 ca_key_type;		/* enum ca_key_type */
	struct scepd_profile profiles[CONFIG_MAX_PROFILES];
	int	 n_profiles;
	/* NDES's SignatureTemplate, EncryptionTemplate, GeneralPurposeTemplate */
	char	*profile_signature;
	char	*profile_encryption;
	char	*profile_general;
	int	 crl_days;		/* CRL validity (nextUpdate) */
	char	*crl_url;		/* CDP in issued certificates; "" none */
	int	 privsep;		/* CA keys in a process of their own */
	char	*ca_key;		/* "": STATE_DIR/ca.key; path or URI */
	char	*pkcs11_module;		/* for a pkcs11: ca_key */
	char	*pkcs11_pin_file;	/* 0600, its PIN on the first line */
	char	*user;			/* started as root: switch to it */
};

enum renewal_subject { RENEWAL_SUBJECT_SAME, RENEWAL_SUBJECT_CSR };
enum approval { APPROVAL_AUTO, APPROVAL_MANUAL };
enum ca_key_type { CA_KEY_RSA, CA_KEY_EC_P256, CA_KEY_EC_P384 };
enum challenge_mode { CHALLENGE_NONE, CHALLENGE_STATIC, CHALLENGE_ONETIME,
    CHALLENGE_EXEC };

#define CONFIG_ERR_MAX 512

void config_init(struct scepd_config *c);
void config_free(struct scepd_config *c);
/* Read a file; on error err holds "file:line: message". */
int config_load(struct scepd_config *c, const char *path, char *err,
    size_t cap);
/* Apply "key=value" from the command line. */
int config_override(struct scepd_config *c, const char *kv, char *err,
    size_t cap);
/* Cross-key checks after loading: profile names that must exist. */
int config_check(const struct scepd_config *c, char *err, size_t cap);
const struct scepd_profile *config_profile(const struct scepd_config *c,
    const char *name);
const char *config_ca_key_type(const struct scepd_config *c);

/* "90", "90s", "15m", "2h", "3d" in seconds; -1 when malformed. */
long config_parse_duration(const char *v);

/* Split "host:port" / "[v6]:port"; host into buf. */
int config_listen_parse(const char *s, char *host, size_t cap, int *port);

/* Logging to standard error: one line per call, never a secret. */

void log_set_level(int level);
/* LOG_TO_STDERR (the default) or LOG_TO_SYSLOG (facility daemon). */
void log_set_target(int target);
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...)	log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/*
 * Base64 as SCEP clients really send it in GET message= (RFC 8894 4.1):
 * standard or URL-safe alphabet, '+' that arrived as ' ', line breaks,
 * missing padding.  Plus the base64 encoder the ledger wants (hex: ca_hex).
 */

/*
 * Decode in[0..inlen) into out, which must hold b64_decoded_max(inlen)
 * bytes.  Returns the decoded length, or -1 on a character or padding
 * that no client would send.
 */
long b64_decode_lenient(const char *in, size_t inlen, unsigned char *out);
size_t b64_decoded_max(size_t inlen);

/* Standard base64 of at most max_chars characters (0: all); malloc'd. */
char *b64_encode(const unsigned char *in, size_t len, size_t max_chars);


/* Start-up steps shared by scepd and scepctl. */

#define SCEPD_VERSION "0.1.0"
#define SCEPD_DEFAULT_CONF "/etc/scepd/scepd.conf"

/* Read -c FILE (or the default) then the -o overrides, in order. */
int setup_config(struct scepd_config *cfg, const char *path,
    char *const *overrides, size_t n, char *err, size_t cap);
/* Create the state directory (mode 0700) if it does not exist. */
int setup_state_dir(const char *dir, const char **why);
/*
 * CA parameters from the configuration, with the key passphrase read from
 * key_passphrase_file (0600 or tighter).  Cleanse p->passphrase after use.
 */
int setup_ca_params(const struct scepd_config *cfg, struct ca_params *p,
    const char **why);
/*
 * PKIOperation worker threads: `threads`, or four per CPU (a worker waiting
 * for the signer or its group commit leaves the CPU to another).
 */
unsigned int setup_worker_threads(const struct scepd_config *cfg);
/* An absolute path to an executable (challenge_exec, hook_command)? */
int setup_executable(const char *path);
/*
 * STATE_DIR/data: what scepd writes while it runs (ledger, CRLs), so that a
 * scepd that dropped root can own it while the keys stay root's.  Creates
 * it and moves in a ledger and CRLs from the old layout.
 */
int setup_data_dir(const char *state_dir, const char **why);
/* STATE_DIR/data/ledger.db (or the old STATE_DIR/ledger.db if only it exists). */
int setup_ledger_path(const struct scepd_config *cfg, char *buf, size_t cap);
/* OpenSSL's legacy provider (single DES) next to the default one. */
int setup_legacy_provider(void);
/* Unload them again (at exit, so that leak checkers see nothing lost). */
void setup_providers_free(void);
/*
 * "ADDRESS:PORT" (numeric IPv4, or [IPv6]) into a socket address for
 * libmicrohttpd; *v6 says which.
 */
struct sockaddr_storage;
int setup_sockaddr(const char *listen, struct sockaddr_storage *ss, int *v6,
    const char **why);

/* A peer's address as text ("192.0.2.1", "::1"); "?" when unknown. */
struct sockaddr;
void setup_addr_text(const struct sockaddr *sa, char *buf, size_t cap);

/* Write the port atomically so that a watcher never reads half. */
int setup_port_file(const char *path, int port);

/*
 * A certificate's thumbprint for a banner or a listing: uppercase hex, or
 * "?" when it cannot be computed (never an uninitialised buffer).
 */
#define SETUP_THUMB_LEN	(2 * 64 + 1)
const char *setup_thumbprint(X509 *x, const EVP_MD *md,
    char out[SETUP_THUMB_LEN]);

/*
 * Counters for GET /metrics (Prometheus text format): requests by
 * operation and outcome, and how long issuance takes.
 */

enum metric_op { M_GETCACAPS, M_GETCACERT, M_GETNEXTCACERT, M_PKIOPERATION,
    M_OTHER, M_OPS };
enum metric_outcome { M_OK, M_CLIENT_ERROR, M_SERVER_ERROR, M_OUTCOMES };

#define METRICS_BUCKETS 10

void metrics_request(enum metric_op op, int http_status);
/* One issuance, from request received to reply ready, in seconds. */
void metrics_issuance(double seconds);
/* The counters in Prometheus text format. */
void metrics_print(FILE *out);

/*
 * The enrollment challenge password.  Held only as a salted PBKDF2-SHA256
 * hash; compared in constant time.  The config's challenge is one of:
 *   ""                      no challenge required
 *   "auto"                  generated on first start, its hash kept in
 *                           STATE_DIR/challenge.hash (0600)
 *   "pbkdf2-sha256$I$S$H"   a hash from `scepctl challenge hash`
 *   anything else           a plaintext password, hashed at load
 */

#define CHALLENGE_HASH_MAX	160
#define CHALLENGE_GEN_LEN	24	/* characters of a generated password */

struct challenge {
	int		required;
	unsigned int	iterations;
	unsigned char	salt[16];
	unsigned char	hash[32];
	/*
	 * After the first match, a salted SHA-256 of the verified password,
	 * so that each later enrollment costs one hash instead of PBKDF2's
	 * thousands (wrong passwords still pay the full PBKDF2).  In memory
	 * only; state: 0 empty, 1 being written, 2 ready.
	 */
	_Atomic int	fast_state;
	unsigned char	fast[32];
};

/* Hash a plaintext password with a fresh salt into the text form. */
int challenge_hash_text(const char *plain, char *out, size_t cap);

/*
 * Set c from a config value.  For "auto" with no hash yet, a password is
 * generated into new_plain (CHALLENGE_GEN_LEN + 1 bytes) and its hash
 * written to state_dir; *generated says so.
 */
int challenge_setup(struct challenge *c, const char *value,
    const char *state_dir, char *new_plain, int *generated, const char **why);

/* Replace the "auto" password; prints nothing, returns it in new_plain. */
int challenge_reset(const char *state_dir, char *new_plain, const char **why);

/* A random password of CHALLENGE_GEN_LEN characters, no look-alikes. */
int challenge_generate(char out[CHALLENGE_GEN_LEN + 1]);
/* Lowercase hex SHA-256, how one-time passwords are kept. */
int challenge_sha256(const char *plain, char hex[65]);

/* 1 if offered matches; constant time in the password's content. */
int challenge_verify(struct challenge *c, const char *offered);

/*
 * Failures per client address (challenges, admin logins): after `limit`
 * failures within `window` seconds an address is refused until the
 * window has passed.
 */
#define RATELIMIT_SLOTS 1024

struct ratelimit_slot {
	char	addr[48];
	time_t	start;
	int	count;
};

struct ratelimit {
	pthread_mutex_t		mu;
	int			limit;		/* 0: no limit */
	int			window;
	struct ratelimit_slot	slot[RATELIMIT_SLOTS];
};

void ratelimit_init(struct ratelimit *r, int limit, int window);
/* Seconds until addr may try again (its window's end); 0: not blocked. */
int ratelimit_blocked(struct ratelimit *r, const char *addr, time_t now);
/* Count one failure for addr. */
void ratelimit_fail(struct ratelimit *r, const char *addr, time_t now);

/*
 * Ledger reports written as documents (report.c): a JSON array, CSV with
 * its header or text, one row a line; Prometheus gauges.  LEDGER_* result.
 */
int report_dump_json(ledger *l, FILE *out);
int report_pending_json(ledger *l, FILE *out);
int report_list(ledger *l, const struct ledger_filter *f, int format,
    FILE *out);
/* Operations per hour (or day) and status. */
int report_stats(ledger *l, int by_day, FILE *out);
/* The transactions ID names; *found 0 when none. */
int report_show_json(ledger *l, const char *id, FILE *out, int *found);
int report_show_text(ledger *l, const char *id, FILE *out, int *found);
/* scepd_transactions{status="..."} gauges, Prometheus text format. */
int report_status_metrics(ledger *l, FILE *out);

/* Running a program (challenge_mode = exec, hook_command). */
#define EXEC_MAX_REASON 256

enum exec_result { EXEC_ALLOW, EXEC_DENY, EXEC_ERROR };

/*
 * Run program with envp (NULL-terminated "K=V" strings), input on its
 * standard input, for at most timeout seconds; its first line of output
 * into line.  EXEC_ALLOW when it exits 0, EXEC_DENY on another status,
 * EXEC_ERROR when it cannot run or times out (line says which).
 */
int exec_program(const char *program, char *const envp[], const char *input,
    int timeout, char *line, size_t cap);

#endif
