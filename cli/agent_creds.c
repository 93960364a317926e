/*
 * cli/agent_creds.c — the agent's task role credentials endpoint: what a
 * task's containers read their role's temporary credentials from, speaking
 * the container-credentials protocol of the AWS SDKs and CLI:
 *
 *   GET /v1/credentials HTTP/1.1
 *   Authorization: <the task's token>
 *
 *   200 {"RoleArn", "AccessKeyId", "SecretAccessKey", "Token", "Expiration": "2026-12-07T07:30:00Z"}
 *
 * found through AWS_CONTAINER_CREDENTIALS_FULL_URI (http://127.0.0.1:PORT/v1/credentials,
 * which the SDKs accept over plain HTTP on loopback) and
 * AWS_CONTAINER_AUTHORIZATION_TOKEN in the container's environment.
 *
 * Each task with a role has its own random token; a token yields its own
 * task's credentials and nothing else, and a stopped task's token is
 * forgotten. Tokens are compared in constant time.
 *
 * Why a responder of our own: the agent links libcurl and jansson, not h2o
 * (berthd's), and needs only this one GET on loopback; so a single thread
 * polling at most CREDS_MAX_CONNS connections at once, strict limits (a
 * request head of at most CREDS_REQUEST_MAX bytes within CREDS_READ_MS of
 * the connection, then Connection: close). Any local process reaches it: a
 * connection that sends nothing holds only its own slot, never the others
 * (one at a time, each idle connection held every client up for
 * CREDS_READ_MS), and when every slot is taken the oldest goes.
 * It serves only from memory: the agent's main loop fetches and refreshes
 * the credentials (BerthGetTaskCredentials) and hands them over here, so a
 * container's request never waits on berthd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cli/cli_internal.h"

/* the SDKs send a request line and a handful of short headers: 8 KiB is plenty */
#define CREDS_REQUEST_MAX 8192
/* a local client has its whole request there at once; a slow one must not hold the only thread */
#define CREDS_READ_MS 2000
#define CREDS_PATH "/v1/credentials"
/* 32 random bytes in base64url: 43 characters */
#define CREDS_TOKEN_BYTES 32
#define CREDS_TOKEN_LEN 43
#define CREDS_MAX_TASKS 4096
/* connections read at once: an SDK opens one per fetch, a host runs a few dozen tasks */
#define CREDS_MAX_CONNS 64

/* a connection whose request head is being read */
typedef struct {
    int fd;
    size_t len;
    int64_t deadline_ms; /* CLOCK_MONOTONIC */
    char head[CREDS_REQUEST_MAX];
} conn_t;

typedef struct {
    char task_arn[AGENT_CREDS_ARN_MAX + 1];
    char token[CREDS_TOKEN_LEN + 1];
    bool have; /* credentials below are set */
    char role_arn[AGENT_CREDS_ARN_MAX + 1];
    char key_id[64], secret[64], session_token[AUTH_FILE_SESSION_TOKEN_MAX + 1];
    int64_t expires_at;
} entry_t;

struct agent_creds {
    int fd, port;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    pthread_mutex_t lock;
    entry_t *e;
    size_t n, cap;
    conn_t *conns; /* CREDS_MAX_CONNS; the serving thread's only */
    size_t nconns;
};

static entry_t *find_task(agent_creds_t *c, const char *task_arn)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].task_arn, task_arn) == 0)
            return &c->e[i];
    return NULL;
}

/* ------------------------------------------------------------ the table */

int agent_creds_add(agent_creds_t *c, const char *task_arn, const char *token, char out[AGENT_CREDS_TOKEN_MAX + 1], cli_err_t *e)
{
    if (strlen(task_arn) > AGENT_CREDS_ARN_MAX)
        return cli_fail(e, "task ARN too long");
    char fresh[AUTH_B64_LEN(CREDS_TOKEN_BYTES) + 1] = "";
    if (token) {
        /* a token from the state file: exactly the shape we make, or a new one */
        if (strlen(token) != CREDS_TOKEN_LEN ||
            strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != CREDS_TOKEN_LEN)
            token = NULL;
    }
    if (!token) {
        unsigned char raw[CREDS_TOKEN_BYTES];
        if (RAND_bytes(raw, sizeof(raw)) != 1 || auth_b64url_encode(raw, sizeof(raw), fresh, sizeof(fresh)) != CREDS_TOKEN_LEN)
            return cli_fail(e, "no randomness for a task's credentials token");
        OPENSSL_cleanse(raw, sizeof(raw));
        token = fresh;
    }
    pthread_mutex_lock(&c->lock);
    entry_t *x = find_task(c, task_arn);
    if (!x) {
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 16;
            entry_t *ne = cap <= CREDS_MAX_TASKS ? calloc(cap, sizeof(*ne)) : NULL;
            if (!ne) {
                pthread_mutex_unlock(&c->lock);
                return cli_fail(e, "out of memory for task credentials (or more than %d tasks)", CREDS_MAX_TASKS);
            }
            if (c->n)
                memcpy(ne, c->e, c->n * sizeof(*ne));
            OPENSSL_cleanse(c->e, c->cap * sizeof(*c->e));
            free(c->e);
            c->e = ne;
            c->cap = cap;
        }
        x = &c->e[c->n++];
        memset(x, 0, sizeof(*x));
        snprintf(x->task_arn, sizeof(x->task_arn), "%s", task_arn);
        memcpy(x->token, token, CREDS_TOKEN_LEN); /* checked or made: exactly CREDS_TOKEN_LEN characters */
        x->token[CREDS_TOKEN_LEN] = '\0';
    }
    snprintf(out, AGENT_CREDS_TOKEN_MAX + 1, "%s", x->token);
    pthread_mutex_unlock(&c->lock);
    OPENSSL_cleanse(fresh, sizeof(fresh));
    return 0;
}

int agent_creds_set(agent_creds_t *c, const char *task_arn, const json_t *reply, cli_err_t *e)
{
    const json_t *cr = json_object_get(reply, "credentials");
    const char *role = json_string_value(json_object_get(reply, "roleArn"));
    const char *id = json_string_value(json_object_get(cr, "accessKeyId"));
    const char *secret = json_string_value(json_object_get(cr, "secretAccessKey"));
    const char *tok = json_string_value(json_object_get(cr, "sessionToken"));
    const json_t *exp = json_object_get(cr, "expiration");
    entry_t probe;
    if (!role || !id || !secret || !tok || !json_is_integer(exp) || strlen(role) >= sizeof(probe.role_arn) ||
        strlen(id) >= sizeof(probe.key_id) || strlen(secret) >= sizeof(probe.secret) || strlen(tok) >= sizeof(probe.session_token))
        return cli_fail(e, "BerthGetTaskCredentials' reply carries no usable credentials");
    pthread_mutex_lock(&c->lock);
    entry_t *x = find_task(c, task_arn);
    if (x) {
        snprintf(x->role_arn, sizeof(x->role_arn), "%s", role);
        snprintf(x->key_id, sizeof(x->key_id), "%s", id);
        snprintf(x->secret, sizeof(x->secret), "%s", secret);
        snprintf(x->session_token, sizeof(x->session_token), "%s", tok);
        x->expires_at = (int64_t)json_integer_value(exp);
        x->have = true;
    }
    pthread_mutex_unlock(&c->lock);
    return x ? 0 : cli_fail(e, "%s holds no credentials token", task_arn);
}

int64_t agent_creds_expiry(agent_creds_t *c, const char *task_arn)
{
    pthread_mutex_lock(&c->lock);
    entry_t *x = find_task(c, task_arn);
    int64_t t = x && x->have ? x->expires_at : 0;
    pthread_mutex_unlock(&c->lock);
    return t;
}

void agent_creds_remove(agent_creds_t *c, const char *task_arn)
{
    pthread_mutex_lock(&c->lock);
    entry_t *x = find_task(c, task_arn);
    if (x) {
        size_t i = (size_t)(x - c->e);
        OPENSSL_cleanse(x, sizeof(*x));
        memmove(x, x + 1, (c->n - i - 1) * sizeof(*x));
        c->n--;
        OPENSSL_cleanse(&c->e[c->n], sizeof(c->e[c->n]));
    }
    pthread_mutex_unlock(&c->lock);
}

json_t *agent_creds_task_env(const agent_creds_t *c, const char *token)
{
    char uri[64];
    snprintf(uri, sizeof(uri), "http://127.0.0.1:%d" CREDS_PATH, c->port);
    return json_pack("[{s:s,s:s},{s:s,s:s}]", "name", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value", uri, "name",
                     "AWS_CONTAINER_AUTHORIZATION_TOKEN", "value", token);
}

int agent_creds_port(const agent_creds_t *c)
{
    return c->port;
}

/* --------------------------------------------------------- the responder */

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, int status, const char *reason, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                     reason, strlen(body));
    send_all(fd, head, (size_t)n);
    send_all(fd, body, strlen(body));
}

/* A head is whole once its blank line arrived. */
static bool head_complete(const char *buf)
{
    return strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n");
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The value of header `name` in head (case-insensitive name), trimmed; NULL when absent. */
static const char *header_value(const char *head, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *line = strchr(head, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        const char *l = line + 1;
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *end = v + strcspn(v, "\r\n");
            while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
            *len = (size_t)(end - v);
            return v;
        }
    }
    return NULL;
}

int agent_creds_parse_request(const char *head, char token[AGENT_CREDS_TOKEN_MAX + 1])
{
    token[0] = '\0';
    /* "METHOD SP PATH SP HTTP/1.x" then the line's end */
    size_t m = strspn(head, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    if (m == 0 || m > 7 || head[m] != ' ')
        return 400;
    const char *path = head + m + 1;
    size_t p = strcspn(path, " \r\n");
    const char *ver = path + p;
    if (p == 0 || strncmp(ver, " HTTP/1.", 8) != 0 || (ver[8] != '0' && ver[8] != '1') ||
        (ver[9] != '\n' && !(ver[9] == '\r' && ver[10] == '\n')))
        return 400;
    if (m != 3 || strncmp(head, "GET", 3) != 0)
        return 405;
    if (p != strlen(CREDS_PATH) || strncmp(path, CREDS_PATH, p) != 0)
        return 404;
    size_t tlen = 0;
    const char *tok = header_value(head, "Authorization", &tlen);
    if (tok && tlen <= AGENT_CREDS_TOKEN_MAX) {
        memcpy(token, tok, tlen);
        token[tlen] = '\0';
    }
    return 200;
}

static void format_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Answers the whole request head `head` (NUL-terminated) on fd. */
static void answer(agent_creds_t *c, int fd, const char *head)
{
    char tok[AGENT_CREDS_TOKEN_MAX + 1];
    int status = agent_creds_parse_request(head, tok);
    if (status == 400) {
        respond(fd, 400, "Bad Request", "{\"code\":\"InvalidRequest\",\"message\":\"not an HTTP/1 request\"}");
        return;
    }
    if (status == 405) {
        respond(fd, 405, "Method Not Allowed", "{\"code\":\"InvalidRequest\",\"message\":\"only GET\"}");
        return;
    }
    if (status == 404) {
        respond(fd, 404, "Not Found", "{\"code\":\"NotFound\",\"message\":\"the credentials are at " CREDS_PATH "\"}");
        return;
    }
    size_t tlen = strlen(tok);
    /* every entry is compared, each in constant time: which one matched (or none) shows in no timing */
    pthread_mutex_lock(&c->lock);
    entry_t *hit = NULL;
    for (size_t i = 0; tlen == CREDS_TOKEN_LEN && i < c->n; i++)
        if (CRYPTO_memcmp(c->e[i].token, tok, CREDS_TOKEN_LEN) == 0)
            hit = &c->e[i];
    json_t *body = NULL;
    bool unavailable = hit && !hit->have;
    if (hit && hit->have) {
        char exp[32];
        format_time(hit->expires_at, exp);
        body = json_pack("{s:s,s:s,s:s,s:s,s:s}", "RoleArn", hit->role_arn, "AccessKeyId", hit->key_id, "SecretAccessKey",
                         hit->secret, "Token", hit->session_token, "Expiration", exp);
    }
    pthread_mutex_unlock(&c->lock);
    OPENSSL_cleanse(tok, sizeof(tok));
    if (body) {
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (text) {
            respond(fd, 200, "OK", text);
            OPENSSL_cleanse(text, strlen(text));
            free(text);
        } else {
            respond(fd, 500, "Internal Server Error", "{\"code\":\"InternalError\",\"message\":\"out of memory\"}");
        }
    } else if (unavailable) {
        respond(fd, 503, "Service Unavailable",
                "{\"code\":\"CredentialsUnavailable\",\"message\":\"the task's credentials are being fetched: try again\"}");
    } else {
        respond(fd, 403, "Forbidden",
                "{\"code\":\"AccessDenied\",\"message\":\"no credentials for this authorization token (a running task's own)\"}");
    }
}

static void conn_close(conn_t *k)
{
    OPENSSL_cleanse(k->head, k->len); /* it may hold a token */
    close(k->fd);
    k->fd = -1;
    k->len = 0;
}

/* Reads what conn k has; answers it once its head is whole, too big, or
 * its time is up (then closed: fd -1). */
static void conn_step(agent_creds_t *c, conn_t *k, bool readable, int64_t now)
{
    if (readable) {
        ssize_t r = recv(k->fd, k->head + k->len, sizeof(k->head) - 1 - k->len, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            conn_close(k); /* gone: nobody to answer */
            return;
        }
        if (r > 0) {
            k->len += (size_t)r;
            k->head[k->len] = '\0';
            if (head_complete(k->head)) {
                answer(c, k->fd, k->head);
                conn_close(k);
                return;
            }
        }
    }
    if (k->len >= sizeof(k->head) - 1 || now >= k->deadline_ms) {
        respond(k->fd, 400, "Bad Request", "{\"code\":\"InvalidRequest\",\"message\":\"an HTTP request head of at most 8 KiB\"}");
        conn_close(k);
    }
}

/* Takes the connections waiting on the listener; with every slot taken, the oldest goes. */
static void accept_all(agent_creds_t *c, int64_t now)
{
    for (;;) {
        int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return; /* EAGAIN: none left (or one that vanished meanwhile) */
        if (c->nconns == CREDS_MAX_CONNS) {
            conn_close(&c->conns[0]);
            memmove(&c->conns[0], &c->conns[1], (CREDS_MAX_CONNS - 1) * sizeof(c->conns[0]));
            c->nconns--;
        }
        conn_t *k = &c->conns[c->nconns++];
        k->fd = fd;
        k->len = 0;
        k->head[0] = '\0';
        k->deadline_ms = now + CREDS_READ_MS;
    }
}

static void *serve(void *arg)
{
    agent_creds_t *c = arg;
    struct pollfd p[CREDS_MAX_CONNS + 1];
    while (!c->stop) {
        int64_t now = now_ms(), wait = 200; /* c->stop is looked at this often */
        p[0] = (struct pollfd){.fd = c->fd, .events = POLLIN};
        for (size_t i = 0; i < c->nconns; i++) {
            p[i + 1] = (struct pollfd){.fd = c->conns[i].fd, .events = POLLIN};
            int64_t left = c->conns[i].deadline_ms - now;
            wait = left < 0 ? 0 : left < wait ? left : wait;
        }
        int n = poll(p, c->nconns + 1, (int)wait);
        if (n < 0)
            continue; /* EINTR */
        now = now_ms();
        for (size_t i = 0; i < c->nconns; i++)
            conn_step(c, &c->conns[i], p[i + 1].revents != 0, now);
        /* closed ones go; the rest keep their order, oldest first */
        size_t kept = 0;
        for (size_t i = 0; i < c->nconns; i++)
            if (c->conns[i].fd >= 0)
                c->conns[kept++] = c->conns[i];
        c->nconns = kept;
        if (p[0].revents & POLLIN)
            accept_all(c, now);
    }
    for (size_t i = 0; i < c->nconns; i++)
        conn_close(&c->conns[i]);
    c->nconns = 0;
    return NULL;
}

agent_creds_t *agent_creds_start(int port, cli_err_t *e)
{
    agent_creds_t *c = calloc(1, sizeof(*c));
    if (!c)
        return cli_fail(e, "out of memory"), NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->conns = calloc(CREDS_MAX_CONNS, sizeof(*c->conns));
    /* non-blocking: accept_all takes every waiting connection and stops at EAGAIN */
    c->fd = c->conns ? socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0) : -1;
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (c->fd < 0 || setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(c->fd, 64) != 0 ||
        getsockname(c->fd, (struct sockaddr *)&a, &al) != 0) {
        cli_fail(e, "the credentials endpoint cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
        if (c->fd >= 0)
            close(c->fd);
        pthread_mutex_destroy(&c->lock);
        free(c->conns);
        free(c);
        return NULL;
    }
    c->port = ntohs(a.sin_port);
    int rc = pthread_create(&c->thread, NULL, serve, c);
    if (rc) {
        cli_fail(e, "cannot start the credentials endpoint: %s", strerror(rc));
        close(c->fd);
        pthread_mutex_destroy(&c->lock);
        free(c->conns);
        free(c);
        return NULL;
    }
    c->running = true;
    return c;
}

void agent_creds_stop(agent_creds_t *c)
{
    if (!c)
        return;
    c->stop = true;
    if (c->running)
        pthread_join(c->thread, NULL);
    close(c->fd);
    if (c->e)
        OPENSSL_cleanse(c->e, c->cap * sizeof(*c->e));
    free(c->e);
    pthread_mutex_destroy(&c->lock);
    free(c->conns);
    free(c);
}
