//! The control plane's audit log: one JSON line per call that changes (or tried to change)
//! state, in CloudTrail's record shape (`eventTime`, `eventSource: apigateway.amazonaws.com`,
//! `eventName` as the API names the operation, `userIdentity.accessKeyId`, `sourceIPAddress`,
//! `requestParameters`, `responseElements`, `requestID`, `errorCode` / `errorMessage` for a
//! refusal), so tools that read CloudTrail's management events read it too. Reads are not
//! recorded (CloudTrail's default trail records them as read-only events; they change
//! nothing).
//!
//! Written by the admin connection thread that served the call, appending one `write` per
//! line, before the call is answered; a failure to write is logged and does not fail the call.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// One record's facts.
pub struct Event<'a> {
    /// `CreateRestApi`, `UpdateStage` ...
    pub name: &'a str,
    /// The caller's access key id, when it signed with a known key.
    pub access_key: Option<&'a str>,
    /// The caller's address.
    pub source_ip: Option<std::net::IpAddr>,
    /// `User-Agent`.
    pub user_agent: Option<&'a str>,
    /// The path's parameters and the body, as the call sent them.
    pub request: Value,
    /// The answer's body, when it succeeded.
    pub response: Option<Value>,
    /// The refusal's exception and message.
    pub error: Option<(&'a str, &'a str)>,
    /// `x-amzn-RequestId` of the answer.
    pub request_id: &'a str,
    /// The node's region.
    pub region: &'a str,
    /// The node's account.
    pub account: &'a str,
}

/// The log file.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// Appends to `path` (created on the first record).
    pub fn new(path: &Path) -> AuditLog {
        AuditLog {
            path: path.to_path_buf(),
        }
    }

    /// Appends `event`'s record.
    pub fn record(&self, event: &Event<'_>) {
        let mut line = record(event, crate::control::ids::now_secs()).to_string();
        line.push('\n');
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            tracing::error!("control-plane audit log {}: {e}", self.path.display());
        }
    }
}

/// What CloudTrail writes in place of a secret.
const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// `value` fields (API key values) of the calls about keys, replaced by [`HIDDEN`], at any
/// depth: the audit log must not become a list of every key.
fn redacted(event_name: &str, mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, item) in m.iter_mut() {
                    if k == "value" && item.is_string() {
                        *item = HIDDEN.into();
                    } else {
                        walk(item);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    if event_name.contains("ApiKey") || event_name.contains("UsagePlanKey") {
        walk(&mut v);
    }
    v
}

/// The CloudTrail-shaped record of `event` at `now` (Unix seconds).
fn record(event: &Event<'_>, now: i64) -> Value {
    let mut r = json!({
        "eventVersion": "1.08",
        "eventTime": crate::clock::iso_time(now.max(0) as u64),
        "eventSource": "apigateway.amazonaws.com",
        "eventName": event.name,
        "awsRegion": event.region,
        "sourceIPAddress": event.source_ip.map(|ip| ip.to_string()),
        "userAgent": event.user_agent,
        "userIdentity": {
            "type": "Root",
            "accountId": event.account,
            "arn": format!("arn:aws:iam::{}:root", event.account),
            "accessKeyId": event.access_key,
        },
        "requestParameters": redacted(event.name, event.request.clone()),
        "responseElements": event.response.clone().map(|r| redacted(event.name, r)),
        "requestID": event.request_id,
        "eventID": crate::control::ids::new_id(32),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": event.account,
    });
    if let Some((code, message)) = event.error {
        r["errorCode"] = code.into();
        r["errorMessage"] = message.into();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_cloudtrail_fields() {
        let event = Event {
            name: "CreateStage",
            access_key: Some("AKIDADMIN"),
            source_ip: Some("127.0.0.1".parse().expect("ip")),
            user_agent: Some("aws-cli/1.45"),
            request: json!({"restApiId": "abc", "stageName": "prod"}),
            response: None,
            error: Some(("ConflictException", "Stage already exists")),
            request_id: "r-1",
            region: "us-east-1",
            account: "123456789012",
        };
        let r = record(&event, 1_796_412_051);
        assert_eq!(r["eventTime"], "2026-12-04T19:20:51Z");
        assert_eq!(r["eventName"], "CreateStage");
        assert_eq!(r["userIdentity"]["accessKeyId"], "AKIDADMIN");
        assert_eq!(r["sourceIPAddress"], "127.0.0.1");
        assert_eq!(r["errorCode"], "ConflictException");
        assert_eq!(r["requestParameters"]["stageName"], "prod");
    }

    #[test]
    fn key_values_never_reach_the_log() {
        let event = Event {
            name: "CreateApiKey",
            access_key: None,
            source_ip: None,
            user_agent: None,
            request: json!({"name": "k", "value": "secret-key-value-0123456789"}),
            response: Some(json!({"id": "abc", "value": "secret-key-value-0123456789"})),
            error: None,
            request_id: "r",
            region: "us-east-1",
            account: "123456789012",
        };
        let line = record(&event, 0).to_string();
        assert!(!line.contains("secret-key-value"), "{line}");
        assert!(line.contains(HIDDEN));
    }
}
