/*
 * tests/scheduler/test_properties.c — properties over many random clusters,
 * each generated from a seed that a failure message names, so any failure
 * replays exactly.
 */
#include "fixture.h"

#include <stdlib.h>

/* enough clusters to meet the corner cases, few enough to stay well under a second */
#define ROUNDS 300
#define MAX_INSTANCES 40
#define MAX_ZONES 5
#define MAX_PORTS 6

/* the test's own PRNG: splitmix64, independent of the library's */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
    return next(s) % n;
}

static const char *const zones[MAX_ZONES] = {"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e"};

typedef struct {
    sched_cluster_t *c;
    int64_t cpu0[MAX_INSTANCES], mem0[MAX_INSTANCES];
    size_t n;
    size_t zone_of[MAX_INSTANCES];
    size_t nzones;
} world_t;

/* a random cluster: sizes, zones, some DRAINING or disconnected, some reserved ports */
static void random_world(world_t *w, uint64_t *s, bool ample, bool uniform)
{
    w->c = sched_cluster_new();
    cr_assert_not_null(w->c);
    w->n = 1 + below(s, MAX_INSTANCES);
    w->nzones = 1 + below(s, MAX_ZONES);
    if (w->nzones > w->n)
        w->nzones = w->n; /* every zone has an instance: a zone without one has no capacity */
    int64_t ucpu = 256 * (1 + (int64_t)below(s, 16)), umem = 256 * (1 + (int64_t)below(s, 32));
    for (size_t i = 0; i < w->n; i++) {
        char arn[64];
        snprintf(arn, sizeof arn, "ci/%zu", i);
        w->zone_of[i] = i < w->nzones ? i : below(s, w->nzones);
        sched_attribute_t attrs[] = {{"ecs.availability-zone", zones[w->zone_of[i]]},
                                     {"ecs.instance-type", below(s, 2) ? "t2.medium" : "m5.large"}};
        uint16_t used[3] = {22, (uint16_t)(49153 + below(s, 8)), (uint16_t)(8000 + below(s, 4))};
        int64_t cpu = uniform ? ucpu : 128 * (int64_t)below(s, 33), mem = uniform ? umem : 128 * (int64_t)below(s, 65);
        if (ample)
            cpu = mem = 1 << 30;
        bool healthy = ample || uniform || below(s, 8) != 0;
        sched_instance_spec_t spec = {.arn = arn,
                                      .status = healthy || below(s, 2) ? SCHED_INSTANCE_ACTIVE : SCHED_INSTANCE_DRAINING,
                                      .agent_connected = healthy || below(s, 2),
                                      .registered_at = SCHED_TIME_UNKNOWN,
                                      .registered_cpu = cpu,
                                      .registered_memory = mem,
                                      .remaining_cpu = cpu,
                                      .remaining_memory = mem,
                                      .attributes = attrs,
                                      .nattributes = 2,
                                      .used_tcp_ports = used,
                                      .nused_tcp_ports = ample || uniform ? 0 : 3};
        cr_assert_eq(sched_cluster_add_instance(w->c, &spec, NULL, NULL), SCHED_OK);
        w->cpu0[i] = cpu;
        w->mem0[i] = mem;
    }
}

static const sched_strategy_t strategy_pool[] = {
    {SCHED_STRATEGY_BINPACK, "cpu"}, {SCHED_STRATEGY_BINPACK, "memory"},
    {SCHED_STRATEGY_SPREAD, "host"}, {SCHED_STRATEGY_SPREAD, "attribute:ecs.availability-zone"},
    {SCHED_STRATEGY_RANDOM, NULL},   {SCHED_STRATEGY_SPREAD, "attribute:ecs.instance-type"},
};

static size_t random_strategies(uint64_t *s, sched_strategy_t *out)
{
    size_t n = below(s, 4);
    for (size_t i = 0; i < n; i++)
        out[i] = strategy_pool[below(s, sizeof strategy_pool / sizeof strategy_pool[0])];
    return n;
}

Test(properties, never_oversubscribes_cpu_memory_or_a_port)
{
    for (uint64_t round = 0; round < ROUNDS; round++) {
        uint64_t s = round * 7919 + 1;
        world_t w;
        random_world(&w, &s, false, false);
        sched_binding_t ports[MAX_PORTS];
        size_t np = below(&s, MAX_PORTS);
        for (size_t p = 0; p < np; p++) {
            /* a mix of dynamic ports and fixed ones that may collide with reserved ports */
            uint16_t hp = below(&s, 3) ? 0 : (uint16_t)(8000 + below(&s, 6));
            bool dup = false;
            for (size_t q = 0; q < p; q++)
                dup |= hp && ports[q].host_port == hp;
            ports[p] = (sched_binding_t){"c", (uint16_t)(80 + p), dup ? 0 : hp, below(&s, 4) ? SCHED_PROTO_TCP : SCHED_PROTO_UDP};
        }
        sched_task_def_t td = {
            .family = "f", .cpu = 64 * (int64_t)below(&s, 9), .memory = 64 * (int64_t)below(&s, 17), .ports = ports, .nports = np};
        sched_strategy_t strat[4];
        sched_constraint_t con[] = {{SCHED_CONSTRAINT_DISTINCT_INSTANCE, NULL}};
        sched_placement_request_t req = {.task_def = &td,
                                         .count = below(&s, 60),
                                         .strategies = strat,
                                         .nstrategies = random_strategies(&s, strat),
                                         .constraints = con,
                                         .nconstraints = below(&s, 4) == 0,
                                         .seed = round};
        sched_placement_t pl;
        cr_assert_eq(sched_place(w.c, &req, &pl, NULL), SCHED_OK, "round %llu", (unsigned long long)round);
        cr_assert_eq(pl.ntasks + pl.nunplaced, req.count);
        size_t per[MAX_INSTANCES] = {0};
        for (size_t t = 0; t < pl.ntasks; t++) {
            size_t i = pl.tasks[t].instance;
            per[i]++;
            for (size_t b = 0; b < pl.tasks[t].nbindings; b++) {
                const sched_binding_t *hb = &pl.tasks[t].bindings[b];
                cr_assert(hb->host_port != 0, "round %llu: an unbound port", (unsigned long long)round);
                if (ports[b].host_port == 0)
                    cr_assert_geq(hb->host_port, SCHED_DYNAMIC_PORT_FIRST, "round %llu", (unsigned long long)round);
                /* no other task on the instance holds the same port and protocol */
                for (size_t u = 0; u < t; u++) {
                    if (pl.tasks[u].instance != i)
                        continue;
                    for (size_t d = 0; d < pl.tasks[u].nbindings; d++)
                        cr_assert(!(pl.tasks[u].bindings[d].host_port == hb->host_port &&
                                    pl.tasks[u].bindings[d].protocol == hb->protocol),
                                  "round %llu: port %u given twice on instance %zu", (unsigned long long)round, hb->host_port, i);
                }
                for (size_t d = 0; d < b; d++)
                    cr_assert(
                        !(pl.tasks[t].bindings[d].host_port == hb->host_port && pl.tasks[t].bindings[d].protocol == hb->protocol),
                        "round %llu: port %u twice in one task", (unsigned long long)round, hb->host_port);
                if (hb->protocol == SCHED_PROTO_TCP)
                    cr_assert(hb->host_port != 22 || ports[b].host_port == 22, "round %llu: reserved port 22 taken",
                              (unsigned long long)round);
            }
        }
        for (size_t i = 0; i < w.n; i++) {
            int64_t cpu, mem;
            sched_instance_remaining(w.c, i, &cpu, &mem);
            cr_assert_geq(cpu, 0, "round %llu instance %zu", (unsigned long long)round, i);
            cr_assert_geq(mem, 0, "round %llu instance %zu", (unsigned long long)round, i);
            cr_assert_eq(cpu, w.cpu0[i] - (int64_t)per[i] * td.cpu, "round %llu: CPU accounting", (unsigned long long)round);
            cr_assert_eq(mem, w.mem0[i] - (int64_t)per[i] * td.memory, "round %llu: memory accounting", (unsigned long long)round);
            if (req.nconstraints)
                cr_assert_leq(per[i], 1, "round %llu: distinctInstance broken", (unsigned long long)round);
        }
        sched_placement_free(&pl);
        sched_cluster_free(w.c);
    }
}

static void zone_counts(const world_t *w, const char *group, size_t *count)
{
    memset(count, 0, MAX_ZONES * sizeof *count);
    for (size_t i = 0; i < w->n; i++)
        count[w->zone_of[i]] += sched_instance_group_tasks(w->c, i, group);
}

static size_t spread_gap(const size_t *count, size_t nzones)
{
    size_t lo = SIZE_MAX, hi = 0;
    for (size_t z = 0; z < nzones; z++) {
        lo = count[z] < lo ? count[z] : lo;
        hi = count[z] > hi ? count[z] : hi;
    }
    return hi - lo;
}

Test(properties, spread_over_an_attribute_keeps_max_minus_min_at_most_one_when_capacity_allows)
{
    for (uint64_t round = 0; round < ROUNDS; round++) {
        uint64_t s = round * 104729 + 3;
        world_t w;
        random_world(&w, &s, true, false);
        sched_strategy_t strat[4] = {{SCHED_STRATEGY_SPREAD, "attribute:ecs.availability-zone"}};
        size_t extra = random_strategies(&s, strat + 1);
        sched_task_def_t td = {.family = "f", .cpu = 1, .memory = 1};
        sched_placement_request_t req = {
            .task_def = &td, .count = below(&s, 100), .strategies = strat, .nstrategies = 1 + extra, .seed = round};
        sched_placement_t pl;
        cr_assert_eq(sched_place(w.c, &req, &pl, NULL), SCHED_OK);
        cr_assert_eq(pl.ntasks, req.count, "round %llu: ample capacity, all placed", (unsigned long long)round);
        size_t count[MAX_ZONES];
        zone_counts(&w, "family:f", count);
        cr_assert_leq(spread_gap(count, w.nzones), 1, "round %llu: zones unbalanced", (unsigned long long)round);
        sched_placement_free(&pl);

        /* and scale-in keeps the balance */
        sched_scale_in_request_t sin = {
            .group = "family:f", .count = below(&s, req.count + 1), .strategies = strat, .nstrategies = 1, .seed = round};
        sched_scale_in_t out;
        cr_assert_eq(sched_scale_in(w.c, &sin, &out, NULL), SCHED_OK);
        cr_assert_eq(out.nstopped, sin.count);
        zone_counts(&w, "family:f", count);
        cr_assert_leq(spread_gap(count, w.nzones), 1, "round %llu: zones unbalanced after scale-in", (unsigned long long)round);
        sched_scale_in_free(&out);
        sched_cluster_free(w.c);
    }
}

Test(properties, binpack_uses_no_more_instances_than_needed_for_identical_tasks)
{
    for (uint64_t round = 0; round < ROUNDS; round++) {
        uint64_t s = round * 15485863 + 5;
        world_t w;
        random_world(&w, &s, false, true); /* identical instances, all healthy */
        sched_task_def_t td = {
            .family = "f", .cpu = 128 * (1 + (int64_t)below(&s, 8)), .memory = 128 * (1 + (int64_t)below(&s, 16))};
        size_t fit = (size_t)(w.cpu0[0] / td.cpu < w.mem0[0] / td.memory ? w.cpu0[0] / td.cpu : w.mem0[0] / td.memory);
        if (fit == 0) {
            sched_cluster_free(w.c);
            continue;
        }
        size_t count = below(&s, fit * w.n + 1);
        sched_strategy_t strat[] = {{SCHED_STRATEGY_BINPACK, below(&s, 2) ? "memory" : "cpu"}};
        sched_placement_request_t req = {.task_def = &td, .count = count, .strategies = strat, .nstrategies = 1};
        sched_placement_t pl;
        cr_assert_eq(sched_place(w.c, &req, &pl, NULL), SCHED_OK);
        cr_assert_eq(pl.ntasks, count, "round %llu: capacity suffices", (unsigned long long)round);
        size_t used = 0;
        for (size_t i = 0; i < w.n; i++)
            used += sched_instance_group_tasks(w.c, i, "family:f") > 0;
        cr_assert_eq(used, (count + fit - 1) / fit, "round %llu: %zu tasks, %zu per instance, %zu instances used",
                     (unsigned long long)round, count, fit, used);
        sched_placement_free(&pl);
        sched_cluster_free(w.c);
    }
}

/* the placement as text, to compare runs */
static void placement_text(const sched_placement_t *pl, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t t = 0; t < pl->ntasks && o < len; t++) {
        o += (size_t)snprintf(buf + o, len - o, "%zu:", pl->tasks[t].instance);
        for (size_t b = 0; b < pl->tasks[t].nbindings && o < len; b++)
            o += (size_t)snprintf(buf + o, len - o, "%u,", pl->tasks[t].bindings[b].host_port);
    }
}

Test(properties, the_same_seed_gives_the_same_placement)
{
    static char a[1 << 16], b[1 << 16];
    for (uint64_t round = 0; round < ROUNDS / 3; round++) {
        for (int run = 0; run < 2; run++) {
            uint64_t s = round * 31 + 7;
            world_t w;
            random_world(&w, &s, false, false);
            sched_binding_t ports[] = {{"c", 80, 0, SCHED_PROTO_TCP}};
            sched_task_def_t td = {.family = "f", .cpu = 32, .memory = 32, .ports = ports, .nports = 1};
            sched_strategy_t strat[4] = {{SCHED_STRATEGY_RANDOM, NULL}};
            size_t extra = random_strategies(&s, strat + 1);
            sched_placement_request_t req = {
                .task_def = &td, .count = below(&s, 50), .strategies = strat, .nstrategies = 1 + extra, .seed = round * 977};
            sched_placement_t pl;
            cr_assert_eq(sched_place(w.c, &req, &pl, NULL), SCHED_OK);
            placement_text(&pl, run ? b : a, sizeof a);
            sched_placement_free(&pl);
            sched_cluster_free(w.c);
        }
        cr_assert_str_eq(a, b, "round %llu", (unsigned long long)round);
    }
}
