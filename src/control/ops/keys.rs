//! API keys: `CreateApiKey`, `GetApiKeys` (`nameQuery`, `includeValues`), `GetApiKey`
//! (`includeValue`), `UpdateApiKey`, `DeleteApiKey`, `ImportApiKeys` (CSV, AWS's format,
//! parsed by the same reader as `tollgate keys import`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{input, page_by_id, query_param, Reply};
use crate::control::error::ApiError;
use crate::control::ids;
use crate::control::model::{ApiKey, TrafficState};
use crate::control::patch;

fn invalid_key() -> ApiError {
    ApiError::not_found("Invalid API Key identifier specified")
}

/// A key as answered: without its value unless `with_value`.
fn answered(key: &ApiKey, with_value: bool) -> Value {
    let mut v = serde_json::to_value(key).unwrap_or(Value::Null);
    if !with_value {
        if let Some(m) = v.as_object_mut() {
            m.remove("value");
        }
    }
    v
}

/// AWS's rule for a given value: 20 to 128 characters (`API Key value should be at least
/// 20 characters`, and printable ASCII as the gateway compares it).
fn check_value(value: &str) -> Result<(), ApiError> {
    if value.len() < 20 {
        return Err(ApiError::bad_request(
            "API Key value should be at least 20 characters",
        ));
    }
    if value.len() > 128 || !value.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(ApiError::bad_request(
            "API Key value must be at most 128 printable ASCII characters",
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    enabled: bool,
    value: Option<String>,
    customer_id: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// `POST /apikeys` → 201 with the value (generated, 40 alphanumerics, when none is given).
pub fn create(t: &mut TrafficState, body: &[u8]) -> Result<Reply, ApiError> {
    let input: CreateInput = input(body)?;
    let value = match input.value {
        Some(v) => {
            check_value(&v)?;
            v
        }
        None => generated_value()?,
    };
    if t.keys.values().any(|k| k.value == value) {
        return Err(ApiError::conflict("API Key already exists"));
    }
    let now = ids::now_secs();
    let id = new_key_id(t);
    let key = ApiKey {
        id: id.clone(),
        value,
        name: input.name.unwrap_or_else(|| id.clone()),
        description: input.description,
        enabled: input.enabled,
        customer_id: input.customer_id,
        created_date: now,
        last_updated_date: now,
        stage_keys: Vec::new(),
        tags: input.tags,
    };
    let reply = Reply::value(201, answered(&key, true));
    t.keys.insert(id, key);
    Ok(reply)
}

fn new_key_id(t: &TrafficState) -> String {
    ids::unused(10, |id| t.keys.contains_key(id))
}

/// 40 random letters and digits, as AWS generates them, from the system's CSPRNG (a key is
/// a secret: not from `fastrand`, whose stream also makes request ids). Bytes of 248 and
/// above are dropped (248 = 4 × 62), so every character is equally likely.
fn generated_value() -> Result<String, ApiError> {
    use ring::rand::SecureRandom;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let rng = ring::rand::SystemRandom::new();
    let mut out = String::with_capacity(40);
    while out.len() < 40 {
        let mut bytes = [0u8; 64];
        rng.fill(&mut bytes)
            .map_err(|_| ApiError::internal("no randomness for a key value"))?;
        for b in bytes.iter().filter(|b| **b < 248) {
            if out.len() < 40 {
                out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

/// `GET /apikeys[?nameQuery=&includeValues=true&customerId=]`.
pub fn list(t: &TrafficState, query: &str) -> Result<Reply, ApiError> {
    let name = query_param(query, "nameQuery");
    let customer = query_param(query, "customerId");
    let values = query_param(query, "includeValues").is_some_and(|v| v == "true");
    let mut keys: Vec<&ApiKey> = t
        .keys
        .values()
        .filter(|k| name.as_ref().is_none_or(|n| k.name.starts_with(n.as_str())))
        .filter(|k| {
            customer
                .as_ref()
                .is_none_or(|c| k.customer_id.as_ref() == Some(c))
        })
        .collect();
    keys.sort_by(|a, b| (a.created_date, &a.id).cmp(&(b.created_date, &b.id)));
    let items = keys.into_iter().map(|k| answered(k, values)).collect();
    page_by_id(items, query)
}

/// `GET /apikeys/{id}[?includeValue=true]`.
pub fn get(t: &TrafficState, id: &str, query: &str) -> Result<Reply, ApiError> {
    let key = t.keys.get(id).ok_or_else(invalid_key)?;
    let value = query_param(query, "includeValue").is_some_and(|v| v == "true");
    Ok(Reply::value(200, answered(key, value)))
}

/// `PATCH /apikeys/{id}`: `/name`, `/description`, `/enabled`, `/customerId`.
pub fn update(t: &mut TrafficState, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    const PATHS: [&str; 4] = ["/name", "/description", "/enabled", "/customerId"];
    let ops = patch::parse(body, "updateApiKeyInput")?;
    let key = t.keys.get_mut(id).ok_or_else(invalid_key)?;
    for op in &ops {
        match (op.op.as_str(), op.path.as_str()) {
            ("replace", "/name") => key.name = op.value()?.to_string(),
            ("replace", "/description") => key.description = op.value.clone(),
            ("replace", "/enabled") => key.enabled = op.bool_value()?,
            ("replace", "/customerId") => key.customer_id = op.value.clone(),
            _ => return Err(op.invalid_path(&PATHS)),
        }
    }
    key.last_updated_date = ids::now_secs();
    Ok(Reply::value(200, answered(key, false)))
}

/// `DELETE /apikeys/{id}` → 202 (and out of every plan).
pub fn delete(t: &mut TrafficState, id: &str) -> Result<Reply, ApiError> {
    t.keys.remove(id).ok_or_else(invalid_key)?;
    for keys in t.plan_keys.values_mut() {
        keys.remove(id);
    }
    Ok(Reply::empty(202))
}

/// `POST /apikeys?mode=import&format=csv[&failonwarnings=true]` → 201 `{"ids": [...],
/// "warnings": []}`: all rows or none (`Name,Key,Enabled,Description,UsagePlanIds`).
pub fn import(t: &mut TrafficState, query: &str, body: &[u8]) -> Result<Reply, ApiError> {
    if query_param(query, "format").as_deref() != Some("csv") {
        return Err(ApiError::bad_request(
            "Invalid format specified: only csv is supported",
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("The CSV file is not UTF-8"))?;
    let rows = crate::config::key_import::parse(
        text,
        |plan| t.plans.contains_key(plan),
        |value| t.keys.values().any(|k| k.value == value),
    )
    .map_err(|lines| {
        ApiError::bad_request(format!("Invalid API keys file: {}", lines.join("; ")))
    })?;
    let now = ids::now_secs();
    let mut made = Vec::new();
    for row in rows {
        let id = new_key_id(t);
        for plan in &row.plans {
            t.plan_keys
                .entry(plan.clone())
                .or_default()
                .insert(id.clone());
        }
        t.keys.insert(
            id.clone(),
            ApiKey {
                id: id.clone(),
                value: row.value,
                name: row.name,
                description: (!row.description.is_empty()).then_some(row.description),
                enabled: row.enabled,
                customer_id: None,
                created_date: now,
                last_updated_date: now,
                stage_keys: Vec::new(),
                tags: BTreeMap::new(),
            },
        );
        made.push(id);
    }
    Ok(Reply::value(
        201,
        serde_json::json!({ "ids": made, "warnings": [] }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_and_generated_as_aws_does() {
        assert_eq!(
            check_value("short").unwrap_err().message,
            "API Key value should be at least 20 characters"
        );
        assert!(check_value("a-long-enough-key-value-0123").is_ok());
        let v = generated_value().expect("randomness");
        assert_eq!(v.len(), 40);
        assert!(v.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
