#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# `berth agent --runtime none` against berthd: 6 agents in 3 availability
# zones register, long-poll for work and pull the task image (pushed with
# skopeo) from Berth with their own credentials; 12 tasks reach RUNNING with
# every layer verified in each agent's cache; StopTask stops one; an agent
# killed with SIGKILL is disconnected, then its tasks are lost; a restarted
# agent re-attaches to its instance; after a berthd restart the agents
# reconnect and keep their tasks; an agent whose identity may not pull gets
# CannotPullContainerError; binpack(image) places tasks on the agent whose
# cache holds the image; a task a service step places wakes its agent's
# parked poll at once; a STOPPED task is deleted after
# --ecs-stopped-task-retention. Short timeouts through berthd's flags.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd BERTH_CLI=build/cli/berth tests/e2e/test_ecs_agent.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/aws /usr/bin/python3 /usr/bin/skopeo curl jq sha256sum
is_berth || skip_all "the agent protocol is Berth's"
[[ -n ${BERTH_CLI:-} && -x ${BERTH_CLI:-} ]] || skip_all "BERTH_CLI (the berth command) is not set"
/usr/bin/python3 -c 'import boto3' 2>/dev/null || skip_all "python3-boto3 is not installed"

# agentConnected false after 3 s of silence (polls every second), tasks lost after 6 s
TIMEOUT_FLAGS=(--ecs-agent-timeout 3 --ecs-task-lost-timeout 6)
start_authenticated_registry
restart_registry "${TIMEOUT_FLAGS[@]}"
ECS=("${AWS[@]}" ecs)
IAM=("${AWS[@]}" iam)
ACCOUNT=$(sed -n 's/.*created account \([0-9]*\).*/\1/p' "$REGISTRY_LOG" | head -1)
WAIT=("$E2E_DIR/ecs_wait.py" "$BASE" "$CREDS")
IMAGE=$REGISTRY/e2e/app:v1

# make_user NAME POLICY-JSON: an IAM user with one access key in $E2E_TMP/NAME.creds
make_user() {
    local name=$1 out=$E2E_TMP/$1.key.json
    printf '%s' "$2" >"$E2E_TMP/$name.policy.json"
    "${IAM[@]}" create-user --user-name "$name" >/dev/null &&
        "${IAM[@]}" create-access-key --user-name "$name" >"$out" &&
        "${IAM[@]}" create-policy --policy-name "$name-policy" --policy-document "file://$E2E_TMP/$name.policy.json" >/dev/null &&
        "${IAM[@]}" attach-user-policy --user-name "$name" --policy-arn "arn:aws:iam::$ACCOUNT:policy/$name-policy" ||
        { echo "make_user $name failed" >&2; exit 1; }
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$(jq -r .AccessKey.AccessKeyId "$out")" \
        "$(jq -r .AccessKey.SecretAccessKey "$out")" >"$E2E_TMP/$name.creds"
}
AGENT_ECS='{"Effect":"Allow","Action":["ecs:RegisterContainerInstance","ecs:Poll","ecs:SubmitTaskStateChange","ecs:SubmitContainerStateChange"],"Resource":"*"}'
make_user instance "{\"Version\":\"2012-10-17\",\"Statement\":[$AGENT_ECS,{\"Effect\":\"Allow\",\"Action\":[\"ecr:GetAuthorizationToken\",\"ecr:BatchGetImage\",\"ecr:GetDownloadUrlForLayer\",\"ecr:BatchCheckLayerAvailability\"],\"Resource\":\"*\"}]}"
# may talk to ECS and get a registry password, but not read the repository
make_user nopull "{\"Version\":\"2012-10-17\",\"Statement\":[$AGENT_ECS,{\"Effect\":\"Allow\",\"Action\":\"ecr:GetAuthorizationToken\",\"Resource\":\"*\"}]}"

PASSWORD=$("${AWS[@]}" ecr get-login-password)
"${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$PASSWORD" "oci:$OCI_LAYOUT:v1" "docker://$IMAGE" >/dev/null ||
    { echo "skopeo could not push the test image" >&2; exit 1; }
"${ECS[@]}" create-cluster --cluster-name agents >/dev/null
"${ECS[@]}" register-task-definition --family app \
    --container-definitions "[{\"name\":\"app\",\"image\":\"$IMAGE\",\"cpu\":128,\"memory\":128,\"portMappings\":[{\"containerPort\":80,\"hostPort\":0}]}]" >/dev/null

# start_agent N [CREDS-NAME] [CLUSTER]: agent N (AZ az-((N-1)%3+1)), state in $E2E_TMP/agent.N, log agent.N.log
start_agent() {
    local n=$1 who=${2:-instance} cluster=${3:-agents}
    AWS_SHARED_CREDENTIALS_FILE=$E2E_TMP/$who.creds "$BERTH_CLI" agent --endpoint-url "$BASE" --cluster "$cluster" \
        --cpu 1024 --memory 1024 --attribute "ecs.availability-zone=az-$(((n - 1) % 3 + 1))" --ports 22 \
        --runtime none --state-dir "$E2E_TMP/agent.$n" >>"$E2E_TMP/agent.$n.log" 2>&1 &
    echo $! >"$E2E_TMP/agent.$n.pid"
}
stop_agent() { # N [SIGNAL]
    local pid
    pid=$(cat "$E2E_TMP/agent.$1.pid" 2>/dev/null) || return 0
    kill -"${2:-TERM}" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$E2E_TMP/agent.$1.pid"
}
at_exit 'for f in "$E2E_TMP"/agent.*.pid; do kill -9 "$(cat "$f")"; done'
instance_of() { jq -r .containerInstanceArn "$E2E_TMP/agent.$1/state.json"; }

for n in 1 2 3 4 5 6; do start_agent "$n"; done

# ================================================================ running

t_agents_connect() {
    run "${WAIT[@]}" agents 20 'len(instances) == 6 and all(i["agentConnected"] for i in instances)'
    expect_success
    expect_out_jq '[.instances[].attributes[] | select(.name == "ecs.availability-zone") | .value] | sort | unique' \
        '["az-1","az-2","az-3"]'
    expect_out_jq '[.instances[].versionInfo.agentVersion] | unique' '["berth-agent 0.1.0"]'
}
run_case "6 agents in 3 AZs register and stay connected (their polls are the heartbeat)" t_agents_connect

t_twelve_tasks_run() {
    run "${ECS[@]}" run-task --cluster agents --task-definition app --count 10 \
        --placement-strategy type=spread,field=attribute:ecs.availability-zone type=spread,field=instanceId
    expect_success
    run "${ECS[@]}" run-task --cluster agents --task-definition app --count 2 \
        --placement-strategy type=spread,field=attribute:ecs.availability-zone type=spread,field=instanceId
    expect_success
    run "${WAIT[@]}" agents 30 'len(tasks) == 12 and all(t["lastStatus"] == "RUNNING" for t in tasks)'
    expect_success
    cp "$E2E_TMP/cmd.out" "$E2E_TMP/running.json"
    expect_out_jq '[.tasks[] | .containers[0].lastStatus] | unique' '["RUNNING"]'
    expect_out_jq '[.tasks[] | (.startedAt != null and .pullStartedAt != null and .pullStoppedAt != null)] | unique' '[true]'
    expect_out_jq '[.tasks[] | .containers[0].networkBindings[0].hostPort >= 49153] | unique' '[true]'
    expect_out_jq '[.instances[].runningTasksCount]' '[2,2,2,2,2,2]'
    # every agent with a task holds the image, each blob under its own digest
    local n hex held=0
    for n in 1 2 3 4 5 6; do
        [[ $(jq --arg ci "$(instance_of "$n")" '[.tasks[] | select(.containerInstanceArn == $ci)] | length' \
            "$E2E_TMP/running.json") -gt 0 ]] || continue
        held=$((held + 1))
        for hex in "${AMD64_LAYER_DIGEST#sha256:}" "${AMD64_CONFIG_DIGEST#sha256:}"; do
            [[ -f $E2E_TMP/agent.$n/cache/blobs/sha256/$hex ]] || fail "agent $n holds no blob $hex"
            [[ $(sha256sum <"$E2E_TMP/agent.$n/cache/blobs/sha256/$hex" | cut -d' ' -f1) == "$hex" ]] ||
                fail "agent $n's blob $hex does not hash to its name"
        done
    done
    ((held == 6)) || fail "spread over 3 AZs put tasks on $held agents, not 6"
}
run_case "RunTask 12 tasks: all reach RUNNING through their agents; each agent's cache holds the layers, digests verified" t_twelve_tasks_run

KILLED=1
KILLED_CI=$(instance_of $KILLED)
t_stop_task() {
    local task
    task=$(jq -r --arg ci "$KILLED_CI" '[.tasks[] | select(.containerInstanceArn != $ci)][0].taskArn' "$E2E_TMP/running.json")
    run "${ECS[@]}" stop-task --cluster agents --task "$task" --reason "e2e says stop"
    expect_success
    expect_out_jq '[.task.desiredStatus, .task.lastStatus]' '["STOPPED","RUNNING"]'
    run "${WAIT[@]}" agents 10 "[t['lastStatus'] for t in tasks if t['taskArn'] == '$task'] == ['STOPPED']"
    expect_success
    expect_out_jq ".tasks[] | select(.taskArn == \"$task\") | [.stoppedReason, .stopCode, .containers[0].exitCode]" \
        '["e2e says stop","UserInitiated",0]'
}
run_case "StopTask: the agent is woken, stops the task and reports it STOPPED (the user's reason kept)" t_stop_task

# ================================================================ lost, restarted

stop_agent $KILLED KILL
t_killed_agent_is_lost() {
    # meanwhile another principal allowed ecs:Poll polls for the instance: refused, and no heartbeat
    export ECS_WAIT_INTRUDER=$E2E_TMP/nopull.creds:$KILLED_CI
    run "${WAIT[@]}" agents 10 "[i['agentConnected'] for i in instances if i['containerInstanceArn'] == '$KILLED_CI'] == [False]"
    expect_success
    run "${ECS[@]}" start-task --cluster agents --task-definition app --container-instances "$KILLED_CI"
    expect_success
    expect_out_jq '[(.tasks | length), .failures[0].reason]' '[0,"AGENT"]'
    run "${WAIT[@]}" agents 15 "all(t['lastStatus'] == 'STOPPED' for t in tasks if t['containerInstanceArn'] == '$KILLED_CI')"
    expect_success
    unset ECS_WAIT_INTRUDER
    expect_out_jq "[.tasks[] | select(.containerInstanceArn == \"$KILLED_CI\") | [.stoppedReason, .stopCode]] | unique" \
        '[["Task lost: the container instance'"'"'s agent stopped reporting","TerminationNotice"]]'
    expect_out_jq ".instances[] | select(.containerInstanceArn == \"$KILLED_CI\") | [.runningTasksCount, .remainingResources[0].integerValue]" \
        '[0,1024]'
}
run_case "an agent killed with SIGKILL: agentConnected false and no new task (AGENT), then its tasks STOPPED as lost, claims released, though another principal polls for it" t_killed_agent_is_lost

start_agent $KILLED
GRACEFUL=2
GRACEFUL_CI=$(instance_of $GRACEFUL)
stop_agent $GRACEFUL TERM
start_agent $GRACEFUL
t_restarted_agents_reattach() {
    run "${WAIT[@]}" agents 15 'len(instances) == 6 and all(i["agentConnected"] for i in instances)'
    expect_success
    [[ $(instance_of $KILLED) == "$KILLED_CI" ]] || fail "agent $KILLED registered as $(instance_of $KILLED), not $KILLED_CI"
    [[ $(instance_of $GRACEFUL) == "$GRACEFUL_CI" ]] || fail "agent $GRACEFUL registered as $(instance_of $GRACEFUL)"
    grep -q "re-attached to container instance $KILLED_CI" "$E2E_TMP/agent.$KILLED.log" || fail "agent $KILLED did not re-attach"
    grep -q "stopping: tasks stay as they are" "$E2E_TMP/agent.$GRACEFUL.log" || fail "agent $GRACEFUL did not stop gracefully"
    # the gracefully stopped agent's tasks were never lost: RUNNING still
    expect_out_jq "[.tasks[] | select(.containerInstanceArn == \"$GRACEFUL_CI\" and .stopCode != \"UserInitiated\") | .lastStatus] | unique" '["RUNNING"]'
    jq -e '.tasks | length == 0' "$E2E_TMP/agent.$KILLED/state.json" >/dev/null ||
        fail "agent $KILLED still holds tasks berthd marked lost: $(jq -c .tasks "$E2E_TMP/agent.$KILLED/state.json")"
}
run_case "restarted agents re-attach to their instances (state dir); a SIGTERMed agent's tasks stay RUNNING, a lost one's are dropped" t_restarted_agents_reattach

# ================================================================ berthd restarts

BEFORE=$("${WAIT[@]}" agents 5 'True' | jq -c '[.tasks[] | select(.lastStatus == "RUNNING") | .taskArn] | sort')
restart_registry "${TIMEOUT_FLAGS[@]}"
t_berthd_restart() {
    run "${WAIT[@]}" agents 20 'all(i["agentConnected"] for i in instances)'
    expect_success
    expect_out_jq '[.tasks[] | select(.lastStatus == "RUNNING") | .taskArn] | sort' "$BEFORE"
    run "${ECS[@]}" run-task --cluster agents --task-definition app --count 2
    expect_success
    run "${WAIT[@]}" agents 20 "sum(t['lastStatus'] == 'RUNNING' for t in tasks) == $(jq length <<<"$BEFORE") + 2"
    expect_success
    grep -q "again in" "$E2E_TMP/agent.3.log" || fail "agent 3 never retried: did berthd restart?"
}
run_case "berthd restarted: the agents reconnect, keep their tasks and take new ones" t_berthd_restart

# ================================================================ no pull

"${ECS[@]}" create-cluster --cluster-name nopull >/dev/null
start_agent 7 nopull nopull
t_cannot_pull() {
    run "${WAIT[@]}" nopull 15 'len(instances) == 1 and instances[0]["agentConnected"]'
    expect_success
    run "${ECS[@]}" run-task --cluster nopull --task-definition app
    expect_success
    run "${WAIT[@]}" nopull 15 'len(tasks) == 1 and tasks[0]["lastStatus"] == "STOPPED"'
    expect_success
    expect_out_jq '.tasks[0] | [.stopCode, (.stoppedReason | startswith("CannotPullContainerError: e2e/app:v1 manifest: HTTP 403"))]' \
        '["TaskFailedToStart",true]'
    expect_out_jq '.instances[0].remainingResources[1].integerValue' 1024
    [[ -z $(ls "$E2E_TMP/agent.7/cache/blobs/sha256" 2>/dev/null) ]] || fail "the refused agent holds blobs"
}
run_case "an agent whose identity may not pull: the task STOPPED with CannotPullContainerError, nothing cached" t_cannot_pull

# ================================================================ image locality

"${ECS[@]}" create-cluster --cluster-name local >/dev/null
mkdir -p "$E2E_TMP/agent.10"
cp -r "$E2E_TMP/agent.3/cache" "$E2E_TMP/agent.10/cache" # agent 10 holds the image already, agent 9 nothing
start_agent 9 instance local
start_agent 10 instance local
t_image_locality() {
    run "${WAIT[@]}" local 15 'len(instances) == 2 and all(i["agentConnected"] for i in instances)'
    expect_success
    run "${ECS[@]}" run-task --cluster local --task-definition app --count 3 --placement-strategy type=binpack,field=image
    expect_success
    expect_out_jq "[.tasks[].containerInstanceArn] | unique" "[\"$(instance_of 10)\"]"
    run "${WAIT[@]}" local 15 'len(tasks) == 3 and all(t["lastStatus"] == "RUNNING" for t in tasks)'
    expect_success
    grep -q "pulled $IMAGE (0 bytes fetched, the rest from the cache)" "$E2E_TMP/agent.10.log" ||
        fail "agent 10 fetched the image again: $(grep pulled "$E2E_TMP/agent.10.log")"
    [[ -z $(ls "$E2E_TMP/agent.9/cache/blobs/sha256" 2>/dev/null) ]] || fail "agent 9 pulled the image"
}
run_case "binpack(image): RunTask places every task on the agent whose cache already holds the image's layers; nothing is fetched" t_image_locality

# a layer of about 9 MiB (random, so skopeo's gzip makes it a few hundred bytes longer): two whole 4 MiB blocks
# and a part written with O_DIRECT, the tail buffered
BIG=$E2E_TMP/big-oci
mkdir -p "$BIG/blobs/sha256"
head -c $(((9 << 20) + 4097)) /dev/urandom >"$E2E_TMP/big.layer"
BIG_LAYER=$(sha256sum <"$E2E_TMP/big.layer" | cut -d' ' -f1)
mv "$E2E_TMP/big.layer" "$BIG/blobs/sha256/$BIG_LAYER"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$BIG_LAYER" >"$E2E_TMP/big.config"
BIG_CONFIG=$(sha256sum <"$E2E_TMP/big.config" | cut -d' ' -f1)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
    "$BIG_CONFIG" "$(stat -c %s "$E2E_TMP/big.config")" "$BIG_LAYER" $(((9 << 20) + 4097)) >"$E2E_TMP/big.manifest"
mv "$E2E_TMP/big.config" "$BIG/blobs/sha256/$BIG_CONFIG"
BIG_MANIFEST=$(sha256sum <"$E2E_TMP/big.manifest" | cut -d' ' -f1)
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
    "$BIG_MANIFEST" "$(stat -c %s "$E2E_TMP/big.manifest")" >"$BIG/index.json"
mv "$E2E_TMP/big.manifest" "$BIG/blobs/sha256/$BIG_MANIFEST"
printf '{"imageLayoutVersion":"1.0.0"}' >"$BIG/oci-layout"
"${SKOPEO[@]}" copy --dest-tls-verify=false --dest-creds "AWS:$PASSWORD" "oci:$BIG:v1" "docker://$REGISTRY/e2e/big:v1" >/dev/null ||
    { echo "skopeo could not push the big image" >&2; exit 1; }
# the layer as pushed (compressed by skopeo)
"${SKOPEO[@]}" inspect --raw --tls-verify=false --creds "AWS:$PASSWORD" "docker://$REGISTRY/e2e/big:v1" >"$E2E_TMP/big.pushed"
BIG_LAYER=$(jq -r '.layers[0].digest | ltrimstr("sha256:")' "$E2E_TMP/big.pushed")
BIG_SIZE=$(jq -r '.layers[0].size' "$E2E_TMP/big.pushed")
"${ECS[@]}" register-task-definition --family big \
    --container-definitions "[{\"name\":\"big\",\"image\":\"$REGISTRY/e2e/big:v1\",\"cpu\":128,\"memory\":128}]" >/dev/null
t_big_layer_cached() {
    run "${ECS[@]}" start-task --cluster local --task-definition big --container-instances "$(instance_of 9)"
    expect_success
    run "${WAIT[@]}" local 30 '[t["lastStatus"] for t in tasks if ":task-definition/big:" in t["taskDefinitionArn"]] == ["RUNNING"]'
    expect_success
    local cached=$E2E_TMP/agent.9/cache/blobs/sha256/$BIG_LAYER
    [[ -f $cached ]] || fail "agent 9 holds no blob $BIG_LAYER"
    ((BIG_SIZE > 9 << 20 && BIG_SIZE % 4096)) || fail "the pushed layer has $BIG_SIZE bytes: not the case under test"
    [[ $(stat -c %s "$cached") == "$BIG_SIZE" ]] || fail "the cached layer has $(stat -c %s "$cached") bytes, not $BIG_SIZE"
    [[ $(sha256sum <"$cached" | cut -d' ' -f1) == "$BIG_LAYER" ]] || fail "the cached layer does not hash to its name"
    [[ -z $(ls "$E2E_TMP/agent.9/cache/tmp") ]] || fail "a temp file was left: $(ls "$E2E_TMP/agent.9/cache/tmp")"
}
run_case "a layer of 9 MiB and an odd tail: the agent's cache holds it whole, under its digest, no temp file left" t_big_layer_cached
stop_agent 9
stop_agent 10

# ================================================================ instance role

# the agent's own key may only assume the role; the role may run an agent and pull
make_user bootstrap "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\",\"Resource\":\"*\"}]}"
printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:user/bootstrap"},"Action":"sts:AssumeRole"}]}' \
    "$ACCOUNT" >"$E2E_TMP/trust.json"
"${IAM[@]}" create-role --role-name ecsInstanceRole --assume-role-policy-document "file://$E2E_TMP/trust.json" >/dev/null
"${IAM[@]}" attach-role-policy --role-name ecsInstanceRole --policy-arn "arn:aws:iam::$ACCOUNT:policy/instance-policy" >/dev/null
"${ECS[@]}" create-cluster --cluster-name role >/dev/null
AWS_SHARED_CREDENTIALS_FILE=$E2E_TMP/bootstrap.creds "$BERTH_CLI" agent --endpoint-url "$BASE" --cluster role --cpu 1024 \
    --memory 1024 --runtime none --state-dir "$E2E_TMP/agent.8" --role-arn "arn:aws:iam::$ACCOUNT:role/ecsInstanceRole" \
    >>"$E2E_TMP/agent.8.log" 2>&1 &
echo $! >"$E2E_TMP/agent.8.pid"
t_instance_role() {
    run "${WAIT[@]}" role 15 'len(instances) == 1 and instances[0]["agentConnected"]'
    expect_success
    run "${ECS[@]}" run-task --cluster role --task-definition app
    expect_success
    run "${WAIT[@]}" role 15 'len(tasks) == 1 and tasks[0]["lastStatus"] == "RUNNING"'
    expect_success
    grep -Eq "assumed arn:aws:iam::$ACCOUNT:role/ecsInstanceRole until 20[0-9]{2}-[0-9]{2}-[0-9]{2}T" "$E2E_TMP/agent.8.log" ||
        fail "the agent did not assume the role: $(cat "$E2E_TMP/agent.8.log")"
    # the bootstrap key alone may not do what the agent did
    AWS_SHARED_CREDENTIALS_FILE=$E2E_TMP/bootstrap.creds run "${ECS[@]}" list-clusters
    expect_exit 254
    expect_stderr_match AccessDenied
}
run_case "--role-arn: the agent assumes its instance role (its own key may only do that) and registers, polls and pulls with it" t_instance_role

# berthd's credential clock an hour and more ahead: the agent's session has expired
restart_registry "${TIMEOUT_FLAGS[@]}" --clock-offset 3700
t_session_expires() {
    run "${WAIT[@]}" role 20 'instances[0]["agentConnected"] and tasks[0]["lastStatus"] == "RUNNING"'
    expect_success
    sleep 2 # a poll or two with the new session
    [[ $(grep -c "assumed arn:aws:iam::$ACCOUNT:role/ecsInstanceRole until " "$E2E_TMP/agent.8.log") -ge 2 ]] ||
        fail "the agent did not assume the role again: $(cat "$E2E_TMP/agent.8.log")"
    grep -q "ExpiredTokenException" "$E2E_TMP/agent.8.log" || fail "the old session was not refused as expired"
    # renewed at once: a backoff grown while berthd restarted would keep the instance silent towards
    # the 6 s task-lost timeout (its task lost) for want of a session the agent can have at once
    ! grep "ExpiredTokenException.*again in" "$E2E_TMP/agent.8.log" ||
        fail "the agent waited out its backoff before assuming the role again"
    run "${WAIT[@]}" role 5 'instances[0]["agentConnected"]'
    expect_success
}
run_case "the instance role's session expires (berthd's clock moved on): the agent assumes the role again and stays connected" t_session_expires

# ================================================================ the long poll

# berthd's default agent timeout (300 s): a poll with nothing to do waits 20 s; STOPPED tasks are kept 2 s
restart_registry --ecs-stopped-task-retention 2
SIGNED=("$E2E_DIR/aws_signed.py" "$BASE" "$CREDS" ecs)
POLL_TARGET=X-Amz-Target:AmazonEC2ContainerServiceV20141113.BerthPollWork
"${ECS[@]}" create-cluster --cluster-name wake >/dev/null
WAKE_CI=$("${ECS[@]}" register-container-instance --cluster wake \
    --total-resources name=CPU,type=INTEGER,integerValue=1024 name=MEMORY,type=INTEGER,integerValue=1024 |
    jq -r .containerInstance.containerInstanceArn)
t_poll_is_woken() {
    local start end pid body
    body="{\"cluster\":\"wake\",\"containerInstance\":\"$WAKE_CI\"}"
    start=$(date +%s)
    "${SIGNED[@]}" "$body" "$POLL_TARGET" Content-Type:application/x-amz-json-1.1 >"$E2E_TMP/poll.out" &
    pid=$!
    sleep 2
    kill -0 $pid 2>/dev/null || fail "the poll answered at once with no work: $(cat "$E2E_TMP/poll.out")"
    run "${ECS[@]}" start-task --cluster wake --task-definition app --container-instances "$WAKE_CI"
    expect_success
    wait $pid
    end=$(date +%s)
    ((end - start < 15)) || fail "the poll answered after $((end - start)) s: it was not woken by StartTask"
    jq -e --arg t "$(jq -r '.tasks[0].taskArn' "$E2E_TMP/cmd.out")" \
        '.status == 200 and .body.tasks[0].taskArn == $t and .body.tasks[0].containers[0].image != null' "$E2E_TMP/poll.out" >/dev/null ||
        fail "the woken poll did not carry the task: $(cat "$E2E_TMP/poll.out")"
    # knowing it, the agent is told nothing new: the poll waits again, then answers empty
    body="{\"cluster\":\"wake\",\"containerInstance\":\"$WAKE_CI\",\"knownTasks\":[$(jq '.tasks[0].taskArn' "$E2E_TMP/cmd.out")],\"waitSeconds\":2}"
    run "${SIGNED[@]}" "$body" "$POLL_TARGET" Content-Type:application/x-amz-json-1.1
    expect_out_jq '[.status, (.body.tasks | length), (.body.stopTasks | length)]' '[200,0,0]'
    body="{\"cluster\":\"wake\",\"containerInstance\":\"$WAKE_CI\",\"waitSeconds\":99}"
    run "${SIGNED[@]}" "$body" "$POLL_TARGET" Content-Type:application/x-amz-json-1.1
    expect_out_jq '[.status, .body.__type, (.body.message | test("waitSeconds"))]' '[400,"InvalidParameterException",true]'
    AWS_SHARED_CREDENTIALS_FILE=$E2E_TMP/nopull.creds run "$E2E_DIR/aws_signed.py" "$BASE" "$E2E_TMP/nopull.creds" ecs \
        "{\"cluster\":\"agents\",\"containerInstance\":\"$WAKE_CI\"}" "$POLL_TARGET" Content-Type:application/x-amz-json-1.1
    expect_out_jq '.status' 400
}
run_case "a parked poll (20 s) is woken by StartTask on its instance and carries the task; bad polls are refused" t_poll_is_woken

t_service_step_wakes_poll() {
    local start end pid body
    body="{\"cluster\":\"wake\",\"containerInstance\":\"$WAKE_CI\",\"knownTasks\":$(jq -c '[.body.tasks[].taskArn]' "$E2E_TMP/poll.out")}"
    start=$(date +%s)
    "${SIGNED[@]}" "$body" "$POLL_TARGET" Content-Type:application/x-amz-json-1.1 >"$E2E_TMP/svcpoll.out" &
    pid=$!
    sleep 1
    kill -0 $pid 2>/dev/null || fail "the poll answered at once with no work: $(cat "$E2E_TMP/svcpoll.out")"
    run "${ECS[@]}" create-service --cluster wake --service-name woken --task-definition app --desired-count 1
    expect_success
    wait $pid
    end=$(date +%s)
    # the service's task is placed inside CreateService: its instance's poll is woken then, not at its 20 s timeout
    ((end - start < 8)) || fail "the poll answered after $((end - start)) s: the service step did not wake it"
    jq -e '.status == 200 and (.body.tasks | length) == 1' "$E2E_TMP/svcpoll.out" >/dev/null ||
        fail "the woken poll did not carry the service's task: $(cat "$E2E_TMP/svcpoll.out")"
}
run_case "a task the service scheduler places (CreateService's step) wakes its instance's parked poll at once" t_service_step_wakes_poll

DESCRIBE_TARGET=X-Amz-Target:AmazonEC2ContainerServiceV20141113.DescribeTasks
t_stopped_task_expires() {
    local task body i
    task=$(jq -r '.body.tasks[0].taskArn' "$E2E_TMP/poll.out")
    run "${ECS[@]}" stop-task --cluster wake --task "$task"
    expect_success
    expect_out_jq '.task.lastStatus' '"STOPPED"'
    body="{\"cluster\":\"wake\",\"tasks\":[\"$task\"]}"
    for ((i = 0; i < 40; i++)); do
        run "${SIGNED[@]}" "$body" "$DESCRIBE_TARGET" Content-Type:application/x-amz-json-1.1
        jq -e '.body.failures[0].reason == "MISSING"' "$E2E_TMP/cmd.out" >/dev/null && break
        jq -e '.body.tasks[0].lastStatus == "STOPPED"' "$E2E_TMP/cmd.out" >/dev/null ||
            fail "the stopped task was neither shown STOPPED nor gone: $(cat "$E2E_TMP/cmd.out")"
        sleep 0.5
    done
    expect_out_jq '[.status, (.body.tasks | length), .body.failures[0].reason]' '[200,0,"MISSING"]'
    # the service's task is live: kept
    run "${ECS[@]}" list-tasks --cluster wake
    expect_out_jq '.taskArns | length' 1
}
run_case "--ecs-stopped-task-retention 2: a STOPPED task is shown, then deleted (DescribeTasks: MISSING); live tasks stay" t_stopped_task_expires

finish
