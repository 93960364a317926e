#!/usr/bin/env python3
"""Task roles through boto3 (Debian's python3-boto3), for test_ecs_task_roles.sh.
One process per phase; each prints one JSON object of what it saw.

usage: ecs_task_roles.py BASE ADMIN_CREDS DIR ACCOUNT setup
         the roles (app: trusts ecs-tasks.amazonaws.com; untrusted: does not)
         and the users deployer (ecs:*, iam:PassRole to ECS tasks),
         nopass (ecs:*, no iam:PassRole), notapp (deployer's, but a Deny
         of iam:PassRole on app), agent-a and agent-b (the agent's
         ecs: actions and pulls); their credentials in DIR/NAME.creds
       ecs_task_roles.py BASE ADMIN_CREDS DIR ACCOUNT start IMAGE INSTANCE_ARN
         the refusals of RegisterTaskDefinition and RunTask, then two tasks
         of the host-mode definition with the role on the instance, RUNNING
       ecs_task_roles.py BASE ADMIN_CREDS DIR ACCOUNT check INSTANCE_ARN TASK1 TASK2 TASK2_KEY TASK2_SECRET TASK2_TOKEN
         who task 2's credentials are; agent-b's calls for agent-a's instance
         and task; agent-a's own request while the role does not trust ECS's
         tasks; StopTask of task 1, then agent-a's own request for it
"""
import configparser
import datetime
import json
import sys
import time
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions

base, admin_creds, tmp, account, phase = sys.argv[1:6]
args = sys.argv[6:]
CLUSTER = "roles"
ROLE = f"arn:aws:iam::{account}:role/app"
UNTRUSTED = f"arn:aws:iam::{account}:role/untrusted"
NO_RETRY = botocore.config.Config(retries={"max_attempts": 1})


def keys(path):
    cp = configparser.ConfigParser()
    cp.read(path)
    return cp["default"]["aws_access_key_id"], cp["default"]["aws_secret_access_key"]


def client(service, who, **kw):
    k, s = keys(admin_creds if who == "admin" else f"{tmp}/{who}.creds")
    return boto3.client(service, endpoint_url=base, region_name="us-east-1", aws_access_key_id=k, aws_secret_access_key=s,
                        config=NO_RETRY, **kw)


def error(fn, **kw):
    try:
        fn(**kw)
        return "no error"
    except botocore.exceptions.ClientError as e:
        return [e.response["Error"]["Code"], e.response["Error"]["Message"]]


def berth(who, op, body):
    """An ECS call botocore does not know (Berth's agent protocol), signed as botocore signs."""
    k, s = keys(f"{tmp}/{who}.creds")
    req = botocore.awsrequest.AWSRequest(method="POST", url=base + "/", data=json.dumps(body).encode(), headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonEC2ContainerServiceV20141113." + op})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(k, s), "ecs", "us-east-1").add_auth(req)
    r = urllib.request.Request(base + "/", data=req.body, headers=dict(req.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_tasks(ecs, arns, status, timeout=20):
    end = time.time() + timeout
    while True:
        d = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]
        if all(t["lastStatus"] == status for t in d) or time.time() > end:
            return [t["lastStatus"] for t in d]
        time.sleep(0.2)


out = {}
if phase == "setup":
    iam = client("iam", "admin")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(trust))
    # trusted by the account's principals, not by ECS's tasks
    other = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="untrusted", AssumeRolePolicyDocument=json.dumps(other))
    ecs_all = {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}
    agent = {"Effect": "Allow", "Action": ["ecs:RegisterContainerInstance", "ecs:Poll", "ecs:SubmitTaskStateChange",
                                           "ecs:SubmitContainerStateChange", "ecr:GetAuthorizationToken",
                                           "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                           "ecr:BatchCheckLayerAvailability"], "Resource": "*"}
    pass_role = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{account}:role/*",
                 "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}}
    # may pass any role but app
    deny_app = {"Effect": "Deny", "Action": "iam:PassRole", "Resource": ROLE}
    for name, stmts in {"deployer": [ecs_all, pass_role], "nopass": [ecs_all], "agent-a": [agent],
                        "agent-b": [agent], "notapp": [ecs_all, pass_role, deny_app]}.items():
        iam.create_user(UserName=name)
        iam.create_policy(PolicyName=name + "-policy",
                          PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": stmts}))
        iam.attach_user_policy(UserName=name, PolicyArn=f"arn:aws:iam::{account}:policy/{name}-policy")
        k = iam.create_access_key(UserName=name)["AccessKey"]
        with open(f"{tmp}/{name}.creds", "w") as f:
            f.write(f"[default]\naws_access_key_id = {k['AccessKeyId']}\naws_secret_access_key = {k['SecretAccessKey']}\n")
    client("ecs", "admin").create_cluster(clusterName=CLUSTER)
    out["ok"] = True

elif phase == "start":
    image, instance = args
    dep, nopass = client("ecs", "deployer"), client("ecs", "nopass")
    c = [{"name": "app", "image": image, "memory": 64}]
    out["nopass_register"] = error(nopass.register_task_definition, family="app", networkMode="host", taskRoleArn=ROLE,
                                   containerDefinitions=c)
    out["nopass_register_exec"] = error(nopass.register_task_definition, family="app", networkMode="host",
                                        executionRoleArn=ROLE, containerDefinitions=c)
    out["untrusted_register"] = error(dep.register_task_definition, family="app", networkMode="host",
                                      taskRoleArn=UNTRUSTED, containerDefinitions=c)
    out["missing_register"] = error(dep.register_task_definition, family="app", networkMode="host",
                                    taskRoleArn=f"arn:aws:iam::{account}:role/nobody", containerDefinitions=c)
    out["bridge_register"] = error(dep.register_task_definition, family="app", networkMode="bridge", taskRoleArn=ROLE,
                                   containerDefinitions=c)
    out["default_mode_register"] = error(dep.register_task_definition, family="app", taskRoleArn=ROLE,
                                         containerDefinitions=c)
    # roles are found whatever the case of their name: the Deny on role/app holds for role/APP too
    notapp = client("ecs", "notapp")
    out["notapp_register"] = [error(notapp.register_task_definition, family="app", networkMode="host", taskRoleArn=arn,
                                    containerDefinitions=c)[0] for arn in (ROLE, ROLE[:-3] + "APP", ROLE[:-3] + "App")]
    td = dep.register_task_definition(family="app", networkMode="host", taskRoleArn=ROLE, containerDefinitions=c)
    out["revision"] = td["taskDefinition"]["revision"]
    out["task_role"] = td["taskDefinition"]["taskRoleArn"]
    out["nopass_run"] = error(nopass.run_task, cluster=CLUSTER, taskDefinition="app")
    out["nopass_start"] = error(nopass.start_task, cluster=CLUSTER, taskDefinition="app", containerInstances=[instance])
    # services: their tasks are placed later by berthd, so the caller's PassRole is checked at Create/UpdateService
    out["nopass_service"] = error(nopass.create_service, cluster=CLUSTER, serviceName="svc", taskDefinition="app",
                                  desiredCount=0)
    dep.register_task_definition(family="plain", containerDefinitions=c)
    nopass.create_service(cluster=CLUSTER, serviceName="plain", taskDefinition="plain", desiredCount=0)
    out["nopass_update"] = error(nopass.update_service, cluster=CLUSTER, service="plain", taskDefinition="app")
    out["dep_update"] = dep.update_service(cluster=CLUSTER, service="plain", taskDefinition="app")["service"]["taskDefinition"]
    out["services"] = sorted(a.rsplit("/", 1)[1] for a in nopass.list_services(cluster=CLUSTER)["serviceArns"])
    out["nopass_tasks"] = len(nopass.list_tasks(cluster=CLUSTER)["taskArns"])
    arns = [dep.start_task(cluster=CLUSTER, taskDefinition="app", containerInstances=[instance])["tasks"][0]["taskArn"]
            for _ in range(2)]
    out["tasks"] = arns
    out["status"] = wait_tasks(dep, arns, "RUNNING")

elif phase == "check":
    instance, t1, t2, k2, s2, tok2 = args
    sts = boto3.client("sts", endpoint_url=base, region_name="us-east-1", aws_access_key_id=k2, aws_secret_access_key=s2,
                       aws_session_token=tok2, config=NO_RETRY)
    out["task2_arn"] = sts.get_caller_identity()["Arn"]
    # agent-b: an instance of its own, then the calls for agent-a's
    b = client("ecs", "agent-b").register_container_instance(
        cluster=CLUSTER, totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 512},
                                         {"name": "MEMORY", "type": "INTEGER", "integerValue": 512}])
    mine = b["containerInstance"]["containerInstanceArn"]
    st, r = berth("agent-b", "BerthGetTaskCredentials", {"cluster": CLUSTER, "containerInstance": instance, "task": t1})
    out["b_for_a"] = [st, r.get("__type"), r.get("message", "")]
    st, r = berth("agent-b", "BerthGetTaskCredentials", {"cluster": CLUSTER, "containerInstance": mine, "task": t1})
    out["b_own_instance"] = [st, r.get("__type"), r.get("message", "")]
    st, r = berth("agent-b", "BerthPollWork", {"cluster": CLUSTER, "containerInstance": instance, "waitSeconds": 0})
    out["b_poll_a"] = [st, r.get("__type")]
    st, r = berth("agent-b", "SubmitTaskStateChange", {"cluster": CLUSTER, "task": t1, "status": "STOPPED"})
    out["b_stops_a_task"] = [st, r.get("__type")]
    # agent-a's own request, then StopTask
    st, r = berth("agent-a", "BerthGetTaskCredentials", {"cluster": CLUSTER, "containerInstance": instance, "task": t1})
    out["a_own"] = [st, r.get("credentials", {}).get("accessKeyId", "")[:4],
                    r.get("credentials", {}).get("expiration", 0) - int(time.time())]
    # the role stops trusting ECS's tasks: no more refreshes; trusting again, they resume
    iam = client("iam", "admin")
    trust = iam.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"]
    iam.update_assume_role_policy(RoleName="app", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}))
    st, r = berth("agent-a", "BerthGetTaskCredentials", {"cluster": CLUSTER, "containerInstance": instance, "task": t1})
    out["a_untrusted"] = [st, r.get("__type"), r.get("message", "")]
    iam.update_assume_role_policy(RoleName="app", PolicyDocument=trust if isinstance(trust, str) else json.dumps(trust))
    st, r = berth("agent-a", "BerthGetTaskCredentials", {"cluster": CLUSTER, "containerInstance": instance, "task": t1})
    out["a_trusted_again"] = st
    dep = client("ecs", "deployer")
    dep.stop_task(cluster=CLUSTER, task=t1, reason="e2e")
    out["stopped"] = wait_tasks(dep, [t1], "STOPPED")
    st, r = berth("agent-a", "BerthGetTaskCredentials", {"cluster": CLUSTER, "containerInstance": instance, "task": t1})
    out["a_after_stop"] = [st, r.get("__type"), r.get("message", "")]
print(json.dumps(out))
