/*
 * scheduler/ecs_service_state.c — ECS services on durable cluster state:
 * CreateService, UpdateService, DeleteService, DescribeServices,
 * ListServices, and the service scheduler's step, run inside the records
 * transaction of whatever changed the cluster (ecs_state.c calls it after
 * StopTask, RunTask, instance changes; the service operations after their
 * own change; berthd's timer through sched_ecs_services_tick).
 *
 * The record (beside ecs_state.c's, same space):
 *   s/<cluster>/<service name>   the service as DescribeServices shows it,
 *                                minus the counts (computed from the tasks
 *                                when described), plus "steady" (whether the
 *                                last step found nothing to do)
 *
 * A service's tasks are ordinary task records in group "service:NAME",
 * startedBy the deployment that started them ("ecs-svc/<19 digits>", as
 * ECS names deployments). A step decides with sched_service_plan
 * (ecs_services.c) and acts through the ordinary StopTask and RunTask
 * (requests made here and marked internal), so the claims, the placement
 * cache and its token are kept exactly as for a user's call.
 */
#include "scheduler/scheduler_internal.h"
#include "storage/storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX (4 + 2 * SCHED_ECS_NAME_MAX + 16)
/* events a service keeps, newest first (ECS shows the last 100) */
#define SVC_MAX_EVENTS 100
/* RunTask's own limit per call: a step places in rounds of this many */
#define SVC_RUN_ROUND 10
/* tasks one step starts at most: a step holds the store's single writer, and
 * 200 placements take ~0.2-0.5 s on a 10,000-instance cluster; the rest come
 * with the next steps (each report, change or timer tick), as ECS too ramps up */
#define SVC_MAX_STARTS_PER_STEP 200
/* task ids named in one "has started/stopped" event; ECS names every one, we stop at a readable line */
#define SVC_EVENT_TASKS 20
#define DEFAULT_PAGE 100

typedef struct {
    storage_records_t *rs;
    const sched_ecs_env_t *env;
    sched_ecs_err_t *err;
    sched_rng_t rng;
    const char *cluster;
} sctx_t;

#define BAD(...) (sched_ecs_err(x->err, "InvalidParameterException", 400, __VA_ARGS__), SCHED_EINVAL)

static int nomem(sctx_t *x)
{
    sched_ecs_err(x->err, "ServerException", 500, "out of memory");
    return SCHED_ENOMEM;
}

static int store_failed(sctx_t *x, const storage_err_t *se)
{
    if (se->status == STORAGE_NOMEM)
        return nomem(x);
    sched_ecs_err(x->err, "ServerException", 500, "cluster state: %s", se->msg);
    return SCHED_EIO;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static long long jint(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* ---------------------------------------------------------------- records */

static int rec_get(sctx_t *x, const char *key, json_t **out)
{
    return sched_ecs_rec_get(x->rs, key, out, x->err);
}

static int rec_put(sctx_t *x, const char *key, const json_t *v)
{
    return sched_ecs_rec_put(x->rs, key, v, false, x->err);
}

/* the records under prefix, as [key, value] pairs; of tasks, only group's
 * (NULL: all). A record of another group is skipped unparsed: records are
 * compact JSON and group names need no escaping, so the group's member is
 * these bytes. */
static int rec_scan(sctx_t *x, const char *prefix, const char *group, json_t **out)
{
    char needle[SCHED_ECS_NAME_MAX + 32] = "";
    if (group)
        snprintf(needle, sizeof(needle), "\"group\":\"%s\"", group);
    return sched_ecs_rec_scan(x->rs, prefix, group ? needle : NULL, group, out, x->err);
}

#define PAIR_KEY(p) json_string_value(json_array_get((p), 0))
#define PAIR_VALUE(p) json_array_get((p), 1)

/* ------------------------------------------------------------------ names */

static void service_arn(sctx_t *x, const char *name, char *out)
{
    snprintf(out, SCHED_ECS_ARN_MAX, "arn:aws:ecs:%s:%s:service/%s/%s", x->env->region, x->env->account, x->cluster, name);
}

static void service_key(sctx_t *x, const char *name, char *key)
{
    snprintf(key, KEY_MAX, "s/%s/%s", x->cluster, name);
}

static void service_group(const char *name, char *group)
{
    snprintf(group, SCHED_ECS_NAME_MAX + 16, "service:%s", name);
}

static int need_cluster(sctx_t *x)
{
    char key[KEY_MAX];
    json_t *c;
    snprintf(key, sizeof(key), "c/%s", x->cluster);
    int rc = rec_get(x, key, &c);
    json_decref(c);
    if (rc == 1) {
        sched_ecs_err(x->err, "ClusterNotFoundException", 400, "Cluster not found: %s", x->cluster);
        return SCHED_EINVAL;
    }
    return rc;
}

/* the service named by the request's `service`: 0, or ServiceNotFoundException */
static int get_service(sctx_t *x, const sched_ecs_request_t *r, char *name, char *key, json_t **svc)
{
    const char *ref = json_string_value(json_object_get(r->body, "service"));
    sched_ecs_parse_service(ref, x->cluster, name);
    service_key(x, name, key);
    int rc = rec_get(x, key, svc);
    if (rc == 1) {
        sched_ecs_err(x->err, "ServiceNotFoundException", 400, "Service not found: %s in cluster %s", name, x->cluster);
        return SCHED_EINVAL;
    }
    return rc;
}

/* A task definition: a revision, or the family's latest ACTIVE one. ClientException when there is none. */
static int find_task_def(sctx_t *x, const char *family, long long revision, json_t **out)
{
    char key[KEY_MAX];
    int rc;
    *out = NULL;
    if (revision) {
        snprintf(key, sizeof(key), "d/%s/%010lld", family, revision);
        rc = rec_get(x, key, out);
    } else {
        json_t *items;
        snprintf(key, sizeof(key), "d/%s/", family);
        if ((rc = rec_scan(x, key, NULL, &items)))
            return rc;
        rc = 1;
        for (size_t i = json_array_size(items); i-- > 0;) {
            json_t *td = PAIR_VALUE(json_array_get(items, i));
            if (strcmp(jstr(td, "status"), "ACTIVE") == 0) {
                *out = json_incref(td);
                rc = 0;
                break;
            }
        }
        json_decref(items);
    }
    if (rc == 1) {
        sched_ecs_err(x->err, "ClientException", 400, "Unable to describe task definition: %s%s%.0lld does not exist", family,
                      revision ? ":" : "", revision);
        return SCHED_EINVAL;
    }
    if (rc == 0 && strcmp(jstr(*out, "status"), "ACTIVE") != 0) {
        sched_ecs_err(x->err, "ClientException", 400, "TaskDefinition is inactive: %s", jstr(*out, "taskDefinitionArn"));
        json_decref(*out);
        *out = NULL;
        return SCHED_EINVAL;
    }
    return rc;
}

/* ----------------------------------------------------- events, deployments */

static int add_event(sctx_t *x, json_t *svc, const char *msg)
{
    json_t *events = json_object_get(svc, "events");
    if (!events) {
        if (!(events = json_array()) || json_object_set_new(svc, "events", events))
            return nomem(x);
    }
    /* a condition that lasts (a task that cannot be placed) is told once, not every step */
    if (strcmp(jstr(json_array_get(events, 0), "message"), msg) == 0)
        return 0;
    uint64_t a = sched_rng_next(&x->rng), b = sched_rng_next(&x->rng);
    char id[40];
    snprintf(id, sizeof(id), "%08llx-%04llx-%04llx-%04llx-%012llx", (unsigned long long)(a >> 32),
             (unsigned long long)((a >> 16) & 0xffff), (unsigned long long)(a & 0xffff), (unsigned long long)(b >> 48),
             (unsigned long long)(b & 0xffffffffffffULL));
    json_t *e = json_pack("{s:s,s:I,s:s}", "id", id, "createdAt", (json_int_t)x->env->now, "message", msg);
    if (!e || json_array_insert_new(events, 0, e))
        return nomem(x);
    while (json_array_size(events) > SVC_MAX_EVENTS)
        json_array_remove(events, json_array_size(events) - 1);
    return 0;
}

static json_t *new_deployment(sctx_t *x, const char *td_arn)
{
    char id[40], reason[96];
    /* ECS's deployment ids: ecs-svc/ and 19 digits */
    snprintf(id, sizeof(id), "ecs-svc/%019llu", (unsigned long long)(sched_rng_next(&x->rng) % 10000000000000000000ULL));
    snprintf(reason, sizeof(reason), "ECS deployment %s in progress.", id);
    return json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s}", "id", id, "status", "PRIMARY", "taskDefinition", td_arn, "createdAt",
                     (json_int_t)x->env->now, "updatedAt", (json_int_t)x->env->now, "launchType", "EC2", "rolloutState",
                     "IN_PROGRESS", "rolloutStateReason", reason);
}

/* ---------------------------------------------------------- inner requests */

/* Runs op on body as the service scheduler: a request marked internal (it
 * runs no service step of its own) in the caller's transaction. */
static int inner(sctx_t *x, const char *op, json_t *body, json_t **out)
{
    sched_ecs_env_t env = *x->env;
    env.seed = sched_rng_next(&x->rng);
    sched_ecs_request_t *r;
    *out = NULL;
    int rc = body ? sched_ecs_prepare(op, body, &env, &r, x->err) : nomem(x);
    json_decref(body);
    if (rc)
        return rc;
    r->internal = true;
    rc = sched_ecs_execute(x->rs, r, &env, out, x->err);
    sched_ecs_request_free(r);
    return rc;
}

/* --------------------------------------------------------- the live model */

/* The instances that hold the service's live tasks, in the engine (what
 * DRAINING and scale-in need: spread and binpack choose among the instances
 * that have tasks to stop); ids maps a record id to its engine index. Only
 * those are read, not the whole cluster: a step costs the service's size,
 * not the cluster's. A task whose instance is gone has none. */
static int load_instances(sctx_t *x, const json_t *tasks, sched_cluster_t **out, json_t **ids)
{
    *out = NULL;
    *ids = NULL;
    sched_cluster_t *c = sched_cluster_new();
    json_t *list = json_object();
    int rc = c && list ? 0 : nomem(x);
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        if (rc)
            break;
        const char *id = jstr(t, "instanceId");
        if (json_object_get(list, id))
            continue;
        char key[KEY_MAX];
        json_t *in;
        snprintf(key, sizeof(key), "i/%s/%s", x->cluster, id);
        if ((rc = rec_get(x, key, &in)) == 1) {
            rc = 0;
            continue;
        }
        if (rc)
            break;
        json_t *attrs = json_object_get(in, "attributes");
        size_t na = json_array_size(attrs);
        sched_attribute_t *sa = calloc(na ? na : 1, sizeof(*sa));
        if (!sa) {
            json_decref(in);
            rc = nomem(x);
            break;
        }
        for (size_t k = 0; k < na; k++) {
            json_t *a = json_array_get(attrs, k);
            sa[k] = (sched_attribute_t){jstr(a, "name"), json_string_value(json_object_get(a, "value"))};
        }
        char arn[SCHED_ECS_ARN_MAX];
        snprintf(arn, sizeof(arn), "arn:aws:ecs:%s:%s:container-instance/%s/%s", x->env->region, x->env->account, x->cluster, id);
        sched_instance_spec_t spec = {
            .arn = arn,
            .ec2_instance_id = jstr(in, "ec2InstanceId"),
            .status = strcmp(jstr(in, "status"), "DRAINING") == 0 ? SCHED_INSTANCE_DRAINING : SCHED_INSTANCE_ACTIVE,
            .agent_connected = x->env->now - jint(in, "heartbeatAt") <= x->env->agent_timeout,
            .registered_at = jint(in, "registeredAt"),
            .registered_cpu = jint(in, "cpu"),
            .registered_memory = jint(in, "memory"),
            .remaining_cpu = jint(in, "remCpu"),
            .remaining_memory = jint(in, "remMemory"),
            .attributes = sa,
            .nattributes = na,
        };
        sched_err_t e = {0};
        sched_status_t st = sched_cluster_add_instance(c, &spec, NULL, &e);
        free(sa);
        json_decref(in);
        if (st == SCHED_ENOMEM ||
            (st == SCHED_OK && json_object_set_new(list, id, json_integer((json_int_t)sched_cluster_instance_count(c) - 1)))) {
            rc = nomem(x);
        } else if (st != SCHED_OK) {
            sched_ecs_err(x->err, "ServerException", 500, "cluster state: instance %s: %s", arn, e.msg);
            rc = SCHED_EIO;
        }
    }
    if (rc) {
        sched_cluster_free(c);
        json_decref(list);
        return rc;
    }
    *out = c;
    *ids = list;
    return 0;
}

/* The service's tasks that are not STOPPED. */
static int live_tasks(sctx_t *x, const char *group, json_t **out)
{
    char prefix[KEY_MAX];
    json_t *items, *live = json_array();
    *out = NULL;
    snprintf(prefix, sizeof(prefix), "t/%s/", x->cluster);
    int rc = live ? rec_scan(x, prefix, group, &items) : nomem(x);
    if (rc) {
        json_decref(live);
        return rc;
    }
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p)
    {
        if (strcmp(jstr(PAIR_VALUE(p), "lastStatus"), "STOPPED") != 0 && json_array_append(live, PAIR_VALUE(p))) {
            rc = nomem(x);
            break;
        }
    }
    json_decref(items);
    if (rc) {
        json_decref(live);
        return rc;
    }
    *out = live;
    return 0;
}

static sched_svc_task_state_t task_state(const json_t *t)
{
    if (strcmp(jstr(t, "desiredStatus"), "STOPPED") == 0)
        return SCHED_SVC_STOPPING;
    return strcmp(jstr(t, "lastStatus"), "RUNNING") == 0 ? SCHED_SVC_RUNNING : SCHED_SVC_PENDING;
}

static const char *task_id(const json_t *t)
{
    const char *arn = jstr(t, "taskArn"), *slash = strrchr(arn, '/');
    return slash ? slash + 1 : arn;
}

/* "(task a) (task b)" into buf */
static void task_list(char *buf, size_t len, const json_t *ids)
{
    size_t i;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(ids, i, v)
    {
        size_t used = strlen(buf);
        if (i == SVC_EVENT_TASKS) {
            snprintf(buf + used, len - used, " ...");
            break;
        }
        snprintf(buf + used, len - used, "%s(task %s)", i ? " " : "", json_string_value(v));
    }
}

/* ECS's words for the closest instance's reason */
static void unplaced_message(sctx_t *x, const char *name, const json_t *failure, char *msg, size_t len)
{
    const char *reason = jstr(failure, "reason"), *arn = jstr(failure, "arn");
    const char *inst = strstr(arn, ":container-instance/") ? strrchr(arn, '/') + 1 : NULL;
    const char *why = strcmp(reason, "RESOURCE:MEMORY") == 0  ? "has insufficient memory available"
                      : strcmp(reason, "RESOURCE:CPU") == 0   ? "has insufficient CPU units available"
                      : strcmp(reason, "RESOURCE:PORTS") == 0 ? "is already using a port required by your task"
                                                              : NULL;
    (void)x;
    if (!inst)
        snprintf(msg, len,
                 "(service %s) was unable to place a task because no container instance met all of its requirements. Reason: No "
                 "Container Instances were found in your cluster. For more information, see the Troubleshooting section of the "
                 "Amazon ECS Developer Guide.",
                 name);
    else if (why)
        snprintf(msg, len,
                 "(service %s) was unable to place a task because no container instance met all of its requirements. The closest "
                 "matching (container-instance %s) %s. For more information, see the Troubleshooting section of the Amazon ECS "
                 "Developer Guide.",
                 name, inst, why);
    else
        snprintf(msg, len,
                 "(service %s) was unable to place a task because no container instance met all of its requirements. The closest "
                 "matching (container-instance %s) encountered error \"%s\". For more information, see the Troubleshooting "
                 "section of the Amazon ECS Developer Guide.",
                 name, inst, reason);
}

/* The service's placement strategies for the engine; ECS's default for a service is spread across availability zones. */
static size_t strategies_of(const json_t *svc, sched_strategy_t *out)
{
    size_t n = 0, i;
    json_t *s;
    json_array_foreach(json_object_get(svc, "placementStrategy"), i, s)
    {
        if (n == SCHED_MAX_STRATEGIES)
            break;
        const char *type = jstr(s, "type");
        out[n++] = (sched_strategy_t){strcmp(type, "binpack") == 0  ? SCHED_STRATEGY_BINPACK
                                      : strcmp(type, "spread") == 0 ? SCHED_STRATEGY_SPREAD
                                                                    : SCHED_STRATEGY_RANDOM,
                                      json_string_value(json_object_get(s, "field"))};
    }
    if (n == 0)
        out[n++] = (sched_strategy_t){SCHED_STRATEGY_SPREAD, "attribute:ecs.availability-zone"};
    return n;
}

static json_t *default_strategy_json(void)
{
    return json_pack("[{s:s,s:s}]", "type", "spread", "field", "attribute:ecs.availability-zone");
}

/* --------------------------------------------------------------- the step */

/* Tells the caller (env->touched) of the instance of a task the step started or stopped. */
static int note_touched(sctx_t *x, const json_t *task)
{
    const json_t *arn = json_object_get(task, "containerInstanceArn");
    if (!x->env->touched || !json_is_string(arn))
        return 0;
    return json_array_append(x->env->touched, (json_t *)arn) ? nomem(x) : 0;
}

static int stop_tasks(sctx_t *x, const json_t *svc, const json_t *tasks, const sched_svc_plan_t *plan, json_t *stopped)
{
    for (size_t k = 0; k < plan->nstop; k++) {
        const json_t *t = json_array_get(tasks, plan->stop[k].task);
        char reason[400];
        if (plan->stop[k].why == SCHED_SVC_STOP_DRAINING)
            snprintf(reason, sizeof(reason), "Service %s: container instance is in DRAINING state", jstr(svc, "serviceName"));
        else
            snprintf(reason, sizeof(reason), "Scaling activity initiated by (deployment %s)",
                     jstr(json_array_get(json_object_get(svc, "deployments"), 0), "id"));
        json_t *out;
        int rc = inner(x, "StopTask",
                       json_pack("{s:s,s:s,s:s}", "cluster", x->cluster, "task", jstr(t, "taskArn"), "reason", reason), &out);
        if (!rc)
            rc = note_touched(x, json_object_get(out, "task"));
        json_decref(out);
        if (rc)
            return rc;
        if (json_array_append_new(stopped, json_string(task_id(t))))
            return nomem(x);
    }
    return 0;
}

/* Places n tasks of the primary deployment in rounds; *failure (a new
 * reference) is the first failure of a round that left tasks unplaced. A
 * RunTask the caller could not have made either (its task definition
 * deregistered since) is not the step's failure, or it would undo the change
 * that ran the step: it goes to *refused, for the service's events. */
static int start_tasks(sctx_t *x, const json_t *svc, const char *group, size_t n, json_t *started, json_t **failure, char *refused,
                       size_t refused_len)
{
    const json_t *primary = json_array_get(json_object_get(svc, "deployments"), 0);
    json_t *strategies = json_object_get(svc, "placementStrategy");
    json_t *constraints = json_object_get(svc, "placementConstraints");
    *failure = NULL;
    while (n > 0) {
        size_t count = n < SVC_RUN_ROUND ? n : SVC_RUN_ROUND;
        json_t *body =
            json_pack("{s:s,s:s,s:I,s:s,s:s,s:s}", "cluster", x->cluster, "taskDefinition", jstr(primary, "taskDefinition"),
                      "count", (json_int_t)count, "group", group, "startedBy", jstr(primary, "id"), "launchType", "EC2");
        if (body && json_array_size(strategies) ? json_object_set(body, "placementStrategy", strategies)
            : body                              ? json_object_set_new(body, "placementStrategy", default_strategy_json())
                                                : 0) {
            json_decref(body);
            return nomem(x);
        }
        if (body && json_array_size(constraints) && json_object_set(body, "placementConstraints", constraints)) {
            json_decref(body);
            return nomem(x);
        }
        json_t *out;
        int rc = inner(x, "RunTask", body, &out);
        if (rc == SCHED_EINVAL) {
            snprintf(refused, refused_len, "%s", x->err->msg);
            memset(x->err, 0, sizeof(*x->err));
            return 0;
        }
        if (rc) {
            json_decref(out);
            return rc;
        }
        size_t i, placed = json_array_size(json_object_get(out, "tasks"));
        json_t *t;
        json_array_foreach(json_object_get(out, "tasks"), i, t)
        {
            if (json_array_append_new(started, json_string(task_id(t))) || note_touched(x, t)) {
                json_decref(out);
                return nomem(x);
            }
        }
        if (placed < count) {
            *failure = json_incref(json_array_get(json_object_get(out, "failures"), 0));
            json_decref(out);
            return 0;
        }
        json_decref(out);
        n -= count;
    }
    return 0;
}

/* Drops older deployments that have no task left; marks the primary
 * COMPLETED once the service is steady. */
static int update_deployments(sctx_t *x, json_t *svc, const json_t *live, bool steady)
{
    json_t *deps = json_object_get(svc, "deployments");
    const char *name = jstr(svc, "serviceName");
    for (size_t i = json_array_size(deps); i-- > 1;) {
        json_t *d = json_array_get(deps, i);
        size_t n = 0, k;
        json_t *t;
        json_array_foreach(live, k, t) n += strcmp(jstr(t, "startedBy"), jstr(d, "id")) == 0;
        if (n == 0)
            json_array_remove(deps, i);
    }
    json_t *primary = json_array_get(deps, 0);
    int rc = 0;
    if (steady && primary && strcmp(jstr(primary, "rolloutState"), "COMPLETED") != 0) {
        char msg[600], reason[96];
        snprintf(reason, sizeof(reason), "ECS deployment %s completed.", jstr(primary, "id"));
        json_object_set_new(primary, "rolloutState", json_string("COMPLETED"));
        json_object_set_new(primary, "rolloutStateReason", json_string(reason));
        json_object_set_new(primary, "updatedAt", json_integer(x->env->now));
        snprintf(msg, sizeof(msg), "(service %s) (deployment %s) deployment completed.", name, jstr(primary, "id"));
        rc = add_event(x, svc, msg);
    }
    if (!rc && steady && !json_is_true(json_object_get(svc, "steady"))) {
        char msg[400];
        snprintf(msg, sizeof(msg), "(service %s) has reached a steady state.", name);
        rc = add_event(x, svc, msg);
    }
    if (!rc && json_object_set_new(svc, "steady", json_boolean(steady)))
        rc = nomem(x);
    return rc;
}

/* One step of one service; the record is written when the step changed it. */
static int reconcile_service(sctx_t *x, const char *key, json_t *svc)
{
    const char *status = jstr(svc, "status");
    if (strcmp(status, "ACTIVE") != 0 && strcmp(status, "DRAINING") != 0)
        return 0;
    const char *name = jstr(svc, "serviceName");
    char group[SCHED_ECS_NAME_MAX + 16];
    service_group(name, group);
    json_t *before = json_deep_copy(svc);
    json_t *tasks = NULL, *ids = NULL, *stopped = json_array(), *started = json_array(), *failure = NULL;
    sched_cluster_t *c = NULL;
    sched_svc_task_t *st = NULL;
    sched_svc_plan_t plan = {0};
    int rc = before && stopped && started ? 0 : nomem(x);
    if (!rc)
        rc = live_tasks(x, group, &tasks);
    if (!rc)
        rc = load_instances(x, tasks, &c, &ids);
    size_t n = tasks ? json_array_size(tasks) : 0;
    if (!rc && !(st = calloc(n ? n : 1, sizeof(*st))))
        rc = nomem(x);
    for (size_t i = 0; !rc && i < n; i++) {
        const json_t *t = json_array_get(tasks, i);
        json_t *idx = json_object_get(ids, jstr(t, "instanceId"));
        st[i] = (sched_svc_task_t){jstr(t, "taskArn"), jstr(t, "startedBy"), task_state(t),
                                   idx ? (size_t)json_integer_value(idx) : SCHED_NO_INSTANCE};
    }
    if (!rc) {
        sched_strategy_t strategies[SCHED_MAX_STRATEGIES];
        json_t *dc = json_object_get(svc, "deploymentConfiguration");
        sched_svc_spec_t spec = {
            .group = group,
            .desired = (size_t)jint(svc, "desiredCount"),
            .min_pct = (unsigned)jint(dc, "minimumHealthyPercent"),
            .max_pct = (unsigned)jint(dc, "maximumPercent"),
            .primary = jstr(json_array_get(json_object_get(svc, "deployments"), 0), "id"),
            .strategies = strategies,
            .nstrategies = strategies_of(svc, strategies),
            .seed = sched_rng_next(&x->rng),
        };
        sched_err_t e = {0};
        sched_status_t s = sched_service_plan(c, &spec, st, n, &plan, &e);
        if (s == SCHED_ENOMEM)
            rc = nomem(x);
        else if (s != SCHED_OK) {
            sched_ecs_err(x->err, "ServerException", 500, "service %s: %s", name, e.msg);
            rc = SCHED_EIO;
        }
    }
    if (!rc)
        rc = stop_tasks(x, svc, tasks, &plan, stopped);
    char msg[1600], list[1200], refused[600] = "";
    if (!rc && plan.start)
        rc = start_tasks(x, svc, group, plan.start < SVC_MAX_STARTS_PER_STEP ? plan.start : SVC_MAX_STARTS_PER_STEP, started,
                         &failure, refused, sizeof(refused));
    if (!rc && json_array_size(stopped)) {
        task_list(list, sizeof(list), stopped);
        snprintf(msg, sizeof(msg), "(service %s) has stopped %zu running tasks: %s.", name, json_array_size(stopped), list);
        rc = add_event(x, svc, msg);
    }
    if (!rc && json_array_size(started)) {
        task_list(list, sizeof(list), started);
        snprintf(msg, sizeof(msg), "(service %s) has started %zu tasks: %s.", name, json_array_size(started), list);
        rc = add_event(x, svc, msg);
    }
    if (!rc && failure) {
        unplaced_message(x, name, failure, msg, sizeof(msg));
        rc = add_event(x, svc, msg);
    }
    if (!rc && refused[0]) {
        snprintf(msg, sizeof(msg), "(service %s) failed to launch a task with (error %s).", name, refused);
        rc = add_event(x, svc, msg);
    }
    /* the tasks once the step is made: read again only when it made any change */
    json_t *after = NULL;
    if (!rc && (plan.nstop || json_array_size(started)))
        rc = live_tasks(x, group, &after);
    else if (!rc)
        after = json_incref(tasks);
    if (!rc)
        rc = update_deployments(x, svc, after, plan.steady);
    if (!rc && strcmp(status, "DRAINING") == 0 && json_array_size(after) == 0)
        json_object_set_new(svc, "status", json_string("INACTIVE"));
    if (!rc && !json_equal(before, svc))
        rc = rec_put(x, key, svc);
    json_decref(after);
    sched_svc_plan_free(&plan);
    free(st);
    sched_cluster_free(c);
    json_decref(ids);
    json_decref(tasks);
    json_decref(stopped);
    json_decref(started);
    json_decref(failure);
    json_decref(before);
    return rc;
}

static int reconcile_cluster(sctx_t *x)
{
    char prefix[KEY_MAX];
    json_t *items;
    snprintf(prefix, sizeof(prefix), "s/%s/", x->cluster);
    int rc = rec_scan(x, prefix, NULL, &items);
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p)
    {
        if (rc)
            break;
        rc = reconcile_service(x, PAIR_KEY(p), PAIR_VALUE(p));
    }
    json_decref(items);
    return rc;
}

static void sctx_init(sctx_t *x, storage_records_t *rs, const sched_ecs_env_t *env, sched_ecs_err_t *err, const char *cluster)
{
    *x = (sctx_t){.rs = rs, .env = env, .err = err, .cluster = cluster};
    /* not env->seed itself: the operation that called us drew its ids from it */
    sched_rng_seed(&x->rng, env->seed ^ 0x5e471ce5c4ed01e5ULL);
}

int sched_ecs_services_reconcile(storage_records_t *rs, const char *cluster, const sched_ecs_env_t *env, sched_ecs_err_t *err)
{
    sctx_t x;
    sctx_init(&x, rs, env, err, cluster);
    return reconcile_cluster(&x);
}

int sched_ecs_services_tick(storage_records_t *rs, const sched_ecs_env_t *env, sched_ecs_err_t *err)
{
    json_t *items;
    sctx_t x;
    sctx_init(&x, rs, env, err, "");
    int rc = rec_scan(&x, "s/", NULL, &items);
    if (rc)
        return rc;
    /* each cluster once: its services' keys are adjacent */
    char last[SCHED_ECS_NAME_MAX + 1] = "";
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p)
    {
        const char *k = PAIR_KEY(p) + 2, *slash = strchr(k, '/');
        const char *status = jstr(PAIR_VALUE(p), "status");
        if (!slash || (size_t)(slash - k) > SCHED_ECS_NAME_MAX ||
            (strcmp(status, "ACTIVE") != 0 && strcmp(status, "DRAINING") != 0))
            continue;
        char cluster[SCHED_ECS_NAME_MAX + 1];
        snprintf(cluster, sizeof(cluster), "%.*s", (int)(slash - k), k);
        if (strcmp(cluster, last) == 0)
            continue;
        snprintf(last, sizeof(last), "%s", cluster);
        x.cluster = cluster;
        if ((rc = reconcile_cluster(&x)))
            break;
    }
    json_decref(items);
    return rc;
}

bool sched_ecs_op_affects_services(sched_ecs_op_t op)
{
    switch (op) {
    case ECS_REGISTER_INSTANCE: /* room for tasks that could not be placed */
    case ECS_DEREGISTER_INSTANCE:
    case ECS_UPDATE_INSTANCES_STATE:
    case ECS_PUT_ATTRIBUTES:
    case ECS_DELETE_ATTRIBUTES:
    case ECS_RUN_TASK:
    case ECS_START_TASK:
    case ECS_STOP_TASK:
    case ECS_SUBMIT_TASK_STATE_CHANGE: /* a task that stopped (or was lost) is replaced */
    case ECS_SUBMIT_CONTAINER_STATE_CHANGE:
        return true;
    default:
        return false;
    }
}

int sched_ecs_services_count(storage_records_t *rs, const char *cluster, long long *n, sched_ecs_err_t *err)
{
    sctx_t x;
    json_t *items;
    char prefix[KEY_MAX];
    sched_ecs_env_t env = {0};
    sctx_init(&x, rs, &env, err, cluster);
    snprintf(prefix, sizeof(prefix), "s/%s/", cluster);
    *n = 0;
    int rc = rec_scan(&x, prefix, NULL, &items);
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p) *n += strcmp(jstr(PAIR_VALUE(p), "status"), "ACTIVE") == 0;
    json_decref(items);
    return rc;
}

int sched_ecs_services_drop(storage_records_t *rs, const char *cluster, sched_ecs_err_t *err)
{
    sctx_t x;
    json_t *items;
    char prefix[KEY_MAX];
    sched_ecs_env_t env = {0};
    sctx_init(&x, rs, &env, err, cluster);
    snprintf(prefix, sizeof(prefix), "s/%s/", cluster);
    int rc = rec_scan(&x, prefix, NULL, &items);
    if (rc)
        return rc;
    size_t i, live = 0;
    json_t *p;
    json_array_foreach(items, i, p) live += strcmp(jstr(PAIR_VALUE(p), "status"), "INACTIVE") != 0;
    if (live) {
        sched_ecs_err(err, "ClusterContainsServicesException", 400,
                      "The Cluster cannot be deleted while Services are active or draining (%zu); delete them first.", live);
        rc = SCHED_EINVAL;
    }
    json_array_foreach(items, i, p)
    {
        if (rc)
            break;
        storage_err_t se = {0};
        storage_status_t st = storage_record_del(rs, SCHED_ECS_SPACE, PAIR_KEY(p), &se);
        if (st != STORAGE_OK && st != STORAGE_NOT_FOUND)
            rc = store_failed(&x, &se);
    }
    json_decref(items);
    return rc;
}

/* ------------------------------------------------------------ the replies */

/* The service as DescribeServices shows it: counts from its tasks. */
static int service_json(sctx_t *x, const json_t *svc, json_t **out)
{
    char group[SCHED_ECS_NAME_MAX + 16];
    service_group(jstr(svc, "serviceName"), group);
    json_t *live, *o = json_deep_copy(svc);
    *out = NULL;
    int rc = o ? live_tasks(x, group, &live) : nomem(x);
    if (rc) {
        json_decref(o);
        return rc;
    }
    json_object_del(o, "steady");
    long long running = 0, pending = 0;
    size_t i, k;
    json_t *d, *t;
    json_array_foreach(json_object_get(o, "deployments"), i, d)
    {
        long long r = 0, p = 0;
        json_array_foreach(live, k, t)
        {
            if (strcmp(jstr(t, "startedBy"), jstr(d, "id")) != 0 || strcmp(jstr(t, "desiredStatus"), "RUNNING") != 0)
                continue;
            r += strcmp(jstr(t, "lastStatus"), "RUNNING") == 0;
            p += strcmp(jstr(t, "lastStatus"), "PENDING") == 0;
        }
        running += r;
        pending += p;
        /* an older deployment wants what it still has; the primary, the service's count */
        json_object_set_new(d, "desiredCount", json_integer(i == 0 ? jint(svc, "desiredCount") : r + p));
        json_object_set_new(d, "runningCount", json_integer(r));
        json_object_set_new(d, "pendingCount", json_integer(p));
        json_object_set_new(d, "failedTasks", json_integer(0));
    }
    json_decref(live);
    if (json_object_set_new(o, "runningCount", json_integer(running)) ||
        json_object_set_new(o, "pendingCount", json_integer(pending))) {
        json_decref(o);
        return nomem(x);
    }
    *out = o;
    return 0;
}

static int reply_service(sctx_t *x, const char *key, json_t **out)
{
    json_t *svc, *o;
    int rc = rec_get(x, key, &svc);
    if (rc == 1) {
        sched_ecs_err(x->err, "ServerException", 500, "cluster state: service record %s vanished", key);
        return SCHED_EIO;
    }
    if (rc)
        return rc;
    rc = service_json(x, svc, &o);
    json_decref(svc);
    if (rc)
        return rc;
    if (!(*out = json_pack("{s:o}", "service", o)))
        return nomem(x);
    return 0;
}

/* ------------------------------------------------------------- operations */

static int set_placement(sctx_t *x, json_t *svc, const json_t *body)
{
    static const char *const keys[] = {"placementStrategy", "placementConstraints"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(body, keys[i]);
        if (v && !json_is_null(v) && json_object_set(svc, keys[i], v))
            return nomem(x);
    }
    json_t *dc = json_object_get(body, "deploymentConfiguration"), *cur = json_object_get(svc, "deploymentConfiguration");
    static const char *const pct[] = {"maximumPercent", "minimumHealthyPercent"};
    for (size_t i = 0; dc && i < 2; i++) {
        json_t *v = json_object_get(dc, pct[i]);
        if (v && !json_is_null(v) && json_object_set(cur, pct[i], v))
            return nomem(x);
    }
    long long min = jint(cur, "minimumHealthyPercent"), max = jint(cur, "maximumPercent");
    if (min >= max)
        return BAD("deploymentConfiguration: minimumHealthyPercent (%lld) must be below maximumPercent (%lld)", min, max);
    return 0;
}

static int create_service(sctx_t *x, const sched_ecs_request_t *r, json_t **out)
{
    int rc = need_cluster(x);
    if (rc)
        return rc;
    const json_t *b = r->body;
    const char *name = jstr(b, "serviceName");
    char key[KEY_MAX], arn[SCHED_ECS_ARN_MAX], carn[SCHED_ECS_ARN_MAX];
    json_t *old, *td;
    service_key(x, name, key);
    if ((rc = rec_get(x, key, &old)) < 0)
        return rc;
    bool live = old && strcmp(jstr(old, "status"), "INACTIVE") != 0;
    json_decref(old);
    if (live)
        return BAD("serviceName: Creation of service was not idempotent: %s exists in cluster %s (delete it first)", name,
                   x->cluster);
    if ((rc = find_task_def(x, r->family, r->revision, &td)))
        return rc;
    /* the service's tasks are placed later by berthd itself, with no caller
     * to check: the caller passes the definition's roles to them here */
    if ((rc = sched_ecs_check_roles(x->rs, x->env, td, x->err))) {
        json_decref(td);
        return rc;
    }
    service_arn(x, name, arn);
    snprintf(carn, sizeof(carn), "arn:aws:ecs:%s:%s:cluster/%s", x->env->region, x->env->account, x->cluster);
    json_t *dep = new_deployment(x, jstr(td, "taskDefinitionArn"));
    json_t *svc =
        dep ? json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:[],s:[],s:{s:i,s:i},s:[o],s:[],s:I,s:b,s:s,s:b,s:{s:s},s:[],s:["
                        "]}",
                        "serviceName", name, "serviceArn", arn, "clusterArn", carn, "status", "ACTIVE", "desiredCount",
                        (json_int_t)jint(b, "desiredCount"), "taskDefinition", jstr(td, "taskDefinitionArn"), "launchType", "EC2",
                        "schedulingStrategy", "REPLICA", "placementStrategy", "placementConstraints", "deploymentConfiguration",
                        "maximumPercent", 200, "minimumHealthyPercent", 100, "deployments", dep, "events", "createdAt",
                        (json_int_t)x->env->now, "steady", 0, "propagateTags", "NONE", "enableECSManagedTags", 0,
                        "deploymentController", "type", "ECS", "loadBalancers", "serviceRegistries")
            : NULL;
    json_decref(td);
    if (!svc)
        return nomem(x);
    /* a service created again under an old one's name starts with its own tags */
    const json_t *tags = json_object_get(b, "tags");
    if ((rc = set_placement(x, svc, b)) || (rc = rec_put(x, key, svc)) || (rc = sched_ecs_tags_drop(x->rs, arn, x->err)) ||
        (json_array_size(tags) && (rc = sched_ecs_tags_apply(x->rs, arn, tags, NULL, x->err))) ||
        (rc = reconcile_service(x, key, svc)) || (rc = reply_service(x, key, out))) {
        json_decref(svc);
        return rc;
    }
    json_decref(svc);
    return 0;
}

static int update_service(sctx_t *x, const sched_ecs_request_t *r, json_t **out)
{
    int rc = need_cluster(x);
    if (rc)
        return rc;
    char name[SCHED_ECS_NAME_MAX + 1], key[KEY_MAX];
    json_t *svc, *td = NULL;
    if ((rc = get_service(x, r, name, key, &svc)))
        return rc;
    const json_t *b = r->body;
    if (strcmp(jstr(svc, "status"), "ACTIVE") != 0) {
        sched_ecs_err(x->err, "ServiceNotActiveException", 400, "Service was not ACTIVE: %s is %s", name, jstr(svc, "status"));
        rc = SCHED_EINVAL;
        goto done;
    }
    json_t *dc = json_object_get(b, "desiredCount");
    if (dc && !json_is_null(dc) && json_object_set(svc, "desiredCount", dc)) {
        rc = nomem(x);
        goto done;
    }
    if ((rc = set_placement(x, svc, b)))
        goto done;
    const char *new_td = jstr(svc, "taskDefinition");
    if (json_object_get(b, "taskDefinition")) {
        if ((rc = find_task_def(x, r->family, r->revision, &td)))
            goto done;
        /* as CreateService: the caller passes the (new) definition's roles to the tasks the roll starts */
        if ((rc = sched_ecs_check_roles(x->rs, x->env, td, x->err)))
            goto done;
        new_td = jstr(td, "taskDefinitionArn");
    }
    json_t *deps = json_object_get(svc, "deployments");
    if (strcmp(new_td, jstr(svc, "taskDefinition")) != 0 || json_is_true(json_object_get(b, "forceNewDeployment"))) {
        /* a new PRIMARY deployment; the older ones stay ACTIVE until their tasks are gone */
        json_t *d;
        size_t i;
        json_array_foreach(deps, i, d) json_object_set_new(d, "status", json_string("ACTIVE"));
        json_t *dep = new_deployment(x, new_td);
        if (!dep || json_array_insert_new(deps, 0, dep) || json_object_set_new(svc, "taskDefinition", json_string(new_td)) ||
            json_object_set_new(svc, "steady", json_false())) {
            rc = nomem(x);
            goto done;
        }
    } else {
        /* the same deployment, rolling out to a new count */
        json_t *primary = json_array_get(deps, 0);
        json_object_set_new(primary, "updatedAt", json_integer(x->env->now));
    }
    if ((rc = rec_put(x, key, svc)) || (rc = reconcile_service(x, key, svc)))
        goto done;
    rc = reply_service(x, key, out);
done:
    json_decref(td);
    json_decref(svc);
    return rc;
}

static int delete_service(sctx_t *x, const sched_ecs_request_t *r, json_t **out)
{
    int rc = need_cluster(x);
    if (rc)
        return rc;
    char name[SCHED_ECS_NAME_MAX + 1], key[KEY_MAX];
    json_t *svc;
    if ((rc = get_service(x, r, name, key, &svc)))
        return rc;
    if (strcmp(jstr(svc, "status"), "ACTIVE") != 0) {
        sched_ecs_err(x->err, "ServiceNotActiveException", 400, "Service was not ACTIVE: %s is %s", name, jstr(svc, "status"));
        json_decref(svc);
        return SCHED_EINVAL;
    }
    if (jint(svc, "desiredCount") > 0 && !json_is_true(json_object_get(r->body, "force"))) {
        json_decref(svc);
        return BAD("The service cannot be stopped while it is scaled above 0: %s has desiredCount %lld; update it to 0 or delete "
                   "with force",
                   name, jint(svc, "desiredCount"));
    }
    /* DRAINING: its tasks are stopped; INACTIVE once none is left */
    if (json_object_set_new(svc, "desiredCount", json_integer(0)) || json_object_set_new(svc, "status", json_string("DRAINING")))
        rc = nomem(x);
    if (!rc && !(rc = rec_put(x, key, svc)) && !(rc = reconcile_service(x, key, svc)))
        rc = reply_service(x, key, out);
    json_decref(svc);
    return rc;
}

static int describe_services(sctx_t *x, const sched_ecs_request_t *r, json_t **out)
{
    int rc = need_cluster(x);
    if (rc)
        return rc;
    json_t *list = json_array(), *failures = json_array();
    bool with_tags = sched_ecs_includes(r->body, "TAGS");
    size_t i;
    json_t *ref;
    if (!list || !failures)
        goto oom;
    json_array_foreach(json_object_get(r->body, "services"), i, ref)
    {
        char name[SCHED_ECS_NAME_MAX + 1], key[KEY_MAX], arn[SCHED_ECS_ARN_MAX];
        json_t *svc, *o;
        sched_ecs_parse_service(json_string_value(ref), x->cluster, name);
        service_key(x, name, key);
        if ((rc = rec_get(x, key, &svc)) < 0)
            goto fail;
        if (rc == 1) {
            service_arn(x, name, arn);
            if (json_array_append_new(failures, json_pack("{s:s,s:s}", "arn", arn, "reason", "MISSING")))
                goto oom;
            continue;
        }
        rc = service_json(x, svc, &o);
        json_decref(svc);
        json_t *tags;
        if (!rc && with_tags && !(rc = sched_ecs_tags_get(x->rs, jstr(o, "serviceArn"), &tags, x->err)))
            json_object_set_new(o, "tags", tags);
        if (rc) {
            json_decref(o);
            goto fail;
        }
        if (json_array_append_new(list, o))
            goto oom;
    }
    if (!(*out = json_pack("{s:o,s:o}", "services", list, "failures", failures)))
        return nomem(x);
    return 0;
oom:
    rc = nomem(x);
fail:
    json_decref(list);
    json_decref(failures);
    return rc;
}

static int list_services(sctx_t *x, const sched_ecs_request_t *r, json_t **out)
{
    int rc = need_cluster(x);
    if (rc)
        return rc;
    char prefix[KEY_MAX];
    json_t *items, *arns = json_array();
    snprintf(prefix, sizeof(prefix), "s/%s/", x->cluster);
    if (!arns || (rc = rec_scan(x, prefix, NULL, &items))) {
        json_decref(arns);
        return rc ? rc : nomem(x);
    }
    const char *launch = json_string_value(json_object_get(r->body, "launchType"));
    const char *strategy = json_string_value(json_object_get(r->body, "schedulingStrategy"));
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p)
    {
        const json_t *svc = PAIR_VALUE(p);
        if (strcmp(jstr(svc, "status"), "INACTIVE") == 0 || (launch && strcmp(launch, jstr(svc, "launchType")) != 0) ||
            (strategy && strcmp(strategy, jstr(svc, "schedulingStrategy")) != 0))
            continue;
        if (json_array_append_new(arns, json_string(jstr(svc, "serviceArn")))) {
            rc = nomem(x);
            break;
        }
    }
    json_decref(items);
    if (rc) {
        json_decref(arns);
        return rc;
    }
    /* offset tokens, as ecs_state.c's listings */
    const char *tok = json_string_value(json_object_get(r->body, "nextToken"));
    json_t *mr = json_object_get(r->body, "maxResults");
    size_t start = tok ? (size_t)strtoull(tok, NULL, 10) : 0,
           n = json_is_integer(mr) ? (size_t)json_integer_value(mr) : DEFAULT_PAGE;
    size_t total = json_array_size(arns);
    json_t *page = json_array();
    for (size_t k = start; page && k < total && k < start + n; k++)
        if (json_array_append(page, json_array_get(arns, k))) {
            json_decref(page);
            page = NULL;
        }
    json_decref(arns);
    if (!page || !(*out = json_pack("{s:o}", "serviceArns", page)))
        return nomem(x);
    if (start + n < total) {
        char next[24];
        snprintf(next, sizeof(next), "%zu", start + n);
        if (json_object_set_new(*out, "nextToken", json_string(next)))
            return nomem(x);
    }
    return 0;
}

int sched_ecs_service_execute(storage_records_t *rs, const sched_ecs_request_t *r, const sched_ecs_env_t *env, json_t **out,
                              sched_ecs_err_t *err)
{
    sctx_t x;
    sctx_init(&x, rs, env, err, r->cluster);
    switch (r->op) {
    case ECS_CREATE_SERVICE:
        return create_service(&x, r, out);
    case ECS_UPDATE_SERVICE:
        return update_service(&x, r, out);
    case ECS_DELETE_SERVICE:
        return delete_service(&x, r, out);
    case ECS_DESCRIBE_SERVICES:
        return describe_services(&x, r, out);
    case ECS_LIST_SERVICES:
        return list_services(&x, r, out);
    default:
        break;
    }
    sched_ecs_err(err, "UnknownOperationException", 400, "not a service operation");
    return SCHED_EINVAL;
}
