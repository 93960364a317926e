/*
 * ECR's repository operations: CreateRepository, DescribeRepositories,
 * DeleteRepository, PutImageTagMutability, PutImageScanningConfiguration,
 * DescribeImageScanFindings, TagResource, UntagResource,
 * ListTagsForResource, DescribeRegistry.
 *
 * A repository is storage's repos row (name, createdAt) plus its settings,
 * a record of space "ecr", key "repo/<name>": a JSON object
 *   {"imageTagMutability":"MUTABLE"|"IMMUTABLE","scanOnPush":bool,
 *    "encryptionType":"AES256"|"KMS","kmsKey":"...","tags":[{"Key","Value"}]}
 * A repository created by a push has no record: the defaults apply. Every
 * change of settings is read, changed and written inside the writer's
 * transaction, so two concurrent changes never lose one another.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/ecr/ecr_request.h"
#include "server/server_internal.h"

#define ECR_SPACE "ecr"
/* ECR: at most 50 tags per resource, keys of 128, values of 256 characters. */
#define ECR_TAGS_MAX 50
#define ECR_TAG_KEY_MAX 128
#define ECR_TAG_VALUE_MAX 256
/* DescribeRepositories: repositoryNames holds 1 to 100, maxResults 1 to 1000 (default 100). */
#define ECR_NAMES_MAX 100
#define ECR_PAGE_MAX 1000
#define ECR_PAGE_DEFAULT 100
#define ECR_KMS_KEY_MAX 2048

static void settings_key(const char *repo, char *out, size_t cap)
{
    snprintf(out, cap, "repo/%s", repo);
}

/* The repository's settings (a new reference), defaults when it has no record; NULL when the record is damaged or no memory. */
static json_t *settings_read(storage_records_t *rs, const char *repo)
{
    char key[OCI_NAME_MAX + 8];
    settings_key(repo, key, sizeof(key));
    const void *v;
    size_t len;
    if (storage_record_get(rs, ECR_SPACE, key, &v, &len, NULL) == STORAGE_OK) {
        json_t *o = json_loadb(v, len, 0, NULL);
        if (json_is_object(o))
            return o;
        json_decref(o);
        return NULL;
    }
    return json_pack("{s:s,s:b,s:s,s:[]}", "imageTagMutability", "MUTABLE", "scanOnPush", 0, "encryptionType", "AES256", "tags");
}

bool ecr_repo_tags_immutable(storage_reader_t *rd, const char *repo)
{
    json_t *s = settings_read(storage_reader_records(rd), repo);
    const char *m = json_string_value(json_object_get(s, "imageTagMutability"));
    bool immutable = m && strcmp(m, "IMMUTABLE") == 0;
    json_decref(s);
    return immutable;
}

static void send_invalid_name(aws_req_t *a, const char *field)
{
    aws_send_error(a, 400, "InvalidParameterException",
                   "Invalid parameter at '%s' failed to satisfy constraint: 'must satisfy regular expression "
                   "'(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*' and be 2 to 255 characters long'",
                   field);
}

void ecr_send_not_found(aws_req_t *a, const char *repo)
{
    aws_send_error(a, 400, "RepositoryNotFoundException",
                   "The repository with name '%s' does not exist in the registry with id '%s'", repo, a->srv->keys.account_id);
}

/* Refuses any member of the body not in `known` (NULL-terminated), naming it. */
bool ecr_only_fields(aws_req_t *a, const char *const *known)
{
    /* the operation's shape first (ecr_request.h), then the handler's own list */
    ecr_request_err_t rerr;
    if (ecr_request_check(a->op->name, a->body, &rerr) < 0) {
        aws_send_error(a, 400, "InvalidParameterException", "%s", rerr.msg);
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach(a->body, key, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = strcmp(known[i], key) == 0;
        if (!ok) {
            aws_send_error(a, 400, "InvalidParameterException", "Unknown parameter '%.100s'", key);
            return false;
        }
    }
    return true;
}

/* registryId, when given, must be ours. */
bool ecr_registry_ok(aws_req_t *a)
{
    json_t *v = json_object_get(a->body, "registryId");
    if (!v)
        return true;
    if (!json_is_string(v) || strcmp(json_string_value(v), a->srv->keys.account_id) != 0) {
        aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at 'registryId': this registry's id is '%s'",
                       a->srv->keys.account_id);
        return false;
    }
    return true;
}

/* repositoryName: present, a string, ECR's pattern; NULL after sending the error. */
static const char *repo_param(aws_req_t *a)
{
    const char *repo = aws_param_string(a, "repositoryName", true);
    if (repo && !ecr_name_valid(repo)) {
        send_invalid_name(a, "repositoryName");
        return NULL;
    }
    return repo;
}

static void repo_arn(aws_req_t *a, const char *repo, char *out, size_t cap)
{
    server_resource_arn(a->srv, repo, out, cap);
}

/* The Repository object ECR answers. */
static json_t *repo_json(aws_req_t *a, const char *repo, uint64_t created, const json_t *settings)
{
    char arn[OCI_NAME_MAX + 96], uri[OCI_NAME_MAX + 300];
    repo_arn(a, repo, arn, sizeof(arn));
    snprintf(uri, sizeof(uri), "%.*s/%s", (int)a->req->authority.len, a->req->authority.base, repo);
    const char *mut = json_string_value(json_object_get(settings, "imageTagMutability"));
    const char *enc = json_string_value(json_object_get(settings, "encryptionType"));
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:f,s:s,s:{s:b},s:{s:s}}", "repositoryArn", arn, "registryId", a->srv->keys.account_id,
                          "repositoryName", repo, "repositoryUri", uri, "createdAt", (double)created, "imageTagMutability",
                          mut ? mut : "MUTABLE", "imageScanningConfiguration", "scanOnPush",
                          json_is_true(json_object_get(settings, "scanOnPush")), "encryptionConfiguration", "encryptionType",
                          enc ? enc : "AES256");
    const char *kms = json_string_value(json_object_get(settings, "kmsKey"));
    if (o && kms)
        json_object_set_new(json_object_get(o, "encryptionConfiguration"), "kmsKey", json_string(kms));
    return o;
}

/* The Repository object of an existing repository as the snapshot has it; NULL when gone or no memory. */
static json_t *describe(aws_req_t *a, const char *repo)
{
    uint64_t created;
    if (storage_repo_created_at(a->rd, repo, &created, NULL) != STORAGE_OK)
        return NULL;
    json_t *s = settings_read(storage_reader_records(a->rd), repo);
    json_t *o = s ? repo_json(a, repo, created, s) : NULL;
    json_decref(s);
    return o;
}

/* ---- validation of settings ---------------------------------------------- */

static bool mutability_param(aws_req_t *a, const char **out, bool required)
{
    json_t *v = json_object_get(a->body, "imageTagMutability");
    if (!v && !required) {
        *out = NULL;
        return true;
    }
    const char *s = json_string_value(v);
    if (!s || (strcmp(s, "MUTABLE") != 0 && strcmp(s, "IMMUTABLE") != 0)) {
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value "
                       "set: [MUTABLE, IMMUTABLE]'");
        return false;
    }
    *out = s;
    return true;
}

/* imageScanningConfiguration: {"scanOnPush": bool}; *out -1 when absent and not required. */
static bool scanning_param(aws_req_t *a, int *out, bool required)
{
    json_t *v = json_object_get(a->body, "imageScanningConfiguration");
    *out = -1;
    if (!v && !required)
        return true;
    json_t *s = json_object_get(v, "scanOnPush");
    if (!json_is_object(v) || json_object_size(v) > 1 || (json_object_size(v) == 1 && !json_is_boolean(s))) {
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at 'imageScanningConfiguration': an object whose only member is 'scanOnPush', a boolean");
        return false;
    }
    *out = json_is_true(s);
    return true;
}

/* tags (or the named member): [{"Key","Value"}], at most ECR_TAGS_MAX; a new array in *out (NULL when absent). */
static bool tags_param(aws_req_t *a, const char *field, json_t **out)
{
    json_t *v = json_object_get(a->body, field);
    *out = NULL;
    if (!v)
        return true;
    size_t i;
    json_t *t;
    if (!json_is_array(v) || json_array_size(v) > ECR_TAGS_MAX)
        goto bad;
    json_array_foreach(v, i, t)
    {
        const char *k = json_string_value(json_object_get(t, "Key"));
        json_t *val = json_object_get(t, "Value");
        if (!json_is_object(t) || !k || !*k || strlen(k) > ECR_TAG_KEY_MAX || (val && !json_is_string(val)) ||
            (val && json_string_length(val) > ECR_TAG_VALUE_MAX) || json_object_size(t) != (val ? 2u : 1u))
            goto bad;
    }
    *out = json_deep_copy(v);
    if (!*out) {
        aws_send_error(a, 500, "ServerException", "out of memory");
        return false;
    }
    return true;
bad:
    aws_send_error(a, 400, "InvalidParameterException",
                   "Invalid parameter at '%s': a list of at most %d {\"Key\", \"Value\"} objects, keys 1 to %d and values at "
                   "most %d characters",
                   field, ECR_TAGS_MAX, ECR_TAG_KEY_MAX, ECR_TAG_VALUE_MAX);
    return false;
}

/* Sets tag key=value in the tags array (replacing the same key). */
static void tags_merge(json_t *tags, json_t *add)
{
    size_t i, j;
    json_t *t, *u;
    json_array_foreach(add, i, t)
    {
        const char *k = json_string_value(json_object_get(t, "Key"));
        bool replaced = false;
        json_array_foreach(tags, j, u)
        {
            if (strcmp(json_string_value(json_object_get(u, "Key")), k) == 0) {
                json_array_set(tags, j, t);
                replaced = true;
                break;
            }
        }
        if (!replaced)
            json_array_append(tags, t);
    }
}

/* ---- changes: run in the writer's transaction ----------------------------- */

typedef enum { CHANGE_CREATE, CHANGE_DELETE, CHANGE_MUTABILITY, CHANGE_SCANNING, CHANGE_TAG, CHANGE_UNTAG } change_kind_t;

typedef struct {
    aws_req_t a; /* the request as the handler had it, minus its snapshot and body */
    change_kind_t kind;
    char repo[OCI_NAME_MAX + 1];
    json_t *arg;     /* CREATE: the settings; TAG: tags to add; UNTAG: keys to drop */
    const char *str; /* MUTABILITY: the value (static) */
    int scan;        /* SCANNING */
    json_t *reply;   /* DELETE: the repository as described before */
    bool too_many;   /* TAG: the result would exceed ECR_TAGS_MAX */
    /* DELETE: the repository policy's deletion, run in the same transaction */
    auth_change_t *policy;
    storage_records_fn policy_fn;
    void *policy_ctx;
    json_t *result; /* the settings as written */
} change_t;

static void change_free(void *p)
{
    change_t *c = p;
    json_decref(c->arg);
    json_decref(c->reply);
    json_decref(c->result);
    auth_change_free(c->policy);
    free(c);
}

static storage_status_t write_settings(storage_records_t *rs, const char *repo, json_t *s, storage_err_t *err)
{
    char key[OCI_NAME_MAX + 8];
    settings_key(repo, key, sizeof(key));
    char *text = json_dumps(s, JSON_COMPACT);
    if (!text)
        return STORAGE_NOMEM;
    storage_status_t st = storage_record_put(rs, ECR_SPACE, key, text, strlen(text), false, err);
    free(text);
    return st;
}

static storage_status_t run_change(storage_records_t *rs, void *ctx, storage_err_t *err)
{
    change_t *c = ctx;
    char key[OCI_NAME_MAX + 8];
    settings_key(c->repo, key, sizeof(key));
    if (c->kind == CHANGE_DELETE) {
        storage_status_t s = storage_record_del(rs, ECR_SPACE, key, err);
        if (s != STORAGE_OK && s != STORAGE_NOT_FOUND)
            return s;
        err->msg[0] = '\0';
        if ((s = ecr_forget_pulls(rs, c->repo, err)) != STORAGE_OK ||
            (s = ecr_lifecycle_forget(c->a.srv, rs, c->repo, err)) != STORAGE_OK)
            return s;
        return c->policy_fn ? c->policy_fn(rs, c->policy_ctx, err) : STORAGE_OK;
    }
    json_t *s = c->kind == CHANGE_CREATE ? json_incref(c->arg) : settings_read(rs, c->repo);
    if (!s) {
        snprintf(err->msg, sizeof(err->msg), "the settings of repository %.200s are damaged", c->repo);
        return STORAGE_IO;
    }
    json_t *tags = json_object_get(s, "tags");
    if (!json_is_array(tags)) {
        tags = json_array();
        json_object_set_new(s, "tags", tags);
    }
    switch (c->kind) {
    case CHANGE_MUTABILITY:
        json_object_set_new(s, "imageTagMutability", json_string(c->str));
        break;
    case CHANGE_SCANNING:
        json_object_set_new(s, "scanOnPush", json_boolean(c->scan));
        break;
    case CHANGE_TAG:
        tags_merge(tags, c->arg);
        if (json_array_size(tags) > ECR_TAGS_MAX) {
            c->too_many = true;
            json_decref(s);
            return STORAGE_INVALID;
        }
        break;
    case CHANGE_UNTAG: {
        size_t i, j;
        json_t *k, *t;
        json_array_foreach(c->arg, i, k)
        {
            json_array_foreach(tags, j, t)
            {
                if (strcmp(json_string_value(json_object_get(t, "Key")), json_string_value(k)) == 0) {
                    json_array_remove(tags, j);
                    break;
                }
            }
        }
        break;
    }
    default:
        break;
    }
    storage_status_t st = write_settings(rs, c->repo, s, err);
    if (st == STORAGE_OK)
        c->result = json_incref(s);
    json_decref(s);
    return st;
}

static void change_done(server_op_t *sop, h2o_req_t *req)
{
    change_t *c = sop->user;
    aws_req_t *a = &c->a;
    a->req = req;
    storage_status_t s = sop->op.status;
    if (c->kind == CHANGE_DELETE && c->policy) {
        auth_err_t aerr = {{0}};
        auth_change_finish(c->policy, &sop->op, &aerr);
    }
    if (s == STORAGE_NOT_FOUND) { /* deleted meanwhile (settings changes run only while it exists) */
        if (c->kind != CHANGE_CREATE)
            ecr_send_not_found(a, c->repo);
        else
            aws_send_error(a, 500, "ServerException", "%s", sop->op.err.msg);
        return;
    }
    if (s == STORAGE_EXISTS && c->kind == CHANGE_CREATE) {
        aws_send_error(a, 400, "RepositoryAlreadyExistsException",
                       "The repository with name '%s' already exists in the registry with id '%s'", c->repo,
                       a->srv->keys.account_id);
        return;
    }
    if (s == STORAGE_INVALID && c->kind == CHANGE_DELETE) {
        aws_send_error(a, 400, "RepositoryNotEmptyException",
                       "The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains "
                       "images",
                       c->repo, a->srv->keys.account_id);
        return;
    }
    if (c->too_many) {
        aws_send_error(a, 400, "TooManyTagsException", "A repository holds at most %d tags", ECR_TAGS_MAX);
        return;
    }
    if (s != STORAGE_OK) {
        aws_send_error(a, s == STORAGE_FULL ? 503 : 500, "ServerException", "%s", sop->op.err.msg);
        return;
    }
    const char *acct = a->srv->keys.account_id;
    switch (c->kind) {
    case CHANGE_CREATE:
        aws_send_result(a, json_pack("{s:o}", "repository", repo_json(a, c->repo, (uint64_t)time(NULL), c->result)));
        break;
    case CHANGE_DELETE:
        aws_send_result(a, json_pack("{s:O}", "repository", c->reply));
        break;
    case CHANGE_MUTABILITY:
        aws_send_result(a, json_pack("{s:s,s:s,s:s}", "registryId", acct, "repositoryName", c->repo, "imageTagMutability", c->str));
        break;
    case CHANGE_SCANNING:
        aws_send_result(a, json_pack("{s:s,s:s,s:{s:b}}", "registryId", acct, "repositoryName", c->repo,
                                     "imageScanningConfiguration", "scanOnPush", c->scan));
        break;
    default:
        aws_send_result(a, json_object());
        break;
    }
}

/* Submits c (taking it) as an op of `kind`; sends the error itself when it cannot. */
static void submit(aws_req_t *a, change_t *c, storage_op_kind_t kind, unsigned flags)
{
    v2_req_t r = {.req = a->req, .srv = a->srv};
    server_op_t *sop = server_op_new(&r, kind, change_done);
    if (!sop) {
        change_free(c);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    c->a = *a;
    c->a.rd = NULL;
    c->a.body = NULL;
    sop->user = c;
    sop->free_user = change_free;
    snprintf(sop->op.repo, sizeof(sop->op.repo), "%s", c->repo);
    sop->op.flags = flags;
    sop->op.records_fn = run_change;
    sop->op.records_ctx = c;
    server_op_submit(sop);
}

static change_t *change_new(aws_req_t *a, change_kind_t kind, const char *repo)
{
    change_t *c = calloc(1, sizeof(*c));
    if (!c) {
        aws_send_error(a, 500, "ServerException", "out of memory");
        return NULL;
    }
    c->kind = kind;
    snprintf(c->repo, sizeof(c->repo), "%s", repo);
    return c;
}

/* ---- operations ------------------------------------------------------------ */

static void create_repository(aws_req_t *a)
{
    static const char *const known[] = {
        "registryId", "repositoryName", "tags", "imageTagMutability", "imageScanningConfiguration", "encryptionConfiguration",
        NULL};
    const char *repo, *mut;
    int scan;
    json_t *tags;
    if (!ecr_only_fields(a, known) || !ecr_registry_ok(a) || !(repo = repo_param(a)) || !mutability_param(a, &mut, false) ||
        !scanning_param(a, &scan, false))
        return;
    json_t *enc = json_object_get(a->body, "encryptionConfiguration");
    const char *etype = "AES256", *kms = NULL;
    if (enc) {
        etype = json_string_value(json_object_get(enc, "encryptionType"));
        json_t *k = json_object_get(enc, "kmsKey");
        kms = json_string_value(k);
        if (!json_is_object(enc) || !etype || (strcmp(etype, "AES256") != 0 && strcmp(etype, "KMS") != 0) || (k && !kms) ||
            (kms && (strlen(kms) == 0 || strlen(kms) > ECR_KMS_KEY_MAX)) || (kms && strcmp(etype, "KMS") != 0)) {
            aws_send_error(a, 400, "InvalidParameterException",
                           "Invalid parameter at 'encryptionConfiguration': 'encryptionType' must be AES256 or KMS, and "
                           "'kmsKey' (1 to %d characters) goes only with KMS",
                           ECR_KMS_KEY_MAX);
            return;
        }
    }
    if (!tags_param(a, "tags", &tags))
        return;
    if (!aws_allowed(a, "ecr:CreateRepository", repo)) {
        json_decref(tags);
        return;
    }
    if (tags && !aws_allowed(a, "ecr:TagResource", repo)) {
        json_decref(tags);
        return;
    }
    change_t *c = change_new(a, CHANGE_CREATE, repo);
    json_t *s = c ? json_pack("{s:s,s:b,s:s,s:o}", "imageTagMutability", mut ? mut : "MUTABLE", "scanOnPush", scan == 1,
                              "encryptionType", etype, "tags", tags ? tags : json_array())
                  : NULL;
    if (!c) {
        json_decref(tags);
        return;
    }
    if (!s) {
        change_free(c);
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    if (kms)
        json_object_set_new(s, "kmsKey", json_string(kms));
    c->arg = s;
    submit(a, c, STORAGE_OP_REPO_CREATE, 0);
}

/* Paging state of DescribeRepositories without names. */
typedef struct {
    aws_req_t *a;
    json_t *list;
    size_t max, count;
    char last[OCI_NAME_MAX + 1];
    bool more, failed;
} listing_t;

static bool list_one(void *ctx, const char *name, size_t len)
{
    listing_t *l = ctx;
    (void)len;
    if (l->count == l->max) {
        l->more = true;
        return false;
    }
    policy_result_t res;
    if (server_authorize((server_thread_t *)l->a->req->conn->ctx, l->a->rd, &l->a->caller, l->a->req, "ecr:DescribeRepositories",
                         name, &res) != POLICY_ALLOW)
        return true; /* listed only where the caller may describe it */
    json_t *o = describe(l->a, name);
    if (!o || json_array_append_new(l->list, o) != 0) {
        l->failed = true;
        return false;
    }
    snprintf(l->last, sizeof(l->last), "%s", name);
    l->count++;
    return true;
}

/* maxResults: absent (dflt), or an integer 1..max; -1 after sending the error. */
long ecr_max_results(aws_req_t *a, long max, long dflt)
{
    json_t *v = json_object_get(a->body, "maxResults");
    if (!v)
        return dflt;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max) {
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value between 1 and %ld'",
                       max);
        return -1;
    }
    return (long)json_integer_value(v);
}

static void describe_repositories(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryNames", "nextToken", "maxResults", NULL};
    if (!ecr_only_fields(a, known) || !ecr_registry_ok(a))
        return;
    json_t *names = json_object_get(a->body, "repositoryNames");
    json_t *token = json_object_get(a->body, "nextToken");
    long max = ecr_max_results(a, ECR_PAGE_MAX, ECR_PAGE_DEFAULT);
    if (max < 0)
        return;
    if (token && (!json_is_string(token) || !ecr_name_valid(json_string_value(token)))) {
        aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at 'nextToken': not a token this registry gave");
        return;
    }
    json_t *list = json_array();
    if (!list) {
        aws_send_error(a, 500, "ServerException", "out of memory");
        return;
    }
    if (names) {
        if (!json_is_array(names) || json_array_size(names) < 1 || json_array_size(names) > ECR_NAMES_MAX) {
            json_decref(list);
            aws_send_error(a, 400, "InvalidParameterException",
                           "Invalid parameter at 'repositoryNames': a list of 1 to %d repository names", ECR_NAMES_MAX);
            return;
        }
        if (token || json_object_get(a->body, "maxResults")) {
            json_decref(list);
            aws_send_error(a, 400, "InvalidParameterException",
                           "Invalid parameter at 'maxResults': nextToken and maxResults cannot be used with repositoryNames");
            return;
        }
        size_t i;
        json_t *n;
        json_array_foreach(names, i, n)
        {
            if (!json_is_string(n) || !ecr_name_valid(json_string_value(n))) {
                json_decref(list);
                send_invalid_name(a, "repositoryNames");
                return;
            }
        }
        json_array_foreach(names, i, n)
        {
            const char *repo = json_string_value(n);
            if (!aws_allowed(a, "ecr:DescribeRepositories", repo)) {
                json_decref(list);
                return;
            }
            json_t *o = describe(a, repo);
            if (!o) {
                json_decref(list);
                ecr_send_not_found(a, repo);
                return;
            }
            json_array_append_new(list, o);
        }
        aws_send_result(a, json_pack("{s:o}", "repositories", list));
        return;
    }
    listing_t l = {.a = a, .list = list, .max = (size_t)max};
    storage_err_t err;
    bool more_ignored;
    storage_status_t s =
        storage_catalog_list(a->rd, token ? json_string_value(token) : NULL, SIZE_MAX, list_one, &l, &more_ignored, &err);
    if (s != STORAGE_OK || l.failed) {
        json_decref(list);
        aws_send_error(a, 500, "ServerException", "%s", s != STORAGE_OK ? err.msg : "out of memory");
        return;
    }
    json_t *out = json_pack("{s:o}", "repositories", list);
    if (out && l.more)
        json_object_set_new(out, "nextToken", json_string(l.last));
    aws_send_result(a, out);
}

static void delete_repository(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "force", NULL};
    const char *repo;
    if (!ecr_only_fields(a, known) || !ecr_registry_ok(a) || !(repo = repo_param(a)))
        return;
    json_t *force = json_object_get(a->body, "force");
    if (force && !json_is_boolean(force)) {
        aws_send_error(a, 400, "InvalidParameterException", "Invalid parameter at 'force': must be a boolean");
        return;
    }
    if (!aws_allowed(a, "ecr:DeleteRepository", repo))
        return;
    json_t *reply = describe(a, repo);
    if (!reply) {
        ecr_send_not_found(a, repo);
        return;
    }
    change_t *c = change_new(a, CHANGE_DELETE, repo);
    if (!c) {
        json_decref(reply);
        return;
    }
    c->reply = reply;
    /* the repository policy goes in the same commit */
    const char *doc;
    size_t len;
    auth_err_t aerr;
    if (auth_repository_policy_get(storage_reader_records(a->rd), repo, &doc, &len, &aerr) == AUTH_IDENTITY_OK) {
        auth_identity_status_t as;
        c->policy = auth_change_repository_policy_set(repo, NULL, 0, &as, &aerr);
        if (!c->policy) {
            change_free(c);
            aws_send_error(a, 500, "ServerException", "%s", aerr.msg);
            return;
        }
        storage_op_t tmp;
        storage_op_init(&tmp, STORAGE_OP_RECORDS);
        auth_change_bind(c->policy, &tmp);
        c->policy_fn = tmp.records_fn;
        c->policy_ctx = tmp.records_ctx;
    }
    submit(a, c, STORAGE_OP_REPO_DELETE, json_is_true(force) ? STORAGE_OP_FORCE : 0);
}

/* The repository named by repositoryName, existing, allowed `action`; NULL after the error. */
const char *ecr_existing_repo(aws_req_t *a, const char *const *known, const char *action)
{
    const char *repo;
    if (!ecr_only_fields(a, known) || !ecr_registry_ok(a) || !(repo = repo_param(a)))
        return NULL;
    if (!aws_allowed(a, action, repo))
        return NULL;
    if (!storage_repo_exists(a->rd, repo)) {
        ecr_send_not_found(a, repo);
        return NULL;
    }
    return repo;
}

static void put_image_tag_mutability(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "imageTagMutability", NULL};
    const char *mut;
    const char *repo = ecr_existing_repo(a, known, "ecr:PutImageTagMutability");
    if (!repo || !mutability_param(a, &mut, true))
        return;
    change_t *c = change_new(a, CHANGE_MUTABILITY, repo);
    if (!c)
        return;
    c->str = strcmp(mut, "IMMUTABLE") == 0 ? "IMMUTABLE" : "MUTABLE";
    submit(a, c, STORAGE_OP_REPO_UPDATE, 0);
}

static void put_image_scanning_configuration(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "imageScanningConfiguration", NULL};
    int scan;
    const char *repo = ecr_existing_repo(a, known, "ecr:PutImageScanningConfiguration");
    if (!repo || !scanning_param(a, &scan, true))
        return;
    change_t *c = change_new(a, CHANGE_SCANNING, repo);
    if (!c)
        return;
    c->scan = scan == 1;
    submit(a, c, STORAGE_OP_REPO_UPDATE, 0);
}

/* imageId: {"imageDigest"} and/or {"imageTag"}; a reference to look up, false after sending the error. */
bool ecr_image_id(aws_req_t *a, json_t *id, const char *field, oci_reference_t *ref)
{
    const char *d = json_string_value(json_object_get(id, "imageDigest"));
    const char *t = json_string_value(json_object_get(id, "imageTag"));
    oci_err_t err;
    if (!json_is_object(id) || (!d && !t) || (json_object_get(id, "imageDigest") && !d) ||
        (json_object_get(id, "imageTag") && !t) || (d && oci_reference_parse(d, strlen(d), ref, &err) != OCI_OK) ||
        (d && !ref->is_digest) || (!d && oci_reference_parse(t, strlen(t), ref, &err) != OCI_OK) || (!d && ref->is_digest)) {
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at '%s': an object with 'imageDigest' (algorithm:hex) or 'imageTag'", field);
        return false;
    }
    return true;
}

static void describe_image_scan_findings(aws_req_t *a)
{
    static const char *const known[] = {"registryId", "repositoryName", "imageId", "nextToken", "maxResults", NULL};
    const char *repo = ecr_existing_repo(a, known, "ecr:DescribeImageScanFindings");
    oci_reference_t ref;
    if (!repo || ecr_max_results(a, ECR_PAGE_MAX, ECR_PAGE_DEFAULT) < 0 ||
        !ecr_image_id(a, json_object_get(a->body, "imageId"), "imageId", &ref))
        return;
    storage_manifest_t m;
    if (storage_manifest_get(a->rd, repo, &ref, &m, NULL) != STORAGE_OK) {
        aws_send_error(
            a, 400, "ImageNotFoundException",
            "The image with imageId {%s} does not exist within the repository with name '%s' in the registry with id '%s'",
            ref.is_digest ? ref.digest.str : ref.tag, repo, a->srv->keys.account_id);
        return;
    }
    aws_send_error(a, 400, "ScanNotFoundException",
                   "Image scan does not exist for the image with '{imageDigest:%s}' in the repository with name '%s' in the "
                   "registry with id '%s' (this registry has no scanner)",
                   m.digest.str, repo, a->srv->keys.account_id);
}

/* resourceArn: a repository ARN of this registry, existing, allowed `action`; the name in out. */
static bool resource_repo(aws_req_t *a, const char *action, char *out, size_t cap)
{
    const char *arn = aws_param_string(a, "resourceArn", true);
    if (!arn)
        return false;
    char prefix[160];
    int n = snprintf(prefix, sizeof(prefix), "arn:aws:ecr:%s:%s:repository/", a->srv->region, a->srv->keys.account_id);
    if (strncmp(arn, prefix, (size_t)n) != 0 || !ecr_name_valid(arn + n)) {
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at 'resourceArn': must be a repository ARN of this registry, %s<name>", prefix);
        return false;
    }
    snprintf(out, cap, "%s", arn + n);
    if (!aws_allowed(a, action, out))
        return false;
    if (!storage_repo_exists(a->rd, out)) {
        ecr_send_not_found(a, out);
        return false;
    }
    return true;
}

static void tag_resource(aws_req_t *a)
{
    static const char *const known[] = {"resourceArn", "tags", NULL};
    char repo[OCI_NAME_MAX + 1];
    json_t *tags;
    if (!ecr_only_fields(a, known) || !resource_repo(a, "ecr:TagResource", repo, sizeof(repo)) || !tags_param(a, "tags", &tags))
        return;
    if (!tags) {
        aws_send_error(a, 400, "InvalidParameterException", "tags is required");
        return;
    }
    change_t *c = change_new(a, CHANGE_TAG, repo);
    if (!c) {
        json_decref(tags);
        return;
    }
    c->arg = tags;
    submit(a, c, STORAGE_OP_REPO_UPDATE, 0);
}

static void untag_resource(aws_req_t *a)
{
    static const char *const known[] = {"resourceArn", "tagKeys", NULL};
    char repo[OCI_NAME_MAX + 1];
    if (!ecr_only_fields(a, known) || !resource_repo(a, "ecr:UntagResource", repo, sizeof(repo)))
        return;
    json_t *keys = json_object_get(a->body, "tagKeys");
    size_t i;
    json_t *k;
    bool ok = json_is_array(keys) && json_array_size(keys) <= ECR_TAGS_MAX;
    json_array_foreach(keys, i, k) ok =
        ok && json_is_string(k) && json_string_length(k) >= 1 && json_string_length(k) <= ECR_TAG_KEY_MAX;
    if (!ok) {
        aws_send_error(a, 400, "InvalidParameterException",
                       "Invalid parameter at 'tagKeys': a list of at most %d keys of 1 to %d characters", ECR_TAGS_MAX,
                       ECR_TAG_KEY_MAX);
        return;
    }
    change_t *c = change_new(a, CHANGE_UNTAG, repo);
    if (!c)
        return;
    c->arg = json_incref(keys);
    submit(a, c, STORAGE_OP_REPO_UPDATE, 0);
}

static void list_tags_for_resource(aws_req_t *a)
{
    static const char *const known[] = {"resourceArn", NULL};
    char repo[OCI_NAME_MAX + 1];
    if (!ecr_only_fields(a, known) || !resource_repo(a, "ecr:ListTagsForResource", repo, sizeof(repo)))
        return;
    json_t *s = settings_read(storage_reader_records(a->rd), repo);
    json_t *tags = json_object_get(s, "tags");
    aws_send_result(a, s ? json_pack("{s:O}", "tags", json_is_array(tags) ? tags : json_array()) : NULL);
    json_decref(s);
}

static void describe_registry(aws_req_t *a)
{
    static const char *const known[] = {NULL};
    if (!ecr_only_fields(a, known) || !aws_allowed(a, "ecr:DescribeRegistry", NULL))
        return;
    aws_send_result(a, json_pack("{s:s,s:{s:[]}}", "registryId", a->srv->keys.account_id, "replicationConfiguration", "rules"));
}

const aws_operation_t ecr_repo_operations[] = {
    {ECR_SERVICE, "CreateRepository", "ecr", create_repository},
    {ECR_SERVICE, "DescribeRepositories", "ecr", describe_repositories},
    {ECR_SERVICE, "DeleteRepository", "ecr", delete_repository},
    {ECR_SERVICE, "PutImageTagMutability", "ecr", put_image_tag_mutability},
    {ECR_SERVICE, "PutImageScanningConfiguration", "ecr", put_image_scanning_configuration},
    {ECR_SERVICE, "DescribeImageScanFindings", "ecr", describe_image_scan_findings},
    {ECR_SERVICE, "TagResource", "ecr", tag_resource},
    {ECR_SERVICE, "UntagResource", "ecr", untag_resource},
    {ECR_SERVICE, "ListTagsForResource", "ecr", list_tags_for_resource},
    {ECR_SERVICE, "DescribeRegistry", "ecr", describe_registry},
    {NULL, NULL, NULL, NULL},
};
