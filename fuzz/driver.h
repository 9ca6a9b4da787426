/*
 * driver.h: the entry point every fuzz target defines (libFuzzer's). The
 * same target links with fuzz/driver.c for `make check`, or with
 * -fsanitize=fuzzer for real fuzzing.
 */
#ifndef FUZZ_DRIVER_H
#define FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
