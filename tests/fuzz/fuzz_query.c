/*
 * tests/fuzz/fuzz_query.c — query parameter lookup and percent-decoding.
 * Input: "<name>\n<query>" (without a newline, the whole input is the query
 * and the name is "digest"); the output buffer size comes from the input's
 * length so that truncation paths are reached too.
 *
 * Round trip: a value that decodes is percent-encoded byte by byte into a new
 * query, which must decode to the same bytes.
 *
 * The query is also decoded as a request path (http_path_decode): a path that
 * decodes holds no NUL, fits, and encoded byte by byte decodes to itself.
 *
 * And as a form body (http_form_param): the same answer as http_query_param
 * on the input with every '+' written "%20"; a key it finds is also found
 * by http_form_has_key_prefix, as is any prefix of it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "server/http_parse.h"

static const size_t out_sizes[] = {0, 1, 2, 8, 300};
#define QUERY_NAME_MAX 64

static size_t pct_encode(const char *s, size_t len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        out[n++] = '%';
        out[n++] = hex[c >> 4];
        out[n++] = hex[c & 15];
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *q = (const char *)data;
    size_t qlen = size;
    char name[QUERY_NAME_MAX + 1] = "digest";
    const char *nl = memchr(q, '\n', size);
    if (nl != NULL && (size_t)(nl - q) <= QUERY_NAME_MAX) {
        size_t nlen = (size_t)(nl - q);
        memcpy(name, q, nlen);
        name[nlen] = '\0'; /* a NUL inside just shortens the name: fine */
        q = nl + 1;
        qlen = size - nlen - 1;
    }
    size_t name_len = strlen(name);

    size_t out_size = out_sizes[size % (sizeof(out_sizes) / sizeof(out_sizes[0]))];
    char *out = malloc(out_size > 0 ? out_size : 1);
    FUZZ_CHECK(out != NULL);
    long n = http_query_param(q, qlen, name, out_size > 0 ? out : NULL, out_size);
    FUZZ_CHECK(n >= -2);
    /* a key present whole is present as a prefix, and so is every prefix of its name */
    char probe[2];
    if (http_form_param(q, qlen, name, probe, sizeof(probe)) != -1) {
        FUZZ_CHECK(http_form_has_key_prefix(q, qlen, name));
        char shorter[QUERY_NAME_MAX + 1];
        memcpy(shorter, name, name_len + 1);
        shorter[name_len / 2] = '\0';
        FUZZ_CHECK(http_form_has_key_prefix(q, qlen, shorter));
    }
    if (out_size > 0 && n < 0)
        FUZZ_CHECK(out[0] == '\0');
    if (n >= 0) {
        FUZZ_CHECK((size_t)n < out_size && out[n] == '\0' && strlen(out) == (size_t)n);
        /* the answer does not depend on the room, once it fits */
        char big[300];
        FUZZ_CHECK(http_query_param(q, qlen, name, big, sizeof(big)) == n && memcmp(big, out, (size_t)n + 1) == 0);

        /* round trip: "<%name>=<%value>" decodes to the same value */
        char *rt = malloc(3 * (name_len + (size_t)n) + 1);
        FUZZ_CHECK(rt != NULL);
        size_t rl = pct_encode(name, name_len, rt);
        rt[rl++] = '=';
        rl += pct_encode(out, (size_t)n, rt + rl);
        char back[300];
        FUZZ_CHECK(http_query_param(rt, rl, name, back, sizeof(back)) == n);
        FUZZ_CHECK(memcmp(back, out, (size_t)n) == 0);
        free(rt);
    }
    free(out);

    char *spaced = malloc(3 * qlen + 1);
    FUZZ_CHECK(spaced != NULL);
    size_t sl = 0;
    for (size_t i = 0; i < qlen; i++) {
        if (q[i] == '+') {
            memcpy(spaced + sl, "%20", 3);
            sl += 3;
        } else {
            spaced[sl++] = q[i];
        }
    }
    char f1[300], f2[300];
    size_t fsize = out_sizes[(size / 3) % (sizeof(out_sizes) / sizeof(out_sizes[0]))];
    long fn = http_form_param(q, qlen, name, fsize > 0 ? f1 : NULL, fsize);
    long qn = http_query_param(spaced, sl, name, fsize > 0 ? f2 : NULL, fsize);
    FUZZ_CHECK(fn == qn);
    if (fn >= 0)
        FUZZ_CHECK(memcmp(f1, f2, (size_t)fn + 1) == 0);
    free(spaced);

    char path[300];
    size_t plen = 0;
    size_t cap = out_sizes[(size / 5) % (sizeof(out_sizes) / sizeof(out_sizes[0]))];
    if (http_path_decode(q, qlen, path, cap, &plen)) {
        FUZZ_CHECK(plen < cap && path[plen] == '\0' && strlen(path) == plen);
        char *enc = malloc(3 * plen + 1);
        FUZZ_CHECK(enc != NULL);
        size_t el = pct_encode(path, plen, enc);
        char again[300];
        size_t alen = 0;
        FUZZ_CHECK(http_path_decode(enc, el, again, sizeof(again), &alen) && alen == plen && memcmp(again, path, plen) == 0);
        free(enc);
    }
    return 0;
}
