/*
 * The device-log parsers (Android OMA DM, iOS profiled, Windows events as
 * XML or text) on any file, against a ledger holding one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "server/ctl/ctl.h"
#include "store/ledger.h"
#include "tests/fuzz/fuzz_util.h"

static ledger *l;

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
	if (ledger_open(path, &l, &why) != LEDGER_OK)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct ingest_counts c = { 0, 0, 0, 0 };
	const char *why;

	(void)ingest_file(l, fuzz_scratch(data, len), &c, &why);
	return 0;
}
