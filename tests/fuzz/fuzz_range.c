/*
 * tests/fuzz/fuzz_range.c — Range and Content-Range header values, and the
 * integer parser under them. The input is the header value; it is tried
 * against bodies of several sizes, the edges included.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "server/http_parse.h"

static const uint64_t body_sizes[] = {0, 1, 2, 1000, UINT64_MAX - 1, UINT64_MAX};

/* An independent reference for http_parse_u64: digits only, compared in decimal
 * text against UINT64_MAX so no arithmetic can overflow. */
static bool reference_u64(const char *s, size_t len, uint64_t *out)
{
    static const char max[] = "18446744073709551615";
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    while (len > 1 && s[0] == '0') {
        s++;
        len--;
    }
    if (len > sizeof(max) - 1 || (len == sizeof(max) - 1 && memcmp(s, max, len) > 0))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    *out = v;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;

    for (size_t i = 0; i < sizeof(body_sizes) / sizeof(body_sizes[0]); i++) {
        http_range_t r = {12345, 54321};
        http_range_status_t st = http_range_parse(s, size, body_sizes[i], &r);
        FUZZ_CHECK(st == HTTP_RANGE_OK || st == HTTP_RANGE_IGNORE || st == HTTP_RANGE_UNSATISFIABLE);
        if (st == HTTP_RANGE_OK)
            FUZZ_CHECK(r.first <= r.last && r.last < body_sizes[i]); /* serve only bytes that exist */
        else
            FUZZ_CHECK(r.first == 12345 && r.last == 54321);
        if (body_sizes[i] == 0)
            FUZZ_CHECK(st != HTTP_RANGE_OK);
    }

    uint64_t first = 7, last = 7;
    if (http_content_range_parse(s, size, &first, &last))
        FUZZ_CHECK(first <= last && last < UINT64_MAX); /* last - first + 1, the chunk's length, never wraps */
    else
        FUZZ_CHECK(first == 7 && last == 7);

    uint64_t got = 0, want = 0;
    bool ok = http_parse_u64(s, size, &got);
    FUZZ_CHECK(ok == reference_u64(s, size, &want));
    FUZZ_CHECK(!ok || got == want);
    return 0;
}
