/*
 * tests/oci/test_status.c — every oci code has words of its own, and a value
 * that is no code says so.
 */
#include "oci/oci.h"
#include "tests/status_names.h"

Test(oci_status, every_code_has_distinct_words_and_failures_are_negative)
{
    EXPECT_STATUS_NAMES(oci_status_name, OCI_OK, OCI_EINVAL, OCI_EUNSUPPORTED);
    cr_expect_str_eq(oci_status_name(OCI_EUNSUPPORTED - 1), "unknown");
}
