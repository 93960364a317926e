/* regload: a small, fast HTTP/1.1 load generator for the registry benchmark.
 *
 * Plain blocking sockets, one keep-alive connection per thread, no HTTP
 * library: the point is that the client costs far less CPU than the server it
 * measures. Every mode prints one line of key=value results on stdout:
 *
 *   ok=1 ops=N bytes=B secs=S rate=R mbps=M errors=E p50_ms=.. p99_ms=..
 *
 * and exits non-zero if any request failed (first failures go to stderr).
 *
 * Modes (ADDR is HOST:PORT):
 *   regload push-small ADDR REPO COUNT SIZE CONC
 *       COUNT distinct random blobs of SIZE bytes, each pushed by the
 *       three-request flow skopeo uses (POST uploads/, PATCH with the whole
 *       body, PUT ?digest=) over CONC keep-alive connections. rate = pushes/s.
 *   regload push ADDR REPO FILE
 *       one blob from FILE by the same flow (one PATCH carrying all of it);
 *       prints digest=. mbps = MB/s over POST..201 (digest computed before);
 *       post_s, send_s (PATCH until its body is sent: the server receiving
 *       it), store_s (from then to the PATCH's reply) and put_s.
 *   regload pull ADDR PATH CONC REPEAT SIZE [SHA256HEX]
 *       CONC connections each GET PATH REPEAT times; every body must be SIZE
 *       bytes (and hash to SHA256HEX if given: costs client CPU, use it for
 *       checks, not for timing). mbps = aggregate MB/s (1 MB = 10^6 bytes).
 *   regload put-manifests ADDR REPO FILE MEDIATYPE TAGFMT COUNT CONC
 *       PUT FILE as manifest for tags printf(TAGFMT, i), i = 0..COUNT-1.
 *   regload rate ADDR METHOD PATH THREADS CONNS SECS [ACCEPT]
 *       wrk-like: THREADS epoll loops share CONNS keep-alive connections,
 *       each with one request in flight, for SECS seconds; rate = req/s.
 *       Any status other than 200 counts as an error. Exists because wrk
 *       4.1.0 (Debian 12) waits forever for the body of a HEAD response
 *       that carries Content-Length, so it cannot measure blob HEAD.
 */
#ifndef _GNU_SOURCE /* the build defines it for every file; built alone, regload needs it too */
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define RBUF (256 * 1024)

static struct sockaddr_in g_addr;
static char g_host[128];
static atomic_int g_errors;
static atomic_int g_reported;

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "regload: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void fail(const char *fmt, ...)
{
    atomic_fetch_add(&g_errors, 1);
    if (atomic_fetch_add(&g_reported, 1) >= 5)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "regload: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void parse_addr(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(g_host))
        die("bad address %s (want HOST:PORT)", s);
    memcpy(g_host, s, colon - s);
    g_host[colon - s] = 0;
    memset(&g_addr, 0, sizeof(g_addr));
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons(atoi(colon + 1));
    if (inet_pton(AF_INET, g_host, &g_addr.sin_addr) != 1)
        die("bad IPv4 address %s", g_host);
}

/* ---- one connection ---------------------------------------------------- */

typedef struct {
    int fd;
    char *buf; /* read buffer */
    size_t beg, end;
} conn_t;

typedef struct {
    int status;
    long long content_length; /* -1 if absent */
    bool chunked, close;
    char location[2048];
    char body[1024]; /* first bytes of the body, NUL-terminated */
    size_t body_len; /* total body bytes read */
} resp_t;

static void conn_close(conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->beg = c->end = 0;
}

static bool conn_open(conn_t *c)
{
    if (!c->buf)
        c->buf = malloc(RBUF);
    c->beg = c->end = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return false;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof(g_addr)) != 0) {
        fail("connect %s:%d: %s", g_host, ntohs(g_addr.sin_port), strerror(errno));
        close(c->fd);
        c->fd = -1;
        return false;
    }
    return true;
}

static bool write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n > 64 ? 64 : n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= w;
        }
    }
    return true;
}

/* Fill the buffer with at least one more byte; false on EOF/error. */
static bool fill(conn_t *c)
{
    if (c->beg == c->end)
        c->beg = c->end = 0;
    else if (c->end == RBUF) {
        memmove(c->buf, c->buf + c->beg, c->end - c->beg);
        c->end -= c->beg;
        c->beg = 0;
    }
    if (c->end == RBUF)
        return false; /* header line longer than the buffer */
    for (;;) {
        ssize_t r = read(c->fd, c->buf + c->end, RBUF - c->end);
        if (r > 0) {
            c->end += r;
            return true;
        }
        if (r < 0 && errno == EINTR)
            continue;
        return false;
    }
}

/* Next line (without CRLF) into out; false on EOF. */
static bool read_line(conn_t *c, char *out, size_t cap)
{
    for (;;) {
        char *nl = memchr(c->buf + c->beg, '\n', c->end - c->beg);
        if (nl) {
            size_t len = nl - (c->buf + c->beg);
            if (len && c->buf[c->beg + len - 1] == '\r')
                len--;
            if (len >= cap)
                len = cap - 1;
            memcpy(out, c->buf + c->beg, len);
            out[len] = 0;
            c->beg = nl - c->buf + 1;
            return true;
        }
        if (!fill(c))
            return false;
    }
}

/* Consume n body bytes, feeding them to the hash and the snippet. */
static bool read_body_bytes(conn_t *c, resp_t *r, unsigned long long n, EVP_MD_CTX *md)
{
    while (n > 0) {
        if (c->beg == c->end && !fill(c))
            return false;
        size_t avail = c->end - c->beg;
        size_t take = avail < n ? avail : (size_t)n;
        if (md)
            EVP_DigestUpdate(md, c->buf + c->beg, take);
        if (r->body_len < sizeof(r->body) - 1) {
            size_t room = sizeof(r->body) - 1 - r->body_len;
            size_t cp = take < room ? take : room;
            memcpy(r->body + r->body_len, c->buf + c->beg, cp);
            r->body[r->body_len + cp] = 0;
        }
        r->body_len += take;
        c->beg += take;
        n -= take;
    }
    return true;
}

static bool read_response(conn_t *c, resp_t *r, bool head, EVP_MD_CTX *md)
{
    char line[4096];
    memset(r, 0, sizeof(*r));
    r->content_length = -1;
    if (!read_line(c, line, sizeof(line)))
        return false;
    if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12)
        return false;
    r->status = atoi(line + 9);
    if (line[7] == '0')
        r->close = true;
    for (;;) {
        if (!read_line(c, line, sizeof(line)))
            return false;
        if (!line[0])
            break;
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = 0;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (!strcasecmp(line, "content-length"))
            r->content_length = atoll(v);
        else if (!strcasecmp(line, "transfer-encoding") && strcasestr(v, "chunked"))
            r->chunked = true;
        else if (!strcasecmp(line, "connection") && strcasestr(v, "close"))
            r->close = true;
        else if (!strcasecmp(line, "location"))
            snprintf(r->location, sizeof(r->location), "%s", v);
    }
    if (head || r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200))
        return true;
    if (r->chunked) {
        for (;;) {
            if (!read_line(c, line, sizeof(line)))
                return false;
            unsigned long long n = strtoull(line, NULL, 16);
            if (n == 0) {
                while (read_line(c, line, sizeof(line)) && line[0])
                    ;
                return true;
            }
            if (!read_body_bytes(c, r, n, md) || !read_line(c, line, sizeof(line)))
                return false;
        }
    }
    if (r->content_length >= 0)
        return read_body_bytes(c, r, (unsigned long long)r->content_length, md);
    r->close = true; /* body until EOF */
    while (c->beg < c->end || fill(c))
        read_body_bytes(c, r, c->end - c->beg, md);
    return true;
}

/* When the last request's last byte went into the socket: for a big body,
 * about when the server has taken it in (the loopback socket buffers hold a
 * few MB), so the rest of the request's time is the server storing it. */
static double g_sent_at;

/* Phases of the last push_blob, seconds: POST; PATCH until its body was
 * sent (the server receiving it) and from then to the reply (storing it); PUT. */
static double g_post_s, g_send_s, g_store_s, g_put_s;

/* One request with an optional body; reconnects once if a kept-alive
 * connection turned out to be closed before anything was read. */
static bool request(conn_t *c, const char *method, const char *path, const char *extra_headers, const void *body, size_t body_len,
                    resp_t *r, EVP_MD_CTX *md)
{
    char hdr[4096];
    int hl = snprintf(hdr, sizeof(hdr), "%s %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: regload\r\n%sContent-Length: %zu\r\n\r\n",
                      method, path, g_host, ntohs(g_addr.sin_port), extra_headers ? extra_headers : "", body_len);
    if (hl < 0 || (size_t)hl >= sizeof(hdr)) {
        fail("request line too long");
        return false;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0 && !conn_open(c))
            return false;
        struct iovec iov[2] = {{hdr, (size_t)hl}, {(void *)body, body_len}};
        bool wrote = write_all(c->fd, iov, body_len ? 2 : 1);
        g_sent_at = now();
        if (!wrote && attempt == 0 && body_len < (1 << 20)) {
            conn_close(c);
            continue;
        }
        bool got = read_response(c, r, !strcmp(method, "HEAD"), md);
        if (!got) {
            bool fresh = c->beg == 0 && c->end == 0;
            conn_close(c);
            if (attempt == 0 && fresh && body_len < (1 << 20) && !md)
                continue;
            fail("%s %s: connection lost (%s)", method, path, wrote ? "reading response" : "writing request");
            return false;
        }
        if (r->close)
            conn_close(c);
        return true;
    }
    return false;
}

/* Location header (absolute URL or path) -> path, with ?digest= appended. */
static void location_path(const char *loc, const char *digest, char *out, size_t cap)
{
    const char *p = loc;
    if (!strncasecmp(p, "http://", 7) || !strncasecmp(p, "https://", 8)) {
        p = strstr(p, "://") + 3;
        p = strchr(p, '/');
        if (!p)
            p = "/";
    }
    if (digest)
        snprintf(out, cap, "%s%sdigest=%s", p, strchr(p, '?') ? "&" : "?", digest);
    else
        snprintf(out, cap, "%s", p);
}

static void sha256_hex(const void *data, size_t len, char out[72])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    strcpy(out, "sha256:");
    for (int i = 0; i < 32; i++)
        sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

/* The skopeo flow: POST, one PATCH with everything, PUT ?digest=. */
static bool push_blob(conn_t *c, const char *repo, const void *data, size_t len, const char *digest)
{
    char path[2300];
    resp_t r;
    snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", repo);
    double t0 = now();
    if (!request(c, "POST", path, NULL, NULL, 0, &r, NULL))
        return false;
    double t1 = now();
    if (r.status != 202 || !r.location[0]) {
        fail("POST %s: status %d %s", path, r.status, r.body);
        return false;
    }
    location_path(r.location, NULL, path, sizeof(path));
    /* Like skopeo (containers/image): Content-Length, no Content-Range. */
    if (!request(c, "PATCH", path, "Content-Type: application/octet-stream\r\n", data, len, &r, NULL))
        return false;
    double t2 = now();
    g_post_s = t1 - t0;
    g_send_s = g_sent_at - t1;
    g_store_s = t2 - g_sent_at;
    if (r.status != 202 || !r.location[0]) {
        fail("PATCH %s: status %d %s", path, r.status, r.body);
        return false;
    }
    location_path(r.location, digest, path, sizeof(path));
    if (!request(c, "PUT", path, NULL, NULL, 0, &r, NULL))
        return false;
    g_put_s = now() - t2;
    if (r.status != 201) {
        fail("PUT %s: status %d %s", path, r.status, r.body);
        return false;
    }
    return true;
}

/* ---- threads ------------------------------------------------------------- */

typedef struct {
    const char *repo;
    const char *path;
    size_t count, size, repeat;
    unsigned char *blobs;
    char (*digests)[72];
    const char *want_hash;
    const char *manifest;
    size_t manifest_len;
    const char *media_type;
    const char *tagfmt;
    atomic_size_t next;
    atomic_ullong bytes;
    double *lat; /* per-op latency, seconds */
    pthread_barrier_t start;
} job_t;

static job_t J;

static void record(size_t i, double t0)
{
    if (J.lat)
        J.lat[i] = now() - t0;
}

static void *push_small_thread(void *arg)
{
    (void)arg;
    conn_t c = {.fd = -1};
    conn_open(&c);
    pthread_barrier_wait(&J.start);
    for (;;) {
        size_t i = atomic_fetch_add(&J.next, 1);
        if (i >= J.count)
            break;
        double t0 = now();
        if (push_blob(&c, J.repo, J.blobs + i * J.size, J.size, J.digests[i]))
            atomic_fetch_add(&J.bytes, J.size);
        record(i, t0);
    }
    conn_close(&c);
    free(c.buf);
    return NULL;
}

static void *pull_thread(void *arg)
{
    (void)arg;
    conn_t c = {.fd = -1};
    conn_open(&c);
    EVP_MD_CTX *md = J.want_hash ? EVP_MD_CTX_new() : NULL;
    pthread_barrier_wait(&J.start);
    for (size_t k = 0; k < J.repeat; k++) {
        size_t i = atomic_fetch_add(&J.next, 1);
        double t0 = now();
        resp_t r;
        if (md)
            EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        if (!request(&c, "GET", J.path, NULL, NULL, 0, &r, md))
            continue;
        if (r.status != 200 || r.body_len != J.size) {
            fail("GET %s: status %d, %zu bytes (want 200, %zu) %s", J.path, r.status, r.body_len, J.size,
                 r.status != 200 ? r.body : "");
            continue;
        }
        if (md) {
            unsigned char d[32];
            unsigned int dl;
            char hex[65];
            EVP_DigestFinal_ex(md, d, &dl);
            for (int b = 0; b < 32; b++)
                sprintf(hex + 2 * b, "%02x", d[b]);
            if (strcmp(hex, J.want_hash) != 0) {
                fail("GET %s: body hashes to %s, want %s", J.path, hex, J.want_hash);
                continue;
            }
        }
        atomic_fetch_add(&J.bytes, r.body_len);
        record(i, t0);
    }
    if (md)
        EVP_MD_CTX_free(md);
    conn_close(&c);
    free(c.buf);
    return NULL;
}

static void *put_manifest_thread(void *arg)
{
    (void)arg;
    conn_t c = {.fd = -1};
    conn_open(&c);
    char hdr[300], path[600], tag[200];
    snprintf(hdr, sizeof(hdr), "Content-Type: %s\r\n", J.media_type);
    pthread_barrier_wait(&J.start);
    for (;;) {
        size_t i = atomic_fetch_add(&J.next, 1);
        if (i >= J.count)
            break;
        if (strchr(J.tagfmt, '%'))
            snprintf(tag, sizeof(tag), J.tagfmt, (int)i);
        else
            snprintf(tag, sizeof(tag), "%s", J.tagfmt);
        snprintf(path, sizeof(path), "/v2/%s/manifests/%s", J.repo, tag);
        double t0 = now();
        resp_t r;
        if (!request(&c, "PUT", path, hdr, J.manifest, J.manifest_len, &r, NULL))
            continue;
        if (r.status != 201) {
            fail("PUT %s: status %d %s", path, r.status, r.body);
            continue;
        }
        atomic_fetch_add(&J.bytes, J.manifest_len);
        record(i, t0);
    }
    conn_close(&c);
    free(c.buf);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int run_threads(size_t conc, void *(*fn)(void *), size_t ops)
{
    pthread_t *t = calloc(conc, sizeof(*t));
    J.lat = calloc(ops ? ops : 1, sizeof(double));
    pthread_barrier_init(&J.start, NULL, (unsigned)conc + 1);
    for (size_t i = 0; i < conc; i++)
        if (pthread_create(&t[i], NULL, fn, NULL) != 0)
            die("pthread_create failed");
    double c0 = cpu_now();
    pthread_barrier_wait(&J.start);
    double t0 = now();
    for (size_t i = 0; i < conc; i++)
        pthread_join(t[i], NULL);
    double secs = now() - t0;
    int errors = atomic_load(&g_errors);
    size_t okops = ops - (size_t)errors;
    qsort(J.lat, ops, sizeof(double), cmp_double);
    double cpu = cpu_now() - c0;
    unsigned long long bytes = atomic_load(&J.bytes);
    printf("ok=%d ops=%zu bytes=%llu secs=%.6f rate=%.2f mbps=%.2f errors=%d p50_ms=%.3f p99_ms=%.3f cpu_s=%.3f\n", errors == 0,
           okops, bytes, secs, okops / secs, bytes / secs / 1e6, errors, J.lat[ops / 2] * 1e3, J.lat[(size_t)(ops * 0.99)] * 1e3,
           cpu);
    free(t);
    return errors ? 1 : 0;
}

/* ---- rate mode: epoll, one request in flight per connection -------------- */

typedef struct {
    int fd;
    char *buf;
    size_t len, cap;
    double sent_at;
} rconn_t;

typedef struct {
    int nconns;
    unsigned long long requests, bytes;
    double *lat;
    size_t nlat, caplat;
} rthread_t;

static struct {
    const char *method;
    char req[4096];
    size_t req_len;
    bool head;
    double deadline;
} R;

static bool rconn_connect(rconn_t *c, int ep)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&g_addr, sizeof(g_addr)) != 0) {
        fail("connect: %s", strerror(errno));
        return false;
    }
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->len = 0;
    return true;
}

static bool rconn_send(rconn_t *c)
{
    c->sent_at = now();
    /* The request is small: a blocking-style write on an idle socket. */
    size_t off = 0;
    while (off < R.req_len) {
        ssize_t w = write(c->fd, R.req + off, R.req_len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

/* Is a whole response buffered? -1 malformed, 0 not yet, else its length. */
static long resp_complete(rconn_t *c, int *status)
{
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t hlen = end - c->buf + 4;
    if (c->len < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(c->buf + 9);
    long long cl = -1;
    for (char *p = c->buf; p < end;) {
        char *nl = memchr(p, '\n', end - p);
        if (!nl)
            break;
        if (!strncasecmp(p, "content-length:", 15))
            cl = atoll(p + 15);
        else if (!strncasecmp(p, "transfer-encoding:", 18))
            return -1; /* not needed for the registry's responses */
        p = nl + 1;
    }
    if (R.head || *status == 204 || *status == 304)
        cl = 0;
    if (cl < 0)
        return -1;
    if (c->len < hlen + (size_t)cl)
        return 0;
    return (long)(hlen + cl);
}

static void *rate_thread(void *arg)
{
    rthread_t *t = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    rconn_t *cs = calloc(t->nconns, sizeof(*cs));
    for (int i = 0; i < t->nconns; i++) {
        cs[i].cap = 64 * 1024;
        cs[i].buf = malloc(cs[i].cap);
        rconn_connect(&cs[i], ep);
    }
    pthread_barrier_wait(&J.start);
    for (int i = 0; i < t->nconns; i++)
        if (cs[i].fd >= 0 && !rconn_send(&cs[i]))
            fail("write failed");
    struct epoll_event evs[64];
    while (now() < R.deadline) {
        int n = epoll_wait(ep, evs, 64, 100);
        for (int k = 0; k < n; k++) {
            rconn_t *c = evs[k].data.ptr;
            for (;;) {
                if (c->len == c->cap) {
                    c->cap *= 2;
                    c->buf = realloc(c->buf, c->cap);
                }
                ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
                if (r > 0) {
                    c->len += r;
                    continue;
                }
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                /* EOF or error: the server closed a kept-alive connection. */
                fail("%s: connection closed by the server", R.method);
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                if (!rconn_connect(c, ep) || !rconn_send(c))
                    goto out;
                break;
            }
            int status = 0;
            long done = resp_complete(c, &status);
            if (done < 0) {
                fail("%s: malformed response", R.method);
                goto out;
            }
            if (done == 0)
                continue;
            if ((size_t)done != c->len) {
                fail("%s: bytes after the response", R.method);
                goto out;
            }
            double t1 = now();
            if (status != 200)
                fail("%s: status %d: %.200s", R.method, status, c->buf);
            t->requests++;
            t->bytes += done;
            if (t->nlat == t->caplat) {
                t->caplat = t->caplat ? 2 * t->caplat : 65536;
                t->lat = realloc(t->lat, t->caplat * sizeof(double));
            }
            t->lat[t->nlat++] = t1 - c->sent_at;
            c->len = 0;
            if (t1 < R.deadline && !rconn_send(c)) {
                fail("write failed");
                goto out;
            }
        }
    }
out:
    for (int i = 0; i < t->nconns; i++) {
        if (cs[i].fd >= 0)
            close(cs[i].fd);
        free(cs[i].buf);
    }
    free(cs);
    close(ep);
    return NULL;
}

static int run_rate(const char *method, const char *path, int threads, int conns, double secs, const char *accept)
{
    R.method = method;
    R.head = !strcmp(method, "HEAD");
    char acc[1024] = "";
    if (accept && *accept)
        snprintf(acc, sizeof(acc), "Accept: %s\r\n", accept);
    R.req_len = snprintf(R.req, sizeof(R.req), "%s %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: regload\r\n%s\r\n", method, path,
                         g_host, ntohs(g_addr.sin_port), acc);
    if (threads > conns)
        threads = conns;
    rthread_t *ts = calloc(threads, sizeof(*ts));
    pthread_t *tid = calloc(threads, sizeof(*tid));
    pthread_barrier_init(&J.start, NULL, threads + 1);
    for (int i = 0; i < threads; i++) {
        ts[i].nconns = conns / threads + (i < conns % threads);
        pthread_create(&tid[i], NULL, rate_thread, &ts[i]);
    }
    double c0 = cpu_now();
    R.deadline = now() + secs + 1e9; /* set for real below, after connecting */
    pthread_barrier_wait(&J.start);
    double t0 = now();
    R.deadline = t0 + secs;
    unsigned long long reqs = 0, bytes = 0;
    size_t nlat = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        reqs += ts[i].requests;
        bytes += ts[i].bytes;
        nlat += ts[i].nlat;
    }
    double el = now() - t0, cpu = cpu_now() - c0;
    double *lat = malloc((nlat ? nlat : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(lat + k, ts[i].lat, ts[i].nlat * sizeof(double));
        k += ts[i].nlat;
        free(ts[i].lat);
    }
    qsort(lat, nlat, sizeof(double), cmp_double);
    double mean = 0;
    for (size_t i = 0; i < nlat; i++)
        mean += lat[i];
    mean = nlat ? mean / nlat : 0;
    int errors = atomic_load(&g_errors);
    printf("ok=%d ops=%llu bytes=%llu secs=%.6f rate=%.2f mbps=%.2f errors=%d p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f "
           "cpu_s=%.3f\n",
           errors == 0 && reqs > 0, reqs, bytes, el, reqs / el, bytes / el / 1e6, errors, nlat ? lat[nlat / 2] * 1e3 : 0,
           nlat ? lat[(size_t)(nlat * 0.99)] * 1e3 : 0, mean * 1e3, cpu);
    return errors || !reqs ? 1 : 0;
}

static size_t num(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end == 'K' || *end == 'k')
        v <<= 10;
    else if (*end == 'M' || *end == 'm')
        v <<= 20;
    else if (*end == 'G' || *end == 'g')
        v <<= 30;
    return (size_t)v;
}

static void *map_file(const char *file, size_t *len)
{
    int fd = open(file, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        die("cannot open %s: %s", file, strerror(errno));
    *len = st.st_size;
    void *p = st.st_size ? mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : (void *)"";
    if (p == MAP_FAILED)
        die("mmap %s: %s", file, strerror(errno));
    close(fd);
    return p;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 3)
        die("usage: see the comment at the top of regload.c");
    const char *mode = argv[1];
    parse_addr(argv[2]);

    if (!strcmp(mode, "push-small") && argc == 7) {
        J.repo = argv[3];
        J.count = num(argv[4]);
        J.size = num(argv[5]);
        size_t conc = num(argv[6]);
        J.blobs = malloc(J.count * J.size);
        J.digests = calloc(J.count, sizeof(*J.digests));
        for (size_t off = 0; off < J.count * J.size;) {
            ssize_t g = getrandom(J.blobs + off, J.count * J.size - off, 0);
            if (g > 0)
                off += g;
        }
        for (size_t i = 0; i < J.count; i++)
            sha256_hex(J.blobs + i * J.size, J.size, J.digests[i]);
        return run_threads(conc, push_small_thread, J.count);
    }
    if (!strcmp(mode, "push") && argc == 5) {
        size_t len;
        void *data = map_file(argv[4], &len);
        char digest[72];
        sha256_hex(data, len, digest);
        conn_t c = {.fd = -1};
        if (!conn_open(&c))
            return 1;
        double c0 = cpu_now(), t0 = now();
        bool ok = push_blob(&c, argv[3], data, len, digest);
        double secs = now() - t0, cpu = cpu_now() - c0;
        printf("ok=%d ops=%d bytes=%zu secs=%.6f rate=%.2f mbps=%.2f errors=%d digest=%s cpu_s=%.3f post_s=%.4f send_s=%.4f "
               "store_s=%.4f put_s=%.4f\n",
               ok, ok ? 1 : 0, ok ? len : 0, secs, (ok ? 1 : 0) / secs, ok ? len / secs / 1e6 : 0, ok ? 0 : 1, digest, cpu,
               g_post_s, g_send_s, g_store_s, g_put_s);
        return ok ? 0 : 1;
    }
    if (!strcmp(mode, "pull") && (argc == 7 || argc == 8)) {
        J.path = argv[3];
        size_t conc = num(argv[4]);
        J.repeat = num(argv[5]);
        J.size = num(argv[6]);
        J.want_hash = argc == 8 ? argv[7] : NULL;
        if (J.want_hash && !strncmp(J.want_hash, "sha256:", 7))
            J.want_hash += 7;
        return run_threads(conc, pull_thread, conc * J.repeat);
    }
    if (!strcmp(mode, "put-manifests") && argc == 9) {
        J.repo = argv[3];
        J.manifest = map_file(argv[4], &J.manifest_len);
        J.media_type = argv[5];
        J.tagfmt = argv[6];
        J.count = num(argv[7]);
        size_t conc = num(argv[8]);
        if (conc > J.count)
            conc = J.count ? J.count : 1;
        return run_threads(conc, put_manifest_thread, J.count);
    }
    if (!strcmp(mode, "rate") && (argc == 8 || argc == 9))
        return run_rate(argv[3], argv[4], (int)num(argv[5]), (int)num(argv[6]), atof(argv[7]), argc == 9 ? argv[8] : NULL);
    die("bad arguments for mode %s (see the comment at the top of regload.c)", mode);
}
