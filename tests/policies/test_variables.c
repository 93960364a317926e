/*
 * tests/policies/test_variables.c — policy variables in Resource and in
 * condition values: substitution, escapes, defaults, missing keys, and no
 * substitution in documents older than 2012-10-17.
 */
#include "fixture.h"

#define OWN "arn:aws:ecr:us-east-1:123456789012:repository/${aws:username}/*"
#define REPO_OF(user) "arn:aws:ecr:us-east-1:123456789012:repository/" user "/app"

static policy_decision_t resource_allows(const char *version, const char *resource_pat, const char *resource, const fx_kv_t *ctx)
{
    char doc[1024];
    snprintf(doc, sizeof doc, "{%s\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"%s\"}}", version,
             resource_pat);
    policy_t *p = fx_parse(doc, POLICY_KIND_IDENTITY);
    policy_decision_t d = fx_decide(p, NULL, "ecr:PutImage", resource, FX_ALICE, ctx);
    policy_free(p);
    return d;
}

#define V2012 "\"Version\":\"2012-10-17\","
#define V2008 "\"Version\":\"2008-10-17\","

Test(variables, aws_username_in_resource_is_substituted)
{
    cr_expect_eq(resource_allows(V2012, OWN, REPO_OF("alice"), CTX({"aws:username", {"alice"}})), POLICY_ALLOW);
    cr_expect_eq(resource_allows(V2012, OWN, REPO_OF("bob"), CTX({"aws:username", {"alice"}})), POLICY_IMPLICIT_DENY);
}

Test(variables, the_variable_key_is_looked_up_case_insensitively)
{
    cr_expect_eq(resource_allows(V2012, "arn:aws:ecr:us-east-1:123456789012:repository/${AWS:UserName}/*", REPO_OF("alice"),
                                 CTX({"aws:username", {"alice"}})),
                 POLICY_ALLOW);
}

Test(variables, any_context_key_can_be_a_variable)
{
    cr_expect_eq(resource_allows(V2012, "arn:aws:ecr:us-east-1:123456789012:repository/${ecr:ResourceTag/team}/*", REPO_OF("web"),
                                 CTX({"ecr:ResourceTag/team", {"web"}})),
                 POLICY_ALLOW);
}

Test(variables, a_missing_key_without_default_matches_nothing)
{
    cr_expect_eq(resource_allows(V2012, OWN, REPO_OF("alice"), NULL), POLICY_IMPLICIT_DENY);
    /* not even a value that looks like the unexpanded text */
    cr_expect_eq(resource_allows(V2012, OWN, REPO_OF("${aws:username}"), NULL), POLICY_IMPLICIT_DENY);
}

Test(variables, a_default_value_stands_in_for_a_missing_key)
{
    const char *pat = "arn:aws:ecr:us-east-1:123456789012:repository/${aws:username, 'nobody'}/*";
    cr_expect_eq(resource_allows(V2012, pat, REPO_OF("nobody"), NULL), POLICY_ALLOW);
    cr_expect_eq(resource_allows(V2012, pat, REPO_OF("alice"), CTX({"aws:username", {"alice"}})), POLICY_ALLOW);
    cr_expect_eq(resource_allows(V2012, pat, REPO_OF("nobody"), CTX({"aws:username", {"alice"}})), POLICY_IMPLICIT_DENY);
}

Test(variables, an_empty_default_is_a_value)
{
    const char *pat = "arn:aws:ecr:us-east-1:123456789012:repository/team${aws:username,''}/app";
    cr_expect_eq(resource_allows(V2012, pat, "arn:aws:ecr:us-east-1:123456789012:repository/team/app", NULL), POLICY_ALLOW);
}

Test(variables, the_star_escape_is_a_literal_star)
{
    const char *pat = "arn:aws:ecr:us-east-1:123456789012:repository/a${*}b";
    cr_expect_eq(resource_allows(V2012, pat, "arn:aws:ecr:us-east-1:123456789012:repository/a*b", NULL), POLICY_ALLOW);
    cr_expect_eq(resource_allows(V2012, pat, "arn:aws:ecr:us-east-1:123456789012:repository/axyzb", NULL), POLICY_IMPLICIT_DENY);
}

Test(variables, the_question_mark_escape_is_a_literal_question_mark)
{
    const char *pat = "arn:aws:ecr:us-east-1:123456789012:repository/a${?}";
    cr_expect_eq(resource_allows(V2012, pat, "arn:aws:ecr:us-east-1:123456789012:repository/a?", NULL), POLICY_ALLOW);
    cr_expect_eq(resource_allows(V2012, pat, "arn:aws:ecr:us-east-1:123456789012:repository/ax", NULL), POLICY_IMPLICIT_DENY);
}

Test(variables, the_dollar_escape_is_a_literal_dollar)
{
    const char *pat = "arn:aws:ecr:us-east-1:123456789012:repository/${$}{x}";
    cr_expect_eq(resource_allows(V2012, pat, "arn:aws:ecr:us-east-1:123456789012:repository/${x}", NULL), POLICY_ALLOW);
}

Test(variables, a_value_with_wildcard_characters_is_matched_literally)
{
    cr_expect_eq(resource_allows(V2012, OWN, REPO_OF("bob"), CTX({"aws:username", {"*"}})), POLICY_IMPLICIT_DENY);
    cr_expect_eq(resource_allows(V2012, OWN, REPO_OF("*"), CTX({"aws:username", {"*"}})), POLICY_ALLOW);
    cr_expect_eq(resource_allows(V2012, OWN, REPO_OF("b"), CTX({"aws:username", {"?"}})), POLICY_IMPLICIT_DENY);
}

Test(variables, a_multi_valued_key_has_no_single_value_to_substitute)
{
    cr_expect_eq(resource_allows(V2012, OWN, REPO_OF("alice"), CTX({"aws:username", {"alice", "bob"}})), POLICY_IMPLICIT_DENY);
}

Test(variables, are_not_substituted_in_a_2008_document)
{
    cr_expect_eq(resource_allows(V2008, OWN, REPO_OF("alice"), CTX({"aws:username", {"alice"}})), POLICY_IMPLICIT_DENY);
    cr_expect_eq(resource_allows(V2008, OWN, "arn:aws:ecr:us-east-1:123456789012:repository/${aws:username}/app",
                                 CTX({"aws:username", {"alice"}})),
                 POLICY_ALLOW);
}

Test(variables, are_not_substituted_in_a_document_without_version)
{
    cr_expect_eq(resource_allows("", OWN, REPO_OF("alice"), CTX({"aws:username", {"alice"}})), POLICY_IMPLICIT_DENY);
}

Test(variables, in_a_string_equals_condition_value)
{
    const char *c = "{\"StringEquals\":{\"ecr:ResourceTag/owner\":\"${aws:username}\"}}";
    cr_expect(fx_cond(c, CTX({"aws:username", {"alice"}}, {"ecr:ResourceTag/owner", {"alice"}})));
    cr_expect_not(fx_cond(c, CTX({"aws:username", {"alice"}}, {"ecr:ResourceTag/owner", {"bob"}})));
    cr_expect_not(fx_cond(c, CTX({"ecr:ResourceTag/owner", {"alice"}})));
}

Test(variables, in_a_string_like_condition_value_keeps_the_authors_wildcards)
{
    const char *c = "{\"StringLike\":{\"ecr:ResourceTag/owner\":\"${aws:username}-*\"}}";
    cr_expect(fx_cond(c, CTX({"aws:username", {"alice"}}, {"ecr:ResourceTag/owner", {"alice-ci"}})));
    cr_expect_not(fx_cond(c, CTX({"aws:username", {"al*"}}, {"ecr:ResourceTag/owner", {"alice-ci"}})));
}

Test(variables, a_missing_variable_in_a_negated_condition_excludes_that_value)
{
    /* the one value cannot match, so the context value "equals none of them" */
    const char *c = "{\"StringNotEquals\":{\"ecr:ResourceTag/owner\":\"${aws:username}\"}}";
    cr_expect(fx_cond(c, CTX({"ecr:ResourceTag/owner", {"alice"}})));
}

Test(variables, in_numeric_and_ip_condition_values)
{
    cr_expect(fx_cond("{\"NumericLessThan\":{\"a:n\":\"${a:limit}\"}}", CTX({"a:limit", {"10"}}, {"a:n", {"3"}})));
    cr_expect_not(fx_cond("{\"NumericLessThan\":{\"a:n\":\"${a:limit}\"}}", CTX({"a:limit", {"ten"}}, {"a:n", {"3"}})));
    cr_expect(fx_cond("{\"IpAddress\":{\"aws:SourceIp\":\"${a:office}\"}}",
                      CTX({"a:office", {"10.0.0.0/8"}}, {"aws:SourceIp", {"10.9.9.9"}})));
}

Test(variables, a_variable_may_hold_a_principal_tag_as_in_abac_policies)
{
    policy_t *p = fx_fixture("id_team_tag.json", POLICY_KIND_IDENTITY);
    cr_expect_eq(fx_decide(p, NULL, "ecr:PutImage", FX_REPO, FX_ALICE,
                           CTX({"aws:PrincipalTag/team", {"web"}}, {"ecr:ResourceTag/team", {"web"}})),
                 POLICY_ALLOW);
    cr_expect_eq(fx_decide(p, NULL, "ecr:PutImage", FX_REPO, FX_ALICE,
                           CTX({"aws:PrincipalTag/team", {"web"}}, {"ecr:ResourceTag/team", {"db"}})),
                 POLICY_IMPLICIT_DENY);
    policy_free(p);
}
