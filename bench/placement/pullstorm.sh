#!/usr/bin/env bash
# bench/placement/pullstorm.sh BUILD_DIR [AGENTS LAYER_MIB HOLDERS] — the pull
# storm: AGENTS `berth agent --runtime none` each start one task of the same
# image (one LAYER_MIB random layer) at the same moment; the aggregate pull
# rate from RunTask to the last task RUNNING. Then, on two fresh clusters of
# AGENTS agents where HOLDERS already hold the image (their caches copied),
# the bytes the agents fetch for AGENTS new tasks with spread(instanceId)
# alone and with binpack(image) first. Not a test.
set -euo pipefail
BUILD=$(cd "${1:?usage: pullstorm.sh BUILD_DIR [AGENTS LAYER_MIB HOLDERS]}" && pwd)
N=${2:-12} MIB=${3:-256} HOLD=${4:-3}
cmake --build "$BUILD" --target berthd berth -j2 >/dev/null
W=$(mktemp -d "${TMPDIR:-/tmp}/berth-pullstorm.XXXXXX")
PORT=$((20000 + RANDOM % 20000))
URL=http://127.0.0.1:$PORT
"$BUILD"/server/berthd --listen "127.0.0.1:$PORT" --data "$W/data" >"$W/berthd.log" 2>&1 &
PIDS=($!)
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT
for _ in $(seq 100); do [[ -f $W/data/admin-credentials ]] && break; sleep 0.1; done
export AWS_SHARED_CREDENTIALS_FILE=$W/data/admin-credentials AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=
ECS=(/usr/bin/aws --endpoint-url "$URL" ecs)

# the image: an OCI layout with one random layer
L=$W/oci
mkdir -p "$L/blobs/sha256"
head -c $((MIB << 20)) /dev/urandom >"$W/layer"
LD=$(sha256sum <"$W/layer" | cut -d' ' -f1)
mv "$W/layer" "$L/blobs/sha256/$LD"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$LD" >"$W/config"
CD=$(sha256sum <"$W/config" | cut -d' ' -f1)
mv "$W/config" "$L/blobs/sha256/$CD"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
    "$CD" "$(stat -c %s "$L/blobs/sha256/$CD")" "$LD" $((MIB << 20)) >"$W/manifest"
MD=$(sha256sum <"$W/manifest" | cut -d' ' -f1)
MS=$(stat -c %s "$W/manifest")
mv "$W/manifest" "$L/blobs/sha256/$MD"
printf '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
    "$MD" "$MS" >"$L/index.json"
PASSWORD=$(/usr/bin/aws --endpoint-url "$URL" ecr get-login-password)
/usr/bin/skopeo copy --dest-tls-verify=false --dest-creds "AWS:$PASSWORD" "oci:$L:v1" "docker://127.0.0.1:$PORT/storm/app:v1" >/dev/null
"${ECS[@]}" register-task-definition --family storm \
    --container-definitions "[{\"name\":\"app\",\"image\":\"127.0.0.1:$PORT/storm/app:v1\",\"cpu\":128,\"memory\":128}]" >/dev/null

# run_tasks CLUSTER N STRATEGY...: N tasks at once, in calls of at most 10 (ECS's limit) made together
run_tasks() {
    local cluster=$1 n=$2 pids=() k
    shift 2
    while ((n > 0)); do
        k=$((n < 10 ? n : 10))
        "${ECS[@]}" run-task --cluster "$cluster" --task-definition storm --count "$k" --placement-strategy "$@" >/dev/null &
        pids+=($!)
        n=$((n - k))
    done
    for k in "${pids[@]}"; do wait "$k"; done
}
# agents CLUSTER FIRST LAST: agents FIRST..LAST in CLUSTER
agents() {
    local n
    "${ECS[@]}" create-cluster --cluster-name "$1" >/dev/null
    for ((n = $2; n <= $3; n++)); do
        "$BUILD"/cli/berth agent --endpoint-url "$URL" --cluster "$1" --cpu 4096 --memory 8192 --runtime none \
            --state-dir "$W/agent.$n" >"$W/agent.$n.log" 2>&1 &
        PIDS+=($!)
    done
    for _ in $(seq 100); do
        [[ $("${ECS[@]}" list-container-instances --cluster "$1" --query 'length(containerInstanceArns)') == "$(($3 - $2 + 1))" ]] && break
        sleep 0.5
    done
    sleep 1.5 # every agent's first poll (its layers) is in
}
# wait_running CLUSTER: until every task is RUNNING; prints the seconds waited
wait_running() {
    local t0 arns
    t0=$(date +%s.%N)
    read -ra arns <<<"$("${ECS[@]}" list-tasks --cluster "$1" --query 'taskArns' --output text)"
    # shellcheck disable=SC2016 # a JMESPath literal, not a shell expansion
    while [[ $("${ECS[@]}" describe-tasks --cluster "$1" --tasks "${arns[@]}" --query 'length(tasks[?lastStatus!=`RUNNING`])') != 0 ]]; do
        sleep 0.2
    done
    echo "$t0"
}
fetched() { # FIRST LAST: bytes agents FIRST..LAST fetched
    local n
    for ((n = $1; n <= $2; n++)); do cat "$W/agent.$n.log"; done |
        sed -n 's/.*(\([0-9]*\) bytes fetched.*/\1/p' | awk '{s += $1} END {printf "%.0f\n", s}'
}

echo "== pull storm: $N agents, one task each of a ${MIB} MiB image, at once"
agents storm 1 "$N"
T0=$(date +%s.%N)
run_tasks storm "$N" type=spread,field=instanceId
wait_running storm >/dev/null
T1=$(date +%s.%N)
BYTES=$(fetched 1 "$N")
read -ra ARNS <<<"$("${ECS[@]}" list-tasks --cluster storm --query 'taskArns' --output text)"
# the agents' own clocks: first pull started to last pull done (the CLI's polling above is slow on a busy machine)
SPAN=$("${ECS[@]}" describe-tasks --cluster storm --tasks "${ARNS[@]}" |
    /usr/bin/python3 -c 'import json, sys, datetime as d
t = json.load(sys.stdin)["tasks"]
f = d.datetime.fromisoformat
print((max(f(x["pullStoppedAt"]) for x in t) - min(f(x["pullStartedAt"]) for x in t)).total_seconds())')
awk -v b="$BYTES" -v s="$SPAN" -v t0="$T0" -v t1="$T1" 'BEGIN {printf "fetched %.0f MiB: first pull started to last pull done %.2f s = %.0f MB/s aggregate (RunTask to all RUNNING seen by the CLI: %.1f s)\n", b / 1048576, s, b / 1e6 / s, t1 - t0}'
for p in "${PIDS[@]:1}"; do kill "$p"; done
PIDS=("${PIDS[0]}")

[[ -n ${STORM_ONLY:-} ]] && exit 0 # STORM_ONLY=1: the storm alone (e.g. TMPDIR=/dev/shm: no disk writes)

for mode in spread image; do
    FIRST=$((N + 1))
    [[ $mode == image ]] && FIRST=$((2 * N + 1))
    LAST=$((FIRST + N - 1))
    for ((k = 0; k < HOLD; k++)); do mkdir -p "$W/agent.$((FIRST + k))" && cp -r "$W/agent.$((k + 1))/cache" "$W/agent.$((FIRST + k))/"; done
    agents "loc-$mode" "$FIRST" "$LAST"
    if [[ $mode == image ]]; then
        STRAT=("type=binpack,field=image" "type=spread,field=instanceId")
    else
        STRAT=("type=spread,field=instanceId")
    fi
    run_tasks "loc-$mode" "$N" "${STRAT[@]}"
    wait_running "loc-$mode" >/dev/null
    echo "== $N new tasks, $HOLD of $N agents holding the image, placement ${STRAT[*]}: $(fetched "$FIRST" "$LAST") bytes fetched"
    for p in "${PIDS[@]:1}"; do kill "$p"; done
    PIDS=("${PIDS[0]}")
done
