/*
 * scheduler/placement.c — ECS task placement and scale-in.
 *
 * For each task of a request, in order (each sees the claims of the ones
 * before it), the process the ECS developer guide describes:
 *
 *   1. resources:   ACTIVE, agent connected, enough CPU and memory, the fixed
 *                   host ports free and enough free ports in the dynamic range
 *   2. constraints: distinctInstance (no task of the group there yet) and each
 *                   memberOf expression
 *   3. strategies:  in order, each keeps only the candidates with the best key
 *                   (binpack: least remaining after the claim; spread: fewest
 *                   tasks of the group in the instance's bucket; random: a
 *                   seeded draw), so a later strategy only breaks the ties of
 *                   the earlier ones
 *   4. select:      the first candidate left, in instance order
 *
 * Cost: a request walks every instance a few times (group counts, the
 * instances that can take a task at all); each task then checks only the
 * instance the task before it changed, and ranks the candidates once per
 * strategy: O(candidates x strategies) per task. What never changes in an
 * instance once added (attributes and the like) is remembered with the
 * cluster between requests: a static memberOf expression's result on every
 * instance and spread(attribute:)'s buckets (the memo below); expressions
 * that look at tasks or agentConnected are evaluated per request, once per
 * instance, and again only on an instance that just got a task. With
 * explanations every check runs on every instance for every task (the
 * steps name every removal), with the same outcome.
 */
#include "scheduler/scheduler_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* why an instance was removed; the order is the order of the checks */
typedef enum {
    R_DRAINING,
    R_AGENT,
    R_CPU,
    R_MEMORY,
    R_PORTS,
    R_DISTINCT,
    R_MEMBER_OF,
    R_COUNT,
} reason_t;

static const char *const reason_text[R_COUNT] = {
    [R_DRAINING] = "DRAINING",
    [R_AGENT] = "AGENT",
    [R_CPU] = "RESOURCE:CPU",
    [R_MEMORY] = "RESOURCE:MEMORY",
    [R_PORTS] = "RESOURCE:PORTS",
    [R_DISTINCT] = "DistinctInstance placement constraint unsatisfied.",
    [R_MEMBER_OF] = "MemberOf placement constraint unsatisfied.",
};

static const char NO_INSTANCES_REASON[] = "MISSING";
static const char NO_INSTANCES_DETAIL[] = "No Container Instances were found in your cluster.";

typedef enum { F_CPU, F_MEMORY, F_IMAGE, F_INSTANCE, F_ATTRIBUTE, F_NONE } field_t;

/* per-strategy state for one request */
typedef struct {
    sched_strategy_type_t type;
    field_t field;
    const char *attr;               /* F_ATTRIBUTE */
    const uint32_t *bucket;         /* F_ATTRIBUTE: instance -> bucket id (the cluster's memo) */
    const char *const *bucket_name; /* bucket id -> attribute value (NULL: instance lacks it) (the memo) */
    const char *label;              /* "spread(attribute:...)", owned by the result's arena */
    size_t *bucket_count;           /* bucket id -> tasks of the group */
    size_t nbuckets;
} strat_t;

/* ------------------------------------------------------------- strategies */

static bool parse_field(const sched_strategy_t *s, field_t *f, const char **attr, sched_err_t *err)
{
    static const char attr_prefix[] = "attribute:";
    const char *field = s->field ? s->field : "";
    *attr = NULL;
    switch (s->type) {
    case SCHED_STRATEGY_BINPACK:
        if (strcasecmp(field, "cpu") == 0) {
            *f = F_CPU;
            return true;
        }
        if (strcasecmp(field, "memory") == 0) {
            *f = F_MEMORY;
            return true;
        }
        if (strcmp(field, "image") == 0) { /* Berth's: image locality */
            *f = F_IMAGE;
            return true;
        }
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "binpack field '%s': expected cpu, memory or image", field);
        return false;
    case SCHED_STRATEGY_SPREAD:
        if (strcmp(field, "instanceId") == 0 || strcmp(field, "host") == 0) {
            *f = F_INSTANCE;
            return true;
        }
        if (strncmp(field, attr_prefix, sizeof attr_prefix - 1) == 0 && field[sizeof attr_prefix - 1]) {
            *f = F_ATTRIBUTE;
            *attr = field + sizeof attr_prefix - 1;
            return true;
        }
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "spread field '%s': expected instanceId, host or attribute:NAME", field);
        return false;
    case SCHED_STRATEGY_RANDOM:
        *f = F_NONE;
        return true;
    }
    sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "strategy type %d: expected binpack, spread or random", (int)s->type);
    return false;
}

bool sched_strategy_valid(const sched_strategy_t *s, sched_err_t *err)
{
    field_t f;
    const char *attr;
    return parse_field(s, &f, &attr, err);
}

/* A request's placementStrategy list: at most SCHED_MAX_STRATEGIES, each valid
 * (sched_place and sched_scale_in take the same list). */
static bool strategies_valid(const sched_strategy_t *strategies, size_t n, sched_err_t *err)
{
    if (n > SCHED_MAX_STRATEGIES) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "placementStrategy: %zu strategies, at most %u", n, SCHED_MAX_STRATEGIES);
        return false;
    }
    for (size_t s = 0; s < n; s++) {
        sched_err_t e2 = {0};
        if (!sched_strategy_valid(&strategies[s], &e2)) {
            sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "placementStrategy[%zu]: %s", s, e2.msg);
            return false;
        }
    }
    return true;
}

void sched_strategy_describe(const sched_strategy_t *s, char *buf, size_t len)
{
    static const char *const names[] = {
        [SCHED_STRATEGY_BINPACK] = "binpack", [SCHED_STRATEGY_SPREAD] = "spread", [SCHED_STRATEGY_RANDOM] = "random"};
    const char *name = (unsigned)s->type <= SCHED_STRATEGY_RANDOM ? names[s->type] : "?";
    if (s->type == SCHED_STRATEGY_RANDOM || !s->field)
        snprintf(buf, len, "%s", name);
    else
        snprintf(buf, len, "%s(%s)", name, s->field);
}

typedef struct {
    const char *value;
    size_t instance;
} bucket_entry_t;

static int bucket_entry_cmp(const void *a, const void *b)
{
    const bucket_entry_t *x = a, *y = b;
    if (!x->value || !y->value)
        return (x->value != NULL) - (y->value != NULL);
    return strcmp(x->value, y->value);
}

static void strat_release(strat_t *s)
{
    free(s->bucket_count);
}

/* ------------------------------------------------------------------- memo */

static void scratch_free(sched_scratch_t *w)
{
    free(w->gcount);
    free(w->cand);
    free(w->base);
    free(w->pass);
    free(w->key);
    free(w->reported);
    memset(w, 0, sizeof *w);
}

void sched_cluster_memo_release(sched_cluster_t *c)
{
    for (size_t k = 0; k < SCHED_MEMO_FILTERS; k++) {
        free(c->filters[k].expr);
        free(c->filters[k].match);
        free(c->filters[k].hits);
    }
    for (size_t k = 0; k < SCHED_MEMO_BUCKETS; k++) {
        free(c->buckets[k].attr);
        free(c->buckets[k].bucket);
        free(c->buckets[k].bucket_name);
    }
    memset(c->filters, 0, sizeof c->filters);
    memset(c->buckets, 0, sizeof c->buckets);
    scratch_free(&c->scratch);
}

/* room for n instances in the cluster's scratch arrays */
static bool scratch_reserve(sched_cluster_t *c, size_t n)
{
    sched_scratch_t *w = &c->scratch;
    if (w->cap >= n)
        return true;
    size_t cap = n + n / 4; /* a cluster that grows by a few instances does not reallocate each time */
    scratch_free(w);
    *w = (sched_scratch_t){.cap = cap,
                           .gcount = malloc(cap * sizeof *w->gcount),
                           .cand = malloc(cap * sizeof *w->cand),
                           .base = malloc(cap * sizeof *w->base),
                           .pass = malloc(cap * sizeof *w->pass),
                           .key = malloc(cap * sizeof *w->key),
                           .reported = malloc(cap)};
    if (w->gcount && w->cand && w->base && w->pass && w->key && w->reported)
        return true;
    scratch_free(w);
    return false;
}

/* Whether slot e may take a new entry in place of *victim: a free one first,
 * else the least recently used; never one this request uses. */
static bool better_victim(uint64_t used, bool is_free, uint64_t clock, uint64_t victim_used, bool victim_free, bool have_victim)
{
    if (used >= clock)
        return false;
    if (!have_victim)
        return true;
    if (victim_free)
        return false;
    return is_free || used < victim_used;
}

/* The memo's entry for the static memberOf expression `expr` (q: it, parsed),
 * evaluated on every instance; NULL when out of memory. */
static const sched_filter_memo_t *memo_filter(sched_cluster_t *c, const char *expr, const sched_cql_t *q)
{
    sched_filter_memo_t *f = NULL, *victim = NULL;
    for (size_t k = 0; k < SCHED_MEMO_FILTERS && !f; k++) {
        sched_filter_memo_t *e = &c->filters[k];
        if (e->expr && strcmp(e->expr, expr) == 0)
            f = e;
        else if (better_victim(e->used, !e->expr, c->memo_clock, victim ? victim->used : 0, victim && !victim->expr, victim))
            victim = e;
    }
    if (!f) {
        if (!victim) /* cannot be: a request uses fewer entries than there are */
            return NULL;
        char *dup = strdup(expr);
        if (!dup)
            return NULL;
        free(victim->expr);
        free(victim->match);
        free(victim->hits);
        *victim = (sched_filter_memo_t){.expr = dup};
        f = victim;
    }
    if (f->n < c->n) {
        if (f->cap < c->n) {
            size_t cap = f->cap ? f->cap : 64;
            while (cap < c->n)
                cap *= 2;
            uint8_t *m = realloc(f->match, cap * sizeof *m);
            if (!m)
                return NULL;
            f->match = m;
            size_t *h = realloc(f->hits, cap * sizeof *h);
            if (!h)
                return NULL;
            f->hits = h;
            f->cap = cap;
        }
        for (size_t i = f->n; i < c->n; i++) {
            f->match[i] = sched_cql_matches(q, c, i) ? 1 : 0;
            if (f->match[i])
                f->hits[f->nhits++] = i;
        }
        f->n = c->n;
    }
    f->used = c->memo_clock;
    return f;
}

/* The memo's grouping of every instance by the value of attribute `attr`
 * (ids in the order of the values, absent first); NULL when out of memory. */
static const sched_bucket_memo_t *memo_buckets(sched_cluster_t *c, const char *attr)
{
    sched_bucket_memo_t *b = NULL, *victim = NULL;
    for (size_t k = 0; k < SCHED_MEMO_BUCKETS && !b; k++) {
        sched_bucket_memo_t *e = &c->buckets[k];
        if (e->attr && strcmp(e->attr, attr) == 0)
            b = e;
        else if (better_victim(e->used, !e->attr, c->memo_clock, victim ? victim->used : 0, victim && !victim->attr, victim))
            victim = e;
    }
    if (!b) {
        if (!victim)
            return NULL;
        char *dup = strdup(attr);
        if (!dup)
            return NULL;
        free(victim->attr);
        free(victim->bucket);
        free(victim->bucket_name);
        *victim = (sched_bucket_memo_t){.attr = dup};
        b = victim;
    }
    if (!b->bucket || b->n != c->n) {
        size_t n = c->n;
        bucket_entry_t *e = malloc((n ? n : 1) * sizeof *e);
        uint32_t *bucket = malloc((n ? n : 1) * sizeof *bucket);
        const char **name = malloc((n ? n : 1) * sizeof *name);
        if (!e || !bucket || !name) {
            free(e);
            free(bucket);
            free(name);
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            const sched_attr_t *a = sched_instance_find_attr(&c->inst[i], attr);
            e[i].value = a ? (a->value ? a->value : "") : NULL;
            e[i].instance = i;
        }
        qsort(e, n, sizeof *e, bucket_entry_cmp);
        size_t nb = 0;
        for (size_t i = 0; i < n; i++) {
            if (i == 0 || bucket_entry_cmp(&e[i - 1], &e[i]) != 0)
                name[nb++] = e[i].value;
            bucket[e[i].instance] = (uint32_t)(nb - 1);
        }
        free(e);
        const char **fit = realloc(name, (nb ? nb : 1) * sizeof *name); /* a few values, not one per instance */
        if (fit)
            name = fit;
        free(b->bucket);
        free(b->bucket_name);
        b->bucket = bucket;
        b->bucket_name = name;
        b->nbuckets = nb;
        b->n = n;
    }
    b->used = c->memo_clock;
    return b;
}

/* Groups instances by the attribute's value (the cluster's memo) and counts
 * the group's tasks per value, over the whole cluster (not only candidates),
 * as ECS spreads. */
static sched_status_t strat_build_buckets(strat_t *s, sched_cluster_t *c, const size_t *gcount)
{
    const sched_bucket_memo_t *b = memo_buckets(c, s->attr);
    if (!b)
        return SCHED_ENOMEM;
    s->bucket = b->bucket;
    s->bucket_name = b->bucket_name;
    s->nbuckets = b->nbuckets;
    s->bucket_count = calloc(b->nbuckets ? b->nbuckets : 1, sizeof *s->bucket_count);
    if (!s->bucket_count)
        return SCHED_ENOMEM;
    for (size_t i = 0; i < c->n; i++)
        s->bucket_count[b->bucket[i]] += gcount[i];
    return SCHED_OK;
}

/* -------------------------------------------------------------- placement */

typedef struct {
    sched_cluster_t *c;
    const sched_placement_request_t *req;
    const sched_task_def_t *td;
    const char *group;
    char *group_owned;
    sched_arena_t *arena;
    sched_err_t *err;

    strat_t strat[SCHED_MAX_STRATEGIES];
    size_t nstrat;
    sched_cql_t *member_of[SCHED_MAX_CONSTRAINTS];
    const sched_filter_memo_t *static_memo[SCHED_MAX_CONSTRAINTS]; /* a static expression's results, else NULL */
    size_t nmember_of;
    bool distinct;
    /* every instance that can pass the checks no claim changes (ACTIVE, agent
     * connected, the static memberOf expressions), in order: the only ones a
     * task's candidates come from */
    size_t *base;
    size_t nbase;
    /* without explanations: the instances that pass every check for the next
     * task, in order, and the instance whose claims changed since (SIZE_MAX: none) */
    size_t *pass;
    size_t npass;
    bool pass_valid;
    size_t claimed;

    size_t *gcount;       /* instance -> tasks of the group */
    int64_t *held;        /* binpack(image): instance -> bytes of the task's image it holds (NULL: no such strategy) */
    int8_t *member_cache; /* [constraint * n + instance]: -1 unknown, 0 no, 1 yes */
    uint8_t *reported;    /* instance -> bitmask of reasons already in failures */
    bool reported_empty;
    size_t *cand;            /* candidates of the current task */
    double *key;             /* key of each candidate for the current strategy */
    size_t ndyn[2];          /* dynamic ports the task needs per protocol */
    size_t nfixed_in_dyn[2]; /* fixed ports of the task inside the dynamic range */

    sched_rng_t rng;

    /* results, grown as tasks are handled */
    sched_placed_task_t *tasks;
    size_t ntasks;
    sched_failure_t *failures;
    size_t nfailures, failures_cap;
    sched_explanation_t *expl;
    size_t placed_instances_n; /* for rollback: instances that got a task, in order */
    size_t *placed_instances;
} ctx_t;

static sched_status_t ctx_nomem(ctx_t *x)
{
    sched_err_set(x->err, SCHED_ENOMEM, SIZE_MAX, "out of memory placing tasks");
    return SCHED_ENOMEM;
}

/* The first resource check the instance fails, or R_COUNT when it passes;
 * *detail gets a sentence for explanations and failures (only when wanted). */
static reason_t check_resources(ctx_t *x, const sched_instance_t *in, bool want_detail, const char **detail)
{
    const sched_task_def_t *td = x->td;
    *detail = NULL;
    if (in->status != SCHED_INSTANCE_ACTIVE) {
        if (want_detail)
            *detail = "the instance is DRAINING: no new tasks are placed on it";
        return R_DRAINING;
    }
    if (!in->agent_connected) {
        if (want_detail)
            *detail = "the instance's agent is disconnected";
        return R_AGENT;
    }
    if (in->rem_cpu < td->cpu) {
        if (want_detail)
            *detail = sched_arena_printf(x->arena, "the task needs %lld CPU units, %lld remain", (long long)td->cpu,
                                         (long long)in->rem_cpu);
        return R_CPU;
    }
    if (in->rem_mem < td->memory) {
        if (want_detail)
            *detail = sched_arena_printf(x->arena, "the task needs %lld MiB of memory, %lld remain", (long long)td->memory,
                                         (long long)in->rem_mem);
        return R_MEMORY;
    }
    for (size_t p = 0; p < td->nports; p++) {
        const sched_binding_t *b = &td->ports[p];
        if (b->host_port && sched_portset_has(&in->used[b->protocol], b->host_port)) {
            if (want_detail)
                *detail = sched_arena_printf(x->arena, "host port %u/%s is taken", b->host_port,
                                             b->protocol == SCHED_PROTO_UDP ? "udp" : "tcp");
            return R_PORTS;
        }
    }
    const size_t dyn_size = SCHED_DYNAMIC_PORT_LAST - SCHED_DYNAMIC_PORT_FIRST + 1;
    for (int proto = 0; proto < 2; proto++) {
        size_t used = in->used[proto].n_dynamic + x->nfixed_in_dyn[proto];
        if (x->ndyn[proto] && (used >= dyn_size || dyn_size - used < x->ndyn[proto])) {
            if (want_detail)
                *detail = sched_arena_printf(x->arena, "the task needs %zu dynamic %s ports, %zu are free", x->ndyn[proto],
                                             proto ? "udp" : "tcp", used >= dyn_size ? 0 : dyn_size - used);
            return R_PORTS;
        }
    }
    return R_COUNT;
}

static reason_t check_constraints(ctx_t *x, size_t i, bool want_detail, const char **detail)
{
    *detail = NULL;
    if (x->distinct && x->gcount[i] > 0) {
        if (want_detail)
            *detail = sched_arena_printf(x->arena, "the instance already runs %zu task(s) of group %s", x->gcount[i], x->group);
        return R_DISTINCT;
    }
    size_t n = x->c->n;
    for (size_t k = 0; k < x->nmember_of; k++) {
        int8_t *m = &x->member_cache[k * n + i];
        if (x->static_memo[k])
            *m = (int8_t)x->static_memo[k]->match[i];
        else if (*m < 0)
            *m = sched_cql_matches(x->member_of[k], x->c, i) ? 1 : 0;
        if (!*m) {
            if (want_detail) {
                size_t seen = 0;
                const char *expr = NULL;
                for (size_t j = 0; j < x->req->nconstraints; j++) {
                    if (x->req->constraints[j].type == SCHED_CONSTRAINT_MEMBER_OF && seen++ == k)
                        expr = x->req->constraints[j].expression;
                }
                *detail = sched_arena_printf(x->arena, "the instance does not match \"%s\"", expr ? expr : "");
            }
            return R_MEMBER_OF;
        }
    }
    return R_COUNT;
}

static sched_status_t add_failure(ctx_t *x, size_t instance, const char *reason, const char *detail)
{
    if (x->nfailures == x->failures_cap) {
        size_t cap = x->failures_cap ? x->failures_cap * 2 : 16;
        sched_failure_t *f = realloc(x->failures, cap * sizeof *f);
        if (!f)
            return SCHED_ENOMEM;
        x->failures = f;
        x->failures_cap = cap;
    }
    x->failures[x->nfailures++] = (sched_failure_t){.instance = instance, .reason = reason, .detail = detail};
    return SCHED_OK;
}

/* The keys of the candidates cand[0..ncand) for strategy s into
 * x->key (smaller is better), one loop per kind; random draws in candidate order. */
static void strat_keys(ctx_t *x, const strat_t *s, const size_t *cand, size_t ncand)
{
    const sched_instance_t *inst = x->c->inst;
    double *key = x->key;
    switch (s->type) {
    case SCHED_STRATEGY_BINPACK:
        if (s->field == F_IMAGE) { /* the bytes it would pull */
            for (size_t j = 0; j < ncand; j++)
                key[j] = (double)(x->req->image_bytes - x->held[cand[j]]);
        } else if (s->field == F_CPU) {
            for (size_t j = 0; j < ncand; j++)
                key[j] = (double)(inst[cand[j]].rem_cpu - x->td->cpu);
        } else {
            for (size_t j = 0; j < ncand; j++)
                key[j] = (double)(inst[cand[j]].rem_mem - x->td->memory);
        }
        return;
    case SCHED_STRATEGY_SPREAD:
        if (s->field == F_INSTANCE) {
            for (size_t j = 0; j < ncand; j++)
                key[j] = (double)x->gcount[cand[j]];
        } else {
            for (size_t j = 0; j < ncand; j++)
                key[j] = (double)s->bucket_count[s->bucket[cand[j]]];
        }
        return;
    case SCHED_STRATEGY_RANDOM:
        for (size_t j = 0; j < ncand; j++)
            key[j] = sched_rng_unit(&x->rng);
        return;
    }
}

/* the bucket instance i is ranked in by a spread strategy, for explanations (NULL for the others) */
static const char *strat_bucket(const ctx_t *x, const strat_t *s, size_t i)
{
    if (s->type != SCHED_STRATEGY_SPREAD)
        return NULL;
    return s->field == F_INSTANCE ? x->c->inst[i].arn : s->bucket_name[s->bucket[i]];
}

/* a recorded explanation step with room for every instance it may remove */
static sched_status_t step_begin(ctx_t *x, sched_explanation_t *e, sched_step_kind_t kind, size_t strategy, size_t max_removed)
{
    sched_step_t *st = &e->steps[e->nsteps++];
    st->kind = kind;
    st->strategy = strategy;
    st->nremoved = 0;
    st->removed = max_removed ? sched_arena_alloc(x->arena, max_removed * sizeof *st->removed) : NULL;
    if (max_removed && !st->removed)
        return SCHED_ENOMEM;
    return SCHED_OK;
}

static void step_remove(sched_explanation_t *e, size_t instance, const char *reason, const char *detail)
{
    sched_step_t *st = &e->steps[e->nsteps - 1];
    st->removed[st->nremoved++] = (sched_removal_t){.instance = instance, .reason = reason, .detail = detail};
}

/* Claims the task on instance i: CPU, memory, host ports, a recorded task. */
static sched_status_t claim(ctx_t *x, size_t i, sched_placed_task_t *out)
{
    sched_instance_t *in = &x->c->inst[i];
    const sched_task_def_t *td = x->td;
    sched_binding_t *b = td->nports ? sched_arena_alloc(x->arena, td->nports * sizeof *b) : NULL;
    uint16_t *chosen = td->nports ? sched_arena_alloc(x->arena, td->nports * sizeof *chosen) : NULL;
    if (td->nports && (!b || !chosen))
        return SCHED_ENOMEM;
    /* fixed ports first, so a dynamic choice never takes one of them */
    for (size_t p = 0; p < td->nports; p++) {
        b[p] = td->ports[p];
        b[p].container_name = td->ports[p].container_name ? sched_arena_strdup(x->arena, td->ports[p].container_name) : NULL;
        if (td->ports[p].container_name && !b[p].container_name)
            return SCHED_ENOMEM;
    }
    for (size_t p = 0; p < td->nports; p++) {
        if (b[p].host_port)
            continue;
        uint16_t extra[2 * 64];
        size_t nextra = 0;
        /* the task's own ports of this protocol, chosen or fixed, are taken too */
        for (size_t q = 0; q < td->nports && nextra < sizeof extra / sizeof extra[0]; q++)
            if (q != p && b[q].host_port && b[q].protocol == b[p].protocol)
                extra[nextra++] = b[q].host_port;
        uint16_t port = sched_portset_first_free_dynamic(&in->used[b[p].protocol], extra, nextra);
        if (!port)
            return SCHED_EINVAL; /* cannot happen: check_resources counted free ports */
        b[p].host_port = port;
    }
    for (size_t p = 0; p < td->nports; p++)
        if (sched_portset_add(&in->used[b[p].protocol], b[p].host_port) != SCHED_OK)
            goto nomem_ports;
    sched_task_spec_t t = {
        .family = td->family, .group = x->group, .cpu = td->cpu, .memory = td->memory, .bindings = b, .nbindings = td->nports};
    if (sched_instance_append_task(in, &t) != SCHED_OK)
        goto nomem_ports;
    in->rem_cpu -= td->cpu;
    in->rem_mem -= td->memory;
    x->gcount[i]++;
    if (x->held) /* the instance pulls the image for this task: the next task of the request finds it there */
        x->held[i] = x->req->image_bytes;
    for (size_t s = 0; s < x->nstrat; s++)
        if (x->strat[s].field == F_ATTRIBUTE)
            x->strat[s].bucket_count[x->strat[s].bucket[i]]++;
    for (size_t k = 0; k < x->nmember_of; k++)
        if (sched_cql_depends_on_tasks(x->member_of[k]))
            x->member_cache[k * x->c->n + i] = -1;
    x->placed_instances[x->placed_instances_n++] = i;
    x->claimed = i;
    out->instance = i;
    out->bindings = b;
    out->nbindings = td->nports;
    return SCHED_OK;
nomem_ports:
    for (size_t p = 0; p < td->nports; p++)
        sched_portset_remove(&in->used[b[p].protocol], b[p].host_port);
    return SCHED_ENOMEM;
}

/* undoes the last task recorded on instance i: used to roll back a request */
static void unclaim_last(sched_instance_t *in)
{
    sched_task_t *t = &in->tasks[in->ntasks - 1];
    in->rem_cpu += t->cpu;
    in->rem_mem += t->memory;
    for (size_t p = 0; p < t->nbindings; p++)
        sched_portset_remove(&in->used[t->bindings[p].protocol], t->bindings[p].host_port);
    sched_task_release(t);
    in->ntasks--;
}

static bool passes(ctx_t *x, size_t i)
{
    const char *detail;
    return check_resources(x, &x->c->inst[i], false, &detail) == R_COUNT && check_constraints(x, i, false, &detail) == R_COUNT;
}

/* Brings x->pass to the next task: built from base for the first task; after
 * that only the instance that got the last task changed (its resources and
 * ports, its group count, its task-dependent memberOf results; nothing a check
 * of another instance reads), so only it is checked again. */
static void update_pass(ctx_t *x)
{
    if (!x->pass_valid) {
        x->npass = 0;
        for (size_t j = 0; j < x->nbase; j++)
            if (passes(x, x->base[j]))
                x->pass[x->npass++] = x->base[j];
        x->pass_valid = true;
        x->claimed = SIZE_MAX;
        return;
    }
    if (x->claimed == SIZE_MAX)
        return;
    size_t i = x->claimed, lo = 0, hi = x->npass;
    x->claimed = SIZE_MAX;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->pass[mid] < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    bool present = lo < x->npass && x->pass[lo] == i, ok = passes(x, i);
    if (ok && !present) {
        memmove(&x->pass[lo + 1], &x->pass[lo], (x->npass - lo) * sizeof *x->pass);
        x->pass[lo] = i;
        x->npass++;
    } else if (!ok && present) {
        memmove(&x->pass[lo], &x->pass[lo + 1], (x->npass - lo - 1) * sizeof *x->pass);
        x->npass--;
    }
}

static sched_status_t place_one(ctx_t *x, size_t k)
{
    sched_cluster_t *c = x->c;
    const bool explain = x->req->explain;
    sched_explanation_t *e = explain ? &x->expl[k] : NULL;
    if (e) {
        e->task = k;
        e->instance = SCHED_NO_INSTANCE;
        e->steps = sched_arena_alloc(x->arena, (2 + x->nstrat) * sizeof *e->steps);
        e->keys = x->nstrat ? sched_arena_alloc(x->arena, x->nstrat * sizeof *e->keys) : NULL;
        if (!e->steps || (x->nstrat && !e->keys))
            return ctx_nomem(x);
        if (step_begin(x, e, SCHED_STEP_RESOURCES, 0, c->n))
            return ctx_nomem(x);
    }
    /* failures are reported only for tasks that end up unplaced, so remember each instance's reason */
    size_t ncand = 0;
    const size_t *from = x->cand; /* the candidates left: x->pass until a strategy keeps some in x->cand */
    if (!explain) {
        /* the candidates the checks below would keep, in the same order */
        update_pass(x);
        from = x->pass;
        ncand = x->npass;
    } else {
        for (size_t i = 0; i < c->n; i++) {
            const char *detail;
            reason_t r = check_resources(x, &c->inst[i], true, &detail);
            if (r != R_COUNT) {
                step_remove(e, i, reason_text[r], detail);
                continue;
            }
            x->cand[ncand++] = i;
        }
        e->steps[e->nsteps - 1].remaining = ncand;
        if (step_begin(x, e, SCHED_STEP_CONSTRAINTS, 0, ncand))
            return ctx_nomem(x);
        size_t kept = 0;
        for (size_t j = 0; j < ncand; j++) {
            const char *detail;
            reason_t r = check_constraints(x, x->cand[j], true, &detail);
            if (r != R_COUNT) {
                step_remove(e, x->cand[j], reason_text[r], detail);
                continue;
            }
            x->cand[kept++] = x->cand[j];
        }
        ncand = kept;
        e->steps[e->nsteps - 1].remaining = ncand;
    }

    if (ncand == 0) {
        /* unplaced: one failure per (instance, reason), ECS's failures[] */
        if (c->n == 0 && !x->reported_empty) {
            x->reported_empty = true;
            if (add_failure(x, SCHED_NO_INSTANCE, NO_INSTANCES_REASON, NO_INSTANCES_DETAIL))
                return ctx_nomem(x);
        }
        for (size_t i = 0; i < c->n; i++) {
            const char *detail;
            reason_t r = check_resources(x, &c->inst[i], true, &detail);
            if (r == R_COUNT)
                r = check_constraints(x, i, true, &detail);
            if (r == R_COUNT || (x->reported[i] & (1u << r)))
                continue;
            x->reported[i] |= (uint8_t)(1u << r);
            if (add_failure(x, i, reason_text[r], detail))
                return ctx_nomem(x);
        }
        return SCHED_OK;
    }

    for (size_t s = 0; s < x->nstrat && !e; s++) {
        /* the candidates with the smallest key, in order, in one pass: a smaller key starts the list again */
        strat_keys(x, &x->strat[s], from, ncand);
        size_t kept = 0;
        double best = 0;
        for (size_t j = 0; j < ncand; j++) {
            if (j == 0 || x->key[j] < best) {
                best = x->key[j];
                kept = 0;
            }
            if (x->key[j] == best)
                x->cand[kept++] = from[j];
        }
        ncand = kept;
        from = x->cand;
    }
    for (size_t s = 0; s < x->nstrat && e; s++) {
        strat_t *st = &x->strat[s];
        strat_keys(x, st, x->cand, ncand);
        size_t bestj = 0; /* the first of the smallest */
        for (size_t j = 1; j < ncand; j++)
            if (x->key[j] < x->key[bestj])
                bestj = j;
        double best = x->key[bestj];
        const char *best_bucket = e ? strat_bucket(x, st, x->cand[bestj]) : NULL;
        if (e && step_begin(x, e, SCHED_STEP_STRATEGY, s, ncand))
            return ctx_nomem(x);
        size_t kept = 0;
        for (size_t j = 0; j < ncand; j++) {
            if (x->key[j] == best) {
                x->cand[kept++] = x->cand[j];
                continue;
            }
            if (e) {
                double key = x->key[j];
                const char *bucket = strat_bucket(x, st, x->cand[j]);
                const char *detail =
                    st->type == SCHED_STRATEGY_SPREAD
                        ? sched_arena_printf(x->arena, "%s has %.0f task(s) of the group, the best has %.0f",
                                             bucket ? bucket : "(no value)", key, best)
                    : st->type == SCHED_STRATEGY_BINPACK
                        ? st->field == F_IMAGE
                              ? sched_arena_printf(x->arena, "%.0f bytes of the image to pull, the best pulls %.0f", key, best)
                              : sched_arena_printf(x->arena, "%.0f %s would remain, the best leaves %.0f", key,
                                                   st->field == F_CPU ? "CPU units" : "MiB", best)
                        : sched_arena_printf(x->arena, "drew %.6f, the best drew %.6f", key, best);
                step_remove(e, x->cand[j], st->label, detail);
            }
        }
        ncand = kept;
        if (e) {
            e->steps[e->nsteps - 1].remaining = ncand;
            e->keys[e->nkeys++] = (sched_rank_key_t){.strategy = s, .key = best, .bucket = best_bucket};
        }
    }
    size_t winner = from[0];
    sched_status_t st = claim(x, winner, &x->tasks[x->ntasks]);
    if (st == SCHED_ENOMEM)
        return ctx_nomem(x);
    if (st) {
        sched_err_set(x->err, st, SIZE_MAX, "internal error: no dynamic port left on %s", c->inst[winner].arn);
        return st;
    }
    x->ntasks++;
    if (e) {
        e->placed = true;
        e->instance = winner;
    }
    return SCHED_OK;
}

static sched_status_t validate(const sched_placement_request_t *req, sched_err_t *err)
{
    const sched_task_def_t *td = req->task_def;
    if (!td) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "taskDefinition: missing");
        return SCHED_EINVAL;
    }
    if (td->cpu < 0 || td->memory < 0) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "taskDefinition: cpu and memory must not be negative");
        return SCHED_EINVAL;
    }
    if (!req->group && (!td->family || !*td->family)) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "taskDefinition.family: missing (needed for the default group)");
        return SCHED_EINVAL;
    }
    if (req->group && !*req->group) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "group: empty");
        return SCHED_EINVAL;
    }
    if (req->count > SCHED_MAX_TASKS_PER_REQUEST) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "count: %zu is more than %u", req->count, SCHED_MAX_TASKS_PER_REQUEST);
        return SCHED_EINVAL;
    }
    if (!strategies_valid(req->strategies, req->nstrategies, err))
        return SCHED_EINVAL;
    if (req->nconstraints > SCHED_MAX_CONSTRAINTS) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "placementConstraints: %zu constraints, at most %u", req->nconstraints,
                      SCHED_MAX_CONSTRAINTS);
        return SCHED_EINVAL;
    }
    for (size_t p = 0; p < td->nports; p++) {
        const sched_binding_t *a = &td->ports[p];
        if (a->protocol != SCHED_PROTO_TCP && a->protocol != SCHED_PROTO_UDP) {
            sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "portMappings[%zu].protocol: expected tcp or udp", p);
            return SCHED_EINVAL;
        }
        for (size_t q = 0; q < p; q++) {
            const sched_binding_t *b = &td->ports[q];
            if (a->host_port && a->host_port == b->host_port && a->protocol == b->protocol) {
                sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "portMappings[%zu].hostPort: %u/%s is already used by portMappings[%zu]",
                              p, a->host_port, a->protocol == SCHED_PROTO_UDP ? "udp" : "tcp", q);
                return SCHED_EINVAL;
            }
        }
    }
    return SCHED_OK;
}

static void ctx_release(ctx_t *x)
{
    for (size_t s = 0; s < x->nstrat; s++)
        strat_release(&x->strat[s]);
    for (size_t k = 0; k < x->nmember_of; k++)
        sched_cql_free(x->member_of[k]);
    /* gcount, reported, cand, key, base and pass are the cluster's scratch */
    free(x->held);
    free(x->member_cache);
    free(x->group_owned);
    free(x->placed_instances);
}

sched_status_t sched_place(sched_cluster_t *c, const sched_placement_request_t *req, sched_placement_t *out, sched_err_t *err)
{
    memset(out, 0, sizeof *out);
    sched_status_t st = validate(req, err);
    if (st)
        return st;
    ctx_t x = {.c = c, .req = req, .td = req->task_def, .err = err};
    size_t n = c->n;
    c->memo_clock++;
    if (req->group) {
        x.group = req->group;
    } else {
        size_t len = strlen("family:") + strlen(req->task_def->family) + 1;
        x.group_owned = malloc(len);
        if (!x.group_owned)
            return ctx_nomem(&x);
        snprintf(x.group_owned, len, "family:%s", req->task_def->family);
        x.group = x.group_owned;
    }
    for (size_t k = 0; k < req->nconstraints; k++) {
        const sched_constraint_t *con = &req->constraints[k];
        if (con->type == SCHED_CONSTRAINT_DISTINCT_INSTANCE) {
            x.distinct = true;
            continue;
        }
        if (con->type != SCHED_CONSTRAINT_MEMBER_OF) {
            sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "placementConstraints[%zu].type: expected distinctInstance or memberOf", k);
            st = SCHED_EINVAL;
            goto out;
        }
        if (!con->expression || !*con->expression) {
            sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "placementConstraints[%zu].expression: missing for memberOf", k);
            st = SCHED_EINVAL;
            goto out;
        }
        sched_err_t e2 = {0};
        st = sched_cql_parse(con->expression, &x.member_of[x.nmember_of], &e2);
        if (st) {
            if (err) {
                *err = e2;
                sched_err_set(err, st == SCHED_ENOMEM ? SCHED_ENOMEM : SCHED_EINVAL, e2.position,
                              "placementConstraints[%zu].expression: %s", k, e2.msg);
            }
            st = st == SCHED_ENOMEM ? SCHED_ENOMEM : SCHED_EINVAL;
            goto out;
        }
        if (sched_cql_is_static(x.member_of[x.nmember_of])) {
            const sched_filter_memo_t *f = memo_filter(c, con->expression, x.member_of[x.nmember_of]);
            if (!f) {
                x.nmember_of++;
                st = ctx_nomem(&x);
                goto out;
            }
            x.static_memo[x.nmember_of] = f;
        }
        x.nmember_of++;
    }
    size_t alloc_n = n ? n : 1;
    if (!scratch_reserve(c, alloc_n))
        goto nomem;
    x.gcount = c->scratch.gcount;
    x.member_cache = malloc(alloc_n * (x.nmember_of ? x.nmember_of : 1));
    x.reported = c->scratch.reported;
    memset(x.reported, 0, alloc_n);
    x.cand = c->scratch.cand;
    x.key = c->scratch.key;
    x.placed_instances = malloc((req->count ? req->count : 1) * sizeof *x.placed_instances);
    x.base = c->scratch.base;
    x.pass = c->scratch.pass;
    x.arena = sched_arena_new();
    x.tasks = NULL;
    if (!x.member_cache || !x.placed_instances || !x.arena)
        goto nomem;
    {
        /* walk the matches of the first static expression when there is one (the memo keeps them) */
        const sched_filter_memo_t *first = NULL;
        for (size_t k = 0; k < x.nmember_of && !first; k++)
            first = x.static_memo[k];
        size_t m = first ? first->nhits : n;
        for (size_t j = 0; j < m; j++) {
            size_t i = first ? first->hits[j] : j;
            const sched_instance_t *in = &c->inst[i];
            bool ok = in->status == SCHED_INSTANCE_ACTIVE && in->agent_connected;
            for (size_t k = 0; ok && k < x.nmember_of; k++)
                ok = !x.static_memo[k] || x.static_memo[k]->match[i];
            if (ok)
                x.base[x.nbase++] = i;
        }
    }
    memset(x.member_cache, -1, alloc_n * (x.nmember_of ? x.nmember_of : 1));
    for (size_t i = 0; i < n; i++)
        x.gcount[i] = sched_instance_group_tasks(c, i, x.group);
    for (size_t s = 0; s < req->nstrategies; s++) {
        strat_t *sp = &x.strat[x.nstrat++];
        sp->type = req->strategies[s].type;
        parse_field(&req->strategies[s], &sp->field, &sp->attr, NULL);
        char label[160];
        sched_strategy_describe(&req->strategies[s], label, sizeof label);
        if (!(sp->label = sched_arena_strdup(x.arena, label)))
            goto nomem;
        if (sp->field == F_ATTRIBUTE && strat_build_buckets(sp, c, x.gcount))
            goto nomem;
        if (sp->field == F_IMAGE && !x.held) {
            if (!(x.held = calloc(alloc_n, sizeof *x.held)))
                goto nomem;
            for (size_t i = 0; req->image_held && i < n; i++)
                x.held[i] = req->image_held[i] < 0                  ? 0
                            : req->image_held[i] > req->image_bytes ? req->image_bytes
                                                                    : req->image_held[i];
        }
    }
    for (size_t p = 0; p < x.td->nports; p++) {
        const sched_binding_t *b = &x.td->ports[p];
        if (!b->host_port)
            x.ndyn[b->protocol]++;
        else if (b->host_port >= SCHED_DYNAMIC_PORT_FIRST)
            x.nfixed_in_dyn[b->protocol]++;
    }
    sched_rng_seed(&x.rng, req->seed);
    x.tasks = sched_arena_alloc(x.arena, (req->count ? req->count : 1) * sizeof *x.tasks);
    if (req->explain) {
        x.expl = sched_arena_alloc(x.arena, (req->count ? req->count : 1) * sizeof *x.expl);
        if (x.expl)
            memset(x.expl, 0, (req->count ? req->count : 1) * sizeof *x.expl);
    }
    if (!x.tasks || (req->explain && !x.expl))
        goto nomem;

    for (size_t k = 0; k < req->count; k++) {
        st = place_one(&x, k);
        if (st)
            goto rollback;
    }
    out->tasks = x.tasks;
    out->ntasks = x.ntasks;
    out->nunplaced = req->count - x.ntasks;
    if (x.nfailures) {
        out->failures = sched_arena_alloc(x.arena, x.nfailures * sizeof *out->failures);
        if (!out->failures)
            goto nomem_rollback;
        memcpy(out->failures, x.failures, x.nfailures * sizeof *out->failures);
        out->nfailures = x.nfailures;
    }
    out->explanations = x.expl;
    out->nexplanations = req->explain ? req->count : 0;
    out->arena = x.arena;
    free(x.failures);
    ctx_release(&x);
    return SCHED_OK;

nomem_rollback:
    ctx_nomem(&x);
    st = SCHED_ENOMEM;
rollback:
    /* leave the cluster as it was: undo every claim, newest first */
    while (x.placed_instances_n > 0)
        unclaim_last(&c->inst[x.placed_instances[--x.placed_instances_n]]);
    goto out;
nomem:
    st = ctx_nomem(&x);
out:
    sched_arena_free(x.arena);
    free(x.failures);
    ctx_release(&x);
    memset(out, 0, sizeof *out);
    return st;
}

void sched_placement_free(sched_placement_t *p)
{
    if (!p)
        return;
    sched_arena_free(p->arena);
    memset(p, 0, sizeof *p);
}

/* --------------------------------------------------------------- scale-in */

sched_status_t sched_scale_in(sched_cluster_t *c, const sched_scale_in_request_t *req, sched_scale_in_t *out, sched_err_t *err)
{
    memset(out, 0, sizeof *out);
    if (!req->group || !*req->group) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "group: missing");
        return SCHED_EINVAL;
    }
    if (!strategies_valid(req->strategies, req->nstrategies, err))
        return SCHED_EINVAL;
    size_t n = c->n, alloc_n = n ? n : 1;
    c->memo_clock++;
    strat_t strat[SCHED_MAX_STRATEGIES] = {0};
    size_t nstrat = 0;
    sched_status_t st = SCHED_OK;
    size_t *gcount = calloc(alloc_n, sizeof *gcount);
    size_t *cand = malloc(alloc_n * sizeof *cand);
    double *key = malloc(alloc_n * sizeof *key);
    sched_arena_t *arena = sched_arena_new();
    sched_stopped_task_t *stopped = NULL;
    size_t total = 0;
    if (!gcount || !cand || !key || !arena)
        goto nomem;
    size_t arn_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        gcount[i] = sched_instance_group_tasks(c, i, req->group);
        total += gcount[i];
        for (size_t t = 0; t < c->inst[i].ntasks; t++)
            if (c->inst[i].tasks[t].arn && strcmp(c->inst[i].tasks[t].group, req->group) == 0)
                arn_bytes += strlen(c->inst[i].tasks[t].arn) + 1;
    }
    size_t want = req->count < total ? req->count : total;
    /* every allocation happens before the first task is removed, so a failure changes nothing */
    stopped = sched_arena_alloc(arena, (want ? want : 1) * sizeof *stopped);
    char *arn_buf = sched_arena_alloc(arena, arn_bytes ? arn_bytes : 1);
    if (!stopped || !arn_buf)
        goto nomem;
    for (size_t s = 0; s < req->nstrategies; s++) {
        strat_t *sp = &strat[nstrat++];
        sp->type = req->strategies[s].type;
        parse_field(&req->strategies[s], &sp->field, &sp->attr, NULL);
        if (sp->field == F_ATTRIBUTE && strat_build_buckets(sp, c, gcount))
            goto nomem;
    }
    sched_rng_t rng;
    sched_rng_seed(&rng, req->seed);
    size_t nstopped = 0;
    while (nstopped < want) {
        size_t ncand = 0;
        for (size_t i = 0; i < n; i++)
            if (gcount[i] > 0)
                cand[ncand++] = i;
        /* the reverse of placement: the key is negated so the smallest still wins */
        for (size_t s = 0; s <= nstrat && ncand > 1; s++) {
            double best = 0;
            for (size_t j = 0; j < ncand; j++) {
                const sched_instance_t *in = &c->inst[cand[j]];
                double k;
                if (s == nstrat) {
                    k = sched_rng_unit(&rng); /* ECS: "within an Availability Zone, tasks are selected at random" */
                } else if (strat[s].type == SCHED_STRATEGY_SPREAD) {
                    k = -(double)(strat[s].field == F_INSTANCE ? gcount[cand[j]] : strat[s].bucket_count[strat[s].bucket[cand[j]]]);
                } else if (strat[s].type == SCHED_STRATEGY_BINPACK && strat[s].field == F_IMAGE) {
                    k = 0; /* where the image is says nothing about which task to stop */
                } else if (strat[s].type == SCHED_STRATEGY_BINPACK) {
                    /* the instance left with the most of the resource after the stop gives up the task */
                    int64_t freed = 0;
                    for (size_t t = in->ntasks; t-- > 0;) {
                        if (strcmp(in->tasks[t].group, req->group) == 0) {
                            freed = strat[s].field == F_CPU ? in->tasks[t].cpu : in->tasks[t].memory;
                            break;
                        }
                    }
                    k = -(double)((strat[s].field == F_CPU ? in->rem_cpu : in->rem_mem) + freed);
                } else {
                    k = sched_rng_unit(&rng);
                }
                key[j] = k;
                if (j == 0 || k < best)
                    best = k;
            }
            size_t kept = 0;
            for (size_t j = 0; j < ncand; j++)
                if (key[j] == best)
                    cand[kept++] = cand[j];
            ncand = kept;
        }
        size_t i = cand[0];
        sched_instance_t *in = &c->inst[i];
        /* the newest task of the group on that instance */
        size_t t = in->ntasks;
        while (t-- > 0)
            if (strcmp(in->tasks[t].group, req->group) == 0)
                break;
        stopped[nstopped].instance = i;
        stopped[nstopped].task_arn = NULL;
        if (in->tasks[t].arn) {
            size_t len = strlen(in->tasks[t].arn) + 1;
            memcpy(arn_buf, in->tasks[t].arn, len);
            stopped[nstopped].task_arn = arn_buf;
            arn_buf += len;
        }
        nstopped++;
        /* remove it: release its resources, then close the gap */
        sched_task_t *task = &in->tasks[t];
        in->rem_cpu += task->cpu;
        in->rem_mem += task->memory;
        for (size_t p = 0; p < task->nbindings; p++)
            sched_portset_remove(&in->used[task->bindings[p].protocol], task->bindings[p].host_port);
        sched_task_release(task);
        memmove(in->tasks + t, in->tasks + t + 1, (in->ntasks - t - 1) * sizeof *in->tasks);
        in->ntasks--;
        gcount[i]--;
        for (size_t s = 0; s < nstrat; s++)
            if (strat[s].field == F_ATTRIBUTE)
                strat[s].bucket_count[strat[s].bucket[i]]--;
    }
    out->stopped = stopped;
    out->nstopped = nstopped;
    out->arena = arena;
    arena = NULL;
    goto done;
nomem:
    sched_err_set(err, SCHED_ENOMEM, SIZE_MAX, "out of memory choosing tasks to stop");
    st = SCHED_ENOMEM;
done:
    for (size_t s = 0; s < nstrat; s++)
        strat_release(&strat[s]);
    free(gcount);
    free(cand);
    free(key);
    sched_arena_free(arena);
    return st;
}

void sched_scale_in_free(sched_scale_in_t *s)
{
    if (!s)
        return;
    sched_arena_free(s->arena);
    memset(s, 0, sizeof *s);
}
