#!/usr/bin/env python3
"""Regressions of the attack pass on the ECR control plane, from one process:
each block is a hole that was found (and fixed) or a refusal that must stay.
Requests go signed as botocore signs them, with the bodies a test chooses
(botocore itself would refuse most of them), by the administrator of
CREDENTIALS_FILE and by users this script makes.

usage: ecr_attack.py BASE CREDENTIALS_FILE
"""
import configparser
import json
import sys
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

print("ok")
