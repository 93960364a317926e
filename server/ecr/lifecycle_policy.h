/*
 * server/ecr/lifecycle_policy.h — ECR lifecycle policies: parse and check a
 * policy's JSON, and decide which images of a repository it expires.
 * Pure (jansson only: no store, no clock, no globals), so that the unit
 * tests, the fuzz target, the preview and the real runs call the same code
 * on the same data.
 *
 * Evaluation follows ECR's documented rules:
 *   - rules run by rulePriority, lowest first;
 *   - an image is expired by at most one rule;
 *   - an image that matched the tag requirements of a rule is never expired
 *     by a later rule (but later rules still count it: imageCountMoreThan
 *     keeps the newest N of all it selects);
 *   - imageCountMoreThan sorts by push time, newest first, and expires all
 *     after the first countNumber; sinceImagePushed expires those pushed
 *     more than countNumber days before `now`;
 *   - tagPrefixList / tagPatternList: every entry must match some tag of the
 *     image.
 * And Berth's protection: a manifest that an index which stays references,
 * and a referrer (signature, SBOM) whose subject stays, is never expired
 * (ECR: "an image referenced by a manifest list cannot be expired without
 * the manifest list being deleted first").
 */
#ifndef BERTH_SERVER_ECR_LIFECYCLE_POLICY_H
#define BERTH_SERVER_ECR_LIFECYCLE_POLICY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ECR: lifecyclePolicyText is at most 30,720 characters. */
#define ECR_LC_TEXT_MAX 30720
/* Bounds of our own (ECR documents none; the text bound caps them anyway). */
#define ECR_LC_RULES_MAX 100
#define ECR_LC_LIST_MAX 100
#define ECR_LC_DESCRIPTION_MAX 1024
/* ECR: up to 4 wildcards per tagPatternList entry. */
#define ECR_LC_WILDCARDS_MAX 4
/* A tag is at most 128 characters: a longer prefix or pattern never matches. */
#define ECR_LC_TAG_MAX 128
/* countNumber days in seconds must not overflow: 100 years is plenty. */
#define ECR_LC_DAYS_MAX 36500

typedef enum { ECR_LC_TAGGED, ECR_LC_UNTAGGED, ECR_LC_ANY } ecr_lc_tag_status_t;
typedef enum { ECR_LC_COUNT_MORE_THAN, ECR_LC_SINCE_PUSHED } ecr_lc_count_type_t;

typedef struct {
    int64_t priority;
    ecr_lc_tag_status_t tag_status;
    char **prefixes; /* tagPrefixList (NULL when absent) */
    size_t nprefixes;
    char **patterns; /* tagPatternList (NULL when absent) */
    size_t npatterns;
    ecr_lc_count_type_t count_type;
    int64_t count_number;
} ecr_lc_rule_t;

typedef struct {
    ecr_lc_rule_t *rules; /* sorted by priority, lowest first */
    size_t nrules;
} ecr_lc_policy_t;

typedef struct {
    char field[128]; /* the member at fault: "rules[0].selection.countNumber" ("" for the whole text) */
    char msg[384];   /* a sentence naming the field */
} ecr_lc_err_t;

/* Parses `text` (len bytes). 0 with *out filled (free with ecr_lc_policy_free);
 * -1 with err filled when the text is not a valid lifecycle policy; -2 when
 * out of memory (err filled too). */
int ecr_lc_parse(const char *text, size_t len, ecr_lc_policy_t *out, ecr_lc_err_t *err);
void ecr_lc_policy_free(ecr_lc_policy_t *p);

/* '*' matches any run of characters (also none); everything else itself. */
int ecr_lc_pattern_match(const char *pattern, const char *tag);

/* One image of the repository, as the evaluator needs it. */
typedef struct {
    const char *digest;
    const char *const *tags;
    size_t ntags;
    int64_t pushed_at;           /* seconds since the epoch */
    const char *subject;         /* the digest of its subject (a referrer), or NULL */
    const char *const *children; /* an index's manifests, by digest */
    size_t nchildren;
} ecr_lc_image_t;

/* Which images `p` expires at time `now`: rule_out[i] is the rulePriority
 * that expires images[i], or 0 when it stays. 0, or -2 when out of memory
 * (rule_out then all 0). */
int ecr_lc_evaluate(const ecr_lc_policy_t *p, const ecr_lc_image_t *images, size_t n, int64_t now, int64_t *rule_out);

#endif
