/*
 * scheduler/ecs_retention.c — STOPPED tasks are kept for a while, then
 * deleted. ECS shows a stopped task for at least an hour; without an end the
 * task records (t/<cluster>/<id>) of a busy cluster would grow for ever, and
 * every ListTasks and service step would scan them.
 *
 * Two steps, as for lost tasks (ecs_agent.c): the expired tasks are found
 * on a reader's snapshot, so that the store's single writer is held only
 * for the deletion, which checks each record again (a task cannot come back
 * from STOPPED, but a record may have been deleted meanwhile). Deleting a
 * STOPPED task changes nothing placement keeps (its claims were released
 * when it stopped): no cluster token is written, RunTask's cache stays warm.
 * RunTask's clientToken records (k/<cluster>/<token>) go the same way once
 * their 24 hours are over: every RunTask from an AWS SDK leaves one.
 */
#include "scheduler/scheduler_internal.h"
#include "storage/storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t now;
    int64_t cutoff; /* stopped at or before this: expired */
    size_t max;
    json_t *found;
    sched_ecs_err_t *err;
    int rc;
} expired_scan_t;

/* A stopped task's record: lastStatus STOPPED and a stoppedAt at or before cutoff. */
static bool expired(const json_t *t, int64_t cutoff)
{
    const char *last = json_string_value(json_object_get(t, "lastStatus"));
    const json_t *at = json_object_get(t, "stoppedAt");
    return last && strcmp(last, "STOPPED") == 0 && json_is_integer(at) && json_integer_value(at) <= cutoff;
}

/* A RunTask clientToken's record whose 24 hours are over (the same record's time against now) */
static bool token_expired(const json_t *k, int64_t now)
{
    const json_t *at = json_object_get(k, "at");
    return !json_is_integer(at) || now - json_integer_value(at) >= SCHED_ECS_RUN_TOKEN_TTL;
}

static bool expired_cb(void *ctx, const char *key, size_t key_len, const void *val, size_t len)
{
    expired_scan_t *s = ctx;
    bool token = key_len > 2 && key[0] == 'k';
    /* most tasks are live: skip those without parsing them */
    if (!token && !memmem(val, len, "\"STOPPED\"", 9))
        return true;
    json_t *t = json_loadb(val, len, 0, NULL);
    bool hit = t && (token ? token_expired(t, s->now) : expired(t, s->cutoff));
    json_decref(t);
    if (hit && json_array_append_new(s->found, json_stringn(key, key_len))) {
        sched_ecs_err(s->err, "ServerException", 500, "out of memory");
        s->rc = SCHED_ENOMEM;
        return false;
    }
    return json_array_size(s->found) < s->max;
}

int sched_ecs_find_expired(storage_records_t *rs, int64_t now, int64_t retention, size_t max, json_t **found, sched_ecs_err_t *err)
{
    expired_scan_t s = {now, now - retention, max, json_array(), err, 0};
    *found = NULL;
    if (!s.found) {
        sched_ecs_err(err, "ServerException", 500, "out of memory");
        return SCHED_ENOMEM;
    }
    if (max == 0) {
        *found = s.found;
        return 0;
    }
    storage_err_t se = {0};
    if (storage_record_scan(rs, SCHED_ECS_SPACE, "t/", expired_cb, &s, &se) != STORAGE_OK || s.rc ||
        (json_array_size(s.found) < max &&
         (storage_record_scan(rs, SCHED_ECS_SPACE, "k/", expired_cb, &s, &se) != STORAGE_OK || s.rc))) {
        json_decref(s.found);
        if (s.rc)
            return s.rc;
        sched_ecs_err(err, "ServerException", 500, "cluster state: %s", se.msg);
        return se.status == STORAGE_NOMEM ? SCHED_ENOMEM : SCHED_EIO;
    }
    *found = s.found;
    return 0;
}

int sched_ecs_delete_expired(storage_records_t *rs, int64_t now, int64_t retention, const json_t *found, size_t *deleted,
                             sched_ecs_err_t *err)
{
    *deleted = 0;
    size_t i;
    json_t *k;
    json_array_foreach(found, i, k)
    {
        const char *key = json_string_value(k);
        bool token = key && strncmp(key, "k/", 2) == 0;
        if (!key || (!token && strncmp(key, "t/", 2) != 0))
            continue;
        json_t *t;
        int rc = sched_ecs_rec_get(rs, key, &t, err);
        if (rc == 1)
            continue; /* deleted meanwhile */
        if (rc)
            return rc;
        bool hit = token ? token_expired(t, now) : expired(t, now - retention);
        if (!hit) {
            json_decref(t);
            continue;
        }
        storage_err_t se = {0};
        storage_status_t st = storage_record_del(rs, SCHED_ECS_SPACE, key, &se);
        /* a task's tags go with it */
        const char *arn = json_string_value(json_object_get(t, "taskArn"));
        rc = st == STORAGE_OK && !token && arn ? sched_ecs_tags_drop(rs, arn, err) : 0;
        json_decref(t);
        if (rc)
            return rc;
        if (st == STORAGE_NOT_FOUND)
            continue;
        if (st != STORAGE_OK) {
            sched_ecs_err(err, "ServerException", 500, "cluster state: %s", se.msg);
            return st == STORAGE_NOMEM ? SCHED_ENOMEM : SCHED_EIO;
        }
        (*deleted)++;
    }
    return 0;
}
