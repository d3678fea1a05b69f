/*
 * scepd.conf: "key = value" lines, '#' comments.  Built-in defaults, then
 * the file, then each -o key=value in order.  Errors name file:line.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>

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

#endif
