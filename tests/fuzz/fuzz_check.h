/*
 * tests/fuzz/fuzz_check.h — what every fuzz target includes: the one
 * declaration of its entry point, and the one assertion fuzz targets use.
 * FUZZ_CHECK aborts even in release builds (unlike assert), so libFuzzer
 * records the input as a crash and the replay test fails on it.
 */
#ifndef BERTH_FUZZ_CHECK_H
#define BERTH_FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Defined by each fuzz_<name>.c; called by libFuzzer, or by replay_main.c for
 * each corpus file. Returns 0 (libFuzzer reserves other values). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                                                           \
    do {                                                                                                                           \
        if (!(cond)) {                                                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);                                           \
            abort();                                                                                                               \
        }                                                                                                                          \
    } while (0)

#endif
