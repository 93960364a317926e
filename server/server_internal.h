/*
 * server/server_internal.h — what the files of server/ share. No other part
 * includes it.
 *
 * Threads: N event loops (one h2o context each, one SO_REUSEPORT listener
 * each) plus storage's writer. A handler reads with its own snapshot on the
 * loop thread and hands every change to the writer as a storage op; the
 * op's completion comes back to the same loop through an h2o multithread
 * queue, and only then is the response sent. The loop never waits on a write.
 */
#ifndef BERTH_SERVER_INTERNAL_H
#define BERTH_SERVER_INTERNAL_H

#include <h2o.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "auth/auth.h"
#include "oci/oci.h"
#include "policies/policies.h"
#include "scheduler/scheduler.h"
#include "server/http_parse.h"
#include "storage/storage.h"

/* AWS regions are at most ~20 characters ("ap-southeast-3") */
#define SERVER_REGION_MAX 32

typedef struct {
    storage_t *storage;
    uint64_t max_body; /* largest request body accepted */
    bool open;         /* --insecure-no-auth: no authentication, no policies */
    auth_keys_t keys;  /* account id, token key, master key (auth_bootstrap) */
    char region[SERVER_REGION_MAX];
    int64_t token_seconds; /* lifetime of a registry password */
    /* --clock-offset (tests only): seconds added to the time credentials are
     * issued and checked at (registry tokens, STS sessions), so a test sees
     * credentials expire without waiting; never the SigV4 request-date
     * window, which compares with the client's clock */
    int64_t clock_offset;
    int64_t ecs_agent_timeout; /* --ecs-agent-timeout: seconds without a heartbeat before agentConnected is false (0: default) */
    int64_t ecs_task_lost_timeout; /* --ecs-task-lost-timeout: ... before the instance's tasks are lost (0: default) */
    int64_t ecs_stopped_retention; /* --ecs-stopped-task-retention: seconds a STOPPED task is kept (0: default) */
    struct berth_gc *gc;           /* the garbage collector's thread (server/berth/gc.c); NULL: none */
    bool no_create_on_push;        /* --no-create-on-push: a push to an unknown repository is refused (ECR's default) */
    const char *data_dir;          /* --data: /readyz checks its free space */
    atomic_bool draining;          /* SIGTERM: finishing in-flight requests; /readyz answers 503 */

    /* lifecycle previews and scheduled runs (server/ecr/lifecycle.c); NULL: none */
    struct ecr_lifecycle *lifecycle;
} server_t;

/* Now, as credentials' issue and expiry see it (time plus --clock-offset). */
int64_t server_auth_now(const server_t *srv);

typedef struct authz_cache authz_cache_t;

/* One per event-loop thread; h2o's context first so a req->conn->ctx casts to it. */
typedef struct {
    h2o_context_t ctx;
    h2o_multithread_receiver_t op_done;
    server_t *srv;
    authz_cache_t *authz;             /* parsed policies, this thread's own */
    struct ecs_agent_loop *ecs_agent; /* parked agent polls (server/ecs/agent.c) */
} server_thread_t;

/* ---- connection limits (server/conn.c) ---- */

typedef struct {
    uint64_t idle_ms;          /* --idle-timeout: a connection whose bytes have not moved this long is cut */
    uint64_t max_spool;        /* --max-spool: bytes all connections but the one holding the most may hold in request buffers */
    unsigned max_conns;        /* --max-connections, clamped below the file descriptor limit */
    unsigned max_conns_per_ip; /* --max-connections-per-ip; 0: no cap */
} conn_limits_t;

/* What the loops share (counts per address, spool figures); NULL: no memory. */
typedef struct conn_shared conn_shared_t;
conn_shared_t *conn_shared_new(const conn_limits_t *lim, unsigned nloops);
/* After every loop's conn_loop_free. */
void conn_shared_free(conn_shared_t *s);

/* One event loop's listener, connections and timers, made on the loop's
 * thread once its context exists; accepted sockets go to h2o_accept. NULL: no memory. */
typedef struct conn_loop conn_loop_t;
conn_loop_t *conn_loop_new(conn_shared_t *s, unsigned index, h2o_accept_ctx_t *accept_ctx, int listen_fd);
/* Closes the listener and disposes the timers: before h2o_context_dispose. */
void conn_loop_stop(conn_loop_t *l);
/* After h2o_evloop_destroy (whose socket closes still call into the loop). */
/* Shutdown, after conn_loop_stop: shuts down every open connection (h2o
 * then closes it, disposing a request in flight, whose op is cancelled) and
 * returns how many h2o has not closed yet. */
size_t conn_loop_cut_all(conn_loop_t *l);
/* Graceful shutdown, after conn_loop_stop: shuts down the connections with
 * no request in a handler, no body arriving after a whole head and no
 * response being written, and
 * returns how many connections h2o has not closed yet (busy or cut). */
size_t conn_loop_cut_idle(conn_loop_t *l);
void conn_loop_free(conn_loop_t *l);
/* A request reached a handler: its connection is not idle until the request's
 * pool is freed, unless a response is being written to it. */
void conn_request_begin(h2o_req_t *req);

/* ---- who is calling, and may they (server/authz.c) ---- */

typedef struct {
    bool anonymous;
    auth_principal_t principal;
    /* A Bearer token from /v2/token: its scopes bound what it may do (the
     * policies still decide within them). A password is not scoped. */
    bool scoped;
    size_t n_scopes;
    auth_token_scope_t scopes[AUTH_TOKEN_MAX_SCOPES];
    /* When the credential that named the principal expires, Unix seconds:
     * a registry password or Bearer token, or a role session's temporary
     * credentials; 0 for a stored access key and the anonymous caller. */
    int64_t expires_at;
    /* A role session (SigV4 with temporary credentials): principal is the
     * role, whose policies apply; session_arn names the session
     * (arn:aws:sts::…:assumed-role/ROLE/SESSION), session_user_id is
     * "AROA…:SESSION". Both "" otherwise. */
    char session_arn[AUTH_SESSION_ARN_MAX + 1];
    char session_user_id[AUTH_PRINCIPAL_ID_MAX + AUTH_SESSION_NAME_MAX + 2];
} server_caller_t;

typedef enum {
    SERVER_ID_OK,      /* valid credentials: who->principal */
    SERVER_ID_NONE,    /* no credentials: anonymous */
    SERVER_ID_INVALID, /* credentials that do not verify: 401 */
} server_identify_t;

authz_cache_t *authz_cache_new(void);
void authz_cache_free(authz_cache_t *c);
/* The caller of a registry request (Basic AWS:<token> or Bearer <token>);
 * `why` says what is wrong for SERVER_ID_INVALID (never echoing a secret). */
server_identify_t server_identify_registry(server_t *srv, storage_reader_t *rd, h2o_req_t *req, server_caller_t *who, char *why,
                                           size_t why_cap);
/* Evaluates `action` on repository `repo` (NULL: resource "*") for `who` with
 * the request's context (aws:SourceIp, aws:CurrentTime, aws:username, ...). */
policy_decision_t server_authorize(server_thread_t *t, storage_reader_t *rd, const server_caller_t *who, h2o_req_t *req,
                                   const char *action, const char *repo, policy_result_t *out);
/* The same with the resource's ARN given (IAM users, policies). */
policy_decision_t server_authorize_arn(server_thread_t *t, storage_reader_t *rd, const server_caller_t *who, h2o_req_t *req,
                                       const char *action, const char *resource_arn, policy_result_t *out);
/* Context keys an operation adds to the request's (sts:ExternalId, ecs:cluster, ...) */
#define SERVER_EXTRA_CONTEXT_MAX 4
/* server_authorize_arn with those keys too (at most SERVER_EXTRA_CONTEXT_MAX). */
policy_decision_t server_authorize_arn_ctx(server_thread_t *t, storage_reader_t *rd, const server_caller_t *who, h2o_req_t *req,
                                           const char *action, const char *resource_arn, const policy_context_entry_t *extra,
                                           size_t n_extra, policy_result_t *out);
/* sts:AssumeRole on role_arn: the role's trust policy with the caller's
 * identity policies and the request's context plus `extra` (at most
 * SERVER_EXTRA_CONTEXT_MAX), judged as IAM judges a trust policy
 * (auth_trust_evaluate). */
policy_decision_t server_authorize_trust(server_thread_t *t, storage_reader_t *rd, const server_caller_t *who, h2o_req_t *req,
                                         const char *role_arn, const auth_role_trust_t *trust, const policy_context_entry_t *extra,
                                         size_t n_extra, policy_result_t *out);
/* The caller's ARN as policies and messages name it: a role session's
 * arn:aws:sts::…:assumed-role/… ARN, else the principal's. */
const char *server_caller_arn(const server_caller_t *who);
/* "arn:aws:ecr:<region>:<account>:repository/<repo>", or "*" for NULL. */
void server_resource_arn(const server_t *srv, const char *repo, char *out, size_t cap);

/* A /v2/ request after routing: the repository and the route's last element. */
typedef struct {
    h2o_req_t *req;
    server_t *srv;
    char name[OCI_NAME_MAX + 1];
    char arg[OCI_DIGEST_MAX + 8]; /* digest, reference or upload id (percent-decoded) */
    const char *query;            /* after '?', not NUL-terminated */
    size_t query_len;
    server_caller_t caller; /* anonymous in the open mode */
    bool mount_allowed;     /* the caller may read the blob from ?from= (cross-repository mount) */
    storage_reader_t *rd;   /* the snapshot the request was authorized in, until v2_reader hands it over */
} v2_req_t;

/* ---- responses (server/respond.c) ---- */

/* OCI error codes with their status and the spec's message. */
typedef enum {
    ERR_BLOB_UNKNOWN,
    ERR_BLOB_UPLOAD_INVALID,
    ERR_BLOB_UPLOAD_UNKNOWN,
    ERR_DIGEST_INVALID,
    ERR_MANIFEST_BLOB_UNKNOWN,
    ERR_MANIFEST_INVALID,
    ERR_MANIFEST_UNKNOWN,
    ERR_NAME_INVALID,
    ERR_NAME_UNKNOWN,
    ERR_SIZE_INVALID,  /* 413: over a size limit */
    ERR_SIZE_MISMATCH, /* 400: a length that disagrees with the body */
    ERR_TAG_INVALID,
    ERR_UNSUPPORTED,
    ERR_PAGINATION_NUMBER_INVALID,
    ERR_RANGE_INVALID,
    ERR_NOT_FOUND,
    ERR_METHOD_UNKNOWN,
    ERR_STORAGE_FULL,
    ERR_UNAUTHORIZED, /* 401; send with v2_send_unauthorized for the challenge */
    ERR_DENIED,       /* 403: authenticated, but no policy allows it */
    ERR_UNKNOWN,
} v2_error_t;

/* Sends {"errors":[{"code","message","detail"}]} with the code's status. */
void v2_send_error(h2o_req_t *req, v2_error_t e, const char *detail);
/* The descriptor the referrers API lists for manifest m (its digest d, size bytes): compact JSON to free(); NULL: no memory. */
char *v2_referrer_descriptor(const oci_manifest_t *m, const oci_digest_t *d, size_t size);
/* The same with a message of our own (clients print the message, not the detail); takes detail's reference (NULL: ""). */
void v2_send_error_message(h2o_req_t *req, v2_error_t e, const char *message, json_t *detail);
/* The response for a failed storage call, given what NOT_FOUND means here. */
void v2_send_storage_error(h2o_req_t *req, const storage_err_t *err, v2_error_t not_found);
/* 401 UNAUTHORIZED with the WWW-Authenticate challenge (HEAD included). */
void v2_send_unauthorized(h2o_req_t *req, const char *detail);
/* Empty-bodied response with Content-Length: 0. */
void v2_send_empty(h2o_req_t *req, int status, const char *reason);
/* Copies body into the request's pool and sends it. */
void v2_send_json(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len);
/* Sends body, which already lives in the request's pool (no copy). */
void v2_send_json_pooled(h2o_req_t *req, int status, const char *content_type, h2o_iovec_t body);
void v2_add_header(h2o_req_t *req, const char *name, const char *value, size_t len);
void v2_add_headerf(h2o_req_t *req, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The first value of a request header, or a zero-length iovec. */
h2o_iovec_t v2_req_header(h2o_req_t *req, const char *name);
bool v2_is_head(h2o_req_t *req);

/* ---- a request's storage: its snapshot and its ops (server/async.c) ---- */

/* The request's snapshot, now the caller's to end: the one it was authorized
 * in, or a new one. Sends 500 and returns NULL on failure. */
storage_reader_t *v2_reader(v2_req_t *r);

typedef struct server_op server_op_t;
typedef void (*server_op_complete_cb)(server_op_t *sop, h2o_req_t *req);
struct server_op {
    storage_op_t op;
    h2o_multithread_message_t msg;
    h2o_req_t *req; /* NULL once the client has gone */
    void **guard;   /* in req's pool: points back at us until we finish */
    server_op_complete_cb complete;
    server_thread_t *thread;
    /* what the handler keeps until completion */
    v2_req_t r;
    void *owned; /* body copy (HTTP/2) or other heap data, freed with the op */
    int retry;   /* handler-specific follow-up step */
    void *user;  /* a handler's own state, freed with the op by free_user */
    void (*free_user)(void *user);
};

/* A zeroed op for `req` whose completion calls `complete` on this loop. */
server_op_t *server_op_new(v2_req_t *r, storage_op_kind_t kind, server_op_complete_cb complete);
/* Points the op at the request body without copying where h2o keeps the body
 * alive until the response (HTTP/1); copies it otherwise. False: no memory. */
bool server_op_take_body(server_op_t *sop);
void server_op_submit(server_op_t *sop);
/* What server_op_submit does first, for an op that waits elsewhere before it reaches the writer (a
 * requested collection, a lifecycle evaluation): a client gone meanwhile cancels the op and gets nothing. */
void server_op_guard(server_op_t *sop);
/* From a completion: runs a follow-up op of `kind` for the same request
 * (same repository), completing with `complete`. */
void server_op_resubmit(server_op_t *sop, storage_op_kind_t kind, server_op_complete_cb complete);
void server_op_free(server_op_t *sop);
void server_thread_init_ops(server_thread_t *t);
/* At shutdown, after the store is closed: drops undelivered completions and unregisters. */
void server_thread_drop_ops(server_thread_t *t);

/* ---- /v2/ handlers: one file per resource under server/v2/ ---- */

int v2_blob_get(v2_req_t *r);
/* GET/HEAD with a signed URL's query (auth_blob_url_signed): no credentials, the signature decides. */
int v2_blob_get_signed(v2_req_t *r);
int v2_blob_delete(v2_req_t *r);
int v2_upload_start(v2_req_t *r);
int v2_upload_patch(v2_req_t *r);
int v2_upload_put(v2_req_t *r);
int v2_upload_status(v2_req_t *r);
int v2_upload_cancel(v2_req_t *r);
int v2_manifest_get(v2_req_t *r);
int v2_manifest_put(v2_req_t *r);
int v2_manifest_delete(v2_req_t *r);
int v2_tags_list(v2_req_t *r);
int v2_catalog(v2_req_t *r);
int v2_referrers(v2_req_t *r);
int v2_token(v2_req_t *r);
/* Whether a scoped token covers `action` on `repo` (always true when not scoped). */
bool v2_scope_allows(const server_caller_t *who, const char *repo, const char *action);

/* ---- the AWS APIs (server/aws/, server/ecr/, server/iam/) ---- */

typedef enum { AWS_PROTOCOL_JSON, AWS_PROTOCOL_QUERY } aws_protocol_t;

/* One parameter of a query-protocol request, decoded: a policy document is the longest. */
#define AWS_PARAM_MAX (POLICY_MAX_BYTES + 1024)

typedef struct aws_operation aws_operation_t;

typedef struct {
    h2o_req_t *req;
    server_t *srv;
    aws_protocol_t protocol;
    const aws_operation_t *op;
    storage_reader_t *rd; /* the request's snapshot */
    json_t *body;         /* JSON protocol: the request's object */
    const char *form;     /* query protocol: the form body */
    size_t form_len;
    server_caller_t caller; /* authenticated by SigV4 */
    char request_id[37];
    /* UploadLayerPart: the base64 of layerPartBlob, left in the raw body (body's member is "") */
    const char *part_blob;
    size_t part_blob_len;
    bool has_part_blob;
} aws_req_t;

struct aws_operation {
    const char *service;         /* JSON: the X-Amz-Target prefix, "AmazonEC2ContainerRegistry_V20150921"; query: "iam" or "sts" */
    const char *name;            /* "GetAuthorizationToken", "CreateUser" */
    const char *signing_service; /* SigV4 credential scope: "ecr", "iam" */
    void (*handle)(aws_req_t *a);
};

#define ECR_SERVICE "AmazonEC2ContainerRegistry_V20150921"
/* NULL-terminated tables, one per group of operations */
extern const aws_operation_t ecr_operations[];        /* server/ecr/auth.c */
extern const aws_operation_t ecr_policy_operations[]; /* server/ecr/policy.c */
extern const aws_operation_t ecr_repo_operations[];   /* server/ecr/repos.c */
extern const aws_operation_t ecr_image_operations[];  /* server/ecr/images.c */
extern const aws_operation_t ecr_layer_operations[];  /* server/ecr/layers.c */
/* server/ecr/lifecycle.c: the lifecycle policy operations (and Berth's
 * RunLifecyclePolicy); ecr_lifecycle_forget deletes a repository's policy
 * (and drops its preview) inside DeleteRepository's commit.
 * ecr_lifecycle_start keeps the previews (NULL, err saying why, on failure);
 * ecr_lifecycle_schedule, once the loops run, starts the lifecycle thread: it
 * evaluates requested previews and runs, and every stored policy each
 * interval_seconds (none when 0; a message when it cannot start). */
extern const aws_operation_t ecr_lifecycle_operations[];
storage_status_t ecr_lifecycle_forget(server_t *srv, storage_records_t *rs, const char *repo, storage_err_t *err);
typedef struct ecr_lifecycle ecr_lifecycle_t;
ecr_lifecycle_t *ecr_lifecycle_start(server_t *srv, uint64_t interval_seconds, char *err, size_t cap);
void ecr_lifecycle_schedule(ecr_lifecycle_t *lc);
void ecr_lifecycle_stop(ecr_lifecycle_t *lc);
/* server/ecr/pulls.c: lastRecordedPullTime. ecr_note_pull is called by a
 * manifest GET and never waits (the first pull of an image each day submits
 * a write); ecr_last_pull reads it (false: never recorded); ecr_forget_pulls
 * drops a repository's records inside a transaction (DeleteRepository). */
void ecr_note_pull(server_t *srv, const char *repo, const oci_digest_t *digest);
bool ecr_last_pull(storage_reader_t *rd, const char *repo, const char *digest, int64_t *out);
storage_status_t ecr_forget_pulls(storage_records_t *rs, const char *repo, storage_err_t *err);
/* The repository's imageTagMutability is IMMUTABLE in rd's snapshot (server/ecr/repos.c). */
bool ecr_repo_tags_immutable(storage_reader_t *rd, const char *repo);
/* What the ECR handlers share (server/ecr/repos.c); each false/NULL/-1 after sending the error:
 * no member of the body outside `known` (NULL-terminated); registryId absent or ours; */
bool ecr_only_fields(aws_req_t *a, const char *const *known);
bool ecr_registry_ok(aws_req_t *a);
/* the body's fields are `known`, repositoryName is ECR's pattern, the caller may `action` on it, and it exists; */
const char *ecr_existing_repo(aws_req_t *a, const char *const *known, const char *action);
void ecr_send_not_found(aws_req_t *a, const char *repo);
/* maxResults: absent (dflt) or an integer 1..max; */
long ecr_max_results(aws_req_t *a, long max, long dflt);
/* an imageId object ({"imageDigest"} and/or {"imageTag"}) as a reference (the digest when both). */
bool ecr_image_id(aws_req_t *a, json_t *id, const char *field, oci_reference_t *ref);
extern const aws_operation_t iam_user_operations[];   /* server/iam/users.c */
extern const aws_operation_t iam_policy_operations[]; /* server/iam/policies.c */
extern const aws_operation_t sts_operations[];        /* server/sts/sts.c */

#define ECS_SERVICE "AmazonEC2ContainerServiceV20141113"
extern const aws_operation_t ecs_clusters_operations[];  /* server/ecs/clusters.c */
extern const aws_operation_t ecs_instances_operations[]; /* server/ecs/instances.c */
extern const aws_operation_t ecs_taskdefs_operations[];  /* server/ecs/taskdefs.c */
extern const aws_operation_t ecs_tasks_operations[];     /* server/ecs/tasks.c */
extern const aws_operation_t ecs_agent_operations[];     /* server/ecs/agent.c */
extern const aws_operation_t ecs_services_operations[];  /* server/ecs/services.c */
/* The service scheduler's periodic step (server/ecs/ecs.c): a thread that
 * runs sched_ecs_services_tick on the store's writer every interval. */
int ecs_services_timer_start(server_t *srv);
void ecs_services_timer_stop(void);
/* Berth's own operations (server/berth/gc.c): RunGarbageCollection */
#define BERTH_ADMIN_SERVICE "BerthAdmin_20261207"
extern const aws_operation_t berth_admin_operations[];
/* CreateMetricsToken, DeleteMetricsToken, ListMetricsTokens (server/metrics_token.c) */
extern const aws_operation_t metrics_token_operations[];
/* RunGarbageCollection's parameters: 0 with *out filled, or -1 with msg
 * naming the parameter that is wrongly typed, out of range or unknown. */
#define BERTH_GC_MAX_GRACE_SECONDS ((uint64_t)10 * 365 * 24 * 3600)
int berth_gc_parse_request(const json_t *body, storage_gc_options_t *out, char *msg, size_t cap);
/* The collector thread: runs a collection with grace_seconds every
 * interval_seconds (0: only when asked through RunGarbageCollection). NULL
 * (err says why) on failure. */
typedef struct berth_gc berth_gc_t;
berth_gc_t *berth_gc_start(storage_t *st, uint64_t interval_seconds, uint64_t grace_seconds, char *err, size_t cap);
/* Stops a running collection at its next batch, answers queued requests with
 * ServiceUnavailableException and joins the thread: before storage_close. */
void berth_gc_stop(berth_gc_t *g);
/* Every ECS operation: validated and run by scheduler/, authorized here (server/ecs/ecs.c). */
void ecs_handle(aws_req_t *a);
/* The ECS service principal task roles must trust (ECS's task role, as in AWS) */
#define ECS_TASKS_PRINCIPAL "ecs-tasks.amazonaws.com"
/* "<principal ARN>#<unique id>": whose agent a container instance is (a role session counts as its role) */
#define ECS_CALLER_KEY_MAX (AUTH_PRINCIPAL_ARN_MAX + AUTH_PRINCIPAL_ID_MAX + 2)
void ecs_caller_key(const server_caller_t *who, char out[ECS_CALLER_KEY_MAX]);
/* A task definition's image, "host:port/repo/name:tag", "repo:tag" or
 * "repo@sha256:...", into repo (NUL-terminated, at most rlen - 1 bytes) and
 * reference ("latest" when none), the same split as the agent's pull
 * (cli/agent_pull.c); the host is dropped: a task's image is looked up in
 * this registry, whatever name it is reached by. false: not a reference
 * (binpack(image) then counts no layers). Pure; server/ecs/agent.c. */
bool ecs_image_split(const char *image, char *repo, size_t rlen, oci_reference_t *ref);
/* The agent protocol (server/ecs/agent.c): the timeouts and in-memory heartbeats every ECS operation uses */
void ecs_agent_env(const server_t *srv, sched_ecs_env_t *env);
/* Instances whose agent polled within --ecs-agent-timeout (GET /metrics). */
size_t ecs_agents_connected(const server_t *srv);
/* After a committed ECS operation: wakes the polls of the instances its reply's tasks are on. */
void ecs_agent_notify_reply(const json_t *reply);
/* The same for one container instance ARN (a service scheduler placing tasks outside RunTask's reply). */
void ecs_agent_notify_instance(const char *instance_arn);
/* On each event loop, after server_thread_init_ops and before its context goes. */
int ecs_agent_loop_init(server_thread_t *t);
/* When the loop stops serving: answers its parked polls. */
void ecs_agent_loop_stop(server_thread_t *t);
void ecs_agent_loop_dispose(server_thread_t *t);
/* The thread that marks lost tasks; stopped before the store closes. */
int ecs_agent_sweeper_start(server_t *srv);
void ecs_agent_sweeper_stop(void);

/* POST /: envelope, SigV4, dispatch. */
int aws_route(server_t *srv, h2o_req_t *req);
/* The protocol's error shape: JSON {"__type","message"} or XML <ErrorResponse>. */
void aws_send_error(aws_req_t *a, int status, const char *type, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Sends an operation's result object (taking its reference; NULL: out of
 * memory): as it is in the JSON protocol; in the query protocol as
 * <OpResponse><OpResult>...</OpResult> XML (object keys become elements,
 * array items <member>s), or as IAM's JSON form for `Accept: application/json`.
 * Its strings are wiped once sent. */
void aws_send_result(aws_req_t *a, json_t *result);
/* true when `action` on repository `repo` (NULL: "*") is allowed; else sends the access-denied error. */
bool aws_allowed(aws_req_t *a, const char *action, const char *repo);
/* The same for any resource ARN (IAM's users and policies). */
bool aws_allowed_arn(aws_req_t *a, const char *action, const char *resource_arn);
/* The same with context keys the operation adds (ECS's ecs:cluster). */
bool aws_allowed_arn_ctx(aws_req_t *a, const char *action, const char *resource_arn, const policy_context_entry_t *extra,
                         size_t n_extra);
void aws_send_denied(aws_req_t *a, const char *action, const char *resource_arn, policy_decision_t d);
/* A string parameter; NULL after sending the error (or when optional and
 * absent: a caller that must tell those apart uses aws_param_optional). */
const char *aws_param_string(aws_req_t *a, const char *name, bool required);
/* An optional string parameter: true with *out NULL when absent or with its
 * value; false after sending the error for a malformed one. */
bool aws_param_optional(aws_req_t *a, const char *name, const char **out);

/* Runs an identity-store change without holding the event loop: `done` runs on
 * this loop once the change is durable (or refused), with the outcome and
 * copies of keep[0..1] (strings the reply needs; the request's JSON body is
 * gone by then, and so is a->rd). Not called if the client has gone. */
typedef void (*aws_change_done_cb)(aws_req_t *a, auth_identity_status_t s, const auth_change_t *c, const auth_err_t *err,
                                   const char *const keep[2]);
void aws_submit_change(aws_req_t *a, auth_change_t *c, aws_change_done_cb done, const char *keep0, const char *keep1);
/* A records op that answers a later (a change, a requested collection, a lifecycle evaluation):
 * *keep becomes a's copy without its snapshot and body, which end with the handler; NULL when out
 * of memory (nothing sent). */
server_op_t *aws_defer(aws_req_t *a, server_op_complete_cb complete, aws_req_t *keep);

/* server/iam/: IAM's ISO 8601 dates, and identity-store failures as IAM errors. */
void iam_format_date(int64_t t, char out[32]);
void iam_send_identity_error(aws_req_t *a, auth_identity_status_t s, const auth_err_t *err);
/* Path on CreateUser, CreateRole, CreatePolicy: absent or "/"; false after sending the error. */
bool iam_path_param(aws_req_t *a);
/* The principal named by parameter `param` (absent and not required: the
 * caller), after checking `action` on its ARN; false after sending the error. */
bool iam_target_principal(aws_req_t *a, const char *param, bool role, bool required, const char *action, auth_principal_t *out);
/* Submits a prepared change (aws_submit_change), or sends why it could not be made. */
void iam_submit(aws_req_t *a, auth_change_t *c, auth_identity_status_t s, const auth_err_t *err, aws_change_done_cb done,
                const char *keep0, const char *keep1);
/* The reply of a change that answers nothing but success (an aws_change_done_cb). */
void iam_changed(aws_req_t *a, auth_identity_status_t s, const auth_change_t *c, const auth_err_t *err, const char *const keep[2]);

/* GET /healthz: 200 "ok" while the loop runs; GET /readyz: 200 "ok" when the
 * store's writer answers a no-op in time, the data directory's disk is not
 * full and berthd is not draining, else 503 (server/health.c). No
 * credentials, no detail. */
int health_live(h2o_req_t *req);
int health_ready(server_t *srv, h2o_req_t *req);

/* ---- the access log (server/accesslog.c) ---- */

/* --access-log FILE, or "-" for stderr: 0, or -1 with err naming the file. */
int accesslog_open(const char *path, char *err, size_t cap);
bool accesslog_enabled(void);
/* SIGHUP: opens the file again (logrotate has moved it); on failure the old one stays (-1, err says why). */
int accesslog_reopen(char *err, size_t cap);
void accesslog_close(void);
/* Registers the per-request completion hook on the path (when a log is open). */
void accesslog_register(h2o_pathconf_t *path);
/* On each loop's tick: writes its buffered lines once they are old enough. */
void accesslog_tick(h2o_context_t *ctx);
/* Writes the loop's buffered lines now. */
void accesslog_flush(h2o_context_t *ctx);
/* Names the request's principal (NULL: anonymous), the action it was
 * authorized as and its repository (NULL: none) for its log line; the first
 * call of a request counts. Costs nothing without an access log. */
void server_note_authz(h2o_req_t *req, const char *principal_arn, const char *action, const char *repo);

/* Routes one request to the AWS APIs or /v2/; called by the h2o handler. */
int server_route(server_t *srv, h2o_req_t *req);

/* Routes one request; called by the h2o handler. */
int v2_route(server_t *srv, h2o_req_t *req);

/* router.c's two pure steps (unit-tested): the resource a /v2/ path names
 * and the ECR action that governs a method on it. */
typedef enum { R_NONE, R_TAGS, R_MANIFEST, R_BLOB, R_UPLOADS, R_UPLOAD, R_REFERRERS } route_t;
/* Splits p, the percent-decoded path after "/v2/" ("<name>/<route...>"), from
 * the right: the name is p's first *name_len bytes (not yet checked against
 * the grammar), *arg the last component (reference, digest or upload id;
 * NULL for tags and uploads). R_NONE: no such endpoint. */
route_t v2_route_split(const char *p, size_t len, size_t *name_len, const char **arg, size_t *arg_len);
/* The ECR action for method on route (*is_push: a push, which also needs
 * ecr:CreateRepository to create the repository). NULL: no such endpoint. */
const char *v2_route_action(route_t route, h2o_iovec_t method, bool *is_push);

/* Helpers shared by handlers. */
/* Location of an upload: /v2/<name>/blobs/uploads/<id> */
void v2_add_upload_headers(h2o_req_t *req, const char *name, const char *id, uint64_t offset);
/* Range header value for `offset` bytes received: "0-<offset-1>" ("0-0" when empty, as distribution sends). */
void v2_format_range(char *buf, size_t cap, uint64_t offset);
/* Sends a listing's document `doc` (taking its reference; NULL: out of memory)
 * with 200, and a Link header to the next page at `link_path` when `more`
 * follow after `last` (server/v2/listing.c). */
void v2_send_listing(v2_req_t *r, json_t *doc, const char *link_path, bool more, size_t n, const char *last);
/* After a listing's scan into `array`: false after sending the error, with
 * `array` released — 500 when a name could not be added (`no_memory`), never
 * a 200 with a shortened list; the scan's own failure (`st`, `err`) as
 * v2_send_storage_error with `not_found`. */
bool v2_listing_scanned(v2_req_t *r, json_t *array, bool no_memory, storage_status_t st, const storage_err_t *err,
                        v2_error_t not_found);
/* n and last from a listing's query; false after sending 400. */
bool v2_pagination(v2_req_t *r, size_t *n, bool *has_n, char *last, size_t last_cap, size_t default_n);

#endif
