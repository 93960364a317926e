/*
 * scheduler/cluster.c — the in-memory cluster: instances, attributes, ports,
 * recorded tasks; plus the small shared helpers (errors, arena, PRNG).
 */
#include "scheduler/scheduler_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the first arena chunk; later ones double, so a large explanation costs few mallocs */
#define ARENA_FIRST_CHUNK 4096u
/* a printf into the arena that needs more than this is truncated: details are short sentences */
#define ARENA_PRINTF_MAX 512u

const char *sched_strerror(sched_status_t st)
{
    switch (st) {
    case SCHED_OK:
        return "ok";
    case SCHED_EINVAL:
        return "invalid argument";
    case SCHED_ESYNTAX:
        return "syntax error";
    case SCHED_ENOMEM:
        return "out of memory";
    case SCHED_ERANGE:
        return "out of range";
    case SCHED_EIO:
        return "store failure";
    }
    return "unknown error";
}

void sched_err_set(sched_err_t *err, sched_status_t code, size_t position, const char *fmt, ...)
{
    if (!err)
        return;
    err->code = code;
    err->position = position;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ arena */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, size;
    max_align_t data[]; /* aligned for anything */
} arena_chunk_t;

struct sched_arena {
    arena_chunk_t *head;
    size_t next_size;
};

sched_arena_t *sched_arena_new(void)
{
    sched_arena_t *a = calloc(1, sizeof *a);
    if (a)
        a->next_size = ARENA_FIRST_CHUNK;
    return a;
}

void sched_arena_free(sched_arena_t *a)
{
    if (!a)
        return;
    arena_chunk_t *c = a->head;
    while (c) {
        arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void *sched_arena_alloc(sched_arena_t *a, size_t size)
{
    const size_t align = _Alignof(max_align_t);
    size = (size + align - 1) / align * align;
    if (size == 0)
        size = align;
    arena_chunk_t *c = a->head;
    if (!c || c->size - c->used < size) {
        size_t want = a->next_size;
        while (want < size)
            want *= 2;
        c = malloc(sizeof *c + want);
        if (!c)
            return NULL;
        c->size = want;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        if (a->next_size < (1u << 24))
            a->next_size *= 2;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

char *sched_arena_strdup(sched_arena_t *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = sched_arena_alloc(a, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

char *sched_arena_printf(sched_arena_t *a, const char *fmt, ...)
{
    char buf[ARENA_PRINTF_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return sched_arena_strdup(a, buf);
}

/* -------------------------------------------------------------------- rng */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void sched_rng_seed(sched_rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sched_rng_next(sched_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sched_rng_unit(sched_rng_t *r)
{
    return (double)(sched_rng_next(r) >> 11) * 0x1.0p-53;
}

/* --------------------------------------------------------------- port sets */

static bool is_dynamic(uint16_t p)
{
    /* the range ends at the largest port, so only the lower bound can fail */
    return (uint32_t)p >= SCHED_DYNAMIC_PORT_FIRST;
}

/* index of the first element >= port */
static size_t portset_lower_bound(const sched_portset_t *s, uint16_t port)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ports[mid] < port)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool sched_portset_has(const sched_portset_t *s, uint16_t port)
{
    size_t i = portset_lower_bound(s, port);
    return i < s->n && s->ports[i] == port;
}

sched_status_t sched_portset_add(sched_portset_t *s, uint16_t port)
{
    size_t i = portset_lower_bound(s, port);
    if (i < s->n && s->ports[i] == port)
        return SCHED_OK;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        uint16_t *p = realloc(s->ports, cap * sizeof *p);
        if (!p)
            return SCHED_ENOMEM;
        s->ports = p;
        s->cap = cap;
    }
    memmove(s->ports + i + 1, s->ports + i, (s->n - i) * sizeof *s->ports);
    s->ports[i] = port;
    s->n++;
    if (is_dynamic(port))
        s->n_dynamic++;
    return SCHED_OK;
}

void sched_portset_remove(sched_portset_t *s, uint16_t port)
{
    size_t i = portset_lower_bound(s, port);
    if (i >= s->n || s->ports[i] != port)
        return;
    memmove(s->ports + i, s->ports + i + 1, (s->n - i - 1) * sizeof *s->ports);
    s->n--;
    if (is_dynamic(port))
        s->n_dynamic--;
}

static bool in_list(const uint16_t *v, size_t n, uint16_t p)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == p)
            return true;
    return false;
}

uint16_t sched_portset_first_free_dynamic(const sched_portset_t *s, const uint16_t *extra, size_t nextra)
{
    size_t i = portset_lower_bound(s, SCHED_DYNAMIC_PORT_FIRST);
    for (uint32_t p = SCHED_DYNAMIC_PORT_FIRST; p <= SCHED_DYNAMIC_PORT_LAST; p++) {
        while (i < s->n && s->ports[i] < p)
            i++;
        if (i < s->n && s->ports[i] == p)
            continue;
        if (in_list(extra, nextra, (uint16_t)p))
            continue;
        return (uint16_t)p;
    }
    return 0;
}

/* ---------------------------------------------------------------- cluster */

sched_cluster_t *sched_cluster_new(void)
{
    return calloc(1, sizeof(sched_cluster_t));
}

void sched_task_release(sched_task_t *t)
{
    free(t->arn);
    free(t->family);
    free(t->group);
    for (size_t i = 0; i < t->nbindings; i++)
        free((char *)t->bindings[i].container_name);
    free(t->bindings);
    memset(t, 0, sizeof *t);
}

static void instance_release(sched_instance_t *in)
{
    free(in->arn);
    free(in->ec2_id);
    free(in->agent_version);
    for (size_t i = 0; i < in->nattrs; i++) {
        free(in->attrs[i].name);
        free(in->attrs[i].value);
    }
    free(in->attrs);
    free(in->used[0].ports);
    free(in->used[1].ports);
    for (size_t i = 0; i < in->ntasks; i++)
        sched_task_release(&in->tasks[i]);
    free(in->tasks);
}

void sched_cluster_free(sched_cluster_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        instance_release(&c->inst[i]);
    sched_cluster_memo_release(c);
    free(c->inst);
    free(c->by_arn);
    free(c);
}

/* strdup that maps NULL to NULL and reports failure through *ok */
static char *dup_opt(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

/* FNV-1a: ARNs are short and this index is only a lookup aid */
static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

size_t sched_cluster_find_instance(const sched_cluster_t *c, const char *arn)
{
    if (!c->by_arn_cap)
        return SCHED_NO_INSTANCE;
    size_t mask = c->by_arn_cap - 1;
    for (size_t h = hash_str(arn) & mask;; h = (h + 1) & mask) {
        size_t v = c->by_arn[h];
        if (v == 0)
            return SCHED_NO_INSTANCE;
        if (strcmp(c->inst[v - 1].arn, arn) == 0)
            return v - 1;
    }
}

static void index_insert(size_t *tab, size_t cap, const char *arn, size_t idx)
{
    size_t mask = cap - 1;
    size_t h = hash_str(arn) & mask;
    while (tab[h])
        h = (h + 1) & mask;
    tab[h] = idx + 1;
}

/* makes room in the ARN index for one more instance */
static bool index_reserve(sched_cluster_t *c)
{
    if ((c->n + 1) * 2 <= c->by_arn_cap)
        return true;
    size_t cap = c->by_arn_cap ? c->by_arn_cap * 2 : 64;
    size_t *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return false;
    for (size_t i = 0; i < c->n; i++)
        index_insert(tab, cap, c->inst[i].arn, i);
    free(c->by_arn);
    c->by_arn = tab;
    c->by_arn_cap = cap;
    return true;
}

sched_status_t sched_cluster_add_instance(sched_cluster_t *c, const sched_instance_spec_t *spec, size_t *index_out,
                                          sched_err_t *err)
{
    if (!spec->arn || !*spec->arn) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "containerInstanceArn: missing");
        return SCHED_EINVAL;
    }
    if (sched_cluster_find_instance(c, spec->arn) != SCHED_NO_INSTANCE) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "containerInstanceArn: %s appears twice", spec->arn);
        return SCHED_EINVAL;
    }
    if (spec->remaining_cpu < 0 || spec->remaining_memory < 0 || spec->registered_cpu < 0 || spec->registered_memory < 0) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "%s: CPU and memory must not be negative", spec->arn);
        return SCHED_EINVAL;
    }
    for (size_t i = 0; i < spec->nattributes; i++) {
        if (!spec->attributes[i].name || !*spec->attributes[i].name) {
            sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "%s: attributes[%zu].name: missing", spec->arn, i);
            return SCHED_EINVAL;
        }
    }
    if (!index_reserve(c))
        goto nomem_early;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        sched_instance_t *p = realloc(c->inst, cap * sizeof *p);
        if (!p)
            goto nomem_early;
        c->inst = p;
        c->cap = cap;
    }
    sched_instance_t in = {0};
    bool ok = true;
    in.arn = dup_opt(spec->arn, &ok);
    in.ec2_id = dup_opt(spec->ec2_instance_id, &ok);
    in.agent_version = dup_opt(spec->agent_version, &ok);
    in.status = spec->status;
    in.agent_connected = spec->agent_connected;
    in.registered_at = spec->registered_at;
    in.reg_cpu = spec->registered_cpu;
    in.reg_mem = spec->registered_memory;
    in.rem_cpu = spec->remaining_cpu;
    in.rem_mem = spec->remaining_memory;
    in.untracked_running = spec->running_tasks_count;
    if (ok && spec->nattributes) {
        in.attrs = calloc(spec->nattributes, sizeof *in.attrs);
        if (!in.attrs)
            ok = false;
        for (size_t i = 0; ok && i < spec->nattributes; i++) {
            in.attrs[i].name = dup_opt(spec->attributes[i].name, &ok);
            in.attrs[i].value = dup_opt(spec->attributes[i].value, &ok);
            in.nattrs = i + 1;
        }
    }
    for (size_t i = 0; ok && i < spec->nused_tcp_ports; i++)
        ok = sched_portset_add(&in.used[SCHED_PROTO_TCP], spec->used_tcp_ports[i]) == SCHED_OK;
    for (size_t i = 0; ok && i < spec->nused_udp_ports; i++)
        ok = sched_portset_add(&in.used[SCHED_PROTO_UDP], spec->used_udp_ports[i]) == SCHED_OK;
    if (!ok) {
        instance_release(&in);
        goto nomem_early;
    }
    c->inst[c->n] = in;
    index_insert(c->by_arn, c->by_arn_cap, in.arn, c->n);
    if (index_out)
        *index_out = c->n;
    c->n++;
    return SCHED_OK;

nomem_early:
    sched_err_set(err, SCHED_ENOMEM, SIZE_MAX, "out of memory adding instance %s", spec->arn);
    return SCHED_ENOMEM;
}

sched_status_t sched_instance_append_task(sched_instance_t *in, const sched_task_spec_t *t)
{
    if (in->ntasks == in->tasks_cap) {
        size_t cap = in->tasks_cap ? in->tasks_cap * 2 : 4;
        sched_task_t *p = realloc(in->tasks, cap * sizeof *p);
        if (!p)
            return SCHED_ENOMEM;
        in->tasks = p;
        in->tasks_cap = cap;
    }
    sched_task_t task = {0};
    bool ok = true;
    task.arn = dup_opt(t->arn, &ok);
    task.family = dup_opt(t->family, &ok);
    task.group = dup_opt(t->group, &ok);
    task.cpu = t->cpu;
    task.memory = t->memory;
    if (ok && t->nbindings) {
        task.bindings = calloc(t->nbindings, sizeof *task.bindings);
        if (!task.bindings)
            ok = false;
        for (size_t i = 0; ok && i < t->nbindings; i++) {
            task.bindings[i] = t->bindings[i];
            task.bindings[i].container_name = dup_opt(t->bindings[i].container_name, &ok);
            task.nbindings = i + 1;
        }
    }
    if (!ok) {
        sched_task_release(&task);
        return SCHED_ENOMEM;
    }
    in->tasks[in->ntasks++] = task;
    return SCHED_OK;
}

sched_status_t sched_cluster_add_task(sched_cluster_t *c, size_t instance, const sched_task_spec_t *task, sched_err_t *err)
{
    if (instance >= c->n) {
        sched_err_set(err, SCHED_ERANGE, SIZE_MAX, "instance index %zu out of range (cluster has %zu)", instance, c->n);
        return SCHED_ERANGE;
    }
    if (!task->group || !*task->group) {
        sched_err_set(err, SCHED_EINVAL, SIZE_MAX, "task on %s: group: missing", c->inst[instance].arn);
        return SCHED_EINVAL;
    }
    sched_instance_t *in = &c->inst[instance];
    /* reserve the ports first: a failure then leaves at most some ports marked taken that a
     * caller reported as taken anyway */
    for (size_t i = 0; i < task->nbindings; i++) {
        if (task->bindings[i].host_port == 0)
            continue;
        if (sched_portset_add(&in->used[task->bindings[i].protocol], task->bindings[i].host_port) != SCHED_OK)
            goto nomem;
    }
    if (sched_instance_append_task(in, task) != SCHED_OK)
        goto nomem;
    if (in->untracked_running > 0)
        in->untracked_running--;
    return SCHED_OK;
nomem:
    sched_err_set(err, SCHED_ENOMEM, SIZE_MAX, "out of memory adding a task to %s", in->arn);
    return SCHED_ENOMEM;
}

size_t sched_cluster_instance_count(const sched_cluster_t *c)
{
    return c->n;
}

const char *sched_instance_arn(const sched_cluster_t *c, size_t i)
{
    return i < c->n ? c->inst[i].arn : NULL;
}

const char *sched_instance_ec2_id(const sched_cluster_t *c, size_t i)
{
    return i < c->n ? c->inst[i].ec2_id : NULL;
}

void sched_instance_remaining(const sched_cluster_t *c, size_t i, int64_t *cpu, int64_t *memory)
{
    *cpu = i < c->n ? c->inst[i].rem_cpu : 0;
    *memory = i < c->n ? c->inst[i].rem_mem : 0;
}

void sched_instance_registered(const sched_cluster_t *c, size_t i, int64_t *cpu, int64_t *memory)
{
    *cpu = i < c->n ? c->inst[i].reg_cpu : 0;
    *memory = i < c->n ? c->inst[i].reg_mem : 0;
}

const sched_attr_t *sched_instance_find_attr(const sched_instance_t *in, const char *name)
{
    for (size_t i = 0; i < in->nattrs; i++)
        if (strcmp(in->attrs[i].name, name) == 0)
            return &in->attrs[i];
    return NULL;
}

bool sched_instance_attribute(const sched_cluster_t *c, size_t i, const char *name, const char **value)
{
    if (value)
        *value = NULL;
    if (i >= c->n)
        return false;
    const sched_attr_t *a = sched_instance_find_attr(&c->inst[i], name);
    if (!a)
        return false;
    if (value)
        *value = a->value;
    return true;
}

size_t sched_instance_running_tasks(const sched_cluster_t *c, size_t i)
{
    return i < c->n ? c->inst[i].ntasks + c->inst[i].untracked_running : 0;
}

size_t sched_instance_group_tasks(const sched_cluster_t *c, size_t i, const char *group)
{
    if (i >= c->n)
        return 0;
    if (!group)
        return c->inst[i].ntasks;
    size_t n = 0;
    for (size_t t = 0; t < c->inst[i].ntasks; t++)
        if (strcmp(c->inst[i].tasks[t].group, group) == 0)
            n++;
    return n;
}

bool sched_instance_port_taken(const sched_cluster_t *c, size_t i, uint16_t port, sched_proto_t proto)
{
    return i < c->n && sched_portset_has(&c->inst[i].used[proto], port);
}
