/* The harness the ECS state suites share; see ecs_fixture.h. */
#define _XOPEN_SOURCE 700
#include "ecs_fixture.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
storage_t *st;
sched_ecs_env_t env;
sched_ecs_cache_t *ecs_cache;

void ecs_fixture_open(void)
{
    snprintf(dir, sizeof(dir), "%s/berth-ecs-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    storage_options_t opt = {.map_size = 64u << 20, .no_sync = true};
    storage_err_t err;
    st = storage_open(dir, &opt, &err);
    cr_assert_not_null(st, "storage_open: %s", err.msg);
    env = (sched_ecs_env_t){.region = "us-east-1", .account = "123456789012", .now = 1000000, .agent_timeout = 60, .seed = 42};
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void ecs_fixture_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void ecs_fixture_close(void)
{
    storage_close(st);
    ecs_fixture_rmtree(dir);
}

typedef struct {
    sched_ecs_request_t *r;
    json_t *out;
    sched_ecs_err_t err;
    int rc;
} call_t;

static storage_status_t run(storage_records_t *rs, void *ctx, storage_err_t *serr)
{
    call_t *c = ctx;
    json_decref(c->out);
    c->out = NULL;
    c->rc = sched_ecs_execute(rs, c->r, &env, &c->out, &c->err);
    snprintf(serr->msg, sizeof(serr->msg), "%.200s", c->err.msg);
    return c->rc == 0 ? STORAGE_OK : STORAGE_INVALID;
}

json_t *call(const char *op, const char *body, sched_ecs_err_t *err)
{
    return call_on(st, ecs_cache, op, body, err);
}

json_t *call_on(storage_t *store, sched_ecs_cache_t *cache, const char *op, const char *body, sched_ecs_err_t *err)
{
    json_error_t je;
    json_t *b = json_loads(body, 0, &je);
    cr_assert_not_null(b, "test body: %s", je.text);
    call_t c = {0};
    env.seed++;
    int rc = sched_ecs_prepare(op, b, &env, &c.r, &c.err);
    json_decref(b);
    if (rc == 0) {
        if (sched_ecs_request_writes(c.r)) {
            storage_op_t sop;
            storage_op_init(&sop, STORAGE_OP_RECORDS);
            sop.records_fn = run;
            sop.records_ctx = &c;
            env.cache = cache;
            storage_status_t s = storage_execute(store, &sop);
            env.cache = NULL;
            cr_assert(s == STORAGE_OK || c.rc != 0, "%s: the store failed: %s", op, sop.err.msg);
        } else {
            storage_reader_t *rd = storage_reader_begin(store, NULL);
            cr_assert_not_null(rd);
            c.rc = sched_ecs_execute(storage_reader_records(rd), c.r, &env, &c.out, &c.err);
            storage_reader_end(rd);
        }
    }
    sched_ecs_request_free(c.r);
    if (err)
        *err = c.err;
    if (c.rc || rc) {
        json_decref(c.out);
        return NULL;
    }
    return c.out;
}

json_t *ok(const char *op, const char *body)
{
    sched_ecs_err_t err = {0};
    json_t *out = call(op, body, &err);
    cr_assert_not_null(out, "%s %s: %s: %s", op, body, err.type, err.msg);
    return out;
}

void fails(const char *op, const char *body, const char *type, const char *needle)
{
    sched_ecs_err_t err = {0};
    json_t *out = call(op, body, &err);
    cr_assert_null(out, "%s %s succeeded", op, body);
    cr_expect_str_eq(err.type, type, "%s: %s", op, err.msg);
    cr_expect(strstr(err.msg, needle) != NULL, "%s: '%s' not in: %s", op, needle, err.msg);
}

json_t *at(json_t *doc, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = doc;
    for (char *save, *p = strtok_r(buf, ".", &save); p && v; p = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(p)) : json_object_get(v, p);
    cr_assert_not_null(v, "no %s in %s", path, json_dumps(doc, JSON_COMPACT));
    return v;
}

long long num(json_t *doc, const char *path)
{
    return (long long)json_integer_value(at(doc, path));
}

const char *str(json_t *doc, const char *path)
{
    return json_string_value(at(doc, path));
}

char *register_instance(const char *cluster, const char *az, int cpu, int mem)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"cluster\":\"%s\",\"instanceIdentityDocument\":\"{\\\"availabilityZone\\\":\\\"%s\\\"}\",\"totalResources\":["
             "{\"name\":\"CPU\",\"type\":\"INTEGER\",\"integerValue\":%d},{\"name\":\"MEMORY\",\"type\":\"INTEGER\","
             "\"integerValue\":%d},"
             "{\"name\":\"PORTS\",\"type\":\"STRINGSET\",\"stringSetValue\":[\"22\"]}]}",
             cluster, az, cpu, mem);
    json_t *out = ok("RegisterContainerInstance", body);
    char *arn = strdup(str(out, "containerInstance.containerInstanceArn"));
    json_decref(out);
    return arn;
}

json_t *describe_instance(const char *cluster, const char *arn)
{
    char body[1024];
    snprintf(body, sizeof(body), "{\"cluster\":\"%s\",\"containerInstances\":[\"%s\"]}", cluster, arn);
    return ok("DescribeContainerInstances", body);
}
