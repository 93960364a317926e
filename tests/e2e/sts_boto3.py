#!/usr/bin/env python3
"""STS through boto3 (Debian's python3-boto3), as an SDK user calls it:
assume a role with the credentials of a profile, call GetCallerIdentity with
the temporary credentials, and send the out-of-range values botocore's own
validation would stop before the wire (parameter_validation off), to see the
server's ValidationError. Prints one JSON object of what it saw.

usage: sts_boto3.py BASE CREDENTIALS_FILE ROLE_ARN
"""
import json
import os
import sys

import boto3
import botocore.config
import botocore.exceptions

base, creds_file, role_arn = sys.argv[1:4]
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = creds_file
os.environ["AWS_CONFIG_FILE"] = "/dev/null"
for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
    os.environ.pop(k, None)

out = {}
sts = boto3.client("sts", endpoint_url=base, region_name="us-east-1")
r = sts.assume_role(RoleArn=role_arn, RoleSessionName="boto3-session", DurationSeconds=900)
c = r["Credentials"]
out["assumed_arn"] = r["AssumedRoleUser"]["Arn"]
out["key_prefix"] = c["AccessKeyId"][:4]
out["lifetime"] = int((c["Expiration"] - c["Expiration"].now(c["Expiration"].tzinfo)).total_seconds())

temp = boto3.client("sts", endpoint_url=base, region_name="us-east-1", aws_access_key_id=c["AccessKeyId"],
                    aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
me = temp.get_caller_identity()
out["caller_arn"] = me["Arn"]
out["caller_user_id"] = me["UserId"]

raw = boto3.client("sts", endpoint_url=base, region_name="us-east-1",
                   config=botocore.config.Config(parameter_validation=False))
out["errors"] = {}
for name, kwargs in {
        "duration_899": {"RoleSessionName": "s-1", "DurationSeconds": 899},
        "session_name_1": {"RoleSessionName": "a"},
}.items():
    try:
        raw.assume_role(RoleArn=role_arn, **kwargs)
        out["errors"][name] = "no error"
    except botocore.exceptions.ClientError as e:
        out["errors"][name] = [e.response["Error"]["Code"], e.response["Error"]["Message"]]
print(json.dumps(out))
