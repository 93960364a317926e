/*
 * Berth's own operations on the AWS endpoint (JSON 1.1, SigV4 service "ecr"):
 *
 *   X-Amz-Target: BerthAdmin_20261207.RunGarbageCollection
 *   {"dryRun": false, "graceSeconds": 3600}          both optional
 *   -> {"dryRun", "gracePeriodSeconds", "manifestsMarked", "referencedDigests",
 *       "blobsScanned", "blobsCollected", "bytesFreed",
 *       "lmdb": {"blobs","bytes"}, "files": {"blobs","bytes"},
 *       "blobsSavedByRecheck", "uploadsAborted", "uploadBytesFreed", "durationMs"}
 *
 * IAM action berth:RunGarbageCollection on resource "*": only a principal
 * whose identity policy allows it (the administrator's AdministratorAccess,
 * "Action": "*") may run it; ecr:* does not match it.
 *
 * A collection takes seconds to minutes, so it never runs on an event loop:
 * one collector thread runs the scheduled collections (berthd
 * --gc-interval) and the requested ones, one at a time, in the order asked.
 * A request's reply rides back to its loop on a no-op records op submitted
 * once its collection has finished (the loop's completion queue is only fed
 * by the writer, see async.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/metrics_internal.h"

/* Requests queued behind the running collection at most: each would only
 * repeat the one before it. */
#define GC_MAX_QUEUED 4
/* The longest grace period a request may give: ten years (server_internal.h). */
#define GC_MAX_GRACE_SECONDS BERTH_GC_MAX_GRACE_SECONDS

typedef struct gc_job {
    struct gc_job *next;
    server_op_t *sop; /* NULL for a scheduled run */
    aws_req_t a;      /* the request, minus its snapshot and body */
    storage_gc_options_t opt;
    storage_gc_report_t rep;
    storage_status_t status;
    storage_err_t err;
} gc_job_t;

struct berth_gc {
    storage_t *st;
    uint64_t interval; /* seconds; 0: no schedule */
    uint64_t grace;    /* of the scheduled runs */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    gc_job_t *head, *tail;
    unsigned queued;
    bool stopping;
    _Atomic bool stop; /* tells a running collection to stop */
};

static void log_report(const char *why, storage_status_t s, const storage_gc_report_t *r, const storage_err_t *err)
{
    if (!r->dry_run)
        metrics_note_gc(s == STORAGE_OK, r->blobs_file + r->blobs_lmdb, r->bytes_file + r->bytes_lmdb, r->duration_ms);
    if (s != STORAGE_OK) {
        fprintf(stderr, "berthd: %s garbage collection failed: %s\n", why, err->msg);
        return;
    }
    fprintf(stderr,
            "berthd: %s garbage collection%s: %llu blobs (%llu bytes; %llu in files, %llu in LMDB), %llu uploads "
            "(%llu bytes) in %llu ms; %llu manifests marked\n",
            why, r->dry_run ? " (dry run)" : "", (unsigned long long)(r->blobs_file + r->blobs_lmdb),
            (unsigned long long)(r->bytes_file + r->bytes_lmdb), (unsigned long long)r->bytes_file,
            (unsigned long long)r->bytes_lmdb, (unsigned long long)r->uploads_aborted, (unsigned long long)r->upload_bytes,
            (unsigned long long)r->duration_ms, (unsigned long long)r->manifests);
}

static storage_status_t deliver_noop(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    (void)rs, (void)ctx, (void)err;
    return STORAGE_OK;
}

static void *collector_main(void *arg)
{
    berth_gc_t *g = arg;
    struct timespec due;
    clock_gettime(CLOCK_REALTIME, &due);
    due.tv_sec += (time_t)g->interval;
    pthread_mutex_lock(&g->lock);
    for (;;) {
        while (!g->head && !g->stopping) {
            if (!g->interval) {
                pthread_cond_wait(&g->wake, &g->lock);
                continue;
            }
            if (pthread_cond_timedwait(&g->wake, &g->lock, &due) != ETIMEDOUT)
                continue;
            pthread_mutex_unlock(&g->lock);
            storage_gc_options_t opt = {.grace_seconds = g->grace, .stop = &g->stop};
            storage_gc_report_t rep;
            storage_err_t err = {0};
            storage_status_t s = storage_gc_run(g->st, &opt, &rep, &err);
            log_report("scheduled", s, &rep, &err);
            clock_gettime(CLOCK_REALTIME, &due);
            due.tv_sec += (time_t)g->interval;
            pthread_mutex_lock(&g->lock);
        }
        gc_job_t *j = g->head;
        if (!j)
            break;
        g->head = j->next;
        if (!g->head)
            g->tail = NULL;
        bool stopping = g->stopping;
        pthread_mutex_unlock(&g->lock);
        if (stopping) {
            j->status = STORAGE_CANCELLED;
            snprintf(j->err.msg, sizeof(j->err.msg), "berthd is shutting down; the collection did not run");
        } else {
            j->opt.stop = &g->stop;
            j->status = storage_gc_run(g->st, &j->opt, &j->rep, &j->err);
            log_report("requested", j->status, &j->rep, &j->err);
        }
        /* the reply goes back through the writer to the request's loop (or is dropped if the client went) */
        j->sop->op.records_fn = deliver_noop;
        storage_submit(g->st, &j->sop->op);
        pthread_mutex_lock(&g->lock);
        g->queued--;
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

berth_gc_t *berth_gc_start(storage_t *st, uint64_t interval_seconds, uint64_t grace_seconds, char *err, size_t cap)
{
    berth_gc_t *g = calloc(1, sizeof(*g));
    if (!g) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    g->st = st;
    g->interval = interval_seconds;
    g->grace = grace_seconds;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    int e = pthread_create(&g->thread, NULL, collector_main, g);
    if (e) {
        snprintf(err, cap, "cannot start the garbage collector's thread: %s", strerror(e));
        pthread_mutex_destroy(&g->lock);
        pthread_cond_destroy(&g->wake);
        free(g);
        return NULL;
    }
    return g;
}

void berth_gc_stop(berth_gc_t *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    atomic_store(&g->stop, true);
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->wake);
    free(g);
}

/* ---- the operation ------------------------------------------------------------- */

static json_t *report_json(const gc_job_t *j)
{
    const storage_gc_report_t *r = &j->rep;
    return json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I},s:{s:I,s:I},s:I,s:I,s:I,s:I}", "dryRun", r->dry_run,
                     "gracePeriodSeconds", (json_int_t)j->opt.grace_seconds, "manifestsMarked", (json_int_t)r->manifests,
                     "referencedDigests", (json_int_t)r->referenced, "blobsScanned", (json_int_t)r->blobs_scanned, "blobsCollected",
                     (json_int_t)(r->blobs_lmdb + r->blobs_file), "bytesFreed", (json_int_t)(r->bytes_lmdb + r->bytes_file), "lmdb",
                     "blobs", (json_int_t)r->blobs_lmdb, "bytes", (json_int_t)r->bytes_lmdb, "files", "blobs",
                     (json_int_t)r->blobs_file, "bytes", (json_int_t)r->bytes_file, "blobsSavedByRecheck",
                     (json_int_t)r->blobs_saved, "uploadsAborted", (json_int_t)r->uploads_aborted, "uploadBytesFreed",
                     (json_int_t)r->upload_bytes, "durationMs", (json_int_t)r->duration_ms);
}

static void gc_complete(server_op_t *sop, h2o_req_t *req)
{
    gc_job_t *j = sop->user;
    j->a.req = req;
    if (j->status == STORAGE_OK)
        aws_send_result(&j->a, report_json(j));
    else if (j->status == STORAGE_CANCELLED)
        aws_send_error(&j->a, 503, "ServiceUnavailableException", "%s", j->err.msg);
    else
        aws_send_error(&j->a, 500, "ServerException", "%s", j->err.msg);
}

int berth_gc_parse_request(const json_t *body, storage_gc_options_t *out, char *msg, size_t cap)
{
    memset(out, 0, sizeof(*out));
    out->grace_seconds = STORAGE_GC_DEFAULT_GRACE_SECONDS;
    if (!json_is_object(body)) {
        snprintf(msg, cap, "the request must be a JSON object");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "dryRun") == 0) {
            if (!json_is_boolean(v)) {
                snprintf(msg, cap, "dryRun must be true or false");
                return -1;
            }
            out->dry_run = json_is_true(v);
        } else if (strcmp(key, "graceSeconds") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > GC_MAX_GRACE_SECONDS) {
                snprintf(msg, cap, "graceSeconds must be an integer from 0 to %llu", (unsigned long long)GC_MAX_GRACE_SECONDS);
                return -1;
            }
            out->grace_seconds = (uint64_t)json_integer_value(v);
        } else {
            snprintf(msg, cap, "unknown parameter %.64s (RunGarbageCollection takes dryRun and graceSeconds)", key);
            return -1;
        }
    }
    return 0;
}

static void run_garbage_collection(aws_req_t *a)
{
    if (!aws_allowed(a, "berth:RunGarbageCollection", NULL))
        return;
    berth_gc_t *g = a->srv->gc;
    if (!g) {
        aws_send_error(a, 503, "ServiceUnavailableException", "this berthd has no garbage collector running");
        return;
    }
    storage_gc_options_t opt;
    char msg[200];
    if (berth_gc_parse_request(a->body, &opt, msg, sizeof(msg)) != 0) {
        aws_send_error(a, 400, "InvalidParameterException", "%s", msg);
        return;
    }
    gc_job_t *j = calloc(1, sizeof(*j));
    server_op_t *sop = j ? aws_defer(a, gc_complete, &j->a) : NULL;
    if (!sop) {
        free(j);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    j->sop = sop;
    j->opt = opt;
    sop->user = j;
    sop->free_user = free;
    pthread_mutex_lock(&g->lock);
    bool full = g->queued >= GC_MAX_QUEUED || g->stopping;
    if (!full) {
        server_op_guard(sop);
        g->queued++;
        if (g->tail)
            g->tail->next = j;
        else
            g->head = j;
        g->tail = j;
        pthread_cond_signal(&g->wake);
    }
    pthread_mutex_unlock(&g->lock);
    if (full) {
        server_op_free(sop);
        aws_send_error(a, 400, "LimitExceededException", "%u garbage collections are queued already; try again later",
                       GC_MAX_QUEUED);
    }
}

const aws_operation_t berth_admin_operations[] = {
    {BERTH_ADMIN_SERVICE, "RunGarbageCollection", "ecr", run_garbage_collection},
    {NULL, NULL, NULL, NULL},
};
