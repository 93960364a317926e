/* GET /healthz and GET /readyz: for load balancers and orchestrators, so
 * without credentials, and saying nothing about the server but "ok" or
 * "not ready" (no version, no paths, no reason: the reason goes to berthd's
 * log, where the operator looks).
 *
 *  - /healthz: the event loop answers. Nothing else is touched.
 *  - /readyz: the store takes writes: the writer thread answers a no-op
 *    transaction within READY_TIMEOUT_MS (a stuck sync or a wedged writer
 *    shows here), the data directory's file system has READY_MIN_FREE_BYTES
 *    free, and berthd is not shutting down (a SIGTERM's drain answers 503, so
 *    a balancer sends new clients elsewhere while in-flight requests finish).
 *    An empty LMDB transaction commits without a write or a sync, so a probe
 *    every second costs the writer next to nothing. */
#include <stdatomic.h>
#include <sys/statvfs.h>

#include "server/server_internal.h"

/* A writer that takes longer than this to run an empty transaction is not
 * ready: pushes would wait at least as long. Probes' own timeouts are 1 s
 * (Kubernetes' default), so we answer before they give up. */
#define READY_TIMEOUT_MS 1000
/* Below this much free space a push of an ordinary layer fails: not ready. */
#define READY_MIN_FREE_BYTES ((uint64_t)64 << 20)

static void send_text(h2o_req_t *req, int status, const char *reason, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_inline(req, body, len);
}

static void not_ready(h2o_req_t *req)
{
    send_text(req, 503, "Service Unavailable", H2O_STRLIT("not ready\n"));
}

int health_live(h2o_req_t *req)
{
    send_text(req, 200, "OK", H2O_STRLIT("ok\n"));
    return 0;
}

typedef struct {
    h2o_timeout_entry_t timer;
    h2o_req_t *req;
    bool answered;
} probe_t;

/* The request's pool is freed: its timer goes with it. */
static void probe_dispose(void *p)
{
    probe_t *pr = p;
    if (h2o_timeout_is_linked(&pr->timer))
        h2o_timeout_unlink(&pr->timer);
}

static void probe_timeout(h2o_timeout_entry_t *e)
{
    probe_t *pr = H2O_STRUCT_FROM_MEMBER(probe_t, timer, e);
    if (pr->answered)
        return;
    pr->answered = true;
    fprintf(stderr, "berthd: /readyz: the store's writer did not answer within %d ms\n", READY_TIMEOUT_MS);
    not_ready(pr->req);
}

static storage_status_t noop(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    (void)rs;
    (void)ctx;
    (void)err;
    return STORAGE_OK;
}

static void probe_done(server_op_t *sop, h2o_req_t *req)
{
    probe_t *pr = sop->user;
    if (pr->answered)
        return; /* timed out already: the 503 is on its way */
    pr->answered = true;
    if (h2o_timeout_is_linked(&pr->timer))
        h2o_timeout_unlink(&pr->timer);
    if (sop->op.status != STORAGE_OK) {
        fprintf(stderr, "berthd: /readyz: the store's writer failed a no-op: %s\n", sop->op.err.msg);
        not_ready(req);
        return;
    }
    send_text(req, 200, "OK", H2O_STRLIT("ok\n"));
}

int health_ready(server_t *srv, h2o_req_t *req)
{
    if (atomic_load(&srv->draining)) {
        not_ready(req);
        return 0;
    }
    struct statvfs vfs;
    if (srv->data_dir && statvfs(srv->data_dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < READY_MIN_FREE_BYTES) {
        fprintf(stderr, "berthd: /readyz: the data directory's file system has less than %llu MiB free\n",
                (unsigned long long)(READY_MIN_FREE_BYTES >> 20));
        not_ready(req);
        return 0;
    }
    probe_t *pr = h2o_mem_alloc_shared(&req->pool, sizeof(*pr), probe_dispose);
    *pr = (probe_t){.timer = {.cb = probe_timeout}, .req = req};
    v2_req_t r = {.req = req, .srv = srv};
    server_op_t *sop = server_op_new(&r, STORAGE_OP_RECORDS, probe_done);
    if (!sop) {
        not_ready(req);
        return 0;
    }
    sop->user = pr; /* in the request's pool: no free_user */
    sop->op.records_fn = noop;
    h2o_timeout_link(req->conn->ctx->loop, &req->conn->ctx->one_sec_timeout, &pr->timer);
    server_op_submit(sop);
    return 0;
}
