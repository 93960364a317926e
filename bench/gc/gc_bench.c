/*
 * bench/gc/gc_bench.c — a full online garbage collection over a store of
 * BLOBS small blobs of which GARBAGE no manifest references: its duration,
 * the anonymous memory it takes, and the rates of small pushes (monolithic
 * 4 KiB blob puts, each acknowledged only once synced) and manifest GETs
 * (snapshot, lookup, end) measured while it runs against the same rates
 * without it. Drives storage.h directly, as berthd's handlers do, on a store
 * with synced commits. Not a test.
 *
 *   gc_bench DIR [BLOBS [GARBAGE [SECONDS [DUTY_PCT]]]]     (100000 10000 5 0)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage.h"

#define LAYERS_PER_IMAGE 9 /* + a config: 10 blobs per manifest */
#define REPOS 10
#define PUSHERS 2
#define GETTERS 2

static storage_t *st;
static oci_reference_t *refs;
static char (*ref_repo)[16];
static size_t nrefs;
static _Atomic bool run_load;
static _Atomic uint64_t pushes, gets;
static _Atomic uint64_t push_seq = 1u << 30;

/* Latency samples (microseconds) of the current phase: every push, every 64th GET. */
#define SAMPLES_MAX (1u << 20)
static uint32_t *push_us, *get_us;
static _Atomic size_t npush_us, nget_us;

static void sample(uint32_t *arr, _Atomic size_t *n, double us)
{
    size_t i = atomic_fetch_add(n, 1);
    if (i < SAMPLES_MAX)
        arr[i] = us > 4e9 ? UINT32_MAX : (uint32_t)us;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* p50 and p99 of the samples, in microseconds */
static void percentiles(uint32_t *arr, _Atomic size_t *n, uint32_t *p50, uint32_t *p99)
{
    size_t k = atomic_load(n) < SAMPLES_MAX ? atomic_load(n) : SAMPLES_MAX;
    *p50 = *p99 = 0;
    if (!k)
        return;
    qsort(arr, k, sizeof(*arr), u32_cmp);
    *p50 = arr[k / 2];
    *p99 = arr[k * 99 / 100];
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_anon_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "RssAnon: %ld kB", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static void blob_bytes(uint64_t seq, char *buf, size_t len)
{
    memset(buf, (int)(seq & 0xff), len);
    snprintf(buf, len, "blob %llu", (unsigned long long)seq);
}

static void die(const char *what, const storage_op_t *op)
{
    fprintf(stderr, "gc_bench: %s: %s\n", what, op->err.msg);
    exit(1);
}

/* ---- population: ops submitted in waves so that they share commits ---- */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t pending;
} wave_t;

static wave_t wave = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static void wave_done(storage_op_t *op)
{
    if (op->status != STORAGE_OK)
        die("populate", op);
    pthread_mutex_lock(&wave.lock);
    wave.pending--;
    pthread_cond_signal(&wave.cond);
    pthread_mutex_unlock(&wave.lock);
}

static void wave_run(storage_op_t *ops, size_t n)
{
    wave.pending = n;
    for (size_t i = 0; i < n; i++) {
        ops[i].done = wave_done;
        storage_submit(st, &ops[i]);
    }
    pthread_mutex_lock(&wave.lock);
    while (wave.pending)
        pthread_cond_wait(&wave.cond, &wave.lock);
    pthread_mutex_unlock(&wave.lock);
}

#define WAVE 200
#define BLOB_BYTES 4096

static void populate(size_t nblobs, size_t garbage)
{
    storage_op_t *ops = calloc(WAVE, sizeof(*ops));
    char(*bufs)[BLOB_BYTES] = calloc(WAVE, BLOB_BYTES);
    oci_digest_t *digests = calloc(nblobs, sizeof(*digests));
    if (!ops || !bufs || !digests) {
        fprintf(stderr, "gc_bench: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < nblobs; i += WAVE) {
        size_t n = nblobs - i < WAVE ? nblobs - i : WAVE;
        for (size_t k = 0; k < n; k++) {
            size_t b = i + k;
            storage_op_init(&ops[k], STORAGE_OP_BLOB_PUT);
            snprintf(ops[k].repo, sizeof(ops[k].repo), "bench/r%zu", (b / (LAYERS_PER_IMAGE + 1)) % REPOS);
            blob_bytes(b, bufs[k], BLOB_BYTES);
            oci_digest_compute(OCI_ALG_SHA256, bufs[k], BLOB_BYTES, &digests[b]);
            ops[k].digest = digests[b];
            ops[k].data = bufs[k];
            ops[k].len = BLOB_BYTES;
        }
        wave_run(ops, n);
    }
    /* manifests over the first nblobs - garbage blobs, ten blobs each */
    size_t used = nblobs - garbage, nman = used / (LAYERS_PER_IMAGE + 1);
    refs = calloc(nman, sizeof(*refs));
    ref_repo = calloc(nman, sizeof(*ref_repo));
    char(*bodies)[2048] = calloc(WAVE, 2048);
    oci_manifest_t *ms = calloc(WAVE, sizeof(*ms));
    for (size_t i = 0; i < nman; i += WAVE) {
        size_t n = nman - i < WAVE ? nman - i : WAVE;
        for (size_t k = 0; k < n; k++) {
            size_t m = i + k, b0 = m * (LAYERS_PER_IMAGE + 1);
            int w = snprintf(bodies[k], 2048,
                             "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{"
                             "\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%d},"
                             "\"layers\":[",
                             digests[b0].str, BLOB_BYTES);
            for (size_t l = 1; l <= LAYERS_PER_IMAGE; l++)
                w += snprintf(bodies[k] + w, 2048 - (size_t)w,
                              "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":%d}",
                              l > 1 ? "," : "", digests[b0 + l].str, BLOB_BYTES);
            snprintf(bodies[k] + w, 2048 - (size_t)w, "]}");
            oci_err_t oerr;
            if (oci_manifest_parse(bodies[k], strlen(bodies[k]), NULL, 0, &ms[k], &oerr) != OCI_OK) {
                fprintf(stderr, "gc_bench: manifest does not parse\n");
                exit(1);
            }
            storage_op_init(&ops[k], STORAGE_OP_MANIFEST_PUT);
            snprintf(ops[k].repo, sizeof(ops[k].repo), "bench/r%zu", m % REPOS);
            snprintf(ref_repo[m], sizeof(ref_repo[m]), "%s", ops[k].repo);
            oci_digest_compute(OCI_ALG_SHA256, bodies[k], strlen(bodies[k]), &ops[k].digest);
            refs[m].is_digest = true;
            refs[m].digest = ops[k].digest;
            ops[k].data = bodies[k];
            ops[k].len = strlen(bodies[k]);
            ops[k].manifest = &ms[k];
        }
        wave_run(ops, n);
        for (size_t k = 0; k < n; k++)
            oci_manifest_free(&ms[k]);
    }
    nrefs = nman;
    free(ms);
    free(bodies);
    free(digests);
    free(bufs);
    free(ops);
}

/* ---- the load ---- */

static void *pusher(void *arg)
{
    (void)arg;
    char buf[BLOB_BYTES];
    while (atomic_load(&run_load)) {
        uint64_t seq = atomic_fetch_add(&push_seq, 1);
        storage_op_t op;
        storage_op_init(&op, STORAGE_OP_BLOB_PUT);
        snprintf(op.repo, sizeof(op.repo), "bench/push");
        blob_bytes(seq, buf, sizeof(buf));
        oci_digest_compute(OCI_ALG_SHA256, buf, sizeof(buf), &op.digest);
        op.data = buf;
        op.len = sizeof(buf);
        double t0 = now_s();
        if (storage_execute(st, &op) != STORAGE_OK)
            die("push", &op);
        sample(push_us, &npush_us, (now_s() - t0) * 1e6);
        atomic_fetch_add(&pushes, 1);
    }
    return NULL;
}

static void *getter(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (atomic_load(&run_load)) {
        size_t m = (size_t)rand_r(&seed) % nrefs;
        bool timed = (atomic_load(&gets) & 63) == 0;
        double t0 = timed ? now_s() : 0;
        storage_err_t err;
        storage_reader_t *rd = storage_reader_begin(st, &err);
        storage_manifest_t out;
        if (!rd || storage_manifest_get(rd, ref_repo[m], &refs[m], &out, &err) != STORAGE_OK) {
            fprintf(stderr, "gc_bench: manifest get: %s\n", err.msg);
            exit(1);
        }
        storage_reader_end(rd);
        if (timed)
            sample(get_us, &nget_us, (now_s() - t0) * 1e6);
        atomic_fetch_add(&gets, 1);
    }
    return NULL;
}

typedef struct {
    double push_rate, get_rate;
    uint32_t push_p50, push_p99, get_p50, get_p99;
} rates_t;

static pthread_t load_th[PUSHERS + GETTERS];

static void load_start(void)
{
    atomic_store(&run_load, true);
    atomic_store(&pushes, 0);
    atomic_store(&gets, 0);
    atomic_store(&npush_us, 0);
    atomic_store(&nget_us, 0);
    for (unsigned i = 0; i < PUSHERS; i++)
        pthread_create(&load_th[i], NULL, pusher, NULL);
    for (unsigned i = 0; i < GETTERS; i++)
        pthread_create(&load_th[PUSHERS + i], NULL, getter, (void *)(uintptr_t)(i + 1));
}

static rates_t load_stop(double seconds)
{
    atomic_store(&run_load, false);
    for (unsigned i = 0; i < PUSHERS + GETTERS; i++)
        pthread_join(load_th[i], NULL);
    rates_t r = {(double)atomic_load(&pushes) / seconds, (double)atomic_load(&gets) / seconds, 0, 0, 0, 0};
    percentiles(push_us, &npush_us, &r.push_p50, &r.push_p99);
    percentiles(get_us, &nget_us, &r.get_p50, &r.get_p99);
    return r;
}

typedef struct {
    storage_gc_options_t opt;
    storage_gc_report_t rep;
    storage_status_t status;
    storage_err_t err;
    _Atomic bool done;
    long peak_anon_kib;
} gc_run_t;

static void *gc_main(void *arg)
{
    gc_run_t *g = arg;
    g->status = storage_gc_run(st, &g->opt, &g->rep, &g->err);
    atomic_store(&g->done, true);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gc_bench DIR [BLOBS [GARBAGE [SECONDS [DUTY_PCT]]]]\n");
        return 2;
    }
    size_t nblobs = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
    size_t garbage = argc > 3 ? strtoul(argv[3], NULL, 10) : 10000;
    double seconds = argc > 4 ? atof(argv[4]) : 5;
    unsigned duty = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 10) : 0; /* 0: storage's default */
    storage_err_t err;
    storage_options_t fast = {.no_sync = true};
    if (!(st = storage_open(argv[1], &fast, &err))) {
        fprintf(stderr, "gc_bench: %s\n", err.msg);
        return 1;
    }
    double t0 = now_s();
    populate(nblobs, garbage);
    storage_close(st);
    storage_options_t synced = {0};
    if (!(st = storage_open(argv[1], &synced, &err))) {
        fprintf(stderr, "gc_bench: %s\n", err.msg);
        return 1;
    }
    printf("store: %zu blobs (%zu unreferenced), %zu manifests, populated in %.1f s\n", nblobs, garbage, nrefs, now_s() - t0);

    push_us = calloc(SAMPLES_MAX, sizeof(*push_us));
    get_us = calloc(SAMPLES_MAX, sizeof(*get_us));
    if (!push_us || !get_us) {
        fprintf(stderr, "gc_bench: out of memory\n");
        return 1;
    }
    /* touched now, so that the samples do not count as the collection's memory */
    memset(push_us, 0xff, SAMPLES_MAX * sizeof(*push_us));
    memset(get_us, 0xff, SAMPLES_MAX * sizeof(*get_us));
    /* undisturbed, before (and again after: on a shared machine the load
     * drifts, so the collection is compared with the mean of both) */
    load_start();
    usleep((useconds_t)(seconds * 1e6));
    rates_t before = load_stop(seconds);

    /* with a collection running (grace 0: the garbage is older than its start) */
    long anon_before = rss_anon_kib();
    gc_run_t g = {.opt = {.grace_seconds = 0, .duty_pct = duty}};
    pthread_t gt;
    load_start();
    double g0 = now_s();
    pthread_create(&gt, NULL, gc_main, &g);
    long peak = anon_before;
    while (!atomic_load(&g.done)) {
        long a = rss_anon_kib();
        if (a > peak)
            peak = a;
        usleep(20000);
    }
    double gc_s = now_s() - g0;
    rates_t during = load_stop(gc_s);
    pthread_join(gt, NULL);
    load_start();
    usleep((useconds_t)(seconds * 1e6));
    rates_t after = load_stop(seconds);
    rates_t base = {(before.push_rate + after.push_rate) / 2, (before.get_rate + after.get_rate) / 2, 0, 0, 0, 0};
    if (g.status != STORAGE_OK) {
        fprintf(stderr, "gc_bench: collection: %s\n", g.err.msg);
        return 1;
    }
    printf("collection: %.2f s, %llu manifests marked, %llu blobs scanned, %llu collected (%llu bytes), %llu saved\n", gc_s,
           (unsigned long long)g.rep.manifests, (unsigned long long)g.rep.blobs_scanned,
           (unsigned long long)(g.rep.blobs_lmdb + g.rep.blobs_file), (unsigned long long)(g.rep.bytes_lmdb + g.rep.bytes_file),
           (unsigned long long)g.rep.blobs_saved);
    printf("collector: %llu ms CPU of its own, %llu ms on the writer, %llu ms paced (asleep)\n", (unsigned long long)g.rep.cpu_ms,
           (unsigned long long)g.rep.writer_ms, (unsigned long long)g.rep.paced_ms);
    printf("RssAnon: %ld KiB before, %ld KiB peak during (+%ld KiB; %.1f bytes per blob)\n", anon_before, peak, peak - anon_before,
           (double)(peak - anon_before) * 1024 / (double)nblobs);
    printf("%-26s %10s %10s %10s %8s\n", "", "before", "during gc", "after", "ratio");
    printf("%-26s %10.0f %10.0f %10.0f %7.0f%%\n", "push 4 KiB (synced) /s", before.push_rate, during.push_rate, after.push_rate,
           100 * during.push_rate / base.push_rate);
    printf("%-26s %10.0f %10.0f %10.0f %7.0f%%\n", "manifest GET /s", before.get_rate, during.get_rate, after.get_rate,
           100 * during.get_rate / base.get_rate);
    printf("%-26s %4u / %-5u %4u / %-5u %4u / %-5u\n", "push p50 / p99 (us)", before.push_p50, before.push_p99, during.push_p50,
           during.push_p99, after.push_p50, after.push_p99);
    printf("%-26s %4u / %-5u %4u / %-5u %4u / %-5u\n", "manifest GET p50 / p99 (us)", before.get_p50, before.get_p99,
           during.get_p50, during.get_p99, after.get_p50, after.get_p99);
    free(push_us);
    free(get_us);
    storage_close(st);
    return 0;
}
