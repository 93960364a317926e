/*
 * The AWS shared credentials file, as the berth CLI reads it: INI sections
 * "[profile]" with "aws_access_key_id = ...", "aws_secret_access_key = ..."
 * and, for temporary credentials, "aws_session_token = ...".
 * Like botocore: '#' and ';' start comment lines, names and values are trimmed,
 * keys are case-insensitive, a later section of the same name adds to the
 * earlier one, and anything that is not a section, a key = value or a comment
 * is an error naming its line.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "auth/auth_internal.h"

static void trim(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

static bool is(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - s) == n && strncasecmp(s, word, n) == 0;
}

static auth_status_t find_profile(const char *text, size_t len, const char *profile, auth_file_credentials_t *out, auth_err_t *err)
{
    bool in_profile = false, seen_profile = false;
    const char *end = text + len;
    unsigned line_no = 0;
    for (const char *line = text; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        const char *s = line, *e = eol;
        line = eol + 1;
        line_no++;
        trim(&s, &e);
        if (s == e || *s == '#' || *s == ';')
            continue;
        if (memchr(s, '\0', (size_t)(e - s))) {
            auth_set_err(err, "line %u of the credentials file contains a NUL byte", line_no);
            return AUTH_EMALFORMED;
        }
        if (*s == '[') {
            if (e[-1] != ']') {
                auth_set_err(err, "line %u of the credentials file: a section header must end with ']'", line_no);
                return AUTH_EMALFORMED;
            }
            const char *ns = s + 1, *ne = e - 1;
            trim(&ns, &ne);
            in_profile = (size_t)(ne - ns) == strlen(profile) && memcmp(ns, profile, (size_t)(ne - ns)) == 0;
            seen_profile |= in_profile;
            continue;
        }
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq) {
            auth_set_err(err, "line %u of the credentials file is neither [profile] nor key = value", line_no);
            return AUTH_EMALFORMED;
        }
        if (!in_profile)
            continue;
        const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
        trim(&ks, &ke);
        trim(&vs, &ve);
        char *dst = NULL;
        size_t cap = 0;
        if (is(ks, ke, "aws_access_key_id")) {
            dst = out->access_key_id;
            cap = sizeof(out->access_key_id);
        } else if (is(ks, ke, "aws_secret_access_key")) {
            dst = out->secret;
            cap = sizeof(out->secret);
        } else if (is(ks, ke, "aws_session_token")) {
            dst = out->session_token;
            cap = sizeof(out->session_token);
        } else {
            continue; /* region, ...: not ours */
        }
        if ((size_t)(ve - vs) >= cap || vs == ve) {
            auth_set_err(err, "line %u of the credentials file: %.*s is %s", line_no, (int)(ke - ks), ks,
                         vs == ve ? "empty" : "too long");
            return AUTH_EMALFORMED;
        }
        memcpy(dst, vs, (size_t)(ve - vs));
        dst[ve - vs] = '\0';
    }
    if (!seen_profile) {
        auth_set_err(err, "the credentials file has no [%.64s] profile", profile);
        return AUTH_EMALFORMED;
    }
    if (!out->access_key_id[0] || !out->secret[0]) {
        auth_set_err(err, "profile [%.64s] of the credentials file lacks %s", profile,
                     !out->access_key_id[0] ? "aws_access_key_id" : "aws_secret_access_key");
        return AUTH_EMALFORMED;
    }
    return AUTH_OK;
}

auth_status_t auth_credentials_file_find(const char *text, size_t len, const char *profile, auth_file_credentials_t *out,
                                         auth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    auth_status_t s = find_profile(text, len, profile, out, err);
    if (s != AUTH_OK) /* nothing half-read is left behind, least of all a secret */
        OPENSSL_cleanse(out, sizeof(*out));
    return s;
}
