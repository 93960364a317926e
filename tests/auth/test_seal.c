/*
 * tests/auth/test_seal.c — sealed secrets: a round trip, and every kind of
 * tampering (key, associated data, any bit of the sealed bytes) refused.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "auth/auth.h"

static const unsigned char key[AUTH_SEAL_KEY_BYTES] = "0123456789abcdef0123456789abcde";
static const char secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
static const char aad[] = "AKIAIOSFODNN7EXAMPLE";

static unsigned char sealed[sizeof(secret) - 1 + AUTH_SEAL_OVERHEAD];
static unsigned char out[sizeof(secret)];

static void seal(void)
{
    auth_err_t err;
    cr_assert_eq(auth_seal(key, aad, strlen(aad), secret, strlen(secret), sealed, &err), AUTH_OK, "%s", err.msg);
}

static auth_status_t unseal_with(const unsigned char *k, const char *a)
{
    auth_err_t err;
    return auth_unseal(k, a, strlen(a), sealed, sizeof(sealed), out, &err);
}

Test(seal, round_trip_gives_back_the_secret)
{
    seal();
    cr_assert_eq(unseal_with(key, aad), AUTH_OK);
    cr_assert_eq(memcmp(out, secret, strlen(secret)), 0);
}

Test(seal, the_sealed_bytes_do_not_contain_the_secret_and_differ_each_time)
{
    seal();
    unsigned char first[sizeof(sealed)];
    memcpy(first, sealed, sizeof(sealed));
    cr_assert_null(memmem(sealed, sizeof(sealed), "EXAMPLEKEY", 10));
    seal();
    cr_assert_neq(memcmp(first, sealed, 12), 0, "nonce repeated");
    cr_assert_neq(memcmp(first, sealed, sizeof(sealed)), 0);
}

Test(seal, a_wrong_key_is_refused)
{
    seal();
    unsigned char k2[AUTH_SEAL_KEY_BYTES];
    memcpy(k2, key, sizeof(k2));
    k2[31] ^= 1;
    cr_assert_eq(unseal_with(k2, aad), AUTH_EBADSIG);
}

Test(seal, a_wrong_associated_data_is_refused)
{
    seal();
    cr_assert_eq(unseal_with(key, "AKIAIOSFODNN7EXAMPLF"), AUTH_EBADSIG);
    cr_assert_eq(unseal_with(key, ""), AUTH_EBADSIG);
}

Test(seal, every_flipped_bit_is_refused)
{
    seal();
    for (size_t i = 0; i < sizeof(sealed) * 8; i++) {
        sealed[i / 8] ^= (unsigned char)(1u << (i % 8));
        cr_assert_eq(unseal_with(key, aad), AUTH_EBADSIG, "bit %zu", i);
        sealed[i / 8] ^= (unsigned char)(1u << (i % 8));
    }
    cr_assert_eq(unseal_with(key, aad), AUTH_OK);
}

Test(seal, truncated_sealed_data_is_refused)
{
    seal();
    auth_err_t err;
    cr_assert_eq(auth_unseal(key, aad, strlen(aad), sealed, AUTH_SEAL_OVERHEAD - 1, out, &err), AUTH_EMALFORMED);
    cr_assert_eq(auth_unseal(key, aad, strlen(aad), sealed, sizeof(sealed) - 1, out, &err), AUTH_EBADSIG);
}

Test(seal, an_empty_secret_round_trips)
{
    unsigned char s[AUTH_SEAL_OVERHEAD], o[1];
    cr_assert_eq(auth_seal(key, NULL, 0, NULL, 0, s, NULL), AUTH_OK);
    cr_assert_eq(auth_unseal(key, NULL, 0, s, sizeof(s), o, NULL), AUTH_OK);
    s[0] ^= 1;
    cr_assert_eq(auth_unseal(key, NULL, 0, s, sizeof(s), o, NULL), AUTH_EBADSIG);
}
