/*
 * tests/auth/test_access_key.c — generated access keys look like AWS's and do
 * not repeat.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

static int cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

Test(access_key, id_is_akia_and_16_base32_characters)
{
    char id[AUTH_ACCESS_KEY_ID_LEN + 1], secret[AUTH_SECRET_KEY_LEN + 1];
    auth_err_t err;
    cr_assert_eq(auth_access_key_generate(id, secret, &err), AUTH_OK);
    cr_assert_eq(strlen(id), 20);
    cr_assert_eq(strncmp(id, "AKIA", 4), 0);
    for (size_t i = 4; i < 20; i++)
        cr_assert((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '2' && id[i] <= '7'), "%s", id);
}

Test(access_key, secret_is_40_base64_characters)
{
    char id[AUTH_ACCESS_KEY_ID_LEN + 1], secret[AUTH_SECRET_KEY_LEN + 1];
    cr_assert_eq(auth_access_key_generate(id, secret, NULL), AUTH_OK);
    cr_assert_eq(strlen(secret), 40);
    for (size_t i = 0; i < 40; i++) {
        char c = secret[i];
        cr_assert((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/', "%s", secret);
    }
}

Test(access_key, a_thousand_ids_and_secrets_are_distinct)
{
    static char ids[1000][AUTH_ACCESS_KEY_ID_LEN + 1], secrets[1000][AUTH_SECRET_KEY_LEN + 1];
    for (size_t i = 0; i < 1000; i++)
        cr_assert_eq(auth_access_key_generate(ids[i], secrets[i], NULL), AUTH_OK);
    qsort(ids, 1000, sizeof(ids[0]), cmp);
    qsort(secrets, 1000, sizeof(secrets[0]), cmp);
    for (size_t i = 1; i < 1000; i++) {
        cr_assert_str_neq(ids[i - 1], ids[i]);
        cr_assert_str_neq(secrets[i - 1], secrets[i]);
    }
}

Test(access_key, every_base32_symbol_appears_in_each_position)
{
    /* 2000 ids: a position stuck on a subset of the alphabet (a biased or
     * broken mapping) would show; each symbol is expected ~62 times. */
    static unsigned seen[16][256];
    char id[AUTH_ACCESS_KEY_ID_LEN + 1], secret[AUTH_SECRET_KEY_LEN + 1];
    for (size_t i = 0; i < 2000; i++) {
        cr_assert_eq(auth_access_key_generate(id, secret, NULL), AUTH_OK);
        for (size_t p = 0; p < 16; p++)
            seen[p][(unsigned char)id[4 + p]]++;
    }
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    for (size_t p = 0; p < 16; p++) {
        for (const char *a = alphabet; *a; a++)
            cr_assert_gt(seen[p][(unsigned char)*a], 20, "position %zu symbol %c", p, *a);
    }
}
