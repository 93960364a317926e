/*
 * tests/auth/test_token.c — registry tokens: round trip, expiry at the exact
 * second, every kind of tampering, key rotation, and size limits.
 */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"

static auth_token_key_t key;
static auth_token_claims_t claims;
static char tok[AUTH_TOKEN_MAX_BYTES + 1];
static auth_err_t err;

static void setup(void)
{
    cr_assert_eq(auth_token_key_generate("k2026a", &key, &err), AUTH_OK);
    memset(&claims, 0, sizeof(claims));
    strcpy(claims.principal_arn, "arn:aws:iam::123456789012:user/alice");
    strcpy(claims.principal_id, "AIDAQ4Z7XK2M5N3P6R7ST");
    claims.issued_at = 1795856400;
    claims.expires_at = claims.issued_at + AUTH_DEFAULT_TOKEN_SECONDS;
}

TestSuite(token, .init = setup);

static void issue(void)
{
    cr_assert_eq(auth_token_issue(&key, &claims, tok, sizeof(tok), &err), AUTH_OK, "%s", err.msg);
}

static auth_status_t verify_at(const auth_token_key_t *k, const char *t, int64_t now, auth_token_claims_t *out)
{
    return auth_token_verify(k, t, strlen(t), now, out, &err);
}

Test(token, round_trip_gives_back_the_claims)
{
    issue();
    auth_token_claims_t out;
    cr_assert_eq(verify_at(&key, tok, claims.issued_at, &out), AUTH_OK, "%s", err.msg);
    cr_assert_str_eq(out.principal_arn, claims.principal_arn);
    cr_assert_str_eq(out.principal_id, claims.principal_id);
    cr_assert_not(out.bearer);
    cr_assert_eq(out.issued_at, claims.issued_at);
    cr_assert_eq(out.expires_at, claims.expires_at);
    cr_assert_eq(out.n_scopes, 0);
}

Test(token, uses_only_url_safe_characters_and_starts_with_its_version)
{
    issue();
    cr_assert_eq(strncmp(tok, "v2.", 3), 0, "%s", tok);
    cr_assert_eq(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"), strlen(tok));
    cr_assert_lt(strlen(tok), 200, "a password token stays short: %zu", strlen(tok));
}

Test(token, scopes_round_trip)
{
    claims.bearer = true;
    claims.n_scopes = 3;
    claims.scopes[0] = (auth_token_scope_t){"team/app", true, false, false};
    claims.scopes[1] = (auth_token_scope_t){"library/alpine", true, true, false};
    claims.scopes[2] = (auth_token_scope_t){"x", false, false, true};
    issue();
    auth_token_claims_t out;
    cr_assert_eq(verify_at(&key, tok, claims.issued_at, &out), AUTH_OK, "%s", err.msg);
    cr_assert_eq(out.n_scopes, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_str_eq(out.scopes[i].repository, claims.scopes[i].repository);
        cr_assert_eq(out.scopes[i].pull, claims.scopes[i].pull);
        cr_assert_eq(out.scopes[i].push, claims.scopes[i].push);
        cr_assert_eq(out.scopes[i].delete_, claims.scopes[i].delete_);
    }
}

Test(token, expires_exactly_at_expires_at)
{
    issue();
    auth_token_claims_t out;
    cr_assert_eq(verify_at(&key, tok, claims.expires_at - 1, &out), AUTH_OK);
    cr_assert_eq(verify_at(&key, tok, claims.expires_at, &out), AUTH_EEXPIRED);
    cr_assert_eq(verify_at(&key, tok, claims.expires_at + 1, &out), AUTH_EEXPIRED);
}

Test(token, every_changed_byte_is_refused)
{
    issue();
    size_t n = strlen(tok);
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
    auth_token_claims_t out;
    for (size_t i = 0; i < n; i++) {
        char was = tok[i];
        for (const char *a = alphabet; *a; a++) {
            if (*a == was)
                continue;
            tok[i] = *a;
            cr_assert_neq(verify_at(&key, tok, claims.issued_at, &out), AUTH_OK, "byte %zu -> %c", i, *a);
        }
        tok[i] = was;
    }
}

Test(token, a_tampered_payload_is_a_bad_signature)
{
    issue();
    char *p = strchr(tok, '.') + 1;
    p[2] = p[2] == 'A' ? 'B' : 'A';
    auth_token_claims_t out;
    cr_assert_eq(verify_at(&key, tok, claims.issued_at, &out), AUTH_EBADSIG);
}

Test(token, a_tampered_signature_is_a_bad_signature)
{
    issue();
    char *s = strrchr(tok, '.') + 1;
    s[0] = s[0] == 'A' ? 'B' : 'A';
    auth_token_claims_t out;
    cr_assert_eq(verify_at(&key, tok, claims.issued_at, &out), AUTH_EBADSIG);
}

Test(token, another_version_is_refused)
{
    issue();
    tok[1] = '3';
    auth_token_claims_t out;
    cr_assert_eq(verify_at(&key, tok, claims.issued_at, &out), AUTH_EMALFORMED);
    tok[1] = '2';
    char longer[sizeof(tok) + 1] = "v";
    strcat(longer, tok);
    cr_assert_eq(verify_at(&key, longer, claims.issued_at, &out), AUTH_EMALFORMED);
}

Test(token, a_token_of_a_rotated_key_is_refused)
{
    issue();
    auth_token_key_t other;
    cr_assert_eq(auth_token_key_generate("k2026b", &other, &err), AUTH_OK);
    auth_token_claims_t out;
    cr_assert_eq(verify_at(&other, tok, claims.issued_at, &out), AUTH_EBADSIG);
    /* same id, another secret */
    cr_assert_eq(auth_token_key_generate("k2026a", &other, &err), AUTH_OK);
    cr_assert_eq(verify_at(&other, tok, claims.issued_at, &out), AUTH_EBADSIG);
    /* same secret, another id: the signed key id refuses it */
    other = key;
    strcpy(other.id, "k2026c");
    cr_assert_eq(verify_at(&other, tok, claims.issued_at, &out), AUTH_EBADSIG);
    cr_assert(strstr(err.msg, "k2026a") != NULL, "%s", err.msg);
}

Test(token, the_key_id_can_be_read_to_choose_a_key)
{
    issue();
    char id[AUTH_TOKEN_KEY_ID_MAX + 1];
    cr_assert_eq(auth_token_key_id(tok, strlen(tok), id, &err), AUTH_OK, "%s", err.msg);
    cr_assert_str_eq(id, "k2026a");
    cr_assert_eq(auth_token_key_generate("0123456789abcdef", &key, &err), AUTH_OK);
    issue();
    cr_assert_eq(auth_token_key_id(tok, strlen(tok), id, &err), AUTH_OK, "%s", err.msg);
    cr_assert_str_eq(id, "0123456789abcdef");
    cr_assert_eq(auth_token_key_id("v2.AA.AA", 8, id, &err), AUTH_EMALFORMED);
}

Test(token, truncated_tokens_are_refused)
{
    issue();
    auth_token_claims_t out;
    for (size_t n = 0; n < strlen(tok); n++)
        cr_assert_neq(auth_token_verify(&key, tok, n, claims.issued_at, &out, &err), AUTH_OK, "length %zu", n);
}

Test(token, oversized_input_is_malformed)
{
    static char big[AUTH_TOKEN_MAX_BYTES + 2];
    memset(big, 'A', sizeof(big) - 1);
    memcpy(big, "v2.", 3);
    big[100] = '.';
    auth_token_claims_t out;
    cr_assert_eq(auth_token_verify(&key, big, AUTH_TOKEN_MAX_BYTES + 1, 0, &out, &err), AUTH_EMALFORMED);
}

Test(token, claims_that_do_not_fit_are_refused_at_issue)
{
    claims.bearer = true;
    claims.n_scopes = AUTH_TOKEN_MAX_SCOPES;
    for (size_t i = 0; i < AUTH_TOKEN_MAX_SCOPES; i++) {
        memset(claims.scopes[i].repository, 'r', 255);
        claims.scopes[i].repository[255] = '\0';
        claims.scopes[i].pull = true;
    }
    cr_assert_eq(auth_token_issue(&key, &claims, tok, sizeof(tok), &err), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "too large") != NULL, "%s", err.msg);
    claims.n_scopes = AUTH_TOKEN_MAX_SCOPES + 1;
    cr_assert_eq(auth_token_issue(&key, &claims, tok, sizeof(tok), &err), AUTH_EMALFORMED);
}

Test(token, the_largest_claims_that_fit_round_trip)
{
    memset(claims.principal_arn, 'a', AUTH_PRINCIPAL_ARN_MAX);
    claims.principal_arn[AUTH_PRINCIPAL_ARN_MAX] = '\0';
    memset(claims.principal_id, 'I', AUTH_PRINCIPAL_ID_MAX);
    claims.principal_id[AUTH_PRINCIPAL_ID_MAX] = '\0';
    claims.bearer = true;
    claims.n_scopes = 4;
    for (size_t i = 0; i < 4; i++) {
        memset(claims.scopes[i].repository, 'r', 255);
        claims.scopes[i].repository[255] = '\0';
        claims.scopes[i].push = true;
    }
    issue();
    cr_assert_leq(strlen(tok), AUTH_TOKEN_MAX_BYTES);
    auth_token_claims_t out;
    cr_assert_eq(verify_at(&key, tok, 0, &out), AUTH_OK, "%s", err.msg);
    cr_assert_str_eq(out.principal_arn, claims.principal_arn);
    cr_assert_str_eq(out.principal_id, claims.principal_id);
    cr_assert_str_eq(out.scopes[3].repository, claims.scopes[3].repository);
}

Test(token, a_small_buffer_is_refused_without_overflow)
{
    char small[16];
    memset(small, 'x', sizeof(small));
    cr_assert_eq(auth_token_issue(&key, &claims, small, sizeof(small), &err), AUTH_EMALFORMED);
    cr_assert_eq(small[0], '\0');
}

Test(token, bad_key_ids_are_refused)
{
    auth_token_key_t k;
    cr_assert_eq(auth_token_key_generate("", &k, &err), AUTH_EMALFORMED);
    cr_assert_eq(auth_token_key_generate("0123456789abcdefg", &k, &err), AUTH_EMALFORMED);
    cr_assert_eq(auth_token_key_generate("a.b", &k, &err), AUTH_EMALFORMED);
}

Test(token, errors_never_contain_the_token)
{
    issue();
    tok[strlen(tok) - 1] ^= 1;
    auth_token_claims_t out;
    cr_assert_neq(verify_at(&key, tok, 0, &out), AUTH_OK);
    char *mac = strrchr(tok, '.') + 1;
    cr_assert_null(strstr(err.msg, mac));
    /* nor its payload (the "v2." of the format's own description may appear:
     * a flipped last character can make the token malformed rather than forged) */
    char payload[AUTH_TOKEN_MAX_BYTES + 1];
    size_t plen = (size_t)(mac - 1 - (tok + 3));
    memcpy(payload, tok + 3, plen);
    payload[plen] = '\0';
    cr_assert_null(strstr(err.msg, payload));
}

/* A version-1 password, as Berth issued them before tokens named the user id:
 * signed with the same key, so only its version refuses it. */
static size_t issue_v1(const auth_token_key_t *k, const char *arn, int64_t iat, int64_t exp, char *out)
{
    unsigned char p[512];
    size_t n = 0, il = strlen(k->id), al = strlen(arn);
    p[n++] = (unsigned char)il;
    memcpy(p + n, k->id, il);
    n += il;
    for (int i = 7; i >= 0; i--)
        p[n++] = (unsigned char)((uint64_t)iat >> (8 * i));
    for (int i = 7; i >= 0; i--)
        p[n++] = (unsigned char)((uint64_t)exp >> (8 * i));
    p[n++] = (unsigned char)(al >> 8);
    p[n++] = (unsigned char)al;
    memcpy(p + n, arn, al);
    n += al;
    p[n++] = 0;
    char b64[1024];
    int bl = EVP_EncodeBlock((unsigned char *)b64, p, (int)n);
    size_t t = 0;
    t += (size_t)sprintf(out, "v1.");
    for (int i = 0; i < bl && b64[i] != '='; i++)
        out[t++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    unsigned char mac[32];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), k->secret, sizeof(k->secret), (unsigned char *)out, t, mac, &ml);
    out[t++] = '.';
    bl = EVP_EncodeBlock((unsigned char *)b64, mac, (int)ml);
    for (int i = 0; i < bl && b64[i] != '='; i++)
        out[t++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    out[t] = '\0';
    return t;
}

Test(token, a_version_1_password_bound_only_to_a_name_is_refused)
{
    char v1[AUTH_TOKEN_MAX_BYTES + 1];
    issue_v1(&key, claims.principal_arn, claims.issued_at, claims.expires_at, v1);
    auth_token_claims_t out;
    cr_assert_eq(verify_at(&key, v1, claims.issued_at, &out), AUTH_EMALFORMED, "%s", v1);
    cr_assert(strstr(err.msg, "log in again") != NULL, "%s", err.msg);
}

Test(token, a_password_names_its_principal_by_arn_and_id_and_has_no_scopes)
{
    claims.principal_id[0] = '\0';
    cr_assert_eq(auth_token_issue(&key, &claims, tok, sizeof(tok), &err), AUTH_EMALFORMED);
    strcpy(claims.principal_id, "AIDAQ4Z7XK2M5N3P6R7ST");
    claims.principal_arn[0] = '\0';
    cr_assert_eq(auth_token_issue(&key, &claims, tok, sizeof(tok), &err), AUTH_EMALFORMED);
    strcpy(claims.principal_arn, "arn:aws:iam::123456789012:user/alice");
    claims.n_scopes = 1;
    claims.scopes[0] = (auth_token_scope_t){"team/app", true, false, false};
    cr_assert_eq(auth_token_issue(&key, &claims, tok, sizeof(tok), &err), AUTH_EMALFORMED);
    memset(claims.principal_id, 'I', sizeof(claims.principal_id)); /* unterminated: over the limit */
    claims.n_scopes = 0;
    cr_assert_eq(auth_token_issue(&key, &claims, tok, sizeof(tok), &err), AUTH_EMALFORMED);
}

Test(token, a_bearer_token_may_have_no_scope_and_no_principal)
{
    claims.bearer = true;
    claims.principal_arn[0] = claims.principal_id[0] = '\0';
    issue();
    auth_token_claims_t out;
    cr_assert_eq(verify_at(&key, tok, claims.issued_at, &out), AUTH_OK, "%s", err.msg);
    cr_assert(out.bearer);
    cr_assert_eq(out.n_scopes, 0);
    cr_assert_str_eq(out.principal_arn, "");
    /* an ARN without its id would bind to the name alone */
    strcpy(claims.principal_arn, "arn:aws:iam::123456789012:user/alice");
    cr_assert_eq(auth_token_issue(&key, &claims, tok, sizeof(tok), &err), AUTH_EMALFORMED);
}

Test(token, a_token_names_only_the_principal_with_its_arn_and_id)
{
    issue();
    auth_token_claims_t out;
    cr_assert_eq(verify_at(&key, tok, claims.issued_at, &out), AUTH_OK, "%s", err.msg);
    auth_principal_t alice = {.arn = "arn:aws:iam::123456789012:user/alice", .id = "AIDAQ4Z7XK2M5N3P6R7ST"};
    cr_assert(auth_token_names(&out, &alice));
    auth_principal_t recreated = alice;
    strcpy(recreated.id, "AIDAB2C3D4E5F6G7H2J3K");
    cr_assert_not(auth_token_names(&out, &recreated), "another alice, created after the first was deleted");
    auth_principal_t bob = alice;
    strcpy(bob.arn, "arn:aws:iam::123456789012:user/bob");
    cr_assert_not(auth_token_names(&out, &bob));
}

Test(token, a_bearer_token_never_outlives_the_password_it_is_minted_from)
{
    int64_t now = 1795856400;
    /* a password with 60 s left: the Bearer token ends with it, not 15 min later */
    int64_t password_exp = now + 60;
    cr_assert_eq(auth_bearer_expiry(now, &password_exp), now + 60);
    /* with 1 s left, 1 s */
    password_exp = now + 1;
    cr_assert_eq(auth_bearer_expiry(now, &password_exp), now + 1);
    /* a password with hours left: the Bearer token's own lifetime */
    password_exp = now + AUTH_DEFAULT_TOKEN_SECONDS;
    cr_assert_eq(auth_bearer_expiry(now, &password_exp), now + AUTH_BEARER_TOKEN_SECONDS);
    password_exp = now + AUTH_BEARER_TOKEN_SECONDS;
    cr_assert_eq(auth_bearer_expiry(now, &password_exp), now + AUTH_BEARER_TOKEN_SECONDS);
    /* anonymous: no password to end with */
    cr_assert_eq(auth_bearer_expiry(now, NULL), now + AUTH_BEARER_TOKEN_SECONDS);
}
