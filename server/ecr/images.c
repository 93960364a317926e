/*
 * ECR's image operations: ListImages, DescribeImages, BatchGetImage,
 * BatchDeleteImage, PutImage, BatchCheckLayerAvailability. Images are a repository's manifests; reads
 * come from the request's snapshot, changes are storage ops
 * (STORAGE_OP_IMAGES_DELETE, STORAGE_OP_MANIFEST_PUT).
 *
 * Paging: a nextToken is the digest of the last image of the page (images
 * are listed in digest order, so a page starts with a range seek); ListImages
 * never splits one image's tags across pages. Tags are keyed by tag, not by
 * digest, so a page reads them in windows: the next page-size-plus-one
 * images fix a digest range, one walk of the tag keys keeps the tags in that
 * range, and only a TAGGED/UNTAGGED filter that skips a whole window takes
 * another, twice as wide. A page thus builds O(page) objects; the walk of the
 * tag keys (no objects, a compare each) is the only part that grows with the
 * repository: there is no digest -> tags index. Before this, every page
 * built a map of all the repository's tags (bench/ecr has the figures).
 */
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/ecr/ecr_cache.h"
#include "server/server_internal.h"

/* ECR: imageIds of a batch call hold 1 to 100; pages 1 to 1000 (default 100). */
#define ECR_IMAGE_IDS_MAX 100
#define ECR_PAGE_MAX 1000
#define ECR_PAGE_DEFAULT 100
#define ECR_MEDIA_TYPES_MAX 100
/* BatchGetImage: the manifest bytes one reply carries at most. A reply is
 * built whole (the manifests as JSON strings, their escaped text, then the
 * response's copy), up to four times its manifests' bytes at its peak: one
 * request naming a 4 MiB manifest 100 times took 1.2 GB. 16 MiB holds four
 * of the largest manifests, thousands of ordinary ones. */
#define ECR_BATCH_GET_BYTES_MAX ((size_t)16 << 20)

static const char *tag_status_values[] = {"TAGGED", "UNTAGGED", "ANY", NULL};
typedef enum { TAGS_TAGGED, TAGS_UNTAGGED, TAGS_ANY } tag_status_t;

/* filter: {"tagStatus": TAGGED|UNTAGGED|ANY}; false after sending the error. */
static bool filter_param(aws_req_t *a, tag_status_t *out)
{
    json_t *f = json_object_get(a->body, "filter");
    *out = TAGS_ANY;
    if (!f)
        return true;
    json_t *ts = json_object_get(f, "tagStatus");
    if (json_is_object(f) && json_object_size(f) == (ts ? 1u : 0u) && (!ts || json_is_string(ts))) {
        if (!ts)
            return true;
        for (int i = 0; tag_status_values[i]; i++)
            if (strcmp(json_string_value(ts), tag_status_values[i]) == 0) {
                *out = (tag_status_t)i;
                return true;
            }
    }
    aws_send_error(a, 400, "InvalidParameterException",
                   "Invalid parameter at 'filter': an object whose only member is 'tagStatus', one of TAGGED, UNTAGGED, ANY");
    return false;
}

/* nextToken: absent (NULL in *out) or a digest this registry gave; false after sending the error. */
static bool token_param(aws_req_t *a, const char **out)
{
    json_t *t = json_object_get(a->body, "nextToken");
    *out = NULL;
    if (!t)
        return true;
    oci_digest_t d;
    if (!json_is_string(t) || oci_digest_parse(json_string_value(t), json_string_length(t), &d, NULL) != OCI_OK) {
        aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at 'nextToken': not a token this registry gave");
        return false;
    }
    *out = json_string_value(t);
    return true;
}

/* digest -> [tags] of the repository (a new object; NULL: no memory or unreadable, after sending the error). */
static bool add_tag(void *ctx, const char *tag, const char *digest)
{
    json_t *map = ctx, *list = json_object_get(map, digest);
    if (!list) {
        list = json_array();
        if (!list || json_object_set_new(map, digest, list) != 0)
            return false;
    }
    return json_array_append_new(list, json_string(tag)) == 0;
}

/* The tags of the images of digest in (lo, hi]: lo NULL from the first, hi "" to the last. */
typedef struct {
    json_t *map;
    const char *lo, *hi;
} tag_window_t;

static bool add_tag_in_window(void *ctx, const char *tag, const char *digest)
{
    tag_window_t *w = ctx;
    if ((w->lo && strcmp(digest, w->lo) <= 0) || (w->hi[0] && strcmp(digest, w->hi) > 0))
        return true;
    return add_tag(w->map, tag, digest);
}

typedef struct {
    char *hi;
    size_t n, want;
} window_end_t;

static bool window_image(void *ctx, const storage_image_t *im)
{
    window_end_t *e = ctx;
    if (++e->n < e->want)
        return true;
    snprintf(e->hi, OCI_DIGEST_MAX, "%s", im->digest);
    return false;
}

/* The window of the `want` images after `after`: its last digest into hi ("" when
 * it reaches the last image) and its tags as digest -> [tags] (a new object;
 * NULL after sending the error). */
static json_t *window_tags(aws_req_t *a, const char *repo, const char *after, size_t want, char hi[OCI_DIGEST_MAX])
{
    window_end_t e = {.hi = hi, .want = want};
    tag_window_t w = {.map = json_object(), .lo = after, .hi = hi};
    storage_err_t err;
    hi[0] = '\0';
    if (!w.map || storage_images_list(a->rd, repo, after, window_image, &e, &err) != STORAGE_OK ||
        storage_tag_entries(a->rd, repo, add_tag_in_window, &w, &err) != STORAGE_OK) {
        json_decref(w.map);
        aws_send_error(a, 500, "ServerException", "cannot read the images of %s", repo);
        return NULL;
    }
    return w.map;
}

static json_t *id_json(const char *digest, const char *tag)
{
    json_t *o = json_pack("{s:s}", "imageDigest", digest);
    if (o && tag)
        json_object_set_new(o, "imageTag", json_string(tag));
    return o;
}

/* ---- ListImages ------------------------------------------------------------ */

typedef struct {
    json_t *tags, *ids;
    tag_status_t status;
    size_t max;
    char last[OCI_DIGEST_MAX], hi[OCI_DIGEST_MAX];
    bool more, past;
} list_ctx_t;

static bool list_image(void *ctx, const storage_image_t *im)
{
    list_ctx_t *l = ctx;
    if (l->hi[0] && strcmp(im->digest, l->hi) > 0) {
        l->past = true; /* beyond the window whose tags were read */
        return false;
    }
    json_t *tags = json_object_get(l->tags, im->digest);
    size_t ntags = json_array_size(tags);
    if ((l->status == TAGS_TAGGED && !ntags) || (l->status == TAGS_UNTAGGED && ntags))
        return true;
    size_t adds = ntags ? ntags : 1;
    if (json_array_size(l->ids) && json_array_size(l->ids) + adds > l->max) {
        l->more = true;
        return false;
    }
    if (!ntags) {
        json_array_append_new(l->ids, id_json(im->digest, NULL));
    } else {
        size_t i;
        json_t *t;
        json_array_foreach(tags, i, t) json_array_append_new(l->ids, id_json(im->digest, json_string_value(t)));
    }
    snprintf(l->last, sizeof(l->last), "%s", im->digest);
    return true;
}

static void list_images(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "nextToken", "maxResults", "filter", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:ListImages"), *token;
    tag_status_t status;
    long max;
    if (!repo || (max = ecr_max_results(a, ECR_PAGE_MAX, ECR_PAGE_DEFAULT)) < 0 || !filter_param(a, &status) ||
        !token_param(a, &token))
        return;
    list_ctx_t l = {.ids = json_array(), .status = status, .max = (size_t)max};
    char from[OCI_DIGEST_MAX] = "";
    if (token)
        snprintf(from, sizeof(from), "%s", token);
    /* page-plus-one images decide whether there is a next page; a window a
     * filter skipped doubles the next so that a page reads the tags O(log n) times */
    size_t want = (size_t)max + 1;
    do {
        storage_err_t err;
        l.past = false;
        l.tags = NULL;
        if (!l.ids || !(l.tags = window_tags(a, repo, from[0] ? from : NULL, want, l.hi)) ||
            storage_images_list(a->rd, repo, from[0] ? from : NULL, list_image, &l, &err) != STORAGE_OK) {
            if (l.tags || !l.ids)
                aws_send_error(a, 500, "ServerException", "cannot list the images of %s", repo);
            json_decref(l.tags);
            json_decref(l.ids);
            return;
        }
        json_decref(l.tags);
        memcpy(from, l.hi, sizeof(from));
        want = want < SIZE_MAX / 2 ? want * 2 : want;
    } while (l.past);
    json_t *out = json_pack("{s:o}", "imageIds", l.ids);
    if (out && l.more)
        json_object_set_new(out, "nextToken", json_string(l.last));
    aws_send_result(a, out);
}

/* ---- DescribeImages ---------------------------------------------------------- */

static uint64_t cached_size(aws_req_t *a, const char *repo, const char *digest, const void *body, size_t len,
                            const char *media_type, char *artifact_type, size_t cap, int depth);

/* ECR's imageSizeInBytes of an image manifest: its layers' sizes as pushed
 * (the config not counted); of an index: its largest child's. */
static uint64_t image_size(aws_req_t *a, const char *repo, const void *body, size_t len, const char *media_type,
                           char *artifact_type, size_t cap, int depth)
{
    oci_manifest_t m;
    if (oci_manifest_parse(body, len, media_type, strlen(media_type), &m, NULL) != OCI_OK)
        return 0;
    uint64_t size = 0;
    if (artifact_type && m.nblobs)
        snprintf(artifact_type, cap, "%s", m.blobs[0].media_type);
    for (size_t i = 1; i < m.nblobs; i++)
        size += m.blobs[i].size;
    for (size_t i = 0; i < m.nmanifests && depth < 2; i++) {
        oci_reference_t ref = {.is_digest = true, .digest = m.manifests[i].digest};
        storage_manifest_t child;
        if (storage_manifest_get(a->rd, repo, &ref, &child, NULL) != STORAGE_OK)
            continue;
        uint64_t s = cached_size(a, repo, child.digest.str, child.body, child.len, child.media_type, NULL, 0, depth + 1);
        if (s > size)
            size = s;
    }
    oci_manifest_free(&m);
    return size;
}

/* What image_size found for a manifest, remembered (ecr_cache.h) by repository
 * and digest: an index's size depends on the children the repository holds,
 * which BatchDeleteImage keeps while it stays (ImageReferencedByManifestList). */
typedef struct {
    uint64_t size;
    char artifact_type[OCI_MEDIA_TYPE_MAX];
} size_fact_t;

static uint64_t cached_size(aws_req_t *a, const char *repo, const char *digest, const void *body, size_t len,
                            const char *media_type, char *artifact_type, size_t cap, int depth)
{
    char key[OCI_NAME_MAX + OCI_DIGEST_MAX + 8];
    snprintf(key, sizeof(key), "size%d/%s@%s", depth, repo, digest); /* an index nested deeper looks less far */
    size_t n;
    size_fact_t *f = ecr_cache_get(key, &n), fact = {0};
    if (f && n == sizeof(*f)) {
        fact = *f;
    } else {
        fact.size = image_size(a, repo, body, len, media_type, fact.artifact_type, sizeof(fact.artifact_type), depth);
        ecr_cache_put(key, &fact, sizeof(fact));
    }
    free(f);
    if (artifact_type && cap)
        snprintf(artifact_type, cap, "%s", fact.artifact_type);
    return fact.size;
}

static json_t *image_detail(aws_req_t *a, const char *repo, const storage_image_t *im, json_t *tags)
{
    char artifact[OCI_MEDIA_TYPE_MAX] = "";
    uint64_t size = cached_size(a, repo, im->digest, im->body, im->len, im->media_type, artifact, sizeof(artifact), 0);
    json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:f,s:s}", "registryId", a->srv->keys.account_id, "repositoryName", repo, "imageDigest",
                          im->digest, "imageSizeInBytes", (json_int_t)size, "imagePushedAt", (double)im->pushed_at,
                          "imageManifestMediaType", im->media_type);
    if (o && json_array_size(tags))
        json_object_set(o, "imageTags", tags);
    int64_t pulled;
    if (o && ecr_last_pull(a->rd, repo, im->digest, &pulled))
        json_object_set_new(o, "lastRecordedPullTime", json_real((double)pulled));
    if (o && (artifact[0] || im->artifact_type[0]))
        json_object_set_new(o, "artifactMediaType", json_string(artifact[0] ? artifact : im->artifact_type));
    return o;
}

typedef struct {
    aws_req_t *a;
    const char *repo;
    json_t *tags, *details;
    tag_status_t status;
    size_t max;
    char last[OCI_DIGEST_MAX], hi[OCI_DIGEST_MAX];
    bool more, failed, past;
} describe_ctx_t;

static bool describe_image(void *ctx, const storage_image_t *im)
{
    describe_ctx_t *d = ctx;
    if (d->hi[0] && strcmp(im->digest, d->hi) > 0) {
        d->past = true; /* beyond the window whose tags were read */
        return false;
    }
    json_t *tags = json_object_get(d->tags, im->digest);
    size_t ntags = json_array_size(tags);
    if ((d->status == TAGS_TAGGED && !ntags) || (d->status == TAGS_UNTAGGED && ntags))
        return true;
    if (json_array_size(d->details) == d->max) {
        d->more = true;
        return false;
    }
    json_t *o = image_detail(d->a, d->repo, im, tags);
    if (!o || json_array_append_new(d->details, o) != 0) {
        d->failed = true;
        return false;
    }
    snprintf(d->last, sizeof(d->last), "%s", im->digest);
    return true;
}

/* The one image of digest `digest` (stops at it). */
typedef struct {
    describe_ctx_t *d;
    const char *digest;
    bool found;
} one_ctx_t;

static bool describe_one(void *ctx, const storage_image_t *im)
{
    one_ctx_t *o = ctx;
    if (strcmp(im->digest, o->digest) != 0)
        return false;
    o->found = true;
    json_t *j = image_detail(o->d->a, o->d->repo, im, json_object_get(o->d->tags, im->digest));
    o->d->failed |= !j || json_array_append_new(o->d->details, j) != 0;
    return false;
}

static void send_image_not_found(aws_req_t *a, const char *repo, const oci_reference_t *ref)
{
    aws_send_error(a, 400, "ImageNotFoundException",
                   "The image with imageId {%s:'%s'} does not exist within the repository with name '%s' in the registry with "
                   "id '%s'",
                   ref->is_digest ? "imageDigest" : "imageTag", ref->is_digest ? ref->digest.str : ref->tag, repo,
                   a->srv->keys.account_id);
}

/* imageIds: an array of 1..ECR_IMAGE_IDS_MAX objects; NULL when absent; false after the error. */
static bool image_ids_param(aws_req_t *a, json_t **out, bool required)
{
    json_t *ids = json_object_get(a->body, "imageIds");
    *out = ids;
    if (!ids && !required)
        return true;
    if (!json_is_array(ids) || json_array_size(ids) < 1 || json_array_size(ids) > ECR_IMAGE_IDS_MAX) {
        aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at 'imageIds': a list of 1 to %d image ids",
                       ECR_IMAGE_IDS_MAX);
        return false;
    }
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        json_t *d = json_object_get(id, "imageDigest"), *t = json_object_get(id, "imageTag");
        const char *key;
        json_t *v;
        bool ok = json_is_object(id) && (!d || json_is_string(d)) && (!t || json_is_string(t));
        if (ok)
            json_object_foreach(id, key, v) ok = ok && (strcmp(key, "imageDigest") == 0 || strcmp(key, "imageTag") == 0);
        if (!ok) {
            aws_send_error(a, 400, "InvalidParameterException",
                           "Invalid parameter at 'imageIds': each an object with 'imageDigest' and/or 'imageTag', strings");
            return false;
        }
    }
    return true;
}

/* The tags of the images `wanted` (digest -> anything) names. */
typedef struct {
    json_t *map, *wanted;
} wanted_tags_t;

static bool add_wanted_tag(void *ctx, const char *tag, const char *digest)
{
    wanted_tags_t *w = ctx;
    return !json_object_get(w->wanted, digest) || add_tag(w->map, tag, digest);
}

/* digest -> [tags] of the images the imageIds name (a new object), or NULL
 * after sending the error (an id malformed or unknown, as the listing would).
 * One walk of the tag keys keeps those images' tags only: a map of every tag
 * of the repository made objects for all of them on every call. */
static json_t *tags_of_ids(aws_req_t *a, const char *repo, json_t *ids)
{
    wanted_tags_t w = {.map = json_object(), .wanted = json_object()};
    size_t i;
    json_t *id;
    storage_err_t err;
    json_array_foreach(ids, i, id)
    {
        oci_reference_t ref;
        storage_manifest_t m;
        if (!ecr_image_id(a, id, "imageIds", &ref))
            goto fail;
        if (storage_manifest_get(a->rd, repo, &ref, &m, NULL) != STORAGE_OK) {
            send_image_not_found(a, repo, &ref);
            goto fail;
        }
        if (!w.wanted || json_object_set_new(w.wanted, m.digest.str, json_true()) != 0)
            break;
    }
    if (w.map && w.wanted && i == json_array_size(ids) &&
        storage_tag_entries(a->rd, repo, add_wanted_tag, &w, &err) == STORAGE_OK) {
        json_decref(w.wanted);
        return w.map;
    }
    aws_send_error(a, 500, "ServerException", "cannot read the tags of %s", repo);
fail:
    json_decref(w.map);
    json_decref(w.wanted);
    return NULL;
}

static void describe_images(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "imageIds", "nextToken", "maxResults", "filter", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:DescribeImages"), *token;
    tag_status_t status;
    json_t *ids;
    long max;
    if (!repo || (max = ecr_max_results(a, ECR_PAGE_MAX, ECR_PAGE_DEFAULT)) < 0 || !filter_param(a, &status) ||
        !token_param(a, &token) || !image_ids_param(a, &ids, false))
        return;
    if (ids && (token || json_object_get(a->body, "maxResults"))) {
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at 'maxResults': nextToken and maxResults cannot be used with imageIds");
        return;
    }
    describe_ctx_t d = {.a = a, .repo = repo, .details = json_array(), .status = status, .max = (size_t)max};
    /* imageIds: at most 100 point lookups, and the tags of those images */
    d.tags = ids ? tags_of_ids(a, repo, ids) : json_object();
    if (!d.tags || !d.details) {
        if (d.tags || !ids)
            aws_send_error(a, 500, "ServerException", "out of memory");
        json_decref(d.tags);
        json_decref(d.details);
        return;
    }
    storage_err_t err;
    storage_status_t s = STORAGE_OK;
    if (ids) {
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id)
        {
            oci_reference_t ref;
            if (!ecr_image_id(a, id, "imageIds", &ref))
                goto done;
            storage_manifest_t m;
            if (storage_manifest_get(a->rd, repo, &ref, &m, NULL) != STORAGE_OK) {
                send_image_not_found(a, repo, &ref);
                goto done;
            }
            /* the listing from just before it finds it first */
            one_ctx_t one = {.d = &d, .digest = m.digest.str};
            char before[OCI_DIGEST_MAX];
            snprintf(before, sizeof(before), "%s", m.digest.str);
            before[strlen(before) - 1]--; /* a hex digit or 'a'-1: sorts just before the digest */
            s = storage_images_list(a->rd, repo, before, describe_one, &one, &err);
            if (s != STORAGE_OK || !one.found)
                break;
        }
    } else {
        char from[OCI_DIGEST_MAX] = "";
        if (token)
            snprintf(from, sizeof(from), "%s", token);
        size_t want = (size_t)max + 1; /* as in list_images */
        do {
            json_decref(d.tags);
            d.past = false;
            if (!(d.tags = window_tags(a, repo, from[0] ? from : NULL, want, d.hi)))
                goto done;
            s = storage_images_list(a->rd, repo, from[0] ? from : NULL, describe_image, &d, &err);
            memcpy(from, d.hi, sizeof(from));
            want = want < SIZE_MAX / 2 ? want * 2 : want;
        } while (s == STORAGE_OK && !d.failed && d.past);
    }
    if (s != STORAGE_OK || d.failed) {
        aws_send_error(a, 500, "ServerException", "%s", s != STORAGE_OK ? err.msg : "out of memory");
        goto done;
    }
    json_t *out = json_pack("{s:O}", "imageDetails", d.details);
    if (out && d.more)
        json_object_set_new(out, "nextToken", json_string(d.last));
    aws_send_result(a, out);
done:
    json_decref(d.tags);
    json_decref(d.details);
}

/* ---- BatchGetImage ------------------------------------------------------------ */

static json_t *failure(json_t *id, const char *code, const char *reason)
{
    return json_pack("{s:O,s:s,s:s}", "imageId", id, "failureCode", code, "failureReason", reason);
}

/* An imageId's reference for a batch: false with *code and *reason set when it is malformed. */
static bool batch_ref(json_t *id, oci_reference_t *ref, const char **tag_out, const char **code, const char **reason)
{
    const char *d = json_string_value(json_object_get(id, "imageDigest"));
    const char *t = json_string_value(json_object_get(id, "imageTag"));
    *tag_out = t;
    if (!d && !t) {
        *code = "MissingDigestAndTag";
        *reason = "Invalid request parameters: both tag and digest cannot be null";
        return false;
    }
    if (d) {
        ref->is_digest = true;
        if (oci_digest_parse(d, strlen(d), &ref->digest, NULL) != OCI_OK) {
            *code = "InvalidImageDigest";
            *reason = "Invalid image digest";
            return false;
        }
    }
    if (t && !oci_tag_valid(t, strlen(t))) {
        *code = "InvalidImageTag";
        *reason = "Invalid image tag";
        return false;
    }
    if (!d) {
        ref->is_digest = false;
        snprintf(ref->tag, sizeof(ref->tag), "%s", t);
    }
    return true;
}

static void batch_get_image(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "imageIds", "acceptedMediaTypes", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:BatchGetImage");
    json_t *ids;
    if (!repo || !image_ids_param(a, &ids, true))
        return;
    json_t *accepted = json_object_get(a->body, "acceptedMediaTypes");
    size_t i;
    json_t *v;
    bool ok = !accepted ||
              (json_is_array(accepted) && json_array_size(accepted) >= 1 && json_array_size(accepted) <= ECR_MEDIA_TYPES_MAX);
    json_array_foreach(accepted, i, v) ok = ok && json_is_string(v);
    if (!ok) {
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at 'acceptedMediaTypes': a list of 1 to %d media types", ECR_MEDIA_TYPES_MAX);
        return;
    }
    json_t *images = json_array(), *failures = json_array();
    json_t *id;
    oci_digest_t pulled[ECR_IMAGE_IDS_MAX];
    size_t npulled = 0, bytes = 0;
    json_array_foreach(ids, i, id)
    {
        oci_reference_t ref;
        const char *tag, *code, *reason;
        if (!batch_ref(id, &ref, &tag, &code, &reason)) {
            json_array_append_new(failures, failure(id, code, reason));
            continue;
        }
        storage_manifest_t m;
        if (storage_manifest_get(a->rd, repo, &ref, &m, NULL) != STORAGE_OK) {
            json_array_append_new(failures, failure(id, "ImageNotFound", "Requested image not found"));
            continue;
        }
        if (ref.is_digest && tag) {
            oci_reference_t tref = {.is_digest = false};
            snprintf(tref.tag, sizeof(tref.tag), "%s", tag);
            storage_manifest_t tm;
            if (storage_manifest_get(a->rd, repo, &tref, &tm, NULL) != STORAGE_OK || strcmp(tm.digest.str, m.digest.str) != 0) {
                json_array_append_new(failures, failure(id, "ImageTagDoesNotMatchDigest", "Image tag does not match digest"));
                continue;
            }
        }
        bool wanted = !accepted;
        for (size_t j = 0; j < json_array_size(accepted) && !wanted; j++)
            wanted = strcmp(json_string_value(json_array_get(accepted, j)), m.media_type) == 0;
        if (!wanted) {
            json_array_append_new(failures,
                                  failure(id, "ImageNotFound", "Requested image not found in any of the acceptedMediaTypes"));
            continue;
        }
        if ((bytes += m.len) > ECR_BATCH_GET_BYTES_MAX) {
            json_decref(images);
            json_decref(failures);
            aws_send_error(a, 400, "LimitExceededException",
                           "Invalid parameter at 'imageIds': their manifests hold more than %zu MiB, more than one reply carries: "
                           "ask for fewer imageIds at a time",
                           ECR_BATCH_GET_BYTES_MAX >> 20);
            return;
        }
        json_t *body = json_stringn(m.body, m.len);
        json_t *o =
            body ? json_pack("{s:s,s:s,s:o,s:o,s:s}", "registryId", a->srv->keys.account_id, "repositoryName", repo, "imageId",
                             id_json(m.digest.str, tag), "imageManifest", body, "imageManifestMediaType", m.media_type)
                 : NULL;
        if (!o) {
            json_array_append_new(failures, failure(id, "ImageNotFound", "The manifest is not UTF-8 text"));
            continue;
        }
        json_array_append_new(images, o);
        pulled[npulled++] = m.digest;
    }
    for (i = 0; i < npulled; i++)
        ecr_note_pull(a->srv, repo, &pulled[i]); /* docker pulls through ECR call this: it is a pull */
    aws_send_result(a, json_pack("{s:o,s:o}", "images", images, "failures", failures));
}

/* ---- BatchDeleteImage ------------------------------------------------------------ */

typedef struct {
    aws_req_t a;
    char repo[OCI_NAME_MAX + 1];
    storage_image_ref_t *refs;
    json_t *ids;      /* the request's imageIds sent to storage, in refs' order */
    json_t *failures; /* those refused before storage */
} delete_t;

static void delete_free(void *p)
{
    delete_t *d = p;
    free(d->refs);
    json_decref(d->ids);
    json_decref(d->failures);
    free(d);
}

static void deleted(server_op_t *sop, h2o_req_t *req)
{
    delete_t *d = sop->user;
    d->a.req = req;
    if (sop->op.status != STORAGE_OK) {
        aws_send_error(&d->a, sop->op.status == STORAGE_FULL ? 503 : 500, "ServerException", "%s", sop->op.err.msg);
        return;
    }
    json_t *done = json_array(), *failures = json_incref(d->failures);
    for (size_t i = 0; i < json_array_size(d->ids); i++) {
        json_t *id = json_array_get(d->ids, i);
        if (d->refs[i].status == STORAGE_OK)
            json_array_append_new(done, id_json(d->refs[i].digest.str, json_string_value(json_object_get(id, "imageTag"))));
        else if (d->refs[i].status == STORAGE_REFERENCE)
            json_array_append_new(failures, failure(id, "ImageReferencedByManifestList",
                                                    "Requested image is referenced by a manifest list (an image index) of the "
                                                    "repository: delete that first"));
        else
            json_array_append_new(failures, failure(id, "ImageNotFound", "Requested image not found"));
    }
    aws_send_result(&d->a, json_pack("{s:o,s:o}", "imageIds", done, "failures", failures));
}

static void batch_delete_image(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "imageIds", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:BatchDeleteImage");
    json_t *ids;
    if (!repo || !image_ids_param(a, &ids, true))
        return;
    delete_t *d = calloc(1, sizeof(*d));
    if (d) {
        d->refs = calloc(json_array_size(ids), sizeof(*d->refs));
        d->ids = json_array();
        d->failures = json_array();
    }
    v2_req_t r = {.req = a->req, .srv = a->srv};
    server_op_t *sop = d && d->refs && d->ids && d->failures ? server_op_new(&r, STORAGE_OP_IMAGES_DELETE, deleted) : NULL;
    if (!sop) {
        if (d)
            delete_free(d);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    size_t i, n = 0;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        const char *tag, *code, *reason;
        oci_reference_t ref;
        if (!batch_ref(id, &ref, &tag, &code, &reason)) {
            json_array_append_new(d->failures, failure(id, code, reason));
            continue;
        }
        if (ref.is_digest && tag) { /* both: the tag must name the digest; then the tag goes */
            oci_reference_t tref = {.is_digest = false};
            snprintf(tref.tag, sizeof(tref.tag), "%s", tag);
            storage_manifest_t tm;
            if (storage_manifest_get(a->rd, repo, &tref, &tm, NULL) != STORAGE_OK || strcmp(tm.digest.str, ref.digest.str) != 0) {
                json_array_append_new(d->failures, failure(id, "ImageTagDoesNotMatchDigest", "Image tag does not match digest"));
                continue;
            }
            ref = tref;
        }
        d->refs[n++].ref = ref;
        json_array_append(d->ids, id);
    }
    d->a = *a;
    d->a.rd = NULL;
    d->a.body = NULL;
    snprintf(d->repo, sizeof(d->repo), "%s", repo);
    sop->user = d;
    sop->free_user = delete_free;
    snprintf(sop->op.repo, sizeof(sop->op.repo), "%s", repo);
    sop->op.images = d->refs;
    sop->op.nimages = n;
    server_op_submit(sop);
}

/* ---- PutImage ------------------------------------------------------------------- */

typedef struct {
    aws_req_t a;
    char repo[OCI_NAME_MAX + 1];
    char *body; /* the manifest's bytes */
    size_t len;
    oci_manifest_t manifest;
    bool parsed;
    char *referrer_json;
} put_t;

static void put_free(void *p)
{
    put_t *u = p;
    if (u->parsed)
        oci_manifest_free(&u->manifest);
    free(u->body);
    free(u->referrer_json);
    free(u);
}

static void put_done(server_op_t *sop, h2o_req_t *req)
{
    put_t *u = sop->user;
    aws_req_t *a = &u->a;
    a->req = req;
    const char *acct = a->srv->keys.account_id;
    switch (sop->op.status) {
    case STORAGE_OK: {
        json_t *body = json_stringn(u->body, u->len);
        aws_send_result(a, json_pack("{s:{s:s,s:s,s:o,s:o*,s:s}}", "image", "registryId", acct, "repositoryName", u->repo,
                                     "imageId", id_json(sop->op.digest.str, sop->op.tag[0] ? sop->op.tag : NULL), "imageManifest",
                                     body, "imageManifestMediaType", u->manifest.media_type));
        return;
    }
    case STORAGE_EXISTS:
        aws_send_error(a, 400, "ImageTagAlreadyExistsException",
                       "The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the "
                       "repository is immutable.",
                       sop->op.tag, u->repo);
        return;
    case STORAGE_REFERENCE:
        if (strncmp(sop->op.err.msg, "manifest", 8) == 0)
            aws_send_error(a, 400, "ReferencedImagesNotFoundException", "%s", sop->op.err.msg);
        else
            aws_send_error(a, 400, "LayersNotFoundException", "%s", sop->op.err.msg);
        return;
    case STORAGE_INVALID:
        aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at 'imageManifest': %s", sop->op.err.msg);
        return;
    default:
        aws_send_error(a, sop->op.status == STORAGE_FULL ? 503 : 500, "ServerException", "%s", sop->op.err.msg);
    }
}

static void put_image(aws_req_t *a)
{
    static const char *const known[] = {
        "registryId", "repositoryName", "imageManifest", "imageManifestMediaType", "imageTag", "imageDigest", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:PutImage");
    if (!repo)
        return;
    const char *body = aws_param_string(a, "imageManifest", true);
    if (!body)
        return;
    json_t *mt = json_object_get(a->body, "imageManifestMediaType"), *tg = json_object_get(a->body, "imageTag"),
           *dg = json_object_get(a->body, "imageDigest");
    const char *tag = json_string_value(tg);
    oci_digest_t want;
    if ((mt && !json_is_string(mt)) || (tg && (!tag || !oci_tag_valid(tag, strlen(tag))))) {
        aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at '%s': %s",
                       mt && !json_is_string(mt) ? "imageManifestMediaType" : "imageTag",
                       mt && !json_is_string(mt) ? "must be a string" : "must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");
        return;
    }
    if (dg && (!json_is_string(dg) || oci_digest_parse(json_string_value(dg), json_string_length(dg), &want, NULL) != OCI_OK)) {
        aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at 'imageDigest': not a digest (algorithm:hex)");
        return;
    }
    size_t len = json_string_length(json_object_get(a->body, "imageManifest"));
    if (len > OCI_MANIFEST_MAX_BYTES) {
        aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at 'imageManifest': at most 4 MiB");
        return;
    }
    put_t *u = calloc(1, sizeof(*u));
    v2_req_t r = {.req = a->req, .srv = a->srv};
    server_op_t *sop = u && (u->body = malloc(len ? len : 1)) ? server_op_new(&r, STORAGE_OP_MANIFEST_PUT, put_done) : NULL;
    if (!sop) {
        if (u)
            put_free(u);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    sop->user = u;
    sop->free_user = put_free;
    memcpy(u->body, body, len);
    u->len = len;
    oci_err_t oerr;
    const char *ct = mt ? json_string_value(mt) : NULL;
    if (oci_manifest_parse(u->body, len, ct, ct ? strlen(ct) : 0, &u->manifest, &oerr) != OCI_OK) {
        server_op_free(sop);
        aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at 'imageManifest': %s", oerr.msg);
        return;
    }
    u->parsed = true;
    oci_digest_compute(dg ? want.alg : OCI_ALG_SHA256, u->body, len, &sop->op.digest);
    if (dg && strcmp(want.str, sop->op.digest.str) != 0) {
        aws_send_error(a, 400, "ImageDigestDoesNotMatchException",
                       "The provided image digest '%s' does not match the manifest's digest '%s'", want.str, sop->op.digest.str);
        server_op_free(sop); /* after the message that names its digest */
        return;
    }
    /* ECR: the same manifest under the same tag (or untagged, already there) is no change */
    oci_reference_t ref = {.is_digest = !tag};
    if (tag)
        snprintf(ref.tag, sizeof(ref.tag), "%s", tag);
    else
        ref.digest = sop->op.digest;
    storage_manifest_t existing;
    if (storage_manifest_get(a->rd, repo, &ref, &existing, NULL) == STORAGE_OK &&
        strcmp(existing.digest.str, sop->op.digest.str) == 0) {
        aws_send_error(a, 400, "ImageAlreadyExistsException",
                       "Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id "
                       "'%s'",
                       sop->op.digest.str, tag ? tag : "", repo, a->srv->keys.account_id);
        server_op_free(sop); /* after the message that names its digest */
        return;
    }
    if (u->manifest.has_subject) {
        if (!(u->referrer_json = v2_referrer_descriptor(&u->manifest, &sop->op.digest, len))) {
            server_op_free(sop);
            aws_send_error(a, 500, "ServerException", "out of memory");
            return;
        }
        sop->op.referrer_json = u->referrer_json;
        sop->op.referrer_json_len = strlen(u->referrer_json);
    }
    u->a = *a;
    u->a.rd = NULL;
    u->a.body = NULL;
    snprintf(u->repo, sizeof(u->repo), "%s", repo);
    snprintf(sop->op.repo, sizeof(sop->op.repo), "%s", repo);
    if (tag) {
        snprintf(sop->op.tag, sizeof(sop->op.tag), "%s", tag);
        if (ecr_repo_tags_immutable(a->rd, repo))
            sop->op.flags |= STORAGE_OP_IMMUTABLE_TAG;
    }
    sop->op.data = u->body;
    sop->op.len = len;
    sop->op.manifest = &u->manifest;
    server_op_submit(sop);
}

/* ---- BatchCheckLayerAvailability ---------------------------------------------------- */

static void batch_check_layer_availability(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "layerDigests", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:BatchCheckLayerAvailability");
    if (!repo)
        return;
    json_t *digests = json_object_get(a->body, "layerDigests"), *layers = json_array(), *failures = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(digests, i, v)
    {
        const char *s = json_string_value(v);
        oci_digest_t d;
        storage_blob_t blob;
        if (oci_digest_parse(s, strlen(s), &d, NULL) != OCI_OK)
            json_array_append_new(failures, json_pack("{s:s,s:s,s:s}", "layerDigest", s, "failureCode", "InvalidLayerDigest",
                                                      "failureReason", "Invalid layer digest"));
        else if (storage_blob_stat(a->rd, repo, &d, &blob, NULL) != STORAGE_OK)
            json_array_append_new(failures, json_pack("{s:s,s:s,s:s}", "layerDigest", s, "failureCode", "MissingLayerDigest",
                                                      "failureReason", "Layer digest not found in the repository"));
        else
            json_array_append_new(layers, json_pack("{s:s,s:s,s:I}", "layerDigest", d.str, "layerAvailability", "AVAILABLE",
                                                    "layerSize", (json_int_t)blob.size));
    }
    aws_send_result(a, json_pack("{s:o,s:o}", "layers", layers, "failures", failures));
}

const aws_operation_t ecr_image_operations[] = {
    {ECR_SERVICE, "ListImages", "ecr", list_images},
    {ECR_SERVICE, "DescribeImages", "ecr", describe_images},
    {ECR_SERVICE, "BatchGetImage", "ecr", batch_get_image},
    {ECR_SERVICE, "BatchDeleteImage", "ecr", batch_delete_image},
    {ECR_SERVICE, "PutImage", "ecr", put_image},
    {ECR_SERVICE, "BatchCheckLayerAvailability", "ecr", batch_check_layer_availability},
    {NULL, NULL, NULL, NULL},
};

/* ---- what parsing manifests taught us (ecr_cache.h) ---------------------------- */

/* Keys and values held at most, in bytes: a few thousand manifests' facts
 * (an image's size is a few dozen bytes, a layer list 8 bytes a layer). */
#define ECR_CACHE_BYTES ((size_t)32 << 20)
#define ECR_CACHE_BUCKETS 4096

struct entry {
    struct entry *next;
    size_t len;         /* of the value */
    unsigned char *val; /* after the key, in the same allocation */
    char key[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *buckets[ECR_CACHE_BUCKETS];
static size_t held; /* bytes of keys and values */

static size_t bucket(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h % ECR_CACHE_BUCKETS;
}

static void clear_locked(void)
{
    for (size_t i = 0; i < ECR_CACHE_BUCKETS; i++) {
        while (buckets[i]) {
            struct entry *e = buckets[i];
            buckets[i] = e->next;
            free(e);
        }
    }
    held = 0;
}

void *ecr_cache_get(const char *key, size_t *len)
{
    void *out = NULL;
    pthread_mutex_lock(&lock);
    for (struct entry *e = buckets[bucket(key)]; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            if ((out = malloc(e->len ? e->len : 1)) != NULL) {
                memcpy(out, e->val, e->len);
                *len = e->len;
            }
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    return out;
}

void ecr_cache_put(const char *key, const void *val, size_t len)
{
    size_t klen = strlen(key), cost = klen + 1 + len;
    if (cost > ECR_CACHE_BYTES / 4)
        return; /* one value never crowds out the rest */
    struct entry *n = malloc(sizeof(*n) + cost);
    if (!n)
        return;
    memcpy(n->key, key, klen + 1);
    n->val = (unsigned char *)n->key + klen + 1;
    memcpy(n->val, val, len);
    n->len = len;
    pthread_mutex_lock(&lock);
    size_t b = bucket(key);
    for (struct entry **pp = &buckets[b]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->key, key) == 0) {
            struct entry *old = *pp;
            *pp = old->next;
            held -= strlen(old->key) + 1 + old->len;
            free(old);
            break;
        }
    }
    if (held + cost > ECR_CACHE_BYTES)
        clear_locked();
    n->next = buckets[b];
    buckets[b] = n;
    held += cost;
    pthread_mutex_unlock(&lock);
}
