/* The one writer: group commit of everyone's ops.
 *
 * LMDB allows one write transaction at a time and a synced commit costs an
 * fsync, so a thread takes every op queued so far, runs each in a child
 * transaction (one failing op does not abort its neighbours), commits and
 * syncs once, and only then calls their `done`. Big appends run in pieces of
 * STORE_PIECE_BYTES: an op that has more to write goes back to the queue and
 * continues in the next transaction, so it neither holds huge dirty-page sets
 * in memory nor keeps small pushes waiting behind it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <string.h>

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

void storage_submit(storage_t *st, storage_op_t *op)
{
    op->status = STORAGE_OK;
    op->err.status = STORAGE_OK;
    op->err.msg[0] = '\0';
    op->progress_ = 0;
    op->stage_ = 0;
    pthread_mutex_lock(&st->lock);
    enqueue_locked(st, op);
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
}

void storage_op_cancel(storage_t *st, storage_op_t *op)
{
    pthread_mutex_lock(&st->lock);
    op->cancelled_ = 1;
    while (st->running == op)
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
        pthread_mutex_unlock(&st->lock);

        MDB_txn *txn;
        int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
        if (rc) {
            for (size_t i = 0; i < n; i++)
                results[i] = RUN_ABORT, fail_op(batch[i], store_mdb_status(rc), "cannot start a write transaction");
        } else {
            for (size_t i = 0; i < n; i++) {
                storage_op_t *op = batch[i];
                pthread_mutex_lock(&st->lock);
                bool cancelled = op->cancelled_;
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
            rc = mdb_txn_commit(txn);
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
            st->st_ops++;
            op->done(op);
        }
    }
    return NULL;
}

void store_writer_start(storage_t *st, storage_err_t *err)
{
    if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
        store_err(err, STORAGE_IO, "cannot start the writer thread");
        return;
    }
    st->writer_started = true;
}

void store_writer_stop(storage_t *st)
{
    if (!st->writer_started)
        return;
    pthread_mutex_lock(&st->lock);
    st->stopping = true;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
    pthread_join(st->writer, NULL);
    st->writer_started = false;
}
