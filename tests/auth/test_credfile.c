/* The AWS credentials-file reader the berth CLI uses (auth/credfile.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"

static auth_status_t find(const char *text, const char *profile, auth_file_credentials_t *c, auth_err_t *err)
{
    return auth_credentials_file_find(text, strlen(text), profile, c, err);
}

static bool all_zero(const auth_file_credentials_t *c)
{
    static const auth_file_credentials_t zero;
    return memcmp(c, &zero, sizeof(*c)) == 0;
}

Test(credfile, reads_what_berthd_writes)
{
    auth_file_credentials_t c;
    auth_err_t err;
    const char *text =
        "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n";
    cr_assert_eq(find(text, "default", &c, &err), AUTH_OK, "%s", err.msg);
    cr_assert_str_eq(c.access_key_id, "AKIAIOSFODNN7EXAMPLE");
    cr_assert_str_eq(c.secret, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
}

Test(credfile, reads_the_session_token_of_temporary_credentials_and_none_where_there_is_none)
{
    auth_file_credentials_t c;
    auth_err_t err;
    const char *text =
        "[tmp]\naws_access_key_id = ASIAABCDEFGHIJKLMNOP\naws_secret_access_key = S\naws_session_token = bst1_TOKEN-x_y\n"
        "[plain]\naws_access_key_id = AKIAABCDEFGHIJKLMNOP\naws_secret_access_key = P\n";
    cr_assert_eq(find(text, "tmp", &c, &err), AUTH_OK, "%s", err.msg);
    cr_assert_str_eq(c.session_token, "bst1_TOKEN-x_y");
    cr_assert_eq(find(text, "plain", &c, &err), AUTH_OK, "%s", err.msg);
    cr_assert_str_eq(c.session_token, "");
    /* an empty token is a mistake, not "no token"; one past the cap is refused whole */
    cr_assert_eq(find("[d]\naws_access_key_id = A\naws_secret_access_key = S\naws_session_token =\n", "d", &c, &err),
                 AUTH_EMALFORMED);
    cr_assert(all_zero(&c));
    static char big[AUTH_FILE_SESSION_TOKEN_MAX + 128];
    int n = snprintf(big, sizeof(big), "[d]\naws_access_key_id = A\naws_secret_access_key = S\naws_session_token = ");
    memset(big + n, 'x', AUTH_FILE_SESSION_TOKEN_MAX + 1);
    cr_assert_eq(find(big, "d", &c, &err), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "too long") != NULL, "%s", err.msg);
    cr_assert(all_zero(&c));
}

Test(credfile, picks_the_named_profile_among_others_and_merges_repeated_sections)
{
    auth_file_credentials_t c;
    auth_err_t err;
    const char *text = "# a comment\n; another\n[default]\naws_access_key_id = D\naws_secret_access_key = DS\n\n"
                       "[ ci ]\r\n  AWS_Access_Key_ID\t=  AKIACI  \r\nregion = eu-west-1\n[other]\naws_secret_access_key = O\n"
                       "[ci]\naws_secret_access_key=CISECRET\n";
    cr_assert_eq(find(text, "ci", &c, &err), AUTH_OK, "%s", err.msg);
    cr_assert_str_eq(c.access_key_id, "AKIACI");
    cr_assert_str_eq(c.secret, "CISECRET");
    cr_assert_eq(find(text, "default", &c, &err), AUTH_OK, "%s", err.msg);
    cr_assert_str_eq(c.access_key_id, "D");
    cr_assert_str_eq(c.secret, "DS");
}

Test(credfile, a_missing_profile_is_named)
{
    auth_file_credentials_t c;
    auth_err_t err;
    cr_assert_eq(find("[default]\naws_access_key_id = A\naws_secret_access_key = S\n", "prod", &c, &err), AUTH_EMALFORMED);
    cr_assert_str_eq(err.msg, "the credentials file has no [prod] profile");
    cr_assert(all_zero(&c));
}

Test(credfile, a_profile_without_its_secret_says_which_key_is_missing_and_returns_nothing)
{
    auth_file_credentials_t c;
    auth_err_t err;
    cr_assert_eq(find("[p]\naws_access_key_id = A\n", "p", &c, &err), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "lacks aws_secret_access_key"), "%s", err.msg);
    cr_assert(all_zero(&c));
}

Test(credfile, malformed_lines_are_named_by_number_and_nothing_half_read_is_returned)
{
    auth_file_credentials_t c;
    auth_err_t err;
    cr_assert_eq(find("[p]\naws_secret_access_key = S\naws_access_key_id = A\nnot a key value\n", "p", &c, &err), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "line 4"), "%s", err.msg);
    cr_assert(all_zero(&c));
    cr_assert_eq(find("[p\n", "p", &c, &err), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "line 1") && strstr(err.msg, "']'"), "%s", err.msg);
    cr_assert_eq(find("[p]\naws_access_key_id =\n", "p", &c, &err), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "empty"), "%s", err.msg);
}

Test(credfile, an_overlong_value_is_refused)
{
    char text[512];
    char long_value[200];
    memset(long_value, 'K', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    snprintf(text, sizeof(text), "[p]\naws_access_key_id = %s\naws_secret_access_key = S\n", long_value);
    auth_file_credentials_t c;
    auth_err_t err;
    cr_assert_eq(find(text, "p", &c, &err), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "too long"), "%s", err.msg);
}

Test(credfile, reads_only_the_given_length)
{
    /* the text is not NUL-terminated where the length ends */
    const char text[] = "[p]\naws_access_key_id = A\naws_secret_access_key = SECRET";
    auth_file_credentials_t c;
    auth_err_t err;
    cr_assert_eq(auth_credentials_file_find(text, sizeof(text) - 1 - 3, "p", &c, &err), AUTH_OK, "%s", err.msg);
    cr_assert_str_eq(c.secret, "SEC");
}
