/*
 * scheduler/ecs_json.c — ECS's own JSON into the scheduler's structs: the
 * output of `aws ecs describe-container-instances`, `describe-tasks` and
 * `describe-task-definition`, as `berth placement simulate` reads it and the
 * server's ECS API will. Pure: the caller loads the JSON; every message names
 * the source and the field.
 */
#include "scheduler/scheduler.h"
#include "scheduler/scheduler_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills err (code and message) and gives the code, so that a reader can `return ecs_fail(...)`. */
#define ecs_fail(err, code, ...) (sched_err_set((err), (code), SIZE_MAX, __VA_ARGS__), (code))

/* A JSON real's integer part, when it has one in int64_t: converting one
 * past that range is undefined behaviour (and gave negative CPU elsewhere). */
static bool real_to_int(double d, int64_t *out)
{
    if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0)) /* false for NaN too */
        return false;
    *out = (int64_t)d;
    return true;
}

/* an integer from a JSON number or a numeric string (task definitions carry "cpu": "256") */
static bool json_to_int(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_real(v))
        return real_to_int(json_real_value(v), out);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (*s && !*end && !errno) {
            *out = x;
            return true;
        }
    }
    return false;
}

static const char *opt_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* -------------------------------------------------------------- instances */

typedef struct {
    uint16_t *tcp, *udp;
    size_t ntcp, nudp;
} ports_t;

static sched_status_t read_ports(const json_t *r, const char *where, ports_t *p, bool udp, sched_err_t *err)
{
    const json_t *set = json_object_get(r, "stringSetValue");
    if (!set)
        return SCHED_OK;
    if (!json_is_array(set))
        return ecs_fail(err, SCHED_EINVAL, "%s.stringSetValue: expected an array of port strings", where);
    size_t n = json_array_size(set);
    uint16_t *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return ecs_fail(err, SCHED_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int64_t port;
        if (!json_to_int(json_array_get(set, i), &port) || port < 1 || port > 65535) {
            free(v);
            return ecs_fail(err, SCHED_EINVAL, "%s.stringSetValue[%zu]: expected a port number 1-65535", where, i);
        }
        v[i] = (uint16_t)port;
    }
    if (udp) {
        free(p->udp);
        p->udp = v;
        p->nudp = n;
    } else {
        free(p->tcp);
        p->tcp = v;
        p->ntcp = n;
    }
    return SCHED_OK;
}

/* CPU, MEMORY (and, for remaining, PORTS and PORTS_UDP) from a resources array */
static sched_status_t read_resources(const json_t *arr, const char *where, int64_t *cpu, int64_t *mem, ports_t *ports,
                                     sched_err_t *err)
{
    if (!arr)
        return ecs_fail(err, SCHED_EINVAL, "%s: missing", where);
    if (!json_is_array(arr))
        return ecs_fail(err, SCHED_EINVAL, "%s: expected an array", where);
    bool have_cpu = false, have_mem = false;
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r)
    {
        char at[256];
        snprintf(at, sizeof at, "%s[%zu]", where, i);
        const char *name = opt_string(r, "name");
        if (!name)
            return ecs_fail(err, SCHED_EINVAL, "%s.name: missing", at);
        if (strcmp(name, "CPU") == 0 || strcmp(name, "MEMORY") == 0) {
            int64_t v;
            if (!json_to_int(json_object_get(r, "integerValue"), &v) || v < 0)
                return ecs_fail(err, SCHED_EINVAL, "%s.integerValue: expected a non-negative integer for %s", at, name);
            *(name[0] == 'C' ? cpu : mem) = v;
            *(name[0] == 'C' ? &have_cpu : &have_mem) = true;
        } else if (ports && (strcmp(name, "PORTS") == 0 || strcmp(name, "PORTS_UDP") == 0)) {
            if (read_ports(r, at, ports, strcmp(name, "PORTS_UDP") == 0, err))
                return err->code;
        }
    }
    if (!have_cpu)
        return ecs_fail(err, SCHED_EINVAL, "%s: no CPU resource", where);
    if (!have_mem)
        return ecs_fail(err, SCHED_EINVAL, "%s: no MEMORY resource", where);
    return SCHED_OK;
}

static sched_status_t read_registered_at(const json_t *v, const char *where, int64_t *out, sched_err_t *err)
{
    *out = SCHED_TIME_UNKNOWN;
    if (!v)
        return SCHED_OK;
    if (json_is_number(v) && real_to_int(json_number_value(v), out)) /* the API's epoch seconds */
        return SCHED_OK;
    if (json_is_string(v) && sched_time_parse(json_string_value(v), out, NULL))
        return SCHED_OK;
    return ecs_fail(err, SCHED_EINVAL, "%s.registeredAt: expected epoch seconds or a date like 2018-06-18T22:28:28+00:00", where);
}

sched_status_t sched_ecs_add_instances(sched_cluster_t *c, const json_t *doc, const char *file, sched_ecs_skip_cb skipped,
                                       void *ctx, sched_err_t *err)
{
    sched_err_t local;
    if (!err)
        err = &local;
    const json_t *arr = json_is_array(doc) ? doc : json_object_get(doc, "containerInstances");
    if (!json_is_array(arr))
        return ecs_fail(err, SCHED_EINVAL,
                        "%s: containerInstances: expected an array (the output of aws ecs describe-container-instances)", file);
    size_t i;
    json_t *ci;
    json_array_foreach(arr, i, ci)
    {
        char where[128];
        snprintf(where, sizeof where, "%s: containerInstances[%zu]", file, i);
        if (!json_is_object(ci))
            return ecs_fail(err, SCHED_EINVAL, "%s: expected an object", where);
        sched_instance_spec_t spec = {0};
        spec.arn = opt_string(ci, "containerInstanceArn");
        if (!spec.arn)
            return ecs_fail(err, SCHED_EINVAL, "%s.containerInstanceArn: missing", where);
        spec.ec2_instance_id = opt_string(ci, "ec2InstanceId");
        const char *status = opt_string(ci, "status");
        if (!status || strcmp(status, "ACTIVE") == 0) {
            spec.status = SCHED_INSTANCE_ACTIVE;
        } else if (strcmp(status, "DRAINING") == 0) {
            spec.status = SCHED_INSTANCE_DRAINING;
        } else {
            /* REGISTERING, DEREGISTERING, INACTIVE, ...: never a placement target */
            if (skipped)
                skipped(ctx, where, status);
            continue;
        }
        const json_t *connected = json_object_get(ci, "agentConnected");
        if (connected && !json_is_boolean(connected))
            return ecs_fail(err, SCHED_EINVAL, "%s.agentConnected: expected true or false", where);
        spec.agent_connected = connected ? json_is_true(connected) : true;
        spec.agent_version = opt_string(json_object_get(ci, "versionInfo"), "agentVersion");
        if (read_registered_at(json_object_get(ci, "registeredAt"), where, &spec.registered_at, err))
            return err->code;
        char rw[160];
        ports_t ports = {0};
        snprintf(rw, sizeof rw, "%s.registeredResources", where);
        if (read_resources(json_object_get(ci, "registeredResources"), rw, &spec.registered_cpu, &spec.registered_memory, NULL,
                           err))
            return err->code;
        snprintf(rw, sizeof rw, "%s.remainingResources", where);
        if (read_resources(json_object_get(ci, "remainingResources"), rw, &spec.remaining_cpu, &spec.remaining_memory, &ports,
                           err)) {
            free(ports.tcp);
            free(ports.udp);
            return err->code;
        }
        spec.used_tcp_ports = ports.tcp;
        spec.nused_tcp_ports = ports.ntcp;
        spec.used_udp_ports = ports.udp;
        spec.nused_udp_ports = ports.nudp;
        int64_t running = 0;
        const json_t *rt = json_object_get(ci, "runningTasksCount");
        if (rt && (!json_to_int(rt, &running) || running < 0)) {
            free(ports.tcp);
            free(ports.udp);
            return ecs_fail(err, SCHED_EINVAL, "%s.runningTasksCount: expected a non-negative integer", where);
        }
        spec.running_tasks_count = (size_t)running;
        const json_t *attrs = json_object_get(ci, "attributes");
        size_t na = json_array_size(attrs);
        sched_attribute_t *a = calloc(na ? na : 1, sizeof *a);
        if (!a) {
            free(ports.tcp);
            free(ports.udp);
            return ecs_fail(err, SCHED_ENOMEM, "out of memory");
        }
        for (size_t k = 0; k < na; k++) {
            const json_t *at = json_array_get(attrs, k);
            a[k].name = opt_string(at, "name");
            a[k].value = opt_string(at, "value");
            if (!a[k].name) {
                free(a);
                free(ports.tcp);
                free(ports.udp);
                return ecs_fail(err, SCHED_EINVAL, "%s.attributes[%zu].name: missing", where, k);
            }
        }
        spec.attributes = a;
        spec.nattributes = na;
        sched_err_t se = {0};
        sched_status_t st = sched_cluster_add_instance(c, &spec, NULL, &se);
        free(a);
        free(ports.tcp);
        free(ports.udp);
        if (st)
            return ecs_fail(err, st, "%s: %s", where, se.msg);
    }
    return SCHED_OK;
}

/* ---------------------------------------------------------------- tasks */

sched_status_t sched_ecs_add_tasks(sched_cluster_t *c, const json_t *doc, const char *file, sched_err_t *err)
{
    sched_err_t local;
    if (!err)
        err = &local;
    const json_t *arr = json_is_array(doc) ? doc : json_object_get(doc, "tasks");
    if (!json_is_array(arr))
        return ecs_fail(err, SCHED_EINVAL, "%s: tasks: expected an array (the output of aws ecs describe-tasks)", file);
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t)
    {
        char where[128];
        snprintf(where, sizeof where, "%s: tasks[%zu]", file, i);
        const char *ci = opt_string(t, "containerInstanceArn");
        if (!ci)
            return ecs_fail(err, SCHED_EINVAL, "%s.containerInstanceArn: missing", where);
        size_t idx = sched_cluster_find_instance(c, ci);
        if (idx == SCHED_NO_INSTANCE)
            return ecs_fail(err, SCHED_EINVAL, "%s.containerInstanceArn: %s is not among the instances", where, ci);
        const char *last = opt_string(t, "lastStatus");
        if (last && strcmp(last, "STOPPED") == 0)
            continue;
        sched_task_spec_t spec = {.arn = opt_string(t, "taskArn"), .group = opt_string(t, "group")};
        /* the family is the task definition ARN's last part without the revision */
        const char *tdarn = opt_string(t, "taskDefinitionArn");
        char family[256] = "";
        if (tdarn) {
            const char *slash = strrchr(tdarn, '/');
            snprintf(family, sizeof family, "%s", slash ? slash + 1 : tdarn);
            char *colon = strrchr(family, ':');
            if (colon)
                *colon = 0;
            spec.family = family;
        }
        if (!spec.group)
            return ecs_fail(err, SCHED_EINVAL, "%s.group: missing", where);
        json_to_int(json_object_get(t, "cpu"), &spec.cpu);
        json_to_int(json_object_get(t, "memory"), &spec.memory);
        /* host ports the task holds */
        sched_binding_t b[64];
        size_t nb = 0;
        size_t k;
        json_t *ct;
        json_array_foreach(json_object_get(t, "containers"), k, ct)
        {
            size_t m;
            json_t *nbind;
            json_array_foreach(json_object_get(ct, "networkBindings"), m, nbind)
            {
                int64_t hp = 0, cp = 0;
                json_to_int(json_object_get(nbind, "hostPort"), &hp);
                json_to_int(json_object_get(nbind, "containerPort"), &cp);
                const char *proto = opt_string(nbind, "protocol");
                if (hp < 1 || hp > 65535 || nb == sizeof b / sizeof b[0])
                    continue;
                b[nb++] = (sched_binding_t){opt_string(ct, "name"), (uint16_t)cp, (uint16_t)hp,
                                            proto && strcmp(proto, "udp") == 0 ? SCHED_PROTO_UDP : SCHED_PROTO_TCP};
            }
        }
        spec.bindings = b;
        spec.nbindings = nb;
        sched_err_t se = {0};
        sched_status_t st = sched_cluster_add_task(c, idx, &spec, &se);
        if (st)
            return ecs_fail(err, st, "%s: %s", where, se.msg);
    }
    return SCHED_OK;
}

/* ------------------------------------------------------- task definition */

sched_status_t sched_ecs_read_task_definition(const json_t *doc, const char *file, sched_ecs_task_def_t *out, sched_err_t *err)
{
    sched_err_t local;
    if (!err)
        err = &local;
    const json_t *td = json_object_get(doc, "taskDefinition");
    if (!td)
        td = doc;
    if (!json_is_object(td))
        return ecs_fail(err, SCHED_EINVAL,
                        "%s: taskDefinition: expected an object (the output of aws ecs describe-task-definition)", file);
    out->td.family = opt_string(td, "family");
    if (!out->td.family)
        return ecs_fail(err, SCHED_EINVAL, "%s: taskDefinition.family: missing", file);
    out->arn = opt_string(td, "taskDefinitionArn");
    const char *mode = opt_string(td, "networkMode");
    if (!mode)
        mode = "bridge";
    if (strcmp(mode, "bridge") && strcmp(mode, "host") && strcmp(mode, "awsvpc") && strcmp(mode, "none"))
        return ecs_fail(err, SCHED_EINVAL, "%s: taskDefinition.networkMode: expected bridge, host, awsvpc or none, found %s", file,
                        mode);
    const json_t *defs = json_object_get(td, "containerDefinitions");
    if (!json_is_array(defs) || json_array_size(defs) == 0)
        return ecs_fail(err, SCHED_EINVAL, "%s: taskDefinition.containerDefinitions: expected a non-empty array", file);
    int64_t cpu_sum = 0, mem_sum = 0;
    bool mem_missing = false;
    size_t i;
    json_t *cd;
    json_array_foreach(defs, i, cd)
    {
        char where[160];
        snprintf(where, sizeof where, "%s: taskDefinition.containerDefinitions[%zu]", file, i);
        const char *name = opt_string(cd, "name");
        if (!name)
            return ecs_fail(err, SCHED_EINVAL, "%s.name: missing", where);
        if (out->ncontainers == SCHED_ECS_MAX_PORT_MAPPINGS)
            return ecs_fail(err, SCHED_EINVAL, "%s: more than %d containers", where, SCHED_ECS_MAX_PORT_MAPPINGS);
        out->containers[out->ncontainers++] = name;
        int64_t v;
        const json_t *j;
        if ((j = json_object_get(cd, "cpu"))) {
            if (!json_to_int(j, &v) || v < 0)
                return ecs_fail(err, SCHED_EINVAL, "%s.cpu: expected a non-negative integer", where);
            cpu_sum += v;
        }
        /* the scheduler reserves the soft limit when there is one, else the hard limit */
        if ((j = json_object_get(cd, "memoryReservation")) || (j = json_object_get(cd, "memory"))) {
            if (!json_to_int(j, &v) || v < 0)
                return ecs_fail(err, SCHED_EINVAL, "%s.%s: expected a non-negative integer", where,
                                json_object_get(cd, "memoryReservation") ? "memoryReservation" : "memory");
            mem_sum += v;
        } else {
            mem_missing = true;
        }
        size_t k;
        json_t *pm;
        json_array_foreach(json_object_get(cd, "portMappings"), k, pm)
        {
            char pw[200];
            snprintf(pw, sizeof pw, "%s.portMappings[%zu]", where, k);
            int64_t cport = 0, hport = 0;
            if (!json_to_int(json_object_get(pm, "containerPort"), &cport) || cport < 1 || cport > 65535)
                return ecs_fail(err, SCHED_EINVAL, "%s.containerPort: expected a port number 1-65535", pw);
            const json_t *hp = json_object_get(pm, "hostPort");
            if (hp && (!json_to_int(hp, &hport) || hport < 0 || hport > 65535))
                return ecs_fail(err, SCHED_EINVAL, "%s.hostPort: expected 0 or a port number up to 65535", pw);
            const char *proto = opt_string(pm, "protocol");
            if (proto && strcmp(proto, "tcp") && strcmp(proto, "udp"))
                return ecs_fail(err, SCHED_EINVAL, "%s.protocol: expected tcp or udp, found %s", pw, proto);
            if (strcmp(mode, "awsvpc") == 0 || strcmp(mode, "none") == 0)
                continue; /* the task gets its own network interface: no host port is claimed */
            if (strcmp(mode, "host") == 0)
                hport = cport; /* host mode binds the container port on the host */
            if (out->td.nports == SCHED_ECS_MAX_PORT_MAPPINGS)
                return ecs_fail(err, SCHED_EINVAL, "%s: more than %d port mappings", pw, SCHED_ECS_MAX_PORT_MAPPINGS);
            out->ports[out->td.nports++] = (sched_binding_t){
                name, (uint16_t)cport, (uint16_t)hport, proto && strcmp(proto, "udp") == 0 ? SCHED_PROTO_UDP : SCHED_PROTO_TCP};
        }
    }
    out->td.ports = out->ports;
    /* task-level cpu and memory, when set, are what the task reserves */
    const json_t *j;
    if ((j = json_object_get(td, "cpu")) && !json_is_null(j)) {
        if (!json_to_int(j, &out->td.cpu) || out->td.cpu < 0)
            return ecs_fail(err, SCHED_EINVAL, "%s: taskDefinition.cpu: expected a non-negative integer (or a string holding one)",
                            file);
    } else {
        out->td.cpu = cpu_sum;
    }
    if ((j = json_object_get(td, "memory")) && !json_is_null(j)) {
        if (!json_to_int(j, &out->td.memory) || out->td.memory < 0)
            return ecs_fail(err, SCHED_EINVAL,
                            "%s: taskDefinition.memory: expected a non-negative integer (or a string holding one)", file);
    } else if (mem_missing) {
        return ecs_fail(err, SCHED_EINVAL,
                        "%s: taskDefinition: each container needs memory or memoryReservation when the task sets no memory", file);
    } else {
        out->td.memory = mem_sum;
    }
    size_t k;
    json_t *pc;
    json_array_foreach(json_object_get(td, "placementConstraints"), k, pc)
    {
        const char *type = opt_string(pc, "type");
        if (!type || strcmp(type, "memberOf") != 0)
            return ecs_fail(err, SCHED_EINVAL, "%s: taskDefinition.placementConstraints[%zu].type: expected memberOf", file, k);
        if (out->nconstraints == SCHED_MAX_CONSTRAINTS)
            return ecs_fail(err, SCHED_EINVAL, "%s: taskDefinition.placementConstraints: more than %u", file,
                            SCHED_MAX_CONSTRAINTS);
        out->constraints[out->nconstraints++] = (sched_constraint_t){SCHED_CONSTRAINT_MEMBER_OF, opt_string(pc, "expression")};
    }
    return SCHED_OK;
}
