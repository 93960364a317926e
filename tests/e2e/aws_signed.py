#!/usr/bin/env python3
"""Sends one request signed by botocore exactly as the AWS CLI signs it, with
the body and headers the test chooses (bodies the CLI would never send), and
prints {"status": N, "body": ...} (the JSON or XML text it got back).

usage: aws_signed.py BASE CREDENTIALS_FILE SERVICE BODY [HEADER:VALUE ...]
       [--skew-minutes N]   sign with a clock N minutes behind

AWS_CA_BUNDLE names the CA for an https BASE.
"""
import configparser
import datetime
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials

args = sys.argv[1:]
skew = 0
if "--skew-minutes" in args:
    i = args.index("--skew-minutes")
    skew = int(args[i + 1])
    del args[i:i + 2]
base, creds, service, body = args[0], args[1], args[2], args[3].encode()
headers = dict(h.split(":", 1) for h in args[4:])
cp = configparser.ConfigParser()
cp.read(creds)
c = botocore.credentials.Credentials(cp["default"]["aws_access_key_id"], cp["default"]["aws_secret_access_key"])
if skew:
    when = datetime.datetime.utcnow() - datetime.timedelta(minutes=skew)

    class Skewed(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return when

        @classmethod
        def now(cls, tz=None):
            return when.replace(tzinfo=tz) if tz else when

    botocore.auth.datetime.datetime = Skewed
req = botocore.awsrequest.AWSRequest(method="POST", url=base + "/", data=body, headers=headers)
botocore.auth.SigV4Auth(c, service, "us-east-1").add_auth(req)
r = urllib.request.Request(base + "/", data=body, headers=dict(req.headers.items()), method="POST")
ctx = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE")) if base.startswith("https") else None
try:
    with urllib.request.urlopen(r, context=ctx) as resp:
        status, text = resp.status, resp.read()
except urllib.error.HTTPError as e:
    status, text = e.code, e.read()
try:
    out = json.loads(text)
except ValueError:
    out = text.decode("utf-8", "replace")
print(json.dumps({"status": status, "body": out}))
