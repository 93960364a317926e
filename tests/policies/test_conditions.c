/*
 * tests/policies/test_conditions.c — every condition operator: a match, a
 * non-match, the key missing, …IfExists, the set qualifiers and the AND/OR
 * rules of blocks, keys and values.
 */
#include "fixture.h"

#define HOLDS(cond, ctx) cr_expect(fx_cond(cond, ctx), "%s should hold", cond)
#define FAILS(cond, ctx) cr_expect_not(fx_cond(cond, ctx), "%s should not hold", cond)
#define NO_CTX NULL

/* ------------------------------------------------------------- strings */

Test(string_operators, string_equals_matches_exactly_and_case_sensitively)
{
    HOLDS("{\"StringEquals\":{\"aws:username\":\"alice\"}}", CTX({"aws:username", {"alice"}}));
    FAILS("{\"StringEquals\":{\"aws:username\":\"alice\"}}", CTX({"aws:username", {"Alice"}}));
    FAILS("{\"StringEquals\":{\"aws:username\":\"alice\"}}", CTX({"aws:username", {"alice2"}}));
}

Test(string_operators, string_equals_does_not_treat_star_as_a_wildcard)
{
    FAILS("{\"StringEquals\":{\"aws:username\":\"a*\"}}", CTX({"aws:username", {"alice"}}));
    HOLDS("{\"StringEquals\":{\"aws:username\":\"a*\"}}", CTX({"aws:username", {"a*"}}));
}

Test(string_operators, several_values_of_one_key_are_ored)
{
    HOLDS("{\"StringEquals\":{\"aws:username\":[\"bob\",\"alice\"]}}", CTX({"aws:username", {"alice"}}));
    FAILS("{\"StringEquals\":{\"aws:username\":[\"bob\",\"carol\"]}}", CTX({"aws:username", {"alice"}}));
}

Test(string_operators, string_not_equals_holds_when_the_value_equals_none_of_them)
{
    HOLDS("{\"StringNotEquals\":{\"aws:username\":[\"bob\",\"carol\"]}}", CTX({"aws:username", {"alice"}}));
    FAILS("{\"StringNotEquals\":{\"aws:username\":[\"bob\",\"alice\"]}}", CTX({"aws:username", {"alice"}}));
}

Test(string_operators, string_equals_ignore_case_folds_letters)
{
    HOLDS("{\"StringEqualsIgnoreCase\":{\"aws:username\":\"ALICE\"}}", CTX({"aws:username", {"alice"}}));
    FAILS("{\"StringEqualsIgnoreCase\":{\"aws:username\":\"ALIC\"}}", CTX({"aws:username", {"alice"}}));
}

Test(string_operators, string_not_equals_ignore_case_folds_letters)
{
    FAILS("{\"StringNotEqualsIgnoreCase\":{\"aws:username\":\"ALICE\"}}", CTX({"aws:username", {"alice"}}));
    HOLDS("{\"StringNotEqualsIgnoreCase\":{\"aws:username\":\"BOB\"}}", CTX({"aws:username", {"alice"}}));
}

Test(string_operators, string_like_understands_star_and_question_mark)
{
    HOLDS("{\"StringLike\":{\"ecr:ResourceTag/env\":\"prod-*\"}}", CTX({"ecr:ResourceTag/env", {"prod-eu"}}));
    HOLDS("{\"StringLike\":{\"ecr:ResourceTag/env\":\"prod-?\"}}", CTX({"ecr:ResourceTag/env", {"prod-1"}}));
    FAILS("{\"StringLike\":{\"ecr:ResourceTag/env\":\"prod-?\"}}", CTX({"ecr:ResourceTag/env", {"prod-12"}}));
    FAILS("{\"StringLike\":{\"ecr:ResourceTag/env\":\"prod-*\"}}", CTX({"ecr:ResourceTag/env", {"Prod-eu"}}));
}

Test(string_operators, string_not_like_holds_when_no_pattern_matches)
{
    HOLDS("{\"StringNotLike\":{\"ecr:ResourceTag/env\":[\"prod*\",\"stag*\"]}}", CTX({"ecr:ResourceTag/env", {"dev"}}));
    FAILS("{\"StringNotLike\":{\"ecr:ResourceTag/env\":[\"prod*\",\"stag*\"]}}", CTX({"ecr:ResourceTag/env", {"staging"}}));
}

Test(string_operators, condition_keys_compare_case_insensitively)
{
    HOLDS("{\"StringEquals\":{\"AWS:UserName\":\"alice\"}}", CTX({"aws:username", {"alice"}}));
}

Test(string_operators, a_number_or_boolean_in_the_policy_compares_as_its_text)
{
    HOLDS("{\"StringEquals\":{\"a:n\":10}}", CTX({"a:n", {"10"}}));
    HOLDS("{\"StringEquals\":{\"a:b\":true}}", CTX({"a:b", {"true"}}));
    HOLDS("{\"StringEquals\":{\"a:r\":0.1}}", CTX({"a:r", {"0.1"}}));
}

/* ------------------------------------------------------------- numbers */

Test(numeric_operators, numeric_equals_compares_values_not_text)
{
    HOLDS("{\"NumericEquals\":{\"s3:max-keys\":\"10\"}}", CTX({"s3:max-keys", {"10.0"}}));
    HOLDS("{\"NumericEquals\":{\"s3:max-keys\":10}}", CTX({"s3:max-keys", {"1e1"}}));
    FAILS("{\"NumericEquals\":{\"s3:max-keys\":10}}", CTX({"s3:max-keys", {"11"}}));
}

Test(numeric_operators, numeric_not_equals)
{
    HOLDS("{\"NumericNotEquals\":{\"s3:max-keys\":[10,20]}}", CTX({"s3:max-keys", {"11"}}));
    FAILS("{\"NumericNotEquals\":{\"s3:max-keys\":[10,20]}}", CTX({"s3:max-keys", {"20"}}));
}

Test(numeric_operators, less_than_and_less_than_equals)
{
    HOLDS("{\"NumericLessThan\":{\"s3:max-keys\":10}}", CTX({"s3:max-keys", {"9"}}));
    FAILS("{\"NumericLessThan\":{\"s3:max-keys\":10}}", CTX({"s3:max-keys", {"10"}}));
    HOLDS("{\"NumericLessThanEquals\":{\"s3:max-keys\":10}}", CTX({"s3:max-keys", {"10"}}));
    FAILS("{\"NumericLessThanEquals\":{\"s3:max-keys\":10}}", CTX({"s3:max-keys", {"10.5"}}));
}

Test(numeric_operators, greater_than_and_greater_than_equals)
{
    HOLDS("{\"NumericGreaterThan\":{\"s3:max-keys\":-1.5}}", CTX({"s3:max-keys", {"0"}}));
    FAILS("{\"NumericGreaterThan\":{\"s3:max-keys\":10}}", CTX({"s3:max-keys", {"10"}}));
    HOLDS("{\"NumericGreaterThanEquals\":{\"s3:max-keys\":10}}", CTX({"s3:max-keys", {"10"}}));
    FAILS("{\"NumericGreaterThanEquals\":{\"s3:max-keys\":10}}", CTX({"s3:max-keys", {"9.99"}}));
}

Test(numeric_operators, a_context_value_that_is_not_a_number_never_matches)
{
    FAILS("{\"NumericLessThan\":{\"s3:max-keys\":10}}", CTX({"s3:max-keys", {"five"}}));
    FAILS("{\"NumericNotEquals\":{\"s3:max-keys\":10}}", CTX({"s3:max-keys", {"five"}}));
}

/* --------------------------------------------------------------- dates */

Test(date_operators, date_equals_across_formats_and_offsets)
{
    HOLDS("{\"DateEquals\":{\"aws:CurrentTime\":\"2026-11-28T12:00:00Z\"}}",
          CTX({"aws:CurrentTime", {"2026-11-28T13:00:00+01:00"}}));
    HOLDS("{\"DateEquals\":{\"aws:CurrentTime\":\"2026-11-28T12:00:00Z\"}}",
          CTX({"aws:CurrentTime", {"2026-11-28T12:00:00.000Z"}}));
    HOLDS("{\"DateEquals\":{\"aws:CurrentTime\":\"2026-11-28\"}}", CTX({"aws:CurrentTime", {"2026-11-28T00:00:00Z"}}));
    HOLDS("{\"DateEquals\":{\"aws:EpochTime\":\"2026-11-28T12:00:00Z\"}}", CTX({"aws:EpochTime", {"1795867200"}}));
    FAILS("{\"DateEquals\":{\"aws:CurrentTime\":\"2026-11-28T12:00:00Z\"}}", CTX({"aws:CurrentTime", {"2026-11-28T12:00:01Z"}}));
}

Test(date_operators, date_not_equals)
{
    HOLDS("{\"DateNotEquals\":{\"aws:CurrentTime\":\"2026-11-28\"}}", CTX({"aws:CurrentTime", {"2026-11-29"}}));
    FAILS("{\"DateNotEquals\":{\"aws:CurrentTime\":\"2026-11-28\"}}", CTX({"aws:CurrentTime", {"2026-11-28T00:00:00Z"}}));
}

Test(date_operators, less_than_and_less_than_equals)
{
    HOLDS("{\"DateLessThan\":{\"aws:CurrentTime\":\"2026-11-28T12:00:00Z\"}}", CTX({"aws:CurrentTime", {"2026-11-28T11:59:59Z"}}));
    FAILS("{\"DateLessThan\":{\"aws:CurrentTime\":\"2026-11-28T12:00:00Z\"}}", CTX({"aws:CurrentTime", {"2026-11-28T12:00:00Z"}}));
    HOLDS("{\"DateLessThanEquals\":{\"aws:CurrentTime\":\"2026-11-28T12:00:00Z\"}}",
          CTX({"aws:CurrentTime", {"2026-11-28T12:00:00Z"}}));
    FAILS("{\"DateLessThanEquals\":{\"aws:CurrentTime\":\"2026-11-28T12:00:00Z\"}}",
          CTX({"aws:CurrentTime", {"2026-11-28T12:00:00.5Z"}}));
}

Test(date_operators, greater_than_and_greater_than_equals)
{
    HOLDS("{\"DateGreaterThan\":{\"aws:CurrentTime\":\"2026-01-01\"}}", CTX({"aws:CurrentTime", {"2026-01-01T00:00:00.001Z"}}));
    FAILS("{\"DateGreaterThan\":{\"aws:CurrentTime\":\"2026-01-01\"}}", CTX({"aws:CurrentTime", {"2025-12-31T23:59:59Z"}}));
    HOLDS("{\"DateGreaterThanEquals\":{\"aws:CurrentTime\":\"2026-01-01\"}}", CTX({"aws:CurrentTime", {"2026-01-01T00:00:00Z"}}));
    FAILS("{\"DateGreaterThanEquals\":{\"aws:CurrentTime\":\"2026-01-01\"}}", CTX({"aws:CurrentTime", {"2025-12-31"}}));
}

Test(date_operators, epoch_seconds_in_the_policy_and_an_iso_context_value)
{
    HOLDS("{\"DateLessThan\":{\"aws:CurrentTime\":1795867200}}", CTX({"aws:CurrentTime", {"2026-11-28T11:00:00Z"}}));
}

Test(date_operators, a_negative_offset_moves_the_instant_later)
{
    HOLDS("{\"DateEquals\":{\"aws:CurrentTime\":\"2026-11-28T17:00:00Z\"}}",
          CTX({"aws:CurrentTime", {"2026-11-28T12:00:00-05:00"}}));
}

Test(date_operators, leap_days_are_dates)
{
    HOLDS("{\"DateGreaterThan\":{\"aws:CurrentTime\":\"2028-02-28\"}}", CTX({"aws:CurrentTime", {"2028-02-29T00:00:00Z"}}));
    FAILS("{\"DateGreaterThan\":{\"aws:CurrentTime\":\"2028-02-28\"}}", CTX({"aws:CurrentTime", {"2027-02-29T00:00:00Z"}}));
}

Test(date_operators, a_context_value_that_is_not_a_date_never_matches)
{
    FAILS("{\"DateLessThan\":{\"aws:CurrentTime\":\"2026-01-01\"}}", CTX({"aws:CurrentTime", {"last tuesday"}}));
}

/* ---------------------------------------------------- bool and binary */

Test(bool_operator, matches_true_and_false)
{
    HOLDS("{\"Bool\":{\"aws:SecureTransport\":\"true\"}}", CTX({"aws:SecureTransport", {"true"}}));
    HOLDS("{\"Bool\":{\"aws:SecureTransport\":true}}", CTX({"aws:SecureTransport", {"true"}}));
    HOLDS("{\"Bool\":{\"aws:SecureTransport\":false}}", CTX({"aws:SecureTransport", {"false"}}));
    FAILS("{\"Bool\":{\"aws:SecureTransport\":\"true\"}}", CTX({"aws:SecureTransport", {"false"}}));
    FAILS("{\"Bool\":{\"aws:SecureTransport\":\"true\"}}", CTX({"aws:SecureTransport", {"yes"}}));
}

Test(binary_operator, compares_the_decoded_bytes)
{
    HOLDS("{\"BinaryEquals\":{\"a:key\":\"QmluYXJ5VmFsdWVJbkJhc2U2NA==\"}}", CTX({"a:key", {"QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}));
    HOLDS("{\"BinaryEquals\":{\"a:key\":\"aGk=\"}}", CTX({"a:key", {"aGk"}}));
    FAILS("{\"BinaryEquals\":{\"a:key\":\"aGk=\"}}", CTX({"a:key", {"aG8="}}));
    FAILS("{\"BinaryEquals\":{\"a:key\":\"aGk=\"}}", CTX({"a:key", {"!!"}}));
}

/* ------------------------------------------------------------------ IP */

Test(ip_operators, ip_address_matches_an_ipv4_cidr_block)
{
    HOLDS("{\"IpAddress\":{\"aws:SourceIp\":\"203.0.113.0/24\"}}", CTX({"aws:SourceIp", {"203.0.113.200"}}));
    FAILS("{\"IpAddress\":{\"aws:SourceIp\":\"203.0.113.0/24\"}}", CTX({"aws:SourceIp", {"203.0.114.1"}}));
}

Test(ip_operators, ip_address_matches_a_prefix_not_on_a_byte_boundary)
{
    HOLDS("{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/12\"}}", CTX({"aws:SourceIp", {"10.15.255.255"}}));
    FAILS("{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/12\"}}", CTX({"aws:SourceIp", {"10.16.0.0"}}));
}

Test(ip_operators, a_single_address_means_that_address)
{
    HOLDS("{\"IpAddress\":{\"aws:SourceIp\":\"192.0.2.7\"}}", CTX({"aws:SourceIp", {"192.0.2.7"}}));
    FAILS("{\"IpAddress\":{\"aws:SourceIp\":\"192.0.2.7\"}}", CTX({"aws:SourceIp", {"192.0.2.8"}}));
}

Test(ip_operators, ip_address_matches_ipv6_blocks)
{
    HOLDS("{\"IpAddress\":{\"aws:SourceIp\":\"2001:db8:1234::/48\"}}", CTX({"aws:SourceIp", {"2001:db8:1234:ffff::1"}}));
    FAILS("{\"IpAddress\":{\"aws:SourceIp\":\"2001:db8:1234::/48\"}}", CTX({"aws:SourceIp", {"2001:db8:1235::1"}}));
    HOLDS("{\"IpAddress\":{\"aws:SourceIp\":\"::1\"}}", CTX({"aws:SourceIp", {"0:0:0:0:0:0:0:1"}}));
}

Test(ip_operators, zero_prefix_matches_every_address_of_its_family_only)
{
    HOLDS("{\"IpAddress\":{\"aws:SourceIp\":\"0.0.0.0/0\"}}", CTX({"aws:SourceIp", {"8.8.8.8"}}));
    FAILS("{\"IpAddress\":{\"aws:SourceIp\":\"0.0.0.0/0\"}}", CTX({"aws:SourceIp", {"2001:db8::1"}}));
}

Test(ip_operators, not_ip_address_holds_outside_every_block)
{
    HOLDS("{\"NotIpAddress\":{\"aws:SourceIp\":[\"203.0.113.0/24\",\"2001:db8::/32\"]}}", CTX({"aws:SourceIp", {"198.51.100.1"}}));
    FAILS("{\"NotIpAddress\":{\"aws:SourceIp\":[\"203.0.113.0/24\",\"2001:db8::/32\"]}}", CTX({"aws:SourceIp", {"2001:db8::5"}}));
}

Test(ip_operators, a_context_value_that_is_not_an_address_never_matches)
{
    FAILS("{\"IpAddress\":{\"aws:SourceIp\":\"0.0.0.0/0\"}}", CTX({"aws:SourceIp", {"localhost"}}));
    FAILS("{\"NotIpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}", CTX({"aws:SourceIp", {"localhost"}}));
}

/* ----------------------------------------------------------------- ARN */

#define SRC_ARN "arn:aws:codebuild:us-east-1:123456789012:project/web"

Test(arn_operators, arn_equals_and_arn_like_match_segment_by_segment_with_wildcards)
{
    HOLDS("{\"ArnEquals\":{\"aws:SourceArn\":\"" SRC_ARN "\"}}", CTX({"aws:SourceArn", {SRC_ARN}}));
    HOLDS("{\"ArnLike\":{\"aws:SourceArn\":\"arn:aws:codebuild:*:123456789012:project/*\"}}", CTX({"aws:SourceArn", {SRC_ARN}}));
    HOLDS("{\"ArnEquals\":{\"aws:SourceArn\":\"arn:aws:codebuild:us-east-?:*:project/web\"}}", CTX({"aws:SourceArn", {SRC_ARN}}));
    FAILS("{\"ArnLike\":{\"aws:SourceArn\":\"arn:aws:codebuild:*:444455556666:project/*\"}}", CTX({"aws:SourceArn", {SRC_ARN}}));
}

Test(arn_operators, arn_like_is_case_sensitive)
{
    FAILS("{\"ArnLike\":{\"aws:SourceArn\":\"arn:aws:codebuild:*:*:project/Web\"}}", CTX({"aws:SourceArn", {SRC_ARN}}));
}

Test(arn_operators, arn_not_equals_and_arn_not_like)
{
    HOLDS("{\"ArnNotEquals\":{\"aws:SourceArn\":\"arn:aws:codebuild:*:*:project/api\"}}", CTX({"aws:SourceArn", {SRC_ARN}}));
    FAILS("{\"ArnNotEquals\":{\"aws:SourceArn\":\"" SRC_ARN "\"}}", CTX({"aws:SourceArn", {SRC_ARN}}));
    HOLDS("{\"ArnNotLike\":{\"aws:SourceArn\":[\"arn:aws:s3:::*\",\"arn:aws:codebuild:*:*:project/a*\"]}}",
          CTX({"aws:SourceArn", {SRC_ARN}}));
    FAILS("{\"ArnNotLike\":{\"aws:SourceArn\":[\"arn:aws:s3:::*\",\"arn:aws:codebuild:*:*:project/w*\"]}}",
          CTX({"aws:SourceArn", {SRC_ARN}}));
}

/* ---------------------------------------------------------------- Null */

Test(null_operator, true_holds_when_the_key_is_missing)
{
    HOLDS("{\"Null\":{\"aws:TokenIssueTime\":\"true\"}}", NO_CTX);
    FAILS("{\"Null\":{\"aws:TokenIssueTime\":\"true\"}}", CTX({"aws:TokenIssueTime", {"2026-01-01T00:00:00Z"}}));
}

Test(null_operator, false_holds_when_the_key_is_present)
{
    HOLDS("{\"Null\":{\"aws:TokenIssueTime\":false}}", CTX({"aws:TokenIssueTime", {"2026-01-01T00:00:00Z"}}));
    FAILS("{\"Null\":{\"aws:TokenIssueTime\":false}}", NO_CTX);
}

Test(null_operator, a_key_with_an_empty_set_of_values_counts_as_missing)
{
    HOLDS("{\"Null\":{\"aws:TagKeys\":\"true\"}}", CTX({"aws:TagKeys", {NULL}}));
}

/* -------------------------------------------------------- missing keys */

Test(missing_keys, a_positive_operator_on_a_missing_key_is_false)
{
    FAILS("{\"StringEquals\":{\"aws:username\":\"alice\"}}", NO_CTX);
    FAILS("{\"StringLike\":{\"aws:username\":\"*\"}}", NO_CTX);
    FAILS("{\"NumericLessThan\":{\"s3:max-keys\":10}}", NO_CTX);
    FAILS("{\"DateLessThan\":{\"aws:CurrentTime\":\"2030-01-01\"}}", NO_CTX);
    FAILS("{\"Bool\":{\"aws:SecureTransport\":\"false\"}}", NO_CTX);
    FAILS("{\"BinaryEquals\":{\"a:key\":\"aGk=\"}}", NO_CTX);
    FAILS("{\"IpAddress\":{\"aws:SourceIp\":\"0.0.0.0/0\"}}", NO_CTX);
    FAILS("{\"ArnLike\":{\"aws:SourceArn\":\"*\"}}", NO_CTX);
}

Test(missing_keys, a_negated_operator_on_a_missing_key_is_true_as_iam_documents)
{
    HOLDS("{\"StringNotEquals\":{\"aws:username\":\"alice\"}}", NO_CTX);
    HOLDS("{\"StringNotEqualsIgnoreCase\":{\"aws:username\":\"alice\"}}", NO_CTX);
    HOLDS("{\"StringNotLike\":{\"aws:username\":\"a*\"}}", NO_CTX);
    HOLDS("{\"NumericNotEquals\":{\"s3:max-keys\":10}}", NO_CTX);
    HOLDS("{\"DateNotEquals\":{\"aws:CurrentTime\":\"2030-01-01\"}}", NO_CTX);
    HOLDS("{\"NotIpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}", NO_CTX);
    HOLDS("{\"ArnNotEquals\":{\"aws:SourceArn\":\"" SRC_ARN "\"}}", NO_CTX);
    HOLDS("{\"ArnNotLike\":{\"aws:SourceArn\":\"*\"}}", NO_CTX);
}

Test(missing_keys, if_exists_holds_on_a_missing_key)
{
    HOLDS("{\"StringEqualsIfExists\":{\"aws:username\":\"alice\"}}", NO_CTX);
    HOLDS("{\"NumericLessThanIfExists\":{\"s3:max-keys\":10}}", NO_CTX);
    HOLDS("{\"DateGreaterThanIfExists\":{\"aws:CurrentTime\":\"2030-01-01\"}}", NO_CTX);
    HOLDS("{\"BoolIfExists\":{\"aws:MultiFactorAuthPresent\":\"true\"}}", NO_CTX);
    HOLDS("{\"IpAddressIfExists\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}", NO_CTX);
    HOLDS("{\"ArnLikeIfExists\":{\"aws:SourceArn\":\"arn:aws:s3:::x\"}}", NO_CTX);
    HOLDS("{\"BinaryEqualsIfExists\":{\"a:key\":\"aGk=\"}}", NO_CTX);
}

Test(missing_keys, if_exists_compares_as_usual_when_the_key_is_present)
{
    HOLDS("{\"StringEqualsIfExists\":{\"aws:username\":\"alice\"}}", CTX({"aws:username", {"alice"}}));
    FAILS("{\"StringEqualsIfExists\":{\"aws:username\":\"alice\"}}", CTX({"aws:username", {"bob"}}));
    FAILS("{\"BoolIfExists\":{\"aws:MultiFactorAuthPresent\":\"true\"}}", CTX({"aws:MultiFactorAuthPresent", {"false"}}));
    HOLDS("{\"StringNotLikeIfExists\":{\"aws:username\":\"b*\"}}", CTX({"aws:username", {"alice"}}));
    FAILS("{\"StringNotLikeIfExists\":{\"aws:username\":\"a*\"}}", CTX({"aws:username", {"alice"}}));
}

/* ---------------------------------------------------------- set qualifiers */

#define TAGS(...) CTX({"aws:TagKeys", {__VA_ARGS__}})

Test(set_qualifiers, for_any_value_holds_when_one_context_value_matches)
{
    HOLDS("{\"ForAnyValue:StringEquals\":{\"aws:TagKeys\":[\"env\",\"team\"]}}", TAGS("cost", "team"));
    FAILS("{\"ForAnyValue:StringEquals\":{\"aws:TagKeys\":[\"env\",\"team\"]}}", TAGS("cost", "owner"));
}

Test(set_qualifiers, for_all_values_holds_when_every_context_value_matches)
{
    HOLDS("{\"ForAllValues:StringEquals\":{\"aws:TagKeys\":[\"env\",\"team\"]}}", TAGS("env", "team"));
    FAILS("{\"ForAllValues:StringEquals\":{\"aws:TagKeys\":[\"env\",\"team\"]}}", TAGS("env", "cost"));
}

Test(set_qualifiers, for_all_values_is_true_on_a_missing_or_empty_key)
{
    HOLDS("{\"ForAllValues:StringEquals\":{\"aws:TagKeys\":\"env\"}}", NO_CTX);
    HOLDS("{\"ForAllValues:StringEquals\":{\"aws:TagKeys\":\"env\"}}", TAGS(NULL));
}

Test(set_qualifiers, for_any_value_is_false_on_a_missing_or_empty_key)
{
    FAILS("{\"ForAnyValue:StringEquals\":{\"aws:TagKeys\":\"env\"}}", NO_CTX);
    FAILS("{\"ForAnyValue:StringEquals\":{\"aws:TagKeys\":\"env\"}}", TAGS(NULL));
    FAILS("{\"ForAnyValue:StringNotEquals\":{\"aws:TagKeys\":\"env\"}}", NO_CTX);
}

Test(set_qualifiers, for_any_value_string_not_equals_needs_one_value_outside_the_list)
{
    HOLDS("{\"ForAnyValue:StringNotEquals\":{\"aws:TagKeys\":[\"env\",\"team\"]}}", TAGS("env", "cost"));
    FAILS("{\"ForAnyValue:StringNotEquals\":{\"aws:TagKeys\":[\"env\",\"team\"]}}", TAGS("env", "team"));
}

Test(set_qualifiers, for_all_values_string_not_like_needs_every_value_outside_the_patterns)
{
    HOLDS("{\"ForAllValues:StringNotLike\":{\"aws:TagKeys\":\"aws:*\"}}", TAGS("env", "team"));
    FAILS("{\"ForAllValues:StringNotLike\":{\"aws:TagKeys\":\"aws:*\"}}", TAGS("env", "aws:createdBy"));
}

Test(set_qualifiers, qualifiers_work_with_like_and_if_exists)
{
    HOLDS("{\"ForAnyValue:StringLike\":{\"aws:TagKeys\":\"te*\"}}", TAGS("cost", "team"));
    HOLDS("{\"ForAllValues:StringLikeIfExists\":{\"aws:TagKeys\":\"*\"}}", NO_CTX);
    HOLDS("{\"ForAnyValue:NumericGreaterThan\":{\"a:sizes\":100}}", CTX({"a:sizes", {"5", "500"}}));
    FAILS("{\"ForAllValues:NumericGreaterThan\":{\"a:sizes\":100}}", CTX({"a:sizes", {"5", "500"}}));
}

Test(set_qualifiers, without_a_qualifier_a_multi_valued_key_matches_if_any_value_does)
{
    HOLDS("{\"StringEquals\":{\"aws:TagKeys\":\"team\"}}", TAGS("cost", "team"));
    /* and the negation stays the negation: one matching value makes NotEquals false */
    FAILS("{\"StringNotEquals\":{\"aws:TagKeys\":\"team\"}}", TAGS("cost", "team"));
}

/* ---------------------------------------------------------------- AND/OR */

Test(condition_logic, several_keys_in_one_block_are_anded)
{
    const char *c = "{\"StringEquals\":{\"aws:username\":\"alice\",\"aws:PrincipalTag/team\":\"web\"}}";
    HOLDS(c, CTX({"aws:username", {"alice"}}, {"aws:PrincipalTag/team", {"web"}}));
    FAILS(c, CTX({"aws:username", {"alice"}}, {"aws:PrincipalTag/team", {"db"}}));
    FAILS(c, CTX({"aws:username", {"alice"}}));
}

Test(condition_logic, several_operator_blocks_are_anded)
{
    const char *c = "{\"Bool\":{\"aws:SecureTransport\":\"true\"},\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}";
    HOLDS(c, CTX({"aws:SecureTransport", {"true"}}, {"aws:SourceIp", {"10.1.2.3"}}));
    FAILS(c, CTX({"aws:SecureTransport", {"true"}}, {"aws:SourceIp", {"11.1.2.3"}}));
    FAILS(c, CTX({"aws:SecureTransport", {"false"}}, {"aws:SourceIp", {"10.1.2.3"}}));
}

Test(condition_logic, an_empty_condition_object_always_holds)
{
    HOLDS("{}", NO_CTX);
}

Test(condition_logic, a_condition_on_a_deny_only_denies_when_it_holds)
{
    policy_t *p = fx_parse("{\"Version\":\"2012-10-17\",\"Statement\":["
                           "{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"},"
                           "{\"Effect\":\"Deny\",\"Action\":\"ecr:*\",\"Resource\":\"*\","
                           "\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"false\"}}}]}",
                           POLICY_KIND_IDENTITY);
    cr_expect_eq(fx_decide(p, NULL, "ecr:PutImage", FX_REPO, FX_ALICE, CTX({"aws:SecureTransport", {"false"}})),
                 POLICY_EXPLICIT_DENY);
    cr_expect_eq(fx_decide(p, NULL, "ecr:PutImage", FX_REPO, FX_ALICE, CTX({"aws:SecureTransport", {"true"}})), POLICY_ALLOW);
    /* the key missing: Bool is false, so the Deny does not apply (IAM's well-known trap) */
    cr_expect_eq(fx_decide(p, NULL, "ecr:PutImage", FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    policy_free(p);
}
