/*
 * tests/auth/test_header.c — the Authorization header: scheme detection
 * (case-insensitive), Basic decoding and its caps, Bearer tokens, white
 * space, and what is refused.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth/auth.h"

static auth_credentials_t c;
static auth_err_t err;

static auth_status_t parse(const char *v)
{
    memset(&err, 0, sizeof(err));
    return auth_parse_authorization(v, strlen(v), &c, &err);
}

/* "Basic " + base64 of the given bytes */
static char *basic_of(const char *raw, size_t len)
{
    static char buf[3 * 8192];
    strcpy(buf, "Basic ");
    EVP_EncodeBlock((unsigned char *)buf + 6, (const unsigned char *)raw, (int)len);
    return buf;
}

Test(header, basic_decodes_user_and_password)
{
    cr_assert_eq(parse("Basic QVdTOnNlY3JldA=="), AUTH_OK, "%s", err.msg); /* AWS:secret */
    cr_assert_eq(c.scheme, AUTH_SCHEME_BASIC);
    cr_assert_str_eq(c.user, "AWS");
    cr_assert_str_eq(c.password, "secret");
    cr_assert_eq(c.password_len, 6);
}

Test(header, basic_password_may_contain_colons_and_be_empty)
{
    cr_assert_eq(parse(basic_of("alice:a:b:c", 11)), AUTH_OK);
    cr_assert_str_eq(c.user, "alice");
    cr_assert_str_eq(c.password, "a:b:c");
    cr_assert_eq(parse(basic_of("alice:", 6)), AUTH_OK);
    cr_assert_eq(c.password_len, 0);
}

Test(header, scheme_names_are_case_insensitive)
{
    cr_assert_eq(parse("bAsIc QVdTOnNlY3JldA=="), AUTH_OK);
    cr_assert_eq(c.scheme, AUTH_SCHEME_BASIC);
    cr_assert_eq(parse("BEARER abc"), AUTH_OK);
    cr_assert_eq(c.scheme, AUTH_SCHEME_BEARER);
    cr_assert_eq(parse("aws4-hmac-sha256 Credential=x"), AUTH_OK);
    cr_assert_eq(c.scheme, AUTH_SCHEME_SIGV4);
}

Test(header, bearer_token_is_the_trimmed_rest_and_points_into_the_input)
{
    const char *v = "  Bearer \t v1.abc.def  \t";
    cr_assert_eq(parse(v), AUTH_OK);
    cr_assert_eq(c.scheme, AUTH_SCHEME_BEARER);
    cr_assert_eq(c.token, v + 11);
    cr_assert_eq(c.token_len, 10);
    cr_assert_eq(memcmp(c.token, "v1.abc.def", 10), 0);
}

Test(header, empty_bearer_is_malformed)
{
    cr_assert_eq(parse("Bearer"), AUTH_EMALFORMED);
    cr_assert_eq(parse("Bearer    "), AUTH_EMALFORMED);
    cr_assert_eq(c.token, NULL);
}

Test(header, sigv4_is_recognised_by_scheme_only)
{
    cr_assert_eq(parse("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261128/us-east-1/ecr/aws4_request, "
                       "SignedHeaders=host;x-amz-date, Signature=0"),
                 AUTH_OK);
    cr_assert_eq(c.scheme, AUTH_SCHEME_SIGV4);
    cr_assert_eq(parse("AWS4-HMAC-SHA256"), AUTH_EMALFORMED);
    cr_assert_eq(parse("AWS4-HMAC-SHA256Credential=x"), AUTH_EMALFORMED);
}

Test(header, unknown_schemes_and_empty_values_are_malformed)
{
    cr_assert_eq(parse("Digest username=x"), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "scheme") != NULL, "%s", err.msg);
    cr_assert_eq(parse(""), AUTH_EMALFORMED);
    cr_assert_eq(parse("   "), AUTH_EMALFORMED);
    cr_assert_eq(parse("Basic"), AUTH_EMALFORMED);
    cr_assert_eq(parse("Basicx QVdTOnNlY3JldA=="), AUTH_EMALFORMED);
    cr_assert_eq(c.scheme, AUTH_SCHEME_NONE);
}

Test(header, bad_base64_is_malformed)
{
    const char *bad[] = {"Basic QVdTOnNlY3JldA=",   "Basic QVdTOnNlY3JldA",   "Basic QVdT*nNlY3JldA==",
                         "Basic QVdTOnNlY3JldA===", "Basic =VdTOnNlY3JldA==", "Basic QVdTOnNlY3JldB==", /* unused bits set */
                         "Basic QVdT OnNlY3JldA=="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(parse(bad[i]), AUTH_EMALFORMED, "%s", bad[i]);
        cr_expect(strstr(err.msg, "base64") != NULL, "%s: %s", bad[i], err.msg);
    }
}

Test(header, basic_without_a_colon_is_malformed)
{
    cr_assert_eq(parse(basic_of("alice", 5)), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "':'") != NULL, "%s", err.msg);
}

Test(header, basic_with_an_empty_user_but_a_password_or_a_nul_is_malformed)
{
    cr_assert_eq(parse(basic_of(":pw", 3)), AUTH_EMALFORMED);
    cr_assert_eq(parse(basic_of("al\0ice:pw", 9)), AUTH_EMALFORMED);
    cr_assert_eq(parse(basic_of("alice:p\0w", 9)), AUTH_EMALFORMED);
}

Test(header, basic_with_empty_user_and_password_parses_as_the_anonymous_credentials_skopeo_sends)
{
    cr_assert_eq(parse(basic_of(":", 1)), AUTH_OK, "%s", err.msg);
    cr_assert_eq(c.scheme, AUTH_SCHEME_BASIC);
    cr_assert_str_eq(c.user, "");
    cr_assert_eq(c.password_len, 0);
}

Test(header, basic_caps_are_enforced_at_the_edges)
{
    static char raw[AUTH_USER_MAX + 2 + AUTH_PASSWORD_MAX + 2];
    memset(raw, 'u', AUTH_USER_MAX);
    raw[AUTH_USER_MAX] = ':';
    memset(raw + AUTH_USER_MAX + 1, 'p', AUTH_PASSWORD_MAX);
    cr_assert_eq(parse(basic_of(raw, AUTH_USER_MAX + 1 + AUTH_PASSWORD_MAX)), AUTH_OK, "%s", err.msg);
    cr_assert_eq(strlen(c.user), AUTH_USER_MAX);
    cr_assert_eq(c.password_len, AUTH_PASSWORD_MAX);

    /* one more byte of password */
    raw[AUTH_USER_MAX + 1 + AUTH_PASSWORD_MAX] = 'p';
    cr_assert_eq(parse(basic_of(raw, AUTH_USER_MAX + 2 + AUTH_PASSWORD_MAX)), AUTH_EMALFORMED);
    /* one more byte of user */
    memset(raw, 'u', AUTH_USER_MAX + 1);
    raw[AUTH_USER_MAX + 1] = ':';
    memcpy(raw + AUTH_USER_MAX + 2, "pw", 2);
    cr_assert_eq(parse(basic_of(raw, AUTH_USER_MAX + 4)), AUTH_EMALFORMED);
}

Test(header, values_over_the_header_cap_are_refused_before_parsing)
{
    static char v[AUTH_HEADER_MAX_BYTES + 2];
    memcpy(v, "Bearer ", 7);
    memset(v + 7, 'a', sizeof(v) - 8);
    cr_assert_eq(auth_parse_authorization(v, AUTH_HEADER_MAX_BYTES, &c, &err), AUTH_OK);
    cr_assert_eq(auth_parse_authorization(v, AUTH_HEADER_MAX_BYTES + 1, &c, &err), AUTH_EMALFORMED);
}

Test(header, secret_equal_compares_bytes_and_lengths)
{
    cr_assert(auth_secret_equal("abc", 3, "abc", 3));
    cr_assert_not(auth_secret_equal("abc", 3, "abd", 3));
    cr_assert_not(auth_secret_equal("abc", 3, "abcd", 4));
    cr_assert(auth_secret_equal("", 0, "", 0));
    cr_assert(auth_secret_equal("a\0b", 3, "a\0b", 3));
    cr_assert_not(auth_secret_equal("a\0b", 3, "a\0c", 3));
}
