//! `CreateRestApi`, `GetRestApi`, `GetRestApis`, `UpdateRestApi`, `DeleteRestApi`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{api, api_mut, input, page_by_id, Apis, Ctx, Reply};
use crate::control::error::ApiError;
use crate::control::ids;
use crate::control::model::{ApiState, EndpointConfiguration, Resource, RestApi};
use crate::control::patch;

/// `CreateRestApi`'s body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    name: Option<String>,
    description: Option<String>,
    version: Option<String>,
    clone_from: Option<String>,
    #[serde(default)]
    binary_media_types: Vec<String>,
    api_key_source: Option<String>,
    endpoint_configuration: Option<EndpointConfiguration>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    disable_execute_api_endpoint: bool,
}

/// `POST /restapis` → 201 and the API (with AWS's defaults: `apiKeySource: HEADER`,
/// `endpointConfiguration: {types: [EDGE]}`, `disableExecuteApiEndpoint: false`, a root
/// resource). `cloneFrom` copies another API's resources, methods and integrations (not its
/// deployments or stages), under new ids.
pub fn create(apis: &mut Apis, ctx: &Ctx, body: &[u8]) -> Result<Reply, ApiError> {
    let input: CreateInput = input(body)?;
    if input.description.as_deref() == Some("") {
        // LocalStack's AWS-recorded `test_create_rest_api_with_optional_params`.
        return Err(ApiError::bad_request(
            "Description cannot be an empty string",
        ));
    }
    let endpoint = endpoint_configuration(input.endpoint_configuration)?;
    let name = match input.name {
        Some(n) if !n.is_empty() => n,
        // botocore's model marks `name` required; AWS's words for it missing.
        _ => return Err(ApiError::bad_request("Invalid API name specified")),
    };
    let api_key_source = input.api_key_source.unwrap_or_else(|| "HEADER".into());
    if !matches!(api_key_source.as_str(), "HEADER" | "AUTHORIZER") {
        return Err(ApiError::bad_request(format!(
            "1 validation error detected: Value '{api_key_source}' at 'createRestApiInput.apiKeySource' failed to satisfy constraint: Member must satisfy enum value set: [HEADER, AUTHORIZER]"
        )));
    }
    let id = ids::unused(10, |id| {
        apis.contains_key(id) || ctx.file_apis.iter().any(|f| f.id == id)
    });
    let resources = match &input.clone_from {
        Some(source) => cloned_resources(api(apis, ctx, source)?),
        None => {
            let root = ids::long_id();
            BTreeMap::from([(
                root.clone(),
                Resource {
                    id: root,
                    parent_id: None,
                    path_part: None,
                    path: "/".into(),
                    resource_methods: BTreeMap::new(),
                },
            )])
        }
    };
    let root_resource_id = resources
        .values()
        .find(|r| r.parent_id.is_none())
        .map(|r| r.id.clone())
        .unwrap_or_default();
    let rest_api = RestApi {
        id: id.clone(),
        name,
        description: input.description,
        created_date: ids::now_secs(),
        version: input.version,
        binary_media_types: input.binary_media_types,
        api_key_source,
        endpoint_configuration: endpoint,
        disable_execute_api_endpoint: input.disable_execute_api_endpoint,
        root_resource_id,
        tags: input.tags,
    };
    let reply = Reply::json(201, &rest_api)?;
    apis.insert(
        id,
        ApiState {
            api: rest_api,
            resources,
            deployments: BTreeMap::new(),
            stages: BTreeMap::new(),
        },
    );
    Ok(reply)
}

/// The endpoint configuration with AWS's defaults (LocalStack's AWS-recorded
/// `test_create_rest_api_verify_defaults`): `EDGE` when none; `ipv4`, or `dualstack` for
/// `PRIVATE`; one type only.
fn endpoint_configuration(
    given: Option<EndpointConfiguration>,
) -> Result<EndpointConfiguration, ApiError> {
    let mut c = given.unwrap_or(EndpointConfiguration {
        ip_address_type: None,
        types: Vec::new(),
    });
    if c.types.is_empty() {
        c.types.push("EDGE".into());
    }
    if c.types.len() > 1 {
        return Err(ApiError::bad_request(
            "Cannot create an api with multiple Endpoint Types.",
        ));
    }
    let kind = c.types[0].as_str();
    if !matches!(kind, "EDGE" | "REGIONAL" | "PRIVATE") {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '[{kind}]' at 'createRestApiInput.endpointConfiguration.types' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [PRIVATE, EDGE, REGIONAL]]"
        )));
    }
    if c.ip_address_type.is_none() {
        let default = if kind == "PRIVATE" {
            "dualstack"
        } else {
            "ipv4"
        };
        c.ip_address_type = Some(default.into());
    }
    Ok(c)
}

/// `source`'s resources under new ids, parents remapped, integrations' default cache
/// namespaces following their resource.
fn cloned_resources(source: &ApiState) -> BTreeMap<String, Resource> {
    let new_ids: BTreeMap<&str, String> = source
        .resources
        .keys()
        .map(|id| (id.as_str(), ids::long_id()))
        .collect();
    source
        .resources
        .values()
        .map(|r| {
            let mut copy = r.clone();
            copy.id = new_ids
                .get(r.id.as_str())
                .cloned()
                .unwrap_or_else(ids::long_id);
            copy.parent_id = r
                .parent_id
                .as_ref()
                .and_then(|p| new_ids.get(p.as_str()).cloned());
            for method in copy.resource_methods.values_mut() {
                if let Some(i) = method.method_integration.as_mut() {
                    if i.cache_namespace == r.id {
                        i.cache_namespace = copy.id.clone();
                    }
                }
            }
            (copy.id.clone(), copy)
        })
        .collect()
}

/// `GET /restapis/{id}`; an API a file defines answers what `GetRestApis` lists of it.
pub fn get(apis: &Apis, ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
    if let (None, Some(file)) = (apis.get(id), ctx.file_apis.iter().find(|f| f.id == id)) {
        return Ok(Reply::value(200, file_api(file)));
    }
    Reply::json(200, &api(apis, ctx, id)?.api)
}

/// What the control plane tells of an API a file defines: its id and name, and the file.
fn file_api(file: &crate::config::FileApi) -> Value {
    serde_json::json!({
        "id": file.id,
        "name": file.name,
        "description": format!("defined in {} (read-only here)", file.path.display()),
        "apiKeySource": "HEADER",
        "endpointConfiguration": {"ipAddressType": "ipv4", "types": ["EDGE"]},
        "disableExecuteApiEndpoint": false,
    })
}

/// `GET /restapis`: the control plane's APIs by creation, then those files define (with the
/// fields a file gives, and a description naming the file).
pub fn list(apis: &Apis, ctx: &Ctx, query: &str) -> Result<Reply, ApiError> {
    let mut managed: Vec<&RestApi> = apis.values().map(|s| &s.api).collect();
    managed.sort_by(|a, b| (a.created_date, &a.id).cmp(&(b.created_date, &b.id)));
    let mut items: Vec<Value> = managed
        .into_iter()
        .filter_map(|a| serde_json::to_value(a).ok())
        .collect();
    for file in &ctx.file_apis {
        if !apis.contains_key(&file.id) {
            items.push(file_api(file));
        }
    }
    page_by_id(items, query)
}

/// `PATCH /restapis/{id}`: `/name`, `/description`, `/version`, `/apiKeySource`,
/// `/disableExecuteApiEndpoint`, and `add`/`remove` of `/binaryMediaTypes/{type}` (with `/`
/// written `~1`, as AWS's patch paths escape it).
pub fn update(apis: &mut Apis, ctx: &Ctx, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    const PATHS: [&str; 6] = [
        "/name",
        "/description",
        "/version",
        "/apiKeySource",
        "/disableExecuteApiEndpoint",
        "/binaryMediaTypes/{type}",
    ];
    let ops = patch::parse(body, "updateRestApiInput")?;
    let state = api_mut(apis, ctx, id)?;
    for op in &ops {
        let api = &mut state.api;
        match (op.op.as_str(), op.path.as_str()) {
            ("replace", "/name") => api.name = op.value()?.to_string(),
            ("replace", "/description") => api.description = op.value.clone(),
            ("replace", "/version") => api.version = op.value.clone(),
            ("replace", "/apiKeySource") => {
                let v = op.value()?;
                if !matches!(v, "HEADER" | "AUTHORIZER") {
                    return Err(ApiError::bad_request(format!(
                        "Invalid API Key Source specified: {v}"
                    )));
                }
                api.api_key_source = v.to_string();
            }
            ("replace", "/disableExecuteApiEndpoint") => {
                api.disable_execute_api_endpoint = op.bool_value()?;
            }
            ("add", path) if path.starts_with("/binaryMediaTypes/") => {
                let media = path["/binaryMediaTypes/".len()..].replace("~1", "/");
                if !api.binary_media_types.contains(&media) {
                    api.binary_media_types.push(media);
                }
            }
            ("remove", path) if path.starts_with("/binaryMediaTypes/") => {
                let media = path["/binaryMediaTypes/".len()..].replace("~1", "/");
                api.binary_media_types.retain(|m| m != &media);
            }
            _ => return Err(op.invalid_path(&PATHS)),
        }
    }
    Reply::json(200, &state.api)
}

/// `DELETE /restapis/{id}` → 202, no body.
pub fn delete(apis: &mut Apis, ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
    api_mut(apis, ctx, id)?;
    apis.remove(id);
    Ok(Reply::empty(202))
}
