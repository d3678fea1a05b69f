/*
 * Device logs line by line, as UTF-8, whatever the file was saved as:
 * UTF-8 with or without a BOM, or UTF-16 (Windows PowerShell 5.1's `>`
 * and Event Viewer write UTF-16LE with a BOM), with LF or CRLF.  A line
 * longer than INGEST_MAX_LINE is cut there and flagged; memory stays
 * bounded by that, however large the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/ctl/ingest_int.h"

int
lines_open(struct lines *r, const char *path, const char **why)
{
	unsigned char b[4];
	size_t n;

	memset(r, 0, sizeof(*r));
	if ((r->f = fopen(path, "rb")) == NULL) {
		*why = "cannot open the file";
		return 0;
	}
	n = fread(b, 1, sizeof(b), r->f);
	r->encoding = ENC_UTF8;
	if (n >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf) {
		r->encoding = ENC_UTF8_BOM;
		r->skip = 3;
	} else if (n >= 2 && b[0] == 0xff && b[1] == 0xfe) {
		r->encoding = ENC_UTF16LE;
		r->skip = 2;
	} else if (n >= 2 && b[0] == 0xfe && b[1] == 0xff) {
		r->encoding = ENC_UTF16BE;
		r->skip = 2;
	} else if (n == 4 && b[0] != 0 && b[1] == 0 && b[2] != 0 && b[3] == 0) {
		/* ASCII text as UTF-16LE without a BOM. */
		r->encoding = ENC_UTF16LE;
	}
	if (fseek(r->f, (long)r->skip, SEEK_SET) != 0 ||
	    (r->buf = malloc(r->cap = 4096)) == NULL) {
		fclose(r->f);
		r->f = NULL;
		*why = "cannot read the file";
		return 0;
	}
	return 1;
}

void
lines_close(struct lines *r)
{
	if (r->f != NULL)
		fclose(r->f);
	free(r->buf);
	r->f = NULL;
	r->buf = NULL;
}

const char *
lines_encoding(const struct lines *r)
{
	static const char *const names[] = {
		[ENC_UTF8] = "UTF-8", [ENC_UTF8_BOM] = "UTF-8 with BOM",
		[ENC_UTF16LE] = "UTF-16LE", [ENC_UTF16BE] = "UTF-16BE",
	};

	return names[r->encoding];
}

/* Append one byte, growing up to INGEST_MAX_LINE; past it, drop. */
static void
put(struct lines *r, unsigned char c)
{
	char *nb;

	if (r->len >= INGEST_MAX_LINE) {
		r->too_long = 1;
		return;
	}
	if (r->len + 2 > r->cap) {
		if ((nb = realloc(r->buf, r->cap * 2)) == NULL) {
			r->too_long = 1;
			return;
		}
		r->buf = nb;
		r->cap *= 2;
	}
	r->buf[r->len++] = (char)c;
}

/* A code point as UTF-8; NUL and bad surrogates become '?'. */
static void
put_utf8(struct lines *r, unsigned long cp)
{
	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = '?';
	if (cp < 0x80) {
		put(r, (unsigned char)cp);
	} else if (cp < 0x800) {
		put(r, (unsigned char)(0xc0 | cp >> 6));
		put(r, (unsigned char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		put(r, (unsigned char)(0xe0 | cp >> 12));
		put(r, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
		put(r, (unsigned char)(0x80 | (cp & 0x3f)));
	} else {
		put(r, (unsigned char)(0xf0 | cp >> 18));
		put(r, (unsigned char)(0x80 | ((cp >> 12) & 0x3f)));
		put(r, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
		put(r, (unsigned char)(0x80 | (cp & 0x3f)));
	}
}

/* One UTF-16 code unit; -1 at the end of the file. */
static long
unit(struct lines *r)
{
	int a = getc(r->f), b;

	if (a == EOF || (b = getc(r->f)) == EOF)
		return -1;
	return r->encoding == ENC_UTF16LE ? (long)(a | b << 8) :
	    (long)(b | a << 8);
}

static int
next_utf16(struct lines *r)
{
	long u, lo;
	int any = 0;

	while ((u = unit(r)) >= 0) {
		any = 1;
		if (u == '\n')
			return 1;
		if (u >= 0xd800 && u <= 0xdbff) {
			if ((lo = unit(r)) >= 0xdc00 && lo <= 0xdfff)
				put_utf8(r, 0x10000 + ((unsigned long)(u - 0xd800)
				    << 10) + (unsigned long)(lo - 0xdc00));
			else
				put_utf8(r, '?');
			continue;
		}
		put_utf8(r, (unsigned long)u);
	}
	return any;
}

static int
next_utf8(struct lines *r)
{
	int c, any = 0;

	while ((c = getc(r->f)) != EOF) {
		any = 1;
		if (c == '\n')
			return 1;
		put(r, (unsigned char)(c == 0 ? '?' : c));
	}
	return any;
}

const char *
lines_next(struct lines *r, size_t *len)
{
	int got;

	r->len = 0;
	r->too_long = 0;
	got = r->encoding == ENC_UTF16LE || r->encoding == ENC_UTF16BE ?
	    next_utf16(r) : next_utf8(r);
	if (!got)
		return NULL;
	if (r->len > 0 && r->buf[r->len - 1] == '\r')
		r->len--;
	r->buf[r->len] = '\0';
	*len = r->len;
	return r->buf;
}
