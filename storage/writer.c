/* The one writer: group commit of everyone's ops.
 *
 * LMDB allows one write transaction at a time and a synced commit costs an
 * fsync, so a thread takes every op queued so far, runs each in a child
 * transaction (one failing op does not abort its neighbours), commits and
 * syncs once, and only then calls their `done`. Big appends run in pieces of
 * STORE_PIECE_BYTES: an op that has more to write goes back to the queue and
 * continues in the next transaction, so it neither holds huge dirty-page sets
 * in memory nor keeps small pushes waiting behind it.
 *
 * A transaction in which every op goes back to the queue acknowledges
 * nothing, so it only needs to keep the store consistent, not durable: the
 * store runs with MDB_NOMETASYNC (each commit syncs its data pages, then
 * writes the meta page without syncing it; the next commit's data sync makes
 * it durable). A crash of the machine may then undo that one piece, which no
 * client has heard about, never more: LMDB's documented guarantee for that
 * flag. A transaction that acknowledges anything commits with the flag off,
 * so LMDB writes its meta page through its O_DSYNC descriptor: readers see
 * the commit only once it is durable, and a blob is never served that a
 * crash of the machine could take back.
 *
 * The hasher thread hashes a big piece while the writer (or a file thread)
 * copies it into the store, so hashing costs no time of its own. It works
 * on one piece at a time for whoever took it first (the others hash inline),
 * and that thread waits for it before moving on.
 *
 * Appends, completions and big puts reach the writer through a file thread
 * (files.c), which stores big blobs' bytes in files first and leaves the
 * writer only their metadata to commit (op->job_); after each commit the
 * writer lets files.c act on what committed (store_after_op). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <string.h>
#include <time.h>

#include "storage/storage_internal.h"

void storage_op_init(storage_op_t *op, storage_op_kind_t kind)
{
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->offset = STORAGE_OFFSET_ANY;
}

static void enqueue_locked(storage_t *st, storage_op_t *op)
{
    op->next_ = NULL;
    if (st->tail)
        st->tail->next_ = op;
    else
        st->head = op;
    st->tail = op;
}

void store_writer_enqueue(storage_t *st, storage_op_t *op)
{
    pthread_mutex_lock(&st->lock);
    enqueue_locked(st, op);
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
}

void storage_submit(storage_t *st, storage_op_t *op)
{
    op->status = STORAGE_OK;
    op->err.status = STORAGE_OK;
    op->err.msg[0] = '\0';
    op->progress_ = 0;
    op->stage_ = 0;
    op->job_ = NULL;
    op->after_ = 0;
    if (store_files_submit(st, op))
        return;
    store_writer_enqueue(st, op);
}

/* Whether a file thread reads op's inputs right now (st->lock held). */
static bool file_thread_reads(storage_t *st, storage_op_t *op)
{
    for (unsigned i = 0; i < st->files.nthreads; i++)
        if (st->files.running[i] == op)
            return true;
    return false;
}

void storage_op_cancel(storage_t *st, storage_op_t *op)
{
    pthread_mutex_lock(&st->lock);
    op->cancelled_ = 1;
    while (st->running == op || file_thread_reads(st, op))
        pthread_cond_wait(&st->progress, &st->lock);
    pthread_mutex_unlock(&st->lock);
}

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool finished;
} sync_wait_t;

static void sync_done(storage_op_t *op)
{
    sync_wait_t *w = op->user;
    pthread_mutex_lock(&w->lock);
    w->finished = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

storage_status_t storage_execute(storage_t *st, storage_op_t *op)
{
    sync_wait_t w = {.finished = false};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    void (*saved_done)(storage_op_t *) = op->done;
    void *saved_user = op->user;
    op->done = sync_done;
    op->user = &w;
    storage_submit(st, op);
    pthread_mutex_lock(&w.lock);
    while (!w.finished)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    op->done = saved_done;
    op->user = saved_user;
    return op->status;
}

static void fail_op(storage_op_t *op, storage_status_t status, const char *msg)
{
    op->status = status;
    if (op->err.status == STORAGE_OK || status != op->err.status) {
        op->err.status = status;
        snprintf(op->err.msg, sizeof(op->err.msg), "%s", msg);
    }
}

/* LMDB reports a short write on a full file system as EIO: tell the two
 * apart by the space left, so that the client hears "full" (507), not 500. */
static int classify_commit_error(storage_t *st, int rc, char *msg, size_t cap)
{
    const char *path = NULL;
    struct statvfs vfs;
    if ((rc == EIO || rc == ENOSPC || rc == EDQUOT) && mdb_env_get_path(st->env, &path) == 0 && statvfs(path, &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        if (rc != EIO || avail < STORE_FULL_MARGIN_BYTES) {
            snprintf(msg, cap,
                     "no space left on the device that holds the store (%llu MiB free); nothing of this request was stored",
                     (unsigned long long)(avail >> 20));
            return ENOSPC;
        }
    }
    snprintf(msg, cap, "%s while committing; nothing of this request was stored", mdb_strerror(rc));
    return rc;
}

static void *hasher_main(void *arg)
{
    storage_t *st = arg;
    pthread_mutex_lock(&st->hasher.lock);
    for (;;) {
        while (!st->hasher.ctx && !st->hasher.stopping)
            pthread_cond_wait(&st->hasher.wake, &st->hasher.lock);
        if (!st->hasher.ctx)
            break;
        SHA256_CTX *ctx = st->hasher.ctx;
        const void *data = st->hasher.data;
        size_t len = st->hasher.len;
        pthread_mutex_unlock(&st->hasher.lock);
        SHA256_Update(ctx, data, len);
        pthread_mutex_lock(&st->hasher.lock);
        st->hasher.ctx = NULL;
        pthread_cond_signal(&st->hasher.done);
    }
    pthread_mutex_unlock(&st->hasher.lock);
    return NULL;
}

bool store_hash_begin(storage_t *st, SHA256_CTX *ctx, const void *data, size_t len)
{
    if (!st->hasher.started || len < STORE_HASH_OFFLOAD_MIN) {
        SHA256_Update(ctx, data, len);
        return false;
    }
    pthread_mutex_lock(&st->hasher.lock);
    if (st->hasher.owned) { /* another thread's piece: hash ours here rather than wait */
        pthread_mutex_unlock(&st->hasher.lock);
        SHA256_Update(ctx, data, len);
        return false;
    }
    st->hasher.owned = true;
    st->hasher.ctx = ctx;
    st->hasher.data = data;
    st->hasher.len = len;
    pthread_cond_signal(&st->hasher.wake);
    pthread_mutex_unlock(&st->hasher.lock);
    return true;
}

void store_hash_end(storage_t *st, bool offloaded)
{
    if (!offloaded)
        return;
    pthread_mutex_lock(&st->hasher.lock);
    while (st->hasher.ctx)
        pthread_cond_wait(&st->hasher.done, &st->hasher.lock);
    st->hasher.owned = false;
    pthread_mutex_unlock(&st->hasher.lock);
}

/* Commits the batch's transaction. The environment runs with MDB_NOMETASYNC,
 * so a commit syncs the data pages and writes the meta page without syncing
 * it. A `durable` commit turns the flag off for itself: LMDB then writes the
 * meta page synchronously and publishes the new transaction to readers only
 * after that write, so nothing it acknowledges is visible before it is on
 * disk. Only this thread changes the environment's flags (LMDB's condition);
 * readers never look at this one. */
static int commit_batch(storage_t *st, MDB_txn *txn, bool durable)
{
    bool meta_sync = durable && !st->no_sync;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (meta_sync && mdb_env_set_flags(st->env, MDB_NOMETASYNC, 0) != 0) {
        mdb_txn_abort(txn);
        return EINVAL;
    }
    int rc = mdb_txn_commit(txn);
    if (meta_sync)
        (void)mdb_env_set_flags(st->env, MDB_NOMETASYNC, 1); /* cannot fail: a changeable flag */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == 0) {
        /* one commit per batch: the writer's only cost here is these few adds */
        static const uint64_t bounds[STORAGE_COMMIT_BUCKETS] = STORAGE_COMMIT_BUCKET_US;
        uint64_t us = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
        st->st_commit_us_sum += us;
        if (meta_sync)
            st->st_syncs++;
        for (size_t i = 0; i < STORAGE_COMMIT_BUCKETS; i++)
            if (us <= bounds[i]) {
                st->st_commit_hist[i]++;
                break;
            }
    }
    return rc;
}

static void *writer_main(void *arg)
{
    storage_t *st = arg;
    storage_op_t *batch[STORE_MAX_BATCH];
    run_result_t results[STORE_MAX_BATCH];
    for (;;) {
        pthread_mutex_lock(&st->lock);
        while (!st->head && !st->stopping)
            pthread_cond_wait(&st->wake, &st->lock);
        if (!st->head) {
            pthread_mutex_unlock(&st->lock);
            break;
        }
        size_t n = 0;
        while (st->head && n < STORE_MAX_BATCH) {
            batch[n++] = st->head;
            st->head = st->head->next_;
        }
        if (!st->head)
            st->tail = NULL;
        st->in_batch = true;
        pthread_mutex_unlock(&st->lock);

        MDB_txn *txn;
        uint64_t txn_id = 0;
        int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
        if (rc) {
            for (size_t i = 0; i < n; i++)
                results[i] = RUN_ABORT, fail_op(batch[i], store_mdb_status(rc), "cannot start a write transaction");
        } else {
            for (size_t i = 0; i < n; i++) {
                storage_op_t *op = batch[i];
                pthread_mutex_lock(&st->lock);
                /* a file thread's finished job reads no input any more: commit it, so that
                 * no file it put in place is left without its record */
                bool cancelled = op->cancelled_ && !op->job_;
                if (!cancelled)
                    st->running = op;
                pthread_mutex_unlock(&st->lock);
                if (cancelled) {
                    fail_op(op, STORAGE_CANCELLED, "cancelled");
                    results[i] = RUN_ABORT;
                    continue;
                }
                MDB_txn *child;
                int crc = mdb_txn_begin(st->env, txn, 0, &child);
                if (crc) {
                    fail_op(op, store_mdb_status(crc), mdb_strerror(crc));
                    results[i] = RUN_ABORT;
                } else {
                    results[i] = store_run_op(st, child, op);
                    if (results[i] == RUN_ABORT) {
                        mdb_txn_abort(child);
                    } else if ((crc = mdb_txn_commit(child)) != 0) {
                        fail_op(op, store_mdb_status(crc), mdb_strerror(crc));
                        results[i] = RUN_ABORT;
                    }
                }
                pthread_mutex_lock(&st->lock);
                st->running = NULL;
                pthread_cond_broadcast(&st->progress);
                pthread_mutex_unlock(&st->lock);
            }
            bool acknowledges = false;
            for (size_t i = 0; i < n && !acknowledges; i++)
                acknowledges = results[i] != RUN_AGAIN || batch[i]->status != STORAGE_OK;
            txn_id = mdb_txn_id(txn);
            rc = commit_batch(st, txn, acknowledges);
            if (rc == 0) {
                st->st_commits++;
            } else {
                /* Nothing of this batch is durable: fail every op in it. A
                 * full disk leaves the store as it was before the batch. */
                char msg[160];
                rc = classify_commit_error(st, rc, msg, sizeof(msg));
                for (size_t i = 0; i < n; i++) {
                    if (batch[i]->status == STORAGE_OK)
                        fail_op(batch[i], store_mdb_status(rc), msg);
                    results[i] = RUN_ABORT;
                }
            }
        }
        for (size_t i = 0; i < n; i++) {
            storage_op_t *op = batch[i];
            if (results[i] == RUN_AGAIN && op->status == STORAGE_OK) {
                pthread_mutex_lock(&st->lock);
                enqueue_locked(st, op);
                pthread_mutex_unlock(&st->lock);
                continue;
            }
            store_after_op(st, op, results[i] == RUN_COMMIT, txn_id);
            st->st_ops++;
            op->done(op);
        }
        pthread_mutex_lock(&st->lock);
        st->in_batch = false;
        pthread_cond_broadcast(&st->progress);
        pthread_mutex_unlock(&st->lock);
        if (st->files.npending)
            store_files_kick(st);
    }
    return NULL;
}

void store_writer_start(storage_t *st, storage_err_t *err)
{
    pthread_mutex_init(&st->hasher.lock, NULL);
    pthread_cond_init(&st->hasher.wake, NULL);
    pthread_cond_init(&st->hasher.done, NULL);
    /* Without the hasher thread the writer hashes inline: slower, not wrong. */
    st->hasher.started = pthread_create(&st->hasher.thread, NULL, hasher_main, st) == 0;
    if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
        store_err(err, STORAGE_IO, "cannot start the writer thread");
        return;
    }
    st->writer_started = true;
}

static void hasher_stop(storage_t *st)
{
    if (st->hasher.started) {
        pthread_mutex_lock(&st->hasher.lock);
        st->hasher.stopping = true;
        pthread_cond_signal(&st->hasher.wake);
        pthread_mutex_unlock(&st->hasher.lock);
        pthread_join(st->hasher.thread, NULL);
        st->hasher.started = false;
    }
    pthread_mutex_destroy(&st->hasher.lock);
    pthread_cond_destroy(&st->hasher.wake);
    pthread_cond_destroy(&st->hasher.done);
}

void store_writer_stop(storage_t *st)
{
    if (!st->writer_started) {
        if (st->hasher.started) /* the writer failed to start after the hasher did */
            hasher_stop(st);
        return;
    }
    pthread_mutex_lock(&st->lock);
    st->stopping = true;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
    pthread_join(st->writer, NULL);
    st->writer_started = false;
    hasher_stop(st); /* after the writer: it hands the hasher its work */
}
