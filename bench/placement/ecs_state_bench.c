/*
 * bench/placement/ecs_state_bench.c — what one RunTask costs on live cluster
 * state (scheduler/ecs_state.c on a real LMDB store), without HTTP:
 *
 *   ecs_state_bench INSTANCES CALLS [COUNT]
 *
 * registers INSTANCES container instances in 3 availability zones (one
 * transaction, not timed), then times:
 *   - load:   ListContainerInstances with a CQL filter, a read that does what
 *             a placement does before placing (scan and parse every instance
 *             and task record of the cluster, build the engine's cluster);
 *   - runtask: CALLS RunTask calls of COUNT tasks (default 10), spread on the
 *             zone, binpack on memory, memberOf on the instance type, one
 *             after another, each its own synced commit (durable);
 *   - pipelined: CALLS more submitted at once, so the writer groups them.
 * Prints mean and p99 per call and placed tasks per second. Not a test.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scheduler/scheduler.h"
#include "storage/storage.h"

static sched_ecs_env_t env = {.region = "us-east-1", .account = "123456789012", .now = 1700000000, .agent_timeout = 1 << 30};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static sched_ecs_request_t *prepare(const char *op, const char *body)
{
    json_t *b = json_loads(body, 0, NULL);
    sched_ecs_request_t *r;
    sched_ecs_err_t err;
    env.seed++;
    if (!b || sched_ecs_prepare(op, b, &env, &r, &err) != 0) {
        fprintf(stderr, "%s: %s\n", op, b ? err.msg : "bad body");
        exit(1);
    }
    json_decref(b);
    return r;
}

typedef struct {
    sched_ecs_request_t **r;
    size_t n;
    size_t placed;
    sched_ecs_env_t env;
} batch_t;

static storage_status_t run_batch(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    batch_t *b = ctx;
    b->placed = 0;
    for (size_t i = 0; i < b->n; i++) {
        json_t *out;
        sched_ecs_err_t err;
        b->env.seed++;
        if (sched_ecs_execute(rs, b->r[i], &b->env, &out, &err) != 0) {
            snprintf(serr->msg, sizeof(serr->msg), "%.200s", err.msg);
            return STORAGE_INVALID;
        }
        b->placed += json_array_size(json_object_get(out, "tasks"));
        json_decref(out);
    }
    return STORAGE_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    storage_op_t op;
    batch_t b;
    volatile int done;
} pending_t;

static void on_done(storage_op_t *op)
{
    pending_t *p = (pending_t *)op;
    __atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s INSTANCES CALLS [COUNT]\n", argv[0]);
        return 2;
    }
    size_t ninst = strtoul(argv[1], NULL, 10), calls = strtoul(argv[2], NULL, 10);
    int count = argc > 3 ? atoi(argv[3]) : 10;
    char dir[] = "/tmp/berth-ecs-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    storage_err_t serr;
    storage_t *st = storage_open(dir, &(storage_options_t){.map_size = 8ull << 30}, &serr);
    if (!st) {
        fprintf(stderr, "%s\n", serr.msg);
        return 1;
    }
    /* setup: one transaction */
    sched_ecs_request_t **setup = calloc(ninst + 2, sizeof(*setup));
    setup[0] = prepare("CreateCluster", "{\"clusterName\":\"bench\"}");
    setup[1] = prepare("RegisterTaskDefinition", "{\"family\":\"web\",\"containerDefinitions\":[{\"name\":\"app\",\"image\":\"i\","
                                                 "\"cpu\":10,\"memory\":32,\"portMappings\":[{\"containerPort\":80}]}]}");
    for (size_t i = 0; i < ninst; i++) {
        char body[1024];
        snprintf(body, sizeof(body),
                 "{\"cluster\":\"bench\",\"instanceIdentityDocument\":\"{\\\"availabilityZone\\\":\\\"az-%zu\\\","
                 "\\\"instanceType\\\":\\\"%s\\\"}\",\"totalResources\":[{\"name\":\"CPU\",\"integerValue\":4096},"
                 "{\"name\":\"MEMORY\",\"integerValue\":%zu},{\"name\":\"PORTS\",\"stringSetValue\":[\"22\",\"2376\"]}]}",
                 i % 3, i % 3 ? "t2.large" : "m5.large", 8192 + (i * 7919) % 4096);
        setup[i + 2] = prepare("RegisterContainerInstance", body);
    }
    /* registrations count tasks per instance for their reply: cheap on an empty cluster */
    double t0 = now_ms();
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_RECORDS);
    batch_t sb = {setup, ninst + 2, 0, env};
    op.records_fn = run_batch;
    op.records_ctx = &sb;
    if (storage_execute(st, &op) != STORAGE_OK) {
        fprintf(stderr, "setup: %s\n", op.err.msg);
        return 1;
    }
    printf("setup: %zu instances registered in %.0f ms (one transaction)\n", ninst, now_ms() - t0);

    /* load: the read a placement starts with */
    sched_ecs_request_t *list =
        prepare("ListContainerInstances", "{\"cluster\":\"bench\",\"filter\":\"attribute:ecs.availability-zone == az-1\"}");
    double *lat = calloc(calls, sizeof(double));
    for (size_t i = 0; i < 5; i++) {
        storage_reader_t *rd = storage_reader_begin(st, NULL);
        json_t *out;
        sched_ecs_err_t err;
        double a = now_ms();
        sched_ecs_execute(storage_reader_records(rd), list, &env, &out, &err);
        lat[i] = now_ms() - a;
        json_decref(out);
        storage_reader_end(rd);
    }
    qsort(lat, 5, sizeof(double), cmp_double);
    printf("load (scan + parse + build, %zu instances): median %.2f ms\n", ninst, lat[2]);

    char body[512];
    snprintf(
        body, sizeof(body),
        "{\"cluster\":\"bench\",\"taskDefinition\":\"web\",\"count\":%d,\"placementStrategy\":[{\"type\":\"spread\",\"field\":"
        "\"attribute:ecs.availability-zone\"},{\"type\":\"binpack\",\"field\":\"memory\"}],\"placementConstraints\":[{\"type\":"
        "\"memberOf\",\"expression\":\"attribute:ecs.instance-type =~ t2.*\"}]}",
        count);
    sched_ecs_request_t *run = prepare("RunTask", body);
    sched_ecs_cache_t *cache = sched_ecs_cache_new();
    for (int cached = 0; cached < 2; cached++) {
        size_t placed = 0;
        double total0 = now_ms();
        for (size_t i = 0; i < calls; i++) {
            batch_t b = {&run, 1, 0, env};
            b.env.seed = 1000 + i + (size_t)cached * 100000;
            b.env.cache = cached ? cache : NULL;
            storage_op_init(&op, STORAGE_OP_RECORDS);
            op.records_fn = run_batch;
            op.records_ctx = &b;
            double a = now_ms();
            if (storage_execute(st, &op) != STORAGE_OK) {
                fprintf(stderr, "RunTask: %s\n", op.err.msg);
                return 1;
            }
            lat[i] = now_ms() - a;
            placed += b.placed;
        }
        double total = now_ms() - total0;
        qsort(lat, calls, sizeof(double), cmp_double);
        double sum = 0;
        for (size_t i = 0; i < calls; i++)
            sum += lat[i];
        printf("runtask %s(count %d, one by one, synced): mean %.2f ms, p50 %.2f, p99 %.2f; %zu placed, %.0f tasks/s\n",
               cached ? "with the cache " : "", count, sum / calls, lat[calls / 2], lat[(size_t)(calls * 0.99)], placed,
               placed / (total / 1e3));

        /* pipelined: all submitted at once; the writer groups them into shared commits */
        pending_t *p = calloc(calls, sizeof(*p));
        storage_stats_t s0, s1;
        storage_get_stats(st, &s0);
        total0 = now_ms();
        for (size_t i = 0; i < calls; i++) {
            p[i].b = (batch_t){&run, 1, 0, env};
            p[i].b.env.seed = 500000 + i + (size_t)cached * 100000;
            p[i].b.env.cache = cached ? cache : NULL;
            storage_op_init(&p[i].op, STORAGE_OP_RECORDS);
            p[i].op.records_fn = run_batch;
            p[i].op.records_ctx = &p[i].b;
            p[i].op.done = on_done;
            storage_submit(st, &p[i].op);
        }
        placed = 0;
        for (size_t i = 0; i < calls; i++) {
            while (!__atomic_load_n(&p[i].done, __ATOMIC_ACQUIRE))
                usleep(100);
            placed += p[i].op.status == STORAGE_OK ? p[i].b.placed : 0;
        }
        total = now_ms() - total0;
        storage_get_stats(st, &s1);
        printf("pipelined %s(%zu RunTask submitted at once): %.0f ms, %zu placed, %.0f tasks/s, %llu commits\n",
               cached ? "with the cache " : "", calls, total, placed, placed / (total / 1e3),
               (unsigned long long)(s1.commits - s0.commits));
        free(p);
    }
    uint64_t loads, hits;
    sched_ecs_cache_stats(cache, &loads, &hits);
    printf("cache: %llu loads, %llu hits\n", (unsigned long long)loads, (unsigned long long)hits);
    sched_ecs_cache_free(cache);

    storage_close(st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
