//! Serde structs mirroring the configuration files, field for field.
//!
//! They only describe the *shape* of the files: every struct denies unknown fields (so a typo
//! is an error, not a silently ignored setting), and values that later checks must point at
//! are wrapped in [`Spanned`] so errors can name their line. Ranges and cross-references are
//! checked in [`super::validate`], not here, so that one file can report many such problems at
//! once (serde stops at the first error of a file).
//!
//! Numbers are read as `i64` (TOML's integer type) and range-checked later for the same
//! reason: `status = 700` and `timeout_ms = -1` get a precise message instead of a serde type
//! error. Tables are never wrapped in `Spanned` because implicit tables (`methods` in
//! `[deployments.v1.methods."GET /"]`) have no span; their keys are spanned instead.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// `gateway.toml`: node settings and limits.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GatewayFile {
    /// Listeners, shards, admin, API discovery and routing.
    #[serde(default)]
    pub server: ServerSection,
    /// Connection and request limits.
    #[serde(default)]
    pub limits: LimitsSection,
    /// Account-level throttle (default 10,000 req/s, burst 5,000).
    pub throttle: Option<super::traffic::ThrottleModel>,
    /// Usage counter store.
    #[serde(default)]
    pub usage: super::traffic::UsageSection,
    /// HTTPS listeners and TLS policy.
    #[serde(default)]
    pub tls: crate::tls::model::TlsSection,
    /// Custom domain names (`[[domain]]`), with certificates and base path mappings.
    #[serde(default)]
    pub domain: Vec<crate::tls::model::DomainModel>,
    /// TLS to `https://` backends: trusted CAs and the gateway's client certificate.
    #[serde(default)]
    pub backend_tls: crate::tls::model::BackendTlsSection,
    /// How Lambda functions are invoked (`AWS_PROXY`).
    #[serde(default)]
    pub lambda: LambdaSection,
    /// Lambda functions the node runs itself (`[functions.NAME]`).
    #[serde(default)]
    pub functions: Entries<Spanned<String>, super::functions::FunctionModel>,
    /// Cluster mode: limits shared with other nodes through Redis.
    pub cluster: Option<ClusterSection>,
    /// The `apigateway` API on the admin listener: its administrator credentials and store.
    #[serde(default)]
    pub control: super::control::ControlSection,
}

/// `[cluster]` of `gateway.toml` (read at start; changes need a restart).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// This node's name among the fleet (default: made once and kept beside the usage store,
    /// `{store}.node-id`, so that it survives restarts and upgrades).
    pub node_id: Option<Spanned<String>>,
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. With `sentinels`,
    /// only its scheme, credentials and database are used (the host is the one they name).
    pub redis: Option<Spanned<String>>,
    /// Redis Sentinel: the sentinels' URLs (`redis://host:26379`), asked in order which
    /// server is the master of `sentinel_master`, again after every failure.
    pub sentinels: Option<Vec<Spanned<String>>>,
    /// The master's name among the sentinels (their `sentinel monitor NAME ...`).
    pub sentinel_master: Option<Spanned<String>>,
    /// PEM file of the CA that signed the Redis server's certificate (`rediss://`), relative
    /// to the configuration folder; default: the system's roots.
    pub tls_ca_file: Option<Spanned<String>>,
    /// PEM client certificate for Redis servers that require one (`tls-auth-clients yes`).
    pub tls_cert_file: Option<Spanned<String>>,
    /// PEM key of `tls_cert_file`.
    pub tls_key_file: Option<Spanned<String>>,
    /// Prefix of every key this fleet writes (default `tollgate:`), so several fleets can
    /// share one Redis.
    pub key_prefix: Option<Spanned<String>>,
    /// How often leases are topped up, ms (1..=1000, default 10).
    pub sync_interval_ms: Option<Spanned<i64>>,
    /// How long a node counts as live after its last heartbeat, ms (100..=60000, default
    /// 3000).
    pub node_ttl_ms: Option<Spanned<i64>>,
    /// Fewest nodes the fleet is taken to have when sharing limits out (default 1): set it
    /// to the fleet's size so that a node that cannot reach Redis at start enforces its
    /// share, not the whole limit.
    pub min_nodes: Option<Spanned<i64>>,
}

/// `[lambda]`: where the Lambda Invoke API is and the credentials that sign calls to it.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LambdaSection {
    /// Invoke API endpoint for every region not in `region_endpoints` (default: AWS's
    /// `https://lambda.{region}.amazonaws.com`).
    pub endpoint: Option<Spanned<String>>,
    /// Endpoint per region.
    #[serde(default)]
    pub region_endpoints: Entries<Spanned<String>, Spanned<String>>,
    /// Access key id; with `secret_access_key` (and optional `session_token`) it takes
    /// precedence over the environment and the shared credentials file.
    pub access_key_id: Option<Spanned<String>>,
    /// Secret access key.
    pub secret_access_key: Option<Spanned<String>>,
    /// Session token of temporary credentials.
    pub session_token: Option<Spanned<String>>,
    /// Profile of the shared credentials file (default `AWS_PROFILE`, else `default`).
    pub profile: Option<Spanned<String>>,
    /// The AWS account id shown in events (`requestContext.accountId`).
    pub account_id: Option<Spanned<String>>,
}

/// `[server]` of `gateway.toml`; every field is optional and has a default.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Plain HTTP listeners as `"ip:port"` strings (default `["0.0.0.0:8080"]`).
    pub listen: Option<Spanned<Vec<Spanned<String>>>>,
    /// `"auto"` (one per CPU) or a number of shards.
    pub shards: Option<Spanned<ShardsSetting>>,
    /// Pin shard N to CPU N (default true).
    pub pin_cores: Option<bool>,
    /// Control-plane listener `"ip:port"`; none when absent.
    pub admin: Option<Spanned<String>>,
    /// Folder of API files, relative to the configuration folder (default `"apis"`).
    pub apis_dir: Option<Spanned<String>>,
    /// API served path-style on hosts that are not host-style.
    pub default_api: Option<Spanned<String>>,
    /// Domain of host-style requests, `{api-id}.execute-api.{domain}` (default `"localhost"`).
    pub execute_api_domain: Option<Spanned<String>>,
    /// Access-log records each shard queues for the writer thread before it drops them
    /// (default 8192).
    pub access_log_queue: Option<Spanned<i64>>,
    /// The node's own log lines: `"text"` (default) or `"json"` (one object per line).
    pub log_format: Option<Spanned<String>>,
    /// The AWS region of the node's APIs, in their ARNs (`methodArn`, resource policies);
    /// default `us-east-1`.
    pub region: Option<Spanned<String>>,
}

/// `server.shards`: `"auto"` or an integer (range-checked in validation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardsSetting {
    /// One shard per available CPU.
    Auto,
    /// A fixed number, as written.
    Count(i64),
}

impl<'de> Deserialize<'de> for ShardsSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ShardsVisitor;
        impl Visitor<'_> for ShardsVisitor {
            type Value = ShardsSetting;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"auto\" or a number of shards (1..=1024)")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ShardsSetting, E> {
                Ok(ShardsSetting::Count(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ShardsSetting, E> {
                Ok(ShardsSetting::Count(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ShardsSetting, E> {
                if v == "auto" {
                    Ok(ShardsSetting::Auto)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(ShardsVisitor)
    }
}

/// `[limits]` of `gateway.toml`; absent fields take `snapshot::Limits::default()`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Request line plus headers, bytes (1024..=65536).
    pub max_header_bytes: Option<Spanned<i64>>,
    /// Largest request body, bytes (>= 1).
    pub max_body_bytes: Option<Spanned<i64>>,
    /// Whole request head must arrive within this time (> 0).
    pub header_timeout_ms: Option<Spanned<i64>>,
    /// Longest pause between body reads (> 0).
    pub body_timeout_ms: Option<Spanned<i64>>,
    /// Idle keep-alive connection lifetime (> 0).
    pub idle_timeout_ms: Option<Spanned<i64>>,
    /// Longest pause writing to a slow client (> 0).
    pub send_timeout_ms: Option<Spanned<i64>>,
    /// How long SIGTERM waits for in-flight requests (> 0).
    pub drain_timeout_ms: Option<Spanned<i64>>,
    /// Default integration timeout (50..=29000, AWS's range).
    pub integration_timeout_ms: Option<Spanned<i64>>,
    /// Idle backend connections kept per shard and backend (>= 0).
    pub pool_max_idle_per_backend: Option<Spanned<i64>>,
    /// How long an idle pooled backend connection is kept (> 0).
    pub pool_idle_timeout_ms: Option<Spanned<i64>>,
    /// Request bodies up to this many bytes are read whole before the backend is connected
    /// (default 65536; 0 streams every body).
    pub request_buffer_bytes: Option<Spanned<i64>>,
    /// WebSocket APIs: largest frame payload (AWS: 32 KB), bytes.
    pub websocket_frame_bytes: Option<Spanned<i64>>,
    /// WebSocket APIs: largest message (AWS: 128 KB), bytes.
    pub websocket_message_bytes: Option<Spanned<i64>>,
    /// WebSocket APIs: a connection silent this long is closed (AWS: 10 minutes).
    pub websocket_idle_timeout_ms: Option<Spanned<i64>>,
    /// WebSocket APIs: a connection is closed this long after it opened (AWS: 2 hours).
    pub websocket_max_duration_ms: Option<Spanned<i64>>,
}

/// One API file in `apis_dir`: a REST API with its stages and deployments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFile {
    /// The `restapi_id`: host-style prefix and key of the API. Required, but optional here so
    /// that a missing id is reported by validation without hiding the file's other problems.
    pub id: Option<Spanned<String>>,
    /// Human name, for people reading the file.
    pub name: Option<Spanned<String>>,
    /// `protocolType`: `REST` (default) or `WEBSOCKET` (deployments then have `routes`).
    pub protocol_type: Option<Spanned<String>>,
    /// `routeSelectionExpression` of a WebSocket API (`$request.body.action`).
    pub route_selection_expression: Option<Spanned<String>>,
    /// `[stages.NAME]`, in file order.
    #[serde(default)]
    pub stages: Entries<Spanned<String>, StageModel>,
    /// `[deployments.ID]`, in file order.
    #[serde(default)]
    pub deployments: Entries<Spanned<String>, DeploymentModel>,
    /// Per-type overrides of the gateway's own responses (AWS `gatewayResponses`), keyed by
    /// type name (`THROTTLED`, `DEFAULT_4XX`, ...).
    #[serde(default)]
    pub gateway_responses: Entries<Spanned<String>, GatewayResponseModel>,
    /// Media types whose bodies are binary (AWS `binaryMediaTypes`): `image/png`, `image/*`,
    /// `*/*`. Lambda proxy events carry such bodies base64-encoded.
    #[serde(default)]
    pub binary_media_types: Vec<Spanned<String>>,
    /// The resource policy (AWS `RestApi.policy`): an IAM policy document, as JSON text.
    pub policy: Option<Spanned<String>>,
    /// `apiKeySource`: `HEADER` (default, `x-api-key`) or `AUTHORIZER` (the Lambda
    /// authorizer's `usageIdentifierKey`).
    pub api_key_source: Option<Spanned<String>>,
    /// Lambda authorizers, `[authorizers.NAME]`.
    #[serde(default)]
    pub authorizers: Entries<Spanned<String>, super::auth::AuthorizerModel>,
    /// Models (JSON Schema draft 4), `[models.NAME]`.
    #[serde(default)]
    pub models: Entries<Spanned<String>, super::validation::ModelModel>,
    /// CORS for the API's resources (`[cors]`), as the console's "Enable CORS" sets it up.
    pub cors: Option<super::cors::CorsModel>,
    /// Request validators, `[request_validators.NAME]`.
    #[serde(default)]
    pub request_validators: Entries<Spanned<String>, super::validation::ValidatorModel>,
}

/// One `[gateway_responses.TYPE]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayResponseModel {
    /// `statusCode`.
    pub status: Option<Spanned<i64>>,
    /// Static response headers (`responseParameters` `gatewayresponse.header.*`).
    pub headers: Option<Entries<Spanned<String>, Spanned<String>>>,
    /// `responseParameters` as AWS writes them: `gatewayresponse.header.NAME` = `'static'`,
    /// `method.request.{header|querystring|path}.X`, `stageVariables.X` or `context.X`.
    pub parameters: Option<Entries<Spanned<String>, Spanned<String>>>,
    /// Body template (`responseTemplates`).
    pub body: Option<Spanned<String>>,
    /// Media type of the body template (default `application/json`).
    pub content_type: Option<Spanned<String>>,
}

/// `[stages.NAME]`: a named pointer to a deployment, with stage variables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageModel {
    /// Id of the deployment served (must exist in the same file).
    pub deployment: Spanned<String>,
    /// Optional description, for people reading the file.
    pub description: Option<Spanned<String>>,
    /// Stage variables, substituted into `${stageVariables.NAME}`.
    #[serde(default)]
    pub variables: Entries<Spanned<String>, Spanned<String>>,
    /// Default throttle of every method of the stage (one bucket per method).
    pub throttle: Option<super::traffic::ThrottleModel>,
    /// No longer a setting: per-method throttles are `throttling_rate_limit` and
    /// `throttling_burst_limit` in `method_settings`, as in AWS's one `methodSettings` map.
    /// Still read, so that a file using it gets an error saying where its entries go instead
    /// of serde's bare "unknown field".
    #[serde(rename = "method_throttle")]
    pub removed_method_throttle: Option<super::method_settings::RemovedTable>,
    /// Access logging of the stage; none when absent.
    pub access_log: Option<AccessLogModel>,
    /// Stage cache on (`cacheClusterEnabled`, default false).
    pub cache_cluster_enabled: Option<bool>,
    /// Cache capacity in GB (`cacheClusterSize`: 0.5, 1.6, 6.1, 13.5, 28.4, 58.2, 118, 237).
    pub cache_cluster_size: Option<Spanned<super::cache::CacheSize>>,
    /// Default TTL of entries, 0..=3600 (default 300).
    pub cache_ttl_in_seconds: Option<Spanned<i64>>,
    /// Cache every method (default: only GET methods are cached).
    pub caching_enabled: Option<bool>,
    /// Whether `Cache-Control: max-age=0` needs authorization (default true).
    pub require_authorization_for_cache_control: Option<bool>,
    /// `FAIL_WITH_403`, `SUCCEED_WITH_RESPONSE_HEADER` (default) or
    /// `SUCCEED_WITHOUT_RESPONSE_HEADER`.
    pub unauthorized_cache_control_header_strategy: Option<Spanned<String>>,
    /// Per-method settings (throttling and caching), keyed `"METHOD /resource/path"`.
    #[serde(default)]
    pub method_settings: Entries<Spanned<String>, super::method_settings::MethodSettingsModel>,
    /// Request bytes read before a streaming integration connects, for the stage's methods
    /// (Tollgate's; see `config::buffering`). Without it `[limits] request_buffer_bytes`.
    pub request_buffer_bytes: Option<Spanned<i64>>,
    /// A canary release (AWS `canarySettings`): a share of the stage's requests served by
    /// another deployment.
    pub canary: Option<CanaryModel>,
}

/// `[stages.NAME.canary]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryModel {
    /// The deployment canary requests get (`canarySettings.deploymentId`).
    pub deployment: Spanned<String>,
    /// Percentage of the stage's requests sent to it, 0.0 to 100.0 (`percentTraffic`,
    /// default 0).
    pub percent_traffic: Option<Spanned<f64>>,
    /// Stage variables canary requests see over the stage's (`stageVariableOverrides`).
    #[serde(default)]
    pub variables: Entries<Spanned<String>, Spanned<String>>,
    /// Whether canary requests use the stage cache (`useStageCache`, default false: they
    /// are not cached).
    pub use_stage_cache: Option<bool>,
}

/// `access_log = { destination = "stdout" | "/abs/path", format = "..." }` of a stage.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogModel {
    /// `stdout`, `stderr` or an absolute file path.
    pub destination: Spanned<String>,
    /// `$context` format (default: AWS's JSON example).
    pub format: Option<Spanned<String>>,
}

/// `[deployments.ID]`: an immutable set of methods.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentModel {
    /// What changed, for people reading the file.
    pub description: Option<Spanned<String>>,
    /// `methods."METHOD /resource/path"`, in file order.
    #[serde(default)]
    pub methods: Entries<Spanned<String>, MethodModel>,
    /// A WebSocket API's `routes."KEY"` (`$connect`, `$disconnect`, `$default`, custom keys).
    #[serde(default)]
    pub routes: Entries<Spanned<String>, RouteModel>,
}

/// One route of a WebSocket API's deployment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteModel {
    /// What the route's messages go to: `MOCK` or `AWS_PROXY`.
    pub integration: IntegrationModel,
    /// `routeResponseSelectionExpression`: `$default` makes the route two-way (what the
    /// integration answers is sent back to the client).
    pub route_response_selection_expression: Option<Spanned<String>>,
    /// `$connect` only: the `[authorizers]` entry (a `REQUEST` Lambda authorizer) that
    /// decides the handshake (`authorizationType` `CUSTOM`).
    pub authorizer: Option<Spanned<String>>,
}

/// One method of a deployment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodModel {
    /// What answers the method.
    pub integration: IntegrationModel,
    /// AWS `apiKeyRequired`: callers must send a valid `x-api-key` (default false).
    pub api_key_required: Option<bool>,
    /// Query strings and headers that vary the cache key, AWS-style
    /// (`method.request.querystring.NAME`, `method.request.header.NAME`).
    #[serde(default)]
    pub cache_key_parameters: Vec<Spanned<String>>,
    /// `authorizationType`: `NONE` (default) or `CUSTOM` (a Lambda authorizer).
    pub authorization_type: Option<Spanned<String>>,
    /// The `[authorizers]` entry of a `CUSTOM` method (AWS `authorizerId`); alone, it implies
    /// `CUSTOM`.
    pub authorizer: Option<Spanned<String>>,
    /// `authorizationScopes`: with a `COGNITO_USER_POOLS` authorizer, the access token must
    /// hold one of these OAuth scopes.
    #[serde(default)]
    pub authorization_scopes: Vec<Spanned<String>>,
    /// Method responses keyed by status code (AWS `MethodResponse`): the statuses and
    /// headers the method may answer with. Without the table, every integration response's
    /// status and mapped headers are declared implicitly.
    pub method_responses: Option<Entries<Spanned<String>, super::mapping::MethodResponseModel>>,
    /// `requestValidatorId`: the `[request_validators]` entry that checks this method.
    pub request_validator: Option<Spanned<String>>,
    /// The method request's parameters: `method.request.{header|querystring|path}.NAME` =
    /// whether it is required.
    pub request_parameters: Option<Entries<Spanned<String>, bool>>,
    /// `requestModels`: media type = model name.
    pub request_models: Option<Entries<Spanned<String>, Spanned<String>>>,
}

/// `integration = { type = "...", ... }`.
///
/// Deliberately one flat struct rather than a serde enum tagged on `type`: an internally
/// tagged enum buffers its content, which loses every span inside it (errors could only point
/// at the whole table) and gives `unknown field` messages without a line. Which fields each
/// `type` accepts is checked in validation with the same wording serde would use.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationModel {
    /// `MOCK` or `HTTP_PROXY`.
    #[serde(rename = "type")]
    pub kind: Spanned<IntegrationType>,
    /// MOCK: status code (100..=599, default 200).
    pub status: Option<Spanned<i64>>,
    /// MOCK: response headers, in file order.
    pub headers: Option<Entries<Spanned<String>, Spanned<String>>>,
    /// MOCK: response body (default empty).
    pub body: Option<Spanned<String>>,
    /// HTTP_PROXY: backend URI (required).
    pub uri: Option<Spanned<String>>,
    /// HTTP_PROXY: backend timeout (50..=29000, default `limits.integration_timeout_ms`).
    pub timeout_ms: Option<Spanned<i64>>,
    /// `integrationHttpMethod`: the method of the call to the integration; `AWS_PROXY` takes
    /// only `POST` (Lambda's Invoke API), which is also its default.
    pub http_method: Option<Spanned<String>>,
    /// `HTTP`, `AWS` and `MOCK`: `requestTemplates`, mapping templates keyed by media type.
    pub request_templates: Option<Entries<Spanned<String>, Spanned<String>>>,
    /// `HTTP`, `AWS` and `MOCK`: `requestParameters`, `integration.request.{header|querystring|path}.NAME`
    /// = a mapping expression (`method.request.header.X`, `'static'`, `stageVariables.X` ...).
    pub request_parameters: Option<Entries<Spanned<String>, Spanned<String>>>,
    /// `passthroughBehavior`: `WHEN_NO_MATCH` (default), `WHEN_NO_TEMPLATES` or `NEVER`.
    pub passthrough_behavior: Option<Spanned<String>>,
    /// `contentHandling` of the integration request: `CONVERT_TO_TEXT` or `CONVERT_TO_BINARY`
    /// (unset: binary bodies pass as bytes, text as text).
    pub content_handling: Option<Spanned<String>>,
    /// Integration responses keyed by `selectionPattern` (`default` for the default one), as
    /// the OpenAPI extension `x-amazon-apigateway-integration.responses` keys them.
    pub responses: Option<Entries<Spanned<String>, super::mapping::IntegrationResponseModel>>,
}

/// The integration types Tollgate implements, spelled as AWS spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum IntegrationType {
    /// The gateway answers itself.
    #[serde(rename = "MOCK")]
    Mock,
    /// Pass-through to an HTTP backend.
    #[serde(rename = "HTTP_PROXY")]
    HttpProxy,
    /// Lambda proxy integration.
    #[serde(rename = "AWS_PROXY")]
    AwsProxy,
    /// HTTP backend with mapping templates (non-proxy).
    #[serde(rename = "HTTP")]
    Http,
    /// Lambda custom integration (non-proxy); other AWS services are refused.
    #[serde(rename = "AWS")]
    Aws,
}

impl IntegrationType {
    /// The name as written in files (for messages).
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationType::Mock => "MOCK",
            IntegrationType::HttpProxy => "HTTP_PROXY",
            IntegrationType::AwsProxy => "AWS_PROXY",
            IntegrationType::Http => "HTTP",
            IntegrationType::Aws => "AWS",
        }
    }
}

/// A TOML table read as key/value pairs in file order.
///
/// A `BTreeMap` would sort keys by name; keeping file order makes compiled method order and
/// error order follow what the operator wrote. TOML itself rejects duplicate keys.
#[derive(Debug)]
pub struct Entries<K, V>(pub Vec<(K, V)>);

impl<K, V> Default for Entries<K, V> {
    fn default() -> Self {
        Entries(Vec::new())
    }
}

impl<K, V> Entries<K, V> {
    /// The pairs in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, (K, V)> {
        self.0.iter()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a, K, V> IntoIterator for &'a Entries<K, V> {
    type Item = &'a (K, V);
    type IntoIter = std::slice::Iter<'a, (K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Entries<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<K, V> {
            type Value = Entries<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(k) = map.next_key()? {
                    pairs.push((k, map.next_value()?));
                }
                Ok(Entries(pairs))
            }
        }
        d.deserialize_map(EntriesVisitor(PhantomData))
    }
}
