//! Semantic checks of the parsed files: ranges, names, cross-references, method keys, routes
//! and integration settings.
//!
//! Every check reports to the [`Sink`] and carries on, so one run lists every problem of every
//! file. What passes is returned as a [`Validated`] configuration for [`super::compile`];
//! parts that failed are left out of it (the load fails anyway, but the rest is still compiled
//! so that stage-dependent problems elsewhere are reported too).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ahash::AHashMap;
use toml::Spanned;

use super::error::{join_key, Sink};
use super::load::{Source, Sources};
use super::model::{
    ApiFile, DeploymentModel, Entries, GatewayFile, IntegrationModel, IntegrationType, MethodModel,
    ShardsSetting, StageModel,
};
use super::uri::{self, HttpUri, PathParam, StageTemplate};
use super::NodeSettings;
use crate::access_log::StageAccessLog;
use crate::router::{HttpMethod, Router};
use crate::snapshot::{HostRouting, Limits, MockIntegration};

/// AWS's integration timeout range, in milliseconds.
const INTEGRATION_TIMEOUT_MS: (i64, i64) = (50, 29_000);
/// Region of the APIs' ARNs when `server.region` is absent.
const DEFAULT_REGION: &str = "us-east-1";
/// Largest `server.shards`.
const MAX_SHARDS: i64 = 1024;
/// Domain when `server.execute_api_domain` is absent.
const DEFAULT_DOMAIN: &str = "localhost";
/// Response headers a MOCK may not set, because the gateway writes them itself and a second
/// copy would corrupt the response framing.
const RESERVED_MOCK_HEADERS: [&str; 3] = ["content-length", "transfer-encoding", "connection"];
/// Method names accepted in method keys, for messages.
const METHOD_NAMES: &str = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY";

/// The configuration after semantic checks, ready to compile.
#[derive(Debug)]
pub struct Validated {
    /// Process-level settings.
    pub node: NodeSettings,
    /// Limits for the snapshot.
    pub limits: Limits,
    /// Host routing for the snapshot.
    pub routing: HostRouting,
    /// APIs in file-name order (duplicates of an earlier id left out).
    pub apis: Vec<ValidApi>,
    /// Throttles, usage plans and keys (filled in by `config::traffic`).
    pub traffic: super::traffic::ValidTraffic,
    /// Lambda endpoints and credentials (filled in by `config::lambda`).
    pub lambda: super::lambda::ValidLambda,
    /// Functions hosted on the node (filled in by `config::functions`).
    pub functions: Vec<Arc<crate::function::FunctionSpec>>,
    /// `server.region`: the region of the APIs' ARNs.
    pub region: String,
    /// Limits of WebSocket connections (`[limits] websocket_*`).
    pub ws_limits: crate::ws::WsLimits,
}

/// One API file that parsed.
#[derive(Debug)]
pub struct ValidApi {
    /// File the API came from, for errors found while compiling.
    pub file: PathBuf,
    /// `restapi_id`.
    pub id: String,
    /// Stages whose settings are valid.
    pub stages: Vec<ValidStage>,
    /// Every deployment of the file, in file order (indices are stable for
    /// [`ValidStage::deployment`]); methods with errors are left out.
    pub deployments: Vec<ValidDeployment>,
    /// The API's gateway response overrides.
    pub gateway_responses: crate::gateway_response::GatewayResponses,
    /// `binaryMediaTypes`, lower-case.
    pub binary_media_types: Box<[Box<str>]>,
    /// Resource policy, API key source and Lambda authorizers.
    pub auth: super::auth::ValidApiAuth,
    /// `[cors]`.
    pub cors: Option<crate::cors::Cors>,
    /// A WebSocket API (`protocol_type = "WEBSOCKET"`): its route selection expression.
    pub websocket: Option<crate::ws::api::RouteSelection>,
}

/// A stage pointing at an existing deployment.
#[derive(Debug)]
pub struct ValidStage {
    /// Stage name.
    pub name: String,
    /// Index into [`ValidApi::deployments`].
    pub deployment: usize,
    /// Stage variables.
    pub variables: AHashMap<String, String>,
    /// Default method throttle (the stage's `throttle`).
    pub throttle: Option<crate::throttle::Limit>,
    /// Per-method throttles from `method_settings` (`"METHOD /path"`, limit), missing values
    /// already taken from [`ValidStage::throttle`].
    pub method_limits: Vec<(String, crate::throttle::Limit)>,
    /// Access logging, if configured.
    pub access_log: Option<Arc<StageAccessLog>>,
    /// Stage cache settings.
    pub cache: super::cache::ValidStageCache,
    /// Request buffering of the stage and its methods.
    pub buffering: super::buffering::ValidBuffering,
    /// The canary release, if any.
    pub canary: Option<ValidCanary>,
}

/// A stage's canary release.
#[derive(Debug)]
pub struct ValidCanary {
    /// Index into [`ValidApi::deployments`].
    pub deployment: usize,
    /// Share of requests, 0.0 to 100.0.
    pub percent: f64,
    /// The stage's variables with the canary's overrides applied.
    pub variables: AHashMap<String, String>,
    /// Whether canary requests use the stage cache.
    pub use_stage_cache: bool,
}

/// A deployment and its valid methods.
#[derive(Debug)]
pub struct ValidDeployment {
    /// Deployment id.
    pub id: String,
    /// True when at least one stage serves it (only those are resolved and compiled).
    pub referenced: bool,
    /// Methods that passed every check, in file order.
    pub methods: Vec<ValidMethod>,
    /// A WebSocket API's routes that passed every check, in file order.
    pub routes: Vec<ValidRoute>,
}

/// One route of a WebSocket API.
#[derive(Debug)]
pub struct ValidRoute {
    /// Dotted path of the route (`deployments.v1.routes."$connect"`), for errors.
    pub field: String,
    /// The route key.
    pub key: String,
    /// `Mock` or `AwsProxy`.
    pub integration: ValidIntegration,
    /// `routeResponseSelectionExpression = "$default"`.
    pub two_way: bool,
    /// The `$connect` route's authorizer (index into the file's `[authorizers]`).
    pub authorizer: Option<u32>,
}

/// One method whose key, route and integration are valid.
#[derive(Debug)]
pub struct ValidMethod {
    /// Dotted path of the method (`deployments.v1.methods."GET /pets"`), for errors.
    pub field: String,
    /// Line of the method key.
    pub line: Option<usize>,
    /// Parsed method.
    pub method: HttpMethod,
    /// Method as written (`GET`, `ANY`).
    pub method_name: String,
    /// Resource path as written.
    pub resource_path: String,
    /// What answers it.
    pub integration: ValidIntegration,
    /// `apiKeyRequired`.
    pub api_key_required: bool,
    /// Cache key parameters.
    pub cache_key: Box<[crate::cache::KeyParam]>,
    /// `authorizationType` and authorizer.
    pub authorization: crate::auth::Authorization,
    /// `authorizationScopes`.
    pub authorization_scopes: Box<[Box<str>]>,
    /// What its request validator checks.
    pub validation: Option<Arc<crate::validate::Validation>>,
    /// Its resource has CORS on (`[cors]`).
    pub cors: bool,
}

/// A checked integration.
#[derive(Debug)]
pub enum ValidIntegration {
    /// Final already.
    Mock(MockIntegration),
    /// A non-proxy integration: its mapping, and its backend still to fix per stage.
    Mapped(Arc<crate::mapping::Mapping>, MappedPlan),
    /// Needs its URI resolved (and, with stage variables, instantiated per stage).
    HttpProxy(ProxyPlan),
    /// Needs its function (and endpoint) fixed per stage.
    AwsProxy(LambdaPlan),
}

/// The backend of a non-proxy integration before stage variables are applied.
#[derive(Debug)]
pub enum MappedPlan {
    /// `MOCK`.
    Mock,
    /// `HTTP`, with its `integrationHttpMethod`.
    Http(ProxyPlan, Box<str>),
    /// `AWS`: a Lambda function.
    Lambda(LambdaPlan),
}

/// An `AWS_PROXY` integration before stage variables are applied.
#[derive(Debug)]
pub struct LambdaPlan {
    /// Dotted path of the `uri` field, for errors.
    pub field: String,
    /// Line of the `uri` value.
    pub line: Option<usize>,
    /// The URI split on stage variable references.
    pub template: StageTemplate,
    /// Function timeout.
    pub timeout: Duration,
}

/// An `HTTP_PROXY` integration before stage variables and DNS are applied.
#[derive(Debug)]
pub struct ProxyPlan {
    /// Dotted path of the `uri` field, for errors.
    pub field: String,
    /// Line of the `uri` value.
    pub line: Option<usize>,
    /// The URI split on stage variable references.
    pub template: StageTemplate,
    /// The parsed URI when it has no stage variables (same for every stage).
    pub fixed: Option<HttpUri>,
    /// Path parameters of the resource, to check placeholders after substitution.
    pub params: Vec<PathParam>,
    /// Backend timeout.
    pub timeout: Duration,
}

/// Checks everything that was read; problems go to `sink`.
pub(crate) fn validate(sources: &Sources, sink: &mut Sink) -> Validated {
    let gateway = sources.gateway.as_ref();
    let settings = match gateway {
        Some(g) => GatewayCheck {
            src: g,
            sink: &mut *sink,
        }
        .run(),
        None => GatewaySettings::default(),
    };
    let mut apis: Vec<ValidApi> = Vec::with_capacity(sources.apis.len());
    let mut ids_known = !sources.apis_incomplete;
    for src in &sources.apis {
        let api = ApiCheck {
            src,
            sink: &mut *sink,
            default_timeout: settings.integration_timeout,
            validation: Default::default(),
            cors: None,
        }
        .run();
        match &src.model.id {
            Some(id) if unique_id(&api, src, id, &apis, sink) => apis.push(api),
            Some(_) => {}
            None => ids_known = false,
        }
    }
    match gateway {
        Some(g) if ids_known => check_default_api(g, &apis, sink),
        _ => {}
    }
    Validated {
        node: settings.node,
        limits: settings.limits,
        routing: HostRouting {
            execute_api_suffix: settings.suffix.into(),
            default_api: gateway
                .and_then(|g| g.model.server.default_api.as_ref())
                .map(|s| s.get_ref().as_str().into()),
        },
        apis,
        traffic: Default::default(),
        lambda: Default::default(),
        functions: Vec::new(),
        region: settings.region,
        ws_limits: settings.ws_limits,
    }
}

/// False (and an error naming both files) when an earlier file already uses `api.id`.
fn unique_id(
    api: &ValidApi,
    src: &Source<ApiFile>,
    id: &Spanned<String>,
    earlier: &[ValidApi],
    sink: &mut Sink,
) -> bool {
    let Some(first) = earlier.iter().find(|a| a.id == api.id) else {
        return true;
    };
    let message = format!(
        "API id `{}` is already used by {}; ids must be unique",
        api.id,
        first.file.display()
    );
    sink.at(&src.path, src.line(id), "id", message);
    false
}

/// `server.default_api` must name a loaded API.
fn check_default_api(g: &Source<GatewayFile>, apis: &[ValidApi], sink: &mut Sink) {
    let Some(name) = &g.model.server.default_api else {
        return;
    };
    if apis.iter().any(|a| a.id == *name.get_ref()) {
        return;
    }
    let known: Vec<&str> = apis.iter().map(|a| a.id.as_str()).collect();
    let known = if known.is_empty() {
        "no API is defined".to_string()
    } else {
        format!("defined: {}", known.join(", "))
    };
    let message = format!("API `{}` is not defined ({known})", name.get_ref());
    sink.at(&g.path, g.line(name), "server.default_api", message);
}

/// What `gateway.toml` yields.
#[derive(Debug)]
struct GatewaySettings {
    node: NodeSettings,
    limits: Limits,
    ws_limits: crate::ws::WsLimits,
    suffix: String,
    integration_timeout: Duration,
    region: String,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            ws_limits: Default::default(),
            node: NodeSettings {
                listen: vec![default_listen()],
                shards: auto_shards(),
                pin_cores: true,
                admin: None,
                access_log_queue: crate::access_log::writer::DEFAULT_QUEUE,
                tls_listen: Vec::new(),
                log_format: super::LogFormat::Text,
                cluster: None,
                control: Default::default(),
            },
            limits: Limits::default(),
            suffix: format!(".execute-api.{DEFAULT_DOMAIN}"),
            integration_timeout: Duration::from_millis(INTEGRATION_TIMEOUT_MS.1 as u64),
            region: DEFAULT_REGION.to_string(),
        }
    }
}

/// Listener when `server.listen` is absent: every interface, port 8080.
fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}

/// One shard per CPU the process may use.
fn auto_shards() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_SHARDS as usize)
}

/// Checks of `gateway.toml`.
struct GatewayCheck<'a> {
    src: &'a Source<GatewayFile>,
    sink: &'a mut Sink,
}

impl GatewayCheck<'_> {
    fn run(mut self) -> GatewaySettings {
        let node = NodeSettings {
            listen: self.listen(),
            shards: self.shards(),
            pin_cores: self.src.model.server.pin_cores.unwrap_or(true),
            admin: self.admin(),
            access_log_queue: self.access_log_queue(),
            tls_listen: Vec::new(),
            log_format: self.log_format(),
            cluster: self.cluster(),
            control: Default::default(),
        };
        self.admin_not_a_listener(&node);
        let (limits, integration_timeout) = self.limits();
        let ws_limits = self.ws_limits();
        GatewaySettings {
            node,
            limits,
            ws_limits,
            suffix: self.suffix(),
            integration_timeout,
            region: self.region(),
        }
    }

    /// `server.region`: an AWS region name (lower-case letters, digits, `-`).
    fn region(&mut self) -> String {
        let Some(region) = &self.src.model.server.region else {
            return DEFAULT_REGION.to_string();
        };
        let text = region.get_ref();
        let valid = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            let message = format!("`{text}` is not an AWS region name (e.g. us-east-1)");
            self.error(region, "server.region", message);
        }
        text.clone()
    }

    fn error<T>(&mut self, at: &Spanned<T>, field: &str, message: impl Into<String>) {
        let line = self.src.line(at);
        self.sink.at(&self.src.path, line, field, message);
    }

    fn listen(&mut self) -> Vec<SocketAddr> {
        let Some(list) = &self.src.model.server.listen else {
            return vec![default_listen()];
        };
        if list.get_ref().is_empty() {
            self.error(list, "server.listen", "at least one listener is needed");
        }
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for (i, item) in list.get_ref().iter().enumerate() {
            let field = format!("server.listen[{i}]");
            let Some(addr) = self.socket_addr(item, &field) else {
                continue;
            };
            if addrs.contains(&addr) && addr.port() != 0 {
                self.error(item, &field, format!("`{addr}` is listed twice"));
            }
            addrs.push(addr);
        }
        addrs
    }

    fn socket_addr(&mut self, value: &Spanned<String>, field: &str) -> Option<SocketAddr> {
        match value.get_ref().parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                let message = format!(
                    "`{}` is not an \"ip:port\" address (e.g. \"0.0.0.0:8080\", \"[::1]:8080\")",
                    value.get_ref()
                );
                self.error(value, field, message);
                None
            }
        }
    }

    fn shards(&mut self) -> usize {
        let auto = auto_shards();
        let Some(setting) = &self.src.model.server.shards else {
            return auto;
        };
        match *setting.get_ref() {
            ShardsSetting::Auto => auto,
            ShardsSetting::Count(n) if (1..=MAX_SHARDS).contains(&n) => n as usize,
            ShardsSetting::Count(n) => {
                let message = format!("must be \"auto\" or between 1 and {MAX_SHARDS}, got {n}");
                self.error(setting, "server.shards", message);
                auto
            }
        }
    }

    fn log_format(&mut self) -> super::LogFormat {
        let Some(v) = &self.src.model.server.log_format else {
            return super::LogFormat::Text;
        };
        if let Some(format) = super::LogFormat::parse(v.get_ref()) {
            return format;
        }
        let message = format!(
            "`{}` is not a log format: use \"text\" or \"json\"",
            v.get_ref()
        );
        self.error(v, "server.log_format", message);
        super::LogFormat::Text
    }

    fn access_log_queue(&mut self) -> usize {
        let default = crate::access_log::writer::DEFAULT_QUEUE;
        let Some(v) = &self.src.model.server.access_log_queue else {
            return default;
        };
        match check_range(*v.get_ref(), (1, 1 << 20)) {
            Ok(n) => n as usize,
            Err(message) => {
                self.error(v, "server.access_log_queue", message);
                default
            }
        }
    }

    /// `[cluster]`: a Redis URL is required; the rest has defaults.
    fn cluster(&mut self) -> Option<crate::cluster::ClusterSettings> {
        use crate::cluster::ClusterSettings;
        let section = self.src.model.cluster.as_ref()?;
        let mut settings = ClusterSettings::standalone_defaults();
        let mut ok = true;
        let sentinels = section.sentinels.as_deref().unwrap_or_default();
        match &section.redis {
            None if sentinels.is_empty() => {
                let line = self.src.key_line("cluster");
                let message =
                    "cluster mode needs `redis`, the Redis server's URL (redis://host:port), or `sentinels`";
                self.sink.at(&self.src.path, line, "cluster.redis", message);
                ok = false;
            }
            None => {}
            Some(url) => match crate::cluster::check_url(url.get_ref()) {
                Ok(()) => settings.redis = url.get_ref().clone(),
                Err(why) => {
                    self.error(url, "cluster.redis", why);
                    ok = false;
                }
            },
        }
        ok &= self.sentinels(section, &mut settings);
        ok &= self.redis_tls(section, &mut settings);
        if let Some(id) = &section.node_id {
            let valid = !id.get_ref().is_empty()
                && id.get_ref().len() <= 128
                && id.get_ref().bytes().all(|b| b.is_ascii_graphic());
            if valid {
                settings.node_id = id.get_ref().clone();
            } else {
                self.error(
                    id,
                    "cluster.node_id",
                    "must be 1 to 128 visible ASCII characters",
                );
            }
        }
        if let Some(prefix) = &section.key_prefix {
            settings.key_prefix = prefix.get_ref().clone();
        }
        if let Some(v) = &section.sync_interval_ms {
            match check_range(*v.get_ref(), (1, 1000)) {
                Ok(n) => settings.sync_interval = Duration::from_millis(n as u64),
                Err(message) => self.error(v, "cluster.sync_interval_ms", message),
            }
        }
        if let Some(v) = &section.node_ttl_ms {
            match check_range(*v.get_ref(), (100, 60_000)) {
                Ok(n) => settings.node_ttl = Duration::from_millis(n as u64),
                Err(message) => self.error(v, "cluster.node_ttl_ms", message),
            }
        }
        if let Some(v) = &section.min_nodes {
            match check_range(*v.get_ref(), (1, 10_000)) {
                Ok(n) => settings.min_nodes = n as u64,
                Err(message) => self.error(v, "cluster.min_nodes", message),
            }
        }
        // Heartbeats run between syncs: a TTL shorter than three of them (and a slow reply)
        // would let live nodes expire between beats and shrink the count.
        let floor = settings.sync_interval * 3 + crate::cluster::worker::IO_TIMEOUT;
        if let (Some(v), true) = (&section.node_ttl_ms, settings.node_ttl < floor) {
            let message = format!(
                "must be at least 3 x sync_interval_ms + 250 ({} ms here)",
                floor.as_millis()
            );
            self.error(v, "cluster.node_ttl_ms", message);
        }
        ok.then_some(settings)
    }

    /// `[cluster] sentinels` and `sentinel_master`: both or neither.
    fn sentinels(
        &mut self,
        section: &super::model::ClusterSection,
        settings: &mut crate::cluster::ClusterSettings,
    ) -> bool {
        let sentinels = section.sentinels.as_deref().unwrap_or_default();
        let mut ok = true;
        for (i, url) in sentinels.iter().enumerate() {
            match crate::cluster::check_url(url.get_ref()) {
                Ok(()) => settings.sentinels.push(url.get_ref().clone()),
                Err(why) => {
                    self.error(url, &format!("cluster.sentinels[{i}]"), why);
                    ok = false;
                }
            }
        }
        match (&section.sentinel_master, sentinels.is_empty()) {
            (Some(name), false) if !name.get_ref().is_empty() => {
                settings.sentinel_master = name.get_ref().clone();
            }
            (Some(name), false) => {
                self.error(name, "cluster.sentinel_master", "must not be empty");
                ok = false;
            }
            (None, false) => {
                let line = self.src.key_line("cluster");
                let message = "`sentinels` needs `sentinel_master`, the master's name among them";
                self.sink
                    .at(&self.src.path, line, "cluster.sentinel_master", message);
                ok = false;
            }
            (Some(name), true) => {
                self.error(name, "cluster.sentinel_master", "needs `sentinels`");
                ok = false;
            }
            (None, true) => {}
        }
        ok
    }

    /// `[cluster] tls_*_file`: read now, so that a missing file is a config error.
    fn redis_tls(
        &mut self,
        section: &super::model::ClusterSection,
        settings: &mut crate::cluster::ClusterSettings,
    ) -> bool {
        let mut ok = true;
        let mut read = |this: &mut Self, value: &Option<Spanned<String>>, field: &str| {
            let value = value.as_ref()?;
            let dir = this.src.path.parent().unwrap_or(std::path::Path::new("."));
            let path = dir.join(value.get_ref());
            match std::fs::read(&path) {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    let message = format!("cannot read {}: {e}", path.display());
                    this.error(value, field, message);
                    ok = false;
                    None
                }
            }
        };
        let ca = read(self, &section.tls_ca_file, "cluster.tls_ca_file");
        let cert = read(self, &section.tls_cert_file, "cluster.tls_cert_file");
        let key = read(self, &section.tls_key_file, "cluster.tls_key_file");
        let client = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                let at = section
                    .tls_cert_file
                    .as_ref()
                    .or(section.tls_key_file.as_ref());
                if let Some(at) = at {
                    self.error(
                        at,
                        "cluster.tls_cert_file",
                        "tls_cert_file and tls_key_file go together",
                    );
                }
                ok = false;
                None
            }
        };
        let tls_url = settings.redis.starts_with("rediss://")
            || settings
                .sentinels
                .iter()
                .any(|u| u.starts_with("rediss://"));
        let first = [
            (&section.tls_ca_file, "cluster.tls_ca_file"),
            (&section.tls_cert_file, "cluster.tls_cert_file"),
            (&section.tls_key_file, "cluster.tls_key_file"),
        ]
        .into_iter()
        .find_map(|(value, field)| value.as_ref().map(|v| (v, field)));
        if let (false, true, Some((at, field))) = (tls_url, ok, first) {
            let message = "TLS files need a rediss:// URL in `redis` or `sentinels`";
            self.error(at, field, message);
            ok = false;
        }
        if ca.is_some() || client.is_some() {
            settings.tls = Some(crate::cluster::RedisTls {
                root_cert: ca,
                client,
            });
        }
        ok
    }

    fn admin(&mut self) -> Option<SocketAddr> {
        let value = self.src.model.server.admin.as_ref()?;
        self.socket_addr(value, "server.admin")
    }

    fn admin_not_a_listener(&mut self, node: &NodeSettings) {
        let (Some(admin), Some(at)) = (node.admin, &self.src.model.server.admin) else {
            return;
        };
        if admin.port() != 0 && node.listen.contains(&admin) {
            let message = format!("`{admin}` is also in server.listen");
            self.error(at, "server.admin", message);
        }
    }

    fn suffix(&mut self) -> String {
        let Some(domain) = &self.src.model.server.execute_api_domain else {
            return format!(".execute-api.{DEFAULT_DOMAIN}");
        };
        let lower = domain.get_ref().to_ascii_lowercase();
        let valid = !lower.is_empty()
            && !lower.starts_with(['.', '-'])
            && !lower.ends_with('.')
            && lower
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !valid {
            let message = format!("`{}` is not a DNS domain name", domain.get_ref());
            self.error(domain, "server.execute_api_domain", message);
        }
        format!(".execute-api.{lower}")
    }

    fn limits(&mut self) -> (Limits, Duration) {
        let l = &self.src.model.limits;
        let d = Limits::default();
        let max_header = self.int(&l.max_header_bytes, "max_header_bytes", (1024, 65_536));
        let max_body = self.int(&l.max_body_bytes, "max_body_bytes", (1, i64::MAX));
        let pool_idle = self.int(
            &l.pool_max_idle_per_backend,
            "pool_max_idle_per_backend",
            (0, i64::MAX),
        );
        let limits = Limits {
            max_header_bytes: max_header.map_or(d.max_header_bytes, |v| v as usize),
            max_body_bytes: max_body.map_or(d.max_body_bytes, |v| v as u64),
            header_timeout: self.ms(&l.header_timeout_ms, "header_timeout_ms", d.header_timeout),
            body_timeout: self.ms(&l.body_timeout_ms, "body_timeout_ms", d.body_timeout),
            idle_timeout: self.ms(&l.idle_timeout_ms, "idle_timeout_ms", d.idle_timeout),
            send_timeout: self.ms(&l.send_timeout_ms, "send_timeout_ms", d.send_timeout),
            drain_timeout: self.ms(&l.drain_timeout_ms, "drain_timeout_ms", d.drain_timeout),
            pool_max_idle_per_backend: pool_idle.map_or(d.pool_max_idle_per_backend, |v| {
                usize::try_from(v).unwrap_or(usize::MAX)
            }),
            pool_idle_timeout: self.ms(
                &l.pool_idle_timeout_ms,
                "pool_idle_timeout_ms",
                d.pool_idle_timeout,
            ),
            request_buffer_bytes: self
                .int(
                    &l.request_buffer_bytes,
                    "request_buffer_bytes",
                    (0, 10 * 1024 * 1024),
                )
                .map_or(d.request_buffer_bytes, |v| v as u64),
        };
        let timeout = self.int(
            &l.integration_timeout_ms,
            "integration_timeout_ms",
            INTEGRATION_TIMEOUT_MS,
        );
        let timeout = Duration::from_millis(timeout.unwrap_or(INTEGRATION_TIMEOUT_MS.1) as u64);
        (limits, timeout)
    }

    /// `[limits] websocket_*`, AWS's quotas by default.
    fn ws_limits(&mut self) -> crate::ws::WsLimits {
        let l = &self.src.model.limits;
        let d = crate::ws::WsLimits::default();
        let frame = self.int(
            &l.websocket_frame_bytes,
            "websocket_frame_bytes",
            (16, 16 << 20),
        );
        let message = self.int(
            &l.websocket_message_bytes,
            "websocket_message_bytes",
            (16, 64 << 20),
        );
        let limits = crate::ws::WsLimits {
            max_frame_bytes: frame.map_or(d.max_frame_bytes, |v| v as usize),
            max_message_bytes: message.map_or(d.max_message_bytes, |v| v as usize),
            idle_timeout: self.ms(
                &l.websocket_idle_timeout_ms,
                "websocket_idle_timeout_ms",
                d.idle_timeout,
            ),
            max_duration: self.ms(
                &l.websocket_max_duration_ms,
                "websocket_max_duration_ms",
                d.max_duration,
            ),
        };
        if let (Some(v), true) = (
            &l.websocket_frame_bytes,
            limits.max_frame_bytes > limits.max_message_bytes,
        ) {
            let message = "must not be larger than websocket_message_bytes";
            self.error(v, "limits.websocket_frame_bytes", message);
        }
        limits
    }

    /// A `[limits]` integer within `range`; `None` when absent or out of range (reported).
    fn int(&mut self, value: &Option<Spanned<i64>>, name: &str, range: (i64, i64)) -> Option<i64> {
        let v = value.as_ref()?;
        match check_range(*v.get_ref(), range) {
            Ok(n) => Some(n),
            Err(message) => {
                self.error(v, &format!("limits.{name}"), message);
                None
            }
        }
    }

    /// A `[limits]` timeout in milliseconds (> 0).
    fn ms(&mut self, value: &Option<Spanned<i64>>, name: &str, default: Duration) -> Duration {
        self.int(value, name, (1, i64::MAX))
            .map_or(default, |v| Duration::from_millis(v as u64))
    }
}

/// `n` if within the inclusive `(lo, hi)`; otherwise the message (`hi == i64::MAX` means no
/// upper bound).
fn check_range(n: i64, (lo, hi): (i64, i64)) -> Result<i64, String> {
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else if hi == i64::MAX {
        Err(format!("must be at least {lo}, got {n}"))
    } else {
        Err(format!("must be between {lo} and {hi}, got {n}"))
    }
}

/// True when `s` is 1..=`max` characters of `[A-Za-z0-9_-]` plus `extra`.
fn is_name(s: &str, max: usize, extra: &[u8]) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || extra.contains(&b))
}

/// Checks of one API file.
struct ApiCheck<'a> {
    src: &'a Source<ApiFile>,
    sink: &'a mut Sink,
    default_timeout: Duration,
    validation: super::validation::ApiValidation,
    cors: Option<super::cors::ValidCors>,
}

impl ApiCheck<'_> {
    fn run(mut self) -> ValidApi {
        let model = &self.src.model;
        self.validation = super::validation::check_api(self.src, self.sink);
        self.cors = super::cors::check(self.src, self.sink);
        let id = self.id();
        let websocket = super::websocket::protocol(self.src, self.sink);
        let mut deployments: Vec<ValidDeployment> = model
            .deployments
            .iter()
            .map(|(key, d)| self.deployment(key, d))
            .collect();
        let stages: Vec<ValidStage> = model
            .stages
            .iter()
            .filter_map(|(key, s)| self.stage(key, s))
            .collect();
        for s in &stages {
            deployments[s.deployment].referenced = true;
            if let Some(c) = &s.canary {
                deployments[c.deployment].referenced = true;
            }
        }
        ValidApi {
            file: self.src.path.clone(),
            id,
            stages,
            deployments,
            gateway_responses: super::gateway_responses::check(self.src, self.sink),
            binary_media_types: super::gateway_responses::binary_media_types(self.src, self.sink),
            auth: super::auth::check_api(self.src, self.sink, self.default_timeout),
            cors: self.cors.take().map(|c| c.cors),
            websocket,
        }
    }

    fn error<T>(&mut self, at: &Spanned<T>, field: &str, message: impl Into<String>) {
        let line = self.src.line(at);
        self.sink.at(&self.src.path, line, field, message);
    }

    /// The API id (empty when missing, which is reported).
    fn id(&mut self) -> String {
        let Some(id) = &self.src.model.id else {
            let message = "missing field `id` (the API's restapi_id, e.g. id = \"petstore\")";
            self.sink.at(&self.src.path, None, "id", message);
            return String::new();
        };
        // Lower case only: the id is also a DNS label in host-style URLs, where case is lost.
        let lower = !id.get_ref().bytes().any(|b| b.is_ascii_uppercase());
        if !lower || !is_name(id.get_ref(), 64, b"") {
            let message = format!(
                "`{}` is not a valid API id: use 1 to 64 of a-z 0-9 _ - (it is a host name label)",
                id.get_ref()
            );
            self.error(id, "id", message);
        }
        id.get_ref().clone()
    }

    /// A stage whose name, deployment and variables are valid.
    fn stage(&mut self, key: &Spanned<String>, model: &StageModel) -> Option<ValidStage> {
        let field = join_key("stages", key.get_ref());
        let before = self.sink_len();
        if !is_name(key.get_ref(), 128, b"") {
            let message = format!(
                "`{}` is not a valid stage name: use 1 to 128 of A-Z a-z 0-9 _ -",
                key.get_ref()
            );
            self.error(key, &field, message);
        }
        let deployment = self.stage_deployment(&field, &model.deployment);
        let variables = self.variables(&format!("{field}.variables"), &model.variables);
        let canary = model
            .canary
            .as_ref()
            .and_then(|c| self.canary(&format!("{field}.canary"), c, &variables));
        super::method_settings::report_removed_method_throttle(
            self.src, self.sink, key, &field, model,
        );
        let methods = super::method_settings::entries(self.src, self.sink, &field, model);
        let (throttle, method_limits) =
            super::traffic::stage_throttles(self.src, self.sink, &field, model, &methods);
        let access_log = self.access_log(&field, model);
        let cache = super::cache::stage(self.src, self.sink, &field, model, &methods);
        let buffering = super::buffering::stage(self.src, self.sink, &field, model, &methods);
        if self.sink_len() != before {
            return None;
        }
        Some(ValidStage {
            name: key.get_ref().clone(),
            deployment: deployment?,
            variables,
            throttle,
            method_limits,
            access_log,
            cache,
            buffering,
            canary,
        })
    }

    /// A stage's `canary`: an existing deployment, a percentage within 0..=100 (AWS's
    /// `percentTraffic` range), valid override variables laid over the stage's.
    fn canary(
        &mut self,
        field: &str,
        model: &super::model::CanaryModel,
        stage_variables: &AHashMap<String, String>,
    ) -> Option<ValidCanary> {
        let deployment = self.stage_deployment(field, &model.deployment);
        let percent = match &model.percent_traffic {
            None => 0.0,
            Some(p) => {
                let v = *p.get_ref();
                if !(0.0..=100.0).contains(&v) {
                    let message = format!("{v} is not a percentage (0.0 to 100.0)");
                    self.error(p, &format!("{field}.percent_traffic"), message);
                }
                v
            }
        };
        let mut variables = stage_variables.clone();
        variables.extend(self.variables(&format!("{field}.variables"), &model.variables));
        Some(ValidCanary {
            deployment: deployment?,
            percent,
            variables,
            use_stage_cache: model.use_stage_cache.unwrap_or(false),
        })
    }

    /// A stage's `access_log`: destination and compiled format.
    fn access_log(&mut self, stage_field: &str, model: &StageModel) -> Option<Arc<StageAccessLog>> {
        let log = model.access_log.as_ref()?;
        let format = log.format.as_ref();
        match StageAccessLog::compile(
            log.destination.get_ref(),
            format.map(|f| f.get_ref().as_str()),
        ) {
            Ok(compiled) => Some(Arc::new(compiled)),
            Err((name, message)) => {
                let line = match (name, format) {
                    ("format", Some(f)) => self.src.line(f),
                    _ => self.src.line(&log.destination),
                };
                let field = format!("{stage_field}.access_log.{name}");
                self.sink.at(&self.src.path, line, field, message);
                None
            }
        }
    }

    fn sink_len(&self) -> usize {
        self.sink.len()
    }

    /// Index of the deployment a stage names.
    fn stage_deployment(&mut self, stage_field: &str, name: &Spanned<String>) -> Option<usize> {
        let deployments = &self.src.model.deployments;
        let found = deployments
            .iter()
            .position(|(k, _)| k.get_ref() == name.get_ref());
        if found.is_none() {
            let known: Vec<&str> = deployments
                .iter()
                .map(|(k, _)| k.get_ref().as_str())
                .collect();
            let known = if known.is_empty() {
                "the file defines no deployment".to_string()
            } else {
                format!("defined: {}", known.join(", "))
            };
            let message = format!("deployment `{}` does not exist ({known})", name.get_ref());
            self.error(name, &format!("{stage_field}.deployment"), message);
        }
        found
    }

    /// Stage variables (the table at `table_field`) with AWS's name and value rules.
    fn variables(
        &mut self,
        table_field: &str,
        entries: &Entries<Spanned<String>, Spanned<String>>,
    ) -> AHashMap<String, String> {
        let mut vars = AHashMap::new();
        for (name, value) in entries {
            let field = join_key(table_field, name.get_ref());
            if !uri::is_var_name(name.get_ref()) {
                let message = format!(
                    "`{}` is not a valid stage variable name: use A-Z a-z 0-9 _",
                    name.get_ref()
                );
                self.error(name, &field, message);
            }
            if !uri::is_var_value(value.get_ref()) {
                let message = format!(
                    "`{}` is not a valid stage variable value: use 1 or more of A-Z a-z 0-9 - . _ ~ : / ? # & = ,",
                    value.get_ref()
                );
                self.error(value, &field, message);
            }
            vars.insert(name.get_ref().clone(), value.get_ref().clone());
        }
        vars
    }

    /// A deployment with the methods that pass every check.
    fn deployment(&mut self, key: &Spanned<String>, model: &DeploymentModel) -> ValidDeployment {
        let field = join_key("deployments", key.get_ref());
        if !is_name(key.get_ref(), 64, b".") {
            let message = format!(
                "`{}` is not a valid deployment id: use 1 to 64 of A-Z a-z 0-9 _ - .",
                key.get_ref()
            );
            self.error(key, &field, message);
        }
        let mut routes: Router<()> = Router::default();
        let mut methods: Vec<ValidMethod> = model
            .methods
            .iter()
            .filter_map(|(k, m)| self.method(&field, &mut routes, k, m))
            .collect();
        if let Some(cors) = &self.cors {
            cors.apply(&field, &mut methods);
        }
        let websocket = super::websocket::is_websocket(self.src);
        super::websocket::check_kind(self.src, self.sink, &field, model, websocket);
        let routes = model
            .routes
            .iter()
            .filter(|_| websocket)
            .filter_map(|(k, r)| self.route(&field, k, r))
            .collect();
        ValidDeployment {
            id: key.get_ref().clone(),
            referenced: false,
            methods,
            routes,
        }
    }

    /// One route of a WebSocket API: its key and its integration (`MOCK` or `AWS_PROXY`).
    fn route(
        &mut self,
        deployment_field: &str,
        key: &Spanned<String>,
        model: &super::model::RouteModel,
    ) -> Option<ValidRoute> {
        let field = join_key(&format!("{deployment_field}.routes"), key.get_ref());
        let two_way = super::websocket::two_way(self.src, self.sink, &field, key, model);
        let authorizer = super::websocket::authorizer(self.src, self.sink, &field, key, model);
        let integration = &model.integration;
        let ifield = format!("{field}.integration");
        let kind = *integration.kind.get_ref();
        let mapped = super::mapping::is_mapped(integration);
        let foreign_ok = self.no_foreign_fields(&ifield, integration, kind, mapped);
        let checked = match kind {
            IntegrationType::Mock if !mapped => {
                self.mock(&ifield, integration).map(ValidIntegration::Mock)
            }
            IntegrationType::AwsProxy => self
                .lambda(&ifield, integration)
                .map(ValidIntegration::AwsProxy),
            other => {
                let message = format!(
                    "WebSocket routes take MOCK (without templates) or AWS_PROXY integrations here, not {}",
                    other.as_str()
                );
                self.error(&integration.kind, &format!("{ifield}.type"), message);
                None
            }
        };
        Some(ValidRoute {
            field,
            key: key.get_ref().clone(),
            integration: checked.filter(|_| foreign_ok)?,
            two_way: two_way?,
            authorizer: authorizer?,
        })
    }

    /// One method: its key, its route (checked against the deployment's other routes) and
    /// its integration.
    fn method(
        &mut self,
        deployment_field: &str,
        routes: &mut Router<()>,
        key: &Spanned<String>,
        model: &MethodModel,
    ) -> Option<ValidMethod> {
        let field = join_key(&format!("{deployment_field}.methods"), key.get_ref());
        let (method, method_name, path) = match parse_method_key(key.get_ref()) {
            Ok(parsed) => parsed,
            Err(message) => {
                self.error(key, &field, message);
                return None;
            }
        };
        if let Err(e) = routes.insert(method, path, ()) {
            self.error(key, &field, e.to_string());
            return None;
        }
        let params = uri::path_params(path);
        let keys = &model.cache_key_parameters;
        let cache_key = super::cache::key_params(self.src, self.sink, &field, keys, &params);
        let authorization = super::auth::method_authorization(self.src, self.sink, &field, model);
        let validation = self.validation.method(self.src, self.sink, &field, model);
        let integration = self.integration(&field, model, &params)?;
        Some(ValidMethod {
            field,
            line: self.src.line(key),
            method,
            method_name: method_name.to_string(),
            resource_path: path.to_string(),
            integration,
            api_key_required: model.api_key_required.unwrap_or(false),
            cache_key,
            authorization_scopes: model
                .authorization_scopes
                .iter()
                .map(|s| s.get_ref().as_str().into())
                .collect(),
            authorization: authorization?,
            validation: validation.ok()?.map(Arc::new),
            cors: false,
        })
    }

    fn integration(
        &mut self,
        method_field: &str,
        method: &MethodModel,
        params: &[PathParam],
    ) -> Option<ValidIntegration> {
        let model = &method.integration;
        let field = format!("{method_field}.integration");
        let kind = *model.kind.get_ref();
        let mapped = super::mapping::is_mapped(model);
        let foreign_ok = self.no_foreign_fields(&field, model, kind, mapped);
        let checked = match kind {
            IntegrationType::Mock if !mapped => {
                self.mock(&field, model).map(ValidIntegration::Mock)
            }
            IntegrationType::HttpProxy => self
                .proxy(&field, model, params)
                .map(ValidIntegration::HttpProxy),
            IntegrationType::AwsProxy => self.lambda(&field, model).map(ValidIntegration::AwsProxy),
            IntegrationType::Mock => self
                .mapping(&field, method, method_field)
                .map(|m| ValidIntegration::Mapped(m, MappedPlan::Mock)),
            // Every part is checked before any `?`, so one run reports all their problems.
            IntegrationType::Http => {
                let mapping = self.mapping(&field, method, method_field);
                let plan = self.proxy(&field, model, &uri_params(model, params));
                let http_method = self.http_method(&field, model);
                Some(ValidIntegration::Mapped(
                    mapping?,
                    MappedPlan::Http(plan?, http_method?),
                ))
            }
            IntegrationType::Aws => {
                let mapping = self.mapping(&field, method, method_field);
                let plan = self.lambda(&field, model);
                Some(ValidIntegration::Mapped(
                    mapping?,
                    MappedPlan::Lambda(plan?),
                ))
            }
        };
        checked.filter(|_| foreign_ok)
    }

    /// The checked mapping of a non-proxy integration (`config::mapping`).
    fn mapping(
        &mut self,
        field: &str,
        method: &MethodModel,
        method_field: &str,
    ) -> Option<Arc<crate::mapping::Mapping>> {
        let mut check = super::mapping::MappingCheck {
            src: self.src,
            sink: self.sink,
        };
        check.mapping(field, method, method_field).map(Arc::new)
    }

    /// `integrationHttpMethod` of an `HTTP` integration (required, as PutIntegration requires
    /// it for HTTP); `ANY` sends the client's method.
    fn http_method(&mut self, field: &str, model: &IntegrationModel) -> Option<Box<str>> {
        let Some(m) = &model.http_method else {
            let message = "HTTP integrations need an `http_method` (integrationHttpMethod: GET, POST, ... or ANY)";
            self.error(&model.kind, &format!("{field}.http_method"), message);
            return None;
        };
        if m.get_ref() != "ANY" && HttpMethod::parse(m.get_ref()).is_none() {
            let message = format!("unknown method `{}`: use {METHOD_NAMES}", m.get_ref());
            self.error(m, &format!("{field}.http_method"), message);
            return None;
        }
        Some(m.get_ref().as_str().into())
    }

    /// Fields of the other integration type are errors, not silently ignored settings.
    fn no_foreign_fields(
        &mut self,
        field: &str,
        model: &IntegrationModel,
        kind: IntegrationType,
        mapped: bool,
    ) -> bool {
        let mut present: Vec<(&str, Option<usize>)> = Vec::new();
        let line = |s: Option<usize>| s.or(self.src.line(&model.kind));
        let shorthand = kind != IntegrationType::Mock || mapped;
        if kind == IntegrationType::Mock {
            if let Some(v) = &model.uri {
                present.push(("uri", self.src.line(v)));
            }
            if let Some(v) = &model.timeout_ms {
                present.push(("timeout_ms", self.src.line(v)));
            }
        }
        if shorthand {
            if let Some(v) = &model.status {
                present.push(("status", self.src.line(v)));
            }
            if let Some(h) = &model.headers {
                let first = h.iter().next().and_then(|(k, _)| self.src.line(k));
                present.push(("headers", line(first)));
            }
            if let Some(v) = &model.body {
                present.push(("body", self.src.line(v)));
            }
        }
        if matches!(kind, IntegrationType::HttpProxy | IntegrationType::AwsProxy) {
            let first = |e: &Option<super::model::Entries<Spanned<String>, _>>| {
                e.as_ref()
                    .and_then(|e| e.iter().next().and_then(|(k, _)| self.src.line(k)))
            };
            if model.request_templates.is_some() {
                present.push(("request_templates", line(first(&model.request_templates))));
            }
            if model.request_parameters.is_some() {
                present.push(("request_parameters", line(first(&model.request_parameters))));
            }
            if let Some(v) = &model.passthrough_behavior {
                present.push(("passthrough_behavior", self.src.line(v)));
            }
            if let Some(v) = &model.content_handling {
                present.push(("content_handling", self.src.line(v)));
            }
            if let Some(r) = &model.responses {
                let first = r.iter().next().and_then(|(k, _)| self.src.line(k));
                present.push(("responses", line(first)));
            }
        }
        if let Some(v) = model
            .http_method
            .as_ref()
            .filter(|_| kind == IntegrationType::Mock || kind == IntegrationType::HttpProxy)
        {
            present.push(("http_method", self.src.line(v)));
        }
        let takes = match kind {
            IntegrationType::Mock if mapped => "request_templates, request_parameters, passthrough_behavior, content_handling and responses",
            IntegrationType::Mock => "status, headers and body, or request_templates and responses",
            IntegrationType::HttpProxy => "uri and timeout_ms",
            IntegrationType::AwsProxy => "uri, http_method and timeout_ms",
            IntegrationType::Http | IntegrationType::Aws => "uri, http_method, timeout_ms, request_templates, request_parameters, passthrough_behavior, content_handling and responses",
        };
        for (name, line) in &present {
            let message = format!(
                "`{name}` does not apply to type {} (it takes {takes})",
                kind.as_str()
            );
            self.sink
                .at(&self.src.path, *line, format!("{field}.{name}"), message);
        }
        present.is_empty()
    }

    fn mock(&mut self, field: &str, model: &IntegrationModel) -> Option<MockIntegration> {
        let before = self.sink_len();
        let status = match &model.status {
            None => 200,
            Some(s) => match check_range(*s.get_ref(), (100, 599)) {
                Ok(n) => n as u16,
                Err(message) => {
                    self.error(s, &format!("{field}.status"), message);
                    200
                }
            },
        };
        let headers = self.mock_headers(field, model);
        let body = model.body.as_ref().map_or("", |b| b.get_ref().as_str());
        (self.sink_len() == before).then(|| MockIntegration {
            status,
            headers,
            body: body.as_bytes().into(),
        })
    }

    /// MOCK headers: token names (stored lower-case, each once), values without line breaks.
    fn mock_headers(&mut self, field: &str, model: &IntegrationModel) -> Vec<(Box<str>, Box<str>)> {
        let mut out: Vec<(Box<str>, Box<str>)> = Vec::new();
        for (name, value) in model.headers.iter().flat_map(|h| h.iter()) {
            let hfield = join_key(&format!("{field}.headers"), name.get_ref());
            let lower = name.get_ref().to_ascii_lowercase();
            if let Err(message) = check_header_name(&lower, &RESERVED_MOCK_HEADERS) {
                self.error(name, &hfield, message);
                continue;
            }
            if out.iter().any(|(n, _)| **n == *lower) {
                let message = format!("header `{lower}` is set twice (names are case-insensitive)");
                self.error(name, &hfield, message);
                continue;
            }
            if value.get_ref().contains(['\r', '\n', '\0']) {
                self.error(value, &hfield, "header values cannot contain CR, LF or NUL");
                continue;
            }
            out.push((lower.into(), value.get_ref().as_str().into()));
        }
        out
    }

    /// An integration's `timeout_ms` (the node default when absent); `None` when reported.
    fn timeout(&mut self, field: &str, model: &IntegrationModel) -> Option<Duration> {
        match &model.timeout_ms {
            None => Some(self.default_timeout),
            Some(t) => match check_range(*t.get_ref(), INTEGRATION_TIMEOUT_MS) {
                Ok(ms) => Some(Duration::from_millis(ms as u64)),
                Err(message) => {
                    self.error(t, &format!("{field}.timeout_ms"), message);
                    None
                }
            },
        }
    }

    /// `AWS_PROXY`: a Lambda integration URI (checked fully once stage variables are known)
    /// and `integrationHttpMethod` POST, the only method the Invoke API takes ("For Lambda
    /// integrations, you must use the HTTP method of POST", API Gateway developer guide).
    fn lambda(&mut self, field: &str, model: &IntegrationModel) -> Option<LambdaPlan> {
        let timeout = self.timeout(field, model);
        if let Some(m) = &model.http_method {
            if m.get_ref() != "POST" {
                let message = format!(
                    "`{}`: Lambda functions are invoked with POST (integrationHttpMethod)",
                    m.get_ref()
                );
                self.error(m, &format!("{field}.http_method"), message);
            }
        }
        let uri_field = format!("{field}.uri");
        let Some(uri) = &model.uri else {
            let message = format!("{} integrations need a `uri` (arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations)", model.kind.get_ref().as_str());
            self.error(&model.kind, &uri_field, message);
            return None;
        };
        let template = match StageTemplate::parse(uri.get_ref()) {
            Ok(t) => t,
            Err(message) => {
                self.error(uri, &uri_field, message);
                return None;
            }
        };
        if *model.kind.get_ref() == IntegrationType::Aws && !uri.get_ref().contains(":lambda:path/")
        {
            let message = "type AWS takes Lambda function invocation URIs only (arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations); other AWS service integrations are not implemented";
            self.error(uri, &uri_field, message);
            return None;
        }
        if !template.has_vars() {
            if let Err(message) = super::lambda::parse_function_uri(uri.get_ref()) {
                self.error(uri, &uri_field, message);
                return None;
            }
        }
        Some(LambdaPlan {
            field: uri_field,
            line: self.src.line(uri),
            template,
            timeout: timeout?,
        })
    }

    fn proxy(
        &mut self,
        field: &str,
        model: &IntegrationModel,
        params: &[PathParam],
    ) -> Option<ProxyPlan> {
        let timeout = self.timeout(field, model);
        let uri_field = format!("{field}.uri");
        let Some(uri) = &model.uri else {
            let message = format!(
                "{} integrations need a `uri`",
                model.kind.get_ref().as_str()
            );
            self.error(&model.kind, &uri_field, message);
            return None;
        };
        let (template, fixed) = match check_uri(uri.get_ref(), params) {
            Ok(checked) => checked,
            Err(message) => {
                self.error(uri, &uri_field, message);
                return None;
            }
        };
        Some(ProxyPlan {
            field: uri_field,
            line: self.src.line(uri),
            template,
            fixed,
            params: params.to_vec(),
            timeout: timeout?,
        })
    }
}

/// The names an `HTTP` integration's URI may use as `{name}`: the resource's path parameters
/// and the `integration.request.path.*` targets of its `request_parameters`.
fn uri_params(model: &IntegrationModel, params: &[PathParam]) -> Vec<PathParam> {
    let mut names = params.to_vec();
    for (target, _) in model.request_parameters.iter().flat_map(|p| p.iter()) {
        if let Some(name) = target.get_ref().strip_prefix("integration.request.path.") {
            if !names.iter().any(|p| p.name == name) {
                names.push(PathParam {
                    name: name.to_string(),
                    greedy: false,
                });
            }
        }
    }
    names
}

/// Splits a URI on stage variables and checks it as far as possible without a stage: fully
/// (returning the parsed URI) when it has no stage variables, otherwise its literal parts.
fn check_uri(uri: &str, params: &[PathParam]) -> Result<(StageTemplate, Option<HttpUri>), String> {
    let template = StageTemplate::parse(uri)?;
    if template.has_vars() {
        template.check_without_stage(params)?;
        return Ok((template, None));
    }
    let parsed = uri::parse_http_uri(uri, params)?;
    Ok((template, Some(parsed)))
}

/// `"METHOD /resource/path"` → (method, method as written, path). The path itself is
/// checked by the router.
fn parse_method_key(key: &str) -> Result<(HttpMethod, &str, &str), String> {
    let shape = || {
        format!("method key `{key}` must be \"METHOD /resource/path\" with exactly one space, e.g. \"GET /pets\"")
    };
    let (name, path) = key.split_once(' ').ok_or_else(shape)?;
    if name.is_empty() || path.is_empty() || path.contains(' ') {
        return Err(shape());
    }
    let method = HttpMethod::parse(name)
        .ok_or_else(|| format!("unknown method `{name}`: use {METHOD_NAMES}"))?;
    Ok((method, name, path))
}

/// Header names must be RFC 9110 tokens and not one the gateway writes itself.
pub(super) fn check_header_name(lower: &str, reserved: &[&str]) -> Result<(), String> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if lower.is_empty() || !lower.bytes().all(tchar) {
        return Err(format!("`{lower}` is not a valid header name"));
    }
    if reserved.contains(&lower) {
        return Err(format!(
            "`{lower}` is set by the gateway and cannot be configured"
        ));
    }
    Ok(())
}
