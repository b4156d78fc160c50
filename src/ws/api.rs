//! A WebSocket API as the snapshot holds it: its route selection expression and, per stage,
//! the routes of the deployment it serves. Built by the control plane (`config`), read by the
//! shards' sessions.

use std::sync::Arc;
use std::time::Duration;

use ahash::AHashMap;

use crate::snapshot::{AwsProxyIntegration, MockIntegration};

/// Route keys with a meaning of their own (developer guide, "Working with routes for
/// WebSocket APIs").
pub const CONNECT: &str = "$connect";
pub const DISCONNECT: &str = "$disconnect";
pub const DEFAULT: &str = "$default";

/// One WebSocket API.
#[derive(Debug)]
pub struct WsApi {
    /// The API id (host-style `{id}.execute-api.{domain}`).
    pub id: Box<str>,
    /// `routeSelectionExpression`.
    pub selection: RouteSelection,
    /// Region and account of its ARNs (`@connections` callers are authorized on them).
    pub region: Box<str>,
    pub account: Box<str>,
    /// Stages by name.
    pub stages: AHashMap<Box<str>, WsStage>,
}

/// A stage of a WebSocket API.
#[derive(Debug)]
pub struct WsStage {
    /// Stage name (the path of the API's URL: `wss://host/{stage}`).
    pub name: Box<str>,
    /// The deployment served.
    pub deployment_id: Box<str>,
    /// Routes by key.
    pub routes: AHashMap<Box<str>, Arc<WsRoute>>,
    /// Stage variables, sorted by name (`stageVariables` of events).
    pub variables: Box<[(Box<str>, Box<str>)]>,
    /// Metric series of messages no route took (`metrics::websocket`).
    pub no_route_series: u32,
    /// The API's Lambda authorizers with this stage's variables applied (indexed by
    /// [`WsRoute::authorizer`]).
    pub authorizers: crate::auth::StageAuthorizers,
}

/// One route.
#[derive(Debug)]
pub struct WsRoute {
    /// The route key (`$connect`, `sendmessage`).
    pub key: Box<str>,
    /// What the route's messages go to.
    pub integration: WsIntegration,
    /// A two-way route (it has a route response, `routeResponseSelectionExpression`
    /// `$default`): what the integration answers is sent back to the client.
    pub two_way: bool,
    /// Metric series of the route (`metrics::websocket`).
    pub series: u32,
    /// `$connect`'s `REQUEST` authorizer, by index into [`WsStage::authorizers`].
    pub authorizer: Option<u32>,
}

/// The integrations a route may have.
#[derive(Debug)]
pub enum WsIntegration {
    /// A fixed answer: `status` decides a `$connect`, `body` is the route response.
    Mock(MockIntegration),
    /// A Lambda function (the WebSocket proxy event).
    Lambda(AwsProxyIntegration),
}

/// Limits of WebSocket connections (AWS's quotas, "Amazon API Gateway quotas for
/// configuring and running a WebSocket API": frame 32 KB, message 128 KB, idle 10 minutes,
/// connection duration 2 hours).
#[derive(Debug, Clone)]
pub struct WsLimits {
    /// Largest frame payload accepted.
    pub max_frame_bytes: usize,
    /// Largest (reassembled) message accepted.
    pub max_message_bytes: usize,
    /// A connection with no message from the client for this long is closed.
    pub idle_timeout: Duration,
    /// A connection is closed this long after it opened.
    pub max_duration: Duration,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_frame_bytes: 32 * 1024,
            max_message_bytes: 128 * 1024,
            idle_timeout: Duration::from_secs(600),
            max_duration: Duration::from_secs(7200),
        }
    }
}

/// A compiled `routeSelectionExpression`: `$request.body.PATH` (also `${request.body.PATH}`),
/// a dotted path into the message read as JSON, or a constant (`$default` sends every message
/// to the default route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteSelection {
    /// The keys to walk in the message's JSON.
    Body(Box<[Box<str>]>),
    /// Every message selects this key.
    Constant(Box<str>),
}

impl RouteSelection {
    /// Reads an expression; the error says what is accepted.
    pub fn parse(text: &str) -> Result<RouteSelection, String> {
        let inner = match text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
            Some(inner) => format!("${inner}"),
            None => text.to_string(),
        };
        if let Some(path) = inner.strip_prefix("$request.body.") {
            let keys: Vec<Box<str>> = path.split('.').map(Into::into).collect();
            if keys.iter().all(|k| !k.is_empty()) {
                return Ok(RouteSelection::Body(keys.into()));
            }
        }
        if !inner.is_empty() && !inner.starts_with("$request") && !inner.contains('{') {
            return Ok(RouteSelection::Constant(inner.into()));
        }
        Err(format!(
            "`{text}` is not a route selection expression: use $request.body.KEY (KEY may be a dotted path) or a constant such as $default"
        ))
    }

    /// The route key a message selects; `None` when the message is not JSON or lacks the
    /// key (the message then goes to `$default`). A string selects itself; a number or a
    /// boolean selects its JSON text.
    pub fn select(&self, message: &[u8]) -> Option<String> {
        let keys = match self {
            RouteSelection::Constant(key) => return Some(key.to_string()),
            RouteSelection::Body(keys) => keys,
        };
        let doc: serde_json::Value = serde_json::from_slice(message).ok()?;
        let mut at = &doc;
        for key in keys.iter() {
            at = at.as_object()?.get(&**key)?;
        }
        match at {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

impl WsStage {
    /// The route a message goes to: the selected key's route, else `$default`.
    pub fn route_for(&self, selected: Option<&str>) -> Option<&Arc<WsRoute>> {
        selected
            .and_then(|key| self.routes.get(key))
            .or_else(|| self.routes.get(DEFAULT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_paths_select_and_anything_else_falls_to_default() {
        let s = RouteSelection::parse("$request.body.action").unwrap();
        assert_eq!(
            s.select(br#"{"action":"send","x":1}"#).as_deref(),
            Some("send")
        );
        assert_eq!(s.select(br#"{"other":"send"}"#), None);
        assert_eq!(s.select(b"not json"), None);
        assert_eq!(s.select(br#"{"action":{"a":1}}"#), None);
        assert_eq!(s.select(br#"{"action":7}"#).as_deref(), Some("7"));
        let nested = RouteSelection::parse("${request.body.msg.type}").unwrap();
        assert_eq!(
            nested.select(br#"{"msg":{"type":"join"}}"#).as_deref(),
            Some("join")
        );
        let constant = RouteSelection::parse("$default").unwrap();
        assert_eq!(constant.select(b"anything").as_deref(), Some("$default"));
    }

    #[test]
    fn malformed_expressions_are_refused() {
        for bad in [
            "",
            "$request.body.",
            "$request.header.x",
            "$request.body..a",
        ] {
            assert!(RouteSelection::parse(bad).is_err(), "{bad}");
        }
    }
}
