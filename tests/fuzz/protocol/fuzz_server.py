#!/usr/bin/env python3
"""Protocol-level fuzzing of a running berthd.

usage: fuzz_server.py [--auth] BERTHD SEEDS_DIR [SECONDS]

Starts BERTHD (the sanitizer build in the test suite) on a loopback port with a
fresh data dir and --insecure-no-auth (with --auth: authentication on, so that
the Authorization headers, SigV4 and the token checks see the mutations; few
requests get past a 401 there), replays the seed requests in SEEDS_DIR
(real clients' requests, one raw HTTP/1.1 request per *.http file) and then
mutated copies of them for SECONDS (default 20): bit flips, byte insertions and
deletions, spliced requests, repeated and oversized headers, wrong lengths,
truncation, slow delivery in random pieces. It fails when

  - berthd dies (a crash or a sanitizer report ends the process),
  - a connection stays open with no reply for longer than berthd's own request
    timeout allows (a hang), or
  - any blob berthd acknowledged (a 201 with Docker-Content-Digest) is later
    served with bytes that do not hash to its digest.

Every failing input is written next to the data dir and printed, so that it
can be kept as a seed. The random seed is printed too (PROTO_FUZZ_SEED=N
replays a run).
"""
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# berthd runs with --idle-timeout IDLE_SECONDS: it closes a connection that
# sends nothing for that long (checked once a second); a reply must come, or
# the connection close, well within HANG_SECONDS.
IDLE_SECONDS = 10
HANG_SECONDS = 25
MAX_REQUEST_BYTES = 256 * 1024


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def load_seeds(d):
    seeds = []
    for name in sorted(os.listdir(d)):
        if name.endswith(".http"):
            with open(os.path.join(d, name), "rb") as f:
                raw = f.read()
            # seeds are written with LF line ends for readability: HTTP wants CRLF
            head, sep, body = raw.partition(b"\n\n")
            head = head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            seeds.append((name, head + b"\r\n\r\n" + body if sep else head + b"\r\n\r\n"))
    return seeds


def with_length(req):
    """Sets Content-Length to the body's real length (seeds may say {LEN})."""
    head, _, body = req.partition(b"\r\n\r\n")
    return head.replace(b"{LEN}", str(len(body)).encode()) + b"\r\n\r\n" + body


def mutate(rng, req, seeds):
    r = bytearray(req)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(11)
        if op == 0 and r:  # flip bits
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(r))
                r[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert junk
            i = rng.randrange(len(r) + 1)
            r[i:i] = bytes(rng.choice([0, 0x25, 0x2F, 0x3A, 0x0D, 0x0A, 0xFF, rng.randrange(256)]) for _ in range(rng.randint(1, 16)))
        elif op == 2 and len(r) > 1:  # delete a span
            i = rng.randrange(len(r))
            del r[i:i + rng.randint(1, 32)]
        elif op == 3:  # splice with another seed
            other = rng.choice(seeds)[1]
            i, j = rng.randrange(len(r) + 1), rng.randrange(len(other) + 1)
            r = r[:i] + other[j:]
        elif op == 4:  # repeat a header line
            lines = bytes(r).split(b"\r\n")
            if len(lines) > 2:
                k = rng.randrange(1, len(lines))
                lines.insert(k, lines[k])
                r = bytearray(b"\r\n".join(lines))
        elif op == 5:  # an oversized header value
            r = bytearray(bytes(r).replace(b"\r\n", b"\r\nX-Big: " + b"A" * rng.choice([100, 8000, 70000]) + b"\r\n", 1))
        elif op == 6:  # a wrong Content-Length
            r = bytearray(re.sub(rb"(?i)content-length: *\d+", b"Content-Length: " + str(rng.choice(
                [0, 1, 2 ** 31, 2 ** 63, 2 ** 64 + 5, rng.randrange(100000)])).encode(), bytes(r), count=1))
        elif op == 7:  # truncate
            r = r[:rng.randrange(len(r) + 1)]
        elif op == 8:  # interesting path pieces
            bits = [b"/../", b"%2e%2e/", b"%00", b"//", b"/_catalog", b"?n=-1&last=%ff", b"?digest=sha256:", b"/blobs/uploads/",
                    b"?mount=sha256%3Aab&from=a%2Fb", b"%", b"/manifests/" + b"x" * 300]
            i = bytes(r).find(b" HTTP/1.1")
            if i > 0:
                r[i:i] = rng.choice(bits)
        elif op == 9:  # chunked framing noise
            r = bytearray(bytes(r).replace(b"\r\n\r\n", rng.choice(
                [b"\r\nTransfer-Encoding: chunked\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                 b"\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n"]), 1))
        elif op == 10:  # another method
            i = bytes(r).find(b" ")
            if i > 0:
                r[:i] = rng.choice([b"GET", b"HEAD", b"PUT", b"PATCH", b"DELETE", b"POST", b"OPTIONS", b"TRACE", b"G\x00T", b""])
    return bytes(r[:MAX_REQUEST_BYTES])


def exchange(port, data, rng, slow):
    """Sends data (in random pieces when slow) and reads until close or a
    pause; returns the bytes received, or None on a hang."""
    s = socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS)
    got = b""
    try:
        if slow:
            i = 0
            while i < len(data):
                n = rng.randint(1, 64)
                s.sendall(data[i:i + n])
                i += n
        else:
            s.sendall(data)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # berthd already closed: read what it sent
        start = time.monotonic()
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return None if not got else got
            except OSError:
                return got
            if not chunk:
                return got
            got += chunk
            if time.monotonic() - start > HANG_SECONDS:
                return None if not got else got
    except OSError:  # reset or refused mid-send: berthd dropped a bad request
        return got
    finally:
        s.close()


def acknowledged_digests(reply):
    """(repo, digest) of every 201 blob reply in the bytes received."""
    out = []
    for m in re.finditer(rb"HTTP/1\.1 201[^\r]*\r\n((?:[^\r]+\r\n)*)", reply):
        headers = m.group(1).decode("latin-1").lower()
        loc = re.search(r"location: (/v2/(.+)/blobs/(sha256:[0-9a-f]{64}))\r\n", headers)
        if loc:
            out.append((loc.group(2), loc.group(3)))
    return out


def main():
    args = sys.argv[1:]
    auth = bool(args) and args[0] == "--auth"
    if auth:
        args = args[1:]
    berthd, seeds_dir = args[0], args[1]
    seconds = float(args[2]) if len(args) > 2 else 20.0
    seed = int(os.environ.get("PROTO_FUZZ_SEED", random.randrange(2 ** 32)))
    rng = random.Random(seed)
    seeds = [(n, with_length(r)) for n, r in load_seeds(seeds_dir)]
    if not seeds:
        print("no seeds in", seeds_dir)
        return 2
    work = tempfile.mkdtemp(prefix="berth-protofuzz.")
    port = free_port()
    log = open(os.path.join(work, "berthd.log"), "wb")
    cmd = [berthd, "--listen", f"127.0.0.1:{port}", "--data", os.path.join(work, "data"), "--max-body", "1M",
           "--idle-timeout", str(IDLE_SECONDS)]
    proc = subprocess.Popen(cmd if auth else cmd + ["--insecure-no-auth"], stderr=log)
    failures = []
    sent = 0
    acked = set()
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        # the seeds as they are first: they set up repositories, blobs and uploads to mutate against
        for name, req in seeds:
            reply = exchange(port, req, rng, False)
            if reply is None or not reply.startswith(b"HTTP/1.1 "):
                failures.append(f"seed {name} got no reply")
            acked.update(acknowledged_digests(reply or b""))
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            name, base = rng.choice(seeds)
            data = mutate(rng, base, seeds)
            sent += 1
            reply = exchange(port, data, rng, rng.random() < 0.05)
            if reply is None:
                path = os.path.join(work, f"hang-{sent}.http")
                with open(path, "wb") as f:
                    f.write(data)
                failures.append(f"no reply and no close within {HANG_SECONDS}s (input kept: {path})")
            else:
                acked.update(acknowledged_digests(reply))
            if proc.poll() is not None:
                path = os.path.join(work, f"crash-{sent}.http")
                with open(path, "wb") as f:
                    f.write(data)
                failures.append(f"berthd exited with {proc.returncode} on input {sent} from seed {name} (kept: {path})")
                break
        # every blob acknowledged is served with its own bytes
        wrong = 0
        for repo, digest in sorted(acked):
            reply = exchange(port, f"GET /v2/{repo}/blobs/{digest} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(), rng, False)
            head, _, body = (reply or b"").partition(b"\r\n\r\n")
            if head.startswith(b"HTTP/1.1 200") and "sha256:" + hashlib.sha256(body).hexdigest() != digest:
                wrong += 1
        if wrong:
            failures.append(f"{wrong} of {len(acked)} acknowledged blobs served with bytes that do not match their digest")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
                failures.append("berthd did not shut down within 30 s")
            if rc != 0 and not any("exited" in f for f in failures):
                failures.append(f"berthd exited with {rc} at shutdown (a sanitizer report?)")
        log.close()
    print(f"protocol fuzz{' (authentication on)' if auth else ''}: seed {seed}, {sent} mutated requests in {seconds:.0f}s, {len(acked)} acknowledged blobs checked")
    if failures:
        for f in failures:
            print("FAIL ", f)
        with open(os.path.join(work, "berthd.log"), "rb") as f:
            tail = f.read()[-3000:].decode("utf-8", "replace")
        print("berthd's log ends with:\n" + tail)
        print("kept:", work)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("protocol fuzz: no crash, no hang, every acknowledged blob intact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
