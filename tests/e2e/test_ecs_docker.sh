#!/bin/bash
# Cleanup functions are called indirectly, through at_exit:
# shellcheck disable=SC2317
# `berth agent --runtime docker` against berthd and a private dockerd that this script
# starts and stops (its own socket, data root and exec root in the temp dir, vfs storage,
# no iptables, no default bridge: the agent makes its own user-defined bridge network,
# and the engine's userland proxy publishes the ports). Two agents share the engine, a
# third on its own cluster has an instance role that may not pull. The cases, in
# ecs_docker.py (one boto3 process): a service of 3 tasks of a busybox httpd image
# (built offline from Debian's busybox-static, pushed with skopeo) runs, each task
# reachable with curl on the host port the engine chose; StopTask stops a container
# with SIGTERM (exit code 143) and removes it; an essential container's exit stops its
# task (the other container killed after its stopTimeout: 137); a host-network task
# with a task role fetches its credentials with busybox wget from the agent's endpoint,
# `aws sts get-caller-identity` with them answers assumed-role/app/TASKID, and a
# stopped task's token gets nothing from inside a container; an agent restarted
# without its task list re-discovers its containers by label and leaves the other
# agent's alone; the refused pull is CannotPullContainerError.
# If dockerd cannot start here, the script is skipped (exit 77) with its log's last lines.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd BERTH_CLI=build/cli/berth tests/e2e/test_ecs_docker.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need dockerd docker skopeo curl /usr/bin/python3
is_berth || skip_all "the agent protocol is Berth's"
[[ -n ${BERTH_CLI:-} && -x ${BERTH_CLI:-} ]] || skip_all "BERTH_CLI (the berth command) is not set"
[[ -x /bin/busybox ]] || skip_all "the test image is built from Debian's busybox-static (/bin/busybox)"
/usr/bin/python3 -c 'import boto3' 2>/dev/null || skip_all "python3-boto3 is not installed"
[[ $(id -u) == 0 ]] || skip_all "dockerd needs root here (uid is $(id -u))"

# How long dockerd may take to answer on its socket.
readonly DOCKERD_START_TIMEOUT_TENTHS=300

DK="$E2E_TMP/docker"
mkdir -p "$DK/data" "$DK/exec"
export DOCKER_HOST="unix://$DK/docker.sock" DOCKER_CONFIG="$DK/config"
dockerd --storage-driver vfs --iptables=false --ip6tables=false --bridge=none \
    --host "$DOCKER_HOST" --data-root "$DK/data" --exec-root "$DK/exec" --pidfile "$DK/pid" >"$DK/dockerd.log" 2>&1 &
DOCKERD_PID=$!

stop_dockerd() {
    local i
    # the agents' containers and network go first: dockerd would leave their bridge behind
    docker ps -aq 2>/dev/null | xargs -r docker rm -f
    docker network ls -q --filter driver=bridge 2>/dev/null | xargs -r docker network rm
    kill "$DOCKERD_PID" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
    # a bridge network leaves the engine's bind mount of the host's netns in the exec root
    grep -o " $DK/[^ ]*" /proc/mounts | sort -r | xargs -r umount -l
}
at_exit stop_dockerd

# berthd starts while dockerd does; the service scheduler's timer every second (not 3 s)
export BERTH_ECS_SERVICE_TICK_MS=1000 E2E_BERTH_AUTH=1
start_registry
client_env

for ((i = 0; i < DOCKERD_START_TIMEOUT_TENTHS; i++)); do
    docker version >/dev/null 2>&1 && break
    if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
        skip_all "dockerd exited during start-up; its log ends with: $(tail -n 5 "$DK/dockerd.log" | tr '\n' ' ')"
    fi
    sleep 0.1
done
docker version >/dev/null 2>&1 ||
    skip_all "dockerd did not answer on $DOCKER_HOST within $((DOCKERD_START_TIMEOUT_TENTHS / 10)) s; its log ends with: $(tail -n 5 "$DK/dockerd.log" | tr '\n' ' ')"
note "dockerd $(docker version --format '{{.Server.Version}}') on $DOCKER_HOST (pid $DOCKERD_PID)"

# Two networks named berth, as two agents creating it at once can leave (the engine's
# CheckDuplicate is no lock): the agents must all take the same one and remove the other.
for _ in 1 2; do
    curl -sf --unix-socket "$DK/docker.sock" -H 'Content-Type: application/json' -d '{"Name":"berth","CheckDuplicate":false}' \
        http://docker/v1.41/networks/create >/dev/null || { echo "cannot create a network berth" >&2; exit 1; }
done

# The agents are the driver's children; whatever it leaves behind goes with the script.
# shellcheck disable=SC2016 # expanded when it runs
at_exit 'for f in "$E2E_TMP"/agent.*.pid; do kill -9 "$(cat "$f")"; done'
set +e
/usr/bin/python3 "$E2E_DIR/ecs_docker.py" "$BASE" "$CREDS" "$BERTH_CLI" "$DOCKER_HOST" "$E2E_TMP"
rc=$?
set -e
if ((rc != 0)); then
    for f in "$E2E_TMP"/agent.*.log; do
        echo "# last lines of $f:"
        tail -n 15 "$f" | cut -c1-300 | sed 's/^/#   /'
    done
    echo "# last lines of the registry's log:"
    tail -n 10 "$REGISTRY_LOG" | cut -c1-300 | sed 's/^/#   /'
fi
exit $rc
