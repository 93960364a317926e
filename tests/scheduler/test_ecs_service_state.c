/* ECS services on a real store in a temp dir (scheduler/ecs_service_state.c):
 * the operations, the service step that follows a change of the cluster's
 * tasks or instances in the same transaction, and berthd's periodic step
 * (sched_ecs_services_tick) driven here by the test, with the agent's
 * reports (SubmitTaskStateChange) made by the test as an agent makes them.
 * The harness is test_ecs_state.c's. */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scheduler/scheduler.h"
#include "storage/storage.h"

static char dir[256];
static storage_t *st;
static sched_ecs_env_t env;

static void open_store(void)
{
    snprintf(dir, sizeof(dir), "%s/berth-svc-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    storage_options_t opt = {.map_size = 64u << 20, .no_sync = true};
    storage_err_t err;
    st = storage_open(dir, &opt, &err);
    cr_assert_not_null(st, "storage_open: %s", err.msg);
    env = (sched_ecs_env_t){.region = "us-east-1", .account = "123456789012", .now = 1000000, .agent_timeout = 60, .seed = 42};
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void close_store(void)
{
    storage_close(st);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(ecs_services, .init = open_store, .fini = close_store);

typedef struct {
    sched_ecs_request_t *r;
    json_t *out;
    sched_ecs_err_t err;
    int rc;
} call_t;

static storage_status_t run(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    call_t *c = ctx;
    json_decref(c->out);
    c->out = NULL;
    c->rc = sched_ecs_execute(rs, c->r, &env, &c->out, &c->err);
    snprintf(serr->msg, sizeof(serr->msg), "%.200s", c->err.msg);
    return c->rc == 0 ? STORAGE_OK : STORAGE_INVALID;
}

/* Runs op on body as berthd does; returns the reply (caller decrefs) or NULL
 * with *err filled. Each call takes the next seed, as each request brings its own. */
static json_t *call_on(storage_t *store, sched_ecs_cache_t *cache, const char *op, const char *body, sched_ecs_err_t *err);

/* the writer's placement cache, as berthd keeps one; NULL in the tests that run without */
static sched_ecs_cache_t *cache;

static json_t *call(const char *op, const char *body, sched_ecs_err_t *err)
{
    return call_on(st, cache, op, body, err);
}

/* call() on another store, with a cache for the writes */
static json_t *call_on(storage_t *store, sched_ecs_cache_t *cache, const char *op, const char *body, sched_ecs_err_t *err)
{
    json_error_t je;
    json_t *b = json_loads(body, 0, &je);
    cr_assert_not_null(b, "test body: %s", je.text);
    call_t c = {0};
    env.seed++;
    int rc = sched_ecs_prepare(op, b, &env, &c.r, &c.err);
    json_decref(b);
    if (rc == 0) {
        if (sched_ecs_request_writes(c.r)) {
            storage_op_t sop;
            storage_op_init(&sop, STORAGE_OP_RECORDS);
            sop.records_fn = run;
            sop.records_ctx = &c;
            env.cache = cache;
            storage_status_t s = storage_execute(store, &sop);
            env.cache = NULL;
            cr_assert(s == STORAGE_OK || c.rc != 0, "%s: the store failed: %s", op, sop.err.msg);
        } else {
            storage_reader_t *rd = storage_reader_begin(store, NULL);
            cr_assert_not_null(rd);
            c.rc = sched_ecs_execute(storage_reader_records(rd), c.r, &env, &c.out, &c.err);
            storage_reader_end(rd);
        }
    }
    sched_ecs_request_free(c.r);
    if (err)
        *err = c.err;
    if (c.rc || rc) {
        json_decref(c.out);
        return NULL;
    }
    return c.out;
}

static json_t *ok(const char *op, const char *body)
{
    sched_ecs_err_t err = {0};
    json_t *out = call(op, body, &err);
    cr_assert_not_null(out, "%s %s: %s: %s", op, body, err.type, err.msg);
    return out;
}

static void fails(const char *op, const char *body, const char *type, const char *needle)
{
    sched_ecs_err_t err = {0};
    json_t *out = call(op, body, &err);
    cr_assert_null(out, "%s %s succeeded", op, body);
    cr_expect_str_eq(err.type, type, "%s: %s", op, err.msg);
    cr_expect(strstr(err.msg, needle) != NULL, "%s: '%s' not in: %s", op, needle, err.msg);
}

/* the integer at a path of keys/indexes, e.g. get_int(doc, "containerInstance.remainingResources.1.integerValue") */
static json_t *at(json_t *doc, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = doc;
    for (char *save, *p = strtok_r(buf, ".", &save); p && v; p = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(p)) : json_object_get(v, p);
    cr_assert_not_null(v, "no %s in %s", path, json_dumps(doc, JSON_COMPACT));
    return v;
}

static long long num(json_t *doc, const char *path)
{
    return (long long)json_integer_value(at(doc, path));
}

static const char *str(json_t *doc, const char *path)
{
    return json_string_value(at(doc, path));
}

static char *register_instance(const char *cluster, const char *az, int cpu, int mem)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"cluster\":\"%s\",\"instanceIdentityDocument\":\"{\\\"availabilityZone\\\":\\\"%s\\\"}\",\"totalResources\":["
             "{\"name\":\"CPU\",\"type\":\"INTEGER\",\"integerValue\":%d},{\"name\":\"MEMORY\",\"type\":\"INTEGER\","
             "\"integerValue\":%d},"
             "{\"name\":\"PORTS\",\"type\":\"STRINGSET\",\"stringSetValue\":[\"22\"]}]}",
             cluster, az, cpu, mem);
    json_t *out = ok("RegisterContainerInstance", body);
    char *arn = strdup(str(out, "containerInstance.containerInstanceArn"));
    json_decref(out);
    return arn;
}

static json_t *describe_instance(const char *cluster, const char *arn)
{
    char body[1024];
    snprintf(body, sizeof(body), "{\"cluster\":\"%s\",\"containerInstances\":[\"%s\"]}", cluster, arn);
    return ok("DescribeContainerInstances", body);
}

static const char TD[] =
    "{\"family\":\"web\",\"containerDefinitions\":[{\"name\":\"app\",\"image\":\"i\",\"cpu\":100,\"memory\":200}]}";
static const char TD2[] =
    "{\"family\":\"web\",\"containerDefinitions\":[{\"name\":\"app\",\"image\":\"i2\",\"cpu\":100,\"memory\":200}]}";

typedef struct {
    sched_ecs_err_t err;
    int rc;
} tick_t;

static storage_status_t tick_fn(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    tick_t *t = ctx;
    t->rc = sched_ecs_services_tick(rs, &env, &t->err);
    snprintf(serr->msg, sizeof(serr->msg), "%.200s", t->err.msg);
    return t->rc == 0 ? STORAGE_OK : STORAGE_INVALID;
}

/* a stand-in agent on cluster c: in the tests that set it, tick() first
 * reports each PENDING task RUNNING and each task asked to stop STOPPED */
static bool agent;

static json_t *ok(const char *op, const char *body);

static void agent_reports(void)
{
    static const char *const lists[] = {"{\"cluster\":\"c\",\"desiredStatus\":\"RUNNING\"}",
                                        "{\"cluster\":\"c\",\"desiredStatus\":\"STOPPED\"}"};
    for (int l = 0; l < 2; l++) {
        json_t *out = ok("ListTasks", lists[l]);
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(out, "taskArns"), i, a)
        {
            char body[1024];
            snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"tasks\":[\"%s\"]}", json_string_value(a));
            json_t *d = ok("DescribeTasks", body);
            const char *last = json_string_value(json_object_get(json_array_get(json_object_get(d, "tasks"), 0), "lastStatus"));
            const char *to = l == 0 && strcmp(last, "PENDING") == 0   ? "RUNNING"
                             : l == 1 && strcmp(last, "RUNNING") == 0 ? "STOPPED"
                                                                      : NULL;
            json_decref(d);
            if (!to)
                continue;
            snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\",\"status\":\"%s\"}", json_string_value(a), to);
            json_decref(ok("SubmitTaskStateChange", body));
        }
        json_decref(out);
    }
}

/* berthd's periodic step, one second later each time, after the agent's reports */
static void tick(void)
{
    if (agent)
        agent_reports();
    tick_t t = {0};
    storage_op_t sop;
    storage_op_init(&sop, STORAGE_OP_RECORDS);
    sop.records_fn = tick_fn;
    sop.records_ctx = &t;
    env.now++;
    env.seed++;
    env.cache = cache;
    storage_status_t s = storage_execute(st, &sop);
    env.cache = NULL;
    cr_assert_eq(s, STORAGE_OK, "tick: %s: %s", t.err.type, t.err.msg);
}

static json_t *describe(const char *name)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"services\":[\"%s\"]}", name);
    json_t *out = ok("DescribeServices", body);
    cr_assert_eq(json_array_size(at(out, "services")), 1, "%s", json_dumps(out, JSON_COMPACT));
    json_t *svc = json_incref(at(out, "services.0"));
    json_decref(out);
    return svc;
}

/* the cluster c with 6 instances, 2 in each of 3 AZs, and task definition web:1 */
static void six_instances(void)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    static const char *const azs[] = {"az-1", "az-2", "az-3"};
    for (int i = 0; i < 6; i++)
        free(register_instance("c", azs[i % 3], 1024, 2048));
    json_decref(ok("RegisterTaskDefinition", TD));
}

static bool has_event(json_t *svc, const char *prefix)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(svc, "events"), i, e)
    {
        if (strncmp(json_string_value(json_object_get(e, "message")), prefix, strlen(prefix)) == 0)
            return true;
    }
    return false;
}

static size_t list_count(const char *body)
{
    json_t *out = ok("ListTasks", body);
    size_t n = json_array_size(at(out, "taskArns"));
    json_decref(out);
    return n;
}

Test(ecs_services, create_service_places_its_tasks_in_its_group_in_the_same_transaction)
{
    six_instances();
    json_t *out = ok("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"web\",\"taskDefinition\":\"web\",\"desiredCount\":3}");
    cr_expect_str_eq(str(out, "service.serviceArn"), "arn:aws:ecs:us-east-1:123456789012:service/c/web");
    cr_expect_str_eq(str(out, "service.status"), "ACTIVE");
    cr_expect_eq(num(out, "service.pendingCount"), 3, "no agent yet: the tasks are PENDING");
    cr_expect_eq(num(out, "service.runningCount"), 0);
    cr_expect_eq(num(out, "service.deploymentConfiguration.maximumPercent"), 200);
    cr_expect_eq(num(out, "service.deploymentConfiguration.minimumHealthyPercent"), 100);
    cr_expect_str_eq(str(out, "service.deployments.0.status"), "PRIMARY");
    cr_expect_str_eq(str(out, "service.deployments.0.rolloutState"), "IN_PROGRESS");
    cr_expect_eq(num(out, "service.deployments.0.desiredCount"), 3);
    char dep[64];
    snprintf(dep, sizeof(dep), "%s", str(out, "service.deployments.0.id"));
    cr_expect_eq(strncmp(dep, "ecs-svc/", 8), 0);
    cr_expect(has_event(at(out, "service"), "(service web) has started 3 tasks: (task "));
    json_decref(out);
    cr_expect_eq(list_count("{\"cluster\":\"c\",\"serviceName\":\"web\"}"), 3);
    cr_expect_eq(list_count("{\"cluster\":\"c\",\"serviceName\":\"we\"}"), 0, "the name whole, not a prefix");
    out = ok("ListTasks", "{\"cluster\":\"c\",\"serviceName\":\"web\"}");
    char body[1024];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"tasks\":[\"%s\"]}", str(out, "taskArns.0"));
    json_decref(out);
    out = ok("DescribeTasks", body);
    cr_expect_str_eq(str(out, "tasks.0.group"), "service:web");
    cr_expect_str_eq(str(out, "tasks.0.startedBy"), dep);
    json_decref(out);
    out = ok("DescribeClusters", "{\"clusters\":[\"c\"]}");
    cr_expect_eq(num(out, "clusters.0.activeServicesCount"), 1);
    cr_expect_eq(num(out, "clusters.0.pendingTasksCount"), 3);
    json_decref(out);
    fails("DeleteCluster", "{\"cluster\":\"c\"}", "ClusterContainsServicesException", "Services are active");
}

Test(ecs_services, a_stopped_task_is_replaced_by_the_stop_itself)
{
    six_instances();
    json_decref(ok("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"web\",\"taskDefinition\":\"web\",\"desiredCount\":2}"));
    json_t *out = ok("ListTasks", "{\"cluster\":\"c\",\"serviceName\":\"web\"}");
    char body[1024], victim[512];
    snprintf(victim, sizeof(victim), "%s", str(out, "taskArns.0"));
    json_decref(out);
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\"}", victim);
    json_decref(ok("StopTask", body));
    out = ok("ListTasks", "{\"cluster\":\"c\",\"serviceName\":\"web\"}");
    cr_expect_eq(json_array_size(at(out, "taskArns")), 2, "replaced in the StopTask's own transaction");
    for (size_t i = 0; i < 2; i++)
        cr_expect_str_neq(str(out, i ? "taskArns.1" : "taskArns.0"), victim);
    json_decref(out);
    json_t *svc = describe("web");
    cr_expect(has_event(svc, "(service web) has started 1 tasks: (task "));
    json_decref(svc);
}

/* a service's tasks' lastStatus counts: [running, pending, stopping] (desired STOPPED, not stopped yet) */
static void task_counts(long long c[3])
{
    json_t *out = ok("ListTasks", "{\"cluster\":\"c\",\"serviceName\":\"api\",\"desiredStatus\":\"STOPPED\"}");
    json_t *run = ok("ListTasks", "{\"cluster\":\"c\",\"serviceName\":\"api\"}");
    c[0] = c[1] = c[2] = 0;
    json_t *lists[2] = {run, out};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(lists[l], "taskArns"), i, a)
        {
            char body[1024];
            snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"tasks\":[\"%s\"]}", json_string_value(a));
            json_t *d = ok("DescribeTasks", body);
            const char *last = str(d, "tasks.0.lastStatus");
            if (l == 1)
                c[2] += strcmp(last, "STOPPED") != 0;
            else
                c[strcmp(last, "RUNNING") == 0 ? 0 : 1]++;
            json_decref(d);
        }
    }
    json_decref(out);
    json_decref(run);
}

Test(ecs_services, a_new_revision_rolls_within_the_bounds_and_the_claims_follow)
{
    cache = sched_ecs_cache_new();
    cr_assert_not_null(cache);
    agent = true;
    six_instances();
    json_decref(ok("CreateService",
                   "{\"cluster\":\"c\",\"serviceName\":\"api\",\"taskDefinition\":\"web:1\",\"desiredCount\":6,"
                   "\"deploymentConfiguration\":{\"minimumHealthyPercent\":50,\"maximumPercent\":100},"
                   "\"placementStrategy\":[{\"type\":\"spread\",\"field\":\"attribute:ecs.availability-zone\"}]}"));
    tick();
    json_t *svc = describe("api");
    cr_expect_eq(num(svc, "runningCount"), 6);
    tick();
    json_decref(svc);
    svc = describe("api");
    cr_expect_str_eq(str(svc, "deployments.0.rolloutState"), "COMPLETED");
    cr_expect(has_event(svc, "(service api) has reached a steady state."));
    json_decref(svc);

    json_decref(ok("RegisterTaskDefinition", TD2));
    json_t *out = ok("UpdateService", "{\"cluster\":\"c\",\"service\":\"api\",\"taskDefinition\":\"web\"}");
    cr_expect_str_eq(str(out, "service.taskDefinition"), "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2");
    cr_expect_str_eq(str(out, "service.deployments.0.status"), "PRIMARY");
    cr_expect_str_eq(str(out, "service.deployments.0.taskDefinition"), "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2");
    cr_expect_str_eq(str(out, "service.deployments.1.status"), "ACTIVE");
    cr_expect_str_eq(str(out, "service.deployments.1.taskDefinition"), "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1");
    json_decref(out);
    int steps;
    for (steps = 0; steps < 20; steps++) {
        long long c[3];
        task_counts(c);
        cr_assert_geq(c[0], 3, "step %d: %lld running, below 50%% of 6", steps, c[0]);
        cr_assert_leq(c[0] + c[1] + c[2], 6, "step %d: %lld running, %lld pending, %lld stopping: above 100%% of 6", steps, c[0],
                      c[1], c[2]);
        svc = describe("api");
        bool done = json_array_size(at(svc, "deployments")) == 1 &&
                    strcmp(str(svc, "deployments.0.rolloutState"), "COMPLETED") == 0 && num(svc, "runningCount") == 6;
        json_decref(svc);
        if (done)
            break;
        tick();
    }
    cr_assert_lt(steps, 20, "the roll never completed");
    svc = describe("api");
    cr_expect(has_event(svc, "(service api) has stopped 3 running tasks: (task "));
    char completed[256];
    snprintf(completed, sizeof(completed), "(service api) (deployment %s) deployment completed.", str(svc, "deployments.0.id"));
    cr_expect(has_event(svc, completed));
    json_decref(svc);
    /* every claim of a stopped task went back: 6 tasks of 100 CPU / 200 MiB hold what is missing */
    out = ok("ListContainerInstances", "{\"cluster\":\"c\"}");
    long long cpu = 0, mem = 0;
    size_t i;
    json_t *a;
    json_array_foreach(at(out, "containerInstanceArns"), i, a)
    {
        json_t *d = describe_instance("c", json_string_value(a));
        cpu += num(d, "containerInstances.0.remainingResources.0.integerValue");
        mem += num(d, "containerInstances.0.remainingResources.1.integerValue");
        json_decref(d);
    }
    json_decref(out);
    cr_expect_eq(cpu, 6 * 1024 - 6 * 100);
    cr_expect_eq(mem, 6 * 2048 - 6 * 200);
    uint64_t loads, hits;
    sched_ecs_cache_stats(cache, &loads, &hits);
    cr_expect_gt(hits, 0, "the steps placed on the writer's cache");
    sched_ecs_cache_free(cache);
    cache = NULL;
}

Test(ecs_services, delete_is_refused_above_zero_then_drains_to_inactive)
{
    agent = true;
    six_instances();
    json_decref(ok("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"web\",\"taskDefinition\":\"web\",\"desiredCount\":2}"));
    tick(); /* running: a delete must wait for the agent to stop them */
    fails("DeleteService", "{\"cluster\":\"c\",\"service\":\"web\"}", "InvalidParameterException", "scaled above 0");
    json_t *out = ok("DeleteService", "{\"cluster\":\"c\",\"service\":\"web\",\"force\":true}");
    cr_expect_str_eq(str(out, "service.status"), "DRAINING");
    cr_expect_eq(num(out, "service.desiredCount"), 0);
    json_decref(out);
    fails("UpdateService", "{\"cluster\":\"c\",\"service\":\"web\",\"desiredCount\":1}", "ServiceNotActiveException", "DRAINING");
    tick();
    json_t *svc = describe("web");
    cr_expect_str_eq(str(svc, "status"), "INACTIVE");
    json_decref(svc);
    cr_expect_eq(list_count("{\"cluster\":\"c\",\"serviceName\":\"web\"}"), 0);
    out = ok("ListServices", "{\"cluster\":\"c\"}");
    cr_expect_eq(json_array_size(at(out, "serviceArns")), 0);
    json_decref(out);
    out = ok("DescribeClusters", "{\"clusters\":[\"c\"]}");
    cr_expect_eq(num(out, "clusters.0.activeServicesCount"), 0);
    json_decref(out);
    /* the name is free again */
    json_decref(ok("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"web\",\"taskDefinition\":\"web\",\"desiredCount\":0}"));
    /* desiredCount 0: deleted without force */
    out = ok("DeleteService", "{\"cluster\":\"c\",\"service\":\"arn:aws:ecs:us-east-1:123456789012:service/c/web\"}");
    cr_expect_str_eq(str(out, "service.status"), "INACTIVE", "nothing to drain");
    json_decref(out);
    /* a cluster that is deleted takes its INACTIVE services with it; one of that name starts afresh */
    out = ok("ListContainerInstances", "{\"cluster\":\"c\"}");
    size_t i;
    json_t *a;
    json_array_foreach(at(out, "containerInstanceArns"), i, a)
    {
        char body[512];
        snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"containerInstance\":\"%s\",\"force\":true}", json_string_value(a));
        json_decref(ok("DeregisterContainerInstance", body));
    }
    json_decref(out);
    json_decref(ok("DeleteCluster", "{\"cluster\":\"c\"}"));
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    out = ok("DescribeServices", "{\"cluster\":\"c\",\"services\":[\"web\"]}");
    cr_expect_str_eq(str(out, "failures.0.reason"), "MISSING");
    json_decref(out);
}

Test(ecs_services, refusals_name_what_is_wrong_and_leave_nothing)
{
    fails("CreateService", "{\"cluster\":\"nope\",\"serviceName\":\"s\",\"taskDefinition\":\"web\"}", "ClusterNotFoundException",
          "nope");
    six_instances();
    fails("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"s\",\"taskDefinition\":\"nope:2\"}", "ClientException", "nope:2");
    fails("CreateService",
          "{\"cluster\":\"c\",\"serviceName\":\"s\",\"taskDefinition\":\"web\",\"deploymentConfiguration\":{\"maximumPercent\":"
          "150,\"minimumHealthyPercent\":100,\"x\":1}}",
          "InvalidParameterException", "deploymentConfiguration.x");
    fails("CreateService",
          "{\"cluster\":\"c\",\"serviceName\":\"s\",\"taskDefinition\":\"web\",\"deploymentConfiguration\":{\"maximumPercent\":"
          "100,\"minimumHealthyPercent\":100}}",
          "InvalidParameterException", "leaves no room");
    fails("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"s\",\"taskDefinition\":\"web\",\"desiredCount\":5001}",
          "InvalidParameterException", "desiredCount");
    fails("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"s\",\"taskDefinition\":\"web\",\"launchType\":\"FARGATE\"}",
          "InvalidParameterException", "launchType");
    fails("UpdateService", "{\"cluster\":\"c\",\"service\":\"nope\",\"desiredCount\":1}", "ServiceNotFoundException", "nope");
    fails("UpdateService", "{\"cluster\":\"c\",\"service\":\"arn:aws:ecs:us-east-1:123456789012:service/other/s\"}",
          "InvalidParameterException", "service:");
    fails("DescribeServices", "{\"cluster\":\"c\",\"services\":[]}", "InvalidParameterException", "services: must hold 1 to 10");
    json_decref(ok("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"s\",\"taskDefinition\":\"web\",\"desiredCount\":1}"));
    fails("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"s\",\"taskDefinition\":\"web\"}", "InvalidParameterException",
          "not idempotent");
    /* lowering minimumHealthyPercent to maximumPercent is refused with both named */
    fails(
        "UpdateService",
        "{\"cluster\":\"c\",\"service\":\"s\",\"deploymentConfiguration\":{\"maximumPercent\":100,\"minimumHealthyPercent\":100}}",
        "InvalidParameterException", "leaves no room");
    json_t *out = ok("DescribeServices", "{\"cluster\":\"c\",\"services\":[\"s\",\"t\"]}");
    cr_expect_eq(json_array_size(at(out, "services")), 1);
    cr_expect_str_eq(str(out, "failures.0.arn"), "arn:aws:ecs:us-east-1:123456789012:service/c/t");
    cr_expect_str_eq(str(out, "failures.0.reason"), "MISSING");
    cr_expect_eq(num(out, "services.0.desiredCount"), 1, "the refused update changed nothing");
    json_decref(out);
    cr_expect_eq(list_count("{\"cluster\":\"c\"}"), 1, "only s's one task was ever placed");
}

Test(ecs_services, list_services_pages)
{
    six_instances();
    for (int i = 0; i < 5; i++) {
        char body[256];
        snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"serviceName\":\"s%d\",\"taskDefinition\":\"web\"}", i);
        json_decref(ok("CreateService", body));
    }
    json_t *out = ok("ListServices", "{\"cluster\":\"c\",\"maxResults\":2}");
    cr_expect_eq(json_array_size(at(out, "serviceArns")), 2);
    cr_expect_str_eq(str(out, "nextToken"), "2");
    json_decref(out);
    out = ok("ListServices", "{\"cluster\":\"c\",\"maxResults\":2,\"nextToken\":\"4\"}");
    cr_expect_eq(json_array_size(at(out, "serviceArns")), 1);
    cr_expect_str_eq(str(out, "serviceArns.0"), "arn:aws:ecs:us-east-1:123456789012:service/c/s4");
    cr_expect_null(json_object_get(out, "nextToken"));
    json_decref(out);
}

Test(ecs_services, a_draining_instances_tasks_move_and_unplaceable_tasks_are_told)
{
    agent = true;
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    char *a = register_instance("c", "az-1", 1024, 450);
    json_decref(ok("RegisterTaskDefinition", TD));
    json_decref(ok("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"web\",\"taskDefinition\":\"web\",\"desiredCount\":3}"));
    json_t *svc = describe("web");
    cr_expect_eq(num(svc, "pendingCount"), 2, "450 MiB hold two tasks of 200");
    cr_expect(has_event(svc, "(service web) was unable to place a task because no container instance met all of its requirements. "
                             "The closest matching (container-instance "),
              "%s", json_dumps(at(svc, "events"), JSON_COMPACT));
    json_decref(svc);
    free(register_instance("c", "az-2", 1024, 2048)); /* the registration's step places the third */
    tick();
    svc = describe("web");
    cr_expect_eq(num(svc, "runningCount"), 3);
    json_decref(svc);
    char body[1024];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"containerInstances\":[\"%s\"],\"status\":\"DRAINING\"}", a);
    json_decref(ok("UpdateContainerInstancesState", body));
    for (int i = 0; i < 5; i++)
        tick();
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"containerInstance\":\"%s\"}", a);
    cr_expect_eq(list_count(body), 0, "nothing left on the draining instance");
    svc = describe("web");
    cr_expect_eq(num(svc, "runningCount"), 3);
    cr_expect(has_event(svc, "(service web) has reached a steady state."));
    json_decref(svc);
    free(a);
}

Test(ecs_services, a_deregistered_task_definition_does_not_undo_the_change_that_ran_the_step)
{
    six_instances();
    json_decref(ok("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"web\",\"taskDefinition\":\"web\",\"desiredCount\":1}"));
    json_decref(ok("DeregisterTaskDefinition", "{\"taskDefinition\":\"web:1\"}"));
    json_t *out = ok("ListTasks", "{\"cluster\":\"c\",\"serviceName\":\"web\"}");
    char body[1024];
    snprintf(body, sizeof(body), "{\"cluster\":\"c\",\"task\":\"%s\"}", str(out, "taskArns.0"));
    json_decref(out);
    out = ok("StopTask", body);
    cr_expect_str_eq(str(out, "task.desiredStatus"), "STOPPED", "the user's stop stands");
    json_decref(out);
    json_t *svc = describe("web");
    cr_expect(has_event(svc, "(service web) failed to launch a task with (error TaskDefinition is inactive"), "%s",
              json_dumps(at(svc, "events"), JSON_COMPACT));
    json_decref(svc);
    cr_expect_eq(list_count("{\"cluster\":\"c\",\"serviceName\":\"web\"}"), 0);
}

Test(ecs_services, a_big_service_starts_at_most_200_tasks_per_step)
{
    json_decref(ok("CreateCluster", "{\"clusterName\":\"c\"}"));
    for (int i = 0; i < 10; i++)
        free(register_instance("c", i % 2 ? "az-1" : "az-2", 4096, 8192));
    json_decref(ok("RegisterTaskDefinition", TD));
    json_t *out =
        ok("CreateService", "{\"cluster\":\"c\",\"serviceName\":\"big\",\"taskDefinition\":\"web\",\"desiredCount\":250}");
    cr_expect_eq(num(out, "service.pendingCount"), 200, "one step holds the writer for 200 placements at most");
    json_decref(out);
    tick();
    json_t *svc = describe("big");
    cr_expect_eq(num(svc, "pendingCount"), 250, "the next step places the rest");
    json_decref(svc);
}
