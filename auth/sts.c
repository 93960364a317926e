/*
 * auth/sts.c — what STS and the ECS task roles ask of the identity store:
 * the role a session acts as, trust-policy evaluation (sts:AssumeRole by a
 * caller or by a service principal), iam:PassRole, and minting a role
 * session's credentials on berthd's own authority.
 *
 * Evaluation is the policies/ engine's, as for every request: the trust
 * policy is the role's resource policy, the resource is the role's ARN.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"

auth_identity_status_t auth_session_principal(storage_records_t *rs, const auth_keys_t *keys, const auth_session_t *s,
                                              auth_principal_t *role, auth_err_t *err)
{
    char arn[AUTH_PRINCIPAL_ARN_MAX + 1];
    auth_principal_arn(keys, s->role_name, true, arn);
    /* the ARN is the one the role was created with (the session copied it): exact lookup, never a scan */
    auth_identity_status_t r = auth_principal_get_stored(rs, arn, role, err);
    if (r == AUTH_IDENTITY_NOT_FOUND || (r == AUTH_IDENTITY_OK && (!role->is_role || strcmp(role->id, s->role_id) != 0))) {
        memset(role, 0, sizeof(*role));
        return iam_fail(err, AUTH_IDENTITY_NOT_FOUND, "the role %s of this session no longer exists", s->role_name);
    }
    return r;
}

/* A role's trust policy is not an ordinary resource policy: it must always
 * allow the caller. Naming the caller itself (its ARN, its role for a
 * session, "*", a service) it allows alone; naming only the caller's
 * account, the caller's identity policies must allow too — within one
 * account as IAM judges any resource policy across accounts. An identity
 * policy alone never lets anyone assume a role. So: a Deny anywhere denies;
 * the trust policy alone allowing allows; else the trust policy judged as
 * if across accounts (the role's ARN under another account id, with an
 * identity side that allows everything) must allow, and so must the
 * caller's identity policies. */
#define ALLOW_ALL "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"

/* role_arn with its account replaced by one that is not `account_id` */
static bool other_account_arn(const char *role_arn, const char *account_id, char *out, size_t cap)
{
    const char *p = role_arn;
    for (int colons = 0; colons < 4; p++) {
        if (*p == '\0')
            return false;
        if (*p == ':')
            colons++;
    }
    const char *end = strchr(p, ':');
    if (!end)
        return false;
    const char *other = account_id && strcmp(account_id, "000000000000") == 0 ? "111111111111" : "000000000000";
    return (size_t)snprintf(out, cap, "%.*s%s%s", (int)(p - role_arn), role_arn, other, end) < cap;
}

policy_decision_t auth_trust_evaluate(const auth_role_trust_t *trust, const char *role_arn, const char *account_id,
                                      const policy_named_t *identity, size_t n_identity, const char *action,
                                      const char *principal_arn, const policy_context_entry_t *ctx, size_t n_ctx,
                                      policy_result_t *out)
{
    policy_result_t local;
    if (!out)
        out = &local;
    memset(out, 0, sizeof(*out));
    out->decision = POLICY_IMPLICIT_DENY;
    out->sid = "";
    if (trust->trust_len == 0) {
        snprintf(out->reason, sizeof(out->reason), "denied: the role %s has no trust policy", role_arn);
        return POLICY_IMPLICIT_DENY;
    }
    policy_err_t perr;
    policy_t *p = policy_parse(trust->trust, trust->trust_len, POLICY_KIND_RESOURCE, &perr);
    policy_t *all = policy_parse(ALLOW_ALL, sizeof(ALLOW_ALL) - 1, POLICY_KIND_IDENTITY, &perr);
    if (!p || !all) {
        policy_free(p);
        policy_free(all);
        snprintf(out->reason, sizeof(out->reason), "denied: the trust policy of %s cannot be read: %s", role_arn, perr.msg);
        return POLICY_IMPLICIT_DENY;
    }
    policy_named_t named = {.name = "trust policy", .policy = p}, everything = {.name = "(any identity policy)", .policy = all};
    policy_request_t req = {.action = action,
                            .resource = role_arn,
                            .principal_arn = principal_arn,
                            .principal_account = account_id,
                            .context = ctx,
                            .n_context = n_ctx};
    policy_result_t scratch;
    policy_decision_t d = policy_evaluate(identity, n_identity, &named, &req, out);
    if (d != POLICY_EXPLICIT_DENY && policy_evaluate(NULL, 0, &named, &req, &scratch) != POLICY_ALLOW) {
        /* not named itself: the account must be named, and the caller's own policies allow */
        char elsewhere[AUTH_PRINCIPAL_ARN_MAX + 16];
        policy_request_t across = req;
        across.resource = elsewhere;
        bool account_named = other_account_arn(role_arn, account_id, elsewhere, sizeof(elsewhere)) &&
                             policy_evaluate(&everything, 1, &named, &across, &scratch) == POLICY_ALLOW;
        bool identity_allows = policy_evaluate(identity, n_identity, NULL, &req, &scratch) == POLICY_ALLOW;
        if (!account_named || !identity_allows) {
            d = POLICY_IMPLICIT_DENY;
            out->decision = d;
            snprintf(out->reason, sizeof(out->reason), "denied: the trust policy of %s %s", role_arn,
                     account_named ? "names the caller's account only, and none of the caller's identity policies allows "
                                     "sts:AssumeRole on it"
                                   : "does not name the caller or its account");
        }
    }
    /* the explanation points into the policies freed below: keep only the decision and the reason */
    out->policy_name = NULL;
    out->sid = "";
    policy_free(p);
    policy_free(all);
    return d;
}

auth_identity_status_t auth_role_trusts_service(storage_records_t *rs, const char *role_arn, const char *service, bool *allowed,
                                                auth_err_t *err)
{
    *allowed = false;
    auth_principal_t role;
    auth_role_trust_t *trust = malloc(sizeof(*trust));
    if (!trust)
        return iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "out of memory");
    auth_identity_status_t r = auth_role_get(rs, role_arn, &role, trust, err);
    if (r == AUTH_IDENTITY_OK) {
        policy_result_t res;
        /* a service principal belongs to no account: only a statement naming it can allow */
        *allowed = auth_trust_evaluate(trust, role.arn, NULL, NULL, 0, "sts:AssumeRole", service, NULL, 0, &res) == POLICY_ALLOW;
    }
    free(trust);
    return r;
}

auth_identity_status_t auth_pass_role_allowed(storage_records_t *rs, const auth_principal_t *caller, const char *role_arn,
                                              const char *service, bool *allowed, policy_result_t *out, auth_err_t *err)
{
    *allowed = false;
    policy_t *parsed[AUTH_MAX_ATTACHED_POLICIES];
    policy_named_t named[AUTH_MAX_ATTACHED_POLICIES];
    size_t n = 0;
    auth_identity_status_t r = AUTH_IDENTITY_OK;
    for (size_t i = 0; i < caller->n_policies && i < AUTH_MAX_ATTACHED_POLICIES; i++) {
        const char *doc;
        size_t len;
        auth_identity_status_t s = auth_policy_get(rs, caller->policies[i], &doc, &len, err);
        if (s == AUTH_IDENTITY_NOT_FOUND)
            continue; /* detached meanwhile: grants nothing */
        if (s != AUTH_IDENTITY_OK) {
            r = s;
            break;
        }
        policy_err_t perr;
        /* a stored document that no longer parses grants nothing, as on the request path */
        if (!(parsed[n] = policy_parse(doc, len, POLICY_KIND_IDENTITY, &perr)))
            continue;
        named[n].name = caller->policies[i];
        named[n].policy = parsed[n];
        n++;
    }
    /* The role's ARN as created, when it exists under another case: roles are
     * found whatever the case of their name (auth_role_get), so a Deny on
     * "role/admin" must also stop "role/ADMIN", which names the same role. */
    char canonical[AUTH_PRINCIPAL_ARN_MAX + 1] = "";
    if (r == AUTH_IDENTITY_OK) {
        auth_principal_t *role = malloc(sizeof(*role));
        if (!role) {
            r = iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "out of memory");
        } else {
            auth_identity_status_t s = auth_principal_get_stored(rs, role_arn, role, err);
            if (s == AUTH_IDENTITY_NOT_FOUND)
                s = auth_principal_get(rs, role_arn, role, err);
            if (s == AUTH_IDENTITY_OK && role->is_role && strcmp(role->arn, role_arn) != 0)
                snprintf(canonical, sizeof(canonical), "%s", role->arn);
            else if (s != AUTH_IDENTITY_OK && s != AUTH_IDENTITY_NOT_FOUND)
                r = s;
            free(role);
        }
    }
    if (r == AUTH_IDENTITY_OK) {
        const char *const v_service[] = {service}, *const v_parn[] = {caller->arn};
        policy_context_entry_t ctx[2] = {{"aws:PrincipalArn", v_parn, 1}, {"iam:PassedToService", v_service, 1}};
        policy_request_t req = {.action = "iam:PassRole",
                                .resource = role_arn,
                                .principal_arn = caller->arn,
                                .context = ctx,
                                .n_context = service ? 2 : 1};
        policy_result_t local;
        policy_decision_t d = policy_evaluate(named, n, NULL, &req, out ? out : &local);
        if (d == POLICY_ALLOW && canonical[0]) {
            /* both names must be allowed: the one given and the role's own */
            req.resource = canonical;
            d = policy_evaluate(named, n, NULL, &req, out ? out : &local);
        }
        *allowed = d == POLICY_ALLOW;
        if (out) /* the names point into this frame's copies: keep the decision and reason only */
            out->policy_name = NULL, out->sid = "";
    }
    for (size_t i = 0; i < n; i++)
        policy_free(parsed[i]);
    return r;
}

auth_identity_status_t auth_role_session_mint(storage_records_t *rs, const auth_keys_t *keys, const char *role_arn,
                                              const char *session_name, int64_t duration_seconds, int64_t now,
                                              auth_session_credentials_t *out, auth_session_t *session, auth_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (!auth_session_name_valid(session_name))
        return iam_fail(err, AUTH_IDENTITY_INVALID, "a role session name is %d to %d characters of [A-Za-z0-9_+=,.@-]",
                        AUTH_SESSION_NAME_MIN, AUTH_SESSION_NAME_MAX);
    auth_principal_t role;
    auth_role_trust_t *trust = malloc(sizeof(*trust));
    if (!trust)
        return iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "out of memory");
    auth_identity_status_t r = auth_role_get(rs, role_arn, &role, trust, err);
    int64_t max = trust->max_session_seconds;
    free(trust);
    if (r != AUTH_IDENTITY_OK)
        return r;
    if (duration_seconds < AUTH_SESSION_MIN_SECONDS || duration_seconds > max)
        return iam_fail(err, AUTH_IDENTITY_INVALID, "a session of %s lasts %d to %lld seconds, not %lld", role.name,
                        AUTH_SESSION_MIN_SECONDS, (long long)max, (long long)duration_seconds);
    auth_session_t s = {.issued_at = now, .expires_at = now + duration_seconds};
    snprintf(s.role_name, sizeof(s.role_name), "%s", role.name);
    snprintf(s.role_id, sizeof(s.role_id), "%s", role.id);
    snprintf(s.session_name, sizeof(s.session_name), "%s", session_name);
    auth_err_t ierr = {{0}};
    if (auth_session_issue(keys->master_key, &s, out, &ierr) != AUTH_OK)
        return iam_fail(err, AUTH_IDENTITY_STORE_ERROR, "cannot mint temporary credentials: %s", ierr.msg);
    if (session)
        *session = s;
    return AUTH_IDENTITY_OK;
}
