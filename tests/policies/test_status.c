/*
 * tests/policies/test_status.c — every policies code has words of its own,
 * and a value that is no code says so.
 */
#include "policies/policies.h"
#include "tests/status_names.h"

Test(policy_status, every_code_has_distinct_words_and_failures_are_negative)
{
    EXPECT_STATUS_NAMES(policy_status_name, POLICY_OK, POLICY_EMALFORMED, POLICY_ENOMEM);
    cr_expect_str_eq(policy_status_name(POLICY_ENOMEM - 1), "unknown");
}
