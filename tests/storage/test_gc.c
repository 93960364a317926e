/* Online garbage collection: reachability, grace period, abandoned uploads,
 * changes during a collection, dry runs, both tiers, races and churn. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage_internal.h"
#include "tests/storage/helpers.h"

TEST_STORE_SUITE(gc);

#define MIB ((size_t)1 << 20)
#define CONFIG_MT "application/vnd.oci.image.config.v1+json"
#define LAYER_MT "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMAGE_MT "application/vnd.oci.image.manifest.v1+json"
#define INDEX_MT "application/vnd.oci.image.index.v1+json"

/* Stores a blob in repo with one monolithic put (the way most pushes end). */
static storage_status_t put_blob_in(storage_t *s, const char *repo, const void *data, size_t len, oci_digest_t *d)
{
    test_digest(data, len, d);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_BLOB_PUT);
    snprintf(op.repo, sizeof(op.repo), "%s", repo);
    op.digest = *d;
    op.data = data;
    op.len = len;
    return storage_execute(s, &op);
}

static oci_digest_t put_blob(const char *repo, const char *text)
{
    oci_digest_t d;
    cr_assert_eq(put_blob_in(st, repo, text, strlen(text), &d), STORAGE_OK);
    return d;
}

/* Puts a manifest body (parsed as a client's would be); its digest in *out. */
static storage_status_t put_manifest_in(storage_t *s, const char *repo, const char *tag, const char *body, oci_digest_t *out)
{
    oci_manifest_t m;
    oci_err_t oerr;
    cr_assert_eq(oci_manifest_parse(body, strlen(body), NULL, 0, &m, &oerr), OCI_OK, "%s", body);
    storage_status_t r = test_put_manifest(s, repo, tag, body, &m, out);
    oci_manifest_free(&m);
    return r;
}

/* An image manifest body with a config and n layers (digests and sizes). */
static void image_body(char *buf, size_t cap, const oci_digest_t *config, size_t config_size, const oci_digest_t *layers,
                       const size_t *sizes, size_t n, const oci_digest_t *subject)
{
    int w = snprintf(buf, cap,
                     "{\"schemaVersion\":2,\"mediaType\":\"" IMAGE_MT "\",\"config\":{\"mediaType\":\"" CONFIG_MT
                     "\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[",
                     config->str, config_size);
    for (size_t i = 0; i < n; i++)
        w += snprintf(buf + w, cap - (size_t)w, "%s{\"mediaType\":\"" LAYER_MT "\",\"digest\":\"%s\",\"size\":%zu}", i ? "," : "",
                      layers[i].str, sizes[i]);
    w += snprintf(buf + w, cap - (size_t)w, "]");
    if (subject) /* a referrer of an image manifest of 2 bytes' size is enough for the store */
        w += snprintf(buf + w, cap - (size_t)w, ",\"subject\":{\"mediaType\":\"" IMAGE_MT "\",\"digest\":\"%s\",\"size\":1}",
                      subject->str);
    snprintf(buf + w, cap - (size_t)w, "}");
}

/* An image of one config and one layer, both given as text. */
static oci_digest_t push_image(const char *repo, const char *tag, const char *config, const char *layer,
                               const oci_digest_t *subject)
{
    oci_digest_t c = put_blob(repo, config), l = put_blob(repo, layer), d;
    size_t ls = strlen(layer);
    char body[2048];
    image_body(body, sizeof(body), &c, strlen(config), &l, &ls, 1, subject);
    cr_assert_eq(put_manifest_in(st, repo, tag, body, &d), STORAGE_OK);
    return d;
}

static bool blob_exists(const oci_digest_t *d)
{
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    cr_assert_not_null(rd);
    storage_blob_t b;
    storage_status_t s = storage_blob_stat(rd, NULL, d, &b, &err);
    storage_reader_end(rd);
    return s == STORAGE_OK;
}

static bool readable_in(const char *repo, const oci_digest_t *d)
{
    size_t len;
    char *p = test_read_blob(st, repo, d, &len);
    if (!p)
        return false;
    oci_digest_t got;
    test_digest(p, len, &got);
    free(p);
    return strcmp(got.str, d->str) == 0;
}

static storage_status_t del_manifest(const char *repo, const oci_digest_t *d)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_MANIFEST_DELETE);
    snprintf(op.repo, sizeof(op.repo), "%s", repo);
    op.reference.is_digest = true;
    op.reference.digest = *d;
    return storage_execute(st, &op);
}

static storage_gc_report_t collect(uint64_t grace, bool dry)
{
    storage_gc_options_t o = {.grace_seconds = grace, .dry_run = dry, .duty_pct = 100};
    storage_gc_report_t r;
    storage_err_t err = {0};
    cr_assert_eq(storage_gc_run(st, &o, &r, &err), STORAGE_OK, "%s", err.msg);
    return r;
}

static size_t count_files(const char *sub)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "find '%s' -type f 2>/dev/null | wc -l", path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = 0;
    cr_assert_eq(fscanf(p, "%zu", &n), 1);
    pclose(p);
    return n;
}

/* Unlinks run on a file thread after the commit: wait for them a little. */
static size_t files_soon(const char *sub, size_t want)
{
    size_t n = count_files(sub);
    for (int i = 0; i < 400 && n != want; i++) {
        usleep(5000);
        n = count_files(sub);
    }
    return n;
}

Test(gc, an_empty_store_collects_nothing)
{
    storage_gc_report_t r = collect(0, false);
    cr_assert_eq(r.manifests, 0);
    cr_assert_eq(r.blobs_lmdb + r.blobs_file + r.uploads_aborted, 0);
}

Test(gc, referenced_blobs_stay_and_unreferenced_ones_go)
{
    oci_digest_t shared = put_blob("a", "shared layer");
    (void)put_blob("b", "shared layer");
    oci_digest_t img_a = push_image("a", "1", "{\"a\":1}", "shared layer", NULL);
    oci_digest_t img_b = push_image("b", "1", "{\"b\":1}", "shared layer", NULL);
    oci_digest_t cfg_b, lay_b = put_blob("b", "b only");
    {
        char body[2048];
        cfg_b = put_blob("b", "{\"b\":2}");
        size_t ls = 6;
        image_body(body, sizeof(body), &cfg_b, 7, &lay_b, &ls, 1, NULL);
        oci_digest_t d;
        cr_assert_eq(put_manifest_in(st, "b", "2", body, &d), STORAGE_OK);
        cr_assert_eq(del_manifest("b", &d), STORAGE_OK);
    }
    oci_digest_t stray = put_blob("a", "never referenced");
    storage_gc_report_t r = collect(0, false);
    cr_assert_eq(r.manifests, 2);
    cr_assert_eq(r.blobs_lmdb, 3, "b's deleted image (config, layer) and the stray blob: %llu", (unsigned long long)r.blobs_lmdb);
    cr_assert_eq(r.bytes_lmdb, 7 + 6 + strlen("never referenced"));
    cr_assert_not(blob_exists(&stray));
    cr_assert_not(blob_exists(&cfg_b));
    cr_assert_not(blob_exists(&lay_b));
    cr_assert(readable_in("a", &shared));
    cr_assert(readable_in("b", &shared));
    /* b's image goes: the layer a still uses stays (and its link in b with it) */
    cr_assert_eq(del_manifest("b", &img_b), STORAGE_OK);
    r = collect(0, false);
    cr_assert_eq(r.blobs_lmdb, 1, "only b's config");
    cr_assert(readable_in("a", &shared));
    cr_assert_eq(del_manifest("a", &img_a), STORAGE_OK);
    r = collect(0, false);
    cr_assert_eq(r.blobs_lmdb, 2, "a's config and the shared layer, now unused");
    cr_assert_not(blob_exists(&shared));
    cr_assert_not(readable_in("b", &shared), "its links went with it");
}

Test(gc, an_index_keeps_its_children_and_their_blobs)
{
    oci_digest_t cfg = put_blob("multi", "{\"arch\":\"arm64\"}"), layer = put_blob("multi", "arm64 layer");
    size_t ls = strlen("arm64 layer");
    char child[2048], index[2048];
    image_body(child, sizeof(child), &cfg, strlen("{\"arch\":\"arm64\"}"), &layer, &ls, 1, NULL);
    oci_digest_t child_d, index_d;
    cr_assert_eq(put_manifest_in(st, "multi", NULL, child, &child_d), STORAGE_OK);
    snprintf(index, sizeof(index),
             "{\"schemaVersion\":2,\"mediaType\":\"" INDEX_MT "\",\"manifests\":[{\"mediaType\":\"" IMAGE_MT
             "\",\"digest\":\"%s\",\"size\":%zu}]}",
             child_d.str, strlen(child));
    cr_assert_eq(put_manifest_in(st, "multi", "latest", index, &index_d), STORAGE_OK);
    /* a blob with a manifest's own digest (some clients push manifests as blobs too) is kept */
    oci_digest_t as_blob = put_blob("multi", index);
    cr_assert_str_eq(as_blob.str, index_d.str);
    storage_gc_report_t r = collect(0, false);
    cr_assert_eq(r.manifests, 2);
    cr_assert_eq(r.blobs_lmdb + r.blobs_file, 0);
    cr_assert(readable_in("multi", &cfg));
    cr_assert(readable_in("multi", &layer));
    cr_assert(readable_in("multi", &as_blob));
}

Test(gc, a_subject_does_not_keep_its_referrer_but_a_referrer_keeps_its_blobs)
{
    oci_digest_t img = push_image("sig", "v1", "{\"img\":1}", "image layer", NULL);
    oci_digest_t sig_cfg = put_blob("sig", "{\"sig\":1}");
    oci_digest_t sig_layer = put_blob("sig", "signature bytes");
    size_t ls = strlen("signature bytes");
    char body[2048];
    image_body(body, sizeof(body), &sig_cfg, strlen("{\"sig\":1}"), &sig_layer, &ls, 1, &img);
    oci_digest_t ref;
    cr_assert_eq(put_manifest_in(st, "sig", NULL, body, &ref), STORAGE_OK);
    cr_assert_eq(del_manifest("sig", &img), STORAGE_OK);
    storage_gc_report_t r = collect(0, false);
    cr_assert_eq(r.blobs_lmdb, 2, "the image's config and layer go although a referrer names it as subject");
    cr_assert(readable_in("sig", &sig_cfg));
    cr_assert(readable_in("sig", &sig_layer));
}

Test(gc, the_grace_period_protects_recent_blobs)
{
    oci_digest_t d = put_blob("g", "pushed, manifest not yet");
    storage_gc_report_t r = collect(3600, false);
    cr_assert_eq(r.blobs_lmdb, 0);
    cr_assert(blob_exists(&d));
    /* links are stamped in seconds: one later, a grace of 1 s has passed */
    sleep(2);
    r = collect(1, false);
    cr_assert_eq(r.blobs_lmdb, 1);
    cr_assert_not(blob_exists(&d));
}

Test(gc, a_dry_run_reports_the_same_and_deletes_nothing)
{
    unsigned char *big = malloc(2 * MIB);
    memset(big, 'x', 2 * MIB);
    oci_digest_t bd, sd = put_blob("dry", "small garbage");
    cr_assert_eq(put_blob_in(st, "dry", big, 2 * MIB, &bd), STORAGE_OK);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_BEGIN);
    strcpy(op.repo, "dry");
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK);
    storage_gc_report_t dry = collect(0, true);
    cr_assert(dry.dry_run);
    cr_assert_eq(dry.blobs_lmdb, 1);
    cr_assert_eq(dry.bytes_lmdb, strlen("small garbage"));
    cr_assert_eq(dry.blobs_file, 1);
    cr_assert_eq(dry.bytes_file, 2 * MIB);
    cr_assert_eq(dry.uploads_aborted, 1);
    cr_assert(blob_exists(&sd));
    cr_assert(blob_exists(&bd));
    storage_gc_report_t real = collect(0, false);
    cr_assert_not(real.dry_run);
    cr_assert_eq(real.blobs_lmdb, dry.blobs_lmdb);
    cr_assert_eq(real.bytes_lmdb, dry.bytes_lmdb);
    cr_assert_eq(real.blobs_file, dry.blobs_file);
    cr_assert_eq(real.bytes_file, dry.bytes_file);
    cr_assert_eq(real.uploads_aborted, dry.uploads_aborted);
    cr_assert_not(blob_exists(&sd));
    cr_assert_not(blob_exists(&bd));
    free(big);
}

Test(gc, both_tiers_give_their_space_back)
{
    unsigned char *big = malloc(3 * MIB);
    memset(big, 'b', 3 * MIB);
    oci_digest_t bd, sd;
    cr_assert_eq(put_blob_in(st, "tiers", big, 3 * MIB, &bd), STORAGE_OK);
    char small[4096];
    memset(small, 's', sizeof(small));
    cr_assert_eq(put_blob_in(st, "tiers", small, sizeof(small), &sd), STORAGE_OK);
    cr_assert_eq(count_files("blobs"), 1);
    size_t chunks = test_count_chunks(st);
    cr_assert_geq(chunks, 1);
    storage_gc_report_t r = collect(0, false);
    cr_assert_eq(r.blobs_file, 1);
    cr_assert_eq(r.bytes_file, 3 * MIB);
    cr_assert_eq(r.blobs_lmdb, 1);
    cr_assert_eq(r.bytes_lmdb, sizeof(small));
    cr_assert_eq(test_count_chunks(st), chunks - 1);
    cr_assert_eq(files_soon("blobs", 0), 0, "the big blob's file is unlinked");
    /* and the digest can be pushed again */
    cr_assert_eq(put_blob_in(st, "tiers", big, 3 * MIB, &bd), STORAGE_OK);
    cr_assert(readable_in("tiers", &bd));
    free(big);
}

Test(gc, a_reader_keeps_reading_a_collected_file_blob)
{
    size_t n = 4 * MIB;
    unsigned char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i * 7);
    oci_digest_t d;
    cr_assert_eq(put_blob_in(st, "serve", big, n, &d), STORAGE_OK);
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    storage_blob_t b;
    cr_assert_eq(storage_blob_stat(rd, "serve", &d, &b, &err), STORAGE_OK);
    storage_reader_release(rd);
    storage_gc_report_t r = collect(0, false);
    cr_assert_eq(r.blobs_file, 1);
    cr_assert_eq(storage_reader_refresh(rd, &err), STORAGE_OK);
    for (uint64_t pos = 0; pos < n;) {
        const void *p;
        size_t len;
        cr_assert_eq(storage_blob_read(rd, &b, pos, &p, &len, &err), STORAGE_OK, "%s", err.msg);
        cr_assert_eq(memcmp(p, big + pos, len), 0);
        pos += len;
    }
    storage_reader_end(rd);
    cr_assert_eq(files_soon("blobs", 0), 0);
    free(big);
}

static storage_status_t begin_upload(const char *repo, char id[STORAGE_UPLOAD_ID_LEN + 1])
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_BEGIN);
    strcpy(op.repo, repo);
    storage_status_t s = storage_execute(st, &op);
    memcpy(id, op.upload_id, STORAGE_UPLOAD_ID_LEN + 1);
    return s;
}

static storage_status_t append(const char *repo, const char *id, const void *data, size_t len)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_APPEND);
    strcpy(op.repo, repo);
    strcpy(op.upload_id, id);
    op.data = data;
    op.len = len;
    return storage_execute(st, &op);
}

static storage_status_t upload_stat(const char *id)
{
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    storage_upload_t u;
    storage_status_t s = storage_upload_stat(rd, id, &u, &err);
    storage_reader_end(rd);
    return s;
}

Test(gc, abandoned_uploads_are_aborted_after_the_grace_period)
{
    char small_id[STORAGE_UPLOAD_ID_LEN + 1], big_id[STORAGE_UPLOAD_ID_LEN + 1];
    cr_assert_eq(begin_upload("up", small_id), STORAGE_OK);
    cr_assert_eq(append("up", small_id, "a few bytes", 11), STORAGE_OK);
    cr_assert_eq(begin_upload("up", big_id), STORAGE_OK);
    unsigned char *big = malloc(2 * MIB);
    memset(big, 'u', 2 * MIB);
    cr_assert_eq(append("up", big_id, big, 2 * MIB), STORAGE_OK);
    cr_assert_eq(count_files("uploads"), 1);
    size_t chunks = test_count_chunks(st);
    storage_gc_report_t r = collect(3600, false);
    cr_assert_eq(r.uploads_aborted, 0);
    cr_assert_eq(upload_stat(small_id), STORAGE_OK);
    r = collect(0, false);
    cr_assert_eq(r.uploads_aborted, 2);
    cr_assert_eq(r.upload_bytes, 11 + 2 * MIB);
    cr_assert_eq(upload_stat(small_id), STORAGE_NOT_FOUND);
    cr_assert_eq(upload_stat(big_id), STORAGE_NOT_FOUND);
    cr_assert_eq(test_count_chunks(st), chunks - 1);
    cr_assert_eq(files_soon("uploads", 0), 0, "the big upload's file goes");
    cr_assert_eq(append("up", small_id, "more", 4), STORAGE_NOT_FOUND);
    free(big);
}

/* During a collection, after its mark: a manifest that uses an old, unreferenced blob. */
typedef struct {
    oci_digest_t cfg, layer, manifest;
    storage_status_t put;
} late_t;

static void push_late_manifest(void *ctx)
{
    late_t *l = ctx;
    size_t ls = strlen("old layer");
    char body[2048];
    image_body(body, sizeof(body), &l->cfg, strlen("{\"late\":1}"), &l->layer, &ls, 1, NULL);
    l->put = put_manifest_in(st, "late", "v1", body, &l->manifest);
}

Test(gc, a_manifest_committed_during_a_collection_keeps_its_blobs)
{
    late_t l = {.cfg = put_blob("late", "{\"late\":1}"), .layer = put_blob("late", "old layer")};
    oci_digest_t other = put_blob("late", "really garbage");
    sleep(1); /* the links are older than the start */
    storage_gc_options_t o = {.grace_seconds = 0, .duty_pct = 100, .after_mark = push_late_manifest, .after_mark_ctx = &l};
    storage_gc_report_t r;
    storage_err_t err;
    cr_assert_eq(storage_gc_run(st, &o, &r, &err), STORAGE_OK, "%s", err.msg);
    cr_assert_eq(l.put, STORAGE_OK);
    cr_assert_eq(r.manifests, 0, "the mark saw no manifest");
    cr_assert_eq(r.blobs_saved, 2, "both the config and the layer were saved by the re-check");
    cr_assert_eq(r.blobs_lmdb, 1);
    cr_assert(readable_in("late", &l.cfg));
    cr_assert(readable_in("late", &l.layer));
    cr_assert_not(blob_exists(&other));
    r = collect(0, false);
    cr_assert_eq(r.blobs_lmdb, 0, "the next mark sees the manifest");
}

static void nested_run(void *ctx)
{
    storage_status_t *s = ctx;
    storage_gc_report_t r;
    storage_err_t err;
    *s = storage_gc_run(st, NULL, &r, &err);
}

static void verify_image(const char *repo, const oci_digest_t *md);

/* The mark set drops duplicates whenever it fills (4,096 keys at first):
 * one image in 3,000 repositories is 12,000 references to 4 digests. */
Test(gc, an_image_in_many_repositories_is_marked_once_and_kept)
{
    oci_digest_t md = push_image("shared", "v1", "{\"config\":\"shared\"}", "shared layer", NULL);
    oci_digest_t garbage = put_blob("shared", "garbage");
    /* its record copied past the API into other repositories (links are not read by the mark) */
    MDB_txn *txn;
    cr_assert_eq(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    char key[128];
    MDB_val k = {store_key2(key, sizeof(key), "shared", md.str), key}, v;
    cr_assert_eq(mdb_get(txn, st->dbi_manifests, &k, &v), 0);
    void *val = malloc(v.mv_size);
    cr_assert_not_null(val);
    memcpy(val, v.mv_data, v.mv_size);
    MDB_val copy = {v.mv_size, val};
    for (unsigned i = 0; i < 3000; i++) {
        char repo[32];
        snprintf(repo, sizeof(repo), "copy/%u", i);
        MDB_val ck = {store_key2(key, sizeof(key), repo, md.str), key};
        cr_assert_eq(mdb_put(txn, st->dbi_manifests, &ck, &copy, 0), 0);
    }
    cr_assert_eq(mdb_txn_commit(txn), 0);
    free(val);
    storage_gc_report_t r = collect(0, false);
    cr_assert_eq(r.manifests, 3001);
    cr_assert_eq(r.referenced, 3, "the manifest, its config and its layer");
    cr_assert_eq(r.blobs_lmdb, 1);
    cr_assert_not(blob_exists(&garbage));
    verify_image("shared", &md);
}

/* ---- a completion that finds its digest stored, while the collector removes it ---- */

/* Holds the writer inside a transaction until released, so that the test
 * can line up the ops queued behind it. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool entered, released, collector_done;
    storage_op_t op;
    storage_gc_report_t rep;
    storage_status_t status;
    storage_err_t err;
} writer_gate_t;

static storage_status_t gate_hold(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    (void)rs, (void)err;
    writer_gate_t *g = ctx;
    pthread_mutex_lock(&g->lock);
    g->entered = true;
    pthread_cond_broadcast(&g->cond);
    while (!g->released)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    return STORAGE_OK;
}

static void gate_op_done(storage_op_t *op)
{
    (void)op;
}

/* The collector's after_mark: the writer is held before any candidate is swept. */
static void gate_close(void *ctx)
{
    writer_gate_t *g = ctx;
    storage_op_init(&g->op, STORAGE_OP_RECORDS);
    g->op.records_fn = gate_hold;
    g->op.records_ctx = g;
    g->op.done = gate_op_done;
    storage_submit(st, &g->op);
    pthread_mutex_lock(&g->lock);
    while (!g->entered)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void *gate_collector(void *arg)
{
    writer_gate_t *g = arg;
    storage_gc_options_t o = {.grace_seconds = 0, .duty_pct = 100, .after_mark = gate_close, .after_mark_ctx = g};
    g->status = storage_gc_run(st, &o, &g->rep, &g->err);
    return NULL;
}

/* Ops waiting for the writer (behind the one it runs). */
static unsigned writer_queued(void)
{
    pthread_mutex_lock(&st->lock);
    unsigned n = 0;
    for (storage_op_t *op = st->head; op; op = op->next_)
        n++;
    pthread_mutex_unlock(&st->lock);
    return n;
}

/* Waits up to 30 s (a loaded machine, a sanitizer build) for want ops in the writer's queue. */
static bool wait_queued(unsigned want)
{
    for (int i = 0; i < 30000; i++) {
        if (writer_queued() >= want)
            return true;
        usleep(1000);
    }
    return false;
}

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
} op_wait_t;

static void op_wait_done(storage_op_t *op)
{
    op_wait_t *w = op->user;
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* A big blob X, linked in "a" only and referenced by nothing, is a
 * candidate; the collector's delete of X is queued for the writer; then op
 * (a completion of X's bytes in "b") is submitted: its file thread still
 * sees X stored, and its commit reaches the writer after the delete. */
static void complete_while_collected(storage_op_t *op, const oci_digest_t *x)
{
    writer_gate_t g = {.status = STORAGE_OK};
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.cond, NULL);
    pthread_t gct;
    cr_assert_eq(pthread_create(&gct, NULL, gate_collector, &g), 0);
    /* the writer runs the gate (before it, the collector's own first op may be
     * queued); then the collector's batch waits behind it */
    pthread_mutex_lock(&g.lock);
    while (!g.entered)
        pthread_cond_wait(&g.cond, &g.lock);
    pthread_mutex_unlock(&g.lock);
    cr_assert(wait_queued(1), "the collector queued its batch");
    op_wait_t w = {.done = false};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    op->done = op_wait_done;
    op->user = &w;
    storage_submit(st, op);
    cr_assert(wait_queued(2), "the completion reached the writer behind the collector's batch");
    pthread_mutex_lock(&g.lock);
    g.released = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_join(gct, NULL);
    cr_assert_eq(g.status, STORAGE_OK, "%s", g.err.msg);
    cr_assert_eq(g.rep.blobs_file, 1, "the collector removed X before the completion committed");
    cr_assert_eq(op->status, STORAGE_OK, "the completion succeeds: %s", op->err.msg);
    /* X is back, whole, in b (and only there), and a manifest may name it */
    cr_assert(readable_in("b", x));
    cr_assert_not(readable_in("a", x));
    cr_assert_eq(files_soon("blobs", 1), 1, "X's file stays: the delete's unlink was cancelled by the new record");
    char body[1024];
    oci_digest_t cfg = put_blob("b", "{\"config\":1}"), md;
    size_t xs = MIB + 4096;
    image_body(body, sizeof(body), &cfg, strlen("{\"config\":1}"), x, &xs, 1, NULL);
    cr_assert_eq(put_manifest_in(st, "b", "v1", body, &md), STORAGE_OK);
    storage_gc_report_t r = collect(0, false);
    cr_assert_eq(r.blobs_file, 0);
    cr_assert(readable_in("b", x));
    cr_assert_eq(files_soon("blobs", 1), 1);
    pthread_mutex_destroy(&g.lock);
    pthread_cond_destroy(&g.cond);
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
}

static unsigned char *big_x(oci_digest_t *x)
{
    size_t len = MIB + 4096;
    unsigned char *data = malloc(len);
    cr_assert_not_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 31 + 7);
    cr_assert_eq(put_blob_in(st, "a", data, len, x), STORAGE_OK);
    cr_assert_eq(files_soon("blobs", 1), 1);
    return data;
}

Test(gc, a_put_that_finds_its_blob_being_collected_stores_it_again)
{
    oci_digest_t x;
    unsigned char *data = big_x(&x);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_BLOB_PUT);
    snprintf(op.repo, sizeof(op.repo), "b");
    op.digest = x;
    op.data = data;
    op.len = MIB + 4096;
    complete_while_collected(&op, &x);
    free(data);
}

Test(gc, an_upload_that_completes_with_a_blob_being_collected_stores_it_again)
{
    oci_digest_t x;
    unsigned char *data = big_x(&x);
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_UPLOAD_BEGIN);
    snprintf(op.repo, sizeof(op.repo), "b");
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK, "%s", op.err.msg);
    char id[STORAGE_UPLOAD_ID_LEN + 1];
    memcpy(id, op.upload_id, sizeof(id));
    /* the first part crosses into the file tier; the completion carries the rest */
    storage_op_init(&op, STORAGE_OP_UPLOAD_APPEND);
    snprintf(op.repo, sizeof(op.repo), "b");
    memcpy(op.upload_id, id, sizeof(id));
    op.data = data;
    op.len = MIB;
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK, "%s", op.err.msg);
    storage_op_init(&op, STORAGE_OP_UPLOAD_COMMIT);
    snprintf(op.repo, sizeof(op.repo), "b");
    memcpy(op.upload_id, id, sizeof(id));
    op.data = data + MIB;
    op.len = 4096;
    op.digest = x;
    complete_while_collected(&op, &x);
    cr_assert_eq(files_soon("uploads", 0), 0, "the upload's file went with its session");
    free(data);
}

/* Pacing: the collection sleeps in proportion to its own work (its CPU time
 * and the time its ops held the writer), and not at all at 100%. */
static void plant_garbage(unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        char text[64];
        snprintf(text, sizeof(text), "garbage %u", i);
        (void)put_blob("paced", text);
    }
}

Test(gc, a_paced_collection_sleeps_in_proportion_to_its_work)
{
    plant_garbage(1000);
    storage_gc_options_t o = {.grace_seconds = 0, .duty_pct = 50};
    storage_gc_report_t r;
    storage_err_t err;
    cr_assert_eq(storage_gc_run(st, &o, &r, &err), STORAGE_OK, "%s", err.msg);
    cr_assert_eq(r.blobs_lmdb, 1000);
    uint64_t work = r.cpu_ms + r.writer_ms;
    cr_assert_gt(work, 0, "the collection did measurable work");
    /* at 50% it sleeps as long as it worked, less the last step's work (nothing follows it) and rounding */
    cr_assert_geq(2 * r.paced_ms + 3, work, "slept %llu ms for %llu ms of work", (unsigned long long)r.paced_ms,
                  (unsigned long long)work);
    cr_assert_geq(r.duration_ms + 1, r.paced_ms);
    plant_garbage(1000);
    r = collect(0, false); /* duty 100 */
    cr_assert_eq(r.blobs_lmdb, 1000);
    cr_assert_eq(r.paced_ms, 0);
}

Test(gc, one_collection_at_a_time)
{
    storage_status_t inner = STORAGE_OK;
    storage_gc_options_t o = {.after_mark = nested_run, .after_mark_ctx = &inner};
    storage_gc_report_t r;
    storage_err_t err;
    cr_assert_eq(storage_gc_run(st, &o, &r, &err), STORAGE_OK, "%s", err.msg);
    cr_assert_eq(inner, STORAGE_EXISTS);
    o.duty_pct = 101;
    cr_assert_eq(storage_gc_run(st, &o, &r, &err), STORAGE_INVALID);
}

static void raise_stop(void *ctx)
{
    atomic_store((_Atomic bool *)ctx, true);
}

Test(gc, a_collection_told_to_stop_stops_before_its_next_batch)
{
    oci_digest_t d = put_blob("stop", "would be garbage");
    _Atomic bool stop = false;
    storage_gc_options_t o = {.grace_seconds = 0, .stop = &stop, .after_mark = raise_stop, .after_mark_ctx = &stop};
    storage_gc_report_t r;
    storage_err_t err;
    cr_assert_eq(storage_gc_run(st, &o, &r, &err), STORAGE_CANCELLED);
    cr_assert(strstr(err.msg, "stopped"), "%s", err.msg);
    cr_assert_eq(r.blobs_lmdb, 0);
    cr_assert(blob_exists(&d));
    /* and the next one runs (the writer no longer notes into the stopped one's set) */
    stop = false;
    o.after_mark = NULL;
    cr_assert_eq(storage_gc_run(st, &o, &r, &err), STORAGE_OK, "%s", err.msg);
    cr_assert_eq(r.blobs_lmdb, 1);
    cr_assert_null(st->gc_track);
}

Test(gc, a_damaged_manifest_stops_the_collection)
{
    oci_digest_t d = put_blob("bad", "kept");
    /* a manifest record whose body does not parse, written past the API */
    MDB_txn *txn;
    cr_assert_eq(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    char key[128];
    size_t kl = store_key2(key, sizeof(key), "bad", d.str);
    manifest_rec_t rec = {.format = STORE_FORMAT, .media_type_len = (uint16_t)strlen(IMAGE_MT), .body_len = 3};
    char val[256];
    size_t off = 0;
    memcpy(val, &rec, sizeof(rec));
    off += sizeof(rec);
    memcpy(val + off, IMAGE_MT, strlen(IMAGE_MT) + 1);
    off += strlen(IMAGE_MT) + 1;
    val[off++] = '\0';
    val[off++] = '\0';
    memcpy(val + off, "{x}", 3);
    off += 3;
    MDB_val k = {kl, key}, v = {off, val};
    cr_assert_eq(mdb_put(txn, st->dbi_manifests, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    (void)put_blob("bad", "garbage");
    storage_gc_options_t o = {.grace_seconds = 0};
    storage_gc_report_t r;
    storage_err_t err;
    cr_assert_eq(storage_gc_run(st, &o, &r, &err), STORAGE_IO);
    cr_assert(strstr(err.msg, "cannot be parsed"), "%s", err.msg);
    cr_assert_eq(r.blobs_lmdb, 0);
    cr_assert(blob_exists(&d));
}

/* ---- race: collections back to back while 16 clients push and delete ---- */

#define RACE_CLIENTS 16
#define RACE_SHARED 8
#define RACE_SHARED_BIG 2 /* of them in files */

typedef struct {
    unsigned id;
    unsigned rounds;
    oci_digest_t kept[64];
    char kept_repo[64][32];
    size_t nkept;
    unsigned done;    /* rounds it ran before the deadline */
    unsigned refused; /* manifest puts whose layer a collection took first: a failed push, never a lost one */
} racer_t;

static _Atomic bool race_stop;
static time_t race_deadline; /* no new round starts after it */

/* One push of an image (blobs, then the manifest) and, every other round, its
 * deletion. false when a collection took a blob between its put and the
 * manifest's (the push failed, as a client would see it, and may retry). */
static bool race_push(racer_t *r, const char *repo, unsigned round, unsigned *seed)
{
    /* a config of its own, a shared layer (same bytes for every client), a layer of its own; some
     * big (files: the tier whose completions look for an existing record off the writer) */
    char cfg[64], own[64];
    snprintf(cfg, sizeof(cfg), "{\"client\":%u,\"round\":%u}", r->id, round);
    unsigned k = (unsigned)rand_r(seed) % RACE_SHARED;
    size_t shared_len = k < RACE_SHARED_BIG ? MIB + 512 * k : 32;
    char *shared = malloc(shared_len);
    cr_assert_not_null(shared);
    memset(shared, (int)('a' + k), shared_len);
    snprintf(shared, 32, "shared layer %u", k);
    size_t own_len = (round % 5 == 0) ? MIB + 4096 : 100 + (size_t)(rand_r(seed) % 4000);
    unsigned char *own_data = malloc(own_len);
    cr_assert_not_null(own_data);
    memset(own_data, (int)(r->id + round), own_len);
    snprintf(own, sizeof(own), "%u/%u", r->id, round);
    memcpy(own_data, own, strlen(own));
    oci_digest_t dc, ds, dl;
    storage_status_t s = put_blob_in(st, repo, cfg, strlen(cfg), &dc);
    if (s == STORAGE_OK)
        s = put_blob_in(st, repo, shared, shared_len, &ds);
    if (s == STORAGE_OK)
        s = put_blob_in(st, repo, own_data, own_len, &dl);
    free(own_data);
    free(shared);
    /* a put that finds its blob stored (a retry, a shared layer) while the collector removes it stores it again */
    cr_assert_eq(s, STORAGE_OK, "blob put: %s", storage_status_name(s));
    char body[2048];
    oci_digest_t layers[2] = {ds, dl}, md;
    size_t sizes[2] = {shared_len, own_len};
    image_body(body, sizeof(body), &dc, strlen(cfg), layers, sizes, 2, NULL);
    s = put_manifest_in(st, repo, NULL, body, &md);
    if (s == STORAGE_REFERENCE)
        return false;
    cr_assert_eq(s, STORAGE_OK, "manifest put: %s", storage_status_name(s));
    if (round % 2 == 1 || r->nkept == 64) {
        cr_assert_eq(del_manifest(repo, &md), STORAGE_OK);
    } else {
        r->kept[r->nkept] = md;
        snprintf(r->kept_repo[r->nkept], sizeof(r->kept_repo[0]), "%s", repo);
        r->nkept++;
    }
    return true;
}

static void *racer_main(void *arg)
{
    racer_t *r = arg;
    unsigned seed = r->id * 7919u + 1;
    char repo[32];
    snprintf(repo, sizeof(repo), "race/%u", r->id % 4); /* four clients per repository */
    for (unsigned round = 0; round < r->rounds && time(NULL) < race_deadline; round++, r->done++)
        for (int attempt = 0; attempt < 10 && !race_push(r, repo, round, &seed); attempt++)
            r->refused++; /* as a client does: push again */
    return NULL;
}

static void *collector_main(void *arg)
{
    unsigned *runs = arg;
    while (!race_stop) {
        storage_gc_options_t o = {.grace_seconds = 0, .duty_pct = 100};
        storage_gc_report_t r;
        storage_err_t err;
        storage_status_t s = storage_gc_run(st, &o, &r, &err);
        cr_assert_eq(s, STORAGE_OK, "%s", err.msg);
        (*runs)++;
    }
    return NULL;
}

/* Every blob of manifest md in repo is readable there with the right digest. */
static void verify_image(const char *repo, const oci_digest_t *md)
{
    storage_err_t err;
    storage_reader_t *rd = storage_reader_begin(st, &err);
    oci_reference_t ref = {.is_digest = true, .digest = *md};
    storage_manifest_t m;
    cr_assert_eq(storage_manifest_get(rd, repo, &ref, &m, &err), STORAGE_OK, "%s in %s: %s", md->str, repo, err.msg);
    oci_manifest_t pm;
    oci_err_t oerr;
    cr_assert_eq(oci_manifest_parse(m.body, m.len, m.media_type, strlen(m.media_type), &pm, &oerr), OCI_OK);
    storage_reader_end(rd);
    for (size_t i = 0; i < pm.nblobs; i++)
        cr_assert(readable_in(repo, &pm.blobs[i].digest), "blob %s of %s in %s", pm.blobs[i].digest.str, md->str, repo);
    oci_manifest_free(&pm);
}

/* Bounded as the issue asks: 20 rounds (BERTH_GC_RACE_ROUNDS) or two
 * minutes (BERTH_GC_RACE_SECONDS), whichever ends first. */
Test(gc, collections_back_to_back_never_take_a_blob_of_an_acknowledged_manifest, .timeout = 240)
{
    const char *knob = getenv("BERTH_GC_RACE_ROUNDS");
    unsigned rounds = knob ? (unsigned)strtoul(knob, NULL, 10) : 20;
    knob = getenv("BERTH_GC_RACE_SECONDS");
    race_deadline = time(NULL) + (knob ? (time_t)strtoul(knob, NULL, 10) : 120);
    static racer_t racers[RACE_CLIENTS];
    pthread_t th[RACE_CLIENTS], gct;
    unsigned runs = 0;
    race_stop = false;
    cr_assert_eq(pthread_create(&gct, NULL, collector_main, &runs), 0);
    for (unsigned i = 0; i < RACE_CLIENTS; i++) {
        memset(&racers[i], 0, sizeof(racers[i]));
        racers[i].id = i;
        racers[i].rounds = rounds;
        cr_assert_eq(pthread_create(&th[i], NULL, racer_main, &racers[i]), 0);
    }
    for (unsigned i = 0; i < RACE_CLIENTS; i++)
        pthread_join(th[i], NULL);
    race_stop = true;
    pthread_join(gct, NULL);
    size_t kept = 0, refused = 0, done = 0;
    for (unsigned i = 0; i < RACE_CLIENTS; i++) {
        done += racers[i].done;
        for (size_t j = 0; j < racers[i].nkept; j++)
            verify_image(racers[i].kept_repo[j], &racers[i].kept[j]);
        kept += racers[i].nkept;
        refused += racers[i].refused;
    }
    cr_assert_gt(runs, 1, "collections ran during the pushes");
    cr_assert_gt(done, 0, "a round ran before the deadline");
    cr_assert_gt(kept, done / 4, "most images were pushed (retrying): %zu kept, %zu refused", kept, refused);
    /* and once the pushes have stopped, one more collection leaves exactly the kept images */
    storage_gc_report_t r = collect(0, false);
    (void)r;
    for (unsigned i = 0; i < RACE_CLIENTS; i++)
        for (size_t j = 0; j < racers[i].nkept; j++)
            verify_image(racers[i].kept_repo[j], &racers[i].kept[j]);
    cr_log_info("race: %zu rounds, %u collections, %zu images kept, %zu pushes refused", done, runs, kept, refused);
}

/* ---- churn: the data directory stops growing ---- */

/* The churn is 8 GiB in rounds of 512 MiB: BERTH_GC_CHURN_MIB=8192
 * (by hand, or bench/gc/churn.sh). CI runs 1 GiB in rounds of 64 MiB (the
 * same 16 rounds), the sanitizer build 384 MiB. */
Test(gc, churn_keeps_the_data_directory_within_twice_the_live_data, .timeout = 600)
{
    const char *knob = getenv("BERTH_GC_CHURN_MIB");
    size_t total = (knob ? (size_t)strtoul(knob, NULL, 10) : 1024) * MIB;
    size_t round_bytes = total / 16 > 32 * MIB ? total / 16 : 32 * MIB;
    /* each round: 4 big blobs (8 MiB) and small ones (64 KiB) in images; the previous round's images go */
    size_t big = 8 * MIB, small = 64 << 10;
    unsigned char *buf = malloc(big);
    cr_assert_not_null(buf);
    oci_digest_t prev[256];
    size_t nprev = 0, live = 0, pushed = 0;
    unsigned seq = 0;
    while (pushed < total) {
        oci_digest_t cur[256];
        size_t ncur = 0, round_live = 0;
        for (size_t done = 0; done < round_bytes && ncur < 256;) {
            size_t len = (ncur % 4 == 0) ? big : small;
            memset(buf, (int)seq, len);
            memcpy(buf, &seq, sizeof(seq));
            seq++;
            char cfg[64];
            snprintf(cfg, sizeof(cfg), "{\"seq\":%u}", seq);
            oci_digest_t dc, dl, md;
            cr_assert_eq(put_blob_in(st, "churn", cfg, strlen(cfg), &dc), STORAGE_OK);
            cr_assert_eq(put_blob_in(st, "churn", buf, len, &dl), STORAGE_OK);
            char body[1024];
            image_body(body, sizeof(body), &dc, strlen(cfg), &dl, &len, 1, NULL);
            cr_assert_eq(put_manifest_in(st, "churn", NULL, body, &md), STORAGE_OK);
            cur[ncur++] = md;
            done += len;
            round_live += len;
        }
        for (size_t i = 0; i < nprev; i++)
            cr_assert_eq(del_manifest("churn", &prev[i]), STORAGE_OK);
        storage_gc_report_t r = collect(0, false);
        cr_assert_gt(r.blobs_lmdb + r.blobs_file + (nprev == 0), 0);
        memcpy(prev, cur, ncur * sizeof(cur[0]));
        nprev = ncur;
        live = round_live;
        pushed += round_live;
    }
    for (int i = 0; i < 400 && count_files("uploads"); i++)
        usleep(5000); /* the trash a sweep unlinks last */
    uint64_t du = test_du_kib(dir) * 1024;
    cr_log_info("churn: %zu MiB pushed, %zu MiB live, du %llu MiB", pushed >> 20, live >> 20, (unsigned long long)(du >> 20));
    cr_assert_leq(du, 2 * (uint64_t)live + 64 * MIB, "du %llu MiB with %zu MiB live after %zu MiB pushed",
                  (unsigned long long)(du >> 20), live >> 20, pushed >> 20);
    free(buf);
}
