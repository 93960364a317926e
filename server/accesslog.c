/* The access log (--access-log FILE|-): one JSON line per request, written
 * when h2o disposes the request (an h2o logger: the per-request completion
 * hook, where request counters will go too).
 *
 * What a line holds: time (the request's start, RFC 3339 UTC with ms), the
 * principal's ARN, the IAM action the request was authorized as and its
 * repository (the first authorization the request made; "-" for none: an
 * anonymous or refused caller, an unauthenticated route, --insecure-no-auth),
 * method, path WITHOUT its query, status, body bytes in, bytes out, duration
 * and the AWS APIs' request id. Never a header, a query string (signed URLs
 * carry their signature there; /v2/token its scopes and account), a body, a
 * token or a password: the fields above are all it reads from a request.
 *
 * Writing: each event loop formats into its own buffer, which goes to the
 * file with one write(2) under a lock when it is ACCESSLOG_FLUSH_MS old or
 * ACCESSLOG_FLUSH_BYTES full, and when the loop stops. A write to a file
 * lands in the page cache (no sync), so a loop waits on the disk only if the
 * kernel does. On a crash, what the buffers held is lost: at most
 * ACCESSLOG_FLUSH_MS of lines per loop. SIGHUP reopens the file (logrotate
 * moves it, then signals): lines still buffered go to the new file. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "server/server_internal.h"

/* A loop's lines wait at most this long in its buffer: a tail -f sees them
 * within a second; what a crash loses is bounded by it. */
#define ACCESSLOG_FLUSH_MS 500
/* ... or until this much is buffered (one write(2) of a few dozen lines). */
#define ACCESSLOG_FLUSH_BYTES (48 * 1024)
/* Longer paths are cut (with "..."): a request line can be 64 KiB of noise. */
#define ACCESSLOG_PATH_MAX 1024
/* Principal ARNs (an assumed role's session included), actions and
 * repository names (255 at most) fit; longer ones are cut with "...". */
#define ACCESSLOG_FIELD_MAX 256
#define ACCESSLOG_METHOD_MAX 16
#define ACCESSLOG_REQUEST_ID_MAX 64
/* The longest line: each capped field escaped at 6 bytes a byte, plus its
 * quotes and "...", plus the keys, time and numbers (under 400 bytes). */
#define ESCAPED(n) (6 * (n) + 5)
#define ACCESSLOG_LINE_MAX                                                                                                         \
    (3 * ESCAPED(ACCESSLOG_FIELD_MAX) + ESCAPED(ACCESSLOG_PATH_MAX) + ESCAPED(ACCESSLOG_METHOD_MAX) +                              \
     ESCAPED(ACCESSLOG_REQUEST_ID_MAX) + 400)
/* A loop flushes once past ACCESSLOG_FLUSH_BYTES, so a whole line always fits after. */
#define ACCESSLOG_BUF_BYTES (ACCESSLOG_FLUSH_BYTES + ACCESSLOG_LINE_MAX)
/* Where the note of a request's authorization hangs: a key in req->env,
 * which h2o keeps in the request's pool and only FastCGI and mruby read. */
#define NOTE_KEY "berth.accesslog"

typedef struct {
    const char *principal, *action, *repo; /* in the request's pool; NULL: none */
} note_t;

typedef struct {
    char buf[ACCESSLOG_BUF_BYTES];
    size_t len;
    uint64_t first_at; /* loop time (ms) of the oldest buffered line */
} loop_buf_t;

static struct {
    pthread_mutex_t lock; /* guards fd and writes to it */
    int fd;               /* -1: no access log */
    char *path;           /* NULL: stderr */
    h2o_logger_t *logger; /* NULL: not registered */
    uint64_t dropped;     /* lines a failed write lost, since the last complaint */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

static int open_file(const char *path, char *err, size_t cap)
{
    /* 0640: the log names principals and repositories, not for every local user */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        snprintf(err, cap, "cannot open the access log %s: %s", path, strerror(errno));
    return fd;
}

int accesslog_open(const char *path, char *err, size_t cap)
{
    if (strcmp(path, "-") == 0) {
        g.fd = STDERR_FILENO;
        return 0;
    }
    if (!(g.path = strdup(path))) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    if ((g.fd = open_file(path, err, cap)) < 0) {
        free(g.path);
        g.path = NULL;
        return -1;
    }
    return 0;
}

bool accesslog_enabled(void)
{
    return g.fd >= 0;
}

int accesslog_reopen(char *err, size_t cap)
{
    if (!g.path)
        return 0; /* stderr, or none */
    int fd = open_file(g.path, err, cap);
    if (fd < 0)
        return -1;
    pthread_mutex_lock(&g.lock);
    int old = g.fd;
    g.fd = fd;
    pthread_mutex_unlock(&g.lock);
    close(old);
    return 0;
}

void accesslog_close(void)
{
    if (g.fd >= 0 && g.path)
        close(g.fd);
    g.fd = -1;
    free(g.path);
    g.path = NULL;
}

static void flush(loop_buf_t *b)
{
    if (!b->len)
        return;
    pthread_mutex_lock(&g.lock);
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(g.fd, b->buf + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    bool lost = off < b->len;
    if (lost) {
        for (size_t i = off; i < b->len; i++)
            g.dropped += b->buf[i] == '\n';
        fprintf(stderr, "berthd: the access log lost %llu line(s): %s\n", (unsigned long long)g.dropped, strerror(errno));
        g.dropped = 0;
    }
    pthread_mutex_unlock(&g.lock);
    b->len = 0;
}

void server_note_authz(h2o_req_t *req, const char *principal_arn, const char *action, const char *repo)
{
    if (g.fd < 0)
        return;
    for (size_t i = 0; i + 1 < req->env.size; i += 2)
        if (h2o_memis(req->env.entries[i].base, req->env.entries[i].len, H2O_STRLIT(NOTE_KEY)))
            return; /* the first authorization names the request */
    note_t *n = h2o_mem_alloc_pool(&req->pool, sizeof(*n));
    n->principal = principal_arn ? h2o_strdup(&req->pool, principal_arn, SIZE_MAX).base : NULL;
    n->action = action ? h2o_strdup(&req->pool, action, SIZE_MAX).base : NULL;
    n->repo = repo ? h2o_strdup(&req->pool, repo, SIZE_MAX).base : NULL;
    h2o_vector_reserve(&req->pool, &req->env, req->env.size + 2);
    req->env.entries[req->env.size++] = h2o_iovec_init(H2O_STRLIT(NOTE_KEY));
    req->env.entries[req->env.size++] = h2o_iovec_init(n, sizeof(*n));
}

static const note_t *find_note(h2o_req_t *req)
{
    for (size_t i = 0; i + 1 < req->env.size; i += 2)
        if (h2o_memis(req->env.entries[i].base, req->env.entries[i].len, H2O_STRLIT(NOTE_KEY)))
            return (const note_t *)req->env.entries[i + 1].base;
    return NULL;
}

/* Appends s[0..len) as a JSON string ("-" for NULL), at most max input bytes
 * (then "..."); bytes outside printable ASCII are \u00XX, so the line is
 * valid JSON and UTF-8 whatever the client sent. */
static char *put_str(char *p, const char *s, size_t len, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    *p++ = '"';
    if (!s) {
        *p++ = '-';
    } else {
        size_t n = len < max ? len : max;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '"' || c == '\\') {
                *p++ = '\\';
                *p++ = (char)c;
            } else if (c < 0x20 || c >= 0x7f) {
                memcpy(p, "\\u00", 4);
                p[4] = hex[c >> 4];
                p[5] = hex[c & 15];
                p += 6;
            } else {
                *p++ = (char)c;
            }
        }
        if (len > max) {
            memcpy(p, "...", 3);
            p += 3;
        }
    }
    *p++ = '"';
    return p;
}

#define put_lit(p, lit) ((char *)memcpy((p), (lit), sizeof(lit) - 1) + sizeof(lit) - 1)

static char *put_cstr(char *p, const char *s)
{
    return put_str(p, s, s ? strlen(s) : 0, ACCESSLOG_FIELD_MAX);
}

static void log_access(h2o_logger_t *self, h2o_req_t *req)
{
    loop_buf_t *b = h2o_context_get_logger_context(req->conn->ctx, self);
    if (!b)
        return;
    char *line = b->buf + b->len, *p = line;
    const note_t *n = find_note(req);

    /* h2o's timestamps are the loop's cached clock, taken when it woke: the
     * end is read now, when the request is done with */
    struct timeval start = req->timestamps.request_begin_at, end;
    gettimeofday(&end, NULL);
    if (h2o_timeval_is_null(&start))
        start = end;
    int64_t us = (int64_t)(end.tv_sec - start.tv_sec) * 1000000 + (end.tv_usec - start.tv_usec);
    struct tm tm;
    time_t secs = start.tv_sec;
    gmtime_r(&secs, &tm);
    p += strftime(p, 64, "{\"time\":\"%Y-%m-%dT%H:%M:%S", &tm);
    p += sprintf(p, ".%03dZ\",\"principal\":", (int)(start.tv_usec / 1000));
    p = put_cstr(p, n ? n->principal : NULL);
    p = put_lit(p, ",\"action\":");
    p = put_cstr(p, n ? n->action : NULL);
    p = put_lit(p, ",\"repository\":");
    p = put_cstr(p, n ? n->repo : NULL);
    p = put_lit(p, ",\"method\":");
    p = put_str(p, req->method.base, req->method.len, ACCESSLOG_METHOD_MAX);
    p = put_lit(p, ",\"path\":");
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    p = put_str(p, req->path.base, plen, ACCESSLOG_PATH_MAX);
    p += sprintf(p, ",\"status\":%d,\"bytes_in\":%zu,\"bytes_out\":%zu,\"duration_ms\":%lld.%03lld", req->res.status,
                 req->entity.base ? req->entity.len : 0, req->bytes_sent, (long long)(us > 0 ? us / 1000 : 0),
                 (long long)(us > 0 ? us % 1000 : 0));
    const h2o_iovec_t *rid = NULL;
    for (size_t i = 0; i < req->res.headers.size && !rid; i++)
        if (h2o_lcstris(req->res.headers.entries[i].name->base, req->res.headers.entries[i].name->len,
                        H2O_STRLIT("x-amzn-requestid")))
            rid = &req->res.headers.entries[i].value;
    if (rid) {
        p = put_lit(p, ",\"request_id\":");
        p = put_str(p, rid->base, rid->len, ACCESSLOG_REQUEST_ID_MAX);
    }
    *p++ = '}';
    *p++ = '\n';
    if (!b->len)
        b->first_at = h2o_now(req->conn->ctx->loop);
    b->len += (size_t)(p - line);
    if (b->len >= ACCESSLOG_FLUSH_BYTES)
        flush(b);
}

static void on_context_init(h2o_logger_t *self, h2o_context_t *ctx)
{
    loop_buf_t *b = calloc(1, sizeof(*b));
    if (!b)
        fprintf(stderr, "berthd: out of memory: a loop writes no access log\n");
    h2o_context_set_logger_context(ctx, self, b);
}

static void on_context_dispose(h2o_logger_t *self, h2o_context_t *ctx)
{
    loop_buf_t *b = h2o_context_get_logger_context(ctx, self);
    if (b)
        flush(b);
    /* a connection h2o closes after this (one abandoned at shutdown) logs nothing */
    h2o_context_set_logger_context(ctx, self, NULL);
    free(b);
}

void accesslog_register(h2o_pathconf_t *path)
{
    if (g.fd < 0)
        return;
    g.logger = h2o_create_logger(path, sizeof(*g.logger));
    g.logger->on_context_init = on_context_init;
    g.logger->on_context_dispose = on_context_dispose;
    g.logger->log_access = log_access;
}

void accesslog_tick(h2o_context_t *ctx)
{
    if (!g.logger)
        return;
    loop_buf_t *b = h2o_context_get_logger_context(ctx, g.logger);
    if (b && b->len && h2o_now(ctx->loop) - b->first_at >= ACCESSLOG_FLUSH_MS)
        flush(b);
}

void accesslog_flush(h2o_context_t *ctx)
{
    if (!g.logger)
        return;
    loop_buf_t *b = h2o_context_get_logger_context(ctx, g.logger);
    if (b)
        flush(b);
}
