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
use crate::auth::policy::Policy;
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
    /// `COGNITO_USER_POOLS`: `providerARNs`, the user pools whose tokens are accepted
    /// (`arn:aws:cognito-idp:{region}:{account}:userpool/{poolId}`).
    pub provider_arns: Option<Vec<Spanned<String>>>,
    /// `COGNITO_USER_POOLS` / `JWT`: the issuer (`iss`) of accepted tokens, for a pool or
    /// OIDC provider not at Cognito's address (required for `JWT`).
    pub issuer: Option<Spanned<String>>,
    /// Where the issuer's key set is (default `{issuer}/.well-known/jwks.json`).
    pub jwks_uri: Option<Spanned<String>>,
    /// Accepted `aud` (ID tokens) / `client_id` (access tokens); default any.
    pub audiences: Option<Vec<Spanned<String>>>,
    /// Tolerated clock difference for `exp`, `nbf`, `iat` (0..=300 seconds, default 0).
    pub leeway_seconds: Option<Spanned<i64>>,
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

/// A checked authorizer.
#[derive(Debug)]
pub enum AuthorizerPlan {
    /// `TOKEN` or `REQUEST`.
    Lambda(LambdaAuthorizerPlan),
    /// `COGNITO_USER_POOLS` or `JWT`.
    Jwt(JwtPlan),
}

/// A token authorizer, ready for the snapshot but for its key set.
#[derive(Debug)]
pub struct JwtPlan {
    /// Its name.
    pub name: String,
    /// The token's header.
    pub header: String,
    /// `iss`.
    pub issuer: String,
    /// The key set's URI.
    pub jwks_uri: String,
    /// Accepted audiences.
    pub audiences: Vec<String>,
    /// Leeway, seconds.
    pub leeway_secs: u64,
    /// Cognito's `token_use` rules.
    pub cognito: bool,
}

/// A Lambda authorizer before stage variables are applied to its function.
#[derive(Debug)]
pub struct LambdaAuthorizerPlan {
    /// Its name.
    pub name: String,
    /// `TOKEN` or `REQUEST`.
    pub kind: AuthorizerKind,
    /// The function, as an `AWS_PROXY` integration's.
    pub function: LambdaPlan,
    /// `identitySource`.
    pub identity_sources: Box<[IdentitySource]>,
    /// `identityValidationExpression`, compiled.
    pub validation: Option<crate::auth::lambda::Validation>,
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
        "COGNITO_USER_POOLS" | "JWT" => return jwt_authorizer(src, sink, name, model, &field),
        other => {
            let message = format!(
                "`{other}` is not an authorizer type: use TOKEN, REQUEST, COGNITO_USER_POOLS or JWT"
            );
            error(src.line(&model.kind), "type", message);
            None
        }
    };
    let token_only = [
        (model.provider_arns.is_some(), "provider_arns"),
        (model.issuer.is_some(), "issuer"),
        (model.jwks_uri.is_some(), "jwks_uri"),
        (model.audiences.is_some(), "audiences"),
        (model.leeway_seconds.is_some(), "leeway_seconds"),
    ];
    for (_, what) in token_only.iter().filter(|(present, _)| *present) {
        let message = format!("`{what}` applies to COGNITO_USER_POOLS and JWT authorizers only");
        error(src.line(&model.kind), what, message);
    }
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
            Ok(re) => Some(crate::auth::lambda::Validation::new(re)),
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
    Some(AuthorizerPlan::Lambda(LambdaAuthorizerPlan {
        name: name.get_ref().clone(),
        kind: kind?,
        function: function?,
        identity_sources: sources.into(),
        validation,
        ttl_ms: ttl_secs as u64 * 1000,
        fingerprint,
    }))
}

/// A `COGNITO_USER_POOLS` authorizer (tokens of its user pool) or a `JWT` one (any OIDC
/// issuer, named explicitly).
fn jwt_authorizer(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    name: &Spanned<String>,
    model: &AuthorizerModel,
    field: &str,
) -> Option<AuthorizerPlan> {
    let before = sink.len();
    let cognito = model.kind.get_ref() == "COGNITO_USER_POOLS";
    let mut error = |line: Option<usize>, sub: &str, message: String| {
        sink.at(&src.path, line, format!("{field}.{sub}"), message);
    };
    let at_kind = src.line(&model.kind);
    let lambda_only = [
        (model.uri.as_ref().map(|v| src.line(v)), "uri"),
        (
            model
                .identity_validation_expression
                .as_ref()
                .map(|v| src.line(v)),
            "identity_validation_expression",
        ),
        (
            model.result_ttl_in_seconds.as_ref().map(|v| src.line(v)),
            "result_ttl_in_seconds",
        ),
    ];
    for (line, what) in lambda_only {
        if let Some(line) = line {
            let message =
                format!("`{what}` applies to Lambda (TOKEN and REQUEST) authorizers only");
            error(line.or(at_kind), what, message);
        }
    }
    let header = match &model.identity_source {
        None => "Authorization".to_string(),
        Some(s) => match IdentitySource::parse(s.get_ref().trim()) {
            Ok(IdentitySource::Header(h)) => h.to_string(),
            _ => {
                let message = "a token authorizer reads one header: method.request.header.NAME";
                error(src.line(s), "identity_source", message.into());
                String::new()
            }
        },
    };
    let pools: Vec<String> = model
        .provider_arns
        .iter()
        .flatten()
        .filter_map(|arn| match pool_issuer(arn.get_ref()) {
            Ok(issuer) => Some(issuer),
            Err(message) => {
                error(src.line(arn), "provider_arns", message);
                None
            }
        })
        .collect();
    let issuer = match (&model.issuer, pools.as_slice()) {
        (Some(i), _) => {
            let text = i.get_ref();
            if !(text.starts_with("https://") || text.starts_with("http://")) {
                error(
                    src.line(i),
                    "issuer",
                    format!("`{text}` is not an http(s) URL"),
                );
            }
            text.trim_end_matches('/').to_string()
        }
        (None, [one]) if cognito => one.clone(),
        (None, []) if cognito && model.provider_arns.is_none() => {
            let message = "a COGNITO_USER_POOLS authorizer needs provider_arns (its user pool's ARN) or an issuer";
            error(at_kind, "provider_arns", message.into());
            String::new()
        }
        (None, _) if !cognito => {
            error(at_kind, "issuer", "a JWT authorizer needs an issuer".into());
            String::new()
        }
        (None, list) => {
            if list.len() > 1 {
                let message = "one user pool per authorizer here: name one ARN (or set `issuer`)";
                error(at_kind, "provider_arns", message.into());
            }
            String::new()
        }
    };
    let jwks_uri = match &model.jwks_uri {
        Some(u) => u.get_ref().clone(),
        None => format!("{issuer}/.well-known/jwks.json"),
    };
    let leeway_secs = match &model.leeway_seconds {
        None => 0,
        Some(l) if (0..=300).contains(l.get_ref()) => *l.get_ref() as u64,
        Some(l) => {
            let message = format!("{} is out of range 0..=300", l.get_ref());
            error(src.line(l), "leeway_seconds", message);
            0
        }
    };
    if sink.len() != before {
        return None;
    }
    let audiences = model.audiences.iter().flatten();
    Some(AuthorizerPlan::Jwt(JwtPlan {
        name: name.get_ref().clone(),
        header,
        issuer,
        jwks_uri,
        audiences: audiences.map(|a| a.get_ref().clone()).collect(),
        leeway_secs,
        cognito,
    }))
}

/// `arn:aws:cognito-idp:{region}:{account}:userpool/{poolId}` → the issuer of the pool's
/// tokens (Cognito developer guide, "Verifying a JSON Web Token": `iss` is
/// `https://cognito-idp.{region}.amazonaws.com/{userPoolId}`).
fn pool_issuer(arn: &str) -> Result<String, String> {
    let shape = || {
        format!(
            "`{arn}` is not a user pool ARN (arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID)"
        )
    };
    let rest = arn.strip_prefix("arn:aws:cognito-idp:").ok_or_else(shape)?;
    let mut parts = rest.splitn(3, ':');
    let (Some(region), Some(_account), Some(pool)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(shape());
    };
    let pool = pool.strip_prefix("userpool/").ok_or_else(shape)?;
    if region.is_empty() || pool.is_empty() {
        return Err(shape());
    }
    Ok(format!("https://cognito-idp.{region}.amazonaws.com/{pool}"))
}

/// A method's `authorization_type` and `authorizer` (`None` when reported). `authorizer`
/// alone takes the type its authorizer needs (`CUSTOM` for Lambda authorizers,
/// `COGNITO_USER_POOLS` for token authorizers).
pub(crate) fn method_authorization(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    field: &str,
    model: &MethodModel,
) -> Option<Authorization> {
    let authorizers = &src.model.authorizers;
    let kind = model.authorization_type.as_ref();
    let kind_name = kind.map(|k| k.get_ref().as_str());
    let line = kind.and_then(|k| src.line(k));
    let mut report = |line: Option<usize>, sub: &str, message: String| {
        sink.at(&src.path, line, format!("{field}.{sub}"), message);
    };
    match (kind_name, &model.authorizer) {
        (None | Some("NONE"), None) if !model.authorization_scopes.is_empty() => {
            let at = model.authorization_scopes.first().and_then(|s| src.line(s));
            let message = "authorization_scopes need a COGNITO_USER_POOLS authorizer";
            report(at, "authorization_scopes", message.into());
            None
        }
        (None | Some("NONE"), None) => Some(Authorization::None),
        (Some("NONE"), Some(a)) => {
            let message = format!(
                "authorizer `{}` is set but authorization_type is NONE (use CUSTOM or COGNITO_USER_POOLS)",
                a.get_ref()
            );
            report(src.line(a), "authorizer", message);
            None
        }
        (None | Some("CUSTOM" | "COGNITO_USER_POOLS"), Some(a)) => {
            let Some(i) = authorizers
                .iter()
                .position(|(k, _)| k.get_ref() == a.get_ref())
            else {
                let names: Vec<&str> = authorizers
                    .iter()
                    .map(|(k, _)| k.get_ref().as_str())
                    .collect();
                let known = if names.is_empty() {
                    "the file defines no [authorizers]".to_string()
                } else {
                    format!("defined: {}", names.join(", "))
                };
                let message = format!("authorizer `{}` does not exist ({known})", a.get_ref());
                report(src.line(a), "authorizer", message);
                return None;
            };
            let is_token = authorizers.0[i].1.kind.get_ref().as_str();
            let wanted = match is_token {
                "COGNITO_USER_POOLS" | "JWT" => "COGNITO_USER_POOLS",
                _ => "CUSTOM",
            };
            match kind_name {
                Some(k) if k != wanted => {
                    let message = format!(
                        "authorizer `{}` needs authorization_type {wanted}, not {k}",
                        a.get_ref()
                    );
                    report(line, "authorization_type", message);
                    None
                }
                _ if wanted == "CUSTOM" && !model.authorization_scopes.is_empty() => {
                    let at = model.authorization_scopes.first().and_then(|s| src.line(s));
                    let message =
                        "authorization_scopes apply to COGNITO_USER_POOLS authorizers only";
                    report(at, "authorization_scopes", message.into());
                    None
                }
                _ => Some(Authorization::Authorizer(i as u16)),
            }
        }
        (Some(k @ ("CUSTOM" | "COGNITO_USER_POOLS")), None) => {
            let message = format!(
                "{k} authorization needs an `authorizer` (the name of one of the file's [authorizers])"
            );
            report(line, "authorization_type", message);
            None
        }
        (Some("AWS_IAM"), None) if model.authorization_scopes.is_empty() => {
            Some(Authorization::Iam)
        }
        (Some("AWS_IAM"), _) => {
            let message = "AWS_IAM methods take no authorizer and no authorization_scopes";
            report(line, "authorization_type", message.into());
            None
        }
        (Some(other), _) => {
            let message = format!(
                "`{other}` is not an authorization type: use NONE, CUSTOM, AWS_IAM or COGNITO_USER_POOLS"
            );
            report(line, "authorization_type", message);
            None
        }
    }
}
