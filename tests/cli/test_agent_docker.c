/* `berth agent --runtime docker`'s pure parts (cli/agent_docker.c): the body of
 * POST /containers/create built from a task as BerthPollWork gives it, the
 * engine's inspect read back as ECS's container report, --docker-host and
 * X-Registry-Auth. The engine itself is driven by tests/e2e/test_ecs_docker.sh. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_internal.h"

#define ARN "arn:aws:ecs:us-east-1:123456789012:task/web/0123456789abcdef0123456789abcdef"
#define INSTANCE "arn:aws:ecs:us-east-1:123456789012:container-instance/web/fedcba9876543210fedcba9876543210"

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    cr_assert_not_null(j, "test JSON: %s: %s", je.text, text);
    return j;
}

/* the body for container 0 of `task`, which must build */
static json_t *body_of(const char *task, const json_t *extra)
{
    json_t *t = parse(task);
    cli_err_t e = {{0}};
    json_t *b = agent_docker_create_body(t, 0, "127.0.0.1:5000/e2e/web:v1", "web", INSTANCE, "berth", 30, extra, &e);
    cr_assert_not_null(b, "refused: %s", e.msg);
    json_decref(t);
    return b;
}

/* a task the body must refuse; its message */
static void refused(const char *task, const char *words)
{
    json_t *t = parse(task);
    cli_err_t e = {{0}};
    json_t *b = agent_docker_create_body(t, 0, "img", "web", INSTANCE, "berth", 30, NULL, &e);
    cr_assert_null(b, "built a body for %s", task);
    cr_assert(strstr(e.msg, words) && strncmp(e.msg, "CannotCreateContainerError: ", 28) == 0, "message: %s", e.msg);
    json_decref(t);
}

static void expect_json(const json_t *got, const char *want_text, const char *what)
{
    json_t *want = parse(want_text);
    char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
    cr_assert(json_equal(want, got), "%s:\n  - %s\n  + %s", what, want_text, g ? g : "(null)");
    free(g);
    json_decref(want);
}

Test(create_body, a_bridge_task_maps_cpu_memory_labels_and_publishes_port_0_for_the_engine_to_pick)
{
    json_t *b = body_of("{\"taskArn\":\"" ARN "\",\"networkMode\":\"bridge\",\"containers\":[{\"name\":\"app\",\"image\":\"x\","
                        "\"cpu\":128,\"memory\":64,\"memoryReservation\":32,\"stopTimeout\":7,"
                        "\"portMappings\":[{\"containerPort\":8080,\"hostPort\":0,\"protocol\":\"tcp\"},"
                        "{\"containerPort\":53,\"hostPort\":5353,\"protocol\":\"udp\"}]}]}",
                        NULL);
    expect_json(json_object_get(b, "HostConfig"),
                "{\"CpuShares\":128,\"Memory\":67108864,\"MemoryReservation\":33554432,\"NetworkMode\":\"berth\","
                "\"PortBindings\":{\"8080/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"\"}],\"53/udp\":[{\"HostIp\":\"\",\"HostPort\":"
                "\"5353\"}]}}",
                "HostConfig");
    expect_json(json_object_get(b, "ExposedPorts"), "{\"8080/tcp\":{},\"53/udp\":{}}", "ExposedPorts");
    expect_json(json_object_get(b, "Labels"),
                "{\"" AGENT_DOCKER_LABEL_TASK "\":\"" ARN "\",\"" AGENT_DOCKER_LABEL_CONTAINER
                "\":\"app\",\"" AGENT_DOCKER_LABEL_CLUSTER "\":\"web\",\"" AGENT_DOCKER_LABEL_INSTANCE "\":\"" INSTANCE
                "\",\"" AGENT_DOCKER_LABEL_STOP "\":\"7\",\"" AGENT_DOCKER_LABEL_ESSENTIAL "\":\"true\"}",
                "Labels");
    cr_assert_str_eq(json_string_value(json_object_get(b, "Image")), "127.0.0.1:5000/e2e/web:v1");
    cr_assert_null(json_object_get(b, "Cmd"), "no command: the image's");
    json_decref(b);
}

Test(create_body, environment_is_the_definitions_then_the_overrides_then_the_agents_extra_entries)
{
    json_t *extra =
        parse("[{\"name\":\"AWS_CONTAINER_AUTHORIZATION_TOKEN\",\"value\":\"tok\"},{\"name\":\"B\",\"value\":\"agent\"}]");
    json_t *b = body_of("{\"taskArn\":\"" ARN "\",\"containers\":[{\"name\":\"app\",\"image\":\"x\","
                        "\"environment\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"def\"},{\"name\":\"C\","
                        "\"value\":\"3\"}],\"command\":[\"def\"],\"entryPoint\":[\"/bin/sh\",\"-c\"]}],"
                        "\"overrides\":{\"containerOverrides\":[{\"name\":\"other\",\"command\":[\"no\"]},{\"name\":\"app\","
                        "\"command\":[\"echo hi\"],\"environment\":[{\"name\":\"C\",\"value\":\"over\"}]}]}}",
                        extra);
    expect_json(json_object_get(b, "Env"), "[\"A=1\",\"C=over\",\"AWS_CONTAINER_AUTHORIZATION_TOKEN=tok\",\"B=agent\"]", "Env");
    expect_json(json_object_get(b, "Cmd"), "[\"echo hi\"]", "Cmd (the override's)");
    expect_json(json_object_get(b, "Entrypoint"), "[\"/bin/sh\",\"-c\"]", "Entrypoint");
    json_decref(extra);
    json_decref(b);
}

Test(create_body, a_host_task_uses_the_hosts_network_and_publishes_nothing)
{
    json_t *b = body_of("{\"taskArn\":\"" ARN "\",\"networkMode\":\"host\",\"containers\":[{\"name\":\"app\",\"image\":\"x\","
                        "\"cpu\":0,\"essential\":false,\"portMappings\":[{\"containerPort\":8080,\"hostPort\":8080}]}]}",
                        NULL);
    expect_json(json_object_get(b, "HostConfig"), "{\"CpuShares\":2,\"NetworkMode\":\"host\"}", "HostConfig");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(b, "Labels"), AGENT_DOCKER_LABEL_ESSENTIAL)), "false");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(b, "Labels"), AGENT_DOCKER_LABEL_STOP)), "30",
                     "the agent's stop timeout when the container has none");
    json_decref(b);
}

Test(create_body, a_task_the_engine_could_not_run_is_refused_with_the_reason)
{
    refused("{\"taskArn\":\"" ARN "\",\"networkMode\":\"awsvpc\",\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}", "awsvpc");
    refused("{\"taskArn\":\"" ARN "\",\"containers\":[{\"image\":\"x\"}]}", "no name");
    refused("{\"taskArn\":\"" ARN "\",\"containers\":[{\"name\":\"a\",\"environment\":[{\"name\":\"A=B\",\"value\":\"1\"}]}]}",
            "without '='");
    refused("{\"taskArn\":\"" ARN "\",\"containers\":[{\"name\":\"a\",\"environment\":[{\"value\":\"1\"}]}]}", "needs a name");
    refused("{\"taskArn\":\"" ARN "\",\"containers\":[{\"name\":\"a\",\"command\":\"echo hi\"}]}", "lists of strings");
    refused("{\"taskArn\":\"" ARN "\",\"containers\":[{\"name\":\"a\",\"entryPoint\":[1]}]}", "lists of strings");
    refused("{\"taskArn\":\"" ARN "\",\"containers\":[{\"name\":\"a\",\"portMappings\":[{\"containerPort\":0}]}]}",
            "portMappings[0]");
    refused("{\"taskArn\":\"" ARN
            "\",\"containers\":[{\"name\":\"a\",\"portMappings\":[{\"containerPort\":80,\"hostPort\":70000}]}]}",
            "portMappings[0]");
    refused("{\"taskArn\":\"" ARN
            "\",\"containers\":[{\"name\":\"a\",\"portMappings\":[{\"containerPort\":80,\"protocol\":\"sctp\"}]}]}",
            "portMappings[0]");
}

static json_t *report_of(const char *inspect)
{
    json_t *in = parse(inspect);
    json_t *r = agent_docker_container_report(in);
    json_decref(in);
    return r;
}

#define LABELS "\"Config\":{\"Labels\":{\"" AGENT_DOCKER_LABEL_CONTAINER "\":\"web\"}}"

Test(container_report, a_running_container_reports_the_ipv4_ports_the_engine_chose)
{
    json_t *r = report_of("{\"Id\":\"abc\"," LABELS ",\"State\":{\"Status\":\"running\",\"Running\":true,\"ExitCode\":0},"
                          "\"NetworkSettings\":{\"Ports\":{\"8080/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"32768\"},"
                          "{\"HostIp\":\"::\",\"HostPort\":\"32768\"}],\"9000/udp\":null}}}");
    expect_json(r,
                "{\"containerName\":\"web\",\"runtimeId\":\"abc\",\"status\":\"RUNNING\",\"networkBindings\":[{\"bindIP\":"
                "\"0.0.0.0\",\"containerPort\":8080,\"hostPort\":32768,\"protocol\":\"tcp\"}]}",
                "report");
    json_decref(r);
}

Test(container_report, an_exited_container_reports_its_exit_code_and_the_engines_reason)
{
    json_t *r = report_of("{\"Id\":\"abc\"," LABELS ",\"State\":{\"Status\":\"exited\",\"Running\":false,\"ExitCode\":137,"
                          "\"OOMKilled\":true},\"NetworkSettings\":{\"Ports\":{}}}");
    expect_json(r,
                "{\"containerName\":\"web\",\"runtimeId\":\"abc\",\"status\":\"STOPPED\",\"exitCode\":137,\"reason\":"
                "\"OutOfMemoryError: Container killed due to memory usage\"}",
                "report");
    json_decref(r);
    r = report_of("{\"Id\":\"abc\"," LABELS
                  ",\"State\":{\"Status\":\"exited\",\"ExitCode\":127,\"Error\":\"exec: no such file\"}}");
    cr_assert_str_eq(json_string_value(json_object_get(r, "reason")), "CannotStartContainerError: exec: no such file");
    json_decref(r);
    r = report_of("{\"Id\":\"abc\"," LABELS ",\"State\":{\"Status\":\"created\",\"Running\":false,\"ExitCode\":0}}");
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "PENDING");
    cr_assert_null(json_object_get(r, "exitCode"));
    json_decref(r);
}

Test(container_report, a_container_without_the_agents_label_is_not_reported)
{
    cr_assert_null(report_of("{\"Id\":\"abc\",\"Config\":{\"Labels\":{}},\"State\":{\"Running\":true}}"));
    cr_assert_null(report_of("{\"Config\":{\"Labels\":{\"" AGENT_DOCKER_LABEL_CONTAINER "\":\"web\"}}}"));
    cr_assert_null(report_of("[]"));
}

Test(docker_host, only_a_unix_socket_path_is_accepted)
{
    char path[108];
    cli_err_t e = {{0}};
    cr_assert_eq(agent_docker_socket_path("unix:///var/run/docker.sock", path, sizeof(path), &e), 0);
    cr_assert_str_eq(path, "/var/run/docker.sock");
    cr_assert_eq(agent_docker_socket_path("tcp://127.0.0.1:2375", path, sizeof(path), &e), -1);
    cr_assert(strstr(e.msg, "unix:///"), "%s", e.msg);
    cr_assert_eq(agent_docker_socket_path("unix://relative.sock", path, sizeof(path), &e), -1);
    char longer[300] = "unix:///";
    memset(longer + 8, 'a', 200);
    cr_assert_eq(agent_docker_socket_path(longer, path, sizeof(path), &e), -1);
    cr_assert(strstr(e.msg, "longer than"), "%s", e.msg);
}

Test(registry_auth, is_base64url_of_the_username_password_and_server)
{
    char *a = agent_docker_registry_auth("AWS", "p?>>?~~", "127.0.0.1:5000");
    cr_assert_not_null(a);
    cr_assert_null(strpbrk(a, "+/"), "base64url: %s", a);
    char std[512];
    snprintf(std, sizeof(std), "%s", a);
    for (char *p = std; *p; p++)
        *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    unsigned char dec[512];
    int n = EVP_DecodeBlock(dec, (unsigned char *)std, (int)strlen(std));
    cr_assert_gt(n, 0);
    while (n > 0 && dec[n - 1] == '\0')
        n--;
    json_t *j = json_loadb((char *)dec, (size_t)n, 0, NULL);
    expect_json(j, "{\"username\":\"AWS\",\"password\":\"p?>>?~~\",\"serveraddress\":\"127.0.0.1:5000\"}", "decoded");
    json_decref(j);
    free(a);
}
