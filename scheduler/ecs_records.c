/*
 * scheduler/ecs_records.c — reading and writing the ECS records (space
 * "ecs") inside the caller's records transaction, shared by ecs_state.c and
 * ecs_service_state.c so both report a damaged record or a failed store in
 * the same words.
 */
#include "scheduler/scheduler_internal.h"
#include "storage/storage.h"

#include <openssl/evp.h>
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

/* ------------------------------------------------------------------ tags */

bool sched_ecs_includes(const json_t *body, const char *what)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(body, "include"), i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), what) == 0)
            return true;
    }
    return false;
}

/* A resource's tags live apart from its record, under g/ and the SHA-256 of its ARN (an ARN may be
 * longer than a record key): {"arn": ..., "tags": [{"key", "value"}]}. */
static void tags_key(const char *arn, char key[2 + 64 + 1])
{
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_Digest(arn, strlen(arn), d, &dl, EVP_sha256(), NULL);
    key[0] = 'g', key[1] = '/';
    for (size_t i = 0; i < sizeof(d); i++)
        snprintf(key + 2 + 2 * i, 3, "%02x", d[i]);
}

int sched_ecs_tags_get(storage_records_t *rs, const char *arn, json_t **tags, sched_ecs_err_t *err)
{
    char key[2 + 64 + 1];
    tags_key(arn, key);
    json_t *rec;
    *tags = NULL;
    int rc = sched_ecs_rec_get(rs, key, &rec, err);
    if (rc < 0)
        return rc;
    json_t *list = rc == 0 ? json_object_get(rec, "tags") : NULL;
    *tags = json_is_array(list) ? json_incref(list) : json_array();
    json_decref(rec);
    return *tags ? 0 : nomem(err);
}

int sched_ecs_tags_apply(storage_records_t *rs, const char *arn, const json_t *add, const json_t *remove_keys, sched_ecs_err_t *err)
{
    json_t *tags;
    int rc = sched_ecs_tags_get(rs, arn, &tags, err);
    if (rc)
        return rc;
    size_t i, k;
    json_t *t;
    json_array_foreach(remove_keys, i, t)
    {
        for (k = json_array_size(tags); k-- > 0;)
            if (json_equal(json_object_get(json_array_get(tags, k), "key"), t))
                json_array_remove(tags, k);
    }
    json_array_foreach(add, i, t)
    {
        const json_t *key = json_object_get(t, "key"), *value = json_object_get(t, "value");
        json_t *entry = json_is_string(value) ? json_pack("{s:O,s:O}", "key", key, "value", value)
                                              : json_pack("{s:O,s:s}", "key", key, "value", "");
        size_t at = json_array_size(tags);
        for (k = 0; k < json_array_size(tags); k++)
            if (json_equal(json_object_get(json_array_get(tags, k), "key"), key)) {
                at = k;
                break;
            }
        bool failed =
            !entry || (at < json_array_size(tags) ? json_array_set(tags, at, entry) : json_array_append(tags, entry)) != 0;
        json_decref(entry);
        if (failed) {
            json_decref(tags);
            return nomem(err);
        }
    }
    if (json_array_size(tags) > 50) {
        json_decref(tags);
        sched_ecs_err(err, "InvalidParameterException", 400, "tags: a resource has at most 50 tags; these would give %s %zu", arn,
                      json_array_size(tags));
        return SCHED_EINVAL;
    }
    char key[2 + 64 + 1];
    tags_key(arn, key);
    if (json_array_size(tags) == 0) {
        json_decref(tags);
        return sched_ecs_tags_drop(rs, arn, err);
    }
    json_t *rec = json_pack("{s:s,s:o}", "arn", arn, "tags", tags);
    if (!rec)
        return nomem(err);
    rc = sched_ecs_rec_put(rs, key, rec, false, err);
    json_decref(rec);
    return rc;
}

int sched_ecs_tags_drop(storage_records_t *rs, const char *arn, sched_ecs_err_t *err)
{
    char key[2 + 64 + 1];
    tags_key(arn, key);
    storage_err_t se = {0};
    storage_status_t st = storage_record_del(rs, SCHED_ECS_SPACE, key, &se);
    return st == STORAGE_OK || st == STORAGE_NOT_FOUND ? 0 : store_failed(err, &se);
}
