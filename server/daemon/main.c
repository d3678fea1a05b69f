/*
 * scepd: a SCEP server (RFC 8894) that replaces NDES in labs and small
 * fleets, and records every request and certificate in a ledger.
 */
#include <pthread.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "server/common/common.h"
#include "server/admin/admin.h"
#include "server/enroll/enroll.h"
#include "server/daemon/daemon.h"
#include "server/http/http.h"
#include "server/privsep/privsep.h"

#define MAX_OVERRIDES 64

/* On a mistake to standard error (exit 2); asked for, standard output. */
static void
usage(int asked)
{
	fprintf(asked ? stdout : stderr,
	    "usage: scepd [-hnV] [-c file] [-o key=value ...]\n"
	    "  -c file       the configuration (default %s)\n"
	    "  -o key=value  override one configuration key; repeatable\n"
	    "  -n            check the configuration and exit\n"
	    "  -V            print the version and exit\n"
	    "  -h, --help    this text\n"
	    "See scepd(8) and scepd.conf(5); scepctl(8) for the ledger.\n",
	    SCEPD_DEFAULT_CONF);
	exit(asked ? 0 : 2);
}

/* Republishes the CRLs before their nextUpdate; stops when told. */
struct refresher {
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 stop;
	int		 running;
	struct enroll_ctx *e;
};

static void *
refresh_loop(void *arg)
{
	struct refresher *r = arg;
	struct timespec until;
	const char *why = "";

	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 60;
		pthread_cond_timedwait(&r->cv, &r->mu, &until);
		if (r->stop)
			break;
		pthread_mutex_unlock(&r->mu);
		enroll_refresh_crls(r->e, &why);
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static void
refresher_stop(struct refresher *r)
{
	if (!r->running)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	r->running = 0;
}

static void
banner(const struct scepd_config *cfg, const ca *c, int port,
    const char *host, int ca_created, const char *new_challenge,
    const struct challenge *ch, int admin_page, int api_port)
{
	char sha256[SETUP_THUMB_LEN], sha1[SETUP_THUMB_LEN];
	char *subject = ca_name_oneline(X509_get_subject_name(ca_cert_get0(c)));
	const char *open6 = strchr(host, ':') ? "[" : "";
	const char *close6 = strchr(host, ':') ? "]" : "";

	setup_thumbprint(ca_cert_get0(c), EVP_sha256(), sha256);
	setup_thumbprint(ca_cert_get0(c), EVP_sha1(), sha1);
	printf("scepd %s ready%s\n", SCEPD_VERSION,
	    ca_created ? " (new CA and RA created)" : "");
	printf("  SCEP URL:        http://%s%s%s:%d/certsrv/mscep/mscep.dll\n",
	    open6, host, close6, port);
	printf("  CA:              %s\n", subject ? subject : "?");
	printf("  CA SHA-256:      %s\n", sha256);
	printf("  CA SHA-1:        %s\n", sha1);
	{
		char id[CA_ID_LEN + 1];

		if (ca_id(c, id) == CA_OK)
			printf("  CRL:             http://%s%s%s:%d/crl/%s.crl\n",
			    open6, host, close6, port, id);
	}
	if (cfg->challenge_mode == CHALLENGE_NONE ||
	    (cfg->challenge_mode == CHALLENGE_STATIC && !ch->required))
		printf("  challenge:       none required\n");
	else if (cfg->challenge_mode == CHALLENGE_ONETIME)
		printf("  challenge:       one-time: `scepctl challenge new`%s\n",
		    admin_page ? " or /certsrv/mscep_admin/" : "");
	else if (cfg->challenge_mode == CHALLENGE_EXEC)
		printf("  challenge:       decided by %s\n", cfg->challenge_exec);
	else if (*new_challenge != '\0')
		printf("  challenge:       %s\n", new_challenge);
	else if (strcmp(cfg->challenge, "auto") == 0)
		printf("  challenge:       (generated earlier, stored hashed; "
		    "new one: scepctl challenge reset)\n");
	else
		printf("  challenge:       (from the configuration)\n");
	if (ca_next(c) != NULL) {
		char next[SETUP_THUMB_LEN];

		printf("  next CA SHA-256: %s (GetNextCACert; `scepctl ca "
		    "activate` switches)\n", setup_thumbprint(
		    ca_cert_get0(ca_next(c)), EVP_sha256(), next));
	}
	if (ca_previous_count(c) > 0)
		printf("  previous CAs:    %zu (their certificates still verify)\n",
		    ca_previous_count(c));
	if (api_port > 0 && *cfg->admin_token != '\0')
		printf("  admin API:       http://%s:%d/api/v1/transactions (bearer "
		    "token: admin_token in the configuration)\n",
		    *cfg->admin_listen == '[' ? "[::1]" : "127.0.0.1", api_port);
	else if (api_port > 0)
		printf("  admin API:       http://%s:%d/api/v1/transactions (bearer "
		    "token: %s/admin.token)\n", *cfg->admin_listen == '[' ?
		    "[::1]" : "127.0.0.1", api_port, cfg->state_dir);
	printf("  state:           %s\n", cfg->state_dir);
	fflush(stdout);
	free(subject);
}

/*
 * With privsep (the default) the CA keys live in the signer process, which
 * also creates the CA on first start; this process reads certificates and
 * the RA key only.  Without an RA the CA key signs every CertRep, so it
 * has to be here after all.
 */
static int
open_ca(const struct scepd_config *cfg, const struct ca_params *cp,
    struct sandbox *sb, ca **c, signer **sg, int *created, const char **why)
{
	int rv;

	*c = NULL;
	*sg = NULL;
	if (!cfg->privsep)
		return ca_open(cfg->state_dir, cp, created, c, why);
	/* A channel per worker, one for the CRL refresher, one spare. */
	rv = signer_start(cfg->state_dir, cp, setup_worker_threads(cfg) + 2,
	    sandbox_confine_signer, sb, created, sg, why);
	if (rv == CA_OK)
		rv = ca_open_keyless(cfg->state_dir, cp, c, why);
	if (rv != CA_OK)
		return rv;
	if (ca_ra_cert_get0(*c) == NULL) {
		log_warn("no RA (ra_subject is empty): the CA key signs "
		    "replies, so it stays in the network-facing process");
		signer_stop(*sg);
		*sg = NULL;
		ca_free(*c);
		return ca_open(cfg->state_dir, cp, NULL, c, why);
	}
	signer_attach(*sg, *c);
	log_info("CA keys held by the signer process (pid %d)",
	    (int)signer_pid(*sg));
	return CA_OK;
}

int
main(int argc, char *argv[])
{
	struct scepd_config cfg;
	struct enroll_ctx *e = NULL;
	struct challenge static_challenge;
	struct ca_params cp;
	struct http_admin admin;
	char *overrides[MAX_OVERRIDES], err[CONFIG_ERR_MAX], path[4096];
	char new_challenge[CHALLENGE_GEN_LEN + 1], host[256];
	const char *conf = NULL, *why = "";
	http_server *http = NULL;
	admin_api *api = NULL;
	struct hook hook = { .running = 0 };
	struct reload rl;
	char token[ADMIN_TOKEN_LEN * 2 + 1];
	int api_port = 0;
	struct refresher refresher = { .mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER };
	ca *c = NULL;
	signer *sg = NULL;
	struct sandbox sb;
	unsigned char *nextca = NULL;
	ledger *l = NULL;
	size_t n = 0;
	sigset_t sigs;
	int ch, check_only = 0, created = 0, generated = 0, port = 0, sig;
	char ca_id_hex[CA_ID_LEN + 1];
	int admin_port;		/* admin_listen's, which may be 0 */
	const unsigned char *nextca_der = NULL;
	size_t nextca_len = 0;
	int ret = 1, rv;

	memset(&static_challenge, 0, sizeof(static_challenge));
	memset(&rl, 0, sizeof(rl));
	if (argc > 1 && strcmp(argv[1], "--help") == 0)
		usage(1);
	while ((ch = getopt(argc, argv, "c:hno:V")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'n':
			check_only = 1;
			break;
		case 'o':
			if (n == MAX_OVERRIDES)
				usage(0);
			overrides[n++] = optarg;
			break;
		case 'V':
			printf("scepd %s\n", SCEPD_VERSION);
			return 0;
		case 'h':
			usage(1);
			break;
		default:
			usage(0);
		}
	}
	if (optind != argc)
		usage(0);
	if (!setup_config(&cfg, conf, overrides, n, err, sizeof(err))) {
		fprintf(stderr, "scepd: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	log_set_level(cfg.log_level);
	log_set_target(cfg.log_target);
	if (!enroll_check_config(&cfg, &why)) {
		fprintf(stderr, "scepd: %s\n", why);
		goto out;
	}
	if (check_only) {
		printf("scepd: configuration OK\n");
		ret = 0;
		goto out;
	}
	/* Block the signals we wait for before any thread starts. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (cfg.legacy_algorithms && !setup_legacy_provider()) {
		log_error("cannot load OpenSSL's legacy provider (needed for "
		    "legacy_algorithms = yes)");
		goto out;
	}
	if (!setup_state_dir(cfg.state_dir, &why) ||
	    !setup_data_dir(cfg.state_dir, &why)) {
		log_error("%s: %s", cfg.state_dir, why);
		goto out;
	}
	if (!setup_ca_params(&cfg, &cp, &why)) {
		log_error("%s", why);
		goto out;
	}
	if (!sandbox_init(&sb, cfg.user, &why)) {
		log_error("%s", why);
		goto out;
	}
	rv = open_ca(&cfg, &cp, &sb, &c, &sg, &created, &why);
	ca_params_wipe(&cp);
	if (rv != CA_OK) {
		log_error("CA in %s: %s", cfg.state_dir, why);
		goto out;
	}
	if (sg != NULL) {
		nextca_der = signer_nextca(sg, &nextca_len);
	} else if (!signer_nextca_der(c, &nextca, &nextca_len)) {
		log_error("cannot sign the GetNextCACert reply");
		goto out;
	} else {
		nextca_der = nextca;
	}
	if (!setup_ledger_path(&cfg, path, sizeof(path)) ||
	    ledger_open(path, &l, &why) != LEDGER_OK) {
		log_error("ledger %s: %s", path, why);
		goto out;
	}
	/* Every way out says why (a silent exit 1 tells an admin nothing). */
	if (!enroll_new(&cfg, c, l, nextca_der, nextca_len, &e, &why)) {
		log_error("cannot initialise: %s", why);
		goto out;
	}
	if (ca_id(c, ca_id_hex) != CA_OK) {
		log_error("CA in %s: cannot compute its id", cfg.state_dir);
		goto out;
	}
	if (ledger_claim_unassigned(l, ca_id_hex) != LEDGER_OK ||
	    ledger_backfill_sha1(l, ca_sha1_hex) != LEDGER_OK) {
		log_error("ledger %s: cannot write (a read-only file, directory "
		    "or file system?)", path);
		goto out;
	}
	if (!enroll_refresh_crls(e, &why))
		goto out;			/* each failure logged as "CRL: ..." */
	refresher.e = e;
	if (pthread_create(&refresher.thread, NULL, refresh_loop, &refresher) != 0) {
		log_error("cannot start the CRL refresher");
		goto out;
	}
	refresher.running = 1;
	if (cfg.challenge_mode == CHALLENGE_STATIC) {
		if (!challenge_setup(&static_challenge, cfg.challenge,
		    cfg.state_dir, new_challenge, &generated, &why)) {
			log_error("%s", why);
			goto out;
		}
		enroll_set_challenge(e, &static_challenge);
	}
	if (cfg.challenge_mode == CHALLENGE_EXEC &&
	    !setup_executable(cfg.challenge_exec)) {
		log_error("challenge_exec: '%s' is not an executable absolute path",
		    cfg.challenge_exec);
		goto out;
	}
	memset(&admin, 0, sizeof(admin));
	admin.enabled = cfg.challenge_mode == CHALLENGE_ONETIME &&
	    *cfg.admin_password != '\0';
	admin.remote = cfg.admin_remote;
	admin.user = cfg.admin_user;
	admin.ttl = cfg.challenge_ttl;
	admin.max = cfg.challenge_max;
	if (admin.enabled) {
		int unused;

		if (strcmp(cfg.admin_password, "auto") == 0 ||
		    !challenge_setup(&admin.password, cfg.admin_password,
		    cfg.state_dir, new_challenge, &unused, &why)) {
			log_error("admin_password: want a password or a "
			    "pbkdf2-sha256 hash");
			goto out;
		}
		OPENSSL_cleanse(cfg.admin_password, strlen(cfg.admin_password));
	}
	/* Only the hash stays in memory. */
	if (strcmp(cfg.challenge, "auto") != 0 &&
	    cfg.challenge_mode == CHALLENGE_STATIC)
		OPENSSL_cleanse(cfg.challenge, strlen(cfg.challenge));
	if (!http_start(&cfg, e, &admin, &http, &port, &why)) {
		log_error("%s: %s", cfg.listen, why);
		goto out;
	}
	if (*cfg.hook_command != '\0') {
		if (!setup_executable(cfg.hook_command)) {
			log_error("hook_command: '%s' is not an executable absolute "
			    "path", cfg.hook_command);
			goto out;
		}
		if (!hook_start(&hook, l, cfg.hook_command, cfg.hook_timeout)) {
			log_error("cannot start the hook thread");
			goto out;
		}
	}
	/* The admin API: loopback by default, a bearer token always. */
	if (*cfg.admin_listen != '\0') {
		if (!admin_api_token(&cfg, token, sizeof(token), &why) ||
		    !admin_api_start(cfg.admin_listen, token, l, &api, &api_port,
		    &why)) {
			log_error("admin API %s: %s", cfg.admin_listen, why);
			goto out;
		}
		OPENSSL_cleanse(token, sizeof(token));
		if (*cfg.admin_port_file != '\0' &&
		    !setup_port_file(cfg.admin_port_file, api_port)) {
			log_error("cannot write admin_port_file");
			goto out;
		}
		/* The address alone: admin_listen's port may be 0. */
		if (!config_listen_parse(cfg.admin_listen, host, sizeof(host),
		    &admin_port))
			snprintf(host, sizeof(host), "%s", cfg.admin_listen);
		log_info("admin API on %s port %d (bearer token: %s%s)", host,
		    api_port, *cfg.admin_token ? "from the configuration" :
		    cfg.state_dir, *cfg.admin_token ? "" : "/admin.token");
	}
	if (*cfg.port_file != '\0' && !setup_port_file(cfg.port_file, port)) {
		log_error("cannot write port_file %s", cfg.port_file);
		goto out;
	}
	/* Ports bound, keys read: root is not needed any more. */
	if (!sandbox_give(&sb, cfg.state_dir, &why) ||
	    !sandbox_drop(&sb, &why)) {
		log_error("%s", why);
		goto out;
	}
	if (sb.drop)
		log_info("running as %s (uid %d)", sb.user, (int)sb.uid);
	if (!config_listen_parse(cfg.listen, host, sizeof(host), &sig)) {
		log_error("listen: cannot parse '%s'", cfg.listen);
		goto out;
	}
	banner(&cfg, c, port, host, created, new_challenge, &static_challenge,
	    admin.enabled, api_port);
	OPENSSL_cleanse(new_challenge, sizeof(new_challenge));
	log_info("listening on %s port %d", host, port);
	rl.conf = conf;
	rl.overrides = overrides;
	rl.n_overrides = n;
	rl.enroll = e;
	rl.http = http;
	rl.running = &cfg;
	/*
	 * SIGHUP reloads; SIGTERM and SIGINT finish what is in flight and
	 * exit.  Once a second, daemons a reload replaced are reaped.
	 */
	for (;;) {
		struct timespec second = { 1, 0 };

		if ((sig = sigtimedwait(&sigs, NULL, &second)) == SIGHUP) {
			reload_config(&rl);
		} else if (sig < 0 && (errno == EAGAIN || errno == EINTR)) {
			http_reap(http);
			if (sg != NULL && !signer_alive(sg)) {
				log_error("the CA signer process exited; stopping");
				goto out;
			}
		} else {
			break;
		}
	}
	log_info("signal %d: shutting down", sig);
	ret = 0;
out:
	http_stop(http);
	admin_api_stop(api);
	hook_stop(&hook);
	refresher_stop(&refresher);
	enroll_free(e);
	OPENSSL_cleanse(&static_challenge, sizeof(static_challenge));
	ledger_close(l);
	if (!signer_stop(sg) && ret == 0) {
		log_error("the CA signer process did not exit cleanly");
		ret = 1;
	}
	ca_free(c);
	OPENSSL_free(nextca);
	config_free(&cfg);
	reload_free(&rl);
	setup_providers_free();
	return ret;
}
