#!/usr/bin/env bash
# End to end through `berth placement simulate` with ECS-shaped JSON files.
#
#   cli_e2e.sh BERTH DATA_DIR
#
# Each case names the command line and the exact exit status and output facts
# it must see; a failure prints what differed. Needs jq.
set -uo pipefail

BERTH=${1:?usage: cli_e2e.sh BERTH DATA_DIR}
DATA=${2:?usage: cli_e2e.sh BERTH DATA_DIR}
CLI_E2E_NAME=sched
# shellcheck source-path=SCRIPTDIR source=../cli_harness.sh
source "$(dirname "$0")/../cli_harness.sh"

CI=$DATA/ci.json
TD=$DATA/td.json
TDF=$DATA/td_fixed_port.json
ARN=arn:aws:ecs:us-east-1:123456789012:container-instance/demo

# sim ARGS... : runs the command; sets RC, with stdout in $OUT and stderr in $ERR
sim() {
    "$BERTH" placement simulate "$@" >"$OUT" 2>"$ERR"
    RC=$?
}

spread_binpack_member_of() {
    sim --instances "$CI" --task-definition "$TD" --count 5 \
        --placement-strategy type=spread,field=attribute:ecs.availability-zone type=binpack,field=memory \
        --placement-constraints 'type=memberOf,expression=attribute:ecs.instance-type =~ t2.*'
    expect_eq "exit status" 0 "$RC"
    expect_jq '.tasks | length' 5
    expect_jq '.failures' '[]'
    # zones 2/2/1; never the m5 (constraint), the DRAINING 3a4b or the disconnected 5e6f
    expect_jq '[.tasks[].containerInstanceArn | split("/")[-1]] | sort' '["0a1b","0a1b","2e3f","2e3f","4c5d"]'
    # dynamic host ports from the ephemeral range, distinct per instance
    expect_jq '[.tasks[].containers[0].networkBindings[0].hostPort] | map(. >= 49153) | all' true
    expect_jq '[.tasks[] | {i: .containerInstanceArn, p: .containers[0].networkBindings[0].hostPort}] | unique | length' 5
    expect_jq '.tasks[0].containers | map(.name)' '["web","sidecar"]'
    expect_jq '.tasks[0].taskDefinitionArn' '"arn:aws:ecs:us-east-1:123456789012:task-definition/web:3"'
    expect_jq 'has("explanations")' false
}

json_strategies_equal_shorthand() {
    sim --instances "$CI" --task-definition "$TD" --count 5 \
        --placement-strategy type=spread,field=attribute:ecs.availability-zone type=binpack,field=memory \
        --placement-constraints 'type=memberOf,expression=attribute:ecs.instance-type =~ t2.*'
    cp "$OUT" "$TMP/shorthand.json"
    sim --instances "file://$CI" --task-definition "file://$TD" --count 5 \
        --placement-strategy '[{"type":"spread","field":"attribute:ecs.availability-zone"},{"type":"binpack","field":"memory"}]' \
        --placement-constraints '[{"type":"memberOf","expression":"attribute:ecs.instance-type =~ t2.*"}]'
    expect_eq "exit status" 0 "$RC"
    expect_eq "same reply" "$(cat "$TMP/shorthand.json")" "$(cat "$OUT")"
}

fixed_port_fails_with_ecs_reasons() {
    sim --instances "$CI" --task-definition "$TDF" --count 5
    expect_eq "exit status" 1 "$RC"
    expect_jq '.tasks | length' 3
    expect_jq '[.tasks[].containers[0].networkBindings[0].hostPort] | unique' '[8080]'
    # the task definition's own memberOf (t2.*) applies: the m5 never gets one
    expect_jq '[.tasks[].containerInstanceArn | split("/")[-1]]' '["0a1b","2e3f","4c5d"]'
    expect_jq "[.failures[] | select(.arn == \"$ARN/3a4b\") | .reason]" '["DRAINING"]'
    expect_jq "[.failures[] | select(.arn == \"$ARN/5e6f\") | .reason]" '["AGENT"]'
    expect_jq "[.failures[] | select(.arn == \"$ARN/0a1b\") | .reason]" '["RESOURCE:PORTS"]'
    expect_jq "[.failures[] | select(.arn == \"$ARN/1c2d\") | .reason]" '["RESOURCE:PORTS"]'
}

member_of_unsatisfied() {
    sim --instances "$CI" --task-definition "$TD" --placement-constraints 'type=memberOf,expression=attribute:stack == dev'
    expect_eq "exit status" 1 "$RC"
    expect_jq '.tasks | length' 0
    expect_jq '[.failures[].reason] | unique' '["AGENT","DRAINING","MemberOf placement constraint unsatisfied."]'
}

distinct_instance_sees_running_tasks() {
    sim --instances "$CI" --task-definition "$TD" --tasks "$DATA/tasks.json" --group service:web --count 4 \
        --placement-constraints type=distinctInstance
    expect_eq "exit status" 1 "$RC"
    expect_jq '[.tasks[].containerInstanceArn | split("/")[-1]]' '["0a1b","2e3f","4c5d"]'
    expect_jq "[.failures[] | select(.arn == \"$ARN/1c2d\") | .reason]" '["DistinctInstance placement constraint unsatisfied."]'
    expect_jq '[.tasks[].group] | unique' '["service:web"]'
}

explain_lists_steps_and_keys() {
    sim --instances "$CI" --task-definition "$TD" --count 2 --explain \
        --placement-strategy type=spread,field=attribute:ecs.availability-zone
    expect_eq "exit status" 0 "$RC"
    expect_jq '.explanations | length' 2
    expect_jq '[.explanations[0].steps[].step]' '["resources","constraints","strategy"]'
    expect_jq '[.explanations[0].steps[0].removed[].reason] | sort' '["AGENT","DRAINING"]'
    expect_jq '.explanations[1].rankingKeys[0]' '{"strategy":"spread(attribute:ecs.availability-zone)","key":0,"bucket":"us-east-1b"}'
    expect_jq '[.explanations[1].steps[2].removed[].reason] | unique' '["spread(attribute:ecs.availability-zone)"]'
}

random_is_reproducible() {
    sim --instances "$CI" --task-definition "$TD" --count 6 --placement-strategy type=random --seed 11
    cp "$OUT" "$TMP/a.json"
    sim --instances "$CI" --task-definition "$TD" --count 6 --placement-strategy type=random --seed 11
    expect_eq "same seed, same reply" "$(cat "$TMP/a.json")" "$(cat "$OUT")"
    local same=1 seed
    for seed in 12 13 14 15; do
        sim --instances "$CI" --task-definition "$TD" --count 6 --placement-strategy type=random --seed $seed
        if [[ "$(cat "$TMP/a.json")" != "$(cat "$OUT")" ]]; then same=0; fi
    done
    expect_eq "some other seed gives another placement" 0 "$same"
}

table_summarises_instances_and_zones() {
    sim --instances "$CI" --task-definition "$TD" --count 5 --table \
        --placement-strategy type=spread,field=attribute:ecs.availability-zone
    expect_eq "exit status" 0 "$RC"
    expect_eq "zone a row" "us-east-1a 2 2" "$(awk '$1 == "us-east-1a" && NF == 3 {print $1, $2, $3}' "$OUT")"
    expect_eq "zone c row" "us-east-1c 1 1" "$(awk '$1 == "us-east-1c" && NF == 3 {print $1, $2, $3}' "$OUT")"
    expect_eq "total" "placed 5, failed 0" "$(tail -n 1 "$OUT")"
}

bad_input_exits_2_naming_the_field() {
    sim --task-definition "$TD"
    expect_eq "no --instances" 2 "$RC"
    expect_stderr_has "--instances: required"
    sim --instances "$CI" --task-definition "$TD" --placement-strategy type=binpack,field=disk
    expect_eq "bad binpack field" 2 "$RC"
    expect_stderr_has "--placement-strategy[0].field"
    sim --instances "$CI" --task-definition "$TD" --placement-constraints 'type=memberOf,expression=attribute:x =='
    expect_eq "bad CQL" 2 "$RC"
    expect_stderr_has "placementConstraints[0].expression: position 14"
    sim --instances "$CI" --task-definition "$TD" --count many
    expect_eq "bad count" 2 "$RC"
    expect_stderr_has "--count"
    echo '{"containerInstances": [{"status": "ACTIVE"}]}' >"$TMP/noarn.json"
    sim --instances "$TMP/noarn.json" --task-definition "$TD"
    expect_eq "instance without ARN" 2 "$RC"
    expect_stderr_has "containerInstances[0].containerInstanceArn: missing"
    echo '{"containerInstances": [' >"$TMP/broken.json"
    sim --instances "$TMP/broken.json" --task-definition "$TD"
    expect_eq "broken JSON" 2 "$RC"
    expect_stderr_has "broken.json: line"
    jq '.taskDefinition.containerDefinitions[0].portMappings[0].containerPort = "eighty"' "$TD" >"$TMP/badport.json"
    sim --instances "$CI" --task-definition "$TMP/badport.json"
    expect_eq "bad containerPort" 2 "$RC"
    expect_stderr_has "containerDefinitions[0].portMappings[0].containerPort"
    sim --instances "$CI" --task-definition "$TD" --bogus
    expect_eq "unknown option" 2 "$RC"
    expect_stderr_has "unknown option '--bogus'"
    expect_eq "nothing on stdout" "" "$(cat "$OUT")"
}

dispatch_and_help() {
    "$BERTH" --help >"$TMP/help.txt" 2>&1
    expect_eq "berth --help" 0 $?
    grep -q "placement simulate" "$TMP/help.txt" || { echo "    help lacks placement simulate"; CASE_OK=0; }
    "$BERTH" nonsense >/dev/null 2>&1
    expect_eq "unknown command" 2 $?
    "$BERTH" placement simulate --help >"$TMP/help.txt" 2>&1
    expect_eq "subcommand --help" 0 $?
    grep -q -- "--placement-strategy" "$TMP/help.txt" || { echo "    help lacks --placement-strategy"; CASE_OK=0; }
}

run_case "spread(zone)+binpack(memory)+memberOf places 5 tasks 2/2/1 on t2 instances with dynamic ports" spread_binpack_member_of
run_case "JSON --placement-strategy/--placement-constraints and file:// give the shorthand's reply" json_strategies_equal_shorthand
run_case "a fixed host port places one task per instance; the rest fail with ECS's reasons, exit 1" fixed_port_fails_with_ecs_reasons
run_case "an unsatisfiable memberOf fails with 'MemberOf placement constraint unsatisfied.'" member_of_unsatisfied
run_case "distinctInstance counts tasks from --tasks (describe-tasks output) in the same group" distinct_instance_sees_running_tasks
run_case "--explain lists each step's removals and the winner's ranking keys" explain_lists_steps_and_keys
run_case "--seed makes random reproducible, and another seed changes it" random_is_reproducible
run_case "--table prints per-instance and per-zone counts" table_summarises_instances_and_zones
run_case "bad input exits 2 with a message naming the field" bad_input_exits_2_naming_the_field
run_case "berth dispatches 'placement simulate' and prints help" dispatch_and_help

cli_finish
