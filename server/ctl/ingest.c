#define _GNU_SOURCE	/* strcasestr */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/ctl/ctl.h"

#define INGEST_MAX_LINE	(1024 * 1024)	/* iOS logs whole GET URLs */
#define INGEST_KEYS	256
#define INGEST_TEXT	300		/* characters of a line kept */

/* A device-side name (Android enrollment key, iOS profile id) -> operation. */
struct binding {
	char	*key;
	int64_t	 op;
};

struct state {
	ledger			*l;
	const char		*file;
	long			 lineno;
	struct ingest_counts	*c;
	char			*android_key;	/* "Trying to enroll …: KEY" */
	int64_t			 ios_op;	/* last matched PKIOperation */
	struct binding		 bind[INGEST_KEYS];
	int			 n_bind;
};

static void
bind_key(struct state *s, const char *key, size_t len, int64_t op)
{
	int i;

	for (i = 0; i < s->n_bind; i++) {
		if (strlen(s->bind[i].key) == len &&
		    memcmp(s->bind[i].key, key, len) == 0) {
			s->bind[i].op = op;
			return;
		}
	}
	if (s->n_bind == INGEST_KEYS ||
	    (s->bind[s->n_bind].key = strndup(key, len)) == NULL)
		return;
	s->bind[s->n_bind++].op = op;
}

static int
op_bound(const struct state *s, int64_t op)
{
	int i;

	for (i = 0; i < s->n_bind; i++)
		if (s->bind[i].op == op)
			return 1;
	return 0;
}

static int64_t
bound(const struct state *s, const char *key, size_t len)
{
	int i;

	for (i = 0; i < s->n_bind; i++)
		if (strlen(s->bind[i].key) == len &&
		    memcmp(s->bind[i].key, key, len) == 0)
			return s->bind[i].op;
	return 0;
}

/* Record evidence for op from the current line. */
static void
evidence(struct state *s, int64_t op, const char *kind, const char *source,
    const char *what, const char *line)
{
	char text[INGEST_TEXT + 1];
	int added = 0;

	snprintf(text, sizeof(text), "%s", line);
	if (ledger_add_evidence(s->l, op, kind, source, what, s->file,
	    s->lineno, text, &added) == LEDGER_OK) {
		s->c->matched++;
		s->c->added += added;
	}
}

/* The characters after "name" up to any of stop (or the end). */
static size_t
field(const char *line, const char *name, const char *stop, const char **at)
{
	const char *p = strstr(line, name);

	if (p == NULL)
		return 0;
	*at = p + strlen(name);
	return strcspn(*at, stop);
}

static void
android_response(struct state *s, const char *line)
{
	const char *tx, *nonce;
	size_t txlen, nlen;
	char txid[256], hex[130];
	int64_t op;

	/* jscep prints the fields of the CertRep between brackets. */
	txlen = field(line, "transId=", ",]", &tx);
	nlen = field(line, "senderNonce=Nonce [", "]", &nonce);
	if (txlen == 0 || txlen >= sizeof(txid) || nlen == 0 ||
	    nlen >= sizeof(hex)) {
		s->c->unmatched++;
		return;
	}
	memcpy(txid, tx, txlen);
	txid[txlen] = '\0';
	memcpy(hex, nonce, nlen);
	hex[nlen] = '\0';
	if ((op = ledger_match_reply(s->l, txid, hex)) == 0) {
		s->c->unmatched++;
		return;
	}
	if (s->android_key != NULL)
		bind_key(s, s->android_key, strlen(s->android_key), op);
	evidence(s, op, "received_by_device", "android-log",
	    "transactionID and the server's senderNonce", line);
}

static void
android_state(struct state *s, const char *line)
{
	const char *key, *to;
	size_t klen;
	int64_t op;

	klen = field(line, "SCEP cert '", "'", &key);
	if (klen == 0 || (to = strstr(key + klen, " to ")) == NULL) {
		s->c->ignored++;
		return;
	}
	to += 4;
	if (strncmp(to, "CERT_INSTALL_SUCCESS", 20) != 0 &&
	    strncmp(to, "CERT_ACCESS_GRANTED", 19) != 0 &&
	    strstr(to, "FAIL") == NULL && strstr(to, "DENIED") == NULL) {
		s->c->ignored++;	/* an intermediate state */
		return;
	}
	if ((op = bound(s, key, klen)) == 0) {
		s->c->unmatched++;
		return;
	}
	evidence(s, op, strstr(to, "FAIL") || strstr(to, "DENIED") ?
	    "install_failed" : "installed", "android-log",
	    "ModelName/Hash key of the matched enrollment", line);
}

static int
unhex(int c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

static void
ios_request(struct state *s, const char *line)
{
	const char *m;
	size_t len, i, n = 0;
	char prefix[LEDGER_B64_HEAD + 1];

	len = field(line, "operation=PKIOperation&message=", " \t\\&\"'", &m);
	/* Percent-decode as far as the stored prefix reaches. */
	for (i = 0; i < len && n < LEDGER_B64_HEAD; i++) {
		if (m[i] == '%' && i + 2 < len && isxdigit((unsigned char)m[i + 1]) &&
		    isxdigit((unsigned char)m[i + 2])) {
			prefix[n++] = (char)(unhex((unsigned char)m[i + 1]) * 16 +
			    unhex((unsigned char)m[i + 2]));
			i += 2;
		} else {
			prefix[n++] = m[i];
		}
	}
	prefix[n] = '\0';
	s->ios_op = ledger_match_request_prefix(s->l, prefix);
	if (s->ios_op == 0) {
		s->c->unmatched++;
		return;
	}
	evidence(s, s->ios_op, "request_logged", "ios-log",
	    "start of the request's base64", line);
}

/*
 * An iOS SCEP profile identifier: ".SCEP." up to a space, a quote, or a
 * non-ASCII byte (profiled quotes it with “…”).
 */
static size_t
ios_profile(const char *line, const char **at)
{
	size_t n = 0;

	if ((*at = strstr(line, ".SCEP.")) == NULL)
		return 0;
	while ((*at)[n] != '\0' && (unsigned char)(*at)[n] < 0x80 &&
	    strchr(" \t\\'\"", (*at)[n]) == NULL)
		n++;
	return n;
}

static void
ios_line(struct state *s, const char *line)
{
	const char *id;
	size_t len;
	int64_t op;

	if (strstr(line, "operation=PKIOperation&message=") != NULL) {
		ios_request(s, line);
		return;
	}
	if ((len = ios_profile(line, &id)) == 0) {
		s->c->ignored++;
		return;
	}
	/*
	 * The first profile mentioned after a matched request is its
	 * profile; one request, one profile.
	 */
	if (bound(s, id, len) == 0 && s->ios_op != 0 && !op_bound(s, s->ios_op))
		bind_key(s, id, len, s->ios_op);
	if (strstr(line, "Profile ") == NULL || strstr(line, " installed.") == NULL) {
		s->c->ignored++;
		return;
	}
	if ((op = bound(s, id, len)) == 0) {
		s->c->unmatched++;
		return;
	}
	evidence(s, op, "installed", "ios-log",
	    "profile identifier of the matched request", line);
}

/*
 * The first run of hex digits after label, within 40 characters, that is
 * a thumbprint (40 or 64 digits; Windows may space them "ab cd ...") or a
 * serial (8 or more); shorter runs, such as the "b" in "number", are
 * passed over.
 */
static int
hex_after(const char *text, const char *label, char *out, size_t cap,
    int serial)
{
	const char *p = strcasestr(text, label), *start;
	size_t k;

	if (p == NULL)
		return 0;
	p += strlen(label);
	for (start = p; *p != '\0' && p - start < 40; p++) {
		const char *q = p;

		k = 0;
		while (*q != '\0' && (isxdigit((unsigned char)*q) ||
		    (!serial && *q == ' ' && k > 0 && isxdigit((unsigned char)q[1])))) {
			if (*q != ' ' && k + 1 < cap)
				out[k++] = *q;
			q++;
		}
		out[k] = '\0';
		if (serial ? k >= 8 : (k == 40 || k == 64))
			return 1;
		/* Past the run; the loop's p++ steps onto q, never past a NUL. */
		if (q > p)
			p = q - 1;
	}
	return 0;
}

/* "2026-11-25T05:20:15..." as Unix microseconds (UTC). */
static int64_t
event_time(const char *text)
{
	const char *p = strstr(text, "SystemTime='");
	struct tm tm;

	if (p != NULL)
		p += 12;
	else if ((p = strstr(text, "Date: ")) != NULL)
		p += 6;
	else
		return 0;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000000;
}

/*
 * Windows DeviceManagement-Enterprise-Diagnostics-Provider/Admin: Event 39
 * "SCEP: Certificate installed successfully." (installed) and the
 * channel's SCEP failures (install_failed).  Matched by thumbprint or
 * serial when the event carries one; else by subject CN and a window of
 * WIN_WINDOW before the event, only when one transaction fits, and named
 * a weak match.
 */
#define WIN_WINDOW (15LL * 60 * 1000000)

static void
windows_event(struct state *s, const char *text)
{
	const char *kind, *cn;
	char hex[130], name[256];
	size_t n;
	int64_t op = 0, at;

	if (strstr(text, "DeviceManagement-Enterprise-Diagnostic") == NULL ||
	    strstr(text, "SCEP") == NULL) {
		s->c->ignored++;
		return;
	}
	if (strstr(text, "SCEP: Certificate installed successfully") != NULL)
		kind = "installed";
	else if (strcasestr(text, "fail") != NULL || strcasestr(text, "error") != NULL)
		kind = "install_failed";
	else {
		s->c->ignored++;
		return;
	}
	if (hex_after(text, "thumbprint", hex, sizeof(hex), 0) &&
	    (op = ledger_find_by_cert(s->l, hex)) != 0) {
		evidence(s, op, kind, "windows-event", "certificate thumbprint", text);
		return;
	}
	if (hex_after(text, "serial", hex, sizeof(hex), 1) &&
	    (op = ledger_find_by_cert(s->l, hex)) != 0) {
		evidence(s, op, kind, "windows-event", "certificate serial", text);
		return;
	}
	if ((cn = strstr(text, "CN=")) != NULL &&
	    (n = strcspn(cn + 3, ",<'\"\r\n")) > 0 && n < sizeof(name) &&
	    (at = event_time(text)) != 0) {
		memcpy(name, cn + 3, n);
		name[n] = '\0';
		if ((op = ledger_find_by_cn_time(s->l, name, at, WIN_WINDOW)) != 0) {
			evidence(s, op, kind, "windows-event", "subject CN and time "
			    "window (weak match)", text);
			return;
		}
	}
	s->c->unmatched++;
}

static void
one_line(struct state *s, const char *line)
{
	const char *key;
	size_t klen;

	if (strstr(line, "<Event") != NULL && strstr(line, "</Event>") != NULL) {
		windows_event(s, line);	/* wevtutil /f:xml: one a line */
	} else if (strstr(line, "Response: org.jscep.message.CertRep@") != NULL) {
		android_response(s, line);
	} else if (strstr(line, "NativeScepCertInstallStateMachine") != NULL) {
		android_state(s, line);
	} else if ((klen = field(line, "Trying to enroll certificate request: ",
	    " \t\r\n", &key)) > 0) {
		free(s->android_key);
		s->android_key = strndup(key, klen);
		s->c->ignored++;
	} else if (strstr(line, "profiled") != NULL) {
		ios_line(s, line);
	} else {
		s->c->ignored++;
	}
}

int
ingest_file(ledger *l, const char *path, struct ingest_counts *c,
    const char **why)
{
	struct state s;
	char *block = NULL;
	size_t block_len = 0, block_cap = 64 * 1024;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int i;

	if ((f = fopen(path, "r")) == NULL) {
		*why = "cannot open the file";
		return 0;
	}
	if ((block = malloc(block_cap)) == NULL) {
		fclose(f);
		*why = "out of memory";
		return 0;
	}
	memset(&s, 0, sizeof(s));
	s.l = l;
	s.file = path;
	s.c = c;
	while ((n = getline(&line, &cap, f)) > 0) {
		s.lineno++;
		if (n > INGEST_MAX_LINE) {
			c->ignored++;
			continue;
		}
		line[strcspn(line, "\r\n")] = '\0';
		/* wevtutil /f:text: "Event[N]:" and its indented lines. */
		if (strncmp(line, "Event[", 6) == 0) {
			if (block_len > 0)
				windows_event(&s, block);
			block_len = 0;
		}
		if (strncmp(line, "Event[", 6) == 0 || (block_len > 0 &&
		    strncmp(line, "<Event", 6) != 0)) {
			size_t add = strlen(line);

			if (block_len + add + 2 < block_cap) {
				memcpy(block + block_len, line, add);
				block_len += add;
				block[block_len++] = '\n';
				block[block_len] = '\0';
			}
			continue;
		}
		one_line(&s, line);
	}
	if (block_len > 0)
		windows_event(&s, block);
	free(line);
	free(block);
	free(s.android_key);
	for (i = 0; i < s.n_bind; i++)
		free(s.bind[i].key);
	fclose(f);
	return 1;
}
