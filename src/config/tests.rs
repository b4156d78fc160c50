//! Tests of the whole loading pipeline on real files in temporary directories: every rule is
//! asserted through the error an operator would see (file, line, field, message).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::router::{HttpMethod, Params};
use crate::snapshot::{Integration, Limits, Method, UriPart};

/// A gateway.toml with tests' usual settings; line 3 is `shards = 2`.
const GATEWAY: &str = r#"[server]
listen = ["127.0.0.1:0"]
shards = 2
pin_cores = false
default_api = "petstore"
"#;

/// A valid API file; line numbers are used by the tests.
const API: &str = r#"id = "petstore"
name = "PetStore"

[stages.prod]
deployment = "v1"
variables = { backend = "127.0.0.1:9000" }

[deployments.v1]
description = "one"

[deployments.v1.methods."GET /pets"]
integration = { type = "MOCK", status = 201, headers = { "Content-Type" = "text/plain" }, body = "x" }
"#;

/// A configuration directory in a fresh temporary folder.
struct Dir(tempfile::TempDir);

impl Dir {
    /// `gateway.toml` plus `apis/{name}.toml` files.
    fn new(gateway: &str, apis: &[(&str, &str)]) -> Dir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("gateway.toml"), gateway).expect("write gateway.toml");
        std::fs::create_dir(dir.path().join("apis")).expect("mkdir apis");
        let d = Dir(dir);
        for (name, text) in apis {
            d.api(name, text);
        }
        d
    }

    /// The usual gateway.toml and one API file `petstore.toml`.
    fn api_only(api: &str) -> Dir {
        Dir::new(GATEWAY, &[("petstore", api)])
    }

    /// Writes `apis/{name}.toml`.
    fn api(&self, name: &str, text: &str) {
        self.write(&format!("apis/{name}.toml"), text.as_bytes());
    }

    fn write(&self, rel: &str, bytes: &[u8]) {
        std::fs::write(self.0.path().join(rel), bytes).expect("write file");
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn load(&self) -> Result<LoadedConfig, ConfigErrors> {
        load(self.path(), 1)
    }

    /// Loads and expects success.
    fn ok(&self) -> LoadedConfig {
        match self.load() {
            Ok(c) => c,
            Err(e) => panic!("expected a valid configuration, got:\n{e}"),
        }
    }

    /// Loads and expects failure.
    fn errors(&self) -> ConfigErrors {
        match self.load() {
            Ok(_) => panic!("expected errors, the configuration loaded"),
            Err(e) => e,
        }
    }
}

/// The error in a file ending with `file`, at `line`, on `field`; panics listing all errors
/// otherwise. Also checks the Display form names file, line and field.
fn find<'a>(
    errs: &'a ConfigErrors,
    file: &str,
    line: Option<usize>,
    field: &str,
) -> &'a ConfigError {
    let found = errs
        .iter()
        .find(|e| e.file.ends_with(file) && e.line == line && e.field == field);
    let Some(e) = found else {
        panic!("no error in {file} at line {line:?} on `{field}`; errors:\n{errs}");
    };
    let shown = e.to_string();
    let position = match line {
        Some(l) => format!("{file}:{l}: "),
        None => format!("{file}: "),
    };
    assert!(shown.contains(&position), "{shown:?} lacks {position:?}");
    assert!(shown.contains(field), "{shown:?} lacks {field:?}");
    e
}

/// Like [`find`], and the message contains `needle`.
fn expect(errs: &ConfigErrors, file: &str, line: Option<usize>, field: &str, needle: &str) {
    let e = find(errs, file, line, field);
    assert!(
        e.message.contains(needle),
        "message {:?} lacks {needle:?}; all errors:\n{errs}",
        e.message
    );
}

/// `API` with `from` replaced by `to` (which must occur).
fn api_with(from: &str, to: &str) -> String {
    assert!(API.contains(from), "API lacks {from:?}");
    API.replacen(from, to, 1)
}

/// `GATEWAY` with an extra `[limits]` or `[server]` line appended to the right section.
fn gateway_with_limit(line: &str) -> String {
    format!("{GATEWAY}\n[limits]\n{line}\n")
}

/// Line of `[limits]`' first entry in [`gateway_with_limit`].
const LIMIT_LINE: usize = 8;

/// An API file with one method whose integration is `integration` (line 11), stage `prod`
/// on `v1` with variable `backend` (line 6).
fn api_with_integration(route: &str, integration: &str) -> String {
    format!(
        r#"id = "petstore"
name = "PetStore"

[stages.prod]
deployment = "v1"
variables = {{ backend = "127.0.0.1:9000" }}

[deployments.v1]

[deployments.v1.methods."{route}"]
integration = {integration}
"#
    )
}

/// Field path of the integration of `route` in deployment v1.
fn integration_field(route: &str, rest: &str) -> String {
    format!("deployments.v1.methods.\"{route}\".integration{rest}")
}

fn find_method<'a>(
    loaded: &'a LoadedConfig,
    api: &str,
    stage: &str,
    method: HttpMethod,
    path: &str,
) -> Option<&'a Arc<Method>> {
    let stage = loaded.snapshot.apis.get(api)?.stages.get(stage)?;
    let mut params = Params::default();
    stage.router.find(Some(method), path, &mut params)
}

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

// ---------------------------------------------------------------------------------------------
// The shipped example and happy paths
// ---------------------------------------------------------------------------------------------

#[test]
fn example_config_loads_with_expected_stages() {
    let loaded = match load(&example_dir(), 7) {
        Ok(l) => l,
        Err(e) => panic!("example config is invalid:\n{e}"),
    };
    let s = &loaded.snapshot;
    assert_eq!(s.generation, 7);
    assert_eq!(&*s.routing.execute_api_suffix, ".execute-api.localhost");
    assert_eq!(s.routing.default_api.as_deref(), Some("petstore"));
    let api = s.apis.get("petstore").expect("petstore API");
    assert_eq!(api.stages.len(), 2);
    assert_eq!(&*api.stages["prod"].deployment_id, "v2");
    assert_eq!(&*api.stages["dev"].deployment_id, "v1");
    assert_eq!(
        loaded.node.listen,
        vec!["127.0.0.1:8080".parse().expect("addr")]
    );
    assert_eq!(
        loaded.node.admin,
        Some("127.0.0.1:9180".parse().expect("addr"))
    );
    assert!(loaded.node.pin_cores);
    assert!(loaded.node.shards >= 1);
}

#[test]
fn example_config_routes_compile() {
    let loaded = load(&example_dir(), 1).expect("example config");
    let pet =
        find_method(&loaded, "petstore", "prod", HttpMethod::Get, "/pets/1").expect("GET /pets/1");
    assert_eq!(&*pet.resource_path, "/pets/{petId}");
    assert_eq!(&*pet.http_method, "GET");
    assert!(find_method(&loaded, "petstore", "dev", HttpMethod::Get, "/pets/1").is_none());
    let shop =
        find_method(&loaded, "petstore", "prod", HttpMethod::Post, "/shop/a/b").expect("ANY /shop");
    assert_eq!(&*shop.http_method, "ANY");
    let Integration::HttpProxy(p) = &shop.integration else {
        panic!("expected HTTP_PROXY, got {:?}", shop.integration);
    };
    assert_eq!(p.addr, "127.0.0.1:8080".parse().expect("addr"));
    assert_eq!(&*p.host_header, "127.0.0.1:8080");
    assert_eq!(
        p.path.parts,
        vec![
            UriPart::Literal("/prod/".into()),
            UriPart::Param("proxy".into())
        ]
    );
    assert_eq!(p.timeout, Duration::from_millis(5000));
}

#[test]
fn check_summarises_the_example() {
    let summary = check(&example_dir()).expect("example config");
    assert!(
        summary.starts_with(
            "configuration OK: 2 APIs, 3 stages, 3 deployments, 7 methods, 2 routes, 1 usage plan, 1 API key, 0 custom domains ("
        ),
        "{summary}"
    );
    assert!(summary.ends_with("config)"), "{summary}");
}

#[test]
fn check_reports_errors() {
    let d = Dir::api_only(&api_with("deployment = \"v1\"", "deployment = \"v9\""));
    let errs = check(d.path()).expect_err("invalid");
    expect(
        &errs,
        "petstore.toml",
        Some(5),
        "stages.prod.deployment",
        "v9",
    );
}

#[test]
fn mock_integration_compiles_with_lower_case_headers() {
    let loaded = Dir::api_only(API).ok();
    let m = find_method(&loaded, "petstore", "prod", HttpMethod::Get, "/pets").expect("GET /pets");
    let Integration::Mock(mock) = &m.integration else {
        panic!("expected MOCK");
    };
    assert_eq!(mock.status, 201);
    assert_eq!(
        mock.headers,
        vec![("content-type".into(), "text/plain".into())]
    );
    assert_eq!(&*mock.body, b"x");
}

#[test]
fn mock_defaults_are_200_and_empty_body() {
    let d = Dir::api_only(&api_with_integration("GET /x", r#"{ type = "MOCK" }"#));
    let loaded = d.ok();
    let m = find_method(&loaded, "petstore", "prod", HttpMethod::Get, "/x").expect("GET /x");
    let Integration::Mock(mock) = &m.integration else {
        panic!("expected MOCK");
    };
    assert_eq!(
        (mock.status, mock.headers.len(), mock.body.len()),
        (200, 0, 0)
    );
}

#[test]
fn rollback_points_the_stage_at_the_other_deployment() {
    let api = |deployment: &str| {
        format!(
            r#"id = "petstore"
[stages.prod]
deployment = "{deployment}"
[deployments.v1.methods."GET /pets"]
integration = {{ type = "MOCK", body = "v1" }}
[deployments.v2.methods."GET /pets"]
integration = {{ type = "MOCK", body = "v2" }}
[deployments.v2.methods."GET /pets/{{id}}"]
integration = {{ type = "MOCK", body = "one" }}
"#
        )
    };
    let body = |loaded: &LoadedConfig| {
        let m =
            find_method(loaded, "petstore", "prod", HttpMethod::Get, "/pets").expect("GET /pets");
        match &m.integration {
            Integration::Mock(mock) => String::from_utf8_lossy(&mock.body).into_owned(),
            other => panic!("expected MOCK, got {other:?}"),
        }
    };
    let d = Dir::api_only(&api("v2"));
    let v2 = d.ok();
    assert_eq!(
        &*v2.snapshot.apis["petstore"].stages["prod"].deployment_id,
        "v2"
    );
    assert_eq!(body(&v2), "v2");
    assert!(find_method(&v2, "petstore", "prod", HttpMethod::Get, "/pets/1").is_some());

    d.api("petstore", &api("v1"));
    let v1 = d.ok();
    assert_eq!(
        &*v1.snapshot.apis["petstore"].stages["prod"].deployment_id,
        "v1"
    );
    assert_eq!(body(&v1), "v1");
    assert!(find_method(&v1, "petstore", "prod", HttpMethod::Get, "/pets/1").is_none());
}

#[test]
fn gateway_defaults_apply_to_an_empty_gateway_file() {
    let loaded = Dir::new("", &[("petstore", API)]).ok();
    let n = &loaded.node;
    assert_eq!(n.listen, vec!["0.0.0.0:8080".parse().expect("addr")]);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(n.shards, cpus.min(1024));
    assert!(n.pin_cores);
    assert_eq!(n.admin, None);
    let l = &loaded.snapshot.limits;
    let d = Limits::default();
    assert_eq!(
        (l.max_header_bytes, l.max_body_bytes),
        (d.max_header_bytes, d.max_body_bytes)
    );
    assert_eq!(
        (l.header_timeout, l.drain_timeout),
        (d.header_timeout, d.drain_timeout)
    );
    assert_eq!(
        &*loaded.snapshot.routing.execute_api_suffix,
        ".execute-api.localhost"
    );
    assert_eq!(loaded.snapshot.routing.default_api, None);
}

#[test]
fn gateway_settings_are_applied() {
    let gateway = r#"[server]
listen = ["127.0.0.1:8081", "[::1]:8082"]
shards = 3
pin_cores = false
admin = "127.0.0.1:9000"
execute_api_domain = "Example.COM"
default_api = "petstore"

[limits]
max_header_bytes = 2048
max_body_bytes = 100
header_timeout_ms = 1
body_timeout_ms = 2
idle_timeout_ms = 3
send_timeout_ms = 4
drain_timeout_ms = 5
integration_timeout_ms = 50
pool_max_idle_per_backend = 0
pool_idle_timeout_ms = 6
"#;
    let d = Dir::new(
        gateway,
        &[(
            "petstore",
            &api_with_integration(
                "GET /x",
                r#"{ type = "HTTP_PROXY", uri = "http://127.0.0.1:9/" }"#,
            ),
        )],
    );
    let loaded = d.ok();
    let n = &loaded.node;
    assert_eq!(n.listen.len(), 2);
    assert_eq!((n.shards, n.pin_cores), (3, false));
    assert_eq!(n.admin, Some("127.0.0.1:9000".parse().expect("addr")));
    let s = &loaded.snapshot;
    assert_eq!(&*s.routing.execute_api_suffix, ".execute-api.example.com");
    let l = &s.limits;
    assert_eq!(
        (
            l.max_header_bytes,
            l.max_body_bytes,
            l.pool_max_idle_per_backend
        ),
        (2048, 100, 0)
    );
    let ms = Duration::from_millis;
    assert_eq!(
        [
            l.header_timeout,
            l.body_timeout,
            l.idle_timeout,
            l.send_timeout,
            l.drain_timeout,
            l.pool_idle_timeout
        ],
        [ms(1), ms(2), ms(3), ms(4), ms(5), ms(6)]
    );
    // The limits' integration timeout is the default of HTTP_PROXY methods.
    let m = find_method(&loaded, "petstore", "prod", HttpMethod::Get, "/x").expect("GET /x");
    let Integration::HttpProxy(p) = &m.integration else {
        panic!("expected HTTP_PROXY");
    };
    assert_eq!(p.timeout, ms(50));
}

#[test]
fn api_files_are_read_in_name_order_and_others_ignored() {
    let other = API.replace("\"petstore\"", "\"other\"");
    let d = Dir::new(GATEWAY, &[("petstore", API), ("aaa", &other)]);
    d.write("apis/notes.txt", b"not toml");
    d.write("apis/.#petstore.toml", b"\xff lock file");
    d.write("apis/petstore.toml.tmp-write", b"half a file");
    std::fs::create_dir(d.path().join("apis/sub.toml")).expect("mkdir");
    let loaded = d.ok();
    assert_eq!(loaded.snapshot.apis.len(), 2);
}

#[test]
fn apis_dir_is_relative_to_the_config_dir() {
    let d = Dir::new(&format!("{GATEWAY}apis_dir = \"more/apis\"\n"), &[]);
    std::fs::create_dir_all(d.path().join("more/apis")).expect("mkdir");
    d.write("more/apis/petstore.toml", API.as_bytes());
    assert!(d.ok().snapshot.apis.contains_key("petstore"));
}

#[test]
fn no_api_files_is_valid_without_default_api() {
    let loaded = Dir::new("[server]\nshards = 1\n", &[]).ok();
    assert!(loaded.snapshot.apis.is_empty());
}

// ---------------------------------------------------------------------------------------------
// gateway.toml rules
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_gateway_file_is_named() {
    let d = Dir::new("", &[("petstore", API)]);
    std::fs::remove_file(d.path().join("gateway.toml")).expect("rm");
    let errs = d.errors();
    expect(&errs, "gateway.toml", None, "", "cannot read");
}

#[test]
fn gateway_type_error_names_line_and_field() {
    let d = Dir::api_only(API);
    d.write(
        "gateway.toml",
        GATEWAY
            .replace("shards = 2", "shards = \"lots\"")
            .as_bytes(),
    );
    expect(
        &d.errors(),
        "gateway.toml",
        Some(3),
        "server.shards",
        "auto",
    );
}

#[test]
fn gateway_unknown_keys_are_errors() {
    let d = Dir::api_only(API);
    d.write("gateway.toml", format!("{GATEWAY}shard = 2\n").as_bytes());
    expect(
        &d.errors(),
        "gateway.toml",
        Some(6),
        "server.shard",
        "unknown field `shard`",
    );
    d.write(
        "gateway.toml",
        format!("{GATEWAY}[limit]\nx = 1\n").as_bytes(),
    );
    expect(
        &d.errors(),
        "gateway.toml",
        Some(6),
        "limit",
        "unknown field `limit`",
    );
    d.write(
        "gateway.toml",
        gateway_with_limit("max_headers = 1").as_bytes(),
    );
    expect(
        &d.errors(),
        "gateway.toml",
        Some(LIMIT_LINE),
        "limits.max_headers",
        "unknown field",
    );
}

#[test]
fn gateway_wrong_types_are_errors() {
    let d = Dir::api_only(API);
    d.write(
        "gateway.toml",
        GATEWAY
            .replace("pin_cores = false", "pin_cores = \"no\"")
            .as_bytes(),
    );
    expect(
        &d.errors(),
        "gateway.toml",
        Some(4),
        "server.pin_cores",
        "invalid type",
    );
    d.write(
        "gateway.toml",
        gateway_with_limit("max_body_bytes = \"1MB\"").as_bytes(),
    );
    expect(
        &d.errors(),
        "gateway.toml",
        Some(LIMIT_LINE),
        "limits.max_body_bytes",
        "invalid type",
    );
}

#[test]
fn shards_must_be_auto_or_1_to_1024() {
    let d = Dir::api_only(API);
    for bad in ["0", "1025", "-1"] {
        d.write(
            "gateway.toml",
            GATEWAY
                .replace("shards = 2", &format!("shards = {bad}"))
                .as_bytes(),
        );
        expect(
            &d.errors(),
            "gateway.toml",
            Some(3),
            "server.shards",
            "between 1 and 1024",
        );
    }
    d.write(
        "gateway.toml",
        GATEWAY
            .replace("shards = 2", "shards = \"auto\"")
            .as_bytes(),
    );
    assert!(d.ok().node.shards >= 1);
}

#[test]
fn listen_entries_must_be_ip_and_port() {
    let d = Dir::api_only(API);
    let g = GATEWAY.replace(
        r#"listen = ["127.0.0.1:0"]"#,
        r#"listen = ["127.0.0.1:0", "localhost:80"]"#,
    );
    d.write("gateway.toml", g.as_bytes());
    expect(
        &d.errors(),
        "gateway.toml",
        Some(2),
        "server.listen[1]",
        "ip:port",
    );
    let g = GATEWAY.replace(r#"listen = ["127.0.0.1:0"]"#, "listen = []");
    d.write("gateway.toml", g.as_bytes());
    expect(
        &d.errors(),
        "gateway.toml",
        Some(2),
        "server.listen",
        "at least one",
    );
    let g = GATEWAY.replace(
        r#"listen = ["127.0.0.1:0"]"#,
        r#"listen = ["0.0.0.0:80", "0.0.0.0:80"]"#,
    );
    d.write("gateway.toml", g.as_bytes());
    expect(
        &d.errors(),
        "gateway.toml",
        Some(2),
        "server.listen[1]",
        "twice",
    );
}

#[test]
fn admin_must_be_ip_and_port() {
    let d = Dir::api_only(API);
    d.write(
        "gateway.toml",
        format!("{GATEWAY}admin = \"9180\"\n").as_bytes(),
    );
    expect(
        &d.errors(),
        "gateway.toml",
        Some(6),
        "server.admin",
        "ip:port",
    );
    let g = GATEWAY.replace("127.0.0.1:0", "127.0.0.1:8080");
    d.write(
        "gateway.toml",
        format!("{g}admin = \"127.0.0.1:8080\"\n").as_bytes(),
    );
    expect(
        &d.errors(),
        "gateway.toml",
        Some(6),
        "server.admin",
        "also in server.listen",
    );
}

#[test]
fn an_admin_listener_off_loopback_needs_control_credentials() {
    let d = Dir::api_only(API);
    d.write(
        "gateway.toml",
        format!("{GATEWAY}admin = \"0.0.0.0:9180\"\n").as_bytes(),
    );
    expect(
        &d.errors(),
        "gateway.toml",
        Some(6),
        "server.admin",
        "not a loopback address",
    );
    let with_key = format!(
        "{GATEWAY}admin = \"0.0.0.0:9180\"\n[control]\naccess_key_id = \"AKIDADMIN\"\nsecret_access_key = \"s\"\n"
    );
    d.write("gateway.toml", with_key.as_bytes());
    let loaded = d.ok();
    let credentials = loaded.node.control.credentials.expect("credentials");
    assert_eq!(credentials.access_key_id, "AKIDADMIN");
    assert!(
        !format!("{credentials:?}").contains("\"s\""),
        "the secret is never printed"
    );
    assert_eq!(loaded.node.control.store, d.path().join("control.redb"));
    let half = format!("{GATEWAY}[control]\naccess_key_id = \"AKIDADMIN\"\n");
    d.write("gateway.toml", half.as_bytes());
    expect(
        &d.errors(),
        "gateway.toml",
        Some(7),
        "control.access_key_id",
        "needs `control.secret_access_key` too",
    );
}

#[test]
fn a_canary_needs_a_deployment_and_a_percentage() {
    let d = Dir::api_only(&API.replace(
        "variables = { backend = \"127.0.0.1:9000\" }",
        "variables = { backend = \"127.0.0.1:9000\" }\ncanary = { deployment = \"v1\", percent_traffic = 25.0, variables = { color = \"green\" } }",
    ));
    let loaded = d.ok();
    let stage = &loaded.snapshot.apis["petstore"].stages["prod"];
    let canary = stage.canary.as_ref().expect("canary");
    assert_eq!(canary.threshold, 1 << 30);
    assert!(canary.stage.is_canary && !stage.is_canary);
    let vars: Vec<&str> = canary.stage.variables.iter().map(|(k, _)| &**k).collect();
    assert_eq!(vars, ["backend", "color"]);
    let bad = API.replace(
        "variables = { backend = \"127.0.0.1:9000\" }",
        "canary = { deployment = \"v9\", percent_traffic = 101.0 }",
    );
    d.api("petstore.toml", &bad);
    let errors = d.errors();
    let text = errors.to_string();
    assert!(
        text.contains("stages.prod.canary.deployment: deployment `v9` does not exist"),
        "{text}"
    );
    assert!(
        text.contains("stages.prod.canary.percent_traffic: 101 is not a percentage"),
        "{text}"
    );
}

#[test]
fn default_api_must_exist() {
    let d = Dir::api_only(API);
    d.write(
        "gateway.toml",
        GATEWAY
            .replace("default_api = \"petstore\"", "default_api = \"pets\"")
            .as_bytes(),
    );
    expect(
        &d.errors(),
        "gateway.toml",
        Some(5),
        "server.default_api",
        "`pets` is not defined",
    );
}

#[test]
fn execute_api_domain_must_be_a_domain() {
    let d = Dir::api_only(API);
    d.write(
        "gateway.toml",
        format!("{GATEWAY}execute_api_domain = \"bad domain\"\n").as_bytes(),
    );
    expect(
        &d.errors(),
        "gateway.toml",
        Some(6),
        "server.execute_api_domain",
        "not a DNS domain",
    );
}

#[test]
fn missing_apis_dir_is_reported_on_the_setting() {
    let d = Dir::new(&format!("{GATEWAY}apis_dir = \"nowhere\"\n"), &[]);
    expect(
        &d.errors(),
        "gateway.toml",
        Some(6),
        "server.apis_dir",
        "nowhere",
    );
}

#[test]
fn integration_timeout_must_be_50_to_29000() {
    let d = Dir::api_only(API);
    for bad in ["49", "29001", "0"] {
        d.write(
            "gateway.toml",
            gateway_with_limit(&format!("integration_timeout_ms = {bad}")).as_bytes(),
        );
        expect(
            &d.errors(),
            "gateway.toml",
            Some(LIMIT_LINE),
            "limits.integration_timeout_ms",
            "between 50 and 29000",
        );
    }
    d.write(
        "gateway.toml",
        gateway_with_limit("integration_timeout_ms = 29000").as_bytes(),
    );
    d.ok();
}

#[test]
fn timeouts_must_be_positive() {
    let d = Dir::api_only(API);
    for name in [
        "header_timeout_ms",
        "body_timeout_ms",
        "idle_timeout_ms",
        "send_timeout_ms",
        "drain_timeout_ms",
        "pool_idle_timeout_ms",
    ] {
        d.write(
            "gateway.toml",
            gateway_with_limit(&format!("{name} = 0")).as_bytes(),
        );
        expect(
            &d.errors(),
            "gateway.toml",
            Some(LIMIT_LINE),
            &format!("limits.{name}"),
            "at least 1",
        );
    }
}

#[test]
fn size_limits_have_ranges() {
    let d = Dir::api_only(API);
    for (line, want) in [
        ("max_header_bytes = 1023", "between 1024 and 65536"),
        ("max_header_bytes = 65537", "between 1024 and 65536"),
        ("max_body_bytes = 0", "at least 1"),
        ("pool_max_idle_per_backend = -1", "at least 0"),
    ] {
        d.write("gateway.toml", gateway_with_limit(line).as_bytes());
        let field = format!("limits.{}", line.split(' ').next().unwrap_or_default());
        expect(&d.errors(), "gateway.toml", Some(LIMIT_LINE), &field, want);
    }
}

// ---------------------------------------------------------------------------------------------
// API file rules
// ---------------------------------------------------------------------------------------------

#[test]
fn syntax_error_names_file_and_line() {
    let d = Dir::api_only(&api_with("name = \"PetStore\"", "name = \"PetStore"));
    let errs = d.errors();
    assert_eq!(errs.len(), 1, "{errs}");
    let e = &errs.0[0];
    assert!(
        e.file.ends_with("petstore.toml") && e.line == Some(2),
        "{e}"
    );
    assert!(e.to_string().contains("petstore.toml:2: "), "{e}");
}

#[test]
fn id_is_required() {
    let d = Dir::api_only(&api_with("id = \"petstore\"\n", ""));
    expect(
        &d.errors(),
        "petstore.toml",
        None,
        "id",
        "missing field `id`",
    );
    // Also when the file starts with a table.
    let d = Dir::api_only("[stages.prod]\ndeployment = \"v1\"\n");
    let errs = d.errors();
    expect(&errs, "petstore.toml", None, "id", "missing field `id`");
    expect(
        &errs,
        "petstore.toml",
        Some(2),
        "stages.prod.deployment",
        "does not exist",
    );
}

#[test]
fn id_must_be_a_valid_name() {
    for bad in ["pet store", "", &"x".repeat(65), "PetStore"] {
        let d = Dir::api_only(&api_with("id = \"petstore\"", &format!("id = \"{bad}\"")));
        let errs = d.errors();
        expect(&errs, "petstore.toml", Some(1), "id", "not a valid API id");
    }
}

#[test]
fn duplicate_ids_name_both_files() {
    let d = Dir::new(GATEWAY, &[("petstore", API), ("copy", API)]);
    let errs = d.errors();
    let e = find(&errs, "petstore.toml", Some(1), "id");
    assert!(e.message.contains("copy.toml"), "{e}");
}

#[test]
fn stage_must_name_an_existing_deployment() {
    let d = Dir::api_only(&api_with("deployment = \"v1\"", "deployment = \"v9\""));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(5),
        "stages.prod.deployment",
        "deployment `v9` does not exist (defined: v1)",
    );
}

#[test]
fn stage_names_are_checked() {
    let d = Dir::api_only(&api_with("[stages.prod]", "[stages.\"pr od\"]"));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(4),
        "stages.\"pr od\"",
        "not a valid stage name",
    );
}

#[test]
fn stage_missing_deployment_field_is_reported() {
    let d = Dir::api_only(&api_with("deployment = \"v1\"\n", ""));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(4),
        "stages.prod.deployment",
        "missing field",
    );
}

#[test]
fn stage_variable_names_and_values_follow_aws_rules() {
    let d = Dir::api_only(&api_with(
        "backend = \"127.0.0.1:9000\"",
        "\"back-end\" = \"ok\", b = \"has space\"",
    ));
    let errs = d.errors();
    expect(
        &errs,
        "petstore.toml",
        Some(6),
        "stages.prod.variables.back-end",
        "not a valid stage variable name",
    );
    expect(
        &errs,
        "petstore.toml",
        Some(6),
        "stages.prod.variables.b",
        "not a valid stage variable value",
    );
}

#[test]
fn unknown_keys_in_api_files_are_errors() {
    let d = Dir::api_only(&api_with("description = \"one\"", "descripton = \"one\""));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(9),
        "deployments.v1.descripton",
        "unknown field `descripton`",
    );
    let d = Dir::api_only(&api_with("variables =", "vars ="));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(6),
        "stages.prod.vars",
        "unknown field `vars`",
    );
}

#[test]
fn method_key_needs_method_space_path() {
    for bad in ["GET/pets", "GET  /pets", "GET /a /b", " /pets"] {
        let d = Dir::api_only(&api_with("\"GET /pets\"", &format!("\"{bad}\"")));
        let field = format!("deployments.v1.methods.\"{bad}\"");
        expect(
            &d.errors(),
            "petstore.toml",
            Some(11),
            &field,
            "exactly one space",
        );
    }
}

#[test]
fn method_name_must_be_known() {
    let d = Dir::api_only(&api_with("\"GET /pets\"", "\"FETCH /pets\""));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(11),
        "deployments.v1.methods.\"FETCH /pets\"",
        "unknown method `FETCH`",
    );
}

#[test]
fn resource_path_is_checked_by_the_router() {
    let d = Dir::api_only(&api_with("\"GET /pets\"", "\"GET pets\""));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(11),
        "deployments.v1.methods.\"GET pets\"",
        "pets",
    );
}

#[test]
fn conflicting_parameter_names_are_reported_on_the_second_method() {
    let api = format!(
        "{API}\n[deployments.v1.methods.\"GET /pets/{{id}}\"]\nintegration = {{ type = \"MOCK\" }}\n\
         [deployments.v1.methods.\"GET /pets/{{petId}}/toys\"]\nintegration = {{ type = \"MOCK\" }}\n"
    );
    let d = Dir::api_only(&api);
    expect(
        &d.errors(),
        "petstore.toml",
        Some(16),
        "deployments.v1.methods.\"GET /pets/{petId}/toys\"",
        "id",
    );
}

#[test]
fn method_without_integration_is_reported() {
    let d = Dir::api_only(&api_with("integration = { type = \"MOCK\", status = 201, headers = { \"Content-Type\" = \"text/plain\" }, body = \"x\" }", ""));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(11),
        "deployments.v1.methods.\"GET /pets\".integration",
        "missing field `integration`",
    );
}

#[test]
fn unknown_integration_type_is_reported() {
    let d = Dir::api_only(&api_with_integration("GET /x", r#"{ type = "LAMBDA" }"#));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(11),
        &integration_field("GET /x", ".type"),
        "unknown variant `LAMBDA`",
    );
}

#[test]
fn unknown_integration_field_is_reported() {
    let d = Dir::api_only(&api_with_integration(
        "GET /x",
        r#"{ type = "MOCK", stauts = 200 }"#,
    ));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(11),
        &integration_field("GET /x", ".stauts"),
        "unknown field `stauts`",
    );
}

#[test]
fn integration_as_a_sub_table_reports_precise_lines() {
    let api = r#"id = "petstore"
[stages.prod]
deployment = "v1"
[deployments.v1.methods."GET /x".integration]
type = "MOCK"
body = "ok"
status = 42
"#;
    let d = Dir::api_only(api);
    expect(
        &d.errors(),
        "petstore.toml",
        Some(7),
        &integration_field("GET /x", ".status"),
        "between 100 and 599",
    );
}

#[test]
fn mock_status_must_be_100_to_599() {
    for bad in ["99", "600", "-1"] {
        let d = Dir::api_only(&api_with("status = 201", &format!("status = {bad}")));
        expect(
            &d.errors(),
            "petstore.toml",
            Some(12),
            &integration_field("GET /pets", ".status"),
            "between 100 and 599",
        );
    }
}

#[test]
fn mock_header_names_must_be_tokens() {
    let d = Dir::api_only(&api_with("\"Content-Type\"", "\"Content Type\""));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(12),
        &integration_field("GET /pets", ".headers.\"Content Type\""),
        "not a valid header name",
    );
}

#[test]
fn mock_header_values_must_not_contain_line_breaks() {
    let d = Dir::api_only(&api_with(
        "\"text/plain\"",
        "\"text/plain\\r\\nx-injected: 1\"",
    ));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(12),
        &integration_field("GET /pets", ".headers.Content-Type"),
        "CR, LF",
    );
}

#[test]
fn mock_headers_are_unique_case_insensitively_and_not_framing() {
    let d = Dir::api_only(&api_with(
        "\"Content-Type\" = \"text/plain\"",
        "\"Content-Type\" = \"a\", \"content-type\" = \"b\", \"Content-Length\" = \"1\"",
    ));
    let errs = d.errors();
    expect(
        &errs,
        "petstore.toml",
        Some(12),
        &integration_field("GET /pets", ".headers.content-type"),
        "set twice",
    );
    expect(
        &errs,
        "petstore.toml",
        Some(12),
        &integration_field("GET /pets", ".headers.Content-Length"),
        "set by the gateway",
    );
}

#[test]
fn fields_of_the_other_integration_type_are_errors() {
    let d = Dir::api_only(&api_with_integration(
        "GET /x",
        r#"{ type = "MOCK", uri = "http://h/" }"#,
    ));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(11),
        &integration_field("GET /x", ".uri"),
        "does not apply to type MOCK",
    );
    let d = Dir::api_only(&api_with_integration(
        "GET /x",
        r#"{ type = "HTTP_PROXY", uri = "http://127.0.0.1/", body = "x" }"#,
    ));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(11),
        &integration_field("GET /x", ".body"),
        "does not apply to type HTTP_PROXY",
    );
}

#[test]
fn http_proxy_needs_a_uri() {
    let d = Dir::api_only(&api_with_integration(
        "GET /x",
        r#"{ type = "HTTP_PROXY" }"#,
    ));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(11),
        &integration_field("GET /x", ".uri"),
        "need a `uri`",
    );
}

#[test]
fn http_proxy_timeout_must_be_50_to_29000() {
    for bad in ["49", "29001"] {
        let integration =
            format!(r#"{{ type = "HTTP_PROXY", uri = "http://127.0.0.1/", timeout_ms = {bad} }}"#);
        let d = Dir::api_only(&api_with_integration("GET /x", &integration));
        expect(
            &d.errors(),
            "petstore.toml",
            Some(11),
            &integration_field("GET /x", ".timeout_ms"),
            "between 50 and 29000",
        );
    }
}

/// Loads an API whose `GET /x/{id}` proxies to `uri` and returns the errors on its uri field.
fn uri_error(route: &str, uri: &str) -> ConfigErrors {
    let integration = format!(r#"{{ type = "HTTP_PROXY", uri = "{uri}" }}"#);
    Dir::api_only(&api_with_integration(route, &integration)).errors()
}

#[test]
fn https_uris_are_accepted() {
    let integration = r#"{ type = "HTTP_PROXY", uri = "https://127.0.0.1/" }"#;
    Dir::api_only(&api_with_integration("GET /x", integration)).ok();
}

#[test]
fn other_schemes_are_rejected() {
    let errs = uri_error("GET /x", "ftp://127.0.0.1/");
    expect(
        &errs,
        "petstore.toml",
        Some(11),
        &integration_field("GET /x", ".uri"),
        "unsupported scheme",
    );
    let errs = uri_error("GET /x", "127.0.0.1:80/x");
    expect(
        &errs,
        "petstore.toml",
        Some(11),
        &integration_field("GET /x", ".uri"),
        "must start with http://",
    );
}

#[test]
fn placeholders_must_be_path_parameters() {
    let errs = uri_error("GET /x/{id}", "http://127.0.0.1/y/{petId}");
    expect(
        &errs,
        "petstore.toml",
        Some(11),
        &integration_field("GET /x/{id}", ".uri"),
        "`{petId}` is not a path parameter",
    );
    let errs = uri_error("GET /x/{proxy+}", "http://127.0.0.1/y/{proxy+}");
    expect(
        &errs,
        "petstore.toml",
        Some(11),
        &integration_field("GET /x/{proxy+}", ".uri"),
        "write `{proxy}`",
    );
}

#[test]
fn undefined_stage_variable_names_stage_method_and_uri() {
    let errs = uri_error("GET /x", "http://${stageVariables.nope}/");
    let field = integration_field("GET /x", ".uri");
    expect(
        &errs,
        "petstore.toml",
        Some(11),
        &field,
        "in stage `prod`: stage variable `nope` not defined",
    );
}

#[test]
fn malformed_stage_variable_reference_is_reported() {
    let errs = uri_error("GET /x", "http://${stageVariable.backend}/");
    expect(
        &errs,
        "petstore.toml",
        Some(11),
        &integration_field("GET /x", ".uri"),
        "malformed stage variable reference",
    );
}

#[test]
fn uri_invalid_after_substitution_names_the_stage() {
    let api = api_with_integration(
        "GET /x",
        r#"{ type = "HTTP_PROXY", uri = "http://${stageVariables.backend}/" }"#,
    )
    .replace("127.0.0.1:9000", "h:0");
    let errs = Dir::api_only(&api).errors();
    expect(
        &errs,
        "petstore.toml",
        Some(11),
        &integration_field("GET /x", ".uri"),
        "in stage `prod`: URI `http://h:0/`",
    );
}

#[test]
fn unresolvable_host_names_stage_method_and_uri() {
    let api = api_with_integration(
        "GET /x",
        r#"{ type = "HTTP_PROXY", uri = "http://${stageVariables.backend}/" }"#,
    )
    .replace("127.0.0.1:9000", "no-such-host.invalid:81");
    let errs = Dir::api_only(&api).errors();
    let field = integration_field("GET /x", ".uri");
    expect(
        &errs,
        "petstore.toml",
        Some(11),
        &field,
        "in stage `prod`: cannot resolve host `no-such-host.invalid`",
    );
    let errs = uri_error("GET /x", "http://no-such-host.invalid/");
    expect(
        &errs,
        "petstore.toml",
        Some(11),
        &field,
        "cannot resolve host `no-such-host.invalid`",
    );
}

#[test]
fn stage_variables_fill_the_uri_per_stage() {
    let api = r#"id = "petstore"
[stages.prod]
deployment = "v1"
variables = { backend = "127.0.0.1:9001", v = "7" }
[stages.dev]
deployment = "v1"
variables = { backend = "localhost", v = "8" }
[deployments.v1.methods."GET /pets/{petId}"]
integration = { type = "HTTP_PROXY", uri = "http://${stageVariables.backend}/svc/${stageVariables.v}/{petId}?q=1" }
"#;
    let loaded = Dir::api_only(api).ok();
    let proxy = |stage: &str| {
        let m = find_method(&loaded, "petstore", stage, HttpMethod::Get, "/pets/1")
            .expect("GET /pets/1");
        match &m.integration {
            Integration::HttpProxy(p) => (p.addr, p.host_header.to_string(), p.path.parts.clone()),
            other => panic!("expected HTTP_PROXY, got {other:?}"),
        }
    };
    let (addr, host, parts) = proxy("prod");
    assert_eq!(addr, "127.0.0.1:9001".parse().expect("addr"));
    assert_eq!(host, "127.0.0.1:9001");
    assert_eq!(
        parts,
        vec![
            UriPart::Literal("/svc/7/".into()),
            UriPart::Param("petId".into()),
            UriPart::Literal("?q=1".into())
        ]
    );
    let (addr, host, parts) = proxy("dev");
    assert_eq!(addr.port(), 80);
    assert_eq!(host, "localhost");
    assert_eq!(parts[0], UriPart::Literal("/svc/8/".into()));
}

#[test]
fn uri_without_path_means_root() {
    let integration = r#"{ type = "HTTP_PROXY", uri = "http://127.0.0.1:9002" }"#;
    let loaded = Dir::api_only(&api_with_integration("GET /x", integration)).ok();
    let m = find_method(&loaded, "petstore", "prod", HttpMethod::Get, "/x").expect("GET /x");
    let Integration::HttpProxy(p) = &m.integration else {
        panic!("expected HTTP_PROXY");
    };
    assert_eq!(p.path.parts, vec![UriPart::Literal("/".into())]);
    assert_eq!(p.timeout, Duration::from_millis(29_000));
}

#[test]
fn unreferenced_deployments_are_checked_only_syntactically() {
    let base = r#"id = "petstore"
[stages.prod]
deployment = "v1"
[deployments.v1.methods."GET /x"]
integration = { type = "MOCK" }
[deployments.old.methods."GET /y"]
"#;
    // Unknown stage variables and unresolvable hosts are fine where no stage serves them...
    let fine = format!("{base}integration = {{ type = \"HTTP_PROXY\", uri = \"http://${{stageVariables.gone}}/\" }}\n");
    Dir::api_only(&fine).ok();
    let fine = format!(
        "{base}integration = {{ type = \"HTTP_PROXY\", uri = \"http://no-such-host.invalid/\" }}\n"
    );
    Dir::api_only(&fine).ok();
    // ...syntax errors are not.
    let bad = format!(
        "{base}integration = {{ type = \"HTTP_PROXY\", uri = \"ftp://${{stageVariables.h}}/\" }}\n"
    );
    let errs = Dir::api_only(&bad).errors();
    expect(
        &errs,
        "petstore.toml",
        Some(7),
        "deployments.old.methods.\"GET /y\".integration.uri",
        "ftp://",
    );
    let bad =
        format!("{base}integration = {{ type = \"HTTP_PROXY\", uri = \"http://h/{{nope}}\" }}\n");
    let errs = Dir::api_only(&bad).errors();
    expect(
        &errs,
        "petstore.toml",
        Some(7),
        "deployments.old.methods.\"GET /y\".integration.uri",
        "not a path parameter",
    );
}

#[test]
fn deployment_ids_are_checked() {
    let d = Dir::api_only(
        &api_with("[deployments.v1]", "[deployments.\"v 1\"]")
            .replace("deployment = \"v1\"", "deployment = \"v 1\""),
    );
    expect(
        &d.errors(),
        "petstore.toml",
        Some(8),
        "deployments.\"v 1\"",
        "not a valid deployment id",
    );
}

// ---------------------------------------------------------------------------------------------
// Collecting errors, hostile input
// ---------------------------------------------------------------------------------------------

#[test]
fn all_errors_of_all_files_are_reported_in_order() {
    let d = Dir::new(
        &GATEWAY.replace("shards = 2", "shards = 0"),
        &[
            (
                "a",
                &API.replace("\"petstore\"", "\"a\"")
                    .replace("deployment = \"v1\"", "deployment = \"v9\""),
            ),
            (
                "b",
                &API.replace("\"petstore\"", "\"b b\"")
                    .replace("status = 201", "status = 1"),
            ),
            ("c", "id = "),
            ("petstore", API),
        ],
    );
    let errs = d.errors();
    let files: Vec<String> = errs
        .iter()
        .map(|e| {
            e.file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        files,
        ["gateway.toml", "a.toml", "b.toml", "b.toml", "c.toml"],
        "{errs}"
    );
    assert_eq!(errs.to_string().lines().count(), 5, "{errs}");
    // Within a file, by line.
    assert!(errs.0[2].line < errs.0[3].line, "{errs}");
}

#[test]
fn invalid_utf8_is_reported_with_its_line() {
    let d = Dir::api_only(API);
    d.write(
        "apis/petstore.toml",
        b"id = \"petstore\"\nname = \"\xff\xfe\"\n",
    );
    expect(&d.errors(), "petstore.toml", Some(2), "", "not valid UTF-8");
}

#[test]
fn empty_api_file_is_reported_not_a_panic() {
    let d = Dir::api_only("");
    expect(
        &d.errors(),
        "petstore.toml",
        None,
        "id",
        "missing field `id`",
    );
}

#[test]
fn garbage_never_panics() {
    let samples: Vec<Vec<u8>> = vec![
        vec![0xff; 64],
        b"\0\0\0".to_vec(),
        b"[[[[[[[[[[".to_vec(),
        "[".repeat(10_000).into_bytes(),
        "a = ".to_string().into_bytes().into_iter().chain("[".repeat(10_000).into_bytes()).collect(),
        "x = {".repeat(5_000).into_bytes(),
        b"id = 1979-05-27T07:32:00Z".to_vec(),
        b"id = \"p\"\nreleased = 1979-05-27\n".to_vec(),
        b"\xef\xbb\xbfid = \"p\"\n[stages]\nprod = 5\n".to_vec(),
        b"id = \"p\"\n[[stages]]\n".to_vec(),
        b"id = \"p\"\n[deployments.v1.methods.\"GET /\"]\nintegration = 5\n".to_vec(),
        b"id = \"p\"\n[deployments.v1.methods.\"GET /\"]\nintegration = { type = 5 }\n".to_vec(),
        b"id = \"p\"\n[deployments.v1.methods.\"GET /\"]\nintegration = { type = \"MOCK\", status = 1e400 }\n".to_vec(),
        b"id = \"p\"\n[deployments.v1.methods.\"\"]\nintegration = { type = \"MOCK\" }\n".to_vec(),
        b"id = \"p\"\n[deployments.v1.methods.\"GET \"]\nintegration = { type = \"MOCK\" }\n".to_vec(),
        b"id = \"p\"\n[deployments.v1.methods.\"GET /{\"]\nintegration = { type = \"MOCK\" }\n".to_vec(),
        b"id = \"p\"\n[stages.s]\ndeployment = \"v1\"\n[deployments.v1.methods.\"GET /{a}\"]\nintegration = { type = \"HTTP_PROXY\", uri = \"http://[\" }\n".to_vec(),
        b"id = \"p\"\n[stages.s]\ndeployment = \"v1\"\n[deployments.v1.methods.\"GET /\"]\nintegration = { type = \"HTTP_PROXY\", uri = \"${\" }\n".to_vec(),
        b"id = \"p\"\n[stages.s]\ndeployment = \"v1\"\nvariables = { a = \"\" }\n[deployments.v1.methods.\"GET /\"]\nintegration = { type = \"HTTP_PROXY\", uri = \"http://h\xc3\xa9:99999999999/\xe2\x82\xac\" }\n".to_vec(),
    ];
    for (i, bytes) in samples.iter().enumerate() {
        for target in ["gateway.toml", "apis/petstore.toml"] {
            let d = Dir::new(GATEWAY, &[("petstore", API)]);
            d.write(target, bytes);
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d.load().map(|_| ())));
            match result {
                Ok(Ok(())) => {}
                Ok(Err(errs)) => assert!(!errs.is_empty(), "sample {i} in {target}"),
                Err(_) => panic!("sample {i} in {target} panicked"),
            }
        }
    }
}

#[test]
fn error_display_format() {
    let e = ConfigError::new(
        Path::new("apis/a.toml"),
        Some(3),
        "stages.prod.deployment",
        "bad",
    );
    assert_eq!(e.to_string(), "apis/a.toml:3: stages.prod.deployment: bad");
    let e = ConfigError::new(Path::new("gateway.toml"), None, "id", "missing");
    assert_eq!(e.to_string(), "gateway.toml: id: missing");
    let e = ConfigError::new(Path::new("gateway.toml"), None, "", "cannot read");
    assert_eq!(e.to_string(), "gateway.toml: cannot read");
    let all = ConfigErrors(vec![e.clone(), e]);
    assert_eq!(
        all.to_string(),
        "gateway.toml: cannot read\ngateway.toml: cannot read"
    );
}

// ---------------------------------------------------------------------------------------------
// Per-method settings: throttling next to caching in `method_settings`
// ---------------------------------------------------------------------------------------------

/// An API whose stage `prod` has `stage` lines (line 5 on) after `deployment`, followed by
/// `methods` (sub-tables of the stage), over deployment v1 with `GET /pets`,
/// `GET /pets/{id}`, `POST /pets` and `GET /other`.
fn throttled_api(stage: &str, methods: &str) -> String {
    format!(
        "id = \"petstore\"\n[stages.prod]\ndeployment = \"v1\"\n# settings\n{stage}\n{methods}\n\
         [deployments.v1.methods.\"GET /pets\"]\nintegration = {{ type = \"MOCK\" }}\n\
         [deployments.v1.methods.\"GET /pets/{{id}}\"]\nintegration = {{ type = \"MOCK\" }}\n\
         [deployments.v1.methods.\"POST /pets\"]\nintegration = {{ type = \"MOCK\" }}\n\
         [deployments.v1.methods.\"GET /other\"]\nintegration = {{ type = \"MOCK\" }}\n"
    )
}

/// The limit of bucket `id` (`stage petstore/prod GET /pets`), if it exists.
fn bucket_limit(loaded: &LoadedConfig, id: &str) -> Option<crate::throttle::Limit> {
    let t = &loaded.snapshot.traffic;
    t.buckets.iter().find(|b| &*b.id == id).map(|b| b.limit)
}

fn limit(rate: f64, burst: u64) -> Option<crate::throttle::Limit> {
    Some(crate::throttle::Limit { rate, burst })
}

#[test]
fn method_settings_throttle_overrides_the_stage_default_per_method() {
    let d = Dir::api_only(&throttled_api(
        "throttle = { rate_limit = 100, burst_limit = 50 }",
        "[stages.prod.method_settings.\"GET /pets\"]\nthrottling_rate_limit = 10\nthrottling_burst_limit = 5\n\
         [stages.prod.method_settings.\"GET /pets/{id}\"]\nthrottling_rate_limit = 2.5\n\
         [stages.prod.method_settings.\"POST /pets\"]\nthrottling_burst_limit = 7\n\
         [stages.prod.method_settings.\"GET /other\"]\ncache_ttl_in_seconds = 10\n",
    ));
    let loaded = d.ok();
    let b = |key: &str| bucket_limit(&loaded, &format!("stage petstore/prod {key}"));
    assert_eq!(b("GET /pets"), limit(10.0, 5));
    // A method giving one of the two values takes the other from the stage's throttle.
    assert_eq!(b("GET /pets/{id}"), limit(2.5, 50));
    assert_eq!(b("POST /pets"), limit(100.0, 7));
    // An entry with cache settings only keeps the stage default.
    assert_eq!(b("GET /other"), limit(100.0, 50));
}

#[test]
fn method_settings_throttle_without_a_stage_throttle_needs_both_values() {
    let d = Dir::api_only(&throttled_api(
        "",
        "[stages.prod.method_settings.\"GET /pets\"]\nthrottling_rate_limit = 10\n\
         [stages.prod.method_settings.\"POST /pets\"]\nthrottling_rate_limit = 1\nthrottling_burst_limit = 1\n",
    ));
    let errs = d.errors();
    expect(
        &errs,
        "petstore.toml",
        Some(7),
        "stages.prod.method_settings.\"GET /pets\".throttling_burst_limit",
        "not set, and the stage has no `throttle` to take it from",
    );
    assert_eq!(errs.len(), 1, "{errs}");
    // Both values and no stage throttle: the method has a bucket, the others none.
    let d = Dir::api_only(&throttled_api(
        "",
        "[stages.prod.method_settings.\"POST /pets\"]\nthrottling_rate_limit = 1\nthrottling_burst_limit = 3\n",
    ));
    let loaded = d.ok();
    assert_eq!(
        bucket_limit(&loaded, "stage petstore/prod POST /pets"),
        limit(1.0, 3)
    );
    assert_eq!(bucket_limit(&loaded, "stage petstore/prod GET /pets"), None);
}

#[test]
fn method_settings_throttle_values_and_keys_are_checked() {
    let d = Dir::api_only(&throttled_api(
        "throttle = { rate_limit = 1, burst_limit = 1 }",
        "[stages.prod.method_settings.\"GET /pets\"]\nthrottling_rate_limit = -1\nthrottling_burst_limit = 2000000000\n\
         [stages.prod.method_settings.\"GET /nope\"]\nthrottling_rate_limit = 1\ncache_ttl_in_seconds = 5\n\
         [stages.prod.method_settings.\"POST /pets\"]\nthrottling_rate_limit = nan\n",
    ));
    let errs = d.errors();
    let field = |key: &str, name: &str| format!("stages.prod.method_settings.\"{key}\".{name}");
    expect(
        &errs,
        "petstore.toml",
        Some(7),
        &field("GET /pets", "throttling_rate_limit"),
        "throttling_rate_limit must be 0 or more, got -1",
    );
    expect(
        &errs,
        "petstore.toml",
        Some(8),
        &field("GET /pets", "throttling_burst_limit"),
        "throttling_burst_limit must be between 0 and 1000000000, got 2000000000",
    );
    // An unknown method is reported once, whatever settings the entry carries.
    expect(
        &errs,
        "petstore.toml",
        Some(9),
        "stages.prod.method_settings.\"GET /nope\"",
        "`GET /nope` is not a method of deployment `v1`",
    );
    expect(
        &errs,
        "petstore.toml",
        Some(13),
        &field("POST /pets", "throttling_rate_limit"),
        "must be 0 or more, got NaN",
    );
    assert_eq!(errs.len(), 4, "{errs}");
}

#[test]
fn stage_method_throttle_is_refused_with_where_to_move_it() {
    let d = Dir::api_only(&throttled_api(
        "throttle = { rate_limit = 1, burst_limit = 1 }\n\
         method_throttle = { \"GET /pets\" = { rate_limit = 10, burst_limit = 5 }, \"GET /other\" = { rate_limit = 1, burst_limit = 1 } }",
        "",
    ));
    let errs = d.errors();
    expect(
        &errs,
        "petstore.toml",
        Some(6),
        "stages.prod.method_throttle.\"GET /pets\"",
        "`method_throttle` is no longer a stage setting: move this entry to \
         `[stages.prod.method_settings.\"GET /pets\"]` as `throttling_rate_limit = 10` and \
         `throttling_burst_limit = 5`",
    );
    find(
        &errs,
        "petstore.toml",
        Some(6),
        "stages.prod.method_throttle.\"GET /other\"",
    );
    assert_eq!(errs.len(), 2, "{errs}");
    // The same as sub-tables.
    let d = Dir::api_only(&throttled_api(
        "",
        "[stages.prod.method_throttle.\"POST /pets\"]\nrate_limit = 0.5\nburst_limit = 1\n",
    ));
    let errs = d.errors();
    expect(
        &errs,
        "petstore.toml",
        Some(6),
        "stages.prod.method_throttle.\"POST /pets\"",
        "`[stages.prod.method_settings.\"POST /pets\"]` as `throttling_rate_limit = 0.5` and \
         `throttling_burst_limit = 1`",
    );
    assert_eq!(errs.len(), 1, "{errs}");
    // Whatever it holds, the table gets the same advice rather than a type error.
    let d = Dir::api_only(&throttled_api("method_throttle = 5", ""));
    expect(
        &d.errors(),
        "petstore.toml",
        Some(5),
        "stages.prod.method_throttle",
        "give each method its throttle in `[stages.prod.method_settings.\"METHOD /path\"]` \
         with `throttling_rate_limit` and `throttling_burst_limit`",
    );
}
