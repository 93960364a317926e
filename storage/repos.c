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

/* Deletes repo's manifest record `digest` and its referrer record (not its
 * tags: run_images_delete sweeps those once for the whole op); MDB_NOTFOUND
 * when absent. */
static int delete_manifest_record(storage_t *st, MDB_txn *txn, const char *repo, const char *digest)
{
    char key[OCI_NAME_MAX + 2 * OCI_DIGEST_MAX + 3], subject[OCI_DIGEST_MAX];
    MDB_val k = {store_key2(key, sizeof(key), repo, digest), key}, v;
    int rc = mdb_get(txn, st->dbi_manifests, &k, &v);
    if (rc)
        return rc;
    store_manifest_subject(&v, subject, sizeof(subject));
    if ((rc = mdb_del(txn, st->dbi_manifests, &k, NULL)) != 0)
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

/* An image an IMAGES_DELETE may delete, and its tags as the op's
 * transaction began (the op only ever removes tags). */
typedef struct {
    char digest[OCI_DIGEST_MAX];
    uint32_t tags;    /* how many tags name it */
    uint64_t tag_set; /* storage_tag_set_add of those tags */
    uint32_t dropped; /* of them, deleted by a tag of the op */
    bool deleted;     /* its manifest is gone: its remaining tags go in the sweep */
} cand_t;

static int cand_cmp(const void *a, const void *b)
{
    return strcmp(((const cand_t *)a)->digest, ((const cand_t *)b)->digest);
}

static cand_t *cand_find(cand_t *c, size_t n, const char *digest, size_t len)
{
    char d[OCI_DIGEST_MAX];
    if (len >= sizeof(d))
        return NULL;
    memcpy(d, digest, len);
    d[len] = '\0';
    return n ? bsearch(d, c, n, sizeof(*c), cand_cmp) : NULL;
}

/* Calls fn for every tag of repo (its key and the digest it names), deleting the
 * entry when fn says so: one walk of the repository's tags. 0 or an LMDB code. */
static int walk_tags(storage_t *st, MDB_txn *txn, const char *repo, bool (*fn)(void *ctx, const MDB_val *k, const MDB_val *v),
                     void *ctx)
{
    char prefix[OCI_NAME_MAX + 2], seek[OCI_NAME_MAX + OCI_TAG_MAX + 2];
    size_t plen = strlen(repo);
    memcpy(prefix, repo, plen);
    prefix[plen++] = '\0';
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->dbi_tags, &cur);
    if (rc)
        return rc;
    MDB_val k = {plen, prefix}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size < plen || k.mv_size > sizeof(seek) || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        if (fn(ctx, &k, &v)) {
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

typedef struct {
    cand_t *c;
    size_t n, plen;
} cands_t;

/* First walk: each candidate's tags. */
static bool count_tag(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cands_t *cs = ctx;
    cand_t *c = cand_find(cs->c, cs->n, v->mv_data, v->mv_size);
    if (c) {
        c->tags++;
        c->tag_set += tag_hash((const char *)k->mv_data + cs->plen, k->mv_size - cs->plen);
    }
    return false;
}

/* Last walk: the tags of the images deleted. */
static bool sweep_tag(void *ctx, const MDB_val *k, const MDB_val *v)
{
    cands_t *cs = ctx;
    (void)k;
    cand_t *c = cand_find(cs->c, cs->n, v->mv_data, v->mv_size);
    return c && c->deleted;
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

/* What one op reads of the repository's indexes, on the writer: their
 * bodies scanned for the digests of the op's images, and those that name one
 * parsed (jansson reads ~45 MB/s: a repository of a hundred 4 MiB indexes,
 * each parsed, held every push of the registry for seconds per op). Past
 * either bound the indexes left unread protect nothing: only images of that
 * repository, which the caller may delete anyway, lose the protection. */
#define INDEX_SCAN_BYTES ((size_t)64 << 20)
#define INDEX_PARSE_BYTES ((size_t)4 << 20)

/* Whether body names the digest of one of the op's images (text such as
 * "sha256:<hex>"): only such an index can protect one of them. Linear. */
static bool names_a_candidate(const char *body, size_t len, const cands_t *cs)
{
    const char *p = body, *end = body + len;
    while ((p = memmem(p, (size_t)(end - p), "sha", 3)) != NULL) {
        size_t n = 0, rest = (size_t)(end - p);
        while (n < rest && n < OCI_DIGEST_MAX && ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'z') || p[n] == ':'))
            n++;
        if (n < OCI_DIGEST_MAX && cand_find(cs->c, cs->n, p, n))
            return true;
        p += 3;
    }
    return false;
}

/* The references of the repository's indexes to the op's images, sorted by
 * child: read once per op, so that deleting a batch is not a scan per image.
 * An index whose record cannot be parsed references nothing here (fsck
 * reports it). 0, or an LMDB code (ENOMEM). */
static int index_refs(storage_t *st, MDB_txn *txn, const char *repo, const cands_t *cs, index_ref_t **out, size_t *n)
{
    size_t scanned = 0, parsed = 0;
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
        if ((scanned += m.body_len) > INDEX_SCAN_BYTES)
            break;
        if (!names_a_candidate(m.body, m.body_len, cs))
            continue;
        if ((parsed += m.body_len) > INDEX_PARSE_BYTES)
            break;
        oci_manifest_t man;
        if (oci_manifest_parse(m.body, m.body_len, m.media_type, m.media_type_len, &man, NULL) != OCI_OK)
            continue;
        for (size_t i = 0; i < man.nmanifests && rc == 0; i++) {
            if (!cand_find(cs->c, cs->n, man.manifests[i].digest.str, man.manifests[i].digest.len))
                continue; /* a child the op does not delete */
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
static int delete_image(storage_t *st, MDB_txn *txn, storage_op_t *op, storage_image_ref_t *im, cands_t *cs, index_ref_t *refs,
                        size_t nrefs)
{
    char key[OCI_NAME_MAX + OCI_TAG_MAX + 2];
    int rc;
    im->status = STORAGE_OK;
    if (im->ref.is_digest) {
        im->digest = im->ref.digest;
        cand_t *c = cand_find(cs->c, cs->n, im->digest.str, im->digest.len);
        char mkey[OCI_NAME_MAX + OCI_DIGEST_MAX + 2];
        MDB_val k = {store_key2(mkey, sizeof(mkey), op->repo, im->digest.str), mkey}, v;
        if (!c || c->deleted || (rc = mdb_get(txn, st->dbi_manifests, &k, &v)) == MDB_NOTFOUND) {
            im->status = STORAGE_NOT_FOUND;
            return 0;
        }
        if (rc)
            return rc;
        /* as the op began: a lifecycle run names images by digest only */
        if ((op->flags & STORAGE_OP_IF_TAGS_UNCHANGED) && (c->tags != im->tags || c->tag_set != im->tag_set)) {
            im->status = STORAGE_INVALID;
            return 0;
        }
        if (index_referenced(refs, nrefs, im->digest.str)) {
            /* ECR's ImageReferencedByManifestList: deleting a platform's image
             * (an untagged child, what "delete the untagged images" finds)
             * would leave its index pointing at nothing */
            im->status = STORAGE_REFERENCE;
            return 0;
        }
        if ((rc = delete_manifest_record(st, txn, op->repo, im->digest.str)) != 0)
            return rc;
        c->deleted = true; /* its tags go in the sweep */
        index_gone(refs, nrefs, im->digest.str);
        return 0;
    }
    MDB_val k = {store_key2(key, sizeof(key), op->repo, im->ref.tag), key}, v;
    rc = k.mv_size ? mdb_get(txn, st->dbi_tags, &k, &v) : MDB_NOTFOUND;
    if (rc == 0 && oci_digest_parse(v.mv_data, v.mv_size, &im->digest, NULL) != OCI_OK)
        rc = MDB_CORRUPTED;
    if (rc == MDB_NOTFOUND) {
        im->status = STORAGE_NOT_FOUND;
        return 0;
    }
    if (rc)
        return rc;
    cand_t *c = cand_find(cs->c, cs->n, im->digest.str, im->digest.len);
    if (!c)
        return MDB_CORRUPTED; /* every tag of the op named a candidate as the op began */
    if (c->deleted) {         /* went with its image, deleted by digest earlier in the op (the sweep takes it) */
        im->status = STORAGE_NOT_FOUND;
        return 0;
    }
    if ((rc = mdb_del(txn, st->dbi_tags, &k, NULL)) != 0)
        return rc;
    c->dropped++;
    /* the last tag of an image takes the image with it, as in ECR, unless
     * an index references it: then the tag goes and the image stays */
    if (c->dropped == c->tags && !c->deleted && !index_referenced(refs, nrefs, im->digest.str)) {
        rc = delete_manifest_record(st, txn, op->repo, im->digest.str);
        if (rc == 0) {
            c->deleted = true;
            index_gone(refs, nrefs, im->digest.str);
        }
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    return 0;
}

/* The images the op may delete, with their tags: from its digests, and the
 * digests its tags name; then one walk of the repository's tags counts them.
 * A walk per image (as before) held the writer 3 ms an image in a repository
 * of 40,000 tags: 0.3 s a batch of 100, every push of the registry waiting. */
static int candidates(storage_t *st, MDB_txn *txn, storage_op_t *op, cands_t *cs)
{
    cs->c = calloc(op->nimages ? op->nimages : 1, sizeof(*cs->c));
    cs->n = 0;
    cs->plen = strlen(op->repo) + 1;
    if (!cs->c)
        return ENOMEM;
    for (size_t i = 0; i < op->nimages; i++) {
        const storage_image_ref_t *im = &op->images[i];
        if (im->ref.is_digest) {
            memcpy(cs->c[cs->n++].digest, im->ref.digest.str, im->ref.digest.len + 1);
            continue;
        }
        char key[OCI_NAME_MAX + OCI_TAG_MAX + 2];
        MDB_val k = {store_key2(key, sizeof(key), op->repo, im->ref.tag), key}, v;
        int rc = k.mv_size ? mdb_get(txn, st->dbi_tags, &k, &v) : MDB_NOTFOUND;
        if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size >= OCI_DIGEST_MAX))
            continue;
        if (rc)
            return rc;
        memcpy(cs->c[cs->n].digest, v.mv_data, v.mv_size);
        cs->c[cs->n++].digest[v.mv_size] = '\0';
    }
    qsort(cs->c, cs->n, sizeof(*cs->c), cand_cmp);
    size_t u = 0; /* duplicates once */
    for (size_t i = 0; i < cs->n; i++)
        if (u == 0 || strcmp(cs->c[u - 1].digest, cs->c[i].digest) != 0)
            cs->c[u++] = cs->c[i];
    cs->n = u;
    return cs->n ? walk_tags(st, txn, op->repo, count_tag, cs) : 0;
}

static run_result_t run_images_delete(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    cands_t cs = {0};
    size_t nrefs = 0;
    index_ref_t *refs = NULL;
    int rc = candidates(st, txn, op, &cs);
    /* the indexes as of this transaction: checked here, not in the caller's
     * snapshot, so that an index pushed meanwhile still protects its children */
    if (rc == 0)
        rc = index_refs(st, txn, op->repo, &cs, &refs, &nrefs);
    /* in passes, so that a batch may name an index's children before the index */
    bool *done = rc == 0 ? calloc(op->nimages ? op->nimages : 1, sizeof(*done)) : NULL;
    if (rc == 0 && !done)
        rc = ENOMEM;
    for (bool progress = true; progress && rc == 0;) {
        progress = false;
        for (size_t i = 0; i < op->nimages && rc == 0; i++) {
            if (done[i])
                continue;
            rc = delete_image(st, txn, op, &op->images[i], &cs, refs, nrefs);
            if (rc == 0 && op->images[i].status != STORAGE_REFERENCE)
                done[i] = progress = true;
        }
    }
    /* the tags of the images deleted by digest: one more walk, when there are any */
    bool sweep = false;
    for (size_t i = 0; i < cs.n; i++)
        sweep |= cs.c[i].deleted && cs.c[i].dropped < cs.c[i].tags;
    if (rc == 0 && sweep)
        rc = walk_tags(st, txn, op->repo, sweep_tag, &cs);
    free(done);
    free(cs.c);
    free(refs);
    if (rc == ENOMEM) {
        OP_FAIL(op, STORAGE_NOMEM, "out of memory while deleting images");
        return RUN_ABORT;
    }
    return rc ? fail_mdb(op, rc, "cannot delete the images") : RUN_COMMIT;
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
