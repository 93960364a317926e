/* Responses: the OCI error JSON, empty replies, header helpers. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server/server_internal.h"

static const struct {
    int status;
    const char *reason;
    const char *code;
    const char *message;
} errors[] = {
    [ERR_BLOB_UNKNOWN] = {404, "Not Found", "BLOB_UNKNOWN", "blob unknown to registry"},
    [ERR_BLOB_UPLOAD_INVALID] = {400, "Bad Request", "BLOB_UPLOAD_INVALID", "blob upload invalid"},
    [ERR_BLOB_UPLOAD_UNKNOWN] = {404, "Not Found", "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry"},
    [ERR_DIGEST_INVALID] = {400, "Bad Request", "DIGEST_INVALID", "provided digest did not match uploaded content"},
    [ERR_MANIFEST_BLOB_UNKNOWN] = {400, "Bad Request", "MANIFEST_BLOB_UNKNOWN",
                                   "manifest references a manifest or blob unknown to registry"},
    [ERR_MANIFEST_INVALID] = {400, "Bad Request", "MANIFEST_INVALID", "manifest invalid"},
    [ERR_MANIFEST_UNKNOWN] = {404, "Not Found", "MANIFEST_UNKNOWN", "manifest unknown to registry"},
    [ERR_NAME_INVALID] = {400, "Bad Request", "NAME_INVALID", "invalid repository name"},
    [ERR_NAME_UNKNOWN] = {404, "Not Found", "NAME_UNKNOWN", "repository name not known to registry"},
    [ERR_SIZE_INVALID] = {413, "Payload Too Large", "SIZE_INVALID", "provided length did not match content length"},
    [ERR_SIZE_MISMATCH] = {400, "Bad Request", "SIZE_INVALID", "provided length did not match content length"},
    [ERR_TAG_INVALID] = {400, "Bad Request", "TAG_INVALID", "manifest tag did not match URI"},
    [ERR_UNSUPPORTED] = {400, "Bad Request", "UNSUPPORTED", "the operation is unsupported"},
    [ERR_PAGINATION_NUMBER_INVALID] = {400, "Bad Request", "PAGINATION_NUMBER_INVALID", "invalid number of results requested"},
    [ERR_RANGE_INVALID] = {416, "Range Not Satisfiable", "BLOB_UPLOAD_INVALID", "blob upload invalid"},
    [ERR_NOT_FOUND] = {404, "Not Found", "NOT_FOUND", "no such endpoint"},
    [ERR_METHOD_UNKNOWN] = {405, "Method Not Allowed", "UNSUPPORTED", "the operation is unsupported"},
    [ERR_STORAGE_FULL] = {507, "Insufficient Storage", "UNKNOWN", "the registry's storage is full"},
    [ERR_UNAUTHORIZED] = {401, "Unauthorized", "UNAUTHORIZED", "authentication required"},
    [ERR_DENIED] = {403, "Forbidden", "DENIED", "requested access to the resource is denied"},
    [ERR_UNKNOWN] = {500, "Internal Server Error", "UNKNOWN", "unknown error"},
};

bool v2_is_head(h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

void v2_add_header(h2o_req_t *req, const char *name, const char *value, size_t len)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, h2o_strdup(&req->pool, value, len).base, len);
}

void v2_add_headerf(h2o_req_t *req, const char *name, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    v2_add_header(req, name, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

h2o_iovec_t v2_req_header(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return h2o_iovec_init(NULL, 0);
    return req->headers.entries[i].value;
}

void v2_send_json(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    v2_send_json_pooled(req, status, content_type, h2o_strdup(&req->pool, body, len));
}

/* The reason phrase is set before h2o_send: h2o 2.2.5 writes the status line then. */
static void send_pooled(h2o_req_t *req, int status, const char *reason, const char *content_type, h2o_iovec_t buf)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = reason;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    req->res.content_length = buf.len;
    h2o_start_response(req, &generator);
    if (v2_is_head(req))
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

void v2_send_json_pooled(h2o_req_t *req, int status, const char *content_type, h2o_iovec_t buf)
{
    const char *reason = status == 200 ? "OK" : status == 201 ? "Created" : status == 202 ? "Accepted" : "Error";
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
        if (errors[i].status == status)
            reason = errors[i].reason;
    send_pooled(req, status, reason, content_type, buf);
}

void v2_send_error(h2o_req_t *req, v2_error_t e, const char *detail)
{
    json_t *doc = json_pack("{s:[{s:s,s:s,s:s}]}", "errors", "code", errors[e].code, "message", errors[e].message, "detail",
                            detail ? detail : "");
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    const char *fallback = "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"out of memory\"}]}";
    const char *text = body ? body : fallback;
    send_pooled(req, errors[e].status, errors[e].reason, "application/json", h2o_strdup(&req->pool, text, strlen(text)));
    free(body);
    json_decref(doc);
}

void v2_send_error_message(h2o_req_t *req, v2_error_t e, const char *message, json_t *detail)
{
    json_t *doc = json_pack("{s:[{s:s,s:s,s:o}]}", "errors", "code", errors[e].code, "message", message, "detail",
                            detail ? detail : json_string(""));
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    const char *fallback = "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"out of memory\"}]}";
    const char *text = body ? body : fallback;
    send_pooled(req, errors[e].status, errors[e].reason, "application/json", h2o_strdup(&req->pool, text, strlen(text)));
    free(body);
    json_decref(doc);
}

void v2_send_unauthorized(h2o_req_t *req, const char *detail)
{
    v2_add_header(req, "www-authenticate", H2O_STRLIT("Basic realm=\"berth\""));
    v2_send_error(req, ERR_UNAUTHORIZED, detail);
}

void v2_send_storage_error(h2o_req_t *req, const storage_err_t *err, v2_error_t not_found)
{
    v2_error_t e = ERR_UNKNOWN;
    switch (err->status) {
    case STORAGE_NOT_FOUND:
        e = not_found;
        break;
    case STORAGE_DIGEST_MISMATCH:
        e = ERR_DIGEST_INVALID;
        break;
    case STORAGE_RANGE:
        e = ERR_RANGE_INVALID;
        break;
    case STORAGE_REFERENCE:
        e = ERR_MANIFEST_BLOB_UNKNOWN;
        break;
    case STORAGE_INVALID:
        e = ERR_BLOB_UPLOAD_INVALID;
        break;
    case STORAGE_FULL:
        e = ERR_STORAGE_FULL;
        break;
    default:
        fprintf(stderr, "berthd: storage error: %s\n", err->msg);
        break;
    }
    v2_send_error(req, e, err->msg);
}

void v2_send_empty(h2o_req_t *req, int status, const char *reason)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = 0;
    h2o_start_response(req, &generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}
