/* The ECS API's request shapes (scheduler/ecs_request.c): which ecs: action
 * on which resource ARNs, whether an operation writes, and every refusal an
 * InvalidParameterException naming the field. Pure: no store. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/scheduler.h"

static const sched_ecs_env_t env = {.region = "eu-west-3", .account = "123456789012", .now = 1000, .agent_timeout = 60, .seed = 1};

/* prepares op on body; rc and err out */
static int prep(const char *op, const char *body, sched_ecs_request_t **r, sched_ecs_err_t *err)
{
    json_error_t je;
    json_t *b = json_loads(body, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    cr_assert_not_null(b, "test body does not parse: %s", je.text);
    memset(err, 0, sizeof(*err));
    int rc = sched_ecs_prepare(op, b, &env, r, err);
    json_decref(b);
    return rc;
}

/* op on body is refused as `type` with a message starting with `prefix` */
static void refused(const char *op, const char *body, const char *type, const char *prefix)
{
    sched_ecs_request_t *r = (sched_ecs_request_t *)1;
    sched_ecs_err_t err;
    int rc = prep(op, body, &r, &err);
    cr_expect_eq(rc, SCHED_EINVAL, "%s %s: rc %d", op, body, rc);
    cr_expect_null(r, "%s %s: a request despite the refusal", op, body);
    cr_expect_str_eq(err.type ? err.type : "(null)", type, "%s %s: %s", op, body, err.msg);
    cr_expect_eq(err.http_status, 400);
    cr_expect(strncmp(err.msg, prefix, strlen(prefix)) == 0, "%s %s:\n  want prefix: %s\n  got:         %s", op, body, prefix,
              err.msg);
}

/* op on body is accepted, with action and exactly the resources given (NULL-terminated) */
static void accepted(const char *op, const char *body, bool writes, const char *const *resources)
{
    sched_ecs_request_t *r = NULL;
    sched_ecs_err_t err;
    int rc = prep(op, body, &r, &err);
    cr_assert_eq(rc, 0, "%s %s: %s", op, body, err.msg);
    char action[80];
    snprintf(action, sizeof(action), "ecs:%s", op);
    cr_expect_str_eq(sched_ecs_request_action(r), action);
    cr_expect_eq(sched_ecs_request_writes(r), writes, "%s: writes", op);
    size_t n = 0;
    while (resources[n])
        n++;
    cr_expect_eq(sched_ecs_request_nresources(r), n, "%s %s: %zu resources", op, body, sched_ecs_request_nresources(r));
    for (size_t i = 0; i < n && i < sched_ecs_request_nresources(r); i++)
        cr_expect_str_eq(sched_ecs_request_resource(r, i), resources[i]);
    sched_ecs_request_free(r);
}

#define ARN "arn:aws:ecs:eu-west-3:123456789012:"
#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210"

Test(ecs_request, each_operation_is_an_ecs_action_on_ecs_resource_types)
{
    accepted("CreateCluster", "{}", true, (const char *[]){ARN "cluster/default", NULL});
    accepted("CreateCluster", "{\"clusterName\":\"prod\"}", true, (const char *[]){ARN "cluster/prod", NULL});
    accepted("DescribeClusters", "{\"clusters\":[\"a\",\"" ARN "cluster/b\"]}", false,
             (const char *[]){ARN "cluster/a", ARN "cluster/b", NULL});
    accepted("ListClusters", "{\"maxResults\":5,\"nextToken\":\"10\"}", false, (const char *[]){"*", NULL});
    accepted("DeleteCluster", "{\"cluster\":\"" ARN "cluster/x\"}", true, (const char *[]){ARN "cluster/x", NULL});
    accepted("RegisterContainerInstance", "{\"cluster\":\"c\"}", true, (const char *[]){ARN "cluster/c", NULL});
    accepted("DescribeContainerInstances",
             "{\"cluster\":\"c\",\"containerInstances\":[\"" ID1 "\",\"" ARN "container-instance/c/" ID2 "\"]}", false,
             (const char *[]){ARN "container-instance/c/" ID1, ARN "container-instance/c/" ID2, NULL});
    accepted("UpdateContainerInstancesState", "{\"containerInstances\":[\"" ID1 "\"],\"status\":\"DRAINING\"}", true,
             (const char *[]){ARN "container-instance/default/" ID1, NULL});
    accepted("RegisterTaskDefinition",
             "{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64}]}", true,
             (const char *[]){"*", NULL});
    accepted("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web:3\"}", true,
             (const char *[]){ARN "task-definition/web:3", NULL});
    accepted("RunTask", "{\"taskDefinition\":\"web\"}", true, (const char *[]){ARN "task-definition/web:*", NULL});
    accepted("StartTask", "{\"taskDefinition\":\"" ARN "task-definition/web:2\",\"containerInstances\":[\"" ID1 "\"]}", true,
             (const char *[]){ARN "task-definition/web:2", NULL});
    accepted("StopTask", "{\"cluster\":\"c\",\"task\":\"" ID2 "\"}", true, (const char *[]){ARN "task/c/" ID2, NULL});
    accepted("DescribeTasks", "{\"tasks\":[\"" ARN "task/default/" ID1 "\"]}", false,
             (const char *[]){ARN "task/default/" ID1, NULL});
    accepted("ListTasks", "{\"cluster\":\"c\",\"containerInstance\":\"" ID1 "\"}", false,
             (const char *[]){ARN "container-instance/c/" ID1, NULL});
    accepted("ListTasks", "{\"cluster\":\"c\"}", false, (const char *[]){ARN "cluster/c", NULL});
    /* ECS authorizes them on each target instance, not on the cluster */
    accepted("PutAttributes",
             "{\"cluster\":\"c\",\"attributes\":[{\"name\":\"a\",\"targetId\":\"" ID1 "\"},{\"name\":\"b\",\"value\":\"v\","
             "\"targetType\":\"container-instance\",\"targetId\":\"" ARN "container-instance/c/" ID2 "\"}]}",
             true, (const char *[]){ARN "container-instance/c/" ID1, ARN "container-instance/c/" ID2, NULL});
    accepted("DeleteAttributes", "{\"attributes\":[{\"name\":\"a\",\"targetId\":\"" ID1 "\"}]}", true,
             (const char *[]){ARN "container-instance/default/" ID1, NULL});
}

Test(ecs_request, unknown_operations_and_non_objects)
{
    refused("CreateCapacityProvider", "{}", "UnknownOperationException", "unknown operation CreateCapacityProvider");
    refused("CreateService", "{}", "InvalidParameterException", "serviceName: required");
    refused("CreateCluster", "[]", "InvalidParameterException", "the request body must be a JSON object");
    refused("CreateCluster", "{\"clusterName\":\"a\",\"extra\":true}", "InvalidParameterException",
            "extra: unknown or unsupported field");
}

Test(ecs_request, a_field_berth_lacks_is_accepted_only_while_it_asks_nothing)
{
    /* what describe-task-definition prints (ECS's or Berth's) registers again */
    accepted("RegisterTaskDefinition",
             "{\"family\":\"f\",\"volumes\":[],\"ipcMode\":null,\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\","
             "\"memory\":64,\"mountPoints\":[],\"volumesFrom\":[],\"systemControls\":[],\"dockerLabels\":{},"
             "\"privileged\":false,\"hostname\":\"\"}]}",
             true, (const char *[]){"*", NULL});
    refused("RegisterTaskDefinition",
            "{\"family\":\"f\",\"volumes\":[{\"name\":\"v\"}],\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\","
            "\"memory\":64}]}",
            "InvalidParameterException", "volumes: unknown or unsupported field");
    refused("RegisterTaskDefinition",
            "{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64,"
            "\"privileged\":true}]}",
            "InvalidParameterException", "containerDefinitions[0].privileged: unknown or unsupported field");
    refused("RegisterTaskDefinition",
            "{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64,"
            "\"mountPoints\":[{\"sourceVolume\":\"v\",\"containerPath\":\"/d\"}]}]}",
            "InvalidParameterException", "containerDefinitions[0].mountPoints: unknown or unsupported field");
    refused("CreateCluster", "{\"clusterName\":\"a\",\"extra\":0}", "InvalidParameterException",
            "extra: unknown or unsupported field");
}

Test(ecs_request, create_service_takes_what_infrastructure_tools_send_switched_off)
{
#define SVC "{\"cluster\":\"c\",\"serviceName\":\"s\",\"taskDefinition\":\"f\","
    accepted("CreateService",
             SVC "\"deploymentController\":{\"type\":\"ECS\"},\"deploymentConfiguration\":{\"maximumPercent\":200,"
                 "\"minimumHealthyPercent\":50,\"deploymentCircuitBreaker\":{\"enable\":false,\"rollback\":false}}}",
             true, (const char *[]){ARN "service/c/s", NULL});
    refused("CreateService", SVC "\"deploymentController\":{\"type\":\"CODE_DEPLOY\"}}", "InvalidParameterException",
            "deploymentController.type: 'CODE_DEPLOY' is not supported");
    refused("CreateService", SVC "\"deploymentController\":{\"type\":\"ECS\",\"x\":1}}", "InvalidParameterException",
            "deploymentController.x: unknown or unsupported field");
    refused("CreateService", SVC "\"deploymentConfiguration\":{\"deploymentCircuitBreaker\":{\"enable\":true}}}",
            "InvalidParameterException", "deploymentConfiguration.deploymentCircuitBreaker.enable: true is not supported");
    refused("CreateService", SVC "\"deploymentConfiguration\":{\"deploymentCircuitBreaker\":{\"enable\":\"no\"}}}",
            "InvalidParameterException", "deploymentConfiguration.deploymentCircuitBreaker.enable: must be true or false");
#undef SVC
}

Test(ecs_request, task_definitions_are_validated_field_by_field)
{
    const char *op = "RegisterTaskDefinition";
    refused(op, "{\"containerDefinitions\":[]}", "InvalidParameterException", "family: required");
    refused(op, "{\"family\":\"f\",\"containerDefinitions\":[]}", "InvalidParameterException",
            "containerDefinitions: must hold 1 to 10");
    refused(op, "{\"family\":\"f\"}", "InvalidParameterException", "containerDefinitions: required");
    refused(op, "{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":-5}]}",
            "InvalidParameterException", "containerDefinitions[0].memory: -5 MiB");
    refused(op,
            "{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64},{\"name\":\"a\",\"image\":"
            "\"j\",\"memory\":64}]}",
            "InvalidParameterException", "containerDefinitions[1].name: 'a' is used by containerDefinitions[0]");
    refused(
        op,
        "{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64,\"memoryReservation\":128}]}",
        "InvalidParameterException", "containerDefinitions[0].memoryReservation: 128 MiB is more than memory");
    refused(op, "{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"\",\"memory\":64}]}",
            "InvalidParameterException", "containerDefinitions[0].image: must not be empty");
    refused(op,
            "{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64,\"portMappings\":[{"
            "\"containerPort\":80,\"protocol\":\"sctp\"}]}]}",
            "InvalidParameterException", "containerDefinitions[0].portMappings[0].protocol: 'sctp' is not one of tcp, udp");
    refused(op,
            "{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64,\"environment\":[{\"name\":"
            "1}]}]}",
            "InvalidParameterException", "containerDefinitions[0].environment[0].name: must be a string");
    refused(op,
            "{\"family\":\"f\",\"requiresCompatibilities\":[\"FARGATE\"],\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\","
            "\"memory\":64}]}",
            "InvalidParameterException", "requiresCompatibilities[0]: 'FARGATE' is not supported");
    refused(op, "{\"family\":\"f\",\"memory\":\"lots\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\"}]}",
            "InvalidParameterException", "memory: 'lots' must be a whole number");
    refused(op,
            "{\"family\":\"f\",\"placementConstraints\":[{\"type\":\"distinctInstance\"}],\"containerDefinitions\":[{\"name\":"
            "\"a\",\"image\":\"i\",\"memory\":6}]}",
            "InvalidParameterException", "placementConstraints[0].type: 'distinctInstance' is not memberOf");
    /* task-level memory covers containers without their own */
    accepted(op,
             "{\"family\":\"f\",\"memory\":\"512\",\"cpu\":\"256\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\"}]}",
             true, (const char *[]){"*", NULL});
}

Test(ecs_request, a_cql_syntax_error_names_the_field_and_the_position)
{
    sched_ecs_request_t *r;
    sched_ecs_err_t err;
    int rc = prep("ListContainerInstances", "{\"filter\":\"attribute:a == b and (\"}", &r, &err);
    cr_assert_eq(rc, SCHED_EINVAL);
    cr_expect(strncmp(err.msg, "filter: ", 8) == 0, "%s", err.msg);
    cr_expect(strstr(err.msg, "position 22") != NULL, "the position (22, the end) is named: %s", err.msg);
    refused("RunTask", "{\"taskDefinition\":\"f\",\"placementConstraints\":[{\"type\":\"memberOf\",\"expression\":\"==\"}]}",
            "InvalidParameterException", "placementConstraints[0].expression: ");
}

Test(ecs_request, references_and_ranges)
{
    refused("RunTask", "{\"taskDefinition\":\"f\",\"count\":0}", "InvalidParameterException", "count: 0 is out of range (1 to 10)");
    refused("RunTask", "{\"taskDefinition\":\"f:0\"}", "InvalidParameterException", "taskDefinition: 'f:0' is not");
    refused("RunTask", "{\"taskDefinition\":\"arn:aws:ecs:r:1:task-definition/f\"}", "InvalidParameterException",
            "taskDefinition:");
    refused("RunTask", "{\"taskDefinition\":\"f\",\"placementStrategy\":[{\"type\":\"spread\"}]}", "InvalidParameterException",
            "placementStrategy[0].field: required for spread");
    refused("RunTask", "{\"taskDefinition\":\"f\",\"launchType\":\"FARGATE\"}", "InvalidParameterException",
            "launchType: 'FARGATE' is not one of EC2");
    refused("RunTask", "{\"taskDefinition\":\"f\",\"overrides\":{\"containerOverrides\":[{\"command\":[\"x\"]}]}}",
            "InvalidParameterException", "overrides.containerOverrides[0].name: required");
    refused("StopTask", "{\"task\":\"" ARN "container-instance/c/" ID1 "\"}", "InvalidParameterException", "task:");
    refused("DeregisterTaskDefinition", "{\"taskDefinition\":\"f\"}", "InvalidParameterException",
            "taskDefinition: 'f' names no revision");
    refused("DescribeContainerInstances", "{\"containerInstances\":[\"" ID1 "X\"]}", "InvalidParameterException",
            "containerInstances[0]:");
    refused("DescribeContainerInstances", "{\"containerInstances\":[\"0123456789ABCDEF0123456789ABCDEF\"]}",
            "InvalidParameterException", "containerInstances[0]:");
    refused("RegisterContainerInstance", "{\"totalResources\":[{\"name\":\"MEMORY\"}]}", "InvalidParameterException",
            "totalResources[0].integerValue: required for MEMORY");
    refused("RegisterContainerInstance", "{\"attributes\":[{\"name\":\"a\",\"targetId\":\"" ID1 "\"}]}",
            "InvalidParameterException", "attributes[0].targetId: not taken here");
    refused("PutAttributes", "{\"attributes\":[{\"name\":\"a b\",\"targetId\":\"" ID1 "\"}]}", "InvalidParameterException",
            "attributes[0].name: 'a b' may hold only");
    refused("PutAttributes", "{\"attributes\":[{\"name\":\"a\"}]}", "InvalidParameterException",
            "attributes[0].targetId: required");
    refused("ListAttributes", "{\"targetType\":\"cluster\"}", "InvalidParameterException", "targetType: 'cluster' is not one of");
    refused("ListAttributes", "{\"targetType\":\"container-instance\",\"attributeValue\":\"x\"}", "InvalidParameterException",
            "attributeValue: only with attributeName");
    refused("DescribeClusters", "{\"clusters\":[\"" ARN "task/x\"]}", "InvalidParameterException", "clusters[0]:");
    refused("CreateCluster", "{\"clusterName\":\"\"}", "InvalidParameterException", "clusterName: '' is not a cluster name");
}

Test(ecs_request, strings_with_nul_and_overlong_strings_are_refused)
{
    refused("CreateCluster", "{\"clusterName\":\"a\\u0000b\"}", "InvalidParameterException", "clusterName: longer than");
    char body[400];
    snprintf(body, sizeof(body), "{\"clusterName\":\"%0300d\"}", 0);
    refused("CreateCluster", body, "InvalidParameterException", "clusterName:");
}

/* A doubleValue past LLONG_MAX has no integer value: 1e30 CPU became a
 * negative one, and every later read of the cluster's instances failed
 * (ListContainerInstances answered 500). CPU and MEMORY are INTEGER
 * resources in ECS, whichever field carries them. */
Test(ecs_request, resource_values_beyond_an_integer_resource_are_refused)
{
    refused("RegisterContainerInstance", "{\"totalResources\":[{\"name\":\"CPU\",\"doubleValue\":1e30}]}",
            "InvalidParameterException", "totalResources[0].doubleValue: 1e+30 is out of range (0 to 9007199254740992)");
    refused("RegisterContainerInstance", "{\"totalResources\":[{\"name\":\"GPU\",\"doubleValue\":1.5e19}]}",
            "InvalidParameterException", "totalResources[0].doubleValue:");
    refused("RegisterContainerInstance", "{\"totalResources\":[{\"name\":\"CPU\",\"doubleValue\":2147483648.0}]}",
            "InvalidParameterException", "totalResources[0].doubleValue: CPU is an INTEGER resource");
    refused("RegisterContainerInstance", "{\"totalResources\":[{\"name\":\"MEMORY\",\"longValue\":9223372036854775807}]}",
            "InvalidParameterException", "totalResources[0].longValue: MEMORY is an INTEGER resource");
    /* as ECS's agent sends them: integerValue beside zero long and double values */
    accepted("RegisterContainerInstance",
             "{\"totalResources\":[{\"name\":\"CPU\",\"integerValue\":2048,\"longValue\":0,\"doubleValue\":0.0},"
             "{\"name\":\"MEMORY\",\"doubleValue\":2147483647.0}]}",
             true, (const char *const[]){ARN "cluster/default", NULL});
}

/* botocore 1.34 and later send a clientToken (a UUID) with every RunTask:
 * refusing it as an unknown field failed every RunTask of a current SDK
 * (what a token then does: test_ecs_agent's client token case). */
Test(ecs_request, run_task_takes_the_client_token_current_sdks_send)
{
    accepted("RunTask", "{\"taskDefinition\":\"web\",\"clientToken\":\"0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b\"}", true,
             (const char *[]){ARN "task-definition/web:*", NULL});
    char body[200];
    snprintf(body, sizeof(body), "{\"taskDefinition\":\"web\",\"clientToken\":\"%065d\"}", 0);
    refused("RunTask", body, "InvalidParameterException", "clientToken: longer than 64 characters");
    refused("RunTask", "{\"taskDefinition\":\"web\",\"clientToken\":\"a\\tb\"}", "InvalidParameterException",
            "clientToken: 'a\tb' must be 1-64 ASCII characters from '!' to '~'");
    refused("RunTask", "{\"taskDefinition\":\"web\",\"clientToken\":7}", "InvalidParameterException",
            "clientToken: must be a string");
    refused("StartTask", "{\"taskDefinition\":\"web\",\"containerInstances\":[\"" ID1 "\"],\"clientToken\":\"x\"}",
            "InvalidParameterException", "clientToken: unknown or unsupported field");
}

/* A JSON body of `fmt` with "%s" replaced by `n` copies of `item` joined by commas (the caller frees it). */
static char *repeated(const char *fmt, const char *item, size_t n)
{
    size_t il = strlen(item), len = strlen(fmt) + n * (il + 1) + 1;
    char *list = malloc(len), *body = malloc(len + strlen(fmt));
    cr_assert(list && body);
    char *p = list;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", item);
    *p = '\0';
    sprintf(body, fmt, list);
    free(list);
    return body;
}

/* The store holds a record of at most 1 MiB: these requests made one
 * bigger and got a 500 (a 3.6 MB RunTask override, a 3 MB task definition,
 * 65,535 reserved ports, an unbounded versionInfo). ECS's own limits
 * refuse them first, naming the field. */
Test(ecs_request, bodies_beyond_ecs_limits_are_refused_before_they_reach_a_record)
{
    char *ov =
        repeated("{\"taskDefinition\":\"web\",\"overrides\":{\"containerOverrides\":[{\"name\":\"a\",\"environment\":[%s]}]}}",
                 "{\"name\":\"E\",\"value\":\"0123456789012345678901234567890123456789\"}", 160);
    refused("RunTask", ov, "InvalidParameterException", "overrides: container overrides length must be at most 8192 (it is ");
    free(ov);
    ov = repeated("{\"taskDefinition\":\"web\",\"overrides\":{\"containerOverrides\":[{\"name\":\"a\",\"environment\":[%s]}]}}",
                  "{\"name\":\"E\",\"value\":\"0123456789012345678901234567890123456789\"}", 100);
    accepted("RunTask", ov, true, (const char *[]){ARN "task-definition/web:*", NULL});
    free(ov);

    char *td =
        repeated("{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64,\"command\":[%s]}]}",
                 "\"0123456789012345678901234567890123456789012345678901234567890123456789\"", 1000);
    refused("RegisterTaskDefinition", td, "ClientException", "containerDefinitions: the task definition is ");
    free(td);

    char *ports = repeated("{\"totalResources\":[{\"name\":\"PORTS\",\"stringSetValue\":[%s]}]}", "\"80\"", 1001);
    refused("RegisterContainerInstance", ports, "InvalidParameterException",
            "totalResources[0].stringSetValue: must hold 0 to 1000 items");
    free(ports);

    refused("RegisterContainerInstance", "{\"versionInfo\":{\"agentVersion\":\"1\",\"x\":\"y\"}}", "InvalidParameterException",
            "versionInfo.x: unknown or unsupported field");
    accepted("RegisterContainerInstance",
             "{\"versionInfo\":{\"agentVersion\":\"1.70.2\",\"agentHash\":\"a\",\"dockerVersion\":\"20\"}}", true,
             (const char *[]){ARN "cluster/default", NULL});
}

/* ECS's tags: 50 of key 1-128 and value 0-256 characters; anything else
 * passed unchecked (a 70 KB value was taken), and a task definition's tags,
 * which are not kept with it, counted towards its 64 KiB. */
Test(ecs_request, tags_are_ecs_tags)
{
    accepted("CreateCluster", "{\"clusterName\":\"c\",\"tags\":[{\"key\":\"team\",\"value\":\"a\"},{\"key\":\"k\"}]}", true,
             (const char *[]){ARN "cluster/c", NULL});
    refused("CreateCluster", "{\"tags\":[\"team\"]}", "InvalidParameterException", "tags[0]: must be an object with key and value");
    refused("RunTask", "{\"taskDefinition\":\"web\",\"tags\":[{\"key\":\"\"}]}", "InvalidParameterException",
            "tags[0].key: must not be empty");
    refused("RegisterContainerInstance", "{\"tags\":[{\"key\":\"k\",\"Value\":\"v\"}]}", "InvalidParameterException",
            "tags[0].Value: unknown or unsupported field");
    char *big = repeated(
        "{\"taskDefinition\":\"web\",\"containerInstances\":[\"" ID1 "\"],\"tags\":[{\"key\":\"k\",\"value\":\"%s\"}]}", "v", 257);
    refused("StartTask", big, "InvalidParameterException", "tags[0].value: longer than 256 characters");
    free(big);
    char *many =
        repeated("{\"cluster\":\"c\",\"serviceName\":\"s\",\"taskDefinition\":\"web\",\"tags\":[%s]}", "{\"key\":\"k\"}", 51);
    refused("CreateService", many, "InvalidParameterException", "tags: must hold 0 to 50 items, not 51");
    free(many);
    /* 50 tags of 128 + 256 characters beside a definition under 64 KiB: accepted */
    char tag[420];
    snprintf(tag, sizeof(tag), "{\"key\":\"%0128d\",\"value\":\"%0256d\"}", 0, 0);
    char word[8003] = "\"";
    memset(word + 1, 'w', 8000);
    strcpy(word + 8001, "\"");
    char *tags = repeated("%s", tag, 50), *words = repeated("%s", word, 7), *body = malloc(strlen(words) + strlen(tags) + 200);
    cr_assert(body);
    sprintf(body,
            "{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64,\"command\":[%s]}],\"tags\":"
            "[%s]}",
            words, tags);
    accepted("RegisterTaskDefinition", body, true, (const char *[]){"*", NULL});
    free(body);
    free(words);
    free(tags);
}

/* A fixed host port is mapped once: a second mapping could never be claimed on the host beside the first. */
Test(ecs_request, a_fixed_host_port_is_mapped_once_in_a_task_definition)
{
#define TD2(m1, m2)                                                                                                                \
    "{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64,\"portMappings\":[" m1 "]},"        \
    "{\"name\":\"b\",\"image\":\"i\",\"memory\":64,\"portMappings\":[" m2 "]}]}"
    refused("RegisterTaskDefinition", TD2("{\"containerPort\":80,\"hostPort\":8080}", "{\"containerPort\":81,\"hostPort\":8080}"),
            "InvalidParameterException",
            "containerDefinitions[1].portMappings[0].hostPort: 8080/tcp is mapped by containerDefinitions[0].portMappings[0] too");
    refused("RegisterTaskDefinition",
            TD2("{\"containerPort\":80,\"hostPort\":8080},{\"containerPort\":81,\"hostPort\":8080}", "{\"containerPort\":82}"),
            "InvalidParameterException", "containerDefinitions[0].portMappings[1].hostPort: 8080/tcp");
    accepted("RegisterTaskDefinition",
             TD2("{\"containerPort\":80,\"hostPort\":8080},{\"containerPort\":80,\"hostPort\":0}",
                 "{\"containerPort\":81,\"hostPort\":8080,\"protocol\":\"udp\"},{\"containerPort\":81}"),
             true, (const char *[]){"*", NULL});
    refused("RegisterTaskDefinition",
            "{\"family\":\"f\",\"networkMode\":\"host\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64,"
            "\"portMappings\":[{\"containerPort\":80}]},{\"name\":\"b\",\"image\":\"i\",\"memory\":64,\"portMappings\":[{"
            "\"containerPort\":80}]}]}",
            "InvalidParameterException", "containerDefinitions[1].portMappings[0].hostPort: 80/tcp");
#undef TD2
}

/* StartTask names its instances for condition key ecs:container-instances, as ARNs of the request's cluster. */
Test(ecs_request, start_task_names_its_instances_for_the_condition_key)
{
    sched_ecs_request_t *r = NULL;
    sched_ecs_err_t err;
    cr_assert_eq(prep("StartTask",
                      "{\"cluster\":\"c\",\"taskDefinition\":\"web\",\"containerInstances\":[\"" ID1 "\",\"" ARN
                      "container-instance/c/" ID2 "\"]}",
                      &r, &err),
                 0, "%s", err.msg);
    const char *const *arns;
    cr_assert_eq(sched_ecs_request_instances(r, &arns), 2);
    cr_expect_str_eq(arns[0], ARN "container-instance/c/" ID1);
    cr_expect_str_eq(arns[1], ARN "container-instance/c/" ID2);
    cr_expect_str_eq(sched_ecs_request_cluster(r), "c");
    sched_ecs_request_free(r);
    cr_assert_eq(prep("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\"}", &r, &err), 0, "%s", err.msg);
    cr_expect_eq(sched_ecs_request_instances(r, &arns), 0);
    sched_ecs_request_free(r);
    cr_assert_eq(prep("RegisterTaskDefinition",
                      "{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64}]}", &r, &err),
                 0, "%s", err.msg);
    cr_expect_null(sched_ecs_request_cluster(r), "a task definition is in no cluster");
    sched_ecs_request_free(r);
}
