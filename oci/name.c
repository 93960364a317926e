/*
 * oci/name.c — repository names, tags and manifest references per the OCI
 * distribution spec ("Pulling manifests": <name> and <reference> grammars).
 */
#include "oci/oci_internal.h"

#include <string.h>

static bool oci_name_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/*
 * [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
 *
 * A hand-written scanner rather than a regex: it is linear, allocation-free and
 * makes the traversal cases ("..", "a//b", leading or trailing '/') fall out of
 * the grammar, since every separator must sit between two alphanumerics.
 */
bool oci_name_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > OCI_NAME_MAX)
        return false;
    size_t i = 0;
    for (;;) {
        /* one path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
        if (i >= len || !oci_name_alnum((unsigned char)s[i]))
            return false;
        while (i < len && oci_name_alnum((unsigned char)s[i]))
            i++;
        while (i < len && s[i] != '/') {
            unsigned char c = (unsigned char)s[i];
            if (c == '.') {
                i++;
            } else if (c == '_') {
                i++;
                if (i < len && s[i] == '_')
                    i++; /* "__" is one separator; "___" is not */
            } else if (c == '-') {
                while (i < len && s[i] == '-')
                    i++;
            } else {
                return false;
            }
            if (i >= len || !oci_name_alnum((unsigned char)s[i]))
                return false;
            while (i < len && oci_name_alnum((unsigned char)s[i]))
                i++;
        }
        if (i == len)
            return true;
        i++; /* the '/', which must be followed by another component */
    }
}

static bool oci_tag_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}: a tag cannot start with '.' or '-', so it can
 * never be "." / ".." or look like a command-line option. */
bool oci_tag_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > OCI_TAG_MAX)
        return false;
    if (s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!oci_tag_char((unsigned char)s[i]))
            return false;
    }
    return true;
}

oci_status_t oci_reference_parse(const char *s, size_t len, oci_reference_t *out, oci_err_t *err)
{
    oci_reference_t scratch;
    if (out == NULL)
        out = &scratch;
    memset(out, 0, sizeof(*out));
    if (s == NULL || len == 0)
        return oci_fail(err, OCI_EINVAL, "reference is empty");
    /* a tag cannot contain ':', so a colon decides it: "latest" is a tag, "sha256:…" a digest */
    if (memchr(s, ':', len) != NULL) {
        oci_status_t st = oci_digest_parse(s, len, &out->digest, err);
        out->is_digest = st == OCI_OK;
        return st;
    }
    if (!oci_tag_valid(s, len))
        return oci_fail(err, OCI_EINVAL, "tag must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");
    memcpy(out->tag, s, len);
    out->tag[len] = '\0';
    return OCI_OK;
}
