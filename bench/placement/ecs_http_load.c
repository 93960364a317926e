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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/aws_json_load.h"

static char *register_body(size_t i, void *user)
{
    (void)user;
    static const char *const az[] = {"az-1", "az-2", "az-3"};
    return ajl_strdupf("{\"cluster\":\"bench\",\"totalResources\":[{\"name\":\"CPU\",\"type\":\"INTEGER\",\"integerValue\":4096},"
                       "{\"name\":\"MEMORY\",\"type\":\"INTEGER\",\"integerValue\":16384}],\"attributes\":["
                       "{\"name\":\"ecs.availability-zone\",\"value\":\"%s\"},{\"name\":\"ecs.instance-type\",\"value\":\"%s\"}]}",
                       az[i % 3], i % 3 == 2 ? "m5.large" : "t2.large");
}

static char *runtask_body(size_t i, void *user)
{
    (void)i, (void)user;
    return strdup(
        "{\"cluster\":\"bench\",\"taskDefinition\":\"bench\",\"count\":10,\"placementStrategy\":["
        "{\"type\":\"spread\",\"field\":\"attribute:ecs.availability-zone\"},{\"type\":\"binpack\",\"field\":\"memory\"}],"
        "\"placementConstraints\":[{\"type\":\"memberOf\",\"expression\":\"attribute:ecs.instance-type =~ t2.*\"}]}");
}

typedef struct {
    size_t placed, failed; /* tasks placed; calls with failures */
} run_counts_t;

static void count_placed(const ajl_req_t *r, void *user)
{
    run_counts_t *c = user;
    json_t *o = json_loads(r->resp, 0, NULL);
    c->placed += json_array_size(json_object_get(o, "tasks"));
    c->failed += json_array_size(json_object_get(o, "failures")) ? 1 : 0;
    json_decref(o);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: ecs_http_load URL CREDS-FILE BERTHD-PID INSTANCES CALLS [CONC]\n");
        return 2;
    }
    int pid = atoi(argv[3]);
    size_t ninstances = strtoul(argv[4], NULL, 10);
    size_t calls = strtoul(argv[5], NULL, 10);
    int conc = argc > 6 ? atoi(argv[6]) : 8;
    if (conc < 1 || conc > AJL_MAX_CONC)
        conc = 8;
    ajl_api_t api;
    ajl_api_init(&api, argv[1], argv[2], "AmazonEC2ContainerServiceV20141113.", "ecs");
    ajl_req_t conn = {0}; /* the calls made one at a time, on one connection */

    json_decref(ajl_call(&api, &conn, "CreateCluster", strdup("{\"clusterName\":\"bench\"}"), NULL));
    json_decref(ajl_call(&api, &conn, "RegisterTaskDefinition",
                         strdup("{\"family\":\"bench\",\"containerDefinitions\":[{\"name\":\"app\",\"image\":\"bench/app:v1\","
                                "\"cpu\":16,\"memory\":64,\"portMappings\":[{\"containerPort\":80,\"hostPort\":0}]}]}"),
                         NULL));
    long rss0 = ajl_rss_anon_kb(pid);
    double cpu0 = ajl_cpu_s(pid);
    /* a new connection per call, as these figures were first measured */
    double t = ajl_run_many(&api, "RegisterContainerInstance", register_body, NULL, NULL, ninstances, conc, false, NULL);
    long rss1 = ajl_rss_anon_kb(pid);
    double cpu1 = ajl_cpu_s(pid);
    printf("registered %zu instances in %.1f s (%.0f/s), berthd CPU %.1f s; RssAnon %ld -> %ld kB (%.2f kB per instance)\n",
           ninstances, t, (double)ninstances / t, cpu1 - cpu0, rss0, rss1, (double)(rss1 - rss0) / (double)ninstances);

    /* one RunTask first: it loads the writer's placement cache of the cluster (counted apart from the tasks) */
    json_decref(ajl_call(&api, &conn, "RunTask", runtask_body(0, NULL), NULL));
    long rss_cache = ajl_rss_anon_kb(pid);
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
    cpu1 = ajl_cpu_s(pid);
    double *lat = calloc(calls, sizeof(double));
    run_counts_t counts = {0};
    double self0 = ajl_self_cpu_s();
    t = ajl_run_many(&api, "RunTask", runtask_body, count_placed, &counts, calls, conc, false, lat);
    double self = ajl_self_cpu_s() - self0;
    size_t placed = counts.placed, failed = counts.failed;
    long rss2 = ajl_rss_anon_kb(pid);
    double cpu2 = ajl_cpu_s(pid);
    qsort(lat, calls, sizeof(double), ajl_cmp_double);
    printf("RunTask x%zu (count 10, %d in flight): %zu tasks placed in %.2f s = %.0f tasks/s committed; %zu calls with failures\n",
           calls, conc, placed, t, (double)placed / t, failed);
    printf("RunTask latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", lat[calls / 2] * 1e3, lat[(calls * 99) / 100] * 1e3,
           lat[calls - 1] * 1e3);
    printf("CPU: berthd %.2f s (%.0f%% of the wall time), load generator %.2f s; RssAnon %ld -> %ld kB (%.2f kB per task)\n",
           cpu2 - cpu1, 100 * (cpu2 - cpu1) / t, self, rss1, rss2, placed ? (double)(rss2 - rss1) / (double)placed : 0.0);
    free(lat);
    ajl_req_free(&conn, false);
    curl_global_cleanup();
    return 0;
}
