/*
 * bench/placement/ecs_http_load.c — RunTask through berthd's HTTP API on live
 * cluster state, from C so that the client does not eat the 2 cores:
 * libcurl's multi interface keeps CONC requests in flight, each signed with
 * SigV4 by libcurl itself (CURLOPT_AWS_SIGV4, service ecs).
 *
 *   ecs_http_load URL CREDS-FILE BERTHD-PID INSTANCES CALLS [CONC]
 *
 * Creates cluster "bench", registers INSTANCES container instances directly
 * (RegisterContainerInstance, 3 zones, two thirds t2), then makes CALLS
 * RunTask calls of count 10 with spread(availability zone) + binpack(memory)
 * + memberOf(attribute:ecs.instance-type =~ t2.*), CONC at a time. Prints
 * tasks placed per second (each reply is sent once its commit is synced),
 * RunTask p50/p99, berthd's RssAnon before and after each phase, and the
 * CPU time berthd and this process used. Not a test.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONC 64

typedef struct {
    CURL *h;
    struct curl_slist *hdrs;
    char *body;
    char *resp;
    size_t resp_len;
    double started;
} req_t;

static const char *url;
static char userpwd[512];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    req_t *r = ud;
    char *b = realloc(r->resp, r->resp_len + sz * n + 1);
    if (!b)
        return 0;
    memcpy(b + r->resp_len, p, sz * n);
    r->resp = b;
    r->resp_len += sz * n;
    b[r->resp_len] = '\0';
    return sz * n;
}

static void req_setup(req_t *r, const char *op, char *body)
{
    char target[160];
    memset(r, 0, sizeof(*r));
    r->h = curl_easy_init();
    r->body = body;
    snprintf(target, sizeof(target), "X-Amz-Target: AmazonEC2ContainerServiceV20141113.%s", op);
    r->hdrs = curl_slist_append(NULL, "Content-Type: application/x-amz-json-1.1");
    r->hdrs = curl_slist_append(r->hdrs, target);
    curl_easy_setopt(r->h, CURLOPT_URL, url);
    curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(r->h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:ecs");
    curl_easy_setopt(r->h, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
    r->started = now_s();
}

static void req_free(req_t *r)
{
    curl_slist_free_all(r->hdrs);
    curl_easy_cleanup(r->h);
    free(r->body);
    free(r->resp);
    memset(r, 0, sizeof(*r));
}

static char *strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strdupf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* One call, synchronously: the reply or exit. */
static json_t *call(const char *op, char *body)
{
    req_t r;
    req_setup(&r, op, body);
    long code = 0;
    if (curl_easy_perform(r.h) != CURLE_OK || (curl_easy_getinfo(r.h, CURLINFO_RESPONSE_CODE, &code), code != 200)) {
        fprintf(stderr, "%s: HTTP %ld: %s\n", op, code, r.resp ? r.resp : "");
        exit(1);
    }
    json_t *out = json_loads(r.resp, 0, NULL);
    req_free(&r);
    return out;
}

typedef char *(*body_fn)(size_t i);

static size_t ninstances;
static char *register_body(size_t i)
{
    static const char *const az[] = {"az-1", "az-2", "az-3"};
    return strdupf("{\"cluster\":\"bench\",\"totalResources\":[{\"name\":\"CPU\",\"type\":\"INTEGER\",\"integerValue\":4096},"
                   "{\"name\":\"MEMORY\",\"type\":\"INTEGER\",\"integerValue\":16384}],\"attributes\":["
                   "{\"name\":\"ecs.availability-zone\",\"value\":\"%s\"},{\"name\":\"ecs.instance-type\",\"value\":\"%s\"}]}",
                   az[i % 3], i % 3 == 2 ? "m5.large" : "t2.large");
}

static char *runtask_body(size_t i)
{
    (void)i;
    return strdup(
        "{\"cluster\":\"bench\",\"taskDefinition\":\"bench\",\"count\":10,\"placementStrategy\":["
        "{\"type\":\"spread\",\"field\":\"attribute:ecs.availability-zone\"},{\"type\":\"binpack\",\"field\":\"memory\"}],"
        "\"placementConstraints\":[{\"type\":\"memberOf\",\"expression\":\"attribute:ecs.instance-type =~ t2.*\"}]}");
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* n calls of op, conc in flight; latencies into lat (may be NULL); tasks placed summed */
static double run_many(const char *op, body_fn fn, size_t n, int conc, double *lat, size_t *placed, size_t *failed)
{
    CURLM *m = curl_multi_init();
    req_t reqs[MAX_CONC];
    size_t next = 0, done = 0;
    double t0 = now_s();
    for (int k = 0; k < conc && next < n; k++, next++) {
        req_setup(&reqs[k], op, fn(next));
        curl_easy_setopt(reqs[k].h, CURLOPT_PRIVATE, &reqs[k]);
        curl_multi_add_handle(m, reqs[k].h);
    }
    while (done < n) {
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            req_t *r;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            long code = 0;
            curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || code != 200) {
                fprintf(stderr, "%s: HTTP %ld: %s\n", op, code, r->resp ? r->resp : curl_easy_strerror(msg->data.result));
                exit(1);
            }
            if (lat)
                lat[done] = now_s() - r->started;
            if (placed) {
                json_t *o = json_loads(r->resp, 0, NULL);
                *placed += json_array_size(json_object_get(o, "tasks"));
                *failed += json_array_size(json_object_get(o, "failures")) ? 1 : 0;
                json_decref(o);
            }
            done++;
            curl_multi_remove_handle(m, r->h);
            req_free(r);
            if (next < n) {
                req_setup(r, op, fn(next++));
                curl_easy_setopt(r->h, CURLOPT_PRIVATE, r);
                curl_multi_add_handle(m, r->h);
            }
        }
        if (done < n)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    curl_multi_cleanup(m);
    return now_s() - t0;
}

static long rss_anon_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static double cpu_s(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    unsigned long ut = 0, st = 0;
    if (f) {
        /* utime and stime are fields 14 and 15; comm (2) has no spaces for berthd */
        if (fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
            ut = st = 0;
        fclose(f);
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: ecs_http_load URL CREDS-FILE BERTHD-PID INSTANCES CALLS [CONC]\n");
        return 2;
    }
    url = argv[1];
    int pid = atoi(argv[3]);
    ninstances = strtoul(argv[4], NULL, 10);
    size_t calls = strtoul(argv[5], NULL, 10);
    int conc = argc > 6 ? atoi(argv[6]) : 8;
    if (conc < 1 || conc > MAX_CONC)
        conc = 8;
    char key[128] = "", secret[128] = "", line[512];
    FILE *f = fopen(argv[2], "r");
    while (f && fgets(line, sizeof(line), f)) {
        sscanf(line, "aws_access_key_id = %127s", key);
        sscanf(line, "aws_secret_access_key = %127s", secret);
    }
    if (f)
        fclose(f);
    if (!key[0] || !secret[0]) {
        fprintf(stderr, "no access key in %s\n", argv[2]);
        return 1;
    }
    snprintf(userpwd, sizeof(userpwd), "%s:%s", key, secret);
    curl_global_init(CURL_GLOBAL_ALL);

    json_decref(call("CreateCluster", strdup("{\"clusterName\":\"bench\"}")));
    json_decref(call("RegisterTaskDefinition",
                     strdup("{\"family\":\"bench\",\"containerDefinitions\":[{\"name\":\"app\",\"image\":\"bench/app:v1\","
                            "\"cpu\":16,\"memory\":64,\"portMappings\":[{\"containerPort\":80,\"hostPort\":0}]}]}")));
    long rss0 = rss_anon_kb(pid);
    double cpu0 = cpu_s(pid);
    double t = run_many("RegisterContainerInstance", register_body, ninstances, conc, NULL, NULL, NULL);
    long rss1 = rss_anon_kb(pid);
    double cpu1 = cpu_s(pid);
    printf("registered %zu instances in %.1f s (%.0f/s), berthd CPU %.1f s; RssAnon %ld -> %ld kB (%.2f kB per instance)\n",
           ninstances, t, (double)ninstances / t, cpu1 - cpu0, rss0, rss1, (double)(rss1 - rss0) / (double)ninstances);

    /* one RunTask first: it loads the writer's placement cache of the cluster (counted apart from the tasks) */
    json_decref(call("RunTask", runtask_body(0)));
    long rss_cache = rss_anon_kb(pid);
    printf("first RunTask (loads the placement cache): RssAnon %ld -> %ld kB (%.2f kB per instance)\n", rss1, rss_cache,
           (double)(rss_cache - rss1) / (double)ninstances);
    rss1 = rss_cache;
    /* RUN_MARK=FILE: the file is created here and the run waits (up to 10 s)
     * until it is gone, so that a profiler can attach for the run phase only */
    const char *mark = getenv("RUN_MARK");
    if (mark && *mark) {
        FILE *mf = fopen(mark, "w");
        if (mf)
            fclose(mf);
        for (int k = 0; mf && k < 1000 && access(mark, F_OK) == 0; k++)
            usleep(10000);
    }
    cpu1 = cpu_s(pid);
    double *lat = calloc(calls, sizeof(double));
    size_t placed = 0, failed = 0;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    t = run_many("RunTask", runtask_body, calls, conc, lat, &placed, &failed);
    getrusage(RUSAGE_SELF, &ru1);
    long rss2 = rss_anon_kb(pid);
    double cpu2 = cpu_s(pid);
    qsort(lat, calls, sizeof(double), cmp_d);
    double self = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                  (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    printf("RunTask x%zu (count 10, %d in flight): %zu tasks placed in %.2f s = %.0f tasks/s committed; %zu calls with failures\n",
           calls, conc, placed, t, (double)placed / t, failed);
    printf("RunTask latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", lat[calls / 2] * 1e3, lat[(calls * 99) / 100] * 1e3,
           lat[calls - 1] * 1e3);
    printf("CPU: berthd %.2f s (%.0f%% of the wall time), load generator %.2f s; RssAnon %ld -> %ld kB (%.2f kB per task)\n",
           cpu2 - cpu1, 100 * (cpu2 - cpu1) / t, self, rss1, rss2, placed ? (double)(rss2 - rss1) / (double)placed : 0.0);
    free(lat);
    curl_global_cleanup();
    return 0;
}
