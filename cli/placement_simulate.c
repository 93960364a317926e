/*
 * cli/placement_simulate.c — `berth placement simulate`: read ECS's own JSON
 * (the output of `aws ecs describe-container-instances` and
 * `describe-task-definition`), place tasks with scheduler/ and print a
 * RunTask-shaped reply, or a table.
 *
 * Exit status: 0 every task placed, 1 some could not be, 2 bad input (the
 * message names the file and the field).
 */
#include "scheduler/scheduler.h"

#include "cli/cli_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_ALL_PLACED 0
#define EXIT_SOME_FAILED 1
#define EXIT_BAD_INPUT 2

/* a memberOf constraint from the task definition plus the command line */
#define MAX_CONSTRAINTS SCHED_MAX_CONSTRAINTS
#define MAX_STRATEGIES SCHED_MAX_STRATEGIES
/* "type=...,field=..." items are short; an expression may be long */
#define SHORTHAND_MAX 4096

static const char usage_text[] =
    "usage: berth placement simulate --instances FILE --task-definition FILE [--count N] [--group G]\n"
    "           [--placement-strategy type=T[,field=F] ...] [--placement-constraints type=T[,expression=E] ...]\n"
    "           [--tasks FILE] [--seed N] [--explain] [--table]\n"
    "\n"
    "  --instances FILE          output of `aws ecs describe-container-instances` (or its containerInstances array)\n"
    "  --task-definition FILE    output of `aws ecs describe-task-definition` (or its taskDefinition object)\n"
    "  --tasks FILE              optional: output of `aws ecs describe-tasks`, for the groups of running tasks\n"
    "  --count N                 tasks to place (default 1)\n"
    "  --group G                 task group (default family:FAMILY)\n"
    "  --placement-strategy      AWS CLI shorthand items or one JSON array, in order\n"
    "  --placement-constraints   AWS CLI shorthand items or one JSON array; added to the task definition's\n"
    "  --seed N                  seed of the `random` strategy (default 0)\n"
    "  --explain                 add explanations[]: what each step removed and why, and the winner's keys\n"
    "  --table                   print a summary per instance and per attribute value instead of JSON\n"
    "\n"
    "exit status: 0 all tasks placed, 1 some could not be placed, 2 bad input\n";

/* ------------------------------------------------------------ JSON helpers */

static json_t *load_json(const char *path, cli_err_t *e)
{
    static const char file_prefix[] = "file://";
    if (strncmp(path, file_prefix, sizeof file_prefix - 1) == 0)
        path += sizeof file_prefix - 1;
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        cli_fail(e, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
    return j;
}

/* ------------------------------------------------ ECS JSON (scheduler/) */

static void say_skipped(void *ctx, const char *where, const char *status)
{
    (void)ctx;
    fprintf(stderr, "berth placement simulate: %s: status %s, skipped\n", where, status);
}

/* true (with the reader's message in e) when a reader of ECS JSON failed */
static bool ecs_failed(sched_status_t st, const sched_err_t *se, cli_err_t *e)
{
    if (st == SCHED_OK)
        return false;
    cli_fail(e, "%s", se->msg);
    return true;
}

/* ------------------------------------------- strategies and constraints */

typedef struct {
    char *type, *field, *expression; /* owned */
} item_t;

static void item_free(item_t *it)
{
    free(it->type);
    free(it->field);
    free(it->expression);
    memset(it, 0, sizeof *it);
}

static bool starts_with_key(const char *s)
{
    return strncmp(s, "type=", 5) == 0 || strncmp(s, "field=", 6) == 0 || strncmp(s, "expression=", 11) == 0;
}

/* AWS CLI shorthand: "type=spread,field=attribute:ecs.availability-zone". A
 * comma only separates keys when a known key follows it, so an expression may
 * hold commas ("attribute:a in [x, y]"); a value may also be quoted. */
static int parse_shorthand(const char *s, const char *opt, item_t *it, cli_err_t *e)
{
    while (*s) {
        const char *eq = strchr(s, '=');
        if (!eq || !starts_with_key(s))
            return cli_fail(e, "%s: '%s': expected key=value with a key of type, field or expression", opt, s);
        size_t klen = (size_t)(eq - s);
        const char *v = eq + 1;
        const char *end;
        char *val;
        if (*v == '"' || *v == '\'') {
            const char *close = strchr(v + 1, *v);
            if (!close)
                return cli_fail(e, "%s: unterminated quote in '%s'", opt, s);
            val = strndup(v + 1, (size_t)(close - v - 1));
            end = close + 1;
            if (*end && *end != ',')
                return cli_fail(e, "%s: expected ',' after the quoted value in '%s'", opt, s);
        } else {
            end = v;
            while (*end && !(*end == ',' && starts_with_key(end + 1)))
                end++;
            val = strndup(v, (size_t)(end - v));
        }
        if (!val)
            return cli_fail(e, "out of memory");
        char **slot = klen == 4 ? &it->type : klen == 5 ? &it->field : &it->expression;
        free(*slot);
        *slot = val;
        s = *end == ',' ? end + 1 : end;
    }
    if (!it->type)
        return cli_fail(e, "%s: type: missing", opt);
    return 0;
}

/* one --placement-* value: a JSON array/object or shorthand items */
static int parse_items(char **vals, size_t nvals, const char *opt, item_t *items, size_t max, size_t *n, cli_err_t *e)
{
    for (size_t v = 0; v < nvals; v++) {
        const char *s = vals[v];
        while (*s == ' ')
            s++;
        if (*s == '[' || *s == '{') {
            json_error_t je;
            json_t *j = json_loads(s, 0, &je);
            if (!j)
                return cli_fail(e, "%s: invalid JSON at column %d: %s", opt, je.column, je.text);
            json_t *arr = json_is_array(j) ? j : NULL;
            size_t cnt = arr ? json_array_size(arr) : 1;
            for (size_t i = 0; i < cnt; i++) {
                json_t *o = arr ? json_array_get(arr, i) : j;
                if (*n == max) {
                    json_decref(j);
                    return cli_fail(e, "%s: more than %zu items", opt, max);
                }
                item_t *it = &items[(*n)++];
                const char *t = json_string_value(json_object_get(o, "type")), *f = json_string_value(json_object_get(o, "field")),
                           *x = json_string_value(json_object_get(o, "expression"));
                if (!t) {
                    json_decref(j);
                    return cli_fail(e, "%s[%zu].type: missing", opt, i);
                }
                it->type = strdup(t);
                it->field = f ? strdup(f) : NULL;
                it->expression = x ? strdup(x) : NULL;
                if (!it->type || (f && !it->field) || (x && !it->expression)) {
                    json_decref(j);
                    return cli_fail(e, "out of memory");
                }
            }
            json_decref(j);
            continue;
        }
        if (*n == max)
            return cli_fail(e, "%s: more than %zu items", opt, max);
        if (strlen(s) > SHORTHAND_MAX)
            return cli_fail(e, "%s: item longer than %d characters", opt, SHORTHAND_MAX);
        if (parse_shorthand(s, opt, &items[(*n)++], e))
            return -1;
    }
    return 0;
}

/* --------------------------------------------------------------- output */

/* "arn:aws:ecs:us-east-1:123:container-instance/c/abc" -> "arn:aws:ecs:us-east-1:123:task/simulated-N" */
static json_t *task_arn(const char *instance_arn, size_t n)
{
    char buf[512];
    const char *cut = strstr(instance_arn, ":container-instance/");
    if (cut)
        snprintf(buf, sizeof buf, "%.*s:task/simulated-%zu", (int)(cut - instance_arn), instance_arn, n + 1);
    else
        snprintf(buf, sizeof buf, "simulated-task-%zu", n + 1);
    return json_string(buf);
}

static json_t *instance_ref(const sched_cluster_t *c, size_t i)
{
    return i == SCHED_NO_INSTANCE ? json_null() : json_string(sched_instance_arn(c, i));
}

/* Every value and container of the reply goes in through put and push: a
 * jansson allocation that failed (a NULL value or container) makes the set or
 * append fail, which clears *ok for good (jansson drops the value then). */
static void put(bool *ok, json_t *obj, const char *key, json_t *v)
{
    if (json_object_set_new(obj, key, v) != 0)
        *ok = false;
}

static void push(bool *ok, json_t *arr, json_t *v)
{
    if (json_array_append_new(arr, v) != 0)
        *ok = false;
}

/* NULL: out of memory. */
static json_t *build_reply(const sched_cluster_t *c, const sched_placement_t *p, const sched_ecs_task_def_t *td, const char *group,
                           const sched_strategy_t *strategies, bool explain)
{
    bool ok = true;
    json_t *root = json_object(), *tasks = json_array(), *failures = json_array();
    for (size_t t = 0; t < p->ntasks; t++) {
        const sched_placed_task_t *pt = &p->tasks[t];
        json_t *task = json_object(), *containers = json_array();
        put(&ok, task, "taskArn", task_arn(sched_instance_arn(c, pt->instance), t));
        put(&ok, task, "containerInstanceArn", json_string(sched_instance_arn(c, pt->instance)));
        if (td->arn)
            put(&ok, task, "taskDefinitionArn", json_string(td->arn));
        put(&ok, task, "group", json_string(group));
        put(&ok, task, "lastStatus", json_string("PENDING"));
        put(&ok, task, "desiredStatus", json_string("RUNNING"));
        put(&ok, task, "launchType", json_string("EC2"));
        for (size_t k = 0; k < td->ncontainers; k++) {
            json_t *ct = json_object(), *nb = json_array();
            put(&ok, ct, "name", json_string(td->containers[k]));
            put(&ok, ct, "lastStatus", json_string("PENDING"));
            for (size_t b = 0; b < pt->nbindings; b++) {
                if (!pt->bindings[b].container_name || strcmp(pt->bindings[b].container_name, td->containers[k]) != 0)
                    continue;
                json_t *jb = json_object();
                put(&ok, jb, "bindIP", json_string("0.0.0.0"));
                put(&ok, jb, "containerPort", json_integer(pt->bindings[b].container_port));
                put(&ok, jb, "hostPort", json_integer(pt->bindings[b].host_port));
                put(&ok, jb, "protocol", json_string(pt->bindings[b].protocol == SCHED_PROTO_UDP ? "udp" : "tcp"));
                push(&ok, nb, jb);
            }
            put(&ok, ct, "networkBindings", nb);
            push(&ok, containers, ct);
        }
        put(&ok, task, "containers", containers);
        push(&ok, tasks, task);
    }
    for (size_t f = 0; f < p->nfailures; f++) {
        json_t *jf = json_object();
        if (p->failures[f].instance != SCHED_NO_INSTANCE)
            put(&ok, jf, "arn", json_string(sched_instance_arn(c, p->failures[f].instance)));
        put(&ok, jf, "reason", json_string(p->failures[f].reason));
        if (p->failures[f].detail)
            put(&ok, jf, "detail", json_string(p->failures[f].detail));
        push(&ok, failures, jf);
    }
    put(&ok, root, "tasks", tasks);
    put(&ok, root, "failures", failures);
    if (explain) {
        static const char *const step_names[] = {
            [SCHED_STEP_RESOURCES] = "resources", [SCHED_STEP_CONSTRAINTS] = "constraints", [SCHED_STEP_STRATEGY] = "strategy"};
        json_t *ex = json_array();
        for (size_t k = 0; k < p->nexplanations; k++) {
            const sched_explanation_t *e = &p->explanations[k];
            json_t *je = json_object(), *steps = json_array(), *keys = json_array();
            put(&ok, je, "task", json_integer((json_int_t)e->task));
            put(&ok, je, "placed", json_boolean(e->placed));
            put(&ok, je, "containerInstanceArn", instance_ref(c, e->instance));
            for (size_t s = 0; s < e->nsteps; s++) {
                const sched_step_t *st = &e->steps[s];
                json_t *js = json_object(), *removed = json_array();
                put(&ok, js, "step", json_string(step_names[st->kind]));
                if (st->kind == SCHED_STEP_STRATEGY) {
                    char label[160];
                    sched_strategy_describe(&strategies[st->strategy], label, sizeof label);
                    put(&ok, js, "strategy", json_string(label));
                }
                for (size_t r = 0; r < st->nremoved; r++) {
                    json_t *jr = json_object();
                    put(&ok, jr, "containerInstanceArn", instance_ref(c, st->removed[r].instance));
                    put(&ok, jr, "reason", json_string(st->removed[r].reason));
                    if (st->removed[r].detail)
                        put(&ok, jr, "detail", json_string(st->removed[r].detail));
                    push(&ok, removed, jr);
                }
                put(&ok, js, "removed", removed);
                put(&ok, js, "remaining", json_integer((json_int_t)st->remaining));
                push(&ok, steps, js);
            }
            for (size_t s = 0; s < e->nkeys; s++) {
                char label[160];
                sched_strategy_describe(&strategies[e->keys[s].strategy], label, sizeof label);
                json_t *jk = json_object();
                put(&ok, jk, "strategy", json_string(label));
                put(&ok, jk, "key", json_real(e->keys[s].key));
                if (e->keys[s].bucket)
                    put(&ok, jk, "bucket", json_string(e->keys[s].bucket));
                push(&ok, keys, jk);
            }
            put(&ok, je, "steps", steps);
            put(&ok, je, "rankingKeys", keys);
            push(&ok, ex, je);
        }
        put(&ok, root, "explanations", ex);
    }
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* the part of an ARN after the last '/', for narrow table columns */
static const char *short_arn(const char *arn)
{
    const char *s = strrchr(arn, '/');
    return s ? s + 1 : arn;
}

static void print_table(const sched_cluster_t *c, const sched_placement_t *p, const char *group, const sched_strategy_t *strategies,
                        size_t nstrategies)
{
    size_t n = sched_cluster_instance_count(c);
    size_t *placed = calloc(n ? n : 1, sizeof *placed);
    if (!placed) {
        fprintf(stderr, "berth placement simulate: out of memory\n");
        return;
    }
    for (size_t t = 0; t < p->ntasks; t++)
        placed[p->tasks[t].instance]++;
    printf("%-40s %-14s %-12s %7s %7s %9s %9s\n", "INSTANCE", "ZONE", "TYPE", "PLACED", "GROUP", "CPU_LEFT", "MEM_LEFT");
    for (size_t i = 0; i < n; i++) {
        const char *az = NULL, *type = NULL;
        sched_instance_attribute(c, i, "ecs.availability-zone", &az);
        sched_instance_attribute(c, i, "ecs.instance-type", &type);
        int64_t cpu, mem;
        sched_instance_remaining(c, i, &cpu, &mem);
        printf("%-40s %-14s %-12s %7zu %7zu %9" PRId64 " %9" PRId64 "\n", short_arn(sched_instance_arn(c, i)), az ? az : "-",
               type ? type : "-", placed[i], sched_instance_group_tasks(c, i, group), cpu, mem);
    }
    /* per attribute value: the zone, plus any attribute a spread strategy names */
    const char *attrs[SCHED_MAX_STRATEGIES + 1];
    size_t na = 0;
    attrs[na++] = "ecs.availability-zone";
    for (size_t s = 0; s < nstrategies; s++) {
        const char *f = strategies[s].field;
        if (strategies[s].type == SCHED_STRATEGY_SPREAD && f && strncmp(f, "attribute:", 10) == 0 && strcmp(f + 10, attrs[0]) != 0)
            attrs[na++] = f + 10;
    }
    for (size_t a = 0; a < na; a++) {
        printf("\n%-40s %7s %7s\n", attrs[a], "PLACED", "GROUP");
        bool *done = calloc(n ? n : 1, sizeof *done);
        if (!done)
            break;
        for (size_t i = 0; i < n; i++) {
            if (done[i])
                continue;
            const char *v = NULL;
            bool has = sched_instance_attribute(c, i, attrs[a], &v);
            size_t sum_placed = 0, sum_group = 0;
            for (size_t j = i; j < n; j++) {
                const char *w = NULL;
                bool hw = sched_instance_attribute(c, j, attrs[a], &w);
                if (done[j] || hw != has || (has && strcmp(v ? v : "", w ? w : "") != 0))
                    continue;
                done[j] = true;
                sum_placed += placed[j];
                sum_group += sched_instance_group_tasks(c, j, group);
            }
            printf("%-40s %7zu %7zu\n", has ? (v ? v : "(no value)") : "(absent)", sum_placed, sum_group);
        }
        free(done);
    }
    printf("\nplaced %zu, failed %zu", p->ntasks, p->nunplaced);
    if (p->nfailures) {
        printf("; reasons:");
        for (size_t f = 0; f < p->nfailures; f++)
            printf("%s %s%s%s", f ? "," : "", p->failures[f].reason, p->failures[f].instance != SCHED_NO_INSTANCE ? " on " : "",
                   p->failures[f].instance != SCHED_NO_INSTANCE ? short_arn(sched_instance_arn(c, p->failures[f].instance)) : "");
    }
    printf("\n");
    free(placed);
}

/* ------------------------------------------------------------------ main */

typedef struct {
    const char *instances, *task_definition, *tasks, *group;
    size_t count;
    uint64_t seed;
    bool explain, table;
    char **strategy_vals, **constraint_vals;
    size_t nstrategy_vals, nconstraint_vals;
} opts_t;

static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!*s || *s == '-')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v > max)
        return false;
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv, opts_t *o, cli_err_t *e)
{
    o->count = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        bool is_list = strcmp(a, "--placement-strategy") == 0 || strcmp(a, "--placement-constraints") == 0;
        if (is_list) {
            /* AWS CLI style: the values run until the next --option */
            int j = i + 1;
            while (j < argc && strncmp(argv[j], "--", 2) != 0)
                j++;
            if (j == i + 1)
                return cli_fail(e, "%s: expected at least one value", a);
            if (a[12] == 's') {
                o->strategy_vals = argv + i + 1;
                o->nstrategy_vals = (size_t)(j - i - 1);
            } else {
                o->constraint_vals = argv + i + 1;
                o->nconstraint_vals = (size_t)(j - i - 1);
            }
            i = j - 1;
            continue;
        }
        if (strcmp(a, "--explain") == 0) {
            o->explain = true;
            continue;
        }
        if (strcmp(a, "--table") == 0) {
            o->table = true;
            continue;
        }
        static const char *const valued[] = {"--instances", "--task-definition", "--tasks", "--group", "--count", "--seed"};
        bool known = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            known |= strcmp(a, valued[k]) == 0;
        if (!known)
            return cli_fail(e, "unknown option '%s' (see --help)", a);
        if (!next)
            return cli_fail(e, "%s: expected a value", a);
        i++;
        uint64_t v;
        if (strcmp(a, "--instances") == 0)
            o->instances = next;
        else if (strcmp(a, "--task-definition") == 0)
            o->task_definition = next;
        else if (strcmp(a, "--tasks") == 0)
            o->tasks = next;
        else if (strcmp(a, "--group") == 0)
            o->group = next;
        else if (strcmp(a, "--count") == 0) {
            if (!parse_uint(next, SCHED_MAX_TASKS_PER_REQUEST, &v))
                return cli_fail(e, "--count: expected a whole number up to %u, found '%s'", SCHED_MAX_TASKS_PER_REQUEST, next);
            o->count = (size_t)v;
        } else {
            if (!parse_uint(next, UINT64_MAX, &v))
                return cli_fail(e, "--seed: expected a whole number, found '%s'", next);
            o->seed = v;
        }
    }
    if (!o->instances)
        return cli_fail(e, "--instances: required");
    if (!o->task_definition)
        return cli_fail(e, "--task-definition: required");
    return 0;
}

int berth_placement_simulate(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
    }
    cli_err_t e = {{0}};
    sched_err_t se = {0};
    opts_t o = {0};
    int rc = EXIT_BAD_INPUT;
    json_t *ci_doc = NULL, *td_doc = NULL, *tasks_doc = NULL, *reply = NULL;
    sched_cluster_t *c = NULL;
    sched_ecs_task_def_t *td = calloc(1, sizeof *td);
    item_t sitems[MAX_STRATEGIES] = {0}, citems[MAX_CONSTRAINTS] = {0};
    size_t ns = 0, nc = 0;
    sched_strategy_t strategies[MAX_STRATEGIES];
    sched_placement_t placement = {0};
    bool placed = false;
    if (!td) {
        cli_fail(&e, "out of memory");
        goto out;
    }
    if (parse_args(argc, argv, &o, &e))
        goto out;
    if (parse_items(o.strategy_vals, o.nstrategy_vals, "--placement-strategy", sitems, MAX_STRATEGIES, &ns, &e))
        goto out;
    if (parse_items(o.constraint_vals, o.nconstraint_vals, "--placement-constraints", citems, MAX_CONSTRAINTS, &nc, &e))
        goto out;
    for (size_t s = 0; s < ns; s++) {
        const char *t = sitems[s].type;
        if (strcmp(t, "binpack") == 0)
            strategies[s].type = SCHED_STRATEGY_BINPACK;
        else if (strcmp(t, "spread") == 0)
            strategies[s].type = SCHED_STRATEGY_SPREAD;
        else if (strcmp(t, "random") == 0)
            strategies[s].type = SCHED_STRATEGY_RANDOM;
        else {
            cli_fail(&e, "--placement-strategy[%zu].type: expected binpack, spread or random, found '%s'", s, t);
            goto out;
        }
        strategies[s].field = sitems[s].field;
        sched_err_t se = {0};
        if (!sched_strategy_valid(&strategies[s], &se)) {
            cli_fail(&e, "--placement-strategy[%zu].field: %s", s, se.msg);
            goto out;
        }
    }
    if (!(ci_doc = load_json(o.instances, &e)) || !(td_doc = load_json(o.task_definition, &e)))
        goto out;
    if (o.tasks && !(tasks_doc = load_json(o.tasks, &e)))
        goto out;
    if (ecs_failed(sched_ecs_read_task_definition(td_doc, o.task_definition, td, &se), &se, &e))
        goto out;
    for (size_t k = 0; k < nc; k++) {
        const char *t = citems[k].type;
        sched_constraint_t con = {0};
        if (strcmp(t, "distinctInstance") == 0) {
            con.type = SCHED_CONSTRAINT_DISTINCT_INSTANCE;
        } else if (strcmp(t, "memberOf") == 0) {
            con.type = SCHED_CONSTRAINT_MEMBER_OF;
            con.expression = citems[k].expression;
            if (!con.expression) {
                cli_fail(&e, "--placement-constraints[%zu].expression: missing for memberOf", k);
                goto out;
            }
        } else {
            cli_fail(&e, "--placement-constraints[%zu].type: expected distinctInstance or memberOf, found '%s'", k, t);
            goto out;
        }
        if (td->nconstraints == MAX_CONSTRAINTS) {
            cli_fail(&e, "--placement-constraints: more than %u constraints with the task definition's", MAX_CONSTRAINTS);
            goto out;
        }
        td->constraints[td->nconstraints++] = con;
    }
    c = sched_cluster_new();
    if (!c) {
        cli_fail(&e, "out of memory");
        goto out;
    }
    if (ecs_failed(sched_ecs_add_instances(c, ci_doc, o.instances, say_skipped, NULL, &se), &se, &e))
        goto out;
    if (tasks_doc && ecs_failed(sched_ecs_add_tasks(c, tasks_doc, o.tasks, &se), &se, &e))
        goto out;

    char default_group[300];
    snprintf(default_group, sizeof default_group, "family:%s", td->td.family);
    const char *group = o.group ? o.group : default_group;
    sched_placement_request_t req = {.task_def = &td->td,
                                     .group = group,
                                     .count = o.count,
                                     .strategies = strategies,
                                     .nstrategies = ns,
                                     .constraints = td->constraints,
                                     .nconstraints = td->nconstraints,
                                     .seed = o.seed,
                                     .explain = o.explain};
    sched_status_t st = sched_place(c, &req, &placement, &se);
    if (st) {
        /* the library names the field (placementConstraints[i].expression, ...) */
        cli_fail(&e, "%s", se.msg);
        goto out;
    }
    placed = true;
    if (o.table) {
        print_table(c, &placement, group, strategies, ns);
    } else {
        reply = build_reply(c, &placement, td, group, strategies, o.explain);
        if (!reply) {
            cli_fail(&e, "out of memory building the reply");
            goto out;
        }
        if (json_dumpf(reply, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
            cli_fail(&e, "failed to write the reply");
            goto out;
        }
        fputc('\n', stdout);
    }
    rc = placement.nunplaced ? EXIT_SOME_FAILED : EXIT_ALL_PLACED;
out:
    if (rc == EXIT_BAD_INPUT)
        fprintf(stderr, "berth placement simulate: %s\n", e.msg);
    if (placed)
        sched_placement_free(&placement);
    for (size_t s = 0; s < MAX_STRATEGIES; s++)
        item_free(&sitems[s]);
    for (size_t k = 0; k < MAX_CONSTRAINTS; k++)
        item_free(&citems[k]);
    json_decref(reply);
    json_decref(ci_doc);
    json_decref(td_doc);
    json_decref(tasks_doc);
    sched_cluster_free(c);
    free(td);
    return rc;
}
