/*
 * bench/ecr/ecr_page_bench.c — DescribeImages and ListImages pages of a big
 * repository through berthd's ECR API, from C so that the client does not
 * eat the 2 cores: each call signed with SigV4 by libcurl itself
 * (CURLOPT_AWS_SIGV4, service ecr), one connection kept alive.
 *
 *   ecr_page_bench URL CREDS-FILE BERTHD-PID populate IMAGES [CONC]
 *   ecr_page_bench URL CREDS-FILE BERTHD-PID measure ROUNDS LABEL
 *
 * populate: repository "bench/app" through the API: a config blob and five
 * layers by InitiateLayerUpload/UploadLayerPart/CompleteLayerUpload, then
 * IMAGES PutImage calls (CONC in flight), each a distinct manifest of those
 * six blobs (an annotation numbers it) tagged "vNNNNNN".
 * measure: ROUNDS walks of the whole repository by pages of 1,000 and as
 * many by pages of 100 (nextToken chained, one call at a time),
 * for ListImages and for DescribeImages; prints p50/p99 per page size, the
 * CPU time berthd spent per page and per image listed, and this client's.
 * Equal cost per image at both page sizes means a page is O(page); a page of
 * 100 costing per image several times what a page of 1,000 does means each
 * page pays for the whole repository. Not a test.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* the six blobs: content, base64, sha256 */
static const struct {
    const char *data, *b64, *sha;
} blobs[] = {
    {"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
     "eyJhcmNoaXRlY3R1cmUiOiJhbWQ2NCIsIm9zIjoibGludXgiLCJyb290ZnMiOnsidHlwZSI6ImxheWVycyIsImRpZmZfaWRzIjpbXX19",
     "c5b1d63604f273462ef36fadac3182d43ae6a6138731cf594b314835cf1c034f"},
    {"layer-1", "bGF5ZXItMQ==", "922badbaf192e1a4a5af64df422de6d73e96e70d0ab52245bd3d692bcea9cfad"},
    {"layer-2", "bGF5ZXItMg==", "6bdb18f83935f1d97220ee8035e6ccd7e764c32102587be4488f940f943ebda6"},
    {"layer-3", "bGF5ZXItMw==", "da0002e0cd62c639edf0b88ba0216b00084f5abf275328f44d39784450a625f4"},
    {"layer-4", "bGF5ZXItNA==", "fcbf34398fabf8767b2eaac8abbe8e29a8f8b495b0c0b6da88c674f14f31ff5d"},
    {"layer-5", "bGF5ZXItNQ==", "c5d3f6205de1b7d5976d0a25ccd92797092edf5a7142fae3736179d68c92ef62"},
};
#define NBLOBS (sizeof(blobs) / sizeof(blobs[0]))

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

/* Sets r up for op with body (taken); reuses r->h when it has one (keep-alive). */
static void req_setup(req_t *r, const char *op, char *body)
{
    char target[160];
    CURL *h = r->h;
    memset(r, 0, sizeof(*r));
    r->h = h ? h : curl_easy_init();
    r->body = body;
    snprintf(target, sizeof(target), "X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.%s", op);
    r->hdrs = curl_slist_append(NULL, "Content-Type: application/x-amz-json-1.1");
    r->hdrs = curl_slist_append(r->hdrs, target);
    curl_easy_setopt(r->h, CURLOPT_URL, url);
    curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(r->h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:ecr");
    curl_easy_setopt(r->h, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
    r->started = now_s();
}

/* Frees what r holds but its handle (kept for the next call when keep is true). */
static void req_free(req_t *r, bool keep)
{
    curl_slist_free_all(r->hdrs);
    if (!keep)
        curl_easy_cleanup(r->h);
    free(r->body);
    free(r->resp);
    CURL *h = r->h;
    memset(r, 0, sizeof(*r));
    if (keep)
        r->h = h;
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
    if (!s) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return s;
}

static req_t conn; /* the one kept-alive connection of the sequential calls */

/* One call on the kept connection: the reply (or exit), its latency in *lat. */
static json_t *call(const char *op, char *body, double *lat)
{
    req_setup(&conn, op, body);
    long code = 0;
    if (curl_easy_perform(conn.h) != CURLE_OK || (curl_easy_getinfo(conn.h, CURLINFO_RESPONSE_CODE, &code), code != 200)) {
        fprintf(stderr, "%s: HTTP %ld: %s\n", op, code, conn.resp ? conn.resp : "");
        exit(1);
    }
    if (lat)
        *lat = now_s() - conn.started;
    json_t *out = json_loads(conn.resp, 0, NULL);
    req_free(&conn, true);
    if (!out) {
        fprintf(stderr, "%s: the reply is not JSON\n", op);
        exit(1);
    }
    return out;
}

static char *put_image_body(size_t i)
{
    char layers[1024] = "";
    size_t off = 0;
    for (size_t b = 1; b < NBLOBS; b++)
        off += (size_t)snprintf(layers + off, sizeof(layers) - off,
                                "%s{\\\"mediaType\\\":\\\"application/vnd.oci.image.layer.v1.tar+gzip\\\",\\\"digest\\\":"
                                "\\\"sha256:%s\\\",\\\"size\\\":%zu}",
                                b > 1 ? "," : "", blobs[b].sha, strlen(blobs[b].data));
    return strdupf("{\"repositoryName\":\"bench/app\",\"imageTag\":\"v%06zu\",\"imageManifest\":\"{\\\"schemaVersion\\\":2,"
                   "\\\"mediaType\\\":\\\"application/vnd.oci.image.manifest.v1+json\\\",\\\"config\\\":{\\\"mediaType\\\":"
                   "\\\"application/vnd.oci.image.config.v1+json\\\",\\\"digest\\\":\\\"sha256:%s\\\",\\\"size\\\":%zu},"
                   "\\\"layers\\\":[%s],\\\"annotations\\\":{\\\"n\\\":\\\"%zu\\\"}}\"}",
                   i, blobs[0].sha, strlen(blobs[0].data), layers, i);
}

/* n PutImage calls, conc in flight. */
static double put_many(size_t n, int conc)
{
    CURLM *m = curl_multi_init();
    req_t reqs[MAX_CONC];
    memset(reqs, 0, sizeof(reqs));
    size_t next = 0, done = 0;
    double t0 = now_s();
    for (int k = 0; k < conc && next < n; k++, next++) {
        req_setup(&reqs[k], "PutImage", put_image_body(next));
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
                fprintf(stderr, "PutImage: HTTP %ld: %s\n", code, r->resp ? r->resp : curl_easy_strerror(msg->data.result));
                exit(1);
            }
            done++;
            curl_multi_remove_handle(m, r->h);
            req_free(r, true);
            if (next < n) {
                req_setup(r, "PutImage", put_image_body(next++));
                curl_easy_setopt(r->h, CURLOPT_PRIVATE, r);
                curl_multi_add_handle(m, r->h);
            }
        }
        if (done < n)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (int k = 0; k < conc; k++)
        if (reqs[k].h)
            curl_easy_cleanup(reqs[k].h);
    curl_multi_cleanup(m);
    return now_s() - t0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
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

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* rounds walks of the repository by pages of `page`; prints p50/p99 and the cost per image. */
static void measure(const char *label, int pid, const char *op, const char *list_key, size_t page, size_t rounds)
{
    size_t cap = 64, n = 0, items = 0;
    double *lat = malloc(cap * sizeof(double));
    if (!lat)
        exit(1);
    double cpu0 = cpu_s(pid), self0 = self_cpu_s(), t0 = now_s();
    for (size_t r = 0; r < rounds; r++) {
        char *token = NULL;
        do {
            char *body = token ? strdupf("{\"repositoryName\":\"bench/app\",\"maxResults\":%zu,\"nextToken\":\"%s\"}", page, token)
                               : strdupf("{\"repositoryName\":\"bench/app\",\"maxResults\":%zu}", page);
            free(token);
            token = NULL;
            if (n == cap && !(lat = realloc(lat, (cap *= 2) * sizeof(double))))
                exit(1);
            json_t *out = call(op, body, &lat[n++]);
            items += json_array_size(json_object_get(out, list_key));
            const char *t = json_string_value(json_object_get(out, "nextToken"));
            if (t)
                token = strdup(t);
            json_decref(out);
        } while (token);
    }
    double wall = now_s() - t0, cpu = cpu_s(pid) - cpu0, self = self_cpu_s() - self0;
    qsort(lat, n, sizeof(double), cmp_d);
    double per_page_cpu = cpu / (double)n;
    printf("| %-6s | %-14s | %4zu | %5zu | %6.2f | %6.2f | %6.2f | %6.2f | %5.2f | %5.2f | %5.1f |\n", label, op, page, n,
           lat[n / 2] * 1e3, lat[(n * 99) / 100] * 1e3, per_page_cpu * 1e3, per_page_cpu * 1e6 / ((double)items / (double)n), cpu,
           self, wall);
    free(lat);
}

static void populate(size_t images, int conc, int pid)
{
    json_decref(call("CreateRepository", strdup("{\"repositoryName\":\"bench/app\"}"), NULL));
    for (size_t b = 0; b < NBLOBS; b++) {
        json_t *up = call("InitiateLayerUpload", strdup("{\"repositoryName\":\"bench/app\"}"), NULL);
        const char *id = json_string_value(json_object_get(up, "uploadId"));
        json_decref(call("UploadLayerPart",
                         strdupf("{\"repositoryName\":\"bench/app\",\"uploadId\":\"%s\",\"partFirstByte\":0,\"partLastByte\":%zu,"
                                 "\"layerPartBlob\":\"%s\"}",
                                 id, strlen(blobs[b].data) - 1, blobs[b].b64),
                         NULL));
        json_decref(call(
            "CompleteLayerUpload",
            strdupf("{\"repositoryName\":\"bench/app\",\"uploadId\":\"%s\",\"layerDigests\":[\"sha256:%s\"]}", id, blobs[b].sha),
            NULL));
        json_decref(up);
    }
    double cpu0 = cpu_s(pid);
    double t = put_many(images, conc);
    printf("populated: %zu PutImage calls (%d in flight) in %.1f s = %.0f/s, berthd CPU %.1f s\n", images, conc, t,
           (double)images / t, cpu_s(pid) - cpu0);
}

int main(int argc, char **argv)
{
    bool pop = argc >= 6 && strcmp(argv[4], "populate") == 0, meas = argc >= 7 && strcmp(argv[4], "measure") == 0;
    if (!pop && !meas) {
        fprintf(stderr, "usage: ecr_page_bench URL CREDS-FILE BERTHD-PID populate IMAGES [CONC]\n"
                        "       ecr_page_bench URL CREDS-FILE BERTHD-PID measure ROUNDS LABEL\n");
        return 2;
    }
    url = argv[1];
    int pid = atoi(argv[3]);
    size_t n = strtoul(argv[5], NULL, 10);
    if (n < 1) {
        fprintf(stderr, "IMAGES and ROUNDS must be at least 1\n");
        return 2;
    }
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
    if (pop) {
        int conc = argc > 6 ? atoi(argv[6]) : 8;
        populate(n, conc < 1 || conc > MAX_CONC ? 8 : conc, pid);
    } else {
        static const struct {
            const char *op, *key;
        } ops[] = {{"ListImages", "imageIds"}, {"DescribeImages", "imageDetails"}};
        json_decref(call("ListImages", strdup("{\"repositoryName\":\"bench/app\",\"maxResults\":1}"), NULL)); /* warm */
        for (size_t o = 0; o < 2; o++) {
            measure(argv[6], pid, ops[o].op, ops[o].key, 1000, n);
            measure(argv[6], pid, ops[o].op, ops[o].key, 100, n);
        }
    }
    req_free(&conn, false);
    curl_global_cleanup();
    return 0;
}
