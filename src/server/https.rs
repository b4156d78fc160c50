//! HTTPS connections: the TLS handshake (certificate chosen by SNI, client certificate
//! checked for mutual-TLS domains), then the same HTTP serving as plain connections.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use monoio::net::TcpStream;
use rustls::ServerConnection;

use crate::server::client::ClientConn;
use crate::server::connection;
use crate::server::h2;
use crate::server::h2_io::H2Io;
use crate::server::shard::ShardCtx;
use crate::server::stream::ClientStream;
use crate::tls::{stream, subject};

/// What a TLS session tells the requests it carries.
#[derive(Debug, Clone, Default)]
pub struct TlsInfo {
    /// The verified client certificate (mutual TLS).
    pub client_cert: Option<Rc<subject::ClientCert>>,
    /// The custom domain whose configuration completed the handshake.
    pub domain: Option<Rc<str>>,
}

impl TlsInfo {
    /// Marks `conn` as carried by this session.
    pub fn apply(&self, conn: &mut ClientConn) {
        conn.secure = true;
        conn.client_cert = self.client_cert.clone();
        conn.tls_domain = self.domain.clone();
    }
}

/// Completes the handshake on an accepted socket within the header timeout, then serves
/// requests on it. The TLS configuration comes from the snapshot current at accept time: a
/// reload changes certificates for new handshakes only.
pub async fn serve(shard: &Rc<ShardCtx>, socket: TcpStream, peer: SocketAddr) {
    // Boxed, as every step that runs once per connection: the task keeps only what it needs
    // for its whole life (issue 19: an idle connection's task is as small as its wait).
    let Some((tls, domain)) = Box::pin(handshake(shard, socket, peer)).await else {
        return;
    };
    let info = TlsInfo {
        client_cert: tls
            .session()
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| subject::client_cert(leaf))
            .map(Rc::new),
        domain,
    };
    if tls.session().alpn_protocol() == Some(b"h2") {
        let (socket, session, received) = tls.into_parts();
        let io = H2Io::new(socket, received, Some(Box::new(session)));
        return Box::pin(h2::serve(shard, io, peer, Some(Rc::new(info)))).await;
    }
    let mut conn = ClientConn::new(ClientStream::Tls(tls), peer);
    info.apply(&mut conn);
    connection::serve_conn(shard, &mut conn).await;
}

/// The TLS handshake, and the custom domain whose certificate completed it; `None` when it
/// failed or timed out (logged at debug level: scanners and aborted clients are routine).
async fn handshake(
    shard: &ShardCtx,
    socket: TcpStream,
    peer: SocketAddr,
) -> Option<(Box<stream::TlsStream<ServerConnection>>, Option<Rc<str>>)> {
    let _ = socket.set_nodelay(true);
    let snapshot = shard.snapshots.current();
    let mut domain: Option<Rc<str>> = None;
    let handshake = stream::accept(socket, |hello| {
        let chosen = snapshot.domains.handshake_domain(hello.server_name())?;
        domain = Some(Rc::from(&*chosen.name));
        Some(Arc::clone(&chosen.tls))
    });
    match monoio::time::timeout(snapshot.limits.header_timeout, handshake).await {
        Ok(Ok(tls)) => Some((Box::new(tls), domain)),
        Ok(Err(e)) => {
            tracing::debug!(%peer, "{e}");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "tls handshake timed out");
            None
        }
    }
}
