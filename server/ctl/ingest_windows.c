/*
 * Windows: the DeviceManagement-Enterprise-Diagnostics-Provider/Admin
 * channel, in the forms admins export it:
 *   wevtutil qe CHANNEL /f:xml          one <Event> a line, EventData only
 *   wevtutil qe CHANNEL /f:RenderedXml  the same with <Message>
 *   Event Viewer "Save as" XML          one element a line
 *   wevtutil qe CHANNEL /f:text         "Event[N]:" blocks, local time
 *   Get-WinEvent ... | Format-List      "Name : value" blocks, local time
 *   Event Viewer "Save as" CSV          rows, the message quoted, local time
 * (any of them UTF-16LE or UTF-8: ingest_read.c).
 *
 * What each event proves:
 *   309 "SCEP: InstallFromRegEntries ... Certificate Thumbprint : (HEX)
 *       ... Result : (...)": the certificate with that SHA-1 thumbprint,
 *       exactly; installed when the result is "The operation completed
 *       successfully.", else install_failed with the result as reason.
 *       Without its message (raw /f:xml) only that the device had it:
 *       received_by_device.
 *   39  "SCEP: Certificate installed successfully.": no thumbprint, serial
 *       or subject; installed exactly only if the export shows one, else
 *       a weak corroboration by subject and time at most.
 *   the channel's SCEP failures: install_failed, by thumbprint or serial;
 *       by subject and time only weakly.
 */
#define _GNU_SOURCE	/* strcasestr */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/ctl/ingest_int.h"

#define WIN_EVENT_MAX	(256 * 1024)	/* one event's text at the most */
/* A weak match: the one issuance to this CN this long before the event. */
#define WIN_WINDOW	(15LL * 60 * 1000000)

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

/*
 * When the event happened, in Unix microseconds: XML's SystemTime is UTC;
 * the text forms write the device's local time, which the run's UTC
 * offset turns into UTC (without one it is read as UTC, and said so).
 */
static int64_t
event_time(struct state *s, const char *text)
{
	const char *p;
	struct tm tm;
	char ampm[3] = "";
	int local = 1, n;

	memset(&tm, 0, sizeof(tm));
	if ((p = strstr(text, "SystemTime='")) != NULL ||
	    (p = strstr(text, "SystemTime=\"")) != NULL) {
		p += 12;
		local = 0;
	} else if ((p = strstr(text, "Date: ")) != NULL) {
		p += 6;
	} else if ((p = strstr(text, "TimeCreated")) != NULL ||
	    (p = strstr(text, "Date and Time: ")) != NULL) {
		/* Format-List and CSV: "11/25/2026 5:20:15 AM" (en-US). */
		p += strcspn(p, "0123456789");
		n = sscanf(p, "%2d/%2d/%4d %2d:%2d:%2d %2s", &tm.tm_mon,
		    &tm.tm_mday, &tm.tm_year, &tm.tm_hour, &tm.tm_min,
		    &tm.tm_sec, ampm);
		if (n < 6)
			return 0;
		if (strcasecmp(ampm, "PM") == 0 && tm.tm_hour < 12)
			tm.tm_hour += 12;
		else if (strcasecmp(ampm, "AM") == 0 && tm.tm_hour == 12)
			tm.tm_hour = 0;
		p = NULL;
	} else {
		return 0;
	}
	if (p != NULL && sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	    &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (local && !s->in->utc_offset_set)
		s->c->local_as_utc = 1;
	return ((int64_t)timegm(&tm) - (local ? s->in->utc_offset : 0)) *
	    1000000;
}

/* "Name : (value)" in a 309 message: value into out. */
static int
paren_field(const char *text, const char *name, char *out, size_t cap)
{
	const char *p = strstr(text, name);
	size_t n;

	if (p == NULL || (p = strchr(p + strlen(name), '(')) == NULL)
		return 0;
	n = strcspn(++p, ")\r\n");
	if (n == 0 || n >= cap || p[n] != ')')
		return 0;
	memcpy(out, p, n);
	out[n] = '\0';
	return 1;
}

/* Event 309: the thumbprint it names and the result of the install. */
static void
event_309(struct state *s, const char *text)
{
	char thumb[130], result[256];
	int64_t op;

	if (!hex_after(text, "Certificate Thumbprint", thumb, sizeof(thumb), 0)) {
		s->c->unmatched++;
		return;
	}
	if ((op = ledger_find_by_cert(s->l, thumb)) == 0) {
		s->c->unmatched++;	/* another server's certificate */
		return;
	}
	if (!paren_field(text, "Result :", result, sizeof(result)))
		ingest_evidence(s, op, "received_by_device", "windows-event",
		    "Event 309 certificate thumbprint (no result in this "
		    "export)", text, 0);
	else if (strcmp(result, "The operation completed successfully.") == 0)
		ingest_evidence(s, op, "installed", "windows-event",
		    "Event 309 certificate thumbprint, result success", text, 0);
	else
		ingest_evidence(s, op, "install_failed", "windows-event",
		    "Event 309 certificate thumbprint, result not success",
		    text, 0);
}

/* Raw /f:xml 309: EventData only; a Data value that is a thumbprint. */
static void
event_309_raw(struct state *s, const char *text)
{
	const char *p = text;
	char thumb[130];
	int64_t op;

	while ((p = strstr(p, "<Data")) != NULL) {
		p = strchr(p, '>');
		if (p == NULL)
			break;
		if (hex_after(p, ">", thumb, sizeof(thumb), 0) &&
		    (op = ledger_find_by_cert(s->l, thumb)) != 0) {
			ingest_evidence(s, op, "received_by_device",
			    "windows-event", "Event 309 certificate thumbprint "
			    "(raw XML: no result in this export)", text, 0);
			return;
		}
	}
	s->c->unmatched++;
}

static void
windows_event(struct state *s, const char *text)
{
	const char *kind, *cn;
	char hex[130], name[256];
	size_t n;
	int64_t op = 0, at;

	if (strstr(text, "DeviceManagement-Enterprise-Diagnostic") == NULL) {
		s->c->ignored++;
		return;
	}
	/* Read for every event: a local time without an offset is said. */
	at = event_time(s, text);
	if (strstr(text, "InstallFromRegEntries") != NULL) {
		event_309(s, text);
		return;
	}
	if (strstr(text, "<EventID>309</EventID>") != NULL ||
	    strstr(text, "<EventID Qualifiers=''>309</EventID>") != NULL) {
		event_309_raw(s, text);
		return;
	}
	if (strstr(text, "SCEP") == NULL) {
		s->c->ignored++;
		return;
	}
	if (strstr(text, "SCEP: Certificate installed successfully") != NULL)
		kind = "installed";
	else if (strcasestr(text, "fail") != NULL ||
	    strcasestr(text, "error") != NULL)
		kind = "install_failed";
	else {
		s->c->ignored++;
		return;
	}
	if (hex_after(text, "thumbprint", hex, sizeof(hex), 0) &&
	    (op = ledger_find_by_cert(s->l, hex)) != 0) {
		ingest_evidence(s, op, kind, "windows-event",
		    "certificate thumbprint", text, 0);
		return;
	}
	if (hex_after(text, "serial", hex, sizeof(hex), 1) &&
	    (op = ledger_find_by_cert(s->l, hex)) != 0) {
		ingest_evidence(s, op, kind, "windows-event",
		    "certificate serial", text, 0);
		return;
	}
	if ((cn = strstr(text, "CN=")) != NULL &&
	    (n = strcspn(cn + 3, ",<'\"\r\n")) > 0 && n < sizeof(name) &&
	    at != 0) {
		memcpy(name, cn + 3, n);
		name[n] = '\0';
		if ((op = ledger_find_by_cn_time(s->l, name, at,
		    WIN_WINDOW)) != 0) {
			ingest_evidence(s, op, kind, "windows-event", "subject "
			    "CN and time window only (weak: the status does "
			    "not follow)", text, 1);
			return;
		}
	}
	s->c->unmatched++;
}

/* Add a line to the event being gathered (bounded). */
static void
gather(struct winblock *w, const char *line, size_t len)
{
	char *nb;
	size_t want = w->len + len + 2;

	if (want > WIN_EVENT_MAX)
		return;
	if (want > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;

		while (cap < want)
			cap *= 2;
		if ((nb = realloc(w->buf, cap)) == NULL)
			return;
		w->buf = nb;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, line, len);
	w->len += len;
	w->buf[w->len++] = '\n';
	w->buf[w->len] = '\0';
}

/* Read the gathered event, if any, as from its first line. */
static void
flush(struct state *s)
{
	struct winblock *w = &s->win;
	long lineno = s->lineno;

	if (w->form != WF_NONE && w->len > 0) {
		s->lineno = w->first_line;
		windows_event(s, w->buf);
		s->lineno = lineno;
	}
	w->form = WF_NONE;
	w->len = 0;
}

static void
start(struct state *s, enum win_form form, int flag)
{
	flush(s);
	s->win.form = form;
	s->win.first_line = s->lineno;
	s->formats |= flag;
}

/*
 * An Event Viewer CSV row, gathered over as many lines as its quoted
 * message spans, as "Date and Time: ...\nSource: ...\nEvent ID: ...\n"
 * and the message.
 */
static void
csv_line(struct state *s, const char *line)
{
	struct winblock *w = &s->win;
	const char *p;

	if (w->form == WF_NONE)
		start(s, WF_CSV, F_WIN_CSV);
	gather(w, line, strlen(line));
	for (p = line; *p != '\0'; p++)
		if (*p == '"')
			w->quoted = !w->quoted;
	if (!w->quoted) {
		/* Level,Date and Time,Source,Event ID,Task Category,message */
		char *row = w->buf, *f[6] = { 0 }, *text = NULL, *q;
		size_t cap;
		int i = 0, quoted = 0;

		for (q = row, f[0] = row; *q != '\0' && i < 5; q++) {
			if (*q == '"')
				quoted = !quoted;
			else if (*q == ',' && !quoted) {
				*q = '\0';
				f[++i] = q + 1;
			}
		}
		cap = w->len + 64;
		if (i == 5 && (text = malloc(cap)) != NULL) {
			snprintf(text, cap, "Date and Time: %s\nSource: %s\n"
			    "Event ID: %s\n%s", f[1], f[2], f[3], f[5]);
			s->lineno = w->first_line;
			windows_event(s, text);
		} else {
			s->c->ignored++;
		}
		free(text);
		w->form = WF_NONE;
		w->len = 0;
	}
}

int
win_line(struct state *s, const char *line)
{
	struct winblock *w = &s->win;
	size_t len = strlen(line);

	if (w->csv) {
		s->c->recognised++;
		csv_line(s, line);
		return 1;
	}
	if (strncmp(line, "Level,Date and Time,Source,Event ID,Task Category",
	    49) == 0) {
		flush(s);
		w->csv = 1;
		s->formats |= F_WIN_CSV;
		s->c->recognised++;
		s->c->ignored++;
		return 1;
	}
	/* XML: one event a line, or one element a line until </Event>. */
	if (strstr(line, "<Event ") != NULL || strstr(line, "<Event>") != NULL) {
		start(s, WF_XML, F_WIN_XML);
		gather(w, line, len);
		s->c->recognised++;
		if (strstr(line, "</Event>") != NULL)
			flush(s);
		return 1;
	}
	if (w->form == WF_XML) {
		gather(w, line, len);
		s->c->recognised++;
		if (strstr(line, "</Event>") != NULL)
			flush(s);
		return 1;
	}
	if (strncmp(line, "Event[", 6) == 0) {
		start(s, WF_TEXT, F_WIN_TEXT);
		gather(w, line, len);
		s->c->recognised++;
		return 1;
	}
	/* Format-List: "TimeCreated  : ..." opens a record, a blank line ends it. */
	if (strncmp(line, "TimeCreated", 11) == 0 &&
	    strchr(line, ':') != NULL) {
		start(s, WF_LIST, F_WIN_LIST);
		gather(w, line, len);
		s->c->recognised++;
		return 1;
	}
	if (w->form == WF_LIST && line[strspn(line, " \t")] == '\0') {
		flush(s);
		s->c->recognised++;
		return 1;
	}
	if (w->form == WF_TEXT || w->form == WF_LIST) {
		gather(w, line, len);
		s->c->recognised++;
		return 1;
	}
	return 0;
}

void
win_end(struct state *s)
{
	flush(s);
}

void
win_free(struct state *s)
{
	free(s->win.buf);
	memset(&s->win, 0, sizeof(s->win));
}
