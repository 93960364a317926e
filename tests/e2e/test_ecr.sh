#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# The ECR control API for repositories (issue 16), with the real AWS CLI
# (aws ecr --endpoint-url) and boto3: create-repository with its settings,
# describe-repositories and its pages, delete-repository (force: tags,
# manifests, links, referrers and the repository policy in one commit),
# tag mutability and scanning settings, resource tags, describe-registry,
# tag immutability through skopeo, podman and a plain manifest PUT, and
# malformed input named by field.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd tests/e2e/test_ecr.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/aws /usr/bin/python3 /usr/bin/skopeo curl jq
is_berth || skip_all "the ECR control API is Berth's"
/usr/bin/python3 -c 'import boto3' 2>/dev/null || skip_all "python3-boto3 is not installed"

start_authenticated_registry
ECR=("${AWS[@]}" ecr)
ACCOUNT=$(sed -n 's/.*created account \([0-9]*\).*/\1/p' "$REGISTRY_LOG" | head -1)
ARN=arn:aws:ecr:us-east-1:$ACCOUNT

# The CLI prints timestamps as ISO 8601 ("2026-12-07T04:09:31+00:00", maybe with a fraction): as epoch seconds
EPOCH='sub("\\.[0-9]+"; "") | sub("\\+00:00$"; "Z") | fromdateiso8601'

password() {
    "${ECR[@]}" get-login-password 2>"$E2E_TMP/pw.err"
}

# podman with a private store (as test_podman.sh), holding the layout's v1 as localhost/e2e/source:v1
PODMAN=()
if command -v podman >/dev/null && [[ $(id -u) == 0 ]]; then
    mkdir -p "$E2E_TMP/podman/tmp"
    PODMAN=(podman --root "$E2E_TMP/podman/root" --runroot "$E2E_TMP/podman/run" --storage-driver vfs
        --tmpdir "$E2E_TMP/podman/tmp" --events-backend file --cgroup-manager cgroupfs)
    if "${PODMAN[@]}" load -i "$OCI_ARCHIVE" >/dev/null 2>&1; then
        "${PODMAN[@]}" tag "${AMD64_CONFIG_DIGEST#sha256:}" localhost/e2e/source:v1
    else
        PODMAN=()
    fi
fi

# push REF NAME:TAG [skopeo flags]: skopeo copies oci:$OCI_LAYOUT:REF there with the admin's password
push() {
    local pw
    pw=$(password) || { fail "get-login-password failed"; return 1; }
    run "${SKOPEO[@]}" copy "${@:3}" --dest-tls-verify=false --dest-creds "AWS:$pw" "oci:$OCI_LAYOUT:$1" "docker://$REGISTRY/$2"
}

# ================================================================ repositories

t_create_describe() {
    run "${ECR[@]}" create-repository --repository-name e2e/created --image-tag-mutability IMMUTABLE \
        --image-scanning-configuration scanOnPush=true --tags Key=team,Value=a Key=env,Value=prod
    expect_success
    expect_out_jq '.repository | [.repositoryArn, .registryId, .repositoryName, .repositoryUri, .imageTagMutability, .imageScanningConfiguration.scanOnPush, .encryptionConfiguration.encryptionType]' \
        "[\"$ARN:repository/e2e/created\",\"$ACCOUNT\",\"e2e/created\",\"$REGISTRY/e2e/created\",\"IMMUTABLE\",true,\"AES256\"]"
    local now created
    now=$(date +%s)
    created=$(jq -r "$EPOCH" <<<"$(jq .repository.createdAt "$E2E_TMP/cmd.out")")
    ((created <= now && created > now - 60)) || fail_diff "createdAt" "within a minute of $now" "$created"
    run "${ECR[@]}" describe-repositories --repository-names e2e/created
    expect_success
    expect_out_jq '.repositories | map([.repositoryName, .imageTagMutability, .imageScanningConfiguration.scanOnPush, (.createdAt | '"$EPOCH"')])' \
        "[[\"e2e/created\",\"IMMUTABLE\",true,$created]]"
    run "${ECR[@]}" create-repository --repository-name e2e/created
    expect_exit 254
    expect_stderr_match "RepositoryAlreadyExistsException.*e2e/created"
    run "${ECR[@]}" create-repository --repository-name e2e/kms --encryption-configuration encryptionType=KMS,kmsKey=alias/x
    expect_success
    expect_out_jq .repository.encryptionConfiguration '{"encryptionType":"KMS","kmsKey":"alias/x"}'
    run "${ECR[@]}" describe-repositories --repository-names e2e/created e2e/none
    expect_exit 254
    expect_stderr_match "RepositoryNotFoundException.*e2e/none"
    # the repository is in the catalog, empty
    local pw
    pw=$(password)
    req GET /v2/e2e/created/tags/list -u "AWS:$pw"
    expect_status 200
    expect_jq .tags '[]'
}
run_case "create-repository stores mutability, scanning, encryption and tags (ARN, registryId, repositoryUri = host/name, createdAt); a second create → RepositoryAlreadyExistsException; describe names a missing one" t_create_describe

t_describe_pages() {
    local i
    for i in 1 2 3 4 5; do
        run "${ECR[@]}" create-repository --repository-name "e2e/page-$i"
        expect_success
    done
    # one page of 2 answers a token; the CLI follows the tokens to the end with pages of 2
    run "${ECR[@]}" describe-repositories --no-paginate --max-results 2
    expect_success
    expect_out_jq '[(.repositories | length), (.nextToken != null)]' '[2,true]'
    run "${ECR[@]}" describe-repositories --page-size 2
    expect_success
    expect_out_jq '[.repositories[].repositoryName | select(startswith("e2e/page-"))]' \
        '["e2e/page-1","e2e/page-2","e2e/page-3","e2e/page-4","e2e/page-5"]'
    run_stdin /usr/bin/python3 - "$BASE" <<'EOF'
import sys, boto3
ecr = boto3.client("ecr", endpoint_url=sys.argv[1], region_name="us-east-1")
pages = list(ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 3}))
names = [r["repositoryName"] for p in pages for r in p["repositories"]]
assert len(pages) >= 3, len(pages)
assert len(names) == len(set(names)), names
assert [n for n in names if n.startswith("e2e/page-")] == ["e2e/page-%d" % i for i in range(1, 6)], names
print(len(names))
EOF
    expect_success
}
run_case "describe-repositories pages: maxResults 2 gives a nextToken; the CLI and boto3's paginator (pages of 2 and 3) list every repository once, in order" t_describe_pages

t_delete() {
    local pw
    push v1 e2e/doomed:v1
    expect_success
    push artifact e2e/doomed:sig
    run "${ECR[@]}" set-repository-policy --repository-name e2e/doomed \
        --policy-text '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}'
    expect_success
    run "${ECR[@]}" delete-repository --repository-name e2e/doomed
    expect_exit 254
    expect_stderr_match "RepositoryNotEmptyException.*e2e/doomed"
    pw=$(password)
    req GET /v2/e2e/doomed/manifests/v1 -u "AWS:$pw"
    expect_status 200
    run "${ECR[@]}" delete-repository --repository-name e2e/doomed --force
    expect_success
    expect_out_jq '.repository | [.repositoryName, .repositoryUri]' "[\"e2e/doomed\",\"$REGISTRY/e2e/doomed\"]"
    req GET /v2/e2e/doomed/manifests/v1 -u "AWS:$pw"
    expect_status 404
    req GET "/v2/e2e/doomed/manifests/$AMD64_MANIFEST_DIGEST" -u "AWS:$pw"
    expect_status 404
    req GET "/v2/e2e/doomed/blobs/$AMD64_LAYER_DIGEST" -u "AWS:$pw"
    expect_status 404
    req GET "/v2/e2e/doomed/referrers/$AMD64_MANIFEST_DIGEST" -u "AWS:$pw"
    expect_jq '.manifests | length' 0
    req GET /v2/_catalog -u "AWS:$pw"
    expect_jq '.repositories | index("e2e/doomed")' null
    run "${ECR[@]}" describe-repositories --repository-names e2e/doomed
    expect_exit 254
    expect_stderr_match RepositoryNotFoundException
    run "${ECR[@]}" delete-repository --repository-name e2e/doomed --force
    expect_exit 254
    expect_stderr_match RepositoryNotFoundException
    # the policy went with it: a repository of the same name starts without one
    run "${ECR[@]}" create-repository --repository-name e2e/doomed
    expect_success
    run "${ECR[@]}" get-repository-policy --repository-name e2e/doomed
    expect_exit 254
    expect_stderr_match RepositoryPolicyNotFoundException
    run "${ECR[@]}" delete-repository --repository-name e2e/doomed
    expect_success
}
run_case "delete-repository: RepositoryNotEmptyException while it holds images; --force removes tags, manifests, links, referrers and its policy (then /v2/ 404s, the catalog and describe forget it)" t_delete

t_settings() {
    run "${ECR[@]}" create-repository --repository-name e2e/settings
    run "${ECR[@]}" put-image-tag-mutability --repository-name e2e/settings --image-tag-mutability IMMUTABLE
    expect_success
    expect_out_jq . "{\"registryId\":\"$ACCOUNT\",\"repositoryName\":\"e2e/settings\",\"imageTagMutability\":\"IMMUTABLE\"}"
    run "${ECR[@]}" put-image-scanning-configuration --repository-name e2e/settings --image-scanning-configuration scanOnPush=true
    expect_success
    expect_out_jq .imageScanningConfiguration '{"scanOnPush":true}'
    run "${ECR[@]}" describe-repositories --repository-names e2e/settings
    expect_out_jq '.repositories[0] | [.imageTagMutability, .imageScanningConfiguration.scanOnPush]' '["IMMUTABLE",true]'
    run "${ECR[@]}" put-image-tag-mutability --repository-name e2e/nope --image-tag-mutability MUTABLE
    expect_exit 254
    expect_stderr_match RepositoryNotFoundException
    push v1 e2e/settings:v1
    expect_success
    run "${ECR[@]}" describe-image-scan-findings --repository-name e2e/settings --image-id imageTag=v1
    expect_exit 254
    expect_stderr_match "ScanNotFoundException.*$AMD64_MANIFEST_DIGEST"
    run "${ECR[@]}" describe-image-scan-findings --repository-name e2e/settings --image-id imageTag=v9
    expect_exit 254
    expect_stderr_match ImageNotFoundException
}
run_case "put-image-tag-mutability and put-image-scanning-configuration are stored and described; describe-image-scan-findings → ScanNotFoundException (no scanner), ImageNotFoundException for an unknown tag" t_settings

t_resource_tags() {
    run "${ECR[@]}" create-repository --repository-name e2e/tagged --tags Key=a,Value=1
    run "${ECR[@]}" tag-resource --resource-arn "$ARN:repository/e2e/tagged" --tags Key=b,Value=2 Key=a,Value=3
    expect_success
    run "${ECR[@]}" list-tags-for-resource --resource-arn "$ARN:repository/e2e/tagged"
    expect_success
    expect_out_jq '.tags | sort_by(.Key)' '[{"Key":"a","Value":"3"},{"Key":"b","Value":"2"}]'
    run "${ECR[@]}" untag-resource --resource-arn "$ARN:repository/e2e/tagged" --tag-keys a zzz
    expect_success
    run "${ECR[@]}" list-tags-for-resource --resource-arn "$ARN:repository/e2e/tagged"
    expect_out_jq .tags '[{"Key":"b","Value":"2"}]'
    run "${ECR[@]}" list-tags-for-resource --resource-arn "$ARN:repository/e2e/untagged-none"
    expect_exit 254
    expect_stderr_match RepositoryNotFoundException
    run "${ECR[@]}" list-tags-for-resource --resource-arn "arn:aws:ecr:us-east-1:000000000000:repository/e2e/tagged"
    expect_exit 254
    expect_stderr_match "InvalidParameterException.*resourceArn"
    run_stdin /usr/bin/python3 - "$BASE" "$ARN:repository/e2e/tagged" <<'EOF'
import sys, boto3, botocore
ecr = boto3.client("ecr", endpoint_url=sys.argv[1], region_name="us-east-1")
try:
    ecr.tag_resource(resourceArn=sys.argv[2], tags=[{"Key": "k%d" % i, "Value": "v"} for i in range(50)])
    raise SystemExit("51 tags were accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "TooManyTagsException", e.response
assert ecr.list_tags_for_resource(resourceArn=sys.argv[2])["tags"] == [{"Key": "b", "Value": "2"}]
EOF
    expect_success
    run "${ECR[@]}" describe-registry
    expect_success
    expect_out_jq . "{\"registryId\":\"$ACCOUNT\",\"replicationConfiguration\":{\"rules\":[]}}"
}
run_case "tag-resource (replacing a key), untag-resource, list-tags-for-resource; more than 50 tags → TooManyTagsException and nothing changes; describe-registry" t_resource_tags

# ================================================================ tag immutability

t_immutable_tags() {
    local pw
    run "${ECR[@]}" create-repository --repository-name e2e/frozen --image-tag-mutability IMMUTABLE
    expect_success
    push v1 e2e/frozen:v1
    expect_success
    push v1 e2e/frozen:v1
    expect_success # the same digest again is not a move
    push multi e2e/frozen:v1 --all
    expect_exit 1
    expect_stderr_match "tag.*(invalid|TAG_INVALID).*v1.*e2e/frozen.*immutable"
    pw=$(password)
    if ((${#PODMAN[@]})); then
        # podman pushes v1 where the index is: a move
        push multi e2e/frozen:pm --all
        expect_success
        run "${PODMAN[@]}" tag localhost/e2e/source:v1 "$REGISTRY/e2e/frozen:pm"
        run "${PODMAN[@]}" push --tls-verify=false --creds "AWS:$pw" "$REGISTRY/e2e/frozen:pm"
        expect_exit 125
        expect_stderr_match "pm.*e2e/frozen.*immutable"
        # and the image v1 already is (the same digest): not a move
        run "${PODMAN[@]}" tag localhost/e2e/source:v1 "$REGISTRY/e2e/frozen:v1"
        run "${PODMAN[@]}" push --tls-verify=false --creds "AWS:$pw" "$REGISTRY/e2e/frozen:v1"
        expect_success
    else
        note "podman needs root here: its part of the case is skipped"
    fi
    # a manifest PUT by curl: 400 TAG_INVALID naming tag and repository
    req PUT "/v2/e2e/frozen/manifests/v1" -u "AWS:$pw" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
        --data-binary "@$ARM64_MANIFEST_FILE"
    expect_status 400
    expect_jq '.errors[0] | [.code, (.message | test("v1.*e2e/frozen.*immutable"))]' '["TAG_INVALID",true]'
    req GET /v2/e2e/frozen/manifests/v1 -u "AWS:$pw" -H "Accept: application/vnd.oci.image.manifest.v1+json"
    expect_status 200
    expect_header docker-content-digest "$AMD64_MANIFEST_DIGEST"
    # new tags and digests still go in; a mutable repository moves the tag
    push multi e2e/frozen:v2 --all
    expect_success
    run "${ECR[@]}" put-image-tag-mutability --repository-name e2e/frozen --image-tag-mutability MUTABLE
    push multi e2e/frozen:v1 --all
    expect_success
    req GET /v2/e2e/frozen/manifests/v1 -u "AWS:$pw" -H "Accept: application/vnd.oci.image.index.v1+json"
    expect_header docker-content-digest "$INDEX_DIGEST"
}
run_case "IMMUTABLE: pushing the same digest again succeeds; moving the tag fails in skopeo, podman and curl with 400 TAG_INVALID naming tag and repository; a new tag works; MUTABLE moves it" t_immutable_tags

t_immutable_race() {
    local pw i
    run "${ECR[@]}" create-repository --repository-name e2e/race --image-tag-mutability IMMUTABLE
    pw=$(password)
    push v1 e2e/race:base
    push multi e2e/race:base2 --all
    # 8 rounds: two PUTs of different manifests to one new tag at once; exactly one wins
    for i in 1 2 3 4 5 6 7 8; do
        curl -s -o /dev/null -w '%{http_code}\n' -u "AWS:$pw" -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
            --data-binary "@$AMD64_MANIFEST_FILE" "$BASE/v2/e2e/race/manifests/t$i" >"$E2E_TMP/race.$i.a" &
        curl -s -o /dev/null -w '%{http_code}\n' -u "AWS:$pw" -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
            --data-binary "@$ARM64_MANIFEST_FILE" "$BASE/v2/e2e/race/manifests/t$i" >"$E2E_TMP/race.$i.b" &
        wait
        expect_eq "round $i: statuses" "201 400" "$(sort "$E2E_TMP/race.$i.a" "$E2E_TMP/race.$i.b" | tr '\n' ' ' | sed 's/ $//')"
    done
}
run_case "IMMUTABLE under a race: of two concurrent pushes of different manifests to one tag, exactly one gets 201 (8 rounds)" t_immutable_race

t_no_create_on_push_default() {
    push v1 e2e/pushed-new:v1
    expect_success
    run "${ECR[@]}" describe-repositories --repository-names e2e/pushed-new
    expect_success
    expect_out_jq '.repositories[0] | [.repositoryName, .imageTagMutability]' '["e2e/pushed-new","MUTABLE"]'
}
run_case "a first push still creates the repository (with ECR's defaults), and describe-repositories shows it" t_no_create_on_push_default

t_no_create_on_push() {
    local pw
    push v1 e2e/never-made:v1
    expect_exit 1
    expect_stderr_match "name unknown.*e2e/never-made.*does not exist"
    pw=$(password)
    req POST /v2/e2e/never-made/blobs/uploads/ -u "AWS:$pw"
    expect_status 404
    expect_json_error NAME_UNKNOWN
    run "${ECR[@]}" describe-repositories --repository-names e2e/never-made
    expect_exit 254
    expect_stderr_match RepositoryNotFoundException
    run "${ECR[@]}" create-repository --repository-name e2e/made-first
    expect_success
    push v1 e2e/made-first:v1
    expect_success
}
restart_registry --no-create-on-push
run_case "berthd --no-create-on-push: a push to an unknown repository fails (404 NAME_UNKNOWN naming it, nothing created); after create-repository it succeeds" t_no_create_on_push

t_berth_cli() {
    [[ -n ${BERTH_CLI:-} && -x ${BERTH_CLI:-} ]] || skip_case "BERTH_CLI (the berth binary) is not set"
    local B=("$BERTH_CLI" ecr)
    export BERTH_ENDPOINT_URL=$BASE
    run "${B[@]}" create-repository --repository-name e2e/by-cli --image-tag-mutability IMMUTABLE
    expect_success
    expect_out_jq '.repository | [.repositoryName, .imageTagMutability]' '["e2e/by-cli","IMMUTABLE"]'
    run "${B[@]}" create-repository --repository-name e2e/by-cli
    expect_exit 1
    expect_stderr_match RepositoryAlreadyExistsException
    run "${B[@]}" put-image-tag-mutability --repository-name e2e/by-cli --image-tag-mutability MUTABLE
    expect_success
    push v1 e2e/by-cli:v1
    run "${B[@]}" list-images --repository-name e2e/by-cli
    expect_out_jq .imageIds "[{\"imageDigest\":\"$AMD64_MANIFEST_DIGEST\",\"imageTag\":\"v1\"}]"
    run "${B[@]}" describe-images --repository-name e2e/by-cli
    expect_out_jq '.imageDetails[0] | [.imageTags, .imageSizeInBytes]' "[[\"v1\"],$AMD64_LAYER_SIZE]"
    run "${B[@]}" describe-repositories
    expect_out_jq '[.repositories[].repositoryName] | index("e2e/by-cli") != null' true
    run "${B[@]}" delete-repository --repository-name e2e/by-cli
    expect_exit 1
    expect_stderr_match RepositoryNotEmptyException
    run "${B[@]}" delete-repository --repository-name e2e/by-cli --force
    expect_success
    run "${B[@]}" describe-registry
    expect_success
    expect_out_jq .registryId "\"$ACCOUNT\""
}
run_case "berth ecr create-repository, put-image-tag-mutability, list-images, describe-images, describe-repositories, delete-repository (--force), describe-registry" t_berth_cli

# ================================================================ malformed input

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
    bad CreateRepository '{"repositoryName":"Upper/Case"}' "$IPE" "repositoryName"
    bad CreateRepository '{"repositoryName":"a//b"}' "$IPE" "repositoryName"
    bad CreateRepository '{"repositoryName":"x"}' "$IPE" "repositoryName"
    bad CreateRepository '{"repositoryName":5}' "$IPE" "repositoryName"
    bad CreateRepository '{}' "$IPE" "repositoryName is required"
    bad CreateRepository '{"repositoryName":"e2e/bad","imageTagMutability":"SOMETIMES"}' "$IPE" "imageTagMutability"
    bad CreateRepository '{"repositoryName":"e2e/bad","imageScanningConfiguration":{"scanOnPush":"yes"}}' "$IPE" "imageScanningConfiguration"
    bad CreateRepository '{"repositoryName":"e2e/bad","encryptionConfiguration":{"encryptionType":"ROT13"}}' "$IPE" "encryptionConfiguration"
    bad CreateRepository '{"repositoryName":"e2e/bad","tags":{"a":"b"}}' "$IPE" "tags"
    bad CreateRepository '{"repositoryName":"e2e/bad","tags":[{"Key":"","Value":"b"}]}' "$IPE" "tags"
    bad CreateRepository '{"repositoryName":"e2e/bad","surprise":1}' "$IPE" "surprise"
    bad CreateRepository '{"repositoryName":"e2e/bad","registryId":"000000000000"}' "$IPE" "registryId"
    bad DescribeRepositories '{"maxResults":-1}' "$IPE" "maxResults"
    bad DescribeRepositories '{"maxResults":1001}' "$IPE" "maxResults"
    bad DescribeRepositories '{"maxResults":"2"}' "$IPE" "maxResults"
    bad DescribeRepositories '{"nextToken":"!!"}' "$IPE" "nextToken"
    bad DescribeRepositories '{"repositoryNames":[]}' "$IPE" "repositoryNames"
    bad DescribeRepositories '{"repositoryNames":["ok-name",7]}' "$IPE" "repositoryNames"
    bad DescribeRepositories '{"repositoryNames":["e2e/created"],"maxResults":5}' "$IPE" "maxResults"
    bad DeleteRepository '{"repositoryName":"e2e/created","force":"yes"}' "$IPE" "force"
    bad PutImageTagMutability '{"repositoryName":"e2e/created"}' "$IPE" "imageTagMutability"
    bad PutImageScanningConfiguration '{"repositoryName":"e2e/created","imageScanningConfiguration":[]}' "$IPE" "imageScanningConfiguration"
    bad TagResource "{\"resourceArn\":\"$ARN:repository/e2e/created\",\"tags\":[{\"Key\":\"k\",\"Value\":7}]}" "$IPE" "tags"
    bad UntagResource "{\"resourceArn\":\"$ARN:repository/e2e/created\",\"tagKeys\":\"k\"}" "$IPE" "tagKeys"
    bad ListTagsForResource '{"resourceArn":"arn:aws:ecr:us-east-1:1:cluster/x"}' "$IPE" "resourceArn"
    bad DescribeImageScanFindings '{"repositoryName":"e2e/created","imageId":{"imageDigest":"sha256:zz"}}' "$IPE" "imageId"
    bad DescribeRegistry '{"x":1}' "$IPE" "x"
    bad NoSuchOperation '{}' UnknownOperationException "."
    # boto3 without its own validation sends a negative maxResults as it is
    run_stdin /usr/bin/python3 - "$BASE" <<'EOF'
import sys, boto3, botocore.config, botocore.exceptions
ecr = boto3.client("ecr", endpoint_url=sys.argv[1], region_name="us-east-1",
                   config=botocore.config.Config(parameter_validation=False))
try:
    ecr.describe_repositories(maxResults=-1)
    raise SystemExit("accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidParameterException" and "maxResults" in e.response["Error"]["Message"], e.response
EOF
    expect_success
}
run_case "malformed input → 400 InvalidParameterException naming the field (names, enums, types, unknown fields, maxResults -1/1001/\"2\", tokens, ARNs); an unknown operation → UnknownOperationException" t_malformed

# ================================================================ the attack pass's regressions

t_attack() {
    run /usr/bin/python3 "$E2E_DIR/ecr_attack.py" "$BASE" "$CREDS"
    expect_success
    expect_eq "ecr_attack.py's last line" ok "$(tail -n 1 "$E2E_TMP/cmd.out")"
}
run_case "attack regressions (ecr_attack.py, one boto3 process): 256-character names, repository policy shapes, ImageReferencedByManifestList, BatchGetImage's reply bound, manifests parsed once for DescribeImages and GetDownloadUrlForLayer, lifecycle previews off the event loops" t_attack

finish
