/*
 * tests/fuzz/fuzz_sigv4.c — SigV4. The whole input goes to auth_sigv4_parse.
 * Then a request is carved from it, one field per line:
 *
 *   Authorization (fuzzed) \n method \n path \n query \n body \n Name: value \n ...
 *
 * (a Host header is always added). The request is signed with a fixed secret;
 * verify must accept exactly that signature and refuse, unless it means the
 * same thing, the fuzzed Authorization and a one-byte edit of the right one.
 * "Means the same" is: same scope date, region, service, signed headers and
 * signature; the access key id is not part of what is signed (the caller
 * looks the secret up by it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "fuzz_check.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define NOW INT64_C(1795856400)
#define MAX_LINES (5 + AUTH_SIGV4_MAX_SIGNED_HEADERS)

static bool same_signature(const auth_sigv4_t *a, const auth_sigv4_t *b)
{
    return strcmp(a->date, b->date) == 0 && strcmp(a->region, b->region) == 0 && strcmp(a->service, b->service) == 0 &&
           strcmp(a->signed_headers, b->signed_headers) == 0 && strcmp(a->signature, b->signature) == 0;
}

static void check_parsed(const auth_sigv4_t *p)
{
    FUZZ_CHECK(strnlen(p->access_key_id, sizeof(p->access_key_id)) < sizeof(p->access_key_id));
    FUZZ_CHECK(strlen(p->date) == 8);
    FUZZ_CHECK(strnlen(p->region, sizeof(p->region)) < sizeof(p->region));
    FUZZ_CHECK(strnlen(p->service, sizeof(p->service)) < sizeof(p->service));
    FUZZ_CHECK(strnlen(p->signed_headers, sizeof(p->signed_headers)) < sizeof(p->signed_headers));
    FUZZ_CHECK(strlen(p->signature) == 64 && strspn(p->signature, "0123456789abcdef") == 64);
}

/* Verifies `authz` against the request: OK only for what means `right`. */
static void check_other(const char *authz, size_t len, const auth_sigv4_t *right, const auth_http_request_t *req)
{
    auth_sigv4_t p;
    if (auth_sigv4_parse(authz, len, &p, NULL) != AUTH_OK)
        return;
    check_parsed(&p);
    auth_status_t st = auth_sigv4_verify(&p, req, SECRET, strlen(SECRET), "ecr", NOW, NULL);
    if (st == AUTH_OK || st == AUTH_EEXPIRED)
        FUZZ_CHECK(same_signature(&p, right));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    auth_sigv4_t parsed;
    auth_err_t err;
    auth_status_t st = auth_sigv4_parse(s, size, &parsed, &err);
    FUZZ_CHECK(st == AUTH_OK || st == AUTH_EMALFORMED);
    if (st == AUTH_OK)
        check_parsed(&parsed);

    /* carve the lines */
    const char *line[MAX_LINES];
    size_t len[MAX_LINES], n = 0;
    for (size_t i = 0; i <= size && n < MAX_LINES;) {
        const char *nl = memchr(s + i, '\n', size - i);
        size_t j = nl ? (size_t)(nl - s) : size;
        line[n] = s + i;
        len[n++] = j - i;
        i = j + 1;
    }
    for (size_t k = n; k < 5; k++) {
        line[k] = "";
        len[k] = 0;
    }
    char method[16] = "GET";
    if (len[1] > 0 && len[1] < sizeof(method)) {
        memcpy(method, line[1], len[1]);
        method[len[1]] = '\0';
    }
    auth_header_t h[AUTH_SIGV4_MAX_SIGNED_HEADERS + 2];
    size_t nh = 0;
    h[nh++] = (auth_header_t){"Host", 4, "localhost:5000", 14};
    for (size_t k = 5; k < n && nh < AUTH_SIGV4_MAX_SIGNED_HEADERS; k++) {
        const char *colon = memchr(line[k], ':', len[k]);
        if (colon == NULL)
            continue;
        h[nh++] = (auth_header_t){line[k], (size_t)(colon - line[k]), colon + 1, len[k] - (size_t)(colon - line[k]) - 1};
    }
    auth_http_request_t req = {.method = method,
                               .path = line[2],
                               .path_len = len[2],
                               .query = len[3] ? line[3] : NULL,
                               .query_len = len[3],
                               .headers = h,
                               .n_headers = nh,
                               .body = line[4],
                               .body_len = len[4]};

    char date[17], right_authz[1024];
    st = auth_sigv4_sign(&req, "AKIAIOSFODNN7EXAMPLE", SECRET, strlen(SECRET), "us-east-1", "ecr", NOW, date, right_authz,
                         sizeof(right_authz), &err);
    if (st != AUTH_OK) {
        /* unsignable request: whatever the fuzzed header says, no crash */
        auth_sigv4_t p;
        if (auth_sigv4_parse(line[0], len[0], &p, NULL) == AUTH_OK)
            (void)auth_sigv4_verify(&p, &req, SECRET, strlen(SECRET), "ecr", NOW, NULL);
        return 0;
    }
    h[nh++] = (auth_header_t){"X-Amz-Date", 10, date, 16};
    req.n_headers = nh;

    auth_sigv4_t right;
    FUZZ_CHECK(auth_sigv4_parse(right_authz, strlen(right_authz), &right, &err) == AUTH_OK);
    st = auth_sigv4_verify(&right, &req, SECRET, strlen(SECRET), "ecr", NOW, &err);
    /* a carved x-amz-content-sha256 that is not the body's hash is refused */
    bool payload_header = false;
    for (size_t k = 0; k < nh; k++)
        payload_header = payload_header || (h[k].name_len == 20 && strncasecmp(h[k].name, "x-amz-content-sha256", 20) == 0);
    /* a carved x-amz-date (sign replaces it; the verifier sees two) is refused */
    size_t dates = 0;
    for (size_t k = 0; k < nh; k++)
        dates += h[k].name_len == 10 && strncasecmp(h[k].name, "x-amz-date", 10) == 0;
    if (!payload_header && dates == 1)
        FUZZ_CHECK(st == AUTH_OK);
    else
        FUZZ_CHECK(st == AUTH_OK || st == AUTH_EMALFORMED);
    if (st != AUTH_OK)
        return 0;

    FUZZ_CHECK(auth_sigv4_verify(&right, &req, "another secret", 14, "ecr", NOW, NULL) == AUTH_EBADSIG);
    FUZZ_CHECK(auth_sigv4_verify(&right, &req, SECRET, strlen(SECRET), "ecr", NOW + AUTH_SIGV4_MAX_SKEW_SECONDS + 1, NULL) ==
               AUTH_EEXPIRED);

    check_other(line[0], len[0], &right, &req);

    /* one byte of the right header changed, chosen by the input */
    size_t al = strlen(right_authz);
    uint32_t hsh = 2166136261u;
    for (size_t i = 0; i < size; i++)
        hsh = (hsh ^ data[i]) * 16777619u;
    char edited[1024];
    memcpy(edited, right_authz, al + 1);
    edited[hsh % al] ^= (char)((hsh >> 16) | 1);
    check_other(edited, al, &right, &req);
    return 0;
}
