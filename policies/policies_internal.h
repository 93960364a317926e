/*
 * policies/policies_internal.h — what the files of policies/ share and no
 * other part may see: the parsed form of a document and the matchers.
 *
 * A parsed policy is a tree of owned C strings: nothing points into the JSON
 * it came from, and nothing is resolved at parse time that depends on the
 * request (policy variables are expanded during evaluation).
 *
 *   policy_t
 *     version_2012        policy variables are substituted only then
 *     statements[]        pol_statement_t
 *       sid, deny
 *       principal         "*" or lists per type (resource policies only)
 *       actions[]         with not_action
 *       resources[]       with not_resource; none in a resource policy means
 *                         "the resource the policy is attached to"
 *       conds[]           one per (operator, key): every one must hold
 *         op, qualifier, if_exists, key, values[] (values are ORed)
 */
#ifndef BERTH_POLICIES_INTERNAL_H
#define BERTH_POLICIES_INTERNAL_H

#include "policies/policies.h"

/* The deepest a valid policy goes is 6 (document, Statement array, statement,
 * Condition, operator, value array); a little slack lets a wrong type at
 * those depths get a message naming its field rather than "too deep". */
#define POLICY_MAX_DEPTH 8

typedef struct {
    char **v;
    size_t n;
} pol_strs_t;

/* the comparison an operator makes on one (context value, policy value) pair */
typedef enum {
    POL_CMP_STRING_EQUALS,
    POL_CMP_STRING_EQUALS_IC,
    POL_CMP_STRING_LIKE,
    POL_CMP_NUMERIC_EQ,
    POL_CMP_NUMERIC_LT,
    POL_CMP_NUMERIC_LE,
    POL_CMP_NUMERIC_GT,
    POL_CMP_NUMERIC_GE,
    POL_CMP_DATE_EQ,
    POL_CMP_DATE_LT,
    POL_CMP_DATE_LE,
    POL_CMP_DATE_GT,
    POL_CMP_DATE_GE,
    POL_CMP_BOOL,
    POL_CMP_BINARY,
    POL_CMP_IP,
    POL_CMP_ARN,
    POL_CMP_NULL,
} pol_cmp_t;

/* what a policy value of an operator must look like (checked at parse time
 * unless it holds a policy variable) */
typedef enum { POL_VT_STRING, POL_VT_NUMBER, POL_VT_DATE, POL_VT_BOOL, POL_VT_BASE64, POL_VT_IP, POL_VT_ARN } pol_vtype_t;

typedef struct {
    const char *name; /* "StringNotEquals" */
    pol_cmp_t cmp;
    bool negated; /* true when the context value must match none of the values */
    pol_vtype_t vtype;
} pol_op_info_t;

typedef enum { POL_QUAL_NONE, POL_QUAL_ANY, POL_QUAL_ALL } pol_qual_t;

typedef struct {
    const pol_op_info_t *op;
    pol_qual_t qual;
    bool if_exists;
    char *op_text; /* the operator as written, for explanations */
    char *key;
    pol_strs_t values;
} pol_cond_t;

typedef struct {
    bool any; /* "*" or {"AWS": "*"} */
    pol_strs_t aws, service, federated, canonical;
} pol_principal_t;

typedef struct {
    char *sid; /* NULL when the statement has none */
    bool deny;
    bool has_principal, not_principal;
    pol_principal_t principal;
    bool not_action;
    pol_strs_t actions;
    bool has_resource, not_resource;
    pol_strs_t resources;
    pol_cond_t *conds;
    size_t n_conds;
} pol_statement_t;

struct policy {
    policy_kind_t kind;
    bool version_2012;
    char *id;
    pol_statement_t *statements;
    size_t n_statements;
};

/* ------------------------------------------------------------ match.c */

/* a growable buffer for expanded patterns; evaluation's only allocation */
typedef struct {
    char *p;
    size_t len, cap;
} pol_buf_t;

#define POL_GLOB_ICASE 1u   /* letters compare case-insensitively (actions) */
#define POL_GLOB_ESCAPES 2u /* '\' makes the next character literal (expanded patterns) */

bool pol_glob(const char *pat, size_t plen, const char *s, size_t slen, unsigned flags);
/* ARN pattern (with escapes) against an ARN: the first five ':'-separated
 * segments match one by one, the rest (the resource part) as one; when either
 * side is not ARN-shaped, the whole strings match as one glob. */
bool pol_arn_match(const char *pat, size_t plen, const char *arn);
/* an action pattern ("ecr:Get*", "*") against an action, case-insensitively */
bool pol_action_match(const char *pat, const char *action);

/* Expands policy variables of `tmpl` into `out` (replacing its content). With
 * `variables` false the text is copied as is. With `glob` the copied text is
 * escaped for pol_glob(POL_GLOB_ESCAPES) while the template's own `*`/`?` stay
 * wildcards. Returns 1 when done, 0 when a variable has no value and no
 * default (the text then matches nothing), -1 when out of memory. */
int pol_expand(const char *tmpl, bool variables, bool glob, const policy_request_t *req, pol_buf_t *out);
/* -1 when every `${` of `s` starts a well-formed variable, else the offset of
 * the first one that does not */
long pol_variables_check(const char *s);
bool pol_has_variable(const char *s);

/* The context entry for `key` (case-insensitive), the first when repeated;
 * NULL when absent. */
const policy_context_entry_t *pol_ctx_find(const policy_request_t *req, const char *key);

/* 12 digits */
bool pol_is_account_id(const char *s);
/* the account segment (5th) of an ARN into out; false when not ARN-shaped */
bool pol_arn_account(const char *arn, char *out, size_t cap);
/* How a statement's Principal names the caller. IAM treats the two kinds of
 * match differently: naming a user, role, "*" or a service grants to that
 * caller directly, while naming the account (its id or its :root ARN) only
 * delegates to the account, whose identity policies must still allow. */
typedef enum {
    POL_PRINCIPAL_NO,
    POL_PRINCIPAL_ACCOUNT, /* only through the caller's account */
    POL_PRINCIPAL_DIRECT,  /* the caller itself, "*", or a service */
} pol_principal_match_t;
pol_principal_match_t pol_principal_match(const pol_principal_t *pr, const policy_request_t *req);

/* -------------------------------------------------------- condition.c */

/* Resolves "ForAnyValue:StringLikeIfExists" and the like; NULL when unknown. */
const pol_op_info_t *pol_op_lookup(const char *name, pol_qual_t *qual, bool *if_exists);
/* whether a policy value (without variables) is valid for the operator */
bool pol_value_valid(pol_vtype_t t, const char *s);
/* 1 holds, 0 does not, -1 out of memory */
int pol_cond_eval(const policy_t *p, const pol_cond_t *c, const policy_request_t *req, pol_buf_t *scratch);

/* the value parsers, shared by parse-time validation and evaluation */
bool pol_parse_number(const char *s, double *out);
typedef struct {
    int64_t sec;
    int32_t nsec;
} pol_time_t;
bool pol_parse_date(const char *s, pol_time_t *out);
bool pol_parse_bool(const char *s, bool *out);
typedef struct {
    int family; /* 4 or 6 */
    unsigned char addr[16];
    unsigned prefix;
} pol_cidr_t;
/* an address, or a CIDR block when `allow_prefix` */
bool pol_parse_ip(const char *s, bool allow_prefix, pol_cidr_t *out);
/* decodes standard base64 into out (NULL only to validate); the decoded length, or -1 */
long pol_base64_decode(const char *s, unsigned char *out, size_t cap);

#endif
