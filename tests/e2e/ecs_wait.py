#!/usr/bin/env python3
"""Waits on an ECS cluster's state through the ECS API (boto3), for test_ecs_agent.sh.

usage: ecs_wait.py BASE CREDENTIALS_FILE CLUSTER TIMEOUT_S CONDITION

CONDITION is a Python expression over `tasks` (DescribeTasks of every task of
the cluster, desired RUNNING and STOPPED) and `instances`
(DescribeContainerInstances of every instance). Polls every 0.3 s until it
holds, then prints {"tasks": ..., "instances": ...} as JSON and exits 0; exits
1 after TIMEOUT_S with the last state printed, so the failure shows it.

With ECS_WAIT_INTRUDER=CREDENTIALS_FILE:INSTANCE_ARN, another principal
(allowed ecs:Poll) also polls for that instance at every step, as an
intruder would to keep it connected: each poll must be refused with
AccessDeniedException (else exit 2), and it must not count as the
instance's heartbeat.
"""
import configparser
import json
import os
import sys
import time
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials

base, creds, cluster, timeout, cond = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
cp = configparser.ConfigParser()
cp.read(creds)
ecs = boto3.client("ecs", endpoint_url=base, region_name="us-east-1",
                   aws_access_key_id=cp["default"]["aws_access_key_id"],
                   aws_secret_access_key=cp["default"]["aws_secret_access_key"],
                   config=botocore.config.Config(retries={"max_attempts": 1}))


def state():
    arns = []
    for desired in ("RUNNING", "STOPPED"):
        for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, desiredStatus=desired):
            arns += page["taskArns"]
    tasks = []
    for i in range(0, len(arns), 100):
        tasks += ecs.describe_tasks(cluster=cluster, tasks=arns[i:i + 100])["tasks"]
    iarns = []
    for page in ecs.get_paginator("list_container_instances").paginate(cluster=cluster):
        iarns += page["containerInstanceArns"]
    instances = []
    for i in range(0, len(iarns), 100):
        instances += ecs.describe_container_instances(cluster=cluster, containerInstances=iarns[i:i + 100])["containerInstances"]
    return tasks, instances


def intrude(spec):
    """BerthPollWork for the instance, signed by the intruder; its error type"""
    path, arn = spec.split(":", 1)
    icp = configparser.ConfigParser()
    icp.read(path)
    body = json.dumps({"cluster": cluster, "containerInstance": arn, "waitSeconds": 0}).encode()
    req = botocore.awsrequest.AWSRequest(method="POST", url=base + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.BerthPollWork"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(icp["default"]["aws_access_key_id"],
                                                            icp["default"]["aws_secret_access_key"]),
                            "ecs", "us-east-1").add_auth(req)
    try:
        with urllib.request.urlopen(urllib.request.Request(base + "/", data=req.body, headers=dict(req.headers.items()),
                                                           method="POST"), timeout=30) as r:
            return "%d %s" % (r.status, r.read()[:200])
    except urllib.error.HTTPError as e:
        return json.loads(e.read()).get("__type")


intruder = os.environ.get("ECS_WAIT_INTRUDER")
deadline = time.time() + timeout
while True:
    if intruder:
        got = intrude(intruder)
        if got != "AccessDeniedException":
            print(json.dumps({"intruder_poll": got}))
            sys.exit(2)
    tasks, instances = state()
    ok = bool(eval(cond, {"tasks": tasks, "instances": instances}))
    if ok or time.time() > deadline:
        print(json.dumps({"tasks": tasks, "instances": instances}, default=str))
        sys.exit(0 if ok else 1)
    time.sleep(0.3)
