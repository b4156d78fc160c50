//! The control plane driven by the real AWS CLI (PyPI's `awscli` v1, in the virtual
//! environment of `TOLLGATE_PYTHON`, or `aws` on the path), with the administrator key these
//! tests configure.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use super::{ConfigDir, Gateway};

/// The administrator key of the test configurations.
pub const ACCESS_KEY: &str = "AKIDTESTADMIN";
/// Its secret.
pub const SECRET_KEY: &str = "test-admin-secret";

/// `[control]` with the test key, for `ConfigDir::gateway_extra`.
pub fn control_toml() -> String {
    format!("[control]\naccess_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET_KEY}\"\n")
}

/// A configuration directory whose admin listener takes the test key.
pub fn config() -> ConfigDir {
    ConfigDir::new().gateway_extra(&control_toml())
}

/// The `aws` executable beside `TOLLGATE_PYTHON`, else `aws`.
fn aws_bin() -> PathBuf {
    std::env::var("TOLLGATE_PYTHON")
        .ok()
        .map(PathBuf::from)
        .and_then(|python| Some(python.parent()?.join("aws")))
        .filter(|aws| aws.exists())
        .unwrap_or_else(|| PathBuf::from("aws"))
}

/// What a failed CLI call printed.
#[derive(Debug, Clone)]
pub struct CliError {
    /// The exit status (254 for a service error, 255 for a client one).
    pub code: Option<i32>,
    /// Its standard error: `An error occurred (NotFoundException) when calling ...`.
    pub stderr: String,
}

impl CliError {
    /// Asserts the error names `kind` and says `message`.
    pub fn assert(&self, kind: &str, message: &str) {
        let expected = format!("An error occurred ({kind})");
        assert!(
            self.stderr.contains(&expected) && self.stderr.contains(message),
            "expected ({kind}) {message:?}, got: {}",
            self.stderr
        );
    }
}

/// `aws apigateway` against one gateway's admin listener.
pub struct Cli {
    endpoint: String,
    key: String,
    secret: String,
}

impl Cli {
    /// The CLI with the test key.
    pub fn new(gateway: &Gateway) -> Cli {
        Cli::at(gateway.admin_addr(), ACCESS_KEY, SECRET_KEY)
    }

    /// The CLI at `admin` with another key pair.
    pub fn at(admin: SocketAddr, key: &str, secret: &str) -> Cli {
        Cli {
            endpoint: format!("http://{admin}"),
            key: key.to_string(),
            secret: secret.to_string(),
        }
    }

    /// Runs `aws apigateway ARGS --output json`; its JSON output (`null` when it printed
    /// nothing, as deletes do), or what it printed on failure.
    pub fn try_run(&self, args: &[&str]) -> Result<serde_json::Value, CliError> {
        let out = Command::new(aws_bin())
            .args([
                "--endpoint-url",
                &self.endpoint,
                "--output",
                "json",
                "apigateway",
            ])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &self.key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .expect("run the AWS CLI (set TOLLGATE_PYTHON to a virtual environment with awscli)");
        if !out.status.success() {
            return Err(CliError {
                code: out.status.code(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        if stdout.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        Ok(serde_json::from_str(&stdout).expect("the CLI printed JSON"))
    }

    /// [`Cli::try_run`], which must succeed.
    pub fn run(&self, args: &[&str]) -> serde_json::Value {
        match self.try_run(args) {
            Ok(v) => v,
            Err(e) => panic!("aws apigateway {args:?} failed: {}", e.stderr),
        }
    }

    /// [`Cli::try_run`], which must fail.
    pub fn fails(&self, args: &[&str]) -> CliError {
        match self.try_run(args) {
            Ok(v) => panic!("aws apigateway {args:?} succeeded: {v}"),
            Err(e) => e,
        }
    }

    /// `create-rest-api --name NAME`: (id, root resource id).
    pub fn create_api(&self, name: &str) -> (String, String) {
        let api = self.run(&["create-rest-api", "--name", name]);
        (text(&api["id"]), text(&api["rootResourceId"]))
    }

    /// `create-resource` under `parent`: the new resource's id.
    pub fn create_resource(&self, api: &str, parent: &str, part: &str) -> String {
        let r = self.run(&[
            "create-resource",
            "--rest-api-id",
            api,
            "--parent-id",
            parent,
            "--path-part",
            part,
        ]);
        text(&r["id"])
    }

    /// A `GET` MOCK method on `resource` whose 200 answers `template` (put-method,
    /// put-integration with `{"statusCode": 200}`, put-method-response,
    /// put-integration-response).
    pub fn mock_get(&self, api: &str, resource: &str, template: &str) {
        let at = [
            "--rest-api-id",
            api,
            "--resource-id",
            resource,
            "--http-method",
            "GET",
        ];
        let with = |rest: &[&str]| -> Vec<String> {
            rest.iter()
                .chain(at.iter())
                .map(|s| s.to_string())
                .collect()
        };
        let run = |args: Vec<String>| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            self.run(&args)
        };
        run(with(&["put-method", "--authorization-type", "NONE"]));
        run(with(&[
            "put-integration",
            "--type",
            "MOCK",
            "--request-templates",
            r#"{"application/json": "{\"statusCode\": 200}"}"#,
        ]));
        run(with(&["put-method-response", "--status-code", "200"]));
        self.mock_response(api, resource, template);
    }

    /// Replaces the 200 integration response of `resource`'s GET with `template`.
    pub fn mock_response(&self, api: &str, resource: &str, template: &str) {
        let templates = serde_json::json!({ "application/json": template }).to_string();
        self.run(&[
            "put-integration-response",
            "--rest-api-id",
            api,
            "--resource-id",
            resource,
            "--http-method",
            "GET",
            "--status-code",
            "200",
            "--selection-pattern",
            "",
            "--response-templates",
            &templates,
        ]);
    }

    /// `update-stage` of `stage` with patch operations in the CLI's shorthand
    /// (`op=replace,path=/deploymentId,value=d1`).
    pub fn update_stage(
        &self,
        api: &str,
        stage: &str,
        ops: &[&str],
    ) -> Result<serde_json::Value, CliError> {
        let mut args = vec!["update-stage", "--rest-api-id", api, "--stage-name", stage];
        args.push("--patch-operations");
        args.extend_from_slice(ops);
        self.try_run(&args)
    }

    /// `get-export` of `stage` (`kind` `oas30` or `swagger`, with `extensions` when given)
    /// into `out`, parsed.
    pub fn export(
        &self,
        (api, stage): (&str, &str),
        kind: &str,
        extensions: Option<&str>,
        out: &std::path::Path,
    ) -> serde_json::Value {
        let mut args = vec!["get-export", "--rest-api-id", api, "--stage-name", stage];
        args.extend(["--export-type", kind]);
        let parameters = extensions.map(|e| format!("extensions={e}"));
        if let Some(p) = &parameters {
            args.extend(["--parameters", p]);
        }
        let path = out.to_str().expect("a UTF-8 path");
        args.push(path);
        self.run(&args);
        serde_json::from_slice(&std::fs::read(out).expect("the export")).expect("JSON")
    }

    /// An API named `name` whose `GET /pets` (a MOCK answering `template`) is deployed to
    /// stage `prod`: (API id, the `/pets` resource's id).
    pub fn pets_api(&self, name: &str, template: &str) -> (String, String) {
        let (api, root) = self.create_api(name);
        let pets = self.create_resource(&api, &root, "pets");
        self.mock_get(&api, &pets, template);
        self.deploy(&api, "prod");
        (api, pets)
    }

    /// `create-deployment --stage-name STAGE`: the deployment id.
    pub fn deploy(&self, api: &str, stage: &str) -> String {
        let d = self.run(&[
            "create-deployment",
            "--rest-api-id",
            api,
            "--stage-name",
            stage,
        ]);
        text(&d["id"])
    }
}

/// The `field` of each element of the list `list[key]` (`items`, or `item` for stages).
pub fn each(list: &serde_json::Value, key: &str, field: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no list {key} in {list}"))
        .iter()
        .map(|e| text(&e[field]))
        .collect()
}

/// A JSON string's text.
pub fn text(v: &serde_json::Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

/// `GET /{stage}{path}` of API `api` (host-style) on the gateway: (status, body).
pub fn call(gateway: &Gateway, api: &str, stage: &str, path: &str) -> (u16, String) {
    let host = format!("{api}.execute-api.localhost");
    let r = super::request(
        gateway.addr(),
        "GET",
        &format!("/{stage}{path}"),
        &[("Host", &host)],
        b"",
    );
    (r.status, r.body_str())
}
