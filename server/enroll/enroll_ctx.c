#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "server/enroll/enroll_int.h"

static int
ctx_init(struct enroll_ctx *e, ca *c, ledger *l)
{
	int i;

	e->ca = c;
	e->ledger = l;
	if (ca_id(c, e->ca_id) != CA_OK)
		return 0;
	for (i = 0; i < ENROLL_STRIPES; i++)
		if (pthread_mutex_init(&e->stripes[i], NULL) != 0)
			return 0;
	return pthread_rwlock_init(&e->reload_lock, NULL) == 0;
}

static void
profile_from_config(struct enroll_profile *ep, const char *name, int days,
    const char *eku, const struct scepd_config *cfg, int approval)
{
	memset(ep, 0, sizeof(*ep));
	ep->name = name;
	ep->cp.days = days > 0 ? days : cfg->cert_days;
	ep->cp.eku = eku != NULL ? eku : cfg->eku;
	ep->cp.crl_url = cfg->crl_url;
	ep->manual = (approval >= 0 ? approval : cfg->approval) == APPROVAL_MANUAL;
}

int
enroll_profile_index(const struct enroll_ctx *e, const char *name)
{
	int i;

	if (name == NULL || *name == '\0')
		return 0;
	for (i = 0; i < e->n_profiles; i++)
		if (strcmp(e->profiles[i].name, name) == 0)
			return i;
	return -1;
}

static int
profiles_from_config(struct enroll_ctx *e, const struct scepd_config *cfg,
    const char **why)
{
	const char *by_ku[3];
	int i;

	profile_from_config(&e->profiles[0], "default", cfg->cert_days, cfg->eku,
	    cfg, -1);
	e->n_profiles = 1;
	for (i = 0; i < cfg->n_profiles; i++) {
		const struct scepd_profile *p = &cfg->profiles[i];
		struct enroll_profile *ep = &e->profiles[e->n_profiles++];

		profile_from_config(ep, p->name, p->days, p->eku, cfg, p->approval);
		ep->cp.key_usage = p->key_usage;
		ep->cp.san_policy = p->san_policy;
		ep->cp.san_allow = p->san_allow;
		ep->cp.subject = p->subject;
	}
	for (i = 0; i < e->n_profiles; i++) {
		if (ca_profile_check(&e->profiles[i].cp, why) != CA_OK) {
			log_error("profile %s: %s", e->profiles[i].name, *why);
			return 0;
		}
	}
	by_ku[CA_KU_GENERAL] = cfg->profile_general;
	by_ku[CA_KU_SIGNATURE] = cfg->profile_signature;
	by_ku[CA_KU_ENCRYPTION] = cfg->profile_encryption;
	for (i = 0; i < 3; i++) {
		if ((e->by_ku[i] = enroll_profile_index(e, by_ku[i])) < 0) {
			*why = "profile_signature/encryption/general names no profile";
			return 0;
		}
	}
	return 1;
}

/* A context holding only cfg's profiles (checked), or NULL with *why. */
static struct enroll_ctx *
with_profiles(const struct scepd_config *cfg, const char **why)
{
	struct enroll_ctx *e;

	if ((e = calloc(1, sizeof(*e))) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	if (!profiles_from_config(e, cfg, why)) {
		free(e);
		return NULL;
	}
	return e;
}

int
enroll_check_config(const struct scepd_config *cfg, const char **why)
{
	struct enroll_ctx *scratch = with_profiles(cfg, why);
	int ok = scratch != NULL;

	free(scratch);
	return ok;
}

/*
 * The settings a SIGHUP may change (besides profiles and the password):
 * challenge mode and program, clock and renewal rules, failure limits.
 */
static void
reloadable(struct enroll_ctx *e, const struct scepd_config *cfg)
{
	e->challenge_mode = cfg->challenge_mode;
	e->challenge_exec = cfg->challenge_exec;
	e->challenge_exec_timeout = cfg->challenge_exec_timeout;
	e->max_clock_skew = cfg->max_clock_skew;
	e->renewal_window = cfg->renewal_window;
	e->renewal_keep_subject = cfg->renewal_subject == RENEWAL_SUBJECT_SAME;
	pthread_mutex_lock(&e->failures.mu);
	e->failures.limit = cfg->challenge_failures;
	e->failures.window = cfg->challenge_failure_window;
	pthread_mutex_unlock(&e->failures.mu);
}

int
enroll_new(const struct scepd_config *cfg, ca *c, ledger *l,
    const unsigned char *nextca, size_t nextca_len, struct enroll_ctx **out,
    const char **why)
{
	struct enroll_ctx *e;

	*out = NULL;
	if ((e = with_profiles(cfg, why)) == NULL)
		return 0;
	if (!ctx_init(e, c, l)) {
		*why = "cannot initialise";
		free(e);
		return 0;
	}
	if (nextca != NULL) {
		if ((e->nextca = malloc(nextca_len)) == NULL) {
			*why = "out of memory";
			enroll_free(e);
			return 0;
		}
		memcpy(e->nextca, nextca, nextca_len);
		e->nextca_len = nextca_len;
	}
	/* What a restart changes; reloadable() what SIGHUP changes too. */
	e->allow_legacy = cfg->legacy_algorithms;
	e->state_dir = cfg->state_dir;
	e->crl_days = cfg->crl_days;
	ratelimit_init(&e->failures, cfg->challenge_failures,
	    cfg->challenge_failure_window);
	reloadable(e, cfg);
	*out = e;
	return 1;
}

void
enroll_free(struct enroll_ctx *e)
{
	int i;

	if (e == NULL)
		return;
	for (i = 0; i < ENROLL_STRIPES; i++)
		pthread_mutex_destroy(&e->stripes[i]);
	pthread_rwlock_destroy(&e->reload_lock);
	OPENSSL_cleanse(&e->challenge, sizeof(e->challenge));
	free(e->nextca);
	free(e);
}

/* Copy a password hash in; the fast path starts empty again. */
static void
set_challenge(struct enroll_ctx *e, const struct challenge *ch)
{
	OPENSSL_cleanse(&e->challenge, sizeof(e->challenge));
	e->challenge.required = ch->required;
	e->challenge.iterations = ch->iterations;
	memcpy(e->challenge.salt, ch->salt, sizeof(ch->salt));
	memcpy(e->challenge.hash, ch->hash, sizeof(ch->hash));
	atomic_store(&e->challenge.fast_state, 0);
}

void
enroll_set_challenge(struct enroll_ctx *e, const struct challenge *ch)
{
	pthread_rwlock_wrlock(&e->reload_lock);
	set_challenge(e, ch);
	pthread_rwlock_unlock(&e->reload_lock);
}

int
enroll_reload(struct enroll_ctx *e, const struct scepd_config *cfg,
    const struct challenge *ch, const char **why)
{
	struct enroll_ctx *fresh;

	/* Check the new profiles aside; apply them all or none. */
	if ((fresh = with_profiles(cfg, why)) == NULL)
		return 0;
	pthread_rwlock_wrlock(&e->reload_lock);
	memcpy(e->profiles, fresh->profiles, sizeof(e->profiles));
	e->n_profiles = fresh->n_profiles;
	memcpy(e->by_ku, fresh->by_ku, sizeof(e->by_ku));
	set_challenge(e, ch);
	reloadable(e, cfg);
	pthread_rwlock_unlock(&e->reload_lock);
	free(fresh);
	return 1;
}

int
enroll_delivered(struct enroll_ctx *e, int64_t op_id, int complete,
    const char *termination)
{
	char detail[64];

	snprintf(detail, sizeof(detail), "{\"termination\":\"%s\"}",
	    termination);
	/* Nothing waits on this row: it rides the next group commit. */
	if (ledger_add_event_later(e->ledger, op_id, complete ?
	    "response_complete" : "response_aborted", "server",
	    detail) != LEDGER_OK) {
		log_error("ledger: cannot record delivery of row %lld",
		    (long long)op_id);
		return 0;
	}
	return 1;
}

int
enroll_cacert(const struct enroll_ctx *e, unsigned char **out, size_t *out_len,
    const char **type)
{
	STACK_OF(X509) *certs = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	int n, ok = 0;

	*out = NULL;
	if (ca_ra_cert_get0(e->ca) == NULL) {
		if ((n = i2d_X509(ca_cert_get0(e->ca), &der)) <= 0)
			return 0;
		len = (size_t)n;
		*type = "application/x-x509-ca-cert";
	} else {
		if ((certs = sk_X509_new_null()) == NULL ||
		    !sk_X509_push(certs, ca_ra_cert_get0(e->ca)) ||
		    !sk_X509_push(certs, ca_cert_get0(e->ca)) ||
		    scep_certs_only_der(certs, NULL, &der, &len) != SCEP_OK)
			goto out;
		*type = "application/x-x509-ca-ra-cert";
	}
	if ((*out = malloc(len)) == NULL)
		goto out;
	memcpy(*out, der, len);
	*out_len = len;
	ok = 1;
out:
	OPENSSL_free(der);
	sk_X509_free(certs);
	return ok;
}

const unsigned char *
enroll_nextca(const struct enroll_ctx *e, size_t *len)
{
	*len = e->nextca_len;
	return e->nextca;
}

int
enroll_has_next_ca(const struct enroll_ctx *e)
{
	return ca_next(e->ca) != NULL;
}

unsigned char *
enroll_crl(const struct enroll_ctx *e, const char *id, size_t *len, int *known)
{
	const ca *gen = ca_by_id(e->ca, id);

	*known = gen != NULL;
	return gen != NULL ? crl_read(gen, e->state_dir, len) : NULL;
}

int
enroll_refresh_crls(struct enroll_ctx *e, const char **why)
{
	size_t i, n = ca_previous_count(e->ca);
	int published, ok = 1;

	for (i = 0; i <= n; i++) {
		const ca *gen = i == 0 ? e->ca : ca_previous(e->ca, i - 1);

		if (!crl_refresh(gen, e->ledger, e->state_dir, e->crl_days,
		    &published, why)) {
			log_error("CRL: %s", *why);
			ok = 0;
		} else if (published) {
			log_info("CRL %zu of %zu published", i + 1, n + 1);
		}
	}
	return ok;
}

int
enroll_ca_thumbprint(const struct enroll_ctx *e, char *out, size_t cap)
{
	return ca_thumbprint(ca_cert_get0(e->ca), EVP_sha256(), out, cap) == CA_OK;
}
