/* GET /metrics's pure parts (server/metrics.c, server/metrics_token.c): the
 * route a request counts under (a fixed set, never a path), and the shape of
 * a scraper's token. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/metrics_internal.h"

static metrics_route_t route(const char *method, const char *path)
{
    return metrics_classify(path, strlen(path), method, strlen(method));
}

Test(metrics_route, registry_paths_count_under_their_resource_never_the_repository)
{
    cr_assert_eq(route("GET", "/v2/a/b/manifests/latest"), MR_MANIFEST);
    cr_assert_eq(route("HEAD", "/v2/x/manifests/sha256:abc?foo=bar"), MR_MANIFEST);
    cr_assert_eq(route("GET", "/v2/x/blobs/sha256:abc"), MR_BLOB);
    cr_assert_eq(route("POST", "/v2/x/blobs/uploads/"), MR_UPLOAD);
    cr_assert_eq(route("PATCH", "/v2/x/blobs/uploads/0123-id"), MR_UPLOAD);
    cr_assert_eq(route("GET", "/v2/x/tags/list?n=3"), MR_TAGS);
    cr_assert_eq(route("GET", "/v2/x/referrers/sha256:abc"), MR_REFERRERS);
    cr_assert_eq(route("GET", "/v2/_catalog"), MR_CATALOG);
    cr_assert_eq(route("GET", "/v2/token?scope=x"), MR_TOKEN);
    cr_assert_eq(route("GET", "/v2/"), MR_V2_BASE);
    cr_assert_eq(route("GET", "/v2"), MR_V2_BASE);
}

Test(metrics_route, probes_the_aws_endpoint_and_anything_else)
{
    cr_assert_eq(route("GET", "/healthz"), MR_HEALTHZ);
    cr_assert_eq(route("GET", "/readyz"), MR_READYZ);
    cr_assert_eq(route("GET", "/metrics"), MR_METRICS);
    cr_assert_eq(route("POST", "/"), MR_AWS);
    cr_assert_eq(route("GET", "/"), MR_OTHER);
    cr_assert_eq(route("GET", "/v2/x/unknown/thing"), MR_OTHER);
    cr_assert_eq(route("GET", "/metricsx"), MR_OTHER);
    cr_assert_eq(route("GET", ""), MR_OTHER);
    cr_assert_eq(route("GET", "/v3/x/manifests/y"), MR_OTHER);
}

#define ID "0123456789abcdef"
#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define SHORT_SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeef"

Test(metrics_token, a_well_formed_token_splits_into_id_and_secret)
{
    const char *tok = METRICS_TOKEN_PREFIX ID "_" SECRET, *secret = NULL;
    char id[METRICS_TOKEN_ID_HEX + 1];
    cr_assert(metrics_token_split(tok, strlen(tok), id, &secret));
    cr_assert_str_eq(id, ID);
    cr_assert_eq(strncmp(secret, SECRET, METRICS_TOKEN_SECRET_HEX), 0);
}

Test(metrics_token, malformed_tokens_are_refused)
{
    const char *bad[] = {
        "",
        METRICS_TOKEN_PREFIX ID "_" SECRET "0",          /* too long */
        METRICS_TOKEN_PREFIX ID "_" SHORT_SECRET,        /* too short */
        "berthx_" ID "_" SECRET,                         /* wrong prefix */
        METRICS_TOKEN_PREFIX ID "-" SECRET,              /* wrong separator */
        METRICS_TOKEN_PREFIX "0123456789ABCDEF_" SECRET, /* upper case */
        METRICS_TOKEN_PREFIX "0123456789abcdeg_" SECRET, /* not hex */
        METRICS_TOKEN_PREFIX ID "_"
                                "%%112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    };
    char id[METRICS_TOKEN_ID_HEX + 1];
    const char *secret;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(metrics_token_split(bad[i], strlen(bad[i]), id, &secret), "accepted #%zu: %s", i, bad[i]);
}
