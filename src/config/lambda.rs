//! Control plane of `AWS_PROXY`: the Lambda integration URI, and the `[lambda]` section of
//! `gateway.toml` (Invoke API endpoints per region, the credentials that sign calls, the
//! account id shown in events).
//!
//! Credentials are found as AWS SDKs find them (the "default credential provider chain",
//! AWS SDKs and Tools reference guide): the `[lambda]` keys, then `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, then the shared credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`, profile `AWS_PROFILE` or
//! `default`). They are read here, on the control-plane thread at start and on every SIGHUP,
//! never on a shard.

use std::path::PathBuf;
use std::sync::Arc;

use toml::Spanned;

use super::error::Sink;
use super::load::Source;
use super::model::GatewayFile;
use super::uri::{self, HttpUri, Resolver};
use crate::snapshot::{InvokeEndpoint, LambdaSettings};
use crate::upstream::sigv4::Credentials;

/// Account id in events when `[lambda] account_id` is not set.
pub(crate) const DEFAULT_ACCOUNT: &str = "123456789012";
/// Start of a Lambda integration URI (AWS's `uri` for `AWS_PROXY` integrations).
const URI_PREFIX: &str = "arn:aws:apigateway:";
/// The Invoke API path of a Lambda integration URI, around the function ARN.
const PATH_PREFIX: &str = ":lambda:path/2015-03-31/functions/";
const PATH_SUFFIX: &str = "/invocations";

/// The function a Lambda integration URI invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionTarget {
    /// Region of the integration URI (`us-east-1`): picks the endpoint and signs the call.
    pub region: String,
    /// Function name or ARN, with an optional `:qualifier`, as written.
    pub function: String,
}

/// Parses `arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{functionArn}/invocations`
/// (AWS API Gateway reference, `Integration.uri` for `AWS`/`AWS_PROXY` types).
pub fn parse_function_uri(uri: &str) -> Result<FunctionTarget, String> {
    let shape = || {
        format!("`{uri}` is not a Lambda integration URI: expected arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations")
    };
    let rest = uri.strip_prefix(URI_PREFIX).ok_or_else(shape)?;
    let (region, rest) = rest.split_once(':').ok_or_else(shape)?;
    let rest = rest
        .strip_prefix(&PATH_PREFIX[1..])
        .ok_or_else(shape)?
        .strip_suffix(PATH_SUFFIX)
        .ok_or_else(shape)?;
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return Err(format!("`{region}` is not an AWS region name"));
    }
    let function_ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:.$".contains(&b));
    if !function_ok {
        return Err(format!(
            "`{rest}` is not a function name or ARN (A-Z a-z 0-9 - _ : . only)"
        ));
    }
    Ok(FunctionTarget {
        region: region.to_string(),
        function: rest.to_string(),
    })
}

/// The Invoke API path of `function`, percent-encoded once as AWS SDKs send it (`:` is
/// `%3A`): `/2015-03-31/functions/{FunctionName}/invocations`.
pub fn invoke_path(function: &str) -> String {
    let mut out = b"/2015-03-31/functions/".to_vec();
    crate::http::percent_encode(&mut out, function.as_bytes(), b"");
    out.extend_from_slice(PATH_SUFFIX.as_bytes());
    // Only ASCII was written.
    String::from_utf8_lossy(&out).into_owned()
}

/// What `[lambda]` yields once checked.
#[derive(Debug, Default)]
pub struct ValidLambda {
    endpoint: Option<HttpUri>,
    region_endpoints: Vec<(String, HttpUri)>,
    credentials: Option<Credentials>,
    account_id: Option<String>,
}

impl ValidLambda {
    /// The shared settings for the snapshot.
    pub fn settings(&self) -> LambdaSettings {
        LambdaSettings {
            credentials: self.credentials.clone(),
            account_id: self.account_id.as_deref().unwrap_or(DEFAULT_ACCOUNT).into(),
        }
    }

    /// Whether calls can be signed.
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// The Invoke API endpoint of `region`, resolved: `region_endpoints`, then `endpoint`,
    /// then AWS's own `https://lambda.{region}.amazonaws.com`.
    pub fn endpoint(
        &self,
        region: &str,
        resolver: &mut Resolver,
    ) -> Result<Arc<InvokeEndpoint>, String> {
        let aws;
        let uri = match self.region_endpoints.iter().find(|(r, _)| r == region) {
            Some((_, u)) => u,
            None => match &self.endpoint {
                Some(u) => u,
                None => {
                    aws = uri::parse_http_uri(
                        &format!("https://lambda.{region}.amazonaws.com"),
                        &[],
                    )?;
                    &aws
                }
            },
        };
        let addr = resolver.resolve(&uri.host, uri.port)?;
        Ok(Arc::new(InvokeEndpoint {
            addr,
            host_header: uri.host_header.as_str().into(),
            tls_name: uri::tls_name(uri)?,
        }))
    }
}

/// Checks `[lambda]` and finds the credentials.
pub(crate) fn gateway_section(g: Option<&Source<GatewayFile>>, sink: &mut Sink) -> ValidLambda {
    let mut out = ValidLambda::default();
    let from_env = env_credentials();
    let Some(g) = g else {
        out.credentials = from_env.or_else(|| file_credentials(None));
        return out;
    };
    let s = &g.model.lambda;
    let endpoint = |v: &Spanned<String>, field: &str, sink: &mut Sink| match uri::parse_http_uri(
        v.get_ref(),
        &[],
    ) {
        Ok(u) if u.template.parts.len() <= 1 => Some(u),
        Ok(_) => {
            sink.at(
                &g.path,
                g.line(v),
                field,
                "an endpoint has no path placeholders",
            );
            None
        }
        Err(e) => {
            sink.at(&g.path, g.line(v), field, e);
            None
        }
    };
    out.endpoint = s
        .endpoint
        .as_ref()
        .and_then(|v| endpoint(v, "lambda.endpoint", sink));
    for (region, v) in &s.region_endpoints {
        let field = super::error::join_key("lambda.region_endpoints", region.get_ref());
        if let Some(u) = endpoint(v, &field, sink) {
            out.region_endpoints.push((region.get_ref().clone(), u));
        }
    }
    out.account_id = s.account_id.as_ref().and_then(|a| {
        let ok = a.get_ref().len() == 12 && a.get_ref().bytes().all(|b| b.is_ascii_digit());
        if !ok {
            let message = format!("`{}` is not a 12-digit AWS account id", a.get_ref());
            sink.at(&g.path, g.line(a), "lambda.account_id", message);
        }
        ok.then(|| a.get_ref().clone())
    });
    out.credentials = match (&s.access_key_id, &s.secret_access_key) {
        (Some(id), Some(secret)) => Some(Credentials {
            access_key_id: id.get_ref().clone(),
            secret_access_key: secret.get_ref().clone(),
            session_token: s.session_token.as_ref().map(|t| t.get_ref().clone()),
        }),
        (Some(v), None) | (None, Some(v)) => {
            let message = "access_key_id and secret_access_key go together";
            sink.at(&g.path, g.line(v), "lambda", message);
            None
        }
        (None, None) => {
            let profile = s.profile.as_ref().map(|p| p.get_ref().as_str());
            match profile {
                Some(_) => file_credentials(profile),
                None => from_env.or_else(|| file_credentials(None)),
            }
        }
    };
    out
}

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
fn env_credentials() -> Option<Credentials> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Some(Credentials {
        access_key_id: var("AWS_ACCESS_KEY_ID")?,
        secret_access_key: var("AWS_SECRET_ACCESS_KEY")?,
        session_token: var("AWS_SESSION_TOKEN"),
    })
}

/// The profile's keys in the shared credentials file, if the file has them.
fn file_credentials(profile: Option<&str>) -> Option<Credentials> {
    let path = match std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".aws/credentials"),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let env_profile = std::env::var("AWS_PROFILE").ok();
    let profile = profile.or(env_profile.as_deref()).unwrap_or("default");
    parse_credentials_file(&text, profile)
}

/// The INI format of `~/.aws/credentials`: `[profile]` sections of `key = value` lines.
fn parse_credentials_file(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_profile = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
            continue;
        }
        let Some((k, v)) = line.split_once('=').filter(|_| in_profile) else {
            continue;
        };
        let v = Some(v.trim().to_string());
        match k.trim() {
            "aws_access_key_id" => id = v,
            "aws_secret_access_key" => secret = v,
            "aws_session_token" => token = v,
            _ => {}
        }
    }
    Some(Credentials {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_uris_are_parsed() {
        let t = parse_function_uri("arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:pets:live/invocations").unwrap();
        assert_eq!(t.region, "eu-west-1");
        assert_eq!(
            t.function,
            "arn:aws:lambda:eu-west-1:123456789012:function:pets:live"
        );
        assert!(parse_function_uri("http://x/y").is_err());
        assert!(parse_function_uri(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions//invocations"
        )
        .is_err());
        assert!(parse_function_uri(
            "arn:aws:apigateway:US:lambda:path/2015-03-31/functions/f/invocations"
        )
        .is_err());
    }

    #[test]
    fn invoke_paths_encode_arn_colons() {
        assert_eq!(
            invoke_path("arn:aws:lambda:us-east-1:123456789012:function:f"),
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations"
        );
        assert_eq!(invoke_path("f"), "/2015-03-31/functions/f/invocations");
    }

    #[test]
    fn credentials_file_profiles() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = S\n\n[ci]\naws_access_key_id=B\naws_secret_access_key=T\naws_session_token = X\n";
        let d = parse_credentials_file(text, "default").unwrap();
        assert_eq!((d.access_key_id.as_str(), d.session_token), ("A", None));
        let ci = parse_credentials_file(text, "ci").unwrap();
        assert_eq!(ci.session_token.as_deref(), Some("X"));
        assert!(parse_credentials_file(text, "other").is_none());
    }
}
