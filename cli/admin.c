/*
 * cli/admin.c — `berth iam ...` and `berth ecr ...`: administration of a
 * running berthd over its AWS-style APIs, signed with SigV4 like the AWS CLI.
 * One table row per subcommand: the operation it calls and the options that
 * become its parameters. IAM speaks the query protocol (a form body; berth
 * asks for IAM's JSON replies with `Accept: application/json`), ECR JSON 1.1.
 *
 * Exit status: 0 done; 1 the server refused (its error code and message are
 * printed); 2 bad usage, input or configuration; 3 the server could not be
 * reached or answered something that is not an AWS reply.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "auth/auth.h"
#include "cli/cli_internal.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3

/* Parameters are policy documents at most (IAM: 6 KiB, ECR: 10 KiB); replies are lists. */
#define ADMIN_PARAM_MAX (64 * 1024)
#define ADMIN_REPLY_MAX (8 * 1024 * 1024)
/* create-repository and describe-images take the most: name, mutability, scanning, encryption, tags */
#define ADMIN_MAX_PARAMS 6
/* what the ECR API takes in one list parameter (imageIds, repositoryNames, tags: 100 at most) */
#define ADMIN_LIST_MAX 100

typedef enum { ADMIN_QUERY, ADMIN_JSON } admin_protocol_t;

/* How an option's value becomes the parameter's JSON, as the AWS CLI writes them. */
typedef enum {
    V_STRING,         /* "--repository-name NAME" */
    V_INTEGER,        /* "--max-results 10": a JSON integer >= 0 */
    V_LIST,           /* "--repository-names a b c": a list of strings */
    V_SHORTHAND,      /* "--filter tagStatus=TAGGED": an object (true/false become booleans) */
    V_SHORTHAND_LIST, /* "--image-ids imageTag=v1 imageDigest=sha256:...": a list of objects */
} admin_value_t;

typedef struct {
    const char *flag;  /* "--user-name" */
    const char *param; /* "UserName" */
    bool required;
    bool is_switch; /* a boolean flag without a value: "--force" */
    admin_value_t type;
} admin_param_t;

typedef struct {
    const char *group; /* "iam", "ecr" */
    const char *verb;  /* "create-user" */
    const char *operation;
    admin_param_t params[ADMIN_MAX_PARAMS];
    const char *summary;
} admin_command_t;

#define REQUIRED(flag, param)                                                                                                      \
    {                                                                                                                              \
        flag, param, true, false, V_STRING                                                                                         \
    }
#define OPTIONAL(flag, param)                                                                                                      \
    {                                                                                                                              \
        flag, param, false, false, V_STRING                                                                                        \
    }
#define SWITCH(flag, param)                                                                                                        \
    {                                                                                                                              \
        flag, param, false, true, V_STRING                                                                                         \
    }
/* an optional or required parameter of another type */
#define TYPED(flag, param, required, type)                                                                                         \
    {                                                                                                                              \
        flag, param, required, false, type                                                                                         \
    }
/* Berth's own operations (server/berth/gc.c): the commands of group "gc" */
#define BERTH_ADMIN_SERVICE "BerthAdmin_20261207"
#define ECR_SERVICE "AmazonEC2ContainerRegistry_V20150921"

static const char *command_service(const admin_command_t *c)
{
    /* run-lifecycle-policy is an ecr command but Berth's own operation (server/ecr/lifecycle.c) */
    return strcmp(c->group, "gc") == 0 || strcmp(c->group, "metrics-token") == 0 || strcmp(c->operation, "RunLifecyclePolicy") == 0
               ? BERTH_ADMIN_SERVICE
               : ECR_SERVICE;
}

static const admin_command_t admin_commands[] = {
    {"iam", "create-user", "CreateUser", {REQUIRED("--user-name", "UserName")}, "create a user"},
    {"iam", "get-user", "GetUser", {OPTIONAL("--user-name", "UserName")}, "show a user (default: yourself)"},
    {"iam", "delete-user", "DeleteUser", {REQUIRED("--user-name", "UserName")}, "delete a user without keys or policies"},
    {"iam", "list-users", "ListUsers", {{0}}, "list the users"},
    {"iam",
     "create-role",
     "CreateRole",
     {REQUIRED("--role-name", "RoleName"), REQUIRED("--assume-role-policy-document", "AssumeRolePolicyDocument")},
     "create a role with a trust policy"},
    {"iam", "get-role", "GetRole", {REQUIRED("--role-name", "RoleName")}, "show a role"},
    {"iam", "delete-role", "DeleteRole", {REQUIRED("--role-name", "RoleName")}, "delete a role without policies"},
    {"iam", "list-roles", "ListRoles", {{0}}, "list the roles"},
    {"iam",
     "create-access-key",
     "CreateAccessKey",
     {OPTIONAL("--user-name", "UserName")},
     "create an access key; its secret is shown only now"},
    {"iam",
     "delete-access-key",
     "DeleteAccessKey",
     {REQUIRED("--access-key-id", "AccessKeyId"), OPTIONAL("--user-name", "UserName")},
     "delete an access key"},
    {"iam", "list-access-keys", "ListAccessKeys", {OPTIONAL("--user-name", "UserName")}, "list a user's access keys"},
    {"iam",
     "create-policy",
     "CreatePolicy",
     {REQUIRED("--policy-name", "PolicyName"), REQUIRED("--policy-document", "PolicyDocument")},
     "create a managed policy from an IAM JSON document"},
    {"iam", "get-policy", "GetPolicy", {REQUIRED("--policy-arn", "PolicyArn")}, "show a managed policy"},
    {"iam", "delete-policy", "DeletePolicy", {REQUIRED("--policy-arn", "PolicyArn")}, "delete a policy attached to nobody"},
    {"iam", "list-policies", "ListPolicies", {{0}}, "list the managed policies"},
    {"iam",
     "attach-user-policy",
     "AttachUserPolicy",
     {REQUIRED("--user-name", "UserName"), REQUIRED("--policy-arn", "PolicyArn")},
     "attach a policy to a user"},
    {"iam",
     "detach-user-policy",
     "DetachUserPolicy",
     {REQUIRED("--user-name", "UserName"), REQUIRED("--policy-arn", "PolicyArn")},
     "detach a policy from a user"},
    {"iam",
     "list-attached-user-policies",
     "ListAttachedUserPolicies",
     {REQUIRED("--user-name", "UserName")},
     "list a user's policies"},
    {"iam",
     "attach-role-policy",
     "AttachRolePolicy",
     {REQUIRED("--role-name", "RoleName"), REQUIRED("--policy-arn", "PolicyArn")},
     "attach a policy to a role"},
    {"iam",
     "detach-role-policy",
     "DetachRolePolicy",
     {REQUIRED("--role-name", "RoleName"), REQUIRED("--policy-arn", "PolicyArn")},
     "detach a policy from a role"},
    {"iam",
     "list-attached-role-policies",
     "ListAttachedRolePolicies",
     {REQUIRED("--role-name", "RoleName")},
     "list a role's policies"},
    {"ecr",
     "set-repository-policy",
     "SetRepositoryPolicy",
     {REQUIRED("--repository-name", "repositoryName"), REQUIRED("--policy-text", "policyText"), SWITCH("--force", "force")},
     "set a repository's policy"},
    {"ecr",
     "get-repository-policy",
     "GetRepositoryPolicy",
     {REQUIRED("--repository-name", "repositoryName")},
     "show a repository's policy"},
    {"ecr",
     "delete-repository-policy",
     "DeleteRepositoryPolicy",
     {REQUIRED("--repository-name", "repositoryName")},
     "delete a repository's policy"},
    {"ecr", "get-login-password", "GetAuthorizationToken", {{0}}, "print a registry password for `docker login -u AWS`"},
    {"ecr",
     "create-repository",
     "CreateRepository",
     {REQUIRED("--repository-name", "repositoryName"), OPTIONAL("--image-tag-mutability", "imageTagMutability"),
      TYPED("--image-scanning-configuration", "imageScanningConfiguration", false, V_SHORTHAND),
      TYPED("--encryption-configuration", "encryptionConfiguration", false, V_SHORTHAND),
      TYPED("--tags", "tags", false, V_SHORTHAND_LIST)},
     "create a repository (MUTABLE or IMMUTABLE tags; scanOnPush=true; encryptionType=KMS,kmsKey=K; Key=k,Value=v ...)"},
    {"ecr",
     "describe-repositories",
     "DescribeRepositories",
     {TYPED("--repository-names", "repositoryNames", false, V_LIST), TYPED("--max-results", "maxResults", false, V_INTEGER),
      OPTIONAL("--next-token", "nextToken")},
     "list the repositories (or those named), a page at a time"},
    {"ecr",
     "delete-repository",
     "DeleteRepository",
     {REQUIRED("--repository-name", "repositoryName"), SWITCH("--force", "force")},
     "delete a repository (--force: with its images)"},
    {"ecr",
     "put-image-tag-mutability",
     "PutImageTagMutability",
     {REQUIRED("--repository-name", "repositoryName"), REQUIRED("--image-tag-mutability", "imageTagMutability")},
     "make a repository's tags MUTABLE or IMMUTABLE"},
    {"ecr",
     "put-image-scanning-configuration",
     "PutImageScanningConfiguration",
     {REQUIRED("--repository-name", "repositoryName"),
      TYPED("--image-scanning-configuration", "imageScanningConfiguration", true, V_SHORTHAND)},
     "store a repository's scanOnPush=true|false"},
    {"ecr",
     "list-images",
     "ListImages",
     {REQUIRED("--repository-name", "repositoryName"), TYPED("--filter", "filter", false, V_SHORTHAND),
      TYPED("--max-results", "maxResults", false, V_INTEGER), OPTIONAL("--next-token", "nextToken")},
     "list a repository's images (digest and tag; --filter tagStatus=TAGGED|UNTAGGED|ANY)"},
    {"ecr",
     "describe-images",
     "DescribeImages",
     {REQUIRED("--repository-name", "repositoryName"), TYPED("--image-ids", "imageIds", false, V_SHORTHAND_LIST),
      TYPED("--filter", "filter", false, V_SHORTHAND), TYPED("--max-results", "maxResults", false, V_INTEGER),
      OPTIONAL("--next-token", "nextToken")},
     "describe a repository's images (tags, size, push and pull times; --image-ids imageTag=T imageDigest=D ...)"},
    {"ecr",
     "batch-get-image",
     "BatchGetImage",
     {REQUIRED("--repository-name", "repositoryName"), TYPED("--image-ids", "imageIds", true, V_SHORTHAND_LIST),
      TYPED("--accepted-media-types", "acceptedMediaTypes", false, V_LIST)},
     "get images' manifests"},
    {"ecr",
     "batch-delete-image",
     "BatchDeleteImage",
     {REQUIRED("--repository-name", "repositoryName"), TYPED("--image-ids", "imageIds", true, V_SHORTHAND_LIST)},
     "delete images by tag (the tag) or digest (the manifest and its tags)"},
    {"ecr",
     "put-image",
     "PutImage",
     {REQUIRED("--repository-name", "repositoryName"), REQUIRED("--image-manifest", "imageManifest"),
      OPTIONAL("--image-manifest-media-type", "imageManifestMediaType"), OPTIONAL("--image-tag", "imageTag"),
      OPTIONAL("--image-digest", "imageDigest")},
     "put a manifest (file://PATH) whose blobs the repository holds"},
    {"ecr",
     "describe-image-scan-findings",
     "DescribeImageScanFindings",
     {REQUIRED("--repository-name", "repositoryName"), TYPED("--image-id", "imageId", true, V_SHORTHAND)},
     "an image's scan findings (there is no scanner yet: ScanNotFoundException)"},
    {"ecr",
     "batch-check-layer-availability",
     "BatchCheckLayerAvailability",
     {REQUIRED("--repository-name", "repositoryName"), TYPED("--layer-digests", "layerDigests", true, V_LIST)},
     "whether a repository holds blobs"},
    {"ecr",
     "tag-resource",
     "TagResource",
     {REQUIRED("--resource-arn", "resourceArn"), TYPED("--tags", "tags", true, V_SHORTHAND_LIST)},
     "add tags (Key=k,Value=v ...) to a repository"},
    {"ecr",
     "untag-resource",
     "UntagResource",
     {REQUIRED("--resource-arn", "resourceArn"), TYPED("--tag-keys", "tagKeys", true, V_LIST)},
     "remove tags from a repository"},
    {"ecr",
     "list-tags-for-resource",
     "ListTagsForResource",
     {REQUIRED("--resource-arn", "resourceArn")},
     "list a repository's tags"},
    {"ecr", "describe-registry", "DescribeRegistry", {{0}}, "show the registry's id"},
    {"ecr",
     "put-lifecycle-policy",
     "PutLifecyclePolicy",
     {REQUIRED("--repository-name", "repositoryName"), REQUIRED("--lifecycle-policy-text", "lifecyclePolicyText")},
     "set a repository's lifecycle policy (ECR's JSON; file://PATH reads it from a file)"},
    {"ecr",
     "get-lifecycle-policy",
     "GetLifecyclePolicy",
     {REQUIRED("--repository-name", "repositoryName")},
     "show a repository's lifecycle policy"},
    {"ecr",
     "delete-lifecycle-policy",
     "DeleteLifecyclePolicy",
     {REQUIRED("--repository-name", "repositoryName")},
     "delete a repository's lifecycle policy"},
    {"ecr",
     "start-lifecycle-policy-preview",
     "StartLifecyclePolicyPreview",
     {REQUIRED("--repository-name", "repositoryName"), OPTIONAL("--lifecycle-policy-text", "lifecyclePolicyText")},
     "work out what a lifecycle policy (default: the repository's) would expire now, deleting nothing"},
    {"ecr",
     "get-lifecycle-policy-preview",
     "GetLifecyclePolicyPreview",
     {REQUIRED("--repository-name", "repositoryName"), OPTIONAL("--next-token", "nextToken")},
     "show the last preview: the images it would expire, and by which rule"},
    {"ecr",
     "run-lifecycle-policy",
     "RunLifecyclePolicy",
     {REQUIRED("--repository-name", "repositoryName")},
     "run the repository's lifecycle policy now and print what it expired (Berth's own; berth:RunLifecyclePolicy)"},
    {"metrics-token",
     "create",
     "CreateMetricsToken",
     {OPTIONAL("--description", "description")},
     "create a token that may read GET /metrics and nothing else; with --token-file FILE it is written there (mode "
     "0600, for Prometheus's authorization: credentials_file) and not printed"},
    {"metrics-token", "delete", "DeleteMetricsToken", {REQUIRED("--token-id", "tokenId")}, "revoke a metrics token"},
    {"metrics-token", "list", "ListMetricsTokens", {{0}}, "list the metrics tokens (ids, descriptions, creation times)"},
    /* gc stays last: berth_gc's usage is the last row */
    {"gc",
     "",
     "RunGarbageCollection",
     {SWITCH("--dry-run", "dryRun"), TYPED("--grace", "graceSeconds", false, V_INTEGER)},
     "collect blobs no manifest references and abandoned uploads, last touched more than --grace seconds ago "
     "(default 3600), and print the report; administrators only"},
};

#define N_COMMANDS (sizeof admin_commands / sizeof admin_commands[0])

/* Where and as whom: from the options, else the environment, as the AWS CLI does. */
typedef struct {
    const char *endpoint;
    const char *region;
    const char *profile;
    const char *ca_bundle;
    bool no_verify;
    const char *values[ADMIN_MAX_PARAMS]; /* malloc'd */
} admin_options_t;

static void usage_common(FILE *out);

static void usage_group(FILE *out, const char *group)
{
    fprintf(out, "usage: berth %s <subcommand> [options]\n\nsubcommands:\n", group);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(admin_commands[i].group, group) != 0)
            continue;
        fprintf(out, "  %-32s %s\n", admin_commands[i].verb, admin_commands[i].summary);
    }
    usage_common(out);
}

static void usage_common(FILE *out)
{
    fprintf(out, "\ncommon options:\n"
                 "  --endpoint-url URL   the berthd to talk to (else $BERTH_ENDPOINT_URL, $AWS_ENDPOINT_URL)\n"
                 "  --region REGION      the SigV4 region (else $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1)\n"
                 "  --profile NAME       the credentials file's profile (else $AWS_PROFILE, default)\n"
                 "  --ca-bundle FILE     CA certificates for an https endpoint (else $AWS_CA_BUNDLE, the system's)\n"
                 "  --no-verify-ssl      do not verify the server's certificate\n"
                 "credentials: $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY (and $AWS_SESSION_TOKEN for temporary\n"
                 "ones from aws sts assume-role), else the profile in $AWS_SHARED_CREDENTIALS_FILE (else\n"
                 "~/.aws/credentials), e.g. <data>/admin-credentials; its aws_session_token too.\n"
                 "A value written file://PATH is read from PATH.\n");
}

static void usage_command(FILE *out, const admin_command_t *c)
{
    fprintf(out, "usage: berth %s%s%s", c->group, c->verb[0] ? " " : "", c->verb);
    for (size_t i = 0; i < ADMIN_MAX_PARAMS && c->params[i].flag; i++) {
        const admin_param_t *p = &c->params[i];
        bool many = p->type == V_LIST || p->type == V_SHORTHAND_LIST;
        fprintf(out, " %s%s%s%s", p->required ? "" : "[", p->flag,
                p->is_switch ? ""
                : many       ? " VALUE..."
                             : " VALUE",
                p->required ? "" : "]");
    }
    fprintf(out, " [common options]\n%s. 'berth %s help' lists the common options.\n", c->summary, c->group);
}

/* Reads a whole file of at most `max` bytes; NULL (with e filled) otherwise. */
static char *read_small_file(const char *path, size_t max, size_t *len_out, cli_err_t *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_fail(e, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    bool failed = !buf || ferror(f);
    fclose(f);
    if (failed || n > max) {
        if (buf) {
            OPENSSL_cleanse(buf, n);
            free(buf);
        }
        cli_fail(e, failed ? "cannot read %s" : "%s is larger than %zu bytes", path, max);
        return NULL;
    }
    buf[n] = '\0';
    *len_out = n;
    return buf;
}

/* A parameter's value: as given, or the contents of PATH for file://PATH. */
static char *param_value(const char *arg, cli_err_t *e)
{
    if (strncmp(arg, "file://", 7) != 0) {
        char *v = strdup(arg);
        if (!v)
            cli_fail(e, "out of memory");
        return v;
    }
    size_t len;
    char *v = read_small_file(arg + 7, ADMIN_PARAM_MAX, &len, e);
    if (v && strlen(v) != len) {
        free(v);
        cli_fail(e, "%s contains a NUL byte", arg + 7);
        return NULL;
    }
    return v;
}

static const admin_param_t *find_param(const admin_command_t *c, const char *flag)
{
    for (size_t k = 0; k < ADMIN_MAX_PARAMS && c->params[k].flag; k++)
        if (strcmp(c->params[k].flag, flag) == 0)
            return &c->params[k];
    return NULL;
}

/* Options are "--name VALUE" or, as the AWS CLI also takes them, "--name=VALUE". */
static int parse_options(const admin_command_t *c, int argc, char **argv, admin_options_t *o, cli_err_t *e)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *inline_value = NULL;
        char name[64];
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        if (eq && (size_t)(eq - a) < sizeof(name)) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = '\0';
            inline_value = eq + 1;
            a = name;
        }
        const char **global = strcmp(a, "--endpoint-url") == 0 ? &o->endpoint
                              : strcmp(a, "--region") == 0     ? &o->region
                              : strcmp(a, "--profile") == 0    ? &o->profile
                              : strcmp(a, "--ca-bundle") == 0  ? &o->ca_bundle
                                                               : NULL;
        bool no_verify = strcmp(a, "--no-verify-ssl") == 0;
        const admin_param_t *p = global || no_verify ? NULL : find_param(c, a);
        if (!global && !no_verify && !p)
            return cli_fail(e, "unknown option '%s'", a);
        size_t k = p ? (size_t)(p - c->params) : 0;
        bool is_switch = no_verify || (p && p->is_switch);
        const char *value = NULL;
        if (is_switch && inline_value)
            return cli_fail(e, "%s takes no value", a);
        if (!is_switch) {
            if (!inline_value && i + 1 >= argc)
                return cli_fail(e, "%s needs a value", a);
            value = inline_value ? inline_value : argv[++i];
        }
        if (global) {
            *global = value;
        } else if (no_verify) {
            o->no_verify = true;
        } else if (o->values[k]) {
            return cli_fail(e, "%s given twice", a);
        } else if (!is_switch && (p->type == V_LIST || p->type == V_SHORTHAND_LIST)) {
            /* as the AWS CLI: the values up to the next option, kept one a line */
            size_t len = strlen(value) + 1;
            int end = i;
            if (!inline_value)
                while (end + 1 < argc && strncmp(argv[end + 1], "--", 2) != 0 && end + 1 - i < ADMIN_LIST_MAX)
                    len += strlen(argv[++end]) + 1;
            char *joined = malloc(len);
            if (!joined)
                return cli_fail(e, "out of memory");
            size_t n = (size_t)snprintf(joined, len, "%s", value);
            for (int j = i + 1; j <= end; j++)
                n += (size_t)snprintf(joined + n, len - n, "\n%s", argv[j]);
            i = end;
            o->values[k] = joined;
        } else {
            o->values[k] = is_switch ? strdup("true") : param_value(value, e);
            if (!o->values[k])
                return e->msg[0] ? -1 : cli_fail(e, "out of memory");
        }
    }
    for (size_t k = 0; k < ADMIN_MAX_PARAMS && c->params[k].flag; k++)
        if (c->params[k].required && !o->values[k])
            return cli_fail(e, "%s is required", c->params[k].flag);
    return 0;
}

static const char *first_env(const char *a, const char *b)
{
    const char *v = getenv(a);
    if ((!v || !*v) && b)
        v = getenv(b);
    return v && *v ? v : NULL;
}

static int load_credentials(const admin_options_t *o, auth_file_credentials_t *cred, cli_err_t *e)
{
    memset(cred, 0, sizeof(*cred));
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (id && *id && secret && *secret && !o->profile) {
        if (strlen(id) >= sizeof(cred->access_key_id) || strlen(secret) >= sizeof(cred->secret))
            return cli_fail(e, "AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is too long");
        strcpy(cred->access_key_id, id);
        strcpy(cred->secret, secret);
        /* temporary credentials (aws sts assume-role) come with their session token */
        const char *token = getenv("AWS_SESSION_TOKEN");
        if (token && *token) {
            if (strlen(token) >= sizeof(cred->session_token))
                return cli_fail(e, "AWS_SESSION_TOKEN is too long");
            strcpy(cred->session_token, token);
        }
        return 0;
    }
    char path[4096];
    const char *file = first_env("AWS_SHARED_CREDENTIALS_FILE", NULL), *home = getenv("HOME");
    if (file)
        snprintf(path, sizeof(path), "%s", file);
    else if (home)
        snprintf(path, sizeof(path), "%s/.aws/credentials", home);
    else
        return cli_fail(e, "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_SHARED_CREDENTIALS_FILE");
    size_t len;
    char *text = read_small_file(path, 1024 * 1024, &len, e);
    if (!text) {
        char why[sizeof(e->msg)];
        snprintf(why, sizeof(why), "%s", e->msg); /* cli_fail writes e->msg: not from itself */
        return cli_fail(e, "no credentials: %s (set AWS_SHARED_CREDENTIALS_FILE, e.g. to <data>/admin-credentials)", why);
    }
    const char *profile = o->profile ? o->profile : first_env("AWS_PROFILE", NULL);
    auth_err_t aerr;
    auth_status_t s = auth_credentials_file_find(text, len, profile ? profile : "default", cred, &aerr);
    OPENSSL_cleanse(text, len);
    free(text);
    if (s != AUTH_OK)
        return cli_fail(e, "%s: %s", path, aerr.msg);
    return 0;
}

/* "k=v,k2=v2" as the AWS CLI's shorthand: an object of strings, true and
 * false as booleans. NULL (e filled) for an item without '=' or a repeated key. */
static json_t *shorthand(const admin_param_t *p, const char *text, cli_err_t *e)
{
    json_t *obj = json_object();
    char *copy = strdup(text), *save = NULL;
    bool ok = obj && copy;
    for (char *item = ok ? strtok_r(copy, ",", &save) : NULL; item && ok; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item) {
            cli_fail(e, "%s takes key=value[,key=value...], not '%s'", p->flag, item);
            ok = false;
            break;
        }
        *eq = '\0';
        json_t *v = strcmp(eq + 1, "true") == 0 ? json_true() : strcmp(eq + 1, "false") == 0 ? json_false() : json_string(eq + 1);
        if (v && json_object_get(obj, item)) {
            json_decref(v);
            cli_fail(e, "%s gives '%s' twice", p->flag, item);
            ok = false;
        } else if (!v || json_object_set_new(obj, item, v) != 0) {
            cli_fail(e, "%s: '%s' is not valid UTF-8", p->flag, item);
            ok = false;
        }
    }
    if (ok && json_object_size(obj) == 0) {
        cli_fail(e, "%s takes key=value[,key=value...]", p->flag);
        ok = false;
    }
    free(copy);
    if (!ok) {
        json_decref(obj);
        if (!e->msg[0])
            cli_fail(e, "out of memory");
        return NULL;
    }
    return obj;
}

/* An option's value as its parameter's JSON; NULL with e filled. */
static json_t *param_json(const admin_param_t *p, const char *value, cli_err_t *e)
{
    if (p->is_switch)
        return json_true();
    switch (p->type) {
    case V_INTEGER: {
        char *end;
        errno = 0;
        long long n = strtoll(value, &end, 10);
        if (errno || end == value || *end || n < 0) {
            cli_fail(e, "%s takes a whole number%s, not '%s'", p->flag, strstr(p->param, "Seconds") ? " of seconds" : "", value);
            return NULL;
        }
        return json_integer(n);
    }
    case V_SHORTHAND:
        return shorthand(p, value, e);
    case V_LIST:
    case V_SHORTHAND_LIST: {
        json_t *list = json_array();
        const char *s = value;
        while (list) {
            const char *nl = strchr(s, '\n');
            size_t len = nl ? (size_t)(nl - s) : strlen(s);
            char item[ADMIN_PARAM_MAX];
            if (len >= sizeof(item)) {
                json_decref(list);
                cli_fail(e, "%s: a value is too long", p->flag);
                return NULL;
            }
            memcpy(item, s, len);
            item[len] = '\0';
            json_t *v = p->type == V_LIST ? json_string(item) : shorthand(p, item, e);
            if (!v || json_array_append_new(list, v) != 0) {
                json_decref(list);
                if (!e->msg[0])
                    cli_fail(e, "%s: '%s' is not valid UTF-8", p->flag, item);
                return NULL;
            }
            if (!nl)
                break;
            s = nl + 1;
        }
        if (!list)
            cli_fail(e, "out of memory");
        return list;
    }
    case V_STRING:
        break;
    }
    json_t *v = json_string(value);
    if (!v)
        cli_fail(e, "%s is not valid UTF-8", p->flag);
    return v;
}

/* The request body: the query protocol's form, or the JSON 1.1 object. */
static char *request_body(CURL *curl, const admin_command_t *c, const admin_options_t *o, admin_protocol_t proto, cli_err_t *e)
{
    if (proto == ADMIN_JSON) {
        json_t *obj = json_object();
        for (size_t k = 0; obj && k < ADMIN_MAX_PARAMS && c->params[k].flag; k++) {
            if (!o->values[k])
                continue;
            json_t *v = param_json(&c->params[k], o->values[k], e);
            if (!v) {
                json_decref(obj);
                return NULL;
            }
            json_object_set_new(obj, c->params[k].param, v);
        }
        char *body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        json_decref(obj);
        if (!body)
            cli_fail(e, "out of memory");
        return body;
    }
    size_t cap = 128;
    for (size_t k = 0; k < ADMIN_MAX_PARAMS && c->params[k].flag; k++)
        cap += strlen(c->params[k].param) + 2 + (o->values[k] ? 3 * strlen(o->values[k]) : 0);
    char *body = malloc(cap);
    if (!body) {
        cli_fail(e, "out of memory");
        return NULL;
    }
    size_t n = (size_t)snprintf(body, cap, "Action=%s&Version=2010-05-08", c->operation);
    for (size_t k = 0; k < ADMIN_MAX_PARAMS && c->params[k].flag; k++) {
        if (!o->values[k])
            continue;
        char *enc = curl_easy_escape(curl, o->values[k], 0);
        if (!enc) {
            free(body);
            cli_fail(e, "out of memory");
            return NULL;
        }
        n += (size_t)snprintf(body + n, cap - n, "&%s=%s", c->params[k].param, enc);
        curl_free(enc);
    }
    return body;
}

/* "host[:port]" of the endpoint, as curl will send it in Host. */
static int endpoint_authority(const char *url, char *out, size_t cap, cli_err_t *e)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        cli_fail(e, "endpoint '%s' is not a URL like http://127.0.0.1:5000", url);
    } else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        cli_fail(e, "endpoint '%s' is neither http:// nor https://", url);
    } else if ((curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/") != 0) ||
               curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
        cli_fail(e, "endpoint '%s' has a path or query: give only scheme://host:port", url);
    } else {
        bool has_port = curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK;
        int n = snprintf(out, cap, "%s%s%s", host, has_port ? ":" : "", has_port ? port : "");
        rc = n > 0 && (size_t)n < cap ? 0 : cli_fail(e, "endpoint '%s' is too long", url);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    return rc;
}

typedef struct {
    char *p;
    size_t len;
    bool too_big;
} reply_t;

static size_t on_reply(char *data, size_t size, size_t n, void *user)
{
    reply_t *r = user;
    size_t add = size * n;
    if (r->len + add > ADMIN_REPLY_MAX) {
        r->too_big = true;
        return 0;
    }
    char *p = realloc(r->p, r->len + add + 1);
    if (!p)
        return 0;
    memcpy(p + r->len, data, add);
    r->p = p;
    r->len += add;
    r->p[r->len] = '\0';
    return add;
}

static void print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
    if (s)
        printf("%s\n", s);
    free(s);
}

/* get-login-password: the password of the first authorization token. */
static int print_login_password(const json_t *result, cli_err_t *e)
{
    json_t *data = json_array_get(json_object_get(result, "authorizationData"), 0);
    const char *token = json_string_value(json_object_get(data, "authorizationToken"));
    unsigned char decoded[AUTH_PASSWORD_MAX + 16];
    size_t len = token ? strlen(token) : 0;
    if (!token || len > 4 * ((sizeof(decoded) - 16) / 3)) {
        cli_fail(e, "the reply carries no authorization token");
        return EXIT_UNREACHABLE;
    }
    int n = EVP_DecodeBlock(decoded, (const unsigned char *)token, (int)len);
    /* EVP_DecodeBlock counts base64 padding as zero bytes */
    while (n > 0 && len > 0 && token[len - 1] == '=') {
        n--;
        len--;
    }
    if (n < 4 || memcmp(decoded, "AWS:", 4) != 0) {
        cli_fail(e, "the authorization token is not base64 of AWS:<password>");
        return EXIT_UNREACHABLE;
    }
    printf("%.*s\n", n - 4, (const char *)decoded + 4);
    OPENSSL_cleanse(decoded, sizeof(decoded));
    return 0;
}

/* Prints the reply (or its error) and returns the exit status. */
/* metrics-token create --token-file FILE: where the new token goes instead of stdout */
static const char *token_file;

/* Writes the token to token_file (created 0600, replaced if it exists) and prints its id. */
static int write_token_file(json_t *result, cli_err_t *e)
{
    const char *tok = json_string_value(json_object_get(result, "token"));
    const char *id = json_string_value(json_object_get(result, "tokenId"));
    if (!tok || !id)
        return cli_fail(e, "the reply to CreateMetricsToken has no token"), EXIT_UNREACHABLE;
    (void)unlink(token_file); /* a new file, so that its mode is ours whatever the old one's was */
    int fd = open(token_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    size_t len = strlen(tok);
    bool ok = fd >= 0 && write(fd, tok, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (!ok)
        return cli_fail(e, "cannot write %s: %s (token %s was created: delete it)", token_file, strerror(errno), id), EXIT_USAGE;
    json_t *out = json_pack("{s:s,s:s}", "tokenId", id, "tokenFile", token_file);
    if (out)
        print_json(out);
    json_decref(out);
    return 0;
}

static int handle_reply(const admin_command_t *c, admin_protocol_t proto, long status, const reply_t *r, cli_err_t *e)
{
    json_error_t jerr;
    json_t *doc = r->p ? json_loadb(r->p, r->len, 0, &jerr) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        cli_fail(e, "HTTP %ld from the endpoint, and not an AWS reply: is this a berthd?", status);
        return EXIT_UNREACHABLE;
    }
    int rc = 0;
    if (status != 200) {
        json_t *err = proto == ADMIN_QUERY ? json_object_get(doc, "Error") : doc;
        const char *code = json_string_value(json_object_get(err, proto == ADMIN_QUERY ? "Code" : "__type"));
        const char *msg = json_string_value(json_object_get(err, proto == ADMIN_QUERY ? "Message" : "message"));
        cli_fail(e, "An error occurred (%s) when calling the %s operation: %s", code ? code : "unknown", c->operation,
                 msg ? msg : "(no message)");
        rc = EXIT_REFUSED;
    } else {
        json_t *result = doc;
        if (proto == ADMIN_QUERY) {
            char key[96];
            snprintf(key, sizeof(key), "%sResponse", c->operation);
            json_t *response = json_object_get(doc, key);
            snprintf(key, sizeof(key), "%sResult", c->operation);
            result = json_object_get(response, key);
        }
        if (!json_is_object(result)) {
            cli_fail(e, "the reply to %s has no result", c->operation);
            rc = EXIT_UNREACHABLE;
        } else if (strcmp(c->operation, "GetAuthorizationToken") == 0) {
            rc = print_login_password(result, e);
        } else if (strcmp(c->operation, "CreateMetricsToken") == 0 && token_file) {
            rc = write_token_file(result, e);
        } else if (json_object_size(result) > 0) {
            print_json(result);
        }
    }
    /* a reply may carry a new secret access key */
    OPENSSL_cleanse(r->p, r->len);
    json_decref(doc);
    return rc;
}

static int call(const admin_command_t *c, const admin_options_t *o, cli_err_t *e)
{
    admin_protocol_t proto = strcmp(c->group, "iam") == 0 ? ADMIN_QUERY : ADMIN_JSON;
    const char *endpoint = o->endpoint ? o->endpoint : first_env("BERTH_ENDPOINT_URL", "AWS_ENDPOINT_URL");
    if (!endpoint)
        return cli_fail(e, "no endpoint: pass --endpoint-url http://HOST:PORT (or set BERTH_ENDPOINT_URL)"), EXIT_USAGE;
    const char *region = o->region ? o->region : first_env("AWS_REGION", "AWS_DEFAULT_REGION");
    char authority[512];
    if (endpoint_authority(endpoint, authority, sizeof(authority), e) != 0)
        return EXIT_USAGE;
    auth_file_credentials_t cred;
    if (load_credentials(o, &cred, e) != 0)
        return EXIT_USAGE;

    CURL *curl = curl_easy_init();
    char *body = curl ? request_body(curl, c, o, proto, e) : NULL;
    if (!body) {
        if (!curl)
            cli_fail(e, "cannot initialise libcurl");
        curl_easy_cleanup(curl);
        OPENSSL_cleanse(&cred, sizeof(cred));
        return EXIT_USAGE;
    }
    char target[128];
    const char *content_type =
        proto == ADMIN_QUERY ? "application/x-www-form-urlencoded; charset=utf-8" : "application/x-amz-json-1.1";
    snprintf(target, sizeof(target), "%s.%s", command_service(c), c->operation);
    /* X-Amz-Security-Token is signed, as botocore signs it */
    bool has_token = cred.session_token[0] != '\0';
    auth_header_t signed_headers[4] = {
        {"host", 4, authority, strlen(authority)},
        {"content-type", 12, content_type, strlen(content_type)},
        {"x-amz-security-token", 20, cred.session_token, strlen(cred.session_token)},
        {"x-amz-target", 12, target, strlen(target)},
    };
    if (!has_token)
        signed_headers[2] = signed_headers[3];
    auth_http_request_t hr = {.method = "POST",
                              .path = "/",
                              .path_len = 1,
                              .headers = signed_headers,
                              .n_headers = 2 + (has_token ? 1 : 0) + (proto == ADMIN_JSON ? 1 : 0),
                              .body = body,
                              .body_len = strlen(body)};
    char amz_date[17], authorization[1024];
    auth_err_t aerr;
    auth_status_t s = auth_sigv4_sign(&hr, cred.access_key_id, cred.secret, strlen(cred.secret), region ? region : "us-east-1",
                                      proto == ADMIN_QUERY ? "iam" : "ecr", (int64_t)time(NULL), amz_date, authorization,
                                      sizeof(authorization), &aerr);
    OPENSSL_cleanse(cred.secret, sizeof(cred.secret));
    if (s != AUTH_OK) {
        OPENSSL_cleanse(&cred, sizeof(cred));
        free(body);
        curl_easy_cleanup(curl);
        return cli_fail(e, "cannot sign the request: %s", aerr.msg), EXIT_USAGE;
    }

    char line[1200];
    struct curl_slist *headers = NULL, *h;
    const char *lines[] = {"Host: %s",         "Content-Type: %s",         "X-Amz-Date: %s", "Authorization: %s",
                           "X-Amz-Target: %s", "Accept: application/json", "Expect:"};
    const char *values[] = {authority, content_type, amz_date, authorization, target, "", ""};
    bool ok = true;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]) && ok; i++) {
        if (i == 4 && proto != ADMIN_JSON)
            continue;
        snprintf(line, sizeof(line), lines[i], values[i]);
        ok = (h = curl_slist_append(headers, line)) != NULL;
        if (ok)
            headers = h;
    }
    if (ok && has_token) {
        /* the token is longer than the other lines: a buffer of its own */
        char token_line[sizeof(cred.session_token) + 32];
        snprintf(token_line, sizeof(token_line), "X-Amz-Security-Token: %s", cred.session_token);
        ok = (h = curl_slist_append(headers, token_line)) != NULL;
        if (ok)
            headers = h;
        OPENSSL_cleanse(token_line, sizeof(token_line));
    }
    OPENSSL_cleanse(&cred, sizeof(cred));
    char url[600];
    snprintf(url, sizeof(url), "%s%s/", strncmp(endpoint, "https", 5) == 0 ? "https://" : "http://", authority);
    reply_t r = {0};
    char curl_error[CURL_ERROR_SIZE] = "";
    ok = ok && curl_easy_setopt(curl, CURLOPT_URL, url) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_reply) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L) == CURLE_OK &&
         /* a collection over a big store may take a while */
         curl_easy_setopt(curl, CURLOPT_TIMEOUT, strcmp(c->group, "gc") == 0 ? 3600L : 120L) == CURLE_OK &&
         curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    const char *ca = o->ca_bundle ? o->ca_bundle : first_env("AWS_CA_BUNDLE", NULL);
    if (ok && ca)
        ok = curl_easy_setopt(curl, CURLOPT_CAINFO, ca) == CURLE_OK;
    if (ok && o->no_verify)
        ok = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L) == CURLE_OK &&
             curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L) == CURLE_OK;
    int rc;
    CURLcode cc = ok ? curl_easy_perform(curl) : CURLE_FAILED_INIT;
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        rc = EXIT_UNREACHABLE;
        cli_fail(e, "%s: %s", url, r.too_big ? "the reply is too large" : curl_error[0] ? curl_error : curl_easy_strerror(cc));
    } else {
        rc = handle_reply(c, proto, status, &r, e);
    }
    OPENSSL_cleanse(authorization, sizeof(authorization));
    free(r.p);
    curl_slist_free_all(headers);
    free(body);
    curl_easy_cleanup(curl);
    return rc;
}

static int run_command(const char *group, const admin_command_t *c, int argc, char **argv);

bool berth_admin_group(const char *group)
{
    return strcmp(group, "iam") == 0 || strcmp(group, "ecr") == 0 || strcmp(group, "metrics-token") == 0;
}

int berth_admin(const char *group, int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0) {
        usage_group(argc < 1 ? stderr : stdout, group);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    const admin_command_t *c = NULL;
    for (size_t i = 0; i < N_COMMANDS && !c; i++)
        if (strcmp(admin_commands[i].group, group) == 0 && strcmp(admin_commands[i].verb, argv[0]) == 0)
            c = &admin_commands[i];
    if (!c) {
        fprintf(stderr, "berth %s: unknown subcommand '%s'\n", group, argv[0]);
        usage_group(stderr, group);
        return EXIT_USAGE;
    }
    return run_command(group, c, argc - 1, argv + 1);
}

int berth_gc(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "help") == 0) {
        usage_command(stdout, &admin_commands[N_COMMANDS - 1]);
        usage_common(stdout);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(admin_commands[i].group, "gc") == 0)
            return run_command("gc", &admin_commands[i], argc, argv);
    return EXIT_USAGE;
}

/* argv: the command's options */
static int run_command(const char *group, const admin_command_t *c, int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_command(stdout, c);
            return 0;
        }
    admin_options_t o = {0};
    cli_err_t e = {""};
    int rc = 0;
    if (strcmp(c->operation, "CreateMetricsToken") == 0) {
        /* --token-file is the command's own, not a parameter: taken out before the table's options */
        for (int i = 0; i < argc; i++) {
            if (strcmp(argv[i], "--token-file") != 0)
                continue;
            if (i + 1 >= argc || !argv[i + 1][0]) {
                cli_fail(&e, "--token-file takes a file name");
                rc = EXIT_USAGE;
                break;
            }
            token_file = argv[i + 1];
            memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 2) * sizeof(*argv));
            argc -= 2;
            break;
        }
    }
    if (rc == 0)
        rc = parse_options(c, argc, argv, &o, &e) == 0 ? 0 : EXIT_USAGE;
    if (rc == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cli_fail(&e, "cannot initialise libcurl");
        rc = EXIT_UNREACHABLE;
    } else if (rc == 0) {
        rc = call(c, &o, &e);
        curl_global_cleanup();
    }
    if (rc == EXIT_USAGE && strncmp(e.msg, "unknown option", 14) == 0) {
        fprintf(stderr, "berth %s%s%s: %s\n", group, c->verb[0] ? " " : "", c->verb, e.msg);
        usage_command(stderr, c);
    } else if (rc != 0) {
        fprintf(stderr, "berth %s%s%s: %s\n", group, c->verb[0] ? " " : "", c->verb, e.msg);
    }
    for (size_t k = 0; k < ADMIN_MAX_PARAMS; k++)
        free((char *)o.values[k]);
    return rc;
}
