/*
 * bench/common/aws_json_load.h — the load generators' client for Berth's
 * AWS JSON 1.1 APIs (ECS, ECR): calls signed with SigV4 by libcurl itself
 * (CURLOPT_AWS_SIGV4), one at a time on a kept connection or many in flight
 * through libcurl's multi interface, and what a benchmark reads of berthd
 * (its CPU time, its RssAnon). Written in C so that the client does not eat
 * the 2 cores a benchmark measures on. Exits on any failure: a benchmark
 * that cannot make its calls has nothing to report.
 */
#ifndef BERTH_BENCH_AWS_JSON_LOAD_H
#define BERTH_BENCH_AWS_JSON_LOAD_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define AJL_MAX_CONC 64

typedef struct {
    const char *url;
    const char *target_prefix; /* "AmazonEC2ContainerServiceV20141113." */
    char sigv4[64];            /* "aws:amz:us-east-1:ecs" */
    char userpwd[512];         /* key:secret */
} ajl_api_t;

typedef struct {
    CURL *h;
    struct curl_slist *hdrs;
    char *body;
    char *resp;
    size_t resp_len;
    double started;
} ajl_req_t;

/* The API at url with the first access key of an AWS credentials file; curl_global_init done. */
void ajl_api_init(ajl_api_t *api, const char *url, const char *creds_file, const char *target_prefix, const char *service);

double ajl_now(void);
char *ajl_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ajl_cmp_double(const void *a, const void *b);

/* r set up for op with body (taken); its handle reused when it has one (keep-alive). */
void ajl_req_setup(const ajl_api_t *api, ajl_req_t *r, const char *op, char *body);
/* What r holds freed; its handle kept for the next call when keep is true. */
void ajl_req_free(ajl_req_t *r, bool keep);

/* One call on conn (its connection kept): the reply, its latency in *lat (may be NULL). */
json_t *ajl_call(const ajl_api_t *api, ajl_req_t *conn, const char *op, char *body, double *lat);

typedef char *(*ajl_body_fn)(size_t i, void *user);
typedef void (*ajl_reply_fn)(const ajl_req_t *r, void *user);
/* n calls of op (bodies from body), conc in flight, each reply given to reply (may be NULL), latencies
 * into lat (may be NULL); connections kept alive or a new one per call. Returns the seconds taken. */
double ajl_run_many(const ajl_api_t *api, const char *op, ajl_body_fn body, ajl_reply_fn reply, void *user, size_t n, int conc,
                    bool keep_alive, double *lat);

/* berthd's CPU seconds (user + system) and RssAnon (kB; -1 if unknown); this process's CPU seconds. */
double ajl_cpu_s(int pid);
long ajl_rss_anon_kb(int pid);
double ajl_self_cpu_s(void);

#endif
