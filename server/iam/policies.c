/*
 * IAM's managed policies over the query protocol: CreatePolicy, GetPolicy,
 * DeletePolicy, ListPolicies, and attaching them to users and roles
 * (`aws iam attach-user-policy --policy-arn arn:aws:iam::<account>:policy/<name>`).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"

/* The policy name of "arn:aws:iam::<this account>:policy/<name>"; NULL after sending the error. */
static const char *policy_name_of_arn(aws_req_t *a, const char *arn)
{
    char prefix[64];
    int n = snprintf(prefix, sizeof(prefix), "arn:aws:iam::%s:policy/", a->srv->keys.account_id);
    if (strncmp(arn, prefix, (size_t)n) != 0 || !arn[n]) {
        aws_send_error(a, 400, "InvalidInput", "PolicyArn must be arn:aws:iam::%s:policy/<name> (a policy of this account)",
                       a->srv->keys.account_id);
        return NULL;
    }
    return arn + n;
}

static json_t *policy_json(const auth_policy_info_t *p, size_t attachments)
{
    char created[32], updated[32];
    iam_format_date(p->created, created);
    iam_format_date(p->updated, updated);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:b,s:s,s:s}", "PolicyName", p->name, "PolicyId", p->name, "Arn", p->arn, "Path",
                     "/", "DefaultVersionId", "v1", "AttachmentCount", (json_int_t)attachments, "IsAttachable", 1, "CreateDate",
                     created, "UpdateDate", updated);
}

static void policy_created(aws_req_t *a, auth_identity_status_t s, const auth_change_t *c, const auth_err_t *err,
                           const char *const keep[2])
{
    (void)c;
    if (s != AUTH_IDENTITY_OK) {
        iam_send_identity_error(a, s, err);
        return;
    }
    auth_policy_info_t p = {.created = (int64_t)time(NULL), .updated = (int64_t)time(NULL)};
    snprintf(p.name, sizeof(p.name), "%s", keep[0]);
    snprintf(p.arn, sizeof(p.arn), "%s", keep[1]);
    aws_send_result(a, json_pack("{s:o?}", "Policy", policy_json(&p, 0)));
}

static void create_policy(aws_req_t *a)
{
    const char *name = aws_param_string(a, "PolicyName", true);
    const char *doc = name ? aws_param_string(a, "PolicyDocument", true) : NULL;
    if (!doc || !iam_path_param(a))
        return;
    char arn[AUTH_PRINCIPAL_ARN_MAX + 1];
    snprintf(arn, sizeof(arn), "arn:aws:iam::%s:policy/%s", a->srv->keys.account_id, name);
    if (!aws_allowed_arn(a, "iam:CreatePolicy", arn))
        return;
    auth_err_t err;
    auth_identity_status_t s;
    auth_change_t *c = auth_change_policy_put(&a->srv->keys, name, doc, strlen(doc), true, &s, &err);
    iam_submit(a, c, s, &err, policy_created, name, arn);
}

/* The policy named by PolicyArn after checking `action` on it; false after sending the error. */
static bool target_policy(aws_req_t *a, const char *action, auth_policy_info_t *out)
{
    const char *arn = aws_param_string(a, "PolicyArn", true);
    const char *name = arn ? policy_name_of_arn(a, arn) : NULL;
    if (!name)
        return false;
    /* looked up before authorizing, so the action is authorized on the ARN as
     * created whatever the case asked for (as iam_target_principal) */
    auth_err_t err;
    auth_identity_status_t s = auth_policy_info(storage_reader_records(a->rd), name, out, &err);
    if (!aws_allowed_arn(a, action, s == AUTH_IDENTITY_OK ? out->arn : arn))
        return false;
    if (s != AUTH_IDENTITY_OK) {
        if (s == AUTH_IDENTITY_NOT_FOUND)
            snprintf(err.msg, sizeof(err.msg), "Policy %.200s does not exist or is not attachable.", arn);
        iam_send_identity_error(a, s, &err);
        return false;
    }
    return true;
}

static void get_policy(aws_req_t *a)
{
    auth_policy_info_t p;
    if (target_policy(a, "iam:GetPolicy", &p))
        aws_send_result(a, json_pack("{s:o?}", "Policy", policy_json(&p, 0)));
}

static void delete_policy(aws_req_t *a)
{
    auth_policy_info_t p;
    if (!target_policy(a, "iam:DeletePolicy", &p))
        return;
    auth_err_t err;
    auth_identity_status_t s;
    auth_change_t *c = auth_change_policy_delete(p.name, &s, &err);
    iam_submit(a, c, s, &err, iam_changed, NULL, NULL);
}

static bool member_of_policy(void *ctx, const auth_policy_info_t *p)
{
    return json_array_append_new(ctx, policy_json(p, 0)) == 0;
}

static void list_policies(aws_req_t *a)
{
    char arn[AUTH_PRINCIPAL_ARN_MAX + 1];
    snprintf(arn, sizeof(arn), "arn:aws:iam::%s:policy/*", a->srv->keys.account_id);
    if (!aws_allowed_arn(a, "iam:ListPolicies", arn))
        return;
    json_t *members = json_array();
    auth_err_t err = {"out of memory"};
    auth_identity_status_t s =
        members ? auth_policies_list(storage_reader_records(a->rd), member_of_policy, members, &err) : AUTH_IDENTITY_STORE_ERROR;
    if (s != AUTH_IDENTITY_OK) {
        json_decref(members);
        iam_send_identity_error(a, s, &err);
        return;
    }
    aws_send_result(a, json_pack("{s:o,s:b}", "Policies", members, "IsTruncated", 0));
}

static void attach(aws_req_t *a, bool role, bool on)
{
    const char *name = aws_param_string(a, role ? "RoleName" : "UserName", true);
    const char *parn = name ? aws_param_string(a, "PolicyArn", true) : NULL;
    const char *policy = parn ? policy_name_of_arn(a, parn) : NULL;
    if (!policy)
        return;
    char arn[AUTH_PRINCIPAL_ARN_MAX + 1];
    auth_principal_arn(&a->srv->keys, name, role, arn);
    /* names are found whatever their case: authorize on the principal's ARN
     * as created, and attach the policy by its name as created */
    storage_records_t *rs = storage_reader_records(a->rd);
    auth_principal_t p;
    auth_policy_info_t info;
    if (auth_principal_get(rs, arn, &p, NULL) == AUTH_IDENTITY_OK)
        snprintf(arn, sizeof(arn), "%s", p.arn);
    if (auth_policy_info(rs, policy, &info, NULL) == AUTH_IDENTITY_OK)
        policy = h2o_strdup(&a->req->pool, info.name, SIZE_MAX).base;
    static const char *const actions[2][2] = {{"iam:DetachUserPolicy", "iam:AttachUserPolicy"},
                                              {"iam:DetachRolePolicy", "iam:AttachRolePolicy"}};
    if (!aws_allowed_arn(a, actions[role][on], arn))
        return;
    auth_err_t err;
    auth_identity_status_t s;
    auth_change_t *c = auth_change_policy_attach(&a->srv->keys, arn, policy, on, &s, &err);
    iam_submit(a, c, s, &err, iam_changed, NULL, NULL);
}

static void attach_user_policy(aws_req_t *a)
{
    attach(a, false, true);
}
static void detach_user_policy(aws_req_t *a)
{
    attach(a, false, false);
}
static void attach_role_policy(aws_req_t *a)
{
    attach(a, true, true);
}
static void detach_role_policy(aws_req_t *a)
{
    attach(a, true, false);
}

static void list_attached(aws_req_t *a, bool role)
{
    auth_principal_t p;
    if (!iam_target_principal(a, role ? "RoleName" : "UserName", role, true,
                              role ? "iam:ListAttachedRolePolicies" : "iam:ListAttachedUserPolicies", &p))
        return;
    json_t *members = json_array();
    for (size_t i = 0; members && i < p.n_policies; i++) {
        char parn[AUTH_PRINCIPAL_ARN_MAX + 1];
        snprintf(parn, sizeof(parn), "arn:aws:iam::%s:policy/%s", a->srv->keys.account_id, p.policies[i]);
        if (json_array_append_new(members, json_pack("{s:s,s:s}", "PolicyName", p.policies[i], "PolicyArn", parn)) != 0) {
            json_decref(members);
            members = NULL;
        }
    }
    aws_send_result(a, members ? json_pack("{s:o,s:b}", "AttachedPolicies", members, "IsTruncated", 0) : NULL);
}

static void list_attached_user_policies(aws_req_t *a)
{
    list_attached(a, false);
}
static void list_attached_role_policies(aws_req_t *a)
{
    list_attached(a, true);
}

const aws_operation_t iam_policy_operations[] = {
    {"iam", "CreatePolicy", "iam", create_policy},
    {"iam", "GetPolicy", "iam", get_policy},
    {"iam", "DeletePolicy", "iam", delete_policy},
    {"iam", "ListPolicies", "iam", list_policies},
    {"iam", "AttachUserPolicy", "iam", attach_user_policy},
    {"iam", "DetachUserPolicy", "iam", detach_user_policy},
    {"iam", "AttachRolePolicy", "iam", attach_role_policy},
    {"iam", "DetachRolePolicy", "iam", detach_role_policy},
    {"iam", "ListAttachedUserPolicies", "iam", list_attached_user_policies},
    {"iam", "ListAttachedRolePolicies", "iam", list_attached_role_policies},
    {NULL, NULL, NULL, NULL},
};
