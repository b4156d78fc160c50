//! The control plane's resource model, in AWS's shapes: what `GetRestApi`, `GetResources`,
//! `GetMethod`, `GetDeployment` and `GetStage` answer, field for field (botocore's
//! `apigateway` 2015-07-09 model; `rest-json`, so timestamps are epoch seconds). The same
//! structs are what the store keeps, so a restart answers exactly what was answered before.
//!
//! Optional fields AWS leaves out when unset are skipped when empty; the defaults AWS fills in
//! on create (`apiKeySource: HEADER`, `endpointConfiguration: EDGE`, `timeoutInMillis: 29000`,
//! `passthroughBehavior: WHEN_NO_MATCH`, `connectionType: INTERNET`, `cacheNamespace` = the
//! resource id, `cacheClusterStatus: NOT_AVAILABLE` ...) are set by the operations that create
//! them (`super::ops`), as LocalStack's snapshots recorded against AWS show them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Skips empty maps on the wire (AWS omits unset maps).
fn is_empty_map<K, V>(m: &BTreeMap<K, V>) -> bool {
    m.is_empty()
}

/// `RestApi`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RestApi {
    /// 10 lower-case alphanumerics.
    pub id: String,
    /// Name (need not be unique, as on AWS).
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Epoch seconds.
    pub created_date: i64,
    /// Free text version label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `binaryMediaTypes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binary_media_types: Vec<String>,
    /// `HEADER` or `AUTHORIZER`.
    pub api_key_source: String,
    /// `{"types": ["EDGE"]}` by default.
    pub endpoint_configuration: EndpointConfiguration,
    /// Whether the default endpoint is off (kept, not enforced: Tollgate has one listener).
    pub disable_execute_api_endpoint: bool,
    /// The `/` resource's id.
    pub root_resource_id: String,
    /// Tags.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub tags: BTreeMap<String, String>,
}

/// `EndpointConfiguration`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointConfiguration {
    /// `ipv4`, or `dualstack` (PRIVATE's default); AWS answers it since mid-2025.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<String>,
    /// `EDGE`, `REGIONAL` or `PRIVATE`.
    #[serde(default)]
    pub types: Vec<String>,
}

/// `Resource`: one path segment of the API's tree.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// 10 lower-case alphanumerics.
    pub id: String,
    /// Parent's id; the root has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The last segment (`{petId}`, `{proxy+}`); the root has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_part: Option<String>,
    /// Full path, `/pets/{petId}`.
    pub path: String,
    /// Methods by HTTP method (`GET`, `ANY`).
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub resource_methods: BTreeMap<String, Method>,
}

/// `Method`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Method {
    /// `GET`, `POST` ... or `ANY`.
    pub http_method: String,
    /// `NONE` or `AWS_IAM` (authorizers through this API come later).
    pub authorization_type: String,
    /// Whether callers need an API key.
    pub api_key_required: bool,
    /// `method.request.{path|querystring|header}.NAME` → required.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub request_parameters: BTreeMap<String, bool>,
    /// Content type → model name.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub request_models: BTreeMap<String, String>,
    /// Method responses by status code.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub method_responses: BTreeMap<String, MethodResponse>,
    /// The integration, once put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_integration: Option<Integration>,
}

/// `MethodResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MethodResponse {
    /// `200`.
    pub status_code: String,
    /// `method.response.header.NAME` → required.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub response_parameters: BTreeMap<String, bool>,
    /// Content type → model name.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub response_models: BTreeMap<String, String>,
}

/// `Integration`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    /// `MOCK`, `HTTP`, `HTTP_PROXY`, `AWS`, `AWS_PROXY`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The integration's HTTP method (`integrationHttpMethod` in the request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    /// Backend URL or Lambda invocation ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// `INTERNET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<String>,
    /// `integration.request.*` ← method request values, contexts or `'literals'`.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub request_parameters: BTreeMap<String, String>,
    /// Content type → VTL template.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub request_templates: BTreeMap<String, String>,
    /// `WHEN_NO_MATCH`, `WHEN_NO_TEMPLATES`, `NEVER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough_behavior: Option<String>,
    /// `CONVERT_TO_TEXT` or `CONVERT_TO_BINARY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_handling: Option<String>,
    /// 50..=29000.
    pub timeout_in_millis: i64,
    /// The resource id by default.
    pub cache_namespace: String,
    /// `method.request.*` names in the cache key.
    #[serde(default)]
    pub cache_key_parameters: Vec<String>,
    /// Integration responses by status code.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub integration_responses: BTreeMap<String, IntegrationResponse>,
}

/// `IntegrationResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationResponse {
    /// The method response status it produces.
    pub status_code: String,
    /// Regex over the backend status (or Lambda error); none: the default response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_pattern: Option<String>,
    /// `method.response.header.NAME` ← `integration.response.*` or `'literal'`.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub response_parameters: BTreeMap<String, String>,
    /// Content type → VTL template.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub response_templates: BTreeMap<String, String>,
    /// `CONVERT_TO_TEXT` or `CONVERT_TO_BINARY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_handling: Option<String>,
}

/// `Deployment`, as answered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// 6 lower-case alphanumerics (AWS's deployment ids are shorter than API ids).
    pub id: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Epoch seconds.
    pub created_date: i64,
}

/// A deployment as kept: what it answered, and the API's resources as they were when it was
/// made (a deployment is a snapshot; later changes to the API reach stages only through a
/// new deployment).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeploymentRecord {
    /// The wire shape.
    pub deployment: Deployment,
    /// The resources, frozen.
    pub resources: Vec<Resource>,
}

/// `Stage`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// The deployment it serves.
    pub deployment_id: String,
    /// Its name, the first path segment of its URLs.
    pub stage_name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether a cache cluster is provisioned.
    pub cache_cluster_enabled: bool,
    /// `0.5` ... `237` (GB), when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_cluster_size: Option<String>,
    /// `NOT_AVAILABLE`, or `AVAILABLE` once enabled.
    pub cache_cluster_status: String,
    /// `resourcePath/httpMethod` (`*/*`, `~1pets/GET`) → settings.
    pub method_settings: BTreeMap<String, MethodSetting>,
    /// Stage variables.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub variables: BTreeMap<String, String>,
    /// Kept; tracing is the console issue's.
    pub tracing_enabled: bool,
    /// Epoch seconds.
    pub created_date: i64,
    /// Epoch seconds.
    pub last_updated_date: i64,
    /// Tags.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub tags: BTreeMap<String, String>,
    /// The canary release, when one is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_settings: Option<CanarySettings>,
}

/// `CanarySettings` of a stage (LocalStack's AWS-recorded `test_apigateway_canary`:
/// `useStageCache` always present, `stageVariableOverrides` only when there are some).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CanarySettings {
    /// The deployment canary requests get.
    pub deployment_id: String,
    /// Percentage of the stage's requests, 0.0 to 100.0.
    pub percent_traffic: f64,
    /// Stage variables canary requests see over the stage's.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub stage_variable_overrides: BTreeMap<String, String>,
    /// Whether canary requests use the stage cache.
    pub use_stage_cache: bool,
}

/// `MethodSetting`: the settings of one `methodSettings` entry, with AWS's defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MethodSetting {
    /// CloudWatch metrics (kept; Tollgate always counts).
    pub metrics_enabled: bool,
    /// `OFF`, `ERROR`, `INFO` (kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging_level: Option<String>,
    /// Kept.
    pub data_trace_enabled: bool,
    /// Burst limit.
    pub throttling_burst_limit: i64,
    /// Steady rate, requests per second.
    pub throttling_rate_limit: f64,
    /// Whether responses are cached.
    pub caching_enabled: bool,
    /// Cache TTL.
    pub cache_ttl_in_seconds: i64,
    /// Kept (Tollgate does not encrypt its in-memory cache).
    pub cache_data_encrypted: bool,
    /// Whether `Cache-Control: max-age=0` needs `execute-api:InvalidateCache`.
    pub require_authorization_for_cache_control: bool,
    /// `FAIL_WITH_403`, `SUCCEED_WITH_RESPONSE_HEADER`, `SUCCEED_WITHOUT_RESPONSE_HEADER`.
    pub unauthorized_cache_control_header_strategy: String,
}

impl Default for MethodSetting {
    /// AWS's defaults for a new `methodSettings` entry (the account's throttle; caching off,
    /// 300 s when on).
    fn default() -> Self {
        MethodSetting {
            metrics_enabled: false,
            logging_level: None,
            data_trace_enabled: false,
            throttling_burst_limit: 5000,
            throttling_rate_limit: 10000.0,
            caching_enabled: false,
            cache_ttl_in_seconds: 300,
            cache_data_encrypted: false,
            require_authorization_for_cache_control: true,
            unauthorized_cache_control_header_strategy: "SUCCEED_WITH_RESPONSE_HEADER".into(),
        }
    }
}

/// One API with everything under it: the unit the store keeps and a call changes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiState {
    /// The API.
    pub api: RestApi,
    /// Its resources by id (the root included).
    pub resources: BTreeMap<String, Resource>,
    /// Its deployments by id.
    pub deployments: BTreeMap<String, DeploymentRecord>,
    /// Its stages by name.
    pub stages: BTreeMap<String, Stage>,
}

/// `ThrottleSettings`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleSettings {
    /// Burst.
    pub burst_limit: i64,
    /// Steady rate, requests per second.
    pub rate_limit: f64,
}

/// `QuotaSettings`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QuotaSettings {
    /// Requests per period.
    pub limit: i64,
    /// Days (or weeks) the period starts late.
    #[serde(default)]
    pub offset: i64,
    /// `DAY`, `WEEK`, `MONTH`.
    pub period: String,
}

/// `ApiStage` of a usage plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiStage {
    /// The API.
    pub api_id: String,
    /// Its stage.
    pub stage: String,
    /// `"/pets/GET"` (resource path, `/`, method) → throttle.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub throttle: BTreeMap<String, ThrottleSettings>,
}

/// `UsagePlan`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UsagePlan {
    /// 6 lower-case alphanumerics.
    pub id: String,
    /// Name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The stages it covers.
    #[serde(default)]
    pub api_stages: Vec<ApiStage>,
    /// Per-key throttle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSettings>,
    /// Per-key quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaSettings>,
    /// Tags.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub tags: BTreeMap<String, String>,
}

/// `ApiKey` (its `value` is answered only on create or when asked for).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// 10 lower-case alphanumerics.
    pub id: String,
    /// The secret clients send in `x-api-key`.
    pub value: String,
    /// Name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether requests may use it.
    pub enabled: bool,
    /// A marketplace customer id (kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Epoch seconds.
    pub created_date: i64,
    /// Epoch seconds.
    pub last_updated_date: i64,
    /// `{restApiId}/{stage}` (kept).
    #[serde(default)]
    pub stage_keys: Vec<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub tags: BTreeMap<String, String>,
}

/// Usage plans, API keys and which keys each plan has: the unit the store keeps beside the
/// APIs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TrafficState {
    /// Plans by id.
    #[serde(default)]
    pub plans: BTreeMap<String, UsagePlan>,
    /// Keys by id.
    #[serde(default)]
    pub keys: BTreeMap<String, ApiKey>,
    /// Plan id → its keys' ids.
    #[serde(default)]
    pub plan_keys: BTreeMap<String, std::collections::BTreeSet<String>>,
}
