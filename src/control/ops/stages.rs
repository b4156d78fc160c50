//! `CreateStage`, `GetStages`, `GetStage`, `UpdateStage`, `DeleteStage`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{api, api_mut, input, query_param, Apis, Ctx, Reply};
use crate::control::error::ApiError;
use crate::control::ids;
use crate::control::model::{CanarySettings, Stage};
use crate::control::patch::{self, PatchOp};

/// The cache sizes AWS offers, GB.
const CACHE_SIZES: [&str; 8] = ["0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237"];

/// A stage with AWS's defaults (LocalStack's AWS-recorded `create-stage`).
pub fn new_stage(name: &str, deployment: &str, now: i64) -> Stage {
    Stage {
        deployment_id: deployment.to_string(),
        stage_name: name.to_string(),
        description: None,
        cache_cluster_enabled: false,
        cache_cluster_size: None,
        cache_cluster_status: "NOT_AVAILABLE".into(),
        method_settings: BTreeMap::new(),
        variables: BTreeMap::new(),
        tracing_enabled: false,
        created_date: now,
        last_updated_date: now,
        tags: BTreeMap::new(),
        canary_settings: None,
    }
}

/// Stage names AWS takes: letters, digits, `-` and `_`, at most 128.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "Stage name only allows a-zA-Z0-9_- and must be at most 128 characters",
        ))
    }
}

/// A stage variable as the data plane takes it (`config::uri`'s rules: the name of
/// letters, digits and `_`; the value of URL-safe characters), refused here rather than by
/// the compile, whose message would name a file the caller cannot see.
pub fn check_variable(name: &str, value: &str) -> Result<(), ApiError> {
    if !crate::config::uri::is_var_name(name) {
        return Err(ApiError::bad_request(format!(
            "Invalid stage variable name specified: {name}. Use A-Z a-z 0-9 _"
        )));
    }
    if !crate::config::uri::is_var_value(value) {
        return Err(ApiError::bad_request(format!(
            "Invalid stage variable value specified for {name}: use 1 or more of A-Z a-z 0-9 - . _ ~ : / ? # & = ,"
        )));
    }
    Ok(())
}

/// Every variable of `vars`, checked.
pub fn check_variables(vars: &BTreeMap<String, String>) -> Result<(), ApiError> {
    vars.iter().try_for_each(|(n, v)| check_variable(n, v))
}

/// Turns the cache cluster on (size default 0.5 GB, as AWS) or off.
pub fn set_cache_cluster(
    stage: &mut Stage,
    enabled: bool,
    size: Option<String>,
) -> Result<(), ApiError> {
    if let Some(size) = &size {
        if !CACHE_SIZES.contains(&size.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid cache cluster size specified: {size}. Must be one of: [{}]",
                CACHE_SIZES.join(", ")
            )));
        }
    }
    stage.cache_cluster_enabled = enabled;
    if enabled {
        stage.cache_cluster_size = Some(size.unwrap_or_else(|| "0.5".into()));
        stage.cache_cluster_status = "AVAILABLE".into();
    } else {
        stage.cache_cluster_status = "NOT_AVAILABLE".into();
        if size.is_some() {
            stage.cache_cluster_size = size;
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    stage_name: Option<String>,
    deployment_id: Option<String>,
    description: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    cache_cluster_enabled: Option<bool>,
    cache_cluster_size: Option<String>,
    #[serde(default)]
    tracing_enabled: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// Terraform's quoted AWS answer (aws/chalice#1839): "Deployment id does not exist".
fn no_such_deployment() -> ApiError {
    ApiError::bad_request("Deployment id does not exist")
}

/// AWS's 404 for an unknown stage (shared by every operation that names one).
pub fn invalid_stage() -> ApiError {
    // Real AWS, lower-case "stage" (terraform-provider-aws#12756).
    ApiError::not_found("Invalid stage identifier specified")
}

/// `POST /restapis/{id}/stages` → 201.
pub fn create(apis: &mut Apis, ctx: &Ctx, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let input: CreateInput = input(body)?;
    let state = api_mut(apis, ctx, id)?;
    let name = input.stage_name.unwrap_or_default();
    check_name(&name)?;
    let deployment = input.deployment_id.unwrap_or_default();
    if !state.deployments.contains_key(&deployment) {
        return Err(no_such_deployment());
    }
    if state.stages.contains_key(&name) {
        return Err(ApiError::conflict("Stage already exists"));
    }
    check_variables(&input.variables)?;
    let mut stage = new_stage(&name, &deployment, ids::now_secs());
    stage.description = input.description;
    stage.variables = input.variables;
    stage.tracing_enabled = input.tracing_enabled;
    stage.tags = input.tags;
    set_cache_cluster(
        &mut stage,
        input.cache_cluster_enabled.unwrap_or(false),
        input.cache_cluster_size,
    )?;
    let reply = Reply::json(201, &stage)?;
    state.stages.insert(name, stage);
    Ok(reply)
}

/// `GET /restapis/{id}/stages[?deploymentId=]`: `{"item": [...]}`, not paged.
pub fn list(apis: &Apis, ctx: &Ctx, id: &str, query: &str) -> Result<Reply, ApiError> {
    let state = api(apis, ctx, id)?;
    let only = query_param(query, "deploymentId");
    let items: Vec<&Stage> = state
        .stages
        .values()
        .filter(|s| only.as_ref().is_none_or(|d| &s.deployment_id == d))
        .collect();
    Reply::json(200, &serde_json::json!({ "item": items }))
}

/// `GET /restapis/{id}/stages/{name}`.
pub fn get(apis: &Apis, ctx: &Ctx, id: &str, name: &str) -> Result<Reply, ApiError> {
    let state = api(apis, ctx, id)?;
    Reply::json(200, state.stages.get(name).ok_or_else(invalid_stage)?)
}

/// `DELETE /restapis/{id}/stages/{name}` → 202.
pub fn delete(apis: &mut Apis, ctx: &Ctx, id: &str, name: &str) -> Result<Reply, ApiError> {
    let state = api_mut(apis, ctx, id)?;
    state.stages.remove(name).ok_or_else(invalid_stage)?;
    Ok(Reply::empty(202))
}

/// AWS's refusal of a stage patch path, verbatim, odd punctuation included (LocalStack's
/// AWS-recorded `error-update-doc-version`).
fn invalid_stage_path(path: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid method setting path: {path}. Must be one of: [/deploymentId, /description, /cacheClusterEnabled, /cacheClusterSize, /clientCertificateId, /accessLogSettings, /accessLogSettings/destinationArn, /accessLogSettings/format, /{{resourcePath}}/{{httpMethod}}/metrics/enabled, /{{resourcePath}}/{{httpMethod}}/logging/dataTrace, /{{resourcePath}}/{{httpMethod}}/logging/loglevel, /{{resourcePath}}/{{httpMethod}}/throttling/burstLimit/{{resourcePath}}/{{httpMethod}}/throttling/rateLimit/{{resourcePath}}/{{httpMethod}}/caching/ttlInSeconds, /{{resourcePath}}/{{httpMethod}}/caching/enabled, /{{resourcePath}}/{{httpMethod}}/caching/dataEncrypted, /{{resourcePath}}/{{httpMethod}}/caching/requireAuthorizationForCacheControl, /{{resourcePath}}/{{httpMethod}}/caching/unauthorizedCacheControlHeaderStrategy, /*/*/metrics/enabled, /*/*/logging/dataTrace, /*/*/logging/loglevel, /*/*/throttling/burstLimit /*/*/throttling/rateLimit /*/*/caching/ttlInSeconds, /*/*/caching/enabled, /*/*/caching/dataEncrypted, /*/*/caching/requireAuthorizationForCacheControl, /*/*/caching/unauthorizedCacheControlHeaderStrategy, /variables/{{variable_name}}, /tracingEnabled]"
    ))
}

/// `PATCH /restapis/{id}/stages/{name}`: see [`apply`].
pub fn update(
    apis: &mut Apis,
    ctx: &Ctx,
    id: &str,
    name: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = patch::parse(body, "updateStageInput")?;
    let state = api_mut(apis, ctx, id)?;
    let deployments: Vec<String> = state.deployments.keys().cloned().collect();
    let stage = state.stages.get_mut(name).ok_or_else(invalid_stage)?;
    for op in &ops {
        apply(stage, op, &deployments)?;
    }
    stage.last_updated_date = ids::now_secs();
    Reply::json(200, &*stage)
}

/// One stage patch: `/deploymentId` (rollback and promotion are this), `/description`,
/// `/cacheClusterEnabled`, `/cacheClusterSize`, `/tracingEnabled`, `/variables/NAME`, and
/// `/{resourcePath}/{httpMethod}/{setting}` method settings (`*/*` for all), whose first
/// touch creates the whole entry with AWS's defaults; `remove /{res}/{verb}` drops one.
fn apply(stage: &mut Stage, op: &PatchOp, deployments: &[String]) -> Result<(), ApiError> {
    let path = op.path.as_str();
    match (op.op.as_str(), path) {
        ("replace", "/deploymentId") => {
            let d = op.value()?;
            if !deployments.iter().any(|known| known == d) {
                return Err(no_such_deployment());
            }
            stage.deployment_id = d.to_string();
        }
        ("replace", "/description") => stage.description = op.value.clone(),
        ("replace", "/cacheClusterEnabled") => {
            let size = stage.cache_cluster_size.clone();
            set_cache_cluster(stage, op.bool_value()?, size)?;
        }
        ("replace", "/cacheClusterSize") => {
            let enabled = stage.cache_cluster_enabled;
            set_cache_cluster(stage, enabled, Some(op.value()?.to_string()))?;
        }
        ("replace", "/tracingEnabled") => stage.tracing_enabled = op.bool_value()?,
        ("add" | "replace", p) if p.starts_with("/variables/") => {
            let var = &p["/variables/".len()..];
            check_variable(var, op.value()?)?;
            stage
                .variables
                .insert(var.to_string(), op.value()?.to_string());
        }
        ("remove", p) if p.starts_with("/variables/") => {
            stage.variables.remove(&p["/variables/".len()..]);
        }
        ("copy", _) => return promote(stage, op),
        (_, p) if p.starts_with("/canarySettings") => return canary(stage, op, deployments),
        (verb, p) => return method_setting(stage, verb, p, op),
    }
    Ok(())
}

/// `/canarySettings/...` patches (LocalStack's AWS-recorded `test_apigateway_canary`): a
/// `replace` on a stage without a canary makes one (the stage's deployment, 0 %, no stage
/// cache); `remove /canarySettings` turns it off; `add` is refused.
fn canary(stage: &mut Stage, op: &PatchOp, deployments: &[String]) -> Result<(), ApiError> {
    let path = op.path.as_str();
    if op.op == "add" {
        return Err(ApiError::bad_request(format!(
            "Invalid add operation with path: {path}"
        )));
    }
    if op.op == "remove" {
        if path == "/canarySettings" {
            stage.canary_settings = None;
            return Ok(());
        }
        if let Some(name) = path.strip_prefix("/canarySettings/stageVariableOverrides/") {
            if let Some(c) = stage.canary_settings.as_mut() {
                c.stage_variable_overrides.remove(name);
            }
            return Ok(());
        }
        return Err(ApiError::bad_request(format!(
            "Cannot remove method setting {} because there is no method setting for this method ",
            path.trim_start_matches('/')
        )));
    }
    if op.op != "replace" {
        return Err(invalid_stage_path(path));
    }
    let base = stage.deployment_id.clone();
    let c = stage.canary_settings.get_or_insert_with(|| CanarySettings {
        deployment_id: base,
        percent_traffic: 0.0,
        stage_variable_overrides: BTreeMap::new(),
        use_stage_cache: false,
    });
    match path {
        "/canarySettings/percentTraffic" => c.percent_traffic = percent(op.value()?)?,
        "/canarySettings/deploymentId" => {
            let d = op.value()?;
            if !deployments.iter().any(|known| known == d) {
                return Err(no_such_deployment());
            }
            c.deployment_id = d.to_string();
        }
        "/canarySettings/useStageCache" => c.use_stage_cache = op.bool_value()?,
        p if p.starts_with("/canarySettings/stageVariableOverrides/") => {
            let name = &p["/canarySettings/stageVariableOverrides/".len()..];
            check_variable(name, op.value()?)?;
            c.stage_variable_overrides
                .insert(name.to_string(), op.value()?.to_string());
        }
        _ => return Err(invalid_stage_path(path)),
    }
    Ok(())
}

/// A canary's `percentTraffic`: 0.0 to 100.0 (AWS's range; its message for values outside
/// it is not recorded).
pub fn percent(value: &str) -> Result<f64, ApiError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid percentTraffic value: {value}. Must be between 0.0 and 100.0"
            ))
        })
}

/// Promotion, as AWS's guide does it: `copy` from `/canarySettings/deploymentId` to
/// `/deploymentId`, and from `/canarySettings/stageVariableOverrides` to `/variables`
/// (merged in); the canary stays (set its percentage to 0 or remove it after).
fn promote(stage: &mut Stage, op: &PatchOp) -> Result<(), ApiError> {
    let from = op.from.as_deref().unwrap_or("");
    let valid = matches!(
        (op.path.as_str(), from),
        ("/deploymentId", "/canarySettings/deploymentId")
            | ("/variables", "/canarySettings/stageVariableOverrides")
    );
    if !valid {
        return Err(ApiError::bad_request(format!(
            "Invalid copy operation with path: {} and from {from}. Valid copy:path are [/deploymentId, /variables] and valid copy:from are [/canarySettings/deploymentId, /canarySettings/stageVariableOverrides]",
            op.path
        )));
    }
    let Some(c) = &stage.canary_settings else {
        return Err(ApiError::bad_request(
            "Promotion not available. Canary does not exist.",
        ));
    };
    if op.path == "/deploymentId" {
        stage.deployment_id = c.deployment_id.clone();
    } else {
        let overrides = c.stage_variable_overrides.clone();
        stage.variables.extend(overrides);
    }
    Ok(())
}

/// `/{res}/{verb}/{group}/{field}` patches, and `remove /{res}/{verb}`.
fn method_setting(stage: &mut Stage, verb: &str, path: &str, op: &PatchOp) -> Result<(), ApiError> {
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
    if verb == "remove" && parts.len() == 2 {
        let key = format!("{}/{}", parts[0], parts[1]);
        if stage.method_settings.remove(&key).is_none() {
            // LocalStack's AWS-recorded `test_update_stage_remove_wildcard` (trailing space).
            return Err(ApiError::bad_request(format!(
                "Cannot remove method setting {key} because there is no method setting for this method "
            )));
        }
        return Ok(());
    }
    if verb != "replace" || parts.len() != 3 {
        return Err(invalid_stage_path(path));
    }
    let key = format!("{}/{}", parts[0], parts[1]);
    let mut setting = stage.method_settings.get(&key).cloned().unwrap_or_default();
    let number = |op: &PatchOp| -> Result<f64, ApiError> {
        op.value()?
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid value for {}", op.path)))
    };
    match parts[2] {
        "throttling/rateLimit" => setting.throttling_rate_limit = number(op)?,
        "throttling/burstLimit" => setting.throttling_burst_limit = number(op)? as i64,
        "caching/enabled" => setting.caching_enabled = op.bool_value()?,
        "caching/ttlInSeconds" => {
            let ttl = number(op)? as i64;
            if ttl > 3600 {
                return Err(ApiError::bad_request(
                    "Cache TTL must be between 0 and 3600 seconds",
                ));
            }
            setting.cache_ttl_in_seconds = ttl;
        }
        "caching/dataEncrypted" => setting.cache_data_encrypted = op.bool_value()?,
        "caching/requireAuthorizationForCacheControl" => {
            setting.require_authorization_for_cache_control = op.bool_value()?;
        }
        "caching/unauthorizedCacheControlHeaderStrategy" => {
            setting.unauthorized_cache_control_header_strategy = op.value()?.to_string();
        }
        "metrics/enabled" => setting.metrics_enabled = op.bool_value()?,
        "logging/dataTrace" => setting.data_trace_enabled = op.bool_value()?,
        "logging/loglevel" => setting.logging_level = Some(op.value()?.to_string()),
        _ => return Err(invalid_stage_path(path)),
    }
    stage.method_settings.insert(key, setting);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(op: &str, path: &str, value: &str) -> PatchOp {
        PatchOp {
            op: op.into(),
            path: path.into(),
            value: Some(value.into()),
            from: None,
        }
    }

    #[test]
    fn variables_are_checked_before_the_compile_sees_them() {
        assert!(check_variable("color", "green").is_ok());
        assert_eq!(check_variable("bad name", "x").unwrap_err().status, 400);
        assert_eq!(check_variable("ok", "").unwrap_err().status, 400);
        let mut stage = new_stage("prod", "d1", 0);
        let e = apply(&mut stage, &op("replace", "/variables/a b", "x"), &[]).unwrap_err();
        assert!(
            e.message.contains("Invalid stage variable name"),
            "{}",
            e.message
        );
        assert!(stage.variables.is_empty());
    }

    #[test]
    fn method_settings_start_from_aws_defaults() {
        let mut stage = new_stage("prod", "d1", 0);
        let deployments = vec!["d1".to_string(), "d2".to_string()];
        apply(
            &mut stage,
            &op("replace", "/*/*/throttling/rateLimit", "100"),
            &deployments,
        )
        .expect("applied");
        let s = &stage.method_settings["*/*"];
        assert_eq!(
            (s.throttling_rate_limit, s.throttling_burst_limit),
            (100.0, 5000)
        );
        apply(
            &mut stage,
            &op("replace", "/~1pets/GET/caching/enabled", "true"),
            &deployments,
        )
        .expect("applied");
        assert!(stage.method_settings["~1pets/GET"].caching_enabled);
        apply(
            &mut stage,
            &op("replace", "/deploymentId", "d2"),
            &deployments,
        )
        .expect("moved");
        assert_eq!(stage.deployment_id, "d2");
        let e = apply(
            &mut stage,
            &op("replace", "/deploymentId", "zz"),
            &deployments,
        )
        .unwrap_err();
        assert_eq!(e.message, "Deployment id does not exist");
        let e = apply(
            &mut stage,
            &op("replace", "/documentation_version", "x"),
            &deployments,
        )
        .unwrap_err();
        assert!(e.message.starts_with(
            "Invalid method setting path: /documentation_version. Must be one of: [/deploymentId,"
        ));
        let e = apply(&mut stage, &op("remove", "/x/GET", ""), &deployments).unwrap_err();
        assert!(e.message.ends_with("for this method "));
    }
}
