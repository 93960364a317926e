/* bench/common/aws_json_load.c — see aws_json_load.h. */
#define _GNU_SOURCE
#include "aws_json_load.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void ajl_api_init(ajl_api_t *api, const char *url, const char *creds_file, const char *target_prefix, const char *service)
{
    char key[128] = "", secret[128] = "", line[512];
    FILE *f = fopen(creds_file, "r");
    while (f && fgets(line, sizeof(line), f) && !(key[0] && secret[0])) {
        sscanf(line, "aws_access_key_id = %127s", key);
        sscanf(line, "aws_secret_access_key = %127s", secret);
    }
    if (f)
        fclose(f);
    if (!key[0] || !secret[0]) {
        fprintf(stderr, "no access key in %s\n", creds_file);
        exit(1);
    }
    api->url = url;
    api->target_prefix = target_prefix;
    snprintf(api->sigv4, sizeof(api->sigv4), "aws:amz:us-east-1:%s", service);
    snprintf(api->userpwd, sizeof(api->userpwd), "%s:%s", key, secret);
    curl_global_init(CURL_GLOBAL_ALL);
}

double ajl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *ajl_strdupf(const char *fmt, ...)
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

int ajl_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    ajl_req_t *r = ud;
    char *b = realloc(r->resp, r->resp_len + sz * n + 1);
    if (!b)
        return 0;
    memcpy(b + r->resp_len, p, sz * n);
    r->resp = b;
    r->resp_len += sz * n;
    b[r->resp_len] = '\0';
    return sz * n;
}

void ajl_req_setup(const ajl_api_t *api, ajl_req_t *r, const char *op, char *body)
{
    char target[160];
    CURL *h = r->h;
    memset(r, 0, sizeof(*r));
    if (!(r->h = h ? h : curl_easy_init()) || !body) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    r->body = body;
    snprintf(target, sizeof(target), "X-Amz-Target: %s%s", api->target_prefix, op);
    r->hdrs = curl_slist_append(NULL, "Content-Type: application/x-amz-json-1.1");
    r->hdrs = curl_slist_append(r->hdrs, target);
    curl_easy_setopt(r->h, CURLOPT_URL, api->url);
    curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(r->h, CURLOPT_AWS_SIGV4, api->sigv4);
    curl_easy_setopt(r->h, CURLOPT_USERPWD, api->userpwd);
    curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
    r->started = ajl_now();
}

void ajl_req_free(ajl_req_t *r, bool keep)
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

json_t *ajl_call(const ajl_api_t *api, ajl_req_t *conn, const char *op, char *body, double *lat)
{
    ajl_req_setup(api, conn, op, body);
    long code = 0;
    if (curl_easy_perform(conn->h) != CURLE_OK || (curl_easy_getinfo(conn->h, CURLINFO_RESPONSE_CODE, &code), code != 200)) {
        fprintf(stderr, "%s: HTTP %ld: %s\n", op, code, conn->resp ? conn->resp : "");
        exit(1);
    }
    if (lat)
        *lat = ajl_now() - conn->started;
    json_t *out = json_loads(conn->resp, 0, NULL);
    ajl_req_free(conn, true);
    if (!out) {
        fprintf(stderr, "%s: the reply is not JSON\n", op);
        exit(1);
    }
    return out;
}

static void start(const ajl_api_t *api, CURLM *m, ajl_req_t *r, const char *op, char *body)
{
    ajl_req_setup(api, r, op, body);
    curl_easy_setopt(r->h, CURLOPT_PRIVATE, r);
    curl_multi_add_handle(m, r->h);
}

double ajl_run_many(const ajl_api_t *api, const char *op, ajl_body_fn body, ajl_reply_fn reply, void *user, size_t n, int conc,
                    bool keep_alive, double *lat)
{
    CURLM *m = curl_multi_init();
    ajl_req_t reqs[AJL_MAX_CONC];
    memset(reqs, 0, sizeof(reqs));
    if (!m || conc < 1 || conc > AJL_MAX_CONC) {
        fprintf(stderr, "%s: cannot keep %d calls in flight\n", op, conc);
        exit(1);
    }
    size_t next = 0, done = 0;
    double t0 = ajl_now();
    for (int k = 0; k < conc && next < n; k++, next++)
        start(api, m, &reqs[k], op, body(next, user));
    while (done < n) {
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            ajl_req_t *r;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            long code = 0;
            curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || code != 200) {
                fprintf(stderr, "%s: HTTP %ld: %s\n", op, code, r->resp ? r->resp : curl_easy_strerror(msg->data.result));
                exit(1);
            }
            if (lat)
                lat[done] = ajl_now() - r->started;
            if (reply)
                reply(r, user);
            done++;
            curl_multi_remove_handle(m, r->h);
            ajl_req_free(r, keep_alive);
            if (next < n)
                start(api, m, r, op, body(next++, user));
        }
        if (done < n)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (int k = 0; k < conc; k++)
        if (reqs[k].h)
            curl_easy_cleanup(reqs[k].h);
    curl_multi_cleanup(m);
    return ajl_now() - t0;
}

double ajl_cpu_s(int pid)
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

long ajl_rss_anon_kb(int pid)
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

double ajl_self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
