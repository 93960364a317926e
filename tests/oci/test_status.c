/*
 * tests/oci/test_status.c — every oci code has words of its own, and a value
 * that is no code says so.
 */
#include <criterion/criterion.h>

#include "oci/oci.h"

Test(oci_status, every_code_has_distinct_words_and_failures_are_negative)
{
    cr_expect_eq(OCI_OK, 0);
    cr_expect_lt(OCI_EINVAL, 0);
    cr_expect_lt(OCI_EUNSUPPORTED, 0);
    cr_expect_str_eq(oci_status_name(OCI_OK), "ok");
    cr_expect_str_eq(oci_status_name(OCI_EINVAL), "malformed");
    cr_expect_str_eq(oci_status_name(OCI_EUNSUPPORTED), "unsupported");
    cr_expect_str_eq(oci_status_name((oci_status_t)(OCI_EUNSUPPORTED - 1)), "unknown");
}
