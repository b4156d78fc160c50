#!/usr/bin/env python3
"""Drive WebSocket clients (PyPI `websockets`) and the @connections API (boto3's
`apigatewaymanagementapi`) through a plan, for tests/websocket.rs.

stdin:  {"url": "ws://127.0.0.1:PORT/prod", "endpoint": "http://127.0.0.1:PORT/prod",
         "access_key", "secret_key", "steps": [...]}
        ("tls_sni": NAME with a wss:// url: TLS with that SNI, the certificate not verified)
stdout: {"results": [...]}, one entry per step.

Steps (`name` names a client; `id` may be "$name" for the id a client learned with
"learn"):
  {"op": "connect", "name", "query": "a=b", "headers": {...}}
      -> {"ok": true} or {"status": HTTP status of the refused handshake}
  {"op": "send", "name", "text"} / {"op": "send_binary", "name", "hex"} -> {}
      ("$name" in the text becomes that client's id)
  {"op": "recv", "name", "timeout": s}
      -> {"text"} | {"timeout": true} | {"closed": code, "reason"}
  {"op": "learn", "name", "text": message asking for the id}
      -> sends text, stores the reply as the client's id -> {"id"}
  {"op": "close", "name", "code": 1000} -> {}
  {"op": "post" | "get" | "delete", "id", "data"?}
      -> {"ok": true, ...response fields} | {"error": code, "status": http status}
"""

import asyncio
import json
import ssl
import sys

import boto3
import botocore.exceptions
import websockets


async def main():
    plan = json.load(sys.stdin)
    clients = {}
    ids = {}
    results = []
    manage = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=plan.get("endpoint"),
        region_name="us-east-1",
        aws_access_key_id=plan.get("access_key", "none"),
        aws_secret_access_key=plan.get("secret_key", "none"),
    )

    tls = {}
    if plan.get("tls_sni"):
        # The gateway's certificate is made for the test: not verified here.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        tls = {"ssl": context, "server_hostname": plan["tls_sni"]}

    def conn_id(text):
        return ids.get(text[1:], text) if text.startswith("$") else text

    for step in plan["steps"]:
        op = step["op"]
        name = step.get("name")
        if op == "connect":
            url = plan["url"] + ("?" + step["query"] if step.get("query") else "")
            try:
                clients[name] = await websockets.connect(
                    url, additional_headers=step.get("headers"), open_timeout=10,
                    ping_interval=None, max_size=None,
                    subprotocols=step.get("subprotocols"), **tls,
                )
                results.append({"ok": True, "subprotocol": clients[name].subprotocol})
            except websockets.exceptions.InvalidStatus as e:
                results.append({"status": e.response.status_code,
                                "body": e.response.body.decode("utf-8", "replace")})
        elif op == "send":
            text = step["text"]
            for known, value in sorted(ids.items(), key=lambda kv: -len(kv[0])):
                text = text.replace("$" + known, value)
            await clients[name].send(text)
            results.append({})
        elif op == "send_binary":
            await clients[name].send(bytes.fromhex(step["hex"]))
            results.append({})
        elif op == "recv":
            results.append(await recv(clients[name], step.get("timeout", 5)))
        elif op == "learn":
            await clients[name].send(step["text"])
            got = await recv(clients[name], 10)
            ids[name] = got.get("text")
            results.append({"id": ids[name]})
        elif op == "close":
            await clients[name].close(code=step.get("code", 1000))
            results.append({})
        elif op in ("post", "get", "delete"):
            results.append(await asyncio.to_thread(call, manage, op, conn_id(step["id"]), step))
        elif op == "sleep":
            await asyncio.sleep(step["seconds"])
            results.append({})
        else:
            raise SystemExit(f"unknown op {op}")
    json.dump({"results": results}, sys.stdout)


async def recv(client, timeout):
    try:
        message = await asyncio.wait_for(client.recv(), timeout)
        if isinstance(message, bytes):
            return {"binary": message.hex()}
        return {"text": message}
    except asyncio.TimeoutError:
        return {"timeout": True}
    except websockets.exceptions.ConnectionClosed as e:
        rcvd = e.rcvd
        return {"closed": rcvd.code if rcvd else None, "reason": rcvd.reason if rcvd else None}


def call(manage, op, connection_id, step):
    try:
        if op == "post":
            manage.post_to_connection(ConnectionId=connection_id, Data=step["data"].encode())
            return {"ok": True}
        if op == "get":
            r = manage.get_connection(ConnectionId=connection_id)
            return {"ok": True, "connected_at": r["ConnectedAt"].isoformat(),
                    "last_active_at": r["LastActiveAt"].isoformat(),
                    "source_ip": r["Identity"]["SourceIp"],
                    "user_agent": r["Identity"].get("UserAgent")}
        manage.delete_connection(ConnectionId=connection_id)
        return {"ok": True}
    except botocore.exceptions.ClientError as e:
        return {"error": e.response["Error"]["Code"],
                "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                "message": e.response["Error"].get("Message")}


if __name__ == "__main__":
    asyncio.run(main())
