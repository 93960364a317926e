/* GET /metrics: Prometheus text format 0.0.4.
 *
 * Counting: each event loop owns a shard of counters (its h2o logger
 * context, made in on_context_init); only that loop writes it, with relaxed
 * atomic loads and stores (plain moves on x86 and arm64: no locked
 * instruction, no shared cache line on the request path). A scrape sums the
 * shards with relaxed loads: a sum may miss the request a loop is counting
 * at that instant, never more. Threads that are not loops (the writer
 * completing an ECS op runs on a loop; the collector does not) count in one
 * shared shard with atomic adds: a few per garbage collection.
 *
 * Labels have bounded values only: a route is one of a fixed set of names
 * worked out from the path's shape (never the path: repository names would
 * make the series unbounded), a method one of seven, a status one of the
 * codes Berth sends or its class ("4xx") for anything else.
 *
 * Who may read: anyone with --metrics-public; else a scraper's metrics
 * token (Authorization: Bearer berthm_<id>_<secret>, metrics_token.c), or a
 * principal whose policies allow berth:GetMetrics, by its registry password
 * (Basic or Bearer, as /v2/ takes it). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/metrics_internal.h"

/* Request latency buckets (seconds): a manifest GET is ~0.1 ms, a big push
 * many seconds. */
static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120};
#define N_LATENCY (sizeof(latency_bounds) / sizeof(latency_bounds[0]))
/* RunTask latency buckets (seconds): it waits on the writer's sync. */
static const double runtask_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define N_RUNTASK (sizeof(runtask_bounds) / sizeof(runtask_bounds[0]))

static const char *const route_names[METRICS_N_ROUTES] = {
    "other",   "healthz",  "readyz", "metrics", "aws",  "v2_base",   "token",
    "catalog", "manifest", "blob",   "upload",  "tags", "referrers",
};
static const char *const method_names[] = {"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "other"};
#define N_METHODS (sizeof(method_names) / sizeof(method_names[0]))
/* The statuses Berth sends; anything else counts under its class. */
static const int status_codes[] = {200, 201, 202, 204, 206, 301, 302, 304, 307, 400, 401, 403,
                                   404, 405, 408, 409, 412, 413, 416, 429, 500, 502, 503};
#define N_CODES (sizeof(status_codes) / sizeof(status_codes[0]))
#define N_STATUSES (N_CODES + 6) /* + 1xx..5xx and "other" */
static const char *const families[] = {"ecr", "ecs", "iam", "sts", "berth", "other"};
#define N_FAMILIES (sizeof(families) / sizeof(families[0]))

typedef _Atomic uint64_t counter_t;

typedef struct {
    counter_t requests[METRICS_N_ROUTES][N_METHODS][N_STATUSES];
    counter_t latency[METRICS_N_ROUTES][N_LATENCY + 1]; /* per bucket, the last +Inf; not cumulative */
    counter_t latency_us[METRICS_N_ROUTES];
    counter_t bytes_in, bytes_out;
    counter_t uploads_started, uploads_done;
    counter_t authz[N_FAMILIES][2]; /* [family][allowed] */
    counter_t tasks_placed, placement_failures;
    counter_t runtask[N_RUNTASK + 1];
    counter_t runtask_us;
    counter_t gc_runs, gc_failed, gc_blobs, gc_bytes, gc_last_ms;
} shard_t;

#define MAX_SHARDS 128

static struct {
    h2o_logger_t *logger;
    pthread_mutex_t lock; /* guards shards[] and n_shards */
    shard_t *shards[MAX_SHARDS];
    size_t n_shards;
    shard_t shared; /* threads without a loop: atomic adds */
    bool enabled;
    bool public_;
    server_t *srv;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The only writer of s (its loop): a load and a store, no locked add. */
static inline void bump(shard_t *s, counter_t *c, uint64_t n)
{
    if (s == &g.shared)
        atomic_fetch_add_explicit(c, n, memory_order_relaxed);
    else
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline uint64_t get(const counter_t *c)
{
    return atomic_load_explicit((counter_t *)c, memory_order_relaxed);
}

static shard_t *shard_of(h2o_req_t *req)
{
    if (!g.logger || !req)
        return &g.shared;
    shard_t *s = h2o_context_get_logger_context(req->conn->ctx, g.logger);
    return s ? s : &g.shared;
}

static bool eq(const char *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(p, lit, n) == 0;
}

metrics_route_t metrics_classify(const char *path, size_t len, const char *method, size_t mlen)
{
    for (size_t i = 0; i < len; i++)
        if (path[i] == '?') {
            len = i;
            break;
        }
    if (eq(path, len, "/healthz"))
        return MR_HEALTHZ;
    if (eq(path, len, "/readyz"))
        return MR_READYZ;
    if (eq(path, len, "/metrics"))
        return MR_METRICS;
    if (eq(path, len, "/") && eq(method, mlen, "POST"))
        return MR_AWS;
    if (eq(path, len, "/v2") || eq(path, len, "/v2/"))
        return MR_V2_BASE;
    if (len < 4 || memcmp(path, "/v2/", 4) != 0)
        return MR_OTHER;
    const char *p = path + 4;
    len -= 4;
    if (eq(p, len, "token"))
        return MR_TOKEN;
    if (eq(p, len, "_catalog"))
        return MR_CATALOG;
    size_t name_len, arg_len;
    const char *arg;
    switch (v2_route_split(p, len, &name_len, &arg, &arg_len)) {
    case R_MANIFEST:
        return MR_MANIFEST;
    case R_BLOB:
        return MR_BLOB;
    case R_UPLOADS:
    case R_UPLOAD:
        return MR_UPLOAD;
    case R_TAGS:
        return MR_TAGS;
    case R_REFERRERS:
        return MR_REFERRERS;
    case R_NONE:
        break;
    }
    return MR_OTHER;
}

static size_t method_index(h2o_iovec_t m)
{
    for (size_t i = 0; i + 1 < N_METHODS; i++)
        if (h2o_memis(m.base, m.len, method_names[i], strlen(method_names[i])))
            return i;
    return N_METHODS - 1;
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < N_CODES; i++)
        if (status_codes[i] == status)
            return i;
    if (status >= 100 && status < 600)
        return N_CODES + (size_t)(status / 100 - 1);
    return N_STATUSES - 1;
}

static void status_label(size_t i, char out[8])
{
    if (i < N_CODES)
        snprintf(out, 8, "%d", status_codes[i]);
    else if (i < N_STATUSES - 1)
        snprintf(out, 8, "%zuxx", i - N_CODES + 1);
    else
        snprintf(out, 8, "other");
}

static size_t bucket(const double *bounds, size_t n, double v)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    return i;
}

/* Marks an upload request when it reaches the router: the gauge of uploads in
 * flight is started minus finished, and a request h2o refused before routing
 * (a 413) must not count as finished. */
#define UPLOAD_KEY "berth.metrics.upload"

void metrics_request_start(h2o_req_t *req)
{
    if (!g.enabled)
        return;
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    if (plen < 15 || !memmem(req->path.base, plen, "/blobs/uploads", 14))
        return; /* cheap test first: only upload paths go on */
    if (metrics_classify(req->path.base, plen, req->method.base, req->method.len) != MR_UPLOAD)
        return;
    bump(shard_of(req), &shard_of(req)->uploads_started, 1);
    h2o_vector_reserve(&req->pool, &req->env, req->env.size + 2);
    req->env.entries[req->env.size++] = h2o_iovec_init(H2O_STRLIT(UPLOAD_KEY));
    req->env.entries[req->env.size++] = h2o_iovec_init(H2O_STRLIT("1"));
}

static void on_done(h2o_logger_t *self, h2o_req_t *req)
{
    shard_t *s = h2o_context_get_logger_context(req->conn->ctx, self);
    if (!s)
        return;
    metrics_route_t r = metrics_classify(req->path.base, req->path.len, req->method.base, req->method.len);
    counter_t *c = &s->requests[r][method_index(req->method)][status_index(req->res.status)];
    bump(s, c, 1);
    struct timeval start = req->timestamps.request_begin_at, end;
    gettimeofday(&end, NULL);
    int64_t us = h2o_timeval_is_null(&start) ? 0 : (int64_t)(end.tv_sec - start.tv_sec) * 1000000 + (end.tv_usec - start.tv_usec);
    if (us < 0)
        us = 0;
    bump(s, &s->latency[r][bucket(latency_bounds, N_LATENCY, (double)us / 1e6)], 1);
    bump(s, &s->latency_us[r], (uint64_t)us);
    bump(s, &s->bytes_in, req->entity.base ? req->entity.len : 0);
    bump(s, &s->bytes_out, req->bytes_sent);
    if (r == MR_UPLOAD)
        for (size_t i = 0; i + 1 < req->env.size; i += 2)
            if (h2o_memis(req->env.entries[i].base, req->env.entries[i].len, H2O_STRLIT(UPLOAD_KEY))) {
                bump(s, &s->uploads_done, 1);
                break;
            }
}

static void on_context_init(h2o_logger_t *self, h2o_context_t *ctx)
{
    shard_t *s = calloc(1, sizeof(*s));
    pthread_mutex_lock(&g.lock);
    if (s && g.n_shards < MAX_SHARDS) {
        g.shards[g.n_shards++] = s;
    } else {
        free(s);
        s = NULL;
        fprintf(stderr, "berthd: out of memory: a loop counts no metrics\n");
    }
    pthread_mutex_unlock(&g.lock);
    h2o_context_set_logger_context(ctx, self, s);
}

static void on_context_dispose(h2o_logger_t *self, h2o_context_t *ctx)
{
    /* the shard stays: a scrape during shutdown still sums it; metrics_close frees them */
    h2o_context_set_logger_context(ctx, self, NULL);
}

void metrics_register(server_t *srv, h2o_pathconf_t *path, bool enabled, bool public_)
{
    g.srv = srv;
    g.enabled = enabled;
    g.public_ = public_;
    if (!enabled)
        return;
    g.logger = h2o_create_logger(path, sizeof(*g.logger));
    g.logger->on_context_init = on_context_init;
    g.logger->on_context_dispose = on_context_dispose;
    g.logger->log_access = on_done;
}

void metrics_close(void)
{
    pthread_mutex_lock(&g.lock);
    for (size_t i = 0; i < g.n_shards; i++)
        free(g.shards[i]);
    g.n_shards = 0;
    pthread_mutex_unlock(&g.lock);
}

static size_t family_index(const char *action)
{
    const char *colon = strchr(action, ':');
    size_t n = colon ? (size_t)(colon - action) : 0;
    for (size_t i = 0; i + 1 < N_FAMILIES; i++)
        if (strlen(families[i]) == n && memcmp(families[i], action, n) == 0)
            return i;
    return N_FAMILIES - 1;
}

void metrics_note_authz(h2o_req_t *req, const char *action, bool allowed)
{
    if (!g.enabled)
        return;
    shard_t *s = shard_of(req);
    bump(s, &s->authz[family_index(action)][allowed], 1);
}

void metrics_note_runtask(h2o_req_t *req, size_t placed, size_t failures)
{
    if (!g.enabled)
        return;
    shard_t *s = shard_of(req);
    bump(s, &s->tasks_placed, placed);
    bump(s, &s->placement_failures, failures);
    struct timeval start = req->timestamps.request_begin_at, end;
    gettimeofday(&end, NULL);
    int64_t us = h2o_timeval_is_null(&start) ? 0 : (int64_t)(end.tv_sec - start.tv_sec) * 1000000 + (end.tv_usec - start.tv_usec);
    if (us < 0)
        us = 0;
    bump(s, &s->runtask[bucket(runtask_bounds, N_RUNTASK, (double)us / 1e6)], 1);
    bump(s, &s->runtask_us, (uint64_t)us);
}

void metrics_note_gc(bool ok, uint64_t blobs, uint64_t bytes, uint64_t duration_ms)
{
    shard_t *s = &g.shared;
    bump(s, &s->gc_runs, 1);
    if (!ok)
        bump(s, &s->gc_failed, 1);
    bump(s, &s->gc_blobs, blobs);
    bump(s, &s->gc_bytes, bytes);
    atomic_store_explicit(&s->gc_last_ms, duration_ms, memory_order_relaxed);
}

/* ---- the exposition ---- */

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = true;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->failed = true;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
}

static void header(out_t *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A histogram from per-bucket counts (bounds in seconds, n finite buckets plus +Inf) and a sum in µs. */
static void histogram(out_t *o, const char *name, const char *labels, const double *bounds, size_t n, const uint64_t *counts,
                      uint64_t sum_us)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (size_t i = 0; i < n; i++) {
        cum += counts[i];
        put(o, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, labels, sep, bounds[i], cum);
    }
    cum += counts[n];
    put(o, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, cum);
    put(o, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "", (double)sum_us / 1e6);
    put(o, "%s_count%s%s%s %" PRIu64 "\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "", cum);
}

#define SUM(field) sum_field(offsetof(shard_t, field))
static uint64_t sum_field(size_t off)
{
    uint64_t v = get((const counter_t *)((const char *)&g.shared + off));
    for (size_t i = 0; i < g.n_shards; i++)
        v += get((const counter_t *)((const char *)g.shards[i] + off));
    return v;
}

char *metrics_render(storage_t *st, size_t *len)
{
    out_t o = {.cap = 64 * 1024};
    if (!(o.buf = malloc(o.cap)))
        return NULL;
    o.buf[0] = '\0';
    pthread_mutex_lock(&g.lock);

    header(&o, "berth_http_requests_total", "counter", "HTTP requests completed, by route, method and status.");
    for (size_t r = 0; r < METRICS_N_ROUTES; r++)
        for (size_t m = 0; m < N_METHODS; m++)
            for (size_t s = 0; s < N_STATUSES; s++) {
                uint64_t v = SUM(requests[r][m][s]);
                if (!v)
                    continue; /* series appear once they happen */
                char code[8];
                status_label(s, code);
                put(&o, "berth_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} %" PRIu64 "\n", route_names[r],
                    method_names[m], code, v);
            }
    header(&o, "berth_http_request_duration_seconds", "histogram",
           "Time from the request's first byte to its completion, by route.");
    for (size_t r = 0; r < METRICS_N_ROUTES; r++) {
        uint64_t counts[N_LATENCY + 1], total = 0;
        for (size_t b = 0; b <= N_LATENCY; b++)
            total += counts[b] = SUM(latency[r][b]);
        if (!total)
            continue;
        char labels[64];
        snprintf(labels, sizeof(labels), "route=\"%s\"", route_names[r]);
        histogram(&o, "berth_http_request_duration_seconds", labels, latency_bounds, N_LATENCY, counts, SUM(latency_us[r]));
    }
    header(&o, "berth_http_request_body_bytes_total", "counter", "Request body bytes received.");
    put(&o, "berth_http_request_body_bytes_total %" PRIu64 "\n", SUM(bytes_in));
    header(&o, "berth_http_response_bytes_total", "counter", "Response bytes sent.");
    put(&o, "berth_http_response_bytes_total %" PRIu64 "\n", SUM(bytes_out));
    uint64_t started = SUM(uploads_started), done = SUM(uploads_done);
    header(&o, "berth_uploads_in_flight", "gauge", "Upload requests (POST, PATCH, PUT of blob uploads) being received or stored.");
    put(&o, "berth_uploads_in_flight %" PRIu64 "\n", started > done ? started - done : 0);

    header(&o, "berth_authz_decisions_total", "counter", "Policy decisions, by action family and outcome.");
    for (size_t f = 0; f < N_FAMILIES; f++)
        for (int a = 1; a >= 0; a--)
            put(&o, "berth_authz_decisions_total{family=\"%s\",decision=\"%s\"} %" PRIu64 "\n", families[f],
                a ? "allowed" : "denied", SUM(authz[f][a]));

    header(&o, "berth_scheduler_tasks_placed_total", "counter", "Tasks RunTask placed.");
    put(&o, "berth_scheduler_tasks_placed_total %" PRIu64 "\n", SUM(tasks_placed));
    header(&o, "berth_scheduler_placement_failures_total", "counter", "RunTask placement failures (tasks it could not place).");
    put(&o, "berth_scheduler_placement_failures_total %" PRIu64 "\n", SUM(placement_failures));
    {
        uint64_t counts[N_RUNTASK + 1];
        for (size_t b = 0; b <= N_RUNTASK; b++)
            counts[b] = SUM(runtask[b]);
        header(&o, "berth_scheduler_runtask_duration_seconds", "histogram", "RunTask latency, placements committed.");
        histogram(&o, "berth_scheduler_runtask_duration_seconds", "", runtask_bounds, N_RUNTASK, counts, SUM(runtask_us));
    }

    header(&o, "berth_scheduler_agents_connected", "gauge", "Container instances whose agent polled within --ecs-agent-timeout.");
    put(&o, "berth_scheduler_agents_connected %zu\n", g.srv ? ecs_agents_connected(g.srv) : (size_t)0);

    header(&o, "berth_gc_runs_total", "counter", "Garbage collections run (scheduled and requested).");
    put(&o, "berth_gc_runs_total %" PRIu64 "\n", SUM(gc_runs));
    header(&o, "berth_gc_failures_total", "counter", "Garbage collections that failed or were cancelled.");
    put(&o, "berth_gc_failures_total %" PRIu64 "\n", SUM(gc_failed));
    header(&o, "berth_gc_blobs_collected_total", "counter", "Blobs garbage collection deleted.");
    put(&o, "berth_gc_blobs_collected_total %" PRIu64 "\n", SUM(gc_blobs));
    header(&o, "berth_gc_bytes_collected_total", "counter", "Bytes of the blobs garbage collection deleted.");
    put(&o, "berth_gc_bytes_collected_total %" PRIu64 "\n", SUM(gc_bytes));
    header(&o, "berth_gc_last_duration_seconds", "gauge", "How long the last garbage collection took.");
    put(&o, "berth_gc_last_duration_seconds %.3f\n", (double)SUM(gc_last_ms) / 1e3);
    pthread_mutex_unlock(&g.lock);

    storage_stats_t ss;
    storage_get_stats(st, &ss);
    header(&o, "berth_store_map_size_bytes", "gauge", "The LMDB map's reservation.");
    put(&o, "berth_store_map_size_bytes %" PRIu64 "\n", ss.map_size);
    header(&o, "berth_store_pages_used", "gauge", "LMDB pages in use (the data file's length in pages, free pages included).");
    put(&o, "berth_store_pages_used %" PRIu64 "\n", ss.pages_used);
    header(&o, "berth_store_page_size_bytes", "gauge", "LMDB's page size.");
    put(&o, "berth_store_page_size_bytes %" PRIu64 "\n", ss.page_size);
    header(&o, "berth_store_commits_total", "counter", "Write transactions the store's writer committed (one per batch).");
    put(&o, "berth_store_commits_total %" PRIu64 "\n", ss.commits);
    header(&o, "berth_store_syncs_total", "counter", "Commits that acknowledged a change and so synced to disk.");
    put(&o, "berth_store_syncs_total %" PRIu64 "\n", ss.syncs);
    {
        static const uint64_t us[STORAGE_COMMIT_BUCKETS] = STORAGE_COMMIT_BUCKET_US;
        double bounds[STORAGE_COMMIT_BUCKETS];
        uint64_t counts[STORAGE_COMMIT_BUCKETS + 1], in_buckets = 0;
        for (size_t i = 0; i < STORAGE_COMMIT_BUCKETS; i++) {
            bounds[i] = (double)us[i] / 1e6;
            in_buckets += counts[i] = ss.commit_hist[i];
        }
        /* a commit past the last bound, or one racing this read: +Inf */
        counts[STORAGE_COMMIT_BUCKETS] = ss.commits > in_buckets ? ss.commits - in_buckets : 0;
        header(&o, "berth_store_commit_duration_seconds", "histogram", "Time the writer spent committing a batch, sync included.");
        histogram(&o, "berth_store_commit_duration_seconds", "", bounds, STORAGE_COMMIT_BUCKETS, counts, ss.commit_us_sum);
    }
    header(&o, "berth_store_blob_bytes_received_total", "counter", "Blob bytes the store received.");
    put(&o, "berth_store_blob_bytes_received_total %" PRIu64 "\n", ss.bytes_in);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}

bool metrics_public(void)
{
    return g.public_;
}

bool metrics_enabled(void)
{
    return g.enabled;
}
