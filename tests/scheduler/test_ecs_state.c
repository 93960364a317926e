/* The ECS API's state transitions (scheduler/ecs_state.c) on a real store in
 * a temp dir: writes run in one STORAGE_OP_RECORDS closure as berthd runs
 * them, reads on a snapshot. The clock and the seed are the test's. */
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

TestSuite(ecs_state, .init = ecs_fixture_open, .fini = ecs_fixture_close);

static const char TD[] =
    "{\"family\":\"web\",\"containerDefinitions\":[{\"name\":\"app\",\"image\":\"i\",\"cpu\":100,\"memory\":200,"
    "\"portMappings\":[{\"containerPort\":80,\"hostPort\":8080},{\"containerPort\":81}]}]}";

Test(ecs_state, operations_on_a_missing_cluster_are_ClusterNotFoundException)
{
    fails("RegisterContainerInstance", "{\"cluster\":\"nope\"}", "ClusterNotFoundException", "nope");
    fails("RunTask", "{\"cluster\":\"nope\",\"taskDefinition\":\"web\"}", "ClusterNotFoundException", "nope");
    fails("ListTasks", "{\"cluster\":\"nope\"}", "ClusterNotFoundException", "nope");
    json_decref(ok("CreateCluster", "{}"));
    json_t *out = ok("DescribeClusters", "{}");
    cr_expect_str_eq(str(out, "clusters.0.clusterArn"), "arn:aws:ecs:us-east-1:123456789012:cluster/default");
    json_decref(out);
}

Test(ecs_state, a_placement_claims_cpu_memory_and_ports_and_stop_task_gives_them_back)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition", TD));
    json_t *run = ok("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\"}");
    cr_assert_eq(json_array_size(at(run, "tasks")), 1);
    cr_expect_str_eq(str(run, "tasks.0.containerInstanceArn"), ci);
    cr_expect_str_eq(str(run, "tasks.0.lastStatus"), "PENDING");
    cr_expect_eq(num(run, "tasks.0.containers.0.networkBindings.0.hostPort"), 8080);
    cr_expect_eq(num(run, "tasks.0.containers.0.networkBindings.1.hostPort"), SCHED_DYNAMIC_PORT_FIRST);
    char task[256];
    snprintf(task, sizeof(task), "%s", str(run, "tasks.0.taskArn"));
    json_decref(run);

    json_t *d = describe_instance("c", ci);
    cr_expect_eq(num(d, "containerInstances.0.remainingResources.0.integerValue"), 924);
    cr_expect_eq(num(d, "containerInstances.0.remainingResources.1.integerValue"), 824);
    cr_expect_eq(json_array_size(at(d, "containerInstances.0.remainingResources.2.stringSetValue")), 3);
    cr_expect_eq(num(d, "containerInstances.0.pendingTasksCount"), 1);
    json_decref(d);

    /* the fixed port is taken: a second task cannot be placed */
    run = ok("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\"}");
    cr_expect_eq(json_array_size(at(run, "tasks")), 0);
    cr_expect_str_eq(str(run, "failures.0.reason"), "RESOURCE:PORTS");
    json_decref(run);

    char body[512];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\",\"reason\":\"done\"}", task);
    json_t *stop = ok("StopTask", body);
    cr_expect_str_eq(str(stop, "task.desiredStatus"), "STOPPED");
    cr_expect_str_eq(str(stop, "task.lastStatus"), "STOPPED");
    cr_expect_str_eq(str(stop, "task.stoppedReason"), "done");
    json_decref(stop);
    /* stopping again changes nothing and gives nothing back twice */
    json_decref(ok("StopTask", body));
    d = describe_instance("c", ci);
    cr_expect_eq(num(d, "containerInstances.0.remainingResources.0.integerValue"), 1024);
    cr_expect_eq(num(d, "containerInstances.0.remainingResources.1.integerValue"), 1024);
    cr_expect_eq(json_array_size(at(d, "containerInstances.0.remainingResources.2.stringSetValue")), 1);
    cr_expect_eq(num(d, "containerInstances.0.pendingTasksCount"), 0);
    json_decref(d);
    free(ci);
}

Test(ecs_state, an_agent_silent_past_the_timeout_is_disconnected_and_gets_no_tasks)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition", TD));
    env.now += env.agent_timeout; /* still within the timeout */
    json_t *d = describe_instance("c", ci);
    cr_expect(json_is_true(at(d, "containerInstances.0.agentConnected")));
    json_decref(d);
    env.now += 1;
    d = describe_instance("c", ci);
    cr_expect(json_is_false(at(d, "containerInstances.0.agentConnected")));
    json_decref(d);
    json_t *run = ok("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\"}");
    cr_expect_eq(json_array_size(at(run, "tasks")), 0);
    cr_expect_str_eq(str(run, "failures.0.reason"), "AGENT");
    json_decref(run);
    /* registering again (same ARN) is a heartbeat: connected again, same id */
    char body[512];
    snprintf(body, sizeof(body),
             "{\"cluster\":\"c\",\"containerInstanceArn\":\"%s\",\"totalResources\":["
             "{\"name\":\"CPU\",\"integerValue\":1024},{\"name\":\"MEMORY\",\"integerValue\":1024}]}",
             ci);
    json_t *re = ok("RegisterContainerInstance", body);
    cr_expect_str_eq(str(re, "containerInstance.containerInstanceArn"), ci);
    cr_expect(json_is_true(at(re, "containerInstance.agentConnected")));
    json_decref(re);
    free(ci);
}

Test(ecs_state, revisions_count_up_per_family_and_an_inactive_one_cannot_run)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    for (int i = 1; i <= 3; i++) {
        json_t *out = ok("RegisterTaskDefinition", TD);
        cr_expect_eq(num(out, "taskDefinition.revision"), i);
        json_decref(out);
    }
    json_t *out = ok("DeregisterTaskDefinition", "{\"taskDefinition\":\"web:3\"}");
    cr_expect_str_eq(str(out, "taskDefinition.status"), "INACTIVE");
    json_decref(out);
    out = ok("DescribeTaskDefinition", "{\"taskDefinition\":\"web\"}");
    cr_expect_eq(num(out, "taskDefinition.revision"), 2, "the latest ACTIVE revision");
    json_decref(out);
    fails("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web:3\"}", "ClientException", "inactive");
    fails("DescribeTaskDefinition", "{\"taskDefinition\":\"web:9\"}", "ClientException", "web:9");
    out = ok("RegisterTaskDefinition", TD);
    cr_expect_eq(num(out, "taskDefinition.revision"), 4, "a deregistered revision's number is never reused");
    json_decref(out);
}

Test(ecs_state, a_refused_operation_leaves_nothing_behind)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition", TD));
    json_decref(ok("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\"}"));
    fails("DeleteCluster", "{\"cluster\":\"c\"}", "ClusterContainsContainerInstancesException", "1 registered");
    char body[512];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"containerInstance\":\"%s\"}", ci);
    fails("DeregisterContainerInstance", body, "InvalidParameterException", "force");
    json_t *out = ok("DescribeClusters", "{\"clusters\":[\"c\"]}");
    cr_expect_eq(num(out, "clusters.0.registeredContainerInstancesCount"), 1);
    cr_expect_eq(num(out, "clusters.0.pendingTasksCount"), 1);
    json_decref(out);
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"containerInstance\":\"%s\",\"force\":true}", ci);
    json_decref(ok("DeregisterContainerInstance", body));
    out = ok("DeleteCluster", "{\"cluster\":\"c\"}");
    cr_expect_str_eq(str(out, "cluster.status"), "INACTIVE");
    json_decref(out);
    out = ok("ListClusters", "{}");
    cr_expect_eq(json_array_size(at(out, "clusterArns")), 0);
    json_decref(out);
    free(ci);
}

Test(ecs_state, list_pages_with_tokens_until_the_end)
{
    for (int i = 0; i < 5; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"clusterName\":\"c%d\"}", i);
        json_decref(ok("CreateCluster", body));
    }
    json_t *p1 = ok("ListClusters", "{\"maxResults\":2}");
    cr_expect_eq(json_array_size(at(p1, "clusterArns")), 2);
    char body[64];
    snprintf(body, sizeof(body), "{\"maxResults\":2,\"nextToken\":\"%s\"}", str(p1, "nextToken"));
    json_t *p2 = ok("ListClusters", body);
    snprintf(body, sizeof(body), "{\"maxResults\":2,\"nextToken\":\"%s\"}", str(p2, "nextToken"));
    json_t *p3 = ok("ListClusters", body);
    cr_expect_eq(json_array_size(at(p3, "clusterArns")), 1);
    cr_expect_null(json_object_get(p3, "nextToken"));
    cr_expect_str_eq(str(p3, "clusterArns.0"), "arn:aws:ecs:us-east-1:123456789012:cluster/c4");
    json_decref(p1);
    json_decref(p2);
    json_decref(p3);
    /* maxResults null is absent: the default page, not an empty one that names itself as the next */
    json_t *all = ok("ListClusters", "{\"maxResults\":null}");
    cr_expect_eq(json_array_size(at(all, "clusterArns")), 5);
    cr_expect_null(json_object_get(all, "nextToken"));
    json_decref(all);
    json_decref(ok("RegisterTaskDefinition", TD));
    json_decref(ok("CreateService", "{\"cluster\":\"c0\",\"serviceName\":\"s\",\"taskDefinition\":\"web\",\"desiredCount\":0}"));
    all = ok("ListServices", "{\"cluster\":\"c0\",\"maxResults\":null}");
    cr_expect_eq(json_array_size(at(all, "serviceArns")), 1);
    cr_expect_null(json_object_get(all, "nextToken"));
    json_decref(all);
}

static storage_status_t put_garbage(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    (void)ctx;
    return storage_record_put(rs, SCHED_ECS_SPACE, "c/broken", "{not json", 9, false, err);
}

Test(ecs_state, a_damaged_record_is_a_server_error_naming_it)
{
    storage_op_t op;
    storage_op_init(&op, STORAGE_OP_RECORDS);
    op.records_fn = put_garbage;
    cr_assert_eq(storage_execute(st, &op), STORAGE_OK);
    sched_ecs_err_t err = {0};
    cr_expect_null(call("DescribeClusters", "{\"clusters\":[\"broken\"]}", &err));
    cr_expect_str_eq(err.type, "ServerException");
    cr_expect_eq(err.http_status, 500);
    cr_expect(strstr(err.msg, "c/broken") != NULL, "%s", err.msg);
}

Test(ecs_state, the_same_seed_gives_the_same_ids)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    uint64_t seed = env.seed;
    char *a = register_instance("c", "az-1", 10, 10);
    json_decref(ok("CreateCluster", "{\"clusterName\":\"d\"}"));
    env.seed = seed;
    char *b = register_instance("d", "az-1", 10, 10);
    cr_expect_str_eq(strrchr(a, '/'), strrchr(b, '/'));
    free(a);
    free(b);
}

Test(ecs_state, an_override_must_name_a_container_of_the_task_definition)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition", TD));
    fails("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\",\"overrides\":{\"containerOverrides\":[{\"name\":\"db\"}]}}",
          "InvalidParameterException",
          "overrides.containerOverrides[0].name: arn:aws:ecs:us-east-1:123456789012:task-definition/web:1 has no container 'db'");
    json_t *d = describe_instance("c", ci);
    cr_expect_eq(num(d, "containerInstances.0.pendingTasksCount"), 0, "nothing placed");
    json_decref(d);
    json_t *run =
        ok("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\",\"overrides\":{\"containerOverrides\":[{\"name\":\"app\","
                      "\"command\":[\"x\"]}]}}");
    cr_expect_str_eq(str(run, "tasks.0.overrides.containerOverrides.0.command.0"), "x");
    json_decref(run);
    free(ci);
}

Test(ecs_state, an_instance_holds_a_bounded_number_of_attributes)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024);
    sched_ecs_err_t err = {0};
    json_t *out = NULL;
    int k = 0;
    for (int call_no = 0; call_no < 20; call_no++) {
        char body[2048];
        int n = snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"attributes\":[");
        for (int i = 0; i < 10; i++, k++)
            n += snprintf(body + n, sizeof(body) - (size_t)n, "%s{\"name\":\"a%d\",\"targetId\":\"%s\"}", i ? "," : "", k, ci);
        snprintf(body + n, sizeof(body) - (size_t)n, "]}");
        out = call("PutAttributes", body, &err);
        if (!out)
            break;
        json_decref(out);
    }
    cr_assert_null(out, "20 x 10 attributes were all accepted");
    cr_expect_str_eq(err.type, "AttributeLimitExceededException", "%s", err.msg);
    /* the refused call added none of its ten: 1 from the identity document + 12 x 10 */
    out = ok("ListAttributes", "{\"cluster\":\"c\",\"targetType\":\"container-instance\",\"maxResults\":100}");
    json_decref(out);
    json_t *d = describe_instance("c", ci);
    cr_expect_eq(json_array_size(at(d, "containerInstances.0.attributes")), 121);
    json_decref(d);
    free(ci);
}

Test(ecs_state, a_stopped_task_no_longer_counts_in_its_group)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition",
                   "{\"family\":\"w\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":10}]}"));
    static const char run_body[] =
        "{\"cluster\":\"c\",\"taskDefinition\":\"w\",\"group\":\"g\",\"placementConstraints\":[{\"type\":\"distinctInstance\"}]}";
    json_t *first = ok("RunTask", run_body);
    cr_assert_eq(json_array_size(at(first, "tasks")), 1);
    json_t *second = ok("RunTask", run_body);
    cr_expect_eq(json_array_size(at(second, "tasks")), 0);
    cr_expect_str_eq(str(second, "failures.0.reason"), "DistinctInstance placement constraint unsatisfied.");
    json_decref(second);
    /* the group is what CQL's task:group sees too */
    json_t *l = ok("ListContainerInstances", "{\"cluster\":\"c\",\"filter\":\"task:group == g\"}");
    cr_expect_eq(json_array_size(at(l, "containerInstanceArns")), 1);
    json_decref(l);
    char body[512];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\"}", str(first, "tasks.0.taskArn"));
    json_decref(ok("StopTask", body));
    json_decref(first);
    l = ok("ListContainerInstances", "{\"cluster\":\"c\",\"filter\":\"task:group == g\"}");
    cr_expect_eq(json_array_size(at(l, "containerInstanceArns")), 0);
    json_decref(l);
    json_t *third = ok("RunTask", run_body);
    cr_expect_eq(json_array_size(at(third, "tasks")), 1, "distinctInstance is satisfied again");
    json_decref(third);
    free(ci);
}

/* RunTask with a cache answers exactly what it answers without one, through
 * every kind of change the cache must notice (stops, attributes, draining,
 * re-registration, new instances, agents going silent as the clock moves). */
Test(ecs_state, runtask_with_a_cache_answers_as_without_one)
{
    char dir2[256];
    snprintf(dir2, sizeof(dir2), "%s/berth-ecs2-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(dir2));
    storage_err_t serr;
    storage_t *st2 = storage_open(dir2, &(storage_options_t){.map_size = 64u << 20, .no_sync = true}, &serr);
    cr_assert_not_null(st2, "%s", serr.msg);
    sched_ecs_cache_t *cache = sched_ecs_cache_new();
    cr_assert_not_null(cache);
    char ids[64][256];
    size_t nids = 0;
    static char tasks[1024][256];
    size_t ntasks = 0;
    /* each step runs on both stores with the same seed and clock */
#define BOTH(op, body)                                                                                                             \
    do {                                                                                                                           \
        uint64_t seed = env.seed;                                                                                                  \
        sched_ecs_err_t e1 = {0}, e2 = {0};                                                                                        \
        json_t *a = call_on(st, NULL, op, body, &e1);                                                                              \
        env.seed = seed;                                                                                                           \
        json_t *b = call_on(st2, cache, op, body, &e2);                                                                            \
        char *sa = a ? json_dumps(a, JSON_SORT_KEYS) : strdup(e1.msg), *sb = b ? json_dumps(b, JSON_SORT_KEYS) : strdup(e2.msg);   \
        cr_assert_str_eq(sb, sa, "%s %s differs with the cache", op, body);                                                        \
        free(sa);                                                                                                                  \
        free(sb);                                                                                                                  \
        json_decref(b);                                                                                                            \
        last = a;                                                                                                                  \
        snprintf(last_err, sizeof(last_err), "%s", e1.msg);                                                                        \
    } while (0)
    json_t *last = NULL;
    char body[1024], last_err[512] = "";
    BOTH("CreateCluster", "{\"clusterName\":\"c\"}");
    json_decref(last);
    BOTH("RegisterTaskDefinition",
         "{\"family\":\"w\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"cpu\":64,"
         "\"memory\":96,\"portMappings\":[{\"containerPort\":80},{\"containerPort\":81,\"hostPort\":9000}]}]}");
    json_decref(last);
    BOTH("RegisterTaskDefinition", "{\"family\":\"v\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":64,"
                                   "\"portMappings\":[{\"containerPort\":53,\"protocol\":\"udp\"}]}]}");
    json_decref(last);
    BOTH("RegisterTaskDefinition", "{\"family\":\"u\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"cpu\":200,"
                                   "\"memory\":128}]}");
    json_decref(last);
    /* instances small enough that memory, CPU and port 9000 all run out, so that
     * every failure's detail (what remains) shows a model that drifted */
    for (int step = 0; step < 300; step++) {
        env.now += 7;
        if (step % 15 == 0 && nids < 64) { /* a new instance */
            snprintf(body, sizeof(body),
                     "{\"cluster\":\"c\",\"instanceIdentityDocument\":\"{\\\"availabilityZone\\\":\\\"az-%d\\\"}\","
                     "\"totalResources\":[{\"name\":\"CPU\",\"integerValue\":400},{\"name\":\"MEMORY\",\"integerValue\":%d}]}",
                     step % 3, 300 + step * 2);
            BOTH("RegisterContainerInstance", body);
            snprintf(ids[nids++], sizeof(ids[0]), "%s", str(last, "containerInstance.containerInstanceArn"));
            json_decref(last);
        }
        if (step % 2 == 1 && ntasks) { /* stop one */
            snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\"}", tasks[(size_t)step * 7 % ntasks]);
            BOTH("StopTask", body);
            json_decref(last);
        }
        if (step % 9 == 5) { /* drain or undrain one */
            snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"containerInstances\":[\"%s\"],\"status\":\"%s\"}",
                     ids[(size_t)step % nids], step % 2 ? "DRAINING" : "ACTIVE");
            BOTH("UpdateContainerInstancesState", body);
            json_decref(last);
        }
        if (step % 11 == 2) { /* an attribute the constraint below reads */
            snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"attributes\":[{\"name\":\"big\",\"targetId\":\"%s\"}]}",
                     ids[(size_t)step % nids]);
            BOTH(step % 2 ? "PutAttributes" : "DeleteAttributes", body);
            json_decref(last);
        }
        if (step % 13 == 6) { /* a heartbeat: re-registration keeps the agent connected */
            snprintf(body, sizeof(body),
                     "{\"cluster\":\"c\",\"containerInstanceArn\":\"%s\",\"totalResources\":[{\"name\":\"CPU\","
                     "\"integerValue\":400},{\"name\":\"MEMORY\",\"integerValue\":400}]}",
                     ids[(size_t)step % nids]);
            BOTH("RegisterContainerInstance", body);
            json_decref(last);
        }
        const char *second = step % 5 && step % 2 == 0 ? "{\"type\":\"random\"}"
                             : step % 2                ? "{\"type\":\"binpack\",\"field\":\"memory\"}"
                                                       : "{\"type\":\"spread\",\"field\":\"instanceId\"}";
        snprintf(body, sizeof(body),
                 "{\"cluster\":\"c\",\"taskDefinition\":\"%s\",\"count\":%d,\"group\":\"g%d\",\"placementStrategy\":"
                 "[{\"type\":\"spread\",\"field\":\"attribute:ecs.availability-zone\"},%s]%s}",
                 step % 3 == 0   ? "w"
                 : step % 3 == 1 ? "v"
                                 : "u",
                 1 + step % 4, step % 3, second,
                 step % 6 == 1 ? ",\"placementConstraints\":[{\"type\":\"distinctInstance\"},{\"type\":\"memberOf\","
                                 "\"expression\":\"not(attribute:big exists)\"}]"
                               : "");
        BOTH("RunTask", body);
        cr_assert_not_null(last, "RunTask %s failed: %s", body, last_err);
        json_t *t;
        size_t k;
        json_array_foreach(at(last, "tasks"), k, t) if (ntasks < 1024)
            snprintf(tasks[ntasks++], sizeof(tasks[0]), "%s", json_string_value(json_object_get(t, "taskArn")));
        json_decref(last);
    }
    /* and the instances agree at the end */
    int n = snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"containerInstances\":[");
    for (size_t i = 0; i < nids; i++)
        n += snprintf(body + n, sizeof(body) - (size_t)n, "%s\"%s\"", i ? "," : "", strrchr(ids[i], '/') + 1);
    snprintf(body + n, sizeof(body) - (size_t)n, "]}");
    BOTH("DescribeContainerInstances", body);
    json_decref(last);
    uint64_t loads, hits;
    sched_ecs_cache_stats(cache, &loads, &hits);
    cr_expect_gt(hits, 20, "the cache served RunTasks (%llu hits, %llu loads)", (unsigned long long)hits,
                 (unsigned long long)loads);
    cr_expect_gt(loads, 10, "changes made it load again (%llu loads)", (unsigned long long)loads);
    cr_expect_gt(ntasks, 30, "tasks were placed (%zu)", ntasks);
    sched_ecs_cache_free(cache);
    storage_close(st2);
    ecs_fixture_rmtree(dir2);
#undef BOTH
}

Test(ecs_state, a_reregistration_cannot_shrink_below_what_tasks_hold)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *ci = register_instance("c", "az-1", 1024, 1024);
    json_decref(ok("RegisterTaskDefinition", TD));
    json_decref(ok("RunTask", "{\"cluster\":\"c\",\"taskDefinition\":\"web\"}")); /* holds 100 CPU, 200 MiB */
    char body[512];
    snprintf(body, sizeof(body),
             "{\"cluster\":\"c\",\"containerInstanceArn\":\"%s\",\"totalResources\":[{\"name\":\"CPU\",\"integerValue\":1024},"
             "{\"name\":\"MEMORY\",\"integerValue\":150}]}",
             ci);
    fails("RegisterContainerInstance", body, "ClientException", "MEMORY 150 is less than the 200 its tasks hold");
    snprintf(body, sizeof(body),
             "{\"cluster\":\"c\",\"containerInstanceArn\":\"%s\",\"totalResources\":[{\"name\":\"CPU\",\"integerValue\":512},"
             "{\"name\":\"MEMORY\",\"integerValue\":512}]}",
             ci);
    json_t *out = ok("RegisterContainerInstance", body);
    cr_expect_eq(num(out, "containerInstance.remainingResources.0.integerValue"), 412);
    cr_expect_eq(num(out, "containerInstance.remainingResources.1.integerValue"), 312);
    cr_expect_eq(num(out, "containerInstance.pendingTasksCount"), 1);
    json_decref(out);
    free(ci);
}

/* What placement remembers of a cluster (a memberOf expression's result on
 * every instance, spread(attribute:)'s buckets) lives in the writer's cached
 * model, so a change of an instance's registration, attributes or status
 * must not leave it stale: the same RunTask after each change answers on the
 * cached store exactly as on a store without a cache, and lands where the
 * change says. */
static bool placed_on(json_t *run, const char *arn)
{
    size_t i;
    json_t *t;
    json_array_foreach(at(run, "tasks"), i,
                       t) if (strcmp(json_string_value(json_object_get(t, "containerInstanceArn")), arn) == 0) return true;
    return false;
}

Test(ecs_state, a_cached_memberof_and_spread_follow_every_change_of_an_instance)
{
    char dir2[256];
    snprintf(dir2, sizeof(dir2), "%s/berth-ecs2-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(dir2));
    storage_err_t serr;
    storage_t *st2 = storage_open(dir2, &(storage_options_t){.map_size = 64u << 20, .no_sync = true}, &serr);
    cr_assert_not_null(st2, "%s", serr.msg);
    sched_ecs_cache_t *cache = sched_ecs_cache_new();
    cr_assert_not_null(cache);
    json_t *last = NULL;
    /* each call on both stores with the same seed: the replies must be the same */
#define BOTH(op, body)                                                                                                             \
    do {                                                                                                                           \
        uint64_t seed = env.seed;                                                                                                  \
        sched_ecs_err_t e1 = {0}, e2 = {0};                                                                                        \
        json_t *a = call_on(st, NULL, op, body, &e1);                                                                              \
        env.seed = seed;                                                                                                           \
        json_t *b = call_on(st2, cache, op, body, &e2);                                                                            \
        cr_assert_not_null(a, "%s %s: %s", op, body, e1.msg);                                                                      \
        char *sa = json_dumps(a, JSON_SORT_KEYS), *sb = b ? json_dumps(b, JSON_SORT_KEYS) : strdup(e2.msg);                        \
        cr_assert_str_eq(sb, sa, "%s %s differs with the cache", op, body);                                                        \
        free(sa);                                                                                                                  \
        free(sb);                                                                                                                  \
        json_decref(b);                                                                                                            \
        json_decref(last);                                                                                                         \
        last = a;                                                                                                                  \
    } while (0)
    static const char RUN[] =
        "{\"cluster\":\"c\",\"taskDefinition\":\"w\",\"count\":2,\"placementStrategy\":[{\"type\":\"spread\",\"field\":"
        "\"attribute:rack\"},{\"type\":\"binpack\",\"field\":\"memory\"}],\"placementConstraints\":[{\"type\":\"memberOf\","
        "\"expression\":\"attribute:tier =~ gold.*\"}]}";
    char body[1024], arns[10][256];
    BOTH("CreateCluster", "{\"clusterName\":\"c\"}");
    BOTH("RegisterTaskDefinition", "{\"family\":\"w\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"i\",\"memory\":16}]}");
    /* 0-5: gold on racks r0-r2, bronze on r0-r2 */
    for (int i = 0; i < 6; i++) {
        snprintf(
            body, sizeof(body),
            "{\"cluster\":\"c\",\"totalResources\":[{\"name\":\"CPU\",\"integerValue\":1024},{\"name\":\"MEMORY\","
            "\"integerValue\":%d}],\"attributes\":[{\"name\":\"tier\",\"value\":\"%s\"},{\"name\":\"rack\",\"value\":\"r%d\"}]}",
            1024 + i, i < 3 ? "gold" : "bronze", i % 3);
        BOTH("RegisterContainerInstance", body);
        snprintf(arns[i], sizeof(arns[i]), "%s", str(last, "containerInstance.containerInstanceArn"));
    }
    for (int k = 0; k < 3; k++) { /* the cache and its memo warm up: gold instances only */
        BOTH("RunTask", RUN);
        cr_assert_eq(json_array_size(at(last, "tasks")), 2);
        for (int i = 3; i < 6; i++)
            cr_assert(!placed_on(last, arns[i]), "bronze instance %d got a task", i);
    }
    uint64_t loads0, hits0;
    sched_ecs_cache_stats(cache, &loads0, &hits0);
    cr_assert_geq(hits0, 2, "the cache served RunTasks");

    /* PutAttributes: bronze 3 becomes gold on a rack of its own, the emptiest */
    snprintf(body, sizeof(body),
             "{\"cluster\":\"c\",\"attributes\":[{\"name\":\"tier\",\"value\":\"gold\",\"targetId\":\"%s\"},{\"name\":\"rack\","
             "\"value\":\"r9\",\"targetId\":\"%s\"}]}",
             arns[3], arns[3]);
    BOTH("PutAttributes", body);
    BOTH("RunTask", RUN);
    cr_assert(placed_on(last, arns[3]), "PutAttributes: the new gold instance on an empty rack gets a task");

    /* DeleteAttributes: 3 is no longer gold */
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"attributes\":[{\"name\":\"tier\",\"targetId\":\"%s\"}]}", arns[3]);
    BOTH("DeleteAttributes", body);
    for (int k = 0; k < 2; k++) {
        BOTH("RunTask", RUN);
        cr_assert(!placed_on(last, arns[3]), "DeleteAttributes: instance 3 is not gold any more");
    }

    /* RegisterContainerInstance: a new gold instance on a new rack */
    BOTH("RegisterContainerInstance",
         "{\"cluster\":\"c\",\"totalResources\":[{\"name\":\"CPU\",\"integerValue\":1024},{\"name\":\"MEMORY\",\"integerValue\":"
         "2048}],\"attributes\":[{\"name\":\"tier\",\"value\":\"gold-2\"},{\"name\":\"rack\",\"value\":\"r8\"}]}");
    snprintf(arns[6], sizeof(arns[6]), "%s", str(last, "containerInstance.containerInstanceArn"));
    BOTH("RunTask", RUN);
    cr_assert(placed_on(last, arns[6]), "RegisterContainerInstance: the new instance gets a task");

    /* UpdateContainerInstancesState DRAINING: instance 6 gets nothing more */
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"containerInstances\":[\"%s\"],\"status\":\"DRAINING\"}", arns[6]);
    BOTH("UpdateContainerInstancesState", body);
    for (int k = 0; k < 2; k++) {
        BOTH("RunTask", RUN);
        cr_assert(!placed_on(last, arns[6]), "DRAINING: instance 6 gets no task");
    }

    /* DeregisterContainerInstance: instance 0 goes, and the cluster's order
     * shifts under every later instance (a stale per-instance table would be off by one) */
    BOTH("RegisterContainerInstance",
         "{\"cluster\":\"c\",\"totalResources\":[{\"name\":\"CPU\",\"integerValue\":1024},{\"name\":\"MEMORY\",\"integerValue\":"
         "4096}],\"attributes\":[{\"name\":\"tier\",\"value\":\"bronze\"},{\"name\":\"rack\",\"value\":\"r7\"}]}");
    snprintf(arns[7], sizeof(arns[7]), "%s", str(last, "containerInstance.containerInstanceArn"));
    BOTH("RunTask", RUN);
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"containerInstance\":\"%s\",\"force\":true}", arns[0]);
    BOTH("DeregisterContainerInstance", body);
    for (int k = 0; k < 3; k++) {
        BOTH("RunTask", RUN);
        cr_assert_eq(json_array_size(at(last, "tasks")), 2);
        cr_assert(!placed_on(last, arns[0]) && !placed_on(last, arns[7]) && !placed_on(last, arns[6]),
                  "Deregister: only gold, registered, ACTIVE instances get tasks");
    }
    uint64_t loads, hits;
    sched_ecs_cache_stats(cache, &loads, &hits);
    cr_expect_geq(loads - loads0, 5, "every change made the cache load again (%llu loads)", (unsigned long long)(loads - loads0));
    cr_expect_geq(hits - hits0, 4, "and the RunTasks between changes used it (%llu hits)", (unsigned long long)(hits - hits0));
    json_decref(last);
    sched_ecs_cache_free(cache);
    storage_close(st2);
    ecs_fixture_rmtree(dir2);
#undef BOTH
}
