/* Connection limits: what h2o 2.2.5 cannot bound by itself.
 *
 * h2o reads a whole request body before any handler runs (so nothing can
 * authenticate a request before its body has arrived), and its only read
 * timeout is a total one (http1.req_timeout, armed once per request and never
 * reset as bytes arrive). So berthd watches the sockets it accepts, on each
 * event loop, with one timer per loop:
 *
 *  - idle timeout: a connection whose bytes have not moved for --idle-timeout
 *    is cut. "Moved" is the kernel's count of bytes received and bytes the
 *    peer acknowledged (TCP_INFO), so a TLS record arriving slowly counts, and
 *    so does a slow reader taking a response. A connection is never idle while
 *    the server owes the next move: a request is in a handler (e.g. waiting
 *    for the writer's sync) and nothing is being written to the client.
 *    A request head (request line and headers) must also arrive whole within
 *    --idle-timeout of its first byte, or the connection is cut: a slowloris
 *    trickling header bytes keeps them moving, and would otherwise hold its
 *    connection until --request-timeout;
 *  - spool bound: bytes of requests still arriving (sock->input: the head and
 *    the body h2o is still gathering, in memory or in its spool file) across
 *    all connections. The connection holding the most is exempt, so one body
 *    up to --max-body always fits; when all the others together hold more than
 *    --max-spool, the largest of them is cut. A request in a handler is not
 *    counted: its sender has been authenticated (or refused, which frees its
 *    buffer), and cutting small newcomers would not make its bytes go away;
 *  - connection caps: overall (--max-connections, clamped below what the file
 *    descriptor limit allows) and per client address; past one, a connection
 *    is accepted and closed at once (plain HTTP gets a 503 first), so the
 *    kernel's backlog never holds it silently;
 *  - out of descriptors (EMFILE, ENFILE, which the cap should make rare: some
 *    other use took them): the connection first in the backlog is refused with
 *    a descriptor each loop keeps spare for this, so the backlog drains rather
 *    than keeping every later client waiting; without a spare, the listener
 *    stops for ACCEPT_BACKOFF_MS. h2o's epoll is level triggered: doing neither,
 *    the loop retried the same failing accept at full speed and served nobody.
 *
 * A connection is cut with shutdown(2), never h2o_socket_close: h2o owns the
 * socket and its connection object, and finds out through its own read or
 * write path (a read of 0, EPIPE, or the reset Linux sends when data arrives
 * after SHUT_RD in FIN_WAIT), which frees everything in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/server_internal.h"

/* How often each loop looks at its connections: the spool bound reacts within
 * this (a loopback body grows ~100 MB in it), and it costs a walk of a list. */
#define TICK_MS 100
/* The idle check costs a getsockopt per connection: once a second is enough
 * for timeouts counted in seconds. */
#define IDLE_CHECK_TICKS 10
/* Long enough that a loop out of descriptors does not spin, short enough that
 * a client waits no more than a blink once descriptors are free again. */
#define ACCEPT_BACKOFF_MS 100
/* At most this many spool cuts per loop per tick: each one rescans the list. */
#define MAX_CUTS_PER_TICK 16
/* Distinct client addresses hash into this many chains. */
#define IP_BUCKETS 1024
/* Refusals are logged at most this often per loop (an attack would flood the log). */
#define REFUSAL_LOG_SECONDS 10

typedef struct {
    uint8_t b[16]; /* IPv6, or IPv4 as ::ffff:a.b.c.d */
} ip_key_t;

typedef struct ip_node {
    struct ip_node *next;
    ip_key_t ip;
    unsigned conns;
} ip_node_t;

typedef struct {
    uint64_t held; /* bytes of requests still arriving on this loop */
    uint64_t top;  /* the most one of its connections holds */
    uint64_t cand; /* the most one holds that is not the exempt one */
} loop_spool_t;

struct conn_shared {
    conn_limits_t lim;
    /* Held around every accept: out of descriptors, a loop's spare is closed
     * to accept and refuse a connection, and another loop's accept must not
     * take the number in between. An accept is a few microseconds. */
    pthread_mutex_t accept_lock;
    pthread_mutex_t lock; /* guards everything below */
    unsigned conns;       /* open accepted connections, all loops */
    ip_node_t *ips[IP_BUCKETS];
    unsigned nloops;
    loop_spool_t *spool; /* one per loop, published each tick */
};

typedef struct conn conn_t;

struct conn_loop {
    conn_shared_t *shared;
    unsigned index;
    h2o_context_t *ctx;
    h2o_accept_ctx_t *accept_ctx;
    h2o_socket_t *listener;
    h2o_linklist_t conns; /* conn_t, until freed */
    h2o_timeout_t tick_timeout, backoff_timeout;
    h2o_timeout_entry_t tick, backoff;
    unsigned ticks;
    bool stopping;
    int spare_fd;     /* /dev/null, given up to refuse a connection when out of descriptors; -1: none */
    uint64_t refused; /* since the last log line */
    time_t refusal_logged_at;
    uint64_t spool_cuts; /* since the last log line */
    time_t spool_cut_logged_at;
};

struct conn {
    h2o_linklist_t link; /* in the loop's list until freed */
    conn_loop_t *loop;
    h2o_socket_t *sock; /* NULL once h2o has closed it */
    ip_key_t ip;
    bool has_ip;
    bool cut;            /* shut down; h2o will close it */
    unsigned in_handler; /* requests in a handler: their pools not yet freed */
    uint64_t moved[4];   /* TCP bytes received, acked; input size, bytes written: at the last idle check */
    uint64_t moved_at;   /* loop time (ms) they last changed, or the server last owed the move */
    uint64_t head_since; /* loop time (ms) a request head was first seen incomplete; 0: none is */
};

/* ---- addresses ---- */

static bool ip_key(const struct sockaddr_storage *ss, socklen_t len, ip_key_t *k)
{
    memset(k, 0, sizeof(*k));
    if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        k->b[10] = k->b[11] = 0xff;
        memcpy(k->b + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        return true;
    }
    if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        memcpy(k->b, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
        return true;
    }
    return false;
}

static unsigned ip_hash(const ip_key_t *k)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < sizeof(k->b); i++)
        h = (h ^ k->b[i]) * 16777619u;
    return h % IP_BUCKETS;
}

static ip_node_t **ip_find(conn_shared_t *s, const ip_key_t *k)
{
    ip_node_t **p = &s->ips[ip_hash(k)];
    while (*p && memcmp((*p)->ip.b, k->b, sizeof(k->b)) != 0)
        p = &(*p)->next;
    return p;
}

/* ---- shared state ---- */

conn_shared_t *conn_shared_new(const conn_limits_t *lim, unsigned nloops)
{
    conn_shared_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (!(s->spool = calloc(nloops, sizeof(*s->spool)))) {
        free(s);
        return NULL;
    }
    s->lim = *lim;
    s->nloops = nloops;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->accept_lock, NULL);
    return s;
}

void conn_shared_free(conn_shared_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < IP_BUCKETS; i++)
        while (s->ips[i]) {
            ip_node_t *n = s->ips[i];
            s->ips[i] = n->next;
            free(n);
        }
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->accept_lock);
    free(s->spool);
    free(s);
}

/* Counts a new connection in, or says which cap refuses it (NULL: admitted). */
static const char *admit(conn_shared_t *s, const ip_key_t *ip)
{
    const char *why = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->conns >= s->lim.max_conns) {
        why = "--max-connections";
    } else if (ip && s->lim.max_conns_per_ip) {
        ip_node_t **p = ip_find(s, ip);
        if (!*p && (*p = calloc(1, sizeof(**p))))
            (*p)->ip = *ip;
        if (!*p)
            why = "out of memory";
        else if ((*p)->conns >= s->lim.max_conns_per_ip)
            why = "--max-connections-per-ip";
        else
            (*p)->conns++;
    }
    if (!why)
        s->conns++;
    pthread_mutex_unlock(&s->lock);
    return why;
}

static void release(conn_shared_t *s, const conn_t *c)
{
    pthread_mutex_lock(&s->lock);
    s->conns--;
    if (c->has_ip && s->lim.max_conns_per_ip) {
        ip_node_t **p = ip_find(s, &c->ip), *n = *p;
        if (n && --n->conns == 0) {
            *p = n->next;
            free(n);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

/* ---- one connection ---- */

static void conn_free(conn_t *c)
{
    h2o_linklist_unlink(&c->link);
    free(c);
}

/* h2o disposed the socket (sock->on_close): the connection is gone, but a
 * request's pool may still point at us; the last of the two frees. */
static void on_sock_close(void *data)
{
    conn_t *c = data;
    c->sock = NULL;
    release(c->loop->shared, c);
    if (!c->in_handler)
        conn_free(c);
}

/* A request's pool is freed: its response is done (or its client gone), so
 * the next move is the client's again, and its idle clock starts now. */
static void on_req_dispose(void *p)
{
    conn_t *c = *(conn_t **)p;
    c->in_handler--;
    if (!c->sock) {
        if (!c->in_handler)
            conn_free(c);
        return;
    }
    c->moved_at = h2o_now(c->loop->ctx->loop);
}

void conn_request_begin(h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
    if (!sock || sock->on_close.cb != on_sock_close)
        return;
    conn_t *c = sock->on_close.data;
    conn_t **slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_req_dispose);
    *slot = c;
    c->in_handler++;
}

static void cut(conn_t *c)
{
    c->cut = true;
    shutdown(h2o_socket_get_fd(c->sock), SHUT_RDWR);
}

/* ---- the idle timeout ---- */

/* Whether the connection's input is the start of an HTTP/1 request head whose
 * end has not arrived. h2o consumes each request once answered, so the input
 * starts with the current request; a head ends at its first empty line. Not
 * for HTTP/2 (opt-in, over TLS): its frames are binary. */
static bool head_incomplete(h2o_socket_t *sock)
{
    size_t n = sock->input->size < H2O_MAX_REQLEN ? sock->input->size : H2O_MAX_REQLEN;
    if (n == 0)
        return false;
    if (sock->ssl) {
        h2o_iovec_t proto = h2o_socket_ssl_get_selected_protocol(sock);
        if (proto.len == 2 && memcmp(proto.base, "h2", 2) == 0)
            return false;
    }
    /* picohttpparser takes bare LF line ends too */
    return !memmem(sock->input->bytes, n, "\r\n\r\n", 4) && !memmem(sock->input->bytes, n, "\n\n", 2);
}

static void check_idle(conn_loop_t *l, uint64_t now)
{
    uint64_t idle_ms = l->shared->lim.idle_ms;
    for (h2o_linklist_t *n = l->conns.next; n != &l->conns; n = n->next) {
        conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, link, n);
        if (!c->sock || c->cut)
            continue;
        if (c->in_handler && !h2o_socket_is_writing(c->sock)) {
            c->moved_at = now; /* the server's move: a handler is working on a request */
            continue;
        }
        if (!c->in_handler && head_incomplete(c->sock)) {
            if (!c->head_since)
                c->head_since = now;
            else if (now - c->head_since >= idle_ms) {
                cut(c);
                continue;
            }
        } else {
            c->head_since = 0;
        }
        /* The kernel's counters see bytes h2o has not read yet (and TLS
         * records not yet complete); the socket's own are the fallback where
         * TCP_INFO lacks them. */
        uint64_t m[4] = {0, 0, c->sock->input->size, c->sock->bytes_written};
        struct tcp_info ti;
        socklen_t len = sizeof(ti);
        if (getsockopt(h2o_socket_get_fd(c->sock), IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
            len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received)) {
            m[0] = ti.tcpi_bytes_received;
            m[1] = ti.tcpi_bytes_acked;
        }
        if (memcmp(m, c->moved, sizeof(m)) != 0) {
            memcpy(c->moved, m, sizeof(m));
            c->moved_at = now;
        } else if (now - c->moved_at >= idle_ms) {
            cut(c);
        }
    }
}

/* ---- the spool bound ---- */

/* One pass: publishes this loop's figures, and cuts its largest connection
 * when that is the largest candidate anywhere and the connections other than
 * the exempt one hold more than the bound. True if it cut one. */
static bool check_spool(conn_loop_t *l)
{
    conn_shared_t *s = l->shared;
    uint64_t held = 0;
    conn_t *big[2] = {NULL, NULL}; /* the two holding the most */
    for (h2o_linklist_t *n = l->conns.next; n != &l->conns; n = n->next) {
        conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, link, n);
        size_t size = c->sock && !c->cut && !c->in_handler ? c->sock->input->size : 0;
        if (size == 0) /* closed, on its way out, in a handler, or holding nothing */
            continue;
        held += size;
        if (!big[0] || size > big[0]->sock->input->size) {
            big[1] = big[0];
            big[0] = c;
        } else if (!big[1] || size > big[1]->sock->input->size) {
            big[1] = c;
        }
    }

    bool cutting = false;
    pthread_mutex_lock(&s->lock);
    loop_spool_t *me = &s->spool[l->index];
    me->held = held;
    me->top = big[0] ? big[0]->sock->input->size : 0;
    uint64_t total = 0;
    unsigned owner = 0;
    for (unsigned i = 0; i < s->nloops; i++) {
        total += s->spool[i].held;
        if (s->spool[i].top > s->spool[owner].top)
            owner = i;
    }
    /* The exempt connection (the one holding the most) is never a candidate. */
    conn_t *mine = owner == l->index ? big[1] : big[0];
    me->cand = mine ? mine->sock->input->size : 0;
    if (mine && total - s->spool[owner].top > s->lim.max_spool) {
        cutting = true;
        for (unsigned i = 0; i < s->nloops && cutting; i++)
            if (s->spool[i].cand > me->cand || (s->spool[i].cand == me->cand && i < l->index))
                cutting = false; /* another loop holds a larger one: it cuts */
    }
    if (cutting) {
        me->held -= me->cand;
        me->cand = 0;
    }
    pthread_mutex_unlock(&s->lock);

    if (cutting) {
        /* logged at most every REFUSAL_LOG_SECONDS, as refusals are: a flood would flood the log */
        time_t now = time(NULL);
        l->spool_cuts++;
        if (now - l->spool_cut_logged_at >= REFUSAL_LOG_SECONDS) {
            fprintf(stderr,
                    "berthd: cut %llu connection(s) whose requests were still arriving, the last holding %zu bytes: "
                    "over --max-spool (%llu)\n",
                    (unsigned long long)l->spool_cuts, mine->sock->input->size, (unsigned long long)s->lim.max_spool);
            l->spool_cuts = 0;
            l->spool_cut_logged_at = now;
        }
        cut(mine);
    }
    return cutting;
}

static void restore_spare(conn_loop_t *l);

static void on_tick(h2o_timeout_entry_t *e)
{
    conn_loop_t *l = H2O_STRUCT_FROM_MEMBER(conn_loop_t, tick, e);
    restore_spare(l);
    if (++l->ticks % IDLE_CHECK_TICKS == 0)
        check_idle(l, h2o_now(l->ctx->loop));
    for (int i = 0; i < MAX_CUTS_PER_TICK && check_spool(l); i++)
        ;
    h2o_timeout_link(l->ctx->loop, &l->tick_timeout, &l->tick);
}

/* ---- accepting ---- */

static void log_refusal(conn_loop_t *l, const char *why)
{
    time_t now = time(NULL);
    l->refused++;
    if (now - l->refusal_logged_at < REFUSAL_LOG_SECONDS)
        return;
    fprintf(stderr, "berthd: refused %llu connection(s) (%s reached)\n", (unsigned long long)l->refused, why);
    l->refused = 0;
    l->refusal_logged_at = now;
}

/* Plain HTTP can say why a connection is refused; a TLS client only sees it close. */
static void say_busy(conn_loop_t *l, int fd)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
                               "Docker-Distribution-API-Version: registry/2.0\r\nContent-Length: 0\r\n\r\n";
    if (!l->accept_ctx->ssl_ctx && send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* best effort: the close that follows is the answer either way */
    }
}

static void refuse(conn_loop_t *l, h2o_socket_t *sock, const char *why)
{
    say_busy(l, h2o_socket_get_fd(sock));
    log_refusal(l, why);
    h2o_socket_close(sock);
}

/* Out of descriptors: refuses the connection first in the backlog with the
 * spare one (closed, used, reopened), under accept_lock. False if there was
 * none to use. Something other than an accept (a spool file, an upload) may
 * still take the number just freed: the spare is then gone until
 * restore_spare finds a free one. */
static bool refuse_with_spare(conn_loop_t *l)
{
    if (l->spare_fd < 0)
        return false;
    close(l->spare_fd);
    int fd = accept4(h2o_socket_get_fd(l->listener), NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        say_busy(l, fd);
        close(fd);
    }
    l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0 && l->spare_fd >= 0;
}

static void restore_spare(conn_loop_t *l)
{
    if (l->spare_fd < 0 && !l->stopping)
        l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void on_backoff(h2o_timeout_entry_t *e);

static void on_accept(h2o_socket_t *listener, const char *err)
{
    conn_loop_t *l = listener->data;
    if (err)
        return;
    pthread_mutex_lock(&l->shared->accept_lock);
    /* A descriptor freed since the spare was lost goes to the spare first:
     * with it the backlog drains, without it whoever waits longest gets it. */
    restore_spare(l);
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    int accept_errno = errno;
    /* epoll calls again while the backlog holds more: each call refuses one */
    bool refused = !sock && (accept_errno == EMFILE || accept_errno == ENFILE) && refuse_with_spare(l);
    pthread_mutex_unlock(&l->shared->accept_lock);
    if (!sock) {
        bool no_fd = accept_errno == EMFILE || accept_errno == ENFILE;
        if (no_fd || accept_errno == ENOBUFS || accept_errno == ENOMEM) {
            log_refusal(l, no_fd ? "the file descriptor limit" : "kernel memory");
            if (!refused) {
                h2o_socket_read_stop(listener);
                h2o_timeout_link(l->ctx->loop, &l->backoff_timeout, &l->backoff);
            }
        }
        return;
    }
    struct sockaddr_storage ss;
    socklen_t sl = h2o_socket_getpeername(sock, (struct sockaddr *)&ss);
    conn_t *c = calloc(1, sizeof(*c));
    if (!c) {
        refuse(l, sock, "out of memory");
        return;
    }
    c->has_ip = sl && ip_key(&ss, sl, &c->ip);
    const char *why = admit(l->shared, c->has_ip ? &c->ip : NULL);
    if (why) {
        free(c);
        refuse(l, sock, why);
        return;
    }
    c->loop = l;
    c->sock = sock;
    c->moved_at = h2o_now(l->ctx->loop);
    h2o_linklist_insert(&l->conns, &c->link);
    sock->on_close.cb = on_sock_close;
    sock->on_close.data = c;
    h2o_accept(l->accept_ctx, sock);
}

static void on_backoff(h2o_timeout_entry_t *e)
{
    conn_loop_t *l = H2O_STRUCT_FROM_MEMBER(conn_loop_t, backoff, e);
    restore_spare(l);
    if (!l->stopping)
        h2o_socket_read_start(l->listener, on_accept);
}

/* ---- one loop ---- */

conn_loop_t *conn_loop_new(conn_shared_t *s, unsigned index, h2o_accept_ctx_t *accept_ctx, int listen_fd)
{
    conn_loop_t *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->shared = s;
    l->index = index;
    l->ctx = accept_ctx->ctx;
    l->accept_ctx = accept_ctx;
    h2o_linklist_init_anchor(&l->conns);
    l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* -1: the back-off alone */
    h2o_timeout_init(l->ctx->loop, &l->tick_timeout, TICK_MS);
    h2o_timeout_init(l->ctx->loop, &l->backoff_timeout, ACCEPT_BACKOFF_MS);
    l->tick.cb = on_tick;
    l->backoff.cb = on_backoff;
    h2o_timeout_link(l->ctx->loop, &l->tick_timeout, &l->tick);
    l->listener = h2o_evloop_socket_create(l->ctx->loop, listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    l->listener->data = l;
    h2o_socket_read_start(l->listener, on_accept);
    return l;
}

void conn_loop_stop(conn_loop_t *l)
{
    l->stopping = true;
    if (h2o_timeout_is_linked(&l->tick))
        h2o_timeout_unlink(&l->tick);
    if (h2o_timeout_is_linked(&l->backoff))
        h2o_timeout_unlink(&l->backoff);
    h2o_timeout_dispose(l->ctx->loop, &l->tick_timeout);
    h2o_timeout_dispose(l->ctx->loop, &l->backoff_timeout);
    if (h2o_socket_is_reading(l->listener))
        h2o_socket_read_stop(l->listener);
    h2o_socket_close(l->listener);
    l->listener = NULL;
    if (l->spare_fd >= 0)
        close(l->spare_fd);
    l->spare_fd = -1;
}

size_t conn_loop_cut_idle(conn_loop_t *l)
{
    size_t open = 0;
    for (h2o_linklist_t *n = l->conns.next; n != &l->conns; n = n->next) {
        conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, link, n);
        if (!c->sock)
            continue;
        /* In flight: a request in a handler, a response being written, or a
         * body arriving after its head. Half a head is not a request yet
         * (a slowloris, a client that just connected): it goes at once. */
        bool arriving = c->sock->input->size > 0 && !head_incomplete(c->sock);
        if (!c->cut && !c->in_handler && !arriving && !h2o_socket_is_writing(c->sock))
            cut(c);
        open++;
    }
    return open;
}

size_t conn_loop_cut_all(conn_loop_t *l)
{
    size_t open = 0;
    for (h2o_linklist_t *n = l->conns.next; n != &l->conns; n = n->next) {
        conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, link, n);
        if (!c->sock)
            continue;
        if (!c->cut)
            cut(c);
        open++;
    }
    return open;
}

void conn_loop_free(conn_loop_t *l)
{
    if (!l)
        return;
    /* Connections h2o never closed (open at shutdown): their sockets went with the loop. */
    while (!h2o_linklist_is_empty(&l->conns)) {
        conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, link, l->conns.next);
        conn_free(c);
    }
    free(l);
}
