/*
 * auth/header.c — the Authorization header (Basic, Bearer, and recognising
 * SigV4) and constant-time comparison of secrets.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/auth_internal.h"

/* Basic credentials decode to user ':' password; anything longer is refused
 * before decoding so the decode buffer has a fixed size. */
#define BASIC_DECODED_MAX (AUTH_USER_MAX + 1 + AUTH_PASSWORD_MAX)
#define BASIC_ENCODED_MAX AUTH_B64_LEN(BASIC_DECODED_MAX)

void auth_set_err(auth_err_t *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

bool auth_secret_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
    /* The length is not secret (every secret here has a fixed, public length);
     * the bytes are. */
    if (a_len != b_len || a == NULL || b == NULL)
        return a_len == b_len && a_len == 0;
    return CRYPTO_memcmp(a, b, a_len) == 0;
}

/* ---- the Authorization header ------------------------------------------- */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool scheme_is(const char *s, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char a = s[i], b = name[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

static auth_status_t parse_basic(const char *cred, size_t len, auth_credentials_t *out, auth_err_t *err)
{
    if (len > BASIC_ENCODED_MAX) {
        auth_set_err(err, "Basic credentials longer than %d bytes", (int)BASIC_ENCODED_MAX);
        return AUTH_EMALFORMED;
    }
    unsigned char buf[BASIC_DECODED_MAX];
    int n = auth_b64_decode(cred, len, buf, sizeof(buf));
    if (n < 0) {
        auth_set_err(err, "Basic credentials are not valid base64");
        return AUTH_EMALFORMED;
    }
    auth_status_t st = AUTH_EMALFORMED;
    unsigned char *colon = memchr(buf, ':', (size_t)n);
    if (colon == NULL) {
        auth_set_err(err, "Basic credentials have no ':' between user and password");
        goto out;
    }
    size_t ulen = (size_t)(colon - buf), plen = (size_t)n - ulen - 1;
    /* ":" alone is allowed: containers/image (skopeo, podman) answers a Basic
     * challenge it has no credentials for with an empty user and password,
     * which the registry takes as anonymous. An empty user with a password is not. */
    if (ulen == 0 && plen != 0) {
        auth_set_err(err, "Basic credentials have an empty user");
        goto out;
    }
    if (ulen > AUTH_USER_MAX || plen > AUTH_PASSWORD_MAX) {
        auth_set_err(err, "Basic user over %d or password over %d bytes", AUTH_USER_MAX, AUTH_PASSWORD_MAX);
        goto out;
    }
    /* RFC 7617 forbids control characters in both; NUL is refused because
     * callers hold them as C strings and would see a shorter value. */
    if (memchr(buf, '\0', (size_t)n) != NULL) {
        auth_set_err(err, "Basic credentials contain a NUL byte");
        goto out;
    }
    memcpy(out->user, buf, ulen);
    out->user[ulen] = '\0';
    memcpy(out->password, colon + 1, plen);
    out->password[plen] = '\0';
    out->password_len = plen;
    out->scheme = AUTH_SCHEME_BASIC;
    st = AUTH_OK;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    return st;
}

auth_status_t auth_parse_authorization(const char *value, size_t len, auth_credentials_t *out, auth_err_t *err)
{
    if (out == NULL)
        return AUTH_EMALFORMED;
    out->scheme = AUTH_SCHEME_NONE;
    out->user[0] = '\0';
    out->password[0] = '\0';
    out->password_len = 0;
    out->token = NULL;
    out->token_len = 0;
    if (value == NULL) {
        auth_set_err(err, "no Authorization header");
        return AUTH_EMALFORMED;
    }
    if (len > AUTH_HEADER_MAX_BYTES) {
        auth_set_err(err, "Authorization header longer than %d bytes", AUTH_HEADER_MAX_BYTES);
        return AUTH_EMALFORMED;
    }
    size_t i = 0, end = len;
    while (i < end && is_ows(value[i]))
        i++;
    while (end > i && is_ows(value[end - 1]))
        end--;
    size_t s = i;
    while (i < end && !is_ows(value[i]))
        i++;
    const char *scheme = value + s;
    size_t scheme_len = i - s;
    while (i < end && is_ows(value[i]))
        i++;
    const char *rest = value + i;
    size_t rest_len = end - i;

    if (scheme_is(scheme, scheme_len, "AWS4-HMAC-SHA256")) {
        /* cppcheck misreads the trimming loops above as always emptying it */
        // cppcheck-suppress knownConditionTrueFalse
        if (rest_len == 0) {
            auth_set_err(err, "AWS4-HMAC-SHA256 without Credential, SignedHeaders and Signature");
            return AUTH_EMALFORMED;
        }
        out->scheme = AUTH_SCHEME_SIGV4;
        return AUTH_OK;
    }
    bool basic = scheme_is(scheme, scheme_len, "Basic");
    bool bearer = !basic && scheme_is(scheme, scheme_len, "Bearer");
    if (!basic && !bearer) {
        auth_set_err(err, "unsupported Authorization scheme (expected Basic, Bearer or AWS4-HMAC-SHA256)");
        return AUTH_EMALFORMED;
    }
    if (rest_len == 0) {
        auth_set_err(err, "%s scheme without credentials", basic ? "Basic" : "Bearer");
        return AUTH_EMALFORMED;
    }
    if (bearer) {
        out->scheme = AUTH_SCHEME_BEARER;
        out->token = rest;
        out->token_len = rest_len;
        return AUTH_OK;
    }
    return parse_basic(rest, rest_len, out, err);
}
