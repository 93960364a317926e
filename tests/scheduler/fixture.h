/*
 * tests/scheduler/fixture.h — builds small clusters for the scheduler suites.
 */
#ifndef BERTH_TESTS_SCHEDULER_FIXTURE_H
#define BERTH_TESTS_SCHEDULER_FIXTURE_H

#include "scheduler/scheduler.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* an instance as tests describe it: the fields that vary, the rest defaulted */
typedef struct {
    const char *name; /* becomes arn:aws:ecs:us-east-1:123456789012:container-instance/NAME */
    const char *az;
    const char *type;
    int64_t cpu, mem;
    bool draining;
    bool disconnected;
    const char *agent_version;
    int64_t registered_at;
    const char *ec2_id;
    const char *custom_name, *custom_value;
} fx_instance_t;

static inline size_t fx_add(sched_cluster_t *c, fx_instance_t f)
{
    char arn[160];
    snprintf(arn, sizeof arn, "arn:aws:ecs:us-east-1:123456789012:container-instance/%s", f.name);
    sched_attribute_t attrs[4];
    size_t na = 0;
    if (f.az)
        attrs[na++] = (sched_attribute_t){"ecs.availability-zone", f.az};
    if (f.type)
        attrs[na++] = (sched_attribute_t){"ecs.instance-type", f.type};
    attrs[na++] = (sched_attribute_t){"ecs.os-type", "linux"};
    if (f.custom_name)
        attrs[na++] = (sched_attribute_t){f.custom_name, f.custom_value};
    static const uint16_t reserved[] = {22, 2375, 2376, 51678, 51679};
    sched_instance_spec_t spec = {
        .arn = arn,
        .ec2_instance_id = f.ec2_id ? f.ec2_id : f.name,
        .status = f.draining ? SCHED_INSTANCE_DRAINING : SCHED_INSTANCE_ACTIVE,
        .agent_connected = !f.disconnected,
        .agent_version = f.agent_version ? f.agent_version : "1.70.0",
        .registered_at = f.registered_at ? f.registered_at : 1528000000, /* 2018-06-03 */
        .registered_cpu = f.cpu ? f.cpu : 2048,
        .registered_memory = f.mem ? f.mem : 4096,
        .remaining_cpu = f.cpu ? f.cpu : 2048,
        .remaining_memory = f.mem ? f.mem : 4096,
        .attributes = attrs,
        .nattributes = na,
        .used_tcp_ports = reserved,
        .nused_tcp_ports = sizeof reserved / sizeof reserved[0],
    };
    size_t idx = SIZE_MAX;
    sched_err_t err = {0};
    cr_assert_eq(sched_cluster_add_instance(c, &spec, &idx, &err), SCHED_OK, "%s", err.msg);
    return idx;
}

static inline void fx_add_task(sched_cluster_t *c, size_t i, const char *group)
{
    sched_task_spec_t t = {.family = "web", .group = group, .cpu = 0, .memory = 0};
    sched_err_t err = {0};
    cr_assert_eq(sched_cluster_add_task(c, i, &t, &err), SCHED_OK, "%s", err.msg);
}

/* the indexes an expression selects, as a string like "0,2" */
static inline const char *fx_select(const sched_cluster_t *c, const char *expr, char *buf, size_t len)
{
    sched_cql_t *q = NULL;
    sched_err_t err = {0};
    cr_assert_eq(sched_cql_parse(expr, &q, &err), SCHED_OK, "'%s' failed to parse: %s", expr, err.msg);
    buf[0] = 0;
    for (size_t i = 0; i < sched_cluster_instance_count(c); i++) {
        if (sched_cql_matches(q, c, i)) {
            size_t n = strlen(buf);
            snprintf(buf + n, len - n, "%s%zu", n ? "," : "", i);
        }
    }
    sched_cql_free(q);
    return buf;
}

#endif
