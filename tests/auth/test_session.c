/* STS role sessions' temporary credentials: the sealed session token opens
 * only with its own access key id and master key, unchanged and unexpired,
 * and gives back exactly what was sealed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"

#define NOW INT64_C(1795856400)

static unsigned char master[AUTH_SEAL_KEY_BYTES];

static auth_session_t claims(void)
{
    auth_session_t s = {.issued_at = NOW, .expires_at = NOW + 3600};
    strcpy(s.role_name, "ecsInstanceRole");
    strcpy(s.role_id, "AROAABCDEFGHIJKLMNOPQ");
    strcpy(s.session_name, "i-0123@az-1");
    return s;
}

static void issue(auth_session_credentials_t *c)
{
    for (size_t i = 0; i < sizeof(master); i++)
        master[i] = (unsigned char)(i * 13 + 5);
    auth_session_t s = claims();
    auth_err_t err;
    cr_assert_eq(auth_session_issue(master, &s, c, &err), AUTH_OK, "%s", err.msg);
}

static auth_status_t open_at(const auth_session_credentials_t *c, const char *key_id, const char *token, size_t len, int64_t now,
                             auth_session_t *out, char secret[AUTH_SECRET_KEY_LEN + 1])
{
    (void)c;
    auth_err_t err;
    return auth_session_open(master, key_id, token, len, now, out, secret, &err);
}

Test(session, issued_credentials_look_like_aws_ones_and_open_to_the_same_claims_and_secret)
{
    auth_session_credentials_t c;
    issue(&c);
    cr_assert(auth_session_key_id(c.access_key_id), "%s", c.access_key_id);
    cr_assert_eq(strncmp(c.access_key_id, "ASIA", 4), 0);
    cr_assert_eq(strlen(c.secret), AUTH_SECRET_KEY_LEN);
    cr_assert_eq(c.expires_at, NOW + 3600);
    cr_assert(strspn(c.token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(c.token));
    /* the token never shows the secret or the role's id in clear */
    cr_assert_null(strstr(c.token, c.secret));
    auth_session_t got;
    char secret[AUTH_SECRET_KEY_LEN + 1];
    cr_assert_eq(open_at(&c, c.access_key_id, c.token, strlen(c.token), NOW + 10, &got, secret), AUTH_OK);
    auth_session_t want = claims();
    cr_assert_str_eq(got.role_name, want.role_name);
    cr_assert_str_eq(got.role_id, want.role_id);
    cr_assert_str_eq(got.session_name, want.session_name);
    cr_assert_eq(got.issued_at, NOW);
    cr_assert_eq(got.expires_at, NOW + 3600);
    cr_assert_str_eq(secret, c.secret);
}

Test(session, two_issues_of_the_same_claims_give_different_keys_secrets_and_tokens)
{
    auth_session_credentials_t a, b;
    issue(&a);
    issue(&b);
    cr_assert_str_neq(a.access_key_id, b.access_key_id);
    cr_assert_str_neq(a.secret, b.secret);
    cr_assert_str_neq(a.token, b.token);
}

Test(session, an_expired_token_is_refused_at_its_expiry_but_still_says_whose_it_was)
{
    auth_session_credentials_t c;
    issue(&c);
    auth_session_t got;
    char secret[AUTH_SECRET_KEY_LEN + 1];
    cr_assert_eq(open_at(&c, c.access_key_id, c.token, strlen(c.token), NOW + 3599, &got, secret), AUTH_OK);
    cr_assert_eq(open_at(&c, c.access_key_id, c.token, strlen(c.token), NOW + 3600, &got, secret), AUTH_EEXPIRED);
    /* the caller checks the signature with the secret before saying "expired" */
    cr_assert_str_eq(secret, c.secret);
    cr_assert_str_eq(got.role_name, "ecsInstanceRole");
}

Test(session, a_token_presented_with_another_access_key_id_is_refused)
{
    auth_session_credentials_t a, b;
    issue(&a);
    issue(&b);
    auth_session_t got;
    char secret[AUTH_SECRET_KEY_LEN + 1];
    cr_assert_eq(open_at(&a, b.access_key_id, a.token, strlen(a.token), NOW, &got, secret), AUTH_EBADSIG);
    cr_assert_eq(secret[0], '\0');
    cr_assert_eq(got.role_name[0], '\0');
    /* a stored key's id (AKIA) is not a session's at all */
    char akia[AUTH_ACCESS_KEY_ID_LEN + 1];
    memcpy(akia, a.access_key_id, sizeof(akia));
    memcpy(akia, "AKIA", 4);
    cr_assert_eq(open_at(&a, akia, a.token, strlen(a.token), NOW, &got, secret), AUTH_EMALFORMED);
}

Test(session, a_token_of_another_master_key_is_refused)
{
    auth_session_credentials_t c;
    issue(&c);
    master[0] ^= 1;
    auth_session_t got;
    char secret[AUTH_SECRET_KEY_LEN + 1];
    cr_assert_eq(open_at(&c, c.access_key_id, c.token, strlen(c.token), NOW, &got, secret), AUTH_EBADSIG);
}

Test(session, every_single_changed_character_of_a_token_is_refused)
{
    auth_session_credentials_t c;
    issue(&c);
    size_t len = strlen(c.token);
    auth_session_t got;
    char secret[AUTH_SECRET_KEY_LEN + 1], t[AUTH_SESSION_TOKEN_MAX + 1];
    for (size_t i = 0; i < len; i++) {
        memcpy(t, c.token, len + 1);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        auth_status_t s = open_at(&c, c.access_key_id, t, len, NOW, &got, secret);
        cr_assert(s == AUTH_EBADSIG || s == AUTH_EMALFORMED, "a change at %zu was accepted (%d)", i, s);
    }
}

Test(session, truncated_and_extended_tokens_are_refused)
{
    auth_session_credentials_t c;
    issue(&c);
    size_t len = strlen(c.token);
    auth_session_t got;
    char secret[AUTH_SECRET_KEY_LEN + 1], t[AUTH_SESSION_TOKEN_MAX + 8];
    for (size_t n = 0; n < len; n++)
        cr_assert_neq(open_at(&c, c.access_key_id, c.token, n, NOW, &got, secret), AUTH_OK, "cut at %zu was accepted", n);
    snprintf(t, sizeof(t), "%sAA", c.token);
    cr_assert_neq(open_at(&c, c.access_key_id, t, strlen(t), NOW, &got, secret), AUTH_OK);
    cr_assert_eq(open_at(&c, c.access_key_id, NULL, 0, NOW, &got, secret), AUTH_EMALFORMED);
    cr_assert_eq(open_at(&c, c.access_key_id, "bst1_", 5, NOW, &got, secret), AUTH_EMALFORMED);
    cr_assert_eq(open_at(&c, c.access_key_id, "bst1_!!!!", 9, NOW, &got, secret), AUTH_EBADSIG);
}

Test(session, session_names_follow_sts_length_and_pattern)
{
    cr_assert(auth_session_name_valid("ab"));
    cr_assert(auth_session_name_valid("a_b+c=d,e.f@g-h"));
    char n64[65], n65[66];
    memset(n64, 'x', 64);
    n64[64] = '\0';
    memset(n65, 'x', 65);
    n65[65] = '\0';
    cr_assert(auth_session_name_valid(n64));
    cr_assert_not(auth_session_name_valid(n65));
    cr_assert_not(auth_session_name_valid("a"));
    cr_assert_not(auth_session_name_valid(""));
    cr_assert_not(auth_session_name_valid("has space"));
    cr_assert_not(auth_session_name_valid("slash/no"));
    cr_assert_not(auth_session_name_valid("colon:no"));
    cr_assert_not(auth_session_name_valid(NULL));
}

Test(session, claims_out_of_shape_are_not_issued)
{
    for (size_t i = 0; i < sizeof(master); i++)
        master[i] = (unsigned char)i;
    auth_session_credentials_t c;
    auth_err_t err;
    auth_session_t s = claims();
    s.session_name[1] = '\0'; /* one character */
    cr_assert_eq(auth_session_issue(master, &s, &c, &err), AUTH_EMALFORMED);
    cr_assert_eq(c.token[0], '\0');
    s = claims();
    s.role_name[0] = '\0';
    cr_assert_eq(auth_session_issue(master, &s, &c, &err), AUTH_EMALFORMED);
    s = claims();
    s.role_id[0] = '\0';
    cr_assert_eq(auth_session_issue(master, &s, &c, &err), AUTH_EMALFORMED);
    s = claims();
    s.expires_at = s.issued_at;
    cr_assert_eq(auth_session_issue(master, &s, &c, &err), AUTH_EMALFORMED);
    s = claims();
    strcpy(s.role_name, "bad/name");
    cr_assert_eq(auth_session_issue(master, &s, &c, &err), AUTH_EMALFORMED);
}

Test(session, key_ids_of_sessions_are_told_from_stored_keys)
{
    cr_assert(auth_session_key_id("ASIAABCDEFGHIJKLMNOP"));
    cr_assert_not(auth_session_key_id("AKIAABCDEFGHIJKLMNOP"));
    cr_assert_not(auth_session_key_id("ASIAABCDEFGHIJKLMNO"));   /* 19 */
    cr_assert_not(auth_session_key_id("ASIAABCDEFGHIJKLMNOPQ")); /* 21 */
    cr_assert_not(auth_session_key_id("ASIAabcdefghijklmnop"));
    cr_assert_not(auth_session_key_id(NULL));
}

Test(session, arn_and_user_id_are_named_as_sts_names_them)
{
    auth_keys_t keys;
    memset(&keys, 0, sizeof(keys));
    strcpy(keys.account_id, "123456789012");
    auth_session_t s = claims();
    char arn[AUTH_SESSION_ARN_MAX + 1], id[AUTH_PRINCIPAL_ID_MAX + AUTH_SESSION_NAME_MAX + 2];
    auth_session_arn(&keys, &s, arn);
    auth_session_user_id(&s, id);
    cr_assert_str_eq(arn, "arn:aws:sts::123456789012:assumed-role/ecsInstanceRole/i-0123@az-1");
    cr_assert_str_eq(id, "AROAABCDEFGHIJKLMNOPQ:i-0123@az-1");
}
