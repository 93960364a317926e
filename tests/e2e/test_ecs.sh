#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# The ECS API on live cluster state, with the real AWS CLI (aws ecs
# --endpoint-url) and boto3: clusters, container instances registered through
# the API (as the agent will), attributes and the Cluster Query Language, task
# definitions, RunTask/StartTask/StopTask placement with ECS's failures[],
# 200 concurrent RunTask calls that never oversubscribe, authorization of
# every ecs: action, and malformed input named by field.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd tests/e2e/test_ecs.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/aws /usr/bin/python3 curl jq
is_berth || skip_all "the ECS API is Berth's"
/usr/bin/python3 -c 'import boto3' 2>/dev/null || skip_all "python3-boto3 is not installed"

export E2E_BERTH_AUTH=1
start_registry
client_env
ECS=("${AWS[@]}" ecs)
IAM=("${AWS[@]}" iam)
ACCOUNT=$(sed -n 's/.*created account \([0-9]*\).*/\1/p' "$REGISTRY_LOG" | head -1)
ARN=arn:aws:ecs:us-east-1:$ACCOUNT
PLACEMENT=$E2E_DIR/ecs_placement.py

# register NAME CLUSTER AZ CPU MEM: registers an instance through the API; prints its ARN
register() {
    "${ECS[@]}" register-container-instance --cluster "$2" \
        --instance-identity-document "{\"instanceId\":\"$1\",\"availabilityZone\":\"$3\"}" \
        --total-resources "name=CPU,type=INTEGER,integerValue=$4" "name=MEMORY,type=INTEGER,integerValue=$5" \
        name=PORTS,type=STRINGSET,stringSetValue=22 | jq -r .containerInstance.containerInstanceArn
}

# ================================================================ clusters

t_clusters() {
    run "${ECS[@]}" create-cluster --cluster-name e2e-a
    expect_success
    expect_out_jq '.cluster | [.clusterArn, .status, .registeredContainerInstancesCount, .activeServicesCount]' \
        "[\"$ARN:cluster/e2e-a\",\"ACTIVE\",0,0]"
    run "${ECS[@]}" create-cluster --cluster-name e2e-a
    expect_success
    expect_out_jq .cluster.clusterName '"e2e-a"'
    run "${ECS[@]}" create-cluster --cluster-name e2e-b
    run "${ECS[@]}" create-cluster --cluster-name e2e-c
    run "${ECS[@]}" list-clusters --max-items 2
    expect_success
    expect_out_jq '[(.clusterArns | length), (.NextToken != null)]' '[2,true]'
    run "${ECS[@]}" list-clusters
    expect_out_jq '[.clusterArns[] | select(startswith("'"$ARN"':cluster/e2e-"))] | length' 3
    run "${ECS[@]}" describe-clusters --clusters e2e-b "$ARN:cluster/e2e-c" nope
    expect_success
    expect_out_jq '[[.clusters[].clusterName], [.failures[] | [.arn, .reason]]]' \
        "[[\"e2e-b\",\"e2e-c\"],[[\"$ARN:cluster/nope\",\"MISSING\"]]]"
    run "${ECS[@]}" delete-cluster --cluster e2e-c
    expect_success
    expect_out_jq .cluster.status '"INACTIVE"'
    run "${ECS[@]}" describe-clusters --clusters e2e-c
    expect_out_jq '.failures[0].reason' '"MISSING"'
    run "${ECS[@]}" delete-cluster --cluster e2e-c
    expect_exit 254
    expect_stderr_match "ClusterNotFoundException"
}
run_case "create-cluster (idempotent), list-clusters pages, describe-clusters names the missing ones, delete-cluster" t_clusters

t_delete_refused_while_instances() {
    local ci
    run "${ECS[@]}" create-cluster --cluster-name e2e-del
    ci=$(register i-del e2e-del az-1 1024 1024)
    [[ $ci == "$ARN:container-instance/e2e-del/"* ]] || fail "registration answered '$ci'"
    run "${ECS[@]}" delete-cluster --cluster e2e-del
    expect_exit 254
    expect_stderr_match "ClusterContainsContainerInstancesException"
    run "${ECS[@]}" deregister-container-instance --cluster e2e-del --container-instance "$ci"
    expect_success
    expect_out_jq .containerInstance.status '"INACTIVE"'
    run "${ECS[@]}" delete-cluster --cluster e2e-del
    expect_success
}
run_case "delete-cluster is refused (ClusterContainsContainerInstancesException) until its instances are deregistered" t_delete_refused_while_instances

# ================================================================ instances

t_instances() {
    local ci id
    run "${ECS[@]}" create-cluster --cluster-name e2e-inst
    run "${ECS[@]}" register-container-instance --cluster e2e-inst \
        --instance-identity-document '{"instanceId":"i-0abc","availabilityZone":"us-east-1a","instanceType":"m5.large"}' \
        --total-resources name=CPU,type=INTEGER,integerValue=2048 name=MEMORY,type=INTEGER,integerValue=3900 \
        name=PORTS,type=STRINGSET,stringSetValue=22,2376 name=PORTS_UDP,type=STRINGSET,stringSetValue=53 \
        --attributes name=stack,value=prod name=ecs.capability.docker-remote-api.1.30
    expect_success
    ci=$(jq -r .containerInstance.containerInstanceArn "$E2E_TMP/cmd.out")
    id=${ci##*/}
    run "${ECS[@]}" describe-container-instances --cluster e2e-inst --container-instances "$id"
    expect_success
    expect_out_jq '.containerInstances[0] | [.ec2InstanceId, .status, .agentConnected, .runningTasksCount, .pendingTasksCount]' \
        '["i-0abc","ACTIVE",true,0,0]'
    expect_out_jq '.containerInstances[0].registeredResources | map({(.name): (if .type == "STRINGSET" then .stringSetValue else .integerValue end)}) | add' \
        '{"CPU":2048,"MEMORY":3900,"PORTS":["22","2376"],"PORTS_UDP":["53"]}'
    expect_out_jq '[.containerInstances[0].attributes[] | [.name, .value]] | sort' \
        '[["ecs.availability-zone","us-east-1a"],["ecs.capability.docker-remote-api.1.30",null],["ecs.instance-type","m5.large"],["stack","prod"]]'
    run "${ECS[@]}" put-attributes --cluster e2e-inst --attributes "name=tier,value=gold,targetId=$ci"
    expect_success
    run "${ECS[@]}" list-attributes --cluster e2e-inst --target-type container-instance --attribute-name tier
    expect_out_jq '[.attributes[] | [.name, .value, .targetId]]' "[[\"tier\",\"gold\",\"$ci\"]]"
    run "${ECS[@]}" list-container-instances --cluster e2e-inst --filter "attribute:tier == gold and attribute:stack == prod"
    expect_out_jq .containerInstanceArns "[\"$ci\"]"
    run "${ECS[@]}" list-container-instances --cluster e2e-inst --filter "attribute:tier == silver"
    expect_out_jq .containerInstanceArns '[]'
    run "${ECS[@]}" delete-attributes --cluster e2e-inst --attributes "name=tier,targetId=$id"
    expect_success
    run "${ECS[@]}" list-attributes --cluster e2e-inst --target-type container-instance --attribute-name tier
    expect_out_jq '.attributes' '[]'
    run "${ECS[@]}" put-attributes --cluster e2e-inst --attributes "name=tier,value=gold,targetId=0123456789abcdef0123456789abcdef"
    expect_exit 254
    expect_stderr_match "TargetNotFoundException"
    run "${ECS[@]}" list-container-instances --cluster e2e-inst --filter "attribute:tier =="
    expect_exit 254
    expect_stderr_match "InvalidParameterException.*filter: .*(position|offset|at) "
    run "${ECS[@]}" update-container-instances-state --cluster e2e-inst --container-instances "$id" --status DRAINING
    expect_success
    expect_out_jq '.containerInstances[0].status' '"DRAINING"'
    run "${ECS[@]}" list-container-instances --cluster e2e-inst --status ACTIVE
    expect_out_jq .containerInstanceArns '[]'
    run "${ECS[@]}" describe-container-instances --cluster nope --container-instances "$id"
    expect_exit 254
    expect_stderr_match "ClusterNotFoundException"
}
run_case "register-container-instance (resources, identity document, attributes), describe, put/list/delete-attributes, CQL filters, draining" t_instances

t_deregister_with_tasks() {
    local ci task
    run "${ECS[@]}" create-cluster --cluster-name e2e-dereg
    ci=$(register i-dereg e2e-dereg az-1 1024 1024)
    run "${ECS[@]}" register-task-definition --family e2e-dereg \
        --container-definitions '[{"name":"app","image":"busybox","memory":64}]'
    run "${ECS[@]}" run-task --cluster e2e-dereg --task-definition e2e-dereg
    expect_success
    task=$(jq -r '.tasks[0].taskArn' "$E2E_TMP/cmd.out")
    run "${ECS[@]}" deregister-container-instance --cluster e2e-dereg --container-instance "$ci"
    expect_exit 254
    expect_stderr_match "InvalidParameterException.*force"
    run "${ECS[@]}" deregister-container-instance --cluster e2e-dereg --container-instance "$ci" --force
    expect_success
    run "${ECS[@]}" describe-tasks --cluster e2e-dereg --tasks "$task"
    expect_out_jq '.tasks[0] | [.desiredStatus, .lastStatus, .stoppedReason]' '["STOPPED","STOPPED","Container instance deregistered"]'
    run "${ECS[@]}" describe-clusters --clusters e2e-dereg
    expect_out_jq '.clusters[0] | [.registeredContainerInstancesCount, .pendingTasksCount]' '[0,0]'
}
run_case "deregister-container-instance with tasks: refused without --force; with it, its tasks stop" t_deregister_with_tasks

# ================================================================ task definitions

t_task_definitions() {
    local defs='[{"name":"web","image":"registry.example/web:1","cpu":256,"memory":512,"memoryReservation":256,
        "portMappings":[{"containerPort":80,"hostPort":0,"protocol":"tcp"}],"environment":[{"name":"MODE","value":"prod"}],
        "command":["serve","--port","80"],"entryPoint":["/bin/web"],"essential":true,
        "logConfiguration":{"logDriver":"json-file","options":{"max-size":"10m"}}}]'
    # task roles (iam:PassRole, trust policies, host mode) are test_ecs_task_roles.sh's
    run "${ECS[@]}" register-task-definition --family e2e-web --container-definitions "$defs" \
        --network-mode bridge --requires-compatibilities EC2 \
        --placement-constraints '[{"type":"memberOf","expression":"attribute:ecs.availability-zone in [az-1, az-2]"}]'
    expect_success
    expect_out_jq '.taskDefinition | [.taskDefinitionArn, .revision, .status, .networkMode]' \
        "[\"$ARN:task-definition/e2e-web:1\",1,\"ACTIVE\",\"bridge\"]"
    expect_out_jq '.taskDefinition.containerDefinitions[0] | [.memoryReservation, .command, .entryPoint, .environment, .logConfiguration.options]' \
        '[256,["serve","--port","80"],["/bin/web"],[{"name":"MODE","value":"prod"}],{"max-size":"10m"}]'
    run "${ECS[@]}" register-task-definition --family e2e-web --container-definitions "$defs"
    expect_out_jq .taskDefinition.revision 2
    run "${ECS[@]}" describe-task-definition --task-definition e2e-web
    expect_out_jq .taskDefinition.revision 2
    run "${ECS[@]}" describe-task-definition --task-definition e2e-web:1
    expect_out_jq '.taskDefinition.placementConstraints[0].type' '"memberOf"'
    run "${ECS[@]}" list-task-definitions --family-prefix e2e-web --sort DESC
    expect_out_jq .taskDefinitionArns "[\"$ARN:task-definition/e2e-web:2\",\"$ARN:task-definition/e2e-web:1\"]"
    run "${ECS[@]}" deregister-task-definition --task-definition e2e-web:2
    expect_success
    expect_out_jq .taskDefinition.status '"INACTIVE"'
    run "${ECS[@]}" describe-task-definition --task-definition e2e-web
    expect_out_jq .taskDefinition.revision 1
    run "${ECS[@]}" list-task-definitions --family-prefix e2e-web --status INACTIVE
    expect_out_jq .taskDefinitionArns "[\"$ARN:task-definition/e2e-web:2\"]"
    run "${ECS[@]}" list-task-definition-families --family-prefix e2e-w
    expect_out_jq .families '["e2e-web"]'
    run "${ECS[@]}" create-cluster --cluster-name e2e-td
    run "${ECS[@]}" run-task --cluster e2e-td --task-definition e2e-web:2
    expect_exit 254
    expect_stderr_match "ClientException.*inactive"
    run "${ECS[@]}" describe-task-definition --task-definition e2e-nothing
    expect_exit 254
    expect_stderr_match "ClientException"
}
run_case "register-task-definition (revisions, every stored field), describe by family and revision, list, families, deregister" t_task_definitions

t_task_definition_round_trip() {
    # the usual way to change a task definition: register what describe printed, without its read-only fields
    run "${ECS[@]}" describe-task-definition --task-definition e2e-web:1
    expect_success
    jq '.taskDefinition | del(.taskDefinitionArn, .revision, .status, .requiresAttributes, .compatibilities,
        .registeredAt, .registeredBy, .deregisteredAt) | .containerDefinitions[0].image = "registry.example/web:2"' \
        "$E2E_TMP/cmd.out" >"$E2E_TMP/td-input.json"
    jq -e '.volumes == [] and .containerDefinitions[0].mountPoints == []' "$E2E_TMP/td-input.json" >/dev/null ||
        fail "describe-task-definition printed no empty volumes and mountPoints: the case tests nothing"
    run "${ECS[@]}" register-task-definition --cli-input-json "file://$E2E_TMP/td-input.json"
    expect_success
    expect_out_jq '.taskDefinition | [.revision, .containerDefinitions[0].image, .containerDefinitions[0].memoryReservation]' \
        '[3,"registry.example/web:2",256]'
}
run_case "describe-task-definition's output, its read-only fields removed and the image changed, registers again with --cli-input-json" t_task_definition_round_trip

t_run_start_overrides() {
    local a b
    run "${ECS[@]}" create-cluster --cluster-name e2e-run
    a=$(register i-run-a e2e-run az-1 1024 2048)
    b=$(register i-run-b e2e-run az-2 1024 2048)
    run "${ECS[@]}" register-task-definition --family e2e-run \
        --container-definitions '[{"name":"app","image":"busybox","memory":128,"command":["sleep","1"]}]'
    run "${ECS[@]}" run-task --cluster e2e-run --task-definition e2e-run --started-by e2e-ci --group batch \
        --placement-constraints '[{"type":"memberOf","expression":"attribute:ecs.availability-zone == az-1"}]' \
        --overrides '{"containerOverrides":[{"name":"app","command":["sleep","9"],"environment":[{"name":"K","value":"V"}]}]}'
    expect_success
    expect_out_jq '.tasks[0] | [.containerInstanceArn, .lastStatus, .desiredStatus, .startedBy, .group, .overrides.containerOverrides[0].command]' \
        "[\"$a\",\"PENDING\",\"RUNNING\",\"e2e-ci\",\"batch\",[\"sleep\",\"9\"]]"
    run "${ECS[@]}" start-task --cluster e2e-run --task-definition e2e-run --container-instances "${b##*/}" "$a" "${a%/*}/00000000000000000000000000000000"
    expect_success
    expect_out_jq '[[.tasks[].containerInstanceArn], [.failures[].reason]]' "[[\"$b\",\"$a\"],[\"MISSING\"]]"
    run "${ECS[@]}" list-tasks --cluster e2e-run --started-by e2e-ci
    expect_out_jq '.taskArns | length' 1
    run "${ECS[@]}" list-tasks --cluster e2e-run --container-instance "$b"
    expect_out_jq '.taskArns | length' 1
    run "${ECS[@]}" list-tasks --cluster e2e-run --family e2e-run
    expect_out_jq '.taskArns | length' 3
    run "${ECS[@]}" describe-tasks --cluster e2e-run --tasks "$ARN:task/e2e-run/0123456789abcdef0123456789abcdef"
    expect_out_jq '[.tasks, [.failures[].reason]]' '[[],["MISSING"]]'
}
run_case "run-task keeps startedBy, group and overrides; start-task places on the named instances (MISSING for an unknown one); list-tasks filters" t_run_start_overrides

# ================================================================ placement (boto3)

placement_case() {
    run /usr/bin/python3 "$PLACEMENT" "$BASE" "$CREDS" "$1"
    [[ $CMD_STATUS == 0 ]] || fail "$(cat "$E2E_TMP/cmd.out") $(tail -n 5 "$E2E_TMP/cmd.err")"
}
t_spread_binpack() { placement_case spread_binpack; }
run_case "12 tasks, spread on attribute:ecs.availability-zone then binpack on memory, over 6 instances in 3 AZs land exactly where ECS puts them" t_spread_binpack
t_failures() { placement_case failures; }
run_case "tasks that cannot fit get ECS's failures[]: RESOURCE:CPU, RESOURCE:MEMORY, RESOURCE:PORTS, MemberOf, DistinctInstance" t_failures
t_draining() { placement_case draining; }
run_case "a DRAINING instance gets no new task (failure DRAINING) until it is ACTIVE again" t_draining
t_stop_releases() { placement_case stop_releases; }
run_case "stop-task releases CPU, memory and host ports in the same transaction; networkBindings show fixed and dynamic ports" t_stop_releases
t_concurrent() { placement_case concurrent; }
run_case "200 concurrent RunTask calls (boto3 threads) over 10 instances: exactly 100 placed, no CPU, memory or host port oversubscribed" t_concurrent
t_tags() { placement_case tags; }
run_case "tags: given at creation and by TagResource/UntagResource, listed by ListTagsForResource and include TAGS, on clusters, task definitions, services, tasks and instances; bad ARNs, 51 tags, aws: keys refused; gone with the resource" t_tags
t_client_token() { placement_case client_token; }
run_case "RunTask's clientToken (newer SDKs send one with every call): the same request again answers the same task, another is a ConflictException, per cluster; malformed tokens refused" t_client_token

# ================================================================ authorization

OPS_CREDS=$E2E_TMP/ecs-reader.creds
t_policy_denial() {
    run "${IAM[@]}" create-user --user-name ecs-reader
    expect_success
    run "${IAM[@]}" create-access-key --user-name ecs-reader
    expect_success
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$(jq -r .AccessKey.AccessKeyId "$E2E_TMP/cmd.out")" \
        "$(jq -r .AccessKey.SecretAccessKey "$E2E_TMP/cmd.out")" >"$OPS_CREDS"
    # StartTask only on the first of e2e-run's instances (condition key ecs:container-instances)
    local first second
    run "${ECS[@]}" list-container-instances --cluster e2e-run
    expect_success
    first=$(jq -r '.containerInstanceArns | sort | .[0]' "$E2E_TMP/cmd.out")
    second=$(jq -r '.containerInstanceArns | sort | .[1]' "$E2E_TMP/cmd.out")
    [[ $first == *container-instance/e2e-run/* && $second == *container-instance/e2e-run/* ]] ||
        fail "e2e-run has not two instances: $(cat "$E2E_TMP/cmd.out")"
    echo '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecs:Describe*","ecs:List*"],"Resource":"*"},
        {"Effect":"Allow","Action":"ecs:RunTask","Resource":"arn:aws:ecs:*:*:task-definition/e2e-run:*",
         "Condition":{"StringLike":{"ecs:cluster":"arn:aws:ecs:*:*:cluster/e2e-run"}}},
        {"Effect":"Allow","Action":"ecs:StartTask","Resource":"arn:aws:ecs:*:*:task-definition/e2e-run:*",
         "Condition":{"ForAllValues:StringEquals":{"ecs:container-instances":"'"$first"'"}}},
        {"Effect":"Deny","Action":"ecs:DescribeClusters","Resource":"arn:aws:ecs:*:*:cluster/e2e-secret"}]}' >"$E2E_TMP/ecs-reader.json"
    run "${IAM[@]}" create-policy --policy-name EcsReader --policy-document "file://$E2E_TMP/ecs-reader.json"
    expect_success
    run "${IAM[@]}" attach-user-policy --user-name ecs-reader --policy-arn "arn:aws:iam::$ACCOUNT:policy/EcsReader"
    expect_success
    local reader=(env AWS_SHARED_CREDENTIALS_FILE="$OPS_CREDS" "${ECS[@]}")
    run "${reader[@]}" describe-clusters --clusters e2e-run
    expect_success
    expect_out_jq '.clusters[0].clusterName' '"e2e-run"'
    run "${reader[@]}" create-cluster --cluster-name e2e-mine
    expect_exit 254
    expect_stderr_match "AccessDeniedException.*ecs:CreateCluster on resource: $ARN:cluster/e2e-mine"
    run "${reader[@]}" describe-clusters --clusters e2e-run e2e-secret
    expect_exit 254
    expect_stderr_match "AccessDeniedException.*ecs:DescribeClusters.*cluster/e2e-secret because of an explicit deny"
    run "${reader[@]}" run-task --cluster e2e-run --task-definition e2e-web:1
    expect_exit 254
    expect_stderr_match "AccessDeniedException.*ecs:RunTask on resource: $ARN:task-definition/e2e-web:1"
    run "${reader[@]}" run-task --cluster e2e-run --task-definition e2e-run:1
    expect_success
    cp "$E2E_TMP/cmd.out" "$E2E_TMP/reader-run.json"
    # the same task definition in another cluster: the condition on ecs:cluster confines RunTask
    run "${reader[@]}" run-task --cluster e2e-td --task-definition e2e-run:1
    expect_exit 254
    expect_stderr_match "AccessDeniedException.*ecs:RunTask on resource: $ARN:task-definition/e2e-run:1"
    run "${reader[@]}" start-task --cluster e2e-run --task-definition e2e-run:1 --container-instances "$first"
    expect_success
    run "${reader[@]}" start-task --cluster e2e-run --task-definition e2e-run:1 --container-instances "$first" "$second"
    expect_exit 254
    expect_stderr_match "AccessDeniedException.*ecs:StartTask on resource: $ARN:task-definition/e2e-run:1"
    cp "$E2E_TMP/reader-run.json" "$E2E_TMP/cmd.out"
    run "${reader[@]}" stop-task --cluster e2e-run --task "$(jq -r '.tasks[0].taskArn' "$E2E_TMP/cmd.out")"
    expect_exit 254
    expect_stderr_match "AccessDeniedException.*ecs:StopTask on resource: $ARN:task/e2e-run/"
    run "${reader[@]}" register-container-instance --cluster e2e-run
    expect_exit 254
    expect_stderr_match "AccessDeniedException.*ecs:RegisterContainerInstance"
}
run_case "each ecs: action is authorized on ECS's resource ARNs: allowed reads pass, CreateCluster, RunTask of another family or (ecs:cluster condition) in another cluster, StartTask on an instance its ecs:container-instances condition leaves out, StopTask and an explicit Deny get AccessDeniedException" t_policy_denial

# ================================================================ malformed input

# bad OP BODY TYPE MESSAGE-ERE: the raw body, signed as the CLI signs it, gets 400 TYPE with MESSAGE
bad() {
    run /usr/bin/python3 "$E2E_DIR/aws_signed.py" "$BASE" "$CREDS" ecs "$2" \
        "X-Amz-Target:AmazonEC2ContainerServiceV20141113.$1" "Content-Type:application/x-amz-json-1.1"
    expect_success
    expect_out_jq '[.status, .body.__type]' "[400,\"$3\"]"
    local msg
    msg=$(jq -r .body.message "$E2E_TMP/cmd.out")
    [[ $msg =~ $4 ]] || fail_diff "$1 $2: message" "/$4/" "$msg"
}

t_malformed() {
    local c='"containerDefinitions":[{"name":"a","image":"i","memory":'
    bad RegisterTaskDefinition '{"family":"f","containerDefinitions":[]}' InvalidParameterException '^containerDefinitions: must hold 1 to'
    bad RegisterTaskDefinition '{"family":"f",'"$c"'-5}]}' InvalidParameterException '^containerDefinitions\[0\]\.memory: -5 MiB'
    bad RegisterTaskDefinition '{"family":"f",'"$c"'"512"}]}' InvalidParameterException '^containerDefinitions\[0\]\.memory: must be an integer'
    bad RegisterTaskDefinition '{"family":"f","containerDefinitions":[{"name":"a","image":"i"}]}' InvalidParameterException \
        '^containerDefinitions\[0\]\.memory: required'
    bad RegisterTaskDefinition '{"family":"bad name",'"$c"'64}]}' InvalidParameterException "^family: 'bad name'"
    bad RegisterTaskDefinition '{"family":"f","networkMode":"awsvpc",'"$c"'64}]}' InvalidParameterException '^networkMode:'
    bad RegisterTaskDefinition '{"family":"f","volumes":[{"name":"v"}],'"$c"'64}]}' InvalidParameterException '^volumes: unknown or unsupported'
    bad RegisterTaskDefinition '{"family":"f",'"$c"'64,"portMappings":[{"containerPort":70000}]}]}' InvalidParameterException \
        '^containerDefinitions\[0\]\.portMappings\[0\]\.containerPort: 70000 is out of range'
    bad RegisterTaskDefinition '{"family":"f","networkMode":"host",'"$c"'64,"portMappings":[{"containerPort":80,"hostPort":81}]}]}' \
        InvalidParameterException 'hostPort: in host network mode'
    bad RegisterTaskDefinition '{"family":"f","placementConstraints":[{"type":"memberOf","expression":"attribute:x =="}],'"$c"'64}]}' \
        InvalidParameterException '^placementConstraints\[0\]\.expression: .*(position|offset|at) [0-9]+'
    bad ListContainerInstances '{"cluster":"e2e-inst","filter":"attribute:a == b or ("}' InvalidParameterException '^filter: .*[0-9]'
    bad RunTask '{"cluster":"e2e-run","taskDefinition":"e2e-run","count":11}' InvalidParameterException '^count: 11 is out of range'
    bad RunTask '{"taskDefinition":"e2e-run","placementStrategy":[{"type":"binpack","field":"disk"}]}' InvalidParameterException \
        '^placementStrategy\[0\]\.field'
    bad RunTask '{"taskDefinition":"e2e-run","placementStrategy":[{"type":"pack"}]}' InvalidParameterException \
        "^placementStrategy\[0\]\.type: 'pack'"
    bad RunTask '{"taskDefinition":7}' InvalidParameterException '^taskDefinition: must be a string'
    bad RunTask '{"cluster":"e2e-run"}' InvalidParameterException '^taskDefinition: required'
    bad RunTask '{"cluster":"a/b","taskDefinition":"x"}' InvalidParameterException '^cluster:'
    bad StopTask '{"cluster":"e2e-run","task":"not-an-id"}' InvalidParameterException '^task:'
    bad RegisterContainerInstance '{"cluster":"e2e-run","totalResources":[{"name":"CPU","integerValue":-1}]}' InvalidParameterException \
        '^totalResources\[0\]\.integerValue: -1 is out of range'
    bad RegisterContainerInstance '{"totalResources":[{"name":"PORTS","stringSetValue":["99999"]}]}' InvalidParameterException \
        '^totalResources\[0\]\.stringSetValue\[0\]'
    bad UpdateContainerInstancesState '{"containerInstances":["0123456789abcdef0123456789abcdef"],"status":"GONE"}' \
        InvalidParameterException "^status: 'GONE' is not one of ACTIVE, DRAINING"
    bad ListClusters '{"maxResults":0}' InvalidParameterException '^maxResults: 0 is out of range'
    bad ListClusters '{"nextToken":"abc"}' InvalidParameterException '^nextToken:'
    bad CreateCluster '{"clusterName":"x","bogus":1}' InvalidParameterException '^bogus: unknown or unsupported field'
    bad CreateCluster '[1,2]' SerializationException 'not a JSON object'
    bad CreateCluster '{"clusterName":' SerializationException 'not a JSON object'
    bad CreateService '{}' InvalidParameterException '^serviceName: required'
    bad DescribeClusters '{"clusters":"e2e-run"}' InvalidParameterException '^clusters: must be a list'
    bad DescribeTasks '{"tasks":[]}' InvalidParameterException '^tasks: must hold 1 to 100'
    # none of them left a trace
    run "${ECS[@]}" list-task-definition-families --family-prefix f --status ALL
    expect_out_jq .families '[]'
}
run_case "malformed requests get 400 InvalidParameterException naming the field (and the position of a CQL error), never a 500" t_malformed

finish
