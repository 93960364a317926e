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

# shellcheck disable=SC2119 # no dockerd flags of its own
dockerd_start

# berthd starts while dockerd does; the service scheduler's timer every second (not 3 s)
export BERTH_ECS_SERVICE_TICK_MS=1000 E2E_BERTH_AUTH=1
start_registry
client_env

dockerd_wait

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
