//! Request validation (AWS `RequestValidator`): the method's required request parameters and
//! its request body against the model (a JSON Schema draft 4 document) for the request's
//! media type. Models are compiled by the control plane; a shard only runs them.
//!
//! Failures, as API Gateway answers them (developer guide, "Request validation for REST APIs
//! in API Gateway"): 400 `BAD_REQUEST_PARAMETERS` `{"message": "Missing required request
//! parameters: [a, b]"}` and 400 `BAD_REQUEST_BODY` `{"message": "Invalid request body"}`;
//! `$context.error.validationErrorString` holds the details, worded as the Java
//! json-schema-validator that API Gateway runs words them (`object has missing required
//! properties (["name"])`).

use std::sync::Arc;

use crate::http::RequestHead;
use crate::template::ParamKind;

/// What a method validates.
#[derive(Debug, Default)]
pub struct Validation {
    /// Required parameters (`validateRequestParameters` with `method.request.*.NAME = true`),
    /// in declaration order.
    pub required: Vec<RequiredParam>,
    /// Models by lower-case media type (`validateRequestBody` with `requestModels`).
    pub body_models: Vec<(Box<str>, Arc<Model>)>,
}

/// A required request parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredParam {
    /// Header, query string or path.
    pub kind: ParamKind,
    /// Its name.
    pub name: Box<str>,
}

/// A compiled model.
#[derive(Debug)]
pub struct Model {
    /// The model's name.
    pub name: Box<str>,
    validator: jsonschema::Validator,
}

impl Model {
    /// Compiles a draft 4 schema (`$schema` may name another draft; API Gateway's models are
    /// draft 4, which is the default here). The error says what is wrong with the schema.
    pub fn compile(name: &str, schema: &str) -> Result<Model, String> {
        let doc: serde_json::Value =
            serde_json::from_str(schema).map_err(|e| format!("the schema is not JSON: {e}"))?;
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .build(&doc)
            .map_err(|e| format!("the schema is not a valid JSON Schema: {e}"))?;
        Ok(Model {
            name: name.into(),
            validator,
        })
    }

    /// Checks `body`; the error is the validation error string.
    pub fn check(&self, body: &[u8]) -> Result<(), String> {
        // An empty body is validated too (LocalStack's AWS-validated request validator test:
        // 400 against a model with required fields); it reads as `{}` here.
        let body = if body.trim_ascii().is_empty() {
            b"{}"
        } else {
            body
        };
        let instance: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return Err(format!("[Invalid JSON: {e}]")),
        };
        let mut messages: Vec<String> = Vec::new();
        let mut missing: Vec<(String, Vec<String>)> = Vec::new();
        for error in self.validator.iter_errors(&instance) {
            let at = error.instance_path().to_string();
            if let jsonschema::error::ValidationErrorKind::Required { property } = error.kind() {
                let name = property.to_string();
                match missing.iter_mut().find(|(p, _)| *p == at) {
                    Some((_, names)) => names.push(name),
                    None => missing.push((at, vec![name])),
                }
                continue;
            }
            messages.push(describe(&error));
        }
        for (_, mut names) in missing {
            names.sort();
            messages.push(format!(
                "object has missing required properties ([{}])",
                names.join(",")
            ));
        }
        if messages.is_empty() {
            Ok(())
        } else {
            Err(format!("[{}]", messages.join(", ")))
        }
    }
}

/// One error in the Java validator's words (com.github.fge json-schema-validator's messages,
/// which API Gateway's `validationErrorString` shows); other keywords in the crate's words.
fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    let instance = error.instance();
    match error.kind() {
        K::Type { kind } => {
            let allowed = match kind {
                jsonschema::error::TypeKind::Single(t) => format!("\"{t}\""),
                jsonschema::error::TypeKind::Multiple(ts) => ts
                    .iter()
                    .map(|t| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(","),
            };
            format!(
                "instance type ({}) does not match any allowed primitive type (allowed: [{allowed}])",
                json_type(instance)
            )
        }
        K::Enum { options } => {
            format!("instance value ({instance}) not found in enum (possible values: {options})")
        }
        K::Minimum { limit } => format!(
            "numeric instance is lower than the required minimum (minimum: {limit}, found: {instance})"
        ),
        K::Maximum { limit } => format!(
            "numeric instance is greater than the required maximum (maximum: {limit}, found: {instance})"
        ),
        K::MinLength { limit } => format!(
            "string {instance} is too short (length: {}, expected minimum: {limit})",
            str_len(instance)
        ),
        K::MaxLength { limit } => format!(
            "string {instance} is too long (length: {}, expected maximum: {limit})",
            str_len(instance)
        ),
        K::Pattern { pattern } => {
            format!("ECMA 262 regex \"{pattern}\" does not match input string {instance}")
        }
        K::AdditionalProperties { unexpected } => format!(
            "object instance has properties which are not allowed by the schema: [{}]",
            unexpected
                .iter()
                .map(|u| format!("\"{u}\""))
                .collect::<Vec<_>>()
                .join(",")
        ),
        K::MinItems { limit } => format!(
            "array is too short: must have at least {limit} elements but instance has {} elements",
            instance.as_array().map_or(0, Vec::len)
        ),
        K::MaxItems { limit } => format!(
            "array is too long: must have at most {limit} elements but instance has {} elements",
            instance.as_array().map_or(0, Vec::len)
        ),
        _ => error.to_string(),
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn str_len(v: &serde_json::Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

impl Validation {
    /// The names of the required parameters `head` lacks, headers first, then path, then
    /// query string (the order of their `method.request.*` keys, as AWS lists them:
    /// LocalStack's AWS-validated `test_request_validator_with_missing_params`, `[x-header-param,
    /// issuer, qs1]`). A blank value counts as missing (developer guide, "Request validation":
    /// `?q1=` and an empty header fail).
    pub fn missing_parameters(&self, head: &RequestHead, base: &[u8]) -> Vec<&str> {
        let rank = |k: ParamKind| match k {
            ParamKind::Header => 0,
            ParamKind::Path => 1,
            ParamKind::Querystring => 2,
        };
        let mut missing: Vec<&RequiredParam> = self
            .required
            .iter()
            .filter(|p| !present(p, head, base))
            .collect();
        missing.sort_by(|a, b| (rank(a.kind), &a.name).cmp(&(rank(b.kind), &b.name)));
        missing.into_iter().map(|p| &*p.name).collect()
    }

    /// The model for the request's media type (`application/json` without a Content-Type);
    /// `None`: the body is not validated.
    /// A model keyed `$default` validates any other media type (developer guide, "Request
    /// validation").
    pub fn model_for(&self, content_type: Option<&[u8]>) -> Option<&Model> {
        if self.body_models.is_empty() {
            return None;
        }
        let media = content_type.map_or_else(
            || "application/json".to_string(),
            crate::mapping::media_type,
        );
        let find = |key: &str| self.body_models.iter().find(|(m, _)| **m == *key);
        find(&media)
            .or_else(|| find("$default"))
            .map(|(_, model)| &**model)
    }
}

fn present(p: &RequiredParam, head: &RequestHead, base: &[u8]) -> bool {
    match p.kind {
        ParamKind::Header => head.header(base, &p.name).is_some_and(|v| !v.is_empty()),
        ParamKind::Path => true,
        ParamKind::Querystring => head.query.is_some_and(|q| {
            q.get(base).split(|&b| b == b'&').any(|pair| {
                let mut parts = pair.splitn(2, |&b| b == b'=');
                let name = parts.next().unwrap_or(&[]);
                let value = parts.next().unwrap_or(&[]);
                let mut decoded = Vec::with_capacity(name.len());
                crate::integration::aws_proxy::event::percent_decode(&mut decoded, name);
                decoded == p.name.as_bytes() && !value.is_empty()
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PET: &str = r#"{
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "required": ["name", "type"],
        "properties": {
            "name": {"type": "string", "minLength": 2},
            "type": {"enum": ["dog", "cat"]},
            "price": {"type": "number", "minimum": 0}
        }
    }"#;

    #[test]
    fn a_valid_body_passes_and_errors_read_as_the_java_validator_words_them() {
        let m = Model::compile("Pet", PET).unwrap();
        assert_eq!(m.check(br#"{"name":"rex","type":"dog","price":3}"#), Ok(()));
        assert_eq!(
            m.check(b"{}"),
            Err(r#"[object has missing required properties (["name","type"])]"#.into())
        );
        assert_eq!(
            m.check(br#"{"name":5,"type":"dog"}"#),
            Err(r#"[instance type (integer) does not match any allowed primitive type (allowed: ["string"])]"#.into())
        );
        let e = m
            .check(br#"{"name":"r","type":"cow","price":-1}"#)
            .unwrap_err();
        assert!(
            e.contains(r#"string "r" is too short (length: 1, expected minimum: 2)"#),
            "{e}"
        );
        assert!(
            e.contains(
                r#"instance value ("cow") not found in enum (possible values: ["dog","cat"])"#
            ),
            "{e}"
        );
        assert!(
            e.contains(
                "numeric instance is lower than the required minimum (minimum: 0, found: -1)"
            ),
            "{e}"
        );
        assert!(m.check(b"not json").is_err());
    }

    #[test]
    fn a_bad_schema_is_refused() {
        assert!(Model::compile("X", "{").unwrap_err().contains("not JSON"));
        assert!(Model::compile("X", r#"{"type": 5}"#).is_err());
    }
}
