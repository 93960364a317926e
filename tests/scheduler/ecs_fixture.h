/* The harness the ECS state suites share (test_ecs_state.c, test_ecs_agent.c,
 * test_ecs_service_state.c): a real store in a temp dir, and requests run on
 * it as berthd runs them: writes in one STORAGE_OP_RECORDS closure, reads on
 * a snapshot. The clock and the seed are the test's (env). */
#ifndef BERTH_TESTS_SCHEDULER_ECS_FIXTURE_H
#define BERTH_TESTS_SCHEDULER_ECS_FIXTURE_H

#include <jansson.h>
#include <stddef.h>

#include "scheduler/scheduler.h"
#include "storage/storage.h"

/* the store of the running test, its environment, and the writer's placement
 * cache call() passes (NULL unless a test sets one) */
extern storage_t *st;
extern sched_ecs_env_t env;
extern sched_ecs_cache_t *ecs_cache;

/* Opens st in a fresh temp dir and resets env (a TestSuite's .init). */
void ecs_fixture_open(void);
/* Closes st and removes its dir (a TestSuite's .fini). */
void ecs_fixture_close(void);
/* Removes a directory tree (a second store's). */
void ecs_fixture_rmtree(const char *path);

/* Runs op on body as berthd does; returns the reply (caller decrefs) or NULL
 * with *err filled. Each call takes the next seed, as each request brings its own. */
json_t *call(const char *op, const char *body, sched_ecs_err_t *err);
/* call() on another store, with a cache for the writes */
json_t *call_on(storage_t *store, sched_ecs_cache_t *cache, const char *op, const char *body, sched_ecs_err_t *err);
/* call() that must succeed */
json_t *ok(const char *op, const char *body);
/* call() that must fail with this error type and a message containing needle */
void fails(const char *op, const char *body, const char *type, const char *needle);

/* the value at a path of keys/indexes, e.g. at(doc, "containerInstance.remainingResources.1.integerValue") */
json_t *at(json_t *doc, const char *path);
long long num(json_t *doc, const char *path);
const char *str(json_t *doc, const char *path);

/* RegisterContainerInstance with these resources; its ARN (caller frees) */
char *register_instance(const char *cluster, const char *az, int cpu, int mem);
json_t *describe_instance(const char *cluster, const char *arn);

#endif
