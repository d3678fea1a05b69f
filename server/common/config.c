#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/common/common.h"

enum kind { K_STR, K_INT, K_BOOL, K_SIZE, K_SECONDS, K_ENUM, K_LISTEN };

struct key {
	const char	*name;
	enum kind	 kind;
	size_t		 off;
	long		 min, max;
	const char *const *choices;	/* K_ENUM: NULL-terminated, by value */
};

static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const log_targets[] = { "stderr", "syslog", NULL };
static const char *const renewal_subjects[] = { "same", "csr", NULL };
static const char *const approvals[] = { "auto", "manual", NULL };
static const char *const key_types[] = { "rsa", "ec-p256", "ec-p384", NULL };
static const char *const san_policies[] = { "copy", "allow", "require", NULL };
static const char *const challenge_modes[] = { "none", "static", "onetime",
    "exec", NULL };

#define F(m) offsetof(struct scepd_config, m)

static const struct key keys[] = {
	{ "listen",			K_LISTEN,   F(listen), 0, 0, NULL },
	{ "port_file",			K_STR,      F(port_file), 0, 0, NULL },
	{ "state_dir",			K_STR,      F(state_dir), 1, 0, NULL },
	{ "challenge",			K_STR,      F(challenge), 0, 0, NULL },
	{ "legacy_algorithms",		K_BOOL,     F(legacy_algorithms), 0, 1, NULL },
	{ "ca_key_bits",		K_INT,      F(ca_key_bits), 2048, 8192, NULL },
	{ "ca_subject",			K_STR,      F(ca_subject), 1, 0, NULL },
	{ "ca_days",			K_INT,      F(ca_days), 1, 36500, NULL },
	{ "ra_subject",			K_STR,      F(ra_subject), 0, 0, NULL },
	{ "cert_days",			K_INT,      F(cert_days), 1, 36500, NULL },
	{ "eku",			K_STR,      F(eku), 0, 0, NULL },
	{ "max_body",			K_SIZE,     F(max_body), 1024, 64L << 20, NULL },
	{ "max_url",			K_SIZE,     F(max_url), 1024, 1L << 20, NULL },
	{ "max_connections",		K_INT,      F(max_connections), 1, 100000, NULL },
	{ "max_connections_per_ip",	K_INT,      F(max_connections_per_ip), 0, 100000, NULL },
	{ "timeout",			K_SECONDS,  F(timeout), 1, 3600, NULL },
	{ "header_timeout",		K_SECONDS,  F(header_timeout), 0, 3600, NULL },
	{ "body_timeout",		K_SECONDS,  F(body_timeout), 0, 3600, NULL },
	{ "threads",			K_INT,      F(threads), 0, 256, NULL },
	{ "max_clock_skew",		K_SECONDS,  F(max_clock_skew), 0, 365 * 86400, NULL },
	{ "log_level",			K_ENUM,     F(log_level), 0, 0, log_levels },
	{ "log",			K_ENUM,     F(log_target), 0, 0, log_targets },
	{ "renewal_window",		K_SECONDS,  F(renewal_window), 0, 3650L * 86400, NULL },
	{ "renewal_subject",		K_ENUM,     F(renewal_subject), 0, 0,
	    renewal_subjects },
	{ "approval",			K_ENUM,     F(approval), 0, 0, approvals },
	{ "challenge_mode",		K_ENUM,     F(challenge_mode), 0, 0,
	    challenge_modes },
	{ "challenge_ttl",		K_SECONDS,  F(challenge_ttl), 60, 30L * 86400, NULL },
	{ "challenge_max",		K_INT,      F(challenge_max), 1, 100000, NULL },
	{ "challenge_exec",		K_STR,      F(challenge_exec), 0, 0, NULL },
	{ "challenge_exec_timeout",	K_SECONDS,  F(challenge_exec_timeout), 1, 300, NULL },
	{ "challenge_failures",		K_INT,      F(challenge_failures), 0, 100000, NULL },
	{ "challenge_failure_window",	K_SECONDS,  F(challenge_failure_window), 1, 86400, NULL },
	{ "admin_user",			K_STR,      F(admin_user), 1, 0, NULL },
	{ "admin_password",		K_STR,      F(admin_password), 0, 0, NULL },
	{ "admin_remote",		K_BOOL,     F(admin_remote), 0, 1, NULL },
	{ "ca_key_type",		K_ENUM,     F(ca_key_type), 0, 0, key_types },
	{ "admin_listen",		K_STR,      F(admin_listen), 0, 0, NULL },
	{ "admin_port_file",		K_STR,      F(admin_port_file), 0, 0, NULL },
	{ "admin_token",		K_STR,      F(admin_token), 0, 0, NULL },
	{ "hook_command",		K_STR,      F(hook_command), 0, 0, NULL },
	{ "key_passphrase_file",	K_STR,      F(key_passphrase_file), 0, 0, NULL },
	{ "hook_timeout",		K_SECONDS,  F(hook_timeout), 1, 600, NULL },
	{ "profile_signature",		K_STR,      F(profile_signature), 0, 0, NULL },
	{ "profile_encryption",		K_STR,      F(profile_encryption), 0, 0, NULL },
	{ "profile_general",		K_STR,      F(profile_general), 0, 0, NULL },
	{ "crl_days",			K_INT,      F(crl_days), 1, 365, NULL },
	{ "crl_url",			K_STR,      F(crl_url), 0, 0, NULL },
	{ "privsep",			K_BOOL,     F(privsep), 0, 1, NULL },
	{ "ca_key",			K_STR,      F(ca_key), 0, 0, NULL },
	{ "pkcs11_module",		K_STR,      F(pkcs11_module), 0, 0, NULL },
	{ "pkcs11_pin_file",		K_STR,      F(pkcs11_pin_file), 0, 0, NULL },
	{ "user",			K_STR,      F(user), 0, 0, NULL },
};

static char **
str_field(struct scepd_config *c, const struct key *k)
{
	return (char **)((char *)c + k->off);
}

static int *
int_field(struct scepd_config *c, const struct key *k)
{
	return (int *)((char *)c + k->off);
}

static int
set_str(struct scepd_config *c, const char *name, const char *v)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(keys[i].name, name) == 0) {
			char *dup = strdup(v), **f = str_field(c, &keys[i]);

			if (dup == NULL)
				return 0;
			free(*f);
			*f = dup;
			return 1;
		}
	}
	return 0;
}

void
config_init(struct scepd_config *c)
{
	memset(c, 0, sizeof(*c));
	/* Safe built-in defaults; conf/scepd.conf is the lab default. */
	set_str(c, "listen", "127.0.0.1:8080");
	set_str(c, "port_file", "");
	set_str(c, "state_dir", "/var/lib/scepd");
	set_str(c, "challenge", "auto");
	set_str(c, "ca_subject", "CN=scepd CA,O=scepd");
	set_str(c, "ra_subject", "CN=scepd RA,O=scepd");
	set_str(c, "eku", "clientAuth");
	c->legacy_algorithms = 0;
	c->ca_key_bits = 3072;
	c->ca_days = 3650;
	c->cert_days = 365;
	c->max_body = 256 * 1024;
	c->max_url = 65536 + 1024;
	c->max_connections = 512;
	c->max_connections_per_ip = 0;
	c->timeout = 30;
	c->header_timeout = 30;
	c->body_timeout = 60;
	c->threads = 0;
	c->max_clock_skew = 0;
	c->log_level = LOG_LEVEL_INFO;
	c->renewal_window = 0;
	c->renewal_subject = RENEWAL_SUBJECT_SAME;
	c->crl_days = 7;
	set_str(c, "crl_url", "");
	c->challenge_mode = CHALLENGE_STATIC;
	c->challenge_ttl = 3600;
	c->challenge_max = 5;		/* NDES's PasswordMax default */
	set_str(c, "challenge_exec", "");
	c->challenge_exec_timeout = 10;
	c->challenge_failures = 5;
	c->challenge_failure_window = 900;
	set_str(c, "admin_user", "admin");
	set_str(c, "admin_password", "");
	c->admin_remote = 0;
	c->ca_key_type = CA_KEY_RSA;
	set_str(c, "admin_listen", "127.0.0.1:8081");
	set_str(c, "admin_port_file", "");
	set_str(c, "admin_token", "");
	set_str(c, "hook_command", "");
	set_str(c, "key_passphrase_file", "");
	c->hook_timeout = 10;
	set_str(c, "profile_signature", "");
	set_str(c, "profile_encryption", "");
	set_str(c, "profile_general", "");
	c->privsep = 1;
	set_str(c, "ca_key", "");
	set_str(c, "pkcs11_module", "");
	set_str(c, "pkcs11_pin_file", "");
	set_str(c, "user", "");
}

void
config_free(struct scepd_config *c)
{
	size_t i;
	int p;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].kind == K_STR || keys[i].kind == K_LISTEN)
			free(*str_field(c, &keys[i]));
	for (p = 0; p < c->n_profiles; p++) {
		free(c->profiles[p].name);
		free(c->profiles[p].eku);
		free(c->profiles[p].key_usage);
		free(c->profiles[p].san_allow);
		free(c->profiles[p].subject);
	}
	memset(c, 0, sizeof(*c));
}

int
config_listen_parse(const char *s, char *host, size_t cap, int *port)
{
	const char *colon, *h = s;
	size_t hlen;
	char *end;
	long p;

	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return 0;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return 0;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= cap)
		return 0;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || p < 0 || p > 65535)
		return 0;
	*port = (int)p;
	return 1;
}

struct unit {
	char	suffix;
	long	factor;
};

static const struct unit size_units[] = {
	{ 'k', 1024 }, { 'K', 1024 }, { 'm', 1024 * 1024 }, { 'M', 1024 * 1024 },
	{ 0, 0 }
};

static const struct unit time_units[] = {
	{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 0, 0 }
};

/* A number with an optional one-letter unit: "256k", "15m", "65536". */
static int
parse_scaled(const char *v, const struct unit *units, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || n < 0)
		return 0;
	if (*end != '\0') {
		for (; units->suffix != 0; units++)
			if (*end == units->suffix)
				break;
		if (units->suffix == 0 || end[1] != '\0' ||
		    n > LONG_MAX / units->factor)
			return 0;
		n *= units->factor;
	}
	*out = n;
	return 1;
}

const struct scepd_profile *
config_profile(const struct scepd_config *c, const char *name)
{
	int i;

	for (i = 0; i < c->n_profiles; i++)
		if (strcmp(c->profiles[i].name, name) == 0)
			return &c->profiles[i];
	return NULL;
}

const char *
config_ca_key_type(const struct scepd_config *c)
{
	return key_types[c->ca_key_type];
}

static int
replace_str(char **field, const char *v)
{
	char *dup = strdup(v);

	if (dup == NULL)
		return 0;
	free(*field);
	*field = dup;
	return 1;
}

/* profile.NAME.KEY = value */
static int
set_profile_key(struct scepd_config *c, const char *name, const char *v,
    char *err, size_t cap)
{
	const char *dot = strchr(name + 8, '.'), *key;
	struct scepd_profile *p = NULL;
	char pname[64], *end;
	size_t n, i;
	long days;

	if (dot == NULL || dot == name + 8 ||
	    (n = (size_t)(dot - (name + 8))) >= sizeof(pname)) {
		snprintf(err, cap, "%s: want profile.NAME.KEY", name);
		return 0;
	}
	memcpy(pname, name + 8, n);
	pname[n] = '\0';
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)pname[i]) && pname[i] != '-' &&
		    pname[i] != '_') {
			snprintf(err, cap, "%s: profile names use letters, digits, "
			    "'-' and '_'", name);
			return 0;
		}
	}
	key = dot + 1;
	for (i = 0; i < (size_t)c->n_profiles; i++)
		if (strcmp(c->profiles[i].name, pname) == 0)
			p = &c->profiles[i];
	if (p == NULL) {
		if (c->n_profiles == CONFIG_MAX_PROFILES) {
			snprintf(err, cap, "more than %d profiles", CONFIG_MAX_PROFILES);
			return 0;
		}
		p = &c->profiles[c->n_profiles];
		memset(p, 0, sizeof(*p));
		p->approval = -1;
		if ((p->name = strdup(pname)) == NULL) {
			snprintf(err, cap, "out of memory");
			return 0;
		}
		c->n_profiles++;
	}
	if (strcmp(key, "days") == 0) {
		days = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || days < 1 || days > 36500) {
			snprintf(err, cap, "%s: want 1..36500, got '%s'", name, v);
			return 0;
		}
		p->days = (int)days;
		return 1;
	}
	if (strcmp(key, "san_policy") == 0 || strcmp(key, "approval") == 0) {
		const char *const *choices = key[0] == 's' ? san_policies : approvals;

		for (i = 0; choices[i] != NULL; i++) {
			if (strcasecmp(v, choices[i]) == 0) {
				*(key[0] == 's' ? &p->san_policy : &p->approval) = (int)i;
				return 1;
			}
		}
		snprintf(err, cap, "%s: want %s, got '%s'", name, key[0] == 's' ?
		    "copy, allow or require" : "auto or manual", v);
		return 0;
	}
	if (strcmp(key, "eku") == 0)
		return replace_str(&p->eku, v);
	if (strcmp(key, "key_usage") == 0)
		return replace_str(&p->key_usage, v);
	if (strcmp(key, "san_allow") == 0)
		return replace_str(&p->san_allow, v);
	if (strcmp(key, "subject") == 0)
		return replace_str(&p->subject, v);
	snprintf(err, cap, "%s: unknown profile key '%s' (days, eku, key_usage, "
	    "san_policy, san_allow, subject, approval)", name, key);
	return 0;
}

int
config_check(const struct scepd_config *c, char *err, size_t cap)
{
	const char *names[] = { c->profile_signature, c->profile_encryption,
	    c->profile_general };
	int i;

	for (i = 0; i < 3; i++) {
		if (*names[i] != '\0' && strcmp(names[i], "default") != 0 &&
		    config_profile(c, names[i]) == NULL) {
			snprintf(err, cap, "no profile named '%s' (define "
			    "profile.%s.days and friends)", names[i], names[i]);
			return 0;
		}
	}
	return 1;
}

long
config_parse_duration(const char *v)
{
	long n;

	return parse_scaled(v, time_units, &n) ? n : -1;
}

static int
set_key(struct scepd_config *c, const char *name, const char *v,
    char *err, size_t cap)
{
	const struct key *k = NULL;
	char host[256], *end;
	long n = 0;
	int port;
	size_t i;

	if (strncmp(name, "profile.", 8) == 0)
		return set_profile_key(c, name, v, err, cap);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			k = &keys[i];
	if (k == NULL) {
		snprintf(err, cap, "unknown key '%s'", name);
		return 0;
	}
	switch (k->kind) {
	case K_LISTEN:
		if (!config_listen_parse(v, host, sizeof(host), &port)) {
			snprintf(err, cap, "listen: want ADDRESS:PORT, got '%s'", v);
			return 0;
		}
		/* FALLTHROUGH */
	case K_STR:
		if (k->min > 0 && *v == '\0') {
			snprintf(err, cap, "%s: must not be empty", name);
			return 0;
		}
		if (!set_str(c, name, v)) {
			snprintf(err, cap, "out of memory");
			return 0;
		}
		return 1;
	case K_BOOL:
		if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
		    strcmp(v, "1") == 0 || strcasecmp(v, "on") == 0)
			n = 1;
		else if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
		    strcmp(v, "0") == 0 || strcasecmp(v, "off") == 0)
			n = 0;
		else {
			snprintf(err, cap, "%s: want yes or no, got '%s'", name, v);
			return 0;
		}
		break;
	case K_INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0') {
			snprintf(err, cap, "%s: want a number, got '%s'", name, v);
			return 0;
		}
		break;
	case K_SIZE:
		if (!parse_scaled(v, size_units, &n)) {
			snprintf(err, cap, "%s: want a size such as 65536 or 256k, "
			    "got '%s'", name, v);
			return 0;
		}
		break;
	case K_SECONDS:
		if (!parse_scaled(v, time_units, &n)) {
			snprintf(err, cap, "%s: want a duration such as 30s, 15m "
			    "or 1d, got '%s'", name, v);
			return 0;
		}
		break;
	case K_ENUM: {
		char list[128] = "";

		for (i = 0; k->choices[i] != NULL; i++) {
			if (strcasecmp(v, k->choices[i]) == 0) {
				*int_field(c, k) = (int)i;
				return 1;
			}
			snprintf(list + strlen(list), sizeof(list) - strlen(list),
			    "%s%s", i ? ", " : "", k->choices[i]);
		}
		snprintf(err, cap, "%s: want one of %s, got '%s'", name, list, v);
		return 0;
	}
	}
	if (n < k->min || n > k->max) {
		snprintf(err, cap, "%s: %ld is out of range (%ld..%ld)", name, n,
		    k->min, k->max);
		return 0;
	}
	if (k->kind == K_SIZE)
		*(long *)((char *)c + k->off) = n;
	else
		*int_field(c, k) = (int)n;
	return 1;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* "key = value" (value may be quoted) into name and value, in place. */
static int
split_kv(char *line, char **name, char **value)
{
	char *eq = strchr(line, '='), *v;
	size_t len;

	if (eq == NULL)
		return 0;
	*eq = '\0';
	*name = trim(line);
	v = trim(eq + 1);
	len = strlen(v);
	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		v[len - 1] = '\0';
		v++;
	}
	*value = v;
	return **name != '\0';
}

int
config_load(struct scepd_config *c, const char *path, char *err, size_t cap)
{
	char line[4096], msg[CONFIG_ERR_MAX], *name, *value, *s;
	FILE *f;
	int lineno = 0, ok = 0;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, cap, "%s: %s", path, strerror(errno));
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, cap, "%s:%d: line too long", path, lineno);
			goto out;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (!split_kv(s, &name, &value)) {
			snprintf(err, cap, "%s:%d: expected 'key = value'", path,
			    lineno);
			goto out;
		}
		if (!set_key(c, name, value, msg, sizeof(msg))) {
			snprintf(err, cap, "%s:%d: %s", path, lineno, msg);
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, cap, "%s: read error", path);
		goto out;
	}
	ok = 1;
out:
	fclose(f);
	return ok;
}

int
config_override(struct scepd_config *c, const char *kv, char *err, size_t cap)
{
	char *copy, *name, *value, msg[CONFIG_ERR_MAX];
	int ok = 0;

	if ((copy = strdup(kv)) == NULL) {
		snprintf(err, cap, "out of memory");
		return 0;
	}
	if (!split_kv(copy, &name, &value))
		snprintf(err, cap, "-o %s: expected key=value", kv);
	else if (!set_key(c, name, value, msg, sizeof(msg)))
		snprintf(err, cap, "-o %s: %s", kv, msg);
	else
		ok = 1;
	free(copy);
	return ok;
}
