/*
 * tests/server/test_http_parse.c — the header and query values the registry API
 * reads: Range, Content-Range, Accept, query parameters and plain integers.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "oci/oci.h"
#include "server/http_parse.h"

/* Each parser gets a heap copy of exactly strlen(s) bytes: no NUL to lean on. */
static char *exact(const char *s)
{
    size_t n = strlen(s);
    char *copy = malloc(n > 0 ? n : 1);
    copy[0] = '#'; /* for "", a byte the parser must not read, and not a NUL */
    memcpy(copy, s, n);
    return copy;
}

static http_range_status_t range(const char *s, uint64_t size, http_range_t *r)
{
    char *c = exact(s);
    http_range_status_t st = http_range_parse(c, strlen(s), size, r);
    free(c);
    return st;
}

static void expect_range(const char *s, uint64_t size, uint64_t first, uint64_t last)
{
    http_range_t r = {0, 0};
    cr_assert_eq(range(s, size, &r), HTTP_RANGE_OK, "%s of %llu", s, (unsigned long long)size);
    cr_assert_eq(r.first, first, "%s: first %llu", s, (unsigned long long)r.first);
    cr_assert_eq(r.last, last, "%s: last %llu", s, (unsigned long long)r.last);
}

static bool content_range(const char *s, uint64_t *first, uint64_t *last)
{
    char *c = exact(s);
    bool ok = http_content_range_parse(c, strlen(s), first, last);
    free(c);
    return ok;
}

static unsigned accept(const char *s, bool *any)
{
    char *c = exact(s);
    unsigned kinds = http_accept_parse(c, strlen(s), any);
    free(c);
    return kinds;
}

static long query(const char *q, const char *name, char *out, size_t out_size)
{
    char *c = exact(q);
    long n = http_query_param(c, strlen(q), name, out, out_size);
    free(c);
    return n;
}

static long form(const char *q, const char *name, char *out, size_t out_size)
{
    char *c = exact(q);
    long n = http_form_param(c, strlen(q), name, out, out_size);
    free(c);
    return n;
}

/* ---- Range ---- */

Test(range, a_closed_range_is_served_as_asked)
{
    expect_range("bytes=0-499", 1000, 0, 499);
    expect_range("bytes=999-999", 1000, 999, 999);
    expect_range("bytes=0-0", 1, 0, 0);
}

Test(range, an_open_range_runs_to_the_end)
{
    expect_range("bytes=500-", 1000, 500, 999);
    expect_range("bytes=0-", 1, 0, 0);
}

Test(range, a_suffix_range_is_the_last_n_bytes)
{
    expect_range("bytes=-200", 1000, 800, 999);
    expect_range("bytes=-1", 1000, 999, 999);
    expect_range("bytes=-2000", 1000, 0, 999);
    expect_range("bytes=-18446744073709551615", 10, 0, 9);
}

Test(range, a_last_position_past_the_end_is_clipped)
{
    expect_range("bytes=900-2000", 1000, 900, 999);
    expect_range("bytes=0-18446744073709551615", 1000, 0, 999);
}

Test(range, unit_is_case_insensitive_and_outer_whitespace_is_ignored)
{
    expect_range("BYTES=1-2", 10, 1, 2);
    expect_range("Bytes=1-2", 10, 1, 2);
    expect_range("  bytes=1-2\t", 10, 1, 2);
}

Test(range, empty_list_elements_are_tolerated)
{
    expect_range("bytes=1-2, ,", 10, 1, 2);
    expect_range("bytes=, 1-2", 10, 1, 2);
    expect_range("bytes= 1-2 ", 10, 1, 2);
}

Test(range, starting_at_or_past_the_end_is_unsatisfiable)
{
    http_range_t r;
    cr_assert_eq(range("bytes=1000-", 1000, &r), HTTP_RANGE_UNSATISFIABLE);
    cr_assert_eq(range("bytes=1000-1200", 1000, &r), HTTP_RANGE_UNSATISFIABLE);
    cr_assert_eq(range("bytes=18446744073709551615-", 1000, &r), HTTP_RANGE_UNSATISFIABLE);
    cr_assert_eq(range("bytes=0-", 0, &r), HTTP_RANGE_UNSATISFIABLE);
    cr_assert_eq(range("bytes=0-0", 0, &r), HTTP_RANGE_UNSATISFIABLE);
}

Test(range, reversed_or_empty_suffix_ranges_are_unsatisfiable)
{
    http_range_t r;
    cr_assert_eq(range("bytes=5-4", 1000, &r), HTTP_RANGE_UNSATISFIABLE);
    cr_assert_eq(range("bytes=-0", 1000, &r), HTTP_RANGE_UNSATISFIABLE);
    cr_assert_eq(range("bytes=-5", 0, &r), HTTP_RANGE_UNSATISFIABLE);
}

Test(range, multiple_ranges_are_ignored)
{
    http_range_t r;
    cr_assert_eq(range("bytes=0-1,5-6", 1000, &r), HTTP_RANGE_IGNORE);
    cr_assert_eq(range("bytes=0-1, 2000-3000", 1000, &r), HTTP_RANGE_IGNORE);
    cr_assert_eq(range("bytes=-5,-6", 1000, &r), HTTP_RANGE_IGNORE);
    cr_assert_eq(range("bytes=5000-,0-1", 1000, &r), HTTP_RANGE_IGNORE, "ignored even when one part is unsatisfiable");
}

Test(range, garbage_and_other_units_are_ignored)
{
    const char *bad[] = {"",
                         "bytes",
                         "bytes=",
                         "bytes=-",
                         "bytes=a-b",
                         "bytes=1-2-3",
                         "bytes = 0-5",
                         "bytes =0-5",
                         "items=0-5",
                         "bytes=0x10-",
                         "bytes=+1-5",
                         "bytes=1 -5",
                         "bytes=1- 5",
                         "bytes=-+5",
                         "bytes=1",
                         "bytes=18446744073709551616-",
                         "bytes=0-18446744073709551616",
                         "bytes=-18446744073709551616",
                         "bytes=1-2;x",
                         "bytesx=1-2",
                         "=1-2",
                         ",,,"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        http_range_t r = {7, 7};
        cr_assert_eq(range(bad[i], 1000, &r), HTTP_RANGE_IGNORE, "\"%s\"", bad[i]);
        cr_assert_eq(r.first, 7, "out untouched for \"%s\"", bad[i]);
    }
    cr_assert_eq(http_range_parse(NULL, 5, 1000, NULL), HTTP_RANGE_IGNORE);
}

Test(range, the_length_bounds_the_read_and_out_may_be_null)
{
    http_range_t r;
    cr_assert_eq(http_range_parse("bytes=0-12345", 9, 1000, &r), HTTP_RANGE_OK);
    cr_assert_eq(r.last, 1);
    cr_assert_eq(http_range_parse("bytes=0-1", 9, 1000, NULL), HTTP_RANGE_OK);
}

/* ---- Content-Range ---- */

Test(content_range, docker_style_bare_span_parses)
{
    uint64_t f = 9, l = 9;
    cr_assert(content_range("0-1023", &f, &l));
    cr_assert_eq(f, 0);
    cr_assert_eq(l, 1023);
    cr_assert(content_range("1024-1024", &f, &l));
    cr_assert_eq(f, 1024);
    cr_assert_eq(l, 1024);
}

Test(content_range, rfc_and_equals_prefixes_and_totals_parse)
{
    uint64_t f, l;
    cr_assert(content_range("bytes 0-1023/2048", &f, &l));
    cr_assert_eq(l, 1023);
    cr_assert(content_range("bytes=0-1023", &f, &l));
    cr_assert(content_range("bytes 5-9/*", &f, &l));
    cr_assert_eq(f, 5);
    cr_assert(content_range("Bytes 0-1023/1024", &f, &l));
    cr_assert(content_range("  0-1\t", &f, &l));
    cr_assert(content_range("0-18446744073709551614/18446744073709551615", &f, &l));
    cr_assert(content_range("0-1", NULL, NULL), "outputs are optional");
}

Test(content_range, malformed_or_reversed_spans_are_refused)
{
    const char *bad[] = {"",
                         "-5",
                         "5-",
                         "-",
                         "5-4",
                         "bytes */1000",
                         "0-1023/1000",
                         "0-1023/1023",
                         "0-1023/",
                         "0-1023/abc",
                         "0-1023/*x",
                         "a-b",
                         "0 - 5",
                         "bytes 0-5/10/20",
                         "bytes  0-5",
                         "bytes:0-5",
                         "items 0-5",
                         "0-18446744073709551616",
                         "18446744073709551616-18446744073709551617",
                         "+0-5",
                         "0--5",
                         "0-5-6"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t f = 77, l = 77;
        cr_assert_not(content_range(bad[i], &f, &l), "\"%s\"", bad[i]);
        cr_assert_eq(f, 77, "outputs untouched for \"%s\"", bad[i]);
    }
    cr_assert_not(http_content_range_parse(NULL, 3, NULL, NULL));
}

/* A chunk ending at byte 2^64-1 would end the upload at offset 2^64, and its
 * length last - first + 1 wraps (to 1 for max-max, to 0 for 0-max): the
 * handler would take "18446744073709551615-18446744073709551615" with a
 * 1-byte body for a chunk at the "append anywhere" offset. No such chunk can
 * exist, so the span is refused. */
Test(content_range, a_span_ending_at_the_largest_u64_is_refused_as_its_length_wraps)
{
    const char *bad[] = {"18446744073709551615-18446744073709551615", "0-18446744073709551615", "bytes 5-18446744073709551615/*",
                         "bytes=18446744073709551615-18446744073709551615"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t f = 77, l = 77;
        cr_assert_not(content_range(bad[i], &f, &l), "\"%s\"", bad[i]);
        cr_assert_eq(f, 77, "outputs untouched for \"%s\"", bad[i]);
    }
    uint64_t f, l;
    cr_assert(content_range("18446744073709551614-18446744073709551614", &f, &l), "the last representable end still parses");
    cr_assert_eq(l - f + 1, 1);
}

Test(content_range, the_length_bounds_the_read)
{
    uint64_t f, l;
    cr_assert(http_content_range_parse("0-99999", 3, &f, &l));
    cr_assert_eq(l, 9);
}

/* ---- Accept ---- */

Test(accept, one_media_type_gives_its_kind)
{
    bool any = false;
    cr_assert_eq(accept("application/vnd.docker.distribution.manifest.v2+json", &any), OCI_MT_DOCKER_MANIFEST);
    cr_assert_not(any);
}

Test(accept, a_comma_joined_list_gives_every_kind)
{
    bool any = false;
    /* what containerd sends */
    unsigned k = accept("application/vnd.docker.distribution.manifest.v2+json, "
                        "application/vnd.docker.distribution.manifest.list.v2+json, "
                        "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*",
                        &any);
    cr_assert_eq(k, OCI_MT_DOCKER_MANIFEST | OCI_MT_DOCKER_LIST | OCI_MT_OCI_MANIFEST | OCI_MT_OCI_INDEX);
    cr_assert(any);
}

Test(accept, repeated_header_lines_are_ored_by_the_caller)
{
    /* what docker sends: one Accept line per type */
    const char *lines[] = {"application/vnd.docker.distribution.manifest.v2+json",
                           "application/vnd.docker.distribution.manifest.list.v2+json",
                           "application/vnd.oci.image.index.v1+json",
                           "application/vnd.oci.image.manifest.v1+json",
                           "application/vnd.docker.distribution.manifest.v1+prettyjws",
                           "application/json"};
    unsigned k = 0;
    bool any = false;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        k |= accept(lines[i], &any);
    cr_assert_eq(k, OCI_MT_DOCKER_MANIFEST | OCI_MT_DOCKER_LIST | OCI_MT_OCI_MANIFEST | OCI_MT_OCI_INDEX | OCI_MT_DOCKER_V1);
    cr_assert_not(any);
}

Test(accept, q_values_and_parameters_are_ignored)
{
    bool any = false;
    cr_assert_eq(accept("application/vnd.oci.image.index.v1+json;q=0.5,application/vnd.oci.image.manifest.v1+json ; q=0.9", &any),
                 OCI_MT_OCI_INDEX | OCI_MT_OCI_MANIFEST);
    cr_assert_eq(accept("APPLICATION/VND.OCI.IMAGE.INDEX.V1+JSON; charset=utf-8", &any), OCI_MT_OCI_INDEX);
}

Test(accept, wildcards_set_any_and_never_clear_it)
{
    bool any = false;
    cr_assert_eq(accept("*/*", &any), 0);
    cr_assert(any);
    cr_assert_eq(accept("application/vnd.oci.image.index.v1+json", &any), OCI_MT_OCI_INDEX);
    cr_assert(any, "a later line without a wildcard leaves it set");

    any = false;
    accept("text/html, application/*;q=0.8", &any);
    cr_assert(any);
    any = false;
    accept("Application/*", &any);
    cr_assert(any);
    any = false;
    accept(" */* ; q=0.1 ", &any);
    cr_assert(any);
}

Test(accept, other_wildcards_and_near_misses_are_not_any)
{
    const char *s[] = {"text/*", "*/json", "application/**", "*", "application/vnd.*", "", ",,,", "image/*"};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        bool any = false;
        cr_assert_eq(accept(s[i], &any), 0, "%s", s[i]);
        cr_assert_not(any, "%s", s[i]);
    }
    cr_assert_eq(http_accept_parse(NULL, 4, NULL), 0);
    cr_assert_eq(accept("*/*", NULL), 0, "any may be NULL");
}

Test(accept, commas_inside_quoted_parameters_do_not_split)
{
    bool any = false;
    cr_assert_eq(accept("application/vnd.oci.image.manifest.v1+json; x=\"a,application/vnd.oci.image.index.v1+json\"", &any),
                 OCI_MT_OCI_MANIFEST);
    cr_assert_eq(accept("a/b; x=\"q\\\",*/*\", application/vnd.oci.image.index.v1+json", &any), OCI_MT_OCI_INDEX);
    cr_assert_not(any, "the */* was inside quotes");
    cr_assert_eq(accept("a/b; x=\"unterminated, application/vnd.oci.image.index.v1+json", &any), 0);
    cr_assert_eq(accept("a/b; x=\"\\", &any), 0, "a trailing backslash ends the span");
}

Test(accept, the_length_bounds_the_read)
{
    const char *s = "application/vnd.oci.image.index.v1+json,*/*";
    bool any = false;
    cr_assert_eq(http_accept_parse(s, 39, &any), OCI_MT_OCI_INDEX);
    cr_assert_not(any);
}

/* ---- query parameters ---- */

Test(query, percent_encoded_colon_and_slash_are_decoded)
{
    char out[128];
    cr_assert_eq(query("digest=sha256%3Aabc", "digest", out, sizeof(out)), 10);
    cr_assert_str_eq(out, "sha256:abc");
    cr_assert_eq(query("mount=sha256%3aabc&from=a%2Fb", "from", out, sizeof(out)), 3);
    cr_assert_str_eq(out, "a/b");
    cr_assert_eq(query("mount=sha256%3aabc&from=a%2Fb", "mount", out, sizeof(out)), 10);
    cr_assert_str_eq(out, "sha256:abc");
}

Test(query, plus_is_kept_and_equals_in_values_are_data)
{
    char out[64];
    cr_assert_eq(query("a=1+2", "a", out, sizeof(out)), 3);
    cr_assert_str_eq(out, "1+2");
    cr_assert_eq(query("a=b=c", "a", out, sizeof(out)), 3);
    cr_assert_str_eq(out, "b=c");
}

Test(query, a_missing_parameter_is_minus_one)
{
    char out[64] = "junk";
    cr_assert_eq(query("", "n", out, sizeof(out)), -1);
    cr_assert_str_eq(out, "");
    cr_assert_eq(query("digestx=1&xdigest=2&Digest=3", "digest", out, sizeof(out)), -1);
    cr_assert_eq(query("n=1", "", out, sizeof(out)), -1);
    cr_assert_eq(http_query_param(NULL, 0, "n", out, sizeof(out)), -1);
    cr_assert_eq(http_query_param("n=1", 3, NULL, out, sizeof(out)), -1);
}

Test(query, a_parameter_without_value_is_empty)
{
    char out[64] = "junk";
    cr_assert_eq(query("last&n=5", "last", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "");
    cr_assert_eq(query("n=5&last=", "last", out, sizeof(out)), 0);
}

Test(query, the_first_occurrence_wins)
{
    char out[64];
    cr_assert_eq(query("n=1&n=2", "n", out, sizeof(out)), 1);
    cr_assert_str_eq(out, "1");
}

Test(query, bad_escapes_and_decoded_nul_are_malformed)
{
    const char *bad[] = {"d=%", "d=%4", "d=%zz", "d=%G0", "d=%0g", "d=abc%", "d=%00", "d=a%00b", "d=%%41"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[64] = "junk";
        cr_assert_eq(query(bad[i], "d", out, sizeof(out)), -2, "%s", bad[i]);
        cr_assert_str_eq(out, "", "%s leaves an empty string", bad[i]);
    }
    char raw[] = "d=a\0b";
    char out[8];
    cr_assert_eq(http_query_param(raw, sizeof(raw) - 1, "d", out, sizeof(out)), -2, "a raw NUL too");
}

Test(query, other_parameters_malformation_does_not_matter)
{
    char out[64];
    cr_assert_eq(query("x=%zz&digest=ok", "digest", out, sizeof(out)), 2);
    cr_assert_str_eq(out, "ok");
    cr_assert_eq(query("%zz=1&digest=ok", "digest", out, sizeof(out)), 2);
}

Test(query, empty_pairs_are_skipped_and_keys_are_decoded)
{
    char out[64];
    cr_assert_eq(query("&&digest=1&", "digest", out, sizeof(out)), 1);
    cr_assert_eq(query("%64igest=x", "digest", out, sizeof(out)), 1);
    cr_assert_str_eq(out, "x");
    cr_assert_eq(query("artifactType=application%2Fvnd.example%2Bjson", "artifactType", out, sizeof(out)), 28);
    cr_assert_str_eq(out, "application/vnd.example+json");
}

Test(query, values_that_do_not_fit_are_malformed)
{
    char out[4];
    cr_assert_eq(query("a=abc", "a", out, sizeof(out)), 3);
    cr_assert_str_eq(out, "abc");
    cr_assert_eq(query("a=abcd", "a", out, sizeof(out)), -2);
    cr_assert_str_eq(out, "");
    cr_assert_eq(query("a=%41%42%43", "a", out, sizeof(out)), 3, "the decoded length counts");
    cr_assert_eq(query("a=", "a", NULL, 0), -2, "no room even for the NUL");
    cr_assert_eq(query("b=", "a", NULL, 0), -1);
}

Test(query, the_length_bounds_the_read)
{
    char out[16];
    cr_assert_eq(http_query_param("n=12345", 3, "n", out, sizeof(out)), 1);
    cr_assert_str_eq(out, "1");
    cr_assert_eq(http_query_param("n=%41", 4, "n", out, sizeof(out)), -2, "an escape cut by the length");
}

/* ---- integers ---- */

Test(u64, decimal_integers_parse_up_to_the_maximum)
{
    uint64_t v;
    cr_assert(http_parse_u64("0", 1, &v));
    cr_assert_eq(v, 0);
    cr_assert(http_parse_u64("18446744073709551615", 20, &v));
    cr_assert_eq(v, UINT64_MAX);
    cr_assert(http_parse_u64("00012", 5, &v));
    cr_assert_eq(v, 12);
    cr_assert(http_parse_u64("12345", 2, &v));
    cr_assert_eq(v, 12);
}

Test(u64, signs_spaces_overflow_and_empties_are_refused)
{
    const char *bad[] = {"", "-1", "+1", " 1", "1 ", "18446744073709551616", "99999999999999999999", "1a", "0x1", "1.0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 42;
        cr_assert_not(http_parse_u64(bad[i], strlen(bad[i]), &v), "\"%s\"", bad[i]);
        cr_assert_eq(v, 42);
    }
    cr_assert_not(http_parse_u64(NULL, 1, NULL));
}

/* ---- form bodies (application/x-www-form-urlencoded) ---- */

Test(form, plus_is_a_space_and_an_encoded_plus_is_a_plus)
{
    char out[128];
    /* what the AWS CLI sends for a pretty-printed policy document */
    cr_assert_eq(
        form("Action=CreatePolicy&PolicyDocument=%7B%0A++%22Version%22%3A+%222012-10-17%22%7D", "PolicyDocument", out, sizeof(out)),
        28);
    cr_assert_str_eq(out, "{\n  \"Version\": \"2012-10-17\"}");
    cr_assert_eq(form("UserName=build%2Bci", "UserName", out, sizeof(out)), 8);
    cr_assert_str_eq(out, "build+ci");
    cr_assert_eq(form("a=1+%2B+2", "a", out, sizeof(out)), 5);
    cr_assert_str_eq(out, "1 + 2");
    cr_assert_eq(form("a=+", "a", out, sizeof(out)), 1);
    cr_assert_str_eq(out, " ");
}

Test(form, plus_in_a_name_is_a_space_too)
{
    char out[64];
    cr_assert_eq(form("my+key=v", "my key", out, sizeof(out)), 1);
    cr_assert_str_eq(out, "v");
    cr_assert_eq(form("my+key=v", "my+key", out, sizeof(out)), -1);
    cr_assert_eq(form("my%2Bkey=v", "my+key", out, sizeof(out)), 1);
}

Test(form, otherwise_decodes_as_a_query)
{
    char out[64];
    cr_assert_eq(form("a=b=c&x=%ZZ", "a", out, sizeof(out)), 3);
    cr_assert_str_eq(out, "b=c");
    cr_assert_eq(form("x=%ZZ", "x", out, sizeof(out)), -2);
    cr_assert_eq(form("x=%00", "x", out, sizeof(out)), -2);
    cr_assert_eq(form("y=1", "x", out, sizeof(out)), -1);
    cr_assert_eq(form("x=++++", "x", out, 4), -2, "four spaces do not fit in 4 bytes with the NUL");
}

static bool has_prefix(const char *f, const char *prefix)
{
    return http_form_has_key_prefix(f, strlen(f), prefix);
}

Test(form, a_key_prefix_is_found_on_decoded_keys_of_any_pair)
{
    const char *f = "Action=AssumeRole&Tags.member.1.Key=team&Tags.member.1.Value=a&PolicyArns.member.1.arn=x";
    cr_assert(has_prefix(f, "Tags."));
    cr_assert(has_prefix(f, "Policy"));
    cr_assert(has_prefix(f, "Action"));
    cr_assert_not(has_prefix(f, "SerialNumber"));
    cr_assert_not(has_prefix(f, "AssumeRole"), "values are not keys");
    cr_assert(has_prefix("%54ags.member.1.Key=x", "Tags."), "decoded as http_form_param decodes keys");
    cr_assert(has_prefix("Source+Identity=x", "Source Identity"));
    cr_assert(has_prefix("Policy", "Policy"), "a key without '='");
    cr_assert_not(has_prefix("Pol%ZZicy=x", "Policy"), "a malformed key matches nothing");
    cr_assert_not(has_prefix("Pol=x", "Policy"), "shorter than the prefix");
    cr_assert_not(has_prefix("", "Policy"));
    cr_assert_not(http_form_has_key_prefix(NULL, 0, "Policy"));
}

Test(form, a_registry_query_and_a_path_keep_their_plus)
{
    char out[64];
    size_t n;
    cr_assert_eq(query("a=1+2", "a", out, sizeof(out)), 3);
    cr_assert_str_eq(out, "1+2");
    cr_assert(http_path_decode("/v2/a+b/tags/list", 17, out, sizeof(out), &n));
    cr_assert_str_eq(out, "/v2/a+b/tags/list");
}

Test(path, percent_escapes_are_decoded_and_plain_bytes_kept)
{
    char out[64];
    size_t n = 99;
    const char *in = "/v2/a%2Fb/blobs/%73ha256%3aab";
    cr_assert(http_path_decode(in, strlen(in), out, sizeof(out), &n));
    cr_assert_str_eq(out, "/v2/a/b/blobs/sha256:ab");
    cr_assert_eq(n, strlen("/v2/a/b/blobs/sha256:ab"));
    cr_assert(http_path_decode("", 0, out, sizeof(out), &n));
    cr_assert_eq(n, 0);
    cr_assert_str_eq(out, "");
}

Test(path, bad_escapes_nuls_and_overflow_are_refused)
{
    const char *bad[] = {"%", "%4", "/a%g1", "/a%%41", "/a%00b", "%2"};
    char out[64];
    size_t n = 7;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(http_path_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n), "\"%s\"", bad[i]);
    cr_assert_not(http_path_decode("/a\0b", 4, out, sizeof(out), &n), "a literal NUL");
    /* "/abc" needs 5 bytes with its NUL */
    cr_assert_not(http_path_decode("/abc", 4, out, 4, &n));
    cr_assert(http_path_decode("/abc", 4, out, 5, &n));
    cr_assert_not(http_path_decode("", 0, out, 0, &n));
    cr_assert_eq(n, 4);
}
