/*
 * server/server_internal.h — what the files of server/ share. No other part
 * includes it.
 *
 * Threads: N event loops (one h2o context each, one SO_REUSEPORT listener
 * each) plus storage's writer. A handler reads with its own snapshot on the
 * loop thread and hands every change to the writer as a storage op; the
 * op's completion comes back to the same loop through an h2o multithread
 * queue, and only then is the response sent. The loop never waits on a write.
 */
#ifndef BERTH_SERVER_INTERNAL_H
#define BERTH_SERVER_INTERNAL_H

#include <h2o.h>
#include <stdbool.h>

#include "oci/oci.h"
#include "server/http_parse.h"
#include "storage/storage.h"

typedef struct {
    storage_t *storage;
    uint64_t max_body; /* largest request body accepted */
} server_t;

/* One per event-loop thread; h2o's context first so a req->conn->ctx casts to it. */
typedef struct {
    h2o_context_t ctx;
    h2o_multithread_receiver_t op_done;
    server_t *srv;
} server_thread_t;

/* A /v2/ request after routing: the repository and the route's last element. */
typedef struct {
    h2o_req_t *req;
    server_t *srv;
    char name[OCI_NAME_MAX + 1];
    char arg[OCI_DIGEST_MAX + 8]; /* digest, reference or upload id (percent-decoded) */
    const char *query;            /* after '?', not NUL-terminated */
    size_t query_len;
} v2_req_t;

/* ---- responses (server/respond.c) ---- */

/* OCI error codes with their status and the spec's message. */
typedef enum {
    ERR_BLOB_UNKNOWN,
    ERR_BLOB_UPLOAD_INVALID,
    ERR_BLOB_UPLOAD_UNKNOWN,
    ERR_DIGEST_INVALID,
    ERR_MANIFEST_BLOB_UNKNOWN,
    ERR_MANIFEST_INVALID,
    ERR_MANIFEST_UNKNOWN,
    ERR_NAME_INVALID,
    ERR_NAME_UNKNOWN,
    ERR_SIZE_INVALID,  /* 413: over a size limit */
    ERR_SIZE_MISMATCH, /* 400: a length that disagrees with the body */
    ERR_TAG_INVALID,
    ERR_UNSUPPORTED,
    ERR_PAGINATION_NUMBER_INVALID,
    ERR_RANGE_INVALID,
    ERR_NOT_FOUND,
    ERR_METHOD_UNKNOWN,
    ERR_STORAGE_FULL,
    ERR_UNKNOWN,
} v2_error_t;

/* Sends {"errors":[{"code","message","detail"}]} with the code's status. */
void v2_send_error(h2o_req_t *req, v2_error_t e, const char *detail);
/* The response for a failed storage call, given what NOT_FOUND means here. */
void v2_send_storage_error(h2o_req_t *req, const storage_err_t *err, v2_error_t not_found);
/* Empty-bodied response with Content-Length: 0. */
void v2_send_empty(h2o_req_t *req, int status, const char *reason);
void v2_send_json(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len);
void v2_add_header(h2o_req_t *req, const char *name, const char *value, size_t len);
void v2_add_headerf(h2o_req_t *req, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The first value of a request header, or a zero-length iovec. */
h2o_iovec_t v2_req_header(h2o_req_t *req, const char *name);
bool v2_is_head(h2o_req_t *req);

/* ---- async storage ops (server/async.c) ---- */

typedef struct server_op server_op_t;
typedef void (*server_op_complete_cb)(server_op_t *sop, h2o_req_t *req);
struct server_op {
    storage_op_t op;
    h2o_multithread_message_t msg;
    h2o_req_t *req; /* NULL once the client has gone */
    void **guard;   /* in req's pool: points back at us until we finish */
    server_op_complete_cb complete;
    server_thread_t *thread;
    /* what the handler keeps until completion */
    v2_req_t r;
    void *owned; /* body copy (HTTP/2) or other heap data, freed with the op */
    oci_manifest_t manifest;
    bool has_manifest;
    char *referrer_json;
    int retry; /* handler-specific follow-up step */
};

/* A zeroed op for `req` whose completion calls `complete` on this loop. */
server_op_t *server_op_new(v2_req_t *r, storage_op_kind_t kind, server_op_complete_cb complete);
/* Points the op at the request body without copying where h2o keeps the body
 * alive until the response (HTTP/1); copies it otherwise. False: no memory. */
bool server_op_take_body(server_op_t *sop);
void server_op_submit(server_op_t *sop);
/* From a completion: runs a follow-up op of `kind` for the same request
 * (same repository), completing with `complete`. */
void server_op_resubmit(server_op_t *sop, storage_op_kind_t kind, server_op_complete_cb complete);
void server_op_free(server_op_t *sop);
void server_thread_init_ops(server_thread_t *t);

/* ---- /v2/ handlers: one file per resource under server/v2/ ---- */

int v2_blob_get(v2_req_t *r);
int v2_blob_delete(v2_req_t *r);
int v2_upload_start(v2_req_t *r);
int v2_upload_patch(v2_req_t *r);
int v2_upload_put(v2_req_t *r);
int v2_upload_status(v2_req_t *r);
int v2_upload_cancel(v2_req_t *r);
int v2_manifest_get(v2_req_t *r);
int v2_manifest_put(v2_req_t *r);
int v2_manifest_delete(v2_req_t *r);
int v2_tags_list(v2_req_t *r);
int v2_catalog(v2_req_t *r);
int v2_referrers(v2_req_t *r);

/* Routes one request; called by the h2o handler. */
int v2_route(server_t *srv, h2o_req_t *req);

/* Helpers shared by handlers. */
storage_reader_t *v2_reader(v2_req_t *r); /* sends 500 and returns NULL on failure */
/* Location of an upload: /v2/<name>/blobs/uploads/<id> */
void v2_add_upload_headers(h2o_req_t *req, const char *name, const char *id, uint64_t offset);
/* Range header value for `offset` bytes received: "0-<offset-1>" ("0-0" when empty, as distribution sends). */
void v2_format_range(char *buf, size_t cap, uint64_t offset);
/* Appends a Link header for the next page of a listing. */
void v2_add_next_link(h2o_req_t *req, const char *path, size_t n, const char *last);
/* n and last from a listing's query; false after sending 400. */
bool v2_pagination(v2_req_t *r, size_t *n, bool *has_n, char *last, size_t last_cap, size_t default_n);

#endif
