//! Black-box test harness shared by every integration test file.
//!
//! The tests run the real `tollgate` binary as a child process against a configuration written
//! into a temporary directory, talk to it over TCP with a deliberately small hand-written
//! HTTP/1.1 client (so that malformed input can be sent byte for byte), and point its
//! `HTTP_PROXY` integrations at [`Backend`], a thread-based origin that records what it receives.
//!
//! Rules the helpers follow so that tests stay deterministic on a 2-core CI box and can run in
//! parallel:
//! - every listener is bound to port 0 (the gateway reports its real port in its logs);
//! - every blocking read has a timeout ([`IO_TIMEOUT`]), so a hung gateway fails a test
//!   instead of hanging CI;
//! - synchronisation is on log lines ([`Gateway::wait_for_log`]) and socket events, never on
//!   sleeps.
#![allow(dead_code)]

pub mod auth;
pub mod browser;
pub mod cache;
pub mod clock;
pub mod control;
pub mod functions;
pub mod h2;
pub mod lambda;
pub mod metrics;
pub mod redis;
pub mod systemd;
pub mod tls;
pub mod traffic;
pub mod upgrade;
pub mod websocket;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Longest a single blocking socket read or write may take before a test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the gateway may take to start, reload or log an expected line.
pub const LOG_TIMEOUT: Duration = Duration::from_secs(10);

/// The exact body AWS sends when no resource/method matches (403).
pub const MISSING_AUTH_TOKEN: &str = r#"{"message":"Missing Authentication Token"}"#;
/// The exact body of a failed integration (502); note the space after the colon, as AWS.
pub const INTERNAL_SERVER_ERROR: &str = r#"{"message": "Internal server error"}"#;
/// The exact body of a timed-out integration (504); note the space after the colon, as AWS.
pub const ENDPOINT_TIMED_OUT: &str = r#"{"message": "Endpoint request timed out"}"#;
/// The exact body of a request over `max_body_bytes` (413).
pub const REQUEST_TOO_LONG: &str = r#"{"message":"Request Too Long"}"#;

/// Path of the `tollgate` binary Cargo built for these tests.
pub fn tollgate_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tollgate")
}

/// Path of the example configuration shipped in the repository (`config/`).
pub fn example_config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Builder for one API file (`apis/{id}.toml`) in the format of `config/apis/petstore.toml`.
///
/// ```ignore
/// let api = ApiSpec::new("petstore")
///     .stage("prod", "v1")
///     .mock("v1", "GET /pets", 200, "[]")
///     .proxy("v1", "ANY /{proxy+}", "http://127.0.0.1:9/{proxy}");
/// ```
/// Deployments are created implicitly by the first method that names them. `to_string()` (or
/// `Display`) gives the TOML text.
#[derive(Debug, Clone)]
pub struct ApiSpec {
    id: String,
    /// (stage name, deployment, stage variables)
    stages: Vec<(String, String, Vars)>,
    /// (deployment id, TOML tables of its methods)
    deployments: Vec<(String, Vec<String>)>,
    /// (stage name, raw TOML appended to the stage's table)
    stage_extras: Vec<(String, String)>,
    /// Raw `key = value` lines of the API itself (`policy`, `api_key_source`).
    top: Vec<String>,
    /// Raw tables written after everything else (`[authorizers.NAME]`).
    tables: Vec<String>,
}

/// Stage variables as (name, value).
type Vars = Vec<(String, String)>;

impl ApiSpec {
    /// An API with the given `restapi_id` and no stages or methods yet.
    pub fn new(id: &str) -> Self {
        ApiSpec {
            id: id.to_string(),
            stages: Vec::new(),
            deployments: Vec::new(),
            stage_extras: Vec::new(),
            top: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// Adds a `key = value` line to the API's own table (e.g. `api_key_source = "AUTHORIZER"`).
    pub fn api_line(mut self, line: &str) -> Self {
        self.top.push(line.to_string());
        self
    }

    /// Appends a raw table (e.g. `[authorizers.NAME]` with its lines) to the file.
    pub fn table(mut self, toml: &str) -> Self {
        self.tables.push(toml.to_string());
        self
    }

    /// The API's id (also the file name the API is written to).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Adds a stage pointing at `deployment`, without stage variables.
    pub fn stage(self, name: &str, deployment: &str) -> Self {
        self.stage_vars(name, deployment, &[])
    }

    /// Adds a stage pointing at `deployment` with the given stage variables.
    pub fn stage_vars(mut self, name: &str, deployment: &str, vars: &[(&str, &str)]) -> Self {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.stages
            .push((name.to_string(), deployment.to_string(), vars));
        self
    }

    /// Adds a MOCK method (`route` is `"METHOD /resource/path"`) answering `status` and `body`
    /// with `content-type: text/plain`.
    pub fn mock(self, deployment: &str, route: &str, status: u16, body: &str) -> Self {
        self.mock_with_headers(
            deployment,
            route,
            status,
            &[("content-type", "text/plain")],
            body,
        )
    }

    /// Adds a MOCK method with explicit response headers.
    pub fn mock_with_headers(
        self,
        deployment: &str,
        route: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Self {
        let headers: Vec<String> = headers
            .iter()
            .map(|(k, v)| format!("{} = {}", toml_str(k), toml_str(v)))
            .collect();
        let integration = format!(
            "{{ type = \"MOCK\", status = {status}, headers = {{ {} }}, body = {} }}",
            headers.join(", "),
            toml_str(body)
        );
        self.method(deployment, route, &integration)
    }

    /// Adds an HTTP_PROXY method to `uri` with the default integration timeout.
    pub fn proxy(self, deployment: &str, route: &str, uri: &str) -> Self {
        let integration = format!("{{ type = \"HTTP_PROXY\", uri = {} }}", toml_str(uri));
        self.method(deployment, route, &integration)
    }

    /// Adds an HTTP_PROXY method to `uri` with the method's own `timeout_ms`.
    pub fn proxy_timeout(self, deployment: &str, route: &str, uri: &str, timeout_ms: u64) -> Self {
        let integration = format!(
            "{{ type = \"HTTP_PROXY\", uri = {}, timeout_ms = {timeout_ms} }}",
            toml_str(uri)
        );
        self.method(deployment, route, &integration)
    }

    /// Appends raw TOML to stage `name`'s table (key/value lines first, then sub-tables such
    /// as `[stages.NAME.method_settings."GET /x"]`), e.g. cache settings or `throttle`.
    pub fn stage_toml(mut self, name: &str, toml: &str) -> Self {
        self.stage_extras.push((name.to_string(), toml.to_string()));
        self
    }

    /// Adds stage `stage`'s per-method settings for method `key` (`"GET /pets"`): `fields` are
    /// `throttling_rate_limit`, `throttling_burst_limit` and cache lines (see
    /// [`method_settings_toml`]). A sub-table: add the stage's own lines before it.
    pub fn method_settings(self, stage: &str, key: &str, fields: &str) -> Self {
        self.stage_toml(stage, &method_settings_toml(stage, key, fields))
    }

    /// Adds a method with a raw TOML inline table as its integration.
    pub fn method(self, deployment: &str, route: &str, integration_toml: &str) -> Self {
        self.method_toml(deployment, route, integration_toml, "")
    }

    /// Adds a method with a raw TOML integration and extra raw lines in the method's table
    /// (e.g. `cache_key_parameters = [...]`).
    pub fn method_toml(
        mut self,
        deployment: &str,
        route: &str,
        integration_toml: &str,
        extra: &str,
    ) -> Self {
        let line = format!(
            "[deployments.{}.methods.{}]\nintegration = {}\n{extra}\n",
            toml_key(deployment),
            toml_str(route),
            integration_toml
        );
        match self.deployments.iter_mut().find(|(d, _)| d == deployment) {
            Some((_, methods)) => methods.push(line),
            None => self.deployments.push((deployment.to_string(), vec![line])),
        }
        self
    }
}

impl std::fmt::Display for ApiSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "id = {}", toml_str(&self.id))?;
        writeln!(f, "name = {}", toml_str(&self.id))?;
        for line in &self.top {
            writeln!(f, "{line}")?;
        }
        for (name, deployment, vars) in &self.stages {
            writeln!(f, "\n[stages.{}]", toml_key(name))?;
            writeln!(f, "deployment = {}", toml_str(deployment))?;
            if !vars.is_empty() {
                let vars: Vec<String> = vars
                    .iter()
                    .map(|(k, v)| format!("{} = {}", toml_key(k), toml_str(v)))
                    .collect();
                writeln!(f, "variables = {{ {} }}", vars.join(", "))?;
            }
            for (_, extra) in self.stage_extras.iter().filter(|(s, _)| s == name) {
                writeln!(f, "{extra}")?;
            }
        }
        for (deployment, methods) in &self.deployments {
            writeln!(f, "\n[deployments.{}]", toml_key(deployment))?;
            writeln!(
                f,
                "description = {}",
                toml_str(&format!("deployment {deployment}"))
            )?;
            for m in methods {
                writeln!(f, "\n{m}")?;
            }
        }
        for t in &self.tables {
            writeln!(f, "\n{t}")?;
        }
        Ok(())
    }
}

/// API `petstore`, stage `prod` on deployment `v1`: `GET /pets` (MOCK 200 `[]`),
/// `GET /pets/{petId}` (MOCK 404) and `ANY /up/{proxy+}` proxied to `backend`: one method of
/// each outcome, for the tests that count what the gateway reports about requests.
pub fn reported_api(backend: &Backend) -> ApiSpec {
    ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "[]")
        .mock("v1", "GET /pets/{petId}", 404, "no such pet")
        .proxy(
            "v1",
            "ANY /up/{proxy+}",
            &format!("{}/{{proxy}}", backend.url()),
        )
}

/// Panics, showing `text`, unless it contains every one of `needles` (config error reports).
pub fn assert_mentions(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
}

/// A TOML basic string literal for `s` (quoted and escaped).
pub fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A stage's per-method settings table, AWS's `methodSettings` entry for one method:
/// `[stages.STAGE.method_settings."KEY"]` followed by `fields`, e.g.
/// `"throttling_rate_limit = 1\nthrottling_burst_limit = 2\ncache_ttl_in_seconds = 5"`.
/// It is a table header, so it must come after the stage's own `key = value` lines.
pub fn method_settings_toml(stage: &str, key: &str, fields: &str) -> String {
    format!(
        "[stages.{}.method_settings.{}]\n{fields}\n",
        toml_key(stage),
        toml_str(key)
    )
}

/// A TOML key: bare if possible, quoted otherwise.
fn toml_key(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        s.to_string()
    } else {
        toml_str(s)
    }
}

/// A configuration directory (`gateway.toml` + `apis/*.toml`) in a fresh temporary directory.
///
/// Defaults suit tests: listen and admin on `127.0.0.1:0`, 2 shards, no core pinning, the
/// limits of the example config. Builder methods rewrite `gateway.toml` immediately;
/// [`ConfigDir::write_api`] rewrites an API file in place (for reload tests).
pub struct ConfigDir {
    dir: tempfile::TempDir,
    shards: usize,
    admin: bool,
    default_api: Option<String>,
    execute_api_domain: String,
    limits: BTreeMap<&'static str, u64>,
    /// Extra `key = value` lines of `[server]`.
    server_lines: Vec<String>,
    /// `server.listen` (default `127.0.0.1:0`).
    listen: String,
    /// Raw TOML appended to `gateway.toml` (`[throttle]`, `[tls]`, `[[domain]]` ...).
    extra: String,
}

impl ConfigDir {
    /// A directory with only `gateway.toml` and an empty `apis/` folder.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tollgate-test-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir(dir.path().join("apis")).expect("create apis/");
        let limits = BTreeMap::from([
            ("max_header_bytes", 10_240),
            ("max_body_bytes", 10_485_760),
            ("header_timeout_ms", 10_000),
            ("body_timeout_ms", 30_000),
            ("idle_timeout_ms", 60_000),
            ("send_timeout_ms", 30_000),
            ("drain_timeout_ms", 10_000),
            ("integration_timeout_ms", 29_000),
            ("pool_max_idle_per_backend", 64),
            ("pool_idle_timeout_ms", 60_000),
            ("request_buffer_bytes", 65_536),
            ("websocket_frame_bytes", 32_768),
            ("websocket_message_bytes", 131_072),
            ("websocket_idle_timeout_ms", 600_000),
            ("websocket_max_duration_ms", 7_200_000),
        ]);
        let c = ConfigDir {
            dir,
            shards: 2,
            admin: true,
            default_api: None,
            execute_api_domain: "localhost".to_string(),
            limits,
            server_lines: Vec::new(),
            listen: "127.0.0.1:0".to_string(),
            extra: String::new(),
        };
        c.write_gateway();
        c
    }

    /// Shortcut: a directory serving one API, which is also the default (path-style) API.
    pub fn with_api(api: &ApiSpec) -> Self {
        ConfigDir::new().api(api)
    }

    /// Number of shards (`server.shards`).
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = n;
        self.write_gateway();
        self
    }

    /// Number of shards configured.
    pub fn shard_count(&self) -> usize {
        self.shards
    }

    /// Sets one `[limits]` value, e.g. `.limit("header_timeout_ms", 300)`.
    pub fn limit(mut self, key: &'static str, value: u64) -> Self {
        assert!(self.limits.contains_key(key), "unknown limit {key}");
        self.limits.insert(key, value);
        self.write_gateway();
        self
    }

    /// Listens on `addr` instead of `127.0.0.1:0` (e.g. `[::1]:0` for IPv6 clients).
    pub fn listen_on(mut self, addr: &str) -> Self {
        self.listen = addr.to_string();
        self.write_gateway();
        self
    }

    /// Adds a raw `key = value` line to `[server]`, e.g. `access_log_queue = 4`.
    pub fn server_line(mut self, line: &str) -> Self {
        self.server_lines.push(line.to_string());
        self.write_gateway();
        self
    }

    /// The API served path-style on every host (`server.default_api`). Defaults to the first
    /// API added.
    pub fn default_api(mut self, id: &str) -> Self {
        self.default_api = Some(id.to_string());
        self.write_gateway();
        self
    }

    /// Adds (writes) an API file `apis/{id}.toml`.
    pub fn api(mut self, api: &ApiSpec) -> Self {
        self.write_api(api.id(), &api.to_string());
        if self.default_api.is_none() {
            self.default_api = Some(api.id().to_string());
            self.write_gateway();
        }
        self
    }

    /// Appends raw TOML sections to `gateway.toml`, e.g. `"[throttle]\nrate_limit = 5\n"` or
    /// `[tls]` and `[[domain]]` tables.
    pub fn gateway_extra(mut self, toml: &str) -> Self {
        self.extra.push_str(toml);
        self.write_gateway();
        self
    }

    /// Writes any file below the configuration directory (atomically), creating folders.
    pub fn write_file(&self, relative: &str, text: &str) {
        let path = self.dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create config subfolder");
        }
        write_atomically(&path, text);
    }

    /// Writes `apis/{name}.toml` with arbitrary text (atomically: write then rename, so the
    /// gateway never reads half a file). Use before [`Gateway::reload`].
    pub fn write_api(&self, name: &str, toml: &str) {
        let path = self.dir.path().join("apis").join(format!("{name}.toml"));
        write_atomically(&path, toml);
    }

    /// Replaces what [`ConfigDir::gateway_extra`] appended, on a directory in use (before
    /// [`Gateway::reload`]).
    pub fn set_gateway_extra(&mut self, toml: &str) {
        self.extra = toml.to_string();
        self.write_gateway();
    }

    /// Path of the configuration directory (the argument of `--config`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write_gateway(&self) {
        let mut s = String::new();
        writeln!(s, "[server]").unwrap();
        writeln!(s, "listen = [{}]", toml_str(&self.listen)).unwrap();
        writeln!(s, "shards = {}", self.shards).unwrap();
        writeln!(s, "pin_cores = false").unwrap();
        if self.admin {
            writeln!(s, "admin = \"127.0.0.1:0\"").unwrap();
        }
        writeln!(s, "apis_dir = \"apis\"").unwrap();
        if let Some(api) = &self.default_api {
            writeln!(s, "default_api = {}", toml_str(api)).unwrap();
        }
        writeln!(
            s,
            "execute_api_domain = {}",
            toml_str(&self.execute_api_domain)
        )
        .unwrap();
        for line in &self.server_lines {
            writeln!(s, "{line}").unwrap();
        }
        writeln!(s, "\n[limits]").unwrap();
        for (k, v) in &self.limits {
            writeln!(s, "{k} = {v}").unwrap();
        }
        s.push('\n');
        s.push_str(&self.extra);
        write_atomically(&self.dir.path().join("gateway.toml"), &s);
    }
}

impl Default for ConfigDir {
    fn default() -> Self {
        ConfigDir::new()
    }
}

fn write_atomically(path: &Path, contents: &str) {
    let tmp = path.with_extension("toml.tmp-write");
    std::fs::write(&tmp, contents).expect("write config file");
    std::fs::rename(&tmp, path).expect("rename config file");
}

// ---------------------------------------------------------------------------------------------
// The gateway process
// ---------------------------------------------------------------------------------------------

/// Log lines of a child process, appended by reader threads, with a condition variable to wait
/// for new lines.
#[derive(Default)]
struct LogBuffer {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
}

impl LogBuffer {
    /// Spawns a thread appending every line of `r` until EOF. Lines that arrived together
    /// (one multi-line log event, written with one `write`) are appended together, so a
    /// waiter woken by an event's first line also sees the rest of it.
    fn collect(self: &Arc<Self>, r: impl Read + Send + 'static) {
        let me = Arc::clone(self);
        thread::spawn(move || {
            let mut r = BufReader::new(r);
            let mut line = Vec::new();
            loop {
                let mut batch = Vec::new();
                loop {
                    line.clear();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => batch.push(String::from_utf8_lossy(&line).trim_end().to_string()),
                    }
                    if !r.buffer().contains(&b'\n') {
                        break;
                    }
                }
                if batch.is_empty() {
                    break;
                }
                me.lines.lock().unwrap().extend(batch);
                me.changed.notify_all();
            }
        });
    }
}

/// Outcome of a SIGHUP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// `config reloaded generation=N`.
    Reloaded { generation: u64 },
    /// `config reload failed`; the old generation keeps serving.
    Failed,
}

/// A running `tollgate --config DIR` child process.
///
/// Started by [`Gateway::start`], which returns once the gateway logged `ready`. Dropping it
/// kills the process; if the test is panicking, every collected log line is printed so the
/// failure can be understood from the test output.
pub struct Gateway {
    child: Child,
    logs: Arc<LogBuffer>,
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    exit: Option<ExitStatus>,
}

impl Gateway {
    /// Spawns the gateway on `config` and waits (at most [`LOG_TIMEOUT`]) for `ready`.
    /// Panics, showing the logs, if it exits or does not get ready in time.
    pub fn start(config: &ConfigDir) -> Gateway {
        Self::start_dir(config.path())
    }

    /// Like [`Gateway::start`] for an arbitrary configuration directory.
    pub fn start_dir(dir: &Path) -> Gateway {
        Self::start_with_env(dir, &[])
    }

    /// Like [`Gateway::start_dir`] with extra environment variables (e.g. test-only switches
    /// such as the test clock, see [`clock`]).
    pub fn start_with_env(dir: &Path, env: &[(&str, &str)]) -> Gateway {
        Self::start_with_binary(Path::new(tollgate_bin()), dir, env)
    }

    /// Like [`Gateway::start_with_env`] from another copy of the binary (upgrade tests
    /// replace the file under a running node).
    pub fn start_with_binary(exe: &Path, dir: &Path, env: &[(&str, &str)]) -> Gateway {
        let mut child = Command::new(exe)
            .arg("--config")
            .arg(dir)
            .env("RUST_LOG", "info")
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tollgate");
        let logs = Arc::new(LogBuffer::default());
        logs.collect(child.stderr.take().unwrap());
        logs.collect(child.stdout.take().unwrap());
        let mut gw = Gateway {
            child,
            logs,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            admin_addr: None,
            exit: None,
        };
        if gw
            .wait_for_log(0, "ready generation=", LOG_TIMEOUT)
            .is_none()
        {
            let status = gw.child.try_wait().ok().flatten();
            panic!(
                "gateway did not log `ready` within {LOG_TIMEOUT:?} (exit status: {status:?})\n{}",
                gw.logs_text()
            );
        }
        let mut data = None;
        for line in gw.logs() {
            if let Some(addr) = addr_after(&line, "listening addr=") {
                if line.contains("admin listening") {
                    gw.admin_addr.get_or_insert(addr);
                } else {
                    data.get_or_insert(addr);
                }
            }
        }
        gw.addr = data.unwrap_or_else(|| {
            panic!(
                "no `listening addr=` line before `ready`\n{}",
                gw.logs_text()
            )
        });
        gw
    }

    /// Address of the (first) HTTPS listener (`listening tls addr=` log line).
    pub fn tls_addr(&self) -> SocketAddr {
        self.logs()
            .iter()
            .find_map(|line| addr_after(line, "listening tls addr="))
            .unwrap_or_else(|| panic!("no `listening tls addr=` line\n{}", self.logs_text()))
    }

    /// Address of the (first) data listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Address of the admin listener; panics if the gateway did not log one.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
            .unwrap_or_else(|| panic!("no `admin listening addr=` line\n{}", self.logs_text()))
    }

    /// Process id of the gateway.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Files the gateway process has open now (targets of `/proc/<pid>/fd`), a deleted
    /// file under the path it had (without the kernel's ` (deleted)` suffix).
    pub fn open_files(&self) -> Vec<PathBuf> {
        let dir = format!("/proc/{}/fd", self.pid());
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
        entries
            .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
            .map(|target| {
                let text = target.to_string_lossy();
                PathBuf::from(text.strip_suffix(" (deleted)").unwrap_or(&text))
            })
            .collect()
    }

    /// Whether the gateway has `file` open (even if it was deleted since). `file`'s folder
    /// must exist, to be resolved as the kernel names it (`/tmp` may be a symbolic link).
    pub fn has_open(&self, file: &Path) -> bool {
        let resolved = canonical_file_path(file);
        self.open_files().contains(&resolved)
    }

    /// Waits at most `timeout` for the gateway to close `file`; returns whether it did.
    pub fn wait_closed(&self, file: &Path, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.has_open(file) {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// All log lines so far (stderr and stdout, in arrival order per stream).
    pub fn logs(&self) -> Vec<String> {
        self.logs.lines.lock().unwrap().clone()
    }

    /// Number of log lines so far; pass it to [`Gateway::wait_for_log`] to wait only for lines
    /// logged after this point.
    pub fn log_len(&self) -> usize {
        self.logs.lines.lock().unwrap().len()
    }

    /// All log lines joined, for panic messages.
    pub fn logs_text(&self) -> String {
        self.logs().join("\n")
    }

    /// Waits until a line at index `>= from` contains `needle`; returns its index and text, or
    /// `None` after `timeout`.
    pub fn wait_for_log(
        &self,
        from: usize,
        needle: &str,
        timeout: Duration,
    ) -> Option<(usize, String)> {
        self.wait_for_any_log(from, &[needle], timeout)
    }

    /// Waits (at most [`LOG_TIMEOUT`]) for a line containing `needle` anywhere in the log;
    /// panics, showing the logs, if none comes. Lines reach the buffer through a reader
    /// thread, so a line the gateway wrote before answering may not be there yet when the
    /// answer is: never check with `logs_text().contains(..)` right after a request.
    #[track_caller]
    pub fn assert_logged(&self, needle: &str) {
        if self.wait_for_log(0, needle, LOG_TIMEOUT).is_none() {
            panic!("no log line contains {needle:?}\n{}", self.logs_text());
        }
    }

    /// Like [`Gateway::wait_for_log`] with several alternatives.
    pub fn wait_for_any_log(
        &self,
        from: usize,
        needles: &[&str],
        timeout: Duration,
    ) -> Option<(usize, String)> {
        let deadline = Instant::now() + timeout;
        let mut lines = self.logs.lines.lock().unwrap();
        loop {
            if let Some(i) =
                (from..lines.len()).find(|&i| needles.iter().any(|n| lines[i].contains(n)))
            {
                return Some((i, lines[i].clone()));
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            lines = self
                .logs
                .changed
                .wait_timeout(lines, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// Sends a signal to the gateway process.
    pub fn signal(&self, sig: libc::c_int) {
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(
            rc,
            0,
            "kill({}, {sig}) failed: {}",
            self.child.id(),
            io::Error::last_os_error()
        );
    }

    /// Sends SIGHUP and waits for the next `config reloaded` or `config reload failed` line.
    pub fn reload(&self) -> Reload {
        let from = self.log_len();
        self.signal(libc::SIGHUP);
        match self.wait_for_any_log(
            from,
            &["config reloaded", "config reload failed"],
            LOG_TIMEOUT,
        ) {
            Some((_, line)) if line.contains("config reload failed") => Reload::Failed,
            Some((_, line)) => {
                let generation = number_after(&line, "generation=").unwrap_or_else(|| {
                    panic!(
                        "no generation= in reload line {line:?}\n{}",
                        self.logs_text()
                    )
                });
                Reload::Reloaded { generation }
            }
            None => panic!(
                "no reload outcome logged after SIGHUP\n{}",
                self.logs_text()
            ),
        }
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Waits at most `timeout` for the process to exit; panics (showing logs) if it does not.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.exit {
            return status;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exit = Some(status);
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "gateway did not exit within {timeout:?}\n{}",
                    self.logs_text()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET /ping` on the admin listener, parsed as JSON.
    pub fn ping(&self) -> serde_json::Value {
        let resp = Req::get("/ping").send(self.admin_addr());
        assert_eq!(resp.status, 200, "admin /ping: {resp:?}");
        serde_json::from_slice(&resp.body)
            .unwrap_or_else(|e| panic!("admin /ping body is not JSON ({e}): {:?}", resp.body_str()))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!("----- tollgate logs ({} lines) -----", self.log_len());
            eprintln!("{}", self.logs_text());
            eprintln!("----- end of tollgate logs -----");
        }
    }
}

/// `file` with its folder resolved (symbolic links, `..`), as `/proc/<pid>/fd` shows it; the
/// file itself need not exist.
fn canonical_file_path(file: &Path) -> PathBuf {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        panic!("{} is not a file path", file.display());
    };
    dir.canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .join(name)
}

/// Parses the `IP:PORT` following `key` in a log line (tolerates quotes around it).
fn addr_after(line: &str, key: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(key)? + key.len()..];
    // The address ends at the first character that cannot be part of one (a space, or the
    // quote and brace of a JSON log line).
    let end = rest
        .find(|c: char| !(c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Parses the number following `key` in a log line.
pub fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Runs `tollgate --check DIR` and returns its output.
pub fn run_check(dir: &Path) -> Output {
    Command::new(tollgate_bin())
        .arg("--check")
        .arg(dir)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .expect("run tollgate --check")
}

/// Runs `tollgate --check DIR`, asserts that it refuses the configuration, and returns what it
/// printed (stderr, then stdout).
pub fn check_fails(dir: &Path) -> String {
    let out = run_check(dir);
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    text
}

// ---------------------------------------------------------------------------------------------
// Test backend (origin server)
// ---------------------------------------------------------------------------------------------

/// A request as the backend received it (chunked bodies already decoded).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Request target as sent (path and query).
    pub target: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the body arrived with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// Index of the backend connection (0-based, in accept order) the request came on.
    pub connection: usize,
}

impl RecordedRequest {
    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// All values of a header (name case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        headers_in(&self.headers, name)
    }

    /// The body as UTF-8 (lossy).
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How the backend frames (or refuses to send) its answer.
#[derive(Debug, Clone)]
pub enum BodyMode {
    /// `Content-Length` framing.
    ContentLength,
    /// `Transfer-Encoding: chunked`, one chunk per element.
    Chunked(Vec<Vec<u8>>),
    /// No length: the body ends when the backend closes the connection.
    CloseDelimited,
    /// Reads the request, then resets the connection (RST) without answering.
    Reset,
    /// Reads the request, then closes the connection (FIN) without answering.
    Close,
}

/// A one-shot latch: the backend can wait on it while a test decides when it may continue.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Lets every waiter continue.
    pub fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    /// Waits until opened or `timeout`; returns whether it was opened.
    pub fn wait(&self, timeout: Duration) -> bool {
        let guard = self.0 .0.lock().unwrap();
        let (guard, _) = self
            .0
             .1
            .wait_timeout_while(guard, timeout, |open| !*open)
            .unwrap();
        *guard
    }
}

/// What the backend answers to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub mode: BodyMode,
    /// Sleep before answering.
    pub delay: Duration,
    /// For [`BodyMode::Chunked`]: after the first chunk, wait for this gate (at most 10 s).
    pub pause_after_first_chunk: Option<GateDebug>,
}

/// [`Gate`] wrapper so that [`Reply`] can derive `Debug`.
#[derive(Clone)]
pub struct GateDebug(pub Gate);
impl std::fmt::Debug for GateDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

impl Reply {
    /// `status` with an empty body (Content-Length framing).
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            mode: BodyMode::ContentLength,
            delay: Duration::ZERO,
            pause_after_first_chunk: None,
        }
    }

    /// 200 with `body` and `Content-Length`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(200).body(body)
    }

    /// Resets the connection instead of answering.
    pub fn reset() -> Reply {
        Reply {
            mode: BodyMode::Reset,
            ..Reply::status(0)
        }
    }

    /// Closes the connection instead of answering.
    pub fn close() -> Reply {
        Reply {
            mode: BodyMode::Close,
            ..Reply::status(0)
        }
    }

    /// Sets the body (Content-Length framing unless changed afterwards).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sends the body as these chunks with `Transfer-Encoding: chunked`.
    pub fn chunked(mut self, chunks: Vec<Vec<u8>>) -> Reply {
        self.body = chunks.concat();
        self.mode = BodyMode::Chunked(chunks);
        self
    }

    /// Sends the body without a length and closes the connection after it.
    pub fn close_delimited(mut self) -> Reply {
        self.mode = BodyMode::CloseDelimited;
        self
    }

    /// Waits `d` before answering.
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    /// With [`Reply::chunked`]: sends the head and the first chunk, then waits for `gate`.
    pub fn pause_after_first_chunk(mut self, gate: &Gate) -> Reply {
        self.pause_after_first_chunk = Some(GateDebug(gate.clone()));
        self
    }
}

type Handler = dyn Fn(&RecordedRequest) -> Reply + Send + Sync + 'static;

struct BackendShared {
    handler: Box<Handler>,
    accepted: AtomicUsize,
    requests: Mutex<Vec<RecordedRequest>>,
    request_added: Condvar,
    stop: AtomicBool,
}

/// An HTTP/1.1 origin on `127.0.0.1:0`, one thread per connection, with keep-alive.
///
/// Every request is recorded (see [`Backend::requests`]) before the handler's reply is sent.
/// The backend answers `Expect: 100-continue` with `100 Continue` like a real server, and
/// sends no body to `HEAD`.
pub struct Backend {
    addr: SocketAddr,
    shared: Arc<BackendShared>,
}

impl Backend {
    /// Starts a backend answering every request with `handler`'s reply.
    pub fn start(handler: impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(BackendShared {
            handler: Box::new(handler),
            accepted: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            request_added: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let index = s.accepted.fetch_add(1, Ordering::SeqCst);
                let s = Arc::clone(&s);
                thread::spawn(move || {
                    let _ = serve_backend_connection(stream, index, &s);
                });
            }
        });
        Backend { addr, shared }
    }

    /// A backend answering 200 with the request body, plus headers `x-echo-method` and
    /// `x-echo-target`.
    pub fn echo() -> Backend {
        Backend::start(|req| {
            Reply::ok(req.body.clone())
                .header("x-echo-method", &req.method)
                .header("x-echo-target", &req.target)
        })
    }

    /// A backend answering 200 with a fixed body.
    pub fn fixed(body: &str) -> Backend {
        let body = body.to_string();
        Backend::start(move |_| Reply::ok(body.clone()))
    }

    /// Listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port` as used in integration URIs and stage variables.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// `http://host:port`, prefix for integration URIs.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Requests received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The only request received; panics if there were zero or several.
    pub fn single_request(&self) -> RecordedRequest {
        let reqs = self.requests();
        assert_eq!(
            reqs.len(),
            1,
            "expected exactly one backend request, got {reqs:#?}"
        );
        reqs.into_iter().next().unwrap()
    }

    /// Waits (at most `timeout`) until at least `n` requests were received; returns whether
    /// they were.
    pub fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
        let guard = self.shared.requests.lock().unwrap();
        let (guard, _) = self
            .shared
            .request_added
            .wait_timeout_while(guard, timeout, |reqs| reqs.len() < n)
            .unwrap();
        guard.len() >= n
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that its thread ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// Serves one backend connection until the peer closes it or a reply mode ends it.
fn serve_backend_connection(
    mut stream: TcpStream,
    index: usize,
    s: &BackendShared,
) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = StreamBuf::new(stream.try_clone()?);
    loop {
        let Some(head) = reader.read_head()? else {
            return Ok(());
        };
        let (method, target, version, headers) =
            parse_request_head(&head).map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
        if header_in(&headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let te = header_in(&headers, "transfer-encoding").map(str::to_ascii_lowercase);
        let chunked = te.as_deref().is_some_and(|t| t.contains("chunked"));
        let body = if chunked {
            reader.read_chunked_body()?
        } else {
            let len =
                header_in(&headers, "content-length").map_or(0, |v| v.trim().parse().unwrap_or(0));
            reader.read_exact_vec(len)?
        };
        let close_requested = header_in(&headers, "connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
            || version == "HTTP/1.0";
        let req = RecordedRequest {
            method,
            target,
            version,
            headers,
            body,
            chunked,
            connection: index,
        };
        s.requests.lock().unwrap().push(req.clone());
        s.request_added.notify_all();

        let reply = (s.handler)(&req);
        if !reply.delay.is_zero() {
            thread::sleep(reply.delay);
        }
        let is_head = req.method == "HEAD";
        let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
        for (k, v) in &reply.headers {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        match &reply.mode {
            BodyMode::Reset => {
                socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
                return Ok(());
            }
            BodyMode::Close => {
                let _ = stream.shutdown(Shutdown::Both);
                return Ok(());
            }
            BodyMode::ContentLength => {
                let _ = write!(head, "content-length: {}\r\n\r\n", reply.body.len());
                stream.write_all(head.as_bytes())?;
                if !is_head {
                    stream.write_all(&reply.body)?;
                }
            }
            BodyMode::CloseDelimited => {
                head.push_str("connection: close\r\n\r\n");
                stream.write_all(head.as_bytes())?;
                if !is_head {
                    stream.write_all(&reply.body)?;
                }
                stream.flush()?;
                let _ = stream.shutdown(Shutdown::Write);
                // Let the peer read everything before the socket is dropped.
                let _ = reader.drain_until_eof(Duration::from_secs(5));
                return Ok(());
            }
            BodyMode::Chunked(chunks) => {
                head.push_str("transfer-encoding: chunked\r\n\r\n");
                stream.write_all(head.as_bytes())?;
                if !is_head {
                    for (i, chunk) in chunks.iter().enumerate() {
                        if chunk.is_empty() {
                            continue; // an empty chunk would end the body
                        }
                        let mut out = format!("{:x}\r\n", chunk.len()).into_bytes();
                        out.extend_from_slice(chunk);
                        out.extend_from_slice(b"\r\n");
                        stream.write_all(&out)?;
                        if i == 0 {
                            if let Some(gate) = &reply.pause_after_first_chunk {
                                stream.flush()?;
                                gate.0.wait(Duration::from_secs(10));
                            }
                        }
                    }
                    stream.write_all(b"0\r\n\r\n")?;
                }
            }
        }
        stream.flush()?;
        if close_requested {
            let _ = stream.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// Reason phrase for common status codes (the gateway must not care).
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Whatever",
    }
}

/// Parses a request head (`METHOD SP target SP version CRLF headers CRLF CRLF`).
#[allow(clippy::type_complexity)]
fn parse_request_head(
    head: &[u8],
) -> Result<(String, String, String, Vec<(String, String)>), String> {
    let text = std::str::from_utf8(head).map_err(|e| format!("non-UTF-8 request head: {e}"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or("empty head")?;
    let mut parts = request_line.splitn(3, ' ');
    let method = parts.next().ok_or("no method")?.to_string();
    let target = parts.next().ok_or("no target")?.to_string();
    let version = parts.next().ok_or("no version")?.to_string();
    let headers = parse_header_lines(lines)?;
    Ok((method, target, version, headers))
}

fn parse_header_lines<'a>(
    lines: impl Iterator<Item = &'a str>,
) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line without colon: {line:?}"))?;
        if name.is_empty() || name.contains(|c: char| c.is_whitespace()) {
            return Err(format!("invalid header name in {line:?}"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(headers)
}

fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn headers_in<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A buffered reader over a socket used by the backend.
struct StreamBuf {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl StreamBuf {
    fn new(stream: TcpStream) -> Self {
        StreamBuf {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads more bytes; `Ok(0)` at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.stream.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// The next head including its final CRLFCRLF, or `None` on a clean EOF before any byte.
    fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                return Ok(Some(self.buf.drain(..end + 4).collect()));
            }
            if self.fill()? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "EOF inside request head",
                    ))
                };
            }
        }
    }

    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                let line = self.buf.drain(..end + 2).take(end).collect();
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "EOF inside chunked body",
                ));
            }
        }
    }

    fn read_exact_vec(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(io::Error::new(ErrorKind::UnexpectedEof, "EOF inside body"));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    fn read_chunked_body(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let line = String::from_utf8_lossy(&line);
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| {
                io::Error::new(
                    ErrorKind::InvalidData,
                    format!("bad chunk size line {line:?}"),
                )
            })?;
            if size == 0 {
                // Trailer section ends with an empty line.
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.read_exact_vec(size)?);
            if !self.read_line()?.is_empty() {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    "chunk not followed by CRLF",
                ));
            }
        }
    }

    fn drain_until_eof(&mut self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))?;
        while self.fill()? > 0 {}
        Ok(())
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A `127.0.0.1` port with nothing listening (bound then released), for "connection refused".
pub fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// A parsed HTTP response.
#[derive(Clone)]
pub struct Response {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body after removing chunked framing.
    pub body: Vec<u8>,
    /// Whether the body came with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// Whether the body was delimited by the connection closing.
    pub close_delimited: bool,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("body", &self.body_str_truncated())
            .field("chunked", &self.chunked)
            .field("close_delimited", &self.close_delimited)
            .finish()
    }
}

/// Result of trying to parse a response from the bytes received so far.
#[derive(Debug)]
pub enum Parsed {
    /// A whole response and the number of bytes it used.
    Complete(Response, usize),
    /// More bytes are needed.
    Partial,
    /// Not a valid HTTP/1.x response.
    Invalid(String),
}

impl Response {
    /// Parses one complete response from `bytes` (all bytes the connection delivered, so a body
    /// without length ends at the end of `bytes`). Panics if it is not a complete response.
    pub fn parse(bytes: &[u8]) -> Response {
        match Response::parse_partial(bytes, false, true) {
            Parsed::Complete(r, _) => r,
            other => panic!(
                "not a complete HTTP response ({other:?}): {:?}",
                String::from_utf8_lossy(bytes)
            ),
        }
    }

    /// Parses the first response in `buf`. `head_request`: the request was `HEAD` (no body);
    /// `eof`: the connection was closed after `buf`, which ends a close-delimited body.
    pub fn parse_partial(buf: &[u8], head_request: bool, eof: bool) -> Parsed {
        let Some(head_end) = find(buf, b"\r\n\r\n") else {
            return Parsed::Partial;
        };
        let Ok(head) = std::str::from_utf8(&buf[..head_end]) else {
            return Parsed::Invalid("non-UTF-8 response head".into());
        };
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("").to_string();
        if version != "HTTP/1.1" && version != "HTTP/1.0" {
            return Parsed::Invalid(format!("bad status line {status_line:?}"));
        }
        let Some(status) = parts.next().and_then(|s| s.parse::<u16>().ok()) else {
            return Parsed::Invalid(format!("bad status line {status_line:?}"));
        };
        let reason = parts.next().unwrap_or("").to_string();
        let headers = match parse_header_lines(lines) {
            Ok(h) => h,
            Err(e) => return Parsed::Invalid(e),
        };
        let mut resp = Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
            chunked: false,
            close_delimited: false,
        };
        let body_start = head_end + 4;
        let rest = &buf[body_start..];
        if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            return Parsed::Complete(resp, body_start);
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
        {
            resp.chunked = true;
            return match decode_chunked(rest) {
                Ok(Some((body, used))) => {
                    resp.body = body;
                    Parsed::Complete(resp, body_start + used)
                }
                Ok(None) => Parsed::Partial,
                Err(e) => Parsed::Invalid(e),
            };
        }
        if let Some(cl) = resp.header("content-length") {
            let Ok(len) = cl.trim().parse::<usize>() else {
                return Parsed::Invalid(format!("bad content-length {cl:?}"));
            };
            if rest.len() < len {
                return Parsed::Partial;
            }
            resp.body = rest[..len].to_vec();
            return Parsed::Complete(resp, body_start + len);
        }
        if !eof {
            return Parsed::Partial;
        }
        resp.close_delimited = true;
        resp.body = rest.to_vec();
        Parsed::Complete(resp, buf.len())
    }

    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// All values of a header (name case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        headers_in(&self.headers, name)
    }

    /// The body as UTF-8 (lossy).
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn body_str_truncated(&self) -> String {
        let s = self.body_str();
        if s.len() > 300 {
            format!(
                "{}... ({} bytes)",
                &s[..s.char_indices().nth(300).map_or(s.len(), |(i, _)| i)],
                self.body.len()
            )
        } else {
            s
        }
    }

    /// Whether the `Connection` header lists `token` (case-insensitive).
    pub fn connection_has(&self, token: &str) -> bool {
        self.header_all("connection")
            .iter()
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// Asserts status and exact body.
    #[track_caller]
    pub fn assert(&self, status: u16, body: &str) {
        assert_eq!(
            (self.status, self.body_str().as_str()),
            (status, body),
            "unexpected response: {self:?}"
        );
    }

    /// Asserts the gateway's `403 Missing Authentication Token` answer, with its error type
    /// header.
    #[track_caller]
    pub fn assert_missing_auth_token(&self) {
        self.assert(403, MISSING_AUTH_TOKEN);
        assert_eq!(
            self.header("x-amzn-ErrorType"),
            Some("MissingAuthenticationTokenException"),
            "x-amzn-ErrorType of {self:?}"
        );
    }

    /// Asserts the headers every gateway response carries: `Date` and `x-amzn-RequestId`.
    #[track_caller]
    pub fn assert_gateway_headers(&self) {
        let date = self
            .header("date")
            .unwrap_or_else(|| panic!("no Date header: {self:?}"));
        assert!(
            httpdate::parse_http_date(date).is_ok(),
            "Date is not an HTTP date: {date:?}"
        );
        let id = self
            .header("x-amzn-RequestId")
            .unwrap_or_else(|| panic!("no x-amzn-RequestId: {self:?}"));
        assert!(!id.trim().is_empty(), "empty x-amzn-RequestId: {self:?}");
    }
}

/// Decodes a chunked body at the start of `buf`: `Ok(Some((body, bytes used)))`, `Ok(None)` if
/// incomplete.
fn decode_chunked(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(&buf[pos..], b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&buf[pos..pos + line_end]).into_owned();
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size line {line:?}"))?;
        pos += line_end + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let Some(end) = find(&buf[pos..], b"\r\n") else {
                    return Ok(None);
                };
                pos += end + 2;
                if end == 0 {
                    return Ok(Some((body, pos)));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".into());
        }
        pos += size + 2;
    }
}

/// A request to send: `Req::get("/prod/pets").header("x", "1").send(addr)`.
///
/// Adds `Host: localhost` unless a Host header is given, and `Content-Length` when there is a
/// body (or the method usually has one) unless the body is sent chunked.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send the body with `Transfer-Encoding: chunked` in these chunks.
    pub chunks: Option<Vec<Vec<u8>>>,
}

impl Req {
    /// A request with any method.
    pub fn new(method: &str, target: &str) -> Req {
        Req {
            method: method.into(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
            chunks: None,
        }
    }

    pub fn get(target: &str) -> Req {
        Req::new("GET", target)
    }

    pub fn post(target: &str, body: impl Into<Vec<u8>>) -> Req {
        Req::new("POST", target).body(body)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body (sent with Content-Length).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Req {
        self.body = body.into();
        self
    }

    /// Sends the body chunked, in these chunks.
    pub fn chunked(mut self, chunks: Vec<Vec<u8>>) -> Req {
        self.chunks = Some(chunks);
        self
    }

    /// The request's wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        if header_in(&self.headers, "host").is_none() {
            head.push_str("Host: localhost\r\n");
        }
        for (k, v) in &self.headers {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        let mut out;
        match &self.chunks {
            Some(chunks) => {
                head.push_str("Transfer-Encoding: chunked\r\n\r\n");
                out = head.into_bytes();
                for c in chunks.iter().filter(|c| !c.is_empty()) {
                    out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            None => {
                let wants_length = !self.body.is_empty()
                    || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH");
                if wants_length && header_in(&self.headers, "content-length").is_none() {
                    let _ = write!(head, "Content-Length: {}\r\n", self.body.len());
                }
                head.push_str("\r\n");
                out = head.into_bytes();
                out.extend_from_slice(&self.body);
            }
        }
        out
    }

    /// Sends the request on a fresh connection and reads one response.
    pub fn send(&self, addr: SocketAddr) -> Response {
        Conn::connect(addr).roundtrip(self)
    }
}

/// `method target` with `headers` and `body` on a fresh connection; returns the response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut req = Req::new(method, target).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.send(addr)
}

/// `GET target` on a fresh connection.
pub fn get(addr: SocketAddr, target: &str) -> Response {
    Req::get(target).send(addr)
}

/// Writes `data` on a fresh connection and returns everything received until the server
/// closes the connection (or [`IO_TIMEOUT`] passes).
pub fn send_raw(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut conn = Conn::connect(addr);
    conn.write(data);
    conn.closed_within(IO_TIMEOUT);
    conn.take_unread()
}

/// Whether reading from the connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// Clean EOF (FIN).
    Eof,
    /// Connection reset (RST).
    Reset,
}

/// One client connection, for keep-alive, pipelining and byte-level tests.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    ended: Option<ReadEnd>,
}

impl Conn {
    /// Connects (panics on failure) with [`IO_TIMEOUT`] read/write timeouts.
    pub fn connect(addr: SocketAddr) -> Conn {
        Conn::try_connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"))
    }

    /// Connects from source address `local` (on loopback any 127.0.0.0/8 address is local),
    /// so a test can be a client from another address.
    pub fn connect_from(addr: SocketAddr, local: std::net::IpAddr) -> Conn {
        let domain = socket2::Domain::for_address(addr);
        let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None).expect("socket");
        socket
            .bind(&SocketAddr::new(local, 0).into())
            .unwrap_or_else(|e| panic!("bind {local}: {e}"));
        socket
            .connect_timeout(&addr.into(), IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect {addr} from {local}: {e}"));
        Conn::of(socket.into()).expect("socket options")
    }

    /// Connects, returning the error (e.g. refused).
    pub fn try_connect(addr: SocketAddr) -> io::Result<Conn> {
        Conn::of(TcpStream::connect_timeout(&addr, IO_TIMEOUT)?)
    }

    fn of(stream: TcpStream) -> io::Result<Conn> {
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
            ended: None,
        })
    }

    /// The underlying socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes all of `data` (panics on error).
    pub fn write(&mut self, data: &[u8]) {
        self.stream
            .write_all(data)
            .unwrap_or_else(|e| panic!("write to gateway: {e}"));
    }

    /// Writes all of `data`, returning the error (the server may have closed).
    pub fn try_write(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(data)
    }

    /// Writes a request.
    pub fn send(&mut self, req: &Req) {
        self.write(&req.to_bytes());
    }

    /// Writes a request and reads its response (HEAD-aware).
    pub fn roundtrip(&mut self, req: &Req) -> Response {
        self.send(req);
        self.read_response_to(&req.method)
    }

    /// Reads more bytes into the buffer; returns how many (0 when the connection ended).
    /// Panics on timeout.
    fn fill(&mut self) -> usize {
        if self.ended.is_some() {
            return 0;
        }
        let mut tmp = [0u8; 64 * 1024];
        match self.stream.read(&mut tmp) {
            Ok(0) => {
                self.ended = Some(ReadEnd::Eof);
                0
            }
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                n
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                self.ended = Some(ReadEnd::Reset);
                0
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => panic!(
                "no data from gateway within {IO_TIMEOUT:?}; received so far: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Err(e) => panic!("read from gateway: {e}"),
        }
    }

    /// Reads one response to a non-HEAD request.
    pub fn read_response(&mut self) -> Response {
        self.read_response_to("GET")
    }

    /// Reads one response (which may be interim, 1xx) to a request with `method`.
    pub fn read_response_to(&mut self, method: &str) -> Response {
        let head_request = method.eq_ignore_ascii_case("HEAD");
        loop {
            match Response::parse_partial(&self.buf, head_request, self.ended.is_some()) {
                Parsed::Complete(resp, used) => {
                    self.buf.drain(..used);
                    return resp;
                }
                Parsed::Invalid(e) => panic!(
                    "invalid response from gateway ({e}): {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Parsed::Partial => {
                    if self.ended.is_some() {
                        panic!(
                            "connection ended ({:?}) before a complete response; received: {:?}",
                            self.ended,
                            String::from_utf8_lossy(&self.buf)
                        );
                    }
                    self.fill();
                }
            }
        }
    }

    /// Reads responses to a non-HEAD request until a final (non-1xx) one.
    pub fn read_final_response(&mut self) -> Response {
        loop {
            let r = self.read_response();
            if !(100..200).contains(&r.status) {
                return r;
            }
        }
    }

    /// Waits until `needle` has been received (at most `timeout`); returns whether it was.
    /// The bytes stay in the buffer.
    pub fn wait_for_bytes(&mut self, needle: &[u8], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if find(&self.buf, needle).is_some() {
                return true;
            }
            if self.ended.is_some() || !self.read_some_until(deadline) {
                return find(&self.buf, needle).is_some();
            }
        }
    }

    /// One read bounded by `deadline`; false on timeout or end of connection.
    fn read_some_until(&mut self, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        self.stream
            .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
            .unwrap();
        let mut tmp = [0u8; 64 * 1024];
        let got = match self.stream.read(&mut tmp) {
            Ok(0) => {
                self.ended = Some(ReadEnd::Eof);
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                self.ended = Some(ReadEnd::Reset);
                false
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                Instant::now() < deadline
            }
            Err(e) => panic!("read from gateway: {e}"),
        };
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        got
    }

    /// Waits at most `timeout` for the server to close the connection (EOF or reset). Bytes
    /// received meanwhile are kept (see [`Conn::unread`]). Returns whether it closed.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.ended.is_none() {
            if !self.read_some_until(deadline) && self.ended.is_none() && Instant::now() >= deadline
            {
                return false;
            }
        }
        true
    }

    /// How the connection ended, if it did.
    pub fn ended(&self) -> Option<ReadEnd> {
        self.ended
    }

    /// Bytes received and not yet parsed as a response.
    pub fn unread(&self) -> &[u8] {
        &self.buf
    }

    /// Takes the unparsed bytes.
    pub fn take_unread(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Asserts that the server closes the connection within 5 s with nothing more sent.
    #[track_caller]
    pub fn assert_closed(&mut self) {
        assert!(
            self.closed_within(Duration::from_secs(5)),
            "server kept the connection open"
        );
        assert!(
            self.buf.is_empty(),
            "unexpected bytes before close: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
    }
}

/// Sends raw bytes on a fresh connection and asserts the gateway answers `status` and then
/// closes the connection without sending anything else (used for hostile input).
#[track_caller]
pub fn assert_rejected(addr: SocketAddr, raw: &[u8], status: u16) -> Response {
    let mut conn = Conn::connect(addr);
    conn.write(raw);
    let resp = conn.read_response();
    assert_eq!(
        resp.status,
        status,
        "for request {:?}: {resp:?}",
        String::from_utf8_lossy(raw)
    );
    assert!(
        conn.closed_within(Duration::from_secs(5)),
        "connection not closed after {status} for {:?}",
        String::from_utf8_lossy(raw)
    );
    assert!(
        conn.unread().is_empty(),
        "extra bytes after the {status} for {:?}: {:?}",
        String::from_utf8_lossy(raw),
        String::from_utf8_lossy(conn.unread())
    );
    resp
}

/// Runs `f` on a thread and returns its join handle; a shorthand for concurrent clients.
pub fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> thread::JoinHandle<T> {
    thread::spawn(f)
}
