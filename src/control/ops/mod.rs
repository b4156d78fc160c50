//! The operations of the `apigateway` API, one module per resource kind. Each takes the
//! node's APIs (a working copy, for the ones that change something) and the call's input, and
//! returns the status and body AWS answers, or AWS's error. None does I/O: the caller
//! (`super::ControlPlane`) compiles, stores and publishes what a change produced.

pub mod deployments;
pub mod imports;
pub mod keys;
pub mod methods;
pub mod plans;
pub mod resources;
pub mod restapis;
pub mod stages;
pub mod tags;

use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

use super::error::ApiError;
use super::model::{ApiState, Resource};

/// Every API the control plane manages, by id.
pub type Apis = BTreeMap<String, ApiState>;

/// What an operation needs besides the APIs.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// The account in AWS's messages (`Invalid API identifier specified {account}:{id}`).
    pub account: String,
    /// APIs that files define: listed, never changed through the API.
    pub file_apis: Vec<crate::config::FileApi>,
    /// `.execute-api.{domain}`: where an API's stages are served (exports name it).
    pub host_suffix: String,
    /// The node's region (of the ARNs tags are put on).
    pub region: String,
}

/// A status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// 200, 201, 202 ...
    pub status: u16,
    /// `None`: no body (204 and AWS's empty 202s).
    pub body: Option<Value>,
    /// A body that is not JSON (a YAML export), with its media type.
    pub raw: Option<(&'static str, Vec<u8>)>,
}

impl Reply {
    /// `status` with `value` serialised as the body.
    pub fn json(status: u16, value: &impl serde::Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_value(value).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Reply {
            status,
            body: Some(body),
            raw: None,
        })
    }

    /// `status` with `value` as the body.
    pub fn value(status: u16, value: Value) -> Reply {
        Reply {
            status,
            body: Some(value),
            raw: None,
        }
    }

    /// `status` without a body.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            raw: None,
        }
    }
}

/// A JSON body as `T` (an empty body is `{}`), refused as AWS refuses malformed input.
pub fn input<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))
}

/// The API `id`, or AWS's 404 (`test_get_api_invalid_api_id` in LocalStack's AWS-recorded
/// snapshots: "Invalid API identifier specified {account}:{id}").
pub fn api<'a>(apis: &'a Apis, ctx: &Ctx, id: &str) -> Result<&'a ApiState, ApiError> {
    apis.get(id).ok_or_else(|| not_found_api(ctx, id))
}

/// [`api`], to change it; an API a file defines is refused, naming the file.
pub fn api_mut<'a>(apis: &'a mut Apis, ctx: &Ctx, id: &str) -> Result<&'a mut ApiState, ApiError> {
    if let Some(file) = ctx.file_apis.iter().find(|f| f.id == id) {
        return Err(ApiError::bad_request(format!(
            "REST API {id} is defined in the file {}: change the file and reload (SIGHUP) instead",
            file.path.display()
        )));
    }
    apis.get_mut(id).ok_or_else(|| not_found_api(ctx, id))
}

fn not_found_api(ctx: &Ctx, id: &str) -> ApiError {
    ApiError::not_found(format!(
        "Invalid API identifier specified {}:{id}",
        ctx.account
    ))
}

/// The resource `id` of `state`, or AWS's 404.
pub fn resource<'a>(state: &'a ApiState, id: &str) -> Result<&'a Resource, ApiError> {
    state
        .resources
        .get(id)
        .ok_or_else(|| ApiError::not_found("Invalid Resource identifier specified"))
}

/// [`resource`], to change it.
pub fn resource_mut<'a>(state: &'a mut ApiState, id: &str) -> Result<&'a mut Resource, ApiError> {
    state
        .resources
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("Invalid Resource identifier specified"))
}

/// AWS's list shape: `{"item": [...]}`, paged by `limit` (default 25, at most 500) and
/// `position` (the id of the first item of the page; the next page's comes back as
/// `position` while more remain).
pub fn page(
    items: Vec<Value>,
    query: &str,
    key_of: impl Fn(&Value) -> String,
) -> Result<Reply, ApiError> {
    let limit = match query_param(query, "limit") {
        None => 25,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value between 1 and 500",
                ))
            }
        },
    };
    let start = match query_param(query, "position") {
        None => 0,
        Some(p) => items
            .iter()
            .position(|v| key_of(v) == p)
            .ok_or_else(|| ApiError::bad_request("Invalid position parameter"))?,
    };
    let rest: Vec<Value> = items.into_iter().skip(start).collect();
    let next = rest.get(limit).map(&key_of);
    let page: Vec<Value> = rest.into_iter().take(limit).collect();
    let mut body = serde_json::Map::new();
    if let Some(next) = next {
        body.insert("position".into(), next.into());
    }
    body.insert("item".into(), Value::Array(page));
    Ok(Reply::value(200, Value::Object(body)))
}

/// [`page`] of items identified by their `id` field (every list but the stages').
pub fn page_by_id(items: Vec<Value>, query: &str) -> Result<Reply, ApiError> {
    page(items, query, |v| v["id"].as_str().unwrap_or("").to_string())
}

/// The decoded value of `name` in `query`.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

/// `%XX` and `+` decoded (invalid escapes kept as written), as query values are.
pub fn percent_decode(s: &str) -> String {
    let plain = s.replace('+', " ");
    String::from_utf8_lossy(&crate::upstream::sigv4::percent_decode(&plain)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_position_and_limit() {
        let items: Vec<Value> = (0..5)
            .map(|i| serde_json::json!({"id": format!("i{i}")}))
            .collect();
        let key = |v: &Value| v["id"].as_str().unwrap_or("").to_string();
        let first = page(items.clone(), "limit=2", key).expect("page");
        let body = first.body.expect("body");
        assert_eq!(body["item"].as_array().map(Vec::len), Some(2));
        assert_eq!(body["position"], "i2");
        let last = page(items.clone(), "limit=2&position=i4", key).expect("page");
        let body = last.body.expect("body");
        assert_eq!(body["item"][0]["id"], "i4");
        assert!(body.get("position").is_none());
        assert_eq!(page(items.clone(), "limit=0", key).unwrap_err().status, 400);
        assert_eq!(page(items, "position=nope", key).unwrap_err().status, 400);
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%20b%7Bc%7D"), "a b{c}");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
