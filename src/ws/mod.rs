//! WebSocket APIs (API Gateway's second kind of API): a client holds a WebSocket at
//! `ws[s]://{api-id}.execute-api.{domain}/{stage}`; each message goes to the route its
//! `routeSelectionExpression` selects, and backends push to clients through `@connections`
//! on the same host.
//!
//! - [`api`]: the compiled API (routes per stage, route selection, limits);
//! - [`handshake`]: RFC 6455's upgrade;
//! - [`session`]: one connection's life (`$connect`, messages, posts, `$disconnect`);
//! - [`authorize`]: `$connect`'s `REQUEST` Lambda authorizer;
//! - [`event`]: the Lambda events of WebSocket routes;
//! - [`registry`]: connections per shard, and the cross-shard mailboxes `@connections`
//!   calls travel through;
//! - [`manage`]: the `@connections` API.
//!
//! A request reaches this module when its host (or the node's `default_api`) names a
//! WebSocket API; REST requests pay one map lookup, and none when no WebSocket API is
//! configured.

pub mod api;
pub mod authorize;
pub mod event;
pub mod handshake;
pub mod manage;
pub mod registry;
pub mod session;

pub use api::{WsApi, WsLimits};
pub use registry::{LocalConnections, Registry};

use std::sync::Arc;

use crate::http::RequestHead;
use crate::pipeline::Next;
use crate::server::client::ClientConn;
use crate::server::shard::ShardCtx;
use crate::snapshot::Snapshot;

/// The WebSocket API a request is for, if any.
pub fn lookup(snapshot: &Snapshot, head: &RequestHead, base: &[u8]) -> Option<Arc<WsApi>> {
    if snapshot.ws_apis.is_empty() {
        return None;
    }
    let host = head.host.map(|h| h.get(base));
    crate::pipeline::request_filter::with_api_id(snapshot, host, |id| snapshot.ws_apis.get(id))
        .cloned()
}

/// The stage named by the path's first segment.
pub(crate) fn stage_of<'b>(head: &RequestHead, base: &'b [u8]) -> &'b str {
    let path = std::str::from_utf8(head.path.get(base)).unwrap_or("/");
    crate::pipeline::request_filter::split_stage(path).0
}

/// Whether a request to a WebSocket API is for a session (an upgrade, or a request that
/// [`serve`] refuses as AWS refuses it), not a `@connections` call.
pub fn is_session(head: &RequestHead, base: &[u8]) -> bool {
    manage::connection_path(head.path.get(base)).is_none()
}

/// Serves a `@connections` call (the request's connection goes on).
pub async fn manage(shard: &ShardCtx, api: &WsApi, conn: &mut ClientConn) -> Next {
    let base = conn.inbuf.pending();
    let Some((stage, id)) = manage::connection_path(conn.head.path.get(base)) else {
        return session::refuse(shard, conn, 403).await;
    };
    let stage = String::from_utf8_lossy(stage).into_owned();
    let snapshot = shard.snapshots.current();
    manage::serve(shard, &snapshot, api, conn, &stage, &id).await
}

/// Serves an upgrade request for the life of its WebSocket (the connection closes after).
/// (HTTP/2 streams never come here: WebSockets over HTTP/2, RFC 8441, are not offered.)
pub async fn serve(shard: &ShardCtx, api: Arc<WsApi>, conn: &mut ClientConn) -> Next {
    session::serve(shard, &api, conn).await
}
