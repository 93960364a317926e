/*
 * GET /v2/token?service=…&scope=repository:<name>:pull,push — the Docker
 * registry token flow, for clients that use it: with Basic credentials (user
 * AWS, the password from get-login-password) or none, it returns a short-lived
 * Bearer token limited to the requested actions the caller's policies allow
 * now. The policies are evaluated again when the token is used: a scope is an
 * upper bound, never a grant of its own.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"

/* Grants on `s` the actions of "pull,push,delete,*" that the caller may do. */
static void grant(v2_req_t *r, storage_reader_t *rd, auth_token_scope_t *s, const char *actions)
{
    server_thread_t *t = (server_thread_t *)r->req->conn->ctx;
    policy_result_t res;
    bool all = strstr(actions, "*") != NULL;
    char list[64];
    snprintf(list, sizeof(list), ",%s,", actions);
    bool exists = storage_repo_exists(rd, s->repository);
    if (all || strstr(list, ",pull,"))
        s->pull =
            r->srv->open || server_authorize(t, rd, &r->caller, r->req, "ecr:BatchGetImage", s->repository, &res) == POLICY_ALLOW;
    if (all || strstr(list, ",push,"))
        s->push =
            r->srv->open ||
            (server_authorize(t, rd, &r->caller, r->req, "ecr:InitiateLayerUpload", s->repository, &res) == POLICY_ALLOW &&
             server_authorize(t, rd, &r->caller, r->req, "ecr:PutImage", s->repository, &res) == POLICY_ALLOW &&
             (exists || server_authorize(t, rd, &r->caller, r->req, "ecr:CreateRepository", s->repository, &res) == POLICY_ALLOW));
    if (all || strstr(list, ",delete,"))
        s->delete_ = r->srv->open ||
                     server_authorize(t, rd, &r->caller, r->req, "ecr:BatchDeleteImage", s->repository, &res) == POLICY_ALLOW;
}

int v2_token(v2_req_t *r)
{
    storage_reader_t *rd = v2_reader(r);
    if (!rd)
        return 0;
    char why[256];
    if (!r->srv->open && server_identify_registry(r->srv, rd, r->req, &r->caller, why, sizeof(why)) == SERVER_ID_INVALID) {
        storage_reader_end(rd);
        v2_send_unauthorized(r->req, why);
        return 0;
    }
    if (r->caller.scoped) {
        storage_reader_end(rd);
        v2_send_unauthorized(r->req, "a Bearer token cannot ask for another: log in with the password");
        return 0;
    }
    auth_token_claims_t claims = {.bearer = true};
    if (!r->caller.anonymous) {
        snprintf(claims.principal_arn, sizeof(claims.principal_arn), "%s", r->caller.principal.arn);
        snprintf(claims.principal_id, sizeof(claims.principal_id), "%s", r->caller.principal.id);
    }
    /* every scope= parameter, in order: repository:<name>:<actions> */
    for (size_t pos = 0; pos < r->query_len;) {
        const char *amp = memchr(r->query + pos, '&', r->query_len - pos);
        size_t end = amp ? (size_t)(amp - r->query) : r->query_len;
        char scope[OCI_NAME_MAX + 64];
        /* clients build this query as a form (Go's url.Values): a space is '+' */
        long n = http_form_param(r->query + pos, end - pos, "scope", scope, sizeof(scope));
        pos = end + 1;
        if (n < 0)
            continue;
        /* several scopes may share one parameter, separated by spaces */
        for (char *save = NULL, *one = strtok_r(scope, " ", &save); one; one = strtok_r(NULL, " ", &save)) {
            char *type = one, *name = strchr(type, ':'), *actions = name ? strrchr(name + 1, ':') : NULL;
            if (!name || !actions || strncmp(type, "repository:", 11) != 0)
                continue; /* registry:catalog:* and other types grant nothing here */
            *actions++ = '\0';
            name++;
            if (!oci_name_valid(name, strlen(name)) || claims.n_scopes == AUTH_TOKEN_MAX_SCOPES)
                continue;
            auth_token_scope_t *s = &claims.scopes[claims.n_scopes];
            memset(s, 0, sizeof(*s));
            snprintf(s->repository, sizeof(s->repository), "%s", name);
            grant(r, rd, s, actions);
            if (s->pull || s->push || s->delete_)
                claims.n_scopes++;
        }
    }
    storage_reader_end(rd);
    /* No scope (docker login asks for none) or none granted: a token with
     * empty access, as distribution's token servers answer, good for GET /v2/. */
    claims.issued_at = server_auth_now(r->srv);
    /* never outliving the password it is minted from (a Bearer token cannot
     * mint another, so the credential here is a password or nothing) */
    claims.expires_at = auth_bearer_expiry(claims.issued_at, r->caller.anonymous ? NULL : &r->caller.expires_at);
    char token[AUTH_TOKEN_MAX_BYTES + 1], issued[32];
    auth_err_t err;
    if (auth_token_issue(&r->srv->keys.token_key, &claims, token, sizeof(token), &err) != AUTH_OK) {
        v2_send_error(r->req, ERR_UNKNOWN, err.msg);
        return 0;
    }
    time_t now = (time_t)claims.issued_at;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *doc = json_pack("{s:s,s:s,s:I,s:s}", "token", token, "access_token", token, "expires_in",
                            (json_int_t)(claims.expires_at - claims.issued_at), "issued_at", issued);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    OPENSSL_cleanse(token, sizeof(token));
    if (!body) {
        v2_send_error(r->req, ERR_UNKNOWN, "out of memory");
        return 0;
    }
    v2_send_json(r->req, 200, "application/json", body, strlen(body));
    OPENSSL_cleanse(body, strlen(body));
    free(body);
    return 0;
}

bool v2_scope_allows(const server_caller_t *who, const char *repo, const char *action)
{
    if (!who->scoped)
        return true;
    bool pull = strcmp(action, "ecr:BatchGetImage") == 0 || strcmp(action, "ecr:GetDownloadUrlForLayer") == 0 ||
                strcmp(action, "ecr:BatchCheckLayerAvailability") == 0 || strcmp(action, "ecr:ListImages") == 0;
    bool del = strcmp(action, "ecr:BatchDeleteImage") == 0;
    for (size_t i = 0; i < who->n_scopes; i++) {
        const auth_token_scope_t *s = &who->scopes[i];
        if (strcmp(s->repository, repo) != 0)
            continue;
        if ((pull && s->pull) || (del && s->delete_) || (!pull && !del && s->push))
            return true;
    }
    return false;
}
