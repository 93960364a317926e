/* ECR lifecycle policies: the parser and the evaluator (see lifecycle_policy.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/ecr/lifecycle_policy.h"

#define SECONDS_PER_DAY 86400

static int bad(ecr_lc_err_t *err, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(ecr_lc_err_t *err, const char *field, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof(err->field), "%s", field);
    if (field[0])
        snprintf(err->msg, sizeof(err->msg), "Lifecycle policy validation failure: %s %s", field, what);
    else
        snprintf(err->msg, sizeof(err->msg), "Lifecycle policy validation failure: %s", what);
    return -1;
}

static int nomem(ecr_lc_err_t *err)
{
    err->field[0] = '\0';
    snprintf(err->msg, sizeof(err->msg), "out of memory");
    return -2;
}

/* The first member of o not in the NULL-terminated list, or NULL. */
static const char *unknown_member(const json_t *o, const char *const *known)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = strcmp(known[i], key) == 0;
        if (!ok)
            return key;
    }
    return NULL;
}

static int unknown(ecr_lc_err_t *err, const char *where, const char *key)
{
    char f[128];
    snprintf(f, sizeof(f), "%.60s%s%.40s", where, where[0] ? "." : "", key[0] ? key : "(empty name)");
    return bad(err, f, "is not a member of a lifecycle policy");
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

void ecr_lc_policy_free(ecr_lc_policy_t *p)
{
    if (!p || !p->rules)
        return;
    for (size_t i = 0; i < p->nrules; i++) {
        free_list(p->rules[i].prefixes, p->rules[i].nprefixes);
        free_list(p->rules[i].patterns, p->rules[i].npatterns);
    }
    free(p->rules);
    p->rules = NULL;
    p->nrules = 0;
}

/* A list of 1..ECR_LC_LIST_MAX tag strings; patterns with at most ECR_LC_WILDCARDS_MAX '*'. */
static int parse_list(const json_t *v, const char *field, bool pattern, char ***out, size_t *n, ecr_lc_err_t *err)
{
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > ECR_LC_LIST_MAX)
        return bad(err, field, "must be a list of 1 to %d strings", ECR_LC_LIST_MAX);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        const char *s = json_string_value(item);
        size_t len = s ? json_string_length(item) : 0;
        if (!s || len < 1 || len > ECR_LC_TAG_MAX || strlen(s) != len)
            return bad(err, field, "must hold strings of 1 to %d characters", ECR_LC_TAG_MAX);
        if (pattern) {
            size_t stars = 0;
            for (const char *c = s; *c; c++)
                stars += *c == '*';
            if (stars > ECR_LC_WILDCARDS_MAX)
                return bad(err, field, "entry '%.128s' has more than %d wildcards", s, ECR_LC_WILDCARDS_MAX);
        }
    }
    char **l = calloc(json_array_size(v), sizeof(*l));
    if (!l)
        return nomem(err);
    json_array_foreach(v, i, item)
    {
        if (!(l[i] = strdup(json_string_value(item)))) {
            free_list(l, i);
            return nomem(err);
        }
    }
    *out = l;
    *n = json_array_size(v);
    return 0;
}

static int parse_rule(const json_t *r, size_t idx, ecr_lc_rule_t *out, ecr_lc_err_t *err)
{
    char where[48], f[96];
    snprintf(where, sizeof(where), "rules[%zu]", idx);
    if (!json_is_object(r))
        return bad(err, where, "must be an object");
    static const char *const rule_members[] = {"rulePriority", "description", "selection", "action", NULL};
    const char *k = unknown_member(r, rule_members);
    if (k)
        return unknown(err, where, k);

    json_t *prio = json_object_get(r, "rulePriority");
    snprintf(f, sizeof(f), "%s.rulePriority", where);
    if (!prio)
        return bad(err, f, "is required");
    if (!json_is_integer(prio) || json_integer_value(prio) < 1 || json_integer_value(prio) > INT32_MAX)
        return bad(err, f, "must be an integer of at least 1");
    out->priority = json_integer_value(prio);

    json_t *desc = json_object_get(r, "description");
    snprintf(f, sizeof(f), "%s.description", where);
    if (desc && (!json_is_string(desc) || json_string_length(desc) > ECR_LC_DESCRIPTION_MAX))
        return bad(err, f, "must be a string of at most %d characters", ECR_LC_DESCRIPTION_MAX);

    json_t *action = json_object_get(r, "action");
    snprintf(f, sizeof(f), "%s.action", where);
    if (!action)
        return bad(err, f, "is required");
    if (!json_is_object(action))
        return bad(err, f, "must be an object");
    static const char *const action_members[] = {"type", NULL};
    if ((k = unknown_member(action, action_members)))
        return unknown(err, f, k);
    json_t *type = json_object_get(action, "type");
    snprintf(f, sizeof(f), "%s.action.type", where);
    if (!type)
        return bad(err, f, "is required");
    if (!json_is_string(type) || strcmp(json_string_value(type), "expire") != 0)
        return bad(err, f, "must be \"expire\"");

    json_t *sel = json_object_get(r, "selection");
    snprintf(f, sizeof(f), "%s.selection", where);
    if (!sel)
        return bad(err, f, "is required");
    if (!json_is_object(sel))
        return bad(err, f, "must be an object");
    static const char *const sel_members[] = {
        "tagStatus", "tagPrefixList", "tagPatternList", "countType", "countUnit", "countNumber", NULL};
    char swhere[64];
    snprintf(swhere, sizeof(swhere), "%s.selection", where);
    if ((k = unknown_member(sel, sel_members)))
        return unknown(err, swhere, k);

    json_t *ts = json_object_get(sel, "tagStatus");
    const char *tss = json_string_value(ts);
    snprintf(f, sizeof(f), "%s.tagStatus", swhere);
    if (!ts)
        return bad(err, f, "is required");
    if (tss && strcmp(tss, "tagged") == 0)
        out->tag_status = ECR_LC_TAGGED;
    else if (tss && strcmp(tss, "untagged") == 0)
        out->tag_status = ECR_LC_UNTAGGED;
    else if (tss && strcmp(tss, "any") == 0)
        out->tag_status = ECR_LC_ANY;
    else
        return bad(err, f, "must be one of tagged, untagged, any");

    json_t *pl = json_object_get(sel, "tagPrefixList"), *pt = json_object_get(sel, "tagPatternList");
    if (out->tag_status != ECR_LC_TAGGED && (pl || pt)) {
        snprintf(f, sizeof(f), "%s.%s", swhere, pl ? "tagPrefixList" : "tagPatternList");
        return bad(err, f, "may only be used when tagStatus is tagged");
    }
    if (out->tag_status == ECR_LC_TAGGED && pl && pt) {
        snprintf(f, sizeof(f), "%s.tagPatternList", swhere);
        return bad(err, f, "and tagPrefixList cannot both be given: use one");
    }
    if (out->tag_status == ECR_LC_TAGGED && !pl && !pt) {
        snprintf(f, sizeof(f), "%s.tagPrefixList", swhere);
        return bad(err, f, "or tagPatternList is required when tagStatus is tagged");
    }

    json_t *ct = json_object_get(sel, "countType");
    const char *cts = json_string_value(ct);
    snprintf(f, sizeof(f), "%s.countType", swhere);
    if (!ct)
        return bad(err, f, "is required");
    if (cts && strcmp(cts, "imageCountMoreThan") == 0)
        out->count_type = ECR_LC_COUNT_MORE_THAN;
    else if (cts && strcmp(cts, "sinceImagePushed") == 0)
        out->count_type = ECR_LC_SINCE_PUSHED;
    else
        return bad(err, f, "must be one of imageCountMoreThan, sinceImagePushed");

    json_t *cu = json_object_get(sel, "countUnit");
    snprintf(f, sizeof(f), "%s.countUnit", swhere);
    if (out->count_type == ECR_LC_SINCE_PUSHED) {
        if (!cu)
            return bad(err, f, "is required when countType is sinceImagePushed");
        if (!json_is_string(cu) || strcmp(json_string_value(cu), "days") != 0)
            return bad(err, f, "must be \"days\"");
    } else if (cu) {
        return bad(err, f, "may only be used when countType is sinceImagePushed");
    }

    json_t *cn = json_object_get(sel, "countNumber");
    snprintf(f, sizeof(f), "%s.countNumber", swhere);
    if (!cn)
        return bad(err, f, "is required");
    int64_t max = out->count_type == ECR_LC_SINCE_PUSHED ? ECR_LC_DAYS_MAX : INT32_MAX;
    if (!json_is_integer(cn) || json_integer_value(cn) < 1 || json_integer_value(cn) > max)
        return bad(err, f, "must be an integer from 1 to %lld", (long long)max);
    out->count_number = json_integer_value(cn);

    int rc = 0;
    if (pl) {
        snprintf(f, sizeof(f), "%s.tagPrefixList", swhere);
        rc = parse_list(pl, f, false, &out->prefixes, &out->nprefixes, err);
    } else if (pt) {
        snprintf(f, sizeof(f), "%s.tagPatternList", swhere);
        rc = parse_list(pt, f, true, &out->patterns, &out->npatterns, err);
    }
    return rc;
}

static int by_priority(const void *a, const void *b)
{
    const ecr_lc_rule_t *x = a, *y = b;
    return (x->priority > y->priority) - (x->priority < y->priority);
}

typedef struct {
    const char *prefix;
    size_t rule;
} prefix_at_t;

static int by_prefix(const void *a, const void *b)
{
    const prefix_at_t *x = a, *y = b;
    int c = strcmp(x->prefix, y->prefix);
    return c ? c : (x->rule > y->rule) - (x->rule < y->rule);
}

/* No tagPrefixList value in two rules: sorted, so O(p log p) for p prefixes (a
 * 30 KiB policy holds thousands). The message names the later rule, as for priorities. */
static int prefixes_unique(const ecr_lc_policy_t *p, ecr_lc_err_t *err)
{
    size_t total = 0, k = 0;
    for (size_t i = 0; i < p->nrules; i++)
        total += p->rules[i].nprefixes;
    if (total < 2)
        return 0;
    prefix_at_t *all = calloc(total, sizeof(*all));
    if (!all)
        return nomem(err);
    for (size_t i = 0; i < p->nrules; i++)
        for (size_t x = 0; x < p->rules[i].nprefixes; x++)
            all[k++] = (prefix_at_t){p->rules[i].prefixes[x], i};
    qsort(all, total, sizeof(*all), by_prefix);
    int rc = 0;
    for (size_t x = 1; x < total && rc == 0; x++)
        if (strcmp(all[x].prefix, all[x - 1].prefix) == 0 && all[x].rule != all[x - 1].rule) {
            char f[64];
            snprintf(f, sizeof(f), "rules[%zu].selection.tagPrefixList", all[x].rule);
            rc = bad(err, f, "'%.128s' is also a tag prefix of rules[%zu]: the rules' tag prefixes must be unique", all[x].prefix,
                     all[x - 1].rule);
        }
    free(all);
    return rc;
}

int ecr_lc_parse(const char *text, size_t len, ecr_lc_policy_t *out, ecr_lc_err_t *err)
{
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    if (len > ECR_LC_TEXT_MAX)
        return bad(err, "", "the policy text is longer than %d characters", ECR_LC_TEXT_MAX);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return bad(err, "", "the policy text is not JSON: %.200s (line %d)", jerr.text, jerr.line);
    int rc = 0;
    json_t *rules = json_object_get(root, "rules");
    static const char *const root_members[] = {"rules", NULL};
    const char *k;
    if (!json_is_object(root))
        rc = bad(err, "", "the policy must be a JSON object with a member \"rules\"");
    else if ((k = unknown_member(root, root_members)))
        rc = unknown(err, "", k);
    else if (!rules)
        rc = bad(err, "rules", "is required");
    else if (!json_is_array(rules) || json_array_size(rules) < 1 || json_array_size(rules) > ECR_LC_RULES_MAX)
        rc = bad(err, "rules", "must be a list of 1 to %d rules", ECR_LC_RULES_MAX);
    if (rc) {
        json_decref(root);
        return rc;
    }
    size_t n = json_array_size(rules);
    if (!(out->rules = calloc(n, sizeof(*out->rules)))) {
        json_decref(root);
        return nomem(err);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = parse_rule(json_array_get(rules, i), i, &out->rules[i], err);
        out->nrules = i + 1; /* so that free releases a rule's lists, also a failed one's */
    }
    /* across rules: unique priorities, one rule for untagged images, `any` last, and
     * ECR's "the set of rules must contain a unique set of tag prefixes": a
     * tagPrefixList value in one rule only */
    size_t untagged = 0, any_at = n;
    int64_t max_prio = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        ecr_lc_rule_t *r = &out->rules[i];
        char f[64];
        snprintf(f, sizeof(f), "rules[%zu].rulePriority", i);
        for (size_t j = 0; j < i && rc == 0; j++)
            if (out->rules[j].priority == r->priority)
                rc = bad(err, f, "%lld is also the priority of rules[%zu]: priorities must be unique", (long long)r->priority, j);
        if (r->tag_status == ECR_LC_UNTAGGED && ++untagged > 1) {
            snprintf(f, sizeof(f), "rules[%zu].selection.tagStatus", i);
            rc = bad(err, f, "selects untagged images, as an earlier rule does: only one rule may");
        }
        if (r->tag_status == ECR_LC_ANY && any_at == n)
            any_at = i;
        if (r->priority > max_prio)
            max_prio = r->priority;
    }
    if (rc == 0)
        rc = prefixes_unique(out, err);
    if (rc == 0 && any_at < n && out->rules[any_at].priority != max_prio) {
        char f[64];
        snprintf(f, sizeof(f), "rules[%zu].rulePriority", any_at);
        rc = bad(err, f, "must be the highest of the policy: a rule whose tagStatus is any is evaluated last");
    }
    json_decref(root);
    if (rc) {
        ecr_lc_policy_free(out);
        return rc;
    }
    qsort(out->rules, n, sizeof(*out->rules), by_priority);
    return 0;
}

/* ---- matching --------------------------------------------------------------- */

int ecr_lc_pattern_match(const char *p, const char *s)
{
    /* the classic greedy match with one backtrack point: linear in |p|*|s| at worst */
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

static bool any_tag(const ecr_lc_image_t *im, const char *what, bool pattern)
{
    size_t wl = strlen(what);
    for (size_t i = 0; i < im->ntags; i++)
        if (pattern ? ecr_lc_pattern_match(what, im->tags[i]) : strncmp(im->tags[i], what, wl) == 0)
            return true;
    return false;
}

static bool selects(const ecr_lc_rule_t *r, const ecr_lc_image_t *im)
{
    switch (r->tag_status) {
    case ECR_LC_ANY:
        return true;
    case ECR_LC_UNTAGGED:
        return im->ntags == 0;
    case ECR_LC_TAGGED:
        break;
    }
    if (im->ntags == 0)
        return false;
    /* every entry of the list matches some tag of the image */
    for (size_t i = 0; i < r->nprefixes; i++)
        if (!any_tag(im, r->prefixes[i], false))
            return false;
    for (size_t i = 0; i < r->npatterns; i++)
        if (!any_tag(im, r->patterns[i], true))
            return false;
    return true;
}

/* What the sorts compare, copied beside the index: qsort has no context argument. */
typedef struct {
    int64_t pushed_at;
    const char *digest;
    size_t idx;
} lc_key_t;

static int newest_first(const void *a, const void *b)
{
    const lc_key_t *x = a, *y = b;
    if (x->pushed_at != y->pushed_at)
        return x->pushed_at > y->pushed_at ? -1 : 1;
    return strcmp(x->digest, y->digest); /* a stable order for equal times */
}

static int by_digest(const void *a, const void *b)
{
    return strcmp(((const lc_key_t *)a)->digest, ((const lc_key_t *)b)->digest);
}

/* The index (into the images) of digest d in keys sorted by digest; n when absent. */
static size_t find(const lc_key_t *keys, size_t n, const char *d)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(keys[mid].digest, d);
        if (c == 0)
            return keys[mid].idx;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return n;
}

int ecr_lc_evaluate(const ecr_lc_policy_t *p, const ecr_lc_image_t *images, size_t n, int64_t now, int64_t *rule_out)
{
    for (size_t i = 0; i < n; i++)
        rule_out[i] = 0;
    if (n == 0)
        return 0;
    lc_key_t *order = calloc(n, sizeof(*order));
    bool *matched = calloc(n, sizeof(*matched));
    if (!order || !matched) {
        free(order);
        free(matched);
        return -2;
    }
    for (size_t ri = 0; ri < p->nrules; ri++) {
        const ecr_lc_rule_t *r = &p->rules[ri];
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (selects(r, &images[i]))
                order[m++] = (lc_key_t){images[i].pushed_at, images[i].digest, i};
        qsort(order, m, sizeof(*order), newest_first);
        for (size_t j = 0; j < m; j++) {
            size_t i = order[j].idx;
            bool expire;
            if (r->count_type == ECR_LC_COUNT_MORE_THAN)
                expire = (int64_t)j >= r->count_number;
            else
                expire = now - images[i].pushed_at > r->count_number * SECONDS_PER_DAY;
            /* an image that an earlier rule selected is never expired by a later one */
            if (expire && !matched[i])
                rule_out[i] = r->priority;
        }
        for (size_t j = 0; j < m; j++)
            matched[order[j].idx] = true;
    }
    /* What stays keeps what it needs: an index's children and a subject's
     * referrers. Un-expiring only grows the kept set, so repeat until stable
     * (a pass per level of nesting). */
    for (size_t i = 0; i < n; i++)
        order[i] = (lc_key_t){images[i].pushed_at, images[i].digest, i};
    qsort(order, n, sizeof(*order), by_digest);
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            if (rule_out[i] != 0)
                continue; /* only a kept image protects */
            for (size_t c = 0; c < images[i].nchildren; c++) {
                size_t k = find(order, n, images[i].children[c]);
                if (k < n && rule_out[k] != 0) {
                    rule_out[k] = 0;
                    changed = true;
                }
            }
        }
        for (size_t i = 0; i < n; i++) {
            if (rule_out[i] == 0 || !images[i].subject || !images[i].subject[0])
                continue;
            size_t k = find(order, n, images[i].subject);
            if (k < n && rule_out[k] == 0) {
                rule_out[i] = 0;
                changed = true;
            }
        }
    }
    free(order);
    free(matched);
    return 0;
}
