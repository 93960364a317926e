#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# The OCI distribution / Docker registry v2 HTTP API, endpoint by endpoint, with curl.
#
# Each case is one behaviour: the requests it sends and the exact status, headers and
# error codes it must see.  Every reply is also checked for
# Docker-Distribution-API-Version: registry/2.0 (see `req` in lib.sh).
#
# Where the reference registry (CNCF distribution 2.8.2) does not do what Berth must do,
# the expectation is target-specific: `berth_only` skips the rest of a case on the
# reference, `expect_status_target` / `expect_json_error_target` pin both answers, and
# `differs` records the difference; the list is printed at the end of a reference run.
#
#   E2E_TARGET=reference tests/e2e/test_api_curl.sh
#   E2E_TARGET=berth BERTHD=build/server/berthd tests/e2e/test_api_curl.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need curl jq sha256sum tar gzip

readonly MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
readonly MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
readonly MT_DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
# Every manifest media type a client may ask for, as dockerd sends them (one line each).
readonly -a ACCEPT_ALL=(-H "Accept: $MT_OCI_MANIFEST" -H "Accept: $MT_OCI_INDEX" -H "Accept: $MT_DOCKER_MANIFEST"
    -H "Accept: application/vnd.docker.distribution.manifest.list.v2+json")
# The largest manifest Berth accepts (4 MiB, as the OCI spec suggests registries allow).
readonly MAX_MANIFEST_BYTES=$((4 * 1024 * 1024))

start_registry
"$E2E_DIR/make-test-image.sh" "$E2E_TMP/img" >/dev/null
# shellcheck source=/dev/null
source "$E2E_TMP/img/digests.env"

# A 1,893-byte blob whose bytes we know, for the byte-level cases.
BLOB="$E2E_TMP/blob.bin"
seq 1 500 >"$BLOB"
BLOB_DIGEST="sha256:$(sha256_file "$BLOB")"
BLOB_SIZE=$(file_size "$BLOB")
ABSENT_DIGEST="sha256:$(sha256_str "no blob has these bytes")"

# ---------------------------------------------------------------- helpers for cases

# with_query URL PARAM: append PARAM to URL, which may already carry a query string.
with_query() {
    case $1 in
    *\?*) printf '%s&%s' "$1" "$2" ;;
    *) printf '%s?%s' "$1" "$2" ;;
    esac
}

# require STATUS WHAT: the case cannot go on unless the last reply had STATUS.
require() {
    if [[ $RESP_STATUS != "$1" ]]; then
        fail_diff "status of $2 (prerequisite; case stopped)" "$1" "$RESP_STATUS$(body_hint)"
        exit 1
    fi
}

# start_upload REPO: POST an upload; sets LOC (absolute Location URL).
start_upload() {
    req POST "/v2/$1/blobs/uploads/"
    require 202 "POST /v2/$1/blobs/uploads/"
    LOC=$(abs_url "$(header Location)")
}

# push_blob REPO FILE: a whole blob in one POST + PUT ?digest= with the bytes as body.
push_blob() {
    start_upload "$1"
    req PUT "$(with_query "$LOC" "digest=sha256:$(sha256_file "$2")")" \
        -H 'Content-Type: application/octet-stream' --data-binary "@$2"
    require 201 "PUT blob $(basename "$2") into $1"
}

# push_manifest REPO REF FILE MEDIATYPE
push_manifest() {
    req PUT "/v2/$1/manifests/$2" -H "Content-Type: $4" --data-binary "@$3"
    require 201 "PUT manifest $2 into $1"
}

# push_image REPO TAG: the amd64 test image (layer, config, manifest) under TAG.
push_image() {
    push_blob "$1" "$AMD64_LAYER_FILE"
    push_blob "$1" "$AMD64_CONFIG_FILE"
    push_manifest "$1" "$2" "$AMD64_MANIFEST_FILE" "$MT_OCI_MANIFEST"
}

push_arm64_image() {
    push_blob "$1" "$ARM64_LAYER_FILE"
    push_blob "$1" "$ARM64_CONFIG_FILE"
    push_manifest "$1" "$ARM64_MANIFEST_DIGEST" "$ARM64_MANIFEST_FILE" "$MT_OCI_MANIFEST"
}

# push_artifact REPO: the v1 image, then the artifact whose subject it is (by digest).
push_artifact() {
    push_image "$1" v1
    push_blob "$1" "$EMPTY_CONFIG_FILE"
    push_blob "$1" "$ARTIFACT_LAYER_FILE"
    req PUT "/v2/$1/manifests/$ARTIFACT_DIGEST" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$ARTIFACT_FILE"
}

# link_target: the URL inside a Link header `<URL>; rel="next"`.
link_target() {
    header Link | sed -n 's/^<\([^>]*\)>;[[:space:]]*rel="\{0,1\}next"\{0,1\}$/\1/p'
}

# ================================================================ base

t_base_ok() {
    req GET /v2/
    expect_status 200
    expect_header "$E2E_API_VERSION_HEADER" "$E2E_API_VERSION"
}
run_case "GET /v2/ answers 200 with Docker-Distribution-API-Version: registry/2.0" t_base_ok

t_unknown_route() {
    req GET /v2/e2e/route/no-such-endpoint
    expect_status 404
}
run_case "an unknown route → 404, still with the API version header" t_unknown_route

# ================================================================ blobs

t_blob_head() {
    push_blob e2e/blob-head "$BLOB"
    req HEAD "/v2/e2e/blob-head/blobs/$BLOB_DIGEST"
    expect_status 200
    expect_header Content-Length "$BLOB_SIZE"
    expect_header Docker-Content-Digest "$BLOB_DIGEST"
}
run_case "HEAD blob by digest: 200, Content-Length = size, Docker-Content-Digest" t_blob_head

t_blob_get() {
    push_blob e2e/blob-get "$BLOB"
    req GET "/v2/e2e/blob-get/blobs/$BLOB_DIGEST"
    expect_status 200
    expect_header Content-Length "$BLOB_SIZE"
    expect_header Docker-Content-Digest "$BLOB_DIGEST"
    expect_body_file "$BLOB"
}
run_case "GET blob by digest: 200 and the exact bytes, Content-Length, Docker-Content-Digest" t_blob_get

t_blob_range() {
    push_blob e2e/blob-range "$BLOB"
    req GET "/v2/e2e/blob-range/blobs/$BLOB_DIGEST" -H 'Range: bytes=0-9'
    expect_status 206
    expect_header Content-Range "bytes 0-9/$BLOB_SIZE"
    expect_header Content-Length 10
    head -c 10 "$BLOB" >"$E2E_TMP/expected.part"
    expect_body_file "$E2E_TMP/expected.part"

    req GET "/v2/e2e/blob-range/blobs/$BLOB_DIGEST" -H 'Range: bytes=100-'
    expect_status 206
    expect_header Content-Range "bytes 100-$((BLOB_SIZE - 1))/$BLOB_SIZE"
    expect_header Content-Length "$((BLOB_SIZE - 100))"
    tail -c +101 "$BLOB" >"$E2E_TMP/expected.part"
    expect_body_file "$E2E_TMP/expected.part"
}
run_case "GET blob with Range: bytes=0-9 and bytes=100- → 206, Content-Range, those bytes" t_blob_range

t_blob_range_unsatisfiable() {
    push_blob e2e/blob-416 "$BLOB"
    req GET "/v2/e2e/blob-416/blobs/$BLOB_DIGEST" -H "Range: bytes=$((BLOB_SIZE + 10))-$((BLOB_SIZE + 20))"
    expect_status 416
    expect_header Content-Range "bytes */$BLOB_SIZE"
}
run_case "GET blob with a Range past its end → 416, Content-Range: bytes */size" t_blob_range_unsatisfiable

# The reason phrase is the one the code names: h2o writes the status line at the
# first send, so one set after it never reaches the client.
t_blob_range_reason() {
    berth_only "the reason phrase: Go's net/http sends 416 Requested Range Not Satisfiable"
    push_blob e2e/blob-416-reason "$BLOB"
    req GET "/v2/e2e/blob-416-reason/blobs/$BLOB_DIGEST" --http1.1 -H "Range: bytes=$((BLOB_SIZE + 10))-"
    expect_status 416
    expect_status_line "HTTP/1.1 416 Range Not Satisfiable"

    : >"$E2E_TMP/empty.blob"
    push_blob e2e/blob-416-reason "$E2E_TMP/empty.blob"
    req GET "/v2/e2e/blob-416-reason/blobs/sha256:$(sha256_file "$E2E_TMP/empty.blob")" --http1.1 -H 'Range: bytes=0-'
    expect_status 416
    expect_status_line "HTTP/1.1 416 Range Not Satisfiable"
    expect_header Content-Range "bytes */0"

    req GET "/v2/e2e/blob-416-reason/blobs/sha256:$(printf '%064d' 0)" --http1.1
    expect_status 404
    expect_status_line "HTTP/1.1 404 Not Found"
}
run_case "GET blob: 416 (a blob, the empty blob) and 404 carry their reason phrases over HTTP/1.1" t_blob_range_reason

t_blob_unknown() {
    push_blob e2e/blob-unknown "$BLOB"
    req HEAD "/v2/e2e/blob-unknown/blobs/$ABSENT_DIGEST"
    expect_status 404
    req GET "/v2/e2e/blob-unknown/blobs/$ABSENT_DIGEST"
    expect_status 404
    expect_json_error BLOB_UNKNOWN
}
run_case "HEAD / GET of an absent blob → 404 (GET: BLOB_UNKNOWN)" t_blob_unknown

t_blob_unknown_repo() {
    req GET "/v2/e2e/never-pushed/blobs/$ABSENT_DIGEST"
    expect_status 404
    # The spec allows either code for a repository that does not exist.
    expect_json_error "BLOB_UNKNOWN|NAME_UNKNOWN"
}
run_case "GET blob in a repository that does not exist → 404 BLOB_UNKNOWN or NAME_UNKNOWN" t_blob_unknown_repo

t_blob_bad_digest() {
    push_blob e2e/blob-bad-digest "$BLOB"
    req GET "/v2/e2e/blob-bad-digest/blobs/sha256:not-hex"
    expect_status 400
    expect_json_error DIGEST_INVALID
}
run_case "GET blob by a malformed digest → 400 DIGEST_INVALID" t_blob_bad_digest

t_blob_delete() {
    push_blob e2e/blob-delete "$BLOB"
    push_blob e2e/blob-delete-other "$BLOB"
    req DELETE "/v2/e2e/blob-delete/blobs/$BLOB_DIGEST"
    expect_status 202
    req HEAD "/v2/e2e/blob-delete/blobs/$BLOB_DIGEST"
    expect_status 404
    req HEAD "/v2/e2e/blob-delete-other/blobs/$BLOB_DIGEST"
    expect_status 200
    req DELETE "/v2/e2e/blob-delete/blobs/$BLOB_DIGEST"
    expect_status 404
    expect_json_error BLOB_UNKNOWN
}
run_case "DELETE blob → 202; gone from that repository only; again → 404 BLOB_UNKNOWN" t_blob_delete

# ================================================================ uploads

t_upload_post() {
    req POST /v2/e2e/upload-post/blobs/uploads/
    expect_status 202
    expect_header_present Docker-Upload-UUID
    expect_header Range 0-0
    expect_header Content-Length 0
    local uuid loc
    uuid=$(header Docker-Upload-UUID)
    loc=$(header Location)
    # dockerd takes the upload id from Docker-Upload-UUID or the last path element.
    expect_header_match Location "^(http://[^/]+)?/v2/e2e/upload-post/blobs/uploads/${uuid}([?].*)?$"
    [[ -n $loc ]] || return 0
    req GET "$loc"
    expect_status 204
    expect_header Range 0-0
    expect_header Docker-Upload-UUID "$uuid"
}
run_case "POST /blobs/uploads/ → 202, Location …/uploads/<uuid>, Docker-Upload-UUID, Range: 0-0" t_upload_post

t_upload_monolithic_post() {
    req POST "/v2/e2e/upload-mono/blobs/uploads/?digest=$BLOB_DIGEST" \
        -H 'Content-Type: application/octet-stream' --data-binary "@$BLOB"
    if is_reference; then
        # distribution 2.8 ignores ?digest= on POST: it opens an empty upload instead.
        differs "monolithic POST /blobs/uploads/?digest= with a body: reference answers 202 (empty upload), Berth 201"
        expect_status 202
        return 0
    fi
    expect_status 201
    expect_header Docker-Content-Digest "$BLOB_DIGEST"
    expect_header_match Location "^(http://[^/]+)?/v2/e2e/upload-mono/blobs/$BLOB_DIGEST$"
    req GET "/v2/e2e/upload-mono/blobs/$BLOB_DIGEST"
    expect_status 200
    expect_body_file "$BLOB"
}
run_case "monolithic POST /blobs/uploads/?digest= with the bytes → 201, Location, Docker-Content-Digest" t_upload_monolithic_post

t_upload_streamed_chunked() {
    start_upload e2e/upload-stream
    # What dockerd does: one PATCH, Transfer-Encoding: chunked, no Content-Range.
    req PATCH "$LOC" -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/octet-stream' --data-binary "@$BLOB"
    expect_status 202
    expect_header Range "0-$((BLOB_SIZE - 1))"
    expect_header_present Docker-Upload-UUID
    expect_header_match Location "/v2/e2e/upload-stream/blobs/uploads/"
    LOC=$(abs_url "$(header Location)")
    # Go clients percent-encode the digest's colon.
    req PUT "$(with_query "$LOC" "digest=${BLOB_DIGEST/:/%3A}")"
    expect_status 201
    expect_header Docker-Content-Digest "$BLOB_DIGEST"
    expect_header_match Location "^(http://[^/]+)?/v2/e2e/upload-stream/blobs/$BLOB_DIGEST$"
    req HEAD "/v2/e2e/upload-stream/blobs/$BLOB_DIGEST"
    expect_status 200
    expect_header Content-Length "$BLOB_SIZE"
}
run_case "streamed PATCH (chunked transfer encoding, no Content-Range) → 202 Range: 0-<n-1>; PUT ?digest=sha256%3A… → 201" t_upload_streamed_chunked

t_upload_streamed_length() {
    start_upload e2e/upload-length
    # What skopeo and podman do: one PATCH with Content-Length, no Content-Range.
    req PATCH "$LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$BLOB"
    expect_status 202
    expect_header Range "0-$((BLOB_SIZE - 1))"
    LOC=$(abs_url "$(header Location)")
    req PUT "$(with_query "$LOC" "digest=$BLOB_DIGEST")"
    expect_status 201
    expect_header Docker-Content-Digest "$BLOB_DIGEST"
    req GET "/v2/e2e/upload-length/blobs/$BLOB_DIGEST"
    expect_body_file "$BLOB"
}
run_case "streamed PATCH with Content-Length → 202 Range: 0-<n-1>; PUT ?digest= with empty body → 201" t_upload_streamed_length

t_upload_content_range_chunks() {
    head -c 1000 "$BLOB" >"$E2E_TMP/c1"
    tail -c +1001 "$BLOB" >"$E2E_TMP/c2"
    start_upload e2e/upload-chunks
    req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-999' --data-binary "@$E2E_TMP/c1"
    expect_status 202
    expect_header Range 0-999
    LOC=$(abs_url "$(header Location)")
    req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H "Content-Range: 1000-$((BLOB_SIZE - 1))" \
        --data-binary "@$E2E_TMP/c2"
    expect_status 202
    expect_header Range "0-$((BLOB_SIZE - 1))"
    LOC=$(abs_url "$(header Location)")
    req PUT "$(with_query "$LOC" "digest=$BLOB_DIGEST")"
    expect_status 201
    expect_header Docker-Content-Digest "$BLOB_DIGEST"
    req GET "/v2/e2e/upload-chunks/blobs/$BLOB_DIGEST"
    expect_body_file "$BLOB"
}
run_case "chunked upload: PATCH Content-Range: 0-999, then 1000-<n-1> → 202 each, Range grows; PUT → 201" t_upload_content_range_chunks

t_upload_out_of_order() {
    head -c 1000 "$BLOB" >"$E2E_TMP/c1"
    start_upload e2e/upload-ooo
    req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-999' --data-binary "@$E2E_TMP/c1"
    require 202 "first chunk"
    LOC=$(abs_url "$(header Location)")
    berth_only "a PATCH whose Content-Range does not start at the upload's offset: reference answers 202 and appends the bytes, Berth 416"
    req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 1500-1509' --data-binary 0123456789
    expect_status 416
    expect_header Range 0-999
    req GET "$LOC"
    expect_status 204
    expect_header Range 0-999
}
run_case "out-of-order chunk (Content-Range 1500-1509 at offset 1000) → 416 Range: 0-999; upload intact" t_upload_out_of_order

t_upload_range_wraps() {
    head -c 1000 "$BLOB" >"$E2E_TMP/c1"
    start_upload e2e/upload-wrap
    req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-999' --data-binary "@$E2E_TMP/c1"
    require 202 "first chunk"
    LOC=$(abs_url "$(header Location)")
    berth_only "a PATCH whose Content-Range ends at byte 2^64-1: the reference ignores Content-Range and appends (202)"
    # last - first + 1 wraps to 1 here: once taken for a 1-byte chunk "anywhere".
    req PATCH "$LOC" -H 'Content-Type: application/octet-stream' \
        -H 'Content-Range: 18446744073709551615-18446744073709551615' --data-binary x
    expect_status 416
    expect_header Range 0-999
    # ... and to 0 here, with an empty body.
    req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-18446744073709551615' -H 'Content-Length: 0'
    expect_status 416
    expect_header Range 0-999
    req GET "$LOC"
    expect_status 204
    expect_header Range 0-999
}
run_case "PATCH with Content-Range 18446744073709551615-18446744073709551615 (length wraps) → 416 Range: 0-999; upload intact" t_upload_range_wraps

t_upload_size_invalid() {
    start_upload e2e/upload-size
    berth_only "a PATCH whose Content-Range length differs from its Content-Length: reference answers 202, Berth 400 SIZE_INVALID"
    req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-99' --data-binary 0123456789
    expect_status 400
    expect_json_error SIZE_INVALID
}
run_case "PATCH with Content-Range: 0-99 but a 10-byte body → 400 SIZE_INVALID" t_upload_size_invalid

t_upload_put_with_body() {
    head -c 1000 "$BLOB" >"$E2E_TMP/c1"
    tail -c +1001 "$BLOB" >"$E2E_TMP/c2"
    start_upload e2e/upload-put-body
    req PATCH "$LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$E2E_TMP/c1"
    expect_status 202
    LOC=$(abs_url "$(header Location)")
    req PUT "$(with_query "$LOC" "digest=$BLOB_DIGEST")" -H 'Content-Type: application/octet-stream' \
        --data-binary "@$E2E_TMP/c2"
    expect_status 201
    expect_header Docker-Content-Digest "$BLOB_DIGEST"
    req GET "/v2/e2e/upload-put-body/blobs/$BLOB_DIGEST"
    expect_body_file "$BLOB"
}
run_case "PUT ?digest= carrying the last chunk as its body → 201, blob = both parts" t_upload_put_with_body

t_upload_whole_in_put() {
    # containerd: POST, then one PUT with the whole blob.
    start_upload e2e/upload-whole-put
    req PUT "$(with_query "$LOC" "digest=$BLOB_DIGEST")" -H 'Content-Type: application/octet-stream' --data-binary "@$BLOB"
    expect_status 201
    expect_header Docker-Content-Digest "$BLOB_DIGEST"
    expect_header_match Location "^(http://[^/]+)?/v2/e2e/upload-whole-put/blobs/$BLOB_DIGEST$"
}
run_case "POST then one PUT ?digest= with the whole blob (containerd) → 201, Location, Docker-Content-Digest" t_upload_whole_in_put

t_upload_status() {
    start_upload e2e/upload-status
    local uuid
    uuid=$(header Docker-Upload-UUID)
    req PATCH "$LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$BLOB"
    require 202 "PATCH"
    LOC=$(abs_url "$(header Location)")
    req GET "$LOC"
    expect_status 204
    expect_header Range "0-$((BLOB_SIZE - 1))"
    expect_header Docker-Upload-UUID "$uuid"
    expect_header_match Location "/v2/e2e/upload-status/blobs/uploads/$uuid"
    expect_body_empty
}
run_case "GET upload status → 204, Range: 0-<n-1>, Docker-Upload-UUID, Location" t_upload_status

t_upload_delete() {
    start_upload e2e/upload-delete
    req PATCH "$LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$BLOB"
    require 202 "PATCH"
    LOC=$(abs_url "$(header Location)")
    req DELETE "$LOC"
    expect_status 204
    req GET "$LOC"
    expect_status 404
    expect_json_error BLOB_UPLOAD_UNKNOWN
    req PUT "$(with_query "$LOC" "digest=$BLOB_DIGEST")"
    expect_status 404
    expect_json_error BLOB_UPLOAD_UNKNOWN
}
run_case "DELETE upload → 204; then GET and PUT on it → 404 BLOB_UPLOAD_UNKNOWN" t_upload_delete

t_upload_unknown_id() {
    req GET /v2/e2e/upload-unknown/blobs/uploads/00000000-0000-4000-8000-000000000000
    expect_status 404
    expect_json_error_target BLOB_UPLOAD_UNKNOWN BLOB_UPLOAD_INVALID \
        "GET/PATCH of an upload id the registry never issued (no _state query)"
    req PATCH /v2/e2e/upload-unknown/blobs/uploads/00000000-0000-4000-8000-000000000000 \
        -H 'Content-Type: application/octet-stream' --data-binary 0123456789
    expect_status 404
    expect_json_error_target BLOB_UPLOAD_UNKNOWN BLOB_UPLOAD_INVALID \
        "GET/PATCH of an upload id the registry never issued (no _state query)"
}
run_case "GET / PATCH of an upload id never issued → 404 BLOB_UPLOAD_UNKNOWN" t_upload_unknown_id

t_upload_digest_mismatch() {
    start_upload e2e/upload-mismatch
    req PUT "$(with_query "$LOC" "digest=$ABSENT_DIGEST")" -H 'Content-Type: application/octet-stream' --data-binary "@$BLOB"
    expect_status 400
    expect_json_error DIGEST_INVALID
    req HEAD "/v2/e2e/upload-mismatch/blobs/$ABSENT_DIGEST"
    expect_status 404
    req HEAD "/v2/e2e/upload-mismatch/blobs/$BLOB_DIGEST"
    expect_status 404
}
run_case "PUT ?digest= that does not match the bytes → 400 DIGEST_INVALID; nothing stored" t_upload_digest_mismatch

t_upload_missing_digest() {
    start_upload e2e/upload-no-digest
    req PUT "$LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$BLOB"
    expect_status 400
    expect_json_error DIGEST_INVALID
}
run_case "PUT completing an upload without ?digest= → 400 DIGEST_INVALID" t_upload_missing_digest

t_mount() {
    push_blob e2e/mount-src "$BLOB"
    req POST "/v2/e2e/mount-dst/blobs/uploads/?mount=$BLOB_DIGEST&from=e2e/mount-src"
    expect_status 201
    expect_header Docker-Content-Digest "$BLOB_DIGEST"
    expect_header_match Location "^(http://[^/]+)?/v2/e2e/mount-dst/blobs/$BLOB_DIGEST$"
    req GET "/v2/e2e/mount-dst/blobs/$BLOB_DIGEST"
    expect_status 200
    expect_body_file "$BLOB"
}
run_case "cross-repository mount POST ?mount=<digest>&from=<repo> → 201, Location, Docker-Content-Digest" t_mount

t_mount_encoded() {
    push_blob e2e/mount-src-enc "$BLOB"
    req POST "/v2/e2e/mount-dst-enc/blobs/uploads/?mount=${BLOB_DIGEST/:/%3A}&from=e2e%2Fmount-src-enc"
    expect_status 201
    expect_header Docker-Content-Digest "$BLOB_DIGEST"
}
run_case "mount with percent-encoded values (sha256%3A…, e2e%2F…) as Go clients send them → 201" t_mount_encoded

t_mount_fallback() {
    push_blob e2e/mount-fb-src "$BLOB"
    req POST "/v2/e2e/mount-fb-dst/blobs/uploads/?mount=$ABSENT_DIGEST&from=e2e/mount-fb-src"
    expect_status 202
    expect_header_present Docker-Upload-UUID
    expect_header_match Location "/v2/e2e/mount-fb-dst/blobs/uploads/"
    LOC=$(abs_url "$(header Location)")
    # skopeo then deletes the upload it did not want.
    req DELETE "$LOC"
    expect_status 204
}
run_case "mount of a blob the source lacks → 202 with an ordinary upload; DELETE it → 204" t_mount_fallback

# ================================================================ manifests

t_manifest_put_tag() {
    push_blob e2e/manifest-put "$AMD64_LAYER_FILE"
    push_blob e2e/manifest-put "$AMD64_CONFIG_FILE"
    req PUT /v2/e2e/manifest-put/manifests/v1 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$AMD64_MANIFEST_FILE"
    expect_status 201
    expect_header Docker-Content-Digest "$AMD64_MANIFEST_DIGEST"
    expect_header_match Location "^(http://[^/]+)?/v2/e2e/manifest-put/manifests/$AMD64_MANIFEST_DIGEST$"
}
run_case "PUT manifest by tag → 201, Location …/manifests/<digest>, Docker-Content-Digest" t_manifest_put_tag

t_manifest_get() {
    push_image e2e/manifest-get v1
    local ref
    for ref in v1 "$AMD64_MANIFEST_DIGEST"; do
        req GET "/v2/e2e/manifest-get/manifests/$ref" "${ACCEPT_ALL[@]}"
        expect_status 200
        expect_header Content-Type "$MT_OCI_MANIFEST"
        expect_header Docker-Content-Digest "$AMD64_MANIFEST_DIGEST"
        expect_header Content-Length "$AMD64_MANIFEST_SIZE"
        expect_body_file "$AMD64_MANIFEST_FILE"
    done
}
run_case "GET manifest by tag and by digest → 200, the pushed bytes, Content-Type, Docker-Content-Digest" t_manifest_get

t_manifest_head() {
    push_image e2e/manifest-head v1
    local ref
    for ref in v1 "$AMD64_MANIFEST_DIGEST"; do
        req HEAD "/v2/e2e/manifest-head/manifests/$ref" "${ACCEPT_ALL[@]}"
        expect_status 200
        expect_header Content-Type "$MT_OCI_MANIFEST"
        expect_header Docker-Content-Digest "$AMD64_MANIFEST_DIGEST"
        expect_header Content-Length "$AMD64_MANIFEST_SIZE"
    done
}
run_case "HEAD manifest by tag and by digest → 200, Content-Type, Docker-Content-Digest, Content-Length" t_manifest_head

t_manifest_get_no_accept() {
    push_image e2e/manifest-no-accept v1
    req GET /v2/e2e/manifest-no-accept/manifests/v1
    if is_reference; then
        differs "GET of an OCI manifest with no Accept header: reference answers 404 MANIFEST_UNKNOWN (it wants to down-convert to schema 1), Berth serves the stored bytes"
        expect_status 404
        return 0
    fi
    expect_status 200
    expect_header Content-Type "$MT_OCI_MANIFEST"
    expect_body_file "$AMD64_MANIFEST_FILE"
}
run_case "GET manifest with no Accept header → 200, stored bytes and media type (never schema 1)" t_manifest_get_no_accept

t_manifest_docker_v2() {
    push_blob e2e/manifest-docker "$AMD64_LAYER_FILE"
    push_blob e2e/manifest-docker "$AMD64_CONFIG_FILE"
    jq -c '.mediaType = "application/vnd.docker.distribution.manifest.v2+json"
           | .config.mediaType = "application/vnd.docker.container.image.v1+json"
           | .layers[].mediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip"' \
        "$AMD64_MANIFEST_FILE" | tr -d '\n' >"$E2E_TMP/docker.json"
    push_manifest e2e/manifest-docker v1 "$E2E_TMP/docker.json" "$MT_DOCKER_MANIFEST"
    expect_header Docker-Content-Digest "sha256:$(sha256_file "$E2E_TMP/docker.json")"
    req GET /v2/e2e/manifest-docker/manifests/v1 "${ACCEPT_ALL[@]}"
    expect_status 200
    expect_header Content-Type "$MT_DOCKER_MANIFEST"
    expect_body_file "$E2E_TMP/docker.json"
}
run_case "Docker schema 2 manifest round-trips with its own media type" t_manifest_docker_v2

t_manifest_type_from_content_type() {
    push_blob e2e/manifest-ctype "$AMD64_LAYER_FILE"
    push_blob e2e/manifest-ctype "$AMD64_CONFIG_FILE"
    jq -c 'del(.mediaType)' "$AMD64_MANIFEST_FILE" | tr -d '\n' >"$E2E_TMP/nomt.json"
    push_manifest e2e/manifest-ctype v1 "$E2E_TMP/nomt.json" "$MT_OCI_MANIFEST"
    req HEAD /v2/e2e/manifest-ctype/manifests/v1 "${ACCEPT_ALL[@]}"
    expect_status 200
    expect_header Content-Type "$MT_OCI_MANIFEST"
    expect_header Docker-Content-Digest "sha256:$(sha256_file "$E2E_TMP/nomt.json")"
}
run_case "a manifest without mediaType is served with the Content-Type it was PUT with" t_manifest_type_from_content_type

t_manifest_index() {
    push_image e2e/manifest-index "$AMD64_MANIFEST_DIGEST"
    push_arm64_image e2e/manifest-index
    req PUT /v2/e2e/manifest-index/manifests/multi -H "Content-Type: $MT_OCI_INDEX" --data-binary "@$INDEX_FILE"
    expect_status 201
    expect_header Docker-Content-Digest "$INDEX_DIGEST"
    req GET /v2/e2e/manifest-index/manifests/multi "${ACCEPT_ALL[@]}"
    expect_status 200
    expect_header Content-Type "$MT_OCI_INDEX"
    expect_header Docker-Content-Digest "$INDEX_DIGEST"
    expect_body_file "$INDEX_FILE"
}
run_case "PUT by digest of two platform manifests, then their image index by tag → 201; GET serves the index" t_manifest_index

t_manifest_index_unknown_child() {
    push_image e2e/manifest-index-bad "$AMD64_MANIFEST_DIGEST"
    # arm64 is not pushed: the index names a manifest the repository lacks.
    req PUT /v2/e2e/manifest-index-bad/manifests/multi -H "Content-Type: $MT_OCI_INDEX" --data-binary "@$INDEX_FILE"
    expect_status 400
    expect_json_error MANIFEST_BLOB_UNKNOWN
}
run_case "PUT an image index naming an absent manifest → 400 MANIFEST_BLOB_UNKNOWN" t_manifest_index_unknown_child

t_manifest_blob_unknown() {
    push_blob e2e/manifest-missing "$AMD64_CONFIG_FILE"
    # The layer is not pushed.
    req PUT /v2/e2e/manifest-missing/manifests/v1 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$AMD64_MANIFEST_FILE"
    expect_status 400
    expect_json_error MANIFEST_BLOB_UNKNOWN
    req GET /v2/e2e/manifest-missing/manifests/v1 "${ACCEPT_ALL[@]}"
    expect_status 404
}
run_case "PUT manifest referencing a blob not in the repository → 400 MANIFEST_BLOB_UNKNOWN" t_manifest_blob_unknown

# A descriptor's size is part of what it names: a client fetching the blob checks
# it and fails on a mismatch, so a manifest that misstates one is refused (the
# spec's MANIFEST_INVALID: "manifests undergo several checks ensuring validity").
t_manifest_size_mismatch() {
    push_blob e2e/manifest-size "$AMD64_LAYER_FILE"
    push_blob e2e/manifest-size "$AMD64_CONFIG_FILE"
    jq -c '.config.size = 1' "$AMD64_MANIFEST_FILE" >"$E2E_TMP/bad-config-size.json"
    jq -c ".layers[0].size = $((AMD64_LAYER_SIZE + 1))" "$AMD64_MANIFEST_FILE" >"$E2E_TMP/bad-layer-size.json"
    berth_only "a descriptor size that is not the blob's: reference 2.8 accepts the manifest (201)"
    req PUT /v2/e2e/manifest-size/manifests/v1 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$E2E_TMP/bad-config-size.json"
    expect_status 400
    expect_json_error MANIFEST_INVALID
    req PUT /v2/e2e/manifest-size/manifests/v1 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$E2E_TMP/bad-layer-size.json"
    expect_status 400
    expect_json_error MANIFEST_INVALID
    req GET /v2/e2e/manifest-size/manifests/v1 "${ACCEPT_ALL[@]}"
    expect_status 404
}
run_case "PUT manifest whose config or layer size is not the stored blob's → 400 MANIFEST_INVALID, nothing stored" t_manifest_size_mismatch

# The image spec lets a layer with urls live outside the registry; its config
# must still be pushed, and a layer that was pushed must have its size.
t_manifest_foreign_layer() {
    local absent
    absent="sha256:$(sha256_str "a layer that lives elsewhere")"
    push_blob e2e/manifest-foreign "$AMD64_CONFIG_FILE"
    jq -c --arg d "$absent" '.layers[0].urls = ["https://example.com/layer"] | .layers[0].digest = $d' \
        "$AMD64_MANIFEST_FILE" >"$E2E_TMP/foreign.json"
    jq -c --arg d "$absent" '.config.urls = ["https://example.com/config"] | .config.digest = $d' \
        "$AMD64_MANIFEST_FILE" >"$E2E_TMP/foreign-config.json"
    berth_only "layers with urls: reference 2.8's default configuration refuses every url (500 UNKNOWN)"
    req PUT /v2/e2e/manifest-foreign/manifests/v1 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$E2E_TMP/foreign.json"
    expect_status 201
    req PUT /v2/e2e/manifest-foreign/manifests/v2 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$E2E_TMP/foreign-config.json"
    expect_status 400
    expect_json_error MANIFEST_BLOB_UNKNOWN
    push_blob e2e/manifest-foreign "$AMD64_LAYER_FILE"
    jq -c '.layers[0].urls = ["https://example.com/layer"] | .layers[0].size = 1' "$AMD64_MANIFEST_FILE" \
        >"$E2E_TMP/foreign-bad-size.json"
    req PUT /v2/e2e/manifest-foreign/manifests/v3 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$E2E_TMP/foreign-bad-size.json"
    expect_status 400
    expect_json_error MANIFEST_INVALID
}
run_case "PUT manifest with a layer carrying urls (absent) → 201; config with urls (absent) → 400 MANIFEST_BLOB_UNKNOWN; pushed layer with a wrong size → 400 MANIFEST_INVALID" t_manifest_foreign_layer

t_manifest_index_child_size() {
    push_image e2e/manifest-index-size "$AMD64_MANIFEST_DIGEST"
    push_arm64_image e2e/manifest-index-size
    jq -c '.manifests[0].size = 1' "$INDEX_FILE" >"$E2E_TMP/index-bad-size.json"
    berth_only "an index child's size that is not the stored manifest's: reference 2.8 checks only that the child exists"
    req PUT /v2/e2e/manifest-index-size/manifests/multi -H "Content-Type: $MT_OCI_INDEX" --data-binary "@$E2E_TMP/index-bad-size.json"
    expect_status 400
    expect_json_error MANIFEST_INVALID
}
run_case "PUT an image index whose child size is not the stored manifest's → 400 MANIFEST_INVALID" t_manifest_index_child_size

t_manifest_malformed() {
    push_blob e2e/manifest-malformed "$AMD64_CONFIG_FILE"
    req PUT /v2/e2e/manifest-malformed/manifests/v1 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary '{"schemaVersion":2,'
    expect_status 400
    expect_json_error MANIFEST_INVALID
}
run_case "PUT malformed JSON as a manifest → 400 MANIFEST_INVALID" t_manifest_malformed

t_manifest_digest_mismatch() {
    push_image e2e/manifest-digest-mismatch v1
    req PUT "/v2/e2e/manifest-digest-mismatch/manifests/$ARM64_MANIFEST_DIGEST" -H "Content-Type: $MT_OCI_MANIFEST" \
        --data-binary "@$AMD64_MANIFEST_FILE"
    expect_status 400
    expect_json_error DIGEST_INVALID
}
run_case "PUT manifest by a digest that is not its own → 400 DIGEST_INVALID" t_manifest_digest_mismatch

t_manifest_too_big() {
    push_image e2e/manifest-big v1
    head -c $((MAX_MANIFEST_BYTES + 10)) /dev/zero | tr '\0' x >"$E2E_TMP/pad"
    jq -c --rawfile pad "$E2E_TMP/pad" '.annotations = {pad: $pad}' "$AMD64_MANIFEST_FILE" | tr -d '\n' >"$E2E_TMP/big.json"
    req PUT /v2/e2e/manifest-big/manifests/big -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$E2E_TMP/big.json"
    if is_reference; then
        differs "manifest over 4 MiB: reference answers 400 MANIFEST_INVALID (\"http: request body too large\"), Berth 413 SIZE_INVALID"
        expect_status 400
        expect_json_error MANIFEST_INVALID
    else
        expect_status 413
        expect_json_error SIZE_INVALID
    fi
    req GET /v2/e2e/manifest-big/manifests/big "${ACCEPT_ALL[@]}"
    expect_status 404
}
run_case "PUT a manifest over 4 MiB → 413 SIZE_INVALID, nothing stored" t_manifest_too_big

t_manifest_max_size() {
    push_image e2e/manifest-max v1
    # Pad the annotation so that the whole manifest is exactly MAX_MANIFEST_BYTES.
    local base
    base=$(jq -c '.annotations = {pad: ""}' "$AMD64_MANIFEST_FILE" | tr -d '\n' | wc -c)
    head -c $((MAX_MANIFEST_BYTES - base)) /dev/zero | tr '\0' x >"$E2E_TMP/pad"
    jq -c --rawfile pad "$E2E_TMP/pad" '.annotations = {pad: $pad}' "$AMD64_MANIFEST_FILE" | tr -d '\n' >"$E2E_TMP/max.json"
    expect_eq "size of the test manifest" "$MAX_MANIFEST_BYTES" "$(file_size "$E2E_TMP/max.json")"
    req PUT /v2/e2e/manifest-max/manifests/max -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$E2E_TMP/max.json"
    expect_status 201
    expect_header Docker-Content-Digest "sha256:$(sha256_file "$E2E_TMP/max.json")"
    req GET /v2/e2e/manifest-max/manifests/max "${ACCEPT_ALL[@]}"
    expect_status 200
    expect_body_file "$E2E_TMP/max.json"
}
run_case "PUT a manifest of exactly 4 MiB → 201; served back byte for byte" t_manifest_max_size

t_manifest_unknown() {
    push_image e2e/manifest-unknown v1
    req GET /v2/e2e/manifest-unknown/manifests/nope "${ACCEPT_ALL[@]}"
    expect_status 404
    expect_json_error MANIFEST_UNKNOWN
    req HEAD /v2/e2e/manifest-unknown/manifests/nope "${ACCEPT_ALL[@]}"
    expect_status 404
    req GET "/v2/e2e/manifest-unknown/manifests/$ARM64_MANIFEST_DIGEST" "${ACCEPT_ALL[@]}"
    expect_status 404
    expect_json_error MANIFEST_UNKNOWN
}
run_case "GET / HEAD of an absent tag or digest → 404 (GET: MANIFEST_UNKNOWN)" t_manifest_unknown

t_manifest_overwrite_tag() {
    push_image e2e/manifest-overwrite v1
    push_arm64_image e2e/manifest-overwrite
    push_manifest e2e/manifest-overwrite v1 "$ARM64_MANIFEST_FILE" "$MT_OCI_MANIFEST"
    req HEAD /v2/e2e/manifest-overwrite/manifests/v1 "${ACCEPT_ALL[@]}"
    expect_header Docker-Content-Digest "$ARM64_MANIFEST_DIGEST"
    req GET "/v2/e2e/manifest-overwrite/manifests/$AMD64_MANIFEST_DIGEST" "${ACCEPT_ALL[@]}"
    expect_status 200
    expect_body_file "$AMD64_MANIFEST_FILE"
}
run_case "overwriting a tag moves it; the old manifest stays pullable by digest" t_manifest_overwrite_tag

t_manifest_delete_digest() {
    push_image e2e/manifest-del-digest v1
    push_manifest e2e/manifest-del-digest v1-alias "$AMD64_MANIFEST_FILE" "$MT_OCI_MANIFEST"
    push_arm64_image e2e/manifest-del-digest
    push_manifest e2e/manifest-del-digest other "$ARM64_MANIFEST_FILE" "$MT_OCI_MANIFEST"
    req DELETE "/v2/e2e/manifest-del-digest/manifests/$AMD64_MANIFEST_DIGEST"
    expect_status 202
    req GET "/v2/e2e/manifest-del-digest/manifests/$AMD64_MANIFEST_DIGEST" "${ACCEPT_ALL[@]}"
    expect_status 404
    expect_json_error MANIFEST_UNKNOWN
    req HEAD /v2/e2e/manifest-del-digest/manifests/v1 "${ACCEPT_ALL[@]}"
    expect_status 404
    req GET /v2/e2e/manifest-del-digest/tags/list
    expect_status 200
    expect_jq '.tags // [] | sort' '["other"]'
    req DELETE "/v2/e2e/manifest-del-digest/manifests/$AMD64_MANIFEST_DIGEST"
    expect_status 404
    expect_json_error MANIFEST_UNKNOWN
}
run_case "DELETE manifest by digest → 202; its tags go with it, others stay; again → 404 MANIFEST_UNKNOWN" t_manifest_delete_digest

t_manifest_delete_tag() {
    push_image e2e/manifest-del-tag v1
    push_manifest e2e/manifest-del-tag v1-alias "$AMD64_MANIFEST_FILE" "$MT_OCI_MANIFEST"
    req DELETE /v2/e2e/manifest-del-tag/manifests/v1
    if is_reference; then
        differs "DELETE /manifests/<tag>: reference answers 400 DIGEST_INVALID (tags cannot be deleted in 2.8), Berth 202 and removes only the tag"
        expect_status 400
        expect_json_error DIGEST_INVALID
        return 0
    fi
    expect_status 202
    req HEAD /v2/e2e/manifest-del-tag/manifests/v1 "${ACCEPT_ALL[@]}"
    expect_status 404
    req HEAD "/v2/e2e/manifest-del-tag/manifests/$AMD64_MANIFEST_DIGEST" "${ACCEPT_ALL[@]}"
    expect_status 200
    req HEAD /v2/e2e/manifest-del-tag/manifests/v1-alias "${ACCEPT_ALL[@]}"
    expect_status 200
    req GET /v2/e2e/manifest-del-tag/tags/list
    expect_jq '.tags' '["v1-alias"]'
}
run_case "DELETE manifest by tag → 202; only that tag goes, the manifest and its other tags stay" t_manifest_delete_tag

# ================================================================ referrers (OCI 1.1)

t_subject_header() {
    push_artifact e2e/subject
    expect_status 201
    expect_header Docker-Content-Digest "$ARTIFACT_DIGEST"
    berth_only "PUT of a manifest with a subject: the reference (no OCI 1.1 support) sends no OCI-Subject header"
    expect_header OCI-Subject "$AMD64_MANIFEST_DIGEST"
}
run_case "PUT a manifest with a subject → 201 and OCI-Subject: <subject digest>" t_subject_header

t_referrers() {
    push_artifact e2e/referrers
    require 201 "PUT artifact"
    berth_only "GET /v2/<name>/referrers/<digest>: the reference has no referrers API (404 text/plain)"
    req GET "/v2/e2e/referrers/referrers/$AMD64_MANIFEST_DIGEST"
    expect_status 200
    expect_header Content-Type "$MT_OCI_INDEX"
    expect_header_absent OCI-Filters-Applied
    expect_jq '{schemaVersion, mediaType}' '{"schemaVersion":2,"mediaType":"'"$MT_OCI_INDEX"'"}'
    expect_jq '.manifests' "$(jq -c --arg d "$ARTIFACT_DIGEST" --argjson s "$ARTIFACT_SIZE" \
        '[{mediaType, digest: $d, size: $s, artifactType, annotations}]' "$ARTIFACT_FILE")"
}
run_case "GET /v2/<name>/referrers/<digest> → 200 OCI index with the artifact's descriptor" t_referrers

t_referrers_filter() {
    push_artifact e2e/referrers-filter
    require 201 "PUT artifact"
    berth_only "referrers artifactType filter: the reference has no referrers API"
    req GET "/v2/e2e/referrers-filter/referrers/$AMD64_MANIFEST_DIGEST?artifactType=$ARTIFACT_TYPE"
    expect_status 200
    expect_header OCI-Filters-Applied artifactType
    expect_jq '[.manifests[].digest]' "[\"$ARTIFACT_DIGEST\"]"
    req GET "/v2/e2e/referrers-filter/referrers/$AMD64_MANIFEST_DIGEST?artifactType=application%2Fvnd.example.other"
    expect_status 200
    expect_header OCI-Filters-Applied artifactType
    expect_jq '.manifests' '[]'
}
run_case "GET referrers?artifactType= filters and says OCI-Filters-Applied: artifactType" t_referrers_filter

t_referrers_none() {
    push_image e2e/referrers-none v1
    berth_only "referrers of a manifest nobody refers to: the reference has no referrers API"
    req GET "/v2/e2e/referrers-none/referrers/$AMD64_MANIFEST_DIGEST"
    expect_status 200
    expect_header Content-Type "$MT_OCI_INDEX"
    expect_jq '.manifests' '[]'
    req GET "/v2/e2e/referrers-none/referrers/$ABSENT_DIGEST"
    expect_status 200
    expect_jq '.manifests' '[]'
}
run_case "GET referrers with no referrers (or an absent subject) → 200 and an empty index" t_referrers_none

# push_referrers REPO COUNT [ARTIFACT_TYPE [PAD_BYTES]]: COUNT more artifacts on the v1 image
# (pushed first if absent), each made distinct by an annotation, optionally of another
# artifactType and padded with an annotation of PAD_BYTES characters.
push_referrers() {
    local repo=$1 count=$2 type=${3:-$ARTIFACT_TYPE} pad=${4:-0} i f d
    req HEAD "/v2/$repo/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
    if [[ $RESP_STATUS != 200 ]]; then
        push_image "$repo" v1
        push_blob "$repo" "$EMPTY_CONFIG_FILE"
        push_blob "$repo" "$ARTIFACT_LAYER_FILE"
    fi
    head -c "$pad" /dev/zero | tr '\0' p >"$E2E_TMP/pad.txt"
    for ((i = 0; i < count; i++)); do
        f="$E2E_TMP/referrer.json"
        jq -c --arg t "$type" --arg i "$type $i" --rawfile pad "$E2E_TMP/pad.txt" \
            '.artifactType = $t | .annotations["e2e.index"] = $i | if $pad != "" then .annotations["e2e.pad"] = $pad else . end' \
            "$ARTIFACT_FILE" >"$f"
        d="sha256:$(sha256_file "$f")"
        req PUT "/v2/$repo/manifests/$d" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$f"
        require 201 "PUT referrer $i of $repo"
    done
}

# follow_referrers URL: GET URL and every Link after it (at most 200 pages); sets
# REF_DIGESTS (every digest listed, in order, one per line), REF_PAGES, REF_FIRST_COUNT,
# and checks that each page is a 200 OCI index and that no Link names its own page.
follow_referrers() {
    local url=$1 next
    REF_DIGESTS="" REF_PAGES=0 REF_FIRST_COUNT=""
    while [[ -n $url && $REF_PAGES -lt 200 ]]; do
        req GET "$url"
        expect_status 200
        expect_header Content-Type "$MT_OCI_INDEX"
        [[ -n $REF_FIRST_COUNT ]] || REF_FIRST_COUNT=$(jq '.manifests | length' "$E2E_TMP/resp.body")
        REF_DIGESTS+=$(jq -r '.manifests[].digest' "$E2E_TMP/resp.body")$'\n'
        next=$(link_target)
        [[ $next != "$url" ]] || fail_diff "Link of $url" "another page" "$next (the same page)"
        url=$next
        REF_PAGES=$((REF_PAGES + 1))
    done
    REF_DIGESTS=$(printf '%s' "$REF_DIGESTS" | sed '/^$/d')
}

# ref_count: how many digests follow_referrers collected; ref_unique: how many distinct.
ref_count() { printf '%s\n' "$REF_DIGESTS" | sed '/^$/d' | wc -l; }
ref_unique() { printf '%s\n' "$REF_DIGESTS" | sed '/^$/d' | sort -u | wc -l; }

t_referrers_paginate() {
    berth_only "referrers pagination: the reference has no referrers API"
    push_referrers e2e/referrers-page 5
    req GET "/v2/e2e/referrers-page/referrers/$AMD64_MANIFEST_DIGEST?n=2"
    expect_status 200
    expect_jq '.manifests | length' 2
    expect_header_match Link '^</v2/e2e/referrers-page/referrers/'"$AMD64_MANIFEST_DIGEST"'\?[^>]*last=sha256[^>]*>; rel="next"$'
    follow_referrers "/v2/e2e/referrers-page/referrers/$AMD64_MANIFEST_DIGEST?n=2"
    expect_eq "pages of 2 for 5 referrers" 3 "$REF_PAGES"
    expect_eq "referrers listed over all pages" 5 "$(ref_count)"
    expect_eq "distinct referrers listed" 5 "$(ref_unique)"
    req GET "/v2/e2e/referrers-page/referrers/$AMD64_MANIFEST_DIGEST?n=0"
    expect_status 200
    expect_jq '.manifests' '[]'
    expect_header_absent Link
}
run_case "GET referrers?n=2 of 5 → 2 + Link rel=\"next\"; following Link lists all 5 once, in 3 pages; n=0 → empty, no Link" t_referrers_paginate

t_referrers_default_page() {
    berth_only "referrers pagination: the reference has no referrers API"
    push_referrers e2e/referrers-many 130
    follow_referrers "/v2/e2e/referrers-many/referrers/$AMD64_MANIFEST_DIGEST"
    expect_eq "descriptors on the first page (no ?n=)" 100 "$REF_FIRST_COUNT"
    expect_eq "pages" 2 "$REF_PAGES"
    expect_eq "referrers listed over all pages" 130 "$(ref_count)"
    expect_eq "distinct referrers listed" 130 "$(ref_unique)"
}
run_case "GET referrers of 130 referrers, no ?n= → a page of 100 + Link; following it lists all 130 once" t_referrers_default_page

t_referrers_page_bytes() {
    berth_only "referrers pagination: the reference has no referrers API"
    # Each descriptor carries a 700,000-character annotation: a page stops before 1 MiB
    # of descriptors, so each goes out alone, whatever n asks for.
    push_referrers e2e/referrers-big 3 "$ARTIFACT_TYPE" 700000
    follow_referrers "/v2/e2e/referrers-big/referrers/$AMD64_MANIFEST_DIGEST?n=50"
    expect_eq "descriptors on the first page" 1 "$REF_FIRST_COUNT"
    expect_eq "pages" 3 "$REF_PAGES"
    expect_eq "distinct referrers listed" 3 "$(ref_unique)"
    expect_eq "referrers listed over all pages" 3 "$(ref_count)"
}
run_case "GET referrers whose descriptors carry 700 kB annotations → one per page (pages capped by bytes), Link reaches all" t_referrers_page_bytes

t_referrers_filter_paginate() {
    berth_only "referrers pagination: the reference has no referrers API"
    push_referrers e2e/referrers-filter-page 3 application/vnd.example.sbom
    push_referrers e2e/referrers-filter-page 4 "$ARTIFACT_TYPE"
    req GET "/v2/e2e/referrers-filter-page/referrers/$AMD64_MANIFEST_DIGEST?n=2&artifactType=$ARTIFACT_TYPE"
    expect_header OCI-Filters-Applied artifactType
    expect_header_match Link 'artifactType='
    local next
    next=$(link_target)
    req GET "$next"
    expect_status 200
    expect_header OCI-Filters-Applied artifactType
    expect_jq "[.manifests[].artifactType | select(. != \"$ARTIFACT_TYPE\")]" '[]'
    follow_referrers "/v2/e2e/referrers-filter-page/referrers/$AMD64_MANIFEST_DIGEST?n=2&artifactType=$ARTIFACT_TYPE"
    expect_eq "pages" 2 "$REF_PAGES"
    expect_eq "distinct referrers of the filtered type" 4 "$(ref_unique)"
    expect_eq "referrers listed over all pages" 4 "$(ref_count)"
    follow_referrers "/v2/e2e/referrers-filter-page/referrers/$AMD64_MANIFEST_DIGEST?n=2"
    expect_eq "distinct referrers, unfiltered" 7 "$(ref_unique)"
    expect_eq "referrers listed over all pages, unfiltered" 7 "$(ref_count)"
}
run_case "GET referrers?artifactType=&n=2 → every page filtered with OCI-Filters-Applied; Link keeps the filter; all 4 of 7 listed once" t_referrers_filter_paginate

t_referrers_paging_malformed() {
    berth_only "referrers pagination: the reference has no referrers API"
    local q base=/v2/e2e/referrers-filter-page/referrers/$AMD64_MANIFEST_DIGEST
    for q in n=abc n=-1 n=99999999999999999999999 "last=$(printf 'a%.0s' $(seq 300))" last=%00; do
        req GET "$base?$q"
        expect_status 400
        expect_json_error PAGINATION_NUMBER_INVALID
    done
    # a last that names no referrer is a place in digest order, like tags/list's
    req GET "$base?n=2&last=not-a-digest"
    expect_status 200
    expect_jq '.schemaVersion' 2
}
run_case "GET referrers with a malformed n (abc, -1, past 2^64) or last (300 bytes, NUL) → 400 PAGINATION_NUMBER_INVALID; an unknown last → 200" t_referrers_paging_malformed

# ================================================================ tags

readonly -a TAGS_PUSHED=(v2 latest v10 a-tag v1 b)
readonly TAGS_SORTED='["a-tag","b","latest","v1","v10","v2"]'

push_tags() {
    push_image "$1" "${TAGS_PUSHED[0]}"
    local t
    for t in "${TAGS_PUSHED[@]:1}"; do
        push_manifest "$1" "$t" "$AMD64_MANIFEST_FILE" "$MT_OCI_MANIFEST"
    done
}

t_tags_list() {
    push_tags e2e/tags
    req GET /v2/e2e/tags/tags/list
    expect_status 200
    expect_header_match Content-Type '^application/json'
    expect_jq '.name' '"e2e/tags"'
    if is_berth; then
        expect_jq '.tags' "$TAGS_SORTED"
    else
        differs "tags/list order: reference 2.8 returns tags unsorted, Berth sorts them lexically"
        expect_jq '.tags | sort' "$TAGS_SORTED"
    fi
}
run_case "GET /tags/list → 200 {name, tags} with the tags in lexical order" t_tags_list

t_tags_paginate() {
    push_tags e2e/tags-page
    berth_only "tags/list ?n= and ?last=: reference 2.8 ignores both and sends no Link header"
    req GET '/v2/e2e/tags-page/tags/list?n=2'
    expect_status 200
    expect_jq '.tags' '["a-tag","b"]'
    expect_header_match Link '^</v2/e2e/tags-page/tags/list\?[^>]*>; rel="next"$'
    local next
    next=$(link_target)
    [[ $next == *n=2* && $next == *last=b* ]] || fail_diff "Link target" "…?n=2&last=b" "$next"

    req GET '/v2/e2e/tags-page/tags/list?n=2&last=b'
    expect_status 200
    expect_jq '.tags' '["latest","v1"]'

    req GET '/v2/e2e/tags-page/tags/list?n=10&last=v1'
    expect_status 200
    expect_jq '.tags' '["v10","v2"]'
    expect_header_absent Link

    # Following Link from the first page visits every tag once, in order.
    local all="[]" pages=0 url='/v2/e2e/tags-page/tags/list?n=4'
    while [[ -n $url && $pages -lt 10 ]]; do
        req GET "$url"
        all=$(jq -c --argjson acc "$all" '$acc + .tags' "$E2E_TMP/resp.body")
        url=$(link_target)
        pages=$((pages + 1))
    done
    expect_eq "tags collected by following Link from ?n=4" "$TAGS_SORTED" "$all"
    expect_eq "pages" 2 "$pages"
}
run_case "GET /tags/list?n=2 → 2 tags + Link rel=\"next\"; ?last= continues after it; last page has no Link" t_tags_paginate

# n=0 asks for a page of nothing: an empty list and no Link, as distribution's
# catalog answers ?n=0 (and its later tags handler; 2.8's tags ignore n). A Link
# back to ?n=0&last= was the same page again: a client following it never ended.
t_tags_n_zero() {
    push_tags e2e/tags-zero
    req GET '/v2/e2e/tags-zero/tags/list?n=0'
    expect_status 200
    expect_header_absent Link
    if is_berth; then
        expect_jq '.tags' '[]'
    else
        differs "tags/list?n=0: reference 2.8 ignores n and lists every tag; Berth sends an empty list (both: no Link)"
    fi
    req GET '/v2/e2e/tags-zero/tags/list?n=0&last=b'
    expect_status 200
    expect_header_absent Link
}
run_case "GET /tags/list?n=0 → 200, an empty list and no Link (never a Link to the same page)" t_tags_n_zero

t_tags_unknown_repo() {
    req GET /v2/e2e/no-such-repo/tags/list
    expect_status 404
    expect_json_error NAME_UNKNOWN
}
run_case "GET /tags/list of a repository that does not exist → 404 NAME_UNKNOWN" t_tags_unknown_repo

# ================================================================ catalog

t_catalog() {
    push_image e2e/catalog-a v1
    push_image e2e/catalog-b v1
    req GET /v2/_catalog
    expect_status 200
    expect_jq '.repositories | (. == sort)' true
    expect_jq '[.repositories[] | select(startswith("e2e/catalog-"))]' '["e2e/catalog-a","e2e/catalog-b"]'
    local full
    full=$(jq -c .repositories "$E2E_TMP/resp.body")

    req GET '/v2/_catalog?n=1'
    expect_status 200
    expect_jq '.repositories | length' 1
    expect_header_match Link '^</v2/_catalog\?[^>]*>; rel="next"$'

    req GET '/v2/_catalog?n=1&last=e2e/catalog-a'
    expect_status 200
    expect_jq '.repositories' '["e2e/catalog-b"]'

    local all="[]" pages=0 url='/v2/_catalog?n=10'
    while [[ -n $url && $pages -lt 100 ]]; do
        req GET "$url"
        all=$(jq -c --argjson acc "$all" '$acc + .repositories' "$E2E_TMP/resp.body")
        url=$(link_target)
        pages=$((pages + 1))
    done
    expect_eq "repositories collected by following Link from ?n=10" "$full" "$all"
}
run_case "GET /v2/_catalog → sorted repositories; ?n= and ?last= paginate with Link rel=\"next\"" t_catalog

t_catalog_n_zero() {
    push_image e2e/catalog-zero v1
    req GET '/v2/_catalog?n=0'
    expect_status 200
    expect_jq '.repositories' '[]'
    expect_header_absent Link
    req GET '/v2/_catalog?n=0&last=e2e/catalog-zero'
    expect_status 200
    expect_jq '.repositories' '[]'
    expect_header_absent Link
}
run_case "GET /v2/_catalog?n=0 → 200, an empty list and no Link, as distribution answers" t_catalog_n_zero

# ================================================================ names

# Names the grammar forbids: path traversal, upper case, empty components.
readonly -a INVALID_NAMES=("../etc" "e2e/../../etc" "%2e%2e/etc" "E2E/Upper" "a//b" "e2e/-dash" "e2e/trailing/")

t_name_invalid() {
    berth_only "invalid repository names (../etc, upper case, a//b …): the reference's router answers 404 text/plain or a 301 redirect, never NAME_INVALID"
    local name
    for name in "${INVALID_NAMES[@]}"; do
        req GET "/v2/$name/tags/list"
        expect_status 400
        expect_json_error NAME_INVALID
        req POST "/v2/$name/blobs/uploads/"
        expect_status 400
        expect_json_error NAME_INVALID
        req PUT "/v2/$name/manifests/v1" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$AMD64_MANIFEST_FILE"
        expect_status 400
        expect_json_error NAME_INVALID
    done
}
run_case "invalid names (../etc, e2e/../../etc, %2e%2e/etc, E2E/Upper, a//b, e2e/-dash) → 400 NAME_INVALID" t_name_invalid

t_name_long() {
    local long
    long="e2e/$(printf 'a%.0s' $(seq 1 260))"
    berth_only "a 264-character name: the reference answers 500 UNKNOWN"
    req GET "/v2/$long/tags/list"
    expect_status 400
    expect_json_error NAME_INVALID
}
run_case "a repository name over 255 characters → 400 NAME_INVALID" t_name_long

# A damaged upload session (its LMDB record overwritten with junk while berthd is down,
# with lmdb-utils' mdb_load) is a server error, never "upload unknown": the upload exists,
# and a client told 404 would start again and leave the damage unseen.
if is_berth && [[ $E2E_TARGET == berth ]] && [[ -x /usr/bin/mdb_load ]]; then
    req POST /v2/e2e/damaged/blobs/uploads/
    DAMAGED_ID=$(header Location | sed 's|.*/||; s|\r||')
    req POST /v2/e2e/damaged/blobs/uploads/
    INTACT_ID=$(header Location | sed 's|.*/||; s|\r||')
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
    printf 'VERSION=3\nformat=print\ntype=btree\nHEADER=END\n %s\n junk!\nDATA=END\n' "$DAMAGED_ID" |
        /usr/bin/mdb_load -s uploads "$REGISTRY_DATA/store" || { echo "mdb_load failed" >&2; exit 1; }
    restart_registry
fi

t_damaged_session() {
    berth_only "a damaged upload session: only Berth's store can be damaged here"
    [[ -n ${DAMAGED_ID:-} ]] || { skip_case "needs E2E_TARGET=berth and /usr/bin/mdb_load"; return; }
    req GET "/v2/e2e/damaged/blobs/uploads/$DAMAGED_ID"
    expect_status 500
    expect_json_error UNKNOWN
    grep -q "damaged" "$E2E_TMP/resp.body" || fail "the error does not say the session is damaged: $(body)"
    req PATCH "/v2/e2e/damaged/blobs/uploads/$DAMAGED_ID" -H "Content-Range: 18446744073709551615-18446744073709551615" \
        -H "Content-Type: application/octet-stream" --data-binary x
    expect_status 500
    req GET "/v2/e2e/damaged/blobs/uploads/$INTACT_ID"
    expect_status 204
    expect_header Range "0-0"
}
run_case "a damaged upload session record → 500 naming the damage (GET, and PATCH's 416 path), not 404; its neighbour is intact" t_damaged_session

finish
