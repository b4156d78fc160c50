//! `CreateDeployment`, `GetDeployments`, `GetDeployment`, `DeleteDeployment`.
//!
//! A deployment freezes the API's resources and methods as they are; stages serve
//! deployments, so what changes after it reaches callers only through the next one.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{api, api_mut, input, page_by_id, stages, Apis, Ctx, Reply};
use crate::control::error::ApiError;
use crate::control::ids;
use crate::control::model::{ApiState, Deployment, DeploymentRecord};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    stage_name: Option<String>,
    stage_description: Option<String>,
    description: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    cache_cluster_enabled: Option<bool>,
    cache_cluster_size: Option<String>,
    canary_settings: Option<CanaryInput>,
}

/// `DeploymentCanarySettings`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CanaryInput {
    percent_traffic: Option<f64>,
    #[serde(default)]
    stage_variable_overrides: BTreeMap<String, String>,
    #[serde(default)]
    use_stage_cache: bool,
}

/// The frozen copy's problems, as AWS words them: no method at all (Terraform's quoted
/// "BadRequestException: The REST API doesn't contain any methods"), or a method without an
/// integration (400 "No integration defined for method", aws-apigateway-importer#29).
fn check_deployable(state: &ApiState) -> Result<(), ApiError> {
    let methods: Vec<_> = state
        .resources
        .values()
        .flat_map(|r| r.resource_methods.values())
        .collect();
    if methods.is_empty() {
        return Err(ApiError::bad_request(
            "The REST API doesn't contain any methods",
        ));
    }
    if methods.iter().any(|m| m.method_integration.is_none()) {
        return Err(ApiError::bad_request("No integration defined for method"));
    }
    Ok(())
}

/// `POST /restapis/{id}/deployments` → 201 `{"id", "description"?, "createdDate"}`; with
/// `stageName`, that stage is created (or moved) to serve it, `stageDescription` and
/// `variables` applying to the stage.
pub fn create(apis: &mut Apis, ctx: &Ctx, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let input: CreateInput = input(body)?;
    stages::check_variables(&input.variables)?;
    if let Some(c) = &input.canary_settings {
        stages::check_variables(&c.stage_variable_overrides)?;
    }
    let state = api_mut(apis, ctx, id)?;
    check_deployable(state)?;
    if input.canary_settings.is_some() {
        // LocalStack's AWS-recorded `test_create_canary_deployment_validation`.
        match input.stage_name.as_deref() {
            None | Some("") => {
                return Err(ApiError::bad_request(format!(
                    "Invalid deployment content specified.Non null and non empty stageName must be provided for canary deployment. Provided value is {}",
                    input.stage_name.as_deref().map_or("null", |_| "")
                )))
            }
            Some(name) if !state.stages.contains_key(name) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid deployment content specified.Stage {name} must already be created before making a canary release deployment"
                )))
            }
            Some(_) => {}
        }
    }
    if let Some(name) = &input.stage_name {
        stages::check_name(name)?;
    }
    let deployment_id = ids::unused(6, |id| state.deployments.contains_key(id));
    let now = ids::now_secs();
    let deployment = Deployment {
        id: deployment_id.clone(),
        description: input.description,
        created_date: now,
    };
    let reply = Reply::json(201, &deployment)?;
    state.deployments.insert(
        deployment_id.clone(),
        DeploymentRecord {
            deployment,
            resources: state.resources.values().cloned().collect(),
        },
    );
    if let (Some(name), Some(canary)) = (&input.stage_name, &input.canary_settings) {
        let percent = canary.percent_traffic.unwrap_or(0.0);
        let percent = stages::percent(&percent.to_string())?;
        let stage = state
            .stages
            .get_mut(name)
            .ok_or_else(|| ApiError::internal("stage checked above"))?;
        // The canary gets the new deployment; the stage keeps serving its own.
        stage.canary_settings = Some(crate::control::model::CanarySettings {
            deployment_id: deployment_id.clone(),
            percent_traffic: percent,
            stage_variable_overrides: canary.stage_variable_overrides.clone(),
            use_stage_cache: canary.use_stage_cache,
        });
        stage.last_updated_date = now;
        return Ok(reply);
    }
    if let Some(name) = input.stage_name {
        match state.stages.get_mut(&name) {
            Some(stage) => {
                stage.deployment_id = deployment_id;
                stage.variables.extend(input.variables);
                if input.stage_description.is_some() {
                    stage.description = input.stage_description;
                }
                stage.last_updated_date = now;
            }
            None => {
                let mut stage = stages::new_stage(&name, &deployment_id, now);
                stage.description = input.stage_description;
                stage.variables = input.variables;
                stages::set_cache_cluster(
                    &mut stage,
                    input.cache_cluster_enabled.unwrap_or(false),
                    input.cache_cluster_size,
                )?;
                state.stages.insert(name, stage);
            }
        }
    }
    Ok(reply)
}

fn invalid_deployment() -> ApiError {
    // moto's wording; no recording against AWS was found.
    ApiError::not_found("Invalid Deployment identifier specified")
}

/// `GET /restapis/{id}/deployments`, oldest first.
pub fn list(apis: &Apis, ctx: &Ctx, id: &str, query: &str) -> Result<Reply, ApiError> {
    let state = api(apis, ctx, id)?;
    let mut all: Vec<&Deployment> = state.deployments.values().map(|d| &d.deployment).collect();
    all.sort_by(|a, b| (a.created_date, &a.id).cmp(&(b.created_date, &b.id)));
    let items = all
        .into_iter()
        .filter_map(|d| serde_json::to_value(d).ok())
        .collect();
    page_by_id(items, query)
}

/// `GET /restapis/{id}/deployments/{deployment_id}`.
pub fn get(apis: &Apis, ctx: &Ctx, id: &str, deployment: &str) -> Result<Reply, ApiError> {
    let state = api(apis, ctx, id)?;
    let record = state
        .deployments
        .get(deployment)
        .ok_or_else(invalid_deployment)?;
    Reply::json(200, &record.deployment)
}

/// `DELETE /restapis/{id}/deployments/{deployment_id}` → 202; refused while a stage serves
/// it (LocalStack's AWS-recorded `delete-deployment-error`).
pub fn delete(apis: &mut Apis, ctx: &Ctx, id: &str, deployment: &str) -> Result<Reply, ApiError> {
    let state = api_mut(apis, ctx, id)?;
    if !state.deployments.contains_key(deployment) {
        return Err(invalid_deployment());
    }
    let serves = |s: &crate::control::model::Stage| {
        s.deployment_id == deployment
            || s.canary_settings
                .as_ref()
                .is_some_and(|c| c.deployment_id == deployment)
    };
    if state.stages.values().any(serves) {
        return Err(ApiError::bad_request(
            "Active stages pointing to this deployment must be moved or deleted",
        ));
    }
    state.deployments.remove(deployment);
    Ok(Reply::empty(202))
}
