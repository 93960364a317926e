/*
 * tests/scheduler/test_placement.c — placement as ECS documents it: resources,
 * ports, constraints, strategies alone and chained, ties, failures, scale-in
 * and explanations.
 */
#include "fixture.h"

static sched_cluster_t *cl;

static void setup(void)
{
    cl = sched_cluster_new();
    cr_assert_not_null(cl);
}

static void teardown(void)
{
    sched_cluster_free(cl);
}

static sched_task_def_t td_plain = {.family = "web", .cpu = 256, .memory = 512};

/* places and returns the result; asserts the call itself succeeded */
static sched_placement_t place(const sched_task_def_t *td, size_t count, const sched_strategy_t *s, size_t ns,
                               const sched_constraint_t *k, size_t nk, bool explain)
{
    sched_placement_request_t req = {.task_def = td,
                                     .count = count,
                                     .strategies = s,
                                     .nstrategies = ns,
                                     .constraints = k,
                                     .nconstraints = nk,
                                     .seed = 42,
                                     .explain = explain};
    sched_placement_t p;
    sched_err_t err = {0};
    cr_assert_eq(sched_place(cl, &req, &p, &err), SCHED_OK, "%s", err.msg);
    cr_assert_eq(p.ntasks + p.nunplaced, count);
    return p;
}

/* "instance index of each placed task", e.g. "0,0,1" */
static const char *where(const sched_placement_t *p, char *buf, size_t len)
{
    buf[0] = 0;
    for (size_t t = 0; t < p->ntasks; t++) {
        size_t n = strlen(buf);
        snprintf(buf + n, len - n, "%s%zu", n ? "," : "", p->tasks[t].instance);
    }
    return buf;
}

static bool has_failure(const sched_placement_t *p, size_t instance, const char *reason)
{
    for (size_t f = 0; f < p->nfailures; f++)
        if (p->failures[f].instance == instance && strcmp(p->failures[f].reason, reason) == 0)
            return true;
    return false;
}

TestSuite(placement_resources, .init = setup, .fini = teardown);

Test(placement_resources, claims_cpu_and_memory_of_each_task)
{
    fx_add(cl, (fx_instance_t){.name = "a", .cpu = 1024, .mem = 2048});
    sched_placement_t p = place(&td_plain, 3, NULL, 0, NULL, 0, false);
    cr_expect_eq(p.ntasks, 3);
    int64_t cpu, mem;
    sched_instance_remaining(cl, 0, &cpu, &mem);
    cr_expect_eq(cpu, 1024 - 3 * 256);
    cr_expect_eq(mem, 2048 - 3 * 512);
    cr_expect_eq(sched_instance_group_tasks(cl, 0, "family:web"), 3);
    cr_expect_eq(sched_instance_running_tasks(cl, 0), 3);
    sched_placement_free(&p);
}

Test(placement_resources, later_tasks_see_earlier_claims)
{
    fx_add(cl, (fx_instance_t){.name = "a", .cpu = 512, .mem = 4096});
    sched_placement_t p = place(&td_plain, 3, NULL, 0, NULL, 0, false);
    cr_expect_eq(p.ntasks, 2, "only two 256-unit tasks fit in 512");
    cr_expect_eq(p.nunplaced, 1);
    cr_expect(has_failure(&p, 0, "RESOURCE:CPU"));
    sched_placement_free(&p);
}

Test(placement_resources, memory_shortage_is_reported_as_resource_memory)
{
    fx_add(cl, (fx_instance_t){.name = "a", .cpu = 4096, .mem = 256});
    sched_placement_t p = place(&td_plain, 1, NULL, 0, NULL, 0, false);
    cr_expect_eq(p.ntasks, 0);
    cr_assert_eq(p.nfailures, 1);
    cr_expect_str_eq(p.failures[0].reason, "RESOURCE:MEMORY");
    cr_expect(strstr(p.failures[0].detail, "512") != NULL, "%s", p.failures[0].detail);
    sched_placement_free(&p);
}

Test(placement_resources, draining_and_disconnected_instances_get_nothing)
{
    fx_add(cl, (fx_instance_t){.name = "drain", .draining = true});
    fx_add(cl, (fx_instance_t){.name = "gone", .disconnected = true});
    fx_add(cl, (fx_instance_t){.name = "ok"});
    sched_placement_t p = place(&td_plain, 2, NULL, 0, NULL, 0, false);
    char buf[64];
    cr_expect_str_eq(where(&p, buf, sizeof buf), "2,2");
    sched_placement_free(&p);
}

Test(placement_resources, failures_name_every_instance_once_per_reason)
{
    fx_add(cl, (fx_instance_t){.name = "drain", .draining = true});
    fx_add(cl, (fx_instance_t){.name = "gone", .disconnected = true});
    fx_add(cl, (fx_instance_t){.name = "small", .mem = 128});
    sched_placement_t p = place(&td_plain, 3, NULL, 0, NULL, 0, false);
    cr_expect_eq(p.nunplaced, 3);
    cr_expect_eq(p.nfailures, 3, "deduplicated across the three tasks");
    cr_expect(has_failure(&p, 0, "DRAINING"));
    cr_expect(has_failure(&p, 1, "AGENT"));
    cr_expect(has_failure(&p, 2, "RESOURCE:MEMORY"));
    sched_placement_free(&p);
}

Test(placement_resources, empty_cluster_reports_missing)
{
    sched_placement_t p = place(&td_plain, 2, NULL, 0, NULL, 0, false);
    cr_assert_eq(p.nfailures, 1);
    cr_expect_eq(p.failures[0].instance, SCHED_NO_INSTANCE);
    cr_expect_str_eq(p.failures[0].reason, "MISSING");
    sched_placement_free(&p);
}

TestSuite(placement_ports, .init = setup, .fini = teardown);

Test(placement_ports, fixed_host_port_allows_one_task_per_instance)
{
    fx_add(cl, (fx_instance_t){.name = "a"});
    fx_add(cl, (fx_instance_t){.name = "b"});
    sched_binding_t ports[] = {{"web", 80, 8080, SCHED_PROTO_TCP}};
    sched_task_def_t td = {.family = "web", .cpu = 10, .memory = 10, .ports = ports, .nports = 1};
    sched_placement_t p = place(&td, 3, NULL, 0, NULL, 0, false);
    char buf[64];
    cr_expect_str_eq(where(&p, buf, sizeof buf), "0,1");
    cr_expect_eq(p.tasks[0].bindings[0].host_port, 8080);
    cr_expect(has_failure(&p, 0, "RESOURCE:PORTS"));
    cr_expect(has_failure(&p, 1, "RESOURCE:PORTS"));
    cr_expect(sched_instance_port_taken(cl, 0, 8080, SCHED_PROTO_TCP));
    cr_expect_not(sched_instance_port_taken(cl, 0, 8080, SCHED_PROTO_UDP));
    sched_placement_free(&p);
}

Test(placement_ports, reserved_ports_block_fixed_mappings)
{
    fx_add(cl, (fx_instance_t){.name = "a"}); /* the fixture reserves 22, 2375, 2376, 51678, 51679 */
    sched_binding_t ports[] = {{"ssh", 22, 22, SCHED_PROTO_TCP}};
    sched_task_def_t td = {.family = "ssh", .cpu = 10, .memory = 10, .ports = ports, .nports = 1};
    sched_placement_t p = place(&td, 1, NULL, 0, NULL, 0, false);
    cr_expect_eq(p.ntasks, 0);
    cr_expect(has_failure(&p, 0, "RESOURCE:PORTS"));
    sched_placement_free(&p);
}

Test(placement_ports, same_port_number_on_other_protocol_is_free)
{
    fx_add(cl, (fx_instance_t){.name = "a"});
    sched_binding_t ports[] = {{"dns", 53, 53, SCHED_PROTO_UDP}, {"dns", 53, 53, SCHED_PROTO_TCP}};
    sched_task_def_t td = {.family = "dns", .cpu = 10, .memory = 10, .ports = ports, .nports = 2};
    sched_placement_t p = place(&td, 1, NULL, 0, NULL, 0, false);
    cr_expect_eq(p.ntasks, 1);
    sched_placement_free(&p);
}

Test(placement_ports, dynamic_ports_come_from_the_ephemeral_range_and_never_collide)
{
    fx_add(cl, (fx_instance_t){.name = "a", .cpu = 100000, .mem = 100000});
    sched_binding_t ports[] = {
        {"web", 80, 0, SCHED_PROTO_TCP}, {"admin", 9000, 0, SCHED_PROTO_TCP}, {"fixed", 1, 49153, SCHED_PROTO_TCP}};
    sched_task_def_t td = {.family = "web", .cpu = 1, .memory = 1, .ports = ports, .nports = 2};
    sched_placement_t p = place(&td, 5, NULL, 0, NULL, 0, false);
    cr_assert_eq(p.ntasks, 5);
    uint16_t seen[10];
    size_t ns = 0;
    for (size_t t = 0; t < p.ntasks; t++) {
        for (size_t b = 0; b < 2; b++) {
            uint16_t hp = p.tasks[t].bindings[b].host_port;
            cr_expect_geq(hp, SCHED_DYNAMIC_PORT_FIRST);
            for (size_t s = 0; s < ns; s++)
                cr_expect_neq(seen[s], hp, "port %u given twice", hp);
            seen[ns++] = hp;
        }
    }
    /* 51678 and 51679 are reserved by the agent and lie below the range; the first is 49153 */
    cr_expect_eq(p.tasks[0].bindings[0].host_port, 49153);
    cr_expect_eq(p.tasks[0].bindings[1].host_port, 49154);
    sched_placement_free(&p);
    /* a fixed port in the dynamic range that is now taken stops the next task */
    td.nports = 3;
    p = place(&td, 1, NULL, 0, NULL, 0, false);
    cr_expect_eq(p.ntasks, 0);
    cr_expect(has_failure(&p, 0, "RESOURCE:PORTS"));
    sched_placement_free(&p);
}

Test(placement_ports, dynamic_range_can_run_out)
{
    /* an instance whose dynamic range is full but for one port */
    static uint16_t used[SCHED_DYNAMIC_PORT_LAST - SCHED_DYNAMIC_PORT_FIRST + 1];
    size_t n = 0;
    for (uint32_t p = SCHED_DYNAMIC_PORT_FIRST; p <= SCHED_DYNAMIC_PORT_LAST; p++)
        if (p != 60000)
            used[n++] = (uint16_t)p;
    sched_instance_spec_t spec = {.arn = "ci/full",
                                  .agent_connected = true,
                                  .remaining_cpu = 1000,
                                  .remaining_memory = 1000,
                                  .registered_at = SCHED_TIME_UNKNOWN,
                                  .used_tcp_ports = used,
                                  .nused_tcp_ports = n};
    cr_assert_eq(sched_cluster_add_instance(cl, &spec, NULL, NULL), SCHED_OK);
    sched_binding_t ports[] = {{"web", 80, 0, SCHED_PROTO_TCP}};
    sched_task_def_t td = {.family = "web", .cpu = 1, .memory = 1, .ports = ports, .nports = 1};
    sched_placement_t p = place(&td, 2, NULL, 0, NULL, 0, false);
    cr_assert_eq(p.ntasks, 1);
    cr_expect_eq(p.tasks[0].bindings[0].host_port, 60000);
    cr_expect(has_failure(&p, 0, "RESOURCE:PORTS"));
    sched_placement_free(&p);
}

Test(placement_ports, duplicate_fixed_ports_in_a_task_definition_are_rejected)
{
    fx_add(cl, (fx_instance_t){.name = "a"});
    sched_binding_t ports[] = {{"a", 80, 8080, SCHED_PROTO_TCP}, {"b", 81, 8080, SCHED_PROTO_TCP}};
    sched_task_def_t td = {.family = "web", .cpu = 1, .memory = 1, .ports = ports, .nports = 2};
    sched_placement_request_t req = {.task_def = &td, .count = 1};
    sched_placement_t p;
    sched_err_t err = {0};
    cr_expect_eq(sched_place(cl, &req, &p, &err), SCHED_EINVAL);
    cr_expect(strstr(err.msg, "portMappings[1].hostPort") != NULL, "%s", err.msg);
}

TestSuite(placement_constraints, .init = setup, .fini = teardown);

Test(placement_constraints, member_of_limits_candidates)
{
    fx_add(cl, (fx_instance_t){.name = "a", .type = "m5.large"});
    fx_add(cl, (fx_instance_t){.name = "b", .type = "t2.small"});
    sched_constraint_t k[] = {{SCHED_CONSTRAINT_MEMBER_OF, "attribute:ecs.instance-type =~ t2.*"}};
    sched_placement_t p = place(&td_plain, 2, NULL, 0, k, 1, false);
    char buf[64];
    cr_expect_str_eq(where(&p, buf, sizeof buf), "1,1");
    sched_placement_free(&p);
}

Test(placement_constraints, member_of_unsatisfied_is_reported)
{
    fx_add(cl, (fx_instance_t){.name = "a", .type = "m5.large"});
    sched_constraint_t k[] = {{SCHED_CONSTRAINT_MEMBER_OF, "attribute:ecs.instance-type =~ t2.*"}};
    sched_placement_t p = place(&td_plain, 1, NULL, 0, k, 1, false);
    cr_expect_eq(p.ntasks, 0);
    cr_expect(has_failure(&p, 0, "MemberOf placement constraint unsatisfied."));
    sched_placement_free(&p);
}

Test(placement_constraints, distinct_instance_places_one_task_per_instance)
{
    fx_add(cl, (fx_instance_t){.name = "a"});
    fx_add(cl, (fx_instance_t){.name = "b"});
    sched_constraint_t k[] = {{SCHED_CONSTRAINT_DISTINCT_INSTANCE, NULL}};
    sched_placement_t p = place(&td_plain, 3, NULL, 0, k, 1, false);
    char buf[64];
    cr_expect_str_eq(where(&p, buf, sizeof buf), "0,1");
    cr_expect_eq(p.nunplaced, 1);
    cr_expect(has_failure(&p, 0, "DistinctInstance placement constraint unsatisfied."));
    sched_placement_free(&p);
}

Test(placement_constraints, distinct_instance_counts_existing_tasks_of_the_group)
{
    fx_add(cl, (fx_instance_t){.name = "a"});
    fx_add(cl, (fx_instance_t){.name = "b"});
    fx_add_task(cl, 0, "family:web");
    sched_constraint_t k[] = {{SCHED_CONSTRAINT_DISTINCT_INSTANCE, NULL}};
    sched_placement_t p = place(&td_plain, 1, NULL, 0, k, 1, false);
    cr_assert_eq(p.ntasks, 1);
    cr_expect_eq(p.tasks[0].instance, 1);
    sched_placement_free(&p);
}

Test(placement_constraints, task_dependent_member_of_sees_tasks_placed_in_the_same_request)
{
    fx_add(cl, (fx_instance_t){.name = "a"});
    fx_add(cl, (fx_instance_t){.name = "b"});
    fx_add(cl, (fx_instance_t){.name = "c"});
    /* at most one task of the family per instance, written in CQL */
    sched_constraint_t k[] = {{SCHED_CONSTRAINT_MEMBER_OF, "not(task:group == family:web)"}};
    sched_placement_t p = place(&td_plain, 4, NULL, 0, k, 1, false);
    char buf[64];
    cr_expect_str_eq(where(&p, buf, sizeof buf), "0,1,2");
    cr_expect_eq(p.nunplaced, 1);
    sched_placement_free(&p);
}

Test(placement_constraints, syntax_error_names_the_constraint_and_position)
{
    fx_add(cl, (fx_instance_t){.name = "a"});
    sched_constraint_t k[] = {{SCHED_CONSTRAINT_DISTINCT_INSTANCE, NULL}, {SCHED_CONSTRAINT_MEMBER_OF, "attribute:x =="}};
    sched_placement_request_t req = {.task_def = &td_plain, .count = 1, .constraints = k, .nconstraints = 2};
    sched_placement_t p;
    sched_err_t err = {0};
    cr_expect_eq(sched_place(cl, &req, &p, &err), SCHED_EINVAL);
    cr_expect(strstr(err.msg, "placementConstraints[1].expression") != NULL, "%s", err.msg);
    cr_expect_eq(err.position, 14);
    int64_t cpu, mem;
    sched_instance_remaining(cl, 0, &cpu, &mem);
    cr_expect_eq(cpu, 2048, "nothing was claimed");
}

TestSuite(placement_strategies, .init = setup, .fini = teardown);

Test(placement_strategies, binpack_memory_fills_the_fullest_instance_first)
{
    fx_add(cl, (fx_instance_t){.name = "roomy", .mem = 8192});
    fx_add(cl, (fx_instance_t){.name = "tight", .mem = 1536});
    sched_strategy_t s[] = {{SCHED_STRATEGY_BINPACK, "memory"}};
    sched_placement_t p = place(&td_plain, 4, s, 1, NULL, 0, false);
    char buf[64];
    /* tight takes three 512 MiB tasks, then roomy */
    cr_expect_str_eq(where(&p, buf, sizeof buf), "1,1,1,0");
    sched_placement_free(&p);
}

Test(placement_strategies, binpack_cpu_uses_cpu_not_memory)
{
    fx_add(cl, (fx_instance_t){.name = "lowcpu", .cpu = 512, .mem = 8192});
    fx_add(cl, (fx_instance_t){.name = "lowmem", .cpu = 4096, .mem = 1024});
    sched_strategy_t s[] = {{SCHED_STRATEGY_BINPACK, "cpu"}};
    sched_placement_t p = place(&td_plain, 1, s, 1, NULL, 0, false);
    cr_expect_eq(p.tasks[0].instance, 0);
    sched_placement_free(&p);
    s[0].field = "memory";
    p = place(&td_plain, 1, s, 1, NULL, 0, false);
    cr_expect_eq(p.tasks[0].instance, 1);
    sched_placement_free(&p);
}

Test(placement_strategies, spread_instance_id_round_robins)
{
    for (int i = 0; i < 3; i++)
        fx_add(cl, (fx_instance_t){.name = i == 0 ? "a" : i == 1 ? "b" : "c"});
    sched_strategy_t s[] = {{SCHED_STRATEGY_SPREAD, "instanceId"}};
    sched_placement_t p = place(&td_plain, 6, s, 1, NULL, 0, false);
    char buf[64];
    cr_expect_str_eq(where(&p, buf, sizeof buf), "0,1,2,0,1,2");
    sched_placement_free(&p);
    s[0].field = "host"; /* same effect */
    p = place(&td_plain, 3, s, 1, NULL, 0, false);
    cr_expect_str_eq(where(&p, buf, sizeof buf), "0,1,2");
    sched_placement_free(&p);
}

Test(placement_strategies, spread_counts_only_tasks_of_the_same_group)
{
    fx_add(cl, (fx_instance_t){.name = "a"});
    fx_add(cl, (fx_instance_t){.name = "b"});
    fx_add_task(cl, 0, "family:other");
    fx_add_task(cl, 0, "family:other");
    fx_add_task(cl, 1, "family:web");
    sched_strategy_t s[] = {{SCHED_STRATEGY_SPREAD, "instanceId"}};
    sched_placement_t p = place(&td_plain, 1, s, 1, NULL, 0, false);
    cr_expect_eq(p.tasks[0].instance, 0);
    sched_placement_free(&p);
}

Test(placement_strategies, spread_attribute_balances_availability_zones)
{
    fx_add(cl, (fx_instance_t){.name = "a1", .az = "us-east-1a"});
    fx_add(cl, (fx_instance_t){.name = "a2", .az = "us-east-1a"});
    fx_add(cl, (fx_instance_t){.name = "b1", .az = "us-east-1b"});
    fx_add(cl, (fx_instance_t){.name = "c1", .az = "us-east-1c"});
    sched_strategy_t s[] = {{SCHED_STRATEGY_SPREAD, "attribute:ecs.availability-zone"}};
    sched_placement_t p = place(&td_plain, 6, s, 1, NULL, 0, false);
    size_t per_az[3] = {0};
    for (size_t t = 0; t < p.ntasks; t++)
        per_az[p.tasks[t].instance <= 1 ? 0 : p.tasks[t].instance - 1]++;
    cr_expect_eq(per_az[0], 2);
    cr_expect_eq(per_az[1], 2);
    cr_expect_eq(per_az[2], 2);
    sched_placement_free(&p);
}

Test(placement_strategies, spread_then_spread_balances_instances_inside_each_zone)
{
    fx_add(cl, (fx_instance_t){.name = "a1", .az = "us-east-1a"});
    fx_add(cl, (fx_instance_t){.name = "a2", .az = "us-east-1a"});
    fx_add(cl, (fx_instance_t){.name = "b1", .az = "us-east-1b"});
    sched_strategy_t s[] = {{SCHED_STRATEGY_SPREAD, "attribute:ecs.availability-zone"}, {SCHED_STRATEGY_SPREAD, "instanceId"}};
    sched_placement_t p = place(&td_plain, 4, s, 2, NULL, 0, false);
    char buf[64];
    cr_expect_str_eq(where(&p, buf, sizeof buf), "0,2,1,2");
    sched_placement_free(&p);
}

Test(placement_strategies, spread_then_binpack_packs_inside_each_zone)
{
    fx_add(cl, (fx_instance_t){.name = "a-big", .az = "us-east-1a", .mem = 8192});
    fx_add(cl, (fx_instance_t){.name = "a-small", .az = "us-east-1a", .mem = 2048});
    fx_add(cl, (fx_instance_t){.name = "b-big", .az = "us-east-1b", .mem = 8192});
    fx_add(cl, (fx_instance_t){.name = "b-small", .az = "us-east-1b", .mem = 1024});
    sched_strategy_t s[] = {{SCHED_STRATEGY_SPREAD, "attribute:ecs.availability-zone"}, {SCHED_STRATEGY_BINPACK, "memory"}};
    sched_placement_t p = place(&td_plain, 6, s, 2, NULL, 0, false);
    char buf[64];
    /* zones alternate; inside each, the instance left with least memory: b-small (1024) first,
     * then a-small (2048); once b-small is full zone b falls back to b-big */
    cr_expect_str_eq(where(&p, buf, sizeof buf), "3,1,3,1,1,2");
    sched_placement_free(&p);
}

Test(placement_strategies, random_is_reproducible_with_a_seed_and_varies_across_seeds)
{
    for (int i = 0; i < 8; i++) {
        char name[8];
        snprintf(name, sizeof name, "r%d", i);
        fx_add(cl, (fx_instance_t){.name = name, .cpu = 100000, .mem = 100000});
    }
    sched_strategy_t s[] = {{SCHED_STRATEGY_RANDOM, NULL}};
    char first[128], again[128], other[128];
    sched_placement_request_t req = {.task_def = &td_plain, .count = 12, .strategies = s, .nstrategies = 1, .seed = 7};
    sched_placement_t p;
    cr_assert_eq(sched_place(cl, &req, &p, NULL), SCHED_OK);
    where(&p, first, sizeof first);
    sched_placement_free(&p);
    cr_assert_eq(sched_place(cl, &req, &p, NULL), SCHED_OK);
    where(&p, again, sizeof again);
    sched_placement_free(&p);
    req.seed = 8;
    cr_assert_eq(sched_place(cl, &req, &p, NULL), SCHED_OK);
    where(&p, other, sizeof other);
    sched_placement_free(&p);
    cr_expect_str_eq(first, again);
    cr_expect_str_neq(first, other);
    /* and it really scatters: more than one instance used */
    cr_expect(strchr(first, ',') && strncmp(first, "0,0,0,0", 7) != 0, "%s", first);
}

Test(placement_strategies, ties_go_to_the_first_instance_in_order)
{
    fx_add(cl, (fx_instance_t){.name = "a"});
    fx_add(cl, (fx_instance_t){.name = "b"});
    sched_strategy_t s[] = {{SCHED_STRATEGY_BINPACK, "memory"}};
    sched_placement_t p = place(&td_plain, 1, s, 1, NULL, 0, false);
    cr_expect_eq(p.tasks[0].instance, 0);
    sched_placement_free(&p);
}

Test(placement_strategies, a_later_strategy_only_breaks_ties)
{
    /* binpack alone would pick the tight instance in zone a; spread first moves the task to zone b */
    fx_add(cl, (fx_instance_t){.name = "a-tight", .az = "us-east-1a", .mem = 600});
    fx_add(cl, (fx_instance_t){.name = "b-roomy", .az = "us-east-1b", .mem = 8192});
    fx_add_task(cl, 0, "family:web");
    sched_strategy_t s[] = {{SCHED_STRATEGY_SPREAD, "attribute:ecs.availability-zone"}, {SCHED_STRATEGY_BINPACK, "memory"}};
    sched_placement_t p = place(&td_plain, 1, s, 2, NULL, 0, false);
    cr_expect_eq(p.tasks[0].instance, 1);
    sched_placement_free(&p);
}

/* binpack(image) with the bytes each instance holds; asserts success */
static sched_placement_t place_image(size_t count, const sched_strategy_t *s, size_t ns, int64_t image_bytes, const int64_t *held,
                                     bool explain)
{
    sched_placement_request_t req = {.task_def = &td_plain,
                                     .count = count,
                                     .strategies = s,
                                     .nstrategies = ns,
                                     .seed = 42,
                                     .explain = explain,
                                     .image_bytes = image_bytes,
                                     .image_held = held};
    sched_placement_t p;
    sched_err_t err = {0};
    cr_assert_eq(sched_place(cl, &req, &p, &err), SCHED_OK, "%s", err.msg);
    return p;
}

Test(placement_strategies, binpack_image_prefers_the_instance_holding_most_of_the_image_bytes)
{
    for (int i = 0; i < 4; i++)
        fx_add(cl, (fx_instance_t){.name = (const char *[]){"none", "some", "most", "full-but-tiny"}[i],
                                   .cpu = 1024,
                                   .mem = i == 3 ? 256 : 4096});
    /* a 1000-byte image: "most" holds 900 bytes of it, "some" 100; the instance
     * holding all of it has no room, so resources remove it first */
    int64_t held[] = {0, 100, 900, 1000};
    sched_strategy_t s[] = {{SCHED_STRATEGY_BINPACK, "image"}};
    sched_placement_t p = place_image(3, s, 1, 1000, held, false);
    char buf[64];
    cr_expect_str_eq(where(&p, buf, sizeof buf), "2,2,2", "the next tasks find the image where the first one pulled it");
    sched_placement_free(&p);
}

Test(placement_strategies, binpack_image_then_spread_only_breaks_ties_and_a_placed_task_counts_as_holding_it)
{
    fx_add(cl, (fx_instance_t){.name = "a1", .az = "a", .cpu = 4096, .mem = 8192});
    fx_add(cl, (fx_instance_t){.name = "a2", .az = "a", .cpu = 4096, .mem = 8192});
    fx_add(cl, (fx_instance_t){.name = "b1", .az = "b", .cpu = 4096, .mem = 8192});
    int64_t held[] = {0, 500, 500};
    /* spread(AZ) first: the image only chooses inside a zone */
    sched_strategy_t s[] = {{SCHED_STRATEGY_SPREAD, "attribute:ecs.availability-zone"}, {SCHED_STRATEGY_BINPACK, "image"}};
    sched_placement_t p = place_image(4, s, 2, 500, held, false);
    char buf[64];
    cr_expect_str_eq(where(&p, buf, sizeof buf), "1,2,1,2");
    sched_placement_free(&p);
    /* no one holds anything (NULL): a tie everywhere, the first instance in order wins */
    sched_strategy_t only[] = {{SCHED_STRATEGY_BINPACK, "image"}};
    p = place_image(1, only, 1, 500, NULL, false);
    cr_expect_str_eq(where(&p, buf, sizeof buf), "0");
    sched_placement_free(&p);
    /* out-of-range holdings are clamped: more than the image counts as all of it */
    int64_t odd[] = {-5, 10, 1 << 30};
    p = place_image(1, only, 1, 500, odd, true);
    cr_expect_str_eq(where(&p, buf, sizeof buf), "2");
    cr_assert_eq(p.nexplanations, 1);
    const sched_step_t *st = &p.explanations[0].steps[p.explanations[0].nsteps - 1];
    cr_expect_eq(st->kind, SCHED_STEP_STRATEGY);
    cr_expect_eq(st->nremoved, 2);
    cr_expect(strstr(st->removed[0].detail, "500 bytes of the image to pull, the best pulls 0") != NULL, "%s",
              st->removed[0].detail);
    sched_placement_free(&p);
    char d[80];
    sched_strategy_describe(&only[0], d, sizeof d);
    cr_expect_str_eq(d, "binpack(image)");
}

Test(placement_strategies, invalid_fields_are_rejected)
{
    fx_add(cl, (fx_instance_t){.name = "a"});
    sched_strategy_t bad[][1] = {{{SCHED_STRATEGY_BINPACK, "disk"}},
                                 {{SCHED_STRATEGY_SPREAD, "zone"}},
                                 {{SCHED_STRATEGY_SPREAD, "attribute:"}},
                                 {{SCHED_STRATEGY_BINPACK, "Image"}},
                                 {{SCHED_STRATEGY_SPREAD, "image"}}};
    for (size_t i = 0; i < 5; i++) {
        sched_placement_request_t req = {.task_def = &td_plain, .count = 1, .strategies = bad[i], .nstrategies = 1};
        sched_placement_t p;
        sched_err_t err = {0};
        cr_expect_eq(sched_place(cl, &req, &p, &err), SCHED_EINVAL, "%s", bad[i][0].field);
        cr_expect(strstr(err.msg, "placementStrategy[0]") != NULL, "%s", err.msg);
    }
}

TestSuite(placement_explain, .init = setup, .fini = teardown);

Test(placement_explain, each_step_names_removed_instances_and_the_winner_keys)
{
    fx_add(cl, (fx_instance_t){.name = "drain", .draining = true, .az = "us-east-1a"});
    fx_add(cl, (fx_instance_t){.name = "m5", .type = "m5.large", .az = "us-east-1a"});
    fx_add(cl, (fx_instance_t){.name = "t2-a", .type = "t2.small", .az = "us-east-1a"});
    fx_add(cl, (fx_instance_t){.name = "t2-b", .type = "t2.small", .az = "us-east-1b"});
    fx_add_task(cl, 2, "family:web");
    sched_strategy_t s[] = {{SCHED_STRATEGY_SPREAD, "attribute:ecs.availability-zone"}};
    sched_constraint_t k[] = {{SCHED_CONSTRAINT_MEMBER_OF, "attribute:ecs.instance-type =~ t2.*"}};
    sched_placement_t p = place(&td_plain, 1, s, 1, k, 1, true);
    cr_assert_eq(p.nexplanations, 1);
    const sched_explanation_t *e = &p.explanations[0];
    cr_expect(e->placed);
    cr_expect_eq(e->instance, 3);
    cr_assert_eq(e->nsteps, 3);
    cr_expect_eq(e->steps[0].kind, SCHED_STEP_RESOURCES);
    cr_assert_eq(e->steps[0].nremoved, 1);
    cr_expect_eq(e->steps[0].removed[0].instance, 0);
    cr_expect_str_eq(e->steps[0].removed[0].reason, "DRAINING");
    cr_expect_eq(e->steps[1].kind, SCHED_STEP_CONSTRAINTS);
    cr_assert_eq(e->steps[1].nremoved, 1);
    cr_expect_eq(e->steps[1].removed[0].instance, 1);
    cr_expect_str_eq(e->steps[1].removed[0].reason, "MemberOf placement constraint unsatisfied.");
    cr_expect_eq(e->steps[2].kind, SCHED_STEP_STRATEGY);
    cr_assert_eq(e->steps[2].nremoved, 1);
    cr_expect_eq(e->steps[2].removed[0].instance, 2, "zone a already has a task of the group");
    cr_expect_str_eq(e->steps[2].removed[0].reason, "spread(attribute:ecs.availability-zone)");
    cr_expect_eq(e->steps[2].remaining, 1);
    cr_assert_eq(e->nkeys, 1);
    cr_expect_eq(e->keys[0].key, 0.0);
    cr_expect_str_eq(e->keys[0].bucket, "us-east-1b");
    sched_placement_free(&p);
}

Test(placement_explain, failed_task_is_explained_too)
{
    fx_add(cl, (fx_instance_t){.name = "small", .mem = 100});
    sched_placement_t p = place(&td_plain, 1, NULL, 0, NULL, 0, true);
    cr_assert_eq(p.nexplanations, 1);
    cr_expect_not(p.explanations[0].placed);
    cr_expect_eq(p.explanations[0].instance, SCHED_NO_INSTANCE);
    cr_expect_str_eq(p.explanations[0].steps[0].removed[0].reason, "RESOURCE:MEMORY");
    sched_placement_free(&p);
}

TestSuite(scale_in, .init = setup, .fini = teardown);

static sched_scale_in_t stop(const char *group, size_t count, const sched_strategy_t *s, size_t ns)
{
    sched_scale_in_request_t req = {.group = group, .count = count, .strategies = s, .nstrategies = ns, .seed = 3};
    sched_scale_in_t out;
    sched_err_t err = {0};
    cr_assert_eq(sched_scale_in(cl, &req, &out, &err), SCHED_OK, "%s", err.msg);
    return out;
}

Test(scale_in, spread_takes_from_the_fullest_zone_and_keeps_balance)
{
    size_t a1 = fx_add(cl, (fx_instance_t){.name = "a1", .az = "us-east-1a"});
    size_t a2 = fx_add(cl, (fx_instance_t){.name = "a2", .az = "us-east-1a"});
    size_t b1 = fx_add(cl, (fx_instance_t){.name = "b1", .az = "us-east-1b"});
    size_t c1 = fx_add(cl, (fx_instance_t){.name = "c1", .az = "us-east-1c"});
    /* a: 4 tasks, b: 2, c: 1 */
    for (int i = 0; i < 2; i++) {
        fx_add_task(cl, a1, "service:web");
        fx_add_task(cl, a2, "service:web");
        fx_add_task(cl, b1, "service:web");
    }
    fx_add_task(cl, c1, "service:web");
    fx_add_task(cl, c1, "service:other");
    sched_strategy_t s[] = {{SCHED_STRATEGY_SPREAD, "attribute:ecs.availability-zone"}};
    sched_scale_in_t out = stop("service:web", 3, s, 1);
    cr_assert_eq(out.nstopped, 3);
    size_t a = sched_instance_group_tasks(cl, a1, "service:web") + sched_instance_group_tasks(cl, a2, "service:web");
    cr_expect_eq(a, 2);
    cr_expect_eq(sched_instance_group_tasks(cl, b1, "service:web"), 1);
    cr_expect_eq(sched_instance_group_tasks(cl, c1, "service:web"), 1);
    cr_expect_eq(sched_instance_group_tasks(cl, c1, "service:other"), 1, "other groups are untouched");
    sched_scale_in_free(&out);
}

Test(scale_in, binpack_takes_from_the_instance_left_with_most_room)
{
    size_t big = fx_add(cl, (fx_instance_t){.name = "big", .mem = 8192});
    size_t small = fx_add(cl, (fx_instance_t){.name = "small", .mem = 1024});
    sched_task_spec_t t = {.arn = "task/1", .family = "web", .group = "service:web", .cpu = 0, .memory = 512};
    cr_assert_eq(sched_cluster_add_task(cl, big, &t, NULL), SCHED_OK);
    t.arn = "task/2";
    cr_assert_eq(sched_cluster_add_task(cl, small, &t, NULL), SCHED_OK);
    sched_strategy_t s[] = {{SCHED_STRATEGY_BINPACK, "memory"}};
    sched_scale_in_t out = stop("service:web", 1, s, 1);
    cr_assert_eq(out.nstopped, 1);
    cr_expect_eq(out.stopped[0].instance, big);
    cr_expect_str_eq(out.stopped[0].task_arn, "task/1");
    int64_t cpu, mem;
    sched_instance_remaining(cl, big, &cpu, &mem);
    cr_expect_eq(mem, 8192 + 512, "the stopped task's memory is released");
    sched_scale_in_free(&out);
}

Test(scale_in, releases_ports_so_they_can_be_placed_again)
{
    size_t a = fx_add(cl, (fx_instance_t){.name = "a"});
    sched_binding_t ports[] = {{"web", 80, 8080, SCHED_PROTO_TCP}};
    sched_task_def_t td = {.family = "web", .cpu = 1, .memory = 1, .ports = ports, .nports = 1};
    sched_placement_t p = place(&td, 1, NULL, 0, NULL, 0, false);
    cr_assert_eq(p.ntasks, 1);
    sched_placement_free(&p);
    cr_expect(sched_instance_port_taken(cl, a, 8080, SCHED_PROTO_TCP));
    sched_scale_in_t out = stop("family:web", 1, NULL, 0);
    cr_expect_eq(out.nstopped, 1);
    cr_expect_not(sched_instance_port_taken(cl, a, 8080, SCHED_PROTO_TCP));
    sched_scale_in_free(&out);
}

Test(scale_in, asking_for_more_than_exist_stops_all)
{
    size_t a = fx_add(cl, (fx_instance_t){.name = "a"});
    fx_add_task(cl, a, "service:web");
    sched_scale_in_t out = stop("service:web", 5, NULL, 0);
    cr_expect_eq(out.nstopped, 1);
    cr_expect_eq(sched_instance_group_tasks(cl, a, "service:web"), 0);
    sched_scale_in_free(&out);
}
