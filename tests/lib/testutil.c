#define _XOPEN_SOURCE 700 /* nftw */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <sqlite3.h>

#include "server/common/common.h"
#include "tests/lib/scep_client.h"
#include "tests/lib/testutil.h"

char *
tu_tmpdir(void)
{
	char tmpl[] = "/tmp/scepd-test-XXXXXX";
	char *d = mkdtemp(tmpl);

	return d != NULL ? strdup(d) : NULL;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
tu_rm_rf(const char *dir)
{
	if (dir != NULL)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

unsigned char *
tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)n + 1)) != NULL) {
		if (fread(b, 1, (size_t)n, f) != (size_t)n) {
			free(b);
			b = NULL;
		} else {
			b[n] = 0;
			*len = (size_t)n;
		}
	}
	fclose(f);
	return b;
}

const char *
tu_vectors(void)
{
	const char *v = getenv("SCEPD_VECTORS");

	return v != NULL ? v : "../shared/vectors";
}

/* BIO_new_file fails cleanly on a missing file; PEM_read_bio then never runs. */
X509 *
tu_read_cert(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

EVP_PKEY *
tu_read_key(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	EVP_PKEY *k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return k;
}

X509_REQ *
tu_read_csr(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	X509_REQ *r = b != NULL ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return r;
}

int
tu_run_suite(Suite *s, int legacy)
{
	SRunner *sr;
	int failed;

	/* The test client builds DES requests like micromdm's scepclient. */
	if (legacy && !setup_legacy_provider())
		return 1;
	/* Servers that refuse or die mid-request: EPIPE, not the runner's death. */
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	setup_providers_free();
	return failed == 0 ? 0 : 1;
}

const char *
tu_bin_dir(void)
{
	const char *b = getenv("SCEPD_BIN");

	return b != NULL ? b : "bin";
}

static int
spawn(struct tu_server *s)
{
	const char *const *extra = s->extra;
	char *argv[64], opt[3][1024], port_path[512], log_path[512], prog[512];
	char admin_path[512];
	int argc = 0, i, fd;
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	/* make valgrind: scepd under memcheck; a definite leak exits 99. */
	if (getenv("SCEPD_VALGRIND") != NULL && *getenv("SCEPD_VALGRIND")) {
		argv[argc++] = "valgrind";
		argv[argc++] = "--quiet";
		argv[argc++] = "--leak-check=full";
		argv[argc++] = "--errors-for-leak-kinds=definite";
		argv[argc++] = "--error-exitcode=99";
	}
	snprintf(prog, sizeof(prog), "%s/scepd", tu_bin_dir());
	snprintf(port_path, sizeof(port_path), "%s/port", s->dir);
	snprintf(log_path, sizeof(log_path), "%s/log", s->dir);
	snprintf(opt[0], sizeof(opt[0]), "state_dir=%s/var", s->dir);
	snprintf(opt[1], sizeof(opt[1]), "port_file=%s", port_path);
	snprintf(admin_path, sizeof(admin_path), "%s/admin_port", s->dir);
	snprintf(opt[2], sizeof(opt[2]), "admin_port_file=%s", admin_path);
	argv[argc++] = prog;
	argv[argc++] = "-c";
	argv[argc++] = (char *)(s->conf != NULL ? s->conf : "conf/scepd.conf");
	argv[argc++] = "-o";
	argv[argc++] = opt[0];
	argv[argc++] = "-o";
	argv[argc++] = opt[1];
	argv[argc++] = "-o";
	argv[argc++] = "listen=127.0.0.1:0";
	/* Servers run side by side: the admin API on a free port too. */
	argv[argc++] = "-o";
	argv[argc++] = "admin_listen=127.0.0.1:0";
	argv[argc++] = "-o";
	argv[argc++] = opt[2];
	if (s->conf == NULL) {		/* else the file says */
		argv[argc++] = "-o";
		argv[argc++] = "challenge=lab-secret";
	}
	/* Test directories are root's 0700: stay root (ops_test drops). */
	argv[argc++] = "-o";
	argv[argc++] = "user=root";
	argv[argc++] = "-o";
	argv[argc++] = "ca_key_bits=2048";
	argv[argc++] = "-o";
	argv[argc++] = "log_level=debug";
	for (i = 0; extra != NULL && extra[i] != NULL && argc < 60; i++) {
		argv[argc++] = "-o";
		argv[argc++] = (char *)extra[i];
	}
	argv[argc] = NULL;
	unlink(port_path);
	if ((s->pid = fork()) == 0) {
		fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	/* Up to 30 s (300 under valgrind): a first start makes keys. */
	for (i = 0; i < (argv[0] == prog ? 1500 : 15000); i++) {
		FILE *f = fopen(port_path, "r");
		int status;

		if (f != NULL) {
			if (fscanf(f, "%d", &s->port) == 1 && s->port > 0) {
				FILE *a = fopen(admin_path, "r");

				fclose(f);
				if (a != NULL) {
					if (fscanf(a, "%d", &s->admin_port) != 1)
						s->admin_port = 0;
					fclose(a);
				}
				return 1;
			}
			fclose(f);
		}
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			return 0;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}

int
tu_server_start(struct tu_server *s, const char *const *extra)
{
	return tu_server_start_conf(s, NULL, extra);
}

int
tu_server_start_conf(struct tu_server *s, const char *conf,
    const char *const *extra)
{
	memset(s, 0, sizeof(*s));
	s->extra = extra;
	s->conf = conf;
	if ((s->dir = tu_tmpdir()) == NULL)
		return 0;
	return spawn(s);
}

int
tu_server_restart(struct tu_server *s)
{
	int status;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		if (waitpid(s->pid, &status, 0) != s->pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			return 0;
	}
	s->pid = 0;
	s->port = 0;
	return spawn(s);
}

int
tu_server_stop(struct tu_server *s)
{
	char log_path[512], *log;
	size_t n;
	int status = 0, clean = 1;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, &status, 0);
		/* A sanitizer report makes scepd exit non-zero: show why. */
		clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	if (!clean && s->dir != NULL) {
		snprintf(log_path, sizeof(log_path), "%s/log", s->dir);
		if ((log = (char *)tu_read_file(log_path, &n)) != NULL) {
			fprintf(stderr, "scepd did not exit cleanly; its log:\n%s\n",
			    log);
			free(log);
		}
	}
	tu_rm_rf(s->dir);
	free(s->dir);
	memset(s, 0, sizeof(*s));
	return clean;
}

X509 *
tu_server_cert(const struct tu_server *s, const char *which)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/var/%s.pem", s->dir, which);
	return tu_read_cert(path);
}

char *
tu_capture(const char *cmd, int *status)
{
	char *out = NULL, *more;
	size_t len = 0, cap = 0;
	FILE *p;
	int c, st;

	if ((p = popen(cmd, "r")) == NULL)
		return NULL;
	while ((c = fgetc(p)) != EOF) {
		if (len + 2 > cap) {
			cap = cap ? cap * 2 : 65536;
			if ((more = realloc(out, cap)) == NULL)
				break;
			out = more;
		}
		out[len++] = (char)c;
	}
	if (out == NULL)
		out = calloc(1, 1);
	else
		out[len] = '\0';
	st = pclose(p);
	if (status != NULL)
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

char *
tu_scepctl(const struct tu_server *s, const char *args)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "%s/scepctl -c conf/scepd.conf -o "
	    "state_dir=%s/var %s", tu_bin_dir(), s->dir, args);
	return tu_capture(cmd, NULL);
}

static int
write_all(int fd, const void *b, size_t n)
{
	const char *p = b;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0;
		p += w;
		n -= (size_t)w;
	}
	return 1;
}

int
tu_http(int port, const char *method, const char *target, const char *ctype,
    const unsigned char *body, size_t len, struct tu_http *h)
{
	return tu_http_h(port, method, target, NULL, ctype, body, len, h);
}

int
tu_http_h(int port, const char *method, const char *target,
    const char *headers, const char *ctype, const unsigned char *body,
    size_t len, struct tu_http *h)
{
	struct sockaddr_in sin;
	struct timeval tv = { 60, 0 };
	char *head = NULL, *resp = NULL, *p, *end;
	size_t rlen = 0, cap = 0, hlen;
	int fd, ok = 0;

	memset(h, 0, sizeof(*h));
	h->clen = -1;
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		goto out;
	hlen = strlen(target) + (headers ? strlen(headers) : 0) + 512;
	head = malloc(hlen);
	snprintf(head, hlen, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	    "User-Agent: scepd-test/1\r\nConnection: close\r\n%s%s%s%s",
	    method, target, port, ctype ? "Content-Type: " : "",
	    ctype ? ctype : "", ctype ? "\r\n" : "", headers ? headers : "");
	if (body != NULL || strcmp(method, "POST") == 0)
		snprintf(head + strlen(head), hlen - strlen(head),
		    "Content-Length: %zu\r\n", len);
	strcat(head, "\r\n");
	/* A failed write is not fatal: the server may answer early (413). */
	if (write_all(fd, head, strlen(head)) && len > 0)
		(void)write_all(fd, body, len);
	for (;;) {
		ssize_t n;

		if (rlen + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 131072;
			resp = realloc(resp, cap);
		}
		n = read(fd, resp + rlen, cap - rlen - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		rlen += (size_t)n;
	}
	if (resp == NULL)
		goto out;
	resp[rlen] = '\0';
	if (sscanf(resp, "HTTP/1.%*d %d", &h->status) != 1)
		goto out;
	if ((end = strstr(resp, "\r\n\r\n")) == NULL)
		goto out;
	*end = '\0';
	for (p = strstr(resp, "\r\n"); p != NULL && p < end;
	    p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, "Content-Type: ", 14) == 0)
			sscanf(p + 16, "%127[^\r\n]", h->ctype);
		if (strncasecmp(p + 2, "Content-Length: ", 16) == 0)
			h->clen = atol(p + 18);
	}
	h->len = rlen - (size_t)(end + 4 - resp);
	h->body = malloc(h->len + 1);
	memcpy(h->body, end + 4, h->len);
	h->body[h->len] = 0;
	ok = 1;
out:
	free(head);
	free(resp);
	close(fd);
	return ok;
}

void
tu_http_free(struct tu_http *h)
{
	free(h->body);
	memset(h, 0, sizeof(*h));
}

char *
tu_pct(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
		    c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* Enroll with this challenge; the CertRep's pkiStatus (and cert's days). */
int
tu_enroll(const struct tu_server *s, const char *challenge, int *days)
{
	struct tc_opts o = { .cn = "iphone-7", .challenge = challenge };
	X509 *ra = tu_server_cert(s, "ra");
	struct tc_req req;
	struct tc_rep rep;
	struct tu_http h;
	int status;

	ck_assert(tc_build(&o, ra, &req));
	ck_assert(tu_http(s->port, "POST", "/certsrv/mscep/mscep.dll"
	    "?operation=PKIOperation", "application/x-pki-message", req.der,
	    req.len, &h));
	ck_assert_int_eq(h.status, 200);
	ck_assert(tc_parse_certrep(h.body, h.len, &req, &rep));
	status = rep.status;
	if (days != NULL && rep.cert != NULL) {
		int d = 0, sec = 0;

		ASN1_TIME_diff(&d, &sec, X509_get0_notBefore(rep.cert),
		    X509_get0_notAfter(rep.cert));
		*days = d;
	}
	tc_rep_free(&rep);
	tc_req_free(&req);
	tu_http_free(&h);
	X509_free(ra);
	return status;
}

int
tu_enroll_status(const struct tu_server *s, const char *challenge)
{
	return tu_enroll(s, challenge, NULL);
}

/* How often text occurs in the server's log. */
int
tu_log_count(const struct tu_server *s, const char *text)
{
	char path[600], *log, *p;
	size_t n;
	int count = 0;

	snprintf(path, sizeof(path), "%s/log", s->dir);
	if ((log = (char *)tu_read_file(path, &n)) == NULL)
		return 0;
	for (p = log; (p = strstr(p, text)) != NULL; p += strlen(text))
		count++;
	free(log);
	return count;
}

/* SIGHUP, then wait (up to 10 s) until the log says text once more. */
void
tu_hup_and_wait(const struct tu_server *s, const char *text)
{
	int before = tu_log_count(s, text), i;
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	ck_assert_int_eq(kill(s->pid, SIGHUP), 0);
	for (i = 0; i < 500 && tu_log_count(s, text) == before; i++)
		nanosleep(&ts, NULL);
	ck_assert_msg(tu_log_count(s, text) > before, "no \"%s\" after SIGHUP",
	    text);
}

/* Run a SQL query on a server's ledger; first column of first row. */
char *
tu_ledger_query(const struct tu_server *s, const char *sql, const char *arg)
{
	char path[512], *out = NULL;
	sqlite3 *db;
	sqlite3_stmt *st;

	snprintf(path, sizeof(path), "%s/var/data/ledger.db", s->dir);
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK,
	    "%s", sqlite3_errmsg(db));
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		out = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}
