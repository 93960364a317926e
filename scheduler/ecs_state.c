/*
 * scheduler/ecs_state.c — the ECS operations on durable cluster state: the
 * records described in scheduler.h (space "ecs"), read from a snapshot or
 * changed inside one records transaction. Placement loads the cluster's
 * instances and live tasks into the pure engine (sched_place), and the
 * tasks it places, with their CPU, memory and host-port claims, are written
 * in the same transaction: the store's single writer is what makes claims
 * atomic, so two RunTasks never see the same free resources.
 *
 * Every record is a JSON object. Instances and tasks keep internal fields
 * (claims, ids) beside the ECS-shaped ones; replies copy the ECS-shaped ones.
 * Nothing here reads a clock or a random source: env->now and env->seed
 * come from the caller, so a test replays the same request to the same reply.
 */
#include "scheduler/scheduler_internal.h"
#include "storage/storage.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* key buffers: prefix letter, cluster or family name, id */
#define KEY_MAX (4 + SCHED_ECS_NAME_MAX + SCHED_ECS_ID_LEN + 16)
/* attributes one instance may hold: bounds its record (ECS allows 10 custom ones
 * besides those its agent reports; an agent reports a few dozen) */
#define MAX_ATTRIBUTES 128
/* ListX default page size, as ECS */
#define DEFAULT_PAGE 100

struct sched_ecs_ctx {
    storage_records_t *rs;
    const sched_ecs_request_t *r;
    const sched_ecs_env_t *env;
    sched_ecs_err_t *err;
    sched_rng_t rng;
    bool cache_changed; /* a RunTask placed on env->cache's engine: its token follows the new one */
    bool changed;       /* an operation not in changes_cluster() changed the cluster (an agent's report released claims) */
};
typedef struct sched_ecs_ctx ctx_t;

#define BAD(...) (sched_ecs_err(x->err, "InvalidParameterException", 400, __VA_ARGS__), SCHED_EINVAL)
#define CLIENT(...) (sched_ecs_err(x->err, "ClientException", 400, __VA_ARGS__), SCHED_EINVAL)

static int nomem(ctx_t *x)
{
    sched_ecs_err(x->err, "ServerException", 500, "out of memory");
    return SCHED_ENOMEM;
}

static int store_failed(ctx_t *x, const storage_err_t *se)
{
    if (se->status == STORAGE_NOMEM)
        return nomem(x);
    sched_ecs_err(x->err, "ServerException", 500, "cluster state: %s", se->msg);
    return SCHED_EIO;
}

static const char *body_str(ctx_t *x, const char *key)
{
    return json_string_value(json_object_get(x->r->body, key));
}

/* ---------------------------------------------------------------- records */

/* 0 with *out (a new reference), 1 when absent, or a failure. */
static int rec_get(ctx_t *x, const char *key, json_t **out)
{
    return sched_ecs_rec_get(x->rs, key, out, x->err);
}

static int rec_put(ctx_t *x, const char *key, const json_t *v, bool only_if_absent)
{
    return sched_ecs_rec_put(x->rs, key, v, only_if_absent, x->err);
}

static int rec_del(ctx_t *x, const char *key)
{
    storage_err_t se = {0};
    storage_status_t st = storage_record_del(x->rs, SCHED_ECS_SPACE, key, &se);
    return st == STORAGE_OK || st == STORAGE_NOT_FOUND ? 0 : store_failed(x, &se);
}

/* All records under prefix, as an array of [key, value], in key order. */
static int rec_scan(ctx_t *x, const char *prefix, json_t **out)
{
    return sched_ecs_rec_scan(x->rs, prefix, NULL, NULL, out, x->err);
}

#define PAIR_VALUE(p) json_array_get((p), 1)

/* ------------------------------------------------------------------ names */

static void cluster_arn(ctx_t *x, const char *cluster, char *out)
{
    snprintf(out, SCHED_ECS_ARN_MAX, "arn:aws:ecs:%s:%s:cluster/%s", x->env->region, x->env->account, cluster);
}

static void instance_arn(ctx_t *x, const char *cluster, const char *id, char *out)
{
    snprintf(out, SCHED_ECS_ARN_MAX, "arn:aws:ecs:%s:%s:container-instance/%s/%s", x->env->region, x->env->account, cluster, id);
}

static void task_arn(ctx_t *x, const char *cluster, const char *id, char *out)
{
    snprintf(out, SCHED_ECS_ARN_MAX, "arn:aws:ecs:%s:%s:task/%s/%s", x->env->region, x->env->account, cluster, id);
}

static void task_def_arn(ctx_t *x, const char *family, long long rev, char *out)
{
    snprintf(out, SCHED_ECS_ARN_MAX, "arn:aws:ecs:%s:%s:task-definition/%s:%lld", x->env->region, x->env->account, family, rev);
}

static void new_id(ctx_t *x, char *id)
{
    uint64_t a = sched_rng_next(&x->rng), b = sched_rng_next(&x->rng);
    snprintf(id, SCHED_ECS_ID_LEN + 1, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

/* 0 when the cluster exists, else the ECS error */
static int need_cluster(ctx_t *x, const char *cluster)
{
    char key[KEY_MAX];
    json_t *c;
    snprintf(key, sizeof(key), "c/%s", cluster);
    int rc = rec_get(x, key, &c);
    json_decref(c);
    if (rc == 1) {
        sched_ecs_err(x->err, "ClusterNotFoundException", 400, "Cluster not found: %s", cluster);
        return SCHED_EINVAL;
    }
    return rc;
}

static long long jint(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* ------------------------------------------------------------- pagination */

/* Offset tokens: the position in the filtered listing. A listing that
 * changes between pages may repeat or skip an item, as ECS's may. */
static size_t page_start(ctx_t *x)
{
    const char *t = body_str(x, "nextToken");
    return t ? (size_t)strtoull(t, NULL, 10) : 0;
}

static size_t page_size(ctx_t *x)
{
    /* null is absent (ecs_request.c's check lets it through): read as 0 it made an empty page
     * whose nextToken was its own, and a paginator asked for it forever */
    json_t *v = json_object_get(x->r->body, "maxResults");
    return json_is_integer(v) ? (size_t)json_integer_value(v) : DEFAULT_PAGE;
}

/* Cuts `all` (an array of strings) to the requested page into reply[key]. */
static int page_reply(ctx_t *x, json_t *all, const char *key, json_t **out)
{
    size_t start = page_start(x), n = page_size(x), total = json_array_size(all);
    json_t *page = json_array();
    json_t *reply = json_object();
    if (!page || !reply)
        goto oom;
    for (size_t i = start; i < total && i < start + n; i++)
        if (json_array_append(page, json_array_get(all, i)))
            goto oom;
    if (json_object_set_new(reply, key, page))
        goto oom_reply;
    page = NULL;
    if (start + n < total) {
        char tok[24];
        snprintf(tok, sizeof(tok), "%zu", start + n);
        if (json_object_set_new(reply, "nextToken", json_string(tok)))
            goto oom_reply;
    }
    *out = reply;
    return 0;
oom:
    json_decref(page);
oom_reply:
    json_decref(reply);
    return nomem(x);
}

/* --------------------------------------------------------------- clusters */

typedef struct {
    long long instances, running, pending, services;
} counts_t;

static int cluster_counts(ctx_t *x, const char *cluster, counts_t *c)
{
    char prefix[KEY_MAX];
    json_t *items;
    size_t i;
    json_t *p;
    *c = (counts_t){0};
    snprintf(prefix, sizeof(prefix), "i/%s/", cluster);
    int rc = rec_scan(x, prefix, &items);
    if (rc)
        return rc;
    c->instances = (long long)json_array_size(items);
    json_decref(items);
    snprintf(prefix, sizeof(prefix), "t/%s/", cluster);
    if ((rc = rec_scan(x, prefix, &items)))
        return rc;
    json_array_foreach(items, i, p)
    {
        const char *last = jstr(PAIR_VALUE(p), "lastStatus");
        if (strcmp(last, "RUNNING") == 0)
            c->running++;
        else if (strcmp(last, "PENDING") == 0)
            c->pending++;
    }
    json_decref(items);
    return sched_ecs_services_count(x->rs, cluster, &c->services, x->err);
}

/* a cluster as ECS shows it; its tags when tags is not NULL (DescribeClusters with include TAGS) */
static json_t *cluster_json(ctx_t *x, const char *name, const counts_t *c, json_t *tags)
{
    char arn[SCHED_ECS_ARN_MAX];
    cluster_arn(x, name, arn);
    return json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:[],s:o}", "clusterArn", arn, "clusterName", name, "status", "ACTIVE",
                     "registeredContainerInstancesCount", (json_int_t)c->instances, "runningTasksCount", (json_int_t)c->running,
                     "pendingTasksCount", (json_int_t)c->pending, "activeServicesCount", (json_int_t)c->services, "statistics",
                     "tags", tags ? json_incref(tags) : json_array());
}

/* the tags a creating request carries ("tags"), given to the resource it made */
static int tags_from_request(ctx_t *x, const char *arn)
{
    const json_t *tags = json_object_get(x->r->body, "tags");
    return json_array_size(tags) ? sched_ecs_tags_apply(x->rs, arn, tags, NULL, x->err) : 0;
}

static int create_cluster(ctx_t *x, json_t **out)
{
    char key[KEY_MAX];
    snprintf(key, sizeof(key), "c/%s", x->r->cluster);
    json_t *rec = json_pack("{s:s,s:I}", "clusterName", x->r->cluster, "createdAt", (json_int_t)x->env->now);
    if (!rec)
        return nomem(x);
    int rc = rec_put(x, key, rec, true); /* an existing cluster is answered as it is, as ECS does */
    json_decref(rec);
    if (rc < 0)
        return rc;
    char arn[SCHED_ECS_ARN_MAX];
    cluster_arn(x, x->r->cluster, arn);
    if (rc == 0 && (rc = tags_from_request(x, arn)))
        return rc;
    counts_t c;
    json_t *tags;
    if ((rc = cluster_counts(x, x->r->cluster, &c)) || (rc = sched_ecs_tags_get(x->rs, arn, &tags, x->err)))
        return rc;
    json_t *cl = cluster_json(x, x->r->cluster, &c, tags);
    json_decref(tags);
    if (!cl || !(*out = json_pack("{s:o}", "cluster", cl)))
        return nomem(x);
    return 0;
}

static int describe_clusters(ctx_t *x, json_t **out)
{
    json_t *list = json_object_get(x->r->body, "clusters");
    bool with_tags = sched_ecs_includes(x->r->body, "TAGS");
    json_t *clusters = json_array(), *failures = json_array();
    int rc = 0;
    if (!clusters || !failures)
        goto oom;
    size_t n = json_array_size(list) ? json_array_size(list) : 1;
    for (size_t i = 0; i < n; i++) {
        char name[SCHED_ECS_NAME_MAX + 1], key[KEY_MAX], arn[SCHED_ECS_ARN_MAX];
        const char *s = json_array_size(list) ? json_string_value(json_array_get(list, i)) : SCHED_ECS_DEFAULT_CLUSTER;
        sched_ecs_parse_cluster(s, name);
        snprintf(key, sizeof(key), "c/%s", name);
        json_t *rec;
        if ((rc = rec_get(x, key, &rec)) < 0)
            goto fail;
        json_decref(rec);
        if (rc == 1) {
            cluster_arn(x, name, arn);
            if (json_array_append_new(failures, json_pack("{s:s,s:s}", "arn", arn, "reason", "MISSING")))
                goto oom;
            continue;
        }
        counts_t c;
        json_t *tags = NULL;
        cluster_arn(x, name, arn);
        if ((rc = cluster_counts(x, name, &c)) || (with_tags && (rc = sched_ecs_tags_get(x->rs, arn, &tags, x->err))))
            goto fail;
        json_t *cl = cluster_json(x, name, &c, tags);
        json_decref(tags);
        if (json_array_append_new(clusters, cl))
            goto oom;
    }
    if (!(*out = json_pack("{s:o,s:o}", "clusters", clusters, "failures", failures)))
        return nomem(x);
    return 0;
oom:
    rc = nomem(x);
fail:
    json_decref(clusters);
    json_decref(failures);
    return rc;
}

static int list_clusters(ctx_t *x, json_t **out)
{
    json_t *items, *arns = json_array();
    int rc = arns ? rec_scan(x, "c/", &items) : nomem(x);
    if (rc) {
        json_decref(arns);
        return rc;
    }
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p)
    {
        char arn[SCHED_ECS_ARN_MAX];
        cluster_arn(x, jstr(PAIR_VALUE(p), "clusterName"), arn);
        if (json_array_append_new(arns, json_string(arn))) {
            rc = nomem(x);
            break;
        }
    }
    json_decref(items);
    if (!rc)
        rc = page_reply(x, arns, "clusterArns", out);
    json_decref(arns);
    return rc;
}

static int delete_cluster(ctx_t *x, json_t **out)
{
    int rc = need_cluster(x, x->r->cluster);
    if (rc)
        return rc;
    counts_t c;
    if ((rc = cluster_counts(x, x->r->cluster, &c)))
        return rc;
    if ((rc = sched_ecs_services_drop(x->rs, x->r->cluster, x->err)))
        return rc;
    if (c.instances) {
        sched_ecs_err(x->err, "ClusterContainsContainerInstancesException", 400,
                      "The Cluster cannot be deleted while Container Instances are active or draining (%lld registered).",
                      c.instances);
        return SCHED_EINVAL;
    }
    if (c.running || c.pending) {
        sched_ecs_err(x->err, "ClusterContainsTasksException", 400,
                      "The Cluster cannot be deleted while Tasks are active (%lld running, %lld pending).", c.running, c.pending);
        return SCHED_EINVAL;
    }
    /* the cluster's stopped tasks go with it */
    char key[KEY_MAX];
    json_t *items;
    snprintf(key, sizeof(key), "t/%s/", x->r->cluster);
    if ((rc = rec_scan(x, key, &items)))
        return rc;
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p)
    {
        if ((rc = rec_del(x, json_string_value(json_array_get(p, 0)))) ||
            (rc = sched_ecs_tags_drop(x->rs, jstr(PAIR_VALUE(p), "taskArn"), x->err)))
            break;
    }
    json_decref(items);
    snprintf(key, sizeof(key), "c/%s", x->r->cluster);
    char arn[SCHED_ECS_ARN_MAX];
    cluster_arn(x, x->r->cluster, arn);
    if (rc || (rc = rec_del(x, key)) || (rc = sched_ecs_tags_drop(x->rs, arn, x->err)))
        return rc;
    json_t *cl = cluster_json(x, x->r->cluster, &c, NULL);
    if (!cl || json_object_set_new(cl, "status", json_string("INACTIVE")) || !(*out = json_pack("{s:o}", "cluster", cl)))
        return nomem(x);
    return 0;
}

/* -------------------------------------------------------------- instances */

/* The later of the stored heartbeat and the caller's in-memory one (env->last_seen) */
static int64_t heartbeat_of(ctx_t *x, const char *id, int64_t stored)
{
    if (x->env->last_seen) {
        int64_t m = x->env->last_seen(x->env->last_seen_ctx, x->r->cluster, id);
        if (m > stored)
            return m;
    }
    return stored;
}

static bool agent_connected(ctx_t *x, const json_t *inst)
{
    int64_t stored = jint(inst, "heartbeatAt");
    if (x->env->now - stored <= x->env->agent_timeout) /* the later of the two counts: this one decides alone */
        return true;
    return x->env->now - heartbeat_of(x, jstr(inst, "id"), stored) <= x->env->agent_timeout;
}

/* The instance record of `ref` (id or ARN) in the request's cluster: 0, 1 when absent, or a failure. */
static int get_instance(ctx_t *x, const char *ref, char *id, char *key, json_t **out)
{
    *out = NULL;
    if (!sched_ecs_parse_ref(ref, "container-instance", id))
        return 1;
    snprintf(key, KEY_MAX, "i/%s/%s", x->r->cluster, id);
    return rec_get(x, key, out);
}

static json_t *port_set(const json_t *ports)
{
    json_t *set = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p)
    {
        char buf[8];
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(p));
        if (set && json_array_append_new(set, json_string(buf))) {
            json_decref(set);
            return NULL;
        }
    }
    return set;
}

static json_t *resources_json(long long cpu, long long mem, const json_t *tcp, const json_t *udp)
{
    return json_pack("[{s:s,s:s,s:I,s:f,s:I},{s:s,s:s,s:I,s:f,s:I},{s:s,s:s,s:o?,s:f,s:I,s:i},{s:s,s:s,s:o?,s:f,s:I,s:i}]", "name",
                     "CPU", "type", "INTEGER", "integerValue", (json_int_t)cpu, "doubleValue", 0.0, "longValue", (json_int_t)0,
                     "name", "MEMORY", "type", "INTEGER", "integerValue", (json_int_t)mem, "doubleValue", 0.0, "longValue",
                     (json_int_t)0, "name", "PORTS", "type", "STRINGSET", "stringSetValue", port_set(tcp), "doubleValue", 0.0,
                     "longValue", (json_int_t)0, "integerValue", 0, "name", "PORTS_UDP", "type", "STRINGSET", "stringSetValue",
                     port_set(udp), "doubleValue", 0.0, "longValue", (json_int_t)0, "integerValue", 0);
}

/* Running and pending tasks per instance of the cluster: an object id -> [running, pending]. */
static int instance_task_counts(ctx_t *x, json_t **out)
{
    char prefix[KEY_MAX];
    json_t *items, *counts = json_object();
    *out = NULL;
    snprintf(prefix, sizeof(prefix), "t/%s/", x->r->cluster);
    int rc = counts ? rec_scan(x, prefix, &items) : nomem(x);
    if (rc) {
        json_decref(counts);
        return rc;
    }
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p)
    {
        const json_t *t = PAIR_VALUE(p);
        const char *last = jstr(t, "lastStatus");
        int slot = strcmp(last, "RUNNING") == 0 ? 0 : strcmp(last, "PENDING") == 0 ? 1 : -1;
        if (slot < 0)
            continue;
        json_t *c = json_object_get(counts, jstr(t, "instanceId"));
        if (!c) {
            c = json_pack("[i,i]", 0, 0);
            if (!c || json_object_set_new(counts, jstr(t, "instanceId"), c)) {
                rc = nomem(x);
                break;
            }
        }
        json_array_set_new(c, (size_t)slot, json_integer(json_integer_value(json_array_get(c, (size_t)slot)) + 1));
    }
    json_decref(items);
    if (rc) {
        json_decref(counts);
        return rc;
    }
    *out = counts;
    return 0;
}

static json_t *attributes_json(const json_t *attrs)
{
    json_t *out = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        json_t *v = json_object_get(a, "value");
        json_t *e = v ? json_pack("{s:s,s:O}", "name", jstr(a, "name"), "value", v) : json_pack("{s:s}", "name", jstr(a, "name"));
        if (!out || json_array_append_new(out, e)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *instance_json(ctx_t *x, const json_t *in, const json_t *counts)
{
    char arn[SCHED_ECS_ARN_MAX];
    instance_arn(x, x->r->cluster, jstr(in, "id"), arn);
    const json_t *c = json_object_get(counts, jstr(in, "id"));
    json_t *vi = json_object_get(in, "versionInfo");
    return json_pack(
        "{s:s,s:s,s:I,s:o,s:o,s:o,s:s,s:b,s:I,s:I,s:o,s:I,s:[]}", "containerInstanceArn", arn, "ec2InstanceId",
        jstr(in, "ec2InstanceId"), "version", (json_int_t)jint(in, "version"), "versionInfo", vi ? json_incref(vi) : json_object(),
        "registeredResources",
        resources_json(jint(in, "cpu"), jint(in, "memory"), json_object_get(in, "ports"), json_object_get(in, "portsUdp")),
        "remainingResources",
        resources_json(jint(in, "remCpu"), jint(in, "remMemory"), json_object_get(in, "usedTcp"), json_object_get(in, "usedUdp")),
        "status", jstr(in, "status"), "agentConnected", agent_connected(x, in), "runningTasksCount",
        (json_int_t)(c ? json_integer_value(json_array_get(c, 0)) : 0), "pendingTasksCount",
        (json_int_t)(c ? json_integer_value(json_array_get(c, 1)) : 0), "attributes",
        attributes_json(json_object_get(in, "attributes")), "registeredAt", (json_int_t)jint(in, "registeredAt"), "tags");
}

/* Sets (or, value NULL and remove, deletes) attribute name on instance record in. */
static int set_attribute(ctx_t *x, json_t *in, const char *name, const json_t *value, bool remove)
{
    json_t *attrs = json_object_get(in, "attributes");
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        if (strcmp(jstr(a, "name"), name) == 0) {
            if (remove)
                return json_array_remove(attrs, i) ? nomem(x) : 0;
            if (!value) {
                json_object_del(a, "value");
                return 0;
            }
            return json_object_set(a, "value", (json_t *)value) ? nomem(x) : 0;
        }
    }
    if (remove)
        return 0;
    if (json_array_size(attrs) >= MAX_ATTRIBUTES) {
        sched_ecs_err(x->err, "AttributeLimitExceededException", 400,
                      "attributes: container instance %s already has %d attributes; delete some first", jstr(in, "id"),
                      MAX_ATTRIBUTES);
        return SCHED_EINVAL;
    }
    json_t *e = value ? json_pack("{s:s,s:O}", "name", name, "value", value) : json_pack("{s:s}", "name", name);
    return !e || json_array_append_new(attrs, e) ? nomem(x) : 0;
}

static int register_instance(ctx_t *x, json_t **out)
{
    int rc = need_cluster(x, x->r->cluster);
    if (rc)
        return rc;
    const json_t *b = x->r->body;
    char id[SCHED_ECS_ID_LEN + 1], key[KEY_MAX];
    json_t *in = NULL;
    const char *given = body_str(x, "containerInstanceArn");
    if (given) {
        /* re-registration keeps the id, its tasks and their claims; resources are restated */
        if ((rc = get_instance(x, given, id, key, &in)) < 0)
            return rc;
        if (rc == 1)
            return BAD("containerInstanceArn: no container instance %s in cluster %s", given, x->r->cluster);
        const char *owner = jstr(in, "owner");
        if (x->env->caller && *owner && strcmp(owner, x->env->caller) != 0) {
            json_decref(in);
            sched_ecs_err(x->err, "AccessDeniedException", 400,
                          "containerInstanceArn: %s was registered by another principal: only its own agent may re-attach", id);
            return SCHED_EINVAL;
        }
    } else {
        new_id(x, id);
        snprintf(key, sizeof(key), "i/%s/%s", x->r->cluster, id);
    }
    long long cpu = 0, mem = 0;
    json_t *tcp = json_array(), *udp = json_array();
    size_t i;
    json_t *res;
    if (!tcp || !udp)
        goto oom;
    json_array_foreach(json_object_get(b, "totalResources"), i, res)
    {
        const char *name = jstr(res, "name");
        json_t *iv = json_object_get(res, "integerValue"), *lv = json_object_get(res, "longValue"),
               *dv = json_object_get(res, "doubleValue");
        long long v = iv ? json_integer_value(iv) : lv ? json_integer_value(lv) : dv ? (long long)json_number_value(dv) : 0;
        if (strcmp(name, "CPU") == 0 || strcmp(name, "MEMORY") == 0) {
            *(strcmp(name, "CPU") == 0 ? &cpu : &mem) = v;
        } else if (strcmp(name, "PORTS") == 0 || strcmp(name, "PORTS_UDP") == 0) {
            size_t k;
            json_t *ps;
            json_array_foreach(json_object_get(res, "stringSetValue"), k, ps)
            {
                if (json_array_append_new(strcmp(name, "PORTS") == 0 ? tcp : udp, json_integer(atoi(json_string_value(ps)))))
                    goto oom;
            }
        }
    }
    json_t *attrs = json_array();
    if (!attrs)
        goto oom;
    /* what the instance identity document says, as ECS's agent reports it */
    const char *doc_text = body_str(x, "instanceIdentityDocument");
    json_t *doc = doc_text ? json_loads(doc_text, 0, NULL) : NULL;
    const char *ec2 = json_string_value(json_object_get(doc, "instanceId"));
    const char *az = json_string_value(json_object_get(doc, "availabilityZone"));
    const char *itype = json_string_value(json_object_get(doc, "instanceType"));
    char ec2_buf[32];
    if (!ec2 || strlen(ec2) > 64) {
        snprintf(ec2_buf, sizeof(ec2_buf), "i-%.17s", id);
        ec2 = ec2_buf;
    }
    if (az && strlen(az) <= 128 &&
        json_array_append_new(attrs, json_pack("{s:s,s:s}", "name", "ecs.availability-zone", "value", az)))
        goto oom_attrs;
    if (itype && strlen(itype) <= 128 &&
        json_array_append_new(attrs, json_pack("{s:s,s:s}", "name", "ecs.instance-type", "value", itype)))
        goto oom_attrs;
    json_t *rec = in;
    if (!rec) {
        rec = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:O,s:O,s:o,s:o}", "id", id, "ec2InstanceId", ec2, "status",
                        "ACTIVE", "registeredAt", (json_int_t)x->env->now, "heartbeatAt", (json_int_t)x->env->now, "version",
                        (json_int_t)1, "cpu", (json_int_t)cpu, "memory", (json_int_t)mem, "remCpu", (json_int_t)cpu, "remMemory",
                        (json_int_t)mem, "ports", tcp, "portsUdp", udp, "usedTcp", json_deep_copy(tcp), "usedUdp",
                        json_deep_copy(udp));
        if (!rec || json_object_set(rec, "attributes", attrs))
            goto oom_rec;
        /* whose agent it is: only that principal acts for it (ecs_agent.c) */
        if (x->env->caller && json_object_set_new(rec, "owner", json_string(x->env->caller)))
            goto oom_rec;
    } else {
        /* the new totals minus what its tasks hold */
        long long used_cpu = jint(rec, "cpu") - jint(rec, "remCpu"), used_mem = jint(rec, "memory") - jint(rec, "remMemory");
        if (cpu < used_cpu || mem < used_mem) {
            /* remaining resources never go negative: shrink only below what is free */
            rc = CLIENT("totalResources: %s %lld is less than the %lld its tasks hold on %s; stop some first",
                        cpu < used_cpu ? "CPU" : "MEMORY", cpu < used_cpu ? cpu : mem, cpu < used_cpu ? used_cpu : used_mem, given);
            goto fail;
        }
        if (json_object_set_new(rec, "cpu", json_integer(cpu)) || json_object_set_new(rec, "memory", json_integer(mem)) ||
            json_object_set_new(rec, "remCpu", json_integer(cpu - used_cpu)) ||
            json_object_set_new(rec, "remMemory", json_integer(mem - used_mem)) ||
            json_object_set_new(rec, "heartbeatAt", json_integer(x->env->now)) ||
            json_object_set_new(rec, "version", json_integer(jint(rec, "version") + 1)))
            goto oom_rec;
        size_t k;
        json_t *a;
        json_array_foreach(attrs, k, a)
        {
            if ((rc = set_attribute(x, rec, jstr(a, "name"), json_object_get(a, "value"), false)))
                goto fail;
        }
    }
    json_t *a;
    json_array_foreach(json_object_get(b, "attributes"), i, a)
    {
        if ((rc = set_attribute(x, rec, jstr(a, "name"), json_object_get(a, "value"), false)))
            goto fail;
    }
    json_t *vi = json_object_get(b, "versionInfo");
    if (vi && json_object_set(rec, "versionInfo", vi))
        goto oom_rec;
    char arn[SCHED_ECS_ARN_MAX];
    instance_arn(x, x->r->cluster, jstr(rec, "id"), arn);
    if ((rc = rec_put(x, key, rec, false)) || (rc = tags_from_request(x, arn)))
        goto fail;
    /* a new instance has no tasks: only a re-registration needs the cluster's tasks counted */
    json_t *counts = NULL;
    if (in && (rc = instance_task_counts(x, &counts)))
        goto fail;
    json_t *reply = instance_json(x, rec, counts);
    json_decref(counts);
    if (!reply || !(*out = json_pack("{s:o}", "containerInstance", reply)))
        goto oom_rec;
    rc = 0;
    goto done;
oom_rec:
    rc = nomem(x);
fail:
done:
    json_decref(rec);
    json_decref(doc);
    json_decref(attrs);
    json_decref(tcp);
    json_decref(udp);
    return rc;
oom_attrs:
    json_decref(doc);
    json_decref(attrs);
oom:
    json_decref(tcp);
    json_decref(udp);
    json_decref(in);
    return nomem(x);
}

/* ----------------------------------------------------------- live cluster */

/* The cluster's instances (in key order, or those named in `only`) in the
 * pure engine's model, with each instance's tasks as group counts (the
 * instance record's "groups": what spread, distinctInstance and task:group
 * need; the tasks' own resources are already out of the remaining ones).
 * Each record is parsed, given to the engine and freed as the scan goes:
 * only its key stays, at the engine's index. */
typedef struct {
    sched_cluster_t *c;
    json_t *keys;       /* record keys, index = engine index */
    int64_t *heartbeat; /* heartbeatAt, index = engine index: agentConnected moves with the clock */
    size_t heartbeat_cap;
} live_t;

static void live_free(live_t *l)
{
    sched_cluster_free(l->c);
    json_decref(l->keys);
    free(l->heartbeat);
    memset(l, 0, sizeof(*l));
}

/* The writer's copy of one cluster's placement state (the engine's model of
 * its instances), valid while the cluster's token record (g/<cluster>)
 * holds `token`. Every operation that changes a cluster's instances or tasks
 * writes a fresh random token in its transaction; a RunTask that used and
 * changed the cache gives the cache that token only once its own writes are
 * done. So a cache that missed a change (another writer, a transaction that
 * failed or was retried after the closure changed the cache) sees another
 * token and is loaded again, never trusted. */
struct sched_ecs_cache {
    char cluster[SCHED_ECS_NAME_MAX + 1];
    char token[24]; /* "" when invalid */
    live_t l;
    uint64_t loads, hits; /* for tests and benchmarks */
};

sched_ecs_cache_t *sched_ecs_cache_new(void)
{
    return calloc(1, sizeof(sched_ecs_cache_t));
}

void sched_ecs_cache_free(sched_ecs_cache_t *c)
{
    if (!c)
        return;
    live_free(&c->l);
    free(c);
}

void sched_ecs_cache_stats(const sched_ecs_cache_t *c, uint64_t *loads, uint64_t *hits)
{
    *loads = c->loads;
    *hits = c->hits;
}

static int ports_of(ctx_t *x, const json_t *list, uint16_t **out, size_t *n)
{
    *n = json_array_size(list);
    *out = calloc(*n ? *n : 1, sizeof(**out));
    if (!*out)
        return nomem(x);
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = (uint16_t)json_integer_value(json_array_get(list, i));
    return 0;
}

static int add_to_engine(ctx_t *x, live_t *l, const json_t *in)
{
    char arn[SCHED_ECS_ARN_MAX];
    instance_arn(x, x->r->cluster, jstr(in, "id"), arn);
    json_t *attrs = json_object_get(in, "attributes");
    size_t na = json_array_size(attrs);
    sched_attribute_t *sa = calloc(na ? na : 1, sizeof(*sa));
    uint16_t *tcp = NULL, *udp = NULL;
    size_t ntcp, nudp;
    int rc = sa ? 0 : nomem(x);
    if (!rc)
        rc = ports_of(x, json_object_get(in, "usedTcp"), &tcp, &ntcp);
    if (!rc)
        rc = ports_of(x, json_object_get(in, "usedUdp"), &udp, &nudp);
    if (!rc) {
        for (size_t i = 0; i < na; i++) {
            json_t *a = json_array_get(attrs, i);
            sa[i] = (sched_attribute_t){jstr(a, "name"), json_string_value(json_object_get(a, "value"))};
        }
        sched_instance_spec_t spec = {
            .arn = arn,
            .ec2_instance_id = jstr(in, "ec2InstanceId"),
            .status = strcmp(jstr(in, "status"), "DRAINING") == 0 ? SCHED_INSTANCE_DRAINING : SCHED_INSTANCE_ACTIVE,
            .agent_connected = agent_connected(x, in),
            .registered_at = jint(in, "registeredAt"),
            .registered_cpu = jint(in, "cpu"),
            .registered_memory = jint(in, "memory"),
            .remaining_cpu = jint(in, "remCpu"),
            .remaining_memory = jint(in, "remMemory"),
            .attributes = sa,
            .nattributes = na,
            .used_tcp_ports = tcp,
            .nused_tcp_ports = ntcp,
            .used_udp_ports = udp,
            .nused_udp_ports = nudp,
        };
        sched_err_t e = {0};
        sched_status_t st = sched_cluster_add_instance(l->c, &spec, NULL, &e);
        if (st == SCHED_ENOMEM)
            rc = nomem(x);
        else if (st != SCHED_OK) {
            sched_ecs_err(x->err, "ServerException", 500, "cluster state: instance %s: %s", arn, e.msg);
            rc = SCHED_EIO;
        }
    }
    free(sa);
    free(tcp);
    free(udp);
    return rc;
}

/* The instance's tasks, as the engine counts them: one per task of each group. */
static int add_groups_to_engine(ctx_t *x, live_t *l, size_t idx, const json_t *in)
{
    const char *group;
    json_t *n;
    json_object_foreach(json_object_get(in, "groups"), group, n)
    {
        sched_task_spec_t spec = {.group = group, .family = ""};
        for (json_int_t k = 0; k < json_integer_value(n); k++) {
            sched_err_t e = {0};
            sched_status_t st = sched_cluster_add_task(l->c, idx, &spec, &e);
            if (st == SCHED_ENOMEM)
                return nomem(x);
            if (st != SCHED_OK) {
                sched_ecs_err(x->err, "ServerException", 500, "cluster state: instance %s: %s", jstr(in, "id"), e.msg);
                return SCHED_EIO;
            }
        }
    }
    return 0;
}

typedef struct {
    ctx_t *x;
    live_t *l;
    const json_t *only;
    int rc;
} load_t;

static bool load_cb(void *p, const char *key, size_t key_len, const void *val, size_t len)
{
    load_t *ld = p;
    ctx_t *x = ld->x;
    json_error_t je;
    json_t *in = json_loadb(val, len, 0, &je);
    if (!json_is_object(in)) {
        json_decref(in);
        sched_ecs_err(x->err, "ServerException", 500, "cluster state: record %.*s is damaged: %s", (int)key_len, key, je.text);
        ld->rc = SCHED_EIO;
        return false;
    }
    bool named = !ld->only;
    size_t k;
    json_t *id;
    json_array_foreach(ld->only, k, id) named |= strcmp(json_string_value(id), jstr(in, "id")) == 0;
    if (named) {
        live_t *l = ld->l;
        size_t idx = sched_cluster_instance_count(l->c);
        if (idx == l->heartbeat_cap) {
            size_t cap = l->heartbeat_cap ? 2 * l->heartbeat_cap : 64;
            int64_t *hb = realloc(l->heartbeat, cap * sizeof(*hb));
            if (!hb) {
                json_decref(in);
                ld->rc = nomem(x);
                return false;
            }
            l->heartbeat = hb;
            l->heartbeat_cap = cap;
        }
        l->heartbeat[idx] = jint(in, "heartbeatAt");
        if (!(ld->rc = add_to_engine(x, l, in)) && !(ld->rc = add_groups_to_engine(x, l, idx, in)) &&
            json_array_append_new(l->keys, json_stringn(key, key_len)))
            ld->rc = nomem(x);
    }
    json_decref(in);
    return ld->rc == 0;
}

/* only: NULL for every instance, else an array of instance ids */
static int live_load(ctx_t *x, const json_t *only, live_t *l)
{
    char prefix[KEY_MAX];
    memset(l, 0, sizeof(*l));
    if (!(l->c = sched_cluster_new()) || !(l->keys = json_array())) {
        live_free(l);
        return nomem(x);
    }
    snprintf(prefix, sizeof(prefix), "i/%s/", x->r->cluster);
    load_t ld = {x, l, only, 0};
    storage_err_t se = {0};
    storage_status_t st = storage_record_scan(x->rs, SCHED_ECS_SPACE, prefix, load_cb, &ld, &se);
    int rc = ld.rc ? ld.rc : st != STORAGE_OK ? store_failed(x, &se) : 0;
    if (rc)
        live_free(l);
    return rc;
}

static int list_instances(ctx_t *x, json_t **out)
{
    int rc = need_cluster(x, x->r->cluster);
    if (rc)
        return rc;
    live_t l;
    if ((rc = live_load(x, NULL, &l)))
        return rc;
    sched_cql_t *q = NULL;
    const char *filter = body_str(x, "filter");
    const char *status = body_str(x, "status");
    sched_err_t e = {0};
    json_t *arns = json_array();
    if (!arns || (filter && sched_cql_parse(filter, &q, &e) != SCHED_OK)) {
        rc = nomem(x);
        goto done;
    }
    for (size_t i = 0; i < sched_cluster_instance_count(l.c); i++) {
        /* the engine knows ACTIVE and DRAINING, the only statuses a registered instance has here */
        if (status && strcmp(status, l.c->inst[i].status == SCHED_INSTANCE_DRAINING ? "DRAINING" : "ACTIVE") != 0)
            continue;
        if (q && !sched_cql_matches(q, l.c, i))
            continue;
        if (json_array_append_new(arns, json_string(sched_instance_arn(l.c, i)))) {
            rc = nomem(x);
            goto done;
        }
    }
    rc = page_reply(x, arns, "containerInstanceArns", out);
done:
    json_decref(arns);
    sched_cql_free(q);
    live_free(&l);
    return rc;
}

static int describe_instances(ctx_t *x, json_t **out)
{
    int rc = need_cluster(x, x->r->cluster);
    if (rc)
        return rc;
    json_t *counts, *list = json_array(), *failures = json_array();
    if (!list || !failures || (rc = instance_task_counts(x, &counts))) {
        json_decref(list);
        json_decref(failures);
        return rc ? rc : nomem(x);
    }
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(x->r->body, "containerInstances"), i, ref)
    {
        char id[SCHED_ECS_ID_LEN + 1], key[KEY_MAX];
        json_t *in;
        if ((rc = get_instance(x, json_string_value(ref), id, key, &in)) < 0)
            break;
        json_t *e =
            rc == 1 ? json_pack("{s:s,s:s}", "arn", json_string_value(ref), "reason", "MISSING") : instance_json(x, in, counts);
        json_decref(in);
        rc = 0;
        if (json_array_append_new(e && json_object_get(e, "reason") ? failures : list, e)) {
            rc = nomem(x);
            break;
        }
    }
    json_decref(counts);
    if (rc || !(*out = json_pack("{s:o,s:o}", "containerInstances", list, "failures", failures))) {
        if (rc) {
            json_decref(list);
            json_decref(failures);
        }
        return rc ? rc : nomem(x);
    }
    return 0;
}

/* ------------------------------------------------------------------ tasks */

/* Adds delta to the instance record's count of tasks in group (gone at 0). */
static int add_group_count(ctx_t *x, json_t *in, const char *group, int delta)
{
    json_t *g = json_object_get(in, "groups");
    if (!g) {
        if (delta < 0)
            return 0;
        if (!(g = json_object()) || json_object_set_new(in, "groups", g))
            return nomem(x);
    }
    long long n = (long long)json_integer_value(json_object_get(g, group)) + delta;
    if (n <= 0)
        return json_object_del(g, group), 0;
    return json_object_set_new(g, group, json_integer(n)) ? nomem(x) : 0;
}

/* Releases a task's claims on its instance (if still registered) and marks it released. */
static int read_token(ctx_t *x, char tok[24]);

/* StopTask on a cache that holds the cluster as stored: the release is applied
 * to the cached model too, which then stays warm (its token follows this
 * transaction's once it succeeds). A stale cache is left for RunTask to reload. */
static int cache_release(ctx_t *x, const json_t *t)
{
    sched_ecs_cache_t *c = x->env->cache;
    if (!c || (x->r->op != ECS_STOP_TASK && x->r->op != ECS_SUBMIT_TASK_STATE_CHANGE) || !c->token[0] ||
        strcmp(c->cluster, x->r->cluster) != 0)
        return 0;
    char tok[24], arn[SCHED_ECS_ARN_MAX];
    int rc = read_token(x, tok);
    if (rc || strcmp(tok, c->token) != 0)
        return rc;
    instance_arn(x, x->r->cluster, jstr(t, "instanceId"), arn);
    size_t idx = sched_cluster_find_instance(c->l.c, arn);
    if (idx == SCHED_NO_INSTANCE) {
        c->token[0] = '\0'; /* cannot be while the tokens agree; do not trust it */
        return 0;
    }
    sched_instance_t *in = &c->l.c->inst[idx];
    in->rem_cpu += jint(t, "cpuClaim");
    in->rem_mem += jint(t, "memClaim");
    size_t i;
    json_t *claim;
    json_array_foreach(json_object_get(t, "claims"), i, claim)
    {
        sched_portset_remove(&in->used[strcmp(jstr(claim, "protocol"), "udp") == 0 ? SCHED_PROTO_UDP : SCHED_PROTO_TCP],
                             (uint16_t)jint(claim, "port"));
    }
    for (size_t k = 0; k < in->ntasks; k++) {
        if (strcmp(in->tasks[k].group, jstr(t, "group")) == 0) {
            sched_task_release(&in->tasks[k]);
            memmove(&in->tasks[k], &in->tasks[k + 1], (in->ntasks - k - 1) * sizeof(in->tasks[0]));
            in->ntasks--;
            break;
        }
    }
    x->cache_changed = true;
    return 0;
}

static int release_claims(ctx_t *x, json_t *t)
{
    if (json_object_get(t, "released"))
        return 0;
    char key[KEY_MAX];
    json_t *in;
    snprintf(key, sizeof(key), "i/%s/%s", x->r->cluster, jstr(t, "instanceId"));
    int rc = rec_get(x, key, &in);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        if (json_object_set_new(in, "remCpu", json_integer(jint(in, "remCpu") + jint(t, "cpuClaim"))) ||
            json_object_set_new(in, "remMemory", json_integer(jint(in, "remMemory") + jint(t, "memClaim"))) ||
            (rc = add_group_count(x, in, jstr(t, "group"), -1)) != 0) {
            json_decref(in);
            return rc ? rc : nomem(x);
        }
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(t, "claims"), i, c)
        {
            json_t *used = json_object_get(in, strcmp(jstr(c, "protocol"), "udp") == 0 ? "usedUdp" : "usedTcp");
            for (size_t k = 0; k < json_array_size(used); k++)
                if (json_integer_value(json_array_get(used, k)) == jint(c, "port")) {
                    json_array_remove(used, k);
                    break;
                }
        }
        rc = rec_put(x, key, in, false);
        json_decref(in);
        if (rc || (rc = cache_release(x, t)))
            return rc;
    }
    return json_object_set_new(t, "released", json_true()) ? nomem(x) : 0;
}

static int stop_task_record(ctx_t *x, json_t *t, const char *reason)
{
    int rc = release_claims(x, t);
    if (rc)
        return rc;
    json_object_set_new(t, "desiredStatus", json_string("STOPPED"));
    json_object_set_new(t, "stoppingAt", json_integer(x->env->now));
    json_object_set_new(t, "stopCode", json_string("UserInitiated"));
    if (reason && json_object_set_new(t, "stoppedReason", json_string(reason)))
        return nomem(x);
    /* no agent has started it: nothing runs, so it is stopped now; a running
     * task stays RUNNING until its agent reports it stopped */
    if (strcmp(jstr(t, "lastStatus"), "PENDING") == 0) {
        json_object_set_new(t, "lastStatus", json_string("STOPPED"));
        json_object_set_new(t, "stoppedAt", json_integer(x->env->now));
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(t, "containers"), i, c) json_object_set_new(c, "lastStatus", json_string("STOPPED"));
    }
    json_object_set_new(t, "version", json_integer(jint(t, "version") + 1));
    return 0;
}

static json_t *task_json(const json_t *t)
{
    json_t *o = json_deep_copy(t);
    static const char *const internal[] = {"id", "instanceId", "family", "revision", "cpuClaim", "memClaim", "claims", "released"};
    for (size_t i = 0; o && i < sizeof(internal) / sizeof(internal[0]); i++)
        json_object_del(o, internal[i]);
    return o;
}

static int deregister_instance(ctx_t *x, json_t **out)
{
    int rc = need_cluster(x, x->r->cluster);
    if (rc)
        return rc;
    char id[SCHED_ECS_ID_LEN + 1], key[KEY_MAX], prefix[KEY_MAX];
    json_t *in, *items;
    if ((rc = get_instance(x, body_str(x, "containerInstance"), id, key, &in)) < 0)
        return rc;
    if (rc == 1) {
        sched_ecs_err(x->err, "InvalidParameterException", 400, "containerInstance: %s is not registered in cluster %s",
                      body_str(x, "containerInstance"), x->r->cluster);
        return SCHED_EINVAL;
    }
    bool force = json_is_true(json_object_get(x->r->body, "force"));
    snprintf(prefix, sizeof(prefix), "t/%s/", x->r->cluster);
    if ((rc = rec_scan(x, prefix, &items)))
        goto done;
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p)
    {
        json_t *t = PAIR_VALUE(p);
        if (strcmp(jstr(t, "instanceId"), id) != 0 || json_object_get(t, "released"))
            continue;
        if (!force) {
            rc = BAD("containerInstance: it has tasks (%s); stop them first, or deregister with force", jstr(t, "taskArn"));
            break;
        }
        /* orphaned by force: Berth has no agent to keep them, so they stop */
        if ((rc = stop_task_record(x, t, "Container instance deregistered")) ||
            (rc = rec_put(x, json_string_value(json_array_get(p, 0)), t, false)))
            break;
    }
    json_decref(items);
    char arn[SCHED_ECS_ARN_MAX];
    instance_arn(x, x->r->cluster, id, arn);
    if (rc || (rc = rec_del(x, key)) || (rc = sched_ecs_tags_drop(x->rs, arn, x->err)))
        goto done;
    json_object_set_new(in, "status", json_string("INACTIVE"));
    json_t *reply = instance_json(x, in, NULL);
    if (!reply || !(*out = json_pack("{s:o}", "containerInstance", reply)))
        rc = nomem(x);
done:
    json_decref(in);
    return rc;
}

static int update_instances_state(ctx_t *x, json_t **out)
{
    int rc = need_cluster(x, x->r->cluster);
    if (rc)
        return rc;
    const char *status = body_str(x, "status");
    json_t *counts, *list = json_array(), *failures = json_array();
    if (!list || !failures || (rc = instance_task_counts(x, &counts))) {
        json_decref(list);
        json_decref(failures);
        return rc ? rc : nomem(x);
    }
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(x->r->body, "containerInstances"), i, ref)
    {
        char id[SCHED_ECS_ID_LEN + 1], key[KEY_MAX];
        json_t *in;
        if ((rc = get_instance(x, json_string_value(ref), id, key, &in)) < 0)
            break;
        json_t *e;
        if (rc == 1) {
            e = json_pack("{s:s,s:s}", "arn", json_string_value(ref), "reason", "MISSING");
        } else {
            json_object_set_new(in, "status", json_string(status));
            json_object_set_new(in, "version", json_integer(jint(in, "version") + 1));
            if ((rc = rec_put(x, key, in, false))) {
                json_decref(in);
                break;
            }
            e = instance_json(x, in, counts);
        }
        json_decref(in);
        rc = 0;
        if (!e || json_array_append_new(json_object_get(e, "reason") ? failures : list, e)) {
            rc = nomem(x);
            break;
        }
    }
    json_decref(counts);
    if (rc || !(*out = json_pack("{s:o,s:o}", "containerInstances", list, "failures", failures))) {
        if (rc) {
            json_decref(list);
            json_decref(failures);
        }
        return rc ? rc : nomem(x);
    }
    return 0;
}

/* ------------------------------------------------------------- attributes */

static int change_attributes(ctx_t *x, json_t **out, bool remove)
{
    int rc = need_cluster(x, x->r->cluster);
    if (rc)
        return rc;
    json_t *list = json_object_get(x->r->body, "attributes");
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        char id[SCHED_ECS_ID_LEN + 1], key[KEY_MAX];
        json_t *in;
        if ((rc = get_instance(x, jstr(a, "targetId"), id, key, &in)) < 0)
            return rc;
        if (rc == 1) {
            sched_ecs_err(x->err, "TargetNotFoundException", 400,
                          "attributes[%zu].targetId: no container instance %s in cluster %s", i, jstr(a, "targetId"),
                          x->r->cluster);
            return SCHED_EINVAL;
        }
        if (!json_object_get(in, "attributes"))
            json_object_set_new(in, "attributes", json_array());
        rc = set_attribute(x, in, jstr(a, "name"), json_object_get(a, "value"), remove);
        if (!rc)
            rc = rec_put(x, key, in, false);
        json_decref(in);
        if (rc)
            return rc;
    }
    if (!(*out = json_pack("{s:O}", "attributes", list)))
        return nomem(x);
    return 0;
}

static int list_attributes(ctx_t *x, json_t **out)
{
    int rc = need_cluster(x, x->r->cluster);
    if (rc)
        return rc;
    char prefix[KEY_MAX];
    json_t *items, *all = json_array();
    snprintf(prefix, sizeof(prefix), "i/%s/", x->r->cluster);
    if (!all || (rc = rec_scan(x, prefix, &items))) {
        json_decref(all);
        return rc ? rc : nomem(x);
    }
    const char *name = body_str(x, "attributeName"), *value = body_str(x, "attributeValue");
    size_t i, k;
    json_t *p, *a;
    json_array_foreach(items, i, p)
    {
        const json_t *in = PAIR_VALUE(p);
        char arn[SCHED_ECS_ARN_MAX];
        instance_arn(x, x->r->cluster, jstr(in, "id"), arn);
        json_array_foreach(json_object_get(in, "attributes"), k, a)
        {
            json_t *v = json_object_get(a, "value");
            if (name && strcmp(name, jstr(a, "name")) != 0)
                continue;
            if (value && (!v || strcmp(value, json_string_value(v)) != 0))
                continue;
            json_t *e = json_pack("{s:s,s:s,s:s}", "name", jstr(a, "name"), "targetType", "container-instance", "targetId", arn);
            if (!e || (v && json_object_set(e, "value", v)) || json_array_append_new(all, e)) {
                rc = nomem(x);
                break;
            }
        }
    }
    json_decref(items);
    if (!rc)
        rc = page_reply(x, all, "attributes", out);
    json_decref(all);
    return rc;
}

/* ------------------------------------------------------- task definitions */

static void td_key(const char *family, long long rev, char *key)
{
    snprintf(key, KEY_MAX, "d/%s/%010lld", family, rev);
}

/* A role as ECS takes it, "NAME" or its ARN, as its ARN in this account (what IAM and STS look up). */
static void role_arn(const sched_ecs_env_t *env, const char *v, char *out, size_t cap)
{
    if (strncmp(v, "arn:", 4) == 0)
        snprintf(out, cap, "%s", v);
    else
        snprintf(out, cap, "arn:aws:iam::%s:role/%s", env->account, v);
}

int sched_ecs_check_roles(storage_records_t *rs, const sched_ecs_env_t *env, const json_t *td, sched_ecs_err_t *err)
{
    const char *task_role = json_string_value(json_object_get(td, "taskRoleArn"));
    const char *exec_role = json_string_value(json_object_get(td, "executionRoleArn"));
    if (!task_role && !exec_role)
        return 0;
    /* the credentials endpoint is on the instance's loopback (a definition stored before this was checked) */
    if (task_role && strcmp(jstr(td, "networkMode"), "host") != 0 && json_object_get(td, "networkMode")) {
        sched_ecs_err(err, "ClientException", 400,
                      "taskRoleArn: task roles need networkMode host in Berth until bridge networks have a route to the agent's "
                      "credentials endpoint (%s is %s)",
                      jstr(td, "taskDefinitionArn"), jstr(td, "networkMode"));
        return SCHED_EINVAL;
    }
    if (!env->check_roles)
        return 0;
    char t[2100], e[2100];
    if (task_role)
        role_arn(env, task_role, t, sizeof(t));
    if (exec_role)
        role_arn(env, exec_role, e, sizeof(e));
    return env->check_roles(env->check_roles_ctx, rs, task_role ? t : NULL, exec_role ? e : NULL, err);
}

/* A task definition's roles, checked by the caller's env->check_roles (iam:PassRole, trust policies). */
static int check_roles(ctx_t *x, const json_t *td)
{
    return sched_ecs_check_roles(x->rs, x->env, td, x->err);
}

static int register_task_def(ctx_t *x, json_t **out)
{
    const json_t *b = x->r->body;
    const char *family = x->r->family;
    char fkey[KEY_MAX], key[KEY_MAX], arn[SCHED_ECS_ARN_MAX];
    json_t *f;
    snprintf(fkey, sizeof(fkey), "f/%s", family);
    int rc = check_roles(x, b);
    if (rc)
        return rc;
    rc = rec_get(x, fkey, &f);
    if (rc < 0)
        return rc;
    long long rev = (f ? jint(f, "last") : 0) + 1;
    json_decref(f);
    if (!(f = json_pack("{s:I}", "last", (json_int_t)rev)))
        return nomem(x);
    rc = rec_put(x, fkey, f, false);
    json_decref(f);
    if (rc)
        return rc;
    task_def_arn(x, family, rev, arn);
    json_t *td = json_deep_copy(b);
    if (!td)
        return nomem(x);
    json_object_del(td, "tags");
    /* a role given by name is kept as its ARN, which the agent's credentials are minted for */
    static const char *const role_fields[] = {"taskRoleArn", "executionRoleArn"};
    for (size_t k = 0; k < 2; k++) {
        const char *v = json_string_value(json_object_get(td, role_fields[k]));
        char full[2100];
        if (v && strncmp(v, "arn:", 4) != 0) {
            role_arn(x->env, v, full, sizeof(full));
            if (json_object_set_new(td, role_fields[k], json_string(full))) {
                json_decref(td);
                return nomem(x);
            }
        }
    }
    /* ECS's defaults, stated as DescribeTaskDefinition shows them */
    if (!json_object_get(td, "networkMode"))
        json_object_set_new(td, "networkMode", json_string("bridge"));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(td, "containerDefinitions"), i, c)
    {
        if (!json_object_get(c, "cpu"))
            json_object_set_new(c, "cpu", json_integer(0));
        if (!json_object_get(c, "essential"))
            json_object_set_new(c, "essential", json_true());
        static const char *const lists[] = {"portMappings", "environment", "mountPoints", "volumesFrom"};
        for (size_t k = 0; k < 4; k++)
            if (!json_object_get(c, lists[k]))
                json_object_set_new(c, lists[k], json_array());
        bool host = strcmp(jstr(td, "networkMode"), "host") == 0;
        size_t m;
        json_t *pm;
        json_array_foreach(json_object_get(c, "portMappings"), m, pm)
        {
            if (!json_object_get(pm, "protocol"))
                json_object_set_new(pm, "protocol", json_string("tcp"));
            if (host && !json_object_get(pm, "hostPort"))
                json_object_set_new(pm, "hostPort", json_object_get(pm, "containerPort"));
            if (json_object_get(pm, "hostPort") == NULL)
                json_object_set_new(pm, "hostPort", json_integer(0));
        }
    }
    if (!json_object_get(td, "placementConstraints"))
        json_object_set_new(td, "placementConstraints", json_array());
    if (!json_object_get(td, "requiresCompatibilities"))
        json_object_set_new(td, "requiresCompatibilities", json_pack("[s]", "EC2"));
    json_t *tcpu = json_object_get(td, "cpu"), *tmem = json_object_get(td, "memory");
    char num[24];
    if (json_is_integer(tcpu)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(tcpu));
        json_object_set_new(td, "cpu", json_string(num));
    }
    if (json_is_integer(tmem)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(tmem));
        json_object_set_new(td, "memory", json_string(num));
    }
    if (json_object_set_new(td, "taskDefinitionArn", json_string(arn)) || json_object_set_new(td, "revision", json_integer(rev)) ||
        json_object_set_new(td, "status", json_string("ACTIVE")) || json_object_set_new(td, "volumes", json_array()) ||
        json_object_set_new(td, "compatibilities", json_pack("[s]", "EC2")) ||
        json_object_set_new(td, "registeredAt", json_integer(x->env->now))) {
        json_decref(td);
        return nomem(x);
    }
    td_key(family, rev, key);
    if ((rc = rec_put(x, key, td, true)) != 0) {
        json_decref(td);
        if (rc == 1) {
            sched_ecs_err(x->err, "ServerException", 500, "cluster state: %s:%lld exists but the family's counter is behind",
                          family, rev);
            return SCHED_EIO;
        }
        return rc;
    }
    json_t *tags;
    if ((rc = tags_from_request(x, arn)) || (rc = sched_ecs_tags_get(x->rs, arn, &tags, x->err))) {
        json_decref(td);
        return rc;
    }
    if (!(*out = json_pack("{s:o,s:o}", "taskDefinition", td, "tags", tags)))
        return nomem(x);
    return 0;
}

/* The task definition the request names: a revision, or the family's latest ACTIVE one. */
static int find_task_def(ctx_t *x, json_t **out)
{
    char key[KEY_MAX];
    *out = NULL;
    int rc;
    if (x->r->revision) {
        td_key(x->r->family, x->r->revision, key);
        rc = rec_get(x, key, out);
    } else {
        json_t *items;
        snprintf(key, sizeof(key), "d/%s/", x->r->family);
        if ((rc = rec_scan(x, key, &items)))
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
    if (rc == 1)
        return CLIENT("Unable to describe task definition: %s%s%lld does not exist", x->r->family, x->r->revision ? ":" : "",
                      x->r->revision);
    return rc;
}

static int describe_task_def(ctx_t *x, json_t **out)
{
    json_t *td, *tags = NULL;
    int rc = find_task_def(x, &td);
    if (rc)
        return rc;
    if (sched_ecs_includes(x->r->body, "TAGS") && (rc = sched_ecs_tags_get(x->rs, jstr(td, "taskDefinitionArn"), &tags, x->err))) {
        json_decref(td);
        return rc;
    }
    if (!(*out = json_pack("{s:o,s:o}", "taskDefinition", td, "tags", tags ? tags : json_array())))
        return nomem(x);
    return 0;
}

static int deregister_task_def(ctx_t *x, json_t **out)
{
    json_t *td;
    int rc = find_task_def(x, &td);
    if (rc)
        return rc;
    char key[KEY_MAX];
    td_key(x->r->family, x->r->revision, key);
    if (strcmp(jstr(td, "status"), "ACTIVE") == 0) {
        json_object_set_new(td, "status", json_string("INACTIVE"));
        json_object_set_new(td, "deregisteredAt", json_integer(x->env->now));
        if ((rc = rec_put(x, key, td, false))) {
            json_decref(td);
            return rc;
        }
    }
    if (!(*out = json_pack("{s:o}", "taskDefinition", td)))
        return nomem(x);
    return 0;
}

static int list_task_defs(ctx_t *x, json_t **out, bool families)
{
    json_t *items, *all = json_array(), *seen = json_object();
    int rc = all && seen ? rec_scan(x, "d/", &items) : nomem(x);
    if (rc) {
        json_decref(all);
        json_decref(seen);
        return rc;
    }
    const char *prefix = body_str(x, "familyPrefix");
    const char *status = body_str(x, "status");
    if (!status)
        status = "ACTIVE";
    bool desc = body_str(x, "sort") && strcmp(body_str(x, "sort"), "DESC") == 0;
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p)
    {
        const json_t *td = PAIR_VALUE(p);
        const char *fam = jstr(td, "family");
        if (prefix && strncmp(fam, prefix, strlen(prefix)) != 0)
            continue;
        if (strcmp(status, "ALL") != 0 && strcmp(status, jstr(td, "status")) != 0)
            continue;
        if (families) {
            if (json_object_get(seen, fam))
                continue;
            if (json_object_set_new(seen, fam, json_true()) || json_array_append_new(all, json_string(fam))) {
                rc = nomem(x);
                break;
            }
        } else if (desc ? json_array_insert_new(all, 0, json_string(jstr(td, "taskDefinitionArn")))
                        : json_array_append_new(all, json_string(jstr(td, "taskDefinitionArn")))) {
            rc = nomem(x);
            break;
        }
    }
    json_decref(items);
    json_decref(seen);
    if (!rc)
        rc = page_reply(x, all, families ? "families" : "taskDefinitionArns", out);
    json_decref(all);
    return rc;
}

/* ------------------------------------------------------------- placement */

/* What placement needs of a task definition: its reservation and port mappings. */
typedef struct {
    sched_task_def_t td;
    sched_binding_t *ports;
    sched_constraint_t *constraints;
    size_t nconstraints;
} placing_t;

static void placing_free(placing_t *pl)
{
    free(pl->ports);
    free(pl->constraints);
}

static int placing_of(ctx_t *x, const json_t *td, const json_t *req_constraints, placing_t *pl)
{
    memset(pl, 0, sizeof(*pl));
    json_t *defs = json_object_get(td, "containerDefinitions");
    long long cpu = 0, mem = 0;
    size_t nports = 0, i;
    json_t *c;
    json_array_foreach(defs, i, c) nports += json_array_size(json_object_get(c, "portMappings"));
    size_t ntc = json_array_size(json_object_get(td, "placementConstraints")), nrc = json_array_size(req_constraints);
    pl->ports = calloc(nports ? nports : 1, sizeof(*pl->ports));
    pl->constraints = calloc(ntc + nrc ? ntc + nrc : 1, sizeof(*pl->constraints));
    if (!pl->ports || !pl->constraints)
        return nomem(x);
    json_array_foreach(defs, i, c)
    {
        cpu += jint(c, "cpu");
        json_t *res = json_object_get(c, "memoryReservation");
        mem += res ? json_integer_value(res) : jint(c, "memory");
        size_t m;
        json_t *pm;
        json_array_foreach(json_object_get(c, "portMappings"), m, pm)
        {
            pl->ports[pl->td.nports++] = (sched_binding_t){
                .container_name = jstr(c, "name"),
                .container_port = (uint16_t)jint(pm, "containerPort"),
                .host_port = (uint16_t)jint(pm, "hostPort"),
                .protocol = strcmp(jstr(pm, "protocol"), "udp") == 0 ? SCHED_PROTO_UDP : SCHED_PROTO_TCP,
            };
        }
    }
    /* task-level sizes, when given, are the reservation */
    const char *tcpu = json_string_value(json_object_get(td, "cpu")), *tmem = json_string_value(json_object_get(td, "memory"));
    if (tcpu)
        cpu = strtoll(tcpu, NULL, 10);
    if (tmem)
        mem = strtoll(tmem, NULL, 10);
    pl->td.family = jstr(td, "family");
    pl->td.cpu = cpu;
    pl->td.memory = mem;
    pl->td.ports = pl->ports;
    json_t *pc;
    json_array_foreach(json_object_get(td, "placementConstraints"), i, pc)
    {
        pl->constraints[pl->nconstraints++] = (sched_constraint_t){SCHED_CONSTRAINT_MEMBER_OF, jstr(pc, "expression")};
    }
    json_array_foreach(req_constraints, i, pc)
    {
        bool distinct = strcmp(jstr(pc, "type"), "distinctInstance") == 0;
        pl->constraints[pl->nconstraints++] = (sched_constraint_t){
            distinct ? SCHED_CONSTRAINT_DISTINCT_INSTANCE : SCHED_CONSTRAINT_MEMBER_OF, distinct ? NULL : jstr(pc, "expression")};
    }
    return 0;
}

/* Records one placed task on instance record `in` (its claims subtracted) and returns the task. */
static int record_task(ctx_t *x, const json_t *td, const placing_t *pl, const char *group, json_t *in,
                       const sched_placed_task_t *placed, json_t **task_out)
{
    char id[SCHED_ECS_ID_LEN + 1], tarn[SCHED_ECS_ARN_MAX], carn[SCHED_ECS_ARN_MAX], iarn[SCHED_ECS_ARN_MAX], key[KEY_MAX];
    new_id(x, id);
    task_arn(x, x->r->cluster, id, tarn);
    cluster_arn(x, x->r->cluster, carn);
    instance_arn(x, x->r->cluster, jstr(in, "id"), iarn);
    json_t *claims = json_array(), *containers = json_array();
    char cpu_s[24], mem_s[24];
    snprintf(cpu_s, sizeof(cpu_s), "%lld", (long long)pl->td.cpu);
    snprintf(mem_s, sizeof(mem_s), "%lld", (long long)pl->td.memory);
    json_t *overrides = json_object_get(x->r->body, "overrides");
    json_t *t = NULL;
    int rc = 0;
    if (!claims || !containers)
        goto oom;
    size_t i;
    json_t *c;
    size_t port_index = 0;
    json_array_foreach(json_object_get(td, "containerDefinitions"), i, c)
    {
        json_t *bindings = json_array();
        size_t m;
        json_t *pm;
        if (!bindings)
            goto oom;
        json_array_foreach(json_object_get(c, "portMappings"), m, pm)
        {
            const sched_binding_t *b = &placed->bindings[port_index++];
            const char *proto = b->protocol == SCHED_PROTO_UDP ? "udp" : "tcp";
            if (json_array_append_new(bindings,
                                      json_pack("{s:s,s:i,s:i,s:s}", "bindIP", "0.0.0.0", "containerPort", (int)b->container_port,
                                                "hostPort", (int)b->host_port, "protocol", proto)) ||
                json_array_append_new(claims, json_pack("{s:i,s:s}", "port", (int)b->host_port, "protocol", proto))) {
                json_decref(bindings);
                goto oom;
            }
            json_t *used = json_object_get(in, b->protocol == SCHED_PROTO_UDP ? "usedUdp" : "usedTcp");
            if (json_array_append_new(used, json_integer(b->host_port))) {
                json_decref(bindings);
                goto oom;
            }
        }
        char name_arn[SCHED_ECS_ARN_MAX + 300];
        snprintf(name_arn, sizeof(name_arn), "arn:aws:ecs:%s:%s:container/%s/%s/%s", x->env->region, x->env->account, x->r->cluster,
                 id, jstr(c, "name"));
        json_t *e =
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:s}", "containerArn", name_arn, "taskArn", tarn, "name", jstr(c, "name"), "image",
                      jstr(c, "image"), "lastStatus", "PENDING", "networkBindings", bindings, "healthStatus", "UNKNOWN");
        if (!e || json_array_append_new(containers, e))
            goto oom;
        char num[24];
        snprintf(num, sizeof(num), "%lld", jint(c, "cpu"));
        json_object_set_new(e, "cpu", json_string(num));
        if (json_object_get(c, "memory")) {
            snprintf(num, sizeof(num), "%lld", jint(c, "memory"));
            json_object_set_new(e, "memory", json_string(num));
        }
        if (json_object_get(c, "memoryReservation")) {
            snprintf(num, sizeof(num), "%lld", jint(c, "memoryReservation"));
            json_object_set_new(e, "memoryReservation", json_string(num));
        }
    }
    t = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:o,s:o,s:s,s:I,s:I,s:o,s:[],s:s}", "id", id,
                  "instanceId", jstr(in, "id"), "taskArn", tarn, "clusterArn", carn, "taskDefinitionArn",
                  jstr(td, "taskDefinitionArn"), "family", jstr(td, "family"), "revision", (json_int_t)jint(td, "revision"),
                  "containerInstanceArn", iarn, "group", group, "lastStatus", "PENDING", "desiredStatus", "RUNNING", "cpu", cpu_s,
                  "cpuClaim", (json_int_t)pl->td.cpu, "memClaim", (json_int_t)pl->td.memory, "claims", claims, "overrides",
                  overrides ? json_incref(overrides) : json_pack("{s:[]}", "containerOverrides"), "memory", mem_s, "createdAt",
                  (json_int_t)x->env->now, "version", (json_int_t)1, "containers", containers, "attachments", "launchType", "EC2");
    claims = containers = NULL;
    if (!t)
        goto oom;
    const char *started_by = body_str(x, "startedBy");
    if (started_by && json_object_set_new(t, "startedBy", json_string(started_by)))
        goto oom;
    json_object_set_new(in, "remCpu", json_integer(jint(in, "remCpu") - pl->td.cpu));
    json_object_set_new(in, "remMemory", json_integer(jint(in, "remMemory") - pl->td.memory));
    if ((rc = add_group_count(x, in, group, 1))) {
        json_decref(t);
        return rc;
    }
    snprintf(key, sizeof(key), "t/%s/%s", x->r->cluster, id);
    if ((rc = rec_put(x, key, t, true)) != 0) {
        if (rc == 1) {
            sched_ecs_err(x->err, "ServerException", 500, "cluster state: task id %s is taken (the caller reused a seed)", id);
            rc = SCHED_EIO;
        }
        json_decref(t);
        return rc;
    }
    *task_out = t;
    return 0;
oom:
    json_decref(claims);
    json_decref(containers);
    json_decref(t);
    return nomem(x);
}

/* The cluster's token (g/<cluster>) into tok ("" when it has none yet). */
static int read_token(ctx_t *x, char tok[24])
{
    char key[KEY_MAX];
    json_t *g;
    snprintf(key, sizeof(key), "g/%s", x->r->cluster);
    int rc = rec_get(x, key, &g);
    tok[0] = '\0';
    if (rc == 0)
        snprintf(tok, 24, "%s", jstr(g, "token"));
    json_decref(g);
    return rc < 0 ? rc : 0;
}

/* Writes a fresh token for the request's cluster: every change of its instances or tasks does. */
static int bump_token(ctx_t *x, char tok[24])
{
    char key[KEY_MAX];
    snprintf(tok, 24, "%016llx", (unsigned long long)sched_rng_next(&x->rng));
    snprintf(key, sizeof(key), "g/%s", x->r->cluster);
    json_t *g = json_pack("{s:s}", "token", tok);
    if (!g)
        return nomem(x);
    int rc = rec_put(x, key, g, false);
    json_decref(g);
    return rc;
}

/* The request's cluster from env->cache when its token is the stored one, else
 * loaded into the cache; agentConnected is brought to env->now either way. */
static int cached_live(ctx_t *x, live_t **out)
{
    sched_ecs_cache_t *c = x->env->cache;
    char tok[24];
    int rc = read_token(x, tok);
    if (rc)
        return rc;
    if (!c->token[0] || !tok[0] || strcmp(c->cluster, x->r->cluster) != 0 || strcmp(c->token, tok) != 0) {
        live_free(&c->l);
        c->token[0] = '\0';
        if ((rc = live_load(x, NULL, &c->l)))
            return rc;
        snprintf(c->cluster, sizeof(c->cluster), "%s", x->r->cluster);
        snprintf(c->token, sizeof(c->token), "%s", tok);
        c->loads++;
    } else {
        c->hits++;
        size_t skip = strlen("i/") + strlen(x->r->cluster) + 1; /* a key is i/<cluster>/<id> */
        for (size_t i = 0; i < sched_cluster_instance_count(c->l.c); i++) {
            /* the later of the stored heartbeat and the in-memory one counts, and
             * the stored one only moves forward (sched_ecs_record_heartbeat; a
             * re-registration is a change that reloads the cache): one recent
             * enough at load decides without asking env->last_seen */
            if (x->env->now - c->l.heartbeat[i] <= x->env->agent_timeout) {
                c->l.c->inst[i].agent_connected = true;
                continue;
            }
            const char *key = json_string_value(json_array_get(c->l.keys, i));
            int64_t hb = heartbeat_of(x, key && strlen(key) > skip ? key + skip : "", c->l.heartbeat[i]);
            c->l.c->inst[i].agent_connected = x->env->now - hb <= x->env->agent_timeout;
        }
    }
    *out = &c->l;
    return 0;
}

/* binpack(image): the bytes of the task definition's images (each blob once)
 * and, per engine index, how many of them the instance's agent holds. Left
 * at zero (a tie) when the caller gave no image hooks or an image is not in
 * the registry: locality is a preference, never a reason to refuse. */
static int image_holdings(ctx_t *x, const json_t *td, const live_t *l, int64_t *total, int64_t **held)
{
    const sched_ecs_env_t *env = x->env;
    size_t n = sched_cluster_instance_count(l->c);
    *total = 0;
    *held = calloc(n ? n : 1, sizeof(**held));
    if (!*held)
        return nomem(x);
    if (!env->image_layers || !env->layer_held)
        return 0;
    json_t *blobs = json_object(); /* digest -> size, each blob once */
    if (!blobs)
        return nomem(x);
    size_t i;
    json_t *c;
    int rc = 0;
    json_array_foreach(json_object_get(td, "containerDefinitions"), i, c)
    {
        json_t *layers = NULL;
        int r = env->image_layers(env->image_ctx, jstr(c, "image"), &layers);
        size_t k;
        json_t *b;
        json_array_foreach(r == 0 ? layers : NULL, k, b)
        {
            const char *d = jstr(b, "digest");
            if (*d && json_object_set_new(blobs, d, json_integer(jint(b, "size"))))
                rc = nomem(x);
        }
        json_decref(layers);
        if (r == SCHED_ENOMEM)
            rc = nomem(x);
        if (rc)
            break;
    }
    size_t skip = strlen("i/") + strlen(x->r->cluster) + 1; /* a key is i/<cluster>/<id> */
    const char *d;
    json_t *sz;
    json_object_foreach(blobs, d, sz) *total += json_integer_value(sz);
    for (size_t j = 0; !rc && *total > 0 && j < n; j++) {
        const char *key = json_string_value(json_array_get(l->keys, j));
        if (!key || strlen(key) <= skip)
            continue;
        json_object_foreach(blobs, d, sz)
        {
            if (env->layer_held(env->image_ctx, x->r->cluster, key + skip, d))
                (*held)[j] += json_integer_value(sz);
        }
    }
    json_decref(blobs);
    return rc;
}

static bool wants_image(const sched_strategy_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].type == SCHED_STRATEGY_BINPACK && s[i].field && strcmp(s[i].field, "image") == 0)
            return true;
    return false;
}

/* One placement: `count` tasks on the cluster's instances (only: those ids),
 * recorded with their claims; the changed instance records are written. */
static int place_round(ctx_t *x, const json_t *td, const json_t *only, const char *group, const json_t *req_constraints,
                       size_t count, json_t *tasks, json_t *failures)
{
    live_t own, *lp = &own;
    placing_t pl;
    int rc = only || !x->env->cache ? live_load(x, only, &own) : cached_live(x, &lp);
    if (rc)
        return rc;
    live_t l = *lp; /* a view: the cache keeps its own */
    size_t n = sched_cluster_instance_count(l.c);
    json_t **recs = NULL; /* the records of the instances that got a task, by engine index */
    int64_t *held = NULL, image_total = 0;
    if ((rc = placing_of(x, td, req_constraints, &pl)))
        goto done;
    if (only && n == 0) {
        char arn[SCHED_ECS_ARN_MAX];
        instance_arn(x, x->r->cluster, json_string_value(json_array_get(only, 0)), arn);
        rc = json_array_append_new(failures, json_pack("{s:s,s:s}", "arn", arn, "reason", "MISSING")) ? nomem(x) : 0;
        goto done;
    }
    sched_strategy_t strategies[SCHED_MAX_STRATEGIES];
    size_t nstrategies = 0, i;
    json_t *s;
    json_array_foreach(only ? NULL : json_object_get(x->r->body, "placementStrategy"), i, s)
    {
        const char *type = jstr(s, "type");
        strategies[nstrategies++] = (sched_strategy_t){strcmp(type, "binpack") == 0  ? SCHED_STRATEGY_BINPACK
                                                       : strcmp(type, "spread") == 0 ? SCHED_STRATEGY_SPREAD
                                                                                     : SCHED_STRATEGY_RANDOM,
                                                       json_string_value(json_object_get(s, "field"))};
    }
    sched_placement_request_t req = {
        .task_def = &pl.td,
        .group = group,
        .count = count,
        .strategies = strategies,
        .nstrategies = nstrategies,
        .constraints = pl.constraints,
        .nconstraints = pl.nconstraints,
        .seed = sched_rng_next(&x->rng),
    };
    if (wants_image(strategies, nstrategies)) {
        if ((rc = image_holdings(x, td, &l, &image_total, &held)))
            goto done;
        req.image_bytes = image_total;
        req.image_held = held;
    }
    sched_placement_t pr;
    sched_err_t e = {0};
    sched_status_t st = sched_place(l.c, &req, &pr, &e);
    if (st != SCHED_OK) {
        rc = st == SCHED_ENOMEM ? nomem(x) : BAD("placementStrategy/placementConstraints: %s", e.msg);
        goto done;
    }
    /* the engine applied the claims to the cache's model: from here it holds them
     * exactly when this transaction's writes below land */
    x->cache_changed = lp != &own;
    if (!(recs = calloc(n + 1, sizeof(*recs))))
        rc = nomem(x);
    for (size_t k = 0; k < pr.ntasks && !rc; k++) {
        size_t idx = pr.tasks[k].instance;
        if (!recs[idx] && (rc = rec_get(x, json_string_value(json_array_get(l.keys, idx)), &recs[idx])) != 0) {
            if (rc == 1) {
                sched_ecs_err(x->err, "ServerException", 500, "cluster state: instance %s vanished", sched_instance_arn(l.c, idx));
                rc = SCHED_EIO;
            }
            break;
        }
        json_t *t = NULL; /* set by record_task when it succeeds (gcc -Os cannot see it) */
        if ((rc = record_task(x, td, &pl, group, recs[idx], &pr.tasks[k], &t)))
            break;
        json_t *o = task_json(t);
        json_decref(t);
        if (!o || json_array_append_new(tasks, o))
            rc = nomem(x);
    }
    for (size_t k = 0; k < pr.nfailures && !rc && pr.nunplaced; k++) {
        char arn[SCHED_ECS_ARN_MAX];
        if (pr.failures[k].instance == SCHED_NO_INSTANCE)
            cluster_arn(x, x->r->cluster, arn);
        else
            snprintf(arn, sizeof(arn), "%s", sched_instance_arn(l.c, pr.failures[k].instance));
        if (json_array_append_new(failures, json_pack("{s:s,s:s,s:s?}", "arn", arn, "reason", pr.failures[k].reason, "detail",
                                                      pr.failures[k].detail)))
            rc = nomem(x);
    }
    sched_placement_free(&pr);
    for (size_t k = 0; k < n && !rc; k++) {
        if (!recs[k])
            continue;
        if (json_object_set_new(recs[k], "version", json_integer(jint(recs[k], "version") + 1)))
            rc = nomem(x);
        else
            rc = rec_put(x, json_string_value(json_array_get(l.keys, k)), recs[k], false);
    }
done:
    for (size_t k = 0; recs && k < n; k++)
        json_decref(recs[k]);
    free(recs);
    free(held);
    placing_free(&pl);
    if (lp == &own)
        live_free(&own);
    return rc;
}

static int get_task(ctx_t *x, const char *ref, char *key, json_t **out)
{
    char id[SCHED_ECS_ID_LEN + 1];
    *out = NULL;
    if (!sched_ecs_parse_ref(ref, "task", id))
        return 1;
    snprintf(key, KEY_MAX, "t/%s/%s", x->r->cluster, id);
    return rec_get(x, key, out);
}

/* RunTask's clientToken, ECS's idempotency (per cluster, 24 hours; the AWS
 * SDKs send one with every RunTask and keep it across their retries): the
 * record k/<cluster>/<token> holds a fingerprint of the request and what it
 * answered, written in the transaction that placed the tasks. The same token
 * and request again answer those tasks (as they are now) and failures without
 * placing anything; another request under the token is a ConflictException. */
#define RUN_TOKEN_KEY_MAX (4 + SCHED_ECS_NAME_MAX + SCHED_ECS_CLIENT_TOKEN_MAX + 1)

/* SHA-256 (hex) of the request without its clientToken, keys sorted: what "the same parameters" means */
static int run_fingerprint(ctx_t *x, char hex[65])
{
    json_t *copy = json_copy((json_t *)x->r->body);
    char *text = NULL;
    if (!copy || json_object_del(copy, "clientToken") != 0 || !(text = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT))) {
        json_decref(copy);
        return nomem(x);
    }
    json_decref(copy);
    unsigned char d[32];
    unsigned int dl = 0;
    int ok = EVP_Digest(text, strlen(text), d, &dl, EVP_sha256(), NULL);
    free(text);
    if (ok != 1 || dl != sizeof(d))
        return nomem(x);
    for (size_t i = 0; i < sizeof(d); i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return 0;
}

/* A token's record: the earlier answer again (0, *out set), a conflict, or 1 when there is none in force. */
static int run_token_replay(ctx_t *x, const char *key, const char *fp, json_t **out)
{
    json_t *prev;
    int rc = rec_get(x, key, &prev);
    if (rc)
        return rc;
    json_t *at = json_object_get(prev, "at");
    if (!json_is_integer(at) || x->env->now - json_integer_value(at) >= SCHED_ECS_RUN_TOKEN_TTL) {
        json_decref(prev); /* expired: the token may be used again (the sweep deletes the record) */
        return 1;
    }
    const json_t *arns = json_object_get(prev, "tasks");
    if (strcmp(jstr(prev, "fingerprint"), fp) != 0) {
        char *list = json_dumps(arns, JSON_COMPACT);
        rc = (sched_ecs_err(x->err, "ConflictException", 400,
                            "clientToken: the token is already in use with a different RunTask request in this cluster "
                            "(its tasks: %.2000s); use a new token for a new request",
                            list ? list : "[]"),
              SCHED_EINVAL);
        free(list);
        json_decref(prev);
        return rc;
    }
    json_t *tasks = json_array();
    size_t i;
    json_t *arn;
    json_array_foreach(arns, i, arn)
    {
        char tkey[KEY_MAX];
        json_t *t;
        if (!tasks || (rc = get_task(x, json_string_value(arn), tkey, &t)) < 0)
            break;
        rc = 0;
        if (!t)
            continue; /* deleted since (STOPPED past its retention) */
        json_t *o = task_json(t);
        json_decref(t);
        if (!o || json_array_append_new(tasks, o)) {
            rc = nomem(x);
            break;
        }
    }
    if (!rc && (!tasks || !(*out = json_pack("{s:o,s:O}", "tasks", tasks, "failures", json_object_get(prev, "failures")))))
        rc = nomem(x);
    else if (rc)
        json_decref(tasks);
    json_decref(prev);
    return rc;
}

/* The record of a RunTask under a token: its fingerprint, the time, the ARNs of the tasks it placed, its failures. */
static int run_token_record(ctx_t *x, const char *key, const char *fp, const json_t *tasks, const json_t *failures)
{
    json_t *arns = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        if (!arns || json_array_append_new(arns, json_string(jstr(t, "taskArn")))) {
            json_decref(arns);
            return nomem(x);
        }
    }
    json_t *rec =
        arns ? json_pack("{s:s,s:I,s:o,s:O}", "fingerprint", fp, "at", (json_int_t)x->env->now, "tasks", arns, "failures", failures)
             : NULL;
    if (!rec)
        return nomem(x);
    int rc = rec_put(x, key, rec, false);
    json_decref(rec);
    return rc;
}

/* RunTask (placed by the engine) and StartTask (one task on each named instance, in order). */
static int place(ctx_t *x, json_t **out)
{
    int rc = need_cluster(x, x->r->cluster);
    if (rc)
        return rc;
    const char *token = x->r->op == ECS_RUN_TASK ? body_str(x, "clientToken") : NULL;
    char token_key[RUN_TOKEN_KEY_MAX], fp[65] = "";
    if (token) {
        snprintf(token_key, sizeof(token_key), "k/%s/%s", x->r->cluster, token);
        if ((rc = run_fingerprint(x, fp)) || (rc = run_token_replay(x, token_key, fp, out)) <= 0)
            return rc;
    }
    json_t *td;
    if ((rc = find_task_def(x, &td)))
        return rc;
    if (strcmp(jstr(td, "status"), "ACTIVE") != 0) {
        rc = CLIENT("TaskDefinition is inactive: %s", jstr(td, "taskDefinitionArn"));
        json_decref(td);
        return rc;
    }
    /* the caller passes the task definition's roles to the tasks it starts, as in ECS */
    if (!x->r->internal && (rc = check_roles(x, td))) {
        json_decref(td);
        return rc;
    }
    const json_t *b = x->r->body;
    size_t oi;
    json_t *ov;
    json_array_foreach(json_object_get(json_object_get(b, "overrides"), "containerOverrides"), oi, ov)
    {
        bool known = false;
        size_t k;
        json_t *c;
        json_array_foreach(json_object_get(td, "containerDefinitions"), k, c) known |=
            strcmp(jstr(c, "name"), jstr(ov, "name")) == 0;
        if (!known) {
            rc = BAD("overrides.containerOverrides[%zu].name: %s has no container '%s'", oi, jstr(td, "taskDefinitionArn"),
                     jstr(ov, "name"));
            json_decref(td);
            return rc;
        }
    }
    char group[300];
    const char *g = body_str(x, "group");
    snprintf(group, sizeof(group), "%s%s", g ? "" : "family:", g ? g : jstr(td, "family"));
    json_t *tasks = json_array(), *failures = json_array();
    if (!tasks || !failures) {
        rc = nomem(x);
    } else if (x->r->op == ECS_RUN_TASK) {
        json_t *count = json_object_get(b, "count");
        rc = place_round(x, td, NULL, group, json_object_get(b, "placementConstraints"),
                         count ? (size_t)json_integer_value(count) : 1, tasks, failures);
    } else {
        size_t i;
        json_t *ref;
        json_array_foreach(json_object_get(b, "containerInstances"), i, ref)
        {
            char id[SCHED_ECS_ID_LEN + 1];
            sched_ecs_parse_ref(json_string_value(ref), "container-instance", id);
            json_t *only = json_pack("[s]", id);
            rc = only ? place_round(x, td, only, group, NULL, 1, tasks, failures) : nomem(x);
            json_decref(only);
            if (rc)
                break;
        }
    }
    size_t ti;
    json_t *tj;
    json_array_foreach(tasks, ti, tj)
    {
        if (rc || (rc = tags_from_request(x, jstr(tj, "taskArn"))))
            break;
    }
    if (!rc && token)
        rc = run_token_record(x, token_key, fp, tasks, failures);
    if (!rc && !(*out = json_pack("{s:O,s:O}", "tasks", tasks, "failures", failures)))
        rc = nomem(x);
    json_decref(tasks);
    json_decref(failures);
    json_decref(td);
    return rc;
}

static int stop_task(ctx_t *x, json_t **out)
{
    int rc = need_cluster(x, x->r->cluster);
    if (rc)
        return rc;
    char key[KEY_MAX];
    json_t *t;
    if ((rc = get_task(x, body_str(x, "task"), key, &t)) < 0)
        return rc;
    if (rc == 1)
        return BAD("task: The referenced task was not found: %s", body_str(x, "task"));
    if (strcmp(jstr(t, "desiredStatus"), "STOPPED") != 0) {
        const char *reason = body_str(x, "reason");
        if ((rc = stop_task_record(x, t, reason ? reason : "Task stopped by user")) || (rc = rec_put(x, key, t, false))) {
            json_decref(t);
            return rc;
        }
    }
    json_t *o = task_json(t);
    json_decref(t);
    if (!o || !(*out = json_pack("{s:o}", "task", o)))
        return nomem(x);
    return 0;
}

static int describe_tasks(ctx_t *x, json_t **out)
{
    int rc = need_cluster(x, x->r->cluster);
    if (rc)
        return rc;
    json_t *list = json_array(), *failures = json_array();
    bool with_tags = sched_ecs_includes(x->r->body, "TAGS");
    if (!list || !failures)
        goto oom;
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(x->r->body, "tasks"), i, ref)
    {
        char key[KEY_MAX];
        json_t *t;
        if ((rc = get_task(x, json_string_value(ref), key, &t)) < 0)
            goto fail;
        json_t *e = rc == 1 ? json_pack("{s:s,s:s}", "arn", json_string_value(ref), "reason", "MISSING") : task_json(t);
        bool missing = rc == 1;
        json_decref(t);
        rc = 0;
        json_t *tags;
        if (e && !missing && with_tags) {
            if ((rc = sched_ecs_tags_get(x->rs, jstr(e, "taskArn"), &tags, x->err))) {
                json_decref(e);
                goto fail;
            }
            json_object_set_new(e, "tags", tags);
        }
        if (!e || json_array_append_new(missing ? failures : list, e))
            goto oom;
    }
    if (!(*out = json_pack("{s:o,s:o}", "tasks", list, "failures", failures)))
        return nomem(x);
    return 0;
oom:
    rc = nomem(x);
fail:
    json_decref(list);
    json_decref(failures);
    return rc;
}

static int list_tasks(ctx_t *x, json_t **out)
{
    int rc = need_cluster(x, x->r->cluster);
    if (rc)
        return rc;
    char prefix[KEY_MAX], inst[SCHED_ECS_ID_LEN + 1] = "";
    const char *iref = body_str(x, "containerInstance");
    if (iref)
        sched_ecs_parse_ref(iref, "container-instance", inst);
    const char *family = body_str(x, "family"), *started_by = body_str(x, "startedBy"), *service = body_str(x, "serviceName");
    const char *desired = body_str(x, "desiredStatus");
    if (!desired)
        desired = "RUNNING";
    json_t *items, *arns = json_array();
    snprintf(prefix, sizeof(prefix), "t/%s/", x->r->cluster);
    if (!arns || (rc = rec_scan(x, prefix, &items))) {
        json_decref(arns);
        return rc ? rc : nomem(x);
    }
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p)
    {
        const json_t *t = PAIR_VALUE(p);
        if (*inst && strcmp(inst, jstr(t, "instanceId")) != 0)
            continue;
        if (family && strcmp(family, jstr(t, "family")) != 0)
            continue;
        if (started_by && strcmp(started_by, jstr(t, "startedBy")) != 0)
            continue;
        if (service && (strncmp(jstr(t, "group"), "service:", 8) != 0 || strcmp(jstr(t, "group") + 8, service) != 0))
            continue;
        /* desiredStatus PENDING lists nothing in ECS either: a task's desired status is RUNNING or STOPPED */
        if (strcmp(desired, jstr(t, "desiredStatus")) != 0)
            continue;
        if (json_array_append_new(arns, json_string(jstr(t, "taskArn")))) {
            rc = nomem(x);
            break;
        }
    }
    json_decref(items);
    if (!rc)
        rc = page_reply(x, arns, "taskArns", out);
    json_decref(arns);
    return rc;
}

/* ------------------------------------------------------------------ tags */

/* TagResource, UntagResource, ListTagsForResource: on a resource that exists (its cluster first, as ECS answers) */
static int tag_ops(ctx_t *x, json_t **out)
{
    int rc = x->r->tag_record[0] == 'd' ? 0 : need_cluster(x, x->r->cluster);
    json_t *rec;
    if (rc || (rc = rec_get(x, x->r->tag_record, &rec)) < 0)
        return rc;
    json_decref(rec);
    if (rc == 1)
        return BAD("resourceArn: %s does not exist", x->r->tag_arn);
    const json_t *b = x->r->body;
    if (x->r->op == ECS_LIST_TAGS) {
        json_t *tags;
        if ((rc = sched_ecs_tags_get(x->rs, x->r->tag_arn, &tags, x->err)))
            return rc;
        return (*out = json_pack("{s:o}", "tags", tags)) ? 0 : nomem(x);
    }
    if ((rc = sched_ecs_tags_apply(x->rs, x->r->tag_arn, json_object_get(b, "tags"), json_object_get(b, "tagKeys"), x->err)))
        return rc;
    return (*out = json_object()) ? 0 : nomem(x);
}

/* --------------------------------------------------------------- dispatch */

static int dispatch(ctx_t *x, json_t **out);

/* Operations that change a cluster's instances or tasks: each writes a new token. */
static bool changes_cluster(sched_ecs_op_t op)
{
    switch (op) {
    case ECS_REGISTER_INSTANCE:
    case ECS_DEREGISTER_INSTANCE:
    case ECS_UPDATE_INSTANCES_STATE:
    case ECS_PUT_ATTRIBUTES:
    case ECS_DELETE_ATTRIBUTES:
    case ECS_RUN_TASK:
    case ECS_START_TASK:
    case ECS_STOP_TASK:
        return true;
    default:
        return false;
    }
}

int sched_ecs_execute(struct storage_records *rs, const sched_ecs_request_t *r, const sched_ecs_env_t *env, json_t **out,
                      sched_ecs_err_t *err)
{
    ctx_t x = {.rs = rs, .r = r, .env = env, .err = err};
    sched_rng_seed(&x.rng, env->seed);
    *out = NULL;
    int rc = dispatch(&x, out);
    /* a change of the cluster's tasks or instances is followed, in the same
     * transaction, by its services' step (ecs_service_state.c) */
    if (rc == 0 && !r->internal && sched_ecs_op_affects_services(r->op))
        rc = sched_ecs_services_reconcile(rs, r->cluster, env, err);
    char tok[24] = "";
    if (rc == 0 && (changes_cluster(r->op) || x.changed))
        rc = bump_token(&x, tok);
    sched_ecs_cache_t *c = env->cache;
    if (c && strcmp(c->cluster, r->cluster) == 0) {
        /* the cache follows this transaction only if it placed on the cache and all went well */
        if (rc == 0 && x.cache_changed)
            snprintf(c->token, sizeof(c->token), "%s", tok);
        else if (rc != 0 || changes_cluster(r->op) || x.changed)
            c->token[0] = '\0';
    }
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

static int dispatch(ctx_t *x, json_t **out)
{
    switch (x->r->op) {
    case ECS_CREATE_CLUSTER:
        return create_cluster(x, out);
    case ECS_DESCRIBE_CLUSTERS:
        return describe_clusters(x, out);
    case ECS_LIST_CLUSTERS:
        return list_clusters(x, out);
    case ECS_DELETE_CLUSTER:
        return delete_cluster(x, out);
    case ECS_REGISTER_INSTANCE:
        return register_instance(x, out);
    case ECS_DEREGISTER_INSTANCE:
        return deregister_instance(x, out);
    case ECS_LIST_INSTANCES:
        return list_instances(x, out);
    case ECS_DESCRIBE_INSTANCES:
        return describe_instances(x, out);
    case ECS_UPDATE_INSTANCES_STATE:
        return update_instances_state(x, out);
    case ECS_PUT_ATTRIBUTES:
        return change_attributes(x, out, false);
    case ECS_DELETE_ATTRIBUTES:
        return change_attributes(x, out, true);
    case ECS_LIST_ATTRIBUTES:
        return list_attributes(x, out);
    case ECS_REGISTER_TASK_DEF:
        return register_task_def(x, out);
    case ECS_DESCRIBE_TASK_DEF:
        return describe_task_def(x, out);
    case ECS_LIST_TASK_DEFS:
        return list_task_defs(x, out, false);
    case ECS_LIST_TASK_DEF_FAMILIES:
        return list_task_defs(x, out, true);
    case ECS_DEREGISTER_TASK_DEF:
        return deregister_task_def(x, out);
    case ECS_RUN_TASK:
    case ECS_START_TASK:
        return place(x, out);
    case ECS_STOP_TASK:
        return stop_task(x, out);
    case ECS_LIST_TASKS:
        return list_tasks(x, out);
    case ECS_DESCRIBE_TASKS:
        return describe_tasks(x, out);
    case ECS_SUBMIT_TASK_STATE_CHANGE:
    case ECS_SUBMIT_CONTAINER_STATE_CHANGE:
    case ECS_POLL_WORK:
    case ECS_GET_TASK_CREDENTIALS:
        return sched_ecs_agent_execute(x, out);
    case ECS_CREATE_SERVICE:
    case ECS_UPDATE_SERVICE:
    case ECS_DELETE_SERVICE:
    case ECS_DESCRIBE_SERVICES:
    case ECS_LIST_SERVICES:
        return sched_ecs_service_execute(x->rs, x->r, x->env, out, x->err);
    case ECS_TAG_RESOURCE:
    case ECS_UNTAG_RESOURCE:
    case ECS_LIST_TAGS:
        return tag_ops(x, out);
    case ECS_OP_COUNT:
        break;
    }
    sched_ecs_err(x->err, "UnknownOperationException", 400, "unknown operation");
    return SCHED_EINVAL;
}

/* ------------------------------------------------ lent to ecs_agent.c */

const sched_ecs_request_t *sched_ecs_ctx_request(const sched_ecs_ctx_t *x)
{
    return x->r;
}

const sched_ecs_env_t *sched_ecs_ctx_env(const sched_ecs_ctx_t *x)
{
    return x->env;
}

sched_ecs_err_t *sched_ecs_ctx_err(sched_ecs_ctx_t *x)
{
    return x->err;
}

int sched_ecs_ctx_nomem(sched_ecs_ctx_t *x)
{
    return nomem(x);
}

int sched_ecs_ctx_need_cluster(sched_ecs_ctx_t *x)
{
    return need_cluster(x, x->r->cluster);
}

int sched_ecs_ctx_get(sched_ecs_ctx_t *x, const char *key, json_t **out)
{
    return rec_get(x, key, out);
}

int sched_ecs_ctx_put(sched_ecs_ctx_t *x, const char *key, const json_t *v)
{
    return rec_put(x, key, v, false);
}

int sched_ecs_ctx_scan(sched_ecs_ctx_t *x, const char *prefix, json_t **out)
{
    return rec_scan(x, prefix, out);
}

int sched_ecs_ctx_scan_holding(sched_ecs_ctx_t *x, const char *prefix, const char *needle, json_t **out)
{
    return sched_ecs_rec_scan(x->rs, prefix, needle, NULL, out, x->err);
}

int sched_ecs_ctx_release(sched_ecs_ctx_t *x, json_t *task)
{
    if (json_object_get(task, "released"))
        return 0;
    x->changed = true;
    return release_claims(x, task);
}
