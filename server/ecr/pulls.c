/*
 * lastRecordedPullTime: when an image was last pulled, recorded at most once
 * a day per image and never on the pull's own path. A manifest GET calls
 * ecr_note_pull, which looks the image up in a small in-memory table of
 * (repository, digest) -> day and, on the first pull of a day, submits a
 * records op without waiting for it (the writer frees it). The op itself
 * writes only when the stored day is older, so restarts and a full table
 * cost a commit, never a second write of the same day.
 *
 * Record: space "ecr", key "pull/<repo>@<digest>" -> epoch seconds (decimal).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"

#define ECR_SPACE "ecr"
#define SECONDS_PER_DAY 86400
/* Images remembered in memory; past this the table starts afresh (a few
 * extra commits that change nothing, never an unbounded table). */
#define PULLS_TABLE_MAX 65536
#define PULLS_BUCKETS 4096

struct pull_entry {
    struct pull_entry *next;
    int64_t day;
    char key[]; /* "pull/<repo>@<digest>" */
};

static pthread_mutex_t pulls_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pull_entry *pulls[PULLS_BUCKETS];
static size_t pulls_count;

static size_t hash(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h % PULLS_BUCKETS;
}

static void pulls_clear_locked(void)
{
    for (size_t i = 0; i < PULLS_BUCKETS; i++) {
        while (pulls[i]) {
            struct pull_entry *e = pulls[i];
            pulls[i] = e->next;
            free(e);
        }
    }
    pulls_count = 0;
}

/* true when `key` was not yet noted today (and notes it). */
static bool first_today(const char *key, int64_t day)
{
    bool first = true;
    pthread_mutex_lock(&pulls_lock);
    size_t b = hash(key);
    struct pull_entry *e = pulls[b];
    while (e && strcmp(e->key, key) != 0)
        e = e->next;
    if (e) {
        first = e->day != day;
        e->day = day;
    } else {
        if (pulls_count >= PULLS_TABLE_MAX)
            pulls_clear_locked();
        size_t len = strlen(key);
        e = malloc(sizeof(*e) + len + 1);
        if (e) {
            memcpy(e->key, key, len + 1);
            e->day = day;
            e->next = pulls[b];
            pulls[b] = e;
            pulls_count++;
        }
    }
    pthread_mutex_unlock(&pulls_lock);
    return first;
}

struct pull_op {
    storage_op_t op;
    int64_t now;
    char key[];
};

static storage_status_t write_pull(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    struct pull_op *p = ctx;
    const void *v;
    size_t len;
    if (storage_record_get(rs, ECR_SPACE, p->key, &v, &len, NULL) == STORAGE_OK && len < 24) {
        char buf[24];
        memcpy(buf, v, len);
        buf[len] = '\0';
        if (strtoll(buf, NULL, 10) / SECONDS_PER_DAY >= p->now / SECONDS_PER_DAY)
            return STORAGE_OK; /* recorded today already */
    }
    char text[24];
    int n = snprintf(text, sizeof(text), "%lld", (long long)p->now);
    return storage_record_put(rs, ECR_SPACE, p->key, text, (size_t)n, false, err);
}

static void pull_done(storage_op_t *op)
{
    free(op->user); /* the struct pull_op that embeds op */
}

void ecr_note_pull(server_t *srv, const char *repo, const oci_digest_t *digest)
{
    int64_t now = (int64_t)time(NULL);
    size_t len = strlen(repo) + digest->len + 7;
    struct pull_op *p = malloc(sizeof(*p) + len);
    if (!p)
        return; /* a pull time is a hint: never fail a pull for it */
    snprintf(p->key, len, "pull/%s@%s", repo, digest->str);
    if (!first_today(p->key, now / SECONDS_PER_DAY)) {
        free(p);
        return;
    }
    p->now = now;
    storage_op_init(&p->op, STORAGE_OP_RECORDS);
    p->op.records_fn = write_pull;
    p->op.records_ctx = p;
    p->op.user = p;
    p->op.done = pull_done;
    storage_submit(srv->storage, &p->op);
}

bool ecr_last_pull(storage_reader_t *rd, const char *repo, const char *digest, int64_t *out)
{
    char key[OCI_NAME_MAX + OCI_DIGEST_MAX + 8];
    snprintf(key, sizeof(key), "pull/%s@%s", repo, digest);
    const void *v;
    size_t len;
    if (storage_record_get(storage_reader_records(rd), ECR_SPACE, key, &v, &len, NULL) != STORAGE_OK || len >= 24)
        return false;
    char buf[24];
    memcpy(buf, v, len);
    buf[len] = '\0';
    *out = strtoll(buf, NULL, 10);
    return *out > 0;
}

/* Collects the keys of a repository's pull records (deleting while scanning would move the cursor). */
typedef struct {
    char **keys;
    size_t n, cap;
    bool failed;
} keys_t;

static bool collect(void *ctx, const char *key, size_t key_len, const void *val, size_t len)
{
    (void)val;
    (void)len;
    keys_t *k = ctx;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        char **keys = realloc(k->keys, cap * sizeof(*keys));
        if (!keys) {
            k->failed = true;
            return false;
        }
        k->keys = keys;
        k->cap = cap;
    }
    if (!(k->keys[k->n] = strndup(key, key_len))) {
        k->failed = true;
        return false;
    }
    k->n++;
    return true;
}

storage_status_t ecr_forget_pulls(storage_records_t *rs, const char *repo, storage_err_t *err)
{
    char prefix[OCI_NAME_MAX + 8];
    snprintf(prefix, sizeof(prefix), "pull/%s@", repo);
    keys_t k = {0};
    storage_status_t s = storage_record_scan(rs, ECR_SPACE, prefix, collect, &k, err);
    if (s == STORAGE_OK && k.failed)
        s = STORAGE_NOMEM;
    for (size_t i = 0; i < k.n; i++) {
        if (s == STORAGE_OK)
            s = storage_record_del(rs, ECR_SPACE, k.keys[i], err);
        free(k.keys[i]);
    }
    free(k.keys);
    return s;
}
