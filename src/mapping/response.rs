//! The integration response: what a non-proxy integration's answer becomes for the client.
//!
//! 1. Selection: the integration responses' `selectionPattern`s are Java regexes matched
//!    against the **whole** selection value — the backend's status code as text, or for a
//!    Lambda function its error's `errorMessage` (`""` on success) — and the default
//!    response (no pattern) answers when none matches; without one the client gets 500
//!    (developer guide, "Set up an integration response"; LocalStack's AWS-validated
//!    `test_lambda_selection_patterns` / `test_http_integration_status_code_selection`).
//! 2. `responseParameters` set the client's headers: only mapped headers of the backend
//!    reach the client (LocalStack's AWS-validated `TestApiGatewayHeaderRemapping`).
//! 3. The response template is chosen by the first media type of the request's `Accept`,
//!    `application/json` without one, else the first template; no template: the body passes
//!    through (developer guide, "Mapping templates").
//! 4. `responseOverride.status` (ignored unless an integer 100..599, as LocalStack found AWS
//!    doing) and `responseOverride.header.*` apply last; a status override needs no method
//!    response (AWS-validated `test_lambda_aws_integration_response_with_mapping_templates`).
//! 5. The client's `Content-Type` is `application/json` unless a mapping sets it (MOCK's
//!    recorded headers; serverless-apigateway-service-proxy#115).

use super::bindings::Env;
use super::request::{body_path, MappingError};
use super::{binary, template_for, IntegrationResponse, Mapping, Source};
use crate::exchange::{Body, Headers, Reply};
use crate::http::media::{is_binary, is_binary_accept};
use crate::template::{Budget, Template};

/// What the integration answered, as the integration response reads it.
#[derive(Debug, Clone, Copy)]
pub struct BackendAnswer<'b> {
    /// The API's `binaryMediaTypes`, which say whether the body and the `Accept` are binary.
    pub binary_media_types: &'b [Box<str>],
    /// The selection value: `Some(status)` for HTTP and MOCK, `Some(errorMessage)` (or `""`)
    /// for Lambda; `None`: only the default response applies (a MOCK without a template).
    pub selector: Option<&'b str>,
    /// The backend's headers (`integration.response.header.*`).
    pub headers: &'b [(String, String)],
    /// The backend's body.
    pub body: &'b [u8],
}

/// The integration response `answer` selects.
pub fn select<'m>(
    mapping: &'m Mapping,
    selector: Option<&str>,
) -> Result<&'m IntegrationResponse, MappingError> {
    let matched = selector.and_then(|value| {
        mapping
            .responses
            .iter()
            .find(|r| r.pattern.as_ref().is_some_and(|p| p.is_match(value)))
    });
    matched.or(mapping.default_response.as_ref()).ok_or_else(|| {
        MappingError::Config(format!(
            "No match for output mapping and no default output mapping configured. Endpoint Response Status Code: {}",
            selector.unwrap_or("")
        ))
    })
}

/// Runs the integration response of `mapping` for `answer`.
pub fn run<'r>(
    mapping: &Mapping,
    env: Env<'r>,
    answer: BackendAnswer<'r>,
    accept: Option<&[u8]>,
    budget: Budget,
) -> Result<Reply<'static>, MappingError> {
    let response = select(mapping, answer.selector)?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, source) in &response.parameters {
        if let Some(value) = response_value(source, &env, answer) {
            set(&mut headers, name, value);
        }
    }
    let types = answer.binary_media_types;
    let payload = binary::response(
        answer.body,
        is_binary(
            named(answer.headers, "content-type")
                .pop()
                .map(str::as_bytes),
            types,
        ),
        is_binary_accept(accept, types),
        response.content_handling,
    )?;
    let (body, overrides) = match response_template(&response.templates, accept) {
        // A template reads text; binary bytes are not a template's input (LocalStack's
        // integration response refuses them the same way).
        Some(_) if payload.binary => {
            return Err(MappingError::Config(
                "a response template cannot map a binary payload (set content_handling = \"CONVERT_TO_TEXT\" or remove the template)".into(),
            ))
        }
        Some(t) => {
            let mut env = env.with_body(&payload.bytes);
            let rendered = t.render(&mut env, budget)?.into_bytes();
            (rendered, env.overrides)
        }
        None => (payload.bytes.into_owned(), env.overrides),
    };
    if overrides.repeated {
        return Err(MappingError::Config(
            "an override was set more than once (overrides are final)".into(),
        ));
    }
    let mut status = response.status;
    if let Some(s) = overrides.status.as_deref() {
        match s.trim().parse::<u16>() {
            Ok(n) if (100..=599).contains(&n) => status = n,
            _ => tracing::debug!("responseOverride.status {s:?} ignored: not 100..599"),
        }
    }
    for (name, value) in overrides.response_headers {
        set(&mut headers, &name, value);
    }
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    Ok(Reply {
        status,
        headers: Headers::Owned(headers),
        body: Body::Owned(body),
    })
}

/// Mapped response headers the gateway owns arrive renamed `x-amzn-Remapped-NAME`, and a
/// mapped `Transfer-Encoding` is dropped (LocalStack's AWS-validated
/// `TestApiGatewayHeaderRemapping`, "full-integration").
const REMAPPED: [&str; 14] = [
    "authorization",
    "connection",
    "content-length",
    "content-md5",
    "date",
    "expect",
    "host",
    "max-forwards",
    "proxy-authenticate",
    "server",
    "trailer",
    "upgrade",
    "user-agent",
    "www-authenticate",
];

/// Sets a header, replacing one of the same name.
fn set(headers: &mut Vec<(String, String)>, name: &str, value: String) {
    if name.eq_ignore_ascii_case("transfer-encoding") {
        return;
    }
    let name = if REMAPPED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
        format!("x-amzn-Remapped-{name}")
    } else {
        name.to_string()
    };
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
    headers.push((name, value));
}

/// The template for the request's first `Accept` media type ("API Gateway only honors the
/// first Accept media type", known issues), `application/json` without one, else the first.
fn response_template<'t>(
    templates: &'t [(Box<str>, Template)],
    accept: Option<&[u8]>,
) -> Option<&'t Template> {
    let first = accept.map(|a| {
        let end = memchr::memchr(b',', a).unwrap_or(a.len());
        super::media_type(&a[..end])
    });
    let media = first.as_deref().unwrap_or("application/json");
    template_for(templates, media).or_else(|| templates.first().map(|(_, t)| t))
}

/// Every value of the backend's header `name`, in order.
fn named<'h>(headers: &'h [(String, String)], name: &str) -> Vec<&'h str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A response-side mapping expression's value; `None` when its source is absent.
fn response_value(source: &Source, env: &Env<'_>, answer: BackendAnswer<'_>) -> Option<String> {
    let named = |name: &str| named(answer.headers, name);
    match source {
        Source::Static(s) => Some(s.to_string()),
        Source::StageVariable(name) => env.stage_var(name).map(str::to_string),
        Source::Context(name) => env.context_text(name),
        Source::IntegrationHeader(name) => named(name).pop().map(str::to_string),
        Source::IntegrationMultiHeader(name) => {
            let all = named(name);
            (!all.is_empty()).then(|| all.join(","))
        }
        Source::IntegrationBody => Some(String::from_utf8_lossy(answer.body).into_owned()),
        Source::IntegrationBodyPath(path) => body_path(answer.body, path),
        Source::Method(..) | Source::MethodMulti(..) | Source::MethodBody => None,
        Source::MethodBodyPath(_) => None,
    }
}

/// A MOCK's status: the `statusCode` of its rendered request template. It must be an
/// integer (`"200"` is refused) and any integer is taken, then matched like a status;
/// JSON-ish text such as CDK's `{statusCode: 200}` is read too (LocalStack PRs #11148 and
/// #11967, both checked against AWS: "they don't JSON parse but use a custom token parser").
pub fn mock_status(rendered: &str) -> Result<i64, MappingError> {
    let fail = || {
        MappingError::Config(
            "Unable to parse statusCode. It should be an integer that is defined in the request template."
                .into(),
        )
    };
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(rendered) {
        return map
            .get("statusCode")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(fail);
    }
    let inner = rendered
        .trim()
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(fail)?;
    for pair in inner.split(',') {
        let Some((key, value)) = pair.split_once(':') else {
            continue;
        };
        let key = key.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| key.strip_prefix(*q).and_then(|k| k.strip_suffix(*q)))
            .unwrap_or(key);
        if unquoted == "statusCode" {
            return value.trim().parse().map_err(|_| fail());
        }
    }
    Err(fail())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mock_status_is_an_integer_read_leniently() {
        assert_eq!(mock_status(r#"{"statusCode": 200}"#), Ok(200));
        assert_eq!(mock_status("{statusCode: 404}"), Ok(404));
        assert_eq!(mock_status(" { 'statusCode' : -1 , a: b } "), Ok(-1));
        assert_eq!(mock_status(r#"{"statusCode": 200, "x": [1]}"#), Ok(200));
        for bad in [
            r#"{"statusCode": "200"}"#,
            r#"{"statusCode": 200"#,
            "{}",
            "200",
        ] {
            assert!(mock_status(bad).is_err(), "{bad}");
        }
    }

    fn response(pattern: Option<&str>, status: u16) -> IntegrationResponse {
        IntegrationResponse {
            pattern: pattern.map(|p| regex::Regex::new(&format!("^(?:{p})$")).unwrap()),
            status,
            parameters: Vec::new(),
            templates: Vec::new(),
            content_handling: None,
        }
    }

    fn mapping(responses: Vec<IntegrationResponse>, default: Option<u16>) -> Mapping {
        Mapping {
            request_templates: Vec::new(),
            passthrough: super::super::Passthrough::WhenNoMatch,
            content_handling: None,
            request_parameters: Vec::new(),
            responses,
            default_response: default.map(|s| response(None, s)),
        }
    }

    #[test]
    fn selection_matches_the_whole_value_and_falls_back_to_the_default() {
        let m = mapping(
            vec![response(Some(r"4\d{2}"), 400), response(Some(".*5.*"), 502)],
            Some(200),
        );
        let status = |s: Option<&str>| select(&m, s).map(|r| r.status);
        assert_eq!(status(Some("404")), Ok(400));
        assert_eq!(status(Some("4040")), Ok(200), "anchored at both ends");
        assert_eq!(status(Some("a 5 b")), Ok(502));
        assert_eq!(status(Some("201")), Ok(200));
        assert_eq!(status(None), Ok(200), "no selector: the default");
        let strict = mapping(vec![response(Some("2\\d\\d"), 200)], None);
        assert_eq!(select(&strict, Some("200")).map(|r| r.status), Ok(200));
        assert!(matches!(
            select(&strict, Some("500")),
            Err(MappingError::Config(m)) if m.contains("no default output mapping")
        ));
    }

    #[test]
    fn the_response_template_follows_the_first_accept_type() {
        let t = |s: &str| Template::parse(s).unwrap();
        let templates = vec![
            (Box::from("application/xml"), t("xml")),
            (Box::from("application/json"), t("json")),
        ];
        let pick = |accept: Option<&[u8]>| {
            let found = response_template(&templates, accept).unwrap();
            found
                .render(&mut crate::template::gateway::Plain, Budget::default())
                .unwrap()
        };
        assert_eq!(pick(None), "json");
        assert_eq!(pick(Some(b"application/xml, application/json")), "xml");
        assert_eq!(pick(Some(b"Application/JSON; q=1")), "json");
        assert_eq!(pick(Some(b"text/html")), "xml", "else the first template");
        assert!(response_template(&[], None).is_none());
    }
}
