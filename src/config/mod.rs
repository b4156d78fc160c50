//! Control plane: configuration files → validated, compiled [`Snapshot`].
//!
//! A configuration directory holds `gateway.toml` (node settings and limits) and a folder of
//! API files (`apis/*.toml`, one REST API each). [`load`] reads, validates and compiles it in
//! one go and reports *every* problem as `file:line: field: message`, like a linter, so an
//! operator fixes everything in one round; [`check`] does the same for `tollgate --check`.
//! None of this runs on the request path: shards only see the resulting snapshot.
//!
//! Pipeline: [`load`] (files → [`model`] structs) → [`validate`] (semantic checks) →
//! [`compile`] (stage routers, stage variables applied, backends resolved).

pub mod auth;
pub mod buffering;
mod cache;
pub mod compile;
pub mod control;
pub mod cors;
pub mod error;
mod functions;
pub mod gateway_responses;
mod identities;
pub mod key_import;
pub mod lambda;
pub mod load;
pub mod mapping;
pub mod method_settings;
pub mod model;
pub mod traffic;
pub mod uri;
pub mod validate;
pub mod validation;
mod websocket;

use std::net::SocketAddr;
use std::path::Path;

pub use error::{ConfigError, ConfigErrors};

use crate::snapshot::Snapshot;
use error::Sink;

/// Process-level settings that need a restart to change (listeners, shards, admin): a reload
/// compares them with the running ones to warn that they did not take effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    /// Plain HTTP listeners, each bound by every shard with `SO_REUSEPORT`.
    pub listen: Vec<SocketAddr>,
    /// Number of shard threads (`"auto"` already resolved to the CPUs available).
    pub shards: usize,
    /// Pin shard N to CPU N.
    pub pin_cores: bool,
    /// Control-plane listener, if any.
    pub admin: Option<SocketAddr>,
    /// Capacity of each shard's access-log queue (records).
    pub access_log_queue: usize,
    /// HTTPS listeners (`[tls] listen`), bound like plain ones.
    pub tls_listen: Vec<SocketAddr>,
    /// How the node's own log lines are written.
    pub log_format: LogFormat,
    /// `[cluster]`: limits shared with other nodes through Redis; `None` standalone.
    pub cluster: Option<crate::cluster::ClusterSettings>,
    /// `[control]`: who may call the `apigateway` API, and where what it creates is kept.
    pub control: control::ControlSettings,
}

/// `server.log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`), for log shippers.
    Json,
}

impl LogFormat {
    /// `"text"` or `"json"`.
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }

    /// The format `dir/gateway.toml` asks for, read before logging starts (the full load that
    /// follows reports a bad value with its file and line; here it falls back to text).
    pub fn peek(dir: &std::path::Path) -> LogFormat {
        let text = std::fs::read_to_string(dir.join("gateway.toml")).unwrap_or_default();
        let value: Option<toml::Value> = toml::from_str(&text).ok();
        value
            .as_ref()
            .and_then(|v| v.get("server")?.get("log_format")?.as_str())
            .and_then(LogFormat::parse)
            .unwrap_or_default()
    }
}

/// A successfully loaded configuration: what the process needs at start, and the snapshot
/// the shards serve.
#[derive(Debug)]
pub struct LoadedConfig {
    /// Settings applied at process start only.
    pub node: NodeSettings,
    /// The compiled data-plane view.
    pub snapshot: Snapshot,
    /// The APIs read from files of the API folder: the control plane lists them and refuses
    /// to change them (the file owns them).
    pub file_apis: Vec<FileApi>,
}

/// An API defined by a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileApi {
    /// Its id.
    pub id: String,
    /// Its `name` (the id when the file gives none).
    pub name: String,
    /// The file.
    pub path: std::path::PathBuf,
}

/// Reads, validates and compiles `dir` (a folder holding `gateway.toml`) into a snapshot
/// numbered `generation`. Never panics on any file content; every problem of every file is
/// returned at once.
pub fn load(dir: &Path, generation: u64) -> Result<LoadedConfig, ConfigErrors> {
    load_with(dir, generation, &[])
}

/// [`load`] with API definitions that are not files of the folder (the control plane's).
pub fn load_with(
    dir: &Path,
    generation: u64,
    extra: &[load::ExtraSource],
) -> Result<LoadedConfig, ConfigErrors> {
    load_counted(dir, generation, extra).map(|(loaded, _)| loaded)
}

/// Validates `dir` exactly as [`load`] does (backend hosts are resolved too) and returns a
/// one-line summary for `tollgate --check`, e.g.
/// `configuration OK: 1 API, 2 stages, 2 deployments, 4 methods, 0 routes, 1 usage plan,
/// 2 API keys, 0 custom domains (config)`: what was understood, so a file that was skipped by mistake
/// (wrong folder, wrong extension) shows as a count that is too low.
pub fn check(dir: &Path) -> Result<String, ConfigErrors> {
    let (settings, _) = control::peek(dir);
    let managed = crate::control::stored_sources(&settings).map_err(|e| {
        ConfigErrors::from(ConfigError::new(
            &settings.store,
            None,
            "control.store",
            e.to_string(),
        ))
    })?;
    let (_, counts) = load_counted(dir, 0, &managed)?;
    Ok(format!(
        "configuration OK: {}, {}, {}, {}, {}, {}, {}, {} ({})",
        plural(counts.apis, "API"),
        plural(counts.stages, "stage"),
        plural(counts.deployments, "deployment"),
        plural(counts.methods, "method"),
        plural(counts.routes, "route"),
        plural(counts.plans, "usage plan"),
        plural(counts.keys, "API key"),
        plural(counts.domains, "custom domain"),
        dir.display()
    ))
}

/// What a configuration contains, for the `--check` summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    apis: usize,
    stages: usize,
    deployments: usize,
    methods: usize,
    /// WebSocket routes.
    routes: usize,
    plans: usize,
    keys: usize,
    domains: usize,
}

/// `1 API`, `2 APIs`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The whole pipeline; errors from every stage of it are collected before failing.
fn load_counted(
    dir: &Path,
    generation: u64,
    extra: &[load::ExtraSource],
) -> Result<(LoadedConfig, Counts), ConfigErrors> {
    let mut sink = Sink::default();
    let sources = load::read_sources(dir, extra, &mut sink);
    let file_apis: Vec<FileApi> = sources
        .apis
        .iter()
        .filter(|s| !extra.iter().any(|e| e.path == s.path))
        .filter_map(|s| {
            let id = s.model.id.as_ref()?.get_ref().clone();
            let name = s.model.name.as_ref().map(|n| n.get_ref().clone());
            Some(FileApi {
                name: name.unwrap_or_else(|| id.clone()),
                id,
                path: s.path.clone(),
            })
        })
        .collect();
    let mut validated = validate::validate(&sources, &mut sink);
    validated.lambda = lambda::gateway_section(sources.gateway.as_ref(), &mut sink);
    let account = validated.lambda.settings().account_id;
    let account_of_events = account.to_string();
    validated.functions = functions::gateway_section(
        dir,
        sources.gateway.as_ref(),
        &validated.region.clone(),
        &account,
        &mut sink,
    );
    let (account, usage) = traffic::gateway_settings(dir, sources.gateway.as_ref(), &mut sink);
    let (plans, keys) = traffic::plans_and_keys(dir, &validated.apis, extra, &mut sink);
    validated.traffic = traffic::ValidTraffic {
        account,
        usage,
        plans,
        keys,
    };
    let mut counts = Counts {
        plans: validated.traffic.plans.len(),
        keys: validated.traffic.keys.len(),
        domains: 0,
        apis: validated.apis.len(),
        stages: validated.apis.iter().map(|a| a.stages.len()).sum(),
        deployments: validated.apis.iter().map(|a| a.deployments.len()).sum(),
        methods: validated
            .apis
            .iter()
            .flat_map(|a| &a.deployments)
            .map(|d| d.methods.len())
            .sum(),
        routes: validated
            .apis
            .iter()
            .flat_map(|a| &a.deployments)
            .map(|d| d.routes.len())
            .sum(),
    };
    let identities = identities::load(dir, &account_of_events, &mut sink);
    let mut node = validated.node.clone();
    node.control = control::section(dir, sources.gateway.as_ref(), node.admin, &mut sink);
    let mut snapshot = compile::compile(validated, generation, &mut sink);
    snapshot.identities = std::sync::Arc::new(identities);
    snapshot.has_iam_methods = snapshot.apis.values().any(|api| {
        api.stages.values().any(|s| {
            s.router
                .iter()
                .any(|(_, _, m)| m.authorization == crate::auth::Authorization::Iam)
        })
    });
    let edge =
        crate::tls::settings::compile(dir, sources.gateway.as_ref(), &snapshot.apis, &mut sink);
    node.tls_listen = edge.listen;
    counts.domains = edge.domains.len();
    snapshot.domains = edge.domains;
    snapshot.backend_tls = Some(std::sync::Arc::new(edge.backend));
    sink.finish()?;
    Ok((
        LoadedConfig {
            node,
            snapshot,
            file_apis,
        },
        counts,
    ))
}

#[cfg(test)]
mod tests;
