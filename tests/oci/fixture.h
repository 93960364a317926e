/*
 * tests/oci/fixture.h — reads a fixture file from tests/oci/fixtures/ into a
 * malloc'd buffer that is NOT NUL-terminated beyond its length, so that tests
 * exercise the parsers' (pointer, length) contract the way h2o hands them data.
 */
#ifndef BERTH_TESTS_OCI_FIXTURE_H
#define BERTH_TESTS_OCI_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

static inline char *fixture_read(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", OCI_FIXTURE_DIR, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open fixture %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    cr_assert(n > 0, "fixture %s is empty", path);
    char *buf = malloc((size_t)n);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

#endif
