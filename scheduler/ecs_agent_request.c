/*
 * scheduler/ecs_agent_request.c — the shapes of what an agent reports:
 * ECS's SubmitTaskStateChange and SubmitContainerStateChange, with ECS's
 * field names. Pure, like ecs_request.c (which calls this after checking
 * that no unknown top-level field is present and reading `cluster`): every
 * refusal is an InvalidParameterException naming the field.
 *
 * ecs_agent.c trusts what is checked here.
 */
#include "scheduler/scheduler_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define BAD(...) (sched_ecs_err(err, "InvalidParameterException", 400, __VA_ARGS__), SCHED_EINVAL)

/* ECS allows 10 containers per task; a reason is at most this long */
#define AGENT_MAX_CONTAINERS 10
#define AGENT_MAX_REASON 1024
#define AGENT_MAX_BINDINGS 100
#define AGENT_MAX_RUNTIME_ID 255

static int status_field(const json_t *o, const char *path, const char *key, bool required, sched_ecs_err_t *err)
{
    const char *s;
    int rc = sched_ecs_get_str(o, path, key, required, 32, &s, err);
    if (rc || !s)
        return rc;
    if (sched_ecs_status_rank(s) < 0)
        return BAD("%s%s: '%.32s' is not one of PENDING, RUNNING, STOPPED", path, key, s);
    return 0;
}

/* an optional integer in [min, max]; only checked, the caller reads it later */
static int int_field(const json_t *o, const char *path, const char *key, long long min, long long max, sched_ecs_err_t *err)
{
    long long x;
    return sched_ecs_get_int(o, path, key, false, min, max, &x, NULL, err);
}

/* ECS's timestamps: seconds since the epoch, a number (the SDKs send fractions) */
static int time_field(const json_t *o, const char *key, sched_ecs_err_t *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return BAD("%s: must be a timestamp (seconds since 1970)", key);
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0 || d > 253402300799.0) /* up to 9999-12-31 */
        return BAD("%s: %.17g is not a time between 1970 and 9999", key, d);
    return 0;
}

static int fields_only(const json_t *o, const char *path, const char *const *allowed, sched_ecs_err_t *err)
{
    if (!json_is_object(o))
        return BAD("%.100s: must be an object", path);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool known = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(key, *a) == 0)
                known = true;
        if (!known)
            return BAD("%.100s.%.100s: unknown or unsupported field", path, key);
    }
    return 0;
}

static int bindings_field(const json_t *o, const char *path, sched_ecs_err_t *err)
{
    json_t *list = json_object_get(o, "networkBindings");
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list) || json_array_size(list) > AGENT_MAX_BINDINGS)
        return BAD("%snetworkBindings: must be a list of at most %d bindings", path, AGENT_MAX_BINDINGS);
    static const char *const f[] = {"bindIP", "containerPort", "hostPort", "protocol", "containerPortRange", "hostPortRange", NULL};
    size_t i;
    json_t *b;
    json_array_foreach(list, i, b)
    {
        char p[160];
        snprintf(p, sizeof(p), "%snetworkBindings[%zu]", path, i);
        const char *s;
        int rc;
        if ((rc = fields_only(b, p, f, err)))
            return rc;
        snprintf(p, sizeof(p), "%snetworkBindings[%zu].", path, i);
        if ((rc = sched_ecs_get_str(b, p, "bindIP", false, 64, &s, err)) ||
            (rc = int_field(b, p, "containerPort", 0, 65535, err)) || (rc = int_field(b, p, "hostPort", 0, 65535, err)) ||
            (rc = sched_ecs_get_str(b, p, "protocol", false, 8, &s, err)) ||
            (rc = sched_ecs_get_str(b, p, "containerPortRange", false, 32, &s, err)) ||
            (rc = sched_ecs_get_str(b, p, "hostPortRange", false, 32, &s, err)))
            return rc;
        s = json_string_value(json_object_get(b, "protocol"));
        if (s && strcmp(s, "tcp") != 0 && strcmp(s, "udp") != 0)
            return BAD("%sprotocol: '%.8s' is not tcp or udp", p, s);
    }
    return 0;
}

int sched_ecs_status_rank(const char *s)
{
    static const char *const order[] = {"PENDING", "RUNNING", "STOPPED"};
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, order[i]) == 0)
            return i;
    return -1;
}

static bool digest_ok(const char *s)
{
    if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
        return false;
    for (const char *p = s + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* BerthPollWork: containerInstance is read by ecs_request.c */
static int validate_poll(const json_t *b, sched_ecs_err_t *err)
{
    int rc = int_field(b, "", "waitSeconds", 0, SCHED_ECS_POLL_WAIT_MAX, err);
    if (rc)
        return rc;
    json_t *known = json_object_get(b, "knownTasks");
    if (known && !json_is_null(known)) {
        if (!json_is_array(known) || json_array_size(known) > SCHED_ECS_MAX_KNOWN_TASKS)
            return BAD("knownTasks: must be a list of at most %d task ARNs", SCHED_ECS_MAX_KNOWN_TASKS);
        size_t i;
        json_t *v;
        char id[SCHED_ECS_ID_LEN + 1];
        json_array_foreach(known, i, v)
        {
            if (!json_is_string(v) || json_string_length(v) >= SCHED_ECS_ARN_MAX ||
                strlen(json_string_value(v)) != json_string_length(v) || !sched_ecs_parse_ref(json_string_value(v), "task", id))
                return BAD("knownTasks[%zu]: not a task id or ARN", i);
        }
    }
    json_t *layers = json_object_get(b, "layers");
    if (layers && !json_is_null(layers)) {
        if (!json_is_array(layers) || json_array_size(layers) > SCHED_ECS_MAX_LAYERS)
            return BAD("layers: must be a list of at most %d digests", SCHED_ECS_MAX_LAYERS);
        size_t i;
        json_t *v;
        json_array_foreach(layers, i, v)
        {
            if (!json_is_string(v) || json_string_length(v) != 71 || !digest_ok(json_string_value(v)))
                return BAD("layers[%zu]: not a digest (sha256: and 64 lowercase hex digits)", i);
        }
    }
    return 0;
}

int sched_ecs_agent_validate(sched_ecs_request_t *r, const sched_ecs_env_t *env, sched_ecs_err_t *err)
{
    (void)env;
    const json_t *b = r->body;
    const char *s;
    char id[SCHED_ECS_ID_LEN + 1];
    int rc;
    if (r->op == ECS_POLL_WORK)
        return validate_poll(b, err);
    if ((rc = sched_ecs_get_str(b, "", "task", true, SCHED_ECS_ARN_MAX, &s, err)))
        return rc;
    if (!sched_ecs_parse_ref(s, "task", id))
        return BAD("task: '%.300s' is not a task id (32 hex digits) or ARN", s);
    if (r->op == ECS_GET_TASK_CREDENTIALS)
        return 0; /* containerInstance is read by ecs_request.c */
    if ((rc = sched_ecs_get_str(b, "", "reason", false, AGENT_MAX_REASON, &s, err)))
        return rc;
    if (r->op == ECS_SUBMIT_CONTAINER_STATE_CHANGE) {
        if ((rc = sched_ecs_get_str(b, "", "containerName", true, 255, &s, err)) ||
            (rc = sched_ecs_get_str(b, "", "runtimeId", false, AGENT_MAX_RUNTIME_ID, &s, err)) ||
            (rc = status_field(b, "", "status", true, err)) || (rc = int_field(b, "", "exitCode", INT32_MIN, INT32_MAX, err)))
            return rc;
        return bindings_field(b, "", err);
    }
    if ((rc = status_field(b, "", "status", false, err)) || (rc = time_field(b, "pullStartedAt", err)) ||
        (rc = time_field(b, "pullStoppedAt", err)) || (rc = time_field(b, "executionStoppedAt", err)))
        return rc;
    /* accepted as ECS's agent sends them, not kept: Berth has no ENIs nor managed agents */
    static const char *const ignored[] = {"attachments", "managedAgents"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(b, ignored[i]);
        if (v && !json_is_null(v) && (!json_is_array(v) || json_array_size(v) > 10))
            return BAD("%s: must be a list of at most 10 items", ignored[i]);
    }
    json_t *list = json_object_get(b, "containers");
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list) || json_array_size(list) > AGENT_MAX_CONTAINERS)
        return BAD("containers: must be a list of at most %d containers", AGENT_MAX_CONTAINERS);
    static const char *const cf[] = {"containerName",   "imageDigest", "runtimeId", "exitCode",
                                     "networkBindings", "reason",      "status",    NULL};
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        char p[64];
        snprintf(p, sizeof(p), "containers[%zu]", i);
        if ((rc = fields_only(c, p, cf, err)))
            return rc;
        snprintf(p, sizeof(p), "containers[%zu].", i);
        if ((rc = sched_ecs_get_str(c, p, "containerName", true, 255, &s, err)) ||
            (rc = sched_ecs_get_str(c, p, "imageDigest", false, 255, &s, err)) ||
            (rc = sched_ecs_get_str(c, p, "runtimeId", false, AGENT_MAX_RUNTIME_ID, &s, err)) ||
            (rc = int_field(c, p, "exitCode", INT32_MIN, INT32_MAX, err)) ||
            (rc = sched_ecs_get_str(c, p, "reason", false, AGENT_MAX_REASON, &s, err)) ||
            (rc = status_field(c, p, "status", false, err)) || (rc = bindings_field(c, p, err)))
            return rc;
    }
    return 0;
}
