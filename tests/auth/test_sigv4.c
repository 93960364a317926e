/*
 * tests/auth/test_sigv4.c — SigV4 parsing (every error names what is wrong),
 * the examples of AWS's SigV4 documentation, and what verification demands
 * beyond a matching signature: a signed host, a signed date on the scope's
 * day, a payload hash that matches the body. The botocore vectors are in
 * test_sigv4_botocore.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"

static auth_sigv4_t sig;
static auth_err_t err;

static auth_status_t parse(const char *v)
{
    memset(&err, 0, sizeof(err));
    return auth_sigv4_parse(v, strlen(v), &sig, &err);
}

#define H(n, v)                                                                                                                    \
    {                                                                                                                              \
        n, sizeof(n) - 1, v, sizeof(v) - 1                                                                                         \
    }
#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
/* 2015-08-30T12:36:00Z, the time of AWS's documentation examples */
#define DOC_TIME INT64_C(1440938160)

static const char good[] = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261128/us-east-1/ecr/aws4_request, "
                           "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                           "Signature=82739bdd199fbd77a137695f2481cf0ab2b2a9e87560f6e0986b47e6a23b9a67";

Test(sigv4_parse, reads_every_part_of_an_aws_cli_header)
{
    cr_assert_eq(parse(good), AUTH_OK, "%s", err.msg);
    cr_assert_str_eq(sig.access_key_id, "AKIAIOSFODNN7EXAMPLE");
    cr_assert_str_eq(sig.date, "20261128");
    cr_assert_str_eq(sig.region, "us-east-1");
    cr_assert_str_eq(sig.service, "ecr");
    cr_assert_str_eq(sig.signed_headers, "content-type;host;x-amz-date;x-amz-target");
    cr_assert_str_eq(sig.signature, "82739bdd199fbd77a137695f2481cf0ab2b2a9e87560f6e0986b47e6a23b9a67");
}

Test(sigv4_parse, accepts_components_in_any_order_and_without_spaces)
{
    cr_assert_eq(parse("AWS4-HMAC-SHA256 Signature=82739bdd199fbd77a137695f2481cf0ab2b2a9e87560f6e0986b47e6a23b9a67,"
                       "SignedHeaders=host;x-amz-date,Credential=AKID/20261128/us-east-1/ecr/aws4_request"),
                 AUTH_OK, "%s", err.msg);
    cr_assert_str_eq(sig.access_key_id, "AKID");
}

static void expect_error(const char *v, const char *words)
{
    cr_expect_eq(parse(v), AUTH_EMALFORMED, "%s", v);
    cr_expect(strstr(err.msg, words) != NULL, "for %s: '%s' lacks '%s'", v, err.msg, words);
}

Test(sigv4_parse, errors_name_what_is_wrong)
{
    expect_error("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=82739bdd199fbd77a137695f2481cf0ab2b2a9e87560f6e0986b47e6a23b9a67",
                 "missing Credential");
    expect_error("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/ecr/aws4_request, "
                 "Signature=82739bdd199fbd77a137695f2481cf0ab2b2a9e87560f6e0986b47e6a23b9a67",
                 "missing SignedHeaders");
    expect_error("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/ecr/aws4_request, SignedHeaders=host", "missing Signature");
    expect_error("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/ecr, SignedHeaders=host, Signature=00", "Credential is not");
    expect_error("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/ecr/aws4_request/x, SignedHeaders=host", "more than 5");
    expect_error("AWS4-HMAC-SHA256 Credential=AKID/20261332/us-east-1/ecr/aws4_request", "bad date");
    expect_error("AWS4-HMAC-SHA256 Credential=AKID/20260229/us-east-1/ecr/aws4_request", "bad date");
    expect_error("AWS4-HMAC-SHA256 Credential=AKID/20261128/us east/ecr/aws4_request", "bad region");
    expect_error("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1//aws4_request", "bad service");
    expect_error("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/ecr/aws5_request", "aws4_request");
    expect_error("AWS4-HMAC-SHA256 Credential=AK/ID/20261128/us-east-1/ecr/aws4_request", "more than 5");
    expect_error("AWS4-HMAC-SHA256 Credential=/20261128/us-east-1/ecr/aws4_request", "access key id");
    expect_error("AWS4-HMAC-SHA256 SignedHeaders=x-amz-date;host", "sorted");
    expect_error("AWS4-HMAC-SHA256 SignedHeaders=host;host", "distinct");
    expect_error("AWS4-HMAC-SHA256 SignedHeaders=Host", "lower-case");
    expect_error("AWS4-HMAC-SHA256 SignedHeaders=", "SignedHeaders");
    expect_error("AWS4-HMAC-SHA256 SignedHeaders=a;;b", "SignedHeaders");
    expect_error("AWS4-HMAC-SHA256 Signature=82739BDD199FBD77A137695F2481CF0AB2B2A9E87560F6E0986B47E6A23B9A67", "lower-case hex");
    expect_error("AWS4-HMAC-SHA256 Signature=82739bdd", "64");
    expect_error("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/ecr/aws4_request, Credential=AKID/20261128/us-east-1/ecr/"
                 "aws4_request",
                 "twice");
    expect_error("AWS4-HMAC-SHA256 Foo=bar", "unknown");
    expect_error("AWS4-HMAC-SHA256 Credential", "without '='");
    expect_error("AWS4-HMAC-SHA512 Credential=x", "not an AWS4-HMAC-SHA256");
    expect_error("Basic QVdTOnNlY3JldA==", "not an AWS4-HMAC-SHA256");
    expect_error("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/ecr/aws4_request,", "ends with ','");
}

Test(sigv4_parse, too_many_signed_headers_are_refused)
{
    char v[1024] = "AWS4-HMAC-SHA256 SignedHeaders=";
    for (int i = 0; i <= AUTH_SIGV4_MAX_SIGNED_HEADERS; i++)
        snprintf(v + strlen(v), sizeof(v) - strlen(v), "%sh%02d", i ? ";" : "", i);
    cr_assert_eq(parse(v), AUTH_EMALFORMED);
}

Test(sigv4_parse, over_long_fields_are_refused)
{
    char v[AUTH_HEADER_MAX_BYTES + 64];
    snprintf(v, sizeof(v), "AWS4-HMAC-SHA256 Credential=AKID/20261128/%040d/ecr/aws4_request", 0);
    cr_assert_eq(parse(v), AUTH_EMALFORMED);
    snprintf(v, sizeof(v), "AWS4-HMAC-SHA256 Credential=%040d/20261128/us-east-1/ecr/aws4_request", 0);
    cr_assert_eq(parse(v), AUTH_EMALFORMED);
    memset(v, ' ', sizeof(v));
    memcpy(v, "AWS4-HMAC-SHA256 ", 17);
    cr_assert_eq(auth_sigv4_parse(v, AUTH_HEADER_MAX_BYTES + 1, &sig, &err), AUTH_EMALFORMED);
}

/* AWS's IAM ListUsers example ("Create a signed AWS API request", SigV4
 * documentation) and the get-vanilla case of the SigV4 test suite. */
Test(sigv4_aws_docs, the_iam_list_users_example_signs_and_verifies)
{
    const auth_header_t h[] = {H("Host", "iam.amazonaws.com"),
                               H("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")};
    auth_http_request_t r = {.method = "GET",
                             .path = "/",
                             .path_len = 1,
                             .query = "Action=ListUsers&Version=2010-05-08",
                             .query_len = 35,
                             .headers = h,
                             .n_headers = 2};
    char date[17], out[512];
    cr_assert_eq(auth_sigv4_sign(&r, AKID, SECRET, 40, "us-east-1", "iam", DOC_TIME, date, out, sizeof(out), &err), AUTH_OK);
    cr_assert_str_eq(date, "20150830T123600Z");
    cr_assert_str_eq(out, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
                          "SignedHeaders=content-type;host;x-amz-date, "
                          "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    const auth_header_t wire[] = {h[0], h[1], H("X-Amz-Date", "20150830T123600Z")};
    r.headers = wire;
    r.n_headers = 3;
    cr_assert_eq(parse(out), AUTH_OK);
    cr_assert_eq(auth_sigv4_verify(&sig, &r, SECRET, 40, "iam", DOC_TIME, &err), AUTH_OK, "%s", err.msg);
}

Test(sigv4_aws_docs, the_get_vanilla_test_suite_case_signs)
{
    const auth_header_t h[] = {H("Host", "example.amazonaws.com")};
    auth_http_request_t r = {.method = "GET", .path = "/", .path_len = 1, .headers = h, .n_headers = 1};
    char date[17], out[512];
    cr_assert_eq(auth_sigv4_sign(&r, AKID, SECRET, 40, "us-east-1", "service", DOC_TIME, date, out, sizeof(out), &err), AUTH_OK);
    cr_assert_str_eq(out, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                          "SignedHeaders=host;x-amz-date, "
                          "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

/* ---- verification demands ------------------------------------------------ */

#define NOW INT64_C(1795856400) /* 2026-11-28T09:00:00Z */

static char authz[512];
static auth_header_t hdrs[8];
static auth_http_request_t req;

/* Signs POST / {} with the given headers plus X-Amz-Date, and leaves the wire
 * request in req and its Authorization in authz. */
static void sign_with(const auth_header_t *h, size_t n, const char *body)
{
    memcpy(hdrs, h, n * sizeof(h[0]));
    req = (auth_http_request_t){
        .method = "POST", .path = "/", .path_len = 1, .headers = hdrs, .n_headers = n, .body = body, .body_len = strlen(body)};
    static char date[17];
    cr_assert_eq(
        auth_sigv4_sign(&req, "AKIAIOSFODNN7EXAMPLE", SECRET, 40, "us-east-1", "ecr", NOW, date, authz, sizeof(authz), &err),
        AUTH_OK, "%s", err.msg);
    hdrs[n] = (auth_header_t){"X-Amz-Date", 10, date, 16};
    req.n_headers = n + 1;
    cr_assert_eq(parse(authz), AUTH_OK, "%s", err.msg);
}

static auth_status_t verify(void)
{
    memset(&err, 0, sizeof(err));
    return auth_sigv4_verify(&sig, &req, SECRET, 40, "ecr", NOW, &err);
}

Test(sigv4_verify, a_request_signed_by_sign_verifies)
{
    const auth_header_t h[] = {H("Host", "localhost"), H("Content-Type", "application/x-amz-json-1.1")};
    sign_with(h, 2, "{}");
    cr_assert_eq(verify(), AUTH_OK, "%s", err.msg);
}

Test(sigv4_verify, an_unsigned_host_is_refused)
{
    const auth_header_t h[] = {H("Host", "localhost")};
    sign_with(h, 1, "{}");
    strcpy(sig.signed_headers, "x-amz-date");
    cr_assert_eq(verify(), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "host header is not signed") != NULL, "%s", err.msg);
}

Test(sigv4_verify, a_signed_header_missing_from_the_request_is_refused)
{
    const auth_header_t h[] = {H("Host", "localhost"), H("X-Amz-Target", "T")};
    sign_with(h, 2, "{}");
    hdrs[1] = (auth_header_t)H("X-Other", "T");
    cr_assert_eq(verify(), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "'x-amz-target' is not in the request") != NULL, "%s", err.msg);
}

Test(sigv4_verify, an_unsigned_date_is_refused)
{
    const auth_header_t h[] = {H("Host", "localhost")};
    sign_with(h, 1, "{}");
    strcpy(sig.signed_headers, "host");
    cr_assert_eq(verify(), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "x-amz-date header is not signed") != NULL, "%s", err.msg);
}

Test(sigv4_verify, a_date_off_the_scope_day_is_refused)
{
    const auth_header_t h[] = {H("Host", "localhost")};
    sign_with(h, 1, "{}");
    strcpy(sig.date, "20261127");
    cr_assert_eq(verify(), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "scope") != NULL, "%s", err.msg);
}

Test(sigv4_verify, a_malformed_x_amz_date_is_refused)
{
    const auth_header_t h[] = {H("Host", "localhost")};
    sign_with(h, 1, "{}");
    const char *bad[] = {"20261128T090000", "20261128 090000Z", "20261128T250000Z", "20261131T090000Z", "2026-11-28T09:00:00Z"};
    for (size_t i = 0; i < 5; i++) {
        hdrs[1].value = bad[i];
        hdrs[1].value_len = strlen(bad[i]);
        cr_expect_eq(verify(), AUTH_EMALFORMED, "%s", bad[i]);
    }
}

Test(sigv4_verify, a_payload_hash_that_does_not_match_the_body_is_refused)
{
    const auth_header_t h[] = {H("Host", "localhost"), H("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")};
    sign_with(h, 2, "{}");
    cr_assert_eq(verify(), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "unsigned payloads are not accepted") != NULL, "%s", err.msg);
}

Test(sigv4_verify, a_matching_payload_hash_header_verifies)
{
    /* sha256("{}") */
    const auth_header_t h[] = {H("Host", "localhost"),
                               H("X-Amz-Content-SHA256", "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")};
    sign_with(h, 2, "{}");
    cr_assert_eq(verify(), AUTH_OK, "%s", err.msg);
}

Test(sigv4_verify, an_unsigned_x_amz_date_is_refused_even_when_date_is_signed)
{
    /* botocore's Date mode is covered by test_sigv4_botocore.c; here: when
     * X-Amz-Date is on the request it is the request time and must be signed. */
    const auth_header_t h[] = {H("Date", "Sat, 28 Nov 2026 09:00:00 GMT"), H("Host", "localhost")};
    sign_with(h, 2, "{}");
    cr_assert_eq(verify(), AUTH_OK, "%s", err.msg);
    strcpy(sig.signed_headers, "date;host");
    cr_assert_eq(verify(), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "x-amz-date header is not signed") != NULL, "%s", err.msg);
}

Test(sigv4_verify, the_service_must_be_the_endpoints)
{
    const auth_header_t h[] = {H("Host", "localhost")};
    sign_with(h, 1, "{}");
    cr_assert_eq(auth_sigv4_verify(&sig, &req, SECRET, 40, "s3", NOW, &err), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "'ecr'") != NULL, "%s", err.msg);
}

Test(sigv4_verify, errors_never_contain_the_secret_or_signature)
{
    const auth_header_t h[] = {H("Host", "localhost")};
    sign_with(h, 1, "{}");
    sig.signature[0] = sig.signature[0] == '0' ? '1' : '0';
    cr_assert_eq(verify(), AUTH_EBADSIG);
    cr_assert_null(strstr(err.msg, SECRET));
    cr_assert_null(strstr(err.msg, sig.signature));
}

Test(sigv4_sign, needs_a_host_header)
{
    const auth_header_t h[] = {H("Content-Type", "x")};
    auth_http_request_t r = {.method = "GET", .path = "/", .path_len = 1, .headers = h, .n_headers = 1};
    char date[17], out[512];
    cr_assert_eq(auth_sigv4_sign(&r, "AKID", SECRET, 40, "us-east-1", "ecr", NOW, date, out, sizeof(out), &err), AUTH_EMALFORMED);
    cr_assert(strstr(err.msg, "host") != NULL, "%s", err.msg);
}

Test(sigv4_sign, a_small_output_buffer_is_refused)
{
    const auth_header_t h[] = {H("Host", "localhost")};
    auth_http_request_t r = {.method = "GET", .path = "/", .path_len = 1, .headers = h, .n_headers = 1};
    char date[17], out[64];
    cr_assert_eq(auth_sigv4_sign(&r, "AKID", SECRET, 40, "us-east-1", "ecr", NOW, date, out, sizeof(out), &err), AUTH_EMALFORMED);
    cr_assert_eq(out[0], '\0');
}

Test(sigv4_sign, a_bad_percent_escape_in_the_query_is_refused)
{
    const auth_header_t h[] = {H("Host", "localhost")};
    const char *bad[] = {"a=%", "a=%4", "a=%zz", "%g1=b"};
    for (size_t i = 0; i < 4; i++) {
        auth_http_request_t r = {.method = "GET",
                                 .path = "/",
                                 .path_len = 1,
                                 .query = bad[i],
                                 .query_len = strlen(bad[i]),
                                 .headers = h,
                                 .n_headers = 1};
        char date[17], out[512];
        cr_expect_eq(auth_sigv4_sign(&r, "AKID", SECRET, 40, "us-east-1", "ecr", NOW, date, out, sizeof(out), &err),
                     AUTH_EMALFORMED, "%s", bad[i]);
    }
}
