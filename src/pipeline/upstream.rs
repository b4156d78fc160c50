//! Phase 2: the routed method's integration produces the response.
//!
//! Split in two steps because of ownership: [`prepare`] runs while the request head is still
//! borrowed from the receive buffer (it copies what the backend needs, e.g. path parameters
//! into the backend request line), then [`call`] owns the connection for the exchange.

use crate::http::RequestHead;
use crate::integration::{http_proxy, mock};
use crate::pipeline::context::RequestCtx;
use crate::pipeline::{local_response, Next};
use crate::router::Params;
use crate::server::client::ClientConn;
use crate::server::shard::ShardCtx;
use crate::snapshot::{HttpProxyIntegration, Integration, MockIntegration, Snapshot};

/// An integration ready to run, detached from the receive buffer.
#[derive(Debug, Clone, Copy)]
pub enum Prepared<'s> {
    /// Answer from configuration.
    Mock(&'s MockIntegration),
    /// Forward; the backend request head is already in `ClientConn::upstream_head`.
    Proxy(&'s HttpProxyIntegration),
}

/// Copies what the integration needs out of the borrowed request.
pub fn prepare<'s>(
    integration: &'s Integration,
    params: &Params<'_, '_>,
    head: &RequestHead,
    base: &[u8],
    from: http_proxy::Downstream,
    upstream_head: &mut Vec<u8>,
) -> Prepared<'s> {
    match integration {
        Integration::Mock(m) => Prepared::Mock(m),
        Integration::HttpProxy(p) => {
            http_proxy::write_request_head(upstream_head, p, params, head, base, from);
            Prepared::Proxy(p)
        }
    }
}

/// Runs the integration and answers the client.
pub async fn call(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    prepared: Prepared<'_>,
    ctx: &mut RequestCtx,
    req: http_proxy::RequestInfo,
    snapshot: &Snapshot,
) -> Next {
    let limits = &snapshot.limits;
    match prepared {
        Prepared::Mock(m) => {
            local_response(shard, conn, ctx, req, limits, |out, ctx, date| {
                mock::respond(out, ctx, date, m, req.minor_version)
            })
            .await
        }
        Prepared::Proxy(p) => http_proxy::forward(shard, conn, p, ctx, req, snapshot).await,
    }
}
