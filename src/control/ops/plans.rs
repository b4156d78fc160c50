//! Usage plans and their keys: `CreateUsagePlan`, `GetUsagePlans`, `GetUsagePlan`,
//! `UpdateUsagePlan`, `DeleteUsagePlan`, `CreateUsagePlanKey`, `GetUsagePlanKeys`,
//! `DeleteUsagePlanKey`. (`GetUsage` is the admin listener's `GET /usageplans/{id}/usage`,
//! `throttle::report`, reading the node's usage counters.)

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{input, page_by_id, query_param, Apis, Ctx, Reply};
use crate::control::error::ApiError;
use crate::control::ids;
use crate::control::model::{ApiStage, QuotaSettings, ThrottleSettings, TrafficState, UsagePlan};
use crate::control::patch;

/// AWS's 404 for an unknown API key.
fn invalid_key() -> ApiError {
    ApiError::not_found("Invalid API Key identifier specified")
}

/// AWS's 404 for an unknown usage plan.
fn invalid_plan() -> ApiError {
    // AWS's NotFoundException for an unknown plan (`Invalid Usage Plan ID specified`).
    ApiError::not_found("Invalid Usage Plan ID specified")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    api_stages: Vec<ApiStage>,
    throttle: Option<ThrottleSettings>,
    quota: Option<QuotaSettings>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// A stage a plan covers must exist: an API of the control plane with that stage, or an API
/// a file defines (whose stages the compile checks).
fn check_stage(apis: &Apis, ctx: &Ctx, s: &ApiStage) -> Result<(), ApiError> {
    let known = match apis.get(&s.api_id) {
        Some(state) => state.stages.contains_key(&s.stage),
        None => ctx.file_apis.iter().any(|f| f.id == s.api_id),
    };
    if known {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid stage identifier specified: {}:{}",
            s.api_id, s.stage
        )))
    }
}

fn check_quota(q: &QuotaSettings) -> Result<(), ApiError> {
    if !matches!(q.period.as_str(), "DAY" | "WEEK" | "MONTH") {
        return Err(ApiError::bad_request(format!(
            "Invalid quota period specified: {}. Must be one of: [DAY, WEEK, MONTH]",
            q.period
        )));
    }
    if q.limit < 0 || q.offset < 0 {
        return Err(ApiError::bad_request(
            "Quota limit and offset must be at least 0",
        ));
    }
    Ok(())
}

/// `POST /usageplans` → 201.
pub fn create(
    t: &mut TrafficState,
    apis: &Apis,
    ctx: &Ctx,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let input: CreateInput = input(body)?;
    let name = input
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("Invalid Usage Plan name specified"))?;
    for s in &input.api_stages {
        check_stage(apis, ctx, s)?;
    }
    if let Some(q) = &input.quota {
        check_quota(q)?;
    }
    let id = ids::unused(6, |id| t.plans.contains_key(id));
    let plan = UsagePlan {
        id: id.clone(),
        name,
        description: input.description,
        api_stages: input.api_stages,
        throttle: input.throttle,
        quota: input.quota,
        tags: input.tags,
    };
    let reply = Reply::json(201, &plan)?;
    t.plans.insert(id, plan);
    Ok(reply)
}

/// `GET /usageplans[?keyId=]`.
pub fn list(t: &TrafficState, query: &str) -> Result<Reply, ApiError> {
    let key = query_param(query, "keyId");
    let items: Vec<Value> = t
        .plans
        .values()
        .filter(|p| {
            key.as_ref()
                .is_none_or(|k| t.plan_keys.get(&p.id).is_some_and(|keys| keys.contains(k)))
        })
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect();
    page_by_id(items, query)
}

/// `GET /usageplans/{id}`.
pub fn get(t: &TrafficState, id: &str) -> Result<Reply, ApiError> {
    Reply::json(200, t.plans.get(id).ok_or_else(invalid_plan)?)
}

/// `DELETE /usageplans/{id}` → 202.
pub fn delete(t: &mut TrafficState, id: &str) -> Result<Reply, ApiError> {
    let plan = t.plans.get(id).ok_or_else(invalid_plan)?;
    if let Some(s) = plan.api_stages.first() {
        // AWS refuses (aws/aws-sdk-js#3841 quotes it): remove the stages first.
        return Err(ApiError::bad_request(format!(
            "Cannot delete Usage Plan {id} because there are API Stages associated with it, including {}:{}",
            s.api_id, s.stage
        )));
    }
    t.plans.remove(id);
    t.plan_keys.remove(id);
    Ok(Reply::empty(202))
}

/// `PATCH /usageplans/{id}`: `/name`, `/description`, `/throttle/burstLimit`,
/// `/throttle/rateLimit`, `/quota/limit`, `/quota/period`, `/quota/offset`, `remove
/// /throttle`, `remove /quota`, and `add`/`remove` of `/apiStages` with value
/// `{apiId}:{stage}`.
pub fn update(
    t: &mut TrafficState,
    apis: &Apis,
    ctx: &Ctx,
    id: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    const PATHS: [&str; 8] = [
        "/name",
        "/description",
        "/throttle/burstLimit",
        "/throttle/rateLimit",
        "/quota/limit",
        "/quota/period",
        "/quota/offset",
        "/apiStages",
    ];
    let ops = patch::parse(body, "updateUsagePlanInput")?;
    let plan = t.plans.get_mut(id).ok_or_else(invalid_plan)?;
    for op in &ops {
        let number = || -> Result<f64, ApiError> {
            op.value()?
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| ApiError::bad_request(format!("Invalid value for {}", op.path)))
        };
        let throttle = || ThrottleSettings {
            burst_limit: 0,
            rate_limit: 0.0,
        };
        let quota = || QuotaSettings {
            limit: 0,
            offset: 0,
            period: "DAY".into(),
        };
        match (op.op.as_str(), op.path.as_str()) {
            ("replace", "/name") => plan.name = op.value()?.to_string(),
            ("replace", "/description") => plan.description = op.value.clone(),
            ("replace", "/throttle/burstLimit") => {
                plan.throttle.get_or_insert_with(throttle).burst_limit = number()? as i64;
            }
            ("replace", "/throttle/rateLimit") => {
                plan.throttle.get_or_insert_with(throttle).rate_limit = number()?;
            }
            ("remove", "/throttle") => plan.throttle = None,
            ("replace", "/quota/limit") => {
                plan.quota.get_or_insert_with(quota).limit = number()? as i64
            }
            ("replace", "/quota/offset") => {
                plan.quota.get_or_insert_with(quota).offset = number()? as i64;
            }
            ("replace", "/quota/period") => {
                let q = plan.quota.get_or_insert_with(quota);
                q.period = op.value()?.to_string();
                check_quota(q)?;
            }
            ("remove", "/quota") => plan.quota = None,
            ("add", "/apiStages") => {
                let (api, stage) = op.value()?.split_once(':').ok_or_else(|| {
                    ApiError::bad_request("Invalid API stage specified: use apiId:stage")
                })?;
                let s = ApiStage {
                    api_id: api.to_string(),
                    stage: stage.to_string(),
                    throttle: BTreeMap::new(),
                };
                check_stage(apis, ctx, &s)?;
                if !plan
                    .api_stages
                    .iter()
                    .any(|x| x.api_id == s.api_id && x.stage == s.stage)
                {
                    plan.api_stages.push(s);
                }
            }
            ("remove", "/apiStages") => {
                let value = op.value()?;
                plan.api_stages
                    .retain(|s| format!("{}:{}", s.api_id, s.stage) != value);
            }
            _ => return Err(op.invalid_path(&PATHS)),
        }
    }
    Reply::json(200, &*plan)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyInput {
    key_id: Option<String>,
    key_type: Option<String>,
}

/// A usage plan key as AWS answers it; `None` for a key that is gone.
fn plan_key(t: &TrafficState, key_id: &str) -> Option<Value> {
    let key = t.keys.get(key_id)?;
    Some(json!({ "id": key.id, "type": "API_KEY", "value": key.value, "name": key.name }))
}

/// `POST /usageplans/{id}/keys` `{"keyId", "keyType": "API_KEY"}` → 201.
pub fn add_key(t: &mut TrafficState, plan: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let input: KeyInput = input(body)?;
    if !t.plans.contains_key(plan) {
        return Err(invalid_plan());
    }
    if input.key_type.as_deref().unwrap_or("API_KEY") != "API_KEY" {
        return Err(ApiError::bad_request(
            "Invalid key type specified: only API_KEY is supported",
        ));
    }
    let key = input.key_id.unwrap_or_default();
    if !t.keys.contains_key(&key) {
        return Err(invalid_key());
    }
    let keys = t.plan_keys.entry(plan.to_string()).or_default();
    if !keys.insert(key.clone()) {
        return Err(ApiError::conflict(format!(
            "Usage Plan {plan} cannot be added because API Key {key} cannot reference duplicated stages"
        )));
    }
    let answer = plan_key(t, &key).ok_or_else(invalid_key)?;
    Ok(Reply::value(201, answer))
}

/// `GET /usageplans/{id}/keys[?nameQuery=]`.
pub fn keys(t: &TrafficState, plan: &str, query: &str) -> Result<Reply, ApiError> {
    if !t.plans.contains_key(plan) {
        return Err(invalid_plan());
    }
    let name = query_param(query, "nameQuery");
    let items = t
        .plan_keys
        .get(plan)
        .into_iter()
        .flatten()
        .filter_map(|k| t.keys.get(k))
        .filter(|k| name.as_ref().is_none_or(|n| k.name.starts_with(n.as_str())))
        .filter_map(|k| plan_key(t, &k.id))
        .collect();
    page_by_id(items, query)
}

/// `GET /usageplans/{id}/keys/{keyId}`.
pub fn get_key(t: &TrafficState, plan: &str, key: &str) -> Result<Reply, ApiError> {
    if !t.plans.contains_key(plan) {
        return Err(invalid_plan());
    }
    let linked = t.plan_keys.get(plan).is_some_and(|keys| keys.contains(key));
    let answer = linked.then(|| plan_key(t, key)).flatten();
    Ok(Reply::value(200, answer.ok_or_else(invalid_key)?))
}

/// `DELETE /usageplans/{id}/keys/{keyId}` → 202.
pub fn remove_key(t: &mut TrafficState, plan: &str, key: &str) -> Result<Reply, ApiError> {
    if !t.plans.contains_key(plan) {
        return Err(invalid_plan());
    }
    let removed = t
        .plan_keys
        .get_mut(plan)
        .is_some_and(|keys| keys.remove(key));
    if !removed {
        return Err(invalid_key());
    }
    Ok(Reply::empty(202))
}
