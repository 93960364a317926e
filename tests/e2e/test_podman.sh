#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# podman push / pull against the registry, as root, with a private image store
# (--root/--runroot in a temp dir, vfs driver) so the machine's own store is untouched.
# The test image comes from make-test-image.sh's OCI layout (no network).
#
#   E2E_TARGET=reference tests/e2e/test_podman.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need podman skopeo curl jq

[[ $(id -u) == 0 ]] || skip_all "podman tests run as root (private --root store); uid is $(id -u)"

start_registry
"$E2E_DIR/make-test-image.sh" "$E2E_TMP/img" >/dev/null
# shellcheck source=/dev/null
source "$E2E_TMP/img/digests.env"

export REGISTRY_AUTH_FILE="$E2E_TMP/auth.json"
echo '{}' >"$REGISTRY_AUTH_FILE"
mkdir -p "$E2E_TMP/podman/tmp"
PODMAN=(podman --root "$E2E_TMP/podman/root" --runroot "$E2E_TMP/podman/run" --storage-driver vfs
    --tmpdir "$E2E_TMP/podman/tmp" --events-backend file --cgroup-manager cgroupfs)
# vfs layers are plain directories and no container runs, so removing the temp dir is
# cleanup enough.  (Not `podman system reset`: it also removes the machine's networks.)

image_id() {
    "${PODMAN[@]}" image inspect --format '{{.Id}}' "$1" 2>/dev/null || echo "(no such image: $1)"
}

# Load the test image from the OCI layout (as an oci-archive: `podman pull oci:DIR` names
# the image after DIR, which fails when the temp dir's name has upper-case letters).
run "${PODMAN[@]}" load -i "$OCI_ARCHIVE"
[[ $CMD_STATUS == 0 ]] || { cat "$E2E_TMP/cmd.err" >&2; echo "podman cannot load the OCI layout" >&2; exit 1; }
"${PODMAN[@]}" tag "${AMD64_CONFIG_DIGEST#sha256:}" localhost/e2e/source:v1
# The multi-arch index goes up with skopeo, for the --arch pull case.
skopeo copy --all --dest-tls-verify=false "oci:$OCI_LAYOUT:multi" "docker://$REGISTRY/e2e/podman-multi:multi" >/dev/null

t_load() {
    expect_eq "image id of the loaded OCI layout = config digest" "${AMD64_CONFIG_DIGEST#sha256:}" \
        "$(image_id localhost/e2e/source:v1)"
}
run_case "podman load -i oci-archive (the layout's v1) loads the test image; its id is the config digest" t_load

t_push() {
    run "${PODMAN[@]}" tag localhost/e2e/source:v1 "$REGISTRY/e2e/podman:v1"
    expect_success
    run "${PODMAN[@]}" push --tls-verify=false --digestfile "$E2E_TMP/push.digest" "$REGISTRY/e2e/podman:v1"
    expect_success
    local pushed
    pushed=$(cat "$E2E_TMP/push.digest")
    # podman recompresses the layer, so the manifest digest is new: the registry must
    # answer with the digest podman computed, and keep the config as it was.
    req GET /v2/e2e/podman/manifests/v1 -H "Accept: application/vnd.oci.image.manifest.v1+json" \
        -H "Accept: application/vnd.docker.distribution.manifest.v2+json"
    expect_status 200
    expect_header Docker-Content-Digest "$pushed"
    expect_eq "sha256 of the served manifest" "$pushed" "sha256:$(sha256_file "$E2E_TMP/resp.body")"
    expect_jq '.config.digest' "\"$AMD64_CONFIG_DIGEST\""
    local layer
    layer=$(jq -r '.layers[0].digest' "$E2E_TMP/resp.body")
    req HEAD "/v2/e2e/podman/blobs/$layer"
    expect_status 200
}
run_case "podman push --tls-verify=false REG/e2e/podman:v1 → the registry serves the digest podman reports" t_push

t_pull() {
    run "${PODMAN[@]}" tag localhost/e2e/source:v1 "$REGISTRY/e2e/podman-pull:v1"
    expect_success
    run "${PODMAN[@]}" push --tls-verify=false "$REGISTRY/e2e/podman-pull:v1"
    expect_success
    run "${PODMAN[@]}" rmi "$REGISTRY/e2e/podman-pull:v1"
    expect_success
    run "${PODMAN[@]}" image exists "$REGISTRY/e2e/podman-pull:v1"
    expect_exit 1
    run "${PODMAN[@]}" pull --tls-verify=false "$REGISTRY/e2e/podman-pull:v1"
    expect_success
    expect_eq "image id after rmi + pull" "${AMD64_CONFIG_DIGEST#sha256:}" "$(image_id "$REGISTRY/e2e/podman-pull:v1")"
}
run_case "podman push, rmi, pull REG/e2e/podman-pull:v1 → the same image id" t_pull

t_pull_by_digest() {
    run "${PODMAN[@]}" tag localhost/e2e/source:v1 "$REGISTRY/e2e/podman-digest:v1"
    expect_success
    run "${PODMAN[@]}" push --tls-verify=false --digestfile "$E2E_TMP/digest" "$REGISTRY/e2e/podman-digest:v1"
    expect_success
    local digest
    digest=$(cat "$E2E_TMP/digest")
    run "${PODMAN[@]}" rmi "$REGISTRY/e2e/podman-digest:v1"
    expect_success
    run "${PODMAN[@]}" pull --tls-verify=false "$REGISTRY/e2e/podman-digest@$digest"
    expect_success
    expect_eq "image id after pull by digest" "${AMD64_CONFIG_DIGEST#sha256:}" \
        "$(image_id "$REGISTRY/e2e/podman-digest@$digest")"
}
run_case "podman pull REG/e2e/podman-digest@sha256:… (by digest) → the same image id" t_pull_by_digest

t_pull_arch() {
    run "${PODMAN[@]}" pull --tls-verify=false --arch arm64 "$REGISTRY/e2e/podman-multi:multi"
    expect_success
    expect_eq "image id of the arm64 platform" "${ARM64_CONFIG_DIGEST#sha256:}" \
        "$(image_id "$REGISTRY/e2e/podman-multi:multi")"
    expect_eq "architecture" arm64 \
        "$("${PODMAN[@]}" image inspect --format '{{.Architecture}}' "$REGISTRY/e2e/podman-multi:multi" 2>&1)"
}
run_case "podman pull --arch arm64 of a multi-arch index picks the arm64 image" t_pull_arch

t_pull_missing() {
    run "${PODMAN[@]}" pull --tls-verify=false "$REGISTRY/e2e/podman:no-such-tag"
    expect_exit 125
    expect_stderr_match 'manifest unknown'
}
run_case "podman pull of an absent tag fails with 'manifest unknown'" t_pull_missing

finish
