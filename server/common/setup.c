#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/provider.h>

#include "server/common/common.h"

int
setup_config(struct scepd_config *cfg, const char *path,
    char *const *overrides, size_t n, char *err, size_t cap)
{
	size_t i;

	config_init(cfg);
	if (!config_load(cfg, path != NULL ? path : SCEPD_DEFAULT_CONF, err, cap))
		return 0;
	for (i = 0; i < n; i++)
		if (!config_override(cfg, overrides[i], err, cap))
			return 0;
	return config_check(cfg, err, cap);
}

int
setup_state_dir(const char *dir, const char **why)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		*why = "cannot create the state directory";
		return 0;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		*why = "state_dir is not a directory";
		return 0;
	}
	return 1;
}

/*
 * The first line of a 0600 file (key_passphrase_file, pkcs11_pin_file),
 * 4 characters or more; an empty path leaves buf empty.
 */
static int
read_secret(const char *path, const char *key, char *buf, size_t cap,
    const char **why)
{
	static char msg[160];
	struct stat st;
	FILE *f;
	int ok;

	buf[0] = '\0';
	if (*path == '\0')
		return 1;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(msg, sizeof(msg), "%s cannot be opened", key);
		*why = msg;
		return 0;
	}
	ok = fstat(fileno(f), &st) == 0 && (st.st_mode & 077) == 0;
	if (!ok) {
		snprintf(msg, sizeof(msg), "%s is readable by group or others "
		    "(chmod 600 it)", key);
		*why = msg;
	} else if (fgets(buf, (int)cap, f) == NULL ||
	    (buf[strcspn(buf, "\r\n")] = '\0', strlen(buf) < 4)) {
		snprintf(msg, sizeof(msg), "%s holds nothing of 4 or more "
		    "characters on its first line", key);
		*why = msg;
		ok = 0;
	}
	fclose(f);
	if (!ok)
		OPENSSL_cleanse(buf, cap);
	return ok;
}

int
setup_ca_params(const struct scepd_config *cfg, struct ca_params *p,
    const char **why)
{
	memset(p, 0, sizeof(*p));
	p->key_bits = cfg->ca_key_bits;
	p->key_type = config_ca_key_type(cfg);
	p->ca_subject = cfg->ca_subject;
	p->ca_days = cfg->ca_days;
	p->ra_subject = cfg->ra_subject;
	p->ca_key_uri = cfg->ca_key;
	p->pkcs11_module = cfg->pkcs11_module;
	if (!read_secret(cfg->key_passphrase_file, "key_passphrase_file",
	    p->passphrase, sizeof(p->passphrase), why) ||
	    !read_secret(cfg->pkcs11_pin_file, "pkcs11_pin_file", p->pkcs11_pin,
	    sizeof(p->pkcs11_pin), why)) {
		ca_params_wipe(p);
		return 0;
	}
	return 1;
}

unsigned int
setup_worker_threads(const struct scepd_config *cfg)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (cfg->threads > 0)
		return (unsigned int)cfg->threads;
	return 4 * (unsigned int)(ncpu > 0 ? ncpu : 1);
}

int
setup_executable(const char *path)
{
	return *path == '/' && access(path, X_OK) == 0;
}

/* Moves STATE_DIR/NAME to STATE_DIR/data/NAME unless the latter exists. */
static int
move_in(const char *state_dir, const char *name)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct stat st;

	if (snprintf(from, sizeof(from), "%s/%s", state_dir, name) >=
	    (int)sizeof(from) || snprintf(to, sizeof(to), "%s/data/%s",
	    state_dir, name) >= (int)sizeof(to))
		return 0;
	if (lstat(from, &st) != 0 || lstat(to, &st) == 0)
		return 1;
	return rename(from, to) == 0;
}

int
setup_data_dir(const char *state_dir, const char **why)
{
	static const char *const legacy[] = { "ledger.db", "ledger.db-wal",
	    "ledger.db-shm", "crl" };
	char var[PATH_MAX];
	size_t i;

	if (snprintf(var, sizeof(var), "%s/data", state_dir) >= (int)sizeof(var) ||
	    (mkdir(var, 0700) != 0 && errno != EEXIST)) {
		*why = "cannot create STATE_DIR/data";
		return 0;
	}
	/* Before 0.2 the ledger and CRLs lay beside the keys. */
	for (i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++) {
		if (!move_in(state_dir, legacy[i])) {
			*why = "cannot move the ledger or CRLs into STATE_DIR/data";
			return 0;
		}
	}
	return 1;
}

int
setup_ledger_path(const struct scepd_config *cfg, char *buf, size_t cap)
{
	struct stat st;

	if (snprintf(buf, cap, "%s/data/ledger.db", cfg->state_dir) >= (int)cap)
		return 0;
	/* scepctl against a ledger a running older scepd still has open. */
	if (stat(buf, &st) != 0 &&
	    snprintf(buf, cap, "%s/ledger.db", cfg->state_dir) < (int)cap &&
	    stat(buf, &st) == 0)
		return 1;
	return snprintf(buf, cap, "%s/data/ledger.db", cfg->state_dir) < (int)cap;
}

/* The providers setup_legacy_provider loaded, for setup_providers_free. */
static OSSL_PROVIDER *loaded[2];

int
setup_legacy_provider(void)
{
	/* Loading "legacy" alone would hide the default provider. */
	if (loaded[0] == NULL)
		loaded[0] = OSSL_PROVIDER_load(NULL, "default");
	if (loaded[1] == NULL)
		loaded[1] = OSSL_PROVIDER_load(NULL, "legacy");
	return loaded[0] != NULL && loaded[1] != NULL;
}

void
setup_providers_free(void)
{
	size_t i;

	for (i = 0; i < sizeof(loaded) / sizeof(loaded[0]); i++) {
		if (loaded[i] != NULL)
			OSSL_PROVIDER_unload(loaded[i]);
		loaded[i] = NULL;
	}
}

int
setup_sockaddr(const char *listen, struct sockaddr_storage *ss, int *v6,
    const char **why)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[256];
	int p;

	memset(ss, 0, sizeof(*ss));
	*v6 = 0;
	if (!config_listen_parse(listen, host, sizeof(host), &p)) {
		*why = "want ADDRESS:PORT";
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*v6 = 1;
	} else {
		*why = "the address must be a numeric IPv4 or IPv6 address";
		return 0;
	}
	return 1;
}

int
setup_port_file(const char *path, int port)
{
	char tmp[PATH_MAX];
	FILE *f;
	int ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return 0;
	if ((f = fopen(tmp, "w")) == NULL)
		return 0;
	ok = fprintf(f, "%d\n", port) > 0;
	ok = fclose(f) == 0 && ok;
	return ok && rename(tmp, path) == 0;
}

const char *
setup_thumbprint(X509 *x, const EVP_MD *md, char out[SETUP_THUMB_LEN])
{
	if (ca_thumbprint(x, md, out, SETUP_THUMB_LEN) != CA_OK)
		snprintf(out, SETUP_THUMB_LEN, "?");
	return out;
}

void
setup_addr_text(const struct sockaddr *sa, char *buf, size_t cap)
{
	snprintf(buf, cap, "?");
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, buf, (socklen_t)cap);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, buf, (socklen_t)cap);
}
