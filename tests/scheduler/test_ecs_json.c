/*
 * tests/scheduler/test_ecs_json.c — reading ECS's own JSON: instances, running
 * tasks and a task definition as describe-* prints them become the cluster and
 * the task definition placement uses; input that is not what ECS sends fails
 * with SCHED_EINVAL and a message naming the source and the field, never a crash.
 */
#include "fixture.h"

#include <jansson.h>

static json_t *doc(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    cr_assert_not_null(j, "test JSON: %s", je.text);
    return j;
}

#define CI(body) "{\"containerInstanceArn\":\"arn:aws:ecs:us-east-1:1:container-instance/c/" body "}"
#define RES(cpu, mem) "[{\"name\":\"CPU\",\"integerValue\":" cpu "},{\"name\":\"MEMORY\",\"integerValue\":" mem "}]"

static const char instances[] =
    "{\"containerInstances\":["
    "{\"containerInstanceArn\":\"arn:aws:ecs:us-east-1:1:container-instance/c/a\",\"ec2InstanceId\":\"i-a\","
    "\"registeredAt\":\"2018-06-18T22:28:28+00:00\",\"versionInfo\":{\"agentVersion\":\"1.70.2\"},"
    "\"registeredResources\":" RES(
        "2048",
        "4096") ","
                "\"remainingResources\":[{\"name\":\"CPU\",\"integerValue\":1024},{\"name\":\"MEMORY\",\"integerValue\":\"3000\"},"
                "{\"name\":\"PORTS\",\"stringSetValue\":[\"22\",\"80\"]},{\"name\":\"PORTS_UDP\",\"stringSetValue\":[\"53\"]}],"
                "\"attributes\":[{\"name\":\"ecs.availability-zone\",\"value\":\"us-east-1a\"},{\"name\":\"ecs.capability.x\"}]},"
                "{\"containerInstanceArn\":\"arn:aws:ecs:us-east-1:1:container-instance/c/b\",\"status\":\"DRAINING\","
                "\"registeredResources\":" RES("1024", "1024") ",\"remainingResources\":" RES(
                    "1024", "1024") "},"
                                    "{\"containerInstanceArn\":\"arn:aws:ecs:us-east-1:1:container-instance/c/"
                                    "c\",\"status\":\"REGISTERING\"}]}";

static char skipped_where[256], skipped_status[32];
static void on_skipped(void *ctx, const char *where, const char *status)
{
    (*(int *)ctx)++;
    snprintf(skipped_where, sizeof skipped_where, "%s", where);
    snprintf(skipped_status, sizeof skipped_status, "%s", status);
}

Test(ecs_json, instances_as_describe_container_instances_prints_them_become_the_cluster)
{
    sched_cluster_t *c = sched_cluster_new();
    json_t *j = doc(instances);
    sched_err_t err = {0};
    int skips = 0;
    cr_assert_eq(sched_ecs_add_instances(c, j, "ci.json", on_skipped, &skips, &err), SCHED_OK, "%s", err.msg);
    cr_assert_eq(sched_cluster_instance_count(c), 2);
    cr_assert_eq(skips, 1);
    cr_assert_str_eq(skipped_where, "ci.json: containerInstances[2]");
    cr_assert_str_eq(skipped_status, "REGISTERING");
    size_t a = sched_cluster_find_instance(c, "arn:aws:ecs:us-east-1:1:container-instance/c/a");
    cr_assert_neq(a, SCHED_NO_INSTANCE);
    int64_t cpu, mem;
    sched_instance_remaining(c, a, &cpu, &mem);
    cr_assert_eq(cpu, 1024);
    cr_assert_eq(mem, 3000); /* a numeric string, as task definitions carry them */
    sched_instance_registered(c, a, &cpu, &mem);
    cr_assert_eq(cpu, 2048);
    cr_assert_eq(mem, 4096);
    cr_assert(sched_instance_port_taken(c, a, 80, SCHED_PROTO_TCP));
    cr_assert(sched_instance_port_taken(c, a, 53, SCHED_PROTO_UDP));
    cr_assert_not(sched_instance_port_taken(c, a, 53, SCHED_PROTO_TCP));
    const char *v;
    cr_assert(sched_instance_attribute(c, a, "ecs.availability-zone", &v));
    cr_assert_str_eq(v, "us-east-1a");
    cr_assert_str_eq(sched_instance_ec2_id(c, a), "i-a");
    json_decref(j);
    sched_cluster_free(c);
}

/* each input, read as instances, and the start of the message it must give */
static const struct {
    const char *json, *msg;
} bad_instances[] = {
    {"{}", "ci.json: containerInstances: expected an array"},
    {"[1]", "ci.json: containerInstances[0]: expected an object"},
    {"[{}]", "ci.json: containerInstances[0].containerInstanceArn: missing"},
    {"[" CI("x\"") "]", "ci.json: containerInstances[0].registeredResources: missing"},
    {"[" CI("x\",\"registeredResources\":{}") "]", "ci.json: containerInstances[0].registeredResources: expected an array"},
    {"[" CI("x\",\"registeredResources\":[{\"name\":\"CPU\",\"integerValue\":\"lots\"}]") "]",
     "ci.json: containerInstances[0].registeredResources[0].integerValue: expected a non-negative integer for CPU"},
    {"[" CI("x\",\"registeredResources\":[{\"integerValue\":1}]") "]",
     "ci.json: containerInstances[0].registeredResources[0].name: missing"},
    {"[" CI("x\",\"registeredResources\":[{\"name\":\"CPU\",\"integerValue\":1}]") "]",
     "ci.json: containerInstances[0].registeredResources: no MEMORY resource"},
    {"[" CI("x\",\"registeredResources\":" RES(
         "1", "1") ",\"remainingResources\":[{\"name\":\"PORTS\",\"stringSetValue\":[\"70000\"]}]") "]",
     "ci.json: containerInstances[0].remainingResources[0].stringSetValue[0]: expected a port number 1-65535"},
    {"[" CI("x\",\"registeredAt\":\"yesterday\"") "]", "ci.json: containerInstances[0].registeredAt: expected epoch seconds"},
    /* reals with no int64_t value: converting them was undefined (a negative CPU on x86) */
    {"[" CI("x\",\"registeredResources\":[{\"name\":\"CPU\",\"integerValue\":1e30}]") "]",
     "ci.json: containerInstances[0].registeredResources[0].integerValue: expected a non-negative integer for CPU"},
    {"[" CI("x\",\"registeredAt\":-1e300") "]", "ci.json: containerInstances[0].registeredAt: expected epoch seconds"},
    {"[" CI("x\",\"agentConnected\":\"yes\"") "]", "ci.json: containerInstances[0].agentConnected: expected true or false"},
    {"[" CI("x\",\"registeredResources\":" RES("1", "1") ",\"remainingResources\":" RES(
         "1", "1") ",\"attributes\":[{\"value\":\"v\"}]") "]",
     "ci.json: containerInstances[0].attributes[0].name: missing"},
    {"[" CI("x\",\"registeredResources\":" RES("1", "1") ",\"remainingResources\":" RES("1", "1")) "," CI(
         "x\",\"registeredResources\":" RES("1", "1") ",\"remainingResources\":" RES("1", "1")) "]",
     "ci.json: containerInstances[1]: containerInstanceArn: arn:aws:ecs:us-east-1:1:container-instance/c/x appears twice"},
};

Test(ecs_json, instances_that_are_not_what_ecs_sends_fail_with_a_message_naming_the_field)
{
    for (size_t i = 0; i < sizeof bad_instances / sizeof bad_instances[0]; i++) {
        sched_cluster_t *c = sched_cluster_new();
        json_t *j = doc(bad_instances[i].json);
        sched_err_t err = {0};
        cr_assert_eq(sched_ecs_add_instances(c, j, "ci.json", NULL, NULL, &err), SCHED_EINVAL, "case %zu", i);
        cr_assert_eq(err.code, SCHED_EINVAL);
        cr_assert(strncmp(err.msg, bad_instances[i].msg, strlen(bad_instances[i].msg)) == 0, "case %zu: %s", i, err.msg);
        cr_assert_eq(sched_ecs_add_instances(c, j, "ci.json", NULL, NULL, NULL), SCHED_EINVAL, "case %zu without err", i);
        json_decref(j);
        sched_cluster_free(c);
    }
}

Test(ecs_json, running_tasks_count_on_their_instance_and_stopped_ones_do_not)
{
    sched_cluster_t *c = sched_cluster_new();
    json_t *ci = doc(instances);
    cr_assert_eq(sched_ecs_add_instances(c, ci, "ci.json", NULL, NULL, NULL), SCHED_OK);
    json_t *t = doc("{\"tasks\":["
                    "{\"containerInstanceArn\":\"arn:aws:ecs:us-east-1:1:container-instance/c/a\",\"group\":\"service:web\","
                    "\"taskDefinitionArn\":\"arn:aws:ecs:us-east-1:1:task-definition/web:3\",\"cpu\":\"256\",\"memory\":\"512\","
                    "\"containers\":[{\"name\":\"web\",\"networkBindings\":[{\"hostPort\":8080,\"containerPort\":80}]}]},"
                    "{\"containerInstanceArn\":\"arn:aws:ecs:us-east-1:1:container-instance/c/a\",\"group\":\"service:web\","
                    "\"lastStatus\":\"STOPPED\"}]}");
    sched_err_t err = {0};
    cr_assert_eq(sched_ecs_add_tasks(c, t, "tasks.json", &err), SCHED_OK, "%s", err.msg);
    size_t a = sched_cluster_find_instance(c, "arn:aws:ecs:us-east-1:1:container-instance/c/a");
    cr_assert_eq(sched_instance_group_tasks(c, a, "service:web"), 1);
    cr_assert(sched_instance_port_taken(c, a, 8080, SCHED_PROTO_TCP));
    json_decref(t);

    t = doc("[{\"containerInstanceArn\":\"arn:aws:ecs:us-east-1:1:container-instance/c/zz\",\"group\":\"g\"}]");
    cr_assert_eq(sched_ecs_add_tasks(c, t, "tasks.json", &err), SCHED_EINVAL);
    cr_assert_str_eq(err.msg, "tasks.json: tasks[0].containerInstanceArn: "
                              "arn:aws:ecs:us-east-1:1:container-instance/c/zz is not among the instances");
    json_decref(t);
    t = doc("[{\"containerInstanceArn\":\"arn:aws:ecs:us-east-1:1:container-instance/c/a\"}]");
    cr_assert_eq(sched_ecs_add_tasks(c, t, "tasks.json", &err), SCHED_EINVAL);
    cr_assert_str_eq(err.msg, "tasks.json: tasks[0].group: missing");
    json_decref(t);
    t = doc("{\"tasks\":7}");
    cr_assert_eq(sched_ecs_add_tasks(c, t, "tasks.json", &err), SCHED_EINVAL);
    json_decref(t);
    json_decref(ci);
    sched_cluster_free(c);
}

Test(ecs_json, a_task_definition_reserves_its_task_level_cpu_and_memory_and_claims_host_ports)
{
    json_t *j =
        doc("{\"taskDefinition\":{\"family\":\"web\",\"taskDefinitionArn\":\"arn:td/web:3\",\"cpu\":\"256\","
            "\"containerDefinitions\":[{\"name\":\"web\",\"memoryReservation\":128,\"memory\":512,"
            "\"portMappings\":[{\"containerPort\":80,\"hostPort\":0},{\"containerPort\":53,\"hostPort\":53,\"protocol\":\"udp\"}]},"
            "{\"name\":\"side\",\"memory\":64}],"
            "\"placementConstraints\":[{\"type\":\"memberOf\",\"expression\":\"attribute:x exists\"}]}}");
    sched_ecs_task_def_t *td = calloc(1, sizeof *td);
    sched_err_t err = {0};
    cr_assert_eq(sched_ecs_read_task_definition(j, "td.json", td, &err), SCHED_OK, "%s", err.msg);
    cr_assert_str_eq(td->td.family, "web");
    cr_assert_str_eq(td->arn, "arn:td/web:3");
    cr_assert_eq(td->td.cpu, 256);
    cr_assert_eq(td->td.memory, 128 + 64); /* the soft limit where there is one */
    cr_assert_eq(td->ncontainers, 2);
    cr_assert_eq(td->td.nports, 2);
    cr_assert_eq(td->ports[1].host_port, 53);
    cr_assert_eq(td->ports[1].protocol, SCHED_PROTO_UDP);
    cr_assert_eq(td->nconstraints, 1);
    cr_assert_str_eq(td->constraints[0].expression, "attribute:x exists");
    free(td);
    json_decref(j);
}

static const struct {
    const char *json, *msg;
} bad_task_defs[] = {
    {"[]", "td.json: taskDefinition: expected an object"},
    {"{\"containerDefinitions\":[]}", "td.json: taskDefinition.family: missing"},
    {"{\"family\":\"f\",\"networkMode\":\"nat\"}",
     "td.json: taskDefinition.networkMode: expected bridge, host, awsvpc or none, found nat"},
    {"{\"family\":\"f\",\"containerDefinitions\":[]}", "td.json: taskDefinition.containerDefinitions: expected a non-empty array"},
    {"{\"family\":\"f\",\"containerDefinitions\":[{\"memory\":1}]}",
     "td.json: taskDefinition.containerDefinitions[0].name: missing"},
    {"{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"cpu\":-1,\"memory\":1}]}",
     "td.json: taskDefinition.containerDefinitions[0].cpu: expected a non-negative integer"},
    {"{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\"}]}",
     "td.json: taskDefinition: each container needs memory or memoryReservation"},
    {"{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"memory\":1,\"portMappings\":[{\"containerPort\":0}]}]}",
     "td.json: taskDefinition.containerDefinitions[0].portMappings[0].containerPort: expected a port number 1-65535"},
    {"{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"memory\":1,\"portMappings\":[{\"containerPort\":1,\"protocol\":"
     "\"sctp\"}]}]}",
     "td.json: taskDefinition.containerDefinitions[0].portMappings[0].protocol: expected tcp or udp, found sctp"},
    {"{\"family\":\"f\",\"memory\":\"much\",\"containerDefinitions\":[{\"name\":\"a\"}]}",
     "td.json: taskDefinition.memory: expected a non-negative integer"},
    {"{\"family\":\"f\",\"containerDefinitions\":[{\"name\":\"a\",\"memory\":1}],\"placementConstraints\":[{\"type\":"
     "\"distinctInstance\"}]}",
     "td.json: taskDefinition.placementConstraints[0].type: expected memberOf"},
};

Test(ecs_json, task_definitions_that_are_not_what_ecs_sends_fail_with_a_message_naming_the_field)
{
    sched_ecs_task_def_t *td = malloc(sizeof *td);
    for (size_t i = 0; i < sizeof bad_task_defs / sizeof bad_task_defs[0]; i++) {
        memset(td, 0, sizeof *td);
        json_t *j = doc(bad_task_defs[i].json);
        sched_err_t err = {0};
        cr_assert_eq(sched_ecs_read_task_definition(j, "td.json", td, &err), SCHED_EINVAL, "case %zu", i);
        cr_assert(strncmp(err.msg, bad_task_defs[i].msg, strlen(bad_task_defs[i].msg)) == 0, "case %zu: %s", i, err.msg);
        json_decref(j);
    }
    free(td);
}
