#define _GNU_SOURCE	/* strcasestr */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/ctl/ingest_int.h"

const char ingest_formats[] = "Android OMA DM log (Company Portal), iOS/macOS "
    "profiled log, Windows DeviceManagement events (wevtutil /f:xml, "
    "/f:RenderedXml or /f:text, Event Viewer XML or CSV, Get-WinEvent "
    "Format-List; UTF-8 or UTF-16)";

static void
bind_key(struct ingest *in, const char *key, size_t len, int64_t op)
{
	int i;

	for (i = 0; i < in->n_bind; i++) {
		if (strlen(in->bind[i].key) == len &&
		    memcmp(in->bind[i].key, key, len) == 0) {
			in->bind[i].op = op;
			return;
		}
	}
	if (in->n_bind == INGEST_KEYS ||
	    (in->bind[in->n_bind].key = strndup(key, len)) == NULL)
		return;
	in->bind[in->n_bind++].op = op;
}

static int64_t
bound(const struct ingest *in, const char *key, size_t len)
{
	int i;

	for (i = 0; i < in->n_bind; i++)
		if (strlen(in->bind[i].key) == len &&
		    memcmp(in->bind[i].key, key, len) == 0)
			return in->bind[i].op;
	return 0;
}

int
ingest_new(ledger *l, ingest **out)
{
	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return 0;
	(*out)->l = l;
	return 1;
}

void
ingest_free(ingest *in)
{
	int i;

	if (in == NULL)
		return;
	for (i = 0; i < in->n_bind; i++)
		free(in->bind[i].key);
	for (i = 0; i < in->n_thread; i++)
		free(in->thread[i].key);
	free(in);
}

/*
 * Record evidence for op from the current line.  A weak match (subject
 * and time only) gets kind "probably_" KIND, which no status follows.
 */
void
ingest_evidence(struct state *s, int64_t op, const char *kind, const char *source,
    const char *what, const char *line, int weak)
{
	char text[INGEST_TEXT + 1], weak_kind[64];
	int added = 0, conflict = 0;

	snprintf(text, sizeof(text), "%s", line);
	if (weak) {
		snprintf(weak_kind, sizeof(weak_kind), "probably_%s", kind);
		kind = weak_kind;
	}
	if (ledger_add_evidence(s->l, op, kind, source, what, s->file,
	    s->lineno, text, &added, &conflict) == LEDGER_OK) {
		if (weak)
			s->c->weak++;
		else
			s->c->matched++;
		s->c->added += added;
		s->c->conflicts += conflict;
	}
}

size_t
ingest_field(const char *line, const char *name, const char *stop, const char **at)
{
	const char *p = strstr(line, name);

	if (p == NULL)
		return 0;
	*at = p + strlen(name);
	return strcspn(*at, stop);
}

/*
 * An OMA DM log line: TIME LEVEL Event CLASS PID TID MESSAGE.  The thread
 * column into tid; 0 when the line is not laid out so.
 */
static int
android_tid(const char *line, char *tid, size_t cap)
{
	const char *tok[6], *p = line;
	size_t len[6];
	int i;

	/* Six whitespace-separated columns, whatever their length. */
	for (i = 0; i < 6; i++) {
		p += strspn(p, " \t");
		tok[i] = p;
		if ((len[i] = strcspn(p, " \t")) == 0)
			return 0;
		p += len[i];
	}
	if (len[0] < 19 || !isdigit((unsigned char)tok[0][0]) ||
	    tok[0][10] != 'T' || len[2] != 5 || strncmp(tok[2], "Event", 5) ||
	    len[5] >= cap || strspn(tok[5], "0123456789") != len[5])
		return 0;
	memcpy(tid, tok[5], len[5]);
	tid[len[5]] = '\0';
	return 1;
}

/* The thread's enrollment slot (made on first use); NULL when full. */
static struct android_thread *
android_thread(struct ingest *in, const char *line)
{
	char tid[16] = "";
	int i;

	(void)android_tid(line, tid, sizeof(tid));
	for (i = 0; i < in->n_thread; i++)
		if (strcmp(in->thread[i].tid, tid) == 0)
			return &in->thread[i];
	if (in->n_thread == INGEST_THREADS)
		return NULL;
	snprintf(in->thread[in->n_thread].tid, sizeof(in->thread[0].tid), "%s",
	    tid);
	return &in->thread[in->n_thread++];
}

/* "Trying to enroll certificate request: KEY": an enrollment starts. */
static void
android_enroll(struct state *s, const char *line, const char *key,
    size_t klen)
{
	struct android_thread *t = android_thread(s->in, line);

	s->c->ignored++;
	if (t == NULL)
		return;
	/* A second one before any reply on the thread: no telling apart. */
	t->ambiguous = t->key != NULL && t->replies == 0;
	free(t->key);
	t->key = strndup(key, klen);
	t->replies = 0;
}

static void
android_response(struct state *s, const char *line)
{
	struct android_thread *t = android_thread(s->in, line);
	const char *tx, *nonce;
	size_t txlen, nlen;
	char txid[256], hex[130];
	int64_t op;

	if (t != NULL)
		t->replies++;
	/* jscep prints the fields of the CertRep between brackets. */
	txlen = ingest_field(line, "transId=", ",]", &tx);
	nlen = ingest_field(line, "senderNonce=Nonce [", "]", &nonce);
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
	/* The thread's enrollment key now names this transaction. */
	if (t != NULL && t->key != NULL && !t->ambiguous)
		bind_key(s->in, t->key, strlen(t->key), op);
	else if (t != NULL && t->ambiguous)
		s->c->ambiguous++;
	ingest_evidence(s, op, "received_by_device", "android-log",
	    "transactionID and the server's senderNonce", line, 0);
}

/* "... to STATE" with STATE a whole word. */
static int
to_state(const char *to, const char *state)
{
	size_t n = strlen(state);

	return strncmp(to, state, n) == 0 &&
	    !isalnum((unsigned char)to[n]) && to[n] != '_';
}

static void
android_state(struct state *s, const char *line)
{
	const char *key, *to, *kind;
	size_t klen, tlen;
	int64_t op;

	klen = ingest_field(line, "SCEP cert '", "'", &key);
	if (klen == 0 || (to = strstr(key + klen, " to ")) == NULL) {
		s->c->ignored++;
		return;
	}
	to += 4;
	tlen = strcspn(to, " \t\r\n");
	/* Failure first: a failed state is never read as a success. */
	if (memmem(to, tlen, "FAIL", 4) != NULL ||
	    memmem(to, tlen, "DENIED", 6) != NULL)
		kind = "install_failed";
	else if (to_state(to, "CERT_INSTALL_SUCCESS") ||
	    to_state(to, "CERT_ACCESS_GRANTED"))
		kind = "installed";
	else {
		s->c->ignored++;	/* an intermediate state */
		return;
	}
	if ((op = bound(s->in, key, klen)) == 0) {
		s->c->unmatched++;
		return;
	}
	ingest_evidence(s, op, kind, "android-log",
	    "ModelName/Hash key of the matched enrollment", line, 0);
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

	len = ingest_field(line, "operation=PKIOperation&message=", " \t\\&\"'", &m);
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
	/* A new installation: any earlier one is over, matched or not. */
	s->in->ios_op = ledger_match_request_prefix(s->l, prefix);
	s->in->ios_bound = 0;
	if (s->in->ios_op == 0) {
		s->c->unmatched++;
		return;
	}
	ingest_evidence(s, s->in->ios_op, "request_logged", "ios-log",
	    "start of the request's base64", line, 0);
}

/*
 * An iOS SCEP profile identifier: ".SCEP." up to a space, a quote, or a
 * non-ASCII byte (profiled quotes it with “…”).  From ".SCEP." on: what
 * comes before it depends on how the line quotes it.
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

enum { IOS_NONE, IOS_INSTALLED, IOS_FAILED };

/*
 * An install outcome, as whole phrases, failures first: "Profile “ID”
 * could not be installed" is a failure, never an "installed."
 */
static int
ios_outcome(const char *line)
{
	static const char *const failed[] = { " could not be installed",
	    " failed to install", "installation failed", " was not installed" };
	const char *p;
	size_t i;

	if (strstr(line, "Profile") == NULL)
		return IOS_NONE;
	for (i = 0; i < sizeof(failed) / sizeof(failed[0]); i++)
		if (strcasestr(line, failed[i]) != NULL)
			return IOS_FAILED;
	/* " installed." right after the identifier's closing quote. */
	if ((p = strstr(line, " installed.")) != NULL &&
	    (p[11] == '\0' || isspace((unsigned char)p[11]) || p[11] == '\\') &&
	    p > line && (p[-1] == '\'' || p[-1] == '"' ||
	    (unsigned char)p[-1] >= 0x80 || isdigit((unsigned char)p[-1])))
		return IOS_INSTALLED;
	return IOS_NONE;
}

static void
ios_line(struct state *s, const char *line)
{
	struct ingest *in = s->in;
	const char *id;
	size_t len;
	int64_t op;
	int outcome;

	if (strstr(line, "operation=PKIOperation&message=") != NULL) {
		ios_request(s, line);
		return;
	}
	len = ios_profile(line, &id);
	outcome = ios_outcome(line);
	/*
	 * The profile a matched request installs: the first identifier
	 * named after the request, before any outcome or other request
	 * (profiled installs one profile at a time).
	 */
	if (len > 0 && outcome == IOS_NONE && in->ios_op != 0 &&
	    !in->ios_bound && bound(in, id, len) == 0) {
		bind_key(in, id, len, in->ios_op);
		in->ios_bound = 1;
	}
	if (outcome == IOS_NONE) {
		s->c->ignored++;
		return;
	}
	/* An outcome ends the installation, whichever profile it names. */
	in->ios_op = 0;
	in->ios_bound = 0;
	if (len == 0 || (op = bound(in, id, len)) == 0) {
		s->c->unmatched++;
		return;
	}
	ingest_evidence(s, op, outcome == IOS_FAILED ? "install_failed" : "installed",
	    "ios-log", "profile identifier of the matched request", line, 0);
}

static void
one_line(struct state *s, const char *line)
{
	const char *key;
	char tid[16];
	size_t klen;

	if (win_line(s, line))
		return;
	if (android_tid(line, tid, sizeof(tid)))
		s->formats |= F_ANDROID;
	else if (strstr(line, " profiled ") != NULL ||
	    strstr(line, " profiled[") != NULL)
		s->formats |= F_IOS;
	else {
		s->c->ignored++;
		return;
	}
	s->c->recognised++;
	if (strstr(line, "Response: org.jscep.message.CertRep@") != NULL)
		android_response(s, line);
	else if (strstr(line, "NativeScepCertInstallStateMachine") != NULL)
		android_state(s, line);
	else if ((klen = ingest_field(line, "Trying to enroll certificate request: ",
	    " \t\r\n", &key)) > 0)
		android_enroll(s, line, key, klen);
	else if (strstr(line, "profiled") != NULL)
		ios_line(s, line);
	else
		s->c->ignored++;
}

/* What a file was read as, from the formats its lines had. */
static const char *
format_name(int formats)
{
	switch (formats) {
	case 0:
		return NULL;
	case F_ANDROID:
		return "Android OMA DM log";
	case F_IOS:
		return "iOS/macOS profiled log";
	case F_WIN_XML:
		return "Windows events (XML)";
	case F_WIN_TEXT:
		return "Windows events (wevtutil text)";
	case F_WIN_LIST:
		return "Windows events (Format-List)";
	case F_WIN_CSV:
		return "Windows events (CSV)";
	}
	return "mixed device logs";
}

void
ingest_set_utc_offset(ingest *in, long seconds)
{
	in->utc_offset = seconds;
	in->utc_offset_set = 1;
}

int
ingest_file(ingest *in, const char *path, struct ingest_counts *c,
    const char **why)
{
	struct lines r;
	struct state s;
	const char *line;
	size_t n;

	if (!lines_open(&r, path, why))
		return 0;
	memset(&s, 0, sizeof(s));
	s.in = in;
	s.l = in->l;
	s.file = path;
	s.c = c;
	while ((line = lines_next(&r, &n)) != NULL) {
		s.lineno++;
		c->lines++;
		if (r.too_long) {
			c->ignored++;
			continue;
		}
		one_line(&s, line);
	}
	win_end(&s);
	win_free(&s);
	c->format = format_name(s.formats);
	c->encoding = lines_encoding(&r);
	lines_close(&r);
	return 1;
}

/* The device time of a file's first timestamped line (Unix seconds). */
static int64_t
first_time(const char *path)
{
	char buf[512];
	struct tm tm;
	int64_t t = 0;
	FILE *f;
	int i;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	for (i = 0; i < 50 && t == 0 && fgets(buf, sizeof(buf), f) != NULL;
	    i++) {
		memset(&tm, 0, sizeof(tm));
		if (sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year,
		    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
		    &tm.tm_sec) == 6) {
			tm.tm_year -= 1900;
			tm.tm_mon -= 1;
			t = (int64_t)timegm(&tm);
		}
	}
	fclose(f);
	return t;
}

void
ingest_order(char **paths, int n)
{
	int64_t *t;
	int i, j;

	if (n < 2 || (t = calloc((size_t)n, sizeof(*t))) == NULL)
		return;
	for (i = 0; i < n; i++)
		t[i] = first_time(paths[i]);
	/* Insertion sort: stable, and a handful of files. */
	for (i = 1; i < n; i++) {
		for (j = i; j > 0 && t[j] != 0 && (t[j - 1] == 0 ||
		    t[j] < t[j - 1]); j--) {
			int64_t tt = t[j];
			char *tp = paths[j];

			t[j] = t[j - 1];
			paths[j] = paths[j - 1];
			t[j - 1] = tt;
			paths[j - 1] = tp;
		}
	}
	free(t);
}
