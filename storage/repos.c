/* Repositories as wholes: creating one with its settings, deleting one with
 * everything it holds in one commit, and when it was created. A
 * repository's rows are the keys "<repo>\0..." of links, manifests, tags and
 * referrers (the NUL ends the name, so "a" never matches "a/b"'s keys) and
 * its key in repos. */
#include <errno.h>
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

/* Deletes every key of `dbi` that starts with prefix; counts them in *n (may be NULL). */
static int delete_prefix(MDB_txn *txn, MDB_dbi dbi, const char *prefix, size_t plen, uint64_t *n)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    /* Re-seek after each delete: the next key is the first one >= prefix. */
    for (;;) {
        k.mv_size = plen;
        k.mv_data = (void *)prefix;
        if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) != 0)
            break;
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        if (n)
            (*n)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* True when some key of `dbi` starts with prefix (false also on a read error). */
static bool has_prefix(MDB_txn *txn, MDB_dbi dbi, const char *prefix, size_t plen)
{
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, dbi, &cur) != 0)
        return false;
    MDB_val k = {plen, (void *)prefix}, v;
    bool found = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0;
    mdb_cursor_close(cur);
    return found;
}

static run_result_t run_records_too(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    return op->records_fn ? store_run_records(st, txn, op) : RUN_COMMIT;
}

static run_result_t run_create(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    uint64_t now = store_now();
    MDB_val k = {strlen(op->repo), op->repo}, v = {sizeof(now), &now};
    if (k.mv_size == 0) {
        OP_FAIL(op, STORAGE_INVALID, "a repository needs a name");
        return RUN_ABORT;
    }
    int rc = mdb_put(txn, st->dbi_repos, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) {
        OP_FAIL(op, STORAGE_EXISTS, "repository %s already exists", op->repo);
        return RUN_ABORT;
    }
    if (rc)
        return fail_mdb(op, rc, "cannot create the repository");
    return run_records_too(st, txn, op);
}

static run_result_t run_delete(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    MDB_val k = {strlen(op->repo), op->repo}, v;
    int rc = k.mv_size ? mdb_get(txn, st->dbi_repos, &k, &v) : MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND) {
        OP_FAIL(op, STORAGE_NOT_FOUND, "repository %s does not exist", op->repo);
        return RUN_ABORT;
    }
    if (rc)
        return fail_mdb(op, rc, "cannot read the repository");
    char prefix[OCI_NAME_MAX + 2];
    size_t plen = k.mv_size;
    if (plen + 1 > sizeof(prefix)) {
        OP_FAIL(op, STORAGE_INVALID, "repository name too long");
        return RUN_ABORT;
    }
    memcpy(prefix, op->repo, plen);
    prefix[plen++] = '\0';
    /* A checked read: the check and the delete are one transaction, so a
     * manifest pushed meanwhile either precedes the check or fails on the
     * missing links after it. */
    if (!(op->flags & STORAGE_OP_FORCE) && has_prefix(txn, st->dbi_manifests, prefix, plen)) {
        OP_FAIL(op, STORAGE_INVALID, "repository %s holds images", op->repo);
        return RUN_ABORT;
    }
    uint64_t manifests = 0;
    if ((rc = delete_prefix(txn, st->dbi_manifests, prefix, plen, &manifests)) != 0 ||
        (rc = delete_prefix(txn, st->dbi_tags, prefix, plen, NULL)) != 0 ||
        (rc = delete_prefix(txn, st->dbi_referrers, prefix, plen, NULL)) != 0 ||
        (rc = delete_prefix(txn, st->dbi_links, prefix, plen, NULL)) != 0 || (rc = mdb_del(txn, st->dbi_repos, &k, NULL)) != 0)
        return fail_mdb(op, rc, "cannot delete the repository");
    op->result_offset = manifests;
    return run_records_too(st, txn, op);
}

static run_result_t run_images_delete(storage_t *st, MDB_txn *txn, storage_op_t *op);

run_result_t store_run_repo_op(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    if (op->kind == STORAGE_OP_IMAGES_DELETE)
        return run_images_delete(st, txn, op);
    if (op->kind == STORAGE_OP_REPO_UPDATE) {
        MDB_val k = {strlen(op->repo), op->repo}, v;
        int rc = k.mv_size ? mdb_get(txn, st->dbi_repos, &k, &v) : MDB_NOTFOUND;
        if (rc == MDB_NOTFOUND) {
            OP_FAIL(op, STORAGE_NOT_FOUND, "repository %s does not exist", op->repo);
            return RUN_ABORT;
        }
        if (rc)
            return fail_mdb(op, rc, "cannot read the repository");
        if (!op->records_fn) {
            OP_FAIL(op, STORAGE_INVALID, "a repository update without a function");
            return RUN_ABORT;
        }
        return store_run_records(st, txn, op);
    }
    return op->kind == STORAGE_OP_REPO_CREATE ? run_create(st, txn, op) : run_delete(st, txn, op);
}

storage_status_t storage_repo_created_at(storage_reader_t *rd, const char *repo, uint64_t *out, storage_err_t *err)
{
    MDB_val k = {strlen(repo), (void *)repo}, v;
    int rc = k.mv_size ? mdb_get(rd->txn, rd->st->dbi_repos, &k, &v) : MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND) {
        store_err(err, STORAGE_NOT_FOUND, "repository %s does not exist", repo);
        return STORAGE_NOT_FOUND;
    }
    if (rc || v.mv_size != sizeof(uint64_t)) {
        store_err(err, STORAGE_IO, "cannot read repository %s: %s", repo, rc ? mdb_strerror(rc) : "damaged record");
        return STORAGE_IO;
    }
    memcpy(out, v.mv_data, sizeof(*out));
    return STORAGE_OK;
}

/* ---- images ---------------------------------------------------------------- */

/* The subject stored in a manifest record ("" when none or damaged). */
void store_manifest_subject(const MDB_val *v, char *out, size_t cap)
{
    store_manifest_view_t m;
    out[0] = '\0';
    if (store_manifest_decode(v, &m) && m.subject_len < cap)
        memcpy(out, m.subject, m.subject_len + 1);
}

/* Deletes repo's manifest `digest`, its tags and its referrer record; MDB_NOTFOUND when absent. */
static int delete_manifest(storage_t *st, MDB_txn *txn, const char *repo, const char *digest)
{
    char key[OCI_NAME_MAX + 2 * OCI_DIGEST_MAX + 3], subject[OCI_DIGEST_MAX];
    MDB_val k = {store_key2(key, sizeof(key), repo, digest), key}, v;
    int rc = mdb_get(txn, st->dbi_manifests, &k, &v);
    if (rc)
        return rc;
    store_manifest_subject(&v, subject, sizeof(subject));
    if ((rc = mdb_del(txn, st->dbi_manifests, &k, NULL)) != 0)
        return rc;
    /* its tags: a scan of the repository's tags (ECR's batch sizes are 100) */
    char prefix[OCI_NAME_MAX + 2];
    size_t plen = strlen(repo), dlen = strlen(digest);
    memcpy(prefix, repo, plen);
    prefix[plen++] = '\0';
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, st->dbi_tags, &cur)) != 0)
        return rc;
    char seek[OCI_NAME_MAX + OCI_TAG_MAX + 2];
    k.mv_size = plen;
    k.mv_data = prefix;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size < plen || k.mv_size > sizeof(seek) || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        if (v.mv_size == dlen && memcmp(v.mv_data, digest, dlen) == 0) {
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
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (subject[0]) {
        k.mv_size = store_key3(key, sizeof(key), repo, subject, digest);
        k.mv_data = key;
        rc = mdb_del(txn, st->dbi_referrers, &k, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

/* Whether some tag of repo names digest. */
static bool digest_tagged(storage_t *st, MDB_txn *txn, const char *repo, const char *digest, int *rc_out)
{
    char prefix[OCI_NAME_MAX + 2];
    size_t plen = strlen(repo), dlen = strlen(digest);
    memcpy(prefix, repo, plen);
    prefix[plen++] = '\0';
    MDB_cursor *cur;
    *rc_out = mdb_cursor_open(txn, st->dbi_tags, &cur);
    if (*rc_out)
        return false;
    MDB_val k = {plen, prefix}, v;
    bool found = false;
    int rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && !found; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        found = v.mv_size == dlen && memcmp(v.mv_data, digest, dlen) == 0;
    }
    mdb_cursor_close(cur);
    *rc_out = rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
    return found;
}

typedef struct {
    char digest[OCI_DIGEST_MAX];
    uint64_t tag; /* the tag's storage_tag_set_add(0, tag) */
} tag_digest_t;

static uint64_t tag_hash(const char *tag, size_t len)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)tag[i];
        h *= 1099511628211ull;
    }
    return h;
}

uint64_t storage_tag_set_add(uint64_t set, const char *tag)
{
    return set + tag_hash(tag, strlen(tag));
}

static int digest_cmp(const void *a, const void *b)
{
    return strcmp(((const tag_digest_t *)a)->digest, ((const tag_digest_t *)b)->digest);
}

/* The digests the repository's tags name (with each tag's hash), sorted, so
 * that an image's tags are a binary search, not a scan per image. 0, or an
 * LMDB code (ENOMEM). */
static int tag_digests(storage_t *st, MDB_txn *txn, const char *repo, tag_digest_t **out, size_t *n)
{
    char prefix[OCI_NAME_MAX + 2];
    size_t plen = strlen(repo), cap = 0;
    memcpy(prefix, repo, plen);
    prefix[plen++] = '\0';
    *out = NULL;
    *n = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->dbi_tags, &cur);
    if (rc)
        return rc;
    MDB_val k = {plen, prefix}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        if (v.mv_size >= OCI_DIGEST_MAX)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            tag_digest_t *t = realloc(*out, cap * sizeof(*t));
            if (!t) {
                rc = ENOMEM;
                break;
            }
            *out = t;
        }
        memcpy((*out)[*n].digest, v.mv_data, v.mv_size);
        (*out)[*n].digest[v.mv_size] = '\0';
        (*out)[*n].tag = tag_hash((const char *)k.mv_data + plen, k.mv_size - plen);
        (*n)++;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) {
        free(*out);
        *out = NULL;
        return rc;
    }
    if (*n)
        qsort(*out, *n, sizeof(**out), digest_cmp);
    return 0;
}

/* Whether the tags of digest are `count` tags whose set is `set`. */
static bool tags_are(const tag_digest_t *t, size_t n, const char *digest, uint32_t count, uint64_t set)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t[mid].digest, digest) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t c = 0;
    uint64_t sum = 0;
    for (; lo < n && strcmp(t[lo].digest, digest) == 0; lo++, c++)
        sum += t[lo].tag;
    return c == count && sum == set;
}

/* One child reference of an index (manifest list) of the repository. */
typedef struct {
    char child[OCI_DIGEST_MAX];
    char parent[OCI_DIGEST_MAX];
    bool gone; /* the index was deleted by this op */
} index_ref_t;

static int index_ref_cmp(const void *a, const void *b)
{
    return strcmp(((const index_ref_t *)a)->child, ((const index_ref_t *)b)->child);
}

/* What the repository's indexes reference, sorted by child: read once per op,
 * so that deleting a batch is not a scan per image. An index whose record
 * cannot be parsed references nothing here (fsck reports it). 0, or an LMDB
 * code (ENOMEM). */
static int index_refs(storage_t *st, MDB_txn *txn, const char *repo, index_ref_t **out, size_t *n)
{
    char prefix[OCI_NAME_MAX + 2];
    size_t plen = strlen(repo), cap = 0;
    memcpy(prefix, repo, plen);
    prefix[plen++] = '\0';
    *out = NULL;
    *n = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->dbi_manifests, &cur);
    if (rc)
        return rc;
    MDB_val k = {plen, prefix}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        store_manifest_view_t m;
        size_t dlen = k.mv_size - plen;
        if (dlen >= OCI_DIGEST_MAX || !store_manifest_decode(&v, &m) ||
            !(oci_media_kind(m.media_type, m.media_type_len) & (OCI_MT_OCI_INDEX | OCI_MT_DOCKER_LIST)))
            continue;
        oci_manifest_t man;
        if (oci_manifest_parse(m.body, m.body_len, m.media_type, m.media_type_len, &man, NULL) != OCI_OK)
            continue;
        for (size_t i = 0; i < man.nmanifests && rc == 0; i++) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                index_ref_t *r = realloc(*out, cap * sizeof(*r));
                if (!r) {
                    rc = ENOMEM;
                    break;
                }
                *out = r;
            }
            index_ref_t *r = &(*out)[(*n)++];
            memcpy(r->child, man.manifests[i].digest.str, man.manifests[i].digest.len + 1);
            memcpy(r->parent, (const char *)k.mv_data + plen, dlen);
            r->parent[dlen] = '\0';
            r->gone = false;
        }
        oci_manifest_free(&man);
        if (rc)
            break;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) {
        free(*out);
        *out = NULL;
        *n = 0;
        return rc;
    }
    if (*n)
        qsort(*out, *n, sizeof(**out), index_ref_cmp);
    return 0;
}

/* Whether an index that stays references digest. */
static bool index_referenced(const index_ref_t *r, size_t n, const char *digest)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(r[mid].child, digest) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < n && strcmp(r[lo].child, digest) == 0; lo++)
        if (!r[lo].gone)
            return true;
    return false;
}

/* digest was deleted: what it referenced as an index no longer counts. */
static void index_gone(index_ref_t *r, size_t n, const char *digest)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i].parent, digest) == 0)
            r[i].gone = true;
}

/* One image of an IMAGES_DELETE: its status into im->status, or an LMDB code
 * (ENOMEM) that fails the whole op. STORAGE_REFERENCE: an index that stays
 * references it (it may go in a later pass, once that index has). */
static int delete_image(storage_t *st, MDB_txn *txn, storage_op_t *op, storage_image_ref_t *im, const tag_digest_t *tags,
                        size_t ntags, index_ref_t *refs, size_t nrefs)
{
    char key[OCI_NAME_MAX + OCI_TAG_MAX + 2];
    int rc;
    im->status = STORAGE_OK;
    if (im->ref.is_digest && (op->flags & STORAGE_OP_IF_TAGS_UNCHANGED) &&
        !tags_are(tags, ntags, im->ref.digest.str, im->tags, im->tag_set)) {
        im->digest = im->ref.digest;
        im->status = STORAGE_INVALID;
        return 0;
    }
    if (im->ref.is_digest) {
        im->digest = im->ref.digest;
        char mkey[OCI_NAME_MAX + OCI_DIGEST_MAX + 2];
        MDB_val k = {store_key2(mkey, sizeof(mkey), op->repo, im->digest.str), mkey}, v;
        if ((rc = mdb_get(txn, st->dbi_manifests, &k, &v)) != 0)
            return rc == MDB_NOTFOUND ? (im->status = STORAGE_NOT_FOUND, 0) : rc;
        if (index_referenced(refs, nrefs, im->digest.str)) {
            /* ECR's ImageReferencedByManifestList: deleting a platform's image
             * (an untagged child, what "delete the untagged images" finds)
             * would leave its index pointing at nothing */
            im->status = STORAGE_REFERENCE;
            return 0;
        }
        rc = delete_manifest(st, txn, op->repo, im->digest.str);
    } else {
        MDB_val k = {store_key2(key, sizeof(key), op->repo, im->ref.tag), key}, v;
        rc = k.mv_size ? mdb_get(txn, st->dbi_tags, &k, &v) : MDB_NOTFOUND;
        if (rc == 0 && oci_digest_parse(v.mv_data, v.mv_size, &im->digest, NULL) != OCI_OK)
            rc = MDB_CORRUPTED;
        if (rc == 0)
            rc = mdb_del(txn, st->dbi_tags, &k, NULL);
        /* the last tag of an image takes the image with it, as in ECR, unless
         * an index references it: then the tag goes and the image stays */
        if (rc == 0 && !digest_tagged(st, txn, op->repo, im->digest.str, &rc) && rc == 0 &&
            !index_referenced(refs, nrefs, im->digest.str)) {
            rc = delete_manifest(st, txn, op->repo, im->digest.str);
            if (rc == MDB_NOTFOUND)
                rc = 0;
            else if (rc == 0)
                index_gone(refs, nrefs, im->digest.str);
        }
        return rc == MDB_NOTFOUND ? (im->status = STORAGE_NOT_FOUND, 0) : rc;
    }
    if (rc == 0)
        index_gone(refs, nrefs, im->digest.str);
    return rc == MDB_NOTFOUND ? (im->status = STORAGE_NOT_FOUND, 0) : rc;
}

static run_result_t run_images_delete(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    tag_digest_t *tags = NULL;
    size_t ntags = 0, nrefs = 0;
    index_ref_t *refs = NULL;
    if (op->flags & STORAGE_OP_IF_TAGS_UNCHANGED) {
        /* the tags as of this transaction: the deletions below only drop tags of images they delete */
        int rc = tag_digests(st, txn, op->repo, &tags, &ntags);
        if (rc == ENOMEM) {
            OP_FAIL(op, STORAGE_NOMEM, "out of memory while reading the repository's tags");
            return RUN_ABORT;
        }
        if (rc)
            return fail_mdb(op, rc, "cannot read the repository's tags");
    }
    /* the indexes as of this transaction: checked here, not in the caller's
     * snapshot, so that an index pushed meanwhile still protects its children */
    int rc = index_refs(st, txn, op->repo, &refs, &nrefs);
    if (rc) {
        free(tags);
        if (rc == ENOMEM) {
            OP_FAIL(op, STORAGE_NOMEM, "out of memory while reading the repository's indexes");
            return RUN_ABORT;
        }
        return fail_mdb(op, rc, "cannot read the repository's indexes");
    }
    /* in passes, so that a batch may name an index's children before the index */
    bool *done = calloc(op->nimages ? op->nimages : 1, sizeof(*done));
    if (!done) {
        free(tags);
        free(refs);
        OP_FAIL(op, STORAGE_NOMEM, "out of memory");
        return RUN_ABORT;
    }
    for (bool progress = true; progress && rc == 0;) {
        progress = false;
        for (size_t i = 0; i < op->nimages && rc == 0; i++) {
            if (done[i])
                continue;
            rc = delete_image(st, txn, op, &op->images[i], tags, ntags, refs, nrefs);
            if (rc == 0 && op->images[i].status != STORAGE_REFERENCE)
                done[i] = progress = true;
        }
    }
    free(done);
    free(tags);
    free(refs);
    return rc ? fail_mdb(op, rc, "cannot delete the image") : RUN_COMMIT;
}

storage_status_t storage_images_list(storage_reader_t *rd, const char *repo, const char *after, storage_image_cb cb, void *ctx,
                                     storage_err_t *err)
{
    char key[OCI_NAME_MAX + OCI_DIGEST_MAX + 2];
    size_t plen = strlen(repo) + 1;
    size_t klen = store_key2(key, sizeof(key), repo, after ? after : "");
    if (!klen || plen > OCI_NAME_MAX + 1)
        return STORAGE_OK;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(rd->txn, rd->st->dbi_manifests, &cur);
    if (rc) {
        store_err(err, store_mdb_status(rc), "cannot read the store: %s", mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    MDB_val k = {klen, key}, v;
    storage_status_t out = STORAGE_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, key, plen) != 0)
            break;
        size_t dlen = k.mv_size - plen;
        if (after && dlen == strlen(after) && memcmp((const char *)k.mv_data + plen, after, dlen) == 0)
            continue;
        store_manifest_view_t m;
        char digest[OCI_DIGEST_MAX];
        if (dlen >= sizeof(digest) || !store_manifest_decode(&v, &m)) {
            out = STORAGE_IO;
            break;
        }
        memcpy(digest, (const char *)k.mv_data + plen, dlen);
        digest[dlen] = '\0';
        storage_image_t im = {.digest = digest,
                              .media_type = m.media_type,
                              .artifact_type = m.artifact_type,
                              .subject = m.subject,
                              .pushed_at = m.pushed_at,
                              .body = m.body,
                              .len = m.body_len};
        if (!cb(ctx, &im))
            break;
    }
    mdb_cursor_close(cur);
    if (out == STORAGE_IO) {
        store_err(err, STORAGE_IO, "a manifest record of repository %s is damaged", repo);
        return STORAGE_IO;
    }
    if (rc && rc != MDB_NOTFOUND) {
        store_err(err, store_mdb_status(rc), "cannot read the store: %s", mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    return STORAGE_OK;
}

storage_status_t storage_tag_entries(storage_reader_t *rd, const char *repo, storage_tag_cb cb, void *ctx, storage_err_t *err)
{
    char prefix[OCI_NAME_MAX + 2];
    size_t plen = strlen(repo);
    if (plen > OCI_NAME_MAX)
        return STORAGE_OK;
    memcpy(prefix, repo, plen);
    prefix[plen++] = '\0';
    MDB_cursor *cur;
    int rc = mdb_cursor_open(rd->txn, rd->st->dbi_tags, &cur);
    if (rc) {
        store_err(err, store_mdb_status(rc), "cannot read the store: %s", mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    MDB_val k = {plen, prefix}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        char tag[OCI_TAG_MAX + 1], digest[OCI_DIGEST_MAX];
        size_t tlen = k.mv_size - plen;
        if (tlen >= sizeof(tag) || v.mv_size >= sizeof(digest))
            continue;
        memcpy(tag, (const char *)k.mv_data + plen, tlen);
        tag[tlen] = '\0';
        memcpy(digest, v.mv_data, v.mv_size);
        digest[v.mv_size] = '\0';
        if (!cb(ctx, tag, digest))
            break;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) {
        store_err(err, store_mdb_status(rc), "cannot read the store: %s", mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    return STORAGE_OK;
}
