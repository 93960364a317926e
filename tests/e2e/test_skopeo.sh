#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# skopeo against the registry: copy in and out (OCI layout, docker-archive, --all
# multi-arch, an OCI 1.1 artifact), inspect (--raw byte-for-byte), list-tags, delete.
# Every case compares digests with those make-test-image.sh computed.
#
#   E2E_TARGET=reference tests/e2e/test_skopeo.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need skopeo curl jq tar gzip sha256sum

start_registry
"$E2E_DIR/make-test-image.sh" "$E2E_TMP/img" >/dev/null
# shellcheck source=/dev/null
source "$E2E_TMP/img/digests.env"

# No credentials, no system policy surprises: a private auth file and an accept-all policy.
export REGISTRY_AUTH_FILE="$E2E_TMP/auth.json"
echo '{}' >"$REGISTRY_AUTH_FILE"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$E2E_TMP/policy.json"
SKOPEO=(skopeo --policy "$E2E_TMP/policy.json")

# copy SRC DST [FLAGS...]: skopeo copy over plain http.
copy() {
    run "${SKOPEO[@]}" copy --src-tls-verify=false --dest-tls-verify=false "${@:3}" "$1" "$2"
}
inspect() {
    run "${SKOPEO[@]}" inspect --tls-verify=false "$@"
}

# ================================================================ copy in

t_copy_oci_in() {
    copy "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/skopeo-in:v1"
    expect_success
    # An OCI manifest goes up unchanged: same bytes, same digest.
    inspect --raw "docker://$REGISTRY/e2e/skopeo-in:v1"
    expect_exit 0
    expect_out_file "$AMD64_MANIFEST_FILE"
    req HEAD /v2/e2e/skopeo-in/manifests/v1 -H "Accept: application/vnd.oci.image.manifest.v1+json"
    expect_status 200
    expect_header Docker-Content-Digest "$AMD64_MANIFEST_DIGEST"
    req HEAD "/v2/e2e/skopeo-in/blobs/$AMD64_LAYER_DIGEST"
    expect_status 200
    expect_header Content-Length "$AMD64_LAYER_SIZE"
}
run_case "skopeo copy oci:layout:v1 → docker://REG/e2e/skopeo-in:v1; manifest bytes and blobs unchanged" t_copy_oci_in

t_copy_again_skips_blobs() {
    copy "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/skopeo-again:v1"
    expect_success
    run "${SKOPEO[@]}" --debug copy --dest-tls-verify=false "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/skopeo-again:v1-again"
    expect_success
    local d
    for d in "$AMD64_LAYER_DIGEST" "$AMD64_CONFIG_DIGEST"; do
        expect_stderr_match "HEAD http://$REGISTRY/v2/e2e/skopeo-again/blobs/$d"
    done
    expect_stderr_no_match "POST http://[^ ]*/blobs/uploads/"
    inspect --raw "docker://$REGISTRY/e2e/skopeo-again:v1-again"
    expect_out_file "$AMD64_MANIFEST_FILE"
}
run_case "a second skopeo copy of the same image finds its blobs already there (HEAD 200) and only tags" t_copy_again_skips_blobs

t_copy_between_repos_mounts() {
    copy "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/skopeo-mount-src:v1"
    expect_success
    # skopeo remembers where it put the layer and asks the registry to mount it.
    run "${SKOPEO[@]}" --debug copy --src-tls-verify=false --dest-tls-verify=false \
        "docker://$REGISTRY/e2e/skopeo-mount-src:v1" "docker://$REGISTRY/e2e/skopeo-mount-dst:v1"
    expect_success
    expect_stderr_match "POST http://$REGISTRY/v2/e2e/skopeo-mount-dst/blobs/uploads/\\?from=e2e%2Fskopeo-mount-src&mount=sha256%3A${AMD64_LAYER_DIGEST#sha256:}"
    expect_stderr_match 'mount OK'
    inspect --raw "docker://$REGISTRY/e2e/skopeo-mount-dst:v1"
    expect_out_file "$AMD64_MANIFEST_FILE"
}
run_case "skopeo copy between two repositories of the registry mounts the layer (POST ?from=&mount= → 201)" t_copy_between_repos_mounts

t_copy_docker_archive_in() {
    copy "docker-archive:$DOCKER_ARCHIVE" "docker://$REGISTRY/e2e/skopeo-archive-in:v1"
    expect_success
    # skopeo compresses the layer, so the manifest is new; the config is the same bytes.
    inspect --raw "docker://$REGISTRY/e2e/skopeo-archive-in:v1"
    expect_exit 0
    expect_out_jq '.mediaType' '"application/vnd.docker.distribution.manifest.v2+json"'
    expect_out_jq '.config.digest' "\"$AMD64_CONFIG_DIGEST\""
    inspect --config "docker://$REGISTRY/e2e/skopeo-archive-in:v1"
    expect_out_jq '.rootfs.diff_ids' "[\"$AMD64_DIFF_ID\"]"
}
run_case "skopeo copy docker-archive:image.tar → registry; config digest and diff_ids preserved" t_copy_docker_archive_in

# ================================================================ inspect

t_inspect() {
    copy "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/skopeo-inspect:v1"
    expect_success
    inspect "docker://$REGISTRY/e2e/skopeo-inspect:v1"
    expect_exit 0
    expect_out_jq '.Digest' "\"$AMD64_MANIFEST_DIGEST\""
    expect_out_jq '.Architecture' '"amd64"'
    expect_out_jq '.Layers' "[\"$AMD64_LAYER_DIGEST\"]"
    expect_out_jq '.RepoTags' '["v1"]'
    inspect --raw "docker://$REGISTRY/e2e/skopeo-inspect@$AMD64_MANIFEST_DIGEST"
    expect_exit 0
    expect_out_file "$AMD64_MANIFEST_FILE"
    inspect --config --raw "docker://$REGISTRY/e2e/skopeo-inspect:v1"
    expect_exit 0
    expect_out_file "$AMD64_CONFIG_FILE"
}
run_case "skopeo inspect: Digest, Architecture, Layers, RepoTags; --raw and --config --raw give the exact bytes" t_inspect

t_inspect_missing() {
    copy "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/skopeo-missing:v1"
    expect_success
    inspect --raw "docker://$REGISTRY/e2e/skopeo-missing:nope"
    expect_exit 1
    expect_stderr_match 'manifest unknown'
}
run_case "skopeo inspect of an absent tag fails with 'manifest unknown'" t_inspect_missing

# ================================================================ copy out

t_copy_out_oci() {
    copy "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/skopeo-out:v1"
    expect_success
    copy "docker://$REGISTRY/e2e/skopeo-out:v1" "oci:$E2E_TMP/out-oci:v1"
    expect_success
    expect_eq "index.json manifest digest" "$AMD64_MANIFEST_DIGEST" "$(jq -r '.manifests[0].digest' "$E2E_TMP/out-oci/index.json")"
    local d
    for d in "$AMD64_MANIFEST_DIGEST" "$AMD64_CONFIG_DIGEST" "$AMD64_LAYER_DIGEST"; do
        expect_eq "sha256 of blobs/sha256/${d#sha256:}" "$d" \
            "sha256:$(sha256_file "$E2E_TMP/out-oci/blobs/sha256/${d#sha256:}" 2>/dev/null || echo missing)"
    done
}
run_case "skopeo copy docker://REG/…:v1 → oci:dir; the same manifest, config and layer digests" t_copy_out_oci

t_copy_out_docker_archive() {
    copy "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/skopeo-out-archive:v1"
    expect_success
    copy "docker://$REGISTRY/e2e/skopeo-out-archive:v1" "docker-archive:$E2E_TMP/out.tar:e2e/out:v1"
    expect_success
    mkdir -p "$E2E_TMP/out-archive"
    tar -xf "$E2E_TMP/out.tar" -C "$E2E_TMP/out-archive"
    local config layer
    config=$(jq -r '.[0].Config' "$E2E_TMP/out-archive/manifest.json")
    layer=$(jq -r '.[0].Layers[0]' "$E2E_TMP/out-archive/manifest.json")
    expect_eq "docker-archive config digest" "$AMD64_CONFIG_DIGEST" "sha256:$(sha256_file "$E2E_TMP/out-archive/$config")"
    expect_eq "docker-archive layer (uncompressed) digest = diff_id" "$AMD64_DIFF_ID" \
        "sha256:$(sha256_file "$E2E_TMP/out-archive/$layer")"
}
run_case "skopeo copy docker://REG/…:v1 → docker-archive; config digest and layer diff_id match" t_copy_out_docker_archive

# ================================================================ multi-arch

t_copy_all() {
    copy "oci:$OCI_LAYOUT:multi" "docker://$REGISTRY/e2e/skopeo-multi:multi" --all
    expect_success
    inspect --raw "docker://$REGISTRY/e2e/skopeo-multi:multi"
    expect_exit 0
    expect_out_file "$INDEX_FILE"
    req HEAD /v2/e2e/skopeo-multi/manifests/multi -H "Accept: application/vnd.oci.image.index.v1+json"
    expect_status 200
    expect_header Content-Type application/vnd.oci.image.index.v1+json
    expect_header Docker-Content-Digest "$INDEX_DIGEST"
    local arch digest
    for arch in AMD64 ARM64; do
        digest=${arch}_MANIFEST_DIGEST
        inspect --raw "docker://$REGISTRY/e2e/skopeo-multi@${!digest}"
        expect_exit 0
        expect_out_jq '.config.digest' "\"$(eval echo "\$${arch}_CONFIG_DIGEST")\""
    done
    # And back out again, every platform.
    copy "docker://$REGISTRY/e2e/skopeo-multi:multi" "oci:$E2E_TMP/out-multi:multi" --all
    expect_success
    expect_eq "index.json → index digest" "$INDEX_DIGEST" "$(jq -r '.manifests[0].digest' "$E2E_TMP/out-multi/index.json")"
    for digest in "$AMD64_LAYER_DIGEST" "$ARM64_LAYER_DIGEST"; do
        [[ -f $E2E_TMP/out-multi/blobs/sha256/${digest#sha256:} ]] || fail_diff "blob in the copied layout" "$digest" "(missing)"
    done
}
run_case "skopeo copy --all of a two-platform OCI index: index bytes kept, both platforms pullable, and back" t_copy_all

t_copy_platform() {
    copy "oci:$OCI_LAYOUT:multi" "docker://$REGISTRY/e2e/skopeo-platform:multi" --all
    expect_success
    run "${SKOPEO[@]}" --override-arch arm64 inspect --tls-verify=false "docker://$REGISTRY/e2e/skopeo-platform:multi"
    expect_exit 0
    expect_out_jq '.Architecture' '"arm64"'
    expect_out_jq '.Layers' "[\"$ARM64_LAYER_DIGEST\"]"
}
run_case "skopeo --override-arch arm64 inspect resolves the index to the arm64 image" t_copy_platform

# ================================================================ OCI 1.1 artifact

t_copy_artifact() {
    copy "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/skopeo-artifact:v1"
    expect_success
    copy "oci:$OCI_LAYOUT:artifact" "docker://$REGISTRY/e2e/skopeo-artifact:sig"
    expect_success
    inspect --raw "docker://$REGISTRY/e2e/skopeo-artifact:sig"
    expect_exit 0
    expect_out_file "$ARTIFACT_FILE"
    berth_only "the artifact skopeo pushed is listed by GET /referrers/<subject> (the reference has no referrers API)"
    req GET "/v2/e2e/skopeo-artifact/referrers/$AMD64_MANIFEST_DIGEST"
    expect_status 200
    expect_jq '[.manifests[] | {digest, artifactType}]' \
        "[{\"digest\":\"$ARTIFACT_DIGEST\",\"artifactType\":\"$ARTIFACT_TYPE\"}]"
}
run_case "skopeo copy of an OCI 1.1 artifact (artifactType, empty config, subject) keeps its bytes; referrers list it" t_copy_artifact

# ================================================================ list-tags

t_list_tags() {
    copy "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/skopeo-tags:v2"
    expect_success
    local t
    for t in v10 latest v1; do
        copy "docker://$REGISTRY/e2e/skopeo-tags:v2" "docker://$REGISTRY/e2e/skopeo-tags:$t"
        expect_success
    done
    run "${SKOPEO[@]}" list-tags --tls-verify=false "docker://$REGISTRY/e2e/skopeo-tags"
    expect_exit 0
    expect_out_jq '.Repository' "\"$REGISTRY/e2e/skopeo-tags\""
    if is_berth; then
        expect_out_jq '.Tags' '["latest","v1","v10","v2"]'
    else
        differs "tags/list order: reference 2.8 returns tags unsorted, Berth sorts them lexically"
        expect_out_jq '.Tags | sort' '["latest","v1","v10","v2"]'
    fi
}
run_case "skopeo list-tags → every tag, in lexical order" t_list_tags

t_list_tags_unknown() {
    run "${SKOPEO[@]}" list-tags --tls-verify=false "docker://$REGISTRY/e2e/skopeo-no-such-repo"
    expect_exit 1
    # skopeo 1.9 prints only the status, not the error code (the curl suite pins NAME_UNKNOWN).
    expect_stderr_match 'invalid status code from registry 404'
}
run_case "skopeo list-tags of an absent repository fails with 404" t_list_tags_unknown

# ================================================================ delete

t_delete() {
    copy "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/skopeo-delete:v1"
    expect_success
    # skopeo resolves the tag (HEAD) and deletes the manifest by digest.
    run "${SKOPEO[@]}" delete --tls-verify=false "docker://$REGISTRY/e2e/skopeo-delete:v1"
    expect_exit 0
    inspect --raw "docker://$REGISTRY/e2e/skopeo-delete@$AMD64_MANIFEST_DIGEST"
    expect_exit 1
    expect_stderr_match 'manifest unknown'
    req HEAD /v2/e2e/skopeo-delete/manifests/v1 -H "Accept: application/vnd.oci.image.manifest.v1+json"
    expect_status 404
}
run_case "skopeo delete docker://REG/…:v1 deletes the manifest; by digest and by tag → 404" t_delete

t_delete_by_digest() {
    copy "oci:$OCI_LAYOUT:v1" "docker://$REGISTRY/e2e/skopeo-delete-digest:v1"
    expect_success
    run "${SKOPEO[@]}" delete --tls-verify=false "docker://$REGISTRY/e2e/skopeo-delete-digest@$AMD64_MANIFEST_DIGEST"
    expect_exit 0
    inspect --raw "docker://$REGISTRY/e2e/skopeo-delete-digest:v1"
    expect_exit 1
    expect_stderr_match 'manifest unknown'
}
run_case "skopeo delete docker://REG/…@digest → the tag on it is gone too" t_delete_by_digest

finish
