#!/usr/bin/env python3
"""Drives many repositories through ONE keep-alive connection, so that every
request lands on the same berthd event loop and its per-thread policy cache.

usage:
  authz_churn.py push BASE USER:PASSWORD PREFIX COUNT
      creates PREFIX-000 .. PREFIX-<COUNT-1>, each with a one-layer image tagged v1
      (the blobs are uploaded once and mounted into the others)
  authz_churn.py policy BASE CREDENTIALS_FILE PREFIX COUNT POLICY_FILE
      sets POLICY_FILE as the repository policy of each (boto3, SigV4)
  authz_churn.py get BASE USER:PASSWORD METHOD PATH_TEMPLATE COUNT
      sends METHOD PATH_TEMPLATE.format(i=i) for i in 0..COUNT-1 and prints
      "i status" per request

CURL_CA_BUNDLE names the CA for an https BASE.
"""
import base64
import configparser
import hashlib
import http.client
import json
import os
import ssl
import sys
import urllib.parse


def connect(base):
    u = urllib.parse.urlsplit(base)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=os.environ.get("CURL_CA_BUNDLE"))
        return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60)


class Client:
    def __init__(self, base, userpass):
        self.conn = connect(base)
        self.auth = "Basic " + base64.b64encode(userpass.encode()).decode()
        self.reconnects = 0

    def request(self, method, path, body=None, headers=None):
        h = {"Authorization": self.auth}
        h.update(headers or {})
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        if r.getheader("connection", "").lower() == "close":
            raise SystemExit(f"the server closed the connection after {method} {path}: the test needs one connection")
        return r.status, data


def name(prefix, i):
    return f"{prefix}-{i:03d}"


def push(base, userpass, prefix, count):
    c = Client(base, userpass)
    config = b"{}"
    layer = b"berth policy cache churn layer\n"
    blobs = [(config, "sha256:" + hashlib.sha256(config).hexdigest()), (layer, "sha256:" + hashlib.sha256(layer).hexdigest())]
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blobs[0][1], "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": blobs[1][1], "size": len(layer)}],
    }).encode()
    for i in range(count):
        repo = name(prefix, i)
        for data, digest in blobs:
            if i == 0:
                st, body = c.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data,
                                     {"Content-Type": "application/octet-stream"})
            else:
                st, body = c.request("POST", f"/v2/{repo}/blobs/uploads/?mount={digest}&from={name(prefix, 0)}", b"")
            if st != 201:
                raise SystemExit(f"blob {digest} into {repo}: {st} {body[:200]!r}")
        st, body = c.request("PUT", f"/v2/{repo}/manifests/v1", manifest,
                             {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        if st != 201:
            raise SystemExit(f"manifest into {repo}: {st} {body[:200]!r}")


def policy(base, creds, prefix, count, policy_file):
    import boto3  # only this mode needs it

    cp = configparser.ConfigParser()
    cp.read(creds)
    ecr = boto3.client("ecr", endpoint_url=base, region_name="us-east-1",
                       aws_access_key_id=cp["default"]["aws_access_key_id"],
                       aws_secret_access_key=cp["default"]["aws_secret_access_key"],
                       verify=os.environ.get("CURL_CA_BUNDLE") or True)
    text = open(policy_file).read()
    for i in range(count):
        ecr.set_repository_policy(repositoryName=name(prefix, i), policyText=text)


def get(base, userpass, method, template, count):
    c = Client(base, userpass)
    for i in range(count):
        st, _ = c.request(method, template.format(i=f"{i:03d}"))
        print(i, st)


def main(argv):
    mode = argv[1] if len(argv) > 1 else ""
    if mode == "push" and len(argv) == 6:
        push(argv[2], argv[3], argv[4], int(argv[5]))
    elif mode == "policy" and len(argv) == 7:
        policy(argv[2], argv[3], argv[4], int(argv[5]), argv[6])
    elif mode == "get" and len(argv) == 7:
        get(argv[2], argv[3], argv[4], argv[5], int(argv[6]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
