//! The Lambda events of WebSocket routes, as API Gateway sends them. There is no recorded
//! public test suite for WebSocket APIs (LocalStack's are in its paid edition), so the shapes
//! and key order follow real events published by AWS's own SDKs (aws-lambda-go
//! `events/testdata/apigw-websocket-request-{send-message,disconnect}.json`, 2024) and the
//! developer guide ("WebSocket API mapping template reference"):
//! - `$connect`: `headers`, `multiValueHeaders` (the handshake's, with the gateway's
//!   `X-Forwarded-For` and `-Proto`; AWS adds `-Port` too), the query string when there is
//!   one, `requestContext`,
//!   `isBase64Encoded`;
//! - a message: `requestContext` (with `messageId`), `body`, `isBase64Encoded`;
//! - `$disconnect`: AWS's fixed headers (`Host`, and empty `x-api-key`, `X-Forwarded-For`,
//!   `x-restapi`), `requestContext` with `disconnectStatusCode` and `disconnectReason`.
//!
//! `requestId` equals `extendedRequestId` ("Same as $context.extendedRequestId"); `identity`
//! is the current form, `userAgent` (when the client sent one) and `sourceIp`.

use serde_json::{json, Map, Value};

/// What every event's `requestContext` says about the connection.
#[derive(Debug, Clone)]
pub struct ConnectionFacts<'a> {
    pub api_id: &'a str,
    pub stage: &'a str,
    pub connection_id: &'a str,
    pub connected_at_ms: u64,
    pub domain_name: &'a str,
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    /// What the `$connect` authorizer granted (`requestContext.authorizer` of every event).
    pub authorizer: Option<&'a crate::auth::lambda::Grant>,
}

/// What one event is for.
#[derive(Debug, Clone)]
pub enum Kind<'a> {
    /// The handshake: its headers (in order, names as sent) and query pairs.
    Connect {
        headers: &'a [(String, String)],
        query: &'a [(String, String)],
    },
    /// A message from the client to `route_key`.
    Message {
        route_key: &'a str,
        message_id: &'a str,
        body: &'a [u8],
    },
    /// The connection ended (`disconnectStatusCode`, `disconnectReason`).
    Disconnect { status: u16, reason: &'a str },
}

/// The event's JSON.
pub fn write(
    facts: &ConnectionFacts<'_>,
    kind: &Kind<'_>,
    request_id: &str,
    now_ms: u64,
    variables: &[(Box<str>, Box<str>)],
) -> Vec<u8> {
    let mut event = Map::new();
    match kind {
        Kind::Connect { headers, query } => {
            let (single, multi) = pairs(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            event.insert("headers".into(), single);
            event.insert("multiValueHeaders".into(), multi);
            if !query.is_empty() {
                let (single, multi) = pairs(query.iter().map(|(n, v)| (n.as_str(), v.as_str())));
                event.insert("queryStringParameters".into(), single);
                event.insert("multiValueQueryStringParameters".into(), multi);
            }
        }
        Kind::Disconnect { .. } => {
            let fixed = [
                ("Host", facts.domain_name),
                ("x-api-key", ""),
                ("X-Forwarded-For", ""),
                ("x-restapi", ""),
            ];
            let (single, multi) = pairs(fixed.into_iter());
            event.insert("headers".into(), single);
            event.insert("multiValueHeaders".into(), multi);
        }
        Kind::Message { .. } => {}
    }
    event.insert(
        "requestContext".into(),
        request_context(facts, kind, request_id, now_ms),
    );
    if let Kind::Message { body, .. } = kind {
        // Text frames only reach a route (a binary frame closes the connection with 1003),
        // but a lossless fallback costs nothing.
        match std::str::from_utf8(body) {
            Ok(text) => {
                event.insert("body".into(), json!(text));
                event.insert("isBase64Encoded".into(), json!(false));
            }
            Err(_) => {
                event.insert("body".into(), json!(data_encoding::BASE64.encode(body)));
                event.insert("isBase64Encoded".into(), json!(true));
            }
        }
    } else {
        event.insert("isBase64Encoded".into(), json!(false));
    }
    if !variables.is_empty() {
        let vars: Map<String, Value> = variables
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        event.insert("stageVariables".into(), Value::Object(vars));
    }
    serde_json::to_vec(&Value::Object(event)).unwrap_or_default()
}

/// The `REQUEST` authorizer's event for a `$connect` (developer guide, "Create a WebSocket
/// API Lambda REQUEST authorizer function": `type`, `methodArn`, the handshake's headers and
/// query string, `stageVariables`, `requestContext`).
pub fn write_authorizer(
    facts: &ConnectionFacts<'_>,
    headers: &[(String, String)],
    query: &[(String, String)],
    method_arn: &str,
    request_id: &str,
    now_ms: u64,
    variables: &[(Box<str>, Box<str>)],
) -> Vec<u8> {
    let mut event = Map::new();
    event.insert("type".into(), json!("REQUEST"));
    event.insert("methodArn".into(), json!(method_arn));
    let (single, multi) = pairs(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    event.insert("headers".into(), single);
    event.insert("multiValueHeaders".into(), multi);
    let (single, multi) = pairs(query.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    event.insert("queryStringParameters".into(), single);
    event.insert("multiValueQueryStringParameters".into(), multi);
    let vars: Map<String, Value> = variables
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    event.insert("stageVariables".into(), Value::Object(vars));
    let kind = Kind::Connect { headers, query };
    event.insert(
        "requestContext".into(),
        request_context(facts, &kind, request_id, now_ms),
    );
    serde_json::to_vec(&Value::Object(event)).unwrap_or_default()
}

/// `requestContext`, keys in the order of AWS's events.
fn request_context(
    facts: &ConnectionFacts<'_>,
    kind: &Kind<'_>,
    request_id: &str,
    now_ms: u64,
) -> Value {
    let mut time = Vec::with_capacity(32);
    crate::clock::write_clf_time(&mut time, now_ms / 1000);
    let mut c = Map::new();
    let (route_key, event_type) = match kind {
        Kind::Connect { .. } => ("$connect", "CONNECT"),
        Kind::Message { route_key, .. } => (*route_key, "MESSAGE"),
        Kind::Disconnect { .. } => ("$disconnect", "DISCONNECT"),
    };
    c.insert("routeKey".into(), json!(route_key));
    match kind {
        Kind::Message { message_id, .. } => {
            c.insert("messageId".into(), json!(message_id));
        }
        Kind::Disconnect { status, .. } => {
            c.insert("disconnectStatusCode".into(), json!(status));
        }
        Kind::Connect { .. } => {}
    }
    c.insert("eventType".into(), json!(event_type));
    c.insert("extendedRequestId".into(), json!(request_id));
    c.insert("requestTime".into(), json!(String::from_utf8_lossy(&time)));
    c.insert("messageDirection".into(), json!("IN"));
    if let Kind::Disconnect { reason, .. } = kind {
        c.insert("disconnectReason".into(), json!(reason));
    }
    c.insert("stage".into(), json!(facts.stage));
    c.insert("connectedAt".into(), json!(facts.connected_at_ms));
    c.insert("requestTimeEpoch".into(), json!(now_ms));
    let mut identity = Map::new();
    if !facts.user_agent.is_empty() {
        identity.insert("userAgent".into(), json!(facts.user_agent));
    }
    identity.insert("sourceIp".into(), json!(facts.source_ip));
    c.insert("identity".into(), Value::Object(identity));
    // As in REST proxy events: principalId, the context's entries, integrationLatency.
    if let Some(grant) = facts.authorizer {
        let mut a = Map::new();
        a.insert("principalId".into(), json!(&*grant.principal_id));
        for (k, v) in grant.context.iter() {
            a.insert(k.to_string(), json!(&**v));
        }
        a.insert("integrationLatency".into(), json!(grant.latency_ms));
        c.insert("authorizer".into(), Value::Object(a));
    }
    c.insert("requestId".into(), json!(request_id));
    c.insert("domainName".into(), json!(facts.domain_name));
    c.insert("connectionId".into(), json!(facts.connection_id));
    c.insert("apiId".into(), json!(facts.api_id));
    Value::Object(c)
}

/// `{name: last value}` and `{name: [values]}`, as the REST proxy event folds repeats.
fn pairs<'a>(list: impl Iterator<Item = (&'a str, &'a str)>) -> (Value, Value) {
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (name, value) in list {
        single.insert(name.to_string(), json!(value));
        match multi.get_mut(name) {
            Some(Value::Array(values)) => values.push(json!(value)),
            _ => {
                multi.insert(name.to_string(), json!([value]));
            }
        }
    }
    (Value::Object(single), Value::Object(multi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ConnectionFacts<'static> {
        ConnectionFacts {
            api_id: "chat",
            stage: "prod",
            connection_id: "AAAAAAAAAAAAAAA=",
            connected_at_ms: 1_700_000_000_000,
            domain_name: "chat.execute-api.localhost",
            source_ip: "127.0.0.1",
            user_agent: "test",
            authorizer: None,
        }
    }

    #[test]
    fn a_message_event_has_the_body_and_the_route() {
        let kind = Kind::Message {
            route_key: "send",
            message_id: "m1",
            body: br#"{"action":"send"}"#,
        };
        let event: Value =
            serde_json::from_slice(&write(&facts(), &kind, "r1", 1_700_000_001_000, &[])).unwrap();
        assert_eq!(event["body"], r#"{"action":"send"}"#);
        assert_eq!(event["isBase64Encoded"], false);
        let c = &event["requestContext"];
        assert_eq!(c["routeKey"], "send");
        assert_eq!(c["eventType"], "MESSAGE");
        assert_eq!(c["messageId"], "m1");
        assert_eq!(c["connectionId"], "AAAAAAAAAAAAAAA=");
        assert_eq!(c["requestTime"], "14/Nov/2023:22:13:21 +0000");
        assert_eq!(c["identity"]["sourceIp"], "127.0.0.1");
        assert!(event.get("headers").is_none());
    }

    #[test]
    fn connect_and_disconnect_events_carry_headers() {
        let headers = vec![
            ("Host".to_string(), "h".to_string()),
            ("X-A".to_string(), "1".to_string()),
            ("X-A".to_string(), "2".to_string()),
        ];
        let query = vec![("room".to_string(), "blue".to_string())];
        let connect = Kind::Connect {
            headers: &headers,
            query: &query,
        };
        let vars = [("v".into(), "1".into())];
        let event: Value =
            serde_json::from_slice(&write(&facts(), &connect, "r", 0, &vars)).unwrap();
        assert_eq!(event["headers"]["X-A"], "2");
        assert_eq!(event["multiValueHeaders"]["X-A"], json!(["1", "2"]));
        assert_eq!(event["queryStringParameters"]["room"], "blue");
        assert_eq!(event["stageVariables"]["v"], "1");
        assert_eq!(event["requestContext"]["eventType"], "CONNECT");
        let gone = Kind::Disconnect {
            status: 1001,
            reason: "Going away",
        };
        let text = String::from_utf8(write(&facts(), &gone, "r", 0, &[])).unwrap();
        let event: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(event["requestContext"]["disconnectStatusCode"], 1001);
        assert_eq!(event["requestContext"]["disconnectReason"], "Going away");
        assert_eq!(event["requestContext"]["routeKey"], "$disconnect");
        assert_eq!(event["headers"]["Host"], "chat.execute-api.localhost");
        assert_eq!(event["headers"]["x-restapi"], "");
        // AWS's key order (aws-lambda-go's recorded disconnect event).
        let order = [
            "\"headers\"",
            "\"multiValueHeaders\"",
            "\"requestContext\"",
            "\"routeKey\"",
            "\"disconnectStatusCode\"",
            "\"eventType\"",
            "\"disconnectReason\"",
            "\"stage\"",
            "\"apiId\"",
            "\"isBase64Encoded\"",
        ];
        let at: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    }
}
