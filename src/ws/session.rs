//! One WebSocket connection, from the upgrade request to the close: the `$connect` route
//! decides the handshake, each message goes to the route its selection expression picks,
//! `@connections` posts are sent as they arrive, and `$disconnect` runs at the end.
//!
//! The frame codec is tungstenite's, driven without I/O of its own: the session reads into
//! the connection's buffer with the shard's cancelable reads, hands the bytes to the codec,
//! and writes what the codec produced. A read is cancelled (and the bytes it got are kept)
//! when a post arrives, a close is asked for, the shard drains or a deadline passes, so the
//! one task both reads and writes without a lock or a second task.

use std::future::Future;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Error as WsError, Message};

use super::api::{WsApi, WsIntegration, WsLimits, WsRoute, WsStage, CONNECT, DISCONNECT};
use super::event::{self, ConnectionFacts, Kind};
use super::handshake::{self, HandshakeError};
use super::registry::Shared;
use crate::gateway_response::GatewayResponse;
use crate::integration::aws_proxy::{self, result};
use crate::metrics::websocket::Event as WsEvent;
use crate::pipeline::{response_filter, Next};
use crate::server::client::ClientConn;
use crate::server::shard::ShardCtx;
use crate::server::stream::ClientStream;
use crate::snapshot::Snapshot;
use crate::wire::{InBuf, WireError};

/// What a session knows about its connection for events and `GetConnection`.
struct Facts {
    api_id: Box<str>,
    stage: Box<str>,
    connection_id: String,
    domain_name: String,
    /// The upgrade's headers and query pairs, for the `$connect` event only (taken then, so
    /// an open connection does not keep them).
    headers: std::cell::Cell<Vec<(String, String)>>,
    query: std::cell::Cell<Vec<(String, String)>>,
    shared: Rc<Shared>,
    /// What the `$connect` authorizer granted, once it did.
    grant: std::cell::OnceCell<Rc<crate::auth::lambda::Grant>>,
}

impl Facts {
    fn event(&self) -> ConnectionFacts<'_> {
        ConnectionFacts {
            api_id: &self.api_id,
            stage: &self.stage,
            connection_id: &self.connection_id,
            connected_at_ms: self.shared.connected_at_ms,
            domain_name: &self.domain_name,
            source_ip: &self.shared.source_ip,
            user_agent: &self.shared.user_agent,
            authorizer: self.grant.get().map(|g| &**g),
        }
    }
}

/// How a route's integration answered.
enum Answered {
    /// The integration's status (a `$connect` accepts only 2xx), headers and body.
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// It failed (the reason is logged): `Internal server error` to the client.
    Failed,
    /// No answer within the integration timeout: `Endpoint request timed out`.
    TimedOut,
}

/// Serves an upgrade request to stage `stage` of WebSocket API `api` for the life of the
/// connection. The connection always closes afterwards.
pub async fn serve(shard: &ShardCtx, api: &WsApi, conn: &mut ClientConn) -> Next {
    let base = conn.inbuf.pending();
    let stage_name = super::stage_of(&conn.head, base);
    let Some(stage) = api.stages.get(stage_name) else {
        // An unknown stage: AWS's answer to a path that is not a stage (aws-sdk-php#1955).
        return refuse(shard, conn, 403).await;
    };
    let accept = match handshake::accept_key(&conn.head, base) {
        Ok(accept) => accept,
        // A version other than 13 (RFC 6455 §4.4 names the one supported), or a plain request
        // to the API's URL (what AWS answers it was not found recorded; RFC 9110 §15.5.22's
        // 426 names the protocol to switch to).
        Err(e @ (HandshakeError::Version | HandshakeError::NotUpgrade)) => {
            let headers = match e {
                HandshakeError::Version => [("Sec-WebSocket-Version", "13")],
                _ => [("Upgrade", "websocket")],
            };
            respond(
                conn,
                shard,
                426,
                r#"{"message":"Upgrade Required"}"#,
                &headers,
            )
            .await;
            return Next::Close;
        }
        Err(HandshakeError::Key) => return refuse(shard, conn, 400).await,
    };
    let mut facts = facts_of(shard, api, stage, conn);
    let id = shard
        .ws
        .insert(Rc::clone(&facts.shared), shard.random_u128() as u64);
    // Removed however the session ends (a panic inside it too): a connection left in the
    // table would take posts nobody sends.
    let _registered = Registered {
        shard,
        id,
        shared: Rc::clone(&facts.shared),
    };
    facts.connection_id = id.encode();
    connect_and_run(shard, api, stage, conn, &facts, &accept).await
}

/// A connection's place in the shard's table, given up when dropped.
struct Registered<'a> {
    shard: &'a ShardCtx,
    id: super::registry::ConnectionId,
    shared: Rc<Shared>,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.shared.request_close();
        self.shard.ws.remove(self.id);
    }
}

/// Runs `$connect`, completes the handshake and runs the session; `$disconnect` at the end
/// of a session that opened.
async fn connect_and_run(
    shard: &ShardCtx,
    api: &WsApi,
    stage: &WsStage,
    conn: &mut ClientConn,
    facts: &Facts,
    accept: &str,
) -> Next {
    let snapshot = shard.snapshots.current();
    let limits = snapshot.ws_limits.clone();
    let send_timeout = snapshot.limits.send_timeout;
    let mut extra = Vec::new();
    let (headers, query) = (facts.headers.take(), facts.query.take());
    if let Some(status) =
        authorize(shard, &snapshot, api, stage, conn, facts, &headers, &query).await
    {
        let body = match status {
            401 => r#"{"message":"Unauthorized"}"#,
            403 => r#"{"message":"Forbidden"}"#,
            _ => r#"{"message":"Internal server error"}"#,
        };
        respond(conn, shard, status, body, &[]).await;
        return Next::Close;
    }
    if let Some(route) = stage.routes.get(CONNECT) {
        let kind = Kind::Connect {
            headers: &headers,
            query: &query,
        };
        let answered = integrate(shard, &snapshot, stage, route, facts, &kind).await;
        record(shard, route, &answered, true);
        match answered.answer {
            Answered::Reply {
                status, headers, ..
            } if (200..300).contains(&status) => {
                // A subprotocol the function chose is the handshake's (developer guide,
                // "Working with subprotocols for WebSocket APIs").
                extra.extend(
                    headers
                        .into_iter()
                        .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol")),
                );
            }
            Answered::Reply { status, body, .. } => {
                let body = String::from_utf8_lossy(&body).into_owned();
                respond(conn, shard, status, &body, &[]).await;
                return Next::Close;
            }
            // A function that failed: 502, as AWS answers (observed with wscat against AWS;
            // a non-2xx result's own status is passed on, above).
            Answered::Failed | Answered::TimedOut => {
                respond(
                    conn,
                    shard,
                    502,
                    r#"{"message":"Internal server error"}"#,
                    &[],
                )
                .await;
                return Next::Close;
            }
        }
    }
    drop((headers, query));
    let head_len = conn.head.head_len;
    conn.inbuf.consume(head_len);
    conn.out.clear();
    handshake::write_switching(&mut conn.out, accept, &extra);
    drop(snapshot);
    if conn.send_out(false, send_timeout).await.is_err() {
        return Next::Close;
    }
    facts.shared.opened();
    let (status, reason) = run(shard, conn, facts, &limits, send_timeout).await;
    // Gone for `@connections` from here: `$disconnect` runs after the close.
    facts.shared.request_close();
    // `$disconnect` is best-effort, as on AWS ("Working with routes": it is not guaranteed).
    let snapshot = shard.snapshots.current();
    if let Some((stage, route)) = route_now(&snapshot, facts, Some(DISCONNECT)) {
        if &*route.key == DISCONNECT {
            let kind = Kind::Disconnect {
                status,
                reason: &reason,
            };
            let _ = integrate(shard, &snapshot, stage, &route, facts, &kind).await;
        }
    }
    Next::Close
}

/// Runs the `$connect` route's authorizer, if it has one: `Some(status)` refuses the
/// handshake; a grant is kept for every event of the connection.
#[allow(clippy::too_many_arguments)]
async fn authorize(
    shard: &ShardCtx,
    snapshot: &Snapshot,
    api: &WsApi,
    stage: &WsStage,
    conn: &ClientConn,
    facts: &Facts,
    headers: &[(String, String)],
    query: &[(String, String)],
) -> Option<u16> {
    let index = stage.routes.get(CONNECT)?.authorizer?;
    let authorizer = match stage.authorizers.get(index as usize).map(|a| &**a) {
        Some(crate::auth::Authorizer::Lambda(l)) => l,
        // Validation allows only REQUEST Lambda authorizers here.
        _ => return Some(500),
    };
    let upgrade = super::authorize::Upgrade {
        head: &conn.head,
        base: conn.inbuf.pending(),
        headers,
        query,
        peer: conn.peer.ip(),
        secure: conn.secure,
    };
    let event_facts = facts.event();
    let decided = super::authorize::connect(
        shard,
        snapshot,
        api,
        stage,
        authorizer,
        &upgrade,
        &event_facts,
    );
    match Box::pin(decided).await {
        Ok(grant) => {
            let _ = facts.grant.set(grant);
            None
        }
        Err(status) => Some(status),
    }
}

/// The connection's facts from its upgrade request.
fn facts_of(shard: &ShardCtx, api: &WsApi, stage: &WsStage, conn: &ClientConn) -> Facts {
    let base = conn.inbuf.pending();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    // The handshake's headers as sent, then those the gateway adds (AWS's `$connect` events
    // carry `X-Forwarded-For`, `-Port` and `-Proto`; the port is left out, as in this
    // gateway's REST events).
    let mut headers: Vec<(String, String)> = conn
        .head
        .headers
        .iter()
        .map(|h| (text(h.name.get(base)), text(h.value.get(base))))
        .filter(|(n, _)| !n.to_ascii_lowercase().starts_with("x-forwarded-"))
        .collect();
    let proto = if conn.secure { "https" } else { "http" };
    headers.push(("X-Forwarded-For".into(), conn.peer.ip().to_string()));
    headers.push(("X-Forwarded-Proto".into(), proto.into()));
    let query = conn
        .head
        .query
        .map(|q| query_pairs(q.get(base)))
        .unwrap_or_default();
    let user_agent = conn
        .head
        .header(base, "user-agent")
        .map(text)
        .unwrap_or_default();
    let host = conn
        .head
        .host
        .map(|h| text(h.get(base)))
        .unwrap_or_default();
    let scope = super::registry::Scope {
        api: api.id.clone(),
        stage: stage.name.clone(),
    };
    let shared = Shared::new(
        shard.clock.unix_ms(),
        conn.peer.ip().to_string().into(),
        user_agent.into(),
        scope,
    );
    Facts {
        api_id: api.id.clone(),
        stage: stage.name.clone(),
        connection_id: String::new(),
        domain_name: host,
        headers: std::cell::Cell::new(headers),
        query: std::cell::Cell::new(query),
        shared: Rc::new(shared),
        grant: std::cell::OnceCell::new(),
    }
}

/// The stage and route for `key` (else `$default`) in the configuration current now: a
/// reload reaches open connections with their next message.
fn route_now<'s>(
    snapshot: &'s Snapshot,
    facts: &Facts,
    key: Option<&str>,
) -> Option<(&'s WsStage, Arc<WsRoute>)> {
    let stage = snapshot
        .ws_apis
        .get(&*facts.api_id)?
        .stages
        .get(&*facts.stage)?;
    let route = match key {
        Some(DISCONNECT) => stage.routes.get(DISCONNECT)?,
        key => stage.route_for(key)?,
    };
    Some((stage, Arc::clone(route)))
}

/// The message loop. Returns the close's status code and reason (`$disconnect` reports them).
async fn run(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    facts: &Facts,
    limits: &WsLimits,
    send_timeout: Duration,
) -> (u16, String) {
    let config = WebSocketConfig::default()
        // Small: it grows for a large frame, and most of an idle connection's memory is here.
        .read_buffer_size(256)
        .write_buffer_size(0)
        .max_frame_size(Some(limits.max_frame_bytes))
        .max_message_size(Some(limits.max_message_bytes));
    let mut ws = WebSocketContext::new(Role::Server, Some(config));
    // Deadlines on the node's clock, so the frozen test clock moves them too.
    let clock = &shard.clock;
    let opened = clock.mono_ms();
    let mut last_message = opened;
    loop {
        // What the codec can make of the bytes already here.
        loop {
            let read = ws.read(&mut Io::new(&mut conn.inbuf, &mut conn.out));
            match read {
                Ok(Message::Text(text)) => {
                    last_message = clock.mono_ms();
                    // Boxed, as the other steps but the waits: a session's state while it idles
                    // is then the waits' alone.
                    Box::pin(on_message(shard, &mut ws, conn, facts, text.as_bytes())).await;
                }
                // "If a client app sends a binary frame, API Gateway rejects it and disconnects
                // the client with code 1003" (developer guide, "Working with binary media
                // types for WebSocket APIs").
                Ok(Message::Binary(_)) => {
                    let reason = "Binary frames are not supported";
                    return Box::pin(close(
                        &mut ws,
                        conn,
                        CloseCode::Unsupported,
                        reason,
                        send_timeout,
                    ))
                    .await;
                }
                Ok(Message::Close(frame)) => {
                    // The codec queued the reply close frame; send it and end.
                    let _ = ws.flush(&mut Io::new(&mut conn.inbuf, &mut conn.out));
                    let _ = Box::pin(conn.send_out(false, send_timeout)).await;
                    return match frame {
                        Some(f) => (u16::from(f.code), f.reason.to_string()),
                        None => (1005, String::new()),
                    };
                }
                Ok(_) => {}
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(WsError::Capacity(e)) => {
                    let reason = format!("{e}");
                    return Box::pin(close(&mut ws, conn, CloseCode::Size, &reason, send_timeout))
                        .await;
                }
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                    return (1006, String::new());
                }
                Err(WsError::Utf8(_)) => {
                    return Box::pin(close(
                        &mut ws,
                        conn,
                        CloseCode::Invalid,
                        "Invalid UTF-8",
                        send_timeout,
                    ))
                    .await;
                }
                Err(e) => {
                    let reason = e.to_string();
                    return Box::pin(close(
                        &mut ws,
                        conn,
                        CloseCode::Protocol,
                        &reason,
                        send_timeout,
                    ))
                    .await;
                }
            }
        }
        // Pongs and other frames the codec wrote while reading.
        if !conn.out.is_empty() && Box::pin(conn.send_out(false, send_timeout)).await.is_err() {
            return (1006, String::new());
        }
        if let Err(end) = Box::pin(send_posts(shard, &mut ws, conn, facts, send_timeout)).await {
            return end;
        }
        let now = clock.mono_ms();
        let since = |t: u64| Duration::from_millis(now.saturating_sub(t));
        let idle_left = limits.idle_timeout.saturating_sub(since(last_message));
        let duration_left = limits.max_duration.saturating_sub(since(opened));
        let left = idle_left.min(duration_left);
        // Idle, past the duration, or the shard drains: AWS's code and reason (a recorded
        // `$disconnect` after the 10-minute idle timeout has 1001 "Going away").
        if left.is_zero() || shard.is_draining() {
            return Box::pin(close(
                &mut ws,
                conn,
                CloseCode::Away,
                "Going away",
                send_timeout,
            ))
            .await;
        }
        // A frozen clock moves only when a test moves it: look again every 50 ms.
        let left = match clock.is_fixed() {
            true => left.min(FROZEN_CLOCK_POLL),
            false => left,
        };
        // A read with the connection's buffers while the client may be about to send; then,
        // once quiet, a wait for readiness with the buffers back in the shard's pool (as an
        // idle HTTP connection parks, `server::idle`).
        let woke = match wait(shard, conn, &facts.shared, left.min(PARK_AFTER)).await {
            Woke::Deadline if left > PARK_AFTER => {
                parked_wait(shard, conn, &facts.shared, left - PARK_AFTER).await
            }
            woke => woke,
        };
        match woke {
            Woke::Bytes | Woke::Readable | Woke::Work => {}
            Woke::Closed => return (1006, String::new()),
            // The top of the loop closes a connection whose time is up (or whose shard drains).
            Woke::Deadline => {}
        }
    }
}

/// Sends the messages `@connections` queued, and closes if `DeleteConnection` asked.
async fn send_posts(
    shard: &ShardCtx,
    ws: &mut WebSocketContext,
    conn: &mut ClientConn,
    facts: &Facts,
    send_timeout: Duration,
) -> Result<(), (u16, String)> {
    while let Some(data) = facts.shared.next_out() {
        send(ws, conn, data, send_timeout)
            .await
            .map_err(|_| (1006, String::new()))?;
    }
    if facts.shared.closing() && shard.is_draining() {
        return Err(close(ws, conn, CloseCode::Away, "Going away", send_timeout).await);
    }
    if facts.shared.closing() {
        // DeleteConnection: a normal close (what a client sees when its backend hangs up).
        return Err(close(ws, conn, CloseCode::Normal, "", send_timeout).await);
    }
    Ok(())
}

/// Sends one message: text when it is UTF-8, binary otherwise.
async fn send(
    ws: &mut WebSocketContext,
    conn: &mut ClientConn,
    data: Vec<u8>,
    send_timeout: Duration,
) -> Result<(), WireError> {
    let message = match String::from_utf8(data) {
        Ok(text) => Message::text(text),
        Err(e) => Message::binary(e.into_bytes()),
    };
    let mut io = Io::new(&mut conn.inbuf, &mut conn.out);
    if ws
        .write(&mut io, message)
        .and_then(|()| ws.flush(&mut io))
        .is_err()
    {
        return Err(WireError::Io(io::Error::other("the WebSocket is closed")));
    }
    conn.send_out(false, send_timeout).await
}

/// Sends a close frame and ends the session with its code and reason.
async fn close(
    ws: &mut WebSocketContext,
    conn: &mut ClientConn,
    code: CloseCode,
    reason: &str,
    send_timeout: Duration,
) -> (u16, String) {
    let frame = CloseFrame {
        code,
        reason: reason.to_string().into(),
    };
    let mut io = Io::new(&mut conn.inbuf, &mut conn.out);
    let _ = ws.close(&mut io, Some(frame));
    let _ = ws.flush(&mut io);
    let _ = conn.send_out(false, send_timeout).await;
    // Half-close and read what the client still sends for a moment: closing with unread
    // bytes would reset the connection and could destroy the close frame before the client
    // reads it.
    // Boxed: its state would otherwise be part of every session's, idle or not.
    Box::pin(crate::server::connection::linger_close(conn)).await;
    (u16::from(code), reason.to_string())
}

/// One message from the client: select its route, run the integration, and send a two-way
/// route's answer back. Errors reach the client as AWS words them (with the connection and
/// request ids).
async fn on_message(
    shard: &ShardCtx,
    ws: &mut WebSocketContext,
    conn: &mut ClientConn,
    facts: &Facts,
    data: &[u8],
) {
    facts.shared.last_active_ms.set(shard.clock.unix_ms());
    let snapshot = shard.snapshots.current();
    let request_id = request_id(shard);
    let selected = snapshot
        .ws_apis
        .get(&*facts.api_id)
        .and_then(|api| api.selection.select(data));
    let send_timeout = snapshot.limits.send_timeout;
    // A client cannot send to `$connect` or `$disconnect`: those keys select `$default`.
    let selected = selected.filter(|k| k != CONNECT && k != DISCONNECT);
    let Some((stage, route)) = route_now(&snapshot, facts, selected.as_deref()) else {
        // No route and no `$default`: AWS answers the message, the connection stays.
        let stage = snapshot
            .ws_apis
            .get(&*facts.api_id)
            .and_then(|api| api.stages.get(&*facts.stage));
        if let Some(stage) = stage {
            let metrics = &shard.metrics.websocket;
            metrics.record(stage.no_route_series, WsEvent::NoRoute);
        }
        let reply = error_message("Forbidden", &facts.connection_id, &request_id);
        let _ = send(ws, conn, reply, send_timeout).await;
        return;
    };
    let message_id = message_id(shard);
    let kind = Kind::Message {
        route_key: &route.key,
        message_id: &message_id,
        body: data,
    };
    let answered = integrate(shard, &snapshot, stage, &route, facts, &kind).await;
    record(shard, &route, &answered, false);
    let reply = match answered.answer {
        Answered::Reply { body, .. } => route.two_way.then_some(body),
        Answered::Failed => Some(error_message(
            "Internal server error",
            &facts.connection_id,
            &request_id,
        )),
        // AWS's frame for an integration past its timeout (Kludex/mangum#128).
        Answered::TimedOut => Some(error_message(
            "Endpoint request timed out",
            &facts.connection_id,
            &request_id,
        )),
    };
    if let Some(body) = reply.filter(|b| !b.is_empty()) {
        let _ = send(ws, conn, body, send_timeout).await;
    }
}

/// The frame AWS sends a client whose message failed, byte for byte as captured from AWS
/// (aws-samples/simple-websockets-chat-app issues 24 and 46: `{"message": "Forbidden",
/// "connectionId":"XDmENcnwIE0CFEQ=", "requestId":"XDmGEE2RoE0FRdQ="}`, a space after the
/// first colon only). The ids are base64url, which needs no JSON escaping.
fn error_message(message: &str, connection_id: &str, request_id: &str) -> Vec<u8> {
    format!(r#"{{"message": "{message}", "connectionId":"{connection_id}", "requestId":"{request_id}"}}"#)
        .into_bytes()
}

/// An integration's answer and how long it took.
struct Timed {
    answer: Answered,
    latency: Duration,
}

/// Counts a `$connect` (`connect`) or a message in the route's metrics.
fn record(shard: &ShardCtx, route: &WsRoute, answered: &Timed, connect: bool) {
    let latency = answered.latency;
    let event = match (&answered.answer, connect) {
        (Answered::Reply { status, .. }, true) => WsEvent::Connect {
            status: *status,
            latency,
        },
        (Answered::Reply { status, .. }, false) => WsEvent::Message {
            status: *status,
            latency,
        },
        (Answered::Failed | Answered::TimedOut, _) => WsEvent::Failed { connect, latency },
    };
    shard.metrics.websocket.record(route.series, event);
}

/// Runs a route's integration for one event.
async fn integrate(
    shard: &ShardCtx,
    snapshot: &Snapshot,
    stage: &WsStage,
    route: &WsRoute,
    facts: &Facts,
    kind: &Kind<'_>,
) -> Timed {
    let started = std::time::Instant::now();
    let answer = answer(shard, snapshot, stage, route, facts, kind).await;
    Timed {
        answer,
        latency: started.elapsed(),
    }
}

/// What a route's integration answers.
async fn answer(
    shard: &ShardCtx,
    snapshot: &Snapshot,
    stage: &WsStage,
    route: &WsRoute,
    facts: &Facts,
    kind: &Kind<'_>,
) -> Answered {
    match &route.integration {
        WsIntegration::Mock(mock) => Answered::Reply {
            status: mock.status,
            headers: mock
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: mock.body.to_vec(),
        },
        // Boxed: the invocation's state is large, and the session's own state (which every
        // idle WebSocket holds) would otherwise be sized for it.
        WsIntegration::Lambda(function) => {
            Box::pin(call_function(
                shard, snapshot, stage, route, function, facts, kind,
            ))
            .await
        }
    }
}

/// Invokes a route's function with the event and reads its result.
async fn call_function(
    shard: &ShardCtx,
    snapshot: &Snapshot,
    stage: &WsStage,
    route: &WsRoute,
    function: &crate::snapshot::AwsProxyIntegration,
    facts: &Facts,
    kind: &Kind<'_>,
) -> Answered {
    let request_id = request_id(shard);
    let now = shard.clock.unix_ms();
    let payload = event::write(&facts.event(), kind, &request_id, now, &stage.variables);
    let invoker = crate::pipeline::upstream::invoker(shard, snapshot, function);
    let name = invoker.function().to_string();
    match aws_proxy::invoke(invoker, &payload, &request_id, now).await {
        Ok(raw) => match result::parse_result(&raw, None, &[]) {
            Ok(r) => Answered::Reply {
                status: r.status,
                headers: r.headers,
                body: r.body,
            },
            // A function that returns no proxy result (null, or a bare value) still
            // succeeded: a two-way route sends what it returned.
            Err(result::MalformedResult::NotAnObject) => Answered::Reply {
                status: 200,
                headers: Vec::new(),
                body: if raw == b"null" { Vec::new() } else { raw },
            },
            Err(e) => {
                tracing::warn!(function = %name, route = %route.key, "WebSocket integration: {e}");
                Answered::Failed
            }
        },
        Err(e) => {
            tracing::warn!(function = %name, route = %route.key, "WebSocket integration failed: {e}");
            match e.response(&name) {
                GatewayResponse::IntegrationTimeout => Answered::TimedOut,
                _ => Answered::Failed,
            }
        }
    }
}

/// A request id. WebSocket APIs' request and message ids have the shape of connection ids
/// (11 bytes in padded base64url, `R1knPH17NjMFftw=`), not REST's UUIDs.
pub(super) fn request_id(shard: &ShardCtx) -> String {
    let raw = shard.random_u128().to_be_bytes();
    data_encoding::BASE64URL.encode(&raw[..11])
}

/// A message id (`messageId`), in the same shape.
fn message_id(shard: &ShardCtx) -> String {
    request_id(shard)
}

/// Refuses an upgrade request with `status` and AWS's message for it; the connection closes.
pub async fn refuse(shard: &ShardCtx, conn: &mut ClientConn, status: u16) -> Next {
    let body = match status {
        403 => r#"{"message":"Forbidden"}"#,
        _ => r#"{"message":"Bad Request"}"#,
    };
    respond(conn, shard, status, body, &[]).await;
    Next::Close
}

/// Query pairs, percent-decoded, in request order.
fn query_pairs(raw: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &[u8]| {
        let mut out = Vec::with_capacity(s.len());
        crate::integration::aws_proxy::event::percent_decode(&mut out, s);
        String::from_utf8_lossy(&out).into_owned()
    };
    raw.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|part| match memchr::memchr(b'=', part) {
            Some(i) => (decode(&part[..i]), decode(&part[i + 1..])),
            None => (decode(part), String::new()),
        })
        .collect()
}

/// Writes a plain HTTP response to a refused upgrade.
async fn respond(
    conn: &mut ClientConn,
    shard: &ShardCtx,
    status: u16,
    body: &str,
    headers: &[(&str, &str)],
) {
    conn.out.clear();
    let reason = String::from_utf8_lossy(response_filter::reason_phrase(status));
    let request_id = request_id(shard);
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nx-amzn-RequestId: {request_id}\r\nConnection: close\r\n",
        body.len()
    );
    conn.out.extend_from_slice(head.as_bytes());
    for (name, value) in headers {
        conn.out
            .extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    conn.out.extend_from_slice(b"\r\n");
    conn.out.extend_from_slice(body.as_bytes());
    let _ = conn.send_out(true, Duration::from_secs(10)).await;
}

/// How often a session on the frozen test clock looks at it again (`clock::Clock::Fixed`).
const FROZEN_CLOCK_POLL: Duration = Duration::from_millis(50);

/// How long a read may outlive its wait's deadline (a TLS write inside it) before the
/// session gives the connection up.
const STUCK_READ_GRACE: Duration = Duration::from_secs(30);

/// How long a WebSocket waits for its next frame holding its buffers before it parks them.
const PARK_AFTER: Duration = Duration::from_millis(100);

/// Waits, holding no buffer, until the socket is readable, work arrives, the shard drains or
/// `left` passes. (A connection that cannot park, TLS still holding bytes, waits reading.)
async fn parked_wait(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    shared: &Shared,
    left: Duration,
) -> Woke {
    if !conn.park(&shard.conn_buffers) {
        return wait(shard, conn, shared, left).await;
    }
    // Counted while parked, however the wait ends.
    let _parked = ParkedCount::new(&shard.ws);
    let woke = {
        let mut readable = std::pin::pin!(conn.stream.readable());
        let mut deadline = std::pin::pin!(monoio::time::sleep(left));
        std::future::poll_fn(|cx| {
            if shared.has_work() || shard.is_draining() {
                return Poll::Ready(Woke::Work);
            }
            // An error (a reset socket) is "readable" too: the read that follows reports it.
            if readable.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Woke::Readable);
            }
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Woke::Deadline);
            }
            shared.set_waker(cx.waker());
            Poll::Pending
        })
        .await
    };
    conn.unpark(&shard.conn_buffers);
    woke
}

/// A parked session, counted for housekeeping while it lives.
struct ParkedCount<'a>(&'a super::LocalConnections);

impl<'a> ParkedCount<'a> {
    fn new(local: &'a super::LocalConnections) -> Self {
        local.count_parked(true);
        ParkedCount(local)
    }
}

impl Drop for ParkedCount<'_> {
    fn drop(&mut self) {
        self.0.count_parked(false);
    }
}

/// How a wait for the client ended.
enum Woke {
    /// Bytes arrived.
    Bytes,
    /// The socket became readable (a parked wait: the next read gets the bytes).
    Readable,
    /// A post or a close is queued, or the shard drains.
    Work,
    /// The wait's deadline passed.
    Deadline,
    /// The client closed or the socket failed.
    Closed,
}

/// Waits for bytes from the client, for work from `@connections` or the drain, or for
/// `left` to pass, whichever comes first.
async fn wait(shard: &ShardCtx, conn: &mut ClientConn, shared: &Shared, left: Duration) -> Woke {
    let canceller = monoio::io::Canceller::new();
    let handle = canceller.handle();
    let inbuf = &mut conn.inbuf;
    match &mut conn.stream {
        // A plain socket's read is small enough to sit in the session's state.
        ClientStream::Plain(socket) => {
            let read = inbuf.fill_until_canceled(socket, handle);
            wait_on(shard, shared, left, canceller, read).await
        }
        // A TLS read is boxed per wait (record processing; its state would make every
        // session's larger). It may write (a key update's answer), and that write ignores
        // the cancel: the read as a whole is bounded too, as idle HTTP connections bound theirs.
        stream => {
            let bound = left.saturating_add(STUCK_READ_GRACE);
            let read = Box::pin(async move {
                monoio::time::timeout(bound, inbuf.fill_until_canceled(stream, handle))
                    .await
                    .unwrap_or(Err(WireError::Timeout))
            });
            wait_on(shard, shared, left, canceller, read).await
        }
    }
}

/// [`wait`] on a read that `canceller` ends.
async fn wait_on<F>(
    shard: &ShardCtx,
    shared: &Shared,
    left: Duration,
    canceller: monoio::io::Canceller,
    read: F,
) -> Woke
where
    F: Future<Output = Result<usize, WireError>>,
{
    let mut canceller = Some(canceller);
    let mut read = std::pin::pin!(read);
    let mut deadline = std::pin::pin!(monoio::time::sleep(left));
    let mut why: Option<Woke> = None;
    let read = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = read.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        if why.is_none() {
            if shared.has_work() || shard.is_draining() {
                why = Some(Woke::Work);
            } else if deadline.as_mut().poll(cx).is_ready() {
                why = Some(Woke::Deadline);
            } else {
                shared.set_waker(cx.waker());
            }
            if why.is_some() {
                if let Some(c) = canceller.take() {
                    c.cancel();
                }
            }
        }
        Poll::Pending
    })
    .await;
    match (read, why) {
        (Ok(n), _) if n > 0 => Woke::Bytes,
        // A cancelled read returns 0 too; a real end of stream is seen by the next read.
        (Ok(_), Some(why)) => why,
        _ => Woke::Closed,
    }
}

/// The codec's view of the connection: reads take the bytes already received (and say
/// "would block" when there are none); writes go to the output buffer, which the session
/// then sends.
struct Io<'a> {
    input: &'a mut InBuf,
    output: &'a mut Vec<u8>,
}

impl<'a> Io<'a> {
    fn new(input: &'a mut InBuf, output: &'a mut Vec<u8>) -> Self {
        Io { input, output }
    }
}

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let pending = self.input.pending();
        if pending.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = pending.len().min(buf.len());
        buf[..n].copy_from_slice(&pending[..n]);
        self.input.consume(n);
        Ok(n)
    }
}

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
