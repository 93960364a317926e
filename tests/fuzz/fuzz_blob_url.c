/*
 * tests/fuzz/fuzz_blob_url.c — the signed blob URL's query parser and
 * verifier (auth/blob_url.c). Input: the query string after '?'. Any query
 * is parsed or refused with a message, never a crash; a query verifies only
 * if it is exactly what signing its expiry gives (the same text, up to the
 * order of the two parameters), and only before that expiry.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "fuzz_check.h"

static const unsigned char key[AUTH_SEAL_KEY_BYTES] = {7};
#define REPO "team/app"
#define DIGEST "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define NOW 1800000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *q = (const char *)data;
    auth_err_t err = {{0}};
    int64_t expires = 0;
    unsigned char sig[32];
    auth_status_t p = auth_blob_url_parse(q, size, &expires, sig, &err);
    FUZZ_CHECK(p == AUTH_OK || p == AUTH_EMALFORMED);
    if (p != AUTH_OK)
        FUZZ_CHECK(err.msg[0] != '\0');
    /* a parsed query was signed or not; if it verifies, signing its expiry gives the same signature */
    auth_status_t v = auth_blob_url_verify(key, REPO, DIGEST, q, size, NOW, &err);
    FUZZ_CHECK(v == AUTH_OK || v == AUTH_EMALFORMED || v == AUTH_EBADSIG || v == AUTH_EEXPIRED);
    FUZZ_CHECK((p == AUTH_OK) == (v != AUTH_EMALFORMED));
    if (p != AUTH_OK)
        return 0;
    FUZZ_CHECK(expires > 0);
    FUZZ_CHECK(auth_blob_url_signed(q, size));
    char good[AUTH_BLOB_URL_QUERY_MAX + 1];
    FUZZ_CHECK(auth_blob_url_sign(key, REPO, DIGEST, expires, good, sizeof(good), &err) == AUTH_OK);
    int64_t e2;
    unsigned char want[32];
    FUZZ_CHECK(auth_blob_url_parse(good, strlen(good), &e2, want, &err) == AUTH_OK && e2 == expires);
    bool same = memcmp(sig, want, sizeof(want)) == 0;
    FUZZ_CHECK(same == (v == AUTH_OK || v == AUTH_EEXPIRED));
    if (same)
        FUZZ_CHECK((v == AUTH_EEXPIRED) == (NOW >= expires));
    /* the signed query always verifies before its expiry, for its blob only */
    FUZZ_CHECK(auth_blob_url_verify(key, REPO, DIGEST, good, strlen(good), expires - 1, &err) == AUTH_OK);
    FUZZ_CHECK(auth_blob_url_verify(key, "team/apq", DIGEST, good, strlen(good), expires - 1, &err) == AUTH_EBADSIG);
    return 0;
}
