//! Lambda functions hosted by the gateway (`[functions.NAME]`), run by the real Python runtime
//! client `awslambdaric` (installed beside botocore in CI's virtual environment).

#![allow(dead_code)]

use super::lambda::{lambda_method, python};
use super::{ApiSpec, ConfigDir};

/// A Python handler module `app.py` for function `name`, and its `[functions.NAME]` table
/// (`settings`: extra TOML lines such as `timeout = 1`).
pub fn hosted_function(cfg: ConfigDir, name: &str, app_py: &str, settings: &str) -> ConfigDir {
    cfg.write_file(&format!("functions/{name}/app.py"), app_py);
    cfg.gateway_extra(&function_toml(name, settings))
}

/// The `[functions.NAME]` table [`hosted_function`] writes (to change it before a reload with
/// `ConfigDir::set_gateway_extra`).
pub fn function_toml(name: &str, settings: &str) -> String {
    format!(
        "\n[functions.{name}]\ncommand = [\"{python}\", \"-m\", \"awslambdaric\", \"app.handler\"]\nworking_dir = \"functions/{name}\"\n{settings}\n",
        python = python()
    )
}

/// An API whose `GET /fn` and `POST /fn` invoke the hosted function `name` (`AWS_PROXY`).
pub fn hosted_api(name: &str) -> ApiSpec {
    let api = ApiSpec::new("fnapi").stage("prod", "v1");
    let api = lambda_method(api, "v1", "GET /fn", name);
    lambda_method(api, "v1", "POST /fn", name)
}

/// A handler that answers with what it saw: the event's method, body and query, and the
/// context's request id, function ARN and remaining time.
pub const ECHO_APP: &str = r#"
import json, os

def handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Worker": str(os.getpid())},
        "body": json.dumps({
            "method": event["httpMethod"],
            "body": event["body"],
            "query": event["queryStringParameters"],
            "request_id": context.aws_request_id,
            "arn": context.invoked_function_arn,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "name": context.function_name,
            "memory": context.memory_limit_in_mb,
        }),
    }
"#;

/// Invokes `function` on the admin listener with botocore's Lambda client
/// (`tests/aws/lambda_invoke.py`), signed with `secret`.
pub fn botocore_invoke(
    gw: &super::Gateway,
    function: &str,
    payload: &str,
    invocation_type: &str,
    secret: &str,
) -> serde_json::Value {
    use std::io::Write;
    let input = serde_json::json!({
        "endpoint": format!("http://{}", gw.admin_addr()),
        "function": function,
        "payload": payload,
        "invocation_type": invocation_type,
        "access_key": "AKIDHOSTED",
        "secret_key": secret,
        "qualifier": null,
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/aws/lambda_invoke.py");
    let mut child = std::process::Command::new(python())
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run python with botocore (set TOLLGATE_PYTHON)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write request");
    let out = child.wait_with_output().expect("botocore invoke");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs `aws lambda invoke --endpoint-url <admin> ...` (the AWS CLI beside `python()`, as CI's
/// virtual environment has it) and returns the CLI's JSON output and the payload file's text.
pub fn aws_cli_invoke(
    gw: &super::Gateway,
    function: &str,
    payload: &str,
) -> (serde_json::Value, String) {
    let python = std::path::PathBuf::from(python());
    let beside = python.parent().map(|d| d.join("aws"));
    let aws = match beside {
        Some(p) if p.exists() => p,
        _ => std::path::PathBuf::from("aws"),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let out_file = dir.path().join("out.json");
    let out = std::process::Command::new(&aws)
        .args(["lambda", "invoke", "--endpoint-url"])
        .arg(format!("http://{}", gw.admin_addr()))
        // AWS CLI v1 (PyPI's) takes the payload as raw bytes; v2 would need
        // `--cli-binary-format raw-in-base64-out`.
        .args(["--function-name", function])
        .args(["--payload", payload])
        .arg(&out_file)
        .env("AWS_ACCESS_KEY_ID", "AKIDHOSTED")
        .env("AWS_SECRET_ACCESS_KEY", "hosted-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .output()
        .unwrap_or_else(|e| panic!("run {} (pip install awscli): {e}", aws.display()));
    assert!(
        out.status.success(),
        "aws lambda invoke failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let written = std::fs::read_to_string(&out_file).expect("payload file");
    (printed, written)
}
