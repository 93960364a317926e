/*
 * tests/oci/test_digest.c — digests: the spec grammar, the two algorithms we
 * serve, canonical lowercase form, and agreement with OpenSSL.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/sha.h>

#include "oci/oci.h"

#define HEX64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX128                                                                                                                     \
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af9"   \
    "27da3e"

/* Parses a heap copy of exactly strlen(s) bytes, so a read past the span is an
 * ASan error rather than a silent read of the literal's NUL. */
static oci_status_t parse(const char *s, oci_digest_t *d, oci_err_t *err)
{
    size_t n = strlen(s);
    char *copy = malloc(n > 0 ? n : 1);
    cr_assert_not_null(copy);
    memcpy(copy, s, n > 0 ? n : 1); /* "" copies its NUL: the parser gets len 0 either way */
    oci_status_t st = oci_digest_parse(copy, n, d, err);
    free(copy);
    return st;
}

Test(digest, sha256_of_64_lowercase_hex_parses)
{
    oci_digest_t d;
    oci_err_t err;
    cr_assert_eq(parse("sha256:" HEX64, &d, &err), OCI_OK);
    cr_assert_eq(d.alg, OCI_ALG_SHA256);
    cr_assert_str_eq(d.str, "sha256:" HEX64);
    cr_assert_eq(d.len, strlen("sha256:" HEX64));
}

Test(digest, sha512_of_128_lowercase_hex_parses)
{
    oci_digest_t d;
    cr_assert_eq(parse("sha512:" HEX128, &d, NULL), OCI_OK);
    cr_assert_eq(d.alg, OCI_ALG_SHA512);
    cr_assert_eq(d.len, 7 + 128);
    cr_assert_str_eq(d.str, "sha512:" HEX128);
}

Test(digest, uppercase_hex_is_refused_so_one_blob_has_one_name)
{
    oci_digest_t d;
    oci_err_t err;
    cr_assert_eq(parse("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", &d, &err), OCI_EINVAL);
    cr_assert(strstr(err.msg, "lowercase") != NULL, "message: %s", err.msg);
    cr_assert_eq(d.alg, OCI_ALG_NONE);
    cr_assert_str_eq(d.str, "");
}

Test(digest, uppercase_algorithm_is_refused)
{
    cr_assert_eq(parse("SHA256:" HEX64, NULL, NULL), OCI_EINVAL);
}

Test(digest, wrong_hex_lengths_are_refused)
{
    cr_assert_eq(parse("sha256:" HEX64 "0", NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85", NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse("sha512:" HEX64, NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse("sha256:" HEX128, NULL, NULL), OCI_EINVAL);
}

Test(digest, non_hex_in_a_sha256_is_refused)
{
    cr_assert_eq(parse("sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse("sha256:=3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", NULL, NULL), OCI_EINVAL);
}

Test(digest, grammatical_unknown_algorithms_are_unsupported_not_invalid)
{
    oci_err_t err;
    cr_assert_eq(parse("sha384:abc", NULL, &err), OCI_EUNSUPPORTED);
    cr_assert(strstr(err.msg, "not supported") != NULL, "message: %s", err.msg);
    cr_assert_eq(parse("blake3:" HEX64, NULL, NULL), OCI_EUNSUPPORTED);
    cr_assert_eq(parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", NULL, NULL), OCI_EUNSUPPORTED);
    cr_assert_eq(parse("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", NULL, NULL), OCI_EUNSUPPORTED);
    cr_assert_eq(parse("a.b_c-d:x=", NULL, NULL), OCI_EUNSUPPORTED);
}

Test(digest, algorithm_outside_the_grammar_is_invalid)
{
    cr_assert_eq(parse("+sha256:abc", NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse("sha256+:abc", NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse("sha..256:abc", NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse("sha 256:abc", NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse(":" HEX64, NULL, NULL), OCI_EINVAL);
}

Test(digest, missing_colon_or_encoded_part_is_invalid)
{
    cr_assert_eq(parse("", NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse("sha256", NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse("sha256:", NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse(HEX64, NULL, NULL), OCI_EINVAL);
    cr_assert_eq(oci_digest_parse(NULL, 5, NULL, NULL), OCI_EINVAL);
}

Test(digest, encoded_part_outside_the_grammar_is_invalid_even_for_unknown_algorithms)
{
    cr_assert_eq(parse("foo:a/b", NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse("foo:a:b", NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse("sha256:" HEX64 ":", NULL, NULL), OCI_EINVAL);
    cr_assert_eq(parse("sha256:" HEX64 " ", NULL, NULL), OCI_EINVAL);
}

Test(digest, embedded_nul_is_invalid)
{
    char buf[] = "sha256:" HEX64;
    buf[20] = '\0';
    cr_assert_eq(oci_digest_parse(buf, sizeof(buf) - 1, NULL, NULL), OCI_EINVAL);
}

Test(digest, the_length_argument_bounds_the_read)
{
    /* a longer string, of which only the first 71 bytes are the digest */
    const char *s = "sha256:" HEX64 "trailing garbage";
    oci_digest_t d;
    cr_assert_eq(oci_digest_parse(s, 71, &d, NULL), OCI_OK);
    cr_assert_str_eq(d.str, "sha256:" HEX64);
}

Test(digest, compute_sha256_matches_openssl_one_shot)
{
    const char *data = "hello, registry";
    unsigned char raw[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)data, strlen(data), raw);
    oci_digest_t want, got;
    oci_digest_from_raw(OCI_ALG_SHA256, raw, &want);
    oci_digest_compute(OCI_ALG_SHA256, data, strlen(data), &got);
    cr_assert_eq(got.alg, OCI_ALG_SHA256);
    cr_assert_str_eq(got.str, want.str);
    cr_assert_eq(got.len, 71);
}

Test(digest, compute_of_nothing_is_the_well_known_empty_digest)
{
    oci_digest_t d;
    oci_digest_compute(OCI_ALG_SHA256, NULL, 0, &d);
    cr_assert_str_eq(d.str, "sha256:" HEX64);
    oci_digest_compute(OCI_ALG_SHA512, "", 0, &d);
    cr_assert_str_eq(d.str, "sha512:" HEX128);
    cr_assert_eq(d.alg, OCI_ALG_SHA512);
}

Test(digest, compute_of_the_empty_json_object_matches_the_spec_empty_descriptor)
{
    oci_digest_t d;
    oci_digest_compute(OCI_ALG_SHA256, "{}", 2, &d);
    cr_assert_str_eq(d.str, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
}

Test(digest, compute_with_an_unknown_algorithm_gives_an_empty_digest)
{
    oci_digest_t d;
    oci_digest_compute(OCI_ALG_NONE, "x", 1, &d);
    cr_assert_eq(d.alg, OCI_ALG_NONE);
    cr_assert_eq(d.len, 0);
    cr_assert_str_eq(d.str, "");
    oci_digest_compute((oci_digest_alg_t)7, "x", 1, &d);
    cr_assert_eq(d.alg, OCI_ALG_NONE);
}

Test(digest, from_raw_formats_lowercase_hex_and_parses_back)
{
    unsigned char raw[64];
    for (int i = 0; i < 64; i++)
        raw[i] = (unsigned char)(i * 37 + 11);
    oci_digest_t d, back;
    oci_digest_from_raw(OCI_ALG_SHA512, raw, &d);
    cr_assert_eq(d.len, 7 + 128);
    cr_assert_eq(oci_digest_parse(d.str, d.len, &back, NULL), OCI_OK);
    cr_assert_str_eq(back.str, d.str);
    oci_digest_from_raw(OCI_ALG_SHA256, raw, &d);
    cr_assert_eq(d.len, 71);
    cr_assert_eq(strncmp(d.str, "sha256:0b30", 11), 0, "%s", d.str);
}

Test(digest, reference_with_a_colon_is_a_digest)
{
    oci_reference_t r;
    cr_assert_eq(oci_reference_parse("sha256:" HEX64, 71, &r, NULL), OCI_OK);
    cr_assert(r.is_digest);
    cr_assert_str_eq(r.digest.str, "sha256:" HEX64);
    cr_assert_eq(oci_reference_parse("sha384:abc", 10, &r, NULL), OCI_EUNSUPPORTED);
    cr_assert_not(r.is_digest);
    cr_assert_eq(oci_reference_parse("latest:", 7, &r, NULL), OCI_EINVAL);
    cr_assert_eq(oci_reference_parse("latest:v1", 9, &r, NULL), OCI_EUNSUPPORTED);
    cr_assert_eq(oci_reference_parse("LATEST:x", 8, &r, NULL), OCI_EINVAL);
}
