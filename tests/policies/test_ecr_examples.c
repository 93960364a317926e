/*
 * tests/policies/test_ecr_examples.c — the repository policy examples of the
 * Amazon ECR user guide and the managed ECR identity policies, read from
 * tests/policies/fixtures/, decide what the guide says they decide.
 */
#include "fixture.h"

#define RES POLICY_KIND_RESOURCE
#define ID POLICY_KIND_IDENTITY
#define PULL "ecr:BatchGetImage"
#define LAYER "ecr:GetDownloadUrlForLayer"
#define PUSH "ecr:PutImage"
#define ROLE "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
#define PUSHER "arn:aws:iam::123456789012:user/push-pull-user-1"

/* the deciding Sid of the last repo_decides(), which frees the policy fx_result points into */
static char last_sid[64];

static policy_decision_t repo_decides(const char *fixture, const char *action, const char *principal)
{
    policy_t *p = fx_fixture(fixture, RES);
    policy_decision_t d = fx_decide(NULL, p, action, FX_REPO, principal, NULL);
    snprintf(last_sid, sizeof last_sid, "%s", fx_result.sid ? fx_result.sid : "");
    policy_free(p);
    return d;
}

/* the decision with the read-only managed policy attached to the caller */
static policy_decision_t repo_and_readonly_decide(const char *fixture, const char *action, const char *principal)
{
    policy_t *r = fx_fixture(fixture, RES);
    policy_t *i = fx_fixture("id_readonly.json", ID);
    policy_decision_t d = fx_decide(i, r, action, FX_REPO, principal, NULL);
    snprintf(last_sid, sizeof last_sid, "%s", fx_result.sid ? fx_result.sid : "");
    policy_free(r);
    policy_free(i);
    return d;
}

/* IAM: "When you specify an AWS account [in a resource policy's Principal],
 * ... the permissions are delegated to the account's administrator, who must
 * grant them to users and roles with identity-based policies." The ECR
 * guide's "allow all IAM users of the account" example therefore allows
 * nothing by itself. */
Test(ecr_examples, naming_the_account_delegates_and_allows_nothing_alone)
{
    cr_expect_eq(repo_decides("repo_allow_account_pull.json", PULL, FX_ALICE), POLICY_IMPLICIT_DENY);
    cr_expect(strstr(fx_result.reason, "delegates to the account") != NULL, "reason: %s", fx_result.reason);
    cr_expect(strstr(fx_result.reason, "AllowPull") != NULL, "reason: %s", fx_result.reason);
    cr_expect_eq(repo_decides("repo_allow_account_pull.json", LAYER, ROLE), POLICY_IMPLICIT_DENY);
}

Test(ecr_examples, naming_the_account_with_an_identity_allow_allows)
{
    cr_expect_eq(repo_and_readonly_decide("repo_allow_account_pull.json", PULL, FX_ALICE), POLICY_ALLOW);
    cr_expect_eq(repo_and_readonly_decide("repo_allow_account_pull.json", LAYER, ROLE), POLICY_ALLOW);
    cr_expect(!fx_result.from_resource_policy, "the identity policy decides within the account");
}

Test(ecr_examples, naming_the_account_does_not_allow_push_or_other_accounts)
{
    cr_expect_eq(repo_and_readonly_decide("repo_allow_account_pull.json", PUSH, FX_ALICE), POLICY_IMPLICIT_DENY);
    cr_expect_eq(repo_decides("repo_allow_account_pull.json", PULL, FX_OTHER), POLICY_IMPLICIT_DENY);
    cr_expect_eq(repo_and_readonly_decide("repo_allow_account_pull.json", PULL, FX_OTHER), POLICY_IMPLICIT_DENY);
    cr_expect_eq(repo_decides("repo_allow_account_pull.json", PULL, NULL), POLICY_IMPLICIT_DENY);
}

Test(ecr_examples, allow_one_user_to_push_and_pull)
{
    cr_expect_eq(repo_decides("repo_allow_user_push_pull.json", PUSH, PUSHER), POLICY_ALLOW);
    cr_expect_eq(repo_decides("repo_allow_user_push_pull.json", "ecr:InitiateLayerUpload", PUSHER), POLICY_ALLOW);
    cr_expect_eq(repo_decides("repo_allow_user_push_pull.json", PULL, PUSHER), POLICY_ALLOW);
}

Test(ecr_examples, allow_one_user_leaves_everyone_else_and_other_actions_out)
{
    cr_expect_eq(repo_decides("repo_allow_user_push_pull.json", PUSH, FX_ALICE), POLICY_IMPLICIT_DENY);
    cr_expect_eq(repo_decides("repo_allow_user_push_pull.json", "ecr:BatchDeleteImage", PUSHER), POLICY_IMPLICIT_DENY);
}

Test(ecr_examples, deny_all_denies_everyone_even_with_an_identity_allow)
{
    policy_t *r = fx_fixture("repo_deny_all.json", RES);
    policy_t *i = fx_fixture("id_poweruser.json", ID);
    cr_expect_eq(fx_decide(i, r, PULL, FX_REPO, FX_ALICE, NULL), POLICY_EXPLICIT_DENY);
    cr_expect_str_eq(fx_result.sid, "DenyAll");
    cr_expect(fx_result.from_resource_policy);
    cr_expect_eq(fx_decide(i, r, PUSH, FX_REPO, NULL, NULL), POLICY_EXPLICIT_DENY);
    policy_free(r);
    policy_free(i);
}

/* IAM: across accounts "the identity-based policy [in the caller's account]
 * and the resource-based policy must both allow" */
Test(ecr_examples, cross_account_pull_needs_the_other_accounts_identity_allow_too)
{
    cr_expect_eq(repo_and_readonly_decide("repo_cross_account_pull.json", PULL, FX_OTHER), POLICY_ALLOW);
    cr_expect(fx_result.from_resource_policy, "the repository policy granting the other account decides");
    cr_expect_eq(repo_and_readonly_decide("repo_cross_account_pull.json", LAYER, "arn:aws:iam::444455556666:role/builder"),
                 POLICY_ALLOW);
    cr_expect_eq(repo_decides("repo_cross_account_pull.json", PULL, FX_OTHER), POLICY_IMPLICIT_DENY);
    cr_expect(strstr(fx_result.reason, "identity policies must allow it too") != NULL, "reason: %s", fx_result.reason);
}

Test(ecr_examples, cross_account_pull_does_not_allow_push_or_the_owner_account)
{
    cr_expect_eq(repo_decides("repo_cross_account_pull.json", PUSH, FX_OTHER), POLICY_IMPLICIT_DENY);
    /* the owner's own principals need an identity policy: this statement names only the other account */
    cr_expect_eq(repo_decides("repo_cross_account_pull.json", PULL, FX_ALICE), POLICY_IMPLICIT_DENY);
}

Test(ecr_examples, allow_pull_from_a_role_and_its_sessions)
{
    cr_expect_eq(repo_decides("repo_allow_role_pull.json", PULL, ROLE), POLICY_ALLOW);
    cr_expect_eq(
        repo_decides("repo_allow_role_pull.json", PULL, "arn:aws:sts::123456789012:assumed-role/ecsTaskExecutionRole/task-1"),
        POLICY_ALLOW);
    cr_expect_eq(repo_decides("repo_allow_role_pull.json", PULL, FX_ALICE), POLICY_IMPLICIT_DENY);
    cr_expect_eq(repo_decides("repo_allow_role_pull.json", PUSH, ROLE), POLICY_IMPLICIT_DENY);
}

Test(ecr_examples, public_read_allows_anonymous_pull_but_not_push)
{
    cr_expect_eq(repo_decides("repo_public_read.json", PULL, NULL), POLICY_ALLOW);
    /* "*" names every caller directly: a user of the account needs no identity policy */
    cr_expect_eq(repo_decides("repo_public_read.json", "ecr:BatchCheckLayerAvailability", FX_ALICE), POLICY_ALLOW);
    /* a user of another account still does: across accounts both sides must allow */
    cr_expect_eq(repo_decides("repo_public_read.json", "ecr:BatchCheckLayerAvailability", FX_OTHER), POLICY_IMPLICIT_DENY);
    cr_expect_eq(repo_and_readonly_decide("repo_public_read.json", "ecr:BatchCheckLayerAvailability", FX_OTHER), POLICY_ALLOW);
    cr_expect_eq(repo_decides("repo_public_read.json", PUSH, NULL), POLICY_IMPLICIT_DENY);
}

Test(ecr_examples, service_principal_with_source_conditions)
{
    policy_t *r = fx_fixture("repo_codebuild_service.json", RES);
    const char *svc = "codebuild.amazonaws.com";
    cr_expect_eq(fx_decide(NULL, r, PULL, FX_REPO, svc,
                           CTX({"aws:SourceArn", {"arn:aws:codebuild:us-east-1:123456789012:project/project-name"}},
                               {"aws:SourceAccount", {"123456789012"}})),
                 POLICY_ALLOW);
    cr_expect_eq(fx_decide(NULL, r, PULL, FX_REPO, svc,
                           CTX({"aws:SourceArn", {"arn:aws:codebuild:us-east-1:123456789012:project/other"}},
                               {"aws:SourceAccount", {"123456789012"}})),
                 POLICY_IMPLICIT_DENY);
    cr_expect_eq(fx_decide(NULL, r, PULL, FX_REPO, svc, NULL), POLICY_IMPLICIT_DENY);
    policy_free(r);
}

Test(ecr_examples, push_only_from_the_office_network)
{
    /* the account-wide Allow delegates: alice pushes with her own identity policy */
    policy_t *r = fx_fixture("repo_deny_outside_network.json", RES);
    policy_t *i = fx_fixture("id_poweruser.json", ID);
    cr_expect_eq(fx_decide(i, r, PUSH, FX_REPO, FX_ALICE, CTX({"aws:SourceIp", {"203.0.113.9"}})), POLICY_ALLOW);
    cr_expect_eq(fx_decide(i, r, PUSH, FX_REPO, FX_ALICE, CTX({"aws:SourceIp", {"2001:db8:5::1"}})), POLICY_ALLOW);
    cr_expect_eq(fx_decide(i, r, PUSH, FX_REPO, FX_ALICE, CTX({"aws:SourceIp", {"198.51.100.1"}})), POLICY_EXPLICIT_DENY);
    cr_expect_eq(fx_decide(i, r, PULL, FX_REPO, FX_ALICE, CTX({"aws:SourceIp", {"198.51.100.1"}})), POLICY_ALLOW);
    cr_expect_eq(fx_decide(NULL, r, PUSH, FX_REPO, FX_ALICE, CTX({"aws:SourceIp", {"203.0.113.9"}})), POLICY_IMPLICIT_DENY);
    policy_free(r);
    policy_free(i);
}

Test(ecr_examples, read_only_managed_policy_allows_pull_not_push)
{
    policy_t *i = fx_fixture("id_readonly.json", ID);
    cr_expect_eq(fx_decide(i, NULL, PULL, FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    cr_expect_eq(fx_decide(i, NULL, "ecr:GetAuthorizationToken", "*", FX_ALICE, NULL), POLICY_ALLOW);
    cr_expect_eq(fx_decide(i, NULL, PUSH, FX_REPO, FX_ALICE, NULL), POLICY_IMPLICIT_DENY);
    policy_free(i);
}

Test(ecr_examples, power_user_policy_allows_push_and_describe_wildcards)
{
    policy_t *i = fx_fixture("id_poweruser.json", ID);
    cr_expect_eq(fx_decide(i, NULL, PUSH, FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    cr_expect_eq(fx_decide(i, NULL, "ecr:DescribeImages", FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    cr_expect_eq(fx_decide(i, NULL, "ecr:DeleteRepository", FX_REPO, FX_ALICE, NULL), POLICY_IMPLICIT_DENY);
    policy_free(i);
}

Test(ecr_examples, identity_deny_for_prod_deletes_beats_its_own_allow)
{
    policy_t *i = fx_fixture("id_deny_delete.json", ID);
    const char *prod = "arn:aws:ecr:eu-west-1:123456789012:repository/prod/api";
    cr_expect_eq(fx_decide(i, NULL, "ecr:BatchDeleteImage", prod, FX_ALICE, NULL), POLICY_EXPLICIT_DENY);
    cr_expect_eq(fx_decide(i, NULL, "ecr:BatchDeleteImage", FX_REPO, FX_ALICE, NULL), POLICY_ALLOW);
    policy_free(i);
}

Test(ecr_examples, every_fixture_parses_as_its_kind_only)
{
    static const char *const repo[] = {"repo_allow_account_pull.json", "repo_allow_user_push_pull.json", "repo_deny_all.json",
                                       "repo_cross_account_pull.json", "repo_allow_role_pull.json",      "repo_public_read.json",
                                       "repo_codebuild_service.json",  "repo_deny_outside_network.json"};
    for (size_t k = 0; k < sizeof repo / sizeof repo[0]; k++) {
        policy_free(fx_fixture(repo[k], RES));
        cr_expect_not_null(fx_parse_error(fx_read(repo[k]), ID), "%s parsed as an identity policy", repo[k]);
    }
}
