//! Lambda helpers: an Invoke API server (the test [`Backend`] answering
//! `POST /2015-03-31/functions/{name}/invocations` with scripted function results), an API
//! whose methods are `AWS_PROXY` integrations, and botocore's view of a request's SigV4
//! signature.

use std::io::Write;
use std::process::{Command, Stdio};

use super::{ApiSpec, Backend, RecordedRequest, Reply};

/// Credentials the test gateways sign with.
pub const ACCESS_KEY: &str = "AKIDTOLLGATETEST";
pub const SECRET_KEY: &str = "tollgate/test+secret/key";
pub const SESSION_TOKEN: &str = "session-token-for-tests";
/// Region of the integration URIs.
pub const REGION: &str = "us-east-1";

/// The `[lambda]` section pointing every region at `invoke`, with the test credentials.
pub fn lambda_section(invoke: &Backend) -> String {
    format!(
        "\n[lambda]\nendpoint = \"{}\"\naccess_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET_KEY}\"\nsession_token = \"{SESSION_TOKEN}\"\naccount_id = \"111122223333\"\n",
        invoke.url()
    )
}

/// The integration URI of `function` (a name, or a template with stage variables).
pub fn function_uri(function: &str) -> String {
    format!("arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/arn:aws:lambda:{REGION}:111122223333:function:{function}/invocations")
}

/// Adds an `AWS_PROXY` method invoking `function`.
pub fn lambda_method(api: ApiSpec, deployment: &str, route: &str, function: &str) -> ApiSpec {
    let uri = function_uri(function);
    api.method(
        deployment,
        route,
        &format!("{{ type = \"AWS_PROXY\", uri = \"{uri}\", http_method = \"POST\" }}"),
    )
}

/// A function result as the Invoke API returns it.
pub fn result(value: serde_json::Value) -> Reply {
    Reply::ok(value.to_string()).header("Content-Type", "application/json")
}

/// An Invoke API server answering every invocation with `f(event)`.
pub fn invoke_server(f: impl Fn(&serde_json::Value) -> Reply + Send + Sync + 'static) -> Backend {
    Backend::start(move |req| match serde_json::from_slice(&req.body) {
        Ok(event) => f(&event),
        Err(_) => Reply::status(400).body("the event is not JSON"),
    })
}

/// The event a recorded invocation carried.
pub fn event_of(req: &RecordedRequest) -> serde_json::Value {
    serde_json::from_slice(&req.body).expect("the invocation payload is JSON")
}

/// Python with botocore: `TOLLGATE_PYTHON` (CI's virtual environment) or `python3`.
pub fn python() -> String {
    std::env::var("TOLLGATE_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// The `Authorization` botocore's `SigV4Auth` computes for the recorded request, signing the
/// headers the request says it signed, at its `X-Amz-Date`, with the test credentials.
pub fn botocore_authorization(req: &RecordedRequest, host: &str) -> String {
    let auth = req.header("authorization").expect("request is signed");
    let signed = auth
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .expect("SignedHeaders");
    let headers: serde_json::Map<String, serde_json::Value> = signed
        .split(';')
        .filter(|name| *name != "x-amz-date" && *name != "x-amz-security-token")
        .map(|name| {
            let value = req.header(name).unwrap_or_default().to_string();
            (name.to_string(), serde_json::Value::String(value))
        })
        .collect();
    let input = serde_json::json!({
        "method": req.method,
        "url": format!("http://{host}{}", req.target),
        "headers": headers,
        "body_b64": data_encoding::BASE64.encode(&req.body),
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "token": SESSION_TOKEN,
        "region": REGION,
        "service": "lambda",
        "amz_date": req.header("x-amz-date").expect("x-amz-date"),
    });
    let v = botocore_sign(&input);
    v["authorization"]
        .as_str()
        .expect("authorization")
        .to_string()
}

/// Runs `tests/aws/botocore_sign.py` (botocore's `SigV4Auth`, or `SigV4QueryAuth` with
/// `"presign": true`) on `input` and returns what it printed.
pub fn botocore_sign(input: &serde_json::Value) -> serde_json::Value {
    python_json("botocore_sign.py", &[], input)
}

/// Runs the Python script `tests/aws/{script}` with `args`, `input` as JSON on its standard
/// input, and returns its standard output parsed as JSON (panics, showing its errors, when it
/// fails).
pub fn python_json(script: &str, args: &[&str], input: &serde_json::Value) -> serde_json::Value {
    let path = format!("{}/tests/aws/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(python())
        .arg(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python (set TOLLGATE_PYTHON to the virtual environment)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json from script")
}
