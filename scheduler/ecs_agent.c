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

#include <stdio.h>
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
    /* ECS's stop codes: the agent's own stop is a task that failed to start or whose essential container exited */
    if (!json_object_get(t, "stopCode") &&
        (rc = set(x, t, "stopCode", json_string(cur == 0 ? "TaskFailedToStart" : "EssentialContainerExited"))))
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

int sched_ecs_agent_execute(sched_ecs_ctx_t *x, json_t **out)
{
    const sched_ecs_request_t *r = sched_ecs_ctx_request(x);
    int rc = sched_ecs_ctx_need_cluster(x);
    if (rc)
        return rc;
    char id[SCHED_ECS_ID_LEN + 1], key[KEY_MAX];
    sched_ecs_parse_ref(body_str(x, "task"), "task", id); /* checked by ecs_agent_request.c */
    snprintf(key, sizeof(key), "t/%s/%s", r->cluster, id);
    json_t *t;
    if ((rc = sched_ecs_ctx_get(x, key, &t)) < 0)
        return rc;
    if (rc == 1)
        return XERR("InvalidParameterException", "task: The referenced task was not found: %.300s", body_str(x, "task"));
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
