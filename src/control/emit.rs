//! The resource model → an API definition in the API file format, which the one config
//! compile (`config::load_with`) turns into the snapshot beside the files' APIs: one compile,
//! one set of checks, one data plane.
//!
//! What is written: each stage (its deployment, variables, `methodSettings` as throttles and
//! cache settings) and each deployment a stage serves, with the methods frozen in it. The
//! working copy of resources and methods is not served until a deployment takes it, as on AWS.

use std::path::PathBuf;

use toml::{Table, Value};

use super::model::{
    ApiState, Integration, Method, MethodSetting, Resource, Stage, ThrottleSettings, TrafficState,
};
use crate::config::load::{ExtraKind, ExtraSource};

/// The name errors give to the definition of API `id`.
pub fn source_path(id: &str) -> PathBuf {
    PathBuf::from(format!("control-plane/restapis/{id}.toml"))
}

/// `state` as an API definition.
pub fn source(state: &ApiState) -> ExtraSource {
    let text = toml::to_string(&api_table(state)).unwrap_or_default();
    ExtraSource {
        kind: ExtraKind::Api,
        path: source_path(&state.api.id),
        text,
    }
}

/// The usage plans and API keys of `t` as the two files they stand beside
/// (`usage_plans.toml`, `api_keys.toml`); none when there are none.
pub fn traffic_sources(t: &TrafficState) -> Vec<ExtraSource> {
    let mut out = Vec::new();
    if !t.plans.is_empty() {
        let mut plans = Table::new();
        for plan in t.plans.values() {
            plans.insert(plan.id.clone(), plan_table(plan).into());
        }
        let mut file = Table::new();
        file.insert("plans".into(), plans.into());
        out.push(ExtraSource {
            kind: ExtraKind::Plans,
            path: PathBuf::from("control-plane/usage_plans.toml"),
            text: toml::to_string(&file).unwrap_or_default(),
        });
    }
    if !t.keys.is_empty() {
        let mut keys = Table::new();
        for key in t.keys.values() {
            let mut k = Table::new();
            k.insert("name".into(), key.name.clone().into());
            k.insert("value".into(), key.value.clone().into());
            k.insert("enabled".into(), key.enabled.into());
            if let Some(d) = &key.description {
                k.insert("description".into(), d.clone().into());
            }
            let plans: Vec<Value> = t
                .plan_keys
                .iter()
                .filter(|(_, keys)| keys.contains(&key.id))
                .map(|(plan, _)| Value::from(plan.clone()))
                .collect();
            k.insert("usage_plans".into(), Value::Array(plans));
            keys.insert(key.id.clone(), k.into());
        }
        let mut file = Table::new();
        file.insert("keys".into(), keys.into());
        out.push(ExtraSource {
            kind: ExtraKind::Keys,
            path: PathBuf::from("control-plane/api_keys.toml"),
            text: toml::to_string(&file).unwrap_or_default(),
        });
    }
    out
}

fn throttle_table(t: &ThrottleSettings) -> Table {
    let mut out = Table::new();
    out.insert("rate_limit".into(), t.rate_limit.into());
    out.insert("burst_limit".into(), t.burst_limit.into());
    out
}

fn plan_table(plan: &super::model::UsagePlan) -> Table {
    let mut t = Table::new();
    t.insert("name".into(), plan.name.clone().into());
    if let Some(d) = &plan.description {
        t.insert("description".into(), d.clone().into());
    }
    if let Some(throttle) = &plan.throttle {
        t.insert("throttle".into(), throttle_table(throttle).into());
    }
    if let Some(q) = &plan.quota {
        let mut quota = Table::new();
        quota.insert("limit".into(), q.limit.into());
        quota.insert("period".into(), q.period.clone().into());
        quota.insert("offset".into(), q.offset.into());
        t.insert("quota".into(), quota.into());
    }
    let stages: Vec<Value> = plan
        .api_stages
        .iter()
        .map(|s| {
            let mut st = Table::new();
            st.insert("api".into(), s.api_id.clone().into());
            st.insert("stage".into(), s.stage.clone().into());
            let mut methods = Table::new();
            for (key, throttle) in &s.throttle {
                // AWS keys them `{resourcePath}/{httpMethod}` (`/pets/GET`).
                if let Some((path, verb)) = key.rsplit_once('/') {
                    let path = if path.is_empty() { "/" } else { path };
                    methods.insert(format!("{verb} {path}"), throttle_table(throttle).into());
                }
            }
            if !methods.is_empty() {
                st.insert("method_throttle".into(), methods.into());
            }
            Value::Table(st)
        })
        .collect();
    t.insert("stages".into(), Value::Array(stages));
    t
}

fn api_table(state: &ApiState) -> Table {
    let mut t = Table::new();
    t.insert("id".into(), state.api.id.clone().into());
    t.insert("name".into(), state.api.name.clone().into());
    if !state.api.binary_media_types.is_empty() {
        let types = state
            .api
            .binary_media_types
            .iter()
            .cloned()
            .map(Value::from);
        t.insert("binary_media_types".into(), Value::Array(types.collect()));
    }
    if state.api.api_key_source != "HEADER" {
        let source = state.api.api_key_source.clone();
        t.insert("api_key_source".into(), source.into());
    }
    let mut stages = Table::new();
    let mut deployments = Table::new();
    for stage in state.stages.values() {
        if !state.deployments.contains_key(&stage.deployment_id) {
            continue;
        }
        stages.insert(stage.stage_name.clone(), stage_table(stage).into());
        let canary = stage.canary_settings.as_ref().map(|c| &c.deployment_id);
        for id in std::iter::once(&stage.deployment_id).chain(canary) {
            let Some(record) = state.deployments.get(id) else {
                continue;
            };
            let mut d = Table::new();
            if let Some(text) = &record.deployment.description {
                d.insert("description".into(), text.clone().into());
            }
            d.insert("methods".into(), methods_table(&record.resources).into());
            deployments.insert(record.deployment.id.clone(), d.into());
        }
    }
    t.insert("stages".into(), stages.into());
    t.insert("deployments".into(), deployments.into());
    t
}

fn stage_table(stage: &Stage) -> Table {
    let mut t = Table::new();
    t.insert("deployment".into(), stage.deployment_id.clone().into());
    if let Some(text) = &stage.description {
        t.insert("description".into(), text.clone().into());
    }
    if !stage.variables.is_empty() {
        t.insert("variables".into(), strings(&stage.variables).into());
    }
    if stage.cache_cluster_enabled {
        t.insert("cache_cluster_enabled".into(), true.into());
        if let Some(size) = &stage.cache_cluster_size {
            t.insert("cache_cluster_size".into(), size.clone().into());
        }
    }
    let mut per_method = Table::new();
    for (key, setting) in &stage.method_settings {
        if key == "*/*" {
            let mut throttle = Table::new();
            throttle.insert("rate_limit".into(), setting.throttling_rate_limit.into());
            throttle.insert("burst_limit".into(), setting.throttling_burst_limit.into());
            t.insert("throttle".into(), throttle.into());
            t.insert("caching_enabled".into(), setting.caching_enabled.into());
            let ttl = setting.cache_ttl_in_seconds;
            t.insert("cache_ttl_in_seconds".into(), ttl.into());
        } else if let Some(method_key) = method_key_of_setting(key) {
            per_method.insert(method_key, method_setting_table(setting).into());
        }
    }
    if !per_method.is_empty() {
        t.insert("method_settings".into(), per_method.into());
    }
    if let Some(c) = &stage.canary_settings {
        let mut canary = Table::new();
        canary.insert("deployment".into(), c.deployment_id.clone().into());
        canary.insert("percent_traffic".into(), c.percent_traffic.into());
        if !c.stage_variable_overrides.is_empty() {
            let overrides = strings(&c.stage_variable_overrides);
            canary.insert("variables".into(), overrides.into());
        }
        canary.insert("use_stage_cache".into(), c.use_stage_cache.into());
        t.insert("canary".into(), canary.into());
    }
    t
}

/// `~1pets~1{petId}/GET` (a `methodSettings` key: the resource path with `/` as `~1`, then
/// the method) → `GET /pets/{petId}`.
pub fn method_key_of_setting(key: &str) -> Option<String> {
    let (path, method) = key.rsplit_once('/')?;
    let path = path.replace("~1", "/");
    let path = if path.is_empty() { "/".into() } else { path };
    Some(format!("{method} {path}"))
}

fn method_setting_table(s: &MethodSetting) -> Table {
    let mut t = Table::new();
    t.insert(
        "throttling_rate_limit".into(),
        s.throttling_rate_limit.into(),
    );
    t.insert(
        "throttling_burst_limit".into(),
        s.throttling_burst_limit.into(),
    );
    t.insert("caching_enabled".into(), s.caching_enabled.into());
    t.insert("cache_ttl_in_seconds".into(), s.cache_ttl_in_seconds.into());
    t
}

fn methods_table(resources: &[Resource]) -> Table {
    let mut t = Table::new();
    for resource in resources {
        for (verb, method) in &resource.resource_methods {
            let Some(integration) = &method.method_integration else {
                continue;
            };
            let key = format!("{verb} {}", resource.path);
            t.insert(key, method_table(method, integration).into());
        }
    }
    t
}

fn method_table(method: &Method, integration: &Integration) -> Table {
    let mut t = Table::new();
    t.insert("integration".into(), integration_table(integration).into());
    if method.api_key_required {
        t.insert("api_key_required".into(), true.into());
    }
    if method.authorization_type == "AWS_IAM" {
        t.insert("authorization_type".into(), "AWS_IAM".into());
    }
    if !integration.cache_key_parameters.is_empty() {
        let names = integration.cache_key_parameters.iter().cloned();
        let names = names.map(Value::from).collect();
        t.insert("cache_key_parameters".into(), Value::Array(names));
    }
    if !method.request_parameters.is_empty() {
        let mut p = Table::new();
        for (name, required) in &method.request_parameters {
            p.insert(name.clone(), (*required).into());
        }
        t.insert("request_parameters".into(), p.into());
    }
    if !method.method_responses.is_empty() && is_mapped(integration) {
        let mut responses = Table::new();
        for (status, response) in &method.method_responses {
            let mut r = Table::new();
            if !response.response_parameters.is_empty() {
                let mut p = Table::new();
                for (name, required) in &response.response_parameters {
                    p.insert(name.clone(), (*required).into());
                }
                r.insert("parameters".into(), p.into());
            }
            responses.insert(status.clone(), r.into());
        }
        t.insert("method_responses".into(), responses.into());
    }
    t
}

/// Whether the integration maps requests and responses (the non-proxy types).
fn is_mapped(integration: &Integration) -> bool {
    matches!(integration.kind.as_str(), "MOCK" | "HTTP" | "AWS")
}

fn integration_table(i: &Integration) -> Table {
    let mut t = Table::new();
    t.insert("type".into(), i.kind.clone().into());
    if let Some(uri) = &i.uri {
        t.insert("uri".into(), uri.clone().into());
    }
    if i.kind != "MOCK" {
        // An HTTP_PROXY forwards the caller's method (the file format has no fixed method for
        // it; AWS would send a non-ANY integrationHttpMethod instead).
        if let (Some(method), false) = (&i.http_method, i.kind == "HTTP_PROXY") {
            t.insert("http_method".into(), method.clone().into());
        }
        t.insert("timeout_ms".into(), i.timeout_in_millis.into());
    }
    let parameters = request_parameters(i);
    if !parameters.is_empty() {
        t.insert("request_parameters".into(), parameters.into());
    }
    if !is_mapped(i) {
        return t;
    }
    if !i.request_templates.is_empty() {
        t.insert(
            "request_templates".into(),
            strings(&i.request_templates).into(),
        );
    }
    let passthrough = i.passthrough_behavior.as_deref().unwrap_or("WHEN_NO_MATCH");
    t.insert("passthrough_behavior".into(), passthrough.into());
    if let Some(handling) = &i.content_handling {
        t.insert("content_handling".into(), handling.clone().into());
    }
    let mut responses = Table::new();
    for response in i.integration_responses.values() {
        let mut r = Table::new();
        let status: i64 = response.status_code.parse().unwrap_or(0);
        r.insert("status".into(), status.into());
        if !response.response_parameters.is_empty() {
            let parameters = strings(&response.response_parameters);
            r.insert("parameters".into(), parameters.into());
        }
        if !response.response_templates.is_empty() {
            let templates = strings(&response.response_templates);
            r.insert("templates".into(), templates.into());
        }
        if let Some(handling) = &response.content_handling {
            r.insert("content_handling".into(), handling.clone().into());
        }
        let pattern = match response.selection_pattern.as_deref() {
            None | Some("") => "default".to_string(),
            Some(p) => p.to_string(),
        };
        responses.insert(pattern, r.into());
    }
    t.insert("responses".into(), responses.into());
    t
}

/// The integration's request parameters as the file format takes them. An HTTP_PROXY fills
/// the URI's `{name}` from the method's path parameters by itself, so the mapping AWS's
/// console writes for that (`integration.request.path.proxy` =
/// `method.request.path.proxy`) is implied and left out; any other mapping stays, and an
/// HTTP_PROXY refuses it at compile time.
fn request_parameters(i: &Integration) -> Table {
    i.request_parameters
        .iter()
        .filter(|(to, from)| {
            let implied = to
                .strip_prefix("integration.request.path.")
                .is_some_and(|name| from.strip_prefix("method.request.path.") == Some(name));
            !(i.kind == "HTTP_PROXY" && implied)
        })
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect()
}

fn strings(map: &std::collections::BTreeMap<String, String>) -> Table {
    map.iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_settings_keys_name_methods_as_api_files_do() {
        assert_eq!(
            method_key_of_setting("~1pets~1{petId}/GET").as_deref(),
            Some("GET /pets/{petId}")
        );
        assert_eq!(method_key_of_setting("~1/ANY").as_deref(), Some("ANY /"));
        assert_eq!(method_key_of_setting("nothing"), None);
    }
}
