/* The file tier: big blobs and the uploads that become them, as files.
 *
 * storage_submit hands appends, completions and big monolithic puts to a
 * small pool of file threads. A file thread reads the upload's session in a
 * read snapshot; an upload that is in LMDB and stays below
 * STORE_FILE_MIN_BYTES goes on to the writer unchanged. Otherwise the thread
 * writes the bytes to <data>/uploads/<id> (copying the session's chunks into
 * the new file when the upload crosses the threshold), hashes them on the
 * way, fdatasyncs, and hands the op to the writer with a job: the session,
 * blob record and link to commit. No file I/O runs on the writer, so an
 * fdatasync of a big push never holds other requests' group commit.
 *
 * Races, and why they are safe:
 *  - Two appends to one upload: the busy mark (one per upload id, from the
 *    file thread's start to the writer's commit) makes the second fail
 *    fast with STORAGE_RANGE; bytes never interleave. An LMDB-tier op sent
 *    on to the writer is checked again there (offset and tier).
 *  - A completion and a delete of the same digest: the completion marks the
 *    blob path "placing" before it links the file into place, and keeps the
 *    mark until its record is committed. A delete's unlink waits until its
 *    commit is older than every live reader snapshot, and skips a path that
 *    is being placed; the commit of a record that names the path cancels
 *    the unlinks scheduled before it. Two files of one digest hold the same
 *    bytes, so replacing one by the other never changes what a reader gets.
 *  - A completion whose digest is stored already places its bytes all the
 *    same (a link that finds the name taken): a collection may delete the
 *    record before the writer commits, and the writer then records the
 *    placed file again instead of failing the push.
 *  - A failed completion (full disk, session gone) drops the placed file
 *    unless a committed record or another placement needs it.
 *  - A crash: a blob file without its record, an upload file without its
 *    session and temp files are removed at the next open (store_files_clean). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage_internal.h"

typedef enum {
    FJ_FAILED,   /* op->status says why; nothing to commit */
    FJ_APPEND,   /* commit session `s` */
    FJ_MISMATCH, /* the bytes had another digest: end the upload */
    FJ_PLACED,   /* the blob file is in place: record (unless stored already), link, end the upload */
} file_job_kind_t;

typedef struct {
    file_job_kind_t kind;
    bool has_session;       /* an upload (not a monolithic put) */
    bool was_lmdb;          /* the session was in LMDB: its chunks go */
    bool record_names_file; /* writer: a committed record names the placed file */
    uint64_t base_offset;   /* the session's offset the file thread started from */
    uint64_t blob_id;       /* the session's */
    uint64_t size;          /* PLACED: the blob's */
    session_t s;            /* APPEND: the session to commit */
} file_job_t;

static file_job_t failed_job = {.kind = FJ_FAILED};

/* What a file thread reads back into the page cache once the op is on its
 * way to the writer (warm_pages): fd -1 when nothing. */
typedef struct {
    int fd;
    uint64_t off, len;
} file_warm_t;

/* While another process's snapshot (a backup) holds back an unlink, the
 * sweep looks again this often: nothing of ours kicks it when that ends. */
#define STORE_FOREIGN_SWEEP_SECONDS 2

/* A read buffer for copying and re-hashing. */
#define FILE_COPY_BYTES (1u << 20)
/* A body of FILE_DIRECT_MIN_BYTES or more goes to its file with O_DIRECT,
 * through a bounce buffer of FILE_DIRECT_BYTES (reused, so its pages stay
 * mapped and warm), in whole blocks of FILE_DIRECT_ALIGN. A buffered pwrite
 * copies into freshly allocated page cache, which on these VMs is slower to
 * touch than the disk is to write (bench/registry/README.md, 2026-12-07:
 * a 256 MiB PATCH stored in 0.23 s instead of 0.69 s, server CPU per push
 * 0.47 s instead of 1.19 s). 4096 covers devices of 512- and 4096-byte
 * logical blocks; smaller bodies keep the page cache (and sharing a sync). */
#define FILE_DIRECT_ALIGN 4096u
#define FILE_DIRECT_BYTES (4u << 20)
#define FILE_DIRECT_MIN_BYTES (8u << 20)
/* How long a file thread waits for the writer to be idle before it reads a
 * just-written body back (warm_pages) anyway: a steady stream of commits. */
#define STORE_WARM_WAIT_SECONDS 2

#define OP_FAIL(op, st_, ...)                                                                                                      \
    do {                                                                                                                           \
        (op)->status = (st_);                                                                                                      \
        store_err(&(op)->err, (st_), __VA_ARGS__);                                                                                 \
    } while (0)

/* ---- paths ---------------------------------------------------------------- */

static bool digest_parts(const char *digest, size_t *alg_len, const char **hex)
{
    const char *colon = strchr(digest, ':');
    if (!colon || colon == digest || strlen(colon + 1) < 2 || strchr(colon + 1, '/') || strchr(digest, '.'))
        return false;
    *alg_len = (size_t)(colon - digest);
    *hex = colon + 1;
    return true;
}

bool store_blob_path(const storage_t *st, const char *digest, char *buf, size_t cap)
{
    size_t al;
    const char *hex;
    if (!digest_parts(digest, &al, &hex))
        return false;
    int n = snprintf(buf, cap, "%s/blobs/%.*s/%.2s/%s", st->dir, (int)al, digest, hex, hex);
    return n > 0 && (size_t)n < cap;
}

/* levels 1: <dir>/blobs/<alg>, 2: <dir>/blobs/<alg>/<2 hex> */
static bool blob_dir(const storage_t *st, const char *digest, int level, char *buf, size_t cap)
{
    size_t al;
    const char *hex;
    if (!digest_parts(digest, &al, &hex))
        return false;
    int n = level == 1 ? snprintf(buf, cap, "%s/blobs/%.*s", st->dir, (int)al, digest)
                       : snprintf(buf, cap, "%s/blobs/%.*s/%.2s", st->dir, (int)al, digest, hex);
    return n > 0 && (size_t)n < cap;
}

bool store_upload_path(const storage_t *st, const char *upload_id, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/uploads/%s", st->dir, upload_id);
    return n > 0 && (size_t)n < cap;
}

/* "<a>/<b>"; false when it does not fit */
static bool path_join(char *buf, size_t cap, const char *a, const char *b)
{
    int n = snprintf(buf, cap, "%s/%s", a, b);
    return n > 0 && (size_t)n < cap;
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

/* Durability of files, skipped only by a store opened with no_sync (tests). */
static int file_sync(const storage_t *st, int fd)
{
    return st->no_sync || fdatasync(fd) == 0 ? 0 : errno;
}

static int dir_sync(const storage_t *st, const char *path)
{
    return st->no_sync ? 0 : fsync_dir(path);
}

/* Creates dir if missing; when it is new, syncs its parent so the name survives a crash. */
static int ensure_dir(const storage_t *st, const char *dir)
{
    if (mkdir(dir, 0700) != 0)
        return errno == EEXIST ? 0 : errno;
    char parent[4096];
    snprintf(parent, sizeof(parent), "%s", dir);
    char *slash = strrchr(parent, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    return dir_sync(st, parent);
}

/* Fails op for an errno: a full disk is STORAGE_FULL, with nothing of the request kept. */
static void fail_errno(storage_t *st, storage_op_t *op, int e, const char *what)
{
    if (e == ENOSPC || e == EDQUOT) {
        struct statvfs vfs;
        unsigned long long mib = statvfs(st->dir, &vfs) == 0 ? ((uint64_t)vfs.f_bavail * vfs.f_frsize) >> 20 : 0;
        OP_FAIL(op, STORAGE_FULL,
                "no space left on the device that holds the store (%llu MiB free) while %s; nothing of this request was stored",
                mib, what);
    } else if (e == ENOMEM) {
        OP_FAIL(op, STORAGE_NOMEM, "out of memory while %s", what);
    } else {
        OP_FAIL(op, STORAGE_IO, "%s failed: %s", what, strerror(e));
    }
}

/* ---- name lists (under st->files.lock) ---------------------------------------- */

static struct store_name *name_find(struct store_name *l, const char *name)
{
    for (; l; l = l->next)
        if (strcmp(l->name, name) == 0)
            return l;
    return NULL;
}

static bool name_add(struct store_name **l, const char *name, uint64_t txn_id)
{
    size_t n = strlen(name);
    struct store_name *e = malloc(sizeof(*e) + n + 1);
    if (!e)
        return false;
    e->txn_id = txn_id;
    e->count = 1;
    memcpy(e->name, name, n + 1);
    e->next = *l;
    *l = e;
    return true;
}

/* Removes the entries named `name` (all of them, or the first when !all); returns how many. */
static unsigned name_remove(struct store_name **l, const char *name, bool all)
{
    unsigned removed = 0;
    for (struct store_name **p = l; *p;) {
        if (strcmp((*p)->name, name) == 0) {
            struct store_name *e = *p;
            *p = e->next;
            free(e);
            removed++;
            if (!all)
                break;
        } else {
            p = &(*p)->next;
        }
    }
    return removed;
}

static void names_free(struct store_name **l)
{
    while (*l) {
        struct store_name *e = *l;
        *l = e->next;
        free(e);
    }
}

/* ---- reader snapshots ------------------------------------------------------------ */

void store_reader_register(storage_reader_t *rd)
{
    storage_t *st = rd->st;
    pthread_mutex_lock(&st->files.lock);
    int rc;
    if (rd->txn) {
        rc = mdb_txn_renew(rd->txn);
    } else {
        rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &rd->txn);
        if (rc)
            rd->txn = NULL;
    }
    rd->begin_rc = rc;
    if (rc == 0) {
        rd->txn_id = mdb_txn_id(rd->txn);
        rd->prev_ = NULL;
        rd->next_ = st->files.readers;
        if (rd->next_)
            rd->next_->prev_ = rd;
        st->files.readers = rd;
    }
    pthread_mutex_unlock(&st->files.lock);
}

void store_reader_unregister(storage_reader_t *rd)
{
    storage_t *st = rd->st;
    pthread_mutex_lock(&st->files.lock);
    if (rd->prev_)
        rd->prev_->next_ = rd->next_;
    else
        st->files.readers = rd->next_;
    if (rd->next_)
        rd->next_->prev_ = rd->prev_;
    rd->prev_ = rd->next_ = NULL;
    pthread_mutex_unlock(&st->files.lock);
}

/* Unlinks every pending file that no live snapshot can see: a snapshot
 * older than the deleting commit may still stat the record and open the
 * file. The decision and the rename out of the blob's name run under the
 * lock, so that a placement (which links under it too) never takes a name
 * that is being removed; the unlink itself, which frees a big file's
 * extents and can take a while, runs after it, so reader snapshots never
 * wait for it. */
struct foreign_scan {
    long self;
    uint64_t oldest;
};

/* One line of mdb_reader_list: "pid thread txnid", txnid "-" for a slot
 * without a snapshot (and a header line, which does not parse). */
static int foreign_line(const char *msg, void *ctx)
{
    struct foreign_scan *f = ctx;
    long pid;
    size_t tid;
    unsigned long long txn;
    if (sscanf(msg, "%ld %zx %llu", &pid, &tid, &txn) == 3 && pid != f->self && txn < f->oldest)
        f->oldest = txn;
    return 0;
}

/* The oldest snapshot another process holds in the store (`berth backup`
 * reads beside berthd), from LMDB's reader table, which LMDB itself trusts
 * for page reuse: a reader's slot shows its txn id before the reader looks
 * at anything. UINT64_MAX when there is none. */
static uint64_t foreign_oldest(storage_t *st)
{
    struct foreign_scan f = {(long)getpid(), UINT64_MAX};
    mdb_reader_list(st->env, foreign_line, &f);
    return f.oldest;
}

static void sweep(storage_t *st)
{
    static _Atomic uint64_t trash_seq;
    struct store_name *doomed = NULL;
    uint64_t foreign = st->files.pending ? foreign_oldest(st) : UINT64_MAX;
    pthread_mutex_lock(&st->files.lock);
    uint64_t oldest = foreign;
    for (storage_reader_t *rd = st->files.readers; rd; rd = rd->next_)
        if (rd->txn_id < oldest)
            oldest = rd->txn_id;
    bool foreign_wait = false;
    for (struct store_name **p = &st->files.pending; *p;) {
        struct store_name *e = *p;
        if (e->txn_id > oldest) {
            foreign_wait |= e->txn_id > foreign;
            p = &e->next;
            continue;
        }
        *p = e->next;
        st->files.npending--;
        if (e->txn_id == 0) { /* an upload's file: no reader, no placement */
            e->next = doomed;
            doomed = e;
            continue;
        }
        char trash[4096];
        if (!name_find(st->files.placing, e->name)) {
            int n = snprintf(trash, sizeof(trash), "%s/uploads/trash-%llu.tmp", st->dir, (unsigned long long)++trash_seq);
            /* a crash before the unlink leaves the trash name, which the next open removes */
            if (n > 0 && (size_t)n < sizeof(trash) && rename(e->name, trash) == 0 && name_add(&doomed, trash, 0))
                ;
            else
                (void)unlink(e->name); /* ENOENT: gone already; anything else: removed at the next open */
        }
        free(e);
    }
    if (!st->files.pending)
        st->files.pending_max_txn = 0;
    /* no reader of ours ends to kick the next sweep when another process's does */
    st->files.foreign_wait = foreign_wait;
    pthread_mutex_unlock(&st->files.lock);
    while (doomed) {
        struct store_name *e = doomed;
        doomed = e->next;
        (void)unlink(e->name);
        free(e);
    }
}

void store_files_kick(storage_t *st)
{
    if (!st->files.nthreads) {
        sweep(st);
        return;
    }
    pthread_mutex_lock(&st->lock);
    st->files.sweep_due = true;
    pthread_cond_signal(&st->files.wake);
    pthread_mutex_unlock(&st->lock);
}

static void schedule_unlink(storage_t *st, const char *path, uint64_t txn_id)
{
    pthread_mutex_lock(&st->files.lock);
    if (name_add(&st->files.pending, path, txn_id)) {
        st->files.npending++;
        if (txn_id > st->files.pending_max_txn)
            st->files.pending_max_txn = txn_id;
    }
    /* else: out of memory; the file stays until the next open removes it */
    pthread_mutex_unlock(&st->files.lock);
}

/* ---- the writer's half -------------------------------------------------------- */

/* The session the job started from, still as it was. */
static run_result_t check_session(storage_t *st, MDB_txn *txn, storage_op_t *op, const file_job_t *job, session_t *s)
{
    int rc = store_session_get(st, txn, op->upload_id, s);
    if (rc == MDB_NOTFOUND || (rc == 0 && strcmp(s->repo, op->repo) != 0)) {
        /* aborted meanwhile: nothing to commit, and its file goes */
        OP_FAIL(op, STORAGE_NOT_FOUND, "upload %s is unknown to repository %s", op->upload_id, op->repo);
        if (rc == MDB_NOTFOUND)
            op->after_ |= AFTER_UNLINK_UPLOAD;
        return RUN_COMMIT;
    }
    if (rc == MDB_CORRUPTED) {
        OP_FAIL(op, STORAGE_INVALID, "upload %s has a damaged state; start the upload again", op->upload_id);
        return RUN_ABORT;
    }
    if (rc) {
        OP_FAIL(op, store_mdb_status(rc), "cannot read upload state: %s", mdb_strerror(rc));
        return RUN_ABORT;
    }
    bool in_file = s->flags & SESSION_IN_FILE;
    if (s->offset != job->base_offset || in_file == job->was_lmdb) {
        OP_FAIL(op, STORAGE_RANGE, "upload %s was changed by another request while this one was being stored", op->upload_id);
        op->result_offset = s->offset;
        return RUN_ABORT;
    }
    return RUN_COMMIT;
}

static run_result_t fail_mdb(storage_op_t *op, int rc, const char *what)
{
    OP_FAIL(op, store_mdb_status(rc), "%s: %s", what,
            rc == MDB_MAP_FULL ? "the store is full (raise --map-size)" : mdb_strerror(rc));
    return RUN_ABORT;
}

/* Ends the upload: its session (and chunks) go now, its file after the commit. */
static int end_session(storage_t *st, MDB_txn *txn, storage_op_t *op, const file_job_t *job)
{
    MDB_val k = {strlen(op->upload_id), op->upload_id};
    int rc = job->was_lmdb ? store_chunks_delete(st, txn, job->blob_id) : 0;
    if (!rc)
        rc = mdb_del(txn, st->dbi_uploads, &k, NULL);
    if (!rc)
        op->after_ |= AFTER_UNLINK_UPLOAD;
    return rc;
}

run_result_t store_run_file_job(storage_t *st, MDB_txn *txn, storage_op_t *op)
{
    file_job_t *job = op->job_;
    session_t s;
    run_result_t r;
    int rc;
    switch (job->kind) {
    case FJ_FAILED:
        return RUN_ABORT;
    case FJ_APPEND:
        if ((r = check_session(st, txn, op, job, &s)) != RUN_COMMIT || op->status != STORAGE_OK)
            return r;
        rc = job->was_lmdb ? store_chunks_delete(st, txn, job->blob_id) : 0;
        if (!rc)
            rc = store_session_put(st, txn, op->upload_id, &job->s);
        if (rc)
            return fail_mdb(op, rc, "cannot record upload progress");
        op->result_offset = job->s.offset;
        return RUN_COMMIT;
    case FJ_MISMATCH: {
        storage_err_t why = op->err;
        op->status = STORAGE_OK;
        if ((r = check_session(st, txn, op, job, &s)) != RUN_COMMIT || op->status != STORAGE_OK)
            return r;
        if ((rc = end_session(st, txn, op, job)) != 0)
            return fail_mdb(op, rc, "cannot end the upload");
        op->status = STORAGE_DIGEST_MISMATCH;
        op->err = why;
        return RUN_COMMIT;
    }
    case FJ_PLACED:
        break;
    }
    if (job->has_session && ((r = check_session(st, txn, op, job, &s)) != RUN_COMMIT || op->status != STORAGE_OK))
        return r;
    blob_rec_t rec;
    rc = store_blob_get(st, txn, op->digest.str, &rec);
    if (rc == 0) {
        /* stored already (a file of the same bytes, or LMDB chunks): link it; the file placed
         * for it names the same bytes, and goes after the commit unless the record names it */
        job->record_names_file = rec.flags & BLOB_IN_FILE;
    } else if (rc == MDB_NOTFOUND) {
        /* new, or collected since the file thread looked: the placed file is its bytes */
        rec = (blob_rec_t){.format = STORE_FORMAT, .flags = BLOB_IN_FILE, .size = job->size, .created = store_now()};
        rc = job->has_session ? (rec.id = job->blob_id, 0) : store_next_blob_id(st, txn, &rec.id);
        MDB_val k = {op->digest.len, op->digest.str}, v = {sizeof(rec), &rec};
        if (!rc)
            rc = mdb_put(txn, st->dbi_blobs, &k, &v, 0);
        if (rc)
            return fail_mdb(op, rc, "cannot record the blob");
        job->record_names_file = true;
    } else {
        return fail_mdb(op, rc, "cannot read the blob record");
    }
    rc = store_link_put(st, txn, op->repo, op->digest.str);
    if (!rc && job->has_session)
        rc = end_session(st, txn, op, job);
    if (rc)
        return fail_mdb(op, rc, "cannot complete the upload");
    op->result_offset = rec.size;
    return RUN_COMMIT;
}

void store_after_op(storage_t *st, storage_op_t *op, bool committed, uint64_t txn_id)
{
    file_job_t *job = op->job_;
    char path[4096];
    if ((op->after_ & AFTER_UNPLACE) && store_blob_path(st, op->digest.str, path, sizeof(path))) {
        bool named = committed && op->status == STORAGE_OK && job && job->record_names_file;
        pthread_mutex_lock(&st->files.lock);
        struct store_name *e = name_find(st->files.placing, path);
        if (e && --e->count == 0)
            name_remove(&st->files.placing, path, false);
        if (named) {
            /* unlinks scheduled before this commit were for a record that is gone */
            unsigned n = name_remove(&st->files.pending, path, true);
            st->files.npending -= n;
        } else if (!name_find(st->files.placing, path)) {
            /* no record of ours names it: keep it only if a committed one does */
            MDB_txn *rt;
            blob_rec_t rec;
            bool keep = true; /* when we cannot tell, the next open decides */
            if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &rt) == 0) {
                int rc = store_blob_get(st, rt, op->digest.str, &rec);
                keep = rc == 0 ? (rec.flags & BLOB_IN_FILE) != 0 : rc != MDB_NOTFOUND;
                mdb_txn_abort(rt);
            }
            if (!keep)
                (void)unlink(path);
        }
        pthread_mutex_unlock(&st->files.lock);
    }
    if (committed && (op->after_ & AFTER_UNLINK_BLOB) && store_blob_path(st, op->digest.str, path, sizeof(path)))
        schedule_unlink(st, path, txn_id);
    if (committed && (op->after_ & AFTER_UNLINK_UPLOAD) && store_upload_path(st, op->upload_id, path, sizeof(path)))
        schedule_unlink(st, path, 0); /* no reader opens an upload's file: as soon as a file thread gets to it */
    if (job && job != &failed_job && job->was_lmdb && (job->kind == FJ_APPEND || job->kind == FJ_PLACED) &&
        !(committed && op->status == STORAGE_OK) && store_upload_path(st, op->upload_id, path, sizeof(path)))
        /* the file this op created when the upload crossed into it holds nothing acknowledged (the
         * session is still in LMDB); removed now, while the busy mark keeps a new crossing away */
        (void)unlink(path);
    if (op->after_ & AFTER_UNBUSY) {
        pthread_mutex_lock(&st->files.lock);
        name_remove(&st->files.busy, op->upload_id, false);
        pthread_mutex_unlock(&st->files.lock);
    }
    if (committed && op->status == STORAGE_OK && job && job->kind == FJ_PLACED && job->record_names_file)
        st->st_file_blobs++;
    if (job && job != &failed_job)
        free(job);
    op->job_ = NULL;
    op->after_ = 0;
}

/* ---- the file threads' half ------------------------------------------------------ */

static bool op_cancelled(storage_t *st, storage_op_t *op)
{
    pthread_mutex_lock(&st->lock);
    bool c = op->cancelled_;
    pthread_mutex_unlock(&st->lock);
    return c;
}

/* The file thread has read op's data for the last time: a canceller need
 * not wait for the fdatasync and the placing that follow. */
static void inputs_done(storage_t *st, storage_op_t *op)
{
    pthread_mutex_lock(&st->lock);
    for (unsigned i = 0; i < st->files.nthreads; i++)
        if (st->files.running[i] == op)
            st->files.running[i] = NULL;
    pthread_cond_broadcast(&st->progress);
    pthread_mutex_unlock(&st->lock);
}

static int pwrite_all(int fd, const void *data, size_t len, uint64_t off)
{
    const char *p = data;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Drops the whole pages of [from, to) when they belong to a shared file
 * mapping (MADV_REMOVE punches them out of the file: their page cache is
 * freed at once); for anything else (heap, private mappings) the kernel
 * refuses with EINVAL and nothing happens. Returns where the next release
 * starts: the page `to` ends in is not whole yet. */
static const unsigned char *release_pages(const unsigned char *from, const unsigned char *to)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        return from;
    uintptr_t mask = (uintptr_t)page - 1, start = ((uintptr_t)from + mask) & ~mask, end = (uintptr_t)to & ~mask;
    if (end <= start)
        return from;
    (void)madvise((void *)start, end - start, MADV_REMOVE);
    return (const unsigned char *)end;
}

/* Maps the pages of [from, from + n) into the page tables before they are
 * read. h2o grows a spooled body by mapping its file again at twice the
 * size, so most of a big body is in the page cache but not mapped: pwrite
 * would copy one fault-around's worth at a time, and after each short copy
 * ext4 zeroes the rest of the new folio before trying again. Failures (an
 * older kernel) only lose the shortcut. */
static void map_pages(const unsigned char *from, size_t n)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        return;
    uintptr_t start = (uintptr_t)from & ~((uintptr_t)page - 1);
    (void)madvise((void *)start, (uintptr_t)from + n - start, MADV_POPULATE_READ);
}

/* Writes len bytes at off, the whole blocks among them with O_DIRECT from
 * bounce (FILE_DIRECT_BYTES, aligned), the partial blocks at either end
 * through the page cache. *direct is cleared, and the rest written buffered,
 * when the file system refuses O_DIRECT. */
static int pwrite_direct(int fd, const unsigned char *p, size_t len, uint64_t off, unsigned char *bounce, bool *direct)
{
    size_t head = (size_t)((FILE_DIRECT_ALIGN - off % FILE_DIRECT_ALIGN) % FILE_DIRECT_ALIGN);
    if (!*direct || len < head + FILE_DIRECT_ALIGN)
        return pwrite_all(fd, p, len, off);
    int e = head ? pwrite_all(fd, p, head, off) : 0;
    if (e)
        return e;
    p += head, off += head, len -= head;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_DIRECT) != 0) {
        *direct = false;
        return pwrite_all(fd, p, len, off);
    }
    size_t body = len & ~(size_t)(FILE_DIRECT_ALIGN - 1), done = 0;
    while (done < body && !e) {
        size_t n = body - done < FILE_DIRECT_BYTES ? body - done : FILE_DIRECT_BYTES;
        memcpy(bounce, p + done, n);
        ssize_t w = pwrite(fd, bounce, n, (off_t)(off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EINVAL) { /* the device wants a coarser alignment: buffered from here */
            *direct = false;
            break;
        }
        if (w < 0)
            e = errno;
        else if (w == 0)
            e = EIO;
        else if ((size_t)w % FILE_DIRECT_ALIGN) { /* a short write: the rest buffered */
            done += (size_t)w;
            break;
        } else
            done += (size_t)w;
    }
    (void)fcntl(fd, F_SETFL, flags);
    return e ? e : pwrite_all(fd, p + done, len - done, off + done);
}

/* Asks the kernel to read [off, off + len) back into the page cache, in the
 * background: bytes written with O_DIRECT are not cached, and a layer just
 * pushed is often pulled at once (CI pushes, then deploys). One advice per
 * piece: the kernel caps a single WILLNEED at a few MiB. The file thread
 * does it after handing the op to the writer, so that the reply never waits
 * for it: submitting blocks while the device's queue is full (0.05-0.5 s for
 * 256 MiB); the reads then run on the device. */
static void warm_pages(int fd, uint64_t off, uint64_t len)
{
    if (len < FILE_DIRECT_MIN_BYTES)
        return;
    for (uint64_t done = 0; done < len; done += STORE_PIECE_BYTES)
        (void)posix_fadvise(fd, (off_t)(off + done), (off_t)(len - done < STORE_PIECE_BYTES ? len - done : STORE_PIECE_BYTES),
                            POSIX_FADV_WILLNEED);
}

/* Writes data at `off` in pieces, hashing each into ctx (sha256) or ctx512,
 * and asks the kernel to start writing each piece back at once, so that the
 * final fdatasync waits for less. When the caller has spent the data
 * (STORAGE_OP_DATA_SPENT), each piece's pages are given back once it is
 * written and hashed: h2o spools a big body into a mapped file in
 * <data>/tmp, and the copy into the upload file would otherwise take all of
 * its pages from memory the machine has not touched for a while, which on
 * these VMs costs more than the copy (see bench/registry/README.md). */
static int write_hashed(storage_t *st, storage_op_t *op, int fd, const void *data, size_t len, uint64_t off, SHA256_CTX *ctx,
                        SHA512_CTX *ctx512)
{
    const unsigned char *p = data;
    const unsigned char *unreleased = (op->flags & STORAGE_OP_DATA_SPENT) ? p : NULL;
    unsigned char *bounce = NULL;
    bool direct = false;
    if (len >= FILE_DIRECT_MIN_BYTES)
        direct = (bounce = aligned_alloc(FILE_DIRECT_ALIGN, FILE_DIRECT_BYTES)) != NULL;
    for (size_t done = 0; done < len;) {
        if (op_cancelled(st, op)) {
            free(bounce);
            return ECANCELED;
        }
        size_t n = len - done < STORE_PIECE_BYTES ? len - done : STORE_PIECE_BYTES;
        map_pages(p + done, n);
        /* the hasher hashes the piece while we copy it into the file */
        bool offloaded = ctx ? store_hash_begin(st, ctx, p + done, n) : false;
        int e = direct ? pwrite_direct(fd, p + done, n, off + done, bounce, &direct) : pwrite_all(fd, p + done, n, off + done);
        if (!e) /* the disk starts on the piece while the hasher may still be at it */
            (void)sync_file_range(fd, (off_t)(off + done), (off_t)n, SYNC_FILE_RANGE_WRITE);
        store_hash_end(st, offloaded);
        if (e) {
            free(bounce);
            return e;
        }
        if (ctx512)
            SHA512_Update(ctx512, p + done, n);
        if (unreleased)
            unreleased = release_pages(unreleased, p + done + n);
        done += n;
        st->st_file_bytes += n;
    }
    free(bounce);
    return 0;
}

/* SHA-512 of the file's first `size` bytes (a non-default digest: the session keeps only SHA-256's midstate). */
static int hash_file_sha512(int fd, uint64_t size, oci_digest_t *out)
{
    unsigned char *buf = malloc(FILE_COPY_BYTES);
    if (!buf)
        return ENOMEM;
    SHA512_CTX c;
    SHA512_Init(&c);
    int e = 0;
    for (uint64_t off = 0; off < size;) {
        size_t want = size - off < FILE_COPY_BYTES ? (size_t)(size - off) : FILE_COPY_BYTES;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e = n < 0 ? errno : EIO;
            break;
        }
        SHA512_Update(&c, buf, (size_t)n);
        off += (uint64_t)n;
    }
    free(buf);
    unsigned char md[SHA512_DIGEST_LENGTH];
    SHA512_Final(md, &c);
    if (!e)
        oci_digest_from_raw(OCI_ALG_SHA512, md, out);
    return e;
}

/* Copies an LMDB-tier upload's chunks (fewer than STORE_FILE_MIN_BYTES) into its new file. */
static int copy_chunks(storage_t *st, const session_t *s, int fd)
{
    if (s->offset == 0)
        return 0;
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    if (!rd)
        return err.status == STORAGE_NOMEM ? ENOMEM : EIO;
    storage_blob_t b = {.size = s->offset, .id_ = s->blob_id};
    int e = 0;
    for (uint64_t off = 0; off < s->offset && !e;) {
        const void *p;
        size_t n;
        if (storage_blob_read(rd, &b, off, &p, &n, &err) != STORAGE_OK) {
            e = err.status == STORAGE_NOMEM ? ENOMEM : EIO;
            break;
        }
        if (n > s->offset - off)
            n = (size_t)(s->offset - off);
        e = pwrite_all(fd, p, n, off);
        off += n;
    }
    storage_reader_end(rd);
    return e;
}

/* Links (or renames, for a put's temp file) `from` to op->digest's path,
 * under the placing mark the caller took; then syncs the fan-out directory. */
static int place(storage_t *st, storage_op_t *op, const char *from, bool rename_it)
{
    char dir[4096], path[4096];
    if (!blob_dir(st, op->digest.str, 1, dir, sizeof(dir)) || !store_blob_path(st, op->digest.str, path, sizeof(path)))
        return ENAMETOOLONG;
    int e = ensure_dir(st, dir);
    if (!e && blob_dir(st, op->digest.str, 2, dir, sizeof(dir)))
        e = ensure_dir(st, dir);
    if (e)
        return e;
    pthread_mutex_lock(&st->files.lock); /* no sweep unlinks this name while we take it */
    if (rename_it)
        e = rename(from, path) == 0 ? 0 : errno;
    else
        e = link(from, path) == 0 || errno == EEXIST ? 0 : errno; /* an existing file holds the same bytes */
    pthread_mutex_unlock(&st->files.lock);
    return e ? e : dir_sync(st, dir);
}

static bool take_mark(storage_t *st, struct store_name **list, const char *name, bool exclusive, bool *busy)
{
    pthread_mutex_lock(&st->files.lock);
    struct store_name *e = name_find(*list, name);
    bool ok = true;
    *busy = false;
    if (e && exclusive)
        *busy = true, ok = false;
    else if (e)
        e->count++;
    else
        ok = name_add(list, name, 0);
    pthread_mutex_unlock(&st->files.lock);
    return ok;
}

/* Puts the verified bytes in `from` in place and fills the job.
 *
 * Also when the digest is stored already (dedupe): the collector may delete
 * that record between this thread's look and the writer's commit, and the
 * writer must then be able to record the blob from bytes that are in place,
 * not fail the push (it used to answer 500 there). Placing a digest that
 * has a file costs a link() that finds the name taken (the same bytes) and
 * a directory sync; the placing mark keeps a pending unlink of the old
 * record's file away until this commit, which cancels it when it records
 * the blob again (store_after_op). */
static bool finish_blob(storage_t *st, storage_op_t *op, file_job_t *job, const char *from, bool rename_it)
{
    bool busy;
    char path[4096];
    if (!store_blob_path(st, op->digest.str, path, sizeof(path))) {
        OP_FAIL(op, STORAGE_INVALID, "digest %s cannot name a file", op->digest.str);
        return false;
    }
    if (!take_mark(st, &st->files.placing, path, false, &busy)) {
        OP_FAIL(op, STORAGE_NOMEM, "out of memory");
        return false;
    }
    op->after_ |= AFTER_UNPLACE;
    int e = place(st, op, from, rename_it);
    if (e) {
        fail_errno(st, op, e, "putting the blob file in place");
        return false;
    }
    job->kind = FJ_PLACED;
    return true;
}

static bool digest_supported(storage_op_t *op)
{
    if (op->digest.alg == OCI_ALG_SHA256 || op->digest.alg == OCI_ALG_SHA512)
        return true;
    OP_FAIL(op, STORAGE_INVALID, "digest algorithm of %s is not supported", op->digest.str);
    return false;
}

/* A big monolithic put: a temp file, hashed as written, renamed into place. */
static file_job_t *run_put(storage_t *st, storage_op_t *op, file_warm_t *warm)
{
    if (!digest_supported(op))
        return NULL;
    file_job_t *job = calloc(1, sizeof(*job));
    if (!job) {
        OP_FAIL(op, STORAGE_NOMEM, "out of memory");
        return NULL;
    }
    job->size = op->len;
    unsigned char raw[8];
    char tmp[4096], name[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        OP_FAIL(op, STORAGE_IO, "cannot draw a random name");
        free(job);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(name + 2 * i, 3, "%02x", raw[i]);
    snprintf(tmp, sizeof(tmp), "%s/uploads/put-%s.tmp", st->dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail_errno(st, op, errno, "creating a blob file");
        free(job);
        return NULL;
    }
    SHA256_CTX c256;
    SHA512_CTX c512;
    bool is256 = op->digest.alg == OCI_ALG_SHA256;
    if (is256)
        SHA256_Init(&c256);
    else
        SHA512_Init(&c512);
    int e = write_hashed(st, op, fd, op->data, op->len, 0, is256 ? &c256 : NULL, is256 ? NULL : &c512);
    inputs_done(st, op);
    if (!e)
        e = file_sync(st, fd);
    if (!e && op->len >= FILE_DIRECT_MIN_BYTES && (warm->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0)
        warm->off = 0, warm->len = op->len;
    close(fd);
    if (e) {
        unlink(tmp);
        if (e == ECANCELED)
            OP_FAIL(op, STORAGE_CANCELLED, "cancelled");
        else
            fail_errno(st, op, e, "writing the blob file");
        free(job);
        return NULL;
    }
    unsigned char md[SHA512_DIGEST_LENGTH];
    oci_digest_t got;
    if (is256)
        SHA256_Final(md, &c256);
    else
        SHA512_Final(md, &c512);
    oci_digest_from_raw(op->digest.alg, md, &got);
    if (strcmp(got.str, op->digest.str) != 0) {
        unlink(tmp);
        OP_FAIL(op, STORAGE_DIGEST_MISMATCH, "the uploaded data has digest %s, not %s", got.str, op->digest.str);
        free(job);
        return NULL;
    }
    if (!finish_blob(st, op, job, tmp, true)) {
        unlink(tmp);
        free(job);
        return NULL;
    }
    return job;
}

/* Opens the upload's file at the session's durable end, creating it (with
 * the session's chunks) when the upload crosses into the file tier. */
static int open_upload_file(storage_t *st, storage_op_t *op, const session_t *s, bool *created)
{
    char path[4096];
    *created = false;
    if (!store_upload_path(st, op->upload_id, path, sizeof(path))) {
        OP_FAIL(op, STORAGE_INVALID, "upload id too long");
        return -1;
    }
    int fd;
    if (s->flags & SESSION_IN_FILE) {
        fd = open(path, O_RDWR | O_CLOEXEC);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0 || (uint64_t)sb.st_size < s->offset) {
            /* fail closed: never resume an upload over bytes that are not there */
            OP_FAIL(op, STORAGE_INVALID, "the data of upload %s is missing or short; start the upload again", op->upload_id);
            if (fd >= 0)
                close(fd);
            return -1;
        }
        /* bytes past the durable offset are from a write never acknowledged */
        if ((uint64_t)sb.st_size > s->offset && ftruncate(fd, (off_t)s->offset) != 0) {
            fail_errno(st, op, errno, "truncating the upload file");
            close(fd);
            return -1;
        }
        return fd;
    }
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail_errno(st, op, errno, "creating the upload file");
        return -1;
    }
    *created = true;
    int e = copy_chunks(st, s, fd);
    if (e) {
        fail_errno(st, op, e, "copying the upload into its file");
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

/* Appends op's bytes to the upload's file; fills job (NULL: failed, or
 * *forward: the upload stays in LMDB, the writer does it all). */
static file_job_t *run_upload(storage_t *st, storage_op_t *op, bool *forward, file_warm_t *warm)
{
    *forward = false;
    bool busy;
    session_t s;
    MDB_txn *rt;
    int rc;
    if (!take_mark(st, &st->files.busy, op->upload_id, true, &busy)) {
        if (busy) {
            OP_FAIL(op, STORAGE_RANGE, "another request is writing to upload %s; send the next part after it", op->upload_id);
            /* the client hears where the upload durably is now */
            if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &rt) == 0) {
                if (store_session_get(st, rt, op->upload_id, &s) == 0)
                    op->result_offset = s.offset;
                mdb_txn_abort(rt);
            }
        } else {
            OP_FAIL(op, STORAGE_NOMEM, "out of memory");
        }
        return NULL;
    }
    op->after_ |= AFTER_UNBUSY;
    rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &rt);
    if (!rc) {
        rc = store_session_get(st, rt, op->upload_id, &s);
        mdb_txn_abort(rt);
    }
    if (rc == MDB_NOTFOUND || (rc == 0 && strcmp(s.repo, op->repo) != 0)) {
        OP_FAIL(op, STORAGE_NOT_FOUND, "upload %s is unknown to repository %s", op->upload_id, op->repo);
        return NULL;
    }
    if (rc == MDB_CORRUPTED) {
        OP_FAIL(op, STORAGE_INVALID, "upload %s has a damaged state; start the upload again", op->upload_id);
        return NULL;
    }
    if (rc) {
        OP_FAIL(op, store_mdb_status(rc), "cannot read upload state: %s", mdb_strerror(rc));
        return NULL;
    }
    bool in_file = s.flags & SESSION_IN_FILE;
    if (!in_file && s.offset + op->len < STORE_FILE_MIN_BYTES) {
        /* a small upload: LMDB, with everyone's group commit; the writer checks the offset again */
        pthread_mutex_lock(&st->files.lock);
        name_remove(&st->files.busy, op->upload_id, false);
        pthread_mutex_unlock(&st->files.lock);
        op->after_ &= ~AFTER_UNBUSY;
        *forward = true;
        return NULL;
    }
    if (op->offset != STORAGE_OFFSET_ANY && op->offset != s.offset) {
        OP_FAIL(op, STORAGE_RANGE, "upload is at offset %llu, not %llu", (unsigned long long)s.offset,
                (unsigned long long)op->offset);
        op->result_offset = s.offset;
        return NULL;
    }
    if (op->kind == STORAGE_OP_UPLOAD_COMMIT && !digest_supported(op))
        return NULL;
    file_job_t *job = calloc(1, sizeof(*job));
    if (!job) {
        OP_FAIL(op, STORAGE_NOMEM, "out of memory");
        return NULL;
    }
    job->has_session = true;
    job->was_lmdb = !in_file;
    job->base_offset = s.offset;
    job->blob_id = s.blob_id;
    bool created;
    int fd = open_upload_file(st, op, &s, &created);
    if (fd < 0) {
        free(job);
        return NULL;
    }
    SHA256_CTX ctx = s.sha256;
    int e = write_hashed(st, op, fd, op->data, op->len, s.offset, &ctx, NULL);
    inputs_done(st, op);
    if (!e && (op->len || created))
        e = file_sync(st, fd);
    if (!e && op->len >= FILE_DIRECT_MIN_BYTES && (warm->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0)
        warm->off = s.offset, warm->len = op->len;
    char path[4096];
    store_upload_path(st, op->upload_id, path, sizeof(path));
    if (!e && created) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/uploads", st->dir);
        e = dir_sync(st, dir);
    }
    if (e) {
        /* give the space back: only the durable part stays (none of a new file) */
        if (created)
            unlink(path);
        else
            (void)ftruncate(fd, (off_t)s.offset);
        close(fd);
        if (e == ECANCELED)
            OP_FAIL(op, STORAGE_CANCELLED, "cancelled");
        else
            fail_errno(st, op, e, "writing the upload file");
        free(job);
        return NULL;
    }
    uint64_t end = s.offset + op->len;
    if (op->kind == STORAGE_OP_UPLOAD_APPEND) {
        close(fd);
        job->kind = FJ_APPEND;
        job->s = s;
        job->s.offset = end;
        job->s.sha256 = ctx;
        job->s.flags |= SESSION_IN_FILE;
        job->s.updated = store_now();
        op->result_offset = end;
        return job;
    }
    oci_digest_t got;
    if (op->digest.alg == OCI_ALG_SHA256) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256_Final(md, &ctx);
        oci_digest_from_raw(OCI_ALG_SHA256, md, &got);
    } else if ((e = hash_file_sha512(fd, end, &got)) != 0) {
        close(fd);
        fail_errno(st, op, e, "hashing the upload file");
        free(job);
        return NULL;
    }
    close(fd);
    job->size = end;
    if (strcmp(got.str, op->digest.str) != 0) {
        OP_FAIL(op, STORAGE_DIGEST_MISMATCH, "the uploaded data has digest %s, not %s", got.str, op->digest.str);
        job->kind = FJ_MISMATCH;
        return job;
    }
    if (!finish_blob(st, op, job, path, false)) {
        free(job);
        return NULL;
    }
    return job;
}

/* One op on a file thread: a job for the writer, or the op unchanged. */
static void file_run(storage_t *st, storage_op_t *op, file_warm_t *warm)
{
    file_job_t *job;
    bool forward = false;
    if (op_cancelled(st, op)) {
        OP_FAIL(op, STORAGE_CANCELLED, "cancelled");
        job = NULL;
    } else if (op->kind == STORAGE_OP_BLOB_PUT) {
        job = run_put(st, op, warm);
    } else {
        job = run_upload(st, op, &forward, warm);
    }
    if (!forward)
        op->job_ = job ? job : &failed_job;
}

static void *file_main(void *arg)
{
    storage_t *st = ((struct store_file_thread *)arg)->st;
    unsigned me = ((struct store_file_thread *)arg)->index;
    pthread_mutex_lock(&st->lock);
    for (;;) {
        while (!st->files.head && !st->files.sweep_due && !st->files.stopping) {
            if (!st->files.foreign_wait) {
                pthread_cond_wait(&st->files.wake, &st->lock);
                continue;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += STORE_FOREIGN_SWEEP_SECONDS;
            if (pthread_cond_timedwait(&st->files.wake, &st->lock, &ts) == ETIMEDOUT)
                st->files.sweep_due = true;
        }
        if (st->files.sweep_due) {
            st->files.sweep_due = false;
            pthread_mutex_unlock(&st->lock);
            sweep(st);
            pthread_mutex_lock(&st->lock);
            continue;
        }
        if (!st->files.head)
            break; /* stopping, and nothing left */
        storage_op_t *op = st->files.head;
        st->files.head = op->next_;
        if (!st->files.head)
            st->files.tail = NULL;
        st->files.running[me] = op;
        pthread_mutex_unlock(&st->lock);
        file_warm_t warm = {.fd = -1};
        file_run(st, op, &warm);
        pthread_mutex_lock(&st->lock);
        st->files.running[me] = NULL;
        pthread_cond_broadcast(&st->progress);
        pthread_mutex_unlock(&st->lock);
        store_writer_enqueue(st, op); /* it no longer reads op's data: a cancel may return now */
        pthread_mutex_lock(&st->lock);
        if (warm.fd >= 0) {
            /* after the op's commit, whose sync would otherwise queue behind the reads; and
             * never ahead of other file work, which the wait and the reads would hold up */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += STORE_WARM_WAIT_SECONDS;
            while ((st->head || st->in_batch) && !st->files.head && !st->files.stopping &&
                   pthread_cond_timedwait(&st->progress, &st->lock, &until) != ETIMEDOUT)
                ;
            bool skip = st->files.head || st->files.stopping;
            pthread_mutex_unlock(&st->lock);
            if (!skip)
                warm_pages(warm.fd, warm.off, warm.len);
            close(warm.fd);
            pthread_mutex_lock(&st->lock);
        }
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

bool store_files_submit(storage_t *st, storage_op_t *op)
{
    if (!st->files.nthreads)
        return false;
    bool route = op->kind == STORAGE_OP_UPLOAD_APPEND || op->kind == STORAGE_OP_UPLOAD_COMMIT ||
                 (op->kind == STORAGE_OP_BLOB_PUT && op->len >= STORE_FILE_MIN_BYTES);
    if (!route)
        return false;
    pthread_mutex_lock(&st->lock);
    op->next_ = NULL;
    if (st->files.tail)
        st->files.tail->next_ = op;
    else
        st->files.head = op;
    st->files.tail = op;
    pthread_cond_signal(&st->files.wake);
    pthread_mutex_unlock(&st->lock);
    return true;
}

bool store_files_start(storage_t *st, storage_err_t *err)
{
    for (unsigned i = 0; i < STORE_FILE_THREADS; i++) {
        st->files.th[i].st = st;
        st->files.th[i].index = i;
        if (pthread_create(&st->files.th[i].thread, NULL, file_main, &st->files.th[i]) != 0)
            break;
        pthread_mutex_lock(&st->lock);
        st->files.nthreads = i + 1; /* from now on ops are routed to the threads */
        pthread_mutex_unlock(&st->lock);
    }
    if (!st->files.nthreads) {
        store_err(err, STORAGE_IO, "cannot start the file threads");
        return false;
    }
    return true;
}

void store_files_stop(storage_t *st)
{
    if (!st->files_init)
        return;
    if (st->files.nthreads) {
        pthread_mutex_lock(&st->lock);
        st->files.stopping = true;
        pthread_cond_broadcast(&st->files.wake);
        pthread_cond_broadcast(&st->progress); /* a thread waiting to warm pages (file_main) */
        pthread_mutex_unlock(&st->lock);
        for (unsigned i = 0; i < st->files.nthreads; i++)
            pthread_join(st->files.th[i].thread, NULL);
        st->files.nthreads = 0;
    }
}

/* ---- start-up ---------------------------------------------------------------- */

static bool is_upload_id(const char *s)
{
    size_t n = strlen(s);
    if (n != STORAGE_UPLOAD_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void clean_uploads(storage_t *st, MDB_txn *rt, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        session_t s;
        if (is_upload_id(de->d_name) && store_session_get(st, rt, de->d_name, &s) == 0 && (s.flags & SESSION_IN_FILE))
            continue;
        if (path_join(path, sizeof(path), dir, de->d_name))
            (void)unlink(path);
    }
    closedir(d);
}

static void clean_blobs(storage_t *st, MDB_txn *rt, const char *root)
{
    DIR *algs = opendir(root);
    if (!algs)
        return;
    struct dirent *a, *f, *x;
    char p1[4096], p2[4096], p3[4096], digest[OCI_DIGEST_MAX + 1];
    while ((a = readdir(algs)) != NULL) {
        if (a->d_name[0] == '.')
            continue;
        if (!path_join(p1, sizeof(p1), root, a->d_name))
            continue;
        DIR *fans = opendir(p1);
        if (!fans) {
            (void)unlink(p1); /* not a directory: nothing we wrote */
            continue;
        }
        while ((f = readdir(fans)) != NULL) {
            if (f->d_name[0] == '.')
                continue;
            if (!path_join(p2, sizeof(p2), p1, f->d_name))
                continue;
            DIR *files = opendir(p2);
            if (!files) {
                (void)unlink(p2);
                continue;
            }
            while ((x = readdir(files)) != NULL) {
                if (x->d_name[0] == '.' && (!x->d_name[1] || (x->d_name[1] == '.' && !x->d_name[2])))
                    continue;
                int n = snprintf(digest, sizeof(digest), "%s:%s", a->d_name, x->d_name);
                blob_rec_t rec;
                bool keep = n > 0 && (size_t)n < sizeof(digest) && strncmp(x->d_name, f->d_name, 2) == 0 &&
                            strlen(f->d_name) == 2 && store_blob_get(st, rt, digest, &rec) == 0 && (rec.flags & BLOB_IN_FILE);
                if (keep) {
                    /* and the name must be the one the record's path gives */
                    char want[4096];
                    keep = path_join(p3, sizeof(p3), p2, x->d_name) && store_blob_path(st, digest, want, sizeof(want)) &&
                           strcmp(want, p3) == 0;
                }
                if (!keep) {
                    if (path_join(p3, sizeof(p3), p2, x->d_name))
                        (void)unlink(p3);
                }
            }
            closedir(files);
        }
        closedir(fans);
    }
    closedir(algs);
}

storage_status_t store_files_clean(storage_t *st, storage_err_t *err)
{
    char blobs[4096], uploads[4096];
    if ((size_t)snprintf(blobs, sizeof(blobs), "%s/blobs", st->dir) >= sizeof(blobs) ||
        (size_t)snprintf(uploads, sizeof(uploads), "%s/uploads", st->dir) >= sizeof(uploads)) {
        store_err(err, STORAGE_IO, "data directory path too long");
        return STORAGE_IO;
    }
    int e = ensure_dir(st, blobs);
    if (!e)
        e = ensure_dir(st, uploads);
    if (e) {
        store_err(err, e == ENOSPC || e == EDQUOT ? STORAGE_FULL : STORAGE_IO, "cannot create %s/{blobs,uploads}: %s", st->dir,
                  strerror(e));
        return err ? err->status : STORAGE_IO;
    }
    MDB_txn *rt;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &rt);
    if (rc) {
        store_err(err, store_mdb_status(rc), "cannot read the store: %s", mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    clean_uploads(st, rt, uploads);
    clean_blobs(st, rt, blobs);
    mdb_txn_abort(rt);
    return STORAGE_OK;
}

void store_files_final_sweep(storage_t *st)
{
    sweep(st);
    pthread_mutex_lock(&st->files.lock);
    names_free(&st->files.pending);
    names_free(&st->files.placing);
    names_free(&st->files.busy);
    st->files.npending = 0;
    pthread_mutex_unlock(&st->files.lock);
}
