/*
 * Ledger reports as documents: the ledger hands over rows (store/), this
 * writes them as a JSON array, CSV with its header, text, or Prometheus
 * gauges.  Shared by scepctl and the admin API.
 */
#include <stdio.h>
#include <string.h>

#include "server/common/common.h"

/* A JSON array of one-object rows, one a line: "[\n{..},\n{..}\n]\n". */
struct json_array {
	FILE	*out;
	long	 n;
};

static int
json_element(void *arg, const char *row)
{
	struct json_array *a = arg;

	fprintf(a->out, "%s\n%s", a->n++ ? "," : "", row);
	return 1;
}

static void
json_open(struct json_array *a, FILE *out)
{
	a->out = out;
	a->n = 0;
	fputs("[", out);
}

static void
json_close(const struct json_array *a)
{
	fputs(a->n ? "\n]\n" : "]\n", a->out);
}

static int
line(void *arg, const char *row)
{
	fprintf(arg, "%s\n", row);
	return 1;
}

/* The rows of a report that takes no arguments, as a JSON array. */
static int
json_report(ledger *l, int (*rows)(ledger *, ledger_row_fn, void *),
    FILE *out)
{
	struct json_array a;
	int rv;

	json_open(&a, out);
	rv = rows(l, json_element, &a);
	json_close(&a);
	return rv;
}

int
report_dump_json(ledger *l, FILE *out)
{
	return json_report(l, ledger_dump_rows, out);
}

int
report_pending_json(ledger *l, FILE *out)
{
	return json_report(l, ledger_pending_rows, out);
}

int
report_list(ledger *l, const struct ledger_filter *f, int format, FILE *out)
{
	struct json_array a;
	int rv;

	if (format == LEDGER_JSON) {
		json_open(&a, out);
		rv = ledger_list_rows(l, f, format, json_element, &a);
		json_close(&a);
		return rv;
	}
	if (format == LEDGER_CSV)
		fputs("id,received_at,transaction_id,status,subject,serial,"
		    "client_addr,reason\n", out);
	return ledger_list_rows(l, f, format, line, out);
}

static int
stats_line(void *arg, const char *period, const char *status, int64_t count)
{
	fprintf(arg, "%-18s %-16s %lld\n", period, status, (long long)count);
	return 1;
}

int
report_stats(ledger *l, int by_day, FILE *out)
{
	return ledger_stats_rows(l, by_day, stats_line, out);
}

int
report_show_json(ledger *l, const char *id, FILE *out, int *found)
{
	struct json_array a;
	int rv;

	json_open(&a, out);
	rv = ledger_show_rows(l, id, json_element, &a, found);
	json_close(&a);
	return rv;
}

struct show_text {
	FILE	*out;
	int64_t	 last;		/* the transaction whose header is out */
	int	 any;
};

static const char *
dash(const char *s)
{
	return s != NULL ? s : "-";
}

/* A header per transaction, then a line per event. */
static int
show_event(void *arg, const struct ledger_show_event *ev)
{
	struct show_text *t = arg;

	if (ev->op_id != t->last) {
		t->last = ev->op_id;
		fprintf(t->out, "%stransaction %s  status %s\n"
		    "  subject %s  serial %s  client %s\n", t->any ? "\n" : "",
		    dash(ev->transaction_id), dash(ev->status),
		    dash(ev->subject), dash(ev->serial), dash(ev->client_addr));
		if (ev->reason != NULL && *ev->reason != '\0')
			fprintf(t->out, "  reason %s\n", ev->reason);
		t->any = 1;
	}
	fprintf(t->out, "  %s  %-20s %-13s %s\n", ev->at, ev->kind, ev->source,
	    ev->detail);
	return 1;
}

int
report_show_text(ledger *l, const char *id, FILE *out, int *found)
{
	struct show_text t = { out, 0, 0 };

	return ledger_show_events(l, id, show_event, &t, found);
}

static int
gauge(void *arg, const char *period, const char *status, int64_t count)
{
	(void)period;
	fprintf(arg, "scepd_transactions{status=\"%s\"} %lld\n", status,
	    (long long)count);
	return 1;
}

int
report_status_metrics(ledger *l, FILE *out)
{
	fputs("# HELP scepd_transactions PKIOperations in the ledger by status.\n"
	    "# TYPE scepd_transactions gauge\n", out);
	return ledger_status_counts(l, gauge, out);
}
