/*
 * ECR's lifecycle policy operations: PutLifecyclePolicy, GetLifecyclePolicy,
 * DeleteLifecyclePolicy, StartLifecyclePolicyPreview,
 * GetLifecyclePolicyPreview; Berth's own BerthAdmin_20261207.RunLifecyclePolicy
 * (IAM action berth:RunLifecyclePolicy on the repository), and the runs on a
 * schedule (berthd --lifecycle-interval).
 *
 * The policy text is a record of space "ecr", key "lifecycle/<name>", written
 * only while the repository exists (STORAGE_OP_REPO_UPDATE) and deleted with
 * it (DeleteRepository calls ecr_lifecycle_forget in its commit). The time of
 * the policy's last real run (GetLifecyclePolicy's lastEvaluatedAt, server
 * time in seconds) is the record "lifecycle-run/<name>", written by a commit
 * of its own after the run's deletions, only while a policy is stored;
 * putting or deleting the policy, or deleting the repository, drops it: a
 * policy never run has none.
 *
 * A preview or a run reads the repository's images and tags from one
 * snapshot and evaluates the policy (lifecycle_policy.c) at server time (the
 * real clock plus --clock-offset, which tests use to age images); a run
 * then deletes the expired images by digest in one STORAGE_OP_IMAGES_DELETE,
 * the same store call as BatchDeleteImage (their blobs go at the next
 * garbage collection), each only if it has the very tags in the commit it
 * had at evaluation (STORAGE_OP_IF_TAGS_UNCHANGED): an image tagged
 * meanwhile stays, also when another of its tags moved away.
 *
 * Evaluation never runs on an event loop: its cost grows with the
 * repository (a sort per rule) and with the policy's tag patterns times the
 * repository's tags (a 27 KiB policy of patterns took 0.15 s per image of
 * 100 tags: a preview of a thousand such images held a loop for minutes).
 * One lifecycle thread evaluates the requested previews and runs, one at a
 * time in the order asked (at most LC_JOBS_MAX waiting), and the scheduled
 * runs; a request's answer rides back to its loop on a no-op records op, as
 * a requested garbage collection's does (server/berth/gc.c).
 *
 * Previews are kept in memory, the last one per repository, as ECR keeps
 * the last (a restart forgets them; DeleteRepository drops its own, from
 * inside its commit); at most LC_PREVIEWS_MAX repositories' previews are
 * kept, the oldest dropped first.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/ecr/lifecycle_policy.h"
#include "server/server_internal.h"

#define ECR_SPACE "ecr"
/* previews kept in memory at most: each holds one result per expiring image */
#define LC_PREVIEWS_MAX 64
/* GetLifecyclePolicyPreview: maxResults 1 to 100 (ECR), 100 by default */
#define LC_PAGE_MAX 100
/* a repository's images evaluated at most: a bound on one evaluation's memory (~200 bytes each) */
#define LC_IMAGES_MAX 1000000
/* requested evaluations (previews, runs) waiting for the lifecycle thread at most */
#define LC_JOBS_MAX 8

static void policy_key(const char *repo, char *out, size_t cap)
{
    snprintf(out, cap, "lifecycle/%s", repo);
}

static void run_key(const char *repo, char *out, size_t cap)
{
    snprintf(out, cap, "lifecycle-run/%s", repo);
}

/* Deletes record key if there is one. */
static storage_status_t del_if_any(storage_records_t *rs, const char *key, storage_err_t *err)
{
    storage_status_t s = storage_record_del(rs, ECR_SPACE, key, err);
    if (s == STORAGE_NOT_FOUND) {
        err->msg[0] = '\0';
        return STORAGE_OK;
    }
    return s;
}

static void preview_drop(ecr_lifecycle_t *lc, const char *repo);

storage_status_t ecr_lifecycle_forget(server_t *srv, storage_records_t *rs, const char *repo, storage_err_t *err)
{
    /* the preview too: a repository made again under this name must not show it (were the
     * commit to fail after this, the repository would only have lost its preview) */
    if (srv->lifecycle)
        preview_drop(srv->lifecycle, repo);
    char key[OCI_NAME_MAX + 16];
    policy_key(repo, key, sizeof(key));
    storage_status_t s = del_if_any(rs, key, err);
    if (s != STORAGE_OK)
        return s;
    run_key(repo, key, sizeof(key));
    return del_if_any(rs, key, err);
}

/* The stored policy text of repo (pointing into the snapshot); false when none. */
static bool policy_get(storage_reader_t *rd, const char *repo, const char **text, size_t *len)
{
    char key[OCI_NAME_MAX + 16];
    policy_key(repo, key, sizeof(key));
    const void *v;
    return storage_record_get(storage_reader_records(rd), ECR_SPACE, key, &v, len, NULL) == STORAGE_OK && (*text = v, true);
}

/* The server time of the last real run of repo's policy; false when it has not run. */
static bool last_run_get(storage_reader_t *rd, const char *repo, int64_t *out)
{
    char key[OCI_NAME_MAX + 16], buf[24];
    run_key(repo, key, sizeof(key));
    const void *v;
    size_t len;
    if (storage_record_get(storage_reader_records(rd), ECR_SPACE, key, &v, &len, NULL) != STORAGE_OK || len >= sizeof(buf))
        return false;
    memcpy(buf, v, len);
    buf[len] = '\0';
    char *end;
    long long t = strtoll(buf, &end, 10);
    *out = t;
    return *end == '\0' && t > 0;
}

/* A run's time, for the records closure of a STORAGE_OP_REPO_UPDATE after the run. */
typedef struct {
    char repo[OCI_NAME_MAX + 1];
    int64_t at;
} lc_stamp_t;

static storage_status_t write_stamp(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    const lc_stamp_t *st = ctx;
    char key[OCI_NAME_MAX + 16], text[24];
    const void *v;
    size_t len;
    policy_key(st->repo, key, sizeof(key));
    /* deleted since the run was evaluated: no time for a policy that is not there */
    if (storage_record_get(rs, ECR_SPACE, key, &v, &len, NULL) != STORAGE_OK)
        return STORAGE_OK;
    run_key(st->repo, key, sizeof(key));
    int n = snprintf(text, sizeof(text), "%lld", (long long)st->at);
    return storage_record_put(rs, ECR_SPACE, key, text, (size_t)n, false, err);
}

/* ---- a repository's images, as the evaluator sees them ------------------------- */

typedef struct {
    char digest[OCI_DIGEST_MAX];
    char subject[OCI_DIGEST_MAX];
    int64_t pushed_at;
    char **tags;
    size_t ntags, tags_cap;
    char **children;
    size_t nchildren;
} lc_img_t;

typedef struct {
    lc_img_t *v;
    size_t n, cap;
    ecr_lc_image_t *view;
    int64_t *rule; /* the evaluation: rule_out of ecr_lc_evaluate */
    bool nomem, too_many;
} lc_repo_t;

static void repo_free(lc_repo_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        for (size_t t = 0; t < r->v[i].ntags; t++)
            free(r->v[i].tags[t]);
        free(r->v[i].tags);
        for (size_t c = 0; c < r->v[i].nchildren; c++)
            free(r->v[i].children[c]);
        free(r->v[i].children);
    }
    free(r->v);
    free(r->view);
    free(r->rule);
    memset(r, 0, sizeof(*r));
}

static bool add_image(void *ctx, const storage_image_t *im)
{
    lc_repo_t *r = ctx;
    if (r->n == LC_IMAGES_MAX) {
        r->too_many = true;
        return false;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        lc_img_t *v = realloc(r->v, cap * sizeof(*v));
        if (!v) {
            r->nomem = true;
            return false;
        }
        r->v = v;
        r->cap = cap;
    }
    lc_img_t *x = &r->v[r->n];
    memset(x, 0, sizeof(*x));
    snprintf(x->digest, sizeof(x->digest), "%s", im->digest);
    snprintf(x->subject, sizeof(x->subject), "%s", im->subject ? im->subject : "");
    x->pushed_at = (int64_t)im->pushed_at;
    r->n++;
    /* an index's children: what it keeps */
    oci_media_kind_t kind = oci_media_kind(im->media_type, strlen(im->media_type));
    if (kind == OCI_MT_OCI_INDEX || kind == OCI_MT_DOCKER_LIST) {
        oci_manifest_t m;
        if (oci_manifest_parse(im->body, im->len, im->media_type, strlen(im->media_type), &m, NULL) == OCI_OK) {
            if (m.nmanifests && !(x->children = calloc(m.nmanifests, sizeof(char *))))
                r->nomem = true;
            for (size_t i = 0; x->children && i < m.nmanifests; i++) {
                if (!(x->children[i] = strdup(m.manifests[i].digest.str))) {
                    r->nomem = true;
                    break;
                }
                x->nchildren++;
            }
            oci_manifest_free(&m);
        }
    }
    return !r->nomem;
}

static int by_digest(const void *k, const void *e)
{
    return strcmp(k, ((const lc_img_t *)e)->digest);
}

static bool add_tag(void *ctx, const char *tag, const char *digest)
{
    lc_repo_t *r = ctx;
    lc_img_t *x = bsearch(digest, r->v, r->n, sizeof(*r->v), by_digest); /* listed in digest order */
    if (!x)
        return true;
    if (x->ntags == x->tags_cap) {
        size_t cap = x->tags_cap ? x->tags_cap * 2 : 4;
        char **t = realloc(x->tags, cap * sizeof(*t));
        if (!t) {
            r->nomem = true;
            return false;
        }
        x->tags = t;
        x->tags_cap = cap;
    }
    if (!(x->tags[x->ntags] = strdup(tag))) {
        r->nomem = true;
        return false;
    }
    x->ntags++;
    return true;
}

/* Reads repo's images from rd and evaluates p at `now`: 0, or -1 with msg. */
static int repo_evaluate(storage_reader_t *rd, const char *repo, const ecr_lc_policy_t *p, int64_t now, lc_repo_t *r, char *msg,
                         size_t cap)
{
    memset(r, 0, sizeof(*r));
    storage_err_t err = {0};
    if (storage_images_list(rd, repo, NULL, add_image, r, &err) != STORAGE_OK ||
        (!r->nomem && !r->too_many && storage_tag_entries(rd, repo, add_tag, r, &err) != STORAGE_OK)) {
        snprintf(msg, cap, "cannot read repository %s: %s", repo, err.msg);
        return -1;
    }
    if (r->too_many) {
        snprintf(msg, cap, "repository %s holds more than %d images: too many to evaluate at once", repo, LC_IMAGES_MAX);
        return -1;
    }
    if (!r->nomem && r->n) {
        r->view = calloc(r->n, sizeof(*r->view));
        r->rule = calloc(r->n, sizeof(*r->rule));
        r->nomem = !r->view || !r->rule;
    }
    for (size_t i = 0; !r->nomem && i < r->n; i++) {
        lc_img_t *x = &r->v[i];
        r->view[i] = (ecr_lc_image_t){.digest = x->digest,
                                      .tags = (const char *const *)x->tags,
                                      .ntags = x->ntags,
                                      .pushed_at = x->pushed_at,
                                      .subject = x->subject,
                                      .children = (const char *const *)x->children,
                                      .nchildren = x->nchildren};
    }
    if (r->nomem || (r->n && ecr_lc_evaluate(p, r->view, r->n, now, r->rule) != 0)) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    return 0;
}

/* One expiring image as ECR's LifecyclePolicyPreviewResult. */
static json_t *result_json(const lc_img_t *x, int64_t rule)
{
    json_t *tags = json_array();
    for (size_t t = 0; tags && t < x->ntags; t++)
        json_array_append_new(tags, json_string(x->tags[t]));
    return json_pack("{s:o*,s:s,s:f,s:{s:s},s:I}", "imageTags", tags, "imageDigest", x->digest, "imagePushedAt",
                     (double)x->pushed_at, "action", "type", "EXPIRE", "appliedRulePriority", (json_int_t)rule);
}

/* ---- the previews kept, and the scheduled runs ----------------------------------- */

typedef struct lc_preview {
    struct lc_preview *next;
    char repo[OCI_NAME_MAX + 1];
    uint64_t created; /* the repository's createdAt: a preview of an older repository of that name is not its */
    char *text;
    json_t *results; /* array of results in digest order */
} lc_preview_t;

typedef struct lc_job lc_job_t;

struct ecr_lifecycle {
    server_t *srv;
    uint64_t interval;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    lc_preview_t *previews; /* newest first */
    lc_job_t *head, *tail;  /* requested evaluations, oldest first */
    unsigned queued;
};

static void preview_free(lc_preview_t *p)
{
    if (!p)
        return;
    free(p->text);
    json_decref(p->results);
    free(p);
}

static void preview_drop(ecr_lifecycle_t *lc, const char *repo)
{
    pthread_mutex_lock(&lc->lock);
    for (lc_preview_t **pp = &lc->previews; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->repo, repo) == 0) {
            lc_preview_t *old = *pp;
            *pp = old->next;
            preview_free(old);
            break;
        }
    }
    pthread_mutex_unlock(&lc->lock);
}

/* Keeps pv as repo's preview (taking it). */
static void preview_keep(ecr_lifecycle_t *lc, lc_preview_t *pv)
{
    pthread_mutex_lock(&lc->lock);
    lc_preview_t **pp = &lc->previews, *old = NULL;
    size_t n = 0;
    while (*pp) {
        if (strcmp((*pp)->repo, pv->repo) == 0 || n == LC_PREVIEWS_MAX - 1) {
            old = *pp;
            *pp = old->next;
            preview_free(old);
            continue;
        }
        pp = &(*pp)->next;
        n++;
    }
    pv->next = lc->previews;
    lc->previews = pv;
    pthread_mutex_unlock(&lc->lock);
}

static void log_run(const char *why, const char *repo, const storage_op_t *op, size_t expired)
{
    if (op->status != STORAGE_OK)
        fprintf(stderr, "berthd: %s lifecycle run of %s failed: %s\n", why, repo, op->err.msg);
    else if (expired)
        fprintf(stderr, "berthd: %s lifecycle run of %s expired %zu images\n", why, repo, expired);
}

/* The expired images of an evaluation as IMAGES_DELETE refs (by digest); NULL when none or no memory (*n 0). */
static storage_image_ref_t *expired_refs(const lc_repo_t *r, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < r->n; i++)
        *n += r->rule[i] != 0;
    storage_image_ref_t *refs = *n ? calloc(*n, sizeof(*refs)) : NULL;
    if (!refs) {
        *n = 0;
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (!r->rule[i])
            continue;
        refs[k].ref.is_digest = true;
        refs[k].tags = (uint32_t)r->v[i].ntags;
        for (size_t t = 0; t < r->v[i].ntags; t++)
            refs[k].tag_set = storage_tag_set_add(refs[k].tag_set, r->v[i].tags[t]);
        if (oci_digest_parse(r->v[i].digest, strlen(r->v[i].digest), &refs[k].ref.digest, NULL) == OCI_OK)
            k++;
    }
    *n = k;
    return refs;
}

typedef struct {
    char (*names)[OCI_NAME_MAX + 1];
    size_t n, cap;
} repo_list_t;

static bool list_policy(void *ctx, const char *key, size_t key_len, const void *val, size_t len)
{
    (void)val, (void)len;
    repo_list_t *l = ctx;
    size_t plen = strlen("lifecycle/");
    if (key_len <= plen || key_len - plen > OCI_NAME_MAX)
        return true;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *v = realloc(l->names, cap * sizeof(*l->names));
        if (!v)
            return false;
        l->names = v;
        l->cap = cap;
    }
    memcpy(l->names[l->n], key + plen, key_len - plen);
    l->names[l->n][key_len - plen] = '\0';
    l->n++;
    return true;
}

/* One scheduled run of repo's policy: evaluate on a snapshot, delete in one commit. */
static void scheduled_run(ecr_lifecycle_t *lc, const char *repo)
{
    storage_err_t err = {0};
    storage_reader_t *rd = storage_reader_begin(lc->srv->storage, &err);
    if (!rd) {
        fprintf(stderr, "berthd: scheduled lifecycle run of %s: %s\n", repo, err.msg);
        return;
    }
    const char *text;
    size_t len;
    ecr_lc_policy_t p;
    ecr_lc_err_t perr;
    lc_repo_t r = {0};
    char msg[300] = "";
    storage_image_ref_t *refs = NULL;
    size_t n = 0;
    if (!policy_get(rd, repo, &text, &len)) {
        storage_reader_end(rd); /* deleted since the listing */
        return;
    }
    if (ecr_lc_parse(text, len, &p, &perr) != 0) {
        fprintf(stderr, "berthd: scheduled lifecycle run of %s: the stored policy is refused: %s\n", repo, perr.msg);
        storage_reader_end(rd);
        return;
    }
    lc_stamp_t stamp = {.at = server_auth_now(lc->srv)};
    snprintf(stamp.repo, sizeof(stamp.repo), "%s", repo);
    int rc = repo_evaluate(rd, repo, &p, stamp.at, &r, msg, sizeof(msg));
    storage_reader_end(rd);
    ecr_lc_policy_free(&p);
    if (rc == 0)
        refs = expired_refs(&r, &n);
    repo_free(&r);
    if (rc != 0) {
        fprintf(stderr, "berthd: scheduled lifecycle run of %s: %s\n", repo, msg);
        return;
    }
    storage_op_t op;
    if (n) {
        storage_op_init(&op, STORAGE_OP_IMAGES_DELETE);
        snprintf(op.repo, sizeof(op.repo), "%s", repo);
        op.images = refs;
        op.nimages = n;
        op.flags = STORAGE_OP_IF_TAGS_UNCHANGED;
        storage_execute(lc->srv->storage, &op);
        size_t gone = 0;
        for (size_t i = 0; i < n; i++)
            gone += refs[i].status == STORAGE_OK;
        log_run("scheduled", repo, &op, gone);
        free(refs);
        if (op.status != STORAGE_OK)
            return;
    }
    storage_op_init(&op, STORAGE_OP_REPO_UPDATE);
    snprintf(op.repo, sizeof(op.repo), "%s", repo);
    op.records_fn = write_stamp;
    op.records_ctx = &stamp;
    if (storage_execute(lc->srv->storage, &op) != STORAGE_OK && op.status != STORAGE_NOT_FOUND)
        fprintf(stderr, "berthd: scheduled lifecycle run of %s: cannot note its time: %s\n", repo, op.err.msg);
}

static void scheduled_runs(ecr_lifecycle_t *lc)
{
    storage_err_t err = {0};
    storage_reader_t *rd = storage_reader_begin(lc->srv->storage, &err);
    if (!rd) {
        fprintf(stderr, "berthd: scheduled lifecycle runs: %s\n", err.msg);
        return;
    }
    repo_list_t l = {0};
    storage_record_scan(storage_reader_records(rd), ECR_SPACE, "lifecycle/", list_policy, &l, &err);
    storage_reader_end(rd);
    for (size_t i = 0; i < l.n; i++) {
        pthread_mutex_lock(&lc->lock);
        bool stop = lc->stopping;
        pthread_mutex_unlock(&lc->lock);
        if (stop)
            break;
        scheduled_run(lc, l.names[i]);
    }
    free(l.names);
}

/* A requested evaluation: a preview (StartLifecyclePolicyPreview) or a run
 * (RunLifecyclePolicy). The lifecycle thread fills `ev` from a snapshot of
 * its own; the request's loop (evaluated) does the rest. */
struct lc_job {
    lc_job_t *next;
    server_op_t *sop;
    aws_req_t a; /* the request, minus its snapshot and body */
    bool run;
    char repo[OCI_NAME_MAX + 1];
    ecr_lc_policy_t policy;
    char *text; /* a preview's policy text */
    int64_t now;
    lc_repo_t ev;
    int rc;           /* 0, or -1 with msg */
    bool cancelled;   /* berthd stopped before the evaluation ran */
    bool gone;        /* the repository was deleted before the evaluation's snapshot */
    uint64_t created; /* the repository's createdAt in that snapshot */
    char msg[300];
};

static void job_free(void *p)
{
    lc_job_t *j = p;
    ecr_lc_policy_free(&j->policy);
    free(j->text);
    repo_free(&j->ev);
    free(j);
}

static storage_status_t deliver_noop(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    (void)rs, (void)ctx, (void)err;
    return STORAGE_OK;
}

static void job_evaluate(ecr_lifecycle_t *lc, lc_job_t *j, bool stopping)
{
    storage_err_t err = {0};
    storage_reader_t *rd = stopping ? NULL : storage_reader_begin(lc->srv->storage, &err);
    if (rd && storage_repo_created_at(rd, j->repo, &j->created, NULL) != STORAGE_OK) {
        storage_reader_end(rd); /* deleted while the evaluation waited */
        j->rc = -1;
        j->gone = true;
    } else if (!rd) {
        j->rc = -1;
        j->cancelled = stopping;
        snprintf(j->msg, sizeof(j->msg), "%s", stopping ? "berthd is shutting down; the evaluation did not run" : err.msg);
    } else {
        j->rc = repo_evaluate(rd, j->repo, &j->policy, j->now, &j->ev, j->msg, sizeof(j->msg));
        storage_reader_end(rd);
    }
    /* the answer goes back through the writer to the request's loop (or is dropped if the client went) */
    j->sop->op.records_fn = deliver_noop;
    storage_submit(lc->srv->storage, &j->sop->op);
}

static void *lifecycle_main(void *arg)
{
    ecr_lifecycle_t *lc = arg;
    struct timespec due;
    clock_gettime(CLOCK_REALTIME, &due);
    due.tv_sec += (time_t)lc->interval;
    pthread_mutex_lock(&lc->lock);
    for (;;) {
        if (lc->head) {
            lc_job_t *j = lc->head;
            lc->head = j->next;
            if (!lc->head)
                lc->tail = NULL;
            bool stopping = lc->stopping;
            pthread_mutex_unlock(&lc->lock);
            job_evaluate(lc, j, stopping);
            pthread_mutex_lock(&lc->lock);
            lc->queued--;
            continue;
        }
        if (lc->stopping)
            break;
        if (!lc->interval) {
            pthread_cond_wait(&lc->wake, &lc->lock);
            continue;
        }
        if (pthread_cond_timedwait(&lc->wake, &lc->lock, &due) != ETIMEDOUT)
            continue;
        pthread_mutex_unlock(&lc->lock);
        scheduled_runs(lc);
        clock_gettime(CLOCK_REALTIME, &due);
        due.tv_sec += (time_t)lc->interval;
        pthread_mutex_lock(&lc->lock);
    }
    pthread_mutex_unlock(&lc->lock);
    return NULL;
}

ecr_lifecycle_t *ecr_lifecycle_start(server_t *srv, uint64_t interval_seconds, char *err, size_t cap)
{
    ecr_lifecycle_t *lc = calloc(1, sizeof(*lc));
    if (!lc) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    lc->srv = srv;
    lc->interval = interval_seconds;
    pthread_mutex_init(&lc->lock, NULL);
    pthread_cond_init(&lc->wake, NULL);
    return lc;
}

void ecr_lifecycle_schedule(ecr_lifecycle_t *lc)
{
    if (!lc || lc->started)
        return;
    int e = pthread_create(&lc->thread, NULL, lifecycle_main, lc);
    if (e) {
        fprintf(stderr, "berthd: cannot start the lifecycle policy thread (%s): no policy runs or previews\n", strerror(e));
        return;
    }
    pthread_mutex_lock(&lc->lock); /* requests read it under the lock */
    lc->started = true;
    pthread_mutex_unlock(&lc->lock);
}

void ecr_lifecycle_stop(ecr_lifecycle_t *lc)
{
    if (!lc)
        return;
    pthread_mutex_lock(&lc->lock);
    lc->stopping = true;
    pthread_cond_signal(&lc->wake);
    pthread_mutex_unlock(&lc->lock);
    if (lc->started)
        pthread_join(lc->thread, NULL);
    while (lc->previews) {
        lc_preview_t *p = lc->previews;
        lc->previews = p->next;
        preview_free(p);
    }
    pthread_mutex_destroy(&lc->lock);
    pthread_cond_destroy(&lc->wake);
    free(lc);
}

/* ---- the operations ---------------------------------------------------------------- */

static void send_policy_not_found(aws_req_t *a, const char *repo)
{
    aws_send_error(a, 400, "LifecyclePolicyNotFoundException",
                   "Lifecycle policy does not exist for the repository with name '%s' in the registry with id '%s'", repo,
                   a->srv->keys.account_id);
}

/* The policy text parsed, or the InvalidParameterException naming the field sent (false). */
static bool parse_or_send(aws_req_t *a, const char *text, size_t len, ecr_lc_policy_t *p)
{
    ecr_lc_err_t err;
    int rc = ecr_lc_parse(text, len, p, &err);
    if (rc == -2)
        aws_send_error(a, 500, "ServerException", "out of memory");
    else if (rc != 0)
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: '%s'", err.msg);
    return rc == 0;
}

/* A put or a delete of the policy record, run only while the repository exists. */
typedef struct {
    aws_req_t a;
    char repo[OCI_NAME_MAX + 1];
    char *text; /* PUT: the new text; DELETE: the deleted text, for the reply */
    bool del;
    bool absent; /* DELETE: there was no policy */
} lc_change_t;

static void change_free(void *p)
{
    lc_change_t *c = p;
    free(c->text);
    free(c);
}

static storage_status_t run_change(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    lc_change_t *c = ctx;
    char key[OCI_NAME_MAX + 16];
    /* a new policy has not run yet; a deleted one's time goes with it */
    run_key(c->repo, key, sizeof(key));
    storage_status_t ds = del_if_any(rs, key, err);
    if (ds != STORAGE_OK)
        return ds;
    policy_key(c->repo, key, sizeof(key));
    if (!c->del)
        return storage_record_put(rs, ECR_SPACE, key, c->text, strlen(c->text), false, err);
    /* the reply carries the text deleted, read in the same transaction */
    const void *v;
    size_t len;
    storage_status_t s = storage_record_get(rs, ECR_SPACE, key, &v, &len, err);
    if (s == STORAGE_NOT_FOUND) {
        c->absent = true;
        return STORAGE_INVALID;
    }
    if (s != STORAGE_OK)
        return s;
    free(c->text);
    if (!(c->text = malloc(len + 1)))
        return STORAGE_NOMEM;
    memcpy(c->text, v, len);
    c->text[len] = '\0';
    return storage_record_del(rs, ECR_SPACE, key, err);
}

static void change_done(server_op_t *sop, h2o_req_t *req)
{
    lc_change_t *c = sop->user;
    aws_req_t *a = &c->a;
    a->req = req;
    storage_status_t s = sop->op.status;
    if (s == STORAGE_NOT_FOUND)
        ecr_send_not_found(a, c->repo);
    else if (c->absent)
        send_policy_not_found(a, c->repo);
    else if (s != STORAGE_OK)
        aws_send_error(a, s == STORAGE_FULL ? 503 : 500, "ServerException", "%s", sop->op.err.msg);
    else
        aws_send_result(a, json_pack("{s:s,s:s,s:s}", "registryId", a->srv->keys.account_id, "repositoryName", c->repo,
                                     "lifecyclePolicyText", c->text));
}

static void submit_change(aws_req_t *a, const char *repo, const char *text, bool del)
{
    lc_change_t *c = calloc(1, sizeof(*c));
    v2_req_t r = {.req = a->req, .srv = a->srv};
    server_op_t *sop = c ? server_op_new(&r, STORAGE_OP_REPO_UPDATE, change_done) : NULL;
    if (!sop || (text && !(c->text = strdup(text)))) {
        if (sop)
            server_op_free(sop);
        free(c);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    snprintf(c->repo, sizeof(c->repo), "%s", repo);
    c->del = del;
    c->a = *a;
    c->a.rd = NULL;
    c->a.body = NULL;
    sop->user = c;
    sop->free_user = change_free;
    snprintf(sop->op.repo, sizeof(sop->op.repo), "%s", repo);
    sop->op.records_fn = run_change;
    sop->op.records_ctx = c;
    server_op_submit(sop);
}

static void put_lifecycle_policy(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "lifecyclePolicyText", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:PutLifecyclePolicy");
    const char *text = repo ? aws_param_string(a, "lifecyclePolicyText", true) : NULL;
    ecr_lc_policy_t p;
    if (!text || !parse_or_send(a, text, strlen(text), &p))
        return;
    ecr_lc_policy_free(&p);
    submit_change(a, repo, text, false);
}

static void get_lifecycle_policy(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:GetLifecyclePolicy");
    const char *text;
    size_t len;
    if (!repo)
        return;
    if (!policy_get(a->rd, repo, &text, &len)) {
        send_policy_not_found(a, repo);
        return;
    }
    json_t *out = json_pack("{s:s,s:s,s:s%}", "registryId", a->srv->keys.account_id, "repositoryName", repo, "lifecyclePolicyText",
                            text, len);
    int64_t at;
    if (out && last_run_get(a->rd, repo, &at))
        json_object_set_new(out, "lastEvaluatedAt", json_real((double)at));
    aws_send_result(a, out);
}

static void delete_lifecycle_policy(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:DeleteLifecyclePolicy");
    const char *text;
    size_t len;
    if (!repo)
        return;
    if (!policy_get(a->rd, repo, &text, &len)) {
        send_policy_not_found(a, repo);
        return;
    }
    submit_change(a, repo, NULL, true);
}

/* The text a preview or a run evaluates: the request's lifecyclePolicyText when
 * allowed and given, else the stored one; parsed into *p. False after the error. */
static bool policy_for(aws_req_t *a, const char *repo, bool from_request, ecr_lc_policy_t *p, char **text_out)
{
    const char *text = NULL;
    size_t len = 0;
    json_t *t = from_request ? json_object_get(a->body, "lifecyclePolicyText") : NULL;
    if (t) {
        if (!json_is_string(t)) {
            aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at 'lifecyclePolicyText': must be a string");
            return false;
        }
        text = json_string_value(t);
        len = json_string_length(t);
    } else if (!policy_get(a->rd, repo, &text, &len)) {
        send_policy_not_found(a, repo);
        return false;
    }
    if (!parse_or_send(a, text, len, p))
        return false;
    if (text_out && !(*text_out = strndup(text, len))) {
        ecr_lc_policy_free(p);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return false;
    }
    return true;
}

static void evaluated(server_op_t *sop, h2o_req_t *req);

/* Queues the evaluation of repo's images by p (taken, and text, a preview's)
 * for the lifecycle thread; sends the error itself when it cannot. */
static void submit_job(aws_req_t *a, const char *repo, bool run, ecr_lc_policy_t *p, char *text)
{
    ecr_lifecycle_t *lc = a->srv->lifecycle;
    lc_job_t *j = calloc(1, sizeof(*j));
    server_op_t *sop = j ? aws_defer(a, evaluated, &j->a) : NULL;
    if (!sop) {
        free(j);
        ecr_lc_policy_free(p);
        free(text);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    j->sop = sop;
    j->run = run;
    snprintf(j->repo, sizeof(j->repo), "%s", repo);
    j->policy = *p;
    j->text = text;
    j->now = server_auth_now(a->srv);
    sop->user = j;
    sop->free_user = job_free;
    bool queued = false, started = false;
    if (lc) {
        pthread_mutex_lock(&lc->lock);
        started = lc->started && !lc->stopping;
        if (started && lc->queued < LC_JOBS_MAX) {
            server_op_guard(sop);
            lc->queued++;
            if (lc->tail)
                lc->tail->next = j;
            else
                lc->head = j;
            lc->tail = j;
            pthread_cond_signal(&lc->wake);
            queued = true;
        }
        pthread_mutex_unlock(&lc->lock);
    }
    if (queued)
        return;
    server_op_free(sop);
    if (started)
        aws_send_error(a, 400, "LimitExceededException",
                       "%d lifecycle policy previews and runs are waiting to be evaluated already; try again later", LC_JOBS_MAX);
    else
        aws_send_error(a, 503, "ServiceUnavailableException", "this berthd evaluates no lifecycle policies now");
}

static void start_lifecycle_policy_preview(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "lifecyclePolicyText", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:StartLifecyclePolicyPreview");
    ecr_lc_policy_t p;
    char *text = NULL;
    if (repo && policy_for(a, repo, true, &p, &text))
        submit_job(a, repo, false, &p, text);
}

/* A preview evaluated: kept, then answered (it is complete once this answers). */
static void preview_evaluated(lc_job_t *j)
{
    aws_req_t *a = &j->a;
    lc_repo_t *r = &j->ev;
    lc_preview_t *pv = calloc(1, sizeof(*pv));
    json_t *results = pv ? json_array() : NULL;
    for (size_t i = 0; results && i < r->n; i++)
        if (r->rule[i] && json_array_append_new(results, result_json(&r->v[i], r->rule[i])) != 0) {
            json_decref(results);
            results = NULL;
        }
    if (!results) {
        free(pv);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    /* the reply first: once kept, a preview may be replaced (and freed) by another loop's */
    json_t *reply = json_pack("{s:s,s:s,s:s,s:s}", "registryId", a->srv->keys.account_id, "repositoryName", j->repo,
                              "lifecyclePolicyText", j->text, "status", "COMPLETE");
    snprintf(pv->repo, sizeof(pv->repo), "%s", j->repo);
    pv->created = j->created;
    pv->text = j->text;
    j->text = NULL; /* the preview took it */
    pv->results = results;
    preview_keep(a->srv->lifecycle, pv);
    aws_send_result(a, reply);
}

/* Whether result x is one of the request's imageIds (by digest or by one of its tags). */
static bool result_wanted(json_t *ids, json_t *x)
{
    size_t i, j;
    json_t *id, *tag;
    const char *digest = json_string_value(json_object_get(x, "imageDigest"));
    json_array_foreach(ids, i, id)
    {
        const char *d = json_string_value(json_object_get(id, "imageDigest"));
        const char *t = json_string_value(json_object_get(id, "imageTag"));
        if (d && strcmp(d, digest) == 0)
            return true;
        json_array_foreach(json_object_get(x, "imageTags"), j, tag) if (t && strcmp(t, json_string_value(tag)) == 0) return true;
    }
    return false;
}

static void get_lifecycle_policy_preview(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "imageIds", "nextToken", "maxResults", "filter", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:GetLifecyclePolicyPreview");
    if (!repo)
        return;
    long max = ecr_max_results(a, LC_PAGE_MAX, LC_PAGE_MAX);
    if (max < 0)
        return;
    json_t *ids = json_object_get(a->body, "imageIds"), *tok = json_object_get(a->body, "nextToken");
    const char *after = json_string_value(tok);
    if (ids && (tok || json_object_get(a->body, "maxResults"))) {
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at 'imageIds': cannot be used with maxResults or nextToken");
        return;
    }
    const char *status = json_string_value(json_object_get(json_object_get(a->body, "filter"), "tagStatus"));
    bool want_tagged = status && strcmp(status, "TAGGED") == 0, want_untagged = status && strcmp(status, "UNTAGGED") == 0;
    ecr_lifecycle_t *lc = a->srv->lifecycle;
    json_t *page = json_array(), *out = NULL;
    size_t total = 0;
    bool found = false, more = false;
    char last[OCI_DIGEST_MAX] = "";
    uint64_t created = 0;
    if (lc && page && storage_repo_created_at(a->rd, repo, &created, NULL) == STORAGE_OK) {
        pthread_mutex_lock(&lc->lock);
        lc_preview_t *pv = lc->previews;
        /* one kept for a repository deleted (and made again) while it was evaluated is not this one's */
        while (pv && (strcmp(pv->repo, repo) != 0 || pv->created != created))
            pv = pv->next;
        if (pv) {
            found = true;
            total = json_array_size(pv->results);
            size_t i;
            json_t *x;
            json_array_foreach(pv->results, i, x)
            {
                const char *d = json_string_value(json_object_get(x, "imageDigest"));
                bool tagged = json_array_size(json_object_get(x, "imageTags")) > 0;
                if ((want_tagged && !tagged) || (want_untagged && tagged) || (ids && !result_wanted(ids, x)))
                    continue;
                if (after && strcmp(d, after) <= 0)
                    continue;
                if (json_array_size(page) == (size_t)max) {
                    more = true;
                    break;
                }
                json_array_append_new(page, json_deep_copy(x));
                snprintf(last, sizeof(last), "%s", d);
            }
            out = json_pack("{s:s,s:s,s:s,s:s,s:O,s:{s:I}}", "registryId", a->srv->keys.account_id, "repositoryName", repo,
                            "lifecyclePolicyText", pv->text, "status", "COMPLETE", "previewResults", page, "summary",
                            "expiringImageTotalCount", (json_int_t)total);
        }
        pthread_mutex_unlock(&lc->lock);
    }
    json_decref(page);
    if (!found) {
        aws_send_error(a, 400, "LifecyclePolicyPreviewNotFoundException",
                       "There is no lifecycle policy preview for the repository with name '%s' in the registry with id '%s'", repo,
                       a->srv->keys.account_id);
        return;
    }
    if (out && more)
        json_object_set_new(out, "nextToken", json_string(last));
    aws_send_result(a, out);
}

/* ---- RunLifecyclePolicy --------------------------------------------------------------- */

typedef struct {
    aws_req_t a;
    char repo[OCI_NAME_MAX + 1];
    storage_image_ref_t *refs;
    json_t *results; /* in refs' order */
    json_t *expired; /* the reply's expiredImages, once deleted */
    lc_stamp_t stamp;
} lc_run_t;

static void run_free(void *p)
{
    lc_run_t *r = p;
    free(r->refs);
    json_decref(r->results);
    json_decref(r->expired);
    free(r);
}

static void run_reply(lc_run_t *r)
{
    size_t n = json_array_size(r->expired);
    aws_send_result(&r->a, json_pack("{s:s,s:s,s:o,s:I}", "registryId", r->a.srv->keys.account_id, "repositoryName", r->repo,
                                     "expiredImages", r->expired, "expiredImageCount", (json_int_t)n));
    r->expired = NULL; /* the reply took it */
}

static void stamp_done(server_op_t *sop, h2o_req_t *req)
{
    lc_run_t *r = sop->user;
    r->a.req = req;
    if (sop->op.status != STORAGE_OK && sop->op.status != STORAGE_NOT_FOUND)
        fprintf(stderr, "berthd: requested lifecycle run of %s: cannot note its time: %s\n", r->repo, sop->op.err.msg);
    run_reply(r);
}

static void run_done(server_op_t *sop, h2o_req_t *req)
{
    lc_run_t *r = sop->user;
    r->a.req = req;
    /* an image deleted meanwhile, or tagged since it was evaluated (it stays), is not reported */
    json_t *done = json_array();
    for (size_t i = 0; done && i < sop->op.nimages; i++)
        if (r->refs[i].status == STORAGE_OK)
            json_array_append(done, json_array_get(r->results, i));
    log_run("requested", r->repo, &sop->op, json_array_size(done));
    if (sop->op.status != STORAGE_OK) {
        json_decref(done);
        aws_send_error(&r->a, sop->op.status == STORAGE_FULL ? 503 : 500, "ServerException", "%s", sop->op.err.msg);
        return;
    }
    r->expired = done;
    /* then the run's time, in a commit of its own, before the reply (a Get after it shows the time) */
    v2_req_t vr = {.req = req, .srv = r->a.srv};
    snprintf(vr.name, sizeof(vr.name), "%s", r->repo);
    server_op_t *next = server_op_new(&vr, STORAGE_OP_REPO_UPDATE, stamp_done);
    if (!next) {
        fprintf(stderr, "berthd: requested lifecycle run of %s: cannot note its time: out of memory\n", r->repo);
        run_reply(r);
        return;
    }
    next->user = r;
    next->free_user = run_free;
    sop->user = NULL; /* the next op owns it now */
    sop->free_user = NULL;
    next->op.records_fn = write_stamp;
    next->op.records_ctx = &r->stamp;
    server_op_submit(next);
}

static void run_lifecycle_policy(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", NULL};
    const char *repo = ecr_existing_repo(a, known, "berth:RunLifecyclePolicy");
    ecr_lc_policy_t p;
    if (repo && policy_for(a, repo, false, &p, NULL))
        submit_job(a, repo, true, &p, NULL);
}

/* A run evaluated: its expired images deleted in one op (run_done answers). */
static void run_evaluated(lc_job_t *j, h2o_req_t *req)
{
    aws_req_t *a = &j->a;
    lc_repo_t *ev = &j->ev;
    lc_run_t *r = calloc(1, sizeof(*r));
    size_t n = 0;
    if (r && (r->results = json_array()) != NULL)
        r->refs = expired_refs(ev, &n);
    for (size_t i = 0; r && r->results && i < ev->n; i++)
        if (ev->rule[i])
            json_array_append_new(r->results, result_json(&ev->v[i], ev->rule[i]));
    v2_req_t vr = {.req = req, .srv = a->srv};
    server_op_t *sop = r && r->results && (r->refs || n == 0) && json_array_size(r->results) == n
                           ? server_op_new(&vr, STORAGE_OP_IMAGES_DELETE, run_done)
                           : NULL;
    if (!sop) {
        if (r)
            run_free(r);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    r->a = *a;
    snprintf(r->repo, sizeof(r->repo), "%s", j->repo);
    snprintf(r->stamp.repo, sizeof(r->stamp.repo), "%s", j->repo);
    r->stamp.at = j->now;
    sop->user = r;
    sop->free_user = run_free;
    snprintf(sop->op.repo, sizeof(sop->op.repo), "%s", j->repo);
    sop->op.images = r->refs;
    sop->op.nimages = n;
    sop->op.flags = STORAGE_OP_IF_TAGS_UNCHANGED;
    server_op_submit(sop);
}

static void evaluated(server_op_t *sop, h2o_req_t *req)
{
    lc_job_t *j = sop->user;
    j->a.req = req;
    if (j->gone)
        ecr_send_not_found(&j->a, j->repo);
    else if (j->rc != 0)
        aws_send_error(&j->a, j->cancelled ? 503 : 500, j->cancelled ? "ServiceUnavailableException" : "ServerException", "%s",
                       j->msg);
    else if (j->run)
        run_evaluated(j, req);
    else
        preview_evaluated(j);
}

const aws_operation_t ecr_lifecycle_operations[] = {
    {ECR_SERVICE, "PutLifecyclePolicy", "ecr", put_lifecycle_policy},
    {ECR_SERVICE, "GetLifecyclePolicy", "ecr", get_lifecycle_policy},
    {ECR_SERVICE, "DeleteLifecyclePolicy", "ecr", delete_lifecycle_policy},
    {ECR_SERVICE, "StartLifecyclePolicyPreview", "ecr", start_lifecycle_policy_preview},
    {ECR_SERVICE, "GetLifecyclePolicyPreview", "ecr", get_lifecycle_policy_preview},
    {BERTH_ADMIN_SERVICE, "RunLifecyclePolicy", "ecr", run_lifecycle_policy},
    {NULL, NULL, NULL, NULL},
};
