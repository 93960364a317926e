/*
 * ECR's repository policy operations: SetRepositoryPolicy,
 * GetRepositoryPolicy, DeleteRepositoryPolicy. The policy is a resource
 * policy: it names principals, and an Allow in it suffices even without an
 * identity policy (an explicit Deny in it beats any Allow).
 */
#include <jansson.h>
#include <string.h>

#include "server/server_internal.h"

/* The repository named by the request, existing and allowed `action`; NULL after sending the error. */
static const char *repository(aws_req_t *a, const char *action)
{
    const char *repo = aws_param_string(a, "repositoryName", true);
    if (!repo)
        return NULL;
    if (!oci_name_valid(repo, strlen(repo))) {
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression "
                       "(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*'");
        return NULL;
    }
    if (!aws_allowed(a, action, repo))
        return NULL;
    if (!storage_repo_exists(a->rd, repo)) {
        aws_send_error(a, 400, "RepositoryNotFoundException",
                       "The repository with name '%s' does not exist in the registry with id '%s'", repo, a->srv->keys.account_id);
        return NULL;
    }
    return repo;
}

static void send_policy(aws_req_t *a, const char *repo, const char *doc, size_t len)
{
    aws_send_result(
        a, json_pack("{s:s,s:s,s:s%}", "registryId", a->srv->keys.account_id, "repositoryName", repo, "policyText", doc, len));
}

static void set_repository_policy(aws_req_t *a)
{
    const char *repo = repository(a, "ecr:SetRepositoryPolicy");
    const char *text = repo ? aws_param_string(a, "policyText", true) : NULL;
    if (!text)
        return;
    auth_err_t err;
    auth_identity_status_t s = auth_repository_policy_set(a->srv->storage, repo, text, strlen(text), &err);
    if (s == AUTH_IDENTITY_INVALID)
        aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at 'PolicyText': %s", err.msg);
    else if (s != AUTH_IDENTITY_OK)
        aws_send_error(a, 500, "ServerException", "%s", err.msg);
    else
        send_policy(a, repo, text, strlen(text));
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
    /* the reply carries the deleted text: the request's snapshot still holds it */
    auth_err_t err;
    if (auth_repository_policy_set(a->srv->storage, repo, NULL, 0, &err) != AUTH_IDENTITY_OK)
        aws_send_error(a, 500, "ServerException", "%s", err.msg);
    else
        send_policy(a, repo, doc, len);
}

const aws_operation_t ecr_policy_operations[] = {
    {ECR_SERVICE, "SetRepositoryPolicy", "ecr", set_repository_policy},
    {ECR_SERVICE, "GetRepositoryPolicy", "ecr", get_repository_policy},
    {ECR_SERVICE, "DeleteRepositoryPolicy", "ecr", delete_repository_policy},
    {NULL, NULL, NULL, NULL},
};
