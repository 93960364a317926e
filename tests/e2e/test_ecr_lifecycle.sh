#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# ECR lifecycle policies (issue 16) with boto3, the AWS CLI and berth: a policy
# that expires untagged images after a week and keeps the newest two tagged
# release-*; its preview on the real clock, then ten days on (berthd
# --clock-offset, for tests only); `berth ecr run-lifecycle-policy` expires
# exactly what the preview showed, a multi-arch index keeps its untagged
# child and a kept image its untagged signature; the images are gone from
# /v2/ and DescribeImages and `berth gc --grace 0` reclaims their own layers
# while shared ones stay; bad policies are refused naming the field; and
# berthd --lifecycle-interval runs the policies on its own. The checks of the
# two boto3 phases are in lifecycle_boto3.py.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd BERTH_CLI=build/cli/berth tests/e2e/test_ecr_lifecycle.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/aws /usr/bin/python3 jq
is_berth || skip_all "lifecycle policy runs are Berth's"
[[ -n ${BERTH_CLI:-} && -x ${BERTH_CLI:-} ]] || { echo "needs BERTH_CLI=/path/to/berth" >&2; exit 2; }
/usr/bin/python3 -c 'import boto3' 2>/dev/null || skip_all "python3-boto3 is not installed"

start_authenticated_registry
export BERTH_ENDPOINT_URL=$BASE BERTH_CLI OCI_LAYOUT AMD64_MANIFEST_FILE AMD64_MANIFEST_DIGEST ARM64_MANIFEST_DIGEST \
    INDEX_DIGEST ARTIFACT_DIGEST
ECR=("${AWS[@]}" ecr)
STATE=$E2E_TMP/lifecycle-state.json
TEN_DAYS=864000

t_preview_on_the_real_clock() {
    run /usr/bin/python3 "$E2E_DIR/lifecycle_boto3.py" "$BASE" "$STATE" push
    expect_success
    # the AWS CLI reads the same preview
    run "${ECR[@]}" get-lifecycle-policy-preview --repository-name lc/app
    expect_success
    expect_out_jq '[.status, .summary.expiringImageTotalCount, ([.previewResults[].appliedRulePriority] | unique)]' \
        '["COMPLETE",2,[2]]'
    run "${ECR[@]}" put-lifecycle-policy --repository-name lc/app --lifecycle-policy-text \
        '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":-1},"action":{"type":"expire"}}]}'
    expect_exit 254
    expect_stderr_match 'InvalidParameterException.*rules\[0\]\.selection\.countNumber'
}
run_case "lifecycle preview on the real clock: the oldest release-* beyond two by rule 2, no untagged image yet; the AWS CLI reads it; a bad policy → InvalidParameterException naming the field" t_preview_on_the_real_clock

restart_registry --clock-offset "$TEN_DAYS" --lifecycle-interval 0

t_run_ten_days_on() {
    run /usr/bin/python3 "$E2E_DIR/lifecycle_boto3.py" "$BASE" "$STATE" run
    expect_success
}
run_case "ten days on: the preview adds the untagged images (not the index's child, not the signature); berth ecr run-lifecycle-policy expires exactly those and notes lastEvaluatedAt (dropped with the policy or the repository); gone from /v2/ and DescribeImages; berth gc --grace 0 reclaims their own layers, the shared one stays; bad policies named by field (a tag prefix in two rules too); Get after Delete → LifecyclePolicyNotFoundException" t_run_ten_days_on

restart_registry --clock-offset "$TEN_DAYS" --lifecycle-interval 1

t_scheduled_run() {
    local d i
    d=$(jq -r .scheduled "$STATE")
    for ((i = 0; i < 50; i++)); do
        grep -q "scheduled lifecycle run of lc/app expired 1 images" "$REGISTRY_LOG" && break
        sleep 0.1
    done
    expect_eq "berthd's log of the scheduled run" 1 "$(grep -c "scheduled lifecycle run of lc/app expired 1 images" "$REGISTRY_LOG")"
    # its time is noted after its deletions, in a commit of its own: wait for it (5 s at most)
    for ((i = 0; i < 50; i++)); do
        run "$BERTH_CLI" ecr get-lifecycle-policy --repository-name lc/app
        [[ $(jq -r '.lastEvaluatedAt // empty' "$E2E_TMP/cmd.out") ]] && break
        sleep 0.1
    done
    expect_out_jq "(.lastEvaluatedAt - now - $TEN_DAYS) | (. > -120 and . <= 1)" true
    run "$BERTH_CLI" ecr list-images --repository-name lc/app
    expect_success
    expect_out_jq "[.imageIds[] | select(.imageDigest == \"$d\")] | length" 0
    expect_out_jq '.imageIds | length' 6
}
run_case "berthd --lifecycle-interval 1 runs the stored policy on its own: an untagged image ten days old goes; GetLifecyclePolicy's lastEvaluatedAt is the run's server time" t_scheduled_run

finish
