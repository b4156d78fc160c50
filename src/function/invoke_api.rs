//! The Lambda Invoke API for hosted functions, on the admin listener:
//! `POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=...]` with
//! `X-Amz-Invocation-Type` `RequestResponse` (default), `Event` or `DryRun`, as the Lambda API
//! reference ("Invoke") specifies it, so `aws lambda invoke --endpoint-url` and the SDKs call
//! hosted functions too. Requests are SigV4-checked (service `lambda`) against `[lambda]`'s
//! credentials when the node has some.
//!
//! The admin thread never runs an invocation itself: it queues it on the node's
//! [`AdminInbox`], which every shard drains on its housekeeping tick, and waits for the shard's
//! answer; the invocation then runs like any other on that shard's workers.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::host::HostedError;
use super::spec::{function_name, FunctionSpec};
use crate::snapshot::Snapshot;
use crate::upstream::sigv4::{self, Scope, SigningTime};

/// An invocation the admin listener hands to a shard.
pub struct AdminInvocation {
    pub spec: Arc<FunctionSpec>,
    pub qualifier: Option<String>,
    pub payload: Vec<u8>,
    pub request_id: String,
    /// Where the result goes; `None` for `Event` invocations (nobody waits).
    pub reply: Option<mpsc::SyncSender<Result<Vec<u8>, HostedError>>>,
}

/// The node's queue of admin invocations (multi-consumer: any shard may take one).
#[derive(Clone)]
pub struct AdminInbox {
    tx: Sender<AdminInvocation>,
    rx: Receiver<AdminInvocation>,
}

impl Default for AdminInbox {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        AdminInbox { tx, rx }
    }
}

impl AdminInbox {
    /// The shards' side.
    pub fn receiver(&self) -> Receiver<AdminInvocation> {
        self.rx.clone()
    }
}

/// The request as the admin listener read it.
pub struct InvokeRequest<'a> {
    /// Path as sent (percent-encoded).
    pub path: &'a str,
    /// Query string, without `?`.
    pub query: &'a str,
    /// Headers as sent.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// What the admin listener answers.
pub struct InvokeAnswer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl InvokeAnswer {
    /// Lambda's error shape: `x-amzn-ErrorType` and `{"Type": ..., "message": ...}`.
    fn error(status: u16, error_type: &str, kind: &str, message: &str) -> InvokeAnswer {
        let body = serde_json::json!({ "Type": kind, "message": message });
        InvokeAnswer {
            status,
            headers: vec![("x-amzn-ErrorType", error_type.to_owned())],
            body: body.to_string().into_bytes(),
        }
    }
}

/// Serves one Invoke API call (the path starts with `/2015-03-31/functions/`).
pub fn invoke(
    req: &InvokeRequest<'_>,
    snapshot: &Snapshot,
    inbox: &AdminInbox,
    request_id: String,
) -> InvokeAnswer {
    if let Some(denied) = check_signature(req, snapshot) {
        return denied;
    }
    let name = req
        .path
        .strip_prefix("/2015-03-31/functions/")
        .and_then(|r| r.strip_suffix("/invocations"))
        .map(percent_decode)
        .unwrap_or_default();
    let (name, qualifier) = function_name(&name);
    let qualifier = qualifier.map(str::to_owned).or_else(|| {
        req.query
            .split('&')
            .find_map(|p| p.strip_prefix("Qualifier="))
            .map(percent_decode)
    });
    let account = &snapshot.lambda.account_id;
    let found = snapshot
        .functions
        .iter()
        .find(|f| &*f.name == name && f.answers_to(qualifier.as_deref()));
    let Some(spec) = found else {
        let arn = format!("arn:aws:lambda:us-east-1:{account}:function:{name}");
        let message = format!("Function not found: {arn}");
        return InvokeAnswer::error(404, "ResourceNotFoundException", "User", &message);
    };
    let kind = header(req.headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
    let (reply, wait) = match kind {
        "RequestResponse" => {
            let (tx, rx) = mpsc::sync_channel(1);
            (Some(tx), Some(rx))
        }
        "Event" => (None, None),
        "DryRun" => return executed(204, Vec::new(), None),
        other => {
            let message = format!("Unsupported invocation type {other}");
            return InvokeAnswer::error(400, "InvalidParameterValueException", "User", &message);
        }
    };
    let invocation = AdminInvocation {
        spec: Arc::clone(spec),
        qualifier,
        payload: req.body.to_vec(),
        request_id,
        reply,
    };
    if inbox.tx.send(invocation).is_err() {
        return InvokeAnswer::error(503, "ServiceException", "Service", "no shard is running");
    }
    let Some(rx) = wait else {
        return executed(202, Vec::new(), None);
    };
    // The shard answers by the function's timeout; the margin covers a housekeeping tick.
    match rx.recv_timeout(spec.timeout + Duration::from_secs(2)) {
        Ok(Ok(payload)) => executed(200, payload, None),
        Ok(Err(e)) => function_failed(e, spec),
        Err(_) => function_failed(HostedError::Timeout(spec.timeout), spec),
    }
}

/// A 2xx answer from the function (`X-Amz-Function-Error` when it failed).
fn executed(status: u16, body: Vec<u8>, function_error: Option<&str>) -> InvokeAnswer {
    let mut headers = vec![("X-Amz-Executed-Version", "$LATEST".to_owned())];
    if let Some(kind) = function_error {
        headers.push(("X-Amz-Function-Error", kind.to_owned()));
    }
    InvokeAnswer {
        status,
        headers,
        body,
    }
}

/// How Lambda reports a failed synchronous invocation: 200 with `X-Amz-Function-Error:
/// Unhandled` and the error document; a throttled one is 429 `TooManyRequestsException`.
fn function_failed(e: HostedError, spec: &FunctionSpec) -> InvokeAnswer {
    let doc = |error_type: &str, message: String| {
        serde_json::json!({ "errorType": error_type, "errorMessage": message })
            .to_string()
            .into_bytes()
    };
    let body = match e {
        HostedError::Throttled => {
            let mut a =
                InvokeAnswer::error(429, "TooManyRequestsException", "User", "Rate Exceeded.");
            a.body = serde_json::json!({
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                "Type": "User",
                "message": "Rate Exceeded."
            })
            .to_string()
            .into_bytes();
            return a;
        }
        HostedError::Function { body, .. } => body.into_bytes(),
        HostedError::Timeout(_) => doc(
            "Sandbox.Timedout",
            format!(
                "Task timed out after {:.2} seconds",
                spec.timeout.as_secs_f64()
            ),
        ),
        HostedError::Crashed(status) => {
            doc("Runtime.ExitError", format!("Runtime exited: {status}"))
        }
        HostedError::InitFailed(status) => doc(
            "Runtime.InitError",
            format!("Runtime failed to start: {status}"),
        ),
    };
    executed(200, body, Some("Unhandled"))
}

/// Refuses a request whose SigV4 signature does not verify against the node's `[lambda]`
/// credentials (none configured: every caller is accepted, as a local Lambda emulator does).
fn check_signature(req: &InvokeRequest<'_>, snapshot: &Snapshot) -> Option<InvokeAnswer> {
    let creds = snapshot.lambda.credentials.as_ref()?;
    let deny = |message: &str| {
        Some(InvokeAnswer::error(
            403,
            "InvalidSignatureException",
            "User",
            message,
        ))
    };
    let Some(auth) = header(req.headers, "authorization") else {
        return deny("Missing Authentication Token");
    };
    let Some(parsed) = parse_authorization(auth) else {
        return deny("Authorization header requires Credential, SignedHeaders and Signature.");
    };
    let time = header(req.headers, "x-amz-date").and_then(SigningTime::parse);
    let (Some(time), true) = (time, parsed.access_key == creds.access_key_id) else {
        return deny("The security token included in the request is invalid.");
    };
    let scope = Scope {
        region: parsed.region,
        service: "lambda",
    };
    let payload_hash = sigv4::sha256_hex(req.body);
    let canonical = sigv4::canonical_request(
        "POST",
        req.path,
        req.query,
        req.headers,
        &parsed.signed_headers,
        &payload_hash,
        true,
    );
    let key = sigv4::signing_key(&creds.secret_access_key, time.date(), &scope);
    let sts = sigv4::string_to_sign(&time, &scope, &canonical);
    if sigv4::verify_signature(&key, &sts, parsed.signature) {
        None
    } else {
        deny("The request signature we calculated does not match the signature you provided.")
    }
}

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`.
struct Authorization<'a> {
    access_key: &'a str,
    region: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix(sigv4::ALGORITHM)?.trim_start();
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let access_key = scope.next()?;
    let _date = scope.next()?;
    let region = scope.next()?;
    Some(Authorization {
        access_key,
        region,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    })
}

fn header<'a>(headers: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// `%XX` decoding of a path segment or query value (SigV4's rules: `+` stays literal).
fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&sigv4::percent_decode(s)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers_split_into_their_parts() {
        let a = parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc").unwrap();
        assert_eq!(
            (a.access_key, a.region, a.signature),
            ("AKID", "us-east-1", "abc")
        );
        assert_eq!(a.signed_headers, ["host", "x-amz-date"]);
        assert!(parse_authorization("Basic abc").is_none());
    }

    #[test]
    fn function_names_are_percent_decoded() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Ahello"),
            "arn:aws:lambda:us-east-1:1:function:hello"
        );
    }
}
