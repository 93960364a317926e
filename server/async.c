/* A request's storage: its snapshot (v2_reader) for reads on the loop, and
 * ops for changes: submit on the loop, complete on the loop.
 *
 * The writer calls `done` on its own thread; we only post a message to the
 * request's loop there. The op lives on the heap, not in the request's pool,
 * because the request may be gone (client reset an HTTP/2 stream) before the
 * writer finishes: the pool's guard then cancels the op and unhooks it. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

static void on_writer_done(storage_op_t *op)
{
    server_op_t *sop = (server_op_t *)((char *)op - offsetof(server_op_t, op));
    h2o_multithread_send_message(&sop->thread->op_done, &sop->msg);
}

static void on_loop_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        server_op_t *sop = H2O_STRUCT_FROM_MEMBER(server_op_t, msg, msg);
        if (sop->req) {
            *sop->guard = NULL;
            sop->complete(sop, sop->req);
        }
        if (sop->retry) { /* the completion submitted a follow-up op with the same struct */
            sop->retry = 0;
            continue;
        }
        server_op_free(sop);
    }
}

/* The request's pool is being freed: the client is gone. */
static void on_guard_dispose(void *p)
{
    server_op_t *sop = *(server_op_t **)p;
    if (!sop)
        return;
    storage_op_cancel(sop->r.srv->storage, &sop->op);
    sop->req = NULL;
}

void server_thread_init_ops(server_thread_t *t)
{
    h2o_multithread_register_receiver(t->ctx.queue, &t->op_done, on_loop_done);
}

/* Completions the writer posted after the loop stopped running (a SIGTERM
 * while an op was in flight) are dropped, not run: running one would answer
 * on a connection the loop no longer serves. h2o asserts that a receiver is
 * empty when unregistered. No lock: the store is closed, nobody posts now. */
void server_thread_drop_ops(server_thread_t *t)
{
    h2o_linklist_t *messages = &t->op_done._messages;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        server_op_t *sop = H2O_STRUCT_FROM_MEMBER(server_op_t, msg, msg);
        if (sop->req)
            *sop->guard = NULL;
        server_op_free(sop);
    }
    h2o_multithread_unregister_receiver(t->ctx.queue, &t->op_done);
}

server_op_t *server_op_new(v2_req_t *r, storage_op_kind_t kind, server_op_complete_cb complete)
{
    server_op_t *sop = calloc(1, sizeof(*sop));
    if (!sop)
        return NULL;
    storage_op_init(&sop->op, kind);
    sop->op.done = on_writer_done;
    sop->req = r->req;
    sop->r = *r;
    sop->r.rd = NULL; /* the request's snapshot stays with the request */
    sop->complete = complete;
    sop->thread = (server_thread_t *)r->req->conn->ctx;
    snprintf(sop->op.repo, sizeof(sop->op.repo), "%s", r->name);
    return sop;
}

bool server_op_take_body(server_op_t *sop)
{
    h2o_req_t *req = sop->req;
    if (req->version < 0x200) {
        /* HTTP/1: h2o stops reading once the body is in and frees the input
         * buffer only after the response, so the body outlives the op. */
        sop->op.data = req->entity.base;
        sop->op.len = req->entity.base ? req->entity.len : 0;
        return true;
    }
    /* HTTP/2 frees a reset stream's body before the request's pool. */
    if (req->entity.len) {
        if (!(sop->owned = malloc(req->entity.len)))
            return false;
        memcpy(sop->owned, req->entity.base, req->entity.len);
    }
    sop->op.data = sop->owned;
    sop->op.len = req->entity.len;
    return true;
}

void server_op_guard(server_op_t *sop)
{
    sop->guard = h2o_mem_alloc_shared(&sop->req->pool, sizeof(*sop->guard), on_guard_dispose);
    *sop->guard = sop;
}

void server_op_submit(server_op_t *sop)
{
    server_op_guard(sop);
    storage_submit(sop->r.srv->storage, &sop->op);
}

void server_op_resubmit(server_op_t *sop, storage_op_kind_t kind, server_op_complete_cb complete)
{
    storage_op_init(&sop->op, kind);
    sop->op.done = on_writer_done;
    snprintf(sop->op.repo, sizeof(sop->op.repo), "%s", sop->r.name);
    sop->complete = complete;
    sop->retry = 1;
    server_op_submit(sop);
}

void server_op_free(server_op_t *sop)
{
    if (sop->free_user)
        sop->free_user(sop->user);
    free(sop->owned);
    free(sop);
}

storage_reader_t *v2_reader(v2_req_t *r)
{
    if (r->rd) {
        storage_reader_t *rd = r->rd;
        r->rd = NULL;
        return rd;
    }
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(r->srv->storage, &err);
    if (!rd)
        v2_send_storage_error(r->req, &err, ERR_UNKNOWN);
    return rd;
}
