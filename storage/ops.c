/* What each write op does inside its child transaction (writer thread only). */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_internal.h"

#define OP_FAIL(op, st_, ...)                                                                                                      \
    do {                                                                                                                           \
        (op)->status = (st_);                                                                                                      \
        store_err(&(op)->err, (st_), __VA_ARGS__);                                                                                 \
    } while (0)

static run_result_t fail_mdb(storage_op_t *op, int rc, const char *what)
{
    OP_FAIL(op, store_mdb_status(rc), "%s: %s", what,
            rc == MDB_MAP_FULL ? "the store is full (raise --map-size)" : mdb_strerror(rc));
    return RUN_ABORT;
}

int store_next_blob_id(storage_t *st, MDB_txn *txn, uint64_t *out)
{
    MDB_val k = {12, "next-blob-id"}, v;
    uint64_t id = 1;
    int rc = mdb_get(txn, st->dbi_meta, &k, &v);
    if (rc == 0 && v.mv_size == sizeof(id))
        memcpy(&id, v.mv_data, sizeof(id));
    else if (rc != MDB_NOTFOUND && rc != 0)
        return rc;
    *out = id++;
    v.mv_size = sizeof(id);
    v.mv_data = &id;
    return mdb_put(txn, st->dbi_meta, &k, &v, 0);
}

int store_session_get(storage_t *st, MDB_txn *txn, const char *id, session_t *s)
{
    MDB_val k = {strlen(id), (void *)id}, v;
    int rc = mdb_get(txn, st->dbi_uploads, &k, &v);
    if (rc)
        return rc;
    return session_decode(v.mv_data, v.mv_size, s) ? 0 : MDB_CORRUPTED;
}

int store_session_put(storage_t *st, MDB_txn *txn, const char *id, session_t *s)
{
    MDB_val k = {strlen(id), (void *)id}, v = {session_encoded_size(s), NULL};
    int rc = mdb_put(txn, st->dbi_uploads, &k, &v, MDB_RESERVE);
    if (rc == 0)
        session_encode(s, v.mv_data);
    return rc;
}

static int ensure_repo(storage_t *st, MDB_txn *txn, const char *repo)
{
    uint64_t now = store_now();
    MDB_val k = {strlen(repo), (void *)repo}, v = {sizeof(now), &now};
    int rc = mdb_put(txn, st->dbi_repos, &k, &v, MDB_NOOVERWRITE);
    return rc == MDB_KEYEXIST ? 0 : rc;
}

int store_link_put(storage_t *st, MDB_txn *txn, const char *repo, const char *digest)
{
    char key[OCI_NAME_MAX + OCI_DIGEST_MAX + 2];
    uint64_t now = store_now();
    MDB_val k = {store_key2(key, sizeof(key), repo, digest), key}, v = {sizeof(now), &now};
    if (st->gc_track) /* a collection runs: this blob was just pushed or mounted again */
        store_gc_note(st, digest, strlen(digest));
    int rc = mdb_put(txn, st->dbi_links, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return 0;
    return rc ? rc : ensure_repo(st, txn, repo);
}

/* Deletes every chunk of blob id `id` from `chunks` (the store's, or a backup copy's). */
int store_chunks_delete_in(MDB_txn *txn, MDB_dbi chunks, uint64_t id)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, chunks, &cur);
    if (rc)
        return rc;
    unsigned char key[16];
    store_chunk_key(key, id, 0);
    MDB_val k, v;
    /* Re-seek after each delete: the next chunk is the first key >= (id, 0). */
    for (;;) {
        k.mv_size = 16;
        k.mv_data = key;
        if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) != 0)
            break;
        if (k.mv_size != 16 || memcmp(k.mv_data, key, 8) != 0)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_chunks_delete(storage_t *st, MDB_txn *txn, uint64_t id)
{
    return store_chunks_delete_in(txn, st->dbi_chunks, id);
}

/* Stores one chunk, compressed when that saves enough. */
static int chunk_put(storage_t *st, MDB_txn *txn, uint64_t id, uint64_t start, const unsigned char *data, size_t len)
{
    unsigned char key[16];
    store_chunk_key(key, id, start);
    MDB_val k = {16, key}, v;
    chunk_hdr_t hdr = {.codec = CHUNK_RAW, .raw_len = (uint32_t)len};
    const void *payload = data;
    size_t plen = len;
    if (len >= STORE_COMPRESS_MIN_BYTES) {
        size_t probe = len < STORE_COMPRESS_PROBE_BYTES ? len : STORE_COMPRESS_PROBE_BYTES;
        size_t z = ZSTD_compressCCtx(st->cctx, st->zbuf, st->zbuf_size, data, probe, STORE_ZSTD_LEVEL);
        bool worth = !ZSTD_isError(z) && z * 100 <= probe * (100 - STORE_COMPRESS_MIN_SAVING_PCT);
        if (worth && probe < len) {
            z = ZSTD_compressCCtx(st->cctx, st->zbuf, st->zbuf_size, data, len, STORE_ZSTD_LEVEL);
            worth = !ZSTD_isError(z) && z * 100 <= len * (100 - STORE_COMPRESS_MIN_SAVING_PCT);
        }
        if (worth) {
            hdr.codec = CHUNK_ZSTD;
            payload = st->zbuf;
            plen = z;
        }
    }
    v.mv_size = sizeof(hdr) + plen;
    int rc = mdb_put(txn, st->dbi_chunks, &k, &v, MDB_RESERVE);
    if (rc)
        return rc;
    memcpy(v.mv_data, &hdr, sizeof(hdr));
    memcpy((char *)v.mv_data + sizeof(hdr), payload, plen);
    if (hdr.codec == CHUNK_ZSTD)
        st->st_chunks_zstd++;
    else
        st->st_chunks_raw++;
    st->st_bytes_in += len;
    st->st_bytes_stored += plen;
    return 0;
}

/* Writes the next piece of op->data into the session; RUN_AGAIN while more remains. */
static run_result_t append_piece(storage_t *st, MDB_txn *txn, storage_op_t *op, session_t *s)
{
    if (op->progress_ == 0) {
        if (op->offset != STORAGE_OFFSET_ANY && op->offset != s->offset) {
            OP_FAIL(op, STORAGE_RANGE, "upload is at offset %llu, not %llu", (unsigned long long)s->offset,
                    (unsigned long long)op->offset);
            op->result_offset = s->offset;
            return RUN_ABORT;
        }
        op->offset = s->offset; /* pieces after this one must find the session where we left it */
    } else if (s->offset != op->offset + op->progress_) {
        OP_FAIL(op, STORAGE_RANGE, "upload %s was changed by another request while this one was being stored", op->upload_id);
        return RUN_ABORT;
    }
    size_t piece = op->len - op->progress_;
    if (piece > STORE_PIECE_BYTES)
        piece = STORE_PIECE_BYTES;
    const unsigned char *p = (const unsigned char *)op->data + op->progress_;
    /* The hasher hashes the piece while we copy it into the store; it works
     * on its own copy of the midstate, which becomes the session's once both
     * are done. */
    SHA256_CTX hashed = s->sha256;
    bool offloaded = store_hash_begin(st, &hashed, p, piece);
    int rc = 0;
    for (size_t done = 0; done < piece;) {
        size_t n = piece - done < STORE_CHUNK_BYTES ? piece - done : STORE_CHUNK_BYTES;
        if ((rc = chunk_put(st, txn, s->blob_id, s->offset, p + done, n)) != 0)
            break;
        s->offset += n;
        done += n;
    }
    store_hash_end(st, offloaded);
    if (rc)
        return fail_mdb(op, rc, "cannot store upload data");
    s->sha256 = hashed;
    s->updated = store_now();
    rc = store_session_put(st, txn, op->upload_id, s);
    if (rc)
        return fail_mdb(op, rc, "cannot record upload progress");
    op->progress_ += piece;
    op->result_offset = s->offset;
    return op->progress_ < op->len ? RUN_AGAIN : RUN_COMMIT;
}

static run_result_t begin_session(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    unsigned char raw[STORAGE_UPLOAD_ID_LEN / 2];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        OP_FAIL(op, STORAGE_IO, "cannot draw a random upload id");
        return RUN_ABORT;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(op->upload_id + 2 * i, 3, "%02x", raw[i]);
    session_t s = {0};
    snprintf(s.repo, sizeof(s.repo), "%s", op->repo);
    s.created = s.updated = store_now();
    SHA256_Init(&s.sha256);
    int rc = store_next_blob_id(st, txn, &s.blob_id);
    if (!rc)
        rc = store_session_put(st, txn, op->upload_id, &s);
    return rc ? fail_mdb(op, rc, "cannot start an upload") : RUN_COMMIT;
}

static run_result_t load_session(storage_t *st, MDB_txn *txn, storage_op_t *op, session_t *s)
{
    int rc = store_session_get(st, txn, op->upload_id, s);
    if (rc == MDB_NOTFOUND || (rc == 0 && strcmp(s->repo, op->repo) != 0)) {
        OP_FAIL(op, STORAGE_NOT_FOUND, "upload %s is unknown to repository %s", op->upload_id, op->repo);
        return RUN_ABORT;
    }
    if (rc == MDB_CORRUPTED) {
        OP_FAIL(op, STORAGE_INVALID, "upload %s has a damaged state; start the upload again", op->upload_id);
        return RUN_ABORT;
    }
    return rc ? fail_mdb(op, rc, "cannot read upload state") : RUN_COMMIT;
}

/* Digest of the stored bytes for algorithms other than the running sha256. */
static bool digest_of_chunks(storage_t *st, MDB_txn *txn, const session_t *s, oci_digest_alg_t alg, oci_digest_t *out)
{
    SHA512_CTX c;
    SHA512_Init(&c);
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, st->dbi_chunks, &cur))
        return false;
    ZSTD_DCtx *d = ZSTD_createDCtx();
    void *buf = malloc(STORE_CHUNK_BYTES);
    unsigned char key[16];
    store_chunk_key(key, s->blob_id, 0);
    MDB_val k = {16, key}, v;
    uint64_t seen = 0;
    bool ok = d && buf;
    int rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); ok && rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || memcmp(k.mv_data, key, 8) != 0)
            break;
        chunk_hdr_t h;
        if (v.mv_size < sizeof(h)) {
            ok = false;
            break;
        }
        memcpy(&h, v.mv_data, sizeof(h));
        const char *payload = (const char *)v.mv_data + sizeof(h);
        size_t plen = v.mv_size - sizeof(h);
        if (h.codec == CHUNK_ZSTD) {
            size_t n = ZSTD_decompressDCtx(d, buf, STORE_CHUNK_BYTES, payload, plen);
            if (ZSTD_isError(n) || n != h.raw_len) {
                ok = false;
                break;
            }
            payload = buf;
            plen = n;
        }
        SHA512_Update(&c, payload, plen);
        seen += plen;
    }
    mdb_cursor_close(cur);
    ZSTD_freeDCtx(d);
    free(buf);
    unsigned char md[SHA512_DIGEST_LENGTH];
    SHA512_Final(md, &c);
    if (!ok || seen != s->offset || alg != OCI_ALG_SHA512)
        return false;
    oci_digest_from_raw(alg, md, out);
    return true;
}

/* Turns the session's chunks into blob op->digest and links it into op->repo. */
static run_result_t finish_upload(storage_t *st, MDB_txn *txn, storage_op_t *op, session_t *s)
{
    oci_digest_t got;
    if (op->digest.alg == OCI_ALG_SHA256) {
        SHA256_CTX c = s->sha256;
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256_Final(md, &c);
        oci_digest_from_raw(OCI_ALG_SHA256, md, &got);
    } else if (!digest_of_chunks(st, txn, s, op->digest.alg, &got)) {
        OP_FAIL(op, STORAGE_IO, "cannot hash the uploaded data");
        return RUN_ABORT;
    }
    if (strcmp(got.str, op->digest.str) != 0) {
        OP_FAIL(op, STORAGE_DIGEST_MISMATCH, "the uploaded data has digest %s, not %s", got.str, op->digest.str);
        /* As distribution does: a failed completion ends the upload, so no
         * half-verified bytes linger under a session a client forgot. */
        MDB_val k = {strlen(op->upload_id), op->upload_id};
        int rc = store_chunks_delete(st, txn, s->blob_id);
        if (!rc)
            rc = mdb_del(txn, st->dbi_uploads, &k, NULL);
        return rc ? RUN_ABORT : RUN_COMMIT;
    }
    blob_rec_t rec;
    int rc = store_blob_get(st, txn, op->digest.str, &rec);
    if (rc == 0) {
        rc = store_chunks_delete(st, txn, s->blob_id); /* already stored: these bytes are a duplicate */
    } else if (rc == MDB_NOTFOUND) {
        rec = (blob_rec_t){.format = STORE_FORMAT, .size = s->offset, .id = s->blob_id, .created = store_now()};
        MDB_val k = {op->digest.len, op->digest.str}, v = {sizeof(rec), &rec};
        rc = mdb_put(txn, st->dbi_blobs, &k, &v, 0);
    }
    if (!rc)
        rc = store_link_put(st, txn, op->repo, op->digest.str);
    if (!rc) {
        MDB_val k = {strlen(op->upload_id), op->upload_id};
        rc = mdb_del(txn, st->dbi_uploads, &k, NULL);
    }
    if (rc)
        return fail_mdb(op, rc, "cannot complete the upload");
    op->result_offset = rec.size;
    return RUN_COMMIT;
}

static run_result_t run_upload(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    session_t s;
    run_result_t r = load_session(st, txn, op, &s);
    if (r == RUN_ABORT)
        return r;
    if (s.flags & SESSION_IN_FILE) {
        /* a file thread saw this upload in LMDB, and another request moved it to a file meanwhile */
        OP_FAIL(op, STORAGE_RANGE, "upload %s was changed by another request while this one was being stored", op->upload_id);
        op->result_offset = s.offset;
        return RUN_ABORT;
    }
    if (op->progress_ < op->len || (op->len == 0 && op->kind == STORAGE_OP_UPLOAD_APPEND)) {
        if (op->len == 0) {
            op->result_offset = s.offset;
            return RUN_COMMIT;
        }
        r = append_piece(st, txn, op, &s);
        if (r != RUN_COMMIT || op->kind == STORAGE_OP_UPLOAD_APPEND)
            return r;
        /* a commit's final piece: finish in the same transaction */
    }
    return finish_upload(st, txn, op, &s);
}

static run_result_t run_abort(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    session_t s;
    if (load_session(st, txn, op, &s) == RUN_ABORT)
        return RUN_ABORT;
    MDB_val k = {strlen(op->upload_id), op->upload_id};
    int rc = (s.flags & SESSION_IN_FILE) ? 0 : store_chunks_delete(st, txn, s.blob_id);
    if (!rc)
        rc = mdb_del(txn, st->dbi_uploads, &k, NULL);
    if (rc)
        return fail_mdb(op, rc, "cannot cancel the upload");
    if (s.flags & SESSION_IN_FILE)
        op->after_ |= AFTER_UNLINK_UPLOAD;
    return RUN_COMMIT;
}

static run_result_t run_blob_put(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    if (op->stage_ == 0) {
        /* A monolithic upload is a session too, so that a crash halfway
         * through a big one leaves an abandoned upload, not orphan chunks. */
        run_result_t r = begin_session(st, txn, op);
        if (r != RUN_COMMIT)
            return r;
        op->stage_ = 1;
    }
    return run_upload(st, txn, op);
}

static run_result_t run_mount(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    blob_rec_t rec;
    if (!store_link_exists(st, txn, op->from_repo, op->digest.str) || store_blob_get(st, txn, op->digest.str, &rec) != 0) {
        OP_FAIL(op, STORAGE_NOT_FOUND, "blob %s is not in repository %s", op->digest.str, op->from_repo);
        return RUN_ABORT;
    }
    int rc = store_link_put(st, txn, op->repo, op->digest.str);
    if (rc)
        return fail_mdb(op, rc, "cannot mount the blob");
    op->result_offset = rec.size;
    return RUN_COMMIT;
}

static run_result_t run_unlink(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    char key[OCI_NAME_MAX + OCI_DIGEST_MAX + 2];
    MDB_val k = {store_key2(key, sizeof(key), op->repo, op->digest.str), key};
    int rc = mdb_del(txn, st->dbi_links, &k, NULL);
    if (rc == MDB_NOTFOUND) {
        OP_FAIL(op, STORAGE_NOT_FOUND, "blob %s is not in repository %s", op->digest.str, op->repo);
        return RUN_ABORT;
    }
    return rc ? fail_mdb(op, rc, "cannot delete the blob") : RUN_COMMIT;
}

static run_result_t run_blob_delete(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    blob_rec_t rec;
    int rc = store_blob_get(st, txn, op->digest.str, &rec);
    if (rc == MDB_NOTFOUND) {
        OP_FAIL(op, STORAGE_NOT_FOUND, "blob %s is unknown", op->digest.str);
        return RUN_ABORT;
    }
    if (rc)
        return fail_mdb(op, rc, "cannot read the blob record");
    MDB_val k = {op->digest.len, op->digest.str};
    rc = mdb_del(txn, st->dbi_blobs, &k, NULL);
    if (!rc && !(rec.flags & BLOB_IN_FILE))
        rc = store_chunks_delete(st, txn, rec.id);
    if (!rc)
        rc = store_links_delete(st, txn, op->digest.str);
    if (rc)
        return fail_mdb(op, rc, "cannot delete the blob");
    if (rec.flags & BLOB_IN_FILE)
        op->after_ |= AFTER_UNLINK_BLOB;
    op->result_offset = rec.size;
    return RUN_COMMIT;
}

/* The stored size of repo's manifest `digest`; false when it is not there. */
static bool manifest_size(storage_t *st, MDB_txn *txn, const char *repo, const char *digest, uint64_t *size)
{
    char key[OCI_NAME_MAX + OCI_DIGEST_MAX + 2];
    MDB_val k = {store_key2(key, sizeof(key), repo, digest), key}, v;
    if (!k.mv_size || mdb_get(txn, st->dbi_manifests, &k, &v) != 0 || v.mv_size < sizeof(manifest_rec_t))
        return false;
    manifest_rec_t rec;
    memcpy(&rec, v.mv_data, sizeof(rec));
    *size = rec.body_len;
    return true;
}

/* A descriptor names bytes by digest and size, and clients check both: a
 * size that is not the stored one makes the manifest invalid. */
static run_result_t check_size(storage_op_t *op, const oci_descriptor_t *d, uint64_t stored, const char *what)
{
    if (d->size == stored)
        return RUN_COMMIT;
    OP_FAIL(op, STORAGE_INVALID, "%s %s has size %llu, not %llu as the manifest says", what, d->digest.str,
            (unsigned long long)stored, (unsigned long long)d->size);
    return RUN_ABORT;
}

static run_result_t run_manifest_put(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    const oci_manifest_t *m = op->manifest;
    if (st->gc_track) { /* a collection runs: what this manifest references must survive its sweep */
        store_gc_note(st, op->digest.str, op->digest.len);
        for (size_t i = 0; i < m->nblobs; i++)
            store_gc_note(st, m->blobs[i].digest.str, m->blobs[i].digest.len);
        for (size_t i = 0; i < m->nmanifests; i++)
            store_gc_note(st, m->manifests[i].digest.str, m->manifests[i].digest.len);
    }
    for (size_t i = 0; i < m->nblobs; i++) {
        const oci_descriptor_t *d = &m->blobs[i];
        blob_rec_t blob;
        if (store_link_exists(st, txn, op->repo, d->digest.str) && store_blob_get(st, txn, d->digest.str, &blob) == 0) {
            if (check_size(op, d, blob.size, "blob") != RUN_COMMIT)
                return RUN_ABORT;
        } else if (!d->foreign) { /* a foreign layer (urls, non-distributable) may live elsewhere */
            OP_FAIL(op, STORAGE_REFERENCE, "blob %s is not in repository %s", d->digest.str, op->repo);
            return RUN_ABORT;
        }
    }
    for (size_t i = 0; i < m->nmanifests; i++) {
        const oci_descriptor_t *d = &m->manifests[i];
        uint64_t size;
        if (!manifest_size(st, txn, op->repo, d->digest.str, &size)) {
            OP_FAIL(op, STORAGE_REFERENCE, "manifest %s is not in repository %s", d->digest.str, op->repo);
            return RUN_ABORT;
        }
        if (check_size(op, d, size, "manifest") != RUN_COMMIT)
            return RUN_ABORT;
    }
    const char *subject = m->has_subject ? m->subject.digest.str : "";
    manifest_rec_t rec = {.format = STORE_FORMAT,
                          .pushed_at = store_now(),
                          .media_type_len = (uint16_t)strlen(m->media_type),
                          .artifact_type_len = (uint16_t)strlen(m->artifact_type),
                          .subject_len = (uint16_t)strlen(subject),
                          .body_len = (uint32_t)op->len};
    char key[OCI_NAME_MAX + 2 * OCI_DIGEST_MAX + 3];
    MDB_val k = {store_key2(key, sizeof(key), op->repo, op->digest.str), key};
    MDB_val v = {sizeof(rec) + rec.media_type_len + 1u + rec.artifact_type_len + 1u + rec.subject_len + 1u + op->len, NULL};
    int rc = mdb_put(txn, st->dbi_manifests, &k, &v, MDB_RESERVE);
    if (rc)
        return fail_mdb(op, rc, "cannot store the manifest");
    char *p = v.mv_data;
    memcpy(p, &rec, sizeof(rec));
    p += sizeof(rec);
    memcpy(p, m->media_type, rec.media_type_len + 1u);
    p += rec.media_type_len + 1u;
    memcpy(p, m->artifact_type, rec.artifact_type_len + 1u);
    p += rec.artifact_type_len + 1u;
    memcpy(p, subject, rec.subject_len + 1u);
    p += rec.subject_len + 1u;
    memcpy(p, op->data, op->len);

    if (op->tag[0] && (op->flags & STORAGE_OP_IMMUTABLE_TAG)) {
        /* checked in the writer's transaction: of two pushes of one tag, the second sees the first */
        k.mv_size = store_key2(key, sizeof(key), op->repo, op->tag);
        rc = mdb_get(txn, st->dbi_tags, &k, &v);
        if (rc == 0 && (v.mv_size != op->digest.len || memcmp(v.mv_data, op->digest.str, op->digest.len) != 0)) {
            OP_FAIL(
                op, STORAGE_EXISTS,
                "The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the tag is immutable.",
                op->tag, op->repo);
            return RUN_ABORT;
        }
        if (rc && rc != MDB_NOTFOUND)
            return fail_mdb(op, rc, "cannot read the tag");
    }
    if (op->tag[0]) {
        k.mv_size = store_key2(key, sizeof(key), op->repo, op->tag);
        v.mv_size = op->digest.len;
        v.mv_data = op->digest.str;
        if ((rc = mdb_put(txn, st->dbi_tags, &k, &v, 0)) != 0)
            return fail_mdb(op, rc, "cannot store the tag");
    }
    if (m->has_subject && op->referrer_json) {
        k.mv_size = store_key3(key, sizeof(key), op->repo, subject, op->digest.str);
        v.mv_size = rec.artifact_type_len + 1u + op->referrer_json_len;
        if ((rc = mdb_put(txn, st->dbi_referrers, &k, &v, MDB_RESERVE)) != 0)
            return fail_mdb(op, rc, "cannot record the referrer");
        memcpy(v.mv_data, m->artifact_type, rec.artifact_type_len + 1u);
        memcpy((char *)v.mv_data + rec.artifact_type_len + 1u, op->referrer_json, op->referrer_json_len);
    }
    if ((rc = ensure_repo(st, txn, op->repo)) != 0)
        return fail_mdb(op, rc, "cannot create the repository");
    return RUN_COMMIT;
}

/* Removes every tag of op->repo that points at op->reference.digest. */
static int untag_digest(storage_t *st, MDB_txn *txn, const char *repo, const oci_digest_t *d)
{
    char prefix[OCI_NAME_MAX + 2];
    size_t plen = strlen(repo);
    memcpy(prefix, repo, plen);
    prefix[plen++] = '\0';
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->dbi_tags, &cur);
    if (rc)
        return rc;
    char seek[OCI_NAME_MAX + OCI_TAG_MAX + 2];
    MDB_val k = {plen, prefix}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size < plen || k.mv_size > sizeof(seek) || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        if (v.mv_size == d->len && memcmp(v.mv_data, d->str, d->len) == 0) {
            /* Re-seek from the deleted key: the next tag is the first key after it. */
            memcpy(seek, k.mv_data, k.mv_size);
            k.mv_data = seek;
            if ((rc = mdb_cursor_del(cur, 0)) != 0)
                break;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        } else {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static run_result_t run_manifest_delete(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    char key[OCI_NAME_MAX + 2 * OCI_DIGEST_MAX + 3];
    MDB_val k, v;
    int rc;
    if (!op->reference.is_digest) {
        k.mv_size = store_key2(key, sizeof(key), op->repo, op->reference.tag);
        k.mv_data = key;
        rc = mdb_del(txn, st->dbi_tags, &k, NULL);
        if (rc == MDB_NOTFOUND) {
            OP_FAIL(op, STORAGE_NOT_FOUND, "tag %s is not in repository %s", op->reference.tag, op->repo);
            return RUN_ABORT;
        }
        return rc ? fail_mdb(op, rc, "cannot delete the tag") : RUN_COMMIT;
    }
    const oci_digest_t *d = &op->reference.digest;
    k.mv_size = store_key2(key, sizeof(key), op->repo, d->str);
    k.mv_data = key;
    rc = mdb_get(txn, st->dbi_manifests, &k, &v);
    if (rc == MDB_NOTFOUND) {
        OP_FAIL(op, STORAGE_NOT_FOUND, "manifest %s is not in repository %s", d->str, op->repo);
        return RUN_ABORT;
    }
    if (rc)
        return fail_mdb(op, rc, "cannot read the manifest");
    char subject[OCI_DIGEST_MAX];
    store_manifest_subject(&v, subject, sizeof(subject));
    if ((rc = mdb_del(txn, st->dbi_manifests, &k, NULL)) != 0 || (rc = untag_digest(st, txn, op->repo, d)) != 0)
        return fail_mdb(op, rc, "cannot delete the manifest");
    if (subject[0]) {
        k.mv_size = store_key3(key, sizeof(key), op->repo, subject, d->str);
        rc = mdb_del(txn, st->dbi_referrers, &k, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return fail_mdb(op, rc, "cannot delete the referrer record");
    }
    return RUN_COMMIT;
}

run_result_t store_run_op(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    if (op->job_)
        return store_run_file_job(st, txn, op);
    switch (op->kind) {
    case STORAGE_OP_UPLOAD_BEGIN:
        return begin_session(st, txn, op);
    case STORAGE_OP_UPLOAD_APPEND:
    case STORAGE_OP_UPLOAD_COMMIT:
        return run_upload(st, txn, op);
    case STORAGE_OP_UPLOAD_ABORT:
        return run_abort(st, txn, op);
    case STORAGE_OP_BLOB_PUT:
        return run_blob_put(st, txn, op);
    case STORAGE_OP_BLOB_MOUNT:
        return run_mount(st, txn, op);
    case STORAGE_OP_BLOB_UNLINK:
        return run_unlink(st, txn, op);
    case STORAGE_OP_MANIFEST_PUT:
        return run_manifest_put(st, txn, op);
    case STORAGE_OP_MANIFEST_DELETE:
        return run_manifest_delete(st, txn, op);
    case STORAGE_OP_RECORDS:
        return store_run_records(st, txn, op);
    case STORAGE_OP_BLOB_DELETE:
        return run_blob_delete(st, txn, op);
    case STORAGE_OP_REPO_CREATE:
    case STORAGE_OP_REPO_DELETE:
    case STORAGE_OP_IMAGES_DELETE:
    case STORAGE_OP_REPO_UPDATE:
        return store_run_repo_op(st, txn, op);
    }
    OP_FAIL(op, STORAGE_INVALID, "unknown storage operation");
    return RUN_ABORT;
}
