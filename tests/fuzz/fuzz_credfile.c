/*
 * tests/fuzz/fuzz_credfile.c — the AWS credentials-file reader of the berth
 * CLI. The input is a file's text; its first line (up to the first newline,
 * capped) names the profile to look for, the rest is the file. Invariants:
 * it never reads past the text; a found profile has both keys (and maybe a
 * session token), non-empty, NUL-terminated, without a newline and trimmed,
 * and each value occurs in the text; on failure the output is zeroed and the message is a terminated string.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "fuzz_check.h"

static bool occurs(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

static void check_value(const char *v, size_t cap, const char *text, size_t len)
{
    size_t n = strnlen(v, cap);
    FUZZ_CHECK(n > 0 && n < cap);
    FUZZ_CHECK(!strchr(v, '\n'));
    FUZZ_CHECK(!isspace((unsigned char)v[0]) && !isspace((unsigned char)v[n - 1]));
    FUZZ_CHECK(occurs(text, len, v));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size < 80 ? size : 80);
    size_t plen = nl ? (size_t)(nl - (const char *)data) : 0;
    char profile[81];
    memcpy(profile, data, plen);
    profile[plen] = '\0';
    const char *text = nl ? nl + 1 : (const char *)data;
    size_t len = size - (size_t)(text - (const char *)data);
    /* an exact-size copy, so ASan sees any read past the end */
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return 0;
    memcpy(copy, text, len);
    auth_file_credentials_t cred;
    auth_err_t err;
    memset(&err, 0xAA, sizeof(err));
    auth_status_t s = auth_credentials_file_find(copy, len, profile[0] ? profile : "default", &cred, &err);
    if (s == AUTH_OK) {
        check_value(cred.access_key_id, sizeof(cred.access_key_id), copy, len);
        check_value(cred.secret, sizeof(cred.secret), copy, len);
        if (cred.session_token[0]) /* optional: temporary credentials only */
            check_value(cred.session_token, sizeof(cred.session_token), copy, len);
    } else {
        FUZZ_CHECK(s == AUTH_EMALFORMED);
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        static const auth_file_credentials_t zero;
        FUZZ_CHECK(memcmp(&cred, &zero, sizeof(cred)) == 0);
    }
    free(copy);
    return 0;
}
