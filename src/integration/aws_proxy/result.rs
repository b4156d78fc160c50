//! The Lambda proxy result: what a function returns, checked the way REST APIs check it.
//!
//! A result is a JSON object with at most `statusCode`, `headers`, `multiValueHeaders`, `body`
//! and `isBase64Encoded`; anything else is a malformed result, which the caller answers with
//! `502 {"message": "Internal server error"}` (AWS docs, "Output format of a Lambda function for
//! proxy integration"). Sources: the AWS-validated cases of localstack/localstack
//! `tests/aws/services/apigateway/test_apigateway_lambda.py`
//! (`test_aws_proxy_response_payload_format_validation`, `test_lambda_aws_proxy_response_format`,
//! "the LocalStack tests" below) and LocalStack's parser
//! (`services/apigateway/next_gen/execute_api/integrations/aws.py`, `parse_lambda_response`).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use crate::http::media::{decode_base64, is_binary_accept};

/// The response the function asked for. Header values are as the function wrote them; the
/// caller adds `Content-Type: application/json` when the function set none (LocalStack `aws.py`
/// starts the response headers from it) and the gateway's own headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyResult {
    pub status: u16,
    /// `headers` and `multiValueHeaders` merged, in the function's order, one entry per line.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a result is malformed; the message is for the log, the client only sees the 502.
#[derive(Debug, thiserror::Error)]
pub enum MalformedResult {
    #[error("the function's result is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("the function's result is not a JSON object")]
    NotAnObject,
    /// The Invoke payload of a function that threw (`{"errorMessage": ..., "errorType": ...}`).
    #[error("the function failed: {0}")]
    FunctionError(String),
    #[error(
        "the result has the key `{0}`; allowed are statusCode, headers, multiValueHeaders, body \
         and isBase64Encoded"
    )]
    UnknownKey(String),
    #[error("`statusCode` {0} is not a status code from 200 to 599")]
    StatusCode(String),
    #[error("`{0}` is not an object")]
    NotAnObjectField(&'static str),
    #[error("`multiValueHeaders.{0}` is not a list")]
    NotAList(String),
    #[error("`{field}.{name}` holds a value that is not a string, number or boolean")]
    HeaderValue { field: &'static str, name: String },
    #[error("`{0}` is not a valid header name")]
    HeaderName(String),
    #[error("the value of header `{0}` has a control character")]
    HeaderControl(String),
    #[error("`body` is not a string")]
    Body,
    #[error("`isBase64Encoded` is not a boolean")]
    IsBase64Encoded,
    #[error("`body` is not valid base64 though `isBase64Encoded` is true")]
    Base64,
}

use MalformedResult as M;

const KEYS: [&str; 5] = [
    "statusCode",
    "headers",
    "multiValueHeaders",
    "body",
    "isBase64Encoded",
];

/// Parses the function's Invoke payload. `accept` (the request's Accept header) and
/// `binary_media_types` decide whether an `isBase64Encoded: true` body is decoded to bytes: only
/// when the Accept header's first media type is one of the API's binary media types; otherwise
/// the base64 text is the body (AWS "Binary media types for REST APIs": "API Gateway uses the
/// first Accept header from clients to determine if a response should return binary media";
/// LocalStack `aws.py` checks only Accept; ministack PR #767 confirmed it against AWS).
pub fn parse_result(
    bytes: &[u8],
    accept: Option<&[u8]>,
    binary_media_types: &[Box<str>],
) -> Result<ProxyResult, MalformedResult> {
    // A string, `null`, a number or a list is malformed (LocalStack tests: "justAString" → 502).
    let Json::Object(members) = serde_json::from_slice::<Json>(bytes)? else {
        return Err(M::NotAnObject);
    };
    let mut fields: [Option<Json>; 5] = Default::default();
    for (key, value) in members {
        match KEYS.iter().position(|k| *k == key) {
            // A repeated key: the last one counts, as in every JSON object model.
            Some(i) => fields[i] = Some(value),
            None => {
                return Err(match value {
                    Json::Other(Value::String(m)) if key == "errorMessage" => M::FunctionError(m),
                    // Any other key is malformed (LocalStack tests: `wrongValue` → 502).
                    _ => M::UnknownKey(key),
                });
            }
        }
    }
    // `null` is the same as absent (LocalStack tests: `"headers": null` → 200).
    let [status, headers, multi, body, base64] =
        fields.map(|f| f.filter(|v| !matches!(v, Json::Other(Value::Null))));
    let status = match status {
        // No statusCode is 200 (LocalStack tests: `{}` and `{"headers": {...}}` → 200).
        None => 200,
        Some(v) => status_code(&v).ok_or_else(|| M::StatusCode(describe(&v)))?,
    };
    let headers = merge_headers(headers, multi)?;
    let base64 = match base64 {
        None => false,
        Some(Json::Other(Value::Bool(b))) => b,
        // Lambda's Java side reads `"true"`/`"false"` as booleans (Jackson scalar coercion).
        Some(Json::Other(Value::String(s))) if s.eq_ignore_ascii_case("true") => true,
        Some(Json::Other(Value::String(s))) if s.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(M::IsBase64Encoded),
    };
    let text = match body {
        None => String::new(),
        // An object or list body is malformed ("body must be a string": JSON.stringify it).
        Some(Json::Other(v)) => scalar(v).ok_or(M::Body)?,
        Some(Json::Object(_)) => return Err(M::Body),
    };
    let body = if base64 && is_binary_accept(accept, binary_media_types) {
        // Anything undecodable is malformed.
        decode_base64(text.as_bytes()).ok_or(M::Base64)?
    } else {
        // Without a binary Accept the base64 text itself is the body (LocalStack tests:
        // "b64-encoded-true" → 200 with no binary media types).
        text.into_bytes()
    };
    Ok(ProxyResult {
        status,
        headers,
        body,
    })
}

/// A number (a fraction truncated, as Jackson reads an int) or a numeric string (LocalStack
/// tests: `"201"` → 201, `"test"` → 502). Tollgate also refuses codes outside 200..=599: a 1xx
/// cannot end an exchange and HTTP has no higher class.
fn status_code(v: &Json) -> Option<u16> {
    let code = match v {
        Json::Other(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Json::Other(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    code.filter(|c| (200..=599).contains(c)).map(|c| c as u16)
}

/// `headers` then `multiValueHeaders`, each in the function's order. A name with a non-empty
/// list in `multiValueHeaders` drops the same name (case-insensitively) from `headers` (AWS docs:
/// "If the same key-value pair is specified in both, only the values from multiValueHeaders will
/// appear in the merged list"; LocalStack tests "multi-headers-overwrite(-casing)").
fn merge_headers(
    single: Option<Json>,
    multi: Option<Json>,
) -> Result<Vec<(String, String)>, MalformedResult> {
    let single = members(single, "headers")?;
    let mut lists = Vec::new();
    for (name, list) in members(multi, "multiValueHeaders")? {
        // `{"test-multi-invalid": "value1"}` is malformed (LocalStack tests → 502).
        let Json::Other(Value::Array(items)) = list else {
            return Err(M::NotAList(name));
        };
        let values = items.into_iter().map(scalar).collect::<Option<Vec<_>>>();
        let values = values.ok_or_else(|| M::HeaderValue {
            field: "multiValueHeaders",
            name: name.clone(),
        })?;
        lists.push((name, values));
    }
    let mut out = Vec::new();
    for (name, value) in single {
        // Strings, and booleans as "true"/"false" (LocalStack tests: `"header-bool": true` → 200;
        // `aws.py` `serialize_header`); numbers as written (Jackson coerces them to strings).
        let value = match value {
            Json::Other(v) => scalar(v),
            Json::Object(_) => None,
        };
        let value = value.ok_or_else(|| M::HeaderValue {
            field: "headers",
            name: name.clone(),
        })?;
        let overridden = lists
            .iter()
            .any(|(n, v)| !v.is_empty() && n.eq_ignore_ascii_case(&name));
        if !overridden {
            out.push((name, value));
        }
    }
    for (name, values) in lists {
        out.extend(values.into_iter().map(|v| (name.clone(), v)));
    }
    // Not AWS-documented: a name or value the HTTP writer cannot carry as is would split or
    // corrupt the response, so it is a malformed result rather than something to repair.
    for (name, value) in &out {
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(M::HeaderName(name.clone()));
        }
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(M::HeaderControl(name.clone()));
        }
    }
    Ok(out)
}

/// The members of an object field (absent: none), a repeated name keeping its last value.
fn members(v: Option<Json>, field: &'static str) -> Result<Vec<(String, Json)>, MalformedResult> {
    match v {
        None => Ok(Vec::new()),
        Some(Json::Object(mut m)) => {
            let mut i = 0;
            while i < m.len() {
                if m[i + 1..].iter().any(|(k, _)| *k == m[i].0) {
                    m.remove(i);
                } else {
                    i += 1;
                }
            }
            Ok(m)
        }
        Some(Json::Other(_)) => Err(M::NotAnObjectField(field)),
    }
}

/// A string, number or boolean as header or body text.
fn scalar(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn describe(v: &Json) -> String {
    match v {
        Json::Other(v) => v.to_string(),
        Json::Object(_) => "{...}".into(),
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A JSON value whose objects keep their members in document order and with repeats:
/// serde_json's `Map` sorts them (no `preserve_order` here), and header order is the function's.
enum Json {
    Object(Vec<(String, Json)>),
    Other(Value),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Other(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Other(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Other(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Other(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Other(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Other(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Other(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Json::Other(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry::<String, Json>()? {
            members.push(member);
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ProxyResult, MalformedResult> {
        parse_result(json.as_bytes(), Some(b"*/*"), &[])
    }

    fn ok(status: u16, headers: &[(&str, &str)], body: &[u8]) -> ProxyResult {
        let headers = headers.iter().map(|&(n, v)| (n.into(), v.into())).collect();
        ProxyResult {
            status,
            headers,
            body: body.to_vec(),
        }
    }

    #[test]
    fn valid_results() {
        assert_eq!(parse(r#"{"statusCode": 200}"#).unwrap(), ok(200, &[], b""));
        assert_eq!(parse("{}").unwrap(), ok(200, &[], b""));
        assert_eq!(
            parse(r#"{"headers": {"test-header": "value"}}"#).unwrap(),
            ok(200, &[("test-header", "value")], b"")
        );
        assert_eq!(
            parse(
                r#"{"statusCode": "201", "headers": null, "body": "hi", "isBase64Encoded": false}"#
            )
            .unwrap(),
            ok(201, &[], b"hi")
        );
        assert_eq!(
            parse(r#"{"statusCode": 404.0, "multiValueHeaders": null, "body": null}"#).unwrap(),
            ok(404, &[], b"")
        );
        assert_eq!(
            parse(r#"{"statusCode": null, "body": 12}"#).unwrap(),
            ok(200, &[], b"12")
        );
        // A repeated key: the last one counts.
        let twice = parse(r#"{"statusCode": 500, "statusCode": 201}"#).unwrap();
        assert_eq!(twice.status, 201);
    }

    #[test]
    fn header_values_may_be_booleans_and_numbers() {
        let r = parse(r#"{"headers": {"b": true, "n": 12, "f": 1.5, "s": "x"}}"#).unwrap();
        assert_eq!(
            r.headers,
            ok(
                0,
                &[("b", "true"), ("n", "12"), ("f", "1.5"), ("s", "x")],
                b""
            )
            .headers
        );
        let r = parse(r#"{"multiValueHeaders": {"m": [false, 7, "x"]}}"#).unwrap();
        assert_eq!(
            r.headers,
            ok(0, &[("m", "false"), ("m", "7"), ("m", "x")], b"").headers
        );
    }

    #[test]
    fn multi_value_headers_merge_over_headers_in_order() {
        let r = parse(
            r#"{"headers": {"z-solo": "1", "test-multi": "value-solo", "Set-Cookie": "a=0",
                "dup": "first", "dup": "last"},
                "multiValueHeaders": {"tesT-Multi": ["value-multi"],
                "set-cookie": ["a=1", "b=2"], "empty": [], "dup": []}}"#,
        )
        .unwrap();
        assert_eq!(
            r.headers,
            ok(
                0,
                &[
                    ("z-solo", "1"),
                    ("dup", "last"),
                    ("tesT-Multi", "value-multi"),
                    ("set-cookie", "a=1"),
                    ("set-cookie", "b=2"),
                ],
                b""
            )
            .headers
        );
    }

    #[test]
    fn base64_bodies_are_decoded_only_for_a_binary_accept() {
        let json = br#"{"statusCode": 200, "body": "dGVzdC1kYXRh", "isBase64Encoded": true}"#;
        let types: Vec<Box<str>> = vec!["image/png".into()];
        let body = |accept: Option<&str>, types: &[Box<str>]| {
            parse_result(json, accept.map(str::as_bytes), types)
                .unwrap()
                .body
        };
        assert_eq!(body(Some("image/png"), &types), b"test-data");
        assert_eq!(
            body(Some("image/png;q=0.9, text/html"), &types),
            b"test-data"
        );
        assert_eq!(body(Some("image/png,text/html"), &types), b"test-data");
        // Only the first media type counts, and the response Content-Type does not.
        assert_eq!(body(Some("text/html, image/png"), &types), b"dGVzdC1kYXRh");
        assert_eq!(body(Some("*/*"), &types), b"dGVzdC1kYXRh");
        assert_eq!(body(None, &types), b"dGVzdC1kYXRh");
        assert_eq!(body(Some("image/png"), &[]), b"dGVzdC1kYXRh");
        assert_eq!(body(Some("text/html"), &["*/*".into()]), b"test-data");
        // `isBase64Encoded` false or absent: never decoded.
        let plain = br#"{"body": "dGVzdC1kYXRh", "isBase64Encoded": "false"}"#;
        assert_eq!(
            parse_result(plain, Some(b"image/png"), &types)
                .unwrap()
                .body,
            b"dGVzdC1kYXRh"
        );
        // Unpadded base64 is fine; broken base64 is malformed only when it is decoded.
        let unpadded = br#"{"body": "dGVzdC1kYXRhMQ", "isBase64Encoded": "TRUE"}"#;
        assert_eq!(
            parse_result(unpadded, Some(b"image/png"), &types)
                .unwrap()
                .body,
            b"test-data1"
        );
        let broken = br#"{"body": "not base64!", "isBase64Encoded": true}"#;
        assert!(matches!(
            parse_result(broken, Some(b"image/png"), &types),
            Err(M::Base64)
        ));
        assert_eq!(
            parse_result(broken, Some(b"text/html"), &types)
                .unwrap()
                .body,
            b"not base64!"
        );
    }

    #[test]
    fn malformed_results() {
        let err = |json: &str| parse(json).unwrap_err();
        assert!(matches!(err("not json"), M::NotJson(_)));
        assert!(matches!(err(""), M::NotJson(_)));
        assert!(matches!(err(r#"{"statusCode": 200} x"#), M::NotJson(_)));
        for json in [r#""justAString""#, "null", "[]", "200", "true"] {
            assert!(matches!(err(json), M::NotAnObject), "{json}");
        }
        assert!(matches!(
            err(r#"{"statusCode": 200, "wrongValue": "value"}"#),
            M::UnknownKey(k) if k == "wrongValue"
        ));
        assert!(matches!(
            err(r#"{"errorMessage": "boom", "errorType": "Exception"}"#),
            M::FunctionError(m) if m == "boom"
        ));
        for json in [
            r#"{"statusCode": "test"}"#,
            r#"{"statusCode": 99}"#,
            r#"{"statusCode": 101}"#,
            r#"{"statusCode": 600}"#,
            r#"{"statusCode": -200}"#,
            r#"{"statusCode": true}"#,
            r#"{"statusCode": {}}"#,
        ] {
            assert!(matches!(err(json), M::StatusCode(_)), "{json}");
        }
        assert!(matches!(
            err(r#"{"headers": "x"}"#),
            M::NotAnObjectField("headers")
        ));
        assert!(matches!(
            err(r#"{"multiValueHeaders": []}"#),
            M::NotAnObjectField("multiValueHeaders")
        ));
        assert!(matches!(
            err(r#"{"multiValueHeaders": {"test-multi-invalid": "value1"}}"#),
            M::NotAList(n) if n == "test-multi-invalid"
        ));
        assert!(matches!(
            err(r#"{"multiValueHeaders": {"m": [null]}}"#),
            M::HeaderValue {
                field: "multiValueHeaders",
                ..
            }
        ));
        for json in [
            r#"{"headers": {"h": {"a": 1}}}"#,
            r#"{"headers": {"h": null}}"#,
            r#"{"headers": {"h": ["a"]}}"#,
        ] {
            assert!(
                matches!(
                    err(json),
                    M::HeaderValue {
                        field: "headers",
                        ..
                    }
                ),
                "{json}"
            );
        }
        assert!(matches!(
            err(r#"{"headers": {"a b": "1"}}"#),
            M::HeaderName(_)
        ));
        assert!(matches!(err(r#"{"headers": {"": "1"}}"#), M::HeaderName(_)));
        assert!(matches!(
            err(r#"{"headers": {"x": "1\r\nSet-Cookie: evil"}}"#),
            M::HeaderControl(_)
        ));
        assert!(matches!(err(r#"{"body": {"message": "hi"}}"#), M::Body));
        assert!(matches!(err(r#"{"body": ["hi"]}"#), M::Body));
        assert!(matches!(
            err(r#"{"isBase64Encoded": 1}"#),
            M::IsBase64Encoded
        ));
    }
}
