/*
 * tests/policies/test_status.c — every policies code has words of its own,
 * and a value that is no code says so.
 */
#include <criterion/criterion.h>

#include "policies/policies.h"

Test(policy_status, every_code_has_distinct_words_and_failures_are_negative)
{
    cr_expect_eq(POLICY_OK, 0);
    cr_expect_lt(POLICY_EMALFORMED, 0);
    cr_expect_lt(POLICY_ENOMEM, 0);
    cr_expect_str_eq(policy_status_name(POLICY_OK), "ok");
    cr_expect_str_eq(policy_status_name(POLICY_EMALFORMED), "malformed policy");
    cr_expect_str_eq(policy_status_name(POLICY_ENOMEM), "no memory");
    cr_expect_str_eq(policy_status_name((policy_status_t)(POLICY_ENOMEM - 1)), "unknown");
}
