/*
 * IAM's users, roles and access keys over the query protocol, so that the
 * real AWS CLI manages them: `aws iam create-user --endpoint-url URL ...`.
 * Each operation: parameters → iam:<Operation> on the entity's ARN →
 * the identity store → IAM's XML.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"

void iam_format_date(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void iam_send_identity_error(aws_req_t *a, auth_identity_status_t s, const auth_err_t *err)
{
    switch (s) {
    case AUTH_IDENTITY_NOT_FOUND:
        aws_send_error(a, 404, "NoSuchEntity", "%s", err->msg);
        break;
    case AUTH_IDENTITY_EXISTS:
        aws_send_error(a, 409, "EntityAlreadyExists", "%s", err->msg);
        break;
    case AUTH_IDENTITY_CONFLICT:
        aws_send_error(a, 409, "DeleteConflict", "%s", err->msg);
        break;
    case AUTH_IDENTITY_LIMIT:
        aws_send_error(a, 409, "LimitExceeded", "%s", err->msg);
        break;
    case AUTH_IDENTITY_INVALID:
        if (strncmp(err->msg, "MalformedPolicyDocument: ", 25) == 0)
            aws_send_error(a, 400, "MalformedPolicyDocument", "%s", err->msg + 25);
        else
            aws_send_error(a, 400, "ValidationError", "%s", err->msg);
        break;
    default:
        aws_send_error(a, 500, "ServiceFailure", "%s", err->msg);
        break;
    }
}

/* A <User>/<Role> element's fields (or a list member's), as IAM orders them. */
static json_t *principal_json(const auth_principal_t *p)
{
    char date[32];
    iam_format_date(p->created, date);
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "Path", "/", p->is_role ? "RoleName" : "UserName", p->name,
                     p->is_role ? "RoleId" : "UserId", p->id, "Arn", p->arn, "CreateDate", date);
}

static void send_principal(aws_req_t *a, const auth_principal_t *p)
{
    aws_send_result(a, json_pack("{s:o?}", p->is_role ? "Role" : "User", principal_json(p)));
}

/* IAM sends a role's trust policy percent-encoded (RFC 3986), which the AWS
 * CLI and boto3 decode back to JSON. NULL: no memory. */
static json_t *url_encoded(const char *doc)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(doc);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *c = (const unsigned char *)doc; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("-._~", *c)) {
            *o++ = (char)*c;
        } else {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
    }
    *o = '\0';
    json_t *v = json_string(out);
    free(out);
    return v;
}

/* A role with its trust policy and MaxSessionDuration, as GetRole and CreateRole answer it. */
static void send_role(aws_req_t *a, const auth_principal_t *p, const char *trust, int64_t max_session)
{
    json_t *role = principal_json(p);
    if (role && (json_object_set_new(role, "AssumeRolePolicyDocument", url_encoded(trust)) != 0 ||
                 json_object_set_new(role, "MaxSessionDuration", json_integer(max_session)) != 0)) {
        json_decref(role);
        role = NULL;
    }
    aws_send_result(a, role ? json_pack("{s:o}", "Role", role) : NULL);
}

bool iam_target_principal(aws_req_t *a, const char *param, bool role, bool required, const char *action, auth_principal_t *out)
{
    const char *name = NULL;
    if (required ? !(name = aws_param_string(a, param, true)) : !aws_param_optional(a, param, &name))
        return false; /* the error is sent (an optional one malformed, too: never a second response) */
    char arn[AUTH_PRINCIPAL_ARN_MAX + 1];
    if (name)
        auth_principal_arn(&a->srv->keys, name, role, arn);
    else
        snprintf(arn, sizeof(arn), "%s", a->caller.principal.arn);
    /* looked up before authorizing: a name is found whatever its case, so the
     * action is authorized on the ARN as created (a Deny naming user/admin
     * must also refuse a request for ADMIN) */
    auth_err_t err;
    auth_identity_status_t s = auth_principal_get(storage_reader_records(a->rd), arn, out, &err);
    if (!aws_allowed_arn(a, action, s == AUTH_IDENTITY_OK ? out->arn : arn))
        return false;
    if (s != AUTH_IDENTITY_OK) {
        if (s == AUTH_IDENTITY_NOT_FOUND)
            snprintf(err.msg, sizeof(err.msg), "The %s with name %s cannot be found.", role ? "role" : "user",
                     name ? name : "(caller)");
        iam_send_identity_error(a, s, &err);
        return false;
    }
    return true;
}

/* keep: a new role's trust policy and MaxSessionDuration (as text); NULL for a user */
static void principal_created(aws_req_t *a, auth_identity_status_t s, const auth_change_t *c, const auth_err_t *err,
                              const char *const keep[2])
{
    if (s != AUTH_IDENTITY_OK)
        iam_send_identity_error(a, s, err);
    else if (keep[0] && keep[1])
        send_role(a, auth_change_principal(c), keep[0], strtoll(keep[1], NULL, 10));
    else
        send_principal(a, auth_change_principal(c));
}

void iam_changed(aws_req_t *a, auth_identity_status_t s, const auth_change_t *c, const auth_err_t *err, const char *const keep[2])
{
    (void)c, (void)keep;
    if (s != AUTH_IDENTITY_OK)
        iam_send_identity_error(a, s, err);
    else
        aws_send_result(a, json_object());
}

void iam_submit(aws_req_t *a, auth_change_t *c, auth_identity_status_t s, const auth_err_t *err, aws_change_done_cb done,
                const char *keep0, const char *keep1)
{
    if (!c)
        iam_send_identity_error(a, s, err);
    else
        aws_submit_change(a, c, done, keep0, keep1);
}

/* MaxSessionDuration: absent → 0 (the default); false after sending the error. */
static bool max_session_param(aws_req_t *a, int64_t *out)
{
    const char *v;
    *out = 0;
    if (!aws_param_optional(a, "MaxSessionDuration", &v))
        return false;
    if (!v)
        return true;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < 3600 || n > AUTH_SESSION_MAX_SECONDS) {
        aws_send_error(a, 400, "ValidationError",
                       "1 validation error detected: Value '%.40s' at 'maxSessionDuration' failed to satisfy constraint: Member "
                       "must have value from 3600 to 43200",
                       v);
        return false;
    }
    *out = (int64_t)n;
    return true;
}

bool iam_path_param(aws_req_t *a)
{
    const char *path;
    if (!aws_param_optional(a, "Path", &path))
        return false;
    if (!path || strcmp(path, "/") == 0)
        return true;
    size_t n = strlen(path);
    bool valid = n >= 2 && n <= 512 && path[0] == '/' && path[n - 1] == '/';
    for (size_t i = 0; valid && i < n; i++)
        valid = path[i] >= 0x21 && path[i] <= 0x7e;
    if (!valid)
        aws_send_error(a, 400, "ValidationError",
                       "1 validation error detected: Value '%.40s' at 'path' failed to satisfy constraint: Member must "
                       "satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
                       path);
    else /* ignoring it would give the entity another ARN than the caller's policies expect */
        aws_send_error(a, 400, "ValidationError",
                       "Path '%.40s': Berth keeps every user, role and policy at path / (its ARN has no path); leave Path out",
                       path);
    return false;
}

static void create_principal(aws_req_t *a, bool role)
{
    const char *name = aws_param_string(a, role ? "RoleName" : "UserName", true);
    if (!name || !iam_path_param(a))
        return;
    /* a role's trust policy: who may assume it (sts:AssumeRole), kept with the role */
    const char *trust = NULL;
    int64_t max_session = 0;
    if (role && !(trust = aws_param_string(a, "AssumeRolePolicyDocument", true)))
        return;
    if (role && !max_session_param(a, &max_session))
        return;
    char arn[AUTH_PRINCIPAL_ARN_MAX + 1];
    auth_principal_arn(&a->srv->keys, name, role, arn);
    if (!aws_allowed_arn(a, role ? "iam:CreateRole" : "iam:CreateUser", arn))
        return;
    auth_err_t err;
    auth_identity_status_t s;
    auth_change_t *c = role ? auth_change_role_create(&a->srv->keys, name, trust, strlen(trust), max_session, &s, &err)
                            : auth_change_user_create(&a->srv->keys, name, false, &s, &err);
    char max[24];
    snprintf(max, sizeof(max), "%lld", (long long)(max_session ? max_session : AUTH_ROLE_DEFAULT_MAX_SESSION_SECONDS));
    iam_submit(a, c, s, &err, principal_created, role ? trust : NULL, role ? max : NULL);
}

static void create_user(aws_req_t *a)
{
    create_principal(a, false);
}

static void create_role(aws_req_t *a)
{
    create_principal(a, true);
}

/* UpdateAssumeRolePolicy: iam:UpdateAssumeRolePolicy on the role's ARN. */
static void update_assume_role_policy(aws_req_t *a)
{
    const char *doc = aws_param_string(a, "PolicyDocument", true);
    auth_principal_t p;
    if (!doc || !iam_target_principal(a, "RoleName", true, true, "iam:UpdateAssumeRolePolicy", &p))
        return;
    auth_err_t err;
    auth_identity_status_t s;
    auth_change_t *c = auth_change_role_trust_set(p.name, doc, strlen(doc), &s, &err);
    iam_submit(a, c, s, &err, iam_changed, NULL, NULL);
}

static void get_principal(aws_req_t *a, bool role)
{
    auth_principal_t p;
    if (!iam_target_principal(a, role ? "RoleName" : "UserName", role, role, role ? "iam:GetRole" : "iam:GetUser", &p))
        return;
    if (!role) {
        send_principal(a, &p);
        return;
    }
    auth_role_trust_t *t = h2o_mem_alloc_pool(&a->req->pool, sizeof(*t));
    auth_err_t err;
    auth_identity_status_t s = auth_role_get(storage_reader_records(a->rd), p.arn, &p, t, &err);
    if (s != AUTH_IDENTITY_OK)
        iam_send_identity_error(a, s, &err);
    else
        send_role(a, &p, t->trust, t->max_session_seconds);
}

static void get_user(aws_req_t *a)
{
    get_principal(a, false);
}

static void get_role(aws_req_t *a)
{
    get_principal(a, true);
}

static void delete_principal(aws_req_t *a, bool role)
{
    auth_principal_t p;
    if (!iam_target_principal(a, role ? "RoleName" : "UserName", role, true, role ? "iam:DeleteRole" : "iam:DeleteUser", &p))
        return;
    auth_err_t err;
    auth_identity_status_t s;
    auth_change_t *c = auth_change_user_delete(p.name, role, &s, &err);
    iam_submit(a, c, s, &err, iam_changed, NULL, NULL);
}

static void delete_user(aws_req_t *a)
{
    delete_principal(a, false);
}

static void delete_role(aws_req_t *a)
{
    delete_principal(a, true);
}

static bool member_of_principal(void *ctx, const auth_principal_t *p)
{
    return json_array_append_new(ctx, principal_json(p)) == 0;
}

static void list_principals(aws_req_t *a, bool role)
{
    char arn[AUTH_PRINCIPAL_ARN_MAX + 1];
    auth_principal_arn(&a->srv->keys, "*", role, arn);
    if (!aws_allowed_arn(a, role ? "iam:ListRoles" : "iam:ListUsers", arn))
        return;
    json_t *members = json_array();
    auth_err_t err = {"out of memory"};
    auth_identity_status_t s = members
                                   ? auth_principals_list(storage_reader_records(a->rd), role, member_of_principal, members, &err)
                                   : AUTH_IDENTITY_STORE_ERROR;
    if (s != AUTH_IDENTITY_OK) {
        json_decref(members);
        iam_send_identity_error(a, s, &err);
        return;
    }
    aws_send_result(a, json_pack("{s:o,s:b}", role ? "Roles" : "Users", members, "IsTruncated", 0));
}

static void list_users(aws_req_t *a)
{
    list_principals(a, false);
}

static void list_roles(aws_req_t *a)
{
    list_principals(a, true);
}

static void access_key_created(aws_req_t *a, auth_identity_status_t s, const auth_change_t *c, const auth_err_t *err,
                               const char *const keep[2])
{
    if (s != AUTH_IDENTITY_OK) {
        iam_send_identity_error(a, s, err);
        return;
    }
    char date[32];
    iam_format_date((int64_t)time(NULL), date);
    aws_send_result(a, json_pack("{s:{s:s,s:s,s:s,s:s,s:s}}", "AccessKey", "UserName", keep[0], "AccessKeyId",
                                 auth_change_access_key_id(c), "Status", "Active", "SecretAccessKey", auth_change_secret(c),
                                 "CreateDate", date));
}

static void create_access_key(aws_req_t *a)
{
    auth_principal_t p;
    if (!iam_target_principal(a, "UserName", false, false, "iam:CreateAccessKey", &p))
        return;
    auth_err_t err;
    auth_identity_status_t s;
    auth_change_t *c = auth_change_access_key_create(&a->srv->keys, p.arn, &s, &err);
    iam_submit(a, c, s, &err, access_key_created, p.name, NULL);
}

static void delete_access_key(aws_req_t *a)
{
    const char *id = aws_param_string(a, "AccessKeyId", true);
    auth_principal_t p;
    if (!id || !iam_target_principal(a, "UserName", false, false, "iam:DeleteAccessKey", &p))
        return;
    bool owned = false;
    for (size_t i = 0; i < p.n_keys; i++)
        owned |= strcmp(p.keys[i], id) == 0;
    auth_err_t err;
    if (!owned) {
        snprintf(err.msg, sizeof(err.msg), "The Access Key with id %.40s cannot be found.", id);
        iam_send_identity_error(a, AUTH_IDENTITY_NOT_FOUND, &err);
        return;
    }
    auth_identity_status_t s;
    auth_change_t *c = auth_change_access_key_delete(id, &s, &err);
    iam_submit(a, c, s, &err, iam_changed, NULL, NULL);
}

static void list_access_keys(aws_req_t *a)
{
    auth_principal_t p;
    if (!iam_target_principal(a, "UserName", false, false, "iam:ListAccessKeys", &p))
        return;
    json_t *members = json_array();
    for (size_t i = 0; members && i < p.n_keys; i++) {
        auth_access_key_info_t k;
        auth_err_t err;
        if (auth_access_key_info(storage_reader_records(a->rd), p.keys[i], &k, &err) != AUTH_IDENTITY_OK)
            continue;
        char date[32];
        iam_format_date(k.created, date);
        if (json_array_append_new(members, json_pack("{s:s,s:s,s:s,s:s}", "UserName", p.name, "AccessKeyId", k.id, "Status",
                                                     k.active ? "Active" : "Inactive", "CreateDate", date)) != 0) {
            json_decref(members);
            members = NULL;
        }
    }
    aws_send_result(a, members ? json_pack("{s:o,s:b}", "AccessKeyMetadata", members, "IsTruncated", 0) : NULL);
}

const aws_operation_t iam_user_operations[] = {
    {"iam", "CreateUser", "iam", create_user},
    {"iam", "GetUser", "iam", get_user},
    {"iam", "DeleteUser", "iam", delete_user},
    {"iam", "ListUsers", "iam", list_users},
    {"iam", "CreateRole", "iam", create_role},
    {"iam", "GetRole", "iam", get_role},
    {"iam", "DeleteRole", "iam", delete_role},
    {"iam", "ListRoles", "iam", list_roles},
    {"iam", "UpdateAssumeRolePolicy", "iam", update_assume_role_policy},
    {"iam", "CreateAccessKey", "iam", create_access_key},
    {"iam", "DeleteAccessKey", "iam", delete_access_key},
    {"iam", "ListAccessKeys", "iam", list_access_keys},
    {NULL, NULL, NULL, NULL},
};
