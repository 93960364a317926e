/*
 * tests/policies/test_parse.c — what a policy document may look like: the
 * shapes IAM accepts are accepted, and every malformed document is refused
 * with a message naming the field path.
 */
#include "fixture.h"

#define ID POLICY_KIND_IDENTITY
#define RES POLICY_KIND_RESOURCE

/* ---------------------------------------------------------- accepted */

Test(parse_accepts, a_single_statement_object_as_well_as_an_array)
{
    policy_free(
        fx_parse("{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}}", ID));
    policy_free(fx_parse(
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}]}", ID));
}

Test(parse_accepts, a_document_without_version_and_with_an_id)
{
    policy_free(
        fx_parse("{\"Id\":\"x\",\"Statement\":{\"Effect\":\"Deny\",\"NotAction\":[\"ecr:Get*\"],\"NotResource\":\"*\"}}", ID));
}

Test(parse_accepts, a_resource_policy_statement_without_resource)
{
    policy_free(fx_parse("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:BatchGetImage\"}}", RES));
}

Test(parse_accepts, every_principal_type_as_string_or_array)
{
    policy_free(fx_parse("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"123456789012\","
                         "\"arn:aws:iam::123456789012:user/a\"],\"Service\":\"ecs.amazonaws.com\","
                         "\"Federated\":[\"cognito-identity.amazonaws.com\"],\"CanonicalUser\":\"79a59df9\"},"
                         "\"Action\":\"ecr:*\"}}",
                         RES));
}

Test(parse_accepts, condition_values_that_are_numbers_and_booleans)
{
    policy_free(fx_parse("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\",\"Condition\":{"
                         "\"NumericLessThan\":{\"s3:max-keys\":10},\"Bool\":{\"aws:SecureTransport\":true},"
                         "\"NumericEquals\":{\"a:b\":[1.5,\"2\"]}}}}",
                         ID));
}

Test(parse_accepts, every_operator_with_qualifiers_and_if_exists)
{
    static const char *const ops[] = {"StringEquals",
                                      "StringNotEquals",
                                      "StringEqualsIgnoreCase",
                                      "StringNotEqualsIgnoreCase",
                                      "StringLike",
                                      "StringNotLike",
                                      "ArnEquals",
                                      "ArnLike",
                                      "ArnNotEquals",
                                      "ArnNotLike"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char doc[512];
        snprintf(doc, sizeof doc,
                 "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\",\"Condition\":{"
                 "\"%s\":{\"a:b\":\"x\"},\"%sIfExists\":{\"a:b\":\"x\"},\"ForAnyValue:%s\":{\"a:b\":\"x\"},"
                 "\"ForAllValues:%sIfExists\":{\"a:b\":\"x\"}}}}",
                 ops[i], ops[i], ops[i], ops[i]);
        policy_free(fx_parse(doc, ID));
    }
}

Test(parse_accepts, a_document_of_exactly_the_size_limit)
{
    char *doc = malloc(POLICY_MAX_BYTES + 1);
    cr_assert_not_null(doc);
    const char *head = "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}}";
    size_t n = strlen(head);
    memcpy(doc, head, n);
    memset(doc + n, ' ', POLICY_MAX_BYTES - n);
    policy_err_t err;
    policy_t *p = policy_parse(doc, POLICY_MAX_BYTES, ID, &err);
    cr_expect_not_null(p, "%s", err.msg);
    policy_free(p);
    free(doc);
}

Test(parse_accepts, a_buffer_that_is_not_nul_terminated)
{
    const char doc[] = "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}}XXXX";
    policy_err_t err;
    policy_t *p = policy_parse(doc, sizeof doc - 5, ID, &err);
    cr_expect_not_null(p, "%s", err.msg);
    policy_free(p);
}

Test(parse_accepts, the_same_variable_text_in_a_2008_document_as_literal_text)
{
    /* no substitution before 2012-10-17, so a malformed variable is just characters */
    policy_free(fx_parse("{\"Version\":\"2008-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\","
                         "\"Resource\":\"arn:aws:ecr:::repository/${oops\"}}",
                         ID));
}

/* ---------------------------------------------------------- refused */

typedef struct {
    const char *doc;
    policy_kind_t kind;
    const char *fragment;
} bad_doc_t;

#define S(body) "{\"Version\":\"2012-10-17\",\"Statement\":[" body "]}"
#define OK_ID "{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}"
#define COND(c) S("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\",\"Condition\":" c "}")

static const bad_doc_t bad_docs[] = {
    {"", ID, "not valid JSON"},
    {"{\"Statement\": [", ID, "not valid JSON"},
    {"[]", ID, "must be a JSON object"},
    {"{\"Statement\":[" OK_ID "]} trailing", ID, "not valid JSON"},
    {"{\"Version\":\"2012-10-17\",\"Version\":\"2012-10-17\",\"Statement\":[" OK_ID "]}", ID, "duplicate"},
    {"{\"Version\":\"2012-10-18\",\"Statement\":[" OK_ID "]}", ID, "Version: must be \"2012-10-17\" or \"2008-10-17\""},
    {"{\"Version\":20121017,\"Statement\":[" OK_ID "]}", ID, "Version: must be"},
    {"{\"Id\":5,\"Statement\":[" OK_ID "]}", ID, "Id: must be a string"},
    {"{\"Version\":\"2012-10-17\"}", ID, "Statement is required"},
    {"{\"Statement\":[]}", ID, "Statement: must be an object or a non-empty array"},
    {"{\"Statement\":\"Allow\"}", ID, "Statement: must be an object or a non-empty array"},
    {"{\"Statements\":[" OK_ID "]}", ID, "unknown top-level key \"Statements\""},
    {S(OK_ID ",7"), ID, "Statement[1]: must be an object"},
    {S("{\"Effect\":\"Allow\",\"Actions\":\"ecr:*\",\"Resource\":\"*\"}"), ID, "Statement[0]: unknown key \"Actions\""},
    {S("{\"Action\":\"ecr:*\",\"Resource\":\"*\"}"), ID, "Statement[0]: Effect is required"},
    {S("{\"Effect\":\"allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}"), ID, "Statement[0]: Effect must be \"Allow\" or \"Deny\""},
    {S("{\"Effect\":true,\"Action\":\"ecr:*\",\"Resource\":\"*\"}"), ID, "Statement[0]: Effect must be"},
    {S("{\"Sid\":1,\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}"), ID, "Statement[0].Sid: must be a string"},
    {S("{\"Sid\":[\"a\"],\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}"), ID, "Statement[0].Sid: must be a string"},
    {S("{\"Sid\":\"A\",\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"},"
       "{\"Sid\":\"A\",\"Effect\":\"Deny\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}"),
     ID, "Statement[1].Sid: \"A\" is already the Sid of Statement[0]"},
    {S("{\"Effect\":\"Allow\",\"Resource\":\"*\"}"), ID, "Statement[0]: Action or NotAction is required"},
    {S("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"NotAction\":\"ecr:Get*\",\"Resource\":\"*\"}"), ID,
     "Statement[0]: Action and NotAction cannot both be present"},
    {S("{\"Effect\":\"Allow\",\"Action\":[],\"Resource\":\"*\"}"), ID,
     "Statement[0].Action: must be a string or a non-empty array"},
    {S("{\"Effect\":\"Allow\",\"Action\":{},\"Resource\":\"*\"}"), ID,
     "Statement[0].Action: must be a string or a non-empty array"},
    {S("{\"Effect\":\"Allow\",\"Action\":[\"ecr:*\",3],\"Resource\":\"*\"}"), ID, "Statement[0].Action[1]: must be a string"},
    {S("{\"Effect\":\"Allow\",\"Action\":\"BatchGetImage\",\"Resource\":\"*\"}"), ID,
     "Statement[0].Action: \"BatchGetImage\" must be \"*\" or \"service:action\""},
    {S("{\"Effect\":\"Allow\",\"Action\":[\"ecr:\"],\"Resource\":\"*\"}"), ID, "Statement[0].Action[0]: \"ecr:\" must be"},
    {S("{\"Effect\":\"Allow\",\"Action\":\"ecr:Get Image\",\"Resource\":\"*\"}"), ID, "Statement[0].Action: \"ecr:Get Image\""},
    {S("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\"}"), ID,
     "Statement[0]: Resource or NotResource is required in an identity policy"},
    {S("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\",\"NotResource\":\"*\"}"), ID,
     "Statement[0]: Resource and NotResource cannot both be present"},
    {S("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":[]}"), ID,
     "Statement[0].Resource: must be a string or a non-empty array"},
    {S("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"team/app\"}"), ID,
     "Statement[0].Resource: \"team/app\" must be \"*\" or an ARN"},
    {S("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":[\"*\",\"arn:aws:ecr:us-east-1\"]}"), ID,
     "Statement[0].Resource[1]: \"arn:aws:ecr:us-east-1\" must be"},
    {S("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"arn:aws:ecr:::repository/${aws:username\"}"), ID,
     "Statement[0].Resource: malformed policy variable at offset 25"},
    {S("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"arn:aws:ecr:::repository/${}\"}"), ID,
     "Statement[0].Resource: malformed policy variable"},
    {S("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"arn:aws:ecr:::repository/${a:b, nobody}\"}"), ID,
     "Statement[0].Resource: malformed policy variable"},
    {S("{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}"), ID,
     "Statement[0]: Principal is not allowed in an identity policy"},
    {S("{\"Effect\":\"Allow\",\"NotPrincipal\":{\"AWS\":\"123456789012\"},\"Action\":\"ecr:*\",\"Resource\":\"*\"}"), ID,
     "Statement[0]: NotPrincipal is not allowed in an identity policy"},
    {S("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\"}"), RES,
     "Statement[0]: Principal or NotPrincipal is required in a resource policy"},
    {S("{\"Effect\":\"Allow\",\"Principal\":\"*\",\"NotPrincipal\":\"*\",\"Action\":\"ecr:*\"}"), RES,
     "Statement[0]: Principal and NotPrincipal cannot both be present"},
    {S("{\"Effect\":\"Allow\",\"Principal\":\"alice\",\"Action\":\"ecr:*\"}"), RES,
     "Statement[0].Principal: must be \"*\" or an object"},
    {S("{\"Effect\":\"Allow\",\"Principal\":{},\"Action\":\"ecr:*\"}"), RES,
     "Statement[0].Principal: must name at least one principal"},
    {S("{\"Effect\":\"Allow\",\"Principal\":{\"IAM\":\"*\"},\"Action\":\"ecr:*\"}"), RES,
     "Statement[0].Principal: unknown key \"IAM\""},
    {S("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[]},\"Action\":\"ecr:*\"}"), RES,
     "Statement[0].Principal.AWS: must be a string or a non-empty array"},
    {S("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::123456789012:user/*\"},\"Action\":\"ecr:*\"}"), RES,
     "Statement[0].Principal.AWS: wildcards are not allowed in a principal"},
    {S("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"123456789012\",\"arn:aws:iam::12345678901?:root\"]},\"Action\":\"ecr:*\"}"),
     RES, "Statement[0].Principal.AWS[1]: wildcards are not allowed"},
    {S("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"alice\"},\"Action\":\"ecr:*\"}"), RES,
     "Statement[0].Principal.AWS: \"alice\" is not \"*\", a 12-digit account id or an ARN"},
    {S("{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"*.amazonaws.com\"},\"Action\":\"ecr:*\"}"), RES,
     "Statement[0].Principal.Service: wildcards are not allowed"},
    {COND("[]"), ID, "Statement[0].Condition: must be an object of condition operators"},
    {COND("{\"StringEqualz\":{\"a:b\":\"x\"}}"), ID, "Statement[0].Condition: unknown operator \"StringEqualz\""},
    {COND("{\"NullIfExists\":{\"a:b\":\"true\"}}"), ID, "Statement[0].Condition: unknown operator \"NullIfExists\""},
    {COND("{\"ForAnyValue:Null\":{\"a:b\":\"true\"}}"), ID, "Statement[0].Condition: unknown operator \"ForAnyValue:Null\""},
    {COND("{\"ForSomeValues:StringLike\":{\"a:b\":\"x\"}}"), ID, "unknown operator \"ForSomeValues:StringLike\""},
    {COND("{\"stringequals\":{\"a:b\":\"x\"}}"), ID, "unknown operator \"stringequals\""},
    {COND("{\"StringLike\":\"x\"}"), ID, "Statement[0].Condition.StringLike: must be an object of condition keys"},
    {COND("{\"StringLike\":{}}"), ID, "Statement[0].Condition.StringLike: must name at least one condition key"},
    {COND("{\"StringLike\":{\"a:b\":null}}"), ID,
     "Statement[0].Condition.StringLike: value must be a string or an array of strings"},
    {COND("{\"StringLike\":{\"a:b\":[]}}"), ID, "Statement[0].Condition.StringLike: value must be a string or an array of strings"},
    {COND("{\"StringLike\":{\"a:b\":[\"x\",{}]}}"), ID, "Statement[0].Condition.StringLike: value must be a string"},
    {COND("{\"StringLike\":{\"a:b\":[[\"x\"]]}}"), ID, "Statement[0].Condition.StringLike: value must be a string"},
    {COND("{\"StringLike\":{\"username\":\"x\"}}"), ID,
     "Statement[0].Condition.StringLike: condition key \"username\" must look like"},
    {COND("{\"StringLike\":{\"a:b\":\"x\",\"a:b\":\"y\"}}"), ID, "duplicate"},
    {COND("{\"NumericLessThan\":{\"a:b\":\"ten\"}}"), ID, "Statement[0].Condition.NumericLessThan: \"ten\" is not a number"},
    {COND("{\"NumericLessThan\":{\"a:b\":\"0x10\"}}"), ID, "is not a number"},
    {COND("{\"NumericLessThan\":{\"a:b\":\"inf\"}}"), ID, "is not a number"},
    {COND("{\"DateLessThan\":{\"aws:CurrentTime\":\"2026-02-30T00:00:00Z\"}}"), ID, "\"2026-02-30T00:00:00Z\" is not a date"},
    {COND("{\"DateLessThan\":{\"aws:CurrentTime\":\"yesterday\"}}"), ID, "is not a date"},
    {COND("{\"DateLessThan\":{\"aws:CurrentTime\":\"2026-01-01T25:00:00Z\"}}"), ID, "is not a date"},
    {COND("{\"Bool\":{\"aws:SecureTransport\":\"yes\"}}"), ID, "Statement[0].Condition.Bool: \"yes\" is not \"true\" or \"false\""},
    {COND("{\"Null\":{\"aws:TokenIssueTime\":\"maybe\"}}"), ID,
     "Statement[0].Condition.Null: \"maybe\" is not \"true\" or \"false\""},
    {COND("{\"BinaryEquals\":{\"a:b\":\"not base64!\"}}"), ID,
     "Statement[0].Condition.BinaryEquals: \"not base64!\" is not base64"},
    {COND("{\"IpAddress\":{\"aws:SourceIp\":\"203.0.113.0/33\"}}"), ID, "\"203.0.113.0/33\" is not an IP address or CIDR block"},
    {COND("{\"IpAddress\":{\"aws:SourceIp\":\"203.0.113\"}}"), ID, "is not an IP address"},
    {COND("{\"NotIpAddress\":{\"aws:SourceIp\":\"2001:db8::/129\"}}"), ID, "is not an IP address"},
    {COND("{\"StringEquals\":{\"a:b\":\"${aws:username\"}}"), ID, "Statement[0].Condition.StringEquals: malformed policy variable"},
    {"{\"Statement\":[[[[[[[[[[]]]]]]]]]]}", ID, "nested deeper than"},
};

/* one row per document; each failing row is reported with its document */
Test(parse_refuses, malformed_documents_with_a_message_naming_the_field)
{
    for (size_t i = 0; i < sizeof bad_docs / sizeof bad_docs[0]; i++) {
        const bad_doc_t *b = &bad_docs[i];
        const char *msg = fx_parse_error(b->doc, b->kind);
        if (!msg) {
            cr_expect_fail("row %zu accepted: %s", i, b->doc);
            continue;
        }
        cr_expect(strstr(msg, b->fragment) != NULL, "row %zu: message [%s] lacks [%s] for %s", i, msg, b->fragment, b->doc);
    }
}

Test(parse_refuses, a_document_one_byte_over_the_limit)
{
    char *doc = malloc(POLICY_MAX_BYTES + 1);
    cr_assert_not_null(doc);
    const char *head = "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}}";
    size_t n = strlen(head);
    memcpy(doc, head, n);
    memset(doc + n, ' ', POLICY_MAX_BYTES + 1 - n);
    policy_err_t err;
    cr_expect_null(policy_parse(doc, POLICY_MAX_BYTES + 1, ID, &err));
    cr_expect(strstr(err.msg, "limit is 10240") != NULL, "%s", err.msg);
    free(doc);
}

Test(parse_refuses, deep_nesting_before_parsing_it)
{
    static char doc[POLICY_MAX_BYTES];
    memset(doc, '[', sizeof doc);
    policy_err_t err;
    cr_expect_null(policy_parse(doc, sizeof doc, ID, &err));
    cr_expect(strstr(err.msg, "nested deeper than 8 levels") != NULL, "%s", err.msg);
}

Test(parse_refuses, brackets_inside_strings_do_not_count_as_nesting)
{
    policy_free(fx_parse(
        "{\"Statement\":{\"Sid\":\"[[[[[[[[[[{{{{{{{{{\\\"\",\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}}", ID));
}

Test(parse_refuses, a_nul_character_in_a_string)
{
    const char *doc = "{\"Statement\":{\"Sid\":\"a\\u0000b\",\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}}";
    cr_expect_not_null(fx_parse_error(doc, ID));
}

Test(parse_refuses, a_null_document_and_a_null_error_buffer_without_crashing)
{
    cr_expect_null(policy_parse(NULL, 0, ID, NULL));
    cr_expect_null(policy_parse("{", 1, ID, NULL));
}

Test(parse_accepts, empty_sids_that_are_not_duplicates)
{
    policy_free(fx_parse(S("{\"Sid\":\"\","
                           "\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"},"
                           "{\"Sid\":\"\",\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}"),
                         ID));
}
