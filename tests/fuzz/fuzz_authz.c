/*
 * tests/fuzz/fuzz_authz.c — auth_parse_authorization on any bytes: it only
 * ever answers OK or MALFORMED, respects its caps, leaves NUL-terminated user
 * and password, and a Bearer token points inside the input.
 */
#include <stdint.h>
#include <string.h>

#include "auth/auth.h"
#include "fuzz_check.h"

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    auth_credentials_t c;
    memset(&c, 0xa5, sizeof(c));
    auth_err_t err;
    memset(&err, 0, sizeof(err));
    auth_status_t st = auth_parse_authorization(s, size, &c, &err);
    FUZZ_CHECK(st == AUTH_OK || st == AUTH_EMALFORMED);
    FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
    if (size > AUTH_HEADER_MAX_BYTES)
        FUZZ_CHECK(st == AUTH_EMALFORMED);
    if (st != AUTH_OK) {
        FUZZ_CHECK(c.scheme == AUTH_SCHEME_NONE);
        FUZZ_CHECK(err.msg[0] != '\0');
        return 0;
    }
    switch (c.scheme) {
    case AUTH_SCHEME_BASIC: {
        size_t ul = strnlen(c.user, sizeof(c.user));
        /* an empty user only with an empty password: the anonymous ":" skopeo sends */
        FUZZ_CHECK(ul <= AUTH_USER_MAX && (ul > 0 || c.password_len == 0));
        FUZZ_CHECK(memchr(c.user, ':', ul) == NULL);
        FUZZ_CHECK(c.password_len <= AUTH_PASSWORD_MAX);
        FUZZ_CHECK(c.password[c.password_len] == '\0');
        FUZZ_CHECK(strlen(c.password) == c.password_len);
        FUZZ_CHECK(c.token == NULL && c.token_len == 0);
        break;
    }
    case AUTH_SCHEME_BEARER:
        FUZZ_CHECK(c.token != NULL && c.token_len > 0);
        FUZZ_CHECK(c.token >= s && c.token + c.token_len <= s + size);
        FUZZ_CHECK(!ows(c.token[0]) && !ows(c.token[c.token_len - 1]));
        FUZZ_CHECK(c.user[0] == '\0' && c.password_len == 0);
        break;
    case AUTH_SCHEME_SIGV4:
        FUZZ_CHECK(c.token == NULL);
        break;
    default:
        FUZZ_CHECK(!"OK without a scheme");
    }
    return 0;
}
