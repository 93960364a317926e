#!/usr/bin/python3
"""Pushes under a backup, and checks a restored store (test_backup.sh).

  backup_load.py push BASE BERTH DATA DEST OUT.json
      8 clients push small images (an LMDB-tier config and layer, and on every
      other image a 1.2 MiB layer pushed in PATCH chunks, so file blobs and
      uploads in progress exist) in rounds; once every client has finished its
      first round, `BERTH backup --data DATA DEST` runs while they go on; they
      stop after the backup ended and BACKUP_ROUNDS rounds. OUT.json lists
      every acknowledged image: repository, tag, manifest digest, blob
      digests, and when it was acknowledged: "before" the backup began,
      "during" it, or "after" it ended.
  backup_load.py verify BASE IN.json
      Against a berthd serving the restored copy: every image acknowledged
      before the backup is served, its manifest and blobs hashing to their
      digests; one acknowledged during it is served intact or not at all; one
      acknowledged after it is not served (the copy is a snapshot).

One process, threads for the clients, only http.client; every request
carries Basic AWS:$BERTH_PASSWORD (a get-login-password). Prints a one-line
summary."""
import base64
import hashlib
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse

CLIENTS = 8
ROUNDS = int(os.environ.get("BACKUP_ROUNDS", "3"))
BIG = 1200 * 1024  # past the file tier's 1 MiB
PART = 512 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Client:
    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.conn = None
        pw = os.environ.get("BERTH_PASSWORD", "")
        self.auth = {"Authorization": "Basic " + base64.b64encode(f"AWS:{pw}".encode()).decode()} if pw else {}

    def req(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers={**self.auth, **(headers or {})})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, r.getheader("Location"), data, r.getheader("Docker-Content-Digest")
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def push_blob(self, repo, data, chunked):
        d = sha(data)
        if not chunked:
            s, _, body, _ = self.req("POST", f"/v2/{repo}/blobs/uploads/?digest={d}", data,
                                     {"Content-Type": "application/octet-stream"})
            assert s == 201, f"monolithic push: HTTP {s} {body[:200]!r}"
            return d
        s, loc, body, _ = self.req("POST", f"/v2/{repo}/blobs/uploads/")
        assert s == 202, f"upload start: HTTP {s} {body[:200]!r}"
        for off in range(0, len(data), PART):
            part = data[off:off + PART]
            s, loc, body, _ = self.req("PATCH", loc, part, {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{off}-{off + len(part) - 1}"})
            assert s == 202, f"PATCH: HTTP {s} {body[:200]!r}"
        sep = "&" if "?" in loc else "?"
        s, _, body, _ = self.req("PUT", f"{loc}{sep}digest={d}")
        assert s == 201, f"upload end: HTTP {s} {body[:200]!r}"
        return d


def image(rnd, with_big):
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Env": [f"N={rnd.random()}"]}}).encode()
    layers = [rnd.randbytes(rnd.randint(2048, 64 * 1024))]
    if with_big:
        layers.append(rnd.randbytes(BIG))
    return config, layers


def push(base, berth, data_dir, dest, out):
    state = {"phase": "before"}
    lock = threading.Lock()
    first_round = threading.Barrier(CLIENTS + 1)
    backup_done = threading.Event()
    acked, errors = [], []

    def client(i):
        c = Client(base)
        rnd = random.Random(1000 + i)
        repo = f"backup/c{i}"
        n = 0
        try:
            while n < ROUNDS or not backup_done.is_set():
                config, layers = image(rnd, n % 2 == 0)
                blobs = [c.push_blob(repo, config, False)]
                blobs += [c.push_blob(repo, l, len(l) >= BIG) for l in layers]
                sizes = [len(config)] + [len(l) for l in layers]
                man = json.dumps({
                    "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": blobs[0], "size": sizes[0]},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                "digest": d, "size": s} for d, s in zip(blobs[1:], sizes[1:])],
                }).encode()
                tag = f"r{n}"
                with lock:
                    started = state["phase"]
                s, _, body, dcd = c.req("PUT", f"/v2/{repo}/manifests/{tag}", man, {"Content-Type": OCI_MANIFEST})
                assert s == 201, f"manifest PUT: HTTP {s} {body[:200]!r}"
                assert dcd == sha(man), f"Docker-Content-Digest {dcd} for {sha(man)}"
                with lock:
                    # "before": acknowledged before the backup began, so in its snapshot;
                    # "after": sent after it ended, so not; anything else may be either
                    if started == "after":
                        when = "after"
                    elif started == "before" and state["phase"] == "before":
                        when = "before"
                    else:
                        when = "during"
                    acked.append({"repo": repo, "tag": tag, "digest": sha(man), "blobs": blobs, "when": when})
                n += 1
                if n == 1:
                    first_round.wait()
        except Exception as e:  # noqa: BLE001 - reported, and the test fails
            errors.append(f"client {i}: {e}")
            try:
                first_round.abort()
            except threading.BrokenBarrierError:
                pass

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        first_round.wait()
    except threading.BrokenBarrierError:
        pass
    with lock:
        state["phase"] = "during"
    t0 = time.monotonic()
    rc = subprocess.run([berth, "backup", "--data", data_dir, dest], capture_output=True, text=True)
    took = time.monotonic() - t0
    with lock:
        state["phase"] = "after"
    backup_done.set()
    for t in threads:
        t.join()
    if rc.returncode != 0:
        errors.append(f"berth backup exited {rc.returncode}: {rc.stderr.strip()}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    json.dump(acked, open(out, "w"))
    count = {w: sum(1 for a in acked if a["when"] == w) for w in ("before", "during", "after")}
    print(f"acknowledged {len(acked)} images: {count['before']} before the backup, {count['during']} during it "
          f"({took:.2f} s), {count['after']} after; {rc.stdout.strip()}")
    return 0


def verify(base, path):
    acked = json.load(open(path))
    c = Client(base)
    bad, served, absent = [], 0, 0
    for a in acked:
        s, _, body, _ = c.req("GET", f"/v2/{a['repo']}/manifests/{a['tag']}", headers={"Accept": OCI_MANIFEST})
        if a["when"] == "after":
            if s != 404:
                bad.append(f"{a['repo']}:{a['tag']} acknowledged after the backup is served (HTTP {s})")
            absent += 1
            continue
        if s == 404 and a["when"] == "during":
            absent += 1
            continue
        if s != 200 or sha(body) != a["digest"]:
            bad.append(f"{a['repo']}:{a['tag']} ({a['when']}): HTTP {s}, manifest {sha(body) if s == 200 else '-'} "
                       f"for {a['digest']}")
            continue
        for d in a["blobs"]:
            s, _, blob, _ = c.req("GET", f"/v2/{a['repo']}/blobs/{d}")
            if s != 200 or sha(blob) != d:
                bad.append(f"{a['repo']}:{a['tag']}: blob {d}: HTTP {s}, {sha(blob) if s == 200 else '-'}")
        served += 1
    if bad:
        print("\n".join(bad[:20]), file=sys.stderr)
        return 1
    before = sum(1 for a in acked if a["when"] == "before")
    print(f"served {served} images intact ({before} acknowledged before the backup), {absent} not in the copy")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "push":
        sys.exit(push(*sys.argv[2:]))
    if len(sys.argv) == 4 and sys.argv[1] == "verify":
        sys.exit(verify(*sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
