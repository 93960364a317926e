/* GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>
 *
 * Manifests are served byte for byte as pushed, with their stored media type,
 * whatever the Accept header says: we never convert (CLIENTS.md). */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

static bool parse_reference(v2_req_t *r, oci_reference_t *ref, v2_error_t on_error)
{
    oci_err_t err;
    if (oci_reference_parse(r->arg, strlen(r->arg), ref, &err) != OCI_OK) {
        v2_send_error(r->req, on_error, err.msg);
        return false;
    }
    return true;
}

int v2_manifest_get(v2_req_t *r)
{
    h2o_req_t *req = r->req;
    oci_reference_t ref;
    if (!parse_reference(r, &ref, ERR_MANIFEST_UNKNOWN))
        return 0;
    storage_reader_t *rd = v2_reader(r);
    if (!rd)
        return 0;
    storage_manifest_t m;
    storage_err_t err;
    if (storage_manifest_get(rd, r->name, &ref, &m, &err) != STORAGE_OK) {
        storage_reader_end(rd);
        v2_send_storage_error(req, &err, ERR_MANIFEST_UNKNOWN);
        return 0;
    }
    v2_add_header(req, "docker-content-digest", m.digest.str, m.digest.len);
    v2_add_headerf(req, "etag", "\"%s\"", m.digest.str);
    /* v2_send_json copies the body into the request's pool before the snapshot ends */
    v2_send_json(req, 200, m.media_type, m.body, m.len);
    if (!v2_is_head(req)) /* lastRecordedPullTime: submitted, never waited for */
        ecr_note_pull(r->srv, r->name, &m.digest);
    storage_reader_end(rd);
    return 0;
}

/* What a PUT keeps until the writer has stored it (the op's user). */
struct manifest_put {
    oci_manifest_t manifest;
    bool parsed;
    char *referrer_json; /* the descriptor the referrers API lists, when the manifest has a subject */
};

static void manifest_put_free(void *p)
{
    struct manifest_put *mp = p;
    if (mp->parsed)
        oci_manifest_free(&mp->manifest);
    free(mp->referrer_json);
    free(mp);
}

static void manifest_stored(server_op_t *sop, h2o_req_t *req)
{
    const struct manifest_put *mp = sop->user;
    if (sop->op.status == STORAGE_INVALID) { /* a descriptor's size is not what is stored */
        v2_send_error(req, ERR_MANIFEST_INVALID, sop->op.err.msg);
        return;
    }
    if (sop->op.status == STORAGE_EXISTS) {
        /* an immutable tag would move: the message (which docker, podman
         * and skopeo print) names the tag and the repository */
        v2_send_error_message(req, ERR_TAG_INVALID, sop->op.err.msg,
                              json_pack("{s:s,s:s}", "tag", sop->op.tag, "repository", sop->r.name));
        return;
    }
    if (sop->op.status != STORAGE_OK) {
        v2_send_storage_error(req, &sop->op.err, ERR_NAME_UNKNOWN);
        return;
    }
    const oci_digest_t *d = &sop->op.digest;
    v2_add_headerf(req, "location", "/v2/%s/manifests/%s", sop->r.name, d->str);
    v2_add_header(req, "docker-content-digest", d->str, d->len);
    if (mp->manifest.has_subject)
        v2_add_header(req, "oci-subject", mp->manifest.subject.digest.str, mp->manifest.subject.digest.len);
    v2_send_empty(req, 201, "Created");
}

/* The descriptor the referrers API lists for this manifest. */
char *v2_referrer_descriptor(const oci_manifest_t *m, const oci_digest_t *d, size_t size)
{
    json_t *o = json_pack("{s:s,s:s,s:I}", "mediaType", m->media_type, "digest", d->str, "size", (json_int_t)size);
    if (!o)
        return NULL;
    if (m->artifact_type[0])
        json_object_set_new(o, "artifactType", json_string(m->artifact_type));
    if (m->annotations_json) {
        json_t *a = json_loads(m->annotations_json, 0, NULL);
        if (a)
            json_object_set_new(o, "annotations", a);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

int v2_manifest_put(v2_req_t *r)
{
    h2o_req_t *req = r->req;
    oci_reference_t ref;
    if (!parse_reference(r, &ref, ERR_TAG_INVALID))
        return 0;
    if (req->entity.len > OCI_MANIFEST_MAX_BYTES) {
        v2_send_error(req, ERR_SIZE_INVALID, "manifests are limited to 4 MiB");
        return 0;
    }
    server_op_t *sop = server_op_new(r, STORAGE_OP_MANIFEST_PUT, manifest_stored);
    struct manifest_put *mp = sop ? calloc(1, sizeof(*mp)) : NULL;
    if (mp) {
        sop->user = mp;
        sop->free_user = manifest_put_free;
    }
    if (!mp || !server_op_take_body(sop)) {
        if (sop)
            server_op_free(sop);
        v2_send_error(req, ERR_UNKNOWN, "out of memory");
        return 0;
    }
    h2o_iovec_t ct = v2_req_header(req, "content-type");
    oci_err_t err;
    oci_status_t ps = oci_manifest_parse(sop->op.data, sop->op.len, ct.base, ct.len, &mp->manifest, &err);
    if (ps != OCI_OK) {
        server_op_free(sop);
        v2_send_error(req, ERR_MANIFEST_INVALID, err.msg);
        return 0;
    }
    mp->parsed = true;
    sop->op.manifest = &mp->manifest;
    oci_digest_alg_t alg = ref.is_digest ? ref.digest.alg : OCI_ALG_SHA256;
    oci_digest_compute(alg, sop->op.data, sop->op.len, &sop->op.digest);
    if (ref.is_digest && strcmp(ref.digest.str, sop->op.digest.str) != 0) {
        server_op_free(sop);
        v2_send_error(req, ERR_DIGEST_INVALID, "the manifest's bytes do not hash to the digest in the URL");
        return 0;
    }
    if (!ref.is_digest) {
        memcpy(sop->op.tag, ref.tag, sizeof(sop->op.tag));
        /* the writer refuses a move of the tag in its transaction (STORAGE_EXISTS) */
        storage_reader_t *rd = v2_reader(r);
        if (!rd) { /* v2_reader has answered */
            server_op_free(sop);
            return 0;
        }
        if (ecr_repo_tags_immutable(rd, r->name))
            sop->op.flags |= STORAGE_OP_IMMUTABLE_TAG;
        r->rd = rd; /* back to the request, which ends it */
    }
    if (mp->manifest.has_subject) {
        if (!(mp->referrer_json = v2_referrer_descriptor(&mp->manifest, &sop->op.digest, sop->op.len))) {
            server_op_free(sop);
            v2_send_error(req, ERR_UNKNOWN, "out of memory");
            return 0;
        }
        sop->op.referrer_json = mp->referrer_json;
        sop->op.referrer_json_len = strlen(mp->referrer_json);
    }
    server_op_submit(sop);
    return 0;
}

static void manifest_deleted(server_op_t *sop, h2o_req_t *req)
{
    if (sop->op.status != STORAGE_OK) {
        v2_send_storage_error(req, &sop->op.err, ERR_MANIFEST_UNKNOWN);
        return;
    }
    v2_send_empty(req, 202, "Accepted");
}

int v2_manifest_delete(v2_req_t *r)
{
    oci_reference_t ref;
    if (!parse_reference(r, &ref, ERR_MANIFEST_UNKNOWN))
        return 0;
    server_op_t *sop = server_op_new(r, STORAGE_OP_MANIFEST_DELETE, manifest_deleted);
    if (!sop) {
        v2_send_error(r->req, ERR_UNKNOWN, "out of memory");
        return 0;
    }
    sop->op.reference = ref;
    server_op_submit(sop);
    return 0;
}
