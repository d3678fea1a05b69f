/*
 * rssfloor: the resident set of a process that does nothing but what
 * every scepd process needs its libraries for.
 *
 *   rssfloor KEY.pem DB
 *
 * Loads the private key and signs once with it (OpenSSL), opens DB as a
 * WAL database and writes a row (SQLite), and listens on 127.0.0.1 with
 * libmicrohttpd; then prints its RSS.  scripts/bench.sh puts it beside
 * scepd's idle RSS: most of either is these libraries' pages.
 */
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>

static enum MHD_Result
refuse(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data,
    size_t *size, void **state)
{
	(void)cls; (void)c; (void)url; (void)method; (void)version;
	(void)data; (void)size; (void)state;
	return MHD_NO;
}

/* A field of /proc/self/status in KiB, -1 if absent. */
static long
status_kb(const char *key)
{
	char line[256];
	size_t n = strlen(key);
	long kb = -1;
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			sscanf(line + n + 1, "%ld", &kb);
	fclose(f);
	return kb;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	struct MHD_Daemon *d = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	sqlite3 *db = NULL;
	unsigned char md[32] = { 0 }, sig[1024];
	size_t siglen = sizeof(sig);
	long rss, anon;
	FILE *f;
	int ret = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: rssfloor key.pem db\n");
		return 2;
	}
	if ((f = fopen(argv[1], "r")) == NULL) {
		perror(argv[1]);
		return 1;
	}
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (key == NULL || (ctx = EVP_PKEY_CTX_new(key, NULL)) == NULL ||
	    EVP_PKEY_sign_init(ctx) <= 0 ||
	    EVP_PKEY_sign(ctx, sig, &siglen, md, sizeof(md)) <= 0) {
		fprintf(stderr, "rssfloor: cannot sign with %s\n", argv[1]);
		goto out;
	}
	if (sqlite3_open(argv[2], &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode = WAL;"
	    " CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES (1);",
	    NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "rssfloor: %s: %s\n", argv[2],
		    db != NULL ? sqlite3_errmsg(db) : "cannot open");
		goto out;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL,
	    0, NULL, NULL, refuse, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "rssfloor: cannot listen on 127.0.0.1\n");
		goto out;
	}
	sleep(1);
	rss = status_kb("VmRSS");
	anon = status_kb("RssAnon");
	printf("rssfloor: RSS %ld KiB (private %ld KiB)\n", rss, anon);
	printf("result label=rssfloor rss_kb=%ld anon_kb=%ld\n", rss, anon);
	ret = 0;
out:
	if (d != NULL)
		MHD_stop_daemon(d);
	sqlite3_close(db);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	return ret;
}
