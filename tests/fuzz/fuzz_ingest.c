/*
 * The device-log parsers (Android OMA DM, iOS profiled, Windows events as
 * XML or text) on any file, against a ledger holding one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/ctl/ctl.h"
#include "store/ledger.h"
#include "tests/fuzz/fuzz_util.h"

static ledger *l;
static ingest *in;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char path[64];
	const char *why;

	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/tmp/scepd-fuzz-%ld.db", (long)getpid());
	unlink(path);
	if (ledger_open(path, &l, &why) != LEDGER_OK || !ingest_new(l, &in))
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct ingest_counts c;
	const char *why;

	/* One run for all inputs: the bindings carry over, as across files. */
	memset(&c, 0, sizeof(c));
	(void)ingest_file(in, fuzz_scratch(data, len), &c, &why);
	return 0;
}
