#!/usr/bin/env python3
"""ECR lifecycle policies through boto3 (tests/e2e/test_ecr_lifecycle.sh).

usage: lifecycle_boto3.py BASE STATE_FILE PHASE

Phase "push" pushes through /v2/ (blobs, then manifests, from the test
image's OCI layout) into lc/app: keep (v1, linux/amd64), multi (an index of
v1 and an untagged arm64 child), and the artifact whose subject is v1,
untagged (by digest); then release-1..4 and two untagged images u1, u2
through PutImage, each with a layer of its own,
the release images sharing one more layer; sets the policy

  1: untagged, sinceImagePushed 7 days -> expire
  2: tagged, tagPatternList release-*, imageCountMoreThan 2 -> expire

and previews it: berthd runs on the real clock, so only the two oldest
release images expire (by rule 2).

Phase "run" runs after berthd restarted with --clock-offset of ten days:
the preview now also expires u1 and u2 (rule 1), never the index's child or
the artifact; a user allowed ecr:* may not run the policy (berth:RunLifecyclePolicy);
`berth ecr run-lifecycle-policy` expires exactly what the
preview showed; the images are gone from DescribeImages and /v2/; `berth gc
--grace 0` reclaims their own layers while the shared layer and the kept
images' layers stay; bad policies are refused naming the field; Get after
Delete is LifecyclePolicyNotFoundException; DeleteRepository takes the
policy with it. GetLifecyclePolicy's lastEvaluatedAt: absent before a run,
the run's server time after one (also one that expired nothing), gone with
a deleted policy or repository; a tag prefix in two rules is refused. Last it puts the policy back and one more untagged image,
for berthd --lifecycle-interval to expire (test_ecr_lifecycle.sh checks).

It prints one line per check that failed and exits 1 if any did.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
import botocore.config
import botocore.exceptions

base, state_file, phase = sys.argv[1], sys.argv[2], sys.argv[3]
REPO = "lc/app"
OCI_MT = "application/vnd.oci.image.manifest.v1+json"
LAYER_MT = "application/vnd.oci.image.layer.v1.tar+gzip"
ecr = boto3.client("ecr", endpoint_url=base, region_name="us-east-1",
                   config=botocore.config.Config(retries={"max_attempts": 1}))
# bad input past botocore's own checks (lifecyclePolicyText of 100 characters at least)
ecr_raw = boto3.client("ecr", endpoint_url=base, region_name="us-east-1",
                       config=botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=False))
failed = []
TEN_DAYS = 864000  # test_ecr_lifecycle.sh's --clock-offset for phase "run"

POLICY = json.dumps({"rules": [
    {"rulePriority": 1, "description": "untagged after a week",
     "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7},
     "action": {"type": "expire"}},
    {"rulePriority": 2, "description": "the newest two releases",
     "selection": {"tagStatus": "tagged", "tagPatternList": ["release-*"], "countType": "imageCountMoreThan",
                   "countNumber": 2},
     "action": {"type": "expire"}},
]})


def check(what, want, got):
    if want != got:
        failed.append(what)
        print(f"FAILED {what}\n  - {want!r}\n  + {got!r}", file=sys.stderr)


def error_of(call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    return None, None


def auth_header():
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return "Basic " + token


def http(method, path, data=None, headers=None):
    req = urllib.request.Request(base + path, data=data, method=method, headers=dict(headers or {}))
    req.add_header("Authorization", AUTH)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def push_blob(text):
    data = text.encode()
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    st = http("POST", f"/v2/{REPO}/blobs/uploads/?digest={d}", data, {"Content-Type": "application/octet-stream"})
    check(f"blob push of {text!r}", 201, st)
    return {"mediaType": LAYER_MT, "digest": d, "size": len(data)}


def push_layout_manifest(digest, ref):
    """Pushes the layout's manifest `digest` (its blobs, children and subject first) as repo:ref."""
    raw = open(os.path.join(LAYOUT, digest.split(":")[1]), "rb").read()
    m = json.loads(raw)
    for child in m.get("manifests", []):
        push_layout_manifest(child["digest"], child["digest"])
    for desc in [m["config"]] if "config" in m else []:
        push_layout_blob(desc["digest"])
    for desc in m.get("layers", []):
        push_layout_blob(desc["digest"])
    st = http("PUT", f"/v2/{REPO}/manifests/{ref}", raw, {"Content-Type": m["mediaType"]})
    check(f"manifest PUT of {ref}", 201, st)


def push_layout_blob(digest):
    data = open(os.path.join(LAYOUT, digest.split(":")[1]), "rb").read()
    st = http("POST", f"/v2/{REPO}/blobs/uploads/?digest={digest}", data, {"Content-Type": "application/octet-stream"})
    check(f"blob push of {digest}", 201, st)


def preview_results(**filt):
    """Every page of the last preview (pages of 1: nextToken) as {digest: rule}."""
    out, token, pages = {}, None, 0
    while True:
        kw = dict(repositoryName=REPO, maxResults=1, **filt)
        if token:
            kw["nextToken"] = token
        p = ecr.get_lifecycle_policy_preview(**kw)
        pages += 1
        check("preview status", "COMPLETE", p["status"])
        for r in p["previewResults"]:
            check("preview action", {"type": "EXPIRE"}, r["action"])
            out[r["imageDigest"]] = r["appliedRulePriority"]
        token = p.get("nextToken")
        if not token or pages > 50:
            break
    return out, p["summary"]["expiringImageTotalCount"]


AUTH = auth_header()
LAYOUT = os.path.join(os.environ["OCI_LAYOUT"], "blobs", "sha256")

if phase == "push":
    v1 = json.load(open(os.environ["AMD64_MANIFEST_FILE"]))
    ecr.create_repository(repositoryName=REPO)
    push_layout_manifest(os.environ["AMD64_MANIFEST_DIGEST"], "keep")
    push_layout_manifest(os.environ["INDEX_DIGEST"], "multi")
    push_layout_manifest(os.environ["ARTIFACT_DIGEST"], os.environ["ARTIFACT_DIGEST"])
    shared = push_blob("a layer every release shares")
    st = {"shared": shared["digest"], "images": {}}
    for name in ["release-1", "release-2", "release-3", "release-4", "u1", "u2"]:
        own = push_blob(f"the layer only {name} has")
        layers = v1["layers"] + [own] + ([shared] if name.startswith("release") else [])
        m = json.dumps({"schemaVersion": 2, "mediaType": OCI_MT, "config": v1["config"], "layers": layers,
                        "annotations": {"name": name}})
        kw = {"imageTag": name} if name.startswith("release") else {}
        r = ecr.put_image(repositoryName=REPO, imageManifest=m, imageManifestMediaType=OCI_MT, **kw)
        st["images"][name] = {"digest": r["image"]["imageId"]["imageDigest"], "own": own["digest"]}
    details = {d["imageDigest"]: d for p in ecr.get_paginator("describe_images").paginate(repositoryName=REPO)
               for d in p["imageDetails"]}
    # rule 2 keeps the newest two by push time (equal times: the evaluator's order, digest ascending)
    rel = sorted((n for n in st["images"] if n.startswith("release")),
                 key=lambda n: (-details[st["images"][n]["digest"]]["imagePushedAt"].timestamp(),
                                st["images"][n]["digest"]))
    st["expired_releases"] = rel[2:]
    st["kept_releases"] = rel[:2]
    json.dump(st, open(state_file, "w"))

    r = ecr.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=POLICY)
    check("PutLifecyclePolicy echoes the text", POLICY, r["lifecyclePolicyText"])
    got = ecr.get_lifecycle_policy(repositoryName=REPO)
    check("GetLifecyclePolicy", (POLICY, None), (got["lifecyclePolicyText"], got.get("lastEvaluatedAt")))
    r = ecr.start_lifecycle_policy_preview(repositoryName=REPO)
    check("StartLifecyclePolicyPreview uses the stored policy", POLICY, r["lifecyclePolicyText"])
    got, total = preview_results()
    check("preview on the real clock: the two oldest releases by rule 2, no untagged image is a week old",
          {st["images"][n]["digest"]: 2 for n in st["expired_releases"]}, got)
    check("preview summary", 2, total)
    code, _ = error_of(ecr.get_lifecycle_policy_preview, repositoryName="lc/none")
    check("preview of an unknown repository", "RepositoryNotFoundException", code)

elif phase == "run":
    st = json.load(open(state_file))
    img = st["images"]
    # the policy in the request: previewed, not stored; then the stored one
    r = ecr.start_lifecycle_policy_preview(repositoryName=REPO, lifecyclePolicyText=json.dumps({"rules": [
        {"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 100},
         "action": {"type": "expire"}}]}))
    check("a preview of a policy given in the request", ([], 0),
          (list(preview_results()[0]), ecr.get_lifecycle_policy_preview(repositoryName=REPO)["summary"]["expiringImageTotalCount"]))
    check("the stored policy is unchanged by a preview", POLICY,
          ecr.get_lifecycle_policy(repositoryName=REPO)["lifecyclePolicyText"])
    ecr.start_lifecycle_policy_preview(repositoryName=REPO)
    want = {img[n]["digest"]: 2 for n in st["expired_releases"]}
    want.update({img["u1"]["digest"]: 1, img["u2"]["digest"]: 1})
    got, total = preview_results()
    check("preview ten days on: u1 and u2 by rule 1, the oldest releases by rule 2; not the index's child, not the "
          "artifact", want, got)
    check("preview summary ten days on", 4, total)
    got, _ = preview_results(filter={"tagStatus": "UNTAGGED"})
    check("preview filter UNTAGGED", {img["u1"]["digest"]: 1, img["u2"]["digest"]: 1}, got)
    p = ecr.get_lifecycle_policy_preview(repositoryName=REPO, imageIds=[{"imageTag": st["expired_releases"][0]}])
    check("preview by imageIds", [img[st["expired_releases"][0]]["digest"]], [x["imageDigest"] for x in p["previewResults"]])

    # a user allowed every ecr: action may preview, but not run: that is berth:RunLifecyclePolicy
    iam = boto3.client("iam", endpoint_url=base, region_name="us-east-1")
    arn = iam.create_policy(PolicyName="EcrAll", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}))["Policy"]["Arn"]
    iam.create_user(UserName="bob")
    iam.attach_user_policy(UserName="bob", PolicyArn=arn)
    key = iam.create_access_key(UserName="bob")["AccessKey"]
    bob = boto3.client("ecr", endpoint_url=base, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key=key["SecretAccessKey"])
    check("bob's GetLifecyclePolicy", POLICY, bob.get_lifecycle_policy(repositoryName=REPO)["lifecyclePolicyText"])
    env = dict(os.environ, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    out = subprocess.run([os.environ["BERTH_CLI"], "ecr", "run-lifecycle-policy", "--repository-name", REPO],
                         capture_output=True, text=True, env=env)
    check("bob's run-lifecycle-policy is refused", (1, True),
          (out.returncode, "not authorized to perform: berth:RunLifecyclePolicy" in out.stderr))

    out = subprocess.run([os.environ["BERTH_CLI"], "ecr", "run-lifecycle-policy", "--repository-name", REPO],
                         capture_output=True, text=True)
    check("berth ecr run-lifecycle-policy exit status", 0, out.returncode)
    ran = json.loads(out.stdout) if out.returncode == 0 else {"expiredImages": []}
    check("the run expires exactly what the preview showed", want,
          {x["imageDigest"]: x["appliedRulePriority"] for x in ran["expiredImages"]})
    # lastEvaluatedAt: the run's server time (the clock ten days on), kept with the policy
    at = ecr.get_lifecycle_policy(repositoryName=REPO).get("lastEvaluatedAt")
    ahead = at.timestamp() - time.time() if at else None
    check("lastEvaluatedAt after the run: ten days ahead of the real clock", True,
          ahead is not None and TEN_DAYS - 120 < ahead <= TEN_DAYS + 1)

    left = {d["imageDigest"] for p in ecr.get_paginator("describe_images").paginate(repositoryName=REPO)
            for d in p["imageDetails"]}
    expected_left = {os.environ["AMD64_MANIFEST_DIGEST"], os.environ["ARM64_MANIFEST_DIGEST"], os.environ["INDEX_DIGEST"],
                     os.environ["ARTIFACT_DIGEST"]} | {img[n]["digest"] for n in st["kept_releases"]}
    check("DescribeImages after the run", sorted(expected_left), sorted(left))
    accept = {"Accept": OCI_MT + ", application/vnd.oci.image.index.v1+json"}
    for d in want:
        check(f"GET /v2/ of expired {d}", 404, http("GET", f"/v2/{REPO}/manifests/{d}", headers=accept))
    for d in expected_left:
        check(f"GET /v2/ of kept {d}", 200, http("GET", f"/v2/{REPO}/manifests/{d}", headers=accept))

    out = subprocess.run([os.environ["BERTH_CLI"], "gc", "--grace", "0"], capture_output=True, text=True)
    check("berth gc exit status", 0, out.returncode)
    if out.returncode == 0:
        check("blobs collected: the four expired images' own layers", 4, json.loads(out.stdout)["blobsCollected"])
    for n in ["u1", "u2"] + st["expired_releases"]:
        check(f"HEAD of {n}'s own layer after gc", 404, http("HEAD", f"/v2/{REPO}/blobs/{img[n]['own']}"))
    for n in st["kept_releases"]:
        check(f"HEAD of kept {n}'s own layer after gc", 200, http("HEAD", f"/v2/{REPO}/blobs/{img[n]['own']}"))
    check("HEAD of the shared layer after gc", 200, http("HEAD", f"/v2/{REPO}/blobs/{st['shared']}"))

    # bad policies: InvalidParameterException naming the field
    rule = {"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
            "action": {"type": "expire"}}
    bad = [
        ("not json", "rules", "{" + " " * 120),
        ("shorter than ECR's 100 characters", "lifecyclePolicyText", '{"rules":[]}'),
        ("countNumber 0", "rules[0].selection.countNumber",
         {"rules": [dict(rule, selection=dict(rule["selection"], countNumber=0))]}),
        ("tagged without a list", "rules[0].selection.tagPrefixList",
         {"rules": [dict(rule, selection=dict(rule["selection"], tagStatus="tagged"))]}),
        ("both lists", "rules[0].selection.tagPatternList",
         {"rules": [dict(rule, selection=dict(rule["selection"], tagStatus="tagged", tagPrefixList=["a"],
                                              tagPatternList=["a*"]))]}),
        ("five wildcards", "rules[0].selection.tagPatternList",
         {"rules": [dict(rule, selection=dict(rule["selection"], tagStatus="tagged", tagPatternList=["*a*b*c*d*"]))]}),
        ("duplicate priority", "rules[1].rulePriority",
         {"rules": [dict(rule, selection=dict(rule["selection"], tagStatus="any")), rule]}),
        ("any not last", "rules[0].rulePriority",
         {"rules": [dict(rule, selection=dict(rule["selection"], tagStatus="any")),
                    dict(rule, rulePriority=2, selection=dict(rule["selection"], tagStatus="tagged", tagPrefixList=["x"]))]}),
        ("action type", "rules[0].action.type", {"rules": [dict(rule, action={"type": "delete"})]}),
        ("days unit", "rules[0].selection.countUnit",
         {"rules": [dict(rule, selection=dict(rule["selection"], countType="sinceImagePushed", countUnit="weeks"))]}),
        ("a tag prefix in two rules", "rules[1].selection.tagPrefixList",
         {"rules": [dict(rule, selection=dict(rule["selection"], tagStatus="tagged", tagPrefixList=["prod", "v"])),
                    dict(rule, rulePriority=2, selection=dict(rule["selection"], tagStatus="tagged",
                                                              tagPrefixList=["v"]))]}),
    ]
    for what, field, doc in bad:
        text = doc if isinstance(doc, str) else json.dumps(doc)
        code, msg = error_of(ecr_raw.put_lifecycle_policy, repositoryName=REPO, lifecyclePolicyText=text)
        check(f"bad policy ({what}): InvalidParameterException", "InvalidParameterException", code)
        if field != "rules" and (msg is None or field not in msg):
            check(f"bad policy ({what}) names {field}", field, msg)
    got = ecr.get_lifecycle_policy(repositoryName=REPO)
    check("the stored policy after refusals, and its last run", (POLICY, at),
          (got["lifecyclePolicyText"], got.get("lastEvaluatedAt")))

    r = ecr.delete_lifecycle_policy(repositoryName=REPO)
    check("DeleteLifecyclePolicy answers the deleted text", POLICY, r["lifecyclePolicyText"])
    check("Get after Delete", "LifecyclePolicyNotFoundException",
          error_of(ecr.get_lifecycle_policy, repositoryName=REPO)[0])
    check("Delete after Delete", "LifecyclePolicyNotFoundException",
          error_of(ecr.delete_lifecycle_policy, repositoryName=REPO)[0])
    check("a preview without a policy", "LifecyclePolicyNotFoundException",
          error_of(ecr.start_lifecycle_policy_preview, repositoryName=REPO)[0])

    # a repository's policy and preview go with it
    ecr.create_repository(repositoryName="lc/tmp")
    ecr.put_lifecycle_policy(repositoryName="lc/tmp", lifecyclePolicyText=POLICY)
    ecr.start_lifecycle_policy_preview(repositoryName="lc/tmp")
    subprocess.run([os.environ["BERTH_CLI"], "ecr", "run-lifecycle-policy", "--repository-name", "lc/tmp"],
                   capture_output=True)
    check("lastEvaluatedAt of a run that expired nothing", True,
          "lastEvaluatedAt" in ecr.get_lifecycle_policy(repositoryName="lc/tmp"))
    ecr.delete_repository(repositoryName="lc/tmp", force=True)
    ecr.create_repository(repositoryName="lc/tmp")
    check("the policy of a deleted repository", "LifecyclePolicyNotFoundException",
          error_of(ecr.get_lifecycle_policy, repositoryName="lc/tmp")[0])
    check("the preview of a deleted repository", "LifecyclePolicyPreviewNotFoundException",
          error_of(ecr.get_lifecycle_policy_preview, repositoryName="lc/tmp")[0])
    check("a policy for an unknown repository", "RepositoryNotFoundException",
          error_of(ecr.put_lifecycle_policy, repositoryName="lc/none", lifecyclePolicyText=POLICY)[0])
    ecr.put_lifecycle_policy(repositoryName="lc/tmp", lifecyclePolicyText=POLICY)
    check("a new repository's policy has no lastEvaluatedAt of the deleted one's", None,
          ecr.get_lifecycle_policy(repositoryName="lc/tmp").get("lastEvaluatedAt"))

    # for the scheduled run (berthd --lifecycle-interval, next): the policy back and one more untagged image
    ecr.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=POLICY)
    check("lastEvaluatedAt went with the deleted policy", None,
          ecr.get_lifecycle_policy(repositoryName=REPO).get("lastEvaluatedAt"))
    v1 = json.load(open(os.environ["AMD64_MANIFEST_FILE"]))
    m = json.dumps(dict(v1, annotations={"name": "for the scheduled run"}))
    st["scheduled"] = ecr.put_image(repositoryName=REPO, imageManifest=m)["image"]["imageId"]["imageDigest"]
    json.dump(st, open(state_file, "w"))
else:
    sys.exit(f"unknown phase {phase}")

sys.exit(1 if failed else 0)
