#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# The container image (scripts/build-image) and docker-compose.yml, in two parts:
#
#   test_compose.sh config   fast: berthd --tls-self-signed on loopback (the certificate made
#                            on the first start, kept after, its refusals) and
#                            `docker-compose config` of the repository's docker-compose.yml
#   test_compose.sh up       the image built from $BERTHD and $BERTH_CLI, loaded into a
#                            private dockerd (vfs, no iptables, as test_docker.sh starts one);
#                            `docker-compose up -d`: push and pull with skopeo over TLS
#                            verified with the certificate berthd made in its volume, three
#                            agents in three zones run tasks; `docker-compose down`, `up`
#                            again: the image, the cluster and the agents are kept; the
#                            image's root file system is read-only
#
#   E2E_TARGET=berth BERTHD=build/server/berthd BERTH_CLI=build/cli/berth tests/e2e/test_compose.sh up
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
MODE=${1:-config}
TOP=$(cd "$E2E_DIR/../.." && pwd)
COMPOSE_FILE=$TOP/docker-compose.yml
is_berth || skip_all "the image and compose file are Berth's"
[[ -n ${BERTHD:-} && -x ${BERTHD:-} ]] || skip_all "BERTHD (the berthd binary) is not set"
need curl jq openssl /usr/bin/python3 docker-compose
/usr/bin/python3 -c 'import yaml' 2>/dev/null || skip_all "python3-yaml (a docker-compose dependency) is not installed"

fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>&1; }

# ================================================================ config: berthd's own certificate

if [[ $MODE == config ]]; then

# start_selfsigned DATA [FLAGS...]: berthd --tls-self-signed on a free loopback port; sets
# SS_PID, SS_PORT and SS_LOG (DATA/../berthd.log); waits for TLS to answer (unverified).
start_selfsigned() {
    local data=$1
    shift
    SS_PORT=$(free_port)
    SS_LOG=$data.log
    "$BERTHD" --listen "127.0.0.1:$SS_PORT" --data "$data" --insecure-no-auth --tls-self-signed "$@" >>"$SS_LOG" 2>&1 &
    SS_PID=$!
    local i
    for ((i = 0; i < E2E_START_TIMEOUT_TENTHS; i++)); do
        curl -sk -o /dev/null --max-time 1 "https://127.0.0.1:$SS_PORT/v2/" && return 0
        kill -0 "$SS_PID" 2>/dev/null || { fail "berthd exited: $(tail -n 3 "$SS_LOG")"; return 1; }
        sleep 0.1
    done
    fail "berthd --tls-self-signed did not answer on https://127.0.0.1:$SS_PORT/"
    return 1
}
stop_selfsigned() {
    kill "$SS_PID" 2>/dev/null || true
    wait "$SS_PID" 2>/dev/null || true
}

t_selfsigned_first_start() {
    local d=$E2E_TMP/ss1
    start_selfsigned "$d" --tls-hostname "registry.example,localhost,10.1.2.3" || return 0
    expect_eq "modes of tls/, cert.pem, key.pem" "700 644 600" \
        "$(stat -c %a "$d/tls" "$d/tls/cert.pem" "$d/tls/key.pem" | tr '\n' ' ' | sed 's/ $//')"
    expect_eq "subjectAltName" "DNS:registry.example, DNS:localhost, IP Address:10.1.2.3" \
        "$(openssl x509 -in "$d/tls/cert.pem" -noout -ext subjectAltName | sed -n '2s/^ *//p')"
    expect_eq "key type" "prime256v1" "$(openssl pkey -in "$d/tls/key.pem" -noout -text | sed -n 's/^ASN1 OID: //p')"
    expect_eq "extended key usage" "TLS Web Server Authentication" \
        "$(openssl x509 -in "$d/tls/cert.pem" -noout -ext extendedKeyUsage | sed -n '2s/^ *//p')"
    # verified against the certificate itself: the names it carries pass, others do not
    run curl -s -o /dev/null -w '%{http_code}' --cacert "$d/tls/cert.pem" "https://localhost:$SS_PORT/v2/"
    expect_success
    expect_eq "GET https://localhost/v2/ verified with cert.pem" "200" "$(cmd_out)"
    run curl -s -o /dev/null --cacert "$d/tls/cert.pem" "https://127.0.0.1:$SS_PORT/v2/"
    expect_exit 60 # not in the SAN list: curl's "peer certificate cannot be authenticated"
    grep -q "made a self-signed certificate for registry.example,localhost,10.1.2.3 in $d/tls/cert.pem" "$SS_LOG" ||
        fail_diff "berthd's log" "made a self-signed certificate for ... in $d/tls/cert.pem" "$(head -n 3 "$SS_LOG")"
    stop_selfsigned
}
run_case "--tls-self-signed: the first start makes tls/cert.pem (0644, the SANs asked for, serverAuth) and key.pem (0600, P-256); curl verifies it" t_selfsigned_first_start

t_selfsigned_kept() {
    local d=$E2E_TMP/ss2 before
    start_selfsigned "$d" || return 0
    before=$(fingerprint "$d/tls/cert.pem")
    expect_eq "default subjectAltName" "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1" \
        "$(openssl x509 -in "$d/tls/cert.pem" -noout -ext subjectAltName | sed -n '2s/^ *//p')"
    stop_selfsigned
    start_selfsigned "$d" --tls-hostname localhost,other.example || return 0
    expect_eq "certificate after a restart" "$before" "$(fingerprint "$d/tls/cert.pem")"
    grep -q "warning: the kept certificate does not name other.example (remove $d/tls to make a new one)" "$SS_LOG" ||
        fail_diff "berthd's log" "warning: the kept certificate does not name other.example ..." "$(tail -n 3 "$SS_LOG")"
    grep -c "made a self-signed certificate" "$SS_LOG" | grep -qx 1 || fail "the certificate was made again: $(cat "$SS_LOG")"
    run curl -s -o /dev/null -w '%{http_code}' --cacert "$d/tls/cert.pem" "https://localhost:$SS_PORT/v2/"
    expect_eq "GET /v2/ after the restart, verified" "200" "$(cmd_out)"
    stop_selfsigned
    # a key alone (a first start cut between the two writes) gets a new pair
    rm "$d/tls/cert.pem"
    start_selfsigned "$d" || return 0
    [[ $(fingerprint "$d/tls/cert.pem") != "$before" ]] || fail "no new certificate after cert.pem was removed"
    run openssl x509 -in "$d/tls/cert.pem" -noout -pubkey
    openssl pkey -in "$d/tls/key.pem" -pubout | cmp -s - "$E2E_TMP/cmd.out" || fail "the new cert.pem is not key.pem's"
    stop_selfsigned
    # a certificate alone is refused, not overwritten
    rm "$d/tls/key.pem"
    before=$(fingerprint "$d/tls/cert.pem")
    run "$BERTHD" --listen "127.0.0.1:$(free_port)" --data "$d" --insecure-no-auth --tls-self-signed
    expect_exit 1
    expect_stderr_match "cert.pem is there but .*key.pem is not: restore the key, or remove .*/tls to make a new pair"
    expect_eq "certificate after the refusal" "$before" "$(fingerprint "$d/tls/cert.pem")"
}
run_case "--tls-self-signed: a restart keeps the certificate (warning of a name it lacks); a lone key gets a new pair, a lone certificate is refused" t_selfsigned_kept

t_selfsigned_flags() {
    local d=$E2E_TMP/ss3
    run "$BERTHD" --data "$d" --tls-hostname localhost
    expect_exit 2
    expect_stderr_match "^berthd: --tls-hostname names what --tls-self-signed's certificate is for: it needs --tls-self-signed$"
    run "$BERTHD" --data "$d" --tls-self-signed --tls-cert "$d/c.pem" --tls-key "$d/k.pem"
    expect_exit 2
    expect_stderr_match "^berthd: --tls-self-signed makes its own certificate: it does not go with --tls-cert$"
    local bad
    for bad in "" "a,,b" "bad_name" "-lead.example" "trail-.example" "a..b" "x,$(printf 'a%.0s' {1..64}).example"; do
        run "$BERTHD" --data "$d" --tls-self-signed --tls-hostname "$bad"
        expect_exit 2
        expect_stderr_match "^berthd: --tls-hostname"
    done
    run "$BERTHD" --data "$d" --tls-self-signed --tls-hostname "$(seq -s, -f 'h%g.example' 17)"
    expect_exit 2
    expect_stderr_match "^berthd: --tls-hostname takes at most 16 names$"
    # the config file takes both keys, and names the line of a bad list
    printf 'tls-self-signed = true\ntls-hostname = localhost,bad_name\n' >"$E2E_TMP/bad.conf"
    run "$BERTHD" --config "$E2E_TMP/bad.conf" --data "$d"
    expect_exit 2
    expect_stderr_match "line 2.*tls-hostname.*'bad_name' is neither a DNS name nor an IP address"
    [[ ! -e $d ]] || fail "berthd made $d though its options were refused"
    printf 'tls-self-signed = true\ntls-hostname = from-config.example\n' >"$E2E_TMP/good.conf"
    start_selfsigned "$d" --config "$E2E_TMP/good.conf" || return 0
    expect_eq "subjectAltName from the config file" "DNS:from-config.example" \
        "$(openssl x509 -in "$d/tls/cert.pem" -noout -ext subjectAltName | sed -n '2s/^ *//p')"
    stop_selfsigned
}
run_case "--tls-hostname without --tls-self-signed, with --tls-cert, or naming no DNS name or address: exit 2 before anything is made; both are keys of --config's file" t_selfsigned_flags

# ================================================================ config: docker-compose.yml

# compose_json: `docker-compose config` of the repository's file as JSON in $E2E_TMP/compose.json
compose_json() {
    run docker-compose -f "$COMPOSE_FILE" --project-directory "$E2E_TMP" config
    expect_success
    /usr/bin/python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)' <"$E2E_TMP/cmd.out" \
        >"$E2E_TMP/compose.json"
}
cjq() { jq -c "$1" "$E2E_TMP/compose.json"; }

t_compose_config() {
    compose_json
    expect_eq "services" '["agent-az1","agent-az2","agent-az3","berthd"]' "$(cjq '.services | keys')"
    expect_eq "volumes" '["agent-az1","agent-az2","agent-az3","berth-data"]' "$(cjq '.volumes | keys')"
    expect_eq "read-only root file systems" '[true,true,true,true]' "$(cjq '[.services[].read_only]')"
    expect_eq "no-new-privileges everywhere" '[true,true,true,true]' \
        "$(cjq '[.services[].security_opt | index("no-new-privileges:true") != null]')"
    expect_eq "berthd's TLS and data flags" '["--data=/var/lib/berth","--tls-self-signed","--tls-hostname=berthd,localhost,127.0.0.1,::1"]' \
        "$(cjq '[.services.berthd.command[] | select(startswith("--data") or startswith("--tls"))]')"
    expect_eq "berthd's volume" '["berth-data:/var/lib/berth:rw"]' "$(cjq '.services.berthd.volumes')"
    expect_eq "zones of the agents" '["ecs.availability-zone=az-1","ecs.availability-zone=az-2","ecs.availability-zone=az-3"]' \
        "$(cjq '[.services | to_entries[] | select(.key | startswith("agent")) | .value.command | .[index("--attribute") + 1]]')"
    expect_eq "the agents' runtime, endpoint and CA" '[["none","https://berthd:5000","/run/berthd/tls/cert.pem"]]' \
        "$(cjq '[.services | to_entries[] | select(.key | startswith("agent")) | .value.command
                 | [.[index("--runtime") + 1], .[index("--endpoint-url") + 1], .[index("--ca-bundle") + 1]]] | unique')"
    expect_eq "the agents see berthd's volume read-only, each its own state" \
        '[["berth-data:/run/berthd:ro","agent-az1:/var/lib/berth-agent:rw"],["berth-data:/run/berthd:ro","agent-az2:/var/lib/berth-agent:rw"],["berth-data:/run/berthd:ro","agent-az3:/var/lib/berth-agent:rw"]]' \
        "$(cjq '[.services | to_entries[] | select(.key | startswith("agent")) | .value.volumes]')"
    expect_eq "the agents' credentials file" '["/run/berthd/admin-credentials"]' \
        "$(cjq '[.services[] | .environment.AWS_SHARED_CREDENTIALS_FILE | values] | unique')"
}
run_case "docker-compose config: berthd with --tls-self-signed and the berth-data volume, three agents (az-1..3, --runtime none) that read it read-only; every root file system read-only" t_compose_config

t_compose_config_env() {
    BERTH_IMAGE=registry.example/berth:9 BERTH_PORT=15443 BERTH_TLS_HOSTNAMES=berthd,registry.example compose_json
    expect_eq "images" '["registry.example/berth:9"]' "$(cjq '[.services[].image] | unique')"
    expect_eq "published port" '[{"published":15443,"target":5000}]' "$(cjq '[.services.berthd.ports[] | {published, target}]')"
    expect_eq "--tls-hostname" '["--tls-hostname=berthd,registry.example"]' \
        "$(cjq '[.services.berthd.command[] | select(startswith("--tls-hostname"))]')"
}
run_case "docker-compose config: BERTH_IMAGE, BERTH_PORT and BERTH_TLS_HOSTNAMES choose the image, the port and the certificate's names" t_compose_config_env

    finish
fi
[[ $MODE == up ]] || { echo "usage: test_compose.sh config|up" >&2; exit 2; }

# ================================================================ up: the image in a private dockerd

[[ -n ${BERTH_CLI:-} && -x ${BERTH_CLI:-} ]] || skip_all "BERTH_CLI (the berth command) is not set"
need dockerd docker buildah skopeo
[[ $(id -u) == 0 ]] || skip_all "dockerd and buildah need root here (uid is $(id -u))"
"$E2E_DIR/make-test-image.sh" "$E2E_TMP/img" >/dev/null
# shellcheck source=/dev/null
source "$E2E_TMP/img/digests.env"

# How long the stack may take to come up.
readonly STACK_TIMEOUT_TENTHS=300
# shellcheck disable=SC2119 # no dockerd flags of its own; stop_stack stops it
E2E_DOCKERD_OWN_STOP=1 dockerd_start
PROJECT=berthe2e$$
export COMPOSE_PROJECT_NAME=$PROJECT BERTH_IMAGE=berth-e2e:test
stop_stack() {
    docker-compose -f "$COMPOSE_FILE" --project-directory "$E2E_TMP" down -v --timeout 5 >/dev/null 2>&1 || true
    dockerd_stop
}
at_exit stop_stack

# The image, while dockerd starts.
if ! "$TOP/scripts/build-image" --berthd "$BERTHD" --berth "$BERTH_CLI" --output "$E2E_TMP/berth-image.tar" \
    --tag "$BERTH_IMAGE" 2>"$E2E_TMP/build-image.log"; then
    echo "scripts/build-image failed:" >&2
    cat "$E2E_TMP/build-image.log" >&2
    exit 1
fi
note "$(tail -n 1 "$E2E_TMP/build-image.log")"

dockerd_wait
docker load -i "$E2E_TMP/berth-image.tar" >/dev/null

PORT=$(free_port)
export BERTH_PORT=$PORT
REG=127.0.0.1:$PORT
# The stack's network gets a subnet outside dockerd's default pools (172.17-31.x,
# 192.168.x): test_docker and test_ecs_docker run their own dockerds at the same
# time, and two engines choosing a pool at once could take the same one, which
# would leave the host two routes to it.
cat >"$E2E_TMP/network.yml" <<EOF
networks:
  default:
    ipam:
      config:
        - subnet: 10.$((200 + $$ % 50)).$(($$ / 50 % 256)).0/24
EOF
COMPOSE=(docker-compose -f "$COMPOSE_FILE" -f "$E2E_TMP/network.yml" --project-directory "$E2E_TMP")
CERTS=$E2E_TMP/certs.d # skopeo's --cert-dir: ca.crt
mkdir -p "$CERTS"

# stack_up: docker-compose up -d, then wait for berthd's HTTPS (verified with the
# certificate copied out of its volume); sets CA and CREDS.
stack_up() {
    run "${COMPOSE[@]}" up -d
    expect_success
    local ctr i
    ctr=$("${COMPOSE[@]}" ps -q berthd)
    for ((i = 0; i < STACK_TIMEOUT_TENTHS; i++)); do
        docker cp "$ctr:/var/lib/berth/tls/cert.pem" "$CERTS/ca.crt" 2>/dev/null &&
            docker cp "$ctr:/var/lib/berth/admin-credentials" "$E2E_TMP/admin-credentials" 2>/dev/null &&
            curl -s -o /dev/null --max-time 1 --cacert "$CERTS/ca.crt" "https://$REG/v2/" && return 0
        sleep 0.1
    done
    fail "berthd did not answer on https://$REG/ verified with its certificate; its log:" "$(docker logs "$ctr" 2>&1 | tail -n 5)"
    exit 1
}
login_password() {
    AWS_SHARED_CREDENTIALS_FILE=$E2E_TMP/admin-credentials "$BERTH_CLI" ecr get-login-password \
        --endpoint-url "https://$REG" --ca-bundle "$CERTS/ca.crt"
}

t_up_push_pull() {
    stack_up
    local password
    password=$(login_password) || { fail "berth ecr get-login-password failed"; return 0; }
    run skopeo copy --dest-cert-dir "$CERTS" --dest-creds "AWS:$password" "oci:$OCI_LAYOUT:v1" "docker://$REG/e2e/app:v1"
    expect_success
    run skopeo copy --src-cert-dir "$CERTS" --src-creds "AWS:$password" "docker://$REG/e2e/app:v1" "oci:$E2E_TMP/pulled:v1"
    expect_success
    run skopeo inspect --raw "oci:$E2E_TMP/pulled:v1"
    expect_eq "config digest of the pulled image" "\"$AMD64_CONFIG_DIGEST\"" "$(jq -c .config.digest "$E2E_TMP/cmd.out")"
    # the same with TLS unverified is refused: skopeo checks the certificate
    run skopeo inspect --creds "AWS:$password" "docker://$REG/e2e/app:v1"
    expect_exit 1
    expect_stderr_match "x509: certificate signed by unknown authority"
}
run_case "docker-compose up -d: skopeo pushes and pulls through berthd over TLS verified with the certificate it made in its volume" t_up_push_pull

# ecs PHASE: the ECS side from one boto3 process (compose_ecs.py)
ecs() {
    run /usr/bin/python3 "$E2E_DIR/compose_ecs.py" "https://$REG" "$E2E_TMP/admin-credentials" "$CERTS/ca.crt" "$1" "$E2E_TMP/ecs.$1.json"
}

t_up_agents() {
    ecs first
    expect_success
    expect_eq "zones of the connected instances" '["az-1","az-2","az-3"]' "$(jq -c .zones "$E2E_TMP/ecs.first.json")"
    expect_eq "tasks RUNNING, one per zone" '["az-1","az-2","az-3"]' "$(jq -c .task_zones "$E2E_TMP/ecs.first.json")"
}
run_case "the three agents register in az-1, az-2 and az-3; three tasks of the pushed image, spread by zone, reach RUNNING" t_up_agents

t_read_only() {
    local ctr
    ctr=$("${COMPOSE[@]}" ps -q berthd)
    expect_eq "berthd: read-only root, user, no capabilities" "true 10001:10001 [ALL]" \
        "$(docker inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}} {{.HostConfig.CapDrop}}' "$ctr")"
    expect_eq "berthd's process uid" "10001" "$(awk '/^Uid:/ {print $2}' "/proc/$(docker inspect --format '{{.State.Pid}}' "$ctr")/status")"
    # the image alone, with docker run --read-only: berthd starts on its anonymous volume
    # and answers (on the stack's network: this dockerd has no default bridge)
    run docker run -d --read-only --network "${PROJECT}_default" "$BERTH_IMAGE"
    expect_success
    local solo ip i code=000
    solo=$(cmd_out)
    ip=$(docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$solo")
    for ((i = 0; i < STACK_TIMEOUT_TENTHS && code == 000; i++)); do
        code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 1 "https://$ip:5000/v2/") || code=000
        [[ $code != 000 ]] || sleep 0.1
    done
    expect_eq "GET /v2/ of docker run --read-only IMAGE" "401" "$code"
    expect_eq "the image's size" "ok" "$(docker image inspect --format '{{.Size}}' "$BERTH_IMAGE" | awk '{print ($1 < 40000000) ? "ok" : $1 " bytes"}')"
    [[ $code == 401 ]] || fail "its log: $(docker logs "$solo" 2>&1 | tail -n 5)"
    docker rm -f -v "$solo" >/dev/null
}
run_case "the image runs as uid 10001 with a read-only root file system (compose's berthd, and docker run --read-only), and is under 40 MB" t_read_only

t_down_up() {
    local before cert
    before=$(docker volume ls -q | sort | tr '\n' ' ')
    cert=$(fingerprint "$CERTS/ca.crt")
    run "${COMPOSE[@]}" down --timeout 20
    expect_success
    expect_eq "containers after down" "" "$(docker ps -aq)"
    expect_eq "volumes after down" "$before" "$(docker volume ls -q | sort | tr '\n' ' ')"
    stack_up
    expect_eq "berthd's certificate after down and up" "$cert" "$(fingerprint "$CERTS/ca.crt")"
    local password
    password=$(login_password) || { fail "berth ecr get-login-password failed after up"; return 0; }
    run skopeo inspect --cert-dir "$CERTS" --creds "AWS:$password" "docker://$REG/e2e/app:v1"
    expect_success
    expect_eq "digest of e2e/app:v1 after down and up" "\"$AMD64_MANIFEST_DIGEST\"" "$(jq -c .Digest "$E2E_TMP/cmd.out")"
    ecs again
    expect_success
    expect_eq "instances after down and up: the same three, connected" \
        "$(jq -c .instances "$E2E_TMP/ecs.first.json")" "$(jq -c .instances "$E2E_TMP/ecs.again.json")"
    expect_eq "tasks after down and up" "$(jq -c .tasks "$E2E_TMP/ecs.first.json")" "$(jq -c .tasks "$E2E_TMP/ecs.again.json")"
}
run_case "docker-compose down, up -d: the volumes stay; the image, the certificate, the cluster's three instances and their tasks are kept" t_down_up

finish
