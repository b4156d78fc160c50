//! Access-log formats: API Gateway's `$context` variables in free text, compiled once when the
//! configuration is loaded into literal and variable parts, rendered per request into a
//! reused buffer without allocating.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::gateway_response::GatewayResponse;
use crate::tls::subject::ClientCert;

/// AWS's JSON example format (without the IAM-only `caller` and `user`), used when a stage
/// sets no `format`.
pub const DEFAULT_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","resourcePath":"$context.resourcePath","status":"$context.status","protocol":"$context.protocol","responseLength":"$context.responseLength","integrationLatency":"$context.integrationLatency","responseLatency":"$context.responseLatency"}"#;

/// A `$context` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `$context.requestId` (also `extendedRequestId`): the `x-amzn-RequestId` sent.
    RequestId,
    /// `$context.identity.sourceIp`: the client's address.
    SourceIp,
    /// `$context.identity.userAgent`.
    UserAgent,
    /// `$context.identity.apiKey`, masked.
    ApiKey,
    /// `$context.httpMethod`.
    HttpMethod,
    /// `$context.resourcePath`: the matched resource as configured (`/pets/{petId}`).
    ResourcePath,
    /// `$context.path`: the request path including the stage, without the query.
    Path,
    /// `$context.status`.
    Status,
    /// `$context.responseLength`: body bytes sent.
    ResponseLength,
    /// `$context.requestTime`: CLF time, `23/Nov/2026:10:52:44 +0000`.
    RequestTime,
    /// `$context.requestTimeEpoch`: milliseconds since the epoch.
    RequestTimeEpoch,
    /// `$context.integrationLatency` (also `integration.latency`): milliseconds.
    IntegrationLatency,
    /// `$context.responseLatency`: milliseconds, whole request.
    ResponseLatency,
    /// `$context.protocol`: `HTTP/1.1`.
    Protocol,
    /// `$context.stage`.
    Stage,
    /// `$context.apiId`.
    ApiId,
    /// `$context.domainName`: the `Host` the client used.
    DomainName,
    /// `$context.error.message`: the message of a gateway response.
    ErrorMessage,
    /// `$context.error.responseType`: AWS's gateway response type (`MISSING_AUTHENTICATION_TOKEN`,
    /// `INTEGRATION_TIMEOUT`, ...).
    ErrorResponseType,
    /// `$context.identity.clientCert.clientCertPem`: the verified mutual-TLS client
    /// certificate itself, so a log can be audited against the CA later (line breaks are
    /// escaped in JSON formats, `?` in others, keeping one record per line).
    ClientCertPem,
    /// `$context.identity.clientCert.subjectDN`: the verified mutual-TLS client certificate.
    ClientCertSubject,
    /// `$context.identity.clientCert.issuerDN`.
    ClientCertIssuer,
    /// `$context.identity.clientCert.serialNumber`.
    ClientCertSerial,
    /// `$context.identity.clientCert.validity.notBefore`.
    ClientCertNotBefore,
    /// `$context.identity.clientCert.validity.notAfter`.
    ClientCertNotAfter,
    /// `$context.identity.user` (and `.caller`): an IAM caller's unique id.
    IamUser,
    /// `$context.identity.userArn`.
    IamUserArn,
    /// `$context.identity.accessKey`.
    IamAccessKey,
    /// `$context.identity.accountId`: an IAM caller's account.
    IamAccountId,
}

/// Names after `$context.`; longer names first where one is a prefix of another.
const NAMES: &[(&str, Var)] = &[
    ("requestTimeEpoch", Var::RequestTimeEpoch),
    ("requestTime", Var::RequestTime),
    ("requestId", Var::RequestId),
    ("extendedRequestId", Var::RequestId),
    ("identity.sourceIp", Var::SourceIp),
    ("identity.userAgent", Var::UserAgent),
    ("identity.apiKey", Var::ApiKey),
    ("identity.clientCert.clientCertPem", Var::ClientCertPem),
    ("identity.clientCert.subjectDN", Var::ClientCertSubject),
    ("identity.clientCert.issuerDN", Var::ClientCertIssuer),
    ("identity.clientCert.serialNumber", Var::ClientCertSerial),
    (
        "identity.clientCert.validity.notBefore",
        Var::ClientCertNotBefore,
    ),
    (
        "identity.clientCert.validity.notAfter",
        Var::ClientCertNotAfter,
    ),
    ("identity.user", Var::IamUser),
    ("identity.caller", Var::IamUser),
    ("identity.userArn", Var::IamUserArn),
    ("identity.accessKey", Var::IamAccessKey),
    ("identity.accountId", Var::IamAccountId),
    ("httpMethod", Var::HttpMethod),
    ("resourcePath", Var::ResourcePath),
    ("path", Var::Path),
    ("status", Var::Status),
    ("responseLength", Var::ResponseLength),
    ("integrationLatency", Var::IntegrationLatency),
    ("integration.latency", Var::IntegrationLatency),
    ("responseLatency", Var::ResponseLatency),
    ("protocol", Var::Protocol),
    ("stage", Var::Stage),
    ("apiId", Var::ApiId),
    ("domainName", Var::DomainName),
    ("error.message", Var::ErrorMessage),
    ("error.responseType", Var::ErrorResponseType),
];

/// One piece of a format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Box<[u8]>),
    Var(Var),
    /// `$context.authorizer.NAME`: `principalId`, `integrationLatency`, or a key of the
    /// Lambda authorizer's `context` map.
    Authorizer(Box<str>),
}

/// A compiled format.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    /// Values are JSON-escaped (the format is a JSON object).
    json: bool,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("parts", &self.parts.len())
            .field("json", &self.json)
            .finish()
    }
}

/// What a record is rendered from, borrowed from the request's state.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// `x-amzn-RequestId`.
    pub request_id: &'a [u8],
    /// Client address.
    pub source: SocketAddr,
    /// `User-Agent`.
    pub user_agent: Option<&'a [u8]>,
    /// Masked API key.
    pub api_key: Option<&'a [u8]>,
    /// Request method.
    pub http_method: &'a [u8],
    /// Matched resource, if a method matched.
    pub resource_path: Option<&'a str>,
    /// Request path without the query.
    pub path: &'a [u8],
    /// Status sent (0: none).
    pub status: u16,
    /// Body bytes sent.
    pub response_length: u64,
    /// When the request head was complete.
    pub request_time: SystemTime,
    /// Backend time, if an integration was called.
    pub integration_latency: Option<Duration>,
    /// Whole time in the gateway.
    pub response_latency: Duration,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub http_minor: u8,
    /// Stage name.
    pub stage: &'a str,
    /// API id.
    pub api_id: &'a str,
    /// `Host` header.
    pub domain_name: Option<&'a [u8]>,
    /// The gateway response sent, if the gateway answered itself.
    pub error: Option<GatewayResponse>,
    /// The client certificate verified by mutual TLS, if any.
    pub client_cert: Option<&'a ClientCert>,
    /// What a Lambda authorizer established, if one ran.
    pub authorizer: Option<&'a crate::exchange::Identity>,
    /// The gateway response's message when it was built for the request (a policy's denial
    /// naming the ARN, a signature error).
    pub error_message: Option<&'a str>,
}

impl Record<'static> {
    /// A record with every value present, for checking formats.
    fn sample() -> Self {
        Record {
            request_id: b"00000000-0000-4000-8000-000000000000",
            source: SocketAddr::from(([127, 0, 0, 1], 1)),
            user_agent: Some(b"agent"),
            api_key: Some(b"****abcd"),
            http_method: b"GET",
            resource_path: Some("/"),
            path: b"/stage/",
            status: 200,
            response_length: 1,
            request_time: UNIX_EPOCH,
            integration_latency: Some(Duration::from_millis(1)),
            response_latency: Duration::from_millis(1),
            http_minor: 1,
            stage: "stage",
            api_id: "api",
            domain_name: Some(b"host"),
            error: Some(GatewayResponse::MissingAuthenticationToken),
            client_cert: None,
            authorizer: None,
            error_message: None,
        }
    }
}

impl Template {
    /// Compiles a format; the error names the first unknown variable.
    pub fn parse(format: &str) -> Result<Template, String> {
        if format.contains(['\n', '\r']) {
            return Err("a format is one line: it cannot contain line breaks".into());
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = format;
        while let Some(at) = rest.find("$context.") {
            literal.push_str(&rest[..at]);
            let after = &rest[at + "$context.".len()..];
            let (len, part) = match authorizer_key(after) {
                Some((len, key)) => (len, Part::Authorizer(key.into())),
                None => lookup(after)
                    .map(|(len, var)| (len, Part::Var(var)))
                    .ok_or_else(|| unknown(after))?,
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(
                    std::mem::take(&mut literal).into_bytes().into(),
                ));
            }
            parts.push(part);
            rest = &after[len..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal.into_bytes().into()));
        }
        if !parts.iter().any(|p| !matches!(p, Part::Literal(_))) {
            return Err("the format uses no $context variable".into());
        }
        let template = Template {
            parts,
            json: format.trim_start().starts_with('{'),
        };
        template.check_json()?;
        Ok(template)
    }

    /// A format that starts with `{` must render valid JSON (checked on a sample record with
    /// every value present), so a missing quote or brace is found at load time, not by the
    /// log pipeline.
    fn check_json(&self) -> Result<(), String> {
        if !self.json {
            return Ok(());
        }
        let mut out = Vec::new();
        self.render(&mut out, &Record::sample());
        serde_json::from_slice::<serde::de::IgnoredAny>(&out)
            .map(|_| ())
            .map_err(|e| format!("the format starts with `{{` but does not render valid JSON: {e}"))
    }

    /// Appends one record (without the line feed) to `out`.
    pub fn render(&self, out: &mut Vec<u8>, r: &Record<'_>) {
        let mut num = itoa::Buffer::new();
        for part in &self.parts {
            match part {
                Part::Literal(bytes) => out.extend_from_slice(bytes),
                Part::Var(var) => self.value(out, *var, r, &mut num),
                Part::Authorizer(key) => self.authorizer(out, key, r, &mut num),
            }
        }
    }

    /// `$context.authorizer.KEY`; `-` when no authorizer ran or it set no such key.
    fn authorizer(&self, out: &mut Vec<u8>, key: &str, r: &Record<'_>, num: &mut itoa::Buffer) {
        let Some(identity) = r.authorizer else {
            out.push(b'-');
            return;
        };
        if let Some(claim) = key.strip_prefix("claims.") {
            let value = identity.claims.iter().find(|(k, _)| **k == *claim);
            match value {
                Some((_, v)) if !v.is_empty() => escape(out, v.as_bytes(), self.json),
                _ => out.push(b'-'),
            }
            return;
        }
        let value: Option<&[u8]> = match key {
            "principalId" => identity.principal_id.as_deref().map(str::as_bytes),
            "integrationLatency" => identity
                .authorizer_latency_ms
                .map(|ms| num.format(ms).as_bytes()),
            _ => identity
                .authorizer_context
                .iter()
                .find(|(k, _)| **k == *key)
                .map(|(_, v)| v.as_bytes()),
        };
        match value {
            Some(v) if !v.is_empty() => escape(out, v, self.json),
            _ => out.push(b'-'),
        }
    }

    fn value(&self, out: &mut Vec<u8>, var: Var, r: &Record<'_>, num: &mut itoa::Buffer) {
        let text = |out: &mut Vec<u8>, v: Option<&[u8]>| match v {
            Some(v) if !v.is_empty() => escape(out, v, self.json),
            _ => out.push(b'-'),
        };
        match var {
            Var::RequestId => text(out, Some(r.request_id)),
            Var::SourceIp => {
                let mut ip = [0u8; 64];
                text(
                    out,
                    Some(crate::http::write_ip(&mut ip, r.source.ip()).as_bytes()),
                );
            }
            Var::UserAgent => text(out, r.user_agent),
            Var::ApiKey => text(out, r.api_key),
            Var::HttpMethod => text(out, Some(r.http_method)),
            Var::ResourcePath => text(out, r.resource_path.map(str::as_bytes)),
            Var::Path => text(out, Some(r.path)),
            Var::Status if r.status == 0 => out.push(b'-'),
            Var::Status => out.extend_from_slice(num.format(r.status).as_bytes()),
            Var::ResponseLength => out.extend_from_slice(num.format(r.response_length).as_bytes()),
            Var::RequestTime => clf_time(out, r.request_time),
            Var::RequestTimeEpoch => {
                let ms = r
                    .request_time
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                out.extend_from_slice(num.format(ms).as_bytes());
            }
            Var::IntegrationLatency => match r.integration_latency {
                Some(d) => out.extend_from_slice(num.format(d.as_millis() as u64).as_bytes()),
                None => out.push(b'-'),
            },
            Var::ResponseLatency => {
                let ms = r.response_latency.as_millis() as u64;
                out.extend_from_slice(num.format(ms).as_bytes());
            }
            Var::Protocol if r.http_minor == 0 => out.extend_from_slice(b"HTTP/1.0"),
            Var::Protocol => out.extend_from_slice(b"HTTP/1.1"),
            Var::Stage => text(out, Some(r.stage.as_bytes())),
            Var::ApiId => text(out, Some(r.api_id.as_bytes())),
            Var::DomainName => text(out, r.domain_name),
            Var::ErrorMessage => match r.error_message {
                Some(m) => text(out, Some(m.as_bytes())),
                None => text(out, r.error.and_then(error_message)),
            },
            Var::ErrorResponseType => text(out, r.error.map(|e| response_type(e).as_bytes())),
            Var::ClientCertPem => text(out, cert_field(r, |c| &c.pem)),
            Var::ClientCertSubject => text(out, cert_field(r, |c| &c.subject_dn)),
            Var::ClientCertIssuer => text(out, cert_field(r, |c| &c.issuer_dn)),
            Var::ClientCertSerial => text(out, cert_field(r, |c| &c.serial_number)),
            Var::ClientCertNotBefore => text(out, cert_field(r, |c| &c.not_before)),
            Var::ClientCertNotAfter => text(out, cert_field(r, |c| &c.not_after)),
            Var::IamUser => text(out, iam_field(r, |i| &i.user_id)),
            Var::IamUserArn => text(out, iam_field(r, |i| &i.user_arn)),
            Var::IamAccessKey => text(out, iam_field(r, |i| &i.access_key)),
            Var::IamAccountId => text(out, iam_field(r, |i| &i.account_id)),
        }
    }
}

/// One field of the record's IAM caller, if it has one.
fn iam_field<'a>(
    r: &Record<'a>,
    field: fn(&'a crate::exchange::IamCaller) -> &'a str,
) -> Option<&'a [u8]> {
    r.authorizer
        .and_then(|a| a.iam.as_ref())
        .map(|i| field(i).as_bytes())
}

/// One field of the record's client certificate, if it has one.
fn cert_field<'a>(r: &Record<'a>, field: fn(&'a ClientCert) -> &'a String) -> Option<&'a [u8]> {
    r.client_cert.map(|c| field(c).as_bytes())
}

/// The `message` of a gateway response's JSON body (`{"message": "..."}`).
fn error_message(e: GatewayResponse) -> Option<&'static [u8]> {
    Some(e.message().as_bytes()).filter(|m| !m.is_empty())
}

/// AWS's gateway response type of a response (what a `gatewayResponses` key would be).
fn response_type(e: GatewayResponse) -> &'static str {
    // Protocol errors have no type of their own: AWS's defaults by status (a malformed body
    // is logged as BAD_REQUEST_BODY).
    match e.response_type() {
        Some(t) => t.as_str(),
        None if e == GatewayResponse::BadRequest => "BAD_REQUEST_BODY",
        None if e.status() >= 500 => "DEFAULT_5XX",
        None => "DEFAULT_4XX",
    }
}

/// `authorizer.NAME` at the start of `after`: (length, NAME). Any name is accepted, since the
/// keys of an authorizer's `context` are the function's to choose.
fn authorizer_key(after: &str) -> Option<(usize, &str)> {
    let rest = after.strip_prefix("authorizer.")?;
    let len = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || b"_-:".contains(b))
        .count();
    // `claims.NAME` of a token authorizer.
    let len = match rest[len..].strip_prefix('.') {
        Some(tail) if &rest[..len] == "claims" => {
            let more = tail
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || b"_-:".contains(b))
                .count();
            if more == 0 {
                return None;
            }
            len + 1 + more
        }
        _ => len,
    };
    (len > 0).then(|| ("authorizer.".len() + len, &rest[..len]))
}

/// The variable at the start of `after` (`$context.` already removed): the longest known name
/// not followed by another name character.
fn lookup(after: &str) -> Option<(usize, Var)> {
    NAMES
        .iter()
        .filter(|(name, _)| after.starts_with(name))
        .filter(|(name, _)| {
            let next = after.as_bytes().get(name.len()).copied();
            !matches!(next, Some(b) if b.is_ascii_alphanumeric() || b == b'_')
        })
        .max_by_key(|(name, _)| name.len())
        .map(|&(name, var)| (name.len(), var))
}

fn unknown(after: &str) -> String {
    let name: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
        .collect();
    let known: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
    format!(
        "unknown variable `$context.{name}` (known: {})",
        known.join(", ")
    )
}

/// Copies a value, JSON-escaped for JSON formats; control characters never reach the log
/// (one record per line).
fn escape(out: &mut Vec<u8>, v: &[u8], json: bool) {
    if !json {
        out.extend(
            v.iter()
                .map(|&b| if b < 0x20 || b == 0x7f { b'?' } else { b }),
        );
        return;
    }
    // Invalid UTF-8 (possible in header values) would make the line invalid JSON.
    let text = String::from_utf8_lossy(v);
    for &b in text.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            b => out.push(b),
        }
    }
}

/// `23/Nov/2026:10:52:44 +0000` (UTC), as `$context.requestTime`.
fn clf_time(out: &mut Vec<u8>, t: SystemTime) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    crate::clock::write_clf_time(out, secs);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record<'static> {
        Record {
            request_id: b"c0ffee00-0000-4000-8000-000000000001",
            source: "10.1.2.3:5555".parse().unwrap(),
            user_agent: Some(b"curl/8 \"quoted\" \\"),
            api_key: None,
            http_method: b"GET",
            resource_path: Some("/pets/{petId}"),
            path: b"/prod/pets/7",
            status: 200,
            response_length: 42,
            request_time: UNIX_EPOCH + Duration::from_millis(1_795_431_164_123),
            integration_latency: Some(Duration::from_micros(2_600)),
            response_latency: Duration::from_millis(3),
            http_minor: 1,
            stage: "prod",
            api_id: "petstore",
            domain_name: None,
            error: None,
            client_cert: None,
            authorizer: None,
            error_message: None,
        }
    }

    #[test]
    fn authorizer_values_render_when_an_authorizer_ran() {
        let t = Template::parse(
            r#"{"p":"$context.authorizer.principalId","t":"$context.authorizer.tier","l":"$context.authorizer.integrationLatency","x":"$context.authorizer.none","c":"$context.authorizer.claims.cognito:username"}"#,
        )
        .unwrap();
        let identity = crate::exchange::Identity {
            principal_id: Some("user \"1\"".into()),
            authorizer_context: vec![("tier".into(), "gold".into())].into(),
            usage_identifier_key: None,
            authorizer_latency_ms: Some(12),
            claims: vec![("cognito:username".into(), "ann".into())].into(),
            iam: None,
        };
        let mut out = Vec::new();
        t.render(
            &mut out,
            &Record {
                authorizer: Some(&identity),
                ..record()
            },
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"p": "user \"1\"", "t": "gold", "l": "12", "x": "-", "c": "ann"})
        );
        out.clear();
        t.render(&mut out, &record());
        assert_eq!(out, br#"{"p":"-","t":"-","l":"-","x":"-","c":"-"}"#);
        assert!(Template::parse("$context.authorizer.").is_err());
    }

    #[test]
    fn client_certificate_fields_render_when_mutual_tls_verified_one() {
        let t = Template::parse(
            r#"{"subject":"$context.identity.clientCert.subjectDN","serial":"$context.identity.clientCert.serialNumber","until":"$context.identity.clientCert.validity.notAfter"}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        t.render(&mut out, &record());
        assert_eq!(out, br#"{"subject":"-","serial":"-","until":"-"}"#);
        let cert = ClientCert {
            pem: String::new(),
            subject_dn: "CN=client \"one\",O=Test".into(),
            issuer_dn: "CN=Test CA".into(),
            serial_number: "01:02".into(),
            not_before: "Nov 23 00:00:00 2026 GMT".into(),
            not_after: "Nov 23 00:00:00 2027 GMT".into(),
        };
        out.clear();
        t.render(
            &mut out,
            &Record {
                client_cert: Some(&cert),
                ..record()
            },
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["subject"], "CN=client \"one\",O=Test");
        assert_eq!(v["serial"], "01:02");
        assert_eq!(v["until"], "Nov 23 00:00:00 2027 GMT");
    }

    #[test]
    fn gateway_errors_have_a_message_and_a_response_type() {
        let t = Template::parse("$context.error.message|$context.error.responseType").unwrap();
        let mut out = Vec::new();
        t.render(&mut out, &record());
        assert_eq!(out, b"-|-");
        for (e, line) in [
            (
                GatewayResponse::MissingAuthenticationToken,
                "Missing Authentication Token|MISSING_AUTHENTICATION_TOKEN",
            ),
            (
                GatewayResponse::IntegrationTimeout,
                "Endpoint request timed out|INTEGRATION_TIMEOUT",
            ),
            (
                GatewayResponse::HeadersTooLarge,
                "Request Header Fields Too Large|DEFAULT_4XX",
            ),
            (
                GatewayResponse::NotImplemented,
                "Not Implemented|DEFAULT_5XX",
            ),
        ] {
            out.clear();
            t.render(
                &mut out,
                &Record {
                    error: Some(e),
                    ..record()
                },
            );
            assert_eq!(String::from_utf8_lossy(&out), line);
        }
    }

    #[test]
    fn the_default_format_renders_valid_json() {
        let t = Template::parse(DEFAULT_FORMAT).unwrap();
        let mut out = Vec::new();
        t.render(&mut out, &record());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["requestId"], "c0ffee00-0000-4000-8000-000000000001");
        assert_eq!(v["ip"], "10.1.2.3");
        assert_eq!(v["requestTime"], "23/Nov/2026:10:52:44 +0000");
        assert_eq!(v["httpMethod"], "GET");
        assert_eq!(v["resourcePath"], "/pets/{petId}");
        assert_eq!(v["status"], "200");
        assert_eq!(v["protocol"], "HTTP/1.1");
        assert_eq!(v["responseLength"], "42");
        assert_eq!(v["integrationLatency"], "2");
        assert_eq!(v["responseLatency"], "3");
    }

    #[test]
    fn json_values_are_escaped_and_missing_values_are_dashes() {
        let t = Template::parse(
            r#"{"ua":"$context.identity.userAgent","key":"$context.identity.apiKey","host":"$context.domainName"}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        t.render(&mut out, &record());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["ua"], "curl/8 \"quoted\" \\");
        assert_eq!(v["key"], "-");
        assert_eq!(v["host"], "-");
    }

    #[test]
    fn clf_formats_render_as_text() {
        let t = Template::parse(
            "$context.identity.sourceIp - - [$context.requestTime] \"$context.httpMethod $context.path $context.protocol\" $context.status $context.responseLength $context.requestTimeEpoch $context.stage/$context.apiId.",
        )
        .unwrap();
        let mut out = Vec::new();
        t.render(&mut out, &record());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "10.1.2.3 - - [23/Nov/2026:10:52:44 +0000] \"GET /prod/pets/7 HTTP/1.1\" 200 42 1795431164123 prod/petstore."
        );
    }

    #[test]
    fn unknown_variables_are_refused() {
        let e = Template::parse("$context.status $context.nope").unwrap_err();
        assert!(e.contains("`$context.nope`"), "{e}");
        assert!(Template::parse("$context.statusCode").is_err());
        assert!(Template::parse("no variables").is_err());
        assert!(Template::parse("$context.status\n").is_err());
        let e = Template::parse(r#"{"status":"$context.status"#).unwrap_err();
        assert!(e.contains("valid JSON"), "{e}");
        assert!(Template::parse(r#"{"status":$context.status}"#).is_ok());
    }
}
