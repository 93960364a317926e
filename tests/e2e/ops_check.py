#!/usr/bin/env python3
"""Drives test_ops.sh's running berthd (TLS, authentication, --access-log)
from one process: boto3 and registry calls whose log lines are checked later;
a keep-alive load while the access log is rotated (rename, SIGHUP); a
keep-alive load while the certificate is swapped (copy, SIGHUP) until new
handshakes see the new one. Prints PASS/FAIL lines, then one JSON line of
what the shell checks in the log after berthd has stopped.

usage: ops_check.py BASE CREDENTIALS_FILE CA LOG PID CERT KEY NEW_CERT NEW_KEY
"""
import base64
import http.client
import json
import os
import shutil
import signal
import ssl
import sys
import threading
import time
import urllib.parse

import boto3

base, creds_file, ca, log, pid, cert, key, new_cert, new_key = sys.argv[1:10]
pid = int(pid)
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = creds_file
os.environ["AWS_CONFIG_FILE"] = "/dev/null"
for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
    os.environ.pop(k, None)
host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
tls = ssl.create_default_context(cafile=ca)
failures = 0
out = {}


def check(ok, what):
    global failures
    print(("PASS  " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures += 1


# Calls whose lines the shell looks for: an ECR operation (principal, action,
# request id) and registry requests with the password and a signature-like query.
ecr = boto3.client("ecr", endpoint_url=base, region_name="us-east-1", verify=ca)
tok = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
password = base64.b64decode(tok).decode().split(":", 1)[1]
ecr.create_repository(repositoryName="ops/app")
out["password"] = password
c = http.client.HTTPSConnection(host, port, context=tls)
for path in ("/v2/ops/app/manifests/latest?X-Amz-Signature=SECRETSIG0123&X-Amz-Credential=SECRETCRED",
             "/v2/ops/app/tags/list"):
    c.request("GET", path, headers={"Authorization": "Basic " + tok})
    r = c.getresponse()
    r.read()
    out.setdefault("registry_status", []).append(r.status)
c.close()
# A path no JSON string holds as is (a quote, a backslash, bytes past ASCII), 2000 bytes long.
raw = tls.wrap_socket(__import__("socket").create_connection((host, port)), server_hostname=host)
raw.sendall(b'GET /v2/"\\\xff' + b"a" * 2000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
out["odd_path_status"] = raw.recv(64)[9:12].decode()
raw.close()


class Load(threading.Thread):
    """Requests on one keep-alive connection until stopped; counts them,
    the failures, and the sockets used (a dropped connection means two)."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.n, self.bad, self.socks, self.stop = path, 0, [], set(), False

    def run(self):
        conn = http.client.HTTPSConnection(host, port, context=tls, timeout=10)
        while not self.stop:
            try:
                conn.request("GET", self.path)
                r = conn.getresponse()
                r.read()
                self.socks.add(id(conn.sock))
                if r.status not in (200, 401):
                    self.bad.append(r.status)
                self.n += 1
                time.sleep(0.002)  # a steady load, not a benchmark: CI shares two cores
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                self.bad.append(repr(e))
                conn.close()
        conn.close()


# Log rotation under load: rename, SIGHUP, go on; nothing fails.
load = Load("/healthz")
load.start()
time.sleep(1.0)
os.rename(log, log + ".1")
os.kill(pid, signal.SIGHUP)
time.sleep(1.2)
load.stop = True
load.join()
check(load.n > 20 and not load.bad, f"{load.n} keep-alive requests across the rotation and SIGHUP, failures {load.bad[:3]}")
check(len(load.socks) == 1, f"the load kept one connection across SIGHUP ({len(load.socks)})")
out["healthz_requests"] = load.n


def served_cert():
    return ssl.get_server_certificate((host, port))


def pem(path):
    with open(path) as f:
        return ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(f.read()))


# Certificate reload under load: an open connection goes on, new handshakes
# get the new certificate.
old = served_cert()
check(old == pem(cert), "before the swap, handshakes get the first certificate")
load = Load("/v2/")
load.start()
time.sleep(0.5)
shutil.copyfile(new_key, key)
shutil.copyfile(new_cert, cert)
os.kill(pid, signal.SIGHUP)
want, seen, deadline = pem(new_cert), None, time.time() + 5
while time.time() < deadline:
    seen = served_cert()
    if seen == want:
        break
    time.sleep(0.1)
time.sleep(0.5)
load.stop = True
load.join()
check(seen == want, "after SIGHUP, new handshakes get the new certificate")
check(load.n > 10 and not load.bad and len(load.socks) == 1,
      f"a connection open across the reload kept working: {load.n} requests, failures {load.bad[:3]}, {len(load.socks)} socket(s)")
print(json.dumps(out))
sys.exit(1 if failures else 0)
