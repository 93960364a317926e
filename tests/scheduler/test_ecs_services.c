/*
 * tests/scheduler/test_ecs_services.c — the service scheduler's decisions
 * (sched_service_plan, scheduler/ecs_services.c), pure: replacing stopped
 * tasks, scaling out and in (the spread stays balanced), rolling a new
 * deployment within minimumHealthyPercent/maximumPercent (simulated step by
 * step with an agent that runs and stops tasks at its own pace), and
 * replacing the tasks of a DRAINING instance.
 */
#include "fixture.h"

#include <stdlib.h>

#define MAXT 64

/* a simulated service: its tasks, as the store would list them */
typedef struct {
    char arn[MAXT][32];
    char dep[MAXT][16];
    sched_svc_task_t t[MAXT];
    size_t n;
    unsigned next_id;
} sim_t;

static void sim_add(sim_t *s, const char *dep, sched_svc_task_state_t state, size_t instance)
{
    cr_assert_lt(s->n, MAXT);
    snprintf(s->arn[s->n], sizeof(s->arn[0]), "task-%u", s->next_id++);
    snprintf(s->dep[s->n], sizeof(s->dep[0]), "%s", dep);
    s->t[s->n] = (sched_svc_task_t){s->arn[s->n], s->dep[s->n], state, instance};
    s->n++;
}

static void sim_remove(sim_t *s, size_t i)
{
    for (size_t k = i; k + 1 < s->n; k++) {
        memcpy(s->arn[k], s->arn[k + 1], sizeof(s->arn[0]));
        memcpy(s->dep[k], s->dep[k + 1], sizeof(s->dep[0]));
        s->t[k] = s->t[k + 1];
    }
    s->n--;
    for (size_t k = 0; k < s->n; k++) /* the strings moved with their slots */
        s->t[k].arn = s->arn[k], s->t[k].deployment = s->dep[k];
}

/* 6 instances, 2 in each of 3 AZs: az-1 = 0,1; az-2 = 2,3; az-3 = 4,5; `draining` (or SIZE_MAX) DRAINING */
static sched_cluster_t *six(size_t draining)
{
    sched_cluster_t *c = sched_cluster_new();
    cr_assert_not_null(c);
    static const char *const names[] = {"a1", "a2", "b1", "b2", "c1", "c2"};
    static const char *const azs[] = {"az-1", "az-1", "az-2", "az-2", "az-3", "az-3"};
    for (size_t i = 0; i < 6; i++)
        fx_add(c, (fx_instance_t){.name = names[i], .az = azs[i], .draining = i == draining});
    return c;
}

static const sched_strategy_t spread_az[] = {{SCHED_STRATEGY_SPREAD, "attribute:ecs.availability-zone"}};

static sched_svc_spec_t spec_of(size_t desired, unsigned min, unsigned max, const char *primary)
{
    return (sched_svc_spec_t){.group = "service:web",
                              .desired = desired,
                              .min_pct = min,
                              .max_pct = max,
                              .primary = primary,
                              .strategies = spread_az,
                              .nstrategies = 1,
                              .seed = 7};
}

static sched_svc_plan_t plan_of(sched_cluster_t *c, const sched_svc_spec_t *spec, const sim_t *s)
{
    sched_svc_plan_t p;
    sched_err_t err = {0};
    cr_assert_eq(sched_service_plan(c, spec, s->t, s->n, &p, &err), SCHED_OK, "%s", err.msg);
    return p;
}

static size_t count_state(const sim_t *s, sched_svc_task_state_t st, const char *dep)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->t[i].state == st && (!dep || strcmp(s->t[i].deployment, dep) == 0);
    return n;
}

Test(service_plan, a_stopped_task_is_replaced)
{
    sched_cluster_t *c = six(SIZE_MAX);
    sim_t s = {0};
    sim_add(&s, "d1", SCHED_SVC_RUNNING, 0);
    sim_add(&s, "d1", SCHED_SVC_RUNNING, 2); /* the third one stopped: the store lists it no more */
    sched_svc_spec_t spec = spec_of(3, 100, 200, "d1");
    sched_svc_plan_t p = plan_of(c, &spec, &s);
    cr_expect_eq(p.start, 1);
    cr_expect_eq(p.nstop, 0);
    cr_expect_not(p.steady);
    sched_svc_plan_free(&p);
    sched_cluster_free(c);
}

Test(service_plan, a_new_service_starts_its_desired_count_and_is_steady_once_they_run)
{
    sched_cluster_t *c = six(SIZE_MAX);
    sim_t s = {0};
    sched_svc_spec_t spec = spec_of(6, 100, 200, "d1");
    sched_svc_plan_t p = plan_of(c, &spec, &s);
    cr_expect_eq(p.start, 6);
    sched_svc_plan_free(&p);
    for (size_t i = 0; i < 6; i++)
        sim_add(&s, "d1", SCHED_SVC_PENDING, i);
    p = plan_of(c, &spec, &s);
    cr_expect_eq(p.start + p.nstop, 0, "pending tasks are not started again");
    cr_expect_not(p.steady, "not steady while tasks are pending");
    sched_svc_plan_free(&p);
    for (size_t i = 0; i < 6; i++)
        s.t[i].state = SCHED_SVC_RUNNING;
    p = plan_of(c, &spec, &s);
    cr_expect(p.steady);
    sched_svc_plan_free(&p);
    sched_cluster_free(c);
}

Test(service_plan, scale_out_is_bounded_by_maximum_percent_only_during_a_deployment)
{
    /* the upper bound counts every live task: desired 4 at 150% allows 6 */
    sched_cluster_t *c = six(SIZE_MAX);
    sim_t s = {0};
    for (size_t i = 0; i < 5; i++)
        sim_add(&s, "old", SCHED_SVC_RUNNING, i);
    sched_svc_spec_t spec = spec_of(4, 100, 150, "new");
    sched_svc_plan_t p = plan_of(c, &spec, &s);
    cr_expect_eq(p.start, 1, "6 - 5 live tasks");
    cr_expect_eq(p.nstop, 1, "5 healthy, 4 needed: one old task may go");
    sched_svc_plan_free(&p);
    sched_cluster_free(c);
}

/* which AZ (0, 1, 2) instance i is in */
static int az_of(size_t i)
{
    return (int)(i / 2);
}

Test(service_plan, scale_in_keeps_the_spread_balanced)
{
    sched_cluster_t *c = six(SIZE_MAX);
    sim_t s = {0};
    /* 3 in az-1, 1 in az-2, 2 in az-3 */
    size_t where[] = {0, 0, 1, 2, 4, 5};
    for (size_t i = 0; i < 6; i++)
        sim_add(&s, "d1", SCHED_SVC_RUNNING, where[i]);
    sched_svc_spec_t spec = spec_of(3, 100, 200, "d1");
    sched_svc_plan_t p = plan_of(c, &spec, &s);
    cr_assert_eq(p.nstop, 3);
    cr_expect_eq(p.start, 0);
    int left[3] = {0};
    for (size_t i = 0; i < s.n; i++) {
        bool stopped = false;
        for (size_t k = 0; k < p.nstop; k++) {
            stopped |= p.stop[k].task == i;
            cr_expect_eq(p.stop[k].why, SCHED_SVC_STOP_SCALE_IN);
        }
        if (!stopped)
            left[az_of(s.t[i].instance)]++;
    }
    cr_expect(left[0] == 1 && left[1] == 1 && left[2] == 1, "left per AZ: %d %d %d", left[0], left[1], left[2]);
    sched_svc_plan_free(&p);
    sched_cluster_free(c);
}

Test(service_plan, scaling_to_zero_stops_everything)
{
    sched_cluster_t *c = six(SIZE_MAX);
    sim_t s = {0};
    sim_add(&s, "d1", SCHED_SVC_RUNNING, 0);
    sim_add(&s, "d1", SCHED_SVC_PENDING, 3);
    sim_add(&s, "d0", SCHED_SVC_RUNNING, 4);
    sched_svc_spec_t spec = spec_of(0, 100, 200, "d1");
    sched_svc_plan_t p = plan_of(c, &spec, &s);
    cr_expect_eq(p.nstop, 3);
    cr_expect_eq(p.start, 0);
    sched_svc_plan_free(&p);
    sched_cluster_free(c);
}

/* One step of a simulated agent: each PENDING task runs and each stopping
 * task stops with probability 1/2 (seeded), so steps interleave unevenly. */
static void agent_step(sim_t *s, unsigned *seed)
{
    for (size_t i = s->n; i-- > 0;) {
        if (rand_r(seed) % 2)
            continue;
        if (s->t[i].state == SCHED_SVC_PENDING)
            s->t[i].state = SCHED_SVC_RUNNING;
        else if (s->t[i].state == SCHED_SVC_STOPPING)
            sim_remove(s, i);
    }
}

/* Applies a plan: stopped PENDING tasks are gone at once, RUNNING ones stop
 * later (the agent); started tasks are PENDING on the next instance. */
static void apply(sim_t *s, const sched_svc_plan_t *p, const char *primary, size_t *next_instance)
{
    bool gone[MAXT] = {false};
    for (size_t k = 0; k < p->nstop; k++) {
        size_t i = p->stop[k].task;
        cr_assert_neq(s->t[i].state, SCHED_SVC_STOPPING, "a stopping task is stopped again");
        if (s->t[i].state == SCHED_SVC_PENDING)
            gone[i] = true;
        else
            s->t[i].state = SCHED_SVC_STOPPING;
    }
    for (size_t i = s->n; i-- > 0;)
        if (gone[i])
            sim_remove(s, i);
    for (size_t k = 0; k < p->start; k++)
        sim_add(s, primary, SCHED_SVC_PENDING, (*next_instance)++ % 6);
}

/* Rolls `desired` RUNNING tasks of "old" to "new" and checks every state on the way. */
static void roll(size_t desired, unsigned min, unsigned max, unsigned seed)
{
    sched_cluster_t *c = six(SIZE_MAX);
    sim_t s = {0};
    for (size_t i = 0; i < desired; i++)
        sim_add(&s, "old", SCHED_SVC_RUNNING, i % 6);
    size_t min_healthy, max_total, next = 0;
    sched_svc_bounds(desired, min, max, &min_healthy, &max_total);
    sched_svc_spec_t spec = spec_of(desired, min, max, "new");
    bool progress = max_total > desired || min_healthy < desired;
    size_t step;
    for (step = 0; step < 200; step++) {
        spec.seed = step;
        sched_svc_plan_t p = plan_of(c, &spec, &s);
        bool steady = p.steady;
        apply(&s, &p, "new", &next);
        sched_svc_plan_free(&p);
        size_t healthy = count_state(&s, SCHED_SVC_RUNNING, NULL);
        cr_assert_geq(healthy, min_healthy, "desired %zu min %u max %u step %zu: %zu healthy, below %zu", desired, min, max, step,
                      healthy, min_healthy);
        cr_assert_leq(s.n, max_total, "desired %zu min %u max %u step %zu: %zu live, above %zu", desired, min, max, step, s.n,
                      max_total);
        if (steady)
            break;
        agent_step(&s, &seed);
        healthy = count_state(&s, SCHED_SVC_RUNNING, NULL);
        cr_assert_geq(healthy, min_healthy, "after the agent, step %zu", step);
        sched_cluster_free(c);
        c = six(SIZE_MAX);
    }
    sched_cluster_free(c);
    if (!progress)
        return; /* ECS's bounds leave no room (e.g. 1 task at 50/100): it stays put, within them */
    cr_assert_lt(step, 200, "desired %zu min %u max %u never became steady", desired, min, max);
    cr_expect_eq(count_state(&s, SCHED_SVC_RUNNING, "new"), desired);
    cr_expect_eq(s.n, desired, "the old deployment is drained");
}

Test(service_plan, a_roll_with_min_50_max_100_never_leaves_the_bounds)
{
    roll(6, 50, 100, 1);
}

Test(service_plan, a_roll_with_ecs_defaults_starts_new_tasks_before_stopping_old_ones)
{
    sched_cluster_t *c = six(SIZE_MAX);
    sim_t s = {0};
    for (size_t i = 0; i < 6; i++)
        sim_add(&s, "old", SCHED_SVC_RUNNING, i);
    sched_svc_spec_t spec = spec_of(6, 100, 200, "new");
    sched_svc_plan_t p = plan_of(c, &spec, &s);
    cr_expect_eq(p.start, 6);
    cr_expect_eq(p.nstop, 0, "no old task goes before a new one runs");
    sched_svc_plan_free(&p);
    sched_cluster_free(c);
    roll(6, 100, 200, 2);
}

Test(service_plan, rolls_stay_within_the_bounds_for_every_count_and_percentages)
{
    static const unsigned mins[] = {0, 25, 50, 75, 100};
    static const unsigned maxs[] = {100, 125, 150, 200};
    for (size_t d = 1; d <= 9; d++)
        for (size_t i = 0; i < 5; i++)
            for (size_t k = 0; k < 4; k++)
                if (!(mins[i] == 100 && maxs[k] == 100))
                    roll(d, mins[i], maxs[k], (unsigned)(d * 100 + i * 10 + k));
}

Test(service_plan, pending_tasks_of_an_old_deployment_go_at_once)
{
    sched_cluster_t *c = six(SIZE_MAX);
    sim_t s = {0};
    for (size_t i = 0; i < 3; i++)
        sim_add(&s, "old", SCHED_SVC_PENDING, i);
    sched_svc_spec_t spec = spec_of(3, 100, 100 + 1, "new");
    sched_svc_plan_t p = plan_of(c, &spec, &s);
    cr_expect_eq(p.nstop, 3, "they are not healthy: the lower bound does not keep them");
    cr_expect_eq(p.start, 3);
    for (size_t k = 0; k < p.nstop; k++)
        cr_expect_eq(p.stop[k].why, SCHED_SVC_STOP_OLD);
    sched_svc_plan_free(&p);
    sched_cluster_free(c);
}

Test(service_plan, a_draining_instances_task_is_replaced_first_then_stopped)
{
    sched_cluster_t *c = six(0);
    sim_t s = {0};
    sim_add(&s, "d1", SCHED_SVC_RUNNING, 0); /* on the DRAINING instance */
    sim_add(&s, "d1", SCHED_SVC_RUNNING, 2);
    sim_add(&s, "d1", SCHED_SVC_RUNNING, 4);
    sched_svc_spec_t spec = spec_of(3, 100, 200, "d1");
    sched_svc_plan_t p = plan_of(c, &spec, &s);
    cr_expect_eq(p.start, 1, "the replacement first");
    cr_expect_eq(p.nstop, 0, "3 healthy, 3 needed: the drained task stays until its replacement runs");
    sched_svc_plan_free(&p);
    sim_add(&s, "d1", SCHED_SVC_RUNNING, 1); /* the replacement runs */
    p = plan_of(c, &spec, &s);
    cr_expect_eq(p.start, 0);
    cr_assert_eq(p.nstop, 1);
    cr_expect_eq(p.stop[0].task, 0);
    cr_expect_eq(p.stop[0].why, SCHED_SVC_STOP_DRAINING);
    sched_svc_plan_free(&p);
    sched_cluster_free(c);
}

Test(service_plan, a_task_whose_instance_is_gone_is_replaced)
{
    sched_cluster_t *c = six(SIZE_MAX);
    sim_t s = {0};
    sim_add(&s, "d1", SCHED_SVC_RUNNING, SCHED_NO_INSTANCE);
    sim_add(&s, "d1", SCHED_SVC_RUNNING, 2);
    sched_svc_spec_t spec = spec_of(2, 50, 200, "d1");
    sched_svc_plan_t p = plan_of(c, &spec, &s);
    cr_expect_eq(p.start, 1);
    cr_expect_eq(p.nstop, 1, "2 healthy, 1 needed: it may go now");
    sched_svc_plan_free(&p);
    sched_cluster_free(c);
}

Test(service_plan, bounds_round_as_ecs_documents)
{
    size_t lo, hi;
    sched_svc_bounds(3, 50, 150, &lo, &hi);
    cr_expect_eq(lo, 2, "1.5 rounds up");
    cr_expect_eq(hi, 4, "4.5 rounds down");
    sched_svc_bounds(0, 100, 200, &lo, &hi);
    cr_expect(lo == 0 && hi == 0);
}

Test(service_plan, bad_specs_are_refused)
{
    sim_t s = {0};
    sched_svc_plan_t p;
    sched_err_t err = {0};
    sched_svc_spec_t spec = spec_of(3, 100, 90, "d1");
    cr_expect_eq(sched_service_plan(NULL, &spec, s.t, 0, &p, &err), SCHED_EINVAL);
    cr_expect(strstr(err.msg, "maximumPercent") != NULL, "%s", err.msg);
    spec = spec_of(3, 101, 200, "d1");
    cr_expect_eq(sched_service_plan(NULL, &spec, s.t, 0, &p, &err), SCHED_EINVAL);
    spec = spec_of(3, 50, 200, NULL);
    cr_expect_eq(sched_service_plan(NULL, &spec, s.t, 0, &p, &err), SCHED_EINVAL);
    /* tasks need the cluster they run on (DRAINING, scale-in) */
    sim_add(&s, "d1", SCHED_SVC_RUNNING, 0);
    spec = spec_of(0, 50, 200, "d1");
    cr_expect_eq(sched_service_plan(NULL, &spec, s.t, s.n, &p, &err), SCHED_EINVAL);
}
