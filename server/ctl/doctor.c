#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/ca_files.h"
#include "server/ctl/ctl.h"
#include "server/common/common.h"
#include "store/ledger.h"

#define WARN_DAYS	30	/* certificates expiring sooner get a warning */

enum verdict { OK, WARN, FAIL };

struct doctor {
	FILE	*out;
	int	 failed;
	int	 warned;
};

/* One check's line; fix is printed on the next line when not ok. */
static void
report(struct doctor *d, enum verdict v, const char *name, const char *fix,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
report(struct doctor *d, enum verdict v, const char *name, const char *fix,
    const char *fmt, ...)
{
	static const char *const word[] = { "ok  ", "warn", "fail" };
	va_list ap;

	fprintf(d->out, "%s  %-12s ", word[v], name);
	va_start(ap, fmt);
	vfprintf(d->out, fmt, ap);
	va_end(ap);
	fputc('\n', d->out);
	if (v != OK && fix != NULL)
		fprintf(d->out, "      %-12s fix: %s\n", "", fix);
	if (v == FAIL)
		d->failed++;
	else if (v == WARN)
		d->warned++;
}

static X509 *
read_cert(const char *dir, const char *name)
{
	char path[PATH_MAX];
	const char *why;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return ca_read_cert(path, &why);
}

/* Days from now to notAfter (negative: expired); 0 if before notBefore. */
static int
days_left(X509 *x, int *not_yet)
{
	int days = 0, secs = 0;

	*not_yet = X509_cmp_current_time(X509_get0_notBefore(x)) > 0;
	ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x));
	return days;
}

static void
check_validity(struct doctor *d, const char *name, X509 *x, const char *fix)
{
	int not_yet, days = days_left(x, &not_yet);

	if (not_yet)
		report(d, FAIL, name, "set the clock right (timedatectl, NTP); "
		    "the certificate is not valid yet", "not valid yet: the "
		    "clock is before its notBefore");
	else if (days < 0)
		report(d, FAIL, name, fix, "expired %d days ago", -days);
	else if (days < WARN_DAYS)
		report(d, WARN, name, fix, "expires in %d days", days);
	else
		report(d, OK, name, NULL, "valid for %d more days", days);
}

static void
check_ca(struct doctor *d, X509 *cacert)
{
	uint32_t ku = X509_get_key_usage(cacert);
	char *subject = X509_NAME_oneline(X509_get_subject_name(cacert), NULL, 0);

	if (X509_check_ca(cacert) != 1 || X509_check_issued(cacert, cacert) != X509_V_OK ||
	    !(ku & KU_KEY_CERT_SIGN))
		report(d, FAIL, "CA", "recreate it: move STATE_DIR aside and "
		    "start scepd (devices must trust the new CA)",
		    "%s is not a self-signed CA with keyCertSign", subject);
	else
		report(d, OK, "CA", NULL, "%s", subject);
	OPENSSL_free(subject);
	check_validity(d, "CA validity", cacert, "scepctl ca rollover, then "
	    "scepctl ca activate once devices trust the next CA");
}

static void
check_ra(struct doctor *d, X509 *cacert, X509 *ra)
{
	uint32_t ku = X509_get_key_usage(ra);
	EVP_PKEY *cakey = X509_get0_pubkey(cacert);

	if (X509_check_issued(cacert, ra) != X509_V_OK || cakey == NULL ||
	    X509_verify(ra, cakey) != 1)
		report(d, FAIL, "RA", "remove STATE_DIR/ra.pem and ra.key and "
		    "restart scepd to issue a new RA certificate",
		    "not issued by the CA");
	else if ((ku & (KU_KEY_ENCIPHERMENT | KU_DIGITAL_SIGNATURE)) !=
	    (KU_KEY_ENCIPHERMENT | KU_DIGITAL_SIGNATURE))
		report(d, FAIL, "RA key usage", "remove STATE_DIR/ra.pem and "
		    "ra.key and restart scepd: clients encrypt to the RA "
		    "(keyEncipherment) and check its signature "
		    "(digitalSignature)", "lacks %s%s",
		    ku & KU_KEY_ENCIPHERMENT ? "" : "keyEncipherment ",
		    ku & KU_DIGITAL_SIGNATURE ? "" : "digitalSignature");
	else
		report(d, OK, "RA", NULL, "issued by the CA, keyEncipherment "
		    "and digitalSignature");
	check_validity(d, "RA validity", ra, "remove STATE_DIR/ra.pem and "
	    "ra.key and restart scepd for a new RA certificate");
}

/* Key file: present, 0600 or tighter, and the certificate's key. */
static void
check_key(struct doctor *d, const char *dir, const char *name, X509 *cert,
    const char *pass)
{
	char path[PATH_MAX], label[32], fix[PATH_MAX + 32];
	const char *why = "";
	struct stat sb;
	EVP_PKEY *k = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(label, sizeof(label), "%s", name);
	snprintf(fix, sizeof(fix), "chmod 600 %s", path);
	if (stat(path, &sb) != 0) {
		report(d, FAIL, label, "restore it from a backup, or move "
		    "STATE_DIR aside for a new CA", "%s missing", path);
		return;
	}
	if ((sb.st_mode & 077) != 0) {
		report(d, FAIL, label, fix, "mode %04o: readable by group or "
		    "others", (unsigned int)(sb.st_mode & 07777));
		return;
	}
	if ((k = ca_read_key(path, pass, &why)) == NULL)
		report(d, FAIL, label, pass != NULL && *pass != '\0' ?
		    "set key_passphrase_file to the passphrase the key was "
		    "written with" : "restore the key from a backup, or set "
		    "key_passphrase_file if it is encrypted", "%s", why);
	else if (cert != NULL && X509_check_private_key(cert, k) != 1)
		report(d, FAIL, label, "restore the matching key from a backup",
		    "does not match its certificate");
	else
		report(d, OK, label, NULL, "mode %04o, matches its certificate",
		    (unsigned int)(sb.st_mode & 07777));
	ERR_clear_error();
	EVP_PKEY_free(k);
}

/* GET target from host:port with HTTP/1.0; the body, malloc'd. */
static char *
http_get(const char *host, int port, const char *target, int *status,
    size_t *len)
{
	struct addrinfo hints, *ai = NULL;
	struct timeval tv = { 5, 0 };
	char portstr[16], req[1024], *buf = NULL, *body, *nb;
	size_t n = 0, cap = 0;
	ssize_t k;
	int fd = -1;

	*status = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if (getaddrinfo(host, portstr, &hints, &ai) != 0)
		return NULL;
	if ((fd = socket(ai->ai_family, SOCK_STREAM, 0)) < 0)
		goto out;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		goto out;
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n",
	    target, host);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	for (;;) {
		if (cap - n < 4096) {
			if (cap > 1024 * 1024 || (nb = realloc(buf, cap + 65536)) ==
			    NULL)
				goto out;
			buf = nb;
			cap += 65536;
		}
		if ((k = read(fd, buf + n, cap - n - 1)) <= 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", status) != 1 ||
	    (body = strstr(buf, "\r\n\r\n")) == NULL) {
		*status = 0;
		goto out;
	}
	body += 4;
	*len = n - (size_t)(body - buf);
	memmove(buf, body, *len + 1);
	close(fd);
	freeaddrinfo(ai);
	return buf;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	free(buf);
	return NULL;
}

/* The port scepd listens on: from listen, or its port_file for port 0. */
static int
server_port(const struct scepd_config *cfg, char *host, size_t cap)
{
	int port = 0;
	FILE *f;

	if (!config_listen_parse(cfg->listen, host, cap, &port))
		return 0;
	if (strcmp(host, "0.0.0.0") == 0 || *host == '\0')
		snprintf(host, cap, "127.0.0.1");
	else if (strcmp(host, "::") == 0)
		snprintf(host, cap, "::1");
	if (port == 0 && *cfg->port_file != '\0' &&
	    (f = fopen(cfg->port_file, "r")) != NULL) {
		if (fscanf(f, "%d", &port) != 1)
			port = 0;
		fclose(f);
	}
	return port;
}

static void
check_server(struct doctor *d, const struct scepd_config *cfg, X509 *cacert)
{
	static const char path[] = "/certsrv/mscep/mscep.dll";
	char host[256], target[128], fix[512];
	STACK_OF(X509) *certs = NULL;
	PKCS7 *p7 = NULL;
	const unsigned char *p;
	char *body;
	size_t len = 0;
	int port, status, i, same = 0;

	if ((port = server_port(cfg, host, sizeof(host))) == 0) {
		report(d, WARN, "server", "set listen to a fixed port, or "
		    "port_file, so that doctor can find scepd",
		    "listen = %s: port unknown", cfg->listen);
		return;
	}
	snprintf(fix, sizeof(fix), "start scepd (systemctl start scepd, or "
	    "make run) and check that it listens on %s:%d", host, port);
	snprintf(target, sizeof(target), "%s?operation=GetCACaps&message=x",
	    path);
	body = http_get(host, port, target, &status, &len);
	if (body == NULL || status != 200 ||
	    strstr(body, "POSTPKIOperation") == NULL) {
		report(d, FAIL, "GetCACaps", fix, "http://%s:%d%s: %s", host,
		    port, path, body == NULL ? "no answer" : "not a SCEP "
		    "GetCACaps reply");
		free(body);
		return;
	}
	report(d, OK, "GetCACaps", NULL, "http://%s:%d%s answers", host, port,
	    path);
	free(body);
	snprintf(target, sizeof(target), "%s?operation=GetCACert&message=x",
	    path);
	body = http_get(host, port, target, &status, &len);
	p = (const unsigned char *)body;
	if (body != NULL && status == 200 &&
	    (p7 = d2i_PKCS7(NULL, &p, (long)len)) != NULL &&
	    PKCS7_type_is_signed(p7) && p7->d.sign != NULL)
		certs = p7->d.sign->cert;
	for (i = 0; certs != NULL && i < sk_X509_num(certs); i++)
		same |= X509_cmp(sk_X509_value(certs, i), cacert) == 0;
	if (certs == NULL)
		report(d, FAIL, "GetCACert", fix, "no certificates in the reply");
	else if (!same)
		report(d, FAIL, "GetCACert", "the server on that port uses "
		    "another state_dir: point doctor at its configuration "
		    "(-c) or restart scepd", "the server's CA is not "
		    "STATE_DIR/ca.pem");
	else
		report(d, OK, "GetCACert", NULL, "%d certificates, the CA among "
		    "them", sk_X509_num(certs));
	PKCS7_free(p7);
	free(body);
	ERR_clear_error();
}

static void
check_ledger(struct doctor *d, const struct scepd_config *cfg, X509 *cacert)
{
	char path[PATH_MAX], result[256];
	const char *why = "";
	ledger *l = NULL;
	int64_t newest = 0, now = (int64_t)time(NULL) * 1000000;
	struct stat sb;

	if (!setup_ledger_path(cfg, path, sizeof(path)) || stat(path, &sb) != 0) {
		report(d, WARN, "ledger", "start scepd once to create it",
		    "%s does not exist yet", path);
		return;
	}
	if (ledger_open(path, &l, &why) != LEDGER_OK ||
	    ledger_check(l, result, sizeof(result), &newest) != LEDGER_OK) {
		report(d, FAIL, "ledger", "stop scepd, keep a copy, then "
		    "sqlite3 ledger.db '.recover' | sqlite3 new.db",
		    "%s: %s", path, l == NULL ? why : "cannot be read");
	} else if (strcmp(result, "ok") != 0) {
		report(d, FAIL, "ledger", "stop scepd, keep a copy, then "
		    "sqlite3 ledger.db '.recover' | sqlite3 new.db",
		    "integrity_check: %s", result);
	} else {
		report(d, OK, "ledger", NULL, "%s: integrity_check ok", path);
	}
	ledger_close(l);
	/* The clock: not before the CA, not behind the ledger's last event. */
	if (cacert != NULL && X509_cmp_current_time(X509_get0_notBefore(cacert)) > 0)
		report(d, FAIL, "clock", "set the clock (timedatectl "
		    "set-ntp true)", "before the CA's notBefore");
	else if (newest > now + 5LL * 60 * 1000000)
		report(d, FAIL, "clock", "set the clock (timedatectl "
		    "set-ntp true); events recorded meanwhile keep their times",
		    "%lld s behind the newest ledger event",
		    (long long)((newest - now) / 1000000));
	else
		report(d, OK, "clock", NULL, "after the CA's notBefore and the "
		    "newest ledger event");
}

int
doctor_run(const struct scepd_config *cfg, const char *conf_path,
    const char *config_error, FILE *out)
{
	struct doctor d = { out, 0, 0 };
	X509 *cacert = NULL, *ra = NULL;
	struct ca_params cp;
	const char *why = "";
	struct stat sb;

	memset(&cp, 0, sizeof(cp));
	if (cfg == NULL) {
		report(&d, FAIL, "config", "correct the line named, then "
		    "scepd -n -c FILE", "%s", config_error);
		goto out;
	}
	report(&d, OK, "config", NULL, "%s", conf_path != NULL ? conf_path :
	    "built-in defaults");
	if (stat(cfg->state_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		report(&d, FAIL, "state_dir", "start scepd once (it creates the "
		    "CA there), or set state_dir", "%s does not exist",
		    cfg->state_dir);
		goto out;
	}
	/* 0710: scepd started as root lets its user's group traverse it. */
	if ((sb.st_mode & 067) != 0)
		report(&d, WARN, "state_dir", "chmod 700 on it", "%s is mode "
		    "%04o", cfg->state_dir, (unsigned int)(sb.st_mode & 07777));
	if (!setup_ca_params(cfg, &cp, &why))
		report(&d, FAIL, "passphrase", "chmod 600 the file and put the "
		    "passphrase on its first line", "%s", why);
	else if (*cfg->key_passphrase_file != '\0')
		report(&d, OK, "passphrase", NULL, "%s", cfg->key_passphrase_file);
	if ((cacert = read_cert(cfg->state_dir, "ca.pem")) == NULL) {
		report(&d, FAIL, "CA", "start scepd once to create the CA, or "
		    "restore STATE_DIR/ca.pem", "%s/ca.pem missing or not PEM",
		    cfg->state_dir);
	} else {
		check_ca(&d, cacert);
		if (*cfg->ca_key != '\0')
			report(&d, OK, "CA key", NULL, "ca_key = %s (scepd checks "
			    "at start that it matches ca.pem)", cfg->ca_key);
		else
			check_key(&d, cfg->state_dir, "ca.key", cacert,
			    cp.passphrase);
	}
	if ((ra = read_cert(cfg->state_dir, "ra.pem")) == NULL)
		report(&d, FAIL, "RA", "restart scepd to issue an RA certificate",
		    "%s/ra.pem missing or not PEM", cfg->state_dir);
	else if (cacert != NULL)
		check_ra(&d, cacert, ra);
	if (ra != NULL)
		check_key(&d, cfg->state_dir, "ra.key", ra, cp.passphrase);
	if (cacert != NULL)
		check_server(&d, cfg, cacert);
	check_ledger(&d, cfg, cacert);
out:
	ca_params_wipe(&cp);
	fprintf(out, "%d failed, %d warnings\n", d.failed, d.warned);
	X509_free(cacert);
	X509_free(ra);
	return d.failed;
}
