#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# ECS services with the real AWS CLI (aws ecs --endpoint-url) and boto3
# (ecs_services.py): create, scale, replace, drain, roll within
# minimumHealthyPercent/maximumPercent, delete; deployments and events as ECS
# shows them; ECS's errors.
#
# Task states come from the real SubmitTaskStateChange, sent by a stand-in
# agent in ecs_services.py; each report runs the services' step. The timer's
# steps come every second (BERTH_ECS_SERVICE_TICK_MS) instead of every 3 s.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd tests/e2e/test_ecs_services.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/aws /usr/bin/python3 jq
is_berth || skip_all "the ECS API is Berth's"
/usr/bin/python3 -c 'import boto3' 2>/dev/null || skip_all "python3-boto3 is not installed"

export E2E_BERTH_AUTH=1 BERTH_ECS_SERVICE_TICK_MS=1000
start_registry
client_env
ECS=("${AWS[@]}" ecs)
ACCOUNT=$(sed -n 's/.*created account \([0-9]*\).*/\1/p' "$REGISTRY_LOG" | head -1)
ARN=arn:aws:ecs:us-east-1:$ACCOUNT
SERVICES=$E2E_DIR/ecs_services.py

# ======================================================= the AWS CLI's shapes

t_cli() {
    local ci
    run "${ECS[@]}" create-cluster --cluster-name cli
    ci=$("${ECS[@]}" register-container-instance --cluster cli \
        --instance-identity-document '{"instanceId":"i-cli","availabilityZone":"az-1"}' \
        --total-resources name=CPU,type=INTEGER,integerValue=1024 name=MEMORY,type=INTEGER,integerValue=1024 |
        jq -r .containerInstance.containerInstanceArn)
    [[ $ci == "$ARN:container-instance/cli/"* ]] || fail "registration answered '$ci'"
    run "${ECS[@]}" register-task-definition --family cli-web \
        --container-definitions '[{"name":"web","image":"busybox","memory":64}]'
    expect_success
    run "${ECS[@]}" create-service --cluster cli --service-name web --task-definition cli-web --desired-count 2 \
        --deployment-configuration maximumPercent=150,minimumHealthyPercent=50
    expect_success
    expect_out_jq '.service | [.serviceArn, .status, .desiredCount, .deploymentConfiguration, .taskDefinition]' \
        "[\"$ARN:service/cli/web\",\"ACTIVE\",2,{\"maximumPercent\":150,\"minimumHealthyPercent\":50},\"$ARN:task-definition/cli-web:1\"]"
    expect_out_jq '.service.deployments | map([.status, .desiredCount, .rolloutState, (.id | test("^ecs-svc/[0-9]{19}$"))])' \
        '[["PRIMARY",2,"IN_PROGRESS",true]]'
    run "${ECS[@]}" create-service --cluster cli --service-name web --task-definition cli-web --desired-count 1
    expect_exit 254
    expect_stderr_match "InvalidParameterException.*not idempotent"
    run "${ECS[@]}" list-services --cluster cli
    expect_success
    expect_out_jq .serviceArns "[\"$ARN:service/cli/web\"]"
    run "${ECS[@]}" list-tasks --cluster cli --service-name web
    expect_success
    expect_out_jq '.taskArns | length' 2
    run "${ECS[@]}" describe-services --cluster cli --services web nope
    expect_success
    expect_out_jq '[.services[0].serviceName, (.services[0].runningCount + .services[0].pendingCount), .failures]' \
        "[\"web\",2,[{\"arn\":\"$ARN:service/cli/nope\",\"reason\":\"MISSING\"}]]"
    run "${ECS[@]}" update-service --cluster cli --service nope --desired-count 1
    expect_exit 254
    expect_stderr_match "ServiceNotFoundException"
    run "${ECS[@]}" update-service --cluster cli --service web --desired-count 1
    expect_success
    expect_out_jq .service.desiredCount 1
    run "${ECS[@]}" delete-service --cluster cli --service web
    expect_exit 254
    expect_stderr_match "InvalidParameterException.*cannot be stopped while it is scaled above 0"
    run "${ECS[@]}" delete-cluster --cluster cli
    expect_exit 254
    expect_stderr_match "ClusterContainsServicesException"
    # no agent ran its tasks here: PENDING tasks stop at once, so nothing is left to drain
    run "${ECS[@]}" delete-service --cluster cli --service "$ARN:service/cli/web" --force
    expect_success
    expect_out_jq '.service | [.status, .desiredCount]' '["INACTIVE",0]'
}
run_case "aws ecs create-service / describe-services / list-services / update-service / delete-service: shapes, ARNs and ECS's errors" t_cli

t_malformed() {
    run "${ECS[@]}" create-cluster --cluster-name bad
    run "${ECS[@]}" create-service --cluster bad --service-name 'no spaces' --task-definition x
    expect_exit 254
    expect_stderr_match "InvalidParameterException.*serviceName"
    run "${ECS[@]}" create-service --cluster bad --service-name s --task-definition x --desired-count -1
    expect_exit 254
    expect_stderr_match "InvalidParameterException.*desiredCount"
    run "${ECS[@]}" create-service --cluster bad --service-name s --task-definition x \
        --deployment-configuration maximumPercent=50
    expect_exit 254
    expect_stderr_match "InvalidParameterException.*deploymentConfiguration.maximumPercent"
    run "${ECS[@]}" create-service --cluster bad --service-name s --task-definition x --scheduling-strategy DAEMON
    expect_exit 254
    expect_stderr_match "InvalidParameterException.*schedulingStrategy"
    run "${ECS[@]}" create-service --cluster bad --service-name s --task-definition nope:3
    expect_exit 254
    expect_stderr_match "ClientException.*nope:3"
    run "${ECS[@]}" create-service --cluster bad --service-name s --task-definition x \
        --placement-constraints 'type=memberOf,expression=attribute:az =='
    expect_exit 254
    expect_stderr_match "InvalidParameterException.*placementConstraints\[0\]\.expression"
    run "${ECS[@]}" list-services --cluster bad
    expect_out_jq .serviceArns '[]'
}
run_case "malformed create-service input is an InvalidParameterException naming the field; nothing is left behind" t_malformed

# ========================================================= behaviour (boto3)

services_case() {
    run /usr/bin/python3 "$SERVICES" "$BASE" "$CREDS" "$1"
    [[ $CMD_STATUS == 0 ]] || fail "$(cat "$E2E_TMP/cmd.out") $(tail -n 5 "$E2E_TMP/cmd.err")"
}
t_spread() { services_case spread; }
run_case "6 tasks on 6 instances in 3 AZs, spread on AZ: 2 per AZ; scaled to 3: 1 per AZ; a stopped task is replaced; a draining instance's task moves" t_spread
t_roll() { services_case roll; }
run_case "a new revision with min 50 / max 100 rolls without ever leaving the bounds; PRIMARY/ACTIVE deployments and ECS's events" t_roll
t_delete() { services_case delete; }
run_case "delete-service without force is refused while desiredCount > 0; with force it drains to INACTIVE and leaves the listing" t_delete
t_unplaced() { services_case unplaced; }
run_case "a task no instance can take is told in the service's events, and placed once an instance can take it" t_unplaced
t_authz() { services_case authz; }
run_case "each service operation is authorized as ecs:<Op> on arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME: allowed, denied, explicitly denied" t_authz

finish
