/* The shapes of ECR request bodies (see ecr_request.h): one table row per
 * operation, one checker per kind of member. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "oci/oci.h"
#include "server/ecr/ecr_request.h"

/* ECR's documented bounds. */
#define ECR_NAME_MIN 2
/* ECR takes names of up to 256 characters, but the registry API's names and
 * the store's keys stop at OCI_NAME_MAX (255): a 256th character was cut
 * off after the policy had judged the whole name, so CreateRepository made
 * (and authorized) two different repositories. One bound for both APIs. */
#define ECR_NAME_MAX OCI_NAME_MAX
#define ECR_TAGS_MAX 50
#define ECR_TAG_KEY_MAX 128
#define ECR_TAG_VALUE_MAX 256
#define ECR_NAMES_MAX 100
#define ECR_IDS_MAX 100
#define ECR_PAGE_MAX 1000
#define ECR_TOKEN_MAX 2048
#define ECR_ARN_MAX 2048
#define ECR_KMS_KEY_MAX 2048
#define ECR_MEDIA_TYPES_MAX 100
/* lifecyclePolicyText: 100 to 30,720 characters; GetLifecyclePolicyPreview pages of 1 to 100 */
#define ECR_LIFECYCLE_TEXT_MIN 100
#define ECR_LIFECYCLE_TEXT_MAX 30720
#define ECR_PREVIEW_PAGE_MAX 100
/* SetRepositoryPolicy: policyText of at most 10,240 characters (the policy's own checks say more) */
#define ECR_POLICY_TEXT_MAX 10240
/* PutImage: a manifest of 4 MiB at most (as the /v2/ API) */
#define ECR_MANIFEST_MAX OCI_MANIFEST_MAX_BYTES

typedef enum {
    K_REPO,
    K_REGISTRY,
    K_BOOL,
    K_MAX_RESULTS,
    K_TOKEN,
    K_TAGS,
    K_TAG_KEYS,
    K_IMAGE_IDS,
    K_IMAGE_ID,
    K_FILTER,
    K_MUTABILITY,
    K_SCANNING,
    K_ENCRYPTION,
    K_MANIFEST,
    K_MEDIA_TYPE,
    K_MEDIA_TYPES,
    K_IMAGE_TAG,
    K_DIGEST,
    K_ARN,
    K_REPO_NAMES,
    K_LAYER_DIGESTS,
    K_UPLOAD_ID,
    K_BYTE_OFFSET,
    K_PART_BLOB,
    K_LIFECYCLE_TEXT,
    K_PREVIEW_MAX_RESULTS,
    K_POLICY_TEXT,
} kind_t;

typedef struct {
    const char *name;
    kind_t kind;
    bool required;
} member_t;

#define MEMBERS_MAX 8
typedef struct {
    const char *op;
    member_t m[MEMBERS_MAX];
} shape_t;

static const shape_t shapes[] = {
    {"CreateRepository",
     {{"registryId", K_REGISTRY, false},
      {"repositoryName", K_REPO, true},
      {"tags", K_TAGS, false},
      {"imageTagMutability", K_MUTABILITY, false},
      {"imageScanningConfiguration", K_SCANNING, false},
      {"encryptionConfiguration", K_ENCRYPTION, false}}},
    {"DescribeRepositories",
     {{"registryId", K_REGISTRY, false},
      {"repositoryNames", K_REPO_NAMES, false},
      {"nextToken", K_TOKEN, false},
      {"maxResults", K_MAX_RESULTS, false}}},
    {"DeleteRepository", {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}, {"force", K_BOOL, false}}},
    {"PutImageTagMutability",
     {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}, {"imageTagMutability", K_MUTABILITY, true}}},
    {"PutImageScanningConfiguration",
     {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}, {"imageScanningConfiguration", K_SCANNING, true}}},
    {"DescribeImageScanFindings",
     {{"registryId", K_REGISTRY, false},
      {"repositoryName", K_REPO, true},
      {"imageId", K_IMAGE_ID, true},
      {"nextToken", K_TOKEN, false},
      {"maxResults", K_MAX_RESULTS, false}}},
    {"TagResource", {{"resourceArn", K_ARN, true}, {"tags", K_TAGS, true}}},
    {"UntagResource", {{"resourceArn", K_ARN, true}, {"tagKeys", K_TAG_KEYS, true}}},
    {"ListTagsForResource", {{"resourceArn", K_ARN, true}}},
    {"DescribeRegistry", {{NULL, K_BOOL, false}}},
    {"ListImages",
     {{"registryId", K_REGISTRY, false},
      {"repositoryName", K_REPO, true},
      {"nextToken", K_TOKEN, false},
      {"maxResults", K_MAX_RESULTS, false},
      {"filter", K_FILTER, false}}},
    {"DescribeImages",
     {{"registryId", K_REGISTRY, false},
      {"repositoryName", K_REPO, true},
      {"imageIds", K_IMAGE_IDS, false},
      {"nextToken", K_TOKEN, false},
      {"maxResults", K_MAX_RESULTS, false},
      {"filter", K_FILTER, false}}},
    {"BatchGetImage",
     {{"registryId", K_REGISTRY, false},
      {"repositoryName", K_REPO, true},
      {"imageIds", K_IMAGE_IDS, true},
      {"acceptedMediaTypes", K_MEDIA_TYPES, false}}},
    {"BatchDeleteImage", {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}, {"imageIds", K_IMAGE_IDS, true}}},
    {"PutImage",
     {{"registryId", K_REGISTRY, false},
      {"repositoryName", K_REPO, true},
      {"imageManifest", K_MANIFEST, true},
      {"imageManifestMediaType", K_MEDIA_TYPE, false},
      {"imageTag", K_IMAGE_TAG, false},
      {"imageDigest", K_DIGEST, false}}},
    {"BatchCheckLayerAvailability",
     {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}, {"layerDigests", K_LAYER_DIGESTS, true}}},
    /* the layer operations (server/ecr/layers.c) */
    {"GetDownloadUrlForLayer",
     {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}, {"layerDigest", K_DIGEST, true}}},
    {"InitiateLayerUpload", {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}}},
    {"UploadLayerPart",
     {{"registryId", K_REGISTRY, false},
      {"repositoryName", K_REPO, true},
      {"uploadId", K_UPLOAD_ID, true},
      {"partFirstByte", K_BYTE_OFFSET, true},
      {"partLastByte", K_BYTE_OFFSET, true},
      {"layerPartBlob", K_PART_BLOB, true}}},
    {"CompleteLayerUpload",
     {{"registryId", K_REGISTRY, false},
      {"repositoryName", K_REPO, true},
      {"uploadId", K_UPLOAD_ID, true},
      {"layerDigests", K_LAYER_DIGESTS, true}}},
    /* lifecycle policies (server/ecr/lifecycle.c parses the text itself) */
    {"PutLifecyclePolicy",
     {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}, {"lifecyclePolicyText", K_LIFECYCLE_TEXT, true}}},
    {"GetLifecyclePolicy", {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}}},
    {"DeleteLifecyclePolicy", {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}}},
    {"StartLifecyclePolicyPreview",
     {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}, {"lifecyclePolicyText", K_LIFECYCLE_TEXT, false}}},
    {"GetLifecyclePolicyPreview",
     {{"registryId", K_REGISTRY, false},
      {"repositoryName", K_REPO, true},
      {"imageIds", K_IMAGE_IDS, false},
      {"nextToken", K_TOKEN, false},
      {"maxResults", K_PREVIEW_MAX_RESULTS, false},
      {"filter", K_FILTER, false}}},
    {"RunLifecyclePolicy", {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}}},
    /* repository policies (server/ecr/policy.c; the policy engine checks the text itself) */
    {"SetRepositoryPolicy",
     {{"registryId", K_REGISTRY, false},
      {"repositoryName", K_REPO, true},
      {"policyText", K_POLICY_TEXT, true},
      {"force", K_BOOL, false}}},
    {"GetRepositoryPolicy", {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}}},
    {"DeleteRepositoryPolicy", {{"registryId", K_REGISTRY, false}, {"repositoryName", K_REPO, true}}},
};

bool ecr_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < ECR_NAME_MIN || n > ECR_NAME_MAX)
        return false;
    bool need_alnum = true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            need_alnum = false;
        } else if (c == '.' || c == '_' || c == '-' || c == '/') {
            if (need_alnum)
                return false;
            need_alnum = true;
        } else {
            return false;
        }
    }
    return !need_alnum;
}

static int bad(ecr_request_err_t *err, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(ecr_request_err_t *err, const char *field, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof(err->field), "%s", field);
    snprintf(err->msg, sizeof(err->msg), "Invalid parameter at '%s': %s", field, what);
    return -1;
}

/* A string without NUL of 1..max bytes. */
static bool str_ok(const json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) >= 1 && json_string_length(v) <= max &&
           strlen(json_string_value(v)) == json_string_length(v);
}

static bool members_only(const json_t *o, const char *a, const char *b)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        if (!(a && strcmp(key, a) == 0) && !(b && strcmp(key, b) == 0))
            return false;
    }
    return true;
}

static bool image_id_ok(const json_t *id)
{
    json_t *d = json_object_get(id, "imageDigest"), *t = json_object_get(id, "imageTag");
    return json_is_object(id) && members_only(id, "imageDigest", "imageTag") && (!d || str_ok(d, 256)) && (!t || str_ok(t, 300));
}

static int check_member(const member_t *m, const json_t *v, ecr_request_err_t *err)
{
    const char *f = m->name;
    size_t i;
    json_t *item;
    switch (m->kind) {
    case K_REPO:
        if (!str_ok(v, ECR_NAME_MAX) || !ecr_name_valid(json_string_value(v)))
            return bad(err, f,
                       "failed to satisfy constraint: 'must satisfy regular expression "
                       "'(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*' and be 2 to 255 characters long'");
        return 0;
    case K_REGISTRY:
        if (!str_ok(v, 12) || json_string_length(v) != 12 || strspn(json_string_value(v), "0123456789") != 12)
            return bad(err, f, "an account id of 12 digits");
        return 0;
    case K_BOOL:
        return json_is_boolean(v) ? 0 : bad(err, f, "must be a boolean");
    case K_MAX_RESULTS:
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > ECR_PAGE_MAX)
            return bad(err, f, "failed to satisfy constraint: 'Member must have value between 1 and %d'", ECR_PAGE_MAX);
        return 0;
    case K_PREVIEW_MAX_RESULTS:
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > ECR_PREVIEW_PAGE_MAX)
            return bad(err, f, "failed to satisfy constraint: 'Member must have value between 1 and %d'", ECR_PREVIEW_PAGE_MAX);
        return 0;
    case K_LIFECYCLE_TEXT:
        if (!str_ok(v, ECR_LIFECYCLE_TEXT_MAX) || json_string_length(v) < ECR_LIFECYCLE_TEXT_MIN)
            return bad(err, f, "failed to satisfy constraint: 'Member must be a string of %d to %d characters'",
                       ECR_LIFECYCLE_TEXT_MIN, ECR_LIFECYCLE_TEXT_MAX);
        return 0;
    case K_POLICY_TEXT:
        return str_ok(v, ECR_POLICY_TEXT_MAX)
                   ? 0
                   : bad(err, f, "failed to satisfy constraint: 'Member must be a string of 1 to %d characters'",
                         ECR_POLICY_TEXT_MAX);
    case K_TOKEN:
        return str_ok(v, ECR_TOKEN_MAX) ? 0 : bad(err, f, "not a token this registry gave");
    case K_TAGS:
        if (!json_is_array(v) || json_array_size(v) > ECR_TAGS_MAX)
            return bad(err, f, "a list of at most %d {\"Key\", \"Value\"} objects", ECR_TAGS_MAX);
        json_array_foreach(v, i, item)
        {
            json_t *k = json_object_get(item, "Key"), *val = json_object_get(item, "Value");
            if (!json_is_object(item) || !members_only(item, "Key", "Value") || !str_ok(k, ECR_TAG_KEY_MAX) ||
                (val && !json_is_string(val)) || (val && json_string_length(val) > ECR_TAG_VALUE_MAX))
                return bad(err, f,
                           "a list of at most %d {\"Key\", \"Value\"} objects, keys 1 to %d and values at most %d characters",
                           ECR_TAGS_MAX, ECR_TAG_KEY_MAX, ECR_TAG_VALUE_MAX);
        }
        return 0;
    case K_TAG_KEYS:
        if (!json_is_array(v) || json_array_size(v) > ECR_TAGS_MAX)
            return bad(err, f, "a list of at most %d keys of 1 to %d characters", ECR_TAGS_MAX, ECR_TAG_KEY_MAX);
        json_array_foreach(v, i, item) if (!str_ok(item, ECR_TAG_KEY_MAX)) return bad(
            err, f, "a list of at most %d keys of 1 to %d characters", ECR_TAGS_MAX, ECR_TAG_KEY_MAX);
        return 0;
    case K_IMAGE_IDS:
        if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > ECR_IDS_MAX)
            return bad(err, f, "a list of 1 to %d image ids", ECR_IDS_MAX);
        json_array_foreach(v, i, item) if (!image_id_ok(item)) return bad(
            err, f, "each an object with 'imageDigest' and/or 'imageTag', strings");
        return 0;
    case K_IMAGE_ID:
        return image_id_ok(v) ? 0 : bad(err, f, "an object with 'imageDigest' (algorithm:hex) or 'imageTag'");
    case K_FILTER: {
        json_t *ts = json_object_get(v, "tagStatus");
        const char *s = json_string_value(ts);
        if (!json_is_object(v) || !members_only(v, "tagStatus", NULL) ||
            (ts && (!s || (strcmp(s, "TAGGED") != 0 && strcmp(s, "UNTAGGED") != 0 && strcmp(s, "ANY") != 0))))
            return bad(err, f, "an object whose only member is 'tagStatus', one of TAGGED, UNTAGGED, ANY");
        return 0;
    }
    case K_MUTABILITY: {
        const char *s = json_string_value(v);
        if (!s || (strcmp(s, "MUTABLE") != 0 && strcmp(s, "IMMUTABLE") != 0))
            return bad(err, f, "failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE]'");
        return 0;
    }
    case K_SCANNING: {
        json_t *s = json_object_get(v, "scanOnPush");
        if (!json_is_object(v) || !members_only(v, "scanOnPush", NULL) || (s && !json_is_boolean(s)))
            return bad(err, f, "an object whose only member is 'scanOnPush', a boolean");
        return 0;
    }
    case K_ENCRYPTION: {
        json_t *t = json_object_get(v, "encryptionType"), *k = json_object_get(v, "kmsKey");
        const char *ts = json_string_value(t);
        if (!json_is_object(v) || !members_only(v, "encryptionType", "kmsKey") || !ts ||
            (strcmp(ts, "AES256") != 0 && strcmp(ts, "KMS") != 0) || (k && (!str_ok(k, ECR_KMS_KEY_MAX) || strcmp(ts, "KMS") != 0)))
            return bad(err, f, "'encryptionType' must be AES256 or KMS, and 'kmsKey' (1 to %d characters) goes only with KMS",
                       ECR_KMS_KEY_MAX);
        return 0;
    }
    case K_MANIFEST:
        return str_ok(v, ECR_MANIFEST_MAX) ? 0 : bad(err, f, "a manifest of 1 byte to 4 MiB, as a string");
    case K_MEDIA_TYPE:
        return str_ok(v, 255) ? 0 : bad(err, f, "a media type (a string)");
    case K_MEDIA_TYPES:
        if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > ECR_MEDIA_TYPES_MAX)
            return bad(err, f, "a list of 1 to %d media types", ECR_MEDIA_TYPES_MAX);
        json_array_foreach(v, i, item) if (!str_ok(item, 255)) return bad(err, f, "a list of 1 to %d media types",
                                                                          ECR_MEDIA_TYPES_MAX);
        return 0;
    case K_IMAGE_TAG:
        if (!str_ok(v, 300) || !oci_tag_valid(json_string_value(v), json_string_length(v)))
            return bad(err, f, "must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");
        return 0;
    case K_DIGEST: {
        oci_digest_t d;
        if (!str_ok(v, 256) || oci_digest_parse(json_string_value(v), json_string_length(v), &d, NULL) != OCI_OK)
            return bad(err, f, "not a digest (algorithm:hex)");
        return 0;
    }
    case K_ARN:
        return str_ok(v, ECR_ARN_MAX) ? 0 : bad(err, f, "a repository ARN");
    case K_LAYER_DIGESTS:
        if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > ECR_IDS_MAX)
            return bad(err, f, "a list of 1 to %d digests", ECR_IDS_MAX);
        json_array_foreach(v, i, item) if (!str_ok(item, 1000)) return bad(err, f, "a list of 1 to %d digests (strings)",
                                                                           ECR_IDS_MAX);
        return 0;
    case K_UPLOAD_ID:
        /* ECR's are UUIDs, Berth's 32 hex digits: an unknown one is UploadNotFoundException, not a shape error */
        return str_ok(v, 256) ? 0 : bad(err, f, "an upload id (a string) from InitiateLayerUpload");
    case K_BYTE_OFFSET:
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return bad(err, f, "a byte offset: an integer of at least 0");
        return 0;
    case K_PART_BLOB:
        if (!json_is_string(v) || json_string_length(v) > ECR_LAYER_PART_MAX_B64)
            return bad(err, f, "a part of at most %zu bytes (20 MiB), base64-encoded", ECR_LAYER_PART_MAX_BYTES);
        return 0;
    case K_REPO_NAMES:
        if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > ECR_NAMES_MAX)
            return bad(err, f, "a list of 1 to %d repository names", ECR_NAMES_MAX);
        json_array_foreach(v, i, item)
        {
            if (!str_ok(item, ECR_NAME_MAX) || !ecr_name_valid(json_string_value(item)))
                return bad(err, f,
                           "each must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*'");
        }
        return 0;
    }
    return bad(err, f, "unexpected");
}

int ecr_request_check(const char *op, const json_t *body, ecr_request_err_t *err)
{
    const shape_t *shape = NULL;
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]) && !shape; i++)
        if (strcmp(shapes[i].op, op) == 0)
            shape = &shapes[i];
    if (!shape)
        return 1;
    if (!json_is_object(body)) {
        err->field[0] = '\0';
        snprintf(err->msg, sizeof(err->msg), "the request body must be a JSON object");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        const member_t *m = NULL;
        for (size_t i = 0; i < MEMBERS_MAX && shape->m[i].name && !m; i++)
            if (strcmp(shape->m[i].name, key) == 0)
                m = &shape->m[i];
        if (!m) {
            /* an empty member name is named too: the field is never "" for an object */
            snprintf(err->field, sizeof(err->field), "%.60s", key[0] ? key : "(empty name)");
            snprintf(err->msg, sizeof(err->msg), "Unknown parameter '%.100s'", key[0] ? key : "(empty name)");
            return -1;
        }
        if (check_member(m, v, err) != 0)
            return -1;
    }
    for (size_t i = 0; i < MEMBERS_MAX && shape->m[i].name; i++) {
        if (shape->m[i].required && !json_object_get(body, shape->m[i].name)) {
            snprintf(err->field, sizeof(err->field), "%s", shape->m[i].name);
            snprintf(err->msg, sizeof(err->msg), "%s is required", shape->m[i].name);
            return -1;
        }
    }
    return 0;
}

/* One JSON string starting at b[i] == '"': the index of its closing quote
 * (len when cut short); *escaped when it holds a backslash. */
static size_t string_end(const char *b, size_t len, size_t i, bool *escaped)
{
    *escaped = false;
    for (i++; i < len; i++) {
        if (b[i] == '\\') {
            *escaped = true;
            i++;
        } else if (b[i] == '"') {
            return i;
        }
    }
    return len;
}

static size_t skip_ws(const char *b, size_t len, size_t i)
{
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    return i;
}

int ecr_part_blob_find(const char *b, size_t len, size_t *off, size_t *n)
{
    static const char key[] = "layerPartBlob";
    size_t depth = 0;
    int found = 0;
    bool seen = false;
    for (size_t i = 0; i < len; i++) {
        char c = b[i];
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return 0;
            depth--;
        } else if (c == '"') {
            bool escaped;
            size_t end = string_end(b, len, i, &escaped);
            if (end >= len)
                return 0;
            /* a member name of the top-level object is followed by ':' */
            size_t next = skip_ws(b, len, end + 1);
            bool is_key = depth == 1 && next < len && b[next] == ':';
            if (is_key && !escaped && end - i - 1 == sizeof(key) - 1 && memcmp(b + i + 1, key, sizeof(key) - 1) == 0) {
                size_t v = skip_ws(b, len, next + 1);
                if (v >= len || seen) /* given twice: jansson decides which counts */
                    return 0;
                seen = true;
                if (b[v] == '"') {
                    size_t vend = string_end(b, len, v, &escaped);
                    if (vend >= len || escaped)
                        return 0;
                    *off = v + 1;
                    *n = vend - v - 1;
                    found = 1;
                    end = vend;
                }
            }
            i = end;
        }
    }
    return depth == 0 ? found : 0;
}
