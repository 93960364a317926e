#!/usr/bin/env python3
"""Placement on live cluster state through the ECS API, driven by boto3.

usage: ecs_placement.py BASE CREDENTIALS_FILE CASE

Each CASE builds its own cluster (instances registered through the API, as an
agent will), runs tasks and checks where they landed, what failed and why,
and what the instances have left. It prints one line per check that failed
("- expected / + actual") and exits 1 if any did, 0 otherwise.

  spread_binpack   12 tasks, spread on attribute:ecs.availability-zone then
                   binpack on memory, over 6 instances in 3 AZs: the exact
                   instances ECS would choose
  failures         RESOURCE:CPU, RESOURCE:MEMORY, RESOURCE:PORTS, MemberOf and
                   DistinctInstance failures, each on the instances it names
  draining         a DRAINING instance gets no new task; ACTIVE again, it does
  stop_releases    StopTask gives back CPU, memory and host ports at once
  concurrent       200 concurrent RunTask calls (boto3 threads) over 10
                   instances never oversubscribe CPU, memory or a host port
  tags             TagResource, UntagResource, ListTagsForResource and the tags
                   given at creation, on clusters, task definitions, services,
                   tasks and container instances; include TAGS on Describe*
  client_token     RunTask's clientToken (sent by newer SDKs with every call):
                   the same token and request answer the first run's tasks,
                   another request under it is a ConflictException, tokens
                   are per cluster, malformed ones are refused
"""
import collections
import configparser
import concurrent.futures
import json
import sys
import threading
import uuid

import boto3
import botocore.config
import botocore.exceptions

base, creds, case = sys.argv[1], sys.argv[2], sys.argv[3]
cp = configparser.ConfigParser()
cp.read(creds)
KEY, SECRET = cp["default"]["aws_access_key_id"], cp["default"]["aws_secret_access_key"]
CONFIG = botocore.config.Config(retries={"max_attempts": 1}, max_pool_connections=64)
failed = []


def client():
    return boto3.client("ecs", endpoint_url=base, region_name="us-east-1", aws_access_key_id=KEY,
                        aws_secret_access_key=SECRET, config=CONFIG)


ecs = client()


def check(what, want, got):
    if want != got:
        failed.append(what)
        print(f"FAILED {what}\n  - {want!r}\n  + {got!r}")


def new_cluster():
    name = "e2e-" + uuid.uuid4().hex[:8]
    ecs.create_cluster(clusterName=name)
    return name


def register(cluster, name, az, cpu, mem, ports=(), extra=None):
    """Registers an instance as an agent would; returns its ARN."""
    doc = json.dumps({"instanceId": name, "availabilityZone": az, "instanceType": "m5.large"})
    res = [{"name": "CPU", "type": "INTEGER", "integerValue": cpu},
           {"name": "MEMORY", "type": "INTEGER", "integerValue": mem},
           {"name": "PORTS", "type": "STRINGSET", "stringSetValue": [str(p) for p in ports]}]
    attrs = [{"name": k, "value": v} for k, v in (extra or {}).items()]
    r = ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=doc, totalResources=res, attributes=attrs)
    return r["containerInstance"]["containerInstanceArn"]


def task_def(family, cpu, mem, ports=(), network="bridge"):
    mappings = [{"containerPort": c, "hostPort": h, "protocol": "tcp"} for c, h in ports]
    r = ecs.register_task_definition(family=family, networkMode=network, containerDefinitions=[
        {"name": "app", "image": "busybox", "cpu": cpu, "memory": mem, "portMappings": mappings, "essential": True}])
    return r["taskDefinition"]["taskDefinitionArn"]


def instances(cluster, arns):
    got = {}
    for i in range(0, len(arns), 100):
        for ci in ecs.describe_container_instances(cluster=cluster, containerInstances=arns[i:i + 100])["containerInstances"]:
            res = {r["name"]: r for r in ci["remainingResources"]}
            reg = {r["name"]: r for r in ci["registeredResources"]}
            got[ci["containerInstanceArn"]] = {
                "cpu": res["CPU"]["integerValue"], "mem": res["MEMORY"]["integerValue"],
                "reg_cpu": reg["CPU"]["integerValue"], "reg_mem": reg["MEMORY"]["integerValue"],
                "ports": sorted(int(p) for p in res["PORTS"].get("stringSetValue", [])),
                "running": ci["runningTasksCount"], "pending": ci["pendingTasksCount"], "status": ci["status"]}
    return got


def all_tasks(cluster):
    arns = []
    token = None
    while True:
        kw = {"cluster": cluster, "maxResults": 100}
        if token:
            kw["nextToken"] = token
        r = ecs.list_tasks(**kw)
        arns += r["taskArns"]
        token = r.get("nextToken")
        if not token:
            break
    tasks = []
    for i in range(0, len(arns), 100):
        tasks += ecs.describe_tasks(cluster=cluster, tasks=arns[i:i + 100])["tasks"]
    return tasks


def case_spread_binpack():
    c = new_cluster()
    # two instances per AZ, every memory size different so binpack never ties
    mem = {"A": 4096, "B": 2048, "C": 4000, "D": 1900, "E": 3900, "F": 1800}
    az = {"A": "az-1", "B": "az-1", "C": "az-2", "D": "az-2", "E": "az-3", "F": "az-3"}
    arn = {n: register(c, "i-" + n, az[n], 4096, mem[n]) for n in "ABCDEF"}
    name = {v: k for k, v in arn.items()}
    td = task_def("e2e-spread", 128, 512)
    r = ecs.run_task(cluster=c, taskDefinition=td, count=10, placementStrategy=[
        {"type": "spread", "field": "attribute:ecs.availability-zone"}, {"type": "binpack", "field": "memory"}])
    r2 = ecs.run_task(cluster=c, taskDefinition=td, count=2, placementStrategy=[
        {"type": "spread", "field": "attribute:ecs.availability-zone"}, {"type": "binpack", "field": "memory"}])
    # ECS, task by task: the AZs with fewest tasks of the group, then the instance
    # with the least memory left that still fits 512 MiB (F, D, B fill up first;
    # the 10th task goes to B, the last one with 512 left; then E and C)
    want = ["F", "D", "B", "F", "D", "B", "F", "D", "B", "B", "E", "C"]
    got = [name[t["containerInstanceArn"]] for t in r["tasks"] + r2["tasks"]]
    check("the 12 tasks' instances, in order", want, got)
    check("failures", [], r["failures"] + r2["failures"])
    left = instances(c, list(arn.values()))
    check("memory left per instance", {"A": 4096, "B": 0, "C": 3488, "D": 364, "E": 3388, "F": 264},
          {name[a]: v["mem"] for a, v in left.items()})
    check("pending tasks per instance", {"A": 0, "B": 4, "C": 1, "D": 3, "E": 1, "F": 3},
          {name[a]: v["pending"] for a, v in left.items()})
    cl = ecs.describe_clusters(clusters=[c])["clusters"][0]
    check("cluster counts", (6, 12, 0), (cl["registeredContainerInstancesCount"], cl["pendingTasksCount"], cl["runningTasksCount"]))
    # the same cluster through the Cluster Query Language
    r = ecs.list_container_instances(cluster=c, filter="attribute:ecs.availability-zone == az-2")
    check("list-container-instances --filter az-2", sorted([arn["C"], arn["D"]]), sorted(r["containerInstanceArns"]))


def case_failures():
    c = new_cluster()
    arn = {n: register(c, "i-" + n, "az-" + str(k % 2), 1024, 1024, ports=[22]) for k, n in enumerate("PQR")}
    by = lambda r: sorted((f["arn"], f["reason"]) for f in r["failures"])  # noqa: E731
    r = ecs.run_task(cluster=c, taskDefinition=task_def("e2e-big-cpu", 2048, 128))
    check("RESOURCE:CPU on each instance", sorted((a, "RESOURCE:CPU") for a in arn.values()), by(r))
    check("no task placed (cpu)", [], r["tasks"])
    r = ecs.run_task(cluster=c, taskDefinition=task_def("e2e-big-mem", 128, 2048))
    check("RESOURCE:MEMORY on each instance", sorted((a, "RESOURCE:MEMORY") for a in arn.values()), by(r))
    # port 22 is reserved by every instance at registration
    r = ecs.run_task(cluster=c, taskDefinition=task_def("e2e-ssh", 10, 10, ports=[(22, 22)]))
    check("RESOURCE:PORTS for a reserved host port", sorted((a, "RESOURCE:PORTS") for a in arn.values()), by(r))
    td = task_def("e2e-fixed", 10, 10, ports=[(80, 8080)])
    r = ecs.run_task(cluster=c, taskDefinition=td, count=4)
    check("3 of 4 fixed-port tasks placed, one per instance", 3, len({t["containerInstanceArn"] for t in r["tasks"]}))
    check("the 4th: RESOURCE:PORTS on each instance", sorted((a, "RESOURCE:PORTS") for a in arn.values()), by(r))
    r = ecs.run_task(cluster=c, taskDefinition=task_def("e2e-small", 10, 10),
                     placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.availability-zone == az-9"}])
    check("memberOf nothing", sorted((a, "MemberOf placement constraint unsatisfied.") for a in arn.values()), by(r))
    r = ecs.run_task(cluster=c, taskDefinition=task_def("e2e-small", 10, 10), count=4, group="distinct",
                     placementConstraints=[{"type": "distinctInstance"}])
    check("distinctInstance: 3 placed on 3 instances", 3, len({t["containerInstanceArn"] for t in r["tasks"]}))
    check("the 4th: DistinctInstance on each instance",
          sorted((a, "DistinctInstance placement constraint unsatisfied.") for a in arn.values()), by(r))


def case_draining():
    c = new_cluster()
    a = register(c, "i-a", "az-1", 1024, 1024)
    b = register(c, "i-b", "az-1", 1024, 4096)
    r = ecs.update_container_instances_state(cluster=c, containerInstances=[b], status="DRAINING")
    check("status after update", ["DRAINING"], [ci["status"] for ci in r["containerInstances"]])
    td = task_def("e2e-drain", 10, 100)
    r = ecs.run_task(cluster=c, taskDefinition=td, count=5, placementStrategy=[{"type": "binpack", "field": "memory"}])
    check("every task on the ACTIVE instance", [a] * 5, [t["containerInstanceArn"] for t in r["tasks"]])
    r = ecs.run_task(cluster=c, taskDefinition=task_def("e2e-drain-big", 10, 2048))
    check("too big for the ACTIVE one: DRAINING is the reason on the other",
          sorted([(a, "RESOURCE:MEMORY"), (b, "DRAINING")]), sorted((f["arn"], f["reason"]) for f in r["failures"]))
    r = ecs.list_container_instances(cluster=c, status="DRAINING")
    check("list-container-instances --status DRAINING", [b], r["containerInstanceArns"])
    ecs.update_container_instances_state(cluster=c, containerInstances=[b], status="ACTIVE")
    r = ecs.run_task(cluster=c, taskDefinition=td, count=2, group="g", placementConstraints=[{"type": "distinctInstance"}])
    check("ACTIVE again: it gets tasks", sorted([a, b]), sorted(t["containerInstanceArn"] for t in r["tasks"]))


def case_stop_releases():
    c = new_cluster()
    a = register(c, "i-a", "az-1", 1024, 1024, ports=[22])
    td = task_def("e2e-stop", 256, 300, ports=[(80, 8080), (81, 0)])
    r = ecs.run_task(cluster=c, taskDefinition=td)
    t = r["tasks"][0]
    bindings = sorted((b["containerPort"], b["hostPort"]) for b in t["containers"][0]["networkBindings"])
    check("network bindings: the fixed port and the first of the dynamic range", [(80, 8080), (81, 49153)], bindings)
    left = instances(c, [a])[a]
    check("claimed", (768, 724, [22, 8080, 49153]), (left["cpu"], left["mem"], left["ports"]))
    r = ecs.run_task(cluster=c, taskDefinition=td)
    check("a second one cannot have 8080", [(a, "RESOURCE:PORTS")], [(f["arn"], f["reason"]) for f in r["failures"]])
    s = ecs.stop_task(cluster=c, task=t["taskArn"], reason="e2e says stop")["task"]
    check("stopped task", ("STOPPED", "STOPPED", "e2e says stop"), (s["desiredStatus"], s["lastStatus"], s["stoppedReason"]))
    left = instances(c, [a])[a]
    check("released at once", (1024, 1024, [22]), (left["cpu"], left["mem"], left["ports"]))
    d = ecs.describe_tasks(cluster=c, tasks=[t["taskArn"]])["tasks"][0]
    check("describe-tasks shows it stopped", ("STOPPED", "e2e says stop"), (d["lastStatus"], d["stoppedReason"]))
    check("list-tasks (RUNNING) is empty", [], ecs.list_tasks(cluster=c)["taskArns"])
    check("list-tasks --desired-status STOPPED", [t["taskArn"]], ecs.list_tasks(cluster=c, desiredStatus="STOPPED")["taskArns"])
    r = ecs.run_task(cluster=c, taskDefinition=td)
    check("8080 is free again", [], r["failures"])


def case_concurrent():
    c = new_cluster()
    arns = [register(c, f"i-{k}", f"az-{k % 3}", 1024, 1024) for k in range(10)]
    fixed = task_def("e2e-conc-fixed", 100, 100, ports=[(80, 7000)])
    dynamic = task_def("e2e-conc-dyn", 100, 100, ports=[(80, 0), (443, 0)])
    local = threading.local()
    strategies = [[{"type": "spread", "field": "attribute:ecs.availability-zone"}, {"type": "binpack", "field": "memory"}],
                  [{"type": "binpack", "field": "cpu"}], [{"type": "random"}], []]

    def one(k):
        if not hasattr(local, "ecs"):
            local.ecs = client()
        r = local.ecs.run_task(cluster=c, taskDefinition=fixed if k % 2 else dynamic, placementStrategy=strategies[k % 4])
        return len(r["tasks"]), [f["reason"] for f in r["failures"]]

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(one, range(200)))
    placed = sum(n for n, _ in results)
    # 10 instances x 1024 MiB / 100 MiB = 100 tasks fit, and no more
    check("tasks placed by 200 concurrent RunTask", 100, placed)
    check("every unplaced call says why", True, all(n == 1 or reasons for n, reasons in results))
    tasks = all_tasks(c)
    check("tasks listed", 100, len(tasks))
    per = collections.defaultdict(list)
    for t in tasks:
        per[t["containerInstanceArn"]].append(t)
    left = instances(c, arns)
    for a in arns:
        ts = per[a]
        ports = [b["hostPort"] for t in ts for b in t["containers"][0]["networkBindings"]]
        check(f"{a[-8:]}: no host port twice", len(ports), len(set(ports)))
        check(f"{a[-8:]}: port 7000 at most once", True, ports.count(7000) <= 1)
        check(f"{a[-8:]}: memory of its tasks within 1024", True, sum(int(t["memory"]) for t in ts) <= 1024)
        check(f"{a[-8:]}: remaining = registered - tasks (cpu, memory)",
              (1024 - sum(int(t["cpu"]) for t in ts), 1024 - sum(int(t["memory"]) for t in ts)), (left[a]["cpu"], left[a]["mem"]))
        check(f"{a[-8:]}: ports taken = the tasks' host ports", sorted(ports), left[a]["ports"])
        check(f"{a[-8:]}: pending count", len(ts), left[a]["pending"])


def with_token(client, token):
    """client's RunTask calls carry clientToken (Debian's boto3 predates the parameter: set in the body before signing)"""
    def add(request, **_):
        body = json.loads(request.data)
        body["clientToken"] = token
        request.data = json.dumps(body).encode()
    client.meta.events.register("before-sign.ecs.RunTask", add)
    return client


def error_of(fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    return None, None


def case_client_token():
    c, c2 = new_cluster(), new_cluster()
    a = register(c, "i-a", "az-1", 1024, 1024)
    register(c2, "i-b", "az-1", 1024, 1024)
    td = task_def("e2e-token", 100, 100)
    tok = with_token(client(), "e2e-" + uuid.uuid4().hex)
    first = tok.run_task(cluster=c, taskDefinition=td)["tasks"]
    check("the first run places one task", 1, len(first))
    again = tok.run_task(cluster=c, taskDefinition=td)["tasks"]
    check("the same token and request: the same task", [t["taskArn"] for t in first], [t["taskArn"] for t in again])
    check("placed once", (924, 1), (instances(c, [a])[a]["cpu"], len(all_tasks(c))))
    code, msg = error_of(tok.run_task, cluster=c, taskDefinition=td, count=2)
    check("another request under the token", ("ConflictException", True), (code, first[0]["taskArn"] in (msg or "")))
    other = tok.run_task(cluster=c2, taskDefinition=td)["tasks"]
    check("the token in another cluster is another request", (1, True),
          (len(other), bool(other) and other[0]["taskArn"] != first[0]["taskArn"]))
    for bad in ("has space", "", "x" * 65, "caf\u00e9"):
        code, msg = error_of(with_token(client(), bad).run_task, cluster=c, taskDefinition=td)
        check(f"clientToken {bad[:10]!r}", ("InvalidParameterException", True), (code, "clientToken" in (msg or "")))
    plain = [ecs.run_task(cluster=c, taskDefinition=td)["tasks"][0]["taskArn"] for _ in range(2)]
    check("without a token every call runs", 2, len(set(plain)))


def case_tags():
    c = "e2e-" + uuid.uuid4().hex[:8]
    carn = ecs.create_cluster(clusterName=c, tags=[{"key": "team", "value": "a"}])["cluster"]["clusterArn"]
    acct = carn.split(":")[4]
    check("cluster tags from CreateCluster", [{"key": "team", "value": "a"}], ecs.list_tags_for_resource(resourceArn=carn)["tags"])
    ecs.tag_resource(resourceArn=carn, tags=[{"key": "team", "value": "b"}, {"key": "env", "value": "prod"}])
    ecs.untag_resource(resourceArn=carn, tagKeys=["env", "absent"])
    check("tag replaces a value, untag removes", [{"key": "team", "value": "b"}],
          ecs.list_tags_for_resource(resourceArn=carn)["tags"])
    check("DescribeClusters include TAGS", [{"key": "team", "value": "b"}],
          ecs.describe_clusters(clusters=[c], include=["TAGS"])["clusters"][0]["tags"])
    a = register(c, "i-a", "az-1", 1024, 1024)
    ecs.tag_resource(resourceArn=a, tags=[{"key": "rack", "value": "r1"}])
    check("instance tags", [{"key": "rack", "value": "r1"}], ecs.list_tags_for_resource(resourceArn=a)["tags"])
    td = ecs.register_task_definition(family="e2e-tags", containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64}],
                                      tags=[{"key": "app", "value": "web"}])
    tdarn = td["taskDefinition"]["taskDefinitionArn"]
    check("RegisterTaskDefinition answers its tags", [{"key": "app", "value": "web"}], td["tags"])
    check("DescribeTaskDefinition include TAGS", [{"key": "app", "value": "web"}],
          ecs.describe_task_definition(taskDefinition=tdarn, include=["TAGS"])["tags"])
    t = ecs.run_task(cluster=c, taskDefinition=tdarn, tags=[{"key": "job", "value": "1"}])["tasks"][0]["taskArn"]
    check("task tags from RunTask", [{"key": "job", "value": "1"}], ecs.list_tags_for_resource(resourceArn=t)["tags"])
    check("DescribeTasks include TAGS", [{"key": "job", "value": "1"}],
          ecs.describe_tasks(cluster=c, tasks=[t], include=["TAGS"])["tasks"][0]["tags"])
    sarn = ecs.create_service(cluster=c, serviceName="tagged", taskDefinition=tdarn, desiredCount=0,
                              tags=[{"key": "svc", "value": "x"}])["service"]["serviceArn"]
    check("service tags", [{"key": "svc", "value": "x"}], ecs.list_tags_for_resource(resourceArn=sarn)["tags"])
    check("DescribeServices include TAGS", [{"key": "svc", "value": "x"}],
          ecs.describe_services(cluster=c, services=["tagged"], include=["TAGS"])["services"][0]["tags"])
    bad = {
        "another account's ARN": (ecs.list_tags_for_resource, {"resourceArn": carn.replace(acct, "000000000000")}),
        "a task that does not exist": (ecs.list_tags_for_resource, {"resourceArn": t[:-32] + "0" * 32}),
        "51 tags": (ecs.tag_resource, {"resourceArn": carn, "tags": [{"key": f"k{i}", "value": "v"} for i in range(51)]}),
        "50 more than the 1 it has": (ecs.tag_resource, {"resourceArn": carn,
                                                        "tags": [{"key": f"k{i}", "value": "v"} for i in range(50)]}),
        "an aws: key": (ecs.tag_resource, {"resourceArn": carn, "tags": [{"key": "aws:x", "value": "v"}]}),
        "not an ECS resource": (ecs.list_tags_for_resource, {"resourceArn": carn.replace(":cluster/", ":queue/")}),
    }
    for what, (fn, kw) in bad.items():
        check(what, "InvalidParameterException", error_of(fn, **kw)[0])
    check("the failed calls changed nothing", [{"key": "team", "value": "b"}], ecs.list_tags_for_resource(resourceArn=carn)["tags"])
    ecs.delete_service(cluster=c, service="tagged", force=True)
    ecs.stop_task(cluster=c, task=t)
    ecs.deregister_container_instance(cluster=c, containerInstance=a, force=True)
    check("a deregistered instance has no tags to list", "InvalidParameterException",
          error_of(ecs.list_tags_for_resource, resourceArn=a)[0])
    ecs.delete_cluster(cluster=c)
    check("a deleted cluster", "ClusterNotFoundException", error_of(ecs.list_tags_for_resource, resourceArn=carn)[0])
    ecs.create_cluster(clusterName=c)
    check("a cluster created again under the name starts with no tags", [],
          ecs.list_tags_for_resource(resourceArn=carn)["tags"])


globals()["case_" + case]()
if failed:
    print(f"{len(failed)} check(s) failed")
    sys.exit(1)
print("ok")
