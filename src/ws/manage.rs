//! The `@connections` management API (`apigatewaymanagementapi`): backends post to, read
//! and disconnect clients by connection id at `/{stage}/@connections/{id}` on the API's
//! host, SigV4-signed for the `execute-api` service as boto3 and the AWS CLI sign it.
//!
//! Shapes from botocore's model (`apigatewaymanagementapi/2018-11-29/service-2.json`):
//! `PostToConnection` (`POST`, the raw body is the message, at most 131,072 bytes; 200),
//! `GetConnection` (`GET`, 200 with `connectedAt`, `identity.sourceIp`/`userAgent` and
//! `lastActiveAt` as ISO 8601 timestamps), `DeleteConnection` (`DELETE`, 204). A connection
//! that is not (or no longer) open is `410 GoneException`, its code in `x-amzn-ErrorType`
//! and no body (the SDKs report `GoneException` with an empty message). Callers need
//! `execute-api:ManageConnections` on `arn:aws:execute-api:{region}:{account}:{api}/{stage}/
//! {METHOD}/@connections/{id}` in their identity policy (developer guide, "Use @connections
//! commands in your backend service").

use super::api::WsApi;
use super::registry::{Command, ConnectionId, ConnectionInfo, Outcome};
use crate::auth::iam;
use crate::auth::policy::{Decision, PolicyRequest};
use crate::gateway_response::GatewayResponse;
use crate::pipeline::context::RequestCtx;
use crate::pipeline::{authorize, response_filter, Next};
use crate::server::client::ClientConn;
use crate::server::shard::ShardCtx;
use crate::snapshot::Snapshot;

/// `PostToConnection`'s largest `Data`.
const MAX_POST: u64 = 131_072;

/// The connection id of a `/{stage}/@connections/{id}` path, percent-decoded; `None` for any
/// other path.
pub fn connection_path(path: &[u8]) -> Option<(&[u8], String)> {
    let rest = path.strip_prefix(b"/")?;
    let slash = memchr::memchr(b'/', rest)?;
    let (stage, tail) = rest.split_at(slash);
    let id = tail
        .strip_prefix(b"/@connections/")
        .or_else(|| tail.strip_prefix(b"/%40connections/"))?;
    if id.is_empty() || id.contains(&b'/') {
        return None;
    }
    let mut decoded = Vec::with_capacity(id.len());
    crate::integration::aws_proxy::event::percent_decode(&mut decoded, id);
    Some((stage, String::from_utf8_lossy(&decoded).into_owned()))
}

/// Serves one `@connections` call (the connection stays open for the next request).
pub async fn serve(
    shard: &ShardCtx,
    snapshot: &Snapshot,
    api: &WsApi,
    conn: &mut ClientConn,
    stage: &str,
    id_text: &str,
) -> Next {
    let mut ctx = RequestCtx::new(shard.random_u128(), conn.head.keep_alive, false);
    let req = crate::integration::http_proxy::RequestInfo::of(&conn.head);
    let limits = &snapshot.limits;
    let framing = conn.head.framing;
    if let crate::http::BodyFraming::Length(n) = framing {
        if n > MAX_POST {
            // The body is not read: the connection closes after the answer.
            ctx.keep_alive = false;
            let body = br#"{"message":"Message too long"}"#;
            return answer(
                shard,
                conn,
                &mut ctx,
                413,
                "PayloadTooLargeException",
                body,
                limits,
            )
            .await;
        }
    }
    // The whole body, after the head: the signature covers it, and it is the message.
    if let Err(refused) = authorize::read_signed_bytes(conn, req, limits).await {
        return match refused {
            Some(response) => error(shard, conn, &mut ctx, response, limits).await,
            None => Next::Close,
        };
    }
    // A stage the API does not have: AWS's answer to a path that is not a stage.
    if !api.stages.contains_key(stage) {
        return forbidden(shard, conn, &mut ctx, limits).await;
    }
    let base = conn.inbuf.pending();
    let method = conn.head.method.get(base).to_vec();
    let body = base.get(req.head_len..).unwrap_or(&[]);
    let body = match framing {
        crate::http::BodyFraming::Length(n) => body[..(n as usize).min(body.len())].to_vec(),
        _ => Vec::new(),
    };
    let consumed = req.head_len + body.len();
    if let Err(response) = authorize(shard, snapshot, api, conn, stage, id_text, &body, &mut ctx) {
        return error(shard, conn, &mut ctx, response, limits).await;
    }
    conn.inbuf.consume(consumed);
    let command = match &method[..] {
        b"POST" => Command::Post(body),
        b"GET" => Command::Info,
        b"DELETE" => Command::Delete,
        // Another method (HEAD among them, whose answer has no body): refused, and the
        // connection closes so that no client reads a body it did not expect.
        _ => return forbidden(shard, conn, &mut ctx, limits).await,
    };
    let is_delete = matches!(command, Command::Delete);
    let outcome = match ConnectionId::decode(id_text) {
        Some(id) => {
            let scope = super::registry::Scope {
                api: api.id.clone(),
                stage: stage.into(),
            };
            shard.ws.call(id, scope, command).await
        }
        None => Outcome::Gone,
    };
    match outcome {
        Outcome::Done if is_delete => answer(shard, conn, &mut ctx, 204, "", b"", limits).await,
        Outcome::Done => answer(shard, conn, &mut ctx, 200, "", b"", limits).await,
        Outcome::Info(info) => {
            let body = info_json(&info);
            answer(shard, conn, &mut ctx, 200, "", &body, limits).await
        }
        Outcome::Gone => answer(shard, conn, &mut ctx, 410, "GoneException", b"", limits).await,
        Outcome::LimitExceeded => {
            let body = br#"{"message":"Limit Exceeded"}"#;
            answer(
                shard,
                conn,
                &mut ctx,
                429,
                "LimitExceededException",
                body,
                limits,
            )
            .await
        }
    }
}

/// Checks the call's signature and the caller's `execute-api:ManageConnections`.
#[allow(clippy::too_many_arguments)]
fn authorize(
    shard: &ShardCtx,
    snapshot: &Snapshot,
    api: &WsApi,
    conn: &ClientConn,
    stage: &str,
    id_text: &str,
    body: &[u8],
    ctx: &mut RequestCtx,
) -> Result<(), GatewayResponse> {
    let base = conn.inbuf.pending();
    let headers = authorize::header_list(&conn.head, base);
    let req = authorize::signed_request(&conn.head, base, &headers, body);
    let now = shard.clock.unix_secs();
    let verified = iam::verify(
        &snapshot.identities,
        &shard.iam_keys,
        &req,
        &api.region,
        now,
    );
    let who = verified.map_err(|e| authorize::signature_refusal(e, ctx))?;
    let method = std::str::from_utf8(conn.head.method.get(base)).unwrap_or("POST");
    let resource = format!(
        "arn:aws:execute-api:{}:{}:{}/{stage}/{method}/@connections/{id_text}",
        api.region, api.account, api.id
    );
    let facts = PolicyRequest {
        action: "execute-api:ManageConnections",
        resource: &resource,
        principal: Some(&who.user.arn),
        source_ip: conn.peer.ip(),
        secure: conn.secure,
        user_agent: None,
        referer: None,
    };
    let decision = who
        .user
        .policy
        .as_ref()
        .map_or(Decision::ImplicitDeny, |p| p.evaluate(&facts));
    if decision == Decision::Allow {
        return Ok(());
    }
    let tail = match decision {
        Decision::ExplicitDeny => "with an explicit deny in an identity-based policy",
        _ => "because no identity-based policy allows the execute-api:ManageConnections action",
    };
    let message = crate::gateway_response::denied_message(&who.user.arn, &resource, tail)
        .replace("execute-api:Invoke", "execute-api:ManageConnections");
    ctx.error_message = Some(message.into());
    Err(GatewayResponse::IamDenied)
}

/// `GetConnection`'s body, as the wire carries it (camelCase; boto3 shows `ConnectedAt`...).
fn info_json(info: &ConnectionInfo) -> Vec<u8> {
    let mut identity = serde_json::Map::new();
    identity.insert("sourceIp".into(), info.source_ip.as_ref().into());
    if !info.user_agent.is_empty() {
        identity.insert("userAgent".into(), info.user_agent.as_ref().into());
    }
    let doc = serde_json::json!({
        "connectedAt": iso8601(info.connected_at_ms),
        "identity": identity,
        "lastActiveAt": iso8601(info.last_active_ms),
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// `2020-04-30T20:10:33.236Z` (the AWS CLI's example of `GetConnection`).
fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (y, m, d) = crate::clock::civil_from_days(secs / 86_400);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        unix_ms % 1000
    )
}

/// `403 {"message":"Forbidden"}`; the connection closes (its body may be unread).
async fn forbidden(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    ctx: &mut RequestCtx,
    limits: &crate::snapshot::Limits,
) -> Next {
    ctx.keep_alive = false;
    let body = br#"{"message":"Forbidden"}"#;
    answer(shard, conn, ctx, 403, "ForbiddenException", body, limits).await
}

/// Answers with one of AWS's gateway errors (signatures, denials, bodies too large).
async fn error(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    ctx: &mut RequestCtx,
    response: GatewayResponse,
    limits: &crate::snapshot::Limits,
) -> Next {
    conn.out.clear();
    ctx.keep_alive = false;
    let minor = conn.head.minor_version;
    response_filter::gateway_response(&mut conn.out, ctx, &shard.date, response, minor);
    let _ = conn.send_out(true, limits.send_timeout).await;
    Next::Close
}

/// Answers a call: `error_type` (when not empty) goes in `x-amzn-ErrorType`.
#[allow(clippy::too_many_arguments)]
async fn answer(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    ctx: &mut RequestCtx,
    status: u16,
    error_type: &str,
    body: &[u8],
    limits: &crate::snapshot::Limits,
) -> Next {
    conn.out.clear();
    let reason = String::from_utf8_lossy(response_filter::reason_phrase(status));
    let request_id = String::from_utf8_lossy(&ctx.request_id).into_owned();
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    head.push_str(&format!(
        "Date: {}\r\n",
        String::from_utf8_lossy(&shard.date.get())
    ));
    head.push_str(&format!("x-amzn-RequestId: {request_id}\r\n"));
    if !error_type.is_empty() {
        head.push_str(&format!("x-amzn-ErrorType: {error_type}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if status != 204 {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if !ctx.keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    conn.out.extend_from_slice(head.as_bytes());
    conn.out.extend_from_slice(body);
    let sent = conn.send_out(true, limits.send_timeout).await;
    match (sent, ctx.keep_alive) {
        (Ok(()), true) => Next::KeepAlive,
        _ => Next::Close,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_paths_are_read_as_boto3_sends_them() {
        // boto3: `POST /prod/@connections/L0SM9cOFvHcCIhw%3D`.
        let (stage, id) = connection_path(b"/prod/@connections/L0SM9cOFvHcCIhw%3D").unwrap();
        assert_eq!(stage, b"prod");
        assert_eq!(id, "L0SM9cOFvHcCIhw=");
        assert!(connection_path(b"/prod/@connections/").is_none());
        assert!(connection_path(b"/prod").is_none());
        assert!(connection_path(b"/prod/other/x").is_none());
    }

    #[test]
    fn times_are_iso8601_with_milliseconds() {
        assert_eq!(iso8601(1_588_277_433_236), "2020-04-30T20:10:33.236Z");
    }
}
