/*
 * Inside server/ctl's ingest only (ingest.c, ingest_windows.c,
 * ingest_read.c); ctl.h is the module's way in.
 */
#ifndef SCEPD_INGEST_INT_H
#define SCEPD_INGEST_INT_H

#include <stdint.h>
#include <stdio.h>

#include "server/ctl/ctl.h"

#define INGEST_MAX_LINE	(1024 * 1024)	/* iOS logs whole GET URLs */
#define INGEST_KEYS	256
#define INGEST_THREADS	64
#define INGEST_TEXT	300		/* characters of a line kept */

/* A device-side name (Android enrollment key, iOS profile id) -> operation. */
struct binding {
	char	*key;
	int64_t	 op;
};

/*
 * An Android thread's enrollment in progress: jscep logs "Trying to
 * enroll certificate request: KEY" and then, on the same thread, the
 * CertRep.  Two enrollments started on one thread before any reply
 * cannot be told apart: their replies bind no key (ambiguous).
 */
struct android_thread {
	char	 tid[16];
	char	*key;
	int	 replies;	/* CertReps on this thread since its key */
	int	 ambiguous;
};

struct ingest {
	ledger			*l;
	struct binding		 bind[INGEST_KEYS];
	int			 n_bind;
	struct android_thread	 thread[INGEST_THREADS];
	int			 n_thread;
	/*
	 * iOS: the matched PKIOperation whose profile is being installed,
	 * until an install outcome or another request; and whether the
	 * profile identifier it installs has been seen.
	 */
	int64_t			 ios_op;
	int			 ios_bound;
	/* Windows text exports carry local time: this far from UTC. */
	long			 utc_offset;	/* seconds east of UTC */
	int			 utc_offset_set;
};

/* A Windows event being gathered from several lines. */
enum win_form { WF_NONE, WF_TEXT, WF_XML, WF_LIST, WF_CSV };

struct winblock {
	enum win_form	 form;
	char		*buf;
	size_t		 len, cap;
	int		 csv;		/* the rest of the file is CSV rows */
	int		 quoted;	/* inside a quoted CSV field */
	long		 first_line;	/* where the event starts */
};

/* One file's reading, within a run. */
struct state {
	struct ingest		*in;
	ledger			*l;
	const char		*file;
	long			 lineno;
	struct ingest_counts	*c;
	int			 formats;	/* F_* seen */
	struct winblock		 win;
};

enum { F_ANDROID = 1, F_IOS = 2, F_WIN_XML = 4, F_WIN_TEXT = 8,
    F_WIN_LIST = 16, F_WIN_CSV = 32 };

/* ingest.c */
void ingest_evidence(struct state *s, int64_t op, const char *kind,
    const char *source, const char *what, const char *line, int weak);
/* The characters after "name" up to any of stop (or the end). */
size_t ingest_field(const char *line, const char *name, const char *stop,
    const char **at);

/*
 * ingest_windows.c: DeviceManagement-Enterprise-Diagnostics-Provider
 * events in every export form.  win_line takes each line and returns 1
 * when it belongs to a Windows export (it may complete an event and read
 * it); win_end reads what is left at the end of the file.
 */
int win_line(struct state *s, const char *line);
void win_end(struct state *s);
void win_free(struct state *s);

/* ingest_read.c: a file's lines as UTF-8 (BOM, UTF-16, CRLF). */
enum lines_encoding { ENC_UTF8, ENC_UTF8_BOM, ENC_UTF16LE, ENC_UTF16BE };
struct lines {
	FILE			*f;
	enum lines_encoding	 encoding;
	size_t			 skip;		/* the BOM's bytes */
	char			*buf;
	size_t			 len, cap;
	int			 too_long;	/* the last line was cut */
};
int lines_open(struct lines *r, const char *path, const char **why);
/* The next line without its line break; NULL at the end. */
const char *lines_next(struct lines *r, size_t *len);
const char *lines_encoding(const struct lines *r);
void lines_close(struct lines *r);

#endif
