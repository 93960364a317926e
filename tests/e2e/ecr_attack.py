#!/usr/bin/env python3
"""Regressions of the attack pass on the ECR control plane, from one process:
each block is a hole that was found (and fixed) or a refusal that must stay.
Requests go signed as botocore signs them, with the bodies a test chooses
(botocore itself would refuse most of them), by the administrator of
CREDENTIALS_FILE and by users this script makes.

usage: ecr_attack.py BASE CREDENTIALS_FILE
"""
import base64
import configparser
import hashlib
import http.client
import json
import sys
import threading
import time
import urllib.parse
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials

BASE, CREDS = sys.argv[1], sys.argv[2]
TARGET = "AmazonEC2ContainerRegistry_V20150921."
cp = configparser.ConfigParser()
cp.read(CREDS)
ADMIN = (cp["default"]["aws_access_key_id"], cp["default"]["aws_secret_access_key"])
CFG = botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1})


def client(service, key=ADMIN):
    return boto3.client(service, endpoint_url=BASE, region_name="us-east-1", aws_access_key_id=key[0],
                        aws_secret_access_key=key[1], config=CFG)


def call(op, body, key=ADMIN):
    """One ECR operation with `body` (a dict, or the raw text): (status, reply as JSON)."""
    data = (body if isinstance(body, str) else json.dumps(body)).encode()
    headers = {"X-Amz-Target": TARGET + op, "Content-Type": "application/x-amz-json-1.1"}
    req = botocore.awsrequest.AWSRequest(method="POST", url=BASE + "/", data=data, headers=headers)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(*key), "ecr", "us-east-1").add_auth(req)
    r = urllib.request.Request(BASE + "/", data=data, headers=dict(req.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def refused(op, body, code, field=None, key=ADMIN):
    """op with body must be refused: 400 `code`, its message naming `field`."""
    status, reply = call(op, body, key)
    assert (status, reply.get("__type")) == (400, code), (op, body if len(str(body)) < 300 else "...", status, reply)
    if field:
        assert field in reply["message"], (op, field, reply["message"])
    return reply


def ok(op, body, key=ADMIN):
    status, reply = call(op, body, key)
    assert status == 200, (op, body if len(str(body)) < 300 else "...", status, reply)
    return reply


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def push_blob(repo, data):
    """A blob through the layer API (InitiateLayerUpload, one UploadLayerPart, CompleteLayerUpload)."""
    uid = ok("InitiateLayerUpload", {"repositoryName": repo})["uploadId"]
    ok("UploadLayerPart", {"repositoryName": repo, "uploadId": uid, "partFirstByte": 0, "partLastByte": len(data) - 1,
                           "layerPartBlob": base64.b64encode(data).decode()})
    ok("CompleteLayerUpload", {"repositoryName": repo, "uploadId": uid, "layerDigests": [sha(data)]})
    return sha(data)


def push_image(repo, layer, tag=None):
    """An image of one layer (and a config naming it) through PutImage: its manifest's text."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": push_blob(repo, config),
                               "size": len(config)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": push_blob(repo, layer),
                                "size": len(layer)}]})
    ok("PutImage", dict({"repositoryName": repo, "imageManifest": m}, **({"imageTag": tag} if tag else {})))
    return m


IPE = "InvalidParameterException"
ecr = client("ecr")
account = ok("DescribeRegistry", {})["registryId"]

# ---- a 256-character name: ECR's bound, one more than the store's. CreateRepository
# authorized the 256-character name, then cut it to 255 and made that repository.
long_name = "a" * 256
refused("CreateRepository", {"repositoryName": long_name}, IPE, "repositoryName")
refused("DescribeRepositories", {"repositoryNames": [long_name]}, IPE, "repositoryNames")
status, reply = call("DescribeRepositories", {"repositoryNames": [long_name[:255]]})
assert (status, reply.get("__type")) == (400, "RepositoryNotFoundException"), (status, reply)
ok("CreateRepository", {"repositoryName": long_name[:255]})  # 255 is the longest, and works
ok("DeleteRepository", {"repositoryName": long_name[:255]})

# ---- the repository policy operations check the body's shape as every other operation:
# another account's registryId, unknown members, names outside ECR's pattern
ok("CreateRepository", {"repositoryName": "attack/policy"})
for op in ("SetRepositoryPolicy", "GetRepositoryPolicy", "DeleteRepositoryPolicy"):
    body = {"repositoryName": "attack/policy", "registryId": "000000000000"}
    if op == "SetRepositoryPolicy":
        body["policyText"] = json.dumps({"Version": "2012-10-17", "Statement": []})
    refused(op, body, IPE, "registryId")
    refused(op, dict(body, registryId=account, surprise=1), IPE, "surprise")
    refused(op, dict(body, registryId=account, repositoryName="attack__policy"), IPE, "repositoryName")
refused("SetRepositoryPolicy", {"repositoryName": "attack/policy", "policyText": "x" * 10241}, IPE, "policyText")
refused("SetRepositoryPolicy", {"repositoryName": "attack/policy", "policyText": "{}", "force": "yes"}, IPE, "force")
refused("GetRepositoryPolicy", {"repositoryName": "attack/policy"}, "RepositoryPolicyNotFoundException")

# ---- BatchDeleteImage of a platform's image that an index references: "delete the
# untagged images" (list-images --filter tagStatus=UNTAGGED, then batch-delete-image)
# finds every multi-platform image's children, and deleted them under their index.
# ECR refuses with ImageReferencedByManifestList; by the last tag, the tag goes alone.
R = "attack/multi"
ok("CreateRepository", {"repositoryName": R})
amd, arm = push_image(R, b"amd64 layer"), push_image(R, b"arm64 layer", tag="arm-only")
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(m.encode()), "size": len(m),
     "platform": {"architecture": a, "os": "linux"}} for m, a in ((amd, "amd64"), (arm, "arm64"))]})
ok("PutImage", {"repositoryName": R, "imageManifest": index, "imageTag": "latest"})
untagged = ok("ListImages", {"repositoryName": R, "filter": {"tagStatus": "UNTAGGED"}})["imageIds"]
assert untagged == [{"imageDigest": sha(amd.encode())}], untagged
reply = ok("BatchDeleteImage", {"repositoryName": R, "imageIds": untagged + [{"imageTag": "arm-only"}]})
assert [f["failureCode"] for f in reply["failures"]] == ["ImageReferencedByManifestList"], reply
assert reply["imageIds"] == [{"imageDigest": sha(arm.encode()), "imageTag": "arm-only"}], reply
got = ok("BatchGetImage", {"repositoryName": R, "imageIds": [{"imageDigest": sha(m.encode())} for m in (amd, arm)]})
assert len(got["images"]) == 2 and not got["failures"], got
# the index and its children in one batch, children first: all go
reply = ok("BatchDeleteImage", {"repositoryName": R, "imageIds": [{"imageDigest": sha(m.encode())} for m in (amd, arm, index)]})
assert len(reply["imageIds"]) == 3 and not reply["failures"], reply

# ---- BatchGetImage builds its reply whole: 100 imageIds naming one 4 MiB manifest made
# a 400 MB reply and took 1.2 GB at its peak, for anyone allowed to pull that repository.
# A reply carries 16 MiB of manifests at most; past that the request is refused.
R = "attack/big"
ok("CreateRepository", {"repositoryName": R})
small = json.loads(push_image(R, b"big manifest layer"))
small["annotations"] = {"pad": ""}
small["annotations"]["pad"] = "p" * ((4 << 20) - len(json.dumps(small)) - 64)
big = json.dumps(small)
assert (4 << 20) - 128 < len(big) <= 4 << 20, len(big)
ok("PutImage", {"repositoryName": R, "imageManifest": big, "imageTag": "big"})
refused("BatchGetImage", {"repositoryName": R, "imageIds": [{"imageTag": "big"}] * 100}, "LimitExceededException", "imageIds")
got = ok("BatchGetImage", {"repositoryName": R, "imageIds": [{"imageTag": "big"}] * 3})
assert len(got["images"]) == 3 and got["images"][0]["imageManifest"] == big, len(got["images"])

# ---- DescribeImages and GetDownloadUrlForLayer remember what a manifest holds by its digest
# (parsed once, as its push did; the saving is measured by hand, not here: tests are not timed).
# What is checked: answers from the remembered manifests are the answers from parsing them.
for i in range(1):  # two big manifests in all, each naming the layer
    small["annotations"]["n"] = str(i)
    ok("PutImage", {"repositoryName": R, "imageManifest": json.dumps(small)})
layer = small["layers"][0]["digest"]
d1 = ok("DescribeImages", {"repositoryName": R})
d2 = ok("DescribeImages", {"repositoryName": R})
assert d1 == d2 and len(d1["imageDetails"]) == 3, d1
assert all(d["imageSizeInBytes"] > 0 for d in d1["imageDetails"]), d1
u1 = ok("GetDownloadUrlForLayer", {"repositoryName": R, "layerDigest": layer})
u2 = ok("GetDownloadUrlForLayer", {"repositoryName": R, "layerDigest": layer})
assert u1["layerDigest"] == u2["layerDigest"] == layer, (u1, u2)
refused("GetDownloadUrlForLayer", {"repositoryName": R, "layerDigest": sha(b"not a layer of " + R.encode())},
        "LayersNotFoundException")

# ---- lifecycle evaluation off the event loops. A preview evaluated in the request:
# tag patterns cost the policy's entries times the repository's tags (a 27 KiB policy
# of patterns took 0.15 s per image of 100 tags), so a user allowed previews on a
# repository of their own held a loop per preview, and two held every loop of a
# 2-thread berthd. Now one lifecycle thread evaluates; the loops keep answering.
R = "attack/patterns"
ok("CreateRepository", {"repositoryName": R})
m = push_image(R, b"pattern layer")
token = base64.b64decode(ok("GetAuthorizationToken", {})["authorizationData"][0]["authorizationToken"]).decode()
host = urllib.parse.urlsplit(BASE)
conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
auth = {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}
for i in range(200):  # one image with 200 tags: 199 that no pattern matches, then one that all match
    tag = "a" * 127 + "b" if i == 199 else "a" * 120 + "%07d" % i
    conn.request("PUT", "/v2/%s/manifests/%s" % (R, tag), body=m.encode(),
                 headers=dict(auth, **{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}))
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 201, (tag, resp.status)
pattern = "*" + "a" * 38 + "b"
rules = [{"rulePriority": r + 1, "selection": {"tagStatus": "tagged", "tagPatternList": [pattern] * 100,
                                               "countType": "imageCountMoreThan", "countNumber": 1000},
          "action": {"type": "expire"}} for r in range(6)]
text = json.dumps({"rules": rules}, separators=(",", ":"))
assert len(text) <= 30720, len(text)
spans, probes, stop = [], [], threading.Event()


def preview():
    t0 = time.monotonic()
    reply = ok("StartLifecyclePolicyPreview", {"repositoryName": R, "lifecyclePolicyText": text})
    spans.append((t0, time.monotonic()))
    assert reply["status"] == "COMPLETE", reply


def probe():
    while not stop.is_set():
        with urllib.request.urlopen(BASE + "/healthz", timeout=60) as r:
            r.read()
        probes.append(time.monotonic())
        time.sleep(0.01)


# and a preview waiting behind those two while its repository is deleted answers
# RepositoryNotFoundException, and leaves no preview for a repository made again
B = "attack/deleted-meanwhile"
ok("CreateRepository", {"repositoryName": B})
answers = {}
previews = [threading.Thread(target=preview) for _ in range(2)]
waiting = threading.Thread(target=lambda: answers.update(b=call("StartLifecyclePolicyPreview", {
    "repositoryName": B, "lifecyclePolicyText": json.dumps({"rules": [rules[0]]})})))
prober = threading.Thread(target=probe)
for t in previews:
    t.start()
    time.sleep(0.05)  # the first holds a loop (when it ran there) before the second connects
prober.start()
waiting.start()
time.sleep(0.05)
ok("DeleteRepository", {"repositoryName": B, "force": True})
for t in previews:
    t.join()
stop.set()
prober.join()
waiting.join()
# while both previews were under way (from just after the second was sent until
# the first answered), /healthz kept answering: no loop was held by them
assert len(spans) == 2, spans
during = (max(t0 for t0, _ in spans) + 0.03, min(t1 for _, t1 in spans))
assert any(during[0] < t < during[1] for t in probes), ("the loops waited on the evaluations", spans, probes[:5])
got = ok("GetLifecyclePolicyPreview", {"repositoryName": R})
assert got["status"] == "COMPLETE" and got["summary"]["expiringImageTotalCount"] == 0, got
assert answers["b"][0] == 400 and answers["b"][1]["__type"] == "RepositoryNotFoundException", answers["b"][0]
ok("CreateRepository", {"repositoryName": B})
refused("GetLifecyclePolicyPreview", {"repositoryName": B}, "LifecyclePolicyPreviewNotFoundException")

print("ok")
