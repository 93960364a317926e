#!/usr/bin/env python3
"""`berth agent --runtime docker` end to end, driven by boto3 (for test_ecs_docker.sh).

usage: ecs_docker.py BASE ADMIN_CREDENTIALS BERTH_CLI DOCKER_HOST TMPDIR

test_ecs_docker.sh has started berthd (authentication on) and a private dockerd.
This script builds the test image offline (Debian's /bin/busybox in one gzip
layer, an OCI layout) and pushes it with skopeo, makes the IAM users and roles
(an instance role that may pull, one that may not, a bootstrap key that may only
assume them), starts three agents (two sharing the engine on cluster "web", one
on cluster "nopull") and runs the cases. It prints PASS/FAIL per case with the
differences, and "N passed, N failed, N skipped"; exits 1 if a case failed.
"""
import configparser
import gzip
import hashlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import time

import boto3
import botocore.config

base, admin_creds, berth, docker_host, tmp = sys.argv[1:6]
registry = base.split("//", 1)[1]
IMAGE = f"{registry}/e2e/web:v1"
cp = configparser.ConfigParser()
cp.read(admin_creds)
ADMIN = dict(aws_access_key_id=cp["default"]["aws_access_key_id"],
             aws_secret_access_key=cp["default"]["aws_secret_access_key"])
CONFIG = botocore.config.Config(retries={"max_attempts": 1})


def client(service, **keys):
    return boto3.client(service, endpoint_url=base, region_name="us-east-1", config=CONFIG, **(keys or ADMIN))


ecs, iam = client("ecs"), client("iam")
ACCOUNT = client("sts").get_caller_identity()["Account"]
DOCKER = ["docker", "-H", docker_host]

# ------------------------------------------------------------------ the image


def build_image(layout):
    """An OCI layout (ref v1) of /bin/busybox with its applets sh, httpd, mkdir, sleep, wget; fixed times."""
    os.makedirs(f"{layout}/blobs/sha256", exist_ok=True)

    def blob(data):
        d = hashlib.sha256(data).hexdigest()
        with open(f"{layout}/blobs/sha256/{d}", "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + d, "size": len(data)}

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        d = tarfile.TarInfo("bin")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(d)
        with open("/bin/busybox", "rb") as f:
            body = f.read()
        t = tarfile.TarInfo("bin/busybox")
        t.size, t.mode = len(body), 0o755
        tar.addfile(t, io.BytesIO(body))
        for applet in ("sh", "httpd", "mkdir", "sleep", "wget"):
            ln = tarfile.TarInfo(f"bin/{applet}")
            ln.type, ln.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(ln)
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    layer = blob(gzip.compress(raw.getvalue(), mtime=0))
    config = blob(json.dumps({"architecture": "amd64", "os": "linux",
                              "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
                              "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode())
    manifest = blob(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}).encode())
    with open(f"{layout}/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [dict(
            manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
            annotations={"org.opencontainers.image.ref.name": "v1"})]}, f)
    with open(f"{layout}/oci-layout", "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


# ------------------------------------------------------------------ identities

AGENT_ECS = {"Effect": "Allow", "Resource": "*", "Action": [
    "ecs:RegisterContainerInstance", "ecs:Poll", "ecs:SubmitTaskStateChange", "ecs:SubmitContainerStateChange"]}
PULL = ["ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]


def policy(name, statements):
    doc = json.dumps({"Version": "2012-10-17", "Statement": statements})
    return iam.create_policy(PolicyName=name, PolicyDocument=doc)["Policy"]["Arn"]


def setup_identities():
    iam.create_user(UserName="bootstrap")
    iam.attach_user_policy(UserName="bootstrap", PolicyArn=policy(
        "assume", [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]))
    key = iam.create_access_key(UserName="bootstrap")["AccessKey"]
    with open(f"{tmp}/bootstrap.creds", "w") as f:
        f.write(f"[default]\naws_access_key_id = {key['AccessKeyId']}\n"
                f"aws_secret_access_key = {key['SecretAccessKey']}\n")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bootstrap"}, "Action": "sts:AssumeRole"}]})
    for role, actions in (("ecsInstanceRole", PULL), ("noPullRole", ["ecr:GetAuthorizationToken"])):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
        iam.attach_role_policy(RoleName=role, PolicyArn=policy(
            role + "-policy", [AGENT_ECS, {"Effect": "Allow", "Action": actions, "Resource": "*"}]))
    # the task role: ECS's tasks may assume it (nothing attached: get-caller-identity needs no permission)
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))


# ------------------------------------------------------------------ agents

def start_agent(n, cluster, role):
    log = open(f"{tmp}/agent.{n}.log", "a")
    env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=f"{tmp}/bootstrap.creds")
    p = subprocess.Popen([berth, "agent", "--endpoint-url", base, "--cluster", cluster, "--cpu", "2048", "--memory", "1024",
                          "--runtime", "docker", "--docker-host", docker_host, "--state-dir", f"{tmp}/agent.{n}",
                          "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/{role}", "--stop-timeout", "5",
                          # berthd's service scheduler does not wake a parked poll when it places a task (RunTask does)
                          "--poll-seconds", "2"],
                         stdout=log, stderr=log, env=env)
    with open(f"{tmp}/agent.{n}.pid", "w") as f:
        f.write(str(p.pid))
    return p


def instance_of(n):
    with open(f"{tmp}/agent.{n}/state.json") as f:
        return json.load(f)["containerInstanceArn"]


def state(cluster):
    arns = []
    for desired in ("RUNNING", "STOPPED"):
        arns += ecs.list_tasks(cluster=cluster, desiredStatus=desired)["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    iarns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    instances = ecs.describe_container_instances(cluster=cluster, containerInstances=iarns)[
        "containerInstances"] if iarns else []
    return tasks, instances


def wait(cluster, timeout, cond, what):
    """Polls the cluster until cond(tasks, instances) holds; the last state if it never does."""
    end = time.time() + timeout
    while True:
        tasks, instances = state(cluster)
        if cond(tasks, instances):
            return tasks, instances
        if time.time() > end:
            raise AssertionError(f"waited {timeout} s for {what}; tasks: " + json.dumps(
                [[t["taskArn"][-8:], t["lastStatus"], t.get("stoppedReason")] for t in tasks], default=str))
        time.sleep(0.3)


def engine(*args):
    return subprocess.run(DOCKER + list(args), capture_output=True, text=True, check=True).stdout


def engine_containers(label):
    """{container id: state} of the engine's containers with label, stopped ones too."""
    out = engine("ps", "-a", "--no-trunc", "--filter", "label=" + label, "--format", "{{.ID}} {{.State}}")
    return dict(line.split() for line in out.splitlines())


def berth_networks():
    out = engine("network", "ls", "--no-trunc", "--filter", "name=berth", "--format", "{{.ID}} {{.Name}}")
    return sorted(line.split()[0] for line in out.splitlines() if line.endswith(" berth"))


def curl(port):
    r = subprocess.run(["curl", "-s", "-m", "5", f"http://127.0.0.1:{port}/"], capture_output=True, text=True)
    return r.stdout.strip()


def running(cluster, group=None):
    return lambda tasks, _: [t for t in tasks if t["lastStatus"] == "RUNNING" and (not group or t.get("group") == group)]


# ------------------------------------------------------------------ cases

results = {"passed": 0, "failed": 0}


def case(name):
    def run(fn):
        problems, start = [], time.time()
        try:
            fn(lambda what, want, got: problems.append(f"{what}\n      - expected: {want!r}\n      + actual:   {got!r}")
               if want != got else None)
        except Exception as e:  # an unmet wait or a refused call: the case fails with it
            problems.append(f"{type(e).__name__}: {e}")
        if problems:
            results["failed"] += 1
            print(f"FAIL  {name}")
            for p in problems:
                print("      " + p)
        else:
            results["passed"] += 1
            print(f"PASS  {name}  ({time.time() - start:.1f} s)")
        sys.stdout.flush()
    return run


HTTPD = 'trap "exit 143" TERM; mkdir -p /www; echo "$GREETING from $HOSTNAME" >/www/index.html; httpd -f -p 8080 -h /www & wait'

T0 = time.time()
build_image(f"{tmp}/oci")
setup_identities()
password = client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
import base64  # noqa: E402 (only here)

password = base64.b64decode(password).decode().split(":", 1)[1]
subprocess.run(["skopeo", "--policy", f"{tmp}/policy.json", "copy", "--dest-tls-verify=false", "--dest-creds",
                f"AWS:{password}", f"oci:{tmp}/oci:v1", f"docker://{IMAGE}"], check=True, capture_output=True)
BERTH_NETS = berth_networks()
assert len(BERTH_NETS) == 2, BERTH_NETS
for c in ("web", "nopull"):
    ecs.create_cluster(clusterName=c)
agents = {1: start_agent(1, "web", "ecsInstanceRole"), 2: start_agent(2, "web", "ecsInstanceRole"),
          3: start_agent(3, "nopull", "noPullRole")}
ecs.register_task_definition(family="web", networkMode="bridge", containerDefinitions=[{
    "name": "web", "image": IMAGE, "cpu": 128, "memory": 64, "memoryReservation": 32, "essential": True,
    "portMappings": [{"containerPort": 8080, "hostPort": 0}], "environment": [{"name": "GREETING", "value": "hello"}],
    "command": ["sh", "-c", HTTPD], "stopTimeout": 5}])
print(f"# image, identities, push, agents started: {time.time() - T0:.1f} s")


@case("two agents on one engine; a service of 3 tasks runs, each answering curl on the host port the engine chose")
def t_service(check):
    wait("web", 20, lambda _, i: len(i) == 2 and all(x["agentConnected"] for x in i), "2 connected agents")
    ecs.create_service(cluster="web", serviceName="web", taskDefinition="web", desiredCount=3,
                       placementStrategy=[{"type": "spread", "field": "instanceId"}])
    tasks, _ = wait("web", 30, lambda t, i: len(running("web")(t, i)) == 3, "3 RUNNING tasks")
    ports = []
    for t in tasks:
        c = t["containers"][0]
        nb = c.get("networkBindings", [])
        check("the task's bindings", [(8080, "tcp", "0.0.0.0")], [(b["containerPort"], b["protocol"], b["bindIP"]) for b in nb])
        if nb:
            ports.append(nb[0]["hostPort"])
            check(f"curl of task {t['taskArn'][-8:]} on port {nb[0]['hostPort']}", f"hello from {c['runtimeId'][:12]}",
                  curl(nb[0]["hostPort"]))
    check("distinct host ports", 3, len(set(ports)))
    check("tasks per instance", [1, 2], sorted(
        sum(t["containerInstanceArn"] == instance_of(n) for t in tasks) for n in (1, 2)))
    for n in (1, 2):
        mine = {t["containers"][0]["runtimeId"] for t in tasks if t["containerInstanceArn"] == instance_of(n)}
        check(f"the engine's containers labelled with agent {n}'s instance",
              {i: "running" for i in mine}, engine_containers("com.berth.ecs.container-instance-arn=" + instance_of(n)))
    t = tasks[0]
    info = json.loads(engine("inspect", t["containers"][0]["runtimeId"]))[0]
    hc, labels = info["HostConfig"], info["Config"]["Labels"]
    check("CpuShares, Memory, MemoryReservation", [128, 64 << 20, 32 << 20], [hc["CpuShares"], hc["Memory"], hc["MemoryReservation"]])
    # the script made two networks named berth: every container is on the one of lowest id, the other removed
    modes = {json.loads(engine("inspect", x["containers"][0]["runtimeId"]))[0]["HostConfig"]["NetworkMode"] for x in tasks}
    check("every container's network: the berth of lowest id, its twin removed", [min(BERTH_NETS)],
          sorted(modes))
    check("networks named berth left", [min(BERTH_NETS)], berth_networks())
    check("labels", [t["taskArn"], "web", "web", "5"], [labels.get("com.berth.ecs." + k) for k in (
        "task-arn", "container-name", "cluster", "stop-timeout")])
    check("GREETING in Env", True, "GREETING=hello" in info["Config"]["Env"])


@case("StopTask: SIGTERM (the container's trap exits 143), the container removed; the service starts another")
def t_stop(check):
    tasks, _ = state("web")
    victim = [t for t in tasks if t["lastStatus"] == "RUNNING" and t["containerInstanceArn"] == instance_of(2)][0]
    rid = victim["containers"][0]["runtimeId"]
    ecs.stop_task(cluster="web", task=victim["taskArn"], reason="e2e says stop")
    tasks, _ = wait("web", 15, lambda t, i: any(x["taskArn"] == victim["taskArn"] and x["lastStatus"] == "STOPPED"
                                               for x in t), "the stopped task")
    t = [x for x in tasks if x["taskArn"] == victim["taskArn"]][0]
    check("stoppedReason, exit code", ["e2e says stop", 143], [t.get("stoppedReason"), t["containers"][0].get("exitCode")])
    check("the container in the engine", {}, engine_containers("com.berth.ecs.task-arn=" + victim["taskArn"]))
    check("docker ps -a lists it", False, rid in engine("ps", "-aq", "--no-trunc"))
    wait("web", 20, lambda t, i: len(running("web")(t, i)) == 3, "the service's replacement")


@case("an essential container exits 3: the task stops, its other container killed after stopTimeout 1 (137)")
def t_essential(check):
    ecs.register_task_definition(family="batch", containerDefinitions=[
        {"name": "main", "image": IMAGE, "memory": 32, "command": ["sh", "-c", "sleep 1; exit 3"]},
        {"name": "side", "image": IMAGE, "memory": 32, "essential": False, "command": ["httpd", "-f", "-p", "8081"],
         "stopTimeout": 1}])
    arn = ecs.run_task(cluster="web", taskDefinition="batch")["tasks"][0]["taskArn"]
    tasks, _ = wait("web", 20, lambda t, i: any(x["taskArn"] == arn and x["lastStatus"] == "STOPPED" for x in t),
                    "the batch task STOPPED")
    t = [x for x in tasks if x["taskArn"] == arn][0]
    check("stoppedReason, stopCode", ["Essential container in task exited", "EssentialContainerExited"],
          [t.get("stoppedReason"), t.get("stopCode")])
    check("exit codes", {"main": 3, "side": 137}, {c["name"]: c.get("exitCode") for c in t["containers"]})
    check("the engine's containers of the task", {}, engine_containers("com.berth.ecs.task-arn=" + arn))


@case("a host-network task: the engine's NetworkMode host, its port answers on the host, bound as defined")
def t_host(check):
    with socket.socket() as sk:  # a port free now; berthd claims it on the instance
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    ecs.register_task_definition(family="hostweb", networkMode="host", containerDefinitions=[{
        "name": "web", "image": IMAGE, "memory": 32, "portMappings": [{"containerPort": port}],
        "environment": [{"name": "GREETING", "value": "host"}], "command": ["sh", "-c", HTTPD.replace("8080", str(port))]}])
    arn = ecs.run_task(cluster="web", taskDefinition="hostweb")["tasks"][0]["taskArn"]
    tasks, _ = wait("web", 20, lambda t, i: any(x["taskArn"] == arn and x["lastStatus"] == "RUNNING" for x in t),
                    "the host task RUNNING")
    c = [x for x in tasks if x["taskArn"] == arn][0]["containers"][0]
    check("bindings", [(port, port)], [(b["containerPort"], b["hostPort"]) for b in c.get("networkBindings", [])])
    check("NetworkMode", "host", json.loads(engine("inspect", c["runtimeId"]))[0]["HostConfig"]["NetworkMode"])
    check("curl on the host's port", "host from", curl(port)[:9])
    ecs.stop_task(cluster="web", task=arn)
    tasks, _ = wait("web", 15, lambda t, i: any(x["taskArn"] == arn and x["lastStatus"] == "STOPPED" for x in t),
                    "the host task STOPPED")
    check("exit code", 143, [x for x in tasks if x["taskArn"] == arn][0]["containers"][0].get("exitCode"))


def container_env(rid):
    return dict(e.split("=", 1) for e in json.loads(engine("inspect", rid))[0]["Config"]["Env"])


def in_container(rid, token, uri):
    """busybox wget in the container with the token: (exit status, what it printed)."""
    r = subprocess.run(DOCKER + ["exec", rid, "wget", "-q", "-O", "-", "--header", "Authorization: " + token, uri],
                       capture_output=True, text=True)
    return r.returncode, r.stdout


@case("a host-network task with a task role: its container's wget fetches the role's credentials from the agent's "
      "endpoint, aws sts get-caller-identity with them answers assumed-role/app/TASKID; another task's token gets nothing")
def t_task_role(check):
    # the container fetches its credentials as an SDK would, with what the agent put in its environment
    fetch = 'wget -q -O - --header "Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN" "$AWS_CONTAINER_CREDENTIALS_FULL_URI"'
    ecs.register_task_definition(family="roled", networkMode="host", taskRoleArn="app", containerDefinitions=[{
        "name": "app", "image": IMAGE, "memory": 32, "stopTimeout": 1,
        "command": ["sh", "-c", f'trap "exit 143" TERM; {fetch}; echo; sleep 300 & wait']}])
    arns = [t["taskArn"] for t in ecs.run_task(cluster="web", taskDefinition="roled", count=2)["tasks"]]
    check("tasks placed", 2, len(arns))
    tasks, _ = wait("web", 20, lambda t, i: sum(x["taskArn"] in arns and x["lastStatus"] == "RUNNING" for x in t) == 2,
                    "the role tasks RUNNING")
    rids = [[x for x in tasks if x["taskArn"] == a][0]["containers"][0]["runtimeId"] for a in arns]
    envs = [container_env(r) for r in rids]
    check("the endpoint's URI", [True, True], [bool(re.fullmatch(r"http://127\.0\.0\.1:\d+/v1/credentials",
                                                                  e.get("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")))
                                               for e in envs])
    tokens = [e.get("AWS_CONTAINER_AUTHORIZATION_TOKEN", "") for e in envs]
    check("each task its own token", [True, True, True], [bool(tokens[0]), bool(tokens[1]), tokens[0] != tokens[1]])
    end, logs = time.time() + 10, ""
    while time.time() < end and "AccessKeyId" not in logs:
        logs = engine("logs", rids[0])
        time.sleep(0.2)
    try:
        creds = json.loads(logs.strip().splitlines()[0])
    except (ValueError, IndexError):
        creds = {}
    check("what the container fetched: an ASIA key of role app", [True, f"arn:aws:iam::{ACCOUNT}:role/app"],
          [creds.get("AccessKeyId", "").startswith("ASIA"), creds.get("RoleArn")])
    env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_CONFIG_FILE="/dev/null",
               AWS_ACCESS_KEY_ID=creds.get("AccessKeyId", ""), AWS_SECRET_ACCESS_KEY=creds.get("SecretAccessKey", ""),
               AWS_SESSION_TOKEN=creds.get("Token", ""))
    r = subprocess.run(["/usr/bin/aws", "--endpoint-url", base, "--region", "us-east-1", "--output", "json", "sts",
                        "get-caller-identity"], capture_output=True, text=True, env=env, timeout=60)
    check("aws sts get-caller-identity with them", f"arn:aws:sts::{ACCOUNT}:assumed-role/app/{arns[0].rsplit('/', 1)[1]}",
          json.loads(r.stdout).get("Arn") if r.returncode == 0 else r.stderr.strip())
    # task 2's token: at its own agent's endpoint it is task 2's; once task 2 stopped, nowhere anything
    uri2 = envs[1].get("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
    st, out = in_container(rids[0], tokens[1], uri2)
    check("task 2's token while it runs: task 2's credentials", [0, True], [st, '"AccessKeyId"' in out])
    ecs.stop_task(cluster="web", task=arns[1])
    wait("web", 15, lambda t, i: any(x["taskArn"] == arns[1] and x["lastStatus"] == "STOPPED" for x in t), "task 2 STOPPED")
    for uri in sorted({uri2, envs[0].get("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")}):
        st, out = in_container(rids[0], tokens[1], uri)
        check(f"task 1's container with stopped task 2's token at {uri}", [True, False], [st != 0, "AccessKeyId" in out])
    st, out = in_container(rids[0], tokens[0], envs[0].get("AWS_CONTAINER_CREDENTIALS_FULL_URI", ""))
    check("task 1's own token still", [0, True], [st, '"AccessKeyId"' in out])
    ecs.stop_task(cluster="web", task=arns[0])
    wait("web", 15, lambda t, i: any(x["taskArn"] == arns[0] and x["lastStatus"] == "STOPPED" for x in t), "task 1 STOPPED")


@case("agent 1 killed, its task list lost, restarted: it re-discovers its containers by label, agent 2's untouched")
def t_restart(check):
    before1 = engine_containers("com.berth.ecs.container-instance-arn=" + instance_of(1))
    before2 = engine_containers("com.berth.ecs.container-instance-arn=" + instance_of(2))
    agents[1].kill()
    agents[1].wait()
    path = f"{tmp}/agent.1/state.json"
    with open(path) as f:
        s = json.load(f)
    s["tasks"] = {}
    with open(path, "w") as f:
        json.dump(s, f)
    agents[1] = start_agent(1, "web", "ecsInstanceRole")
    deadline = time.time() + 20
    while time.time() < deadline and len(json.load(open(path))["tasks"]) < len(before1):
        time.sleep(0.3)
    check("agent 1's containers after the restart (the same ones)", before1,
          engine_containers("com.berth.ecs.container-instance-arn=" + instance_of(1)))
    check("agent 2's containers", before2, engine_containers("com.berth.ecs.container-instance-arn=" + instance_of(2)))
    check("containers adopted", len(before1), open(f"{tmp}/agent.1.log").read().count("adopted the engine's container"))
    tasks, _ = state("web")
    mine = [t for t in tasks if t["containerInstanceArn"] == instance_of(1) and t["lastStatus"] == "RUNNING"]
    check("agent 1's running tasks", sorted(before1), sorted(t["containers"][0]["runtimeId"] for t in mine))
    if mine:
        b = mine[0]["containers"][0]["networkBindings"][0]
        check("curl after the restart", f"hello from {mine[0]['containers'][0]['runtimeId'][:12]}", curl(b["hostPort"]))
        ecs.stop_task(cluster="web", task=mine[0]["taskArn"])
        tasks, _ = wait("web", 15, lambda t, i: any(x["taskArn"] == mine[0]["taskArn"] and x["lastStatus"] == "STOPPED"
                                                   for x in t), "the re-discovered task STOPPED")
        check("its container after StopTask", {}, engine_containers("com.berth.ecs.task-arn=" + mine[0]["taskArn"]))


@case("an instance role that may not pull: the task STOPPED with CannotPullContainerError (the engine's cache no help)")
def t_nopull(check):
    wait("nopull", 20, lambda _, i: len(i) == 1 and i[0]["agentConnected"], "the nopull agent")
    arn = ecs.run_task(cluster="nopull", taskDefinition="web")["tasks"][0]["taskArn"]
    tasks, _ = wait("nopull", 20, lambda t, i: t and t[0]["lastStatus"] == "STOPPED", "the task STOPPED")
    t = tasks[0]
    check("stopCode", "TaskFailedToStart", t.get("stopCode"))
    check("stoppedReason starts with", "CannotPullContainerError", (t.get("stoppedReason") or "")[:24])
    check("the engine's containers of the task", {}, engine_containers("com.berth.ecs.task-arn=" + arn))
    print("      # " + (t.get("stoppedReason") or "")[:200])


@case("berth agent refuses a --docker-host that is no unix socket, and says when no engine answers on it")
def t_options(check):
    common = [berth, "agent", "--endpoint-url", base, "--cluster", "web", "--cpu", "1", "--memory", "1", "--runtime", "docker",
              "--state-dir", f"{tmp}/agent.options"]
    env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=f"{tmp}/bootstrap.creds")
    for extra, rc, words in ((["--docker-host", "tcp://127.0.0.1:2375"], 2, "--docker-host: unix:///path"),
                             (["--docker-host", f"unix://{tmp}/no.sock"], 1, f"the Docker engine at unix://{tmp}/no.sock"),
                             (["--stop-timeout", "-1"], 2, "--stop-timeout: seconds"),
                             (["--docker-network", "a b"], 1, "--docker-network: a network name")):
        r = subprocess.run(common + extra, capture_output=True, text=True, env=env, timeout=20)
        check(f"{extra}: exit status and message", [rc, True], [r.returncode, words in r.stderr])


for a in agents.values():
    a.terminate()
for a in agents.values():
    a.wait()
print(f"{results['passed']} passed, {results['failed']} failed, 0 skipped")
sys.exit(1 if results["failed"] else 0)
