#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# The ECR control API for images (issue 16), with the real AWS CLI and
# boto3: list-images and describe-images (filters, pages, imageSizeInBytes
# against the manifests), batch-get-image (acceptedMediaTypes, failures[]),
# put-image (ImageAlreadyExistsException, digests, missing layers, immutable
# tags), batch-delete-image (by tag and digest, failures[]), and malformed
# input named by field.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd tests/e2e/test_ecr_images.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/aws /usr/bin/python3 /usr/bin/skopeo curl jq
is_berth || skip_all "the ECR control API is Berth's"
/usr/bin/python3 -c 'import boto3' 2>/dev/null || skip_all "python3-boto3 is not installed"

start_authenticated_registry
ECR=("${AWS[@]}" ecr)
OCI_MT=application/vnd.oci.image.manifest.v1+json
OCI_INDEX_MT=application/vnd.oci.image.index.v1+json

password() {
    "${ECR[@]}" get-login-password 2>"$E2E_TMP/pw.err"
}

# push REF NAME:TAG [skopeo flags]
push() {
    local pw
    pw=$(password) || { fail "get-login-password failed"; return 1; }
    run "${SKOPEO[@]}" copy "${@:3}" --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:$1" "docker://$REGISTRY/$2"
}

# variant N: v1's manifest with an annotation n=N (a new digest over the same blobs)
variant() {
    jq -c --arg n "$1" '.annotations = {"n": $n}' "$AMD64_MANIFEST_FILE"
}

# The repository e2e/img: v1 and latest on the amd64 image, multi on the index (its
# arm64 child untagged), sig on the artifact
push v1 e2e/img:v1 >/dev/null
push v1 e2e/img:latest >/dev/null
push multi e2e/img:multi --all >/dev/null
push artifact e2e/img:sig >/dev/null

t_list_images() {
    run "${ECR[@]}" list-images --repository-name e2e/img
    expect_success
    expect_out_jq '.imageIds | sort_by(.imageDigest, .imageTag)' "$(jq -cn \
        --arg a "$AMD64_MANIFEST_DIGEST" --arg r "$ARM64_MANIFEST_DIGEST" --arg i "$INDEX_DIGEST" --arg s "$ARTIFACT_DIGEST" \
        '[{imageDigest: $a, imageTag: "latest"}, {imageDigest: $a, imageTag: "v1"}, {imageDigest: $r}, {imageDigest: $i, imageTag: "multi"}, {imageDigest: $s, imageTag: "sig"}] | sort_by(.imageDigest, .imageTag)')"
    run "${ECR[@]}" list-images --repository-name e2e/img --filter tagStatus=UNTAGGED
    expect_out_jq .imageIds "[{\"imageDigest\":\"$ARM64_MANIFEST_DIGEST\"}]"
    run "${ECR[@]}" list-images --repository-name e2e/img --filter tagStatus=TAGGED
    expect_out_jq '[.imageIds[].imageTag] | sort' '["latest","multi","sig","v1"]'
    run "${ECR[@]}" list-images --repository-name e2e/none
    expect_exit 254
    expect_stderr_match RepositoryNotFoundException
}
run_case "list-images: one entry per tag, untagged children by digest; filter.tagStatus TAGGED and UNTAGGED; an unknown repository → RepositoryNotFoundException" t_list_images

t_describe_images() {
    local layers
    layers=$(jq '[.layers[].size] | add' "$AMD64_MANIFEST_FILE")
    run "${ECR[@]}" describe-images --repository-name e2e/img --image-ids imageTag=v1
    expect_success
    expect_out_jq '.imageDetails[0] | [.imageDigest, (.imageTags | sort), .imageSizeInBytes, .imageManifestMediaType, .artifactMediaType]' \
        "[\"$AMD64_MANIFEST_DIGEST\",[\"latest\",\"v1\"],$layers,\"$OCI_MT\",\"$(jq -r .config.mediaType "$AMD64_MANIFEST_FILE")\"]"
    local pushed now
    pushed=$(jq -r '.imageDetails[0].imagePushedAt | sub("\\.[0-9]+"; "") | sub("\\+00:00$"; "Z") | fromdateiso8601' "$E2E_TMP/cmd.out")
    now=$(date +%s)
    ((pushed <= now && pushed > now - 600)) || fail_diff "imagePushedAt" "within 10 minutes of $now" "$pushed"
    # an index: its largest child's size
    local arm
    arm=$(jq '[.layers[].size] | add' "$ARM64_MANIFEST_FILE")
    run "${ECR[@]}" describe-images --repository-name e2e/img --image-ids imageTag=multi
    expect_out_jq '.imageDetails[0] | [.imageDigest, .imageSizeInBytes, .imageManifestMediaType]' \
        "[\"$INDEX_DIGEST\",$((layers > arm ? layers : arm)),\"$OCI_INDEX_MT\"]"
    run "${ECR[@]}" describe-images --repository-name e2e/img --image-ids imageTag=sig
    expect_out_jq '.imageDetails[0] | [.imageSizeInBytes, .artifactMediaType]' "[$ARTIFACT_LAYER_SIZE,\"application/vnd.oci.empty.v1+json\"]"
    run "${ECR[@]}" describe-images --repository-name e2e/img --filter tagStatus=UNTAGGED
    expect_out_jq '[.imageDetails[] | [.imageDigest, .imageTags]]' "[[\"$ARM64_MANIFEST_DIGEST\",null]]"
    run "${ECR[@]}" describe-images --repository-name e2e/img --image-ids imageTag=nope
    expect_exit 254
    expect_stderr_match "ImageNotFoundException.*nope"
}
run_case "describe-images: digest, tags, imageSizeInBytes = the layers' sizes in the manifest (an index: its largest child's), media types, imagePushedAt; the untagged filter; ImageNotFoundException" t_describe_images

t_put_image_and_pages() {
    local i
    run "${ECR[@]}" create-repository --repository-name e2e/pages
    push v1 e2e/pages:v1
    expect_success
    for i in 1 2 3 4 5; do
        run "${ECR[@]}" put-image --repository-name e2e/pages --image-tag "t$i" --image-manifest "$(variant "$i")"
        expect_success
        expect_out_jq '.image | [.imageId.imageTag, .imageId.imageDigest, .imageManifestMediaType]' \
            "[\"t$i\",\"sha256:$(variant "$i" | tr -d '\n' | sha256sum | cut -d' ' -f1)\",\"$OCI_MT\"]"
    done
    run "${ECR[@]}" list-images --repository-name e2e/pages --no-paginate --max-results 2
    expect_success
    expect_out_jq '[(.imageIds | length), (.nextToken != null)]' '[2,true]'
    run "${ECR[@]}" list-images --repository-name e2e/pages --page-size 2
    expect_out_jq '[.imageIds[].imageTag] | sort' '["t1","t2","t3","t4","t5","v1"]'
    run "${ECR[@]}" describe-images --repository-name e2e/pages --page-size 2
    expect_out_jq '[.imageDetails[].imageTags[0]] | sort' '["t1","t2","t3","t4","t5","v1"]'
    run_stdin /usr/bin/python3 - "$BASE" <<'EOF'
import sys, boto3
ecr = boto3.client("ecr", endpoint_url=sys.argv[1], region_name="us-east-1")
pages = list(ecr.get_paginator("describe_images").paginate(repositoryName="e2e/pages", PaginationConfig={"PageSize": 4}))
digests = [d["imageDigest"] for p in pages for d in p["imageDetails"]]
assert len(pages) == 2 and len(digests) == 6 == len(set(digests)), (len(pages), digests)
assert digests == sorted(digests), digests
pages = list(ecr.get_paginator("list_images").paginate(repositoryName="e2e/pages", PaginationConfig={"PageSize": 5}))
assert len(pages) == 2 and sum(len(p["imageIds"]) for p in pages) == 6, pages
EOF
    expect_success
    # the same digest under the same tag: ImageAlreadyExistsException
    run "${ECR[@]}" put-image --repository-name e2e/pages --image-tag t1 --image-manifest "$(variant 1)"
    expect_exit 254
    expect_stderr_match ImageAlreadyExistsException
    # the same digest under a new tag is a new tag
    run "${ECR[@]}" put-image --repository-name e2e/pages --image-tag t1-again --image-manifest "$(variant 1)"
    expect_success
    run "${ECR[@]}" put-image --repository-name e2e/pages --image-tag t6 --image-manifest "$(variant 6)" \
        --image-digest "sha256:$(printf '0%.0s' {1..64})"
    expect_exit 254
    expect_stderr_match ImageDigestDoesNotMatchException
    run "${ECR[@]}" put-image --repository-name e2e/pages --image-tag t7 \
        --image-manifest "$(jq -c '.layers[0].digest = "sha256:'"$(printf 'a%.0s' {1..64})"'"' "$AMD64_MANIFEST_FILE")"
    expect_exit 254
    expect_stderr_match LayersNotFoundException
    run "${ECR[@]}" put-image --repository-name e2e/pages --image-tag t8 --image-manifest '{"schemaVersion":2}'
    expect_exit 254
    expect_stderr_match "InvalidParameterException.*imageManifest"
    local pw
    pw=$(password)
    req GET /v2/e2e/pages/manifests/t3 -u "AWS:$pw" -H "Accept: $OCI_MT"
    expect_status 200
    expect_header docker-content-digest "sha256:$(variant 3 | tr -d '\n' | sha256sum | cut -d' ' -f1)"
}
run_case "put-image pushes manifests (tag, digest, media type); list-images and describe-images page through 6 images (CLI pages of 2, boto3 paginators); ImageAlreadyExistsException, ImageDigestDoesNotMatchException, LayersNotFoundException, a bad manifest → InvalidParameterException" t_put_image_and_pages

t_every_page_path() {
    run "${ECR[@]}" create-repository --repository-name e2e/paging
    push v1 e2e/paging:base
    expect_success
    run_stdin /usr/bin/python3 - "$BASE" "$AMD64_MANIFEST_FILE" <<'EOF'
import json, sys, boto3, botocore.config, botocore.exceptions
ecr = boto3.client("ecr", endpoint_url=sys.argv[1], region_name="us-east-1",
                   config=botocore.config.Config(parameter_validation=False))
R = "e2e/paging"
base = json.load(open(sys.argv[2]))
def put(n, tag=None):
    m = dict(base, annotations={"n": str(n)})
    kw = {"imageTag": tag} if tag else {}
    return ecr.put_image(repositoryName=R, imageManifest=json.dumps(m), **kw)["image"]["imageId"]["imageDigest"]
# 24 untagged, 6 tagged once, one with 5 tags (and base): runs of untagged
# images longer than a page, so a filtered page reads several windows
for n in range(24):
    put(n)
for n in range(24, 30):
    put(n, f"t{n}")
many = [put(99, f"many{k}") for k in range(5)][0]
want = {}  # digest -> sorted tags
for p in ecr.get_paginator("describe_images").paginate(repositoryName=R, PaginationConfig={"PageSize": 1000}):
    for d in p["imageDetails"]:
        want[d["imageDigest"]] = sorted(d.get("imageTags", []))
assert len(want) == 32 and want[many] == [f"many{k}" for k in range(5)], want
one = ecr.describe_images(repositoryName=R, maxResults=1000)
assert "nextToken" not in one and len(one["imageDetails"]) == 32, one.keys()
def keep(tags, status):
    return status in (None, "ANY") or (status == "TAGGED") == bool(tags)
def walk(op, size, status, token=None):
    pages = []
    while True:
        kw = {"repositoryName": R, "maxResults": size}
        if status:
            kw["filter"] = {"tagStatus": status}
        if token:
            kw["nextToken"] = token
        out = getattr(ecr, op)(**kw)
        pages.append(out["imageIds" if op == "list_images" else "imageDetails"])
        token = out.get("nextToken")
        if not token:
            return pages
for status in (None, "TAGGED", "UNTAGGED", "ANY"):
    exp = {d: t for d, t in want.items() if keep(t, status)}
    for size in (1, 3, 1000):
        pages = walk("describe_images", size, status)
        got = [d["imageDigest"] for p in pages for d in p]
        assert got == sorted(exp), (status, size, got)
        assert all(sorted(d.get("imageTags", [])) == exp[d["imageDigest"]] for p in pages for d in p), (status, size)
        assert [len(p) for p in pages] == [min(size, len(exp) - i) for i in range(0, len(exp), size)], (status, size)
        pages = walk("list_images", size, status)
        seen = {}
        for i, p in enumerate(pages):
            assert p and (len(p) <= size or len({x["imageDigest"] for x in p}) == 1), (status, size, p)
            for x in p:
                assert seen.setdefault(x["imageDigest"], i) == i, ("an image split across pages", status, size)
        got = {}
        for p in pages:
            for x in p:
                got.setdefault(x["imageDigest"], []).extend([x["imageTag"]] if "imageTag" in x else [])
        assert {d: sorted(t) for d, t in got.items()} == exp, (status, size)
# a nextToken naming an image deleted since: the listing goes on after it
first = ecr.describe_images(repositoryName=R, maxResults=3)
gone = first["imageDetails"][-1]["imageDigest"]
assert first["nextToken"] and gone != many
ecr.batch_delete_image(repositoryName=R, imageIds=[{"imageDigest": gone}])
rest = [d["imageDigest"] for p in walk("describe_images", 5, None, first["nextToken"]) for d in p]
assert rest == sorted(want)[3:], rest
rest = sorted({x["imageDigest"] for p in walk("list_images", 5, None, first["nextToken"]) for x in p})
assert rest == sorted(want)[3:], rest
# a token past the last image: an empty page and no token
last = ecr.list_images(repositoryName=R, nextToken="sha256:" + "f" * 64)
assert last["imageIds"] == [] and "nextToken" not in last, last
for kw in ({"nextToken": "abc"}, {"nextToken": "sha256:zz"}, {"nextToken": 7}, {"maxResults": 1001}):
    for op in (ecr.list_images, ecr.describe_images):
        try:
            op(repositoryName=R, **kw)
            raise SystemExit(f"accepted {kw}")
        except botocore.exceptions.ClientError as e:
            err = e.response["Error"]
            assert err["Code"] == "InvalidParameterException" and list(kw)[0] in err["Message"], err
EOF
    expect_success
}
run_case "every paging path, list-images and describe-images (boto3): pages of 1, 3 and 1000 with each tagStatus filter give every image once in digest order, ListImages never splits an image's 5 tags; a nextToken naming a deleted image goes on after it; a malformed nextToken or maxResults 1001 → InvalidParameterException" t_every_page_path

t_put_image_immutable() {
    run "${ECR[@]}" create-repository --repository-name e2e/put-frozen --image-tag-mutability IMMUTABLE
    push v1 e2e/put-frozen:base
    run "${ECR[@]}" put-image --repository-name e2e/put-frozen --image-tag rel --image-manifest "$(variant 1)"
    expect_success
    run "${ECR[@]}" put-image --repository-name e2e/put-frozen --image-tag rel --image-manifest "$(variant 2)"
    expect_exit 254
    expect_stderr_match "ImageTagAlreadyExistsException.*rel.*e2e/put-frozen"
    run "${ECR[@]}" put-image --repository-name e2e/put-frozen --image-tag rel --image-manifest "$(variant 1)"
    expect_exit 254
    expect_stderr_match ImageAlreadyExistsException
    run "${ECR[@]}" describe-images --repository-name e2e/put-frozen --image-ids imageTag=rel
    expect_out_jq '.imageDetails[0].imageDigest' "\"sha256:$(variant 1 | tr -d '\n' | sha256sum | cut -d' ' -f1)\""
}
run_case "put-image on an IMMUTABLE repository: moving a tag → ImageTagAlreadyExistsException naming tag and repository; the same digest again → ImageAlreadyExistsException; the tag keeps its image" t_put_image_immutable

t_batch_get_image() {
    run "${ECR[@]}" batch-get-image --repository-name e2e/img \
        --image-ids imageTag=v1 imageTag=nope "imageDigest=$INDEX_DIGEST" imageDigest=sha256:12 \
        "imageDigest=$INDEX_DIGEST,imageTag=v1"
    expect_success
    expect_out_jq '[.images[] | [.imageId.imageTag, .imageId.imageDigest, .imageManifestMediaType]]' \
        "[[\"v1\",\"$AMD64_MANIFEST_DIGEST\",\"$OCI_MT\"],[null,\"$INDEX_DIGEST\",\"$OCI_INDEX_MT\"]]"
    jq -j '.images[0].imageManifest' "$E2E_TMP/cmd.out" >"$E2E_TMP/got.json"
    cmp -s "$E2E_TMP/got.json" "$AMD64_MANIFEST_FILE" || fail "imageManifest is not the pushed bytes"
    expect_out_jq '[.failures[] | [.imageId.imageTag, .failureCode]]' \
        '[["nope","ImageNotFound"],[null,"InvalidImageDigest"],["v1","ImageTagDoesNotMatchDigest"]]'
    run "${ECR[@]}" batch-get-image --repository-name e2e/img --image-ids imageTag=v1 imageTag=multi \
        --accepted-media-types "$OCI_INDEX_MT"
    expect_out_jq '[[.images[].imageId.imageTag], [.failures[] | [.imageId.imageTag, .failureCode]]]' \
        '[["multi"],[["v1","ImageNotFound"]]]'
}
run_case "batch-get-image: manifests byte for byte with their media types; failures[] ImageNotFound, InvalidImageDigest, ImageTagDoesNotMatchDigest; acceptedMediaTypes leaves out the others" t_batch_get_image

t_batch_delete_image() {
    local pw
    run "${ECR[@]}" create-repository --repository-name e2e/del
    push v1 e2e/del:a
    push v1 e2e/del:b
    push multi e2e/del:multi --all
    run "${ECR[@]}" put-image --repository-name e2e/del --image-tag only --image-manifest "$(variant 9)"
    run "${ECR[@]}" batch-delete-image --repository-name e2e/del \
        --image-ids imageTag=a imageTag=only "imageDigest=$INDEX_DIGEST" imageTag=never imageDigest=bad
    expect_success
    expect_out_jq '[.imageIds[] | [.imageTag, .imageDigest]]' \
        "[[\"a\",\"$AMD64_MANIFEST_DIGEST\"],[\"only\",\"sha256:$(variant 9 | tr -d '\n' | sha256sum | cut -d' ' -f1)\"],[null,\"$INDEX_DIGEST\"]]"
    expect_out_jq '[.failures[] | [.imageId.imageTag, .failureCode]] | sort' '[[null,"InvalidImageDigest"],["never","ImageNotFound"]]'
    pw=$(password)
    req GET /v2/e2e/del/manifests/a -u "AWS:$pw" -H "Accept: $OCI_MT"
    expect_status 404
    req GET /v2/e2e/del/manifests/b -u "AWS:$pw" -H "Accept: $OCI_MT"
    expect_status 200 # another tag keeps the image
    req GET "/v2/e2e/del/manifests/$INDEX_DIGEST" -u "AWS:$pw" -H "Accept: $OCI_INDEX_MT"
    expect_status 404
    req GET /v2/e2e/del/manifests/multi -u "AWS:$pw" -H "Accept: $OCI_INDEX_MT"
    expect_status 404
    run "${ECR[@]}" list-images --repository-name e2e/del --filter tagStatus=TAGGED
    expect_out_jq '[.imageIds[].imageTag]' '["b"]'
    run "${ECR[@]}" describe-images --repository-name e2e/del --image-ids imageTag=only
    expect_exit 254
    expect_stderr_match ImageNotFoundException
}
run_case "batch-delete-image: a tag alone (another tag keeps the image), the last tag takes its image, a digest takes its tags; failures[] ImageNotFound and InvalidImageDigest; /v2/ and list-images agree" t_batch_delete_image

t_batch_check_layer_availability() {
    local missing
    missing="sha256:$(printf 'b%.0s' {1..64})"
    run "${ECR[@]}" batch-check-layer-availability --repository-name e2e/img \
        --layer-digests "$AMD64_LAYER_DIGEST" "$missing" sha256:zz "$ARTIFACT_LAYER_DIGEST"
    expect_success
    expect_out_jq '[.layers[] | [.layerDigest, .layerAvailability, .layerSize]]' \
        "[[\"$AMD64_LAYER_DIGEST\",\"AVAILABLE\",$AMD64_LAYER_SIZE],[\"$ARTIFACT_LAYER_DIGEST\",\"AVAILABLE\",$ARTIFACT_LAYER_SIZE]]"
    expect_out_jq '[.failures[] | [.layerDigest, .failureCode]]' "[[\"$missing\",\"MissingLayerDigest\"],[\"sha256:zz\",\"InvalidLayerDigest\"]]"
    # a layer of another repository is not available here
    run "${ECR[@]}" batch-check-layer-availability --repository-name e2e/pages --layer-digests "$ARTIFACT_LAYER_DIGEST"
    expect_out_jq '[.layers, [.failures[].failureCode]]' '[[],["MissingLayerDigest"]]'
}
run_case "batch-check-layer-availability: AVAILABLE with the stored size; MissingLayerDigest (also a layer only another repository has) and InvalidLayerDigest in failures[]" t_batch_check_layer_availability

# last_pull REPO TAG: the image's lastRecordedPullTime as epoch seconds ("null" when none)
last_pull() {
    "${ECR[@]}" describe-images --repository-name "$1" --image-ids "imageTag=$2" |
        jq -r '.imageDetails[0].lastRecordedPullTime // "null" | if . == "null" then . else sub("\\.[0-9]+"; "") | sub("\\+00:00$"; "Z") | fromdateiso8601 end'
}

t_last_recorded_pull_time() {
    local pw first second i now
    run "${ECR[@]}" create-repository --repository-name e2e/pulled
    push v1 e2e/pulled:v1
    push multi e2e/pulled:multi --all
    expect_eq "before any pull" null "$(last_pull e2e/pulled v1)"
    pw=$(password)
    req HEAD /v2/e2e/pulled/manifests/multi -u "AWS:$pw" -H "Accept: $OCI_INDEX_MT"
    req GET /v2/e2e/pulled/manifests/v1 -u "AWS:$pw" -H "Accept: $OCI_MT"
    expect_status 200
    # written after the pull's reply, by the writer: wait for it (5 s at most)
    for ((i = 0; i < 50; i++)); do
        first=$(last_pull e2e/pulled v1)
        [[ $first != null ]] && break
        sleep 0.1
    done
    now=$(date +%s)
    if [[ $first == null ]] || ((first > now || first <= now - 60)); then
        fail_diff "lastRecordedPullTime after a GET" "within a minute of $now" "$first"
    fi
    sleep 1.2
    req GET /v2/e2e/pulled/manifests/v1 -u "AWS:$pw" -H "Accept: $OCI_MT"
    run "${ECR[@]}" batch-get-image --repository-name e2e/pulled --image-ids imageTag=v1
    sleep 0.5
    second=$(last_pull e2e/pulled v1)
    expect_eq "lastRecordedPullTime after two more pulls the same day" "$first" "$second"
    expect_eq "a HEAD is not a pull" null "$(last_pull e2e/pulled multi)"
    run "${ECR[@]}" batch-get-image --repository-name e2e/pulled --image-ids imageTag=multi
    for ((i = 0; i < 50; i++)); do
        [[ $(last_pull e2e/pulled multi) != null ]] && break
        sleep 0.1
    done
    [[ $(last_pull e2e/pulled multi) != null ]] || fail "batch-get-image did not record a pull"
}
run_case "lastRecordedPullTime: absent before a pull; a manifest GET or batch-get-image records it (after the reply), a HEAD does not, and later pulls the same day leave it as it was" t_last_recorded_pull_time

# ================================================================ authorization

IAM=("${AWS[@]}" iam)
ACCOUNT=$(sed -n 's/.*created account \([0-9]*\).*/\1/p' "$REGISTRY_LOG" | head -1)
# shellcheck disable=SC2015
# make_user NAME POLICY: an IAM user with that policy attached and its key in $E2E_TMP/NAME.creds (as test_auth.sh)
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
make_user reader '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:Describe*","ecr:List*","ecr:BatchGetImage"],"Resource":"*"},{"Effect":"Deny","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/e2e/pages"}]}'

t_each_action_authorized() {
    local R=(env "AWS_SHARED_CREDENTIALS_FILE=$E2E_TMP/reader.creds" "${ECR[@]}")
    run "${R[@]}" describe-images --repository-name e2e/img --image-ids imageTag=v1
    expect_success
    run "${R[@]}" describe-repositories
    expect_success
    expect_out_jq '[.repositories[].repositoryName] | [index("e2e/img") != null, index("e2e/pages")]' '[true,null]'
    run "${R[@]}" describe-repositories --repository-names e2e/pages
    expect_exit 254
    expect_stderr_match "AccessDeniedException.*ecr:DescribeRepositories.*repository/e2e/pages.*explicit deny"
    local op
    for op in "create-repository --repository-name e2e/reader-made" "delete-repository --repository-name e2e/img --force" \
        "put-image-tag-mutability --repository-name e2e/img --image-tag-mutability IMMUTABLE" \
        "batch-delete-image --repository-name e2e/img --image-ids imageTag=v1" \
        "put-image --repository-name e2e/img --image-tag x --image-manifest {}" \
        "tag-resource --resource-arn arn:aws:ecr:us-east-1:$ACCOUNT:repository/e2e/img --tags Key=a,Value=b" \
        "batch-check-layer-availability --repository-name e2e/img --layer-digests $AMD64_LAYER_DIGEST"; do
        # shellcheck disable=SC2086
        run "${R[@]}" $op
        expect_exit 254
        expect_stderr_match "AccessDeniedException.*ecr:[A-Za-z]+ on resource: arn:aws:ecr:us-east-1:$ACCOUNT:repository/"
    done
    run "${R[@]}" list-images --repository-name e2e/pages
    expect_exit 254
    expect_stderr_match "AccessDeniedException.*ecr:ListImages"
    run "${ECR[@]}" describe-images --repository-name e2e/img --image-ids imageTag=v1
    expect_out_jq '.imageDetails[0].imageTags | sort' '["latest","v1"]'
}
run_case "each operation is its own ecr: action: a reader (Describe*, List*, BatchGetImage; Deny on e2e/pages) reads, sees only what it may describe, and gets AccessDeniedException naming the action for every change" t_each_action_authorized

# bad OP BODY TYPE MESSAGE-ERE: the raw body, signed as the CLI signs it, gets 400 TYPE with MESSAGE
bad() {
    run /usr/bin/python3 "$E2E_DIR/aws_signed.py" "$BASE" "$CREDS" ecr "$2" \
        "X-Amz-Target:AmazonEC2ContainerRegistry_V20150921.$1" "Content-Type:application/x-amz-json-1.1"
    expect_success
    expect_out_jq '[.status, .body.__type]' "[400,\"$3\"]"
    local msg
    msg=$(jq -r .body.message "$E2E_TMP/cmd.out")
    [[ $msg =~ $4 ]] || fail_diff "$1 $2: message" "/$4/" "$msg"
}

t_malformed() {
    local IPE=InvalidParameterException
    bad ListImages '{"repositoryName":"e2e/img","maxResults":-1}' "$IPE" maxResults
    bad ListImages '{"repositoryName":"e2e/img","maxResults":0}' "$IPE" maxResults
    bad ListImages '{"repositoryName":"e2e/img","filter":{"tagStatus":"SOME"}}' "$IPE" filter
    bad ListImages '{"repositoryName":"e2e/img","filter":"TAGGED"}' "$IPE" filter
    bad ListImages '{"repositoryName":"e2e/img","nextToken":"abc"}' "$IPE" nextToken
    bad ListImages '{"repositoryName":"E2E"}' "$IPE" repositoryName
    bad DescribeImages '{"repositoryName":"e2e/img","imageIds":[]}' "$IPE" imageIds
    bad DescribeImages '{"repositoryName":"e2e/img","imageIds":[{"imageTag":5}]}' "$IPE" imageIds
    bad DescribeImages '{"repositoryName":"e2e/img","imageIds":[{"imageTag":"v1"}],"maxResults":2}' "$IPE" maxResults
    bad DescribeImages '{"repositoryName":"e2e/img","imageIds":[{"imageDigest":"sha256:1"}]}' "$IPE" imageIds
    bad BatchGetImage '{"repositoryName":"e2e/img"}' "$IPE" imageIds
    bad BatchGetImage '{"repositoryName":"e2e/img","imageIds":[{"imageTag":"v1","x":1}]}' "$IPE" imageIds
    bad BatchGetImage '{"repositoryName":"e2e/img","imageIds":[{"imageTag":"v1"}],"acceptedMediaTypes":[]}' "$IPE" acceptedMediaTypes
    bad BatchDeleteImage '{"repositoryName":"e2e/img","imageIds":"v1"}' "$IPE" imageIds
    bad PutImage '{"repositoryName":"e2e/img"}' "$IPE" "imageManifest is required"
    bad PutImage '{"repositoryName":"e2e/img","imageManifest":"{}","imageTag":"-bad"}' "$IPE" imageTag
    bad PutImage '{"repositoryName":"e2e/img","imageManifest":"{}","imageDigest":"md5:x"}' "$IPE" imageDigest
    bad PutImage '{"repositoryName":"e2e/img","imageManifest":7}' "$IPE" imageManifest
    bad PutImage '{"repositoryName":"e2e/img","imageManifest":"{}","extra":true}' "$IPE" extra
    bad BatchCheckLayerAvailability '{"repositoryName":"e2e/img","layerDigests":[]}' "$IPE" layerDigests
    bad BatchCheckLayerAvailability '{"repositoryName":"e2e/img","layerDigests":[1]}' "$IPE" layerDigests
    run_stdin /usr/bin/python3 - "$BASE" <<'EOF'
import sys, boto3, botocore.config, botocore.exceptions
ecr = boto3.client("ecr", endpoint_url=sys.argv[1], region_name="us-east-1",
                   config=botocore.config.Config(parameter_validation=False))
for call in (lambda: ecr.list_images(repositoryName="e2e/img", maxResults=-5),
             lambda: ecr.describe_images(repositoryName="e2e/img", maxResults=-5)):
    try:
        call()
        raise SystemExit("accepted")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidParameterException" and "maxResults" in e.response["Error"]["Message"], e.response
EOF
    expect_success
}
run_case "malformed input → 400 InvalidParameterException naming the field (maxResults -1 and 0, filters, tokens, imageIds, acceptedMediaTypes, tags, digests, unknown fields)" t_malformed

finish
