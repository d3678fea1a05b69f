#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_util.h"

const char *
fuzz_data(const char *name)
{
	static char path[1024];
	const char *dir = getenv("FUZZ_DATA");

	snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : "tests/fuzz",
	    name);
	return path;
}

const char *
fuzz_scratch(const unsigned char *data, size_t len)
{
	static char path[64];
	FILE *f;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/tmp/scepd-fuzz-%ld.in",
		    (long)getpid());
	if ((f = fopen(path, "w")) == NULL)
		abort();
	if (len > 0 && fwrite(data, 1, len, f) != len)
		abort();
	fclose(f);
	return path;
}
