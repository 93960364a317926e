/*
 * tests/oci/test_names.c — repository names, tags and tag references: the
 * distribution spec's grammars, and the path tricks they must keep out.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "oci/oci.h"

/* Checks a heap copy of exactly strlen(s) bytes: reading past the span is an ASan error. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    char *copy = malloc(n > 0 ? n : 1);
    memcpy(copy, s, n);
    bool ok = oci_name_valid(copy, n);
    free(copy);
    return ok;
}

static bool tag_ok(const char *s)
{
    size_t n = strlen(s);
    char *copy = malloc(n > 0 ? n : 1);
    memcpy(copy, s, n);
    bool ok = oci_tag_valid(copy, n);
    free(copy);
    return ok;
}

Test(names, ordinary_repository_names_are_valid)
{
    const char *good[] = {"a",         "alpine",  "library/alpine", "my-org/my-app", "team/sub/project",
                          "a0/b1/c2",  "foo.bar", "foo_bar",        "foo__bar",      "foo---bar",
                          "x.y-z_w/q", "0",       "123/456"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(name_ok(good[i]), "%s should be valid", good[i]);
}

Test(names, path_traversal_and_empty_components_are_invalid)
{
    const char *bad[] = {"../x", "..", ".", "a/../b", "a/./b", "a//b", "/a", "a/", "/", "./a", "a/..", "a/.b", "a\\b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(name_ok(bad[i]), "%s should be invalid", bad[i]);
}

Test(names, uppercase_is_invalid)
{
    cr_assert_not(name_ok("Alpine"));
    cr_assert_not(name_ok("library/Alpine"));
    cr_assert_not(name_ok("ALPINE"));
}

Test(names, separators_must_sit_between_alphanumerics)
{
    const char *bad[] = {"-a", "a-", "_a", "a_", ".a", "a.", "a___b", "a..b", "a._b", "a-.b", "a_-b", "a/-b", "a/b-"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(name_ok(bad[i]), "%s should be invalid", bad[i]);
}

Test(names, other_characters_are_invalid)
{
    const char *bad[] = {"a b", "a:b", "a@b", "a%2fb", "a?b", "a#b", "ä", "a\tb", "a\nb", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(name_ok(bad[i]), "%s should be invalid", bad[i]);
    cr_assert_not(oci_name_valid("a\0b", 3));
    cr_assert_not(oci_name_valid(NULL, 3));
}

Test(names, length_255_is_the_limit)
{
    char buf[300];
    memset(buf, 'a', sizeof(buf));
    cr_assert(oci_name_valid(buf, 255));
    cr_assert_not(oci_name_valid(buf, 256));
    for (size_t i = 1; i < 255; i += 2)
        buf[i] = '/';
    cr_assert(oci_name_valid(buf, 255), "a/a/a/.../a of 255 bytes");
    cr_assert_not(oci_name_valid(buf, 256));
}

Test(names, the_length_argument_bounds_the_read)
{
    cr_assert(oci_name_valid("abc/def//", 7));
    cr_assert_not(oci_name_valid("abc/def//", 8));
}

Test(tags, ordinary_tags_are_valid)
{
    const char *good[] = {"latest", "v1.2.3", "1.0", "_private", "A", "3.19-alpine", "x_y.z-w", "SHA256", "0"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(tag_ok(good[i]), "%s should be valid", good[i]);
}

Test(tags, leading_dot_or_dash_is_invalid)
{
    cr_assert_not(tag_ok(".hidden"));
    cr_assert_not(tag_ok(".."));
    cr_assert_not(tag_ok("."));
    cr_assert_not(tag_ok("-rf"));
}

Test(tags, other_characters_are_invalid)
{
    const char *bad[] = {"", "a/b", "a:b", "a b", "a+b", "a@b", "ä", "a%20b", "../x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(tag_ok(bad[i]), "%s should be invalid", bad[i]);
    cr_assert_not(oci_tag_valid("a\0b", 3));
    cr_assert_not(oci_tag_valid(NULL, 1));
}

Test(tags, length_128_is_the_limit)
{
    char buf[200];
    memset(buf, 'x', sizeof(buf));
    cr_assert(oci_tag_valid(buf, 128));
    cr_assert_not(oci_tag_valid(buf, 129));
}

Test(references, a_tag_reference_copies_the_tag)
{
    oci_reference_t r;
    oci_err_t err;
    cr_assert_eq(oci_reference_parse("v1.0-rc1xyz", 8, &r, &err), OCI_OK);
    cr_assert_not(r.is_digest);
    cr_assert_str_eq(r.tag, "v1.0-rc1");
}

Test(references, a_128_byte_tag_fits_with_its_nul)
{
    char buf[128];
    memset(buf, 'q', sizeof(buf));
    oci_reference_t r;
    cr_assert_eq(oci_reference_parse(buf, 128, &r, NULL), OCI_OK);
    cr_assert_eq(strlen(r.tag), 128);
    cr_assert_eq(oci_reference_parse(buf, 0, &r, NULL), OCI_EINVAL);
}

Test(references, invalid_tags_are_refused_with_a_message)
{
    oci_reference_t r;
    oci_err_t err;
    cr_assert_eq(oci_reference_parse("-x", 2, &r, &err), OCI_EINVAL);
    cr_assert(strstr(err.msg, "tag") != NULL, "message: %s", err.msg);
    cr_assert_eq(oci_reference_parse("a/b", 3, NULL, NULL), OCI_EINVAL);
    cr_assert_eq(oci_reference_parse(NULL, 3, NULL, NULL), OCI_EINVAL);
}
