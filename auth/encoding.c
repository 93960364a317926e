/*
 * auth/encoding.c — hex and base64, written once for auth/ and server/
 * (declared in auth/auth.h). policies/ is pure and keeps its own lenient
 * base64 for the Binary condition operators.
 */
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/auth.h"

/* The largest input the base64 helpers take: EVP_EncodeBlock/DecodeBlock count
 * in int, and nothing auth/ or server/ encodes comes near this. */
#define B64_MAX_BYTES (1u << 20)
/* base64url is only used for tokens, capped far below this. */
#define B64URL_MAX_CHARS 4096

/* ---- hex --------------------------------------------------------------------- */

int auth_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void auth_hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

/* ---- base64 ------------------------------------------------------------------ */

int auth_b64_encode(const unsigned char *in, size_t len, char *out)
{
    if (len > B64_MAX_BYTES)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

static bool b64_std_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int auth_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    if (len % 4 != 0 || len > AUTH_B64_LEN(B64_MAX_BYTES))
        return -1;
    if (len == 0)
        return 0;
    size_t pad = 0;
    if (in[len - 1] == '=')
        pad = in[len - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < len - pad; i++) {
        if (!b64_std_char((unsigned char)in[i]))
            return -1;
    }
    size_t n = len / 4 * 3 - pad;
    if (n > cap)
        return -1;
    /* EVP_DecodeBlock writes whole groups of 3 (padding decodes to zeros):
     * decode all but the last group straight into out, the last into a
     * scratch group, and copy only its real bytes. */
    size_t head = len - 4;
    unsigned char last[3];
    if ((head > 0 && EVP_DecodeBlock(out, (const unsigned char *)in, (int)head) != (int)(head / 4 * 3)) ||
        EVP_DecodeBlock(last, (const unsigned char *)in + head, 4) != 3)
        return -1;
    /* Unused bits must be zero: re-encoding the last group must give the same
     * text, or two strings would decode to the same bytes. */
    char again[4 + 1];
    EVP_EncodeBlock((unsigned char *)again, last, (int)(3 - pad));
    bool ok = memcmp(again, in + head, 4) == 0;
    if (ok)
        memcpy(out + head / 4 * 3, last, 3 - pad);
    OPENSSL_cleanse(last, sizeof(last));
    return ok ? (int)n : -1;
}

int auth_b64url_encode(const unsigned char *in, size_t len, char *out, size_t cap)
{
    if (len > B64_MAX_BYTES || cap < AUTH_B64_LEN(len) + 1)
        return -1;
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    if (n < 0)
        return -1;
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (int i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return n;
}

int auth_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    /* A length of 1 mod 4 cannot come from any byte sequence. */
    if (len % 4 == 1 || len > B64URL_MAX_CHARS)
        return -1;
    size_t padded = (len + 3) / 4 * 4;
    char std[B64URL_MAX_CHARS + 4];
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '-')
            std[i] = '+';
        else if (c == '_')
            std[i] = '/';
        else if (c == '+' || c == '/' || !b64_std_char(c))
            return -1;
        else
            std[i] = (char)c;
    }
    for (size_t i = len; i < padded; i++)
        std[i] = '=';
    int rc = auth_b64_decode(std, padded, out, cap);
    OPENSSL_cleanse(std, padded);
    return rc;
}
