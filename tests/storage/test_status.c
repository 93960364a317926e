/* Status codes: 0 is success, every failure negative, each with its own words. */
#include <criterion/criterion.h>

#include "storage/storage.h"

Test(storage_status, every_code_has_distinct_words_and_failures_are_negative)
{
    const storage_status_t codes[] = {
        STORAGE_OK,   STORAGE_NOT_FOUND, STORAGE_DIGEST_MISMATCH, STORAGE_RANGE,     STORAGE_REFERENCE, STORAGE_INVALID,
        STORAGE_FULL, STORAGE_IO,        STORAGE_NOMEM,           STORAGE_CANCELLED, STORAGE_EXISTS};
    size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        cr_expect(i == 0 ? codes[i] == 0 : codes[i] < 0, "code %zu", i);
        cr_expect_str_neq(storage_status_name(codes[i]), "unknown", "code %d", (int)codes[i]);
        for (size_t j = 0; j < i; j++)
            cr_expect_str_neq(storage_status_name(codes[i]), storage_status_name(codes[j]));
    }
    cr_expect_str_eq(storage_status_name((storage_status_t)(STORAGE_EXISTS - 1)), "unknown");
}
