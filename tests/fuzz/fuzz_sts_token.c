/*
 * tests/fuzz/fuzz_sts_token.c — STS session tokens (auth/session.c). The
 * first input byte picks:
 *   0: the rest is a token presented with a fixed session key id: it must be
 *      refused unless it is byte for byte one issued at start-up with that id;
 *   1: one of those tokens, with (position, byte) edits from the input and
 *      possibly truncated: refused unless the edits changed nothing;
 *   2: claims carved from the input: issue then open round-trips them (issue
 *      refuses claims out of shape), and another key id or master key, or
 *      the expiry, refuses the token.
 * Every input also goes through auth_session_name_valid and auth_session_key_id.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "fuzz_check.h"

#define N_ISSUED 3
#define NOW INT64_C(1795856400)

static unsigned char master[AUTH_SEAL_KEY_BYTES], other_master[AUTH_SEAL_KEY_BYTES];
static auth_session_credentials_t issued[N_ISSUED];
static bool ready;

static void setup(void)
{
    if (ready)
        return;
    for (size_t i = 0; i < sizeof(master); i++)
        master[i] = (unsigned char)(i * 11 + 3);
    memcpy(other_master, master, sizeof(master));
    other_master[7] ^= 0x40;
    for (size_t i = 0; i < N_ISSUED; i++) {
        auth_session_t s = {.issued_at = NOW - 100, .expires_at = NOW + 900 * (int64_t)(i + 1)};
        snprintf(s.role_name, sizeof(s.role_name), "role-%zu", i);
        snprintf(s.role_id, sizeof(s.role_id), "AROAFUZZ%013zu", i);
        snprintf(s.session_name, sizeof(s.session_name), "session@%zu", i);
        FUZZ_CHECK(auth_session_issue(master, &s, &issued[i], NULL) == AUTH_OK);
    }
    ready = true;
}

static void check_open(const char *key_id, const char *t, size_t len)
{
    auth_session_t out;
    char secret[AUTH_SECRET_KEY_LEN + 1];
    auth_status_t st = auth_session_open(master, key_id, t, len, NOW, &out, secret, NULL);
    FUZZ_CHECK(st == AUTH_OK || st == AUTH_EMALFORMED || st == AUTH_EBADSIG || st == AUTH_EEXPIRED);
    bool mine = false;
    for (size_t i = 0; i < N_ISSUED; i++)
        mine |=
            strcmp(issued[i].access_key_id, key_id) == 0 && strlen(issued[i].token) == len && memcmp(issued[i].token, t, len) == 0;
    if (st == AUTH_OK || st == AUTH_EEXPIRED) {
        FUZZ_CHECK(mine); /* only an unchanged token with its own key id gets past the seal */
        FUZZ_CHECK(strlen(secret) == AUTH_SECRET_KEY_LEN);
        FUZZ_CHECK(auth_session_name_valid(out.session_name));
    } else {
        FUZZ_CHECK(!mine);
        FUZZ_CHECK(secret[0] == '\0' && out.role_name[0] == '\0');
    }
    FUZZ_CHECK(auth_session_open(other_master, key_id, t, len, NOW, &out, secret, NULL) != AUTH_OK);
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
    auth_session_t s;
    memset(&s, 0, sizeof(s));
    uint8_t hdr[3] = {0};
    take(&d, &n, hdr, sizeof(hdr));
    take(&d, &n, &s.issued_at, sizeof(s.issued_at));
    take(&d, &n, &s.expires_at, sizeof(s.expires_at));
    size_t l = take(&d, &n, s.role_name, hdr[0] % (AUTH_NAME_MAX + 2));
    if (l > AUTH_NAME_MAX) /* one over: issue must refuse an unterminated name */
        s.role_name[AUTH_NAME_MAX] = 'x';
    else
        s.role_name[l] = '\0';
    l = take(&d, &n, s.role_id, hdr[1] % (AUTH_PRINCIPAL_ID_MAX + 1));
    s.role_id[l] = '\0';
    l = take(&d, &n, s.session_name, hdr[2] % (AUTH_SESSION_NAME_MAX + 1));
    s.session_name[l] = '\0';
    auth_session_credentials_t c;
    auth_status_t st = auth_session_issue(master, &s, &c, NULL);
    FUZZ_CHECK(st == AUTH_OK || st == AUTH_EMALFORMED);
    if (st != AUTH_OK) {
        FUZZ_CHECK(c.token[0] == '\0' && c.secret[0] == '\0');
        return;
    }
    FUZZ_CHECK(auth_session_key_id(c.access_key_id));
    FUZZ_CHECK(strlen(c.token) <= AUTH_SESSION_TOKEN_MAX);
    auth_session_t out;
    char secret[AUTH_SECRET_KEY_LEN + 1];
    size_t len = strlen(c.token);
    st = auth_session_open(master, c.access_key_id, c.token, len, s.expires_at - 1, &out, secret, NULL);
    FUZZ_CHECK(st == AUTH_OK);
    FUZZ_CHECK(strcmp(out.role_name, s.role_name) == 0 && strcmp(out.role_id, s.role_id) == 0 &&
               strcmp(out.session_name, s.session_name) == 0);
    FUZZ_CHECK(out.issued_at == s.issued_at && out.expires_at == s.expires_at && strcmp(secret, c.secret) == 0);
    FUZZ_CHECK(auth_session_open(master, c.access_key_id, c.token, len, s.expires_at, &out, secret, NULL) == AUTH_EEXPIRED);
    FUZZ_CHECK(auth_session_open(other_master, c.access_key_id, c.token, len, s.issued_at, &out, secret, NULL) == AUTH_EBADSIG);
    FUZZ_CHECK(auth_session_open(master, issued[0].access_key_id, c.token, len, s.issued_at, &out, secret, NULL) == AUTH_EBADSIG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    char text[AUTH_SESSION_TOKEN_MAX + 2];
    size_t tl = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, tl);
    text[tl] = '\0';
    (void)auth_session_name_valid(text);
    if (auth_session_key_id(text))
        FUZZ_CHECK(strncmp(text, "ASIA", 4) == 0 && strlen(text) == AUTH_ACCESS_KEY_ID_LEN);
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        check_open(issued[0].access_key_id, (const char *)data + 1, size - 1);
        break;
    case 1: {
        if (size < 3)
            break;
        char t[AUTH_SESSION_TOKEN_MAX + 1];
        const auth_session_credentials_t *c = &issued[data[1] % N_ISSUED];
        size_t len = strlen(c->token);
        memcpy(t, c->token, len + 1);
        if (data[2] & 0x80) /* truncate */
            len = len * (data[2] & 0x7f) / 128;
        for (size_t i = 3; i + 1 < size; i += 2)
            t[((size_t)data[i] * 7) % (len ? len : 1)] = (char)data[i + 1];
        check_open(c->access_key_id, t, len);
        break;
    }
    default:
        round_trip(data + 1, size - 1);
    }
    return 0;
}
