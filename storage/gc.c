/* Online garbage collection: mark from short read snapshots, sweep through
 * the writer in small batches (storage.h, "garbage collection").
 *
 * Why it is safe while pushes and pulls go on:
 *
 *  1. Before the mark begins, an op on the writer sets st->gc_track; from
 *     then on the writer notes (store_gc_note) every digest that a
 *     manifest put references (its blobs, children and own digest) and
 *     every digest a link put names, also a link that existed already (a
 *     blob pushed or mounted again). The mark's snapshots are all taken
 *     after that op committed, so every manifest is either seen by the mark
 *     or noted, and so is every link made since.
 *  2. The mark may refresh its snapshot between manifests: a manifest
 *     deleted meanwhile references nothing any more, one added is noted.
 *  3. Each candidate is deleted by its own records op (so that a file
 *     blob's unlink rides on the op's after_ bits, as STORAGE_OP_BLOB_DELETE
 *     does); the closure runs on the writer and re-checks there, in the
 *     deleting transaction: noted since the start, or any link (found by a
 *     point lookup per repository, links being keyed by repository first)
 *     after the cutoff (now - grace, in seconds), saves it. Ops submitted
 *     together share a transaction, so a batch costs one sync.
 *  4. A manifest put that runs after the delete finds no link and fails
 *     with STORAGE_REFERENCE: no manifest ever points at a collected blob.
 *  5. Readers that stat'ed a collected file blob keep its file open; the
 *     unlink waits for older snapshots (files.c).
 *
 * The mark set is a sorted array of 32-byte keys (SHA-256 of each digest's
 * text, so sha512 digests cost the same), deduplicated whenever it fills, so
 * it holds at most about twice the distinct referenced digests; the noted set an open-addressing
 * table of the same keys. A collision can only keep garbage, never drop a
 * referenced blob. */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage_internal.h"

/* Manifests read per snapshot during the mark: short snapshots let LMDB
 * reuse freed pages while a big mark runs. */
#define GC_MARK_PER_SNAPSHOT 256
/* Candidates per sweep batch: a batch is one transaction and one sync, a
 * few ops among the pushes' (STORE_MAX_BATCH is 256). bench/gc over 100,000
 * blobs: 16 took 18 s, 64 took 7 s; the push rates beside them were too
 * noisy on a shared machine (load 8 on 2 cores) to tell the two apart. */
#define GC_SWEEP_BATCH 32
/* Default share (percent) of the collector's own thread and of the writer
 * that a collection may take: pushes share the writer with the sweep, so
 * this bounds what a collection can cost them (the goal is >= 80%
 * of their undisturbed rate). */
#define GC_DEFAULT_DUTY_PCT 20
/* Blob records looked at per snapshot while finding candidates. */
#define GC_SCAN_PER_SNAPSHOT 4096

typedef struct {
    unsigned char k[32];
} gc_key_t;

static void gc_key(const char *digest, size_t len, gc_key_t *out)
{
    SHA256((const unsigned char *)digest, len, out->k);
}

/* ---- the noted set (writer thread only) ---------------------------------------- */

struct store_gc_track {
    gc_key_t *slots; /* an all-zero key marks an empty slot */
    size_t cap, n;
    bool all; /* out of memory (or a zero key): every candidate is saved */
};

static bool key_zero(const gc_key_t *k)
{
    static const gc_key_t zero;
    return memcmp(k, &zero, sizeof(zero)) == 0;
}

static size_t slot_of(const gc_key_t *k, size_t cap)
{
    uint64_t h;
    memcpy(&h, k->k, sizeof(h));
    return (size_t)h & (cap - 1);
}

static void track_insert(struct store_gc_track *t, const gc_key_t *k)
{
    if (t->all)
        return;
    if (key_zero(k)) {
        t->all = true;
        return;
    }
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 1024;
        gc_key_t *ns = calloc(ncap, sizeof(*ns));
        if (!ns) {
            t->all = true; /* cannot remember: then nothing may go */
            return;
        }
        for (size_t i = 0; i < t->cap; i++) {
            if (key_zero(&t->slots[i]))
                continue;
            size_t j = slot_of(&t->slots[i], ncap);
            while (!key_zero(&ns[j]))
                j = (j + 1) & (ncap - 1);
            ns[j] = t->slots[i];
        }
        free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    size_t j = slot_of(k, t->cap);
    while (!key_zero(&t->slots[j])) {
        if (memcmp(&t->slots[j], k, sizeof(*k)) == 0)
            return;
        j = (j + 1) & (t->cap - 1);
    }
    t->slots[j] = *k;
    t->n++;
}

static bool track_has(const struct store_gc_track *t, const gc_key_t *k)
{
    if (t->all)
        return true;
    if (!t->cap)
        return false;
    size_t j = slot_of(k, t->cap);
    while (!key_zero(&t->slots[j])) {
        if (memcmp(&t->slots[j], k, sizeof(*k)) == 0)
            return true;
        j = (j + 1) & (t->cap - 1);
    }
    return false;
}

void store_gc_note(storage_t *st, const char *digest, size_t len)
{
    gc_key_t k;
    gc_key(digest, len, &k);
    track_insert(st->gc_track, &k);
}

static storage_status_t track_on(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    (void)err;
    rs->st->gc_track = ctx;
    return STORAGE_OK;
}

static storage_status_t track_off(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    (void)ctx, (void)err;
    rs->st->gc_track = NULL;
    return STORAGE_OK;
}

/* Runs fn on the writer and waits: the writer reads gc_track only between ops. */
static storage_status_t on_writer(storage_t *st, storage_records_fn fn, void *ctx, storage_err_t *err)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_RECORDS);
    op.records_fn = fn;
    op.records_ctx = ctx;
    storage_status_t s = storage_execute(st, &op);
    if (s != STORAGE_OK && err)
        *err = op.err;
    return s;
}

/* ---- the mark set ------------------------------------------------------------------ */

typedef struct {
    gc_key_t *keys;
    size_t n, cap;
} mark_set_t;

static void mark_finish(mark_set_t *m);

static bool mark_add(mark_set_t *m, const char *digest, size_t len)
{
    if (m->n == m->cap) {
        /* full: drop the duplicates first (base layers shared by many images), so
         * that the set grows with the distinct digests, not with the references;
         * grow when that leaves less than a quarter free */
        mark_finish(m);
        if (m->n > m->cap / 4 * 3 || !m->cap) {
            size_t ncap = m->cap ? m->cap * 2 : 4096;
            gc_key_t *nk = realloc(m->keys, ncap * sizeof(*nk));
            if (!nk)
                return false;
            m->keys = nk;
            m->cap = ncap;
        }
    }
    gc_key(digest, len, &m->keys[m->n++]);
    return true;
}

static int key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(gc_key_t));
}

static void mark_finish(mark_set_t *m)
{
    if (!m->n)
        return;
    qsort(m->keys, m->n, sizeof(*m->keys), key_cmp);
    size_t w = 1;
    for (size_t i = 1; i < m->n; i++)
        if (memcmp(&m->keys[i], &m->keys[w - 1], sizeof(gc_key_t)) != 0)
            m->keys[w++] = m->keys[i];
    m->n = w;
}

static bool mark_has(const mark_set_t *m, const char *digest, size_t len)
{
    gc_key_t k;
    gc_key(digest, len, &k);
    return m->n && bsearch(&k, m->keys, m->n, sizeof(k), key_cmp) != NULL;
}

/* Adds what one manifest record references; false (err filled) when it cannot be read. */
static bool mark_manifest(mark_set_t *m, const MDB_val *k, const MDB_val *v, storage_err_t *err)
{
    const char *key = k->mv_data;
    const char *nul = memchr(key, '\0', k->mv_size);
    if (!nul) {
        store_err(err, STORAGE_IO, "a manifest record is damaged; nothing was collected");
        return false;
    }
    size_t dlen = k->mv_size - (size_t)(nul + 1 - key);
    store_manifest_view_t rec;
    if (!store_manifest_decode(v, &rec)) {
        store_err(err, STORAGE_IO, "the record of manifest %.*s in %s is damaged; nothing was collected", (int)dlen, nul + 1, key);
        return false;
    }
    oci_manifest_t man;
    oci_err_t oerr;
    if (oci_manifest_parse(rec.body, rec.body_len, rec.media_type, rec.media_type_len, &man, &oerr) != 0) {
        store_err(err, STORAGE_IO, "manifest %.*s in %s cannot be parsed, so what it references is unknown; nothing was collected",
                  (int)dlen, nul + 1, key);
        return false;
    }
    bool ok = mark_add(m, nul + 1, dlen);
    for (size_t i = 0; ok && i < man.nblobs; i++)
        ok = mark_add(m, man.blobs[i].digest.str, man.blobs[i].digest.len);
    for (size_t i = 0; ok && i < man.nmanifests; i++)
        ok = mark_add(m, man.manifests[i].digest.str, man.manifests[i].digest.len);
    oci_manifest_free(&man);
    if (!ok)
        store_err(err, STORAGE_NOMEM, "out of memory while marking; nothing was collected");
    return ok;
}

/* Positions cur at the first key after `last` (or the first key when last_len is 0). */
static int seek_after(MDB_cursor *cur, const char *last, size_t last_len, MDB_val *k, MDB_val *v)
{
    if (!last_len)
        return mdb_cursor_get(cur, k, v, MDB_FIRST);
    k->mv_size = last_len;
    k->mv_data = (void *)last;
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc == 0 && k->mv_size == last_len && memcmp(k->mv_data, last, last_len) == 0)
        rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
    return rc;
}

static bool stopped(const storage_gc_options_t *opt, storage_err_t *err)
{
    if (!opt->stop || !atomic_load(opt->stop))
        return false;
    store_err(err, STORAGE_CANCELLED, "the collection was stopped before it finished");
    return true;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread (the collector's own work, not its waits). */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The collector's pacing. Its work is its own CPU time (the mark's parsing,
 * the candidate search) plus the time its sweep ops hold the writer, which
 * every push waits behind; after each step it sleeps so that this work stays
 * within duty% of the time that passed. Waits (for a commit's sync, for the
 * CPU on a busy machine) are not work: counting them, as wall time did,
 * made the pace depend on everyone else's load rather than on its own. */
typedef struct {
    unsigned duty;
    uint64_t cpu0, writer0;
    uint64_t cpu_ns, writer_ns, slept_ns; /* totals, for the report */
} pacer_t;

/* writer_total: the run's writer time so far (0 in the mark, which uses no writer) */
static void pace(pacer_t *p, uint64_t writer_total)
{
    uint64_t cpu = thread_cpu_ns(), writer = writer_total;
    uint64_t worked = (cpu - p->cpu0) + (writer - p->writer0);
    p->cpu_ns += cpu - p->cpu0;
    p->writer_ns += writer - p->writer0;
    if (p->duty < 100) {
        uint64_t rest = worked * (100 - p->duty) / p->duty;
        if (rest > 1000000000u)
            rest = 1000000000u;
        struct timespec ts = {(time_t)(rest / 1000000000u), (long)(rest % 1000000000u)};
        nanosleep(&ts, NULL);
        p->slept_ns += rest;
    }
    p->cpu0 = thread_cpu_ns();
    p->writer0 = writer;
}

#define GC_KEY_MAX 512 /* LMDB's largest key is 511 bytes */

static storage_status_t mark(storage_t *st, const storage_gc_options_t *opt, mark_set_t *m, pacer_t *pc, storage_gc_report_t *rep,
                             storage_err_t *err)
{
    char last[GC_KEY_MAX];
    size_t last_len = 0;
    for (bool first = true;; first = false) {
        if (!first)
            pace(pc, 0);
        if (stopped(opt, err))
            return STORAGE_CANCELLED;
        storage_reader_t *rd = storage_reader_begin(st, err);
        if (!rd)
            return err ? err->status : STORAGE_IO;
        MDB_cursor *cur;
        int rc = mdb_cursor_open(rd->txn, st->dbi_manifests, &cur);
        MDB_val k, v;
        unsigned n = 0;
        if (rc == 0) {
            for (rc = seek_after(cur, last, last_len, &k, &v); rc == 0 && n < GC_MARK_PER_SNAPSHOT;
                 rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
                if (!mark_manifest(m, &k, &v, err)) {
                    mdb_cursor_close(cur);
                    storage_reader_end(rd);
                    return err ? err->status : STORAGE_IO;
                }
                rep->manifests++;
                if (k.mv_size > sizeof(last)) {
                    rc = MDB_CORRUPTED;
                    break;
                }
                memcpy(last, k.mv_data, k.mv_size);
                last_len = k.mv_size;
            }
            mdb_cursor_close(cur);
        }
        storage_reader_end(rd);
        if (rc == MDB_NOTFOUND)
            return STORAGE_OK;
        if (rc) {
            store_err(err, store_mdb_status(rc), "cannot read the manifests: %s; nothing was collected", mdb_strerror(rc));
            return store_mdb_status(rc);
        }
    }
}

/* ---- candidates -------------------------------------------------------------------- */

typedef struct gc_run gc_run_t;

typedef struct {
    storage_op_t op; /* op.digest names the blob, op.upload_id the upload */
    gc_run_t *run;
    bool is_upload;
    uint64_t size;
    bool in_file;
    bool deleted, saved;
} gc_cand_t;

struct gc_run {
    storage_t *st;
    uint64_t cutoff; /* candidates were last linked (or updated) at or before this second */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned pending;
    /* The writer's time on the sweep: from its first closure of a batch to
     * the batch's commit (its sync included: a batch's deletes dirty pages
     * of four tables, and every op sharing that commit waits for them).
     * Stamped on the writer, read by the collector after the batch's wait
     * (the lock orders the two). */
    uint64_t batch_t0, batch_t1;
    uint64_t writer_ns;
};

/* The newest link time of `digest` in any repository (0 when none); -1 on a read error. */
static int newest_link(storage_t *st, MDB_txn *txn, const char *digest, uint64_t *newest, bool *any)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->dbi_repos, &cur);
    if (rc)
        return rc;
    *newest = 0;
    *any = false;
    MDB_val rk, rv;
    char key[GC_KEY_MAX + OCI_DIGEST_MAX + 2];
    for (rc = mdb_cursor_get(cur, &rk, &rv, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &rk, &rv, MDB_NEXT)) {
        size_t dl = strlen(digest);
        if (rk.mv_size + 1 + dl > sizeof(key))
            continue;
        memcpy(key, rk.mv_data, rk.mv_size);
        key[rk.mv_size] = '\0';
        memcpy(key + rk.mv_size + 1, digest, dl);
        MDB_val lk = {rk.mv_size + 1 + dl, key}, lv;
        int g = mdb_get(txn, st->dbi_links, &lk, &lv);
        if (g == MDB_NOTFOUND)
            continue;
        if (g) {
            rc = g;
            break;
        }
        uint64_t t = 0;
        if (lv.mv_size == sizeof(t))
            memcpy(&t, lv.mv_data, sizeof(t));
        else
            t = UINT64_MAX; /* unreadable: treat as new */
        *any = true;
        if (t > *newest)
            *newest = t;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* One point lookup per repository (every link's repository has its key in
 * repos: store_link_put adds it, a repository's deletion takes both), not a
 * scan of every link: links are keyed by repository first. */
int store_links_delete(storage_t *st, MDB_txn *txn, const char *digest)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->dbi_repos, &cur);
    if (rc)
        return rc;
    MDB_val rk, rv;
    char key[GC_KEY_MAX + OCI_DIGEST_MAX + 2];
    size_t dl = strlen(digest);
    for (rc = mdb_cursor_get(cur, &rk, &rv, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &rk, &rv, MDB_NEXT)) {
        if (rk.mv_size + 1 + dl > sizeof(key))
            continue;
        memcpy(key, rk.mv_data, rk.mv_size);
        key[rk.mv_size] = '\0';
        memcpy(key + rk.mv_size + 1, digest, dl);
        MDB_val lk = {rk.mv_size + 1 + dl, key};
        int d = mdb_del(txn, st->dbi_links, &lk, NULL);
        if (d && d != MDB_NOTFOUND) {
            rc = d;
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Whether the blob in txn is garbage: unreferenced at the mark (the caller
 * checked), not noted since, and last linked at or before the cutoff. Links
 * are stamped in whole seconds; with grace 0 one stamped in the start second
 * was made before the collection began or was noted. */
static int blob_is_garbage(storage_t *st, MDB_txn *txn, const char *digest, uint64_t cutoff, const blob_rec_t *rec, bool *garbage)
{
    uint64_t newest;
    bool any;
    int rc = newest_link(st, txn, digest, &newest, &any);
    if (rc)
        return rc;
    *garbage = (any ? newest : rec->created) <= cutoff; /* anything newer than the start was noted */
    return 0;
}

/* The writer's half: re-check, then delete (records closure, writer thread). */
static storage_status_t sweep_blob_on_writer(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    gc_cand_t *c = ctx;
    storage_t *st = rs->st;
    gc_key_t k;
    gc_key(c->op.digest.str, c->op.digest.len, &k);
    if (st->gc_track && track_has(st->gc_track, &k)) {
        c->saved = true;
        return STORAGE_OK;
    }
    blob_rec_t rec;
    int rc = store_blob_get(st, rs->txn, c->op.digest.str, &rec);
    if (rc == MDB_NOTFOUND)
        return STORAGE_OK; /* gone already */
    bool garbage = false;
    if (!rc)
        rc = blob_is_garbage(st, rs->txn, c->op.digest.str, c->run->cutoff, &rec, &garbage);
    if (!rc && !garbage) {
        c->saved = true;
        return STORAGE_OK;
    }
    MDB_val bk = {c->op.digest.len, c->op.digest.str};
    if (!rc)
        rc = mdb_del(rs->txn, st->dbi_blobs, &bk, NULL);
    if (!rc && !(rec.flags & BLOB_IN_FILE))
        rc = store_chunks_delete(st, rs->txn, rec.id);
    if (!rc)
        rc = store_links_delete(st, rs->txn, c->op.digest.str);
    if (rc) {
        store_err(err, store_mdb_status(rc), "cannot collect blob %s: %s", c->op.digest.str, mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    if (rec.flags & BLOB_IN_FILE)
        c->op.after_ |= AFTER_UNLINK_BLOB; /* after the commit, once no older snapshot lives (files.c) */
    c->deleted = true;
    c->in_file = rec.flags & BLOB_IN_FILE;
    c->size = rec.size;
    return STORAGE_OK;
}

static bool upload_busy(storage_t *st, const char *id)
{
    pthread_mutex_lock(&st->files.lock);
    bool busy = false;
    for (struct store_name *e = st->files.busy; e && !busy; e = e->next)
        busy = strcmp(e->name, id) == 0;
    pthread_mutex_unlock(&st->files.lock);
    return busy;
}

static storage_status_t sweep_upload_on_writer(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    gc_cand_t *c = ctx;
    storage_t *st = rs->st;
    session_t s;
    int rc = store_session_get(st, rs->txn, c->op.upload_id, &s);
    if (rc == MDB_NOTFOUND || rc == MDB_CORRUPTED)
        return STORAGE_OK; /* gone, or damaged: its next request reports that */
    if (!rc && (s.updated > c->run->cutoff || upload_busy(st, c->op.upload_id))) {
        c->saved = true;
        return STORAGE_OK;
    }
    MDB_val k = {strlen(c->op.upload_id), c->op.upload_id};
    if (!rc && !(s.flags & SESSION_IN_FILE))
        rc = store_chunks_delete(st, rs->txn, s.blob_id);
    if (!rc)
        rc = mdb_del(rs->txn, st->dbi_uploads, &k, NULL);
    if (rc) {
        store_err(err, store_mdb_status(rc), "cannot abort upload %s: %s", c->op.upload_id, mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    if (s.flags & SESSION_IN_FILE)
        c->op.after_ |= AFTER_UNLINK_UPLOAD;
    c->deleted = true;
    c->in_file = s.flags & SESSION_IN_FILE;
    c->size = s.offset;
    return STORAGE_OK;
}

/* The closures, timed: what the sweep costs the writer is what paces it. */
static storage_status_t sweep_timed(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    gc_cand_t *c = ctx;
    if (!c->run->batch_t0) /* the writer thread only */
        c->run->batch_t0 = now_ns();
    return c->is_upload ? sweep_upload_on_writer(rs, ctx, err) : sweep_blob_on_writer(rs, ctx, err);
}

static void cand_done(storage_op_t *op)
{
    gc_cand_t *c = op->user;
    gc_run_t *r = c->run;
    pthread_mutex_lock(&r->lock);
    r->batch_t1 = now_ns(); /* after the commit: the last op's is the batch's end */
    r->pending--;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

/* Submits the batch together (one transaction, one sync) and waits. */
/* A candidate collected (or, in a dry run, that would be) in the report. */
static void count_one(const gc_cand_t *c, storage_gc_report_t *rep)
{
    if (c->is_upload) {
        rep->uploads_aborted++;
        rep->upload_bytes += c->size;
    } else if (c->in_file) {
        rep->blobs_file++;
        rep->bytes_file += c->size;
    } else {
        rep->blobs_lmdb++;
        rep->bytes_lmdb += c->size;
    }
}

static storage_status_t sweep_batch(gc_run_t *r, gc_cand_t *c, size_t n, storage_gc_report_t *rep, storage_err_t *err)
{
    pthread_mutex_lock(&r->lock);
    r->pending = (unsigned)n;
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < n; i++) {
        c[i].run = r;
        c[i].op.kind = STORAGE_OP_RECORDS;
        c[i].op.records_fn = sweep_timed;
        c[i].op.records_ctx = &c[i];
        c[i].op.done = cand_done;
        c[i].op.user = &c[i];
        storage_submit(r->st, &c[i].op);
    }
    pthread_mutex_lock(&r->lock);
    while (r->pending)
        pthread_cond_wait(&r->cond, &r->lock);
    if (r->batch_t0 && r->batch_t1 > r->batch_t0)
        r->writer_ns += r->batch_t1 - r->batch_t0;
    r->batch_t0 = r->batch_t1 = 0;
    pthread_mutex_unlock(&r->lock);
    storage_status_t worst = STORAGE_OK;
    for (size_t i = 0; i < n; i++) {
        if (c[i].op.status != STORAGE_OK) {
            if (worst == STORAGE_OK && err)
                *err = c[i].op.err;
            if (worst == STORAGE_OK)
                worst = c[i].op.status;
            continue;
        }
        if (c[i].saved)
            rep->blobs_saved += !c[i].is_upload;
        if (!c[i].deleted)
            continue;
        count_one(&c[i], rep);
    }
    return worst;
}

/* Finds up to GC_SWEEP_BATCH blob candidates after `last`, in a fresh snapshot. */
/* The next candidate of a batch, cleared, its op ready for the sweep. */
static gc_cand_t *next_cand(gc_cand_t *c, size_t *n)
{
    gc_cand_t *x = &c[(*n)++];
    memset(x, 0, sizeof(*x));
    storage_op_init(&x->op, STORAGE_OP_RECORDS);
    return x;
}

/* Ends a batch's snapshot: MDB_NOTFOUND is the end of the table (*end),
 * another failure names what was being read. */
static storage_status_t batch_end(storage_reader_t *rd, int rc, const char *what, bool *end, storage_err_t *err)
{
    storage_reader_end(rd);
    if (rc == MDB_NOTFOUND) {
        *end = true;
        return STORAGE_OK;
    }
    if (rc) {
        store_err(err, store_mdb_status(rc), "cannot read the %s: %s", what, mdb_strerror(rc));
        return store_mdb_status(rc);
    }
    return STORAGE_OK;
}

static storage_status_t find_blobs(storage_t *st, const mark_set_t *m, uint64_t cutoff, char *last, size_t *last_len, gc_cand_t *c,
                                   size_t *n, bool *end, storage_gc_report_t *rep, storage_err_t *err)
{
    *n = 0;
    *end = false;
    storage_reader_t *rd = storage_reader_begin(st, err);
    if (!rd)
        return err ? err->status : STORAGE_IO;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(rd->txn, st->dbi_blobs, &cur);
    MDB_val k, v;
    unsigned looked = 0;
    if (rc == 0) {
        for (rc = seek_after(cur, last, *last_len, &k, &v); rc == 0 && *n < GC_SWEEP_BATCH && looked < GC_SCAN_PER_SNAPSHOT;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            looked++;
            rep->blobs_scanned++;
            if (k.mv_size >= OCI_DIGEST_MAX || v.mv_size != sizeof(blob_rec_t)) {
                rc = MDB_CORRUPTED;
                break;
            }
            memcpy(last, k.mv_data, k.mv_size);
            *last_len = k.mv_size;
            if (mark_has(m, k.mv_data, k.mv_size))
                continue;
            char digest[OCI_DIGEST_MAX];
            memcpy(digest, k.mv_data, k.mv_size);
            digest[k.mv_size] = '\0';
            blob_rec_t rec;
            memcpy(&rec, v.mv_data, sizeof(rec));
            bool garbage;
            if ((rc = blob_is_garbage(st, rd->txn, digest, cutoff, &rec, &garbage)) != 0)
                break;
            if (!garbage)
                continue;
            gc_cand_t *x = next_cand(c, n);
            memcpy(x->op.digest.str, digest, k.mv_size + 1);
            x->op.digest.len = k.mv_size;
            x->op.digest.alg = strncmp(digest, "sha512:", 7) == 0 ? OCI_ALG_SHA512 : OCI_ALG_SHA256;
            x->size = rec.size;
            x->in_file = rec.flags & BLOB_IN_FILE;
        }
        mdb_cursor_close(cur);
    }
    return batch_end(rd, rc, "blob records", end, err);
}

static storage_status_t find_uploads(storage_t *st, uint64_t cutoff, char *last, size_t *last_len, gc_cand_t *c, size_t *n,
                                     bool *end, storage_err_t *err)
{
    *n = 0;
    *end = false;
    storage_reader_t *rd = storage_reader_begin(st, err);
    if (!rd)
        return err ? err->status : STORAGE_IO;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(rd->txn, st->dbi_uploads, &cur);
    MDB_val k, v;
    if (rc == 0) {
        for (rc = seek_after(cur, last, *last_len, &k, &v); rc == 0 && *n < GC_SWEEP_BATCH;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size > STORAGE_UPLOAD_ID_LEN)
                continue; /* not an upload id: never ours to remove */
            memcpy(last, k.mv_data, k.mv_size);
            *last_len = k.mv_size;
            session_t s;
            if (!session_decode(v.mv_data, v.mv_size, &s) || s.updated > cutoff)
                continue;
            gc_cand_t *x = next_cand(c, n);
            memcpy(x->op.upload_id, k.mv_data, k.mv_size);
            x->op.upload_id[k.mv_size] = '\0';
            x->is_upload = true;
            x->size = s.offset;
            x->in_file = s.flags & SESSION_IN_FILE;
        }
        mdb_cursor_close(cur);
    }
    return batch_end(rd, rc, "uploads", end, err);
}

static void count_dry(const gc_cand_t *c, size_t n, storage_gc_report_t *rep)
{
    for (size_t i = 0; i < n; i++) {
        count_one(&c[i], rep);
    }
}

static storage_status_t sweep_all(gc_run_t *r, const mark_set_t *m, const storage_gc_options_t *opt, pacer_t *pc,
                                  storage_gc_report_t *rep, storage_err_t *err)
{
    gc_cand_t *c = calloc(GC_SWEEP_BATCH, sizeof(*c));
    if (!c) {
        store_err(err, STORAGE_NOMEM, "out of memory");
        return STORAGE_NOMEM;
    }
    char last[GC_KEY_MAX];
    size_t last_len = 0, n;
    bool end = false;
    storage_status_t s = STORAGE_OK;
    for (int pass = 0; pass < 2 && s == STORAGE_OK; pass++) {
        last_len = 0;
        end = false;
        while (!end && s == STORAGE_OK) {
            if (stopped(opt, err)) {
                s = STORAGE_CANCELLED;
                break;
            }
            s = pass == 0 ? find_blobs(r->st, m, r->cutoff, last, &last_len, c, &n, &end, rep, err)
                          : find_uploads(r->st, r->cutoff, last, &last_len, c, &n, &end, err);
            if (s == STORAGE_OK && n && opt->dry_run)
                count_dry(c, n, rep);
            else if (s == STORAGE_OK && n)
                s = sweep_batch(r, c, n, rep, err);
            if (s == STORAGE_OK && !end)
                pace(pc, r->writer_ns); /* also after a snapshot that found nothing: scanning is work */
        }
    }
    free(c);
    return s;
}

storage_status_t storage_gc_run(storage_t *st, const storage_gc_options_t *opt, storage_gc_report_t *out, storage_err_t *err)
{
    storage_gc_options_t defaults = {.grace_seconds = STORAGE_GC_DEFAULT_GRACE_SECONDS};
    if (!opt)
        opt = &defaults;
    memset(out, 0, sizeof(*out));
    out->dry_run = opt->dry_run;
    if (opt->duty_pct > 100) {
        store_err(err, STORAGE_INVALID, "duty_pct %u is over 100", opt->duty_pct);
        return STORAGE_INVALID;
    }
    pacer_t pc = {.duty = opt->duty_pct ? opt->duty_pct : GC_DEFAULT_DUTY_PCT, .cpu0 = thread_cpu_ns()};
    bool was = false;
    if (!atomic_compare_exchange_strong(&st->gc_running, &was, true)) {
        store_err(err, STORAGE_EXISTS, "a garbage collection is already running; try again when it has finished");
        return STORAGE_EXISTS;
    }
    uint64_t t0 = now_ns();
    uint64_t now = store_now();
    gc_run_t r = {.st = st, .cutoff = now > opt->grace_seconds ? now - opt->grace_seconds : 0};
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.cond, NULL);
    struct store_gc_track *track = calloc(1, sizeof(*track));
    mark_set_t m = {0};
    storage_status_t s;
    if (!track) {
        store_err(err, STORAGE_NOMEM, "out of memory");
        s = STORAGE_NOMEM;
        goto out;
    }
    if ((s = on_writer(st, track_on, track, err)) != STORAGE_OK)
        goto out;
    s = mark(st, opt, &m, &pc, out, err);
    if (s == STORAGE_OK && stopped(opt, err))
        s = STORAGE_CANCELLED;
    if (s == STORAGE_OK) {
        mark_finish(&m);
        out->referenced = m.n;
        if (opt->after_mark)
            opt->after_mark(opt->after_mark_ctx);
        s = sweep_all(&r, &m, opt, &pc, out, err);
    }
    storage_err_t off_err;
    if (on_writer(st, track_off, NULL, &off_err) != STORAGE_OK) {
        /* the writer may still note into the set: it must outlive the store (a small leak, never a
         * use after free); only a store that cannot begin a transaction gets here */
        track = NULL;
    }
out:
    if (track)
        free(track->slots);
    free(track);
    free(m.keys);
    pthread_mutex_destroy(&r.lock);
    pthread_cond_destroy(&r.cond);
    pc.cpu_ns += thread_cpu_ns() - pc.cpu0;
    out->cpu_ms = pc.cpu_ns / 1000000u;
    out->writer_ms = r.writer_ns / 1000000u;
    out->paced_ms = pc.slept_ns / 1000000u;
    out->duration_ms = (now_ns() - t0) / 1000000u;
    atomic_store(&st->gc_running, false);
    return s;
}
