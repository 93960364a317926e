/*
 * tests/auth/test_status.c — every auth code has words of its own, and a
 * value that is no code says so.
 */
#include "auth/auth.h"
#include "tests/status_names.h"

Test(auth_status, every_code_has_distinct_words_and_failures_are_negative)
{
    EXPECT_STATUS_NAMES(auth_status_name, AUTH_OK, AUTH_EMALFORMED, AUTH_EEXPIRED, AUTH_EBADSIG, AUTH_ENOMEM, AUTH_ECRYPTO);
    cr_expect_str_eq(auth_status_name(AUTH_ECRYPTO - 1), "unknown");
    cr_expect_str_eq(auth_status_name(1), "unknown");
}

Test(auth_status, every_identity_code_has_distinct_words_and_failures_are_negative)
{
    EXPECT_STATUS_NAMES(auth_identity_status_name, AUTH_IDENTITY_OK, AUTH_IDENTITY_NOT_FOUND, AUTH_IDENTITY_EXISTS,
                        AUTH_IDENTITY_INVALID, AUTH_IDENTITY_CONFLICT, AUTH_IDENTITY_LIMIT, AUTH_IDENTITY_STORE_ERROR);
    cr_expect_str_eq(auth_identity_status_name(AUTH_IDENTITY_STORE_ERROR - 1), "unknown");
}
