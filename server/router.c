/* /v2/ routing: the raw path (not h2o's normalized one, which would resolve
 * "..") is percent-decoded, split from the right into repository name and
 * route, and the name is checked against the spec's grammar before any
 * handler sees it. */
#include <string.h>

#include "server/server_internal.h"

/* Longest path we route: a maximal name plus the longest route suffix. */
#define ROUTE_PATH_MAX (OCI_NAME_MAX + 256)

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes src into dst (NUL-terminated); false on a bad escape, an
 * encoded NUL or overflow. */
static bool decode_path(const char *src, size_t len, char *dst, size_t cap, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return false;
            if ((hi = hexval(src[i + 1])) < 0 || (lo = hexval(src[i + 2])) < 0)
                return false;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return false;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    *out_len = o;
    return true;
}

static bool method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

static bool ends_with(const char *s, size_t len, const char *suffix, size_t *prefix_len)
{
    size_t sl = strlen(suffix);
    if (len < sl || memcmp(s + len - sl, suffix, sl) != 0)
        return false;
    *prefix_len = len - sl;
    return true;
}

typedef enum { R_NONE, R_TAGS, R_MANIFEST, R_BLOB, R_UPLOADS, R_UPLOAD, R_REFERRERS } route_t;

/* Splits "<name>/<route...>" (path after "/v2/"). */
static route_t split(const char *p, size_t len, size_t *name_len, const char **arg, size_t *arg_len)
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

int v2_route(server_t *srv, h2o_req_t *req)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("docker-distribution-api-version"), 0, NULL,
                          H2O_STRLIT("registry/2.0"));
    size_t raw_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    v2_req_t r = {.req = req, .srv = srv};
    if (req->query_at != SIZE_MAX) {
        r.query = req->path.base + req->query_at + 1;
        r.query_len = req->path.len - req->query_at - 1;
    }
    char path[ROUTE_PATH_MAX + 1];
    size_t len;
    if (!decode_path(req->path.base, raw_len, path, sizeof(path), &len)) {
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
    bool get = method_is(req, "GET") || method_is(req, "HEAD");
    if (len == 4) {
        if (!get) {
            v2_send_error(req, ERR_METHOD_UNKNOWN, "/v2/ answers GET and HEAD");
            return 0;
        }
        v2_send_json(req, 200, "application/json", "{}", 2);
        return 0;
    }
    const char *p = path + 4;
    size_t plen = len - 4;
    if (plen == 8 && memcmp(p, "_catalog", 8) == 0) {
        if (!get) {
            v2_send_error(req, ERR_METHOD_UNKNOWN, "the catalog answers GET");
            return 0;
        }
        return v2_catalog(&r);
    }
    size_t name_len = 0, arg_len;
    const char *arg;
    route_t route = split(p, plen, &name_len, &arg, &arg_len);
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
    memcpy(r.name, p, name_len);
    r.name[name_len] = '\0';
    if (arg_len >= sizeof(r.arg)) {
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
        memcpy(r.arg, arg, arg_len);
    r.arg[arg_len] = '\0';

    switch (route) {
    case R_TAGS:
        if (get)
            return v2_tags_list(&r);
        break;
    case R_MANIFEST:
        if (get)
            return v2_manifest_get(&r);
        if (method_is(req, "PUT"))
            return v2_manifest_put(&r);
        if (method_is(req, "DELETE"))
            return v2_manifest_delete(&r);
        break;
    case R_BLOB:
        if (get)
            return v2_blob_get(&r);
        if (method_is(req, "DELETE"))
            return v2_blob_delete(&r);
        break;
    case R_UPLOADS:
        if (method_is(req, "POST"))
            return v2_upload_start(&r);
        break;
    case R_UPLOAD:
        if (method_is(req, "PATCH"))
            return v2_upload_patch(&r);
        if (method_is(req, "PUT"))
            return v2_upload_put(&r);
        if (method_is(req, "GET"))
            return v2_upload_status(&r);
        if (method_is(req, "DELETE"))
            return v2_upload_cancel(&r);
        break;
    case R_REFERRERS:
        if (get)
            return v2_referrers(&r);
        break;
    case R_NONE:
        break;
    }
    v2_send_error(req, ERR_METHOD_UNKNOWN, "this method is not allowed on this endpoint");
    return 0;
}
