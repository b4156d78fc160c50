//! `ImportRestApi` (`POST /restapis?mode=import`), `PutRestApi` (`PUT /restapis/{id}`,
//! `mode=overwrite|merge`) and `GetExport` (`GET /restapis/{id}/stages/{stage}/exports/
//! {oas30|swagger}`): OpenAPI documents in and out (`crate::control::openapi`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{api, api_mut, query_param, restapis, Apis, Ctx, Reply};
use crate::control::error::ApiError;
use crate::control::openapi::{self, Document, ExportType};

/// The document of a body, refused with its warnings under `failonwarnings=true`.
fn document(query: &str, body: &[u8]) -> Result<Document, ApiError> {
    let doc = openapi::read(&openapi::parse(body)?)?;
    let strict = query_param(query, "failonwarnings").is_some_and(|v| v == "true");
    if strict && !doc.warnings.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Warnings found during import:\n\t{}",
            doc.warnings.join("\n\t")
        )));
    }
    Ok(doc)
}

/// The API as answered after an import, with the document's `warnings` (a `RestApi` field).
fn answered(
    apis: &Apis,
    ctx: &Ctx,
    id: &str,
    status: u16,
    warnings: &[String],
) -> Result<Reply, ApiError> {
    let mut value = serde_json::to_value(&api(apis, ctx, id)?.api)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if !warnings.is_empty() {
        value["warnings"] = warnings.iter().cloned().map(Value::from).collect();
    }
    Ok(Reply::value(status, value))
}

/// `POST /restapis?mode=import[&failonwarnings=true]` → 201: a new API from the document.
pub fn import(apis: &mut Apis, ctx: &Ctx, query: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let doc = document(query, body)?;
    let mut create = serde_json::json!({ "name": doc.title });
    if let Some(d) = &doc.description {
        create["description"] = d.clone().into();
    }
    if let Some(v) = &doc.version {
        create["version"] = v.clone().into();
    }
    if !doc.binary_media_types.is_empty() {
        create["binaryMediaTypes"] = serde_json::json!(doc.binary_media_types);
    }
    if let Some(source) = &doc.api_key_source {
        create["apiKeySource"] = source.clone().into();
    }
    let created = restapis::create(apis, ctx, create.to_string().as_bytes())?;
    let id = created
        .body
        .as_ref()
        .and_then(|b| b["id"].as_str())
        .unwrap_or_default()
        .to_string();
    let state = api_mut(apis, ctx, &id)?;
    let root = state.api.root_resource_id.clone();
    state.resources = openapi::resources(&doc.paths, &root, &BTreeMap::new());
    answered(apis, ctx, &id, 201, &doc.warnings)
}

/// `PUT /restapis/{id}?mode=overwrite|merge` → 200. `overwrite` replaces the resources with
/// the document's; `merge` (the default) adds its resources and methods, replacing methods
/// both have. Deployments and stages stay.
pub fn put(
    apis: &mut Apis,
    ctx: &Ctx,
    id: &str,
    query: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let mode = query_param(query, "mode").unwrap_or_else(|| "merge".into());
    if !matches!(mode.as_str(), "merge" | "overwrite") {
        return Err(ApiError::bad_request(format!(
            "Invalid mode specified: {mode}. Must be one of: [merge, overwrite]"
        )));
    }
    let doc = document(query, body)?;
    let state = api_mut(apis, ctx, id)?;
    let root = state.api.root_resource_id.clone();
    if mode == "overwrite" {
        state.resources = openapi::resources(&doc.paths, &root, &BTreeMap::new());
        state.api.name = doc.title.clone();
        state.api.description = doc.description.clone();
        state.api.binary_media_types = doc.binary_media_types.clone();
    } else {
        let keep: BTreeMap<String, String> = state
            .resources
            .values()
            .map(|r| (r.path.clone(), r.id.clone()))
            .collect();
        let mut paths: BTreeMap<String, BTreeMap<String, crate::control::model::Method>> = state
            .resources
            .values()
            .map(|r| (r.path.clone(), r.resource_methods.clone()))
            .collect();
        for (path, methods) in &doc.paths {
            paths
                .entry(path.clone())
                .or_default()
                .extend(methods.clone());
        }
        state.resources = openapi::resources(&paths, &root, &keep);
        for media in &doc.binary_media_types {
            if !state.api.binary_media_types.contains(media) {
                state.api.binary_media_types.push(media.clone());
            }
        }
    }
    answered(apis, ctx, id, 200, &doc.warnings)
}

/// `GET /restapis/{id}/stages/{stage}/exports/{oas30|swagger}[?extensions=...]`, JSON, or
/// YAML for `Accept: application/yaml`.
pub fn export(
    apis: &Apis,
    ctx: &Ctx,
    (id, stage, kind): (&str, &str, &str),
    query: &str,
    yaml: bool,
) -> Result<Reply, ApiError> {
    let kind = match kind {
        "oas30" => ExportType::Oas30,
        "swagger" => ExportType::Swagger,
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid export type specified: {other}. Must be one of: [oas30, swagger]"
            )))
        }
    };
    let state = api(apis, ctx, id)?;
    let s = state
        .stages
        .get(stage)
        .ok_or_else(super::stages::invalid_stage)?;
    let resources = &state
        .deployments
        .get(&s.deployment_id)
        .ok_or_else(|| ApiError::not_found("Invalid Deployment identifier specified"))?
        .resources;
    let extensions = query_param(query, "extensions").unwrap_or_default();
    let integrations = extensions
        .split(',')
        .any(|e| matches!(e.trim(), "integrations" | "apigateway"));
    let host = format!("{id}{}", ctx.host_suffix);
    let doc = openapi::export(state, resources, stage, kind, integrations, &host);
    if yaml {
        let text = yaml_serde::to_string(&doc).map_err(|e| ApiError::internal(e.to_string()))?;
        return Ok(Reply {
            status: 200,
            body: None,
            raw: Some(("application/yaml", text.into_bytes())),
        });
    }
    Ok(Reply::value(200, doc))
}
