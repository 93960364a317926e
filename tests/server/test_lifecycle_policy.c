/*
 * tests/server/test_lifecycle_policy.c — ECR lifecycle policies
 * (server/ecr/lifecycle_policy.c): which images a policy expires, for each
 * example of ECR's "Examples of lifecycle policies" page, what stays because
 * an index or a subject that stays needs it, and which policies are refused,
 * each refusal naming the field at fault.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "server/ecr/lifecycle_policy.h"

/* the tables below leave subject and children out where an image has none */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define DAY 86400
#define NOW 2000000000

/* An image: digest letter, age in days, up to 3 tags. */
typedef struct {
    const char *digest;
    int days;
    const char *tags[3];
    const char *subject;
    const char *children[3];
} img_t;

static size_t count(const char *const *l, size_t cap)
{
    size_t n = 0;
    while (n < cap && l[n])
        n++;
    return n;
}

/* Evaluates policy text over imgs; writes "A B" style list of expired digests with their rule into out. */
static void run(const char *policy, const img_t *imgs, size_t n, char *out, size_t cap)
{
    ecr_lc_policy_t p;
    ecr_lc_err_t err;
    cr_assert_eq(ecr_lc_parse(policy, strlen(policy), &p, &err), 0, "%s: %s", policy, err.msg);
    ecr_lc_image_t im[16];
    int64_t rule[16];
    cr_assert_leq(n, 16);
    for (size_t i = 0; i < n; i++)
        im[i] = (ecr_lc_image_t){.digest = imgs[i].digest,
                                 .tags = imgs[i].tags,
                                 .ntags = count(imgs[i].tags, 3),
                                 .pushed_at = NOW - (int64_t)imgs[i].days * DAY - 1,
                                 .subject = imgs[i].subject,
                                 .children = imgs[i].children,
                                 .nchildren = count(imgs[i].children, 3)};
    cr_assert_eq(ecr_lc_evaluate(&p, im, n, NOW, rule), 0);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (rule[i]) {
            size_t l = strlen(out);
            snprintf(out + l, cap - l, "%s%s:%lld", l ? " " : "", imgs[i].digest, (long long)rule[i]);
        }
    }
    ecr_lc_policy_free(&p);
}

#define EXPECT(policy, imgs, want)                                                                                                 \
    do {                                                                                                                           \
        char got_[512];                                                                                                            \
        run(policy, imgs, sizeof(imgs) / sizeof(imgs[0]), got_, sizeof(got_));                                                     \
        cr_assert_str_eq(got_, want);                                                                                              \
    } while (0)

/* ECR: "Filtering on image age" — untagged images older than 14 days expire. */
Test(lifecycle_examples, untagged_images_older_than_14_days_expire)
{
    img_t imgs[] = {{"A", 20, {NULL}}, {"B", 15, {NULL}}, {"C", 13, {NULL}}, {"D", 30, {"latest"}}};
    EXPECT("{\"rules\":[{\"rulePriority\":1,\"description\":\"Expire images older than 14 days\",\"selection\":{\"tagStatus\":"
           "\"untagged\",\"countType\":\"sinceImagePushed\",\"countUnit\":\"days\",\"countNumber\":14},\"action\":{\"type\":"
           "\"expire\"}}]}",
           imgs, "A:1 B:1");
}

/* ECR: "Filtering on image count" — only the newest untagged image stays. */
Test(lifecycle_examples, only_the_newest_untagged_image_stays)
{
    img_t imgs[] = {{"A", 3, {NULL}}, {"B", 1, {NULL}}, {"C", 2, {NULL}}, {"D", 9, {"v1"}}};
    EXPECT("{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"untagged\",\"countType\":\"imageCountMoreThan\","
           "\"countNumber\":1},\"action\":{\"type\":\"expire\"}}]}",
           imgs, "A:1 C:1");
}

static const char *two_rules =
    "{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"tagged\",\"tagPrefixList\":[\"prod\"],"
    "\"countType\":\"imageCountMoreThan\",\"countNumber\":1},\"action\":{\"type\":\"expire\"}},"
    "{\"rulePriority\":2,\"selection\":{\"tagStatus\":\"tagged\",\"tagPrefixList\":[\"beta\"],"
    "\"countType\":\"imageCountMoreThan\",\"countNumber\":1},\"action\":{\"type\":\"expire\"}}]}";

/* ECR: "Filtering on multiple rules", example A: B is kept by rule 1, which it
 * matched, though rule 2 would expire it. */
Test(lifecycle_examples, multiple_rules_example_a_an_image_matched_by_a_higher_rule_is_not_expired_by_a_lower_one)
{
    img_t imgs[] = {{"A", 10, {"beta-1", "prod-1"}}, {"B", 9, {"beta-2", "prod-2"}}, {"C", 8, {"beta-3"}}};
    EXPECT(two_rules, imgs, "A:1");
}

/* ECR: "Filtering on multiple rules", example B: rule 2 still counts A and B
 * (newest first: D, C, B, A) and expires C. */
Test(lifecycle_examples, multiple_rules_example_b_lower_rules_count_what_higher_rules_selected)
{
    img_t imgs[] = {{"A", 12, {"beta-1", "prod-1"}}, {"B", 11, {"beta-2", "prod-2"}}, {"C", 10, {"beta-3"}}, {"D", 9, {"beta-4"}}};
    EXPECT(two_rules, imgs, "A:1 C:2");
}

/* ECR: "Filtering on multiple tags in a single rule": every prefix must match some tag. */
Test(lifecycle_examples, every_prefix_of_the_list_must_match_a_tag)
{
    img_t imgs[] = {
        {"A", 12, {"alpha-1"}}, {"B", 11, {"beta-1"}}, {"C", 10, {"alpha-2", "beta-2"}}, {"D", 4, {"alpha-3", "beta-3"}}};
    EXPECT("{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"tagged\",\"tagPrefixList\":[\"alpha\",\"beta\"],"
           "\"countType\":\"sinceImagePushed\",\"countUnit\":\"days\",\"countNumber\":5},\"action\":{\"type\":\"expire\"}}]}",
           imgs, "C:1");
    EXPECT("{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"tagged\",\"tagPrefixList\":[\"alpha\",\"beta\"],"
           "\"countType\":\"imageCountMoreThan\",\"countNumber\":1},\"action\":{\"type\":\"expire\"}}]}",
           imgs, "C:1");
}

/* ECR: "Filtering on all images": tagStatus any, tagged or not. */
Test(lifecycle_examples, any_selects_tagged_and_untagged_images)
{
    img_t imgs[] = {{"A", 20, {NULL}}, {"B", 15, {"v1"}}, {"C", 1, {"v2"}}};
    EXPECT("{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"any\",\"countType\":\"sinceImagePushed\","
           "\"countUnit\":\"days\",\"countNumber\":14},\"action\":{\"type\":\"expire\"}}]}",
           imgs, "A:1 B:1");
    EXPECT("{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\","
           "\"countNumber\":1},\"action\":{\"type\":\"expire\"}}]}",
           imgs, "A:1 B:1");
}

/* ECR: tagged and untagged rules in one policy (untagged after 1 day; keep 2 release-*; anything after 30 days). */
Test(lifecycle_examples, tagged_and_untagged_rules_in_one_policy)
{
    img_t imgs[] = {{"A", 2, {NULL}},        {"B", 0, {NULL}},   {"C", 5, {"release-1"}}, {"D", 4, {"release-2"}},
                    {"E", 3, {"release-3"}}, {"F", 40, {"dev"}}, {"G", 10, {"dev-2"}}};
    EXPECT("{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"untagged\",\"countType\":\"sinceImagePushed\","
           "\"countUnit\":\"days\",\"countNumber\":1},\"action\":{\"type\":\"expire\"}},"
           "{\"rulePriority\":2,\"selection\":{\"tagStatus\":\"tagged\",\"tagPrefixList\":[\"release-\"],\"countType\":"
           "\"imageCountMoreThan\",\"countNumber\":2},\"action\":{\"type\":\"expire\"}},"
           "{\"rulePriority\":3,\"selection\":{\"tagStatus\":\"any\",\"countType\":\"sinceImagePushed\",\"countUnit\":\"days\","
           "\"countNumber\":30},\"action\":{\"type\":\"expire\"}}]}",
           imgs, "A:1 C:2 F:3");
}

/* ECR: tagPatternList "prod*" selects as tagPrefixList "prod" does; wildcards anywhere. */
Test(lifecycle_examples, tag_pattern_list_with_wildcards)
{
    img_t imgs[] = {{"A", 3, {"prod-1"}}, {"B", 2, {"prod-2"}}, {"C", 1, {"staging"}}, {"D", 5, {"my-test-1-2-3"}}};
    EXPECT("{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"tagged\",\"tagPatternList\":[\"prod*\"],\"countType\":"
           "\"imageCountMoreThan\",\"countNumber\":1},\"action\":{\"type\":\"expire\"}}]}",
           imgs, "A:1");
    EXPECT("{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"tagged\",\"tagPatternList\":[\"*test*1*2*3\"],"
           "\"countType\":\"sinceImagePushed\",\"countUnit\":\"days\",\"countNumber\":1},\"action\":{\"type\":\"expire\"}}]}",
           imgs, "D:1");
}

Test(lifecycle_match, wildcards_match_any_run_including_none)
{
    cr_assert(ecr_lc_pattern_match("prod*", "prod"));
    cr_assert(ecr_lc_pattern_match("prod*", "prod-7"));
    cr_assert(!ecr_lc_pattern_match("prod*", "xprod"));
    cr_assert(ecr_lc_pattern_match("*test*1*2*3", "test123"));
    cr_assert(ecr_lc_pattern_match("*test*1*2*3", "a-test-1-b-2-c-3"));
    cr_assert(!ecr_lc_pattern_match("*test*1*2*3", "a-test-1-2-3-x"));
    cr_assert(ecr_lc_pattern_match("v*.*", "v1.2"));
    cr_assert(!ecr_lc_pattern_match("v1", "v12"));
    cr_assert(ecr_lc_pattern_match("****", ""));
}

static const char *untagged_keep_0 =
    "{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"untagged\",\"countType\":"
    "\"sinceImagePushed\",\"countUnit\":\"days\",\"countNumber\":1},\"action\":{\"type\":\"expire\"}}]}";

Test(lifecycle_protection, the_children_of_a_kept_index_are_not_expired_as_untagged)
{
    img_t imgs[] = {{"I", 9, {"multi"}, NULL, {"amd", "arm"}}, {"amd", 9, {NULL}}, {"arm", 9, {NULL}}, {"lone", 9, {NULL}}};
    EXPECT(untagged_keep_0, imgs, "lone:1");
}

Test(lifecycle_protection, the_children_of_an_expired_index_go_with_it)
{
    img_t imgs[] = {{"I", 9, {NULL}, NULL, {"amd", "arm"}}, {"amd", 9, {NULL}}, {"arm", 9, {NULL}}};
    EXPECT(untagged_keep_0, imgs, "I:1 amd:1 arm:1");
}

Test(lifecycle_protection, a_referrer_of_a_kept_subject_stays_and_so_does_its_own_referrer)
{
    img_t imgs[] = {{"app", 9, {"v1"}}, {"sig", 9, {NULL}, "app"}, {"sigsig", 9, {NULL}, "sig"}, {"orphan", 9, {NULL}, "gone"}};
    EXPECT(untagged_keep_0, imgs, "orphan:1");
}

Test(lifecycle_protection, a_kept_child_index_keeps_its_own_children)
{
    img_t imgs[] = {{"top", 9, {"t"}, NULL, {"mid"}}, {"mid", 9, {NULL}, NULL, {"leaf"}}, {"leaf", 9, {NULL}}};
    EXPECT(untagged_keep_0, imgs, "");
}

/* ---- refusals ---------------------------------------------------------------- */

static void refused(const char *text, const char *field)
{
    ecr_lc_policy_t p;
    ecr_lc_err_t err;
    int rc = ecr_lc_parse(text, strlen(text), &p, &err);
    cr_assert_eq(rc, -1, "accepted: %s", text);
    cr_assert_str_eq(err.field, field, "%s: %s", text, err.msg);
    if (field[0])
        cr_assert(strstr(err.msg, field) != NULL, "%s does not name %s", err.msg, field);
}

#define RULE(sel) "{\"rules\":[{\"rulePriority\":1,\"selection\":" sel ",\"action\":{\"type\":\"expire\"}}]}"

Test(lifecycle_refusals, each_names_the_field_at_fault)
{
    refused("", "");
    refused("[]", "");
    refused("{\"rules\":[]}", "rules");
    refused("{\"rules\":{}}", "rules");
    refused("{\"rulez\":[]}", "rulez");
    refused("{}", "rules");
    refused("{\"rules\":[1]}", "rules[0]");
    refused("{\"rules\":[{\"selection\":{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\",\"countNumber\":1},"
            "\"action\":{\"type\":\"expire\"}}]}",
            "rules[0].rulePriority");
    refused("{\"rules\":[{\"rulePriority\":0,\"selection\":{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\","
            "\"countNumber\":1},\"action\":{\"type\":\"expire\"}}]}",
            "rules[0].rulePriority");
    refused("{\"rules\":[{\"rulePriority\":\"1\",\"selection\":{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\","
            "\"countNumber\":1},\"action\":{\"type\":\"expire\"}}]}",
            "rules[0].rulePriority");
    refused("{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\","
            "\"countNumber\":1},\"action\":{\"type\":\"delete\"}}]}",
            "rules[0].action.type");
    refused("{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\","
            "\"countNumber\":1}}]}",
            "rules[0].action");
    refused(RULE("{\"tagStatus\":\"some\",\"countType\":\"imageCountMoreThan\",\"countNumber\":1}"),
            "rules[0].selection.tagStatus");
    refused(RULE("{\"countType\":\"imageCountMoreThan\",\"countNumber\":1}"), "rules[0].selection.tagStatus");
    refused(RULE("{\"tagStatus\":\"tagged\",\"countType\":\"imageCountMoreThan\",\"countNumber\":1}"),
            "rules[0].selection.tagPrefixList");
    refused(RULE("{\"tagStatus\":\"tagged\",\"tagPrefixList\":[\"a\"],\"tagPatternList\":[\"a*\"],\"countType\":"
                 "\"imageCountMoreThan\",\"countNumber\":1}"),
            "rules[0].selection.tagPatternList");
    refused(RULE("{\"tagStatus\":\"untagged\",\"tagPrefixList\":[\"a\"],\"countType\":\"imageCountMoreThan\",\"countNumber\":1}"),
            "rules[0].selection.tagPrefixList");
    refused(RULE("{\"tagStatus\":\"tagged\",\"tagPatternList\":[\"*a*b*c*d*\"],\"countType\":\"imageCountMoreThan\","
                 "\"countNumber\":1}"),
            "rules[0].selection.tagPatternList");
    refused(RULE("{\"tagStatus\":\"tagged\",\"tagPrefixList\":[],\"countType\":\"imageCountMoreThan\",\"countNumber\":1}"),
            "rules[0].selection.tagPrefixList");
    refused(RULE("{\"tagStatus\":\"tagged\",\"tagPrefixList\":[7],\"countType\":\"imageCountMoreThan\",\"countNumber\":1}"),
            "rules[0].selection.tagPrefixList");
    refused(RULE("{\"tagStatus\":\"any\",\"countType\":\"imageCountLessThan\",\"countNumber\":1}"), "rules[0].selection.countType");
    refused(RULE("{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\",\"countNumber\":0}"),
            "rules[0].selection.countNumber");
    refused(RULE("{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\",\"countNumber\":1.5}"),
            "rules[0].selection.countNumber");
    refused(RULE("{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\"}"), "rules[0].selection.countNumber");
    refused(RULE("{\"tagStatus\":\"any\",\"countType\":\"sinceImagePushed\",\"countNumber\":1}"), "rules[0].selection.countUnit");
    refused(RULE("{\"tagStatus\":\"any\",\"countType\":\"sinceImagePushed\",\"countUnit\":\"hours\",\"countNumber\":1}"),
            "rules[0].selection.countUnit");
    refused(RULE("{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\",\"countUnit\":\"days\",\"countNumber\":1}"),
            "rules[0].selection.countUnit");
    refused(RULE("{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\",\"countNumber\":1,\"extra\":1}"),
            "rules[0].selection.extra");
}

static const char *rule_at(int prio, const char *status)
{
    static char buf[4][256];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, 256,
             "{\"rulePriority\":%d,\"selection\":{\"tagStatus\":\"%s\",%s\"countType\":\"imageCountMoreThan\",\"countNumber\":1},"
             "\"action\":{\"type\":\"expire\"}}",
             prio, status, strcmp(status, "tagged") == 0 ? "\"tagPrefixList\":[\"x\"]," : "");
    return b;
}

Test(lifecycle_refusals, across_rules_priorities_are_unique_untagged_once_and_any_last)
{
    char text[1024];
    snprintf(text, sizeof(text), "{\"rules\":[%s,%s]}", rule_at(3, "tagged"), rule_at(3, "untagged"));
    refused(text, "rules[1].rulePriority");
    snprintf(text, sizeof(text), "{\"rules\":[%s,%s]}", rule_at(1, "untagged"), rule_at(2, "untagged"));
    refused(text, "rules[1].selection.tagStatus");
    snprintf(text, sizeof(text), "{\"rules\":[%s,%s]}", rule_at(1, "any"), rule_at(2, "tagged"));
    refused(text, "rules[0].rulePriority");
    /* any with the highest priority, listed first: fine, and the rules come back sorted */
    snprintf(text, sizeof(text), "{\"rules\":[%s,%s]}", rule_at(9, "any"), rule_at(2, "tagged"));
    ecr_lc_policy_t p;
    ecr_lc_err_t err;
    cr_assert_eq(ecr_lc_parse(text, strlen(text), &p, &err), 0, "%s", err.msg);
    cr_assert_eq(p.nrules, 2);
    cr_assert_eq(p.rules[0].priority, 2);
    cr_assert_eq(p.rules[1].priority, 9);
    ecr_lc_policy_free(&p);
}

Test(lifecycle_refusals, a_text_over_30720_characters)
{
    static char text[ECR_LC_TEXT_MAX + 2];
    memset(text, ' ', sizeof(text) - 1);
    refused(text, "");
}

#define TAGGED(prio, list)                                                                                                         \
    "{\"rulePriority\":" #prio ",\"selection\":{\"tagStatus\":\"tagged\"," list                                                    \
    ",\"countType\":\"imageCountMoreThan\",\"countNumber\":1},\"action\":{\"type\":\"expire\"}}"

/* ECR: "The set of rules must contain a unique set of tag prefixes." */
Test(lifecycle_refusals, a_tag_prefix_in_two_rules)
{
    const char *text = "{\"rules\":[" TAGGED(1, "\"tagPrefixList\":[\"prod\",\"beta\"]") "," TAGGED(
        2, "\"tagPrefixList\":[\"alpha\"]") "," TAGGED(3, "\"tagPrefixList\":[\"beta\"]") "]}";
    refused(text, "rules[2].selection.tagPrefixList");
    ecr_lc_policy_t p;
    ecr_lc_err_t err;
    cr_assert_eq(ecr_lc_parse(text, strlen(text), &p, &err), -1);
    cr_assert(strstr(err.msg, "'beta'") && strstr(err.msg, "rules[0]"), "%s", err.msg);
    /* within one rule, or a prefix equal to another rule's pattern: no conflict */
    const char *ok[] = {
        "{\"rules\":[" TAGGED(1, "\"tagPrefixList\":[\"prod\",\"prod\"]") "," TAGGED(2, "\"tagPrefixList\":[\"beta\"]") "]}",
        "{\"rules\":[" TAGGED(1, "\"tagPrefixList\":[\"prod\"]") "," TAGGED(2, "\"tagPatternList\":[\"prod\"]") "]}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert_eq(ecr_lc_parse(ok[i], strlen(ok[i]), &p, &err), 0, "%s: %s", ok[i], err.msg);
        ecr_lc_policy_free(&p);
    }
}
