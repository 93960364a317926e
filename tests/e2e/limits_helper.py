#!/usr/bin/python3
"""Clients and a link for tests/e2e/test_limits.sh (python3's standard library only).

  proxy PORTFILE UPSTREAM_PORT BYTES_PER_S   a loopback TCP proxy that forwards what the
                                             client sends at BYTES_PER_S (replies go at full
                                             speed); writes its port to PORTFILE, runs until killed
  idle PORT                                  three connections that stop sending (nothing; half a
                                             request head; half a body) and one trickling its head a
                                             byte every 0.5 s: prints seconds until each is closed, as JSON
  bodies PORT N SIZE BYTES_PER_S PATH        N concurrent anonymous POSTs of SIZE bytes each, sent at
                                             BYTES_PER_S each: prints per client "reply STATUS" or "cut"
  stall PORT PATH SECONDS                    GET PATH, read nothing for SECONDS, then read to the end:
                                             prints the bytes received (short if the server cut it)
  hold PORT N READYFILE                      opens N connections that send nothing, touches READYFILE,
                                             and holds them until killed
  oci-image DIR SIZE                         an OCI layout at DIR, tag v1: one gzip layer of SIZE
                                             random bytes; prints its digest and size
"""
import gzip
import hashlib
import json
import os
import resource
import socket
import sys
import threading
import time

CHUNK = 16384


def proxy(portfile, upstream, rate):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)

    def pump(src, dst, limit):
        start, sent = time.monotonic(), 0
        try:
            while True:
                data = src.recv(CHUNK if limit else 65536)
                if not data:
                    break
                dst.sendall(data)
                sent += len(data)
                if limit:
                    # a steady rate: sleep until the bytes sent so far are due
                    ahead = sent / limit - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    while True:
        c, _ = ls.accept()
        try:
            u = socket.create_connection(("127.0.0.1", upstream))
        except OSError:
            c.close()
            continue
        threading.Thread(target=pump, args=(c, u, rate), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, 0), daemon=True).start()


def closed_after(port, payload):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(payload)
    t = time.monotonic()
    s.settimeout(30)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    return round(time.monotonic() - t, 2)


def trickled_closed_after(port, payload, every):
    """Sends payload a byte at a time, one every `every` seconds (a slowloris):
    seconds until the server closes the connection."""
    s = socket.create_connection(("127.0.0.1", port))
    t = time.monotonic()
    try:
        for i in range(len(payload)):
            s.sendall(payload[i:i + 1])
            time.sleep(every)
        s.settimeout(30)
        while s.recv(4096):
            pass
    except OSError:
        pass
    return round(time.monotonic() - t, 2)


def idle(port):
    kinds = {
        "nothing sent": b"",
        "half a request head": b"GET /v2/ HTTP/1.1\r\nHost: x\r\n",
        "half a body": b"PATCH /v2/e2e/idle/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 50000,
    }
    out = {}

    def one(k):
        out[k] = closed_after(port, kinds[k])

    def slowloris():
        out["a head trickled a byte every 0.5 s"] = trickled_closed_after(port, b"GET /v2/ HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 20, 0.5)

    ts = [threading.Thread(target=one, args=(k,)) for k in kinds] + [threading.Thread(target=slowloris)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps(out, sort_keys=True))


def bodies(port, n, size, rate, path):
    results = [None] * n

    def one(i):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                  f"Content-Length: {size}\r\n\r\n".encode())
        chunk, sent, start = b"x" * 65536, 0, time.monotonic()
        try:
            while sent < size:
                sent += s.send(chunk[:min(len(chunk), size - sent)])
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            s.settimeout(30)
            reply = s.recv(4096)
            results[i] = "reply " + reply.split(b" ")[1].decode() if reply.startswith(b"HTTP/1.1 ") else "cut"
        except OSError:
            results[i] = "cut"
        s.close()

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(" ".join(sorted(results)))


def stall(port, path, seconds):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # so the server's writes stop soon
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(seconds)
    s.settimeout(10)
    got = 0
    try:
        while True:
            data = s.recv(1 << 20)
            if not data:
                break
            got += len(data)
    except OSError:
        pass
    print(got)


def hold(port, n, readyfile):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    open(readyfile, "w").close()
    while True:
        time.sleep(60)
    del socks


def oci_image(d, size):
    blobs = os.path.join(d, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data):
        h = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, h), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + h, "size": len(data)}

    # a tar holding one file of random bytes (incompressible: the link moves all of it),
    # gzipped as pushed layers are, so that skopeo sends it as it is
    payload = os.urandom(size)
    hdr = bytearray(512)
    name, mode = b"big.bin", b"0000644\0"
    hdr[0:len(name)] = name
    hdr[100:108] = mode
    hdr[108:116] = b"0000000\0"
    hdr[116:124] = b"0000000\0"
    hdr[124:136] = b"%011o\0" % size
    hdr[136:148] = b"00000000000\0"
    hdr[156:157] = b"0"
    hdr[257:263] = b"ustar\0"
    hdr[263:265] = b"00"
    hdr[148:156] = b" " * 8
    hdr[148:156] = b"%06o\0 " % sum(hdr)
    tar = bytes(hdr) + payload + b"\0" * ((-size) % 512) + b"\0" * 1024
    layer = put(gzip.compress(tar, compresslevel=1, mtime=0))
    layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    config = put(json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}).encode())
    config["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": config, "layers": [layer]}).encode())
    manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    manifest["annotations"] = {"org.opencontainers.image.ref.name": "v1"}
    with open(os.path.join(d, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [manifest]}, f)
    print(layer["digest"], layer["size"])


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "proxy":
        proxy(a[0], int(a[1]), int(a[2]))
    elif cmd == "idle":
        idle(int(a[0]))
    elif cmd == "bodies":
        bodies(int(a[0]), int(a[1]), int(a[2]), int(a[3]), a[4])
    elif cmd == "stall":
        stall(int(a[0]), a[1], float(a[2]))
    elif cmd == "hold":
        hold(int(a[0]), int(a[1]), a[2])
    elif cmd == "oci-image":
        oci_image(a[0], int(a[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
