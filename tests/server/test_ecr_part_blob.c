/*
 * tests/server/test_ecr_part_blob.c — UploadLayerPart's fast path
 * (ecr_part_blob_find): it finds the top-level layerPartBlob string without
 * parsing the body, and gives up (the body is then parsed whole) whenever
 * it could be wrong: escapes, a repeated member, a cut-short body.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "server/ecr/ecr_request.h"

static int find(const char *body, size_t *off, size_t *n)
{
    return ecr_part_blob_find(body, strlen(body), off, n);
}

Test(ecr_part_blob, the_top_level_member_is_found_wherever_it_is)
{
    size_t off, n;
    const char *b = "{\"uploadId\":\"u\", \"layerPartBlob\" :\t\"YWJj\", \"partFirstByte\":0}";
    cr_assert_eq(find(b, &off, &n), 1);
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(b + off, "YWJj", 4), 0);
    /* nested members and strings that look like the member are not it */
    b = "{\"x\":{\"layerPartBlob\":\"no\"},\"s\":\"\\\"layerPartBlob\\\":\\\"no\\\"\",\"layerPartBlob\":\"eWVz\"}";
    cr_assert_eq(find(b, &off, &n), 1);
    cr_assert_eq(memcmp(b + off, "eWVz", n), 0);
    b = "{\"layerPartBlob\":\"\"}";
    cr_assert_eq(find(b, &off, &n), 1);
    cr_assert_eq(n, 0);
}

Test(ecr_part_blob, anything_it_might_get_wrong_is_left_to_jansson)
{
    size_t off, n;
    const char *slow[] = {
        "{\"layerPartBlob\":\"YW\\/j\"}",                       /* an escape */
        "{\"layerPartBlob\":\"YWJj\",\"layerPartBlob\":\"x\"}", /* twice */
        "{\"layerPartBlob\":1,\"layerPartBlob\":\"YWJj\"}",
        "{\"layerPartBlob\":\"YWJj\"", /* cut short */
        "{\"layerPartBlob\":\"YWJj",
        "{\"layerPartBlob\":\"YWJj\"}}",
        "[\"layerPartBlob\",\"YWJj\"]",
        "{\"partFirstByte\":0}",
        "{\"layerPartBlob\":5}",
        "",
    };
    for (size_t i = 0; i < sizeof(slow) / sizeof(slow[0]); i++)
        cr_assert_eq(find(slow[i], &off, &n), 0, "%s", slow[i]);
}
