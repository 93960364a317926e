/*
 * tests/fuzz/fuzz_policy_diff.c — differential: policy_evaluate against a
 * deliberately simple reference evaluator written here from IAM's
 * documentation, sharing no code with policies/.
 *
 * The input is structured bytes, not JSON: they pick statements (effect,
 * Action/NotAction patterns, Resource/NotResource patterns, Principal/
 * NotPrincipal for the repository policy, String* conditions) and a request
 * from small tables. The harness writes the identity and repository policy
 * documents as JSON, both evaluators decide, and they must agree on the
 * decision and on the deciding statement.
 *
 * The subset: actions and resources with `*`/`?`, ARN segment rules,
 * principals ("*", account id, root ARN, user ARN; an Allow naming only the
 * caller's account delegates, and across accounts both sides must allow),
 * StringEquals/NotEquals/
 * Like/NotLike with IfExists and ForAnyValue/ForAllValues, several keys and
 * values, missing keys and empty sets. No policy variables.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_check.h"
#include "policies/policies.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_STATEMENTS 4
#define MAX_ITEMS 3
#define MAX_CONDS 3
#define DOC_CAP 8192

static const char *const action_pats[] = {
    "ecr:*", "ecr:Get*", "ecr:BatchGetImage", "ecr:PutImage",   "ECR:putimage", "ecr:?utImage",
    "*",     "s3:*",     "ecr:*Layer*",       "ecr:List?mages", "ecr:*Image*",  "ecr:*e"};
static const char *const resource_pats[] = {"*",
                                            "arn:aws:ecr:*:*:repository/*",
                                            "arn:aws:ecr:us-east-1:123456789012:repository/team/*",
                                            "arn:aws:ecr:us-east-1:123456789012:repository/team/app",
                                            "arn:aws:ecr:*:123456789012:repository/?eam/*",
                                            "arn:aws:ecr:us-west-2:*:repository/*",
                                            "arn:aws:ecr:us-*:*:repository/*/app",
                                            "arn:aws:*:*:*:*",
                                            "arn:aws:ecr:*:*:*"};
static const char *const principal_jsons[] = {"\"*\"",
                                              "{\"AWS\":\"*\"}",
                                              "{\"AWS\":\"123456789012\"}",
                                              "{\"AWS\":\"arn:aws:iam::444455556666:root\"}",
                                              "{\"AWS\":[\"arn:aws:iam::123456789012:user/alice\"]}",
                                              "{\"AWS\":[\"arn:aws:iam::123456789012:user/bob\",\"444455556666\"]}"};
static const char *const ops[] = {"StringEquals", "StringNotEquals", "StringLike", "StringNotLike"};
static const char *const cond_keys[] = {"aws:username", "ecr:ResourceTag/team", "aws:TagKeys"};
static const char *const cond_values[] = {"alice", "bob", "a*", "*", "te?m", "team", "", "A*", "?"};

static const char *const req_actions[] = {"ecr:BatchGetImage", "ecr:PutImage", "ecr:GetDownloadUrlForLayer", "ecr:ListImages",
                                          "s3:GetObject",      "ecr:putimage", "ecr:DescribeImages"};
static const char *const req_resources[] = {
    "arn:aws:ecr:us-east-1:123456789012:repository/team/app", "arn:aws:ecr:us-west-2:123456789012:repository/team/app",
    "arn:aws:ecr:us-east-1:444455556666:repository/other", "arn:aws:ecr:us-east-1:123456789012:repository/steam/x",
    "arn:aws:ecr:eu-west-1:123456789012:repository/a/app"};
static const char *const req_principals[] = {"arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/bob",
                                             "arn:aws:iam::444455556666:user/carol", NULL};
static const char *const req_accounts[] = {"123456789012", "123456789012", "444455556666", NULL};
/* aws:username, ecr:ResourceTag/team, aws:TagKeys: each may be absent, empty, or 1-2 values */
static const char *const ctx_values[] = {"alice", "bob", "team", "steam", "a*", "", "Alice", "?"};

/* ------------------------------------------------------- the model */

typedef struct {
    uint8_t op, qual, if_exists, key;
    uint8_t nv, v[MAX_ITEMS];
} cond_t;

typedef struct {
    bool deny, not_action, has_resource, not_resource, not_principal;
    uint8_t na, a[MAX_ITEMS], nr, r[MAX_ITEMS], principal;
    uint8_t nc;
    cond_t c[MAX_CONDS];
} stmt_t;

typedef struct {
    uint8_t n;
    stmt_t s[MAX_STATEMENTS];
} pol_t;

typedef struct {
    const uint8_t *p;
    size_t n;
} bytes_t;

static uint8_t take(bytes_t *b)
{
    if (b->n == 0)
        return 0;
    b->n--;
    return *b->p++;
}

static void gen_policy(bytes_t *b, pol_t *p, bool resource)
{
    p->n = 1 + take(b) % MAX_STATEMENTS;
    for (size_t i = 0; i < p->n; i++) {
        stmt_t *s = &p->s[i];
        uint8_t f = take(b);
        s->deny = f & 1;
        s->not_action = (f & 6) == 6; /* rarer: NotAction matches almost everything */
        s->not_resource = (f & 0x18) == 0x18;
        s->not_principal = (f & 0x60) == 0x60;
        s->has_resource = !resource || (f & 0x80);
        s->na = 1 + take(b) % MAX_ITEMS;
        for (size_t k = 0; k < s->na; k++)
            s->a[k] = take(b) % N(action_pats);
        s->nr = 1 + take(b) % MAX_ITEMS;
        for (size_t k = 0; k < s->nr; k++)
            s->r[k] = take(b) % N(resource_pats);
        s->principal = take(b) % N(principal_jsons);
        s->nc = take(b) % (MAX_CONDS + 1);
        for (size_t k = 0; k < s->nc; k++) {
            cond_t *c = &s->c[k];
            uint8_t g = take(b);
            c->op = g % N(ops);
            c->qual = (g >> 2) % 3;
            c->if_exists = (g >> 4) & 1;
            c->key = (g >> 5) % N(cond_keys);
            c->nv = 1 + take(b) % MAX_ITEMS;
            for (size_t j = 0; j < c->nv; j++)
                c->v[j] = take(b) % N(cond_values);
        }
        /* operator names must be unique keys of the Condition object: drop repeats */
        for (size_t k = 0; k < s->nc; k++)
            for (size_t j = 0; j < k; j++)
                if (s->c[j].op == s->c[k].op && s->c[j].qual == s->c[k].qual && s->c[j].if_exists == s->c[k].if_exists &&
                    s->c[j].key == s->c[k].key) {
                    memmove(&s->c[k], &s->c[k + 1], (size_t)(s->nc - k - 1) * sizeof s->c[0]);
                    s->nc--;
                    k--;
                    break;
                }
    }
}

static const char *const quals[] = {"", "ForAnyValue:", "ForAllValues:"};

static void op_name(const cond_t *c, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s", quals[c->qual], ops[c->op], c->if_exists ? "IfExists" : "");
}

static void append(char *doc, size_t *len, const char *fmt, const char *a)
{
    int n = snprintf(doc + *len, DOC_CAP - *len, fmt, a);
    FUZZ_CHECK(n >= 0 && (size_t)n < DOC_CAP - *len);
    *len += (size_t)n;
}

static void list_json(char *doc, size_t *len, const char *name, const uint8_t *idx, size_t n, const char *const *table)
{
    append(doc, len, ",\"%s\":[", name);
    for (size_t k = 0; k < n; k++) {
        append(doc, len, k ? ",\"%s\"" : "\"%s\"", table[idx[k]]);
    }
    append(doc, len, "%s", "]");
}

static size_t write_policy(const pol_t *p, bool resource, char *doc)
{
    size_t len = 0;
    append(doc, &len, "%s", "{\"Version\":\"2012-10-17\",\"Statement\":[");
    for (size_t i = 0; i < p->n; i++) {
        const stmt_t *s = &p->s[i];
        append(doc, &len, i ? ",{\"Effect\":\"%s\"" : "{\"Effect\":\"%s\"", s->deny ? "Deny" : "Allow");
        if (resource)
            append(doc, &len, s->not_principal ? ",\"NotPrincipal\":%s" : ",\"Principal\":%s", principal_jsons[s->principal]);
        list_json(doc, &len, s->not_action ? "NotAction" : "Action", s->a, s->na, action_pats);
        if (s->has_resource)
            list_json(doc, &len, s->not_resource ? "NotResource" : "Resource", s->r, s->nr, resource_pats);
        if (s->nc) {
            /* group the clauses by operator: one object per operator, keys inside */
            append(doc, &len, "%s", ",\"Condition\":{");
            bool first_op = true;
            for (size_t k = 0; k < s->nc; k++) {
                char name[64], prev[64];
                op_name(&s->c[k], name, sizeof name);
                bool seen = false;
                for (size_t j = 0; j < k && !seen; j++) {
                    op_name(&s->c[j], prev, sizeof prev);
                    seen = strcmp(prev, name) == 0;
                }
                if (seen)
                    continue;
                append(doc, &len, first_op ? "\"%s\":{" : ",\"%s\":{", name);
                first_op = false;
                bool first_key = true;
                for (size_t j = k; j < s->nc; j++) {
                    op_name(&s->c[j], prev, sizeof prev);
                    if (strcmp(prev, name) != 0)
                        continue;
                    append(doc, &len, first_key ? "\"%s\":" : ",\"%s\":", cond_keys[s->c[j].key]);
                    first_key = false;
                    for (size_t v = 0; v < s->c[j].nv; v++)
                        append(doc, &len, v ? ",\"%s\"" : "[\"%s\"", cond_values[s->c[j].v[v]]);
                    append(doc, &len, "%s", "]");
                }
                append(doc, &len, "%s", "}");
            }
            append(doc, &len, "%s", "}");
        }
        append(doc, &len, "%s", "}");
    }
    append(doc, &len, "%s", "]}");
    return len;
}

/* -------------------------------------------------- the reference */

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* recursive textbook matcher, with lengths; `*` any run, `?` one character */
static bool ref_glob(const char *p, size_t pn, const char *s, size_t sn, bool icase)
{
    if (pn == 0)
        return sn == 0;
    if (*p == '*')
        return ref_glob(p + 1, pn - 1, s, sn, icase) || (sn > 0 && ref_glob(p, pn, s + 1, sn - 1, icase));
    if (sn == 0)
        return false;
    if (*p != '?' && (icase ? lower(*p) != lower(*s) : *p != *s))
        return false;
    return ref_glob(p + 1, pn - 1, s + 1, sn - 1, icase);
}

/* ARNs: six fields, the last takes the rest; every field matched on its own */
static bool ref_arn(const char *pat, const char *arn)
{
    if (strcmp(pat, "*") == 0)
        return true;
    const char *pp = pat, *ap = arn;
    for (int field = 0; field < 6; field++) {
        const char *pe = field < 5 ? strchr(pp, ':') : pp + strlen(pp);
        const char *ae = field < 5 ? strchr(ap, ':') : ap + strlen(ap);
        if (!pe || !ae)
            return false;
        if (!ref_glob(pp, (size_t)(pe - pp), ap, (size_t)(ae - ap), false))
            return false;
        pp = pe + 1;
        ap = ae + 1;
    }
    return true;
}

typedef struct {
    const char *v[2];
    size_t n;
    bool present;
} ref_ctx_t;

static bool ref_value_matches(const cond_t *c, const char *cv)
{
    bool like = c->op >= 2;
    for (size_t j = 0; j < c->nv; j++) {
        const char *pv = cond_values[c->v[j]];
        if (like ? ref_glob(pv, strlen(pv), cv, strlen(cv), false) : strcmp(pv, cv) == 0)
            return true;
    }
    return false;
}

static bool ref_cond(const cond_t *c, const ref_ctx_t *ctx)
{
    bool negated = c->op == 1 || c->op == 3;
    const ref_ctx_t *k = &ctx[c->key];
    if (!k->present || k->n == 0) {
        if (c->qual == 2)
            return true; /* ForAllValues: vacuously true */
        if (c->qual == 1)
            return false;
        return c->if_exists || negated;
    }
    size_t hits = 0;
    for (size_t i = 0; i < k->n; i++)
        hits += ref_value_matches(c, k->v[i]) != negated;
    if (c->qual == 2)
        return hits == k->n;
    if (c->qual == 1)
        return hits > 0;
    /* no qualifier: positive needs one value, negated needs all (the negation of the positive) */
    return negated ? hits == k->n : hits > 0;
}

/* 0: not named; 1: named only through its account (an Allow then delegates to
 * the account's identity policies); 2: named itself ("*", its ARN) */
static int ref_principal(uint8_t which, const char *arn, const char *account)
{
    switch (which) {
    case 0:
    case 1:
        return 2;
    case 2:
        return arn && account && strcmp(account, "123456789012") == 0 ? 1 : 0;
    case 3:
        return arn && account && strcmp(account, "444455556666") == 0 ? 1 : 0;
    case 4:
        return arn && strcmp(arn, "arn:aws:iam::123456789012:user/alice") == 0 ? 2 : 0;
    default:
        if (arn && strcmp(arn, "arn:aws:iam::123456789012:user/bob") == 0)
            return 2;
        return arn && account && strcmp(account, "444455556666") == 0 ? 1 : 0;
    }
}

/* *via_account: a repository policy statement that names the caller only through its account */
static bool ref_applies(const stmt_t *s, bool resource, const char *action, const char *res, const char *arn, const char *account,
                        const ref_ctx_t *ctx, bool *via_account)
{
    *via_account = false;
    bool a = false;
    for (size_t k = 0; k < s->na; k++)
        a |= ref_glob(action_pats[s->a[k]], strlen(action_pats[s->a[k]]), action, strlen(action), true);
    if (a == s->not_action)
        return false;
    if (s->has_resource) {
        bool r = false;
        for (size_t k = 0; k < s->nr; k++)
            r |= ref_arn(resource_pats[s->r[k]], res);
        if (r == s->not_resource)
            return false;
    }
    if (resource) {
        int named = ref_principal(s->principal, arn, account);
        if ((named != 0) == s->not_principal)
            return false;
        *via_account = !s->not_principal && named == 1;
    }
    for (size_t k = 0; k < s->nc; k++)
        if (!ref_cond(&s->c[k], ctx))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bytes_t b = {data, size};
    pol_t idp, resp;
    uint8_t shape = take(&b);
    bool have_id = (shape & 3) != 1, have_res = (shape & 3) != 0;
    gen_policy(&b, &idp, false);
    gen_policy(&b, &resp, true);

    const char *action = req_actions[take(&b) % N(req_actions)];
    const char *res = req_resources[take(&b) % N(req_resources)];
    uint8_t who = take(&b) % N(req_principals);
    const char *arn = req_principals[who], *account = req_accounts[who];
    ref_ctx_t ctx[N(cond_keys)];
    const char *store[N(cond_keys)][2];
    policy_context_entry_t entries[N(cond_keys)];
    size_t nentries = 0;
    for (size_t k = 0; k < N(cond_keys); k++) {
        uint8_t c = take(&b);
        ctx[k].present = (c & 3) != 0;
        ctx[k].n = (c & 3) == 1 ? 0 : (c & 3) == 2 ? 1 : 2;
        ctx[k].v[0] = ctx_values[(c >> 2) % N(ctx_values)];
        ctx[k].v[1] = ctx_values[(c >> 5) % N(ctx_values)];
        if (!ctx[k].present)
            continue;
        store[k][0] = ctx[k].v[0];
        store[k][1] = ctx[k].v[1];
        entries[nentries++] = (policy_context_entry_t){cond_keys[k], store[k], ctx[k].n};
    }

    /* the reference: the first applying Deny (identity first). Else, within
     * one account, the first identity Allow, else the first repository Allow
     * naming the caller itself (one naming only its account delegates);
     * across accounts an identity Allow and a repository Allow are both
     * needed, and the repository's (one naming the caller itself first)
     * decides. */
    int ref_decision = 0, ref_src = -1;
    size_t ref_index = 0;
    bool deny = false, have[3] = {false, false, false}; /* identity, repository direct, repository via account */
    size_t first[3] = {0, 0, 0};
    for (int src = 0; src < 2 && !deny; src++) {
        const pol_t *p = src ? &resp : &idp;
        if (!(src ? have_res : have_id))
            continue;
        for (size_t i = 0; i < p->n; i++) {
            bool via_account;
            if (!ref_applies(&p->s[i], src == 1, action, res, arn, account, ctx, &via_account))
                continue;
            if (p->s[i].deny) {
                ref_decision = 2, ref_src = src, ref_index = i, deny = true;
                break;
            }
            int kind = src == 0 ? 0 : via_account ? 2 : 1;
            if (!have[kind])
                have[kind] = true, first[kind] = i;
        }
    }
    if (!deny) {
        /* every request resource here is an ARN with its account as the 5th field */
        const char *acct = res;
        for (int k = 0; k < 4 && acct; k++)
            acct = strchr(acct, ':') ? strchr(acct, ':') + 1 : NULL;
        bool cross = arn && account && acct && strncmp(acct, account, 12) != 0;
        if (!cross && have[0])
            ref_decision = 1, ref_src = 0, ref_index = first[0];
        else if (!cross && have[1])
            ref_decision = 1, ref_src = 1, ref_index = first[1];
        else if (cross && have[0] && (have[1] || have[2]))
            ref_decision = 1, ref_src = 1, ref_index = have[1] ? first[1] : first[2];
    }

    static char iddoc[DOC_CAP], resdoc[DOC_CAP];
    size_t idlen = write_policy(&idp, false, iddoc), reslen = write_policy(&resp, true, resdoc);
    policy_err_t err;
    policy_t *ip = policy_parse(iddoc, idlen, POLICY_KIND_IDENTITY, &err);
    if (!ip)
        fprintf(stderr, "%s\n%s\n", err.msg, iddoc);
    FUZZ_CHECK(ip != NULL);
    policy_t *rp = policy_parse(resdoc, reslen, POLICY_KIND_RESOURCE, &err);
    if (!rp)
        fprintf(stderr, "%s\n%s\n", err.msg, resdoc);
    FUZZ_CHECK(rp != NULL);
    policy_named_t id = {"identity", ip}, rn = {"repository", rp};
    policy_request_t req = {.action = action,
                            .resource = res,
                            .principal_arn = arn,
                            .principal_account = (shape & 4) ? account : NULL,
                            .context = entries,
                            .n_context = nentries};
    policy_result_t r;
    policy_decision_t d = policy_evaluate(have_id ? &id : NULL, have_id ? 1 : 0, have_res ? &rn : NULL, &req, &r);
    bool same = (int)d == ref_decision;
    if (same && ref_decision)
        same = r.statement_index == ref_index && r.from_resource_policy == (ref_src == 1);
    if (!same)
        fprintf(stderr,
                "policy_evaluate: %d (#%zu, resource %d: %s), reference: %d (#%zu, resource %d)\n"
                "request %s on %s by %s\nidentity%s: %s\nrepository%s: %s\n",
                d, r.statement_index, r.from_resource_policy, r.reason, ref_decision, ref_index, ref_src == 1, action, res,
                arn ? arn : "(anonymous)", have_id ? "" : " (unused)", iddoc, have_res ? "" : " (unused)", resdoc);
    FUZZ_CHECK(same);
    policy_free(ip);
    policy_free(rp);
    return 0;
}
