/*
 * tests/policies/fixture.h — helpers for the policies suites: parse a
 * document or a fixture file, build a request context from a short table,
 * and evaluate.
 */
#ifndef BERTH_TESTS_POLICIES_FIXTURE_H
#define BERTH_TESTS_POLICIES_FIXTURE_H

#include "policies/policies.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_ACCOUNT "123456789012"
#define FX_REPO "arn:aws:ecr:us-east-1:123456789012:repository/team/app"
#define FX_ALICE "arn:aws:iam::123456789012:user/alice"
#define FX_BOB "arn:aws:iam::123456789012:user/bob"
#define FX_OTHER "arn:aws:iam::444455556666:user/carol"

/* the most values one context key takes in these tests */
#define FX_MAX_VALUES 6
/* a context key with values[0] == NULL is present with no values (an empty set) */
typedef struct {
    const char *key;
    const char *values[FX_MAX_VALUES];
} fx_kv_t;

static inline policy_t *fx_parse(const char *json, policy_kind_t kind)
{
    policy_err_t err = {{0}};
    policy_t *p = policy_parse(json, strlen(json), kind, &err);
    cr_assert_not_null(p, "policy did not parse: %s\n%s", err.msg, json);
    return p;
}

/* the parse error of a document that must be refused */
static inline const char *fx_parse_error(const char *json, policy_kind_t kind)
{
    static policy_err_t err;
    memset(&err, 0, sizeof err);
    policy_t *p = policy_parse(json, strlen(json), kind, &err);
    if (p) {
        policy_free(p);
        return NULL;
    }
    return err.msg;
}

static inline char *fx_read(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", FIXTURES_DIR, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    static char buf[POLICY_MAX_BYTES + 2];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static inline policy_t *fx_fixture(const char *name, policy_kind_t kind)
{
    return fx_parse(fx_read(name), kind);
}

/* The last evaluation's result, for tests that look at the explanation. */
static policy_result_t fx_result;

/* The request: principal may be NULL (anonymous); ctx is terminated by a {NULL} entry, or NULL. */
static inline policy_decision_t fx_decide(const policy_t *identity, const policy_t *resource, const char *action,
                                          const char *res_arn, const char *principal, const fx_kv_t *ctx)
{
    policy_context_entry_t entries[32];
    size_t n = 0;
    for (; ctx && ctx[n].key; n++) {
        cr_assert_lt(n, sizeof entries / sizeof entries[0]);
        size_t nv = 0;
        while (nv < FX_MAX_VALUES && ctx[n].values[nv])
            nv++;
        entries[n] = (policy_context_entry_t){ctx[n].key, ctx[n].values, nv};
    }
    char account[13] = "";
    if (principal && strncmp(principal, "arn:aws:iam::", 13) == 0)
        memcpy(account, principal + 13, 12);
    policy_request_t req = {.action = action,
                            .resource = res_arn,
                            .principal_arn = principal,
                            .principal_account = account[0] ? account : NULL,
                            .context = entries,
                            .n_context = n};
    policy_named_t id = {"identity", identity}, rp = {"repository policy", resource};
    return policy_evaluate(identity ? &id : NULL, identity ? 1 : 0, resource ? &rp : NULL, &req, &fx_result);
}

/* whether a Condition block holds for the context, in a 2012-10-17 identity policy that otherwise allows */
static inline bool fx_cond(const char *condition, const fx_kv_t *ctx)
{
    char doc[POLICY_MAX_BYTES];
    snprintf(doc, sizeof doc,
             "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\"Resource\":\"*\","
             "\"Condition\":%s}}",
             condition);
    policy_t *p = fx_parse(doc, POLICY_KIND_IDENTITY);
    policy_decision_t d = fx_decide(p, NULL, "ecr:BatchGetImage", FX_REPO, FX_ALICE, ctx);
    policy_free(p);
    return d == POLICY_ALLOW;
}

#define CTX(...) ((const fx_kv_t[]){__VA_ARGS__, {NULL, {NULL}}})

#endif
