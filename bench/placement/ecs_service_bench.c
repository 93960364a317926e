/*
 * bench/placement/ecs_service_bench.c — what ECS services cost on live
 * cluster state (scheduler/ecs_service_state.c on a real LMDB store, no
 * HTTP), with the writer's placement cache as berthd runs it:
 *
 *   ecs_service_bench INSTANCES TASKS CALLS
 *
 * registers INSTANCES container instances in 3 zones and creates a service
 * of TASKS tasks (spread on the zone), then times, each its own synced
 * commit:
 *   - create:  CreateService placing TASKS tasks in one transaction;
 *   - tick:    the periodic step with nothing to do (sched_ecs_services_tick);
 *   - stop:    StopTask of one of the service's tasks, replaced in the same
 *              transaction (CALLS times);
 *   - runtask: RunTask of 1 task outside the service, which runs the
 *              service's step too (CALLS times), against the same on a
 *              cluster without services.
 * Prints mean and p99 per call. Not a test.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scheduler/scheduler.h"
#include "storage/storage.h"

static sched_ecs_env_t env = {.region = "us-east-1", .account = "123456789012", .now = 1700000000, .agent_timeout = 1 << 30};
static storage_t *st;
static sched_ecs_cache_t *cache;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct {
    const char *op; /* NULL: the periodic step */
    char **bodies;  /* one request each, all in the transaction */
    json_t *out;
    size_t count;
} call_t;

static storage_status_t run(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    call_t *c = ctx;
    sched_ecs_err_t err = {0};
    for (size_t i = 0; i < c->count; i++) {
        env.seed++;
        env.cache = cache;
        json_decref(c->out);
        c->out = NULL;
        int rc;
        if (!c->op) {
            rc = sched_ecs_services_tick(rs, &env, &err);
        } else {
            json_t *b = json_loads(c->bodies[i], 0, NULL);
            sched_ecs_request_t *r;
            rc = b ? sched_ecs_prepare(c->op, b, &env, &r, &err) : -1;
            json_decref(b);
            if (rc == 0) {
                rc = sched_ecs_execute(rs, r, &env, &c->out, &err);
                sched_ecs_request_free(r);
            }
        }
        env.cache = NULL;
        if (rc) {
            snprintf(serr->msg, sizeof(serr->msg), "%s: %.200s", c->op ? c->op : "tick", err.msg);
            return STORAGE_INVALID;
        }
    }
    return STORAGE_OK;
}

/* runs op on each of bodies in one transaction; the last reply (caller decrefs) */
static json_t *call_all(const char *op, char **bodies, size_t count, double *ms)
{
    call_t c = {op, bodies, NULL, count};
    storage_op_t sop;
    storage_op_init(&sop, STORAGE_OP_RECORDS);
    sop.records_fn = run;
    sop.records_ctx = &c;
    double a = now_ms();
    if (storage_execute(st, &sop) != STORAGE_OK) {
        fprintf(stderr, "%s\n", sop.err.msg);
        exit(1);
    }
    if (ms)
        *ms = now_ms() - a;
    return c.out;
}

static json_t *call(const char *op, const char *body, double *ms)
{
    char *b = (char *)body;
    return call_all(op, &b, 1, ms);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *lat, size_t n)
{
    qsort(lat, n, sizeof(double), cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += lat[i];
    printf("%-44s mean %7.2f ms, p50 %7.2f, p99 %7.2f (%zu calls)\n", what, sum / n, lat[n / 2], lat[(size_t)(n * 0.99)], n);
}

static void register_instances(const char *cluster, size_t n)
{
    char body[1024];
    snprintf(body, sizeof(body), "{\"clusterName\":\"%s\"}", cluster);
    json_decref(call("CreateCluster", body, NULL));
    char **bodies = calloc(n, sizeof(*bodies));
    for (size_t i = 0; i < n; i++) {
        bodies[i] = malloc(1024);
        snprintf(bodies[i], 1024,
                 "{\"cluster\":\"%s\",\"instanceIdentityDocument\":\"{\\\"availabilityZone\\\":\\\"az-%zu\\\"}\","
                 "\"totalResources\":[{\"name\":\"CPU\",\"integerValue\":4096},{\"name\":\"MEMORY\",\"integerValue\":8192}]}",
                 cluster, i % 3);
    }
    json_decref(call_all("RegisterContainerInstance", bodies, n, NULL)); /* one transaction: setup, not timed */
    for (size_t i = 0; i < n; i++)
        free(bodies[i]);
    free(bodies);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s INSTANCES TASKS CALLS\n", argv[0]);
        return 2;
    }
    size_t ninst = strtoul(argv[1], NULL, 10), ntasks = strtoul(argv[2], NULL, 10), calls = strtoul(argv[3], NULL, 10);
    char dir[] = "/tmp/berth-svc-bench-XXXXXX";
    if (!mkdtemp(dir) || !calls)
        return 1;
    storage_err_t serr;
    if (!(st = storage_open(dir, &(storage_options_t){.map_size = 8ull << 30}, &serr))) {
        fprintf(stderr, "%s\n", serr.msg);
        return 1;
    }
    cache = sched_ecs_cache_new();
    double a = now_ms();
    register_instances("svc", ninst);
    register_instances("plain", ninst);
    json_decref(call("RegisterTaskDefinition",
                     "{\"family\":\"web\",\"containerDefinitions\":[{\"name\":\"app\",\"image\":\"i\",\"cpu\":10,\"memory\":32}]}",
                     NULL));
    printf("setup: 2 clusters of %zu instances in %.0f ms\n", ninst, now_ms() - a);

    double *lat = calloc(calls, sizeof(double)), ms;
    char body[512];
    snprintf(body, sizeof(body),
             "{\"cluster\":\"svc\",\"serviceName\":\"web\",\"taskDefinition\":\"web\",\"desiredCount\":%zu,"
             "\"placementStrategy\":[{\"type\":\"spread\",\"field\":\"attribute:ecs.availability-zone\"}]}",
             ntasks);
    json_t *out = call("CreateService", body, &ms);
    printf("%-44s %.2f ms (%lld pending)\n", "create-service", ms,
           (long long)json_integer_value(json_object_get(json_object_get(out, "service"), "pendingCount")));
    json_decref(out);

    for (size_t i = 0; i < calls; i++)
        json_decref(call_all(NULL, NULL, 1, &lat[i]));
    report("tick (steady: nothing to do)", lat, calls);

    for (size_t i = 0; i < calls; i++) {
        json_t *l = call("ListTasks", "{\"cluster\":\"svc\",\"serviceName\":\"web\",\"maxResults\":1}", NULL);
        snprintf(body, sizeof(body), "{\"cluster\":\"svc\",\"task\":\"%s\"}",
                 json_string_value(json_array_get(json_object_get(l, "taskArns"), 0)));
        json_decref(l);
        json_decref(call("StopTask", body, &lat[i]));
    }
    report("stop-task + replacement in its transaction", lat, calls);

    static const char *const clusters[] = {"plain", "svc"};
    for (int k = 0; k < 2; k++) {
        snprintf(body, sizeof(body), "{\"cluster\":\"%s\",\"taskDefinition\":\"web\",\"group\":\"other\"}", clusters[k]);
        for (size_t i = 0; i < calls; i++)
            json_decref(call("RunTask", body, &lat[i]));
        report(k ? "run-task (1), cluster with the service" : "run-task (1), cluster without services", lat, calls);
    }
    free(lat);
    sched_ecs_cache_free(cache);
    storage_close(st);
    return 0;
}
