/*
 * tests/fuzz/fuzz_agent_docker.c — what `berth agent --runtime docker` makes
 * of JSON it did not write (cli/agent_docker.c): the engine's inspect of a
 * container read as ECS's container report, and a task from BerthPollWork
 * turned into the body of POST /containers/create. Any document gives either
 * a report of one of the agent's containers (a name, a runtime id, an ECS
 * status, ports in range) or none; and for each container either a body the
 * engine can take (an image, CPU shares of at least 2, "NAME=VALUE"
 * variables) or a CannotCreateContainerError. Never a crash or a leak.
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "fuzz_check.h"

static void check_report(const json_t *r)
{
    if (!r)
        return;
    const char *st = json_string_value(json_object_get(r, "status"));
    FUZZ_CHECK(json_string_value(json_object_get(r, "containerName")) && json_string_value(json_object_get(r, "runtimeId")));
    FUZZ_CHECK(st && (!strcmp(st, "RUNNING") || !strcmp(st, "PENDING") || !strcmp(st, "STOPPED")));
    FUZZ_CHECK(!strcmp(st, "STOPPED") == json_is_integer(json_object_get(r, "exitCode")));
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(r, "networkBindings"), i, b)
    {
        json_int_t cp = json_integer_value(json_object_get(b, "containerPort")),
                   hp = json_integer_value(json_object_get(b, "hostPort"));
        FUZZ_CHECK(hp >= 1 && hp <= 65535 && cp >= 0);
        FUZZ_CHECK(!strchr(json_string_value(json_object_get(b, "bindIP")), ':'));
    }
}

static void check_body(const json_t *task, size_t index)
{
    cli_err_t e = {{0}};
    json_t *extra = json_pack("[{s:s,s:s}]", "name", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "value", "t");
    json_t *b = agent_docker_create_body(task, index, "127.0.0.1:5000/r:v1", "c", "arn", "net", 30, extra, &e);
    json_decref(extra);
    if (!b) {
        FUZZ_CHECK(!strncmp(e.msg, "CannotCreateContainerError: ", 28) || !strcmp(e.msg, "out of memory"));
        return;
    }
    FUZZ_CHECK(json_string_value(json_object_get(b, "Image")));
    json_t *hc = json_object_get(b, "HostConfig");
    FUZZ_CHECK(json_integer_value(json_object_get(hc, "CpuShares")) >= 2);
    const char *mode = json_string_value(json_object_get(hc, "NetworkMode"));
    FUZZ_CHECK(mode && (!strcmp(mode, "net") || !strcmp(mode, "host")));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(b, "Env"), i, v)
    {
        FUZZ_CHECK(json_string_value(v) && strchr(json_string_value(v), '=') > json_string_value(v));
    }
    json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!j)
        return 0;
    json_t *r = agent_docker_container_report(j);
    check_report(r);
    json_decref(r);
    size_t n = json_array_size(json_object_get(j, "containers"));
    for (size_t i = 0; i < n && i < 10; i++)
        check_body(j, i);
    json_decref(j);
    return 0;
}
