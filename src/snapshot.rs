//! The compiled, immutable view of the whole configuration that the data plane reads.
//!
//! The control plane (`config`) parses and validates files and compiles them into one
//! [`Snapshot`]; shards only ever see a `Snapshot`, never the file model. A snapshot is never
//! mutated after it is built: a reload builds a new one and publishes it (see `reload`), so a
//! request that started on one snapshot finishes on it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ahash::AHashMap;

use crate::router::Router;

/// Everything a shard needs to serve requests, frozen at compile time.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases by one with every successful (re)load; shown in logs so operators can tell
    /// which configuration answered.
    pub generation: u64,
    /// Connection and request limits applied before routing.
    pub limits: Limits,
    /// Where host-style requests (`{api-id}.execute-api.{domain}`) are recognised.
    pub routing: HostRouting,
    /// APIs by their id (`restapi_id`), for host-style lookups.
    pub apis: AHashMap<Box<str>, Api>,
    /// Throttles, API keys, usage plans (see `throttle`).
    pub traffic: crate::throttle::Traffic,
    /// Custom domain names: certificates by SNI and base path mappings by `Host`.
    pub domains: crate::tls::Domains,
    /// How `https://` backends are reached (trusted CAs, client certificate).
    pub backend_tls: Option<Arc<crate::tls::backend::BackendTls>>,
    /// Credentials and account of Lambda invocations (`AWS_PROXY`).
    pub lambda: Arc<LambdaSettings>,
    /// Functions hosted on the node (`[functions.NAME]`).
    pub functions: Arc<[Arc<crate::function::FunctionSpec>]>,
    /// IAM users and their access keys (`identities.toml`), for `AWS_IAM` methods.
    pub identities: Arc<crate::auth::iam::Identities>,
    /// Whether any method is `AWS_IAM` (their bodies are read before authorization, since
    /// the signature covers them).
    pub has_iam_methods: bool,
    /// WebSocket APIs by id (found by host like REST APIs; see `crate::ws`).
    pub ws_apis: AHashMap<Box<str>, Arc<crate::ws::WsApi>>,
    /// Frame, message and time limits of WebSocket connections.
    pub ws_limits: crate::ws::WsLimits,
    /// `[server] region`: of the APIs' ARNs, and the scope control-plane calls are signed for.
    pub region: Box<str>,
}

/// What every Lambda invocation shares.
#[derive(Debug, Default)]
pub struct LambdaSettings {
    /// Keys that sign Invoke API calls (SigV4, service `lambda`); `None`: calls go unsigned
    /// (only local Invoke API servers accept that).
    pub credentials: Option<crate::upstream::sigv4::Credentials>,
    /// `requestContext.accountId` of events.
    pub account_id: Box<str>,
}

/// Where a region's Lambda Invoke API is reached.
#[derive(Debug)]
pub struct InvokeEndpoint {
    /// Resolved address (on the control plane: shards never call DNS).
    pub addr: SocketAddr,
    /// `Host` header (`host[:port]`), also signed.
    pub host_header: Box<str>,
    /// `https://` endpoints: the TLS name (`None`: plain HTTP).
    pub tls_name: Option<rustls::pki_types::ServerName<'static>>,
}

/// How a request's `Host` picks an API.
#[derive(Debug, Clone)]
pub struct HostRouting {
    /// Lower-case suffix such as `.execute-api.localhost`; a host `petstore.execute-api.localhost`
    /// selects API `petstore`.
    pub execute_api_suffix: Box<str>,
    /// API served path-style (`/{stage}/{path}`) on every host that is not host-style.
    pub default_api: Option<Box<str>>,
}

/// Limits that protect a shard from hostile or broken clients and backends.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Total bytes of request line plus headers (AWS: 10,240).
    pub max_header_bytes: usize,
    /// Largest request body accepted (AWS: 10 MB); larger gets 413.
    pub max_body_bytes: u64,
    /// Whole request head must arrive within this time, so slow clients cannot hold a
    /// connection.
    pub header_timeout: Duration,
    /// Longest pause between two reads of a request body.
    pub body_timeout: Duration,
    /// How long an idle keep-alive connection is kept open waiting for the next request.
    pub idle_timeout: Duration,
    /// Longest pause while writing a response to a slow client.
    pub send_timeout: Duration,
    /// How long SIGTERM waits for in-flight requests before exiting.
    pub drain_timeout: Duration,
    /// Idle backend connections a shard keeps per backend address.
    pub pool_max_idle_per_backend: usize,
    /// How long an idle pooled backend connection is kept.
    pub pool_idle_timeout: Duration,
    /// Request bodies up to this size are read whole before the backend is connected
    /// (nginx's `proxy_request_buffering`); 0 streams every body.
    pub request_buffer_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 10_240,
            max_body_bytes: 10 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            pool_max_idle_per_backend: 64,
            pool_idle_timeout: Duration::from_secs(60),
            request_buffer_bytes: 64 * 1024,
        }
    }
}

/// One REST API with its stages; deployments are folded into the stages that point at them.
#[derive(Debug)]
pub struct Api {
    /// The `restapi_id`, as in the default invoke URL.
    pub id: Box<str>,
    /// Stages by name (`dev`, `prod`).
    pub stages: AHashMap<Box<str>, Stage>,
    /// Overrides of the gateway's own responses; `None` when the API customises none.
    pub gateway_responses: Option<Arc<crate::gateway_response::GatewayResponses>>,
    /// `binaryMediaTypes`, lower-case.
    pub binary_media_types: Box<[Box<str>]>,
    /// Resource policy, API key source, and the region and account of the API's ARNs.
    pub auth: crate::auth::ApiAuth,
    /// `[cors]`: the headers responses of its CORS resources carry.
    pub cors: Option<Arc<crate::cors::Cors>>,
}

/// A stage: a deployment's resource tree with the stage's variables already applied.
#[derive(Debug)]
pub struct Stage {
    /// Stage name, as in the URL's first path segment.
    pub name: Box<str>,
    /// The deployment the stage serves, for logs and rollbacks.
    pub deployment_id: Box<str>,
    /// Resource tree of the deployment; values are the methods.
    pub router: Router<Arc<Method>>,
    /// The stage's throttles and the usage plans covering it.
    pub traffic: crate::throttle::StageTraffic,
    /// Metric series of the stage's methods (by `Method::index`) and of its unmatched
    /// requests.
    pub metrics: crate::metrics::series::StageSeries,
    /// Where and how the stage's requests are logged; none when access logging is off.
    pub access_log: Option<Arc<crate::access_log::StageAccessLog>>,
    /// The stage cache, when `cache_cluster_enabled`.
    pub cache: Option<Box<crate::cache::StageCache>>,
    /// Stage variables, sorted by name (`stageVariables` of Lambda events).
    pub variables: Box<[(Box<str>, Box<str>)]>,
    /// `request_buffer_bytes` per method (by `Method::index`) where the stage or the method's
    /// `method_settings` set one; see [`Stage::request_buffer_bytes`].
    pub request_buffer: Box<[Option<u64>]>,
    /// The API's Lambda authorizers with this stage's variables applied, by the index
    /// `Authorization::Authorizer` holds.
    pub authorizers: crate::auth::StageAuthorizers,
    /// The canary release: a share of the stage's requests served by another deployment.
    pub canary: Option<Box<Canary>>,
    /// Whether this is a canary (`$context.isCanaryRequest`).
    pub is_canary: bool,
}

/// A stage's canary release (AWS `canarySettings`).
#[derive(Debug)]
pub struct Canary {
    /// A request goes to the canary when a uniform random `u32` is below this
    /// (`percentTraffic` of 2^32).
    pub threshold: u64,
    /// The canary deployment as a stage: the stage's name (`$context.stage` is the stage's),
    /// the canary's deployment and variables, the stage's throttles, the stage cache only
    /// with `useStageCache`, and metric series of its own (stage `{name}/Canary`).
    pub stage: Stage,
}

impl Stage {
    /// The stage or its canary, for the request whose uniform random draw is `draw`
    /// (`RequestInfo::canary_draw`): AWS splits a stage's traffic "at random" with the
    /// configured ratio (developer guide, "Set up an API Gateway canary release
    /// deployment"). One branch when the stage has no canary.
    #[inline]
    pub fn pick(&self, draw: u32) -> &Stage {
        match &self.canary {
            Some(c) if u64::from(draw) < c.threshold => &c.stage,
            _ => self,
        }
    }

    /// How much of a request body a streaming integration reads before it connects: the
    /// method's `method_settings` size, else the stage's, else the node's `limits`.
    pub fn request_buffer_bytes(&self, method: &Method, limits: &Limits) -> u64 {
        self.request_buffer
            .get(method.index as usize)
            .copied()
            .flatten()
            .unwrap_or(limits.request_buffer_bytes)
    }
}

/// One method on one resource, ready to serve.
#[derive(Debug)]
pub struct Method {
    /// Resource path as configured (`/pets/{petId}`), for logs, metrics and `$context`.
    pub resource_path: Box<str>,
    /// `requestContext.resourceId` of Lambda events: [`resource_id`] of the path.
    pub resource_id: Box<str>,
    /// Configured method (`GET`, `ANY`).
    pub http_method: Box<str>,
    /// What answers the request.
    pub integration: Integration,
    /// Position of the method in its deployment: indexes the per-stage tables (throttle
    /// buckets, metric series), since methods are shared by the stages serving a deployment
    /// while those tables are per stage.
    pub index: u32,
    /// `apiKeyRequired` and what else traffic management needs of the method.
    pub traffic: crate::throttle::MethodTraffic,
    /// Query strings and headers that vary the cache key (`cache_key_parameters`).
    pub cache_key: Box<[crate::cache::KeyParam]>,
    /// `authorizationType` (and the authorizer).
    pub authorization: crate::auth::Authorization,
    /// `authorizationScopes` (token authorizers).
    pub authorization_scopes: Box<[Box<str>]>,
    /// What the method's request validator checks (`None`: nothing).
    pub validation: Option<Arc<crate::validate::Validation>>,
    /// Its resource has CORS on: responses carry the API's `Access-Control-Allow-Origin`.
    pub cors: bool,
}

/// What answers a routed request. New integration types (`AWS_PROXY`, `HTTP`) join as
/// variants so the pipeline's `upstream` phase stays one `match`.
#[derive(Debug)]
pub enum Integration {
    /// The gateway answers itself.
    Mock(MockIntegration),
    /// The request is passed through to an HTTP backend and its answer passed back.
    HttpProxy(HttpProxyIntegration),
    /// The request becomes a Lambda proxy event; the function's result becomes the reply.
    AwsProxy(AwsProxyIntegration),
    /// A non-proxy integration (`MOCK` with templates, `HTTP`, `AWS` for Lambda): the request
    /// and the answer go through mapping templates, parameters and integration responses.
    Mapped(MappedIntegration),
}

/// A non-proxy integration: where it goes, and its mapping (shared by every stage).
#[derive(Debug)]
pub struct MappedIntegration {
    /// The backend.
    pub backend: MappedBackend,
    /// Templates, parameters, integration responses.
    pub mapping: Arc<crate::mapping::Mapping>,
}

/// The backend of a non-proxy integration.
#[derive(Debug)]
pub enum MappedBackend {
    /// `MOCK`: the request template's `statusCode` selects the integration response.
    Mock,
    /// `HTTP`: an HTTP backend called with `integrationHttpMethod`.
    Http {
        /// Address, `Host`, URI template, timeout, TLS.
        target: HttpProxyIntegration,
        /// `integrationHttpMethod`.
        method: Box<str>,
    },
    /// `AWS` with a Lambda invocations URI: the rendered request is the function's payload.
    Lambda(AwsProxyIntegration),
}

/// A Lambda proxy integration.
#[derive(Debug)]
pub struct AwsProxyIntegration {
    /// Region of the function: signs the call.
    pub region: Box<str>,
    /// Function name or ARN as configured (stage variables applied), for logs.
    pub function: Box<str>,
    /// `/2015-03-31/functions/{FunctionName}/invocations`, percent-encoded.
    pub invoke_path: Box<str>,
    /// Where the function runs.
    pub host: FunctionHost,
    /// Deadline for the function's result (AWS: 50 ms..29 s, default 29 s).
    pub timeout: Duration,
}

/// Where a Lambda integration's function runs.
#[derive(Debug)]
pub enum FunctionHost {
    /// Behind the region's Invoke API.
    Remote(Arc<InvokeEndpoint>),
    /// On this node (`[functions.NAME]`), invoked through the shard's Runtime API.
    Node {
        /// The function.
        spec: Arc<crate::function::FunctionSpec>,
        /// The ARN's qualifier (`NAME:ALIAS`), passed to the runtime in the invoked ARN.
        qualifier: Option<Box<str>>,
    },
}

/// A fixed answer.
#[derive(Debug)]
pub struct MockIntegration {
    /// Status code sent.
    pub status: u16,
    /// Extra headers sent, names lower-case.
    pub headers: Vec<(Box<str>, Box<str>)>,
    /// Body sent, verbatim.
    pub body: Box<[u8]>,
}

/// A pass-through to an HTTP backend.
#[derive(Debug)]
pub struct HttpProxyIntegration {
    /// Resolved backend address (resolved on the control plane: shards never call DNS).
    pub addr: SocketAddr,
    /// `Host` header sent to the backend (`host[:port]` from the URI).
    pub host_header: Box<str>,
    /// Path and query of the URI with stage variables applied and `{param}` placeholders
    /// left to fill per request.
    pub path: UriTemplate,
    /// Deadline for the backend's response head (AWS: 50 ms..29 s, default 29 s).
    pub timeout: Duration,
    /// `https://` backends: the name for SNI and certificate verification (`None`: plain).
    pub tls_name: Option<rustls::pki_types::ServerName<'static>>,
}

/// A URI path (and optional query) split into literal text and path-parameter slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    /// The pieces in order.
    pub parts: Vec<UriPart>,
}

/// One piece of a [`UriTemplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriPart {
    /// Copied as is.
    Literal(Box<str>),
    /// Replaced by the raw (still percent-encoded) value of the named path parameter; an
    /// unknown name becomes empty.
    Param(Box<str>),
}

impl Snapshot {
    /// An empty snapshot: serves 403 Missing Authentication Token to everything. Used before
    /// the first config is compiled and in tests.
    pub fn empty() -> Self {
        Snapshot {
            generation: 0,
            limits: Limits::default(),
            routing: HostRouting {
                execute_api_suffix: ".execute-api.localhost".into(),
                default_api: None,
            },
            apis: AHashMap::new(),
            traffic: crate::throttle::Traffic::default(),
            domains: crate::tls::Domains::default(),
            backend_tls: None,
            lambda: Arc::default(),
            functions: Arc::new([]),
            identities: Arc::default(),
            has_iam_methods: false,
            ws_apis: AHashMap::new(),
            ws_limits: crate::ws::WsLimits::default(),
            region: "us-east-1".into(),
        }
    }
}

/// A stable resource id for `requestContext.resourceId`: AWS's ids are 6 to 10 lower-case
/// alphanumerics assigned at creation; here they are derived from the resource path when the
/// snapshot is compiled, so the same resource keeps its id across reloads.
pub fn resource_id(resource_path: &str) -> Box<str> {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    // FNV-1a: stable across builds and platforms (a std hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in resource_path.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    (0..6)
        .map(|i| ALPHABET[((h >> (i * 6)) % 36) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::resource_id;

    #[test]
    fn resource_ids_are_stable_and_differ() {
        assert_eq!(resource_id("/pets"), resource_id("/pets"));
        assert_ne!(resource_id("/pets"), resource_id("/pets/{id}"));
        assert_eq!(resource_id("/").len(), 6);
    }
}
