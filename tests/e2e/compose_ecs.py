#!/usr/bin/env python3
"""The ECS side of test_compose.sh, in one boto3 process, over HTTPS verified with
berthd's own certificate.

usage: compose_ecs.py BASE CREDENTIALS_FILE CA_FILE first|again OUT_JSON

first: creates the cluster "default" (the compose file's agents retry until it
exists), waits for three connected instances, registers a task definition of
berthd:5000/e2e/app:v1 (the agents reach berthd as "berthd") and runs three
tasks spread over ecs.availability-zone, then waits for them to be RUNNING.
again: after `docker-compose down` and `up`, waits for the instances to be
connected again and the tasks to be RUNNING, and runs nothing.

Writes {"zones", "task_zones", "instances", "tasks"} (sorted, without times) to
OUT_JSON; exits 1 with the last state on stderr when the wait times out.
"""
import configparser
import json
import sys
import time

import boto3
import botocore.config

base, creds, ca, phase, out = sys.argv[1:6]
# the stack starts, agents register and pull within this (seconds)
TIMEOUT_S = 60
cp = configparser.ConfigParser()
cp.read(creds)
ecs = boto3.client("ecs", endpoint_url=base, region_name="us-east-1", verify=ca,
                   aws_access_key_id=cp["default"]["aws_access_key_id"],
                   aws_secret_access_key=cp["default"]["aws_secret_access_key"],
                   config=botocore.config.Config(retries={"max_attempts": 1}))
CLUSTER = "default"


def zone_of(instance):
    return next((a["value"] for a in instance.get("attributes", []) if a["name"] == "ecs.availability-zone"), None)


def state():
    iarns = ecs.list_container_instances(cluster=CLUSTER)["containerInstanceArns"]
    instances = ecs.describe_container_instances(cluster=CLUSTER, containerInstances=iarns)["containerInstances"] if iarns else []
    tarns = ecs.list_tasks(cluster=CLUSTER)["taskArns"]
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=tarns)["tasks"] if tarns else []
    return instances, tasks


def wait(cond):
    deadline = time.time() + TIMEOUT_S
    while True:
        instances, tasks = state()
        if cond(instances, tasks):
            return instances, tasks
        if time.time() > deadline:
            print(json.dumps({"instances": instances, "tasks": tasks}, default=str), file=sys.stderr)
            sys.exit(1)
        time.sleep(0.3)


def connected3(instances, _tasks):
    return len(instances) == 3 and all(i["agentConnected"] for i in instances)


def running3(instances, tasks):
    return connected3(instances, tasks) and len(tasks) == 3 and all(t["lastStatus"] == "RUNNING" for t in tasks)


if phase == "first":
    ecs.create_cluster(clusterName=CLUSTER)
    wait(connected3)
    ecs.register_task_definition(family="app", containerDefinitions=[
        {"name": "app", "image": "berthd:5000/e2e/app:v1", "cpu": 128, "memory": 128}])
    r = ecs.run_task(cluster=CLUSTER, taskDefinition="app", count=3,
                     placementStrategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"}])
    if r.get("failures") or len(r["tasks"]) != 3:
        print(json.dumps(r, default=str), file=sys.stderr)
        sys.exit(1)
instances, tasks = wait(running3)
zone = {i["containerInstanceArn"]: zone_of(i) for i in instances}
json.dump({
    "zones": sorted(zone.values()),
    "task_zones": sorted(zone.get(t["containerInstanceArn"]) for t in tasks),
    "instances": sorted([i["containerInstanceArn"], zone_of(i), i["agentConnected"]] for i in instances),
    "tasks": sorted([t["taskArn"], t["lastStatus"], t["taskDefinitionArn"]] for t in tasks),
}, open(out, "w"))
