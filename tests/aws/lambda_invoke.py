#!/usr/bin/env python3
"""Call the Lambda Invoke API with botocore's real Lambda client (SigV4-signed by botocore).

stdin:  {"endpoint", "function", "payload" (text), "invocation_type", "access_key",
         "secret_key", "qualifier" (null for none)}
stdout: {"status", "function_error", "payload", "executed_version"} or
        {"error_code", "message", "http_status"} when botocore raises a ClientError.
"""

import json
import sys

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError


def main():
    req = json.load(sys.stdin)
    client = botocore.session.get_session().create_client(
        "lambda",
        endpoint_url=req["endpoint"],
        region_name="us-east-1",
        aws_access_key_id=req["access_key"],
        aws_secret_access_key=req["secret_key"],
        config=Config(retries={"max_attempts": 1}),
    )
    args = {
        "FunctionName": req["function"],
        "InvocationType": req["invocation_type"],
        "Payload": req["payload"].encode(),
    }
    if req.get("qualifier"):
        args["Qualifier"] = req["qualifier"]
    try:
        out = client.invoke(**args)
    except ClientError as e:
        print(json.dumps({
            "error_code": e.response["Error"]["Code"],
            "message": e.response["Error"].get("Message", ""),
            "http_status": e.response["ResponseMetadata"]["HTTPStatusCode"],
        }))
        return
    print(json.dumps({
        "status": out["StatusCode"],
        "function_error": out.get("FunctionError"),
        "payload": out["Payload"].read().decode(),
        "executed_version": out.get("ExecutedVersion"),
    }))


main()
