/*
 * scheduler/ecs_request.c — the ECS API's requests: which operation, which
 * ecs: action on which resource ARNs, and whether the body is what ECS
 * accepts. Pure: no I/O, no clock. Every refusal is an
 * InvalidParameterException (or ClientException) whose message names the
 * field ("containerDefinitions[0].memory: ...") and, for a Cluster Query
 * Language syntax error, the position; the server sends it as it is.
 *
 * ecs_state.c trusts the shapes checked here: a string field is a string, a
 * count is in range, a reference parses.
 */
#include "scheduler/scheduler_internal.h"
#include "storage/storage.h" /* STORAGE_RECORD_KEY_MAX: how long a record key may be */

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ECS's own limits on the lists a request may carry */
#define ECS_MAX_DESCRIBE 100         /* DescribeClusters, DescribeContainerInstances, DescribeTasks */
#define ECS_MAX_TARGETS 10           /* UpdateContainerInstancesState, StartTask instances, PutAttributes */
#define ECS_MAX_RUN_COUNT 10         /* RunTask's count */
#define ECS_MAX_CONTAINERS 10        /* containers in a task definition */
#define ECS_MAX_ATTRIBUTE_LEN 128    /* attribute names and values */
#define ECS_MAX_STARTED_BY 128       /* ECS says 36; agents and services need room for their own tags */
#define ECS_MAX_TEXT 8192            /* image names, reasons, environment values, command words */
#define ECS_MAX_TAGS 50              /* tags on a resource */
#define ECS_MAX_LIST 1000            /* environment entries, command words, registered ports */
#define ECS_MAX_OVERRIDES 8192       /* RunTask's overrides as JSON: ECS's "container overrides length" */
#define ECS_MAX_TASK_DEF_BYTES 65536 /* a task definition's JSON: ECS's 64 KiB */
#define ECS_MAX_RESOURCES 64         /* INTEGER resource values beyond this are surely a mistake */
/* a DOUBLE resource's value: 2^53, past which a double no longer holds every integer */
#define ECS_MAX_RESOURCE_VALUE 9007199254740992.0

typedef struct {
    const char *name;
    sched_ecs_op_t op;
    bool writes;
    /* the top-level fields the operation takes; anything else is refused */
    const char *fields[20];
} op_info_t;

/* in sched_ecs_op_t's order: indexed by it */
static const op_info_t ops[ECS_OP_COUNT] = {
    {"CreateCluster", ECS_CREATE_CLUSTER, true, {"clusterName", "tags", "settings"}},
    {"DescribeClusters", ECS_DESCRIBE_CLUSTERS, false, {"clusters", "include"}},
    {"ListClusters", ECS_LIST_CLUSTERS, false, {"maxResults", "nextToken"}},
    {"DeleteCluster", ECS_DELETE_CLUSTER, true, {"cluster"}},
    {"RegisterContainerInstance",
     ECS_REGISTER_INSTANCE,
     true,
     {"cluster", "instanceIdentityDocument", "instanceIdentityDocumentSignature", "totalResources", "versionInfo",
      "containerInstanceArn", "attributes", "platformDevices", "tags"}},
    {"DeregisterContainerInstance", ECS_DEREGISTER_INSTANCE, true, {"cluster", "containerInstance", "force"}},
    {"ListContainerInstances", ECS_LIST_INSTANCES, false, {"cluster", "filter", "status", "maxResults", "nextToken"}},
    {"DescribeContainerInstances", ECS_DESCRIBE_INSTANCES, false, {"cluster", "containerInstances", "include"}},
    {"UpdateContainerInstancesState", ECS_UPDATE_INSTANCES_STATE, true, {"cluster", "containerInstances", "status"}},
    {"PutAttributes", ECS_PUT_ATTRIBUTES, true, {"cluster", "attributes"}},
    {"DeleteAttributes", ECS_DELETE_ATTRIBUTES, true, {"cluster", "attributes"}},
    {"ListAttributes",
     ECS_LIST_ATTRIBUTES,
     false,
     {"cluster", "targetType", "attributeName", "attributeValue", "maxResults", "nextToken"}},
    {"RegisterTaskDefinition",
     ECS_REGISTER_TASK_DEF,
     true,
     {"family", "containerDefinitions", "taskRoleArn", "executionRoleArn", "networkMode", "placementConstraints",
      "requiresCompatibilities", "cpu", "memory", "tags"}},
    {"DescribeTaskDefinition", ECS_DESCRIBE_TASK_DEF, false, {"taskDefinition", "include"}},
    {"ListTaskDefinitions", ECS_LIST_TASK_DEFS, false, {"familyPrefix", "status", "sort", "maxResults", "nextToken"}},
    {"ListTaskDefinitionFamilies", ECS_LIST_TASK_DEF_FAMILIES, false, {"familyPrefix", "status", "maxResults", "nextToken"}},
    {"DeregisterTaskDefinition", ECS_DEREGISTER_TASK_DEF, true, {"taskDefinition"}},
    {"RunTask",
     ECS_RUN_TASK,
     true,
     {"cluster", "taskDefinition", "count", "group", "startedBy", "placementStrategy", "placementConstraints", "overrides",
      "launchType", "tags", "enableECSManagedTags", "propagateTags", "clientToken"}},
    {"StartTask",
     ECS_START_TASK,
     true,
     {"cluster", "taskDefinition", "containerInstances", "group", "startedBy", "overrides", "tags", "enableECSManagedTags",
      "propagateTags"}},
    {"StopTask", ECS_STOP_TASK, true, {"cluster", "task", "reason"}},
    {"ListTasks",
     ECS_LIST_TASKS,
     false,
     {"cluster", "containerInstance", "family", "startedBy", "serviceName", "desiredStatus", "launchType", "maxResults",
      "nextToken"}},
    {"DescribeTasks", ECS_DESCRIBE_TASKS, false, {"cluster", "tasks", "include"}},
    {"SubmitTaskStateChange",
     ECS_SUBMIT_TASK_STATE_CHANGE,
     true,
     {"cluster", "task", "status", "reason", "containers", "attachments", "managedAgents", "pullStartedAt", "pullStoppedAt",
      "executionStoppedAt"}},
    {"SubmitContainerStateChange",
     ECS_SUBMIT_CONTAINER_STATE_CHANGE,
     true,
     {"cluster", "task", "containerName", "runtimeId", "status", "exitCode", "reason", "networkBindings"}},
    {"CreateService",
     ECS_CREATE_SERVICE,
     true,
     {"cluster", "serviceName", "taskDefinition", "desiredCount", "placementStrategy", "placementConstraints",
      "deploymentConfiguration", "launchType", "schedulingStrategy", "clientToken", "tags", "enableECSManagedTags", "propagateTags",
      "deploymentController"}},
    {"UpdateService",
     ECS_UPDATE_SERVICE,
     true,
     {"cluster", "service", "desiredCount", "taskDefinition", "placementStrategy", "placementConstraints",
      "deploymentConfiguration", "forceNewDeployment"}},
    {"DeleteService", ECS_DELETE_SERVICE, true, {"cluster", "service", "force"}},
    {"DescribeServices", ECS_DESCRIBE_SERVICES, false, {"cluster", "services", "include"}},
    {"ListServices", ECS_LIST_SERVICES, false, {"cluster", "maxResults", "nextToken", "launchType", "schedulingStrategy"}},
    {"BerthPollWork", ECS_POLL_WORK, false, {"cluster", "containerInstance", "knownTasks", "layers", "waitSeconds"}},
    {"BerthGetTaskCredentials", ECS_GET_TASK_CREDENTIALS, false, {"cluster", "containerInstance", "task"}},
    {"TagResource", ECS_TAG_RESOURCE, true, {"resourceArn", "tags"}},
    {"UntagResource", ECS_UNTAG_RESOURCE, true, {"resourceArn", "tagKeys"}},
    {"ListTagsForResource", ECS_LIST_TAGS, false, {"resourceArn"}},
};

void sched_ecs_err(sched_ecs_err_t *err, const char *type, int status, const char *fmt, ...)
{
    if (!err)
        return;
    err->type = type;
    err->http_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

#define BAD(...) (sched_ecs_err(err, "InvalidParameterException", 400, __VA_ARGS__), SCHED_EINVAL)

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SCHED_ECS_NAME_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return false;
    return true;
}

static bool id_ok(const char *s, size_t n)
{
    if (n != SCHED_ECS_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return true;
}

/* "arn:aws:ecs:REGION:ACCOUNT:" then the rest; NULL when s is not an ECS ARN */
static const char *arn_rest(const char *s)
{
    if (strncmp(s, "arn:", 4) != 0)
        return NULL;
    const char *p = s;
    for (int colons = 0; colons < 5; colons++) {
        p = strchr(p, ':');
        if (!p)
            return NULL;
        p++;
    }
    /* the partition and service: arn:PARTITION:ecs: */
    const char *svc = strchr(s + 4, ':');
    if (!svc || strncmp(svc, ":ecs:", 5) != 0)
        return NULL;
    return p;
}

bool sched_ecs_parse_cluster(const char *s, char *name)
{
    const char *rest = arn_rest(s);
    if (rest) {
        if (strncmp(rest, "cluster/", 8) != 0)
            return false;
        s = rest + 8;
    }
    if (!name_ok(s))
        return false;
    snprintf(name, SCHED_ECS_NAME_MAX + 1, "%s", s);
    return true;
}

bool sched_ecs_parse_ref(const char *s, const char *kind, char *id)
{
    const char *rest = arn_rest(s);
    if (rest) {
        size_t k = strlen(kind);
        if (strncmp(rest, kind, k) != 0 || rest[k] != '/')
            return false;
        const char *last = strrchr(rest, '/');
        s = last + 1;
    }
    if (!id_ok(s, strlen(s)))
        return false;
    memcpy(id, s, SCHED_ECS_ID_LEN);
    id[SCHED_ECS_ID_LEN] = '\0';
    return true;
}

bool sched_ecs_parse_task_def(const char *s, char *family, long long *revision)
{
    const char *rest = arn_rest(s);
    if (rest) {
        if (strncmp(rest, "task-definition/", 16) != 0)
            return false;
        s = rest + 16;
    }
    const char *colon = strchr(s, ':');
    size_t flen = colon ? (size_t)(colon - s) : strlen(s);
    if (flen == 0 || flen > SCHED_ECS_NAME_MAX)
        return false;
    memcpy(family, s, flen);
    family[flen] = '\0';
    if (!name_ok(family))
        return false;
    *revision = 0;
    if (colon) {
        const char *r = colon + 1;
        if (!*r || strlen(r) > 9)
            return false;
        for (const char *p = r; *p; p++)
            if (!isdigit((unsigned char)*p))
                return false;
        *revision = strtoll(r, NULL, 10);
        if (*revision < 1)
            return false;
    }
    return rest ? *revision > 0 : true;
}

/* ---------------------------------------------------------------- fields */

/* A value that asks for nothing: null, false, "", [] or {}. ECS's own
 * descriptions (and Berth's) carry fields such as "volumes": [] and
 * "mountPoints": [], and the usual way to change a task definition is to
 * register what describe-task-definition printed: those are accepted, and
 * any field Berth does not implement is refused once it asks for something. */
static bool asks_nothing(const json_t *v)
{
    return json_is_null(v) || json_is_false(v) || (json_is_string(v) && json_string_length(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0) || (json_is_object(v) && json_object_size(v) == 0);
}

static int check_fields(const json_t *o, const char *path, const char *const *allowed, size_t nallowed, sched_ecs_err_t *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < nallowed && allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                known = true;
        if (!known && !asks_nothing(v))
            return BAD("%s%.100s: unknown or unsupported field", path, key);
    }
    return 0;
}

/* A string field: *out NULL when absent and optional. Strings hold no NUL. */
static int get_str(const json_t *o, const char *path, const char *key, bool required, size_t maxlen, const char **out,
                   sched_ecs_err_t *err)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return BAD("%s%s: required", path, key);
        return 0;
    }
    if (!json_is_string(v))
        return BAD("%s%s: must be a string", path, key);
    if (json_string_length(v) > maxlen || strlen(json_string_value(v)) != json_string_length(v))
        return BAD("%s%s: longer than %zu characters or holds a NUL", path, key, maxlen);
    *out = json_string_value(v);
    return 0;
}

static int get_int(const json_t *o, const char *path, const char *key, bool required, long long min, long long max, long long *out,
                   bool *present, sched_ecs_err_t *err)
{
    json_t *v = json_object_get(o, key);
    if (present)
        *present = false;
    if (!v || json_is_null(v)) {
        if (required)
            return BAD("%s%s: required", path, key);
        return 0;
    }
    if (!json_is_integer(v))
        return BAD("%s%s: must be an integer", path, key);
    long long x = json_integer_value(v);
    if (x < min || x > max)
        return BAD("%s%s: %lld is out of range (%lld to %lld)", path, key, x, min, max);
    *out = x;
    if (present)
        *present = true;
    return 0;
}

static int get_bool(const json_t *o, const char *path, const char *key, sched_ecs_err_t *err)
{
    json_t *v = json_object_get(o, key);
    if (v && !json_is_boolean(v) && !json_is_null(v))
        return BAD("%s%s: must be true or false", path, key);
    return 0;
}

static int get_array(const json_t *o, const char *path, const char *key, bool required, size_t minn, size_t maxn, json_t **out,
                     sched_ecs_err_t *err)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return BAD("%s%s: required", path, key);
        return 0;
    }
    if (!json_is_array(v))
        return BAD("%s%s: must be a list", path, key);
    if (json_array_size(v) < minn || json_array_size(v) > maxn)
        return BAD("%s%s: must hold %zu to %zu items, not %zu", path, key, minn, maxn, json_array_size(v));
    *out = v;
    return 0;
}

static int get_object(const json_t *o, const char *path, const char *key, json_t **out, sched_ecs_err_t *err)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return BAD("%s%s: must be an object", path, key);
    *out = v;
    return 0;
}

/* A list of strings, each at most maxlen. */
static int get_strings(const json_t *o, const char *path, const char *key, bool required, size_t minn, size_t maxn, size_t maxlen,
                       json_t **out, sched_ecs_err_t *err)
{
    int rc = get_array(o, path, key, required, minn, maxn, out, err);
    if (rc || !*out)
        return rc;
    size_t i;
    json_t *v;
    json_array_foreach(*out, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) > maxlen || strlen(json_string_value(v)) != json_string_length(v))
            return BAD("%s%s[%zu]: must be a string of at most %zu characters", path, key, i, maxlen);
    }
    return 0;
}

/* ECS's tags: at most 50 of {"key": 1-128 characters, "value": 0-256}; keys starting aws: are AWS's.
 * required: TagResource's, at least one. */
static int get_tags(const json_t *o, bool required, json_t **out, sched_ecs_err_t *err)
{
    int rc = get_array(o, "", "tags", required, required ? 1 : 0, ECS_MAX_TAGS, out, err);
    if (rc || !*out)
        return rc;
    size_t i;
    json_t *t;
    json_array_foreach(*out, i, t)
    {
        char p[32];
        snprintf(p, sizeof(p), "tags[%zu].", i);
        static const char *const f[] = {"key", "value"};
        const char *k, *v;
        if (!json_is_object(t))
            return BAD("tags[%zu]: must be an object with key and value", i);
        if ((rc = check_fields(t, p, f, 2, err)) || (rc = get_str(t, p, "key", true, 128, &k, err)) ||
            (rc = get_str(t, p, "value", false, 256, &v, err)))
            return rc;
        if (!*k)
            return BAD("tags[%zu].key: must not be empty", i);
        if (strncasecmp(k, "aws:", 4) == 0)
            return BAD("tags[%zu].key: '%.128s': keys starting aws: are reserved for AWS", i, k);
    }
    return 0;
}

/* ------------------------------------------------------------- resources */

static int add_resource(sched_ecs_request_t *r, sched_ecs_err_t *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int add_resource(sched_ecs_request_t *r, sched_ecs_err_t *err, const char *fmt, ...)
{
    char buf[SCHED_ECS_ARN_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char **res = realloc(r->resources, (r->nresources + 1) * sizeof(*res));
    if (!res)
        goto nomem;
    r->resources = res;
    if (!(res[r->nresources] = strdup(buf)))
        goto nomem;
    r->nresources++;
    return 0;
nomem:
    sched_ecs_err(err, "ServerException", 500, "out of memory");
    return SCHED_ENOMEM;
}

#define ARN_PREFIX "arn:aws:ecs:%s:%s:"

static int cluster_field(sched_ecs_request_t *r, const char *key, bool required, sched_ecs_err_t *err)
{
    const char *s;
    int rc = get_str(r->body, "", key, required, SCHED_ECS_ARN_MAX, &s, err);
    if (rc)
        return rc;
    if (!s)
        s = SCHED_ECS_DEFAULT_CLUSTER;
    if (!sched_ecs_parse_cluster(s, r->cluster))
        return BAD("%s: '%.300s' is not a cluster name (1-255 letters, digits, - and _) or a cluster ARN", key, s);
    return 0;
}

static int cluster_resource(sched_ecs_request_t *r, const sched_ecs_env_t *env, sched_ecs_err_t *err)
{
    return add_resource(r, err, ARN_PREFIX "cluster/%s", env->region, env->account, r->cluster);
}

/* A list of instance or task references in field `key`, each a resource. */
static int refs_field(sched_ecs_request_t *r, const sched_ecs_env_t *env, const char *key, const char *kind, size_t maxn,
                      bool as_resources, sched_ecs_err_t *err)
{
    json_t *list;
    int rc = get_strings(r->body, "", key, true, 1, maxn, SCHED_ECS_ARN_MAX, &list, err);
    if (rc)
        return rc;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        char id[SCHED_ECS_ID_LEN + 1];
        if (!sched_ecs_parse_ref(json_string_value(v), kind, id))
            return BAD("%s[%zu]: '%.300s' is not a %s id (32 hex digits) or ARN", key, i, json_string_value(v), kind);
        if (as_resources && (rc = add_resource(r, err, ARN_PREFIX "%s/%s/%s", env->region, env->account, kind, r->cluster, id)))
            return rc;
        if (!as_resources && strcmp(kind, "container-instance") == 0) { /* StartTask's: condition values */
            char **more = realloc(r->instances, (r->ninstances + 1) * sizeof(*more));
            if (!more ||
                asprintf(&more[r->ninstances], ARN_PREFIX "%s/%s/%s", env->region, env->account, kind, r->cluster, id) < 0) {
                if (more)
                    r->instances = more;
                sched_ecs_err(err, "ServerException", 500, "out of memory");
                return SCHED_ENOMEM;
            }
            r->instances = more;
            r->ninstances++;
        }
    }
    return 0;
}

/* One required instance reference in field `key`, the resource. */
static int refs_one(sched_ecs_request_t *r, const sched_ecs_env_t *env, const char *key, sched_ecs_err_t *err)
{
    const char *s;
    char id[SCHED_ECS_ID_LEN + 1];
    int rc = get_str(r->body, "", key, true, SCHED_ECS_ARN_MAX, &s, err);
    if (rc)
        return rc;
    if (!sched_ecs_parse_ref(s, "container-instance", id))
        return BAD("%s: '%.300s' is not a container instance id (32 hex digits) or ARN", key, s);
    return add_resource(r, err, ARN_PREFIX "container-instance/%s/%s", env->region, env->account, r->cluster, id);
}

static int paging(sched_ecs_request_t *r, sched_ecs_err_t *err)
{
    long long n;
    const char *tok;
    int rc = get_int(r->body, "", "maxResults", false, 1, 100, &n, NULL, err);
    if (!rc)
        rc = get_str(r->body, "", "nextToken", false, 64, &tok, err);
    if (!rc && tok) {
        if (!*tok || strspn(tok, "0123456789") != strlen(tok) || strlen(tok) > 9)
            return BAD("nextToken: '%.64s' is not a token this API returned", tok);
    }
    return rc;
}

static int one_of(const json_t *o, const char *path, const char *key, const char *const *values, sched_ecs_err_t *err)
{
    const char *s;
    int rc = get_str(o, path, key, false, 64, &s, err);
    if (rc || !s)
        return rc;
    for (const char *const *v = values; *v; v++)
        if (strcmp(s, *v) == 0)
            return 0;
    char list[256] = "";
    for (const char *const *v = values; *v; v++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", v == values ? "" : ", ", *v);
    return BAD("%s%s: '%.64s' is not one of %s", path, key, s, list);
}

/* ------------------------------------------------------- task definitions */

static int check_name_value_list(const json_t *o, const char *path, const char *key, sched_ecs_err_t *err)
{
    json_t *list;
    int rc = get_array(o, path, key, false, 0, ECS_MAX_LIST, &list, err);
    if (rc || !list)
        return rc;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        char p[256];
        snprintf(p, sizeof(p), "%s%s[%zu].", path, key, i);
        static const char *const f[] = {"name", "value"};
        const char *s;
        if (!json_is_object(e))
            return BAD("%s%s[%zu]: must be an object with name and value", path, key, i);
        if ((rc = check_fields(e, p, f, 2, err)) || (rc = get_str(e, p, "name", true, ECS_MAX_TEXT, &s, err)) ||
            (rc = get_str(e, p, "value", false, ECS_MAX_TEXT, &s, err)))
            return rc;
    }
    return 0;
}

static int check_memberof_constraints(const json_t *o, const char *key, bool allow_distinct, sched_ecs_err_t *err)
{
    json_t *list;
    int rc = get_array(o, "", key, false, 0, 10, &list, err);
    if (rc || !list)
        return rc;
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        char p[160];
        snprintf(p, sizeof(p), "%s[%zu].", key, i);
        static const char *const f[] = {"type", "expression"};
        const char *type, *expr;
        if (!json_is_object(c))
            return BAD("%s[%zu]: must be an object with type and expression", key, i);
        if ((rc = check_fields(c, p, f, 2, err)) || (rc = get_str(c, p, "type", true, 64, &type, err)) ||
            (rc = get_str(c, p, "expression", false, SCHED_CQL_MAX_LEN, &expr, err)))
            return rc;
        if (strcmp(type, "memberOf") == 0) {
            if (!expr)
                return BAD("%sexpression: required for memberOf", p);
            sched_cql_t *q;
            sched_err_t e = {0};
            sched_status_t st = sched_cql_parse(expr, &q, &e);
            if (st == SCHED_ENOMEM) {
                sched_ecs_err(err, "ServerException", 500, "out of memory");
                return SCHED_ENOMEM;
            }
            if (st != SCHED_OK)
                return BAD("%sexpression: %s", p, e.msg);
            sched_cql_free(q);
        } else if (strcmp(type, "distinctInstance") == 0 && allow_distinct) {
            if (expr)
                return BAD("%sexpression: distinctInstance takes no expression", p);
        } else {
            return BAD("%stype: '%.64s' is not %s", p, type, allow_distinct ? "memberOf or distinctInstance" : "memberOf");
        }
    }
    return 0;
}

static int check_port_mappings(const json_t *c, const char *path, bool host_mode, sched_ecs_err_t *err)
{
    json_t *list;
    int rc = get_array(c, path, "portMappings", false, 0, 100, &list, err);
    if (rc || !list)
        return rc;
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m)
    {
        char p[256];
        snprintf(p, sizeof(p), "%sportMappings[%zu].", path, i);
        static const char *const f[] = {"containerPort", "hostPort", "protocol", "name", "appProtocol"};
        long long cport = 0, hport = 0;
        bool has_host;
        if (!json_is_object(m))
            return BAD("%sportMappings[%zu]: must be an object", path, i);
        static const char *const protos[] = {"tcp", "udp", NULL};
        if ((rc = check_fields(m, p, f, 5, err)) || (rc = get_int(m, p, "containerPort", true, 1, 65535, &cport, NULL, err)) ||
            (rc = get_int(m, p, "hostPort", false, 0, 65535, &hport, &has_host, err)) ||
            (rc = one_of(m, p, "protocol", protos, err)))
            return rc;
        if (host_mode && has_host && hport != cport)
            return BAD("%shostPort: in host network mode it must equal containerPort (%lld)", p, cport);
    }
    return 0;
}

/* A fixed host port (and protocol) is mapped once in a task definition: a task claims it on its host
 * once (in host mode a mapping's host port is its containerPort). At most 10 containers of 100
 * mappings: the pairs are compared as numbers. */
static int check_host_ports_distinct(const json_t *defs, bool host_mode, sched_ecs_err_t *err)
{
    struct {
        long port; /* the port, negated for udp */
        unsigned short container, mapping;
    } seen[ECS_MAX_CONTAINERS * 100];
    size_t n = 0, ci, mi;
    json_t *c, *m;
    json_array_foreach(defs, ci, c)
    {
        json_array_foreach(json_object_get(c, "portMappings"), mi, m)
        {
            json_t *hp = json_object_get(m, host_mode ? "containerPort" : "hostPort");
            const char *proto = json_string_value(json_object_get(m, "protocol"));
            bool udp = proto && strcmp(proto, "udp") == 0;
            long port = json_is_integer(hp) ? (long)json_integer_value(hp) : 0;
            if (port == 0 || n == sizeof(seen) / sizeof(seen[0]))
                continue;
            for (size_t k = 0; k < n; k++)
                if (seen[k].port == (udp ? -port : port))
                    return BAD("containerDefinitions[%zu].portMappings[%zu].hostPort: %ld/%s is mapped by "
                               "containerDefinitions[%u].portMappings[%u] too; a host port is mapped once",
                               ci, mi, port, udp ? "udp" : "tcp", seen[k].container, seen[k].mapping);
            seen[n].port = udp ? -port : port;
            seen[n].container = (unsigned short)ci, seen[n].mapping = (unsigned short)mi;
            n++;
        }
    }
    return 0;
}

static int check_container(const json_t *c, size_t i, bool host_mode, long long *mem_sum, sched_ecs_err_t *err)
{
    char p[160];
    snprintf(p, sizeof(p), "containerDefinitions[%zu].", i);
    static const char *const f[] = {"name",        "image",   "cpu",        "memory",    "memoryReservation", "portMappings",
                                    "environment", "command", "entryPoint", "essential", "logConfiguration",  "stopTimeout"};
    const char *s;
    long long cpu = 0, mem = 0, res = 0;
    bool has_mem, has_res;
    json_t *v;
    int rc;
    if (!json_is_object(c))
        return BAD("containerDefinitions[%zu]: must be an object", i);
    if ((rc = check_fields(c, p, f, sizeof(f) / sizeof(f[0]), err)) || (rc = get_str(c, p, "name", true, 255, &s, err)))
        return rc;
    if (!name_ok(s))
        return BAD("%sname: '%.255s' must be 1-255 letters, digits, - and _", p, s);
    if ((rc = get_str(c, p, "image", true, ECS_MAX_TEXT, &s, err)))
        return rc;
    if (!*s)
        return BAD("%simage: must not be empty", p);
    if ((rc = get_int(c, p, "cpu", false, 0, 10240 * 1024, &cpu, NULL, err)))
        return rc;
    if ((rc = get_int(c, p, "memory", false, LLONG_MIN, LLONG_MAX, &mem, &has_mem, err)))
        return rc;
    if (has_mem && (mem < 6 || mem > 1 << 30))
        return BAD("%smemory: %lld MiB; a container needs at least 6 MiB (and at most 2^30)", p, mem);
    if ((rc = get_int(c, p, "memoryReservation", false, LLONG_MIN, LLONG_MAX, &res, &has_res, err)))
        return rc;
    if (has_res && (res < 6 || res > 1 << 30))
        return BAD("%smemoryReservation: %lld MiB; a container needs at least 6 MiB (and at most 2^30)", p, res);
    if (has_mem && has_res && res > mem)
        return BAD("%smemoryReservation: %lld MiB is more than memory (%lld MiB)", p, res, mem);
    *mem_sum = has_res ? res : has_mem ? mem : -1;
    if ((rc = check_port_mappings(c, p, host_mode, err)) || (rc = check_name_value_list(c, p, "environment", err)) ||
        (rc = get_strings(c, p, "command", false, 0, ECS_MAX_LIST, ECS_MAX_TEXT, &v, err)) ||
        (rc = get_strings(c, p, "entryPoint", false, 0, ECS_MAX_LIST, ECS_MAX_TEXT, &v, err)) ||
        (rc = get_bool(c, p, "essential", err)) || (rc = get_int(c, p, "stopTimeout", false, 0, 120, &cpu, NULL, err)))
        return rc;
    json_t *log;
    if ((rc = get_object(c, p, "logConfiguration", &log, err)))
        return rc;
    if (log) {
        char lp[256];
        snprintf(lp, sizeof(lp), "%slogConfiguration.", p);
        static const char *const lf[] = {"logDriver", "options"};
        json_t *opts;
        if ((rc = check_fields(log, lp, lf, 2, err)) || (rc = get_str(log, lp, "logDriver", true, 64, &s, err)) ||
            (rc = get_object(log, lp, "options", &opts, err)))
            return rc;
        const char *k;
        json_object_foreach(opts, k, v)
        {
            if (!json_is_string(v))
                return BAD("%soptions.%.64s: must be a string", lp, k);
        }
    }
    return 0;
}

/* Task-level cpu and memory are strings in ECS ("256", "1024"); we take integers too. */
static int task_level(const json_t *o, const char *key, long long *out, sched_ecs_err_t *err)
{
    json_t *v = json_object_get(o, key);
    *out = -1;
    if (!v || json_is_null(v))
        return 0;
    long long x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!*s || strlen(s) > 9 || strspn(s, "0123456789") != strlen(s))
            return BAD("%s: '%.32s' must be a whole number (%s)", key, s, strcmp(key, "cpu") ? "MiB" : "CPU units");
        x = strtoll(s, NULL, 10);
    } else {
        return BAD("%s: must be a string holding a number", key);
    }
    if (x < 1)
        return BAD("%s: must be positive, not %lld", key, x);
    *out = x;
    return 0;
}

static int check_task_definition(sched_ecs_request_t *r, sched_ecs_err_t *err)
{
    const json_t *b = r->body;
    const char *s;
    int rc;
    if ((rc = get_str(b, "", "family", true, 255, &s, err)))
        return rc;
    if (!name_ok(s))
        return BAD("family: '%.255s' must be 1-255 letters, digits, - and _", s);
    snprintf(r->family, sizeof(r->family), "%s", s);
    static const char *const modes[] = {"bridge", "host", NULL};
    const char *mode;
    if ((rc = get_str(b, "", "networkMode", false, 64, &mode, err)))
        return rc;
    if (mode && strcmp(mode, "bridge") && strcmp(mode, "host"))
        return BAD("networkMode: '%.64s' is not supported: Berth runs bridge and host", mode);
    (void)modes;
    const char *role;
    if ((rc = get_str(b, "", "executionRoleArn", false, 2048, &role, err)) ||
        (rc = get_str(b, "", "taskRoleArn", false, 2048, &role, err)))
        return rc;
    /* the credentials endpoint is on the instance's loopback: only a host-network container reaches it */
    if (role && !(mode && strcmp(mode, "host") == 0)) {
        sched_ecs_err(err, "ClientException", 400,
                      "taskRoleArn: task roles need networkMode host in Berth until bridge networks have a route to the agent's "
                      "credentials endpoint (networkMode is %s)",
                      mode ? mode : "bridge by default");
        return SCHED_EINVAL;
    }
    json_t *compat;
    if ((rc = get_strings(b, "", "requiresCompatibilities", false, 0, 4, 32, &compat, err)))
        return rc;
    size_t i;
    json_t *v;
    json_array_foreach(compat, i, v)
    {
        if (strcmp(json_string_value(v), "EC2") != 0)
            return BAD("requiresCompatibilities[%zu]: '%.32s' is not supported: Berth places EC2-style tasks only", i,
                       json_string_value(v));
    }
    if ((rc = check_memberof_constraints(b, "placementConstraints", false, err)))
        return rc;
    long long tcpu, tmem;
    if ((rc = task_level(b, "cpu", &tcpu, err)) || (rc = task_level(b, "memory", &tmem, err)))
        return rc;
    json_t *defs;
    if ((rc = get_array(b, "", "containerDefinitions", true, 1, ECS_MAX_CONTAINERS, &defs, err)))
        return rc;
    bool host_mode = mode && strcmp(mode, "host") == 0;
    json_array_foreach(defs, i, v)
    {
        long long mem;
        if ((rc = check_container(v, i, host_mode, &mem, err)))
            return rc;
        if (mem < 0 && tmem < 0)
            return BAD("containerDefinitions[%zu].memory: required (or memoryReservation, or the task's memory)", i);
        const char *name = json_string_value(json_object_get(v, "name"));
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_object_get(json_array_get(defs, k), "name")), name) == 0)
                return BAD("containerDefinitions[%zu].name: '%s' is used by containerDefinitions[%zu] too", i, name, k);
    }
    if ((rc = check_host_ports_distinct(defs, host_mode, err)))
        return rc;
    json_t *tags;
    if ((rc = get_tags(b, false, &tags, err)))
        return rc;
    /* ECS's limit; every task of the definition copies its containers into its record and its agent's poll
     * (its tags are not kept with it) */
    size_t len = json_dumpb(b, NULL, 0, JSON_COMPACT) - (tags ? json_dumpb(tags, NULL, 0, JSON_COMPACT) : 0);
    if (len > ECS_MAX_TASK_DEF_BYTES) {
        sched_ecs_err(err, "ClientException", 400,
                      "containerDefinitions: the task definition is %zu bytes of JSON: at most %d (64 KiB)", len,
                      ECS_MAX_TASK_DEF_BYTES);
        return SCHED_EINVAL;
    }
    return 0;
}

static int task_def_field(sched_ecs_request_t *r, const sched_ecs_env_t *env, bool resource, bool need_revision,
                          sched_ecs_err_t *err)
{
    const char *s;
    int rc = get_str(r->body, "", "taskDefinition", true, SCHED_ECS_ARN_MAX, &s, err);
    if (rc)
        return rc;
    if (!sched_ecs_parse_task_def(s, r->family, &r->revision))
        return BAD("taskDefinition: '%.300s' is not FAMILY, FAMILY:REVISION or a task definition ARN", s);
    if (need_revision && !r->revision)
        return BAD("taskDefinition: '%.300s' names no revision (FAMILY:REVISION)", s);
    if (!resource)
        return 0;
    if (r->revision)
        return add_resource(r, err, ARN_PREFIX "task-definition/%s:%lld", env->region, env->account, r->family, r->revision);
    return add_resource(r, err, ARN_PREFIX "task-definition/%s:*", env->region, env->account, r->family);
}

/* ------------------------------------------------------------------- tags */

/* resourceArn: a cluster, task definition (with its revision), service, task or container instance of this
 * registry's region and account; its canonical ARN and record key into r. */
static int resource_arn_field(sched_ecs_request_t *r, const sched_ecs_env_t *env, sched_ecs_err_t *err)
{
    const char *s;
    int rc = get_str(r->body, "", "resourceArn", true, SCHED_ECS_ARN_MAX - 1, &s, err);
    if (rc)
        return rc;
    char prefix[128];
    snprintf(prefix, sizeof(prefix), ARN_PREFIX, env->region, env->account);
    size_t pl = strlen(prefix);
    if (strncmp(s, prefix, pl) != 0)
        return BAD("resourceArn: '%.300s' is not an ARN of this registry (%s...)", s, prefix);
    const char *rest = s + pl, *slash = strchr(rest, '/');
    char a[SCHED_ECS_NAME_MAX + 1] = "", id[SCHED_ECS_ID_LEN + 1];
    size_t tl = slash ? (size_t)(slash - rest) : 0;
    if (tl == 7 && strncmp(rest, "cluster", 7) == 0) {
        if (!sched_ecs_parse_cluster(s, r->cluster) || strchr(slash + 1, '/'))
            return BAD("resourceArn: '%.300s' names no cluster", s);
        snprintf(r->tag_record, sizeof(r->tag_record), "c/%s", r->cluster);
    } else if (tl == 15 && strncmp(rest, "task-definition", 15) == 0) {
        if (!sched_ecs_parse_task_def(s, r->family, &r->revision) || !r->revision)
            return BAD("resourceArn: '%.300s' names no task definition revision (FAMILY:REVISION)", s);
        snprintf(r->tag_record, sizeof(r->tag_record), "d/%s/%010lld", r->family, r->revision);
    } else if ((tl == 7 && strncmp(rest, "service", 7) == 0) || (tl == 4 && strncmp(rest, "task", 4) == 0) ||
               (tl == 18 && strncmp(rest, "container-instance", 18) == 0)) {
        const char *second = strchr(slash + 1, '/');
        size_t cl = second ? (size_t)(second - slash - 1) : 0;
        if (!second || cl == 0 || cl > SCHED_ECS_NAME_MAX)
            return BAD("resourceArn: '%.300s' must name the cluster and then the %.*s", s, (int)tl, rest);
        memcpy(a, slash + 1, cl);
        a[cl] = '\0';
        if (!name_ok(a))
            return BAD("resourceArn: '%.300s' names no cluster", s);
        snprintf(r->cluster, sizeof(r->cluster), "%s", a);
        if (tl == 7) {
            if (!sched_ecs_service_name_ok(second + 1))
                return BAD("resourceArn: '%.300s' names no service", s);
            if (strlen(a) + strlen(second + 1) + 4 > STORAGE_RECORD_KEY_MAX)
                return BAD("resourceArn: '%.300s' is longer than Berth's records allow", s);
            snprintf(r->tag_record, sizeof(r->tag_record), "s/%s/%s", a, second + 1);
        } else {
            if (!sched_ecs_parse_ref(s, tl == 4 ? "task" : "container-instance", id))
                return BAD("resourceArn: '%.300s' names no %.*s id (32 hex digits)", s, (int)tl, rest);
            snprintf(r->tag_record, sizeof(r->tag_record), "%c/%s/%s", tl == 4 ? 't' : 'i', a, id);
        }
    } else {
        return BAD("resourceArn: '%.300s' is not a cluster, task-definition, service, task or container-instance ARN", s);
    }
    snprintf(r->tag_arn, sizeof(r->tag_arn), "%s", s);
    return add_resource(r, err, "%s", s);
}

/* ------------------------------------------------------------------ tasks */

static int check_overrides(const json_t *b, sched_ecs_err_t *err)
{
    json_t *o;
    int rc = get_object(b, "", "overrides", &o, err);
    if (rc || !o)
        return rc;
    static const char *const f[] = {"containerOverrides"};
    json_t *list;
    if ((rc = check_fields(o, "overrides.", f, 1, err)) ||
        (rc = get_array(o, "overrides.", "containerOverrides", false, 0, ECS_MAX_CONTAINERS, &list, err)) || !list)
        return rc;
    /* ECS's limit, JSON punctuation included: each task record (and every poll and DescribeTasks that shows it) carries them */
    size_t len = json_dumpb(o, NULL, 0, JSON_COMPACT);
    if (len > ECS_MAX_OVERRIDES)
        return BAD("overrides: container overrides length must be at most %d (it is %zu)", ECS_MAX_OVERRIDES, len);
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        char p[160];
        snprintf(p, sizeof(p), "overrides.containerOverrides[%zu].", i);
        static const char *const cf[] = {"name", "command", "environment"};
        const char *s;
        json_t *v;
        if (!json_is_object(c))
            return BAD("overrides.containerOverrides[%zu]: must be an object", i);
        if ((rc = check_fields(c, p, cf, 3, err)) || (rc = get_str(c, p, "name", true, 255, &s, err)) ||
            (rc = get_strings(c, p, "command", false, 0, ECS_MAX_LIST, ECS_MAX_TEXT, &v, err)) ||
            (rc = check_name_value_list(c, p, "environment", err)))
            return rc;
    }
    return 0;
}

static int check_strategies(const json_t *b, sched_ecs_err_t *err)
{
    json_t *list;
    int rc = get_array(b, "", "placementStrategy", false, 0, 5, &list, err);
    if (rc || !list)
        return rc;
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        char p[160];
        snprintf(p, sizeof(p), "placementStrategy[%zu].", i);
        static const char *const f[] = {"type", "field"};
        const char *type, *field;
        if (!json_is_object(s))
            return BAD("placementStrategy[%zu]: must be an object with type and field", i);
        if ((rc = check_fields(s, p, f, 2, err)) || (rc = get_str(s, p, "type", true, 32, &type, err)) ||
            (rc = get_str(s, p, "field", false, 255, &field, err)))
            return rc;
        sched_strategy_t st = {.field = field};
        if (strcmp(type, "binpack") == 0)
            st.type = SCHED_STRATEGY_BINPACK;
        else if (strcmp(type, "spread") == 0)
            st.type = SCHED_STRATEGY_SPREAD;
        else if (strcmp(type, "random") == 0)
            st.type = SCHED_STRATEGY_RANDOM;
        else
            return BAD("%stype: '%.32s' is not binpack, spread or random", p, type);
        sched_err_t e = {0};
        if (st.type != SCHED_STRATEGY_RANDOM && !field)
            return BAD("%sfield: required for %s", p, type);
        if (!sched_strategy_valid(&st, &e))
            return BAD("%sfield: %s", p, e.msg);
    }
    return 0;
}

static int check_run(sched_ecs_request_t *r, const sched_ecs_env_t *env, sched_ecs_err_t *err)
{
    const json_t *b = r->body;
    const char *s;
    long long count;
    int rc;
    static const char *const launch[] = {"EC2", NULL};
    if ((rc = cluster_field(r, "cluster", false, err)) || (rc = task_def_field(r, env, true, false, err)) ||
        (rc = get_str(b, "", "group", false, 255, &s, err)) ||
        (rc = get_str(b, "", "startedBy", false, ECS_MAX_STARTED_BY, &s, err)) || (rc = check_overrides(b, err)) ||
        (rc = get_bool(b, "", "enableECSManagedTags", err)))
        return rc;
    if (r->op == ECS_RUN_TASK) {
        if ((rc = get_int(b, "", "count", false, 1, ECS_MAX_RUN_COUNT, &count, NULL, err)) || (rc = check_strategies(b, err)) ||
            (rc = check_memberof_constraints(b, "placementConstraints", true, err)) ||
            (rc = one_of(b, "", "launchType", launch, err)) ||
            (rc = get_str(b, "", "clientToken", false, SCHED_ECS_CLIENT_TOKEN_MAX, &s, err)))
            return rc;
        for (const char *c = s; c && *c; c++)
            if (*c < '!' || *c > '~')
                return BAD("clientToken: '%.64s' must be 1-64 ASCII characters from '!' to '~'", s);
        if (s && !*s)
            return BAD("clientToken: must be 1-64 ASCII characters from '!' to '~', not empty");
    } else if ((rc = refs_field(r, env, "containerInstances", "container-instance", ECS_MAX_TARGETS, false, err))) {
        return rc;
    }
    json_t *tags;
    return get_tags(b, false, &tags, err);
}

/* ------------------------------------------------------------- instances */

static int check_resources_list(const json_t *b, sched_ecs_err_t *err)
{
    json_t *list;
    int rc = get_array(b, "", "totalResources", false, 0, ECS_MAX_RESOURCES, &list, err);
    if (rc || !list)
        return rc;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        char p[160];
        snprintf(p, sizeof(p), "totalResources[%zu].", i);
        static const char *const f[] = {"name", "type", "integerValue", "longValue", "doubleValue", "stringSetValue"};
        const char *name, *type;
        long long x;
        json_t *set;
        if (!json_is_object(e))
            return BAD("totalResources[%zu]: must be an object", i);
        if ((rc = check_fields(e, p, f, 6, err)) || (rc = get_str(e, p, "name", true, 64, &name, err)) ||
            (rc = get_str(e, p, "type", false, 32, &type, err)) ||
            (rc = get_int(e, p, "integerValue", false, 0, INT32_MAX, &x, NULL, err)) ||
            (rc = get_int(e, p, "longValue", false, 0, INT64_MAX, &x, NULL, err)) ||
            (rc = get_strings(e, p, "stringSetValue", false, 0, ECS_MAX_LIST, 8, &set, err)))
            return rc;
        json_t *d = json_object_get(e, "doubleValue");
        if (d && !json_is_number(d))
            return BAD("%sdoubleValue: must be a number", p);
        /* bounded before anything converts it: a double past LLONG_MAX has no integer value (1e30 became a negative CPU) */
        if (d && (json_number_value(d) < 0 || json_number_value(d) > ECS_MAX_RESOURCE_VALUE))
            return BAD("%sdoubleValue: %.17g is out of range (0 to %lld)", p, json_number_value(d),
                       (long long)ECS_MAX_RESOURCE_VALUE);
        if (strcmp(name, "PORTS") == 0 || strcmp(name, "PORTS_UDP") == 0) {
            size_t k;
            json_t *port;
            json_array_foreach(set, k, port)
            {
                const char *ps = json_string_value(port);
                if (!*ps || strspn(ps, "0123456789") != strlen(ps) || strlen(ps) > 5 || atoi(ps) < 1 || atoi(ps) > 65535)
                    return BAD("%sstringSetValue[%zu]: '%.8s' is not a port (1-65535)", p, k, ps);
            }
        } else if (strcmp(name, "CPU") == 0 || strcmp(name, "MEMORY") == 0) {
            json_t *iv = json_object_get(e, "integerValue"), *lv = json_object_get(e, "longValue");
            if (!iv && !lv && !d)
                return BAD("%sintegerValue: required for %s", p, name);
            /* ECS's CPU and MEMORY are INTEGER resources: whichever value is read (ecs_state.c: integer, long, double) fits one */
            if (!iv && (lv ? json_integer_value(lv) : json_number_value(d)) > INT32_MAX)
                return BAD("%s%s: %s is an INTEGER resource: at most %d", p, lv ? "longValue" : "doubleValue", name, INT32_MAX);
        }
    }
    return 0;
}

static int check_attributes(sched_ecs_request_t *r, const sched_ecs_env_t *env, bool with_target, bool need_value,
                            sched_ecs_err_t *err)
{
    json_t *list;
    int rc =
        get_array(r->body, "", "attributes", with_target, with_target ? 1 : 0, with_target ? ECS_MAX_TARGETS : 100, &list, err);
    (void)env;
    if (rc || !list)
        return rc;
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        char p[160];
        snprintf(p, sizeof(p), "attributes[%zu].", i);
        static const char *const f[] = {"name", "value", "targetType", "targetId"};
        const char *name, *value, *tt, *tid;
        if (!json_is_object(a))
            return BAD("attributes[%zu]: must be an object with a name", i);
        if ((rc = check_fields(a, p, f, 4, err)) || (rc = get_str(a, p, "name", true, ECS_MAX_ATTRIBUTE_LEN, &name, err)) ||
            (rc = get_str(a, p, "value", false, ECS_MAX_ATTRIBUTE_LEN, &value, err)) ||
            (rc = get_str(a, p, "targetType", false, 64, &tt, err)) ||
            (rc = get_str(a, p, "targetId", false, SCHED_ECS_ARN_MAX, &tid, err)))
            return rc;
        if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./\\") != strlen(name))
            return BAD("%sname: '%.128s' may hold only letters, digits, - _ . / and \\", p, name);
        if (value && strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@/\\: ") != strlen(value))
            return BAD("%svalue: '%.128s' may hold only letters, digits, spaces and - _ . @ / \\ :", p, value);
        (void)need_value;
        if (tt && strcmp(tt, "container-instance") != 0)
            return BAD("%stargetType: '%.64s' is not container-instance", p, tt);
        if (with_target) {
            char id[SCHED_ECS_ID_LEN + 1];
            if (!tid)
                return BAD("%stargetId: required (the container instance's id or ARN)", p);
            if (!sched_ecs_parse_ref(tid, "container-instance", id))
                return BAD("%stargetId: '%.300s' is not a container instance id or ARN", p, tid);
        } else if (tt || tid) {
            return BAD("%s%s: not taken here: the attribute is the registering instance's", p, tt ? "targetType" : "targetId");
        }
    }
    return 0;
}

static int check_register_instance(sched_ecs_request_t *r, sched_ecs_err_t *err)
{
    const json_t *b = r->body;
    const char *s;
    json_t *v;
    int rc;
    if ((rc = get_str(b, "", "instanceIdentityDocument", false, 16384, &s, err)) ||
        (rc = get_str(b, "", "instanceIdentityDocumentSignature", false, 16384, &s, err)) ||
        (rc = get_object(b, "", "versionInfo", &v, err)) || (rc = check_resources_list(b, err)))
        return rc;
    if ((rc = get_str(b, "", "containerInstanceArn", false, SCHED_ECS_ARN_MAX, &s, err)))
        return rc;
    char id[SCHED_ECS_ID_LEN + 1];
    if (s && !sched_ecs_parse_ref(s, "container-instance", id))
        return BAD("containerInstanceArn: '%.300s' is not a container instance ARN", s);
    if ((rc = get_object(b, "", "versionInfo", &v, err)))
        return rc;
    if (v) {
        /* ECS's VersionInfo: the record keeps it, so no other (or unbounded) keys */
        static const char *const vf[] = {"agentVersion", "agentHash", "dockerVersion"};
        if ((rc = check_fields(v, "versionInfo.", vf, 3, err)))
            return rc;
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (!json_is_string(x) || json_string_length(x) > 128)
                return BAD("versionInfo.%.64s: must be a string of at most 128 characters", k);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- prepare */

bool sched_ecs_known_op(const char *op)
{
    for (size_t i = 0; i < ECS_OP_COUNT; i++)
        if (strcmp(ops[i].name, op) == 0)
            return true;
    return false;
}

static int validate(sched_ecs_request_t *r, const sched_ecs_env_t *env, sched_ecs_err_t *err)
{
    const json_t *b = r->body;
    const char *s;
    json_t *v;
    int rc = 0;
    static const char *const instance_status[] = {"ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED",
                                                  NULL};
    static const char *const drain_status[] = {"ACTIVE", "DRAINING", NULL};
    static const char *const td_status[] = {"ACTIVE", "INACTIVE", NULL};
    static const char *const fam_status[] = {"ACTIVE", "INACTIVE", "ALL", NULL};
    static const char *const sorts[] = {"ASC", "DESC", NULL};
    static const char *const desired[] = {"RUNNING", "PENDING", "STOPPED", NULL};
    static const char *const launch[] = {"EC2", NULL};
    static const char *const target_types[] = {"container-instance", NULL};
    switch (r->op) {
    case ECS_CREATE_CLUSTER:
        if ((rc = cluster_field(r, "clusterName", false, err)) || (rc = get_tags(b, false, &v, err)) ||
            (rc = get_array(b, "", "settings", false, 0, 10, &v, err)))
            return rc;
        return cluster_resource(r, env, err);
    case ECS_DESCRIBE_CLUSTERS: {
        if ((rc = get_strings(b, "", "clusters", false, 0, ECS_MAX_DESCRIBE, SCHED_ECS_ARN_MAX, &v, err)) ||
            (rc = get_strings(b, "", "include", false, 0, 10, 64, &v, err)))
            return rc;
        json_t *list = json_object_get(b, "clusters");
        if (!list || json_array_size(list) == 0) {
            snprintf(r->cluster, sizeof(r->cluster), "%s", SCHED_ECS_DEFAULT_CLUSTER);
            return cluster_resource(r, env, err);
        }
        size_t i;
        json_array_foreach(list, i, v)
        {
            char name[SCHED_ECS_NAME_MAX + 1];
            if (!sched_ecs_parse_cluster(json_string_value(v), name))
                return BAD("clusters[%zu]: '%.300s' is not a cluster name or ARN", i, json_string_value(v));
            if ((rc = add_resource(r, err, ARN_PREFIX "cluster/%s", env->region, env->account, name)))
                return rc;
        }
        return 0;
    }
    case ECS_LIST_CLUSTERS:
        if ((rc = paging(r, err)))
            return rc;
        return add_resource(r, err, "*");
    case ECS_DELETE_CLUSTER:
        if ((rc = cluster_field(r, "cluster", true, err)))
            return rc;
        return cluster_resource(r, env, err);
    case ECS_REGISTER_INSTANCE:
        if ((rc = cluster_field(r, "cluster", false, err)) || (rc = check_register_instance(r, err)) ||
            (rc = check_attributes(r, env, false, false, err)) || (rc = get_tags(b, false, &v, err)) ||
            (rc = get_array(b, "", "platformDevices", false, 0, 0, &v, err)))
            return rc;
        return cluster_resource(r, env, err);
    case ECS_DEREGISTER_INSTANCE: {
        char id[SCHED_ECS_ID_LEN + 1];
        if ((rc = cluster_field(r, "cluster", false, err)) ||
            (rc = get_str(b, "", "containerInstance", true, SCHED_ECS_ARN_MAX, &s, err)) || (rc = get_bool(b, "", "force", err)))
            return rc;
        if (!sched_ecs_parse_ref(s, "container-instance", id))
            return BAD("containerInstance: '%.300s' is not a container instance id or ARN", s);
        return cluster_resource(r, env, err);
    }
    case ECS_LIST_INSTANCES:
        if ((rc = cluster_field(r, "cluster", false, err)) || (rc = paging(r, err)) ||
            (rc = one_of(b, "", "status", instance_status, err)) ||
            (rc = get_str(b, "", "filter", false, SCHED_CQL_MAX_LEN, &s, err)))
            return rc;
        if (s) {
            sched_cql_t *q;
            sched_err_t e = {0};
            sched_status_t st = sched_cql_parse(s, &q, &e);
            if (st == SCHED_ENOMEM) {
                sched_ecs_err(err, "ServerException", 500, "out of memory");
                return SCHED_ENOMEM;
            }
            if (st != SCHED_OK)
                return BAD("filter: %s", e.msg);
            sched_cql_free(q);
        }
        return cluster_resource(r, env, err);
    case ECS_DESCRIBE_INSTANCES:
        if ((rc = cluster_field(r, "cluster", false, err)) || (rc = get_strings(b, "", "include", false, 0, 10, 64, &v, err)))
            return rc;
        return refs_field(r, env, "containerInstances", "container-instance", ECS_MAX_DESCRIBE, true, err);
    case ECS_UPDATE_INSTANCES_STATE:
        if ((rc = cluster_field(r, "cluster", false, err)) || (rc = get_str(b, "", "status", true, 16, &s, err)) ||
            (rc = one_of(b, "", "status", drain_status, err)))
            return rc;
        return refs_field(r, env, "containerInstances", "container-instance", ECS_MAX_TARGETS, true, err);
    case ECS_PUT_ATTRIBUTES:
    case ECS_DELETE_ATTRIBUTES: {
        if ((rc = cluster_field(r, "cluster", false, err)) || (rc = check_attributes(r, env, true, false, err)))
            return rc;
        /* as ECS: on each target container instance (on the cluster, a Deny on one instance went unheard) */
        size_t i;
        json_array_foreach(json_object_get(b, "attributes"), i, v)
        {
            char id[SCHED_ECS_ID_LEN + 1];
            sched_ecs_parse_ref(json_string_value(json_object_get(v, "targetId")), "container-instance", id); /* checked above */
            if ((rc = add_resource(r, err, ARN_PREFIX "container-instance/%s/%s", env->region, env->account, r->cluster, id)))
                return rc;
        }
        return 0;
    }
    case ECS_LIST_ATTRIBUTES:
        if ((rc = cluster_field(r, "cluster", false, err)) || (rc = paging(r, err)) ||
            (rc = get_str(b, "", "targetType", true, 64, &s, err)) || (rc = one_of(b, "", "targetType", target_types, err)) ||
            (rc = get_str(b, "", "attributeName", false, ECS_MAX_ATTRIBUTE_LEN, &s, err)) ||
            (rc = get_str(b, "", "attributeValue", false, ECS_MAX_ATTRIBUTE_LEN, &s, err)))
            return rc;
        if (s && !json_object_get(b, "attributeName"))
            return BAD("attributeValue: only with attributeName");
        return cluster_resource(r, env, err);
    case ECS_REGISTER_TASK_DEF:
        if ((rc = check_task_definition(r, err)))
            return rc;
        return add_resource(r, err, "*");
    case ECS_DESCRIBE_TASK_DEF:
        if ((rc = task_def_field(r, env, false, false, err)) || (rc = get_strings(b, "", "include", false, 0, 10, 64, &v, err)))
            return rc;
        return add_resource(r, err, "*");
    case ECS_DEREGISTER_TASK_DEF:
        if ((rc = task_def_field(r, env, false, true, err)))
            return rc;
        return add_resource(r, err, "*");
    case ECS_LIST_TASK_DEFS:
    case ECS_LIST_TASK_DEF_FAMILIES:
        if ((rc = paging(r, err)) || (rc = get_str(b, "", "familyPrefix", false, 255, &s, err)) ||
            (rc = one_of(b, "", "status", r->op == ECS_LIST_TASK_DEFS ? td_status : fam_status, err)) ||
            (r->op == ECS_LIST_TASK_DEFS && (rc = one_of(b, "", "sort", sorts, err))))
            return rc;
        if (s && *s && !name_ok(s))
            return BAD("familyPrefix: '%.255s' must be letters, digits, - and _", s);
        return add_resource(r, err, "*");
    case ECS_RUN_TASK:
    case ECS_START_TASK:
        return check_run(r, env, err);
    case ECS_STOP_TASK: {
        char id[SCHED_ECS_ID_LEN + 1];
        if ((rc = cluster_field(r, "cluster", false, err)) || (rc = get_str(b, "", "task", true, SCHED_ECS_ARN_MAX, &s, err)))
            return rc;
        if (!sched_ecs_parse_ref(s, "task", id))
            return BAD("task: '%.300s' is not a task id or ARN", s);
        if ((rc = get_str(b, "", "reason", false, 1024, &s, err)))
            return rc;
        return add_resource(r, err, ARN_PREFIX "task/%s/%s", env->region, env->account, r->cluster, id);
    }
    case ECS_LIST_TASKS: {
        if ((rc = cluster_field(r, "cluster", false, err)) || (rc = paging(r, err)) ||
            (rc = get_str(b, "", "family", false, 255, &s, err)) ||
            (rc = get_str(b, "", "startedBy", false, ECS_MAX_STARTED_BY, &s, err)) ||
            (rc = get_str(b, "", "serviceName", false, 255, &s, err)) || (rc = one_of(b, "", "desiredStatus", desired, err)) ||
            (rc = one_of(b, "", "launchType", launch, err)))
            return rc;
        if ((rc = get_str(b, "", "containerInstance", false, SCHED_ECS_ARN_MAX, &s, err)))
            return rc;
        if (s) {
            char id[SCHED_ECS_ID_LEN + 1];
            if (!sched_ecs_parse_ref(s, "container-instance", id))
                return BAD("containerInstance: '%.300s' is not a container instance id or ARN", s);
            return add_resource(r, err, ARN_PREFIX "container-instance/%s/%s", env->region, env->account, r->cluster, id);
        }
        return cluster_resource(r, env, err);
    }
    case ECS_DESCRIBE_TASKS:
        if ((rc = cluster_field(r, "cluster", false, err)) || (rc = get_strings(b, "", "include", false, 0, 10, 64, &v, err)))
            return rc;
        return refs_field(r, env, "tasks", "task", ECS_MAX_DESCRIBE, true, err);
    case ECS_TAG_RESOURCE:
        return (rc = resource_arn_field(r, env, err)) ? rc : get_tags(b, true, &v, err);
    case ECS_UNTAG_RESOURCE:
        if ((rc = resource_arn_field(r, env, err)))
            return rc;
        return get_strings(b, "", "tagKeys", true, 1, 50, 128, &v, err);
    case ECS_LIST_TAGS:
        return resource_arn_field(r, env, err);
    case ECS_SUBMIT_TASK_STATE_CHANGE:
    case ECS_SUBMIT_CONTAINER_STATE_CHANGE:
        if ((rc = cluster_field(r, "cluster", false, err)) || (rc = sched_ecs_agent_validate(r, env, err)))
            return rc;
        return cluster_resource(r, env, err);
    case ECS_CREATE_SERVICE:
    case ECS_UPDATE_SERVICE:
    case ECS_DELETE_SERVICE:
    case ECS_DESCRIBE_SERVICES:
    case ECS_LIST_SERVICES:
        return sched_ecs_validate_service_op(r, env, err);
    case ECS_POLL_WORK:
        /* authorized as ECS's own agent's poll, ecs:Poll on the instance */
        if ((rc = cluster_field(r, "cluster", false, err)) || (rc = sched_ecs_agent_validate(r, env, err)))
            return rc;
        snprintf(r->action, sizeof(r->action), "ecs:Poll");
        return refs_one(r, env, "containerInstance", err);
    case ECS_GET_TASK_CREDENTIALS:
        /* what ECS's agent gets over its websocket, so authorized as its poll */
        if ((rc = cluster_field(r, "cluster", false, err)) || (rc = sched_ecs_agent_validate(r, env, err)))
            return rc;
        snprintf(r->action, sizeof(r->action), "ecs:Poll");
        return refs_one(r, env, "containerInstance", err);
    case ECS_OP_COUNT:
        break;
    }
    return BAD("unknown operation");
}

int sched_ecs_prepare(const char *op, json_t *body, const sched_ecs_env_t *env, sched_ecs_request_t **out, sched_ecs_err_t *err)
{
    *out = NULL;
    const op_info_t *info = NULL;
    for (size_t i = 0; i < ECS_OP_COUNT; i++)
        if (strcmp(ops[i].name, op) == 0)
            info = &ops[i];
    if (!info) {
        sched_ecs_err(err, "UnknownOperationException", 400, "unknown operation %.64s", op);
        return SCHED_EINVAL;
    }
    if (!json_is_object(body))
        return BAD("the request body must be a JSON object");
    size_t nfields = 0;
    while (nfields < sizeof(info->fields) / sizeof(info->fields[0]) && info->fields[nfields])
        nfields++;
    int rc = check_fields(body, "", info->fields, nfields, err);
    if (rc)
        return rc;
    sched_ecs_request_t *r = calloc(1, sizeof(*r));
    if (!r) {
        sched_ecs_err(err, "ServerException", 500, "out of memory");
        return SCHED_ENOMEM;
    }
    r->op = info->op;
    r->body = json_incref(body);
    snprintf(r->action, sizeof(r->action), "ecs:%s", info->name);
    if ((rc = validate(r, env, err))) {
        sched_ecs_request_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void sched_ecs_request_free(sched_ecs_request_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nresources; i++)
        free(r->resources[i]);
    free(r->resources);
    for (size_t i = 0; i < r->ninstances; i++)
        free(r->instances[i]);
    free(r->instances);
    json_decref(r->body);
    free(r);
}

bool sched_ecs_request_writes(const sched_ecs_request_t *r)
{
    return ops[r->op].writes;
}

const char *sched_ecs_request_action(const sched_ecs_request_t *r)
{
    return r->action;
}

size_t sched_ecs_request_nresources(const sched_ecs_request_t *r)
{
    return r->nresources;
}

const char *sched_ecs_request_resource(const sched_ecs_request_t *r, size_t i)
{
    return i < r->nresources ? r->resources[i] : NULL;
}

const char *sched_ecs_request_cluster(const sched_ecs_request_t *r)
{
    return r->cluster[0] ? r->cluster : NULL;
}

size_t sched_ecs_request_instances(const sched_ecs_request_t *r, const char *const **arns)
{
    *arns = (const char *const *)r->instances;
    return r->ninstances;
}

/* ------------------------------------- field checks for ecs_services.c */

int sched_ecs_check_fields(const json_t *o, const char *path, const char *const *allowed, size_t nallowed, sched_ecs_err_t *err)
{
    return check_fields(o, path, allowed, nallowed, err);
}

int sched_ecs_get_str(const json_t *o, const char *path, const char *key, bool required, size_t maxlen, const char **out,
                      sched_ecs_err_t *err)
{
    return get_str(o, path, key, required, maxlen, out, err);
}

int sched_ecs_get_int(const json_t *o, const char *path, const char *key, bool required, long long min, long long max,
                      long long *out, bool *present, sched_ecs_err_t *err)
{
    return get_int(o, path, key, required, min, max, out, present, err);
}

int sched_ecs_get_bool(const json_t *o, const char *path, const char *key, sched_ecs_err_t *err)
{
    return get_bool(o, path, key, err);
}

int sched_ecs_get_array(const json_t *o, const char *path, const char *key, bool required, size_t minn, size_t maxn, json_t **out,
                        sched_ecs_err_t *err)
{
    return get_array(o, path, key, required, minn, maxn, out, err);
}

int sched_ecs_get_object(const json_t *o, const char *path, const char *key, json_t **out, sched_ecs_err_t *err)
{
    return get_object(o, path, key, out, err);
}

int sched_ecs_get_tags(const json_t *body, json_t **out, sched_ecs_err_t *err)
{
    return get_tags(body, false, out, err);
}

int sched_ecs_check_strategies(const json_t *body, sched_ecs_err_t *err)
{
    return check_strategies(body, err);
}

int sched_ecs_check_constraints(const json_t *body, const char *key, bool allow_distinct, sched_ecs_err_t *err)
{
    return check_memberof_constraints(body, key, allow_distinct, err);
}

int sched_ecs_cluster_field(sched_ecs_request_t *r, const char *key, bool required, sched_ecs_err_t *err)
{
    return cluster_field(r, key, required, err);
}

int sched_ecs_add_resource(sched_ecs_request_t *r, sched_ecs_err_t *err, const char *fmt, ...)
{
    char buf[SCHED_ECS_ARN_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return add_resource(r, err, "%s", buf);
}

int sched_ecs_paging(sched_ecs_request_t *r, sched_ecs_err_t *err)
{
    return paging(r, err);
}
