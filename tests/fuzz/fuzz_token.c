/*
 * tests/fuzz/fuzz_token.c — registry tokens. The first input byte picks:
 *   0: the rest is a token; verify with a fixed key must refuse it unless it
 *      is byte for byte one the key issued (a small set, issued at start-up);
 *   1: one of those tokens, with (position, byte) edits from the input and
 *      possibly truncated: refused unless the edits changed nothing;
 *   2: claims carved from the input: issue then verify round-trips them
 *      (issue refuses shapes the format forbids: a password without ARN and
 *      id, or with scopes; a Bearer token with only one of ARN and id), and
 *      a key with another secret or another id refuses the token.
 * Every input also goes through auth_token_key_id.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "fuzz_check.h"

#define N_ISSUED 4
#define NOW INT64_C(1795856400)

static auth_token_key_t key, other_secret, other_id;
static char issued[N_ISSUED][AUTH_TOKEN_MAX_BYTES + 1];
static bool ready;

static void setup(void)
{
    if (ready)
        return;
    memset(&key, 0, sizeof(key));
    strcpy(key.id, "fuzzkey");
    for (size_t i = 0; i < sizeof(key.secret); i++)
        key.secret[i] = (unsigned char)(i * 7 + 1);
    other_secret = key;
    other_secret.secret[31] ^= 1;
    other_id = key;
    strcpy(other_id.id, "fuzzkey2");
    for (size_t i = 0; i < N_ISSUED; i++) {
        auth_token_claims_t c;
        memset(&c, 0, sizeof(c));
        /* a password, two users' Bearer tokens, an anonymous Bearer token */
        c.bearer = i > 0;
        if (i < N_ISSUED - 1) {
            snprintf(c.principal_arn, sizeof(c.principal_arn), "arn:aws:iam::123456789012:user/u%zu", i);
            snprintf(c.principal_id, sizeof(c.principal_id), "AIDAFUZZ%013zu", i);
        }
        c.issued_at = NOW - 10;
        c.expires_at = NOW + 3600 * (int64_t)i + 1;
        c.n_scopes = i;
        for (size_t k = 0; k < i; k++) {
            snprintf(c.scopes[k].repository, sizeof(c.scopes[k].repository), "team/app%zu", k);
            c.scopes[k].pull = true;
            c.scopes[k].push = k & 1;
        }
        FUZZ_CHECK(auth_token_issue(&key, &c, issued[i], sizeof(issued[i]), NULL) == AUTH_OK);
    }
    ready = true;
}

static bool is_issued(const char *t, size_t len)
{
    for (size_t i = 0; i < N_ISSUED; i++) {
        if (strlen(issued[i]) == len && memcmp(issued[i], t, len) == 0)
            return true;
    }
    return false;
}

static void check_verify(const char *t, size_t len)
{
    auth_token_claims_t out;
    auth_err_t err;
    auth_status_t st = auth_token_verify(&key, t, len, NOW, &out, &err);
    FUZZ_CHECK(st == AUTH_OK || st == AUTH_EMALFORMED || st == AUTH_EBADSIG || st == AUTH_EEXPIRED);
    if (st == AUTH_OK || st == AUTH_EEXPIRED)
        FUZZ_CHECK(is_issued(t, len)); /* only a token we signed gets past the MAC */
    if (st == AUTH_OK) {
        FUZZ_CHECK(strnlen(out.principal_arn, sizeof(out.principal_arn)) <= AUTH_PRINCIPAL_ARN_MAX);
        FUZZ_CHECK(strnlen(out.principal_id, sizeof(out.principal_id)) <= AUTH_PRINCIPAL_ID_MAX);
        FUZZ_CHECK(out.n_scopes <= AUTH_TOKEN_MAX_SCOPES);
        FUZZ_CHECK((out.principal_arn[0] == '\0') == (out.principal_id[0] == '\0'));
        FUZZ_CHECK(out.bearer || (out.principal_arn[0] != '\0' && out.n_scopes == 0));
    }
    FUZZ_CHECK(auth_token_verify(&other_secret, t, len, NOW, &out, &err) != AUTH_OK);
    FUZZ_CHECK(auth_token_verify(&other_id, t, len, NOW, &out, &err) != AUTH_OK);
}

static size_t take(const uint8_t **d, size_t *n, void *out, size_t want)
{
    size_t k = want < *n ? want : *n;
    memcpy(out, *d, k);
    *d += k;
    *n -= k;
    return k;
}

static void round_trip(const uint8_t *d, size_t n)
{
    auth_token_claims_t c;
    memset(&c, 0, sizeof(c));
    uint8_t hdr[4] = {0};
    take(&d, &n, hdr, sizeof(hdr));
    take(&d, &n, &c.issued_at, sizeof(c.issued_at));
    take(&d, &n, &c.expires_at, sizeof(c.expires_at));
    size_t al = take(&d, &n, c.principal_arn, hdr[0] % (AUTH_PRINCIPAL_ARN_MAX + 1));
    c.principal_arn[al] = '\0';
    c.bearer = hdr[3] & 1;
    size_t il = take(&d, &n, c.principal_id, (hdr[3] >> 1) % (AUTH_PRINCIPAL_ID_MAX + 2));
    if (il > AUTH_PRINCIPAL_ID_MAX) /* one over: issue must refuse an unterminated id */
        c.principal_id[AUTH_PRINCIPAL_ID_MAX] = 'x';
    else
        c.principal_id[il] = '\0';
    c.n_scopes = hdr[1] % (AUTH_TOKEN_MAX_SCOPES + 2);
    for (size_t i = 0; i < c.n_scopes && i < AUTH_TOKEN_MAX_SCOPES; i++) {
        uint8_t sc[2] = {0};
        take(&d, &n, sc, 2);
        size_t rl = take(&d, &n, c.scopes[i].repository, sc[0]);
        c.scopes[i].repository[rl] = '\0';
        c.scopes[i].pull = sc[1] & 1;
        c.scopes[i].push = sc[1] & 2;
        c.scopes[i].delete_ = sc[1] & 4;
    }
    char tok[AUTH_TOKEN_MAX_BYTES + 1];
    size_t cap = hdr[2] == 0 ? 16 : sizeof(tok);
    auth_err_t err;
    auth_status_t st = auth_token_issue(&key, &c, tok, cap, &err);
    FUZZ_CHECK(st == AUTH_OK || st == AUTH_EMALFORMED);
    if (st != AUTH_OK)
        return;
    size_t len = strlen(tok);
    FUZZ_CHECK(len <= AUTH_TOKEN_MAX_BYTES && len < cap);
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-", tok[i]) != NULL);
    char id[AUTH_TOKEN_KEY_ID_MAX + 1];
    FUZZ_CHECK(auth_token_key_id(tok, len, id, NULL) == AUTH_OK && strcmp(id, key.id) == 0);

    auth_token_claims_t out;
    int64_t now = c.expires_at == INT64_MIN ? INT64_MIN : c.expires_at - 1;
    st = auth_token_verify(&key, tok, len, now, &out, &err);
    if (c.expires_at == INT64_MIN) {
        FUZZ_CHECK(st == AUTH_EEXPIRED);
    } else {
        FUZZ_CHECK(st == AUTH_OK);
        FUZZ_CHECK(strcmp(out.principal_arn, c.principal_arn) == 0);
        FUZZ_CHECK(strcmp(out.principal_id, c.principal_id) == 0 && out.bearer == c.bearer);
        FUZZ_CHECK(out.issued_at == c.issued_at && out.expires_at == c.expires_at && out.n_scopes == c.n_scopes);
        for (size_t i = 0; i < c.n_scopes; i++) {
            FUZZ_CHECK(strcmp(out.scopes[i].repository, c.scopes[i].repository) == 0);
            FUZZ_CHECK(out.scopes[i].pull == c.scopes[i].pull && out.scopes[i].push == c.scopes[i].push &&
                       out.scopes[i].delete_ == c.scopes[i].delete_);
        }
    }
    FUZZ_CHECK(auth_token_verify(&key, tok, len, c.expires_at, &out, &err) == AUTH_EEXPIRED);
    FUZZ_CHECK(auth_token_verify(&other_secret, tok, len, now, &out, &err) == AUTH_EBADSIG);
    FUZZ_CHECK(auth_token_verify(&other_id, tok, len, now, &out, &err) == AUTH_EBADSIG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    char id[AUTH_TOKEN_KEY_ID_MAX + 1];
    auth_status_t st = auth_token_key_id((const char *)data, size, id, NULL);
    FUZZ_CHECK(st == AUTH_OK || st == AUTH_EMALFORMED);
    if (st == AUTH_OK)
        FUZZ_CHECK(strlen(id) >= 1 && strlen(id) <= AUTH_TOKEN_KEY_ID_MAX);
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        check_verify((const char *)data + 1, size - 1);
        break;
    case 1: {
        if (size < 2)
            break;
        char t[AUTH_TOKEN_MAX_BYTES + 1];
        const char *orig = issued[data[1] % N_ISSUED];
        size_t len = strlen(orig);
        memcpy(t, orig, len + 1);
        size_t i = 2;
        if (i < size && data[i] & 0x80) /* truncate */
            len = len * (data[i] & 0x7f) / 128;
        for (i = i + 1; i + 1 < size; i += 2)
            t[((size_t)data[i] * 7) % (len ? len : 1)] = (char)data[i + 1];
        check_verify(t, len);
        break;
    }
    default:
        round_trip(data + 1, size - 1);
    }
    return 0;
}
