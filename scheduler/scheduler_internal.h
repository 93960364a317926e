/*
 * scheduler/scheduler_internal.h — shared by the files of scheduler/ only.
 *
 * The data model:
 *
 *   sched_cluster ── inst[] (dense, insertion order; an index is an instance's identity)
 *                     ├─ strings: arn, ec2 id, agent version (owned copies)
 *                     ├─ remaining / registered CPU and memory
 *                     ├─ attrs[]           name → optional value
 *                     ├─ used[TCP|UDP]     sorted host ports taken (ECS's PORTS set)
 *                     └─ tasks[]           recorded tasks: group, family, cpu, memory, host ports
 *
 * A placement only ever appends tasks and claims resources, a scale-in only
 * removes them; nothing else changes an instance after it is added.
 */
#ifndef BERTH_SCHEDULER_INTERNAL_H
#define BERTH_SCHEDULER_INTERNAL_H

#include "scheduler/scheduler.h"

#include <stdarg.h>

/* ------------------------------------------------------------------ arena */

/* An arena owns every allocation of one result, so a result is freed in one
 * call and a failure half-way leaks nothing. */
sched_arena_t *sched_arena_new(void);
void sched_arena_free(sched_arena_t *a);
void *sched_arena_alloc(sched_arena_t *a, size_t size);
char *sched_arena_strdup(sched_arena_t *a, const char *s);
char *sched_arena_printf(sched_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* -------------------------------------------------------------------- rng */

/* xoshiro256** seeded through splitmix64: small, fast and the same on every
 * platform, which is what a reproducible simulation needs. */
typedef struct {
    uint64_t s[4];
} sched_rng_t;

void sched_rng_seed(sched_rng_t *r, uint64_t seed);
uint64_t sched_rng_next(sched_rng_t *r);
/* uniform in [0, 1) */
double sched_rng_unit(sched_rng_t *r);

/* ------------------------------------------------------------------ model */

typedef struct {
    uint16_t *ports; /* sorted, unique */
    size_t n, cap;
    size_t n_dynamic; /* how many of them fall in the dynamic range */
} sched_portset_t;

typedef struct {
    char *name;
    char *value; /* NULL: no value */
} sched_attr_t;

typedef struct {
    char *arn;
    char *family;
    char *group;
    int64_t cpu, memory;
    sched_binding_t *bindings; /* names owned */
    size_t nbindings;
} sched_task_t;

typedef struct {
    char *arn;
    char *ec2_id;
    char *agent_version;
    sched_instance_status_t status;
    bool agent_connected;
    int64_t registered_at;
    int64_t reg_cpu, reg_mem, rem_cpu, rem_mem;
    sched_attr_t *attrs;
    size_t nattrs;
    sched_portset_t used[2]; /* indexed by sched_proto_t */
    sched_task_t *tasks;
    size_t ntasks, tasks_cap;
    /* running tasks the caller reported but never described with add_task */
    size_t untracked_running;
} sched_instance_t;

/* What placement remembers of a cluster between requests (placement.c):
 * results that depend only on what an instance never changes once added
 * (its attributes, EC2 id, agent version and registration time). Instances
 * are only ever appended, so an entry made for instances [0, n) stays true
 * for them: a filter is extended to the instances added since, a bucket
 * table rebuilt. Nothing else can make an entry wrong; a changed instance is
 * a new cluster (the ECS cache loads one on every change it did not make). */
typedef struct {
    char *expr;     /* the memberOf expression, as written; NULL: free slot */
    uint8_t *match; /* instance -> 1 when it satisfies the expression */
    size_t n, cap;  /* instances evaluated, room in match */
    size_t *hits;   /* the matching instances, in order */
    size_t nhits;
    uint64_t used; /* the request that last used it (least recently used goes first) */
} sched_filter_memo_t;

typedef struct {
    char *attr;               /* spread(attribute:NAME)'s NAME; NULL: free slot */
    uint32_t *bucket;         /* instance -> bucket id */
    const char **bucket_name; /* bucket id -> the value ("" none, NULL: attribute absent); the instances' own strings */
    size_t nbuckets, n;       /* n: instances covered; rebuilt when the cluster has more */
    uint64_t used;
} sched_bucket_memo_t;

/* a request uses at most SCHED_MAX_CONSTRAINTS filters and SCHED_MAX_STRATEGIES
 * bucket tables, so an entry in use is never the one evicted */
#define SCHED_MEMO_FILTERS (SCHED_MAX_CONSTRAINTS + 4)
#define SCHED_MEMO_BUCKETS (SCHED_MAX_STRATEGIES + 4)

/* One request's per-instance work arrays, kept with the cluster and reused
 * (requests on a cluster never overlap): allocating and freeing ~80 kB
 * arrays per request of 10,000 instances made glibc consolidate its heap on
 * every free. Their contents mean nothing between requests. */
typedef struct {
    size_t cap; /* instances each array has room for */
    size_t *gcount, *cand, *base, *pass;
    double *key;
    uint8_t *reported;
} sched_scratch_t;

struct sched_cluster {
    sched_instance_t *inst;
    size_t n, cap;
    /* open-addressing ARN index: slot holds instance index + 1, 0 = empty */
    size_t *by_arn;
    size_t by_arn_cap; /* a power of two, kept at most half full */
    sched_filter_memo_t filters[SCHED_MEMO_FILTERS];
    sched_bucket_memo_t buckets[SCHED_MEMO_BUCKETS];
    uint64_t memo_clock; /* one tick per request */
    sched_scratch_t scratch;
};

/* frees the memo and the scratch arrays (sched_cluster_free) */
void sched_cluster_memo_release(sched_cluster_t *c);
/* True when the result depends only on what an instance never changes once
 * added: no task:group, runningTasksCount or agentConnected. */
bool sched_cql_is_static(const sched_cql_t *q);

void sched_err_set(sched_err_t *err, sched_status_t code, size_t position, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

bool sched_portset_has(const sched_portset_t *s, uint16_t port);
sched_status_t sched_portset_add(sched_portset_t *s, uint16_t port);
void sched_portset_remove(sched_portset_t *s, uint16_t port);
/* lowest free port in the dynamic range not in s and not in extra[0..nextra), or 0 */
uint16_t sched_portset_first_free_dynamic(const sched_portset_t *s, const uint16_t *extra, size_t nextra);

const sched_attr_t *sched_instance_find_attr(const sched_instance_t *in, const char *name);

/* appends a task (deep copy); the instance's resources are not touched */
sched_status_t sched_instance_append_task(sched_instance_t *in, const sched_task_spec_t *t);
void sched_task_release(sched_task_t *t);

/* ------------------------------------------------- the ECS API (ecs_*.c) */

#include <jansson.h>

/* ECS's names: clusters and families are 1-255 letters, digits, - and _ */
#define SCHED_ECS_NAME_MAX 255
/* RunTask's clientToken: 1-64 characters from '!' to '~' (in force SCHED_ECS_RUN_TOKEN_TTL seconds) */
#define SCHED_ECS_CLIENT_TOKEN_MAX 64
/* instance and task ids: 32 lowercase hex digits, as ECS's own */
#define SCHED_ECS_ID_LEN 32
/* an ARN we build or accept: arn:aws:ecs:REGION:ACCOUNT:task-definition/NAME:REV and the like */
#define SCHED_ECS_ARN_MAX 640

typedef enum {
    ECS_CREATE_CLUSTER,
    ECS_DESCRIBE_CLUSTERS,
    ECS_LIST_CLUSTERS,
    ECS_DELETE_CLUSTER,
    ECS_REGISTER_INSTANCE,
    ECS_DEREGISTER_INSTANCE,
    ECS_LIST_INSTANCES,
    ECS_DESCRIBE_INSTANCES,
    ECS_UPDATE_INSTANCES_STATE,
    ECS_PUT_ATTRIBUTES,
    ECS_DELETE_ATTRIBUTES,
    ECS_LIST_ATTRIBUTES,
    ECS_REGISTER_TASK_DEF,
    ECS_DESCRIBE_TASK_DEF,
    ECS_LIST_TASK_DEFS,
    ECS_LIST_TASK_DEF_FAMILIES,
    ECS_DEREGISTER_TASK_DEF,
    ECS_RUN_TASK,
    ECS_START_TASK,
    ECS_STOP_TASK,
    ECS_LIST_TASKS,
    ECS_DESCRIBE_TASKS,
    ECS_SUBMIT_TASK_STATE_CHANGE, /* the agent's reports: ecs_agent*.c */
    ECS_SUBMIT_CONTAINER_STATE_CHANGE,
    ECS_CREATE_SERVICE, /* services: ecs_services.c (shapes), ecs_service_state.c */
    ECS_UPDATE_SERVICE,
    ECS_DELETE_SERVICE,
    ECS_DESCRIBE_SERVICES,
    ECS_LIST_SERVICES,
    ECS_POLL_WORK,            /* Berth's own: the agent's long poll (scheduler.h) */
    ECS_GET_TASK_CREDENTIALS, /* Berth's own: a task role's target (scheduler.h) */
    ECS_TAG_RESOURCE,         /* tags of any resource: ecs_state.c */
    ECS_UNTAG_RESOURCE,
    ECS_LIST_TAGS,
    ECS_OP_COUNT,
} sched_ecs_op_t;

struct sched_ecs_request {
    sched_ecs_op_t op;
    json_t *body;                         /* validated: execute trusts its shape */
    char action[64];                      /* "ecs:" + the operation */
    char cluster[SCHED_ECS_NAME_MAX + 1]; /* the cluster the request names (or "default") */
    char family[SCHED_ECS_NAME_MAX + 1];  /* task definition requests: the family */
    long long revision;                   /* ... and the revision, 0 when only a family was named */
    char **resources;
    size_t nresources;
    /* StartTask: the ARNs of the instances it names, condition key ecs:container-instances */
    char **instances;
    size_t ninstances;
    bool internal; /* made by the service scheduler: runs no service step of its own */
    /* TagResource, UntagResource, ListTagsForResource: the resource's ARN as Berth writes it, and
     * the key of its record (c/NAME, d/FAMILY/REVISION, s/CLUSTER/NAME, t/CLUSTER/ID, i/CLUSTER/ID) */
    char tag_arn[SCHED_ECS_ARN_MAX];
    char tag_record[SCHED_ECS_ARN_MAX + SCHED_ECS_NAME_MAX + 8];
    bool lost; /* a SubmitTaskStateChange STOPPED made by sched_ecs_mark_lost, never by a caller */
};

/* A reference to an instance or task: its id, or its ARN
 * (.../container-instance/CLUSTER/ID, .../task/CLUSTER/ID; the older form
 * without CLUSTER too). The id goes to id[SCHED_ECS_ID_LEN + 1]. */
bool sched_ecs_parse_ref(const char *s, const char *kind, char *id);
/* A cluster's name from its name or ARN; false when neither. */
bool sched_ecs_parse_cluster(const char *s, char *name);
/* A task definition named as FAMILY, FAMILY:REV or its ARN. */
bool sched_ecs_parse_task_def(const char *s, char *family, long long *revision);
void sched_ecs_err(sched_ecs_err_t *err, const char *type, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---------------------------------- the agent's operations (ecs_agent*.c) */

/* Validates a SubmitTaskStateChange or SubmitContainerStateChange body
 * (ecs_agent_request.c, pure); called by sched_ecs_prepare. */
int sched_ecs_agent_validate(sched_ecs_request_t *r, const sched_ecs_env_t *env, sched_ecs_err_t *err);
/* PENDING 0, RUNNING 1, STOPPED 2, anything else -1: a task or container only moves up */
int sched_ecs_status_rank(const char *s);

/* What ecs_state.c lends ecs_agent.c: one operation's context and its record
 * helpers, with ecs_state.c's conventions (0, 1 when absent, or a failure). */
typedef struct sched_ecs_ctx sched_ecs_ctx_t;
const sched_ecs_request_t *sched_ecs_ctx_request(const sched_ecs_ctx_t *x);
const sched_ecs_env_t *sched_ecs_ctx_env(const sched_ecs_ctx_t *x);
sched_ecs_err_t *sched_ecs_ctx_err(sched_ecs_ctx_t *x);
int sched_ecs_ctx_nomem(sched_ecs_ctx_t *x);
int sched_ecs_ctx_need_cluster(sched_ecs_ctx_t *x);
int sched_ecs_ctx_get(sched_ecs_ctx_t *x, const char *key, json_t **out);
int sched_ecs_ctx_put(sched_ecs_ctx_t *x, const char *key, const json_t *v);
int sched_ecs_ctx_scan(sched_ecs_ctx_t *x, const char *prefix, json_t **out); /* array of [key, value] */
/* The same, parsing only the records whose bytes hold `needle` (a cheap filter: the caller still checks the field) */
int sched_ecs_ctx_scan_holding(sched_ecs_ctx_t *x, const char *prefix, const char *needle, json_t **out);
/* Releases a task's claims on its instance (once) and notes that the
 * cluster changed, so that the operation writes a new cluster token. */
int sched_ecs_ctx_release(sched_ecs_ctx_t *x, json_t *task);
/* runs the agent's operations (ecs_agent.c) */
int sched_ecs_agent_execute(sched_ecs_ctx_t *x, json_t **out);
/* ecs_request.c's field checks, for the service operations' shapes
 * (ecs_services.c): each refusal an InvalidParameterException naming the
 * field under `path` ("" at the top, "deploymentConfiguration." below). */
int sched_ecs_check_fields(const json_t *o, const char *path, const char *const *allowed, size_t nallowed, sched_ecs_err_t *err);
int sched_ecs_get_str(const json_t *o, const char *path, const char *key, bool required, size_t maxlen, const char **out,
                      sched_ecs_err_t *err);
int sched_ecs_get_int(const json_t *o, const char *path, const char *key, bool required, long long min, long long max,
                      long long *out, bool *present, sched_ecs_err_t *err);
int sched_ecs_get_bool(const json_t *o, const char *path, const char *key, sched_ecs_err_t *err);
int sched_ecs_get_array(const json_t *o, const char *path, const char *key, bool required, size_t minn, size_t maxn, json_t **out,
                        sched_ecs_err_t *err);
int sched_ecs_get_object(const json_t *o, const char *path, const char *key, json_t **out, sched_ecs_err_t *err);
int sched_ecs_check_strategies(const json_t *body, sched_ecs_err_t *err);
/* ECS's tags (at most 50 of key 1-128, value 0-256 characters): *out the list, or NULL when absent. */
int sched_ecs_get_tags(const json_t *body, json_t **out, sched_ecs_err_t *err);
int sched_ecs_check_constraints(const json_t *body, const char *key, bool allow_distinct, sched_ecs_err_t *err);
/* the request's cluster from field key (default "default"), and the cluster's ARN as a resource */
int sched_ecs_cluster_field(sched_ecs_request_t *r, const char *key, bool required, sched_ecs_err_t *err);
int sched_ecs_add_resource(sched_ecs_request_t *r, sched_ecs_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sched_ecs_paging(sched_ecs_request_t *r, sched_ecs_err_t *err);

/* A task definition's taskRoleArn and executionRoleArn passed by the caller
 * (env->check_roles: iam:PassRole, the trust policy; a task role needs
 * networkMode host): 0, or the refusal in err (ClientException,
 * AccessDeniedException) or a failure. RunTask, StartTask,
 * RegisterTaskDefinition, CreateService and UpdateService call it. */
int sched_ecs_check_roles(struct storage_records *rs, const sched_ecs_env_t *env, const json_t *td, sched_ecs_err_t *err);
/* ecs_services.c: the service operations' shapes (CreateService ... ListServices) */
bool sched_ecs_service_name_ok(const char *s);
/* A service's name from its name or ARN (of `cluster`, when the ARN names one). */
bool sched_ecs_parse_service(const char *s, const char *cluster, char *name);
int sched_ecs_validate_service_op(sched_ecs_request_t *r, const sched_ecs_env_t *env, sched_ecs_err_t *err);
/* ecs_service_state.c: the service operations, and the service step of the
 * request's cluster after a change of its tasks or instances */
bool sched_ecs_op_affects_services(sched_ecs_op_t op);
int sched_ecs_service_execute(struct storage_records *rs, const sched_ecs_request_t *r, const sched_ecs_env_t *env, json_t **out,
                              sched_ecs_err_t *err);
int sched_ecs_services_reconcile(struct storage_records *rs, const char *cluster, const sched_ecs_env_t *env, sched_ecs_err_t *err);
/* a cluster's ACTIVE services, for DescribeClusters' activeServicesCount */
int sched_ecs_services_count(struct storage_records *rs, const char *cluster, long long *n, sched_ecs_err_t *err);
/* DeleteCluster: ClusterContainsServicesException while a service is ACTIVE or
 * DRAINING; else the INACTIVE ones' records go (the caller's transaction) */
int sched_ecs_services_drop(struct storage_records *rs, const char *cluster, sched_ecs_err_t *err);
/* ecs_records.c: the records of space "ecs" in the caller's transaction.
 * rec_get: 0 with *out (a new reference), 1 when absent, or a failure.
 * rec_put: 0, 1 when only_if_absent and the key exists, or a failure.
 * rec_scan: all records under prefix as an array of [key, value] in key order;
 * needle (when set) skips records whose bytes do not hold it unparsed, group
 * (when set) keeps only the records whose "group" is this one. */
int sched_ecs_rec_get(struct storage_records *rs, const char *key, json_t **out, sched_ecs_err_t *err);
int sched_ecs_rec_put(struct storage_records *rs, const char *key, const json_t *v, bool only_if_absent, sched_ecs_err_t *err);
int sched_ecs_rec_scan(struct storage_records *rs, const char *prefix, const char *needle, const char *group, json_t **out,
                       sched_ecs_err_t *err);
/* A resource's tags (ecs_records.c), kept by its ARN: tags_get gives a new array (empty when it has
 * none); tags_apply removes remove_keys' keys, then sets add's (a key again replaces its value), at
 * most 50 in all (InvalidParameterException); tags_drop forgets them (the resource is gone). */
int sched_ecs_tags_get(struct storage_records *rs, const char *arn, json_t **tags, sched_ecs_err_t *err);
int sched_ecs_tags_apply(struct storage_records *rs, const char *arn, const json_t *add, const json_t *remove_keys,
                         sched_ecs_err_t *err);
int sched_ecs_tags_drop(struct storage_records *rs, const char *arn, sched_ecs_err_t *err);
/* Whether a Describe request's "include" names what ("TAGS"). */
bool sched_ecs_includes(const json_t *body, const char *what);

#endif
