#!/usr/bin/python3
"""Pushes and deletes images from 16 clients while collections run back to
back (test_gc.sh runs `berth gc --grace 0` in a loop beside it), then checks
that every manifest that got a 201 and was not deleted is still pullable,
with every blob's digest verified.

  gc_race.py BASE PASSWORD ROUNDS SECONDS KEPT_FILE   push, delete, verify
  gc_race.py verify BASE PASSWORD KEPT_FILE            verify the kept ones again

Each client pushes, per round, an image of a config of its own, one of 8
shared layers (2 of them over 1 MiB, so stored as files) and a layer of its
own, and deletes every other image it pushed. A manifest PUT may be refused
with 400 MANIFEST_BLOB_UNKNOWN when a collection took a layer between its
upload and the manifest (grace 0): the client pushes again, as docker does.
Any 5xx, or any other status, fails the run. Prints one JSON line:
{"rounds", "kept", "deleted", "retried", "statuses", "failures"}.
"""
import base64
import hashlib
import http.client
import json
import sys
import threading
import time
import urllib.parse

CLIENTS = 16
SHARED = 8
SHARED_BIG = 2
MIB = 1 << 20
MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def shared_layer(k):
    n = MIB + 512 * k if k < SHARED_BIG else 64
    head = ("shared layer %d" % k).encode()
    return head + bytes([ord("a") + k]) * (n - len(head))


class Client:
    def __init__(self, base, password):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.auth = "Basic " + base64.b64encode(("AWS:" + password).encode()).decode()
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        h = {"Authorization": self.auth}
        h.update(headers or {})
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                return r.status, r.read(), r
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")


class Racer(threading.Thread):
    def __init__(self, cid, base, password, rounds, deadline):
        super().__init__()
        self.cid, self.rounds, self.deadline = cid, rounds, deadline
        self.c = Client(base, password)
        self.repo = "race/%d" % (cid % 4)  # four clients per repository
        self.kept, self.failures, self.statuses = [], [], {}
        self.deleted = self.retried = self.done = 0

    def note(self, what, status, allowed):
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status not in allowed:
            self.failures.append("client %d: %s: HTTP %d" % (self.cid, what, status))
            return False
        return True

    def push_blob(self, data):
        d = digest(data)
        s, _, _ = self.c.request("POST", "/v2/%s/blobs/uploads/?digest=%s" % (self.repo, d), data,
                                 {"Content-Type": "application/octet-stream"})
        return d if self.note("blob POST", s, (201,)) else None

    def push(self, rnd, k):
        cfg = json.dumps({"client": self.cid, "round": rnd}).encode()
        own_len = MIB + 4096 if rnd % 5 == 0 else 100 + (self.cid * 37 + rnd * 11) % 4000
        head = ("%d/%d" % (self.cid, rnd)).encode()
        own = head + bytes([(self.cid + rnd) % 256]) * (own_len - len(head))
        shared = shared_layer(k)
        ds = [self.push_blob(b) for b in (cfg, shared, own)]
        if None in ds:
            return None
        body = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST_MT,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": ds[0], "size": len(cfg)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": len(b)}
                       for d, b in ((ds[1], shared), (ds[2], own))],
        }).encode()
        md = digest(body)
        s, resp, _ = self.c.request("PUT", "/v2/%s/manifests/%s" % (self.repo, md), body, {"Content-Type": MANIFEST_MT})
        if s == 400 and b"MANIFEST_BLOB_UNKNOWN" in resp:
            self.note("manifest PUT", s, (400,))
            return "retry"
        return md if self.note("manifest PUT", s, (201,)) else None

    def run(self):
        for rnd in range(self.rounds):
            if time.monotonic() > self.deadline:
                break
            k = (self.cid * 3 + rnd) % SHARED
            for _ in range(10):
                md = self.push(rnd, k)
                if md != "retry":
                    break
                self.retried += 1
            if md in (None, "retry"):
                continue
            if rnd % 2:
                s, _, _ = self.c.request("DELETE", "/v2/%s/manifests/%s" % (self.repo, md))
                if self.note("manifest DELETE", s, (202,)):
                    self.deleted += 1
            else:
                self.kept.append(md)
            self.done += 1

    def verify(self):
        """Every kept manifest and each of its blobs, digests checked."""
        for md in self.kept:
            s, body, _ = self.c.request("GET", "/v2/%s/manifests/%s" % (self.repo, md), headers={"Accept": MANIFEST_MT})
            if s != 200 or digest(body) != md:
                self.failures.append("client %d: GET manifest %s: HTTP %d" % (self.cid, md, s))
                continue
            m = json.loads(body)
            for desc in [m["config"]] + m["layers"]:
                s, blob, _ = self.c.request("GET", "/v2/%s/blobs/%s" % (self.repo, desc["digest"]))
                if s != 200 or digest(blob) != desc["digest"] or len(blob) != desc["size"]:
                    self.failures.append("client %d: GET blob %s of %s: HTTP %d, %d bytes" %
                                         (self.cid, desc["digest"], md, s, len(blob)))


def report(racers):
    statuses = {}
    for r in racers:
        for s, n in r.statuses.items():
            statuses[str(s)] = statuses.get(str(s), 0) + n
    print(json.dumps({
        "rounds": sum(r.done for r in racers), "kept": sum(len(r.kept) for r in racers),
        "deleted": sum(r.deleted for r in racers), "retried": sum(r.retried for r in racers),
        "statuses": statuses, "failures": [f for r in racers for f in r.failures][:20],
    }, sort_keys=True))


def main():
    if sys.argv[1] == "verify":  # verify BASE PASSWORD KEPT_FILE: the kept images, again
        base, password, kept = sys.argv[2], sys.argv[3], json.load(open(sys.argv[4]))
        racers = []
        for cid, mds in enumerate(kept):
            r = Racer(cid, base, password, 0, 0)
            r.kept = mds
            r.verify()
            racers.append(r)
        report(racers)
        return
    # BASE PASSWORD ROUNDS SECONDS KEPT_FILE: push and delete, verify while collections go on
    base, password, rounds, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    deadline = time.monotonic() + seconds
    racers = [Racer(i, base, password, rounds, deadline) for i in range(CLIENTS)]
    for r in racers:
        r.start()
    for r in racers:
        r.join()
    for r in racers:
        r.verify()
    with open(sys.argv[5], "w") as f:
        json.dump([r.kept for r in racers], f)
    report(racers)


if __name__ == "__main__":
    main()
