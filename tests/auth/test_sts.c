/* Roles' trust policies, iam:PassRole, and role sessions minted on berthd's
 * own authority — on a real LMDB store in a temp dir. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "tests/storage/helpers.h"

#define NOW INT64_C(1795856400)

static char dir[256];
static storage_t *st;
static auth_keys_t keys;
static auth_identity_status_t made;

static void setup(void)
{
    st = test_store_open(dir, sizeof(dir));
    bool created;
    auth_err_t err;
    cr_assert_eq(auth_bootstrap(st, dir, &keys, &created, &err), AUTH_IDENTITY_OK, "%s", err.msg);
}

static void teardown(void)
{
    test_store_close(st, dir);
}

TestSuite(sts, .init = setup, .fini = teardown);

static auth_identity_status_t run(auth_change_t *c, auth_err_t *err)
{
    if (!c)
        return made;
    auth_identity_status_t s = auth_change_run(st, c, err);
    auth_change_free(c);
    return s;
}

static char *arn_of(const char *name, bool role)
{
    static char buf[4][AUTH_PRINCIPAL_ARN_MAX + 1];
    static int next;
    char *out = buf[next++ % 4];
    auth_principal_arn(&keys, name, role, out);
    return out;
}

/* A trust policy allowing sts:AssumeRole to `principal` (a JSON value: "…" or {"AWS": …}). */
static const char *trust_of(const char *principal_json)
{
    static char doc[1024];
    snprintf(doc, sizeof(doc),
             "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":%s,\"Action\":\"sts:AssumeRole\"}]}",
             principal_json);
    return doc;
}

static auth_identity_status_t role_create(const char *name, const char *trust, int64_t max, auth_err_t *err)
{
    return run(auth_change_role_create(&keys, name, trust, strlen(trust), max, &made, err), err);
}

static void user_create(const char *name)
{
    auth_err_t err;
    cr_assert_eq(run(auth_change_user_create(&keys, name, false, &made, &err), &err), AUTH_IDENTITY_OK, "%s", err.msg);
}

static void policy_attach(const char *principal_arn, const char *policy, const char *doc)
{
    auth_err_t err;
    auth_identity_status_t s = run(auth_change_policy_put(&keys, policy, doc, strlen(doc), false, &made, &err), &err);
    cr_assert_eq(s, AUTH_IDENTITY_OK, "%s", err.msg);
    s = run(auth_change_policy_attach(&keys, principal_arn, policy, true, &made, &err), &err);
    cr_assert_eq(s, AUTH_IDENTITY_OK, "%s", err.msg);
}

static auth_principal_t principal(const char *arn)
{
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    auth_principal_t p;
    auth_err_t err;
    cr_assert_eq(auth_principal_get(storage_reader_records(rd), arn, &p, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    storage_reader_end(rd);
    return p;
}

/* sts:AssumeRole of `role` by `caller_arn` with the caller's identity policies as stored. */
static policy_decision_t may_assume(const char *role, const char *caller_arn, const auth_principal_t *caller)
{
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    storage_records_t *rs = storage_reader_records(rd);
    auth_principal_t r;
    auth_role_trust_t *trust = malloc(sizeof(*trust));
    auth_err_t err;
    cr_assert_eq(auth_role_get(rs, arn_of(role, true), &r, trust, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    policy_t *parsed[AUTH_MAX_ATTACHED_POLICIES];
    policy_named_t named[AUTH_MAX_ATTACHED_POLICIES];
    size_t n = 0;
    for (size_t i = 0; caller && i < caller->n_policies; i++) {
        const char *doc;
        size_t len;
        cr_assert_eq(auth_policy_get(rs, caller->policies[i], &doc, &len, &err), AUTH_IDENTITY_OK);
        parsed[n] = policy_parse(doc, len, POLICY_KIND_IDENTITY, NULL);
        cr_assert_not_null(parsed[n]);
        named[n] = (policy_named_t){caller->policies[i], parsed[n]};
        n++;
    }
    policy_result_t res;
    policy_decision_t d = auth_trust_evaluate(trust, r.arn, keys.account_id, named, n, "sts:AssumeRole", caller_arn, NULL, 0, &res);
    for (size_t i = 0; i < n; i++)
        policy_free(parsed[i]);
    free(trust);
    storage_reader_end(rd);
    return d;
}

Test(sts, a_role_keeps_its_trust_policy_and_max_session_duration)
{
    auth_err_t err;
    const char *trust = trust_of("{\"Service\":\"ecs-tasks.amazonaws.com\"}");
    cr_assert_eq(role_create("task", trust, 7200, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(role_create("plain", trust, 0, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    auth_principal_t r;
    auth_role_trust_t *t = malloc(sizeof(*t));
    cr_assert_eq(auth_role_get(storage_reader_records(rd), arn_of("TASK", true), &r, t, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_str_eq(r.name, "task");
    cr_assert(r.is_role);
    cr_assert_str_eq(t->trust, trust);
    cr_assert_eq(t->trust_len, strlen(trust));
    cr_assert_eq(t->max_session_seconds, 7200);
    cr_assert_eq(auth_role_get(storage_reader_records(rd), arn_of("plain", true), &r, t, &err), AUTH_IDENTITY_OK);
    cr_assert_eq(t->max_session_seconds, AUTH_ROLE_DEFAULT_MAX_SESSION_SECONDS);
    cr_assert_eq(auth_role_get(storage_reader_records(rd), arn_of("nobody", true), &r, t, &err), AUTH_IDENTITY_NOT_FOUND);
    /* a user is not a role */
    cr_assert_eq(auth_role_get(storage_reader_records(rd), arn_of("admin", false), &r, t, &err), AUTH_IDENTITY_NOT_FOUND);
    storage_reader_end(rd);
    free(t);
}

Test(sts, a_role_with_a_malformed_trust_policy_or_session_limit_is_not_created)
{
    auth_err_t err;
    cr_assert_eq(role_create("r", "{\"Statement\":[]", 0, &err), AUTH_IDENTITY_INVALID);
    cr_assert(strncmp(err.msg, "MalformedPolicyDocument: ", 25) == 0, "%s", err.msg);
    /* a trust policy is a resource policy: it names a Principal */
    cr_assert_eq(role_create("r",
                             "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\"}]}", 0,
                             &err),
                 AUTH_IDENTITY_INVALID);
    cr_assert_eq(role_create("r", trust_of("\"*\""), 3599, &err), AUTH_IDENTITY_INVALID);
    cr_assert_eq(role_create("r", trust_of("\"*\""), 43201, &err), AUTH_IDENTITY_INVALID);
    cr_assert_eq(role_create("bad/name", trust_of("\"*\""), 0, &err), AUTH_IDENTITY_INVALID);
    cr_assert_eq(role_create("r", trust_of("\"*\""), 43200, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(role_create("R", trust_of("\"*\""), 0, &err), AUTH_IDENTITY_EXISTS);
}

Test(sts, a_trust_policy_naming_the_user_lets_it_assume_without_an_identity_policy)
{
    auth_err_t err;
    user_create("alice");
    user_create("bob");
    char p[300];
    snprintf(p, sizeof(p), "{\"AWS\":\"%s\"}", arn_of("alice", false));
    cr_assert_eq(role_create("r", trust_of(p), 0, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    auth_principal_t alice = principal(arn_of("alice", false)), bob = principal(arn_of("bob", false));
    cr_assert_eq(may_assume("r", alice.arn, &alice), POLICY_ALLOW);
    cr_assert_eq(may_assume("r", bob.arn, &bob), POLICY_IMPLICIT_DENY);
    /* bob allowed by his identity policy is still not named by the trust policy */
    policy_attach(
        bob.arn, "assume",
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\",\"Resource\":\"*\"}]}");
    bob = principal(bob.arn);
    cr_assert_eq(may_assume("r", bob.arn, &bob), POLICY_IMPLICIT_DENY);
}

Test(sts, a_trust_policy_naming_the_account_needs_an_identity_policy_too_and_a_deny_wins)
{
    auth_err_t err;
    user_create("alice");
    char p[300];
    snprintf(p, sizeof(p), "{\"AWS\":\"arn:aws:iam::%s:root\"}", keys.account_id);
    cr_assert_eq(role_create("r", trust_of(p), 0, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    snprintf(p, sizeof(p), "{\"AWS\":\"%s\"}", keys.account_id);
    cr_assert_eq(role_create("r2", trust_of(p), 0, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    auth_principal_t alice = principal(arn_of("alice", false));
    cr_assert_eq(may_assume("r", alice.arn, &alice), POLICY_IMPLICIT_DENY);
    char allow[400];
    snprintf(
        allow, sizeof(allow),
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\",\"Resource\":\"%s\"}]}",
        arn_of("r", true));
    policy_attach(alice.arn, "assume-r", allow);
    alice = principal(alice.arn);
    cr_assert_eq(may_assume("r", alice.arn, &alice), POLICY_ALLOW);
    cr_assert_eq(may_assume("r2", alice.arn, &alice), POLICY_IMPLICIT_DENY); /* her policy names r only */
    policy_attach(alice.arn, "deny-all",
                  "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"sts:*\",\"Resource\":\"*\"}]}");
    alice = principal(alice.arn);
    cr_assert_eq(may_assume("r", alice.arn, &alice), POLICY_EXPLICIT_DENY);
}

Test(sts, a_trust_policy_naming_a_role_lets_that_roles_sessions_assume)
{
    auth_err_t err;
    char p[300];
    cr_assert_eq(role_create("base", trust_of("\"*\""), 0, &err), AUTH_IDENTITY_OK);
    snprintf(p, sizeof(p), "{\"AWS\":\"%s\"}", arn_of("base", true));
    cr_assert_eq(role_create("next", trust_of(p), 0, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    char session[AUTH_SESSION_ARN_MAX + 1], other[AUTH_SESSION_ARN_MAX + 1];
    snprintf(session, sizeof(session), "arn:aws:sts::%s:assumed-role/base/s1", keys.account_id);
    snprintf(other, sizeof(other), "arn:aws:sts::%s:assumed-role/next/s1", keys.account_id);
    cr_assert_eq(may_assume("next", session, NULL), POLICY_ALLOW);
    cr_assert_eq(may_assume("next", other, NULL), POLICY_IMPLICIT_DENY);
}

Test(sts, a_service_principal_is_trusted_only_where_the_trust_policy_names_it)
{
    auth_err_t err;
    cr_assert_eq(role_create("task", trust_of("{\"Service\":\"ecs-tasks.amazonaws.com\"}"), 0, &err), AUTH_IDENTITY_OK);
    cr_assert_eq(role_create("instance", trust_of("{\"Service\":[\"ec2.amazonaws.com\"]}"), 0, &err), AUTH_IDENTITY_OK);
    char p[300];
    snprintf(p, sizeof(p), "{\"AWS\":\"%s\"}", keys.account_id);
    cr_assert_eq(role_create("account", trust_of(p), 0, &err), AUTH_IDENTITY_OK);
    cr_assert_eq(
        role_create(
            "denied",
            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"ecs-tasks.amazonaws."
            "com\"},\"Action\":\"sts:AssumeRole\"},{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"sts:AssumeRole\"}]}",
            0, &err),
        AUTH_IDENTITY_OK, "%s", err.msg);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    storage_records_t *rs = storage_reader_records(rd);
    bool allowed = false;
    cr_assert_eq(auth_role_trusts_service(rs, arn_of("task", true), "ecs-tasks.amazonaws.com", &allowed, &err), AUTH_IDENTITY_OK);
    cr_assert(allowed);
    cr_assert_eq(auth_role_trusts_service(rs, arn_of("task", true), "ec2.amazonaws.com", &allowed, &err), AUTH_IDENTITY_OK);
    cr_assert_not(allowed);
    cr_assert_eq(auth_role_trusts_service(rs, arn_of("instance", true), "ecs-tasks.amazonaws.com", &allowed, &err),
                 AUTH_IDENTITY_OK);
    cr_assert_not(allowed);
    /* naming the account does not trust a service */
    cr_assert_eq(auth_role_trusts_service(rs, arn_of("account", true), "ecs-tasks.amazonaws.com", &allowed, &err),
                 AUTH_IDENTITY_OK);
    cr_assert_not(allowed);
    cr_assert_eq(auth_role_trusts_service(rs, arn_of("denied", true), "ecs-tasks.amazonaws.com", &allowed, &err), AUTH_IDENTITY_OK);
    cr_assert_not(allowed);
    cr_assert_eq(auth_role_trusts_service(rs, arn_of("none", true), "ecs-tasks.amazonaws.com", &allowed, &err),
                 AUTH_IDENTITY_NOT_FOUND);
    cr_assert_not(allowed);
    storage_reader_end(rd);
}

Test(sts, updating_the_trust_policy_changes_who_may_assume)
{
    auth_err_t err;
    cr_assert_eq(role_create("task", trust_of("{\"Service\":\"ec2.amazonaws.com\"}"), 0, &err), AUTH_IDENTITY_OK);
    const char *t = trust_of("{\"Service\":\"ecs-tasks.amazonaws.com\"}");
    cr_assert_eq(run(auth_change_role_trust_set("TASK", t, strlen(t), &made, &err), &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(run(auth_change_role_trust_set("gone", t, strlen(t), &made, &err), &err), AUTH_IDENTITY_NOT_FOUND);
    cr_assert_eq(run(auth_change_role_trust_set("task", "{}", 2, &made, &err), &err), AUTH_IDENTITY_INVALID);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    bool allowed = false;
    cr_assert_eq(
        auth_role_trusts_service(storage_reader_records(rd), arn_of("task", true), "ecs-tasks.amazonaws.com", &allowed, &err),
        AUTH_IDENTITY_OK);
    cr_assert(allowed);
    storage_reader_end(rd);
}

static bool pass_role(const char *user, const char *role, const char *service)
{
    auth_principal_t u = principal(arn_of(user, false));
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    bool allowed = true;
    auth_err_t err;
    policy_result_t res;
    cr_assert_eq(auth_pass_role_allowed(storage_reader_records(rd), &u, arn_of(role, true), service, &allowed, &res, &err),
                 AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_eq(allowed, res.decision == POLICY_ALLOW);
    storage_reader_end(rd);
    return allowed;
}

Test(sts, pass_role_is_decided_by_the_callers_identity_policies_with_the_service_it_goes_to)
{
    user_create("deployer");
    user_create("nobody");
    char doc[600];
    snprintf(doc, sizeof(doc),
             "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iam:PassRole\",\"Resource\":\"%s\","
             "\"Condition\":{\"StringEquals\":{\"iam:PassedToService\":\"ecs-tasks.amazonaws.com\"}}}]}",
             arn_of("app-*", true));
    policy_attach(arn_of("deployer", false), "pass-app", doc);
    cr_assert(pass_role("deployer", "app-web", "ecs-tasks.amazonaws.com"));
    cr_assert_not(pass_role("deployer", "app-web", "ec2.amazonaws.com"));
    cr_assert_not(pass_role("deployer", "app-web", NULL)); /* the condition's key is absent */
    cr_assert_not(pass_role("deployer", "admin-role", "ecs-tasks.amazonaws.com"));
    cr_assert_not(pass_role("nobody", "app-web", "ecs-tasks.amazonaws.com"));
    /* the administrator's AdministratorAccess covers it */
    cr_assert(pass_role("admin", "anything", "ecs-tasks.amazonaws.com"));
    policy_attach(
        arn_of("deployer", false), "no-pass",
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"iam:PassRole\",\"Resource\":\"*\"}]}");
    cr_assert_not(pass_role("deployer", "app-web", "ecs-tasks.amazonaws.com"));
}

Test(sts, a_minted_session_opens_to_its_role_until_the_role_is_deleted_or_made_again)
{
    auth_err_t err;
    cr_assert_eq(role_create("task", trust_of("{\"Service\":\"ecs-tasks.amazonaws.com\"}"), 7200, &err), AUTH_IDENTITY_OK);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    storage_records_t *rs = storage_reader_records(rd);
    auth_session_credentials_t c;
    auth_session_t s;
    cr_assert_eq(auth_role_session_mint(rs, &keys, arn_of("task", true), "task-1", 7200, NOW, &c, &s, &err), AUTH_IDENTITY_OK, "%s",
                 err.msg);
    cr_assert_eq(c.expires_at, NOW + 7200);
    cr_assert_str_eq(s.session_name, "task-1");
    /* out of range, a bad name, an unknown role */
    cr_assert_eq(auth_role_session_mint(rs, &keys, arn_of("task", true), "task-1", 7201, NOW, &c, NULL, &err),
                 AUTH_IDENTITY_INVALID);
    cr_assert_eq(c.token[0], '\0');
    cr_assert_eq(auth_role_session_mint(rs, &keys, arn_of("task", true), "task-1", 899, NOW, &c, NULL, &err),
                 AUTH_IDENTITY_INVALID);
    cr_assert_eq(auth_role_session_mint(rs, &keys, arn_of("task", true), "t", 900, NOW, &c, NULL, &err), AUTH_IDENTITY_INVALID);
    cr_assert_eq(auth_role_session_mint(rs, &keys, arn_of("gone", true), "task-1", 900, NOW, &c, NULL, &err),
                 AUTH_IDENTITY_NOT_FOUND);
    cr_assert_eq(auth_role_session_mint(rs, &keys, arn_of("task", true), "task-1", 900, NOW, &c, NULL, &err), AUTH_IDENTITY_OK);
    auth_session_t opened;
    char secret[AUTH_SECRET_KEY_LEN + 1];
    cr_assert_eq(auth_session_open(keys.master_key, c.access_key_id, c.token, strlen(c.token), NOW + 1, &opened, secret, &err),
                 AUTH_OK, "%s", err.msg);
    cr_assert_str_eq(secret, c.secret);
    auth_principal_t role;
    cr_assert_eq(auth_session_principal(rs, &keys, &opened, &role, &err), AUTH_IDENTITY_OK, "%s", err.msg);
    cr_assert_str_eq(role.arn, arn_of("task", true));
    storage_reader_end(rd);

    /* deleted: gone; created again under the same name: another role, still gone */
    cr_assert_eq(run(auth_change_user_delete("task", true, &made, &err), &err), AUTH_IDENTITY_OK, "%s", err.msg);
    rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_session_principal(storage_reader_records(rd), &keys, &opened, &role, &err), AUTH_IDENTITY_NOT_FOUND);
    storage_reader_end(rd);
    cr_assert_eq(role_create("task", trust_of("{\"Service\":\"ecs-tasks.amazonaws.com\"}"), 0, &err), AUTH_IDENTITY_OK);
    rd = storage_reader_begin(st, NULL);
    cr_assert_eq(auth_session_principal(storage_reader_records(rd), &keys, &opened, &role, &err), AUTH_IDENTITY_NOT_FOUND);
    cr_assert_eq(role.arn[0], '\0');
    storage_reader_end(rd);
}
