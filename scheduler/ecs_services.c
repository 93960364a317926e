/*
 * scheduler/ecs_services.c — the service scheduler's decisions, pure: given
 * a service (desired count, deployment bounds, its PRIMARY deployment, its
 * placement strategies), its live tasks and the cluster's instances, what to
 * start and what to stop in one step. ecs_service_state.c runs the step on
 * the store (placing the starts with the engine, as RunTask does); the
 * tests call this directly.
 *
 * The rules are ECS's rolling-update rules:
 *   - a task counts towards maximumPercent while it is PENDING or RUNNING,
 *     including one asked to stop that has not stopped yet;
 *   - a task counts as healthy (towards minimumHealthyPercent) once RUNNING
 *     and not asked to stop;
 *   - the upper bound is desired x maximumPercent / 100 rounded down, the
 *     lower desired x minimumHealthyPercent / 100 rounded up;
 *   - tasks of the PRIMARY deployment on ACTIVE instances are "good": the
 *     service wants exactly desiredCount of them. Tasks of older
 *     deployments, and those on DRAINING (or vanished) instances, are
 *     replaced: a replacement is started when the upper bound allows, and
 *     an old task is stopped only while the healthy ones stay at or above
 *     the lower bound. PENDING old tasks are not healthy: they go at once.
 *   - scale-in (more good tasks than desired) chooses its tasks with the
 *     engine's sched_scale_in, which keeps a spread balanced.
 */
#include "scheduler/scheduler_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool on_active_instance(const sched_cluster_t *c, const sched_svc_task_t *t)
{
    return c && t->instance < c->n && c->inst[t->instance].status == SCHED_INSTANCE_ACTIVE;
}

void sched_svc_bounds(size_t desired, unsigned min_pct, unsigned max_pct, size_t *min_healthy, size_t *max_total)
{
    *min_healthy = (desired * min_pct + 99) / 100;
    *max_total = desired * max_pct / 100;
}

static sched_status_t add_stop(sched_svc_plan_t *p, size_t task, sched_svc_stop_why_t why, sched_err_t *err)
{
    sched_svc_stop_t *s = realloc(p->stop, (p->nstop + 1) * sizeof(*s));
    if (!s) {
        sched_err_set(err, SCHED_ENOMEM, SIZE_MAX, "out of memory");
        return SCHED_ENOMEM;
    }
    p->stop = s;
    p->stop[p->nstop++] = (sched_svc_stop_t){task, why};
    return SCHED_OK;
}

/* Chooses `count` of the good tasks to stop with the engine's scale-in on c
 * (the good tasks are added to c under spec->group, so c gains them). */
static sched_status_t scale_in(sched_cluster_t *c, const sched_svc_spec_t *spec, const sched_svc_task_t *tasks, size_t ntasks,
                               const bool *good, size_t count, sched_svc_plan_t *p, sched_err_t *err)
{
    sched_status_t st;
    for (size_t i = 0; i < ntasks; i++) {
        if (!good[i])
            continue;
        sched_task_spec_t ts = {.arn = tasks[i].arn, .family = "", .group = spec->group};
        if ((st = sched_cluster_add_task(c, tasks[i].instance, &ts, err)) != SCHED_OK)
            return st;
    }
    sched_scale_in_request_t req = {
        .group = spec->group, .count = count, .strategies = spec->strategies, .nstrategies = spec->nstrategies, .seed = spec->seed};
    sched_scale_in_t out;
    if ((st = sched_scale_in(c, &req, &out, err)) != SCHED_OK)
        return st;
    for (size_t k = 0; k < out.nstopped && st == SCHED_OK; k++) {
        for (size_t i = 0; i < ntasks; i++) {
            if (good[i] && out.stopped[k].task_arn && strcmp(out.stopped[k].task_arn, tasks[i].arn) == 0) {
                st = add_stop(p, i, SCHED_SVC_STOP_SCALE_IN, err);
                break;
            }
        }
    }
    sched_scale_in_free(&out);
    return st;
}

sched_status_t sched_service_plan(sched_cluster_t *c, const sched_svc_spec_t *spec, const sched_svc_task_t *tasks, size_t ntasks,
                                  sched_svc_plan_t *out, sched_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (ntasks && (!tasks || !c)) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "a service's tasks need the cluster they run on");
        return SCHED_EINVAL;
    }
    if (!spec || !spec->group || !spec->primary || spec->max_pct < 100 || spec->min_pct > 100) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX,
                      "a service needs a group, a primary deployment, minimumHealthyPercent <= 100 "
                      "and maximumPercent >= 100");
        return SCHED_EINVAL;
    }
    bool *good = calloc(ntasks ? ntasks : 1, sizeof(*good));
    if (!good) {
        sched_err_set(err, SCHED_ENOMEM, SIZE_MAX, "out of memory");
        return SCHED_ENOMEM;
    }
    size_t min_healthy, max_total;
    sched_svc_bounds(spec->desired, spec->min_pct, spec->max_pct, &min_healthy, &max_total);
    size_t total = ntasks, healthy = 0, ngood = 0, stopping = 0;
    for (size_t i = 0; i < ntasks; i++) {
        const sched_svc_task_t *t = &tasks[i];
        healthy += t->state == SCHED_SVC_RUNNING;
        stopping += t->state == SCHED_SVC_STOPPING;
        good[i] = t->state != SCHED_SVC_STOPPING && t->deployment && strcmp(t->deployment, spec->primary) == 0 &&
                  on_active_instance(c, t);
        ngood += good[i];
    }
    sched_status_t st = SCHED_OK;
    /* 1. scale in: more good tasks than wanted (a lower desiredCount) */
    if (ngood > spec->desired) {
        size_t first = out->nstop;
        if ((st = scale_in(c, spec, tasks, ntasks, good, ngood - spec->desired, out, err)) != SCHED_OK)
            goto done;
        for (size_t k = first; k < out->nstop; k++) {
            size_t i = out->stop[k].task;
            good[i] = false;
            ngood--;
            if (tasks[i].state == SCHED_SVC_RUNNING)
                healthy--; /* it stops, but still counts towards the upper bound until it has */
            else
                total--; /* a PENDING task stops at once */
        }
    }
    /* 2. replace: old deployments' tasks and those on draining instances.
     * PENDING ones are not healthy and go first; RUNNING ones while the
     * healthy stay at or above the lower bound. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < ntasks; i++) {
            const sched_svc_task_t *t = &tasks[i];
            if (good[i] || t->state == SCHED_SVC_STOPPING)
                continue;
            bool stopped = false;
            for (size_t k = 0; k < out->nstop; k++)
                stopped |= out->stop[k].task == i;
            if (stopped)
                continue;
            sched_svc_stop_why_t why =
                t->deployment && strcmp(t->deployment, spec->primary) == 0 ? SCHED_SVC_STOP_DRAINING : SCHED_SVC_STOP_OLD;
            if (pass == 0 && t->state == SCHED_SVC_PENDING) {
                if ((st = add_stop(out, i, why, err)) != SCHED_OK)
                    goto done;
                total--;
            } else if (pass == 1 && t->state == SCHED_SVC_RUNNING && healthy > min_healthy) {
                if ((st = add_stop(out, i, why, err)) != SCHED_OK)
                    goto done;
                healthy--;
            }
        }
    }
    /* 3. start what the primary deployment lacks, within the upper bound */
    size_t want = spec->desired > ngood ? spec->desired - ngood : 0;
    size_t room = max_total > total ? max_total - total : 0;
    out->start = want < room ? want : room;
    out->healthy_after = healthy;
    out->total_after = total + out->start;
    /* steady: exactly the desired good tasks, all running, nothing else left */
    size_t good_running = 0;
    for (size_t i = 0; i < ntasks; i++)
        good_running += good[i] && tasks[i].state == SCHED_SVC_RUNNING;
    out->steady =
        out->nstop == 0 && out->start == 0 && stopping == 0 && ngood == spec->desired && good_running == ngood && ntasks == ngood;
done:
    free(good);
    if (st != SCHED_OK)
        sched_svc_plan_free(out);
    return st;
}

void sched_svc_plan_free(sched_svc_plan_t *p)
{
    free(p->stop);
    p->stop = NULL;
    p->nstop = 0;
}

/* ------------------------------------------------ the operations' shapes */

/* ECS's quota of tasks per service */
#define SVC_MAX_DESIRED 5000
/* DescribeServices takes at most 10 services, as ECS */
#define SVC_MAX_DESCRIBE 10
/* maximumPercent past this would only be a typo: ECS documents no higher use */
#define SVC_MAX_PERCENT 1000

#define BAD(...) (sched_ecs_err(err, "InvalidParameterException", 400, __VA_ARGS__), SCHED_EINVAL)
#define ARN_PREFIX "arn:aws:ecs:%s:%s:"

bool sched_ecs_service_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SCHED_ECS_NAME_MAX)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

bool sched_ecs_parse_service(const char *s, const char *cluster, char *name)
{
    /* a name, or arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME (or the older service/NAME) */
    if (strncmp(s, "arn:", 4) == 0) {
        const char *p = s;
        for (int colons = 0; colons < 5 && p; colons++)
            if ((p = strchr(p, ':')))
                p++;
        const char *svc = strchr(s + 4, ':');
        if (!p || !svc || strncmp(svc, ":ecs:", 5) != 0 || strncmp(p, "service/", 8) != 0)
            return false;
        p += 8;
        const char *slash = strchr(p, '/');
        if (slash) {
            if ((size_t)(slash - p) != strlen(cluster) || strncmp(p, cluster, strlen(cluster)) != 0)
                return false;
            p = slash + 1;
        }
        s = p;
    }
    if (!sched_ecs_service_name_ok(s))
        return false;
    snprintf(name, SCHED_ECS_NAME_MAX + 1, "%s", s);
    return true;
}

static int service_resource(sched_ecs_request_t *r, const sched_ecs_env_t *env, const char *name, sched_ecs_err_t *err)
{
    return sched_ecs_add_resource(r, err, ARN_PREFIX "service/%s/%s", env->region, env->account, r->cluster, name);
}

static int deployment_config(const json_t *b, sched_ecs_err_t *err)
{
    json_t *dc;
    int rc = sched_ecs_get_object(b, "", "deploymentConfiguration", &dc, err);
    if (rc || !dc)
        return rc;
    static const char *const f[] = {"maximumPercent", "minimumHealthyPercent", "deploymentCircuitBreaker"};
    long long max = 200, min = 100;
    json_t *cb;
    if ((rc = sched_ecs_check_fields(dc, "deploymentConfiguration.", f, 3, err)) ||
        (rc = sched_ecs_get_int(dc, "deploymentConfiguration.", "maximumPercent", false, 100, SVC_MAX_PERCENT, &max, NULL, err)) ||
        (rc = sched_ecs_get_int(dc, "deploymentConfiguration.", "minimumHealthyPercent", false, 0, 100, &min, NULL, err)) ||
        (rc = sched_ecs_get_object(dc, "deploymentConfiguration.", "deploymentCircuitBreaker", &cb, err)))
        return rc;
    if (cb) { /* as infrastructure tools send it, switched off: Berth has no circuit breaker to switch on */
        static const char *const cf[] = {"enable", "rollback"};
        if ((rc = sched_ecs_check_fields(cb, "deploymentConfiguration.deploymentCircuitBreaker.", cf, 2, err)) ||
            (rc = sched_ecs_get_bool(cb, "deploymentConfiguration.deploymentCircuitBreaker.", "enable", err)) ||
            (rc = sched_ecs_get_bool(cb, "deploymentConfiguration.deploymentCircuitBreaker.", "rollback", err)))
            return rc;
        if (json_is_true(json_object_get(cb, "enable")))
            return BAD("deploymentConfiguration.deploymentCircuitBreaker.enable: true is not supported: Berth keeps rolling a "
                       "deployment whose tasks fail (its events say so); leave it false");
    }
    if (min == 100 && max == 100)
        return BAD("deploymentConfiguration: minimumHealthyPercent 100 with maximumPercent 100 leaves no room to replace a task; "
                   "lower the one or raise the other");
    return 0;
}

static int task_def_ref(sched_ecs_request_t *r, bool required, sched_ecs_err_t *err)
{
    const char *s;
    int rc = sched_ecs_get_str(r->body, "", "taskDefinition", required, SCHED_ECS_ARN_MAX, &s, err);
    if (rc || !s)
        return rc;
    if (!sched_ecs_parse_task_def(s, r->family, &r->revision))
        return BAD("taskDefinition: '%.300s' is not FAMILY, FAMILY:REVISION or a task definition ARN", s);
    return 0;
}

static int placement_fields(const json_t *b, sched_ecs_err_t *err)
{
    int rc = sched_ecs_check_strategies(b, err);
    return rc ? rc : sched_ecs_check_constraints(b, "placementConstraints", true, err);
}

int sched_ecs_validate_service_op(sched_ecs_request_t *r, const sched_ecs_env_t *env, sched_ecs_err_t *err)
{
    const json_t *b = r->body;
    const char *s;
    char name[SCHED_ECS_NAME_MAX + 1];
    json_t *v;
    long long n;
    int rc;
    if ((rc = sched_ecs_cluster_field(r, "cluster", false, err)))
        return rc;
    switch (r->op) {
    case ECS_CREATE_SERVICE:
        if ((rc = sched_ecs_get_str(b, "", "serviceName", true, 255, &s, err)))
            return rc;
        if (!sched_ecs_service_name_ok(s))
            return BAD("serviceName: '%.255s' must be 1-255 letters, digits, - and _", s);
        snprintf(name, sizeof(name), "%s", s);
        if ((rc = task_def_ref(r, true, err)) ||
            (rc = sched_ecs_get_int(b, "", "desiredCount", false, 0, SVC_MAX_DESIRED, &n, NULL, err)) ||
            (rc = placement_fields(b, err)) || (rc = deployment_config(b, err)) ||
            (rc = sched_ecs_get_str(b, "", "clientToken", false, 36, &s, err)) || (rc = sched_ecs_get_tags(b, &v, err)) ||
            (rc = sched_ecs_get_bool(b, "", "enableECSManagedTags", err)) ||
            (rc = sched_ecs_get_str(b, "", "propagateTags", false, 32, &s, err)))
            return rc;
        if ((rc = sched_ecs_get_str(b, "", "launchType", false, 32, &s, err)))
            return rc;
        if (s && strcmp(s, "EC2") != 0)
            return BAD("launchType: '%.32s' is not supported: Berth places EC2-style tasks only", s);
        if ((rc = sched_ecs_get_str(b, "", "schedulingStrategy", false, 32, &s, err)))
            return rc;
        if (s && strcmp(s, "REPLICA") != 0)
            return BAD("schedulingStrategy: '%.32s' is not supported: Berth schedules REPLICA services only", s);
        json_t *ctl;
        static const char *const ctl_fields[] = {"type"};
        if ((rc = sched_ecs_get_object(b, "", "deploymentController", &ctl, err)) ||
            (ctl && ((rc = sched_ecs_check_fields(ctl, "deploymentController.", ctl_fields, 1, err)) ||
                     (rc = sched_ecs_get_str(ctl, "deploymentController.", "type", false, 32, &s, err)))))
            return rc;
        if (ctl && s && strcmp(s, "ECS") != 0)
            return BAD("deploymentController.type: '%.32s' is not supported: Berth rolls services itself (ECS)", s);
        return service_resource(r, env, name, err);
    case ECS_UPDATE_SERVICE:
    case ECS_DELETE_SERVICE:
        if ((rc = sched_ecs_get_str(b, "", "service", true, SCHED_ECS_ARN_MAX, &s, err)))
            return rc;
        if (!sched_ecs_parse_service(s, r->cluster, name))
            return BAD("service: '%.300s' is not a service name or an ARN of a service of cluster %s", s, r->cluster);
        if (r->op == ECS_DELETE_SERVICE) {
            if ((rc = sched_ecs_get_bool(b, "", "force", err)))
                return rc;
        } else if ((rc = task_def_ref(r, false, err)) ||
                   (rc = sched_ecs_get_int(b, "", "desiredCount", false, 0, SVC_MAX_DESIRED, &n, NULL, err)) ||
                   (rc = placement_fields(b, err)) || (rc = deployment_config(b, err)) ||
                   (rc = sched_ecs_get_bool(b, "", "forceNewDeployment", err))) {
            return rc;
        }
        return service_resource(r, env, name, err);
    case ECS_DESCRIBE_SERVICES: {
        if ((rc = sched_ecs_get_array(b, "", "services", true, 1, SVC_MAX_DESCRIBE, &v, err)) ||
            (rc = sched_ecs_get_array(b, "", "include", false, 0, 10, &v, err)))
            return rc;
        size_t i;
        json_array_foreach(json_object_get(b, "services"), i, v)
        {
            if (!json_is_string(v) || !sched_ecs_parse_service(json_string_value(v), r->cluster, name))
                return BAD("services[%zu]: not a service name or an ARN of a service of cluster %s", i, r->cluster);
            if ((rc = service_resource(r, env, name, err)))
                return rc;
        }
        return 0;
    }
    case ECS_LIST_SERVICES:
        if ((rc = sched_ecs_paging(r, err)) || (rc = sched_ecs_get_str(b, "", "launchType", false, 32, &s, err)))
            return rc;
        if (s && strcmp(s, "EC2") != 0 && strcmp(s, "FARGATE") != 0 && strcmp(s, "EXTERNAL") != 0)
            return BAD("launchType: '%.32s' is not EC2, FARGATE or EXTERNAL", s);
        if ((rc = sched_ecs_get_str(b, "", "schedulingStrategy", false, 32, &s, err)))
            return rc;
        if (s && strcmp(s, "REPLICA") != 0 && strcmp(s, "DAEMON") != 0)
            return BAD("schedulingStrategy: '%.32s' is not REPLICA or DAEMON", s);
        return sched_ecs_add_resource(r, err, ARN_PREFIX "cluster/%s", env->region, env->account, r->cluster);
    default:
        break;
    }
    return BAD("not a service operation");
}
