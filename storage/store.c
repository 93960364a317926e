/* The LMDB environment: opening, helpers, and every read path. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage_internal.h"

/* Named databases: see the drawing in storage_internal.h. */
#define STORE_MAX_DBS 16
/* Readers: open blob streams hold one each; LMDB's default (126) is too few. */
#define STORE_DEFAULT_MAX_READERS 4096

void store_err(storage_err_t *err, storage_status_t st, const char *fmt, ...)
{
    if (!err)
        return;
    err->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

storage_status_t store_mdb_status(int rc)
{
    switch (rc) {
    case 0:
        return STORAGE_OK;
    case MDB_NOTFOUND:
        return STORAGE_NOT_FOUND;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
        return STORAGE_FULL;
    case ENOMEM:
        return STORAGE_NOMEM;
    default:
        return STORAGE_IO;
    }
}

const char *storage_status_name(storage_status_t s)
{
    switch (s) {
    case STORAGE_OK:
        return "ok";
    case STORAGE_NOT_FOUND:
        return "not found";
    case STORAGE_DIGEST_MISMATCH:
        return "digest mismatch";
    case STORAGE_RANGE:
        return "range";
    case STORAGE_REFERENCE:
        return "missing reference";
    case STORAGE_INVALID:
        return "invalid";
    case STORAGE_FULL:
        return "full";
    case STORAGE_IO:
        return "i/o error";
    case STORAGE_NOMEM:
        return "no memory";
    case STORAGE_CANCELLED:
        return "cancelled";
    case STORAGE_EXISTS:
        return "exists";
    }
    return "unknown";
}

size_t store_key2(char *buf, size_t cap, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la + 1 + lb > cap)
        return 0;
    memcpy(buf, a, la);
    buf[la] = '\0';
    memcpy(buf + la + 1, b, lb);
    return la + 1 + lb;
}

size_t store_key3(char *buf, size_t cap, const char *a, const char *b, const char *c)
{
    size_t n = store_key2(buf, cap, a, b);
    size_t lc = strlen(c);
    if (!n || n + 1 + lc > cap)
        return 0;
    buf[n] = '\0';
    memcpy(buf + n + 1, c, lc);
    return n + 1 + lc;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

void store_chunk_key(unsigned char key[16], uint64_t id, uint64_t start)
{
    put_be64(key, id);
    put_be64(key + 8, start);
}

uint64_t store_now(void)
{
    return (uint64_t)time(NULL);
}

int store_blob_get(storage_t *st, MDB_txn *txn, const char *digest, blob_rec_t *out)
{
    MDB_val k = {strlen(digest), (void *)digest}, v;
    int rc = mdb_get(txn, st->dbi_blobs, &k, &v);
    if (rc)
        return rc;
    if (v.mv_size != sizeof(blob_rec_t))
        return MDB_CORRUPTED;
    memcpy(out, v.mv_data, sizeof(*out));
    return 0;
}

bool store_link_exists(storage_t *st, MDB_txn *txn, const char *repo, const char *digest)
{
    char key[OCI_NAME_MAX + OCI_DIGEST_MAX + 2];
    MDB_val k = {store_key2(key, sizeof(key), repo, digest), key}, v;
    return k.mv_size && mdb_get(txn, st->dbi_links, &k, &v) == 0;
}

/* The named databases storage_internal.h draws, in the order of
 * store_dbs_open's pointers. */
static const char *const db_names[STORE_NDBS] = {"meta", "blobs",     "chunks", "links",   "manifests",
                                                 "tags", "referrers", "repos",  "uploads", "records"};

int store_dbs_open(MDB_txn *txn, unsigned flags, MDB_dbi *const dbis[STORE_NDBS])
{
    int rc = 0;
    for (size_t i = 0; !rc && i < STORE_NDBS; i++)
        rc = mdb_dbi_open(txn, db_names[i], flags, dbis[i]);
    return rc;
}

int store_layout_get(MDB_txn *txn, MDB_dbi meta, uint32_t *layout)
{
    MDB_val k = {6, "format"}, v;
    *layout = 0;
    int rc = mdb_get(txn, meta, &k, &v);
    if (rc)
        return rc;
    if (v.mv_size != sizeof(*layout))
        return MDB_VERSION_MISMATCH;
    memcpy(layout, v.mv_data, sizeof(*layout));
    return *layout < STORE_LAYOUT_MIN || *layout > STORE_LAYOUT ? MDB_VERSION_MISMATCH : 0;
}

static int open_dbs(storage_t *st)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc)
        return rc;
    MDB_dbi *const dbis[STORE_NDBS] = {&st->dbi_meta, &st->dbi_blobs,     &st->dbi_chunks, &st->dbi_links,   &st->dbi_manifests,
                                       &st->dbi_tags, &st->dbi_referrers, &st->dbi_repos,  &st->dbi_uploads, &st->dbi_records};
    uint32_t layout = STORE_LAYOUT, stored = 0;
    if (!(rc = store_dbs_open(txn, MDB_CREATE, dbis)))
        rc = store_layout_get(txn, st->dbi_meta, &stored);
    if (rc == MDB_NOTFOUND || (rc == 0 && stored != layout)) {
        MDB_val k = {6, "format"}, v = {sizeof(layout), &layout};
        rc = mdb_put(txn, st->dbi_meta, &k, &v, 0);
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

storage_t *storage_open(const char *dir, const storage_options_t *opt, storage_err_t *err)
{
    storage_options_t defaults = {0};
    if (!opt)
        opt = &defaults;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        store_err(err, STORAGE_IO, "cannot create data directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/store", dir) >= sizeof(path)) {
        store_err(err, STORAGE_IO, "data directory path too long");
        return NULL;
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        store_err(err, STORAGE_IO, "cannot create %s: %s", path, strerror(errno));
        return NULL;
    }
    storage_t *st = calloc(1, sizeof(*st));
    if (!st) {
        store_err(err, STORAGE_NOMEM, "out of memory");
        return NULL;
    }
    int rc = mdb_env_create(&st->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(st->env, STORE_MAX_DBS);
    if (!rc)
        rc = mdb_env_set_maxreaders(st->env, opt->max_readers ? opt->max_readers : STORE_DEFAULT_MAX_READERS);
    if (!rc)
        rc = mdb_env_set_mapsize(st->env, opt->map_size ? opt->map_size : STORAGE_DEFAULT_MAP_SIZE);
    /* MDB_NOTLS: a blob stream's reader moves between event-loop callbacks.
     * No MDB_WRITEMAP: with it a full disk is a SIGBUS instead of ENOSPC.
     * MDB_NOMETASYNC: the writer syncs the meta page itself, only for the
     * commits that acknowledge something (see writer.c). */
    unsigned flags = MDB_NOTLS | MDB_NOMETASYNC | (opt->no_sync ? MDB_NOSYNC : 0);
    if (!rc)
        rc = mdb_env_open(st->env, path, flags, 0600);
    if (rc) {
        store_err(err, store_mdb_status(rc), "cannot open the store in %s: %s", path, mdb_strerror(rc));
        if (st->env)
            mdb_env_close(st->env);
        free(st);
        return NULL;
    }
    /* A crashed process may have left reader slots behind. */
    int dead;
    mdb_reader_check(st->env, &dead);
    if ((rc = open_dbs(st)) != 0) {
        store_err(err, store_mdb_status(rc), "cannot open the store's databases in %s: %s", path,
                  rc == MDB_VERSION_MISMATCH ? "written by an incompatible version of berthd" : mdb_strerror(rc));
        mdb_env_close(st->env);
        free(st);
        return NULL;
    }
    st->no_sync = opt->no_sync;
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->wake, NULL);
    pthread_cond_init(&st->progress, NULL);
    pthread_mutex_init(&st->files.lock, NULL);
    pthread_cond_init(&st->files.wake, NULL);
    st->files_init = true;
    if (!(st->dir = strdup(dir))) {
        store_err(err, STORAGE_NOMEM, "out of memory");
        storage_close(st);
        return NULL;
    }
    /* Before anything is served: what a crash left half-done goes. */
    if (store_files_clean(st, err) != STORAGE_OK) {
        storage_close(st);
        return NULL;
    }
    st->cctx = ZSTD_createCCtx();
    st->zbuf_size = ZSTD_compressBound(STORE_CHUNK_BYTES) + sizeof(chunk_hdr_t);
    st->zbuf = malloc(st->zbuf_size);
    if (!st->cctx || !st->zbuf) {
        store_err(err, STORAGE_NOMEM, "out of memory");
        storage_close(st);
        return NULL;
    }
    storage_err_t werr = {0};
    store_writer_start(st, &werr);
    if (werr.status != STORAGE_OK) {
        if (err)
            *err = werr;
        storage_close(st);
        return NULL;
    }
    store_files_start(st, &werr); /* without file threads big blobs go to LMDB: slower, not wrong */
    return st;
}

void storage_close(storage_t *st)
{
    if (!st)
        return;
    store_files_stop(st); /* first: they hand their ops to the writer */
    store_writer_stop(st);
    if (st->files_init)
        store_files_final_sweep(st);
    ZSTD_freeCCtx(st->cctx);
    free(st->zbuf);
    mdb_env_close(st->env);
    pthread_mutex_destroy(&st->lock);
    pthread_cond_destroy(&st->wake);
    pthread_cond_destroy(&st->progress);
    if (st->files_init) {
        pthread_mutex_destroy(&st->files.lock);
        pthread_cond_destroy(&st->files.wake);
    }
    free(st->dir);
    free(st);
}

void storage_get_stats(storage_t *st, storage_stats_t *out)
{
    out->commits = st->st_commits;
    out->ops = st->st_ops;
    out->chunks_raw = st->st_chunks_raw;
    out->chunks_zstd = st->st_chunks_zstd;
    out->bytes_in = st->st_bytes_in;
    out->bytes_stored = st->st_bytes_stored;
    out->file_blobs = st->st_file_blobs;
    out->file_bytes = st->st_file_bytes;
    out->syncs = st->st_syncs;
    out->commit_us_sum = st->st_commit_us_sum;
    for (size_t i = 0; i < STORAGE_COMMIT_BUCKETS; i++)
        out->commit_hist[i] = st->st_commit_hist[i];
    MDB_envinfo info;
    MDB_stat stat;
    out->map_size = out->page_size = out->pages_used = 0;
    if (st->env && mdb_env_info(st->env, &info) == 0 && mdb_env_stat(st->env, &stat) == 0) {
        out->map_size = info.me_mapsize;
        out->page_size = stat.ms_psize;
        out->pages_used = (uint64_t)info.me_last_pgno + 1;
    }
}

/* ---- reads ------------------------------------------------------------ */

storage_reader_t *storage_reader_begin(storage_t *st, storage_err_t *err)
{
    storage_reader_t *rd = calloc(1, sizeof(*rd));
    if (!rd) {
        store_err(err, STORAGE_NOMEM, "out of memory");
        return NULL;
    }
    rd->st = st;
    rd->fd = -1;
    rd->txn = NULL;
    store_reader_register(rd); /* begins the txn under the registry's lock */
    if (!rd->txn) {
        store_err(err, STORAGE_IO, "cannot read the store: %s", mdb_strerror(rd->begin_rc));
        free(rd);
        return NULL;
    }
    rd->live = true;
    return rd;
}

void storage_reader_end(storage_reader_t *rd)
{
    if (!rd)
        return;
    if (rd->live)
        store_reader_unregister(rd);
    mdb_txn_abort(rd->txn);
    if (rd->fd >= 0)
        close(rd->fd);
    ZSTD_freeDCtx(rd->dctx);
    free(rd->scratch);
    free(rd->fbuf);
    storage_t *st = rd->st;
    bool kick = rd->live && st->files.npending && rd->txn_id < st->files.pending_max_txn;
    free(rd);
    if (kick) /* this snapshot may have been what a pending unlink waited for */
        store_files_kick(st);
}

void storage_reader_release(storage_reader_t *rd)
{
    if (rd->live) {
        store_reader_unregister(rd);
        mdb_txn_reset(rd->txn);
        rd->live = false;
        /* kick only when this snapshot may have been what a pending unlink waited for */
        if (rd->st->files.npending && rd->txn_id < rd->st->files.pending_max_txn)
            store_files_kick(rd->st);
    }
}

storage_status_t storage_reader_refresh(storage_reader_t *rd, storage_err_t *err)
{
    storage_reader_release(rd);
    store_reader_register(rd);
    if (rd->begin_rc) {
        int rc = rd->begin_rc;
        store_err(err, store_mdb_status(rc), "cannot read the store: %s", mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    rd->live = true;
    return STORAGE_OK;
}

storage_status_t storage_blob_stat(storage_reader_t *rd, const char *repo, const oci_digest_t *digest, storage_blob_t *out,
                                   storage_err_t *err)
{
    if (repo && !store_link_exists(rd->st, rd->txn, repo, digest->str)) {
        store_err(err, STORAGE_NOT_FOUND, "blob %s is not in repository %s", digest->str, repo);
        return STORAGE_NOT_FOUND;
    }
    blob_rec_t rec;
    int rc = store_blob_get(rd->st, rd->txn, digest->str, &rec);
    if (rc) {
        store_err(err, store_mdb_status(rc), rc == MDB_NOTFOUND ? "blob %s is unknown" : "cannot read blob %s: %s", digest->str,
                  mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    out->size = rec.size;
    out->id_ = rec.id;
    if (!(rec.flags & BLOB_IN_FILE))
        return STORAGE_OK;
    /* Opened while the snapshot that sees the record is held: its file is
     * not unlinked before this snapshot ends (files.c), and once open it
     * stays readable whatever happens to the name. */
    out->id_ = rec.id | STORE_FILE_ID_BIT;
    if (rd->fd >= 0 && rd->fd_id == out->id_)
        return STORAGE_OK;
    char path[4096];
    if (!store_blob_path(rd->st, digest->str, path, sizeof(path))) {
        store_err(err, STORAGE_IO, "blob %s: path too long", digest->str);
        return STORAGE_IO;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        store_err(err, errno == EMFILE || errno == ENFILE ? STORAGE_NOMEM : STORAGE_IO, "cannot open the file of blob %s: %s",
                  digest->str, strerror(errno));
        return err ? err->status : STORAGE_IO;
    }
    if (rd->fd >= 0)
        close(rd->fd);
    rd->fd = fd;
    rd->fd_id = out->id_;
    rd->fbuf_len = 0;
    return STORAGE_OK;
}

static storage_status_t read_file_blob(storage_reader_t *rd, const storage_blob_t *blob, uint64_t offset, const void **data,
                                       size_t *len, storage_err_t *err)
{
    if (rd->fd < 0 || rd->fd_id != blob->id_) {
        store_err(err, STORAGE_INVALID, "the blob was not stat'ed with this reader");
        return STORAGE_INVALID;
    }
    if (rd->fbuf_len && offset >= rd->fbuf_start && offset < rd->fbuf_start + rd->fbuf_len) {
        *data = (const char *)rd->fbuf + (offset - rd->fbuf_start);
        *len = rd->fbuf_len - (offset - rd->fbuf_start);
        return STORAGE_OK;
    }
    if (!rd->fbuf && !(rd->fbuf = malloc(STORE_READ_BUF_BYTES))) {
        store_err(err, STORAGE_NOMEM, "out of memory");
        return STORAGE_NOMEM;
    }
    rd->fbuf_len = 0;
    uint64_t want = blob->size - offset;
    if (want > STORE_READ_BUF_BYTES)
        want = STORE_READ_BUF_BYTES;
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(rd->fd, (char *)rd->fbuf + got, want - got, (off_t)(offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            store_err(err, STORAGE_IO, "blob file read failed at offset %llu: %s", (unsigned long long)(offset + got),
                      n < 0 ? strerror(errno) : "the file is shorter than its record: the store is damaged");
            return STORAGE_IO;
        }
        got += (size_t)n;
    }
    rd->fbuf_start = offset;
    rd->fbuf_len = got;
    *data = rd->fbuf;
    *len = got;
    return STORAGE_OK;
}

storage_status_t storage_blob_read(storage_reader_t *rd, const storage_blob_t *blob, uint64_t offset, const void **data,
                                   size_t *len, storage_err_t *err)
{
    if (offset >= blob->size) {
        store_err(err, STORAGE_INVALID, "read past the end of the blob");
        return STORAGE_INVALID;
    }
    if (blob->id_ & STORE_FILE_ID_BIT)
        return read_file_blob(rd, blob, offset, data, len, err);
    if (rd->scratch_valid && rd->scratch_id == blob->id_ && offset >= rd->scratch_start &&
        offset < rd->scratch_start + rd->scratch_len) {
        *data = (const char *)rd->scratch + (offset - rd->scratch_start);
        *len = rd->scratch_len - (offset - rd->scratch_start);
        return STORAGE_OK;
    }
    MDB_cursor *cur;
    int rc = mdb_cursor_open(rd->txn, rd->st->dbi_chunks, &cur);
    if (rc) {
        store_err(err, store_mdb_status(rc), "cannot read the store: %s", mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    unsigned char key[16];
    store_chunk_key(key, blob->id_, offset);
    MDB_val k = {sizeof(key), key}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && (k.mv_size != 16 || memcmp(k.mv_data, key, 16) != 0))
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV); /* the chunk that starts before offset */
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    mdb_cursor_close(cur);
    uint64_t start = 0;
    chunk_hdr_t hdr;
    if (rc == 0) {
        if (k.mv_size != 16 || get_be64(k.mv_data) != blob->id_ || v.mv_size < sizeof(hdr))
            rc = MDB_NOTFOUND;
        else {
            start = get_be64((const unsigned char *)k.mv_data + 8);
            memcpy(&hdr, v.mv_data, sizeof(hdr));
            if (offset < start || offset - start >= hdr.raw_len)
                rc = MDB_NOTFOUND;
        }
    }
    if (rc) {
        store_err(err, STORAGE_IO, "blob data missing at offset %llu: the store is damaged", (unsigned long long)offset);
        return STORAGE_IO;
    }
    const char *payload = (const char *)v.mv_data + sizeof(hdr);
    size_t plen = v.mv_size - sizeof(hdr);
    if (hdr.codec == CHUNK_RAW) {
        if (plen != hdr.raw_len) {
            store_err(err, STORAGE_IO, "blob chunk has a wrong length: the store is damaged");
            return STORAGE_IO;
        }
        *data = payload + (offset - start);
        *len = plen - (offset - start);
        return STORAGE_OK;
    }
    if (hdr.codec != CHUNK_ZSTD || hdr.raw_len > STORE_CHUNK_BYTES) {
        store_err(err, STORAGE_IO, "blob chunk has an unknown encoding: the store is damaged");
        return STORAGE_IO;
    }
    if (!rd->scratch && !(rd->scratch = malloc(STORE_CHUNK_BYTES))) {
        store_err(err, STORAGE_NOMEM, "out of memory");
        return STORAGE_NOMEM;
    }
    if (!rd->dctx && !(rd->dctx = ZSTD_createDCtx())) {
        store_err(err, STORAGE_NOMEM, "out of memory");
        return STORAGE_NOMEM;
    }
    rd->scratch_valid = false;
    size_t n = ZSTD_decompressDCtx(rd->dctx, rd->scratch, STORE_CHUNK_BYTES, payload, plen);
    if (ZSTD_isError(n) || n != hdr.raw_len) {
        store_err(err, STORAGE_IO, "blob chunk does not decompress: the store is damaged");
        return STORAGE_IO;
    }
    rd->scratch_valid = true;
    rd->scratch_id = blob->id_;
    rd->scratch_start = start;
    rd->scratch_len = n;
    *data = (const char *)rd->scratch + (offset - start);
    *len = n - (offset - start);
    return STORAGE_OK;
}

bool store_manifest_decode(const MDB_val *v, store_manifest_view_t *out)
{
    manifest_rec_t rec;
    if (v->mv_size < sizeof(rec))
        return false;
    memcpy(&rec, v->mv_data, sizeof(rec));
    size_t need = sizeof(rec) + (size_t)rec.media_type_len + 1 + rec.artifact_type_len + 1 + rec.subject_len + 1 + rec.body_len;
    if (rec.format != STORE_FORMAT || need != v->mv_size)
        return false;
    const char *p = (const char *)v->mv_data + sizeof(rec);
    *out = (store_manifest_view_t){.media_type = p,
                                   .media_type_len = rec.media_type_len,
                                   .artifact_type = p + rec.media_type_len + 1,
                                   .artifact_type_len = rec.artifact_type_len,
                                   .subject = p + rec.media_type_len + 1 + rec.artifact_type_len + 1,
                                   .subject_len = rec.subject_len,
                                   .body = p + rec.media_type_len + 1 + rec.artifact_type_len + 1 + rec.subject_len + 1,
                                   .body_len = rec.body_len,
                                   .pushed_at = rec.pushed_at};
    return true;
}

storage_status_t storage_manifest_get(storage_reader_t *rd, const char *repo, const oci_reference_t *ref, storage_manifest_t *out,
                                      storage_err_t *err)
{
    char key[OCI_NAME_MAX + OCI_DIGEST_MAX + 2];
    MDB_val k, v;
    const char *digest;
    char tagged[OCI_DIGEST_MAX];
    if (ref->is_digest) {
        digest = ref->digest.str;
    } else {
        k.mv_size = store_key2(key, sizeof(key), repo, ref->tag);
        k.mv_data = key;
        int rc = k.mv_size ? mdb_get(rd->txn, rd->st->dbi_tags, &k, &v) : MDB_NOTFOUND;
        if (rc || v.mv_size >= sizeof(tagged)) {
            store_err(err, STORAGE_NOT_FOUND, "tag %s is not in repository %s", ref->tag, repo);
            return STORAGE_NOT_FOUND;
        }
        memcpy(tagged, v.mv_data, v.mv_size);
        tagged[v.mv_size] = '\0';
        digest = tagged;
    }
    k.mv_size = store_key2(key, sizeof(key), repo, digest);
    k.mv_data = key;
    int rc = k.mv_size ? mdb_get(rd->txn, rd->st->dbi_manifests, &k, &v) : MDB_NOTFOUND;
    if (rc) {
        store_err(err, STORAGE_NOT_FOUND, "manifest %s is not in repository %s", digest, repo);
        return STORAGE_NOT_FOUND;
    }
    store_manifest_view_t m;
    if (!store_manifest_decode(&v, &m) || oci_digest_parse(digest, strlen(digest), &out->digest, NULL) != OCI_OK) {
        store_err(err, STORAGE_IO, "manifest record %s in %s is damaged", digest, repo);
        return STORAGE_IO;
    }
    out->media_type = m.media_type;
    out->body = m.body;
    out->len = m.body_len;
    return STORAGE_OK;
}

bool storage_repo_exists(storage_reader_t *rd, const char *repo)
{
    MDB_val k = {strlen(repo), (void *)repo}, v;
    return mdb_get(rd->txn, rd->st->dbi_repos, &k, &v) == 0;
}

/* Lists keys of `dbi` that start with prefix (prefix_len bytes), strictly after
 * prefix+last, passing the part after the prefix to cb. */
static storage_status_t list_after(storage_reader_t *rd, MDB_dbi dbi, const char *prefix, size_t prefix_len, const char *last,
                                   size_t n, storage_name_cb cb, void *ctx, bool *more, storage_err_t *err)
{
    char key[OCI_NAME_MAX + OCI_TAG_MAX + OCI_NAME_MAX + 4];
    size_t last_len = last ? strlen(last) : 0;
    if (prefix_len + last_len > sizeof(key)) {
        *more = false;
        return STORAGE_OK; /* nothing sorts after an over-long name */
    }
    memcpy(key, prefix, prefix_len);
    if (last_len)
        memcpy(key + prefix_len, last, last_len);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(rd->txn, dbi, &cur);
    if (rc) {
        store_err(err, store_mdb_status(rc), "cannot read the store: %s", mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    MDB_val k = {prefix_len + last_len, key}, v;
    MDB_cursor_op op = MDB_SET_RANGE;
    if (k.mv_size == 0)
        op = MDB_FIRST;
    size_t count = 0;
    *more = false;
    for (rc = mdb_cursor_get(cur, &k, &v, op); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < prefix_len || memcmp(k.mv_data, prefix, prefix_len) != 0)
            break;
        const char *name = (const char *)k.mv_data + prefix_len;
        size_t len = k.mv_size - prefix_len;
        if (last_len && len == last_len && memcmp(name, last, len) == 0)
            continue;
        if (memchr(name, '\0', len))
            continue; /* a deeper key (never for tags and repos) */
        if (count == n) {
            *more = true;
            break;
        }
        char buf[OCI_NAME_MAX + 1];
        if (len >= sizeof(buf))
            continue;
        memcpy(buf, name, len);
        buf[len] = '\0';
        count++;
        if (!cb(ctx, buf, len))
            break;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) {
        store_err(err, store_mdb_status(rc), "cannot read the store: %s", mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    return STORAGE_OK;
}

storage_status_t storage_tags_list(storage_reader_t *rd, const char *repo, const char *last, size_t n, storage_name_cb cb,
                                   void *ctx, bool *more, storage_err_t *err)
{
    if (!storage_repo_exists(rd, repo)) {
        store_err(err, STORAGE_NOT_FOUND, "repository %s is not known", repo);
        return STORAGE_NOT_FOUND;
    }
    char prefix[OCI_NAME_MAX + 1];
    size_t plen = strlen(repo);
    memcpy(prefix, repo, plen);
    prefix[plen++] = '\0';
    return list_after(rd, rd->st->dbi_tags, prefix, plen, last, n, cb, ctx, more, err);
}

storage_status_t storage_catalog_list(storage_reader_t *rd, const char *last, size_t n, storage_name_cb cb, void *ctx, bool *more,
                                      storage_err_t *err)
{
    return list_after(rd, rd->st->dbi_repos, "", 0, last, n, cb, ctx, more, err);
}

storage_status_t storage_referrers_list(storage_reader_t *rd, const char *repo, const oci_digest_t *subject, const char *last,
                                        storage_referrer_cb cb, void *ctx, storage_err_t *err)
{
    /* keys: repo NUL subject NUL referrer-digest */
    char prefix[OCI_NAME_MAX + 2 * OCI_DIGEST_MAX + 4];
    size_t plen = store_key2(prefix, OCI_NAME_MAX + OCI_DIGEST_MAX + 2, repo, subject->str);
    if (!plen)
        return STORAGE_OK; /* no such key can exist */
    prefix[plen++] = '\0';
    /* No stored digest is longer than OCI_DIGEST_MAX, so the ones after a
     * longer `last` are exactly those after its first OCI_DIGEST_MAX bytes. */
    size_t seek_len = plen, last_len = last ? strnlen(last, OCI_DIGEST_MAX) : 0;
    memcpy(prefix + plen, last ? last : "", last_len);
    seek_len += last_len;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(rd->txn, rd->st->dbi_referrers, &cur);
    if (rc) {
        store_err(err, store_mdb_status(rc), "cannot read the store: %s", mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    MDB_val k = {seek_len, prefix}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        const char *digest = (const char *)k.mv_data + plen;
        size_t digest_len = k.mv_size - plen;
        if (last_len && digest_len == last_len && memcmp(digest, last, last_len) == 0)
            continue; /* resume after `last`, not at it */
        const char *val = v.mv_data;
        const char *nul = memchr(val, '\0', v.mv_size);
        if (!nul)
            continue;
        if (!cb(ctx, digest, digest_len, val, nul + 1, v.mv_size - (size_t)(nul + 1 - val)))
            break;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) {
        store_err(err, store_mdb_status(rc), "cannot list the referrers of %s: %s", subject->str, mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    return STORAGE_OK;
}

storage_status_t storage_upload_stat(storage_reader_t *rd, const char *upload_id, storage_upload_t *out, storage_err_t *err)
{
    MDB_val k = {strlen(upload_id), (void *)upload_id}, v;
    session_t s;
    int rc = mdb_get(rd->txn, rd->st->dbi_uploads, &k, &v);
    if (rc == MDB_NOTFOUND) {
        store_err(err, STORAGE_NOT_FOUND, "upload %s is unknown", upload_id);
        return STORAGE_NOT_FOUND;
    }
    if (rc) {
        store_err(err, store_mdb_status(rc), "cannot read upload %s: %s", upload_id, mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    if (!session_decode(v.mv_data, v.mv_size, &s)) {
        /* fail closed: a session we cannot read is not one that never existed */
        store_err(err, STORAGE_IO, "the session record of upload %s is damaged", upload_id);
        return STORAGE_IO;
    }
    memcpy(out->repo, s.repo, sizeof(out->repo));
    out->offset = s.offset;
    return STORAGE_OK;
}
