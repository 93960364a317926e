/*
 * What every AWS-style API shares. Two protocols arrive at `POST /`:
 *  - JSON 1.1 (ECR, ECS): `X-Amz-Target: <Service>.<Operation>`, a JSON
 *    body; replies `application/x-amz-json-1.1`, errors `{"__type", "message"}`;
 *  - query (IAM, STS): a form body `Action=<Operation>&Version=...&...`;
 *    replies XML `<OperationResponse><OperationResult>...`, errors
 *    `<ErrorResponse>`; STS and IAM are told apart by the SigV4 credential
 *    scope's service ("sts", else IAM) and answer in their own namespaces.
 * Both are authenticated with AWS Signature Version 4 by an access key of the
 * identity store, or by an STS session's temporary credentials (an "ASIA…"
 * key id with X-Amz-Security-Token, opened without the store but for the
 * role's record); here: the envelope, SigV4, dispatch to one handler per
 * operation (server/ecr/, server/iam/, server/sts/), the reply and error shapes.
 */
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/ecr/ecr_request.h"
#include "server/server_internal.h"

/* The bodies of the control APIs are small; ECR caps a repository policy at
 * 10 KiB, IAM a policy document at 6 KiB, a PutImage manifest at 4 MiB. */
#define AWS_MAX_BODY_BYTES (OCI_MANIFEST_MAX_BYTES + 64 * 1024)
/* SigV4 signs at most this many headers; real clients sign 4 to 6. */
#define AWS_MAX_HEADERS 64
#define IAM_XMLNS "https://iam.amazonaws.com/doc/2010-05-08/"
#define STS_XMLNS "https://sts.amazonaws.com/doc/2011-06-15/"

static const aws_operation_t *const json_tables[] = {
    ecr_operations,       ecr_policy_operations, ecs_clusters_operations,  ecs_instances_operations, ecs_taskdefs_operations,
    ecs_tasks_operations, ecs_agent_operations,  ecs_services_operations,  berth_admin_operations,   ecr_repo_operations,
    ecr_image_operations, ecr_layer_operations,  ecr_lifecycle_operations, metrics_token_operations};
/* The query protocol's services are told apart by the SigV4 scope's service. */
static const aws_operation_t *const query_tables[] = {iam_user_operations, iam_policy_operations};
static const aws_operation_t *const sts_tables[] = {sts_operations};

/* The XML namespace of a query-protocol service's replies and errors. */
static const char *query_xmlns(const aws_req_t *a)
{
    return a->op && strcmp(a->op->service, "sts") == 0 ? STS_XMLNS : IAM_XMLNS;
}

static void send_body(aws_req_t *a, int status, const char *content_type, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_req_t *req = a->req;
    req->res.status = status;
    req->res.reason = status == 200   ? "OK"
                      : status == 403 ? "Forbidden"
                      : status == 404 ? "Not Found"
                      : status == 409 ? "Conflict"
                      : status >= 500 ? "Internal Server Error"
                                      : "Bad Request";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    v2_add_header(req, "x-amzn-requestid", a->request_id, strlen(a->request_id));
    req->res.content_length = len;
    h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);
    h2o_start_response(req, &generator);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

/* A growing reply body; `failed` once an allocation fails. */
typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} reply_buf_t;

static void buf_add(reply_buf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(reply_buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_xml_text(reply_buf_t *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        const char *rep = *p == '&'    ? "&amp;"
                          : *p == '<'  ? "&lt;"
                          : *p == '>'  ? "&gt;"
                          : *p == '"'  ? "&quot;"
                          : *p == '\'' ? "&apos;"
                                       : NULL;
        if (rep)
            buf_str(b, rep);
        else
            buf_add(b, p, 1);
    }
}

/* The query protocol's XML for a JSON value: an object's keys become elements
 * (in insertion order), an array's items <member>s, true/false and numbers
 * their text. Keys are our own element names: nothing to escape. */
static void buf_xml_value(reply_buf_t *b, const json_t *v)
{
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item)
        {
            buf_str(b, "<");
            buf_str(b, key);
            buf_str(b, ">");
            buf_xml_value(b, item);
            buf_str(b, "</");
            buf_str(b, key);
            buf_str(b, ">");
        }
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            buf_str(b, "<member>");
            buf_xml_value(b, item);
            buf_str(b, "</member>");
        }
        break;
    }
    case JSON_STRING:
        buf_xml_text(b, json_string_value(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        buf_str(b, num);
        break;
    case JSON_TRUE:
        buf_str(b, "true");
        break;
    case JSON_FALSE:
        buf_str(b, "false");
        break;
    default:
        break;
    }
}

/* Query-protocol clients that send `Accept: application/json` get IAM's JSON
 * form of the same reply (STS and IAM honour it; the berth CLI uses it). */
static bool wants_json(aws_req_t *a)
{
    h2o_iovec_t accept = v2_req_header(a->req, "accept");
    return accept.len && h2o_strstr(accept.base, accept.len, H2O_STRLIT("application/json")) != SIZE_MAX;
}

/* Wipes a reply's strings before it is freed: it may carry a new secret key. */
static void wipe_strings(json_t *v)
{
    const char *key;
    json_t *item;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, key, item) wipe_strings(item);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item) wipe_strings(item);
    } else if (json_is_string(v)) {
        OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
    }
}

/* Sends the finished buffer, wiping it: a reply may carry a new secret key. */
static void send_buf(aws_req_t *a, int status, const char *content_type, reply_buf_t *b)
{
    if (b->failed) {
        send_body(a, 500, content_type, "", 0);
    } else {
        send_body(a, status, content_type, b->p, b->len);
        OPENSSL_cleanse(b->p, b->len);
    }
    free(b->p);
}

/* Sends a JSON document (borrowed; NULL: out of memory), wiping its text once
 * sent: a reply may carry a new secret key. */
static void send_json(aws_req_t *a, int status, const char *content_type, const json_t *doc)
{
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (!body) {
        static const char fallback[] = "{\"__type\":\"ServerException\",\"message\":\"out of memory\"}";
        send_body(a, 500, content_type, fallback, sizeof(fallback) - 1);
        return;
    }
    size_t len = strlen(body);
    send_body(a, status, content_type, body, len);
    OPENSSL_cleanse(body, len);
    free(body);
}

void aws_send_error(aws_req_t *a, int status, const char *type, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (a->protocol == AWS_PROTOCOL_QUERY) {
        json_t *error = json_pack("{s:s,s:s,s:s}", "Type", status >= 500 ? "Receiver" : "Sender", "Code", type, "Message", msg);
        if (wants_json(a)) {
            json_t *doc = json_pack("{s:o?,s:s}", "Error", error, "RequestId", a->request_id);
            send_json(a, status, "application/json", doc);
            json_decref(doc);
            return;
        }
        reply_buf_t b = {0};
        buf_str(&b, "<ErrorResponse xmlns=\"");
        buf_str(&b, query_xmlns(a));
        buf_str(&b, "\"><Error>");
        if (error)
            buf_xml_value(&b, error);
        buf_str(&b, "</Error><RequestId>");
        buf_str(&b, a->request_id);
        buf_str(&b, "</RequestId></ErrorResponse>");
        b.failed |= !error;
        json_decref(error);
        send_buf(a, status, "text/xml", &b);
        return;
    }
    json_t *doc = json_pack("{s:s,s:s}", "__type", type, "message", msg);
    send_json(a, status, "application/x-amz-json-1.1", doc);
    json_decref(doc);
}

void aws_send_result(aws_req_t *a, json_t *result)
{
    if (!result) {
        aws_send_error(a, 500, a->protocol == AWS_PROTOCOL_QUERY ? "ServiceFailure" : "ServerException", "out of memory");
        return;
    }
    if (a->protocol == AWS_PROTOCOL_JSON || wants_json(a)) {
        json_t *doc = result;
        if (a->protocol == AWS_PROTOCOL_QUERY) {
            char response[96], result_key[96];
            snprintf(response, sizeof(response), "%sResponse", a->op->name);
            snprintf(result_key, sizeof(result_key), "%sResult", a->op->name);
            doc = json_pack("{s:{s:O,s:{s:s}}}", response, result_key, result, "ResponseMetadata", "RequestId", a->request_id);
        }
        send_json(a, 200, a->protocol == AWS_PROTOCOL_JSON ? "application/x-amz-json-1.1" : "application/json", doc);
        if (doc != result)
            json_decref(doc);
        wipe_strings(result);
        json_decref(result);
        return;
    }
    reply_buf_t b = {0};
    const char *action = a->op->name;
    buf_str(&b, "<");
    buf_str(&b, action);
    buf_str(&b, "Response xmlns=\"");
    buf_str(&b, query_xmlns(a));
    buf_str(&b, "\"><");
    buf_str(&b, action);
    buf_str(&b, "Result>");
    buf_xml_value(&b, result);
    buf_str(&b, "</");
    buf_str(&b, action);
    buf_str(&b, "Result><ResponseMetadata><RequestId>");
    buf_str(&b, a->request_id);
    buf_str(&b, "</RequestId></ResponseMetadata></");
    buf_str(&b, action);
    buf_str(&b, "Response>");
    wipe_strings(result);
    json_decref(result);
    send_buf(a, 200, "text/xml", &b);
}

void aws_send_denied(aws_req_t *a, const char *action, const char *resource_arn, policy_decision_t d)
{
    aws_send_error(a, a->protocol == AWS_PROTOCOL_QUERY ? 403 : 400,
                   a->protocol == AWS_PROTOCOL_QUERY ? "AccessDenied" : "AccessDeniedException",
                   "User: %s is not authorized to perform: %s on resource: %s because %s", server_caller_arn(&a->caller), action,
                   resource_arn, d == POLICY_EXPLICIT_DENY ? "of an explicit deny" : "no identity-based policy allows the action");
}

bool aws_allowed(aws_req_t *a, const char *action, const char *repo)
{
    policy_result_t res;
    if (server_authorize((server_thread_t *)a->req->conn->ctx, a->rd, &a->caller, a->req, action, repo, &res) == POLICY_ALLOW)
        return true;
    char resource[OCI_NAME_MAX + 96];
    server_resource_arn(a->srv, repo, resource, sizeof(resource));
    aws_send_denied(a, action, resource, res.decision);
    return false;
}

bool aws_allowed_arn(aws_req_t *a, const char *action, const char *resource_arn)
{
    return aws_allowed_arn_ctx(a, action, resource_arn, NULL, 0);
}

bool aws_allowed_arn_ctx(aws_req_t *a, const char *action, const char *resource_arn, const policy_context_entry_t *extra,
                         size_t n_extra)
{
    policy_result_t res;
    if (server_authorize_arn_ctx((server_thread_t *)a->req->conn->ctx, a->rd, &a->caller, a->req, action, resource_arn, extra,
                                 n_extra, &res) == POLICY_ALLOW)
        return true;
    aws_send_denied(a, action, resource_arn, res.decision);
    return false;
}

const char *aws_param_string(aws_req_t *a, const char *name, bool required)
{
    if (a->protocol == AWS_PROTOCOL_QUERY) {
        char *buf = h2o_mem_alloc_pool(&a->req->pool, AWS_PARAM_MAX + 1);
        long n = http_form_param(a->form, a->form_len, name, buf, AWS_PARAM_MAX + 1);
        if (n >= 0)
            return buf;
        if (n == -1 && !required)
            return NULL;
        aws_send_error(a, 400, n == -1 ? "MissingParameter" : "ValidationError", "%s %s", name,
                       n == -1 ? "is required" : "is malformed or too long");
        return NULL;
    }
    json_t *v = json_object_get(a->body, name);
    if (!v && !required)
        return NULL;
    if (!json_is_string(v)) {
        aws_send_error(a, 400, "InvalidParameterException", "%s %s", name, v ? "must be a string" : "is required");
        return NULL;
    }
    return json_string_value(v);
}

bool aws_param_optional(aws_req_t *a, const char *name, const char **out)
{
    /* absent is told apart first: aws_param_string answers NULL both for an
     * absent optional parameter and after sending the error for a malformed
     * one, and a handler that went on would send a second response */
    bool absent = a->protocol == AWS_PROTOCOL_QUERY ? http_form_param(a->form, a->form_len, name, NULL, 0) == -1
                                                    : json_object_get(a->body, name) == NULL;
    *out = absent ? NULL : aws_param_string(a, name, true);
    return absent || *out != NULL;
}

typedef struct {
    aws_req_t a; /* the request as the handler had it, minus its snapshot and body */
    auth_change_t *change;
    aws_change_done_cb done;
    const char *keep[2]; /* in the request's pool */
} aws_pending_t;

static void pending_free(void *user)
{
    aws_pending_t *p = user;
    auth_change_free(p->change);
    free(p);
}

static void change_complete(server_op_t *sop, h2o_req_t *req)
{
    aws_pending_t *p = sop->user;
    p->a.req = req;
    auth_err_t err = {{0}};
    auth_identity_status_t s = auth_change_finish(p->change, &sop->op, &err);
    p->done(&p->a, s, p->change, &err, p->keep);
}

server_op_t *aws_defer(aws_req_t *a, server_op_complete_cb complete, aws_req_t *keep)
{
    v2_req_t r = {.req = a->req, .srv = a->srv};
    server_op_t *sop = server_op_new(&r, STORAGE_OP_RECORDS, complete);
    if (sop) {
        *keep = *a;
        keep->rd = NULL;
        keep->body = NULL;
    }
    return sop;
}

void aws_submit_change(aws_req_t *a, auth_change_t *c, aws_change_done_cb done, const char *keep0, const char *keep1)
{
    aws_pending_t *p = calloc(1, sizeof(*p));
    server_op_t *sop = p ? aws_defer(a, change_complete, &p->a) : NULL;
    if (!sop) {
        free(p);
        auth_change_free(c);
        aws_send_error(a, 500, a->protocol == AWS_PROTOCOL_QUERY ? "ServiceFailure" : "ServerException", "out of memory");
        return;
    }
    p->change = c;
    p->done = done;
    p->keep[0] = keep0 ? h2o_strdup(&a->req->pool, keep0, SIZE_MAX).base : NULL;
    p->keep[1] = keep1 ? h2o_strdup(&a->req->pool, keep1, SIZE_MAX).base : NULL;
    sop->user = p;
    sop->free_user = pending_free;
    auth_change_bind(c, &sop->op);
    server_op_submit(sop);
}

/* The secret that must have signed the request, and who the caller is: a
 * stored access key's principal, or for temporary credentials ("ASIA…" with
 * X-Amz-Security-Token) the session's role, opened from the token alone.
 * *expired: a session past its expiry, to refuse once the signature checks.
 * False after sending the error. */
static bool credentials(aws_req_t *a, const auth_sigv4_t *sig, char secret[AUTH_SECRET_KEY_LEN + 1], bool *expired)
{
    bool query = a->protocol == AWS_PROTOCOL_QUERY;
    storage_records_t *rs = storage_reader_records(a->rd);
    auth_err_t err;
    if (!auth_session_key_id(sig->access_key_id)) {
        if (auth_access_key_get(rs, &a->srv->keys, sig->access_key_id, &a->caller.principal, secret, &err) == AUTH_IDENTITY_OK)
            return true;
        aws_send_error(a, 403, query ? "InvalidClientTokenId" : "UnrecognizedClientException",
                       "The security token included in the request is invalid.");
        return false;
    }
    h2o_iovec_t token = v2_req_header(a->req, "x-amz-security-token");
    auth_session_t s;
    auth_status_t st = token.len ? auth_session_open(a->srv->keys.master_key, sig->access_key_id, token.base, token.len,
                                                     server_auth_now(a->srv), &s, secret, &err)
                                 : AUTH_EMALFORMED;
    /* a session whose role was deleted, or deleted and created again, is gone with it */
    if ((st != AUTH_OK && st != AUTH_EEXPIRED) ||
        auth_session_principal(rs, &a->srv->keys, &s, &a->caller.principal, &err) != AUTH_IDENTITY_OK) {
        OPENSSL_cleanse(secret, AUTH_SECRET_KEY_LEN + 1);
        aws_send_error(a, 403, query ? "InvalidClientTokenId" : "UnrecognizedClientException",
                       "The security token included in the request is invalid.");
        return false;
    }
    *expired = st == AUTH_EEXPIRED;
    a->caller.expires_at = s.expires_at;
    auth_session_arn(&a->srv->keys, &s, a->caller.session_arn);
    auth_session_user_id(&s, a->caller.session_user_id);
    return true;
}

/* Authenticates the request with SigV4: the access key names the principal. */
static bool authenticate(aws_req_t *a, const char *service)
{
    h2o_req_t *req = a->req;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    bool query = a->protocol == AWS_PROTOCOL_QUERY;
    if (i < 0) {
        aws_send_error(a, 403, query ? "MissingAuthenticationToken" : "MissingAuthenticationTokenException",
                       "Missing Authentication Token");
        return false;
    }
    h2o_iovec_t v = req->headers.entries[i].value;
    auth_sigv4_t sig;
    auth_err_t err;
    if (v.len > AUTH_HEADER_MAX_BYTES || auth_sigv4_parse(v.base, v.len, &sig, &err) != AUTH_OK) {
        aws_send_error(a, 400, query ? "IncompleteSignature" : "IncompleteSignatureException", "%s",
                       v.len > AUTH_HEADER_MAX_BYTES ? "Authorization too long" : err.msg);
        return false;
    }
    char secret[AUTH_SECRET_KEY_LEN + 1];
    bool expired = false;
    if (!credentials(a, &sig, secret, &expired))
        return false;
    /* h2o keeps Host as the authority and the length as a number: SigV4 signs both as headers */
    auth_header_t headers[AWS_MAX_HEADERS];
    size_t n = 0;
    char clen[24];
    int clen_len = snprintf(clen, sizeof(clen), "%zu", req->entity.base ? req->entity.len : (size_t)0);
    headers[n++] = (auth_header_t){"host", 4, req->authority.base, req->authority.len};
    headers[n++] = (auth_header_t){"content-length", 14, clen, (size_t)clen_len};
    for (size_t k = 0; k < req->headers.size && n < AWS_MAX_HEADERS; k++) {
        h2o_header_t *h = &req->headers.entries[k];
        if (h2o_memis(h->name->base, h->name->len, H2O_STRLIT("host")) ||
            h2o_memis(h->name->base, h->name->len, H2O_STRLIT("content-length")))
            continue;
        headers[n++] = (auth_header_t){h->name->base, h->name->len, h->value.base, h->value.len};
    }
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    auth_http_request_t hr = {.method = "POST",
                              .path = req->path.base,
                              .path_len = path_len,
                              .query = req->query_at != SIZE_MAX ? req->path.base + req->query_at + 1 : NULL,
                              .query_len = req->query_at != SIZE_MAX ? req->path.len - req->query_at - 1 : 0,
                              .headers = headers,
                              .n_headers = n,
                              .body = req->entity.base,
                              .body_len = req->entity.base ? req->entity.len : 0};
    auth_status_t st = auth_sigv4_verify(&sig, &hr, secret, AUTH_SECRET_KEY_LEN, service, (int64_t)time(NULL), &err);
    OPENSSL_cleanse(secret, sizeof(secret));
    if (st != AUTH_OK) {
        aws_send_error(a, 403, query ? "SignatureDoesNotMatch" : "InvalidSignatureException", "%s",
                       st == AUTH_EEXPIRED
                           ? err.msg
                           : "The request signature we calculated does not match the signature you provided. Check your "
                             "AWS Secret Access Key and signing method.");
        return false;
    }
    if (expired) {
        /* said only once the signature shows the caller holds the secret */
        aws_send_error(a, query ? 403 : 400, query ? "ExpiredToken" : "ExpiredTokenException",
                       "The security token included in the request is expired");
        return false;
    }
    a->caller.anonymous = false;
    return true;
}

static const aws_operation_t *find(const aws_operation_t *const *tables, size_t n_tables, const char *service, size_t service_len,
                                   const char *name, size_t name_len)
{
    for (size_t t = 0; t < n_tables; t++)
        for (const aws_operation_t *o = tables[t]; o->name; o++)
            if ((!service || h2o_memis(service, service_len, o->service, strlen(o->service))) &&
                h2o_memis(name, name_len, o->name, strlen(o->name)))
                return o;
    return NULL;
}

/* Whether a query-protocol request is signed for STS (its credential
 * scope's service): STS and IAM share the protocol and POST /. */
static bool scope_is_sts(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return false;
    h2o_iovec_t v = req->headers.entries[i].value;
    auth_sigv4_t sig;
    return v.len <= AUTH_HEADER_MAX_BYTES && auth_sigv4_parse(v.base, v.len, &sig, NULL) == AUTH_OK &&
           strcmp(sig.service, "sts") == 0;
}

int aws_route(server_t *srv, h2o_req_t *req)
{
    aws_req_t a = {.req = req, .srv = srv, .caller = {.anonymous = true}};
    unsigned char r[16];
    RAND_bytes(r, sizeof(r));
    snprintf(a.request_id, sizeof(a.request_id), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
    h2o_iovec_t target = v2_req_header(req, "x-amz-target");
    a.protocol = target.len ? AWS_PROTOCOL_JSON : AWS_PROTOCOL_QUERY;
    size_t len = req->entity.base ? req->entity.len : 0;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        aws_send_error(&a, 405, a.protocol == AWS_PROTOCOL_JSON ? "UnknownOperationException" : "InvalidAction",
                       "the AWS APIs take POST /");
        return 0;
    }
    /* UploadLayerPart carries a layer part of up to 20 MiB, base64-encoded */
    bool part = a.protocol == AWS_PROTOCOL_JSON && h2o_memis(target.base, target.len, H2O_STRLIT(ECR_SERVICE ".UploadLayerPart"));
    if (len > (part ? ECR_LAYER_PART_MAX_BODY : AWS_MAX_BODY_BYTES)) {
        if (part)
            aws_send_error(&a, 413, "SerializationException",
                           "an UploadLayerPart request body is at most %zu bytes: send parts of at most %zu bytes (20 MiB)",
                           (size_t)ECR_LAYER_PART_MAX_BODY, ECR_LAYER_PART_MAX_BYTES);
        else
            aws_send_error(&a, 413, a.protocol == AWS_PROTOCOL_JSON ? "SerializationException" : "ValidationError",
                           "the request body is larger than %u bytes", AWS_MAX_BODY_BYTES);
        return 0;
    }
    if (a.protocol == AWS_PROTOCOL_JSON) {
        const char *dot = memchr(target.base, '.', target.len);
        if (dot)
            a.op = find(json_tables, sizeof(json_tables) / sizeof(json_tables[0]), target.base, (size_t)(dot - target.base),
                        dot + 1, target.len - (size_t)(dot + 1 - target.base));
        if (!a.op) {
            aws_send_error(&a, 400, "UnknownOperationException", "unknown operation %.*s",
                           (int)(target.len > 120 ? 120 : target.len), target.base);
            return 0;
        }
    } else {
        a.form = len ? req->entity.base : "";
        a.form_len = len;
        char action[64];
        long n = http_form_param(a.form, a.form_len, "Action", action, sizeof(action));
        bool sts = scope_is_sts(req);
        if (n > 0)
            a.op = sts ? find(sts_tables, sizeof(sts_tables) / sizeof(sts_tables[0]), NULL, 0, action, (size_t)n)
                       : find(query_tables, sizeof(query_tables) / sizeof(query_tables[0]), NULL, 0, action, (size_t)n);
        if (!a.op) {
            aws_send_error(&a, 400, "InvalidAction", "%s%s is not a supported action", n > 0 ? action : "(no Action)", "");
            return 0;
        }
    }
    if (srv->open) {
        aws_send_error(&a, 403, a.protocol == AWS_PROTOCOL_JSON ? "UnrecognizedClientException" : "InvalidClientTokenId",
                       "this registry runs with --insecure-no-auth: it has no identities, so the AWS APIs are off");
        return 0;
    }
    storage_err_t serr;
    if (!(a.rd = storage_reader_begin(srv->storage, &serr))) {
        aws_send_error(&a, 500, "ServiceFailure", "%s", serr.msg);
        return 0;
    }
    if (authenticate(&a, a.op->signing_service)) {
        if (a.protocol == AWS_PROTOCOL_QUERY) {
            a.op->handle(&a);
        } else {
            json_error_t jerr;
            const char *text = len ? req->entity.base : "{}";
            size_t text_len = len ? len : 2, off, n;
            char *rest = NULL;
            /* a layer part's base64 stays where it is: jansson parses the rest (ecr_request.h) */
            if (part && ecr_part_blob_find(text, text_len, &off, &n) && (rest = malloc(text_len - n + 1))) {
                memcpy(rest, text, off);
                memcpy(rest + off, text + off + n, text_len - off - n);
                a.part_blob = text + off;
                a.part_blob_len = n;
                a.has_part_blob = true;
                text = rest;
                text_len -= n;
            }
            a.body = json_loadb(text, text_len, 0, &jerr);
            free(rest);
            if (!json_is_object(a.body))
                aws_send_error(&a, 400, "SerializationException", "the request body is not a JSON object: %s", jerr.text);
            else
                a.op->handle(&a);
            json_decref(a.body);
        }
    }
    storage_reader_end(a.rd);
    return 0;
}
