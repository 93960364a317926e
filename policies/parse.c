/*
 * policies/parse.c — reads and validates a policy document into the form of
 * policies_internal.h. Everything IAM would refuse is refused here, with a
 * message that names the field path, so evaluation never meets a surprise.
 */
#include "policies/policies_internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a JSON number rendered as a condition value: 17 significant digits round-trip a double */
#define NUMBER_TEXT_MAX 40

static int fail(policy_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(policy_err_t *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

const char *policy_status_name(policy_status_t s)
{
    switch (s) {
    case POLICY_OK:
        return "ok";
    case POLICY_EMALFORMED:
        return "malformed policy";
    case POLICY_ENOMEM:
        return "no memory";
    }
    return "unknown";
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void strs_free(pol_strs_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int strs_alloc(pol_strs_t *l, size_t n, policy_err_t *err)
{
    l->v = calloc(n ? n : 1, sizeof *l->v);
    l->n = 0;
    return l->v ? 0 : fail(err, "out of memory");
}

static int strs_push(pol_strs_t *l, const char *s, policy_err_t *err)
{
    char *d = dup_str(s);
    if (!d)
        return fail(err, "out of memory");
    l->v[l->n++] = d;
    return 0;
}

/* ---------------------------------------------------------- structure */

/* Rejects nesting deeper than any policy needs before jansson recurses into
 * it: a document of 10 KiB of '[' would otherwise be parsed in full. */
static int check_depth(const char *json, size_t len, policy_err_t *err)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = json[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > POLICY_MAX_DEPTH)
                return fail(err, "JSON nested deeper than %d levels; no policy needs that", POLICY_MAX_DEPTH);
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

static int check_keys(const json_t *obj, const char *const *allowed, const char *where, policy_err_t *err)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(k, allowed[i]) == 0;
        if (!ok)
            return where[0] ? fail(err, "%s: unknown key \"%s\"", where, k) : fail(err, "unknown top-level key \"%s\"", k);
    }
    return 0;
}

/* The longest path a caller names for a list ("Statement[N].Principal.AWS"
 * and the like, built in buffers of at most this size); an element's path
 * adds its index, so it never truncates. */
#define POL_PATH_CAP 128

/* a string, or a non-empty array of strings; validate(s) may refuse an element */
typedef int (*str_check_fn)(const char *s, const char *path, const policy_t *p, policy_err_t *err);

static int read_strs(const json_t *v, const char *path, const policy_t *p, str_check_fn check, pol_strs_t *out, policy_err_t *err)
{
    if (json_is_string(v)) {
        if (strs_alloc(out, 1, err))
            return -1;
        if (check && check(json_string_value(v), path, p, err))
            return -1;
        return strs_push(out, json_string_value(v), err);
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return fail(err, "%s: must be a string or a non-empty array of strings", path);
    if (strs_alloc(out, json_array_size(v), err))
        return -1;
    size_t i;
    const json_t *e;
    json_array_foreach((json_t *)v, i, e)
    {
        char at[POL_PATH_CAP + sizeof "[18446744073709551615]"];
        snprintf(at, sizeof at, "%s[%zu]", path, i);
        if (!json_is_string(e))
            return fail(err, "%s: must be a string", at);
        if (check && check(json_string_value(e), at, p, err))
            return -1;
        if (strs_push(out, json_string_value(e), err))
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ actions */

static int check_action(const char *s, const char *path, const policy_t *p, policy_err_t *err)
{
    (void)p;
    if (strcmp(s, "*") == 0)
        return 0;
    size_t vendor = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
    const char *rest = s + vendor + 1;
    bool ok = vendor > 0 && s[vendor] == ':' && *rest;
    for (const char *c = rest; ok && *c; c++)
        ok = (unsigned char)*c > ' ' && *c != 0x7f && *c != ':';
    if (!ok)
        return fail(err, "%s: \"%s\" must be \"*\" or \"service:action\" (for example \"ecr:BatchGetImage\")", path, s);
    return 0;
}

/* ---------------------------------------------------------- resources */

static int check_variables(const char *s, const char *path, const policy_t *p, policy_err_t *err)
{
    if (!p->version_2012)
        return 0;
    long at = pol_variables_check(s);
    if (at >= 0)
        return fail(err, "%s: malformed policy variable at offset %ld of \"%s\" (expected ${key} or ${key, 'default'})", path, at,
                    s);
    return 0;
}

static int check_resource(const char *s, const char *path, const policy_t *p, policy_err_t *err)
{
    if (strcmp(s, "*") == 0)
        return 0;
    size_t colons = 0;
    for (const char *c = s; *c; c++)
        colons += *c == ':';
    if (strncmp(s, "arn:", 4) != 0 || colons < 5)
        return fail(err, "%s: \"%s\" must be \"*\" or an ARN (arn:partition:service:region:account:resource)", path, s);
    return check_variables(s, path, p, err);
}

/* --------------------------------------------------------- principals */

static int check_principal_name(const char *s, const char *path, const policy_t *p, policy_err_t *err)
{
    (void)p;
    if (!*s)
        return fail(err, "%s: must not be empty", path);
    if (strchr(s, '*') || strchr(s, '?'))
        return fail(err, "%s: wildcards are not allowed in a principal (\"%s\"); only a lone \"*\" means everyone", path, s);
    return 0;
}

static int check_aws_principal(const char *s, const char *path, const policy_t *p, policy_err_t *err)
{
    if (strcmp(s, "*") == 0)
        return 0;
    if (check_principal_name(s, path, p, err))
        return -1;
    size_t colons = 0;
    for (const char *c = s; *c; c++)
        colons += *c == ':';
    if (pol_is_account_id(s) || (strncmp(s, "arn:", 4) == 0 && colons >= 5))
        return 0;
    return fail(err, "%s: \"%s\" is not \"*\", a 12-digit account id or an ARN", path, s);
}

static int read_principal(const json_t *v, const char *path, const policy_t *p, pol_principal_t *out, policy_err_t *err)
{
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "*") != 0)
            return fail(err, "%s: must be \"*\" or an object such as {\"AWS\": \"arn:aws:iam::123456789012:root\"}", path);
        out->any = true;
        return 0;
    }
    if (!json_is_object(v))
        return fail(err, "%s: must be \"*\" or an object such as {\"AWS\": \"arn:aws:iam::123456789012:root\"}", path);
    if (json_object_size(v) == 0)
        return fail(err, "%s: must name at least one principal", path);
    static const char *const keys[] = {"AWS", "Service", "Federated", "CanonicalUser", NULL};
    if (check_keys(v, keys, path, err))
        return -1;
    char at[POL_PATH_CAP];
    const json_t *aws = json_object_get(v, "AWS");
    if (aws) {
        snprintf(at, sizeof at, "%s.AWS", path);
        if (read_strs(aws, at, p, check_aws_principal, &out->aws, err))
            return -1;
        for (size_t i = 0; i < out->aws.n; i++)
            out->any |= strcmp(out->aws.v[i], "*") == 0;
    }
    struct {
        const char *key;
        pol_strs_t *list;
    } others[] = {{"Service", &out->service}, {"Federated", &out->federated}, {"CanonicalUser", &out->canonical}};
    for (size_t k = 0; k < sizeof others / sizeof others[0]; k++) {
        const json_t *o = json_object_get(v, others[k].key);
        if (!o)
            continue;
        snprintf(at, sizeof at, "%s.%s", path, others[k].key);
        if (read_strs(o, at, p, check_principal_name, others[k].list, err))
            return -1;
    }
    return 0;
}

/* --------------------------------------------------------- conditions */

static const char *vtype_name(pol_vtype_t t)
{
    switch (t) {
    case POL_VT_NUMBER:
        return "a number";
    case POL_VT_DATE:
        return "a date (2026-11-28T12:00:00Z, 2026-11-28 or epoch seconds)";
    case POL_VT_BOOL:
        return "\"true\" or \"false\"";
    case POL_VT_BASE64:
        return "base64";
    case POL_VT_IP:
        return "an IP address or CIDR block";
    case POL_VT_STRING:
    case POL_VT_ARN:
        break;
    }
    return "a string";
}

/* the shortest text that reads back as the same double, so that 0.1 stays "0.1" for the String operators */
static const char *real_text(double d, char *buf, size_t cap)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return buf;
}

/* the condition value's text: IAM takes 10 and "10", true and "true" alike */
static bool scalar_text(const json_t *v, char *buf, size_t cap, const char **out)
{
    if (json_is_string(v))
        *out = json_string_value(v);
    else if (json_is_integer(v))
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v)), *out = buf;
    else if (json_is_real(v))
        *out = real_text(json_real_value(v), buf, cap);
    else if (json_is_boolean(v))
        *out = json_is_true(v) ? "true" : "false";
    else
        return false;
    return true;
}

static int read_cond_values(const json_t *v, const char *path, const char *key, const policy_t *p, const pol_op_info_t *op,
                            pol_strs_t *out, policy_err_t *err)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    char num[NUMBER_TEXT_MAX];
    const char *text;
    if ((json_is_array(v) && n == 0) || (!json_is_array(v) && !scalar_text(v, num, sizeof num, &text)))
        return fail(err, "%s: value must be a string or an array of strings (key \"%s\")", path, key);
    if (strs_alloc(out, n, err))
        return -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!scalar_text(e, num, sizeof num, &text))
            return fail(err, "%s: value must be a string or an array of strings (key \"%s\")", path, key);
        if (p->version_2012 && pol_has_variable(text)) {
            if (check_variables(text, path, p, err))
                return -1;
        } else if (!pol_value_valid(op->vtype, text)) {
            return fail(err, "%s: \"%s\" is not %s (key \"%s\")", path, text, vtype_name(op->vtype), key);
        }
        if (strs_push(out, text, err))
            return -1;
    }
    return 0;
}

static void cond_free(pol_cond_t *c)
{
    free(c->op_text);
    free(c->key);
    strs_free(&c->values);
}

static int check_cond_key(const char *k, const char *path, policy_err_t *err)
{
    const char *colon = strchr(k, ':');
    if (!colon || colon == k || !colon[1])
        return fail(err, "%s: condition key \"%s\" must look like \"service:name\" (for example \"aws:SourceIp\")", path, k);
    return 0;
}

static int read_conditions(const json_t *v, const char *path, const policy_t *p, pol_statement_t *st, policy_err_t *err)
{
    if (!json_is_object(v))
        return fail(err, "%s: must be an object of condition operators", path);
    size_t total = 0;
    const char *opname;
    const json_t *block;
    json_object_foreach((json_t *)v, opname, block)
    {
        pol_qual_t q;
        bool ifx;
        if (!pol_op_lookup(opname, &q, &ifx))
            return fail(err, "%s: unknown operator \"%s\"", path, opname);
        char at[160];
        snprintf(at, sizeof at, "%s.%s", path, opname);
        if (!json_is_object(block))
            return fail(err, "%s: must be an object of condition keys and values", at);
        if (json_object_size(block) == 0)
            return fail(err, "%s: must name at least one condition key", at);
        total += json_object_size(block);
    }
    st->conds = calloc(total ? total : 1, sizeof *st->conds);
    if (!st->conds)
        return fail(err, "out of memory");
    json_object_foreach((json_t *)v, opname, block)
    {
        char at[160];
        snprintf(at, sizeof at, "%s.%s", path, opname);
        const char *key;
        const json_t *vals;
        json_object_foreach((json_t *)block, key, vals)
        {
            pol_cond_t *c = &st->conds[st->n_conds++];
            c->op = pol_op_lookup(opname, &c->qual, &c->if_exists);
            if (check_cond_key(key, at, err))
                return -1;
            c->op_text = dup_str(opname);
            c->key = dup_str(key);
            if (!c->op_text || !c->key)
                return fail(err, "out of memory");
            if (read_cond_values(vals, at, key, p, c->op, &c->values, err))
                return -1;
        }
    }
    return 0;
}

/* --------------------------------------------------------- statements */

static void statement_free(pol_statement_t *st)
{
    free(st->sid);
    strs_free(&st->principal.aws);
    strs_free(&st->principal.service);
    strs_free(&st->principal.federated);
    strs_free(&st->principal.canonical);
    strs_free(&st->actions);
    strs_free(&st->resources);
    for (size_t i = 0; i < st->n_conds; i++)
        cond_free(&st->conds[i]);
    free(st->conds);
}

static int read_statement(const json_t *v, size_t idx, policy_t *p, pol_statement_t *st, policy_err_t *err)
{
    char path[64], at[96];
    snprintf(path, sizeof path, "Statement[%zu]", idx);
    if (!json_is_object(v))
        return fail(err, "%s: must be an object", path);
    static const char *const keys[] = {"Sid",       "Effect",   "Principal",   "NotPrincipal", "Action",
                                       "NotAction", "Resource", "NotResource", "Condition",    NULL};
    if (check_keys(v, keys, path, err))
        return -1;

    const json_t *sid = json_object_get(v, "Sid");
    if (sid) {
        if (!json_is_string(sid))
            return fail(err, "%s.Sid: must be a string", path);
        if (!(st->sid = dup_str(json_string_value(sid))))
            return fail(err, "out of memory");
        for (size_t i = 0; i < idx; i++)
            if (p->statements[i].sid && st->sid[0] && strcmp(p->statements[i].sid, st->sid) == 0)
                return fail(err, "%s.Sid: \"%s\" is already the Sid of Statement[%zu]; Sids must be unique", path, st->sid, i);
    }

    const json_t *effect = json_object_get(v, "Effect");
    if (!effect)
        return fail(err, "%s: Effect is required", path);
    const char *e = json_string_value(effect);
    if (!e || (strcmp(e, "Allow") != 0 && strcmp(e, "Deny") != 0))
        return fail(err, "%s: Effect must be \"Allow\" or \"Deny\"", path);
    st->deny = strcmp(e, "Deny") == 0;

    const json_t *action = json_object_get(v, "Action"), *not_action = json_object_get(v, "NotAction");
    if (action && not_action)
        return fail(err, "%s: Action and NotAction cannot both be present", path);
    if (!action && !not_action)
        return fail(err, "%s: Action or NotAction is required", path);
    st->not_action = not_action != NULL;
    snprintf(at, sizeof at, "%s.%s", path, action ? "Action" : "NotAction");
    if (read_strs(action ? action : not_action, at, p, check_action, &st->actions, err))
        return -1;

    const json_t *pr = json_object_get(v, "Principal"), *not_pr = json_object_get(v, "NotPrincipal");
    if (pr && not_pr)
        return fail(err, "%s: Principal and NotPrincipal cannot both be present", path);
    if (p->kind == POLICY_KIND_IDENTITY && (pr || not_pr))
        return fail(err, "%s: %s is not allowed in an identity policy (it names the caller of a resource policy)", path,
                    pr ? "Principal" : "NotPrincipal");
    if (p->kind == POLICY_KIND_RESOURCE) {
        if (!pr && !not_pr)
            return fail(err, "%s: Principal or NotPrincipal is required in a resource policy", path);
        st->has_principal = true;
        st->not_principal = not_pr != NULL;
        snprintf(at, sizeof at, "%s.%s", path, pr ? "Principal" : "NotPrincipal");
        if (read_principal(pr ? pr : not_pr, at, p, &st->principal, err))
            return -1;
    }

    const json_t *res = json_object_get(v, "Resource"), *not_res = json_object_get(v, "NotResource");
    if (res && not_res)
        return fail(err, "%s: Resource and NotResource cannot both be present", path);
    if (p->kind == POLICY_KIND_IDENTITY && !res && !not_res)
        return fail(err, "%s: Resource or NotResource is required in an identity policy", path);
    if (res || not_res) {
        st->has_resource = true;
        st->not_resource = not_res != NULL;
        snprintf(at, sizeof at, "%s.%s", path, res ? "Resource" : "NotResource");
        if (read_strs(res ? res : not_res, at, p, check_resource, &st->resources, err))
            return -1;
    }

    const json_t *cond = json_object_get(v, "Condition");
    if (cond) {
        snprintf(at, sizeof at, "%s.Condition", path);
        if (read_conditions(cond, at, p, st, err))
            return -1;
    }
    return 0;
}

static int read_document(const json_t *doc, policy_t *p, policy_err_t *err)
{
    if (!json_is_object(doc))
        return fail(err, "a policy document must be a JSON object");
    static const char *const keys[] = {"Version", "Id", "Statement", NULL};
    if (check_keys(doc, keys, "", err))
        return -1;
    const json_t *ver = json_object_get(doc, "Version");
    if (ver) {
        const char *s = json_string_value(ver);
        if (!s || (strcmp(s, "2012-10-17") != 0 && strcmp(s, "2008-10-17") != 0))
            return fail(err, "Version: must be \"2012-10-17\" or \"2008-10-17\"");
        p->version_2012 = strcmp(s, "2012-10-17") == 0;
    }
    const json_t *id = json_object_get(doc, "Id");
    if (id) {
        if (!json_is_string(id))
            return fail(err, "Id: must be a string");
        if (!(p->id = dup_str(json_string_value(id))))
            return fail(err, "out of memory");
    }
    const json_t *stmts = json_object_get(doc, "Statement");
    if (!stmts)
        return fail(err, "Statement is required");
    bool one = json_is_object(stmts);
    if (!one && (!json_is_array(stmts) || json_array_size(stmts) == 0))
        return fail(err, "Statement: must be an object or a non-empty array of statements");
    size_t n = one ? 1 : json_array_size(stmts);
    p->statements = calloc(n, sizeof *p->statements);
    if (!p->statements)
        return fail(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        p->n_statements = i + 1; /* so that policy_free releases a half-read statement */
        if (read_statement(one ? stmts : json_array_get(stmts, i), i, p, &p->statements[i], err))
            return -1;
    }
    return 0;
}

policy_t *policy_parse(const char *json, size_t len, policy_kind_t kind, policy_err_t *err)
{
    if (err)
        err->msg[0] = '\0';
    if (!json) {
        fail(err, "no document");
        return NULL;
    }
    if (kind != POLICY_KIND_IDENTITY && kind != POLICY_KIND_RESOURCE) {
        fail(err, "unknown policy kind");
        return NULL;
    }
    if (len > POLICY_MAX_BYTES) {
        fail(err, "the document is %zu bytes; the limit is %u", len, POLICY_MAX_BYTES);
        return NULL;
    }
    if (check_depth(json, len, err))
        return NULL;
    json_error_t je;
    /* JSON_REJECT_DUPLICATES: a key given twice would silently mean the last one */
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        fail(err, "not valid JSON: line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    policy_t *p = calloc(1, sizeof *p);
    if (!p) {
        json_decref(doc);
        fail(err, "out of memory");
        return NULL;
    }
    p->kind = kind;
    int rc = read_document(doc, p, err);
    json_decref(doc);
    if (rc) {
        policy_free(p);
        return NULL;
    }
    return p;
}

void policy_free(policy_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_statements; i++)
        statement_free(&p->statements[i]);
    free(p->statements);
    free(p->id);
    free(p);
}
