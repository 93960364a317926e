#!/usr/bin/env python3
"""ECS services on live cluster state, driven by boto3.

usage: ecs_services.py BASE CREDENTIALS_FILE CASE

Each case's cluster has a stand-in agent (a thread of this script) that
reports through the real SubmitTaskStateChange what `berth agent --runtime
none` will: each PENDING task RUNNING, each task asked to stop STOPPED, a
little after it sees them. Each report runs the services' step, as does
berthd's timer (BERTH_ECS_SERVICE_TICK_MS).

  spread     a service of 6 tasks on 6 instances in 3 AZs with spread on AZ:
             2 per AZ; scaled to 3 it stays balanced (1 per AZ); a stopped
             task is replaced; a DRAINING instance's task moves elsewhere
  roll       a new task definition revision with minimumHealthyPercent 50 and
             maximumPercent 100: DescribeServices sampled while it rolls
             never shows fewer than 3 running or more than 6 running+pending;
             PRIMARY and ACTIVE deployments while it rolls, one COMPLETED
             deployment and ECS's events after
  delete     DeleteService without force is refused while desiredCount > 0;
             with force the service drains to INACTIVE and leaves the listing
  unplaced   a service that cannot place its tasks says why in its events
  authz      each service operation is an ecs: action on the service's ARN

It prints one line per check that failed and exits 1 if any did.
"""
import collections
import configparser
import json
import sys
import threading
import time
import uuid

import boto3
import botocore.config
import botocore.exceptions

base, creds, case = sys.argv[1], sys.argv[2], sys.argv[3]
cp = configparser.ConfigParser()
cp.read(creds)
KEY, SECRET = cp["default"]["aws_access_key_id"], cp["default"]["aws_secret_access_key"]
CONFIG = botocore.config.Config(retries={"max_attempts": 1})
ecs = boto3.client("ecs", endpoint_url=base, region_name="us-east-1", aws_access_key_id=KEY,
                   aws_secret_access_key=SECRET, config=CONFIG)
failed = []
AZ = "attribute:ecs.availability-zone"


def check(what, want, got):
    if want != got:
        failed.append(what)
        print(f"FAILED {what}\n  - {want!r}\n  + {got!r}")


class Agent(threading.Thread):
    """Reports the cluster's tasks RUNNING, and STOPPED once asked to stop, as an agent does."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.client = boto3.client("ecs", endpoint_url=base, region_name="us-east-1", aws_access_key_id=KEY,
                                   aws_secret_access_key=SECRET, config=CONFIG)
        self.reported = set()
        self.errors = []

    def report(self, task, status):
        try:
            self.client.submit_task_state_change(cluster=self.cluster, task=task, status=status)
        except botocore.exceptions.ClientError as e:
            # a task the scheduler stopped while still PENDING is STOPPED already: RUNNING is refused, rightly
            if e.response["Error"]["Code"] != "ClientException":
                self.errors.append(str(e))

    def run(self):
        while True:
            for desired in ("RUNNING", "STOPPED"):
                arns = [a for a in self.client.list_tasks(cluster=self.cluster, desiredStatus=desired)["taskArns"]
                        if (a, desired) not in self.reported]
                for i in range(0, len(arns), 100):
                    for t in self.client.describe_tasks(cluster=self.cluster, tasks=arns[i:i + 100])["tasks"]:
                        if desired == "RUNNING" and t["lastStatus"] == "PENDING":
                            self.report(t["taskArn"], "RUNNING")
                        elif desired == "STOPPED" and t["lastStatus"] == "RUNNING":
                            self.report(t["taskArn"], "STOPPED")
                        elif desired == "STOPPED" and t["lastStatus"] == "STOPPED":
                            self.reported.add((t["taskArn"], desired))
            time.sleep(0.1)


def new_cluster():
    name = "svc-" + uuid.uuid4().hex[:8]
    ecs.create_cluster(clusterName=name)
    Agent(name).start()
    return name


def register(cluster, name, az, cpu=1024, mem=2048):
    doc = json.dumps({"instanceId": name, "availabilityZone": az, "instanceType": "m5.large"})
    res = [{"name": "CPU", "type": "INTEGER", "integerValue": cpu},
           {"name": "MEMORY", "type": "INTEGER", "integerValue": mem}]
    r = ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=doc, totalResources=res)
    return r["containerInstance"]["containerInstanceArn"]


def six_instances(cluster):
    """6 instances, 2 in each of az-1, az-2, az-3: {arn: az}"""
    return {register(cluster, f"i-{az}-{k}", az): az for az in ("az-1", "az-2", "az-3") for k in range(2)}


def task_def(family, mem=128):
    r = ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "app", "image": "busybox", "cpu": 64, "memory": mem, "essential": True}])
    return r["taskDefinition"]["taskDefinitionArn"]


def service(cluster, name):
    return ecs.describe_services(cluster=cluster, services=[name])["services"][0]


def live_tasks(cluster, name):
    arns = ecs.list_tasks(cluster=cluster, serviceName=name)["taskArns"]
    if not arns:
        return []
    return [t for t in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if t["lastStatus"] == "RUNNING"]


def wait_steady(cluster, name, want, timeout=30):
    """Waits until the service runs `want` tasks with one deployment and nothing pending; returns the service."""
    end = time.time() + timeout
    while True:
        s = service(cluster, name)
        if (s["runningCount"] == want and s["pendingCount"] == 0 and len(s["deployments"]) == 1
                and len(live_tasks(cluster, name)) == want):
            return s
        if time.time() > end:
            check(f"{name} settles at {want} running", want, (s["runningCount"], s["pendingCount"], s["deployments"]))
            return s
        time.sleep(0.2)


def per_az(cluster, name, azs):
    c = collections.Counter(azs[t["containerInstanceArn"]] for t in live_tasks(cluster, name))
    return dict(sorted(c.items()))


def case_spread():
    cluster = new_cluster()
    azs = six_instances(cluster)
    td = task_def("svc-spread")
    s = ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=td, desiredCount=6,
                           placementStrategy=[{"type": "spread", "field": AZ}, {"type": "spread", "field": "instanceId"}])
    s = s["service"]
    check("create-service answers the service", ("ACTIVE", 6, "REPLICA", "EC2", td),
          (s["status"], s["desiredCount"], s["schedulingStrategy"], s["launchType"], s["taskDefinition"]))
    check("deploymentConfiguration defaults to ECS's 100/200", {"maximumPercent": 200, "minimumHealthyPercent": 100},
          s["deploymentConfiguration"])
    check("one PRIMARY deployment", ["PRIMARY"], [d["status"] for d in s["deployments"]])
    s = wait_steady(cluster, "web", 6)
    check("6 tasks: 2 per AZ", {"az-1": 2, "az-2": 2, "az-3": 2}, per_az(cluster, "web", azs))
    check("6 tasks: one per instance (spread on instanceId)", 6,
          len({t["containerInstanceArn"] for t in live_tasks(cluster, "web")}))
    msgs = [e["message"] for e in s["events"]]
    check("the started event names the tasks", True,
          any(m.startswith("(service web) has started 6 tasks: (task ") and m.endswith(").") for m in msgs))
    check("steady-state event", True, "(service web) has reached a steady state." in msgs)
    check("rolloutState COMPLETED", "COMPLETED", s["deployments"][0]["rolloutState"])
    check("group and startedBy", {("service:web", s["deployments"][0]["id"])},
          {(t["group"], t["startedBy"]) for t in live_tasks(cluster, "web")})
    c = ecs.describe_clusters(clusters=[cluster])["clusters"][0]
    check("activeServicesCount", 1, c["activeServicesCount"])

    ecs.update_service(cluster=cluster, service="web", desiredCount=3)
    wait_steady(cluster, "web", 3)
    check("scaled in to 3: one per AZ", {"az-1": 1, "az-2": 1, "az-3": 1}, per_az(cluster, "web", azs))

    victim = live_tasks(cluster, "web")[0]["taskArn"]
    ecs.stop_task(cluster=cluster, task=victim, reason="e2e")
    wait_steady(cluster, "web", 3)
    now = {t["taskArn"] for t in live_tasks(cluster, "web")}
    check("the stopped task is replaced", (False, 3), (victim in now, len(now)))
    check("still one per AZ after the replacement", {"az-1": 1, "az-2": 1, "az-3": 1}, per_az(cluster, "web", azs))

    drained = live_tasks(cluster, "web")[0]["containerInstanceArn"]
    ecs.update_container_instances_state(cluster=cluster, containerInstances=[drained], status="DRAINING")
    end = time.time() + 30
    while time.time() < end:
        tasks = live_tasks(cluster, "web")
        if len(tasks) == 3 and drained not in {t["containerInstanceArn"] for t in tasks}:
            break
        time.sleep(0.2)
    s = wait_steady(cluster, "web", 3)
    check("the draining instance's task moved", False,
          drained in {t["containerInstanceArn"] for t in live_tasks(cluster, "web")})
    check("3 tasks in the 3 AZs' other instances", 3, sum(per_az(cluster, "web", azs).values()))
    check("ListTasks serviceName lists only the service's tasks", 3,
          len(ecs.list_tasks(cluster=cluster, serviceName="web")["taskArns"]))
    check("ListTasks serviceName of another service lists nothing", [],
          ecs.list_tasks(cluster=cluster, serviceName="other")["taskArns"])


def case_roll():
    cluster = new_cluster()
    six_instances(cluster)
    td1 = task_def("svc-roll")
    ecs.create_service(cluster=cluster, serviceName="api", taskDefinition=td1, desiredCount=6,
                       deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 100},
                       placementStrategy=[{"type": "spread", "field": AZ}])
    wait_steady(cluster, "api", 6)
    td2 = task_def("svc-roll", mem=96)
    check("a new revision", True, td2.endswith(":2"))
    ecs.update_service(cluster=cluster, service="api", taskDefinition="svc-roll")
    samples = []
    seen_two = None
    end = time.time() + 60
    while time.time() < end:
        s = service(cluster, "api")
        samples.append((s["runningCount"], s["pendingCount"]))
        if len(samples) == 1 or samples[-1] != samples[-2]:
            print("sample", samples[-1], [(d["status"], d["runningCount"], d["pendingCount"]) for d in s["deployments"]])
        if len(s["deployments"]) == 2 and seen_two is None:
            seen_two = [(d["status"], d["taskDefinition"]) for d in s["deployments"]]
        if (len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == "COMPLETED"
                and s["runningCount"] == 6):
            break
        time.sleep(0.05)
    check("rolled to completion", ("COMPLETED", td2, 6),
          (s["deployments"][0]["rolloutState"], s["deployments"][0]["taskDefinition"], s["runningCount"]))
    check("sampled while rolling", True, len(samples) >= 5)
    low = [x for x in samples if x[0] < 3]
    high = [x for x in samples if x[0] + x[1] > 6]
    check("never fewer than minimumHealthyPercent (3) running", [], low)
    check("never more than maximumPercent (6) running + pending", [], high)
    check("PRIMARY (new) and ACTIVE (old) deployments while rolling", [("PRIMARY", td2), ("ACTIVE", td1)], seen_two)
    check("every task runs the new revision", {td2}, {t["taskDefinitionArn"] for t in live_tasks(cluster, "api")})
    msgs = [e["message"] for e in s["events"]]
    check("events: deployment completed", True,
          f"(service api) (deployment {s['deployments'][0]['id']}) deployment completed." in msgs)
    check("events: old tasks stopped", True, any(m.startswith("(service api) has stopped 3 running tasks: (task ") for m in msgs))
    check("events newest first", True, all(a["createdAt"] >= b["createdAt"] for a, b in zip(s["events"], s["events"][1:])))


def case_delete():
    cluster = new_cluster()
    six_instances(cluster)
    td = task_def("svc-del")
    ecs.create_service(cluster=cluster, serviceName="gone", taskDefinition=td, desiredCount=2)
    wait_steady(cluster, "gone", 2)
    try:
        ecs.delete_service(cluster=cluster, service="gone")
        check("delete without force refused", "InvalidParameterException", None)
    except botocore.exceptions.ClientError as e:
        check("delete without force refused", "InvalidParameterException", e.response["Error"]["Code"])
        check("and says why", True, "scaled above 0" in e.response["Error"]["Message"])
    s = ecs.delete_service(cluster=cluster, service="gone", force=True)["service"]
    check("delete with force: DRAINING, desiredCount 0", ("DRAINING", 0), (s["status"], s["desiredCount"]))
    end = time.time() + 30
    while time.time() < end and service(cluster, "gone")["status"] != "INACTIVE":
        time.sleep(0.2)
    check("then INACTIVE", "INACTIVE", service(cluster, "gone")["status"])
    check("its tasks stopped", [], live_tasks(cluster, "gone"))
    check("ListServices leaves it out", [], ecs.list_services(cluster=cluster)["serviceArns"])
    check("activeServicesCount 0", 0, ecs.describe_clusters(clusters=[cluster])["clusters"][0]["activeServicesCount"])
    try:
        ecs.update_service(cluster=cluster, service="gone", desiredCount=1)
        check("update of an INACTIVE service refused", "ServiceNotActiveException", None)
    except botocore.exceptions.ClientError as e:
        check("update of an INACTIVE service refused", "ServiceNotActiveException", e.response["Error"]["Code"])
    # the name may be used again once INACTIVE
    s = ecs.create_service(cluster=cluster, serviceName="gone", taskDefinition=td, desiredCount=1)["service"]
    check("re-created", ("ACTIVE", 1), (s["status"], s["desiredCount"]))


def case_unplaced():
    cluster = new_cluster()
    register(cluster, "i-small", "az-1", cpu=1024, mem=256)
    td = task_def("svc-big", mem=512)
    ecs.create_service(cluster=cluster, serviceName="big", taskDefinition=td, desiredCount=1)
    s = service(cluster, "big")
    msgs = [e["message"] for e in s["events"]]
    check("an unplaceable task is told in the events", True,
          any(m.startswith("(service big) was unable to place a task because no container instance met all of its "
                           "requirements. The closest matching (container-instance ") and "insufficient memory" in m
              for m in msgs))
    check("nothing running or pending", (0, 0), (s["runningCount"], s["pendingCount"]))
    # a bigger instance joins: the next step places the task
    register(cluster, "i-big", "az-1", cpu=1024, mem=4096)
    wait_steady(cluster, "big", 1)


def case_authz():
    """Each service operation is an ecs: action on ECS's service/CLUSTER/NAME ARN."""
    cluster = new_cluster()
    six_instances(cluster)
    td = task_def("svc-authz")
    for name in ("mine", "theirs"):
        ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=0)
    iam = boto3.client("iam", endpoint_url=base, region_name="us-east-1", aws_access_key_id=KEY,
                       aws_secret_access_key=SECRET, config=CONFIG)
    user = "svc-op-" + uuid.uuid4().hex[:6]
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ecs:DescribeServices", "ecs:ListServices"], "Resource": "*"},
        {"Effect": "Allow", "Action": "ecs:UpdateService", "Resource": f"arn:aws:ecs:*:*:service/{cluster}/mine"},
        {"Effect": "Deny", "Action": "ecs:DescribeServices", "Resource": f"arn:aws:ecs:*:*:service/{cluster}/theirs"}]}
    arn = iam.create_policy(PolicyName=user, PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    op = boto3.client("ecs", endpoint_url=base, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                      aws_secret_access_key=key["SecretAccessKey"], config=CONFIG)
    check("allowed UpdateService", 1, op.update_service(cluster=cluster, service="mine", desiredCount=1)["service"]["desiredCount"])
    check("allowed ListServices", 2, len(op.list_services(cluster=cluster)["serviceArns"]))

    def denied(what, call, needle):
        try:
            call()
            check(what, "AccessDeniedException", None)
        except botocore.exceptions.ClientError as e:
            check(what, ("AccessDeniedException", True), (e.response["Error"]["Code"], needle in e.response["Error"]["Message"]))

    account = arn.split(":")[4]
    denied("UpdateService of another service", lambda: op.update_service(cluster=cluster, service="theirs", desiredCount=1),
           f"ecs:UpdateService on resource: arn:aws:ecs:us-east-1:{account}:service/{cluster}/theirs")
    denied("CreateService", lambda: op.create_service(cluster=cluster, serviceName="new", taskDefinition=td),
           f"ecs:CreateService on resource: arn:aws:ecs:us-east-1:{account}:service/{cluster}/new")
    denied("DeleteService", lambda: op.delete_service(cluster=cluster, service="mine", force=True), "ecs:DeleteService")
    denied("DescribeServices with an explicit Deny", lambda: op.describe_services(cluster=cluster, services=["mine", "theirs"]),
           "explicit deny")
    check("the denied calls changed nothing", [("mine", 1), ("theirs", 0)],
          [(s["serviceName"], s["desiredCount"]) for s in
           ecs.describe_services(cluster=cluster, services=["mine", "theirs"])["services"]])


CASES = {"spread": case_spread, "roll": case_roll, "delete": case_delete, "unplaced": case_unplaced, "authz": case_authz}
CASES[case]()
sys.exit(1 if failed else 0)
