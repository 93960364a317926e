#!/usr/bin/env python3
"""Drives test_metrics.sh's berthd from one process: scrapes GET /metrics
with the administrator's registry password, runs a scripted workload (3
pushes, 5 manifest GETs, one 404, one request a policy denies, a RunTask
with no instance, an instance that polls once, a RunTask placed) and checks
that each counter moved by what the workload did; then pushes one orphan
blob for the shell's berth gc. Prints PASS/FAIL lines.

usage: metrics_check.py BASE CREDENTIALS_FILE TOKEN_FILE
"""
import base64
import hashlib
import http.client
import json
import os
import re
import sys
import urllib.parse

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.exceptions

base, creds_file, token_file = sys.argv[1:4]
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = creds_file
os.environ["AWS_CONFIG_FILE"] = "/dev/null"
for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
    os.environ.pop(k, None)
u = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
failures = 0


def check(ok, what):
    global failures
    print(("PASS  " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures += 1


def req(method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


ecr = boto3.client("ecr", endpoint_url=base, region_name="us-east-1")
tok = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
auth = {"Authorization": "Basic " + tok}

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape(headers=auth):
    st, h, body = req("GET", "/metrics", headers=headers)
    if st != 200:
        return st, h, {}
    out = {}
    for line in body.decode().splitlines():
        m = LINE.match(line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return st, h, out


st, h, before = scrape()
check(st == 200 and h.get("content-type", "").startswith("text/plain; version=0.0.4"),
      "GET /metrics with the administrator's registry password: 200, text format 0.0.4")
st, _, _ = scrape({})
check(st == 401, "GET /metrics without credentials: 401 (got %d)" % st)

# The workload: 3 pushes (a blob, then a manifest naming it), 5 manifest GETs, one 404.
repo = "metrics/app"
pushed = 0
for i in range(3):
    blob = json.dumps({"architecture": "amd64", "os": "linux", "n": i}).encode()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    st, h, _ = req("POST", "/v2/%s/blobs/uploads/" % repo, headers=auth)
    loc = h.get("location", "")
    sep = "&" if "?" in loc else "?"
    st2, _, _ = req("PUT", "%s%sdigest=%s" % (loc, sep, digest), body=blob,
                    headers=dict(auth, **{"Content-Type": "application/octet-stream"}))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest,
                                      "size": len(blob)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest,
                                       "size": len(blob)}]}).encode()
    st3, _, _ = req("PUT", "/v2/%s/manifests/t%d" % (repo, i), body=manifest,
                    headers=dict(auth, **{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}))
    pushed += len(blob) + len(manifest)
    check((st, st2, st3) == (202, 201, 201), "push %d: POST 202, PUT blob 201, PUT manifest 201 (got %s)" % (i, (st, st2, st3)))
gets = [req("GET", "/v2/%s/manifests/t0" % repo,
            headers=dict(auth, Accept="application/vnd.oci.image.manifest.v1+json"))[0] for _ in range(5)]
check(gets == [200] * 5, "5 manifest GETs: 200")
check(req("GET", "/v2/%s/manifests/nope" % repo, headers=auth)[0] == 404, "a manifest GET of an unknown tag: 404")

# One request a policy denies: a user without policies creating a repository.
iam = boto3.client("iam", endpoint_url=base, region_name="us-east-1")
iam.create_user(UserName="nobody-metrics")
key = iam.create_access_key(UserName="nobody-metrics")["AccessKey"]
weak = boto3.client("ecr", endpoint_url=base, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                    aws_secret_access_key=key["SecretAccessKey"])
try:
    weak.create_repository(repositoryName="denied")
    check(False, "a user without policies: CreateRepository denied")
except botocore.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "AccessDeniedException", "a user without policies: CreateRepository denied")

# RunTask on a cluster without instances: one placement failure, no task placed.
ecs = boto3.client("ecs", endpoint_url=base, region_name="us-east-1")
ecs.create_cluster(clusterName="metrics")
ecs.register_task_definition(family="m", containerDefinitions=[{"name": "c", "image": "x", "memory": 64}])
rt = ecs.run_task(cluster="metrics", taskDefinition="m")
check(len(rt["tasks"]) == 0 and len(rt["failures"]) == 1, "RunTask without instances: one failure")
st, _, mid = scrape()
check(mid.get("berth_scheduler_agents_connected") == 0, "scheduler: no agent connected before one polls")

# An instance whose agent polled once (Berth's BerthPollWork, signed as botocore signs): connected,
# and a RunTask now places its task there.
inst = ecs.register_container_instance(cluster="metrics", totalResources=[
    {"name": "CPU", "type": "INTEGER", "integerValue": 512},
    {"name": "MEMORY", "type": "INTEGER", "integerValue": 512}])["containerInstance"]["containerInstanceArn"]
cred = boto3.Session().get_credentials()
poll = botocore.awsrequest.AWSRequest(
    method="POST", url=base + "/", data=json.dumps({"cluster": "metrics", "containerInstance": inst,
                                                    "waitSeconds": 0}).encode(),
    headers={"Content-Type": "application/x-amz-json-1.1",
             "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.BerthPollWork"})
botocore.auth.SigV4Auth(cred, "ecs", "us-east-1").add_auth(poll)
st, _, _ = req("POST", "/", body=poll.body, headers=dict(poll.headers.items()))
check(st == 200, "BerthPollWork of the instance: 200 (got %d)" % st)
rt = ecs.run_task(cluster="metrics", taskDefinition="m")
check(len(rt["tasks"]) == 1, "RunTask with the instance connected: one task placed")

st, _, after = scrape()


def delta(name):
    return after.get(name, 0) - before.get(name, 0)


def series(route, method, status):
    return 'berth_http_requests_total{route="%s",method="%s",status="%s"}' % (route, method, status)


for (route, method, status, n) in [("upload", "POST", 202, 3), ("upload", "PUT", 201, 3), ("manifest", "PUT", 201, 3),
                                   ("manifest", "GET", 200, 5), ("manifest", "GET", 404, 1)]:
    d = delta(series(route, method, status))
    check(d == n, "requests %s %s %d moved by %d (got %g)" % (route, method, status, n, d))
d = delta('berth_http_request_duration_seconds_count{route="manifest"}')
check(d == 9, "the manifest route's latency histogram counted 9 requests (got %g)" % d)
d = delta('berth_http_request_duration_seconds_bucket{route="manifest",le="+Inf"}')
check(d == 9, "... and its +Inf bucket too (got %g)" % d)
d = delta('berth_authz_decisions_total{family="ecr",decision="denied"}')
check(d == 1, "one ecr decision denied (got %g)" % d)
d = delta('berth_authz_decisions_total{family="ecr",decision="allowed"}')
# 3 x (InitiateLayerUpload, CompleteLayerUpload, PutImage) + 6 BatchGetImage, plus the
# first push's CreateRepository and GetAuthorizationToken: at least 15
check(d >= 15, "ecr decisions allowed moved by at least 15 (got %g)" % d)
d = delta("berth_http_request_body_bytes_total")
check(d >= pushed, "request body bytes moved by at least the %d pushed (got %g)" % (pushed, d))
check(delta("berth_http_response_bytes_total") > 0, "response bytes moved")
check(after.get("berth_uploads_in_flight") == 0, "no upload in flight once the pushes are done")
d = delta("berth_store_syncs_total")
check(d >= 6, "the store synced at least 6 times (3 blobs, 3 manifests; got %g)" % d)
check(delta("berth_store_commit_duration_seconds_count") == delta("berth_store_commits_total") > 0,
      "every commit is in the commit latency histogram")
check(after.get("berth_store_map_size_bytes", 0) > 0 and after.get("berth_store_pages_used", 0) > 0,
      "the store's map size and pages used are there")

d = (delta("berth_scheduler_placement_failures_total"), delta("berth_scheduler_tasks_placed_total"),
     delta("berth_scheduler_runtask_duration_seconds_count"))
check(d == (1, 1, 2), "scheduler: 1 placement failure, 1 task placed, 2 RunTasks timed (got %s)" % (d,))
check(after.get("berth_scheduler_agents_connected") == 1, "scheduler: one agent connected once it polled")
check(delta('berth_authz_decisions_total{family="ecs",decision="allowed"}') >= 3, "ecs decisions allowed moved")

# The scraper's token: /metrics, and nothing else.
scraper = {"Authorization": "Bearer " + open(token_file).read().strip()}
st, _, m = scrape(scraper)
check(st == 200 and "berth_store_commits_total" in m, "GET /metrics with the metrics token: 200")
for method, path in (("GET", "/v2/"), ("GET", "/v2/%s/manifests/t0" % repo), ("GET", "/v2/_catalog")):
    st = req(method, path, headers=scraper)[0]
    check(st in (401, 403), "the metrics token on %s %s: refused (got %d)" % (method, path, st))
st, _, body = req("POST", "/", body=b"{}", headers=dict(scraper, **{
    "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
    "Content-Type": "application/x-amz-json-1.1"}))
check(st in (400, 401, 403) and b"repositories" not in body, "the metrics token on the ECR API: refused (got %d)" % st)
# For test_metrics.sh's berth gc: one blob no manifest names (1000 bytes), after every delta above.
orphan = b"o" * 1000
st = req("POST", "/v2/%s/blobs/uploads/?digest=sha256:%s" % (repo, hashlib.sha256(orphan).hexdigest()), body=orphan,
         headers=dict(auth, **{"Content-Type": "application/octet-stream"}))[0]
check(st == 201, "an orphan blob for berth gc: 201 (got %d)" % st)
# the denied user has no registry password; an expired or foreign Basic is refused
st = scrape({"Authorization": "Basic " + base64.b64encode(b"AWS:not-a-token").decode()})[0]
check(st == 401, "GET /metrics with a bad password: 401 (got %d)" % st)
conn.close()
sys.exit(1 if failures else 0)
