/* /v2/ routing: the raw path (not h2o's normalized one, which would resolve
 * "..") is percent-decoded, split from the right into repository name and
 * route, and the name is checked against the spec's grammar before any
 * handler sees it. */
#include <string.h>

#include "server/metrics_internal.h"

/* Longest path we route: a maximal name plus the longest route suffix. */
#define ROUTE_PATH_MAX (OCI_NAME_MAX + 256)

static bool method_is(h2o_iovec_t method, const char *m)
{
    return h2o_memis(method.base, method.len, m, strlen(m));
}

static bool ends_with(const char *s, size_t len, const char *suffix, size_t *prefix_len)
{
    size_t sl = strlen(suffix);
    if (len < sl || memcmp(s + len - sl, suffix, sl) != 0)
        return false;
    *prefix_len = len - sl;
    return true;
}

/* The ECR action that governs each registry request, as in ECR: pulls are
 * BatchGetImage (manifests) and GetDownloadUrlForLayer (blobs), a blob HEAD
 * is BatchCheckLayerAvailability, pushes are the layer-upload actions and
 * PutImage. NULL: no such endpoint. */
const char *v2_route_action(route_t route, h2o_iovec_t method, bool *is_push)
{
    bool get = method_is(method, "GET"), head = method_is(method, "HEAD"), del = method_is(method, "DELETE");
    *is_push = false;
    switch (route) {
    case R_TAGS:
        return "ecr:ListImages";
    case R_MANIFEST:
        if (get || head)
            return "ecr:BatchGetImage";
        if (del)
            return "ecr:BatchDeleteImage";
        *is_push = true;
        return "ecr:PutImage";
    case R_REFERRERS:
        return "ecr:BatchGetImage";
    case R_BLOB:
        if (head)
            return "ecr:BatchCheckLayerAvailability";
        return del ? "ecr:BatchDeleteImage" : "ecr:GetDownloadUrlForLayer";
    case R_UPLOADS:
        *is_push = true;
        return "ecr:InitiateLayerUpload";
    case R_UPLOAD:
        *is_push = true;
        return method_is(method, "PUT") ? "ecr:CompleteLayerUpload" : "ecr:UploadLayerPart";
    case R_NONE:
        break;
    }
    return NULL;
}

/* Refuses with 401 (no or bad credentials) or 403 (a principal that no
 * policy allows); the reason names the action and resource, as ECR's does. */
static bool refuse(v2_req_t *r, const char *action, const char *repo, policy_decision_t d)
{
    char resource[OCI_NAME_MAX + 96], detail[1024];
    server_resource_arn(r->srv, repo, resource, sizeof(resource));
    snprintf(detail, sizeof(detail), "%s%s is not authorized to perform: %s on resource: %s because %s",
             r->caller.anonymous ? "an anonymous caller" : "User: ", r->caller.anonymous ? "" : r->caller.principal.arn, action,
             resource, d == POLICY_EXPLICIT_DENY ? "of an explicit deny" : "no policy allows it");
    if (r->caller.anonymous)
        v2_send_unauthorized(r->req, detail);
    else
        v2_send_error(r->req, ERR_DENIED, detail);
    return false;
}

/* --no-create-on-push: false, after 404 NAME_UNKNOWN, when r's repository does not exist. */
static bool no_repo_refused(v2_req_t *r, storage_reader_t *rd)
{
    if (storage_repo_exists(rd, r->name))
        return true;
    char detail[OCI_NAME_MAX + 200];
    snprintf(detail, sizeof(detail),
             "The repository with name '%s' does not exist in the registry with id '%s' (create it first: aws ecr "
             "create-repository)",
             r->name, r->srv->keys.account_id);
    v2_send_error_message(r->req, ERR_NAME_UNKNOWN, detail, json_pack("{s:s}", "name", r->name));
    return false;
}

/* Authentication and authorization of one registry request: true to go on;
 * false once a 401/403 has been sent. `action` NULL: credentials only (GET
 * /v2/, whose 401 is how clients learn the challenge). */
static bool v2_access(v2_req_t *r, const char *action, bool is_push)
{
    r->mount_allowed = true;
    storage_reader_t *rd = NULL;
    if (r->srv->open) {
        if (!is_push || !r->srv->no_create_on_push)
            return true;
        if (!(rd = v2_reader(r)))
            return false;
        bool exists = no_repo_refused(r, rd);
        storage_reader_end(rd);
        return exists;
    }
    if (!(rd = v2_reader(r)))
        return false;
    char why[256];
    server_identify_t id = server_identify_registry(r->srv, rd, r->req, &r->caller, why, sizeof(why));
    bool ok = false;
    server_thread_t *t = (server_thread_t *)r->req->conn->ctx;
    policy_result_t res;
    if (id == SERVER_ID_INVALID) {
        v2_send_unauthorized(r->req, why);
    } else if (!action) {
        if (id == SERVER_ID_NONE)
            v2_send_unauthorized(r->req, "log in with the password from 'aws ecr get-login-password'");
        else
            ok = true;
    } else if (!r->name[0]) {
        /* the catalog: filtered per repository by its handler; scoped tokens name repositories, not the catalog */
        if (id == SERVER_ID_NONE || r->caller.scoped)
            v2_send_unauthorized(r->req, "log in with the password from 'aws ecr get-login-password'");
        else
            ok = true;
    } else if (!v2_scope_allows(&r->caller, r->name, action)) {
        char detail[OCI_NAME_MAX + 128];
        snprintf(detail, sizeof(detail), "the token's scope does not cover %s on %s", action, r->name);
        v2_send_error(r->req, ERR_DENIED, detail);
    } else if (server_authorize(t, rd, &r->caller, r->req, action, r->name, &res) != POLICY_ALLOW) {
        refuse(r, action, r->name, res.decision);
    } else if (is_push && r->srv->no_create_on_push && !no_repo_refused(r, rd)) {
        /* refused: the repository must be created first */
    } else if (is_push && !storage_repo_exists(rd, r->name) &&
               server_authorize(t, rd, &r->caller, r->req, "ecr:CreateRepository", r->name, &res) != POLICY_ALLOW) {
        /* a repository is created by its first push: that needs CreateRepository too */
        refuse(r, "ecr:CreateRepository", r->name, res.decision);
    } else {
        ok = true;
        /* a cross-repository mount reads the blob from ?from=: without pull
         * access there it becomes an ordinary upload, as the spec allows */
        char from[OCI_NAME_MAX + 1];
        long n = http_query_param(r->query, r->query_len, "from", from, sizeof(from));
        if (n > 0 && oci_name_valid(from, (size_t)n))
            r->mount_allowed =
                v2_scope_allows(&r->caller, from, "ecr:GetDownloadUrlForLayer") &&
                server_authorize(t, rd, &r->caller, r->req, "ecr:GetDownloadUrlForLayer", from, &res) == POLICY_ALLOW;
    }
    /* the handler reads from the snapshot it was authorized in (v2_reader
     * hands it over): one read transaction per request, not two */
    if (ok)
        r->rd = rd;
    else
        storage_reader_end(rd);
    return ok;
}

/* Splits "<name>/<route...>" (path after "/v2/"). */
route_t v2_route_split(const char *p, size_t len, size_t *name_len, const char **arg, size_t *arg_len)
{
    size_t n;
    *arg = NULL;
    *arg_len = 0;
    if (ends_with(p, len, "/tags/list", &n)) {
        *name_len = n;
        return R_TAGS;
    }
    if (ends_with(p, len, "/blobs/uploads/", &n) || ends_with(p, len, "/blobs/uploads", &n)) {
        *name_len = n;
        return R_UPLOADS;
    }
    const char *slash = NULL;
    for (size_t i = len; i > 0; i--)
        if (p[i - 1] == '/') {
            slash = p + i - 1;
            break;
        }
    if (!slash)
        return R_NONE;
    *arg = slash + 1;
    *arg_len = (size_t)(p + len - *arg);
    size_t head = (size_t)(slash - p);
    static const struct {
        const char *seg;
        route_t route;
    } segs[] = {{"/manifests", R_MANIFEST}, {"/blobs/uploads", R_UPLOAD}, {"/blobs", R_BLOB}, {"/referrers", R_REFERRERS}};
    for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++)
        if (ends_with(p, head, segs[i].seg, &n)) {
            *name_len = n;
            return segs[i].route;
        }
    return R_NONE;
}

static int route_v2(v2_req_t *r)
{
    h2o_req_t *req = r->req;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("docker-distribution-api-version"), 0, NULL,
                          H2O_STRLIT("registry/2.0"));
    size_t raw_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    if (req->query_at != SIZE_MAX) {
        r->query = req->path.base + req->query_at + 1;
        r->query_len = req->path.len - req->query_at - 1;
    }
    char path[ROUTE_PATH_MAX + 1];
    size_t len;
    if (!http_path_decode(req->path.base, raw_len, path, sizeof(path), &len)) {
        v2_send_error(req, ERR_NAME_INVALID, "the request path is malformed or too long");
        return 0;
    }
    if (len < 4 || memcmp(path, "/v2/", 4) != 0) {
        if (len == 3 && memcmp(path, "/v2", 3) == 0) {
            memcpy(path, "/v2/", 5);
            len = 4;
        } else {
            v2_send_error(req, ERR_NOT_FOUND, "only the /v2/ API is served here");
            return 0;
        }
    }
    bool get = method_is(req->method, "GET") || method_is(req->method, "HEAD");
    if (len == 4) {
        if (!get) {
            v2_send_error(req, ERR_METHOD_UNKNOWN, "/v2/ answers GET and HEAD");
            return 0;
        }
        if (v2_access(r, NULL, false))
            v2_send_json(req, 200, "application/json", "{}", 2);
        return 0;
    }
    const char *p = path + 4;
    size_t plen = len - 4;
    if (plen == 5 && memcmp(p, "token", 5) == 0) {
        if (!get) {
            v2_send_error(req, ERR_METHOD_UNKNOWN, "the token endpoint answers GET");
            return 0;
        }
        return v2_token(r); /* it authenticates the caller itself: its answer is what may be done */
    }
    if (plen == 8 && memcmp(p, "_catalog", 8) == 0) {
        if (!get) {
            v2_send_error(req, ERR_METHOD_UNKNOWN, "the catalog answers GET");
            return 0;
        }
        if (!v2_access(r, "ecr:DescribeRepositories", false))
            return 0;
        return v2_catalog(r);
    }
    size_t name_len = 0, arg_len;
    const char *arg;
    route_t route = v2_route_split(p, plen, &name_len, &arg, &arg_len);
    if (route == R_NONE) {
        v2_send_error(req, ERR_NOT_FOUND, "no such endpoint under /v2/");
        return 0;
    }
    if (!oci_name_valid(p, name_len)) {
        v2_send_error(req, ERR_NAME_INVALID,
                      "repository names are lowercase path components of [a-z0-9] separated by '.', '_', '__' or '-', at most 255 "
                      "characters");
        return 0;
    }
    memcpy(r->name, p, name_len);
    r->name[name_len] = '\0';
    if (arg_len >= sizeof(r->arg)) {
        switch (route) {
        case R_MANIFEST:
            v2_send_error(req, ERR_MANIFEST_UNKNOWN, "the reference is too long");
            return 0;
        case R_UPLOAD:
            v2_send_error(req, ERR_BLOB_UPLOAD_UNKNOWN, "the upload id is too long");
            return 0;
        default:
            v2_send_error(req, ERR_DIGEST_INVALID, "the digest is too long");
            return 0;
        }
    }
    if (arg)
        memcpy(r->arg, arg, arg_len);
    r->arg[arg_len] = '\0';

    /* a signed download URL (GetDownloadUrlForLayer) carries its own authority */
    if (route == R_BLOB && get && r->query && auth_blob_url_signed(r->query, r->query_len))
        return v2_blob_get_signed(r);

    bool is_push;
    const char *action = v2_route_action(route, req->method, &is_push);
    if (action && !v2_access(r, action, is_push))
        return 0;

    switch (route) {
    case R_TAGS:
        if (get)
            return v2_tags_list(r);
        break;
    case R_MANIFEST:
        if (get)
            return v2_manifest_get(r);
        if (method_is(req->method, "PUT"))
            return v2_manifest_put(r);
        if (method_is(req->method, "DELETE"))
            return v2_manifest_delete(r);
        break;
    case R_BLOB:
        if (get)
            return v2_blob_get(r);
        if (method_is(req->method, "DELETE"))
            return v2_blob_delete(r);
        break;
    case R_UPLOADS:
        if (method_is(req->method, "POST"))
            return v2_upload_start(r);
        break;
    case R_UPLOAD:
        if (method_is(req->method, "PATCH"))
            return v2_upload_patch(r);
        if (method_is(req->method, "PUT"))
            return v2_upload_put(r);
        if (method_is(req->method, "GET"))
            return v2_upload_status(r);
        if (method_is(req->method, "DELETE"))
            return v2_upload_cancel(r);
        break;
    case R_REFERRERS:
        if (get)
            return v2_referrers(r);
        break;
    case R_NONE:
        break;
    }
    v2_send_error(req, ERR_METHOD_UNKNOWN, "this method is not allowed on this endpoint");
    return 0;
}

int v2_route(server_t *srv, h2o_req_t *req)
{
    v2_req_t r = {.req = req, .srv = srv};
    int rc = route_v2(&r);
    /* authorized in a snapshot, but the handler read nothing (uploads, deletes, /v2/) */
    if (r.rd)
        storage_reader_end(r.rd);
    return rc;
}

/* Whether the path, without its query, is exactly `want`. */
static bool path_is(h2o_req_t *req, const char *want, size_t len)
{
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    return plen == len && memcmp(req->path.base, want, len) == 0;
}

int server_route(server_t *srv, h2o_req_t *req)
{
    /* Health probes come before everything: no credentials, no API headers. */
    if (method_is(req->method, "GET") || method_is(req->method, "HEAD")) {
        if (path_is(req, H2O_STRLIT("/healthz")))
            return health_live(req);
        if (path_is(req, H2O_STRLIT("/readyz")))
            return health_ready(srv, req);
        if (metrics_enabled() && path_is(req, H2O_STRLIT("/metrics")))
            return metrics_handle(srv, req);
    }
    metrics_request_start(req);
    /* The AWS JSON APIs live at POST / (the endpoint URL the AWS CLI is given). */
    if (req->path.len >= 1 && req->path.base[0] == '/' && (req->path.len == 1 || req->path.base[1] == '?') &&
        (v2_req_header(req, "x-amz-target").len || h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))))
        return aws_route(srv, req);
    return v2_route(srv, req);
}
