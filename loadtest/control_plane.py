#!/usr/bin/env python3
"""Control-plane timings for loadtest/control_plane.sh (issue 14), with boto3 against a
running gateway whose admin listener takes the [control] key in the environment.

  serve N...   for each N (ascending): make the node hold N control-plane APIs (each one
               GET /pets MOCK method on a stage), then redeploy API 0 with a new body and
               time CreateDeployment's call and the time until every shard answers the new
               body (a fresh connection per probe; SO_REUSEPORT spreads them over shards).
               Prints one JSON line per N.
  calls RATE SECONDS   makes RATE control-plane calls per second (UpdateStage of a stage
               variable, alternating with GetRestApis) for SECONDS, and prints how many ran.
"""

import http.client
import json
import os
import statistics
import sys
import time

import boto3

ADMIN = os.environ["ADMIN"]
DATA_HOST, DATA_PORT = os.environ["LISTEN"].split(":")


def client():
    return boto3.client(
        "apigateway",
        endpoint_url=f"http://{ADMIN}",
        region_name="us-east-1",
    )


def make_api(c, name, body):
    api = c.create_rest_api(name=name)
    root = api["rootResourceId"]
    pets = c.create_resource(restApiId=api["id"], parentId=root, pathPart="pets")["id"]
    c.put_method(restApiId=api["id"], resourceId=pets, httpMethod="GET", authorizationType="NONE")
    c.put_integration(
        restApiId=api["id"],
        resourceId=pets,
        httpMethod="GET",
        type="MOCK",
        requestTemplates={"application/json": '{"statusCode": 200}'},
    )
    c.put_method_response(restApiId=api["id"], resourceId=pets, httpMethod="GET", statusCode="200")
    set_body(c, api["id"], pets, body)
    c.create_deployment(restApiId=api["id"], stageName="prod")
    return api["id"], pets


def set_body(c, api, pets, body):
    c.put_integration_response(
        restApiId=api,
        resourceId=pets,
        httpMethod="GET",
        statusCode="200",
        selectionPattern="",
        responseTemplates={"application/json": body},
    )


def get(api):
    conn = http.client.HTTPConnection(DATA_HOST, int(DATA_PORT), timeout=5)
    conn.request("GET", "/prod/pets", headers={"Host": f"{api}.execute-api.localhost"})
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return body


def wait_everywhere(api, body, probes=16):
    """Until `probes` fresh connections in a row answer `body`."""
    streak = 0
    while streak < probes:
        streak = streak + 1 if get(api) == body else 0


def serve(sizes):
    c = client()
    apis = []
    for n in sorted(sizes):
        while len(apis) < n:
            apis.append(make_api(c, f"api{len(apis)}", "v0"))
        api, pets = apis[0]
        calls, served = [], []
        for round_ in range(5):
            body = f"n{n}-r{round_}"
            set_body(c, api, pets, body)
            t0 = time.perf_counter()
            c.create_deployment(restApiId=api, stageName="prod")
            t1 = time.perf_counter()
            wait_everywhere(api, body)
            t2 = time.perf_counter()
            calls.append((t1 - t0) * 1000)
            served.append((t2 - t0) * 1000)
        print(json.dumps({
            "apis": n,
            "create_deployment_ms_median": round(statistics.median(calls), 1),
            "serving_everywhere_ms_median": round(statistics.median(served), 1),
            "serving_everywhere_ms_max": round(max(served), 1),
        }), flush=True)


def calls(rate, seconds):
    c = client()
    api, _ = make_api(c, "busy-control", "v0")
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        if done % 2 == 0:
            c.update_stage(
                restApiId=api,
                stageName="prod",
                patchOperations=[{"op": "replace", "path": "/variables/n", "value": str(done)}],
            )
        else:
            c.get_rest_apis(limit=5)
        done += 1
        next_at = start + done / rate
        time.sleep(max(0.0, next_at - time.perf_counter()))
    print(json.dumps({"calls": done, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve([int(n) for n in sys.argv[2:]])
    elif sys.argv[1] == "calls":
        calls(float(sys.argv[2]), float(sys.argv[3]))
