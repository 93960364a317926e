/* The agent's reports (scheduler/ecs_agent.c) on a real store in a temp dir,
 * driven as berthd drives them: SubmitTaskStateChange and
 * SubmitContainerStateChange move a task PENDING -> RUNNING -> STOPPED. */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scheduler/scheduler.h"
#include "storage/storage.h"
#include "ecs_fixture.h"

TestSuite(ecs_agent, .init = ecs_fixture_open, .fini = ecs_fixture_close);

static const char TD[] =
    "{\"family\":\"web\",\"containerDefinitions\":[{\"name\":\"app\",\"image\":\"i\",\"cpu\":100,\"memory\":200,"
    "\"portMappings\":[{\"containerPort\":80,\"hostPort\":8080},{\"containerPort\":81}]}]}";

/* a cluster "c" with one instance and a task of TD placed on it; the task's ARN into task */
static char *setup_task(char *task, size_t len)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition", TD));
    json_t *run = ok("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\"}");
    cr_assert_eq(json_array_size(at(run, "tasks")), 1);
    snprintf(task, len, "%s", str(run, "tasks.0.taskArn"));
    json_decref(run);
    return ci;
}

static json_t *describe_task(const char *task)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"tasks\":[\"%s\"]}", task);
    return ok("DescribeTasks", body);
}

static void submit(const char *fmt, const char *task)
{
    char body[2048];
    snprintf(body, sizeof(body), fmt, task);
    json_t *out = ok("SubmitTaskStateChange", body);
    cr_expect_str_eq(str(out, "acknowledgment"), "ACK");
    json_decref(out);
}

Test(ecs_agent, a_task_runs_then_stops_and_gives_its_claims_back)
{
    char task[256];
    char *ci = setup_task(task, sizeof(task));
    env.now += 5;
    submit("{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"RUNNING\",\"pullStartedAt\":1000001,\"pullStoppedAt\":1000003.5,"
           "\"containers\":[{\"containerName\":\"app\",\"status\":\"RUNNING\",\"runtimeId\":\"r1\","
           "\"networkBindings\":[{\"containerPort\":81,\"hostPort\":49160}]}]}",
           task);
    json_t *d = describe_task(task);
    cr_expect_str_eq(str(d, "tasks.0.lastStatus"), "RUNNING");
    cr_expect_str_eq(str(d, "tasks.0.desiredStatus"), "RUNNING");
    cr_expect_eq(num(d, "tasks.0.startedAt"), 1000005);
    cr_expect_eq(num(d, "tasks.0.pullStartedAt"), 1000001);
    cr_expect(json_real_value(at(d, "tasks.0.pullStoppedAt")) == 1000003.5);
    cr_expect_str_eq(str(d, "tasks.0.containers.0.lastStatus"), "RUNNING");
    cr_expect_str_eq(str(d, "tasks.0.containers.0.runtimeId"), "r1");
    cr_expect_eq(num(d, "tasks.0.containers.0.networkBindings.0.hostPort"), 49160);
    cr_expect_str_eq(str(d, "tasks.0.containers.0.networkBindings.0.protocol"), "tcp");
    cr_expect_null(json_object_get(json_array_get(json_object_get(d, "tasks"), 0), "released"), "internal fields stay inside");
    json_decref(d);
    /* the same report again is accepted and changes nothing that matters */
    submit("{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"RUNNING\"}", task);

    json_t *in = describe_instance("c", ci);
    cr_expect_eq(num(in, "containerInstances.0.runningTasksCount"), 1);
    cr_expect_eq(num(in, "containerInstances.0.remainingResources.0.integerValue"), 924);
    json_decref(in);

    env.now += 10;
    submit("{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"STOPPED\",\"reason\":\"Essential container in task exited\","
           "\"containers\":[{\"containerName\":\"app\",\"status\":\"STOPPED\",\"exitCode\":3}]}",
           task);
    d = describe_task(task);
    cr_expect_str_eq(str(d, "tasks.0.lastStatus"), "STOPPED");
    cr_expect_str_eq(str(d, "tasks.0.desiredStatus"), "STOPPED");
    cr_expect_str_eq(str(d, "tasks.0.stoppedReason"), "Essential container in task exited");
    cr_expect_str_eq(str(d, "tasks.0.stopCode"), "EssentialContainerExited");
    cr_expect_eq(num(d, "tasks.0.stoppedAt"), 1000015);
    cr_expect_eq(num(d, "tasks.0.containers.0.exitCode"), 3);
    json_decref(d);
    in = describe_instance("c", ci);
    cr_expect_eq(num(in, "containerInstances.0.runningTasksCount"), 0);
    cr_expect_eq(num(in, "containerInstances.0.remainingResources.0.integerValue"), 1024);
    cr_expect_eq(num(in, "containerInstances.0.remainingResources.1.integerValue"), 1024);
    cr_expect_eq(json_array_size(at(in, "containerInstances.0.remainingResources.2.stringSetValue")), 1);
    json_decref(in);
    /* the fixed port is free again: the task definition places once more */
    json_t *run = ok("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\"}");
    cr_expect_eq(json_array_size(at(run, "tasks")), 1);
    json_decref(run);
    /* a second STOPPED report gives nothing back twice */
    submit("{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"STOPPED\"}", task);
    in = describe_instance("c", ci);
    cr_expect_eq(num(in, "containerInstances.0.remainingResources.0.integerValue"), 924);
    json_decref(in);
    free(ci);
}

Test(ecs_agent, a_task_never_moves_back)
{
    char task[256], body[1024];
    char *ci = setup_task(task, sizeof(task));
    submit("{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"STOPPED\",\"reason\":\"CannotPullContainerError: denied\"}", task);
    json_t *d = describe_task(task);
    cr_expect_str_eq(str(d, "tasks.0.stoppedReason"), "CannotPullContainerError: denied");
    cr_expect_str_eq(str(d, "tasks.0.stopCode"), "TaskFailedToStart");
    cr_expect_str_eq(str(d, "tasks.0.containers.0.lastStatus"), "STOPPED");
    json_decref(d);
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"RUNNING\"}", task);
    fails("SubmitTaskStateChange", body, "ClientException", "is STOPPED and cannot become RUNNING");
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\",\"containerName\":\"app\",\"status\":\"PENDING\"}", task);
    fails("SubmitContainerStateChange", body, "ClientException", "cannot become PENDING");
    free(ci);
}

Test(ecs_agent, stop_task_then_the_agent_reports_it_stopped)
{
    char task[256], body[1024];
    char *ci = setup_task(task, sizeof(task));
    submit("{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"RUNNING\"}", task);
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\",\"reason\":\"scale down\"}", task);
    json_t *stop = ok("StopTask", body);
    /* a running task stays RUNNING until its agent says it stopped */
    cr_expect_str_eq(str(stop, "task.lastStatus"), "RUNNING");
    cr_expect_str_eq(str(stop, "task.desiredStatus"), "STOPPED");
    json_decref(stop);
    submit("{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"STOPPED\",\"reason\":\"agent's own words\"}", task);
    json_t *d = describe_task(task);
    cr_expect_str_eq(str(d, "tasks.0.lastStatus"), "STOPPED");
    cr_expect_str_eq(str(d, "tasks.0.stoppedReason"), "scale down", "the user's reason stays");
    cr_expect_str_eq(str(d, "tasks.0.stopCode"), "UserInitiated");
    json_decref(d);
    free(ci);
}

Test(ecs_agent, a_container_reports_alone)
{
    char task[256];
    char *ci = setup_task(task, sizeof(task));
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"cluster\":\"c\",\"task\":\"%s\",\"containerName\":\"app\",\"status\":\"RUNNING\",\"exitCode\":0,"
             "\"networkBindings\":[{\"bindIP\":\"127.0.0.1\",\"containerPort\":81,\"hostPort\":40000,\"protocol\":\"udp\"}]}",
             task);
    json_t *out = ok("SubmitContainerStateChange", body);
    cr_expect_str_eq(str(out, "acknowledgment"), "ACK");
    json_decref(out);
    json_t *d = describe_task(task);
    cr_expect_str_eq(str(d, "tasks.0.lastStatus"), "PENDING", "a container's report does not move its task");
    cr_expect_str_eq(str(d, "tasks.0.containers.0.lastStatus"), "RUNNING");
    cr_expect_str_eq(str(d, "tasks.0.containers.0.networkBindings.0.protocol"), "udp");
    json_decref(d);
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\",\"containerName\":\"db\",\"status\":\"RUNNING\"}", task);
    fails("SubmitContainerStateChange", body, "InvalidParameterException", "containerName: the task has no container 'db'");
    free(ci);
}

Test(ecs_agent, bad_reports_are_refused_naming_the_field)
{
    char task[256], body[1024];
    char *ci = setup_task(task, sizeof(task));
    static const struct {
        const char *op, *fmt, *needle;
    } cases[] = {
        {"SubmitTaskStateChange", "{\"cluster\":\"c\"}", "task: required"},
        {"SubmitTaskStateChange", "{\"cluster\":\"c\",\"task\":\"nope\"}", "task: 'nope' is not a task id"},
        {"SubmitTaskStateChange", "{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"DONE\"}", "status: 'DONE' is not one of"},
        {"SubmitTaskStateChange", "{\"cluster\":\"c\",\"task\":\"%s\",\"status\":7}", "status: must be a string"},
        {"SubmitTaskStateChange", "{\"cluster\":\"c\",\"task\":\"%s\",\"pullStartedAt\":\"yesterday\"}",
         "pullStartedAt: must be a"},
        {"SubmitTaskStateChange", "{\"cluster\":\"c\",\"task\":\"%s\",\"pullStoppedAt\":-1}", "pullStoppedAt: -1 is not a time"},
        {"SubmitTaskStateChange", "{\"cluster\":\"c\",\"task\":\"%s\",\"extra\":1}", "extra: unknown"},
        {"SubmitTaskStateChange", "{\"cluster\":\"c\",\"task\":\"%s\",\"containers\":{}}", "containers: must be a list"},
        {"SubmitTaskStateChange", "{\"cluster\":\"c\",\"task\":\"%s\",\"containers\":[{\"status\":\"RUNNING\"}]}",
         "containers[0].containerName: required"},
        {"SubmitTaskStateChange", "{\"cluster\":\"c\",\"task\":\"%s\",\"containers\":[{\"containerName\":\"app\",\"x\":1}]}",
         "containers[0].x: unknown"},
        {"SubmitTaskStateChange",
         "{\"cluster\":\"c\",\"task\":\"%s\",\"containers\":[{\"containerName\":\"app\",\"exitCode\":1.5}]}",
         "containers[0].exitCode: must be an integer"},
        {"SubmitTaskStateChange",
         "{\"cluster\":\"c\",\"task\":\"%s\",\"containers\":[{\"containerName\":\"app\",\"networkBindings\":[{\"hostPort\":70000}]}"
         "]}",
         "containers[0].networkBindings[0].hostPort: 70000 is out of range"},
        {"SubmitTaskStateChange",
         "{\"cluster\":\"c\",\"task\":\"%s\",\"containers\":[{\"containerName\":\"app\",\"networkBindings\":[{\"protocol\":"
         "\"sctp\"}]}]}",
         "protocol: 'sctp' is not tcp or udp"},
        {"SubmitContainerStateChange", "{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"RUNNING\"}", "containerName: required"},
        {"SubmitContainerStateChange", "{\"cluster\":\"c\",\"task\":\"%s\",\"containerName\":\"app\"}", "status: required"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), cases[i].fmt, task);
        fails(cases[i].op, body, "InvalidParameterException", cases[i].needle);
    }
    fails("SubmitTaskStateChange", "{\"cluster\":\"c\",\"task\":\"0123456789abcdef0123456789abcdef\",\"status\":\"RUNNING\"}",
          "InvalidParameterException", "task was not found");
    fails("SubmitTaskStateChange", "{\"cluster\":\"zz\",\"task\":\"0123456789abcdef0123456789abcdef\"}", "ClusterNotFoundException",
          "zz");
    /* nothing above changed the task */
    json_t *d = describe_task(task);
    cr_expect_str_eq(str(d, "tasks.0.lastStatus"), "PENDING");
    cr_expect_eq(num(d, "tasks.0.version"), 1);
    json_decref(d);
    free(ci);
}

Test(ecs_agent, a_stop_report_keeps_runtasks_cache_right)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition", TD));
    sched_ecs_cache_t *cache = sched_ecs_cache_new();
    cr_assert_not_null(cache);
    sched_ecs_err_t err;
    json_t *run = call_on(st, cache, "RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\"}", &err);
    cr_assert_not_null(run);
    char body[1024];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"STOPPED\"}", str(run, "tasks.0.taskArn"));
    json_decref(run);
    json_t *out = call_on(st, cache, "SubmitTaskStateChange", body, &err);
    cr_assert_not_null(out, "%s", err.msg);
    json_decref(out);
    /* the port 8080 is free again, in the cache as in the store */
    run = call_on(st, cache, "RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\"}", &err);
    cr_assert_not_null(run);
    cr_expect_eq(json_array_size(at(run, "tasks")), 1);
    json_decref(run);
    uint64_t loads, hits;
    sched_ecs_cache_stats(cache, &loads, &hits);
    cr_expect_eq(loads, 1, "the stop report kept the cache warm");
    cr_expect_eq(hits, 1);
    sched_ecs_cache_free(cache);
    free(ci);
}

/* ------------------------------------------------------------ the poll */

static json_t *poll_work(const char *ci, const char *known)
{
    char body[4096];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"containerInstance\":\"%s\",\"knownTasks\":[%s],\"waitSeconds\":0}", ci,
             known);
    return ok("BerthPollWork", body);
}

Test(ecs_agent, the_poll_hands_out_new_tasks_then_the_ones_to_stop)
{
    char task[256], body[1024], quoted[300];
    char *ci = setup_task(task, sizeof(task));
    char *other = register_instance("c", "az-2", 1024, 1024);
    /* the task is new to the agent: it comes with what it needs to start */
    json_t *w = poll_work(ci, "");
    cr_assert_eq(json_array_size(at(w, "tasks")), 1);
    cr_expect_str_eq(str(w, "tasks.0.taskArn"), task);
    cr_expect_str_eq(str(w, "tasks.0.containers.0.image"), "i");
    cr_expect_eq(num(w, "tasks.0.containers.0.memory"), 200);
    cr_expect_eq(num(w, "tasks.0.containers.0.networkBindings.0.hostPort"), 8080);
    cr_expect_str_eq(str(w, "tasks.0.networkMode"), "bridge"); /* the definition's (defaulted): a Docker runtime needs it */
    cr_expect_eq(json_array_size(at(w, "stopTasks")), 0);
    cr_expect_str_eq(str(w, "containerInstanceArn"), ci);
    json_decref(w);
    /* another instance has nothing */
    w = poll_work(other, "");
    cr_expect_eq(json_array_size(at(w, "tasks")), 0);
    json_decref(w);
    /* known: nothing new, nothing to stop */
    snprintf(quoted, sizeof(quoted), "\"%s\"", task);
    w = poll_work(ci, quoted);
    cr_expect_eq(json_array_size(at(w, "tasks")), 0);
    cr_expect_eq(json_array_size(at(w, "stopTasks")), 0);
    json_decref(w);
    submit("{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"RUNNING\"}", task);
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\"}", task);
    json_decref(ok("StopTask", body));
    /* stop requested: the agent is told */
    w = poll_work(ci, quoted);
    cr_expect_eq(json_array_size(at(w, "tasks")), 0);
    cr_assert_eq(json_array_size(at(w, "stopTasks")), 1);
    cr_expect_str_eq(str(w, "stopTasks.0"), task);
    json_decref(w);
    /* a task the cluster does not hold is to be stopped too */
    w = poll_work(ci, "\"0123456789abcdef0123456789abcdef\"");
    cr_assert_eq(json_array_size(at(w, "stopTasks")), 1);
    cr_expect_str_eq(str(w, "stopTasks.0"), "0123456789abcdef0123456789abcdef");
    json_decref(w);
    /* a stopped task is not handed out again to an agent that forgot it */
    submit("{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"STOPPED\"}", task);
    w = poll_work(ci, "");
    cr_expect_eq(json_array_size(at(w, "tasks")), 0);
    json_decref(w);
    free(ci);
    free(other);
}

Test(ecs_agent, the_poll_of_an_unregistered_instance_is_refused)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    fails("BerthPollWork", "{\"cluster\":\"c\",\"containerInstance\":\"0123456789abcdef0123456789abcdef\"}", "ClientException",
          "is not registered in cluster c");
    fails("BerthPollWork", "{\"cluster\":\"c\"}", "InvalidParameterException", "containerInstance: required");
    fails("BerthPollWork", "{\"cluster\":\"c\",\"containerInstance\":\"0123456789abcdef0123456789abcdef\",\"waitSeconds\":21}",
          "InvalidParameterException", "waitSeconds: 21 is out of range");
    fails("BerthPollWork", "{\"cluster\":\"c\",\"containerInstance\":\"0123456789abcdef0123456789abcdef\",\"layers\":[\"md5:x\"]}",
          "InvalidParameterException", "layers[0]: not a digest");
    fails("BerthPollWork", "{\"cluster\":\"c\",\"containerInstance\":\"0123456789abcdef0123456789abcdef\",\"knownTasks\":[3]}",
          "InvalidParameterException", "knownTasks[0]: not a task id");
    sched_ecs_request_t *r;
    sched_ecs_err_t err;
    json_t *b = json_pack("{s:s,s:s}", "cluster", "c", "containerInstance", "0123456789abcdef0123456789abcdef");
    cr_assert_eq(sched_ecs_prepare("BerthPollWork", b, &env, &r, &err), 0);
    cr_expect_str_eq(sched_ecs_request_action(r), "ecs:Poll");
    cr_expect_str_eq(sched_ecs_request_resource(r, 0),
                     "arn:aws:ecs:us-east-1:123456789012:container-instance/c/0123456789abcdef0123456789abcdef");
    cr_expect_not(sched_ecs_request_writes(r));
    const char *cluster;
    char id[40];
    int wait;
    cr_expect(sched_ecs_poll_target(r, &cluster, id, &wait));
    cr_expect_str_eq(cluster, "c");
    cr_expect_str_eq(id, "0123456789abcdef0123456789abcdef");
    cr_expect_eq(wait, -1);
    sched_ecs_request_free(r);
    json_decref(b);
}

/* ------------------------------------------------ heartbeats, lost tasks */

static int64_t memory_seen;
static int64_t last_seen(void *ctx, const char *cluster, const char *id)
{
    (void)ctx;
    (void)cluster;
    (void)id;
    return memory_seen;
}

typedef struct {
    int which; /* 0 heartbeat, 1 mark lost */
    const char *cluster, *id;
    json_t *layers, *found;
    size_t stopped;
    int rc;
} direct_t;

static storage_status_t direct(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    (void)serr;
    direct_t *d = ctx;
    sched_ecs_err_t err;
    d->rc = d->which == 0 ? sched_ecs_record_heartbeat(rs, d->cluster, d->id, env.now, d->layers, &err)
                          : sched_ecs_mark_lost(rs, &env, d->found, &d->stopped, &err);
    return d->rc < 0 ? STORAGE_INVALID : STORAGE_OK;
}

static void run_direct(direct_t *d)
{
    storage_op_t sop;
    storage_op_init(&sop, STORAGE_OP_RECORDS);
    sop.records_fn = direct;
    sop.records_ctx = d;
    cr_assert_eq(storage_execute(st, &sop), STORAGE_OK, "%s", sop.err.msg);
}

static json_t *find_lost(void)
{
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    json_t *found;
    sched_ecs_err_t err;
    cr_assert_eq(sched_ecs_find_lost(storage_reader_records(rd), &env, &found, &err), 0, "%s", err.msg);
    storage_reader_end(rd);
    return found;
}

Test(ecs_agent, an_in_memory_heartbeat_keeps_the_agent_connected_and_a_stored_one_survives)
{
    char task[256];
    char *ci = setup_task(task, sizeof(task));
    env.last_seen = last_seen;
    env.now += env.agent_timeout + 10;
    memory_seen = 0;
    json_t *d = describe_instance("c", ci);
    cr_expect(json_is_false(at(d, "containerInstances.0.agentConnected")));
    json_decref(d);
    memory_seen = env.now - 1;
    d = describe_instance("c", ci);
    cr_expect(json_is_true(at(d, "containerInstances.0.agentConnected")), "the heartbeat in memory counts");
    json_decref(d);
    /* RunTask's cache asks too: no AGENT failure */
    sched_ecs_cache_t *cache = sched_ecs_cache_new();
    sched_ecs_err_t err;
    json_t *run = call_on(st, cache, "RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\",\"count\":2}", &err);
    cr_assert_not_null(run, "%s", err.msg);
    cr_expect_eq(json_array_size(at(run, "tasks")), 0);
    cr_expect_str_eq(str(run, "failures.0.reason"), "RESOURCE:PORTS", "connected: placement got as far as the ports");
    json_decref(run);
    memory_seen = 0;
    run = call_on(st, cache, "RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\"}", &err);
    cr_expect_str_eq(str(run, "failures.0.reason"), "AGENT", "a cached model follows the heartbeats too");
    json_decref(run);
    /* the coarse write: heartbeatAt and the layers, and no new token (the cache stays warm) */
    direct_t h = {.which = 0,
                  .cluster = "c",
                  .id = strrchr(ci, '/') + 1,
                  .layers = json_pack("[s]", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")};
    run_direct(&h);
    cr_expect_eq(h.rc, 0);
    json_decref(h.layers);
    /* kept in the instance's record for the image-locality strategy to come */
    char key[256];
    snprintf(key, sizeof(key), "i/c/%s", strrchr(ci, '/') + 1);
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    const void *val;
    size_t len;
    cr_assert_eq(storage_record_get(storage_reader_records(rd), SCHED_ECS_SPACE, key, &val, &len, NULL), STORAGE_OK);
    json_t *rec = json_loadb(val, len, 0, NULL);
    storage_reader_end(rd);
    cr_expect_str_eq(str(rec, "agentLayers.0"), "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    cr_expect_eq(num(rec, "heartbeatAt"), env.now);
    json_decref(rec);
    d = describe_instance("c", ci);
    cr_expect(json_is_true(at(d, "containerInstances.0.agentConnected")), "the stored heartbeat counts");
    cr_expect_null(json_object_get(json_array_get(json_object_get(d, "containerInstances"), 0), "agentLayers"));
    json_decref(d);
    uint64_t loads, hits;
    sched_ecs_cache_stats(cache, &loads, &hits);
    run = call_on(st, cache, "RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\"}", &err);
    json_decref(run);
    uint64_t loads2, hits2;
    sched_ecs_cache_stats(cache, &loads2, &hits2);
    cr_expect_eq(loads2, loads, "a heartbeat write keeps RunTask's cache");
    sched_ecs_cache_free(cache);
    h = (direct_t){.which = 0, .cluster = "c", .id = "0123456789abcdef0123456789abcdef"};
    run_direct(&h);
    cr_expect_eq(h.rc, 1, "an unknown instance is not written");
    env.last_seen = NULL;
    free(ci);
}

Test(ecs_agent, tasks_of_a_silent_instance_are_lost_after_the_timeout)
{
    char task[256];
    char *ci = setup_task(task, sizeof(task));
    submit("{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"RUNNING\"}", task);
    env.task_lost_timeout = 120;
    env.last_seen = last_seen;
    memory_seen = 0;
    env.now += 120;
    json_t *found = find_lost();
    cr_expect_eq(json_array_size(found), 0, "not past the timeout yet");
    json_decref(found);
    env.now += 1;
    found = find_lost();
    cr_assert_eq(json_array_size(found), 1);
    cr_expect_str_eq(json_string_value(json_array_get(json_array_get(found, 0), 0)), "c");
    /* a heartbeat between the scan and the write: not lost after all */
    memory_seen = env.now;
    direct_t m = {.which = 1, .found = found};
    run_direct(&m);
    cr_expect_eq(m.stopped, 0);
    memory_seen = 0;
    run_direct(&m);
    cr_expect_eq(m.stopped, 1);
    run_direct(&m);
    cr_expect_eq(m.stopped, 0, "marked once");
    json_decref(found);
    json_t *d = describe_task(task);
    cr_expect_str_eq(str(d, "tasks.0.lastStatus"), "STOPPED");
    cr_expect_str_eq(str(d, "tasks.0.desiredStatus"), "STOPPED");
    cr_expect_str_eq(str(d, "tasks.0.stoppedReason"), SCHED_ECS_LOST_REASON);
    cr_expect_str_eq(str(d, "tasks.0.stopCode"), "TerminationNotice");
    json_decref(d);
    json_t *in = describe_instance("c", ci);
    cr_expect_eq(num(in, "containerInstances.0.remainingResources.0.integerValue"), 1024, "claims released");
    json_decref(in);
    found = find_lost();
    cr_expect_eq(json_array_size(found), 0, "nothing left to mark");
    json_decref(found);
    /* the agent comes back and reports RUNNING: refused, and it is told to stop */
    char body[512];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"RUNNING\"}", task);
    fails("SubmitTaskStateChange", body, "ClientException", "Task lost");
    env.last_seen = NULL;
    free(ci);
}

/* ------------------------------------------------ STOPPED tasks' retention */

typedef struct {
    const json_t *found;
    int64_t retention;
    size_t deleted;
} expire_ctx_t;

static storage_status_t expire_direct(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    (void)serr;
    expire_ctx_t *e = ctx;
    sched_ecs_err_t err;
    return sched_ecs_delete_expired(rs, env.now, e->retention, e->found, &e->deleted, &err) ? STORAGE_INVALID : STORAGE_OK;
}

static json_t *find_expired(int64_t retention, size_t max)
{
    storage_reader_t *rd = storage_reader_begin(st, NULL);
    json_t *found;
    sched_ecs_err_t err;
    cr_assert_eq(sched_ecs_find_expired(storage_reader_records(rd), env.now, retention, max, &found, &err), 0, "%s", err.msg);
    storage_reader_end(rd);
    return found;
}

static size_t delete_expired(const json_t *found, int64_t retention)
{
    expire_ctx_t e = {.found = found, .retention = retention};
    storage_op_t sop;
    storage_op_init(&sop, STORAGE_OP_RECORDS);
    sop.records_fn = expire_direct;
    sop.records_ctx = &e;
    cr_assert_eq(storage_execute(st, &sop), STORAGE_OK, "%s", sop.err.msg);
    return e.deleted;
}

Test(ecs_agent, a_stopped_task_is_kept_for_the_retention_then_deleted_and_live_ones_never)
{
    char task[256];
    char *ci = setup_task(task, sizeof(task));
    char *more[3];
    for (int i = 0; i < 3; i++)
        more[i] = register_instance("c", "az-1", 1024, 1024);
    /* a fixed host port: one task per instance */
    json_t *run = ok("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\",\"count\":3}");
    cr_assert_eq(json_array_size(at(run, "tasks")), 3);
    /* one RUNNING task stopped by its agent, one PENDING one stopped by StopTask, two live */
    submit("{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"RUNNING\"}", task);
    submit("{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"STOPPED\",\"reason\":\"done\"}", task);
    char body[512];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\"}", str(run, "tasks.0.taskArn"));
    json_decref(ok("StopTask", body));
    env.now += 3600;
    json_t *found = find_expired(3600, 100);
    cr_expect_eq(json_array_size(found), 2, "stopped exactly an hour ago: expired");
    json_decref(found);
    found = find_expired(3601, 100);
    cr_expect_eq(json_array_size(found), 0, "a second short of the retention");
    json_decref(found);
    /* a bounded batch: one at a time */
    found = find_expired(3600, 1);
    cr_assert_eq(json_array_size(found), 1);
    cr_expect_eq(delete_expired(found, 3600), 1);
    cr_expect_eq(delete_expired(found, 3600), 0, "deleted once");
    json_decref(found);
    found = find_expired(3600, 100);
    cr_assert_eq(json_array_size(found), 1);
    cr_expect_eq(delete_expired(found, 7200), 0, "checked again against the retention when deleting");
    cr_expect_eq(delete_expired(found, 3600), 1);
    json_decref(found);
    /* ECS's answer for a task it no longer holds; the live ones are still there, claims intact */
    json_t *d = describe_task(task);
    cr_expect_eq(json_array_size(at(d, "tasks")), 0);
    cr_expect_str_eq(str(d, "failures.0.reason"), "MISSING");
    json_decref(d);
    json_t *list = ok("ListTasks", "{\"cluster\":\"c\"}");
    cr_expect_eq(json_array_size(at(list, "taskArns")), 2);
    json_decref(list);
    int64_t remaining = 0;
    for (int i = 0; i < 3; i++) {
        json_t *in = describe_instance("c", more[i]);
        remaining += num(in, "containerInstances.0.remainingResources.0.integerValue");
        json_decref(in);
        free(more[i]);
    }
    cr_expect_eq(remaining, 3 * 1024 - 2 * 100, "the live tasks' claims are intact");
    found = find_expired(1, 100);
    cr_expect_eq(json_array_size(found), 0, "live tasks never expire");
    json_decref(found);
    /* a record named in a batch that is not a task (or is gone) is left alone */
    json_t *bogus = json_pack("[ss]", "c/c", "t/c/nope");
    cr_expect_eq(delete_expired(bogus, 1), 0);
    json_decref(bogus);
    json_t *cl = ok("DescribeClusters", "{\"clusters\":[\"c\"]}");
    cr_expect_str_eq(str(cl, "clusters.0.status"), "ACTIVE");
    cr_expect_eq(num(cl, "clusters.0.runningTasksCount") + num(cl, "clusters.0.pendingTasksCount"), 2);
    json_decref(cl);
    json_decref(run);
    free(ci);
}

/* ------------------------------------------------ RunTask's clientToken */

Test(ecs_agent, a_client_token_answers_its_run_again_for_24_hours_then_its_record_is_swept)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition", TD));
    static const char RUN[] = "{\"cluster\":\"c\",\"taskDefinition\":\"web\",\"clientToken\":\"tok-1\"}";
    json_t *first = ok("RunTask", RUN);
    cr_assert_eq(json_array_size(at(first, "tasks")), 1);
    /* the same request (keys in another order) under the token: the same task, nothing placed */
    env.now += 60;
    json_t *again = ok("RunTask", "{\"clientToken\":\"tok-1\",\"taskDefinition\":\"web\",\"cluster\":\"c\"}");
    cr_assert_eq(json_array_size(at(again, "tasks")), 1);
    cr_expect_str_eq(str(again, "tasks.0.taskArn"), str(first, "tasks.0.taskArn"));
    json_t *in = describe_instance("c", ci);
    cr_expect_eq(num(in, "containerInstances.0.remainingResources.0.integerValue"), 1024 - 100, "placed once");
    json_decref(in);
    /* another request under it */
    fails("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\",\"clientToken\":\"tok-1\",\"count\":2}", "ConflictException",
          str(first, "tasks.0.taskArn"));
    /* a replay shows the task as it is now */
    char body[512];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\"}", str(first, "tasks.0.taskArn"));
    json_decref(ok("StopTask", body));
    json_t *stopped = ok("RunTask", RUN);
    cr_expect_str_eq(str(stopped, "tasks.0.desiredStatus"), "STOPPED");
    json_decref(stopped);
    /* in force for 24 hours from the first run, then swept, and the token is new again */
    env.now += SCHED_ECS_RUN_TOKEN_TTL - 61;
    json_t *found = find_expired(1000000, 100);
    cr_expect_eq(json_array_size(found), 0, "a second short of 24 hours");
    json_decref(found);
    env.now += 1;
    found = find_expired(1000000, 100);
    cr_assert_eq(json_array_size(found), 1);
    cr_expect_str_eq(json_string_value(json_array_get(found, 0)), "k/c/tok-1");
    cr_expect_eq(delete_expired(found, 1000000), 1);
    cr_expect_eq(delete_expired(found, 1000000), 0, "deleted once");
    json_decref(found);
    char *later = register_instance("c", "az-1", 1024, 1024); /* the first one's agent has been silent for a day */
    json_t *fresh = ok("RunTask", RUN);
    cr_assert_eq(json_array_size(at(fresh, "tasks")), 1);
    cr_expect_str_neq(str(fresh, "tasks.0.taskArn"), str(first, "tasks.0.taskArn"), "a new run after 24 hours");
    cr_expect_str_eq(str(fresh, "tasks.0.containerInstanceArn"), later);
    json_decref(fresh);
    free(later);
    /* malformed tokens */
    fails("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\",\"clientToken\":\"a b\"}", "InvalidParameterException",
          "clientToken");
    fails("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\",\"clientToken\":\"\"}", "InvalidParameterException",
          "clientToken");
    fails("RunTask",
          "{\"cluster\":\"c\",\"taskDefinition\":\"web\",\"clientToken\":"
          "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
          "InvalidParameterException", "clientToken");
    fails("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\",\"clientToken\":7}", "InvalidParameterException",
          "clientToken");
    json_decref(again);
    json_decref(first);
    free(ci);
}

/* ------------------------------------------------ image locality */

static const char *holder_id; /* the instance id whose agent holds the image */

static int fake_image_layers(void *ctx, const char *image, json_t **layers)
{
    (void)ctx;
    if (strcmp(image, "i") != 0)
        return 1;
    *layers = json_pack("[{s:s,s:i},{s:s,s:i}]", "digest", "sha256:aa", "size", 300, "digest", "sha256:bb", "size", 700);
    return *layers ? 0 : SCHED_ENOMEM;
}

static bool fake_layer_held(void *ctx, const char *cluster, const char *id, const char *digest)
{
    (void)ctx;
    return strcmp(cluster, "c") == 0 && holder_id && strcmp(id, holder_id) == 0 && strcmp(digest, "sha256:bb") == 0;
}

Test(ecs_agent, binpack_image_places_where_the_agent_holds_the_most_image_bytes)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci[4];
    for (int i = 0; i < 4; i++)
        ci[i] = register_instance("c", "az-1", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition", "{\"family\":\"img\",\"containerDefinitions\":[{\"name\":\"app\",\"image\":\"i\","
                                             "\"cpu\":100,\"memory\":100}]}"));
    env.image_layers = fake_image_layers;
    env.layer_held = fake_layer_held;
    for (int pick = 0; pick < 4; pick++) {
        holder_id = strrchr(ci[pick], '/') + 1;
        json_t *run = ok("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"img\",\"count\":2,"
                                    "\"placementStrategy\":[{\"type\":\"binpack\",\"field\":\"image\"}]}");
        cr_assert_eq(json_array_size(at(run, "tasks")), 2);
        cr_expect_str_eq(str(run, "tasks.0.containerInstanceArn"), ci[pick], "the instance holding 700 of 1000 bytes");
        cr_expect_str_eq(str(run, "tasks.1.containerInstanceArn"), ci[pick]);
        json_decref(run);
    }
    /* without the hooks the strategy is a tie, never a failure */
    env.image_layers = NULL;
    env.layer_held = NULL;
    json_t *run = ok("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"img\","
                                "\"placementStrategy\":[{\"type\":\"binpack\",\"field\":\"image\"}]}");
    cr_expect_eq(json_array_size(at(run, "tasks")), 1);
    json_decref(run);
    fails("RunTask",
          "{\"cluster\":\"c\",\"taskDefinition\":\"img\",\"placementStrategy\":[{\"type\":\"spread\",\"field\":\"image\"}]}",
          "InvalidParameterException", "image");
    holder_id = NULL;
    for (int i = 0; i < 4; i++)
        free(ci[i]);
}
