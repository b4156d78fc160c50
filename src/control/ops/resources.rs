//! `GetResources`, `GetResource`, `CreateResource`, `DeleteResource`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{
    api, api_mut, input, page_by_id, query_param, resource, resource_mut, Apis, Ctx, Reply,
};
use crate::control::error::ApiError;
use crate::control::ids;
use crate::control::model::{ApiState, Resource};

/// A resource as `GetResources` lists it: without `embed=methods`, each method is an empty
/// object (`"resourceMethods": {"GET": {}}`), as AWS answers.
fn listed(resource: &Resource, embed_methods: bool) -> Value {
    let mut value = serde_json::to_value(resource).unwrap_or(Value::Null);
    if !embed_methods {
        if let Some(methods) = value
            .get_mut("resourceMethods")
            .and_then(Value::as_object_mut)
        {
            for m in methods.values_mut() {
                *m = Value::Object(Default::default());
            }
        }
    }
    value
}

/// Whether `?embed=` names `methods`.
fn embeds_methods(query: &str) -> bool {
    query_param(query, "embed").is_some_and(|e| e.split(',').any(|e| e == "methods"))
}

/// `GET /restapis/{id}/resources[?embed=methods]`, by path.
pub fn list(apis: &Apis, ctx: &Ctx, id: &str, query: &str) -> Result<Reply, ApiError> {
    let state = api(apis, ctx, id)?;
    let embed = embeds_methods(query);
    let mut resources: Vec<&Resource> = state.resources.values().collect();
    resources.sort_by(|a, b| a.path.cmp(&b.path));
    let items = resources.into_iter().map(|r| listed(r, embed)).collect();
    page_by_id(items, query)
}

/// `GET /restapis/{id}/resources/{resource_id}` (methods embedded only with `embed=methods`).
pub fn get(apis: &Apis, ctx: &Ctx, id: &str, rid: &str, query: &str) -> Result<Reply, ApiError> {
    let state = api(apis, ctx, id)?;
    let embed = embeds_methods(query);
    Ok(Reply::value(200, listed(resource(state, rid)?, embed)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    path_part: Option<String>,
}

/// `POST /restapis/{id}/resources/{parent_id}` `{"pathPart": "pets"}` → 201.
pub fn create(
    apis: &mut Apis,
    ctx: &Ctx,
    id: &str,
    parent: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let input: CreateInput = input(body)?;
    let state = api_mut(apis, ctx, id)?;
    let parent = resource(state, parent)?.clone();
    let part = input.path_part.unwrap_or_default();
    check_path_part(&part)?;
    check_siblings(state, &parent, &part, None)?;
    let path = if parent.path == "/" {
        format!("/{part}")
    } else {
        format!("{}/{part}", parent.path)
    };
    let resource = Resource {
        id: ids::long_id(),
        parent_id: Some(parent.id.clone()),
        path_part: Some(part),
        path,
        resource_methods: BTreeMap::new(),
    };
    let reply = Reply::json(201, &resource)?;
    state.resources.insert(resource.id.clone(), resource);
    Ok(reply)
}

fn is_variable(part: &str) -> bool {
    part.starts_with('{') && part.ends_with('}')
}

/// A path part as AWS takes it: letters, digits and `._-:`, or a whole `{name}` / `{name+}`
/// variable (AWS's message for anything else, quoted).
fn check_path_part(part: &str) -> Result<(), ApiError> {
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
    };
    let ok = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        Some(var) => name_ok(var.strip_suffix('+').unwrap_or(var)),
        None => name_ok(part),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an optional plus sign before the closing brace.",
        ))
    }
}

/// `PATCH /restapis/{id}/resources/{resource_id}`: `replace` of `/pathPart` or `/parentId`
/// (a move), the paths below following; AWS's refusals as LocalStack's AWS-recorded
/// `test_update_resource_behaviour` words them.
pub fn update(
    apis: &mut Apis,
    ctx: &Ctx,
    id: &str,
    rid: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ops = crate::control::patch::parse(body, "updateResourceInput")?;
    let state = api_mut(apis, ctx, id)?;
    let is_root = resource(state, rid)?.parent_id.is_none();
    for op in &ops {
        let field = match op.path.as_str() {
            "/pathPart" => "pathPart",
            "/parentId" => "parentId",
            _ => return Err(op.invalid_path(&["/parentId", "/pathPart"])),
        };
        if op.op != "replace" {
            return Err(ApiError::bad_request(format!(
                "Invalid patch path  '{}' specified for op '{}'. Please choose supported operations",
                op.path, op.op
            )));
        }
        if is_root {
            return Err(ApiError::bad_request(format!(
                "Root resource cannot update its {field}."
            )));
        }
        let value = op.value()?.to_string();
        let current = resource(state, rid)?.clone();
        let (parent, part) = match field {
            "pathPart" => (current.parent_id.clone().unwrap_or_default(), value),
            _ => (value, current.path_part.clone().unwrap_or_default()),
        };
        check_path_part(&part)?;
        let parent_resource = resource(state, &parent)?.clone();
        if descendants(state, rid).contains(&parent) {
            return Err(ApiError::bad_request("Resources cannot be cyclical."));
        }
        check_siblings(state, &parent_resource, &part, Some(rid))?;
        let moved = resource_mut(state, rid)?;
        moved.parent_id = Some(parent);
        moved.path_part = Some(part);
        recompute_paths(state, rid);
    }
    Ok(Reply::value(200, listed(resource(state, rid)?, false)))
}

/// The paths of `rid` and everything under it, from their parents' (parents first: the
/// breadth-first order of [`descendants`]).
fn recompute_paths(state: &mut ApiState, rid: &str) {
    for id in descendants(state, rid) {
        let Some(r) = state.resources.get(&id) else {
            continue;
        };
        let parent_path = r
            .parent_id
            .as_ref()
            .and_then(|p| state.resources.get(p))
            .map_or("/".to_string(), |p| p.path.clone());
        let part = r.path_part.clone().unwrap_or_default();
        let path = if parent_path == "/" {
            format!("/{part}")
        } else {
            format!("{parent_path}/{part}")
        };
        if let Some(r) = state.resources.get_mut(&id) {
            r.path = path;
        }
    }
}

/// A child named `part` may go under `parent`: not below a greedy variable, no sibling of
/// the same name, at most one variable sibling (`moving` is the resource itself, when it is
/// moved or renamed).
fn check_siblings(
    state: &ApiState,
    parent: &Resource,
    part: &str,
    moving: Option<&str>,
) -> Result<(), ApiError> {
    if parent
        .path_part
        .as_deref()
        .is_some_and(|p| p.ends_with("+}"))
    {
        return Err(ApiError::bad_request(format!(
            "Cannot create a child of a resource with a greedy path variable: {}",
            parent.path_part.as_deref().unwrap_or("")
        )));
    }
    let siblings = state
        .resources
        .values()
        .filter(|r| r.parent_id.as_deref() == Some(&parent.id))
        .filter(|r| Some(r.id.as_str()) != moving);
    for sibling in siblings {
        let other = sibling.path_part.as_deref().unwrap_or("");
        if other == part {
            // AWS's wording (LocalStack's AWS-recorded `test_create_resource_parent_invalid`
            // family): "Another resource with the same parent already has this name: pets".
            return Err(ApiError::conflict(format!(
                "Another resource with the same parent already has this name: {part}"
            )));
        }
        if is_variable(other) && is_variable(part) {
            return Err(ApiError::bad_request(format!(
                "A sibling ({other}) of this resource already has a variable path part -- only one is allowed"
            )));
        }
    }
    Ok(())
}

/// `DELETE /restapis/{id}/resources/{resource_id}` → 202: the resource and everything under
/// it. The root cannot go.
pub fn delete(apis: &mut Apis, ctx: &Ctx, id: &str, rid: &str) -> Result<Reply, ApiError> {
    let state = api_mut(apis, ctx, id)?;
    let target = resource(state, rid)?;
    if target.parent_id.is_none() {
        return Err(ApiError::bad_request("Cannot delete root resource"));
    }
    let doomed = descendants(state, rid);
    for r in doomed {
        state.resources.remove(&r);
    }
    Ok(Reply::empty(202))
}

/// `rid` and every resource under it.
fn descendants(state: &ApiState, rid: &str) -> Vec<String> {
    let mut found = vec![rid.to_string()];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i].clone();
        found.extend(
            state
                .resources
                .values()
                .filter(|r| r.parent_id.as_deref() == Some(parent.as_str()))
                .map(|r| r.id.clone()),
        );
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parts_are_checked_as_aws_does() {
        for ok in ["pets", "{petId}", "{proxy+}", "v1.2", "a-b_c"] {
            assert!(check_path_part(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "{}", "{a", "a}", "sp ace", "{a+b}"] {
            assert_eq!(
                check_path_part(bad).map_err(|e| e.status),
                Err(400),
                "{bad}"
            );
        }
    }
}
