/* Status codes: 0 is success, every failure negative, each with its own words. */
#include "storage/storage.h"
#include "tests/status_names.h"

Test(storage_status, every_code_has_distinct_words_and_failures_are_negative)
{
    EXPECT_STATUS_NAMES(storage_status_name, STORAGE_OK, STORAGE_NOT_FOUND, STORAGE_DIGEST_MISMATCH, STORAGE_RANGE,
                        STORAGE_REFERENCE, STORAGE_INVALID, STORAGE_FULL, STORAGE_IO, STORAGE_NOMEM, STORAGE_CANCELLED,
                        STORAGE_EXISTS);
    cr_expect_str_eq(storage_status_name(STORAGE_EXISTS - 1), "unknown");
}
