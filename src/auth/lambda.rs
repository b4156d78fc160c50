//! Lambda authorizers, `TOKEN` and `REQUEST`, as API Gateway runs them (developer guide, "Use
//! API Gateway Lambda authorizers", its input and output pages; API reference,
//! `CreateAuthorizer`).
//!
//! A leaf: [`identity`] reads the identity sources from the request (missing → 401 before any
//! call), [`write_token_event`] or the proxy event writer (`REQUEST`) builds what the function
//! receives, [`authorize`] invokes it through the same path as `AWS_PROXY` (hosted or Invoke
//! API) and [`parse_result`] turns its answer into a [`Grant`]. Caching the grant and
//! evaluating its policy against each method ARN is the pipeline's (`pipeline::authorize`).
//!
//! Outcomes, as AWS answers them (recorded bodies collected in the research notes quoted in
//! `gateway_response`): a missing or empty identity source, a token that fails
//! `identityValidationExpression`, or a function failing with the message `Unauthorized` →
//! 401 `{"message":"Unauthorized"}`; any other function error, a timeout, or a result that is
//! not a well-formed policy → 500 `AUTHORIZER_CONFIGURATION_ERROR` (`{"message": null}`).

use std::rc::Rc;
use std::time::Instant;

use serde_json::Value;

use super::policy::{AsWritten, Policy};
use crate::gateway_response::GatewayResponse;
use crate::http::RequestHead;
use crate::integration::aws_proxy::{self, Invoker};
use crate::snapshot::AwsProxyIntegration;

/// One Lambda authorizer, instantiated for one stage (its function URI may name stage
/// variables).
#[derive(Debug)]
pub struct LambdaAuthorizer {
    /// Its name in the API file (AWS `Authorizer.name`), for logs.
    pub name: Box<str>,
    /// `TOKEN` or `REQUEST`.
    pub kind: AuthorizerKind,
    /// The function, invoked as an `AWS_PROXY` integration's would be.
    pub function: AwsProxyIntegration,
    /// `identitySource`, in order.
    pub identity_sources: Box<[IdentitySource]>,
    /// `identityValidationExpression` (`TOKEN` only), anchored as Java's `matches()` is.
    pub validation: Option<Validation>,
    /// `authorizerResultTtlInSeconds` in milliseconds; 0 disables caching.
    pub ttl_ms: u64,
    /// What this authorizer's cache keys start with: API, stage, name and a fingerprint of
    /// its settings, so a reload that changes it starts afresh and one that does not keeps
    /// its cached results.
    pub scope: Box<str>,
}

/// A `TOKEN` authorizer's `identityValidationExpression`, matched without a lock. The
/// compiled expression reaches every shard through the snapshot, and a `regex::Regex` keeps
/// one pool of match caches that only its first thread takes lock-free: every other thread
/// goes through a mutex (regex-automata's `Pool`). So each shard matches with its own clone
/// (a clone shares the compiled program and has a fresh pool), made at its first token and
/// kept in a thread-local map keyed by the pattern.
#[derive(Debug, Clone)]
pub struct Validation(regex::Regex);

/// Patterns a shard keeps clones of; past this (many reloads with new patterns) it starts
/// afresh.
const MAX_SHARD_CLONES: usize = 256;

impl Validation {
    /// The anchored expression, compiled by the control plane.
    pub fn new(regex: regex::Regex) -> Self {
        Validation(regex)
    }

    /// Whether `token` matches, with this thread's clone.
    pub fn is_match(&self, token: &str) -> bool {
        thread_local! {
            static CLONES: std::cell::RefCell<ahash::AHashMap<Box<str>, regex::Regex>> =
                Default::default();
        }
        CLONES.with(|clones| {
            let mut clones = clones.borrow_mut();
            if let Some(mine) = clones.get(self.0.as_str()) {
                return mine.is_match(token);
            }
            if clones.len() >= MAX_SHARD_CLONES {
                clones.clear();
            }
            let mine = self.0.clone();
            let hit = mine.is_match(token);
            clones.insert(self.0.as_str().into(), mine);
            hit
        })
    }
}

/// `Authorizer.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerKind {
    /// One header is the token.
    Token,
    /// Headers, query string, stage variables and context are the identity.
    Request,
}

/// One `identitySource` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// `method.request.header.NAME` (names compare case-insensitively).
    Header(Box<str>),
    /// `method.request.querystring.NAME`.
    Query(Box<str>),
    /// `stageVariables.NAME`.
    StageVariable(Box<str>),
    /// `context.NAME`.
    Context(ContextSource),
}

/// The `$context` variables an identity source may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextSource {
    /// `context.identity.sourceIp`.
    SourceIp,
    /// `context.httpMethod`.
    HttpMethod,
    /// `context.stage`.
    Stage,
    /// `context.resourcePath`.
    ResourcePath,
    /// `context.path`.
    Path,
    /// `context.apiId`.
    ApiId,
    /// `context.identity.userAgent`.
    UserAgent,
}

impl IdentitySource {
    /// Parses one entry of `identitySource` (without surrounding spaces).
    pub fn parse(text: &str) -> Result<IdentitySource, String> {
        // `route.request.*` is how WebSocket APIs' authorizers name the same sources
        // (apigatewayv2 `CreateAuthorizer`: "route.request.header.Auth").
        let request = text
            .strip_prefix("method.request.")
            .or_else(|| text.strip_prefix("route.request."));
        if let Some(name) = request.and_then(|r| r.strip_prefix("header.")) {
            return named(name, text).map(IdentitySource::Header);
        }
        if let Some(name) = request.and_then(|r| r.strip_prefix("querystring.")) {
            return named(name, text).map(IdentitySource::Query);
        }
        if let Some(name) = text.strip_prefix("stageVariables.") {
            return named(name, text).map(IdentitySource::StageVariable);
        }
        if let Some(name) = text.strip_prefix("context.") {
            let source = match name {
                "identity.sourceIp" => ContextSource::SourceIp,
                "httpMethod" => ContextSource::HttpMethod,
                "stage" => ContextSource::Stage,
                "resourcePath" => ContextSource::ResourcePath,
                "path" => ContextSource::Path,
                "apiId" => ContextSource::ApiId,
                "identity.userAgent" => ContextSource::UserAgent,
                _ => return Err(format!("`{text}`: context variable `{name}` cannot be an identity source here (use identity.sourceIp, identity.userAgent, httpMethod, stage, resourcePath, path or apiId)")),
            };
            return Ok(IdentitySource::Context(source));
        }
        Err(format!("`{text}` is not an identity source: use method.request.header.NAME, method.request.querystring.NAME, stageVariables.NAME or context.NAME"))
    }
}

fn named(name: &str, whole: &str) -> Result<Box<str>, String> {
    if name.is_empty() {
        Err(format!("`{whole}` names nothing"))
    } else {
        Ok(name.into())
    }
}

/// What the identity sources are read from.
pub struct IdentityFacts<'a> {
    /// The request head and its bytes.
    pub head: &'a RequestHead,
    /// The head's bytes.
    pub base: &'a [u8],
    /// The stage's name.
    pub stage_name: &'a str,
    /// The stage's variables.
    pub stage_variables: &'a [(Box<str>, Box<str>)],
    /// `$context.identity.sourceIp`.
    pub source_ip: &'a str,
    /// The request path as received (`$context.path`).
    pub full_path: &'a str,
    /// The configured resource path.
    pub resource_path: &'a str,
    /// The API id.
    pub api_id: &'a str,
}

/// A request without its identity: answered 401 without calling the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthorized;

/// Appends the identity source values to `key` (the cache key, after the scope) and returns
/// the token of a `TOKEN` authorizer. Every source must be present and non-empty
/// (`CreateAuthorizer`: "Only when this is true does the authorizer invoke the authorizer
/// Lambda function, otherwise, it returns a 401 Unauthorized response"); a token must match
/// `identityValidationExpression`.
pub fn identity<'a>(
    authorizer: &LambdaAuthorizer,
    facts: &IdentityFacts<'a>,
    key: &mut String,
) -> Result<Option<&'a str>, Unauthorized> {
    let mut token = None;
    for source in authorizer.identity_sources.iter() {
        let value = source_value(source, facts).filter(|v| !v.is_empty());
        let value = value.ok_or(Unauthorized)?;
        key.push('\u{1f}');
        key.push_str(value);
        token.get_or_insert(value);
    }
    if authorizer.kind == AuthorizerKind::Token {
        let token = token.ok_or(Unauthorized)?;
        if let Some(re) = &authorizer.validation {
            if !re.is_match(token) {
                return Err(Unauthorized);
            }
        }
        return Ok(Some(token));
    }
    Ok(None)
}

fn source_value<'a>(source: &IdentitySource, facts: &IdentityFacts<'a>) -> Option<&'a str> {
    let text = |b: &'a [u8]| std::str::from_utf8(b).ok();
    match source {
        // The last value of a repeated header: what the REQUEST event's `headers` carries, so
        // the cache key and the function see the same value.
        IdentitySource::Header(name) => facts
            .head
            .headers
            .iter()
            .rev()
            .find(|h| h.name.get(facts.base).eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|h| text(h.value.get(facts.base))),
        IdentitySource::Query(name) => {
            query_value(facts.head.query.map(|q| q.get(facts.base))?, name)
        }
        IdentitySource::StageVariable(name) => facts
            .stage_variables
            .iter()
            .find(|(k, _)| **k == **name)
            .map(|(_, v)| &**v),
        IdentitySource::Context(c) => Some(match c {
            ContextSource::SourceIp => facts.source_ip,
            ContextSource::HttpMethod => text(facts.head.method.get(facts.base))?,
            ContextSource::Stage => facts.stage_name,
            ContextSource::ResourcePath => facts.resource_path,
            ContextSource::Path => facts.full_path,
            ContextSource::ApiId => facts.api_id,
            ContextSource::UserAgent => {
                facts.head.header(facts.base, "user-agent").and_then(text)?
            }
        }),
    }
}

/// The last value of query parameter `name`, still percent-encoded (as `queryStringParameters`
/// keeps the last of repeated names).
fn query_value<'a>(query: &'a [u8], name: &str) -> Option<&'a str> {
    let query = std::str::from_utf8(query).ok()?;
    query.rsplit('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

/// Writes the `TOKEN` event: exactly `type`, `authorizationToken` and `methodArn` (developer
/// guide, "Input to an API Gateway Lambda authorizer").
pub fn write_token_event(token: &str, method_arn: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"type\":\"TOKEN\",\"authorizationToken\":");
    json_string(out, token);
    out.extend_from_slice(b",\"methodArn\":");
    json_string(out, method_arn);
    out.push(b'}');
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping of a &str never fails.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// What an authorizer's answer grants, cached by identity and re-evaluated for each method ARN.
#[derive(Debug)]
pub struct Grant {
    /// `principalId`.
    pub principal_id: Rc<str>,
    /// `policyDocument`, compiled.
    pub policy: Policy,
    /// `context`, values stringified as API Gateway passes them on.
    pub context: Rc<[(Box<str>, Box<str>)]>,
    /// `usageIdentifierKey`.
    pub usage_identifier_key: Option<Rc<str>>,
    /// Milliseconds the function took (`requestContext.authorizer.integrationLatency`).
    pub latency_ms: u64,
}

/// Why an authorizer did not grant anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401: the function said `Unauthorized`.
    Unauthorized,
    /// 500: the function failed or answered something that is not an authorizer result.
    Configuration(String),
}

impl Refusal {
    /// The gateway response for it.
    pub fn response(&self) -> GatewayResponse {
        match self {
            Refusal::Unauthorized => GatewayResponse::Unauthorized,
            Refusal::Configuration(_) => GatewayResponse::AuthorizerConfigurationError,
        }
    }
}

/// Invokes the authorizer's function with `event` and parses its answer.
pub async fn authorize(
    authorizer: &LambdaAuthorizer,
    invoker: Invoker<'_>,
    event: &[u8],
    request_id: &str,
    start_unix_ms: u64,
) -> Result<Grant, Refusal> {
    let started = Instant::now();
    let invoked = aws_proxy::invoke(invoker, event, request_id, start_unix_ms).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let raw = match invoked {
        Ok(raw) => raw,
        Err(failure) => {
            // `callback("Unauthorized")` / `raise Exception("Unauthorized")`: the one error
            // message that means 401 (developer guide's TOKEN authorizer example: "Return a
            // 401 Unauthorized response"; any other error is a 500).
            if failure.function_error().is_some_and(says_unauthorized) {
                return Err(Refusal::Unauthorized);
            }
            return Err(Refusal::Configuration(format!(
                "authorizer {} failed: {failure}",
                authorizer.name
            )));
        }
    };
    let mut grant = parse_result(&raw).map_err(|e| {
        Refusal::Configuration(format!(
            "Execution failed due to configuration error: authorizer {}: {e}",
            authorizer.name
        ))
    })?;
    grant.latency_ms = latency_ms;
    Ok(grant)
}

/// Whether a function error document's `errorMessage` is exactly `Unauthorized`.
fn says_unauthorized(body: &str) -> bool {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(Value::as_str)
                .map(|m| m == "Unauthorized")
        })
        .unwrap_or(false)
}

/// Parses an authorizer's result (developer guide, "Output from an API Gateway Lambda
/// authorizer"): `principalId` and `policyDocument` are required; `context` values must be
/// strings, numbers or booleans ("you cannot set a JSON object or array as a valid value of
/// any key in the context map") and reach the integration stringified.
pub fn parse_result(raw: &[u8]) -> Result<Grant, String> {
    let v: Value = serde_json::from_slice(raw)
        .map_err(|_| "Could not parse policy: the result is not JSON".to_string())?;
    let Some(obj) = v.as_object() else {
        return Err("Could not parse policy: the result is not an object".into());
    };
    let principal_id = match obj.get("principalId") {
        Some(Value::String(s)) => Rc::from(s.as_str()),
        Some(Value::Number(n)) => Rc::from(n.to_string().as_str()),
        _ => return Err("the result has no principalId".into()),
    };
    let policy = match obj.get("policyDocument") {
        Some(doc @ Value::Object(_)) => Policy::from_value(doc, &AsWritten),
        // Some runtimes return the document as a JSON string.
        Some(Value::String(text)) => Policy::parse(text, &AsWritten),
        _ => return Err("Could not parse policy: the result has no policyDocument".into()),
    }
    .map_err(|e| format!("Could not parse policy: {e}"))?;
    let mut context = Vec::new();
    match obj.get("context") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => continue,
                    _ => {
                        return Err(format!(
                            "Invalid JSON in response: context value `{k}` is an object or array"
                        ))
                    }
                };
                context.push((k.as_str().into(), text.into()));
            }
        }
        Some(_) => return Err("context must be an object".into()),
    }
    let usage_identifier_key = match obj.get("usageIdentifierKey") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Rc::from(s.as_str())),
        Some(_) => return Err("usageIdentifierKey must be a string".into()),
    };
    Ok(Grant {
        principal_id,
        policy,
        context: context.into(),
        usage_identifier_key,
        latency_ms: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::policy::{Decision, PolicyRequest};

    #[test]
    fn a_validation_expression_matches_the_same_on_every_thread() {
        let re = regex::Regex::new("^(?:Bearer [a-z]+)$").expect("a valid pattern");
        let v = std::sync::Arc::new(Validation::new(re));
        let check = |v: &Validation| {
            (0..3)
                .map(|_| (v.is_match("Bearer abc"), v.is_match("Bearer ABC")))
                .collect::<Vec<_>>()
        };
        let mine = check(&v);
        let other = {
            let v = std::sync::Arc::clone(&v);
            std::thread::spawn(move || check(&v))
                .join()
                .expect("the other thread")
        };
        assert_eq!(mine, vec![(true, false); 3]);
        assert_eq!(other, mine);
    }

    #[test]
    fn identity_sources_parse_as_aws_writes_them() {
        assert_eq!(
            IdentitySource::parse("method.request.header.Authorization"),
            Ok(IdentitySource::Header("Authorization".into()))
        );
        assert_eq!(
            IdentitySource::parse("method.request.querystring.token"),
            Ok(IdentitySource::Query("token".into()))
        );
        assert_eq!(
            IdentitySource::parse("context.identity.sourceIp"),
            Ok(IdentitySource::Context(ContextSource::SourceIp))
        );
        assert!(IdentitySource::parse("method.request.path.id").is_err());
        assert!(IdentitySource::parse("method.request.header.").is_err());
        assert!(IdentitySource::parse("context.authorizer.x").is_err());
    }

    #[test]
    fn query_values_take_the_last_repeat() {
        assert_eq!(query_value(b"a=1&t=x&t=y", "t"), Some("y"));
        assert_eq!(query_value(b"a=1", "t"), None);
        assert_eq!(query_value(b"t", "t"), Some(""));
    }

    #[test]
    fn token_events_have_three_keys() {
        let mut out = Vec::new();
        write_token_event("Bearer \"x\"", "arn:aws:execute-api:r:1:a/s/GET/", &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "TOKEN");
        assert_eq!(v["authorizationToken"], "Bearer \"x\"");
        assert_eq!(v["methodArn"], "arn:aws:execute-api:r:1:a/s/GET/");
        assert_eq!(v.as_object().unwrap().len(), 3);
    }

    #[test]
    fn results_parse_into_grants() {
        let g = parse_result(
            br#"{"principalId":"user|a1","policyDocument":{"Version":"2012-10-17","Statement":[
                {"Action":"execute-api:Invoke","Effect":"Allow","Resource":["arn:aws:execute-api:*:*:api/prod/GET/*"]}]},
                "context":{"name":"alice","n":1,"ok":true,"gone":null},"usageIdentifierKey":"key-1"}"#,
        )
        .unwrap();
        assert_eq!(&*g.principal_id, "user|a1");
        let ctx: Vec<(&str, &str)> = g.context.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(ctx, vec![("name", "alice"), ("n", "1"), ("ok", "true")]);
        assert_eq!(g.usage_identifier_key.as_deref(), Some("key-1"));
        let req = |resource| PolicyRequest {
            action: "execute-api:Invoke",
            resource,
            principal: None,
            source_ip: "127.0.0.1".parse().unwrap(),
            secure: false,
            user_agent: None,
            referer: None,
        };
        assert_eq!(
            g.policy
                .evaluate(&req("arn:aws:execute-api:us-east-1:1:api/prod/GET/pets")),
            Decision::Allow
        );
        assert_eq!(
            g.policy
                .evaluate(&req("arn:aws:execute-api:us-east-1:1:api/prod/POST/pets")),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn malformed_results_are_configuration_errors() {
        assert!(parse_result(b"null").is_err());
        assert!(parse_result(b"not json").is_err());
        assert!(parse_result(br#"{"principalId":"u"}"#).is_err());
        assert!(parse_result(br#"{"policyDocument":{"Statement":[]}}"#).is_err());
        assert!(parse_result(
            br#"{"principalId":"u","policyDocument":{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]},"context":{"x":{"nested":1}}}"#
        )
        .unwrap_err()
        .contains("object or array"));
    }

    #[test]
    fn only_the_exact_message_unauthorized_means_401() {
        assert!(says_unauthorized(
            r#"{"errorMessage":"Unauthorized","errorType":"Exception"}"#
        ));
        assert!(!says_unauthorized(r#"{"errorMessage":"unauthorized"}"#));
        assert!(!says_unauthorized(
            r#"{"errorMessage":"Error: Invalid token"}"#
        ));
        assert!(!says_unauthorized("garbage"));
    }
}
