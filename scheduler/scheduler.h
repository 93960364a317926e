/*
 * scheduler/scheduler.h — ECS-style task placement: in-memory cluster state,
 * the Cluster Query Language (CQL), placement (resources, constraints,
 * strategies), scale-in choice and explanations, and the reader of ECS's
 * own JSON (describe-container-instances, describe-tasks,
 * describe-task-definition) into these structs.
 *
 * Pure: no I/O, no globals, no clocks, no rand(). Randomness comes from a
 * seeded PRNG whose seed is part of each request, so the same request on the
 * same cluster always gives the same answer. Every function that can fail
 * returns a sched_status_t and, when given a sched_err_t, fills it with a
 * message a user can act on.
 *
 * Not thread-safe per cluster: a caller that shares a cluster between threads
 * holds one lock around each call (placement claims are then atomic).
 */
#ifndef BERTH_SCHEDULER_H
#define BERTH_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ECS's ephemeral host port range for host port 0 in bridge mode */
#define SCHED_DYNAMIC_PORT_FIRST 49153u
#define SCHED_DYNAMIC_PORT_LAST 65535u /* = UINT16_MAX: code relies on the range ending there */
/* a guard against a count that would only exhaust memory; ECS itself caps RunTask at 10 */
#define SCHED_MAX_TASKS_PER_REQUEST 1000000u
/* ECS allows at most 5 strategies and 10 constraints per request; we allow a little more */
#define SCHED_MAX_STRATEGIES 8u
#define SCHED_MAX_CONSTRAINTS 16u
/* the longest CQL expression ECS accepts is 2000 characters */
#define SCHED_CQL_MAX_LEN 2000u
/* "no instance" in results */
#define SCHED_NO_INSTANCE SIZE_MAX
/* registeredAt unknown */
#define SCHED_TIME_UNKNOWN INT64_MIN

typedef enum {
    SCHED_OK = 0,
    SCHED_EINVAL = -1,  /* a malformed argument (bad spec, bad strategy field, ...) */
    SCHED_ESYNTAX = -2, /* a CQL expression that does not parse; err->position says where */
    SCHED_ENOMEM = -3,  /* an allocation failed; the cluster is unchanged */
    SCHED_ERANGE = -4,  /* an index or count out of range */
    SCHED_EIO = -5,     /* the store failed or holds a damaged record (ECS state only) */
} sched_status_t;

typedef struct {
    sched_status_t code;
    size_t position; /* SCHED_ESYNTAX: byte offset into the expression; otherwise SIZE_MAX */
    char msg[512];   /* room for a file name and a JSON path (ecs_json.c) */
} sched_err_t;

const char *sched_strerror(sched_status_t st);

/* ---------------------------------------------------------------- cluster */

typedef enum { SCHED_INSTANCE_ACTIVE = 0, SCHED_INSTANCE_DRAINING = 1 } sched_instance_status_t;
typedef enum { SCHED_PROTO_TCP = 0, SCHED_PROTO_UDP = 1 } sched_proto_t;

typedef struct {
    const char *name;
    const char *value; /* NULL: the attribute has no value (e.g. ecs.capability.*) */
} sched_attribute_t;

/* What describe-container-instances says about one instance. Strings are copied. */
typedef struct {
    const char *arn; /* required, unique */
    const char *ec2_instance_id;
    sched_instance_status_t status;
    bool agent_connected;
    const char *agent_version;
    int64_t registered_at; /* seconds since the epoch, UTC, or SCHED_TIME_UNKNOWN */
    int64_t registered_cpu, registered_memory;
    int64_t remaining_cpu, remaining_memory;
    const sched_attribute_t *attributes;
    size_t nattributes;
    const uint16_t *used_tcp_ports; /* ECS's remainingResources PORTS: ports already taken */
    size_t nused_tcp_ports;
    const uint16_t *used_udp_ports; /* PORTS_UDP */
    size_t nused_udp_ports;
    size_t running_tasks_count; /* as reported; tasks added with sched_cluster_add_task count towards it */
} sched_instance_spec_t;

typedef struct {
    const char *container_name;
    uint16_t container_port;
    uint16_t host_port; /* in a task definition: 0 = take one from the dynamic range */
    sched_proto_t protocol;
} sched_binding_t;

/* A task already running on an instance. Its CPU and memory are assumed to be
 * already subtracted from the instance's remaining resources (as ECS reports
 * them); its host ports are marked taken. */
typedef struct {
    const char *arn; /* optional */
    const char *family;
    const char *group; /* "service:NAME", "family:NAME" or a custom group */
    int64_t cpu, memory;
    const sched_binding_t *bindings;
    size_t nbindings;
} sched_task_spec_t;

typedef struct sched_cluster sched_cluster_t;

/* NULL when out of memory. */
sched_cluster_t *sched_cluster_new(void);
void sched_cluster_free(sched_cluster_t *c);

/* SCHED_EINVAL for a missing or duplicate ARN, negative resources, or an
 * attribute without a name; SCHED_ENOMEM. *index_out (optional) gets the new
 * instance's index; indexes are dense and stable, in insertion order. */
sched_status_t sched_cluster_add_instance(sched_cluster_t *c, const sched_instance_spec_t *spec, size_t *index_out,
                                          sched_err_t *err);
/* SCHED_ERANGE for a bad index, SCHED_EINVAL for a task without a group. */
sched_status_t sched_cluster_add_task(sched_cluster_t *c, size_t instance, const sched_task_spec_t *task, sched_err_t *err);

size_t sched_cluster_instance_count(const sched_cluster_t *c);
/* SCHED_NO_INSTANCE when absent. */
size_t sched_cluster_find_instance(const sched_cluster_t *c, const char *arn);
const char *sched_instance_arn(const sched_cluster_t *c, size_t i);
const char *sched_instance_ec2_id(const sched_cluster_t *c, size_t i);
void sched_instance_remaining(const sched_cluster_t *c, size_t i, int64_t *cpu, int64_t *memory);
void sched_instance_registered(const sched_cluster_t *c, size_t i, int64_t *cpu, int64_t *memory);
/* Returns false when the instance lacks the attribute; *value may then be set to NULL. */
bool sched_instance_attribute(const sched_cluster_t *c, size_t i, const char *name, const char **value);
size_t sched_instance_running_tasks(const sched_cluster_t *c, size_t i);
/* Tasks of group on the instance (group NULL: all recorded tasks). */
size_t sched_instance_group_tasks(const sched_cluster_t *c, size_t i, const char *group);
bool sched_instance_port_taken(const sched_cluster_t *c, size_t i, uint16_t port, sched_proto_t proto);

/* ----------------------------------------------------- Cluster Query Language */

typedef struct sched_cql sched_cql_t;

/* Parses an expression. SCHED_ESYNTAX with err->position and a message naming
 * what was expected there; SCHED_ENOMEM. */
sched_status_t sched_cql_parse(const char *text, sched_cql_t **out, sched_err_t *err);
void sched_cql_free(sched_cql_t *q);
/* Whether instance i satisfies the expression. */
bool sched_cql_matches(const sched_cql_t *q, const sched_cluster_t *c, size_t i);
/* Parses the dates CQL accepts for registeredAt (2018-06-18T22:28:28+00:00,
 * ...Z, no zone = UTC, 2018-06-18; fractional seconds allowed) into seconds
 * since the epoch. *date_only (optional) tells whether only a date was given. */
bool sched_time_parse(const char *s, int64_t *out, bool *date_only);
/* True when the result can change as tasks are placed (task:group, runningTasksCount). */
bool sched_cql_depends_on_tasks(const sched_cql_t *q);

/* ------------------------------------------------------------- placement */

typedef enum { SCHED_STRATEGY_BINPACK, SCHED_STRATEGY_SPREAD, SCHED_STRATEGY_RANDOM } sched_strategy_type_t;

typedef struct {
    sched_strategy_type_t type;
    /* binpack: "cpu" | "memory" | "image"; spread: "instanceId" | "host" | "attribute:NAME"; random: unused.
     * binpack on "image" is Berth's (image locality): the instance with the
     * fewest bytes of the task's image left to pull (request's image_held), so
     * tasks go where their agent already holds the layers; each placed task
     * counts its instance as holding the whole image from then on. */
    const char *field;
} sched_strategy_t;

typedef enum { SCHED_CONSTRAINT_DISTINCT_INSTANCE, SCHED_CONSTRAINT_MEMBER_OF } sched_constraint_type_t;

typedef struct {
    sched_constraint_type_t type;
    const char *expression; /* memberOf only: CQL */
} sched_constraint_t;

typedef struct {
    const char *family;
    int64_t cpu;                  /* CPU units the task reserves */
    int64_t memory;               /* MiB the task reserves */
    const sched_binding_t *ports; /* container port mappings; host_port 0 = dynamic */
    size_t nports;
} sched_task_def_t;

typedef struct {
    const sched_task_def_t *task_def;
    const char *group; /* NULL: "family:" + family, as RunTask does */
    size_t count;
    const sched_strategy_t *strategies; /* applied in order; each later one breaks the earlier ones' ties */
    size_t nstrategies;
    const sched_constraint_t *constraints;
    size_t nconstraints;
    uint64_t seed; /* seeds the PRNG behind `random` */
    bool explain;  /* record explanations (costs memory proportional to instances x tasks) */
    /* binpack(image): the bytes of the task's image layers (all its containers'),
     * and per instance index (one per instance of the cluster) the bytes of them
     * it holds (NULL: none anywhere) */
    int64_t image_bytes;
    const int64_t *image_held;
} sched_placement_request_t;

typedef struct {
    size_t instance;
    sched_binding_t *bindings; /* host ports chosen, in the task definition's order */
    size_t nbindings;
} sched_placed_task_t;

/* One (instance, reason) pair, as RunTask's failures[]; instance may be
 * SCHED_NO_INSTANCE (e.g. an empty cluster). Reasons are ECS's words:
 * "RESOURCE:CPU", "RESOURCE:MEMORY", "RESOURCE:PORTS", "AGENT", "DRAINING",
 * "MemberOf placement constraint unsatisfied.",
 * "DistinctInstance placement constraint unsatisfied.", "MISSING". */
typedef struct {
    size_t instance;
    const char *reason;
    const char *detail;
} sched_failure_t;

typedef enum { SCHED_STEP_RESOURCES, SCHED_STEP_CONSTRAINTS, SCHED_STEP_STRATEGY } sched_step_kind_t;

typedef struct {
    size_t instance;
    const char *reason; /* as sched_failure_t, or the strategy's name for a strategy step */
    const char *detail;
} sched_removal_t;

typedef struct {
    sched_step_kind_t kind;
    size_t strategy;  /* SCHED_STEP_STRATEGY: index into the request's strategies */
    size_t remaining; /* candidates left after this step */
    sched_removal_t *removed;
    size_t nremoved;
} sched_step_t;

typedef struct {
    size_t strategy;    /* index into the request's strategies */
    double key;         /* binpack: remaining after the claim; spread: tasks of the group in the bucket; random: draw */
    const char *bucket; /* spread: the attribute value or instance the key counts; else NULL */
} sched_rank_key_t;

typedef struct {
    size_t task; /* 0-based position in the request */
    bool placed;
    size_t instance; /* the winner, or SCHED_NO_INSTANCE */
    sched_step_t *steps;
    size_t nsteps;
    sched_rank_key_t *keys; /* the winner's ranking keys, one per strategy */
    size_t nkeys;
} sched_explanation_t;

typedef struct sched_arena sched_arena_t;

typedef struct {
    sched_placed_task_t *tasks;
    size_t ntasks;
    sched_failure_t *failures; /* deduplicated by (instance, reason) */
    size_t nfailures;
    size_t nunplaced;                  /* tasks of the request that could not be placed */
    sched_explanation_t *explanations; /* when requested: one per task of the request */
    size_t nexplanations;
    sched_arena_t *arena; /* owns everything above */
} sched_placement_t;

/* Places req->count tasks one by one; each sees the claims of the previous
 * ones, and the claims are applied to the cluster (CPU, memory, ports, a
 * recorded task in the group). Tasks that cannot be placed are reported in
 * out->failures, which is not an error: SCHED_OK is returned. Errors:
 * SCHED_EINVAL (bad strategy field, bad constraint, CQL syntax reported with
 * the constraint's index, conflicting fixed host ports), SCHED_ENOMEM (the
 * cluster is then unchanged). */
sched_status_t sched_place(sched_cluster_t *c, const sched_placement_request_t *req, sched_placement_t *out, sched_err_t *err);
void sched_placement_free(sched_placement_t *p);

/* Whether a strategy's field is valid; used to validate user input early. */
bool sched_strategy_valid(const sched_strategy_t *s, sched_err_t *err);
/* "spread(attribute:ecs.availability-zone)" etc. into buf. */
void sched_strategy_describe(const sched_strategy_t *s, char *buf, size_t len);

/* -------------------------------------------------------------- scale-in */

typedef struct {
    const char *group;                  /* the service's group, "service:NAME" */
    size_t count;                       /* tasks to stop */
    const sched_strategy_t *strategies; /* the service's placement strategies, applied in reverse sense */
    size_t nstrategies;
    uint64_t seed; /* final tie-break is random, as ECS documents for spread */
} sched_scale_in_request_t;

typedef struct {
    size_t instance;
    const char *task_arn; /* NULL when the task had none */
} sched_stopped_task_t;

typedef struct {
    sched_stopped_task_t *stopped; /* in the order chosen */
    size_t nstopped;               /* < count when the group had fewer tasks */
    sched_arena_t *arena;
} sched_scale_in_t;

/* Chooses which tasks of the group to stop and removes them from the
 * cluster, releasing their CPU, memory and ports. spread: take from the
 * bucket with the most tasks of the group, keeping it balanced; binpack:
 * take from the instance left with the most of that resource afterwards;
 * random: at random. SCHED_EINVAL, SCHED_ENOMEM. */
sched_status_t sched_scale_in(sched_cluster_t *c, const sched_scale_in_request_t *req, sched_scale_in_t *out, sched_err_t *err);
void sched_scale_in_free(sched_scale_in_t *s);

/* ------------------------------------------------ services (ecs_services.c) */

/* One step of an ECS service's scheduler, pure: what to start and what to
 * stop so that desiredCount tasks of the PRIMARY deployment run on ACTIVE
 * instances, replacing stopped tasks, tasks of older deployments and tasks
 * on DRAINING instances within minimumHealthyPercent / maximumPercent (see
 * ecs_services.c for the rules). */
typedef enum {
    SCHED_SVC_PENDING,  /* desired RUNNING, not running yet */
    SCHED_SVC_RUNNING,  /* desired RUNNING and running: healthy */
    SCHED_SVC_STOPPING, /* asked to stop, not stopped yet: counts towards maximumPercent only */
} sched_svc_task_state_t;

typedef struct {
    const char *arn;
    const char *deployment; /* the deployment that started it (ECS's startedBy "ecs-svc/...") */
    sched_svc_task_state_t state;
    size_t instance; /* index in the plan's cluster; SCHED_NO_INSTANCE when its instance is gone */
} sched_svc_task_t;

typedef struct {
    const char *group; /* "service:NAME": the group its tasks are placed in */
    size_t desired;
    unsigned min_pct; /* minimumHealthyPercent, 0-100 */
    unsigned max_pct; /* maximumPercent, >= 100 */
    const char *primary;
    const sched_strategy_t *strategies; /* scale-in keeps these balanced */
    size_t nstrategies;
    uint64_t seed;
} sched_svc_spec_t;

typedef enum { SCHED_SVC_STOP_SCALE_IN, SCHED_SVC_STOP_OLD, SCHED_SVC_STOP_DRAINING } sched_svc_stop_why_t;

typedef struct {
    size_t task; /* index into the tasks given */
    sched_svc_stop_why_t why;
} sched_svc_stop_t;

typedef struct {
    size_t start; /* tasks of the primary deployment to place now */
    sched_svc_stop_t *stop;
    size_t nstop;
    size_t healthy_after; /* healthy tasks once the stops are made */
    size_t total_after;   /* tasks counting towards maximumPercent once the step is made */
    bool steady;          /* nothing to do: desired tasks of the primary deployment running, nothing else */
} sched_svc_plan_t;

/* The lower (rounded up) and upper (rounded down) task counts of a deployment. */
void sched_svc_bounds(size_t desired, unsigned min_pct, unsigned max_pct, size_t *min_healthy, size_t *max_total);
/* One step for the service's live (not STOPPED) tasks on cluster c, whose
 * instances say which are DRAINING. A scale-in adds the good tasks to c
 * under spec->group and removes those it stops (c may be NULL only when
 * there are no tasks). SCHED_EINVAL, SCHED_ENOMEM. */
sched_status_t sched_service_plan(sched_cluster_t *c, const sched_svc_spec_t *spec, const sched_svc_task_t *tasks, size_t ntasks,
                                  sched_svc_plan_t *out, sched_err_t *err);
void sched_svc_plan_free(sched_svc_plan_t *p);

/* ------------------------------------------------------ ECS-shaped JSON */

/* ECS's own JSON, already loaded by the caller (jansson's json_t), into the
 * cluster and a task definition (scheduler/ecs_json.c). `source` (a file
 * name) starts every message, which then names the field: "ci.json:
 * containerInstances[2].remainingResources[0].integerValue: expected ...".
 * SCHED_EINVAL: input that is not what ECS sends; SCHED_ENOMEM. */
struct json_t;

/* a task definition with more port mappings than this is surely wrong; ECS's own limit is lower */
#define SCHED_ECS_MAX_PORT_MAPPINGS 1024

/* A task definition as placement needs it. Its strings point into the
 * document it was read from, which must outlive it. */
typedef struct {
    sched_task_def_t td;
    sched_binding_t ports[SCHED_ECS_MAX_PORT_MAPPINGS];
    const char *containers[SCHED_ECS_MAX_PORT_MAPPINGS]; /* container names in order, for a reply */
    size_t ncontainers;
    const char *arn;                                       /* taskDefinitionArn, or NULL */
    sched_constraint_t constraints[SCHED_MAX_CONSTRAINTS]; /* its memberOf placementConstraints */
    size_t nconstraints;
} sched_ecs_task_def_t;

/* Told of an instance left out because of its status (REGISTERING, INACTIVE, ...):
 * `where` names it in the source. */
typedef void (*sched_ecs_skip_cb)(void *ctx, const char *where, const char *status);

/* describe-container-instances output (or its containerInstances array): adds
 * each ACTIVE or DRAINING instance; `skipped` (may be NULL) hears of the rest.
 * Instances added before a failure stay in the cluster. */
sched_status_t sched_ecs_add_instances(sched_cluster_t *c, const struct json_t *doc, const char *source, sched_ecs_skip_cb skipped,
                                       void *ctx, sched_err_t *err);
/* describe-tasks output (or its tasks array): the tasks that are not STOPPED,
 * on instances already in the cluster. */
sched_status_t sched_ecs_add_tasks(sched_cluster_t *c, const struct json_t *doc, const char *source, sched_err_t *err);
/* describe-task-definition output (or its taskDefinition object). */
sched_status_t sched_ecs_read_task_definition(const struct json_t *doc, const char *source, sched_ecs_task_def_t *out,
                                              sched_err_t *err);

/* ------------------------------------------- the ECS API on durable state */

/* The ECS operations (CreateCluster ... StopTask) on cluster state kept in
 * the store's records, space SCHED_ECS_SPACE. Two steps, so that the caller
 * can authorize in between:
 *
 *   sched_ecs_prepare  (pure, scheduler/ecs_request.c): validates the
 *       request body, names the ecs: action and the resource ARNs it
 *       touches; bad input is an InvalidParameterException naming the field
 *       (and the position, for a Cluster Query Language syntax error);
 *   sched_ecs_execute  (scheduler/ecs_state.c, library berth_scheduler_state):
 *       runs it on a records view: a reader's snapshot for the operations
 *       that only read, the records closure of one STORAGE_OP_RECORDS for
 *       those that write (sched_ecs_request_writes). Placement reads the
 *       cluster's instances and tasks and records the tasks and their claims
 *       in that one transaction, so concurrent RunTasks never oversubscribe.
 *
 * The records (JSON values; keys sort so a prefix scan lists one cluster):
 *   c/<cluster>                   the cluster
 *   i/<cluster>/<instance id>     a container instance: registered and remaining
 *                                 CPU/memory, host ports taken, attributes,
 *                                 status, registeredAt, heartbeatAt, and its
 *                                 live tasks counted per group
 *   t/<cluster>/<task id>         a task as DescribeTasks shows it, plus its claims
 *   f/<family>                    the family's last revision number
 *   d/<family>/<revision, 10 digits>  a task definition as DescribeTaskDefinition shows it
 *   g/<cluster>                   a random token every change of the cluster's instances
 *                                 or tasks rewrites: what RunTask's cache is checked against
 *   s/<cluster>/<service>         a service: desiredCount, deployments (PRIMARY first), events,
 *                                 placement; its tasks are those of group "service:<service>",
 *                                 startedBy their deployment (ecs_service_state.c)
 *
 * agentConnected is computed, never stored: now - heartbeatAt <= agent_timeout
 * (registration counts as a heartbeat; the agent's heartbeat comes later).
 * An instance whose agent is not connected gets no new tasks ("AGENT"). */

#define SCHED_ECS_SPACE "ecs"
/* ECS's name for the cluster used when a request names none */
#define SCHED_ECS_DEFAULT_CLUSTER "default"
/* seconds without a heartbeat after which an agent counts as disconnected */
#define SCHED_ECS_AGENT_TIMEOUT_DEFAULT 300

/* A cache of one cluster's placement state for RunTask (ecs_state.c): owned
 * by the caller, used only inside write transactions, by one thread at a
 * time. It is checked against a token record that every change of the
 * cluster rewrites, so it is never trusted past a change it did not see. */
typedef struct sched_ecs_cache sched_ecs_cache_t;
sched_ecs_cache_t *sched_ecs_cache_new(void);
void sched_ecs_cache_free(sched_ecs_cache_t *c);
/* how often RunTask loaded the cluster into the cache, and found it there */
void sched_ecs_cache_stats(const sched_ecs_cache_t *c, uint64_t *loads, uint64_t *hits);

typedef struct {
    const char *type; /* ECS's exception name: InvalidParameterException, ClusterNotFoundException, ... */
    int http_status;  /* 400 for the caller's mistakes, 500 for ours */
    char msg[512];
} sched_ecs_err_t;

struct storage_records;

typedef struct {
    const char *region;  /* in every ARN */
    const char *account; /* 12 digits */
    int64_t now;         /* the caller's clock, Unix seconds: the engine reads none */
    int64_t agent_timeout;
    uint64_t seed;            /* new task and instance ids, and the `random` strategy */
    sched_ecs_cache_t *cache; /* writes only (NULL for reads, or none): see sched_ecs_cache_t */
    /* The agents' heartbeats the caller keeps in memory (BerthPollWork): the
     * later of this and the stored heartbeatAt counts. NULL: only the stored one.
     * Returns 0 for an instance it has not heard from. */
    int64_t (*last_seen)(void *ctx, const char *cluster, const char *instance_id);
    void *last_seen_ctx;
    int64_t task_lost_timeout; /* sched_ecs_mark_lost: seconds without a heartbeat after which a task is lost */
    /* When not NULL (a JSON array the caller owns and empties before each
     * run): the service scheduler's step appends the containerInstanceArn of
     * every task it starts or stops, so that the caller can wake those
     * instances' agents once the transaction is committed (the step's tasks
     * are not in the operation's reply). An instance may appear more than once. */
    struct json_t *touched;
    /* Image locality, for the strategy binpack(image); NULL: the strategy has
     * nothing to go on (a tie everywhere). image_layers: the layers of an image
     * as a task definition names it ("host/repo:tag", "repo@sha256:..."),
     * read from the registry: 0 with *layers a new array of {"digest", "size"}
     * (config and layers), 1 when the registry does not hold it, < 0 on
     * failure. layer_held: whether the instance's agent last reported holding
     * that blob. Both are the caller's: the engine reads no store of images. */
    int (*image_layers)(void *ctx, const char *image, struct json_t **layers);
    bool (*layer_held)(void *ctx, const char *cluster, const char *instance_id, const char *digest);
    void *image_ctx;
    /* Who calls, as the agent binding knows it ("<principal ARN>#<unique id>";
     * a role session's role): RegisterContainerInstance records it as the
     * instance's owner, and an agent's calls for that instance (BerthPollWork,
     * Submit*StateChange, BerthGetTaskCredentials, re-registration) must come
     * from the same principal, else AccessDeniedException. NULL: not checked
     * (--insecure-no-auth, berthd's own steps). */
    const char *caller;
    /* Task roles: called inside the transaction with a task definition's
     * taskRoleArn and executionRoleArn (NULL when absent; never both NULL) by
     * RegisterTaskDefinition, RunTask and StartTask; 0, or SCHED_EINVAL with
     * err the refusal (iam:PassRole, the trust policy), SCHED_ENOMEM or
     * SCHED_EIO. NULL: not checked. */
    int (*check_roles)(void *ctx, struct storage_records *rs, const char *task_role, const char *exec_role, sched_ecs_err_t *err);
    void *check_roles_ctx;
} sched_ecs_env_t;

typedef struct sched_ecs_request sched_ecs_request_t;

/* Whether `op` is an ECS operation Berth serves. */
bool sched_ecs_known_op(const char *op);
/* Validates `body` (a JSON object) as operation `op`'s request. 0, or
 * SCHED_EINVAL with err filled (an ECS error for the caller), SCHED_ENOMEM.
 * The request keeps a reference to body. */
int sched_ecs_prepare(const char *op, struct json_t *body, const sched_ecs_env_t *env, sched_ecs_request_t **out,
                      sched_ecs_err_t *err);
void sched_ecs_request_free(sched_ecs_request_t *r);
bool sched_ecs_request_writes(const sched_ecs_request_t *r);
/* "ecs:RunTask" */
const char *sched_ecs_request_action(const sched_ecs_request_t *r);
/* The resource ARNs the action is authorized on (at least one; "*" for
 * operations ECS authorizes on no resource). */
size_t sched_ecs_request_nresources(const sched_ecs_request_t *r);
const char *sched_ecs_request_resource(const sched_ecs_request_t *r, size_t i);
/* The name of the cluster the request acts in (its "cluster", or "default"), or NULL for an operation
 * in none (RegisterTaskDefinition, ListClusters, ...): what condition key ecs:cluster names. */
const char *sched_ecs_request_cluster(const sched_ecs_request_t *r);
/* StartTask: the ARNs of the container instances it names (*arns, the count), what condition key
 * ecs:container-instances holds; 0 for any other operation. */
size_t sched_ecs_request_instances(const sched_ecs_request_t *r, const char *const **arns);

/* -------------------------------------------------- the agent protocol
 *
 * Berth's agent (`berth agent`) speaks to berthd on the ECS endpoint, SigV4
 * service `ecs`, X-Amz-Target AmazonEC2ContainerServiceV20141113.<Op>:
 *
 *   RegisterContainerInstance   ECS's own; with containerInstanceArn the agent
 *                               re-attaches to the instance it registered before
 *   SubmitTaskStateChange       ECS's own shapes: cluster, task, status
 *   SubmitContainerStateChange  (PENDING, RUNNING, STOPPED), reason, containers
 *                               with exitCode, networkBindings, runtimeId;
 *                               pullStartedAt, pullStoppedAt (scheduler/ecs_agent.c)
 *   BerthPollWork               Berth's extension for what ECS's agent gets over
 *                               its websocket; authorized as ecs:Poll on the
 *                               container instance's ARN. Request:
 *       {"cluster", "containerInstance", "knownTasks": [task ARNs the agent holds],
 *        "layers": ["sha256:..." the instance holds: what binpack(image) places by],
 *        "waitSeconds": 0..20}
 *     Reply, at once when there is work, else when work arrives or after
 *     waitSeconds (default and most: berthd's poll wait, at most 20 s and a
 *     third of --ecs-agent-timeout) with empty lists:
 *       {"containerInstanceArn", "tasks": [tasks assigned to the instance, not
 *        STOPPED, that are not in knownTasks: taskArn, taskDefinitionArn,
 *        desiredStatus, lastStatus, overrides, containers with the task
 *        definition's image, cpu, memory, environment, command, entryPoint,
 *        essential, portMappings and the planned networkBindings; taskRoleArn
 *        when the task definition has one],
 *        "stopTasks": [ARNs of knownTasks whose desiredStatus is STOPPED, or
 *        that the cluster no longer holds]}
 *     Every poll is the instance's heartbeat (agentConnected). An instance
 *     that is gone (deregistered) is a ClientException the agent answers
 *     by registering again.
 *   BerthGetTaskCredentials     Berth's extension for the task role credentials
 *                               ECS's agent gets over its websocket; ecs:Poll on
 *                               the container instance's ARN. Request:
 *       {"cluster", "containerInstance", "task"}
 *     Reply: {"taskArn", "roleArn", "credentials": {"accessKeyId",
 *     "secretAccessKey", "sessionToken", "expiration" (seconds since 1970)}}:
 *     a session of the task definition's taskRoleArn named after the task's
 *     id (arn:aws:sts::ACCOUNT:assumed-role/ROLE/TASKID), lasting an hour;
 *     the agent asks again before it ends. ClientException for a task that
 *     is not on that instance, is stopped or stopping, or has no task role.
 *     The scheduler answers {"taskArn", "roleArn", "sessionName"}; berthd
 *     mints the credentials (auth_role_session_mint).
 *
 * Every agent call for an instance must come from the principal that
 * registered it (env->caller), so one instance's agent cannot act for another's.
 *
 * Heartbeats are kept in the caller's memory (env->last_seen) and written
 * to the instance record (heartbeatAt, and the layers it holds) at most
 * once a minute per instance by sched_ecs_record_heartbeat, which writes no
 * cluster token: a heartbeat changes nothing placement keeps, and RunTask's
 * cache asks env->last_seen for agentConnected each time.
 *
 * An instance silent for longer than env->task_lost_timeout has its tasks
 * (not yet STOPPED) marked STOPPED by sched_ecs_mark_lost, claims released,
 * with stoppedReason SCHED_ECS_LOST_REASON. */

#define SCHED_ECS_POLL_WAIT_MAX 20
/* seconds without a heartbeat after which an instance's tasks are lost */
#define SCHED_ECS_TASK_LOST_TIMEOUT_DEFAULT 900
/* layers one heartbeat reports, and task ARNs it knows: bounds a request */
#define SCHED_ECS_MAX_LAYERS 4096
#define SCHED_ECS_MAX_KNOWN_TASKS 1000
#define SCHED_ECS_LOST_REASON "Task lost: the container instance's agent stopped reporting"

/* A prepared BerthPollWork: the cluster, the instance id and the wait it asks
 * (-1: none asked). false for any other request. */
bool sched_ecs_poll_target(const sched_ecs_request_t *r, const char **cluster, char *instance_id, int *wait);

struct storage_records;
/* Writes heartbeatAt (when later than the stored one) and, when `layers` is
 * not NULL, the layers the instance holds into its record; no token.
 * 0, 1 when the instance is not registered, or SCHED_ENOMEM/SCHED_EIO. */
int sched_ecs_record_heartbeat(struct storage_records *rs, const char *cluster, const char *instance_id, int64_t at,
                               const struct json_t *layers, sched_ecs_err_t *err);
/* The tasks to mark lost: not STOPPED, on instances whose heartbeat (stored,
 * or env->last_seen) is older than env->task_lost_timeout. *found: an array
 * of [cluster, task id]. Reads only. */
int sched_ecs_find_lost(struct storage_records *rs, const sched_ecs_env_t *env, struct json_t **found, sched_ecs_err_t *err);
/* Marks them STOPPED (checking again that each is still lost), inside one
 * write transaction. *stopped: how many were. */
int sched_ecs_mark_lost(struct storage_records *rs, const sched_ecs_env_t *env, const struct json_t *found, size_t *stopped,
                        sched_ecs_err_t *err);

/* STOPPED tasks are kept for `retention` seconds after
 * their stoppedAt (ECS shows them for at least an hour), then deleted
 * (scheduler/ecs_retention.c). Find on a snapshot: *found, the keys of at
 * most `max` tasks stopped at or before now - retention (a bounded batch);
 * delete in one write transaction, checking each again: *deleted, how many
 * were. Deleting writes no cluster token (nothing placement keeps changes).
 * 0, SCHED_ENOMEM, SCHED_EIO. */
#define SCHED_ECS_STOPPED_RETENTION_DEFAULT 3600
/* tasks one deletion transaction takes at most: it holds the store's single writer */
#define SCHED_ECS_EXPIRE_BATCH 500
/* How long a RunTask clientToken answers its first run (ECS: 24 hours); its record is then
 * found and deleted by the two calls below, with the expired STOPPED tasks. */
#define SCHED_ECS_RUN_TOKEN_TTL (24 * 3600)
int sched_ecs_find_expired(struct storage_records *rs, int64_t now, int64_t retention, size_t max, struct json_t **found,
                           sched_ecs_err_t *err);
int sched_ecs_delete_expired(struct storage_records *rs, int64_t now, int64_t retention, const struct json_t *found,
                             size_t *deleted, sched_ecs_err_t *err);

/* Runs a prepared request on `rs` (read-only for requests that do not
 * write). 0 with *out the reply object; SCHED_EINVAL with err an ECS error
 * for the caller (nothing written: the caller undoes the transaction);
 * SCHED_ENOMEM; SCHED_EIO when the store failed or holds a damaged record. */
int sched_ecs_execute(struct storage_records *rs, const sched_ecs_request_t *r, const sched_ecs_env_t *env, struct json_t **out,
                      sched_ecs_err_t *err);

/* The service scheduler's step (ecs_service_state.c) for every ACTIVE or
 * DRAINING service of every cluster, in the caller's records transaction:
 * berthd's periodic timer. Operations that change a cluster's tasks or
 * instances already run it for their cluster. */
int sched_ecs_services_tick(struct storage_records *rs, const sched_ecs_env_t *env, sched_ecs_err_t *err);

#endif
