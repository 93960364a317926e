/* storage_fsck: an offline check of a data directory (storage.h, "backup
 * and check"). It reads the environment read-only, in one snapshot, with
 * the data directory's berthd.lock held so that no berthd starts
 * meanwhile, and changes nothing: it reports, it never repairs (a repair is
 * a restore from a backup). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage_internal.h"

/* Bytes read per call while hashing a blob file. */
#define FSCK_READ_BYTES (1u << 20)

typedef struct {
    store_offline_t o;
    MDB_txn *txn;
    const char *dir;
    storage_fsck_cb cb;
    void *ctx;
    storage_fsck_report_t *rep;
    uint64_t *ids; /* blob ids that own chunks: LMDB-tier blobs and uploads */
    size_t nids, cap;
    bool nomem;
    ZSTD_DCtx *dctx;
    void *buf; /* a decompressed chunk, or a file's read buffer */
    char last_missing_repo[OCI_NAME_MAX + 1];
} fsck_t;

static void problem(fsck_t *f, const char *kind, const char *repo, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void problem(fsck_t *f, const char *kind, const char *repo, const char *what, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    f->rep->problems++;
    storage_fsck_problem_t p = {kind, repo ? repo : "", what ? what : "", detail};
    if (f->cb)
        f->cb(f->ctx, &p);
}

static void add_id(fsck_t *f, uint64_t id)
{
    if (f->nids == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 1024;
        uint64_t *n = realloc(f->ids, cap * sizeof(*n));
        if (!n) {
            f->nomem = true;
            return;
        }
        f->ids = n;
        f->cap = cap;
    }
    f->ids[f->nids++] = id;
}

static int id_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* A key "<a>\0<b>" split into two NUL-terminated strings; false if it is not one. */
static bool split2(const MDB_val *k, char *a, size_t acap, char *b, size_t bcap)
{
    const char *p = k->mv_data;
    const char *nul = memchr(p, '\0', k->mv_size);
    if (!nul)
        return false;
    size_t la = (size_t)(nul - p), lb = k->mv_size - la - 1;
    if (la >= acap || lb >= bcap || memchr(nul + 1, '\0', lb))
        return false;
    memcpy(a, p, la);
    a[la] = '\0';
    memcpy(b, nul + 1, lb);
    b[lb] = '\0';
    return true;
}

static bool exists2(fsck_t *f, MDB_dbi dbi, const char *a, const char *b)
{
    char key[OCI_NAME_MAX + OCI_TAG_MAX + OCI_DIGEST_MAX + 4];
    MDB_val k = {store_key2(key, sizeof(key), a, b), key}, v;
    return k.mv_size && mdb_get(f->txn, dbi, &k, &v) == 0;
}

static void check_repo(fsck_t *f, const char *repo)
{
    MDB_val k = {strlen(repo), (void *)repo}, v;
    if (mdb_get(f->txn, f->o.repos, &k, &v) == 0 || strcmp(repo, f->last_missing_repo) == 0)
        return;
    store_pathf(f->last_missing_repo, sizeof(f->last_missing_repo), "%s", repo);
    problem(f, "repo-missing", repo, "", "the repository has records but is not in the catalog");
}

static const EVP_MD *md_of(const oci_digest_t *d)
{
    return d->alg == OCI_ALG_SHA512 ? EVP_sha512() : EVP_sha256();
}

/* Compares a finished hash with the digest. */
static bool hash_matches(EVP_MD_CTX *md, const oci_digest_t *d)
{
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    oci_digest_t got;
    if (!EVP_DigestFinal_ex(md, raw, &n))
        return false;
    oci_digest_from_raw(d->alg, raw, &got);
    return strcmp(got.str, d->str) == 0;
}

static void check_file_blob(fsck_t *f, const oci_digest_t *d, const blob_rec_t *rec, EVP_MD_CTX *md)
{
    const char *hex = strchr(d->str, ':') + 1;
    char path[4200];
    store_pathf(path, sizeof(path), "%s/blobs/%.*s/%.2s/%s", f->dir, (int)(hex - 1 - d->str), d->str, hex, hex);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        problem(f, "blob-missing", "", d->str, "its file %s cannot be opened: %s", path, strerror(errno));
        return;
    }
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, f->buf, FSCK_READ_BYTES);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            problem(f, "blob-missing", "", d->str, "its file cannot be read: %s", strerror(errno));
            close(fd);
            return;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(md, f->buf, (size_t)n);
        total += (uint64_t)n;
    }
    close(fd);
    if (total != rec->size)
        problem(f, "blob-digest", "", d->str, "its file holds %llu bytes, its record says %llu", (unsigned long long)total,
                (unsigned long long)rec->size);
    else if (!hash_matches(md, d))
        problem(f, "blob-digest", "", d->str, "its file's bytes hash to another digest");
}

static void check_chunk_blob(fsck_t *f, const oci_digest_t *d, const blob_rec_t *rec, EVP_MD_CTX *md)
{
    add_id(f, rec->id);
    MDB_cursor *cur;
    if (mdb_cursor_open(f->txn, f->o.chunks, &cur) != 0) {
        problem(f, "blob-missing", "", d->str, "its chunks cannot be read");
        return;
    }
    unsigned char key[16];
    store_chunk_key(key, rec->id, 0);
    MDB_val k = {16, key}, v;
    uint64_t pos = 0;
    int rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || memcmp(k.mv_data, key, 8) != 0)
            break;
        uint64_t start = be64((const unsigned char *)k.mv_data + 8);
        chunk_hdr_t hdr;
        if (start != pos || v.mv_size < sizeof(hdr)) {
            problem(f, "blob-missing", "", d->str, "the chunk at offset %llu is missing or damaged", (unsigned long long)pos);
            mdb_cursor_close(cur);
            return;
        }
        memcpy(&hdr, v.mv_data, sizeof(hdr));
        const char *payload = (const char *)v.mv_data + sizeof(hdr);
        size_t plen = v.mv_size - sizeof(hdr);
        if (hdr.codec == CHUNK_RAW && plen == hdr.raw_len) {
            EVP_DigestUpdate(md, payload, plen);
        } else if (hdr.codec == CHUNK_ZSTD && hdr.raw_len <= STORE_CHUNK_BYTES) {
            size_t n = ZSTD_decompressDCtx(f->dctx, f->buf, STORE_CHUNK_BYTES, payload, plen);
            if (ZSTD_isError(n) || n != hdr.raw_len) {
                problem(f, "blob-digest", "", d->str, "the chunk at offset %llu does not decompress", (unsigned long long)pos);
                mdb_cursor_close(cur);
                return;
            }
            EVP_DigestUpdate(md, f->buf, n);
        } else {
            problem(f, "blob-digest", "", d->str, "the chunk at offset %llu has a bad header", (unsigned long long)pos);
            mdb_cursor_close(cur);
            return;
        }
        pos += hdr.raw_len;
    }
    mdb_cursor_close(cur);
    if (pos < rec->size)
        problem(f, "blob-missing", "", d->str, "its chunks end at %llu of %llu bytes", (unsigned long long)pos,
                (unsigned long long)rec->size);
    else if (pos > rec->size)
        problem(f, "blob-digest", "", d->str, "its chunks hold %llu bytes, its record says %llu", (unsigned long long)pos,
                (unsigned long long)rec->size);
    else if (!hash_matches(md, d))
        problem(f, "blob-digest", "", d->str, "its bytes hash to another digest");
}

static int check_blobs(fsck_t *f)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(f->txn, f->o.blobs, &cur);
    if (rc)
        return rc;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md) {
        mdb_cursor_close(cur);
        return ENOMEM;
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char name[OCI_DIGEST_MAX + 1];
        store_pathf(name, sizeof(name), "%.*s", (int)(k.mv_size < OCI_DIGEST_MAX ? k.mv_size : OCI_DIGEST_MAX),
                    (const char *)k.mv_data);
        oci_digest_t d;
        blob_rec_t rec;
        if (oci_digest_parse(k.mv_data, k.mv_size, &d, NULL) != OCI_OK || v.mv_size != sizeof(rec)) {
            problem(f, "record-damaged", "", name, "a blob record cannot be decoded");
            continue;
        }
        memcpy(&rec, v.mv_data, sizeof(rec));
        f->rep->blobs++;
        f->rep->blob_bytes += rec.size;
        if (!EVP_DigestInit_ex(md, md_of(&d), NULL)) {
            rc = ENOMEM;
            break;
        }
        if (rec.flags & BLOB_IN_FILE)
            check_file_blob(f, &d, &rec, md);
        else
            check_chunk_blob(f, &d, &rec, md);
    }
    EVP_MD_CTX_free(md);
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static void check_manifest(fsck_t *f, const char *repo, const char *digest, const MDB_val *v, EVP_MD_CTX *md)
{
    store_manifest_view_t rec;
    oci_digest_t d;
    if (oci_digest_parse(digest, strlen(digest), &d, NULL) != OCI_OK || !store_manifest_decode(v, &rec)) {
        problem(f, "manifest-damaged", repo, digest, "the manifest record cannot be decoded");
        return;
    }
    const char *body = rec.body;
    if (!EVP_DigestInit_ex(md, md_of(&d), NULL) || !EVP_DigestUpdate(md, body, rec.body_len) || !hash_matches(md, &d)) {
        problem(f, "manifest-digest", repo, digest, "the manifest's bytes hash to another digest");
        return;
    }
    oci_manifest_t man;
    oci_err_t oerr;
    if (oci_manifest_parse(body, rec.body_len, rec.media_type, rec.media_type_len, &man, &oerr) != OCI_OK) {
        problem(f, "manifest-damaged", repo, digest, "the manifest does not parse: %s", oerr.msg);
        return;
    }
    for (size_t i = 0; i < man.nblobs; i++) {
        const char *b = man.blobs[i].digest.str;
        if (man.blobs[i].foreign)
            continue;
        const char *what = i == 0 && (man.kind & (OCI_MT_OCI_MANIFEST | OCI_MT_DOCKER_MANIFEST)) ? "config" : "layer";
        if (!exists2(f, f->o.links, repo, b))
            problem(f, "manifest-ref", repo, digest, "its %s %s is not in the repository", what, b);
    }
    for (size_t i = 0; i < man.nmanifests; i++)
        if (!exists2(f, f->o.manifests, repo, man.manifests[i].digest.str))
            problem(f, "manifest-ref", repo, digest, "its child manifest %s is not in the repository", man.manifests[i].digest.str);
    oci_manifest_free(&man);
}

/* One pass over a "<repo>\0<name>" database. */
typedef enum { PASS_MANIFESTS, PASS_TAGS, PASS_LINKS } pass_t;

static int check_pass(fsck_t *f, MDB_dbi dbi, pass_t pass)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(f->txn, dbi, &cur);
    if (rc)
        return rc;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md) {
        mdb_cursor_close(cur);
        return ENOMEM;
    }
    static const char *const names[] = {"manifest", "tag", "link"};
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char repo[OCI_NAME_MAX + 1], name[OCI_TAG_MAX + OCI_DIGEST_MAX + 1];
        if (!split2(&k, repo, sizeof(repo), name, sizeof(name))) {
            problem(f, "record-damaged", "", "", "a %s key cannot be decoded", names[pass]);
            continue;
        }
        check_repo(f, repo);
        if (pass == PASS_MANIFESTS) {
            f->rep->manifests++;
            check_manifest(f, repo, name, &v, md);
        } else if (pass == PASS_TAGS) {
            f->rep->tags++;
            char digest[OCI_DIGEST_MAX];
            if (v.mv_size >= sizeof(digest)) {
                problem(f, "record-damaged", repo, name, "the tag's value is not a digest");
                continue;
            }
            memcpy(digest, v.mv_data, v.mv_size);
            digest[v.mv_size] = '\0';
            if (!exists2(f, f->o.manifests, repo, digest))
                problem(f, "tag-dangling", repo, name, "the tag names %s, which is not in the repository", digest);
        } else {
            f->rep->links++;
            MDB_val bk = {strlen(name), name}, bv;
            if (mdb_get(f->txn, f->o.blobs, &bk, &bv) != 0)
                problem(f, "link-dangling", repo, name, "the repository links a blob the store does not hold");
        }
    }
    EVP_MD_CTX_free(md);
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int check_referrers(fsck_t *f)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(f->txn, f->o.referrers, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        f->rep->referrers++;
        const char *p = k.mv_data;
        const char *n1 = memchr(p, '\0', k.mv_size);
        const char *n2 = n1 ? memchr(n1 + 1, '\0', k.mv_size - (size_t)(n1 + 1 - p)) : NULL;
        size_t rl = n1 ? (size_t)(n1 - p) : 0, dl = n2 ? k.mv_size - (size_t)(n2 + 1 - p) : 0;
        if (!n2 || rl > OCI_NAME_MAX || dl >= OCI_DIGEST_MAX) {
            problem(f, "record-damaged", "", "", "a referrer key cannot be decoded");
            continue;
        }
        char repo[OCI_NAME_MAX + 1], digest[OCI_DIGEST_MAX];
        memcpy(repo, p, rl);
        repo[rl] = '\0';
        memcpy(digest, n2 + 1, dl);
        digest[dl] = '\0';
        if (!exists2(f, f->o.manifests, repo, digest))
            problem(f, "referrer-dangling", repo, digest, "a referrer entry names a manifest the repository lacks");
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int check_uploads(fsck_t *f)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(f->txn, f->o.uploads, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        f->rep->uploads++;
        char id[STORAGE_UPLOAD_ID_LEN + 1];
        store_pathf(id, sizeof(id), "%.*s", (int)(k.mv_size < STORAGE_UPLOAD_ID_LEN ? k.mv_size : STORAGE_UPLOAD_ID_LEN),
                    (const char *)k.mv_data);
        session_t s;
        if (k.mv_size != STORAGE_UPLOAD_ID_LEN || !session_decode(v.mv_data, v.mv_size, &s)) {
            problem(f, "record-damaged", "", id, "an upload session cannot be decoded");
            continue;
        }
        if (!(s.flags & SESSION_IN_FILE)) {
            add_id(f, s.blob_id);
            continue;
        }
        char path[4200];
        store_pathf(path, sizeof(path), "%s/uploads/%s", f->dir, id);
        struct stat sb;
        if (stat(path, &sb) != 0 || (uint64_t)sb.st_size < s.offset)
            problem(f, "upload-missing", s.repo, id, "the upload's file is missing or shorter than its %llu acknowledged bytes",
                    (unsigned long long)s.offset);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int check_chunk_owners(fsck_t *f)
{
    qsort(f->ids, f->nids, sizeof(*f->ids), id_cmp);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(f->txn, f->o.chunks, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;) {
        if (k.mv_size != 16) {
            problem(f, "record-damaged", "", "", "a chunk key cannot be decoded");
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        uint64_t id = be64(k.mv_data);
        if (!bsearch(&id, f->ids, f->nids, sizeof(id), id_cmp)) {
            char what[32];
            store_pathf(what, sizeof(what), "blob id %llu", (unsigned long long)id);
            problem(f, "orphan-chunks", "", what, "chunks that no blob or upload owns");
        }
        if (id == UINT64_MAX)
            break;
        unsigned char next[16];
        store_chunk_key(next, id + 1, 0);
        k.mv_size = 16;
        k.mv_data = next;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Files under blobs/<alg>/<2 hex>/ and uploads/ that no record names. */
static void check_files(fsck_t *f)
{
    char top[4200];
    store_pathf(top, sizeof(top), "%s/blobs", f->dir);
    DIR *d1 = opendir(top);
    for (struct dirent *a; d1 && (a = readdir(d1));) {
        if (a->d_name[0] == '.')
            continue;
        char p2[4400];
        store_pathf(p2, sizeof(p2), "%s/%s", top, a->d_name);
        DIR *d2 = opendir(p2);
        if (!d2) {
            problem(f, "orphan-file", "", p2, "not a directory of blob files");
            continue;
        }
        for (struct dirent *b; (b = readdir(d2));) {
            if (b->d_name[0] == '.')
                continue;
            char p3[4700];
            store_pathf(p3, sizeof(p3), "%s/%s", p2, b->d_name);
            DIR *d3 = opendir(p3);
            if (!d3) {
                problem(f, "orphan-file", "", p3, "not a directory of blob files");
                continue;
            }
            for (struct dirent *c; (c = readdir(d3));) {
                if (c->d_name[0] == '.')
                    continue;
                f->rep->files++;
                char path[5000], digest[OCI_DIGEST_MAX + 64];
                store_pathf(path, sizeof(path), "%s/%s", p3, c->d_name);
                int n = snprintf(digest, sizeof(digest), "%s:%s", a->d_name, c->d_name);
                MDB_val k = {(size_t)n, digest}, v;
                blob_rec_t rec;
                bool named = n > 0 && (size_t)n < OCI_DIGEST_MAX && strncmp(c->d_name, b->d_name, 2) == 0 &&
                             strlen(b->d_name) == 2 && mdb_get(f->txn, f->o.blobs, &k, &v) == 0 && v.mv_size == sizeof(rec);
                if (named)
                    memcpy(&rec, v.mv_data, sizeof(rec));
                if (!named || !(rec.flags & BLOB_IN_FILE))
                    problem(f, "orphan-file", "", path, "no blob record names this file");
            }
            closedir(d3);
        }
        closedir(d2);
    }
    if (d1)
        closedir(d1);
    store_pathf(top, sizeof(top), "%s/uploads", f->dir);
    DIR *du = opendir(top);
    for (struct dirent *e; du && (e = readdir(du));) {
        if (e->d_name[0] == '.')
            continue;
        f->rep->files++;
        char path[4500];
        store_pathf(path, sizeof(path), "%s/%s", top, e->d_name);
        MDB_val k = {strlen(e->d_name), e->d_name}, v;
        session_t s;
        bool named = k.mv_size == STORAGE_UPLOAD_ID_LEN && mdb_get(f->txn, f->o.uploads, &k, &v) == 0 &&
                     session_decode(v.mv_data, v.mv_size, &s) && (s.flags & SESSION_IN_FILE);
        if (!named)
            problem(f, "orphan-file", "", path, "no upload session names this file");
    }
    if (du)
        closedir(du);
}

/* Takes <dir>/berthd.lock as berthd does (server/main.c); -1 when a berthd
 * holds it. A directory where it cannot be created (a read-only copy) is
 * checked without it. */
static int lock_dir(const char *dir, int *fd_out, storage_err_t *err)
{
    char path[4200];
    store_pathf(path, sizeof(path), "%s/berthd.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        fd = open(path, O_RDONLY | O_CLOEXEC);
    *fd_out = fd;
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
        store_err(err, STORAGE_EXISTS, "%s is in use by a running berthd: stop it first, or check a backup of it (berth backup)",
                  dir);
        close(fd);
        *fd_out = -1;
        return -1;
    }
    return 0;
}

storage_status_t storage_fsck(const char *data_dir, storage_fsck_cb cb, void *ctx, storage_fsck_report_t *out, storage_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (strlen(data_dir) > 4000) {
        store_err(err, STORAGE_INVALID, "path too long");
        return STORAGE_INVALID;
    }
    int lockfd;
    if (lock_dir(data_dir, &lockfd, err) != 0)
        return STORAGE_EXISTS;
    fsck_t f = {.dir = data_dir, .cb = cb, .ctx = ctx, .rep = out};
    storage_status_t status = STORAGE_OK;
    if (store_offline_open(data_dir, false, &f.o, err) != 0) {
        status = STORAGE_IO;
        goto done;
    }
    f.dctx = ZSTD_createDCtx();
    f.buf = malloc(STORE_CHUNK_BYTES > FSCK_READ_BYTES ? STORE_CHUNK_BYTES : FSCK_READ_BYTES);
    if (!f.dctx || !f.buf) {
        store_err(err, STORAGE_NOMEM, "out of memory");
        status = STORAGE_NOMEM;
        goto done;
    }
    int rc = mdb_txn_begin(f.o.env, NULL, MDB_RDONLY, &f.txn);
    if (!rc)
        rc = check_blobs(&f);
    if (!rc)
        rc = check_pass(&f, f.o.manifests, PASS_MANIFESTS);
    if (!rc)
        rc = check_pass(&f, f.o.tags, PASS_TAGS);
    if (!rc)
        rc = check_pass(&f, f.o.links, PASS_LINKS);
    if (!rc)
        rc = check_referrers(&f);
    if (!rc)
        rc = check_uploads(&f);
    if (!rc && !f.nomem)
        rc = check_chunk_owners(&f);
    if (!rc)
        check_files(&f);
    if (!rc && f.nomem)
        rc = ENOMEM;
    if (rc) {
        status = rc == ENOMEM ? STORAGE_NOMEM : STORAGE_IO;
        store_err(err, status, "cannot read the store in %s: %s", data_dir, mdb_strerror(rc));
    }
done:
    if (f.txn)
        mdb_txn_abort(f.txn);
    store_offline_close(&f.o);
    ZSTD_freeDCtx(f.dctx);
    free(f.buf);
    free(f.ids);
    if (lockfd >= 0)
        close(lockfd);
    return status;
}
