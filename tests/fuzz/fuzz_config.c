/* The configuration parser and its cross-key checks, on any file. */
#include "server/common/common.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct scepd_config c;
	char err[CONFIG_ERR_MAX];

	config_init(&c);
	if (config_load(&c, fuzz_scratch(data, len), err, sizeof(err)))
		(void)config_check(&c, err, sizeof(err));
	config_free(&c);
	return 0;
}
