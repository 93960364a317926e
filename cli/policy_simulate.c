/*
 * cli/policy_simulate.c — `berth policy simulate`: may principal P do action
 * A on resource R, given identity policies, a repository policy and context
 * keys? Prints the decision and the statement that made it, offline, with
 * the same policies/ code the server runs.
 *
 * Exit status: 0 allowed, 1 denied (explicitly or implicitly), 2 bad input
 * (the message names the file and the field).
 */
#include "policies/policies.h"

#include "cli/cli_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define EXIT_ALLOWED 0
#define EXIT_DENIED 1
#define EXIT_BAD_INPUT 2

/* a principal with more identity policies than IAM lets one attach (10 managed + inline) is a typo */
#define MAX_POLICY_FILES 64
/* distinct context keys on one command line; IAM requests carry a few dozen at most */
#define MAX_CONTEXT_KEYS 128
/* "2026-11-28T12:00:00Z" and 20 digits of epoch seconds, with room */
#define TIME_TEXT_MAX 32

static const char usage_text[] =
    "usage: berth policy simulate --policy-file FILE [--policy-file FILE ...] [--repository-policy-file FILE]\n"
    "           --action ACTION --resource ARN [--principal ARN] [--context KEY=VALUE ...] [--json]\n"
    "\n"
    "  --policy-file FILE             an identity policy of the principal (repeat for several)\n"
    "  --repository-policy-file FILE  the repository's resource policy\n"
    "  --action ACTION                the request's action, e.g. ecr:BatchGetImage\n"
    "  --resource ARN                 e.g. arn:aws:ecr:us-east-1:123456789012:repository/team/app\n"
    "  --principal ARN                the caller, e.g. arn:aws:iam::123456789012:user/alice (default: anonymous)\n"
    "  --context KEY=VALUE            a request context key; repeat, and give a key twice for a multi-valued key.\n"
    "                                 aws:CurrentTime and aws:EpochTime default to now, aws:username to the\n"
    "                                 user name of --principal, aws:PrincipalArn and aws:PrincipalAccount to it\n"
    "  --json                         print {\"decision\", \"matchedStatement\", \"reason\"}\n"
    "\n"
    "At least one of --policy-file and --repository-policy-file is needed. FILE may be file://FILE.\n"
    "exit status: 0 allowed, 1 denied, 2 bad input\n";

typedef struct {
    const char *key;
    const char **values;
    size_t n;
} ctx_key_t;

typedef struct {
    const char *policy_files[MAX_POLICY_FILES];
    size_t n_policy_files;
    const char *repo_policy_file;
    const char *action, *resource, *principal;
    ctx_key_t keys[MAX_CONTEXT_KEYS];
    size_t n_keys;
    bool json;
} opts_t;

static int add_context(opts_t *o, const char *kv, cli_err_t *e)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return cli_fail(e, "--context: expected KEY=VALUE, found '%s'", kv);
    size_t klen = (size_t)(eq - kv);
    ctx_key_t *k = NULL;
    for (size_t i = 0; i < o->n_keys && !k; i++)
        if (strlen(o->keys[i].key) == klen && strncasecmp(o->keys[i].key, kv, klen) == 0)
            k = &o->keys[i];
    if (!k) {
        if (o->n_keys == MAX_CONTEXT_KEYS)
            return cli_fail(e, "--context: more than %d keys", MAX_CONTEXT_KEYS);
        k = &o->keys[o->n_keys++];
        char *key = strndup(kv, klen);
        if (!key)
            return cli_fail(e, "out of memory");
        k->key = key;
    }
    const char **v = realloc(k->values, (k->n + 1) * sizeof *v);
    if (!v)
        return cli_fail(e, "out of memory");
    k->values = v;
    k->values[k->n++] = eq + 1;
    return 0;
}

static bool has_key(const opts_t *o, const char *key)
{
    for (size_t i = 0; i < o->n_keys; i++)
        if (strcasecmp(o->keys[i].key, key) == 0)
            return true;
    return false;
}

static int add_default(opts_t *o, const char *key, const char *value, cli_err_t *e)
{
    if (has_key(o, key))
        return 0;
    char kv[256];
    if ((size_t)snprintf(kv, sizeof kv, "%s=", key) >= sizeof kv)
        return cli_fail(e, "context key too long");
    /* add_context keeps a pointer to the value: give it the caller's string */
    if (add_context(o, kv, e))
        return -1;
    o->keys[o->n_keys - 1].values[0] = value;
    return 0;
}

/* the AWS CLI's file://PATH spelling; the policy is named by PATH */
static const char *file_path(const char *arg)
{
    static const char file_prefix[] = "file://";
    return strncmp(arg, file_prefix, sizeof file_prefix - 1) == 0 ? arg + sizeof file_prefix - 1 : arg;
}

static int parse_args(int argc, char **argv, opts_t *o, cli_err_t *e)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        static const char *const valued[] = {"--policy-file", "--repository-policy-file", "--action", "--resource", "--principal",
                                             "--context"};
        bool known = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            known |= strcmp(a, valued[k]) == 0;
        if (!known)
            return cli_fail(e, "unknown option '%s' (see --help)", a);
        if (!next)
            return cli_fail(e, "%s: expected a value", a);
        i++;
        if (strcmp(a, "--policy-file") == 0) {
            if (o->n_policy_files == MAX_POLICY_FILES)
                return cli_fail(e, "--policy-file: more than %d files", MAX_POLICY_FILES);
            o->policy_files[o->n_policy_files++] = file_path(next);
        } else if (strcmp(a, "--repository-policy-file") == 0) {
            if (o->repo_policy_file)
                return cli_fail(e, "--repository-policy-file: given twice; a repository has one policy");
            o->repo_policy_file = file_path(next);
        } else if (strcmp(a, "--action") == 0) {
            o->action = next;
        } else if (strcmp(a, "--resource") == 0) {
            o->resource = next;
        } else if (strcmp(a, "--principal") == 0) {
            o->principal = next;
        } else if (add_context(o, next, e)) {
            return -1;
        }
    }
    if (!o->n_policy_files && !o->repo_policy_file)
        return cli_fail(e, "--policy-file or --repository-policy-file: at least one is required");
    if (!o->action)
        return cli_fail(e, "--action: required");
    const char *colon = strchr(o->action, ':');
    if (!colon || colon == o->action || !colon[1])
        return cli_fail(e, "--action: expected service:action (e.g. ecr:BatchGetImage), found '%s'", o->action);
    if (!o->resource)
        return cli_fail(e, "--resource: required");
    if (!*o->resource)
        return cli_fail(e, "--resource: must not be empty");
    if (o->principal && !*o->principal)
        return cli_fail(e, "--principal: must not be empty (leave it out for an anonymous caller)");
    return 0;
}

/* reads a whole policy file; one byte past the limit is enough for policy_parse to refuse it */
static char *read_file(const char *path, size_t *len, cli_err_t *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_fail(e, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = POLICY_MAX_BYTES + 1;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        cli_fail(e, "out of memory");
        return NULL;
    }
    *len = fread(buf, 1, cap, f);
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        cli_fail(e, "%s: read error", path);
        return NULL;
    }
    return buf;
}

static policy_t *load_policy(const char *path, policy_kind_t kind, cli_err_t *e)
{
    size_t len;
    char *text = read_file(path, &len, e);
    if (!text)
        return NULL;
    policy_err_t pe;
    policy_t *p = policy_parse(text, len, kind, &pe);
    free(text);
    if (!p)
        cli_fail(e, "%s: %s", path, pe.msg);
    return p;
}

/* arn:aws:iam::123456789012:user/path/alice -> "alice" into out */
static bool user_name_of(const char *arn, char *out, size_t cap)
{
    const char *p = arn;
    for (int colons = 0; colons < 5; colons++) {
        p = strchr(p, ':');
        if (!p)
            return false;
        p++;
    }
    if (strncmp(arn, "arn:", 4) != 0 || strncmp(p, "user/", 5) != 0)
        return false;
    const char *name = strrchr(p, '/') + 1;
    if (!*name || strlen(name) >= cap)
        return false;
    strcpy(out, name);
    return true;
}

static bool account_of(const char *arn, char *out, size_t cap)
{
    if (strncmp(arn, "arn:", 4) != 0)
        return false;
    const char *p = arn;
    for (int colons = 0; colons < 4; colons++) {
        p = strchr(p, ':');
        if (!p)
            return false;
        p++;
    }
    const char *end = strchr(p, ':');
    if (!end || (size_t)(end - p) >= cap)
        return false;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return true;
}

static const char *decision_key(policy_decision_t d)
{
    return d == POLICY_ALLOW ? "allowed" : d == POLICY_EXPLICIT_DENY ? "explicitDeny" : "implicitDeny";
}

static int print_json(const policy_result_t *r)
{
    json_t *o = json_object();
    if (!o)
        return -1;
    int bad_set = json_object_set_new(o, "decision", json_string(decision_key(r->decision)));
    if (r->policy_name) {
        json_t *m = json_pack("{s:s, s:s, s:I, s:s}", "policy", r->policy_name, "sid", r->sid ? r->sid : "", "index",
                              (json_int_t)r->statement_index, "source", r->from_resource_policy ? "resource" : "identity");
        bad_set |= json_object_set_new(o, "matchedStatement", m ? m : json_null());
    } else {
        bad_set |= json_object_set_new(o, "matchedStatement", json_null());
    }
    bad_set |= json_object_set_new(o, "reason", json_string(r->reason));
    int rc = bad_set || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ? -1 : 0;
    fputc('\n', stdout);
    json_decref(o);
    return rc;
}

static void print_text(const policy_result_t *r)
{
    printf("%s\n", policy_decision_name(r->decision));
    if (r->policy_name) {
        if (r->sid && *r->sid)
            printf("  statement: '%s' (#%zu) of %s (%s policy)\n", r->sid, r->statement_index, r->policy_name,
                   r->from_resource_policy ? "repository" : "identity");
        else
            printf("  statement: #%zu of %s (%s policy)\n", r->statement_index, r->policy_name,
                   r->from_resource_policy ? "repository" : "identity");
    }
    printf("  reason: %s\n", r->reason);
}

int berth_policy_simulate(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
    }
    cli_err_t e = {{0}};
    opts_t *o = calloc(1, sizeof *o);
    policy_named_t identity[MAX_POLICY_FILES] = {{0}};
    policy_named_t repo = {0};
    policy_context_entry_t ctx[MAX_CONTEXT_KEYS];
    int rc = EXIT_BAD_INPUT;
    if (!o) {
        cli_fail(&e, "out of memory");
        goto out;
    }
    if (parse_args(argc, argv, o, &e))
        goto out;
    for (size_t i = 0; i < o->n_policy_files; i++) {
        identity[i].name = o->policy_files[i];
        if (!(identity[i].policy = load_policy(o->policy_files[i], POLICY_KIND_IDENTITY, &e)))
            goto out;
    }
    if (o->repo_policy_file) {
        repo.name = o->repo_policy_file;
        if (!(repo.policy = load_policy(o->repo_policy_file, POLICY_KIND_RESOURCE, &e)))
            goto out;
    }

    /* the defaults IAM puts in every request context */
    char now_iso[TIME_TEXT_MAX], now_epoch[TIME_TEXT_MAX], user[256], account[64];
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || !strftime(now_iso, sizeof now_iso, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
        cli_fail(&e, "cannot read the clock");
        goto out;
    }
    snprintf(now_epoch, sizeof now_epoch, "%lld", (long long)now);
    if (add_default(o, "aws:CurrentTime", now_iso, &e) || add_default(o, "aws:EpochTime", now_epoch, &e))
        goto out;
    bool have_account = o->principal && account_of(o->principal, account, sizeof account);
    if (o->principal) {
        if (add_default(o, "aws:PrincipalArn", o->principal, &e))
            goto out;
        if (have_account && add_default(o, "aws:PrincipalAccount", account, &e))
            goto out;
        if (user_name_of(o->principal, user, sizeof user) && add_default(o, "aws:username", user, &e))
            goto out;
    }
    for (size_t i = 0; i < o->n_keys; i++)
        ctx[i] = (policy_context_entry_t){o->keys[i].key, o->keys[i].values, o->keys[i].n};

    policy_request_t req = {.action = o->action,
                            .resource = o->resource,
                            .principal_arn = o->principal,
                            .principal_account = have_account ? account : NULL,
                            .context = ctx,
                            .n_context = o->n_keys};
    policy_result_t result;
    policy_decision_t d = policy_evaluate(identity, o->n_policy_files, o->repo_policy_file ? &repo : NULL, &req, &result);
    if (o->json) {
        if (print_json(&result)) {
            cli_fail(&e, "failed to write the reply");
            goto out;
        }
    } else {
        print_text(&result);
    }
    rc = d == POLICY_ALLOW ? EXIT_ALLOWED : EXIT_DENIED;
out:
    if (rc == EXIT_BAD_INPUT)
        fprintf(stderr, "berth policy simulate: %s\n", e.msg);
    for (size_t i = 0; i < MAX_POLICY_FILES; i++)
        policy_free((policy_t *)identity[i].policy);
    policy_free((policy_t *)repo.policy);
    if (o) {
        for (size_t i = 0; i < o->n_keys; i++) {
            free((char *)o->keys[i].key);
            free(o->keys[i].values);
        }
        free(o);
    }
    return rc;
}
