//! Control plane of authorization: an API's resource policy (`policy`, AWS `RestApi.policy`),
//! its `api_key_source`, its Lambda authorizers (`[authorizers.NAME]`, AWS `Authorizer`), and
//! each method's `authorization_type` / `authorizer`.
//!
//! Everything is checked here, with file, line and field; what reaches the snapshot is
//! compiled (the policy into matchers, the validation expression into a regex), so a shard
//! never parses JSON or a pattern to decide a request.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::{join_key, Sink};
use super::load::Source;
use super::model::{ApiFile, MethodModel};
use super::uri::StageTemplate;
use super::validate::LambdaPlan;
use crate::auth::lambda::{AuthorizerKind, IdentitySource};
use crate::auth::policy::{Policy, ResourceForm};
use crate::auth::{ApiKeySource, Authorization};

/// `authorizerResultTtlInSeconds` when absent, and its largest value (API reference,
/// `Authorizer`: "If this field is not set, the default value is 300. The maximum value is
/// 3600").
const DEFAULT_TTL_SECS: i64 = 300;
const MAX_TTL_SECS: i64 = 3600;

/// `[authorizers.NAME]` of an API file: a Lambda authorizer (AWS `Authorizer`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerModel {
    /// `TOKEN` or `REQUEST`.
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// `authorizerUri`: the function's Lambda integration URI (stage variables allowed).
    pub uri: Option<Spanned<String>>,
    /// `identitySource`: comma-separated `method.request.header.X`,
    /// `method.request.querystring.X`, `stageVariables.X`, `context.X`.
    pub identity_source: Option<Spanned<String>>,
    /// `identityValidationExpression` (`TOKEN` only).
    pub identity_validation_expression: Option<Spanned<String>>,
    /// `authorizerResultTtlInSeconds` (0..=3600, default 300; 0 disables caching).
    pub result_ttl_in_seconds: Option<Spanned<i64>>,
}

/// An API's checked authorization settings.
#[derive(Debug, Default)]
pub struct ValidApiAuth {
    /// The resource policy's JSON text (compiled once the API's ARN prefix is known).
    pub policy: Option<String>,
    /// `apiKeySource`.
    pub api_key_source: ApiKeySource,
    /// Lambda authorizers, in file order (methods refer to them by index).
    pub authorizers: Vec<AuthorizerPlan>,
}

/// A Lambda authorizer before stage variables are applied to its function.
#[derive(Debug)]
pub struct AuthorizerPlan {
    /// Its name.
    pub name: String,
    /// `TOKEN` or `REQUEST`.
    pub kind: AuthorizerKind,
    /// The function, as an `AWS_PROXY` integration's.
    pub function: LambdaPlan,
    /// `identitySource`.
    pub identity_sources: Box<[IdentitySource]>,
    /// `identityValidationExpression`, compiled.
    pub validation: Option<regex::Regex>,
    /// Result TTL in milliseconds.
    pub ttl_ms: u64,
    /// The settings as written, so that a reload that changes them gets a fresh cache scope.
    pub fingerprint: String,
}

/// Checks an API file's `policy`, `api_key_source` and `[authorizers]`.
pub(crate) fn check_api(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    default_timeout: Duration,
) -> ValidApiAuth {
    let model = &src.model;
    let policy = model.policy.as_ref().and_then(|p| {
        // Checked with a placeholder ARN prefix: only the shape can be wrong here.
        let form = crate::auth::arn::ApiResources {
            region: "region",
            account: "account",
            api: "api",
        };
        match Policy::parse(p.get_ref(), &form) {
            Ok(_) => Some(p.get_ref().clone()),
            Err(e) => {
                let message = format!("the resource policy is not a valid policy document: {e}");
                sink.at(&src.path, src.line(p), "policy", message);
                None
            }
        }
    });
    let api_key_source = match model
        .api_key_source
        .as_ref()
        .map(|s| (s, s.get_ref().as_str()))
    {
        None | Some((_, "HEADER")) => ApiKeySource::Header,
        Some((_, "AUTHORIZER")) => ApiKeySource::Authorizer,
        Some((s, other)) => {
            let message = format!("`{other}` is not an API key source: use HEADER or AUTHORIZER");
            sink.at(&src.path, src.line(s), "api_key_source", message);
            ApiKeySource::Header
        }
    };
    let authorizers = model
        .authorizers
        .iter()
        .filter_map(|(name, a)| authorizer(src, sink, name, a, default_timeout))
        .collect();
    ValidApiAuth {
        policy,
        api_key_source,
        authorizers,
    }
}

fn authorizer(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    name: &Spanned<String>,
    model: &AuthorizerModel,
    timeout: Duration,
) -> Option<AuthorizerPlan> {
    let field = join_key("authorizers", name.get_ref());
    let before = sink.len();
    let mut error = |line: Option<usize>, sub: &str, message: String| {
        let f = if sub.is_empty() {
            field.clone()
        } else {
            format!("{field}.{sub}")
        };
        sink.at(&src.path, line, f, message);
    };
    let kind = match model.kind.get_ref().as_str() {
        "TOKEN" => Some(AuthorizerKind::Token),
        "REQUEST" => Some(AuthorizerKind::Request),
        "COGNITO_USER_POOLS" => {
            error(
                src.line(&model.kind),
                "type",
                "COGNITO_USER_POOLS authorizers are not built yet: use TOKEN or REQUEST".into(),
            );
            None
        }
        other => {
            error(
                src.line(&model.kind),
                "type",
                format!("`{other}` is not an authorizer type: use TOKEN or REQUEST"),
            );
            None
        }
    };
    let sources: Vec<IdentitySource> = match &model.identity_source {
        None => Vec::new(),
        Some(s) => s
            .get_ref()
            .split(',')
            .map(str::trim)
            .filter_map(|one| match IdentitySource::parse(one) {
                Ok(source) => Some(source),
                Err(message) => {
                    error(src.line(s), "identity_source", message);
                    None
                }
            })
            .collect(),
    };
    let ttl_secs = match &model.result_ttl_in_seconds {
        None => DEFAULT_TTL_SECS,
        Some(t) if (0..=MAX_TTL_SECS).contains(t.get_ref()) => *t.get_ref(),
        Some(t) => {
            error(
                src.line(t),
                "result_ttl_in_seconds",
                format!("{} is out of range 0..=3600", t.get_ref()),
            );
            0
        }
    };
    let at_kind = src.line(&model.kind);
    let source_line = model
        .identity_source
        .as_ref()
        .and_then(|s| src.line(s))
        .or(at_kind);
    match kind {
        // CreateAuthorizer refuses a TOKEN authorizer without exactly one header source
        // (LocalStack's AWS-validated authorizer tests: none, a query string, or two headers
        // all fail).
        Some(AuthorizerKind::Token)
            if sources.len() != 1 || !matches!(sources[0], IdentitySource::Header(_)) =>
        {
            error(source_line, "identity_source", "a TOKEN authorizer takes exactly one identity source, a header: method.request.header.NAME".into());
        }
        // "identitySource ... is required when authorization caching is enabled"
        // (CreateAuthorizer); with caching off it may be empty (every request is sent).
        Some(AuthorizerKind::Request) if sources.is_empty() && ttl_secs > 0 => {
            error(source_line, "identity_source", "a REQUEST authorizer that caches results (result_ttl_in_seconds > 0, default 300) needs an identity_source: its values are the cache key".into());
        }
        _ => {}
    }
    let validation = match (&model.identity_validation_expression, kind) {
        (None, _) => None,
        (Some(e), Some(AuthorizerKind::Request)) => {
            error(
                src.line(e),
                "identity_validation_expression",
                "identity_validation_expression applies to TOKEN authorizers only".into(),
            );
            None
        }
        // Java's `String.matches` is anchored at both ends; so is this.
        (Some(e), _) => match regex::Regex::new(&format!("^(?:{})$", e.get_ref())) {
            Ok(re) => Some(re),
            Err(err) => {
                error(
                    src.line(e),
                    "identity_validation_expression",
                    format!("not a valid regular expression: {err}"),
                );
                None
            }
        },
    };
    let uri_field = format!("{field}.uri");
    let function = match &model.uri {
        None => {
            error(at_kind, "uri", "an authorizer needs a `uri`: its function's Lambda integration URI (arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations)".into());
            None
        }
        Some(uri) => match StageTemplate::parse(uri.get_ref()).and_then(|t| {
            if !t.has_vars() {
                super::lambda::parse_function_uri(uri.get_ref())?;
            }
            Ok(t)
        }) {
            Ok(template) => Some(LambdaPlan {
                field: uri_field,
                line: src.line(uri),
                template,
                timeout,
            }),
            Err(message) => {
                error(src.line(uri), "uri", message);
                None
            }
        },
    };
    if sink.len() != before {
        return None;
    }
    let fingerprint = format!(
        "{:?}|{:?}|{:?}|{:?}|{ttl_secs}",
        model.kind.get_ref(),
        model.uri.as_ref().map(|u| u.get_ref()),
        model.identity_source.as_ref().map(|u| u.get_ref()),
        model
            .identity_validation_expression
            .as_ref()
            .map(|u| u.get_ref()),
    );
    Some(AuthorizerPlan {
        name: name.get_ref().clone(),
        kind: kind?,
        function: function?,
        identity_sources: sources.into(),
        validation,
        ttl_ms: ttl_secs as u64 * 1000,
        fingerprint,
    })
}

/// A method's `authorization_type` and `authorizer` (`None` when reported). `authorizer`
/// alone means `CUSTOM`.
pub(crate) fn method_authorization(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    field: &str,
    model: &MethodModel,
) -> Option<Authorization> {
    let names: Vec<&str> = src
        .model
        .authorizers
        .iter()
        .map(|(k, _)| k.get_ref().as_str())
        .collect();
    let kind = model.authorization_type.as_ref();
    let kind_name = kind.map(|k| k.get_ref().as_str());
    let line = kind.and_then(|k| src.line(k));
    match (kind_name, &model.authorizer) {
        (None | Some("NONE"), None) => Some(Authorization::None),
        (Some("NONE"), Some(a)) => {
            let message = format!(
                "authorizer `{}` is set but authorization_type is NONE (use CUSTOM)",
                a.get_ref()
            );
            sink.at(
                &src.path,
                src.line(a),
                format!("{field}.authorizer"),
                message,
            );
            None
        }
        (None | Some("CUSTOM"), Some(a)) => match names.iter().position(|n| *n == a.get_ref()) {
            Some(i) => Some(Authorization::Custom(i as u16)),
            None => {
                let known = if names.is_empty() {
                    "the file defines no [authorizers]".to_string()
                } else {
                    format!("defined: {}", names.join(", "))
                };
                let message = format!("authorizer `{}` does not exist ({known})", a.get_ref());
                sink.at(
                    &src.path,
                    src.line(a),
                    format!("{field}.authorizer"),
                    message,
                );
                None
            }
        },
        (Some("CUSTOM"), None) => {
            sink.at(&src.path, line, format!("{field}.authorization_type"), "CUSTOM authorization needs an `authorizer` (the name of one of the file's [authorizers])");
            None
        }
        (Some(k @ ("AWS_IAM" | "COGNITO_USER_POOLS")), _) => {
            let message = format!("authorization_type {k} is not built yet: use NONE or CUSTOM");
            sink.at(
                &src.path,
                line,
                format!("{field}.authorization_type"),
                message,
            );
            None
        }
        (Some(other), _) => {
            let message = format!("`{other}` is not an authorization type: use NONE, CUSTOM, AWS_IAM or COGNITO_USER_POOLS");
            sink.at(
                &src.path,
                line,
                format!("{field}.authorization_type"),
                message,
            );
            None
        }
    }
}

/// The resource policy compiled for its API (`execute-api:/` expanded to the API's ARN).
pub fn compile_policy(json: &str, form: &dyn ResourceForm) -> Option<Policy> {
    // Already parsed once by `check_api`: only the expansion differs.
    Policy::parse(json, form).ok()
}
