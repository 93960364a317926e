/*
 * tests/fuzz/fuzz_check.h — the one assertion fuzz targets use. It aborts even
 * in release builds (unlike assert), so libFuzzer records the input as a crash
 * and the replay test fails on it.
 */
#ifndef BERTH_FUZZ_CHECK_H
#define BERTH_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                                                           \
    do {                                                                                                                           \
        if (!(cond)) {                                                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);                                           \
            abort();                                                                                                               \
        }                                                                                                                          \
    } while (0)

#endif
