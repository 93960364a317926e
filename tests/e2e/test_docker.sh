#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# docker push / pull through a private dockerd that this script starts and stops:
# its own socket, data root and exec root in the temp dir, vfs storage, no iptables, no
# bridge, the registry listed as insecure.  Nothing of the machine's docker is touched.
# If dockerd cannot start here, every case is skipped (exit 77) with its log's last lines.
#
#   E2E_TARGET=reference tests/e2e/test_docker.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need dockerd docker skopeo curl jq

[[ $(id -u) == 0 ]] || skip_all "dockerd needs root here (uid is $(id -u))"

start_registry
"$E2E_DIR/make-test-image.sh" "$E2E_TMP/img" >/dev/null
# shellcheck source=/dev/null
source "$E2E_TMP/img/digests.env"

dockerd_start --insecure-registry "$REGISTRY"
dockerd_wait

# The test image, loaded once; the multi-arch index goes up with skopeo for the --platform case.
docker load -i "$DOCKER_ARCHIVE" >/dev/null
skopeo copy --all --dest-tls-verify=false "oci:$OCI_LAYOUT:multi" "docker://$REGISTRY/e2e/docker-multi:multi" >/dev/null

image_id() {
    docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || echo "(no such image: $1)"
}

# push_tagged REPO:TAG: docker tag the loaded image as REG/REPO:TAG and push it;
# sets PUSHED_DIGEST from docker's "TAG: digest: sha256:… size: N" line.
push_tagged() {
    run docker tag "$DOCKER_ARCHIVE_TAG" "$REGISTRY/$1"
    expect_success
    run docker push "$REGISTRY/$1"
    expect_success
    PUSHED_DIGEST=$(sed -n 's/^.*: digest: \(sha256:[0-9a-f]\{64\}\) size: [0-9]*$/\1/p' "$E2E_TMP/cmd.out")
    [[ -n $PUSHED_DIGEST ]] || fail_diff "docker push output" "<tag>: digest: sha256:… size: N" "$(tail -n 3 "$E2E_TMP/cmd.out")"
}

t_load() {
    expect_eq "image id after docker load" "$AMD64_CONFIG_DIGEST" "$(image_id "$DOCKER_ARCHIVE_TAG")"
}
run_case "docker load -i docker-archive.tar: the image id is the config digest" t_load

t_push() {
    push_tagged e2e/docker:v1
    # dockerd resolves the tag with HEAD and needs Docker-Content-Digest on it.
    req HEAD /v2/e2e/docker/manifests/v1 -H "Accept: application/vnd.docker.distribution.manifest.v2+json"
    expect_status 200
    expect_header Content-Type application/vnd.docker.distribution.manifest.v2+json
    expect_header Docker-Content-Digest "$PUSHED_DIGEST"
    req GET "/v2/e2e/docker/manifests/$PUSHED_DIGEST" -H "Accept: application/vnd.docker.distribution.manifest.v2+json"
    expect_status 200
    expect_eq "sha256 of the served manifest" "$PUSHED_DIGEST" "sha256:$(sha256_file "$E2E_TMP/resp.body")"
    expect_jq '.config.digest' "\"$AMD64_CONFIG_DIGEST\""
}
run_case "docker push REG/e2e/docker:v1 → the registry serves the digest docker printed (schema 2)" t_push

t_pull() {
    push_tagged e2e/docker-pull:v1
    run docker rmi "$REGISTRY/e2e/docker-pull:v1"
    expect_success
    run docker image inspect "$REGISTRY/e2e/docker-pull:v1"
    expect_exit 1
    run docker pull "$REGISTRY/e2e/docker-pull:v1"
    expect_success
    expect_eq "image id after rmi + pull" "$AMD64_CONFIG_DIGEST" "$(image_id "$REGISTRY/e2e/docker-pull:v1")"
    expect_eq "RepoDigests" "[\"$REGISTRY/e2e/docker-pull@$PUSHED_DIGEST\"]" \
        "$(docker image inspect --format '{{json .RepoDigests}}' "$REGISTRY/e2e/docker-pull:v1" |
            jq -c --arg r "$REGISTRY/e2e/docker-pull@" '[.[] | select(startswith($r))]')"
}
run_case "docker push, rmi, pull REG/e2e/docker-pull:v1 → the same image id and repo digest" t_pull

t_pull_fresh() {
    push_tagged e2e/docker-fresh:v1
    # Remove the image under every tag so that the pull must fetch the layer again.
    run docker rmi --force "$AMD64_CONFIG_DIGEST"
    expect_success
    run docker image inspect "$AMD64_CONFIG_DIGEST"
    expect_exit 1
    run docker pull "$REGISTRY/e2e/docker-fresh:v1"
    expect_success
    grep -q 'Pull complete' "$E2E_TMP/cmd.out" || fail_diff "docker pull output" "… Pull complete" "$(head -c 300 "$E2E_TMP/cmd.out")"
    expect_eq "image id after a pull from nothing" "$AMD64_CONFIG_DIGEST" "$(image_id "$REGISTRY/e2e/docker-fresh:v1")"
    # Put the loaded tag back for the cases after this one.
    docker tag "$REGISTRY/e2e/docker-fresh:v1" "$DOCKER_ARCHIVE_TAG"
}
run_case "docker pull with no local copy of the image downloads the layer; same image id" t_pull_fresh

t_pull_by_digest() {
    push_tagged e2e/docker-digest:v1
    run docker pull "$REGISTRY/e2e/docker-digest@$PUSHED_DIGEST"
    expect_success
    expect_eq "image id of the pull by digest" "$AMD64_CONFIG_DIGEST" "$(image_id "$REGISTRY/e2e/docker-digest@$PUSHED_DIGEST")"
}
run_case "docker pull REG/e2e/docker-digest@sha256:… → the same image id" t_pull_by_digest

t_push_mounts() {
    push_tagged e2e/docker-mount-src:v1
    push_tagged e2e/docker-mount-dst:v1
    # dockerd remembers it last pushed the layer to e2e/docker-mount-src and mounts it from
    # there (POST ?mount=&from= → 201) rather than uploading it again.
    grep -q 'Mounted from e2e/docker-mount-src' "$E2E_TMP/cmd.out" ||
        fail_diff "docker push output" "<layer>: Mounted from e2e/docker-mount-src" "$(head -c 400 "$E2E_TMP/cmd.out")"
    req HEAD "/v2/e2e/docker-mount-dst/manifests/v1" -H "Accept: application/vnd.docker.distribution.manifest.v2+json"
    expect_status 200
}
run_case "docker push of a known layer to another repository mounts it ('Mounted from …')" t_push_mounts

t_pull_platform() {
    run docker pull --platform linux/arm64 "$REGISTRY/e2e/docker-multi:multi"
    expect_success
    expect_eq "image id of linux/arm64" "$ARM64_CONFIG_DIGEST" "$(image_id "$REGISTRY/e2e/docker-multi:multi")"
}
run_case "docker pull --platform linux/arm64 of a two-platform OCI index → the arm64 image" t_pull_platform

t_pull_missing() {
    run docker pull "$REGISTRY/e2e/docker:no-such-tag"
    expect_exit 1
    expect_stderr_match 'manifest unknown|not found'
}
run_case "docker pull of an absent tag fails with 'manifest unknown'" t_pull_missing

# Berth: the cases above ran without authentication; the ECR API that makes a
# repository IMMUTABLE needs it, so berthd comes back with it for the last case.
if is_berth && [[ $E2E_TARGET == berth ]]; then
    export E2E_BERTH_AUTH=1
    # shellcheck disable=SC2119 # no flags to add
    restart_registry
    client_env
fi

t_push_immutable_tag() {
    berth_only "ECR's IMMUTABLE repositories"
    [[ -v AWS ]] || skip_case "needs the berthd this script starts (E2E_TARGET=berth) to turn authentication on"
    local first pw
    run "${AWS[@]}" ecr create-repository --repository-name e2e/docker-frozen --image-tag-mutability IMMUTABLE
    expect_success
    pw=$("${AWS[@]}" ecr get-login-password)
    run_stdin docker login -u AWS --password-stdin "$REGISTRY" <<<"$pw"
    expect_success
    push_tagged e2e/docker-frozen:v1
    first=$PUSHED_DIGEST
    # the same digest to the same tag again is not a move
    run docker push "$REGISTRY/e2e/docker-frozen:v1"
    expect_success
    # another image under that tag (docker import: no container needed)
    mkdir -p "$E2E_TMP/other" && echo other >"$E2E_TMP/other/file"
    tar -C "$E2E_TMP/other" -cf - . | docker import - "$REGISTRY/e2e/docker-frozen:v1" >/dev/null
    run docker push "$REGISTRY/e2e/docker-frozen:v1"
    expect_exit 1
    expect_stderr_match "tag invalid.*v1.*e2e/docker-frozen.*immutable"
    run docker tag "$REGISTRY/e2e/docker-frozen:v1" "$REGISTRY/e2e/docker-frozen:v2"
    run docker push "$REGISTRY/e2e/docker-frozen:v2"
    expect_success
    req HEAD /v2/e2e/docker-frozen/manifests/v1 -u "AWS:$pw" -H "Accept: application/vnd.docker.distribution.manifest.v2+json"
    expect_status 200
    expect_header Docker-Content-Digest "$first"
}
run_case "docker push to an IMMUTABLE repository (authentication on): the same image again succeeds; another image under the tag fails with 'tag invalid' naming the tag and the repository, and the tag keeps its image; a new tag works" t_push_immutable_tag

finish
