/*
 * tests/auth/test_encoding.c — the hex and base64 helpers auth/ and server/
 * share (auth/encoding.c): RFC 4648's vectors, agreement with OpenSSL's
 * EVP_EncodeBlock on every length, padding, and what strict decoding refuses.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth/auth.h"

static const char *const rfc4648[][2] = {
    {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};

Test(encoding, hex_digit_values_are_those_of_either_case_and_nothing_else)
{
    for (int c = 0; c < 256; c++) {
        const char *lower = "0123456789abcdef", *upper = "0123456789ABCDEF";
        const char *l = c ? strchr(lower, c) : NULL, *u = c ? strchr(upper, c) : NULL;
        int want = l ? (int)(l - lower) : u ? (int)(u - upper) : -1;
        cr_expect_eq(auth_hex_value((unsigned char)c), want, "char %d", c);
    }
}

Test(encoding, hex_encodes_lowercase_and_terminates)
{
    char out[9];
    memset(out, 'x', sizeof(out));
    auth_hex_encode((const unsigned char *)"\x00\x9f\xAB\xff", 4, out);
    cr_assert_str_eq(out, "009fabff");
    auth_hex_encode(NULL, 0, out);
    cr_assert_str_eq(out, "");
}

Test(encoding, base64_follows_rfc4648_both_ways)
{
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        const char *raw = rfc4648[i][0], *b64 = rfc4648[i][1];
        char enc[16];
        cr_expect_eq(auth_b64_encode((const unsigned char *)raw, strlen(raw), enc), (int)strlen(b64));
        cr_expect_str_eq(enc, b64);
        unsigned char dec[16];
        cr_expect_eq(auth_b64_decode(b64, strlen(b64), dec, sizeof(dec)), (int)strlen(raw), "%s", b64);
        cr_expect(memcmp(dec, raw, strlen(raw)) == 0, "%s", b64);
    }
}

/* What EVP_EncodeBlock writes for every length and many byte values, the
 * helper writes too, and decodes back exactly (not EVP_DecodeBlock's whole
 * groups of 3 with padding as zero bytes). */
Test(encoding, base64_agrees_with_openssl_and_round_trips_every_length)
{
    unsigned char raw[200], dec[200];
    char ours[AUTH_B64_LEN(200) + 1], theirs[AUTH_B64_LEN(200) + 1];
    srand(7);
    for (size_t len = 0; len <= sizeof(raw); len++) {
        for (size_t i = 0; i < len; i++)
            raw[i] = (unsigned char)rand();
        int n = auth_b64_encode(raw, len, ours);
        cr_assert_eq(n, EVP_EncodeBlock((unsigned char *)theirs, raw, (int)len));
        cr_assert_str_eq(ours, theirs);
        memset(dec, 0xee, sizeof(dec));
        cr_assert_eq(auth_b64_decode(ours, (size_t)n, dec, len), (int)len, "len %zu", len);
        cr_assert(memcmp(dec, raw, len) == 0, "len %zu", len);
        if (len < sizeof(dec))
            cr_assert_eq(dec[len], 0xee, "nothing written past the decoded bytes (len %zu)", len);
    }
}

Test(encoding, strict_base64_refuses_what_does_not_decode_to_exactly_one_byte_sequence)
{
    const char *bad[] = {
        "Zg=",      /* not a whole group */
        "Zg",       /* padding missing */
        "Zh==",     /* unused bits set: would decode like Zg== */
        "Zm9=",     /* likewise, one '=' */
        "Z===",     /* three '=' */
        "Zm=v",     /* '=' inside */
        "=Zm9",     /* '=' first */
        "Zm9v\n",   /* white space */
        " Zm9v",    /* white space OpenSSL would skip */
        "Zm9vYm-y", /* base64url's alphabet */
        "Zm9vYm_y", "Zm9vYm.y",
    };
    unsigned char out[16];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(auth_b64_decode(bad[i], strlen(bad[i]), out, sizeof(out)), -1, "%s", bad[i]);
    cr_expect_eq(auth_b64_decode("Zm9vYmFy", 8, out, 5), -1, "more bytes than cap");
    cr_expect_eq(auth_b64_decode("Zm9vYmFy", 8, out, 6), 6);
    cr_expect_eq(auth_b64_decode("", 0, out, 0), 0);
}

Test(encoding, base64url_has_no_padding_and_its_own_two_characters)
{
    char enc[16];
    cr_assert_eq(auth_b64url_encode((const unsigned char *)"\xfb\xff", 2, enc, sizeof(enc)), 3);
    cr_assert_str_eq(enc, "-_8");
    cr_assert_eq(auth_b64url_encode((const unsigned char *)"foob", 4, enc, sizeof(enc)), 6);
    cr_assert_str_eq(enc, "Zm9vYg");
    cr_assert_eq(auth_b64url_encode((const unsigned char *)"foob", 4, enc, 9), 6, "room for the padded form and a NUL");
    cr_assert_eq(auth_b64url_encode((const unsigned char *)"foob", 4, enc, 8), -1, "no room for the padded form and a NUL");
    unsigned char out[8];
    cr_assert_eq(auth_b64url_decode("-_8", 3, out, sizeof(out)), 2);
    cr_assert(memcmp(out, "\xfb\xff", 2) == 0);
    cr_assert_eq(auth_b64url_decode("Zm9vYg", 6, out, sizeof(out)), 4);
    const char *bad[] = {"+/8", "-_8=", "Zm9vYg==", "A", "Zm9vY", "-_9", "Zm9v Yg"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(auth_b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out)), -1, "%s", bad[i]);
}
