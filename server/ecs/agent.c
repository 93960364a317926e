/*
 * The agent protocol's server side (the protocol is documented in
 * scheduler/scheduler.h, "the agent protocol"):
 *
 * - SubmitTaskStateChange and SubmitContainerStateChange go through
 *   ecs_handle like every ECS operation;
 * - BerthPollWork is a long poll that never holds an event loop: a poll
 *   with no work is parked (on its loop's timer list, and on its instance's
 *   list of waiters here) and answered when ecs_agent_notify_reply sees a
 *   committed RunTask/StartTask/StopTask touch its instance (a message to
 *   the poll's own loop, as storage ops' completions come back), or at its
 *   timeout, with a fresh snapshot either way;
 * - every poll that passed the owner check (the instance exists and the
 *   caller registered it) is the instance's heartbeat: kept in memory (the
 *   registry below, env->last_seen for every ECS operation) and written to the
 *   instance record at most once a minute, or when its layers change, by a
 *   records op that writes no cluster token, so heartbeats from 10,000
 *   agents never invalidate RunTask's cache;
 * - each poll's "layers" (the blobs the agent's cache holds) are kept here
 *   per instance, for the placement strategy binpack(image): as sorted
 *   64-bit prefixes of the digests (8 bytes a blob; a poll reports at most
 *   SCHED_ECS_MAX_LAYERS, so at most 32 KiB an instance), and at most
 *   LAYERS_BUDGET prefixes in all: past it an instance's set is dropped,
 *   which only costs locality (its holdings count as none);
 * - a sweeper thread marks lost the tasks of instances silent past
 *   --ecs-task-lost-timeout (a snapshot scan, and a write only when it
 *   found some);
 * - BerthGetTaskCredentials mints a task role's session for the agent of
 *   the instance that runs the task (scheduler/ says which role, and that
 *   the caller is that instance's own agent).
 */
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scheduler/scheduler.h"
#include "server/server_internal.h"

/* the stored heartbeat is at most this old while the agent polls */
#define PERSIST_EVERY_S 60
/* ECS's names are at most 255 characters; a key or an ARN fits in this */
#define AGENT_NAME_MAX 255
#define AGENT_KEY_MAX 640
/* blob prefixes all instances' sets hold at most: 32 MiB, 1,000 instances of 4,096 blobs */
#define LAYERS_BUDGET (4u << 20)

/* a task role's session: ECS's agent refreshes its tasks' credentials well inside 6 hours; an hour bounds a leaked one */
#define TASK_CREDENTIALS_SECONDS 3600

static void poll_handle(aws_req_t *a);
static void credentials_handle(aws_req_t *a);

const aws_operation_t ecs_agent_operations[] = {
    {ECS_SERVICE, "SubmitTaskStateChange", "ecs", ecs_handle},
    {ECS_SERVICE, "SubmitContainerStateChange", "ecs", ecs_handle},
    {ECS_SERVICE, "BerthPollWork", "ecs", poll_handle},
    {ECS_SERVICE, "BerthGetTaskCredentials", "ecs", credentials_handle},
    {NULL, NULL, NULL, NULL},
};

/* ------------------------------------------------ the heartbeat registry */

typedef struct agent_entry {
    struct agent_entry *next; /* hash chain */
    int64_t last_seen, persisted_at;
    uint64_t layers_hash; /* of the layers last written */
    uint64_t gen;         /* bumped by every notification: a poll that saw an older one does not sleep */
    uint64_t held_hash;   /* of the layers `held` was built from */
    uint64_t *held;       /* sorted 64-bit prefixes of the blobs the agent holds (NULL: none known) */
    size_t nheld;
    h2o_linklist_t waiters;
    char key[]; /* "cluster/id" */
} agent_entry_t;

static struct {
    pthread_mutex_t lock;
    agent_entry_t **buckets;
    size_t nbuckets, n;
    size_t nheld; /* prefixes held by all entries: LAYERS_BUDGET at most */
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t hash_str(const char *s, uint64_t h)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* With reg.lock held. NULL when absent (and create is false) or out of memory.
 * The key "cluster/id" is hashed and compared in place, never formatted for a
 * lookup: RunTask asks for every instance of the cluster each call. */
static agent_entry_t *entry_get(const char *cluster, const char *id, bool create)
{
    size_t cl = strlen(cluster);
    if (cl + 1 + strlen(id) >= AGENT_KEY_MAX)
        return NULL; /* no such names: ECS's are at most 255 characters */
    uint64_t h = hash_str(id, hash_str("/", hash_str(cluster, 14695981039346656037ull)));
    if (reg.nbuckets) {
        for (agent_entry_t *e = reg.buckets[h & (reg.nbuckets - 1)]; e; e = e->next)
            if (strncmp(e->key, cluster, cl) == 0 && e->key[cl] == '/' && strcmp(e->key + cl + 1, id) == 0)
                return e;
    }
    if (!create)
        return NULL;
    if (reg.n >= reg.nbuckets) { /* grow: at most one entry per bucket on average */
        size_t nb = reg.nbuckets ? reg.nbuckets * 2 : 1024;
        agent_entry_t **b = calloc(nb, sizeof(*b));
        if (!b)
            return NULL;
        for (size_t i = 0; i < reg.nbuckets; i++)
            for (agent_entry_t *e = reg.buckets[i], *next; e; e = next) {
                next = e->next;
                size_t j = hash_str(e->key, 14695981039346656037ull) & (nb - 1);
                e->next = b[j];
                b[j] = e;
            }
        free(reg.buckets);
        reg.buckets = b;
        reg.nbuckets = nb;
    }
    char key[AGENT_KEY_MAX];
    snprintf(key, sizeof(key), "%s/%s", cluster, id);
    agent_entry_t *e = calloc(1, sizeof(*e) + strlen(key) + 1);
    if (!e)
        return NULL;
    strcpy(e->key, key);
    h2o_linklist_init_anchor(&e->waiters);
    size_t j = h & (reg.nbuckets - 1);
    e->next = reg.buckets[j];
    reg.buckets[j] = e;
    reg.n++;
    return e;
}

static int64_t last_seen(void *ctx, const char *cluster, const char *id)
{
    (void)ctx;
    pthread_mutex_lock(&reg.lock);
    agent_entry_t *e = entry_get(cluster, id, false);
    int64_t t = e ? e->last_seen : 0;
    pthread_mutex_unlock(&reg.lock);
    return t;
}

/* ------------------------------------------------------ image locality */

/* "sha256:<64 hex>" (as the poll's validation guarantees) into its first 64 bits */
static bool digest_prefix(const char *d, uint64_t *out)
{
    if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
        return false;
    uint64_t v = 0;
    for (int i = 7; i < 7 + 16; i++) {
        char c = d[i];
        int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (x < 0)
            return false;
        v = v << 4 | (uint64_t)x;
    }
    *out = v;
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* With reg.lock held: e's set becomes `layers` (a validated poll's), within the budget. */
static void held_set(agent_entry_t *e, const json_t *layers, uint64_t hash)
{
    size_t n = json_array_size(layers);
    reg.nheld -= e->nheld;
    free(e->held);
    e->held = NULL;
    e->nheld = 0;
    e->held_hash = hash;
    if (n == 0 || reg.nheld + n > LAYERS_BUDGET || !(e->held = malloc(n * sizeof(*e->held))))
        return;
    size_t i;
    json_t *v;
    json_array_foreach(layers, i, v)
    {
        if (digest_prefix(json_string_value(v), &e->held[e->nheld]))
            e->nheld++;
    }
    qsort(e->held, e->nheld, sizeof(*e->held), cmp_u64);
    reg.nheld += e->nheld;
}

static bool layer_held(void *ctx, const char *cluster, const char *id, const char *digest)
{
    (void)ctx;
    uint64_t want;
    if (!digest_prefix(digest, &want))
        return false;
    pthread_mutex_lock(&reg.lock);
    agent_entry_t *e = entry_get(cluster, id, false);
    bool held = e && e->nheld && bsearch(&want, e->held, e->nheld, sizeof(want), cmp_u64);
    pthread_mutex_unlock(&reg.lock);
    return held;
}

bool ecs_image_split(const char *image, char *repo, size_t rlen, oci_reference_t *ref)
{
    const char *s = image, *slash = strchr(s, '/');
    /* a registry host has a dot, a port or is localhost, and never an @ (that is a digest's) */
    if (slash && !memchr(s, '@', (size_t)(slash - s)) &&
        (memchr(s, '.', (size_t)(slash - s)) || memchr(s, ':', (size_t)(slash - s)) ||
         ((size_t)(slash - s) == 9 && strncmp(s, "localhost", 9) == 0)))
        s = slash + 1;
    const char *at = strchr(s, '@'), *last_slash = strrchr(s, '/');
    const char *colon = at ? NULL : strrchr(last_slash ? last_slash : s, ':');
    size_t n = at ? (size_t)(at - s) : colon ? (size_t)(colon - s) : strlen(s);
    const char *r = at ? at + 1 : colon ? colon + 1 : "latest";
    if (n == 0 || n >= rlen || !oci_name_valid(s, n) || oci_reference_parse(r, strlen(r), ref, NULL) != OCI_OK)
        return false;
    /* after '@' only a digest ("app@v1" is no reference), and only sha256: what the agent pulls (agent_parse_image) */
    if (at && (!ref->is_digest || ref->digest.alg != OCI_ALG_SHA256))
        return false;
    memcpy(repo, s, n);
    repo[n] = '\0';
    return true;
}

/* The manifest body of repo at ref, parsed; NULL when absent or not JSON. */
static json_t *manifest_json(storage_reader_t *rd, const char *repo, const oci_reference_t *ref)
{
    storage_manifest_t m;
    if (storage_manifest_get(rd, repo, ref, &m, NULL) != STORAGE_OK)
        return NULL;
    return json_loadb(m.body, m.len, 0, NULL);
}

/* sched_ecs_env_t.image_layers: the image's config and layers from the store
 * (an index: its linux/amd64 manifest, else its first, as the agent pulls). */
static int image_layers(void *ctx, const char *image, json_t **layers)
{
    server_t *srv = ctx;
    char repo[OCI_NAME_MAX + 1];
    oci_reference_t ref;
    *layers = NULL;
    if (!image || !ecs_image_split(image, repo, sizeof(repo), &ref))
        return 1;
    /* a snapshot of its own: the writer's transaction (where RunTask runs)
     * cannot read the manifests, and the store's readers are not bound to threads */
    storage_reader_t *rd = storage_reader_begin(srv->storage, NULL);
    if (!rd)
        return SCHED_EIO;
    json_t *m = manifest_json(rd, repo, &ref);
    json_t *list = json_object_get(m, "manifests");
    if (json_is_array(list)) {
        json_t *pick = json_array_get(list, 0), *d;
        size_t i;
        json_array_foreach(list, i, d)
        {
            json_t *pl = json_object_get(d, "platform");
            const char *os = json_string_value(json_object_get(pl, "os")),
                       *arch = json_string_value(json_object_get(pl, "architecture"));
            if (os && arch && strcmp(os, "linux") == 0 && strcmp(arch, "amd64") == 0) {
                pick = d;
                break;
            }
        }
        const char *child = json_string_value(json_object_get(pick, "digest"));
        oci_reference_t cref;
        json_t *cm = child && oci_reference_parse(child, strlen(child), &cref, NULL) == OCI_OK && cref.is_digest
                         ? manifest_json(rd, repo, &cref)
                         : NULL;
        json_decref(m);
        m = cm;
    }
    storage_reader_end(rd);
    if (!json_is_object(m)) {
        json_decref(m);
        return 1;
    }
    json_t *out = json_array();
    int rc = out ? 0 : SCHED_ENOMEM;
    json_t *config = json_object_get(m, "config"), *d;
    size_t i;
    if (!rc && json_is_string(json_object_get(config, "digest")) && json_is_integer(json_object_get(config, "size")) &&
        json_array_append_new(
            out, json_pack("{s:O,s:O}", "digest", json_object_get(config, "digest"), "size", json_object_get(config, "size"))))
        rc = SCHED_ENOMEM;
    json_array_foreach(json_object_get(m, "layers"), i, d)
    {
        if (rc || !json_is_string(json_object_get(d, "digest")) || !json_is_integer(json_object_get(d, "size")))
            continue;
        if (json_array_append_new(
                out, json_pack("{s:O,s:O}", "digest", json_object_get(d, "digest"), "size", json_object_get(d, "size"))))
            rc = SCHED_ENOMEM;
    }
    json_decref(m);
    if (rc) {
        json_decref(out);
        return rc;
    }
    *layers = out;
    return 0;
}

void ecs_agent_env(const server_t *srv, sched_ecs_env_t *env)
{
    env->agent_timeout = srv->ecs_agent_timeout > 0 ? srv->ecs_agent_timeout : SCHED_ECS_AGENT_TIMEOUT_DEFAULT;
    env->task_lost_timeout = srv->ecs_task_lost_timeout > 0 ? srv->ecs_task_lost_timeout : SCHED_ECS_TASK_LOST_TIMEOUT_DEFAULT;
    env->last_seen = last_seen;
    env->last_seen_ctx = NULL;
    env->image_layers = image_layers;
    env->layer_held = layer_held;
    env->image_ctx = (server_t *)srv;
}

/* GET /metrics: instances whose agent polled within the agent timeout (a walk
 * of the registry under its lock: once a scrape, not per request). */
size_t ecs_agents_connected(const server_t *srv)
{
    int64_t timeout = srv->ecs_agent_timeout > 0 ? srv->ecs_agent_timeout : SCHED_ECS_AGENT_TIMEOUT_DEFAULT;
    int64_t now = (int64_t)time(NULL);
    size_t n = 0;
    pthread_mutex_lock(&reg.lock);
    for (size_t i = 0; i < reg.nbuckets; i++)
        for (agent_entry_t *e = reg.buckets[i]; e; e = e->next)
            n += now - e->last_seen <= timeout;
    pthread_mutex_unlock(&reg.lock);
    return n;
}

/* The wait a poll gets: at most 20 s, and well inside the agent timeout so that polls keep the agent connected. */
static int poll_wait(const server_t *srv)
{
    int64_t t = (srv->ecs_agent_timeout > 0 ? srv->ecs_agent_timeout : SCHED_ECS_AGENT_TIMEOUT_DEFAULT) / 3;
    return t < 1 ? 1 : t > SCHED_ECS_POLL_WAIT_MAX ? SCHED_ECS_POLL_WAIT_MAX : (int)t;
}

/* ------------------------------------------------------ the coarse write */

typedef struct {
    storage_op_t op;
    char cluster[AGENT_KEY_MAX];
    char id[AGENT_KEY_MAX];
    int64_t at;
    json_t *layers;
} persist_t;

static storage_status_t persist_run(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    persist_t *p = ctx;
    sched_ecs_err_t err;
    int rc = sched_ecs_record_heartbeat(rs, p->cluster, p->id, p->at, p->layers, &err);
    if (rc < 0) {
        snprintf(serr->msg, sizeof(serr->msg), "%.200s", err.msg);
        return rc == SCHED_ENOMEM ? STORAGE_NOMEM : STORAGE_IO;
    }
    return STORAGE_OK; /* an instance deregistered meanwhile: nothing to write */
}

/* On the writer's thread: nobody waits for a heartbeat's write. */
static void persist_done(storage_op_t *op)
{
    persist_t *p = (persist_t *)op;
    json_decref(p->layers);
    free(p);
}

static void persist(server_t *srv, const char *cluster, const char *id, int64_t at, const json_t *layers)
{
    persist_t *p = calloc(1, sizeof(*p));
    if (!p)
        return; /* the next poll tries again: persisted_at is only moved on by a submitted write */
    storage_op_init(&p->op, STORAGE_OP_RECORDS);
    p->op.records_fn = persist_run;
    p->op.records_ctx = p;
    p->op.done = persist_done;
    snprintf(p->cluster, sizeof(p->cluster), "%s", cluster);
    snprintf(p->id, sizeof(p->id), "%s", id);
    p->at = at;
    p->layers = layers ? json_deep_copy(layers) : NULL;
    storage_submit(srv->storage, &p->op);
}

static uint64_t layers_hash(const json_t *layers)
{
    uint64_t h = 14695981039346656037ull;
    size_t i;
    json_t *v;
    json_array_foreach(layers, i, v) h = hash_str(json_string_value(v), h);
    return h;
}

/* ------------------------------------------------------------- the poll */

/* Per event loop: its wake-up queue and one timer list per wait (h2o 2.2.5's
 * timer lists have one duration each). */
struct ecs_agent_loop {
    h2o_multithread_receiver_t wake;
    h2o_timeout_t waits[SCHED_ECS_POLL_WAIT_MAX + 1];
    h2o_linklist_t parked; /* every parked poll of this loop */
    h2o_loop_t *loop;
    bool stopping; /* the loop is closing its connections: polls are answered at once */
};

typedef struct poll {
    aws_req_t a; /* a.req NULL once the client has gone */
    sched_ecs_request_t *r;
    sched_ecs_env_t env;
    char cluster[AGENT_NAME_MAX + 1];
    char id[AGENT_KEY_MAX];
    char caller[ECS_CALLER_KEY_MAX]; /* env.caller: only the instance's own agent polls for it */
    struct ecs_agent_loop *loop;
    agent_entry_t *entry;
    h2o_timeout_entry_t timer;
    h2o_multithread_message_t msg;
    h2o_linklist_t waiter; /* in entry->waiters, under reg.lock */
    h2o_linklist_t parked; /* in loop->parked, on the loop */
    bool in_flight;        /* a wake-up is on its way (under reg.lock) */
    struct poll **guard;   /* in the request's pool */
} poll_t;

static void poll_free(poll_t *p)
{
    if (p->guard)
        *p->guard = NULL;
    if (h2o_timeout_is_linked(&p->timer))
        h2o_timeout_unlink(&p->timer);
    if (h2o_linklist_is_linked(&p->parked))
        h2o_linklist_unlink(&p->parked);
    sched_ecs_request_free(p->r);
    free(p);
}

static void send_ecs_error(aws_req_t *a, const sched_ecs_err_t *err)
{
    aws_send_error(a, err->http_status ? err->http_status : 500, err->type ? err->type : "ServerException", "%s", err->msg);
}

/* Runs the poll on rd; 1 when there is work, 0 when there is none (*out
 * holds the empty answer), -1 after sending an error. */
static int poll_query(poll_t *p, storage_reader_t *rd, json_t **out)
{
    sched_ecs_err_t err = {0};
    p->env.now = (int64_t)time(NULL);
    if (sched_ecs_execute(storage_reader_records(rd), p->r, &p->env, out, &err) != 0) {
        send_ecs_error(&p->a, &err);
        return -1;
    }
    return json_array_size(json_object_get(*out, "tasks")) || json_array_size(json_object_get(*out, "stopTasks"));
}

/* A parked poll's answer, from a fresh snapshot. */
static void poll_finish(poll_t *p)
{
    storage_err_t serr;
    storage_reader_t *rd = storage_reader_begin(p->a.srv->storage, &serr);
    if (!rd) {
        aws_send_error(&p->a, 500, "ServerException", "%s", serr.msg);
    } else {
        json_t *out = NULL;
        if (poll_query(p, rd, &out) >= 0)
            aws_send_result(&p->a, out);
        storage_reader_end(rd);
    }
    poll_free(p);
}

static void on_timeout(h2o_timeout_entry_t *t)
{
    poll_t *p = H2O_STRUCT_FROM_MEMBER(poll_t, timer, t);
    pthread_mutex_lock(&reg.lock);
    bool woken = p->in_flight;
    if (h2o_linklist_is_linked(&p->waiter))
        h2o_linklist_unlink(&p->waiter);
    pthread_mutex_unlock(&reg.lock);
    if (!woken) /* else the wake-up's message answers it */
        poll_finish(p);
}

static void on_wake(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        poll_t *p = H2O_STRUCT_FROM_MEMBER(poll_t, msg, msg);
        pthread_mutex_lock(&reg.lock);
        p->in_flight = false;
        pthread_mutex_unlock(&reg.lock);
        if (p->a.req)
            poll_finish(p);
        else
            poll_free(p);
    }
}

/* The request's pool is going: the agent hung up. */
static void on_guard_dispose(void *g)
{
    poll_t *p = *(poll_t **)g;
    if (!p)
        return;
    p->guard = NULL;
    p->a.req = NULL;
    pthread_mutex_lock(&reg.lock);
    bool woken = p->in_flight;
    if (h2o_linklist_is_linked(&p->waiter))
        h2o_linklist_unlink(&p->waiter);
    pthread_mutex_unlock(&reg.lock);
    if (!woken)
        poll_free(p);
    else if (h2o_timeout_is_linked(&p->timer))
        h2o_timeout_unlink(&p->timer); /* on_wake frees it */
}

static void poll_handle(aws_req_t *a)
{
    server_thread_t *thread = (server_thread_t *)a->req->conn->ctx;
    poll_t *p = calloc(1, sizeof(*p));
    if (!p || !thread->ecs_agent) {
        free(p);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    p->a = *a;
    p->loop = thread->ecs_agent;
    p->env = (sched_ecs_env_t){.region = a->srv->region, .account = a->srv->keys.account_id, .now = (int64_t)time(NULL)};
    ecs_agent_env(a->srv, &p->env);
    ecs_caller_key(&a->caller, p->caller);
    p->env.caller = p->caller;
    sched_ecs_err_t err = {0};
    if (sched_ecs_prepare(a->op->name, a->body, &p->env, &p->r, &err) != 0) {
        send_ecs_error(a, &err);
        poll_free(p);
        return;
    }
    for (size_t i = 0; i < sched_ecs_request_nresources(p->r); i++) {
        if (!aws_allowed_arn(a, sched_ecs_request_action(p->r), sched_ecs_request_resource(p->r, i))) {
            poll_free(p);
            return;
        }
    }
    const char *cluster;
    int wait;
    sched_ecs_poll_target(p->r, &cluster, p->id, &wait);
    snprintf(p->cluster, sizeof(p->cluster), "%s", cluster);
    int max = poll_wait(a->srv);
    wait = wait < 0 || wait > max ? max : wait;

    /* the query first: it finds the instance and checks that the caller is its
     * own agent. Only then is the poll its heartbeat (and its layers kept), so
     * a principal allowed ecs:Poll cannot keep another's instance connected,
     * steer binpack(image) with its layers, or grow the registry with entries
     * for instances that do not exist. The notification count is read before
     * the query, whose snapshot begins after it (the request's own began
     * before): a commit the snapshot lacks notifies after the count was read,
     * so the poll does not sleep through it. */
    pthread_mutex_lock(&reg.lock);
    agent_entry_t *seen = entry_get(p->cluster, p->id, false);
    uint64_t gen = seen ? seen->gen : 0;
    pthread_mutex_unlock(&reg.lock);
    storage_reader_t *after = storage_reader_begin(a->srv->storage, NULL);
    json_t *out = NULL;
    int work = poll_query(p, after ? after : a->rd, &out);
    if (after)
        storage_reader_end(after);
    if (work < 0) {
        poll_free(p);
        return;
    }

    /* the heartbeat */
    const json_t *layers = json_object_get(a->body, "layers");
    uint64_t lh = layers ? layers_hash(layers) : 0;
    pthread_mutex_lock(&reg.lock);
    agent_entry_t *e = entry_get(p->cluster, p->id, true);
    bool write = false;
    if (e) {
        e->last_seen = p->env.now;
        if (p->env.now - e->persisted_at >= PERSIST_EVERY_S || (layers && lh != e->layers_hash)) {
            write = true;
            e->persisted_at = p->env.now;
            if (layers)
                e->layers_hash = lh;
        }
        if (layers && lh != e->held_hash)
            held_set(e, layers, lh);
    }
    /* an entry made just now saw no notification before it: gen counts from here, and the query runs again below */
    bool fresh = e && e != seen;
    if (fresh)
        gen = e->gen;
    pthread_mutex_unlock(&reg.lock);
    if (write)
        persist(a->srv, p->cluster, p->id, p->env.now, layers);
    bool looked = !fresh && after; /* on the request's older snapshot, answer: the agent polls again */
    if (fresh && !work && wait > 0) {
        /* a fresh snapshot holds every commit whose notification went nowhere */
        storage_reader_t *rd = storage_reader_begin(a->srv->storage, NULL);
        if (rd) {
            json_decref(out);
            out = NULL;
            work = poll_query(p, rd, &out);
            storage_reader_end(rd);
            if (work < 0) {
                poll_free(p);
                return;
            }
            looked = true;
        }
    }
    pthread_mutex_lock(&reg.lock);
    /* a notification since the count was read: answer, the agent polls again */
    bool park = !work && wait > 0 && looked && e && e->gen == gen && !p->loop->stopping;
    if (park)
        h2o_linklist_insert(&e->waiters, &p->waiter);
    pthread_mutex_unlock(&reg.lock);
    if (!park) {
        aws_send_result(a, out);
        poll_free(p);
        return;
    }
    json_decref(out);
    p->entry = e;
    p->a.rd = NULL;
    p->a.body = NULL;
    p->guard = h2o_mem_alloc_shared(&a->req->pool, sizeof(*p->guard), on_guard_dispose);
    *p->guard = p;
    p->timer.cb = on_timeout;
    h2o_timeout_link(p->loop->loop, &p->loop->waits[wait], &p->timer);
    h2o_linklist_insert(&p->loop->parked, &p->parked);
}

/* ------------------------------------------------- task role credentials */

/* BerthGetTaskCredentials: scheduler/ says which role the task has (and
 * that the task is live, on the caller's own instance); the session is
 * minted here from the same snapshot, on berthd's authority: the role's
 * trust policy allowed ecs-tasks.amazonaws.com when the task definition was
 * registered and the task started (server/ecs/ecs.c, check_roles). */
static void credentials_handle(aws_req_t *a)
{
    char caller[ECS_CALLER_KEY_MAX];
    sched_ecs_env_t env = {.region = a->srv->region, .account = a->srv->keys.account_id, .now = (int64_t)time(NULL)};
    ecs_agent_env(a->srv, &env);
    ecs_caller_key(&a->caller, caller);
    env.caller = caller;
    sched_ecs_request_t *r = NULL;
    sched_ecs_err_t err = {0};
    json_t *target = NULL;
    if (sched_ecs_prepare(a->op->name, a->body, &env, &r, &err) != 0) {
        send_ecs_error(a, &err);
        return;
    }
    for (size_t i = 0; i < sched_ecs_request_nresources(r); i++) {
        if (!aws_allowed_arn(a, sched_ecs_request_action(r), sched_ecs_request_resource(r, i)))
            goto done;
    }
    storage_records_t *rs = storage_reader_records(a->rd);
    if (sched_ecs_execute(rs, r, &env, &target, &err) != 0) {
        send_ecs_error(a, &err);
        goto done;
    }
    const char *role = json_string_value(json_object_get(target, "roleArn"));
    const char *session = json_string_value(json_object_get(target, "sessionName"));
    auth_session_credentials_t creds;
    auth_err_t aerr = {{0}};
    /* the role must trust ECS's tasks now, not only when the task started: ECS's
     * agent gets each refresh by sts:AssumeRole as that service, so taking
     * ecs-tasks.amazonaws.com out of the trust policy stops the refreshes */
    bool trusted = false;
    auth_identity_status_t s = auth_role_trusts_service(rs, role ? role : "", ECS_TASKS_PRINCIPAL, &trusted, &aerr);
    if (s == AUTH_IDENTITY_OK && !trusted) {
        aws_send_error(a, 400, "ClientException", "task role %s no longer trusts " ECS_TASKS_PRINCIPAL ": no credentials", role);
        goto done;
    }
    if (s == AUTH_IDENTITY_OK)
        s = auth_role_session_mint(rs, &a->srv->keys, role ? role : "", session ? session : "", TASK_CREDENTIALS_SECONDS,
                                   server_auth_now(a->srv), &creds, NULL, &aerr);
    if (s == AUTH_IDENTITY_NOT_FOUND || s == AUTH_IDENTITY_INVALID) {
        aws_send_error(a, 400, "ClientException", "task role %s: %s", role ? role : "", aerr.msg);
    } else if (s != AUTH_IDENTITY_OK) {
        aws_send_error(a, 500, "ServerException", "task role %s: %s", role ? role : "", aerr.msg);
    } else {
        json_t *out =
            json_pack("{s:O,s:O,s:{s:s,s:s,s:s,s:I}}", "taskArn", json_object_get(target, "taskArn"), "roleArn",
                      json_object_get(target, "roleArn"), "credentials", "accessKeyId", creds.access_key_id, "secretAccessKey",
                      creds.secret, "sessionToken", creds.token, "expiration", (json_int_t)creds.expires_at);
        aws_send_result(a, out); /* NULL: out of memory, answered as such; its strings are wiped once sent */
    }
    OPENSSL_cleanse(&creds, sizeof(creds));
done:
    json_decref(target);
    sched_ecs_request_free(r);
}

/* "arn:aws:ecs:REGION:ACCOUNT:container-instance/CLUSTER/ID": wakes that instance's polls */
void ecs_agent_notify_instance(const char *arn)
{
    const char *p = arn ? strstr(arn, ":container-instance/") : NULL;
    if (!p)
        return;
    p += strlen(":container-instance/");
    const char *slash = strrchr(p, '/');
    if (!slash || (size_t)(slash - p) > AGENT_NAME_MAX)
        return;
    char cluster[AGENT_NAME_MAX + 1];
    memcpy(cluster, p, (size_t)(slash - p));
    cluster[slash - p] = '\0';
    pthread_mutex_lock(&reg.lock);
    agent_entry_t *e = entry_get(cluster, slash + 1, false);
    if (e) {
        e->gen++;
        while (!h2o_linklist_is_empty(&e->waiters)) {
            poll_t *w = H2O_STRUCT_FROM_MEMBER(poll_t, waiter, e->waiters.next);
            h2o_linklist_unlink(&w->waiter);
            w->in_flight = true;
            h2o_multithread_send_message(&w->loop->wake, &w->msg);
        }
    }
    pthread_mutex_unlock(&reg.lock);
}

void ecs_agent_notify_reply(const json_t *reply)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(reply, "tasks"), i, t)
        ecs_agent_notify_instance(json_string_value(json_object_get(t, "containerInstanceArn")));
    ecs_agent_notify_instance(json_string_value(json_object_get(json_object_get(reply, "task"), "containerInstanceArn")));
}

int ecs_agent_loop_init(server_thread_t *t)
{
    struct ecs_agent_loop *l = calloc(1, sizeof(*l));
    if (!l)
        return -1;
    l->loop = t->ctx.loop;
    h2o_linklist_init_anchor(&l->parked);
    for (int s = 0; s <= SCHED_ECS_POLL_WAIT_MAX; s++)
        h2o_timeout_init(l->loop, &l->waits[s], (uint64_t)s * 1000);
    h2o_multithread_register_receiver(t->ctx.queue, &l->wake, on_wake);
    t->ecs_agent = l;
    return 0;
}

void ecs_agent_loop_stop(server_thread_t *t)
{
    struct ecs_agent_loop *l = t->ecs_agent;
    if (!l)
        return;
    /* answer every parked poll now, and every poll from now on at once (one that
     * arrives on a kept-alive connection while the loop drains would otherwise
     * hold its connection open past the end of the loop) */
    l->stopping = true;
    while (!h2o_linklist_is_empty(&l->parked)) {
        poll_t *p = H2O_STRUCT_FROM_MEMBER(poll_t, parked, l->parked.next);
        h2o_linklist_unlink(&p->parked);
        pthread_mutex_lock(&reg.lock);
        bool woken = p->in_flight;
        if (h2o_linklist_is_linked(&p->waiter))
            h2o_linklist_unlink(&p->waiter);
        pthread_mutex_unlock(&reg.lock);
        if (!woken) /* else its wake-up, already queued, answers it */
            poll_finish(p);
    }
}

void ecs_agent_loop_dispose(server_thread_t *t)
{
    struct ecs_agent_loop *l = t->ecs_agent;
    if (!l)
        return;
    /* the loops have stopped: wake-ups still queued and polls still parked are dropped */
    on_wake(&l->wake, &l->wake._messages);
    while (!h2o_linklist_is_empty(&l->parked)) {
        poll_t *p = H2O_STRUCT_FROM_MEMBER(poll_t, parked, l->parked.next);
        pthread_mutex_lock(&reg.lock);
        if (h2o_linklist_is_linked(&p->waiter))
            h2o_linklist_unlink(&p->waiter);
        pthread_mutex_unlock(&reg.lock);
        poll_free(p);
    }
    h2o_multithread_unregister_receiver(t->ctx.queue, &l->wake);
    for (int s = 0; s <= SCHED_ECS_POLL_WAIT_MAX; s++)
        h2o_timeout_dispose(l->loop, &l->waits[s]);
    free(l);
    t->ecs_agent = NULL;
}

/* ----------------------------------------------------------- lost tasks */

static struct {
    pthread_t tid;
    bool running, stop;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    server_t *srv;
} sweeper = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

typedef struct {
    const sched_ecs_env_t *env;
    const json_t *found;
    size_t stopped;
    sched_ecs_err_t err;
} mark_t;

static storage_status_t mark_run(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    mark_t *m = ctx;
    int rc = sched_ecs_mark_lost(rs, m->env, m->found, &m->stopped, &m->err);
    if (rc) {
        snprintf(serr->msg, sizeof(serr->msg), "%.200s", m->err.msg);
        return rc == SCHED_ENOMEM ? STORAGE_NOMEM : STORAGE_IO;
    }
    return STORAGE_OK;
}

/* when the sweeper started: berthd's start */
static int64_t sweeper_started_at;

/* A task is lost only after this process has itself heard nothing for the
 * timeout: after a restart the in-memory heartbeats are gone and the stored
 * one may be a minute old (PERSIST_EVERY_S), so an agent that had not yet
 * reconnected would lose its tasks at once under a short timeout. */
static int64_t last_seen_since_start(void *ctx, const char *cluster, const char *id)
{
    int64_t t = last_seen(ctx, cluster, id);
    return t > sweeper_started_at ? t : sweeper_started_at;
}

static void sweep(server_t *srv)
{
    sched_ecs_env_t env = {.region = srv->region, .account = srv->keys.account_id, .now = (int64_t)time(NULL)};
    ecs_agent_env(srv, &env);
    env.last_seen = last_seen_since_start;
    storage_err_t serr;
    storage_reader_t *rd = storage_reader_begin(srv->storage, &serr);
    if (!rd)
        return;
    json_t *found = NULL;
    sched_ecs_err_t err;
    int rc = sched_ecs_find_lost(storage_reader_records(rd), &env, &found, &err);
    storage_reader_end(rd);
    if (rc == 0 && json_array_size(found) > 0) {
        mark_t m = {.env = &env, .found = found};
        storage_op_t op;
        storage_op_init(&op, STORAGE_OP_RECORDS);
        op.records_fn = mark_run;
        op.records_ctx = &m;
        if (storage_execute(srv->storage, &op) == STORAGE_OK && m.stopped)
            fprintf(stderr, "berthd: %zu task(s) of container instances silent for more than %lld s marked STOPPED (lost)\n",
                    m.stopped, (long long)env.task_lost_timeout);
    } else if (rc) {
        fprintf(stderr, "berthd: looking for lost tasks: %s\n", err.msg);
    }
    json_decref(found);
}

static void *sweeper_main(void *arg)
{
    server_t *srv = arg;
    int64_t lost = srv->ecs_task_lost_timeout > 0 ? srv->ecs_task_lost_timeout : SCHED_ECS_TASK_LOST_TIMEOUT_DEFAULT;
    /* a task is marked at most a quarter of the timeout late */
    int64_t every = lost / 4 < 1 ? 1 : lost / 4 > 30 ? 30 : lost / 4;
    pthread_mutex_lock(&sweeper.lock);
    while (!sweeper.stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += every;
        while (!sweeper.stop && pthread_cond_timedwait(&sweeper.cond, &sweeper.lock, &ts) == 0) {
        }
        if (sweeper.stop)
            break;
        pthread_mutex_unlock(&sweeper.lock);
        sweep(srv);
        pthread_mutex_lock(&sweeper.lock);
    }
    pthread_mutex_unlock(&sweeper.lock);
    return NULL;
}

int ecs_agent_sweeper_start(server_t *srv)
{
    sweeper.stop = false;
    sweeper_started_at = (int64_t)time(NULL);
    if (pthread_create(&sweeper.tid, NULL, sweeper_main, srv) != 0)
        return -1;
    sweeper.running = true;
    return 0;
}

void ecs_agent_sweeper_stop(void)
{
    if (!sweeper.running)
        return;
    pthread_mutex_lock(&sweeper.lock);
    sweeper.stop = true;
    pthread_cond_broadcast(&sweeper.cond);
    pthread_mutex_unlock(&sweeper.lock);
    pthread_join(sweeper.tid, NULL);
    sweeper.running = false;
}
