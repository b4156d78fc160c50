//! The Lambda proxy event, payload format 1.0: the JSON document a REST API sends its function.
//!
//! Written by hand into the caller's buffer, so an event costs a few scratch vectors (headers
//! and query parameters grouped by name) and no allocation per header. The shape follows AWS's
//! "Input format of a Lambda function for proxy integration" (developer guide,
//! set-up-lambda-proxy-integrations.md) and the events LocalStack recorded against real AWS
//! (localstack/localstack `tests/aws/services/apigateway/test_apigateway_lambda.snapshot.json`,
//! "the snapshot" below).

use std::cmp::Ordering;
use std::ops::Range;

use data_encoding::BASE64;

/// The request as the event describes it. Borrowed; nothing is copied until written.
pub struct EventInput<'a> {
    /// The resource path as configured, e.g. `/pets/{petId}`.
    pub resource: &'a str,
    /// AWS's `path`: the request path without the stage on the default execute-api host
    /// (`/pets/1`), still percent-encoded (the snapshot keeps `test%2Balias@gmail.com`).
    pub path: &'a str,
    /// `requestContext.path`: the path as the client sent it, stage included (`/prod/pets/1`).
    pub context_path: &'a str,
    pub http_method: &'a str,
    /// Request headers in received order, names as sent.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// The query string after `?`, still percent-encoded; `None` when there was no `?`.
    pub raw_query: Option<&'a [u8]>,
    /// Path parameters exactly as they appear in the URL. REST APIs do not percent-decode them
    /// (the snapshot's greedy `proxy` keeps `%2B`; HTTP APIs do decode, REST APIs don't).
    pub path_parameters: &'a [(&'a str, &'a str)],
    pub stage_variables: &'a [(&'a str, &'a str)],
    pub ctx: RequestContextInput<'a>,
    pub body: Option<&'a [u8]>,
    /// Whether the body goes base64-encoded: [`crate::http::media::is_binary`] of the request's Content-Type.
    pub base64_body: bool,
    /// A `REQUEST` authorizer's event instead of a proxy event: `type` and this `methodArn`
    /// first, no `body` (developer guide, "Input to an API Gateway Lambda authorizer").
    pub authorizer_method_arn: Option<&'a str>,
}

/// The `requestContext` values the gateway knows about the request.
pub struct RequestContextInput<'a> {
    pub resource_id: &'a str,
    pub stage: &'a str,
    pub request_id: &'a str,
    pub extended_request_id: &'a str,
    /// The request's arrival, Unix milliseconds: `requestTimeEpoch`, and `requestTime` in
    /// the Common Log Format ([`crate::clock::write_clf_time`]).
    pub request_time_epoch_ms: u64,
    pub protocol: &'a str,
    pub domain_name: &'a str,
    pub domain_prefix: &'a str,
    pub api_id: &'a str,
    pub account_id: &'a str,
    /// The deployment the stage points at (`deploymentId`, present in every AWS event).
    pub deployment_id: &'a str,
    /// Whether the stage's canary serves the request (`$context.isCanaryRequest`).
    pub is_canary: bool,
    pub source_ip: &'a str,
    pub user_agent: Option<&'a str>,
    /// The API key of a method that requires one; `apiKey`/`apiKeyId` are left out otherwise,
    /// as in the snapshot's events from methods without `apiKeyRequired`.
    pub api_key: Option<&'a str>,
    pub api_key_id: Option<&'a str>,
    /// The client certificate under mutual TLS; `clientCert` is left out otherwise.
    pub client_cert: Option<ClientCertInput<'a>>,
    /// What a Lambda authorizer established (`requestContext.authorizer`); left out when no
    /// authorizer ran.
    pub authorizer: Option<&'a crate::exchange::Identity>,
}

/// `requestContext.identity.clientCert` ($context.identity.clientCert.* in the AWS docs).
pub struct ClientCertInput<'a> {
    pub client_cert_pem: &'a str,
    pub subject_dn: &'a str,
    pub issuer_dn: &'a str,
    pub serial_number: &'a str,
    pub not_before: &'a str,
    pub not_after: &'a str,
}

/// Headers that never reach an integration (LocalStack `header_utils.py`,
/// `DROPPED_FROM_REQUEST_COMMON`; the snapshot's POST events have no Content-Length or Connection).
pub const DROPPED: [&str; 12] = [
    "connection",
    "content-length",
    "content-md5",
    "expect",
    "max-forwards",
    "proxy-authenticate",
    "server",
    "te",
    "transfer-encoding",
    "trailer",
    "upgrade",
    "www-authenticate",
];

/// Headers AWS renames in the event whatever their casing (snapshot: `aUThorization` arrives as
/// `Authorization`, `user-Agent` as `User-Agent`; LocalStack `aws.py` `_format_headers`).
const CANONICAL: [&str; 2] = ["Authorization", "User-Agent"];

/// Appends the event for `input` to `out` as compact JSON.
pub fn write_event(input: &EventInput<'_>, out: &mut Vec<u8>) {
    if let Some(arn) = input.authorizer_method_arn {
        out.extend_from_slice(b"{\"type\":\"REQUEST\",\"methodArn\":");
        string(out, arn);
        out.extend_from_slice(b",\"resource\":");
    } else {
        out.extend_from_slice(b"{\"resource\":");
    }
    string(out, input.resource);
    out.extend_from_slice(b",\"path\":");
    string(out, input.path);
    out.extend_from_slice(b",\"httpMethod\":");
    string(out, input.http_method);
    headers(out, input.headers);
    query(out, input.raw_query.unwrap_or_default());
    out.extend_from_slice(b",\"pathParameters\":");
    pairs(out, input.path_parameters);
    out.extend_from_slice(b",\"stageVariables\":");
    pairs(out, input.stage_variables);
    out.extend_from_slice(b",\"requestContext\":");
    request_context(out, input);
    if input.authorizer_method_arn.is_some() {
        out.push(b'}');
        return;
    }
    out.extend_from_slice(b",\"body\":");
    // No body and an empty body are both `null` (snapshot: GET events; LocalStack `body or None`).
    let body = input.body.filter(|b| !b.is_empty());
    match body {
        None => out.extend_from_slice(b"null"),
        Some(b) if input.base64_body => {
            out.push(b'"');
            let start = out.len();
            out.resize(start + BASE64.encode_len(b.len()), 0);
            BASE64.encode_mut(b, &mut out[start..]);
            out.push(b'"');
        }
        Some(b) => bytes(out, b),
    }
    out.extend_from_slice(b",\"isBase64Encoded\":");
    let base64 = body.is_some() && input.base64_body;
    out.extend_from_slice(if base64 { b"true}" } else { b"false}" });
}

fn request_context(out: &mut Vec<u8>, input: &EventInput<'_>) {
    let c = &input.ctx;
    let fields = [
        ("resourceId", c.resource_id),
        ("resourcePath", input.resource),
        ("httpMethod", input.http_method),
        ("extendedRequestId", c.extended_request_id),
        ("path", input.context_path),
        ("accountId", c.account_id),
        ("protocol", c.protocol),
        ("stage", c.stage),
        ("domainPrefix", c.domain_prefix),
    ];
    object_fields(out, b'{', &fields);
    out.extend_from_slice(b",\"requestTime\":\"");
    crate::clock::write_clf_time(out, c.request_time_epoch_ms / 1000);
    out.extend_from_slice(b"\",\"requestTimeEpoch\":");
    out.extend_from_slice(
        itoa::Buffer::new()
            .format(c.request_time_epoch_ms)
            .as_bytes(),
    );
    out.extend_from_slice(b",\"requestId\":");
    string(out, c.request_id);
    // The twelve identity keys of every snapshot event, null when the gateway has no value;
    // an IAM caller fills accountId, caller, accessKey, userArn and user.
    let iam = c.authorizer.and_then(|a| a.iam.as_ref());
    out.extend_from_slice(b",\"identity\":{\"cognitoIdentityPoolId\":null,\"accountId\":");
    opt_string(out, iam.map(|i| &*i.account_id));
    out.extend_from_slice(b",\"cognitoIdentityId\":null,\"caller\":");
    opt_string(out, iam.map(|i| &*i.user_id));
    if let Some(key) = c.api_key {
        out.extend_from_slice(b",\"apiKey\":");
        string(out, key);
        out.extend_from_slice(b",\"apiKeyId\":");
        opt_string(out, c.api_key_id);
    }
    out.extend_from_slice(b",\"sourceIp\":");
    string(out, c.source_ip);
    out.extend_from_slice(b",\"principalOrgId\":null,\"accessKey\":");
    opt_string(out, iam.map(|i| &*i.access_key));
    out.extend_from_slice(
        b",\"cognitoAuthenticationType\":null,\"cognitoAuthenticationProvider\":null,\"userArn\":",
    );
    opt_string(out, iam.map(|i| &*i.user_arn));
    out.extend_from_slice(b",\"userAgent\":");
    opt_string(out, c.user_agent);
    out.extend_from_slice(b",\"user\":");
    opt_string(out, iam.map(|i| &*i.user_id));
    if let Some(cert) = &c.client_cert {
        out.extend_from_slice(b",\"clientCert\":");
        let fields = [
            ("clientCertPem", cert.client_cert_pem),
            ("subjectDN", cert.subject_dn),
            ("issuerDN", cert.issuer_dn),
            ("serialNumber", cert.serial_number),
        ];
        object_fields(out, b'{', &fields);
        out.extend_from_slice(b",\"validity\":");
        let validity = [("notBefore", cert.not_before), ("notAfter", cert.not_after)];
        object_fields(out, b'{', &validity);
        out.extend_from_slice(b"}}");
    }
    out.push(b'}');
    if let Some(identity) = c.authorizer.filter(|a| a.iam.is_none()) {
        authorizer(out, identity);
    }
    let fields = [
        ("domainName", c.domain_name),
        ("deploymentId", c.deployment_id),
        ("apiId", c.api_id),
    ];
    object_fields(out, b',', &fields);
    out.push(b'}');
}

/// `requestContext.authorizer` of a Lambda authorizer: its `context` values (strings, as API
/// Gateway stringifies them), `principalId`, and `integrationLatency` in milliseconds
/// (DefinitelyTyped's `APIGatewayEventDefaultAuthorizerContext`: "API Gateway proxy
/// integration mangles the context from a custom authorizer, converting all number or boolean
/// properties to string, and adding some extra properties").
fn authorizer(out: &mut Vec<u8>, identity: &crate::exchange::Identity) {
    // A token authorizer's: `{"claims": {...}}` (DefinitelyTyped's
    // `APIGatewayEventRequestContextWithAuthorizer` for Cognito: every claim a string).
    if identity.principal_id.is_none() {
        out.extend_from_slice(b",\"authorizer\":{\"claims\":");
        let claims: Vec<(&str, &str)> = identity.claims.iter().map(|(k, v)| (&**k, &**v)).collect();
        pairs(out, &claims);
        out.push(b'}');
        return;
    }
    out.extend_from_slice(b",\"authorizer\":{");
    let own = |k: &str| k == "principalId" || k == "integrationLatency";
    for (k, v) in identity.authorizer_context.iter().filter(|(k, _)| !own(k)) {
        string(out, k);
        out.push(b':');
        string(out, v);
        out.push(b',');
    }
    out.extend_from_slice(b"\"principalId\":");
    opt_string(out, identity.principal_id.as_deref());
    out.extend_from_slice(b",\"integrationLatency\":");
    let latency = identity.authorizer_latency_ms.unwrap_or(0);
    out.extend_from_slice(itoa::Buffer::new().format(latency).as_bytes());
    out.push(b'}');
}

/// Writes `"k":"v"` pairs, the first one after `open`, without the closing brace. The keys
/// are the event's own names (plain ASCII, nothing to escape); only values are escaped.
fn object_fields(out: &mut Vec<u8>, open: u8, fields: &[(&str, &str)]) {
    for (i, (key, value)) in fields.iter().enumerate() {
        out.push(if i == 0 { open } else { b',' });
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":\"");
        escape(out, value.as_bytes());
        out.push(b'"');
    }
}

/// A map of strings, or `null` when empty (snapshot: `pathParameters` and `stageVariables` are
/// `null`, never `{}`).
fn pairs(out: &mut Vec<u8>, pairs: &[(&str, &str)]) {
    if pairs.is_empty() {
        out.extend_from_slice(b"null");
        return;
    }
    // Request data: keys are escaped as well as values.
    for (i, (key, value)) in pairs.iter().enumerate() {
        out.push(if i == 0 { b'{' } else { b',' });
        string(out, key);
        out.push(b':');
        string(out, value);
    }
    out.push(b'}');
}

/// `headers` and `multiValueHeaders`. Names group case-insensitively under their first
/// spelling; `headers` holds the last value of each name (captured events: glassechidna/
/// serverlessish#4 shows `header-double: second` after `first` and `second`; floci-io/floci#1806),
/// `multiValueHeaders` every value in received order. Both are `null` when no header is left.
fn headers(out: &mut Vec<u8>, all: &[(&[u8], &[u8])]) {
    let kept: Vec<(&[u8], &[u8])> = all
        .iter()
        .filter(|(name, _)| {
            !DROPPED
                .iter()
                .any(|d| d.as_bytes().eq_ignore_ascii_case(name))
        })
        .copied()
        .collect();
    let groups = Groups::new(kept.len(), |a, b| cmp_ignore_case(kept[a].0, kept[b].0));
    let key = |out: &mut Vec<u8>, first: u32| {
        let name = kept[first as usize].0;
        match CANONICAL
            .iter()
            .find(|c| c.as_bytes().eq_ignore_ascii_case(name))
        {
            Some(canonical) => string(out, canonical),
            None => bytes(out, name),
        }
    };
    let value = |m: u32| kept[m as usize].1;
    groups.write_maps(
        out,
        b",\"headers\":",
        b",\"multiValueHeaders\":",
        key,
        value,
    );
}

/// `queryStringParameters` and `multiValueQueryStringParameters`: pairs split on `&`, names and
/// values percent-decoded with `+` as a space (snapshot "params-encoding": `plus=test+alias`
/// arrives as `test alias`, `email=test%2Balias` as `test+alias`), the last value winning in the
/// single map (snapshot "params-encoding-multi": `price=10&price=20&price=30` gives `"30"`). Both
/// `null` without parameters. Not from a source: a name without `=` gets `""`, a `%` without two
/// hex digits stays literal, and decoded bytes that are not UTF-8 become U+FFFD.
fn query(out: &mut Vec<u8>, raw: &[u8]) {
    let mut buf = Vec::with_capacity(raw.len());
    let mut params: Vec<(Range<usize>, Range<usize>)> = Vec::new();
    for part in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match memchr::memchr(b'=', part) {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &b""[..]),
        };
        let start = buf.len();
        percent_decode(&mut buf, name);
        let mid = buf.len();
        percent_decode(&mut buf, value);
        params.push((start..mid, mid..buf.len()));
    }
    let name = |i: usize| &buf[params[i].0.clone()];
    let value = |i: u32| &buf[params[i as usize].1.clone()];
    let groups = Groups::new(params.len(), |a, b| name(a).cmp(name(b)));
    let key = |out: &mut Vec<u8>, first: u32| bytes(out, name(first as usize));
    let single = b",\"queryStringParameters\":";
    let multi = b",\"multiValueQueryStringParameters\":";
    groups.write_maps(out, single, multi, key, value);
}

/// Items grouped by a comparison: `order` holds item indices with equal items adjacent and in
/// original order, `runs` the group ranges in `order`, sorted by each group's first item. Sorting
/// keeps a request with thousands of headers at n log n.
struct Groups {
    order: Vec<u32>,
    runs: Vec<Range<usize>>,
}

impl Groups {
    fn new(n: usize, cmp: impl Fn(usize, usize) -> Ordering) -> Self {
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by(|&a, &b| cmp(a as usize, b as usize).then(a.cmp(&b)));
        let mut runs = Vec::new();
        let mut start = 0;
        for i in 1..=n {
            if i == n || cmp(order[start] as usize, order[i] as usize) != Ordering::Equal {
                runs.push(start..i);
                start = i;
            }
        }
        runs.sort_unstable_by_key(|r| order[r.start]);
        Groups { order, runs }
    }

    /// Writes the two maps of grouped items, `single` (each group's last value) then `multi`
    /// (all its values in order), both `null` when there is no group; `key` writes a group's
    /// name from its first item.
    fn write_maps<'v>(
        &self,
        out: &mut Vec<u8>,
        single: &[u8],
        multi: &[u8],
        key: impl Fn(&mut Vec<u8>, u32),
        value: impl Fn(u32) -> &'v [u8],
    ) {
        for (field, all) in [(single, false), (multi, true)] {
            out.extend_from_slice(field);
            if self.runs.is_empty() {
                out.extend_from_slice(b"null");
                continue;
            }
            for (i, run) in self.runs.iter().enumerate() {
                let members = &self.order[run.clone()];
                out.push(if i == 0 { b'{' } else { b',' });
                key(out, members[0]);
                out.push(b':');
                if all {
                    for (j, &m) in members.iter().enumerate() {
                        out.push(if j == 0 { b'[' } else { b',' });
                        bytes(out, value(m));
                    }
                    out.push(b']');
                } else if let Some(&last) = members.last() {
                    bytes(out, value(last));
                }
            }
            out.push(b'}');
        }
    }
}

fn cmp_ignore_case(a: &[u8], b: &[u8]) -> Ordering {
    let lower = u8::to_ascii_lowercase;
    a.iter().map(lower).cmp(b.iter().map(lower))
}

/// `%XX` to the byte, `+` to a space; a `%` without two hex digits stays as it is.
pub fn percent_decode(out: &mut Vec<u8>, s: &[u8]) {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                s.get(i + 1).and_then(|&b| hex(b)),
                s.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape(out, s.as_bytes());
    out.push(b'"');
}

fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string of bytes that should be UTF-8: the event is JSON text, so invalid sequences
/// become U+FFFD, as `String::from_utf8_lossy` does (LocalStack decodes header values the same
/// way; binary bodies are meant to go base64 through `binaryMediaTypes`).
fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'"');
    if b.is_ascii() {
        escape(out, b);
        out.push(b'"');
        return;
    }
    for chunk in b.utf8_chunks() {
        escape(out, chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
    out.push(b'"');
}

/// Whether `s` holds a `"`, a `\` or a control character, eight bytes per step (SWAR: a byte
/// of `x` is below `n` when `(x - n*0x01..) & !x & 0x80..` has its top bit set, and equal to
/// `c` when `x ^ c*0x01..` has a zero byte).
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut words = s.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        if control | zero_byte(x ^ (ONES * 0x22)) | zero_byte(x ^ (ONES * 0x5c)) != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Escapes `"`, `\` and control characters (as `\u00XX`) of valid UTF-8.
fn escape(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Most values need no escape: checked eight bytes at a time, then copied whole.
    if !needs_escape(s) {
        out.extend_from_slice(s);
        return;
    }
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if b == b'"' || b == b'\\' || b < 0x20 {
            out.extend_from_slice(&s[start..i]);
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]),
            }
            start = i + 1;
        }
    }
    out.extend_from_slice(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_check_finds_every_byte_that_needs_an_escape() {
        for len in 0..20 {
            let clean = vec![b'a'; len];
            assert!(!needs_escape(&clean));
            for pos in 0..len {
                for bad in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut v = clean.clone();
                    v[pos] = bad;
                    assert!(needs_escape(&v), "{v:?}");
                }
                for fine in [0x20, 0x7f, 0x80, 0xff, b'!', b'#', b'[', b']'] {
                    let mut v = clean.clone();
                    v[pos] = fine;
                    assert!(!needs_escape(&v), "{v:?}");
                }
            }
        }
    }
    use serde_json::{json, Value};

    fn ctx() -> RequestContextInput<'static> {
        RequestContextInput {
            resource_id: "roq9wj",
            stage: "prod",
            request_id: "deef4878-7910-11e6-8f14-25afc3e9ae33",
            extended_request_id: "ext-1",
            request_time_epoch_ms: 1_519_166_937_665,
            protocol: "HTTP/1.1",
            domain_name: "abc123.execute-api.us-east-1.amazonaws.com",
            domain_prefix: "abc123",
            api_id: "abc123",
            account_id: "123456789012",
            deployment_id: "dep1",
            is_canary: false,
            source_ip: "192.0.2.1",
            user_agent: None,
            api_key: None,
            api_key_id: None,
            client_cert: None,
            authorizer: None,
        }
    }

    #[test]
    fn request_authorizer_events_lead_with_type_and_arn_and_have_no_body() {
        let e = event(&EventInput {
            authorizer_method_arn: Some("arn:aws:execute-api:us-east-1:1:abc123/prod/GET/pets"),
            body: Some(b"ignored"),
            ..input()
        });
        assert_eq!(e["type"], "REQUEST");
        assert_eq!(
            e["methodArn"],
            "arn:aws:execute-api:us-east-1:1:abc123/prod/GET/pets"
        );
        assert_eq!(e["resource"], "/pets");
        assert_eq!(e["requestContext"]["stage"], "prod");
        assert!(e.get("body").is_none() && e.get("isBase64Encoded").is_none());
    }

    #[test]
    fn authorizer_context_reaches_the_request_context_as_strings() {
        let identity = crate::exchange::Identity {
            principal_id: Some("user-1".into()),
            authorizer_context: vec![("tier".into(), "gold".into()), ("n".into(), "1".into())]
                .into(),
            usage_identifier_key: None,
            authorizer_latency_ms: Some(7),
            claims: Default::default(),
            iam: None,
        };
        let e = event(&EventInput {
            ctx: RequestContextInput {
                authorizer: Some(&identity),
                ..ctx()
            },
            ..input()
        });
        assert_eq!(
            e["requestContext"]["authorizer"],
            json!({"tier": "gold", "n": "1", "principalId": "user-1", "integrationLatency": 7})
        );
        assert!(event(&input())["requestContext"]
            .get("authorizer")
            .is_none());
    }

    fn input() -> EventInput<'static> {
        EventInput {
            resource: "/pets",
            path: "/pets",
            context_path: "/prod/pets",
            http_method: "GET",
            headers: &[],
            raw_query: None,
            path_parameters: &[],
            stage_variables: &[],
            ctx: ctx(),
            body: None,
            base64_body: false,
            authorizer_method_arn: None,
        }
    }

    fn event(input: &EventInput<'_>) -> Value {
        let mut out = b"prefix".to_vec();
        write_event(input, &mut out);
        assert_eq!(&out[..6], b"prefix", "appends");
        serde_json::from_slice(&out[6..]).unwrap()
    }

    #[test]
    fn get_without_query_or_headers_has_nulls_and_the_full_context() {
        let expected = json!({
            "resource": "/pets",
            "path": "/pets",
            "httpMethod": "GET",
            "headers": null,
            "multiValueHeaders": null,
            "queryStringParameters": null,
            "multiValueQueryStringParameters": null,
            "pathParameters": null,
            "stageVariables": null,
            "requestContext": {
                "resourceId": "roq9wj",
                "resourcePath": "/pets",
                "httpMethod": "GET",
                "extendedRequestId": "ext-1",
                "requestTime": "20/Feb/2018:22:48:57 +0000",
                "path": "/prod/pets",
                "accountId": "123456789012",
                "protocol": "HTTP/1.1",
                "stage": "prod",
                "domainPrefix": "abc123",
                "requestTimeEpoch": 1_519_166_937_665_u64,
                "requestId": "deef4878-7910-11e6-8f14-25afc3e9ae33",
                "identity": {
                    "cognitoIdentityPoolId": null,
                    "accountId": null,
                    "cognitoIdentityId": null,
                    "caller": null,
                    "sourceIp": "192.0.2.1",
                    "principalOrgId": null,
                    "accessKey": null,
                    "cognitoAuthenticationType": null,
                    "cognitoAuthenticationProvider": null,
                    "userArn": null,
                    "userAgent": null,
                    "user": null
                },
                "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                "deploymentId": "dep1",
                "apiId": "abc123"
            },
            "body": null,
            "isBase64Encoded": false
        });
        assert_eq!(event(&input()), expected);
        // `?` with nothing after it is no parameters; an empty body is no body.
        let e = event(&EventInput {
            raw_query: Some(&b"&&"[..]),
            body: Some(&b""[..]),
            base64_body: true,
            ..input()
        });
        assert_eq!(e, expected);
    }

    #[test]
    fn repeated_headers_keep_the_last_value_and_every_value() {
        let headers: &[(&[u8], &[u8])] = &[
            (b"Accept", b"*/*"),
            (b"X-Multi", b"1"),
            (b"tEsT-HEADeR", b"aValUE"),
            (b"x-multi", b"2"),
            (b"X-MULTI", b"3"),
            (b"content-length", b"12"),
            (b"Connection", b"keep-alive"),
            (b"aUThorization", b"Bearer t"),
            (b"user-agent", b"curl/8"),
        ];
        let e = event(&EventInput { headers, ..input() });
        assert_eq!(
            e["headers"],
            json!({"Accept": "*/*", "X-Multi": "3", "tEsT-HEADeR": "aValUE",
                   "Authorization": "Bearer t", "User-Agent": "curl/8"})
        );
        assert_eq!(
            e["multiValueHeaders"],
            json!({"Accept": ["*/*"], "X-Multi": ["1", "2", "3"], "tEsT-HEADeR": ["aValUE"],
                   "Authorization": ["Bearer t"], "User-Agent": ["curl/8"]})
        );
        // Groups come out in first-appearance order.
        let mut out = Vec::new();
        write_event(&EventInput { headers, ..input() }, &mut out);
        let text = String::from_utf8(out).unwrap();
        let at = |s: &str| text.find(s).unwrap();
        assert!(at("\"Accept\":\"*/*\"") < at("\"X-Multi\":\"3\""));
        assert!(at("\"X-Multi\":\"3\"") < at("\"tEsT-HEADeR\""));
        // Only dropped headers left: null maps.
        let only_dropped: &[(&[u8], &[u8])] = &[(b"Content-Length", b"0")];
        let e = event(&EventInput {
            headers: only_dropped,
            ..input()
        });
        assert_eq!(
            (&e["headers"], &e["multiValueHeaders"]),
            (&json!(null), &json!(null))
        );
    }

    #[test]
    fn repeated_query_keys_keep_the_last_value_and_every_value() {
        let e = event(&EventInput {
            raw_query: Some(
                &b"category=electronics&price=10&category=books&price=20&flag&&price=30"[..],
            ),
            ..input()
        });
        assert_eq!(
            e["queryStringParameters"],
            json!({"category": "books", "price": "30", "flag": ""})
        );
        assert_eq!(
            e["multiValueQueryStringParameters"],
            json!({"category": ["electronics", "books"], "price": ["10", "20", "30"], "flag": [""]})
        );
    }

    #[test]
    fn query_names_and_values_are_percent_decoded() {
        let e = event(&EventInput {
            raw_query: Some(
                &b"email=test%2Balias%40gmail.com&plus=test+alias&dateTimeOffset=12:05+00:00\
                  &url=https%3A%2F%2Fwww.google.com%2F&odd=100%&bad=%zz%4&u=%C3%A9%FF&na%20me=v"[..],
            ),
            ..input()
        });
        assert_eq!(
            e["queryStringParameters"],
            json!({
                "email": "test+alias@gmail.com",
                "plus": "test alias",
                "dateTimeOffset": "12:05 00:00",
                "url": "https://www.google.com/",
                "odd": "100%",
                "bad": "%zz%4",
                "u": "é\u{FFFD}",
                "na me": "v"
            })
        );
    }

    #[test]
    fn greedy_path_parameters_stay_percent_encoded() {
        let e = event(&EventInput {
            resource: "/{proxy+}",
            path: "/api/user/test%2Balias@gmail.com",
            context_path: "/prod/api/user/test%2Balias@gmail.com",
            path_parameters: &[("proxy", "api/user/test%2Balias@gmail.com")],
            ..input()
        });
        assert_eq!(e["resource"], "/{proxy+}");
        assert_eq!(e["requestContext"]["resourcePath"], "/{proxy+}");
        assert_eq!(e["path"], "/api/user/test%2Balias@gmail.com");
        assert_eq!(
            e["requestContext"]["path"],
            "/prod/api/user/test%2Balias@gmail.com"
        );
        assert_eq!(
            e["pathParameters"],
            json!({"proxy": "api/user/test%2Balias@gmail.com"})
        );
    }

    #[test]
    fn stage_variables_are_a_map() {
        let e = event(&EventInput {
            stage_variables: &[("lambdaAlias", "live"), ("quote", "a\"b")],
            ..input()
        });
        assert_eq!(
            e["stageVariables"],
            json!({"lambdaAlias": "live", "quote": "a\"b"})
        );
    }

    #[test]
    fn a_binary_body_goes_base64() {
        let e = event(&EventInput {
            http_method: "POST",
            body: Some(&[0x89, b'P', b'N', b'G', 0, 0xff][..]),
            base64_body: true,
            ..input()
        });
        assert_eq!(e["body"], "iVBORwD/");
        assert_eq!(e["isBase64Encoded"], true);
    }

    #[test]
    fn a_text_body_is_escaped_and_invalid_utf8_replaced() {
        let e = event(&EventInput {
            http_method: "POST",
            body: Some(&b"{\r\n\t\"a\": \"\\\x01\x1f\"}\xff\xfe caf\xc3\xa9"[..]),
            ..input()
        });
        assert_eq!(
            e["body"],
            "{\r\n\t\"a\": \"\\\u{1}\u{1f}\"}\u{FFFD}\u{FFFD} café"
        );
        assert_eq!(e["isBase64Encoded"], false);
        let mut out = Vec::new();
        write_event(
            &EventInput {
                body: Some(&b"\x01\n"[..]),
                ..input()
            },
            &mut out,
        );
        assert!(String::from_utf8(out)
            .unwrap()
            .contains(r#""body":"\u0001\u000a""#));
    }

    #[test]
    fn identity_carries_user_agent_api_key_and_client_cert_when_known() {
        let e = event(&EventInput {
            ctx: RequestContextInput {
                user_agent: Some("python-requests/testing"),
                api_key: Some("key-value"),
                api_key_id: Some("k1"),
                client_cert: Some(ClientCertInput {
                    client_cert_pem: "-----BEGIN CERTIFICATE-----\nMII\n",
                    subject_dn: "CN=client",
                    issuer_dn: "CN=ca",
                    serial_number: "01",
                    not_before: "May 28 12:30:02 2019 GMT",
                    not_after: "Aug  5 09:36:04 2021 GMT",
                }),
                ..ctx()
            },
            ..input()
        });
        let identity = &e["requestContext"]["identity"];
        assert_eq!(identity["userAgent"], "python-requests/testing");
        assert_eq!(identity["apiKey"], "key-value");
        assert_eq!(identity["apiKeyId"], "k1");
        assert_eq!(
            identity["clientCert"],
            json!({
                "clientCertPem": "-----BEGIN CERTIFICATE-----\nMII\n",
                "subjectDN": "CN=client",
                "issuerDN": "CN=ca",
                "serialNumber": "01",
                "validity": {"notBefore": "May 28 12:30:02 2019 GMT",
                             "notAfter": "Aug  5 09:36:04 2021 GMT"}
            })
        );
        assert_eq!(identity.as_object().unwrap().len(), 15);
        // Without them the keys are absent, as in AWS's events.
        let e = event(&input());
        let identity = e["requestContext"]["identity"].as_object().unwrap();
        assert!(!identity.contains_key("apiKey") && !identity.contains_key("clientCert"));
    }
}
