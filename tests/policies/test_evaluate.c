/*
 * tests/policies/test_evaluate.c — IAM's evaluation order, action and
 * resource wildcards, principals, the Not… elements and explanations.
 */
#include "fixture.h"

#define ID POLICY_KIND_IDENTITY
#define RES POLICY_KIND_RESOURCE

static policy_t *idp(const char *statement)
{
    char doc[2048];
    snprintf(doc, sizeof doc, "{\"Version\":\"2012-10-17\",\"Statement\":[%s]}", statement);
    return fx_parse(doc, ID);
}

static policy_t *resp(const char *statement)
{
    char doc[2048];
    snprintf(doc, sizeof doc, "{\"Version\":\"2012-10-17\",\"Statement\":[%s]}", statement);
    return fx_parse(doc, RES);
}

/* whether an identity policy allowing `action` on `resource` allows the request */
static policy_decision_t id_allows(const char *action_pat, const char *resource_pat, const char *action, const char *resource)
{
    char st[1024];
    snprintf(st, sizeof st, "{\"Effect\":\"Allow\",\"Action\":\"%s\",\"Resource\":\"%s\"}", action_pat, resource_pat);
    policy_t *p = idp(st);
    policy_decision_t d = fx_decide(p, NULL, action, resource, FX_ALICE, NULL);
    policy_free(p);
    return d;
}

/* whether a resource policy allowing `principal_json` lets `caller` pull */
static policy_decision_t principal_allows(const char *principal_json, const char *caller)
{
    char st[1024];
    snprintf(st, sizeof st, "{\"Effect\":\"Allow\",\"Principal\":%s,\"Action\":\"ecr:BatchGetImage\"}", principal_json);
    policy_t *p = resp(st);
    policy_decision_t d = fx_decide(NULL, p, "ecr:BatchGetImage", FX_REPO, caller, NULL);
    policy_free(p);
    return d;
}

/* ------------------------------------------------------ evaluation order */

Test(evaluation_order, nothing_allows_means_implicit_deny)
{
    cr_expect_eq(fx_decide(NULL, NULL, "ecr:BatchGetImage", FX_REPO, FX_ALICE, NULL), POLICY_IMPLICIT_DENY);
    cr_expect_null(fx_result.policy_name);
}

Test(evaluation_order, an_identity_allow_suffices)
{
    cr_expect_eq(id_allows("ecr:BatchGetImage", "*", "ecr:BatchGetImage", FX_REPO), POLICY_ALLOW);
    cr_expect_not(fx_result.from_resource_policy);
}

Test(evaluation_order, a_resource_policy_allow_suffices_without_any_identity_policy)
{
    policy_t *r = resp("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" FX_ALICE "\"},\"Action\":\"ecr:*\"}");
    cr_expect_eq(fx_decide(NULL, r, "ecr:PutImage", FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    cr_expect(fx_result.from_resource_policy);
    policy_free(r);
}

Test(evaluation_order, a_resource_policy_deny_beats_an_identity_allow)
{
    policy_t *i = idp("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}");
    policy_t *r = resp("{\"Sid\":\"NoPush\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"ecr:PutImage\"}");
    cr_expect_eq(fx_decide(i, r, "ecr:PutImage", FX_REPO, FX_ALICE, NULL), POLICY_EXPLICIT_DENY);
    cr_expect(fx_result.from_resource_policy);
    cr_expect_str_eq(fx_result.sid, "NoPush");
    cr_expect_eq(fx_decide(i, r, "ecr:BatchGetImage", FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    policy_free(i);
    policy_free(r);
}

Test(evaluation_order, an_identity_deny_beats_a_resource_policy_allow)
{
    policy_t *i = idp("{\"Effect\":\"Deny\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}");
    policy_t *r = resp("{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\"}");
    cr_expect_eq(fx_decide(i, r, "ecr:BatchGetImage", FX_REPO, FX_ALICE, NULL), POLICY_EXPLICIT_DENY);
    cr_expect_not(fx_result.from_resource_policy);
    policy_free(i);
    policy_free(r);
}

Test(evaluation_order, a_deny_later_in_the_same_policy_beats_an_earlier_allow)
{
    policy_t *i = idp("{\"Sid\":\"A\",\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"},"
                      "{\"Sid\":\"D\",\"Effect\":\"Deny\",\"Action\":\"ecr:BatchDeleteImage\",\"Resource\":\"*\"}");
    cr_expect_eq(fx_decide(i, NULL, "ecr:BatchDeleteImage", FX_REPO, FX_ALICE, NULL), POLICY_EXPLICIT_DENY);
    cr_expect_eq(fx_result.statement_index, 1);
    cr_expect_str_eq(fx_result.sid, "D");
    policy_free(i);
}

Test(evaluation_order, a_deny_in_a_second_identity_policy_beats_an_allow_in_the_first)
{
    policy_t *a = idp("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}");
    policy_t *d = idp("{\"Sid\":\"Nope\",\"Effect\":\"Deny\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}");
    policy_named_t ids[] = {{"First", a}, {"Second", d}};
    policy_request_t req = {.action = "ecr:ListImages", .resource = FX_REPO, .principal_arn = FX_ALICE};
    policy_result_t res;
    cr_expect_eq(policy_evaluate(ids, 2, NULL, &req, &res), POLICY_EXPLICIT_DENY);
    cr_expect_str_eq(res.policy_name, "Second");
    cr_expect_str_eq(res.reason, "explicitly denied by statement 'Nope' (#0) of Second");
    policy_free(a);
    policy_free(d);
}

Test(evaluation_order, the_first_applying_allow_is_the_one_reported)
{
    policy_t *i = idp("{\"Effect\":\"Allow\",\"Action\":\"ecr:PutImage\",\"Resource\":\"*\"},"
                      "{\"Sid\":\"Second\",\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"},"
                      "{\"Sid\":\"Third\",\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}");
    cr_expect_eq(fx_decide(i, NULL, "ecr:ListImages", FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    cr_expect_eq(fx_result.statement_index, 1);
    cr_expect_str_eq(fx_result.reason, "allowed by statement 'Second' (#1) of identity");
    policy_free(i);
}

Test(evaluation_order, a_statement_without_sid_is_named_by_its_index)
{
    cr_expect_eq(id_allows("ecr:*", "*", "ecr:ListImages", FX_REPO), POLICY_ALLOW);
    cr_expect_str_eq(fx_result.sid, "");
    cr_expect_str_eq(fx_result.reason, "allowed by statement #0 of identity");
}

Test(evaluation_order, a_deny_that_does_not_match_leaves_the_allow)
{
    policy_t *i = idp("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\"},"
                      "{\"Effect\":\"Deny\",\"Action\":\"ecr:*\",\"Resource\":\"arn:aws:ecr:*:*:repository/prod/*\"}");
    cr_expect_eq(fx_decide(i, NULL, "ecr:PutImage", FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    policy_free(i);
}

Test(evaluation_order, the_decision_names_are_what_the_cli_prints)
{
    cr_expect_str_eq(policy_decision_name(POLICY_ALLOW), "ALLOWED");
    cr_expect_str_eq(policy_decision_name(POLICY_IMPLICIT_DENY), "DENIED (implicit)");
    cr_expect_str_eq(policy_decision_name(POLICY_EXPLICIT_DENY), "DENIED (explicit)");
}

Test(evaluation_order, a_null_request_is_an_implicit_deny)
{
    policy_result_t r;
    cr_expect_eq(policy_evaluate(NULL, 0, NULL, NULL, &r), POLICY_IMPLICIT_DENY);
    cr_expect_eq(policy_evaluate(NULL, 0, NULL, NULL, NULL), POLICY_IMPLICIT_DENY);
}

/* ------------------------------------------------------------ actions */

Test(action_match, is_case_insensitive)
{
    cr_expect_eq(id_allows("ECR:batchgetimage", "*", "ecr:BatchGetImage", FX_REPO), POLICY_ALLOW);
}

Test(action_match, star_matches_any_action_of_any_service)
{
    cr_expect_eq(id_allows("*", "*", "s3:GetObject", FX_REPO), POLICY_ALLOW);
}

Test(action_match, a_trailing_star_matches_a_prefix)
{
    cr_expect_eq(id_allows("ecr:Get*", "*", "ecr:GetDownloadUrlForLayer", FX_REPO), POLICY_ALLOW);
    cr_expect_eq(id_allows("ecr:Get*", "*", "ecr:BatchGetImage", FX_REPO), POLICY_IMPLICIT_DENY);
}

Test(action_match, a_star_in_the_middle_matches_any_run)
{
    cr_expect_eq(id_allows("ecr:*Layer*", "*", "ecr:GetDownloadUrlForLayer", FX_REPO), POLICY_ALLOW);
    cr_expect_eq(id_allows("ecr:*Layer*", "*", "ecr:InitiateLayerUpload", FX_REPO), POLICY_ALLOW);
    cr_expect_eq(id_allows("ecr:*Layer*", "*", "ecr:PutImage", FX_REPO), POLICY_IMPLICIT_DENY);
}

Test(action_match, question_mark_matches_exactly_one_character)
{
    cr_expect_eq(id_allows("ecr:PutImag?", "*", "ecr:PutImage", FX_REPO), POLICY_ALLOW);
    cr_expect_eq(id_allows("ecr:PutImag?", "*", "ecr:PutImag", FX_REPO), POLICY_IMPLICIT_DENY);
    cr_expect_eq(id_allows("ecr:PutImag?", "*", "ecr:PutImages", FX_REPO), POLICY_IMPLICIT_DENY);
}

Test(action_match, the_service_prefix_must_match)
{
    cr_expect_eq(id_allows("ecr:*", "*", "ecs:RunTask", FX_REPO), POLICY_IMPLICIT_DENY);
}

Test(action_match, an_exact_action_does_not_match_a_longer_one)
{
    cr_expect_eq(id_allows("ecr:ListImages", "*", "ecr:ListImagesX", FX_REPO), POLICY_IMPLICIT_DENY);
}

Test(action_match, not_action_allows_everything_except_the_listed)
{
    policy_t *i = idp("{\"Effect\":\"Allow\",\"NotAction\":[\"ecr:Delete*\",\"ecr:BatchDeleteImage\"],\"Resource\":\"*\"}");
    cr_expect_eq(fx_decide(i, NULL, "ecr:PutImage", FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    cr_expect_eq(fx_decide(i, NULL, "ecr:DeleteRepository", FX_REPO, FX_ALICE, NULL), POLICY_IMPLICIT_DENY);
    cr_expect_eq(fx_decide(i, NULL, "ecr:BatchDeleteImage", FX_REPO, FX_ALICE, NULL), POLICY_IMPLICIT_DENY);
    policy_free(i);
}

Test(action_match, deny_with_not_action_denies_everything_but_the_listed)
{
    policy_t *i = idp("{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"},"
                      "{\"Effect\":\"Deny\",\"NotAction\":\"ecr:BatchGetImage\",\"Resource\":\"*\"}");
    cr_expect_eq(fx_decide(i, NULL, "ecr:BatchGetImage", FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    cr_expect_eq(fx_decide(i, NULL, "ecr:PutImage", FX_REPO, FX_ALICE, NULL), POLICY_EXPLICIT_DENY);
    policy_free(i);
}

/* ---------------------------------------------------------- resources */

Test(resource_match, a_lone_star_matches_everything)
{
    cr_expect_eq(id_allows("ecr:*", "*", "ecr:GetAuthorizationToken", "*"), POLICY_ALLOW);
    cr_expect_eq(id_allows("ecr:*", "*", "ecr:PutImage", "not even an arn"), POLICY_ALLOW);
}

Test(resource_match, an_exact_arn_matches_only_itself)
{
    cr_expect_eq(id_allows("ecr:*", FX_REPO, "ecr:PutImage", FX_REPO), POLICY_ALLOW);
    cr_expect_eq(id_allows("ecr:*", FX_REPO, "ecr:PutImage", FX_REPO "2"), POLICY_IMPLICIT_DENY);
}

Test(resource_match, is_case_sensitive)
{
    cr_expect_eq(id_allows("ecr:*", "arn:aws:ecr:us-east-1:123456789012:repository/Team/app", "ecr:PutImage", FX_REPO),
                 POLICY_IMPLICIT_DENY);
}

Test(resource_match, a_star_in_the_resource_part_crosses_slashes)
{
    cr_expect_eq(id_allows("ecr:*", "arn:aws:ecr:us-east-1:123456789012:repository/*", "ecr:PutImage", FX_REPO), POLICY_ALLOW);
    cr_expect_eq(id_allows("ecr:*", "arn:aws:ecr:us-east-1:123456789012:repository/team/*", "ecr:PutImage", FX_REPO), POLICY_ALLOW);
    cr_expect_eq(id_allows("ecr:*", "arn:aws:ecr:us-east-1:123456789012:repository/other/*", "ecr:PutImage", FX_REPO),
                 POLICY_IMPLICIT_DENY);
}

Test(resource_match, a_star_matches_a_whole_segment_such_as_region_or_account)
{
    cr_expect_eq(id_allows("ecr:*", "arn:aws:ecr:*:*:repository/team/app", "ecr:PutImage", FX_REPO), POLICY_ALLOW);
    cr_expect_eq(id_allows("ecr:*", "arn:aws:ecr:us-*:123456789012:repository/team/app", "ecr:PutImage", FX_REPO), POLICY_ALLOW);
}

Test(resource_match, a_star_does_not_cross_a_colon_of_the_first_segments)
{
    /* whole-string matching would let the region's "*" swallow "us-east-1:x" */
    cr_expect_eq(id_allows("ecr:*", "arn:aws:ecr:*:123456789012:repository/team/app", "ecr:PutImage",
                           "arn:aws:ecr:us-east-1:x:123456789012:repository/team/app"),
                 POLICY_IMPLICIT_DENY);
}

Test(resource_match, a_star_matches_an_empty_segment)
{
    cr_expect_eq(id_allows("iam:*", "arn:aws:iam:*:*:user/alice", "iam:GetUser", FX_ALICE), POLICY_ALLOW);
}

Test(resource_match, question_mark_matches_one_character_in_a_segment)
{
    cr_expect_eq(id_allows("ecr:*", "arn:aws:ecr:us-east-?:123456789012:repository/team/app", "ecr:PutImage", FX_REPO),
                 POLICY_ALLOW);
    cr_expect_eq(id_allows("ecr:*", "arn:aws:ecr:us-east-1:123456789012:repository/team/ap?", "ecr:PutImage", FX_REPO),
                 POLICY_ALLOW);
    cr_expect_eq(id_allows("ecr:*", "arn:aws:ecr:us-east-1:123456789012:repository/team/a?", "ecr:PutImage", FX_REPO),
                 POLICY_IMPLICIT_DENY);
}

Test(resource_match, a_colon_in_the_resource_part_is_ordinary)
{
    cr_expect_eq(id_allows("ecs:*", "arn:aws:ecs:us-east-1:123456789012:task-definition/web:*", "ecs:RunTask",
                           "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3"),
                 POLICY_ALLOW);
}

Test(resource_match, not_resource_applies_to_every_other_resource)
{
    policy_t *i = idp("{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"NotResource\":\"arn:aws:ecr:*:*:repository/prod/*\"}");
    cr_expect_eq(fx_decide(i, NULL, "ecr:PutImage", FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    cr_expect_eq(fx_decide(i, NULL, "ecr:PutImage", "arn:aws:ecr:us-east-1:1:repository/prod/api", FX_ALICE, NULL),
                 POLICY_IMPLICIT_DENY);
    policy_free(i);
}

Test(resource_match, a_resource_policy_statement_without_resource_covers_its_repository)
{
    policy_t *r = resp("{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:BatchGetImage\"}");
    cr_expect_eq(fx_decide(NULL, r, "ecr:BatchGetImage", FX_REPO, NULL, NULL), POLICY_ALLOW);
    policy_free(r);
}

Test(resource_match, a_resource_policy_statement_with_resource_is_checked)
{
    policy_t *r = resp("{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:BatchGetImage\","
                       "\"Resource\":\"arn:aws:ecr:us-east-1:123456789012:repository/other\"}");
    cr_expect_eq(fx_decide(NULL, r, "ecr:BatchGetImage", FX_REPO, NULL, NULL), POLICY_IMPLICIT_DENY);
    policy_free(r);
}

/* --------------------------------------------------------- principals */

/* whether a resource policy's Deny naming `principal_json` applies to `caller`:
 * a Deny applies to whatever its Principal names, account or not, so it shows
 * the match alone (an Allow naming an account also needs an identity Allow) */
static bool principal_names(const char *principal_json, const char *caller)
{
    char st[1024];
    snprintf(st, sizeof st, "{\"Effect\":\"Deny\",\"Principal\":%s,\"Action\":\"ecr:BatchGetImage\"}", principal_json);
    policy_t *p = resp(st);
    policy_decision_t d = fx_decide(NULL, p, "ecr:BatchGetImage", FX_REPO, caller, NULL);
    policy_free(p);
    return d == POLICY_EXPLICIT_DENY;
}

Test(principal_match, star_matches_everyone_including_anonymous)
{
    cr_expect(principal_names("\"*\"", FX_ALICE));
    cr_expect(principal_names("\"*\"", FX_OTHER));
    cr_expect(principal_names("\"*\"", NULL));
    /* and an Allow to "*" grants within the account without an identity policy */
    cr_expect_eq(principal_allows("\"*\"", FX_ALICE), POLICY_ALLOW);
    cr_expect_eq(principal_allows("\"*\"", NULL), POLICY_ALLOW);
}

Test(principal_match, aws_star_matches_everyone_including_anonymous)
{
    cr_expect(principal_names("{\"AWS\":\"*\"}", FX_OTHER));
    cr_expect(principal_names("{\"AWS\":[\"*\"]}", NULL));
    cr_expect_eq(principal_allows("{\"AWS\":[\"*\"]}", NULL), POLICY_ALLOW);
}

Test(principal_match, an_account_id_matches_every_principal_of_the_account)
{
    cr_expect(principal_names("{\"AWS\":\"123456789012\"}", FX_ALICE));
    cr_expect(principal_names("{\"AWS\":\"123456789012\"}", "arn:aws:iam::123456789012:role/ci"));
    cr_expect(!principal_names("{\"AWS\":\"123456789012\"}", FX_OTHER));
}

Test(principal_match, the_root_arn_matches_every_principal_of_the_account)
{
    cr_expect(principal_names("{\"AWS\":\"arn:aws:iam::123456789012:root\"}", FX_BOB));
    cr_expect(!principal_names("{\"AWS\":\"arn:aws:iam::123456789012:root\"}", FX_OTHER));
}

Test(principal_match, the_account_comes_from_the_arn_when_the_request_omits_it)
{
    policy_t *r = resp("{\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"444455556666\"},\"Action\":\"ecr:*\"}");
    policy_request_t req = {.action = "ecr:PutImage", .resource = FX_REPO, .principal_arn = FX_OTHER};
    policy_named_t rp = {"repo", r};
    cr_expect_eq(policy_evaluate(NULL, 0, &rp, &req, NULL), POLICY_EXPLICIT_DENY);
    policy_free(r);
}

/* ------------------------------------------ account principals (IAM's rules) */

/* An Allow naming the account (its id or its root ARN) delegates to the
 * account: a user or role of it still needs an identity policy that allows.
 * A user or role named by its ARN is granted directly. A Deny naming the
 * account applies to all of it. Across accounts both sides must allow.
 * (IAM User Guide: "Policy evaluation logic", "Cross-account policy
 * evaluation logic", "AWS JSON policy elements: Principal".) */
#define ROOT_ALLOWS "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::123456789012:root\"},\"Action\":\"ecr:*\"}"
#define ID_ALLOWS_PULL "{\"Effect\":\"Allow\",\"Action\":\"ecr:BatchGetImage\",\"Resource\":\"*\"}"

Test(account_principal, an_allow_to_the_root_arn_grants_nothing_without_an_identity_allow)
{
    policy_t *r = resp(ROOT_ALLOWS);
    cr_expect_eq(fx_decide(NULL, r, "ecr:PutImage", FX_REPO, FX_ALICE, NULL), POLICY_IMPLICIT_DENY);
    cr_expect(strstr(fx_result.reason, "names the account 123456789012: that delegates to the account") != NULL, "reason: %s",
              fx_result.reason);
    cr_expect_eq(fx_decide(NULL, r, "ecr:PutImage", FX_REPO, "arn:aws:sts::123456789012:assumed-role/ci/build-1", NULL),
                 POLICY_IMPLICIT_DENY);
    policy_free(r);
}

Test(account_principal, an_allow_to_the_account_id_grants_nothing_without_an_identity_allow)
{
    policy_t *r = resp("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"123456789012\"},\"Action\":\"ecr:*\"}");
    cr_expect_eq(fx_decide(NULL, r, "ecr:BatchGetImage", FX_REPO, FX_BOB, NULL), POLICY_IMPLICIT_DENY);
    policy_free(r);
}

Test(account_principal, with_an_identity_allow_the_identity_policy_decides)
{
    policy_t *r = resp(ROOT_ALLOWS), *i = idp(ID_ALLOWS_PULL);
    cr_expect_eq(fx_decide(i, r, "ecr:BatchGetImage", FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    cr_expect(!fx_result.from_resource_policy);
    /* the identity policy allows pulls only: the account-wide push Allow adds nothing */
    cr_expect_eq(fx_decide(i, r, "ecr:PutImage", FX_REPO, FX_ALICE, NULL), POLICY_IMPLICIT_DENY);
    policy_free(r);
    policy_free(i);
}

Test(account_principal, a_user_or_role_named_by_arn_is_granted_directly)
{
    policy_t *r = resp("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"" FX_ALICE "\",\"arn:aws:iam::123456789012:role/ci\","
                       "\"arn:aws:iam::123456789012:root\"]},\"Action\":\"ecr:*\"}");
    cr_expect_eq(fx_decide(NULL, r, "ecr:PutImage", FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    cr_expect(fx_result.from_resource_policy);
    cr_expect_eq(fx_decide(NULL, r, "ecr:PutImage", FX_REPO, "arn:aws:sts::123456789012:assumed-role/ci/build-1", NULL),
                 POLICY_ALLOW);
    /* bob is only in the account the same statement also names */
    cr_expect_eq(fx_decide(NULL, r, "ecr:PutImage", FX_REPO, FX_BOB, NULL), POLICY_IMPLICIT_DENY);
    policy_free(r);
}

Test(account_principal, a_deny_to_the_account_denies_all_of_it_despite_identity_allows)
{
    policy_t *r = resp("{\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"arn:aws:iam::123456789012:root\"},"
                       "\"Action\":\"ecr:BatchGetImage\"}");
    policy_t *i = idp(ID_ALLOWS_PULL);
    cr_expect_eq(fx_decide(i, r, "ecr:BatchGetImage", FX_REPO, FX_ALICE, NULL), POLICY_EXPLICIT_DENY);
    cr_expect(fx_result.from_resource_policy);
    policy_free(r);
    policy_free(i);
}

Test(account_principal, anonymous_is_never_in_an_account)
{
    policy_t *r = resp(ROOT_ALLOWS);
    cr_expect_eq(fx_decide(NULL, r, "ecr:BatchGetImage", FX_REPO, NULL, NULL), POLICY_IMPLICIT_DENY);
    policy_free(r);
}

Test(account_principal, across_accounts_both_sides_must_allow)
{
    policy_t *named = resp("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"" FX_OTHER "\"},\"Action\":\"ecr:*\"}");
    policy_t *other_root = resp("{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"444455556666\"},\"Action\":\"ecr:*\"}");
    policy_t *i = idp(ID_ALLOWS_PULL);
    /* named directly, but carol's own account has not allowed it */
    cr_expect_eq(fx_decide(NULL, named, "ecr:BatchGetImage", FX_REPO, FX_OTHER, NULL), POLICY_IMPLICIT_DENY);
    cr_expect(strstr(fx_result.reason, "of account 444455556666") != NULL, "reason: %s", fx_result.reason);
    cr_expect_eq(fx_decide(i, named, "ecr:BatchGetImage", FX_REPO, FX_OTHER, NULL), POLICY_ALLOW);
    cr_expect_eq(fx_decide(i, other_root, "ecr:BatchGetImage", FX_REPO, FX_OTHER, NULL), POLICY_ALLOW);
    cr_expect(fx_result.from_resource_policy);
    /* her identity policy alone does not reach into another account's repository */
    cr_expect_eq(fx_decide(i, NULL, "ecr:BatchGetImage", FX_REPO, FX_OTHER, NULL), POLICY_IMPLICIT_DENY);
    cr_expect(strstr(fx_result.reason, "the repository policy must allow it too") != NULL, "reason: %s", fx_result.reason);
    policy_free(named);
    policy_free(other_root);
    policy_free(i);
}

Test(principal_match, a_user_arn_matches_only_that_user)
{
    cr_expect_eq(principal_allows("{\"AWS\":\"" FX_ALICE "\"}", FX_ALICE), POLICY_ALLOW);
    cr_expect_eq(principal_allows("{\"AWS\":\"" FX_ALICE "\"}", FX_BOB), POLICY_IMPLICIT_DENY);
}

Test(principal_match, anonymous_matches_no_account_or_arn)
{
    cr_expect_eq(principal_allows("{\"AWS\":\"123456789012\"}", NULL), POLICY_IMPLICIT_DENY);
    cr_expect_eq(principal_allows("{\"AWS\":\"" FX_ALICE "\"}", NULL), POLICY_IMPLICIT_DENY);
}

Test(principal_match, a_role_matches_its_assumed_role_sessions)
{
    const char *role = "{\"AWS\":\"arn:aws:iam::123456789012:role/path/ci\"}";
    cr_expect_eq(principal_allows(role, "arn:aws:sts::123456789012:assumed-role/ci/build-42"), POLICY_ALLOW);
    cr_expect_eq(principal_allows(role, "arn:aws:sts::123456789012:assumed-role/cd/build-42"), POLICY_IMPLICIT_DENY);
    cr_expect_eq(principal_allows(role, "arn:aws:sts::444455556666:assumed-role/ci/build-42"), POLICY_IMPLICIT_DENY);
}

Test(principal_match, a_service_principal_matches_the_service_as_caller)
{
    cr_expect_eq(principal_allows("{\"Service\":\"ecs-tasks.amazonaws.com\"}", "ecs-tasks.amazonaws.com"), POLICY_ALLOW);
    cr_expect_eq(principal_allows("{\"Service\":\"ecs-tasks.amazonaws.com\"}", FX_ALICE), POLICY_IMPLICIT_DENY);
}

Test(principal_match, not_principal_applies_to_everyone_but_the_listed)
{
    policy_t *r = resp("{\"Effect\":\"Deny\",\"NotPrincipal\":{\"AWS\":\"" FX_ALICE "\"},\"Action\":\"ecr:*\"},"
                       "{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\"}");
    cr_expect_eq(fx_decide(NULL, r, "ecr:PutImage", FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    cr_expect_eq(fx_decide(NULL, r, "ecr:PutImage", FX_REPO, FX_BOB, NULL), POLICY_EXPLICIT_DENY);
    cr_expect_eq(fx_decide(NULL, r, "ecr:PutImage", FX_REPO, NULL, NULL), POLICY_EXPLICIT_DENY);
    policy_free(r);
}

Test(principal_match, not_principal_star_matches_nobody)
{
    policy_t *r = resp("{\"Effect\":\"Allow\",\"NotPrincipal\":\"*\",\"Action\":\"ecr:*\"}");
    cr_expect_eq(fx_decide(NULL, r, "ecr:PutImage", FX_REPO, FX_ALICE, NULL), POLICY_IMPLICIT_DENY);
    cr_expect_eq(fx_decide(NULL, r, "ecr:PutImage", FX_REPO, NULL, NULL), POLICY_IMPLICIT_DENY);
    policy_free(r);
}

/* ------------------------------------------------------- explanations */

Test(explanation, an_implicit_deny_names_the_action_and_resource)
{
    cr_expect_eq(id_allows("ecr:BatchGetImage", "*", "ecr:PutImage", FX_REPO), POLICY_IMPLICIT_DENY);
    cr_expect_str_eq(fx_result.reason, "denied: no statement allows ecr:PutImage on " FX_REPO);
    cr_expect_null(fx_result.policy_name);
}

Test(explanation, an_implicit_deny_names_the_allow_whose_condition_failed)
{
    policy_t *i = idp("{\"Sid\":\"OnlyTls\",\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\","
                      "\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"true\"}}}");
    cr_expect_eq(fx_decide(i, NULL, "ecr:PutImage", FX_REPO, FX_ALICE, CTX({"aws:SecureTransport", {"false"}})),
                 POLICY_IMPLICIT_DENY);
    cr_expect(strstr(fx_result.reason, "statement 'OnlyTls' (#0) of identity matches, but its condition Bool on "
                                       "aws:SecureTransport does not hold") != NULL,
              "%s", fx_result.reason);
    policy_free(i);
}

Test(explanation, a_reason_longer_than_its_buffer_is_clipped_and_ends_in_dots)
{
    /* a condition key longer than the whole reason buffer */
    char tag[sizeof fx_result.reason + 1], doc[sizeof tag + 256];
    memset(tag, 'k', sizeof tag - 1);
    tag[sizeof tag - 1] = '\0';
    snprintf(doc, sizeof doc,
             "{\"Sid\":\"OnlyTeam\",\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\","
             "\"Condition\":{\"StringEquals\":{\"aws:PrincipalTag/%s\":\"x\"}}}",
             tag);
    policy_t *i = idp(doc);
    cr_assert_not_null(i);
    cr_expect_eq(fx_decide(i, NULL, "ecr:PutImage", FX_REPO, FX_ALICE, NULL), POLICY_IMPLICIT_DENY);
    size_t n = strlen(fx_result.reason);
    cr_expect_eq(n, sizeof fx_result.reason - 1, "%zu: %s", n, fx_result.reason);
    cr_expect(n >= 3 && strcmp(fx_result.reason + n - 3, "...") == 0, "%s", fx_result.reason);
    cr_expect(strstr(fx_result.reason, "statement 'OnlyTeam' (#0) of identity matches, but its condition StringEquals on "
                                       "aws:PrincipalTag/kkk") != NULL,
              "%s", fx_result.reason);
    policy_free(i);
}

Test(explanation, an_implicit_deny_says_when_only_the_principal_differed)
{
    cr_expect_eq(principal_allows("{\"AWS\":\"" FX_ALICE "\"}", FX_BOB), POLICY_IMPLICIT_DENY);
    cr_expect(strstr(fx_result.reason, "matches the action and resource, not the principal") != NULL, "%s", fx_result.reason);
}

Test(explanation, an_explicit_deny_names_policy_sid_and_index)
{
    policy_t *r = resp("{\"Sid\":\"A\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\"},"
                       "{\"Sid\":\"NoDelete\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"ecr:BatchDeleteImage\"}");
    cr_expect_eq(fx_decide(NULL, r, "ecr:BatchDeleteImage", FX_REPO, FX_ALICE, NULL), POLICY_EXPLICIT_DENY);
    cr_expect_str_eq(fx_result.policy_name, "repository policy");
    cr_expect_str_eq(fx_result.sid, "NoDelete");
    cr_expect_eq(fx_result.statement_index, 1);
    cr_expect(fx_result.from_resource_policy);
    cr_expect_str_eq(fx_result.reason, "explicitly denied by statement 'NoDelete' (#1) of repository policy");
    policy_free(r);
}
