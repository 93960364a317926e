/*
 * tests/fuzz/fuzz_ecs_json.c — the reader of ECS-shaped JSON (scheduler/ecs_json.c).
 * Any JSON document, read as describe-container-instances, describe-tasks and
 * describe-task-definition output, either reads or fails with SCHED_EINVAL
 * (or SCHED_ENOMEM) and a message; what reads as a task definition holds
 * within its bounds and can be placed on what read as instances.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "scheduler/scheduler.h"

static void check_failure(sched_status_t st, const sched_err_t *err)
{
    FUZZ_CHECK(st == SCHED_EINVAL || st == SCHED_ENOMEM);
    FUZZ_CHECK(err->code == st);
    FUZZ_CHECK(err->msg[0] != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!doc)
        return 0;
    sched_cluster_t *c = sched_cluster_new();
    sched_ecs_task_def_t *td = calloc(1, sizeof *td);
    FUZZ_CHECK(c != NULL && td != NULL);
    sched_err_t err = {0};
    sched_status_t st = sched_ecs_add_instances(c, doc, "fuzz", NULL, NULL, &err);
    if (st != SCHED_OK)
        check_failure(st, &err);
    st = sched_ecs_add_tasks(c, doc, "fuzz", &err);
    if (st != SCHED_OK)
        check_failure(st, &err);
    st = sched_ecs_read_task_definition(doc, "fuzz", td, &err);
    if (st != SCHED_OK) {
        check_failure(st, &err);
    } else {
        FUZZ_CHECK(td->td.family != NULL);
        FUZZ_CHECK(td->td.nports <= SCHED_ECS_MAX_PORT_MAPPINGS);
        FUZZ_CHECK(td->ncontainers >= 1 && td->ncontainers <= SCHED_ECS_MAX_PORT_MAPPINGS);
        FUZZ_CHECK(td->nconstraints <= SCHED_MAX_CONSTRAINTS);
        FUZZ_CHECK(td->td.cpu >= 0 && td->td.memory >= 0);
        sched_placement_request_t req = {
            .task_def = &td->td, .count = 2, .constraints = td->constraints, .nconstraints = td->nconstraints};
        sched_placement_t p;
        if (sched_place(c, &req, &p, NULL) == SCHED_OK) {
            FUZZ_CHECK(p.ntasks <= 2);
            sched_placement_free(&p);
        }
    }
    free(td);
    sched_cluster_free(c);
    json_decref(doc);
    return 0;
}
