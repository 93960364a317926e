/*
 * policies/evaluate.c — IAM's evaluation order over identity policies and a
 * repository policy, and the one-line explanation of the outcome.
 *
 * A statement applies when its action, resource, principal (resource policies
 * only) and every condition match. The first Deny that applies decides at
 * once. Otherwise, as IAM decides within one account: an identity policy's
 * Allow allows, and so does a repository policy's Allow that names the
 * caller itself (its ARN, "*" or a service); one that names only the
 * caller's account delegates to the account and allows nothing by itself.
 * Across accounts (the caller's account is not the repository's) both sides
 * must allow: an identity policy, and the repository policy naming the
 * caller or its account.
 * Evaluation allocates only to expand policy variables; if that fails the
 * answer is a deny (fail closed), never an allow.
 */
#include "policies/policies_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* how far a statement got: the explanation of an implicit deny names the
 * Allow that came closest */
typedef enum { REACH_NONE, REACH_ACTION, REACH_RESOURCE, REACH_PRINCIPAL, REACH_ALL } reach_t;

static bool action_matches(const pol_statement_t *st, const char *action)
{
    bool any = false;
    for (size_t i = 0; i < st->actions.n && !any; i++)
        any = pol_action_match(st->actions.v[i], action);
    return any != st->not_action;
}

static int resource_matches(const policy_t *p, const pol_statement_t *st, const policy_request_t *req, const char *resource,
                            pol_buf_t *b)
{
    if (!st->has_resource)
        return 1; /* a resource policy's statement covers the resource it is attached to */
    bool any = false;
    for (size_t i = 0; i < st->resources.n && !any; i++) {
        int r = pol_expand(st->resources.v[i], p->version_2012, true, req, b);
        if (r < 0)
            return -1;
        any = r == 1 && pol_arn_match(b->p, b->len, resource);
    }
    return any != st->not_resource;
}

/* 1 applies, 0 not (with *reach and *failed_cond saying where it stopped), -1 out of memory;
 * *via_account when its Principal names the caller only through its account */
static int statement_applies(const policy_t *p, const pol_statement_t *st, const policy_request_t *req, pol_buf_t *b,
                             reach_t *reach, const pol_cond_t **failed_cond, bool *via_account)
{
    const char *action = req->action ? req->action : "";
    const char *resource = req->resource ? req->resource : "";
    *reach = REACH_NONE;
    *failed_cond = NULL;
    *via_account = false;
    if (!action_matches(st, action))
        return 0;
    *reach = REACH_ACTION;
    int r = resource_matches(p, st, req, resource, b);
    if (r <= 0)
        return r;
    *reach = REACH_RESOURCE;
    if (st->has_principal) {
        pol_principal_match_t m = pol_principal_match(&st->principal, req);
        if ((m != POL_PRINCIPAL_NO) == st->not_principal)
            return 0;
        *via_account = !st->not_principal && m == POL_PRINCIPAL_ACCOUNT;
    }
    *reach = REACH_PRINCIPAL;
    for (size_t i = 0; i < st->n_conds; i++) {
        r = pol_cond_eval(p, &st->conds[i], req, b);
        if (r < 0)
            return -1;
        if (r == 0) {
            *failed_cond = &st->conds[i];
            return 0;
        }
    }
    *reach = REACH_ALL;
    return 1;
}

static void describe_statement(char *buf, size_t cap, const char *sid, size_t idx, const char *name)
{
    if (sid && *sid)
        snprintf(buf, cap, "statement '%s' (#%zu) of %s", sid, idx, name);
    else
        snprintf(buf, cap, "statement #%zu of %s", idx, name);
}

static void set_decider(policy_result_t *out, policy_decision_t d, const policy_named_t *pn, size_t idx, bool from_resource)
{
    const pol_statement_t *st = &pn->policy->statements[idx];
    out->decision = d;
    out->policy_name = pn->name ? pn->name : "(unnamed policy)";
    out->sid = st->sid ? st->sid : "";
    out->statement_index = idx;
    out->from_resource_policy = from_resource;
    char what[200];
    describe_statement(what, sizeof what, out->sid, idx, out->policy_name);
    snprintf(out->reason, sizeof out->reason, "%s %s", d == POLICY_ALLOW ? "allowed by" : "explicitly denied by", what);
}

typedef struct {
    const policy_named_t *pn;
    size_t idx;
    bool from_resource;
    reach_t reach;
    const pol_cond_t *failed_cond;
} near_miss_t;

/* An Allow that applied but could not allow alone, and why not. */
typedef enum { LONE_NONE, LONE_ACCOUNT, LONE_CROSS_RESOURCE, LONE_CROSS_IDENTITY } lone_t;

typedef struct {
    lone_t why;
    const policy_named_t *pn;
    size_t idx;
    const char *principal_account, *resource_account;
} lone_allow_t;

/* Appends to a reason at rest (cap bytes left); a reason longer than its
 * buffer is clipped and ends in "..." to say so. */
static void append_reason(char *rest, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append_reason(char *rest, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(rest, cap, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= cap && cap >= 4)
        memcpy(rest + cap - 4, "...", 4);
}

static void implicit_reason(policy_result_t *out, const policy_request_t *req, const near_miss_t *nm, const lone_allow_t *lone)
{
    const char *action = req->action ? req->action : "(no action)";
    const char *resource = req->resource ? req->resource : "(no resource)";
    int n = snprintf(out->reason, sizeof out->reason, "denied: no statement allows %s on %s", action, resource);
    if (n < 0 || (size_t)n >= sizeof out->reason)
        return;
    char what[200];
    char *rest = out->reason + n;
    size_t cap = sizeof out->reason - (size_t)n;
    if (lone->why != LONE_NONE) {
        const pol_statement_t *st = &lone->pn->policy->statements[lone->idx];
        describe_statement(what, sizeof what, st->sid, lone->idx, lone->pn->name ? lone->pn->name : "(unnamed policy)");
        if (lone->why == LONE_ACCOUNT)
            append_reason(rest, cap,
                          " (%s names the account %s: that delegates to the account, and none of the caller's identity policies "
                          "allows it)",
                          what, lone->principal_account);
        else if (lone->why == LONE_CROSS_RESOURCE)
            append_reason(rest, cap,
                          " (%s allows this caller of account %s; across accounts its identity policies must allow it too)", what,
                          lone->principal_account);
        else
            append_reason(rest, cap,
                          " (%s allows it, but the repository is in account %s, not the caller's %s: the repository policy must "
                          "allow it too)",
                          what, lone->resource_account, lone->principal_account);
        return;
    }
    if (!nm->pn)
        return;
    const pol_statement_t *st = &nm->pn->policy->statements[nm->idx];
    describe_statement(what, sizeof what, st->sid, nm->idx, nm->pn->name ? nm->pn->name : "(unnamed policy)");
    if (nm->reach == REACH_RESOURCE)
        append_reason(rest, cap, " (%s matches the action and resource, not the principal)", what);
    else if (nm->failed_cond)
        append_reason(rest, cap, " (%s matches, but its condition %s on %s does not hold)", what, nm->failed_cond->op_text,
                      nm->failed_cond->key);
}

typedef struct {
    bool found;
    const policy_named_t *pn;
    size_t idx;
} first_allow_t;

static void note_allow(first_allow_t *a, const policy_named_t *pn, size_t idx)
{
    if (!a->found)
        *a = (first_allow_t){true, pn, idx};
}

policy_decision_t policy_evaluate(const policy_named_t *identity, size_t n_identity, const policy_named_t *resource_policy,
                                  const policy_request_t *req, policy_result_t *out)
{
    policy_result_t scratch_result;
    if (!out)
        out = &scratch_result;
    memset(out, 0, sizeof *out);
    out->decision = POLICY_IMPLICIT_DENY;
    if (!req) {
        snprintf(out->reason, sizeof out->reason, "denied: no request");
        return POLICY_IMPLICIT_DENY;
    }
    pol_buf_t b = {0};
    /* the first Allow of each kind that applied */
    first_allow_t by_identity = {0}, by_resource_direct = {0}, by_resource_account = {0};
    near_miss_t nm = {0};
    size_t n_sources = (identity ? n_identity : 0) + (resource_policy ? 1 : 0);
    for (size_t s = 0; s < n_sources; s++) {
        bool from_resource = identity == NULL || s >= n_identity;
        const policy_named_t *pn = from_resource ? resource_policy : &identity[s];
        if (!pn->policy)
            continue;
        for (size_t i = 0; i < pn->policy->n_statements; i++) {
            const pol_statement_t *st = &pn->policy->statements[i];
            reach_t reach;
            const pol_cond_t *fc;
            bool via_account;
            int r = statement_applies(pn->policy, st, req, &b, &reach, &fc, &via_account);
            if (r < 0) {
                free(b.p);
                memset(out, 0, sizeof *out);
                snprintf(out->reason, sizeof out->reason, "denied: evaluation ran out of memory");
                return POLICY_IMPLICIT_DENY;
            }
            if (r == 1 && st->deny) {
                /* a Deny naming the account applies to every principal of it */
                free(b.p);
                set_decider(out, POLICY_EXPLICIT_DENY, pn, i, from_resource);
                return POLICY_EXPLICIT_DENY;
            }
            if (r == 1)
                note_allow(!from_resource ? &by_identity : via_account ? &by_resource_account : &by_resource_direct, pn, i);
            if (r == 0 && !st->deny && reach >= REACH_RESOURCE && reach > nm.reach)
                nm = (near_miss_t){pn, i, from_resource, reach, fc};
        }
    }
    free(b.p);

    /* whose accounts: the caller's (given, or from its ARN) and the repository's */
    char principal_acct[64] = "", resource_acct[64] = "";
    if (req->principal_account && *req->principal_account)
        snprintf(principal_acct, sizeof principal_acct, "%s", req->principal_account);
    else if (req->principal_arn && !pol_arn_account(req->principal_arn, principal_acct, sizeof principal_acct))
        principal_acct[0] = '\0';
    if (!req->resource || !pol_arn_account(req->resource, resource_acct, sizeof resource_acct))
        resource_acct[0] = '\0';
    bool cross_account = req->principal_arn && principal_acct[0] && resource_acct[0] && strcmp(principal_acct, resource_acct) != 0;

    const first_allow_t *resource_allow = by_resource_direct.found ? &by_resource_direct : &by_resource_account;
    const first_allow_t *decider = NULL;
    lone_allow_t lone = {LONE_NONE, NULL, 0, principal_acct, resource_acct};
    if (!cross_account) {
        decider = by_identity.found ? &by_identity : by_resource_direct.found ? &by_resource_direct : NULL;
        if (!decider && by_resource_account.found)
            lone = (lone_allow_t){LONE_ACCOUNT, by_resource_account.pn, by_resource_account.idx, principal_acct, resource_acct};
    } else if (by_identity.found && resource_allow->found) {
        decider = resource_allow; /* the repository's owner granting the other account decides */
    } else if (resource_allow->found) {
        lone = (lone_allow_t){LONE_CROSS_RESOURCE, resource_allow->pn, resource_allow->idx, principal_acct, resource_acct};
    } else if (by_identity.found) {
        lone = (lone_allow_t){LONE_CROSS_IDENTITY, by_identity.pn, by_identity.idx, principal_acct, resource_acct};
    }
    if (decider) {
        set_decider(out, POLICY_ALLOW, decider->pn, decider->idx, decider->pn == resource_policy);
        return POLICY_ALLOW;
    }
    implicit_reason(out, req, &nm, &lone);
    return POLICY_IMPLICIT_DENY;
}

const char *policy_decision_name(policy_decision_t d)
{
    switch (d) {
    case POLICY_ALLOW:
        return "ALLOWED";
    case POLICY_EXPLICIT_DENY:
        return "DENIED (explicit)";
    case POLICY_IMPLICIT_DENY:
        break;
    }
    return "DENIED (implicit)";
}
