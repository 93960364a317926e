/*
 * ECR's repository policy operations: SetRepositoryPolicy,
 * GetRepositoryPolicy, DeleteRepositoryPolicy. The policy is a resource
 * policy: it names principals, and an Allow in it suffices even without an
 * identity policy (an explicit Deny in it beats any Allow).
 */
#include <jansson.h>
#include <string.h>

#include "server/server_internal.h"

/* The repository named by the request, existing and allowed `action`; NULL
 * after sending the error. The body's shape first (ecr_request.h), as every
 * other ECR operation: a registryId of another account, an unknown member or
 * a name outside ECR's pattern is refused before anything is read. */
static const char *repository(aws_req_t *a, const char *action)
{
    static const char *const known[] = {"registryId", "repositoryName", "policyText", "force", NULL};
    return ecr_existing_repo(a, known, action);
}

static void send_policy(aws_req_t *a, const char *repo, const char *doc, size_t len)
{
    aws_send_result(
        a, json_pack("{s:s,s:s,s:s%}", "registryId", a->srv->keys.account_id, "repositoryName", repo, "policyText", doc, len));
}

/* The reply to a set or a delete: the repository and the policy text (keep[0], keep[1]). */
static void policy_changed(aws_req_t *a, auth_identity_status_t s, const auth_change_t *c, const auth_err_t *err,
                           const char *const keep[2])
{
    (void)c;
    if (s != AUTH_IDENTITY_OK)
        aws_send_error(a, 500, "ServerException", "%s", err->msg);
    else
        send_policy(a, keep[0], keep[1], strlen(keep[1]));
}

static void set_repository_policy(aws_req_t *a)
{
    const char *repo = repository(a, "ecr:SetRepositoryPolicy");
    const char *text = repo ? aws_param_string(a, "policyText", true) : NULL;
    if (!text)
        return;
    auth_err_t err;
    auth_identity_status_t s;
    auth_change_t *c = auth_change_repository_policy_set(repo, text, strlen(text), &s, &err);
    if (!c && s == AUTH_IDENTITY_INVALID)
        aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at 'PolicyText': %s", err.msg);
    else if (!c)
        aws_send_error(a, 500, "ServerException", "%s", err.msg);
    else
        aws_submit_change(a, c, policy_changed, repo, text);
}

/* The repository's policy, after checking `action` on it; false after sending the error. */
static bool existing_policy(aws_req_t *a, const char *action, const char **repo, const char **doc, size_t *len)
{
    if (!(*repo = repository(a, action)))
        return false;
    auth_err_t err;
    if (auth_repository_policy_get(storage_reader_records(a->rd), *repo, doc, len, &err) != AUTH_IDENTITY_OK) {
        aws_send_error(a, 400, "RepositoryPolicyNotFoundException",
                       "Repository policy does not exist for the repository with name '%s' in the registry with id '%s'", *repo,
                       a->srv->keys.account_id);
        return false;
    }
    return true;
}

static void get_repository_policy(aws_req_t *a)
{
    const char *repo, *doc;
    size_t len;
    if (existing_policy(a, "ecr:GetRepositoryPolicy", &repo, &doc, &len))
        send_policy(a, repo, doc, len);
}

static void delete_repository_policy(aws_req_t *a)
{
    const char *repo, *doc;
    size_t len;
    if (!existing_policy(a, "ecr:DeleteRepositoryPolicy", &repo, &doc, &len))
        return;
    /* the reply carries the deleted text, kept from the request's snapshot */
    char *text = h2o_mem_alloc_pool(&a->req->pool, len + 1);
    memcpy(text, doc, len);
    text[len] = '\0';
    auth_err_t err;
    auth_identity_status_t s;
    auth_change_t *c = auth_change_repository_policy_set(repo, NULL, 0, &s, &err);
    if (!c)
        aws_send_error(a, 500, "ServerException", "%s", err.msg);
    else
        aws_submit_change(a, c, policy_changed, repo, text);
}

const aws_operation_t ecr_policy_operations[] = {
    {ECR_SERVICE, "SetRepositoryPolicy", "ecr", set_repository_policy},
    {ECR_SERVICE, "GetRepositoryPolicy", "ecr", get_repository_policy},
    {ECR_SERVICE, "DeleteRepositoryPolicy", "ecr", delete_repository_policy},
    {NULL, NULL, NULL, NULL},
};
