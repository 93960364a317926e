/* berthd: flags, the store, h2o's listeners and event-loop threads. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "server/config.h"
#include "server/metrics_internal.h"
#include "server/server_internal.h"
#include "server/selfcert.h"

#define BERTH_VERSION "0.1.0"
/* Bodies past this are refused with 413 (configurable with --max-body). */
#define DEFAULT_MAX_BODY ((uint64_t)16 << 30)
/* h2o keeps bodies up to this much in anonymous memory; bigger ones go to a
 * spool file in the data dir, whose pages are file-backed and reclaimable
 * (h2o's default, 32 MiB, made a big push's peak RssAnon twice as high). */
#define BODY_SPOOL_THRESHOLD ((size_t)4 << 20)
/* At shutdown, once in-flight requests have finished or --shutdown-timeout
 * has passed, how long a loop waits for the connections it cut to close. */
#define SHUTDOWN_DRAIN_MS 3000
/* --shutdown-timeout's default: a layer push of a few hundred MB finishes in
 * it on an ordinary link, and it is what systemd and docker wait before
 * SIGKILL (90 s and 10 s: set docker's --stop-timeout accordingly). */
#define DEFAULT_SHUTDOWN_TIMEOUT_S 30
#define MAX_SHUTDOWN_TIMEOUT_S 3600
/* Event loops wake this often to notice a shutdown request. */
#define LOOP_TICK_MS 200
#define MAX_THREADS 64
/* A registry password longer-lived than a week is a standing credential. */
#define MAX_TOKEN_SECONDS (7 * 24 * 3600)
/* h2o 2.2.5's request timeout is a total one: a request, body included, must
 * have arrived within it. Its default (10 s) failed every push of a 30 MiB
 * layer over 2 MiB/s; an hour carries ~7 GiB at that speed. The idle timeout,
 * not this, is what cuts a stalled client. */
#define DEFAULT_REQUEST_TIMEOUT_S 3600
/* Bytes must move at least this often, or the connection is cut (server/conn.c). */
#define DEFAULT_IDLE_TIMEOUT_S 60
/* A few thousand clients at once is a big registry; more is a choice to make. */
#define DEFAULT_MAX_CONNECTIONS 4096
/* Enough for many clients pushing and pulling in parallel behind one NAT
 * address; an attacker from one address holds no more. */
#define DEFAULT_MAX_CONNECTIONS_PER_IP 128
/* What all connections but the one holding the most may hold in request
 * buffers together: with the exempt one, a --max-body push always fits, and
 * several concurrent layer pushes of a few GiB each do too. */
#define DEFAULT_MAX_SPOOL ((uint64_t)4 << 30)
/* A connection may hold its socket, its body's spool file and a blob file it
 * is sending: three descriptors. */
#define FDS_PER_CONN 3
/* --tls-self-signed's names when --tls-hostname is not given: a registry
 * reached on this machine. */
#define DEFAULT_TLS_HOSTNAMES "localhost,127.0.0.1,::1"
/* Descriptors kept for what is not a connection: per loop its epoll, its
 * queue's pipe and a spare (made after we count), and upload files the
 * writer opens. */
#define FD_RESERVE_BASE 32
#define FD_RESERVE_PER_THREAD 4

typedef struct {
    const char *listen;
    const char *data;
    bool insecure_no_auth;
    bool no_create_on_push;
    unsigned threads;
    uint64_t map_size;
    uint64_t max_body;
    const char *region;
    uint64_t token_seconds;
    const char *tls_cert;
    const char *tls_key;
    bool tls_self_signed;
    const char *tls_hostname; /* --tls-hostname's list, for --tls-self-signed */
    bool rotate_token_key;
    bool http2;
    uint64_t request_timeout; /* seconds */
    uint64_t idle_timeout;    /* seconds */
    uint64_t max_connections;
    uint64_t max_conns_per_ip;
    uint64_t max_spool;
    int64_t clock_offset;           /* seconds; tests only */
    uint64_t ecs_agent_timeout;     /* seconds */
    uint64_t ecs_task_lost_timeout; /* seconds */
    uint64_t ecs_stopped_retention; /* seconds */
    uint64_t gc_interval;
    uint64_t gc_grace;
    const char *access_log;    /* NULL: none; "-": stderr */
    uint64_t shutdown_timeout; /* seconds */
    uint64_t lifecycle_interval;
    bool metrics_public; /* GET /metrics without credentials */
    bool no_metrics;     /* count nothing; /metrics is 404 */
} options_t;

static volatile sig_atomic_t stopping;

static void usage(FILE *out)
{
    fprintf(out, "usage: berthd [options]\n"
                 "\n"
                 "Berth: a self-hosted OCI / Docker v2 container registry on an embedded LMDB store.\n"
                 "\n"
                 "  --config FILE          read options from FILE: `key = value` lines, keys the long options below\n"
                 "                         without --, flags `true` or `false`, `#` starts a comment line; the command\n"
                 "                         line overrides the file\n"
                 "  --listen ADDR:PORT     address to serve on (default 0.0.0.0:5000)\n"
                 "  --data DIR             data directory (default ./berth-data)\n"
                 "  --insecure-no-auth     serve without authentication or policies: anyone may push, pull, delete\n"
                 "  --no-create-on-push    a push to a repository that does not exist is refused (404 NAME_UNKNOWN), as\n"
                 "                         ECR does: repositories are made with CreateRepository. By default a first\n"
                 "                         push creates the repository when the caller may ecr:CreateRepository\n"
                 "  --region NAME          the region in ARNs and SigV4 scopes (default us-east-1)\n"
                 "  --token-ttl SECONDS    lifetime of a registry password from GetAuthorizationToken (default 43200, 12 h)\n"
                 "  --tls-cert FILE        serve HTTPS (HTTP/1.1) with this PEM certificate chain\n"
                 "  --tls-key FILE         ... and this PEM private key\n"
                 "  --tls-self-signed      serve HTTPS with berthd's own certificate, DATA/tls/cert.pem (key.pem beside\n"
                 "                         it, 0600): made on the first start (EC P-256, 825 days), then kept. Clients\n"
                 "                         trust it as their CA file. Remove DATA/tls to make a new one\n"
                 "  --tls-hostname NAME[,NAME...]\n"
                 "                         the DNS names and IP addresses that certificate is for (default\n"
                 "                         localhost,127.0.0.1,::1)\n"
                 "  --http2                also offer h2 over TLS (ALPN). Off by default: h2o 2.2.5 cannot bound HTTP/2\n"
                 "                         stream resets (rapid reset, CVE-2023-44487) or the memory a request body takes,\n"
                 "                         and --max-spool does not see HTTP/2 bodies. h2c (plain HTTP/2) is never served\n"
                 "  --clock-offset SECONDS FOR TESTS ONLY: add SECONDS (may be negative) to the clock that registry\n"
                 "                         passwords, STS and task credentials, signed layer URLs and lifecycle ages are\n"
                 "                         issued and checked at, so that a test sees them expire without waiting (the\n"
                 "                         SigV4 request-date window still uses the real clock)\n"
                 "  --rotate-token-key     replace the registry token signing key at start: every password issued before is void\n"
                 "  --threads N            event-loop threads (default: number of CPUs)\n"
                 "  --map-size BYTES       address space reserved for the store; its upper size bound (default 1T)\n"
                 "  --max-body BYTES       largest request body accepted (default 16G)\n"
                 "  --request-timeout SECONDS\n"
                 "                         a request, body included, must arrive within this (default 3600, 1 h)\n"
                 "  --idle-timeout SECONDS close a connection whose bytes have not moved for this long, unless the\n"
                 "                         server is still working on its request, or whose request head (line and\n"
                 "                         headers) has not arrived whole this long after its first byte (default 60)\n"
                 "  --max-connections N    open connections at most, all clients together (default 4096, and fewer if\n"
                 "                         the file descriptor limit allows fewer); past it new connections are refused\n"
                 "  --max-connections-per-ip N\n"
                 "                         open connections from one client address at most (default 128; 0: no cap,\n"
                 "                         e.g. behind a reverse proxy, where every client has the proxy's address)\n"
                 "  --max-spool BYTES      request bytes all connections but the one holding the most may hold while\n"
                 "                         their bodies arrive (memory and spool files in DATA/tmp); past it the largest\n"
                 "                         of them is cut (default 4G)\n"
                 "  --ecs-agent-timeout SECONDS\n"
                 "                         a container instance whose agent has not polled for this long shows\n"
                 "                         agentConnected false and gets no new tasks (default 300)\n"
                 "  --ecs-task-lost-timeout SECONDS\n"
                 "                         ... and after this long its tasks are marked STOPPED, lost, and their\n"
                 "                         resources released (default 900; at least --ecs-agent-timeout)\n"
                 "  --ecs-stopped-task-retention SECONDS\n"
                 "                         a STOPPED task stays visible (DescribeTasks, ListTasks) this long after it\n"
                 "                         stopped, then its record is deleted (default 3600)\n"
                 "  --gc-interval SECONDS  collect garbage (blobs no manifest references, abandoned uploads) this often,\n"
                 "                         while serving (default 3600; 0: only on request, `berth gc`)\n"
                 "  --gc-grace SECONDS     what a scheduled collection spares: blobs linked and uploads touched this\n"
                 "                         recently (default 3600; a push's layers wait this long for its manifest)\n"
                 "  --access-log FILE|-    one JSON line per request (time, principal, action, repository, method, path\n"
                 "                         without query, status, bytes, duration) to FILE, or to stderr with -; off by\n"
                 "                         default. SIGHUP reopens FILE (logrotate) and reloads --tls-cert and --tls-key\n"
                 "  --shutdown-timeout SECONDS\n"
                 "                         on SIGTERM, stop accepting and give in-flight requests this long to finish\n"
                 "                         before cutting them (default 30; 0: cut at once)\n"
                 "  --metrics-public       anyone may read GET /metrics (default: a principal allowed berth:GetMetrics,\n"
                 "                         or a scraper's token from `berth metrics-token create`)\n"
                 "  --no-metrics           count nothing per request; GET /metrics answers 404\n"
                 "  --lifecycle-interval SECONDS\n"
                 "                         run every repository's ECR lifecycle policy this often (default 86400, daily as\n"
                 "                         ECR does; 0: only on request, `berth ecr run-lifecycle-policy`). sinceImagePushed\n"
                 "                         counts days on the --clock-offset clock, so that tests can age images\n"
                 "  --help                 this text\n"
                 "  --version              print the version\n"
                 "\n"
                 "BYTES accept the suffixes K, M, G and T (powers of 1024).\n");
}

static bool parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return false;
    unsigned shift = 0;
    switch (*end) {
    case 'K':
    case 'k':
        shift = 10;
        end++;
        break;
    case 'M':
    case 'm':
        shift = 20;
        end++;
        break;
    case 'G':
    case 'g':
        shift = 30;
        end++;
        break;
    case 'T':
    case 't':
        shift = 40;
        end++;
        break;
    default:
        break;
    }
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

/* A plain decimal count: no sign, no suffix. */
static bool parse_count(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > max)
        return false;
    *out = v;
    return true;
}

/* Every option, once: getopt's table and the config file's keys are made
 * from it (server/config.h). One line each, so that adding one merges. */
enum {
    OPT_LISTEN = 256,
    OPT_DATA,
    OPT_INSECURE_NO_AUTH,
    OPT_THREADS,
    OPT_MAP_SIZE,
    OPT_MAX_BODY,
    OPT_REGION,
    OPT_TOKEN_TTL,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_ROTATE_TOKEN_KEY,
    OPT_HELP,
    OPT_VERSION,
    OPT_CONFIG,
    OPT_HTTP2,
    OPT_REQUEST_TIMEOUT,
    OPT_IDLE_TIMEOUT,
    OPT_MAX_CONNECTIONS,
    OPT_MAX_CONNS_PER_IP,
    OPT_MAX_SPOOL,
    OPT_CLOCK_OFFSET,
    OPT_ECS_AGENT_TIMEOUT,
    OPT_ECS_TASK_LOST_TIMEOUT,
    OPT_ECS_STOPPED_RETENTION,
    OPT_GC_INTERVAL,
    OPT_GC_GRACE,
    OPT_LIFECYCLE_INTERVAL,
    OPT_NO_CREATE_ON_PUSH,
    OPT_ACCESS_LOG,
    OPT_SHUTDOWN_TIMEOUT,
    OPT_METRICS_PUBLIC,
    OPT_NO_METRICS,
    OPT_TLS_SELF_SIGNED,
    OPT_TLS_HOSTNAME,
};

static const server_option_t option_table[] = {
    {"listen", true, false, OPT_LISTEN},
    {"data", true, false, OPT_DATA},
    {"insecure-no-auth", false, false, OPT_INSECURE_NO_AUTH},
    {"threads", true, false, OPT_THREADS},
    {"map-size", true, false, OPT_MAP_SIZE},
    {"max-body", true, false, OPT_MAX_BODY},
    {"region", true, false, OPT_REGION},
    {"token-ttl", true, false, OPT_TOKEN_TTL},
    {"tls-cert", true, false, OPT_TLS_CERT},
    {"tls-key", true, false, OPT_TLS_KEY},
    {"rotate-token-key", false, false, OPT_ROTATE_TOKEN_KEY},
    {"help", false, true, OPT_HELP},
    {"version", false, true, OPT_VERSION},
    {"config", true, true, OPT_CONFIG},
    {"http2", false, false, OPT_HTTP2},
    {"request-timeout", true, false, OPT_REQUEST_TIMEOUT},
    {"idle-timeout", true, false, OPT_IDLE_TIMEOUT},
    {"max-connections", true, false, OPT_MAX_CONNECTIONS},
    {"max-connections-per-ip", true, false, OPT_MAX_CONNS_PER_IP},
    {"max-spool", true, false, OPT_MAX_SPOOL},
    {"clock-offset", true, false, OPT_CLOCK_OFFSET},
    {"ecs-agent-timeout", true, false, OPT_ECS_AGENT_TIMEOUT},
    {"ecs-task-lost-timeout", true, false, OPT_ECS_TASK_LOST_TIMEOUT},
    {"ecs-stopped-task-retention", true, false, OPT_ECS_STOPPED_RETENTION},
    {"gc-interval", true, false, OPT_GC_INTERVAL},
    {"gc-grace", true, false, OPT_GC_GRACE},
    {"lifecycle-interval", true, false, OPT_LIFECYCLE_INTERVAL},
    {"no-create-on-push", false, false, OPT_NO_CREATE_ON_PUSH},
    {"access-log", true, false, OPT_ACCESS_LOG},
    {"shutdown-timeout", true, false, OPT_SHUTDOWN_TIMEOUT},
    {"metrics-public", false, false, OPT_METRICS_PUBLIC},
    {"no-metrics", false, false, OPT_NO_METRICS},
    {"tls-self-signed", false, false, OPT_TLS_SELF_SIGNED},
    {"tls-hostname", true, false, OPT_TLS_HOSTNAME},
};
#define N_OPTIONS (sizeof(option_table) / sizeof(option_table[0]))

/* --gc-interval's default, an hour: with the default grace period of an hour,
 * garbage lives at most about two hours, and a collection (a mark over every
 * manifest, then a sweep paced to half a core) costs seconds on a registry of
 * 100,000 blobs. The most: a week. */
#define DEFAULT_GC_INTERVAL_S 3600
#define MAX_GC_INTERVAL_S (7 * 24 * 3600)
/* ECR evaluates lifecycle policies daily; a month between runs at most */
#define DEFAULT_LIFECYCLE_INTERVAL_S 86400
/* --ecs-stopped-task-retention: at most thirty days (ECS shows a stopped task for about an hour) */
#define MAX_STOPPED_RETENTION_S (30 * 24 * 3600)
#define MAX_LIFECYCLE_INTERVAL_S (30 * 24 * 3600)
/* --gc-grace: at most thirty days */
#define MAX_GC_GRACE_S (30 * 24 * 3600)

/* The most a timeout may be: a day, far past any sensible one, and well inside h2o's millisecond arithmetic. */
#define MAX_TIMEOUT_S (24 * 3600)
/* --clock-offset reaches a year either way: past any credential's lifetime (7 days at most). */
#define MAX_CLOCK_OFFSET_S (366 * 24 * 3600)
/* The most connections a cap may name (the descriptor limit clamps it further). */
#define MAX_CONNECTIONS_CAP 1000000

/* A flag's value: NULL (given on the command line) or "true" is set. */
static bool flag_on(const char *v)
{
    return !v || strcmp(v, "true") == 0;
}

/* Applies one option (server_option_apply_cb): 0, or -1 with msg saying what
 * the value should be; the caller names the option (and the file's line).
 * --help, --version and --config are the command line's, handled there. */
static int apply_option(void *ctx, const server_option_t *opt, const char *optarg, char *msg, size_t cap)
{
    options_t *o = ctx;
    uint64_t v;
    switch (opt->code) {
    case OPT_LISTEN:
        o->listen = optarg;
        break;
    case OPT_DATA:
        o->data = optarg;
        break;
    case OPT_INSECURE_NO_AUTH:
        o->insecure_no_auth = flag_on(optarg);
        break;
    case OPT_NO_CREATE_ON_PUSH:
        o->no_create_on_push = flag_on(optarg);
        break;
    case OPT_METRICS_PUBLIC:
        o->metrics_public = flag_on(optarg);
        break;
    case OPT_NO_METRICS:
        o->no_metrics = flag_on(optarg);
        break;
    case OPT_THREADS:
        if (!parse_bytes(optarg, &v) || v == 0 || v > MAX_THREADS) {
            snprintf(msg, cap, "takes a number from 1 to %d", MAX_THREADS);
            return -1;
        }
        o->threads = (unsigned)v;
        break;
    case OPT_MAP_SIZE:
        if (!parse_bytes(optarg, &o->map_size) || o->map_size < ((uint64_t)1 << 26)) {
            snprintf(msg, cap, "takes a size of at least 64M, e.g. 2T");
            return -1;
        }
        break;
    case OPT_MAX_BODY:
        if (!parse_bytes(optarg, &o->max_body) || o->max_body == 0) {
            snprintf(msg, cap, "takes a size, e.g. 8G");
            return -1;
        }
        break;
    case OPT_REGION:
        if (strlen(optarg) == 0 || strlen(optarg) >= SERVER_REGION_MAX ||
            strspn(optarg, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(optarg)) {
            snprintf(msg, cap, "takes a region name such as us-east-1");
            return -1;
        }
        o->region = optarg;
        break;
    case OPT_TOKEN_TTL:
        if (!parse_bytes(optarg, &o->token_seconds) || o->token_seconds < 60 || o->token_seconds > MAX_TOKEN_SECONDS) {
            snprintf(msg, cap, "takes seconds from 60 to %d (7 days)", MAX_TOKEN_SECONDS);
            return -1;
        }
        break;
    case OPT_TLS_CERT:
        o->tls_cert = optarg;
        break;
    case OPT_TLS_KEY:
        o->tls_key = optarg;
        break;
    case OPT_TLS_SELF_SIGNED:
        o->tls_self_signed = flag_on(optarg);
        break;
    case OPT_TLS_HOSTNAME: {
        selfcert_names_t names;
        char err[200];
        if (selfcert_parse_hostnames(optarg, &names, err, sizeof(err)) != 0) {
            /* the caller names the option */
            const char *why = strncmp(err, "--tls-hostname", 14) == 0 ? err + 14 + strspn(err + 14, ": ") : err;
            snprintf(msg, cap, "%s", why);
            return -1;
        }
        o->tls_hostname = optarg;
        break;
    }
    case OPT_ROTATE_TOKEN_KEY:
        o->rotate_token_key = flag_on(optarg);
        break;
    case OPT_HTTP2:
        o->http2 = flag_on(optarg);
        break;
    case OPT_REQUEST_TIMEOUT:
    case OPT_IDLE_TIMEOUT:
    case OPT_ECS_AGENT_TIMEOUT:
    case OPT_ECS_TASK_LOST_TIMEOUT:
        if (!parse_count(optarg, MAX_TIMEOUT_S, &v) || v == 0) {
            snprintf(msg, cap, "takes seconds from 1 to %d", MAX_TIMEOUT_S);
            return -1;
        }
        *(opt->code == OPT_REQUEST_TIMEOUT     ? &o->request_timeout
          : opt->code == OPT_IDLE_TIMEOUT      ? &o->idle_timeout
          : opt->code == OPT_ECS_AGENT_TIMEOUT ? &o->ecs_agent_timeout
                                               : &o->ecs_task_lost_timeout) = v;
        break;
    case OPT_MAX_CONNECTIONS:
        if (!parse_count(optarg, MAX_CONNECTIONS_CAP, &o->max_connections) || o->max_connections == 0) {
            snprintf(msg, cap, "takes a number from 1 to %d", MAX_CONNECTIONS_CAP);
            return -1;
        }
        break;
    case OPT_MAX_CONNS_PER_IP:
        if (!parse_count(optarg, MAX_CONNECTIONS_CAP, &o->max_conns_per_ip)) {
            snprintf(msg, cap, "takes a number from 0 (no cap) to %d", MAX_CONNECTIONS_CAP);
            return -1;
        }
        break;
    case OPT_GC_INTERVAL:
        if (!parse_count(optarg, MAX_GC_INTERVAL_S, &o->gc_interval)) {
            snprintf(msg, cap, "takes seconds from 0 (off) to %d (a week)", MAX_GC_INTERVAL_S);
            return -1;
        }
        break;
    case OPT_GC_GRACE:
        if (!parse_count(optarg, MAX_GC_GRACE_S, &o->gc_grace)) {
            snprintf(msg, cap, "takes seconds from 0 to %d (thirty days)", MAX_GC_GRACE_S);
            return -1;
        }
        break;
    case OPT_ECS_STOPPED_RETENTION:
        if (!parse_count(optarg, MAX_STOPPED_RETENTION_S, &o->ecs_stopped_retention) || o->ecs_stopped_retention == 0) {
            snprintf(msg, cap, "takes seconds from 1 to %d (thirty days)", MAX_STOPPED_RETENTION_S);
            return -1;
        }
        break;
    case OPT_LIFECYCLE_INTERVAL:
        if (!parse_count(optarg, MAX_LIFECYCLE_INTERVAL_S, &o->lifecycle_interval)) {
            snprintf(msg, cap, "takes seconds from 0 (off) to %d (thirty days)", MAX_LIFECYCLE_INTERVAL_S);
            return -1;
        }
        break;
    case OPT_ACCESS_LOG:
        if (!optarg[0]) {
            snprintf(msg, cap, "takes a file name, or - for stderr");
            return -1;
        }
        o->access_log = optarg;
        break;
    case OPT_SHUTDOWN_TIMEOUT:
        if (!parse_count(optarg, MAX_SHUTDOWN_TIMEOUT_S, &o->shutdown_timeout)) {
            snprintf(msg, cap, "takes seconds from 0 (cut at once) to %d", MAX_SHUTDOWN_TIMEOUT_S);
            return -1;
        }
        break;
    case OPT_MAX_SPOOL:
        if (!parse_bytes(optarg, &o->max_spool)) {
            snprintf(msg, cap, "takes a size, e.g. 4G");
            return -1;
        }
        break;
    case OPT_CLOCK_OFFSET: {
        /* a signed count: tests move credentials' clock either way */
        char *end;
        errno = 0;
        long long off = strtoll(optarg, &end, 10);
        if (errno || end == optarg || *end || off < -MAX_CLOCK_OFFSET_S || off > MAX_CLOCK_OFFSET_S) {
            snprintf(msg, cap, "takes seconds from -%d to %d", MAX_CLOCK_OFFSET_S, MAX_CLOCK_OFFSET_S);
            return -1;
        }
        o->clock_offset = (int64_t)off;
        break;
    }
    default:
        snprintf(msg, cap, "is not an option of the config file");
        return -1;
    }
    return 0;
}

/* The config file named by --config, if any (before getopt, since the
 * command line overrides the file). 0, 2 (reported) or -1: none. */
static int read_config(int argc, char **argv, options_t *o, char **text)
{
    const char *path = NULL;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
    }
    if (!path)
        return -1;
    char err[512];
    if (server_config_load(path, text, option_table, N_OPTIONS, apply_option, o, err, sizeof(err)) != 0) {
        fprintf(stderr, "berthd: %s\n", err);
        return 2;
    }
    return 0;
}

static int parse_options(int argc, char **argv, options_t *o, char **config_text)
{
    struct option longopts[N_OPTIONS + 1];
    for (size_t i = 0; i < N_OPTIONS; i++)
        longopts[i] = (struct option){option_table[i].name, option_table[i].takes_value ? required_argument : no_argument, NULL,
                                      option_table[i].code};
    longopts[N_OPTIONS] = (struct option){NULL, 0, NULL, 0};
    int rc = read_config(argc, argv, o, config_text);
    if (rc > 0)
        return rc;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        const server_option_t *opt = NULL;
        for (size_t i = 0; i < N_OPTIONS && !opt; i++)
            if (option_table[i].code == c)
                opt = &option_table[i];
        if (!opt) {
            usage(stderr);
            return 2;
        }
        if (opt->code == OPT_CONFIG)
            continue; /* read above */
        if (opt->code == OPT_HELP) {
            usage(stdout);
            return 0;
        }
        if (opt->code == OPT_VERSION) {
            printf("berthd %s\n", BERTH_VERSION);
            return 0;
        }
        char msg[256] = "";
        if (apply_option(o, opt, optarg, msg, sizeof(msg)) != 0) {
            fprintf(stderr, "berthd: --%s %s\n", opt->name, msg);
            return 2;
        }
    }
    if (o->rotate_token_key && o->insecure_no_auth) {
        fprintf(stderr, "berthd: --rotate-token-key has nothing to rotate with --insecure-no-auth\n");
        return 2;
    }
    if (!o->tls_cert != !o->tls_key) {
        fprintf(stderr, "berthd: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (o->tls_self_signed && o->tls_cert) {
        fprintf(stderr, "berthd: --tls-self-signed makes its own certificate: it does not go with --tls-cert\n");
        return 2;
    }
    if (o->tls_hostname && !o->tls_self_signed) {
        fprintf(stderr, "berthd: --tls-hostname names what --tls-self-signed's certificate is for: it needs --tls-self-signed\n");
        return 2;
    }
    if (o->http2 && !o->tls_cert && !o->tls_self_signed) {
        fprintf(stderr, "berthd: --http2 needs --tls-cert: HTTP/2 is offered over TLS only (h2c is never served)\n");
        return 2;
    }
    if (o->ecs_task_lost_timeout < o->ecs_agent_timeout) {
        fprintf(stderr, "berthd: --ecs-task-lost-timeout must be at least --ecs-agent-timeout: a task is lost only once its agent "
                        "is disconnected\n");
        return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "berthd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return -1;
}

/* Opens a listening socket for "host:port" ("[v6]:port" too); SO_REUSEPORT so
 * each event loop has its own and the kernel spreads connections. */
static int open_listener(const char *listen_addr, bool probe_in_use, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen_addr, ':');
    if (!colon || (size_t)(colon - listen_addr) >= sizeof(host) || !colon[1]) {
        snprintf(err, errlen, "--listen takes ADDRESS:PORT, e.g. 127.0.0.1:5000");
        return -1;
    }
    memcpy(host, listen_addr, (size_t)(colon - listen_addr));
    host[colon - listen_addr] = '\0';
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(h[0] ? h : NULL, colon + 1, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", listen_addr, gai_strerror(rc));
        return -1;
    }
    int fd, one = 1;
    if (probe_in_use) {
        /* Every loop's listener has SO_REUSEPORT, which would also let a
         * second berthd share the port and take a share of its clients:
         * a plain bind first fails while anyone else listens there. */
        fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
            bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
            snprintf(err, errlen, "cannot listen on %s: %s%s", listen_addr, strerror(errno),
                     errno == EADDRINUSE ? " (is another berthd running there?)" : "");
            if (fd >= 0)
                close(fd);
            freeaddrinfo(res);
            return -1;
        }
        close(fd);
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen_addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* ALPN without --http2: say http/1.1, so a client offering h2 settles on it. */
static const h2o_iovec_t http1_alpn[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};

/* An OpenSSL context for --tls-cert/--tls-key: TLS 1.2 and 1.3, http/1.1 by
 * ALPN (and h2 with --http2). NULL with a message naming the file on failure. */
static SSL_CTX *tls_context(const char *cert, const char *key, bool http2, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "OpenSSL cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    const char *bad = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        bad = cert;
    else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        bad = key;
    if (bad) {
        char ossl[256];
        ERR_error_string_n(ERR_get_error(), ossl, sizeof(ossl));
        snprintf(err, errlen, "cannot use %s for TLS (%s)%s", bad, ossl,
                 bad == key ? ": is it the PEM private key of --tls-cert?" : ": it must be a PEM certificate chain");
        SSL_CTX_free(ctx);
        return NULL;
    }
    h2o_ssl_register_alpn_protocols(ctx, http2 ? h2o_http2_alpn_protocols : http1_alpn);
    return ctx;
}

/* The TLS context new handshakes use. SIGHUP builds a new one from the same
 * files and publishes it here; each loop takes it at its next tick (its
 * accept context is its own, read by its thread only). Connections keep the
 * context they were made with (OpenSSL counts the references), so nothing
 * open is dropped. */
static struct {
    pthread_mutex_t lock;
    SSL_CTX *current; /* one reference held here */
    atomic_uint gen;  /* bumped on each reload */
    const char *cert, *key;
    bool http2;
} tls = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* SIGHUP: a certificate or key that does not load leaves the old ones in use. */
static void tls_reload(void)
{
    if (!tls.current)
        return;
    char err[512];
    SSL_CTX *ctx = tls_context(tls.cert, tls.key, tls.http2, err, sizeof(err));
    if (!ctx) {
        fprintf(stderr, "berthd: SIGHUP: kept the TLS certificate in use: %s\n", err);
        return;
    }
    pthread_mutex_lock(&tls.lock);
    SSL_CTX *old = tls.current;
    tls.current = ctx;
    atomic_fetch_add(&tls.gen, 1);
    pthread_mutex_unlock(&tls.lock);
    SSL_CTX_free(old);
    fprintf(stderr, "berthd: SIGHUP: new TLS handshakes use %s\n", tls.cert);
}

/* A loop's own reference to the current context (NULL without TLS). */
static SSL_CTX *tls_take(unsigned *gen)
{
    pthread_mutex_lock(&tls.lock);
    SSL_CTX *ctx = tls.current;
    if (ctx)
        SSL_CTX_up_ref(ctx);
    *gen = atomic_load(&tls.gen);
    pthread_mutex_unlock(&tls.lock);
    return ctx;
}

typedef struct {
    h2o_handler_t super;
    server_t *srv;
} v2_handler_t;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    conn_request_begin(req);
    return server_route(((v2_handler_t *)self)->srv, req);
}

/* What the event-loop threads and main() meet at: every loop has built its
 * context; every loop has stopped; the writer has drained. The barriers count
 * the loops that did start, so they are made once every pthread_create has
 * answered, and the loops wait at the gate until then. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t opened;
    bool open; /* the barriers exist */
    pthread_barrier_t ready, stopped, drained;
} phases_t;

static void phases_wait_open(phases_t *p)
{
    pthread_mutex_lock(&p->lock);
    while (!p->open)
        pthread_cond_wait(&p->opened, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

/* For `started` loops and main(). */
static void phases_open(phases_t *p, unsigned started)
{
    pthread_barrier_init(&p->ready, NULL, started + 1);
    pthread_barrier_init(&p->stopped, NULL, started + 1);
    pthread_barrier_init(&p->drained, NULL, started + 1);
    pthread_mutex_lock(&p->lock);
    p->open = true;
    pthread_cond_broadcast(&p->opened);
    pthread_mutex_unlock(&p->lock);
}

typedef struct {
    server_thread_t thread;
    h2o_accept_ctx_t accept_ctx;
    int listen_fd;
    unsigned index;
    conn_shared_t *conn_shared;
    conn_loop_t *conns; /* the listener, accepted connections and their limits */
    pthread_t tid;
    h2o_globalconf_t *config;
    phases_t *phases;
    uint64_t shutdown_ms; /* --shutdown-timeout */
    unsigned tls_gen;     /* the TLS context generation accept_ctx.ssl_ctx is */
} loop_t;

/* What a loop does between event batches (at least every LOOP_TICK_MS):
 * write its access log lines, take a reloaded TLS context. */
static void loop_tick(loop_t *l)
{
    accesslog_tick(&l->thread.ctx);
    if (l->accept_ctx.ssl_ctx && atomic_load(&tls.gen) != l->tls_gen) {
        SSL_CTX *old = l->accept_ctx.ssl_ctx;
        l->accept_ctx.ssl_ctx = tls_take(&l->tls_gen);
        SSL_CTX_free(old);
    }
}

/* h2o_context_dispose asserts that its timeouts are empty, but connections
 * still open at shutdown (keep-alive, a body arriving, an answer pending)
 * have entries linked there: a SIGTERM then aborted berthd. Their sockets go
 * with the loop; their timers go here. */
static void unlink_all(h2o_timeout_t *t)
{
    while (!h2o_linklist_is_empty(&t->_entries))
        h2o_timeout_unlink(H2O_STRUCT_FROM_MEMBER(h2o_timeout_entry_t, _link, t->_entries.next));
}

static void unlink_timeouts(h2o_context_t *ctx)
{
    h2o_timeout_t *all[] = {&ctx->zero_timeout,
                            &ctx->one_sec_timeout,
                            &ctx->hundred_ms_timeout,
                            &ctx->handshake_timeout,
                            &ctx->http1.req_timeout,
                            &ctx->http2.idle_timeout,
                            &ctx->http2.graceful_shutdown_timeout,
                            &ctx->proxy.io_timeout};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        unlink_all(all[i]);
}

/* One event loop. Its context is created and disposed ON THIS THREAD: h2o
 * 2.2.5 ties every socket buffer to the free list of the thread that created
 * the socket (a thread-local prototype, without a lock), so a context built
 * by main() would have its queue's socket share main's list with every
 * other loop — they corrupted each other's buffers under load. */
static void *loop_main(void *arg)
{
    loop_t *l = arg;
    phases_wait_open(l->phases);
    h2o_context_init(&l->thread.ctx, h2o_evloop_create(), l->config);
    server_thread_init_ops(&l->thread);
    if (ecs_agent_loop_init(&l->thread) != 0) {
        fprintf(stderr, "berthd: out of memory\n");
        stopping = 1;
    }
    l->accept_ctx.ctx = &l->thread.ctx;
    l->accept_ctx.hosts = l->config->hosts;
    if (!(l->conns = conn_loop_new(l->conn_shared, l->index, &l->accept_ctx, l->listen_fd))) {
        fprintf(stderr, "berthd: out of memory\n");
        stopping = 1;
    }
    pthread_barrier_wait(&l->phases->ready);

    while (!stopping) {
        h2o_evloop_run(l->thread.ctx.loop, LOOP_TICK_MS);
        loop_tick(l);
    }
    ecs_agent_loop_stop(&l->thread);
    if (l->conns) {
        conn_loop_stop(l->conns);
        /* Graceful: nothing new is accepted (the listener is closed), idle
         * connections are closed, and requests arriving, in a handler or
         * being answered finish, for up to --shutdown-timeout. HTTP/2
         * clients get a GOAWAY. */
        h2o_context_request_shutdown(&l->thread.ctx);
        uint64_t grace_end = h2o_now(l->thread.ctx.loop) + l->shutdown_ms;
        while (conn_loop_cut_idle(l->conns) && h2o_now(l->thread.ctx.loop) < grace_end) {
            h2o_evloop_run(l->thread.ctx.loop, 10);
            accesslog_tick(&l->thread.ctx);
        }
        /* Close the connections while the writer still runs, so that a
         * request waiting on an op gets its answer or its cancellation and
         * h2o frees it: h2o 2.2.5 cannot dispose a context that still has
         * connections. Bounded: a stuck connection is abandoned. */
        uint64_t deadline = h2o_now(l->thread.ctx.loop) + SHUTDOWN_DRAIN_MS;
        while (conn_loop_cut_all(l->conns) && h2o_now(l->thread.ctx.loop) < deadline)
            h2o_evloop_run(l->thread.ctx.loop, 10);
    }

    /* The writer may still complete ops towards this loop's queue: keep it
     * until main() has closed the store. Completions for requests that are
     * gone are dropped with the context. */
    pthread_barrier_wait(&l->phases->stopped);
    pthread_barrier_wait(&l->phases->drained);
    h2o_evloop_t *loop = l->thread.ctx.loop;
    h2o_multithread_queue_t *queue = l->thread.ctx.queue;
    ecs_agent_loop_dispose(&l->thread);
    accesslog_flush(&l->thread.ctx);
    server_thread_drop_ops(&l->thread);
    unlink_timeouts(&l->thread.ctx);
    h2o_context_dispose(&l->thread.ctx);
    free(queue); /* h2o 2.2.5 (evloop) destroys the queue in context_dispose but never frees it */
    h2o_evloop_destroy(loop);
    conn_loop_free(l->conns);
    SSL_CTX_free(l->accept_ctx.ssl_ctx);
    return NULL;
}

/* SIGTERM, SIGINT and SIGHUP are blocked in every thread (main blocks them
 * before it starts any) and taken here, synchronously: a reload opens files
 * and builds a TLS context, which no signal handler may do. */
static sigset_t handled_signals;
static atomic_bool signals_done;

static void *signal_main(void *arg)
{
    server_t *srv = arg;
    const struct timespec tick = {.tv_sec = 0, .tv_nsec = LOOP_TICK_MS * 1000000L};
    while (!atomic_load(&signals_done)) {
        int sig = sigtimedwait(&handled_signals, NULL, &tick);
        if (sig == SIGHUP) {
            char err[512];
            if (accesslog_reopen(err, sizeof(err)) != 0)
                fprintf(stderr, "berthd: SIGHUP: kept writing the access log to the file already open: %s\n", err);
            tls_reload();
        } else if (sig == SIGTERM || sig == SIGINT) {
            if (!stopping)
                fprintf(stderr, "berthd: %s: finishing in-flight requests, accepting no new ones\n",
                        sig == SIGTERM ? "SIGTERM" : "SIGINT");
            atomic_store(&srv->draining, true);
            stopping = 1;
        }
    }
    return NULL;
}

/* One berthd per data directory: the store keeps state in memory that a
 * second process would contradict (uploads in flight, files awaiting
 * deletion, the clean-up of unrecorded files at start). The lock is held
 * until the process exits; its file names the holder's pid. */
static int lock_data_dir(const char *data)
{
    char path[FILENAME_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/berthd.lock", data) >= sizeof(path)) {
        fprintf(stderr, "berthd: data directory path too long\n");
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "berthd: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char holder[32] = "";
        ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        if (e == EWOULDBLOCK)
            fprintf(stderr, "berthd: data directory %s is in use by another berthd%s%s%s; stop it first\n", data,
                    holder[0] ? " (pid " : "", holder, holder[0] ? ")" : "");
        else
            fprintf(stderr, "berthd: cannot lock %s: %s\n", path, strerror(e));
        close(fd);
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        fprintf(stderr, "berthd: warning: cannot write the pid to %s: %s\n", path, strerror(errno));
    return 0; /* fd stays open: the lock lives as long as the process */
}

/* Raises the soft descriptor limit to the hard one (the default soft limit,
 * 1024, is a few hundred connections) and returns it. */
static uint64_t raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = rl;
        /* An unlimited hard limit is refused by setrlimit: take what the kernel allows a process. */
        if (want.rlim_max == RLIM_INFINITY)
            want.rlim_cur = want.rlim_max = 1 << 20;
        else
            want.rlim_cur = want.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
    }
    return rl.rlim_cur == RLIM_INFINITY ? (uint64_t)1 << 20 : (uint64_t)rl.rlim_cur;
}

/* Descriptors open now (the store's, the listeners'); 64 if /proc cannot say. */
static uint64_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 64;
    uint64_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* not the directory's own */
}

/* The config file's text: its options' values point into it until exit. */
static char *config_text;

static void free_config_text(void)
{
    free(config_text);
    config_text = NULL;
}

int main(int argc, char **argv)
{
    options_t o = {.listen = "0.0.0.0:5000",
                   .data = "./berth-data",
                   .max_body = DEFAULT_MAX_BODY,
                   .region = "us-east-1",
                   .token_seconds = AUTH_DEFAULT_TOKEN_SECONDS,
                   .request_timeout = DEFAULT_REQUEST_TIMEOUT_S,
                   .idle_timeout = DEFAULT_IDLE_TIMEOUT_S,
                   .max_connections = DEFAULT_MAX_CONNECTIONS,
                   .max_conns_per_ip = DEFAULT_MAX_CONNECTIONS_PER_IP,
                   .max_spool = DEFAULT_MAX_SPOOL,
                   .ecs_agent_timeout = SCHED_ECS_AGENT_TIMEOUT_DEFAULT,
                   .ecs_task_lost_timeout = SCHED_ECS_TASK_LOST_TIMEOUT_DEFAULT,
                   .ecs_stopped_retention = SCHED_ECS_STOPPED_RETENTION_DEFAULT,
                   .gc_interval = DEFAULT_GC_INTERVAL_S,
                   .gc_grace = STORAGE_GC_DEFAULT_GRACE_SECONDS,
                   .shutdown_timeout = DEFAULT_SHUTDOWN_TIMEOUT_S,
                   .lifecycle_interval = DEFAULT_LIFECYCLE_INTERVAL_S};
    atexit(free_config_text);
    int rc = parse_options(argc, argv, &o, &config_text);
    if (rc >= 0)
        return rc;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (!o.threads)
        o.threads = ncpu > 0 && ncpu <= MAX_THREADS ? (unsigned)ncpu : 1;

    /* Fixed thresholds keep glibc from growing its mmap threshold after LMDB
     * frees big dirty pages, which would leave them on the heap as RSS. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
    signal(SIGPIPE, SIG_IGN);
    /* before any thread: they all inherit the mask; signal_main takes them */
    sigemptyset(&handled_signals);
    sigaddset(&handled_signals, SIGTERM);
    sigaddset(&handled_signals, SIGINT);
    sigaddset(&handled_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &handled_signals, NULL);

    uint64_t nofile = raise_nofile();

    if (mkdir(o.data, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "berthd: cannot create data directory %s: %s\n", o.data, strerror(errno));
        return 1;
    }
    if (lock_data_dir(o.data) != 0)
        return 1;
    /* Big bodies spool into the data dir, not /tmp: same file system, same space. */
    char spool_dir[FILENAME_MAX - 16];
    if ((size_t)snprintf(spool_dir, sizeof(spool_dir), "%s/tmp", o.data) >= sizeof(spool_dir) - 16) {
        fprintf(stderr, "berthd: data directory path too long\n");
        return 1;
    }
    if (mkdir(spool_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "berthd: cannot create %s: %s\n", spool_dir, strerror(errno));
        return 1;
    }
    snprintf(h2o_socket_buffer_mmap_settings.fn_template, sizeof(h2o_socket_buffer_mmap_settings.fn_template), "%s/h2o.b.XXXXXX",
             spool_dir);
    h2o_socket_buffer_mmap_settings.threshold = BODY_SPOOL_THRESHOLD;

    /* Before the store opens: a certificate that cannot be made or read
     * stops berthd with nothing else to undo. */
    selfcert_paths_t self_paths;
    if (o.tls_self_signed) {
        char cert_err[FILENAME_MAX + 512];
        selfcert_names_t names;
        char note[512];
        bool created;
        if (selfcert_parse_hostnames(o.tls_hostname ? o.tls_hostname : DEFAULT_TLS_HOSTNAMES, &names, cert_err, sizeof(cert_err)) !=
                0 ||
            selfcert_ensure(o.data, &names, &self_paths, &created, note, sizeof(note), cert_err, sizeof(cert_err)) != 0) {
            fprintf(stderr, "berthd: %s\n", cert_err);
            return 1;
        }
        if (created)
            fprintf(stderr, "berthd: made a self-signed certificate for %s in %s (clients trust it as their CA file)\n",
                    o.tls_hostname ? o.tls_hostname : DEFAULT_TLS_HOSTNAMES, self_paths.cert);
        if (note[0])
            fprintf(stderr, "berthd: warning: %s\n", note);
        o.tls_cert = self_paths.cert;
        o.tls_key = self_paths.key;
    }

    storage_err_t serr;
    storage_options_t sopt = {.map_size = o.map_size};
    server_t srv = {.max_body = o.max_body,
                    .open = o.insecure_no_auth,
                    .token_seconds = (int64_t)o.token_seconds,
                    .clock_offset = o.clock_offset,
                    .ecs_agent_timeout = (int64_t)o.ecs_agent_timeout,
                    .ecs_task_lost_timeout = (int64_t)o.ecs_task_lost_timeout,
                    .ecs_stopped_retention = (int64_t)o.ecs_stopped_retention,
                    .no_create_on_push = o.no_create_on_push,
                    .data_dir = o.data};
    snprintf(srv.region, sizeof(srv.region), "%s", o.region);
    if (srv.clock_offset != 0)
        fprintf(
            stderr,
            "berthd: --clock-offset %lld: credentials are issued and checked %lld seconds off the real clock (for tests only)\n",
            (long long)srv.clock_offset, (long long)srv.clock_offset);
    if (!(srv.storage = storage_open(o.data, &sopt, &serr))) {
        fprintf(stderr, "berthd: %s\n", serr.msg);
        return 1;
    }
    if (!srv.open) {
        bool created_admin;
        auth_err_t aerr;
        if (auth_bootstrap(srv.storage, o.data, &srv.keys, &created_admin, &aerr) != AUTH_IDENTITY_OK) {
            fprintf(stderr, "berthd: %s\n", aerr.msg);
            storage_close(srv.storage);
            return 1;
        }
        if (o.rotate_token_key) {
            if (auth_token_key_rotate(srv.storage, &srv.keys, &aerr) != AUTH_IDENTITY_OK) {
                fprintf(stderr, "berthd: cannot rotate the token key: %s\n", aerr.msg);
                storage_close(srv.storage);
                return 1;
            }
            fprintf(stderr, "berthd: rotated the registry token signing key (now %s): every password issued before is void\n",
                    srv.keys.token_key.id);
        }
        if (created_admin)
            fprintf(stderr,
                    "berthd: first start: created account %s and its administrator; the access key is in %s/admin-credentials "
                    "(AWS_SHARED_CREDENTIALS_FILE=%s/admin-credentials aws ecr get-login-password ...)\n",
                    srv.keys.account_id, o.data, o.data);
    }

    char gcerr[128];
    if (!(srv.gc = berth_gc_start(srv.storage, o.gc_interval, o.gc_grace, gcerr, sizeof(gcerr)))) {
        fprintf(stderr, "berthd: %s\n", gcerr);
        storage_close(srv.storage);
        return 1;
    }
    if (!(srv.lifecycle = ecr_lifecycle_start(&srv, o.lifecycle_interval, gcerr, sizeof(gcerr)))) {
        fprintf(stderr, "berthd: %s\n", gcerr);
        berth_gc_stop(srv.gc);
        storage_close(srv.storage);
        return 1;
    }

    h2o_globalconf_t config;
    h2o_config_init(&config);
    config.max_request_entity_size = o.max_body;
    config.http1.req_timeout = o.request_timeout * 1000;
    /* Never h2c: no Upgrade: h2c, and no prior-knowledge preface on the plain port. */
    config.http1.upgrade_to_http2 = 0;
    config.http2.idle_timeout = o.idle_timeout * 1000;
    config.server_name = h2o_iovec_init(H2O_STRLIT("berth"));
    h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    v2_handler_t *handler = (v2_handler_t *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->srv = &srv;
    char err[512];
    if (o.access_log && accesslog_open(o.access_log, err, sizeof(err)) != 0) {
        fprintf(stderr, "berthd: %s\n", err);
        return 1;
    }
    accesslog_register(path);
    metrics_register(&srv, path, !o.no_metrics, o.metrics_public);

    SSL_CTX *ssl_ctx = NULL;
    if (o.tls_cert && !(ssl_ctx = tls_context(o.tls_cert, o.tls_key, o.http2, err, sizeof(err)))) {
        fprintf(stderr, "berthd: %s\n", err);
        return 1;
    }
    tls.current = ssl_ctx;
    tls.cert = o.tls_cert;
    tls.key = o.tls_key;
    tls.http2 = o.http2;
    loop_t *loops = calloc(o.threads, sizeof(*loops));
    if (!loops) {
        fprintf(stderr, "berthd: out of memory\n");
        return 1;
    }
    phases_t phases = {.lock = PTHREAD_MUTEX_INITIALIZER, .opened = PTHREAD_COND_INITIALIZER};
    for (unsigned i = 0; i < o.threads; i++) {
        loop_t *l = &loops[i];
        if ((l->listen_fd = open_listener(o.listen, i == 0, err, sizeof(err))) < 0) {
            fprintf(stderr, "berthd: %s\n", err);
            return 1;
        }
        l->thread.srv = &srv;
        if (!(l->thread.authz = authz_cache_new())) {
            fprintf(stderr, "berthd: out of memory\n");
            return 1;
        }
        l->accept_ctx.ssl_ctx = tls_take(&l->tls_gen);
        l->shutdown_ms = o.shutdown_timeout * 1000;
        l->config = &config;
        l->phases = &phases;
        l->index = i;
    }
    /* The connection cap stays below what the descriptor limit can hold, so
     * accept never runs out of descriptors at the cap. */
    uint64_t in_use = open_fds() + FD_RESERVE_BASE + FD_RESERVE_PER_THREAD * (uint64_t)o.threads;
    uint64_t fd_conns = nofile > in_use ? (nofile - in_use) / FDS_PER_CONN : 0;
    if (fd_conns == 0) {
        fprintf(stderr, "berthd: a file descriptor limit of %llu leaves no room for connections (raise ulimit -n)\n",
                (unsigned long long)nofile);
        return 1;
    }
    conn_limits_t lim = {.idle_ms = o.idle_timeout * 1000,
                         .max_spool = o.max_spool,
                         .max_conns = (unsigned)(o.max_connections < fd_conns ? o.max_connections : fd_conns),
                         .max_conns_per_ip = (unsigned)o.max_conns_per_ip};
    if (lim.max_conns < o.max_connections)
        fprintf(stderr, "berthd: at most %u connections: the file descriptor limit is %llu (%d per connection)\n", lim.max_conns,
                (unsigned long long)nofile, FDS_PER_CONN);
    conn_shared_t *conn_shared = conn_shared_new(&lim, o.threads);
    if (!conn_shared) {
        fprintf(stderr, "berthd: out of memory\n");
        return 1;
    }
    for (unsigned i = 0; i < o.threads; i++)
        loops[i].conn_shared = conn_shared;
    /* A loop that cannot start stops the others: they build their contexts,
     * see `stopping` and take the ordinary way out, so nothing waits for it. */
    unsigned started = 0;
    for (; started < o.threads; started++) {
        int e = pthread_create(&loops[started].tid, NULL, loop_main, &loops[started]);
        if (e != 0) {
            fprintf(stderr, "berthd: cannot start event-loop thread %u of %u: %s\n", started + 1, o.threads, strerror(e));
            stopping = 1;
            break;
        }
    }
    phases_open(&phases, started);
    pthread_barrier_wait(&phases.ready);
    pthread_t sig_tid;
    bool sig_thread = pthread_create(&sig_tid, NULL, signal_main, &srv) == 0;
    if (!sig_thread) {
        fprintf(stderr, "berthd: cannot start the signal thread\n");
        stopping = 1;
    }
    bool ticking = started == o.threads && ecs_services_timer_start(&srv) == 0;
    /* after the loops, as the timers: a thread limit is felt by the loops first */
    if (started == o.threads)
        ecr_lifecycle_schedule(srv.lifecycle);
    if (started == o.threads) {
        fprintf(stderr, "berthd %s: serving the OCI distribution API and the ECR API on %s://%s, data in %s, %u threads\n",
                BERTH_VERSION, ssl_ctx ? "https" : "http", o.listen, o.data, o.threads);
        if (srv.open)
            fprintf(stderr,
                    "berthd: WARNING: NO AUTHENTICATION (--insecure-no-auth). Anyone who can reach %s can push, pull and "
                    "delete every repository.\n",
                    o.listen);
        else
            fprintf(stderr, "berthd: account %s, region %s; every request needs credentials a policy allows\n", srv.keys.account_id,
                    srv.region);
    }
    if (!srv.open && ecs_agent_sweeper_start(&srv) != 0)
        fprintf(stderr, "berthd: cannot start the thread that marks lost ECS tasks: tasks of silent instances stay as they are\n");
    pthread_barrier_wait(&phases.stopped);
    fprintf(stderr, "berthd: shutting down\n");
    atomic_store(&signals_done, true);
    if (sig_thread)
        pthread_join(sig_tid, NULL);
    if (ticking)
        ecs_services_timer_stop();
    ecs_agent_sweeper_stop();
    /* The collector stops first (it submits to the writer); the writer finishes
     * what is queued, then the loops dispose their contexts. */
    ecr_lifecycle_stop(srv.lifecycle);
    berth_gc_stop(srv.gc);
    storage_close(srv.storage);
    pthread_barrier_wait(&phases.drained);
    for (unsigned i = 0; i < o.threads; i++) {
        if (i < started)
            pthread_join(loops[i].tid, NULL);
        authz_cache_free(loops[i].thread.authz);
    }
    pthread_barrier_destroy(&phases.ready);
    pthread_barrier_destroy(&phases.stopped);
    pthread_barrier_destroy(&phases.drained);
    conn_shared_free(conn_shared);
    h2o_config_dispose(&config);
    SSL_CTX_free(tls.current);
    accesslog_close();
    metrics_close();
    pthread_mutex_destroy(&phases.lock);
    pthread_cond_destroy(&phases.opened);
    free(loops);
    return started < o.threads ? 1 : 0;
}
