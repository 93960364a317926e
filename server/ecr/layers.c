/*
 * ECR's layer operations: GetDownloadUrlForLayer (a signed, expiring URL to
 * the /v2/ blob GET, auth/blob_url.c) and the API push path,
 * InitiateLayerUpload / UploadLayerPart / CompleteLayerUpload, on the same
 * storage upload sessions as /v2/'s POST / PATCH / PUT: the same durability
 * (an answer only once the bytes are committed and synced), the same file
 * tier for big blobs, the same sweep of abandoned uploads by the collector.
 *
 * An upload id is the storage session's (32 hex digits). A part must start
 * where the upload ends (partFirstByte = bytes received so far) and hold
 * partLastByte - partFirstByte + 1 bytes; anything else is
 * InvalidLayerPartException, and the upload stays where it was.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/ecr/ecr_cache.h"
#include "server/ecr/ecr_request.h"
#include "server/server_internal.h"

/* What InitiateLayerUpload advises as partSize: ECR's service quota for a
 * layer part is 5 to 10 MiB; parts up to ECR_LAYER_PART_MAX_BYTES are taken. */
#define ECR_LAYER_PART_SIZE ((uint64_t)10 << 20)
/* base64 decoded in slices auth_b64_decode takes (it stops at 1 MiB out): 4 characters make 3 bytes */
#define B64_SLICE_CHARS ((size_t)1 << 20)

/* What an op's completion needs once the request's body and snapshot are gone. */
typedef struct {
    aws_req_t a;
    char repo[OCI_NAME_MAX + 1];
    unsigned char *data; /* UploadLayerPart: the decoded part */
} layer_op_t;

static void layer_op_free(void *p)
{
    layer_op_t *l = p;
    free(l->data);
    free(l);
}

/* A storage op for `kind` on repo, its completion `done`; NULL after sending 500. */
static server_op_t *layer_op(aws_req_t *a, const char *repo, storage_op_kind_t kind, server_op_complete_cb done)
{
    layer_op_t *l = calloc(1, sizeof(*l));
    v2_req_t r = {.req = a->req, .srv = a->srv};
    server_op_t *sop = l ? server_op_new(&r, kind, done) : NULL;
    if (!sop) {
        free(l);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return NULL;
    }
    l->a = *a;
    l->a.rd = NULL;
    l->a.body = NULL;
    snprintf(l->repo, sizeof(l->repo), "%s", repo);
    snprintf(sop->op.repo, sizeof(sop->op.repo), "%s", repo);
    sop->user = l;
    sop->free_user = layer_op_free;
    return sop;
}

static void send_store_error(aws_req_t *a, const server_op_t *sop)
{
    aws_send_error(a, sop->op.status == STORAGE_FULL ? 503 : 500, "ServerException", "%s", sop->op.err.msg);
}

static void send_upload_not_found(aws_req_t *a, const char *repo, const char *id)
{
    aws_send_error(a, 400, "UploadNotFoundException",
                   "The upload with id '%.64s' does not exist in the repository with name '%s' in the registry with id '%s'", id,
                   repo, a->srv->keys.account_id);
}

/* uploadId names an upload of repo in the snapshot: its offset into *offset;
 * NULL after sending UploadNotFoundException (or 500 for a damaged session). */
static const char *upload_param(aws_req_t *a, const char *repo, uint64_t *offset)
{
    const char *id = aws_param_string(a, "uploadId", true);
    if (!id)
        return NULL;
    bool shaped = strlen(id) == STORAGE_UPLOAD_ID_LEN && strspn(id, "0123456789abcdef") == STORAGE_UPLOAD_ID_LEN;
    storage_upload_t up;
    storage_err_t err;
    storage_status_t st = shaped ? storage_upload_stat(a->rd, id, &up, &err) : STORAGE_NOT_FOUND;
    if (st != STORAGE_OK && st != STORAGE_NOT_FOUND) {
        aws_send_error(a, 500, "ServerException", "%s", err.msg);
        return NULL;
    }
    if (st != STORAGE_OK || strcmp(up.repo, repo) != 0) {
        send_upload_not_found(a, repo, id);
        return NULL;
    }
    *offset = up.offset;
    return id;
}

/* ---- GetDownloadUrlForLayer ----------------------------------------------------- */

typedef struct {
    const oci_digest_t *d;
    bool found;
} ref_search_t;

static uint64_t digest_hash(const char *d)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (; *d; d++) {
        h ^= (unsigned char)*d;
        h *= 1099511628211ull;
    }
    return h;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Whether manifest im references the blob d (config or layer). What a
 * manifest references is remembered by its digest (ecr_cache.h): the hashes
 * of its blobs' digests, sorted (a collision could only hand out a URL for a
 * blob of the repository that no image uses). */
static bool manifest_references(const storage_image_t *im, const oci_digest_t *d)
{
    char key[OCI_DIGEST_MAX + 8];
    snprintf(key, sizeof(key), "blobs/%s", im->digest);
    size_t len = 0;
    uint64_t *h = ecr_cache_get(key, &len), want = digest_hash(d->str);
    if (!h) {
        /* the digest's text is in every manifest that names it: parse only those */
        if (!memmem(im->body, im->len, d->str, d->len))
            return false;
        oci_manifest_t m;
        bool parsed = oci_manifest_parse(im->body, im->len, im->media_type, strlen(im->media_type), &m, NULL) == OCI_OK;
        if (!parsed)
            m.nblobs = 0; /* references nothing: remembered so */
        if ((h = malloc(m.nblobs ? m.nblobs * sizeof(*h) : 1)) != NULL) {
            for (size_t i = 0; i < m.nblobs; i++)
                h[i] = digest_hash(m.blobs[i].digest.str);
            qsort(h, m.nblobs, sizeof(*h), u64_cmp);
            len = m.nblobs * sizeof(*h);
            ecr_cache_put(key, h, len);
        }
        if (parsed)
            oci_manifest_free(&m);
        if (!h)
            return false;
    }
    bool found = bsearch(&want, h, len / sizeof(*h), sizeof(*h), u64_cmp) != NULL;
    free(h);
    return found;
}

/* Whether a manifest of the repository references the blob (config or layer). */
static bool references(void *ctx, const storage_image_t *im)
{
    ref_search_t *s = ctx;
    s->found = manifest_references(im, s->d);
    return !s->found;
}

static void get_download_url_for_layer(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "layerDigest", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:GetDownloadUrlForLayer");
    if (!repo)
        return;
    json_t *v = json_object_get(a->body, "layerDigest");
    oci_digest_t d;
    if (!json_is_string(v) || oci_digest_parse(json_string_value(v), json_string_length(v), &d, NULL) != OCI_OK) {
        aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at 'layerDigest': not a digest (algorithm:hex)");
        return;
    }
    storage_blob_t blob;
    storage_err_t err;
    storage_status_t st = storage_blob_stat(a->rd, repo, &d, &blob, &err);
    if (st == STORAGE_NOT_FOUND) {
        aws_send_error(a, 400, "LayersNotFoundException",
                       "The layer with digest '%s' does not exist in the repository with name '%s' in the registry with id '%s'",
                       d.str, repo, a->srv->keys.account_id);
        return;
    }
    ref_search_t s = {.d = &d};
    if (st == STORAGE_OK)
        st = storage_images_list(a->rd, repo, NULL, references, &s, &err);
    if (st != STORAGE_OK) {
        aws_send_error(a, 500, "ServerException", "%s", err.msg);
        return;
    }
    if (!s.found) {
        /* ECR: a layer no image uses may be collected at any time */
        aws_send_error(a, 400, "LayerInaccessibleException",
                       "The layer with digest '%s' is not associated with an image in the repository with name '%s'", d.str, repo);
        return;
    }
    int64_t now = server_auth_now(a->srv), expires = now + AUTH_BLOB_URL_SECONDS;
    /* a URL minted with temporary credentials ends with them */
    if (a->caller.expires_at > 0 && a->caller.expires_at < expires)
        expires = a->caller.expires_at;
    char query[AUTH_BLOB_URL_QUERY_MAX + 1];
    auth_err_t aerr;
    if (auth_blob_url_sign(a->srv->keys.master_key, repo, d.str, expires, query, sizeof(query), &aerr) != AUTH_OK) {
        aws_send_error(a, 500, "ServerException", "cannot sign the URL: %s", aerr.msg);
        return;
    }
    char *url = h2o_mem_alloc_pool(&a->req->pool, a->req->authority.len + strlen(repo) + d.len + sizeof(query) + 32);
    sprintf(url, "%s://%.*s/v2/%s/blobs/%s?%s", a->req->scheme == &H2O_URL_SCHEME_HTTPS ? "https" : "http",
            (int)a->req->authority.len, a->req->authority.base, repo, d.str, query);
    aws_send_result(a, json_pack("{s:s,s:s}", "downloadUrl", url, "layerDigest", d.str));
}

/* ---- InitiateLayerUpload ---------------------------------------------------------- */

static void initiated(server_op_t *sop, h2o_req_t *req)
{
    layer_op_t *l = sop->user;
    l->a.req = req;
    if (sop->op.status != STORAGE_OK) {
        send_store_error(&l->a, sop);
        return;
    }
    aws_send_result(&l->a, json_pack("{s:s,s:I}", "uploadId", sop->op.upload_id, "partSize", (json_int_t)ECR_LAYER_PART_SIZE));
}

static void initiate_layer_upload(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:InitiateLayerUpload");
    server_op_t *sop = repo ? layer_op(a, repo, STORAGE_OP_UPLOAD_BEGIN, initiated) : NULL;
    if (sop)
        server_op_submit(sop);
}

/* ---- UploadLayerPart --------------------------------------------------------------- */

/* A non-negative integer member; false after sending the error. */
static bool offset_param(aws_req_t *a, const char *name, uint64_t *out)
{
    json_t *v = json_object_get(a->body, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at '%s': a byte offset (an integer >= 0) is required", name);
        return false;
    }
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* Strict base64 of any length up to ECR_LAYER_PART_MAX_B64, in slices; the
 * decoded length, or -1. */
static long b64_decode_part(const char *in, size_t len, unsigned char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i += B64_SLICE_CHARS) {
        size_t take = len - i < B64_SLICE_CHARS ? len - i : B64_SLICE_CHARS;
        /* padding only at the very end */
        if (i + take < len && in[i + take - 1] == '=')
            return -1;
        int got = auth_b64_decode(in + i, take, out + n, cap - n);
        if (got < 0)
            return -1;
        n += (size_t)got;
    }
    return (long)n;
}

static void part_stored(server_op_t *sop, h2o_req_t *req)
{
    layer_op_t *l = sop->user;
    aws_req_t *a = &l->a;
    a->req = req;
    switch (sop->op.status) {
    case STORAGE_OK:
        aws_send_result(a, json_pack("{s:s,s:s,s:s,s:I}", "registryId", a->srv->keys.account_id, "repositoryName", l->repo,
                                     "uploadId", sop->op.upload_id, "lastByteReceived", (json_int_t)sop->op.result_offset - 1));
        return;
    case STORAGE_RANGE: /* another part got there first */
        aws_send_error(a, 400, "InvalidLayerPartException",
                       "The part does not continue the upload: it has %llu bytes, so the next part starts at partFirstByte %llu",
                       (unsigned long long)sop->op.result_offset, (unsigned long long)sop->op.result_offset);
        return;
    case STORAGE_NOT_FOUND:
        send_upload_not_found(a, l->repo, sop->op.upload_id);
        return;
    default:
        send_store_error(a, sop);
    }
}

static void upload_layer_part(aws_req_t *a)
{
    static const char *const known[] = {"registryId",   "repositoryName", "uploadId", "partFirstByte",
                                        "partLastByte", "layerPartBlob",  NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:UploadLayerPart");
    uint64_t first, last, offset;
    if (!repo || !offset_param(a, "partFirstByte", &first) || !offset_param(a, "partLastByte", &last))
        return;
    json_t *blob = json_object_get(a->body, "layerPartBlob");
    /* the envelope leaves a big part in the raw body (ecr_part_blob_find) */
    const char *b64 = a->has_part_blob ? a->part_blob : json_string_value(blob);
    size_t b64_len = a->has_part_blob ? a->part_blob_len : json_string_length(blob);
    if (!json_is_string(blob) || b64_len > ECR_LAYER_PART_MAX_B64) {
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at 'layerPartBlob': a part of at most %zu bytes (20 MiB), base64-encoded, is required",
                       ECR_LAYER_PART_MAX_BYTES);
        return;
    }
    const char *id = upload_param(a, repo, &offset);
    if (!id)
        return;
    server_op_t *sop = layer_op(a, repo, STORAGE_OP_UPLOAD_APPEND, part_stored);
    if (!sop)
        return;
    layer_op_t *l = sop->user;
    size_t cap = b64_len / 4 * 3;
    long n = (l->data = malloc(cap ? cap : 1)) ? b64_decode_part(b64, b64_len, l->data, cap) : -2;
    if (n < 0 || (size_t)n > ECR_LAYER_PART_MAX_BYTES) {
        server_op_free(sop);
        if (n == -2)
            aws_send_error(a, 500, "ServerException", "out of memory");
        else if (n < 0)
            aws_send_error(a, 400, "InvalidParameterException",
                           "Invalid parameter at 'layerPartBlob': not base64 (RFC 4648, padded)");
        else /* the base64 bound lets one byte more through */
            aws_send_error(a, 400, "InvalidParameterException",
                           "Invalid parameter at 'layerPartBlob': a part holds at most %zu bytes (20 MiB), this one %ld",
                           ECR_LAYER_PART_MAX_BYTES, n);
        return;
    }
    if (n == 0 || last < first || last - first + 1 != (uint64_t)n) {
        server_op_free(sop);
        aws_send_error(a, 400, "InvalidLayerPartException",
                       "The part holds %ld bytes, but partFirstByte %llu to partLastByte %llu names %s: a part holds at least one "
                       "byte and partLastByte = partFirstByte + its length - 1",
                       n, (unsigned long long)first, (unsigned long long)last, last < first ? "none" : "another count");
        return;
    }
    if (first != offset) {
        server_op_free(sop);
        aws_send_error(a, 400, "InvalidLayerPartException",
                       "The part does not continue the upload: it has %llu bytes, so the next part starts at partFirstByte %llu, "
                       "not %llu",
                       (unsigned long long)offset, (unsigned long long)offset, (unsigned long long)first);
        return;
    }
    memcpy(sop->op.upload_id, id, STORAGE_UPLOAD_ID_LEN + 1);
    sop->op.offset = first; /* the store refuses it (RANGE) if another part landed meanwhile */
    sop->op.data = l->data;
    sop->op.len = (size_t)n;
    server_op_submit(sop);
}

/* ---- CompleteLayerUpload ------------------------------------------------------------- */

static void completed(server_op_t *sop, h2o_req_t *req)
{
    layer_op_t *l = sop->user;
    aws_req_t *a = &l->a;
    a->req = req;
    switch (sop->op.status) {
    case STORAGE_OK:
        aws_send_result(a, json_pack("{s:s,s:s,s:s,s:s}", "registryId", a->srv->keys.account_id, "repositoryName", l->repo,
                                     "uploadId", sop->op.upload_id, "layerDigest", sop->op.digest.str));
        return;
    case STORAGE_DIGEST_MISMATCH: /* the upload ends with it, as a /v2/ PUT's */
        aws_send_error(a, 400, "InvalidLayerException",
                       "The layer's bytes do not have the digest '%s' given in layerDigests: %s; the upload is discarded",
                       sop->op.digest.str, sop->op.err.msg);
        return;
    case STORAGE_NOT_FOUND:
        send_upload_not_found(a, l->repo, sop->op.upload_id);
        return;
    default:
        send_store_error(a, sop);
    }
}

static void complete_layer_upload(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "uploadId", "layerDigests", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:CompleteLayerUpload");
    if (!repo)
        return;
    json_t *list = json_object_get(a->body, "layerDigests"), *v = json_array_get(list, 0);
    oci_digest_t d;
    if (json_array_size(list) != 1 || !json_is_string(v) ||
        oci_digest_parse(json_string_value(v), json_string_length(v), &d, NULL) != OCI_OK) {
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at 'layerDigests': one digest (algorithm:hex), the layer's, is required");
        return;
    }
    uint64_t offset;
    const char *id = upload_param(a, repo, &offset);
    if (!id)
        return;
    if (offset == 0) {
        aws_send_error(a, 400, "EmptyUploadException", "The upload with id '%s' has no layer parts", id);
        return;
    }
    storage_blob_t blob;
    if (storage_blob_stat(a->rd, repo, &d, &blob, NULL) == STORAGE_OK) {
        /* the session stays until the collector sweeps it, as ECR leaves it */
        aws_send_error(a, 400, "LayerAlreadyExistsException",
                       "The layer with digest '%s' already exists in the repository with name '%s' in the registry with id '%s'",
                       d.str, repo, a->srv->keys.account_id);
        return;
    }
    server_op_t *sop = layer_op(a, repo, STORAGE_OP_UPLOAD_COMMIT, completed);
    if (!sop)
        return;
    memcpy(sop->op.upload_id, id, STORAGE_UPLOAD_ID_LEN + 1);
    sop->op.digest = d;
    sop->op.offset = STORAGE_OFFSET_ANY; /* no final bytes: the parts are all there is */
    server_op_submit(sop);
}

const aws_operation_t ecr_layer_operations[] = {
    {ECR_SERVICE, "GetDownloadUrlForLayer", "ecr", get_download_url_for_layer},
    {ECR_SERVICE, "InitiateLayerUpload", "ecr", initiate_layer_upload},
    {ECR_SERVICE, "UploadLayerPart", "ecr", upload_layer_part},
    {ECR_SERVICE, "CompleteLayerUpload", "ecr", complete_layer_upload},
    {NULL, NULL, NULL, NULL},
};
