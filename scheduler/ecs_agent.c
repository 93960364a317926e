/*
 * scheduler/ecs_agent.c — what an agent reports, on the cluster state:
 * SubmitTaskStateChange and SubmitContainerStateChange, with ECS's shapes
 * (checked by ecs_agent_request.c).
 *
 * A task's lastStatus only moves up, PENDING -> RUNNING -> STOPPED (a
 * report of the status it already has is accepted again, so an agent may
 * repeat a report it is not sure arrived); so does each container's. A
 * report that would move one back is a ClientException: the agent learns
 * that the task was stopped without it (StopTask on a PENDING task, or lost)
 * and stops it. A task that reaches STOPPED releases its claims (CPU,
 * memory, host ports, its place in its group) in the same transaction,
 * and becomes desiredStatus STOPPED too.
 */
#include "scheduler/scheduler_internal.h"

#include "storage/storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX (4 + SCHED_ECS_NAME_MAX + SCHED_ECS_ID_LEN + 16)

#define XERR(type, ...) (sched_ecs_err(sched_ecs_ctx_err(x), type, 400, __VA_ARGS__), SCHED_EINVAL)

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static const char *body_str(sched_ecs_ctx_t *x, const char *key)
{
    return json_string_value(json_object_get(sched_ecs_ctx_request(x)->body, key));
}

static json_t *find_container(json_t *t, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(t, "containers"), i, c)
    {
        if (strcmp(jstr(c, "name"), name) == 0)
            return c;
    }
    return NULL;
}

static int set(sched_ecs_ctx_t *x, json_t *o, const char *key, json_t *v)
{
    return json_object_set_new(o, key, v) ? sched_ecs_ctx_nomem(x) : 0;
}

static int set_copy(sched_ecs_ctx_t *x, json_t *o, const char *key, const json_t *from, const char *from_key)
{
    json_t *v = json_object_get(from, from_key);
    if (!v || json_is_null(v))
        return 0;
    return set(x, o, key, json_deep_copy(v));
}

/* One container's report (status, exitCode, reason, networkBindings,
 * runtimeId) from object `rep`, whose container name is in `name_key`. */
static int apply_container(sched_ecs_ctx_t *x, json_t *t, const json_t *rep, const char *name_key, const char *path)
{
    const char *name = jstr(rep, name_key);
    json_t *c = find_container(t, name);
    if (!c)
        return XERR("InvalidParameterException", "%s%s: the task has no container '%.255s'", path, name_key, name);
    const char *status = json_string_value(json_object_get(rep, "status"));
    if (status) {
        int cur = sched_ecs_status_rank(jstr(c, "lastStatus")), want = sched_ecs_status_rank(status);
        if (want < cur)
            return XERR("ClientException", "%sstatus: container '%.255s' is %s and cannot become %s", path, name,
                        jstr(c, "lastStatus"), status);
        int rc = set(x, c, "lastStatus", json_string(status));
        if (rc)
            return rc;
    }
    int rc;
    if ((rc = set_copy(x, c, "exitCode", rep, "exitCode")) || (rc = set_copy(x, c, "reason", rep, "reason")) ||
        (rc = set_copy(x, c, "runtimeId", rep, "runtimeId")) || (rc = set_copy(x, c, "imageDigest", rep, "imageDigest")))
        return rc;
    json_t *nb = json_object_get(rep, "networkBindings");
    if (json_is_array(nb)) {
        /* what the engine chose replaces what was planned; a binding keeps ECS's defaults */
        json_t *list = json_array();
        size_t i;
        json_t *b;
        if (!list)
            return sched_ecs_ctx_nomem(x);
        json_array_foreach(nb, i, b)
        {
            json_t *e = json_deep_copy(b);
            if (!e || (!json_object_get(e, "bindIP") && json_object_set_new(e, "bindIP", json_string("0.0.0.0"))) ||
                (!json_object_get(e, "protocol") && json_object_set_new(e, "protocol", json_string("tcp"))) ||
                json_array_append_new(list, e)) {
                json_decref(list);
                return sched_ecs_ctx_nomem(x);
            }
        }
        if ((rc = set(x, c, "networkBindings", list)))
            return rc;
    }
    return 0;
}

/* Containers below `status` that this report did not name follow the task. */
static int raise_containers(sched_ecs_ctx_t *x, json_t *t, const char *status)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(t, "containers"), i, c)
    {
        if (sched_ecs_status_rank(jstr(c, "lastStatus")) < sched_ecs_status_rank(status) &&
            json_object_set_new(c, "lastStatus", json_string(status)))
            return sched_ecs_ctx_nomem(x);
    }
    return 0;
}

static int task_status(sched_ecs_ctx_t *x, json_t *t, const char *status)
{
    const sched_ecs_env_t *env = sched_ecs_ctx_env(x);
    const char *last = jstr(t, "lastStatus");
    int cur = sched_ecs_status_rank(last), want = sched_ecs_status_rank(status);
    if (want < cur)
        return XERR("ClientException", "status: task %s is %s and cannot become %s (stoppedReason: %.300s)", jstr(t, "id"), last,
                    status, jstr(t, "stoppedReason"));
    if (want == cur)
        return 0;
    int rc = 0;
    json_int_t now = (json_int_t)env->now;
    if (want == 1) {
        if ((rc = set(x, t, "lastStatus", json_string("RUNNING"))) || (rc = set(x, t, "startedAt", json_integer(now))) ||
            (rc = set(x, t, "connectivity", json_string("CONNECTED"))) || (rc = set(x, t, "connectivityAt", json_integer(now))))
            return rc;
        return raise_containers(x, t, "RUNNING");
    }
    /* STOPPED: its claims go back to the instance now */
    if ((rc = sched_ecs_ctx_release(x, t)))
        return rc;
    const char *reason = body_str(x, "reason");
    if (!json_object_get(t, "stoppedReason") &&
        (rc = set(x, t, "stoppedReason", json_string(reason ? reason : "Essential container in task exited"))))
        return rc;
    /* ECS's stop codes: the agent's own stop is a task that failed to start or whose essential container exited;
     * a lost task's instance is as good as terminated */
    const char *code = sched_ecs_ctx_request(x)->lost ? "TerminationNotice"
                       : cur == 0                     ? "TaskFailedToStart"
                                                      : "EssentialContainerExited";
    if (!json_object_get(t, "stopCode") && (rc = set(x, t, "stopCode", json_string(code))))
        return rc;
    if (!json_object_get(t, "stoppingAt") && (rc = set(x, t, "stoppingAt", json_integer(now))))
        return rc;
    if (!json_object_get(t, "executionStoppedAt") && (rc = set(x, t, "executionStoppedAt", json_integer(now))))
        return rc;
    if ((rc = set(x, t, "lastStatus", json_string("STOPPED"))) || (rc = set(x, t, "desiredStatus", json_string("STOPPED"))) ||
        (rc = set(x, t, "stoppedAt", json_integer(now))))
        return rc;
    return raise_containers(x, t, "STOPPED");
}

/* The instance record `in` was registered by env->caller (or by nobody we
 * know of: an instance registered before owners were kept, or in the open
 * mode), else AccessDeniedException: one instance's agent never acts for
 * another's. */
static int owner_check(sched_ecs_ctx_t *x, const json_t *in, const char *instance_id)
{
    const char *caller = sched_ecs_ctx_env(x)->caller;
    const char *owner = json_string_value(json_object_get(in, "owner"));
    if (!caller || !owner || strcmp(caller, owner) == 0)
        return 0;
    sched_ecs_err(sched_ecs_ctx_err(x), "AccessDeniedException", 400,
                  "containerInstance: %s was registered by another principal: only its own agent may act for it", instance_id);
    return SCHED_EINVAL;
}

/* The instance record a task is on, checked against the caller. */
static int task_owner_check(sched_ecs_ctx_t *x, const json_t *t)
{
    if (!sched_ecs_ctx_env(x)->caller)
        return 0;
    char key[KEY_MAX];
    json_t *in;
    snprintf(key, sizeof(key), "i/%s/%s", sched_ecs_ctx_request(x)->cluster, jstr(t, "instanceId"));
    int rc = sched_ecs_ctx_get(x, key, &in);
    if (rc < 0)
        return rc;
    if (rc == 1) /* deregistered: nothing to act for, and nobody to ask */
        return XERR("ClientException", "task: its container instance %s is not registered", jstr(t, "instanceId"));
    rc = owner_check(x, in, jstr(t, "instanceId"));
    json_decref(in);
    return rc;
}

/* BerthGetTaskCredentials: the role and session name of a task the caller's
 * instance runs; berthd mints the credentials. */
static int task_credentials(sched_ecs_ctx_t *x, json_t **out)
{
    const sched_ecs_request_t *r = sched_ecs_ctx_request(x);
    char iid[SCHED_ECS_ID_LEN + 1], tid[SCHED_ECS_ID_LEN + 1], key[KEY_MAX];
    sched_ecs_parse_ref(body_str(x, "containerInstance"), "container-instance", iid);
    sched_ecs_parse_ref(body_str(x, "task"), "task", tid);
    json_t *in = NULL, *t = NULL, *td = NULL;
    snprintf(key, sizeof(key), "i/%s/%s", r->cluster, iid);
    int rc = sched_ecs_ctx_get(x, key, &in);
    if (rc == 1)
        rc = XERR("ClientException", "containerInstance: %s is not registered in cluster %s", iid, r->cluster);
    if (rc || (rc = owner_check(x, in, iid)))
        goto done;
    snprintf(key, sizeof(key), "t/%s/%s", r->cluster, tid);
    if ((rc = sched_ecs_ctx_get(x, key, &t)) == 1)
        rc = XERR("ClientException", "task: %s is not a task of cluster %s", tid, r->cluster);
    if (rc)
        goto done;
    if (strcmp(jstr(t, "instanceId"), iid) != 0) {
        rc = XERR("ClientException", "task: %s does not run on container instance %s", tid, iid);
        goto done;
    }
    if (strcmp(jstr(t, "lastStatus"), "STOPPED") == 0 || strcmp(jstr(t, "desiredStatus"), "STOPPED") == 0) {
        rc = XERR("ClientException", "task: %s is stopped or stopping: it gets no credentials", tid);
        goto done;
    }
    snprintf(key, sizeof(key), "d/%s/%010lld", jstr(t, "family"), (long long)json_integer_value(json_object_get(t, "revision")));
    if ((rc = sched_ecs_ctx_get(x, key, &td)) < 0)
        goto done;
    const char *role = json_string_value(json_object_get(td, "taskRoleArn"));
    if (!role || !*role) {
        rc = XERR("ClientException", "task: %s has no task role (its task definition names no taskRoleArn)", tid);
        goto done;
    }
    if (!(*out = json_pack("{s:s,s:s,s:s}", "taskArn", jstr(t, "taskArn"), "roleArn", role, "sessionName", tid)))
        rc = sched_ecs_ctx_nomem(x);
done:
    json_decref(in);
    json_decref(t);
    json_decref(td);
    return rc;
}

/* ---------------------------------------------------------- BerthPollWork */

/* What an agent needs to start task t: the task definition's containers with the planned bindings. */
static int work_item(sched_ecs_ctx_t *x, const json_t *t, json_t **out)
{
    char key[KEY_MAX];
    json_t *td = NULL;
    snprintf(key, sizeof(key), "d/%s/%010lld", jstr(t, "family"), (long long)json_integer_value(json_object_get(t, "revision")));
    int rc = sched_ecs_ctx_get(x, key, &td);
    if (rc < 0)
        return rc;
    json_t *containers = json_array();
    /* networkMode: a Docker runtime runs bridge and host tasks differently */
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:O*,s:s,s:o}", "taskArn", jstr(t, "taskArn"), "taskDefinitionArn",
                          jstr(t, "taskDefinitionArn"), "desiredStatus", jstr(t, "desiredStatus"), "lastStatus",
                          jstr(t, "lastStatus"), "overrides", json_object_get(t, "overrides"), "networkMode",
                          json_string_value(json_object_get(td, "networkMode")) ?: "bridge", "containers", containers);
    if (!o) {
        json_decref(td);
        return sched_ecs_ctx_nomem(x);
    }
    /* the agent fetches the role's credentials for the task (BerthGetTaskCredentials) */
    json_t *role = json_object_get(td, "taskRoleArn");
    if (json_is_string(role) && json_object_set(o, "taskRoleArn", role))
        goto oom;
    static const char *const keep[] = {"name",    "image",      "cpu",       "memory",       "memoryReservation", "environment",
                                       "command", "entryPoint", "essential", "portMappings", "stopTimeout"};
    size_t i;
    json_t *cd;
    json_array_foreach(json_object_get(td, "containerDefinitions"), i, cd)
    {
        json_t *c = json_object();
        if (!c || json_array_append_new(containers, c))
            goto oom;
        for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
            json_t *v = json_object_get(cd, keep[k]);
            if (v && json_object_set_new(c, keep[k], json_deep_copy(v)))
                goto oom;
        }
        json_t *tc = find_container((json_t *)t, jstr(cd, "name"));
        json_t *nb = json_object_get(tc, "networkBindings");
        if (nb && json_object_set_new(c, "networkBindings", json_deep_copy(nb)))
            goto oom;
    }
    json_decref(td);
    *out = o;
    return 0;
oom:
    json_decref(td);
    json_decref(o);
    return sched_ecs_ctx_nomem(x);
}

static int poll_work(sched_ecs_ctx_t *x, json_t **out)
{
    const sched_ecs_request_t *r = sched_ecs_ctx_request(x);
    char id[SCHED_ECS_ID_LEN + 1], key[KEY_MAX];
    sched_ecs_parse_ref(body_str(x, "containerInstance"), "container-instance", id);
    snprintf(key, sizeof(key), "i/%s/%s", r->cluster, id);
    json_t *in, *items = NULL, *known = json_object(), *tasks = json_array(), *stop = json_array();
    int rc = sched_ecs_ctx_get(x, key, &in);
    if (rc < 0)
        goto done;
    if (rc == 1) {
        rc = XERR("ClientException", "containerInstance: %s is not registered in cluster %s", id, r->cluster);
        goto done;
    }
    if ((rc = owner_check(x, in, id)))
        goto done;
    if (!known || !tasks || !stop) {
        rc = sched_ecs_ctx_nomem(x);
        goto done;
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r->body, "knownTasks"), i, v)
    {
        char tid[SCHED_ECS_ID_LEN + 1];
        sched_ecs_parse_ref(json_string_value(v), "task", tid);
        if (json_object_set_new(known, tid, json_false())) {
            rc = sched_ecs_ctx_nomem(x);
            goto done;
        }
    }
    /* the records keep no per-instance index of tasks yet: every task of the
     * cluster is read, but only those whose bytes name the instance are parsed */
    snprintf(key, sizeof(key), "t/%s/", r->cluster);
    if ((rc = sched_ecs_ctx_scan_holding(x, key, id, &items)))
        goto done;
    json_t *p;
    json_array_foreach(items, i, p)
    {
        json_t *t = json_array_get(p, 1);
        if (strcmp(jstr(t, "instanceId"), id) != 0)
            continue;
        json_t *k = json_object_get(known, jstr(t, "id"));
        if (k) {
            json_object_set_new(known, jstr(t, "id"), json_true());
            if (strcmp(jstr(t, "desiredStatus"), "STOPPED") == 0 && json_array_append_new(stop, json_string(jstr(t, "taskArn")))) {
                rc = sched_ecs_ctx_nomem(x);
                goto done;
            }
            continue;
        }
        if (strcmp(jstr(t, "desiredStatus"), "RUNNING") != 0 || strcmp(jstr(t, "lastStatus"), "STOPPED") == 0)
            continue;
        json_t *w = NULL;
        if ((rc = work_item(x, t, &w)))
            goto done;
        if (json_array_append_new(tasks, w)) {
            rc = sched_ecs_ctx_nomem(x);
            goto done;
        }
    }
    /* known tasks the cluster does not hold on this instance: the agent stops them */
    json_array_foreach(json_object_get(r->body, "knownTasks"), i, v)
    {
        char tid[SCHED_ECS_ID_LEN + 1];
        sched_ecs_parse_ref(json_string_value(v), "task", tid);
        if (json_is_false(json_object_get(known, tid)) && json_array_append(stop, v)) {
            rc = sched_ecs_ctx_nomem(x);
            goto done;
        }
        json_object_del(known, tid); /* once, even if listed twice */
    }
    char arn[SCHED_ECS_ARN_MAX];
    snprintf(arn, sizeof(arn), "arn:aws:ecs:%s:%s:container-instance/%s/%s", sched_ecs_ctx_env(x)->region,
             sched_ecs_ctx_env(x)->account, r->cluster, id);
    if (!(*out = json_pack("{s:s,s:O,s:O,s:s}", "containerInstanceArn", arn, "tasks", tasks, "stopTasks", stop, "status",
                           jstr(in, "status"))))
        rc = sched_ecs_ctx_nomem(x);
done:
    json_decref(in);
    json_decref(items);
    json_decref(known);
    json_decref(tasks);
    json_decref(stop);
    return rc;
}

/* A lost task's instance must still be silent when the write comes: a heartbeat may have arrived since the scan. */
static bool still_lost(sched_ecs_ctx_t *x, const json_t *t)
{
    const sched_ecs_env_t *env = sched_ecs_ctx_env(x);
    char key[KEY_MAX];
    json_t *in;
    snprintf(key, sizeof(key), "i/%s/%s", sched_ecs_ctx_request(x)->cluster, jstr(t, "instanceId"));
    int rc = sched_ecs_ctx_get(x, key, &in);
    if (rc != 0)
        return rc == 1; /* deregistered: nothing will report for it */
    int64_t hb = (int64_t)json_integer_value(json_object_get(in, "heartbeatAt"));
    json_decref(in);
    if (env->last_seen) {
        int64_t m = env->last_seen(env->last_seen_ctx, sched_ecs_ctx_request(x)->cluster, jstr(t, "instanceId"));
        if (m > hb)
            hb = m;
    }
    return env->now - hb > env->task_lost_timeout;
}

int sched_ecs_agent_execute(sched_ecs_ctx_t *x, json_t **out)
{
    const sched_ecs_request_t *r = sched_ecs_ctx_request(x);
    int rc = sched_ecs_ctx_need_cluster(x);
    if (rc)
        return rc;
    if (r->op == ECS_POLL_WORK)
        return poll_work(x, out);
    if (r->op == ECS_GET_TASK_CREDENTIALS)
        return task_credentials(x, out);
    char id[SCHED_ECS_ID_LEN + 1], key[KEY_MAX];
    sched_ecs_parse_ref(body_str(x, "task"), "task", id); /* checked by ecs_agent_request.c */
    snprintf(key, sizeof(key), "t/%s/%s", r->cluster, id);
    json_t *t;
    if ((rc = sched_ecs_ctx_get(x, key, &t)) < 0)
        return rc;
    if (rc == 1)
        return XERR("InvalidParameterException", "task: The referenced task was not found: %.300s", body_str(x, "task"));
    if (!r->lost && (rc = task_owner_check(x, t))) {
        json_decref(t);
        return rc;
    }
    if (r->lost && (strcmp(jstr(t, "lastStatus"), "STOPPED") == 0 || !still_lost(x, t))) {
        json_decref(t);
        return (*out = json_pack("{s:s}", "acknowledgment", "SKIPPED")) ? 0 : sched_ecs_ctx_nomem(x);
    }
    if (r->op == ECS_SUBMIT_CONTAINER_STATE_CHANGE) {
        rc = apply_container(x, t, r->body, "containerName", "");
    } else {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(r->body, "containers"), i, c)
        {
            char path[48];
            snprintf(path, sizeof(path), "containers[%zu].", i);
            if ((rc = apply_container(x, t, c, "containerName", path)))
                break;
        }
        /* ECS's agent sends the pull times once, with the task's first change after the pull */
        if (!rc && !(rc = set_copy(x, t, "pullStartedAt", r->body, "pullStartedAt")) &&
            !(rc = set_copy(x, t, "pullStoppedAt", r->body, "pullStoppedAt")) &&
            !(rc = set_copy(x, t, "executionStoppedAt", r->body, "executionStoppedAt")) && body_str(x, "status"))
            rc = task_status(x, t, body_str(x, "status"));
    }
    if (!rc && !(rc = set(x, t, "version", json_integer(json_integer_value(json_object_get(t, "version")) + 1))))
        rc = sched_ecs_ctx_put(x, key, t);
    json_decref(t);
    if (rc)
        return rc;
    if (!(*out = json_pack("{s:s}", "acknowledgment", "ACK")))
        return sched_ecs_ctx_nomem(x);
    return 0;
}

/* ------------------------------------------- heartbeats and lost tasks */

bool sched_ecs_poll_target(const sched_ecs_request_t *r, const char **cluster, char *instance_id, int *wait)
{
    if (r->op != ECS_POLL_WORK)
        return false;
    *cluster = r->cluster;
    sched_ecs_parse_ref(json_string_value(json_object_get(r->body, "containerInstance")), "container-instance", instance_id);
    json_t *w = json_object_get(r->body, "waitSeconds");
    *wait = json_is_integer(w) ? (int)json_integer_value(w) : -1;
    return true;
}

static int store_err(sched_ecs_err_t *err, const storage_err_t *se)
{
    sched_ecs_err(err, "ServerException", 500, "cluster state: %s", se->msg);
    return se->status == STORAGE_NOMEM ? SCHED_ENOMEM : SCHED_EIO;
}

static int load_record(storage_records_t *rs, const char *key, json_t **out, sched_ecs_err_t *err)
{
    const void *val;
    size_t len;
    storage_err_t se = {0};
    *out = NULL;
    storage_status_t st = storage_record_get(rs, SCHED_ECS_SPACE, key, &val, &len, &se);
    if (st == STORAGE_NOT_FOUND)
        return 1;
    if (st != STORAGE_OK)
        return store_err(err, &se);
    *out = json_loadb(val, len, 0, NULL); /* not inside json_is_object: a macro that reads its argument twice */
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        sched_ecs_err(err, "ServerException", 500, "cluster state: record %s is damaged", key);
        return SCHED_EIO;
    }
    return 0;
}

int sched_ecs_record_heartbeat(storage_records_t *rs, const char *cluster, const char *instance_id, int64_t at,
                               const json_t *layers, sched_ecs_err_t *err)
{
    char key[KEY_MAX];
    json_t *in;
    snprintf(key, sizeof(key), "i/%s/%s", cluster, instance_id);
    int rc = load_record(rs, key, &in, err);
    if (rc)
        return rc;
    if (json_integer_value(json_object_get(in, "heartbeatAt")) < at && json_object_set_new(in, "heartbeatAt", json_integer(at)))
        goto oom;
    /* internal: instance_json copies named fields only, so DescribeContainerInstances does not show them */
    if (layers && json_object_set_new(in, "agentLayers", json_deep_copy(layers)))
        goto oom;
    char *s = json_dumps(in, JSON_COMPACT);
    json_decref(in);
    if (!s) {
        sched_ecs_err(err, "ServerException", 500, "out of memory");
        return SCHED_ENOMEM;
    }
    storage_err_t se = {0};
    storage_status_t st = storage_record_put(rs, SCHED_ECS_SPACE, key, s, strlen(s), false, &se);
    free(s);
    return st == STORAGE_OK ? 0 : store_err(err, &se);
oom:
    json_decref(in);
    sched_ecs_err(err, "ServerException", 500, "out of memory");
    return SCHED_ENOMEM;
}

typedef struct {
    const sched_ecs_env_t *env;
    json_t *lost; /* "cluster/id" -> true, for instances past the timeout */
    json_t *found;
    sched_ecs_err_t *err;
    int rc;
} lost_scan_t;

/* i/<cluster>/<id>: a lost instance goes into s->lost */
static bool lost_instance_cb(void *p, const char *key, size_t key_len, const void *val, size_t len)
{
    lost_scan_t *s = p;
    json_t *in = json_loadb(val, len, 0, NULL);
    if (!in)
        return true; /* a damaged record is the ECS operations' to report */
    char name[KEY_MAX];
    snprintf(name, sizeof(name), "%.*s", (int)(key_len - 2), key + 2);
    char *slash = strrchr(name, '/');
    int64_t hb = (int64_t)json_integer_value(json_object_get(in, "heartbeatAt"));
    json_decref(in);
    if (!slash)
        return true;
    *slash = '\0';
    if (s->env->last_seen) {
        int64_t m = s->env->last_seen(s->env->last_seen_ctx, name, slash + 1);
        if (m > hb)
            hb = m;
    }
    *slash = '/';
    if (s->env->now - hb > s->env->task_lost_timeout && json_object_set_new(s->lost, name, json_true())) {
        sched_ecs_err(s->err, "ServerException", 500, "out of memory");
        s->rc = SCHED_ENOMEM;
        return false;
    }
    return true;
}

/* t/<cluster>/<id>: a task on a lost instance that is not STOPPED goes into s->found */
static bool lost_task_cb(void *p, const char *key, size_t key_len, const void *val, size_t len)
{
    lost_scan_t *s = p;
    json_t *t = json_loadb(val, len, 0, NULL);
    if (!t)
        return true;
    char name[KEY_MAX];
    snprintf(name, sizeof(name), "%.*s", (int)(key_len - 2), key + 2);
    char *slash = strrchr(name, '/');
    if (slash && strcmp(jstr(t, "lastStatus"), "STOPPED") != 0) {
        *slash = '\0';
        char inst[KEY_MAX + SCHED_ECS_ID_LEN + 8];
        snprintf(inst, sizeof(inst), "%s/%s", name, jstr(t, "instanceId"));
        if (json_object_get(s->lost, inst) && json_array_append_new(s->found, json_pack("[ss]", name, slash + 1))) {
            json_decref(t);
            sched_ecs_err(s->err, "ServerException", 500, "out of memory");
            s->rc = SCHED_ENOMEM;
            return false;
        }
    }
    json_decref(t);
    return true;
}

int sched_ecs_find_lost(storage_records_t *rs, const sched_ecs_env_t *env, json_t **found, sched_ecs_err_t *err)
{
    lost_scan_t s = {env, json_object(), json_array(), err, 0};
    *found = NULL;
    storage_err_t se = {0};
    int rc = 0;
    if (!s.lost || !s.found) {
        sched_ecs_err(err, "ServerException", 500, "out of memory");
        rc = SCHED_ENOMEM;
    } else if (storage_record_scan(rs, SCHED_ECS_SPACE, "i/", lost_instance_cb, &s, &se) != STORAGE_OK) {
        rc = s.rc ? s.rc : store_err(err, &se);
    } else if (json_object_size(s.lost) > 0 &&
               storage_record_scan(rs, SCHED_ECS_SPACE, "t/", lost_task_cb, &s, &se) != STORAGE_OK) {
        rc = s.rc ? s.rc : store_err(err, &se);
    }
    json_decref(s.lost);
    if (rc) {
        json_decref(s.found);
        return rc;
    }
    *found = s.found;
    return 0;
}

int sched_ecs_mark_lost(storage_records_t *rs, const sched_ecs_env_t *env, const json_t *found, size_t *stopped,
                        sched_ecs_err_t *err)
{
    *stopped = 0;
    size_t i;
    json_t *f;
    json_array_foreach(found, i, f)
    {
        sched_ecs_request_t r = {.op = ECS_SUBMIT_TASK_STATE_CHANGE, .lost = true};
        snprintf(r.cluster, sizeof(r.cluster), "%s", json_string_value(json_array_get(f, 0)));
        r.body = json_pack("{s:s,s:s,s:s,s:s}", "cluster", r.cluster, "task", json_string_value(json_array_get(f, 1)), "status",
                           "STOPPED", "reason", SCHED_ECS_LOST_REASON);
        if (!r.body) {
            sched_ecs_err(err, "ServerException", 500, "out of memory");
            return SCHED_ENOMEM;
        }
        json_t *out = NULL;
        int rc = sched_ecs_execute(rs, &r, env, &out, err);
        json_decref(r.body);
        if (rc == SCHED_EINVAL) /* gone, or its cluster: nothing to mark */
            continue;
        if (rc) {
            json_decref(out);
            return rc;
        }
        if (strcmp(jstr(out, "acknowledgment"), "ACK") == 0)
            (*stopped)++;
        json_decref(out);
    }
    return 0;
}
