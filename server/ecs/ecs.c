/*
 * What every ECS operation shares: the request is validated and named by
 * scheduler/ (sched_ecs_prepare: the ecs: action and the resource ARNs),
 * authorized here on each ARN by the policy engine, then run by scheduler/
 * on the cluster state: on the request's snapshot when it only reads, in one
 * records transaction on the store's writer when it writes (so a placement
 * and its claims commit together), and answered once durable.
 */
#include <jansson.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scheduler/scheduler.h"
#include "server/metrics_internal.h"

typedef struct {
    aws_req_t a; /* the request as the handler had it, minus its snapshot and body */
    sched_ecs_request_t *r;
    sched_ecs_env_t env;
    json_t *out;
    int rc;
    sched_ecs_err_t err;
    char caller[ECS_CALLER_KEY_MAX]; /* env.caller */
} ecs_pending_t;

/* Wakes the agents of the instances a service step touched (env->touched), once committed. */
static void notify_touched(const json_t *touched)
{
    size_t i;
    json_t *arn;
    json_array_foreach(touched, i, arn) ecs_agent_notify_instance(json_string_value(arn));
}

/* RunTask's cache of a cluster's placement state (sched_ecs_cache_t). Only
 * the store's writer uses it, inside records closures; the lock is for a
 * process with more than one store (tests), whose writers would otherwise
 * share it. It stays for the process's life, reachable from here. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static sched_ecs_cache_t *cache;
static const storage_t *cache_store;

/* The service scheduler's timer (ecs_services_timer_start): its thread and how it is told to stop. */
#define SERVICE_TICK_MS_DEFAULT 3000 /* "a few seconds": replaces lost tasks and rolls deployments on */
#define SERVICE_TICK_MS_MIN 100
#define SERVICE_TICK_MS_MAX 600000
static pthread_mutex_t timer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t timer_cond = PTHREAD_COND_INITIALIZER;
static bool timer_running, timer_stopping;
static pthread_t timer_thread;
static long timer_ms = SERVICE_TICK_MS_DEFAULT;

void ecs_caller_key(const server_caller_t *who, char out[ECS_CALLER_KEY_MAX])
{
    snprintf(out, ECS_CALLER_KEY_MAX, "%s#%s", who->principal.arn, who->principal.id);
}

/* env.check_roles: the caller passes a task definition's roles to ECS's
 * tasks, so it needs iam:PassRole on each (iam:PassedToService
 * ecs-tasks.amazonaws.com), and each role's trust policy must let
 * ecs-tasks.amazonaws.com assume it, as in AWS. Runs in the writer's
 * transaction, on the same records as the change. */
static int check_roles(void *ctx, storage_records_t *rs, const char *task_role, const char *exec_role, sched_ecs_err_t *err)
{
    const server_caller_t *who = ctx;
    const char *const roles[2] = {task_role, exec_role}, *const fields[2] = {"taskRoleArn", "executionRoleArn"};
    for (size_t i = 0; i < 2; i++) {
        if (!roles[i])
            continue;
        bool allowed = false;
        auth_err_t aerr = {{0}};
        if (auth_pass_role_allowed(rs, &who->principal, roles[i], ECS_TASKS_PRINCIPAL, &allowed, NULL, &aerr) != AUTH_IDENTITY_OK) {
            snprintf(err->msg, sizeof(err->msg), "cannot read the caller's policies: %.400s", aerr.msg);
            err->type = "ServerException", err->http_status = 500;
            return SCHED_EIO;
        }
        if (!allowed) {
            snprintf(err->msg, sizeof(err->msg), "User: %.200s is not authorized to perform: iam:PassRole on resource: %.200s (%s)",
                     server_caller_arn(who), roles[i], fields[i]);
            err->type = "AccessDeniedException", err->http_status = 400;
            return SCHED_EINVAL;
        }
        auth_identity_status_t s = auth_role_trusts_service(rs, roles[i], ECS_TASKS_PRINCIPAL, &allowed, &aerr);
        if (s != AUTH_IDENTITY_OK && s != AUTH_IDENTITY_NOT_FOUND) {
            snprintf(err->msg, sizeof(err->msg), "cannot read the role %.300s: %.180s", roles[i], aerr.msg);
            err->type = "ServerException", err->http_status = 500;
            return SCHED_EIO;
        }
        if (s == AUTH_IDENTITY_NOT_FOUND || !allowed) {
            snprintf(err->msg, sizeof(err->msg), "%s: Role is not valid: %.300s %s", fields[i], roles[i],
                     s == AUTH_IDENTITY_NOT_FOUND ? "is not a role of this account"
                                                  : "does not trust " ECS_TASKS_PRINCIPAL
                                                    " (its trust policy must allow that service principal sts:AssumeRole)");
            err->type = "ClientException", err->http_status = 400;
            return SCHED_EINVAL;
        }
    }
    return 0;
}

static void send_ecs_error(aws_req_t *a, const sched_ecs_err_t *err)
{
    aws_send_error(a, err->http_status ? err->http_status : 500, err->type ? err->type : "ServerException", "%s", err->msg);
}

static void pending_free(void *user)
{
    ecs_pending_t *p = user;
    sched_ecs_request_free(p->r);
    json_decref(p->out);
    json_decref(p->env.touched);
    free(p);
}

/* On the writer thread: the whole operation in one transaction. Anything but
 * success undoes what it wrote. It may run again (a future backend retries
 * on conflicts), so it starts from nothing each time. */
static storage_status_t run(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    ecs_pending_t *p = ctx;
    json_decref(p->out);
    p->out = NULL;
    memset(&p->err, 0, sizeof(p->err));
    json_array_clear(p->env.touched);
    pthread_mutex_lock(&cache_lock);
    if (cache && cache_store != p->a.srv->storage) {
        /* another store's writer: its tokens would never match ours, start afresh */
        sched_ecs_cache_free(cache);
        cache = NULL;
    }
    if (!cache && (cache = sched_ecs_cache_new()))
        cache_store = p->a.srv->storage;
    p->env.cache = cache; /* NULL when out of memory: placement then loads the cluster itself */
    p->rc = sched_ecs_execute(rs, p->r, &p->env, &p->out, &p->err);
    p->env.cache = NULL;
    pthread_mutex_unlock(&cache_lock);
    if (p->rc == 0)
        return STORAGE_OK;
    snprintf(serr->msg, sizeof(serr->msg), "%.200s", p->err.msg);
    return p->rc == SCHED_ENOMEM ? STORAGE_NOMEM : p->rc == SCHED_EINVAL ? STORAGE_INVALID : STORAGE_IO;
}

static void complete(server_op_t *sop, h2o_req_t *req)
{
    ecs_pending_t *p = sop->user;
    p->a.req = req;
    if (sop->op.status == STORAGE_OK) {
        json_t *out = p->out;
        p->out = NULL;
        if (strcmp(p->a.op->name, "RunTask") == 0)
            metrics_note_runtask(req, json_array_size(json_object_get(out, "tasks")),
                                 json_array_size(json_object_get(out, "failures")));
        ecs_agent_notify_reply(out);    /* tasks placed or stopped: their agents' polls answer now */
        notify_touched(p->env.touched); /* and those the service step placed or stopped */
        aws_send_result(&p->a, out);
    } else if (p->rc) {
        send_ecs_error(&p->a, &p->err);
    } else {
        aws_send_error(&p->a, 500, "ServerException", "cluster state: %s", sop->op.err.msg);
    }
}

void ecs_handle(aws_req_t *a)
{
    ecs_pending_t *p = calloc(1, sizeof(*p));
    if (!p) {
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    p->env = (sched_ecs_env_t){.region = a->srv->region, .account = a->srv->keys.account_id, .now = (int64_t)time(NULL)};
    ecs_agent_env(a->srv, &p->env);
    if (!(p->env.touched = json_array())) {
        aws_send_error(a, 500, "ServerException", "out of memory");
        free(p);
        return;
    }
    /* new ids come from the seed: 64 random bits per request */
    if (RAND_bytes((unsigned char *)&p->env.seed, sizeof(p->env.seed)) != 1) {
        aws_send_error(a, 500, "ServerException", "no randomness for new ids");
        pending_free(p); /* frees env.touched too */
        return;
    }
    if (sched_ecs_prepare(a->op->name, a->body, &p->env, &p->r, &p->err) != 0) {
        send_ecs_error(a, &p->err);
        pending_free(p);
        return;
    }
    ecs_caller_key(&a->caller, p->caller);
    p->env.caller = p->caller;
    const char *action = sched_ecs_request_action(p->r);
    /* ECS's condition key ecs:cluster: the cluster the request acts in, so that a policy can confine
     * RunTask (authorized on the task definition) and the rest to clusters */
    char cluster_arn[64 + 256 + 32]; /* the prefix, a cluster name (at most 255), room */
    const char *cluster = sched_ecs_request_cluster(p->r);
    const char *const cluster_values[] = {cluster_arn};
    policy_context_entry_t ctx[2] = {{.key = "ecs:cluster", .values = cluster_values, .n_values = 1},
                                     {.key = "ecs:container-instances"}};
    size_t nctx = 0;
    if (cluster) {
        snprintf(cluster_arn, sizeof(cluster_arn), "arn:aws:ecs:%s:%s:cluster/%s", p->env.region, p->env.account, cluster);
        nctx = 1;
    }
    /* and StartTask's ecs:container-instances: the instances it starts tasks on */
    const char *const *instances;
    size_t ninstances = sched_ecs_request_instances(p->r, &instances);
    if (cluster && ninstances) {
        ctx[1].values = instances;
        ctx[1].n_values = ninstances;
        nctx = 2;
    }
    for (size_t i = 0; i < sched_ecs_request_nresources(p->r); i++) {
        if (!aws_allowed_arn_ctx(a, action, sched_ecs_request_resource(p->r, i), ctx, nctx)) {
            pending_free(p);
            return;
        }
    }
    if (!sched_ecs_request_writes(p->r)) {
        if (sched_ecs_execute(storage_reader_records(a->rd), p->r, &p->env, &p->out, &p->err) != 0) {
            send_ecs_error(a, &p->err);
        } else {
            aws_send_result(a, p->out);
            p->out = NULL;
        }
        pending_free(p);
        return;
    }
    v2_req_t r = {.req = a->req, .srv = a->srv};
    server_op_t *sop = server_op_new(&r, STORAGE_OP_RECORDS, complete);
    if (!sop) {
        aws_send_error(a, 500, "ServerException", "out of memory");
        pending_free(p);
        return;
    }
    p->a = *a;
    p->a.rd = NULL;
    p->a.body = NULL;
    p->env.check_roles = check_roles;
    p->env.check_roles_ctx = &p->a.caller; /* lives as long as p */
    sop->user = p;
    sop->free_user = pending_free;
    sop->op.records_fn = run;
    sop->op.records_ctx = p;
    server_op_submit(sop);
}

/* ------------------------------------------- the service scheduler's timer */

typedef struct {
    server_t *srv;
    sched_ecs_env_t env;
    sched_ecs_err_t err;
    int rc;
} tick_t;

static storage_status_t tick_run(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    tick_t *t = ctx;
    memset(&t->err, 0, sizeof(t->err));
    json_array_clear(t->env.touched);
    pthread_mutex_lock(&cache_lock);
    if (cache && cache_store != t->srv->storage) {
        sched_ecs_cache_free(cache);
        cache = NULL;
    }
    if (!cache && (cache = sched_ecs_cache_new()))
        cache_store = t->srv->storage;
    t->env.cache = cache;
    t->rc = sched_ecs_services_tick(rs, &t->env, &t->err);
    t->env.cache = NULL;
    pthread_mutex_unlock(&cache_lock);
    if (t->rc == 0)
        return STORAGE_OK;
    snprintf(serr->msg, sizeof(serr->msg), "%.200s", t->err.msg);
    return t->rc == SCHED_ENOMEM ? STORAGE_NOMEM : t->rc == SCHED_EINVAL ? STORAGE_INVALID : STORAGE_IO;
}

/* ------------------------------------------- STOPPED tasks' retention */

/* batches one expiry pass deletes at most: the rest wait for the next pass */
#define EXPIRE_MAX_BATCHES 8

typedef struct {
    const json_t *found;
    int64_t now, retention;
    size_t deleted;
    sched_ecs_err_t err;
} expire_t;

static storage_status_t expire_run(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    expire_t *e = ctx;
    memset(&e->err, 0, sizeof(e->err));
    int rc = sched_ecs_delete_expired(rs, e->now, e->retention, e->found, &e->deleted, &e->err);
    if (rc == 0)
        return STORAGE_OK;
    snprintf(serr->msg, sizeof(serr->msg), "%.200s", e->err.msg);
    return rc == SCHED_ENOMEM ? STORAGE_NOMEM : STORAGE_IO;
}

/* Deletes the STOPPED tasks past --ecs-stopped-task-retention: each batch
 * found on a snapshot, then deleted in its own short write transaction. */
static void expire_stopped(server_t *srv)
{
    int64_t retention = srv->ecs_stopped_retention > 0 ? srv->ecs_stopped_retention : SCHED_ECS_STOPPED_RETENTION_DEFAULT;
    int64_t now = (int64_t)time(NULL);
    for (int b = 0; b < EXPIRE_MAX_BATCHES; b++) {
        storage_err_t serr;
        storage_reader_t *rd = storage_reader_begin(srv->storage, &serr);
        if (!rd)
            return;
        json_t *found = NULL;
        sched_ecs_err_t err;
        int rc = sched_ecs_find_expired(storage_reader_records(rd), now, retention, SCHED_ECS_EXPIRE_BATCH, &found, &err);
        storage_reader_end(rd);
        if (rc) {
            fprintf(stderr, "berthd: looking for expired STOPPED tasks: %s\n", err.msg);
            return;
        }
        size_t n = json_array_size(found);
        if (n > 0) {
            expire_t e = {.found = found, .now = now, .retention = retention};
            storage_op_t op;
            storage_op_init(&op, STORAGE_OP_RECORDS);
            op.records_fn = expire_run;
            op.records_ctx = &e;
            if (storage_execute(srv->storage, &op) != STORAGE_OK) {
                fprintf(stderr, "berthd: deleting expired STOPPED tasks: %s\n", op.err.msg);
                n = 0;
            }
        }
        json_decref(found);
        if (n < SCHED_ECS_EXPIRE_BATCH)
            return;
    }
}

static void *timer_main(void *arg)
{
    server_t *srv = arg;
    int64_t retention = srv->ecs_stopped_retention > 0 ? srv->ecs_stopped_retention : SCHED_ECS_STOPPED_RETENTION_DEFAULT;
    /* a task is deleted at most a tenth of the retention late (and a minute): the
     * snapshot scan of every task record is not worth making every tick */
    int64_t expire_every = retention / 10 < 1 ? 1 : retention / 10 > 60 ? 60 : retention / 10, expired_at = 0;
    pthread_mutex_lock(&timer_lock);
    while (!timer_stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timer_ms / 1000;
        until.tv_nsec += (timer_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!timer_stopping && pthread_cond_timedwait(&timer_cond, &timer_lock, &until) == 0)
            ;
        if (timer_stopping)
            break;
        pthread_mutex_unlock(&timer_lock);
        tick_t t = {.srv = srv,
                    .env = {.region = srv->region,
                            .account = srv->keys.account_id,
                            .now = (int64_t)time(NULL),
                            .agent_timeout = SCHED_ECS_AGENT_TIMEOUT_DEFAULT}};
        ecs_agent_env(srv, &t.env); /* agentConnected as the operations see it */
        t.env.touched = json_array();
        if (t.env.touched && RAND_bytes((unsigned char *)&t.env.seed, sizeof(t.env.seed)) == 1) {
            storage_op_t op;
            storage_op_init(&op, STORAGE_OP_RECORDS);
            op.records_fn = tick_run;
            op.records_ctx = &t;
            if (storage_execute(srv->storage, &op) != STORAGE_OK)
                fprintf(stderr, "berthd: service scheduler step failed: %s\n", op.err.msg);
            else
                notify_touched(t.env.touched); /* the tasks it placed reach their agents now, not at their next poll */
        }
        json_decref(t.env.touched);
        if (t.env.now - expired_at >= expire_every) {
            expired_at = t.env.now;
            expire_stopped(srv);
        }
        pthread_mutex_lock(&timer_lock);
    }
    pthread_mutex_unlock(&timer_lock);
    return NULL;
}

int ecs_services_timer_start(server_t *srv)
{
    const char *v = getenv("BERTH_ECS_SERVICE_TICK_MS");
    if (v) {
        char *end;
        long ms = strtol(v, &end, 10);
        if (*end || ms < SERVICE_TICK_MS_MIN || ms > SERVICE_TICK_MS_MAX) {
            fprintf(stderr, "berthd: BERTH_ECS_SERVICE_TICK_MS must be %d to %d milliseconds\n", SERVICE_TICK_MS_MIN,
                    SERVICE_TICK_MS_MAX);
            return -1;
        }
        timer_ms = ms;
    }
    pthread_mutex_lock(&timer_lock);
    timer_stopping = false;
    int rc = pthread_create(&timer_thread, NULL, timer_main, srv);
    timer_running = rc == 0;
    pthread_mutex_unlock(&timer_lock);
    if (rc) {
        fprintf(stderr, "berthd: cannot start the service scheduler's timer: %s\n", strerror(rc));
        return -1;
    }
    return 0;
}

void ecs_services_timer_stop(void)
{
    pthread_mutex_lock(&timer_lock);
    if (!timer_running) {
        pthread_mutex_unlock(&timer_lock);
        return;
    }
    timer_stopping = true;
    pthread_cond_broadcast(&timer_cond);
    pthread_mutex_unlock(&timer_lock);
    pthread_join(timer_thread, NULL);
    timer_running = false;
}
