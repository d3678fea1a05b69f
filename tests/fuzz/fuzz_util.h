/*
 * Shared by the libFuzzer targets (make fuzz): where the fixtures are, and
 * a scratch file for the targets whose code under test reads a path.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stddef.h>

/* tests/fuzz/NAME, or under $FUZZ_DATA; static buffer. */
const char *fuzz_data(const char *name);

/* Write data to this process's scratch file; its path. */
const char *fuzz_scratch(const unsigned char *data, size_t len);

#endif
