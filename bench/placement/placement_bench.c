/*
 * bench/placement/placement_bench.c — times sched_place on a synthetic cluster:
 *
 *   placement_bench INSTANCES TASKS [REPEATS]
 *
 * The request is the issue's: spread(attribute:ecs.availability-zone) then
 * binpack(memory), with memberOf "attribute:ecs.instance-type =~ t2.*", on a
 * cluster of INSTANCES spread over 6 zones, two thirds of them t2. Prints one
 * line: instances, tasks, placed, best and median milliseconds of REPEATS runs
 * (each on a fresh cluster; building the cluster is not timed).
 */
#include "scheduler/scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ZONES 6
#define DEFAULT_REPEATS 5
#define MAX_REPEATS 100

static const char *const zone_names[ZONES] = {"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"};
static const char *const types[3] = {"t2.medium", "t2.large", "m5.large"};

static sched_cluster_t *build(size_t n)
{
    sched_cluster_t *c = sched_cluster_new();
    if (!c)
        return NULL;
    static const uint16_t reserved[] = {22, 2375, 2376, 51678, 51679};
    for (size_t i = 0; i < n; i++) {
        char arn[96], id[32];
        snprintf(arn, sizeof arn, "arn:aws:ecs:us-east-1:123456789012:container-instance/bench/%08zu", i);
        snprintf(id, sizeof id, "i-%08zx", i);
        sched_attribute_t attrs[] = {{"ecs.availability-zone", zone_names[i % ZONES]},
                                     {"ecs.instance-type", types[(i / ZONES) % 3]},
                                     {"ecs.os-type", "linux"},
                                     {"ecs.cpu-architecture", "x86_64"}};
        /* memory varies so binpack has something to choose */
        int64_t mem = 3943 + (int64_t)((i * 2654435761u) % 4096);
        sched_instance_spec_t spec = {.arn = arn,
                                      .ec2_instance_id = id,
                                      .agent_connected = true,
                                      .agent_version = "1.70.2",
                                      .registered_at = 1683000000,
                                      .registered_cpu = 2048,
                                      .registered_memory = mem,
                                      .remaining_cpu = 2048,
                                      .remaining_memory = mem,
                                      .attributes = attrs,
                                      .nattributes = 4,
                                      .used_tcp_ports = reserved,
                                      .nused_tcp_ports = 5};
        if (sched_cluster_add_instance(c, &spec, NULL, NULL) != SCHED_OK) {
            sched_cluster_free(c);
            return NULL;
        }
    }
    return c;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: placement_bench INSTANCES TASKS [REPEATS]\n");
        return 2;
    }
    size_t n = strtoul(argv[1], NULL, 10), count = strtoul(argv[2], NULL, 10);
    int repeats = argc > 3 ? atoi(argv[3]) : DEFAULT_REPEATS;
    if (repeats < 1 || repeats > MAX_REPEATS)
        repeats = DEFAULT_REPEATS;
    sched_binding_t ports[] = {{"web", 80, 0, SCHED_PROTO_TCP}};
    sched_task_def_t td = {.family = "web", .cpu = 256, .memory = 512, .ports = ports, .nports = 1};
    sched_strategy_t strategies[] = {{SCHED_STRATEGY_SPREAD, "attribute:ecs.availability-zone"},
                                     {SCHED_STRATEGY_BINPACK, "memory"}};
    sched_constraint_t constraints[] = {{SCHED_CONSTRAINT_MEMBER_OF, "attribute:ecs.instance-type =~ t2.*"}};
    sched_placement_request_t req = {.task_def = &td,
                                     .count = count,
                                     .strategies = strategies,
                                     .nstrategies = 2,
                                     .constraints = constraints,
                                     .nconstraints = 1,
                                     .seed = 1};
    double ms[MAX_REPEATS];
    size_t placed = 0;
    for (int r = 0; r < repeats; r++) {
        sched_cluster_t *c = build(n);
        if (!c) {
            fprintf(stderr, "out of memory building the cluster\n");
            return 1;
        }
        struct timespec t0, t1;
        sched_placement_t p;
        sched_err_t err = {0};
        clock_gettime(CLOCK_MONOTONIC, &t0);
        sched_status_t st = sched_place(c, &req, &p, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (st) {
            fprintf(stderr, "sched_place: %s\n", err.msg);
            return 1;
        }
        placed = p.ntasks;
        ms[r] = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        sched_placement_free(&p);
        sched_cluster_free(c);
    }
    qsort(ms, (size_t)repeats, sizeof ms[0], cmp_double);
    printf("%8zu %6zu %6zu %10.2f %10.2f\n", n, count, placed, ms[0], ms[repeats / 2]);
    return 0;
}
