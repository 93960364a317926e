#!/usr/bin/env python3
"""tests/auth/sigv4_vectors.py OUT.json — SigV4 test vectors computed by botocore.

Signs a fixed set of requests at a fixed time with fixed credentials, with
botocore's own signer (botocore.auth.SigV4Auth) and, when awscrt is installed
(Debian's awscli pulls it in, and then the AWS CLI signs with it), with the CRT
signer (botocore.crt.auth.CrtSigV4Auth). It also captures what a real botocore
ECR client sends for `aws ecr get-authorization-token` and two other ECR calls.

Writes a JSON list of cases:
  {"name", "signer", "method", "path", "query", "headers": [[name, value]...],
   "wire_headers": [[name, value]...], "body_hex", "service", "region",
   "access_key", "secret_key", "amz_date", "now", "authorization",
   "exact_headers"}
"headers" are what the caller gave botocore (the C signer gets the same and
must write the same Authorization); "wire_headers" are what went on the wire
(the verifier gets those). For captured client calls "exact_headers" is false:
the client adds unsigned headers after signing, so the C signer is given only
the signed ones. "verify_only" cases are not for the C signer.

Nothing here touches the network: the client's HTTP send is intercepted.
"""
import calendar
import hashlib
import datetime
import json
import sys
import types

import botocore.auth
import botocore.session
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
FIXED = datetime.datetime(2026, 11, 28, 9, 0, 0)
NOW = calendar.timegm(FIXED.utctimetuple())


class FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return cls(FIXED.year, FIXED.month, FIXED.day, FIXED.hour, FIXED.minute, FIXED.second)

    @classmethod
    def now(cls, tz=None):
        v = cls.utcnow()
        return v.replace(tzinfo=tz) if tz is not None else v


def freeze_time(module):
    """Every botocore version reads the clock a little differently."""
    module.datetime = types.SimpleNamespace(
        datetime=FixedDatetime, timezone=datetime.timezone, timedelta=datetime.timedelta
    )
    if hasattr(module, "get_current_datetime"):
        module.get_current_datetime = lambda *a, **k: FixedDatetime.utcnow()


freeze_time(botocore.auth)
SIGNERS = [("botocore", botocore.auth.SigV4Auth)]
try:
    import botocore.crt.auth

    if botocore.crt.auth.CrtSigV4Auth is not None:
        freeze_time(botocore.crt.auth)
        SIGNERS.append(("crt", botocore.crt.auth.CrtSigV4Auth))
except Exception:  # awscrt not installed: botocore's signer alone
    pass

ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921."
JSON11 = "application/x-amz-json-1.1"

# name, method, path (raw, as on the wire), query (raw, or a list of pairs to
# encode as botocore does), headers, body, service, region
CASES = [
    ("ecr GetAuthorizationToken as the AWS CLI sends it", "POST", "/", None,
     [("Host", "127.0.0.1:5000"), ("X-Amz-Target", ECR_TARGET + "GetAuthorizationToken"),
      ("Content-Type", JSON11)], b"{}", "ecr", "us-east-1"),
    ("ecr DescribeRepositories with a JSON body", "POST", "/", None,
     [("Host", "registry.example.com"), ("X-Amz-Target", ECR_TARGET + "DescribeRepositories"),
      ("Content-Type", JSON11)], b'{"repositoryNames": ["team/app"], "maxResults": 10}', "ecr", "eu-west-3"),
    ("GET with an empty body and no query", "GET", "/v2/", None,
     [("Host", "localhost:5000")], b"", "ecr", "us-east-1"),
    ("a path with spaces and unicode, percent-encoded on the wire", "GET", "/team/my%20app/caf%C3%A9/%E2%82%AC", None,
     [("Host", "localhost:5000")], b"", "ecr", "us-east-1"),
    ("a path with '~' and reserved characters", "GET", "/~user/a-b_c.d/x%2Fy/%21%27%28%29%2A", None,
     [("Host", "localhost")], b"", "ecr", "us-east-1"),
    ("a path with dot segments and doubled slashes", "GET", "/a/./b/../c//d/", None,
     [("Host", "localhost")], b"", "ecr", "us-east-1"),
    ("a path that is only dot segments", "GET", "/a/..", None,
     [("Host", "localhost")], b"", "ecr", "us-east-1"),
    ("query with spaces, unicode and '~'", "GET", "/v2/_catalog",
     [("n", "10"), ("last", "team/my app"), ("q", "caf\u00e9 \u20ac"), ("t", "~x")],
     [("Host", "localhost")], b"", "ecr", "us-east-1"),
    ("query with repeated keys sorted by value", "GET", "/",
     [("b", "2"), ("a", "z"), ("a", "y"), ("a", ""), ("A", "1")],
     [("Host", "localhost")], b"", "ecr", "us-east-1"),
    ("query with empty values and a key without '='", "GET", "/", "empty=&flag&x=1",
     [("Host", "localhost")], b"", "ecr", "us-east-1"),
    ("query whose keys sort differently from key=value strings", "GET", "/", "a-b=1&a=2&a.c=3&a_d=4",
     [("Host", "localhost")], b"", "ecr", "us-east-1"),
    ("a digest and a mount as docker sends them", "POST", "/v2/team/app/blobs/uploads/",
     "mount=sha256%3Ae3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855&from=library%2Falpine",
     [("Host", "localhost:5000"), ("Content-Length", "0")], b"", "ecr", "us-east-1"),
    ("header values trimmed and inner spaces collapsed", "POST", "/", None,
     [("Host", "localhost"), ("X-Amz-Target", ECR_TARGET + "ListImages"), ("Content-Type", JSON11),
      ("X-Custom", "  a   b \t c  "), ("X-Empty-Inner", "one  two")], b'{"repositoryName":"x"}', "ecr", "us-east-1"),
    ("a repeated header joined with commas", "GET", "/", None,
     [("Host", "localhost"), ("X-Multi", "first"), ("X-Multi", " second  value "), ("Accept", "a/b")],
     b"", "ecr", "us-east-1"),
    ("an explicit x-amz-content-sha256 matching the body", "PUT", "/v2/team/app/manifests/v1", None,
     [("Host", "localhost"),
      ("X-Amz-Content-SHA256", hashlib.sha256(b"test").hexdigest()),
      ("Content-Type", "application/vnd.oci.image.manifest.v1+json")], b"test", "ecr", "us-east-1"),
    ("a binary body", "POST", "/upload", None,
     [("Host", "localhost")], bytes(range(256)), "ecr", "us-east-1"),
    ("another service and region", "POST", "/", None,
     [("Host", "ecs.local"), ("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.RunTask"),
      ("Content-Type", JSON11)], b'{"cluster":"default"}', "ecs", "ap-southeast-2"),
    ("user-agent and expect are not signed", "POST", "/", None,
     [("Host", "localhost"), ("User-Agent", "aws-cli/2.0"), ("Expect", "100-continue"),
      ("Content-Type", JSON11)], b"{}", "ecr", "us-east-1"),
]


def wire_query(query):
    if query is None:
        return None
    if isinstance(query, str):
        return query
    return percent_encode_sequence(query)


def sign(signer_cls, method, path, query, headers, body, service, region):
    url = "http://" + dict((k.lower(), v) for k, v in headers)["host"] + path
    if query is not None:
        url += "?" + query
    req = AWSRequest(method=method, url=url, data=body)
    for k, v in headers:
        req.headers[k] = v  # HTTPHeaders keeps repeated names in order
    signer_cls(Credentials(ACCESS_KEY, SECRET_KEY), service, region).add_auth(req)
    return req


def emit(out, name, signer, method, path, query, headers, body, service, region, authorization, amz_date, exact):
    out.append({
        "name": name, "signer": signer, "method": method, "path": path, "query": query,
        "headers": [[k, v] for k, v in headers], "body_hex": body.hex(),
        "service": service, "region": region, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
        "amz_date": amz_date, "now": NOW, "authorization": authorization, "exact_headers": exact,
    })


def text(v):
    return v.decode("latin-1") if isinstance(v, bytes) else v


def signed_request_headers(req):
    """The headers as they go on the wire after signing (Authorization left out)."""
    return [(k, text(v)) for k, v in req.headers.items() if k.lower() != "authorization"]


def synthetic(out):
    for signer, cls in SIGNERS:
        for name, method, path, query, headers, body, service, region in CASES:
            q = wire_query(query)
            req = sign(cls, method, path, q, headers, body, service, region)
            auth = text(req.headers["Authorization"])
            amz = text(req.headers["X-Amz-Date"])
            # The C signer gets the caller's headers and adds X-Amz-Date itself;
            # the verifier gets what went on the wire.
            emit(out, name, signer, method, path, q, headers, body, service, region, auth, amz, True)
            out[-1]["wire_headers"] = [[k, v] for k, v in signed_request_headers(req)]


def date_mode(out):
    """botocore signs Date instead of X-Amz-Date when the request has a Date
    header (it rewrites it as email.utils.formatdate does). The C signer always
    adds X-Amz-Date, so this case is for the verifier only."""
    headers = [("Host", "localhost"), ("Date", "Thu, 01 Jan 2026 00:00:00 GMT"), ("Content-Type", JSON11)]
    req = sign(botocore.auth.SigV4Auth, "POST", "/", None, headers, b"{}", "ecr", "us-east-1")
    emit(out, "a request signed with Date instead of X-Amz-Date", "botocore-date", "POST", "/", None, headers, b"{}",
         "ecr", "us-east-1", text(req.headers["Authorization"]), FIXED.strftime("%Y%m%dT%H%M%SZ"), False)
    out[-1]["wire_headers"] = [[k, v] for k, v in signed_request_headers(req)]
    out[-1]["verify_only"] = True


def captured(out):
    """What a botocore ECR client really sends (the AWS CLI is botocore)."""
    session = botocore.session.get_session()
    calls = [
        ("get_authorization_token", {}),
        ("describe_repositories", {"repositoryNames": ["team/app"]}),
        ("list_images", {"repositoryName": "library/alpine", "maxResults": 5}),
    ]
    for op, args in calls:
        client = session.create_client(
            "ecr", region_name="us-east-1", endpoint_url="http://127.0.0.1:5000",
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        seen = {}

        def before_send(request, seen=seen, **kw):
            seen["req"] = request
            raise RuntimeError("captured")  # nothing goes on the network

        client.meta.events.register("before-send", before_send)
        try:
            getattr(client, op)(**args)
        except Exception:
            pass
        req = seen["req"]
        parts = req.url.split("?", 1)
        path = parts[0][len("http://127.0.0.1:5000"):] or "/"
        query = parts[1] if len(parts) > 1 else None
        headers = [(k, text(v)) for k, v in req.headers.items()]
        wire = [(k, v) for k, v in headers if k.lower() != "authorization"]
        if not any(k.lower() == "host" for k, _ in wire):
            wire.append(("Host", "127.0.0.1:5000"))  # urllib3 adds it on the wire
        auth = dict((k.lower(), v) for k, v in headers)["authorization"]
        amz = dict((k.lower(), v) for k, v in headers)["x-amz-date"]
        body = req.body if isinstance(req.body, bytes) else (req.body or "").encode()
        emit(out, "ecr " + op + " captured from a botocore client", "client", req.method, path, query, wire, body,
             "ecr", "us-east-1", auth, amz, False)
        out[-1]["wire_headers"] = [[k, v] for k, v in wire]


def main():
    out = []
    synthetic(out)
    date_mode(out)
    captured(out)
    data = json.dumps(out, indent=1, ensure_ascii=True)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(data)
    else:
        print(data)


if __name__ == "__main__":
    main()
