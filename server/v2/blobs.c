/* GET/HEAD/DELETE /v2/<name>/blobs/<digest>
 *
 * A blob streams chunk by chunk straight from the store's map: each proceed
 * takes a fresh snapshot, so a slow client never pins old pages for long. */
#include <string.h>

#include "server/server_internal.h"

struct blob_stream {
    h2o_generator_t super;
    storage_reader_t *rd;
    storage_blob_t blob;
    uint64_t pos, end; /* next byte to send, one past the last */
};

static void stream_dispose(void *p)
{
    struct blob_stream *s = p;
    storage_reader_end(s->rd);
}

static void stream_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    struct blob_stream *s = (struct blob_stream *)g;
    storage_err_t err;
    const void *data;
    size_t len;
    if (storage_reader_refresh(s->rd, &err) != STORAGE_OK ||
        storage_blob_read(s->rd, &s->blob, s->pos, &data, &len, &err) != STORAGE_OK) {
        /* Headers are out: all we can do is cut the response short. */
        fprintf(stderr, "berthd: blob read failed: %s\n", err.msg);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    if (len > s->end - s->pos)
        len = s->end - s->pos;
    s->pos += len;
    h2o_iovec_t buf = h2o_iovec_init(data, len);
    h2o_send(req, &buf, 1, s->pos == s->end ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void stream_stop(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    struct blob_stream *s = (struct blob_stream *)g;
    storage_reader_release(s->rd);
}

static bool parse_digest(v2_req_t *r, oci_digest_t *d)
{
    oci_err_t err;
    if (oci_digest_parse(r->arg, strlen(r->arg), d, &err) != OCI_OK) {
        v2_send_error(r->req, ERR_DIGEST_INVALID, err.msg);
        return false;
    }
    return true;
}

int v2_blob_get(v2_req_t *r)
{
    h2o_req_t *req = r->req;
    oci_digest_t d;
    if (!parse_digest(r, &d))
        return 0;
    storage_reader_t *rd = v2_reader(r);
    if (!rd)
        return 0;
    storage_blob_t blob;
    storage_err_t err;
    if (storage_blob_stat(rd, r->name, &d, &blob, &err) != STORAGE_OK) {
        storage_reader_end(rd);
        v2_send_storage_error(req, &err, ERR_BLOB_UNKNOWN);
        return 0;
    }
    uint64_t first = 0, end = blob.size;
    h2o_iovec_t range = v2_req_header(req, "range");
    int status = 200;
    if (range.len) {
        /* an empty blob has no satisfiable range: every one is ignored or refused */
        http_range_t rg;
        switch (http_range_parse(range.base, range.len, blob.size, &rg)) {
        case HTTP_RANGE_OK:
            first = rg.first;
            end = rg.last + 1;
            status = 206;
            v2_add_headerf(req, "content-range", "bytes %llu-%llu/%llu", (unsigned long long)rg.first, (unsigned long long)rg.last,
                           (unsigned long long)blob.size);
            break;
        case HTTP_RANGE_UNSATISFIABLE:
            storage_reader_end(rd);
            v2_add_headerf(req, "content-range", "bytes */%llu", (unsigned long long)blob.size);
            v2_send_error(req, ERR_RANGE_INVALID, "the requested range is not satisfiable");
            return 0;
        case HTTP_RANGE_IGNORE:
            break;
        }
    }
    v2_add_header(req, "docker-content-digest", d.str, d.len);
    v2_add_header(req, "accept-ranges", "bytes", 5);
    v2_add_headerf(req, "etag", "\"%s\"", d.str);
    v2_add_header(req, "cache-control", "max-age=31536000", 16);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/octet-stream"));
    req->res.status = status;
    req->res.reason = status == 206 ? "Partial Content" : "OK";
    req->res.content_length = end - first;
    if (v2_is_head(req) || first == end) {
        storage_reader_end(rd);
        static h2o_generator_t none = {NULL, NULL};
        h2o_start_response(req, &none);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return 0;
    }
    struct blob_stream *s = h2o_mem_alloc_shared(&req->pool, sizeof(*s), stream_dispose);
    s->super.proceed = stream_proceed;
    s->super.stop = stream_stop;
    s->rd = rd;
    s->blob = blob;
    s->pos = first;
    s->end = end;
    h2o_start_response(req, &s->super);
    stream_proceed(&s->super, req);
    return 0;
}

/* GET/HEAD of a signed blob URL (GetDownloadUrlForLayer): the signature
 * alone decides, for exactly the repository and digest in the path; no
 * credentials are asked for, and a bad or expired one is a 403 whatever else
 * the request carries. */
int v2_blob_get_signed(v2_req_t *r)
{
    oci_digest_t d;
    if (!parse_digest(r, &d))
        return 0;
    auth_err_t err;
    auth_status_t st =
        auth_blob_url_verify(r->srv->keys.master_key, r->name, d.str, r->query, r->query_len, server_auth_now(r->srv), &err);
    if (st != AUTH_OK) {
        v2_send_error(r->req, st == AUTH_ECRYPTO ? ERR_UNKNOWN : ERR_DENIED, err.msg);
        return 0;
    }
    return v2_blob_get(r);
}

static void blob_deleted(server_op_t *sop, h2o_req_t *req)
{
    if (sop->op.status != STORAGE_OK) {
        v2_send_storage_error(req, &sop->op.err, ERR_BLOB_UNKNOWN);
        return;
    }
    v2_send_empty(req, 202, "Accepted");
}

int v2_blob_delete(v2_req_t *r)
{
    oci_digest_t d;
    if (!parse_digest(r, &d))
        return 0;
    server_op_t *sop = server_op_new(r, STORAGE_OP_BLOB_UNLINK, blob_deleted);
    if (!sop) {
        v2_send_error(r->req, ERR_UNKNOWN, "out of memory");
        return 0;
    }
    sop->op.digest = d;
    server_op_submit(sop);
    return 0;
}
