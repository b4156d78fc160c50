//! `tollgate --check DIR`: exit 0 with `configuration OK` on a valid directory, exit 1 with
//! `file:line: field: message` errors on stderr otherwise.

mod common;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A valid API file; line numbers matter to the tests below.
const VALID_API: &str = r#"id = "petstore"
name = "PetStore"

[stages.prod]
deployment = "v1"

[deployments.v1]
description = "one"

[deployments.v1.methods."GET /pets"]
integration = { type = "MOCK", status = 200, headers = { "content-type" = "text/plain" }, body = "x" }
"#;

/// Runs `--check` on `dir` and returns (exit code, stdout, stderr).
fn check(dir: &std::path::Path) -> (Option<i32>, String, String) {
    let out = run_check(dir);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn example_config_is_valid() {
    let (code, stdout, stderr) = check(&example_config_dir());
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("configuration OK") || stderr.contains("configuration OK"),
        "no `configuration OK`\nstdout: {stdout}\nstderr: {stderr}"
    );
}

#[test]
fn generated_test_config_is_valid() {
    let cfg = ConfigDir::new();
    cfg.write_api("petstore", VALID_API);
    let cfg = cfg.default_api("petstore");
    let (code, stdout, stderr) = check(cfg.path());
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
}

#[test]
fn the_summary_counts_what_was_understood() {
    let cfg = ConfigDir::new();
    cfg.write_api("petstore", VALID_API);
    let pki = common::tls::Pki::new("Test CA");
    common::tls::write_cert(&cfg, "a", &pki.server(&["a.test", "*.wild.test"]));
    let mapping = "mappings = [{ base_path = \"/\", api = \"petstore\", stage = \"prod\" }]";
    let cfg = cfg.default_api("petstore").gateway_extra(&format!(
        "\n[tls]\nlisten = [\"127.0.0.1:0\"]\n{}{}",
        common::tls::domain_toml("a.test", "a", mapping),
        common::tls::domain_toml("*.wild.test", "a", mapping),
    ));
    let (code, stdout, stderr) = check(cfg.path());
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains(
            "configuration OK: 1 API, 1 stage, 1 deployment, 1 method, 0 routes, 0 usage plans, 0 API keys, 2 custom domains ("
        ),
        "stdout: {stdout}"
    );
}

#[test]
fn syntax_error_is_reported_with_file_and_line() {
    let cfg = ConfigDir::new().default_api("petstore");
    cfg.write_api(
        "petstore",
        &VALID_API.replace("name = \"PetStore\"", "name = \"PetStore"),
    );
    let (code, _stdout, stderr) = check(cfg.path());
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("petstore.toml:2:"),
        "expected `petstore.toml:2:` in stderr:\n{stderr}"
    );
}

#[test]
fn stage_naming_a_missing_deployment_is_reported_with_file_line_and_field() {
    let cfg = ConfigDir::new().default_api("petstore");
    cfg.write_api(
        "petstore",
        &VALID_API.replace("deployment = \"v1\"", "deployment = \"v9\""),
    );
    let (code, _stdout, stderr) = check(cfg.path());
    assert_eq!(code, Some(1), "stderr: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("petstore.toml:5:"))
        .unwrap_or_else(|| panic!("expected `petstore.toml:5:` in stderr:\n{stderr}"));
    assert!(
        line.contains("deployment"),
        "the error does not name the field: {line}"
    );
}

#[test]
fn gateway_file_error_is_reported_with_file_line_and_field() {
    let cfg = ConfigDir::new();
    cfg.write_api("petstore", VALID_API);
    // Line 3 of the generated gateway.toml is `shards = 2`.
    let path = cfg.path().join("gateway.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.lines().nth(2),
        Some("shards = 2"),
        "generated gateway.toml changed:\n{text}"
    );
    std::fs::write(&path, text.replace("shards = 2", "shards = \"lots\"")).unwrap();

    let (code, _stdout, stderr) = check(cfg.path());
    assert_eq!(code, Some(1), "stderr: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("gateway.toml:3:"))
        .unwrap_or_else(|| panic!("expected `gateway.toml:3:` in stderr:\n{stderr}"));
    assert!(
        line.contains("shards"),
        "the error does not name the field: {line}"
    );
}

#[test]
fn starting_with_a_broken_config_fails() {
    let cfg = ConfigDir::new().default_api("petstore");
    cfg.write_api(
        "petstore",
        &VALID_API.replace("deployment = \"v1\"", "deployment = \"v9\""),
    );
    let mut child = Command::new(tollgate_bin())
        .arg("--config")
        .arg(cfg.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gateway kept running on a broken configuration");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "exit status {status:?}");
}
