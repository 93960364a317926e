/*
 * policies/evaluate.c — IAM's evaluation order over identity policies and a
 * repository policy, and the one-line explanation of the outcome.
 *
 * A statement applies when its action, resource, principal (resource policies
 * only) and every condition match. The first Deny that applies decides at
 * once; otherwise the first Allow that applies; otherwise nothing allowed it.
 * Evaluation allocates only to expand policy variables; if that fails the
 * answer is a deny (fail closed), never an allow.
 */
#include "policies/policies_internal.h"

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

/* 1 applies, 0 not (with *reach and *failed_cond saying where it stopped), -1 out of memory */
static int statement_applies(const policy_t *p, const pol_statement_t *st, const policy_request_t *req, pol_buf_t *b,
                             reach_t *reach, const pol_cond_t **failed_cond)
{
    const char *action = req->action ? req->action : "";
    const char *resource = req->resource ? req->resource : "";
    *reach = REACH_NONE;
    *failed_cond = NULL;
    if (!action_matches(st, action))
        return 0;
    *reach = REACH_ACTION;
    int r = resource_matches(p, st, req, resource, b);
    if (r <= 0)
        return r;
    *reach = REACH_RESOURCE;
    if (st->has_principal && pol_principal_match(&st->principal, req) == st->not_principal)
        return 0;
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

static void implicit_reason(policy_result_t *out, const policy_request_t *req, const near_miss_t *nm)
{
    const char *action = req->action ? req->action : "(no action)";
    const char *resource = req->resource ? req->resource : "(no resource)";
    int n = snprintf(out->reason, sizeof out->reason, "denied: no statement allows %s on %s", action, resource);
    if (!nm->pn || n < 0 || (size_t)n >= sizeof out->reason)
        return;
    char what[200];
    const pol_statement_t *st = &nm->pn->policy->statements[nm->idx];
    describe_statement(what, sizeof what, st->sid, nm->idx, nm->pn->name ? nm->pn->name : "(unnamed policy)");
    char *rest = out->reason + n;
    size_t cap = sizeof out->reason - (size_t)n;
    if (nm->reach == REACH_RESOURCE)
        snprintf(rest, cap, " (%s matches the action and resource, not the principal)", what);
    else if (nm->failed_cond)
        snprintf(rest, cap, " (%s matches, but its condition %s on %s does not hold)", what, nm->failed_cond->op_text,
                 nm->failed_cond->key);
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
    bool have_allow = false;
    policy_result_t allow = {0};
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
            int r = statement_applies(pn->policy, st, req, &b, &reach, &fc);
            if (r < 0) {
                free(b.p);
                memset(out, 0, sizeof *out);
                snprintf(out->reason, sizeof out->reason, "denied: evaluation ran out of memory");
                return POLICY_IMPLICIT_DENY;
            }
            if (r == 1 && st->deny) {
                free(b.p);
                set_decider(out, POLICY_EXPLICIT_DENY, pn, i, from_resource);
                return POLICY_EXPLICIT_DENY;
            }
            if (r == 1 && !have_allow) {
                have_allow = true;
                set_decider(&allow, POLICY_ALLOW, pn, i, from_resource);
            }
            if (r == 0 && !st->deny && reach >= REACH_RESOURCE && reach > nm.reach)
                nm = (near_miss_t){pn, i, from_resource, reach, fc};
        }
    }
    free(b.p);
    if (have_allow) {
        *out = allow;
        return POLICY_ALLOW;
    }
    implicit_reason(out, req, &nm);
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
