/* /v2/<name>/blobs/uploads/[<id>]: POST (start, monolithic, mount), PATCH,
 * PUT, GET (status), DELETE (cancel). Every 201/202 is sent from the op's
 * completion, i.e. after the writer has committed and synced. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "server/server_internal.h"

void v2_format_range(char *buf, size_t cap, uint64_t offset)
{
    snprintf(buf, cap, "0-%llu", (unsigned long long)(offset ? offset - 1 : 0));
}

void v2_add_upload_headers(h2o_req_t *req, const char *name, const char *id, uint64_t offset)
{
    char range[48];
    v2_format_range(range, sizeof(range), offset);
    v2_add_headerf(req, "location", "/v2/%s/blobs/uploads/%s", name, id);
    v2_add_header(req, "docker-upload-uuid", id, strlen(id));
    v2_add_header(req, "range", range, strlen(range));
}

static bool upload_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n != STORAGE_UPLOAD_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

/* The ?digest= of a PUT or monolithic POST; false after sending 400. */
static bool query_digest(v2_req_t *r, oci_digest_t *d, bool *present)
{
    char buf[OCI_DIGEST_MAX + 16];
    long n = http_query_param(r->query, r->query_len, "digest", buf, sizeof(buf));
    *present = n != -1;
    if (n == -1)
        return true;
    oci_err_t err;
    if (n < 0 || oci_digest_parse(buf, (size_t)n, d, &err) != OCI_OK) {
        v2_send_error(r->req, ERR_DIGEST_INVALID, n < 0 ? "the digest parameter is malformed" : err.msg);
        return false;
    }
    return true;
}

/* The request body as the op's data. Nothing reads a blob body again once
 * the op has it, whatever the op's outcome (a failed PATCH is resent whole
 * by the client), so the store may free the pages of h2o's spool file as it
 * stores them (STORAGE_OP_DATA_SPENT): a big push then holds one copy of the
 * body in memory, not two. */
static bool take_blob_body(server_op_t *sop)
{
    if (!server_op_take_body(sop))
        return false;
    sop->op.flags |= STORAGE_OP_DATA_SPENT;
    return true;
}

static void send_created(h2o_req_t *req, const char *name, const oci_digest_t *d)
{
    v2_add_headerf(req, "location", "/v2/%s/blobs/%s", name, d->str);
    v2_add_header(req, "docker-content-digest", d->str, d->len);
    v2_send_empty(req, 201, "Created");
}

static void upload_started(server_op_t *sop, h2o_req_t *req)
{
    if (sop->op.status != STORAGE_OK) {
        v2_send_storage_error(req, &sop->op.err, ERR_NAME_UNKNOWN);
        return;
    }
    v2_add_upload_headers(req, sop->r.name, sop->op.upload_id, 0);
    v2_send_empty(req, 202, "Accepted");
}

static void blob_created(server_op_t *sop, h2o_req_t *req)
{
    if (sop->op.status != STORAGE_OK) {
        v2_send_storage_error(req, &sop->op.err, ERR_BLOB_UPLOAD_UNKNOWN);
        return;
    }
    send_created(req, sop->r.name, &sop->op.digest);
}

static void mounted(server_op_t *sop, h2o_req_t *req)
{
    if (sop->op.status == STORAGE_OK) {
        send_created(req, sop->r.name, &sop->op.digest);
        return;
    }
    if (sop->op.status != STORAGE_NOT_FOUND) {
        v2_send_storage_error(req, &sop->op.err, ERR_BLOB_UNKNOWN);
        return;
    }
    /* Not mountable: an ordinary upload, as the spec asks. */
    server_op_resubmit(sop, STORAGE_OP_UPLOAD_BEGIN, upload_started);
}

int v2_upload_start(v2_req_t *r)
{
    h2o_req_t *req = r->req;
    char from[OCI_NAME_MAX + 1], mount[OCI_DIGEST_MAX + 16];
    long from_len = http_query_param(r->query, r->query_len, "from", from, sizeof(from));
    long mount_len = http_query_param(r->query, r->query_len, "mount", mount, sizeof(mount));
    oci_digest_t d;
    oci_err_t err;
    if (r->mount_allowed && mount_len >= 0 && from_len > 0 && oci_digest_parse(mount, (size_t)mount_len, &d, &err) == OCI_OK &&
        oci_name_valid(from, (size_t)from_len)) {
        server_op_t *sop = server_op_new(r, STORAGE_OP_BLOB_MOUNT, mounted);
        if (!sop) {
            v2_send_error(req, ERR_UNKNOWN, "out of memory");
            return 0;
        }
        memcpy(sop->op.from_repo, from, (size_t)from_len + 1);
        sop->op.digest = d;
        server_op_submit(sop);
        return 0;
    }
    bool has_digest;
    if (!query_digest(r, &d, &has_digest))
        return 0;
    if (has_digest) {
        server_op_t *sop = server_op_new(r, STORAGE_OP_BLOB_PUT, blob_created);
        if (!sop || !take_blob_body(sop)) {
            if (sop)
                server_op_free(sop);
            v2_send_error(req, ERR_UNKNOWN, "out of memory");
            return 0;
        }
        sop->op.digest = d;
        server_op_submit(sop);
        return 0;
    }
    server_op_t *sop = server_op_new(r, STORAGE_OP_UPLOAD_BEGIN, upload_started);
    if (!sop) {
        v2_send_error(req, ERR_UNKNOWN, "out of memory");
        return 0;
    }
    server_op_submit(sop);
    return 0;
}

static void patched(server_op_t *sop, h2o_req_t *req)
{
    if (sop->op.status == STORAGE_RANGE) {
        v2_add_upload_headers(req, sop->r.name, sop->op.upload_id, sop->op.result_offset);
        v2_send_error(req, ERR_RANGE_INVALID, sop->op.err.msg);
        return;
    }
    if (sop->op.status != STORAGE_OK) {
        v2_send_storage_error(req, &sop->op.err, ERR_BLOB_UPLOAD_UNKNOWN);
        return;
    }
    v2_add_upload_headers(req, sop->r.name, sop->op.upload_id, sop->op.result_offset);
    v2_send_empty(req, 202, "Accepted");
}

static server_op_t *upload_op(v2_req_t *r, storage_op_kind_t kind, server_op_complete_cb cb)
{
    if (!upload_id_valid(r->arg)) {
        v2_send_error(r->req, ERR_BLOB_UPLOAD_UNKNOWN, "no upload has this id");
        return NULL;
    }
    server_op_t *sop = server_op_new(r, kind, cb);
    if (!sop) {
        v2_send_error(r->req, ERR_UNKNOWN, "out of memory");
        return NULL;
    }
    memcpy(sop->op.upload_id, r->arg, STORAGE_UPLOAD_ID_LEN + 1);
    return sop;
}

/* The upload's current offset, into *offset; false when it sent a 404 (no
 * such upload in this repository) or, for a damaged session or a failed
 * read, the storage error (500): never "unknown" for an upload that exists. */
static bool upload_offset(v2_req_t *r, uint64_t *offset)
{
    if (!upload_id_valid(r->arg)) {
        v2_send_error(r->req, ERR_BLOB_UPLOAD_UNKNOWN, "no upload has this id");
        return false;
    }
    storage_reader_t *rd = v2_reader(r);
    if (!rd)
        return false;
    storage_upload_t up;
    storage_err_t err;
    storage_status_t st = storage_upload_stat(rd, r->arg, &up, &err);
    storage_reader_end(rd);
    if (st != STORAGE_OK && st != STORAGE_NOT_FOUND) {
        v2_send_storage_error(r->req, &err, ERR_BLOB_UPLOAD_UNKNOWN); /* a damaged session or a failed read: 500 */
        return false;
    }
    if (st != STORAGE_OK || strcmp(up.repo, r->name) != 0) {
        v2_send_error(r->req, ERR_BLOB_UPLOAD_UNKNOWN, "no upload has this id in this repository");
        return false;
    }
    *offset = up.offset;
    return true;
}

/* 416 for a Content-Range that cannot be the next chunk, with the Range of
 * the upload's current offset, as an out-of-order chunk gets from the store
 * (so the client knows where to resume); 404 when there is no such upload. */
static void send_not_next_chunk(v2_req_t *r, const char *msg)
{
    uint64_t offset;
    if (!upload_offset(r, &offset))
        return;
    v2_add_upload_headers(r->req, r->name, r->arg, offset);
    v2_send_error(r->req, ERR_RANGE_INVALID, msg);
}

int v2_upload_patch(v2_req_t *r)
{
    h2o_req_t *req = r->req;
    h2o_iovec_t cr = v2_req_header(req, "content-range");
    uint64_t first = STORAGE_OFFSET_ANY, last = 0;
    if (cr.len) {
        /* The parser refuses a span ending at 2^64-1, so first is never
         * STORAGE_OFFSET_ANY and last - first + 1 never wraps. */
        if (!http_content_range_parse(cr.base, cr.len, &first, &last)) {
            send_not_next_chunk(r, "Content-Range must be <first>-<last>, ending before byte 18446744073709551615");
            return 0;
        }
        if (last - first + 1 != req->entity.len) {
            v2_send_error(req, ERR_SIZE_MISMATCH, "Content-Range does not match the body's length");
            return 0;
        }
    }
    server_op_t *sop = upload_op(r, STORAGE_OP_UPLOAD_APPEND, patched);
    if (!sop)
        return 0;
    if (!take_blob_body(sop)) {
        server_op_free(sop);
        v2_send_error(req, ERR_UNKNOWN, "out of memory");
        return 0;
    }
    sop->op.offset = first;
    server_op_submit(sop);
    return 0;
}

int v2_upload_put(v2_req_t *r)
{
    oci_digest_t d;
    bool has_digest;
    if (!query_digest(r, &d, &has_digest))
        return 0;
    if (!has_digest) {
        v2_send_error(r->req, ERR_DIGEST_INVALID, "completing an upload needs ?digest=<algorithm>:<hex>");
        return 0;
    }
    server_op_t *sop = upload_op(r, STORAGE_OP_UPLOAD_COMMIT, blob_created);
    if (!sop)
        return 0;
    if (!take_blob_body(sop)) {
        server_op_free(sop);
        v2_send_error(r->req, ERR_UNKNOWN, "out of memory");
        return 0;
    }
    sop->op.digest = d;
    server_op_submit(sop);
    return 0;
}

int v2_upload_status(v2_req_t *r)
{
    uint64_t offset;
    if (!upload_offset(r, &offset))
        return 0;
    v2_add_upload_headers(r->req, r->name, r->arg, offset);
    v2_send_empty(r->req, 204, "No Content");
    return 0;
}

static void cancelled(server_op_t *sop, h2o_req_t *req)
{
    if (sop->op.status != STORAGE_OK) {
        v2_send_storage_error(req, &sop->op.err, ERR_BLOB_UPLOAD_UNKNOWN);
        return;
    }
    v2_send_empty(req, 204, "No Content");
}

int v2_upload_cancel(v2_req_t *r)
{
    server_op_t *sop = upload_op(r, STORAGE_OP_UPLOAD_ABORT, cancelled);
    if (sop)
        server_op_submit(sop);
    return 0;
}
