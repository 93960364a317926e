/*
 * tests/scheduler/test_placement_memo.c — what placement remembers of a
 * cluster between requests (a static memberOf expression's results, the
 * buckets of spread(attribute:)) and the candidates it keeps from one task
 * of a request to the next must never change a decision: a cluster used for
 * many requests, growing, with agents coming and going and tasks stopped in
 * between, places exactly as its twin does with the memo dropped before
 * every request and every instance checked again for every task (explain).
 */
#include "fixture.h"
#include "scheduler/scheduler_internal.h"

#include <stdlib.h>

#define ROUNDS 60
#define STEPS 12
#define ATTRS 16 /* more spread attributes than the memo holds: entries are evicted */

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

/* the same random instance on both clusters */
static void add_twins(sched_cluster_t *a, sched_cluster_t *b, uint64_t *s)
{
    static const char *const zones[] = {"az-1", "az-2", "az-3"};
    static const char *const types[] = {"t2.micro", "t2.large", "m5.large"};
    char arn[64], ec2[32], names[ATTRS][8], values[ATTRS][8];
    snprintf(arn, sizeof arn, "ci/%zu", sched_cluster_instance_count(a));
    snprintf(ec2, sizeof ec2, "i-%zu", sched_cluster_instance_count(a));
    sched_attribute_t attrs[ATTRS + 2];
    size_t na = 0;
    attrs[na++] = (sched_attribute_t){"ecs.availability-zone", zones[below(s, 3)]};
    attrs[na++] = (sched_attribute_t){"ecs.instance-type", types[below(s, 3)]};
    for (size_t k = 0; k < ATTRS; k++) {
        if (below(s, 4) == 0)
            continue; /* absent: its own bucket */
        snprintf(names[k], sizeof names[k], "a%zu", k);
        snprintf(values[k], sizeof values[k], "v%u", (unsigned)below(s, 3));
        attrs[na++] = (sched_attribute_t){names[k], below(s, 8) ? values[k] : NULL};
    }
    uint16_t used[] = {(uint16_t)(8000 + below(s, 3)), (uint16_t)(SCHED_DYNAMIC_PORT_FIRST + below(s, 4))};
    int64_t cpu = 256 * (int64_t)(1 + below(s, 8)), mem = 256 * (int64_t)(1 + below(s, 8));
    sched_instance_spec_t spec = {.arn = arn,
                                  .ec2_instance_id = ec2,
                                  .status = below(s, 8) ? SCHED_INSTANCE_ACTIVE : SCHED_INSTANCE_DRAINING,
                                  .agent_connected = below(s, 8) != 0,
                                  .registered_at = SCHED_TIME_UNKNOWN,
                                  .registered_cpu = cpu,
                                  .registered_memory = mem,
                                  .remaining_cpu = cpu,
                                  .remaining_memory = mem,
                                  .attributes = attrs,
                                  .nattributes = na,
                                  .used_tcp_ports = used,
                                  .nused_tcp_ports = below(s, 2) ? 2 : 0};
    cr_assert_eq(sched_cluster_add_instance(a, &spec, NULL, NULL), SCHED_OK);
    cr_assert_eq(sched_cluster_add_instance(b, &spec, NULL, NULL), SCHED_OK);
}

static void placement_text(const sched_placement_t *pl, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "unplaced %zu;", pl->nunplaced);
    for (size_t t = 0; t < pl->ntasks && o < len; t++) {
        o += (size_t)snprintf(buf + o, len - o, "%zu:", pl->tasks[t].instance);
        for (size_t b = 0; b < pl->tasks[t].nbindings && o < len; b++)
            o += (size_t)snprintf(buf + o, len - o, "%u,", pl->tasks[t].bindings[b].host_port);
    }
    for (size_t f = 0; f < pl->nfailures && o < len; f++)
        o += (size_t)snprintf(buf + o, len - o, " [%zu %s %s]", pl->failures[f].instance, pl->failures[f].reason,
                              pl->failures[f].detail ? pl->failures[f].detail : "");
}

Test(placement_memo, a_warm_cluster_places_as_a_cold_full_scan)
{
    static char ta[1 << 16], tb[1 << 16];
    static const char *const dynamic_exprs[] = {"not(task:group == g1)", "runningTasksCount < 3", "agentConnected == true",
                                                "task:group == g0 or attribute:ecs.instance-type =~ t2.*"};
    size_t placed = 0, memo_filters = 0;
    for (uint64_t round = 0; round < ROUNDS; round++) {
        uint64_t s = round * 104729 + 3;
        sched_cluster_t *a = sched_cluster_new(), *b = sched_cluster_new();
        cr_assert(a && b);
        size_t n0 = 1 + below(&s, 30);
        for (size_t i = 0; i < n0; i++)
            add_twins(a, b, &s);
        for (int step = 0; step < STEPS; step++) {
            /* between requests: instances join, agents come and go, tasks stop */
            for (uint64_t k = below(&s, 3); k-- > 0;)
                add_twins(a, b, &s);
            size_t n = sched_cluster_instance_count(a);
            if (below(&s, 3) == 0) {
                size_t i = below(&s, n);
                a->inst[i].agent_connected = b->inst[i].agent_connected = !a->inst[i].agent_connected;
            }
            char group[8];
            snprintf(group, sizeof group, "g%u", (unsigned)below(&s, 3));
            sched_strategy_t strat[3];
            char fields[3][40];
            size_t ns = below(&s, 4);
            for (size_t k = 0; k < ns; k++) {
                switch (below(&s, 5)) {
                case 0:
                    strat[k] = (sched_strategy_t){SCHED_STRATEGY_BINPACK, below(&s, 2) ? "cpu" : "memory"};
                    break;
                case 1:
                    strat[k] = (sched_strategy_t){SCHED_STRATEGY_SPREAD, "instanceId"};
                    break;
                case 2:
                    strat[k] = (sched_strategy_t){SCHED_STRATEGY_RANDOM, NULL};
                    break;
                default:
                    snprintf(fields[k], sizeof fields[k], "attribute:a%u", (unsigned)below(&s, ATTRS + 1));
                    if (below(&s, 4) == 0)
                        snprintf(fields[k], sizeof fields[k], "attribute:ecs.availability-zone");
                    strat[k] = (sched_strategy_t){SCHED_STRATEGY_SPREAD, fields[k]};
                }
            }
            if (ns && below(&s, 3) == 0) { /* scale in first, with the same strategies */
                sched_scale_in_request_t si = {
                    .group = group, .count = below(&s, 4), .strategies = strat, .nstrategies = ns, .seed = round};
                sched_scale_in_t oa, ob;
                cr_assert_eq(sched_scale_in(a, &si, &oa, NULL), SCHED_OK);
                sched_cluster_memo_release(b);
                cr_assert_eq(sched_scale_in(b, &si, &ob, NULL), SCHED_OK);
                cr_assert_eq(oa.nstopped, ob.nstopped, "round %llu step %d", (unsigned long long)round, step);
                for (size_t k = 0; k < oa.nstopped; k++)
                    cr_assert_eq(oa.stopped[k].instance, ob.stopped[k].instance, "round %llu step %d", (unsigned long long)round,
                                 step);
                sched_scale_in_free(&oa);
                sched_scale_in_free(&ob);
            }
            /* static expressions: many distinct ones over the run, so the memo evicts */
            char exprs[3][96];
            sched_constraint_t con[4];
            size_t nc = 0;
            for (uint64_t k = below(&s, 4); k-- > 0;) {
                switch (below(&s, 4)) {
                case 0:
                    snprintf(exprs[nc], sizeof exprs[nc], "attribute:ecs.instance-type =~ t2.* or ec2InstanceId == i-%u",
                             (unsigned)below(&s, 40));
                    break;
                case 1:
                    snprintf(exprs[nc], sizeof exprs[nc], "attribute:a%u in [v0, v2] or attribute:a%u !exists",
                             (unsigned)below(&s, ATTRS), (unsigned)below(&s, ATTRS));
                    break;
                default:
                    snprintf(exprs[nc], sizeof exprs[nc], "%s", dynamic_exprs[below(&s, 4)]);
                }
                con[nc] = (sched_constraint_t){SCHED_CONSTRAINT_MEMBER_OF, exprs[nc]};
                nc++;
            }
            if (below(&s, 4) == 0)
                con[nc++] = (sched_constraint_t){SCHED_CONSTRAINT_DISTINCT_INSTANCE, NULL};
            sched_binding_t ports[2] = {{"c", 80, 0, SCHED_PROTO_TCP}, {"c", 81, (uint16_t)(8000 + below(&s, 3)), SCHED_PROTO_TCP}};
            sched_task_def_t td = {.family = "f",
                                   .cpu = 64 * (int64_t)below(&s, 6),
                                   .memory = 64 * (int64_t)below(&s, 6),
                                   .ports = ports,
                                   .nports = below(&s, 3)};
            sched_placement_request_t req = {.task_def = &td,
                                             .group = group,
                                             .count = 1 + below(&s, 12),
                                             .strategies = strat,
                                             .nstrategies = ns,
                                             .constraints = con,
                                             .nconstraints = nc,
                                             .seed = round * 31 + (uint64_t)step};
            sched_placement_t pa, pb;
            sched_err_t ea = {0}, eb = {0};
            cr_assert_eq(sched_place(a, &req, &pa, &ea), SCHED_OK, "%s", ea.msg);
            sched_cluster_memo_release(b); /* cold, and every check of every instance for every task */
            req.explain = true;
            cr_assert_eq(sched_place(b, &req, &pb, &eb), SCHED_OK, "%s", eb.msg);
            placement_text(&pa, ta, sizeof ta);
            placement_text(&pb, tb, sizeof tb);
            cr_assert_str_eq(ta, tb, "round %llu step %d", (unsigned long long)round, step);
            placed += pa.ntasks;
            sched_placement_free(&pa);
            sched_placement_free(&pb);
        }
        for (size_t k = 0; k < SCHED_MEMO_FILTERS; k++)
            memo_filters += a->filters[k].expr != NULL;
        sched_cluster_free(a);
        sched_cluster_free(b);
    }
    cr_expect_gt(placed, ROUNDS * STEPS, "tasks were placed (%zu)", placed);
    cr_expect_gt(memo_filters, 0, "the memo held filters");
}

Test(placement_memo, an_instance_added_after_a_placement_is_evaluated_and_bucketed)
{
    sched_cluster_t *c = sched_cluster_new();
    cr_assert_not_null(c);
    fx_add(c, (fx_instance_t){.name = "a", .az = "az-1", .type = "m5.large"});
    fx_add(c, (fx_instance_t){.name = "b", .az = "az-1", .type = "t2.micro"});
    sched_task_def_t td = {.family = "f", .cpu = 1, .memory = 1};
    sched_strategy_t strat[] = {{SCHED_STRATEGY_SPREAD, "attribute:ecs.availability-zone"}};
    sched_constraint_t con[] = {{SCHED_CONSTRAINT_MEMBER_OF, "attribute:ecs.instance-type =~ t2.*"}};
    sched_placement_request_t req = {
        .task_def = &td, .count = 1, .strategies = strat, .nstrategies = 1, .constraints = con, .nconstraints = 1};
    sched_placement_t p;
    cr_assert_eq(sched_place(c, &req, &p, NULL), SCHED_OK);
    cr_assert_eq(p.ntasks, 1);
    cr_assert_eq(p.tasks[0].instance, 1);
    sched_placement_free(&p);
    /* a t2 in a zone of its own: the memo's filter and buckets must see it */
    size_t added = fx_add(c, (fx_instance_t){.name = "c", .az = "az-2", .type = "t2.large"});
    cr_assert_eq(sched_place(c, &req, &p, NULL), SCHED_OK);
    cr_assert_eq(p.ntasks, 1);
    cr_assert_eq(p.tasks[0].instance, added, "the new instance's zone has no task yet");
    sched_placement_free(&p);
    sched_cluster_free(c);
}

Test(placement_memo, more_expressions_and_attributes_than_the_memo_holds)
{
    static char ta[1 << 14], tb[1 << 14];
    uint64_t s = 99;
    sched_cluster_t *a = sched_cluster_new(), *b = sched_cluster_new();
    cr_assert(a && b);
    for (int i = 0; i < 40; i++)
        add_twins(a, b, &s);
    for (unsigned k = 0; k < 3 * (SCHED_MEMO_FILTERS + SCHED_MEMO_BUCKETS); k++) {
        char expr[96], field[24];
        /* k % 29 repeats an expression now and then: a hit after others came and went */
        snprintf(expr, sizeof expr, "attribute:a%u in [v0, v1] or ec2InstanceId == i-%u", k % 29 % ATTRS, k % 29);
        snprintf(field, sizeof field, "attribute:a%u", k % (ATTRS + 1));
        sched_strategy_t strat[] = {{SCHED_STRATEGY_SPREAD, field}, {SCHED_STRATEGY_BINPACK, "memory"}};
        sched_constraint_t con[] = {{SCHED_CONSTRAINT_MEMBER_OF, expr}};
        sched_task_def_t td = {.family = "f", .cpu = 8, .memory = 8};
        sched_placement_request_t req = {
            .task_def = &td, .count = 3, .strategies = strat, .nstrategies = 2, .constraints = con, .nconstraints = 1, .seed = k};
        sched_placement_t pa, pb;
        cr_assert_eq(sched_place(a, &req, &pa, NULL), SCHED_OK);
        sched_cluster_memo_release(b);
        cr_assert_eq(sched_place(b, &req, &pb, NULL), SCHED_OK);
        placement_text(&pa, ta, sizeof ta);
        placement_text(&pb, tb, sizeof tb);
        cr_assert_str_eq(ta, tb, "request %u", k);
        sched_placement_free(&pa);
        sched_placement_free(&pb);
    }
    sched_cluster_free(a);
    sched_cluster_free(b);
}
