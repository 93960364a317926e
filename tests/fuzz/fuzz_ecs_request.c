/*
 * tests/fuzz/fuzz_ecs_request.c — the ECS API's request validation
 * (scheduler/ecs_request.c). Input: an operation name, a newline, then the
 * JSON body. Any body either prepares, naming the ecs: action and at least
 * one resource ARN, or is refused with an ECS error type, a 400 and a
 * message; never a crash, never a request without resources.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_check.h"
#include "scheduler/scheduler.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl || nl - data > 64)
        return 0;
    char op[65];
    memcpy(op, data, (size_t)(nl - data));
    op[nl - data] = '\0';
    json_t *body = json_loadb((const char *)nl + 1, size - (size_t)(nl + 1 - data), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!body)
        return 0;
    sched_ecs_env_t env = {.region = "us-east-1", .account = "123456789012", .now = 1, .agent_timeout = 60, .seed = 7};
    sched_ecs_request_t *r = NULL;
    sched_ecs_err_t err = {0};
    int rc = sched_ecs_prepare(op, body, &env, &r, &err);
    if (rc == 0) {
        FUZZ_CHECK(r != NULL);
        FUZZ_CHECK(sched_ecs_known_op(op));
        char action[80];
        /* Berth's agent poll and task credentials are authorized as ECS's agent's own poll, ecs:Poll */
        bool poll = strcmp(op, "BerthPollWork") == 0 || strcmp(op, "BerthGetTaskCredentials") == 0;
        snprintf(action, sizeof(action), "ecs:%s", poll ? "Poll" : op);
        FUZZ_CHECK(strcmp(sched_ecs_request_action(r), action) == 0);
        FUZZ_CHECK(sched_ecs_request_nresources(r) >= 1);
        for (size_t i = 0; i < sched_ecs_request_nresources(r); i++) {
            const char *arn = sched_ecs_request_resource(r, i);
            FUZZ_CHECK(arn != NULL);
            FUZZ_CHECK(strcmp(arn, "*") == 0 || strncmp(arn, "arn:aws:ecs:us-east-1:123456789012:", 35) == 0);
        }
        FUZZ_CHECK(sched_ecs_request_resource(r, sched_ecs_request_nresources(r)) == NULL);
        sched_ecs_request_free(r);
    } else {
        FUZZ_CHECK(rc == SCHED_EINVAL || rc == SCHED_ENOMEM);
        FUZZ_CHECK(r == NULL);
        FUZZ_CHECK(err.type != NULL && err.msg[0] != '\0');
        FUZZ_CHECK(rc == SCHED_ENOMEM ? err.http_status == 500 : err.http_status == 400);
    }
    json_decref(body);
    return 0;
}
