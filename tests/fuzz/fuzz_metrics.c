/*
 * tests/fuzz/fuzz_metrics.c — what GET /metrics reads from a request
 * (server/metrics.c, metrics_token.c): the route a raw path and method count
 * under, and a presented scraper token's split. Input: a method, a NUL, a
 * path (also tried as a token). Never a crash; a route is one of the fixed
 * set; a token that splits has the exact shape.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "server/metrics_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nul = memchr(p, '\0', size);
    size_t mlen = nul ? (size_t)(nul - p) : 0;
    const char *path = nul ? nul + 1 : p;
    size_t plen = nul ? size - mlen - 1 : size;
    metrics_route_t r = metrics_classify(path, plen, p, mlen);
    FUZZ_CHECK(r >= MR_OTHER && r < METRICS_N_ROUTES);
    char id[METRICS_TOKEN_ID_HEX + 1];
    const char *secret = NULL;
    if (metrics_token_split(path, plen, id, &secret)) {
        FUZZ_CHECK(plen == METRICS_TOKEN_LEN);
        FUZZ_CHECK(strlen(id) == METRICS_TOKEN_ID_HEX);
        FUZZ_CHECK(secret == path + plen - METRICS_TOKEN_SECRET_HEX);
    }
    return 0;
}
