/*
 * tests/fuzz/fuzz_lifecycle_policy.c — ECR lifecycle policy texts
 * (server/ecr/lifecycle_policy.c). Any text is accepted or refused with a
 * message naming the field at fault; never a crash. An accepted policy has
 * 1 to ECR_LC_RULES_MAX rules in strictly increasing priority, and its
 * evaluation over a small repository (tagged, untagged, an index and its
 * children, a referrer) expires images only by one of its rules and never a
 * child of the index it keeps.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "server/ecr/lifecycle_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ecr_lc_policy_t p;
    ecr_lc_err_t err;
    int rc = ecr_lc_parse((const char *)data, size, &p, &err);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FUZZ_CHECK(err.msg[0] != '\0');
        if (err.field[0])
            FUZZ_CHECK(strstr(err.msg, err.field) != NULL);
        return 0;
    }
    FUZZ_CHECK(p.nrules >= 1 && p.nrules <= ECR_LC_RULES_MAX);
    for (size_t i = 1; i < p.nrules; i++)
        FUZZ_CHECK(p.rules[i - 1].priority < p.rules[i].priority);
    static const char *const t1[] = {"prod-1", "beta-1"}, *const t2[] = {"release-2"}, *const t3[] = {"latest"};
    static const char *const kids[] = {"sha256:c1", "sha256:c2"};
    const int64_t now = 2000000000, day = 86400;
    ecr_lc_image_t im[] = {
        {"sha256:a", t1, 2, now - 40 * day, NULL, NULL, 0},        {"sha256:b", t2, 1, now - 3 * day, NULL, NULL, 0},
        {"sha256:u", NULL, 0, now - 20 * day, NULL, NULL, 0},      {"sha256:i", t3, 1, now - 10 * day, NULL, kids, 2},
        {"sha256:c1", NULL, 0, now - 10 * day, NULL, NULL, 0},     {"sha256:c2", NULL, 0, now - 10 * day, NULL, NULL, 0},
        {"sha256:s", NULL, 0, now - 9 * day, "sha256:b", NULL, 0},
    };
    size_t n = sizeof(im) / sizeof(im[0]);
    int64_t rule[sizeof(im) / sizeof(im[0])];
    FUZZ_CHECK(ecr_lc_evaluate(&p, im, n, now, rule) == 0);
    for (size_t i = 0; i < n; i++) {
        bool known = rule[i] == 0;
        for (size_t r = 0; r < p.nrules && !known; r++)
            known = p.rules[r].priority == rule[i];
        FUZZ_CHECK(known);
    }
    if (rule[3] == 0)
        FUZZ_CHECK(rule[4] == 0 && rule[5] == 0);
    if (rule[1] == 0)
        FUZZ_CHECK(rule[6] == 0);
    ecr_lc_policy_free(&p);
    return 0;
}
