#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# Task roles (issue 17): RegisterTaskDefinition, RunTask, StartTask,
# CreateService and UpdateService with a taskRoleArn need iam:PassRole on the
# role (to ecs-tasks.amazonaws.com) and a role that trusts
# ecs-tasks.amazonaws.com; a bridge-mode definition with a task role is refused. `berth agent --runtime none` serves each task's role
# credentials on 127.0.0.1 with the container-credentials protocol (one token
# per task, recorded in the task's environment as a container would get it):
# curl and the real `aws sts get-caller-identity` read them, and the session
# is arn:aws:sts::ACCOUNT:assumed-role/app/TASKID. A wrong token, no token and
# a stopped task's token get 403; another agent cannot act for the instance.
# Most calls go through one boto3 process per phase (ecs_task_roles.py).
#
#   E2E_TARGET=berth BERTHD=build/server/berthd BERTH_CLI=build/cli/berth tests/e2e/test_ecs_task_roles.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/aws /usr/bin/python3 /usr/bin/skopeo curl jq
is_berth || skip_all "task roles and the agent are Berth's"
[[ -n ${BERTH_CLI:-} && -x ${BERTH_CLI:-} ]] || skip_all "BERTH_CLI (the berth command) is not set"
/usr/bin/python3 -c 'import boto3' 2>/dev/null || skip_all "python3-boto3 is not installed"

start_authenticated_registry
ACCOUNT=$(sed -n 's/.*created account \([0-9]*\).*/\1/p' "$REGISTRY_LOG" | head -1)
ROLES=(/usr/bin/python3 "$E2E_DIR/ecs_task_roles.py" "$BASE" "$CREDS" "$E2E_TMP" "$ACCOUNT")
IMAGE=$REGISTRY/e2e/app:v1
PASSWORD=$("${AWS[@]}" ecr get-login-password)
"${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$PASSWORD" "oci:$OCI_LAYOUT:v1" "docker://$IMAGE" >/dev/null ||
    { echo "skopeo could not push the test image" >&2; exit 1; }
"${ROLES[@]}" setup >"$E2E_TMP/setup.json" || { echo "setting up roles and users failed" >&2; exit 1; }

AGENT=$E2E_TMP/agent
AWS_SHARED_CREDENTIALS_FILE=$E2E_TMP/agent-a.creds "$BERTH_CLI" agent --endpoint-url "$BASE" --cluster roles \
    --cpu 1024 --memory 1024 --runtime none --state-dir "$AGENT" --credentials-port 0 >>"$E2E_TMP/agent.log" 2>&1 &
echo $! >"$E2E_TMP/agent.pid"
at_exit 'kill -9 "$(cat "$E2E_TMP/agent.pid")" 2>/dev/null; cp "$E2E_TMP/agent.log" /tmp/tr/agent.log 2>/dev/null'
for _ in $(seq 300); do
    [[ -s $AGENT/state.json ]] && jq -e .containerInstanceArn "$AGENT/state.json" >/dev/null 2>&1 && break
    sleep 0.1
done
INSTANCE=$(jq -r .containerInstanceArn "$AGENT/state.json")

t_pass_role_and_trust() {
    run "${ROLES[@]}" start "$IMAGE" "$INSTANCE"
    expect_success
    cp "$E2E_TMP/cmd.out" "$E2E_TMP/start.json"
    expect_out_jq '[.nopass_register[0], (.nopass_register[1] | test("nopass is not authorized to perform: iam:PassRole on resource: arn:aws:iam::[0-9]+:role/app \\(taskRoleArn\\)"))]' \
        '["AccessDeniedException",true]'
    expect_out_jq '[.nopass_register_exec[0], (.nopass_register_exec[1] | test("iam:PassRole.*executionRoleArn"))]' '["AccessDeniedException",true]'
    expect_out_jq '[.untrusted_register[0], (.untrusted_register[1] | test("Role is not valid: .*role/untrusted does not trust ecs-tasks.amazonaws.com"))]' \
        '["ClientException",true]'
    expect_out_jq '[.missing_register[0], (.missing_register[1] | test("role/nobody is not a role of this account"))]' '["ClientException",true]'
    expect_out_jq '[.bridge_register[0], (.bridge_register[1] | test("task roles need networkMode host"))]' '["ClientException",true]'
    expect_out_jq '[.default_mode_register[0], (.default_mode_register[1] | test("bridge by default"))]' '["ClientException",true]'
    expect_out_jq .notapp_register '["AccessDeniedException","AccessDeniedException","AccessDeniedException"]'
    expect_out_jq '[.revision, .task_role]' "[1,\"arn:aws:iam::$ACCOUNT:role/app\"]"
    expect_out_jq '[.nopass_run[0], .nopass_start[0], .nopass_tasks]' '["AccessDeniedException","AccessDeniedException",0]'
    expect_out_jq '[.nopass_service[0], (.nopass_service[1] | test("iam:PassRole"))]' '["AccessDeniedException",true]'
    expect_out_jq '[.nopass_update[0], (.nopass_update[1] | test("iam:PassRole"))]' '["AccessDeniedException",true]'
    expect_out_jq '[(.dep_update | endswith(":task-definition/app:1")), .services]' '[true,["plain"]]'
    expect_out_jq '[.status, (.tasks | length)]' '[["RUNNING","RUNNING"],2]'
}
run_case "iam:PassRole (to ecs-tasks) and a trusting role are needed to register, run or make a service of a task role (a Deny holds whatever the case of the role's name); bridge mode is refused" t_pass_role_and_trust

T1=$(jq -r '.tasks[0]' "$E2E_TMP/start.json")
T2=$(jq -r '.tasks[1]' "$E2E_TMP/start.json")
# the environment the agent gives each task's containers
task_env() { jq -r --arg t "$1" --arg n "$2" '.tasks[$t].environment[] | select(.name == $n) | .value' "$AGENT/state.json"; }
URI=$(task_env "$T1" AWS_CONTAINER_CREDENTIALS_FULL_URI)
TOKEN1=$(task_env "$T1" AWS_CONTAINER_AUTHORIZATION_TOKEN)
TOKEN2=$(task_env "$T2" AWS_CONTAINER_AUTHORIZATION_TOKEN)

t_endpoint_serves_each_task_its_own() {
    [[ $URI =~ ^http://127\.0\.0\.1:[0-9]+/v1/credentials$ ]] || fail "AWS_CONTAINER_CREDENTIALS_FULL_URI is '$URI'"
    [[ -n $TOKEN1 && -n $TOKEN2 && $TOKEN1 != "$TOKEN2" ]] || fail "the tasks' tokens are '$TOKEN1' and '$TOKEN2'"
    run curl -sS -w '\n%{http_code}' -H "Authorization: $TOKEN1" "$URI"
    expect_success
    sed '$d' "$E2E_TMP/cmd.out" >"$E2E_TMP/creds1.json"
    [[ $(tail -1 "$E2E_TMP/cmd.out") == 200 ]] || fail "GET with task 1's token: $(cat "$E2E_TMP/cmd.out")"
    jq -e --arg role "arn:aws:iam::$ACCOUNT:role/app" '(.AccessKeyId | startswith("ASIA")) and (.SecretAccessKey | length == 40)
        and (.Token | length > 100) and .RoleArn == $role
        and (.Expiration | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))' "$E2E_TMP/creds1.json" >/dev/null ||
        fail "task 1's credentials: $(jq -c '{AccessKeyId, RoleArn, Expiration}' "$E2E_TMP/creds1.json")"
    run curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: $TOKEN2" "$URI"
    [[ $(cmd_out) == 200 ]] || fail "GET with task 2's token: $(cmd_out)"
    local code
    for code in "Authorization: $(changed_at "$TOKEN1" 5)" "Authorization: wrong" "X-No-Token: 1"; do
        run curl -sS -o "$E2E_TMP/denied.json" -w '%{http_code}' -H "$code" "$URI"
        [[ $(cmd_out) == 403 ]] || fail "GET with '$code' answered $(cmd_out)"
        jq -e '.code == "AccessDenied" and (has("AccessKeyId") | not)' "$E2E_TMP/denied.json" >/dev/null ||
            fail "GET with '$code' answered $(cat "$E2E_TMP/denied.json")"
    done
    run curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: $TOKEN1" "$URI"
    [[ $(cmd_out) == 405 ]] || fail "POST answered $(cmd_out)"
    # any local process may connect and send nothing (each such connection held every client up for 2 s)
    local port=${URI#http://127.0.0.1:} idle1 idle2 idle3
    port=${port%%/*}
    exec {idle1}<>"/dev/tcp/127.0.0.1/$port" {idle2}<>"/dev/tcp/127.0.0.1/$port" {idle3}<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET /v1/cred' >&"$idle3" # and one that stops mid-line
    run curl -sS --max-time 1.5 -o /dev/null -w '%{http_code}' -H "Authorization: $TOKEN1" "$URI"
    [[ $(cmd_out) == 200 ]] || fail "GET beside 3 idle connections answered $(cmd_out)"
    exec {idle1}>&- {idle2}>&- {idle3}>&-
}
run_case "the agent's endpoint: a task's token gets its role's credentials (ASIA key, RFC 3339 expiry); a wrong or missing token gets 403; idle connections hold nobody up" t_endpoint_serves_each_task_its_own

t_aws_cli_reads_the_endpoint() {
    # as a host-network container with the agent's environment would run it
    run env -u AWS_SHARED_CREDENTIALS_FILE AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONTAINER_CREDENTIALS_FULL_URI="$URI" \
        AWS_CONTAINER_AUTHORIZATION_TOKEN="$TOKEN1" /usr/bin/aws --endpoint-url "$BASE" --region us-east-1 sts get-caller-identity
    expect_success
    expect_out_jq .Arn "\"arn:aws:sts::$ACCOUNT:assumed-role/app/${T1##*/}\""
}
run_case "aws sts get-caller-identity with AWS_CONTAINER_CREDENTIALS_FULL_URI and the task's token: assumed-role/app/TASKID" t_aws_cli_reads_the_endpoint

t_other_agents_and_stopped_tasks() {
    curl -sS -H "Authorization: $TOKEN2" "$URI" >"$E2E_TMP/creds2.json"
    run "${ROLES[@]}" check "$INSTANCE" "$T1" "$T2" "$(jq -r .AccessKeyId "$E2E_TMP/creds2.json")" \
        "$(jq -r .SecretAccessKey "$E2E_TMP/creds2.json")" "$(jq -r .Token "$E2E_TMP/creds2.json")"
    expect_success
    expect_out_jq .task2_arn "\"arn:aws:sts::$ACCOUNT:assumed-role/app/${T2##*/}\""
    expect_out_jq '[.b_for_a[0:2], (.b_for_a[2] | test("registered by another principal"))]' '[[400,"AccessDeniedException"],true]'
    expect_out_jq '[.b_own_instance[0:2], (.b_own_instance[2] | test("does not run on container instance"))]' '[[400,"ClientException"],true]'
    expect_out_jq '[.b_poll_a, .b_stops_a_task]' '[[400,"AccessDeniedException"],[400,"AccessDeniedException"]]'
    expect_out_jq '[.a_own[0:2], (.a_own[2] > 3000 and .a_own[2] <= 3600)]' '[[200,"ASIA"],true]'
    expect_out_jq '[.a_untrusted[0:2], (.a_untrusted[2] | test("no longer trusts ecs-tasks.amazonaws.com")), .a_trusted_again]' \
        '[[400,"ClientException"],true,200]'
    expect_out_jq '[.stopped, .a_after_stop[0:2], (.a_after_stop[2] | test("stopped or stopping"))]' '[["STOPPED"],[400,"ClientException"],true]'
    run curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: $TOKEN1" "$URI"
    [[ $(cmd_out) == 403 ]] || fail "the stopped task's token answered $(cmd_out)"
    run curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: $TOKEN2" "$URI"
    [[ $(cmd_out) == 200 ]] || fail "the running task's token answered $(cmd_out) after the other stopped"
}
run_case "another agent cannot act for the instance or its tasks; a role that no longer trusts ECS's tasks gives none; after StopTask the task's token and berthd give nothing" t_other_agents_and_stopped_tasks

t_agent_restart_keeps_tokens() {
    local pid
    pid=$(cat "$E2E_TMP/agent.pid")
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done # not this (sub)shell's child
    run curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: $TOKEN2" "$URI"
    [[ $(cmd_out) == 000 ]] || fail "the endpoint answered $(cmd_out) with its agent stopped"
    local port=${URI#http://127.0.0.1:}
    port=${port%%/*}
    AWS_SHARED_CREDENTIALS_FILE=$E2E_TMP/agent-a.creds "$BERTH_CLI" agent --endpoint-url "$BASE" --cluster roles \
        --cpu 1024 --memory 1024 --runtime none --state-dir "$AGENT" --credentials-port "$port" >>"$E2E_TMP/agent.log" 2>&1 &
    echo $! >"$E2E_TMP/agent.pid"
    local code=000
    # Re-attaching and fetching take 2 calls, slow under ASan on a loaded machine. Until the agent
    # listens curl exits 7, which set -e would otherwise take as the case's verdict.
    for _ in $(seq 150); do
        code=$(curl -sS -o "$E2E_TMP/creds2b.json" -w '%{http_code}' -H "Authorization: $TOKEN2" "$URI" 2>/dev/null) || code=000
        [[ $code == 200 ]] && break
        sleep 0.1
    done
    [[ $code == 200 ]] || fail "after the agent's restart task 2's token answered $code"
    jq -e '.AccessKeyId | startswith("ASIA")' "$E2E_TMP/creds2b.json" >/dev/null || fail "no credentials after the restart"
    run curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: $TOKEN1" "$URI"
    [[ $(cmd_out) == 403 ]] || fail "the stopped task's token answered $(cmd_out) after the restart"
}
run_case "a restarted agent (same --credentials-port) serves the running task's old token again, not the stopped task's" t_agent_restart_keeps_tokens

finish
