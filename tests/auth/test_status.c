/*
 * tests/auth/test_status.c — every auth code has words of its own, and a
 * value that is no code says so.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "auth/auth.h"

Test(auth_status, every_code_has_distinct_words_and_failures_are_negative)
{
    const auth_status_t codes[] = {AUTH_OK, AUTH_EMALFORMED, AUTH_EEXPIRED, AUTH_EBADSIG, AUTH_ENOMEM, AUTH_ECRYPTO};
    size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        cr_expect(i == 0 ? codes[i] == 0 : codes[i] < 0, "code %zu", i);
        cr_expect_str_neq(auth_status_name(codes[i]), "unknown", "code %d", (int)codes[i]);
        for (size_t j = 0; j < i; j++)
            cr_expect_str_neq(auth_status_name(codes[i]), auth_status_name(codes[j]));
    }
    cr_expect_str_eq(auth_status_name((auth_status_t)(AUTH_ECRYPTO - 1)), "unknown");
    cr_expect_str_eq(auth_status_name((auth_status_t)1), "unknown");
}

Test(auth_status, every_identity_code_has_distinct_words_and_failures_are_negative)
{
    const auth_identity_status_t codes[] = {AUTH_IDENTITY_OK,         AUTH_IDENTITY_NOT_FOUND, AUTH_IDENTITY_EXISTS,
                                            AUTH_IDENTITY_INVALID,    AUTH_IDENTITY_CONFLICT,  AUTH_IDENTITY_LIMIT,
                                            AUTH_IDENTITY_STORE_ERROR};
    size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        cr_expect(i == 0 ? codes[i] == 0 : codes[i] < 0, "code %zu", i);
        cr_expect_str_neq(auth_identity_status_name(codes[i]), "unknown", "code %d", (int)codes[i]);
        for (size_t j = 0; j < i; j++)
            cr_expect_str_neq(auth_identity_status_name(codes[i]), auth_identity_status_name(codes[j]));
    }
    cr_expect_str_eq(auth_identity_status_name((auth_identity_status_t)(AUTH_IDENTITY_STORE_ERROR - 1)), "unknown");
}
