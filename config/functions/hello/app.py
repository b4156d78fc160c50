"""A Lambda function the gateway hosts itself (see [functions.hello] in gateway.toml):
unchanged Lambda code, run by AWS's Python runtime interface client (awslambdaric)."""

import json


def handler(event, context):
    name = (event.get("queryStringParameters") or {}).get("name", "world")
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"hello": name, "requestId": context.aws_request_id}),
    }
