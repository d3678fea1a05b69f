#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "server/common/common.h"
#include "server/daemon/daemon.h"

/* Say which keys changed that only a restart applies. */
static void
warn_restart_only(const struct scepd_config *a, const struct scepd_config *b)
{
#define SAME_STR(k) (strcmp(a->k, b->k) == 0)
#define SAME_INT(k) (a->k == b->k)
	static const char fmt[] = "reload: %s changed; restart scepd to apply it";

	if (!SAME_STR(listen))
		log_warn(fmt, "listen");
	if (!SAME_STR(admin_listen))
		log_warn(fmt, "admin_listen");
	if (!SAME_STR(state_dir))
		log_warn(fmt, "state_dir");
	if (!SAME_STR(hook_command))
		log_warn(fmt, "hook_command");
	if (!SAME_INT(threads))
		log_warn(fmt, "threads");
	if (!SAME_INT(legacy_algorithms))
		log_warn(fmt, "legacy_algorithms");
	if (!SAME_INT(crl_days))
		log_warn(fmt, "crl_days");
	if (!SAME_INT(privsep))
		log_warn(fmt, "privsep");
	if (!SAME_STR(user))
		log_warn(fmt, "user");
#undef SAME_STR
#undef SAME_INT
}

void
reload_config(struct reload *r)
{
	struct scepd_config *cfg, **more;
	struct challenge ch;
	char err[CONFIG_ERR_MAX], plain[CHALLENGE_GEN_LEN + 1] = "";
	const char *why = "";
	int generated = 0;

	memset(&ch, 0, sizeof(ch));
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (more = realloc(r->retired, (r->n_retired + 1) *
	    sizeof(*r->retired))) == NULL) {
		log_error("reload: out of memory; the running configuration stays");
		free(cfg);
		return;
	}
	r->retired = more;
	if (!setup_config(cfg, r->conf, r->overrides, r->n_overrides, err,
	    sizeof(err))) {
		log_error("reload: %s; the running configuration stays", err);
		goto fail;
	}
	if (strcmp(cfg->state_dir, r->running->state_dir) != 0) {
		log_error("reload: state_dir changed; restart scepd for that. "
		    "The running configuration stays");
		goto fail;
	}
	if (cfg->challenge_mode == CHALLENGE_STATIC &&
	    !challenge_setup(&ch, cfg->challenge, cfg->state_dir, plain,
	    &generated, &why)) {
		log_error("reload: challenge: %s; the running configuration "
		    "stays", why);
		goto fail;
	}
	if (generated)	/* the hash file had gone: show the new one once */
		printf("scepd: reload: new challenge password: %s\n", plain);
	OPENSSL_cleanse(plain, sizeof(plain));
	if (cfg->challenge_mode == CHALLENGE_STATIC &&
	    strcmp(cfg->challenge, "auto") != 0)
		OPENSSL_cleanse(cfg->challenge, strlen(cfg->challenge));
	if (cfg->challenge_mode == CHALLENGE_EXEC &&
	    !setup_executable(cfg->challenge_exec)) {
		log_error("reload: challenge_exec '%s' is not an executable "
		    "absolute path; the running configuration stays",
		    cfg->challenge_exec);
		goto fail;
	}
	if (!enroll_reload(r->enroll, cfg, &ch, &why)) {
		log_error("reload: %s; the running configuration stays", why);
		goto fail;
	}
	why = NULL;
	if (!http_reload(r->http, cfg, &why))
		log_error("reload: %s", why);
	log_set_level(cfg->log_level);
	warn_restart_only(r->running, cfg);
	/* Requests may still point into the old one: keep it until exit. */
	if (r->latest != NULL)
		r->retired[r->n_retired++] = r->latest;
	r->latest = cfg;
	r->running = cfg;
	OPENSSL_cleanse(&ch, sizeof(ch));
	log_info("reload: %s re-read; challenge, profiles, renewal, clock "
	    "skew, challenge_failures, connection limits, deadlines, "
	    "max_body and log_level applied",
	    r->conf != NULL ? r->conf : SCEPD_DEFAULT_CONF);
	return;
fail:
	OPENSSL_cleanse(&ch, sizeof(ch));
	OPENSSL_cleanse(plain, sizeof(plain));
	config_free(cfg);
	free(cfg);
}

void
reload_free(struct reload *r)
{
	size_t i;

	for (i = 0; i < r->n_retired; i++) {
		config_free(r->retired[i]);
		free(r->retired[i]);
	}
	free(r->retired);
	if (r->latest != NULL) {
		config_free(r->latest);
		free(r->latest);
	}
	memset(r, 0, sizeof(*r));
}
