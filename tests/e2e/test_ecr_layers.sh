#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# ECR's layer API (issue 16), mostly from one boto3 process: the API push path
# (InitiateLayerUpload, UploadLayerPart in order and out of order,
# CompleteLayerUpload with a wrong and the right digest, PutImage) ending in
# an image skopeo pulls with every digest verified; GetDownloadUrlForLayer's
# signed URL fetched by curl without credentials (200, Range 206), refused
# (403 DENIED) when tampered, moved to another blob or repository, and once
# expired (berthd restarted with the test-only --clock-offset).
#
#   E2E_TARGET=berth BERTHD=build/server/berthd tests/e2e/test_ecr_layers.sh
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/aws /usr/bin/python3 /usr/bin/skopeo curl jq
is_berth || skip_all "the ECR control API is Berth's"
/usr/bin/python3 -c 'import boto3' 2>/dev/null || skip_all "python3-boto3 is not installed"

export E2E_BERTH_AUTH=1
start_registry
client_env
ECR=("${AWS[@]}" ecr)
PUSHED=$E2E_TMP/pushed.json

t_api_push() {
    run "${ECR[@]}" create-repository --repository-name e2e/layers
    expect_success
    run "${ECR[@]}" create-repository --repository-name e2e/elsewhere
    expect_success
    # `run` reads stdin from /dev/null: the script goes through a file
    cat >"$E2E_TMP/push.py" <<'EOF'
import base64, hashlib, io, json, os, sys, tarfile
import boto3, botocore.config, botocore.exceptions

base, out = sys.argv[1], sys.argv[2]
ecr = boto3.client("ecr", endpoint_url=base, region_name="us-east-1")
raw = boto3.client("ecr", endpoint_url=base, region_name="us-east-1",
                   config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1}))
R = "e2e/layers"

def refused(code, fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, (code, got, e.response["Error"]["Message"])
        return e.response
    raise AssertionError("%s: expected %s, it succeeded" % (fn.__name__, code))

def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()

# a real uncompressed layer: one 20 MiB + 300 KiB file of random bytes, so that
# the first part is the largest one taken (20 MiB) and the blob lands in a file
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
    data = os.urandom((20 << 20) + (300 << 10) - 4096)
    info = tarfile.TarInfo("random.bin")
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))
layer = buf.getvalue()
assert len(layer) > (20 << 20), len(layer)
ld = sha(layer)
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": [ld]}}).encode()
cd = sha(config)

# initiate: an id and ECR's part size
up = ecr.initiate_layer_upload(repositoryName=R)
uid = up["uploadId"]
assert up["partSize"] == 10 << 20, up
p1, p2 = layer[:20 << 20], layer[20 << 20:]
r = ecr.upload_layer_part(repositoryName=R, uploadId=uid, partFirstByte=0, partLastByte=len(p1) - 1, layerPartBlob=p1)
assert r["lastByteReceived"] == len(p1) - 1 and r["uploadId"] == uid, r
# out of order: a gap, the first part again, a length that disagrees with the bytes
for first in (len(p1) + 5, 0):
    e = refused("InvalidLayerPartException", ecr.upload_layer_part, repositoryName=R, uploadId=uid,
                partFirstByte=first, partLastByte=first + len(p2) - 1, layerPartBlob=p2)
    assert "partFirstByte %d" % len(p1) in e["Error"]["Message"], e["Error"]["Message"]
refused("InvalidLayerPartException", ecr.upload_layer_part, repositoryName=R, uploadId=uid,
        partFirstByte=len(p1), partLastByte=len(p1) + len(p2), layerPartBlob=p2)
# the upload belongs to its repository; an unknown id is unknown
refused("UploadNotFoundException", ecr.upload_layer_part, repositoryName="e2e/elsewhere", uploadId=uid,
        partFirstByte=len(p1), partLastByte=len(layer) - 1, layerPartBlob=p2)
refused("UploadNotFoundException", ecr.upload_layer_part, repositoryName=R, uploadId="0" * 32,
        partFirstByte=0, partLastByte=0, layerPartBlob=b"x")
r = ecr.upload_layer_part(repositoryName=R, uploadId=uid, partFirstByte=len(p1), partLastByte=len(layer) - 1, layerPartBlob=p2)
assert r["lastByteReceived"] == len(layer) - 1, r
# not yet an image's layer: no download URL
refused("LayersNotFoundException", ecr.get_download_url_for_layer, repositoryName=R, layerDigest=ld)
r = ecr.complete_layer_upload(repositoryName=R, uploadId=uid, layerDigests=[ld])
assert r["layerDigest"] == ld and r["uploadId"] == uid, r
refused("UploadNotFoundException", ecr.complete_layer_upload, repositoryName=R, uploadId=uid, layerDigests=[ld])
refused("LayerInaccessibleException", ecr.get_download_url_for_layer, repositoryName=R, layerDigest=ld)

# the config in one part; a wrong digest ends its upload
up = ecr.initiate_layer_upload(repositoryName=R)["uploadId"]
ecr.upload_layer_part(repositoryName=R, uploadId=up, partFirstByte=0, partLastByte=len(config) - 1, layerPartBlob=config)
refused("InvalidLayerException", ecr.complete_layer_upload, repositoryName=R, uploadId=up, layerDigests=[sha(b"other")])
refused("UploadNotFoundException", ecr.complete_layer_upload, repositoryName=R, uploadId=up, layerDigests=[cd])
up = ecr.initiate_layer_upload(repositoryName=R)["uploadId"]
refused("EmptyUploadException", ecr.complete_layer_upload, repositoryName=R, uploadId=up, layerDigests=[cd])
ecr.upload_layer_part(repositoryName=R, uploadId=up, partFirstByte=0, partLastByte=len(config) - 1, layerPartBlob=config)
assert ecr.complete_layer_upload(repositoryName=R, uploadId=up, layerDigests=[cd])["layerDigest"] == cd
# the same bytes again: LayerAlreadyExistsException
up = ecr.initiate_layer_upload(repositoryName=R)["uploadId"]
ecr.upload_layer_part(repositoryName=R, uploadId=up, partFirstByte=0, partLastByte=len(config) - 1, layerPartBlob=config)
refused("LayerAlreadyExistsException", ecr.complete_layer_upload, repositoryName=R, uploadId=up, layerDigests=[cd])

# a part over 20 MiB: its body is past the cap, refused before it is parsed
e = refused("SerializationException", raw.upload_layer_part, repositoryName=R, uploadId=up, partFirstByte=0,
            partLastByte=(21 << 20) - 1, layerPartBlob=b"\0" * (21 << 20))
assert e["ResponseMetadata"]["HTTPStatusCode"] == 413 and "20 MiB" in e["Error"]["Message"], e["Error"]
# malformed members are named
for kw, field in ((dict(partFirstByte=-1, partLastByte=0, layerPartBlob=b"x"), "partFirstByte"),
                  (dict(partFirstByte=0, partLastByte="0", layerPartBlob=b"x"), "partLastByte")):
    e = refused("InvalidParameterException", raw.upload_layer_part, repositoryName=R, uploadId=up, **kw)
    assert field in e["Error"]["Message"], e["Error"]
e = refused("InvalidParameterException", raw.complete_layer_upload, repositoryName=R, uploadId=up, layerDigests=["sha256:xyz"])
assert "layerDigests" in e["Error"]["Message"], e["Error"]
refused("RepositoryNotFoundException", ecr.initiate_layer_upload, repositoryName="e2e/none")
refused("RepositoryNotFoundException", ecr.get_download_url_for_layer, repositoryName="e2e/none", layerDigest=ld)

# the manifest makes it an image
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}]})
img = ecr.put_image(repositoryName=R, imageTag="api", imageManifest=manifest)["image"]
url = ecr.get_download_url_for_layer(repositoryName=R, layerDigest=ld)
assert url["layerDigest"] == ld and url["downloadUrl"].startswith(base + "/v2/e2e/layers/blobs/" + ld + "?"), url
curl = ecr.get_download_url_for_layer(repositoryName=R, layerDigest=cd)["downloadUrl"]
json.dump({"layer": ld, "layer_size": len(layer), "config": cd, "manifest": img["imageId"]["imageDigest"],
           "layer_url": url["downloadUrl"], "config_url": curl}, open(out, "w"))
print("pushed")
EOF
    run /usr/bin/python3 "$E2E_TMP/push.py" "$BASE" "$PUSHED"
    expect_success
    [[ $(cmd_out) == pushed ]] || fail "the boto3 script did not run to its end: $(cmd_out)"
}
run_case "the API push path: initiate (partSize 10 MiB), a 20 MiB and a 300 KiB part, parts out of order or miscounted → InvalidLayerPartException, complete (wrong digest → InvalidLayerException, no parts → EmptyUploadException, again → LayerAlreadyExistsException), a 21 MiB part → 413, malformed members named, put-image; download URLs only for an image's layers" t_api_push

t_pull_api_pushed() {
    [[ -s $PUSHED ]] || { fail "the push case did not finish"; return 0; }
    local pw f want
    pw=$("${ECR[@]}" get-login-password)
    run "${SKOPEO[@]}" copy --src-tls-verify=false --src-creds "AWS:$pw" "docker://$REGISTRY/e2e/layers:api" "dir:$E2E_TMP/pulled"
    expect_success
    for f in layer config; do
        want=$(jq -r ".$f" "$PUSHED")
        [[ -f $E2E_TMP/pulled/${want#sha256:} ]] || { fail "skopeo wrote no $f blob ${want}"; continue; }
        [[ sha256:$(sha256sum <"$E2E_TMP/pulled/${want#sha256:}" | cut -d' ' -f1) == "$want" ]] || fail "$f's bytes do not hash to $want"
    done
    [[ sha256:$(sha256sum <"$E2E_TMP/pulled/manifest.json" | cut -d' ' -f1) == "$(jq -r .manifest "$PUSHED")" ]] ||
        fail "the pulled manifest is not the one put"
}
run_case "skopeo pulls the image pushed through the API, every digest verified" t_pull_api_pushed

t_download_url() {
    [[ -s $PUSHED ]] || { fail "the push case did not finish"; return 0; }
    local url curl_url q
    url=$(jq -r .layer_url "$PUSHED")
    curl_url=$(jq -r .config_url "$PUSHED")
    req GET "$url"
    expect_status 200
    [[ sha256:$(sha256sum <"$E2E_TMP/resp.body" | cut -d' ' -f1) == "$(jq -r .layer "$PUSHED")" ]] || fail "the URL's bytes are not the layer's"
    req GET "$url" -H "Range: bytes=100-199"
    expect_status 206
    expect_header content-range "bytes 100-199/$(jq -r .layer_size "$PUSHED")"
    [[ $(wc -c <"$E2E_TMP/resp.body") == 100 ]] || fail "a 100-byte range sent $(wc -c <"$E2E_TMP/resp.body") bytes"
    req HEAD "$url"
    expect_status 200
    # a changed signature digit, a later expiry, another blob, another repository
    req GET "${url:0:${#url}-1}$([[ ${url: -1} == 0 ]] && echo 1 || echo 0)"
    expect_status 403
    expect_json_error DENIED
    q=${url#*\?}
    req GET "${url%%\?*}?$(sed -E 's/X-Berth-Expires=[0-9]+/X-Berth-Expires=4102444800/' <<<"$q")"
    expect_status 403
    req GET "${curl_url%%\?*}?$q"
    expect_status 403
    req GET "${url%%\?*}?${curl_url#*\?}"
    expect_status 403
    req GET "${url/e2e\/layers/e2e\/elsewhere}"
    expect_status 403
    expect_json_error DENIED
    # without the signature it is an ordinary pull: credentials needed
    req GET "${url%%\?*}"
    expect_status 401
    # the AWS CLI gets the same kind of URL
    run "${ECR[@]}" get-download-url-for-layer --repository-name e2e/layers --layer-digest "$(jq -r .config "$PUSHED")"
    expect_success
    req GET "$(jq -r .downloadUrl "$E2E_TMP/cmd.out")"
    expect_status 200
}
run_case "a download URL is fetched by curl without credentials (200, HEAD, Range 206); a changed signature, expiry, blob or repository → 403 DENIED" t_download_url

t_berth_cli() {
    [[ -n ${BERTH_CLI:-} && -x ${BERTH_CLI:-} ]] || skip_case "BERTH_CLI (the berth binary) is not set"
    [[ -s $PUSHED ]] || { fail "the push case did not finish"; return 0; }
    local B=("$BERTH_CLI" ecr) arn digest
    export BERTH_ENDPOINT_URL=$BASE
    digest=$(jq -r .manifest "$PUSHED")
    run "${B[@]}" create-repository --repository-name e2e/cli-made --image-scanning-configuration scanOnPush=true \
        --encryption-configuration encryptionType=KMS,kmsKey=alias/k --tags Key=team,Value=infra Key=env,Value=prod
    expect_success
    expect_out_jq '.repository | [.imageScanningConfiguration.scanOnPush, .encryptionConfiguration]' '[true,{"encryptionType":"KMS","kmsKey":"alias/k"}]'
    arn=$(jq -r .repository.repositoryArn "$E2E_TMP/cmd.out")
    run "${B[@]}" list-tags-for-resource --resource-arn "$arn"
    expect_out_jq '[.tags[] | .Key + "=" + .Value] | sort' '["env=prod","team=infra"]'
    run "${B[@]}" untag-resource --resource-arn "$arn" --tag-keys team env
    expect_success
    run "${B[@]}" tag-resource --resource-arn "$arn" --tags Key=owner,Value=me
    expect_success
    run "${B[@]}" list-tags-for-resource --resource-arn "$arn"
    expect_out_jq '.tags' '[{"Key":"owner","Value":"me"}]'
    run "${B[@]}" put-image-scanning-configuration --repository-name e2e/cli-made --image-scanning-configuration scanOnPush=false
    expect_out_jq .imageScanningConfiguration.scanOnPush false
    # pages: one repository a page; named repositories
    run "${B[@]}" describe-repositories --max-results 1
    expect_out_jq '[(.repositories | length), (.nextToken | type)]' '[1,"string"]'
    run "${B[@]}" describe-repositories --max-results 1 --next-token "$(jq -r .nextToken "$E2E_TMP/cmd.out")"
    expect_out_jq '.repositories | length' 1
    run "${B[@]}" describe-repositories --repository-names e2e/layers e2e/cli-made
    expect_out_jq '[.repositories[].repositoryName] | sort' '["e2e/cli-made","e2e/layers"]'
    # images: a second tag by put-image (file://), then filters, ids, pages, batch get and delete
    "${B[@]}" batch-get-image --repository-name e2e/layers --image-ids imageTag=api >"$E2E_TMP/get.json" ||
        fail "batch-get-image failed"
    jq -j '.images[0].imageManifest' "$E2E_TMP/get.json" >"$E2E_TMP/manifest.json"
    run "${B[@]}" put-image --repository-name e2e/layers --image-tag api2 --image-manifest "file://$E2E_TMP/manifest.json"
    expect_out_jq .image.imageId.imageDigest "\"$digest\""
    run "${B[@]}" list-images --repository-name e2e/layers --filter tagStatus=TAGGED --max-results 1
    # one image a page, and an image's tags are never split across pages
    expect_out_jq '[.imageIds[].imageTag] | sort' '["api","api2"]'
    run "${B[@]}" list-images --repository-name e2e/layers --filter tagStatus=UNTAGGED
    expect_out_jq .imageIds '[]'
    run "${B[@]}" describe-images --repository-name e2e/layers --image-ids imageTag=api2 "imageDigest=$digest"
    expect_out_jq '[.imageDetails[].imageTags | sort] | unique' '[["api","api2"]]'
    run "${B[@]}" batch-check-layer-availability --repository-name e2e/layers --layer-digests "$(jq -r .layer "$PUSHED")" "sha256:$(printf '0%.0s' {1..64})"
    expect_out_jq '[(.layers | length), .failures[0].failureCode]' '[1,"MissingLayerDigest"]'
    run "${B[@]}" describe-image-scan-findings --repository-name e2e/layers --image-id imageTag=api
    expect_exit 1
    expect_stderr_match ScanNotFoundException
    run "${B[@]}" batch-delete-image --repository-name e2e/layers --image-ids imageTag=api2 imageTag=nope
    expect_out_jq '[.imageIds[0].imageTag, .failures[0].failureCode]' '["api2","ImageNotFound"]'
    # bad input is refused before sending
    run "${B[@]}" list-images --repository-name e2e/layers --filter tagStatus
    expect_exit 2
    expect_stderr_match "--filter takes key=value"
    run "${B[@]}" describe-images --repository-name e2e/layers --max-results many
    expect_exit 2
    expect_stderr_match "--max-results takes a whole number"
}
run_case "berth ecr: create-repository's scanning, encryption and tags; tag/untag/list-tags-for-resource; put-image-scanning-configuration; describe-repositories --repository-names/--max-results/--next-token; put-image, batch-get-image, list-images --filter/--max-results, describe-images --image-ids, batch-check-layer-availability, describe-image-scan-findings, batch-delete-image; malformed options refused" t_berth_cli

# Expiry: berthd's credential clock moved past the URL's 15 minutes.
restart_registry --clock-offset 1000
t_download_url_expires() {
    [[ -s $PUSHED ]] || { fail "the push case did not finish"; return 0; }
    req GET "$(jq -r .layer_url "$PUSHED")"
    expect_status 403
    expect_json_error DENIED
    grep -q expired "$E2E_TMP/resp.body" || fail "the 403 does not say the URL expired: $(head -c 300 "$E2E_TMP/resp.body")"
}
run_case "a download URL past its 15 minutes → 403 DENIED saying it expired" t_download_url_expires

finish
