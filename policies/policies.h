/*
 * policies/policies.h — IAM-style policy documents: parse, validate,
 * evaluate, explain.
 *
 * Pure: no I/O, no globals, no clock (the caller passes the time in the
 * request context as aws:CurrentTime / aws:EpochTime). The server, the
 * `berth policy simulate` command and the tests call the same functions on
 * the same data, so they give the same answers.
 *
 * Evaluation follows IAM within one account:
 *   1. an explicit Deny in any applicable statement (identity policies or the
 *      repository policy) wins;
 *   2. else an Allow in an identity policy or in the repository policy allows;
 *   3. else the request is implicitly denied.
 * Actions match case-insensitively with `*` and `?`; resource ARNs match
 * case-sensitively with `*` and `?` (a wildcard does not cross a `:` of the
 * ARN's first five segments). Conditions: every key of a block must hold
 * (AND), any value of a key may match (OR).
 *
 * Failure: functions that can fail return NULL or a negative policy_status_t
 * and fill a policy_err_t whose message names the field, as IAM's
 * MalformedPolicyDocument does ("Statement[1].Condition.StringLike: ...").
 */
#ifndef BERTH_POLICIES_H
#define BERTH_POLICIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* IAM caps a managed policy at 6,144 characters and ECR a repository policy
 * at 10,240; we accept up to this and refuse larger documents. */
#define POLICY_MAX_BYTES (10u * 1024)

typedef enum {
    POLICY_OK = 0,
    POLICY_EMALFORMED = -1, /* not JSON, or not a valid policy document */
    POLICY_ENOMEM = -2,
} policy_status_t;

typedef struct {
    char msg[256];
} policy_err_t;

/* A code in a few words ("malformed policy"); "unknown" for a value that is not one. */
const char *policy_status_name(policy_status_t s);

/* Identity policies attach to a principal and must not name a Principal;
 * resource (repository) policies must. */
typedef enum { POLICY_KIND_IDENTITY, POLICY_KIND_RESOURCE } policy_kind_t;

typedef struct policy policy_t;

/* Parses and validates a document of `len` bytes (need not be NUL-terminated).
 * NULL on failure with err->msg naming the field. The result owns copies of
 * everything it needs; it does not point into `json`. */
policy_t *policy_parse(const char *json, size_t len, policy_kind_t kind, policy_err_t *err);
void policy_free(policy_t *p);

/* One request context key. Keys compare case-insensitively (as IAM's do);
 * a multi-valued key (for ForAnyValue:/ForAllValues:) has n_values > 1. */
typedef struct {
    const char *key; /* "aws:SourceIp", "aws:username", "ecr:ResourceTag/team", ... */
    const char *const *values;
    size_t n_values;
} policy_context_entry_t;

typedef struct {
    const char *action;   /* "ecr:BatchGetImage" */
    const char *resource; /* "arn:aws:ecr:us-east-1:123456789012:repository/team/app" */
    /* The caller: "arn:aws:iam::123456789012:user/alice", or NULL when anonymous.
     * Matched against a repository policy's Principal; an anonymous caller
     * matches only "*" / {"AWS": "*"}. */
    const char *principal_arn;
    const char *principal_account; /* "123456789012"; an AWS principal of just the account id matches it */
    /* Context keys, including aws:CurrentTime (ISO 8601) and aws:EpochTime, which
     * the caller supplies. Policy variables (${aws:username}) resolve from here. */
    const policy_context_entry_t *context;
    size_t n_context;
} policy_request_t;

typedef enum {
    POLICY_IMPLICIT_DENY = 0, /* nothing allowed it */
    POLICY_ALLOW = 1,
    POLICY_EXPLICIT_DENY = 2,
} policy_decision_t;

/* A policy with the name the caller knows it by ("AdminAccess", "repository
 * policy of team/app"), which explanations repeat. */
typedef struct {
    const char *name;
    const policy_t *policy;
} policy_named_t;

/* Why a decision was made: the deciding statement, or none. */
typedef struct {
    policy_decision_t decision;
    /* The deciding statement (the first explicit Deny that applied, else the
     * first Allow): its policy's name, its Sid ("" when it has none) and its
     * index in the policy's Statement array. policy_name is NULL for an
     * implicit deny. Points into the caller's policy_named_t / the policy. */
    const char *policy_name;
    const char *sid;
    size_t statement_index;
    bool from_resource_policy;
    /* One line a user can read: "allowed by statement 'AllowPull' (#0) of
     * AdminAccess", "denied: no statement allows ecr:PutImage on ...".
     * Sized for the longest reason with a 256-character repository name in
     * its ARN and a policy named by a file path a few hundred bytes deep
     * (320 clipped a fixture's path in a CI checkout 12 bytes deeper than
     * ours); longer ones are clipped and end in "...". */
    char reason[1024];
} policy_result_t;

/* Evaluates `req` against the principal's identity policies and, when not
 * NULL, the repository's resource policy. Never fails: a policy that cannot
 * be evaluated for this request (a condition on a missing key, a malformed
 * value in the context) simply does not apply, as in IAM. */
policy_decision_t policy_evaluate(const policy_named_t *identity, size_t n_identity, const policy_named_t *resource_policy,
                                  const policy_request_t *req, policy_result_t *out);

const char *policy_decision_name(policy_decision_t d); /* "ALLOWED", "DENIED (implicit)", "DENIED (explicit)" */

#endif
