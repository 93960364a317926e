/*
 * scheduler/ecs_records.c — reading and writing the ECS records (space
 * "ecs") inside the caller's records transaction, shared by ecs_state.c and
 * ecs_service_state.c so both report a damaged record or a failed store in
 * the same words.
 */
#include "scheduler/scheduler_internal.h"
#include "storage/storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nomem(sched_ecs_err_t *err)
{
    sched_ecs_err(err, "ServerException", 500, "out of memory");
    return SCHED_ENOMEM;
}

static int store_failed(sched_ecs_err_t *err, const storage_err_t *se)
{
    if (se->status == STORAGE_NOMEM)
        return nomem(err);
    sched_ecs_err(err, "ServerException", 500, "cluster state: %s", se->msg);
    return SCHED_EIO;
}

int sched_ecs_rec_get(storage_records_t *rs, const char *key, json_t **out, sched_ecs_err_t *err)
{
    const void *val;
    size_t len;
    storage_err_t se = {0};
    *out = NULL;
    storage_status_t st = storage_record_get(rs, SCHED_ECS_SPACE, key, &val, &len, &se);
    if (st == STORAGE_NOT_FOUND)
        return 1;
    if (st != STORAGE_OK)
        return store_failed(err, &se);
    json_error_t je;
    *out = json_loadb(val, len, 0, &je);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        sched_ecs_err(err, "ServerException", 500, "cluster state: record %s is damaged: %s", key, je.text);
        return SCHED_EIO;
    }
    return 0;
}

int sched_ecs_rec_put(storage_records_t *rs, const char *key, const json_t *v, bool only_if_absent, sched_ecs_err_t *err)
{
    char *s = json_dumps(v, JSON_COMPACT);
    if (!s)
        return nomem(err);
    storage_err_t se = {0};
    storage_status_t st = storage_record_put(rs, SCHED_ECS_SPACE, key, s, strlen(s), only_if_absent, &se);
    free(s);
    if (st == STORAGE_EXISTS)
        return 1;
    return st == STORAGE_OK ? 0 : store_failed(err, &se);
}

typedef struct {
    sched_ecs_err_t *err;
    json_t *items; /* array of [key, value] */
    int rc;
    const char *needle; /* when set, records whose bytes do not hold it are skipped unparsed */
    const char *group;  /* when set, only records whose "group" is this */
} scan_t;

static bool scan_cb(void *p, const char *key, size_t key_len, const void *val, size_t len)
{
    scan_t *s = p;
    if (s->needle && !memmem(val, len, s->needle, strlen(s->needle)))
        return true;
    json_error_t je;
    json_t *v = json_loadb(val, len, 0, &je);
    if (!json_is_object(v)) {
        json_decref(v);
        sched_ecs_err(s->err, "ServerException", 500, "cluster state: record %.*s is damaged: %s", (int)key_len, key, je.text);
        s->rc = SCHED_EIO;
        return false;
    }
    if (s->group) {
        const char *g = json_string_value(json_object_get(v, "group"));
        if (strcmp(g ? g : "", s->group) != 0) {
            json_decref(v);
            return true;
        }
    }
    json_t *pair = json_pack("[s%o]", key, key_len, v);
    if (!pair || json_array_append_new(s->items, pair)) {
        s->rc = nomem(s->err);
        return false;
    }
    return true;
}

int sched_ecs_rec_scan(storage_records_t *rs, const char *prefix, const char *needle, const char *group, json_t **out,
                       sched_ecs_err_t *err)
{
    scan_t s = {err, json_array(), 0, needle, group};
    *out = NULL;
    if (!s.items)
        return nomem(err);
    storage_err_t se = {0};
    storage_status_t st = storage_record_scan(rs, SCHED_ECS_SPACE, prefix, scan_cb, &s, &se);
    if (s.rc || st != STORAGE_OK) {
        json_decref(s.items);
        return s.rc ? s.rc : store_failed(err, &se);
    }
    *out = s.items;
    return 0;
}
